/*
 * t227-pool-processes - the pool beside other processes on one database
 * file: the CLI imports contexts one at a time while the pool runs without
 * end, and the pool picks each up; imports in another process beside the
 * busy pool wait their turn and succeed (the pool leaves SQLite's write lock
 * free now and then); the file passes integrity_check afterwards and every
 * context ran exactly once.
 *
 * Needs storage's fix of issue 6 defect 0 (no fopen/fclose of the database
 * file beside a connection): without it the other process checkpoints and
 * removes the WAL under the pool and the file is corrupted.
 */
#include <sqlite3.h>

#include "pooltest.h"

static const char *
db_arg(struct box *b)
{
	static char arg[4200];

	snprintf(arg, sizeof(arg), "--db=%s", b->path);
	return arg;
}

static int
integrity_ok(struct box *b)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *stmt = NULL;
	int okay = 0;

	if (sqlite3_open(b->path, &db) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, NULL) == SQLITE_OK &&
	    sqlite3_step(stmt) == SQLITE_ROW)
		okay = strcmp((const char *)sqlite3_column_text(stmt, 0), "ok") == 0;
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return okay;
}

int
main(void)
{
	struct box b;
	struct pool_config cfg;
	struct pool_stats s;
	struct pool *p;
	int imported = 0, done = 0, busy_ok = 0;
	int64_t before;

	box_open(&b, 1);
	before = box_count(&b, CTX_COMPLETED);
	pool_config_defaults(&cfg);
	cfg.workers = 2;
	cfg.run_forever = 1;
	p = box_pool(&b, NULL, &cfg);
	for (int i = 0; i < 5; i++) {
		char line[256], id[32];
		struct run r;

		snprintf(id, sizeof(id), "ctx_proc%d", i);
		snprintf(line, sizeof(line), "{\"_id\":\"%s\",\"organization_id\":\"org_123\",\"pipeline\":[\"template\"]}\n",
		    id);
		util_genbox_run(&r, line, db_arg(&b), "import", "contexts", "-", NULL);
		imported += r.status == 0;
		run_free(&r);
		done += box_wait_status(&b, id, "completed", 30000);
	}
	is_int(imported, 5, "another process imported 5 contexts, one at a time, while the pool ran");
	is_int(done, 5, "the running pool picked up and completed each");
	store_begin(b.st, NULL);
	for (int i = 0; i < 5000; i++)
		box_put(&b, COLL_CONTEXTS, "{\"_id\":\"ctx_flood%04d\",\"organization_id\":\"org_123\",\"pipeline\":[]}", i);
	store_commit(b.st, NULL);
	for (int i = 0; i < 10; i++) {
		char line[256];
		struct run r;

		snprintf(line, sizeof(line), "{\"_id\":\"org_side%d\",\"name\":\"Side %d\"}\n", i, i);
		util_genbox_run(&r, line, db_arg(&b), "import", "organizations", "-", NULL);
		busy_ok += r.status == 0;
		if (r.status)
			tap_diag("import beside the busy pool: %s", r.err);
		run_free(&r);
	}
	is_int(busy_ok, 10, "imports in another process beside the busy pool wait their turn and succeed");
	ok(box_wait_quiet(&b, 120000), "the pool completes the flood");
	pool_stop(p, 1000);
	pool_stats(p, &s);
	pool_free(p);
	is_int(box_count(&b, CTX_COMPLETED) - before, 5005, "5,005 completed");
	is_int(s.claimed, 5005, "each claimed exactly once");
	box_close(&b);
	ok(integrity_ok(&b), "the database passes integrity_check");
	return tap_done();
}
