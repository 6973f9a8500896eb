/*
 * submit.h - the rules for submitting new contexts, alone or as a batch,
 * kept in one place so run-batch and the REST API enforce the same ones:
 * which fields a new context may set, an organization's limits
 * (max_batch_size, max_contexts_per_day, allowed_models,
 * default_pipeline_id), that the pipeline exists and uses only allowed
 * models, and the writes themselves, all or nothing.
 *
 * A new context's input may set: _id, type, user_id, organization_id (its
 * organization's own only), metadata (an object; metadata.priority an
 * integer), data (an object; data.title a non-empty string is required;
 * data.keywords an array of strings; data.target_audience and data.tone
 * strings), pipeline_id (a context alone only, see below) and any other
 * field the engine does not own. The engine's state is refused: status,
 * retry_count, next_retry_at, processing (and processing.*), error,
 * pipeline, batch_id (set by the batch), created_at and updated_at (the
 * day's count of max_contexts_per_day goes by created_at).
 *
 * How a context finds its pipeline: a context of a batch runs its batch's
 * pipeline_id (it carries no pipeline of its own: pipeline_id in its input
 * is refused). A context created alone carries the top-level string
 * `pipeline_id`, fixed when it is created: its input's pipeline_id, else the
 * call's, else its organization's settings.default_pipeline_id (none of
 * them: refused); that pipeline is checked as a batch's is. The schema's
 * `pipeline` array (component types) stays the engine's: when a document
 * has one, it wins. The engine resolves, in this order: `pipeline`, the
 * context's pipeline_id, its batch's pipeline_id, the organization's
 * default_pipeline_id.
 *
 * Error codes: GB_EINVAL for input that breaks a rule (the message names
 * the field, without any position prefix: the caller adds "line N: " or
 * "contexts[i]: "), an unknown or inactive pipeline or component, and past
 * max_batch_size; GB_EPERM for a model not in allowed_models; GB_ELIMIT past
 * max_contexts_per_day (with the reset time in struct submit_result);
 * GB_EEXIST for an _id taken; any other code is a storage error.
 *
 * Called from one thread at a time per store.
 */
#ifndef GB_STORAGE_SUBMIT_H
#define GB_STORAGE_SUBMIT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "store.h"

/*
 * The most contexts one batch holds: its document lists their _ids and is
 * bound by STORE_MAX_DOC (16 MiB), which 500000 generated _ids (28
 * characters) stay well within. Past it, or past 16 MiB for long _ids or a
 * large metadata, submit_batch_add refuses (GB_EINVAL): more contexts go in
 * several batches.
 */
#define SUBMIT_MAX_BATCH 500000

/* An organization's settings that bound new contexts. */
struct submit_limits {
	int64_t max_batch_size;		/* -1: no limit */
	int64_t max_contexts_per_day;	/* contexts created since 00:00 UTC; -1: no limit */
	cJSON *allowed_models;		/* an array of strings, owned; NULL: every model */
	char default_pipeline_id[STORE_ID_MAX];	/* "": none */
};

/*
 * Read org's limits from its document's settings; an organization without
 * a document has none. GB_EINVAL when a setting has the wrong type (a
 * count not a whole number from 0). Release with submit_limits_release.
 */
int submit_read_limits(struct store *st, const char *org, struct submit_limits *lim,
    struct gb_err *err);
void submit_limits_release(struct submit_limits *lim);

/* 00:00 UTC after now_ms: when an organization's day count starts again. */
int64_t submit_day_reset_ms(int64_t now_ms);

/*
 * Check one new context's input ctx (a parsed JSON object) for org: in a
 * batch (in_batch) or alone. 0 or GB_EINVAL with a message naming the field
 * ("field 'data.title' is required"); noun is what the input is called in
 * them ("field 'status' is the engine's: a line may not set it"; NULL: "new
 * context").
 */
int submit_check_context(const cJSON *ctx, const char *org, int in_batch, const char *noun,
    struct gb_err *err);

/*
 * The pipeline pipeline_id as the engine would run it for org: it exists,
 * is the organization's or global (no organization_id; another
 * organization's is "unknown pipeline", exactly as a missing one), is
 * active, and each of its components is an active component of org; every
 * ai_generator among them names a model (its config.model, or the
 * pipeline's config_overrides.model) that lim->allowed_models holds.
 * GB_EINVAL (unknown or inactive pipeline or component), GB_EPERM naming
 * the model that is not allowed, or a storage error.
 */
int submit_check_pipeline(struct store *st, const char *org, const char *pipeline_id,
    const struct submit_limits *lim, struct gb_err *err);

/* One new context: its parsed input and, optionally, the exact text to write. */
struct submit_item {
	const cJSON *doc;		/* the parsed input: required */
	/* its JSON text (integers past 2^53 keep their digits; it must parse to
	   doc: GB_EINVAL otherwise), or NULL: doc printed */
	const char *text;
	size_t len;
};

struct submit_opts {
	const char *org;		/* the organization of everything created */
	const char *user;		/* the contexts' default user_id and the batch's
					 * created_by, or NULL */
	const char *pipeline_id;	/* a batch: required; contexts alone: their default,
					 * or NULL */
	const char *name;		/* a batch's name, or NULL */
	const cJSON *metadata;		/* a batch's metadata (an object), or NULL */
	const char *source;		/* metadata.source of a batch when its metadata has
					 * none, or NULL */
	const char *origin;		/* where the contexts come from, for messages: "the
					 * file"; NULL: "the request" */
	const char *noun;		/* what one context's input is called in messages:
					 * "line"; NULL: "new context" */
};

struct submit_result {
	char batch_id[STORE_ID_MAX];	/* the new batch ("" for contexts alone) */
	size_t count;			/* contexts created */
	size_t failed;			/* on error, the index of the context at fault;
					 * SIZE_MAX: none in particular */
	int64_t today;			/* GB_ELIMIT: contexts of the organization created
					 * today before these */
	int64_t reset_ms;		/* GB_ELIMIT: next 00:00 UTC, when the count starts again */
};

/*
 * A batch written as its contexts come (run-batch reads a file line by
 * line): submit_batch_begin opens a transaction, checks the pipeline and
 * writes the batch; submit_batch_add writes one context (in the batch's
 * order; past max_batch_size is refused at once); submit_batch_end checks
 * the day's count, completes the batch and commits. On any error the caller
 * calls submit_batch_abort, which undoes everything; after a successful
 * submit_batch_end, submit_batch_abort only frees. Each takes res (the
 * same one throughout) for the batch's _id, count and a limit's details.
 */
struct submit_batch;
int submit_batch_begin(struct store *st, const struct submit_opts *o, struct submit_batch **out,
    struct submit_result *res, struct gb_err *err);
/* The new context's _id goes to id (may be NULL). */
int submit_batch_add(struct submit_batch *b, const struct submit_item *it, char id[STORE_ID_MAX],
    struct submit_result *res, struct gb_err *err);
int submit_batch_end(struct submit_batch *b, struct submit_result *res, struct gb_err *err);
void submit_batch_abort(struct submit_batch *b);

/* A batch and its n contexts at once, all or nothing; res->failed names a context at fault. */
int submit_batch_create(struct store *st, const struct submit_opts *o,
    const struct submit_item *items, size_t n, struct submit_result *res, struct gb_err *err);

/*
 * n contexts without a batch (the API's insertMany, or one), all or
 * nothing, each with its pipeline_id (see above); their _ids go to ids (n
 * slots, may be NULL). Past max_batch_size (n > it) is GB_EINVAL.
 */
int submit_contexts_create(struct store *st, const struct submit_opts *o,
    const struct submit_item *items, size_t n, char (*ids)[STORE_ID_MAX], struct submit_result *res,
    struct gb_err *err);

#endif
