/*
 * metrics.h - a registry of counters, gauges and histograms, rendered as
 * Prometheus text by whoever serves it (web's /metrics; tests).
 *
 * A metric is registered once by name and label string and then updated
 * through its handle; registering the same name and labels again returns the
 * same handle, so modules need not pass handles around. Labels are a fixed
 * string in Prometheus syntax without braces (`pipeline="pipe_a"`), or NULL.
 * Histograms have fixed upper bounds (at most METRICS_MAX_BUCKETS, ascending)
 * and are shown cumulative with a +Inf bucket, as Prometheus expects.
 *
 * Thread safety: every function may be called from any thread; updates are
 * atomic per metric. Handles live as long as their registry.
 */
#ifndef GB_METRICS_H
#define GB_METRICS_H

#include <stdint.h>

#include "buf.h"

#define METRICS_MAX_BUCKETS 16
#define METRICS_NAME_MAX 96
#define METRICS_LABELS_MAX 160

enum metric_kind { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct metrics;
struct metric;

/* A new, empty registry; NULL when out of memory. Free with metrics_free. */
struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);
/* The process's registry, created on first use and never freed. */
struct metrics *metrics_default(void);

/*
 * Get or register a metric. name: [a-zA-Z_:][a-zA-Z0-9_:]*; help: one line.
 * NULL when out of memory, when name or labels are not valid, or when name
 * is already registered as another kind (or a histogram with other bounds).
 * Updating a NULL handle does nothing, so callers need not check.
 */
struct metric *metrics_counter(struct metrics *m, const char *name, const char *labels,
    const char *help);
struct metric *metrics_gauge(struct metrics *m, const char *name, const char *labels,
    const char *help);
struct metric *metrics_histogram(struct metrics *m, const char *name, const char *labels,
    const char *help, const double *bounds, int nbounds);

/* Counters: add v >= 0 (negative values are ignored). Gauges: add any v. */
void metric_add(struct metric *x, double v);
/* Gauges: set the value. */
void metric_set(struct metric *x, double v);
/* Histograms: count one observation of v. */
void metric_observe(struct metric *x, double v);
/* A counter's or gauge's value; a histogram's count. 0 for NULL. */
double metric_value(struct metric *x);

/* A consistent copy of one metric, for iteration. */
struct metric_sample {
	char name[METRICS_NAME_MAX];
	char labels[METRICS_LABELS_MAX];	/* "" when none */
	const char *help;			/* borrowed from the registry */
	enum metric_kind kind;
	double value;				/* counter, gauge */
	int nbuckets;				/* histogram */
	double bounds[METRICS_MAX_BUCKETS];
	uint64_t cumulative[METRICS_MAX_BUCKETS];	/* observations <= bounds[i] */
	uint64_t count;				/* all observations (the +Inf bucket) */
	double sum;
};

/*
 * Call fn for every metric, metrics of one name together, in registration
 * order; a non-zero return stops the walk and is returned. fn must not
 * register metrics.
 */
int metrics_each(struct metrics *m, int (*fn)(void *arg, const struct metric_sample *s), void *arg);

/* Append the Prometheus text exposition (format 0.0.4) to out. 0, or buf's error. */
int metrics_render(struct metrics *m, struct buf *out);

#endif
