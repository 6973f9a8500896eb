/* fakegen.c - the scripted chat-completions endpoint of the tests (see fakegen.h). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <civetweb.h>

#include "fakegen.h"
#include "tap.h"

static int delay;
static const char *fail_marker;
static atomic_int failed;
/* civetweb dates headers with gmtime(): one at a time */
static pthread_mutex_t header_mu = PTHREAD_MUTEX_INITIALIZER;

static void
answer(struct mg_connection *conn, int status, const char *body)
{
	char clen[16];

	snprintf(clen, sizeof(clen), "%zu", strlen(body));
	pthread_mutex_lock(&header_mu);
	mg_response_header_start(conn, status);
	mg_response_header_add(conn, "Content-Type", "application/json", -1);
	mg_response_header_add(conn, "Content-Length", clen, -1);
	mg_response_header_send(conn);
	pthread_mutex_unlock(&header_mu);
	mg_write(conn, body, strlen(body));
}

static int
reply(struct mg_connection *conn, void *arg)
{
	static const char ok[] = "{\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
	    "\"message\":{\"role\":\"assistant\",\"content\":\"Some generated words.\"},"
	    "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3}}";
	static const char busy[] = "{\"error\":{\"message\":\"the model is overloaded\"}}";
	struct timespec ts = { delay / 1000, (long)(delay % 1000) * 1000000L };
	size_t cap = 1 << 16, len = 0;
	char *body = malloc(cap);	/* civetweb's threads have small stacks */
	int n, fail = 0;

	(void)arg;
	if (body == NULL)
		return 500;
	while ((n = mg_read(conn, body + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	body[len] = '\0';
	if (fail_marker && strstr(body, fail_marker) && atomic_exchange(&failed, 1) == 0)
		fail = 1;
	free(body);
	if (delay > 0)
		nanosleep(&ts, NULL);
	answer(conn, fail ? 503 : 200, fail ? busy : ok);
	return fail ? 503 : 200;
}

void
fakegen_start(struct fakegen *g, int threads, int delay_ms, const char *fail_once)
{
	char nthreads[16];
	const char *opts[] = { "listening_ports", "127.0.0.1:0", "num_threads", nthreads, NULL };
	struct mg_server_port ports[2];

	delay = delay_ms;
	fail_marker = fail_once;
	atomic_store(&failed, 0);
	snprintf(nthreads, sizeof(nthreads), "%d", threads);
	if ((g->ctx = mg_start(NULL, NULL, opts)) == NULL || mg_get_server_ports(g->ctx, 2, ports) < 1)
		tap_bail("cannot start the scripted generator");
	mg_set_request_handler(g->ctx, "/v1/chat/completions", reply, NULL);
	snprintf(g->url, sizeof(g->url), "http://127.0.0.1:%d", ports[0].port);
}

void
fakegen_stop(struct fakegen *g)
{
	if (g->ctx)
		mg_stop(g->ctx);
	g->ctx = NULL;
}
