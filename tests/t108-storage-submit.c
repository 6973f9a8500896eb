/*
 * t108-storage-submit - the rules for new contexts and batches that
 * run-batch and the API share (storage/submit.h): accepted and refused
 * inputs with their messages, an organization's limits, allowed models,
 * the pipeline lookup kept to the organization, a batch and insertMany all
 * or nothing, and the daily limit with its reset time.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../base/gbtime.h"
#include "../storage/access.h"
#include "../storage/docs.h"
#include "../storage/store.h"
#include "../storage/submit.h"
#include "tap.h"

static struct store *st;
static struct gb_err err;

/* err, cleared for the next call (the first error wins) */
static struct gb_err *
E(void)
{
	gb_err_clear(&err);
	return &err;
}

static void
put(enum coll c, const char *json)
{
	gb_err_clear(&err);
	if (store_put(st, c, json, strlen(json), STORE_INSERT, NULL, E()))
		tap_bail("put %s: %s", json, err.msg);
}

static int64_t
count(enum coll c)
{
	int64_t n = -1;

	if (store_count(st, c, &n, E()))
		tap_bail("count: %s", err.msg);
	return n;
}

/* A stored document's field (top level, or one level down with "a.b"), as text; "(none)" when absent. */
static const char *
field(enum coll c, const char *id, const char *path)
{
	static char out[512];
	char *text = NULL, key[64], *dot;
	const cJSON *v;
	cJSON *doc;

	gb_err_clear(&err);
	if (store_get(st, c, id, &text, E()))
		return "(no such document)";
	doc = cJSON_Parse(text);
	free(text);
	snprintf(key, sizeof(key), "%s", path);
	if ((dot = strchr(key, '.')) != NULL)
		*dot = '\0';
	v = cJSON_GetObjectItemCaseSensitive(doc, key);
	if (dot)
		v = cJSON_GetObjectItemCaseSensitive(v, dot + 1);
	if (cJSON_IsString(v)) {
		snprintf(out, sizeof(out), "%s", v->valuestring);
	} else if (v) {
		char *s = cJSON_PrintUnformatted(v);

		snprintf(out, sizeof(out), "%s", s);
		free(s);
	} else {
		snprintf(out, sizeof(out), "(none)");
	}
	cJSON_Delete(doc);
	return out;
}

static void
setup(void)
{
	put(COLL_ORGANIZATIONS, "{\"_id\":\"org_a\",\"name\":\"A\",\"settings\":{\"max_batch_size\":3,"
	    "\"max_contexts_per_day\":1000,\"allowed_models\":[\"gpt-4\"],\"default_pipeline_id\":\"pipe_a\"}}");
	put(COLL_ORGANIZATIONS, "{\"_id\":\"org_b\",\"name\":\"B\",\"settings\":{}}");
	put(COLL_ORGANIZATIONS, "{\"_id\":\"org_day\",\"name\":\"Day\",\"settings\":{\"max_contexts_per_day\":5,"
	    "\"default_pipeline_id\":\"pipe_day\"}}");
	put(COLL_COMPONENTS, "{\"_id\":\"comp_tmpl_a\",\"organization_id\":\"org_a\",\"type\":\"template\","
	    "\"config\":{\"template_id\":\"tmpl_x\"}}");
	put(COLL_COMPONENTS, "{\"_id\":\"comp_gen_a\",\"organization_id\":\"org_a\",\"type\":\"ai_generator\","
	    "\"config\":{\"model\":\"gpt-4\"}}");
	put(COLL_COMPONENTS, "{\"_id\":\"comp_gen_a5\",\"organization_id\":\"org_a\",\"type\":\"ai_generator\","
	    "\"config\":{\"model\":\"gpt-5\"}}");
	put(COLL_COMPONENTS, "{\"_id\":\"comp_off_a\",\"organization_id\":\"org_a\",\"type\":\"template\","
	    "\"is_active\":false}");
	put(COLL_COMPONENTS, "{\"_id\":\"comp_gen_b\",\"organization_id\":\"org_b\",\"type\":\"ai_generator\","
	    "\"config\":{\"model\":\"gpt-5\"}}");
	put(COLL_COMPONENTS, "{\"_id\":\"comp_tmpl_day\",\"organization_id\":\"org_day\",\"type\":\"template\"}");
	put(COLL_PIPELINES, "{\"_id\":\"pipe_a\",\"organization_id\":\"org_a\",\"components\":["
	    "{\"component_id\":\"comp_tmpl_a\",\"order\":1},{\"component_id\":\"comp_gen_a\",\"order\":2}]}");
	put(COLL_PIPELINES, "{\"_id\":\"pipe_a5\",\"organization_id\":\"org_a\",\"components\":["
	    "{\"component_id\":\"comp_tmpl_a\",\"order\":1},{\"component_id\":\"comp_gen_a5\",\"order\":2}]}");
	put(COLL_PIPELINES, "{\"_id\":\"pipe_over5\",\"organization_id\":\"org_a\",\"components\":["
	    "{\"component_id\":\"comp_gen_a\",\"order\":1,\"config_overrides\":{\"model\":\"gpt-5\"}}]}");
	put(COLL_PIPELINES, "{\"_id\":\"pipe_over4\",\"organization_id\":\"org_a\",\"components\":["
	    "{\"component_id\":\"comp_gen_a5\",\"order\":1,\"config_overrides\":{\"model\":\"gpt-4\"}}]}");
	put(COLL_PIPELINES, "{\"_id\":\"pipe_off\",\"organization_id\":\"org_a\",\"is_active\":false,"
	    "\"components\":[{\"component_id\":\"comp_tmpl_a\"}]}");
	put(COLL_PIPELINES, "{\"_id\":\"pipe_offcomp\",\"organization_id\":\"org_a\",\"components\":["
	    "{\"component_id\":\"comp_off_a\"}]}");
	put(COLL_PIPELINES, "{\"_id\":\"pipe_borrow\",\"organization_id\":\"org_a\",\"components\":["
	    "{\"component_id\":\"comp_gen_b\"}]}");
	put(COLL_PIPELINES, "{\"_id\":\"pipe_b\",\"organization_id\":\"org_b\",\"components\":["
	    "{\"component_id\":\"comp_gen_b\"}]}");
	put(COLL_PIPELINES, "{\"_id\":\"pipe_day\",\"organization_id\":\"org_day\",\"components\":["
	    "{\"component_id\":\"comp_tmpl_day\"}]}");
}

struct input_case {
	const char *json;
	int in_batch;
	const char *want;		/* NULL: accepted */
};

static const struct input_case input_cases[] = {
	{ "{\"data\":{\"title\":\"t\"}}", 1, NULL },
	{ "{\"_id\":\"ctx_x\",\"type\":\"article\",\"user_id\":\"u\",\"organization_id\":\"org_a\",\"metadata\":"
	  "{\"priority\":2},\"data\":{\"title\":\"t\",\"keywords\":[\"k\"],\"tone\":\"dry\"},\"extra\":[1]}", 1, NULL },
	{ "{\"data\":{\"title\":\"t\"},\"pipeline_id\":\"pipe_a\"}", 0, NULL },
	{ "[1]", 0, "not a JSON object" },
	{ "{\"data\":{\"keywords\":[\"x\"]}}", 1, "field 'data.title' is required" },
	{ "{}", 0, "field 'data.title' is required" },
	{ "{\"data\":{\"title\":\" \\t\"}}", 0, "field 'data.title' is empty" },
	{ "{\"data\":{\"title\":7}}", 1, "field 'data.title': expected a string, got number" },
	{ "{\"data\":\"title\"}", 1, "field 'data': expected an object, got string" },
	{ "{\"data\":{\"title\":\"t\",\"tone\":5}}", 1, "field 'data.tone': expected a string, got number" },
	{ "{\"data\":{\"title\":\"t\",\"target_audience\":[]}}", 0,
	  "field 'data.target_audience': expected a string, got array" },
	{ "{\"data\":{\"title\":\"t\",\"keywords\":\"k\"}}", 1,
	  "field 'data.keywords': expected an array of strings, got string" },
	{ "{\"data\":{\"title\":\"t\",\"keywords\":[\"k\",1]}}", 0,
	  "field 'data.keywords': expected an array of strings, holds a number" },
	{ "{\"data\":{\"title\":\"t\"},\"user_id\":12}", 1, "field 'user_id': expected a string, got number" },
	{ "{\"data\":{\"title\":\"t\"},\"type\":true}", 0, "field 'type': expected a string, got boolean" },
	{ "{\"data\":{\"title\":\"t\"},\"_id\":5}", 0, "field '_id': expected a string, got number" },
	{ "{\"data\":{\"title\":\"t\"},\"metadata\":\"m\"}", 1, "field 'metadata': expected an object, got string" },
	{ "{\"data\":{\"title\":\"t\"},\"status\":\"pending\"}", 1, "field 'status' is the engine's: a line may not set it" },
	{ "{\"data\":{\"title\":\"t\"},\"status\":\"pending\"}", 0,
	  "field 'status' is the engine's: a new context may not set it" },
	{ "{\"data\":{\"title\":\"t\"},\"processing\":{\"completed_components\":[]}}", 0,
	  "field 'processing.completed_components' is the engine's" },
	{ "{\"data\":{\"title\":\"t\"},\"retry_count\":0}", 0, "field 'retry_count' is the engine's" },
	{ "{\"data\":{\"title\":\"t\"},\"next_retry_at\":null}", 0, "field 'next_retry_at' is the engine's" },
	{ "{\"data\":{\"title\":\"t\"},\"error\":null}", 0, "field 'error' is the engine's" },
	{ "{\"data\":{\"title\":\"t\"},\"pipeline\":[]}", 0, "field 'pipeline' is the engine's" },
	{ "{\"data\":{\"title\":\"t\"},\"batch_id\":\"batch_x\"}", 0, "field 'batch_id' is the engine's" },
	{ "{\"data\":{\"title\":\"t\"},\"created_at\":\"2024-01-01T00:00:00Z\"}", 0, "field 'created_at' is the engine's" },
	{ "{\"data\":{\"title\":\"t\"},\"updated_at\":\"2024-01-01T00:00:00Z\"}", 1, "field 'updated_at' is the engine's" },
	{ "{\"data\":{\"title\":\"t\"},\"organization_id\":\"org_b\"}", 1,
	  "field 'organization_id': 'org_b' is not the batch's organization 'org_a'" },
	{ "{\"data\":{\"title\":\"t\"},\"organization_id\":\"org_b\"}", 0,
	  "field 'organization_id': 'org_b' is not the caller's organization 'org_a'" },
	{ "{\"data\":{\"title\":\"t\"},\"organization_id\":1}", 0, "field 'organization_id': expected a string, got number" },
	{ "{\"data\":{\"title\":\"t\"},\"pipeline_id\":\"pipe_a\"}", 1,
	  "field 'pipeline_id': a context of a batch runs the batch's pipeline" },
	{ "{\"data\":{\"title\":\"t\"},\"pipeline_id\":[\"pipe_a\"]}", 0, "field 'pipeline_id': expected a string, got array" },
};

static void
test_inputs(void)
{
	for (size_t i = 0; i < sizeof(input_cases) / sizeof(input_cases[0]); i++) {
		const struct input_case *c = &input_cases[i];
		cJSON *doc = cJSON_Parse(c->json);
		int rc;

		gb_err_clear(&err);
		rc = submit_check_context(doc, "org_a", c->in_batch, c->in_batch ? "line" : NULL, E());
		if (c->want == NULL) {
			is_int(rc, 0, "accepted %s: %s", c->in_batch ? "in a batch" : "alone", c->json);
		} else {
			is_int(rc, GB_EINVAL, "refused %s: %s", c->in_batch ? "in a batch" : "alone", c->json);
			like(err.msg, c->want, "with the field named");
		}
		cJSON_Delete(doc);
	}
}

static void
test_limits(void)
{
	struct submit_limits lim;

	is_int(submit_read_limits(st, "org_a", &lim, E()), 0, "an organization's limits");
	is_int(lim.max_batch_size, 3, "max_batch_size");
	is_int(lim.max_contexts_per_day, 1000, "max_contexts_per_day");
	is_int(cJSON_GetArraySize(lim.allowed_models), 1, "allowed_models");
	is_str(cJSON_GetStringValue(cJSON_GetArrayItem(lim.allowed_models, 0)), "gpt-4", "holding gpt-4");
	is_str(lim.default_pipeline_id, "pipe_a", "default_pipeline_id");
	submit_limits_release(&lim);
	is_int(submit_read_limits(st, "org_b", &lim, E()), 0, "an organization without settings");
	ok(lim.max_batch_size == -1 && lim.max_contexts_per_day == -1 && lim.allowed_models == NULL &&
	    lim.default_pipeline_id[0] == '\0', "has no limits, every model, no default pipeline");
	submit_limits_release(&lim);
	is_int(submit_read_limits(st, "org_nowhere", &lim, E()), 0, "nor has one without a document");
	ok(lim.max_batch_size == -1 && lim.allowed_models == NULL, "(no limits)");
	submit_limits_release(&lim);
	/* 1699920000000 is 2023-11-14T00:00:00Z */
	is_int(submit_day_reset_ms(1700000000000LL), 1699920000000LL + 86400000, "the day resets at the next 00:00 UTC");
	is_int(submit_day_reset_ms(1699920000000LL), 1699920000000LL + 86400000, "midnight itself: the next one");
}

static int
check_pipe(const char *org, const char *pipe)
{
	struct submit_limits lim;
	int rc;

	gb_err_clear(&err);
	if (submit_read_limits(st, org, &lim, E()))
		tap_bail("limits: %s", err.msg);
	rc = submit_check_pipeline(st, org, pipe, &lim, E());
	submit_limits_release(&lim);
	return rc;
}

static void
test_pipelines(void)
{
	char unknown[256];

	is_int(check_pipe("org_a", "pipe_a"), 0, "a pipeline of the organization with allowed models");
	is_int(check_pipe("org_a", "pipe_a5"), GB_EPERM, "a component's model not in allowed_models: GB_EPERM");
	like(err.msg, "model 'gpt-5' (component 'comp_gen_a5') is not allowed for organization 'org_a'",
	    "naming the model and the component");
	is_int(check_pipe("org_a", "pipe_over5"), GB_EPERM, "a model set by config_overrides counts");
	like(err.msg, "model 'gpt-5'", "(%s)", err.msg);
	is_int(check_pipe("org_a", "pipe_over4"), 0, "and an override to an allowed model is allowed");
	is_int(check_pipe("org_b", "pipe_b"), 0, "no allowed_models: every model is allowed");
	is_int(check_pipe("org_a", "pipe_none"), GB_EINVAL, "an unknown pipeline: GB_EINVAL");
	is_str(err.msg, "unknown pipeline 'pipe_none'", "named");
	snprintf(unknown, sizeof(unknown), "unknown pipeline 'pipe_b'");
	is_int(check_pipe("org_a", "pipe_b"), GB_EINVAL, "another organization's pipeline: GB_EINVAL");
	is_str(err.msg, unknown, "word for word as a missing one");
	is_int(check_pipe("org_b", "pipe_a"), GB_EINVAL, "and the other way round");
	is_int(check_pipe("org_a", "pipe_off"), GB_EINVAL, "an inactive pipeline");
	is_str(err.msg, "pipeline 'pipe_off' is not active", "said so");
	is_int(check_pipe("org_a", "pipe_offcomp"), GB_EINVAL, "an inactive component");
	is_str(err.msg, "pipeline 'pipe_offcomp': unknown component 'comp_off_a'", "is unknown, as the engine says");
	is_int(check_pipe("org_a", "pipe_borrow"), GB_EINVAL, "another organization's component");
	is_str(err.msg, "pipeline 'pipe_borrow': unknown component 'comp_gen_b'", "is unknown too");
}

/* items[i] parsed from texts[i] (each kept as its text); free with items_free. */
static struct submit_item *
items_new(const char *const *texts, size_t n)
{
	struct submit_item *it = calloc(n, sizeof(*it));

	for (size_t i = 0; i < n; i++) {
		it[i].doc = cJSON_Parse(texts[i]);
		it[i].text = texts[i];
		it[i].len = strlen(texts[i]);
	}
	return it;
}

static void
items_free(struct submit_item *it, size_t n)
{
	for (size_t i = 0; i < n; i++)
		cJSON_Delete((cJSON *)it[i].doc);
	free(it);
}

/* A batch refused with code and message, and nothing written. */
static void
batch_refused(const struct submit_opts *o, const char *const *texts, size_t n, int code, size_t failed,
    const char *want, const char *what)
{
	int64_t c0 = count(COLL_CONTEXTS), b0 = count(COLL_BATCHES);
	struct submit_item *it = items_new(texts, n);
	struct submit_result res;

	gb_err_clear(&err);
	is_int(submit_batch_create(st, o, it, n, &res, E()), code, "%s: refused", what);
	like(err.msg, want, "%s: the message says why", what);
	is_int((int64_t)res.failed, failed == SIZE_MAX ? -1 : (int64_t)failed, "%s: names the context at fault",
	    what);
	ok(count(COLL_CONTEXTS) == c0 && count(COLL_BATCHES) == b0, "%s: nothing created", what);
	items_free(it, n);
}

static void
test_batches(void)
{
	static const char *const good[] = {
		"{\"_id\":\"ctx_b1\",\"data\":{\"title\":\"One\"},\"n\":9007199254740993}",
		"{\"data\":{\"title\":\"Two\"},\"user_id\":\"user_own\"}",
		"{\"data\":{\"title\":\"Three\"},\"organization_id\":\"org_a\"}",
	};
	static const char *const four[] = { "{\"data\":{\"title\":\"1\"}}", "{\"data\":{\"title\":\"2\"}}",
	    "{\"data\":{\"title\":\"3\"}}", "{\"data\":{\"title\":\"4\"}}" };
	static const char *const bad2[] = { "{\"data\":{\"title\":\"a\"}}", "{\"data\":{\"title\":\"\"}}" };
	static const char *const dup[] = { "{\"_id\":\"ctx_d\",\"data\":{\"title\":\"a\"}}",
	    "{\"_id\":\"ctx_d\",\"data\":{\"title\":\"b\"}}" };
	struct submit_opts o = { "org_a", "user_1", "pipe_a", "daily.jsonl", NULL, "run-batch", "the file", "line" };
	struct submit_item *it = items_new(good, 3);
	struct submit_result res;
	char id1[STORE_ID_MAX];

	is_int(submit_batch_create(st, &o, it, 3, &res, E()), 0, "a batch of 3 where 3 are allowed (%s)", err.msg);
	items_free(it, 3);
	is_int((int64_t)res.count, 3, "3 contexts");
	like(res.batch_id, "batch_", "the batch's _id given back");
	like(field(COLL_BATCHES, res.batch_id, "context_ids"), "[\"ctx_b1\",\"ctx_", "its context_ids, in order");
	is_str(field(COLL_BATCHES, res.batch_id, "context_count"), "3", "context_count");
	is_str(field(COLL_BATCHES, res.batch_id, "pipeline_id"), "pipe_a", "pipeline_id");
	is_str(field(COLL_BATCHES, res.batch_id, "created_by"), "user_1", "created_by");
	is_str(field(COLL_BATCHES, res.batch_id, "metadata.source"), "run-batch", "metadata.source");
	is_str(field(COLL_BATCHES, res.batch_id, "name"), "daily.jsonl", "its name");
	snprintf(id1, sizeof(id1), "%s", res.batch_id);
	is_str(field(COLL_CONTEXTS, "ctx_b1", "batch_id"), id1, "a context carries its batch_id");
	is_str(field(COLL_CONTEXTS, "ctx_b1", "organization_id"), "org_a", "and the organization");
	is_str(field(COLL_CONTEXTS, "ctx_b1", "user_id"), "user_1", "and the default user_id");
	is_str(field(COLL_CONTEXTS, "ctx_b1", "pipeline_id"), "(none)", "and no pipeline of its own");
	is_str(field(COLL_CONTEXTS, "ctx_b1", "status"), "pending", "pending");
	{
		char *text = NULL;

		store_get(st, COLL_CONTEXTS, "ctx_b1", &text, E());
		like(text, "\"n\":9007199254740993", "an integer past 2^53 keeps its exact text");
		free(text);
	}
	batch_refused(&o, four, 4, GB_EINVAL, SIZE_MAX, "'daily.jsonl' holds more than 3 contexts: organization "
	    "'org_a' allows 3 in a batch (settings.max_batch_size)", "4 where 3 are allowed");
	batch_refused(&o, bad2, 2, GB_EINVAL, 1, "field 'data.title' is empty", "a bad second context");
	batch_refused(&o, dup, 2, GB_EEXIST, 1, "ctx_d", "an _id twice");
	o.pipeline_id = "pipe_a5";
	batch_refused(&o, bad2, 1, GB_EPERM, SIZE_MAX, "model 'gpt-5'", "a pipeline with a model not allowed");
	o.pipeline_id = "pipe_b";
	batch_refused(&o, bad2, 1, GB_EINVAL, SIZE_MAX, "unknown pipeline 'pipe_b'", "another organization's pipeline");
	o.pipeline_id = NULL;
	o.name = NULL;
	it = items_new(good + 1, 1);
	is_int(submit_batch_create(st, &o, it, 1, &res, E()), 0, "no pipeline_id: the organization's default");
	is_str(field(COLL_BATCHES, res.batch_id, "pipeline_id"), "pipe_a", "is the batch's");
	items_free(it, 1);
	batch_refused(&o, bad2, 0, GB_EINVAL, SIZE_MAX, "the batch holds no contexts", "no contexts");
	o.org = "org_b";
	batch_refused(&o, bad2, 1, GB_EINVAL, SIZE_MAX, "field 'pipeline_id' is required", "no pipeline at all");
}

/* The streaming form: what run-batch does line by line; abort undoes it. */
static void
test_batch_steps(void)
{
	struct submit_opts o = { "org_a", NULL, "pipe_a", NULL, NULL, NULL, NULL, NULL };
	cJSON *doc = cJSON_Parse("{\"data\":{\"title\":\"Step\"}}");
	struct submit_item it = { doc, NULL, 0 };
	int64_t c0 = count(COLL_CONTEXTS), b0 = count(COLL_BATCHES);
	struct submit_batch *b = NULL;
	struct submit_result res;
	char id[STORE_ID_MAX] = "";

	is_int(submit_batch_begin(st, &o, &b, &res, E()), 0, "begin a batch");
	is_int(submit_batch_add(b, &it, id, &res, E()), 0, "add a context");
	like(id, "ctx_", "its _id given back");
	submit_batch_abort(b);
	ok(count(COLL_CONTEXTS) == c0 && count(COLL_BATCHES) == b0, "abort: nothing kept");
	b = NULL;
	is_int(submit_batch_begin(st, &o, &b, &res, E()), 0, "begin again");
	for (int i = 0; i < 3; i++)
		submit_batch_add(b, &it, NULL, &res, E());
	is_int(submit_batch_add(b, &it, NULL, &res, E()), GB_EINVAL, "the 4th is refused at once");
	like(err.msg, "the batch holds more than 3 contexts", "a batch without a name is 'the batch'");
	submit_batch_abort(b);
	ok(count(COLL_CONTEXTS) == c0 && count(COLL_BATCHES) == b0, "and nothing kept");
	cJSON_Delete(doc);
}

static void
test_alone(void)
{
	static const char *const two[] = { "{\"_id\":\"ctx_m1\",\"data\":{\"title\":\"M1\"}}",
	    "{\"_id\":\"ctx_m2\",\"data\":{\"title\":\"M2\"},\"pipeline_id\":\"pipe_over4\"}" };
	static const char *const forbidden[] = { "{\"data\":{\"title\":\"ok\"}}",
	    "{\"data\":{\"title\":\"no\"},\"pipeline_id\":\"pipe_a5\"}" };
	static const char *const bad[] = { "{\"data\":{\"title\":\"ok\"}}", "{\"data\":{\"title\":\"ok\"}}",
	    "{\"data\":{\"title\":\"ok\"},\"batch_id\":\"batch_x\"}" };
	static const char *const theirs[] = { "{\"data\":{\"title\":\"x\"},\"pipeline_id\":\"pipe_b\"}" };
	static const char *const four[] = { two[0], two[1], bad[0], bad[1] };
	struct submit_opts o = { "org_a", "user_api", NULL, NULL, NULL, NULL, NULL, NULL };
	char ids[4][STORE_ID_MAX];
	struct submit_result res;
	struct submit_item *it = items_new(two, 2);
	int64_t c0;

	is_int(submit_contexts_create(st, &o, it, 2, ids, &res, E()), 0, "insertMany of 2 (%s)", err.msg);
	items_free(it, 2);
	is_str(ids[0], "ctx_m1", "their _ids given back");
	is_str(ids[1], "ctx_m2", "in order");
	is_str(field(COLL_CONTEXTS, "ctx_m1", "pipeline_id"), "pipe_a", "no pipeline_id: the organization's default");
	is_str(field(COLL_CONTEXTS, "ctx_m2", "pipeline_id"), "pipe_over4", "or its own");
	is_str(field(COLL_CONTEXTS, "ctx_m1", "batch_id"), "(none)", "no batch");
	is_str(field(COLL_CONTEXTS, "ctx_m1", "user_id"), "user_api", "the caller's user_id");
	is_str(field(COLL_CONTEXTS, "ctx_m1", "organization_id"), "org_a", "the caller's organization");
	o.pipeline_id = "pipe_over4";
	it = items_new(forbidden, 1);
	is_int(submit_contexts_create(st, &o, it, 1, ids, &res, E()), 0, "the call's pipeline_id");
	is_str(field(COLL_CONTEXTS, ids[0], "pipeline_id"), "pipe_over4", "is the context's");
	items_free(it, 1);
	o.pipeline_id = NULL;

	c0 = count(COLL_CONTEXTS);
	it = items_new(forbidden, 2);
	is_int(submit_contexts_create(st, &o, it, 2, ids, &res, E()), GB_EPERM, "one context's pipeline uses gpt-5");
	like(err.msg, "model 'gpt-5'", "named");
	is_int((int64_t)res.failed, 1, "the second is at fault");
	is_int(count(COLL_CONTEXTS), c0, "and the first was not kept either");
	items_free(it, 2);
	it = items_new(bad, 3);
	is_int(submit_contexts_create(st, &o, it, 3, ids, &res, E()), GB_EINVAL, "a bad third context");
	is_int((int64_t)res.failed, 2, "named by its index");
	like(err.msg, "field 'batch_id' is the engine's: a new context may not set it", "and its field");
	is_int(count(COLL_CONTEXTS), c0, "nothing kept");
	items_free(it, 3);
	it = items_new(four, 4);
	is_int(submit_contexts_create(st, &o, it, 4, ids, &res, E()), GB_EINVAL, "4 where max_batch_size is 3");
	like(err.msg, "the request holds more than 3 contexts: organization 'org_a' allows 3 in a batch", "said so");
	is_int(count(COLL_CONTEXTS), c0, "nothing kept");
	items_free(it, 4);
	it = items_new(two, 1);
	is_int(submit_contexts_create(st, &o, it, 1, ids, &res, E()), GB_EEXIST, "an _id taken: GB_EEXIST");
	items_free(it, 1);
	it = items_new(theirs, 1);
	is_int(submit_contexts_create(st, &o, it, 1, ids, &res, E()), GB_EINVAL, "another organization's pipeline");
	is_str(err.msg, "unknown pipeline 'pipe_b'", "is unknown");
	items_free(it, 1);
	o.org = "org_b";
	it = items_new(bad, 1);
	is_int(submit_contexts_create(st, &o, it, 1, ids, &res, E()), GB_EINVAL, "no pipeline anywhere");
	like(err.msg, "field 'pipeline_id' is required: organization 'org_b' has no settings.default_pipeline_id",
	    "said so");
	is_int(count(COLL_CONTEXTS), c0, "nothing kept");
	items_free(it, 1);
}

static void
test_daily(void)
{
	static const char *const one[] = { "{\"data\":{\"title\":\"d\"}}", "{\"data\":{\"title\":\"d\"}}",
	    "{\"data\":{\"title\":\"d\"}}" };
	struct submit_opts o = { "org_day", NULL, NULL, NULL, NULL, NULL, NULL, NULL };
	struct submit_item *it = items_new(one, 3);
	struct submit_result res;
	int64_t now, c0;

	/* an old context does not count */
	put(COLL_CONTEXTS, "{\"organization_id\":\"org_day\",\"created_at\":\"2023-01-01T00:00:00Z\"}");
	is_int(submit_contexts_create(st, &o, it, 3, NULL, &res, E()), 0, "3 of 5 today");
	is_int(submit_batch_create(st, &o, it, 2, &res, E()), 0, "and a batch of 2: 5 of 5");
	c0 = count(COLL_CONTEXTS);
	now = gb_now_ms();
	is_int(submit_contexts_create(st, &o, it, 1, NULL, &res, E()), GB_ELIMIT, "the 6th: GB_ELIMIT");
	like(err.msg, "organization 'org_day' allows 5 contexts a day (settings.max_contexts_per_day): 5 created "
	    "today and 1 in the request; the day starts again at 00:00 UTC, in ", "the message says when");
	is_int(res.today, 5, "5 created today");
	ok(res.reset_ms % 86400000 == 0 && res.reset_ms > now && res.reset_ms - now <= 86400000,
	    "the reset time is the next 00:00 UTC (%lld)", (long long)res.reset_ms);
	is_int(count(COLL_CONTEXTS), c0, "nothing kept");
	is_int(submit_batch_create(st, &o, it, 1, &res, E()), GB_ELIMIT, "a batch too");
	is_int(res.reset_ms, submit_day_reset_ms(gb_now_ms()), "with the reset time");
	is_int(count(COLL_CONTEXTS), c0, "nothing kept, no batch either");
	put(COLL_CONTEXTS, "{\"organization_id\":\"org_b\",\"data\":{\"title\":\"other\"}}");
	is_int(submit_batch_create(st, &o, it, 1, &res, E()), GB_ELIMIT, "another organization's contexts "
	    "change nothing");
	is_int(res.today, 5, "its count stays 5");
	items_free(it, 3);
}

/*
 * A text that is not the checked document (a caller that found the wrong
 * text) is refused: the rules ran on the document, so the text written must
 * be it.
 */
static void
test_text_mismatch(void)
{
	static const char forged[] = "{\"organization_id\":\"org_b\",\"status\":\"failed\","
	    "\"data\":{\"title\":\"Forged\"}}";
	static const char reordered[] = "{\"data\":{\"title\":\"A\"},\"type\":\"x\"}";
	struct submit_opts o = { "org_a", "user_api", "pipe_a", NULL, NULL, NULL, NULL, NULL };
	cJSON *doc = cJSON_Parse("{\"data\":{\"title\":\"Forged\"}}");
	cJSON *doc2 = cJSON_Parse("{\"type\":\"x\",\"data\":{\"title\":\"A\"}}");
	struct submit_item it = { doc, forged, sizeof(forged) - 1 };
	int64_t c0 = count(COLL_CONTEXTS), b0 = count(COLL_BATCHES);
	struct submit_result res;

	is_int(submit_contexts_create(st, &o, &it, 1, NULL, &res, E()), GB_EINVAL,
	    "a context whose text is not its checked input: refused");
	is_str(err.msg, "the context's text is not the input that was checked", "the message says why");
	is_int(submit_batch_create(st, &o, &it, 1, &res, E()), GB_EINVAL, "in a batch too");
	it = (struct submit_item){ doc2, reordered, sizeof(reordered) - 1 };
	is_int(submit_contexts_create(st, &o, &it, 1, NULL, &res, E()), GB_EINVAL,
	    "the same members in another order are another text: refused");
	ok(count(COLL_CONTEXTS) == c0 && count(COLL_BATCHES) == b0, "nothing written");
	it = (struct submit_item){ doc, NULL, 0 };
	is_int(submit_contexts_create(st, &o, &it, 1, NULL, &res, E()), 0,
	    "the same document without a text is written (%s)", err.msg);
	is_int(count(COLL_CONTEXTS), c0 + 1, "one context");
	cJSON_Delete(doc);
	cJSON_Delete(doc2);
}

/*
 * A batch's document lists its contexts' _ids and is bound by 16 MiB: a
 * context that would carry it past is refused, naming the batch and the
 * way out, and nothing is written.
 */
static void
test_batch_document(void)
{
	static const char *const one[] = { "{\"data\":{\"title\":\"One\"}}" };
	struct submit_opts o = { "org_a", "user_1", "pipe_a", "big.jsonl", NULL, "run-batch", "the file",
		"line" };
	size_t pad = STORE_MAX_DOC - 400;
	char *text = malloc(pad + 1);
	cJSON *meta = cJSON_CreateObject();

	memset(text, 'p', pad);
	text[pad] = '\0';
	cJSON_AddStringToObject(meta, "pad", text);
	free(text);
	o.metadata = meta;
	batch_refused(&o, one, 1, GB_EINVAL, SIZE_MAX, "'big.jsonl': the batch's document would pass 16777216 "
	    "bytes at context 1 (its contexts' _ids and its metadata): split it into several batches",
	    "a batch whose document would pass 16 MiB");
	cJSON_Delete(meta);
}

int
main(void)
{
	if (store_open(&st, ":memory:", NULL, E()))
		tap_bail("store_open: %s", err.msg);
	setup();
	test_inputs();
	test_limits();
	test_pipelines();
	test_batches();
	test_batch_document();
	test_batch_steps();
	test_alone();
	test_daily();
	test_text_mismatch();
	store_close(st);
	return tap_done();
}
