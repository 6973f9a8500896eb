/*
 * t303-web-contexts - the contexts routes of the API: the list with every
 * filter and cursor paging over a few hundred contexts (no duplicate, no
 * gap), create one and insertMany (exact big integers, errors naming
 * contexts[i]), the organization's limits (max_batch_size 400,
 * max_contexts_per_day 429 with reset_at, allowed_models 403, an unknown
 * pipeline 400), retry and cancel of one and of every match of a filter
 * (admins; counts), the timeline after a run with a failed attempt, a
 * context created through the API processed by the pool running beside
 * the server; the auth matrix on each route, another organization's
 * contexts answered 404 byte for byte as missing ones and never listed or
 * counted, and each bad input followed by a request that succeeds.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <civetweb.h>

#include "../storage/listing.h"
#include "../storage/submit.h"
#include "fakegen.h"
#include "webtest.h"

#define NPAGED 300

static struct wt t;
static char admin[APIKEY_TOKEN_MAX], reader[APIKEY_TOKEN_MAX], writer[APIKEY_TOKEN_MAX];
static char other[APIKEY_TOKEN_MAX], revoked[APIKEY_TOKEN_MAX];

/* ---- a generator that fails the first call for a "Flaky" title ---- */



/* ---- requests ---- */


/* A setting of org_123 (value: JSON text; NULL removes it). */
static void
org_setting(const char *name, const char *value)
{
	struct gb_err err = { 0, "" };
	cJSON *org = box_get(&t.box, COLL_ORGANIZATIONS, "org_123");
	cJSON *settings = cJSON_GetObjectItem(org, "settings");
	char *text;

	cJSON_DeleteItemFromObject(settings, name);
	if (value)
		cJSON_AddItemToObject(settings, name, cJSON_Parse(value));
	text = cJSON_PrintUnformatted(org);
	if (store_put(t.box.st, COLL_ORGANIZATIONS, text, strlen(text), STORE_UPSERT, NULL, &err))
		tap_bail("org setting: %s", err.msg);
	free(text);
	cJSON_Delete(org);
}

static void
setup(void)
{
	struct gb_err err = { 0, "" };
	char kid[APIKEY_ID_MAX];

	box_put(&t.box, COLL_USERS, "{\"_id\": \"user_w\", \"email\": \"w@acme.com\", \"role\": \"user\", "
	    "\"status\": \"active\", \"organization_id\": \"org_123\"}");
	box_put(&t.box, COLL_ORGANIZATIONS, "{\"_id\": \"org_999\", \"name\": \"Other\", \"settings\": "
	    "{\"default_pipeline_id\": \"pipe_article_generation\"}}");
	box_put(&t.box, COLL_USERS, "{\"_id\": \"user_999\", \"email\": \"x@other.com\", \"role\": "
	    "\"admin\", "
	    "\"status\": \"active\", \"organization_id\": \"org_999\"}");
	box_put(&t.box, COLL_CONTEXTS, "{\"_id\": \"ctx_theirs\", \"type\": \"bulktest\", \"status\": "
	    "\"failed\", "
	    "\"organization_id\": \"org_999\", \"user_id\": \"user_999\", \"data\": {\"title\": "
	    "\"Secret title\"}, "
	    "\"error\": {\"message\": \"theirs\"}}");
	box_put(&t.box, COLL_CONTEXTS, "{\"_id\": \"ctx_theirs_p\", \"type\": \"bulktest\", \"status\": "
	    "\"pending\", "
	    "\"organization_id\": \"org_999\", \"user_id\": \"user_999\", \"data\": {\"title\": "
	    "\"Secret two\"}, "
	    "\"next_retry_at\": \"2999-01-01T00:00:00Z\"}");
	wt_key(&t, "user_456", 1, admin);
	wt_key(&t, "user_456", 0, reader);
	wt_key(&t, "user_w", 1, writer);
	wt_key(&t, "user_999", 1, other);
	wt_key(&t, "user_456", 1, revoked);
	snprintf(kid, sizeof(kid), "%.20s", revoked);
	if (store_apikey_revoke(t.box.st, kid, "org_123", gb_now_ms(), &err))
		tap_bail("revoke: %s", err.msg);
}

/* A failed context of org_123 (due in the far future, so no pool takes it before its test). */
static void
put_failed(const char *id, const char *type)
{
	box_put(&t.box, COLL_CONTEXTS, "{\"_id\": \"%s\", \"type\": \"%s\", \"status\": \"failed\", "
	    "\"organization_id\": \"org_123\", \"user_id\": \"user_456\", \"pipeline_id\": "
	    "\"pipe_article_generation\", \"data\": {\"title\": \"Failed %s\", \"keywords\": [\"k\"], "
	    "\"target_audience\": \"developers\", \"tone\": \"technical\"}, \"retry_count\": 3, "
	    "\"error\": {\"component\": \"ai_generator\", \"message\": \"it broke\"}}", id, type, id);
}

/* ---- the auth matrix ---- */

static void
test_auth(void)
{
	static const struct {
		const char *method, *path, *body;
		int admin_only;
	} routes[] = {
		{ "GET", "/api/v1/contexts", NULL, 0 },
		{ "GET", "/api/v1/contexts/ctx_123456/timeline", NULL, 0 },
		{ "POST", "/api/v1/contexts", "{\"data\": {\"title\": \"Auth one\"}}", 0 },
		{ "POST", "/api/v1/contexts/bulk", "{\"contexts\": [{\"data\": {\"title\": \"Auth bulk\"}}]}",
		    0 },
		{ "POST", "/api/v1/contexts/ctx_auth_failed/retry", NULL, 0 },
		{ "POST", "/api/v1/contexts/retry", "{\"filter\": {\"type\": \"none\"}, \"dry_run\": true}", 1 },
		{ "POST", "/api/v1/contexts/cancel", "{\"filter\": {\"type\": \"none\"}, \"dry_run\": true}", 1 },
	};
	char what[160];

	put_failed("ctx_auth_failed", "auth");
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const char *m = routes[i].method, *p = routes[i].path, *b = routes[i].body;
		int reading = strcmp(m, "GET") == 0;
		int ok_status = reading ? 200 : strstr(p, "/retry") && !routes[i].admin_only ? 200 :
		    routes[i].admin_only ? 200 : 201;

		snprintf(what, sizeof(what), "%s %s", m, p);
		wt_expect(m, p, NULL, b, 401, "unauthorized", what);
		wt_expect(m, p, revoked, b, 401, "unauthorized", what);
		wt_expect(m, p, reader, b, reading ? 200 : 403, reading ? NULL : "forbidden", what);
		wt_expect(m, p, writer, b, routes[i].admin_only ? 403 : ok_status, routes[i].admin_only ?
		    "forbidden" : NULL, what);
		if (routes[i].admin_only)
			wt_expect(m, p, admin, b, 200, NULL, what);
	}
}

/* ---- another organization ---- */

static void
test_tenants(void)
{
	static const char *const paths[][2] = {
		{ "GET", "/api/v1/contexts/|" }, { "GET", "/api/v1/contexts/|/timeline" },
		{ "POST", "/api/v1/contexts/|/retry" }, { "POST", "/api/v1/contexts/|/cancel" },
	};
	struct http_resp a;

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		wt_same_as_missing(paths[i][0], paths[i][1], "ctx_theirs", "ctx_nonexistent", admin, "Secret");
	a = wt_req("GET", "/api/v1/contexts?q=secret&limit=200", admin, NULL);
	is_int(a.status, 200, "a search for the other organization's title");
	is_str(body_path(&a, "items"), "[]", "finds nothing of theirs");
	http_resp_free(&a);
	a = wt_req("GET", "/api/v1/contexts?type=bulktest", other, NULL);
	like(a.body, "ctx_theirs", "their own key lists them");
	http_resp_free(&a);
	a = wt_req("GET", "/api/v1/contexts?user_id=user_999", admin, NULL);
	is_str(body_path(&a, "items"), "[]", "a filter on their user lists nothing");
	http_resp_free(&a);
}

/* ---- create one, create many ---- */

static void
test_create(void)
{
	struct http_resp r;

	r = wt_req("POST", "/api/v1/contexts", writer, "{\"_id\": \"ctx_made_1\", \"type\": \"article\", "
	    "\"metadata\": {\"n\": 123456789012345678901, \"priority\": 5}, \"data\": {\"title\": "
	    "\"Made one\"}}");
	is_int(r.status, 201, "POST /contexts: 201");
	is_str(body_path(&r, "_id"), "ctx_made_1", "the stored document comes back");
	is_str(body_path(&r, "organization_id"), "org_123", "in the caller's organization");
	is_str(body_path(&r, "user_id"), "user_w", "the caller's user by default");
	is_str(body_path(&r, "pipeline_id"), "pipe_article_generation", "the organization's default "
	    "pipeline");
	is_str(body_path(&r, "status"), "pending", "pending");
	like(r.body, "\"n\":123456789012345678901", "a big integer keeps its digits in the answer");
	http_resp_free(&r);
	r = wt_req("GET", "/api/v1/contexts/ctx_made_1", reader, NULL);
	like(r.body, "\"n\":123456789012345678901", "and when read back");
	http_resp_free(&r);
	wt_expect("POST", "/api/v1/contexts", writer, "{\"_id\": \"ctx_made_1\", \"data\": {\"title\": "
	    "\"Again\"}}",
	    409, "conflict", "a taken _id");
	wt_expect_msg("POST", "/api/v1/contexts", writer, "{\"data\": {\"title\": \"X\"}, "
	    "\"organization_id\": "
	    "\"org_999\"}", 400, "organization_id", "another organization's id");
	wt_expect_msg("POST", "/api/v1/contexts", writer, "{\"data\": {\"title\": \"X\"}, \"batch_id\": "
	    "\"b\"}", 400,
	    "batch_id", "a batch_id");
	wt_expect_msg("POST", "/api/v1/contexts", writer, "{\"data\": {\"title\": 5}}", 400, "data.title",
	    "a title that is a number");
	wt_expect_msg("POST", "/api/v1/contexts", writer, "{\"data\": {}}", 400, "data.title", "no title");
	wt_expect_msg("POST", "/api/v1/contexts", writer, "{\"status\": \"completed\", \"data\": "
	    "{\"title\": \"X\"}}",
	    400, "status", "the engine's status");
	wt_expect("POST", "/api/v1/contexts", writer, "{\"data\": ", 400, "invalid_json", "bad JSON");
	wt_expect("POST", "/api/v1/contexts", writer, "[1, 2]", 400, "invalid_json", "not an object");
	wt_expect_msg("POST", "/api/v1/contexts", writer, "{\"pipeline_id\": \"pipe_nope\", \"data\": "
	    "{\"title\": "
	    "\"X\"}}", 400, "pipe_nope", "an unknown pipeline");
	wt_expect("POST", "/api/v1/contexts", writer, "{\"data\": {\"title\": \"Made two\"}}", 201, NULL,
	    "then a good one: 201");

}

static void
test_create_bulk(void)
{
	struct http_resp r;
	char path[128];

	r = wt_req("POST", "/api/v1/contexts/bulk", writer, "{\"contexts\": [{\"_id\": \"ctx_bulk_1\", "
	    "\"data\": "
	    "{\"title\": \"Bulk 1\"}, \"metadata\": {\"n\": 98765432109876543210}}, {\"data\": "
	    "{\"title\": "
	    "\"Bulk 2\"}}]}");
	is_int(r.status, 201, "POST /contexts/bulk: 201");
	is_str(body_path(&r, "count"), "2", "count 2");
	is_str(body_path(&r, "ids.0"), "ctx_bulk_1", "ids in order");
	snprintf(path, sizeof(path), "/api/v1/contexts/%s", body_path(&r, "ids.1"));
	http_resp_free(&r);
	wt_expect("GET", path, reader, NULL, 200, NULL, "the second one exists");
	r = wt_req("GET", "/api/v1/contexts/ctx_bulk_1", reader, NULL);
	like(r.body, "\"n\":98765432109876543210", "a big integer of a bulk element keeps its digits");
	http_resp_free(&r);
	wt_expect_msg("POST", "/api/v1/contexts/bulk", writer, "{\"contexts\": [{\"data\": {\"title\": "
	    "\"ok\"}}, "
	    "{\"data\": {\"title\": 7}}]}", 400, "contexts[1]: ", "a bad element is named");
	wt_expect("GET", "/api/v1/contexts?q=ok&type=none", reader, NULL, 200, NULL, "and nothing was "
	    "written");
	wt_expect_msg("POST", "/api/v1/contexts/bulk", writer, "{\"contexts\": [{\"data\": {\"title\": "
	    "\"ok\"}}, 3]}",
	    400, "contexts[1]", "an element that is not an object");
	wt_expect_msg("POST", "/api/v1/contexts/bulk", writer, "{\"contexts\": [{\"_id\": \"ctx_made_1\", "
	    "\"data\": "
	    "{\"title\": \"dup\"}}]}", 409, "contexts[0]", "a taken _id in bulk");
	wt_expect_msg("POST", "/api/v1/contexts/bulk", writer, "{\"contexts\": []}", 400, "no contexts",
	    "none");
	wt_expect_msg("POST", "/api/v1/contexts/bulk", writer, "{\"contexts\": {}}", 400, "contexts", "not "
	    "an array");
	wt_expect_msg("POST", "/api/v1/contexts/bulk", writer, "{\"contexts\": [], \"extra\": 1}", 400,
	    "extra",
	    "an unknown field");
	wt_expect_msg("POST", "/api/v1/contexts/bulk", writer, "{\"contexts\": [{\"data\": {\"title\": "
	    "\"a\"}}], "
	    "\"pipeline_id\": 5}", 400, "pipeline_id", "a pipeline_id that is a number");
	wt_expect("POST", "/api/v1/contexts/bulk", writer, "{\"contexts\": [{\"data\": {\"title\": \"Bulk "
	    "3\"}}], "
	    "\"pipeline_id\": \"pipe_article_generation\"}", 201, NULL, "then a good one: 201");
}

/* ---- the organization's limits ---- */

static void
test_limits(void)
{
	struct http_resp r;
	char *many = NULL, *four;
	size_t len = 0;
	FILE *f = open_memstream(&many, &len);
	int64_t today;

	fprintf(f, "{\"contexts\": [");
	for (int i = 0; i < 4; i++)
		fprintf(f, "%s{\"data\": {\"title\": \"Limit %d\"}}", i ? ", " : "", i);
	fprintf(f, "]}");
	fclose(f);
	four = many;
	org_setting("max_batch_size", "3");
	wt_expect_msg("POST", "/api/v1/contexts/bulk", writer, four, 400, "max_batch_size", "4 contexts past "
	    "max_batch_size 3");
	org_setting("max_batch_size", "50");
	wt_expect("POST", "/api/v1/contexts/bulk", writer, four, 201, NULL, "then under the limit: 201");
	free(many);

	r = wt_req("GET", "/api/v1/organization", reader, NULL);
	today = strtoll(body_path(&r, "usage.contexts_today"), NULL, 10);
	http_resp_free(&r);
	{
		char v[32];

		snprintf(v, sizeof(v), "%lld", (long long)today);
		org_setting("max_contexts_per_day", v);
	}
	r = wt_req("POST", "/api/v1/contexts", writer, "{\"data\": {\"title\": \"Over the day\"}}");
	is_int(r.status, 429, "past max_contexts_per_day: 429");
	is_str(err_code(&r), "rate_limited", "rate_limited");
	{
		char want[GB_TIME_LEN];

		is_str(body_path(&r, "error.reset_at"), gb_time_format(submit_day_reset_ms(gb_now_ms()), want),
		    "reset_at is the next 00:00 UTC");
	}
	http_resp_free(&r);
	org_setting("max_contexts_per_day", "1000");
	wt_expect("POST", "/api/v1/contexts", writer, "{\"data\": {\"title\": \"Under the day\"}}", 201, NULL,
	    "then with room: 201");

	org_setting("allowed_models", "[\"some-other-model\"]");
	wt_expect("POST", "/api/v1/contexts", writer, "{\"data\": {\"title\": \"Model\"}}", 403, "forbidden",
	    "a pipeline whose model is not allowed: 403");
	wt_expect("POST", "/api/v1/contexts/bulk", writer, "{\"contexts\": [{\"data\": {\"title\": "
	    "\"Model\"}}]}",
	    403, "forbidden", "in bulk too");
	org_setting("allowed_models", "[\"gpt-3.5-turbo\", \"gpt-4\"]");
	wt_expect("POST", "/api/v1/contexts", writer, "{\"data\": {\"title\": \"Model ok\"}}", 201, NULL,
	    "then allowed: 201");
}

/* ---- the list ---- */

static void
test_list_bad(void)
{
	static const char *const bad[][2] = {
		{ "/api/v1/contexts?limit=0", "limit" }, { "/api/v1/contexts?limit=201", "limit" },
		{ "/api/v1/contexts?limit=ten", "limit" }, { "/api/v1/contexts?cursor=zzz", "cursor" },
		{ "/api/v1/contexts?cursor=", "cursor" }, { "/api/v1/contexts?status=done", "status" },
		{ "/api/v1/contexts?status=pending,", "status" },
		{ "/api/v1/contexts?created_after=yesterday", "created_after" },
		{ "/api/v1/contexts?created_before=2023-13-45", "created_before" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		wt_expect_msg("GET", bad[i][0], reader, NULL, 400, bad[i][1], bad[i][0]);
		wt_expect("GET", "/api/v1/contexts?limit=1", reader, NULL, 200, NULL, "then a good list");
	}
}

static void
test_list_filters(void)
{
	struct http_resp r;

	put_failed("ctx_list_failed", "listing");
	r = wt_req("GET", "/api/v1/contexts?status=failed,cancelled&type=listing", reader, NULL);
	is_int(r.status, 200, "a status list and a type");
	is_str(body_path(&r, "items.0._id"), "ctx_list_failed", "finds the failed one");
	is_str(body_path(&r, "items.0.error"), "it broke", "its error as a string");
	is_str(body_path(&r, "items.0.title"), "Failed ctx_list_failed", "its title");
	is_str(body_path(&r, "items.0.retry_count"), "3", "its retry_count");
	is_str(body_path(&r, "next_cursor"), "null", "one page: next_cursor null");
	http_resp_free(&r);
	r = wt_req("GET", "/api/v1/contexts?q=MADE%20ONE", reader, NULL);
	is_str(body_path(&r, "items.0._id"), "ctx_made_1", "q searches titles without regard to case");
	is_str(body_path(&r, "items.1"), "(none)", "and only them");
	http_resp_free(&r);
	r = wt_req("GET", "/api/v1/contexts?user_id=user_w&created_after=2020-01-01T00:00:00Z&q=made",
	    reader, NULL);
	is_str(body_path(&r, "items.0.user_id"), "user_w", "by user and date");
	http_resp_free(&r);
	r = wt_req("GET", "/api/v1/contexts?created_before=2024-01-01T00:00:00Z", reader, NULL);
	is_str(body_path(&r, "items.0._id"), "ctx_123456", "created_before: the demo's context");
	http_resp_free(&r);
	r = wt_req("GET", "/api/v1/contexts?batch_id=batch_7890", reader, NULL);
	is_str(body_path(&r, "items.0.batch_id"), "batch_7890", "by batch");
	http_resp_free(&r);
}

/* Every page of type=paged, limit 37: each context once, newest first. */
static void
test_paging(void)
{
	char path[1024], seen_last[64] = "", *prev_created = NULL;
	int n = 0, pages = 0, dup = 0, order = 1;
	char (*ids)[STORE_ID_MAX] = calloc(NPAGED + 10, sizeof(*ids));
	char cursor[LIST_CURSOR_MAX] = "";

	for (int b = 0; b < NPAGED / 50; b++) {
		char *body = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&body, &len);

		fprintf(f, "{\"contexts\": [");
		for (int i = 0; i < 50; i++)
			fprintf(f, "%s{\"type\": \"paged\", \"data\": {\"title\": \"Paged %d\"}}", i ? ", " : "",
			    b * 50 + i);
		fprintf(f, "]}");
		fclose(f);
		wt_expect("POST", "/api/v1/contexts/bulk", writer, body, 201, NULL, "50 contexts for paging");
		free(body);
	}
	do {
		struct http_resp r;
		cJSON *j, *it;

		snprintf(path, sizeof(path), "/api/v1/contexts?type=paged&limit=37%s%s",
		    cursor[0] ? "&cursor=" : "",
		    cursor);
		r = wt_req("GET", path, reader, NULL);
		if (r.status != 200 || (j = cJSON_Parse(r.body)) == NULL) {
			ok(0, "page %d: %ld %s", pages, r.status, r.body);
			http_resp_free(&r);
			break;
		}
		pages++;
		cJSON_ArrayForEach(it, cJSON_GetObjectItem(j, "items")) {
			const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(it, "_id"));
			const char *c = cJSON_GetStringValue(cJSON_GetObjectItem(it, "created_at"));

			for (int k = 0; k < n; k++)
				dup += strcmp(ids[k], id) == 0;
			if (prev_created && (strcmp(c, prev_created) > 0 || (strcmp(c, prev_created) == 0 &&
			    strcmp(id, seen_last) > 0)))
				order = 0;
			free(prev_created);
			prev_created = strdup(c);
			snprintf(seen_last, sizeof(seen_last), "%s", id);
			if (n < NPAGED + 10)
				snprintf(ids[n++], STORE_ID_MAX, "%s", id);
		}
		it = cJSON_GetObjectItem(j, "next_cursor");
		snprintf(cursor, sizeof(cursor), "%s", cJSON_IsString(it) ? it->valuestring : "");
		cJSON_Delete(j);
		http_resp_free(&r);
	} while (cursor[0] && pages < 50);
	is_int(n, NPAGED, "paging over %d contexts sees each", NPAGED);
	is_int(dup, 0, "no duplicate");
	is_int(pages, (NPAGED + 36) / 37, "in %d pages of 37", (NPAGED + 36) / 37);
	ok(order, "newest first (created_at, then _id, descending)");
	free(prev_created);
	free(ids);
}

/* ---- bulk retry and cancel ---- */

static void
test_bulk(void)
{
	struct http_resp r;

	for (int i = 0; i < 5; i++) {
		char id[32];

		snprintf(id, sizeof(id), "ctx_bt_failed_%d", i);
		put_failed(id, "bulktest");
	}
	for (int i = 0; i < 3; i++)
		box_put(&t.box, COLL_CONTEXTS, "{\"_id\": \"ctx_bt_pending_%d\", \"type\": \"bulktest\", "
		    "\"status\": "
		    "\"pending\", \"organization_id\": \"org_123\", \"data\": {\"title\": \"Pending %d\"}, "
		    "\"next_retry_at\": \"2999-01-01T00:00:00Z\"}", i, i);
	r = wt_req("POST", "/api/v1/contexts/retry", admin, "{\"filter\": {\"type\": \"bulktest\"}, "
	    "\"dry_run\": true}");
	is_int(r.status, 200, "bulk retry, dry run: 200");
	is_str(body_path(&r, "matched"), "5", "matches the 5 failed ones (not the other organization's)");
	is_str(body_path(&r, "changed"), "0", "changes none");
	http_resp_free(&r);
	is_str(box_ctx(&t.box, "ctx_bt_failed_0", "status"), "failed", "still failed");
	r = wt_req("POST", "/api/v1/contexts/cancel", admin, "{\"filter\": {\"type\": \"bulktest\", "
	    "\"status\": "
	    "[\"pending\"]}}");
	is_str(body_path(&r, "matched"), "3", "bulk cancel matches the 3 pending ones");
	is_str(body_path(&r, "changed"), "3", "and cancels them");
	http_resp_free(&r);
	is_str(box_ctx(&t.box, "ctx_bt_pending_2", "status"), "cancelled", "cancelled");
	is_str(box_ctx(&t.box, "ctx_theirs_p", "status"), "pending", "the other organization's is "
	    "untouched");
	r = wt_req("POST", "/api/v1/contexts/retry", admin, "{\"filter\": {\"type\": \"bulktest\", "
	    "\"status\": "
	    "\"failed\"}, \"dry_run\": false}");
	is_str(body_path(&r, "matched"), "5", "bulk retry of the failed ones");
	is_str(body_path(&r, "changed"), "5", "retries 5");
	http_resp_free(&r);
	is_str(box_ctx(&t.box, "ctx_bt_failed_4", "status"), "pending", "pending again");
	is_str(box_ctx(&t.box, "ctx_bt_failed_4", "retry_count"), "3", "its retry_count kept");
	is_str(box_ctx(&t.box, "ctx_theirs", "status"), "failed", "the other organization's failed one "
	    "stays");
	r = wt_req("GET", "/metrics", NULL, NULL);
	ok(http_metric_value(r.body, "genbox_contexts_requeued_total{by=\"api\"}") >= 5,
	    "/metrics counts the contexts the API sent back to the queue");
	ok(http_metric_value(r.body, "genbox_contexts_cancelled_total{by=\"api\"}") >= 3,
	    "and those it cancelled");
	http_resp_free(&r);
}

/* Bad filters and bodies of the bulk actions, then an empty filter with all. */
static void
test_bulk_bad(void)
{
	struct http_resp r;

	wt_expect_msg("POST", "/api/v1/contexts/retry", admin, "{\"filter\": {}}", 400, "all", "an empty "
	    "filter "
	    "without all");
	wt_expect_msg("POST", "/api/v1/contexts/retry", admin, "{}", 400, "all", "no filter without all");
	wt_expect_msg("POST", "/api/v1/contexts/retry", admin, "{\"filter\": {\"colour\": \"red\"}}", 400,
	    "colour",
	    "an unknown filter key");
	wt_expect_msg("POST", "/api/v1/contexts/retry", admin, "{\"filter\": {\"status\": \"done\"}}",
	    400, "status",
	    "an unknown status");
	wt_expect_msg("POST", "/api/v1/contexts/retry", admin, "{\"filter\": {\"type\": 5}}", 400, "type",
	    "a type that is a number");
	wt_expect_msg("POST", "/api/v1/contexts/retry", admin, "{\"filter\": {\"type\": \"x\"}, "
	    "\"dry_run\": 1}", 400,
	    "dry_run", "dry_run that is a number");
	wt_expect_msg("POST", "/api/v1/contexts/cancel", admin, "{\"filter\": {\"created_after\": "
	    "\"soon\"}}", 400,
	    "created_after", "a bad date");
	wt_expect_msg("POST", "/api/v1/contexts/cancel", admin, "{\"filter\": [], \"all\": true}", 400,
	    "filter",
	    "a filter that is not an object");
	wt_expect("POST", "/api/v1/contexts/cancel", admin, "not json", 400, "invalid_json", "bad JSON");
	r = wt_req("POST", "/api/v1/contexts/retry", admin, "{\"filter\": {}, \"all\": true, \"dry_run\": "
	    "true}");
	is_int(r.status, 200, "then an empty filter with all: 200");
	ok(strtoll(body_path(&r, "matched"), NULL, 10) >= 3, "matching the cancelled ones (%s)",
	    body_path(&r, "matched"));
	http_resp_free(&r);
	r = wt_req("POST", "/api/v1/contexts/retry", other, "{\"filter\": {\"type\": \"bulktest\"}, "
	    "\"dry_run\": true}");
	is_str(body_path(&r, "matched"), "1", "the other organization counts its own only");
	http_resp_free(&r);
	/* one context: retry of a pending one, cancel of an ended one */
	wt_expect("POST", "/api/v1/contexts/ctx_bt_failed_0/retry", writer, NULL, 409, "conflict",
	    "retry of a pending context: 409");
	wt_expect("POST", "/api/v1/contexts/ctx_bt_pending_0/cancel", writer, NULL, 409, "conflict",
	    "cancel of a cancelled context: 409");
	wt_expect("POST", "/api/v1/contexts/ctx_bt_pending_0/retry", writer, NULL, 200, NULL,
	    "then its retry: 200");
	wt_expect("POST", "/api/v1/contexts/ctx_bt_pending_0/cancel", writer, NULL, 200, NULL,
	    "and its cancel: 200");
}

/* ---- with the pool running ---- */

static int
is_date(const char *s)
{
	int64_t ms;

	return gb_time_parse(s, strlen(s), &ms) == 0;
}

static int
is_count(const char *s)
{
	return s[0] && strspn(s, "0123456789") == strlen(s);
}

static void
test_run(void)
{
	struct http_resp r;

	put_failed("ctx_run_failed", "rerun");
	r = wt_req("POST", "/api/v1/contexts/ctx_run_failed/retry", writer, NULL);
	is_int(r.status, 200, "retry of a failed context: 200");
	is_str(body_path(&r, "status"), "pending", "pending again");
	is_str(body_path(&r, "error"), "null", "its error cleared");
	http_resp_free(&r);
	ok(box_wait_status(&t.box, "ctx_run_failed", "completed", 30000), "the pool runs it again to "
	    "completed");

	r = wt_req("POST", "/api/v1/contexts", writer, "{\"_id\": \"ctx_flaky\", \"data\": {\"title\": "
	    "\"Flaky one\", "
	    "\"keywords\": [\"k\"], \"target_audience\": \"developers\", \"tone\": \"technical\"}}");
	is_int(r.status, 201, "a context through the API");
	http_resp_free(&r);
	ok(box_wait_status(&t.box, "ctx_flaky", "completed", 30000), "is processed by the running pool, "
	    "after a failed attempt");
	r = wt_req("GET", "/api/v1/contexts/ctx_flaky/timeline", reader, NULL);
	is_int(r.status, 200, "its timeline: 200");
	is_str(body_path(&r, "_id"), "ctx_flaky", "_id");
	is_str(body_path(&r, "status"), "completed", "status");
	ok(is_date(body_path(&r, "started_at")), "started_at");
	ok(is_date(body_path(&r, "completed_at")), "completed_at");
	ok(is_count(body_path(&r, "duration_ms")), "duration_ms");
	is_str(body_path(&r, "components.0.name"), "template", "components in pipeline order: template");
	is_str(body_path(&r, "components.1.name"), "ai_generator", "ai_generator");
	is_str(body_path(&r, "components.2.name"), "transformer", "transformer");
	ok(is_count(body_path(&r, "components.2.ms")), "each with its ms");
	is_str(body_path(&r, "attempts.0.attempt"), "1", "the failed attempt: number 1");
	is_str(body_path(&r, "attempts.0.component"), "ai_generator", "its component");
	{
		const char *e = body_path(&r, "attempts.0.error");

		ok(strstr(e, "503") || strstr(e, "overloaded"), "its error, a string: %s", e);
	}
	ok(is_date(body_path(&r, "attempts.0.at")), "its time");
	is_str(body_path(&r, "attempts.1"), "(none)", "one attempt only");
	http_resp_free(&r);
	wt_expect("GET", "/api/v1/contexts/ctx_123456/timeline", reader, NULL, 200, NULL, "the demo's "
	    "timeline");
	wt_expect("GET", "/api/v1/contexts/ctx_nope/timeline", reader, NULL, 404, "not_found", "a missing "
	    "one: 404");
}

int
main(void)
{
	struct pool_config pc;
	struct fakegen gen;
	struct pool *p;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	wt_start(&t, 4, 1 << 20, 5000);
	wt_set_port(t.port);
	setup();
	test_auth();
	test_tenants();
	test_create();
	test_create_bulk();
	test_limits();
	test_list_bad();
	test_list_filters();
	test_paging();
	test_bulk();
	test_bulk_bad();
	/* the contexts made above are due: a pool beside the server runs them, and these */
	fakegen_start(&gen, 8, 0, "Flaky");
	pool_config_defaults(&pc);
	pc.workers = 2;
	pc.retry_base_ms = 50;
	pc.run_forever = 1;
	p = box_pool(&t.box, gen.url, &pc);
	test_run();
	pool_stop(p, 2000);
	pool_free(p);
	fakegen_stop(&gen);
	wt_stop(&t);
	curl_global_cleanup();
	return tap_done();
}
