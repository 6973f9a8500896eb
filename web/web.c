/*
 * web.c - the server: civetweb started with one store per worker thread,
 * every request through one dispatcher that finds its route in the groups'
 * tables (404 for an unknown path, 405 with Allow for a known path and
 * another method), checks the caller's key, runs the handler, and counts the
 * request by route pattern, method and status.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/gbtime.h"
#include "../base/log.h"
#include "../storage/docs.h"
#include "internal.h"
#include "ui.h"

static const struct web_route *const groups[] = {
	web_routes_contexts,
	web_routes_ctxnew,
	web_routes_bulk,
	web_routes_batches,
	web_routes_dashboard,
	web_routes_catalog,
	web_routes_org,
	web_routes_ops,
	web_routes_events,
};

static const double latency_bounds[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
	0.5, 1, 2.5, 5, 10 };

void
web_config_defaults(struct web_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->listen = WEB_DEFAULT_LISTEN;
	cfg->max_body = WEB_DEFAULT_MAX_BODY;
	cfg->threads = WEB_DEFAULT_THREADS;
	cfg->request_timeout_ms = WEB_DEFAULT_REQUEST_TIMEOUT_MS;
	cfg->max_streams_per_key = WEB_DEFAULT_STREAMS_PER_KEY;
	cfg->stream_max_ms = WEB_DEFAULT_STREAM_MAX_MS;
}

/*
 * Whether path matches pattern segment by segment ({..} takes one non-empty
 * segment into r->params when r is not NULL).
 */
static int
route_match(const char *pattern, const char *path, struct web_req *r)
{
	int np = 0;

	while (*pattern && *path) {
		if (pattern[0] == '{') {
			size_t n = strcspn(path, "/");

			if (n == 0 || n >= STORE_ID_MAX || np >= WEB_MAX_PARAMS)
				return 0;
			if (r) {
				memcpy(r->params[np], path, n);
				r->params[np][n] = '\0';
			}
			np++;
			path += n;
			pattern = strchr(pattern, '}') + 1;
			continue;
		}
		if (*pattern++ != *path++)
			return 0;
	}
	if (*pattern || *path)
		return 0;
	if (r)
		r->nparams = np;
	return 1;
}

/*
 * Which segments of pattern are {..} ones, as a number that is smaller for
 * the more literal pattern: segment i sets bit 31 - i, so at the first
 * segment where two patterns differ the literal one wins.
 */
static uint32_t
route_params(const char *pattern)
{
	uint32_t mask = 0;
	int seg = 0;

	for (const char *p = pattern; *p; p++) {
		if (*p == '/')
			seg++;
		else if (*p == '{' && p[-1] == '/' && seg < 32)
			mask |= (uint32_t)1 << (31 - seg);
	}
	return mask;
}

/*
 * The route of r's method and path; NULL with allow filled when only the
 * method is wrong. Of the patterns that match the path, the most literal
 * one decides (/contexts/retry before /contexts/{id}, whatever the method).
 */
static const struct web_route *
route_find(struct web_req *r, const char *path, char *allow, size_t size)
{
	const char *method = r->ri->request_method;
	uint32_t best = UINT32_MAX;
	size_t g;

	allow[0] = '\0';
	for (g = 0; g < sizeof(groups) / sizeof(groups[0]); g++)
		for (const struct web_route *rt = groups[g]; rt->method; rt++) {
			uint32_t params = route_params(rt->pattern);

			if (params < best && route_match(rt->pattern, path, NULL))
				best = params;
		}
	for (g = 0; g < sizeof(groups) / sizeof(groups[0]); g++)
		for (const struct web_route *rt = groups[g]; rt->method; rt++) {
			const char *pat = rt->pattern;

			if (route_params(pat) != best || !route_match(pat, path, NULL))
				continue;
			if (strcmp(rt->method, method) == 0 ||
			    (strcmp(method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0)) {
				route_match(rt->pattern, path, r);
				return rt;
			}
			if (strstr(allow, rt->method) == NULL) {
				size_t n = strlen(allow);

				snprintf(allow + n, size - n, "%s%s", n ? ", " : "", rt->method);
			}
		}
	return NULL;
}

static const char *
method_label(const char *m)
{
	if (m == NULL)
		return "other";
	static const char *const known[] = { "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH",
		"OPTIONS", NULL };

	for (int i = 0; known[i]; i++)
		if (strcmp(m, known[i]) == 0)
			return known[i];
	return "other";
}

/*
 * The metrics of one (route, method, status) for this thread: the registry
 * is looked up (a walk under its lock) only the first time, so requests on
 * different threads do not queue on the registry's lock.
 */
struct metric_slot {
	unsigned serial;
	const struct web_route *route;
	const char *method;
	int status;
	struct metric *count, *duration;
};

#define METRIC_SLOTS 64
static _Thread_local struct metric_slot metric_slots[METRIC_SLOTS];
static atomic_uint web_serials;

static struct metric_slot *
metric_slot_for(struct web_req *r, const char *method)
{
	uintptr_t h =
	    ((uintptr_t)r->route >> 4) * 31u + ((uintptr_t)method >> 3) * 7u + (unsigned)r->status;
	struct metric_slot *s = &metric_slots[h % METRIC_SLOTS];
	const char *route = r->route ? r->route->pattern : "unmatched";
	char labels[METRICS_LABELS_MAX];

	if (s->serial == r->web->serial && s->route == r->route && s->method == method &&
	    s->status == r->status && s->count && s->duration)
		return s;
	snprintf(labels, sizeof(labels), "route=\"%s\",method=\"%s\",status=\"%d\"", route, method,
	    r->status);
	s->count = metrics_counter(r->web->metrics, "genbox_http_requests_total", labels,
	    "HTTP requests by route pattern, method and status");
	snprintf(labels, sizeof(labels), "route=\"%s\"", route);
	s->duration = metrics_histogram(r->web->metrics, "genbox_http_request_duration_seconds",
	    labels, "HTTP request durations by route pattern", latency_bounds,
	    (int)(sizeof(latency_bounds) / sizeof(latency_bounds[0])));
	s->serial = r->web->serial;
	s->route = r->route;
	s->method = method;
	s->status = r->status;
	return s;
}

static void
count_request(struct web_req *r, int64_t t0)
{
	struct metric_slot *s = metric_slot_for(r, method_label(r->ri->request_method));
	double secs = (double)(gb_mono_ms() - t0) / 1000.0;

	metric_add(s->count, 1);
	metric_observe(s->duration, secs);
}

static void
dispatch_route(struct web_req *r)
{
	enum web_perm perm = r->route->perm;
	const char *m = r->ri->request_method;
	char why[WEB_UNWRITABLE_MAX];

	if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0 &&
	    web_unwritable(r->web, why, sizeof(why))) {
		web_error(r, 503, "unavailable", "%s", why);
		return;
	}
	if (perm != PERM_NONE && r->st == NULL) {
		web_error(r, 503, "unavailable", "the database could not be opened");
		return;
	}
	if (perm != PERM_NONE && web_auth(r, perm))
		return;
	r->route->fn(r);
	if (r->status == 0)
		web_error(r, 500, "internal", "the handler gave no answer");
	if (r->caller.authed && strcmp(r->route->method, "GET") != 0 && r->status < 400)
		web_audit(r);
}

/* A file of the web UI (web/ui/), built into the binary; no key. */
static int
ui_serve(struct web_req *r)
{
	const struct web_asset *a = web_asset_find(r->ri->local_uri);

	if (a == NULL)
		return web_error(r, 404, "not_found", "no such route");
	return web_send(r, 200, a->content_type, (const char *)a->bytes, a->len);
}

static const struct web_route ui_route = { "GET", "/{file}", ui_serve, PERM_NONE };

/* The UI's file at path (outside /api): its route, or NULL with allow set for another method. */
static const struct web_route *
ui_find(struct web_req *r, const char *path, char *allow, size_t size)
{
	const char *m = r->ri->request_method;

	if (strncmp(path, "/api/", 5) == 0 || web_asset_find(path) == NULL)
		return NULL;
	if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0)
		return &ui_route;
	snprintf(allow, size, "GET, HEAD");
	return NULL;
}

static int
web_dispatch(struct mg_connection *conn)
{
	struct web_req *r = calloc(1, sizeof(*r));	/* civetweb's threads have small stacks */
	const char *path;
	char allow[64];
	int64_t t0 = gb_mono_ms();
	int status;

	if (r == NULL)
		return 0;	/* civetweb answers with its own error */
	/*
	 * Every answer says Connection: close, and civetweb would first read
	 * and drop what is left of the body (as long as a slow client keeps
	 * sending): close at once instead.
	 */
	mg_disable_connection_keep_alive(conn);
	r->conn = conn;
	r->ri = mg_get_request_info(conn);
	r->web = mg_get_user_data(mg_get_context(conn));
	r->st = mg_get_thread_pointer(conn);
	path = r->ri->local_uri ? r->ri->local_uri : "/";
	if ((r->route = route_find(r, path, allow, sizeof(allow))) != NULL ||
	    (allow[0] == '\0' && (r->route = ui_find(r, path, allow, sizeof(allow))) != NULL)) {
		dispatch_route(r);
	} else if (allow[0]) {
		snprintf(r->object, sizeof(r->object), "%s", allow);	/* the Allow header */
		web_error(r, 405, "method_not_allowed", "%s is not allowed here (allowed: %s)",
		    method_label(r->ri->request_method), allow);
	} else {
		web_error(r, 404, "not_found", "no such route");
	}
	count_request(r, t0);
	status = r->status;
	free(r);
	return status;
}

/*
 * civetweb's own errors (a request that timed out or cannot be parsed) in
 * the same JSON shape and with the same headers as every other answer; this
 * also keeps its header dates under header_mu.
 */
static int
web_http_error(struct mg_connection *conn, int status, const char *msg)
{
	struct web_req *r = calloc(1, sizeof(*r));
	const char *code = status == 413 ? "payload_too_large" : status == 408 ? "request_timeout" :
	    status == 503 ? "unavailable" : status >= 500 ? "internal" : "bad_request";
	int64_t t0 = gb_mono_ms();

	if (r == NULL)
		return 1;	/* civetweb's own page, then */
	mg_disable_connection_keep_alive(conn);	/* no reading of a body it will not use */
	r->conn = conn;
	r->ri = mg_get_request_info(conn);
	r->web = mg_get_user_data(mg_get_context(conn));
	if (status == 411) {	/* a Content-Length that is no length: the request is bad */
		status = 400;
		msg = "the Content-Length header is not a length";
	}
	web_error(r, status, code, "%s", msg && msg[0] ? msg : "the request could not be handled");
	count_request(r, t0);
	free(r);
	return 0;
}

static void *
web_thread_init(const struct mg_context *ctx, int type)
{
	struct web *w = mg_get_user_data(ctx);
	struct gb_err err = { 0, "" };
	struct store *st = NULL;

	if (type != 1)
		return NULL;
	if (store_open(&st, w->db_path, &w->cfg.store, &err)) {
		char reason[sizeof(err.msg) + 8];

		log_warnx("event=web_thread_store status=failed reason=%s",
		    log_quoted(reason, sizeof(reason), err.msg));
		return NULL;
	}
	return st;
}

static void
web_thread_exit(const struct mg_context *ctx, int type, void *ptr)
{
	(void)ctx;
	if (type == 1)
		store_close(ptr);
}

static int
web_log_message(const struct mg_connection *conn, const char *msg)
{
	char text[512];

	(void)conn;
	log_debug("event=civetweb msg=%s", log_quoted(text, sizeof(text), msg));
	return 1;
}

static int
web_config_check(const struct web_config *cfg, struct gb_err *err)
{
	const char *colon = cfg->listen ? strrchr(cfg->listen, ':') : NULL;

	if (cfg->db_path == NULL || cfg->db_path[0] == '\0')
		return gb_errf(err, GB_EINVAL, "web: no database path");
	if (colon == NULL || colon == cfg->listen || colon[1] == '\0' ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1) || strlen(cfg->listen) >= 256)
		return gb_errf(err, GB_EINVAL, "web: listen address '%.64s' is not ADDR:PORT",
		    cfg->listen ? cfg->listen : "");
	if (cfg->threads < 1 || cfg->threads > WEB_MAX_THREADS)
		return gb_errf(err, GB_EINVAL, "web: threads must be from 1 to %d",
		    WEB_MAX_THREADS);
	if (cfg->max_body < 1 || cfg->request_timeout_ms < 1)
		return gb_errf(err, GB_EINVAL,
		    "web: max_body and request_timeout_ms must be positive");
	if (cfg->max_streams < 0 || cfg->max_streams_per_key < 1 || cfg->stream_max_ms < 1)
		return gb_errf(err, GB_EINVAL, "web: max_streams must be 0 or more, "
		    "max_streams_per_key and stream_max_ms positive");
	return 0;
}

static int
web_listen(struct web *w, struct gb_err *err)
{
	struct mg_callbacks cb;
	struct mg_server_port ports[4];
	char threads[16], timeout[16];
	const char *opts[] = {
		"listening_ports", w->listen, "num_threads", threads, "request_timeout_ms", timeout,
		"enable_keep_alive", "no", "tcp_nodelay", "1", NULL,
	};

	snprintf(threads, sizeof(threads), "%d", w->cfg.threads);
	snprintf(timeout, sizeof(timeout), "%d", w->cfg.request_timeout_ms);
	memset(&cb, 0, sizeof(cb));
	cb.begin_request = web_dispatch;
	cb.init_thread = web_thread_init;
	cb.exit_thread = web_thread_exit;
	cb.log_message = web_log_message;
	cb.http_error = web_http_error;
	if ((w->ctx = mg_start(&cb, w, opts)) == NULL)
		return gb_errf(err, GB_EIO, "web: cannot listen on '%s'", w->listen);
	if (mg_get_server_ports(w->ctx, 4, ports) < 1)
		return gb_errf(err, GB_EIO, "web: no listening port on '%s'", w->listen);
	w->port = ports[0].port;
	return 0;
}

int
web_start(struct web **out, const struct web_config *cfg, struct gb_err *err)
{
	struct web *w;
	int rc;

	*out = NULL;
	if ((rc = web_config_check(cfg, err)))
		return rc;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return gb_errf(err, GB_ENOMEM, "out of memory");
	w->cfg = *cfg;
	snprintf(w->db_path, sizeof(w->db_path), "%s", cfg->db_path);
	snprintf(w->listen, sizeof(w->listen), "%s", cfg->listen);
	w->cfg.db_path = w->db_path;
	w->cfg.listen = w->listen;
	w->cfg.store.create = 0;
	w->cfg.store.migrate = 0;
	/*
	 * a small page cache per server thread: the threads are many and their
	 * reads are short; the OS keeps the file's pages for all of them
	 */
	if (w->cfg.store.cache_kb == 0)
		w->cfg.store.cache_kb = 512;
	w->metrics = cfg->metrics ? cfg->metrics : metrics_default();
	w->serial = atomic_fetch_add(&web_serials, 1) + 1;	/* never 0: an empty slot */
	pthread_mutex_init(&w->header_mu, NULL);
	pthread_mutex_init(&w->unwritable_mu, NULL);
	mg_init_library(0);
	if ((rc = web_listen(w, err))) {
		web_stop(w);
		return rc;
	}
	*out = w;
	return 0;
}

int
web_port(const struct web *w)
{
	return w->port;
}

void
web_shutdown(struct web *w)
{
	if (w)
		atomic_store(&w->stopping, 1);
}

void
web_set_unwritable(struct web *w, const char *reason)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->unwritable_mu);
	snprintf(w->unwritable, sizeof(w->unwritable), "%s", reason);
	pthread_mutex_unlock(&w->unwritable_mu);
	atomic_store(&w->unwritable_set, 1);
}

int
web_unwritable(struct web *w, char *out, size_t size)
{
	if (!atomic_load(&w->unwritable_set))
		return 0;
	pthread_mutex_lock(&w->unwritable_mu);
	snprintf(out, size, "%s", w->unwritable);
	pthread_mutex_unlock(&w->unwritable_mu);
	return 1;
}

void
web_stop(struct web *w)
{
	if (w == NULL)
		return;
	web_shutdown(w);
	if (w->ctx)
		mg_stop(w->ctx);
	mg_exit_library();
	pthread_mutex_destroy(&w->header_mu);
	pthread_mutex_destroy(&w->unwritable_mu);
	free(w);
}
