/*
 * pipestats.h - pipeline statistics, the schema's pipeline_stats: the
 * durations of the contexts of each pipeline that ended in the last day.
 * The engine adds one as each context ends; the API, the UI and sync read
 * them.
 *
 * All functions return 0 or a negative GB_E* code with a message in err.
 */
#ifndef GB_STORAGE_PIPESTATS_H
#define GB_STORAGE_PIPESTATS_H

#include <stdint.h>

#include "store.h"

#define PIPELINE_STATS_WINDOW_MS (86400 * 1000)

/*
 * p50 and p95 by nearest rank: the smallest duration with at least 50 % (95 %)
 * of them at or below it.
 */
struct store_pipeline_stats { int64_t count; double mean_ms; int64_t p50_ms, p95_ms; };

/*
 * One duration of a context of pipeline_id that ended at at_ms (call inside
 * the ending transaction). Rows older than the window are pruned now and
 * then (at most once a minute of at_ms). GB_EINVAL for an empty pipeline_id
 * or a negative duration.
 */
int store_pipeline_stat_add(struct store *st, const char *pipeline_id, int64_t at_ms,
    int64_t duration_ms, struct gb_err *err);
/* One duration for store_pipeline_stat_add_many. */
struct pipeline_stat {
	const char *pipeline_id;
	int64_t at_ms, duration_ms;
};

/*
 * n durations in one INSERT, as n calls of store_pipeline_stat_add would add
 * them (all or none: GB_EINVAL, before any is added, for an empty
 * pipeline_id or a negative duration).
 */
int store_pipeline_stat_add_many(struct store *st, const struct pipeline_stat *rows, int n,
    struct gb_err *err);
/*
 * Count, mean, p50, p95 of pipeline_id's durations in (now_ms - window,
 * now_ms]. All zero when none.
 */
int store_pipeline_stats_get(struct store *st, const char *pipeline_id, int64_t now_ms,
    struct store_pipeline_stats *out, struct gb_err *err);
/*
 * Ids of pipelines with durations in the window: fn per id, in id order
 * (the ids are read first, so fn may call the store). A non-zero return from
 * fn stops the walk and is returned.
 */
int store_pipeline_stats_each(struct store *st, int64_t now_ms,
    int (*fn)(void *arg, const char *pipeline_id), void *arg, struct gb_err *err);

/* One row of pipeline_stats, for mirroring them elsewhere (sync sends them to Redis). */
struct pipeline_stat_row {
	int64_t rowid;
	char pipeline_id[STORE_ID_MAX];
	int64_t at_ms, duration_ms;
};

/*
 * At most max rows with a rowid above after_rowid, in rowid order (the
 * order they were added). When after_rowid is past the last row (the table
 * was emptied and its rowids started over), rows are read from the first.
 */
int store_pipeline_stat_rows(struct store *st, int64_t after_rowid, int max,
    struct pipeline_stat_row *out, int *n, struct gb_err *err);

#endif
