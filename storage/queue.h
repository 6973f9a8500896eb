/*
 * queue.h - contexts as a work queue: every state change of a context
 * (claim with a lease, extend, reap, release, progress, finish or retry,
 * cancel, the plain status update). Their SQL lives in queue.c and
 * queue_many.c (ends of many contexts at once) alone.
 *
 * All functions return 0 or a negative GB_E* code with a message in err.
 */
#ifndef GB_STORAGE_QUEUE_H
#define GB_STORAGE_QUEUE_H

#include <stdint.h>

#include "store.h"

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
/*
 * store_queue_claim, also reading each claimed context's document as
 * store_get would: docs (max slots) receives one malloc'd text per claimed
 * _id, in the order of ids; the caller frees them. All NULL on error.
 */
int store_queue_claim_docs(struct store *st, const char *owner, const char *batch_id,
    int64_t now_ms, int64_t lease_ms, int max, char (*ids)[STORE_ID_MAX], char **docs, int *n,
    struct gb_err *err);
/*
 * Inside a write transaction of the caller's (store_begin): the contexts
 * store_queue_claim would claim, and their documents, without claiming them.
 * Each must then, in the same transaction, be taken (store_queue_take) or
 * ended from pending (store_ctx_finish_many, ctx_end.pending), before the
 * transaction commits: while it is open no one else can claim them.
 */
int store_queue_peek_docs(struct store *st, const char *batch_id, int64_t now_ms, int max,
    char (*ids)[STORE_ID_MAX], char **docs, int *n, struct gb_err *err);
/*
 * Claim the n peeked contexts ids for owner, as store_queue_claim would.
 * GB_ESTATE when one is not pending.
 */
int store_queue_take(struct store *st, const char *owner, int64_t now_ms, int64_t lease_ms,
    char (*ids)[STORE_ID_MAX], int n, struct gb_err *err);
/* Extend every lease owner holds to until_ms; *n (may be NULL): how many. */
int store_queue_extend(struct store *st, const char *owner, int64_t until_ms, int *n,
    struct gb_err *err);
/*
 * Return to pending every processing context whose lease ended before now_ms,
 * that has no lease at all (set to processing by store_ctx_set_status or an
 * import: nobody holds it), or whose owner dead() says is gone (dead may be
 * NULL). Progress recorded
 * so far is kept: the context resumes at its next component.
 */
typedef int (*store_owner_dead_fn)(void *arg, const char *owner);
int store_queue_reap(struct store *st, int64_t now_ms, store_owner_dead_fn dead, void *arg, int *n,
    struct gb_err *err);
/* Give back a context owner holds (at shutdown): pending again, progress kept. */
int store_queue_release(struct store *st, const char *id, const char *owner, int64_t now_ms,
    struct gb_err *err);

/*
 * One change to a document: a SQLite JSON path ("$.data.template") and its new
 * value as JSON text.
 */
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
int store_ctx_finish(struct store *st, const char *id, const char *owner,
    const struct ctx_finish *f, struct gb_err *err);
/* One context's end in store_ctx_finish_many. */
struct ctx_end {
	const char *id;
	enum ctx_status status;		/* completed or failed */
	int64_t duration_ms;		/* processing.duration_ms; < 0: null */
	int64_t prompt_tokens;		/* added to the batch's usage */
	int64_t completion_tokens;
	double cost;
	const struct ctx_edit *edits;	/* applied first (error, ...) */
	int nedits;
	int pending;			/* peeked, never taken: it ends from pending
					 * (store_queue_peek_docs) */
	int rc;				/* out: 0 ended, GB_ESTATE owner no longer held it
					 * (skipped) */
};

/*
 * End n contexts owner holds (or, with pending, that it peeked in the
 * caller's open transaction and are still pending), all terminal, at now_ms,
 * in one transaction (a savepoint inside the caller's): one UPDATE for the
 * contexts, one counter update and one end check per batch with the sums of
 * its contexts. A context owner no longer holds (cancelled, reaped) is skipped: its rc is
 * GB_ESTATE and *skipped (may be NULL) counts it; an _id listed twice ends
 * once. Any other error undoes every end of the call and is returned.
 */
int store_ctx_finish_many(struct store *st, const char *owner, struct ctx_end *ends, int n,
    int64_t now_ms, int *skipped, struct gb_err *err);

/* Cancel a pending or processing context (its batch counts it). GB_ESTATE when it already ended. */
int store_ctx_cancel(struct store *st, const char *id, int64_t now_ms, struct gb_err *err);
/*
 * The schema's status update: sets status and updated_at (now_ms), and
 * processing.started_at when the new status is processing, or
 * processing.completed_at and processing.duration_ms (duration_ms >= 0) when
 * it is terminal. GB_ENOTFOUND when absent.
 */
int store_ctx_set_status(struct store *st, const char *id, enum ctx_status status,
    int64_t now_ms, int64_t duration_ms, struct gb_err *err);

#endif
