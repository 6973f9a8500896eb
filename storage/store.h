/*
 * store.h - the SQLite mirror of the cluster's collections: opening it,
 * transactions, schema versions, and the names of collections and statuses.
 * The rest of the contract is one header per module: docs.h (documents and
 * filters), queue.h (every state change of a context), access.h (the
 * schema's access patterns), heartbeat.h (worker heartbeats), pipestats.h
 * (pipeline statistics).
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
enum ctx_status { CTX_PENDING, CTX_PROCESSING, CTX_COMPLETED, CTX_FAILED, CTX_CANCELLED,
    CTX_STATUS_COUNT };

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
	int no_autocheckpoint;	/* leave WAL checkpoints to store_checkpoint (a background
				 * thread) */
	int cache_kb;		/* this connection's page cache in KiB; 0: SQLite's 2000 */
};

/*
 * Open the database at path (":memory:" works for tests). Refuses a file that
 * is not SQLite, a database newer than this binary (GB_EVERSION), and, without
 * opts->migrate, one older than it. Caller frees with store_close.
 */
int store_open(struct store **out, const char *path, const struct store_opts *opts,
    struct gb_err *err);
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

/*
 * A stamp that moves whenever the database changes, by any connection of
 * any process: a cheap "did anything change" for pollers (the event stream).
 * Reads no page.
 */
int store_data_version(struct store *st, uint64_t *version, struct gb_err *err);

/* Transactions nest: inner levels are savepoints, undone alone by store_rollback. */
int store_begin(struct store *st, struct gb_err *err);
int store_commit(struct store *st, struct gb_err *err);
void store_rollback(struct store *st);

#endif
