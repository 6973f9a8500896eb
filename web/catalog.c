/*
 * catalog.c - templates, components and pipelines: list (by _id, with a
 * cursor) and get for every key; create, replace and delete for admins.
 * organization_id is always the caller's, updated_at is set on every write,
 * and storage bumps the catalog generation so the engine sees the change.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/gbtime.h"
#include "../storage/docs.h"
#include "internal.h"

/* The collection a catalog route serves, from its pattern. */
static enum coll
cat_coll(const struct web_req *r)
{
	const char *p = r->route->pattern + strlen(API "/");

	if (strncmp(p, "templates", 9) == 0)
		return COLL_TEMPLATES;
	if (strncmp(p, "components", 10) == 0)
		return COLL_COMPONENTS;
	return COLL_PIPELINES;
}

struct cat_page {
	cJSON *items;
	int64_t limit, n;
	char last[STORE_ID_MAX];
	int more;
};

static int
cat_page_add(void *arg, const char *doc, size_t len)
{
	struct cat_page *pg = arg;
	cJSON *d;

	if (pg->n == pg->limit) {
		pg->more = 1;
		return 1;	/* one more than the page: there is a next one */
	}
	if ((d = cJSON_ParseWithLength(doc, len)) == NULL)
		return GB_EIO;
	snprintf(pg->last, sizeof(pg->last), "%s", json_str_or(d, "_id"));
	cJSON_AddItemToArray(pg->items, d);
	pg->n++;
	return 0;
}

static char *
cat_filter(const struct web_req *r, const char *after)
{
	cJSON *f = cJSON_CreateObject(), *gt;
	char *text = NULL;

	if (f && cJSON_AddStringToObject(f, "organization_id", r->caller.org_id)) {
		if (after[0] == '\0' || ((gt = cJSON_AddObjectToObject(f, "_id")) &&
		    cJSON_AddStringToObject(gt, "$gt", after)))
			text = cJSON_PrintUnformatted(f);
	}
	cJSON_Delete(f);
	return text;
}

static int
cat_list(struct web_req *r)
{
	struct gb_err err = { 0, "" };
	struct cat_page pg;
	char after[STORE_ID_MAX], cur[2 * STORE_ID_MAX + 2], *filter;
	cJSON *out;
	int rc;

	memset(&pg, 0, sizeof(pg));
	if (web_page(r, &pg.limit, after))
		return r->status;
	if ((filter = cat_filter(r, after)) == NULL || (out = cJSON_CreateObject()) == NULL) {
		free(filter);
		return web_error(r, 500, "internal", "out of memory");
	}
	pg.items = cJSON_AddArrayToObject(out, "items");
	rc = store_each(r->st, cat_coll(r), filter, 0, cat_page_add, &pg, &err);
	free(filter);
	if (rc < 0) {
		cJSON_Delete(out);
		return err.code ? web_store_error(r, &err) :
		    web_error(r, 500, "internal", "bad stored document");
	}
	web_cursor(pg.last, cur, sizeof(cur));
	if (pg.more)
		cJSON_AddStringToObject(out, "next_cursor", cur);
	else
		cJSON_AddNullToObject(out, "next_cursor");
	return web_send_json_take(r, 200, out);
}

static int
cat_get(struct web_req *r)
{
	cJSON *doc;

	if (web_get_org_doc(r, cat_coll(r), r->params[0], &doc))
		return r->status;
	return web_send_json_take(r, 200, doc);
}

/*
 * body with organization_id and updated_at forced (and _id when id is set),
 * stored by mode; the stored _id into out_id. Answers nothing.
 */
static int
cat_store(struct web_req *r, cJSON *body, const char *id, enum store_put_mode mode,
    char out_id[STORE_ID_MAX], struct gb_err *err)
{
	char now[GB_TIME_LEN], *text;
	int rc;

	cJSON_DeleteItemFromObjectCaseSensitive(body, "organization_id");
	cJSON_DeleteItemFromObjectCaseSensitive(body, "updated_at");
	cJSON_AddStringToObject(body, "organization_id", r->caller.org_id);
	cJSON_AddStringToObject(body, "updated_at", gb_time_format(gb_now_ms(), now));
	if (id) {
		cJSON_DeleteItemFromObjectCaseSensitive(body, "_id");
		cJSON_AddStringToObject(body, "_id", id);
	}
	if ((text = cJSON_PrintUnformatted(body)) == NULL)
		return gb_errf(err, GB_ENOMEM, "out of memory");
	rc = store_put(r->st, cat_coll(r), text, strlen(text), mode, out_id, err);
	free(text);
	return rc;
}

/* The answer to a write that stored id: the document as stored. */
static int
cat_written(struct web_req *r, const char *id, int status)
{
	cJSON *doc;

	snprintf(r->object, sizeof(r->object), "%s", id);
	if (web_get_org_doc(r, cat_coll(r), id, &doc))
		return r->status;
	return web_send_json_take(r, status, doc);
}

/*
 * The document id of the caller's organization, inside the caller's
 * transaction: 0 and *doc (caller deletes), or GB_ENOTFOUND for a missing
 * document and another organization's alike (the same message as a read's).
 */
static int
cat_owned(struct web_req *r, const char *id, cJSON **doc, struct gb_err *err)
{
	enum coll c = cat_coll(r);
	char *text = NULL;
	int rc;

	*doc = NULL;
	if ((rc = store_get(r->st, c, id, &text, err)) && rc != GB_ENOTFOUND)
		return rc;
	if (rc == 0 && (*doc = cJSON_Parse(text)) == NULL) {
		free(text);
		return gb_errf(err, GB_EIO, "stored document '%s' is not JSON", id);
	}
	free(text);
	if (rc == 0 && strcmp(json_str_or(*doc, "organization_id"), r->caller.org_id) == 0)
		return 0;
	cJSON_Delete(*doc);
	*doc = NULL;
	gb_err_clear(err);
	return gb_errf(err, GB_ENOTFOUND, "no such document '%s' in %s", id, coll_name(c));
}

static int
cat_create(struct web_req *r)
{
	struct gb_err err = { 0, "" };
	char out_id[STORE_ID_MAX];
	cJSON *body, *id;

	if (web_read_json(r, &body))
		return r->status;
	id = cJSON_GetObjectItemCaseSensitive(body, "_id");
	if (id && !cJSON_IsString(id))
		web_error(r, 400, "bad_request", "field '_id': expected a string");
	else if (cat_store(r, body, NULL, STORE_INSERT, out_id, &err))
		web_store_error(r, &err);
	else
		cat_written(r, out_id, 201);
	cJSON_Delete(body);
	return r->status;
}

/*
 * The replacement of id, checked to be the caller's and written in one
 * transaction: no other writer moves it to another organization between.
 */
static int
cat_replace_tx(struct web_req *r, cJSON *body, struct gb_err *err)
{
	char out_id[STORE_ID_MAX];
	cJSON *doc;
	int rc;

	if ((rc = store_begin(r->st, err)))
		return rc;
	if ((rc = cat_owned(r, r->params[0], &doc, err)) == 0) {
		/* a replacement keeps the document's creation time unless it gives one */
		const cJSON *made = cJSON_GetObjectItemCaseSensitive(doc, "created_at");

		if (!cJSON_HasObjectItem(body, "created_at") && made)
			cJSON_AddItemToObject(body, "created_at", cJSON_Duplicate(made, 1));
		cJSON_Delete(doc);
		rc = cat_store(r, body, r->params[0], STORE_REPLACE, out_id, err);
	}
	if (rc == 0)
		return store_commit(r->st, err);
	store_rollback(r->st);
	return rc;
}

static int
cat_replace(struct web_req *r)
{
	struct gb_err err = { 0, "" };
	cJSON *body, *id;

	if (web_read_json(r, &body))
		return r->status;
	id = cJSON_GetObjectItemCaseSensitive(body, "_id");
	if (id && (!cJSON_IsString(id) || strcmp(id->valuestring, r->params[0]) != 0))
		web_error(r, 400, "bad_request", "field '_id' must be '%s' or absent",
		    r->params[0]);
	else if (cat_replace_tx(r, body, &err))
		web_store_error(r, &err);
	else
		cat_written(r, r->params[0], 200);
	cJSON_Delete(body);
	return r->status;
}

static int
cat_delete(struct web_req *r)
{
	struct gb_err err = { 0, "" };
	cJSON *doc = NULL;
	int rc;

	if ((rc = store_begin(r->st, &err)) == 0) {
		if ((rc = cat_owned(r, r->params[0], &doc, &err)) == 0)
			rc = store_delete(r->st, cat_coll(r), r->params[0], &err);
		cJSON_Delete(doc);
		if (rc == 0)
			rc = store_commit(r->st, &err);
		else
			store_rollback(r->st);
	}
	if (rc)
		return web_store_error(r, &err);
	return web_send(r, 204, NULL, NULL, 0);
}

#define CATALOG_ROUTES(c) \
	{ "GET", API "/" c, cat_list, PERM_READ }, \
	{ "POST", API "/" c, cat_create, PERM_ADMIN }, \
	{ "GET", API "/" c "/{id}", cat_get, PERM_READ }, \
	{ "PUT", API "/" c "/{id}", cat_replace, PERM_ADMIN }, \
	{ "DELETE", API "/" c "/{id}", cat_delete, PERM_ADMIN }

const struct web_route web_routes_catalog[] = {
	CATALOG_ROUTES("templates"),
	CATALOG_ROUTES("components"),
	CATALOG_ROUTES("pipelines"),
	{ NULL, NULL, NULL, PERM_NONE },
};
