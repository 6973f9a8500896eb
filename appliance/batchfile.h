/*
 * batchfile.h - run-batch's input: a file of JSON lines, each one a new
 * context, read into a new batch in one transaction (a bad line, or a file
 * past the organization's limits, creates nothing).
 *
 * What a line may set, the organization's limits (max_batch_size,
 * max_contexts_per_day, allowed_models) and the pipeline's check are
 * storage/submit.h's rules, the same the API follows; a line at fault is
 * named ("line N: field 'data.title' is required").
 *
 * Called from one thread at a time per store.
 */
#ifndef GB_BATCHFILE_H
#define GB_BATCHFILE_H

#include <stddef.h>

#include "../storage/store.h"
#include "../storage/submit.h"

struct batchfile_opts {
	const char *input;		/* a path, or "-" for stdin */
	const char *pipeline;		/* the batch's pipeline_id */
	const char *org;		/* the batch's organization */
	const char *user;		/* created_by and the contexts' user_id, or NULL */
};

/*
 * Create the batch and its contexts from o->input; the batch's _id goes to
 * batch and the number of contexts to *count. On error nothing is kept, and
 * the message starts with "line N: " when a line is at fault.
 */
int batchfile_create(struct store *st, const struct batchfile_opts *o, char batch[STORE_ID_MAX],
    size_t *count, struct gb_err *err);

#endif
