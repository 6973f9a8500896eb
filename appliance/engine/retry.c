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
	double delay = (double)pol->base_ms * pow(2.0, retries < 0 ? 0 : retries > 62 ? 62 : retries);

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
	const char *s = json_get_str(cJSON_GetObjectItemCaseSensitive(t->doc, "processing"), "started_at");
	int64_t ms;

	return s && gb_time_parse(s, strlen(s), &ms) == 0 && ms <= now ? ms : now;
}

/* The usage recorded by the ai_generator step, range-checked (a hostile document stays harmless). */
static void
retry_usage(const struct task *t, struct ctx_finish *f)
{
	const cJSON *u = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(t->doc, "processing"),
	    "usage");
	double cost = json_get_number(u, "cost", 0);

	json_get_int64(u, "prompt_tokens", 0, INT64_MAX / 4, 0, &f->prompt_tokens);
	json_get_int64(u, "completion_tokens", 0, INT64_MAX / 4, 0, &f->completion_tokens);
	f->cost = isfinite(cost) && cost >= 0 && cost < 1e15 ? cost : 0;
}

void
retry_complete(struct worker *w, struct task *t)
{
	struct pool *p = w->p;
	struct gb_err err = { 0, "" };
	struct ctx_edit e = { "$.error", "null" };
	const cJSON *error = cJSON_GetObjectItemCaseSensitive(t->doc, "error");
	struct ctx_finish f;
	int64_t now = gb_now_ms();
	int rc;

	memset(&f, 0, sizeof(f));
	f.status = CTX_COMPLETED;
	f.now_ms = now;
	f.duration_ms = now - retry_started_ms(t, now);
	retry_usage(t, &f);
	if (error && !cJSON_IsNull(error)) {
		f.edits = &e;
		f.nedits = 1;
	}
	if ((rc = store_ctx_finish(w->st, t->id, p->owner, &f, &err))) {
		log_warnx("context %s: %s", t->id, err.msg);
		retry_drop_or_release(w, t, rc);
		return;
	}
	/* in the same transaction as the completion */
	if (store_pipeline_stat_add(w->st, t->pipeline_id[0] ? t->pipeline_id : "(inline)", now, f.duration_ms,
	    &err))
		log_warnx("context %s: pipeline statistics: %s", t->id, err.msg);
	engine_trace(w, "end", t->id, "completed");
	retry_count_stat(p, &p->stats.completed, p->m.completed);
	metric_observe(p->m.context_seconds, (double)f.duration_ms / 1000.0);
	retry_leave(p, t);
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

void
retry_fail(struct worker *w, struct task *t, const char *component, const struct gb_err *why,
    int64_t retry_after_ms)
{
	struct pool *p = w->p;
	struct retry_policy pol = { p->cfg.max_retries, p->cfg.retry_base_ms, p->cfg.retry_max_ms };
	struct gb_err err = { 0, "" };
	struct ctx_edit e = { "$.error", NULL };
	struct ctx_finish f;
	int64_t now = gb_now_ms();
	char *json = retry_error_json(component, why, now);
	int retries, transient, rc;

	json_get_int(t->doc, "retry_count", 0, 1000000, 0, &retries);
	transient = why->code == GB_ETRANSIENT && retries < p->cfg.max_retries;
	e.json = json ? json : "null";
	memset(&f, 0, sizeof(f));
	f.now_ms = now;
	f.edits = &e;
	f.nedits = 1;
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
	int rc = store_queue_release(w->st, t->id, p->owner, gb_now_ms(), &err);

	if (rc == 0) {
		retry_count_stat(p, &p->stats.released, p->m.released);
	} else if (rc != GB_ESTATE && (o = malloc(sizeof(*o))) != NULL) {
		log_warnx("context %s: cannot give it back yet (%s): the keeper will", t->id, err.msg);
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
