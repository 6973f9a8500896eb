/*
 * web.h - the HTTP API server (civetweb): /api/v1 with API keys and
 * organizations, /healthz and /metrics, and the web UI's files (ui.h). The
 * routes and their answers are described by the API contract; each route group
 * lives in one file of web/.
 *
 * Every civetweb worker thread opens its own store on cfg->db_path when it
 * starts and closes it when it ends; handlers borrow that store only.
 * web_start and web_stop are called from one thread (the daemon's main).
 */
#ifndef GB_WEB_H
#define GB_WEB_H

#include <stdint.h>

#include "../base/err.h"
#include "../base/metrics.h"
#include "../storage/store.h"

#define WEB_DEFAULT_LISTEN "127.0.0.1:8080"
#define WEB_DEFAULT_MAX_BODY (4 * 1024 * 1024)
#define WEB_DEFAULT_THREADS 32
#define WEB_DEFAULT_REQUEST_TIMEOUT_MS 5000
#define WEB_DEFAULT_STREAMS_PER_KEY 2
#define WEB_DEFAULT_STREAM_MAX_MS (5 * 60 * 1000)
#define WEB_MAX_THREADS 256

struct web_config {
	const char *db_path;
	struct store_opts store;	/* for the threads' stores (no create, no migrate) */
	const char *listen;		/* "ADDR:PORT" */
	int64_t max_body;		/* bytes of a request body */
	int threads;			/* civetweb worker threads, 1..WEB_MAX_THREADS */
	int request_timeout_ms;		/* a request (its header included) must arrive
					 * within this */
	int max_streams;		/* event streams open at once; 0: a quarter of
					 * threads (at least 1) */
	int max_streams_per_key;	/* event streams one key may hold at once */
	int stream_max_ms;		/* an event stream's longest life (the client reconnects) */
	struct metrics *metrics;	/* HTTP counters and /metrics; NULL: metrics_default() */
	/*
	 * The sync floor's state, read live ("off", "ok", "offline", "auth",
	 * "error"); called from any handler thread with sync_arg. NULL: "off".
	 */
	const char *(*sync_state)(void *arg);
	void *sync_arg;
	int backup_schedule_s;		/* [backup] schedule: a last good backup older than
					 * twice this degrades /healthz; 0: no such rule */
};

void web_config_defaults(struct web_config *cfg);

struct web;

/*
 * Start listening; *out is stopped and freed with web_stop. GB_EINVAL for bad
 * settings, GB_EIO otherwise.
 */
int web_start(struct web **out, const struct web_config *cfg, struct gb_err *err);
/* The port listened on (the first one). */
int web_port(const struct web *w);
/*
 * Mark the server as stopping: /healthz answers 503 and event streams end;
 * requests are still answered. Safe from any thread and more than once.
 */
void web_shutdown(struct web *w);
#define WEB_UNWRITABLE_MAX 1024
/*
 * Refuse every write from now on: each request but GET and HEAD is answered
 * 503 {"error":{"code":"unavailable","message":reason}}, and /healthz says
 * database.ok false; reads go on. For a database found corrupt while serving.
 * Safe from any thread and more than once (the last reason is kept).
 */
void web_set_unwritable(struct web *w, const char *reason);
/* Stop accepting, end the streams, wait for the handlers and free. NULL-safe. */
void web_stop(struct web *w);

#endif
