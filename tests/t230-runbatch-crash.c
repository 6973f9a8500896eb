/*
 * t230-runbatch-crash - run-batch over 2,000 contexts (template, the
 * offline-draft generator, transformer), killed with SIGKILL at five random
 * moments and resumed each time: every context completes exactly once, no
 * component runs again once it was recorded, and the batch counts are exact;
 * then Ctrl-C, a full disk, and bad input.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "tap.h"
#include "util.h"

#define N 2000
#define KILLS 5
#define FULL_N 2000
#define FULL_LIMIT (8 << 20)	/* bytes any file may reach in the disk-full test */

static char db[4096], dbarg[4200], trace[4096], input[4096];
/* The demo's org_123 allows 50 contexts in a batch and 1000 a day: these runs need more. */
static void
org_without_limits(char *arg)
{
	const char *org = "{\"_id\":\"org_123\",\"name\":\"Acme Corporation\",\"settings\":{"
	    "\"max_batch_size\":100000,\"max_contexts_per_day\":1000000,"
	    "\"default_pipeline_id\":\"pipe_article_generation\"}}\n";
	struct run r;

	util_genbox_run(&r, org, arg, "import", "--upsert", "organizations", "-", NULL);
	if (r.status != 0)
		tap_bail("organization: %s", r.err);
	run_free(&r);
}

/* Contexts of the batch that ended, read straight from the file. */
static int
ended_in(const char *path, const char *batch)
{
	sqlite3 *h;
	sqlite3_stmt *s;
	int n = -1;

	if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		return -1;
	sqlite3_busy_timeout(h, 2000);
	if (sqlite3_prepare_v2(h, "SELECT count(*) FROM contexts WHERE batch_id = ?1 AND status IN "
	    "('completed','failed','cancelled')", -1, &s, NULL) == SQLITE_OK) {
		sqlite3_bind_text(s, 1, batch, -1, SQLITE_STATIC);
		if (sqlite3_step(s) == SQLITE_ROW)
			n = sqlite3_column_int(s, 0);
		sqlite3_finalize(s);
	}
	sqlite3_close(h);
	return n;
}

static int
ended(const char *batch)
{
	return ended_in(db, batch);
}

/* The batch's _id from run-batch's first line: "batch batch_...: 2000 contexts ..." */
static int
batch_from(const char *out, char *batch, size_t len)
{
	for (int i = 0; i < 500; i++) {
		char *text = util_read_file(out, NULL);
		const char *p = text ? strstr(text, "batch batch_") : NULL;

		if (p && strchr(p + 6, ':')) {
			snprintf(batch, len, "%.*s", (int)(strchr(p + 6, ':') - (p + 6)), p + 6);
			free(text);
			return 0;
		}
		free(text);
		usleep(20 * 1000);
	}
	return -1;
}

static void
check_trace(void)
{
	char *text = util_read_file(trace, NULL), *line, *save = NULL;
	cJSON *done = cJSON_CreateObject(), *ends = cJSON_CreateObject();
	int runs = 0, reruns = 0, double_ends = 0, lines = 0;

	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char what[16], id[128], detail[64], key[200];

		if (sscanf(line, "%15s %127s %63s", what, id, detail) != 3)
			continue;
		lines++;
		snprintf(key, sizeof(key), "%s %s", id, detail);
		if (strcmp(what, "run") == 0) {
			runs++;
			if (cJSON_GetObjectItemCaseSensitive(done, key))
				reruns++;
		} else if (strcmp(what, "done") == 0) {
			cJSON_AddTrueToObject(done, key);
		} else if (strcmp(what, "end") == 0) {
			if (cJSON_GetObjectItemCaseSensitive(ends, id))
				double_ends++;
			cJSON_AddTrueToObject(ends, id);
		}
	}
	ok(lines > 0 && runs >= 3 * N, "the trace shows %d component runs for %d contexts", runs, N);
	is_int(reruns, 0, "no component ran again after it was recorded");
	is_int(double_ends, 0, "no context ended twice");
	cJSON_Delete(done);
	cJSON_Delete(ends);
	free(text);
}

#define INTERRUPT_N 2000

/*
 * Ctrl-C (SIGINT) and SIGTERM: running contexts finish or go back to the
 * queue; nothing is left processing; the exit status is 128 + the signal.
 */
static void
test_interrupt(int sig, const char *name)
{
	char in2[4200], out[4200], batch[128] = "", *text;
	char *argv_new[] = { (char *)util_genbox(), dbarg, "run-batch", "--pipeline", "pipe_article_generation",
		"--input", in2, "--workers", "2", NULL };
	char *argv_resume[] = { (char *)util_genbox(), dbarg, "run-batch", "--resume", batch, NULL };
	FILE *f;
	pid_t pid;
	int st, now = 0;

	snprintf(in2, sizeof(in2), "%s/in2-%d.jsonl", util_tmpdir(), sig);
	snprintf(out, sizeof(out), "%s/int-%d.out", util_tmpdir(), sig);
	f = fopen(in2, "w");
	/* enough that the signal comes seconds before the end, even on a loaded machine */
	for (int i = 0; i < INTERRUPT_N; i++)
		fprintf(f, "{\"data\":{\"title\":\"Interrupted %d\"}}\n", i);
	fclose(f);
	pid = util_spawn(argv_new, out, 0);
	if (batch_from(out, batch, sizeof(batch)) < 0)
		tap_bail("run-batch printed no batch id");
	for (int i = 0; i < 3000 && (now = ended(batch)) < 100; i++)
		usleep(2000);
	kill(pid, sig);
	waitpid(pid, &st, 0);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 128 + sig, "%s: run-batch stops with exit status %d", name, 128 + sig);
	text = util_read_file(out, NULL);
	like(text, sig == SIGTERM ? "terminated: letting running contexts finish" :
	    "interrupted: letting running contexts finish", "it lets running contexts finish");
	like(text ? strstr(text, "running contexts finish") : NULL, "resume with: genbox",
	    "then says how to resume");
	free(text);
	{
		sqlite3 *h;
		sqlite3_stmt *s;
		int processing = -1, done = 0;

		sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL);
		sqlite3_prepare_v2(h, "SELECT sum(status = 'processing'), sum(status = 'completed') FROM contexts "
		    "WHERE batch_id = ?1", -1, &s, NULL);
		sqlite3_bind_text(s, 1, batch, -1, SQLITE_STATIC);
		if (sqlite3_step(s) == SQLITE_ROW) {
			processing = sqlite3_column_int(s, 0);
			done = sqlite3_column_int(s, 1);
		}
		sqlite3_finalize(s);
		sqlite3_close(h);
		is_int(processing, 0, "no context is left processing (%d completed, the rest back in the queue)", done);
		ok(done < INTERRUPT_N, "it stopped before the end");
	}
	pid = util_spawn(argv_resume, out, 0);
	waitpid(pid, &st, 0);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "--resume finishes the batch");
	is_int(ended(batch), INTERRUPT_N, "all %d ended", INTERRUPT_N);
}

/*
 * A full disk, here a file size limit on the process (EFBIG, as real as
 * ENOSPC to SQLite): run-batch stops with a message and exit status 1;
 * --resume then runs every context once, no component twice.
 */
static void
test_disk_full(void)
{
	char fdb[4200], fdbarg[4300], in4[4200], tr4[4200], out[4200], batch[128] = "", *text;
	char *argv_new[] = { (char *)util_genbox(), fdbarg, "run-batch", "--pipeline", "pipe_article_generation",
		"--input", in4, "--trace", tr4, NULL };
	char *argv_resume[] = { (char *)util_genbox(), fdbarg, "run-batch", "--resume", batch, "--trace", tr4, NULL };
	struct run r;
	FILE *f;
	pid_t pid;
	int st, twice = 0;

	snprintf(fdb, sizeof(fdb), "%s/full.db", util_tmpdir());
	snprintf(fdbarg, sizeof(fdbarg), "--db=%s", fdb);
	snprintf(in4, sizeof(in4), "%s/in4.jsonl", util_tmpdir());
	snprintf(tr4, sizeof(tr4), "%s/trace4.log", util_tmpdir());
	snprintf(out, sizeof(out), "%s/full.out", util_tmpdir());
	util_genbox_run(&r, NULL, fdbarg, "demo", NULL);
	run_free(&r);
	org_without_limits(fdbarg);
	f = fopen(in4, "w");
	for (int i = 0; i < FULL_N; i++)
		fprintf(f, "{\"data\":{\"title\":\"Full disk %d\"}}\n", i);
	fclose(f);
	pid = util_spawn(argv_new, out, FULL_LIMIT);	/* room for the batch, not for all of its output */
	waitpid(pid, &st, 0);
	text = util_read_file(out, NULL);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 1, "disk full: run-batch stops with exit status 1");
	like(text, "stopped, and what was not written is run again by: genbox --db", "and says so, and how to resume");
	if (batch_from(out, batch, sizeof(batch)) < 0)
		tap_bail("run-batch printed no batch id: %s", text);
	free(text);
	{
		int n = ended_in(fdb, batch);

		ok(n >= 0 && n < FULL_N, "it stopped before the end (%d of %d ended)", n, FULL_N);
	}
	pid = util_spawn(argv_resume, out, 0);
	waitpid(pid, &st, 0);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "--resume with room again finishes the batch");
	is_int(ended_in(fdb, batch), FULL_N, "all %d ended", FULL_N);
	/* the trace holds only what was committed: a component recorded twice would show twice */
	text = util_read_file(tr4, NULL);
	{
		char *line, *save = NULL, (*seen)[64] = calloc(FULL_N * 4, 64);
		int nseen = 0;

		for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			if (strncmp(line, "done ", 5) != 0 && strncmp(line, "end ", 4) != 0)
				continue;
			for (int i = 0; i < nseen; i++)
				if (strcmp(seen[i], line) == 0)
					twice++;
			if (nseen < FULL_N * 4)
				snprintf(seen[nseen++], 64, "%s", line);
		}
		ok(nseen >= FULL_N * 4, "the trace shows every context's three components and end (%d lines)", nseen);
		free(seen);
	}
	is_int(twice, 0, "none of them twice");
	free(text);
}

static void
test_bad_input(void)
{
	char in3[4200];
	struct run r;
	const char *t = "{\"data\":{\"title\":\"ok\"}}\n{\"data\":{\"title\":\"bad\"},\"metadata\":{\"priority\":\"high\"}}\n";

	snprintf(in3, sizeof(in3), "%s/in3.jsonl", util_tmpdir());
	util_write_file(in3, t, strlen(t));
	util_genbox_run(&r, NULL, dbarg, "run-batch", "--pipeline", "pipe_article_generation", "--input", in3, NULL);
	is_int(r.status, 1, "run-batch with a bad line: exit 1");
	like(r.err, "line 2: field 'metadata.priority': expected an integer, got string (nothing created)",
	    "the message names the line and the field");
	run_free(&r);
	util_genbox_run(&r, NULL, dbarg, "export", "contexts", "--filter", "{\"data.title\":\"ok\"}", NULL);
	is_str(r.out, "", "and its good first line was not kept");
	run_free(&r);
	t = "{\"data\":{\"title\":\"exact\"},\"metadata\":{\"priority\":1,\"n\":9007199254740993},"
	    "\"user_id\":\"user_456\"}\n";
	util_write_file(in3, t, strlen(t));
	util_genbox_run(&r, NULL, dbarg, "run-batch", "--pipeline", "pipe_article_generation", "--input", in3, NULL);
	is_int(r.status, 0, "a context with an integer beyond 2^53 runs");
	run_free(&r);
	util_genbox_run(&r, NULL, dbarg, "export", "contexts", "--filter", "{\"data.title\":\"exact\"}", NULL);
	like(r.out, "\"n\":9007199254740993}", "and keeps that integer's exact text");
	like(r.out, "\"batch_id\":\"batch_", "beside the batch_id run-batch set");
	like(r.out, "\"organization_id\":\"org_123\"", "and the batch's organization");
	run_free(&r);
	util_genbox_run(&r, NULL, dbarg, "run-batch", "--pipeline", "pipe_nope", "--input", in3, NULL);
	ok(r.status == 1 && strstr(r.err, "unknown pipeline"), "an unknown pipeline: exit 1 and a message");
	run_free(&r);
	util_genbox_run(&r, NULL, dbarg, "run-batch", "--resume", "batch_nope", NULL);
	ok(r.status == 1 && strstr(r.err, "no such batch"), "resuming an unknown batch: exit 1 and a message");
	run_free(&r);
}

int
main(void)
{
	char batch[128] = "", out[4096];
	struct run r;
	FILE *f;
	int mid_run = 0;

	{
		/* the kill points are random: the seed is shown, and GENBOX_TEST_SEED repeats a run */
		const char *env = getenv("GENBOX_TEST_SEED");
		char *end = NULL;
		unsigned long seed = env && *env ? strtoul(env, &end, 10) : 0;

		if (env && *env && (end == env || *end != '\0'))
			tap_bail("GENBOX_TEST_SEED '%s' is not a number", env);
		if (!env || !*env)
			seed = ((unsigned long)time(NULL) ^ (unsigned long)getpid()) & 0xffffffffUL;
		tap_diag("seed %lu (GENBOX_TEST_SEED=%lu repeats this run)", seed, seed);
		srand((unsigned)seed);
	}
	snprintf(db, sizeof(db), "%s/crash.db", util_tmpdir());
	snprintf(dbarg, sizeof(dbarg), "--db=%s", db);
	snprintf(trace, sizeof(trace), "%s/trace.log", util_tmpdir());
	snprintf(input, sizeof(input), "%s/in.jsonl", util_tmpdir());
	snprintf(out, sizeof(out), "%s/run.out", util_tmpdir());
	util_genbox_run(&r, NULL, dbarg, "demo", NULL);
	if (r.status != 0)
		tap_bail("demo: %s", r.err);
	run_free(&r);
	org_without_limits(dbarg);
	if ((f = fopen(input, "w")) == NULL)
		tap_bail("cannot write %s", input);
	for (int i = 0; i < N; i++)
		fprintf(f, "{\"_id\":\"ctx_crash_%04d\",\"data\":{\"title\":\"Crash test %d\",\"keywords\":[\"sqlite\","
		    "\"crash\"],\"target_audience\":\"operators\",\"tone\":\"plain\"},\"metadata\":{\"priority\":%d}}\n",
		    i, i, i % 7);
	fclose(f);

	for (int k = 0; k <= KILLS; k++) {
		char *argv_new[] = { (char *)util_genbox(), dbarg, "run-batch", "--pipeline", "pipe_article_generation",
			"--input", input, "--workers", "3", "--trace", trace, NULL };
		char *argv_resume[] = { (char *)util_genbox(), dbarg, "run-batch", "--resume", batch, "--workers", "3",
			"--trace", trace, NULL };
		pid_t pid = util_spawn(k == 0 ? argv_new : argv_resume, out, 0);
		int st, before, target, now = 0;

		if (k == 0 && batch_from(out, batch, sizeof(batch)) < 0)
			tap_bail("run-batch printed no batch id");
		if (k == KILLS) {
			waitpid(pid, &st, 0);
			ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the last resume runs the batch to completion, exit 0");
			break;
		}
		/* kill at a random point of progress, a few hundred contexts on */
		before = ended(batch);
		target = (before < 0 ? 0 : before) + 50 + rand() % 300;
		if (target > N - 100)
			target = N - 100;
		for (int i = 0; i < 3000; i++) {
			now = ended(batch);
			if (now >= target || waitpid(pid, &st, WNOHANG) == pid)
				break;
			usleep(1000 * (1 + rand() % 5));
		}
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		now = ended(batch);
		if (WIFSIGNALED(st) && now < N)
			mid_run++;
		tap_diag("kill %d: %d of %d contexts had ended", k + 1, now, N);
	}
	is_int(mid_run, KILLS, "all %d kills struck in the middle of the run", KILLS);

	/* what the database says */
	{
		char filter[256];
		int completed = 0, exact = 1;
		char *line, *save = NULL;

		snprintf(filter, sizeof(filter), "{\"batch_id\":\"%s\"}", batch);
		util_genbox_run(&r, NULL, dbarg, "export", "contexts", "--filter", filter, NULL);
		for (line = strtok_r(r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			cJSON *c = cJSON_Parse(line), *proc = cJSON_GetObjectItemCaseSensitive(c, "processing");
			cJSON *cc = cJSON_GetObjectItemCaseSensitive(proc, "completed_components");
			char *s = cJSON_PrintUnformatted(cc);
			const cJSON *status = cJSON_GetObjectItemCaseSensitive(c, "status");

			if (cJSON_IsString(status) && strcmp(status->valuestring, "completed") == 0)
				completed++;
			if (s == NULL || strcmp(s, "[\"template\",\"ai_generator\",\"transformer\"]") != 0) {
				if (exact)
					tap_diag("%s", line);
				exact = 0;
			}
			free(s);
			cJSON_Delete(c);
		}
		run_free(&r);
		is_int(completed, N, "all %d contexts are completed", N);
		ok(exact, "each recorded each component exactly once, in order");

		util_genbox_run(&r, NULL, dbarg, "export", "batches", "--filter", "{\"pipeline_id\":\"pipe_article_generation\","
		    "\"metadata.source\":\"run-batch\"}", NULL);
		{
			cJSON *b = cJSON_Parse(r.out);

			is_int(cJSON_GetObjectItemCaseSensitive(b, "context_count")->valueint, N, "batch context_count");
			is_int(cJSON_GetObjectItemCaseSensitive(b, "completed_count")->valueint, N, "batch completed_count is exact");
			is_int(cJSON_GetObjectItemCaseSensitive(b, "failed_count")->valueint, 0, "batch failed_count is 0");
			is_str(cJSON_GetObjectItemCaseSensitive(b, "status")->valuestring, "completed", "batch status completed");
			cJSON_Delete(b);
		}
		run_free(&r);
	}
	check_trace();
	test_interrupt(SIGINT, "Ctrl-C");
	test_interrupt(SIGTERM, "SIGTERM");
	test_disk_full();
	test_bad_input();
	return tap_done();
}
