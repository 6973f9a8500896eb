/*
 * upkeepd.c - serve's upkeep (upkeepd.h): the start check, the backup
 * before a migration, and a thread that runs backup, optimize and
 * quick_check on their schedules.
 *
 * A job's next run is due its schedule after the start of its last run (its
 * job row), so restarts neither skip nor repeat runs; a job never run is
 * first due its schedule after start, ten minutes at most. The thread
 * wakes every second to look; it holds no lock while a job runs.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "../base/gbtime.h"
#include "../base/log.h"
#include "../storage/jobs.h"
#include "../storage/upkeep.h"
#include "../web/web.h"
#include "backupcmd.h"
#include "engine/pool.h"
#include "upkeepd.h"

#define UPKEEP_FIRST_MAX_MS (10 * 60 * 1000LL)
#define UPKEEP_TICK_MS 1000
#define UPKEEP_CLOSE_BUSY_MS 1000
#define UPKEEP_RETRY_MS (15 * 60 * 1000LL)	/* a failed run's next try, at the latest */
#define UPKEEP_BIG_FILE (256LL << 20)	/* read in less than systemd's start timeout */

enum upkeep_job { UJ_BACKUP, UJ_OPTIMIZE, UJ_CHECK, UJ_COUNT };

static const char *const upkeep_job_names[UJ_COUNT] = { "backup", "optimize", "quick_check" };

struct upkeepd {
	const struct config *cfg;
	struct store_opts so;
	struct pool *pool;
	struct web *web;		/* told to refuse writes once the file is corrupt */
	int lock;			/* the running lock, or -1 */
	int64_t check_started_ms;	/* the start check */
	int64_t check_done_ms;
	pthread_t thread;
	int thread_running;
	pthread_mutex_t mu;
	pthread_cond_t cv;		/* on CLOCK_MONOTONIC */
	int stop;			/* under mu: the thread ends */
	atomic_int cancel;		/* set by upkeepd_stop: a backup under way ends */
	int corrupt;			/* the thread's: a check found the file corrupt */
	int64_t due_ms[UJ_COUNT];	/* the thread's: wall time of each next run */
};

static int64_t
upkeep_every_ms(const struct config *cfg, enum upkeep_job j)
{
	int s = j == UJ_BACKUP ? cfg->backup_schedule_s : j == UJ_OPTIMIZE ?
	    cfg->upkeep_optimize_s : cfg->upkeep_check_s;

	return (int64_t)s * 1000;
}

static void
upkeep_log_corrupt(const struct config *cfg, const char *why, const char *what)
{
	char hint[1600];

	backupcmd_restore_hint(cfg, hint, sizeof(hint));
	log_error("event=database_corrupt db=%s reason=\"%s\" msg=\"the database file '%s' is "
	    "corrupt: %s, restore the last backup with: %s\"", cfg->db_path,
	    why, cfg->db_path, what, hint);
}

/*
 * Before the reads of the whole file at start (the check, a backup before
 * a migration) of a big database: systemd is told to wait longer than its
 * start timeout, as long as reading it three times at 10 MB/s takes.
 */
static void
upkeep_extend(const struct config *cfg)
{
	struct stat sb;
	char msg[160];

	if (stat(cfg->db_path, &sb) < 0 || sb.st_size < UPKEEP_BIG_FILE)
		return;
	snprintf(msg, sizeof(msg), "EXTEND_TIMEOUT_USEC=%llu\nSTATUS=checking the database",
	    (unsigned long long)(60 + 3 * sb.st_size / (10 * 1000 * 1000)) * 1000000ULL);
	sd_notify(0, msg);
}

int
upkeepd_prepare(struct upkeepd **out, const struct config *cfg, int *corrupt,
    struct gb_err *err)
{
	char why[UPKEEP_WHY_MAX], hint[1600];
	struct upkeepd *u;
	int rc, taken, bad = 0;

	*corrupt = 0;
	if ((*out = u = calloc(1, sizeof(*u))) == NULL)
		return gb_errf(err, GB_ENOMEM, "out of memory");
	u->cfg = cfg;
	u->lock = -1;
	if ((rc = store_lock_running(cfg->db_path, &u->lock, err)))
		return rc;
	u->check_started_ms = gb_now_ms();
	upkeep_extend(cfg);
	if ((rc = upkeep_check_file(cfg->db_path, &bad, why, err)))
		return rc;
	u->check_done_ms = gb_now_ms();
	if (bad) {
		*corrupt = 1;
		upkeep_log_corrupt(cfg, why, "not started and nothing written to it; to go on");
		backupcmd_restore_hint(cfg, hint, sizeof(hint));
		return gb_errf(err, GB_EIO, "the database file '%s' is corrupt (%.80s): not "
		    "started; restore the last backup with: %s", cfg->db_path, why, hint);
	}
	return backupcmd_before_migrate(cfg, "serve", &taken, err);
}

/* A store of the thread's own: NULL (logged) when it cannot be opened. */
static struct store *
upkeep_store(struct upkeepd *u)
{
	struct gb_err err = { 0, "" };
	struct store *st = NULL;

	if (store_open(&st, u->cfg->db_path, &u->so, &err)) {
		log_warnx("event=upkeep_open status=failed reason=\"%s\"", err.msg);
		return NULL;
	}
	return st;
}

static void
upkeep_job_end(struct store *st, const char *job, int ok, const char *counts,
    const char *error)
{
	struct gb_err err = { 0, "" };

	if (st && store_job_end(st, job, gb_now_ms(), ok, counts, error, &err))
		log_warnx("event=job_row job=%s reason=\"%s\"", job, err.msg);
}

static void
upkeep_job_begin(struct store *st, const char *job, int64_t at_ms)
{
	struct gb_err err = { 0, "" };

	if (st && store_job_begin(st, job, at_ms, &err))
		log_warnx("event=job_row job=%s reason=\"%s\"", job, err.msg);
}

static int
upkeep_backup(struct upkeepd *u, struct store *st)
{
	struct gb_err err = { 0, "" };
	struct backup_info bi;
	char where[1400], counts[128];

	upkeep_job_begin(st, "backup", gb_now_ms());
	if (backupcmd_take(u->cfg, NULL, u->cfg->backup_keep, &u->cancel, &bi, where,
	    sizeof(where), &err)) {
		log_error("event=backup status=failed reason=\"%s\"", err.msg);
		upkeep_job_end(st, "backup", 0, NULL, err.code == GB_ESTATE ?
		    "stopped: genbox was stopping" : err.msg);
		return 0;
	}
	log_info("event=backup_taken file=\"%s\" bytes=%lld db_bytes=%lld sha256=%s", where,
	    (long long)bi.bytes, (long long)bi.db_bytes, bi.sha256);
	snprintf(counts, sizeof(counts), "{\"bytes\":%lld,\"contexts\":%lld}",
	    (long long)bi.bytes, (long long)bi.counts[COLL_CONTEXTS]);
	upkeep_job_end(st, "backup", 1, counts, NULL);
	return 1;
}

static int
upkeep_optimize(struct store *st)
{
	struct gb_err err = { 0, "" };
	int64_t t0 = gb_mono_ms();
	char counts[64];

	if (st == NULL)
		return 0;
	upkeep_job_begin(st, "optimize", gb_now_ms());
	if (store_optimize(st, &err)) {
		log_warnx("event=optimize status=failed reason=\"%s\"", err.msg);
		upkeep_job_end(st, "optimize", 0, NULL, err.msg);
		return 0;
	}
	snprintf(counts, sizeof(counts), "{\"ms\":%lld}", (long long)(gb_mono_ms() - t0));
	upkeep_job_end(st, "optimize", 1, counts, NULL);
	return 1;
}

/* The API refuses every write from now on, saying why and what to do. */
static void
upkeep_refuse_writes(struct upkeepd *u, const char *why)
{
	char hint[1600], msg[WEB_UNWRITABLE_MAX];

	backupcmd_restore_hint(u->cfg, hint, sizeof(hint));
	snprintf(msg, sizeof(msg), "the database is corrupt: %.256s; it takes no writes: stop "
	    "genbox and restore the last backup with: %.600s", why, hint);
	web_set_unwritable(u->web, msg);
}

/* quick_check; a corrupt file stops the pool's work and the API's writes. */
static int
upkeep_check(struct upkeepd *u, struct store *st)
{
	struct gb_err err = { 0, "" };
	char why[UPKEEP_WHY_MAX], counts[64];
	int64_t t0 = gb_mono_ms();
	int ok = 0, bad = 0, rc;

	upkeep_job_begin(st, "quick_check", gb_now_ms());
	if (st)
		bad = (rc = store_quick_check(st, &ok, why, &err)) == 0 && !ok;
	else	/* it may not open because it is corrupt */
		rc = upkeep_check_file(u->cfg->db_path, &bad, why, &err);
	if (rc) {
		log_warnx("event=quick_check status=failed reason=\"%s\"", err.msg);
		upkeep_job_end(st, "quick_check", 0, NULL, err.msg);
		return 0;
	}
	if (bad) {
		u->corrupt = 1;
		upkeep_log_corrupt(u->cfg, why, "no new work is taken; stop genbox and");
		upkeep_job_end(st, "quick_check", 0, NULL, why);
		upkeep_refuse_writes(u, why);
		pool_stop(u->pool, u->cfg->grace_ms);
		return 0;
	}
	snprintf(counts, sizeof(counts), "{\"ms\":%lld}", (long long)(gb_mono_ms() - t0));
	upkeep_job_end(st, "quick_check", 1, counts, NULL);
	return 1;
}

/* One run of job j: 1 when it went well. */
static int
upkeep_run(struct upkeepd *u, enum upkeep_job j)
{
	struct store *st = upkeep_store(u);
	int ok;

	if (j == UJ_BACKUP)
		ok = upkeep_backup(u, st);
	else if (j == UJ_OPTIMIZE)
		ok = upkeep_optimize(st);
	else
		ok = upkeep_check(u, st);
	store_close(st);
	return ok;
}

/* When job j is due again after a run at now_ms: a failed one is tried again sooner. */
static int64_t
upkeep_next(const struct upkeepd *u, enum upkeep_job j, int64_t now_ms, int ok)
{
	int64_t every = upkeep_every_ms(u->cfg, j);

	return now_ms + (ok || every < UPKEEP_RETRY_MS ? every : UPKEEP_RETRY_MS);
}

/* The start check's job row, and when each job is next due. */
static void
upkeep_plan(struct upkeepd *u)
{
	struct store *st = upkeep_store(u);
	int64_t now = gb_now_ms();

	upkeep_job_begin(st, "quick_check", u->check_started_ms);
	upkeep_job_end(st, "quick_check", 1, "{}", NULL);
	for (int j = 0; j < UJ_COUNT; j++) {
		int64_t every = upkeep_every_ms(u->cfg, (enum upkeep_job)j);
		struct gb_err err = { 0, "" };
		struct store_job job;
		int found = 0;

		if (every <= 0) {
			u->due_ms[j] = INT64_MAX;
			continue;
		}
		if (st && store_job_get(st, upkeep_job_names[j], &job, &found, &err) == 0 &&
		    found && job.started_ms > 0 && job.ok && job.finished_ms >= job.started_ms)
			u->due_ms[j] = job.started_ms + every;
		else if (found && job.started_ms > 0)	/* failed, or cut short */
			u->due_ms[j] = upkeep_next(u, (enum upkeep_job)j, now, 0);
		else
			u->due_ms[j] = now + (every < UPKEEP_FIRST_MAX_MS ? every :
			    UPKEEP_FIRST_MAX_MS);
	}
	store_close(st);
}

static void *
upkeep_main(void *arg)
{
	struct upkeepd *u = arg;

	upkeep_plan(u);		/* here: a write lock held elsewhere holds up no start */
	pthread_mutex_lock(&u->mu);
	while (!u->stop) {
		struct timespec ts;

		pthread_mutex_unlock(&u->mu);
		for (int j = 0; j < UJ_COUNT && !u->corrupt && !atomic_load(&u->cancel); j++) {
			int ok;

			if (gb_now_ms() < u->due_ms[j])
				continue;
			ok = upkeep_run(u, (enum upkeep_job)j);
			u->due_ms[j] = upkeep_next(u, (enum upkeep_job)j, gb_now_ms(), ok);
		}
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += UPKEEP_TICK_MS / 1000;
		pthread_mutex_lock(&u->mu);
		while (!u->stop && pthread_cond_timedwait(&u->cv, &u->mu, &ts) == 0)
			;
	}
	pthread_mutex_unlock(&u->mu);
	return NULL;
}

int
upkeepd_start(struct upkeepd *u, const struct store_opts *so, struct pool *pool,
    struct web *web, struct gb_err *err)
{
	pthread_condattr_t ca;

	u->so = *so;
	u->pool = pool;
	u->web = web;
	pthread_mutex_init(&u->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&u->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&u->thread, NULL, upkeep_main, u) != 0) {
		pthread_cond_destroy(&u->cv);
		pthread_mutex_destroy(&u->mu);
		return gb_errf(err, GB_EIO, "cannot start the upkeep thread");
	}
	u->thread_running = 1;
	return 0;
}

void
upkeepd_stop(struct upkeepd *u)
{
	if (u == NULL)
		return;
	if (u->thread_running) {
		atomic_store(&u->cancel, 1);
		pthread_mutex_lock(&u->mu);
		u->stop = 1;
		pthread_cond_signal(&u->cv);
		pthread_mutex_unlock(&u->mu);
		pthread_join(u->thread, NULL);
		pthread_cond_destroy(&u->cv);
		pthread_mutex_destroy(&u->mu);
		if (!u->corrupt) {
			struct store *st;

			/* a stop is not held up long by a lock held elsewhere */
			u->so.busy_timeout_ms = UPKEEP_CLOSE_BUSY_MS;
			st = upkeep_store(u);

			upkeep_optimize(st);	/* at close, as SQLite advises */
			store_close(st);
		}
	}
	store_lock_release(u->lock);
	free(u);
}
