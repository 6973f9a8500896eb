/*
 * bulk.c - retry or cancel every context of the caller's organization that
 * a filter matches (admins only): {"filter": {...the list's keys...},
 * "dry_run": bool, "all": bool} -> {"matched": n, "changed": n}. An empty
 * filter must say "all": true, so a forgotten filter never touches
 * everything. Storage works through the matches a few hundred per
 * transaction (listing.h).
 */
#include <stdio.h>
#include <string.h>

#include "../base/gbtime.h"
#include "internal.h"

/* A bool member of body (absent: 0): 0, or the 400 answered. */
static int
bulk_bool(struct web_req *r, const cJSON *body, const char *name, int *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, name);

	*out = 0;
	if (v == NULL)
		return 0;
	if (!cJSON_IsBool(v))
		return web_error(r, 400, "bad_request", "field '%s': expected true or false", name);
	*out = cJSON_IsTrue(v);
	return 0;
}

static int
bulk_run(struct web_req *r, const cJSON *body, enum ctx_bulk_action action)
{
	static const char *const fields[] = { "filter", "dry_run", "all", NULL };
	struct gb_err err = { 0, "" };
	int64_t matched = 0, changed = 0;
	struct web_filter f;
	int dry, all;
	cJSON *out;

	if (web_only_fields(r, body, fields) || bulk_bool(r, body, "dry_run", &dry) ||
	    bulk_bool(r, body, "all", &all) ||
	    web_filter_json(r, cJSON_GetObjectItemCaseSensitive(body, "filter"), &f))
		return r->status;
	if (f.keys == 0 && !all)
		return web_error(r, 400, "bad_request",
		    "an empty filter matches every context: say "
		    "\"all\": true to mean that");
	if (store_ctx_bulk(r->st, &f.q, action, dry, gb_now_ms(), &matched, &changed, &err))
		return web_store_error(r, &err);
	if (!dry)
		web_count_transitions(r, action == BULK_RETRY, changed);
	out = cJSON_CreateObject();
	cJSON_AddNumberToObject(out, "matched", (double)matched);
	cJSON_AddNumberToObject(out, "changed", (double)changed);
	snprintf(r->object, sizeof(r->object), "%s:%lld", dry ? "dry_run" : "changed",
	    (long long)changed);
	return web_send_json_take(r, 200, out);
}

static int
bulk_action(struct web_req *r, enum ctx_bulk_action action)
{
	cJSON *body;

	if (web_read_json(r, &body))
		return r->status;
	bulk_run(r, body, action);
	cJSON_Delete(body);
	return r->status;
}

static int
bulk_retry(struct web_req *r)
{
	return bulk_action(r, BULK_RETRY);
}

static int
bulk_cancel(struct web_req *r)
{
	return bulk_action(r, BULK_CANCEL);
}

const struct web_route web_routes_bulk[] = {
	{ "POST", API "/contexts/retry", bulk_retry, PERM_ADMIN },
	{ "POST", API "/contexts/cancel", bulk_cancel, PERM_ADMIN },
	{ NULL, NULL, NULL, PERM_NONE },
};
