/*
 * contexts.c - the contexts route group: the filtered list (newest first,
 * storage's opaque cursors), one context, its timeline, and its retry and
 * cancel. Creating contexts is in ctxnew.c, the bulk actions in bulk.c.
 */
#include <stdio.h>
#include <string.h>

#include "../base/gbtime.h"
#include "../base/json.h"
#include "internal.h"

#define TIMELINE_ATTEMPTS 20	/* the most recent attempts a timeline shows */

static void
add_str_or_null(cJSON *o, const char *key, const char *v)
{
	if (v)
		cJSON_AddStringToObject(o, key, v);
	else
		cJSON_AddNullToObject(o, key);
}

static int
ctx_list_add(void *arg, const struct ctx_summary *s)
{
	cJSON *o = cJSON_CreateObject();

	if (o == NULL)
		return GB_ENOMEM;
	add_str_or_null(o, "_id", s->id);
	add_str_or_null(o, "type", s->type);
	add_str_or_null(o, "status", s->status);
	add_str_or_null(o, "batch_id", s->batch_id);
	add_str_or_null(o, "user_id", s->user_id);
	add_str_or_null(o, "title", s->title);
	add_str_or_null(o, "created_at", s->created_at);
	add_str_or_null(o, "updated_at", s->updated_at);
	cJSON_AddNumberToObject(o, "retry_count", (double)s->retry_count);
	add_str_or_null(o, "error", s->error);
	cJSON_AddItemToArray(arg, o);
	return 0;
}

static int
ctx_list(struct web_req *r)
{
	struct gb_err err = { 0, "" };
	struct web_filter f;
	char next[LIST_CURSOR_MAX];
	cJSON *out, *items;
	int partial = 0;

	if (web_filter_query(r, &f))
		return r->status;
	if ((out = cJSON_CreateObject()) == NULL)
		return web_error(r, 500, "internal", "out of memory");
	items = cJSON_AddArrayToObject(out, "items");
	if (store_ctx_list(r->st, &f.q, ctx_list_add, items, next, &partial, &err)) {
		cJSON_Delete(out);
		return web_store_error(r, &err);
	}
	if (next[0])
		cJSON_AddStringToObject(out, "next_cursor", next);
	else
		cJSON_AddNullToObject(out, "next_cursor");
	if (partial)
		cJSON_AddTrueToObject(out, "partial");
	return web_send_json_take(r, 200, out);
}

static int
ctx_get(struct web_req *r)
{
	return web_send_org_doc(r, 200, COLL_CONTEXTS, r->params[0]);
}

void
web_count_transitions(struct web_req *r, int retry, int64_t n)
{
	if (n <= 0)
		return;
	metric_add(retry ?
	    metrics_counter(r->web->metrics, "genbox_contexts_requeued_total", "by=\"api\"",
	    "Failed or cancelled contexts sent back to the queue") :
	    metrics_counter(r->web->metrics, "genbox_contexts_cancelled_total", "by=\"api\"",
	    "Contexts cancelled"), (double)n);
}

/* retry or cancel one context of the caller's organization; 200 with the document after. */
static int
ctx_act(struct web_req *r, int retry)
{
	struct gb_err err = { 0, "" };
	const char *id = r->params[0];
	int rc;

	if (retry)
		rc = store_ctx_retry(r->st, id, r->caller.org_id, gb_now_ms(), &err);
	else
		rc = store_ctx_cancel_org(r->st, id, r->caller.org_id, gb_now_ms(), &err);
	if (rc == GB_ENOTFOUND)
		return web_error(r, 404, "not_found", "no such document '%s' in contexts", id);
	if (rc == GB_ESTATE && retry)
		return web_error(r, 409, "conflict",
		    "context '%s' is not failed or cancelled: only those "
		    "are retried", id);
	if (rc == GB_ESTATE)
		return web_error(r, 409, "conflict", "context '%s' has already ended", id);
	if (rc)
		return web_store_error(r, &err);
	web_count_transitions(r, retry, 1);
	snprintf(r->object, sizeof(r->object), "%s", id);
	return web_send_org_doc(r, 200, COLL_CONTEXTS, id);
}

static int
ctx_retry(struct web_req *r)
{
	return ctx_act(r, 1);
}

static int
ctx_cancel(struct web_req *r)
{
	return ctx_act(r, 0);
}

/* One {"name", "ms"} of the timings, when it has not been added yet. */
static void
timeline_component(cJSON *arr, const cJSON *timings, const char *name)
{
	const cJSON *e, *ms = cJSON_GetObjectItemCaseSensitive(timings, name);
	cJSON *o;

	if (!cJSON_IsNumber(ms))
		return;
	cJSON_ArrayForEach(e, arr)
		if (strcmp(json_str_or(e, "name"), name) == 0)
			return;
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", name);
	cJSON_AddNumberToObject(o, "ms", ms->valuedouble);
	cJSON_AddItemToArray(arr, o);
}

/*
 * The components in pipeline order: the document's pipeline (component
 * types) when it has one, then the order they completed in (the engine
 * runs them in the pipeline's order), then any other timing.
 */
static cJSON *
timeline_components(const cJSON *doc, const cJSON *proc)
{
	const cJSON *timings = cJSON_GetObjectItemCaseSensitive(proc, "component_timings");
	const cJSON *orders[] = { cJSON_GetObjectItemCaseSensitive(doc, "pipeline"),
		cJSON_GetObjectItemCaseSensitive(proc, "completed_components") };
	cJSON *arr = cJSON_CreateArray();
	const cJSON *e;

	if (!cJSON_IsObject(timings))
		return arr;
	for (size_t i = 0; i < sizeof(orders) / sizeof(orders[0]); i++)
		if (cJSON_IsArray(orders[i]))
			cJSON_ArrayForEach(e, orders[i])
				if (cJSON_IsString(e))
					timeline_component(arr, timings, e->valuestring);
	cJSON_ArrayForEach(e, timings)
		timeline_component(arr, timings, e->string);
	return arr;
}

/* An attempt's error as a string (an object's message), or null. */
static cJSON *
timeline_error(const cJSON *v)
{
	if (cJSON_IsString(v))
		return cJSON_CreateString(v->valuestring);
	if (cJSON_IsObject(v) && json_get_str(v, "message"))
		return cJSON_CreateString(json_get_str(v, "message"));
	return cJSON_CreateNull();
}

static cJSON *
timeline_attempts(const cJSON *proc)
{
	const cJSON *all = cJSON_GetObjectItemCaseSensitive(proc, "attempts"), *a;
	int skip = cJSON_IsArray(all) ? cJSON_GetArraySize(all) - TIMELINE_ATTEMPTS : 0;
	cJSON *arr = cJSON_CreateArray();

	if (!cJSON_IsArray(all))
		return arr;
	cJSON_ArrayForEach(a, all) {
		cJSON *o;

		if (skip-- > 0 || !cJSON_IsObject(a))
			continue;
		o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "attempt", json_get_number(a, "attempt", 0));
		add_str_or_null(o, "at", json_get_str(a, "at"));
		cJSON_AddItemToObject(o, "error",
		    timeline_error(cJSON_GetObjectItemCaseSensitive(a, "error")));
		add_str_or_null(o, "component", json_get_str(a, "component"));
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

static int
ctx_timeline(struct web_req *r)
{
	const cJSON *proc, *dur;
	cJSON *doc, *out;

	if (web_get_org_doc(r, COLL_CONTEXTS, r->params[0], &doc))
		return r->status;
	proc = cJSON_GetObjectItemCaseSensitive(doc, "processing");
	out = cJSON_CreateObject();
	add_str_or_null(out, "_id", json_get_str(doc, "_id"));
	add_str_or_null(out, "status", json_get_str(doc, "status"));
	add_str_or_null(out, "created_at", json_get_str(doc, "created_at"));
	add_str_or_null(out, "started_at", json_get_str(proc, "started_at"));
	add_str_or_null(out, "completed_at", json_get_str(proc, "completed_at"));
	dur = cJSON_GetObjectItemCaseSensitive(proc, "duration_ms");
	if (cJSON_IsNumber(dur))
		cJSON_AddNumberToObject(out, "duration_ms", dur->valuedouble);
	else
		cJSON_AddNullToObject(out, "duration_ms");
	cJSON_AddItemToObject(out, "components", timeline_components(doc, proc));
	cJSON_AddItemToObject(out, "attempts", timeline_attempts(proc));
	cJSON_Delete(doc);
	return web_send_json_take(r, 200, out);
}

const struct web_route web_routes_contexts[] = {
	{ "GET", API "/contexts", ctx_list, PERM_READ },
	{ "GET", API "/contexts/{id}", ctx_get, PERM_READ },
	{ "GET", API "/contexts/{id}/timeline", ctx_timeline, PERM_READ },
	{ "POST", API "/contexts/{id}/retry", ctx_retry, PERM_WRITE },
	{ "POST", API "/contexts/{id}/cancel", ctx_cancel, PERM_WRITE },
	{ NULL, NULL, NULL, PERM_NONE },
};
