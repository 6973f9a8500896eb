/*
 * t304-web-batches - batches, the dashboard and the event stream against
 * `genbox serve` as a process (its pool runs the demo pipeline against a
 * scripted generator that answers after a delay): a batch created through
 * the API runs to completed; a paused batch has none of its contexts
 * claimed and finishes once resumed; the organization's limits on a new
 * batch (max_batch_size 400, max_contexts_per_day 429 with reset_at,
 * allowed_models 403, an unknown pipeline 400) and every bad input, each
 * followed by a request that succeeds; lists with summaries, paused and
 * cursors; the auth matrix; another organization's batches 404 byte for
 * byte as missing ones and never listed, counted or streamed; the
 * dashboard's counts, 60 minutes of throughput, workers and sync; the
 * event stream's first update at once and later ones past
 * request_timeout_ms; the UI's files with their types and headers; the
 * audit lines with the key id and the object.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <civetweb.h>

#include "../storage/listing.h"
#include "../storage/submit.h"
#include "fakegen.h"
#include "webtest.h"

#define GEN_DELAY_MS 60

static struct box b;
static int port;
static char logpath[4200];
static char admin[APIKEY_TOKEN_MAX], reader[APIKEY_TOKEN_MAX], writer[APIKEY_TOKEN_MAX];
static char other[APIKEY_TOKEN_MAX], revoked[APIKEY_TOKEN_MAX];

/* ---- a generator that answers after a delay ---- */



/* ---- the daemon ---- */

static pid_t
daemon_start(void)
{
	char listen[64], db[4200], url[128];
	char *argv[] = { (char *)util_genbox(), db, "serve", "--listen", listen, "--workers", "1", NULL };
	pid_t pid;

	port = peer_free_port();
	wt_set_port(port);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	snprintf(db, sizeof(db), "--db=%s", b.path);
	snprintf(logpath, sizeof(logpath), "%s/serve.log", util_tmpdir());
	pid = util_spawn(argv, logpath, 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", port);
	for (int64_t t0 = gb_mono_ms(); gb_mono_ms() - t0 < 15000; usleep(50 * 1000))
		if (peer_http_status(url) == 200)
			return pid;
	tap_bail("genbox serve did not answer /healthz");
}

static int
daemon_stop(pid_t pid)
{
	int st;

	kill(pid, SIGTERM);
	for (int64_t t0 = gb_mono_ms(); gb_mono_ms() - t0 < 20000; usleep(20 * 1000))
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

/* ---- requests ---- */

static const char *
url(const char *path)
{
	static char urls[4][2048];
	static int next;
	char *u = urls[next++ % 4];

	snprintf(u, 2048, "http://127.0.0.1:%d%s", port, path);
	return u;
}


/* POST /batches with n contexts titled prefix i: the new batch's _id into id (201), or "" */
static void
batch_new(const char *token, const char *prefix, int n, char id[STORE_ID_MAX])
{
	struct http_resp r;
	char *body = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&body, &len);

	fprintf(f, "{\"pipeline_id\": \"pipe_article_generation\", \"name\": \"%s\", \"metadata\": "
	    "{\"priority\": 3}, \"contexts\": [", prefix);
	for (int i = 0; i < n; i++)
		fprintf(f, "%s{\"type\": \"article\", \"data\": {\"title\": \"%s %d\", \"keywords\": [\"k\"], "
		    "\"target_audience\": \"developers\", \"tone\": \"technical\"}}", i ? ", " : "", prefix, i);
	fprintf(f, "]}");
	fclose(f);
	r = wt_req("POST", "/api/v1/batches", token, "%s", body);
	free(body);
	is_int(r.status, 201, "POST /batches '%s' with %d contexts: 201", prefix, n);
	snprintf(id, STORE_ID_MAX, "%s", r.status == 201 ? body_path(&r, "_id") : "");
	http_resp_free(&r);
}

/* A field of GET /batches/{id} (one of 4 static buffers). */
static const char *
batch_field(const char *id, const char *field)
{
	static char out[4][256];
	static int next;
	char path[256], *o = out[next++ % 4];
	struct http_resp r;

	snprintf(path, sizeof(path), "/api/v1/batches/%s", id);
	r = wt_req("GET", path, reader, NULL);
	snprintf(o, 256, "%.255s", body_path(&r, field));
	http_resp_free(&r);
	return o;
}

/* Wait until field of batch id reads want (ms at most); 1 when it did. */
static int
batch_wait(const char *id, const char *field, const char *want, int ms)
{
	for (int64_t t0 = gb_mono_ms(); gb_mono_ms() - t0 < ms; usleep(50 * 1000))
		if (strcmp(batch_field(id, field), want) == 0)
			return 1;
	return 0;
}

static void
org_setting(const char *name, const char *value)
{
	struct gb_err err = { 0, "" };
	cJSON *org = box_get(&b, COLL_ORGANIZATIONS, "org_123");
	cJSON *settings = cJSON_GetObjectItem(org, "settings");
	char *text;

	cJSON_DeleteItemFromObject(settings, name);
	if (value)
		cJSON_AddItemToObject(settings, name, cJSON_Parse(value));
	text = cJSON_PrintUnformatted(org);
	if (store_put(b.st, COLL_ORGANIZATIONS, text, strlen(text), STORE_UPSERT, NULL, &err))
		tap_bail("org setting: %s", err.msg);
	free(text);
	cJSON_Delete(org);
}

static void
key(const char *user, int write, char token[APIKEY_TOKEN_MAX])
{
	struct gb_err err = { 0, "" };

	if (apikey_new(b.st, user, write, "test", gb_now_ms(), token, NULL, &err))
		tap_bail("apikey_new %s: %s", user, err.msg);
}

static void
setup(void)
{
	struct gb_err err = { 0, "" };
	char kid[APIKEY_ID_MAX];

	box_put(&b, COLL_USERS, "{\"_id\": \"user_w\", \"email\": \"w@acme.com\", \"role\": \"user\", "
	    "\"status\": \"active\", \"organization_id\": \"org_123\"}");
	box_put(&b, COLL_ORGANIZATIONS, "{\"_id\": \"org_999\", \"name\": \"Other\"}");
	box_put(&b, COLL_USERS, "{\"_id\": \"user_999\", \"email\": \"x@other.com\", \"role\": \"admin\", "
	    "\"status\": \"active\", \"organization_id\": \"org_999\"}");
	box_put(&b, COLL_BATCHES, "{\"_id\": \"batch_theirs\", \"name\": \"Secret batch\", \"status\": "
	    "\"pending\", "
	    "\"organization_id\": \"org_999\", \"pipeline_id\": \"pipe_x\", \"context_ids\": [], "
	    "\"created_at\": \"2099-01-01T00:00:00Z\"}");
	box_put(&b, COLL_PIPELINES, "{\"_id\": \"pipe_999\", \"name\": \"Theirs\", "
	    "\"organization_id\": \"org_999\", \"components\": []}");
	key("user_456", 1, admin);
	key("user_456", 0, reader);
	key("user_w", 1, writer);
	key("user_999", 1, other);
	key("user_456", 1, revoked);
	snprintf(kid, sizeof(kid), "%.20s", revoked);
	if (store_apikey_revoke(b.st, kid, "org_123", gb_now_ms(), &err))
		tap_bail("revoke: %s", err.msg);
}

/* ---- tests ---- */

static void
test_auth(void)
{
	static const char *const body = "{\"pipeline_id\": \"pipe_article_generation\", \"contexts\": "
	    "[{\"data\": "
	    "{\"title\": \"Auth batch\"}}]}";
	static const struct {
		const char *method, *path, *body;
		int status;
	} routes[] = {
		{ "GET", "/api/v1/batches", NULL, 200 },
		{ "GET", "/api/v1/batches/batch_7890", NULL, 200 },
		{ "GET", "/api/v1/dashboard", NULL, 200 },
		{ "POST", "/api/v1/batches", NULL, 201 },
		{ "POST", "/api/v1/batches/batch_7890/pause", NULL, 200 },
		{ "POST", "/api/v1/batches/batch_7890/resume", NULL, 200 },
	};
	char what[160];

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const char *m = routes[i].method, *p = routes[i].path;
		const char *bd = routes[i].status == 201 ? body : routes[i].body;
		int reading = strcmp(m, "GET") == 0;

		snprintf(what, sizeof(what), "%s %s", m, p);
		wt_expect(m, p, NULL, bd, 401, "unauthorized", what);
		wt_expect(m, p, revoked, bd, 401, "unauthorized", what);
		wt_expect(m, p, reader, bd, reading ? 200 : 403, reading ? NULL : "forbidden", what);
		wt_expect(m, p, writer, bd, routes[i].status, NULL, what);
	}
}

static void
test_tenants(void)
{
	static const char *const routes[][2] = {
		{ "GET", "/api/v1/batches/|" }, { "POST", "/api/v1/batches/|/pause" },
		{ "POST", "/api/v1/batches/|/resume" },
	};
	struct http_resp a;

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		wt_same_as_missing(routes[i][0], routes[i][1], "batch_theirs", "batch_nonexis", admin, "Secret");
	a = wt_req("GET", "/api/v1/batches?limit=200", admin, NULL);
	ok(strstr(a.body, "batch_theirs") == NULL && strstr(a.body, "Secret") == NULL,
	    "another organization's batch is never listed");
	http_resp_free(&a);
	a = wt_req("GET", "/api/v1/batches", other, NULL);
	is_str(body_path(&a, "items.0._id"), "batch_theirs", "its own key lists it");
	is_str(body_path(&a, "items.0.paused"), "false", "not paused");
	http_resp_free(&a);
	a = wt_req("GET", "/api/v1/dashboard", other, NULL);
	is_str(body_path(&a, "counts.completed"), "0", "its dashboard counts none of org_123's contexts");
	http_resp_free(&a);
}

static void
test_bad(void)
{
	static const char *const bad[][3] = {
		{ "{\"pipeline_id\": ", "invalid_json", "bad JSON" },
		{ "[]", "invalid_json", "not an object" },
		{ "{\"contexts\": [{\"data\": {\"title\": \"a\"}}]}", "pipeline_id", "no pipeline_id" },
		{ "{\"pipeline_id\": 7, \"contexts\": [{\"data\": {\"title\": \"a\"}}]}", "pipeline_id",
		  "a pipeline_id that is a number" },
		{ "{\"pipeline_id\": \"pipe_nope\", \"contexts\": [{\"data\": {\"title\": \"a\"}}]}", "pipe_nope",
		  "an unknown pipeline" },
		{ "{\"pipeline_id\": \"pipe_article_generation\", \"contexts\": \"a\"}", "contexts",
		  "contexts that is a string" },
		{ "{\"pipeline_id\": \"pipe_article_generation\", \"contexts\": []}", "no contexts", "no "
		    "contexts" },
		{ "{\"pipeline_id\": \"pipe_article_generation\", \"contexts\": [{\"data\": {\"title\": \"a\"}}, "
		  "{\"data\": {}}]}", "contexts[1]: ", "a bad context is named" },
		{ "{\"pipeline_id\": \"pipe_article_generation\", \"contexts\": [{\"data\": {\"title\": \"a\"}, "
		  "\"pipeline_id\": \"p\"}]}", "contexts[0]: ", "a context with its own pipeline" },
		{ "{\"pipeline_id\": \"pipe_article_generation\", \"name\": 5, \"contexts\": [{\"data\": "
		  "{\"title\": \"a\"}}]}", "name", "a name that is a number" },
		{ "{\"pipeline_id\": \"pipe_article_generation\", \"metadata\": [], \"contexts\": [{\"data\": "
		  "{\"title\": \"a\"}}]}", "metadata", "metadata that is an array" },
		{ "{\"pipeline_id\": \"pipe_article_generation\", \"colour\": 1, \"contexts\": [{\"data\": "
		  "{\"title\": \"a\"}}]}", "colour", "an unknown field" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct http_resp r = wt_req("POST", "/api/v1/batches", writer, "%s", bad[i][0]);

		is_int(r.status, 400, "%s: 400", bad[i][2]);
		if (strcmp(bad[i][1], "invalid_json") == 0)
			is_str(err_code(&r), "invalid_json", "%s: invalid_json", bad[i][2]);
		else
			like(body_path(&r, "error.message"), bad[i][1], "%s: the message names %s", bad[i][2],
			    bad[i][1]);
		http_resp_free(&r);
		wt_expect("GET", "/api/v1/batches?limit=1", reader, NULL, 200, NULL, "then a list: 200");
	}
	static const char *const list_bad[][2] = {
		{ "/api/v1/batches?limit=0", "limit" }, { "/api/v1/batches?limit=x", "limit" },
		{ "/api/v1/batches?cursor=nope", "cursor" }, { "/api/v1/batches?status=done", "status" },
	};
	for (size_t i = 0; i < sizeof(list_bad) / sizeof(list_bad[0]); i++) {
		wt_expect_msg("GET", list_bad[i][0], reader, NULL, 400, list_bad[i][1], list_bad[i][0]);
		wt_expect("GET", "/api/v1/batches?limit=1", reader, NULL, 200, NULL, "then a good list: 200");
	}
}

/*
 * 'contexts' twice, once spelled with an escape: the array checked and the
 * array written must be one, so another organization cannot put contexts
 * with the engine's fields into org_123.
 */
static void
test_duplicate_keys(void)
{
	struct gb_err err = { 0, "" };
	int64_t c0 = -1, b0 = -1, c1 = -2, b1 = -2;
	struct http_resp r;

	store_count(b.st, COLL_CONTEXTS, &c0, &err);
	store_count(b.st, COLL_BATCHES, &b0, &err);
	r = wt_req("POST", "/api/v1/batches", other, "{\"pipeline_id\": \"pipe_999\", \"cont\\u0065xts\": "
	    "[{\"data\": {\"title\": \"ok\"}}], \"contexts\": [{\"organization_id\": \"org_123\", "
	    "\"status\": \"failed\", \"error\": {\"message\": \"forged\"}, \"data\": {\"title\": "
	    "\"SMUGGLED\"}}]}");
	is_int(r.status, 400, "a batch with 'contexts' twice (once escaped): 400");
	is_str(err_code(&r), "invalid_json", "invalid_json");
	like(body_path(&r, "error.message"), "'contexts' appears twice", "naming the key");
	http_resp_free(&r);
	store_count(b.st, COLL_CONTEXTS, &c1, &err);
	store_count(b.st, COLL_BATCHES, &b1, &err);
	ok(c1 == c0 && b1 == b0, "no context and no batch written (%lld, %lld)", (long long)c1,
	    (long long)b1);
	r = wt_req("GET", "/api/v1/contexts?q=SMUGGLED", admin, NULL);
	is_str(body_path(&r, "items.0._id"), "(none)", "org_123 lists no smuggled context");
	http_resp_free(&r);
	r = wt_req("POST", "/api/v1/batches", other, "{\"pipeline_id\": \"pipe_999\", \"cont\\u0065xts\": "
	    "[{\"data\": {\"title\": \"once\"}}]}");
	is_int(r.status, 201, "the escaped key alone is the caller's batch: 201");
	is_str(body_path(&r, "organization_id"), "org_999", "in the caller's organization");
	http_resp_free(&r);
}

static void
test_limits(void)
{
	static const char *const two = "{\"pipeline_id\": \"pipe_article_generation\", \"contexts\": "
	    "[{\"data\": "
	    "{\"title\": \"Limit a\"}}, {\"data\": {\"title\": \"Limit b\"}}]}";
	struct http_resp r;
	char id[STORE_ID_MAX], v[32];

	org_setting("max_batch_size", "1");
	wt_expect_msg("POST", "/api/v1/batches", writer, two, 400, "max_batch_size", "2 contexts past "
	    "max_batch_size 1");
	org_setting("max_batch_size", "50");
	r = wt_req("GET", "/api/v1/organization", reader, NULL);
	snprintf(v, sizeof(v), "%s", body_path(&r, "usage.contexts_today"));
	http_resp_free(&r);
	org_setting("max_contexts_per_day", v);
	r = wt_req("POST", "/api/v1/batches", writer, "%s", two);
	is_int(r.status, 429, "past max_contexts_per_day: 429");
	is_str(err_code(&r), "rate_limited", "rate_limited");
	{
		char want[GB_TIME_LEN];

		is_str(body_path(&r, "error.reset_at"), gb_time_format(submit_day_reset_ms(gb_now_ms()), want),
		    "reset_at: the next 00:00 UTC");
	}
	http_resp_free(&r);
	org_setting("max_contexts_per_day", "1000");
	org_setting("allowed_models", "[\"another-model\"]");
	wt_expect_msg("POST", "/api/v1/batches", writer, two, 403, "not allowed", "a model not allowed: 403");
	org_setting("allowed_models", NULL);
	batch_new(writer, "After limits", 2, id);
	ok(batch_wait(id, "status", "completed", 60000), "then a batch runs to completed");
}

static void
test_run(void)
{
	char id[STORE_ID_MAX];
	struct http_resp r;
	char path[256];

	batch_new(writer, "Run", 3, id);
	r = wt_req("GET", "/api/v1/batches?limit=1", reader, NULL);
	is_str(body_path(&r, "items.0._id"), id, "the new batch is listed first");
	is_str(body_path(&r, "items.0.summary.total"), "3", "with its summary");
	is_str(body_path(&r, "items.0.context_ids"), "(none)", "without context_ids");
	ok(strcmp(body_path(&r, "next_cursor"), "null") != 0, "and a cursor to the next page");
	snprintf(path, sizeof(path), "/api/v1/batches?limit=1&cursor=%s", body_path(&r, "next_cursor"));
	http_resp_free(&r);
	r = wt_req("GET", path, reader, NULL);
	is_int(r.status, 200, "the next page");
	ok(strcmp(body_path(&r, "items.0._id"), id) != 0, "holds another batch");
	http_resp_free(&r);
	is_str(batch_field(id, "paused"), "false", "GET /batches/{id}: not paused");
	like(batch_field(id, "context_ids"), "ctx_", "with its context_ids");
	is_str(batch_field(id, "metadata.source"), "api", "metadata.source api");
	ok(batch_wait(id, "summary.completed", "3", 60000), "the daemon's pool runs it: 3 completed");
	ok(batch_wait(id, "status", "completed", 10000), "the batch is completed");
	r = wt_req("GET", "/api/v1/batches?status=completed&limit=200", reader, NULL);
	like(r.body, id, "listed under status=completed");
	http_resp_free(&r);
}

static void
test_pause(void)
{
	char id[STORE_ID_MAX], path[256], pending[32];
	struct http_resp r;

	batch_new(writer, "Paused", 8, id);
	snprintf(path, sizeof(path), "/api/v1/batches/%s/pause", id);
	r = wt_req("POST", path, writer, NULL);
	is_int(r.status, 200, "pause: 200");
	is_str(body_path(&r, "paused"), "true", "paused");
	is_str(body_path(&r, "summary.total"), "8", "with its summary");
	http_resp_free(&r);
	wt_expect("POST", path, writer, NULL, 200, NULL, "pausing twice is no error");
	ok(batch_wait(id, "summary.processing", "0", 30000), "the contexts running at the pause end");
	snprintf(pending, sizeof(pending), "%s", batch_field(id, "summary.pending"));
	ok(strtol(pending, NULL, 10) > 0, "some are left pending (%s)", pending);
	usleep(1500 * 1000);
	is_str(batch_field(id, "summary.pending"), pending, "none of them is claimed while paused");
	is_str(batch_field(id, "summary.processing"), "0", "none processing");
	r = wt_req("GET", "/api/v1/batches?limit=200", reader, NULL);
	like(r.body, "\"paused\":true", "the list shows it paused");
	http_resp_free(&r);
	snprintf(path, sizeof(path), "/api/v1/batches/%s/resume", id);
	r = wt_req("POST", path, writer, NULL);
	is_int(r.status, 200, "resume: 200");
	is_str(body_path(&r, "paused"), "false", "not paused");
	http_resp_free(&r);
	ok(batch_wait(id, "summary.completed", "8", 60000), "once resumed it finishes: 8 completed");
	{
		char *log = util_read_file(logpath, NULL), want[512], kid[APIKEY_ID_MAX];

		snprintf(kid, sizeof(kid), "%.20s", writer);
		snprintf(want, sizeof(want), "event=api_change key_id=%s method=POST "
		    "route=\"/api/v1/batches/{id}/pause\" "
		    "object=\"%s\" status=200", kid, id);
		like(log ? log : "", want, "the pause is in the audit log with the key id and the batch");
		snprintf(want, sizeof(want), "event=api_change key_id=%s method=POST "
		    "route=\"/api/v1/batches\" object=\"%s\" status=201", kid, id);
		like(log ? log : "", want, "and the batch's creation");
		ok(log && strstr(log, strchr(writer, '.') + 1) == NULL, "never the secret");
		free(log);
	}
}

static void
test_dashboard(void)
{
	struct http_resp r = wt_req("GET", "/api/v1/dashboard", reader, NULL);
	cJSON *j = cJSON_Parse(r.body), *tp = cJSON_GetObjectItem(j, "throughput"), *m;
	int64_t done = 0, counts[CTX_STATUS_COUNT];
	struct gb_err err = { 0, "" };

	is_int(r.status, 200, "GET /dashboard: 200");
	store_ctx_org_counts(b.st, "org_123", counts, &err);
	is_int(strtoll(body_path(&r, "counts.completed"), NULL, 10), counts[CTX_COMPLETED],
	    "counts: the organization's completed");
	is_str(body_path(&r, "counts.cancelled"), "0", "counts: cancelled");
	is_int(cJSON_GetArraySize(tp), 60, "60 minutes of throughput");
	cJSON_ArrayForEach(m, tp)
		done += (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(m, "completed"));
	ok(done >= 13, "the contexts completed in this test are in it (%lld)", (long long)done);
	{
		char first[64];

		snprintf(first, sizeof(first), "%s", jpath(tp, "0.minute"));
		ok(strcmp(first, jpath(tp, "59.minute")) < 0, "oldest first");
	}
	is_str(body_path(&r, "workers.alive"), "1", "one worker alive");
	is_str(body_path(&r, "workers.warning"), "null", "no warning");
	is_str(body_path(&r, "sync.state"), "off", "sync off");
	cJSON_Delete(j);
	http_resp_free(&r);
	r = wt_req("GET", "/api/v1/workers", reader, NULL);
	is_str(body_path(&r, "alive"), "1", "GET /workers: one alive");
	is_str(body_path(&r, "pending"), "0", "nothing pending");
	http_resp_free(&r);
	r = wt_req("GET", "/metrics", NULL, NULL);
	like(r.body, "genbox_queue_depth{status=\"completed\"}", "/metrics: the queue depth of every "
	    "organization");
	http_resp_free(&r);
}

static void
test_events(void)
{
	char request[256], *acc = calloc(1, 1 << 20), id[STORE_ID_MAX], path[256];
	int fd = http_connect(port);
	int64_t t0 = gb_mono_ms();

	snprintf(request, sizeof(request), "GET /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: "
	    "Bearer %s"
	    "\r\n\r\n", reader);
	(void)!send(fd, request, strlen(request), MSG_NOSIGNAL);
	ok(http_read_until(fd, acc, 1 << 20, "\"seq\":1}\n\n", 3000, NULL), "the first update comes at once");
	ok(gb_mono_ms() - t0 < 1500, "within %lld ms", (long long)(gb_mono_ms() - t0));
	like(acc, "event: update\ndata: {\"counts\":{\"pending\":", "with the organization's counts");
	like(acc, "\"summary\":{\"pending\":", "its batches with their summaries");
	like(acc, "\"paused\":false", "and paused");
	ok(strstr(acc, "batch_theirs") == NULL, "never another organization's batch");
	usleep(1200 * 1000);	/* past the daemon's request_timeout_ms of 500 */
	batch_new(writer, "Streamed", 1, id);
	ok(http_read_until(fd, acc, 1 << 20, id, 5000, NULL), "a batch made after request_timeout_ms arrives on the "
	    "same stream");
	snprintf(path, sizeof(path), "/api/v1/batches/%s/pause", id);
	wt_expect("POST", path, writer, NULL, 200, NULL, "pause it");
	ok(http_read_until(fd, acc, 1 << 20, "\"paused\":true", 5000, NULL), "its pause arrives as an update");
	snprintf(path, sizeof(path), "/api/v1/batches/%s/resume", id);
	wt_expect("POST", path, writer, NULL, 200, NULL, "resume it");
	close(fd);
	free(acc);
	ok(batch_wait(id, "status", "completed", 30000), "and it completes");
}

static void
test_ui(void)
{
	struct http_resp r;

	http_req(&r, "GET", url("/"), NULL, NULL, NULL, 0);
	is_int(r.status, 200, "GET /: 200");
	like(http_header(&r, "Content-Type"), "text/html", "as HTML");
	like(http_header(&r, "Content-Security-Policy"), "script-src 'self'", "with the CSP");
	is_str(http_header(&r, "X-Frame-Options"), "DENY", "X-Frame-Options");
	like(r.body, "<html", "the page");
	http_resp_free(&r);
	http_req(&r, "GET", url("/index.html"), NULL, NULL, NULL, 0);
	is_int(r.status, 200, "GET /index.html: 200");
	http_resp_free(&r);
	http_req(&r, "HEAD", url("/app.js"), NULL, NULL, NULL, 0);
	is_int(r.status, 200, "HEAD /app.js: 200");
	like(http_header(&r, "Content-Type"), "text/javascript", "as JavaScript");
	is_int((long)r.len, 0, "without a body");
	http_resp_free(&r);
	http_req(&r, "GET", url("/app.css"), NULL, NULL, NULL, 0);
	like(http_header(&r, "Content-Type"), "text/css", "GET /app.css as CSS");
	is_str(http_header(&r, "X-Content-Type-Options"), "nosniff", "nosniff");
	http_resp_free(&r);
	http_req(&r, "POST", url("/app.js"), NULL, "application/json", "{}", 2);
	is_int(r.status, 405, "POST /app.js: 405");
	is_str(http_header(&r, "Allow"), "GET, HEAD", "Allow: GET, HEAD");
	http_resp_free(&r);
	http_req(&r, "GET", url("/nothing.js"), NULL, NULL, NULL, 0);
	is_int(r.status, 404, "another path: 404");
	is_str(err_code(&r), "not_found", "in the API's JSON");
	http_resp_free(&r);
	http_req(&r, "GET", url("/api/v1/index.html"), NULL, NULL, NULL, 0);
	is_int(r.status, 404, "no UI file under /api");
	http_resp_free(&r);
}

int
main(void)
{
	struct fakegen gen;
	pid_t pid;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	box_open(&b, 1);
	setup();
	mg_init_library(0);
	fakegen_start(&gen, 8, GEN_DELAY_MS, NULL);
	setenv("GENBOX_GENERATOR_URL", gen.url, 1);
	setenv("GENBOX_WORKERS_MAX_INFLIGHT", "1", 1);
	setenv("GENBOX_WORKERS_GRACE_MS", "500", 1);
	setenv("GENBOX_WEB_REQUEST_TIMEOUT_MS", "500", 1);
	pid = daemon_start();
	test_ui();
	test_auth();
	test_tenants();
	test_bad();
	test_duplicate_keys();
	test_limits();
	test_run();
	test_pause();
	test_events();
	test_dashboard();
	is_int(daemon_stop(pid), 0, "SIGTERM: exit 0");
	fakegen_stop(&gen);
	mg_exit_library();
	box_close(&b);
	curl_global_cleanup();
	return tap_done();
}
