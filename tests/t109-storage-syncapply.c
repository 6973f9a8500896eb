/*
 * t109-storage-syncapply - the pull's side of sync in the database: a
 * document from the cluster applied with the newer-wins guard and the
 * job-aware rule for contexts, without an outbox row of its own; a page and
 * its checkpoint in one transaction; what take gives read back equal; the
 * checkpoints and the status. The rules run twice: each apply alone, and
 * each inside a pull page (store_pull_begin), where the outbox triggers are
 * quiet and the apply queues what must go back itself: the outbox must end
 * the same. A page leaves sync enabled after a commit, a rollback and a
 * SIGKILL, and other connections never see it otherwise.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>

#include <sqlite3.h>
#include <sys/wait.h>

#include <cjson/cJSON.h>

#include "../base/gbtime.h"
#include "../storage/docs.h"
#include "../storage/listing.h"
#include "../storage/outbox.h"
#include "../storage/queue.h"
#include "../storage/store.h"
#include "tap.h"
#include "util.h"

#include "outboxtest.h"

/* A top-level or dotted field of a stored document as text ("(missing)", "(none)"). */
static char *
field(enum coll c, const char *id, const char *dotted)
{
	static char out[256];
	char *doc = NULL, p[128], *seg, *save = NULL;
	cJSON *t, *v;

	gb_err_clear(&err);
	if (store_get(st, c, id, &doc, &err))
		return "(missing)";
	t = cJSON_Parse(doc);
	v = t;
	snprintf(p, sizeof(p), "%s", dotted);
	for (seg = strtok_r(p, ".", &save); seg && v; seg = strtok_r(NULL, ".", &save))
		v = cJSON_GetObjectItemCaseSensitive(v, seg);
	if (cJSON_IsString(v)) {
		snprintf(out, sizeof(out), "%s", v->valuestring);
	} else {
		char *s = v ? cJSON_PrintUnformatted(v) : NULL;

		snprintf(out, sizeof(out), "%s", s ? s : "(none)");
		free(s);
	}
	cJSON_Delete(t);
	free(doc);
	return out;
}

static int in_page;	/* each apply_ctx inside a pull page of its own */

/* name, or page-name on the run inside pages */
static const char *
dbname(const char *name)
{
	static char out[64];

	snprintf(out, sizeof(out), "%s%s", in_page ? "page-" : "", name);
	return out;
}

/* Apply one context from the cluster; its result, bails on error. */
static enum store_apply
apply_ctx(const char *id, const char *status, int sec, int retry)
{
	enum store_apply res = (enum store_apply)-1;
	char doc[1024], got[STORE_ID_MAX] = "";

	snprintf(doc, sizeof(doc),
	    "{\"_id\":\"%s\",\"organization_id\":\"org_a\",\"status\":\"%s\","
	    "\"created_at\":{\"$date\":\"2024-01-01T00:00:00Z\"},"
	    "\"updated_at\":{\"$date\":\"2024-01-01T00:00:%02dZ\"},\"retry_count\":%d,"
	    "\"data\":{\"title\":\"remote %d\"}}", id, status, sec, retry, sec);
	gb_err_clear(&err);
	if (in_page && store_pull_begin(st, &err))
		tap_bail("page: %s", err.msg);
	if (store_sync_apply(st, COLL_CONTEXTS, doc, strlen(doc), &res, got, &err))
		tap_bail("apply %s: %s", doc, err.msg);
	if (in_page && store_pull_commit(st, &err))
		tap_bail("page: %s", err.msg);
	if (strcmp(got, id) != 0)
		tap_bail("apply %s: id_out '%s'", id, got);
	return res;
}

/* The newer-wins guard, and a pull's write leaves no outbox row. */
static void
test_apply(void)
{
	int64_t counts[CTX_STATUS_COUNT];

	st = open_db(dbname("apply.db"));
	store_sync_enable(st, NULL, &err);
	is_int(apply_ctx("ctx_p1", "pending", 10, 0), STORE_APPLY_INSERTED,
	    "a new context is inserted");
	is_str(field(COLL_CONTEXTS, "ctx_p1", "data.title"), "remote 10",
	    "with the cluster's document");
	is_str(field(COLL_CONTEXTS, "ctx_p1", "updated_at"), "2024-01-01T00:00:10.000Z",
	    "its dates in the mirror's form");
	is_int(depth(-1), 0, "and no outbox row");
	store_ctx_org_counts(st, "org_a", counts, &err);
	is_int(counts[CTX_PENDING], 1, "the counters count it");
	is_int(apply_ctx("ctx_p1", "processing", 20, 0), STORE_APPLY_NEWER,
	    "a newer copy replaces it");
	is_str(field(COLL_CONTEXTS, "ctx_p1", "status"), "processing", "status and all");
	is_str(field(COLL_CONTEXTS, "ctx_p1", "data.title"), "remote 20", "document and all");
	store_ctx_org_counts(st, "org_a", counts, &err);
	ok(counts[CTX_PENDING] == 0 && counts[CTX_PROCESSING] == 1, "the counters move with it");
	is_int(depth(-1), 0, "no outbox row");
	is_int(apply_ctx("ctx_p1", "processing", 20, 0), STORE_APPLY_SAME,
	    "the same copy again: same");
	is_int(apply_ctx("ctx_p1", "pending", 15, 0), STORE_APPLY_OLDER, "an older copy");
	is_str(field(COLL_CONTEXTS, "ctx_p1", "data.title"), "remote 20", "leaves the local one");
	is_int(depth(-1), 0, "and no outbox row");
	store_close(st);
}

/* The job-aware rule: terminal kept, retry_count never down, a running worker undisturbed. */
static void
test_apply_rule(void)
{
	struct ctx_finish f = { CTX_COMPLETED, NOW + 10, 5, 0, 0, 0, 0, NULL, 0 };
	char ids[4][STORE_ID_MAX];
	int n = 0;

	st = open_db(dbname("rule.db"));
	store_sync_enable(st, NULL, &err);
	put_ctx("ctx_t", "completed", 10, 0);
	drain();
	is_int(apply_ctx("ctx_t", "pending", 20, 0), STORE_APPLY_KEPT_TERMINAL,
	    "a newer pending copy of a completed context");
	is_str(field(COLL_CONTEXTS, "ctx_t", "status"), "completed", "leaves it completed");
	is_str(field(COLL_CONTEXTS, "ctx_t", "data.title"), "t", "with its own document");
	is_str(field(COLL_CONTEXTS, "ctx_t", "updated_at"), "2024-01-01T00:00:20.000Z",
	    "its updated_at up to the cluster's, so that its push wins");
	is_int(ver_of("ctx_t"), 1, "and queued to be pushed");
	drain();
	is_int(apply_ctx("ctx_t", "failed", 30, 0), STORE_APPLY_NEWER,
	    "a newer terminal copy replaces it");
	is_str(field(COLL_CONTEXTS, "ctx_t", "status"), "failed", "as failed");
	is_int(depth(-1), 0, "without an outbox row");

	put_ctx("ctx_rc", "pending", 10, 3);
	drain();
	is_int(apply_ctx("ctx_rc", "pending", 20, 1), STORE_APPLY_NEWER,
	    "a newer copy with a lower retry_count");
	is_str(field(COLL_CONTEXTS, "ctx_rc", "retry_count"), "3", "keeps the higher local count");
	is_str(field(COLL_CONTEXTS, "ctx_rc", "data.title"), "remote 20", "and takes the rest");
	is_int(ver_of("ctx_rc"), 1, "the changed document is queued to be pushed");
	drain();
	is_int(apply_ctx("ctx_rc", "pending", 30, 5), STORE_APPLY_NEWER, "a higher retry_count");
	is_str(field(COLL_CONTEXTS, "ctx_rc", "retry_count"), "5", "is taken");
	is_int(depth(-1), 0, "without an outbox row");

	put_ctx("ctx_run", "pending", 10, 0);
	is_int(store_queue_claim(st, "w1", NULL, NOW, 600000, 4, ids, &n, &err), 0,
	    "a local worker claims");
	drain();
	is_int(apply_ctx("ctx_run", "pending", 40, 0), STORE_APPLY_NEWER,
	    "a newer pending copy of the context it runs");
	is_str(field(COLL_CONTEXTS, "ctx_run", "status"), "processing", "leaves it processing");
	is_str(field(COLL_CONTEXTS, "ctx_run", "data.title"), "remote 40",
	    "with the cluster's document");
	is_int(ver_of("ctx_run"), 1, "queued to be pushed (it differs from the cluster's)");
	is_int(store_ctx_finish(st, "ctx_run", "w1", &f, &err), 0,
	    "the worker still holds it and ends it");
	is_str(field(COLL_CONTEXTS, "ctx_run", "status"), "completed", "completed");
	put_ctx("ctx_run2", "pending", 10, 0);
	store_queue_claim(st, "w1", NULL, NOW, 600000, 4, ids, &n, &err);
	is_int(apply_ctx("ctx_run2", "cancelled", 40, 0), STORE_APPLY_NEWER,
	    "a newer cancelled copy of a context a worker runs");
	is_str(field(COLL_CONTEXTS, "ctx_run2", "status"), "cancelled", "ends it");
	is_int(store_ctx_finish(st, "ctx_run2", "w1", &f, &err), GB_ESTATE,
	    "the worker's end is refused, as after a cancel");
	store_close(st);
}

/* A kept terminal context takes the cluster's higher retry_count: its push does not lower it. */
static void
test_apply_rule_retry(void)
{
	st = open_db(dbname("rule_retry.db"));
	store_sync_enable(st, NULL, &err);
	put_ctx("ctx_t2", "failed", 10, 1);
	drain();
	is_int(apply_ctx("ctx_t2", "pending", 20, 4), STORE_APPLY_KEPT_TERMINAL,
	    "a newer pending copy with a higher retry_count of a failed context");
	is_str(field(COLL_CONTEXTS, "ctx_t2", "status"), "failed", "leaves it failed");
	is_str(field(COLL_CONTEXTS, "ctx_t2", "retry_count"), "4",
	    "with the cluster's higher retry_count, so that its push does not lower it");
	{
		struct outbox_row rows[MAXROWS], *r;
		int nr = take(0, rows, MAXROWS);

		r = row_of(rows, nr, "ctx_t2");
		like(r && r->doc ? r->doc : "", "\"retry_count\":4",
		    "the document pushed carries it");
		store_outbox_rows_free(rows, nr);
	}
	drain();
	is_int(apply_ctx("ctx_t2", "pending", 30, 2), STORE_APPLY_KEPT_TERMINAL,
	    "a newer pending copy with a lower retry_count");
	is_str(field(COLL_CONTEXTS, "ctx_t2", "retry_count"), "4", "keeps the higher local count");
	drain();
	store_close(st);
}

/* What take gives, applied to another database, reads back the same. */
static void
test_round_trip(void)
{
	struct outbox_row rows[MAXROWS];
	struct store *a, *b;
	char ids[4][STORE_ID_MAX];
	int n = 0, same = 0, applied = 0;

	a = st = open_db("trip-a.db");
	store_sync_enable(st, NULL, &err);
	put(COLL_BATCHES,
	    "{\"_id\":\"batch_rt\",\"organization_id\":\"org_a\",\"context_count\":2}");
	put(COLL_CONTEXTS,
	    "{\"_id\":\"ctx_rt1\",\"organization_id\":\"org_a\",\"batch_id\":\"batch_rt\","
	    "\"created_at\":\"1965-03-04T05:06:07.089Z\",\"data\":{\"big\":12345678901234567890,"
	    "\"n\":9007199254740993,\"s\":\"\\u00e9\\u4e2d\"},\"extra\":[[1,2],[3]]}");
	put(COLL_CONTEXTS,
	    "{\"_id\":\"ctx_rt2\",\"organization_id\":\"org_a\",\"batch_id\":\"batch_rt\"}");
	store_queue_claim(st, "w1", NULL, NOW, 60000, 1, ids, &n,
	    &err);	/* hot columns laid over */
	n = take(0, rows, MAXROWS);
	is_int(n, 3, "3 rows taken");
	b = st = open_db("trip-b.db");
	for (int i = 0; i < n; i++) {
		enum store_apply res;
		char *da = NULL, *db = NULL;

		if (store_sync_apply(b, rows[i].coll, rows[i].doc, rows[i].len, &res, NULL,
		    &err) == 0 &&
		    res == STORE_APPLY_INSERTED)
			applied++;
		else
			tap_diag("apply %s: %s", rows[i].id, err.msg);
		store_get(a, rows[i].coll, rows[i].id, &da, &err);
		store_get(b, rows[i].coll, rows[i].id, &db, &err);
		if (da && db && util_json_equal(da, db) && (strcmp(rows[i].id, "ctx_rt1") != 0 ||
		    (strstr(db, "12345678901234567890") && strstr(db, "9007199254740993"))))
			same++;
		else
			tap_diag("differs: %s | %s", da ? da : "-", db ? db : "-");
		free(da);
		free(db);
	}
	is_int(applied, 3, "each applies to a fresh database");
	is_int(same, 3, "and reads back the same, exact integers and dates before 1970 included");
	store_outbox_rows_free(rows, n);
	store_close(b);
	store_close(a);
}

/* A page: applies and the checkpoint in one transaction, all or nothing. */
static void
test_apply_page(void)
{
	struct pull_checkpoint cp = { "2024-01-01T00:00:10.000Z", "ctx_pg1", 1 }, got;
	enum store_apply res;
	const char *tmpl = "{\"_id\":\"tmpl_pg\",\"organization_id\":\"org_a\",\"name\":\"T\","
	    "\"updated_at\":{\"$date\":\"2024-01-01T00:00:00Z\"}}";
	const char *batch = "{\"_id\":\"batch_pg\",\"organization_id\":\"org_a\","
	    "\"status\":\"pending\","
	    "\"updated_at\":{\"$date\":\"2024-01-01T00:00:00Z\"}}";

	st = open_db("page.db");
	store_sync_enable(st, NULL, &err);
	is_int(store_begin(st, &err), 0, "a page begins");
	apply_ctx("ctx_pg1", "pending", 10, 0);
	is_int(store_checkpoint_set(st, COLL_CONTEXTS, &cp, &err), 0, "its checkpoint is set");
	store_rollback(st);
	is_str(field(COLL_CONTEXTS, "ctx_pg1", "status"), "(missing)", "rolled back: no document");
	store_checkpoint_get(st, COLL_CONTEXTS, &got, &err);
	ok(got.updated_at[0] == '\0' && got.id[0] == '\0' && got.pulled == 0, "no checkpoint");
	is_int(depth(-1), 0, "no outbox row");
	store_begin(st, &err);
	apply_ctx("ctx_pg1", "pending", 10, 0);
	store_checkpoint_set(st, COLL_CONTEXTS, &cp, &err);
	is_int(store_commit(st, &err), 0, "committed");
	is_str(field(COLL_CONTEXTS, "ctx_pg1", "status"), "pending", "the document is there");
	store_checkpoint_get(st, COLL_CONTEXTS, &got, &err);
	is_str(got.id, "ctx_pg1", "with its checkpoint");
	is_int(store_sync_apply(st, COLL_TEMPLATES, tmpl, strlen(tmpl), &res, NULL, &err), 0,
	    "a template is applied");
	is_int(res, STORE_APPLY_INSERTED, "inserted");
	is_int(store_sync_apply(st, COLL_BATCHES, batch, strlen(batch), &res, NULL, &err), 0,
	    "a batch is applied");
	is_int(res, STORE_APPLY_INSERTED, "inserted");
	is_int(depth(-1), 0, "neither leaves an outbox row");
	is_int(store_sync_apply(st, COLL_CONTEXTS, "{\"_id\":", 7, &res, NULL, &err), GB_EINVAL,
	    "a broken document is refused");
	like(err.msg, "invalid JSON", "saying why");
	gb_err_clear(&err);
	is_int(store_sync_apply(st, COLL_CONTEXTS, "{\"_id\":\"ctx_bad\",\"status\":\"odd\"}", 34,
	    &res, NULL,
	    &err), GB_EINVAL, "a document the rules refuse");
	is_str(field(COLL_CONTEXTS, "ctx_bad", "status"), "(missing)", "is not written");
	store_close(st);
}

/* sync_meta's enabled as another connection reads it ("(none)": no row). */
static const char *
enabled_seen(void)
{
	static char out[16];
	sqlite3 *db = NULL;
	sqlite3_stmt *stmt = NULL;

	snprintf(out, sizeof(out), "(none)");
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "SELECT value FROM sync_meta WHERE key = 'enabled'", -1, &stmt,
	    NULL) == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW)
		snprintf(out, sizeof(out), "%s", (const char *)sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return out;
}

/*
 * A pull page's quiet triggers: a change queued before keeps its row, one
 * more version; sync stays enabled for everyone else during the page, and
 * after its commit, rollback or a SIGKILL.
 */
static void
test_page_quiet(void)
{
	pid_t pid;
	int status = 0;

	st = open_db("quiet.db");
	store_sync_enable(st, NULL, &err);
	put_ctx("ctx_q1", "pending", 10, 0);
	is_int(ver_of("ctx_q1"), 1, "a local change is queued");
	is_int(store_pull_begin(st, &err), 0, "a page begins");
	is_int(store_pull_begin(st, &err), GB_ESTATE, "not twice");
	is_str(enabled_seen(), "1", "another connection still sees sync enabled");
	apply_ctx("ctx_q1", "pending", 20, 0);
	apply_ctx("ctx_q2", "pending", 20, 0);
	is_int(store_pull_commit(st, &err), 0, "the page commits");
	is_int(ver_of("ctx_q1"), 2, "the change queued before keeps its row, one version more");
	is_int(depth(-1), 1, "the new document queues nothing");
	is_str(enabled_seen(), "1", "sync is enabled after the commit");
	drain();
	put_ctx("ctx_q2", "completed", 30, 0);
	is_int(ver_of("ctx_q2"), 1, "and a local change queues again");
	drain();

	store_pull_begin(st, &err);
	apply_ctx("ctx_q3", "pending", 20, 0);
	store_pull_rollback(st);
	is_str(field(COLL_CONTEXTS, "ctx_q3", "status"), "(missing)",
	    "a rolled back page: no document");
	is_str(enabled_seen(), "1", "sync enabled");
	put_ctx("ctx_q4", "pending", 10, 0);
	is_int(ver_of("ctx_q4"), 1, "a local change queues");
	drain();
	store_close(st);

	fflush(stdout);
	if ((pid = fork()) == 0) {
		st = open_db("quiet.db");
		if (store_pull_begin(st, &err) == 0)
			apply_ctx("ctx_q5", "pending", 20, 0);
		raise(SIGKILL);
		_exit(1);
	}
	waitpid(pid, &status, 0);
	ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "a process killed inside a page");
	st = open_db("quiet.db");
	is_str(field(COLL_CONTEXTS, "ctx_q5", "status"), "(missing)", "... wrote no document");
	is_str(enabled_seen(), "1", "... and left sync enabled");
	put_ctx("ctx_q6", "pending", 10, 0);
	is_int(ver_of("ctx_q6"), 1, "a local change queues");
	store_close(st);

	st = open_db("quiet-off.db");
	is_int(store_pull_begin(st, &err), 0, "a page where sync was never enabled");
	apply_ctx("ctx_q7", "pending", 20, 0);
	is_int(store_pull_commit(st, &err), 0, "commits");
	is_str(enabled_seen(), "(none)", "and enables nothing");
	is_int(depth(-1), 0, "no outbox row");
	store_close(st);
}

/* Checkpoints survive a reopen until reset; the status adds up and clears its error. */
static void
test_checkpoint_status(void)
{
	struct pull_checkpoint cp = { "2024-02-03T04:05:06.789Z", "batch_9", 1234 }, got;
	struct sync_coll_status s[COLL_COUNT];

	st = open_db("cp.db");
	is_int(store_checkpoint_set(st, COLL_BATCHES, &cp, &err), 0, "a checkpoint is set");
	store_close(st);
	st = open_db("cp.db");
	is_int(store_checkpoint_get(st, COLL_BATCHES, &got, &err), 0, "and read after a reopen");
	ok(strcmp(got.updated_at, cp.updated_at) == 0 && strcmp(got.id, "batch_9") == 0 &&
	    got.pulled == 1234, "unchanged (%s %s %lld)", got.updated_at, got.id,
	    (long long)got.pulled);
	is_int(store_checkpoint_get(st, COLL_COUNT, &got, &err), GB_EINVAL,
	    "an unknown collection is refused");
	gb_err_clear(&err);
	store_sync_note(st, COLL_CONTEXTS, SYNC_PUSHED, 5, NULL, 1000, &err);
	store_sync_note(st, COLL_CONTEXTS, SYNC_PUSHED, 3, NULL, 2000, &err);
	store_sync_note(st, COLL_CONTEXTS, SYNC_PULLED, 7, NULL, 2500, &err);
	store_sync_note(st, COLL_CONTEXTS, SYNC_CONFLICT, 2, NULL, 2600, &err);
	store_sync_note(st, COLL_CONTEXTS, SYNC_REJECTED, 1, NULL, 2700, &err);
	is_int(store_sync_note(st, COLL_CONTEXTS, SYNC_ERROR, 0, "cannot reach the cluster", 3000,
	    &err), 0,
	    "an error is noted");
	is_int(store_sync_note(st, COLL_CONTEXTS, SYNC_PUSHED, -1, NULL, 3000, &err), GB_EINVAL,
	    "a negative count is refused");
	gb_err_clear(&err);
	store_begin(st, &err);
	put_ctx("ctx_s", "pending", 1, 0);	/* sync is off here: no outbox row */
	store_commit(st, &err);
	is_int(store_sync_status(st, s, &err), 0, "the status is read");
	ok(s[COLL_CONTEXTS].pushed == 8 && s[COLL_CONTEXTS].pulled == 7 &&
	    s[COLL_CONTEXTS].conflicts == 2 &&
	    s[COLL_CONTEXTS].rejected == 1, "with the totals");
	ok(s[COLL_CONTEXTS].last_push_ms == 2000 && s[COLL_CONTEXTS].last_pull_ms == 2500,
	    "the last successes");
	ok(s[COLL_CONTEXTS].last_error_ms == 3000 && strcmp(s[COLL_CONTEXTS].last_error,
	    "cannot reach the cluster") == 0, "and the last error");
	ok(strcmp(s[COLL_BATCHES].checkpoint.id, "batch_9") == 0, "and the checkpoints");
	ok(s[COLL_USERS].pushed == 0 && s[COLL_USERS].last_error[0] == '\0',
	    "other collections are zero");
	store_sync_note(st, COLL_CONTEXTS, SYNC_OK, 0, NULL, 4000, &err);
	store_sync_status(st, s, &err);
	ok(s[COLL_CONTEXTS].last_error_ms == 0 && s[COLL_CONTEXTS].last_error[0] == '\0',
	    "a round without error clears the last error");
	is_int(s[COLL_CONTEXTS].pushed, 8, "and keeps the totals");
	store_sync_enable(st, NULL, &err);
	store_sync_status(st, s, &err);
	ok(s[COLL_CONTEXTS].outbox_depth == 1 && s[COLL_CONTEXTS].outbox_oldest_ms > 0,
	    "the outbox depth and its oldest row are in it");
	is_int(store_checkpoint_reset(st, COLL_BATCHES, &err), 0, "a checkpoint is reset");
	store_close(st);
	st = open_db("cp.db");
	store_checkpoint_get(st, COLL_BATCHES, &got, &err);
	ok(got.updated_at[0] == '\0' && got.pulled == 0,
	    "and the next pull starts from the beginning");
	store_close(st);
}

/* Refusals on pull in the rejected list; the push's and the pull's errors kept apart. */
static void
test_pull_reject(void)
{
	struct sync_coll_status s[COLL_COUNT];
	struct rejected_doc rj[4];
	int64_t total = 0;
	int n = 0;

	st = open_db("pullrej.db");
	store_sync_enable(st, NULL, &err);
	put_ctx("ctx_local", "pending", 1, 0);
	is_int(store_pull_reject(st, COLL_CONTEXTS, "ctx_bad", "field 'status': 'bogus'", 5000,
	    &err), 0, "a document refused on pull is recorded (%s)", err.msg);
	is_int(store_rejected_list(st, rj, 4, &n, &total, &err), 0, "the rejected list reads");
	ok(total == 1 && n == 1 && strcmp(rj[0].id, "ctx_bad") == 0 && rj[0].pull == 1 &&
	    strcmp(rj[0].error, "field 'status': 'bogus'") == 0 && rj[0].at_ms == 5000,
	    "... as refused on pull, with its error");
	store_sync_status(st, s, &err);
	is_int(s[COLL_CONTEXTS].rejected, 1, "... counted in the status");
	is_int(depth(-1), 1, "... the outbox untouched");
	is_int(store_pull_reject(st, COLL_CONTEXTS, "ctx_bad", "field 'status': 'bogus'", 6000,
	    &err), 0, "the same refusal again (a second read)");
	store_sync_status(st, s, &err);
	is_int(s[COLL_CONTEXTS].rejected, 1, "... is not counted twice");
	is_int(store_pull_reject(st, COLL_COUNT, "x", "e", 1, &err), GB_EINVAL,
	    "an unknown collection is refused");
	gb_err_clear(&err);
	is_int(apply_ctx("ctx_bad", "pending", 10, 0), STORE_APPLY_INSERTED,
	    "the document, mended in the cluster, is pulled");
	store_rejected_list(st, rj, 4, &n, &total, &err);
	is_int(total, 0, "... and leaves the rejected list");

	store_sync_note(st, COLL_CONTEXTS, SYNC_PULL_ERROR, 0, "pull: no server", 7000, &err);
	store_sync_note(st, COLL_CONTEXTS, SYNC_OK, 0, NULL, 7100, &err);
	store_sync_status(st, s, &err);
	ok(s[COLL_CONTEXTS].last_error_ms == 7000 && s[COLL_CONTEXTS].last_error_pull &&
	    strcmp(s[COLL_CONTEXTS].last_error, "pull: no server") == 0,
	    "a push round's OK does not clear the pull's error");
	store_sync_note(st, COLL_CONTEXTS, SYNC_PUSH_ERROR, 0, "push: no server", 7200, &err);
	store_sync_status(st, s, &err);
	ok(s[COLL_CONTEXTS].last_error_ms == 7200 && !s[COLL_CONTEXTS].last_error_pull,
	    "the newer error is shown (%s)", s[COLL_CONTEXTS].last_error);
	store_sync_note(st, COLL_CONTEXTS, SYNC_PULL_OK, 0, NULL, 7300, &err);
	store_sync_status(st, s, &err);
	ok(s[COLL_CONTEXTS].last_error_ms == 7200 &&
	    strcmp(s[COLL_CONTEXTS].last_error, "push: no server") == 0,
	    "a pull round's OK does not clear the push's error");
	store_sync_note(st, COLL_CONTEXTS, SYNC_PUSH_OK, 0, NULL, 7400, &err);
	store_sync_status(st, s, &err);
	is_int(s[COLL_CONTEXTS].last_error_ms, 0, "both cleared: no error");
	is_int(store_sync_note(st, COLL_CONTEXTS, SYNC_UNDATED, 3, NULL, 7500, &err), 0,
	    "documents the pull cannot see are noted");
	store_sync_note(st, COLL_CONTEXTS, SYNC_UNDATED, 2, NULL, 7600, &err);
	store_sync_status(st, s, &err);
	is_int(s[COLL_CONTEXTS].undated, 2, "... the last round's count");
	store_close(st);
}

int
main(void)
{
	test_apply();
	test_apply_rule();
	test_apply_rule_retry();
	in_page = 1;
	test_apply();
	test_apply_rule();
	test_apply_rule_retry();
	in_page = 0;
	test_page_quiet();
	test_apply_page();
	test_round_trip();
	test_checkpoint_status();
	test_pull_reject();
	return tap_done();
}
