/*
 * internal.h - what the storage modules share and nobody else sees.
 */
#ifndef GB_STORAGE_INTERNAL_H
#define GB_STORAGE_INTERNAL_H

#include <sqlite3.h>
#include <cjson/cJSON.h>

#include "docs.h"
#include "store.h"

/* Slots in a new statement cache: more than the storage floor's SQL texts (about 130). */
#define STMT_CACHE 160

struct stmt_slot {
	const char *sql;		/* static text: compared by pointer, then content */
	sqlite3_stmt *stmt;
	uint64_t used;			/* st->tick at the last use: the oldest is evicted */
};

struct store {
	sqlite3 *db;			/* owned; used by the opening thread only */
	char *path;
	int txdepth;			/* store_begin nesting */
	char claim_org[STORE_ID_MAX];	/* the last organization a claim served: the next
					 * starts after it */
	int64_t busy_timeout_ms;	/* how long store_busy_wait keeps trying */
	int64_t busy_since_ms;		/* monotonic start of the current wait */
	int turn_fd;			/* "<path>-turn", flocked by a waiting writer; -1: none */
	int turn_held;			/* this store has raised the flag */
	int pull_page;			/* inside store_pull_begin: the outbox triggers quiet */
	int pull_rejected;		/* ... and a pull-refused row may exist */
	int pstats_pruned;		/* pipeline statistics pruned once by this store */
	int64_t pstats_pruned_ms;	/* at_ms of that last pruning */
	struct stmt_slot *cache;	/* cap slots, ncached used; grows on demand */
	int ncached, cap;
	uint64_t tick;
};

/*
 * A cached prepared statement for sql, reset and with cleared bindings. sql
 * must be a string that lives as long as the process (a literal); the cache
 * finds it by pointer, then by content. A full cache evicts the least
 * recently used statement that is not being stepped, never one a caller is
 * in the middle of. The caller sqlite3_reset()s it when done and never
 * finalizes it. Asking again for a statement that is being stepped resets it.
 */
int store_stmt(struct store *st, const char *sql, sqlite3_stmt **out, struct gb_err *err);
/* src into dst (size bytes), cut at a character boundary of UTF-8 when too long */
void store_copy_text(char *dst, size_t size, const unsigned char *src);
/*
 * "<db_path>-lock", db_path resolved first when it exists, so every path
 * naming one file (a symlink, "./x.db") has the same: the running lock
 * (upkeep.c, an flock) and the jobs' locks (jobs.c, byte ranges) are on it.
 * 0, or -1 when it does not fit size.
 */
int store_lock_path(const char *db_path, char *out, size_t size);
/* Whether buf (n bytes) begins with SQLite's header string "SQLite format 3". */
int store_sqlite_head(const char *buf, size_t n);
/* 1 when the file at path begins with SQLite's header, 0 when not, -1 (errno) unreadable. */
int store_file_sqlite(const char *path);
/* An error from SQLite into err, with what was being done. */
int store_sqlerr(struct store *st, struct gb_err *err, const char *what);
int store_exec(struct store *st, const char *sql, struct gb_err *err);

/*
 * A new connection to path (flags: SQLITE_OPEN_*) with extended result
 * codes and the busy handler; nothing read or written yet. Caller frees
 * with store_close.
 */
int store_connect(struct store **out, const char *path, int flags, int busy_timeout_ms,
    struct gb_err *err);
/* WAL (files only), synchronous, temp_store and checkpoints as opts say. */
int store_pragmas(struct store *st, const struct store_opts *opts, struct gb_err *err);
/* busy.c: waiting for the write lock, and letting a waiting writer in (see there). */
int store_busy_wait(void *arg, int count);
void store_busy_open(struct store *st);
void store_busy_close(struct store *st);
void store_busy_yield(struct store *st);
void store_busy_release(struct store *st);

/* " (reason)" when path or its folder cannot be written, "" otherwise. */
const char *store_unwritable(const char *path);

/*
 * The first path and value of a json_set folding a context's hot columns
 * into its document (a read, an end): started_at when there is one, else
 * updated_at (set again right after), so the document is parsed once.
 */
#define CTX_STARTED_AT(now) \
	"CASE WHEN started_at IS NULL THEN '$.updated_at' ELSE '$.processing.started_at' END, " \
	"COALESCE(started_at, " now ")"

/*
 * A context row's document: when the hot columns moved on since the doc was
 * last written (dirty), they are laid over it.
 */
#define CTX_DOC_EXPR \
	"(CASE WHEN dirty THEN json_set(doc, " CTX_STARTED_AT("updated_at") "," \
	" '$.status', status, '$.updated_at', updated_at," \
	" '$.retry_count', retry_count, '$.next_retry_at', next_retry_at)" \
	" ELSE doc END)"

/*
 * The schema's worker polling (?1 organization, ?2 now, ?3 limit): pending,
 * due, by metadata.priority then created_at. One text for the access
 * pattern (store_ctx_poll) and the queue's claims. Contexts of a paused
 * batch (paused_batches) are passed over; POLL_ORG_ANY_SQL, the same
 * without that check, serves claims while no batch is paused.
 */
#define POLL_ORG_HEAD \
	"SELECT _id FROM contexts WHERE status = 'pending' AND organization_id = ?1 " \
	"AND (next_retry_at IS NULL OR next_retry_at <= ?2) "
#define POLL_ORG_SQL POLL_ORG_HEAD \
	"AND NOT EXISTS (SELECT 1 FROM paused_batches WHERE batch_id = contexts.batch_id) " \
	"ORDER BY priority, created_at LIMIT ?3"
#define POLL_ORG_ANY_SQL POLL_ORG_HEAD "ORDER BY priority, created_at LIMIT ?3"

/*
 * The queue's claim: up to CLAIM_CHUNK contexts per statement, unused places
 * bound to NULL; +status keeps the planner on the _id index.
 */
#define CLAIM_CHUNK 16
#define CLAIM_UPDATE \
	"UPDATE contexts SET status = 'processing', worker_id = ?1, lease_until = ?2, " \
	"started_at = COALESCE(started_at, ?3), updated_at = ?3, dirty = 1 " \
	"WHERE +status = 'pending' AND _id IN (?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, " \
	"?15, ?16, ?17, ?18, ?19)"
#define CLAIM_SQL CLAIM_UPDATE " RETURNING batch_id"
/* the claim that also reads each claimed context's document, as store_get would */
#define CLAIM_DOCS_SQL CLAIM_UPDATE " RETURNING batch_id, _id, " CTX_DOC_EXPR

/*
 * A context's end (?2 status, ?3 now, ?4 duration_ms): the hot columns are
 * folded into the document, which is final from then on. Add the WHERE.
 */
#define CTX_END_UPDATE \
	"UPDATE contexts SET status = ?2, updated_at = ?3, dirty = 0, worker_id = NULL, " \
	"lease_until = NULL, " \
	"doc = json_set(doc, " CTX_STARTED_AT("?3") ", " \
	"'$.status', ?2, '$.updated_at', ?3, '$.retry_count', retry_count, '$.next_retry_at', " \
	"next_retry_at, " \
	"'$.processing.completed_at', ?3, '$.processing.duration_ms', ?4) WHERE _id = ?1"

/* A batch row's document, with its progress counters laid over it. */
#define BATCH_DOC_EXPR \
	"(CASE WHEN dirty THEN json_set(doc, '$.status', status, '$.updated_at', updated_at," \
	" '$.context_count', context_count, '$.completed_count', completed_count," \
	" '$.failed_count', failed_count, '$.cancelled_count', cancelled_count," \
	" '$.processing_started_at', processing_started_at," \
	" '$.processing_completed_at', processing_completed_at, '$.total_duration_ms', " \
	"total_duration_ms," \
	" '$.usage', json_object('prompt_tokens', prompt_tokens, 'completion_tokens', " \
	"completion_tokens, 'total_tokens', prompt_tokens + completion_tokens, 'cost', cost))" \
	" ELSE doc END)"

/* The SQL expression that yields a row's whole document (overlay for contexts). */
const char *store_doc_expr(enum coll c);

/* Field types the collection rules check. */
enum ftype { F_STRING, F_INT, F_NUMBER, F_BOOL, F_OBJECT, F_ARRAY, F_STRARRAY, F_ENUM };
#define F_REQUIRED	1u
#define F_NULLABLE	2u
#define F_NONNEG	4u
#define F_EACH		8u	/* the value is an array; each element must match */

struct field_rule {
	const char *path;		/* dotted; arrays on the way are entered element by
					 * element */
	enum ftype type;
	unsigned flags;
	const char *const *values;	/* F_ENUM: NULL-terminated */
};

struct coll_def {
	const char *name;
	const char *prefix;
	const char *const *date_paths;	/* NULL-terminated, dotted, arrays entered */
	const struct field_rule *rules;	/* ends with a NULL path */
};

extern const struct coll_def coll_defs[COLL_COUNT];

/* A document after validation: the tree and the text to store. */
struct doc {
	cJSON *tree;			/* plain values, normalised dates */
	char *text;			/* malloc'd final text, or NULL: the input is final */
	const char *in;			/* the caller's text */
	size_t inlen;
	char id[STORE_ID_MAX];
};

int doc_prepare(struct store *st, enum coll c, const char *text, size_t len,
    struct doc *d, struct gb_err *err);
void doc_release(struct doc *d);
/* The text to store: d->text when set, the input otherwise. */
const char *doc_text(const struct doc *d, size_t *len);
/* Write a prepared document as store_put does (its real columns, its triggers). */
int store_put_doc(struct store *st, enum coll c, const struct doc *d, enum store_put_mode mode,
    struct gb_err *err);
/* Rewrite a stored document's date paths as {"$date": ...}; *out malloc'd. */
int doc_to_extjson(struct store *st, enum coll c, const char *text, size_t len,
    char **out, struct gb_err *err);

/*
 * docscan.c: GB_EINVAL when a string or a name of the JSON text (parsed
 * already) holds \u0000, naming its path ("a.b[2]", names as written); else 0.
 */
int doc_check_nul(const char *text, size_t len, struct gb_err *err);

#endif
