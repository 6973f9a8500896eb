/*
 * task.c - running a context's steps (see task.h).
 */
#include <stdlib.h>
#include <string.h>

#include "../../base/gbtime.h"
#include "../../base/json.h"
#include "../../base/log.h"
#include "../render.h"
#include "../template.h"
#include "retry.h"
#include "step_generate.h"
#include "task.h"

/*
 * Record a step's result: its edits plus completed_components and
 * component_timings, in the document and in memory.
 */
static int
task_record(struct worker *w, struct task *t, const char *name, const struct step_out *out,
    struct gb_err *err)
{
	struct ctx_edit edits[STEP_MAX_EDITS + 2];
	cJSON *proc = json_member_object(t->doc, "processing"), *done, *timings;
	int64_t took = gb_mono_ms() - t->comp_t0;
	char *done_s, *timings_s;
	int n = 0, rc;

	done = cJSON_GetObjectItemCaseSensitive(proc, "completed_components");
	if (!cJSON_IsArray(done)) {
		cJSON_DeleteItemFromObjectCaseSensitive(proc, "completed_components");
		done = cJSON_AddArrayToObject(proc, "completed_components");
	}
	cJSON_AddItemToArray(done, cJSON_CreateString(name));
	timings = json_member_object(proc, "component_timings");
	json_member_replace(timings, name, cJSON_CreateNumber((double)took));
	done_s = cJSON_PrintUnformatted(done);
	timings_s = cJSON_PrintUnformatted(timings);
	for (; n < out->n; n++) {
		edits[n].path = out->path[n];
		edits[n].json = out->json[n];
	}
	edits[n].path = "$.processing.completed_components";
	edits[n++].json = done_s;
	edits[n].path = "$.processing.component_timings";
	edits[n++].json = timings_s;
	if (done_s && timings_s)
		rc = store_ctx_progress(w->st, t->id, w->p->owner, edits, n, gb_now_ms(), err);
	else
		rc = gb_errf(err, GB_ENOMEM, "out of memory");
	free(done_s);
	free(timings_s);
	if (rc == 0) {
		engine_trace(w, "done", t->id, name);
		metric_observe(w->p->m.component_seconds[strcmp(name, "template") == 0 ? 0 :
		    strcmp(name, "ai_generator") == 0 ? 1 :
		    strcmp(name, "transformer") == 0 ? 2 : 3],
		    (double)took / 1000.0);
	}
	return rc;
}

/* A step whose output is the one subtree data.<key> (item is taken). */
static void
task_out_data(struct task *t, struct step_out *out, const char *key, const char *path, cJSON *item)
{
	out->path[0] = path;
	out->json[0] = item ? cJSON_PrintUnformatted(item) : NULL;
	out->n = 1;
	json_member_replace(json_member_object(t->doc, "data"), key, item);
}

static enum step_outcome
task_step_template(struct worker *w, struct task *t, const struct step *s, struct step_out *out,
    struct gb_err *err)
{
	const char *tid = json_get_str(s->config, "template_id");
	cJSON *tmpl = NULL, *expanded = NULL;
	int rc;

	if (tid == NULL) {
		gb_errf(err, GB_EINVAL, "component '%s' has no config.template_id",
		    s->component_id);
		return STEP_FAILED;
	}
	if ((rc = catalog_template(w->p->cat, w->st, tid, &tmpl, err)) == 0)
		rc = template_expand(tmpl, t->id, &expanded, err);
	cJSON_Delete(tmpl);
	if (rc) {
		/* a storage error while reading the template is worth a retry */
		if (rc != GB_EINVAL)
			err->code = GB_ETRANSIENT;
		return STEP_FAILED;
	}
	task_out_data(t, out, "template", "$.data.template", expanded);
	return STEP_DONE;
}

static enum step_outcome
task_step_transformer(struct task *t, const struct step *s, struct step_out *out,
    struct gb_err *err)
{
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(t->doc, "data");
	const char *format = json_get_str(s->config, "format");
	int toc =
	    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s->config, "add_table_of_contents"));
	char *content = NULL;
	cJSON *fc;

	if (format == NULL)
		format = "markdown";
	if (transform_render(cJSON_GetObjectItemCaseSensitive(data, "generated_content"),
	    json_get_str(data, "title"), format, toc, &content, err))
		return STEP_FAILED;
	fc = cJSON_CreateObject();
	cJSON_AddStringToObject(fc, "format", format);
	cJSON_AddStringToObject(fc, "content", content);
	free(content);
	task_out_data(t, out, "formatted_content", "$.data.formatted_content", fc);
	return STEP_DONE;
}

/* Start step s; STEP_DONE leaves its edits in out. */
static enum step_outcome
task_step_run(struct worker *w, struct task *t, const struct step *s, struct step_out *out,
    int64_t *retry_after_ms, struct gb_err *err)
{
	enum step_outcome o;

	t->comp_t0 = gb_mono_ms();
	engine_trace_now(w, "run", t->id, s->type);
	if (strcmp(s->type, "template") == 0)
		return task_step_template(w, t, s, out, err);
	if (strcmp(s->type, "transformer") == 0)
		return task_step_transformer(t, s, out, err);
	if (strcmp(s->type, "ai_generator") == 0) {
		o = step_generate_start(w, t, s, err);
		return o == STEP_DONE ? step_generate_finish(w, t, s, out, retry_after_ms, err) : o;
	}
	gb_errf(err, GB_EINVAL, "unknown component type '%s' (component '%s')", s->type,
	    s->component_id);
	return STEP_FAILED;
}

static int
task_releasing(struct pool *p)
{
	int releasing;

	pthread_mutex_lock(&p->lock);
	releasing = p->releasing;
	pthread_mutex_unlock(&p->lock);
	return releasing;
}

/* The result of the current step, computed ahead (its edits move to out). */
static enum step_outcome
task_take_ahead(struct task *t, struct step_out *out, int64_t *retry_after_ms, struct gb_err *err)
{
	struct task_ahead *a = &t->ahead[t->step - t->ahead_from];

	*out = a->out;
	a->out.n = 0;
	*err = a->err;
	*retry_after_ms = a->retry_after_ms;
	t->comp_t0 = gb_mono_ms() - a->took_ms;
	return a->o;
}

static int
task_step_is_cpu(const struct step *s)
{
	return strcmp(s->type, "template") == 0 || strcmp(s->type, "transformer") == 0;
}

int
task_cpu_ahead(const struct task *t, int resumed)
{
	int k = t->step + (resumed ? 1 : 0);

	return k < t->nsteps && task_step_is_cpu(&t->steps[k]);
}

void
task_compute_ahead(struct worker *w, struct task *t, int resumed)
{
	t->ahead_from = t->step;
	t->nahead = 0;
	for (int k = t->step; k < t->nsteps && t->nahead < TASK_MAX_AHEAD; k++) {
		const struct step *s = &t->steps[k];
		struct task_ahead *a = &t->ahead[t->nahead];
		int64_t t0 = gb_mono_ms();

		memset(a, 0, sizeof(*a));
		a->retry_after_ms = -1;
		if (resumed && k == t->step)
			a->o = step_generate_finish(w, t, s, &a->out, &a->retry_after_ms, &a->err);
		else if (task_step_is_cpu(s))
			a->o = task_step_run(w, t, s, &a->out, &a->retry_after_ms, &a->err);
		else
			break;
		a->took_ms = gb_mono_ms() - t0;
		t->nahead++;
		if (a->o != STEP_DONE)
			break;
	}
}

/*
 * Run t from its current step until it ends or parks. resumed: t came back
 * from the ready queue with its generator replies. 1: t left (ended, given
 * back); 0: it parked.
 */
static int
task_advance(struct worker *w, struct task *t, int resumed)
{
	for (;; resumed = 0) {
		struct gb_err err = { 0, "" };
		struct step_out out = { 0 };
		int64_t retry_after = -1;
		const struct step *s;
		enum step_outcome o;

		if (task_releasing(w->p)) {
			retry_release(w, t);
			return 1;
		}
		if (t->step >= t->nsteps) {
			retry_complete(w, t);
			return 1;
		}
		s = &t->steps[t->step];
		if (t->step >= t->ahead_from && t->step < t->ahead_from + t->nahead)
			o = task_take_ahead(t, &out, &retry_after, &err);
		else if (resumed)
			o = step_generate_finish(w, t, s, &out, &retry_after, &err);
		else
			o = task_step_run(w, t, s, &out, &retry_after, &err);
		if (o == STEP_DONE && task_record(w, t, s->type, &out, &err))
			o = STEP_STORAGE;
		step_out_release(&out);
		switch (o) {
		case STEP_DONE:
			t->step++;
			continue;
		case STEP_PARKED:
			t->nahead = 0;
			return 0;
		case STEP_FAILED:
			retry_fail(w, t, s->type, &err, retry_after);
			return 1;
		case STEP_GIVE_BACK:
			retry_release(w, t);
			return 1;
		case STEP_STORAGE:
			log_warnx("context %s: %s", t->id, err.msg);
			retry_drop_or_release(w, t, err.code);
			return 1;
		}
	}
}

int
task_resume(struct worker *w, struct task *t)
{
	return task_advance(w, t, 1);
}

int
task_run(struct worker *w, struct task *t)
{
	return task_advance(w, t, 0);
}

/* Resolve t's steps; a storage error while reading the catalog is transient, never final. */
static int
task_resolve(struct worker *w, struct task *t, struct gb_err *err)
{
	int rc =
	    catalog_resolve(w->p->cat, w->st, t->doc, &t->steps, &t->nsteps, t->pipeline_id, err);

	if (rc && rc != GB_EINVAL)
		err->code = GB_ETRANSIENT;
	return rc;
}

/*
 * Claim a peeked context (it has steps to run, or must be failed): as the
 * claim, its document in memory shows when it started. On failure the task
 * leaves (the context stays pending).
 */
static int
task_take(struct worker *w, struct task *t)
{
	struct gb_err err = { 0, "" };
	char ids[1][STORE_ID_MAX], now_s[GB_TIME_LEN];
	int64_t now = gb_now_ms();
	cJSON *proc;

	memcpy(ids[0], t->id, STORE_ID_MAX);
	if (store_queue_take(w->st, w->p->owner, now, w->p->cfg.lease_ms, ids, 1, &err)) {
		log_warnx("context %s: %s", t->id, err.msg);
		retry_leave(w->p, t);
		return -1;
	}
	t->untaken = 0;
	if (cJSON_IsObject(t->doc)) {
		proc = json_member_object(t->doc, "processing");
		if (json_get_str(proc, "started_at") == NULL)
			json_member_replace(proc, "started_at",
			    cJSON_CreateString(gb_time_format(now, now_s)));
		json_member_replace(t->doc, "status", cJSON_CreateString("processing"));
	}
	return 0;
}

struct task *
task_load(struct worker *w, const char *id, char *text)
{
	struct pool *p = w->p;
	struct gb_err err = { 0, "" };
	struct task *t = calloc(1, sizeof(*t));
	const cJSON *done;

	if (t == NULL) {
		free(text);
		log_warnx("context %s: out of memory: the keeper's reaper will give it back", id);
		pthread_mutex_lock(&p->lock);
		p->inflight--;
		pthread_mutex_unlock(&p->lock);
		metric_add(p->m.inflight, -1);
		return NULL;
	}
	t->p = p;
	t->untaken = 1;
	snprintf(t->id, sizeof(t->id), "%s", id);
	if (text == NULL && store_get(w->st, COLL_CONTEXTS, id, &text, &err)) {
		log_warnx("context %s: %s", id, err.msg);
		retry_release(w, t);
		return NULL;
	}
	t->doc = cJSON_Parse(text);
	free(text);
	if (!cJSON_IsObject(t->doc)) {
		gb_errf(&err, GB_EINVAL, "stored context '%s' is not a JSON object", id);
		if (task_take(w, t) == 0)
			retry_fail(w, t, "context", &err, -1);
		return NULL;
	}
	if (task_resolve(w, t, &err)) {
		if (task_take(w, t) == 0)
			retry_fail(w, t, "pipeline", &err, -1);
		return NULL;
	}
	/* resume after the components already recorded */
	done =
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(t->doc, "processing"),
	    "completed_components");
	t->step = cJSON_IsArray(done) ? cJSON_GetArraySize(done) : 0;
	if (t->step > t->nsteps)
		t->step = t->nsteps;
	/* nothing left to run: it ends from pending, in this transaction */
	if (t->step < t->nsteps && task_take(w, t))
		return NULL;
	return t;
}
