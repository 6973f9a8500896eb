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

int
main(void)
{
	test_off();
	test_enable();
	test_coalesce();
	test_apply();
	return tap_done();
}
