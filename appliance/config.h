/*
 * config.h - genbox's settings: an INI file (/etc/genbox/genbox.conf by
 * default when present), overridden by GENBOX_<SECTION>_<KEY> environment
 * variables, overridden by command-line flags. An unknown key or a bad value
 * is an error naming the file and line (or the variable).
 */
#ifndef GB_CONFIG_H
#define GB_CONFIG_H

#include "../base/err.h"

#define CONFIG_DEFAULT_PATH "/etc/genbox/genbox.conf"

struct config {
	/* [storage] */
	char db_path[1024];		/* path: the SQLite file */
	int sync_full;			/* synchronous: normal | full */
	int busy_timeout_ms;
	/* [log] */
	int log_level;			/* level: error | warn | info | debug */
	/* [workers] */
	int workers;			/* count: worker threads */
	int max_retries;		/* transient failures before failed */
	int lease_seconds;		/* the worker lock's TTL */
	int retry_base_ms;		/* first retry backoff, doubling */
	int max_inflight;		/* contexts held at once by the pool, waiting ones
					 * included */
	int heartbeat_ms;		/* how often the pool writes its workers' heartbeats */
	int grace_ms;			/* how long running contexts get at a stop of the daemon */
	/* [generator] */
	char generator_url[512];	/* url: OpenAI-compatible base URL; empty: offline-draft */
	char generator_key[256];	/* key: bearer token */
	int generator_timeout_ms;
	int generator_connect_timeout_ms;
	int generator_max_concurrent;	/* calls in flight per endpoint */
	/* [web] */
	char web_listen[256];		/* listen: ADDR:PORT */
	int web_max_body;		/* bytes of a request body */
	int web_threads;		/* civetweb worker threads */
	int web_request_timeout_ms;	/* a request must arrive within this */
	int web_max_streams;		/* event streams at once; 0: a quarter of web_threads */
	int web_max_streams_per_key;	/* event streams one key may hold */
	int web_stream_max_ms;		/* an event stream's longest life */
	/* [box] */
	char organization[128];		/* default organization for CLI runs */
};

void config_defaults(struct config *cfg);
/*
 * Read path into cfg. With required == 0 a missing file is not an error (the
 * default path); otherwise it is.
 */
int config_load_file(struct config *cfg, const char *path, int required, struct gb_err *err);
/* Apply GENBOX_<SECTION>_<KEY> variables from the environment. */
int config_load_env(struct config *cfg, struct gb_err *err);
/* Set one "section.key" to value, as the file would. */
int config_set(struct config *cfg, const char *section, const char *key, const char *value,
    struct gb_err *err);

#endif
