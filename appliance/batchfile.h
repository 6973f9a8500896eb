/*
 * batchfile.h - run-batch's input: a file of JSON lines, each one a new
 * context, read into a new batch in one transaction (a bad line, or a file
 * past the organization's limits, creates nothing).
 *
 * A line may set: _id, type, user_id, organization_id (the
 * batch's own only), metadata (metadata.priority an integer), data
 * (data.title a non-empty string is required; data.keywords an array of
 * strings; data.target_audience and data.tone strings) and any other field
 * the engine does not own. The engine's state is refused: status,
 * retry_count, next_retry_at, processing (and processing.*), error,
 * pipeline (the batch's pipeline runs), batch_id (run-batch sets it),
 * created_at and updated_at (the day's count of max_contexts_per_day goes
 * by created_at).
 *
 * Called from one thread at a time per store.
 */
#ifndef GB_BATCHFILE_H
#define GB_BATCHFILE_H

#include <stddef.h>
#include <stdint.h>

#include "../storage/store.h"

/* An organization's bounds on a new batch (its settings); -1: no limit. */
struct batchfile_limits {
	int64_t max_batch_size;
	int64_t max_contexts_per_day;	/* contexts created since 00:00 UTC */
};

struct batchfile_opts {
	const char *input;		/* a path, or "-" for stdin */
	const char *pipeline;		/* the batch's pipeline_id */
	const char *org;		/* the batch's organization */
	const char *user;		/* created_by and the contexts' user_id, or NULL */
	struct batchfile_limits limits;
};

/*
 * Read the organization's limits from its document's settings; an
 * organization without a document has none. GB_EINVAL when a setting is
 * not a whole number from 0.
 */
int batchfile_read_limits(struct store *st, const char *org, struct batchfile_limits *lim, struct gb_err *err);

/*
 * Create the batch and its contexts from o->input; the batch's _id goes to
 * batch and the number of contexts to *count. On error nothing is kept, and
 * the message starts with "line N: " when a line is at fault.
 */
int batchfile_create(struct store *st, const struct batchfile_opts *o, char batch[STORE_ID_MAX], size_t *count,
    struct gb_err *err);

#endif
