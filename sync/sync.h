/*
 * sync.h - sync with the canonical MongoDB/Redis cluster: push the outbox,
 * pull checkpointed collections, mirror heartbeats, pipeline statistics and
 * the template and component caches into Redis, and (when asked) take
 * pending contexts from the cluster under its worker locks.
 *
 * A struct sync owns its MongoDB client pool and Redis connections and opens
 * its own stores (one per thread) on the database file. Every failure to
 * reach the cluster is retried with exponential backoff and jitter; bad
 * credentials back off long (a clear error, no retry storm). What happened
 * is written to the database (storage/outbox.h: store_sync_note), where the
 * API, the UI and `genbox sync status` read it.
 *
 * All functions return 0 or a negative GB_E* code with a message in err.
 */
#ifndef GB_SYNC_H
#define GB_SYNC_H

#include <stdint.h>

#include "../base/err.h"

#define SYNC_MAX_ORGS		64
#define SYNC_PUSH_BATCH		500	/* documents per round trip, at most */

#define SYNC_PAGE_DEFAULT 1000	/* documents of a pull page */

struct sync_config {
	const char *db_path;
	const char *mongo_uri;		/* NULL or "": sync is off */
	const char *mongo_db;		/* default "genbox" */
	const char *redis_url;		/* redis://[:password@]host:port[/db]; NULL: no Redis */
	const char *orgs[SYNC_MAX_ORGS];	/* organizations to pull; the box's own by default */
	int n_orgs;
	const char *appliance_id;	/* metadata.appliance_id of contexts meant for this box */
	const char *worker_id;		/* this box's worker id in locks and heartbeats */
	int take_cluster_work;
	int push_interval_ms;		/* default 2000 */
	int pull_interval_ms;		/* default 10000 */
	int page_size;			/* pull page, default SYNC_PAGE_DEFAULT */
	int timeout_ms;			/* connect and socket timeout, default 10000 */
	int backoff_max_ms;		/* default 60000; bad credentials wait this long */
	/* take_cluster_work: how many contexts to hold at once (default 2 x workers) */
	int take_max;
	/*
	 * Each pull round reads from this long before its checkpoint's
	 * updated_at, so a document written late with an older updated_at
	 * (clock skew between the cluster's writers, a late commit) is still
	 * pulled. 0: the default 5000; negative: none (from the checkpoint's
	 * updated_at itself).
	 */
	int lookback_ms;
};

struct sync;

/* Check cfg and make the clients (connects lazily: an absent cluster is not an error here). */
int sync_new(struct sync **out, const struct sync_config *cfg, struct gb_err *err);
void sync_free(struct sync *s);

/* Threads for push, pull, Redis and taking work, until sync_stop. */
int sync_start(struct sync *s, struct gb_err *err);
/* Stop the threads (a round in flight ends first, bounded by the timeouts). */
void sync_stop(struct sync *s);

/*
 * One round from the CLI: push until the outbox is empty (or an error),
 * then pull every collection to its end. *pushed / *pulled (may be NULL).
 * Progress lines go to the log.
 */
int sync_push_all(struct sync *s, int64_t *pushed, struct gb_err *err);
int sync_pull_all(struct sync *s, int64_t *pulled, struct gb_err *err);
/*
 * sync_pull_all, stopping after max_pages pages in all (0: no limit): an
 * interrupted pull, for tests; the next pull resumes at the checkpoint.
 */
int sync_pull_pages(struct sync *s, int max_pages, int64_t *pulled, struct gb_err *err);
/*
 * Count the cluster's documents the pull cannot see (updated_at missing or
 * not a Date) into the status, a warning in the log when there are some: a
 * scan of each collection on the cluster, so apart from the pull (serve
 * counts after its first pull round, then once an hour).
 */
int sync_count_undated(struct sync *s, struct gb_err *err);
/* Take pending contexts of the cluster once (take_cluster_work): *taken (may be NULL). */
int sync_take_once(struct sync *s, int *taken, struct gb_err *err);
/* Mirror heartbeats and pipeline statistics to Redis once. */
int sync_redis_once(struct sync *s, struct gb_err *err);

/* "off", "ok", "offline", "error", "auth": for the web floor's summary. */
const char *sync_state(struct sync *s);

/* MongoDB commands sent (round trips) and bytes, since sync_new: for benchmarks. */
struct sync_counters {
	int64_t mongo_commands;
	int64_t mongo_bytes_out;	/* BSON of the commands */
	int64_t mongo_bytes_in;		/* BSON of the replies */
};
void sync_counters(struct sync *s, struct sync_counters *out);

#endif
