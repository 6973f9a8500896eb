/*
 * runner.c - worker threads, parked contexts and the lease keeper.
 *
 * A task is one claimed context in memory. Workers take tasks from the ready
 * queue (contexts whose generator replies arrived) or claim new ones, and run
 * each from its next unrecorded component. The ai_generator component
 * submits one generator call per template section and parks the task; the
 * last reply (on the generator's thread) pushes it back on the ready queue.
 * A worker handles what it took in one transaction (a savepoint per task), so
 * cheap contexts are claimed and ended in groups.
 *
 * Writes of this pool's threads take turns on r->write_lock rather than on
 * SQLite's busy handler, which sleeps in steps of up to 100 ms: a waiting
 * worker starts the moment the lock is free. SQLite's busy timeout still
 * arbitrates between processes.
 *
 * Lock order: r->write_lock, then r->lock; the generator and storage take
 * their own inside.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../base/buf.h"
#include "../base/gbtime.h"
#include "../base/log.h"
#include "../storage/docs.h"
#include "../storage/queue.h"
#include "../storage/store.h"
#include "components.h"
#include "runner.h"

struct task;

struct call {
	struct task *task;
	int index;
};

struct task {
	struct runner *r;
	char id[STORE_ID_MAX];
	cJSON *doc;			/* the context as claimed, kept in step with what is recorded */
	struct step *steps;
	int nsteps, step;
	char pipeline_id[STORE_ID_MAX];
	int64_t comp_t0;		/* monotonic start of the current component */
	/* the ai_generator component while its calls are out */
	atomic_int pending;
	int ncalls;
	struct call *calls;
	struct gen_reply *replies;
	struct task *next;		/* ready queue */
};

/* A context this pool holds but could not give back: the keeper retries. */
#define WAL_RESTART_FRAMES 4096	/* 16 MiB of 4 KiB pages */
#define HOLD_GROUPS 32		/* groups a worker handles in one hold of the write lock */

struct orphan {
	char id[STORE_ID_MAX];
	struct orphan *next;
};

struct worker {
	struct runner *r;
	int index;
	pthread_t thread;
	struct store *st;
	struct buf trace;		/* lines to write once the transaction commits */
};

struct runner {
	struct runner_config cfg;
	char owner[160];
	char *batch_id, *trace_path;
	int trace_fd;
	struct catalog *cat;
	struct generator *gen;		/* owned from start on; closed by runner_stop */
	struct worker *workers;
	pthread_t keeper;
	int keeper_started;

	pthread_mutex_t write_lock;	/* one writing transaction of this pool at a time */
	atomic_int keeper_waiting;	/* workers let the keeper have write_lock first */
	pthread_mutex_t lock;		/* guards everything below */
	pthread_cond_t cond;		/* ready work, fewer in flight, stop */
	struct task *ready_head, *ready_tail;
	struct orphan *orphans;		/* to give back */
	int inflight;			/* tasks claimed and not ended or released */
	int draining;			/* no new claims */
	int releasing;			/* give tasks back instead of running them */
	int stopping;			/* threads exit */
	int stopped;
	int idle;
	int failed;			/* a commit failed: nothing more is written */
	char failure[256];
	struct runner_stats stats;
	struct worker_heartbeat *hb;
};

void
runner_config_defaults(struct runner_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->store.create = 1;
	cfg->store.migrate = 1;
	cfg->workers = 4;
	cfg->max_inflight = 256;
	cfg->claim_max = 32;
	cfg->lease_ms = 300000;
	cfg->heartbeat_ms = 60000;
	cfg->max_retries = 5;
	cfg->retry_base_ms = 1000;
	cfg->retry_max_ms = 300000;
}

/* ---- small helpers ---- */

static const char *
jstr(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static cJSON *
obj(cJSON *parent, const char *key)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(parent, key);

	if (!cJSON_IsObject(v)) {
		if (v)
			cJSON_DeleteItemFromObjectCaseSensitive(parent, key);
		v = cJSON_AddObjectToObject(parent, key);
	}
	return v;
}

/* Replace parent[key] with item (taken). */
static void
set(cJSON *parent, const char *key, cJSON *item)
{
	if (item == NULL)
		return;
	if (cJSON_GetObjectItemCaseSensitive(parent, key))
		cJSON_ReplaceItemInObjectCaseSensitive(parent, key, item);
	else
		cJSON_AddItemToObject(parent, key, item);
}

static void
trace(struct worker *w, const char *what, const char *id, const char *detail)
{
	if (w->r->trace_fd >= 0)
		buf_printf(&w->trace, "%s %s %s\n", what, id, detail);
}

/* A line written at once (a component starts), apart from those waiting for the commit. */
static void
trace_now(struct worker *w, const char *what, const char *id, const char *detail)
{
	char line[STORE_ID_MAX + 96];
	int n;

	if (w->r->trace_fd < 0)
		return;
	n = snprintf(line, sizeof(line), "%s %s %s\n", what, id, detail);
	if (n > 0 && (size_t)n < sizeof(line))
		(void)!write(w->r->trace_fd, line, (size_t)n);
}

/* Write the lines gathered since the transaction began: call after its commit. */
static void
trace_flush(struct worker *w)
{
	if (w->r->trace_fd >= 0 && w->trace.len > 0)
		(void)!write(w->r->trace_fd, w->trace.p, w->trace.len);
	buf_reset(&w->trace);
}

static void
task_free(struct task *t)
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
	free(t);
}

/* A task leaves this runner (ended or given back). */
static void
task_done(struct runner *r, struct task *t)
{
	task_free(t);
	pthread_mutex_lock(&r->lock);
	r->inflight--;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

static void
count_stat(struct runner *r, int64_t *field)
{
	pthread_mutex_lock(&r->lock);
	(*field)++;
	pthread_mutex_unlock(&r->lock);
}

/* ---- ending a run ---- */

static void drop_or_release(struct worker *w, struct task *t, int rc);

static int64_t
started_ms(const struct task *t)
{
	const cJSON *proc = cJSON_GetObjectItemCaseSensitive(t->doc, "processing");
	const char *s = jstr(proc, "started_at");
	int64_t ms;

	return s && gb_time_parse(s, strlen(s), &ms) == 0 ? ms : gb_now_ms();
}

static void
usage_of(const struct task *t, int64_t *pt, int64_t *ct, double *cost)
{
	const cJSON *u = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(t->doc, "processing"),
	    "usage");
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(u, "prompt_tokens");
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(u, "completion_tokens");
	const cJSON *k = cJSON_GetObjectItemCaseSensitive(u, "cost");

	*pt = cJSON_IsNumber(p) ? (int64_t)p->valuedouble : 0;
	*ct = cJSON_IsNumber(c) ? (int64_t)c->valuedouble : 0;
	*cost = cJSON_IsNumber(k) ? k->valuedouble : 0;
}

static void
complete(struct worker *w, struct task *t)
{
	struct runner *r = w->r;
	struct gb_err err = { 0, "" };
	struct ctx_edit e = { "$.error", "null" };
	struct ctx_finish f;
	int64_t now = gb_now_ms();
	int rc;

	memset(&f, 0, sizeof(f));
	f.status = CTX_COMPLETED;
	f.now_ms = now;
	f.duration_ms = now - started_ms(t);
	if (f.duration_ms < 0)
		f.duration_ms = 0;
	usage_of(t, &f.prompt_tokens, &f.completion_tokens, &f.cost);
	if (cJSON_GetObjectItemCaseSensitive(t->doc, "error") && !cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(t->doc, "error"))) {
		f.edits = &e;
		f.nedits = 1;
	}
	if ((rc = store_ctx_finish(w->st, t->id, r->owner, &f, &err))) {
		log_warnx("context %s: %s", t->id, err.msg);
		drop_or_release(w, t, rc);
		return;
	}
	trace(w, "end", t->id, "completed");
	count_stat(r, &r->stats.completed);
	catalog_stats_record(r->cat, t->pipeline_id[0] ? t->pipeline_id : "(inline)", now, f.duration_ms);
	task_done(r, t);
}

/* A component failed: retry later when transient and retries are left, else fail. */
static void
fail(struct worker *w, struct task *t, const char *component, int code, int64_t retry_after_ms, const char *msg)
{
	struct runner *r = w->r;
	struct gb_err err = { 0, "" };
	const cJSON *rc = cJSON_GetObjectItemCaseSensitive(t->doc, "retry_count");
	int retries = cJSON_IsNumber(rc) ? (int)rc->valuedouble : 0;
	int transient = code == GB_ETRANSIENT && retries < r->cfg.max_retries, src;
	char now_s[GB_TIME_LEN], *json;
	struct ctx_edit e = { "$.error", NULL };
	struct ctx_finish f;
	int64_t now = gb_now_ms();
	cJSON *error = cJSON_CreateObject();

	cJSON_AddStringToObject(error, "component", component);
	cJSON_AddStringToObject(error, "message", msg);
	cJSON_AddStringToObject(error, "time", gb_time_format(now, now_s));
	cJSON_AddBoolToObject(error, "transient", code == GB_ETRANSIENT);
	json = cJSON_PrintUnformatted(error);
	cJSON_Delete(error);
	e.json = json ? json : "null";
	memset(&f, 0, sizeof(f));
	f.now_ms = now;
	f.edits = &e;
	f.nedits = 1;
	if (transient) {
		/* exponential backoff with jitter, never sooner than the server asked */
		double jitter = 0.75 + 0.5 * ((double)(rand_r(&(unsigned){ (unsigned)now ^ (unsigned)(uintptr_t)t }) % 1000) / 1000.0);
		double delay = (double)r->cfg.retry_base_ms * pow(2.0, retries);

		if (delay > (double)r->cfg.retry_max_ms)
			delay = (double)r->cfg.retry_max_ms;
		delay *= jitter;
		if (retry_after_ms > 0 && delay < (double)retry_after_ms)
			delay = (double)retry_after_ms;
		f.status = CTX_PENDING;
		f.next_retry_ms = now + (int64_t)delay;
	} else {
		f.status = CTX_FAILED;
		f.duration_ms = now - started_ms(t);
		usage_of(t, &f.prompt_tokens, &f.completion_tokens, &f.cost);
	}
	if ((src = store_ctx_finish(w->st, t->id, r->owner, &f, &err))) {
		log_warnx("context %s: %s", t->id, err.msg);
		free(json);
		drop_or_release(w, t, src);
		return;
	} else if (transient) {
		trace(w, "retry", t->id, component);
		count_stat(r, &r->stats.retried);
	} else {
		trace(w, "end", t->id, "failed");
		count_stat(r, &r->stats.failed);
		log_info("context %s failed in %s: %s", t->id, component, msg);
	}
	free(json);
	task_done(r, t);
}

/*
 * Give a context back to the queue. Storage can be busy for a while under
 * load: try for a few seconds, then leave it to the keeper, which keeps
 * trying; a context is never left held by nobody.
 */
static void
release(struct worker *w, struct task *t)
{
	struct runner *r = w->r;
	struct gb_err err = { 0, "" };
	int rc = GB_EBUSY;

	for (int i = 0; i < 20 && rc && rc != GB_ESTATE; i++) {
		gb_err_clear(&err);
		if ((rc = store_queue_release(w->st, t->id, r->owner, gb_now_ms(), &err)) && rc != GB_ESTATE)
			usleep(100 * 1000);
	}
	if (rc == 0) {
		count_stat(r, &r->stats.released);
	} else if (rc != GB_ESTATE) {
		struct orphan *o = malloc(sizeof(*o));

		log_warnx("context %s: cannot give it back yet (%s): the keeper will", t->id, err.msg);
		if (o) {
			snprintf(o->id, sizeof(o->id), "%s", t->id);
			pthread_mutex_lock(&r->lock);
			o->next = r->orphans;
			r->orphans = o;
			pthread_mutex_unlock(&r->lock);
		}
	}
	task_done(r, t);
}

/* After a storage error: "not held" means the context is someone else's now; else give it back. */
static void
drop_or_release(struct worker *w, struct task *t, int rc)
{
	if (rc == GB_ESTATE)
		task_done(w->r, t);
	else
		release(w, t);
}

/*
 * Record a component's result: its edits plus completed_components and
 * component_timings, in the document and in memory.
 */
static int
record(struct worker *w, struct task *t, const char *name, struct ctx_edit *edits, int n)
{
	struct gb_err err = { 0, "" };
	cJSON *proc = obj(t->doc, "processing"), *done, *timings;
	char *done_s, *timings_s;
	int rc;

	done = cJSON_GetObjectItemCaseSensitive(proc, "completed_components");
	if (!cJSON_IsArray(done)) {
		cJSON_DeleteItemFromObjectCaseSensitive(proc, "completed_components");
		done = cJSON_AddArrayToObject(proc, "completed_components");
	}
	cJSON_AddItemToArray(done, cJSON_CreateString(name));
	timings = obj(proc, "component_timings");
	set(timings, name, cJSON_CreateNumber((double)(gb_mono_ms() - t->comp_t0)));
	done_s = cJSON_PrintUnformatted(done);
	timings_s = cJSON_PrintUnformatted(timings);
	edits[n].path = "$.processing.completed_components";
	edits[n++].json = done_s;
	edits[n].path = "$.processing.component_timings";
	edits[n++].json = timings_s;
	rc = done_s && timings_s ? store_ctx_progress(w->st, t->id, w->r->owner, edits, n, gb_now_ms(), &err) : GB_ENOMEM;
	free(done_s);
	free(timings_s);
	if (rc == 0)
		trace(w, "done", t->id, name);
	else
		log_warnx("context %s: %s", t->id, err.msg);
	return rc;
}

/* Record a component whose output is the one subtree data.<key> (item is taken). */
static int
record_data(struct worker *w, struct task *t, const char *name, const char *key, cJSON *item)
{
	char path[64], *json = cJSON_PrintUnformatted(item);
	struct ctx_edit edits[3];
	int rc;

	set(obj(t->doc, "data"), key, item);
	snprintf(path, sizeof(path), "$.data.%s", key);
	edits[0].path = path;
	edits[0].json = json;
	rc = json ? record(w, t, name, edits, 1) : GB_ENOMEM;
	free(json);
	return rc;
}

/* ---- the components ---- */

static int
run_template(struct worker *w, struct task *t, const struct step *s, char *msg, size_t msglen)
{
	struct gb_err err = { 0, "" };
	const char *tid = jstr(s->config, "template_id");
	cJSON *tmpl = NULL, *expanded = NULL;
	int rc;

	if (tid == NULL) {
		snprintf(msg, msglen, "component '%s' has no config.template_id", s->component_id);
		return GB_EINVAL;
	}
	if ((rc = catalog_template(w->r->cat, w->st, tid, &tmpl, &err)) ||
	    (rc = template_expand(tmpl, t->id, &expanded, &err))) {
		cJSON_Delete(tmpl);
		snprintf(msg, msglen, "%s", err.msg);
		return rc;
	}
	cJSON_Delete(tmpl);
	return record_data(w, t, s->type, "template", expanded);
}

static int
run_transformer(struct worker *w, struct task *t, const struct step *s, char *msg, size_t msglen)
{
	struct gb_err err = { 0, "" };
	cJSON *data = obj(t->doc, "data"), *fc;
	const char *format = jstr(s->config, "format");
	int toc = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s->config, "add_table_of_contents"));
	char *content = NULL;
	int rc;

	if ((rc = transform_render(cJSON_GetObjectItemCaseSensitive(data, "generated_content"), jstr(data, "title"),
	    format ? format : "markdown", toc, &content, &err))) {
		snprintf(msg, msglen, "%s", err.msg);
		return rc;
	}
	fc = cJSON_CreateObject();
	cJSON_AddStringToObject(fc, "format", format ? format : "markdown");
	cJSON_AddStringToObject(fc, "content", content);
	free(content);
	return record_data(w, t, s->type, "formatted_content", fc);
}

static void on_reply(void *arg, struct gen_reply *reply);

static double
num(const cJSON *config, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(config, key);

	return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/*
 * Start the ai_generator component: one call per section. Returns 1 when
 * the task is parked (replies will bring it back), 0 when every reply is
 * already in, or a negative code with msg.
 */
static int
start_generator(struct worker *w, struct task *t, const struct step *s, char *msg, size_t msglen)
{
	struct runner *r = w->r;
	struct gb_err err = { 0, "" };
	cJSON *data = obj(t->doc, "data"), *org = NULL;
	const cJSON *sections = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(data, "template"),
	    "sections");
	const cJSON *stops = cJSON_GetObjectItemCaseSensitive(s->config, "stop_sequences");
	const char *model = jstr(s->config, "model"), *stopv[16];
	struct gen_params p;
	int n = cJSON_GetArraySize(sections), i = 0, rc;

	if (!cJSON_IsArray(sections) || n == 0) {
		snprintf(msg, msglen, "ai_generator needs data.template.sections (run a template component first)");
		return GB_EINVAL;
	}
	if (model == NULL) {
		snprintf(msg, msglen, "component '%s' has no config.model", s->component_id);
		return GB_EINVAL;
	}
	/* the organization's allowed_models */
	if ((rc = catalog_organization(r->cat, w->st, jstr(t->doc, "organization_id"), &org, &err))) {
		snprintf(msg, msglen, "%s", err.msg);
		return rc;
	}
	{
		const cJSON *allowed = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(org, "settings"),
		    "allowed_models"), *m;
		int ok = !cJSON_IsArray(allowed);

		for (m = ok ? NULL : allowed->child; m; m = m->next)
			if (cJSON_IsString(m) && strcmp(m->valuestring, model) == 0)
				ok = 1;
		cJSON_Delete(org);
		if (!ok) {
			snprintf(msg, msglen, "model '%s' is not allowed for organization '%s'", model,
			    jstr(t->doc, "organization_id"));
			return GB_EPERM;
		}
	}
	memset(&p, 0, sizeof(p));
	p.model = model;
	p.temperature = num(s->config, "temperature");
	p.top_p = num(s->config, "top_p");
	p.frequency_penalty = num(s->config, "frequency_penalty");
	p.presence_penalty = num(s->config, "presence_penalty");
	p.max_tokens = isnan(num(s->config, "max_tokens")) ? 0 : (int)num(s->config, "max_tokens");
	for (const cJSON *x = cJSON_IsArray(stops) ? stops->child : NULL; x && p.nstop < 16; x = x->next)
		if (cJSON_IsString(x))
			stopv[p.nstop++] = x->valuestring;
	p.stop = stopv;
	t->ncalls = n;
	t->calls = calloc((size_t)n, sizeof(*t->calls));
	t->replies = calloc((size_t)n, sizeof(*t->replies));
	if (t->calls == NULL || t->replies == NULL) {
		snprintf(msg, msglen, "out of memory");
		return GB_ENOMEM;
	}
	atomic_store(&t->pending, n + 1);	/* + 1: ours, dropped after the last submit */
	for (const cJSON *sec = sections->child; sec; sec = sec->next, i++) {
		const cJSON *range = cJSON_GetObjectItemCaseSensitive(sec, "word_range");
		char *system = NULL, *user = NULL;

		p.words_min = cJSON_IsNumber(cJSON_GetArrayItem(range, 0)) ? cJSON_GetArrayItem(range, 0)->valueint : 100;
		p.words_max = cJSON_IsNumber(cJSON_GetArrayItem(range, 1)) ? cJSON_GetArrayItem(range, 1)->valueint : 200;
		t->calls[i].task = t;
		t->calls[i].index = i;
		gb_err_clear(&err);
		if (prompt_build(data, sec, &system, &user, &err) ||
		    generator_submit(r->gen, system, user, &p, on_reply, &t->calls[i])) {
			/* this call never went out: answer it ourselves */
			t->replies[i].code = GB_ESTATE;
			snprintf(t->replies[i].msg, sizeof(t->replies[i].msg), "%s", err.code ? err.msg :
			    "generator closed");
			atomic_fetch_sub(&t->pending, 1);
		}
		free(system);
		free(user);
	}
	return atomic_fetch_sub(&t->pending, 1) == 1 ? 0 : 1;
}

static void
ready_push(struct runner *r, struct task *t)
{
	pthread_mutex_lock(&r->lock);
	t->next = NULL;
	if (r->ready_tail)
		r->ready_tail->next = t;
	else
		r->ready_head = t;
	r->ready_tail = t;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

/* On the generator's thread: keep the reply; the last one puts the task back to work. */
static void
on_reply(void *arg, struct gen_reply *reply)
{
	struct call *c = arg;
	struct task *t = c->task;

	t->replies[c->index] = *reply;
	reply->text = NULL;
	if (atomic_fetch_sub(&t->pending, 1) == 1)
		ready_push(t->r, t);
}

/* All replies are in: end the ai_generator component. */
static int
finish_generator(struct worker *w, struct task *t, const struct step *s, int64_t *retry_after,
    char *msg, size_t msglen)
{
	cJSON *data = obj(t->doc, "data"), *gc, *body, *usage, *proc = obj(t->doc, "processing");
	const cJSON *sections = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(data, "template"),
	    "sections"), *sec;
	struct ctx_edit edits[6];
	char *gc_s, *usage_s, *prov_s;
	int64_t pt = 0, ct = 0;
	int i, rc, worst = 0;

	*retry_after = -1;
	/* the worst outcome decides: closed, then permanent, then transient */
	for (i = 0; i < t->ncalls; i++) {
		int code = t->replies[i].code, rank = code == GB_ESTATE ? 3 : code == GB_ETRANSIENT ? 1 : code ? 2 : 0;

		if (rank > worst) {
			worst = rank;
			snprintf(msg, msglen, "section %d: %s", i + 1, t->replies[i].msg);
			rc = code;
		}
		if (code == GB_ETRANSIENT && t->replies[i].retry_after_ms > *retry_after)
			*retry_after = t->replies[i].retry_after_ms;
		pt += t->replies[i].prompt_tokens;
		ct += t->replies[i].completion_tokens;
	}
	if (worst == 3)
		return GB_ESTATE;
	if (worst)
		return worst == 1 ? GB_ETRANSIENT : (t->replies[0].code ? t->replies[0].code : GB_EINVAL);
	gc = cJSON_CreateObject();
	body = cJSON_CreateArray();
	for (i = 0, sec = sections->child; sec && i < t->ncalls; sec = sec->next, i++) {
		const char *id = jstr(sec, "id"), *text = t->replies[i].text ? t->replies[i].text : "";

		if (id && strcmp(id, "introduction") == 0) {
			cJSON_AddStringToObject(gc, "introduction", text);
		} else if (id && strcmp(id, "conclusion") == 0) {
			cJSON_AddStringToObject(gc, "conclusion", text);
		} else {
			cJSON *item = cJSON_CreateObject();

			cJSON_AddStringToObject(item, "id", id ? id : "");
			cJSON_AddStringToObject(item, "title", jstr(sec, "name") ? jstr(sec, "name") : id ? id : "");
			cJSON_AddStringToObject(item, "content", text);
			cJSON_AddItemToArray(body, item);
		}
	}
	cJSON_AddItemToObject(gc, "body", body);
	usage = cJSON_CreateObject();
	cJSON_AddNumberToObject(usage, "prompt_tokens", (double)pt);
	cJSON_AddNumberToObject(usage, "completion_tokens", (double)ct);
	cJSON_AddNumberToObject(usage, "total_tokens", (double)(pt + ct));
	cJSON_AddNumberToObject(usage, "cost", (double)(pt + ct) / 1000.0 * s->cost_per_1k_tokens);
	cJSON_AddStringToObject(usage, "model", jstr(s->config, "model"));
	gc_s = cJSON_PrintUnformatted(gc);
	usage_s = cJSON_PrintUnformatted(usage);
	{
		cJSON *prov = cJSON_CreateString(t->replies[0].provider[0] ? t->replies[0].provider :
		    generator_provider(w->r->gen));

		prov_s = cJSON_PrintUnformatted(prov);
		set(proc, "provider", prov);
	}
	set(data, "generated_content", gc);
	set(proc, "usage", usage);
	edits[0].path = "$.data.generated_content";
	edits[0].json = gc_s;
	edits[1].path = "$.processing.usage";
	edits[1].json = usage_s;
	edits[2].path = "$.processing.provider";
	edits[2].json = prov_s;
	rc = gc_s && usage_s && prov_s ? record(w, t, s->type, edits, 3) : GB_ENOMEM;
	free(gc_s);
	free(usage_s);
	free(prov_s);
	for (i = 0; i < t->ncalls; i++)
		gen_reply_release(&t->replies[i]);
	free(t->replies);
	free(t->calls);
	t->replies = NULL;
	t->calls = NULL;
	t->ncalls = 0;
	return rc;
}

/*
 * Run t from its current step until it ends or parks. resumed: t came back
 * from the ready queue with its generator replies.
 */
static void
advance(struct worker *w, struct task *t, int resumed)
{
	struct runner *r = w->r;
	char msg[512];
	int releasing;

	for (;;) {
		const struct step *s;
		int64_t retry_after = -1;
		int rc;

		pthread_mutex_lock(&r->lock);
		releasing = r->releasing;
		pthread_mutex_unlock(&r->lock);
		if (releasing) {
			release(w, t);
			return;
		}
		if (t->step >= t->nsteps) {
			complete(w, t);
			return;
		}
		s = &t->steps[t->step];
		msg[0] = '\0';
		if (resumed) {
			rc = finish_generator(w, t, s, &retry_after, msg, sizeof(msg));
			resumed = 0;
		} else {
			t->comp_t0 = gb_mono_ms();
			trace_now(w, "run", t->id, s->type);
			if (strcmp(s->type, "template") == 0) {
				rc = run_template(w, t, s, msg, sizeof(msg));
			} else if (strcmp(s->type, "transformer") == 0) {
				rc = run_transformer(w, t, s, msg, sizeof(msg));
			} else if (strcmp(s->type, "ai_generator") == 0) {
				rc = start_generator(w, t, s, msg, sizeof(msg));
				if (rc == 1)
					return;		/* parked */
				if (rc == 0)
					rc = finish_generator(w, t, s, &retry_after, msg, sizeof(msg));
			} else {
				snprintf(msg, sizeof(msg), "unknown component type '%s' (component '%s')", s->type,
				    s->component_id);
				rc = GB_EINVAL;
			}
		}
		if (rc && msg[0] == '\0') {
			/* storage said no: not ours any more (cancelled, reaped), or busy */
			drop_or_release(w, t, rc);
			return;
		}
		if (rc == GB_ESTATE) {
			release(w, t);
			return;
		}
		if (rc) {
			fail(w, t, s->type, rc, retry_after, msg);
			return;
		}
		t->step++;
	}
}

/* A freshly claimed context: load, resolve, skip what is recorded, run. */
static void
start(struct worker *w, const char *id)
{
	struct runner *r = w->r;
	struct gb_err err = { 0, "" };
	struct task *t = calloc(1, sizeof(*t));
	const cJSON *done;
	char *text = NULL;

	if (t == NULL) {
		pthread_mutex_lock(&r->lock);
		r->inflight--;
		pthread_mutex_unlock(&r->lock);
		return;
	}
	t->r = r;
	snprintf(t->id, sizeof(t->id), "%s", id);
	if (store_get(w->st, COLL_CONTEXTS, id, &text, &err) || (t->doc = cJSON_Parse(text)) == NULL) {
		free(text);
		log_warnx("context %s: %s", id, err.msg[0] ? err.msg : "stored document is not JSON");
		release(w, t);
		return;
	}
	free(text);
	if (catalog_resolve(r->cat, w->st, t->doc, &t->steps, &t->nsteps, t->pipeline_id, &err)) {
		fail(w, t, "pipeline", err.code == GB_EINVAL ? GB_EINVAL : err.code, -1, err.msg);
		return;
	}
	/* resume after the components already recorded */
	done = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(t->doc, "processing"),
	    "completed_components");
	t->step = cJSON_IsArray(done) ? cJSON_GetArraySize(done) : 0;
	if (t->step > t->nsteps)
		t->step = t->nsteps;
	advance(w, t, 0);
}

/* ---- threads ---- */

/* Wait on r->cond (r->lock held) for at most ms milliseconds. */
static void
wait_ms(struct runner *r, long ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&r->cond, &r->lock, &ts);
}

static void
heartbeat(struct runner *r, int i, const char *status, int processing)
{
	/* r->lock held */
	r->hb[i].last_seen_ms = gb_now_ms();
	snprintf(r->hb[i].status, sizeof(r->hb[i].status), "%s", status);
	r->hb[i].processing_count = processing;
}

/*
 * write_lock is a plain mutex, which goes back to the thread that just let
 * it go: fast for the workers, but one busy worker could keep the keeper
 * (lease extensions, the reaper, checkpoints) waiting for as long as there
 * is work. So the keeper says when it waits, and workers let it go first.
 */
static void
worker_write_lock(struct runner *r)
{
	if (atomic_load(&r->keeper_waiting)) {
		pthread_mutex_lock(&r->lock);
		while (atomic_load(&r->keeper_waiting))
			wait_ms(r, 5);
		pthread_mutex_unlock(&r->lock);
	}
	pthread_mutex_lock(&r->write_lock);
}

static void
keeper_write_lock(struct runner *r)
{
	atomic_store(&r->keeper_waiting, 1);
	pthread_mutex_lock(&r->write_lock);
	atomic_store(&r->keeper_waiting, 0);
	pthread_mutex_lock(&r->lock);
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct runner *r = w->r;
	char (*ids)[STORE_ID_MAX] = calloc((size_t)r->cfg.claim_max, STORE_ID_MAX);
	struct task **ready = calloc((size_t)r->cfg.claim_max, sizeof(*ready));
	struct gb_err err = { 0, "" };
	int held = 0, streak = 0;

	if (ids == NULL || ready == NULL)
		goto out;
	for (;;) {
		int nready = 0, want = 0, n = 0, failed;

		/*
		 * A worker keeps the write lock for a few groups in a row: the
		 * work is serial anyway, and every change of hands costs the
		 * next worker's connection its whole page cache. The keeper
		 * still goes first.
		 */
		if (held && (++streak >= HOLD_GROUPS || atomic_load(&r->keeper_waiting))) {
			pthread_mutex_unlock(&r->write_lock);
			held = 0;
		}
		pthread_mutex_lock(&r->lock);
		while (nready < r->cfg.claim_max && r->ready_head) {
			ready[nready++] = r->ready_head;
			r->ready_head = r->ready_head->next;
			if (r->ready_head == NULL)
				r->ready_tail = NULL;
		}
		if (held && (r->failed || r->stopping || (nready == 0 && (r->draining ||
		    r->inflight >= r->cfg.max_inflight)))) {
			pthread_mutex_unlock(&r->write_lock);	/* before waiting or leaving */
			held = 0;
		}
		if (r->failed) {
			/* a failed pool only lets go of what comes back, without writing */
			r->inflight -= nready;
			pthread_cond_broadcast(&r->cond);
			if (r->stopping) {
				pthread_mutex_unlock(&r->lock);
				for (int i = 0; i < nready; i++)
					task_free(ready[i]);
				break;
			}
			if (nready == 0)
				wait_ms(r, 200);
			pthread_mutex_unlock(&r->lock);
			for (int i = 0; i < nready; i++)
				task_free(ready[i]);
			continue;
		}
		if (nready == 0 && r->stopping) {
			heartbeat(r, w->index, "stopped", 0);
			pthread_mutex_unlock(&r->lock);
			break;
		}
		if (nready == 0 && !r->draining && r->inflight < r->cfg.max_inflight) {
			want = r->cfg.max_inflight - r->inflight;
			if (want > r->cfg.claim_max)
				want = r->cfg.claim_max;
			r->inflight += want;	/* reserved while the claim runs */
		}
		if (nready == 0 && want == 0) {
			heartbeat(r, w->index, r->draining ? "stopping" : "idle", 0);
			wait_ms(r, 200);
			pthread_mutex_unlock(&r->lock);
			continue;
		}
		heartbeat(r, w->index, "busy", nready + want);
		pthread_mutex_unlock(&r->lock);

		/*
		 * One transaction, in one hold of the write lock, for the claim
		 * and the work on what it got: a claimed group never waits
		 * behind other workers' groups (contexts end in the order the
		 * fair claim chose them), and each changed page is written once.
		 */
		if (!held) {
			worker_write_lock(r);
			held = 1;
			streak = 0;
		}
		gb_err_clear(&err);
		pthread_mutex_lock(&r->lock);
		failed = r->failed;
		pthread_mutex_unlock(&r->lock);
		if (failed || store_begin(w->st, &err)) {
			pthread_mutex_unlock(&r->write_lock);
			held = 0;
			if (!failed)
				log_warnx("begin: %s", err.msg);
			pthread_mutex_lock(&r->lock);
			r->inflight -= want;
			/* back to the front of the line, to be tried again (or dropped by a failed pool) */
			for (int i = nready - 1; i >= 0; i--) {
				ready[i]->next = r->ready_head;
				r->ready_head = ready[i];
				if (r->ready_tail == NULL)
					r->ready_tail = ready[i];
			}
			if (!r->stopping)
				wait_ms(r, 100);
			pthread_mutex_unlock(&r->lock);
			continue;
		}
		if (want > 0) {
			gb_err_clear(&err);
			if (store_queue_claim(w->st, r->owner, r->batch_id, gb_now_ms(), r->cfg.lease_ms, want, ids, &n, &err)) {
				log_warnx("claim: %s", err.msg);
				n = 0;
			}
			pthread_mutex_lock(&r->lock);
			r->inflight -= want - n;
			r->stats.claimed += n;
			r->idle = n == 0 && r->inflight == 0 && r->ready_head == NULL;
			pthread_cond_broadcast(&r->cond);
			pthread_mutex_unlock(&r->lock);
		}
		if (nready + n == 0) {
			store_rollback(w->st);
			pthread_mutex_unlock(&r->write_lock);
			held = 0;
			/* nothing due: wait a little before asking again */
			pthread_mutex_lock(&r->lock);
			if (!r->stopping && !r->draining && r->ready_head == NULL)
				wait_ms(r, 100);
			pthread_mutex_unlock(&r->lock);
			continue;
		}
		/* each task's writes are savepoints inside */
		for (int i = 0; i < nready; i++)
			advance(w, ready[i], 1);
		for (int i = 0; i < n; i++)
			start(w, ids[i]);
		gb_err_clear(&err);
		if (store_commit(w->st, &err)) {
			/*
			 * Nothing of this transaction was kept, but the tasks in
			 * memory moved on as if it had been: from here on this pool
			 * writes nothing, as after a crash. Its leases are taken back
			 * once its process has exited (or they expire).
			 */
			log_warnx("%s; stopping: no more writes from this process", err.msg);
			buf_reset(&w->trace);
			pthread_mutex_lock(&r->lock);
			r->failed = 1;
			snprintf(r->failure, sizeof(r->failure), "%s", err.msg);
			pthread_cond_broadcast(&r->cond);
			pthread_mutex_unlock(&r->lock);
		}
		trace_flush(w);	/* under the lock: the trace keeps the commit order */
	}
out:
	if (held)
		pthread_mutex_unlock(&r->write_lock);
	free(ids);
	free(ready);
	return NULL;
}

/* The keeper: extend this pool's leases, reap expired and orphaned ones. */
static void *
keeper_main(void *arg)
{
	struct runner *r = arg;
	struct gb_err err = { 0, "" };
	struct store *st = NULL;
	int64_t last_extend = 0, last_reap = 0;
	int frames = 0;

	if (store_open(&st, r->cfg.db_path, &r->cfg.store, &err)) {
		log_warnx("keeper: %s", err.msg);
		return NULL;
	}
	pthread_mutex_lock(&r->lock);
	while (!r->stopping) {
		int64_t now = gb_mono_ms();

		if (r->failed) {
			/* a failed pool writes nothing more: its leases are left to expire or to the next run */
			wait_ms(r, 250);
			continue;
		}
		pthread_mutex_unlock(&r->lock);
		gb_err_clear(&err);
		keeper_write_lock(r);
		if (now - last_extend >= r->cfg.lease_ms / 3) {
			if (store_queue_extend(st, r->owner, gb_now_ms() + r->cfg.lease_ms, NULL, &err))
				log_warnx("extend leases: %s", err.msg);
			last_extend = now;
		}
		if (now - last_reap >= 1000) {
			struct orphan *o, *keep = NULL;
			int n = 0;

			pthread_mutex_lock(&r->lock);
			o = r->orphans;
			r->orphans = NULL;
			pthread_mutex_unlock(&r->lock);
			while (o) {
				struct orphan *next = o->next;

				gb_err_clear(&err);
				if (store_queue_release(st, o->id, r->owner, gb_now_ms(), &err) == 0 || err.code == GB_ESTATE) {
					free(o);
				} else {
					o->next = keep;
					keep = o;
				}
				o = next;
			}
			pthread_mutex_lock(&r->lock);
			while (keep) {
				struct orphan *next = keep->next;

				keep->next = r->orphans;
				r->orphans = keep;
				keep = next;
			}
			pthread_mutex_unlock(&r->lock);

			gb_err_clear(&err);
			if (store_queue_reap(st, gb_now_ms(), runner_owner_dead, r, &n, &err))
				log_warnx("reap: %s", err.msg);
			else if (n > 0)
				log_info("returned %d context%s with expired leases to the queue", n, n == 1 ? "" : "s");
			last_reap = now;
		}
		pthread_mutex_unlock(&r->write_lock);
		/*
		 * Checkpoints copy the WAL into the database while the workers
		 * go on writing. The WAL starts over only after a checkpoint
		 * that nothing was written behind, so once it has grown past
		 * WAL_RESTART_FRAMES a short second pass holds the write lock:
		 * the WAL stays bounded however long the pool is busy.
		 */
		gb_err_clear(&err);
		if (store_checkpoint(st, &frames, &err))
			log_warnx("checkpoint: %s", err.msg);
		else if (frames > WAL_RESTART_FRAMES) {
			keeper_write_lock(r);
			if (store_checkpoint(st, NULL, &err))
				log_warnx("checkpoint: %s", err.msg);
			pthread_mutex_unlock(&r->write_lock);
		}
		pthread_mutex_lock(&r->lock);
		if (r->stopping)
			break;
		wait_ms(r, 250);
	}
	pthread_mutex_unlock(&r->lock);
	store_close(st);
	return NULL;
}

/* ---- owners ---- */

static long long
proc_start(long pid)
{
	char path[64], line[1024], *p;
	long long start = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	if (fgets(line, sizeof(line), f) && (p = strrchr(line, ')')) != NULL) {
		/* field 22, starttime: the 20th after the command's closing parenthesis */
		int field = 2;

		for (p++; *p && field < 22; p++)
			if (*p == ' ')
				field++;
		start = strtoll(p, NULL, 10);
	}
	fclose(f);
	return start;
}

int
runner_owner_dead(void *arg, const char *owner)
{
	char host[64], mine[64];
	const char *slash = strchr(owner, '/');
	long pid;
	long long start;

	(void)arg;
	if (slash == NULL || (size_t)(slash - owner) >= sizeof(host))
		return 0;
	memcpy(host, owner, (size_t)(slash - owner));
	host[slash - owner] = '\0';
	if (gethostname(mine, sizeof(mine)) != 0 || strcmp(host, mine) != 0)
		return 0;	/* another host's: only its lease can tell */
	if (sscanf(slash + 1, "%ld:%lld", &pid, &start) != 2)
		return 0;
	return proc_start(pid) != start;
}

const char *
runner_owner(const struct runner *r)
{
	return r->owner;
}

/* ---- life cycle ---- */

int
runner_start(struct runner **out, const struct runner_config *cfg, struct gb_err *err)
{
	struct runner *r;
	char host[64];
	int rc = 0;

	*out = NULL;
	if (cfg->workers < 1 || cfg->workers > RUNNER_MAX_WORKERS)
		return gb_errf(err, GB_EINVAL, "workers must be from 1 to %d", RUNNER_MAX_WORKERS);
	if (cfg->gen == NULL)
		return gb_errf(err, GB_EINVAL, "the runner needs a generator");
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return gb_errf(err, GB_ENOMEM, "out of memory");
	r->cfg = *cfg;
	if (r->cfg.claim_max < 1)
		r->cfg.claim_max = 1;
	if (r->cfg.claim_max > QUEUE_MAX_CLAIM)
		r->cfg.claim_max = QUEUE_MAX_CLAIM;
	if (r->cfg.max_inflight < r->cfg.claim_max)
		r->cfg.max_inflight = r->cfg.claim_max;
	r->gen = cfg->gen;
	r->trace_fd = -1;
	pthread_mutex_init(&r->write_lock, NULL);
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	snprintf(r->owner, sizeof(r->owner), "%s/%ld:%lld", host, (long)getpid(), proc_start((long)getpid()));
	r->batch_id = cfg->batch_id ? strdup(cfg->batch_id) : NULL;
	r->cfg.batch_id = r->batch_id;
	if (cfg->trace_path && (r->trace_fd = open(cfg->trace_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) < 0)
		rc = gb_errf(err, GB_EIO, "cannot open trace file '%s': %s", cfg->trace_path, strerror(errno));
	r->cat = catalog_new();
	r->workers = calloc((size_t)cfg->workers, sizeof(*r->workers));
	r->hb = calloc((size_t)cfg->workers, sizeof(*r->hb));
	if (rc == 0 && (r->cat == NULL || r->workers == NULL || r->hb == NULL))
		rc = gb_errf(err, GB_ENOMEM, "out of memory");
	for (int i = 0; rc == 0 && i < cfg->workers; i++) {
		struct worker *w = &r->workers[i];

		w->r = r;
		w->index = i;
		buf_init(&w->trace, 1 << 20);
		snprintf(r->hb[i].worker_id, sizeof(r->hb[i].worker_id), "%s#%d", r->owner, i);
		snprintf(r->hb[i].host, sizeof(r->hb[i].host), "%s", host);
		{
			/* workers never stop to checkpoint the WAL: the keeper does, off the write path */
			struct store_opts wo = cfg->store;

			wo.no_autocheckpoint = 1;
			rc = store_open(&w->st, cfg->db_path, &wo, err);
		}
	}
	for (int i = 0; rc == 0 && i < cfg->workers; i++) {
		pthread_attr_t attr;

		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, 512 * 1024);
		if (pthread_create(&r->workers[i].thread, &attr, worker_main, &r->workers[i]) != 0) {
			rc = gb_errf(err, GB_ENOMEM, "cannot start worker thread %d", i);
			r->cfg.workers = i;	/* join only those started */
		}
		pthread_attr_destroy(&attr);
	}
	if (rc == 0) {
		if (pthread_create(&r->keeper, NULL, keeper_main, r) != 0)
			rc = gb_errf(err, GB_ENOMEM, "cannot start the lease keeper");
		else
			r->keeper_started = 1;
	}
	if (rc) {
		runner_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

void
runner_stop(struct runner *r, int64_t grace_ms)
{
	int64_t deadline = gb_mono_ms() + grace_ms;

	if (r == NULL)
		return;
	pthread_mutex_lock(&r->lock);
	if (r->stopped) {
		pthread_mutex_unlock(&r->lock);
		return;
	}
	r->draining = 1;
	pthread_cond_broadcast(&r->cond);
	while (r->inflight > 0 && gb_mono_ms() < deadline) {
		wait_ms(r, 50);
	}
	r->releasing = 1;
	pthread_mutex_unlock(&r->lock);
	/* parked contexts come back at once with "closed" replies, and are given back */
	generator_close(r->gen);
	r->gen = NULL;
	pthread_mutex_lock(&r->lock);
	while (r->inflight > 0)
		pthread_cond_wait(&r->cond, &r->lock);
	r->stopping = 1;
	r->stopped = 1;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	for (int i = 0; i < r->cfg.workers; i++)
		if (r->workers[i].thread)
			pthread_join(r->workers[i].thread, NULL);
	if (r->keeper_started)
		pthread_join(r->keeper, NULL);
	r->keeper_started = 0;
}

void
runner_free(struct runner *r)
{
	if (r == NULL)
		return;
	if (!r->stopped && r->keeper_started)
		runner_stop(r, 0);
	else if (!r->stopped) {
		pthread_mutex_lock(&r->lock);
		r->stopping = 1;
		r->draining = 1;
		pthread_cond_broadcast(&r->cond);
		pthread_mutex_unlock(&r->lock);
		for (int i = 0; r->workers && i < r->cfg.workers; i++)
			if (r->workers[i].thread)
				pthread_join(r->workers[i].thread, NULL);
		generator_close(r->gen);
	}
	for (int i = 0; r->workers && i < r->cfg.workers; i++) {
		store_close(r->workers[i].st);
		buf_release(&r->workers[i].trace);
	}
	while (r->ready_head) {
		struct task *t = r->ready_head;

		r->ready_head = t->next;
		task_free(t);
	}
	while (r->orphans) {
		struct orphan *o = r->orphans;

		r->orphans = o->next;
		free(o);
	}
	if (r->trace_fd >= 0)
		close(r->trace_fd);
	catalog_free(r->cat);
	free(r->workers);
	free(r->hb);
	free(r->batch_id);
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
	pthread_mutex_destroy(&r->write_lock);
	free(r);
}

int
runner_failed(struct runner *r, char *msg, size_t len)
{
	int failed;

	pthread_mutex_lock(&r->lock);
	failed = r->failed;
	if (failed && msg && len)
		snprintf(msg, len, "%s", r->failure);
	pthread_mutex_unlock(&r->lock);
	return failed;
}

void
runner_stats(struct runner *r, struct runner_stats *out)
{
	pthread_mutex_lock(&r->lock);
	*out = r->stats;
	out->inflight = r->inflight;
	out->idle = r->idle;
	pthread_mutex_unlock(&r->lock);
	catalog_stats(r->cat, &out->cache);
}

int
runner_pipeline_recent(struct runner *r, const char *pipeline_id, double *mean_ms)
{
	return catalog_stats_recent(r->cat, pipeline_id, gb_now_ms(), mean_ms);
}

int
runner_heartbeats(struct runner *r, struct worker_heartbeat *out, int max)
{
	int n;

	pthread_mutex_lock(&r->lock);
	n = r->cfg.workers;
	for (int i = 0; i < n && i < max; i++)
		out[i] = r->hb[i];
	pthread_mutex_unlock(&r->lock);
	return n;
}
