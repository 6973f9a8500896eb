/*
 * dashboard.c - GET /dashboard: the caller's organization at a glance.
 * Counts per status and throughput per minute come from the counter rows
 * triggers keep (listing.h), never from a scan of contexts, so the page
 * costs the same at a million contexts as at ten.
 */
#include <stdio.h>

#include "../base/gbtime.h"
#include "internal.h"

#define DASHBOARD_MINUTES 60

static cJSON *
dashboard_throughput(const struct ctx_minute *m, int n)
{
	cJSON *arr = cJSON_CreateArray();
	char t[GB_TIME_LEN];

	for (int i = 0; i < n; i++) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "minute", gb_time_format(m[i].minute_ms, t));
		cJSON_AddNumberToObject(o, "completed", (double)m[i].completed);
		cJSON_AddNumberToObject(o, "failed", (double)m[i].failed);
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

static int
dashboard_get(struct web_req *r)
{
	struct ctx_minute m[DASHBOARD_MINUTES];
	int64_t counts[CTX_STATUS_COUNT], pending = 0;
	struct gb_err err = { 0, "" };
	cJSON *out, *o;
	int alive = 0;

	if (store_ctx_org_counts(r->st, r->caller.org_id, counts, &err) ||
	    store_ctx_throughput(r->st, r->caller.org_id, gb_now_ms(), DASHBOARD_MINUTES, m,
	    &err) ||
	    web_workers_count(r, r->caller.org_id, &alive, &pending, &err))
		return web_store_error(r, &err);
	out = cJSON_CreateObject();
	cJSON_AddItemToObject(out, "counts", web_counts_json(counts));
	cJSON_AddItemToObject(out, "throughput", dashboard_throughput(m, DASHBOARD_MINUTES));
	o = cJSON_AddObjectToObject(out, "workers");
	cJSON_AddNumberToObject(o, "alive", alive);
	if (pending > 0 && alive == 0)
		cJSON_AddStringToObject(o, "warning", WEB_NO_WORKER_WARNING);
	else
		cJSON_AddNullToObject(o, "warning");
	if ((o = web_sync_json(r, &err)) == NULL) {
		cJSON_Delete(out);
		return web_store_error(r, &err);
	}
	cJSON_AddItemToObject(out, "sync", o);
	if ((o = web_jobs_json(r, &err)) == NULL) {
		cJSON_Delete(out);
		return web_store_error(r, &err);
	}
	cJSON_AddItemToObject(out, "jobs", cJSON_DetachItemFromObject(o, "jobs"));
	cJSON_AddItemToObject(out, "database", cJSON_DetachItemFromObject(o, "database"));
	cJSON_Delete(o);
	return web_send_json_take(r, 200, out);
}

const struct web_route web_routes_dashboard[] = {
	{ "GET", API "/dashboard", dashboard_get, PERM_READ },
	{ NULL, NULL, NULL, PERM_NONE },
};
