/*
 * ops.c - what an operator looks at: workers and their heartbeats,
 * pipeline statistics, the queue as the workers' polling sees it, and,
 * without a key, /healthz and the Prometheus /metrics.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/gbtime.h"
#include "../storage/access.h"
#include "../storage/docs.h"
#include "../storage/heartbeat.h"
#include "../storage/pipestats.h"
#include "internal.h"

#define HEALTH_NO_WORKER_MS 60000	/* pending work with no worker alive this long is
					 * unhealthy */

static cJSON *
hb_json(const struct store_heartbeat *hb)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "worker_id", hb->worker_id);
	cJSON_AddStringToObject(o, "host", hb->host);
	cJSON_AddStringToObject(o, "status", hb->status);
	cJSON_AddItemToObject(o, "last_heartbeat", web_time_or_null(hb->last_seen_ms));
	cJSON_AddNumberToObject(o, "processing_count", hb->processing_count);
	return o;
}

static int
workers_get(struct web_req *r)
{
	struct store_heartbeat *hb = calloc(POOL_HB_MAX, sizeof(*hb));
	int64_t counts[CTX_STATUS_COUNT];
	struct gb_err err = { 0, "" };
	cJSON *out, *arr;
	int n = 0;

	if (hb == NULL)
		return web_error(r, 500, "internal", "out of memory");
	if (store_heartbeat_list(r->st, gb_now_ms(), hb, POOL_HB_MAX, &n, &err) ||
	    store_ctx_org_counts(r->st, r->caller.org_id, counts, &err)) {
		free(hb);
		return web_store_error(r, &err);
	}
	out = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(out, "workers");
	for (int i = 0; i < n; i++)
		cJSON_AddItemToArray(arr, hb_json(&hb[i]));
	free(hb);
	cJSON_AddNumberToObject(out, "alive", n);
	cJSON_AddNumberToObject(out, "pending", (double)counts[CTX_PENDING]);
	if (counts[CTX_PENDING] > 0 && n == 0)
		cJSON_AddStringToObject(out, "warning", WEB_NO_WORKER_WARNING);
	else
		cJSON_AddNullToObject(out, "warning");
	return web_send_json_take(r, 200, out);
}

struct stats_walk {
	struct web_req *r;
	cJSON *items;
	int64_t now;
	struct gb_err err;
};

static int
stats_one(void *arg, const char *pipeline_id)
{
	struct stats_walk *w = arg;
	struct store_pipeline_stats s;
	cJSON *o;
	int rc;

	if ((rc = store_pipeline_stats_get(w->r->st, pipeline_id, w->now, &s, &w->err)))
		return rc;
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "pipeline_id", pipeline_id);
	cJSON_AddNumberToObject(o, "count", (double)s.count);
	cJSON_AddNumberToObject(o, "mean_ms", s.mean_ms);
	cJSON_AddNumberToObject(o, "p50_ms", (double)s.p50_ms);
	cJSON_AddNumberToObject(o, "p95_ms", (double)s.p95_ms);
	cJSON_AddItemToArray(w->items, o);
	return 0;
}

/* The organization's pipelines only: a pipeline of another one is left out. */
static int
stats_org_one(void *arg, const char *pipeline_id)
{
	struct stats_walk *w = arg;
	char *text = NULL;
	cJSON *doc;
	int mine, rc;

	if ((rc = store_get(w->r->st, COLL_PIPELINES, pipeline_id, &text, &w->err))) {
		if (rc != GB_ENOTFOUND)
			return rc;
		gb_err_clear(&w->err);
		return 0;
	}
	doc = cJSON_Parse(text);
	free(text);
	mine = strcmp(json_str_or(doc, "organization_id"), w->r->caller.org_id) == 0;
	cJSON_Delete(doc);
	return mine ? stats_one(arg, pipeline_id) : 0;
}

static int
stats_get(struct web_req *r)
{
	struct stats_walk w = { r, NULL, gb_now_ms(), { 0, "" } };
	cJSON *out = cJSON_CreateObject();

	w.items = cJSON_AddArrayToObject(out, "items");
	if (store_pipeline_stats_each(r->st, w.now, stats_org_one, &w, &w.err)) {
		cJSON_Delete(out);
		return web_store_error(r, &w.err);
	}
	return web_send_json_take(r, 200, out);
}

static int
queue_get(struct web_req *r)
{
	struct gb_err err = { 0, "" };
	char (*ids)[STORE_ID_MAX];
	int64_t limit;
	cJSON *out, *items;
	int n = 0;

	if (web_query_int(r, "limit", 1, 200, 50, &limit))
		return r->status;
	if ((ids = calloc((size_t)limit, sizeof(*ids))) == NULL)
		return web_error(r, 500, "internal", "out of memory");
	if (store_ctx_poll(r->st, r->caller.org_id, gb_now_ms(), (int)limit, ids, &n, &err)) {
		free(ids);
		return web_store_error(r, &err);
	}
	out = cJSON_CreateObject();
	items = cJSON_AddArrayToObject(out, "items");
	for (int i = 0; i < n; i++) {
		char *text = NULL;
		cJSON *doc;

		if (store_get(r->st, COLL_CONTEXTS, ids[i], &text, &err))
			continue;	/* ended and gone since the poll */
		doc = cJSON_Parse(text);
		free(text);
		if (doc)
			cJSON_AddItemToArray(items, web_ctx_summary(doc));
		cJSON_Delete(doc);
	}
	free(ids);
	return web_send_json_take(r, 200, out);
}

/* ---- no key: /healthz, /metrics ---- */

static _Atomic int64_t no_worker_since;	/* wall ms since pending work had no worker, 0: not so */

/*
 * Local trouble (the database, no worker for pending work, a stop) is
 * "unhealthy", a 503, and so is a failed quick_check (jobsview.c); sync trouble
 * (syncview.c's reasons), a failed job or an old backup alone is "degraded",
 * still a 200: the box works on alone.
 */
static int
healthz_get(struct web_req *r)
{
	struct gb_err err = { 0, "" };
	cJSON *out = cJSON_CreateObject(), *reasons = cJSON_CreateArray(), *o, *s;
	cJSON *sync_reasons = cJSON_CreateArray(), *jobs, *db;
	int64_t pending = 0, now = gb_now_ms(), since;
	int alive = 0, db_ok, local;

	db_ok = r->st != NULL && web_workers_count(r, NULL, &alive, &pending, &err) == 0;
	if (!db_ok)
		cJSON_AddItemToArray(reasons, cJSON_CreateString("database unusable"));
	since = atomic_load(&no_worker_since);
	if (db_ok && pending > 0 && alive == 0) {
		if (since == 0)
			atomic_compare_exchange_strong(&no_worker_since, &since, now);
		else if (now - since >= HEALTH_NO_WORKER_MS)
			cJSON_AddItemToArray(reasons, cJSON_CreateString(WEB_NO_WORKER_WARNING));
	} else if (db_ok) {
		atomic_store(&no_worker_since, 0);
	}
	if (atomic_load(&r->web->stopping))
		cJSON_AddItemToArray(reasons, cJSON_CreateString("shutting down"));
	s = cJSON_CreateObject();
	web_sync_health(r, s, sync_reasons);
	jobs = cJSON_CreateObject();
	db = cJSON_CreateObject();
	web_jobs_health(r, jobs, db, sync_reasons, reasons);
	local = cJSON_GetArraySize(reasons);
	while (cJSON_GetArraySize(sync_reasons))
		cJSON_AddItemToArray(reasons, cJSON_DetachItemFromArray(sync_reasons, 0));
	cJSON_Delete(sync_reasons);
	cJSON_AddStringToObject(out, "status", local ? "unhealthy" :
	    cJSON_GetArraySize(reasons) ? "degraded" : "ok");
	cJSON_AddBoolToObject(db, "ok", db_ok && !web_unwritable(r->web, NULL, 0));
	cJSON_AddItemToObject(out, "database", db);
	o = cJSON_AddObjectToObject(out, "workers");
	cJSON_AddNumberToObject(o, "alive", alive);
	cJSON_AddNumberToObject(o, "pending", (double)pending);
	cJSON_AddItemToObject(out, "sync", s);
	cJSON_AddItemToObject(out, "jobs", jobs);
	if (cJSON_GetArraySize(reasons))
		cJSON_AddItemToObject(out, "reasons", reasons);
	else
		cJSON_Delete(reasons);
	return web_send_json_take(r, local ? 503 : 200, out);
}

static int
metrics_get(struct web_req *r)
{
	int64_t counts[CTX_STATUS_COUNT];
	struct gb_err err = { 0, "" };
	struct buf b;
	int rc;

	if (r->st && store_ctx_org_counts(r->st, NULL, counts, &err) == 0)
		for (int s = 0; s < CTX_STATUS_COUNT; s++) {
			char labels[64];

			snprintf(labels, sizeof(labels), "status=\"%s\"",
			    ctx_status_name((enum ctx_status)s));
			metric_set(metrics_gauge(r->web->metrics, "genbox_queue_depth", labels,
			    "Contexts per status, read at scrape time"), (double)counts[s]);
		}
	web_sync_metrics(r);
	web_jobs_metrics(r);
	buf_init(&b, 64u << 20);
	if (metrics_render(r->web->metrics, &b))
		rc = web_error(r, 500, "internal", "metrics could not be rendered");
	else
		rc = web_send(r, 200, "text/plain; version=0.0.4; charset=utf-8", buf_str(&b),
		    b.len);
	buf_release(&b);
	return rc;
}

const struct web_route web_routes_ops[] = {
	{ "GET", API "/workers", workers_get, PERM_READ },
	{ "GET", API "/stats/pipelines", stats_get, PERM_READ },
	{ "GET", API "/queue", queue_get, PERM_READ },
	{ "GET", "/healthz", healthz_get, PERM_NONE },
	{ "GET", "/metrics", metrics_get, PERM_NONE },
	{ NULL, NULL, NULL, PERM_NONE },
};
