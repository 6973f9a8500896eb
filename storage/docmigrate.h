/*
 * docmigrate.h - document migrations: named changes to the shape of stored
 * documents, run in order, in batches, resumable and idempotent (the
 * schema's "Migration Strategy", step 3: "update existing documents in
 * batches").
 *
 * A migration selects the documents still in the old shape (a migrated
 * document no longer matches, so a rerun finds nothing) and rewrites them
 * in _id order. Each batch is one transaction together with the
 * migration's checkpoint (table doc_migrations: last_id, migrated), so a
 * run killed at any point resumes after the last committed batch and
 * every document is migrated exactly once. A run that reaches the end
 * marks the migration done; a later run starts a new pass from the first
 * _id (documents an older box or the cluster wrote in the old shape since
 * are found then). A migrated document gets a new updated_at (later than
 * its old one), so the change syncs through the outbox.
 *
 * Real runs record the job "docmigrate" (jobs.h). All functions return 0
 * or a negative GB_E* code with a message in err.
 */
#ifndef GB_STORAGE_DOCMIGRATE_H
#define GB_STORAGE_DOCMIGRATE_H

#include <stdint.h>

#include "store.h"

#define DOCMIG_NAME_MAX 64
#define DOCMIG_DEFAULT_BATCH 500
#define DOCMIG_MAX_BATCH 100000

/* A migration of the registry. */
struct docmig_info {
	const char *name;		/* "component_timings" */
	const char *summary;		/* one line */
	enum coll coll;
};

/* How many migrations the registry holds, and the i-th in order (NULL past the last). */
int store_docmig_count(void);
const struct docmig_info *store_docmig_at(int i);
/* The migration named name, or NULL. */
const struct docmig_info *store_docmig_find(const char *name);
/* The registry's name closest to name (edit distance): for "did you mean". */
const char *store_docmig_nearest(const char *name);

/* The checkpoint of one migration (doc_migrations). */
struct docmig_state {
	int found;			/* 0: never begun (the rest zero) */
	int done;
	char last_id[STORE_ID_MAX];	/* "" before the first batch of a pass */
	int64_t migrated;		/* documents migrated by every run so far */
	int64_t started_ms, finished_ms;
};

int store_docmig_state(struct store *st, const char *name, struct docmig_state *out,
    struct gb_err *err);

/* What a run has done so far, given to the progress callback after each batch. */
struct docmig_progress {
	const char *name;
	int64_t batches;		/* committed by this run */
	int64_t migrated;		/* by this run */
	int64_t total;			/* selected when this run began (after the checkpoint) */
	const char *last_id;		/* the checkpoint now */
};

typedef void (*docmig_progress_fn)(void *arg, const struct docmig_progress *p);

struct docmig_opts {
	int batch_size;			/* 0: DOCMIG_DEFAULT_BATCH; at most DOCMIG_MAX_BATCH */
	int dry_run;			/* count what would be migrated; change nothing */
	docmig_progress_fn progress;	/* NULL: none */
	void *arg;
};

struct docmig_result {
	int64_t selected;		/* documents selected when the run began */
	int64_t migrated;		/* by this run (dry run: 0) */
	int64_t batches;
	int resumed;			/* began after the checkpoint of an interrupted run */
	char resumed_after[STORE_ID_MAX];
};

/*
 * Run the migration name (GB_ENOTFOUND for a name not in the registry) in
 * transactions of opts->batch_size documents. A dry run counts the
 * documents selected from the first _id and writes nothing (no job row).
 */
int store_docmig_run(struct store *st, const char *name, const struct docmig_opts *opts,
    struct docmig_result *res, struct gb_err *err);

#endif
