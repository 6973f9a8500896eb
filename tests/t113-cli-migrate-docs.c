/*
 * t113-cli-migrate-docs.c - `genbox migrate docs` on a database of 20,000
 * contexts (15,000 in the old shape) with sync's outbox recording:
 * SIGKILLed once its checkpoint has moved halfway, then run again. Every selected
 * document is migrated exactly once (its timings present, its updated_at
 * new, its outbox row bumped once), nothing else changes (an export of
 * every other document and collection before and after), and the command's
 * words, messages and exit statuses (usage errors and failures 1).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "../base/buf.h"
#include "../storage/outbox.h"
#include "../storage/store.h"
#include "tap.h"
#include "util.h"

#define N 20000
#define SELECTED(i) ((i) % 20 < 15)	/* completed without timings */
#define NSEL (N / 20 * 15)

static char db[4096], dbarg[4200];
static char *before_at[N];		/* each selected context's updated_at before */

static void
make_input(const char *path)
{
	static const char *const st[] = { "completed", "pending", "failed", "completed" };
	struct buf b;

	buf_init(&b, 64u << 20);
	for (int i = 0; i < N; i++) {
		int k = i % 20, kind = k < 15 ? 0 : k < 17 ? 1 : k < 19 ? 2 : 3;

		buf_printf(&b, "{\"_id\":\"ctx_%06d\",\"organization_id\":\"org_1\",\"status\":"
		    "\"%s\",\"type\":\"article\",\"data\":{\"title\":\"T %d\",\"n\":"
		    "9007199254740993},\"processing\":{\"completed_components\":[\"template\","
		    "\"ai_generator\",\"transformer\"]%s}}\n", i, st[kind], i,
		    kind == 3 ? ",\"component_timings\":{\"template\":7}" : "");
	}
	if (util_write_file(path, buf_str(&b), b.len))
		tap_bail("write %s", path);
	buf_release(&b);
}

/* An empty database with outbox recording on, then the contexts and the demo documents. */
static void
setup(void)
{
	struct store_opts o = { 1, 1, 0, 10000, 0, 0 };
	struct gb_err err = { 0, "" };
	struct store *st = NULL;
	char input[4200];
	struct run r;

	snprintf(db, sizeof(db), "%s/t113.db", util_tmpdir());
	snprintf(dbarg, sizeof(dbarg), "--db=%s", db);
	snprintf(input, sizeof(input), "%s/contexts.jsonl", util_tmpdir());
	if (store_open(&st, db, &o, &err) || store_sync_enable(st, NULL, &err))
		tap_bail("sync enable: %s", err.msg);
	store_close(st);
	make_input(input);
	util_genbox_run(&r, NULL, dbarg, "import", "contexts", input, NULL);
	if (r.status != 0)
		tap_bail("import: %s", r.err);
	run_free(&r);
	util_genbox_run(&r, NULL, dbarg, "demo", NULL);
	if (r.status != 0)
		tap_bail("demo: %s", r.err);
	run_free(&r);
}

static int
ctx_index(const char *line)
{
	const char *p = strstr(line, "\"_id\":\"ctx_");

	return p && p[11] >= '0' && p[11] <= '9' ? atoi(p + 11) : -1;
}

/*
 * Every document but the selected contexts, as exported; the selected
 * ones' updated_at into at (when not NULL).
 */
static char *
export_others(char **at)
{
	struct buf b;
	char *s;

	buf_init(&b, 256u << 20);
	for (int c = 0; c < COLL_COUNT; c++) {
		struct run r;
		char *line, *save = NULL;

		util_genbox_run(&r, NULL, dbarg, "export", coll_name((enum coll)c), NULL);
		if (r.status != 0)
			tap_bail("export: %s", r.err);
		for (line = strtok_r(r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			int i = c == COLL_CONTEXTS ? ctx_index(line) : -1;
			cJSON *j;

			if (i < 0 || i >= N || !SELECTED(i)) {
				buf_printf(&b, "%s\n", line);
				continue;
			}
			if (at && (j = cJSON_Parse(line)) != NULL) {
				at[i] = strdup(cJSON_GetStringValue(cJSON_GetObjectItem(j,
				    "updated_at")));
				cJSON_Delete(j);
			}
		}
		run_free(&r);
	}
	s = strdup(buf_str(&b));
	buf_release(&b);
	return s;
}

static int64_t
sql_int(sqlite3 *h, const char *q)
{
	sqlite3_stmt *stmt = NULL;
	int64_t v = -1;

	if (sqlite3_prepare_v2(h, q, -1, &stmt, NULL) == SQLITE_OK &&
	    sqlite3_step(stmt) == SQLITE_ROW)
		v = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return v;
}

/* Start the migration, SIGKILL it once its checkpoint has moved. */
static void
kill_halfway(sqlite3 *h)
{
	char out[4200], *argv[] = { (char *)util_genbox(), dbarg, "migrate", "docs",
		"--batch-size", "100", NULL };
	struct timespec ts = { 0, 2 * 1000 * 1000 };
	int64_t moved = 0, tries = 0;
	pid_t pid;
	int status;

	snprintf(out, sizeof(out), "%s/first.out", util_tmpdir());
	pid = util_spawn(argv, out, 0);
	while ((moved = sql_int(h, "SELECT migrated FROM doc_migrations WHERE name = "
	    "'component_timings'")) < NSEL / 2 && tries++ < 30000)
		nanosleep(&ts, NULL);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
	    "the first run is killed with SIGKILL once its checkpoint is halfway (%lld)",
	    (long long)moved);
	moved = sql_int(h, "SELECT migrated FROM doc_migrations WHERE name = "
	    "'component_timings'");
	ok(moved > 0 && moved < NSEL && moved % 100 == 0,
	    "... halfway: %lld of %d migrated, in whole batches", (long long)moved, NSEL);
	is_int(sql_int(h, "SELECT done FROM doc_migrations"), 0, "... the migration not done");
	is_int(sql_int(h, "SELECT running FROM box_jobs WHERE job = 'docmigrate'"), 1,
	    "... the job docmigrate still shows the run begun");
	is_int(sql_int(h, "SELECT count(*) FROM contexts WHERE _id LIKE 'ctx\\_0%' ESCAPE '\\' "
	    "AND json_type(doc, '$.processing.component_timings') IS NOT NULL") - N / 20, moved,
	    "exactly the checkpoint's documents have timings");
}

static void
rerun(sqlite3 *h, int64_t moved)
{
	char want[128];
	struct run r;

	util_genbox_run(&r, NULL, dbarg, "migrate", "docs", "--batch-size", "100", NULL);
	is_int(r.status, 0, "the rerun exits 0 %s", r.err);
	like(r.out, "component_timings: resumed after ctx_", "... says it resumed");
	like(r.out, "component_timings: batch 1: 100 of ", "... prints a line per batch");
	snprintf(want, sizeof(want), "done: %lld documents migrated", (long long)(NSEL - moved));
	like(r.out, want, "... and a summary: the rest migrated");
	run_free(&r);
	is_int(sql_int(h, "SELECT migrated FROM doc_migrations WHERE done = 1"), NSEL,
	    "the checkpoint counts %d migrated over both runs", NSEL);
	is_int(sql_int(h, "SELECT count(*) FROM box_jobs WHERE job = 'docmigrate' AND ok = 1 "
	    "AND running = 0"), 1, "the job docmigrate ended well");
}

/* Each selected document: timings present, updated_at new, one outbox bump. */
static void
check_selected(sqlite3 *h, char **after_at)
{
	int bad_at = 0, bad_ver = 0, bad_timings = 0, i;
	sqlite3_stmt *stmt = NULL;

	if (sqlite3_prepare_v2(h, "SELECT o.doc_id, o.ver, json_extract(c.doc, "
	    "'$.processing.component_timings') FROM outbox o JOIN contexts c ON c._id = "
	    "o.doc_id WHERE o.coll = 'contexts' AND o.doc_id LIKE 'ctx\\_0%' ESCAPE '\\'",
	    -1, &stmt, NULL) != SQLITE_OK)
		tap_bail("outbox: %s", sqlite3_errmsg(h));
	for (int n = 0; sqlite3_step(stmt) == SQLITE_ROW; n++) {
		const char *t = (const char *)sqlite3_column_text(stmt, 2);

		i = atoi((const char *)sqlite3_column_text(stmt, 0) + 4);
		if (sqlite3_column_int(stmt, 1) != (SELECTED(i) ? 2 : 1))
			bad_ver++;
		if (SELECTED(i) && (t == NULL ||
		    strcmp(t, "{\"template\":0,\"ai_generator\":0,\"transformer\":0}") != 0))
			bad_timings++;
	}
	sqlite3_finalize(stmt);
	for (i = 0; i < N; i++)
		if (SELECTED(i) && (before_at[i] == NULL || after_at[i] == NULL ||
		    strcmp(before_at[i], after_at[i]) >= 0))
			bad_at++;
	is_int(sql_int(h, "SELECT count(*) FROM outbox WHERE coll = 'contexts' AND "
	    "doc_id LIKE 'ctx\\_0%' ESCAPE '\\'"), N, "every context has its outbox row");
	is_int(bad_ver, 0, "each selected context's outbox row was bumped exactly once, "
	    "no other one at all");
	is_int(bad_timings, 0, "each selected context has a timing of 0 per component");
	is_int(bad_at, 0, "each selected context has a later updated_at");
}

static void
check_words(void)
{
	struct run r;

	util_genbox_run(&r, NULL, dbarg, "migrate", "docs", "--name", "component_timing", NULL);
	is_int(r.status, 1, "an unknown --name is a usage error: exit 1");
	like(r.err, "unknown document migration 'component_timing' (did you mean "
	    "'component_timings'?)", "... naming the nearest valid one");
	run_free(&r);
	util_genbox_run(&r, NULL, dbarg, "migrate", "docs", "--batch-size", "0", NULL);
	is_int(r.status, 1, "--batch-size 0 is a usage error: exit 1");
	like(r.err, "--batch-size must be a number from 1 to", "... saying what is allowed");
	run_free(&r);
	util_genbox_run(&r, NULL, dbarg, "migrate", "docs", "extra", NULL);
	is_int(r.status, 1, "a stray argument is a usage error: exit 1");
	run_free(&r);
	util_genbox_run(&r, NULL, "--db=/nonexistent/t113.db", "migrate", "docs", NULL);
	is_int(r.status, 1, "a missing database is a failure");
	like(r.err, "genbox: migrate: ", "... with a message");
	run_free(&r);
	util_genbox_run(&r, NULL, dbarg, "migrate", "--status", NULL);
	ok(r.status == 0 && strstr(r.out, "up to date"), "migrate --status still works");
	run_free(&r);
	util_genbox_run(&r, NULL, dbarg, "migrate", NULL);
	ok(r.status == 0 && strstr(r.out, "up to date"), "migrate still works");
	run_free(&r);
	util_genbox_run(&r, NULL, dbarg, "migrate", "docs", "--status", NULL);
	ok(r.status == 0 && strstr(r.out, "component_timings") && strstr(r.out, "done ") &&
	    strstr(r.out, "15000 migrated so far, 0 in the old shape"),
	    "migrate docs --status lists the registry and each one's state");
	run_free(&r);
}

int
main(void)
{
	char *before, *after, **after_at = calloc(N, sizeof(char *));
	int64_t moved;
	sqlite3 *h = NULL;
	struct run r;

	setup();
	before = export_others(before_at);
	util_genbox_run(&r, NULL, dbarg, "migrate", "docs", "--dry-run", NULL);
	ok(r.status == 0 && strstr(r.out, "15000 documents would be migrated"),
	    "a dry run counts the %d contexts in the old shape", NSEL);
	run_free(&r);
	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		tap_bail("open %s", db);
	sqlite3_busy_timeout(h, 10000);
	is_int(sql_int(h, "SELECT count(*) FROM doc_migrations"), 0, "... and writes nothing");
	kill_halfway(h);
	moved = sql_int(h, "SELECT migrated FROM doc_migrations");
	rerun(h, moved);
	after = export_others(after_at);
	is_str(after, before, "every other document of every collection is as it was");
	check_selected(h, after_at);
	util_genbox_run(&r, NULL, dbarg, "migrate", "docs", NULL);
	ok(r.status == 0 && strstr(r.out, "done: 0 documents migrated"),
	    "a third run migrates nothing");
	run_free(&r);
	check_words();
	sqlite3_close(h);
	for (int i = 0; i < N; i++) {
		free(before_at[i]);
		free(after_at[i]);
	}
	free(after_at);
	free(before);
	free(after);
	return tap_done();
}
