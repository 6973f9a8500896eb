/*
 * t104-storage-multiprocess - two processes on one database file: run-batch
 * of 3,000 contexts with 2 workers while other processes run `genbox stats`
 * and small `genbox import organizations -` in a loop for the whole run.
 * Afterwards the file passes integrity_check, every context completed
 * exactly once, every import succeeded (it waited its turn behind the busy
 * pool) and run-batch exited 0. A process that opened and closed the file
 * outside SQLite would drop the pool's POSIX locks, and another process
 * would checkpoint and delete the WAL under the running writer.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "tap.h"
#include "util.h"

#define N 3000
#define ROUNDS 2

static char dir[4096], stop[4200];

/* The demo organization, allowed a batch of N. */
static const char org_doc[] =
	"{\"_id\":\"org_123\",\"name\":\"Acme Corporation\",\"plan\":\"enterprise\","
	"\"created_at\":\"2022-10-01T10:00:00Z\",\"updated_at\":\"2023-06-01T09:15:00Z\","
	"\"settings\":{\"max_contexts_per_day\":1000000,\"max_batch_size\":100000,"
	"\"allowed_models\":[\"gpt-3.5-turbo\",\"gpt-4\"],"
	"\"default_pipeline_id\":\"pipe_article_generation\"}}\n";

/* Run argv with stdin from in (NULL: /dev/null), stdout and stderr to out; its exit status. */
static int
run_to(char *const argv[], const char *in, const char *out)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		if (freopen(in ? in : "/dev/null", "r", stdin) == NULL || freopen(out, "w", stdout) == NULL ||
		    dup2(fileno(stdout), 2) < 0)
			_exit(126);
		execv(argv[0], argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/*
 * A child that runs `genbox stats` (imports == 0) or imports one small
 * organization with a new _id (imports != 0) until the stop file exists.
 * Its exit status is 0 when every command succeeded; the first failure's
 * output goes to dir/fail-<who>. It writes how many commands ran and how
 * many failed to dir/count-<who>.
 */
static pid_t
looper(char *dbarg, int imports, int who)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	{
		char in[4400], out[4400], path[4400], doc[256], *text;
		char *argv_stats[] = { (char *)util_genbox(), dbarg, "stats", NULL };
		char *argv_import[] = { (char *)util_genbox(), dbarg, "import", "organizations", in, NULL };
		int n = 0, failed = 0, status;
		struct stat sb;
		FILE *f;

		snprintf(in, sizeof(in), "%s/in-%d.json", dir, who);
		snprintf(out, sizeof(out), "%s/out-%d", dir, who);
		while (stat(stop, &sb) < 0) {
			if (imports) {
				int len = snprintf(doc, sizeof(doc),
				    "{\"_id\":\"org_t104_%d_%d\",\"name\":\"Org %d\"}\n", who, n, n);

				util_write_file(in, doc, (size_t)len);
				status = run_to(argv_import, NULL, out);
			} else {
				status = run_to(argv_stats, NULL, out);
			}
			n++;
			if (status != 0 && !failed++) {
				text = util_read_file(out, NULL);
				snprintf(path, sizeof(path), "%s/fail-%d", dir, who);
				if ((f = fopen(path, "w")) != NULL) {
					fprintf(f, "exit %d: %s", status, text ? text : "");
					fclose(f);
				}
				free(text);
			}
		}
		snprintf(path, sizeof(path), "%s/count-%d", dir, who);
		if ((f = fopen(path, "w")) != NULL) {
			fprintf(f, "%d %d\n", n, failed);
			fclose(f);
		}
		_exit(failed ? 1 : 0);
	}
}

static int
read_pair(int who, int *n, int *failed)
{
	char path[4400], *text;
	int rc;

	snprintf(path, sizeof(path), "%s/count-%d", dir, who);
	if ((text = util_read_file(path, NULL)) == NULL)
		return -1;
	rc = sscanf(text, "%d %d", n, failed) == 2 ? 0 : -1;
	free(text);
	return rc;
}

static char *
first_failure(int who)
{
	char path[4400];

	snprintf(path, sizeof(path), "%s/fail-%d", dir, who);
	return util_read_file(path, NULL);
}

/* One integer from the file, read with SQLite; -1 on error. */
static int64_t
db_int(const char *db, const char *sql, const char *arg)
{
	sqlite3_stmt *s = NULL;
	sqlite3 *h;
	int64_t v = -1;

	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(h, sql, -1, &s, NULL) == SQLITE_OK) {
		if (arg)
			sqlite3_bind_text(s, 1, arg, -1, SQLITE_STATIC);
		if (sqlite3_step(s) == SQLITE_ROW)
			v = sqlite3_column_int64(s, 0);
	}
	sqlite3_finalize(s);
	sqlite3_close(h);
	return v;
}

static char *
db_text(const char *db, const char *sql)
{
	sqlite3_stmt *s = NULL;
	sqlite3 *h;
	char *v = NULL;

	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(h, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
		v = strdup((const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	sqlite3_close(h);
	return v;
}

/* Contexts that ended more than once in run-batch's trace, and how many ended. */
static void
trace_ends(const char *trace, int *ends, int *twice)
{
	char *text = util_read_file(trace, NULL), *line, *save = NULL;
	cJSON *seen = cJSON_CreateObject();

	*ends = *twice = 0;
	for (line = text ? strtok_r(text, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
		char what[16], id[128];

		if (sscanf(line, "%15s %127s", what, id) != 2 || strcmp(what, "end") != 0)
			continue;
		(*ends)++;
		if (cJSON_GetObjectItemCaseSensitive(seen, id))
			(*twice)++;
		else
			cJSON_AddTrueToObject(seen, id);
	}
	cJSON_Delete(seen);
	free(text);
}

static void
round_run(int round)
{
	char db[4400], dbarg[4500], input[4400], out[4400], trace[4400], batch[128] = "", *text, *p;
	char *argv[] = { (char *)util_genbox(), dbarg, "run-batch", "--pipeline", "pipe_article_generation",
		"--input", input, "--workers", "2", "--trace", trace, NULL };
	pid_t run, loop[3];
	int st, ends, twice, total_imports = 0;
	struct run r;
	char *integrity;
	FILE *f;

	snprintf(db, sizeof(db), "%s/r%d.db", dir, round);
	snprintf(dbarg, sizeof(dbarg), "--db=%s", db);
	snprintf(input, sizeof(input), "%s/in%d.jsonl", dir, round);
	snprintf(out, sizeof(out), "%s/run%d.out", dir, round);
	snprintf(trace, sizeof(trace), "%s/trace%d.log", dir, round);
	snprintf(stop, sizeof(stop), "%s/stop%d", dir, round);
	util_genbox_run(&r, NULL, dbarg, "demo", NULL);
	if (r.status != 0)
		tap_bail("demo: %s", r.err);
	run_free(&r);
	util_genbox_run(&r, org_doc, dbarg, "import", "--upsert", "organizations", "-", NULL);
	if (r.status != 0)
		tap_bail("import org: %s", r.err);
	run_free(&r);
	if ((f = fopen(input, "w")) == NULL)
		tap_bail("cannot write %s", input);
	for (int i = 0; i < N; i++)
		fprintf(f, "{\"data\":{\"title\":\"Two processes %d\",\"keywords\":[\"wal\"]}}\n", i);
	fclose(f);

	run = util_spawn(argv, out, 0);
	loop[0] = looper(dbarg, 0, round * 10 + 0);
	loop[1] = looper(dbarg, 1, round * 10 + 1);
	loop[2] = looper(dbarg, 1, round * 10 + 2);
	waitpid(run, &st, 0);
	util_write_file(stop, "", 0);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "round %d: run-batch beside other processes exits 0 (status %d)",
	    round, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	for (int i = 0; i < 3; i++) {
		int lst, n = 0, failed = -1;
		char *why;

		waitpid(loop[i], &lst, 0);
		read_pair(round * 10 + i, &n, &failed);
		why = first_failure(round * 10 + i);
		ok(WIFEXITED(lst) && WEXITSTATUS(lst) == 0 && failed == 0 && n > 0,
		    "round %d: all %d `genbox %s` beside the run succeeded", round, n, i ? "import" : "stats");
		if (why)
			tap_diag("first failure: %s", why);
		free(why);
		if (i > 0)
			total_imports += n;
	}
	integrity = db_text(db, "PRAGMA integrity_check");
	is_str(integrity ? integrity : "(cannot read)", "ok", "round %d: PRAGMA integrity_check is ok", round);
	free(integrity);
	text = util_read_file(out, NULL);
	if (text && (p = strstr(text, "batch batch_")) != NULL && strchr(p + 6, ':'))
		snprintf(batch, sizeof(batch), "%.*s", (int)(strchr(p + 6, ':') - (p + 6)), p + 6);
	free(text);
	is_int(db_int(db, "SELECT count(*) FROM contexts WHERE batch_id = ?1 AND status = 'completed'", batch), N,
	    "round %d: all %d contexts of batch '%s' completed", round, N, batch);
	is_int(db_int(db, "SELECT count(*) FROM contexts WHERE status IN ('pending', 'processing')", NULL), 0,
	    "round %d: none is left pending or processing", round);
	trace_ends(trace, &ends, &twice);
	is_int(ends, N, "round %d: the trace shows %d ends", round, N);
	is_int(twice, 0, "round %d: no context ended twice", round);
	is_int(db_int(db, "SELECT count(*) FROM organizations WHERE _id LIKE 'org_t104_%'", NULL), total_imports,
	    "round %d: every imported organization is there (%d)", round, total_imports);
}

int
main(void)
{
	unsetenv("GENBOX_GENERATOR_URL");
	snprintf(dir, sizeof(dir), "%s", util_tmpdir());
	for (int round = 1; round <= ROUNDS; round++)
		round_run(round);
	return tap_done();
}
