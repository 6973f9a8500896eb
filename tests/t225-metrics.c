/*
 * t225-metrics - base's metrics registry (counters, gauges, histograms,
 * Prometheus text, many threads at once) and JSON helpers (range checks
 * before any cast), then the engine's counters after a run: each equal to
 * the count of what happened.
 */
#include <math.h>
#include <pthread.h>

#include "pooltest.h"

#include "../base/buf.h"
#include "../base/json.h"
#include "../base/metrics.h"

struct find {
	const char *name, *labels;
	double value;
	int found;
};

static int
find_one(void *arg, const struct metric_sample *s)
{
	struct find *f = arg;

	if (strcmp(s->name, f->name) == 0 && strcmp(s->labels, f->labels ? f->labels : "") == 0) {
		f->value = s->kind == METRIC_HISTOGRAM ? (double)s->count : s->value;
		f->found = 1;
	}
	return 0;
}

/* A counter's or gauge's value, a histogram's count; -1 when there is no such metric. */
static double
sample(struct metrics *m, const char *name, const char *labels)
{
	struct find f = { name, labels, -1, 0 };

	metrics_each(m, find_one, &f);
	return f.found ? f.value : -1;
}

static void *
adder(void *arg)
{
	for (int i = 0; i < 10000; i++)
		metric_add(arg, 1);
	return NULL;
}

static void
test_registry(void)
{
	static const double bounds[] = { 0.1, 1, 10 };
	struct metrics *m = metrics_new();
	struct metric *c = metrics_counter(m, "jobs_total", "queue=\"a\"", "Jobs done");
	struct metric *g = metrics_gauge(m, "depth", NULL, "Queue depth");
	struct metric *h = metrics_histogram(m, "latency_seconds", NULL, "Latency", bounds, 3);
	struct metric *c2 = metrics_counter(m, "jobs_total", "queue=\"b\"", "Jobs done");
	struct buf out;
	pthread_t th[4];

	ok(c && g && h && c2, "a counter, a gauge and a histogram are registered");
	ok(metrics_counter(m, "jobs_total", "queue=\"a\"", "Jobs done") == c, "registering again gives the same handle");
	ok(metrics_gauge(m, "jobs_total", NULL, "") == NULL, "a name is one kind only");
	ok(metrics_counter(m, "9bad name", NULL, "") == NULL, "a name Prometheus refuses is refused");
	ok(metrics_counter(m, "x", "a=\"}\"", "") == NULL, "so are labels with braces");
	metric_add(c, 1);
	metric_add(c, 2.5);
	metric_add(c, -1);
	is_int((int64_t)(metric_value(c) * 10), 35, "a counter adds, and ignores negative amounts");
	metric_set(g, 7);
	metric_add(g, -2);
	is_int((int64_t)metric_value(g), 5, "a gauge is set and moves both ways");
	metric_observe(h, 0.05);
	metric_observe(h, 0.5);
	metric_observe(h, 0.5);
	metric_observe(h, 5);
	metric_observe(h, 50);
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, adder, c2);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	is_int((int64_t)metric_value(c2), 40000, "four threads adding 10,000 each: 40,000");
	buf_init(&out, 1 << 16);
	is_int(metrics_render(m, &out), 0, "rendered as Prometheus text");
	is_str(buf_str(&out),
	    "# HELP jobs_total Jobs done\n"
	    "# TYPE jobs_total counter\n"
	    "jobs_total{queue=\"a\"} 3.5\n"
	    "jobs_total{queue=\"b\"} 40000\n"
	    "# HELP depth Queue depth\n"
	    "# TYPE depth gauge\n"
	    "depth 5\n"
	    "# HELP latency_seconds Latency\n"
	    "# TYPE latency_seconds histogram\n"
	    "latency_seconds_bucket{le=\"0.1\"} 1\n"
	    "latency_seconds_bucket{le=\"1\"} 3\n"
	    "latency_seconds_bucket{le=\"10\"} 4\n"
	    "latency_seconds_bucket{le=\"+Inf\"} 5\n"
	    "latency_seconds_sum 56.05\n"
	    "latency_seconds_count 5\n",
	    "one HELP and TYPE per name, label sets together, cumulative buckets with +Inf, sum and count");
	buf_release(&out);
	metrics_free(m);
}

static void
test_json(void)
{
	cJSON *o = cJSON_Parse("{\"big\":1e300,\"neg\":-1,\"frac\":42.9,\"s\":\"x\",\"n\":null,\"obj\":5,\"max\":3000000000}");
	int64_t v;
	int i;

	is_str(json_get_str(o, "s"), "x", "a string member");
	ok(json_get_str(o, "big") == NULL, "a number is not a string");
	is_int(json_get_int64(o, "big", 0, INT64_MAX, 7, &v), GB_EINVAL, "1e300 is out of range, before any cast");
	is_int(v, 7, "and gives the default");
	is_int(json_get_int64(o, "neg", 0, 100, 0, &v), GB_EINVAL, "-1 is below a range from 0");
	is_int(json_get_int64(o, "frac", 0, 100, 0, &v), 0, "42.9 is in range");
	is_int(v, 42, "truncated to 42");
	is_int(json_get_int(o, "max", 0, 2147483647, 0, &i), GB_EINVAL, "3,000,000,000 is no int");
	is_int(json_get_int64(o, "s", 0, 100, 3, &v), GB_ENOTFOUND, "a string is not a number");
	is_int(json_get_int64(o, "none", 0, 100, 3, &v), GB_ENOTFOUND, "nor is an absent member");
	is_int(json_to_int64(9.3e18, INT64_MIN, INT64_MAX, &v), GB_EINVAL, "9.3e18 does not fit an int64");
	is_int(json_to_int64(-9.2e18, INT64_MIN, INT64_MAX, &v), 0, "-9.2e18 does");
	is_int(json_to_int64(NAN, INT64_MIN, INT64_MAX, &v), GB_EINVAL, "NaN never does");
	ok(isnan(json_get_number(o, "n", NAN)), "null is not a number: the default");
	ok(cJSON_IsObject(json_member_object(o, "obj")), "get-or-create replaces a member that is not an object");
	is_int(json_member_replace(o, "s", cJSON_CreateString("y")), 0, "replace a member");
	is_str(json_get_str(o, "s"), "y", "which now holds the new value");
	cJSON_Delete(o);
}

static void
test_engine_counters(void)
{
	struct metrics *m = metrics_new();
	struct pool_config cfg;
	struct pool_stats s;
	struct box b;
	struct pool *p;
	struct buf out;
	int64_t sections = 0;

	box_open(&b, 1);
	for (int i = 0; i < 5; i++)
		box_put(&b, COLL_CONTEXTS, "{\"_id\":\"ctx_full%d\",\"organization_id\":\"org_123\",\"pipeline\":[\"template\","
		    "\"ai_generator\",\"transformer\"],\"data\":{\"title\":\"Count %d\"}}", i, i);
	for (int i = 0; i < 2; i++)
		box_put(&b, COLL_CONTEXTS, "{\"_id\":\"ctx_unknown%d\",\"organization_id\":\"org_123\",\"pipeline\":"
		    "[\"summarizer\"]}", i);
	for (int i = 0; i < 3; i++)
		box_put(&b, COLL_CONTEXTS, "{\"_id\":\"ctx_empty%d\",\"organization_id\":\"org_123\",\"pipeline\":[]}", i);
	pool_config_defaults(&cfg);
	cfg.workers = 2;
	cfg.metrics = m;
	p = box_pool(&b, NULL, &cfg);
	ok(pool_wait(p, 60000), "the pool ran the queue to its end");
	pool_stop(p, 0);
	pool_stats(p, &s);
	pool_free(p);
	for (int i = 0; i < 5; i++) {
		char id[32];
		cJSON *doc;

		snprintf(id, sizeof(id), "ctx_full%d", i);
		doc = box_get(&b, COLL_CONTEXTS, id);
		sections += cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(doc, "data"), "template"), "sections"));
		cJSON_Delete(doc);
	}
	is_int((int64_t)sample(m, "genbox_contexts_claimed_total", NULL), 10, "claims: 10");
	is_int((int64_t)sample(m, "genbox_contexts_claimed_total", NULL), s.claimed, "as the pool's statistics say");
	is_int((int64_t)sample(m, "genbox_contexts_completed_total", NULL), 8, "completions: 8");
	is_int((int64_t)sample(m, "genbox_contexts_failed_total", NULL), 2, "failures: 2");
	is_int((int64_t)sample(m, "genbox_contexts_retried_total", NULL), 0, "retries: none");
	is_int((int64_t)sample(m, "genbox_contexts_released_total", NULL), 0, "releases: none");
	is_int((int64_t)sample(m, "genbox_contexts_inflight", NULL), 0, "none held at the end");
	ok(sections >= 20, "the 5 full contexts have %lld sections", (long long)sections);
	is_int((int64_t)sample(m, "genbox_generator_calls_total", NULL), sections, "one generator call per section");
	is_int((int64_t)sample(m, "genbox_generator_prompt_tokens_total", NULL), 0, "offline drafts: no prompt tokens");
	is_int((int64_t)sample(m, "genbox_generator_completion_tokens_total", NULL), 0, "no completion tokens");
	is_int((int64_t)sample(m, "genbox_generator_cost_total", NULL), 0, "no cost");
	is_int((int64_t)sample(m, "genbox_context_duration_seconds", NULL), 8, "a context duration per completion");
	is_int((int64_t)sample(m, "genbox_component_duration_seconds", "component=\"template\""), 5,
	    "a template duration per template step");
	is_int((int64_t)sample(m, "genbox_component_duration_seconds", "component=\"ai_generator\""), 5,
	    "an ai_generator duration per generator step");
	is_int((int64_t)sample(m, "genbox_component_duration_seconds", "component=\"transformer\""), 5,
	    "a transformer duration per transformer step");
	is_int((int64_t)(sample(m, "genbox_catalog_cache_hits_total", "cache=\"template\"") +
	    sample(m, "genbox_catalog_cache_hits_total", "cache=\"registry\"") +
	    sample(m, "genbox_catalog_cache_hits_total", "cache=\"pipeline\"") +
	    sample(m, "genbox_catalog_cache_hits_total", "cache=\"organization\"")), s.cache.hits,
	    "cache hits as the catalog counted them (%lld)", (long long)s.cache.hits);
	is_int((int64_t)(sample(m, "genbox_catalog_cache_misses_total", "cache=\"template\"") +
	    sample(m, "genbox_catalog_cache_misses_total", "cache=\"registry\"") +
	    sample(m, "genbox_catalog_cache_misses_total", "cache=\"pipeline\"") +
	    sample(m, "genbox_catalog_cache_misses_total", "cache=\"organization\"")), s.cache.misses,
	    "and misses (%lld)", (long long)s.cache.misses);
	buf_init(&out, 1 << 20);
	metrics_render(m, &out);
	like(buf_str(&out), "\ngenbox_contexts_completed_total 8\n", "the Prometheus text shows them");
	buf_release(&out);
	box_close(&b);
	metrics_free(m);
}

int
main(void)
{
	test_registry();
	test_json();
	test_engine_counters();
	return tap_done();
}
