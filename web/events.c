/*
 * events.c - GET /events: a text/event-stream for the UI. Every second the
 * handler builds the organization's view (counts per status, its 20 most
 * recent batches with their summaries) and sends it as one `event: update`
 * when it differs from the last one sent; a `: ping` comment every 15 s
 * keeps proxies from closing the stream. It ends when the client goes or
 * the server stops. Each stream holds one civetweb thread while it lasts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../base/gbtime.h"
#include "../storage/access.h"
#include "../storage/docs.h"
#include "internal.h"

#define EVENTS_TICK_MS 1000
#define EVENTS_PING_MS 15000
#define EVENTS_BATCHES 20

struct recent {
	cJSON *batches[EVENTS_BATCHES];	/* newest first */
	int n;
};

/* Keep the EVENTS_BATCHES newest batches seen (by created_at, then _id). */
static int
recent_add(void *arg, const char *doc, size_t len)
{
	struct recent *rc = arg;
	cJSON *d = cJSON_ParseWithLength(doc, len), *o;
	int at;

	if (d == NULL)
		return 0;
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "_id", json_str_or(d, "_id"));
	cJSON_AddStringToObject(o, "status", json_str_or(d, "status"));
	cJSON_AddStringToObject(o, "created_at", json_str_or(d, "created_at"));
	cJSON_Delete(d);
	for (at = rc->n; at > 0; at--) {
		const char *c = json_str_or(rc->batches[at - 1], "created_at");

		if (strcmp(c, json_str_or(o, "created_at")) >= 0)
			break;
	}
	if (at >= EVENTS_BATCHES) {
		cJSON_Delete(o);
		return 0;
	}
	if (rc->n == EVENTS_BATCHES)
		cJSON_Delete(rc->batches[--rc->n]);
	memmove(&rc->batches[at + 1], &rc->batches[at], (size_t)(rc->n - at) * sizeof(cJSON *));
	rc->batches[at] = o;
	rc->n++;
	return 0;
}

static cJSON *
counts_json(const int64_t counts[CTX_STATUS_COUNT])
{
	cJSON *c = cJSON_CreateObject();

	for (int s = 0; s < CTX_STATUS_COUNT; s++)
		cJSON_AddNumberToObject(c, ctx_status_name((enum ctx_status)s), (double)counts[s]);
	return c;
}

/* The organization's recent batches, each with its summary, into arr. */
static int
events_batches(struct web_req *r, cJSON *arr, struct gb_err *err)
{
	struct recent rc = { { NULL }, 0 };
	cJSON *f = cJSON_CreateObject();
	char *filter;
	int ret;

	cJSON_AddStringToObject(f, "organization_id", r->caller.org_id);
	filter = cJSON_PrintUnformatted(f);
	cJSON_Delete(f);
	if (filter == NULL)
		return gb_errf(err, GB_ENOMEM, "out of memory");
	ret = store_each(r->st, COLL_BATCHES, filter, 0, recent_add, &rc, err);
	free(filter);
	for (int i = 0; i < rc.n; i++) {
		int64_t sc[CTX_STATUS_COUNT] = { 0 }, total = 0;
		cJSON *b = rc.batches[i], *s;

		cJSON_DeleteItemFromObjectCaseSensitive(b, "created_at");
		if (ret == 0 && (ret = store_batch_summary(r->st, json_str_or(b, "_id"), sc, err)) == 0) {
			s = counts_json(sc);
			for (int k = 0; k < CTX_STATUS_COUNT; k++)
				total += sc[k];
			cJSON_AddNumberToObject(s, "total", (double)total);
			cJSON_AddItemToObject(b, "summary", s);
			cJSON_AddBoolToObject(b, "paused", 0);
		}
		cJSON_AddItemToArray(arr, b);	/* taken: deleted with the view */
	}
	return ret;
}

/* The view without seq, as text (caller frees); NULL on error. */
static char *
events_view(struct web_req *r)
{
	int64_t counts[CTX_STATUS_COUNT];
	struct gb_err err = { 0, "" };
	char *text = NULL;
	cJSON *v;

	if (store_ctx_status_counts(r->st, counts, &err) || (v = cJSON_CreateObject()) == NULL)
		return NULL;
	cJSON_AddItemToObject(v, "counts", counts_json(counts));
	if (events_batches(r, cJSON_AddArrayToObject(v, "batches"), &err) == 0)
		text = cJSON_PrintUnformatted(v);
	cJSON_Delete(v);
	return text;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int
events_send(struct web_req *r, const char *view, int64_t seq)
{
	size_t len = strlen(view);
	char head[] = "event: update\ndata: ", tail[48];
	int n;

	/* the view is an object: seq goes in before its closing brace */
	n = snprintf(tail, sizeof(tail), ",\"seq\":%lld}\n\n", (long long)seq);
	if (mg_write(r->conn, head, sizeof(head) - 1) <= 0 || mg_write(r->conn, view, len - 1) <= 0 ||
	    mg_write(r->conn, tail, (size_t)n) <= 0)
		return -1;
	return 0;
}

/* Whether the database changed since *stamp (always on the first call); *stamp moves on. */
static int
events_moved(struct web_req *r, uint64_t *stamp, int *first)
{
	struct gb_err err = { 0, "" };
	uint64_t v = 0;
	int moved;

	if (store_data_version(r->st, &v, &err))
		return 1;	/* cannot tell: look */
	moved = *first || v != *stamp;
	*stamp = v;
	*first = 0;
	return moved;
}

static int
events_get(struct web_req *r)
{
	int64_t last_tick = 0, last_ping = gb_mono_ms(), seq = 0;
	uint64_t stamp = 0;
	char *last = NULL;
	int first = 1;

	web_send_head(r, 200, "text/event-stream");
	while (!atomic_load(&r->web->stopping)) {
		int64_t now = gb_mono_ms();

		if (now - last_tick >= EVENTS_TICK_MS && (last_tick = now) && events_moved(r, &stamp, &first)) {
			char *view = events_view(r);

			if (view && (last == NULL || strcmp(view, last) != 0)) {
				free(last);
				last = view;
				if (events_send(r, view, ++seq))
					break;
				last_ping = now;
			} else {
				free(view);
			}
		}
		if (now - last_ping >= EVENTS_PING_MS) {
			last_ping = now;
			if (mg_write(r->conn, ": ping\n\n", 8) <= 0)
				break;
		}
		sleep_ms(100);
	}
	free(last);
	return r->status;
}

const struct web_route web_routes_events[] = {
	{ "GET", API "/events", events_get, PERM_READ },
	{ NULL, NULL, NULL, PERM_NONE },
};
