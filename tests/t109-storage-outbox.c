/*
 * t109-storage-outbox - what sync keeps in the database: the outbox the
 * triggers fill (off until sync is enabled, coalescing, order, ack, reject),
 * the pull's newer-wins apply with the job-aware rule for contexts, the
 * checkpoints, the status, the cluster locks, and two processes queuing at
 * once.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "../base/gbtime.h"
#include "../storage/docs.h"
#include "../storage/listing.h"
#include "../storage/outbox.h"
#include "../storage/pipestats.h"
#include "../storage/queue.h"
#include "../storage/store.h"
#include "tap.h"
#include "util.h"

#define NOW 1700000000000LL
#define MAXROWS 64

static struct store *st;
static struct gb_err err;
static char path[4096];

static struct store *
open_db(const char *name)
{
	struct store_opts o = { 1, 1, 0, 10000, 0, 0 };
	struct store *s = NULL;

	snprintf(path, sizeof(path), "%s/%s", util_tmpdir(), name);
	if (store_open(&s, path, &o, &err))
		tap_bail("open %s: %s", path, err.msg);
	return s;
}

static void
put(enum coll c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
put(enum coll c, const char *fmt, ...)
{
	char doc[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(doc, sizeof(doc), fmt, ap);
	va_end(ap);
	gb_err_clear(&err);
	if (store_put(st, c, doc, strlen(doc), STORE_UPSERT, NULL, &err))
		tap_bail("put %s: %s", doc, err.msg);
}

/* A context of org_a at updated_at "2024-01-01T00:00:<sec>". */
static void
put_ctx(const char *id, const char *status, int sec, int retry)
{
	put(COLL_CONTEXTS, "{\"_id\":\"%s\",\"organization_id\":\"org_a\",\"status\":\"%s\","
	    "\"created_at\":\"2024-01-01T00:00:00Z\",\"updated_at\":\"2024-01-01T00:00:%02dZ\","
	    "\"retry_count\":%d,\"data\":{\"title\":\"t\"}}", id, status, sec, retry);
}

static int64_t
depth(int coll)
{
	int64_t d = -1, oldest = 0;

	if (store_outbox_depth(st, coll, &d, &oldest, &err))
		tap_bail("depth: %s", err.msg);
	return d;
}

static int
take(unsigned mask, struct outbox_row *rows, int max)
{
	int n = -1;

	gb_err_clear(&err);
	if (store_outbox_take(st, mask, max, rows, &n, &err))
		tap_bail("take: %s", err.msg);
	return n;
}

/* The row of id among rows, or NULL. */
static struct outbox_row *
row_of(struct outbox_row *rows, int n, const char *id)
{
	for (int i = 0; i < n; i++)
		if (strcmp(rows[i].id, id) == 0)
			return &rows[i];
	return NULL;
}

/* The version of id's outbox row now, 0 when it has none. */
static int64_t
ver_of(const char *id)
{
	struct outbox_row rows[MAXROWS], *r;
	int64_t v;
	int n = take(0, rows, MAXROWS);

	r = row_of(rows, n, id);
	v = r ? r->ver : 0;
	store_outbox_rows_free(rows, n);
	return v;
}

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
	if (v == NULL)
		snprintf(out, sizeof(out), "(none)");
	else if (cJSON_IsString(v))
		snprintf(out, sizeof(out), "%s", v->valuestring);
	else {
		char *s = cJSON_PrintUnformatted(v);

		snprintf(out, sizeof(out), "%s", s);
		free(s);
	}
	cJSON_Delete(t);
	free(doc);
	return out;
}

/* Nothing is recorded while sync is off: not writes, not claims, not ends. */
static void
test_off(void)
{
	struct ctx_finish f = { CTX_COMPLETED, NOW + 10, 5, 0, 0, 0, 0, NULL, 0 };
	char ids[4][STORE_ID_MAX];
	int on = -1, n = 0;

	st = open_db("off.db");
	is_int(store_sync_enabled(st, &on, &err), 0, "sync's state is read");
	is_int(on, 0, "a new database has sync off");
	put_ctx("ctx_off1", "pending", 1, 0);
	put(COLL_BATCHES, "{\"_id\":\"batch_off\",\"organization_id\":\"org_a\"}");
	put(COLL_TEMPLATES, "{\"_id\":\"tmpl_off\",\"organization_id\":\"org_a\",\"name\":\"T\"}");
	is_int(store_queue_claim(st, "w1", NULL, NOW, 60000, 4, ids, &n, &err), 0, "a claim");
	is_int(store_ctx_finish(st, "ctx_off1", "w1", &f, &err), 0, "and an end");
	is_int(depth(-1), 0, "leave no outbox row while sync is off");
	store_close(st);
}

/* Enabling queues the contexts and batches already there, once. */
static void
test_enable(void)
{
	int64_t queued = -1;
	int on = 0;

	st = open_db("enable.db");
	put_ctx("ctx_e1", "pending", 1, 0);
	put_ctx("ctx_e2", "completed", 2, 0);
	put(COLL_BATCHES, "{\"_id\":\"batch_e\",\"organization_id\":\"org_a\"}");
	put(COLL_TEMPLATES, "{\"_id\":\"tmpl_e\",\"organization_id\":\"org_a\",\"name\":\"T\"}");
	is_int(store_sync_enable(st, &queued, &err), 0, "sync is turned on");
	is_int(queued, 3, "queuing the 2 contexts and the batch already there");
	store_sync_enabled(st, &on, &err);
	is_int(on, 1, "sync reads as on");
	is_int(depth(COLL_CONTEXTS), 2, "2 context rows");
	is_int(depth(COLL_BATCHES), 1, "1 batch row");
	is_int(depth(COLL_TEMPLATES), 0, "the template was not queued");
	is_int(store_sync_enable(st, &queued, &err), 0, "turning it on again");
	is_int(queued, 0, "queues nothing new");
	is_int(depth(-1), 3, "still 3 rows");
	store_close(st);
}

/* Changes coalesce into one row per document; lease renewals are not changes. */
static void
test_coalesce(void)
{
	struct outbox_row rows[MAXROWS], *r;
	char ids[4][STORE_ID_MAX];
	int n = 0;

	st = open_db("coalesce.db");
	store_sync_enable(st, NULL, &err);
	put_ctx("ctx_c1", "pending", 1, 0);
	is_int(ver_of("ctx_c1"), 1, "an insert queues version 1");
	put_ctx("ctx_c1", "pending", 2, 0);
	is_int(store_ctx_set_status(st, "ctx_c1", CTX_PROCESSING, NOW, -1, &err), 0, "a status change");
	is_int(depth(COLL_CONTEXTS), 1, "3 changes leave 1 row");
	is_int(ver_of("ctx_c1"), 3, "at version 3");
	n = take(0, rows, MAXROWS);
	r = row_of(rows, n, "ctx_c1");
	ok(r && r->doc && r->coll == COLL_CONTEXTS, "the row comes with its document");
	like(r ? r->doc : "", "\"status\":\"processing\"", "as it is now (the status column laid over it)");
	like(r ? r->doc : "", "\"created_at\":{\"$date\":\"2024-01-01T00:00:00.000Z\"}",
	    "dates as Extended JSON");
	store_outbox_rows_free(rows, n);
	store_ctx_set_status(st, "ctx_c1", CTX_PENDING, NOW, -1, &err);
	is_int(store_queue_claim(st, "w1", NULL, NOW, 60000, 4, ids, &n, &err), 0, "a claim");
	is_int(ver_of("ctx_c1"), 5, "is a change (version 5)");
	is_int(store_queue_extend(st, "w1", NOW + 120000, &n, &err), 0, "a lease renewal");
	is_int(n, 1, "extends the lease");
	is_int(ver_of("ctx_c1"), 5, "and is not a change");
	store_close(st);
}

/* Rows come oldest first by seq, of the collections asked for. */
static void
test_take_order(void)
{
	struct outbox_row rows[MAXROWS];
	int n, inorder = 1;

	st = open_db("order.db");
	store_sync_enable(st, NULL, &err);
	put_ctx("ctx_o3", "pending", 1, 0);
	put(COLL_BATCHES, "{\"_id\":\"batch_o1\",\"organization_id\":\"org_a\"}");
	put_ctx("ctx_o1", "pending", 1, 0);
	put_ctx("ctx_o2", "pending", 1, 0);
	put_ctx("ctx_o3", "pending", 2, 0);	/* a later change keeps its place */
	n = take(0, rows, MAXROWS);
	is_int(n, 4, "4 rows");
	for (int i = 1; i < n; i++)
		inorder &= rows[i].seq > rows[i - 1].seq;
	ok(inorder, "in seq order");
	ok(n == 4 && strcmp(rows[0].id, "ctx_o3") == 0 && strcmp(rows[1].id, "batch_o1") == 0 &&
	    strcmp(rows[2].id, "ctx_o1") == 0 && strcmp(rows[3].id, "ctx_o2") == 0,
	    "each at the place of its first unsent change");
	ok(n == 4 && rows[0].ver == 2 && rows[1].coll == COLL_BATCHES, "with version and collection");
	store_outbox_rows_free(rows, n);
	n = take(0, rows, 2);
	ok(n == 2 && strcmp(rows[1].id, "batch_o1") == 0, "at most max of them");
	store_outbox_rows_free(rows, n);
	n = take(1u << COLL_BATCHES, rows, MAXROWS);
	ok(n == 1 && strcmp(rows[0].id, "batch_o1") == 0, "only the collections of the mask");
	like(n == 1 && rows[0].doc ? rows[0].doc : "", "\"_id\":\"batch_o1\"", "the batch's document");
	store_outbox_rows_free(rows, n);
	n = take((1u << COLL_TEMPLATES) | (1u << COLL_COMPONENTS), rows, MAXROWS);
	is_int(n, 0, "none of collections without rows");
	store_close(st);
}

/* An ack deletes only the versions taken; a change after the take stays. */
static void
test_ack(void)
{
	struct outbox_row rows[MAXROWS];
	int n;

	st = open_db("ack.db");
	store_sync_enable(st, NULL, &err);
	put_ctx("ctx_a1", "pending", 1, 0);
	put_ctx("ctx_a2", "pending", 1, 0);
	put_ctx("ctx_a3", "pending", 1, 0);
	n = take(0, rows, MAXROWS);
	is_int(n, 3, "3 rows taken");
	put_ctx("ctx_a2", "pending", 5, 0);	/* changed while being sent */
	is_int(store_outbox_ack(st, rows, n, &err), 0, "all 3 acknowledged");
	store_outbox_rows_free(rows, n);
	n = take(0, rows, MAXROWS);
	ok(n == 1 && strcmp(rows[0].id, "ctx_a2") == 0, "the one changed after the take stays");
	ok(n == 1 && rows[0].ver == 2, "at its new version");
	like(n == 1 && rows[0].doc ? rows[0].doc : "", "00:00:05.000Z", "with the new document");
	is_int(store_outbox_ack(st, rows, n, &err), 0, "acknowledged in turn");
	store_outbox_rows_free(rows, n);
	is_int(depth(-1), 0, "the outbox is empty");
	is_int(store_outbox_ack(st, rows, 0, &err), 0, "an empty ack is fine");
	store_close(st);
}

/* A refused document: recorded, out of the way, back when it changes, cleared by an ack. */
static void
test_reject(void)
{
	struct outbox_row rows[MAXROWS];
	struct rejected_doc rej[4];
	int64_t total = -1;
	int n, nr = -1;

	st = open_db("reject.db");
	store_sync_enable(st, NULL, &err);
	put_ctx("ctx_r1", "pending", 1, 0);
	put_ctx("ctx_r2", "pending", 1, 0);
	n = take(0, rows, 1);
	ok(n == 1 && strcmp(rows[0].id, "ctx_r1") == 0, "the first row is taken");
	is_int(store_outbox_reject(st, &rows[0], "document too large (code 10334)", &err), 0,
	    "and refused by the cluster");
	store_outbox_rows_free(rows, n);
	is_int(store_rejected_list(st, rej, 4, &nr, &total, &err), 0, "the rejected list is read");
	ok(nr == 1 && total == 1 && strcmp(rej[0].id, "ctx_r1") == 0 && rej[0].coll == COLL_CONTEXTS,
	    "it holds the document");
	is_str(nr == 1 ? rej[0].error : "", "document too large (code 10334)", "with the cluster's error");
	ok(nr == 1 && rej[0].at_ms > 0, "and when");
	n = take(0, rows, MAXROWS);
	ok(n == 1 && strcmp(rows[0].id, "ctx_r2") == 0, "the row behind it is not blocked");
	store_outbox_ack(st, rows, n, &err);
	store_outbox_rows_free(rows, n);
	is_int(depth(-1), 0, "the refused row is gone from the outbox");
	put_ctx("ctx_r1", "pending", 2, 0);
	n = take(0, rows, MAXROWS);
	ok(n == 1 && strcmp(rows[0].id, "ctx_r1") == 0, "a later local change queues it again");
	store_rejected_list(st, rej, 4, &nr, &total, &err);
	is_int(total, 1, "it is still listed as rejected until the cluster takes it");
	is_int(store_outbox_ack(st, rows, n, &err), 0, "the cluster takes it");
	store_outbox_rows_free(rows, n);
	store_rejected_list(st, rej, 4, &nr, &total, &err);
	ok(nr == 0 && total == 0, "and the rejected record is cleared");
	/* refused while it changed again: the new version stays queued */
	n = take(0, rows, MAXROWS);
	is_int(n, 0, "nothing queued");
	put_ctx("ctx_r2", "pending", 3, 0);
	n = take(0, rows, MAXROWS);
	put_ctx("ctx_r2", "pending", 4, 0);
	is_int(store_outbox_reject(st, &rows[0], "validation failed", &err), 0,
	    "a row refused after it changed again");
	store_outbox_rows_free(rows, n);
	n = take(0, rows, MAXROWS);
	ok(n == 1 && rows[0].ver == 2, "stays queued at its new version");
	store_outbox_rows_free(rows, n);
	store_close(st);
}

/* Depth and the age of the oldest row; deletes are not queued; the catalog is. */
static void
test_depth_and_catalog(void)
{
	struct outbox_row rows[MAXROWS];
	int64_t d = -1, oldest = -1, t0 = gb_now_ms(), t1;
	struct outbox_row *r;
	int n;

	st = open_db("depth.db");
	store_sync_enable(st, NULL, &err);
	is_int(store_outbox_depth(st, -1, &d, &oldest, &err), 0, "depth of an empty outbox");
	ok(d == 0 && oldest == 0, "is 0, no oldest");
	put_ctx("ctx_d1", "pending", 1, 0);
	usleep(20000);
	put_ctx("ctx_d2", "pending", 1, 0);
	put(COLL_BATCHES, "{\"_id\":\"batch_d\",\"organization_id\":\"org_a\"}");
	t1 = gb_now_ms();
	store_outbox_depth(st, COLL_CONTEXTS, &d, &oldest, &err);
	is_int(d, 2, "2 context rows");
	ok(oldest >= t0 - 5 && oldest <= t1 - 15, "the oldest is the first one's time (%lld in %lld..%lld)",
	    (long long)oldest, (long long)t0, (long long)t1);
	store_outbox_depth(st, COLL_BATCHES, &d, NULL, &err);
	is_int(d, 1, "1 batch row");
	is_int(store_outbox_depth(st, COLL_COUNT, &d, NULL, &err), GB_EINVAL, "an unknown collection is refused");
	n = take(0, rows, MAXROWS);
	store_outbox_ack(st, rows, n, &err);
	store_outbox_rows_free(rows, n);
	is_int(store_delete(st, COLL_CONTEXTS, "ctx_d1", &err), 0, "a context deleted (retention)");
	is_int(store_delete(st, COLL_BATCHES, "batch_d", &err), 0, "and a batch");
	is_int(depth(-1), 0, "are not queued");
	put(COLL_TEMPLATES, "{\"_id\":\"tmpl_d\",\"organization_id\":\"org_a\",\"name\":\"T\"}");
	put(COLL_COMPONENTS, "{\"_id\":\"comp_d\",\"organization_id\":\"org_a\",\"type\":\"llm\"}");
	is_int(depth(COLL_TEMPLATES), 1, "a new template is queued");
	is_int(depth(COLL_COMPONENTS), 1, "a new component too");
	n = take(0, rows, MAXROWS);
	store_outbox_ack(st, rows, n, &err);
	store_outbox_rows_free(rows, n);
	put(COLL_TEMPLATES, "{\"_id\":\"tmpl_d\",\"organization_id\":\"org_a\",\"name\":\"T2\"}");
	is_int(depth(COLL_TEMPLATES), 1, "a changed template is queued");
	store_delete(st, COLL_COMPONENTS, "comp_d", &err);
	is_int(depth(COLL_COMPONENTS), 1, "a deleted component too");
	n = take(1u << COLL_COMPONENTS, rows, MAXROWS);
	r = row_of(rows, n, "comp_d");
	ok(r && r->doc == NULL && r->len == 0, "its row comes without a document");
	store_outbox_rows_free(rows, n);
	store_close(st);
}

/* Apply one context from the cluster; its result, bails on error. */
static enum store_apply
apply_ctx(const char *id, const char *status, int sec, int retry)
{
	enum store_apply res = (enum store_apply)-1;
	char doc[1024], got[STORE_ID_MAX] = "";

	snprintf(doc, sizeof(doc), "{\"_id\":\"%s\",\"organization_id\":\"org_a\",\"status\":\"%s\","
	    "\"created_at\":{\"$date\":\"2024-01-01T00:00:00Z\"},"
	    "\"updated_at\":{\"$date\":\"2024-01-01T00:00:%02dZ\"},\"retry_count\":%d,"
	    "\"data\":{\"title\":\"remote %d\"}}", id, status, sec, retry, sec);
	gb_err_clear(&err);
	if (store_sync_apply(st, COLL_CONTEXTS, doc, strlen(doc), &res, got, &err))
		tap_bail("apply %s: %s", doc, err.msg);
	if (strcmp(got, id) != 0)
		tap_bail("apply %s: id_out '%s'", id, got);
	return res;
}

/* The newer-wins guard, and a pull's write leaves no outbox row. */
static void
test_apply(void)
{
	int64_t counts[CTX_STATUS_COUNT];

	st = open_db("apply.db");
	store_sync_enable(st, NULL, &err);
	is_int(apply_ctx("ctx_p1", "pending", 10, 0), STORE_APPLY_INSERTED, "a new context is inserted");
	is_str(field(COLL_CONTEXTS, "ctx_p1", "data.title"), "remote 10", "with the cluster's document");
	is_str(field(COLL_CONTEXTS, "ctx_p1", "updated_at"), "2024-01-01T00:00:10.000Z",
	    "its dates in the mirror's form");
	is_int(depth(-1), 0, "and no outbox row");
	store_ctx_org_counts(st, "org_a", counts, &err);
	is_int(counts[CTX_PENDING], 1, "the counters count it");
	is_int(apply_ctx("ctx_p1", "processing", 20, 0), STORE_APPLY_NEWER, "a newer copy replaces it");
	is_str(field(COLL_CONTEXTS, "ctx_p1", "status"), "processing", "status and all");
	is_str(field(COLL_CONTEXTS, "ctx_p1", "data.title"), "remote 20", "document and all");
	store_ctx_org_counts(st, "org_a", counts, &err);
	ok(counts[CTX_PENDING] == 0 && counts[CTX_PROCESSING] == 1, "the counters move with it");
	is_int(depth(-1), 0, "no outbox row");
	is_int(apply_ctx("ctx_p1", "processing", 20, 0), STORE_APPLY_SAME, "the same copy again: same");
	is_int(apply_ctx("ctx_p1", "pending", 15, 0), STORE_APPLY_OLDER, "an older copy");
	is_str(field(COLL_CONTEXTS, "ctx_p1", "data.title"), "remote 20", "leaves the local one");
	is_int(depth(-1), 0, "and no outbox row");
	store_close(st);
}

/* Acknowledge every queued row. */
static void
drain(void)
{
	struct outbox_row rows[MAXROWS];
	int n;

	while ((n = take(0, rows, MAXROWS)) > 0) {
		if (store_outbox_ack(st, rows, n, &err))
			tap_bail("ack: %s", err.msg);
		store_outbox_rows_free(rows, n);
	}
}

/* The job-aware rule: terminal kept, retry_count never down, a running worker undisturbed. */
static void
test_apply_rule(void)
{
	struct ctx_finish f = { CTX_COMPLETED, NOW + 10, 5, 0, 0, 0, 0, NULL, 0 };
	char ids[4][STORE_ID_MAX];
	int n = 0;

	st = open_db("rule.db");
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
	is_int(apply_ctx("ctx_t", "failed", 30, 0), STORE_APPLY_NEWER, "a newer terminal copy replaces it");
	is_str(field(COLL_CONTEXTS, "ctx_t", "status"), "failed", "as failed");
	is_int(depth(-1), 0, "without an outbox row");

	put_ctx("ctx_rc", "pending", 10, 3);
	drain();
	is_int(apply_ctx("ctx_rc", "pending", 20, 1), STORE_APPLY_NEWER, "a newer copy with a lower retry_count");
	is_str(field(COLL_CONTEXTS, "ctx_rc", "retry_count"), "3", "keeps the higher local count");
	is_str(field(COLL_CONTEXTS, "ctx_rc", "data.title"), "remote 20", "and takes the rest");
	is_int(ver_of("ctx_rc"), 1, "the changed document is queued to be pushed");
	drain();
	is_int(apply_ctx("ctx_rc", "pending", 30, 5), STORE_APPLY_NEWER, "a higher retry_count");
	is_str(field(COLL_CONTEXTS, "ctx_rc", "retry_count"), "5", "is taken");
	is_int(depth(-1), 0, "without an outbox row");

	put_ctx("ctx_run", "pending", 10, 0);
	is_int(store_queue_claim(st, "w1", NULL, NOW, 600000, 4, ids, &n, &err), 0, "a local worker claims");
	drain();
	is_int(apply_ctx("ctx_run", "pending", 40, 0), STORE_APPLY_NEWER,
	    "a newer pending copy of the context it runs");
	is_str(field(COLL_CONTEXTS, "ctx_run", "status"), "processing", "leaves it processing");
	is_str(field(COLL_CONTEXTS, "ctx_run", "data.title"), "remote 40", "with the cluster's document");
	is_int(ver_of("ctx_run"), 1, "queued to be pushed (it differs from the cluster's)");
	is_int(store_ctx_finish(st, "ctx_run", "w1", &f, &err), 0, "the worker still holds it and ends it");
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
	put(COLL_BATCHES, "{\"_id\":\"batch_rt\",\"organization_id\":\"org_a\",\"context_count\":2}");
	put(COLL_CONTEXTS, "{\"_id\":\"ctx_rt1\",\"organization_id\":\"org_a\",\"batch_id\":\"batch_rt\","
	    "\"created_at\":\"1965-03-04T05:06:07.089Z\",\"data\":{\"big\":12345678901234567890,"
	    "\"n\":9007199254740993,\"s\":\"\\u00e9\\u4e2d\"},\"extra\":[[1,2],[3]]}");
	put(COLL_CONTEXTS, "{\"_id\":\"ctx_rt2\",\"organization_id\":\"org_a\",\"batch_id\":\"batch_rt\"}");
	store_queue_claim(st, "w1", NULL, NOW, 60000, 1, ids, &n, &err);	/* hot columns laid over */
	n = take(0, rows, MAXROWS);
	is_int(n, 3, "3 rows taken");
	b = st = open_db("trip-b.db");
	for (int i = 0; i < n; i++) {
		enum store_apply res;
		char *da = NULL, *db = NULL;

		if (store_sync_apply(b, rows[i].coll, rows[i].doc, rows[i].len, &res, NULL, &err) == 0 &&
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
	const char *batch = "{\"_id\":\"batch_pg\",\"organization_id\":\"org_a\",\"status\":\"pending\","
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
	is_int(store_sync_apply(st, COLL_CONTEXTS, "{\"_id\":\"ctx_bad\",\"status\":\"odd\"}", 34, &res, NULL,
	    &err), GB_EINVAL, "a document the rules refuse");
	is_str(field(COLL_CONTEXTS, "ctx_bad", "status"), "(missing)", "is not written");
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
	    got.pulled == 1234, "unchanged (%s %s %lld)", got.updated_at, got.id, (long long)got.pulled);
	is_int(store_checkpoint_get(st, COLL_COUNT, &got, &err), GB_EINVAL, "an unknown collection is refused");
	gb_err_clear(&err);
	store_sync_note(st, COLL_CONTEXTS, SYNC_PUSHED, 5, NULL, 1000, &err);
	store_sync_note(st, COLL_CONTEXTS, SYNC_PUSHED, 3, NULL, 2000, &err);
	store_sync_note(st, COLL_CONTEXTS, SYNC_PULLED, 7, NULL, 2500, &err);
	store_sync_note(st, COLL_CONTEXTS, SYNC_CONFLICT, 2, NULL, 2600, &err);
	store_sync_note(st, COLL_CONTEXTS, SYNC_REJECTED, 1, NULL, 2700, &err);
	is_int(store_sync_note(st, COLL_CONTEXTS, SYNC_ERROR, 0, "cannot reach the cluster", 3000, &err), 0,
	    "an error is noted");
	is_int(store_sync_note(st, COLL_CONTEXTS, SYNC_PUSHED, -1, NULL, 3000, &err), GB_EINVAL,
	    "a negative count is refused");
	gb_err_clear(&err);
	store_begin(st, &err);
	put_ctx("ctx_s", "pending", 1, 0);	/* sync is off here: no outbox row */
	store_commit(st, &err);
	is_int(store_sync_status(st, s, &err), 0, "the status is read");
	ok(s[COLL_CONTEXTS].pushed == 8 && s[COLL_CONTEXTS].pulled == 7 && s[COLL_CONTEXTS].conflicts == 2 &&
	    s[COLL_CONTEXTS].rejected == 1, "with the totals");
	ok(s[COLL_CONTEXTS].last_push_ms == 2000 && s[COLL_CONTEXTS].last_pull_ms == 2500, "the last successes");
	ok(s[COLL_CONTEXTS].last_error_ms == 3000 && strcmp(s[COLL_CONTEXTS].last_error,
	    "cannot reach the cluster") == 0, "and the last error");
	ok(strcmp(s[COLL_BATCHES].checkpoint.id, "batch_9") == 0, "and the checkpoints");
	ok(s[COLL_USERS].pushed == 0 && s[COLL_USERS].last_error[0] == '\0', "other collections are zero");
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
	ok(got.updated_at[0] == '\0' && got.pulled == 0, "and the next pull starts from the beginning");
	store_close(st);
}

static void
test_locks_meta(void)
{
	struct cluster_lock locks[4];
	char val[32];
	int n = -1, found = -1;

	st = open_db("locks.db");
	is_int(store_cluster_lock_add(st, "ctx_l2", "box-1:7", 2000, &err), 0, "a lock is recorded");
	store_cluster_lock_add(st, "ctx_l1", "box-1:7", 1000, &err);
	store_cluster_lock_add(st, "ctx_l3", "box-1:8", 3000, &err);
	is_int(store_cluster_lock_list(st, locks, 4, &n, &err), 0, "the locks are listed");
	ok(n == 3 && strcmp(locks[0].ctx_id, "ctx_l1") == 0 && strcmp(locks[2].ctx_id, "ctx_l3") == 0 &&
	    strcmp(locks[2].worker_id, "box-1:8") == 0 && locks[0].taken_ms == 1000, "oldest first");
	is_int(store_cluster_lock_remove(st, "ctx_l1", &err), 0, "one is removed");
	store_cluster_lock_list(st, locks, 1, &n, &err);
	ok(n == 1 && strcmp(locks[0].ctx_id, "ctx_l2") == 0, "and gone; at most max listed");
	is_int(store_sync_meta_get(st, "stats_rowid", val, sizeof(val), &found, &err), 0, "a mark is read");
	is_int(found, 0, "absent at first");
	store_sync_meta_set(st, "stats_rowid", "42", &err);
	store_sync_meta_get(st, "stats_rowid", val, sizeof(val), &found, &err);
	ok(found && strcmp(val, "42") == 0, "and as set");
	store_close(st);
}

/* Claims and ends of the queue, and the batch counters they move, are changes. */
static void
test_queue_changes(void)
{
	struct ctx_finish done = { CTX_COMPLETED, NOW + 10, 5, 0, 0, 0, 0, NULL, 0 };
	struct ctx_finish retry = { CTX_PENDING, NOW + 10, 0, NOW + 60000, 0, 0, 0, NULL, 0 };
	char ids[4][STORE_ID_MAX];
	int n = 0;

	st = open_db("queue.db");
	store_sync_enable(st, NULL, &err);
	put(COLL_BATCHES, "{\"_id\":\"batch_q\",\"organization_id\":\"org_a\",\"context_count\":3}");
	for (int i = 1; i <= 3; i++)
		put(COLL_CONTEXTS, "{\"_id\":\"ctx_q%d\",\"organization_id\":\"org_a\",\"batch_id\":\"batch_q\"}", i);
	drain();
	is_int(store_queue_claim(st, "w1", NULL, NOW, 60000, 4, ids, &n, &err), 0, "3 contexts claimed");
	is_int(depth(COLL_CONTEXTS), 3, "3 context rows");
	is_int(depth(COLL_BATCHES), 1, "and their batch's (processing now)");
	drain();
	is_int(store_ctx_finish(st, "ctx_q1", "w1", &done, &err), 0, "one completes");
	is_int(store_ctx_finish(st, "ctx_q2", "w1", &retry, &err), 0, "one is to be retried");
	is_int(store_ctx_cancel(st, "ctx_q3", NOW + 10, &err), 0, "one is cancelled");
	is_int(depth(COLL_CONTEXTS), 3, "each is queued");
	is_int(depth(COLL_BATCHES), 1, "and the batch, whose counters moved");
	store_close(st);
}

#define PER_CHILD 300

/* Two processes, each with its own connection, queue at once: no row is lost. */
static void
test_two_processes(void)
{
	struct outbox_row *rows = calloc(2 * PER_CHILD + 1, sizeof(*rows));
	pid_t pid[2];
	int n = 0, status, failed = 0, ok2 = 1;

	st = open_db("two.db");
	store_sync_enable(st, NULL, &err);
	store_close(st);
	for (int c = 0; c < 2; c++) {
		if ((pid[c] = fork()) == 0) {
			struct store_opts o = { 0, 0, 0, 10000, 0, 0 };
			struct store *mine = NULL;
			int bad = 0;

			if (store_open(&mine, path, &o, &err))
				_exit(2);
			for (int i = 0; i < PER_CHILD && !bad; i++) {
				char id[64], doc[160];

				snprintf(id, sizeof(id), "ctx_p%d_%03d", c, i);
				snprintf(doc, sizeof(doc), "{\"_id\":\"%s\",\"organization_id\":\"org_a\"}", id);
				bad = store_put(mine, COLL_CONTEXTS, doc, strlen(doc), STORE_INSERT, NULL, &err) ||
				    store_ctx_set_status(mine, id, CTX_PROCESSING, NOW, -1, &err);
			}
			store_close(mine);
			_exit(bad);
		}
	}
	for (int c = 0; c < 2; c++) {
		waitpid(pid[c], &status, 0);
		failed += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
	}
	is_int(failed, 0, "two processes wrote %d contexts each, changing each twice", PER_CHILD);
	st = open_db("two.db");
	n = take(0, rows, 2 * PER_CHILD + 1);
	is_int(n, 2 * PER_CHILD, "every context has its outbox row");
	for (int i = 0; i < n; i++)
		ok2 &= rows[i].ver == 2 && rows[i].doc != NULL;
	ok(ok2, "each at version 2, with its document");
	store_outbox_rows_free(rows, n);
	free(rows);
	store_close(st);
}

static void
test_stat_rows(void)
{
	struct pipeline_stat_row rows[8];
	int n = -1;

	st = open_db("stats.db");
	store_pipeline_stat_add(st, "pipe_a", NOW, 100, &err);
	store_pipeline_stat_add(st, "pipe_b", NOW + 1, 200, &err);
	store_pipeline_stat_add(st, "pipe_a", NOW + 2, 300, &err);
	is_int(store_pipeline_stat_rows(st, 0, 8, rows, &n, &err), 0, "pipeline stat rows are read");
	ok(n == 3 && strcmp(rows[1].pipeline_id, "pipe_b") == 0 && rows[1].at_ms == NOW + 1 &&
	    rows[1].duration_ms == 200 && rows[0].rowid < rows[1].rowid && rows[1].rowid < rows[2].rowid,
	    "all 3, in the order they were added");
	store_pipeline_stat_rows(st, rows[0].rowid, 1, rows, &n, &err);
	ok(n == 1 && rows[0].duration_ms == 200, "after a rowid, at most max");
	store_pipeline_stat_rows(st, 1000000, 8, rows, &n, &err);
	ok(n == 3 && rows[0].duration_ms == 100, "a mark past the last row reads from the first");
	store_close(st);
}

int
main(void)
{
	test_off();
	test_enable();
	test_coalesce();
	test_take_order();
	test_ack();
	test_reject();
	test_depth_and_catalog();
	test_apply();
	test_apply_rule();
	test_apply_page();
	test_round_trip();
	test_checkpoint_status();
	test_locks_meta();
	test_queue_changes();
	test_two_processes();
	test_stat_rows();
	return tap_done();
}
