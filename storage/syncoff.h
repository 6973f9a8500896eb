/*
 * syncoff.h - turning sync's outbox recording off again, for a box taken
 * off its cluster: with no cluster configured nothing drains the outbox,
 * and the triggers would fill it with every change for ever.
 *
 * Returns 0 or a negative GB_E* code with a message in err.
 */
#ifndef GB_STORAGE_SYNCOFF_H
#define GB_STORAGE_SYNCOFF_H

#include <stdint.h>

#include "store.h"

/*
 * Recording off (the outbox triggers record nothing more) and the outbox
 * emptied: its changes are never sent. The cluster locks the box held are
 * forgotten too (nothing would extend or release them; Redis lets them
 * expire). Pull checkpoints, the per-collection status and the rejected
 * list stay. One transaction; idempotent. Turning sync on again
 * (store_sync_enable) queues every context and batch anew, so the cluster
 * still gets the box's documents then. *dropped and *locks (may be NULL)
 * get the outbox rows and lock rows deleted.
 */
int store_sync_disable(struct store *st, int64_t *dropped, int64_t *locks, struct gb_err *err);

#endif
