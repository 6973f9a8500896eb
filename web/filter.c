/*
 * filter.c - a filter on the caller's contexts, read from the list's query
 * string or from a bulk action's filter object: the same keys (status as
 * one name or a comma list, type, batch_id, user_id, created_after,
 * created_before, q), always scoped to the caller's organization. The
 * dates and the cursor are checked by storage (listing.h), which names
 * them in its message.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

static const char *const filter_keys[] = { "status", "type", "batch_id", "user_id", "created_after",
	"created_before", "q", NULL };

/* The status bits of a comma list of names: 0, or the 400 answered. */
static int
filter_statuses(struct web_req *r, const char *list, const char *what, unsigned *bits)
{
	char name[32];
	const char *p = list;

	*bits = 0;
	while (*p) {
		size_t n = strcspn(p, ",");
		int s;

		if (n == 0 || n >= sizeof(name))
			return web_error(r, 400, "bad_request",
			    "%s 'status': '%.64s' is not a list of statuses", what, list);
		memcpy(name, p, n);
		name[n] = '\0';
		if ((s = ctx_status_from_name(name)) < 0)
			return web_error(r, 400, "bad_request",
			    "%s 'status': unknown status '%.32s' (pending, "
			    "processing, completed, failed, cancelled)", what, name);
		*bits |= 1u << s;
		p += n;
		if (*p == ',' && *++p == '\0')
			return web_error(r, 400, "bad_request",
			    "%s 'status': '%.64s' ends with a comma", what, list);
	}
	return 0;
}

/* The buffer of filter key i of f, and its size. */
static char *
filter_slot(struct web_filter *f, int i, size_t *size)
{
	char *slots[] = { NULL, f->type, f->batch_id, f->user_id, f->after, f->before, f->text };
	size_t sizes[] = { 0, sizeof(f->type), sizeof(f->batch_id), sizeof(f->user_id),
		sizeof(f->after), sizeof(f->before), sizeof(f->text) };

	*size = sizes[i];
	return slots[i];
}

/* Point f->q at the values set (empty ones are no filter). */
static void
filter_point(struct web_filter *f)
{
	f->q.type = f->type[0] ? f->type : NULL;
	f->q.batch_id = f->batch_id[0] ? f->batch_id : NULL;
	f->q.user_id = f->user_id[0] ? f->user_id : NULL;
	f->q.created_after = f->after[0] ? f->after : NULL;
	f->q.created_before = f->before[0] ? f->before : NULL;
	f->q.q = f->text[0] ? f->text : NULL;
	f->q.cursor = f->cursor[0] ? f->cursor : NULL;
}

static void
filter_init(struct web_req *r, struct web_filter *f)
{
	memset(f, 0, sizeof(*f));
	f->q.org = r->caller.org_id;
}

int
web_filter_query(struct web_req *r, struct web_filter *f)
{
	char status[256];
	int64_t limit;
	int rc;

	filter_init(r, f);
	if ((rc = web_query(r, "status", status, sizeof(status))) < 0)
		return 400;
	if (rc > 0 && status[0] && filter_statuses(r, status, "query parameter", &f->q.statuses))
		return r->status;
	f->keys += rc > 0 && status[0];
	for (int i = 1; filter_keys[i]; i++) {
		size_t size;
		char *slot = filter_slot(f, i, &size);

		if ((rc = web_query(r, filter_keys[i], slot, size)) < 0)
			return 400;
		f->keys += slot[0] != '\0';
	}
	if (web_query_int(r, "limit", 1, LIST_MAX_LIMIT, 50, &limit))
		return r->status;
	f->q.limit = (int)limit;
	if ((rc = web_query(r, "cursor", f->cursor, sizeof(f->cursor))) < 0)
		return 400;
	if (rc > 0 && f->cursor[0] == '\0')
		return web_error(r, 400, "bad_request", "query parameter 'cursor' is empty");
	filter_point(f);
	return 0;
}

/* The status member: a comma list or an array of names. */
static int
filter_json_status(struct web_req *r, const cJSON *v, struct web_filter *f)
{
	const cJSON *e;
	unsigned bits;

	if (cJSON_IsString(v))
		return v->valuestring[0] ?
		    filter_statuses(r, v->valuestring, "filter", &f->q.statuses) : 0;
	if (!cJSON_IsArray(v))
		return web_error(r, 400, "bad_request",
		    "filter 'status': expected a status or a list of them");
	cJSON_ArrayForEach(e, v) {
		if (!cJSON_IsString(e) || e->valuestring[0] == '\0' || strchr(e->valuestring, ','))
			return web_error(r, 400, "bad_request",
			    "filter 'status': expected status names");
		if (filter_statuses(r, e->valuestring, "filter", &bits))
			return r->status;
		f->q.statuses |= bits;
	}
	return 0;
}

int
web_filter_json(struct web_req *r, const cJSON *obj, struct web_filter *f)
{
	filter_init(r, f);
	if (obj == NULL || cJSON_IsNull(obj))
		return 0;
	if (!cJSON_IsObject(obj))
		return web_error(r, 400, "bad_request", "field 'filter': expected an object");
	for (const cJSON *m = obj->child; m; m = m->next) {
		int i;

		for (i = 0; filter_keys[i] && strcmp(filter_keys[i], m->string) != 0; i++)
			;
		if (filter_keys[i] == NULL)
			return web_error(r, 400, "bad_request",
			    "filter: unknown key '%.64s' (status, type, "
			    "batch_id, user_id, created_after, created_before, q)", m->string);
		if (i == 0) {
			if (filter_json_status(r, m, f))
				return r->status;
			f->keys += f->q.statuses != 0;
			continue;
		}
		{
			size_t size;
			char *slot = filter_slot(f, i, &size);

			if (!cJSON_IsString(m))
				return web_error(r, 400, "bad_request",
				    "filter '%s': expected a string", m->string);
			if (strlen(m->valuestring) >= size)
				return web_error(r, 400, "bad_request", "filter '%s' is too long",
				    m->string);
			snprintf(slot, size, "%s", m->valuestring);
			f->keys += slot[0] != '\0';
		}
	}
	filter_point(f);
	return 0;
}
