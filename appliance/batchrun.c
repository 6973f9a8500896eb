/*
 * batchrun.c - genbox run-batch: create a batch from a file of contexts and
 * run it to completion with the worker pool, with no server.
 *
 * The contexts and their batch are written in one transaction, so a bad
 * line imports nothing. Progress is read back from storage (the batch's
 * status summary), so what is shown is what is recorded. Ctrl-C stops
 * claiming, lets running contexts end within a grace period and gives the
 * rest back to the queue; `run-batch --resume BATCH` picks up from there, as
 * it does after a crash (leases of dead processes are reclaimed at once).
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "../base/buf.h"
#include "../base/gbtime.h"
#include "cli.h"
#include "generator.h"
#include "runner.h"

#define GRACE_MS 10000

static volatile sig_atomic_t interrupted;

static void
on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

struct opts {
	const char *pipeline, *input, *org, *user, *out, *resume, *trace;
	int workers;
};

static const char *
jstr(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int
get_doc(struct store *st, enum coll c, const char *id, cJSON **out, struct gb_err *err)
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

/* Read the input file into contexts of a new batch; returns the batch's _id in batch. */
static int
create_batch(struct store *st, const struct opts *o, const char *org, char batch[STORE_ID_MAX], size_t *count,
    char *where, size_t wlen, struct gb_err *err)
{
	cJSON *bdoc = NULL, *ids = cJSON_CreateArray();
	struct buf line;
	size_t lineno = 0;
	FILE *f;
	char *text;
	int rc;

	*count = 0;
	where[0] = '\0';
	if (strcmp(o->input, "-") == 0)
		f = stdin;
	else if ((f = fopen(o->input, "rb")) == NULL)
		return gb_errf(err, GB_ENOTFOUND, "cannot open '%s': %s", o->input, strerror(errno));
	buf_init(&line, STORE_MAX_DOC);
	if ((rc = store_begin(st, err)))
		goto out;
	/* the batch first, to learn its _id; it is rewritten with its contexts at the end */
	bdoc = cJSON_CreateObject();
	cJSON_AddStringToObject(bdoc, "name", o->input);
	cJSON_AddStringToObject(bdoc, "organization_id", org);
	if (o->user)
		cJSON_AddStringToObject(bdoc, "created_by", o->user);
	cJSON_AddStringToObject(bdoc, "status", "pending");
	cJSON_AddStringToObject(bdoc, "pipeline_id", o->pipeline);
	cJSON_AddItemToObject(bdoc, "metadata", cJSON_CreateObject());
	cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(bdoc, "metadata"), "source", "run-batch");
	text = cJSON_PrintUnformatted(bdoc);
	rc = store_put(st, COLL_BATCHES, text, strlen(text), STORE_INSERT, batch, err);
	free(text);
	if (rc)
		goto fail;
	cJSON_AddStringToObject(bdoc, "_id", batch);
	for (;;) {
		char id[STORE_ID_MAX];
		struct store_field set[3];
		const char *p;
		cJSON *ctx;
		int nf;

		rc = buf_getline(&line, f);
		lineno++;
		if (rc == 0)
			break;
		snprintf(where, wlen, "line %zu: ", lineno);
		if (rc < 0) {
			rc = rc == GB_ETOOBIG ? gb_errf(err, rc, "document exceeds the limit of %u bytes", STORE_MAX_DOC) :
			    gb_errf(err, rc, "read error: %s", strerror(errno));
			goto fail;
		}
		for (p = buf_str(&line); isspace((unsigned char)*p); p++)
			;
		if (*p == '\0')
			continue;
		if ((ctx = cJSON_ParseWithLength(buf_str(&line), line.len)) == NULL || !cJSON_IsObject(ctx)) {
			cJSON_Delete(ctx);
			rc = gb_errf(err, GB_EINVAL, "not a JSON object");
			goto fail;
		}
		if (jstr(ctx, "organization_id") && strcmp(jstr(ctx, "organization_id"), org) != 0) {
			rc = gb_errf(err, GB_EINVAL, "field 'organization_id': '%s' is not the batch's organization '%s'",
			    jstr(ctx, "organization_id"), org);
			cJSON_Delete(ctx);
			goto fail;
		}
		if (jstr(ctx, "status") && strcmp(jstr(ctx, "status"), "pending") != 0) {
			rc = gb_errf(err, GB_EINVAL, "field 'status': a new context is pending, not '%s'", jstr(ctx, "status"));
			cJSON_Delete(ctx);
			goto fail;
		}
		/* set on the line's own text: every other value keeps its exact text */
		nf = 0;
		set[nf++] = (struct store_field){ "batch_id", batch };
		if (!jstr(ctx, "organization_id"))
			set[nf++] = (struct store_field){ "organization_id", org };
		if (o->user && !cJSON_GetObjectItemCaseSensitive(ctx, "user_id"))
			set[nf++] = (struct store_field){ "user_id", o->user };
		cJSON_Delete(ctx);
		if ((rc = store_set_fields(st, buf_str(&line), line.len, set, nf, &text, err)) == 0)
			rc = store_put(st, COLL_CONTEXTS, text, strlen(text), STORE_INSERT, id, err);
		free(text);
		if (rc)
			goto fail;
		cJSON_AddItemToArray(ids, cJSON_CreateString(id));
		(*count)++;
	}
	where[0] = '\0';
	if (*count == 0) {
		rc = gb_errf(err, GB_EINVAL, "'%s' holds no contexts", o->input);
		goto fail;
	}
	cJSON_AddItemToObject(bdoc, "context_ids", ids);
	ids = NULL;
	cJSON_AddNumberToObject(bdoc, "context_count", (double)*count);
	cJSON_AddNumberToObject(bdoc, "completed_count", 0);
	cJSON_AddNumberToObject(bdoc, "failed_count", 0);
	text = cJSON_PrintUnformatted(bdoc);
	rc = store_put(st, COLL_BATCHES, text, strlen(text), STORE_REPLACE, NULL, err);
	free(text);
	if (rc == 0 && (rc = store_commit(st, err)) == 0)
		goto out;
fail:
	store_rollback(st);
out:
	cJSON_Delete(ids);
	cJSON_Delete(bdoc);
	buf_release(&line);
	if (f != stdin)
		fclose(f);
	return rc;
}

static void
fmt_duration(double s, char *out, size_t len)
{
	long t = (long)(s + 0.5);

	if (t >= 3600)
		snprintf(out, len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
	else
		snprintf(out, len, "%ld:%02ld", t / 60, t % 60);
}

static void
progress(int tty, const int64_t c[CTX_STATUS_COUNT], int64_t total, int64_t done0, double elapsed)
{
	int64_t done = c[CTX_COMPLETED] + c[CTX_FAILED] + c[CTX_CANCELLED];
	double rate = elapsed > 0 ? (double)(done - done0) / elapsed : 0;
	char eta[32] = "?";

	if (rate > 0)
		fmt_duration((double)(total - done) / rate, eta, sizeof(eta));
	if (tty) {
		char bar[31];
		int fill = total ? (int)(30 * done / total) : 30;

		for (int i = 0; i < 30; i++)
			bar[i] = i < fill ? '#' : '-';
		bar[30] = '\0';
		fprintf(stderr, "\r[%s] %lld/%lld  %lld completed  %lld failed  %.1f/s  ETA %s   ", bar,
		    (long long)done, (long long)total, (long long)c[CTX_COMPLETED], (long long)c[CTX_FAILED], rate, eta);
	} else {
		fprintf(stderr, "progress: %lld/%lld done, %lld completed, %lld failed, %lld running, %.1f/s, ETA %s\n",
		    (long long)done, (long long)total, (long long)c[CTX_COMPLETED], (long long)c[CTX_FAILED],
		    (long long)c[CTX_PROCESSING], rate, eta);
	}
	fflush(stderr);
}

struct writer {
	const char *dir;
	int written, failed;
};

static int
write_output(void *arg, const char *doc, size_t len)
{
	struct writer *w = arg;
	cJSON *ctx = cJSON_ParseWithLength(doc, len);
	const char *id = jstr(ctx, "_id");
	const cJSON *fc = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(ctx, "data"),
	    "formatted_content");
	const char *content = jstr(fc, "content");
	char path[4096];
	FILE *f;

	if (id && content && strchr(id, '/') == NULL && strcmp(id, "..") != 0) {
		snprintf(path, sizeof(path), "%s/%s.md", w->dir, id);
		if ((f = fopen(path, "wb")) != NULL && fputs(content, f) >= 0 && fclose(f) == 0)
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

int
cmd_run_batch(const struct config *cfg, int argc, char **argv)
{
	static const struct option longs[] = {
		{ "pipeline", required_argument, NULL, 'p' }, { "input", required_argument, NULL, 'i' },
		{ "org", required_argument, NULL, 'o' }, { "user", required_argument, NULL, 'u' },
		{ "out", required_argument, NULL, 'd' }, { "workers", required_argument, NULL, 'w' },
		{ "resume", required_argument, NULL, 'r' }, { "trace", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { 0 };
	struct gb_err err = { 0, "" };
	struct store_opts so = { 1, 1, cfg->sync_full, cfg->busy_timeout_ms, 0 };
	struct store *st = NULL;
	struct generator *gen = NULL;
	struct runner *run = NULL;
	struct runner_config rc_cfg;
	struct gen_config gc;
	struct sigaction sa;
	char batch[STORE_ID_MAX], org[STORE_ID_MAX] = "", where[64] = "", why[256] = "";
	int64_t counts[CTX_STATUS_COUNT], total = 0, done0;
	int ch, status = 1, tty = isatty(STDERR_FILENO);
	int64_t t0, last_print = 0;
	size_t count = 0;

	o.workers = cfg->workers;
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		switch (ch) {
		case 'p': o.pipeline = optarg; break;
		case 'i': o.input = optarg; break;
		case 'o': o.org = optarg; break;
		case 'u': o.user = optarg; break;
		case 'd': o.out = optarg; break;
		case 'r': o.resume = optarg; break;
		case 't': o.trace = optarg; break;
		case 'w': {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (*end || v < 1 || v > RUNNER_MAX_WORKERS)
				return cli_fail("run-batch", "--workers takes a number from 1 to %d", RUNNER_MAX_WORKERS);
			o.workers = (int)v;
			break;
		}
		default:
			cli_fail("run-batch", "%s '%s'", ch == ':' ? "missing value for" : "unknown option", argv[optind - 1]);
			fprintf(stderr, "Try 'genbox run-batch --help'.\n");
			return 1;
		}
	}
	if (optind < argc)
		return cli_fail("run-batch", "unexpected argument '%s'", argv[optind]);
	if (o.resume && (o.pipeline || o.input))
		return cli_fail("run-batch", "--resume takes no --pipeline or --input: the batch has them");
	if (!o.resume && (!o.pipeline || !o.input))
		return cli_fail("run-batch", "needs --pipeline ID and --input FILE.jsonl (or --resume BATCH_ID)");
	if (o.out && mkdir(o.out, 0755) < 0 && errno != EEXIST)
		return cli_fail("run-batch", "cannot create '%s': %s", o.out, strerror(errno));
	if (store_open(&st, cfg->db_path, &so, &err))
		return cli_fail("run-batch", "%s", err.msg);

	if (o.resume) {
		cJSON *b = NULL;

		if (get_doc(st, COLL_BATCHES, o.resume, &b, &err)) {
			cli_fail("run-batch", "%s", err.code == GB_ENOTFOUND ? "no such batch" : err.msg);
			goto out;
		}
		snprintf(batch, sizeof(batch), "%s", o.resume);
		cJSON_Delete(b);
	} else {
		cJSON *p = NULL;

		if (get_doc(st, COLL_PIPELINES, o.pipeline, &p, &err)) {
			cli_fail("run-batch", "%s", err.code == GB_ENOTFOUND ?
			    "unknown pipeline (see 'genbox export pipelines')" : err.msg);
			goto out;
		}
		snprintf(org, sizeof(org), "%s", o.org ? o.org : cfg->organization[0] ? cfg->organization :
		    jstr(p, "organization_id") ? jstr(p, "organization_id") : "");
		if (jstr(p, "organization_id") && strcmp(jstr(p, "organization_id"), org) != 0) {
			cli_fail("run-batch", "pipeline '%s' belongs to organization '%s', not '%s'", o.pipeline,
			    jstr(p, "organization_id"), org);
			cJSON_Delete(p);
			goto out;
		}
		cJSON_Delete(p);
		if (org[0] == '\0') {
			cli_fail("run-batch", "no organization: give --org");
			goto out;
		}
		if (create_batch(st, &o, org, batch, &count, where, sizeof(where), &err)) {
			cli_fail("run-batch", "%s%s (nothing created)", where, err.msg);
			goto out;
		}
		printf("batch %s: %zu contexts from %s, pipeline %s\n", batch, count, o.input, o.pipeline);
		fflush(stdout);
	}

	memset(&gc, 0, sizeof(gc));
	gc.url = cfg->generator_url;
	gc.key = cfg->generator_key;
	gc.timeout_ms = cfg->generator_timeout_ms;
	gc.connect_timeout_ms = cfg->generator_connect_timeout_ms;
	gc.max_concurrent = cfg->generator_max_concurrent;
	if (generator_open(&gen, &gc, &err)) {
		cli_fail("run-batch", "%s", err.msg);
		goto out;
	}
	runner_config_defaults(&rc_cfg);
	rc_cfg.db_path = cfg->db_path;
	rc_cfg.store = so;
	rc_cfg.workers = o.workers;
	rc_cfg.max_retries = cfg->max_retries;
	rc_cfg.lease_ms = (int64_t)cfg->lease_seconds * 1000;
	rc_cfg.batch_id = batch;
	rc_cfg.gen = gen;
	rc_cfg.trace_path = o.trace;
	if (cfg->retry_base_ms > 0)
		rc_cfg.retry_base_ms = cfg->retry_base_ms;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (runner_start(&run, &rc_cfg, &err)) {
		gen = NULL;	/* the runner took it, and closed it on failure */
		cli_fail("run-batch", "%s", err.msg);
		goto out;
	}
	gen = NULL;
	fprintf(stderr, "running with %d worker%s, generator %s\n", o.workers, o.workers == 1 ? "" : "s",
	    cfg->generator_url[0] ? cfg->generator_url : "offline-draft");
	t0 = gb_mono_ms();
	store_batch_summary(st, batch, counts, &err);
	done0 = counts[CTX_COMPLETED] + counts[CTX_FAILED] + counts[CTX_CANCELLED];
	for (;;) {
		int64_t now = gb_mono_ms();

		gb_err_clear(&err);
		if (store_batch_summary(st, batch, counts, &err))
			break;
		total = 0;
		for (int s = 0; s < CTX_STATUS_COUNT; s++)
			total += counts[s];
		if (counts[CTX_PENDING] + counts[CTX_PROCESSING] == 0 || interrupted ||
		    now - last_print >= (tty ? 200 : 5000)) {
			progress(tty, counts, total, done0, (double)(now - t0) / 1000.0);
			last_print = now;
		}
		if (counts[CTX_PENDING] + counts[CTX_PROCESSING] == 0 || interrupted)
			break;
		if (runner_failed(run, why, sizeof(why)))
			break;
		usleep(100 * 1000);
	}
	if (tty)
		fputc('\n', stderr);
	if (err.code) {
		runner_stop(run, 0);
		cli_fail("run-batch", "%s", err.msg);
		goto out;
	}
	if (runner_failed(run, why, sizeof(why))) {
		runner_stop(run, 0);
		cli_fail("run-batch", "%s; stopped, and what was not written is run again by: genbox --db %s "
		    "run-batch --resume %s", why, cfg->db_path, batch);
		status = 1;
		goto out;
	}
	if (interrupted) {
		fprintf(stderr, "interrupted: letting running contexts finish (up to %d s)...\n", GRACE_MS / 1000);
		runner_stop(run, GRACE_MS);
		if (store_batch_summary(st, batch, counts, &err)) {
			cli_fail("run-batch", "%s", err.msg);
			goto out;
		}
		printf("batch %s: stopped with %lld of %lld done; resume with: genbox --db %s run-batch --resume %s\n",
		    batch, (long long)(counts[CTX_COMPLETED] + counts[CTX_FAILED] + counts[CTX_CANCELLED]),
		    (long long)total, cfg->db_path, batch);
		status = 130;
		goto out;
	}
	runner_stop(run, 0);
	if (o.out) {
		struct writer w = { o.out, 0, 0 };
		char filter[STORE_ID_MAX + 64];

		snprintf(filter, sizeof(filter), "{\"batch_id\":\"%s\",\"status\":\"completed\"}", batch);
		gb_err_clear(&err);
		if (store_each(st, COLL_CONTEXTS, filter, 0, write_output, &w, &err))
			cli_fail("run-batch", "%s", err.msg);
		printf("wrote %d file%s to %s\n", w.written, w.written == 1 ? "" : "s", o.out);
		if (w.failed)
			cli_fail("run-batch", "could not write %d file%s in '%s'", w.failed, w.failed == 1 ? "" : "s", o.out);
	}
	{
		double secs = (double)(gb_mono_ms() - t0) / 1000.0;

		printf("batch %s: %lld contexts: %lld completed, %lld failed, %lld cancelled in %.1f s (%.1f/s)\n",
		    batch, (long long)total, (long long)counts[CTX_COMPLETED], (long long)counts[CTX_FAILED],
		    (long long)counts[CTX_CANCELLED], secs,
		    secs > 0 ? (double)(counts[CTX_COMPLETED] + counts[CTX_FAILED] - done0) / secs : 0.0);
	}
	status = counts[CTX_FAILED] + counts[CTX_CANCELLED] > 0 ? 2 : 0;
out:
	runner_free(run);
	generator_close(gen);
	store_close(st);
	return status;
}
