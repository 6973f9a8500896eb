/*
 * engine.h - the types the engine's files share (pool, keeper, task, steps,
 * retry). Internal: nothing outside appliance/engine/ includes it.
 *
 * Calls flow one way: pool -> task -> steps (step_generate) -> retry, and the
 * keeper beside the pool; each file reaches the others only through their
 * headers and the fields below.
 *
 * Lock order: pool.write_lock, then pool.lock; the generator and storage
 * take their own inside.
 */
#ifndef GB_ENGINE_H
#define GB_ENGINE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "../../base/buf.h"
#include "../../base/metrics.h"
#include "../../storage/docs.h"
#include "../../storage/heartbeat.h"
#include "../../storage/pipestats.h"
#include "../../storage/queue.h"
#include "../generator.h"
#include "catalog.h"
#include "pool.h"

struct task;

/* One generator call of a task's ai_generator step. */
struct call {
	struct task *task;
	int index;
};

/*
 * What a step came to. The kind is carried explicitly, never guessed from a
 * message: STEP_FAILED is the component's failure (err says why; retried
 * when err.code is GB_ETRANSIENT), STEP_GIVE_BACK means the pool is stopping
 * or the generator closed (the context goes back to the queue unharmed),
 * STEP_STORAGE means storage refused a write (err.code: GB_ESTATE when the
 * context is no longer ours).
 */
enum step_outcome { STEP_DONE, STEP_PARKED, STEP_FAILED, STEP_GIVE_BACK, STEP_STORAGE };

/* A step's result to record: edits of the context document, their JSON text owned. */
#define STEP_MAX_EDITS 4
struct step_out {
	int n;
	const char *path[STEP_MAX_EDITS];
	char *json[STEP_MAX_EDITS];
};

/* A step's result computed ahead, outside the write lock, to be recorded under it. */
#define TASK_MAX_AHEAD 8
struct task_ahead {
	enum step_outcome o;
	struct step_out out;
	struct gb_err err;
	int64_t retry_after_ms;
	int64_t took_ms;
};

/* One claimed context in memory. */
struct task {
	struct pool *p;
	char id[STORE_ID_MAX];
	cJSON *doc;			/* the context as claimed, kept in step with what is
					 * recorded */
	struct step *steps;
	int nsteps, step;
	int untaken;			/* peeked, not claimed: no steps left, it ends from
					 * pending */
	char pipeline_id[STORE_ID_MAX];
	int64_t comp_t0;		/* monotonic start of the current component */
	/* the ai_generator step while its calls are out */
	atomic_int pending;
	int ncalls;
	struct call *calls;
	struct gen_reply *replies;
	char provider[32];		/* the generator's provider, copied while it was open */
	/* steps computed ahead: ahead[i] is step ahead_from + i */
	int ahead_from, nahead;
	struct task_ahead ahead[TASK_MAX_AHEAD];
	struct task *next;		/* ready queue */
};

/* A context this pool holds but could not give back: the keeper does. */
struct orphan {
	char id[STORE_ID_MAX];
	struct orphan *next;
};

struct worker {
	struct pool *p;
	int index;
	pthread_t thread;
	int started;			/* thread is running: join it */
	struct store *st;
	struct buf trace;		/* lines to write once the transaction commits */
	int held;			/* this worker holds p->write_lock between groups */
	int streak;			/* groups in this hold */
	/* completions of the open transaction, written together before it commits (retry_flush) */
	struct task **ending;
	struct ctx_end *ends;
	struct pipeline_stat *stats;
	int nending, ending_cap;
};

/* The handles of the metrics the engine updates. */
struct engine_metrics {
	struct metrics *reg;
	struct metric *claimed, *completed, *failed, *retried, *released;
	struct metric *gen_calls, *prompt_tokens, *completion_tokens, *cost;
	struct metric *inflight;
	struct metric *context_seconds;
	struct metric *component_seconds[4];	/* template, ai_generator, transformer, other */
};

struct pool {
	struct pool_config cfg;
	char owner[160];
	char host[64];
	char *batch_id, *trace_path;
	int trace_fd;
	struct catalog *cat;
	struct generator *gen;		/* owned; closed by pool_stop once submitting is 0 */
	struct worker *workers;		/* cfg.workers of them, each store opened or NULL */
	pthread_t keeper;
	int keeper_started;
	struct engine_metrics m;

	pthread_mutex_t write_lock;	/* one writing transaction of this pool at a time */
	atomic_int keeper_waiting;	/* workers let the keeper have write_lock first */
	int64_t write_free_at;		/* write_lock: when a worker last let it go (monotonic) */
	int64_t write_gap_at;		/* write_lock: when SQLite's lock was last left free
					 * a while */

	pthread_mutex_t lock;		/* guards everything below */
	pthread_cond_t cond;		/* ready work, fewer in flight, stop */
	struct task *ready_head, *ready_tail;
	struct orphan *orphans;		/* to give back */
	int inflight;			/* tasks claimed and not ended or released */
	int submitting;			/* workers between their check of releasing and
					 * their last submit */
	int draining;			/* no new claims */
	int releasing;			/* give tasks back instead of running them */
	int stopping;			/* threads exit */
	int stopped;
	int idle;
	int done;			/* not run_forever: nothing left to run */
	int failed;			/* a commit failed: nothing more is written */
	char failure[256];
	struct pool_stats stats;
	struct store_heartbeat *hb;	/* one per worker */
};

/*
 * Wait on p->cond (p->lock held) for at most ms milliseconds; p->cond runs on
 * the monotonic clock.
 */
static inline void
engine_wait_ms(struct pool *p, long ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&p->cond, &p->lock, &ts);
}

/* A trace line written once the transaction commits. */
static inline void
engine_trace(struct worker *w, const char *what, const char *id, const char *detail)
{
	if (w->p->trace_fd >= 0)
		buf_printf(&w->trace, "%s %s %s\n", what, id, detail);
}

/* A line written at once (a component starts), apart from those waiting for the commit. */
static inline void
engine_trace_now(struct worker *w, const char *what, const char *id, const char *detail)
{
	char line[STORE_ID_MAX + 96];
	int n;

	if (w->p->trace_fd < 0)
		return;
	n = snprintf(line, sizeof(line), "%s %s %s\n", what, id, detail);
	if (n > 0 && (size_t)n < sizeof(line))
		(void)!write(w->p->trace_fd, line, (size_t)n);
}

#endif
