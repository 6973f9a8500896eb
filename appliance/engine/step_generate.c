/*
 * step_generate.c - the ai_generator step (see step_generate.h).
 *
 * Every prompt is built before the first call goes out, so a prompt that
 * cannot be built fails the step with its reason and no call is left in
 * flight. t->pending counts the calls out plus one held by the submitting
 * worker; whoever takes it to zero owns the task next.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../base/json.h"
#include "../openai.h"
#include "../prompt.h"
#include "../template.h"
#include "step_generate.h"

#define OFFLINE_PROVIDER "offline-draft"

void
step_out_release(struct step_out *out)
{
	for (int i = 0; i < out->n; i++)
		free(out->json[i]);
	out->n = 0;
}

/* On the generator's thread: keep the reply; the last one puts the task back to work. */
static void
step_generate_on_reply(void *arg, struct gen_reply *reply)
{
	struct call *c = arg;
	struct task *t = c->task;
	struct pool *p = t->p;

	t->replies[c->index] = *reply;
	reply->text = NULL;
	if (atomic_fetch_sub(&t->pending, 1) != 1)
		return;
	pthread_mutex_lock(&p->lock);
	t->next = NULL;
	if (p->ready_tail)
		p->ready_tail->next = t;
	else
		p->ready_head = t;
	p->ready_tail = t;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

/* The organization's allowed_models admit model (no list: every model). */
static int
step_generate_model_allowed(struct worker *w, struct task *t, const char *model, struct gb_err *err)
{
	const char *org_id = json_get_str(t->doc, "organization_id");
	const cJSON *allowed, *m;
	cJSON *org = NULL;
	int rc, ok;

	if ((rc = catalog_organization(w->p->cat, w->st, org_id ? org_id : "", &org, err)))
		return rc;
	allowed =
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(org, "settings"),
	    "allowed_models");
	ok = !cJSON_IsArray(allowed);
	for (m = ok ? NULL : allowed->child; m; m = m->next)
		if (cJSON_GetStringValue(m) && strcmp(cJSON_GetStringValue(m), model) == 0)
			ok = 1;
	cJSON_Delete(org);
	if (!ok)
		return gb_errf(err, GB_EPERM, "model '%s' is not allowed for organization '%s'",
		    model, org_id ? org_id : "");
	return 0;
}

/* The generation parameters of the component's config (stop sequences into stopv). */
static int
step_generate_params(const struct step *s, struct gen_params *gp, const char **stopv,
    struct gb_err *err)
{
	struct gb_err why = { 0, "" };

	memset(gp, 0, sizeof(*gp));
	if (json_get_str(s->config, "model") == NULL)
		return gb_errf(err, GB_EINVAL, "component '%s' has no config.model",
		    s->component_id);
	if (openai_params_from_config(s->config, gp, stopv, &why))
		return gb_errf(err, why.code, "component '%s': %s", s->component_id, why.msg);
	return 0;
}

/* Both prompts of every section, or the reason one cannot be built. */
static int
step_generate_prompts(const cJSON *data, const cJSON *sections, char **system, char **user,
    struct gb_err *err)
{
	int i = 0, rc;

	for (const cJSON *sec = sections->child; sec; sec = sec->next, i++) {
		struct gb_err why = { 0, "" };

		if ((rc = prompt_build(data, sec, &system[i], &user[i], &why)))
			return gb_errf(err, rc, "section %d: cannot build its prompt: %s", i + 1,
			    why.msg);
	}
	return 0;
}

/* Send the calls; one the generator refuses is answered here. Returns how many went out. */
static int
step_generate_submit(struct task *t, const cJSON *sections, char **system, char **user,
    struct gen_params *gp)
{
	struct pool *p = t->p;
	int i = 0, sent = 0;

	for (const cJSON *sec = sections->child; sec; sec = sec->next, i++) {
		struct gb_err why = { 0, "" };
		int rc;

		if (template_word_range(sec, &gp->words_min, &gp->words_max, &why)) {
			t->replies[i].code = GB_EINVAL;
			snprintf(t->replies[i].msg, sizeof(t->replies[i].msg), "%s", why.msg);
			atomic_fetch_sub(&t->pending, 1);
			continue;
		}
		t->calls[i].task = t;
		t->calls[i].index = i;
		rc = generator_submit(p->gen, system[i], user[i], gp, step_generate_on_reply,
		    &t->calls[i]);
		if (rc == 0) {
			sent++;
			continue;
		}
		/* this call never went out: answer it ourselves */
		t->replies[i].code = rc == GB_ESTATE ? GB_ESTATE : GB_ETRANSIENT;
		snprintf(t->replies[i].msg, sizeof(t->replies[i].msg), "%s",
		    rc == GB_ESTATE ? "generator closed" :
		    rc == GB_EBUSY ? "generator queue full" : "out of memory");
		atomic_fetch_sub(&t->pending, 1);
	}
	return sent;
}

static void
step_generate_prompts_free(char **system, char **user, int n)
{
	for (int i = 0; i < n; i++) {
		free(system[i]);
		free(user[i]);
	}
	free(system);
	free(user);
}

/* Count this worker as submitting unless the pool gives everything back. */
static int
step_generate_enter(struct pool *p)
{
	int ok;

	pthread_mutex_lock(&p->lock);
	ok = !p->releasing;
	if (ok)
		p->submitting++;
	pthread_mutex_unlock(&p->lock);
	return ok;
}

static void
step_generate_leave(struct pool *p)
{
	pthread_mutex_lock(&p->lock);
	p->submitting--;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

enum step_outcome
step_generate_start(struct worker *w, struct task *t, const struct step *s, struct gb_err *err)
{
	struct pool *p = w->p;
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(t->doc, "data");
	const cJSON *sections =
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(data, "template"),
	    "sections");
	const char *stopv[OPENAI_STOP_MAX];
	struct gen_params gp;
	char **system = NULL, **user = NULL;
	int n = cJSON_GetArraySize(sections), sent;

	if (!cJSON_IsArray(sections) || n == 0) {
		gb_errf(err, GB_EINVAL,
		    "ai_generator needs data.template.sections (run a template component first)");
		return STEP_FAILED;
	}
	if (step_generate_params(s, &gp, stopv, err) ||
	    step_generate_model_allowed(w, t, gp.model, err)) {
		/* a storage error while reading the organization is worth a retry */
		if (err->code != GB_EINVAL && err->code != GB_EPERM)
			err->code = GB_ETRANSIENT;
		return STEP_FAILED;
	}
	system = calloc((size_t)n, sizeof(*system));
	user = calloc((size_t)n, sizeof(*user));
	t->calls = calloc((size_t)n, sizeof(*t->calls));
	t->replies = calloc((size_t)n, sizeof(*t->replies));
	t->ncalls = n;
	if (system == NULL || user == NULL || t->calls == NULL || t->replies == NULL)
		gb_errf(err, GB_ETRANSIENT, "out of memory");
	else
		step_generate_prompts(data, sections, system, user, err);
	if (err->code) {
		step_generate_prompts_free(system, user, n);
		return STEP_FAILED;
	}
	if (!step_generate_enter(p)) {
		step_generate_prompts_free(system, user, n);
		return STEP_GIVE_BACK;
	}
	snprintf(t->provider, sizeof(t->provider), "%s", generator_provider(p->gen));
	atomic_store(&t->pending, n + 1);	/* + 1: ours, dropped after the last submit */
	sent = step_generate_submit(t, sections, system, user, &gp);
	step_generate_leave(p);
	step_generate_prompts_free(system, user, n);
	metric_add(p->m.gen_calls, sent);
	return atomic_fetch_sub(&t->pending, 1) == 1 ? STEP_DONE : STEP_PARKED;
}

/* How bad a reply is: closed, then permanent, then transient. */
static int
step_generate_rank(int code)
{
	return code == GB_ESTATE ? 3 : code == GB_ETRANSIENT ? 1 : code ? 2 : 0;
}

/* The worst reply decides: its code and message; the largest Retry-After of the transient ones. */
static enum step_outcome
step_generate_worst(const struct task *t, int64_t *retry_after_ms, struct gb_err *err)
{
	int worst = 0, at = -1;

	for (int i = 0; i < t->ncalls; i++) {
		int rank = step_generate_rank(t->replies[i].code);

		if (rank > worst) {
			worst = rank;
			at = i;
		}
		if (t->replies[i].code == GB_ETRANSIENT &&
		    t->replies[i].retry_after_ms > *retry_after_ms)
			*retry_after_ms = t->replies[i].retry_after_ms;
	}
	if (at < 0)
		return STEP_DONE;
	gb_errf(err, t->replies[at].code, "section %d: %s", at + 1, t->replies[at].msg);
	return worst == 3 ? STEP_GIVE_BACK : STEP_FAILED;
}

/* data.generated_content from the replies, in the template's section order. */
static cJSON *
step_generate_content(const struct task *t, const cJSON *sections)
{
	cJSON *gc = cJSON_CreateObject(), *body = cJSON_CreateArray();
	const cJSON *sec;
	int i;

	for (i = 0, sec = sections->child; sec && i < t->ncalls; sec = sec->next, i++) {
		const char *id = json_get_str(sec, "id"), *name = json_get_str(sec, "name");
		const char *text = t->replies[i].text ? t->replies[i].text : "";

		if (id && (strcmp(id, "introduction") == 0 || strcmp(id, "conclusion") == 0)) {
			cJSON_AddStringToObject(gc, id, text);
		} else {
			cJSON *item = cJSON_CreateObject();

			cJSON_AddStringToObject(item, "id", id ? id : "");
			cJSON_AddStringToObject(item, "title", name ? name : id ? id : "");
			cJSON_AddStringToObject(item, "content", text);
			cJSON_AddItemToArray(body, item);
		}
	}
	cJSON_AddItemToObject(gc, "body", body);
	return gc;
}

/* processing.usage: tokens the endpoint reported (the offline drafts bill none) and their cost. */
static cJSON *
step_generate_usage(struct pool *p, const struct task *t, const struct step *s)
{
	int64_t pt = 0, ct = 0;
	double cost;
	cJSON *usage = cJSON_CreateObject();

	for (int i = 0; i < t->ncalls; i++) {
		if (strcmp(t->replies[i].provider[0] ? t->replies[i].provider : t->provider,
		    OFFLINE_PROVIDER) == 0)
			continue;
		if (t->replies[i].prompt_tokens > 0 &&
		    t->replies[i].prompt_tokens < INT64_MAX / 4 / t->ncalls)
			pt += t->replies[i].prompt_tokens;
		if (t->replies[i].completion_tokens > 0 &&
		    t->replies[i].completion_tokens < INT64_MAX / 4 / t->ncalls)
			ct += t->replies[i].completion_tokens;
	}
	cost = (double)(pt + ct) / 1000.0 * (isfinite(s->cost_per_1k_tokens) &&
	    s->cost_per_1k_tokens > 0 ? s->cost_per_1k_tokens : 0);
	cJSON_AddNumberToObject(usage, "prompt_tokens", (double)pt);
	cJSON_AddNumberToObject(usage, "completion_tokens", (double)ct);
	cJSON_AddNumberToObject(usage, "total_tokens", (double)(pt + ct));
	cJSON_AddNumberToObject(usage, "cost", cost);
	cJSON_AddStringToObject(usage, "model", json_get_str(s->config, "model"));
	metric_add(p->m.prompt_tokens, (double)pt);
	metric_add(p->m.completion_tokens, (double)ct);
	metric_add(p->m.cost, cost);
	return usage;
}

/* Put item at data/processing key of the task's document and as an edit (its JSON text). */
static void
step_out_add(struct step_out *out, cJSON *parent, const char *key, const char *path, cJSON *item)
{
	out->path[out->n] = path;
	out->json[out->n++] = item ? cJSON_PrintUnformatted(item) : NULL;
	json_member_replace(parent, key, item);
}

static void
step_generate_calls_free(struct task *t)
{
	for (int i = 0; i < t->ncalls; i++)
		gen_reply_release(&t->replies[i]);
	free(t->replies);
	free(t->calls);
	t->replies = NULL;
	t->calls = NULL;
	t->ncalls = 0;
}

enum step_outcome
step_generate_finish(struct worker *w, struct task *t, const struct step *s, struct step_out *out,
    int64_t *retry_after_ms, struct gb_err *err)
{
	cJSON *data = json_member_object(t->doc, "data"),
	    *proc = json_member_object(t->doc, "processing");
	const cJSON *sections =
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(data, "template"),
	    "sections");
	enum step_outcome o;

	*retry_after_ms = -1;
	out->n = 0;
	if ((o = step_generate_worst(t, retry_after_ms, err)) != STEP_DONE)
		return o;
	if (!cJSON_IsArray(sections)) {
		gb_errf(err, GB_EINVAL, "data.template.sections changed while the generator ran");
		return STEP_FAILED;
	}
	step_out_add(out, data, "generated_content", "$.data.generated_content",
	    step_generate_content(t, sections));
	step_out_add(out, proc, "usage", "$.processing.usage", step_generate_usage(w->p, t, s));
	step_out_add(out, proc, "provider", "$.processing.provider",
	    cJSON_CreateString(t->replies[0].provider[0] ? t->replies[0].provider : t->provider));
	step_generate_calls_free(t);
	for (int i = 0; i < out->n; i++)
		if (out->json[i] == NULL) {
			step_out_release(out);
			gb_errf(err, GB_ETRANSIENT, "out of memory");
			return STEP_FAILED;
		}
	return STEP_DONE;
}
