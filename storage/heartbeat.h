/*
 * heartbeat.h - worker heartbeats as rows (the schema's worker_heartbeat):
 * written by the engine's keeper, read by the API, sync and tests from any
 * connection. A row expires HEARTBEAT_TTL_MS after its last_seen.
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

/* Upsert n rows in one transaction; prunes rows older than the TTL. */
int store_heartbeat_put(struct store *st, const struct store_heartbeat *hb, int n, struct gb_err *err);
/* Delete the rows whose worker_id starts with prefix. */
int store_heartbeat_delete(struct store *st, const char *prefix, struct gb_err *err);
/* Live rows only (last_seen within the TTL of now_ms), up to max, by worker_id; *n: how many. */
int store_heartbeat_list(struct store *st, int64_t now_ms, struct store_heartbeat *out, int max, int *n,
    struct gb_err *err);

#endif
