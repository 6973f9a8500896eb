/*
 * t301-web-auth - API keys and organizations: the auth matrix (no key, not
 * Bearer, malformed, unknown, wrong secret, revoked, inactive user, a user
 * moved to another organization, a read key writing, a write key of a
 * non-admin on admin routes, an admin), the 404 for another organization's
 * object byte for byte as a missing one, bodies with a key twice that must
 * not reach another organization, a catalog write racing a move, a taken
 * _id answered alike for every organization, keys through the API (the
 * token once, never a hash; the user's api_keys in step), last_used_at
 * without a write per request, and the audit line with the key id, quoted
 * values and never the secret.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "webtest.h"

static struct wt t;
static char admin[APIKEY_TOKEN_MAX], reader[APIKEY_TOKEN_MAX], writer[APIKEY_TOKEN_MAX];
static char other[APIKEY_TOKEN_MAX], inactive[APIKEY_TOKEN_MAX];

static void
setup_users(void)
{
	box_put(&t.box, COLL_USERS, "{\"_id\": \"user_w\", \"email\": \"w@acme.com\", \"role\": \"user\", "
	    "\"status\": \"active\", \"organization_id\": \"org_123\"}");
	box_put(&t.box, COLL_USERS, "{\"_id\": \"user_off\", \"email\": \"off@acme.com\", \"role\": \"admin\", "
	    "\"status\": \"suspended\", \"organization_id\": \"org_123\"}");
	box_put(&t.box, COLL_ORGANIZATIONS, "{\"_id\": \"org_999\", \"name\": \"Other\", \"settings\": "
	    "{\"default_pipeline_id\": \"pipe_999\"}}");
	box_put(&t.box, COLL_PIPELINES, "{\"_id\": \"pipe_999\", \"name\": \"Theirs\", "
	    "\"organization_id\": \"org_999\", \"components\": []}");
	box_put(&t.box, COLL_USERS, "{\"_id\": \"user_999\", \"email\": \"x@other.com\", \"role\": \"admin\", "
	    "\"status\": \"active\", \"organization_id\": \"org_999\"}");
	box_put(&t.box, COLL_TEMPLATES, "{\"_id\": \"tmpl_other\", \"name\": \"Theirs\", \"organization_id\": \"org_999\"}");
	box_put(&t.box, COLL_CONTEXTS, "{\"_id\": \"ctx_mine\", \"type\": \"article\", \"status\": \"pending\", "
	    "\"organization_id\": \"org_123\", \"user_id\": \"user_456\", \"data\": {\"title\": \"Mine\"}}");
	box_put(&t.box, COLL_CONTEXTS, "{\"_id\": \"ctx_theirs\", \"type\": \"article\", \"status\": \"pending\", "
	    "\"organization_id\": \"org_999\", \"user_id\": \"user_999\", \"data\": {\"title\": \"Secret title\"}}");
	wt_key(&t, "user_456", 1, admin);
	wt_key(&t, "user_456", 0, reader);
	wt_key(&t, "user_w", 1, writer);
	wt_key(&t, "user_999", 1, other);
	wt_key(&t, "user_off", 1, inactive);
}

static void
expect_status(const char *method, const char *path, const char *token, const char *body, int status,
    const char *code, const char *what)
{
	struct http_resp r;

	http_json(&r, method, wt_url(&t, path), token, body);
	is_int(r.status, status, "%s: %d", what, status);
	if (code)
		is_str(err_code(&r), code, "%s: %s", what, code);
	http_resp_free(&r);
}

/* A key whose user moved to another organization since it was made: refused. */
static void
test_moved_user(const char *p)
{
	static const char moved[] = "{\"_id\": \"user_mover\", \"email\": \"m@acme.com\", "
	    "\"role\": \"admin\", \"status\": \"active\", \"organization_id\": \"org_999\"}";
	struct gb_err err = { 0, "" };
	char mover[APIKEY_TOKEN_MAX];
	struct http_resp r;

	box_put(&t.box, COLL_USERS, "{\"_id\": \"user_mover\", \"email\": \"m@acme.com\", "
	    "\"role\": \"admin\", \"status\": \"active\", \"organization_id\": \"org_123\"}");
	wt_key(&t, "user_mover", 1, mover);
	expect_status("GET", p, mover, NULL, 200, NULL, "a key of a user of org_123 reads org_123's");
	if (store_put(t.box.st, COLL_USERS, moved, strlen(moved), STORE_UPSERT, NULL, &err))
		tap_bail("move user: %s", err.msg);
	http_json(&r, "GET", wt_url(&t, p), mover, NULL);
	is_int(r.status, 401, "once the user is in org_999, the org_123 key: 401");
	is_str(body_path(&r, "error.message"), "the key's user is no longer in the key's organization",
	    "saying why");
	http_resp_free(&r);
	expect_status("GET", "/api/v1/contexts/ctx_theirs", mover, NULL, 401, "unauthorized",
	    "nor does it read the new organization's");
	expect_status("POST", "/api/v1/contexts/ctx_mine/cancel", mover, NULL, 401, "unauthorized",
	    "nor change anything");
	is_str(box_ctx(&t.box, "ctx_mine", "status"), "pending", "the context is not cancelled");
}

static void
test_refused(void)
{
	const char *p = "/api/v1/contexts/ctx_mine";
	char wrong[APIKEY_TOKEN_MAX], unknown[APIKEY_TOKEN_MAX];

	expect_status("GET", p, NULL, NULL, 401, "unauthorized", "no key");
	{
		/* not Bearer: a Basic header sent by hand */
		char req[256], *out;

		snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Basic dXNlcjpwYXNz\r\n\r\n", p);
		out = http_raw(t.port, req, strlen(req), 3000);
		like(out ? out : "", "HTTP/1.1 401", "Basic auth: 401");
		free(out);
	}
	expect_status("GET", p, "key_zz.short", NULL, 401, "unauthorized", "malformed key");
	expect_status("GET", p, "not a key at all", NULL, 401, "unauthorized", "garbage key");
	snprintf(wrong, sizeof(wrong), "%s", admin);
	wrong[strlen(wrong) - 1] = wrong[strlen(wrong) - 1] == 'A' ? 'B' : 'A';
	expect_status("GET", p, wrong, NULL, 401, "unauthorized", "a real key id with a wrong secret");
	snprintf(unknown, sizeof(unknown), "key_0123456789abcdef.%s", strchr(admin, '.') + 1);
	expect_status("GET", p, unknown, NULL, 401, "unauthorized", "an unknown key id");
	expect_status("GET", p, inactive, NULL, 401, "unauthorized", "a key of a suspended user");
	test_moved_user(p);
	expect_status("GET", p, admin, NULL, 200, NULL, "then the admin key reads");
}

static void
test_permissions(void)
{
	const char *tmpl = "{\"_id\": \"tmpl_perm\", \"name\": \"P\"}";

	expect_status("GET", "/api/v1/contexts/ctx_mine", reader, NULL, 200, NULL, "a read key reads");
	expect_status("GET", "/api/v1/templates", reader, NULL, 200, NULL, "a read key lists");
	expect_status("POST", "/api/v1/contexts/ctx_mine/cancel", reader, NULL, 403, "forbidden",
	    "a read key cannot cancel");
	expect_status("POST", "/api/v1/templates", reader, tmpl, 403, "forbidden", "a read key cannot create");
	expect_status("POST", "/api/v1/templates", writer, tmpl, 403, "forbidden",
	    "a write key of a non-admin cannot write the catalog");
	expect_status("DELETE", "/api/v1/templates/tmpl_article_technical", writer, NULL, 403, "forbidden",
	    "nor delete from it");
	expect_status("POST", "/api/v1/keys", writer, "{}", 403, "forbidden", "nor make keys");
	expect_status("POST", "/api/v1/templates", admin, tmpl, 201, NULL, "an admin writes the catalog");
	expect_status("POST", "/api/v1/contexts/ctx_mine/cancel", writer, NULL, 200, NULL,
	    "a write key cancels a context of its organization");
}

/* The stored text of a document ("(none)" when absent; one static buffer). */
static const char *
stored(enum coll c, const char *id)
{
	static char out[8192];
	cJSON *doc = box_get(&t.box, c, id);
	char *text = doc ? cJSON_PrintUnformatted(doc) : NULL;

	snprintf(out, sizeof(out), "%s", text ? text : "(none)");
	free(text);
	cJSON_Delete(doc);
	return out;
}

/* Contexts in the database, all organizations. */
static int64_t
count_contexts(void)
{
	struct gb_err err = { 0, "" };
	int64_t n = -1;

	if (store_count(t.box.st, COLL_CONTEXTS, &n, &err))
		tap_bail("count: %s", err.msg);
	return n;
}

/* method path with body: status, and the error message holds want. */
static void
expect_msg(const char *method, const char *path, const char *token, const char *body, int status,
    const char *want, const char *what)
{
	struct http_resp r;

	http_json(&r, method, wt_url(&t, path), token, body);
	is_int(r.status, status, "%s: %d", what, status);
	like(body_path(&r, "error.message"), want, "%s: the message says '%s'", what, want);
	http_resp_free(&r);
}

/*
 * A key given twice (once spelled with an escape) would be checked in one
 * spelling and stored in the other: another organization's caller must not
 * get a context into org_123 with the engine's fields set.
 */
static void
test_context_duplicate_keys(void)
{
	int64_t before = count_contexts();
	struct http_resp r;
	char total[32];

	http_json(&r, "GET", wt_url(&t, "/api/v1/batches/batch_7890"), admin, NULL);
	snprintf(total, sizeof(total), "%s", body_path(&r, "summary.total"));
	http_resp_free(&r);
	/* the escaped array passes every rule for org_999 (its own pipeline) */
	expect_msg("POST", "/api/v1/contexts/bulk", other, "{\"cont\\u0065xts\": [{\"organization_id\": "
	    "\"org_999\", \"pipeline_id\": \"pipe_999\", \"data\": {\"title\": \"ok\"}}], "
	    "\"contexts\": [{\"organization_id\": \"org_123\", \"batch_id\": \"batch_7890\", "
	    "\"status\": \"failed\", \"error\": {\"message\": \"forged\"}, \"data\": {\"title\": "
	    "\"SMUGGLED\"}}]}", 400, "the key 'contexts' appears twice in one object",
	    "bulk with 'contexts' twice (once escaped)");
	is_int(count_contexts(), before, "nothing was written");
	http_json(&r, "GET", wt_url(&t, "/api/v1/contexts?q=SMUGGLED"), admin, NULL);
	is_str(body_path(&r, "items.0._id"), "(none)", "org_123 lists no smuggled context");
	http_resp_free(&r);
	http_json(&r, "GET", wt_url(&t, "/api/v1/batches/batch_7890"), admin, NULL);
	is_str(body_path(&r, "summary.total"), total, "its batch holds what it held (%s)", total);
	http_resp_free(&r);
	expect_msg("POST", "/api/v1/contexts", other, "{\"data\": {\"title\": \"x\"}, "
	    "\"organization_id\": \"org_999\", \"organization\\u005fid\": \"org_123\"}", 400,
	    "'organization_id' appears twice", "POST /contexts with organization_id twice");
	expect_msg("POST", "/api/v1/contexts/bulk", writer, "{\"contexts\": [{\"data\": {\"title\": "
	    "\"a\", \"title\": \"b\"}}]}", 400, "'title' appears twice", "a key twice deep inside");
	expect_status("POST", "/api/v1/contexts", writer, "{\"data\": {\"title\": \"t\\u0000x\"}}", 400,
	    "invalid_json", "a NUL character written as an escape");
	is_int(count_contexts(), before, "still nothing written");
	http_json(&r, "POST", wt_url(&t, "/api/v1/contexts/bulk"), writer, "{\"cont\\u0065xts\": "
	    "[{\"data\": {\"title\": \"escaped key\"}}]}");
	is_int(r.status, 201, "a key spelled with an escape, once, is fine: 201 (%.200s)", r.body);
	http_resp_free(&r);
	http_json(&r, "GET", wt_url(&t, "/api/v1/contexts?q=escaped%20key"), writer, NULL);
	is_str(body_path(&r, "items.0.title"), "escaped key", "and its context is the caller's");
	http_resp_free(&r);
}

/*
 * A key given twice in a catalog write: the checks saw one, the write kept
 * the other. Another organization's admin must neither take org_123's
 * template nor plant a component in org_123.
 */
static void
test_catalog_duplicate_keys(void)
{
	char before[8192];
	struct http_resp r;

	snprintf(before, sizeof(before), "%s", stored(COLL_TEMPLATES, "tmpl_article_technical"));
	http_json(&r, "PUT", wt_url(&t, "/api/v1/templates/tmpl_other"), other,
	    "{\"_id\": \"tmpl_other\", \"_id\": \"tmpl_article_technical\", \"name\": \"pwned\"}");
	is_int(r.status, 400, "PUT with _id twice: 400");
	is_str(err_code(&r), "invalid_json", "invalid_json");
	like(body_path(&r, "error.message"), "'_id' appears twice", "the message names the key");
	http_resp_free(&r);
	is_str(stored(COLL_TEMPLATES, "tmpl_article_technical"), before,
	    "the other organization's template is unchanged");
	like(stored(COLL_TEMPLATES, "tmpl_other"), "\"name\":\"Theirs\"", "and the caller's own too");
	http_json(&r, "POST", wt_url(&t, "/api/v1/components"), other, "{\"_id\": \"comp_planted\", "
	    "\"type\": \"transformer\", \"organization_id\": \"junk\", "
	    "\"organization_id\": \"org_123\"}");
	is_int(r.status, 400, "POST with organization_id twice: 400");
	like(body_path(&r, "error.message"), "'organization_id' appears twice", "naming the key");
	http_resp_free(&r);
	is_str(stored(COLL_COMPONENTS, "comp_planted"), "(none)", "no component was made");
	expect_status("POST", "/api/v1/templates", other, "{\"_id\": \"tmpl_x\", \"name\": \"a\", "
	    "\"na\\u006de\": \"b\"}", 400, "invalid_json", "a key twice, once escaped");
	is_str(stored(COLL_TEMPLATES, "tmpl_x"), "(none)", "nothing written");
}

struct race {
	const char *method, *path, *body;
	long status;
	char code[64];
};

static void *
race_request(void *arg)
{
	struct race *x = arg;
	struct http_resp r;

	http_json(&r, x->method, wt_url(&t, x->path), other, x->body);
	x->status = r.status;
	snprintf(x->code, sizeof(x->code), "%s", err_code(&r));
	http_resp_free(&r);
	return NULL;
}

/*
 * x's request sent while this process holds the write lock, in which
 * tmpl_race moves from org_999 (the caller's) to org_123; then the lock is
 * let go. The server's check of the owner and its write are one
 * transaction: it sees the move, and answers 404.
 */
static void
race_move(struct race *x)
{
	static const char moved[] = "{\"_id\": \"tmpl_race\", \"name\": \"Moved\", "
	    "\"organization_id\": \"org_123\"}";
	struct gb_err err = { 0, "" };
	pthread_t th;

	box_put(&t.box, COLL_TEMPLATES, "{\"_id\": \"tmpl_race\", \"name\": \"Race\", "
	    "\"organization_id\": \"org_999\"}");
	if (store_begin(t.box.st, &err))
		tap_bail("begin: %s", err.msg);
	pthread_create(&th, NULL, race_request, x);
	usleep(400 * 1000);	/* the request is at the server, waiting for the lock */
	if (store_put(t.box.st, COLL_TEMPLATES, moved, strlen(moved), STORE_UPSERT, NULL, &err) ||
	    store_commit(t.box.st, &err))
		tap_bail("move: %s", err.msg);
	pthread_join(th, NULL);
}

static void
test_catalog_race(void)
{
	struct race put = { "PUT", "/api/v1/templates/tmpl_race", "{\"name\": \"raced\"}", 0, "" };
	struct race del = { "DELETE", "/api/v1/templates/tmpl_race", NULL, 0, "" };
	struct gb_err err = { 0, "" };

	race_move(&put);
	is_int(put.status, 404, "a PUT racing a move to another organization: 404");
	is_str(put.code, "not_found", "not_found");
	like(stored(COLL_TEMPLATES, "tmpl_race"), "\"name\":\"Moved\"", "the moved template is not "
	    "overwritten");
	like(stored(COLL_TEMPLATES, "tmpl_race"), "\"organization_id\":\"org_123\"",
	    "and stays org_123's");
	if (store_delete(t.box.st, COLL_TEMPLATES, "tmpl_race", &err))
		tap_bail("delete: %s", err.msg);
	race_move(&del);
	is_int(del.status, 404, "a DELETE racing a move to another organization: 404");
	like(stored(COLL_TEMPLATES, "tmpl_race"), "\"name\":\"Moved\"",
	    "the moved template is not deleted");
}

/*
 * _ids are one space for every organization (as in the cluster): a taken
 * one is answered the same, byte for byte, whoever holds it, and never
 * names the holder.
 */
static void
test_taken_ids(void)
{
	static const char *const posts[][2] = {
		{ "/api/v1/templates", "{\"_id\": \"tmpl_article_technical\", \"name\": \"Mine\"}" },
		{ "/api/v1/contexts", "{\"_id\": \"ctx_mine\", \"data\": {\"title\": \"Mine\"}}" },
	};
	char before[8192];

	snprintf(before, sizeof(before), "%s", stored(COLL_TEMPLATES, "tmpl_article_technical"));
	for (size_t i = 0; i < sizeof(posts) / sizeof(posts[0]); i++) {
		struct http_resp theirs, own;

		http_json(&theirs, "POST", wt_url(&t, posts[i][0]), other, posts[i][1]);
		http_json(&own, "POST", wt_url(&t, posts[i][0]), admin, posts[i][1]);
		is_int(theirs.status, 409, "POST %s of an _id another organization holds: 409",
		    posts[i][0]);
		is_str(err_code(&theirs), "conflict", "conflict");
		like(body_path(&theirs, "error.message"), "' is already taken", "the _id is taken");
		ok(strstr(theirs.body, "org_123") == NULL, "the holder is not named");
		is_int(own.status, 409, "the holder's own POST %s: 409", posts[i][0]);
		is_str(theirs.body, own.body, "answered byte for byte alike (%s)", own.body);
		http_resp_free(&theirs);
		http_resp_free(&own);
	}
	is_str(stored(COLL_TEMPLATES, "tmpl_article_technical"), before, "the template is unchanged");
	is_str(box_ctx(&t.box, "ctx_mine", "data.title"), "Mine", "and so is the context");
}

static void
test_tenants(void)
{
	struct http_resp a, b;
	char *first;

	/* another organization's template, then the same _id once it is gone: the same bytes */
	http_json(&a, "GET", wt_url(&t, "/api/v1/templates/tmpl_other"), admin, NULL);
	is_int(a.status, 404, "another organization's template: 404");
	ok(strstr(a.body, "Theirs") == NULL, "none of its data");
	first = strdup(a.body);
	http_resp_free(&a);
	expect_status("DELETE", "/api/v1/templates/tmpl_other", other, NULL, 204, NULL, "its owner deletes it");
	http_json(&b, "GET", wt_url(&t, "/api/v1/templates/tmpl_other"), admin, NULL);
	is_int(b.status, 404, "missing template: 404");
	is_str(b.body, first, "another organization's object answers byte for byte as a missing one");
	http_resp_free(&b);
	free(first);
	http_json(&a, "GET", wt_url(&t, "/api/v1/contexts/ctx_theirs"), admin, NULL);
	is_int(a.status, 404, "another organization's context: 404");
	ok(strstr(a.body, "Secret title") == NULL, "never its data");
	http_resp_free(&a);
	expect_status("POST", "/api/v1/contexts/ctx_theirs/cancel", admin, NULL, 404, "not_found",
	    "cancel of another organization's context: 404");
	is_str(box_ctx(&t.box, "ctx_theirs", "status"), "pending", "and it is not cancelled");
	expect_status("PUT", "/api/v1/templates/tmpl_article_technical", other, "{\"name\": \"x\"}", 404,
	    "not_found", "PUT of another organization's template: 404");
	http_json(&a, "GET", wt_url(&t, "/api/v1/organization"), other, NULL);
	is_str(body_path(&a, "_id"), "org_999", "GET /organization answers the caller's own");
	http_resp_free(&a);
	http_json(&a, "GET", wt_url(&t, "/api/v1/queue"), other, NULL);
	is_str(body_path(&a, "items.0._id"), "ctx_theirs", "the queue is the caller's organization's");
	is_str(body_path(&a, "items.1._id"), "(none)", "and only it");
	http_resp_free(&a);
}

/*
 * Run fn with stderr into a file until it holds nlines lines (2 s at most);
 * the file's text (caller frees).
 */
static char *
capture_stderr(void (*fn)(void *), void *arg, int nlines)
{
	char path[4200];
	int saved = dup(2), fd;
	char *text;

	snprintf(path, sizeof(path), "%s/stderr.log", util_tmpdir());
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fd, 2);
	close(fd);
	fn(arg);
	/* the audit line is written once the answer is out: wait for it (2 s at most) */
	for (int64_t t0 = gb_mono_ms(); gb_mono_ms() - t0 < 2000; usleep(10 * 1000)) {
		char *sofar = util_read_file(path, NULL);
		int seen = 0;

		for (const char *p = sofar; p && (p = strchr(p, '\n')) != NULL; p++)
			seen++;
		free(sofar);
		if (seen >= nlines)
			break;
	}
	dup2(saved, 2);
	close(saved);
	text = util_read_file(path, NULL);
	return text ? text : strdup("");
}

struct made {
	char token[APIKEY_TOKEN_MAX];
	char key_id[64];
	int status;
	char body[2048];
};

static void
make_key(void *arg)
{
	struct made *m = arg;
	struct http_resp r;

	http_json(&r, "POST", wt_url(&t, "/api/v1/keys"), admin,
	    "{\"user_id\": \"user_w\", \"name\": \"ci\", \"permissions\": [\"read\", \"write\"]}");
	m->status = (int)r.status;
	snprintf(m->body, sizeof(m->body), "%s", r.body);
	snprintf(m->token, sizeof(m->token), "%.79s", body_path(&r, "token"));
	snprintf(m->key_id, sizeof(m->key_id), "%.63s", body_path(&r, "key_id"));
	http_resp_free(&r);
}

static void
post_forged(void *arg)
{
	struct http_resp r;

	(void)arg;
	http_json(&r, "POST", wt_url(&t, "/api/v1/templates"), admin, "{\"_id\": \"tmpl_forge "
	    "status=204 key_id=key_0000000000000000\", \"name\": \"f\"}");
	is_int(r.status, 201, "a template whose _id holds spaces and key=value text: 201 (%.100s)",
	    r.body);
	http_resp_free(&r);
	http_json(&r, "POST", wt_url(&t, "/api/v1/templates"), admin, "{\"_id\": \"tmpl_q\\\" "
	    "key_id=key_1111111111111111 x=\\\"\", \"name\": \"f\"}");
	is_int(r.status, 201, "one with quotes of its own: 201 (%.100s)", r.body);
	http_resp_free(&r);
}

/* An _id cannot forge fields of the audit line: values from a request are quoted. */
static void
test_audit_quoted(void)
{
	char *log = capture_stderr(post_forged, NULL, 2), want[256], kid[APIKEY_ID_MAX];
	int lines = 0, forged_key = 0;

	snprintf(kid, sizeof(kid), "%.20s", admin);
	snprintf(want, sizeof(want), "event=api_change key_id=%s method=POST "
	    "route=\"/api/v1/templates\" "
	    "object=\"tmpl_forge status=204 key_id=key_0000000000000000\" status=201", kid);
	like(log, want, "the _id is one quoted value");
	like(log, "object=\"tmpl_q\\\" key_id=key_1111111111111111 x=\\\"\" status=201",
	    "quotes in it are escaped");
	for (const char *p = log; *p; p++) {
		if (*p == '\n')
			lines++;
		if (*p == '"')	/* a quoted value, its escapes skipped */
			for (p++; *p && *p != '"'; p++)
				p += *p == '\\' && p[1];
		else if (strncmp(p, " key_id=", 8) == 0)
			forged_key += strncmp(p + 8, kid, strlen(kid)) != 0;
		if (*p == '\0')
			break;
	}
	is_int(lines, 2, "two changes, two lines");
	is_int(forged_key, 0, "every key_id= field outside quotes is the caller's");
	free(log);
}

static void
test_keys(void)
{
	struct made m;
	struct http_resp r;
	char *log, path[256], *secret;
	cJSON *user;

	memset(&m, 0, sizeof(m));
	log = capture_stderr(make_key, &m, 1);
	is_int(m.status, 201, "an admin makes a key: 201");
	like(m.token, m.key_id, "the token starts with the key id");
	is_int((long)strlen(m.token), 20 + 1 + 43, "key_ + 16 hex, a dot, 43 base64url characters");
	ok(strstr(m.body, "hash") == NULL, "the answer holds no hash");
	secret = strchr(m.token, '.');
	like(log, "event=api_change key_id=", "the change is logged");
	like(log, "route=\"/api/v1/keys\" object=\"key_",
	    "with its route and the new key's id, quoted");
	ok(secret && strstr(log, secret + 1) == NULL, "never the secret");
	ok(strstr(log, admin) == NULL && strstr(log, strchr(admin, '.') + 1) == NULL, "nor the caller's token");
	free(log);
	expect_status("POST", "/api/v1/contexts/ctx_mine/cancel", m.token, NULL, 409, "conflict",
	    "the new key works at once (the context was cancelled already: 409)");
	user = box_get(&t.box, COLL_USERS, "user_w");
	like(jpath(user, "api_keys"), m.key_id, "the user's api_keys lists the key");
	like(jpath(user, "api_keys"), "\"permissions\":[\"read\",\"write\"]", "with its permissions");
	ok(strstr(jpath(user, "api_keys"), secret + 1) == NULL && strstr(jpath(user, "api_keys"), "hash") == NULL,
	    "and neither its secret nor its hash");
	cJSON_Delete(user);
	http_json(&r, "GET", wt_url(&t, "/api/v1/keys"), writer, NULL);
	ok(strstr(r.body, m.key_id) && strstr(r.body, "user_456") == NULL, "a non-admin lists its own keys only");
	ok(strstr(r.body, "secret") == NULL && strstr(r.body, "hash") == NULL && strstr(r.body, "token") == NULL,
	    "a list holds no secret");
	http_resp_free(&r);
	http_json(&r, "GET", wt_url(&t, "/api/v1/keys"), admin, NULL);
	ok(strstr(r.body, m.key_id) && strstr(r.body, "user_456"), "an admin lists the organization's keys");
	ok(strstr(r.body, "user_999") == NULL, "not another organization's");
	http_resp_free(&r);
	expect_status("POST", "/api/v1/keys", admin, "{\"user_id\": \"user_999\"}", 404, "not_found",
	    "a key for another organization's user: 404");
	expect_status("POST", "/api/v1/keys", admin, "{\"permissions\": [\"admin\"]}", 400, "bad_request",
	    "an unknown permission: 400");
	expect_status("POST", "/api/v1/keys", admin, "{\"colour\": 1}", 400, "bad_request", "an unknown field: 400");
	snprintf(path, sizeof(path), "/api/v1/keys/%.40s", strchr(other, '.') ? other : "");
	*strchr(path, '.') = '\0';
	expect_status("DELETE", path, admin, NULL, 404, "not_found", "revoking another organization's key: 404");
	snprintf(path, sizeof(path), "/api/v1/keys/%s", m.key_id);
	expect_status("DELETE", path, writer, NULL, 403, "forbidden", "a non-admin cannot revoke");
	expect_status("DELETE", path, admin, NULL, 204, NULL, "an admin revokes: 204");
	expect_status("GET", "/api/v1/contexts/ctx_mine", m.token, NULL, 401, "unauthorized", "a revoked key: 401");
	user = box_get(&t.box, COLL_USERS, "user_w");
	ok(strstr(jpath(user, "api_keys"), m.key_id) == NULL, "the revoked key left the user's api_keys");
	cJSON_Delete(user);
	expect_status("GET", "/api/v1/contexts/ctx_mine", other, NULL, 404, "not_found",
	    "and another organization's key still only gets 404s");
}

static void
test_last_used(void)
{
	struct gb_err err = { 0, "" };
	struct store_apikey k1, k2;
	char key_id[32];

	snprintf(key_id, sizeof(key_id), "%.20s", reader);
	expect_status("GET", "/api/v1/templates", reader, NULL, 200, NULL, "a use");
	store_apikey_get(t.box.st, key_id, &k1, &err);
	ok(k1.last_used_ms > 0, "last_used_at is recorded");
	usleep(20 * 1000);
	expect_status("GET", "/api/v1/templates", reader, NULL, 200, NULL, "another use");
	store_apikey_get(t.box.st, key_id, &k2, &err);
	is_int(k2.last_used_ms, k1.last_used_ms, "within 60 s it is not written again");
}

int
main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	wt_start(&t, 4, 65536, 5000);
	setup_users();
	test_refused();
	test_permissions();
	test_context_duplicate_keys();
	test_catalog_duplicate_keys();
	test_taken_ids();
	test_tenants();
	test_catalog_race();
	test_keys();
	test_audit_quoted();
	test_last_used();
	wt_stop(&t);
	curl_global_cleanup();
	return tap_done();
}
