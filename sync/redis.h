/*
 * redis.h - the cluster's Redis keys, exactly as the schema's Redis section
 * names them, through hiredis (one struct sync_redis per thread).
 *
 * A lost connection is reconnected on the next call (at most once per
 * call); failures return GB_ETRANSIENT (unreachable, timeout, loading) or
 * GB_EPERM (bad password, NOAUTH) with the server's message, and never block
 * longer than timeout_ms.
 *
 * All functions return 0 or a negative GB_E* code with a message in err.
 */
#ifndef GB_SYNC_REDIS_H
#define GB_SYNC_REDIS_H

#include <stdint.h>

#include "../base/err.h"
#include "../storage/store.h"

struct sync_redis;

/* url: redis://[[user]:password@]host[:port][/db] or unix:/path; connects lazily. */
int sync_redis_new(struct sync_redis **out, const char *url, int timeout_ms, struct gb_err *err);
void sync_redis_free(struct sync_redis *r);
/* PING (connecting when needed). */
int sync_redis_ping(struct sync_redis *r, struct gb_err *err);

/* worker_heartbeat:{id} for the box's live local workers (store_heartbeat_list); TTL 60 s. */
int sync_redis_heartbeats(struct sync_redis *r, struct store *st, int64_t now_ms, int *n,
    struct gb_err *err);
/*
 * pipeline_stats:{pipeline_id}: the durations added locally since the mark
 * kept in sync_meta ("redis_stats_rowid"), trimmed to the last day, TTL 1 day;
 * the mark moves only after Redis took them.
 */
int sync_redis_stats(struct sync_redis *r, struct store *st, int64_t now_ms, int *n,
    struct gb_err *err);
/* template:{id} from a template document (JSON); TTL 3600 s. */
int sync_redis_template_put(struct sync_redis *r, const char *doc, size_t len,
    struct gb_err *err);
/* component_registry:{org} rebuilt from the local components of org; TTL 1800 s. */
int sync_redis_registry_put(struct sync_redis *r, struct store *st, const char *org,
    struct gb_err *err);
/* DEL template:{id}, or component_registry:{org}. */
int sync_redis_template_drop(struct sync_redis *r, const char *template_id, struct gb_err *err);
int sync_redis_registry_drop(struct sync_redis *r, const char *org, struct gb_err *err);

/* worker_lock:{ctx_id}: *got 1 when SET NX PX 300000 took it (or we already hold it). */
int sync_redis_lock(struct sync_redis *r, const char *ctx_id, const char *worker_id, int *got,
    struct gb_err *err);
/* PEXPIRE 300000 while the value is worker_id; *held 0 when it was lost. */
int sync_redis_lock_extend(struct sync_redis *r, const char *ctx_id, const char *worker_id,
    int *held, struct gb_err *err);
/* DEL while the value is worker_id. */
int sync_redis_unlock(struct sync_redis *r, const char *ctx_id, const char *worker_id,
    struct gb_err *err);

#endif
