/*
 * common.c - what several route groups use: organization-scoped reads,
 * context summaries, pages and cursors, worker counts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/gbtime.h"
#include "../base/json.h"
#include "../storage/access.h"
#include "../storage/docs.h"
#include "../storage/heartbeat.h"
#include "internal.h"

const char *
json_str_or(const cJSON *o, const char *key)
{
	const char *s = json_get_str(o, key);

	return s ? s : "";
}

/* The same answer for a missing object and another organization's. */
static int
not_found(struct web_req *r, enum coll c, const char *id)
{
	return web_error(r, 404, "not_found", "no such document '%s' in %s", id, coll_name(c));
}

/* The document and, when text is not NULL, its stored text (caller frees both). */
static int
get_org(struct web_req *r, enum coll c, const char *id, cJSON **out, char **text_out)
{
	struct gb_err err = { 0, "" };
	char *text = NULL;
	cJSON *doc;
	int rc;

	*out = NULL;
	if ((rc = store_get(r->st, c, id, &text, &err)))
		return rc == GB_ENOTFOUND ? not_found(r, c, id) : web_store_error(r, &err);
	if ((doc = cJSON_Parse(text)) == NULL) {
		free(text);
		return web_error(r, 500, "internal", "stored document '%s' is not JSON", id);
	}
	if (strcmp(json_str_or(doc, c == COLL_ORGANIZATIONS ? "_id" : "organization_id"),
	    r->caller.org_id) != 0) {
		cJSON_Delete(doc);
		free(text);
		return not_found(r, c, id);
	}
	if (text_out)
		*text_out = text;
	else
		free(text);
	*out = doc;
	return 0;
}

int
web_get_org_doc(struct web_req *r, enum coll c, const char *id, cJSON **out)
{
	return get_org(r, c, id, out, NULL);
}

int
web_send_org_doc(struct web_req *r, int status, enum coll c, const char *id)
{
	char *text = NULL;
	cJSON *doc;

	if (get_org(r, c, id, &doc, &text))
		return r->status;
	cJSON_Delete(doc);
	web_send(r, status, "application/json", text, strlen(text));
	free(text);
	return r->status;
}

cJSON *
web_time_or_null(int64_t ms)
{
	char t[GB_TIME_LEN];

	return ms ? cJSON_CreateString(gb_time_format(ms, t)) : cJSON_CreateNull();
}

static void
copy_member(cJSON *to, const cJSON *from, const char *key, const char *as)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(from, key);

	cJSON_AddItemToObject(to, as ? as : key, v ? cJSON_Duplicate(v, 1) : cJSON_CreateNull());
}

cJSON *
web_ctx_summary(const cJSON *doc)
{
	static const char *const keys[] = { "_id", "type", "status", "batch_id", "user_id" };
	cJSON *s = cJSON_CreateObject();
	const cJSON *err;

	if (s == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		copy_member(s, doc, keys[i], NULL);
	copy_member(s, cJSON_GetObjectItemCaseSensitive(doc, "data"), "title", NULL);
	copy_member(s, doc, "created_at", NULL);
	copy_member(s, doc, "updated_at", NULL);
	copy_member(s, doc, "retry_count", NULL);
	err = cJSON_GetObjectItemCaseSensitive(doc, "error");
	if (cJSON_IsString(err))
		cJSON_AddStringToObject(s, "error", err->valuestring);
	else if (cJSON_IsObject(err) && json_get_str(err, "message"))
		cJSON_AddStringToObject(s, "error", json_get_str(err, "message"));
	else
		cJSON_AddNullToObject(s, "error");
	return s;
}

void
web_cursor(const char *id, char *out, size_t size)
{
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)id; *p && o + 3 <= size; p++, o += 2)
		snprintf(out + o, 3, "%02x", *p);
	out[o < size ? o : size - 1] = '\0';
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int
web_page(struct web_req *r, int64_t *limit, char after[STORE_ID_MAX])
{
	char cur[2 * STORE_ID_MAX + 2];
	size_t n;
	int rc;

	after[0] = '\0';
	if ((rc = web_query_int(r, "limit", 1, 200, 50, limit)))
		return rc;
	if ((rc = web_query(r, "cursor", cur, sizeof(cur))) < 0)
		return 400;
	if (rc == 0)
		return 0;
	n = strlen(cur);
	if (n == 0 || n % 2 || n / 2 >= STORE_ID_MAX)
		return web_error(r, 400, "bad_request",
		    "query parameter 'cursor' is not a cursor of this list");
	for (size_t i = 0; i < n; i += 2) {
		int hi = hexval(cur[i]), lo = hexval(cur[i + 1]);

		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
			return web_error(r, 400, "bad_request",
			    "query parameter 'cursor' is not a cursor of this list");
		after[i / 2] = (char)(hi * 16 + lo);
	}
	after[n / 2] = '\0';
	return 0;
}

int
web_workers_count(struct web_req *r, const char *org, int *alive, int64_t *pending,
    struct gb_err *err)
{
	struct store_heartbeat *hb = calloc(POOL_HB_MAX, sizeof(*hb));
	int64_t counts[CTX_STATUS_COUNT];
	int rc;

	if (hb == NULL)
		return gb_errf(err, GB_ENOMEM, "out of memory");
	rc = store_heartbeat_list(r->st, gb_now_ms(), hb, POOL_HB_MAX, alive, err);
	free(hb);
	if (rc == 0 && (rc = store_ctx_org_counts(r->st, org, counts, err)) == 0)
		*pending = counts[CTX_PENDING];
	return rc;
}
