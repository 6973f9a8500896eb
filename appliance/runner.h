/*
 * runner.h - the worker pool that runs contexts through their pipelines.
 *
 * N worker threads, each with its own store, claim due contexts from the
 * queue (fairly across organizations, or only one batch's), run their
 * components from the first one not yet recorded, record progress after each
 * component, and end them: completed, failed, or back to pending with a
 * backoff for transient errors. Generator calls do not hold a thread: a
 * context waiting for its replies is parked and picked up again by whichever
 * worker is free when they arrive. A keeper thread extends the pool's leases,
 * reaps expired ones (and those of dead processes on this host) and keeps
 * the heartbeats.
 *
 * Every function may be called from any thread.
 */
#ifndef GB_RUNNER_H
#define GB_RUNNER_H

#include <stdint.h>

#include "../storage/store.h"
#include "catalog.h"
#include "generator.h"

#define RUNNER_MAX_WORKERS 256

struct runner_config {
	const char *db_path;
	struct store_opts store;
	int workers;			/* threads */
	int max_inflight;		/* contexts held at once (parked ones included) */
	int claim_max;			/* contexts per claim */
	int64_t lease_ms;		/* the worker lock's TTL (300 s) */
	int64_t heartbeat_ms;		/* heartbeat TTL (60 s) */
	int max_retries;		/* transient failures before failed */
	int64_t retry_base_ms;		/* first backoff; doubles each retry */
	int64_t retry_max_ms;
	const char *batch_id;		/* only this batch's contexts, or NULL for all */
	struct generator *gen;		/* taken: runner_stop closes it */
	const char *trace_path;		/* append component runs here (tests, debugging), or NULL */
};

void runner_config_defaults(struct runner_config *cfg);

struct runner_stats {
	int64_t claimed, completed, failed, retried, released;
	int inflight;
	int idle;			/* the last claim found nothing and nothing is in flight */
	struct catalog_stats cache;
};

struct worker_heartbeat {
	char worker_id[192];
	int64_t last_seen_ms;		/* wall clock */
	char status[16];		/* idle, busy, stopping, stopped */
	int processing_count;
	char host[64];
};

struct runner;

int runner_start(struct runner **out, const struct runner_config *cfg, struct gb_err *err);
/*
 * Stop claiming; wait up to grace_ms for contexts in flight to end, then
 * give the rest back to the queue (their progress is kept), and join the
 * threads. Safe to call once; runner_free calls it when needed.
 */
void runner_stop(struct runner *r, int64_t grace_ms);
void runner_free(struct runner *r);
void runner_stats(struct runner *r, struct runner_stats *out);
/*
 * Whether a commit failed (a full disk, an I/O error): the pool then writes
 * nothing more, as after a crash, and should be stopped. The reason goes to
 * msg.
 */
int runner_failed(struct runner *r, char *msg, size_t len);
/* Copy up to max heartbeats; returns how many workers there are. */
int runner_heartbeats(struct runner *r, struct worker_heartbeat *out, int max);
/* Contexts of pipeline_id that ended in the last day, and their mean duration. */
int runner_pipeline_recent(struct runner *r, const char *pipeline_id, double *mean_ms);
/* The owner name this pool's leases carry: "host/pid:start". */
const char *runner_owner(const struct runner *r);
/* Whether owner (of a lease) is a process of this host that no longer runs. */
int runner_owner_dead(void *arg, const char *owner);

#endif
