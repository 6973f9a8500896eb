/*
 * access.h - the schema's access patterns on contexts (worker polling, a
 * user's history, a batch's status summary), counts per status, the catalog
 * generation, and the query plans that show which index serves each.
 *
 * All functions return 0 or a negative GB_E* code with a message in err.
 */
#ifndef GB_STORAGE_ACCESS_H
#define GB_STORAGE_ACCESS_H

#include <stdint.h>

#include "docs.h"
#include "store.h"

/*
 * Worker polling: ids of pending contexts of org that are due (next_retry_at
 * null or not after now_ms), by metadata.priority then created_at, at most
 * limit of them. ids is an array of limit slots; *n receives the count.
 */
int store_ctx_poll(struct store *st, const char *org, int64_t now_ms, int limit,
    char (*ids)[STORE_ID_MAX], int *n, struct gb_err *err);

/* A user's recent contexts (user and org, created_at descending): fn per document. */
int store_ctx_user_recent(struct store *st, const char *user, const char *org, int limit,
    store_doc_fn fn, void *arg, struct gb_err *err);

/* A batch's status summary: counts[s] for every enum ctx_status. */
int store_batch_summary(struct store *st, const char *batch_id,
    int64_t counts[CTX_STATUS_COUNT], struct gb_err *err);

/* Contexts per status over the whole mirror. */
int store_ctx_status_counts(struct store *st, int64_t counts[CTX_STATUS_COUNT], struct gb_err *err);

/*
 * Contexts of org created at or after since_ms (by anyone: run-batch,
 * import, the API), those of batch except_batch aside (NULL: none), into
 * *n: what an organization's max_contexts_per_day counts. One index seek
 * on the organization, no document parsed.
 */
int store_ctx_count_created(struct store *st, const char *org, int64_t since_ms,
    const char *except_batch, int64_t *n, struct gb_err *err);

/*
 * The pipeline_id of batch batch_id into out ("" when it has none), read
 * without parsing the document (whose context_ids may be long): what the
 * engine resolves for each of the batch's contexts. GB_ENOTFOUND when there
 * is no such batch, GB_EIO when its stored document is not a JSON object.
 */
int store_batch_pipeline(struct store *st, const char *batch_id, char out[STORE_ID_MAX],
    struct gb_err *err);

/* Bumped by every write to templates, components, pipelines, organizations. */
int store_catalog_gen(struct store *st, int64_t *gen, struct gb_err *err);

/*
 * The query plan of one access pattern, for tests: "poll", "user_recent",
 * "batch_summary", "status_update", "claim".
 */
int store_explain(struct store *st, const char *pattern, char **plan, struct gb_err *err);

#endif
