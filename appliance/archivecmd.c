/*
 * archivecmd.c - `genbox archive [--dry-run] [--before DATE]`, `genbox
 * restore --from TARGET [--after DATE] [--before DATE]`, and the archive
 * run inside serve (a thread: a run at start, then one per [retention]
 * interval after the last one began; ten minutes after start on a box that
 * never archived).
 *
 * A run (sync/archive.h) of contexts and batches past [retention] to the
 * target of [retention] archive (default dir:<the database's folder>/archive;
 * s3:// with the [s3] settings). Every run but a dry one records the job
 * row "archive" (storage/jobs.h): what left the box {"contexts", "batches",
 * "objects", "bytes"} and the error. Exit status: 0 done, 1 a failure, 2 a
 * usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/file.h>
#include <unistd.h>

#include "../base/gbtime.h"
#include "../base/log.h"
#include "../storage/jobs.h"
#include "../sync/archive.h"
#include "archivecmd.h"
#include "cli.h"

static int arch_usage(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A usage error (exit status 1). */
static int
arch_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = cli_vusage(cmd, cmd, fmt, ap);
	va_end(ap);
	return rc;
}

/* The archive target's spec: [retention] archive, or dir:<db folder>/archive. */
static void
arch_spec(const struct config *cfg, char *out, size_t size)
{
	const char *slash = strrchr(cfg->db_path, '/');

	if (cfg->archive[0])
		snprintf(out, size, "%s", cfg->archive);
	else if (slash == NULL)
		snprintf(out, size, "dir:./archive");
	else if (slash == cfg->db_path)
		snprintf(out, size, "dir:/archive");
	else
		snprintf(out, size, "dir:%.*s/archive", (int)(slash - cfg->db_path), cfg->db_path);
}

/* The target; reading (restore) it must exist: a dir: folder is not created. */
/* The database's folder: objects read back go through a temporary file there. */
static void
arch_tmp_dir(const struct config *cfg, char *out, size_t size)
{
	const char *slash = strrchr(cfg->db_path, '/');

	if (slash == NULL)
		snprintf(out, size, ".");
	else if (slash == cfg->db_path)
		snprintf(out, size, "/");
	else
		snprintf(out, size, "%.*s", (int)(slash - cfg->db_path), cfg->db_path);
}

static int
arch_target(const struct config *cfg, const char *spec, int reading, struct target **t,
    struct gb_err *err)
{
	struct target_s3 s3 = { cfg->s3_endpoint, cfg->s3_region, cfg->s3_access_key,
		cfg->s3_secret_key, cfg->s3_timeout_ms };

	return reading ? target_open_existing(t, spec, &s3, err) : target_open(t, spec, &s3, err);
}

static void
arch_box(const struct config *cfg, char *out, size_t size)
{
	if (cfg->cluster_appliance_id[0])
		snprintf(out, size, "%s", cfg->cluster_appliance_id);
	else if (gethostname(out, size - 1) != 0 || out[0] == '\0')
		snprintf(out, size, "genbox");
	out[size - 1] = '\0';
}

static void
arch_counts_json(const struct archive_counts *c, char *out, size_t size)
{
	snprintf(out, size, "{\"contexts\":%lld,\"batches\":%lld,\"objects\":%lld,\"bytes\":%lld}",
	    (long long)c->deleted[0], (long long)c->deleted[1], (long long)c->objects,
	    (long long)c->bytes);
}

/*
 * One run at a time per database (serve's and the CLI's): an flock on
 * "<db>-archive" beside it, released by the kernel when a run dies. Two
 * runs at once would both archive the same rows (names never clash: each
 * run has its own id). Returns the descriptor, or -1 with err set.
 */
static int
arch_lock(const struct config *cfg, struct gb_err *err)
{
	char path[1100];
	int fd;

	snprintf(path, sizeof(path), "%s-archive", cfg->db_path);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		gb_errf(err, GB_EIO, "cannot open '%s': %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		gb_errf(err, errno == EWOULDBLOCK ? GB_EBUSY : GB_EIO, "%s",
		    errno == EWOULDBLOCK ? "another archive run of this database is under way" :
		    strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * One run with its job row (none for a dry run). before: "YYYY-MM-DD" or
 * NULL for [retention]'s days. Returns archive_run's code.
 */
static int
arch_run(const struct config *cfg, struct store *st, const char *before, int dry,
    struct archive_opts *o, struct archive_counts *c, struct gb_err *err)
{
	struct gb_err jerr = { 0, "" };
	char spec[1100], box[128], counts[256], tmp_dir[1100];
	struct target *t = NULL;
	int days[ARCHIVE_NCOLL] = { cfg->contexts_retention_days, cfg->batches_retention_days };
	int rc, lock;

	memset(c, 0, sizeof(*c));
	arch_spec(cfg, spec, sizeof(spec));
	arch_box(cfg, box, sizeof(box));
	o->now_ms = gb_now_ms();
	o->dry_run = dry;
	o->box = box;
	o->delete_batch = cfg->retention_delete_batch;
	arch_tmp_dir(cfg, tmp_dir, sizeof(tmp_dir));
	o->tmp_dir = tmp_dir;
	for (int i = 0; i < ARCHIVE_NCOLL; i++) {
		if (before) {
			if ((rc = archive_day_cutoff(before, o->cutoff[i], err)))
				return rc;
		} else {
			archive_cutoff(o->now_ms, days[i] > 0 ? days[i] : cfg->retention_days,
			    o->cutoff[i]);
		}
	}
	if ((lock = arch_lock(cfg, err)) < 0)
		return err->code;
	if (!dry && (rc = store_job_begin(st, "archive", o->now_ms, err))) {
		close(lock);
		return rc;
	}
	if ((rc = arch_target(cfg, spec, 0, &t, err)) == 0)
		rc = archive_run(st, t, o, c, err);
	target_close(t);
	close(lock);
	if (!dry) {
		arch_counts_json(c, counts, sizeof(counts));
		if (store_job_end(st, "archive", gb_now_ms(), rc == 0, counts, rc ? err->msg : "",
		    &jerr) && rc == 0)
			rc = gb_errf(err, jerr.code, "%s", jerr.msg);
	}
	return rc;
}

static void
arch_print(const struct archive_counts *c, int dry, const char *target)
{
	for (int i = 0; i < ARCHIVE_NCOLL; i++) {
		const char *name = coll_name(archive_coll(i));

		if (dry)
			printf("%-9s would archive %lld, %lld archived already "
			    "(would be deleted)\n", name, (long long)c->archived[i],
			    (long long)c->already[i]);
		else
			printf("%-9s archived %lld, deleted %lld, kept %lld (changed since), "
			    "%lld archived already\n", name, (long long)c->archived[i],
			    (long long)c->deleted[i], (long long)c->kept[i],
			    (long long)c->already[i]);
	}
	printf("%s %lld object%s, %lld bytes, to %s%s%s\n", dry ? "would write" : "wrote",
	    (long long)c->objects, c->objects == 1 ? "" : "s", (long long)c->bytes, target,
	    c->manifest[0] ? ", manifest " : "", c->manifest);
}

static int
arch_open(const struct config *cfg, int create, const char *cmd, struct store **st)
{
	struct store_opts so = { create, 1, cfg->sync_full, cfg->busy_timeout_ms, 0, 0 };
	struct gb_err err = { 0, "" };

	if (cli_store_open(cfg, &so, st, &err))
		return cli_fail(cmd, "%s", err.msg);
	return 0;
}

int
cmd_archive(const struct config *cfg, int argc, char **argv)
{
	static const struct option longs[] = { { "dry-run", no_argument, NULL, 'n' },
		{ "before", required_argument, NULL, 'b' }, { NULL, 0, NULL, 0 } };
	struct gb_err err = { 0, "" };
	struct archive_opts o;
	struct archive_counts c;
	char cut[ARCHIVE_TIME_LEN], spec[1100];
	const char *before = NULL;
	struct store *st = NULL;
	int ch, dry = 0, rc;

	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		if (ch == 'n')
			dry = 1;
		else if (ch == 'b')
			before = optarg;
		else
			return arch_usage("archive", "unknown option or missing value '%s'",
			    argv[optind - 1]);
	}
	if (optind < argc)
		return arch_usage("archive", "unexpected argument '%s'", argv[optind]);
	if (before && archive_day_cutoff(before, cut, &err))
		return arch_usage("archive", "--before: %s", err.msg);
	if (arch_open(cfg, 0, "archive", &st))
		return 1;
	memset(&o, 0, sizeof(o));
	rc = arch_run(cfg, st, before, dry, &o, &c, &err);
	store_close(st);
	if (rc)	/* what the failed run did is in the message and the job row */
		return cli_fail("archive", "%s (before the failure: %lld contexts and %lld batches "
		    "deleted, %lld objects written)", err.msg, (long long)c.deleted[0],
		    (long long)c.deleted[1], (long long)c.objects);
	arch_spec(cfg, spec, sizeof(spec));
	arch_print(&c, dry, spec);
	return 0;
}

int
cmd_restore(const struct config *cfg, int argc, char **argv)
{
	static const struct option longs[] = { { "from", required_argument, NULL, 'f' },
		{ "after", required_argument, NULL, 'a' },
		{ "before", required_argument, NULL, 'b' }, { NULL, 0, NULL, 0 } };
	struct restore_opts o = { NULL, NULL, NULL };
	char tmp_dir[1100];
	struct gb_err err = { 0, "" };
	struct restore_counts c;
	char cut[ARCHIVE_TIME_LEN];
	const char *from = NULL;
	struct target *t = NULL;
	struct store *st = NULL;
	int ch, rc;

	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		if (ch == 'f')
			from = optarg;
		else if (ch == 'a' || ch == 'b')
			*(ch == 'a' ? &o.after : &o.before) = optarg;
		else
			return arch_usage("restore", "unknown option or missing value '%s'",
			    argv[optind - 1]);
	}
	if (optind < argc)
		return arch_usage("restore", "unexpected argument '%s'", argv[optind]);
	if (from == NULL)
		return arch_usage("restore", "--from dir:PATH or s3://bucket/prefix is needed");
	if ((o.after && archive_day_cutoff(o.after, cut, &err)) ||
	    (o.before && archive_day_cutoff(o.before, cut, &err)))
		return arch_usage("restore", "%s", err.msg);
	if (o.after && o.before && strcmp(o.after, o.before) >= 0)
		return arch_usage("restore", "--after %s is not before --before %s: no day between",
		    o.after, o.before);
	memset(&c, 0, sizeof(c));
	arch_tmp_dir(cfg, tmp_dir, sizeof(tmp_dir));
	o.tmp_dir = tmp_dir;
	if (arch_target(cfg, from, 1, &t, &err))
		return cli_fail("restore", "%s", err.msg);
	if (arch_open(cfg, 0, "restore", &st)) {
		target_close(t);
		return 1;
	}
	rc = archive_restore(st, t, &o, &c, &err);
	store_close(st);
	target_close(t);
	if (rc)
		return cli_fail("restore", "%s (before the failure: %lld contexts and %lld batches "
		    "restored)", err.msg, (long long)c.docs[0], (long long)c.docs[1]);
	printf("restored %lld contexts and %lld batches from %lld objects (%lld bytes) of %lld "
	    "manifests; kept %lld (newer here)\n", (long long)c.docs[0], (long long)c.docs[1],
	    (long long)c.objects, (long long)c.bytes, (long long)c.manifests,
	    (long long)(c.kept[0] + c.kept[1]));
	return 0;
}

/* ---- the run inside serve ---- */

#define ARCHIVER_RETRY_S 3600
#define ARCHIVER_FIRST_S 600		/* a box that never archived: this long after start */

struct archiver {
	const struct config *cfg;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;		/* on CLOCK_MONOTONIC */
	int stop;			/* under mu */
};

static int
archiver_stopping(void *arg)
{
	struct archiver *a = arg;
	int s;

	pthread_mutex_lock(&a->mu);
	s = a->stop;
	pthread_mutex_unlock(&a->mu);
	return s;
}

/* Sleep wait_s seconds or until stopped; returns the stop flag. */
static int
archiver_sleep(struct archiver *a, int64_t wait_s)
{
	struct timespec ts;
	int s;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)wait_s;
	pthread_mutex_lock(&a->mu);
	while (!a->stop && pthread_cond_timedwait(&a->cv, &a->mu, &ts) == 0)
		;
	s = a->stop;
	pthread_mutex_unlock(&a->mu);
	return s;
}

/* One run now; returns the seconds until the next. */
static int64_t
archiver_once(struct archiver *a, struct store *st)
{
	struct gb_err err = { 0, "" };
	struct archive_opts o;
	struct archive_counts c;
	int64_t interval = a->cfg->retention_interval_s;
	int rc;

	memset(&o, 0, sizeof(o));
	o.stopping = archiver_stopping;
	o.arg = a;
	rc = arch_run(a->cfg, st, NULL, 0, &o, &c, &err);
	if (rc) {
		log_warnx("event=archive status=failed contexts=%lld batches=%lld objects=%lld "
		    "reason=\"%s\"", (long long)c.deleted[0], (long long)c.deleted[1],
		    (long long)c.objects, err.msg);
		return interval < ARCHIVER_RETRY_S ? interval : ARCHIVER_RETRY_S;
	}
	log_info("event=archive status=ok contexts=%lld batches=%lld objects=%lld bytes=%lld "
	    "kept=%lld", (long long)c.deleted[0], (long long)c.deleted[1], (long long)c.objects,
	    (long long)c.bytes, (long long)(c.kept[0] + c.kept[1]));
	return interval;
}

/* Seconds until the run due after the last one on record (0: now). */
static int64_t
archiver_due(const struct archiver *a, struct store *st)
{
	struct gb_err err = { 0, "" };
	struct store_job job;
	int found = 0;
	int64_t left, interval = a->cfg->retention_interval_s;

	if (store_job_get(st, "archive", &job, &found, &err) || !found || job.started_ms == 0)
		return a->cfg->retention_interval_s < ARCHIVER_FIRST_S ?
		    a->cfg->retention_interval_s : ARCHIVER_FIRST_S;
	/* a failed or stopped run is tried again within the hour, not a whole interval later */
	if (!job.ok && interval > ARCHIVER_RETRY_S)
		interval = ARCHIVER_RETRY_S;
	left = (job.started_ms + interval * 1000 - gb_now_ms()) / 1000;
	return left > 0 ? left : 0;
}

static void *
archiver_main(void *arg)
{
	struct archiver *a = arg;
	struct store_opts so = { 0, 1, a->cfg->sync_full, a->cfg->busy_timeout_ms, 0, 0 };
	struct gb_err err = { 0, "" };
	struct store *st = NULL;
	int64_t wait_s;

	if (store_open(&st, a->cfg->db_path, &so, &err)) {
		log_warnx("event=archive status=failed reason=\"%s\"", err.msg);
		return NULL;
	}
	for (wait_s = archiver_due(a, st); !archiver_sleep(a, wait_s); )
		wait_s = archiver_once(a, st);
	store_close(st);
	return NULL;
}

int
archiver_start(struct archiver **out, const struct config *cfg, struct gb_err *err)
{
	pthread_condattr_t ca;
	struct archiver *a;

	*out = NULL;
	if (cfg->retention_interval_s <= 0)
		return 0;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return gb_errf(err, GB_ENOMEM, "out of memory");
	a->cfg = cfg;
	pthread_mutex_init(&a->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&a->thread, NULL, archiver_main, a) != 0) {
		pthread_cond_destroy(&a->cv);
		pthread_mutex_destroy(&a->mu);
		free(a);
		return gb_errf(err, GB_EIO, "cannot start the archive thread");
	}
	*out = a;
	return 0;
}

void
archiver_stop(struct archiver *a)
{
	if (a == NULL)
		return;
	pthread_mutex_lock(&a->mu);
	a->stop = 1;
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
	pthread_join(a->thread, NULL);
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->mu);
	free(a);
}
