/*
 * t102-storage-open - opening the mirror: schema versions and migrations,
 * files that are not databases, WAL, the busy timeout, and one connection
 * per thread writing at once.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "../storage/docs.h"
#include "../storage/heartbeat.h"
#include "../storage/listing.h"
#include "../storage/outbox.h"
#include "../storage/pipestats.h"
#include "../storage/store.h"
#include "tap.h"
#include "util.h"

static char path[4096];

static void
raw_exec(const char *file, const char *sql)
{
	sqlite3 *db;

	if (sqlite3_open(file, &db) != SQLITE_OK || sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		tap_bail("sqlite3 %s: %s", file, sqlite3_errmsg(db));
	sqlite3_close(db);
}

static char *
raw_text(const char *file, const char *sql)
{
	static char out[256];
	sqlite3_stmt *stmt;
	sqlite3 *db;

	out[0] = '\0';
	if (sqlite3_open(file, &db) == SQLITE_OK && sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) == SQLITE_OK) {
		if (sqlite3_step(stmt) == SQLITE_ROW)
			snprintf(out, sizeof(out), "%s", (const char *)sqlite3_column_text(stmt, 0));
		sqlite3_finalize(stmt);
	}
	sqlite3_close(db);
	return out;
}

/*
 * The schema's "Indexing Strategy" (spec/database-schema.md), index by
 * index: collection and keys as the spec writes them. A document path is a
 * column of the same name, metadata.priority is the priority column, and the
 * multikey metadata.tags is the tag column of template_tags.
 */
static const struct spec_index {
	const char *coll, *keys;
} spec_indexes[] = {
	{ "contexts", "status,created_at" },
	{ "contexts", "batch_id" },
	{ "contexts", "user_id" },
	{ "contexts", "organization_id" },
	{ "contexts", "type" },
	{ "contexts", "metadata.priority,status,created_at" },
	{ "templates", "organization_id" },
	{ "templates", "metadata.tags" },
	{ "templates", "is_active" },
	{ "components", "type" },
	{ "components", "organization_id" },
	{ "components", "is_active" },
	{ "pipelines", "organization_id" },
	{ "pipelines", "is_active" },
	{ "pipelines", "default_context_type" },
};

/*
 * Beyond the schema's list, contexts have an index per access pattern the
 * schema names (worker polling), per queue operation (a batch's own work,
 * leases to reap) and per filter of the API's lists (an organization's
 * contexts by status, user, type, and a batch's by status: a user's history
 * is one of them); nothing else.
 */
static const char *const ctx_extra_indexes[] = {
	"ctx_poll", "ctx_batch_poll", "ctx_lease", "ctx_list_org", "ctx_list_status", "ctx_list_user",
	"ctx_list_type", "ctx_list_batch",
};
#define NEXTRA ((int)(sizeof(ctx_extra_indexes) / sizeof(ctx_extra_indexes[0])))

/* The columns of every full (not partial) index of table, as "name=a,b;" pairs. */
static char *
index_columns(const char *file, const char *table)
{
	static char out[2048];
	char sql[512];
	sqlite3_stmt *stmt;
	sqlite3 *db;

	out[0] = '\0';
	snprintf(sql, sizeof(sql), "SELECT il.name, (SELECT group_concat(name, ',') FROM (SELECT name FROM "
	    "pragma_index_info(il.name) ORDER BY seqno)) FROM pragma_index_list('%s') il "
	    "WHERE il.origin = 'c' AND il.partial = 0", table);
	if (sqlite3_open(file, &db) == SQLITE_OK && sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) == SQLITE_OK) {
		while (sqlite3_step(stmt) == SQLITE_ROW) {
			size_t at = strlen(out);

			snprintf(out + at, sizeof(out) - at, "%s=%s;", (const char *)sqlite3_column_text(stmt, 0),
			    (const char *)sqlite3_column_text(stmt, 1));
		}
		sqlite3_finalize(stmt);
	}
	sqlite3_close(db);
	return out;
}

static void
test_indexes(const char *file)
{
	size_t nspec = sizeof(spec_indexes) / sizeof(spec_indexes[0]), found = 0, ctx_spec = 0;
	char names[128], *all;
	int extra = 0, nctx;

	for (size_t i = 0; i < nspec; i++) {
		const char *table = spec_indexes[i].coll, *keys = spec_indexes[i].keys;
		char want[128], *cols;

		if (strcmp(keys, "metadata.tags") == 0) {
			table = "template_tags";
			keys = "tag";
		} else if (strncmp(keys, "metadata.priority", 17) == 0) {
			snprintf(want, sizeof(want), "priority%s", keys + 17);
			keys = want;
		}
		cols = index_columns(file, table);
		{
			char pat[160];

			snprintf(pat, sizeof(pat), "=%s;", keys);
			if (strstr(cols, pat) != NULL || (strcmp(table, "template_tags") == 0 &&
			    strstr(raw_text(file, "SELECT sql FROM sqlite_master WHERE name = 'template_tags'"),
			    "PRIMARY KEY (tag,")))
				found++;
			else
				tap_diag("no index on %s (%s): %s", table, keys, cols);
		}
		if (strcmp(spec_indexes[i].coll, "contexts") == 0)
			ctx_spec++;
	}
	is_int((int64_t)found, (int64_t)nspec, "every index of the schema's Indexing Strategy is there (%zu)", nspec);
	for (size_t i = 0; i < sizeof(ctx_extra_indexes) / sizeof(ctx_extra_indexes[0]); i++) {
		snprintf(names, sizeof(names), "SELECT count(*) FROM sqlite_master WHERE name = '%s'",
		    ctx_extra_indexes[i]);
		extra += atoi(raw_text(file, names));
	}
	is_int(extra, NEXTRA, "and the indexes of the access patterns, the queue and the lists");
	all = raw_text(file, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'contexts' "
	    "AND sql IS NOT NULL");
	nctx = atoi(all);
	is_int(nctx, (int)ctx_spec + NEXTRA, "contexts have no other index: the schema's %zu and those %d",
	    ctx_spec, NEXTRA);
}

static void test_not_files(const struct store_opts *mig);

static void
test_versions(void)
{
	struct store_opts keep = { 1, 0, 0, 0, 0, 0 }, mig = { 1, 1, 0, 0, 0, 0 };
	struct gb_err err = { 0, "" };
	struct store *st = NULL;
	int v = -1;

	snprintf(path, sizeof(path), "%s/a.db", util_tmpdir());
	is_int(store_open(&st, path, &mig, &err), 0, "a new database is created");
	is_int(store_schema_version(st, &v, &err), 0, "its version can be read");
	is_int(v, store_schema_latest(), "and it is the latest");
	store_close(st);
	is_str(raw_text(path, "PRAGMA journal_mode"), "wal", "the database is in WAL mode");
	test_indexes(path);

	raw_exec(path, "PRAGMA user_version = 99");
	is_int(store_open(&st, path, &mig, &err), GB_EVERSION, "a database from a newer genbox is refused");
	like(err.msg, "has schema version 99, newer than this genbox", "with a message saying so");
	ok(st == NULL, "and no store is returned");
	is_int(store_file_version(path, &v, &err), 0, "its version can still be read");
	is_int(v, 99, "as 99");

	/* an old database: version 0 with someone's table in it */
	snprintf(path, sizeof(path), "%s/old.db", util_tmpdir());
	raw_exec(path, "CREATE TABLE unrelated (x); INSERT INTO unrelated VALUES (1)");
	gb_err_clear(&err);
	is_int(store_open(&st, path, &keep, &err), GB_EVERSION, "an older database is refused without migrate");
	like(err.msg, "older than this genbox", "and the message says to migrate");
	gb_err_clear(&err);
	is_int(store_open(&st, path, &mig, &err), 0, "with migrate it opens");
	store_schema_version(st, &v, &err);
	is_int(v, store_schema_latest(), "at the latest version");
	store_close(st);
	is_str(raw_text(path, "SELECT x FROM unrelated"), "1", "and what was there is untouched");

	/* not a database at all */
	snprintf(path, sizeof(path), "%s/text.db", util_tmpdir());
	util_write_file(path, "this is a text file, not SQLite\n", 32);
	gb_err_clear(&err);
	is_int(store_open(&st, path, &mig, &err), GB_EINVAL, "a file that is not SQLite is refused");
	like(err.msg, "is not a genbox database (not an SQLite file)", "with a clear message");
	{
		size_t len = 0;
		char *after = util_read_file(path, &len);

		ok(after && len == 32 && memcmp(after, "this is a text file", 19) == 0, "and is left as it was");
		free(after);
	}

	/* a missing file without create */
	snprintf(path, sizeof(path), "%s/missing.db", util_tmpdir());
	keep.create = 0;
	gb_err_clear(&err);
	is_int(store_open(&st, path, &keep, &err), GB_ENOTFOUND, "a missing database without create");
	like(err.msg, "does not exist", "says it does not exist");
	test_not_files(&mig);
}

/*
 * What is no database file, told by stat() before SQLite opens it (a FIFO
 * would block the open): refused by store_open and store_file_version alike,
 * with the kind named. A file shorter than a page is no SQLite file (a
 * read-only connection would take it for an empty database).
 */
static void
test_not_files(const struct store_opts *mig)
{
	static const char *const msgs[] = { "is not a database file but a FIFO",
		"is not a database file but a character device", "is not a database file but a directory",
		"is not a genbox database (not an SQLite file): 99 bytes, less than one page" };
	char paths[4][4096], zeros[99];
	struct gb_err err = { 0, "" };
	struct store *st = NULL;
	int v = -1;

	memset(zeros, 0, sizeof(zeros));
	snprintf(paths[0], sizeof(paths[0]), "%s/fifo.db", util_tmpdir());
	snprintf(paths[1], sizeof(paths[1]), "/dev/null");
	snprintf(paths[2], sizeof(paths[2]), "%s/dir.db", util_tmpdir());
	snprintf(paths[3], sizeof(paths[3]), "%s/short.db", util_tmpdir());
	if (mkfifo(paths[0], 0600) < 0 || mkdir(paths[2], 0700) < 0 ||
	    util_write_file(paths[3], zeros, sizeof(zeros)))
		tap_bail("mkfifo, mkdir, write: %s", strerror(errno));
	for (int i = 0; i < 4; i++) {
		gb_err_clear(&err);
		is_int(store_open(&st, paths[i], mig, &err), GB_EINVAL, "store_open refuses %s", paths[i]);
		like(err.msg, msgs[i], "saying '%s'", msgs[i]);
		gb_err_clear(&err);
		is_int(store_file_version(paths[i], &v, &err), GB_EINVAL, "store_file_version too");
		like(err.msg, msgs[i], "saying the same");
	}
}

/*
 * A database of schema version 1 (the released first step: collections and
 * indexes, without heartbeats and pipeline statistics) is migrated to the
 * latest version with its data kept, and the new tables work.
 */
static void
test_migrate_from_v1(void)
{
	struct store_opts keep = { 1, 0, 0, 0, 0, 0 }, mig = { 1, 1, 0, 0, 0, 0 };
	const char *ctx = "{\"_id\":\"ctx_keep\",\"organization_id\":\"org_keep\",\"data\":{\"n\":12345678901234567}}";
	const char *org = "{\"_id\":\"org_keep\",\"name\":\"Kept\"}";
	struct store_heartbeat hb = { "w1", 1000, "busy", 1, "box" }, rows[2];
	struct store_pipeline_stats ps;
	struct gb_err err = { 0, "" };
	struct store *st = NULL;
	char *doc = NULL;
	int v = -1, n = 0;

	ok(store_schema_latest() >= 2, "the schema has more than its first step");
	like(store_migration_name(2), "heartbeats", "step 2 adds worker heartbeats (%s)", store_migration_name(2));
	is_int(store_schema_latest(), 7, "the latest step is 7");
	is_str(store_migration_name(5), "sync", "step 5 is sync's outbox and marks");
	snprintf(path, sizeof(path), "%s/v1.db", util_tmpdir());
	if (store_open(&st, path, &mig, &err) || store_put(st, COLL_CONTEXTS, ctx, strlen(ctx), STORE_INSERT, NULL, &err) ||
	    store_put(st, COLL_ORGANIZATIONS, org, strlen(org), STORE_INSERT, NULL, &err))
		tap_bail("set-up: %s", err.msg);
	store_close(st);
	/*
	 * back to what version 1 made: step 2 only adds tables, step 3 tables,
	 * triggers, indexes, a column, step 4 a table, step 5 tables and triggers
	 */
	raw_exec(path, util_schema_v1_sql);
	is_int(store_file_version(path, &v, &err), 0, "the version of the file is read");
	is_int(v, 1, "as 1");
	is_int(store_open(&st, path, &keep, &err), GB_EVERSION, "without migrate a version 1 database is refused");
	gb_err_clear(&err);
	is_int(store_open(&st, path, &mig, &err), 0, "with migrate it opens");
	store_schema_version(st, &v, &err);
	is_int(v, store_schema_latest(), "at the latest version");
	{
		int64_t counts[CTX_STATUS_COUNT];

		is_int(store_ctx_org_counts(st, "org_keep", counts, &err), 0, "counts per status are read");
		is_int(counts[CTX_PENDING], 1, "step 3 counted the contexts already there");
	}
	is_int(store_get(st, COLL_CONTEXTS, "ctx_keep", &doc, &err), 0, "the context is still there");
	like(doc, "12345678901234567", "with its exact integer");
	free(doc);
	doc = NULL;
	is_int(store_get(st, COLL_ORGANIZATIONS, "org_keep", &doc, &err), 0, "and the organization");
	free(doc);
	is_int(store_heartbeat_put(st, &hb, 1, &err), 0, "a heartbeat can be put");
	is_int(store_heartbeat_list(st, 1000, rows, 2, &n, &err), 0, "and listed");
	is_int(n, 1, "one live worker");
	is_int(store_pipeline_stat_add(st, "pipe_x", 1000, 250, &err), 0, "a pipeline duration can be added");
	store_pipeline_stats_get(st, "pipe_x", 1000, &ps, &err);
	ok(ps.count == 1 && ps.p95_ms == 250, "and read");
	{
		int64_t queued = -1, depth = -1;
		int on = -1;

		is_int(store_sync_enabled(st, &on, &err), 0, "sync's marks can be read");
		is_int(on, 0, "sync is off after the migration");
		is_int(store_sync_enable(st, &queued, &err), 0, "and can be turned on");
		is_int(queued, 1, "which queues the context already there");
		store_outbox_depth(st, -1, &depth, NULL, &err);
		is_int(depth, 1, "one outbox row");
	}
	store_close(st);
}

static void
test_busy(void)
{
	struct store_opts o = { 1, 1, 0, 200, 0, 0 };
	struct gb_err err = { 0, "" };
	struct store *a, *b;
	const char *doc = "{\"organization_id\":\"o\"}";

	snprintf(path, sizeof(path), "%s/busy.db", util_tmpdir());
	if (store_open(&a, path, &o, &err) || store_open(&b, path, &o, &err))
		tap_bail("open: %s", err.msg);
	is_int(store_begin(a, &err), 0, "one store holds the write lock");
	is_int(store_put(a, COLL_CONTEXTS, doc, strlen(doc), STORE_INSERT, NULL, &err), 0, "and writes");
	is_int(store_put(b, COLL_CONTEXTS, doc, strlen(doc), STORE_INSERT, NULL, &err), GB_EBUSY,
	    "another waits its busy timeout, then gets busy");
	like(err.msg, "locked", "the message says the database is locked");
	is_int(store_commit(a, &err), 0, "the first commits");
	gb_err_clear(&err);
	is_int(store_put(b, COLL_CONTEXTS, doc, strlen(doc), STORE_INSERT, NULL, &err), 0, "then the other writes");
	store_close(a);
	store_close(b);
}

/* A store that begins its next transaction right after each commit, until told to stop. */
static atomic_int hog_stop, hog_done;

static void *
hog(void *arg)
{
	struct gb_err err = { 0, "" };
	struct store *st = arg;

	for (int i = 0; i < 1000000 && !atomic_load(&hog_stop); i++) {
		char doc[128];

		if (store_begin(st, &err) == 0) {
			/* long transactions, microseconds apart */
			for (int k = 0; k < 500; k++) {
				snprintf(doc, sizeof(doc), "{\"_id\":\"ctx_hog%d_%d\",\"organization_id\":\"org_h\"}",
				    i, k);
				store_put(st, COLL_CONTEXTS, doc, strlen(doc), STORE_INSERT, NULL, &err);
			}
			store_commit(st, &err);
		}
		atomic_fetch_add(&hog_done, 1);
	}
	return NULL;
}

/*
 * A writer beside a store that keeps the write lock but for microseconds
 * between its transactions (a busy pool) gets its turn within its busy
 * timeout (2 s here, each time): it raises a flag and the busy store lets
 * it in. Trying now and then alone hardly ever hits such a gap.
 */
static void
test_turn(void)
{
	struct store_opts o = { 1, 1, 0, 10000, 1, 0 }, ob = { 1, 1, 0, 2000, 0, 0 };
	struct gb_err err = { 0, "" };
	const char *doc = "{\"_id\":\"ctx_waiter\",\"organization_id\":\"org_w\"}";
	struct store *a, *b;
	pthread_t th;
	int failed = 0, hogged;

	snprintf(path, sizeof(path), "%s/turn.db", util_tmpdir());
	if (store_open(&a, path, &o, &err) || store_open(&b, path, &ob, &err))
		tap_bail("open: %s", err.msg);
	pthread_create(&th, NULL, hog, a);
	while (atomic_load(&hog_done) < 20)
		usleep(1000);
	for (int i = 0; i < 20; i++) {
		char d[128];

		snprintf(d, sizeof(d), "{\"_id\":\"ctx_waiter%d\",\"organization_id\":\"org_w\"}", i);
		if (store_put(b, COLL_CONTEXTS, d, strlen(d), STORE_INSERT, NULL, &err))
			failed++;
	}
	if (store_put(b, COLL_CONTEXTS, doc, strlen(doc), STORE_INSERT, NULL, &err))
		failed++;
	hogged = atomic_load(&hog_done);
	atomic_store(&hog_stop, 1);
	pthread_join(th, NULL);
	is_int(failed, 0, "21 writes beside a store busy with back-to-back transactions all get their turn%s%s",
	    err.msg[0] ? ": " : "", err.msg);
	ok(hogged < 1000000, "while the busy store was still at it (%d transactions)", hogged);
	store_close(a);
	store_close(b);
}

#define THREADS 4
#define PER_THREAD 500

static void *
writer(void *arg)
{
	struct gb_err err = { 0, "" };
	struct store *st;
	long t = (long)arg, fails = 0;

	if (store_open(&st, path, NULL, &err))
		return (void *)-1L;
	for (int i = 0; i < PER_THREAD; i++) {
		char doc[128];

		snprintf(doc, sizeof(doc), "{\"_id\":\"ctx_t%ld_%d\",\"organization_id\":\"org_%ld\"}", t, i, t);
		gb_err_clear(&err);
		if (store_put(st, COLL_CONTEXTS, doc, strlen(doc), STORE_INSERT, NULL, &err))
			fails++;
	}
	store_close(st);
	return (void *)fails;
}

static void
test_threads(void)
{
	pthread_t th[THREADS];
	struct gb_err err = { 0, "" };
	struct store *st;
	long fails = 0;
	int64_t n = 0;

	snprintf(path, sizeof(path), "%s/threads.db", util_tmpdir());
	if (store_open(&st, path, NULL, &err))
		tap_bail("open: %s", err.msg);
	for (long t = 0; t < THREADS; t++)
		pthread_create(&th[t], NULL, writer, (void *)t);
	for (int t = 0; t < THREADS; t++) {
		void *r;

		pthread_join(th[t], &r);
		fails += (long)r;
	}
	is_int(fails, 0, "%d threads, each with its own connection, write at once without errors", THREADS);
	store_count(st, COLL_CONTEXTS, &n, &err);
	is_int(n, THREADS * PER_THREAD, "and every document is there");
	store_close(st);
}

int
main(void)
{
	test_versions();
	test_migrate_from_v1();
	test_busy();
	test_turn();
	test_threads();
	return tap_done();
}
