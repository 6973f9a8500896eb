/*
 * gen.c - the soak's generator: an OpenAI-compatible /v1/chat/completions
 * on a free loopback port of this process (civetweb, like the tests'
 * fakegen), answering every call with a short completion after
 * SOAK_GEN_DELAY_MS, so the workers are busy and a kill finds calls in
 * flight. Each call's prompt names its context (the title holds the _id):
 * the calls per context are counted, and a call for a context the watcher
 * has already seen completed is the third detector of a context run twice
 * (its first lines are printed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <civetweb.h>

#include "../lib/benchlib.h"
#include "soak.h"

#define GEN_THREADS "24"
#define GEN_BODY_MAX (1 << 18)
#define GEN_PRINT_MAX 20

static struct mg_context *gen_ctx;
static struct soak *gen_soak;
/* civetweb dates headers with gmtime(): one at a time */
static pthread_mutex_t header_mu = PTHREAD_MUTEX_INITIALIZER;

static void
answer(struct mg_connection *conn, const char *body)
{
	char clen[16];

	snprintf(clen, sizeof(clen), "%zu", strlen(body));
	pthread_mutex_lock(&header_mu);
	mg_response_header_start(conn, 200);
	mg_response_header_add(conn, "Content-Type", "application/json", -1);
	mg_response_header_add(conn, "Content-Length", clen, -1);
	mg_response_header_send(conn);
	pthread_mutex_unlock(&header_mu);
	mg_write(conn, body, strlen(body));
}

/* The context a prompt names, -1 when none of the soak's. */
static int
named_context(const char *body)
{
	const char *p = strstr(body, SOAK_ID_PREFIX);
	char *end;
	long id;

	if (p == NULL)
		return -1;
	id = strtol(p + strlen(SOAK_ID_PREFIX), &end, 10);
	if (end == p + strlen(SOAK_ID_PREFIX) || id < 0 || id >= gen_soak->max_ids)
		return -1;
	return (int)id;
}

static void
note_call(int id)
{
	struct soak *s = gen_soak;

	atomic_fetch_add(&s->gen_calls_total, 1);
	if (id < 0)
		return;
	atomic_fetch_add(&s->gen_calls[id], 1);
	if (atomic_load(&s->seen_done[id]) &&
	    atomic_fetch_add(&s->gen_after_done, 1) < GEN_PRINT_MAX)
		soak_say("soak RUN TWICE? t=%.1fs generator called for " SOAK_ID_FMT
		    " after it was seen completed (at %s)", soak_now(s), id, s->done_at[id]);
}

static int
reply(struct mg_connection *conn, void *arg)
{
	static const char ok[] = "{\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
	    "\"message\":{\"role\":\"assistant\",\"content\":\"Some generated words for the "
	    "soak.\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":7,"
	    "\"completion_tokens\":5}}";
	int delay = gen_soak->gen_delay_ms;
	struct timespec ts = { delay / 1000, (long)(delay % 1000) * 1000000L };
	char *body = malloc(GEN_BODY_MAX);	/* civetweb's threads have small stacks */
	size_t len = 0;
	int n;

	(void)arg;
	if (body == NULL)
		return 500;
	while (len < GEN_BODY_MAX - 1 &&
	    (n = mg_read(conn, body + len, GEN_BODY_MAX - 1 - len)) > 0)
		len += (size_t)n;
	body[len] = '\0';
	note_call(named_context(body));
	free(body);
	if (delay > 0)
		nanosleep(&ts, NULL);
	answer(conn, ok);
	return 200;
}

void
soak_gen_start(struct soak *s)
{
	const char *opts[] = { "listening_ports", "127.0.0.1:0", "num_threads", GEN_THREADS,
		NULL };
	struct mg_server_port ports[2];

	gen_soak = s;
	mg_init_library(0);
	if ((gen_ctx = mg_start(NULL, NULL, opts)) == NULL ||
	    mg_get_server_ports(gen_ctx, 2, ports) < 1)
		bench_die("generator", "civetweb would not start on 127.0.0.1");
	mg_set_request_handler(gen_ctx, "/v1/chat/completions", reply, NULL);
	snprintf(s->gen_url, sizeof(s->gen_url), "http://127.0.0.1:%d", ports[0].port);
}

void
soak_gen_stop(void)
{
	if (gen_ctx)
		mg_stop(gen_ctx);
	gen_ctx = NULL;
}
