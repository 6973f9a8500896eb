/*
 * pool.h - the worker pool that runs contexts through their pipelines.
 *
 * N worker threads, each with its own store, claim due contexts from the
 * queue (fairly across organizations, or only one batch's), run their
 * components from the first one not yet recorded, record progress after each
 * component, and end them: completed, failed, or back to pending with a
 * backoff for transient errors. Generator calls do not hold a thread: a
 * context waiting for its replies is parked and picked up again by whichever
 * worker is free when they arrive. A keeper thread (keeper.h) extends the
 * pool's leases, reaps expired ones (and those of dead processes on this
 * host), writes the workers' heartbeat rows every heartbeat_ms and bounds the
 * WAL.
 *
 * Two ways to run: one batch to its end (batch_id set, run_forever 0:
 * pool_wait returns once nothing of the batch is pending or processing), or
 * without end until pool_stop (the daemon: run_forever 1, batch_id NULL). A
 * context written to the database by another thread or process is claimed
 * within a second: an idle worker asks the queue again every 100 ms.
 *
 * Writes: the pool's threads take turns on one in-process write lock (a
 * worker may keep it for a few groups in a row; the keeper goes first).
 * Template and transformer steps run outside it, only their results are
 * written under it; contexts are claimed and ended in groups. So
 * that a writer in another process (an import, the CLI) does not starve
 * behind a busy pool, the pool leaves SQLite's write lock free for
 * POOL_WRITE_GAP_MS after every POOL_WRITE_SLICE_MS of continuous writing;
 * storage's busy handler polls often enough to take that turn.
 *
 * Counters and histograms go to cfg.metrics (metrics.h) under the names
 * genbox_contexts_*_total, genbox_generator_*_total, genbox_catalog_cache_*,
 * genbox_context_duration_seconds and genbox_component_duration_seconds
 * (label component). Completed contexts add their duration to storage's
 * pipeline statistics (pipestats.h) in the transaction that completes them.
 *
 * Every function may be called from any thread.
 */
#ifndef GB_POOL_H
#define GB_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "../../base/metrics.h"
#include "../../storage/store.h"
#include "../generator.h"
#include "catalog.h"

#define POOL_MAX_WORKERS 256

/* The defaults of pool_config_defaults, which config.h's [workers] shares. */
#define POOL_DEFAULT_WORKERS 4
#define POOL_DEFAULT_MAX_INFLIGHT 256
#define POOL_DEFAULT_LEASE_MS 300000		/* the schema's worker lock TTL */
#define POOL_DEFAULT_HEARTBEAT_MS 10000
#define POOL_DEFAULT_MAX_RETRIES 5
#define POOL_DEFAULT_RETRY_BASE_MS 1000
#define POOL_WRITE_SLICE_MS 50	/* continuous writing before a gap */
#define POOL_WRITE_GAP_MS 2	/* the gap left to other processes' writers */

struct pool_config {
	const char *db_path;
	struct store_opts store;
	int workers;			/* threads, 1..POOL_MAX_WORKERS */
	int max_inflight;		/* contexts held at once (parked ones included) */
	int claim_max;			/* contexts per claim */
	int64_t lease_ms;		/* the worker lock's TTL (300 s) */
	int64_t heartbeat_ms;		/* how often the heartbeat rows are written (10 s) */
	int max_retries;		/* transient failures before failed */
	int64_t retry_base_ms;		/* first backoff; doubles each retry */
	int64_t retry_max_ms;
	const char *batch_id;		/* only this batch's contexts, or NULL for all */
	int run_forever;		/* 1: never done, run until pool_stop (the daemon) */
	struct generator *gen;		/* taken: pool_stop closes it */
	struct metrics *metrics;	/* where counters go; NULL: metrics_default() */
	const char *trace_path;		/* append component runs here (tests, debugging), or NULL */
};

void pool_config_defaults(struct pool_config *cfg);

struct pool_stats {
	int64_t claimed, completed, failed, retried, released;
	int inflight;
	int idle;			/* the last claim found nothing and nothing is in flight */
	int done;			/* not run_forever: nothing left pending or processing */
	struct catalog_stats cache;
};

struct pool;

/*
 * Open the workers' stores and start the threads. cfg->gen is taken even on
 * failure (closed then). *out: stop with pool_stop, free with pool_free.
 */
int pool_start(struct pool **out, const struct pool_config *cfg, struct gb_err *err);
/*
 * Wait up to timeout_ms until the pool is done (not run_forever: nothing of
 * its batch, or of the queue, is pending or processing) or has failed.
 * Returns 1 then, 0 on timeout.
 */
int pool_wait(struct pool *p, int64_t timeout_ms);
/*
 * Stop claiming; wait up to grace_ms for contexts in flight to end, then
 * give the rest back to the queue (their progress is kept), close the
 * generator once no worker can submit to it any more, and join the threads.
 * The heartbeat rows of the pool are deleted. Safe to call more than once;
 * pool_free calls it when needed.
 */
void pool_stop(struct pool *p, int64_t grace_ms);
void pool_free(struct pool *p);
void pool_stats(struct pool *p, struct pool_stats *out);
/*
 * Whether a commit failed (a full disk, an I/O error): the pool then writes
 * nothing more, as after a crash, and should be stopped. The reason goes to
 * msg.
 */
int pool_failed(struct pool *p, char *msg, size_t len);
/* The owner name this pool's leases and heartbeat rows carry: "host/pid:start". */
const char *pool_owner(const struct pool *p);

#endif
