/*
 * retry.c - ending a run of a context: completed, failed, pending again
 * after a backoff, or given back (see retry.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../base/gbtime.h"
#include "../../base/json.h"
#include "../../base/log.h"
#include "../../storage/pipestats.h"
#include "retry.h"

int64_t
retry_delay_ms(const struct retry_policy *pol, int retries, int64_t retry_after_ms, unsigned seed)
{
	double jitter = 0.75 + 0.5 * (double)(seed % 1000u) / 1000.0;
	double delay = (double)pol->base_ms *
	    pow(2.0, retries < 0 ? 0 : retries > 62 ? 62 : retries);

	if (delay > (double)pol->max_ms)
		delay = (double)pol->max_ms;
	delay *= jitter;
	if (retry_after_ms > 0 && delay < (double)retry_after_ms)
		delay = (double)retry_after_ms;
	return delay >= 9.0e18 ? INT64_MAX / 2 : (int64_t)delay;
}

void
retry_task_free(struct task *t)
{
	if (t == NULL)
		return;
	cJSON_Delete(t->doc);
	catalog_steps_free(t->steps, t->nsteps);
	if (t->replies)
		for (int i = 0; i < t->ncalls; i++)
			gen_reply_release(&t->replies[i]);
	free(t->replies);
	free(t->calls);
	for (int i = 0; i < t->nahead; i++)
		for (int k = 0; k < t->ahead[i].out.n; k++)
			free(t->ahead[i].out.json[k]);
	free(t);
}

void
retry_leave(struct pool *p, struct task *t)
{
	retry_task_free(t);
	pthread_mutex_lock(&p->lock);
	p->inflight--;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	metric_add(p->m.inflight, -1);
}

static void
retry_count_stat(struct pool *p, int64_t *field, struct metric *m)
{
	pthread_mutex_lock(&p->lock);
	(*field)++;
	pthread_mutex_unlock(&p->lock);
	metric_add(m, 1);
}

static int64_t
retry_started_ms(const struct task *t, int64_t now)
{
	const char *s =
	    json_get_str(cJSON_GetObjectItemCaseSensitive(t->doc, "processing"), "started_at");
	int64_t ms;

	return s && gb_time_parse(s, strlen(s), &ms) == 0 && ms <= now ? ms : now;
}

/*
 * The usage recorded by the ai_generator step, range-checked (a hostile
 * document stays harmless).
 */
static void
retry_usage(const struct task *t, struct ctx_finish *f)
{
	const cJSON *u =
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(t->doc, "processing"),
	    "usage");
	double cost = json_get_number(u, "cost", 0);

	json_get_int64(u, "prompt_tokens", 0, INT64_MAX / 4, 0, &f->prompt_tokens);
	json_get_int64(u, "completion_tokens", 0, INT64_MAX / 4, 0, &f->completion_tokens);
	f->cost = isfinite(cost) && cost >= 0 && cost < 1e15 ? cost : 0;
}

/* k completions written (their statistics with them): the counters, once for all of them. */
static void
retry_completed(struct pool *p, int k)
{
	pthread_mutex_lock(&p->lock);
	p->stats.completed += k;
	p->inflight -= k;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	metric_add(p->m.completed, k);
	metric_add(p->m.inflight, -k);
}

void
retry_flush(struct worker *w)
{
	struct pool *p = w->p;
	struct gb_err err = { 0, "" };
	int64_t now = gb_now_ms();
	int n = w->nending, nstats = 0, rc;

	if (n == 0)
		return;
	w->nending = 0;
	for (int i = 0; i < n; i++)
		w->ends[i].duration_ms = now - retry_started_ms(w->ending[i], now);
	rc = store_ctx_finish_many(w->st, p->owner, w->ends, n, now, NULL, &err);
	for (int i = 0; i < n; i++) {
		struct task *t = w->ending[i];

		if (rc) {
			log_warnx("context %s: %s", t->id, err.msg);
			retry_drop_or_release(w, t, rc);
		} else if (w->ends[i].rc) {
			log_warnx("context %s: is no longer held by this worker", t->id);
			retry_leave(p, t);
			w->ending[i] = NULL;
		} else {
			w->stats[nstats].pipeline_id =
			    t->pipeline_id[0] ? t->pipeline_id : "(inline)";
			w->stats[nstats].at_ms = now;
			w->stats[nstats++].duration_ms = w->ends[i].duration_ms;
		}
	}
	if (rc)
		return;
	/* in the same transaction as the completions */
	if (store_pipeline_stat_add_many(w->st, w->stats, nstats, &err))
		log_warnx("pipeline statistics of %d context%s: %s", nstats,
		    nstats == 1 ? "" : "s", err.msg);
	for (int i = 0; i < n; i++) {
		if (w->ending[i] == NULL)
			continue;
		engine_trace(w, "end", w->ending[i]->id, "completed");
		metric_observe(p->m.context_seconds, (double)w->ends[i].duration_ms / 1000.0);
		retry_task_free(w->ending[i]);
	}
	if (nstats > 0)
		retry_completed(p, nstats);
}

void
retry_complete(struct worker *w, struct task *t)
{
	static const struct ctx_edit no_error = { "$.error", "null" };
	const cJSON *error = cJSON_GetObjectItemCaseSensitive(t->doc, "error");
	struct ctx_finish f;
	struct ctx_end *e;

	if (w->nending == w->ending_cap)
		retry_flush(w);
	memset(&f, 0, sizeof(f));
	retry_usage(t, &f);
	e = &w->ends[w->nending];
	memset(e, 0, sizeof(*e));
	e->id = t->id;
	e->status = CTX_COMPLETED;
	e->pending = t->untaken;
	e->duration_ms = -1;	/* set by retry_flush */
	e->prompt_tokens = f.prompt_tokens;
	e->completion_tokens = f.completion_tokens;
	e->cost = f.cost;
	if (error && !cJSON_IsNull(error)) {
		e->edits = &no_error;
		e->nedits = 1;
	}
	w->ending[w->nending++] = t;
}

/* The error object of a failed run, as JSON text (malloc'd), or NULL. */
static char *
retry_error_json(const char *component, const struct gb_err *why, int64_t now)
{
	char now_s[GB_TIME_LEN], *json;
	cJSON *error = cJSON_CreateObject();

	cJSON_AddStringToObject(error, "component", component);
	cJSON_AddStringToObject(error, "message", why->msg);
	cJSON_AddStringToObject(error, "time", gb_time_format(now, now_s));
	cJSON_AddBoolToObject(error, "transient", why->code == GB_ETRANSIENT);
	json = cJSON_PrintUnformatted(error);
	cJSON_Delete(error);
	return json;
}

/*
 * processing.attempts with this failed attempt (number retries + 1) added
 * after the ones recorded, the RETRY_MAX_ATTEMPTS most recent kept, as JSON
 * text (malloc'd), or NULL.
 */
static char *
retry_attempts_json(const struct task *t, const char *component, const struct gb_err *why,
    int64_t now, int retries)
{
	const cJSON *old = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(t->doc,
	    "processing"), "attempts"), *a;
	cJSON *list = cJSON_CreateArray(), *entry = cJSON_CreateObject();
	int skip = cJSON_IsArray(old) ? cJSON_GetArraySize(old) - (RETRY_MAX_ATTEMPTS - 1) : 0;
	char now_s[GB_TIME_LEN], *json = NULL;

	if (list == NULL || entry == NULL)
		goto out;
	for (a = cJSON_IsArray(old) ? old->child : NULL; a; a = a->next)
		if (skip-- <= 0)
			cJSON_AddItemToArray(list, cJSON_Duplicate(a, 1));
	cJSON_AddNumberToObject(entry, "attempt", (double)retries + 1);
	cJSON_AddStringToObject(entry, "at", gb_time_format(now, now_s));
	cJSON_AddStringToObject(entry, "component", component);
	cJSON_AddStringToObject(entry, "error", why->msg);
	cJSON_AddItemToArray(list, entry);
	entry = NULL;
	json = cJSON_PrintUnformatted(list);
out:
	cJSON_Delete(entry);
	cJSON_Delete(list);
	return json;
}

void
retry_fail(struct worker *w, struct task *t, const char *component, const struct gb_err *why,
    int64_t retry_after_ms)
{
	struct pool *p = w->p;
	struct retry_policy pol = { p->cfg.retry_base_ms, p->cfg.retry_max_ms };
	struct gb_err err = { 0, "" };
	struct ctx_edit e[2] = { { "$.error", NULL }, { "$.processing.attempts", NULL } };
	struct ctx_finish f;
	int64_t now = gb_now_ms();
	char *json = retry_error_json(component, why, now), *attempts;
	int retries, transient, rc;

	json_get_int(t->doc, "retry_count", 0, 1000000, 0, &retries);
	transient = why->code == GB_ETRANSIENT && retries < p->cfg.max_retries;
	attempts = retry_attempts_json(t, component, why, now, retries);
	e[0].json = json ? json : "null";
	e[1].json = attempts;
	memset(&f, 0, sizeof(f));
	f.now_ms = now;
	f.edits = e;
	f.nedits = attempts ? 2 : 1;	/* out of memory: the attempt is not recorded, the end is */
	if (transient) {
		f.status = CTX_PENDING;
		f.next_retry_ms = now + retry_delay_ms(&pol, retries, retry_after_ms,
		    (unsigned)now ^ (unsigned)(uintptr_t)t);
	} else {
		f.status = CTX_FAILED;
		f.duration_ms = now - retry_started_ms(t, now);
		retry_usage(t, &f);
	}
	rc = store_ctx_finish(w->st, t->id, p->owner, &f, &err);
	free(json);
	free(attempts);
	if (rc) {
		log_warnx("context %s: %s", t->id, err.msg);
		retry_drop_or_release(w, t, rc);
		return;
	}
	if (transient) {
		engine_trace(w, "retry", t->id, component);
		retry_count_stat(p, &p->stats.retried, p->m.retried);
	} else {
		engine_trace(w, "end", t->id, "failed");
		retry_count_stat(p, &p->stats.failed, p->m.failed);
		log_info("context %s failed in %s: %s", t->id, component, why->msg);
	}
	retry_leave(p, t);
}

void
retry_release(struct worker *w, struct task *t)
{
	struct pool *p = w->p;
	struct gb_err err = { 0, "" };
	struct orphan *o;
	int rc;

	if (t->untaken) {
		/* never claimed: still pending */
		retry_leave(p, t);
		return;
	}
	rc = store_queue_release(w->st, t->id, p->owner, gb_now_ms(), &err);
	if (rc == 0) {
		retry_count_stat(p, &p->stats.released, p->m.released);
	} else if (rc != GB_ESTATE && (o = malloc(sizeof(*o))) != NULL) {
		log_warnx("context %s: cannot give it back yet (%s): the keeper will", t->id,
		    err.msg);
		snprintf(o->id, sizeof(o->id), "%s", t->id);
		pthread_mutex_lock(&p->lock);
		o->next = p->orphans;
		p->orphans = o;
		pthread_mutex_unlock(&p->lock);
	}
	retry_leave(p, t);
}

void
retry_drop_or_release(struct worker *w, struct task *t, int rc)
{
	if (rc == GB_ESTATE)
		retry_leave(w->p, t);
	else
		retry_release(w, t);
}
