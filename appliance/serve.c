/*
 * serve.c - `genbox serve`: the daemon. The database is opened (and
 * migrated) once, then the worker pool runs without end and the HTTP API
 * answers beside it in one process. systemd hears READY=1 once both run,
 * WATCHDOG=1 every half watchdog period, and STOPPING=1 at a stop.
 *
 * Once an hour (and at start) a thread of its own forgets the dashboard's
 * throughput older than two days (store_throughput_prune), so a prune that
 * waits on the database never holds up the watchdog or the signals; it
 * waits SERVE_PRUNE_BUSY_MS at most for a lock, and tries again a minute
 * later when it could not.
 *
 * With a [cluster] mongo_uri, outbox recording is turned on before the
 * pool starts (store_sync_enable) and the sync floor's threads push, pull
 * and mirror to Redis beside the pool; the web floor reads their state
 * live through a callback (sync_state), the rest from storage.
 *
 * SIGTERM and SIGINT are blocked in every thread and taken by the main
 * thread with sigtimedwait: the API stops accepting, sync stops (a round in
 * flight ends first), running contexts get [workers] grace_ms to end, the
 * rest go back to the queue; exit 0.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "../base/gbtime.h"
#include "../base/log.h"
#include "../storage/listing.h"
#include "../storage/outbox.h"
#include "../sync/sync.h"
#include "../web/web.h"
#include "backupcmd.h"
#include "archivecmd.h"
#include "cli.h"
#include "engine/pool.h"
#include "poolcfg.h"
#include "generator.h"
#include "synccfg.h"
#include "upkeepd.h"

#define SERVE_PRUNE_MS (3600 * 1000LL)
#define SERVE_PRUNE_RETRY_MS (60 * 1000LL)
#define SERVE_PRUNE_BUSY_MS 1000

struct serve {
	const struct config *cfg;
	pthread_t pruner;
	int pruner_running;
	int prune_stop;			/* under prune_mu: the pruner ends */
	pthread_mutex_t prune_mu;
	pthread_cond_t prune_cv;	/* on CLOCK_MONOTONIC */
	char listen[256];
	int workers;
	struct store_opts so;
	struct pool *pool;
	struct web *web;
	struct synccfg *synccfg;	/* NULL: no cluster */
	struct sync *sync;
	struct upkeepd *upkeep;		/* the start check, backups, optimize, quick_check */
	struct archiver *archiver;	/* NULL: [retention] interval 0 */
};

static int
serve_args(struct serve *s, int argc, char **argv)
{
	static const struct option longs[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "workers", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	long v;
	int ch;

	snprintf(s->listen, sizeof(s->listen), "%s", s->cfg->web_listen);
	s->workers = s->cfg->workers;
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":", longs, NULL)) != -1) {
		if (ch == 'l') {
			if (strlen(optarg) >= sizeof(s->listen) || strchr(optarg, ':') == NULL)
				return cli_fail("serve", "--listen '%.64s': expected ADDR:PORT",
				    optarg);
			snprintf(s->listen, sizeof(s->listen), "%s", optarg);
		} else if (ch == 'w') {
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || v < 1 || v > POOL_MAX_WORKERS)
				return cli_fail("serve", "--workers '%.32s': expected 1 to %d",
				    optarg, POOL_MAX_WORKERS);
			s->workers = (int)v;
		} else {
			return cli_opt_fail("serve", ch, argv, longs);
		}
	}
	if (optind < argc)
		return cli_extra_arg("serve", argv[optind], "serve takes only options");
	return 0;
}

/* The schema up to date before any thread opens the file. */
static int
serve_migrate(struct serve *s, struct gb_err *err)
{
	struct store *st = NULL;
	int rc;

	s->so = (struct store_opts){ 1, 1, s->cfg->sync_full, s->cfg->busy_timeout_ms, 0, 0 };
	rc = store_open(&st, s->cfg->db_path, &s->so, err);
	store_close(st);
	s->so.create = 0;
	s->so.migrate = 0;
	return rc;
}

static int
serve_pool(struct serve *s, struct gb_err *err)
{
	struct pool_config pc;

	if (poolcfg_fill(&pc, s->cfg, &s->so, s->workers, err))
		return err->code;
	pc.run_forever = 1;
	pc.metrics = metrics_default();
	return pool_start(&s->pool, &pc, err);	/* takes pc.gen, even on failure */
}

/* With a cluster: outbox recording on and the settings resolved, before the pool starts. */
static int
serve_sync_prepare(struct serve *s, struct gb_err *err)
{
	struct store *st = NULL;
	int64_t queued = 0;
	int rc;

	if (!synccfg_on(s->cfg))
		return 0;
	if ((s->synccfg = calloc(1, sizeof(*s->synccfg))) == NULL)
		return gb_errf(err, GB_ENOMEM, "out of memory");
	if ((rc = store_open(&st, s->cfg->db_path, &s->so, err)) == 0 &&
	    (rc = store_sync_enable(st, &queued, err)) == 0)
		rc = synccfg_fill(s->synccfg, s->cfg, st, s->workers, err);
	store_close(st);
	if (rc == 0 && queued > 0)
		log_info("event=sync_enabled queued=%lld", (long long)queued);
	return rc;
}

static int
serve_sync(struct serve *s, struct gb_err *err)
{
	const struct synccfg *c = s->synccfg;
	int rc;

	if (c == NULL)
		return 0;
	if ((rc = sync_new(&s->sync, &c->sc, err)))
		return rc;
	if ((rc = sync_start(s->sync, err))) {
		sync_free(s->sync);	/* never started: nothing to stop */
		s->sync = NULL;
		return rc;
	}
	log_info("event=sync_started cluster=\"%s\" db=%s appliance_id=%s worker_id=%s "
	    "organizations=%d take_cluster_work=%d", c->mongo_masked, c->sc.mongo_db,
	    c->appliance_id, c->worker_id, c->sc.n_orgs, c->sc.take_cluster_work);
	return 0;
}

/* The web floor's view of the sync state. */
static const char *
serve_sync_state(void *arg)
{
	return sync_state(arg);
}

static int
serve_web(struct serve *s, struct gb_err *err)
{
	struct web_config wc;

	web_config_defaults(&wc);
	wc.db_path = s->cfg->db_path;
	wc.store = s->so;
	wc.listen = s->listen;
	wc.max_body = s->cfg->web_max_body;
	wc.threads = s->cfg->web_threads;
	wc.request_timeout_ms = s->cfg->web_request_timeout_ms;
	wc.max_streams = s->cfg->web_max_streams;
	wc.max_streams_per_key = s->cfg->web_max_streams_per_key;
	wc.stream_max_ms = s->cfg->web_stream_max_ms;
	wc.metrics = metrics_default();
	wc.backup_schedule_s = s->cfg->backup_schedule_s;
	if (s->sync) {
		wc.sync_state = serve_sync_state;
		wc.sync_arg = s->sync;
	}
	return web_start(&s->web, &wc, err);
}

/* Forget old throughput rows: 0, or -1 when it failed (logged). */
static int
serve_prune(struct serve *s)
{
	struct store_opts so = s->so;
	struct gb_err err = { 0, "" };
	struct store *st = NULL;
	int n = 0, rc = -1;

	so.busy_timeout_ms = SERVE_PRUNE_BUSY_MS;
	if (store_open(&st, s->cfg->db_path, &so, &err) == 0 &&
	    store_throughput_prune(st, gb_now_ms(), &n, &err) == 0) {
		if (n > 0)
			log_info("level=info event=throughput_pruned rows=%d", n);
		rc = 0;
	} else {
		log_warnx("event=throughput_prune status=failed reason=\"%s\"", err.msg);
	}
	store_close(st);
	return rc;
}

/*
 * The pruner: a prune at once, then one per SERVE_PRUNE_MS (a minute after a
 * failure) until stopped.
 */
static void *
serve_pruner(void *arg)
{
	struct serve *s = arg;

	pthread_mutex_lock(&s->prune_mu);
	while (!s->prune_stop) {
		int64_t wait_ms;
		struct timespec ts;

		pthread_mutex_unlock(&s->prune_mu);
		wait_ms = serve_prune(s) ? SERVE_PRUNE_RETRY_MS : SERVE_PRUNE_MS;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (time_t)(wait_ms / 1000);
		pthread_mutex_lock(&s->prune_mu);
		while (!s->prune_stop &&
		    pthread_cond_timedwait(&s->prune_cv, &s->prune_mu, &ts) == 0)
			;
	}
	pthread_mutex_unlock(&s->prune_mu);
	return NULL;
}

static int
serve_pruner_start(struct serve *s, struct gb_err *err)
{
	pthread_condattr_t ca;

	pthread_mutex_init(&s->prune_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->prune_cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&s->pruner, NULL, serve_pruner, s) != 0) {
		pthread_cond_destroy(&s->prune_cv);
		pthread_mutex_destroy(&s->prune_mu);
		return gb_errf(err, GB_EIO, "cannot start the throughput pruner");
	}
	s->pruner_running = 1;
	return 0;
}

/*
 * Stop the pruner: at once, or when a prune under way ends (SERVE_PRUNE_BUSY_MS
 * of waiting at most).
 */
static void
serve_pruner_stop(struct serve *s)
{
	if (!s->pruner_running)
		return;
	pthread_mutex_lock(&s->prune_mu);
	s->prune_stop = 1;
	pthread_cond_signal(&s->prune_cv);
	pthread_mutex_unlock(&s->prune_mu);
	pthread_join(s->pruner, NULL);
	pthread_cond_destroy(&s->prune_cv);
	pthread_mutex_destroy(&s->prune_mu);
	s->pruner_running = 0;
}

/*
 * Wait for SIGTERM or SIGINT, petting the watchdog and watching the pool.
 * Returns the signal, or 0.
 */
static int
serve_wait(struct serve *s, const sigset_t *set)
{
	uint64_t wd_usec = 0;
	int watchdog = sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0;
	int64_t tick_ms = watchdog ? (int64_t)(wd_usec / 2000) : 1000;
	char why[256];

	if (tick_ms < 10)
		tick_ms = 10;
	if (tick_ms > 1000)
		tick_ms = 1000;
	for (;;) {
		struct timespec ts = { tick_ms / 1000, (long)(tick_ms % 1000) * 1000000L };
		int sig = sigtimedwait(set, NULL, &ts);

		if (sig > 0)
			return sig;
		if (watchdog)
			sd_notify(0, "WATCHDOG=1");
		if (pool_failed(s->pool, why, sizeof(why))) {
			log_error("event=pool_failed reason=\"%s\"", why);
			return 0;
		}
	}
}

static void
serve_stop(struct serve *s, int sig)
{
	sd_notify(0, "STOPPING=1");
	log_info("event=stopping signal=%s grace_ms=%d", sig == SIGINT ? "SIGINT" :
	    sig == SIGTERM ? "SIGTERM" : "none", s->cfg->grace_ms);
	serve_pruner_stop(s);
	archiver_stop(s->archiver);
	web_stop(s->web);
	s->web = NULL;
	if (s->sync)
		sync_stop(s->sync);
	pool_stop(s->pool, s->cfg->grace_ms);
	upkeepd_stop(s->upkeep);	/* before pool_free: its thread may stop the pool */
	s->upkeep = NULL;
	pool_free(s->pool);
	s->pool = NULL;
	sync_free(s->sync);
	s->sync = NULL;
	free(s->synccfg);
	s->synccfg = NULL;
	log_info("event=stopped");
}

/* Where it serves: the listen address with the port the kernel gave when it asked for 0. */
static void
serve_announce(const struct serve *s)
{
	char host[256];
	const char *colon = strrchr(s->listen, ':');
	int len = colon ? (int)(colon - s->listen) : (int)strlen(s->listen);

	snprintf(host, sizeof(host), "%.*s", len, s->listen);
	log_info("event=serving url=http://%s:%d/ workers=%d threads=%d db=%s", host,
	    web_port(s->web), s->workers, s->cfg->web_threads, s->cfg->db_path);
}

int
cmd_serve(const struct config *cfg, int argc, char **argv)
{
	struct serve s = { .cfg = cfg };
	struct gb_err err = { 0, "" };
	sigset_t set, old;
	int sig, rc, corrupt = 0;

	if (serve_args(&s, argc, argv))
		return 1;
	log_set_format(LOG_FORMAT_KV);	/* the daemon's lines are key=value, for journald */
	/* blocked before any thread starts, so every thread inherits it */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	if ((rc = upkeepd_prepare(&s.upkeep, cfg, &corrupt, &err)) ||
	    (rc = serve_migrate(&s, &err)) || (rc = serve_sync_prepare(&s, &err)) ||
	    (rc = serve_pool(&s, &err)) || (rc = serve_sync(&s, &err)) ||
	    (rc = serve_web(&s, &err)) || (rc = serve_pruner_start(&s, &err)) ||
	    (rc = upkeepd_start(s.upkeep, &s.so, s.pool, s.web, &err)) ||
	    (rc = archiver_start(&s.archiver, cfg, &err))) {
		log_error("event=start_failed reason=\"%s\"", err.msg);
		serve_pruner_stop(&s);
		web_stop(s.web);
		if (s.sync)
			sync_stop(s.sync);
		sync_free(s.sync);
		free(s.synccfg);
		pool_free(s.pool);
		upkeepd_stop(s.upkeep);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		cli_fail("serve", "%s", err.msg);
		return corrupt ? BACKUP_EXIT_CORRUPT : 1;
	}
	sd_notify(0, "READY=1\nSTATUS=serving");
	serve_announce(&s);
	sig = serve_wait(&s, &set);
	serve_stop(&s, sig);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return sig ? 0 : 1;
}
