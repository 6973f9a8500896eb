/*
 * t240-pipeline-llm - run-batch against the real llama.cpp server: the whole
 * pipeline with usage and cost recorded and summed on the batch, stop
 * sequences passed through, a wrong key failing at once; and, from a
 * scripted responder that only produces faults, 429 and 503 retried no
 * sooner than their Retry-After.
 */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <civetweb.h>
#include <cjson/cJSON.h>

#include "peer.h"
#include "tap.h"
#include "util.h"

#define KEY "t240-key"

static char db[4096], dbarg[4200];

static void
genbox_ok(const char *what, const char *in, ...)
{
	char *argv[32];
	struct run r;
	va_list ap;
	int n = 0;

	argv[n++] = (char *)util_genbox();
	argv[n++] = dbarg;
	va_start(ap, in);
	while (n < 31 && (argv[n] = va_arg(ap, char *)) != NULL)
		n++;
	va_end(ap);
	argv[n] = NULL;
	util_run(&r, in, in ? strlen(in) : 0, argv);
	if (r.status != 0)
		tap_bail("%s: %s%s", what, r.out, r.err);
	run_free(&r);
}

static const char catalog[] =
    "{\"_id\":\"org_llm\",\"name\":\"LLM\",\"settings\":{\"allowed_models\":[\"tiny-llama\"]}}\n";
static const char templates[] =
    "{\"_id\":\"tmpl_llm\",\"organization_id\":\"org_llm\",\"name\":\"Short\",\"structure\":{\"sections\":["
    "{\"id\":\"introduction\",\"type\":\"text\",\"name\":\"Introduction\",\"instructions\":\"Introduce\","
    "\"word_range\":[10,20]},{\"id\":\"main\",\"type\":\"text\",\"name\":\"Main\",\"instructions\":\"Explain\","
    "\"word_range\":[10,20]},{\"id\":\"conclusion\",\"type\":\"text\",\"name\":\"Conclusion\","
    "\"instructions\":\"Conclude\",\"word_range\":[10,20]}]}}\n"
    "{\"_id\":\"tmpl_one\",\"organization_id\":\"org_llm\",\"name\":\"One\",\"structure\":{\"sections\":["
    "{\"id\":\"introduction\",\"type\":\"text\",\"name\":\"Introduction\",\"instructions\":\"Introduce\","
    "\"word_range\":[10,20]}]}}\n";

static void
components(const char *stop)
{
	char text[2048];

	snprintf(text, sizeof(text),
	    "{\"_id\":\"comp_llm_tmpl\",\"organization_id\":\"org_llm\",\"type\":\"template\",\"config\":{\"template_id\":\"tmpl_llm\"}}\n"
	    "{\"_id\":\"comp_llm_gen\",\"organization_id\":\"org_llm\",\"type\":\"ai_generator\",\"config\":{\"model\":\"tiny-llama\","
	    "\"temperature\":0,\"max_tokens\":24%s%s%s},\"metadata\":{\"cost_per_1k_tokens\":0.5}}\n"
	    "{\"_id\":\"comp_llm_md\",\"organization_id\":\"org_llm\",\"type\":\"transformer\",\"config\":{\"format\":\"markdown\"}}\n",
	    stop ? ",\"stop_sequences\":[" : "", stop ? stop : "", stop ? "]" : "");
	genbox_ok("components", text, "import", "--upsert", "components", "-", NULL);
}

/* run-batch of n contexts; returns the exit status, the batch _id in batch */
static int
run_batch(const char *pipeline, int n, char batch[128], char **out)
{
	char input[4096], *text = malloc((size_t)n * 200 + 1), *p;
	struct run r;
	int status;

	text[0] = '\0';
	for (int i = 0; i < n; i++)
		snprintf(text + strlen(text), 200, "{\"data\":{\"title\":\"Tiny model %d\",\"keywords\":[\"llama\"],"
		    "\"tone\":\"plain\"}}\n", i % 2);
	snprintf(input, sizeof(input), "%s/in.jsonl", util_tmpdir());
	util_write_file(input, text, strlen(text));
	free(text);
	util_genbox_run(&r, NULL, dbarg, "run-batch", "--pipeline", pipeline, "--input", input, "--workers", "2", NULL);
	status = r.status;
	batch[0] = '\0';
	if ((p = strstr(r.out, "batch batch_")) != NULL)
		sscanf(p + 6, "%127[^:]", batch);
	*out = r.out;
	if (status != 0 && status != 2)
		tap_diag("run-batch: %s%s", r.out, r.err);
	free(r.err);
	return status;
}

static cJSON *
batch_contexts(const char *batch)
{
	char filter[256], *line, *save = NULL;
	cJSON *all = cJSON_CreateArray();
	struct run r;

	snprintf(filter, sizeof(filter), "{\"batch_id\":\"%s\"}", batch);
	util_genbox_run(&r, NULL, dbarg, "export", "contexts", "--filter", filter, NULL);
	for (line = strtok_r(r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		cJSON_AddItemToArray(all, cJSON_Parse(line));
	run_free(&r);
	return all;
}

static cJSON *
get_path(cJSON *doc, const char *path)
{
	char p[256], *seg, *save = NULL;
	cJSON *v = doc;

	snprintf(p, sizeof(p), "%s", path);
	for (seg = strtok_r(p, ".", &save); seg && v; seg = strtok_r(NULL, ".", &save))
		v = cJSON_GetObjectItemCaseSensitive(v, seg);
	return v;
}

static double
num(cJSON *doc, const char *path)
{
	cJSON *v = get_path(doc, path);

	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static const char *
str(cJSON *doc, const char *path)
{
	cJSON *v = get_path(doc, path);

	return cJSON_IsString(v) ? v->valuestring : "(none)";
}

static void
test_llama(const char *url)
{
	char batch[128], *out, stop[64] = "", *intro_full = NULL;
	cJSON *ctxs, *c, *b;
	double pt = 0, ct = 0, cost = 0;
	int all_ok = 1, status;

	setenv("GENBOX_GENERATOR_URL", url, 1);
	setenv("GENBOX_GENERATOR_KEY", KEY, 1);
	components(NULL);
	status = run_batch("pipe_llm", 4, batch, &out);
	is_int(status, 0, "run-batch of 4 contexts against llama.cpp: exit 0");
	like(out, "4 completed, 0 failed", "the summary says all completed");
	free(out);
	ctxs = batch_contexts(batch);
	cJSON_ArrayForEach(c, ctxs) {
		if (strcmp(str(c, "status"), "completed") != 0 || num(c, "processing.usage.prompt_tokens") <= 0 ||
		    num(c, "processing.usage.completion_tokens") <= 0 ||
		    num(c, "processing.usage.completion_tokens") > 3 * 24 ||
		    strcmp(str(c, "processing.provider"), "openai-compatible") != 0)
			all_ok = 0;
		pt += num(c, "processing.usage.prompt_tokens");
		ct += num(c, "processing.usage.completion_tokens");
		cost += num(c, "processing.usage.cost");
		if (intro_full == NULL && strcmp(str(c, "data.title"), "Tiny model 0") == 0)
			intro_full = strdup(str(c, "data.generated_content.introduction"));
	}
	ok(all_ok, "each context completed by the openai-compatible provider, with prompt tokens and at most "
	    "3 x max_tokens completion tokens");
	ok(fabs(cost - (pt + ct) / 1000.0 * 0.5) < 1e-9, "cost is tokens / 1000 x cost_per_1k_tokens");
	cJSON_Delete(ctxs);
	{
		char filter[256];
		struct run r;

		snprintf(filter, sizeof(filter), "{\"_id\":\"%s\"}", batch);
		util_genbox_run(&r, NULL, dbarg, "export", "batches", "--filter", filter, NULL);
		b = cJSON_Parse(r.out);
		run_free(&r);
	}
	is_int((int64_t)num(b, "usage.prompt_tokens"), (int64_t)pt, "the batch sums the prompt tokens");
	is_int((int64_t)num(b, "usage.completion_tokens"), (int64_t)ct, "and the completion tokens");
	is_int((int64_t)num(b, "completed_count"), 4, "and counts 4 completed");
	cJSON_Delete(b);

	/* a stop sequence from the middle of what temperature 0 wrote: the same prompt stops before it */
	ok(intro_full && strlen(intro_full) > 12, "an introduction to cut: '%s'", intro_full ? intro_full : "");
	if (intro_full && strlen(intro_full) > 12) {
		size_t at = strlen(intro_full) / 2;
		cJSON *s;
		char *quoted;

		snprintf(stop, sizeof(stop), "%.3s", intro_full + at);
		s = cJSON_CreateString(stop);
		quoted = cJSON_PrintUnformatted(s);
		components(quoted);
		free(quoted);
		cJSON_Delete(s);
		status = run_batch("pipe_llm", 2, batch, &out);
		free(out);
		is_int(status, 0, "a batch with stop_sequences runs");
		ctxs = batch_contexts(batch);
		cJSON_ArrayForEach(c, ctxs)
			if (strcmp(str(c, "data.title"), "Tiny model 0") == 0) {
				const char *cut = str(c, "data.generated_content.introduction");
				char *first = strstr(intro_full, stop);

				ok(first && strlen(cut) == (size_t)(first - intro_full) &&
				    strncmp(cut, intro_full, strlen(cut)) == 0,
				    "the text stops right before the stop sequence '%s': '%s'", stop, cut);
			}
		cJSON_Delete(ctxs);
	}
	free(intro_full);

	/* a wrong key: fails at once, no retries */
	setenv("GENBOX_GENERATOR_KEY", "wrong-key", 1);
	components(NULL);
	status = run_batch("pipe_llm", 1, batch, &out);
	free(out);
	is_int(status, 2, "with a wrong key run-batch exits 2 (some failed)");
	ctxs = batch_contexts(batch);
	c = cJSON_GetArrayItem(ctxs, 0);
	is_str(str(c, "status"), "failed", "the context failed");
	is_int((int64_t)num(c, "retry_count"), 0, "permanently, without retries");
	like(str(c, "error.message"), "HTTP 401", "the error says 401");
	cJSON_Delete(ctxs);
	setenv("GENBOX_GENERATOR_KEY", KEY, 1);
}

/* ---- a responder that answers 429, then 503, then 503 ---- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t hits[16];
static int nhits;

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
fault(struct mg_connection *conn, void *arg)
{
	char body[1024];
	int k;

	(void)arg;
	while (mg_read(conn, body, sizeof(body)) > 0)
		;
	pthread_mutex_lock(&mu);
	k = nhits;
	if (nhits < 16)
		hits[nhits++] = mono_ms();
	/* civetweb formats its Date header with gmtime(): one response at a time */
	{
		const char *body429 = "{\"error\":{\"message\":\"slow down please\"}}";
		const char *body503 = "{\"error\":{\"message\":\"overloaded\"}}";

		if (k == 0)
			mg_printf(conn, "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 2\r\nContent-Type: application/json\r\n"
			    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", strlen(body429), body429);
		else
			mg_printf(conn, "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: application/json\r\n"
			    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", strlen(body503), body503);
	}
	pthread_mutex_unlock(&mu);
	return 1;
}

static void
test_retry_after(void)
{
	const char *opts[] = { "listening_ports", NULL, "num_threads", "4", NULL };
	char port[32], url[64], batch[128], *out;
	struct mg_context *ctx;
	cJSON *ctxs, *c;
	int status;

	snprintf(port, sizeof(port), "127.0.0.1:%d", peer_free_port());
	opts[1] = port;
	if ((ctx = mg_start(NULL, NULL, opts)) == NULL)
		tap_bail("civetweb did not start on %s", port);
	mg_set_request_handler(ctx, "/v1/chat/completions", fault, NULL);
	snprintf(url, sizeof(url), "http://%s", port);
	setenv("GENBOX_GENERATOR_URL", url, 1);
	setenv("GENBOX_WORKERS_MAX_RETRIES", "2", 1);
	setenv("GENBOX_WORKERS_RETRY_BASE_MS", "100", 1);
	genbox_ok("pipeline", "{\"_id\":\"pipe_one\",\"organization_id\":\"org_llm\",\"components\":["
	    "{\"component_id\":\"comp_llm_tmpl\",\"order\":1,\"config_overrides\":{\"template_id\":\"tmpl_one\"}},"
	    "{\"component_id\":\"comp_llm_gen\",\"order\":2}]}\n", "import", "pipelines", "-", NULL);
	status = run_batch("pipe_one", 1, batch, &out);
	free(out);
	mg_stop(ctx);
	is_int(status, 2, "a context that only meets 429 and 503 fails in the end: exit 2");
	is_int(nhits, 3, "the endpoint was called three times: once and max_retries (2) more");
	if (nhits >= 3) {
		int64_t a = hits[1] - hits[0], b = hits[2] - hits[1];

		/* only the lower bound is the point: a loaded machine may be late, never early */
		ok(a >= 2000, "the retry after 429 came no sooner than its Retry-After of 2 s (%lld ms)", (long long)a);
		ok(b >= 1000, "the retry after 503 came no sooner than its Retry-After of 1 s (%lld ms)", (long long)b);
	}
	ctxs = batch_contexts(batch);
	c = cJSON_GetArrayItem(ctxs, 0);
	is_int((int64_t)num(c, "retry_count"), 2, "retry_count is 2");
	like(str(c, "error.message"), "HTTP 503", "the last error is the 503");
	cJSON_Delete(ctxs);
	unsetenv("GENBOX_WORKERS_MAX_RETRIES");
	unsetenv("GENBOX_WORKERS_RETRY_BASE_MS");
}

int
main(void)
{
	const char *url = peer_llama_start(KEY);	/* before any thread */

	snprintf(db, sizeof(db), "%s/llm.db", util_tmpdir());
	snprintf(dbarg, sizeof(dbarg), "--db=%s", db);
	genbox_ok("demo", NULL, "demo", NULL);
	genbox_ok("organization", catalog, "import", "organizations", "-", NULL);
	genbox_ok("templates", templates, "import", "templates", "-", NULL);
	components(NULL);
	genbox_ok("pipeline", "{\"_id\":\"pipe_llm\",\"organization_id\":\"org_llm\",\"components\":["
	    "{\"component_id\":\"comp_llm_tmpl\",\"order\":1},{\"component_id\":\"comp_llm_gen\",\"order\":2},"
	    "{\"component_id\":\"comp_llm_md\",\"order\":3}]}\n", "import", "pipelines", "-", NULL);
	test_llama(url);
	peer_llama_stop();
	test_retry_after();
	return tap_done();
}
