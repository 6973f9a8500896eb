/*
 * catalog.c - TTL caches over the catalog collections, checked against
 * storage's catalog generation, and pipeline resolution.
 *
 * The maps are small (a few templates, components and pipelines per
 * organization), so each is a linked list under one mutex; lookups copy out
 * so no caller holds a pointer into the cache.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../base/gbtime.h"
#include "../../base/json.h"
#include "../../storage/access.h"
#include "../../storage/docs.h"
#include "../../storage/store.h"
#include "catalog.h"

enum kind { K_TEMPLATE, K_REGISTRY, K_PIPELINE, K_ORG };

struct entry {
	enum kind kind;
	char key[STORE_ID_MAX];
	cJSON *doc;		/* registry: an array of the organization's components */
	int64_t loaded_ms;
	int64_t gen;
	struct entry *next;
};

struct catalog {
	pthread_mutex_t lock;	/* guards everything below */
	struct entry *entries;
	struct catalog_stats counters;
	struct metric *m_hits[4], *m_misses[4];	/* by enum kind */
};

struct catalog *
catalog_new(struct metrics *m)
{
	static const char *const labels[] = { "cache=\"template\"", "cache=\"registry\"",
		"cache=\"pipeline\"", "cache=\"organization\"" };
	struct catalog *cat = calloc(1, sizeof(*cat));

	if (cat == NULL)
		return NULL;
	pthread_mutex_init(&cat->lock, NULL);
	for (int k = 0; m && k < 4; k++) {
		cat->m_hits[k] = metrics_counter(m, "genbox_catalog_cache_hits_total", labels[k],
		    "Catalog lookups answered from the in-process cache");
		cat->m_misses[k] = metrics_counter(m, "genbox_catalog_cache_misses_total",
		    labels[k], "Catalog lookups that read storage");
	}
	return cat;
}

void
catalog_free(struct catalog *cat)
{
	if (cat == NULL)
		return;
	while (cat->entries) {
		struct entry *e = cat->entries;

		cat->entries = e->next;
		cJSON_Delete(e->doc);
		free(e);
	}
	pthread_mutex_destroy(&cat->lock);
	free(cat);
}

void
catalog_stats(struct catalog *cat, struct catalog_stats *out)
{
	pthread_mutex_lock(&cat->lock);
	*out = cat->counters;
	pthread_mutex_unlock(&cat->lock);
}

static void
catalog_count(struct catalog *cat, enum kind kind, int hit)
{
	metric_add(hit ? cat->m_hits[kind] : cat->m_misses[kind], 1);
	if (hit)
		cat->counters.hits++;
	else
		cat->counters.misses++;
	if (kind == K_TEMPLATE) {
		if (hit)
			cat->counters.template_hits++;
		else
			cat->counters.template_misses++;
	} else if (kind == K_REGISTRY) {
		if (hit)
			cat->counters.registry_hits++;
		else
			cat->counters.registry_misses++;
	}
}

/* A copy of a valid cached entry, or NULL (expired or stale entries are dropped). */
static cJSON *
catalog_lookup(struct catalog *cat, enum kind kind, const char *key, int64_t gen, int64_t now)
{
	int64_t ttl = kind == K_TEMPLATE ? CATALOG_TEMPLATE_TTL_MS : CATALOG_REGISTRY_TTL_MS;
	struct entry **pp, *e;
	cJSON *copy = NULL;

	pthread_mutex_lock(&cat->lock);
	for (pp = &cat->entries; (e = *pp) != NULL; pp = &e->next) {
		if (e->kind != kind || strcmp(e->key, key) != 0)
			continue;
		if (e->gen == gen && now - e->loaded_ms < ttl) {
			copy = cJSON_Duplicate(e->doc, 1);
		} else {
			*pp = e->next;
			cJSON_Delete(e->doc);
			free(e);
		}
		break;
	}
	catalog_count(cat, kind, copy != NULL);
	pthread_mutex_unlock(&cat->lock);
	return copy;
}

static void
catalog_remember(struct catalog *cat, enum kind kind, const char *key, const cJSON *doc,
    int64_t gen, int64_t now)
{
	struct entry *e = calloc(1, sizeof(*e));

	if (e == NULL || (e->doc = cJSON_Duplicate(doc, 1)) == NULL) {
		free(e);
		return;		/* not cached: the next lookup loads again */
	}
	e->kind = kind;
	snprintf(e->key, sizeof(e->key), "%s", key);
	e->gen = gen;
	e->loaded_ms = now;
	pthread_mutex_lock(&cat->lock);
	/* workers that missed the same key at once each load it: one entry per key stays */
	for (struct entry **pp = &cat->entries, *old; (old = *pp) != NULL; pp = &old->next)
		if (old->kind == kind && strcmp(old->key, key) == 0) {
			*pp = old->next;
			cJSON_Delete(old->doc);
			free(old);
			break;
		}
	e->next = cat->entries;
	cat->entries = e;
	pthread_mutex_unlock(&cat->lock);
}

static int
catalog_load(struct catalog *cat, struct store *st, enum kind kind, enum coll c, const char *id,
    cJSON **out, struct gb_err *err)
{
	int64_t gen, now = gb_mono_ms();
	char *text = NULL;
	int rc;

	*out = NULL;
	if ((rc = store_catalog_gen(st, &gen, err)))
		return rc;
	if ((*out = catalog_lookup(cat, kind, id, gen, now)) != NULL)
		return 0;
	if ((rc = store_get(st, c, id, &text, err))) {
		if (rc == GB_ENOTFOUND) {
			gb_err_clear(err);
			rc = gb_errf(err, GB_EINVAL, "unknown %s '%s'",
			    c == COLL_TEMPLATES ? "template" :
			    c == COLL_PIPELINES ? "pipeline" : "organization", id);
		}
		return rc;
	}
	*out = cJSON_Parse(text);
	free(text);
	if (*out == NULL)
		return gb_errf(err, GB_EIO, "stored document '%s' is not JSON", id);
	catalog_remember(cat, kind, id, *out, gen, now);
	return 0;
}

int
catalog_template(struct catalog *cat, struct store *st, const char *id, cJSON **out,
    struct gb_err *err)
{
	return catalog_load(cat, st, K_TEMPLATE, COLL_TEMPLATES, id, out, err);
}

int
catalog_organization(struct catalog *cat, struct store *st, const char *id, cJSON **out,
    struct gb_err *err)
{
	return catalog_load(cat, st, K_ORG, COLL_ORGANIZATIONS, id, out, err);
}

static int
catalog_add_component(void *arg, const char *doc, size_t len)
{
	cJSON *c = cJSON_ParseWithLength(doc, len);

	if (c == NULL)
		return GB_EIO;
	cJSON_AddItemToArray(arg, c);
	return 0;
}

/* The organization's components (all of them; callers skip inactive ones). */
static int
catalog_registry(struct catalog *cat, struct store *st, const char *org, cJSON **out,
    struct gb_err *err)
{
	char filter[STORE_ID_MAX + 64];
	int64_t gen, now = gb_mono_ms();
	cJSON *name;
	int rc;

	if ((rc = store_catalog_gen(st, &gen, err)))
		return rc;
	if ((*out = catalog_lookup(cat, K_REGISTRY, org, gen, now)) != NULL)
		return 0;
	/* the filter is JSON: quote the organization with cJSON */
	if ((name = cJSON_CreateString(org)) == NULL || (*out = cJSON_CreateArray()) == NULL) {
		cJSON_Delete(name);
		return gb_errf(err, GB_ENOMEM, "out of memory");
	}
	{
		char *q = cJSON_PrintUnformatted(name);

		snprintf(filter, sizeof(filter), "{\"organization_id\":%s}", q ? q : "null");
		free(q);
	}
	cJSON_Delete(name);
	if ((rc = store_each(st, COLL_COMPONENTS, filter, 0, catalog_add_component, *out, err))) {
		cJSON_Delete(*out);
		*out = NULL;
		return rc == GB_EIO && err->code == 0 ?
		    gb_errf(err, GB_EIO, "stored component is not JSON") : rc;
	}
	catalog_remember(cat, K_REGISTRY, org, *out, gen, now);
	return 0;
}

static int
catalog_active(const cJSON *doc)
{
	return !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(doc, "is_active"));
}

cJSON *
catalog_merge(const cJSON *base, const cJSON *overrides)
{
	cJSON *out = cJSON_IsObject(base) ? cJSON_Duplicate(base, 1) : cJSON_CreateObject();
	const cJSON *o;

	if (out == NULL || !cJSON_IsObject(overrides))
		return out;
	for (o = overrides->child; o; o = o->next) {
		cJSON *cur = cJSON_GetObjectItemCaseSensitive(out, o->string), *repl;

		if (cJSON_IsObject(cur) && cJSON_IsObject(o))
			repl = catalog_merge(cur, o);
		else
			repl = cJSON_Duplicate(o, 1);
		if (repl == NULL)
			continue;
		if (cur)
			cJSON_ReplaceItemInObjectCaseSensitive(out, o->string, repl);
		else
			cJSON_AddItemToObject(out, o->string, repl);
	}
	return out;
}

static int
catalog_fill_step(struct step *s, const cJSON *comp, const cJSON *overrides)
{
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(comp, "metadata");
	const cJSON *cost = cJSON_GetObjectItemCaseSensitive(meta, "cost_per_1k_tokens");

	snprintf(s->type, sizeof(s->type), "%s",
	    json_get_str(comp, "type") ? json_get_str(comp, "type") : "");
	snprintf(s->component_id, sizeof(s->component_id), "%s",
	    json_get_str(comp, "_id") ? json_get_str(comp, "_id") : "");
	s->config = catalog_merge(cJSON_GetObjectItemCaseSensitive(comp, "config"), overrides);
	s->cost_per_1k_tokens = cJSON_IsNumber(cost) ? cost->valuedouble : 0;
	return s->config ? 0 : GB_ENOMEM;
}

void
catalog_steps_free(struct step *steps, int n)
{
	for (int i = 0; steps && i < n; i++)
		cJSON_Delete(steps[i].config);
	free(steps);
}

static int
catalog_by_order(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
	const cJSON *ox = cJSON_GetObjectItemCaseSensitive(x, "order");
	const cJSON *oy = cJSON_GetObjectItemCaseSensitive(y, "order");
	double dx = cJSON_IsNumber(ox) ? ox->valuedouble : 0,
	    dy = cJSON_IsNumber(oy) ? oy->valuedouble : 0;

	return (dx > dy) - (dx < dy);
}

/* The steps of a pipeline document. */
static int
catalog_from_pipeline(struct catalog *cat, struct store *st, const char *org, const char *pipe_id,
    struct step **steps, int *n, struct gb_err *err)
{
	cJSON *pipe = NULL, *reg = NULL;
	const cJSON **order = NULL, *comps;
	int rc, k = 0;

	if ((rc = catalog_load(cat, st, K_PIPELINE, COLL_PIPELINES, pipe_id, &pipe, err)))
		return rc;
	if (json_get_str(pipe, "organization_id") &&
	    strcmp(json_get_str(pipe, "organization_id"), org) != 0) {
		rc = gb_errf(err, GB_EINVAL, "pipeline '%s' belongs to another organization",
		    pipe_id);
		goto out;
	}
	if (!catalog_active(pipe)) {
		rc = gb_errf(err, GB_EINVAL, "pipeline '%s' is not active", pipe_id);
		goto out;
	}
	comps = cJSON_GetObjectItemCaseSensitive(pipe, "components");
	k = cJSON_GetArraySize(comps);
	if ((rc = catalog_registry(cat, st, org, &reg, err)))
		goto out;
	order = calloc((size_t)k + 1, sizeof(*order));
	*steps = calloc((size_t)k + 1, sizeof(**steps));
	if (order == NULL || *steps == NULL) {
		rc = gb_errf(err, GB_ENOMEM, "out of memory");
		goto out;
	}
	k = 0;
	for (const cJSON *c = comps ? comps->child : NULL; c; c = c->next)
		order[k++] = c;
	/* stable enough: orders are distinct */
	qsort(order, (size_t)k, sizeof(*order), catalog_by_order);
	for (int i = 0; i < k; i++) {
		const char *cid = json_get_str(order[i], "component_id");
		const cJSON *comp = NULL, *c;

		for (c = reg->child; c && cid; c = c->next)
			if (json_get_str(c, "_id") && strcmp(json_get_str(c, "_id"), cid) == 0)
				comp = c;
		if (comp == NULL || !catalog_active(comp)) {
			rc = gb_errf(err, GB_EINVAL, "pipeline '%s': unknown component '%s'",
			    pipe_id, cid ? cid : "");
			goto out;
		}
		if ((rc = catalog_fill_step(&(*steps)[i], comp,
		    cJSON_GetObjectItemCaseSensitive(order[i], "config_overrides")))) {
			rc = gb_errf(err, GB_ENOMEM, "out of memory");
			goto out;
		}
		*n = i + 1;
	}
	*n = k;
out:
	if (rc) {
		catalog_steps_free(*steps, *n);
		*steps = NULL;
		*n = 0;
	}
	free(order);
	cJSON_Delete(pipe);
	cJSON_Delete(reg);
	return rc;
}

/*
 * The pipeline_id of a context's batch, or "" when the batch is gone or
 * names none. A batch that cannot be read is an error: running the
 * organization's default pipeline instead would be a silent wrong answer.
 */
static int
catalog_batch_pipeline(struct store *st, const char *batch, char pipeline_id[STORE_ID_MAX],
    struct gb_err *err)
{
	int rc = store_batch_pipeline(st, batch, pipeline_id, err);

	if (rc == GB_ENOTFOUND) {
		gb_err_clear(err);
		return 0;
	}
	return rc;
}

/* The active component of type in the registry; several of a type: the first by _id, every time. */
static const cJSON *
catalog_component_of_type(const cJSON *reg, const char *type)
{
	const cJSON *comp = NULL;

	for (const cJSON *c = reg->child; c; c = c->next) {
		const char *ct = json_get_str(c, "type"), *id = json_get_str(c, "_id");

		if (catalog_active(c) && ct && strcmp(ct, type) == 0 &&
		    (comp == NULL || strcmp(id ? id : "",
		    json_get_str(comp, "_id") ? json_get_str(comp, "_id") : "") < 0))
			comp = c;
	}
	return comp;
}

/* The steps of a context's own `pipeline` list of component types. */
static int
catalog_from_list(struct catalog *cat, struct store *st, const char *org, const cJSON *list,
    struct step **steps, int *n, struct gb_err *err)
{
	int k = cJSON_GetArraySize(list), rc = 0;
	cJSON *reg = NULL;

	if (k == 0)
		return 0;
	if ((rc = catalog_registry(cat, st, org, &reg, err)))
		return rc;
	if ((*steps = calloc((size_t)k, sizeof(**steps))) == NULL) {
		cJSON_Delete(reg);
		return gb_errf(err, GB_ENOMEM, "out of memory");
	}
	k = 0;
	for (const cJSON *t = list->child; t && rc == 0; t = t->next, k++) {
		const char *type = cJSON_GetStringValue(t);
		const cJSON *comp = type ? catalog_component_of_type(reg, type) : NULL;

		if (comp == NULL)
			rc = gb_errf(err, GB_EINVAL, "unknown component '%s' for organization '%s'",
			    type ? type : "?", org);
		else if (catalog_fill_step(&(*steps)[k], comp, NULL))
			rc = gb_errf(err, GB_ENOMEM, "out of memory");
		else
			*n = k + 1;
	}
	cJSON_Delete(reg);
	if (rc) {
		catalog_steps_free(*steps, *n);
		*steps = NULL;
		*n = 0;
	}
	return rc;
}

/* The organization's default_pipeline_id into pipeline_id, or GB_EINVAL when it names none. */
static int
catalog_default_pipeline(struct catalog *cat, struct store *st, const char *org,
    char pipeline_id[STORE_ID_MAX], struct gb_err *err)
{
	cJSON *doc = NULL;
	const char *def;
	int rc;

	if ((rc = catalog_organization(cat, st, org, &doc, err)))
		return rc;
	def =
	    json_get_str(cJSON_GetObjectItemCaseSensitive(doc, "settings"), "default_pipeline_id");
	if (def)
		snprintf(pipeline_id, STORE_ID_MAX, "%s", def);
	cJSON_Delete(doc);
	if (pipeline_id[0] == '\0')
		return gb_errf(err, GB_EINVAL,
		    "no pipeline: the context has no pipeline list, and neither its "
		    "batch nor organization '%s' names a pipeline", org);
	return 0;
}

int
catalog_resolve(struct catalog *cat, struct store *st, const cJSON *ctx, struct step **steps,
    int *n, char pipeline_id[STORE_ID_MAX], struct gb_err *err)
{
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(ctx, "pipeline");
	const char *org = json_get_str(ctx, "organization_id"),
	    *batch = json_get_str(ctx, "batch_id");
	const char *own = json_get_str(ctx, "pipeline_id");
	int rc;

	*steps = NULL;
	*n = 0;
	pipeline_id[0] = '\0';
	if (org == NULL)
		return gb_errf(err, GB_EINVAL, "context has no organization_id");
	if (cJSON_IsArray(list))
		return catalog_from_list(cat, st, org, list, steps, n, err);
	/*
	 * a pipeline document: the context's own (created alone), its batch's,
	 * or the organization's default
	 */
	if (own != NULL)
		snprintf(pipeline_id, STORE_ID_MAX, "%s", own);
	else if (batch != NULL && (rc = catalog_batch_pipeline(st, batch, pipeline_id, err)))
		return rc;
	if (pipeline_id[0] == '\0' &&
	    (rc = catalog_default_pipeline(cat, st, org, pipeline_id, err)))
		return rc;
	return catalog_from_pipeline(cat, st, org, pipeline_id, steps, n, err);
}
