/*
 * batches.c - the batches route group: create one with its contexts inline
 * (submit.h's rules: max_batch_size, max_contexts_per_day, allowed_models,
 * the pipeline), list them newest first, get one, pause and resume. Every
 * batch answered carries its status summary and whether it is paused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/gbtime.h"
#include "../storage/access.h"
#include "../storage/docs.h"
#include "internal.h"

cJSON *
web_counts_json(const int64_t counts[CTX_STATUS_COUNT])
{
	cJSON *c = cJSON_CreateObject();

	for (int s = 0; s < CTX_STATUS_COUNT; s++)
		cJSON_AddNumberToObject(c, ctx_status_name((enum ctx_status)s), (double)counts[s]);
	return c;
}

cJSON *
web_batch_summary(struct web_req *r, const char *batch_id, struct gb_err *err)
{
	int64_t counts[CTX_STATUS_COUNT] = { 0 }, total = 0;
	cJSON *s;

	if (store_batch_summary(r->st, batch_id, counts, err))
		return NULL;
	s = web_counts_json(counts);
	for (int i = 0; i < CTX_STATUS_COUNT; i++)
		total += counts[i];
	cJSON_AddNumberToObject(s, "total", (double)total);
	return s;
}

/* Batch id of the caller's organization with its summary and paused: 0, or the error answered. */
static int
batch_doc(struct web_req *r, const char *id, cJSON **out)
{
	struct gb_err err = { 0, "" };
	cJSON *doc, *s;
	int paused = 0;

	*out = NULL;
	if (web_get_org_doc(r, COLL_BATCHES, id, &doc))
		return r->status;
	if ((s = web_batch_summary(r, id, &err)) == NULL ||
	    store_batch_paused(r->st, id, &paused, &err)) {
		cJSON_Delete(s);
		cJSON_Delete(doc);
		return web_store_error(r, &err);
	}
	cJSON_AddItemToObject(doc, "summary", s);
	cJSON_AddBoolToObject(doc, "paused", paused);
	*out = doc;
	return 0;
}

static int
batch_get(struct web_req *r)
{
	cJSON *doc;

	if (batch_doc(r, r->params[0], &doc))
		return r->status;
	return web_send_json_take(r, 200, doc);
}

/* The optional string member name of body into *out: 0, or the 400 answered. */
static int
batch_str(struct web_req *r, const cJSON *body, const char *name, int required, const char **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, name);

	*out = NULL;
	if (v == NULL && !required)
		return 0;
	if (v == NULL)
		return web_error(r, 400, "bad_request", "field '%s' is required", name);
	if (!cJSON_IsString(v) || v->valuestring[0] == '\0')
		return web_error(r, 400, "bad_request", "field '%s': expected a non-empty string",
		    name);
	*out = v->valuestring;
	return 0;
}

static int
batch_create_from(struct web_req *r, const cJSON *body, const struct buf *text)
{
	static const char *const fields[] = { "pipeline_id", "name", "contexts", "metadata", NULL };
	struct submit_opts o = { .org = r->caller.org_id, .user = r->caller.user_id,
	    .source = "api" };
	struct gb_err err = { 0, "" };
	struct submit_result res;
	struct web_items it;
	cJSON *doc;

	if (web_only_fields(r, body, fields) ||
	    batch_str(r, body, "pipeline_id", 1, &o.pipeline_id) ||
	    batch_str(r, body, "name", 0, &o.name))
		return r->status;
	o.metadata = cJSON_GetObjectItemCaseSensitive(body, "metadata");
	if (o.metadata && !cJSON_IsObject(o.metadata))
		return web_error(r, 400, "bad_request", "field 'metadata': expected an object");
	if (web_contexts_items(r, cJSON_GetObjectItemCaseSensitive(body, "contexts"), text,
	    &it) == 0) {
		if (submit_batch_create(r->st, &o, it.v, it.n, &res, &err)) {
			web_submit_error(r, &err, &res);
		} else {
			snprintf(r->object, sizeof(r->object), "%s", res.batch_id);
			if (batch_doc(r, res.batch_id, &doc) == 0)
				web_send_json_take(r, 201, doc);
		}
	}
	web_items_release(&it);
	return r->status;
}

static int
batch_create(struct web_req *r)
{
	struct buf text;
	cJSON *body;

	if (web_read_json_text(r, &body, &text) == 0)
		batch_create_from(r, body, &text);
	cJSON_Delete(body);
	buf_release(&text);
	return r->status;
}

struct batch_page {
	struct web_req *r;
	cJSON *items;
	struct gb_err err;
};

static int
batch_list_add(void *arg, const char *text, size_t len, int paused)
{
	struct batch_page *pg = arg;
	cJSON *doc = cJSON_ParseWithLength(text, len), *s;

	if (doc == NULL)
		return gb_errf(&pg->err, GB_EIO, "a stored batch is not JSON");
	if ((s = web_batch_summary(pg->r, json_str_or(doc, "_id"), &pg->err)) == NULL) {
		cJSON_Delete(doc);
		return pg->err.code ? pg->err.code : GB_ENOMEM;
	}
	cJSON_AddItemToObject(doc, "summary", s);
	cJSON_AddBoolToObject(doc, "paused", paused);
	cJSON_AddItemToArray(pg->items, doc);
	return 0;
}

static int
batch_list(struct web_req *r)
{
	struct batch_page pg = { r, NULL, { 0, "" } };
	char status[32], cursor[LIST_CURSOR_MAX], next[LIST_CURSOR_MAX];
	int64_t limit;
	int has_status, has_cursor;
	cJSON *out;

	if ((has_status = web_query(r, "status", status, sizeof(status))) < 0 ||
	    web_query_int(r, "limit", 1, LIST_MAX_LIMIT, 50, &limit) ||
	    (has_cursor = web_query(r, "cursor", cursor, sizeof(cursor))) < 0)
		return r->status;
	if (has_status && status[0] && ctx_status_from_name(status) < 0)
		return web_error(r, 400, "bad_request",
		    "query parameter 'status': unknown status '%s'", status);
	if (has_cursor && cursor[0] == '\0')
		return web_error(r, 400, "bad_request", "query parameter 'cursor' is empty");
	out = cJSON_CreateObject();
	pg.items = cJSON_AddArrayToObject(out, "items");
	if (store_batch_list(r->st, r->caller.org_id, has_status && status[0] ? status : NULL,
	    (int)limit, has_cursor ? cursor : NULL, batch_list_add, &pg, next, &pg.err)) {
		cJSON_Delete(out);
		return web_store_error(r, &pg.err);
	}
	if (next[0])
		cJSON_AddStringToObject(out, "next_cursor", next);
	else
		cJSON_AddNullToObject(out, "next_cursor");
	return web_send_json_take(r, 200, out);
}

static int
batch_pause_set(struct web_req *r, int paused)
{
	struct gb_err err = { 0, "" };
	cJSON *doc;
	int rc;

	if ((rc = store_batch_pause(r->st, r->params[0], r->caller.org_id, paused, gb_now_ms(),
	    &err))) {
		if (rc == GB_ENOTFOUND)
			return web_error(r, 404, "not_found", "no such document '%s' in batches",
			    r->params[0]);
		return web_store_error(r, &err);
	}
	snprintf(r->object, sizeof(r->object), "%s", r->params[0]);
	if (batch_doc(r, r->params[0], &doc))
		return r->status;
	return web_send_json_take(r, 200, doc);
}

static int
batch_pause(struct web_req *r)
{
	return batch_pause_set(r, 1);
}

static int
batch_resume(struct web_req *r)
{
	return batch_pause_set(r, 0);
}

const struct web_route web_routes_batches[] = {
	{ "GET", API "/batches", batch_list, PERM_READ },
	{ "POST", API "/batches", batch_create, PERM_WRITE },
	{ "GET", API "/batches/{id}", batch_get, PERM_READ },
	{ "POST", API "/batches/{id}/pause", batch_pause, PERM_WRITE },
	{ "POST", API "/batches/{id}/resume", batch_resume, PERM_WRITE },
	{ NULL, NULL, NULL, PERM_NONE },
};
