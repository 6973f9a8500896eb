/*
 * catalog.h - the in-process caches of the catalog (templates 3600 s, each
 * organization's component registry 1800 s, pipelines and organizations
 * 1800 s) and pipeline resolution on top of them.
 *
 * Entries are dropped when their TTL passes or when storage's catalog
 * generation moved (any write to templates, components, pipelines or
 * organizations, by anyone), so nothing calls "invalidate" from above.
 * Thread-safe: one mutex guards the maps and counters; lookups return copies
 * the caller owns. Hits and misses are also counted in a metrics registry
 * (genbox_catalog_cache_hits_total / _misses_total, label cache).
 */
#ifndef GB_CATALOG_H
#define GB_CATALOG_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "../../base/metrics.h"
#include "../../storage/store.h"

#define CATALOG_TEMPLATE_TTL_MS (3600 * 1000)
#define CATALOG_REGISTRY_TTL_MS (1800 * 1000)

struct catalog;

struct catalog_stats {
	int64_t hits, misses;		/* all lookups */
	int64_t template_hits, template_misses;
	int64_t registry_hits, registry_misses;
};

/* One resolved step of a pipeline. */
struct step {
	char type[32];			/* template, ai_generator, transformer */
	char component_id[STORE_ID_MAX];
	cJSON *config;			/* the component's config with the overrides merged
					 * in; owned */
	double cost_per_1k_tokens;	/* the component's metadata, 0 when absent */
};

/* m: where hits and misses are counted too (NULL: nowhere). */
struct catalog *catalog_new(struct metrics *m);
void catalog_free(struct catalog *cat);
void catalog_stats(struct catalog *cat, struct catalog_stats *out);

/*
 * Copies of catalog documents (caller frees with cJSON_Delete), from cache or
 * from st. An absent document is GB_EINVAL ("unknown template 'x'"): the
 * context that needs it fails for good; a storage error keeps its own code.
 */
int catalog_template(struct catalog *cat, struct store *st, const char *id, cJSON **out,
    struct gb_err *err);
int catalog_organization(struct catalog *cat, struct store *st, const char *id, cJSON **out,
    struct gb_err *err);

/*
 * The steps a context runs: its `pipeline` list of component types, each
 * resolved through its organization's active components; or else the
 * pipeline document of its own pipeline_id (a context created alone, see
 * storage/submit.h), of its batch's pipeline_id, or of the organization's
 * default_pipeline_id, whose components run in `order` with
 * config_overrides merged over each component's config. An unknown
 * component or pipeline is GB_EINVAL naming it; a batch that cannot be read
 * (other than absent) is a storage error, never a reason to run the default
 * pipeline. Any code but GB_EINVAL is such a storage error. *steps: free with
 * catalog_steps_free. An empty `pipeline` list gives no steps.
 */
int catalog_resolve(struct catalog *cat, struct store *st, const cJSON *ctx, struct step **steps,
    int *n, char pipeline_id[STORE_ID_MAX], struct gb_err *err);
void catalog_steps_free(struct step *steps, int n);

/* Merge overrides over base (objects merge key by key, recursively); returns a new tree. */
cJSON *catalog_merge(const cJSON *base, const cJSON *overrides);

#endif
