/*
 * events.c - GET /events: a text/event-stream for the UI. Every second the
 * handler builds the organization's view (counts per status from the
 * counter rows, its 20 most recent batches with their summaries and paused)
 * and sends it as one `event: update` when it differs from the last one
 * sent; the first goes at once. Each event leaves in one write on a
 * TCP_NODELAY socket, so it is on the wire as soon as it is written;
 * request_timeout_ms bounds only the request's arrival and each write, never
 * the stream's life. A `: ping` comment every 15 s keeps proxies from
 * closing it. It ends when the client goes, the server stops, or after
 * [web] stream_max_ms (the UI reconnects). Each stream holds one civetweb
 * thread while it lasts, so a server holds at most max_streams of them (a
 * quarter of its threads by default) and a key at most max_streams_per_key:
 * past that, 503 with Retry-After. The open streams are the gauge
 * genbox_http_event_streams. HEAD answers the stream's headers only.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../base/gbtime.h"
#include "internal.h"

#define EVENTS_TICK_MS 1000
#define EVENTS_PING_MS 15000
#define EVENTS_BATCHES 20
#define EVENTS_RETRY_AFTER 5		/* seconds a refused stream is told to wait */

/*
 * The open streams of every server in the process, one slot per (server,
 * key) with a count; a server has at most WEB_MAX_THREADS streams open.
 */
struct stream_slot {
	const struct web *w;
	char key_id[APIKEY_ID_MAX];
	int n;
};

static pthread_mutex_t streams_mu = PTHREAD_MUTEX_INITIALIZER;
static struct stream_slot streams[WEB_MAX_THREADS];

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

	if ((rc = store_batch_list(r->st, r->caller.org_id, NULL, EVENTS_BATCHES, NULL,
	    events_batch_add, &vb, next, &vb.err)))
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

/* The most streams w holds at once: its setting, or a quarter of its threads (at least 1). */
static int
streams_max(const struct web *w)
{
	int max = w->cfg.max_streams > 0 ? w->cfg.max_streams : w->cfg.threads / 4;

	return max < 1 ? 1 : max;
}

/*
 * Take a stream for r's key: 0, or 1 when the server or the key holds all it
 * may (why says which).
 */
static int
streams_take(struct web_req *r, const char **why)
{
	struct stream_slot *mine = NULL, *free_slot = NULL;
	int total = 0, rc = 1;

	pthread_mutex_lock(&streams_mu);
	for (size_t i = 0; i < WEB_MAX_THREADS; i++) {
		struct stream_slot *s = &streams[i];

		if (s->n == 0) {
			if (free_slot == NULL)
				free_slot = s;
		} else if (s->w == r->web) {
			total += s->n;
			if (strcmp(s->key_id, r->caller.key_id) == 0)
				mine = s;
		}
	}
	if (total >= streams_max(r->web)) {
		*why = "the server holds as many event streams as it may";
	} else if (mine && mine->n >= r->web->cfg.max_streams_per_key) {
		*why = "this key holds as many event streams as it may";
	} else if (mine || (mine = free_slot) != NULL) {
		if (mine->n == 0) {
			mine->w = r->web;
			snprintf(mine->key_id, sizeof(mine->key_id), "%s", r->caller.key_id);
		}
		mine->n++;
		rc = 0;
	} else {
		*why = "the server holds as many event streams as it may";
	}
	pthread_mutex_unlock(&streams_mu);
	return rc;
}

static void
streams_give(struct web_req *r)
{
	pthread_mutex_lock(&streams_mu);
	for (size_t i = 0; i < WEB_MAX_THREADS; i++)
		if (streams[i].n > 0 && streams[i].w == r->web &&
		    strcmp(streams[i].key_id, r->caller.key_id) == 0) {
			streams[i].n--;
			break;
		}
	pthread_mutex_unlock(&streams_mu);
}

static struct metric *
streams_gauge(struct web_req *r)
{
	return metrics_gauge(r->web->metrics, "genbox_http_event_streams", "",
	    "Event streams open (/api/v1/events)");
}

/* Send events until the client goes, the server stops, or the stream's time is up. */
static void
events_loop(struct web_req *r)
{
	int64_t last_tick = 0, last_ping = gb_mono_ms(), seq = 0;
	int64_t end = gb_mono_ms() + r->web->cfg.stream_max_ms;
	uint64_t stamp = 0;
	char *last = NULL;
	int first = 1;

	while (!atomic_load(&r->web->stopping) && gb_mono_ms() < end) {
		int64_t now = gb_mono_ms();

		if (now - last_tick >= EVENTS_TICK_MS && (last_tick = now) &&
		    events_moved(r, &stamp, &first)) {
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
}

static int
events_get(struct web_req *r)
{
	const char *why = "";

	if (strcmp(r->ri->request_method, "HEAD") == 0) {
		web_send_head(r, 200, "text/event-stream");
		return r->status;
	}
	if (streams_take(r, &why)) {
		r->retry_after = EVENTS_RETRY_AFTER;
		return web_error(r, 503, "unavailable", "%s; try again later", why);
	}
	metric_add(streams_gauge(r), 1);
	web_send_head(r, 200, "text/event-stream");
	events_loop(r);
	metric_add(streams_gauge(r), -1);
	streams_give(r);
	return r->status;
}

const struct web_route web_routes_events[] = {
	{ "GET", API "/events", events_get, PERM_READ },
	{ NULL, NULL, NULL, PERM_NONE },
};
