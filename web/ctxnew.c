/*
 * ctxnew.c - new contexts through the API: one (POST /contexts) or many at
 * once without a batch (POST /contexts/bulk, the schema's insertMany, all
 * or nothing). The rules are storage's (submit.h), the same run-batch
 * follows; each context is written from its exact text in the request, so
 * integers past 2^53 keep their digits.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/gbtime.h"
#include "../storage/docs.h"
#include "internal.h"

int
web_submit_error(struct web_req *r, const struct gb_err *err, const struct submit_result *res)
{
	char where[48] = "";

	if (res && res->failed != SIZE_MAX)
		snprintf(where, sizeof(where), "contexts[%zu]: ", res->failed);
	switch (err->code) {
	case GB_EINVAL:
		return web_error(r, 400, "bad_request", "%s%s", where, err->msg);
	case GB_EPERM:
		return web_error(r, 403, "forbidden", "%s%s", where, err->msg);
	case GB_EEXIST: {
		char taken[sizeof(err->msg) + 32];

		return web_error(r, 409, "conflict", "%s%s", where,
		    web_taken_msg(err->msg, taken, sizeof(taken)));
	}
	case GB_ELIMIT: {
		char t[GB_TIME_LEN];
		cJSON *j = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(j, "error");

		cJSON_AddStringToObject(e, "code", "rate_limited");
		cJSON_AddStringToObject(e, "message", err->msg);
		cJSON_AddStringToObject(e, "reset_at", gb_time_format(res ? res->reset_ms :
		    submit_day_reset_ms(gb_now_ms()), t));
		return web_send_json_take(r, 429, j);
	}
	default:
		return web_store_error(r, err);
	}
}

/* The end of the JSON string starting at s[0] == '"' (past its closing quote). */
static const char *
span_string(const char *s, const char *end)
{
	for (s++; s < end; s++) {
		if (*s == '\\')
			s++;
		else if (*s == '"')
			return s + 1;
	}
	return end;
}

/* The end of the JSON value starting at s (valid JSON). */
static const char *
span_value(const char *s, const char *end)
{
	int depth = 0;

	while (s < end) {
		if (*s == '"') {
			s = span_string(s, end);
			if (depth == 0)
				return s;
			continue;
		}
		if (*s == '{' || *s == '[') {
			depth++;
		} else if (*s == '}' || *s == ']') {
			if (depth == 0)
				return s;	/* the end of the object holding a scalar */
			if (--depth == 0)
				return s + 1;
		} else if (depth == 0 && (*s == ',' || isspace((unsigned char)*s))) {
			return s;
		}
		s++;
	}
	return s;
}

static const char *
skip_ws(const char *s, const char *end)
{
	while (s < end && isspace((unsigned char)*s))
		s++;
	return s;
}

int
web_json_member_span(const char *text, size_t size, const char *key, const char **start,
    size_t *len)
{
	const char *s = skip_ws(text, text + size), *end = text + size;
	size_t klen = strlen(key);

	if (s >= end || *s != '{')
		return -1;
	for (s = skip_ws(s + 1, end); s < end && *s == '"'; ) {
		const char *k = s + 1, *kend = span_string(s, end), *v;

		s = skip_ws(kend, end);
		if (s >= end || *s != ':')
			return -1;
		v = skip_ws(s + 1, end);
		s = span_value(v, end);
		if ((size_t)(kend - 1 - k) == klen && memcmp(k, key, klen) == 0) {
			*start = v;
			*len = (size_t)(s - v);
			return 0;
		}
		s = skip_ws(s, end);
		if (s < end && *s == ',')
			s = skip_ws(s + 1, end);
	}
	return -1;
}

/* The new context's document in answer to POST /contexts. */
static int
ctxnew_answer(struct web_req *r, const char *id)
{
	snprintf(r->object, sizeof(r->object), "%s", id);
	return web_send_org_doc(r, 201, COLL_CONTEXTS, id);
}

static int
ctx_create(struct web_req *r)
{
	struct submit_opts o = { .org = r->caller.org_id, .user = r->caller.user_id };
	struct gb_err err = { 0, "" };
	struct submit_result res;
	char ids[1][STORE_ID_MAX];
	struct submit_item it;
	struct buf body;
	cJSON *doc;

	if (web_read_json_text(r, &doc, &body) == 0) {
		it = (struct submit_item){ doc, buf_str(&body), body.len };
		if (submit_contexts_create(r->st, &o, &it, 1, ids, &res, &err)) {
			res.failed = SIZE_MAX;	/* the one context is the request itself */
			web_submit_error(r, &err, &res);
		} else
			ctxnew_answer(r, ids[0]);
	}
	cJSON_Delete(doc);
	buf_release(&body);
	return r->status;
}

static int
ctxnew_elem(void *arg, size_t i, const char *elem, size_t len)
{
	struct web_items *it = arg;

	if (i >= it->n)
		return GB_EINVAL;
	if ((it->texts[i] = strndup(elem, len)) == NULL)
		return GB_ENOMEM;
	it->v[i].text = it->texts[i];
	it->v[i].len = len;
	return 0;
}

void
web_items_release(struct web_items *it)
{
	for (size_t i = 0; it->texts && i < it->n; i++)
		free(it->texts[i]);
	free(it->texts);
	free(it->v);
	memset(it, 0, sizeof(*it));
}

int
web_contexts_items(struct web_req *r, const cJSON *arr, const struct buf *body,
    struct web_items *it)
{
	struct gb_err err = { 0, "" };
	const char *span;
	size_t len, i = 0;
	const cJSON *c;

	memset(it, 0, sizeof(*it));
	if (!cJSON_IsArray(arr))
		return web_error(r, 400, "bad_request",
		    "field 'contexts': expected an array of contexts");
	if ((it->n = (size_t)cJSON_GetArraySize(arr)) == 0)
		return web_error(r, 400, "bad_request",
		    "field 'contexts': the request holds no contexts");
	it->v = calloc(it->n, sizeof(*it->v));
	it->texts = calloc(it->n, sizeof(*it->texts));
	if (it->v == NULL || it->texts == NULL)
		return web_error(r, 500, "internal", "out of memory");
	cJSON_ArrayForEach(c, arr) {
		if (!cJSON_IsObject(c))
			return web_error(r, 400, "bad_request", "contexts[%zu]: expected an object",
			    i);
		it->v[i++].doc = c;
	}
	/*
	 * the exact texts; without them (a key written with escapes) each is
	 * printed from its doc
	 */
	if (web_json_member_span(buf_str(body), body->len, "contexts", &span, &len) != 0 ||
	    store_json_array_each(r->st, span, len, ctxnew_elem, it, &err) != 0)
		for (i = 0; i < it->n; i++) {
			it->v[i].text = NULL;
			it->v[i].len = 0;
		}
	return 0;
}

/* The members of body other than the names listed (NULL-ended): 0, or the 400 answered. */
int
web_only_fields(struct web_req *r, const cJSON *body, const char *const *names)
{
	for (const cJSON *f = body->child; f; f = f->next) {
		int i;

		for (i = 0; names[i] && strcmp(names[i], f->string) != 0; i++)
			;
		if (names[i] == NULL)
			return web_error(r, 400, "bad_request", "unknown field '%.64s'", f->string);
	}
	return 0;
}

static int
ctx_bulk_answer(struct web_req *r, char (*ids)[STORE_ID_MAX], size_t n)
{
	cJSON *out = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(out, "ids");

	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(ids[i]));
	cJSON_AddNumberToObject(out, "count", (double)n);
	if (n == 1)
		snprintf(r->object, sizeof(r->object), "%s", ids[0]);
	else
		snprintf(r->object, sizeof(r->object), "%.60s..%.60s", ids[0], ids[n - 1]);
	return web_send_json_take(r, 201, out);
}

static int
ctx_bulk_insert(struct web_req *r, const cJSON *body, const struct buf *text)
{
	static const char *const fields[] = { "contexts", "pipeline_id", NULL };
	const cJSON *pipe = cJSON_GetObjectItemCaseSensitive(body, "pipeline_id");
	struct submit_opts o = { .org = r->caller.org_id, .user = r->caller.user_id };
	struct gb_err err = { 0, "" };
	struct submit_result res;
	struct web_items it;
	char (*ids)[STORE_ID_MAX];

	if (web_only_fields(r, body, fields))
		return r->status;
	if (pipe && (!cJSON_IsString(pipe) || pipe->valuestring[0] == '\0'))
		return web_error(r, 400, "bad_request",
		    "field 'pipeline_id': expected a pipeline's _id");
	o.pipeline_id = pipe ? pipe->valuestring : NULL;
	if (web_contexts_items(r, cJSON_GetObjectItemCaseSensitive(body, "contexts"), text,
	    &it) == 0) {
		if ((ids = calloc(it.n, sizeof(*ids))) == NULL)
			web_error(r, 500, "internal", "out of memory");
		else if (submit_contexts_create(r->st, &o, it.v, it.n, ids, &res, &err))
			web_submit_error(r, &err, &res);
		else
			ctx_bulk_answer(r, ids, it.n);
		free(ids);
	}
	web_items_release(&it);
	return r->status;
}

static int
ctx_bulk(struct web_req *r)
{
	struct buf text;
	cJSON *body;

	if (web_read_json_text(r, &body, &text) == 0)
		ctx_bulk_insert(r, body, &text);
	cJSON_Delete(body);
	buf_release(&text);
	return r->status;
}

const struct web_route web_routes_ctxnew[] = {
	{ "POST", API "/contexts", ctx_create, PERM_WRITE },
	{ "POST", API "/contexts/bulk", ctx_bulk, PERM_WRITE },
	{ NULL, NULL, NULL, PERM_NONE },
};
