/*
 * t235-runbatch-two-processes - two run-batch processes on one database
 * file at once, each with its own batch: both complete, the file passes
 * PRAGMA integrity_check, and every context of both batches ran each of its
 * components exactly once and ended exactly once.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "tap.h"
#include "util.h"

#define N 1500

static char db[4096], dbarg[4200];

static void
genbox_ok(const char *what, const char *in, const char *cmd, const char *a1, const char *a2, const char *a3)
{
	struct run r;

	util_genbox_run(&r, in, dbarg, cmd, a1, a2, a3, NULL);
	if (r.status != 0)
		tap_bail("%s: %s%s", what, r.out, r.err);
	run_free(&r);
}

static char *
sql_text(const char *sql)
{
	sqlite3 *h;
	sqlite3_stmt *s;
	char *out = NULL;

	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		return NULL;
	sqlite3_busy_timeout(h, 10000);
	if (sqlite3_prepare_v2(h, sql, -1, &s, NULL) == SQLITE_OK) {
		if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
			out = strdup((const char *)sqlite3_column_text(s, 0));
		sqlite3_finalize(s);
	}
	sqlite3_close(h);
	return out;
}

/* From a trace: lines "run ID COMP", "done ID COMP", "end ID STATUS"; counts of repeats. */
static void
check_trace(const char *path, const char *name)
{
	char *text = util_read_file(path, NULL), *line, *save = NULL;
	cJSON *done = cJSON_CreateObject(), *ends = cJSON_CreateObject();
	int nends = 0, double_ends = 0, double_done = 0;

	if (text == NULL)
		text = strdup("");
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char what[16], id[128], detail[64], key[200];

		if (sscanf(line, "%15s %127s %63s", what, id, detail) != 3)
			continue;
		snprintf(key, sizeof(key), "%s %s", id, detail);
		if (strcmp(what, "done") == 0) {
			if (cJSON_GetObjectItemCaseSensitive(done, key))
				double_done++;
			else
				cJSON_AddTrueToObject(done, key);
		} else if (strcmp(what, "end") == 0) {
			nends++;
			if (cJSON_GetObjectItemCaseSensitive(ends, id))
				double_ends++;
			else
				cJSON_AddTrueToObject(ends, id);
		}
	}
	is_int(nends, N, "%s: its trace shows %d contexts ended", name, N);
	is_int(double_ends, 0, "%s: none ended twice", name);
	is_int(double_done, 0, "%s: no component was recorded twice", name);
	cJSON_Delete(done);
	cJSON_Delete(ends);
	free(text);
}

int
main(void)
{
	char in[2][4200], out[2][4200], tr[2][4200], *text;
	pid_t pid[2];
	int st[2];

	snprintf(db, sizeof(db), "%s/two.db", util_tmpdir());
	snprintf(dbarg, sizeof(dbarg), "--db=%s", db);
	genbox_ok("demo", NULL, "demo", NULL, NULL, NULL);
	genbox_ok("organization", "{\"_id\":\"org_123\",\"name\":\"Acme Corporation\",\"settings\":{"
	    "\"max_batch_size\":100000,\"max_contexts_per_day\":1000000}}\n",
	    "import", "--upsert", "organizations", "-");
	for (int k = 0; k < 2; k++) {
		FILE *f;

		snprintf(in[k], sizeof(in[k]), "%s/in%d.jsonl", util_tmpdir(), k);
		snprintf(out[k], sizeof(out[k]), "%s/run%d.out", util_tmpdir(), k);
		snprintf(tr[k], sizeof(tr[k]), "%s/trace%d.log", util_tmpdir(), k);
		if ((f = fopen(in[k], "w")) == NULL)
			tap_bail("cannot write %s", in[k]);
		for (int i = 0; i < N; i++)
			fprintf(f, "{\"_id\":\"ctx_p%d_%04d\",\"data\":{\"title\":\"Process %d context %d\"}}\n", k, i, k, i);
		fclose(f);
	}
	/*
	 * Each creates its batch while the other may be running: a writer
	 * waits for its turn (whether a busy pool lets it in within the default
	 * 5 s is the storage tests' question, not this one's).
	 */
	setenv("GENBOX_STORAGE_BUSY_TIMEOUT_MS", "120000", 1);
	for (int k = 0; k < 2; k++) {
		char *argv[] = { (char *)util_genbox(), dbarg, "run-batch", "--pipeline", "pipe_article_generation",
			"--input", in[k], "--workers", "2", "--trace", tr[k], NULL };

		pid[k] = util_spawn(argv, out[k], 0);
	}
	for (int k = 0; k < 2; k++) {
		waitpid(pid[k], &st[k], 0);
		text = util_read_file(out[k], NULL);
		ok(WIFEXITED(st[k]) && WEXITSTATUS(st[k]) == 0, "run-batch %d of 2 exits 0", k + 1);
		like(text, "1500 completed, 0 failed, 0 cancelled", "and completed all of its %d contexts", N);
		if (!WIFEXITED(st[k]) || WEXITSTATUS(st[k]) != 0)
			tap_diag("%s", text ? text : "");
		free(text);
	}
	text = sql_text("PRAGMA integrity_check");
	is_str(text, "ok", "the file passes PRAGMA integrity_check");
	free(text);
	text = sql_text("SELECT count(*) || ' ' || sum(status = 'completed') || ' ' || "
	    "sum(json_extract(doc, '$.processing.completed_components') = "
	    "'[\"template\",\"ai_generator\",\"transformer\"]') FROM contexts WHERE _id LIKE 'ctx_p%'");
	is_str(text, "3000 3000 3000", "all 3000 contexts completed, each recording its three components once");
	free(text);
	text = sql_text("SELECT count(DISTINCT batch_id) FROM contexts WHERE _id LIKE 'ctx_p%'");
	is_str(text, "2", "in two batches");
	free(text);
	check_trace(tr[0], "process 1");
	check_trace(tr[1], "process 2");
	return tap_done();
}
