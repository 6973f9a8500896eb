/*
 * org.c - the caller's organization (with its day's usage and who is
 * calling) and the API keys: list (an admin sees the organization's, others
 * their own), create and revoke (admins).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/gbtime.h"
#include "../base/json.h"
#include "../storage/access.h"
#include "../storage/docs.h"
#include "apikeys.h"
#include "internal.h"

#define DAY_MS (86400 * 1000LL)

static cJSON *
perms_json(int write)
{
	cJSON *a = cJSON_CreateArray();

	cJSON_AddItemToArray(a, cJSON_CreateString("read"));
	if (write)
		cJSON_AddItemToArray(a, cJSON_CreateString("write"));
	return a;
}

static int
org_usage(struct web_req *r, cJSON *org)
{
	struct gb_err err = { 0, "" };
	int64_t now = gb_now_ms(), day = now - now % DAY_MS, n = 0, max;
	cJSON *u = cJSON_AddObjectToObject(org, "usage");
	char t[GB_TIME_LEN];

	if (store_ctx_count_created(r->st, r->caller.org_id, day, NULL, &n, &err))
		return web_store_error(r, &err);
	cJSON_AddNumberToObject(u, "contexts_today", (double)n);
	if (json_get_int64(cJSON_GetObjectItemCaseSensitive(org, "settings"),
	    "max_contexts_per_day", 0, INT64_MAX, -1, &max) == 0)
		cJSON_AddNumberToObject(u, "max_contexts_per_day", (double)max);
	else
		cJSON_AddNullToObject(u, "max_contexts_per_day");
	cJSON_AddStringToObject(u, "resets_at", gb_time_format(day + DAY_MS, t));
	return 0;
}

static int
org_get(struct web_req *r)
{
	cJSON *org, *c;

	if (web_get_org_doc(r, COLL_ORGANIZATIONS, r->caller.org_id, &org))
		return r->status;
	if (org_usage(r, org)) {
		cJSON_Delete(org);
		return r->status;
	}
	c = cJSON_AddObjectToObject(org, "caller");
	cJSON_AddStringToObject(c, "user_id", r->caller.user_id);
	cJSON_AddStringToObject(c, "key_id", r->caller.key_id);
	cJSON_AddItemToObject(c, "permissions", perms_json(r->caller.write));
	cJSON_AddBoolToObject(c, "admin", r->caller.admin);
	return web_send_json_take(r, 200, org);
}

static cJSON *
key_json(const struct store_apikey *k)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "key_id", k->key_id);
	cJSON_AddStringToObject(o, "name", k->name);
	cJSON_AddStringToObject(o, "user_id", k->user_id);
	cJSON_AddItemToObject(o, "permissions", perms_json(k->write));
	cJSON_AddItemToObject(o, "created_at", web_time_or_null(k->created_ms));
	cJSON_AddItemToObject(o, "last_used_at", web_time_or_null(k->last_used_ms));
	cJSON_AddItemToObject(o, "revoked_at", web_time_or_null(k->revoked_ms));
	return o;
}

static int
key_add(void *arg, const struct store_apikey *k)
{
	cJSON_AddItemToArray(arg, key_json(k));
	return 0;
}

static int
keys_list(struct web_req *r)
{
	struct gb_err err = { 0, "" };
	cJSON *out = cJSON_CreateObject(), *items = cJSON_AddArrayToObject(out, "items");

	if (store_apikey_each(r->st, r->caller.org_id, r->caller.admin ? NULL : r->caller.user_id,
	    key_add, items, &err)) {
		cJSON_Delete(out);
		return web_store_error(r, &err);
	}
	cJSON_AddNullToObject(out, "next_cursor");
	return web_send_json_take(r, 200, out);
}

/* The body of POST /keys: user_id, name, permissions; 0 or the 400/404 answered. */
static int
keys_body(struct web_req *r, const cJSON *b, char user[STORE_ID_MAX], const char **name, int *write)
{
	const cJSON *u = cJSON_GetObjectItemCaseSensitive(b, "user_id");
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(b, "name");
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(b, "permissions"), *e;
	cJSON *doc;
	int read = 0;

	for (const cJSON *f = b->child; f; f = f->next)
		if (strcmp(f->string, "user_id") && strcmp(f->string, "name") &&
		    strcmp(f->string, "permissions"))
			return web_error(r, 400, "bad_request",
			    "unknown field '%s' (user_id, name, permissions)", f->string);
	if (u &&
	    (!cJSON_IsString(u) || strlen(u->valuestring) >= STORE_ID_MAX || !u->valuestring[0]))
		return web_error(r, 400, "bad_request", "field 'user_id': expected a user's _id");
	if (n && (!cJSON_IsString(n) || strlen(n->valuestring) >= APIKEY_NAME_MAX))
		return web_error(r, 400, "bad_request",
		    "field 'name': expected a string of at most %d bytes", APIKEY_NAME_MAX - 1);
	*write = 0;
	if (p) {
		if (!cJSON_IsArray(p))
			return web_error(r, 400, "bad_request",
			    "field 'permissions': expected [\"read\"] or "
			    "[\"read\",\"write\"]");
		cJSON_ArrayForEach(e, p) {
			if (cJSON_IsString(e) && strcmp(e->valuestring, "read") == 0)
				read = 1;
			else if (cJSON_IsString(e) && strcmp(e->valuestring, "write") == 0)
				*write = 1;
			else
				return web_error(r, 400, "bad_request",
				    "field 'permissions': only \"read\" and "
				    "\"write\" are known");
		}
		if (!read)
			return web_error(r, 400, "bad_request",
			    "field 'permissions' must hold \"read\"");
	}
	*name = n ? n->valuestring : "";
	snprintf(user, STORE_ID_MAX, "%s", u ? u->valuestring : r->caller.user_id);
	if (web_get_org_doc(r, COLL_USERS, user, &doc))
		return r->status;
	cJSON_Delete(doc);
	return 0;
}

static int
keys_create(struct web_req *r)
{
	char user[STORE_ID_MAX], token[APIKEY_TOKEN_MAX];
	struct gb_err err = { 0, "" };
	struct store_apikey k;
	const char *name = "";
	cJSON *body, *out;
	int write = 0, rc;

	if (web_read_json(r, &body))
		return r->status;
	if (keys_body(r, body, user, &name, &write) == 0) {
		if ((rc = apikey_new(r->st, user, write, name, gb_now_ms(), token, &k, &err))) {
			web_store_error(r, &err);
		} else {
			snprintf(r->object, sizeof(r->object), "%s", k.key_id);
			out = key_json(&k);
			cJSON_AddStringToObject(out, "token", token);
			web_send_json_take(r, 201, out);
			memset(token, 0, sizeof(token));
		}
	}
	cJSON_Delete(body);
	return r->status;
}

static int
keys_revoke(struct web_req *r)
{
	struct gb_err err = { 0, "" };
	int rc;

	if ((rc = store_apikey_revoke(r->st, r->params[0], r->caller.org_id, gb_now_ms(), &err))) {
		if (rc == GB_ENOTFOUND)
			return web_error(r, 404, "not_found", "no such API key '%s'", r->params[0]);
		return web_store_error(r, &err);
	}
	return web_send(r, 204, NULL, NULL, 0);
}

const struct web_route web_routes_org[] = {
	{ "GET", API "/organization", org_get, PERM_READ },
	{ "GET", API "/keys", keys_list, PERM_READ },
	{ "POST", API "/keys", keys_create, PERM_ADMIN },
	{ "DELETE", API "/keys/{key_id}", keys_revoke, PERM_ADMIN },
	{ NULL, NULL, NULL, PERM_NONE },
};
