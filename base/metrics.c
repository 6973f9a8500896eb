/*
 * metrics.c - the metrics registry (see metrics.h).
 *
 * Metrics are a linked list in registration order, kept grouped by name (a
 * new label set of a known name goes after the last one of that name). The
 * list only grows, so handles stay valid; the registry mutex guards the list
 * and each metric's own mutex guards its values.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "metrics.h"

struct metric {
	char name[METRICS_NAME_MAX];
	char labels[METRICS_LABELS_MAX];
	char *help;
	enum metric_kind kind;
	pthread_mutex_t lock;		/* guards the values below */
	double value;
	int nbuckets;
	double bounds[METRICS_MAX_BUCKETS];
	uint64_t counts[METRICS_MAX_BUCKETS];	/* per bucket, not cumulative */
	uint64_t count;
	double sum;
	struct metric *next;
};

struct metrics {
	pthread_mutex_t lock;		/* guards the list */
	struct metric *head;
};

struct metrics *
metrics_new(void)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (m)
		pthread_mutex_init(&m->lock, NULL);
	return m;
}

void
metrics_free(struct metrics *m)
{
	if (m == NULL)
		return;
	while (m->head) {
		struct metric *x = m->head;

		m->head = x->next;
		pthread_mutex_destroy(&x->lock);
		free(x->help);
		free(x);
	}
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static pthread_once_t metrics_default_once = PTHREAD_ONCE_INIT;
static struct metrics *metrics_default_registry;

static void
metrics_default_init(void)
{
	metrics_default_registry = metrics_new();
}

struct metrics *
metrics_default(void)
{
	pthread_once(&metrics_default_once, metrics_default_init);
	return metrics_default_registry;
}

static int
metrics_name_valid(const char *s)
{
	if (s == NULL || *s == '\0' || strlen(s) >= METRICS_NAME_MAX || (*s >= '0' && *s <= '9'))
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '_' || *s == ':'))
			return 0;
	return 1;
}

/* A label string has no braces or newlines and fits; quoting is the caller's. */
static int
metrics_labels_valid(const char *s)
{
	return s == NULL || (strlen(s) < METRICS_LABELS_MAX && strpbrk(s, "{}\n") == NULL);
}

static struct metric *
metrics_register(struct metrics *m, enum metric_kind kind, const char *name, const char *labels,
    const char *help, const double *bounds, int nbounds)
{
	struct metric *x, *last_of_name = NULL, *tail = NULL;

	if (m == NULL || !metrics_name_valid(name) || !metrics_labels_valid(labels) ||
	    nbounds < 0 || nbounds > METRICS_MAX_BUCKETS)
		return NULL;
	for (int i = 1; i < nbounds; i++)
		if (!(bounds[i] > bounds[i - 1]))
			return NULL;
	if (labels == NULL)
		labels = "";
	pthread_mutex_lock(&m->lock);
	for (x = m->head; x; tail = x, x = x->next) {
		if (strcmp(x->name, name) != 0)
			continue;
		if (x->kind != kind || (kind == METRIC_HISTOGRAM && (x->nbuckets != nbounds ||
		    memcmp(x->bounds, bounds, sizeof(*bounds) * (size_t)nbounds) != 0))) {
			x = NULL;
			goto out;
		}
		if (strcmp(x->labels, labels) == 0)
			goto out;
		last_of_name = x;
	}
	if ((x = calloc(1, sizeof(*x))) == NULL || (x->help = strdup(help ? help : "")) == NULL) {
		free(x);
		x = NULL;
		goto out;
	}
	snprintf(x->name, sizeof(x->name), "%s", name);
	snprintf(x->labels, sizeof(x->labels), "%s", labels);
	x->kind = kind;
	x->nbuckets = nbounds;
	if (nbounds)
		memcpy(x->bounds, bounds, sizeof(*bounds) * (size_t)nbounds);
	pthread_mutex_init(&x->lock, NULL);
	if (last_of_name) {
		x->next = last_of_name->next;
		last_of_name->next = x;
	} else if (tail) {
		tail->next = x;
	} else {
		m->head = x;
	}
out:
	pthread_mutex_unlock(&m->lock);
	return x;
}

struct metric *
metrics_counter(struct metrics *m, const char *name, const char *labels, const char *help)
{
	return metrics_register(m, METRIC_COUNTER, name, labels, help, NULL, 0);
}

struct metric *
metrics_gauge(struct metrics *m, const char *name, const char *labels, const char *help)
{
	return metrics_register(m, METRIC_GAUGE, name, labels, help, NULL, 0);
}

struct metric *
metrics_histogram(struct metrics *m, const char *name, const char *labels, const char *help,
    const double *bounds, int nbounds)
{
	return metrics_register(m, METRIC_HISTOGRAM, name, labels, help, bounds, nbounds);
}

void
metric_add(struct metric *x, double v)
{
	if (x == NULL || x->kind == METRIC_HISTOGRAM || (x->kind == METRIC_COUNTER && !(v >= 0)))
		return;
	pthread_mutex_lock(&x->lock);
	x->value += v;
	pthread_mutex_unlock(&x->lock);
}

void
metric_set(struct metric *x, double v)
{
	if (x == NULL || x->kind != METRIC_GAUGE)
		return;
	pthread_mutex_lock(&x->lock);
	x->value = v;
	pthread_mutex_unlock(&x->lock);
}

void
metric_observe(struct metric *x, double v)
{
	int i;

	if (x == NULL || x->kind != METRIC_HISTOGRAM)
		return;
	pthread_mutex_lock(&x->lock);
	for (i = 0; i < x->nbuckets && v > x->bounds[i]; i++)
		;
	if (i < x->nbuckets)
		x->counts[i]++;
	x->count++;
	x->sum += v;
	pthread_mutex_unlock(&x->lock);
}

double
metric_value(struct metric *x)
{
	double v;

	if (x == NULL)
		return 0;
	pthread_mutex_lock(&x->lock);
	v = x->kind == METRIC_HISTOGRAM ? (double)x->count : x->value;
	pthread_mutex_unlock(&x->lock);
	return v;
}

static void
metrics_sample_of(struct metric *x, struct metric_sample *s)
{
	uint64_t run = 0;

	memcpy(s->name, x->name, sizeof(s->name));
	memcpy(s->labels, x->labels, sizeof(s->labels));
	s->help = x->help;
	s->kind = x->kind;
	s->nbuckets = x->nbuckets;
	pthread_mutex_lock(&x->lock);
	s->value = x->value;
	for (int i = 0; i < x->nbuckets; i++) {
		run += x->counts[i];
		s->bounds[i] = x->bounds[i];
		s->cumulative[i] = run;
	}
	s->count = x->count;
	s->sum = x->sum;
	pthread_mutex_unlock(&x->lock);
}

int
metrics_each(struct metrics *m, int (*fn)(void *arg, const struct metric_sample *s), void *arg)
{
	struct metric_sample s;
	struct metric *x;
	int rc = 0;

	if (m == NULL)
		return 0;
	/* the list only grows at its links: walk it without holding the registry's lock for fn */
	pthread_mutex_lock(&m->lock);
	x = m->head;
	pthread_mutex_unlock(&m->lock);
	while (x && rc == 0) {
		metrics_sample_of(x, &s);
		rc = fn(arg, &s);
		pthread_mutex_lock(&m->lock);
		x = x->next;
		pthread_mutex_unlock(&m->lock);
	}
	return rc;
}

struct metrics_render_state {
	struct buf *out;
	char last_name[METRICS_NAME_MAX];
};

static const char *
metrics_kind_name(enum metric_kind k)
{
	return k == METRIC_COUNTER ? "counter" : k == METRIC_GAUGE ? "gauge" : "histogram";
}

/* The shortest of %.15g and %.17g that reads back as v ("0.1", not "0.10000000000000001"). */
static const char *
metrics_format(double v, char out[32])
{
	snprintf(out, 32, "%.15g", v);
	if (strtod(out, NULL) != v)
		snprintf(out, 32, "%.17g", v);
	return out;
}

/* name{labels[,extra]} with the braces left out when both are empty */
static int
metrics_render_series(struct buf *out, const char *name, const char *suffix, const char *labels,
    const char *extra)
{
	int both = labels[0] && extra[0];

	if (!labels[0] && !extra[0])
		return buf_printf(out, "%s%s ", name, suffix);
	return buf_printf(out, "%s%s{%s%s%s} ", name, suffix, labels, both ? "," : "", extra);
}

static int
metrics_render_one(void *arg, const struct metric_sample *s)
{
	struct metrics_render_state *rs = arg;
	struct buf *out = rs->out;
	char le[64], num[32];
	int rc = 0;

	if (strcmp(rs->last_name, s->name) != 0) {
		snprintf(rs->last_name, sizeof(rs->last_name), "%s", s->name);
		if (s->help[0] && (rc = buf_printf(out, "# HELP %s %s\n", s->name, s->help)))
			return rc;
		if ((rc = buf_printf(out, "# TYPE %s %s\n", s->name, metrics_kind_name(s->kind))))
			return rc;
	}
	if (s->kind != METRIC_HISTOGRAM) {
		if ((rc = metrics_render_series(out, s->name, "", s->labels, "")) == 0)
			rc = buf_printf(out, "%s\n", metrics_format(s->value, num));
		return rc;
	}
	for (int i = 0; i < s->nbuckets && rc == 0; i++) {
		snprintf(le, sizeof(le), "le=\"%s\"", metrics_format(s->bounds[i], num));
		if ((rc = metrics_render_series(out, s->name, "_bucket", s->labels, le)) == 0)
			rc = buf_printf(out, "%llu\n", (unsigned long long)s->cumulative[i]);
	}
	if (rc == 0 &&
	    (rc = metrics_render_series(out, s->name, "_bucket", s->labels, "le=\"+Inf\"")) == 0)
		rc = buf_printf(out, "%llu\n", (unsigned long long)s->count);
	if (rc == 0 && (rc = metrics_render_series(out, s->name, "_sum", s->labels, "")) == 0)
		rc = buf_printf(out, "%s\n", metrics_format(s->sum, num));
	if (rc == 0 && (rc = metrics_render_series(out, s->name, "_count", s->labels, "")) == 0)
		rc = buf_printf(out, "%llu\n", (unsigned long long)s->count);
	return rc;
}

int
metrics_render(struct metrics *m, struct buf *out)
{
	struct metrics_render_state rs = { out, "" };

	return metrics_each(m, metrics_render_one, &rs);
}
