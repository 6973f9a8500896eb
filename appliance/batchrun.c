/*
 * batchrun.c - genbox run-batch: create a batch from a file of contexts and
 * run it to completion with the worker pool, with no server.
 *
 * The contexts and their batch are written in one transaction (batchfile.c),
 * so a bad line, or a file past the organization's limits, creates nothing.
 * Everything that can be checked is checked before that. Progress is read back
 * from storage (the batch's status summary), so what is shown is what is
 * recorded. Ctrl-C stops claiming, lets running contexts end within a grace
 * period and gives the rest back to the queue (SIGTERM does the same);
 * `run-batch --resume BATCH` picks up from there, as it does after a crash
 * (leases of dead processes are reclaimed at once). Exit status: 0 all
 * completed, 2 some failed or cancelled, 1 any error (input, limits, storage, a
 * failed pool), 128 + the signal after SIGINT (130) or SIGTERM (143).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "../base/gbtime.h"
#include "../base/json.h"
#include "../storage/access.h"
#include "../storage/docs.h"
#include "../storage/store.h"
#include "batchfile.h"
#include "cli.h"
#include "generator.h"
#include "engine/pool.h"
#include "poolcfg.h"

#define GRACE_MS 10000

/* SIGINT or SIGTERM, once one came: the run stops and exits 128 + it */
static volatile sig_atomic_t stop_signal;

static void
batchrun_on_signal(int sig)
{
	stop_signal = sig;
}

struct batchrun_opts {
	const char *pipeline, *input, *org, *user, *out, *resume, *trace;
	int workers;
};

/* One run: what the steps of cmd_run_batch share. */
struct batchrun {
	const struct config *cfg;
	struct batchrun_opts o;
	struct store_opts so;
	struct store *st;
	struct pool *run;
	char batch[STORE_ID_MAX];
	char org[STORE_ID_MAX];
	size_t count;			/* contexts created from the file */
	int64_t counts[CTX_STATUS_COUNT], total;	/* the batch's last summary */
	int64_t done0;			/* ended before this run */
	int64_t t0;			/* monotonic ms at the start of the run */
	int tty;			/* progress as a bar */
	int pool_failed;		/* a commit of the pool failed */
	int ended;			/* the pool ran the batch to its end */
};

static int
batchrun_get_doc(struct store *st, enum coll c, const char *id, cJSON **out, struct gb_err *err)
{
	char *text = NULL;
	int rc;

	*out = NULL;
	if ((rc = store_get(st, c, id, &text, err)))
		return rc;
	*out = cJSON_Parse(text);
	free(text);
	return *out ? 0 : gb_errf(err, GB_EIO, "stored document '%s' is not JSON", id);
}

static void
batchrun_fmt_duration(double s, char *out, size_t len)
{
	long t = (long)(s + 0.5);

	if (t >= 3600)
		snprintf(out, len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
	else
		snprintf(out, len, "%ld:%02ld", t / 60, t % 60);
}

static void
batchrun_progress(int tty, const int64_t c[CTX_STATUS_COUNT], int64_t total, int64_t done0,
    double elapsed)
{
	int64_t done = c[CTX_COMPLETED] + c[CTX_FAILED] + c[CTX_CANCELLED];
	double rate = elapsed > 0 ? (double)(done - done0) / elapsed : 0;
	char eta[32] = "?";

	if (rate > 0)
		batchrun_fmt_duration((double)(total - done) / rate, eta, sizeof(eta));
	if (tty) {
		char bar[31];
		int fill = total ? (int)(30 * done / total) : 30;

		for (int i = 0; i < 30; i++)
			bar[i] = i < fill ? '#' : '-';
		bar[30] = '\0';
		fprintf(stderr, "\r[%s] %lld/%lld  %lld completed  %lld failed  %.1f/s  ETA %s   ",
		    bar, (long long)done, (long long)total, (long long)c[CTX_COMPLETED],
		    (long long)c[CTX_FAILED], rate, eta);
	} else {
		fprintf(stderr,
		    "progress: %lld/%lld done, %lld completed, %lld failed, %lld running, %.1f/s, "
		    "ETA %s\n", (long long)done, (long long)total, (long long)c[CTX_COMPLETED],
		    (long long)c[CTX_FAILED], (long long)c[CTX_PROCESSING], rate, eta);
	}
	fflush(stderr);
}

struct batchrun_writer {
	const char *dir;
	int written, failed;
};

static int
batchrun_write_file(void *arg, const char *doc, size_t len)
{
	struct batchrun_writer *w = arg;
	cJSON *ctx = cJSON_ParseWithLength(doc, len);
	const char *id = json_get_str(ctx, "_id");
	const cJSON *fc =
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(ctx, "data"),
	    "formatted_content");
	const char *content = json_get_str(fc, "content");
	char path[4096];
	FILE *f = NULL;
	int n;

	if (id && content) {
		/* an _id that cannot be a file name is counted as a file not written */
		n = snprintf(path, sizeof(path), "%s/%s.md", w->dir, id);
		if (strchr(id, '/') == NULL && n > 0 && (size_t)n < sizeof(path) &&
		    (f = fopen(path, "wb")) != NULL && fputs(content, f) >= 0 && fclose(f) == 0)
			w->written++;
		else {
			if (f)
				fclose(f);
			w->failed++;
		}
	}
	cJSON_Delete(ctx);
	return 0;
}

/* ---- the command: options, checks, the batch, the run, the end ---- */

static void
batchrun_init(struct batchrun *b, const struct config *cfg)
{
	memset(b, 0, sizeof(*b));
	b->cfg = cfg;
	b->o.workers = cfg->workers;
	b->so = (struct store_opts){ 1, 1, cfg->sync_full, cfg->busy_timeout_ms, 0, 0 };
	b->tty = isatty(STDERR_FILENO);
}

static void
batchrun_release(struct batchrun *b)
{
	pool_free(b->run);
	store_close(b->st);
}

static int
batchrun_parse_workers(struct batchrun_opts *o, const char *arg, struct gb_err *err)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < 1 || v > POOL_MAX_WORKERS)
		return gb_errf(err, GB_EINVAL, "--workers takes a number from 1 to %d",
		    POOL_MAX_WORKERS);
	o->workers = (int)v;
	return 0;
}

/* The command line into o; *hint is set when "Try --help" should follow the message. */
static int
batchrun_parse_opts(struct batchrun_opts *o, int argc, char **argv, int *hint, struct gb_err *err)
{
	static const struct option longs[] = {
		{ "pipeline", required_argument, NULL, 'p' },
		{ "input", required_argument, NULL, 'i' },
		{ "org", required_argument, NULL, 'o' },
		{ "user", required_argument, NULL, 'u' },
		{ "out", required_argument, NULL, 'd' },
		{ "workers", required_argument, NULL, 'w' },
		{ "resume", required_argument, NULL, 'r' },
		{ "trace", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		switch (ch) {
		case 'p': o->pipeline = optarg; break;
		case 'i': o->input = optarg; break;
		case 'o': o->org = optarg; break;
		case 'u': o->user = optarg; break;
		case 'd': o->out = optarg; break;
		case 'r': o->resume = optarg; break;
		case 't': o->trace = optarg; break;
		case 'w':
			if (batchrun_parse_workers(o, optarg, err))
				return err->code;
			break;
		default:
			*hint = 1;
			return gb_errf(err, GB_EINVAL, "%s '%s'",
			    ch == ':' ? "missing value for" : "unknown option", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return gb_errf(err, GB_EINVAL, "unexpected argument '%s'", argv[optind]);
	if (o->resume && (o->pipeline || o->input))
		return gb_errf(err, GB_EINVAL,
		    "--resume takes no --pipeline or --input: the batch has them");
	if (!o->resume && (!o->pipeline || !o->input))
		return gb_errf(err, GB_EINVAL,
		    "needs --pipeline ID and --input FILE.jsonl (or --resume BATCH_ID)");
	return 0;
}

/* --resume: the batch must exist. */
static int
batchrun_check_resume(struct batchrun *b, struct gb_err *err)
{
	struct gb_err inner = { 0, "" };
	cJSON *doc = NULL;

	if (batchrun_get_doc(b->st, COLL_BATCHES, b->o.resume, &doc, &inner))
		return gb_errf(err, inner.code, "%s",
		    inner.code == GB_ENOTFOUND ? "no such batch" : inner.msg);
	snprintf(b->batch, sizeof(b->batch), "%s", b->o.resume);
	cJSON_Delete(doc);
	return 0;
}

/*
 * The organization's settings can be read, and the pipeline's models are
 * allowed: said before anything starts (the batch's creation checks again).
 */
static int
batchrun_check_rules(struct batchrun *b, struct gb_err *err)
{
	struct submit_limits lim;
	int rc;

	if ((rc = submit_read_limits(b->st, b->org, &lim, err)) == 0)
		rc = submit_check_pipeline(b->st, b->org, b->o.pipeline, &lim, err);
	submit_limits_release(&lim);
	return rc;
}

/* A new batch: the pipeline exists and belongs to the batch's organization. */
static int
batchrun_check_new(struct batchrun *b, struct gb_err *err)
{
	struct gb_err inner = { 0, "" };
	const char *owner;
	cJSON *p = NULL;
	int rc = 0;

	if (batchrun_get_doc(b->st, COLL_PIPELINES, b->o.pipeline, &p, &inner))
		return gb_errf(err, inner.code, "%s", inner.code == GB_ENOTFOUND ?
		    "unknown pipeline (see 'genbox export pipelines')" : inner.msg);
	owner = json_get_str(p, "organization_id");
	snprintf(b->org, sizeof(b->org), "%s", b->o.org ? b->o.org : b->cfg->organization[0] ?
	    b->cfg->organization : owner ? owner : "");
	if (owner && strcmp(owner, b->org) != 0)
		rc = gb_errf(err, GB_EINVAL, "pipeline '%s' belongs to organization '%s', not '%s'",
		    b->o.pipeline, owner, b->org);
	else if (b->org[0] == '\0')
		rc = gb_errf(err, GB_EINVAL, "no organization: give --org");
	else
		rc = batchrun_check_rules(b, err);
	cJSON_Delete(p);
	return rc;
}

/* --out: a folder this process may write in, created when missing. */
static int
batchrun_check_out(const char *dir, struct gb_err *err)
{
	struct stat sb;

	if (stat(dir, &sb) < 0) {
		if (errno != ENOENT || mkdir(dir, 0755) < 0)
			return gb_errf(err, GB_EIO, "--out: cannot create '%s': %s", dir,
			    strerror(errno));
		return 0;
	}
	if (!S_ISDIR(sb.st_mode))
		return gb_errf(err, GB_EINVAL, "--out: '%s' is not a directory", dir);
	if (access(dir, W_OK | X_OK) < 0)
		return gb_errf(err, GB_EIO, "--out: cannot write in '%s': %s", dir,
		    strerror(errno));
	return 0;
}

/* Everything that can be checked before anything is written. */
static int
batchrun_check(struct batchrun *b, struct gb_err *err)
{
	const struct batchrun_opts *o = &b->o;

	if (o->out && batchrun_check_out(o->out, err))
		return err->code;
	if (poolcfg_check(b->cfg, err))
		return err->code;
	if (store_open(&b->st, b->cfg->db_path, &b->so, err))
		return err->code;
	return o->resume ? batchrun_check_resume(b, err) : batchrun_check_new(b, err);
}

static int
batchrun_create(struct batchrun *b, struct gb_err *err)
{
	struct batchfile_opts fo = { b->o.input, b->o.pipeline, b->org, b->o.user };
	struct gb_err inner = { 0, "" };

	if (batchfile_create(b->st, &fo, b->batch, &b->count, &inner))
		return gb_errf(err, inner.code, "%s (nothing created)", inner.msg);
	printf("batch %s: %zu contexts from %s, pipeline %s\n", b->batch, b->count, b->o.input,
	    b->o.pipeline);
	fflush(stdout);
	return 0;
}

/* The generator and the pool; Ctrl-C and SIGTERM from here on stop the run cleanly. */
static int
batchrun_start(struct batchrun *b, struct gb_err *err)
{
	const struct config *cfg = b->cfg;
	struct pool_config rc;
	struct sigaction sa;

	if (poolcfg_fill(&rc, cfg, &b->so, b->o.workers, err))
		return err->code;
	rc.batch_id = b->batch;
	rc.trace_path = b->o.trace;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = batchrun_on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (pool_start(&b->run, &rc, err))
		return err->code;
	fprintf(stderr, "running with %d worker%s, up to %d context%s in flight, generator %s\n",
	    b->o.workers, b->o.workers == 1 ? "" : "s", rc.max_inflight,
	    rc.max_inflight == 1 ? "" : "s",
	    cfg->generator_url[0] ? cfg->generator_url : "offline-draft");
	return 0;
}

static int
batchrun_read_counts(struct batchrun *b, struct gb_err *err)
{
	if (store_batch_summary(b->st, b->batch, b->counts, err))
		return err->code;
	b->total = 0;
	for (int s = 0; s < CTX_STATUS_COUNT; s++)
		b->total += b->counts[s];
	return 0;
}

static int64_t
batchrun_done(const struct batchrun *b)
{
	return b->counts[CTX_COMPLETED] + b->counts[CTX_FAILED] + b->counts[CTX_CANCELLED];
}

/*
 * Show progress until every context of the batch has ended or a signal
 * came; a storage error or a failed pool ends the wait with an error.
 */
static int
batchrun_wait(struct batchrun *b, struct gb_err *err)
{
	int64_t last_print = 0;
	char why[256];

	b->t0 = gb_mono_ms();
	if (batchrun_read_counts(b, err))
		return err->code;
	b->done0 = batchrun_done(b);
	for (;;) {
		int64_t now = gb_mono_ms();
		int finished;

		if (batchrun_read_counts(b, err))
			return err->code;
		finished = b->counts[CTX_PENDING] + b->counts[CTX_PROCESSING] == 0;
		if (finished || stop_signal || now - last_print >= (b->tty ? 200 : 5000)) {
			batchrun_progress(b->tty, b->counts, b->total, b->done0,
			    (double)(now - b->t0) / 1000.0);
			last_print = now;
		}
		if (finished || stop_signal)
			break;
		if (pool_failed(b->run, why, sizeof(why))) {
			b->pool_failed = 1;
			return gb_errf(err, GB_EIO, "%s", why);
		}
		usleep(100 * 1000);
	}
	if (b->tty)
		fputc('\n', stderr);
	return 0;
}

/* After a signal: running contexts get a grace period, the rest go back to the queue. */
static int
batchrun_interrupted(struct batchrun *b, int *status, struct gb_err *err)
{
	fprintf(stderr, "%s: letting running contexts finish (up to %d s)...\n",
	    stop_signal == SIGTERM ? "terminated" : "interrupted", GRACE_MS / 1000);
	pool_stop(b->run, GRACE_MS);
	if (batchrun_read_counts(b, err))
		return err->code;
	printf("batch %s: stopped with %lld of %lld done; resume with: genbox --db %s run-batch "
	    "--resume %s\n",
	    b->batch, (long long)batchrun_done(b), (long long)b->total, b->cfg->db_path, b->batch);
	*status = 128 + stop_signal;	/* 130 for Ctrl-C, 143 for SIGTERM */
	return 0;
}

/* Each completed context's formatted content into the --out folder. */
static int
batchrun_write_out(struct batchrun *b, struct gb_err *err)
{
	struct batchrun_writer w = { b->o.out, 0, 0 };
	cJSON *f = cJSON_CreateObject();
	char *filter = NULL;
	int rc;

	/* built by cJSON: the batch's _id is a value, whatever it holds */
	if (cJSON_AddStringToObject(f, "batch_id", b->batch) == NULL ||
	    cJSON_AddStringToObject(f, "status", "completed") == NULL ||
	    (filter = cJSON_PrintUnformatted(f)) == NULL)
		rc = gb_errf(err, GB_ENOMEM, "out of memory");
	else
		rc = store_each(b->st, COLL_CONTEXTS, filter, 0, batchrun_write_file, &w, err);
	free(filter);
	cJSON_Delete(f);
	if (rc)
		return rc;
	printf("wrote %d file%s to %s\n", w.written, w.written == 1 ? "" : "s", b->o.out);
	if (w.failed)
		return gb_errf(err, GB_EIO, "could not write %d file%s in '%s'", w.failed,
		    w.failed == 1 ? "" : "s", b->o.out);
	return 0;
}

/* The batch ran to its end: the summary, the files, the exit status. */
static int
batchrun_finish(struct batchrun *b, int *status, struct gb_err *err)
{
	double secs;

	pool_stop(b->run, 0);
	b->ended = 1;
	if (batchrun_read_counts(b, err))
		return err->code;
	if (b->o.out && batchrun_write_out(b, err))
		return err->code;
	secs = (double)(gb_mono_ms() - b->t0) / 1000.0;
	printf("batch %s: %lld contexts: %lld completed, %lld failed, %lld cancelled in %.1f s "
	    "(%.1f/s)\n",
	    b->batch, (long long)b->total, (long long)b->counts[CTX_COMPLETED],
	    (long long)b->counts[CTX_FAILED], (long long)b->counts[CTX_CANCELLED], secs,
	    secs > 0 ? (double)(batchrun_done(b) - b->done0) / secs : 0.0);
	*status = b->counts[CTX_FAILED] + b->counts[CTX_CANCELLED] > 0 ? 2 : 0;
	return 0;
}

/* The message of an error that ended a run, with how to go on where there is a batch to resume. */
static void
batchrun_report(const struct batchrun *b, const struct gb_err *err)
{
	if (b->pool_failed)
		cli_fail("run-batch",
		    "%s; stopped, and what was not written is run again by: genbox --db %s "
		    "run-batch --resume %s", err->msg, b->cfg->db_path, b->batch);
	else if (b->run && !b->ended)
		cli_fail("run-batch",
		    "%s; stopped: resume with: genbox --db %s run-batch --resume %s", err->msg,
		    b->cfg->db_path, b->batch);
	else
		cli_fail("run-batch", "%s", err->msg);
}

int
cmd_run_batch(const struct config *cfg, int argc, char **argv)
{
	struct gb_err err = { 0, "" };
	struct batchrun b;
	int status = 1, hint = 0;

	batchrun_init(&b, cfg);
	if (batchrun_parse_opts(&b.o, argc, argv, &hint, &err)) {
		cli_fail("run-batch", "%s", err.msg);
		if (hint)
			fprintf(stderr, "Try 'genbox run-batch --help'.\n");
		return 1;
	}
	if (batchrun_check(&b, &err) || (!b.o.resume && batchrun_create(&b, &err)) ||
	    batchrun_start(&b, &err) || batchrun_wait(&b, &err) ||
	    (stop_signal ? batchrun_interrupted(&b, &status, &err) :
	    batchrun_finish(&b, &status, &err))) {
		batchrun_report(&b, &err);
		status = 1;
	}
	batchrun_release(&b);
	return status;
}
