/*
 * contexts.c - the contexts route group: one context, and its cancel. The
 * list, create, bulk, retry and timeline routes join this table.
 */
#include <string.h>

#include "../base/gbtime.h"
#include "../storage/queue.h"
#include "internal.h"

static int
ctx_get(struct web_req *r)
{
	cJSON *doc;

	if (web_get_org_doc(r, COLL_CONTEXTS, r->params[0], &doc))
		return r->status;
	return web_send_json_take(r, 200, doc);
}

static int
ctx_cancel(struct web_req *r)
{
	struct gb_err err = { 0, "" };
	cJSON *doc;
	int rc;

	if (web_get_org_doc(r, COLL_CONTEXTS, r->params[0], &doc))
		return r->status;
	cJSON_Delete(doc);
	if ((rc = store_ctx_cancel(r->st, r->params[0], gb_now_ms(), &err))) {
		if (rc == GB_ESTATE)
			return web_error(r, 409, "conflict", "context '%s' has already ended", r->params[0]);
		return web_store_error(r, &err);
	}
	snprintf(r->object, sizeof(r->object), "%s", r->params[0]);
	if (web_get_org_doc(r, COLL_CONTEXTS, r->params[0], &doc))
		return r->status;
	return web_send_json_take(r, 200, doc);
}

const struct web_route web_routes_contexts[] = {
	{ "GET", API "/contexts/{id}", ctx_get, PERM_READ },
	{ "POST", API "/contexts/{id}/cancel", ctx_cancel, PERM_WRITE },
	{ NULL, NULL, NULL, PERM_NONE },
};
