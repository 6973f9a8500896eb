/*
 * retry.h - how a run of a context ends: the delay before a retry (a pure
 * function), then complete, fail (or retry later) and release. The lowest
 * of the engine's files: it calls storage only.
 *
 * The functions taking a worker run on that worker's thread inside its open
 * transaction; each takes the task and removes it from the pool's count of
 * contexts in flight (the task is freed).
 */
#ifndef GB_RETRY_H
#define GB_RETRY_H

#include <stdint.h>

#include "engine.h"

struct retry_policy {
	int64_t base_ms;		/* the first delay; doubles with each retry */
	int64_t max_ms;			/* cap on the doubled delay (before jitter) */
};

/*
 * The delay before retry number retries + 1: base_ms * 2^retries, capped at
 * max_ms, times a jitter in [0.75, 1.25) taken from seed, and never shorter
 * than retry_after_ms (the server's Retry-After; <= 0: none). Pure.
 */
int64_t retry_delay_ms(const struct retry_policy *pol, int retries, int64_t retry_after_ms,
    unsigned seed);

/*
 * The context ran every step: completed, with its usage and duration; its
 * pipeline's statistics grow. Written by the next retry_flush, with the
 * other completions of the transaction.
 */
void retry_complete(struct worker *w, struct task *t);
/*
 * Write the completions retry_complete collected, in one store call (call
 * before the transaction commits; a context no longer held is dropped).
 */
void retry_flush(struct worker *w);
/* Failed attempts a context's processing.attempts keeps: the most recent. */
#define RETRY_MAX_ATTEMPTS 20

/*
 * A step failed with why (why->code GB_ETRANSIENT: worth a retry): back to
 * pending after retry_delay_ms while retries are left, else failed. The
 * context's error records component, message, time and transience, and
 * processing.attempts gains {"attempt": retry_count + 1, "at", "component",
 * "error"} (the RETRY_MAX_ATTEMPTS most recent are kept).
 */
void retry_fail(struct worker *w, struct task *t, const char *component, const struct gb_err *why,
    int64_t retry_after_ms);
/*
 * Give the context back to the queue (pending, progress kept; one never
 * taken is just let go). Tried once:
 * when storage is busy the keeper gives it back later (never sleeps here,
 * where the write lock and a transaction are held).
 */
void retry_release(struct worker *w, struct task *t);
/* After a storage error rc: GB_ESTATE means someone else holds it now (drop it); else release. */
void retry_drop_or_release(struct worker *w, struct task *t, int rc);

/* The task leaves the pool without any write (the pool failed, or it is someone else's). */
void retry_leave(struct pool *p, struct task *t);
void retry_task_free(struct task *t);

#endif
