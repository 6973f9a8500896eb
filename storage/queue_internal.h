/*
 * queue_internal.h - what queue.c shares with queue_many.c: a batch's
 * counters summed over the contexts of it that end in one call, and the
 * edits of a context's document. Not for use outside storage/.
 */
#ifndef GB_STORAGE_QUEUE_INTERNAL_H
#define GB_STORAGE_QUEUE_INTERNAL_H

#include "queue.h"

/* How many of a batch's contexts ended (completed, failed, cancelled) and their usage. */
struct queue_batch_sum {
	char id[STORE_ID_MAX];
	int64_t ended[3];
	int64_t prompt_tokens, completion_tokens;
	double cost;
};

/* Count one end and its usage in b. */
void queue_batch_sum_add(struct queue_batch_sum *b, enum ctx_status status, int64_t prompt_tokens,
    int64_t completion_tokens, double cost);
/* Move b's counters and usage onto its batch, then end the batch when it was its last context. */
int queue_batch_count(struct store *st, const struct queue_batch_sum *b, const char *now,
    struct gb_err *err);
/* A batch with a context claimed or ended from pending: processing when it was pending. */
int queue_batch_start(struct store *st, const char *batch, const char *now, struct gb_err *err);
/*
 * Apply edits to a context owner holds (now: its updated_at). GB_ESTATE when
 * owner no longer holds it.
 */
int queue_apply_edits(struct store *st, const char *id, const char *owner,
    const struct ctx_edit *edits, int n, const char *now, struct gb_err *err);

#endif
