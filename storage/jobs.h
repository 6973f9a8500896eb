/*
 * jobs.h - the last run of each of the box's own jobs (archive, backup,
 * quick_check, optimize, ...), kept in the database so that the CLI, the
 * daemon and /healthz, /metrics and the UI see the same thing.
 *
 * A job is named by a short word; a run begins (store_job_begin: running 1,
 * started_ms) and ends (store_job_end: ok, what it counted as a JSON object,
 * its error). last_ok_ms is the end of the last run that went well; it
 * survives failed runs. All functions return 0 or a negative GB_E* code
 * with a message in err.
 */
#ifndef GB_STORAGE_JOBS_H
#define GB_STORAGE_JOBS_H

#include <stdint.h>

#include "store.h"

#define STORE_JOB_NAME_MAX 32
#define STORE_JOB_COUNTS_MAX 1024
#define STORE_JOB_ERROR_MAX 512

struct store_job {
	char job[STORE_JOB_NAME_MAX];
	int64_t started_ms;		/* 0: never run */
	int64_t finished_ms;		/* 0: never finished */
	int64_t last_ok_ms;		/* 0: never went well */
	int ok;				/* the last finished run went well */
	int running;			/* begun and not ended (or its process died) */
	char counts[STORE_JOB_COUNTS_MAX];	/* JSON object, "{}" when none */
	char error[STORE_JOB_ERROR_MAX];	/* "" when none */
};

/* A run of job begins at now_ms. */
int store_job_begin(struct store *st, const char *job, int64_t now_ms, struct gb_err *err);
/*
 * The run of job ends at now_ms: ok or not, counts a JSON object (NULL:
 * "{}"; longer than STORE_JOB_COUNTS_MAX refused), error (NULL or "" when
 * ok; cut to STORE_JOB_ERROR_MAX).
 */
int store_job_end(struct store *st, const char *job, int64_t now_ms, int ok,
    const char *counts, const char *error, struct gb_err *err);
/* The last run of job; *found 0 (and *out zeroed, counts "{}") when never run. */
int store_job_get(struct store *st, const char *job, struct store_job *out, int *found,
    struct gb_err *err);
/* Every job on record, by name; *n of at most max. */
int store_job_list(struct store *st, struct store_job *out, int max, int *n,
    struct gb_err *err);

#endif
