/*
 * pool.c - worker threads, the claim loop and the write-lock hand-off.
 *
 * A worker takes tasks from the ready queue (contexts whose generator
 * replies arrived) or claims new ones, and handles what it took in one
 * transaction in one hold of the pool's write lock, so cheap contexts are
 * claimed and ended in groups (the group's completions in one store call
 * just before the commit, retry_flush) and a claimed group never waits
 * behind other workers' groups. A claim only looks (store_queue_peek_docs):
 * a context with steps to run is taken when loaded, one with nothing left
 * to run ends from pending in the same transaction, never written as
 * processing; while the transaction is open no one else can claim it.
 * Rounds of such work chain in one transaction (worker_chain). A worker keeps the write lock
 * for up to POOL_HOLD_GROUPS groups in a row: the work is serial anyway, and
 * every change of hands costs the next worker's connection its page cache.
 *
 * Writes of this pool's threads take turns on p->write_lock rather than on
 * SQLite's busy handler, which sleeps in steps: a waiting worker starts the
 * moment the lock is free. Between processes SQLite's lock arbitrates, and
 * the pool leaves it free for POOL_WRITE_GAP_MS every POOL_WRITE_SLICE_MS.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "../../base/gbtime.h"
#include "../../base/log.h"
#include "keeper.h"
#include "retry.h"
#include "task.h"

#define POOL_HOLD_GROUPS 32	/* groups a worker handles in one hold of the write lock */
#define POOL_IDLE_WAIT_MS 100	/* nothing due: ask the queue again after this */
#define POOL_CHAIN_ROUNDS 64	/* claim rounds of no-op work in one transaction, at most */
#define POOL_CHAIN_MS 20	/* and for no longer than this */

/* What a worker took for one round: tasks back from the generator, and room to claim. */
struct worker_group {
	struct task **ready;
	int nready;
	int want;			/* claims reserved in p->inflight */
	char (*ids)[STORE_ID_MAX];
	char **docs;			/* the claimed ones' documents, taken by task_load */
	int n;				/* claimed */
	struct task **tasks;		/* the claimed ones loaded */
	int ntasks;
	int drop;			/* the pool failed: let the ready tasks go without
					 * writing */
};

enum worker_next { WORKER_RUN, WORKER_AGAIN, WORKER_EXIT };

void
pool_config_defaults(struct pool_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->store.create = 1;
	cfg->store.migrate = 1;
	cfg->workers = POOL_DEFAULT_WORKERS;
	cfg->max_inflight = POOL_DEFAULT_MAX_INFLIGHT;
	cfg->claim_max = 32;
	cfg->lease_ms = POOL_DEFAULT_LEASE_MS;
	cfg->heartbeat_ms = POOL_DEFAULT_HEARTBEAT_MS;
	cfg->max_retries = POOL_DEFAULT_MAX_RETRIES;
	cfg->retry_base_ms = POOL_DEFAULT_RETRY_BASE_MS;
	cfg->retry_max_ms = 300000;
}

static void
pool_metrics_init(struct pool *p)
{
	static const double ctx_bounds[] = { 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300 };
	static const char *const comp_labels[] = { "component=\"template\"",
		"component=\"ai_generator\"", "component=\"transformer\"", "component=\"other\"" };
	struct engine_metrics *m = &p->m;
	int nb = (int)(sizeof(ctx_bounds) / sizeof(ctx_bounds[0]));

	m->reg = p->cfg.metrics ? p->cfg.metrics : metrics_default();
	m->claimed = metrics_counter(m->reg, "genbox_contexts_claimed_total", NULL,
	    "Contexts claimed by workers");
	m->completed =
	    metrics_counter(m->reg, "genbox_contexts_completed_total", NULL, "Contexts completed");
	m->failed = metrics_counter(m->reg, "genbox_contexts_failed_total", NULL,
	    "Contexts failed for good");
	m->retried = metrics_counter(m->reg, "genbox_contexts_retried_total", NULL,
	    "Transient failures put back for a retry");
	m->released = metrics_counter(m->reg, "genbox_contexts_released_total", NULL,
	    "Contexts given back to the queue unfinished");
	m->gen_calls = metrics_counter(m->reg, "genbox_generator_calls_total", NULL,
	    "Generator calls submitted");
	m->prompt_tokens = metrics_counter(m->reg, "genbox_generator_prompt_tokens_total", NULL,
	    "Prompt tokens the endpoint reported");
	m->completion_tokens = metrics_counter(m->reg, "genbox_generator_completion_tokens_total",
	    NULL, "Completion tokens the endpoint reported");
	m->cost = metrics_counter(m->reg, "genbox_generator_cost_total", NULL,
	    "Cost of the reported tokens (cost_per_1k_tokens)");
	m->inflight =
	    metrics_gauge(m->reg, "genbox_contexts_inflight", NULL, "Contexts held by the pool");
	m->context_seconds = metrics_histogram(m->reg, "genbox_context_duration_seconds", NULL,
	    "Time from a context's start to its completion", ctx_bounds, nb);
	for (int i = 0; i < 4; i++)
		m->component_seconds[i] = metrics_histogram(m->reg,
		    "genbox_component_duration_seconds", comp_labels[i], "Time a component took",
		    ctx_bounds, nb);
}

/* ---- the ready queue and the heartbeats (p->lock held) ---- */

static int
pool_ready_take(struct pool *p, struct task **out, int max)
{
	int n = 0;

	while (n < max && p->ready_head) {
		out[n++] = p->ready_head;
		p->ready_head = p->ready_head->next;
		if (p->ready_head == NULL)
			p->ready_tail = NULL;
	}
	return n;
}

/* Back to the front of the line, in their order. */
static void
pool_ready_requeue(struct pool *p, struct task **ready, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		ready[i]->next = p->ready_head;
		p->ready_head = ready[i];
		if (p->ready_tail == NULL)
			p->ready_tail = ready[i];
	}
}

static void
pool_heartbeat(struct pool *p, int i, const char *status, int processing)
{
	p->hb[i].last_seen_ms = gb_now_ms();
	snprintf(p->hb[i].status, sizeof(p->hb[i].status), "%s", status);
	p->hb[i].processing_count = processing;
}

/* Claims this worker may make now, reserved in p->inflight while the claim runs. */
static int
pool_reserve(struct pool *p)
{
	int want;

	if (p->draining || p->inflight >= p->cfg.max_inflight)
		return 0;
	want = p->cfg.max_inflight - p->inflight;
	if (want > p->cfg.claim_max)
		want = p->cfg.claim_max;
	p->inflight += want;
	return want;
}

/* ---- the write lock ---- */

/* Take p->write_lock, letting a waiting keeper go first. */
static void
worker_hold_begin(struct worker *w)
{
	struct pool *p = w->p;

	if (w->held)
		return;
	if (atomic_load(&p->keeper_waiting)) {
		pthread_mutex_lock(&p->lock);
		while (atomic_load(&p->keeper_waiting))
			engine_wait_ms(p, 5);
		pthread_mutex_unlock(&p->lock);
	}
	pthread_mutex_lock(&p->write_lock);
	if (gb_mono_ms() - p->write_free_at >= POOL_WRITE_GAP_MS)
		p->write_gap_at = gb_mono_ms();
	w->held = 1;
	w->streak = 0;
}

static void
worker_hold_end(struct worker *w)
{
	if (!w->held)
		return;
	w->p->write_free_at = gb_mono_ms();
	pthread_mutex_unlock(&w->p->write_lock);
	w->held = 0;
}

/* Let the write lock go after a few groups, or at once when the keeper waits. */
static void
worker_hold_check(struct worker *w)
{
	if (w->held && (++w->streak >= POOL_HOLD_GROUPS || atomic_load(&w->p->keeper_waiting)))
		worker_hold_end(w);
}

/*
 * After POOL_WRITE_SLICE_MS of continuous writing, leave SQLite's write lock
 * free for a moment (no transaction is open here; holding p->write_lock
 * keeps this pool's other threads from taking it) so that a writer in
 * another process gets its turn.
 */
static void
worker_write_gap(struct worker *w)
{
	struct pool *p = w->p;
	int64_t now = gb_mono_ms();

	if (now - p->write_gap_at < POOL_WRITE_SLICE_MS)
		return;
	usleep(POOL_WRITE_GAP_MS * 1000);
	p->write_gap_at = gb_mono_ms();
}

/* ---- one round of a worker ---- */

static const char *
worker_status(struct pool *p, enum worker_next next)
{
	return next == WORKER_EXIT ? "stopped" :
	    next == WORKER_RUN ? "busy" : p->draining ? "stopping" : "idle";
}

/* Decide under p->lock what this round does; waits when there is nothing to do. */
static enum worker_next
worker_plan(struct worker *w, struct worker_group *g)
{
	struct pool *p = w->p;
	enum worker_next next = WORKER_RUN;

	g->want = g->n = g->drop = 0;
	worker_hold_check(w);
	pthread_mutex_lock(&p->lock);
	g->nready = pool_ready_take(p, g->ready, p->cfg.claim_max);
	if (p->failed) {
		/* a failed pool only lets go of what comes back, without writing */
		p->inflight -= g->nready;
		g->drop = 1;
		pthread_cond_broadcast(&p->cond);
		next = p->stopping ? WORKER_EXIT : WORKER_AGAIN;
	} else if (g->nready == 0 && p->stopping) {
		next = WORKER_EXIT;
	} else if (g->nready == 0 && (g->want = pool_reserve(p)) == 0) {
		next = WORKER_AGAIN;
	}
	pool_heartbeat(p, w->index, worker_status(p, next), g->nready + g->want);
	if (next != WORKER_RUN)
		worker_hold_end(w);	/* before waiting or leaving */
	if (next == WORKER_AGAIN && g->nready == 0)
		engine_wait_ms(p, 200);
	pthread_mutex_unlock(&p->lock);
	if (g->drop) {
		for (int i = 0; i < g->nready; i++)
			retry_task_free(g->ready[i]);
		metric_add(p->m.inflight, -g->nready);
	}
	return next;
}

/*
 * Take the write lock and begin a transaction under it: 0, or -1 with
 * *failed set when the pool failed (nothing more is written) and clear
 * when the transaction would not begin (logged). The lock stays held.
 */
static int
worker_hold_and_begin(struct worker *w, int *failed)
{
	struct gb_err err = { 0, "" };

	worker_hold_begin(w);
	*failed = pool_failed(w->p, NULL, 0);
	if (!*failed && store_begin(w->st, &err) == 0)
		return 0;
	if (!*failed)
		log_warnx("begin: %s", err.msg);
	return -1;
}

/* Open the round's transaction; on failure the round's tasks go back to the line. */
static int
worker_begin(struct worker *w, struct worker_group *g)
{
	struct pool *p = w->p;
	int failed;

	if (worker_hold_and_begin(w, &failed) == 0)
		return 0;
	worker_hold_end(w);
	pthread_mutex_lock(&p->lock);
	p->inflight -= g->want;
	pool_ready_requeue(p, g->ready, g->nready);
	if (!p->stopping)
		engine_wait_ms(p, 100);
	pthread_mutex_unlock(&p->lock);
	return -1;
}

static void
worker_claim(struct worker *w, struct worker_group *g)
{
	struct pool *p = w->p;
	struct gb_err err = { 0, "" };
	int idle;

	if (store_queue_peek_docs(w->st, p->batch_id, gb_now_ms(), g->want, g->ids, g->docs, &g->n,
	    &err)) {
		log_warnx("claim: %s", err.msg);
		g->n = 0;
	}
	pthread_mutex_lock(&p->lock);
	p->inflight -= g->want - g->n;
	p->stats.claimed += g->n;
	idle = g->n == 0 && p->inflight == 0 && p->ready_head == NULL;
	/*
	 * Nothing claimed and nothing new to tell: no broadcast, or idle
	 * workers would wake each other into back-to-back empty write
	 * transactions, shutting other processes' writers out.
	 */
	if (g->n > 0 || idle != p->idle)
		pthread_cond_broadcast(&p->cond);
	p->idle = idle;
	pthread_mutex_unlock(&p->lock);
	metric_add(p->m.claimed, g->n);
	metric_add(p->m.inflight, g->n);
}

/*
 * Commit the round. When the commit fails, nothing of the transaction was
 * kept but the tasks in memory moved on as if it had been: from here on
 * this pool writes nothing, as after a crash. Its leases are taken back once
 * its process has exited (or they expire).
 */
static void
worker_commit(struct worker *w)
{
	struct pool *p = w->p;
	struct gb_err err = { 0, "" };

	retry_flush(w);
	if (store_commit(w->st, &err)) {
		log_warnx("%s; stopping: no more writes from this process", err.msg);
		buf_reset(&w->trace);
		pthread_mutex_lock(&p->lock);
		p->failed = 1;
		snprintf(p->failure, sizeof(p->failure), "%s", err.msg);
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);
	}
	/* still under the write lock: the trace keeps the commit order */
	if (w->p->trace_fd >= 0 && w->trace.len > 0)
		(void)!write(w->p->trace_fd, w->trace.p, w->trace.len);
	buf_reset(&w->trace);
}

static int
worker_cpu_ahead(const struct worker_group *g)
{
	for (int i = 0; i < g->nready; i++)
		if (task_cpu_ahead(g->ready[i], 1))
			return 1;
	for (int i = 0; i < g->ntasks; i++)
		if (task_cpu_ahead(g->tasks[i], 0))
			return 1;
	return 0;
}

/*
 * The group has CPU work to do (templates, transformers): commit the claim,
 * let the write lock go while it runs, and take it back to record the
 * results, so other workers write meanwhile and a CPU-bound pipeline uses
 * every core. Returns 0 inside a new transaction, or -1 when the group's
 * tasks had to go (the pool failed, or no transaction could begin).
 */
static int
worker_compute_ahead(struct worker *w, struct worker_group *g)
{
	struct pool *p = w->p;
	int failed;

	worker_commit(w);
	worker_hold_end(w);
	for (int i = 0; i < g->nready; i++)
		task_compute_ahead(w, g->ready[i], 1);
	for (int i = 0; i < g->ntasks; i++)
		task_compute_ahead(w, g->tasks[i], 0);
	if (worker_hold_and_begin(w, &failed) == 0)
		return 0;
	/*
	 * give them back without a transaction of our own, or just let them go
	 * when the pool failed
	 */
	for (int i = 0; i < g->nready + g->ntasks; i++) {
		struct task *t = i < g->nready ? g->ready[i] : g->tasks[i - g->nready];

		if (failed)
			retry_leave(p, t);
		else
			retry_release(w, t);
	}
	return -1;
}

/*
 * Load the claimed tasks and run them with the ready ones. Returns how many
 * parked, or -1 when the round's tasks had to go and no transaction is open
 * (worker_compute_ahead). *cpu: CPU work was run ahead (the earlier rounds
 * of the transaction are committed).
 */
static int
worker_run_round(struct worker *w, struct worker_group *g, int *cpu)
{
	int parked = 0;

	g->ntasks = 0;
	for (int i = 0; i < g->n; i++)
		if ((g->tasks[g->ntasks] = task_load(w, g->ids[i], g->docs[i])) != NULL)
			g->ntasks++;
	*cpu = worker_cpu_ahead(g);
	if (*cpu) {
		/*
		 * those never taken end before the commit of
		 * worker_compute_ahead lets others claim
		 */
		int k = 0;

		for (int i = 0; i < g->ntasks; i++) {
			if (g->tasks[i]->untaken)
				task_run(w, g->tasks[i]);
			else
				g->tasks[k++] = g->tasks[i];
		}
		g->ntasks = k;
		if (worker_compute_ahead(w, g))
			return -1;
	}
	for (int i = 0; i < g->nready; i++)
		parked += !task_resume(w, g->ready[i]);
	for (int i = 0; i < g->ntasks; i++)
		parked += !task_run(w, g->tasks[i]);
	return parked;
}

/*
 * Claim another round in the open transaction: the last one ended every
 * context it took at once (no-op work), so one commit covers more of them.
 * Only while nothing else waits: not for longer than POOL_CHAIN_MS nor more
 * than POOL_CHAIN_ROUNDS rounds, not when the keeper waits or the pool
 * drains. Returns 1 with the round's claims in g.
 */
static int
worker_chain(struct worker *w, struct worker_group *g, int rounds, int64_t t0)
{
	struct pool *p = w->p;
	int go;

	if (rounds >= POOL_CHAIN_ROUNDS || gb_mono_ms() - t0 >= POOL_CHAIN_MS ||
	    atomic_load(&p->keeper_waiting))
		return 0;
	g->nready = g->n = 0;
	pthread_mutex_lock(&p->lock);
	go = !p->failed && !p->stopping && !p->releasing && p->ready_head == NULL &&
	    (g->want = pool_reserve(p)) > 0;
	pthread_mutex_unlock(&p->lock);
	if (!go)
		return 0;
	/* what the last round ended is no longer pending for the next look */
	retry_flush(w);
	worker_claim(w, g);
	return g->n > 0;
}

static void
worker_run_group(struct worker *w, struct worker_group *g)
{
	struct pool *p = w->p;
	int64_t t0 = gb_mono_ms();
	int cpu = 0;

	if (worker_begin(w, g))
		return;
	if (g->want > 0)
		worker_claim(w, g);
	if (g->nready + g->n == 0) {
		/* nothing due: wait a little before asking again */
		store_rollback(w->st);
		worker_hold_end(w);
		pthread_mutex_lock(&p->lock);
		pool_heartbeat(p, w->index, worker_status(p, WORKER_AGAIN), 0);
		if (!p->stopping && !p->draining && p->ready_head == NULL)
			engine_wait_ms(p, POOL_IDLE_WAIT_MS);
		pthread_mutex_unlock(&p->lock);
		return;
	}
	for (int rounds = 1;; rounds++) {
		int parked = worker_run_round(w, g, &cpu);

		if (parked < 0)
			return;
		if (parked > 0 || cpu || !worker_chain(w, g, rounds, t0))
			break;
	}
	worker_commit(w);
	worker_write_gap(w);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct pool *p = w->p;
	struct worker_group g;

	memset(&g, 0, sizeof(g));
	g.ids = calloc((size_t)p->cfg.claim_max, STORE_ID_MAX);
	g.ready = calloc((size_t)p->cfg.claim_max, sizeof(*g.ready));
	g.tasks = calloc((size_t)p->cfg.claim_max, sizeof(*g.tasks));
	g.docs = calloc((size_t)p->cfg.claim_max, sizeof(*g.docs));
	while (g.ids && g.ready && g.tasks && g.docs) {
		enum worker_next next = worker_plan(w, &g);

		if (next == WORKER_EXIT)
			break;
		if (next == WORKER_RUN)
			worker_run_group(w, &g);
	}
	worker_hold_end(w);
	free(g.ids);
	free(g.ready);
	free(g.tasks);
	free(g.docs);
	return NULL;
}

/* ---- life cycle ---- */

static int
pool_open_workers(struct pool *p, struct gb_err *err)
{
	/* workers never stop to checkpoint the WAL: the keeper does, off the write path */
	struct store_opts wo = p->cfg.store;
	int rc = 0;

	wo.no_autocheckpoint = 1;
	for (int i = 0; rc == 0 && i < p->cfg.workers; i++) {
		struct worker *w = &p->workers[i];

		w->p = p;
		w->index = i;
		buf_init(&w->trace, 1 << 20);
		w->ending_cap = 2 * p->cfg.claim_max;
		w->ending = calloc((size_t)w->ending_cap, sizeof(*w->ending));
		w->ends = calloc((size_t)w->ending_cap, sizeof(*w->ends));
		w->stats = calloc((size_t)w->ending_cap, sizeof(*w->stats));
		if (w->ending == NULL || w->ends == NULL || w->stats == NULL) {
			rc = gb_errf(err, GB_ENOMEM, "out of memory");
			break;
		}
		snprintf(p->hb[i].worker_id, sizeof(p->hb[i].worker_id), "%s#%d", p->owner, i);
		snprintf(p->hb[i].host, sizeof(p->hb[i].host), "%s", p->host);
		snprintf(p->hb[i].status, sizeof(p->hb[i].status), "idle");
		rc = store_open(&w->st, p->cfg.db_path, &wo, err);
	}
	return rc;
}

static int
pool_start_threads(struct pool *p, struct gb_err *err)
{
	pthread_attr_t attr;
	int rc = 0;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 512 * 1024);
	for (int i = 0; rc == 0 && i < p->cfg.workers; i++) {
		if (pthread_create(&p->workers[i].thread, &attr, worker_main, &p->workers[i]) != 0)
			rc = gb_errf(err, GB_ENOMEM, "cannot start worker thread %d", i);
		else
			p->workers[i].started = 1;
	}
	pthread_attr_destroy(&attr);
	return rc ? rc : keeper_start(p, err);
}

static int
pool_init(struct pool *p, const struct pool_config *cfg, struct gb_err *err)
{
	p->cfg = *cfg;
	if (p->cfg.claim_max < 1)
		p->cfg.claim_max = 1;
	if (p->cfg.claim_max > QUEUE_MAX_CLAIM)
		p->cfg.claim_max = QUEUE_MAX_CLAIM;
	if (p->cfg.max_inflight < 1)
		p->cfg.max_inflight = 1;
	if (p->cfg.claim_max > p->cfg.max_inflight)
		p->cfg.claim_max = p->cfg.max_inflight;	/* a claim never passes the bound */
	if (p->cfg.heartbeat_ms <= 0)
		p->cfg.heartbeat_ms = POOL_DEFAULT_HEARTBEAT_MS;
	p->gen = cfg->gen;
	p->trace_fd = -1;
	pthread_mutex_init(&p->write_lock, NULL);
	pthread_mutex_init(&p->lock, NULL);
	{
		/*
		 * timed waits must not stretch when the wall clock steps back:
		 * leases depend on them
		 */
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&p->cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	keeper_owner_name((long)getpid(), p->owner, sizeof(p->owner));
	keeper_hostname(p->host, sizeof(p->host));
	pool_metrics_init(p);
	p->batch_id = cfg->batch_id ? strdup(cfg->batch_id) : NULL;
	p->cfg.batch_id = p->batch_id;
	p->cfg.trace_path = NULL;
	if (cfg->trace_path && (p->trace_fd = open(cfg->trace_path,
	    O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) < 0)
		return gb_errf(err, GB_EIO, "cannot open trace file '%s': %s", cfg->trace_path,
		    strerror(errno));
	p->cat = catalog_new(p->m.reg);
	p->workers = calloc((size_t)cfg->workers, sizeof(*p->workers));
	p->hb = calloc((size_t)cfg->workers, sizeof(*p->hb));
	if (p->cat == NULL || p->workers == NULL || p->hb == NULL ||
	    (cfg->batch_id && p->batch_id == NULL))
		return gb_errf(err, GB_ENOMEM, "out of memory");
	return 0;
}

int
pool_start(struct pool **out, const struct pool_config *cfg, struct gb_err *err)
{
	struct pool *p;
	int rc;

	*out = NULL;
	if (cfg->workers < 1 || cfg->workers > POOL_MAX_WORKERS) {
		generator_close(cfg->gen);
		return gb_errf(err, GB_EINVAL, "workers must be from 1 to %d", POOL_MAX_WORKERS);
	}
	if (cfg->gen == NULL)
		return gb_errf(err, GB_EINVAL, "the pool needs a generator");
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		generator_close(cfg->gen);
		return gb_errf(err, GB_ENOMEM, "out of memory");
	}
	if ((rc = pool_init(p, cfg, err)) || (rc = pool_open_workers(p, err)) ||
	    (rc = pool_start_threads(p, err))) {
		pool_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

int
pool_wait(struct pool *p, int64_t timeout_ms)
{
	int64_t deadline = gb_mono_ms() + timeout_ms;
	int ended;

	pthread_mutex_lock(&p->lock);
	while (!(ended = p->done || p->failed) && gb_mono_ms() < deadline)
		engine_wait_ms(p, 100);
	pthread_mutex_unlock(&p->lock);
	return ended;
}

/*
 * Give everything back: no worker submits to the generator once releasing
 * is set and the submitters counted in p->submitting are through, so the
 * generator can be closed; parked tasks then come back at once with
 * "closed" replies and are given back.
 */
static void
pool_close_generator(struct pool *p)
{
	pthread_mutex_lock(&p->lock);
	p->releasing = 1;
	pthread_cond_broadcast(&p->cond);
	while (p->submitting > 0)
		pthread_cond_wait(&p->cond, &p->lock);
	pthread_mutex_unlock(&p->lock);
	generator_close(p->gen);
	p->gen = NULL;
}

static void
pool_join(struct pool *p)
{
	pthread_mutex_lock(&p->lock);
	p->stopping = 1;
	p->draining = 1;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (int i = 0; p->workers && i < p->cfg.workers; i++)
		if (p->workers[i].started)
			pthread_join(p->workers[i].thread, NULL);
	if (p->keeper_started)
		pthread_join(p->keeper, NULL);
	p->keeper_started = 0;
}

void
pool_stop(struct pool *p, int64_t grace_ms)
{
	int64_t deadline = gb_mono_ms() + grace_ms;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	if (p->stopped) {
		pthread_mutex_unlock(&p->lock);
		return;
	}
	p->stopped = 1;
	p->draining = 1;
	pthread_cond_broadcast(&p->cond);
	while (p->inflight > 0 && gb_mono_ms() < deadline)
		engine_wait_ms(p, 50);
	pthread_mutex_unlock(&p->lock);
	pool_close_generator(p);
	pthread_mutex_lock(&p->lock);
	while (p->inflight > 0)
		engine_wait_ms(p, 100);
	pthread_mutex_unlock(&p->lock);
	pool_join(p);
}

void
pool_free(struct pool *p)
{
	if (p == NULL)
		return;
	pool_stop(p, 0);	/* also what started of a pool that failed to start */
	for (int i = 0; p->workers && i < p->cfg.workers; i++) {
		store_close(p->workers[i].st);
		buf_release(&p->workers[i].trace);
		free(p->workers[i].ending);
		free(p->workers[i].ends);
		free(p->workers[i].stats);
	}
	while (p->ready_head) {
		struct task *t = p->ready_head;

		p->ready_head = t->next;
		retry_task_free(t);
	}
	while (p->orphans) {
		struct orphan *o = p->orphans;

		p->orphans = o->next;
		free(o);
	}
	if (p->trace_fd >= 0)
		close(p->trace_fd);
	catalog_free(p->cat);
	free(p->workers);
	free(p->hb);
	free(p->batch_id);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	pthread_mutex_destroy(&p->write_lock);
	free(p);
}

int
pool_failed(struct pool *p, char *msg, size_t len)
{
	int failed;

	pthread_mutex_lock(&p->lock);
	failed = p->failed;
	if (failed && msg && len)
		snprintf(msg, len, "%s", p->failure);
	pthread_mutex_unlock(&p->lock);
	return failed;
}

void
pool_stats(struct pool *p, struct pool_stats *out)
{
	pthread_mutex_lock(&p->lock);
	*out = p->stats;
	out->inflight = p->inflight;
	out->idle = p->idle;
	out->done = p->done;
	pthread_mutex_unlock(&p->lock);
	catalog_stats(p->cat, &out->cache);
}

const char *
pool_owner(const struct pool *p)
{
	return p->owner;
}
