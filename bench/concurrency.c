/*
 * bench/concurrency - generator calls in flight: K contexts of 3 sections
 * each through the genbox binary's run-batch against an endpoint in this
 * process that answers every chat completion after 1 s. Prints the calls
 * answered and at most at once, the child's wall time and peak RSS (wait4),
 * each beside its aim.
 *
 * usage: concurrency [--contexts K]     (default 200, at most 1000)
 * The genbox binary is $GENBOX_BIN, else ../genbox beside this program's
 * folder. The database lives in a new folder under /var/tmp, removed at
 * the end. Exit status 1 when the run could not be measured (run-batch
 * failed, contexts left over); never because of a figure.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <civetweb.h>
#include <cjson/cJSON.h>

#include "../storage/access.h"
#include "../storage/docs.h"
#include "../storage/store.h"
#include "lib/benchlib.h"
#include "lib/fixture.h"

extern char **environ;

#define SLOW_DEFAULT		200
#define SLOW_DELAY_MS		1000
#define SLOW_CALLS		3		/* sections of the template */
#define SLOW_AIM_S		(1.5 * SLOW_CALLS * SLOW_DELAY_MS / 1000.0)
#define SLOW_RSS_AIM_MB		100.0
#define SLOW_MAX_CONCURRENT	"1000"
#define SLOW_TIMEOUT_S		300		/* run-batch */
#define ORG			"org_123"

struct slow_server {
	struct mg_context *ctx;
	int port;
	char *reply;			/* the chat.completion body, read-only once built */
	size_t reply_len;
	pthread_mutex_t header_mu;	/* civetweb dates its headers with gmtime(): one at
					 * a time */
	pthread_mutex_t mu;		/* guards the counters below */
	int inflight, peak;
	long answered;
};

static struct slow_server slow_srv;

/* On a civetweb thread: read the request, wait, answer a chat completion. */
static int
slow_handle(struct mg_connection *conn, void *cbdata)
{
	char buf[1024], clen[32];

	(void)cbdata;
	while (mg_read(conn, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&slow_srv.mu);
	if (++slow_srv.inflight > slow_srv.peak)
		slow_srv.peak = slow_srv.inflight;
	pthread_mutex_unlock(&slow_srv.mu);
	bench_sleep_ms(SLOW_DELAY_MS);
	snprintf(clen, sizeof(clen), "%zu", slow_srv.reply_len);
	pthread_mutex_lock(&slow_srv.header_mu);
	mg_response_header_start(conn, 200);
	mg_response_header_add(conn, "Content-Type", "application/json", -1);
	mg_response_header_add(conn, "Content-Length", clen, -1);
	mg_response_header_send(conn);
	pthread_mutex_unlock(&slow_srv.header_mu);
	mg_write(conn, slow_srv.reply, slow_srv.reply_len);
	pthread_mutex_lock(&slow_srv.mu);
	slow_srv.inflight--;
	slow_srv.answered++;
	pthread_mutex_unlock(&slow_srv.mu);
	return 200;
}

/* The one reply of the endpoint: a chat.completion with usage; caller frees. */
static char *
slow_reply(void)
{
	static const char words[] =
	    "Microservices let small teams build, test and ship each part of a "
	    "system on its own schedule, but the freedom has a price: every call between "
	    "services crosses a network that can be slow or down, so timeouts, retries and "
	    "clear contracts matter as much as the code itself, and good documentation keeps "
	    "the whole picture understandable.";
	cJSON *o = cJSON_CreateObject(), *choices, *choice, *msg, *usage;
	char *reply;

	cJSON_AddStringToObject(o, "id", "chatcmpl-bench");
	cJSON_AddStringToObject(o, "object", "chat.completion");
	cJSON_AddNumberToObject(o, "created", 1686407400);
	cJSON_AddStringToObject(o, "model", "gpt-4");
	choices = cJSON_AddArrayToObject(o, "choices");
	choice = cJSON_CreateObject();
	cJSON_AddItemToArray(choices, choice);
	cJSON_AddNumberToObject(choice, "index", 0);
	msg = cJSON_AddObjectToObject(choice, "message");
	cJSON_AddStringToObject(msg, "role", "assistant");
	cJSON_AddStringToObject(msg, "content", words);
	cJSON_AddStringToObject(choice, "finish_reason", "stop");
	usage = cJSON_AddObjectToObject(o, "usage");
	cJSON_AddNumberToObject(usage, "prompt_tokens", 120);
	cJSON_AddNumberToObject(usage, "completion_tokens", 66);
	cJSON_AddNumberToObject(usage, "total_tokens", 186);
	reply = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (reply == NULL)
		bench_die("endpoint", "out of memory");
	return reply;
}

/*
 * The endpoint on a free loopback port, with a thread for every call k contexts
 * can make at once.
 */
static void
slow_start(size_t k)
{
	char threads[32];
	const char *opts[] = { "listening_ports", "127.0.0.1:0", "num_threads", threads,
	    "connection_queue", threads, "request_timeout_ms", "60000", NULL };
	struct mg_server_port ports[2];

	slow_srv.reply = slow_reply();
	slow_srv.reply_len = strlen(slow_srv.reply);
	pthread_mutex_init(&slow_srv.header_mu, NULL);
	pthread_mutex_init(&slow_srv.mu, NULL);
	snprintf(threads, sizeof(threads), "%zu", SLOW_CALLS * k + 16);
	mg_init_library(0);
	if ((slow_srv.ctx = mg_start(NULL, NULL, opts)) == NULL)
		bench_die("endpoint", "civetweb would not start on 127.0.0.1");
	if (mg_get_server_ports(slow_srv.ctx, 2, ports) < 1 || ports[0].port <= 0)
		bench_die("endpoint", "civetweb has no port");
	slow_srv.port = ports[0].port;
	mg_set_request_handler(slow_srv.ctx, "/v1/chat/completions", slow_handle, NULL);
}

static void
slow_stop(void)
{
	mg_stop(slow_srv.ctx);
	mg_exit_library();
	pthread_mutex_destroy(&slow_srv.mu);
	pthread_mutex_destroy(&slow_srv.header_mu);
	free(slow_srv.reply);
	memset(&slow_srv, 0, sizeof(slow_srv));
}

/*
 * The environment with the generator's URL and concurrency set; free the
 * array (not its strings).
 */
static char **
child_env(char *url_var, char *conc_var)
{
	size_t n = 0, k = 0;
	char **env;

	while (environ[n])
		n++;
	if ((env = calloc(n + 3, sizeof(*env))) == NULL)
		bench_die("environment", "out of memory");
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "GENBOX_GENERATOR_URL=", 21) != 0 &&
		    strncmp(environ[i], "GENBOX_GENERATOR_MAX_CONCURRENT=", 32) != 0)
			env[k++] = environ[i];
	env[k++] = url_var;
	env[k++] = conc_var;
	env[k] = NULL;
	return env;
}

/*
 * The database: the demo documents, a template of SLOW_CALLS sections and its
 * pipeline; the input file.
 */
static void
slow_prepare(const char *genbox, const char *db, const char *input, size_t k,
    int64_t before[CTX_STATUS_COUNT])
{
	static const char tmpl[] = "{\"_id\":\"tmpl_bench_three\",\"name\":\"Three Sections\","
	    "\"version\":\"1.0.0\",\"organization_id\":\"" ORG "\",\"is_active\":true,"
	    "\"structure\":{\"sections\":["
	    "{\"id\":\"introduction\",\"type\":\"text\",\"name\":\"Introduction\","
	    "\"instructions\":\"Introduce the topic\",\"word_range\":[40,60]},"
	    "{\"id\":\"main\",\"type\":\"text\",\"name\":\"Main Section\","
	    "\"instructions\":\"Explain the topic\",\"word_range\":[40,60]},"
	    "{\"id\":\"conclusion\",\"type\":\"text\",\"name\":\"Conclusion\","
	    "\"instructions\":\"Sum up\",\"word_range\":[40,60]}]},"
	    "\"metadata\":{\"tags\":[\"bench\"]}}";
	static const char pipe[] = "{\"_id\":\"pipe_bench_three\",\"name\":\"Three slow calls\","
	    "\"organization_id\":\"" ORG "\",\"is_active\":true,\"components\":["
	    "{\"component_id\":\"comp_template_article\",\"order\":1,\"config_overrides\":"
	    "{\"template_id\":\"tmpl_bench_three\"}},"
	    "{\"component_id\":\"comp_ai_generator_gpt4\",\"order\":2},"
	    "{\"component_id\":\"comp_transformer_markdown\",\"order\":3}]}";
	struct gb_err err = { 0, "" };
	struct store *st = NULL;
	FILE *f;

	fixture_demo_db(genbox, db);
	if (store_open(&st, db, NULL, &err) ||
	    store_put(st, COLL_TEMPLATES, tmpl, strlen(tmpl), STORE_UPSERT, NULL, &err) ||
	    store_put(st, COLL_PIPELINES, pipe, strlen(pipe), STORE_UPSERT, NULL, &err) ||
	    store_ctx_status_counts(st, before, &err))
		bench_die(db, err.msg);
	store_close(st);
	if ((f = fopen(input, "w")) == NULL)
		bench_die(input, strerror(errno));
	for (size_t i = 0; i < k; i++)
		fprintf(f, "{\"type\":\"article\",\"data\":{\"title\":\"Slow Article %zu\","
		    "\"keywords\":[\"microservices\",\"latency\"],"
		    "\"target_audience\":\"developers\",\"tone\":\"technical\"},"
		    "\"user_id\":\"user_456\",\"metadata\":{\"source\":\"bench\","
		    "\"priority\":5}}\n", i);
	if (fclose(f) != 0)
		bench_die(input, strerror(errno));
}

/* run-batch against the slow endpoint; 0, or -1 when it could not run (said why). */
static int
slow_run_batch(const char *genbox, const char *db, const char *input, size_t k,
    struct bench_child *c, long *answered)
{
	char url_var[96], conc_var[] = "GENBOX_GENERATOR_MAX_CONCURRENT=" SLOW_MAX_CONCURRENT;
	char out[PATH_MAX], errf[PATH_MAX], msg[PATH_MAX + 128], line[256];
	char *argv[] = { (char *)genbox, "--db", (char *)db, "run-batch", "--pipeline",
		"pipe_bench_three", "--input", (char *)input, "--workers", "2", NULL };
	char **env, *text;
	int rc;

	slow_start(k);
	snprintf(url_var, sizeof(url_var), "GENBOX_GENERATOR_URL=http://127.0.0.1:%d",
	    slow_srv.port);
	env = child_env(url_var, conc_var);
	bench_tpath("slow.out", out, sizeof(out));
	bench_tpath("slow.err", errf, sizeof(errf));
	rc = bench_spawn_wait(argv, env, out, errf, SLOW_TIMEOUT_S, c, msg, sizeof(msg));
	free(env);
	pthread_mutex_lock(&slow_srv.mu);
	*answered = slow_srv.answered;
	printf("    endpoint: %ld calls answered, at most %d at once\n", slow_srv.answered,
	    slow_srv.peak);
	pthread_mutex_unlock(&slow_srv.mu);
	slow_stop();
	if (rc) {
		bench_print_tail(errf, 10);
		bench_problem("run-batch", msg);
		return -1;
	}
	if ((text = bench_read_file(out)) != NULL) {
		bench_find_line(text, "batch ", " completed,", line, sizeof(line));
		if (line[0])
			printf("    run-batch: %s\n", line);
		free(text);
	}
	if (c->status != 0) {
		bench_print_tail(errf, 10);
		snprintf(msg, sizeof(msg), "run-batch exited with status %d", c->status);
		bench_problem("run-batch", msg);
	}
	return 0;
}

static void
slow_measure(const char *genbox, size_t k)
{
	char db[PATH_MAX], input[PATH_MAX], msg[PATH_MAX + 128];
	int64_t before[CTX_STATUS_COUNT], after[CTX_STATUS_COUNT];
	rlim_t need = (rlim_t)(2 * SLOW_CALLS * k + 256), nofile = 0;
	struct bench_child c;
	double rss_mb;
	long answered = 0;

	printf("concurrency: %zu contexts x %d generator calls, each answered after %d ms\n", k,
	    SLOW_CALLS, SLOW_DELAY_MS);
	fflush(stdout);
	if (bench_files_limit(need, &nofile, msg, sizeof(msg))) {
		bench_problem("concurrency", msg);
		return;
	}
	if (nofile == RLIM_INFINITY)
		printf(
		    "    open-files limit: unlimited (both ends of %zu sockets need about %llu)\n",
		    SLOW_CALLS * k, (unsigned long long)need);
	else
		printf("    open-files limit: %llu (both ends of %zu sockets need about %llu)\n",
		    (unsigned long long)nofile, SLOW_CALLS * k, (unsigned long long)need);
	bench_tpath("slow.db", db, sizeof(db));
	bench_tpath("slow.jsonl", input, sizeof(input));
	slow_prepare(genbox, db, input, k, before);
	if (slow_run_batch(genbox, db, input, k, &c, &answered))
		return;
	fixture_status_counts(db, after);
	if (after[CTX_COMPLETED] - before[CTX_COMPLETED] != (int64_t)k) {
		snprintf(msg, sizeof(msg), "%lld of %zu contexts completed",
		    (long long)(after[CTX_COMPLETED] - before[CTX_COMPLETED]), k);
		bench_problem("run-batch", msg);
	}
	bench_db_remove(db);
	rss_mb = (double)c.maxrss_kb / 1024.0;
	printf("  calls per context %.2f (template sections: %d)\n", (double)answered / (double)k,
	    SLOW_CALLS);
	printf("  genbox run-batch wall %.2f s   (aim <= %.1f s = 1.5 x %d x %.0f s)\n", c.secs,
	    SLOW_AIM_S, SLOW_CALLS, SLOW_DELAY_MS / 1000.0);
	printf("  genbox run-batch peak RSS %.1f MB   (aim < %.0f MB)\n", rss_mb, SLOW_RSS_AIM_MB);
	printf("  ratio wall/aim %.2f   rss/aim %.2f   (aim: both <= 1)\n", c.secs / SLOW_AIM_S,
	    rss_mb / SLOW_RSS_AIM_MB);
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "contexts", required_argument, NULL, 'k' }, { NULL, 0, NULL, 0 },
	};
	char genbox[PATH_MAX];
	long k = SLOW_DEFAULT;
	int ch;

	bench_init("bench/concurrency");
	while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		if (ch != 'k') {
			fprintf(stderr, "usage: concurrency [--contexts K]\n");
			return 2;
		}
		k = bench_number("--contexts", optarg, 1, 1000);
	}
	if (optind < argc) {
		fprintf(stderr, "bench/concurrency: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	fixture_find_genbox(genbox, sizeof(genbox));
	bench_tmpdir_make("genbox-concurrency");
	printf("bench/concurrency: genbox run-batch against a generator endpoint answering after "
	    "%d ms (genbox %s)\n", SLOW_DELAY_MS, genbox);
	slow_measure(genbox, (size_t)k);
	return bench_problems() ? 1 : 0;
}
