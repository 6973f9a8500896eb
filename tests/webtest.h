/*
 * webtest.h - set-up the web tests share: the schema's example database
 * (pooltest.h's box), the API server started in this process on a free
 * port, keys for users, URLs and JSON bodies. Header-only (static inline).
 */
#ifndef GB_WEBTEST_H
#define GB_WEBTEST_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <cjson/cJSON.h>

#include "../base/metrics.h"
#include "../storage/apikey.h"
#include "../web/apikeys.h"
#include "../web/web.h"
#include "httpc.h"
#include "peer.h"
#include "pooltest.h"
#include "tap.h"

struct wt {
	struct box box;
	struct metrics *m;
	struct web *web;
	int port;
};

static inline void
wt_start(struct wt *t, int threads, int64_t max_body, int timeout_ms)
{
	struct gb_err err = { 0, "" };
	struct web_config wc;
	char listen[64];

	box_open(&t->box, 1);
	t->m = metrics_new();
	web_config_defaults(&wc);
	wc.db_path = t->box.path;
	snprintf(listen, sizeof(listen), "127.0.0.1:0");	/* the kernel picks a free port */
	wc.listen = listen;
	wc.threads = threads;
	wc.max_body = max_body;
	wc.request_timeout_ms = timeout_ms;
	wc.metrics = t->m;
	if (web_start(&t->web, &wc, &err))
		tap_bail("web_start: %s", err.msg);
	t->port = web_port(t->web);
}

static inline void
wt_stop(struct wt *t)
{
	web_stop(t->web);
	metrics_free(t->m);
	box_close(&t->box);
}

/* A new key of user (write: read and write) into token. */
static inline void
wt_key(struct wt *t, const char *user, int write, char token[APIKEY_TOKEN_MAX])
{
	struct gb_err err = { 0, "" };

	if (apikey_new(t->box.st, user, write, "test", gb_now_ms(), token, NULL, &err))
		tap_bail("apikey_new %s: %s", user, err.msg);
}

/* The URL of path on t's server (one of 8 static buffers, reused in turn). */
static inline const char *
wt_url(const struct wt *t, const char *path)
{
	static char urls[8][2048];
	static int next;
	char *u = urls[next++ % 8];

	snprintf(u, 2048, "http://127.0.0.1:%d%s", t->port, path);
	return u;
}

/* The error code of an error body, or "(none)". */
static inline const char *
err_code(const struct http_resp *r)
{
	static char code[64];
	cJSON *j = cJSON_Parse(r->body);
	const char *c = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "code"));

	snprintf(code, sizeof(code), "%s", c ? c : "(none)");
	cJSON_Delete(j);
	return code;
}

/* The field at a dotted path of a JSON body, as jpath gives it. */
static inline const char *
body_path(const struct http_resp *r, const char *path)
{
	cJSON *j = cJSON_Parse(r->body);
	const char *v = j ? jpath(j, path) : "(not JSON)";

	cJSON_Delete(j);
	return v;
}

/* The server wt_req talks to, "http://127.0.0.1:PORT": set by each test's set-up. */
static char wt_base[64];

static inline void
wt_set_port(int port)
{
	snprintf(wt_base, sizeof(wt_base), "http://127.0.0.1:%d", port);
}

static inline struct http_resp wt_req(const char *method, const char *path, const char *token,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* method path on wt_base with a JSON body from fmt (NULL: none); the caller frees the answer. */
static inline struct http_resp
wt_req(const char *method, const char *path, const char *token, const char *fmt, ...)
{
	static char url[2048];
	struct http_resp r;
	char *body = NULL;
	va_list ap;

	if (fmt) {
		va_start(ap, fmt);
		if (vasprintf(&body, fmt, ap) < 0)
			tap_bail("out of memory");
		va_end(ap);
	}
	snprintf(url, sizeof(url), "%s%s", wt_base, path);
	http_json(&r, method, url, token, body);
	free(body);
	return r;
}

/* One request: its status, and its error code when code is set. */
static inline void
wt_expect(const char *method, const char *path, const char *token, const char *body, int status,
    const char *code, const char *what)
{
	struct http_resp r = wt_req(method, path, token, body ? "%s" : NULL, body);

	is_int(r.status, status, "%s: %d", what, status);
	if (code)
		is_str(err_code(&r), code, "%s: %s", what, code);
	http_resp_free(&r);
}

/* Like wt_expect, and the error message holds want. */
static inline void
wt_expect_msg(const char *method, const char *path, const char *token, const char *body, int status,
    const char *want, const char *what)
{
	struct http_resp r = wt_req(method, path, token, body ? "%s" : NULL, body);

	is_int(r.status, status, "%s: %d", what, status);
	like(body_path(&r, "error.message"), want, "%s: the message says '%s'", what, want);
	http_resp_free(&r);
}

/*
 * method on pattern ("/api/v1/contexts/|/retry": '|' stands for the _id)
 * with another organization's object theirs, then with missing, an _id that
 * does not exist: the first is a 404 holding no secret, byte for byte the
 * answer to the second (the _id aside).
 */
static inline void
wt_same_as_missing(const char *method, const char *pattern, const char *theirs, const char *missing,
    const char *token, const char *secret)
{
	const char *bar = strchr(pattern, '|');
	int head = bar ? (int)(bar - pattern) : (int)strlen(pattern);
	char pa[256], pm[256], *p, *q;
	struct http_resp a, m;

	snprintf(pa, sizeof(pa), "%.*s%s%s", head, pattern, theirs, bar ? bar + 1 : "");
	snprintf(pm, sizeof(pm), "%.*s%s%s", head, pattern, missing, bar ? bar + 1 : "");
	a = wt_req(method, pa, token, NULL);
	m = wt_req(method, pm, token, NULL);
	is_int(a.status, 404, "%s %s of another organization: 404", method, pa);
	ok(strstr(a.body, secret) == NULL, "%s %s: without its data", method, pa);
	p = strstr(a.body, theirs);
	q = strstr(m.body, missing);
	ok(p && q && p - a.body == q - m.body && strcmp(p + strlen(theirs), q + strlen(missing)) == 0,
	    "%s %s: answered as a missing object is", method, pa);
	http_resp_free(&a);
	http_resp_free(&m);
}

#endif
