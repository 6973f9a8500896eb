/*
 * internal.h - what web's files share: the request a handler gets, the
 * route table, and the helpers every handler uses to read and answer.
 *
 * A route group is one file holding one table of struct web_route ending
 * with a NULL method; web.c lists the groups. A handler returns after it has
 * answered (every helper below answers or says it did not); its store is the
 * calling thread's.
 */
#ifndef GB_WEB_INTERNAL_H
#define GB_WEB_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <civetweb.h>
#include <cjson/cJSON.h>

#include "../base/buf.h"
#include "../base/metrics.h"
#include "../storage/apikey.h"
#include "../storage/listing.h"
#include "../storage/store.h"
#include "../storage/submit.h"
#include "web.h"

#define WEB_MAX_PARAMS 4
#define WEB_JSON_DEPTH 32
#define API "/api/v1"
#define POOL_HB_MAX 1024		/* heartbeat rows read at most */

/* What a route needs from the caller's key. */
enum web_perm { PERM_NONE, PERM_READ, PERM_WRITE, PERM_ADMIN };

struct web {
	struct mg_context *ctx;
	struct web_config cfg;		/* strings copied below */
	char db_path[4096];
	char listen[256];
	struct metrics *metrics;
	atomic_int stopping;		/* web_shutdown: health 503, streams end */
	int port;
	unsigned serial;		/* this server's number in the process: keys the
					 * threads' metric caches */
	pthread_mutex_t header_mu;	/* civetweb dates headers with gmtime(): one at a time */
	atomic_int unwritable_set;	/* web_set_unwritable was called: writes get 503 */
	pthread_mutex_t unwritable_mu;	/* guards unwritable */
	char unwritable[WEB_UNWRITABLE_MAX];	/* why, the 503's message */
};

/* Why writes are refused (web_set_unwritable) into out; 0 when they are not. */
int web_unwritable(struct web *w, char *out, size_t size);

/* Who is calling: filled by auth for routes that need a key. */
struct web_caller {
	int authed;
	char key_id[APIKEY_ID_MAX];
	char user_id[STORE_ID_MAX];
	char org_id[STORE_ID_MAX];
	int write;
	int admin;
};

struct web_req {
	struct mg_connection *conn;
	const struct mg_request_info *ri;
	struct web *web;
	struct store *st;		/* the thread's, or NULL when it could not open */
	const struct web_route *route;
	char params[WEB_MAX_PARAMS][STORE_ID_MAX];	/* the pattern's {..} values, in order */
	int nparams;
	struct web_caller caller;
	int status;			/* what was answered, 0 before */
	char object[STORE_ID_MAX];	/* the object a change touched, for the audit line */
	int retry_after;		/* seconds for a Retry-After header, 0: none */
};

struct web_route {
	const char *method;		/* NULL ends a table */
	const char *pattern;		/* "/api/v1/contexts/{id}": a {..} segment matches
					 * one segment */
	int (*fn)(struct web_req *r);
	enum web_perm perm;
};

/* The route groups, one per file. */
extern const struct web_route web_routes_contexts[];
extern const struct web_route web_routes_catalog[];
extern const struct web_route web_routes_org[];
extern const struct web_route web_routes_ops[];
extern const struct web_route web_routes_events[];
extern const struct web_route web_routes_ctxnew[];
extern const struct web_route web_routes_bulk[];
extern const struct web_route web_routes_batches[];
extern const struct web_route web_routes_dashboard[];

/* ---- answering (http.c): each answers once and returns the status sent ---- */

/* status with body of len bytes and ctype; the security headers always go too. */
int web_send(struct web_req *r, int status, const char *ctype, const char *body, size_t len);
/* status with the JSON of j (j is not freed). */
int web_send_json(struct web_req *r, int status, const cJSON *j);
/* status with j, then cJSON_Delete(j); a NULL j is a 500 (out of memory). */
int web_send_json_take(struct web_req *r, int status, cJSON *j);
/* The error body {"error": {"code", "message"}}. */
int web_error(struct web_req *r, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/*
 * storage's message for an _id taken ("duplicate _id 'x' in templates") as
 * the API says it, the same whichever organization holds x (the _id space
 * is global, as in the cluster): "_id 'x' is already taken", into out; any
 * other message as it is.
 */
const char *web_taken_msg(const char *msg, char *out, size_t size);
/* The answer for a storage error: 404, 409, 400, 503, 500 by err->code. */
int web_store_error(struct web_req *r, const struct gb_err *err);
/* The headers of a response whose body follows by mg_write (event streams). */
void web_send_head(struct web_req *r, int status, const char *ctype);

/* ---- reading (http.c): 0, or the status already answered ---- */

/*
 * The body, at most the server's max_body bytes (413 on Content-Length
 * before reading, and while reading one without it), into b (caller
 * releases). With json set a Content-Type other than application/json is 415.
 */
int web_read_body(struct web_req *r, struct buf *b, int json);
/*
 * The body as a JSON object: 415, 413 as above; 400 invalid_json for text
 * that is not JSON, holds a NUL byte (or its escape \u0000), has anything
 * after the value, nests deeper than WEB_JSON_DEPTH, is not an object, or
 * holds an object with a key twice (escapes undone: "cont\u0065xts" is
 * "contexts"). *out: caller deletes.
 */
int web_read_json(struct web_req *r, cJSON **out);
/* web_read_json keeping the body's text in body (released by the caller, even on error). */
int web_read_json_text(struct web_req *r, cJSON **out, struct buf *body);
/*
 * Query parameter name into out (URL-decoded): 1 present, 0 absent; 400
 * (answered, returned as a negative -400) when it is too long or holds a
 * NUL byte (%00).
 */
int web_query(struct web_req *r, const char *name, char *out, size_t size);
/* An integer parameter in [min, max] or dflt; 400 naming the parameter otherwise. */
int web_query_int(struct web_req *r, const char *name, int64_t min, int64_t max, int64_t dflt,
    int64_t *out);

/* ---- auth (auth.c) ---- */

/* Check the Authorization header for perm: 0, or the 401/403 already answered. */
int web_auth(struct web_req *r, enum web_perm perm);
/* One audit line for a change made through the API. */
void web_audit(struct web_req *r);

/* ---- shared by the groups (common.c) ---- */

/* The string member key of o, or "" (never NULL). */
const char *json_str_or(const cJSON *o, const char *key);
/*
 * A context's summary for lists: _id, type, status, batch_id, user_id, title,
 * times, retry_count, error.
 */
cJSON *web_ctx_summary(const cJSON *doc);
/* ?limit= (1..200, default 50) and ?cursor= (hex of the last _id given): 0, or the 400 answered. */
int web_page(struct web_req *r, int64_t *limit, char after[STORE_ID_MAX]);
/* The opaque cursor for a page that ended at id, into out (2 * STORE_ID_MAX bytes). */
void web_cursor(const char *id, char *out, size_t size);

/* A store document parsed, with org checked: 0, or 404/5xx answered. *out: caller deletes. */
int web_get_org_doc(struct web_req *r, enum coll c, const char *id, cJSON **out);
/* The stored text of an object of the caller's organization (numbers exact), or 404/5xx. */
int web_send_org_doc(struct web_req *r, int status, enum coll c, const char *id);
/* A time in ms as the schema's ISO string, or null for 0. */
cJSON *web_time_or_null(int64_t ms);
#define WEB_NO_WORKER_WARNING "work is pending but no worker is alive"
/* Live workers, and pending contexts of org (NULL: every organization) from the counter rows. */
int web_workers_count(struct web_req *r, const char *org, int *alive, int64_t *pending,
    struct gb_err *err);


/*
 * A filter on the caller's contexts (the list's query keys, or the bulk
 * actions' filter object): q points into the buffers beside it.
 */
struct web_filter {
	struct ctx_query q;
	int keys;			/* filter keys given (limit and cursor aside) */
	char type[STORE_ID_MAX], batch_id[STORE_ID_MAX], user_id[STORE_ID_MAX];
	char after[64], before[64], text[256];
	char cursor[LIST_CURSOR_MAX];
};

/* The list's filter, limit and cursor from the query string: 0, or the 400 answered. */
int web_filter_query(struct web_req *r, struct web_filter *f);
/* A bulk action's filter object (unknown key: 400): 0, or the 400 answered. */
int web_filter_json(struct web_req *r, const cJSON *obj, struct web_filter *f);

/* A batch's status summary {pending..cancelled, total}; NULL on error (err set). */
cJSON *web_batch_summary(struct web_req *r, const char *batch_id, struct gb_err *err);
/* Counts per status as {"pending": n, ...}. */
cJSON *web_counts_json(const int64_t counts[CTX_STATUS_COUNT]);

/*
 * The answer for a refused submission (submit.h): 400 (the message prefixed
 * with "contexts[i]: " when res names a context), 403, 409, 429 with
 * reset_at, or the storage error.
 */
int web_submit_error(struct web_req *r, const struct gb_err *err, const struct submit_result *res);
/*
 * The exact text of top-level member key of the JSON object text (valid
 * JSON): *start and *len; 0 when found, -1 otherwise.
 */
/* The contexts of a request (arr, the parsed member; body, its text), each with its exact text. */
struct web_items {
	struct submit_item *v;
	char **texts;			/* owned copies behind v[i].text */
	size_t n;
};
/* 0, or the 400 answered; release it either way. */
int web_contexts_items(struct web_req *r, const cJSON *arr, const struct buf *body,
    struct web_items *it);
void web_items_release(struct web_items *it);
/* A body with members other than names (NULL-ended) is a 400: 0, or the 400 answered. */
int web_only_fields(struct web_req *r, const cJSON *body, const char *const *names);
int web_json_member_span(const char *text, size_t size, const char *key, const char **start,
    size_t *len);

/* ---- sync (syncview.c): read from storage, the state from the daemon ---- */

#define WEB_SYNC_STUCK_MS (15 * 60 * 1000LL)	/* an outbox row this old degrades /healthz */

struct sync_coll_status;

/* The sync floor's state now: "off" without a callback. */
const char *web_sync_state(const struct web *w);
/* The collections' status summed: outbox depth, oldest row, the newest last error. */
struct web_sync_sum {
	int64_t depth, oldest_ms, error_ms;
	const char *error;		/* borrowed from the status rows; NULL: none */
	enum coll error_coll;
};
void web_sync_sum(const struct sync_coll_status *cs, struct web_sync_sum *sum);
/*
 * /healthz's "sync" object into out, and into reasons what degrades health
 * (the state "auth", an outbox row older than WEB_SYNC_STUCK_MS); -1 when
 * storage could not be read (out holds the state only).
 */
int web_sync_health(struct web_req *r, cJSON *out, cJSON *reasons);
/* The dashboard's "sync": the summary, every collection, the newest rejected; NULL on error. */
cJSON *web_sync_json(struct web_req *r, struct gb_err *err);
/* genbox_sync_* in the server's registry, read from storage now. */
void web_sync_metrics(struct web_req *r);

/* ---- the box's jobs and the database file (jobsview.c) ---- */

/*
 * /healthz: every job into jobs ({name: {ok, running, last_run, last_success,
 * error, counts}}), the file's figures and the last check into db; what
 * degrades health (a failed job, an old backup) into reasons, what makes it
 * unhealthy (a failed quick_check) into local.
 */
void web_jobs_health(struct web_req *r, cJSON *jobs, cJSON *db, cJSON *reasons, cJSON *local);
/* The dashboard's {"jobs": [...], "database": {...}}; NULL on error (err set). */
cJSON *web_jobs_json(struct web_req *r, struct gb_err *err);
/* genbox_job_* and genbox_db_* in the server's registry, read from storage now. */
void web_jobs_metrics(struct web_req *r);

/*
 * Count n contexts the API sent back to the queue (retry) or cancelled, in
 * genbox_contexts_requeued_total / genbox_contexts_cancelled_total (label
 * by="api"): the transitions the engine's own counters do not see.
 */
void web_count_transitions(struct web_req *r, int retry, int64_t n);

#endif
