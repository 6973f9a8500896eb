/*
 * t112-storage-docmigrate.c - document migrations (storage/docmigrate.h):
 * the registry, the first migration's selection and result, a dry run, a
 * run that fails halfway and resumes after its last committed batch (every
 * document migrated exactly once), a rerun that changes nothing, documents
 * not selected left byte for byte, and a run on an empty database.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "../base/buf.h"
#include "../storage/docmigrate.h"
#include "../storage/docs.h"
#include "../storage/jobs.h"
#include "../storage/store.h"
#include "tap.h"
#include "util.h"

#define MIG "component_timings"
#define NSEL 7				/* ctx_a1 .. ctx_a7 are selected */

static struct gb_err err;

static struct store *
open_db(const char *path)
{
	struct store_opts o = { 1, 1, 0, 10000, 0, 0 };
	struct store *s = NULL;

	if (store_open(&s, path, &o, &err))
		tap_bail("open %s: %s", path, err.msg);
	return s;
}

static void
put(struct store *st, enum coll c, const char *json)
{
	if (store_put(st, c, json, strlen(json), STORE_INSERT, NULL, &err))
		tap_bail("put %s: %s", json, err.msg);
}

/* The fixture: seven selected contexts and every kind that must not be. */
static void
fixture(struct store *st)
{
	char doc[512];

	for (int i = 1; i <= NSEL; i++) {
		snprintf(doc, sizeof(doc), "{\"_id\":\"ctx_a%d\",\"organization_id\":\"org_1\","
		    "\"status\":\"completed\",\"updated_at\":\"2024-01-0%dT00:00:00.000Z\","
		    "\"big\":12345678901234567890,\"processing\":{\"completed_at\":"
		    "\"2024-01-01T00:00:00.000Z\",\"completed_components\":[\"template\","
		    "\"ai_generator\",\"transformer\"%s]}}", i, i, i == 2 ? ",\"template\"" : "");
		put(st, COLL_CONTEXTS, doc);
	}
	/* updated_at ahead of the clock: the new one must still be later */
	put(st, COLL_CONTEXTS, "{\"_id\":\"ctx_a8\",\"organization_id\":\"org_1\","
	    "\"status\":\"completed\",\"updated_at\":\"2999-01-01T00:00:00.000Z\","
	    "\"processing\":{\"completed_components\":[]}}");
	put(st, COLL_CONTEXTS, "{\"_id\":\"ctx_b_timed\",\"organization_id\":\"org_1\","
	    "\"status\":\"completed\",\"processing\":{\"completed_components\":[\"template\"],"
	    "\"component_timings\":{\"template\":150}}}");
	put(st, COLL_CONTEXTS, "{\"_id\":\"ctx_c_pending\",\"organization_id\":\"org_1\","
	    "\"status\":\"pending\",\"processing\":{\"completed_components\":[\"template\"]}}");
	put(st, COLL_CONTEXTS, "{\"_id\":\"ctx_d_nocomp\",\"organization_id\":\"org_1\","
	    "\"status\":\"completed\",\"processing\":{\"duration_ms\":5}}");
	put(st, COLL_CONTEXTS, "{\"_id\":\"ctx_e_failed\",\"organization_id\":\"org_1\","
	    "\"status\":\"failed\",\"processing\":{\"completed_components\":[\"template\"]}}");
	put(st, COLL_TEMPLATES, "{\"_id\":\"tmpl_1\",\"organization_id\":\"org_1\","
	    "\"name\":\"T\",\"processing\":{\"completed_components\":[\"x\"]}}");
	put(st, COLL_BATCHES, "{\"_id\":\"batch_1\",\"organization_id\":\"org_1\","
	    "\"status\":\"completed\"}");
}

struct dump {
	struct buf b;
	const char *coll;
};

static int
dump_one(void *arg, const char *doc, size_t len)
{
	struct dump *d = arg;

	return buf_printf(&d->b, "%s %.*s\n", d->coll, (int)len, doc);
}

/* Every document of every collection but the selected ones, as lines; caller frees. */
static char *
dump_others(struct store *st, int all)
{
	struct dump d;
	char *s;

	buf_init(&d.b, 64u << 20);
	for (int c = 0; c < COLL_COUNT; c++) {
		d.coll = coll_name((enum coll)c);
		if (store_each(st, (enum coll)c, c == COLL_CONTEXTS && !all ?
		    "{\"_id\":{\"$nin\":[\"ctx_a1\",\"ctx_a2\",\"ctx_a3\",\"ctx_a4\",\"ctx_a5\","
		    "\"ctx_a6\",\"ctx_a7\",\"ctx_a8\"]}}" : NULL, 0, dump_one, &d, &err))
			tap_bail("dump: %s", err.msg);
	}
	s = strdup(buf_str(&d.b));
	buf_release(&d.b);
	return s;
}

static cJSON *
get_doc(struct store *st, const char *id)
{
	char *text = NULL;
	cJSON *j;

	if (store_get(st, COLL_CONTEXTS, id, &text, &err))
		tap_bail("get %s: %s", id, err.msg);
	j = cJSON_Parse(text);
	free(text);
	return j;
}

static int
migrated(struct store *st, const char *id)
{
	cJSON *j = get_doc(st, id);
	cJSON *p = cJSON_GetObjectItem(j, "processing");
	int has = cJSON_HasObjectItem(p, "component_timings");

	cJSON_Delete(j);
	return has;
}

static const char *
updated_at(struct store *st, const char *id, char out[64])
{
	cJSON *j = get_doc(st, id);

	snprintf(out, 64, "%s", cJSON_GetStringValue(cJSON_GetObjectItem(j, "updated_at")));
	cJSON_Delete(j);
	return out;
}

static void
sql(const char *path, const char *text)
{
	sqlite3 *db = NULL;
	char *msg = NULL;

	if (sqlite3_open(path, &db) != SQLITE_OK || sqlite3_busy_timeout(db, 10000) ||
	    sqlite3_exec(db, text, NULL, NULL, &msg) != SQLITE_OK)
		tap_bail("sql %s: %s", text, msg ? msg : sqlite3_errmsg(db));
	sqlite3_close(db);
}

struct seen {
	int calls;
	int64_t last_migrated;
	char last_id[STORE_ID_MAX];
};

static void
progress(void *arg, const struct docmig_progress *p)
{
	struct seen *s = arg;

	s->calls++;
	s->last_migrated = p->migrated;
	snprintf(s->last_id, sizeof(s->last_id), "%s", p->last_id);
}

static void
test_registry(void)
{
	ok(store_docmig_count() >= 1, "the registry holds migrations");
	is_str(store_docmig_at(0)->name, MIG, "the first is the schema's example");
	ok(store_docmig_at(store_docmig_count()) == NULL, "past the last: NULL");
	ok(store_docmig_find(MIG) != NULL && store_docmig_find("nope") == NULL,
	    "found by name, an unknown name is not");
	is_str(store_docmig_nearest("compnent_timing"), MIG, "the nearest name to a typo");
}

static void
test_empty(const char *dir)
{
	struct docmig_opts dry = { 0, 1, NULL, NULL };
	struct docmig_result res;
	struct store_job j;
	char path[4200];
	struct store *st;
	int found;

	snprintf(path, sizeof(path), "%s/empty.db", dir);
	st = open_db(path);
	is_int(store_docmig_run(st, MIG, &dry, &res, &err), 0, "empty db: a dry run works");
	is_int(res.selected, 0, "... selecting nothing");
	is_int(store_docmig_run(st, MIG, NULL, &res, &err), 0, "empty db: a run works");
	ok(res.migrated == 0 && res.batches == 0, "... migrating nothing in no batch");
	store_job_get(st, "docmigrate", &j, &found, &err);
	ok(found && j.ok && !j.running, "... and records the job docmigrate as ok");
	ok(store_docmig_run(st, "nope", NULL, &res, &err) == GB_ENOTFOUND,
	    "an unknown migration is refused (%s)", err.msg);
	store_close(st);
}

/* The first run fails in its second batch: what was committed stays, once. */
static void
test_interrupted(struct store *st, const char *path, char *stamp[NSEL + 1])
{
	struct seen seen = { 0, 0, "" };
	struct docmig_opts o = { 3, 0, progress, &seen };
	struct docmig_result res;
	struct docmig_state s;
	struct store_job j;
	char t[64];
	int found;

	sql(path, "CREATE TRIGGER t112_fail BEFORE UPDATE ON contexts WHEN NEW._id = 'ctx_a5' "
	    "BEGIN SELECT RAISE(ABORT, 't112 disk on fire'); END");
	gb_err_clear(&err);
	ok(store_docmig_run(st, MIG, &o, &res, &err) != 0, "a run failing in batch 2 fails");
	like(err.msg, "t112 disk on fire", "... with the cause");
	is_int(seen.calls, 1, "... after one committed batch reported");
	is_str(seen.last_id, "ctx_a3", "... whose checkpoint is its last _id");
	is_int(store_docmig_state(st, MIG, &s, &err), 0, "the checkpoint is read");
	ok(s.found && !s.done && strcmp(s.last_id, "ctx_a3") == 0 && s.migrated == 3,
	    "... not done, after ctx_a3, 3 migrated (%s, %lld)", s.last_id,
	    (long long)s.migrated);
	ok(migrated(st, "ctx_a1") && migrated(st, "ctx_a3") && !migrated(st, "ctx_a4") &&
	    !migrated(st, "ctx_a5"), "the first batch is migrated, the failed one rolled back");
	store_job_get(st, "docmigrate", &j, &found, &err);
	ok(found && !j.ok && strstr(j.error, "t112 disk on fire"),
	    "the job docmigrate records the failure (%s)", j.error);
	for (int i = 1; i <= 3; i++) {
		snprintf(t, sizeof(t), "ctx_a%d", i);
		stamp[i] = strdup(updated_at(st, t, t));
	}
	sql(path, "DROP TRIGGER t112_fail");
}

static void
test_resume(struct store *st, char *stamp[NSEL + 1])
{
	struct seen seen = { 0, 0, "" };
	struct docmig_opts o = { 3, 0, progress, &seen };
	struct docmig_result res;
	struct docmig_state s;
	char id[32], t[64];
	int again = 0;

	gb_err_clear(&err);
	is_int(store_docmig_run(st, MIG, &o, &res, &err), 0, "the rerun works: %s", err.msg);
	ok(res.resumed && strcmp(res.resumed_after, "ctx_a3") == 0,
	    "... resuming after ctx_a3 (%s)", res.resumed_after);
	ok(res.selected == 5 && res.migrated == 5 && res.batches == 2,
	    "... 5 selected, 5 migrated in 2 batches (%lld, %lld, %lld)",
	    (long long)res.selected, (long long)res.migrated, (long long)res.batches);
	store_docmig_state(st, MIG, &s, &err);
	ok(s.done && s.migrated == NSEL + 1 && s.finished_ms > 0,
	    "the migration is done, %d migrated over both runs (%lld)", NSEL + 1,
	    (long long)s.migrated);
	for (int i = 1; i <= 3; i++) {
		snprintf(id, sizeof(id), "ctx_a%d", i);
		again += strcmp(updated_at(st, id, t), stamp[i]) != 0;
		free(stamp[i]);
	}
	is_int(again, 0, "the first run's documents were not migrated again");
	for (int i = 1; i <= NSEL + 1; i++) {
		snprintf(id, sizeof(id), "ctx_a%d", i);
		again += !migrated(st, id);
	}
	is_int(again, 0, "every selected document has its timings");
}

static void
test_shape(struct store *st)
{
	cJSON *j = get_doc(st, "ctx_a2"), *p = cJSON_GetObjectItem(j, "processing");
	char *s = cJSON_PrintUnformatted(cJSON_GetObjectItem(p, "component_timings")), t[64];
	char *text = NULL;

	is_str(s, "{\"template\":0,\"ai_generator\":0,\"transformer\":0}",
	    "a timing of 0 per completed component, each once, in order");
	ok(strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(j, "updated_at")),
	    "2024-01-02T00:00:00.000Z") > 0, "updated_at is new");
	free(s);
	cJSON_Delete(j);
	store_get(st, COLL_CONTEXTS, "ctx_a2", &text, &err);
	ok(text && strstr(text, "\"big\":12345678901234567890"), "other values keep their text");
	free(text);
	j = get_doc(st, "ctx_a8");
	s = cJSON_PrintUnformatted(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "processing"),
	    "component_timings"));
	is_str(s, "{}", "no completed component: empty timings");
	is_str(updated_at(st, "ctx_a8", t), "2999-01-01T00:00:00.001Z",
	    "an updated_at ahead of the clock moves on by 1 ms");
	free(s);
	cJSON_Delete(j);
}

int
main(void)
{
	struct docmig_opts dry = { 2, 1, NULL, NULL };
	const char *dir = util_tmpdir();
	struct docmig_result res;
	char path[4200], *before, *all, *after, *stamp[NSEL + 1];
	struct store_job j;
	struct store *st;
	int found;

	test_registry();
	test_empty(dir);
	snprintf(path, sizeof(path), "%s/t112.db", dir);
	st = open_db(path);
	fixture(st);
	before = dump_others(st, 0);
	all = dump_others(st, 1);
	is_int(store_docmig_run(st, MIG, &dry, &res, &err), 0, "a dry run works");
	is_int(res.selected, NSEL + 1, "... selecting the %d completed contexts without timings",
	    NSEL + 1);
	after = dump_others(st, 1);
	is_str(after, all, "... and changes no document");
	free(after);
	store_job_get(st, "docmigrate", &j, &found, &err);
	is_int(found, 0, "... nor records a job run");
	test_interrupted(st, path, stamp);
	test_resume(st, stamp);
	test_shape(st);
	after = dump_others(st, 0);
	is_str(after, before, "documents not selected are untouched, byte for byte");
	free(after);
	free(before);
	before = dump_others(st, 1);
	is_int(store_docmig_run(st, MIG, NULL, &res, &err), 0, "a third run works");
	ok(res.selected == 0 && res.migrated == 0, "... finding nothing to migrate");
	after = dump_others(st, 1);
	is_str(after, before, "... and changes nothing: idempotent");
	free(after);
	free(before);
	free(all);
	store_close(st);
	return tap_done();
}
