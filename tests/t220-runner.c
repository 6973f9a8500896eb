/*
 * t220-runner - the worker pool on the offline-draft provider and on an
 * endpoint that is down: fairness between organizations, priority order,
 * retries with backoff and each failed attempt kept in the context (the 20
 * most recent), cancel, pipeline resolution with config_overrides, a
 * context created alone running its own pipeline_id,
 * failures that name what is unknown, and stable offline drafts of the
 * schema's example context within the template's word ranges.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "../appliance/engine/catalog.h"
#include "../appliance/engine/pool.h"
#include "../base/gbtime.h"
#include "../storage/access.h"
#include "../storage/docs.h"
#include "../storage/heartbeat.h"
#include "../storage/pipestats.h"
#include "../storage/queue.h"
#include "../storage/store.h"
#include "../storage/submit.h"
#include "pooltest.h"
#include "tap.h"
#include "util.h"

static struct gb_err err;

/* Run the pool until nothing of the queue is pending or processing (or timeout_ms). */
static struct pool_stats last_stats;
static int last_heartbeats, fresh_heartbeats, left_heartbeats;
static struct store_pipeline_stats last_pstats;

/* The heartbeat rows of owner another connection sees. */
static int
heartbeat_rows(struct box *b, const char *owner, int *fresh)
{
	struct store_heartbeat hb[16];
	int n = 0, mine = 0;

	gb_err_clear(&err);
	if (store_heartbeat_list(b->st, gb_now_ms(), hb, 16, &n, &err))
		tap_diag("heartbeats: %s", err.msg);
	if (fresh)
		*fresh = 0;
	for (int i = 0; i < n; i++)
		if (strncmp(hb[i].worker_id, owner, strlen(owner)) == 0) {
			mine++;
			if (fresh && gb_now_ms() - hb[i].last_seen_ms < HEARTBEAT_TTL_MS && strcmp(hb[i].host, "") != 0)
				(*fresh)++;
		}
	return mine;
}

static int64_t
run_pool(struct box *b, const char *url, int workers, int claim_max, int max_retries, int64_t retry_base_ms,
    int64_t timeout_ms)
{
	struct gen_config gc = { url, NULL, 2000, 500, 8 };
	struct pool_config cfg;
	struct pool *r = NULL;
	struct generator *gen = NULL;
	int64_t t0 = gb_mono_ms();
	char owner[160];

	if (generator_open(&gen, &gc, &err))
		tap_bail("generator: %s", err.msg);
	pool_config_defaults(&cfg);
	cfg.db_path = b->path;
	cfg.workers = workers;
	cfg.claim_max = claim_max;
	cfg.max_retries = max_retries;
	cfg.retry_base_ms = retry_base_ms;
	cfg.gen = gen;
	cfg.trace_path = b->trace;
	if (pool_start(&r, &cfg, &err))
		tap_bail("pool: %s", err.msg);
	snprintf(owner, sizeof(owner), "%s#", pool_owner(r));
	for (;;) {
		int64_t c[CTX_STATUS_COUNT] = { 0 };
		int64_t open_n = 0;

		usleep(50 * 1000);
		store_ctx_status_counts(b->st, c, &err);
		open_n = c[CTX_PENDING] + c[CTX_PROCESSING];
		if (open_n == 0 || gb_mono_ms() - t0 > timeout_ms)
			break;
	}
	/* the keeper writes the rows at its first round: wait for them (bounded) */
	for (int i = 0; i < 200 && (last_heartbeats = heartbeat_rows(b, owner, &fresh_heartbeats)) < workers; i++)
		usleep(50 * 1000);
	pool_stop(r, 1000);
	pool_stats(r, &last_stats);
	pool_free(r);
	left_heartbeats = heartbeat_rows(b, owner, NULL);
	gb_err_clear(&err);
	if (store_pipeline_stats_get(b->st, "pipe_short", gb_now_ms(), &last_pstats, &err))
		tap_diag("pipeline stats: %s", err.msg);
	return gb_mono_ms() - t0;
}

#define MIX_N 64

/* The order in which contexts ended, from the trace. */
static int
end_order(struct box *b, char ids[][32], int max)
{
	char *text = util_read_file(b->trace, NULL), *line, *save = NULL;
	int n = 0;

	for (line = strtok_r(text, "\n", &save); line && n < max; line = strtok_r(NULL, "\n", &save)) {
		char what[16], id[32], detail[32];

		if (sscanf(line, "%15s %31s %31s", what, id, detail) == 3 && strcmp(what, "end") == 0)
			snprintf(ids[n++], 32, "%s", id);
	}
	free(text);
	return n;
}

static void
test_fairness(void)
{
	static char ids[10100][32];
	struct box b;
	int n, last_b = 0, seen_b = 0;

	box_open(&b, 0);
	store_begin(b.st, &err);
	for (int i = 0; i < 10000; i++)
		box_put(&b, COLL_CONTEXTS, "{\"_id\":\"ctx_a%05d\",\"organization_id\":\"org_a\",\"pipeline\":[],"
		    "\"created_at\":\"2023-01-01T00:00:00Z\"}", i);
	for (int i = 0; i < 10; i++)
		box_put(&b, COLL_CONTEXTS, "{\"_id\":\"ctx_b%05d\",\"organization_id\":\"org_b\",\"pipeline\":[],"
		    "\"created_at\":\"2023-06-01T00:00:00Z\"}", i);
	store_commit(b.st, &err);
	run_pool(&b, NULL, 2, 8, 5, 1000, 60000);
	n = end_order(&b, ids, 10100);
	is_int(n, 10010, "all 10,010 contexts with an empty pipeline completed");
	for (int i = 0; i < n; i++)
		if (strncmp(ids[i], "ctx_b", 5) == 0) {
			seen_b++;
			last_b = i + 1;
		}
	is_int(seen_b, 10, "the 10 of the second organization are among them");
	ok(last_b > 0 && last_b <= 40, "and all 10 ended within the first 40 completions (the last was #%d), "
	    "behind 10,000 older ones of the first", last_b);
	store_close(b.st);
}

/*
 * Contexts with nothing to run (ended without being claimed) mixed in the
 * same claims with contexts whose template runs ahead of the write lock
 * (the transaction commits in between): each ends once, completed, and
 * the batch counts every one.
 */
static void
test_mixed_once(void)
{
	static char ids[512][32];
	char list[4096] = "";
	int seen[MIX_N] = { 0 }, n, ends = 0, twice = 0, complete = 0;
	struct box b;
	cJSON *doc;

	box_open(&b, 1);
	for (int i = 0; i < MIX_N; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s\"ctx_mix%03d\"", i ? "," : "", i);
	box_put(&b, COLL_BATCHES, "{\"_id\":\"batch_mix\",\"organization_id\":\"org_123\",\"context_ids\":[%s]}", list);
	for (int i = 0; i < MIX_N; i++)
		box_put(&b, COLL_CONTEXTS, "{\"_id\":\"ctx_mix%03d\",\"organization_id\":\"org_123\",\"batch_id\":"
		    "\"batch_mix\",\"pipeline\":%s,\"created_at\":\"2023-01-01T00:00:%02dZ\"}", i,
		    i % 2 ? "[\"template\"]" : "[]", i % 60);
	run_pool(&b, NULL, 2, 8, 5, 1000, 30000);
	n = end_order(&b, ids, 512);
	for (int i = 0; i < n; i++) {
		int k;

		if (sscanf(ids[i], "ctx_mix%d", &k) != 1 || k < 0 || k >= MIX_N)
			continue;
		ends++;
		twice += seen[k]++ > 0;
	}
	is_int(ends, MIX_N, "the trace shows %d ends of the mixed contexts", MIX_N);
	is_int(twice, 0, "none ended twice");
	for (int i = 0; i < MIX_N; i++) {
		char id[32];

		snprintf(id, sizeof(id), "ctx_mix%03d", i);
		doc = box_get(&b, COLL_CONTEXTS, id);
		complete += doc && strcmp(jpath(doc, "status"), "completed") == 0 &&
		    strcmp(jpath(doc, "processing.started_at"), "(none)") != 0 &&
		    (i % 2 == 0 || strcmp(jpath(doc, "data.template"), "(none)") != 0);
		cJSON_Delete(doc);
	}
	is_int(complete, MIX_N, "each is completed with its start recorded (and its template when it had one)");
	doc = box_get(&b, COLL_BATCHES, "batch_mix");
	is_str(jpath(doc, "completed_count"), "64", "the batch counts all of them");
	is_str(jpath(doc, "status"), "completed", "and is completed");
	cJSON_Delete(doc);
	store_close(b.st);
}

static void
test_priority(void)
{
	char ids[64][32];
	struct box b;
	int n, sorted = 1;

	box_open(&b, 0);
	for (int i = 0; i < 30; i++)
		box_put(&b, COLL_CONTEXTS, "{\"_id\":\"ctx_p%02d\",\"organization_id\":\"org_p\",\"pipeline\":[],"
		    "\"created_at\":\"2023-01-01T00:00:%02dZ\",\"metadata\":{\"priority\":%d}}", i, 59 - i, (i * 7) % 5);
	run_pool(&b, NULL, 1, 1, 5, 1000, 20000);
	n = end_order(&b, ids, 64);
	is_int(n, 30, "30 contexts ran one at a time");
	for (int i = 1; i < n; i++) {
		int a = atoi(ids[i - 1] + 5), c = atoi(ids[i] + 5);
		int pa = (a * 7) % 5, pc = (c * 7) % 5;

		/* priority ascending, then older (higher index here) first */
		if (pa > pc || (pa == pc && a < c))
			sorted = 0;
	}
	ok(sorted, "in metadata.priority order, then oldest first");
	store_close(b.st);
}

/* ctx_many: 25 failed attempts already recorded, and a pipeline that fails it for good when it runs. */
static void
put_many_attempts(struct box *b)
{
	char list[8192];
	size_t len = 0;

	for (int i = 1; i <= 25; i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s{\"attempt\":%d,\"at\":"
		    "\"2023-01-01T00:00:%02dZ\",\"component\":\"ai_generator\",\"error\":\"old %d\"}",
		    i > 1 ? "," : "", i, i, i);
	box_put(b, COLL_CONTEXTS, "{\"_id\":\"ctx_many\",\"organization_id\":\"org_123\",\"pipeline\":"
	    "[\"template\",\"summarizer\"],\"retry_count\":25,\"data\":{\"title\":\"Many\"},"
	    "\"processing\":{\"attempts\":[%s]}}", list);
}

/* ctx_alone: created without a batch through storage/submit.h, naming its own pipeline. */
static void
put_alone(struct box *b)
{
	cJSON *in = cJSON_Parse("{\"_id\":\"ctx_alone\",\"data\":{\"title\":\"Alone\","
	    "\"generated_content\":{\"introduction\":\"Written by hand.\"}}}");
	struct submit_opts so = { "org_123", "user_456", "pipe_tt", NULL, NULL, NULL, NULL, NULL };
	struct submit_item it = { in, NULL, 0 };
	struct submit_result res;

	box_put(b, COLL_PIPELINES, "{\"_id\":\"pipe_tt\",\"organization_id\":\"org_123\",\"components\":["
	    "{\"component_id\":\"comp_template_article\",\"order\":1},"
	    "{\"component_id\":\"comp_transformer_markdown\",\"order\":2}]}");
	is_int(submit_contexts_create(b->st, &so, &it, 1, NULL, &res, &err), 0, "a context created alone %s",
	    err.msg);
	cJSON_Delete(in);
}

/* Every failed attempt of ctx_down: 3 runs, each kept with its number, time, component and error. */
static void
check_attempts(const cJSON *doc)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "processing"),
	    "attempts");
	int64_t prev = 0, at = 0;
	int n = cJSON_GetArraySize(a), in_order = 1;
	char path[64], last[1024];

	is_int(n, 3, "processing.attempts keeps the 3 failed attempts (2 retried, the last final)");
	for (int i = 0; i < n; i++) {
		const char *s;

		snprintf(path, sizeof(path), "processing.attempts.%d.attempt", i);
		is_int(atoi(jpath(doc, path)), i + 1, "attempt %d is numbered so", i + 1);
		snprintf(path, sizeof(path), "processing.attempts.%d.component", i);
		is_str(jpath(doc, path), "ai_generator", "attempt %d names the component", i + 1);
		snprintf(path, sizeof(path), "processing.attempts.%d.error", i);
		like(jpath(doc, path), "connect", "attempt %d keeps its error", i + 1);
		snprintf(path, sizeof(path), "processing.attempts.%d.at", i);
		s = jpath(doc, path);
		if (gb_time_parse(s, strlen(s), &at) || at <= prev)
			in_order = 0;
		prev = at;
	}
	ok(in_order, "each with an ISO date, later than the one before");
	snprintf(last, sizeof(last), "%s", jpath(doc, "processing.attempts.2.error"));
	is_str(jpath(doc, "error.message"), last, "the last attempt's error is the context's error");
}

/* ctx_many: the 20 most recent attempts are kept, the new one last. */
static void
check_many_attempts(struct box *b)
{
	cJSON *doc = box_get(b, COLL_CONTEXTS, "ctx_many");

	is_str(jpath(doc, "status"), "failed", "a context with 25 failed attempts fails again");
	is_int(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc,
	    "processing"), "attempts")), 20, "processing.attempts is capped at 20");
	is_str(jpath(doc, "processing.attempts.0.attempt"), "7", "the oldest are dropped: it starts at attempt 7");
	is_str(jpath(doc, "processing.attempts.0.error"), "old 7", "keeping what those recorded");
	is_str(jpath(doc, "processing.attempts.19.attempt"), "26", "the new attempt is number 26, last");
	is_str(jpath(doc, "processing.attempts.19.component"), "pipeline", "naming where it failed");
	is_str(jpath(doc, "processing.attempts.19.error"), "unknown component 'summarizer' for organization "
	    "'org_123'", "and why");
	cJSON_Delete(doc);
}

static void
test_retries_and_cancel(void)
{
	struct box b;
	cJSON *doc;
	int64_t took;

	box_open(&b, 1);
	/* an endpoint that is down: a port nothing listens on */
	box_put(&b, COLL_CONTEXTS, "{\"_id\":\"ctx_down\",\"organization_id\":\"org_123\",\"pipeline\":[\"template\","
	    "\"ai_generator\",\"transformer\"],\"data\":{\"title\":\"Down\"}}");
	box_put(&b, COLL_BATCHES, "{\"_id\":\"batch_cx\",\"organization_id\":\"org_123\",\"context_ids\":[\"ctx_cancel\"],"
	    "\"context_count\":1}");
	box_put(&b, COLL_CONTEXTS, "{\"_id\":\"ctx_cancel\",\"organization_id\":\"org_123\",\"batch_id\":\"batch_cx\","
	    "\"pipeline\":[\"template\"],\"next_retry_at\":\"2099-01-01T00:00:00Z\"}");
	is_int(store_ctx_cancel(b.st, "ctx_cancel", gb_now_ms(), &err), 0, "cancel a queued context");
	put_many_attempts(&b);
	put_alone(&b);
	took = run_pool(&b, "http://127.0.0.1:9", 2, 4, 2, 300, 30000);
	doc = box_get(&b, COLL_CONTEXTS, "ctx_down");
	is_str(jpath(doc, "status"), "failed", "an endpoint that is down: failed after the retries");
	is_str(jpath(doc, "retry_count"), "2", "retried max_retries (2) times");
	is_str(jpath(doc, "error.component"), "ai_generator", "the error names the component");
	like(jpath(doc, "error.message"), "connect", "and says it could not connect");
	is_str(jpath(doc, "error.transient"), "true", "and that the failure was transient");
	is_str(jpath(doc, "processing.completed_components"), "[\"template\"]",
	    "the template step was recorded once, not rerun by the retries");
	/* backoff: 300 ms then 600 ms, each with jitter 0.75..1.25 */
	ok(took >= 675, "the retries waited their backoff (%lld ms in all, at least 675)", (long long)took);
	check_attempts(doc);
	cJSON_Delete(doc);
	check_many_attempts(&b);
	doc = box_get(&b, COLL_CONTEXTS, "ctx_alone");
	is_str(jpath(doc, "status"), "completed", "a context created alone ran");
	is_str(jpath(doc, "pipeline_id"), "pipe_tt", "carrying the pipeline_id it was created with");
	is_str(jpath(doc, "processing.completed_components"), "[\"template\",\"transformer\"]",
	    "and ran that pipeline, not the organization's default");
	like(jpath(doc, "data.formatted_content.content"), "Written by hand.", "its transformer rendered the input");
	cJSON_Delete(doc);
	doc = box_get(&b, COLL_CONTEXTS, "ctx_cancel");
	is_str(jpath(doc, "status"), "cancelled", "the cancelled context stays cancelled");
	is_str(jpath(doc, "processing.completed_components"), "(none)", "and never ran");
	cJSON_Delete(doc);
	doc = box_get(&b, COLL_BATCHES, "batch_cx");
	is_str(jpath(doc, "cancelled_count"), "1", "its batch counts it cancelled");
	is_str(jpath(doc, "status"), "cancelled", "and the batch of one is cancelled");
	cJSON_Delete(doc);
	store_close(b.st);
}

static void
test_resolution(void)
{
	struct box b;
	cJSON *doc;

	box_open(&b, 1);
	/* a second template and a pipeline that overrides config on every step */
	box_put(&b, COLL_TEMPLATES, "{\"_id\":\"tmpl_short\",\"organization_id\":\"org_123\",\"name\":\"Short\","
	    "\"structure\":{\"sections\":[{\"id\":\"introduction\",\"type\":\"text\",\"name\":\"Introduction\","
	    "\"instructions\":\"Say hello\",\"word_range\":[5,8]},{\"id\":\"conclusion\",\"type\":\"text\","
	    "\"name\":\"Conclusion\",\"instructions\":\"Say goodbye\",\"word_range\":[3,4]}]}}");
	box_put(&b, COLL_PIPELINES, "{\"_id\":\"pipe_short\",\"organization_id\":\"org_123\",\"components\":["
	    "{\"component_id\":\"comp_transformer_markdown\",\"order\":3,\"config_overrides\":{\"format\":\"html\","
	    "\"add_table_of_contents\":true}},"
	    "{\"component_id\":\"comp_template_article\",\"order\":1,\"config_overrides\":{\"template_id\":\"tmpl_short\"}},"
	    "{\"component_id\":\"comp_ai_generator_gpt4\",\"order\":2,\"config_overrides\":{\"model\":\"gpt-3.5-turbo\"}}]}");
	box_put(&b, COLL_BATCHES, "{\"_id\":\"batch_short\",\"organization_id\":\"org_123\",\"pipeline_id\":\"pipe_short\","
	    "\"context_ids\":[\"ctx_over\"]}");
	box_put(&b, COLL_CONTEXTS, "{\"_id\":\"ctx_over\",\"organization_id\":\"org_123\",\"batch_id\":\"batch_short\","
	    "\"data\":{\"title\":\"Overrides <&>\"}}");
	box_put(&b, COLL_CONTEXTS, "{\"_id\":\"ctx_unknown_comp\",\"organization_id\":\"org_123\",\"pipeline\":[\"template\","
	    "\"summarizer\"]}");
	box_put(&b, COLL_BATCHES, "{\"_id\":\"batch_nopipe\",\"organization_id\":\"org_123\",\"pipeline_id\":\"pipe_gone\"}");
	box_put(&b, COLL_CONTEXTS, "{\"_id\":\"ctx_unknown_pipe\",\"organization_id\":\"org_123\",\"batch_id\":\"batch_nopipe\"}");
	box_put(&b, COLL_CONTEXTS, "{\"_id\":\"ctx_default\",\"organization_id\":\"org_123\",\"data\":{\"title\":\"Default\"}}");
	box_put(&b, COLL_COMPONENTS, "{\"_id\":\"comp_gen_forbidden\",\"organization_id\":\"org_999\",\"type\":\"ai_generator\","
	    "\"config\":{\"model\":\"gpt-5\"}}");
	box_put(&b, COLL_COMPONENTS, "{\"_id\":\"comp_tmpl_999\",\"organization_id\":\"org_999\",\"type\":\"template\","
	    "\"config\":{\"template_id\":\"tmpl_article_technical\"}}");
	box_put(&b, COLL_ORGANIZATIONS, "{\"_id\":\"org_999\",\"name\":\"Strict\",\"settings\":{\"allowed_models\":[\"gpt-4\"]}}");
	box_put(&b, COLL_CONTEXTS, "{\"_id\":\"ctx_model\",\"organization_id\":\"org_999\",\"pipeline\":[\"template\","
	    "\"ai_generator\"]}");
	run_pool(&b, NULL, 2, 4, 5, 1000, 30000);

	doc = box_get(&b, COLL_CONTEXTS, "ctx_over");
	is_str(jpath(doc, "status"), "completed", "the batch's pipeline ran");
	is_str(jpath(doc, "data.template.id"), "tmpl_short", "config_overrides chose the template");
	is_str(jpath(doc, "data.formatted_content.format"), "html", "and the transformer's format");
	like(jpath(doc, "data.formatted_content.content"), "<nav class=\"toc\">", "and added the table of contents");
	like(jpath(doc, "data.formatted_content.content"), "Overrides &lt;&amp;&gt;", "html escapes the title");
	is_str(jpath(doc, "processing.usage.model"), "gpt-3.5-turbo", "the generator's model was overridden");
	is_str(jpath(doc, "processing.usage.prompt_tokens"), "0", "the offline drafts report no prompt tokens");
	is_str(jpath(doc, "processing.usage.completion_tokens"), "0", "nor completion tokens");
	is_str(jpath(doc, "processing.usage.cost"), "0", "and cost nothing, whatever cost_per_1k_tokens says");
	is_str(jpath(doc, "processing.provider"), "offline-draft", "the provider is named");
	is_str(jpath(doc, "processing.completed_components"), "[\"template\",\"ai_generator\",\"transformer\"]",
	    "the steps ran in their order, not the document's");
	ok(last_stats.cache.registry_misses > 0 && last_stats.cache.hits > 0,
	    "the caches count hits (%lld) and misses (%lld; registry %lld)", (long long)last_stats.cache.hits,
	    (long long)last_stats.cache.misses, (long long)last_stats.cache.registry_misses);
	is_int(last_stats.completed, 2, "the pool counts the 2 completed");
	is_int(last_stats.failed, 3, "and the 3 failed");
	is_int(last_pstats.count, 1, "pipeline statistics in storage keep the one pipe_short run of the last day");
	is_int((int64_t)last_pstats.mean_ms, atoll(jpath(doc, "processing.duration_ms")),
	    "with the context's own duration as the mean");
	is_int(last_pstats.p50_ms, atoll(jpath(doc, "processing.duration_ms")), "and as the median");
	is_int(last_heartbeats, 2, "a heartbeat row per worker, seen from another connection");
	is_int(fresh_heartbeats, 2, "each seen within the last minute, named after the pool's owner, with its host");
	is_int(left_heartbeats, 0, "and none left once the pool stopped");
	cJSON_Delete(doc);
	doc = box_get(&b, COLL_CONTEXTS, "ctx_unknown_comp");
	is_str(jpath(doc, "status"), "failed", "an unknown component type fails the context");
	is_str(jpath(doc, "error.message"), "unknown component 'summarizer' for organization 'org_123'",
	    "naming the component");
	is_str(jpath(doc, "retry_count"), "0", "at once, without retries");
	cJSON_Delete(doc);
	doc = box_get(&b, COLL_CONTEXTS, "ctx_unknown_pipe");
	is_str(jpath(doc, "status"), "failed", "an unknown pipeline fails the context");
	is_str(jpath(doc, "error.message"), "unknown pipeline 'pipe_gone'", "naming the pipeline");
	cJSON_Delete(doc);
	doc = box_get(&b, COLL_CONTEXTS, "ctx_default");
	is_str(jpath(doc, "status"), "completed", "no list and no batch: the organization's default pipeline ran");
	like(jpath(doc, "data.formatted_content.content"), "## Table of Contents",
	    "with the default pipeline's override adding a table of contents");
	cJSON_Delete(doc);
	doc = box_get(&b, COLL_CONTEXTS, "ctx_model");
	is_str(jpath(doc, "status"), "failed", "a model the organization does not allow fails");
	is_str(jpath(doc, "error.message"), "model 'gpt-5' is not allowed for organization 'org_999'",
	    "and the error says so");
	cJSON_Delete(doc);

	{
		cJSON *base = cJSON_Parse("{\"a\":1,\"n\":{\"x\":1,\"y\":2},\"l\":[1,2]}");
		cJSON *over = cJSON_Parse("{\"b\":2,\"n\":{\"y\":3},\"l\":[9]}");
		cJSON *m = catalog_merge(base, over);
		char *s = cJSON_PrintUnformatted(m);

		is_str(s, "{\"a\":1,\"n\":{\"x\":1,\"y\":3},\"l\":[9],\"b\":2}",
		    "config_overrides merge objects key by key and replace the rest");
		free(s);
		cJSON_Delete(m);
		cJSON_Delete(base);
		cJSON_Delete(over);
	}
	store_close(b.st);
}

static int
words(const char *s)
{
	int n = 0, in = 0;

	for (; *s; s++) {
		if (isspace((unsigned char)*s))
			in = 0;
		else if (!in) {
			in = 1;
			n++;
		}
	}
	return n;
}

static char *
example_output(void)
{
	struct box b;
	cJSON *doc, *tmpl;
	char *out;
	const cJSON *gc, *sec;
	int within = 1, k = 0;

	box_open(&b, 1);
	/* the schema's example context, as new: pending, nothing generated yet */
	box_put(&b, COLL_CONTEXTS, "{\"_id\":\"ctx_123456\",\"type\":\"article\",\"status\":\"pending\","
	    "\"created_at\":\"2023-06-10T14:30:00Z\",\"pipeline\":[\"template\",\"ai_generator\",\"transformer\"],"
	    "\"data\":{\"title\":\"Example Article\",\"keywords\":[\"microservices\",\"architecture\",\"documentation\"],"
	    "\"target_audience\":\"developers\",\"tone\":\"technical\"},\"batch_id\":\"batch_7890\","
	    "\"user_id\":\"user_456\",\"organization_id\":\"org_123\",\"metadata\":{\"source\":\"api\",\"priority\":5}}");
	run_pool(&b, NULL, 1, 1, 5, 1000, 20000);
	doc = box_get(&b, COLL_CONTEXTS, "ctx_123456");
	tmpl = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "data"), "template");
	gc = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "data"), "generated_content");
	is_str(jpath(doc, "processing.provider"), "offline-draft", "the document says the offline-draft provider wrote it");
	for (sec = cJSON_GetObjectItemCaseSensitive(tmpl, "sections")->child; sec; sec = sec->next, k++) {
		const cJSON *range = cJSON_GetObjectItemCaseSensitive(sec, "word_range");
		const char *id = cJSON_GetObjectItemCaseSensitive(sec, "id")->valuestring, *text = NULL;
		int lo = cJSON_GetArrayItem(range, 0)->valueint, hi = cJSON_GetArrayItem(range, 1)->valueint, w;

		if (strcmp(id, "introduction") == 0 || strcmp(id, "conclusion") == 0)
			text = cJSON_GetObjectItemCaseSensitive(gc, id)->valuestring;
		else
			for (const cJSON *it = cJSON_GetObjectItemCaseSensitive(gc, "body")->child; it; it = it->next)
				if (strcmp(cJSON_GetObjectItemCaseSensitive(it, "id")->valuestring, id) == 0)
					text = cJSON_GetObjectItemCaseSensitive(it, "content")->valuestring;
		w = text ? words(text) : -1;
		if (w < lo || w > hi) {
			tap_diag("section %s: %d words, range [%d, %d]", id, w, lo, hi);
			within = 0;
		}
	}
	ok(k >= 4 && within, "each of the %d sections is within its template word range", k);
	out = strdup(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc,
	    "data"), "formatted_content"), "content")->valuestring);
	cJSON_Delete(doc);
	store_close(b.st);
	return out;
}

int
main(void)
{
	char *a, *b;

	test_fairness();
	test_priority();
	test_mixed_once();
	test_retries_and_cancel();
	test_resolution();
	a = example_output();
	b = example_output();
	ok(strlen(a) > 1000 && strncmp(a, "# Example Article\n\n## Introduction\n\n", 36) == 0,
	    "the example context renders as markdown under its title");
	is_str(a, b, "offline-draft output for the schema's example context is stable from run to run");
	free(a);
	free(b);
	return tap_done();
}
