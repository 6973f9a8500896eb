/*
 * outbox.h - what sync keeps in the database: the outbox of local changes
 * to push, the pull checkpoints, the per-collection sync status, documents
 * the cluster refused, and the cluster locks the box holds.
 *
 * The outbox is filled by triggers, so every local change to a context or a
 * batch (and to a template or a component: the cluster's caches of those are
 * dropped) lands in it in the same transaction as the change itself. Rows
 * coalesce: one row per document, keeping the position (seq) of its first
 * unsent change and a version bumped by every later one; the pusher reads
 * the document as it is when it sends it. Nothing is recorded until sync is
 * enabled (store_sync_enable), so a box without a cluster grows no outbox.
 * What is a change: a context's or batch's insert, and an update of a column
 * that is part of its document (a claim, an end, progress; not a lease
 * renewal); a template's or component's insert, update and delete. Deletes
 * of contexts and batches (retention) stay local and are not queued; a row
 * queued before such a delete comes out of store_outbox_take without a
 * document.
 *
 * All functions return 0 or a negative GB_E* code with a message in err.
 */
#ifndef GB_STORAGE_OUTBOX_H
#define GB_STORAGE_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* Is outbox recording on? */
int store_sync_enabled(struct store *st, int *on, struct gb_err *err);
/*
 * Turn outbox recording on, and queue every context and batch not yet
 * queued (the first push sends what the box already holds). Idempotent:
 * a second call queues nothing new. *queued (may be NULL) gets the count.
 */
int store_sync_enable(struct store *st, int64_t *queued, struct gb_err *err);

struct outbox_row {
	int64_t seq;
	int64_t ver;			/* bumped by every change since queued */
	int64_t queued_ms;		/* when the first unsent change was made */
	enum coll coll;
	char id[STORE_ID_MAX];
	char *doc;			/* the whole document now, Extended JSON dates
					 * ({"$date": ...}); NULL when it was deleted */
	size_t len;
};

/*
 * The oldest max rows (by seq) of the collections in mask (bit 1 << coll;
 * 0: all), each with its document read now, as store_each(extjson = 1)
 * gives it (a context's queue columns laid over it); doc is NULL when the
 * document was deleted since (templates, components). Rows of documents in
 * the rejected list are skipped unless they changed since they were
 * rejected (another seq or ver than the one refused). rows has max slots;
 * the caller frees the documents with store_outbox_rows_free.
 */
int store_outbox_take(struct store *st, unsigned mask, int max, struct outbox_row *rows, int *n,
    struct gb_err *err);
void store_outbox_rows_free(struct outbox_row *rows, int n);
/*
 * The cluster acknowledged these rows: delete each whose version is still
 * the one taken (a row changed since stays, to be sent again), and drop its
 * document from the rejected list. One transaction.
 */
int store_outbox_ack(struct store *st, const struct outbox_row *rows, int n,
    struct gb_err *err);
/*
 * The cluster refused row for good: record it in the rejected list with the
 * cluster's error (replacing an earlier record) and delete the outbox row if
 * its version is unchanged. A later local change queues the document again;
 * its record stays in the list until an ack of it. One transaction.
 */
int store_outbox_reject(struct store *st, const struct outbox_row *row, const char *error,
    struct gb_err *err);

/*
 * Rows waiting for coll (-1: all collections), and the queued_ms of the
 * oldest (0 if none; oldest_ms may be NULL).
 */
int store_outbox_depth(struct store *st, int coll, int64_t *depth, int64_t *oldest_ms,
    struct gb_err *err);

struct rejected_doc {
	enum coll coll;
	char id[STORE_ID_MAX];
	int64_t at_ms;
	char error[256];
	int pull;			/* 1: refused on pull (the box cannot store the
					 * cluster's copy), 0: refused by the cluster */
};
/* The rejected list, newest first, at most max; *total counts them all. */
int store_rejected_list(struct store *st, struct rejected_doc *out, int max, int *n,
    int64_t *total, struct gb_err *err);
/*
 * A document of the cluster the pull cannot store (an _id that is not a
 * string, a document the rules refuse): record it in the rejected list as
 * refused on pull with error, and count it in the status (SYNC_REJECTED) -
 * once: the same refusal again (a pull reading it a second time) changes
 * nothing. The outbox is not touched. A later pull that stores the
 * document drops the record (store_sync_apply). One transaction.
 */
int store_pull_reject(struct store *st, enum coll c, const char *id, const char *error,
    int64_t now_ms, struct gb_err *err);

/*
 * Apply one document pulled from the cluster (Extended JSON, as
 * store_put takes it), with the newer-wins guard: absent locally -> insert;
 * local updated_at newer -> kept (STORE_APPLY_OLDER); equal -> nothing
 * (STORE_APPLY_SAME); otherwise replaced (STORE_APPLY_NEWER). For contexts,
 * the job-aware rule: a local terminal status (completed, failed, cancelled)
 * is never replaced by a non-terminal one (STORE_APPLY_KEPT_TERMINAL: the
 * local document is kept, its updated_at moved up to the cluster's so that
 * its push passes the cluster's updated_at guard), and retry_count never
 * goes down (the higher local value is kept in the applied document). A
 * context the box is running now (processing, claimed by a local worker)
 * keeps its lease, status processing and processing.started_at when the
 * cluster's copy has not ended (a terminal copy ends the run: the worker's
 * end then gets GB_ESTATE, as after a cancel). The write is store_put's
 * UPSERT: real columns, counters and lists follow; other rows (a context's
 * batch) are not touched. What a pull writes is not queued for push again,
 * unless the rule changed it from what the cluster holds (an outbox row
 * that was there before stays, one more version). Call inside a transaction
 * with many others (a page); one savepoint of its own.
 */
enum store_apply {
	STORE_APPLY_INSERTED,
	STORE_APPLY_NEWER,
	STORE_APPLY_SAME,
	STORE_APPLY_OLDER,
	STORE_APPLY_KEPT_TERMINAL,
};
int store_sync_apply(struct store *st, enum coll c, const char *doc, size_t len,
    enum store_apply *result, char id_out[STORE_ID_MAX], struct gb_err *err);

/*
 * A page of pulled documents in one transaction: store_pull_begin, then
 * store_sync_apply (and store_checkpoint_set, ...), then store_pull_commit
 * or store_pull_rollback. Inside, the outbox triggers are quiet and
 * store_sync_apply queues only what must go back to the cluster (a
 * document the job rule changed, or one queued before), instead of every
 * trigger queueing a row that the apply deletes again: sync_meta's enabled
 * reads 0 inside this transaction only (other connections never see it; a
 * crash or rollback undoes it; store_pull_commit restores it first).
 */
int store_pull_begin(struct store *st, struct gb_err *err);
int store_pull_commit(struct store *st, struct gb_err *err);
void store_pull_rollback(struct store *st);

/*
 * The clock skew sync measured at its last connect to MongoDB (sync_meta
 * clock_skew_ms: MongoDB's clock less the box's), *known 0 when never
 * measured. Beyond SYNC_SKEW_WARN_MS either way it is warned of: the
 * newer-wins guards compare the box's dates with the cluster's.
 */
#define SYNC_SKEW_WARN_MS 2000
int store_sync_clock_skew(struct store *st, int64_t *skew_ms, int *known, struct gb_err *err);

/* A pull checkpoint: the last (updated_at, _id) applied, and how many so far. */
struct pull_checkpoint {
	char updated_at[32];		/* ISO-8601 UTC with milliseconds; "" from the start */
	char id[STORE_ID_MAX];
	int64_t pulled;
};
int store_checkpoint_get(struct store *st, enum coll c, struct pull_checkpoint *cp,
    struct gb_err *err);
int store_checkpoint_set(struct store *st, enum coll c, const struct pull_checkpoint *cp,
    struct gb_err *err);
/* Back to the start: the next pull reads the whole collection. */
int store_checkpoint_reset(struct store *st, enum coll c, struct gb_err *err);

/*
 * What happened, for the status: one call per event, cheap (one row per
 * collection). SYNC_PUSHED and SYNC_PULLED set the last success to now_ms
 * (also with n = 0); SYNC_*ERROR records error and now_ms; n < 0 is
 * GB_EINVAL. The push's and the pull's errors are kept apart: a round's OK
 * clears only the error of its own direction (SYNC_ERROR and SYNC_OK are
 * the push's).
 */
enum sync_event {
	SYNC_PUSHED,		/* n documents acknowledged */
	SYNC_PULLED,		/* n documents applied */
	SYNC_CONFLICT,		/* n documents kept because the other side was newer */
	SYNC_REJECTED,		/* n documents refused for good */
	SYNC_ERROR,		/* error: the push's last error (n ignored) */
	SYNC_OK,		/* a push round ended without error: clears the push's error */
	SYNC_PULL_ERROR,	/* error: the pull's last error (n ignored) */
	SYNC_PULL_OK,		/* a pull round ended without error: clears the pull's error */
	SYNC_UNDATED,		/* n: the cluster's documents in scope that the pull
				 * cannot see (updated_at missing or not a Date), now */
	SYNC_PUSH_ERROR = SYNC_ERROR,
	SYNC_PUSH_OK = SYNC_OK,
};
int store_sync_note(struct store *st, enum coll c, enum sync_event ev, int64_t n,
    const char *error, int64_t now_ms, struct gb_err *err);

struct sync_coll_status {
	int64_t pushed, pulled, conflicts, rejected;	/* totals */
	int64_t last_push_ms, last_pull_ms;		/* last success, 0: never */
	int64_t outbox_depth, outbox_oldest_ms;
	struct pull_checkpoint checkpoint;
	int64_t last_error_ms;				/* 0: no error since the last success */
	char last_error[256];		/* the newer of the push's and the pull's */
	int last_error_pull;		/* 1: last_error is the pull's, 0: the push's */
	int64_t undated;		/* SYNC_UNDATED's count of the last pull round */
};
/* Status of every collection, indexed by enum coll. Reads a few small rows. */
int store_sync_status(struct store *st, struct sync_coll_status out[COLL_COUNT],
    struct gb_err *err);

/* Redis locks of the cluster (worker_lock:{context_id}) the box holds. */
struct cluster_lock {
	char ctx_id[STORE_ID_MAX];
	char worker_id[192];
	int64_t taken_ms;
};
int store_cluster_lock_add(struct store *st, const char *ctx_id, const char *worker_id,
    int64_t now_ms, struct gb_err *err);
/* Add replaces the row of the same context; removing an absent one is not an error. */
int store_cluster_lock_remove(struct store *st, const char *ctx_id, struct gb_err *err);
/* At most max, oldest first. */
int store_cluster_lock_list(struct store *st, struct cluster_lock *out, int max, int *n,
    struct gb_err *err);

/*
 * A small key/value for sync's own marks (e.g. the last pipeline stat sent;
 * "enabled" is store_sync_enable's). val gets "" and *found 0 when absent.
 */
int store_sync_meta_get(struct store *st, const char *key, char *val, size_t size, int *found,
    struct gb_err *err);
int store_sync_meta_set(struct store *st, const char *key, const char *val, struct gb_err *err);

#endif
