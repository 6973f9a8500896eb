/*
 * redis.h - the cluster's Redis keys, exactly as the schema's Redis section
 * names them, through hiredis (one struct sync_redis per thread: it owns
 * one redisContext and is not thread-safe).
 *
 * Each call is one round trip (its commands pipelined), two for a lock not
 * taken at once. It connects when needed (AUTH, SELECT); after any failure
 * the connection is dropped and the next call connects again. A connection
 * found closed by the server (a restarted Redis) is made again within the
 * same call, once. Failures return GB_ETRANSIENT (unreachable, refused,
 * no answer within timeout_ms, LOADING, BUSY, READONLY, ...) or GB_EPERM
 * (WRONGPASS, NOAUTH, AUTH refused) with a message naming host:port (never
 * the password) and the server's words; other error replies (WRONGTYPE...)
 * are GB_EIO. A call waits at most about timeout_ms (connect and replies
 * share it; resolving a host name is not bounded: prefer an address).
 *
 * All functions return 0 or a negative GB_E* code with a message in err.
 */
#ifndef GB_SYNC_REDIS_H
#define GB_SYNC_REDIS_H

#include <stdint.h>

#include "../base/err.h"
#include "../storage/store.h"

struct sync_redis;

/*
 * url: redis://[[user]:password@]host[:port][/db] (user and password
 * %-escaped; host may be [IPv6]; port 6379 and db 0 by default; a user means
 * AUTH user password, Redis 6 ACLs) or unix:/path. No TLS (rediss://).
 * GB_EINVAL for a bad url or timeout_ms <= 0. Connects lazily.
 */
int sync_redis_new(struct sync_redis **out, const char *url, int timeout_ms, struct gb_err *err);
void sync_redis_free(struct sync_redis *r);
/* PING (connecting when needed). */
int sync_redis_ping(struct sync_redis *r, struct gb_err *err);

/*
 * worker_heartbeat:{id} (HSET last_seen (ISO-8601 UTC ms), status,
 * processing_count, host; EXPIRE 60) for the box's live local workers
 * (store_heartbeat_list at now_ms, at most 1024), all in one round trip;
 * none live: no command. *n how many were written.
 */
int sync_redis_heartbeats(struct sync_redis *r, struct store *st, int64_t now_ms, int *n,
    struct gb_err *err);
/*
 * pipeline_stats:{pipeline_id}: the durations added locally since the mark
 * kept in sync_meta ("redis_stats_rowid"): ZADD score = end time ms, member
 * = duration ms as text (equal durations of a pipeline are one member, at
 * the latest time, as the schema's sorted set has it), ZREMRANGEBYSCORE
 * -inf now-1day, EXPIRE 86400; rows already older than a day are passed
 * over. 1000 rows per round trip, at most 20 round trips per call; the mark
 * moves after each round trip Redis acknowledged, never before. *n how many
 * durations were sent.
 */
int sync_redis_stats(struct sync_redis *r, struct store *st, int64_t now_ms, int *n,
    struct gb_err *err);
/*
 * template:{_id} from a template document (JSON, plain or Extended):
 * HSET name, version, structure (the document's own JSON text of it, or
 * "null"), updated_at (ISO-8601; {"$date": ...} unwrapped); EXPIRE 3600.
 * GB_EINVAL when doc is not a JSON object with a string _id.
 */
int sync_redis_template_put(struct sync_redis *r, const char *doc, size_t len,
    struct gb_err *err);
/*
 * component_registry:{org} rebuilt from the local components of org (store
 * walk by organization_id), atomically (MULTI DEL HSET EXPIRE EXEC): one
 * field per component type, a JSON array of {"_id", "name", and the members
 * of the component's config}; EXPIRE 1800. No components: the key is deleted.
 */
int sync_redis_registry_put(struct sync_redis *r, struct store *st, const char *org,
    struct gb_err *err);
/* DEL template:{id}, or component_registry:{org}. */
int sync_redis_template_drop(struct sync_redis *r, const char *template_id, struct gb_err *err);
int sync_redis_registry_drop(struct sync_redis *r, const char *org, struct gb_err *err);

/*
 * worker_lock:{ctx_id}: *got 1 when SET NX PX 300000 took it, or when it
 * already holds worker_id (its TTL is then set to 300000 again); 0 when
 * another worker holds it.
 */
int sync_redis_lock(struct sync_redis *r, const char *ctx_id, const char *worker_id, int *got,
    struct gb_err *err);
/* PEXPIRE 300000 while the value is worker_id (Lua); *held 0 when it was lost. */
int sync_redis_lock_extend(struct sync_redis *r, const char *ctx_id, const char *worker_id,
    int *held, struct gb_err *err);
/* DEL while the value is worker_id (Lua); another worker's lock is left alone. */
int sync_redis_unlock(struct sync_redis *r, const char *ctx_id, const char *worker_id,
    struct gb_err *err);

#endif
