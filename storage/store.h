/*
 * store.h - the SQLite mirror of the cluster's collections.
 *
 * One struct store per thread: it owns one sqlite3 connection and its cache
 * of prepared statements, and must only be used by the thread that opened it
 * (open one per worker, one per web handler thread). Several stores, in this
 * process or others, may open the same file: WAL mode and a busy timeout let
 * readers and one writer work at once.
 *
 * Every collection is a table holding the whole JSON document in `doc`, so
 * fields this binary does not know survive every write and read untouched.
 * Fields the indexes and queries use are generated columns over the doc; for
 * contexts they are real columns that every whole write copies from it.
 * Contexts keep their hot queue state (status, updated_at, retry_count,
 * next_retry_at, processing.started_at, the worker's lease) in real columns
 * so the queue can claim and release without rewriting the document; every
 * read, export and sync sees one whole document with those columns overlaid.
 *
 * All functions return 0 or a negative GB_E* code with a message in err.
 */
#ifndef GB_STORE_H
#define GB_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "../base/err.h"

#define STORE_MAX_DOC	(16u * 1024 * 1024)	/* MongoDB's document limit, on the JSON text */
#define STORE_ID_MAX	128			/* bytes in an _id, NUL included */

enum coll {
	COLL_CONTEXTS,
	COLL_TEMPLATES,
	COLL_COMPONENTS,
	COLL_PIPELINES,
	COLL_BATCHES,
	COLL_USERS,
	COLL_ORGANIZATIONS,
	COLL_COUNT
};

/* Context and batch statuses, in the schema's spelling. */
enum ctx_status { CTX_PENDING, CTX_PROCESSING, CTX_COMPLETED, CTX_FAILED, CTX_CANCELLED, CTX_STATUS_COUNT };

/* "contexts" ... "organizations"; NULL for an out-of-range value. */
const char *coll_name(enum coll c);
/* The collection named name, or -1. */
int coll_from_name(const char *name);
/* The _id prefix of a collection ("ctx_", ...). */
const char *coll_id_prefix(enum coll c);
const char *ctx_status_name(enum ctx_status s);
int ctx_status_from_name(const char *name);

struct store;

struct store_opts {
	int create;		/* create the file when missing */
	int migrate;		/* run pending schema migrations */
	int sync_full;		/* PRAGMA synchronous=FULL instead of NORMAL */
	int busy_timeout_ms;	/* 0: 5000 */
	int no_autocheckpoint;	/* leave WAL checkpoints to store_checkpoint (a background thread) */
};

/*
 * Open the database at path (":memory:" works for tests). Refuses a file that
 * is not SQLite, a database newer than this binary (GB_EVERSION), and, without
 * opts->migrate, one older than it. Caller frees with store_close.
 */
int store_open(struct store **out, const char *path, const struct store_opts *opts, struct gb_err *err);
void store_close(struct store *st);
const char *store_path(const struct store *st);

/* Schema version of the open database, and of this binary. */
int store_schema_version(struct store *st, int *version, struct gb_err *err);
int store_schema_latest(void);
/* Name of migration step v (1-based), NULL past the last. */
const char *store_migration_name(int v);
/* The schema version of the file at path, read without changing it. */
int store_file_version(const char *path, int *version, struct gb_err *err);
/* Run pending migrations; *from and *to (may be NULL) say what was done. */
int store_migrate(struct store *st, int *from, int *to, struct gb_err *err);

/*
 * Copy what the WAL holds into the database without blocking writers
 * (PASSIVE); *frames (when not NULL) receives how many frames the WAL held.
 * A writer starts the WAL over instead of growing it only when its
 * transaction began after a checkpoint that nothing was written behind.
 */
int store_checkpoint(struct store *st, int *frames, struct gb_err *err);

/* Transactions nest: inner levels are savepoints, undone alone by store_rollback. */
int store_begin(struct store *st, struct gb_err *err);
int store_commit(struct store *st, struct gb_err *err);
void store_rollback(struct store *st);

/* ---- documents ---- */

enum store_put_mode {
	STORE_INSERT,		/* a duplicate _id is GB_EEXIST */
	STORE_UPSERT,		/* replace the document with the same _id, or insert */
	STORE_REPLACE,		/* the _id must exist: GB_ENOTFOUND otherwise */
};

/*
 * Validate, normalise and write one JSON document (text of len bytes; it may
 * be MongoDB Extended JSON: $date, $numberLong, $numberInt, $numberDouble and
 * $oid are turned into plain values). Dates at the collection's date paths
 * become ISO-8601 UTC with milliseconds; a missing _id is generated with the
 * collection's prefix, missing created_at/updated_at are set to now, and a
 * context without status is pending. Integers keep their exact text. The
 * stored _id is copied to id_out when not NULL. Nothing is written on error;
 * the message names the field and the reason.
 */
int store_put(struct store *st, enum coll c, const char *text, size_t len,
    enum store_put_mode mode, char id_out[STORE_ID_MAX], struct gb_err *err);

/* A top-level string field for store_set_fields. */
struct store_field {
	const char *name;
	const char *value;
};

/*
 * text with the n top-level string fields set (added, or replacing what is
 * there), through SQLite's json_set, so every other value keeps its exact
 * text (integers beyond 2^53 included); *out is malloc'd. text must be a
 * JSON object.
 */
int store_set_fields(struct store *st, const char *text, size_t len, const struct store_field *f, int n,
    char **out, struct gb_err *err);

/*
 * Validate and normalise without writing: *out receives the document as it
 * would be stored (caller frees with free()). Used by import's dry checks.
 */
int store_normalize(struct store *st, enum coll c, const char *text, size_t len,
    char **out, char id_out[STORE_ID_MAX], struct gb_err *err);

/* The whole document with _id id; caller frees *out with free(). GB_ENOTFOUND when absent. */
int store_get(struct store *st, enum coll c, const char *id, char **out, struct gb_err *err);
/* Delete by _id; GB_ENOTFOUND when absent. */
int store_delete(struct store *st, enum coll c, const char *id, struct gb_err *err);
/* Number of documents in a collection. */
int store_count(struct store *st, enum coll c, int64_t *n, struct gb_err *err);

/*
 * Call fn for every document of c matching filter, in _id order. filter is a
 * MongoDB-style JSON object of dotted paths to scalars or to operator objects
 * ($eq $ne $gt $gte $lt $lte $in $nin $exists), or NULL for all. doc is
 * borrowed for the call. A non-zero return from fn stops the walk and is
 * returned. extjson: dates at the collection's date paths come as {"$date": ...}.
 */
typedef int (*store_doc_fn)(void *arg, const char *doc, size_t len);
int store_each(struct store *st, enum coll c, const char *filter, int extjson,
    store_doc_fn fn, void *arg, struct gb_err *err);

/*
 * Split a JSON array text into its elements, keeping each element's text
 * exactly (integers beyond 2^53 included). fn gets element i (0-based).
 */
typedef int (*store_elem_fn)(void *arg, size_t i, const char *elem, size_t len);
int store_json_array_each(struct store *st, const char *text, size_t len,
    store_elem_fn fn, void *arg, struct gb_err *err);

/* ---- the schema's access patterns on contexts ---- */

/*
 * Worker polling: ids of pending contexts of org that are due (next_retry_at
 * null or not after now_ms), by metadata.priority then created_at, at most
 * limit of them. ids is an array of limit slots; *n receives the count.
 */
int store_ctx_poll(struct store *st, const char *org, int64_t now_ms, int limit,
    char (*ids)[STORE_ID_MAX], int *n, struct gb_err *err);

/* A user's recent contexts (user and org, created_at descending): fn per document. */
int store_ctx_user_recent(struct store *st, const char *user, const char *org, int limit,
    store_doc_fn fn, void *arg, struct gb_err *err);

/* A batch's status summary: counts[s] for every enum ctx_status. */
int store_batch_summary(struct store *st, const char *batch_id,
    int64_t counts[CTX_STATUS_COUNT], struct gb_err *err);

/*
 * The schema's status update: sets status and updated_at (now_ms), and
 * processing.started_at when the new status is processing, or
 * processing.completed_at and processing.duration_ms (duration_ms >= 0) when
 * it is terminal. GB_ENOTFOUND when absent.
 */
int store_ctx_set_status(struct store *st, const char *id, enum ctx_status status,
    int64_t now_ms, int64_t duration_ms, struct gb_err *err);

/*
 * Insert many documents of c in one transaction: all or none. On error
 * *failed (when not NULL) is the index of the document at fault.
 */
int store_put_many(struct store *st, enum coll c, const char *const *texts, const size_t *lens,
    size_t n, enum store_put_mode mode, size_t *failed, struct gb_err *err);

/* Contexts per status over the whole mirror. */
int store_ctx_status_counts(struct store *st, int64_t counts[CTX_STATUS_COUNT], struct gb_err *err);

/* ---- the queue ---- */

#define QUEUE_MAX_CLAIM 256

/*
 * Claim up to max due pending contexts for owner, in one transaction: fairly
 * across organizations (round robin between them, each in the polling order),
 * or only batch_id's when it is not NULL. Each becomes processing, held by
 * owner with a lease until now_ms + lease_ms; a pending batch of theirs
 * becomes processing. ids (max slots) receives the claimed _ids.
 */
int store_queue_claim(struct store *st, const char *owner, const char *batch_id, int64_t now_ms,
    int64_t lease_ms, int max, char (*ids)[STORE_ID_MAX], int *n, struct gb_err *err);
/* Extend every lease owner holds to until_ms; *n (may be NULL): how many. */
int store_queue_extend(struct store *st, const char *owner, int64_t until_ms, int *n, struct gb_err *err);
/*
 * Return to pending every processing context whose lease ended before now_ms,
 * or whose owner dead() says is gone (dead may be NULL). Progress recorded
 * so far is kept: the context resumes at its next component.
 */
typedef int (*store_owner_dead_fn)(void *arg, const char *owner);
int store_queue_reap(struct store *st, int64_t now_ms, store_owner_dead_fn dead, void *arg, int *n,
    struct gb_err *err);
/* Give back a context owner holds (at shutdown): pending again, progress kept. */
int store_queue_release(struct store *st, const char *id, const char *owner, int64_t now_ms,
    struct gb_err *err);

/* One change to a document: a SQLite JSON path ("$.data.template") and its new value as JSON text. */
struct ctx_edit {
	const char *path;
	const char *json;
};

/*
 * Record progress on a context owner holds: apply the edits to its document
 * and set updated_at. GB_ESTATE when owner no longer holds it (cancelled,
 * reaped).
 */
int store_ctx_progress(struct store *st, const char *id, const char *owner,
    const struct ctx_edit *edits, int n, int64_t now_ms, struct gb_err *err);

struct ctx_finish {
	enum ctx_status status;		/* completed, failed, or pending for a retry */
	int64_t now_ms;
	int64_t duration_ms;		/* processing.duration_ms when terminal */
	int64_t next_retry_ms;		/* pending: when it is due again */
	int64_t prompt_tokens;		/* added to the batch's usage when terminal */
	int64_t completion_tokens;
	double cost;
	const struct ctx_edit *edits;	/* applied first (error, usage, ...) */
	int nedits;
};

/*
 * End a run of a context owner holds, in one transaction: terminal (its
 * batch's counters, usage and status move with it) or back to pending with
 * retry_count + 1 and next_retry_at. GB_ESTATE when owner no longer holds it.
 */
int store_ctx_finish(struct store *st, const char *id, const char *owner, const struct ctx_finish *f,
    struct gb_err *err);
/* Cancel a pending or processing context (its batch counts it). GB_ESTATE when it already ended. */
int store_ctx_cancel(struct store *st, const char *id, int64_t now_ms, struct gb_err *err);
/* Bumped by every write to templates, components, pipelines, organizations. */
int store_catalog_gen(struct store *st, int64_t *gen, struct gb_err *err);

/* The query plan of one access pattern, for tests: "poll", "user_recent", "batch_summary", "status_update", "claim". */
int store_explain(struct store *st, const char *pattern, char **plan, struct gb_err *err);

#endif
