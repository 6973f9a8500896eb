/*
 * syncview.c - how sync with the cluster goes, as /healthz, /metrics and the
 * dashboard show it. Everything but the state is read from storage
 * (outbox.h: the per-collection status rows, the outbox, the rejected
 * list), so it is the same whoever runs sync; the state ("off", "ok",
 * "offline", "auth", "error") comes live from the daemon's callback. Sync
 * off while the outbox triggers still record (a cluster configured once,
 * then removed) is said too: nothing drains the outbox then.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/gbtime.h"
#include "../storage/docs.h"
#include "../storage/outbox.h"
#include "internal.h"

#define SYNC_REJECTED_SHOWN 20

const char *
web_sync_state(const struct web *w)
{
	const char *s = w->cfg.sync_state ? w->cfg.sync_state(w->cfg.sync_arg) : NULL;

	return s ? s : "off";
}

void
web_sync_sum(const struct sync_coll_status *cs, struct web_sync_sum *sum)
{
	memset(sum, 0, sizeof(*sum));
	for (int i = 0; i < COLL_COUNT; i++) {
		sum->depth += cs[i].outbox_depth;
		if (cs[i].outbox_oldest_ms > 0 &&
		    (sum->oldest_ms == 0 || cs[i].outbox_oldest_ms < sum->oldest_ms))
			sum->oldest_ms = cs[i].outbox_oldest_ms;
		if (cs[i].last_error_ms > sum->error_ms) {
			sum->error_ms = cs[i].last_error_ms;
			sum->error = cs[i].last_error;
			sum->error_coll = (enum coll)i;
		}
	}
}

/* Seconds since ms, or null for 0. */
static cJSON *
sync_age_or_null(int64_t now, int64_t ms)
{
	return ms > 0 ? cJSON_CreateNumber((double)((now - ms) / 1000)) : cJSON_CreateNull();
}

/*
 * The clock skew of the last connect: into o as clock_skew_ms (null when
 * never measured, or sync is off); past SYNC_SKEW_WARN_MS the warning into
 * msg, else 0.
 */
static int
sync_skew(struct web_req *r, const char *state, cJSON *o, char *msg, size_t size)
{
	struct gb_err err = { 0, "" };
	int64_t skew = 0;
	int known = 0;

	if (r->st == NULL || strcmp(state, "off") == 0 ||
	    store_sync_clock_skew(r->st, &skew, &known, &err) || !known) {
		cJSON_AddNullToObject(o, "clock_skew_ms");
		return 0;
	}
	cJSON_AddNumberToObject(o, "clock_skew_ms", (double)skew);
	if (skew <= SYNC_SKEW_WARN_MS && skew >= -SYNC_SKEW_WARN_MS)
		return 0;
	snprintf(msg, size, "sync: this box's clock is %.1f s %s MongoDB's, and newer-wins "
	    "compares their dates: set the time (NTP)", (double)(skew < 0 ? -skew : skew) / 1000.0,
	    skew > 0 ? "behind" : "ahead of");
	return 1;
}

/* The summary: state, outbox depth, its oldest row's age, the last error. */
static void
sync_summary(cJSON *o, const char *state, const struct web_sync_sum *sum, int64_t now)
{
	cJSON_AddStringToObject(o, "state", state);
	cJSON_AddNumberToObject(o, "outbox_depth", (double)sum->depth);
	cJSON_AddItemToObject(o, "outbox_oldest_s", sync_age_or_null(now, sum->oldest_ms));
	if (sum->error_ms > 0) {
		cJSON_AddStringToObject(o, "last_error", sum->error);
		cJSON_AddItemToObject(o, "last_error_at", web_time_or_null(sum->error_ms));
	} else {
		cJSON_AddNullToObject(o, "last_error");
		cJSON_AddNullToObject(o, "last_error_at");
	}
}

/*
 * Outbox recording on while sync is off: the warning into msg, or 0 when
 * not so (or when it cannot be told).
 */
static int
sync_orphan(struct web_req *r, const char *state, int64_t depth, char *msg, size_t size)
{
	struct gb_err err = { 0, "" };
	int on = 0;

	if (strcmp(state, "off") != 0 || r->st == NULL || store_sync_enabled(r->st, &on, &err) ||
	    !on)
		return 0;
	snprintf(msg, size, "sync is off but %lld change%s wait%s in the outbox: configure "
	    "[cluster] or run genbox sync disable --yes", (long long)depth, depth == 1 ? "" : "s",
	    depth == 1 ? "s" : "");
	return 1;
}

/*
 * The cluster holds documents the pull cannot see (no updated_at, or not a
 * Date): undated_warning naming the first collection, and the warning
 * unless the state has one. Not degraded: the rest syncs.
 */
static void
sync_undated_warning(cJSON *out, const struct sync_coll_status *cs)
{
	int64_t total = 0;
	int first = -1;
	char msg[300];

	for (int i = 0; i < COLL_COUNT; i++)
		if (cs[i].undated > 0) {
			total += cs[i].undated;
			if (first < 0)
				first = i;
		}
	if (total == 0)
		return;
	snprintf(msg, sizeof(msg), "the cluster holds %lld document%s the pull cannot see "
	    "(updated_at missing or not a Date), %lld in %s", (long long)total,
	    total == 1 ? "" : "s", (long long)cs[first].undated, coll_name((enum coll)first));
	cJSON_AddNumberToObject(out, "undated", (double)total);
	cJSON_AddStringToObject(out, "undated_warning", msg);
	if (!cJSON_HasObjectItem(out, "warning"))
		cJSON_AddStringToObject(out, "warning", msg);
}

int
web_sync_health(struct web_req *r, cJSON *out, cJSON *sync_reasons)
{
	struct sync_coll_status *cs = calloc(COLL_COUNT, sizeof(*cs));
	struct gb_err err = { 0, "" };
	const char *state = web_sync_state(r->web);
	struct web_sync_sum sum;
	int64_t now = gb_now_ms();
	char msg[400];
	int rc;

	if (cs == NULL || r->st == NULL || (rc = store_sync_status(r->st, cs, &err)) != 0) {
		cJSON_AddStringToObject(out, "state", state);
		free(cs);
		return -1;
	}
	web_sync_sum(cs, &sum);
	sync_summary(out, state, &sum, now);
	if (strcmp(state, "auth") == 0) {
		snprintf(msg, sizeof(msg), "sync: the cluster refused the credentials%s%.300s",
		    sum.error ? ": " : "", sum.error ? sum.error : "");
		cJSON_AddItemToArray(sync_reasons, cJSON_CreateString(msg));
	}
	if (strcmp(state, "off") != 0 && sum.oldest_ms > 0 &&
	    now - sum.oldest_ms > WEB_SYNC_STUCK_MS) {
		snprintf(msg, sizeof(msg), "sync: the oldest change waiting in the outbox is %lld "
		    "min old (%lld waiting)", (long long)((now - sum.oldest_ms) / 60000),
		    (long long)sum.depth);
		cJSON_AddItemToArray(sync_reasons, cJSON_CreateString(msg));
	}
	if (strcmp(state, "offline") == 0 || strcmp(state, "error") == 0)
		cJSON_AddStringToObject(out, "warning", strcmp(state, "offline") == 0 ?
		    "the cluster cannot be reached: changes wait in the outbox" :
		    "sync fails: see last_error");
	if (sync_orphan(r, state, sum.depth, msg, sizeof(msg))) {
		cJSON_AddStringToObject(out, "warning", msg);
		cJSON_AddItemToArray(sync_reasons, cJSON_CreateString(msg));
	}
	if (sync_skew(r, state, out, msg, sizeof(msg))) {
		cJSON_AddStringToObject(out, "clock_warning", msg);
		cJSON_AddItemToArray(sync_reasons, cJSON_CreateString(msg));
	}
	sync_undated_warning(out, cs);
	free(cs);
	return 0;
}

static cJSON *
sync_coll_json(enum coll c, const struct sync_coll_status *s, int64_t now)
{
	cJSON *o = cJSON_CreateObject(), *cp;

	cJSON_AddStringToObject(o, "collection", coll_name(c));
	cJSON_AddNumberToObject(o, "pushed", (double)s->pushed);
	cJSON_AddNumberToObject(o, "pulled", (double)s->pulled);
	cJSON_AddNumberToObject(o, "conflicts", (double)s->conflicts);
	cJSON_AddNumberToObject(o, "rejected", (double)s->rejected);
	cJSON_AddNumberToObject(o, "outbox_depth", (double)s->outbox_depth);
	cJSON_AddItemToObject(o, "outbox_oldest_s", sync_age_or_null(now, s->outbox_oldest_ms));
	cJSON_AddItemToObject(o, "last_push", web_time_or_null(s->last_push_ms));
	cJSON_AddItemToObject(o, "last_pull", web_time_or_null(s->last_pull_ms));
	cJSON_AddItemToObject(o, "pull_age_s", sync_age_or_null(now, s->last_pull_ms));
	cp = cJSON_AddObjectToObject(o, "checkpoint");
	if (s->checkpoint.updated_at[0])
		cJSON_AddStringToObject(cp, "updated_at", s->checkpoint.updated_at);
	else
		cJSON_AddNullToObject(cp, "updated_at");
	if (s->checkpoint.id[0])
		cJSON_AddStringToObject(cp, "_id", s->checkpoint.id);
	else
		cJSON_AddNullToObject(cp, "_id");
	if (s->last_error_ms > 0) {
		cJSON_AddStringToObject(o, "last_error", s->last_error);
		cJSON_AddStringToObject(o, "last_error_direction", s->last_error_pull ? "pull" :
		    "push");
	} else {
		cJSON_AddNullToObject(o, "last_error");
		cJSON_AddNullToObject(o, "last_error_direction");
	}
	cJSON_AddItemToObject(o, "last_error_at", web_time_or_null(s->last_error_ms));
	/* the cluster's documents the pull cannot see: updated_at missing or not a Date */
	cJSON_AddNumberToObject(o, "undated", (double)s->undated);
	return o;
}

static int
sync_found(void *arg, const char *doc, size_t len)
{
	(void)doc;
	(void)len;
	*(int *)arg = 1;
	return 0;
}

/* Is the document c/id the caller organization's? (by an indexed lookup, never parsed) */
static int
sync_mine(struct web_req *r, enum coll c, const char *id)
{
	struct gb_err err = { 0, "" };
	cJSON *f = cJSON_CreateObject();
	char *text;
	int found = 0;

	cJSON_AddStringToObject(f, "_id", c == COLL_ORGANIZATIONS ? r->caller.org_id : id);
	if (c != COLL_ORGANIZATIONS)
		cJSON_AddStringToObject(f, "organization_id", r->caller.org_id);
	if ((text = cJSON_PrintUnformatted(f)) != NULL &&
	    (c != COLL_ORGANIZATIONS || strcmp(id, r->caller.org_id) == 0))
		store_each(r->st, c, text, 0, sync_found, &found, &err);
	cJSON_free(text);
	cJSON_Delete(f);
	return found;
}

/* The rejected documents of the caller's organization: another's are left out. */
static cJSON *
sync_rejected_json(struct web_req *r, const struct rejected_doc *rj, int n)
{
	cJSON *arr = cJSON_CreateArray();

	for (int i = 0; i < n; i++) {
		cJSON *o;

		if (!sync_mine(r, rj[i].coll, rj[i].id))
			continue;
		o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "collection", coll_name(rj[i].coll));
		cJSON_AddStringToObject(o, "_id", rj[i].id);
		cJSON_AddItemToObject(o, "at", web_time_or_null(rj[i].at_ms));
		cJSON_AddStringToObject(o, "error", rj[i].error);
		/* push: the cluster refused the box's copy; pull: the box refused the cluster's */
		cJSON_AddStringToObject(o, "direction", rj[i].pull ? "pull" : "push");
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

cJSON *
web_sync_json(struct web_req *r, struct gb_err *err)
{
	/* on the heap: civetweb's threads have small stacks */
	struct sync_coll_status *cs = calloc(COLL_COUNT, sizeof(*cs));
	struct rejected_doc *rj = calloc(SYNC_REJECTED_SHOWN, sizeof(*rj));
	struct web_sync_sum sum;
	int64_t now = gb_now_ms(), total = 0;
	const char *state = web_sync_state(r->web);
	char msg[256];
	cJSON *o = NULL, *arr;
	int n = 0;

	if (cs == NULL || rj == NULL) {
		gb_errf(err, GB_ENOMEM, "out of memory");
		goto out;
	}
	if (store_sync_status(r->st, cs, err) ||
	    store_rejected_list(r->st, rj, SYNC_REJECTED_SHOWN, &n, &total, err))
		goto out;
	web_sync_sum(cs, &sum);
	o = cJSON_CreateObject();
	sync_summary(o, state, &sum, now);
	if (sync_orphan(r, state, sum.depth, msg, sizeof(msg)))
		cJSON_AddStringToObject(o, "warning", msg);
	if (sync_skew(r, state, o, msg, sizeof(msg)))
		cJSON_AddStringToObject(o, "clock_warning", msg);
	arr = cJSON_AddArrayToObject(o, "collections");
	for (int i = 0; i < COLL_COUNT; i++)
		cJSON_AddItemToArray(arr, sync_coll_json((enum coll)i, &cs[i], now));
	cJSON_AddNumberToObject(o, "rejected_total", (double)total);
	cJSON_AddItemToObject(o, "rejected", sync_rejected_json(r, rj, n));
out:
	free(cs);
	free(rj);
	return o;
}

/* ---- /metrics ---- */

static pthread_mutex_t sync_counters_mu = PTHREAD_MUTEX_INITIALIZER;

/* A counter brought up to a total kept in storage (a total never goes down). */
static void
sync_counter(struct web *w, const char *name, const char *labels, const char *help,
    int64_t total)
{
	struct metric *x = metrics_counter(w->metrics, name, labels, help);
	double d;

	pthread_mutex_lock(&sync_counters_mu);
	d = (double)total - metric_value(x);
	if (d > 0)
		metric_add(x, d);
	pthread_mutex_unlock(&sync_counters_mu);
}

/* The pull checkpoint, the pull's lag and the last error of one collection. */
static void
sync_coll_gauges(struct web *w, const char *l, const struct sync_coll_status *s, int64_t now)
{
	int64_t cp = 0;

	if (s->checkpoint.updated_at[0] &&
	    gb_time_parse(s->checkpoint.updated_at, strlen(s->checkpoint.updated_at), &cp))
		cp = 0;
	metric_set(metrics_gauge(w->metrics, "genbox_sync_checkpoint_timestamp_seconds", l,
	    "Unix time of the pull checkpoint's updated_at (0: from the start)"),
	    (double)cp / 1000.0);
	metric_set(metrics_gauge(w->metrics, "genbox_sync_pull_lag_seconds", l,
	    "Seconds since the last successful pull (-1: never pulled)"),
	    s->last_pull_ms > 0 ? (double)(now - s->last_pull_ms) / 1000.0 : -1.0);
	metric_set(metrics_gauge(w->metrics, "genbox_sync_last_error_timestamp_seconds", l,
	    "Unix time of the last error since the last success (0: none)"),
	    (double)s->last_error_ms / 1000.0);
	metric_set(metrics_gauge(w->metrics, "genbox_sync_error", l,
	    "1 while the last sync round of the collection failed, else 0"),
	    s->last_error_ms > 0);
}

static void
sync_coll_metrics(struct web *w, enum coll c, const struct sync_coll_status *s, int64_t now)
{
	char l[96], ld[128];

	snprintf(l, sizeof(l), "collection=\"%s\"", coll_name(c));
	metric_set(metrics_gauge(w->metrics, "genbox_sync_outbox_depth", l,
	    "Local changes waiting to be pushed to the cluster"), (double)s->outbox_depth);
	metric_set(metrics_gauge(w->metrics, "genbox_sync_outbox_oldest_seconds", l,
	    "Age of the oldest change waiting in the outbox (0: none)"),
	    s->outbox_oldest_ms > 0 ? (double)(now - s->outbox_oldest_ms) / 1000.0 : 0.0);
	sync_counter(w, "genbox_sync_pushed_total", l,
	    "Documents the cluster acknowledged", s->pushed);
	sync_counter(w, "genbox_sync_pulled_total", l,
	    "Documents pulled from the cluster and applied", s->pulled);
	sync_counter(w, "genbox_sync_conflicts_total", l,
	    "Documents kept because the other side held a newer copy", s->conflicts);
	sync_counter(w, "genbox_sync_rejected_total", l,
	    "Documents refused for good (by the cluster on push, by the box on pull)",
	    s->rejected);
	metric_set(metrics_gauge(w->metrics, "genbox_sync_undated_documents", l,
	    "The cluster's documents the pull cannot see (updated_at missing or not a Date)"),
	    (double)s->undated);
	snprintf(ld, sizeof(ld), "%s,direction=\"push\"", l);
	metric_set(metrics_gauge(w->metrics, "genbox_sync_last_success_timestamp_seconds", ld,
	    "Unix time of the last successful push or pull (0: never)"),
	    (double)s->last_push_ms / 1000.0);
	snprintf(ld, sizeof(ld), "%s,direction=\"pull\"", l);
	metric_set(metrics_gauge(w->metrics, "genbox_sync_last_success_timestamp_seconds", ld,
	    "Unix time of the last successful push or pull (0: never)"),
	    (double)s->last_pull_ms / 1000.0);
	sync_coll_gauges(w, l, s, now);
}

void
web_sync_metrics(struct web_req *r)
{
	struct sync_coll_status *cs;
	struct gb_err err = { 0, "" };
	int64_t now = gb_now_ms();

	metric_set(metrics_gauge(r->web->metrics, "genbox_sync_up", NULL,
	    "1 while sync with the cluster works (state ok), else 0"),
	    strcmp(web_sync_state(r->web), "ok") == 0);
	if (r->st == NULL)
		return;
	{
		int64_t skew = 0;
		int known = 0;

		if (store_sync_clock_skew(r->st, &skew, &known, &err) == 0 && known)
			metric_set(metrics_gauge(r->web->metrics, "genbox_sync_clock_skew_seconds",
			    NULL, "MongoDB's clock less the box's at sync's last connect"),
			    (double)skew / 1000.0);
	}
	if ((cs = calloc(COLL_COUNT, sizeof(*cs))) == NULL)
		return;
	if (store_sync_status(r->st, cs, &err) == 0)
		for (int i = 0; i < COLL_COUNT; i++)
			sync_coll_metrics(r->web, (enum coll)i, &cs[i], now);
	free(cs);
}
