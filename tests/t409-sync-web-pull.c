/*
 * t409-sync-web-pull - what the web shows of the pull's side of sync, read
 * from storage as a running sync leaves it: a document refused on pull
 * and one refused by the cluster, each with its direction, in the
 * dashboard's rejected list and counted in /metrics; the count of the
 * cluster's documents the pull cannot see (no Date updated_at) in the
 * dashboard, /healthz (a warning) and /metrics; a pull's error that a
 * push round's success does not hide (/healthz last_error stays); and the
 * clock skew sync measured at its last connect (/healthz, the dashboard,
 * /metrics; a warning and a degraded /healthz past 2 s, none while sync is
 * off).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../storage/outbox.h"
#include "webtest.h"

static struct wt t;
static struct gb_err err;

/* The value of the /metrics line starting with prefix ("name{labels}"), or -1. */
static double
metric(const char *prefix)
{
	struct http_resp r = wt_req("GET", "/metrics", NULL, NULL);
	double v = http_metric_value(r.body, prefix);

	http_resp_free(&r);
	return v;
}

static void
put_ctx(const char *id)
{
	char doc[512];

	snprintf(doc, sizeof(doc), "{\"_id\":\"%s\",\"organization_id\":\"org_123\","
	    "\"user_id\":\"user_456\",\"status\":\"pending\",\"data\":{\"title\":\"t408\"}}", id);
	if (store_put(t.box.st, COLL_CONTEXTS, doc, strlen(doc), STORE_UPSERT, NULL, &err))
		tap_bail("put %s: %s", id, err.msg);
}

static const char *
state_ok(void *arg)
{
	(void)arg;
	return "ok";
}

/* The clock skew as sync records it, and what a server with sync on shows of it. */
static void
test_clock_skew(void)
{
	struct web_config wc;
	struct web *w2;
	struct http_resp r;
	char listen[] = "127.0.0.1:0", key[APIKEY_TOKEN_MAX];

	if (store_sync_meta_set(t.box.st, "clock_skew_ms", "-3500", &err))
		tap_bail("skew: %s", err.msg);
	r = wt_req("GET", "/healthz", NULL, NULL);
	ok(strcmp(body_path(&r, "sync.clock_skew_ms"), "null") == 0 &&
	    strcmp(body_path(&r, "sync.clock_warning"), "(none)") == 0,
	    "sync off: no clock skew shown, no warning");
	http_resp_free(&r);

	web_config_defaults(&wc);
	wc.db_path = t.box.path;
	wc.listen = listen;
	wc.threads = 2;
	wc.metrics = t.m;
	wc.sync_state = state_ok;
	if (web_start(&w2, &wc, &err))
		tap_bail("web_start: %s", err.msg);
	wt_set_port(web_port(w2));
	r = wt_req("GET", "/healthz", NULL, NULL);
	is_str(body_path(&r, "sync.clock_skew_ms"), "-3500",
	    "sync on: /healthz sync.clock_skew_ms");
	like(body_path(&r, "sync.clock_warning"), "this box's clock is 3.5 s ahead of MongoDB's",
	    "/healthz: a warning past 2 s");
	is_int(r.status, 200, "/healthz: still 200");
	is_str(body_path(&r, "status"), "degraded", "/healthz: degraded");
	like(body_path(&r, "reasons"), "newer-wins compares their dates", "/healthz: as a reason");
	http_resp_free(&r);
	wt_key(&t, "user_456", 0, key);
	r = wt_req("GET", "/api/v1/dashboard", key, NULL);
	is_str(body_path(&r, "sync.clock_skew_ms"), "-3500", "the dashboard: sync.clock_skew_ms");
	like(body_path(&r, "sync.clock_warning"), "3.5 s ahead", "... and the warning");
	http_resp_free(&r);
	is_int((int)(metric("genbox_sync_clock_skew_seconds") * 10), -35,
	    "/metrics: genbox_sync_clock_skew_seconds -3.5");
	store_sync_meta_set(t.box.st, "clock_skew_ms", "150", &err);
	r = wt_req("GET", "/healthz", NULL, NULL);
	is_str(body_path(&r, "sync.clock_skew_ms"), "150", "a skew of 150 ms is shown");
	is_str(body_path(&r, "sync.clock_warning"), "(none)", "without a warning");
	ok(strstr(body_path(&r, "reasons"), "clock") == NULL, "nor a reason");
	http_resp_free(&r);
	web_stop(w2);
	wt_set_port(t.port);
}

/* A push refused by the cluster, as the pusher records it. */
static void
push_refused(const char *id)
{
	struct outbox_row rows[64];
	int n = 0, i;

	if (store_outbox_take(t.box.st, 0, 64, rows, &n, &err))
		tap_bail("take: %s", err.msg);
	for (i = 0; i < n && strcmp(rows[i].id, id) != 0; i++)
		;
	if (i == n)
		tap_bail("no outbox row of %s", id);
	if (store_outbox_reject(t.box.st, &rows[i], "document too large", &err))
		tap_bail("reject: %s", err.msg);
	store_outbox_rows_free(rows, n);
}

/* The rejected entry of id in the dashboard's sync, its field key. */
static const char *
rejected_field(const struct http_resp *r, const char *id, const char *key)
{
	char path[64];

	for (int i = 0; i < 8; i++) {
		snprintf(path, sizeof(path), "sync.rejected.%d._id", i);
		if (strcmp(body_path(r, path), id) == 0) {
			snprintf(path, sizeof(path), "sync.rejected.%d.%s", i, key);
			return body_path(r, path);
		}
	}
	return "(not listed)";
}

int
main(void)
{
	char token[APIKEY_TOKEN_MAX];
	struct http_resp r;
	int64_t now = gb_now_ms();

	wt_start(&t, 2, 1 << 20, 10000);
	wt_set_port(t.port);
	wt_key(&t, "user_456", 0, token);
	if (store_sync_enable(t.box.st, NULL, &err))
		tap_bail("enable: %s", err.msg);
	put_ctx("ctx_t408_pull");
	put_ctx("ctx_t408_push");
	push_refused("ctx_t408_push");
	/* the pusher counts what the cluster refuses */
	store_sync_note(t.box.st, COLL_CONTEXTS, SYNC_REJECTED, 1, NULL, now, &err);
	if (store_pull_reject(t.box.st, COLL_CONTEXTS, "ctx_t408_pull",
	    "field 'status': 'bogus' is not a status", now, &err) ||
	    store_sync_note(t.box.st, COLL_CONTEXTS, SYNC_UNDATED, 3, NULL, now, &err) ||
	    store_sync_note(t.box.st, COLL_CONTEXTS, SYNC_PULL_ERROR, 0, "pull: cannot reach "
	    "127.0.0.1:1", now, &err) ||
	    store_sync_note(t.box.st, COLL_CONTEXTS, SYNC_OK, 0, NULL, now + 1, &err))
		tap_bail("sync status: %s", err.msg);

	r = wt_req("GET", "/api/v1/dashboard", token, NULL);
	is_int(r.status, 200, "GET /dashboard: 200");
	is_str(rejected_field(&r, "ctx_t408_pull", "direction"), "pull",
	    "the dashboard lists the document refused on pull as such");
	like(rejected_field(&r, "ctx_t408_pull", "error"), "bogus", "... with its error");
	is_str(rejected_field(&r, "ctx_t408_push", "direction"), "push",
	    "and the one the cluster refused as such");
	is_str(body_path(&r, "sync.rejected_total"), "2", "both counted");
	is_str(body_path(&r, "sync.collections.0.collection"), "contexts", "per collection:");
	is_str(body_path(&r, "sync.collections.0.rejected"), "2", "... rejected 2");
	is_str(body_path(&r, "sync.collections.0.undated"), "3",
	    "... the documents the pull cannot see");
	is_str(body_path(&r, "sync.collections.0.last_error_direction"), "pull",
	    "... the last error is the pull's");
	http_resp_free(&r);

	r = wt_req("GET", "/healthz", NULL, NULL);
	is_int(r.status, 200, "GET /healthz: 200");
	like(body_path(&r, "sync.last_error"), "pull: cannot reach",
	    "/healthz: a push round's success does not hide the pull's error");
	is_str(body_path(&r, "sync.undated"), "3", "/healthz: the undated documents");
	like(body_path(&r, "sync.undated_warning"), "3 documents the pull cannot see "
	    "(updated_at missing or not a Date), 3 in contexts", "/healthz: a warning says so");
	http_resp_free(&r);

	is_int((int)metric("genbox_sync_undated_documents{collection=\"contexts\"}"), 3,
	    "/metrics: genbox_sync_undated_documents of contexts");
	is_int((int)metric("genbox_sync_rejected_total{collection=\"contexts\"}"), 2,
	    "/metrics: genbox_sync_rejected_total counts both directions");

	{
		char db[4200];
		struct run run;

		snprintf(db, sizeof(db), "--db=%s", t.box.path);
		util_genbox_run(&run, NULL, db, "sync", "status", NULL);
		is_int(run.status, 0, "genbox sync status: exit 0");
		like(run.out, "contexts, pull 0s ago: pull: cannot reach", "... the last error, the pull's");
		like(run.out, "contexts: 3 documents in the cluster without a date",
		    "... the undated documents");
		like(run.out, "refused on pull: field 'status': 'bogus'",
		    "... the document refused on pull, as such");
		like(run.out, "refused by the cluster: document too large",
		    "... and the cluster's refusal");
		run_free(&run);
		util_genbox_run(&run, NULL, db, "sync", "status", "--json", NULL);
		like(run.out, "\"undated\":\t3", "sync status --json: undated");
		like(run.out, "\"direction\":\t\"pull\"", "... and each refusal's direction");
		run_free(&run);
	}

	store_sync_note(t.box.st, COLL_CONTEXTS, SYNC_PULL_OK, 0, NULL, now + 2, &err);
	store_sync_note(t.box.st, COLL_CONTEXTS, SYNC_UNDATED, 0, NULL, now + 2, &err);
	r = wt_req("GET", "/healthz", NULL, NULL);
	is_str(body_path(&r, "sync.last_error"), "null", "a pull round's success clears it");
	ok(strcmp(body_path(&r, "sync.undated"), "(none)") == 0 &&
	    strcmp(body_path(&r, "sync.undated_warning"), "(none)") == 0,
	    "no undated documents: no warning");
	http_resp_free(&r);
	test_clock_skew();
	{
		char key[APIKEY_TOKEN_MAX];

		wt_key(&t, "user_456", 0, key);
		store_sync_meta_set(t.box.st, "clock_skew_ms", "2500", &err);
		r = wt_req("GET", "/api/v1/dashboard", key, NULL);
		is_str(body_path(&r, "sync.clock_skew_ms"), "null",
		    "the dashboard with sync off: no skew");
		http_resp_free(&r);
	}
	wt_stop(&t);
	return tap_done();
}
