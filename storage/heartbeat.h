/*
 * heartbeat.h - worker heartbeats, the schema's worker_heartbeat: one row
 * per worker (worker id, last_seen, status, processing_count, host), live
 * for HEARTBEAT_TTL_MS after last_seen. The engine's keeper writes them;
 * the API, the UI and sync read them.
 *
 * All functions return 0 or a negative GB_E* code with a message in err.
 */
#ifndef GB_STORAGE_HEARTBEAT_H
#define GB_STORAGE_HEARTBEAT_H

#include <stdint.h>

#include "store.h"

#define HEARTBEAT_TTL_MS 60000

struct store_heartbeat {
	char worker_id[192];
	int64_t last_seen_ms;		/* wall clock */
	char status[16];		/* idle, busy, stopping, stopped */
	int processing_count;
	char host[64];
};

/*
 * Insert or replace n rows by worker_id in one transaction; rows whose
 * last_seen is older than HEARTBEAT_TTL_MS before the newest put are deleted
 * as well. GB_EINVAL (nothing written) for an empty worker_id, a status not
 * in the list above, or a negative processing_count.
 */
int store_heartbeat_put(struct store *st, const struct store_heartbeat *hb, int n,
    struct gb_err *err);
/* Delete the rows whose worker_id starts with prefix (a pool that stopped cleanly). */
int store_heartbeat_delete(struct store *st, const char *prefix, struct gb_err *err);
/*
 * Live rows (last_seen_ms >= now_ms - HEARTBEAT_TTL_MS), by worker_id, at
 * most max into out; *n how many. Reads only.
 */
int store_heartbeat_list(struct store *st, int64_t now_ms, struct store_heartbeat *out, int max,
    int *n, struct gb_err *err);

#endif
