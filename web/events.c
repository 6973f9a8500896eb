/*
 * events.c - GET /events: a text/event-stream for the UI. Every second the
 * handler builds the organization's view (counts per status from the
 * counter rows, its 20 most recent batches with their summaries and paused)
 * and sends it as one `event: update` when it differs from the last one
 * sent; the first goes at once. Each event leaves in one write on a
 * TCP_NODELAY socket, so it is on the wire as soon as it is written;
 * request_timeout_ms bounds only the request's arrival and each write, never
 * the stream's life. A `: ping` comment every 15 s keeps proxies from
 * closing it. It ends when the client goes or the server stops. Each stream
 * holds one civetweb thread while it lasts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../base/gbtime.h"
#include "internal.h"

#define EVENTS_TICK_MS 1000
#define EVENTS_PING_MS 15000
#define EVENTS_BATCHES 20

struct view_batches {
	struct web_req *r;
	cJSON *arr;
	struct gb_err err;
};

static int
events_batch_add(void *arg, const char *text, size_t len, int paused)
{
	struct view_batches *vb = arg;
	cJSON *d = cJSON_ParseWithLength(text, len), *o, *s;

	if (d == NULL)
		return gb_errf(&vb->err, GB_EIO, "a stored batch is not JSON");
	s = web_batch_summary(vb->r, json_str_or(d, "_id"), &vb->err);
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "_id", json_str_or(d, "_id"));
	cJSON_AddStringToObject(o, "status", json_str_or(d, "status"));
	cJSON_Delete(d);
	if (s == NULL) {
		cJSON_Delete(o);
		return vb->err.code ? vb->err.code : GB_ENOMEM;
	}
	cJSON_AddItemToObject(o, "summary", s);
	cJSON_AddBoolToObject(o, "paused", paused);
	cJSON_AddItemToArray(vb->arr, o);
	return 0;
}

/* The organization's EVENTS_BATCHES newest batches, each with its summary and paused, into arr. */
static int
events_batches(struct web_req *r, cJSON *arr, struct gb_err *err)
{
	struct view_batches vb = { r, arr, { 0, "" } };
	char next[LIST_CURSOR_MAX];
	int rc;

	if ((rc = store_batch_list(r->st, r->caller.org_id, NULL, EVENTS_BATCHES, NULL, events_batch_add,
	    &vb, next, &vb.err)))
		*err = vb.err;
	return rc;
}

/* The view without seq, as text (caller frees); NULL on error. */
static char *
events_view(struct web_req *r)
{
	int64_t counts[CTX_STATUS_COUNT];
	struct gb_err err = { 0, "" };
	char *text = NULL;
	cJSON *v;

	if (store_ctx_org_counts(r->st, r->caller.org_id, counts, &err) ||
	    (v = cJSON_CreateObject()) == NULL)
		return NULL;
	cJSON_AddItemToObject(v, "counts", web_counts_json(counts));
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

/* One event, written at once (one write, so it leaves as one piece). */
static int
events_send(struct web_req *r, const char *view, int64_t seq)
{
	size_t len = strlen(view);
	struct buf b;
	int rc;

	/* the view is an object: seq goes in before its closing brace */
	buf_init(&b, len + 128);
	rc = buf_puts(&b, "event: update\ndata: ") || buf_append(&b, view, len - 1) ||
	    buf_printf(&b, ",\"seq\":%lld}\n\n", (long long)seq) ||
	    mg_write(r->conn, buf_str(&b), b.len) <= 0 ? -1 : 0;
	buf_release(&b);
	return rc;
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
