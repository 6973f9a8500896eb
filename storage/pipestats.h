/*
 * pipestats.h - pipeline statistics (the schema's pipeline_stats): the
 * durations of each pipeline's contexts of the last day, written in the
 * transaction where a context completes, read from any connection.
 */
#ifndef GB_STORAGE_PIPESTATS_H
#define GB_STORAGE_PIPESTATS_H

#include <stdint.h>

#include "store.h"

#define PIPELINE_STATS_WINDOW_MS (86400 * 1000)

struct store_pipeline_stats {
	int64_t count;
	double mean_ms;
	int64_t p50_ms, p95_ms;
};

int store_pipeline_stat_add(struct store *st, const char *pipeline_id, int64_t at_ms, int64_t duration_ms,
    struct gb_err *err);
/* The window ending at now_ms; all zero when none. */
int store_pipeline_stats_get(struct store *st, const char *pipeline_id, int64_t now_ms,
    struct store_pipeline_stats *out, struct gb_err *err);
/* fn for every pipeline with durations in the window; a non-zero return stops and is returned. */
int store_pipeline_stats_each(struct store *st, int64_t now_ms, int (*fn)(void *arg, const char *pipeline_id),
    void *arg, struct gb_err *err);

#endif
