/*
 * t300-web-core - the API server's floor: routes (404, 405 with Allow),
 * every bad input of the contract (not JSON, trailing text, a NUL byte,
 * nesting past 32, not an object, another Content-Type, bodies past the
 * limit by Content-Length and chunked, bad limits and cursors, wrong types),
 * each followed by a request that succeeds; the security headers; /healthz;
 * /metrics with requests by route and status; the catalog's admin writes;
 * a context's get and cancel; workers, queue, statistics, the event stream;
 * and slow clients that send a header a byte a second while others are
 * served.
 */
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "webtest.h"

#define MAX_BODY 65536

static struct wt t;
static char admin[APIKEY_TOKEN_MAX];

static int64_t
count_coll(enum coll c)
{
	struct gb_err err = { 0, "" };
	int64_t n = -1;

	store_count(t.box.st, c, &n, &err);
	return n;
}

/* After bad input: the server still answers a normal request. */
static void
still_serves(const char *after)
{
	struct http_resp r;

	http_json(&r, "GET", wt_url(&t, "/api/v1/templates/tmpl_article_technical"), admin, NULL);
	is_int(r.status, 200, "after %s, a normal request succeeds", after);
	http_resp_free(&r);
}

static void
expect(const char *method, const char *path, const char *ctype, const char *body, size_t len, int status,
    const char *code, const char *what)
{
	struct http_resp r;

	http_req(&r, method, wt_url(&t, path), admin, ctype, body, len);
	is_int(r.status, status, "%s: status %d", what, status);
	is_str(err_code(&r), code, "%s: code %s", what, code);
	http_resp_free(&r);
	still_serves(what);
}

static void
test_routes(void)
{
	static const char *const literal[] = { "retry", "cancel", "bulk" };
	struct http_resp r;

	http_json(&r, "GET", wt_url(&t, "/api/v1/nothing/here"), admin, NULL);
	is_int(r.status, 404, "unknown route: 404");
	is_str(err_code(&r), "not_found", "unknown route: not_found");
	like(http_header(&r, "Content-Type") ? http_header(&r, "Content-Type") : "", "application/json",
	    "an error is JSON");
	http_resp_free(&r);
	http_json(&r, "PATCH", wt_url(&t, "/api/v1/templates"), admin, NULL);
	is_int(r.status, 405, "known path, wrong method: 405");
	is_str(err_code(&r), "method_not_allowed", "405: method_not_allowed");
	is_str(http_header(&r, "Allow"), "GET, POST", "405 names the allowed methods in Allow");
	http_resp_free(&r);
	http_json(&r, "DELETE", wt_url(&t, "/api/v1/contexts/ctx_123456"), admin, NULL);
	is_int(r.status, 405, "DELETE of a context: 405");
	is_str(http_header(&r, "Allow"), "GET", "Allow: GET");
	http_resp_free(&r);
	/* a literal segment goes before a {id} one: these are not contexts named "retry" */
	for (size_t i = 0; i < sizeof(literal) / sizeof(literal[0]); i++) {
		char path[64];

		snprintf(path, sizeof(path), "/api/v1/contexts/%s", literal[i]);
		http_json(&r, "GET", wt_url(&t, path), admin, NULL);
		is_int(r.status, 405, "GET %s: 405, not a context's 404", path);
		is_str(err_code(&r), "method_not_allowed", "method_not_allowed");
		is_str(http_header(&r, "Allow"), "POST", "Allow: POST");
		http_resp_free(&r);
	}
	http_json(&r, "POST", wt_url(&t, "/api/v1/contexts/retry"), admin, "{\"filter\": {\"type\": "
	    "\"none\"}, \"dry_run\": true}");
	is_int(r.status, 200, "POST /contexts/retry still runs the bulk retry: 200");
	is_str(body_path(&r, "matched"), "0", "matching nothing");
	http_resp_free(&r);
	http_json(&r, "GET", wt_url(&t, "/api/v1/contexts/ctx_123456/timeline"), admin, NULL);
	is_int(r.status, 200, "a {id} route still matches");
	http_resp_free(&r);
	still_serves("404 and 405");
}

static void
test_bad_json(void)
{
	static const char nul[] = "{\"name\": \"a\0b\"}";
	const char *tp = "/api/v1/templates", *json = "application/json";
	char deep[200], ok32[200];
	int i;

	expect("POST", tp, json, "{\"name\": ", 9, 400, "invalid_json", "not JSON");
	expect("POST", tp, json, "{} {}", 5, 400, "invalid_json", "trailing junk");
	expect("POST", tp, json, "{}x", 3, 400, "invalid_json", "trailing text");
	expect("POST", tp, json, nul, sizeof(nul) - 1, 400, "invalid_json", "a NUL byte");
	expect("POST", tp, json, "[1, 2]", 6, 400, "invalid_json", "an array, not an object");
	for (i = 0; i < 33; i++)
		deep[i] = '[';
	for (; i < 66; i++)
		deep[i] = ']';
	deep[66] = '\0';
	{
		char body[256];

		snprintf(body, sizeof(body), "{\"x\": %.*s}", 64, deep + 1);
		/* the object and 32 arrays: 33 levels */
		expect("POST", tp, json, body, strlen(body), 400, "invalid_json", "nesting of 33 levels");
	}
	snprintf(ok32, sizeof(ok32), "{\"_id\": \"tmpl_deep\", \"name\": \"d\", \"x\": %.*s%.*s}", 31, deep, 31, deep + 33);
	{
		struct http_resp r;

		http_req(&r, "POST", wt_url(&t, tp), admin, json, ok32, strlen(ok32));
		is_int(r.status, 201, "nesting of exactly 32 levels is accepted (%.120s)", r.body);
		http_resp_free(&r);
	}
	{
		/* many keys (sorted to be compared), one of them twice far apart */
		char body[2048];
		int n = snprintf(body, sizeof(body), "{\"_id\": \"tmpl_keys\", \"name\": \"k\", \"m\": {");

		for (i = 0; i < 40; i++)
			n += snprintf(body + n, sizeof(body) - (size_t)n, "\"k%d\": %d, ", i, i);
		snprintf(body + n, sizeof(body) - (size_t)n, "\"k\\u0031\": 0}}");
		expect("POST", tp, json, body, strlen(body), 400, "invalid_json", "41 keys, 'k1' twice");
		snprintf(body + n, sizeof(body) - (size_t)n, "\"k\\u0031x\": 0}}");
		expect("POST", tp, json, body, strlen(body), 201, "(none)", "41 keys, each once");
	}
	expect("POST", tp, "text/plain", "{}", 2, 415, "unsupported_media_type", "a text/plain body");
	expect("POST", tp, NULL, "{}", 2, 415, "unsupported_media_type", "a body without Content-Type");
	expect("POST", tp, json, "{\"_id\": 5}", 10, 400, "bad_request", "_id of the wrong type");
	expect("PUT", "/api/v1/templates/tmpl_article_technical", json, "{\"_id\": \"tmpl_other\"}", 21, 400,
	    "bad_request", "a PUT whose _id differs");
}

static void
test_body_limits(void)
{
	size_t big = MAX_BODY + 1;
	char *body = malloc(big + 1), req[512], *out;

	memset(body, ' ', big);
	body[0] = '{';
	body[big - 1] = '}';
	body[big] = '\0';
	expect("POST", "/api/v1/templates", "application/json", body, big, 413, "payload_too_large",
	    "a body past max_body (Content-Length)");
	/* the same with no Content-Length: chunked, refused while reading */
	snprintf(req, sizeof(req), "POST /api/v1/templates HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
	    "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n", admin);
	{
		size_t n = strlen(req), chunk = 16384, cap = n + big + 64 * 8 + 16;
		char *all = malloc(cap);
		size_t at = n;

		memcpy(all, req, n);
		for (size_t sent = 0; sent < big; sent += chunk) {
			size_t c = big - sent < chunk ? big - sent : chunk;

			at += (size_t)snprintf(all + at, cap - at, "%zx\r\n", c);
			memcpy(all + at, body + sent, c);
			at += c;
			memcpy(all + at, "\r\n", 2);
			at += 2;
		}
		memcpy(all + at, "0\r\n\r\n", 5);
		at += 5;
		out = http_raw(t.port, all, at, 5000);
		like(out ? out : "", "HTTP/1.1 413", "a chunked body past max_body: 413 while reading");
		like(out ? out : "", "payload_too_large", "chunked: payload_too_large");
		free(out);
		free(all);
	}
	still_serves("a chunked body past the limit");
	free(body);
	/* a Content-Length that is not a length is a bad request, not 411 Length Required */
	snprintf(req, sizeof(req), "POST /api/v1/templates HTTP/1.1\r\nHost: x\r\n"
	    "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
	    "Content-Length: -5\r\n\r\n{}", admin);
	out = http_raw(t.port, req, strlen(req), 5000);
	like(out ? out : "", "HTTP/1.1 400 ", "Content-Length: -5: 400");
	like(out ? out : "", "\"code\":\"bad_request\"", "bad_request");
	like(out ? out : "", "Content-Length header is not a length", "saying why");
	free(out);
	still_serves("a negative Content-Length");
}

static void
test_queries(void)
{
	static const struct { const char *q, *param; } bad[] = {
		{ "?limit=0", "limit" }, { "?limit=201", "limit" }, { "?limit=abc", "limit" }, { "?limit=", "limit" },
		{ "?limit=5x", "limit" }, { "?cursor=zz", "cursor" }, { "?cursor=abc", "cursor" },
		{ "?limit=5%00", "limit" },
	};
	struct http_resp r;
	char path[1200], next[1024];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(path, sizeof(path), "/api/v1/components%s", bad[i].q);
		http_json(&r, "GET", wt_url(&t, path), admin, NULL);
		is_int(r.status, 400, "%s: 400", bad[i].q);
		is_str(err_code(&r), "bad_request", "%s: bad_request", bad[i].q);
		like(r.body, bad[i].param, "%s: the message names '%s'", bad[i].q, bad[i].param);
		http_resp_free(&r);
		still_serves(bad[i].q);
	}
	/* a NUL byte would cut the value short: pending%00junk is not pending */
	http_json(&r, "GET", wt_url(&t, "/api/v1/contexts?status=pending%00junk"), admin, NULL);
	is_int(r.status, 400, "?status=pending%%00junk: 400");
	is_str(err_code(&r), "bad_request", "bad_request");
	is_str(body_path(&r, "error.message"), "query parameter 'status' holds a NUL byte",
	    "the message names the parameter");
	http_resp_free(&r);
	http_json(&r, "GET", wt_url(&t, "/api/v1/contexts?q=a%00b"), admin, NULL);
	is_int(r.status, 400, "?q=a%%00b: 400");
	http_resp_free(&r);
	still_serves("a NUL byte in a query");
	/* paging: limit 1 walks every component once */
	{
		int pages = 0, items = 0;

		snprintf(path, sizeof(path), "/api/v1/components?limit=1");
		for (;;) {
			http_json(&r, "GET", wt_url(&t, path), admin, NULL);
			if (r.status != 200)
				break;
			pages++;
			items += strcmp(body_path(&r, "items.0._id"), "(none)") != 0;
			snprintf(next, sizeof(next), "%s", body_path(&r, "next_cursor"));
			http_resp_free(&r);
			if (strcmp(next, "null") == 0 || pages > 20)
				break;
			snprintf(path, sizeof(path), "/api/v1/components?limit=1&cursor=%s", next);
		}
		http_resp_free(&r);
		is_int(items, count_coll(COLL_COMPONENTS), "pages of one walk every component once");
		is_int(pages, items, "one page per component, the last with next_cursor null");
	}
}

static void
test_headers_health_metrics(void)
{
	static const char *const paths[] = { "/healthz", "/api/v1/nothing", "/api/v1/templates" };
	struct http_resp r;

	for (size_t i = 0; i < 3; i++) {
		http_json(&r, "GET", wt_url(&t, paths[i]), admin, NULL);
		like(http_header(&r, "Content-Security-Policy") ? http_header(&r, "Content-Security-Policy") : "",
		    "default-src 'self'; script-src 'self'", "%s: Content-Security-Policy", paths[i]);
		like(http_header(&r, "Content-Security-Policy") ? http_header(&r, "Content-Security-Policy") : "",
		    "frame-ancestors 'none'", "%s: frame-ancestors 'none'", paths[i]);
		is_str(http_header(&r, "X-Content-Type-Options"), "nosniff", "%s: nosniff", paths[i]);
		is_str(http_header(&r, "X-Frame-Options"), "DENY", "%s: X-Frame-Options DENY", paths[i]);
		is_str(http_header(&r, "Referrer-Policy"), "no-referrer", "%s: Referrer-Policy", paths[i]);
		is_str(http_header(&r, "Cache-Control"), "no-store", "%s: Cache-Control no-store", paths[i]);
		http_resp_free(&r);
	}
	http_json(&r, "GET", wt_url(&t, "/healthz"), NULL, NULL);
	is_int(r.status, 200, "/healthz without a key: 200");
	is_str(body_path(&r, "status"), "ok", "healthy");
	is_str(body_path(&r, "database.ok"), "true", "the database is ok");
	is_str(body_path(&r, "sync.state"), "off", "sync is off");
	http_resp_free(&r);
	http_json(&r, "GET", wt_url(&t, "/metrics"), NULL, NULL);
	is_int(r.status, 200, "/metrics without a key: 200");
	like(r.body, "genbox_http_requests_total{route=\"/api/v1/templates\",method=\"POST\",status=\"400\"}",
	    "requests are counted by route pattern, method and status");
	like(r.body, "genbox_http_requests_total{route=\"/api/v1/components\",method=\"GET\",status=\"200\"}",
	    "and the successful ones");
	like(r.body, "genbox_http_requests_total{route=\"unmatched\",method=\"PATCH\",status=\"405\"}",
	    "unmatched requests are counted apart");
	like(r.body, "genbox_http_request_duration_seconds_bucket{route=\"/healthz\",le=",
	    "a latency histogram per route");
	like(r.body, "genbox_queue_depth{status=\"pending\"}", "queue depth gauges are filled at scrape time");
	http_resp_free(&r);
}


static void
test_catalog_writes(void)
{
	struct http_resp r;
	char created[64];

	http_json(&r, "POST", wt_url(&t, "/api/v1/templates"), admin,
	    "{\"_id\": \"tmpl_web\", \"name\": \"Web\", \"organization_id\": \"org_other\", \"sections\": []}");
	is_int(r.status, 201, "admin creates a template: 201 (%.200s)", r.body);
	is_str(body_path(&r, "organization_id"), "org_123", "organization_id is forced to the caller's");
	ok(strcmp(body_path(&r, "updated_at"), "(none)") != 0, "updated_at is set");
	snprintf(created, sizeof(created), "%s", body_path(&r, "created_at"));
	http_resp_free(&r);
	http_json(&r, "POST", wt_url(&t, "/api/v1/templates"), admin, "{\"_id\": \"tmpl_web\", \"name\": \"Again\"}");
	is_int(r.status, 409, "a duplicate _id: 409");
	is_str(err_code(&r), "conflict", "duplicate: conflict");
	http_resp_free(&r);
	http_json(&r, "PUT", wt_url(&t, "/api/v1/templates/tmpl_web"), admin, "{\"name\": \"Renamed\"}");
	is_int(r.status, 200, "PUT replaces: 200");
	is_str(body_path(&r, "created_at"), created, "the replacement keeps created_at");
	ok(strcmp(body_path(&r, "sections"), "(none)") == 0, "and nothing else of the old document");
	is_str(body_path(&r, "name"), "Renamed", "the new document is answered");
	is_str(body_path(&r, "_id"), "tmpl_web", "with its _id");
	http_resp_free(&r);
	http_json(&r, "GET", wt_url(&t, "/api/v1/templates/tmpl_web"), admin, NULL);
	is_str(body_path(&r, "name"), "Renamed", "GET sees the replacement");
	http_resp_free(&r);
	http_json(&r, "DELETE", wt_url(&t, "/api/v1/templates/tmpl_web"), admin, NULL);
	is_int(r.status, 204, "DELETE: 204");
	is_int((long)r.len, 0, "with no body");
	http_resp_free(&r);
	http_json(&r, "GET", wt_url(&t, "/api/v1/templates/tmpl_web"), admin, NULL);
	is_int(r.status, 404, "deleted: 404");
	http_resp_free(&r);
	http_json(&r, "PUT", wt_url(&t, "/api/v1/pipelines/pipe_none"), admin, "{\"name\": \"x\"}");
	is_int(r.status, 404, "PUT of a missing pipeline: 404");
	http_resp_free(&r);
}

static void
test_contexts_ops(void)
{
	struct http_resp r;

	box_put(&t.box, COLL_CONTEXTS, "{\"_id\": \"ctx_web1\", \"type\": \"article\", \"status\": \"pending\", "
	    "\"organization_id\": \"org_123\", \"user_id\": \"user_456\", \"data\": {\"title\": \"Web one\"}}");
	http_json(&r, "GET", wt_url(&t, "/api/v1/contexts/ctx_web1"), admin, NULL);
	is_int(r.status, 200, "GET a context: 200");
	is_str(body_path(&r, "data.title"), "Web one", "the whole document");
	http_resp_free(&r);
	http_json(&r, "GET", wt_url(&t, "/api/v1/workers"), admin, NULL);
	is_int(r.status, 200, "GET /workers: 200");
	is_str(body_path(&r, "alive"), "0", "no worker alive");
	is_str(body_path(&r, "warning"), "work is pending but no worker is alive", "the no-worker warning");
	http_resp_free(&r);
	http_json(&r, "GET", wt_url(&t, "/api/v1/queue?limit=5"), admin, NULL);
	is_int(r.status, 200, "GET /queue: 200");
	is_str(body_path(&r, "items.0._id"), "ctx_web1", "the pending context is in the queue");
	is_str(body_path(&r, "items.0.title"), "Web one", "as a summary with its title");
	http_resp_free(&r);
	http_json(&r, "GET", wt_url(&t, "/api/v1/queue?limit=0"), admin, NULL);
	is_int(r.status, 400, "GET /queue?limit=0: 400");
	http_resp_free(&r);
	http_json(&r, "POST", wt_url(&t, "/api/v1/contexts/ctx_web1/cancel"), admin, NULL);
	is_int(r.status, 200, "cancel a pending context: 200");
	is_str(body_path(&r, "status"), "cancelled", "it is cancelled");
	http_resp_free(&r);
	http_json(&r, "POST", wt_url(&t, "/api/v1/contexts/ctx_web1/cancel"), admin, NULL);
	is_int(r.status, 409, "cancel it again: 409");
	is_str(err_code(&r), "conflict", "conflict");
	http_resp_free(&r);
	http_json(&r, "POST", wt_url(&t, "/api/v1/contexts/ctx_none/cancel"), admin, NULL);
	is_int(r.status, 404, "cancel of a missing context: 404");
	http_resp_free(&r);
	http_json(&r, "GET", wt_url(&t, "/api/v1/stats/pipelines"), admin, NULL);
	is_int(r.status, 200, "GET /stats/pipelines: 200");
	like(r.body, "\"items\":[", "an items list");
	http_resp_free(&r);
	http_json(&r, "GET", wt_url(&t, "/api/v1/organization"), admin, NULL);
	is_str(body_path(&r, "_id"), "org_123", "GET /organization: the caller's");
	is_str(body_path(&r, "caller.admin"), "true", "the caller is an admin");
	is_str(body_path(&r, "usage.max_contexts_per_day"), "1000", "usage shows the daily limit");
	http_resp_free(&r);
}

struct sse {
	char buf[8192];
	size_t len;
};

static size_t
sse_write(char *data, size_t size, size_t n, void *arg)
{
	struct sse *s = arg;
	size_t take = size * n;

	if (take > sizeof(s->buf) - 1 - s->len)
		take = sizeof(s->buf) - 1 - s->len;
	memcpy(s->buf + s->len, data, take);
	s->len += take;
	s->buf[s->len] = '\0';
	return strstr(s->buf, "\n\n") ? 0 : size * n;	/* one event is enough */
}

/* A change made while the stream is open arrives as the next event; no change, no event. */
static void
test_events_live(void)
{
	char req[256], *acc = calloc(1, 65536);
	int fd = http_connect(t.port);

	snprintf(req, sizeof(req), "GET /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n",
	    admin);
	(void)!send(fd, req, strlen(req), MSG_NOSIGNAL);
	ok(http_read_until(fd, acc, 65536, "\"seq\":1}", 5000, NULL), "a live stream: the first event");
	ok(!http_read_until(fd, acc, 65536, "\"seq\":2}", 2500, NULL), "no event while nothing changes");
	box_put(&t.box, COLL_CONTEXTS, "{\"_id\": \"ctx_live\", \"type\": \"article\", \"status\": \"pending\", "
	    "\"organization_id\": \"org_123\", \"data\": {\"title\": \"Live\"}}");
	ok(http_read_until(fd, acc, 65536, "\"seq\":2}", 5000, NULL), "a new context arrives as the next event");
	like(acc, "\"counts\":{\"pending\":", "with the counts");
	close(fd);
	free(acc);
}

static void
test_events(void)
{
	struct curl_slist *h = NULL;
	struct sse s = { "", 0 };
	char auth[160];
	CURL *c = curl_easy_init();
	char *ctype = NULL;

	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", admin);
	h = curl_slist_append(h, auth);
	curl_easy_setopt(c, CURLOPT_URL, wt_url(&t, "/api/v1/events"));
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sse_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ctype);
	is_str(ctype, "text/event-stream", "/events is an event stream");
	like(s.buf, "event: update\ndata: {\"counts\":{\"pending\":", "its first event carries the counts");
	like(s.buf, "\"batches\":[{\"_id\":\"batch_7890\"", "and the organization's recent batches");
	like(s.buf, "\"seq\":1}", "numbered from 1");
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	still_serves("an event stream closed by its client");
	test_events_live();
}

/* Clients that send a header a byte a second: the server drops them, and serves others meanwhile. */
static void
test_slow_clients(void)
{
	static const char req[] = "GET /healthz HTTP/1.1\r\nHost: slow\r\n\r\n";
	int fds[3], closed = 0, answered_json = 0;
	int64_t t0 = gb_mono_ms(), served_ms = -1;
	struct http_resp r;

	for (int i = 0; i < 3; i++)
		fds[i] = http_connect(t.port);
	for (size_t b = 0; b < 8 && closed < 3; b++) {
		for (int i = 0; i < 3; i++) {
			struct pollfd p = { fds[i], POLLIN, 0 };

			/* an answer waiting is read below, not lost to a failed send */
			if (fds[i] < 0 || poll(&p, 1, 0) > 0)
				continue;
			if (send(fds[i], req + b, 1, MSG_NOSIGNAL) != 1) {
				close(fds[i]);
				fds[i] = -1;
				closed++;
			}
		}
		if (b == 1) {
			int64_t s0 = gb_mono_ms();

			http_json(&r, "GET", wt_url(&t, "/api/v1/templates/tmpl_article_technical"), admin, NULL);
			served_ms = r.status == 200 ? gb_mono_ms() - s0 : -1;
			http_resp_free(&r);
		}
		for (int i = 0; i < 3; i++) {
			struct pollfd p = { fds[i], POLLIN, 0 };
			char junk[512];

			ssize_t n;

			if (fds[i] < 0 || poll(&p, 1, 0) <= 0)
				continue;
			n = recv(fds[i], junk, sizeof(junk) - 1, MSG_DONTWAIT);
			junk[n > 0 ? n : 0] = '\0';
			answered_json += n > 0 && strstr(junk, "{\"error\":{\"code\":") != NULL;
			close(fds[i]);
			fds[i] = -1;
			closed++;
		}
		usleep(1000 * 1000);
	}
	ok(served_ms >= 0 && served_ms < 900, "a normal client is served while 3 slow ones hold connections "
	    "(%lld ms)", (long long)served_ms);
	is_int(closed, 3, "the slow clients are cut off by request_timeout_ms (after %lld ms)",
	    (long long)(gb_mono_ms() - t0));
	is_int(answered_json, 3, "each is told so in the API's error shape");
	for (int i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	still_serves("slow clients");
}

/* A database the threads cannot open: 503 from the API and /healthz, and still an answer. */
static void
test_unusable_database(void)
{
	struct gb_err err = { 0, "" };
	struct web_config wc;
	struct web *w = NULL;
	struct http_resp r;
	char path[4200], url[128];

	snprintf(path, sizeof(path), "%s/missing/none.db", util_tmpdir());
	web_config_defaults(&wc);
	wc.db_path = path;
	wc.listen = "127.0.0.1:0";
	wc.threads = 2;
	wc.metrics = t.m;
	if (web_start(&w, &wc, &err))
		tap_bail("web_start: %s", err.msg);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", web_port(w));
	http_json(&r, "GET", url, NULL, NULL);
	is_int(r.status, 503, "/healthz with an unusable database: 503");
	is_str(body_path(&r, "status"), "unhealthy", "unhealthy");
	is_str(body_path(&r, "reasons.0"), "database unusable", "and why");
	http_resp_free(&r);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/templates", web_port(w));
	http_json(&r, "GET", url, admin, NULL);
	is_int(r.status, 503, "an API call: 503");
	is_str(err_code(&r), "unavailable", "unavailable");
	http_resp_free(&r);
	web_stop(w);
	is_int(web_start(&w, &(struct web_config){ .db_path = path, .listen = "nowhere", .threads = 1,
	    .max_body = 1, .request_timeout_ms = 1 }, &err), GB_EINVAL, "a listen address without a port is refused");
	like(err.msg, "ADDR:PORT", "naming the expected form");
}

int
main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	/* a stream whose client went away holds its thread until the next write (at most the 15 s ping) */
	wt_start(&t, 8, MAX_BODY, 1000);
	wt_key(&t, "user_456", 1, admin);
	test_routes();
	test_bad_json();
	test_body_limits();
	test_queries();
	test_headers_health_metrics();
	test_catalog_writes();
	test_contexts_ops();
	test_events();
	test_slow_clients();
	test_unusable_database();
	wt_stop(&t);
	curl_global_cleanup();
	return tap_done();
}
