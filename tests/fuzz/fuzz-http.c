/*
 * fuzz-http.c - a whole HTTP request to the API (method, path, headers,
 * body), through the server genbox serve runs (web_start), started once in
 * this process on a free port of 127.0.0.1 with a database holding the
 * schema's examples. Each input is written raw to a new connection, with
 * "@KEY@" replaced by an admin's API key and "@RKEY@" by a read-only key;
 * the write side is then shut and the answer read to its end.
 *
 * Invariants: every input gets an answer (or a closed connection) within
 * ANSWER_MS, never a 500; and every CHECK_EVERY inputs the server still
 * answers GET /healthz: 200, or a 503 whose only reason is the contexts the
 * fuzzer created waiting a minute for a worker (this process runs none).
 * At those checks the examples are loaded again and revoked keys made anew,
 * so the fuzzer's deletes do not starve what follows.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "../../appliance/demo.h"
#include "../../base/gbtime.h"
#include "../../base/log.h"
#include "../../base/metrics.h"
#include "../../storage/docs.h"
#include "../../web/apikeys.h"
#include "../../web/internal.h"
#include "../../web/web.h"
#include "fuzz.h"

#define ANSWER_MS	10000
#define CHECK_EVERY	1000
#define MAX_ANSWER	(1 << 20)	/* bytes of an answer kept (the rest is read and dropped) */

static struct store *st;
static struct web *web;
static int port;
static char key[APIKEY_TOKEN_MAX], rkey[APIKEY_TOKEN_MAX];
static char answer[MAX_ANSWER + 1];
static unsigned long runs;

static void
new_keys(void)
{
	struct gb_err err = { 0, "" };

	if (apikey_new(st, "user_456", 1, "fuzz", gb_now_ms(), key, NULL, &err) ||
	    apikey_new(st, "user_456", 0, "fuzz read", gb_now_ms(), rkey, NULL, &err))
		fuzz_fail("apikey_new: %s", err.msg);
}

static int
connect_server(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		fuzz_fail("cannot connect to the server on port %d: %s", port, strerror(errno));
	return fd;
}

/* Write req, shut the write side, read the answer into answer; its length. */
static size_t
exchange(const char *req, size_t len)
{
	int64_t deadline = gb_now_ms() + ANSWER_MS;
	int fd = connect_server();
	size_t got = 0, off = 0;

	while (off < len) {
		ssize_t n = send(fd, req + off, len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;	/* the server closed early: what it said is still read */
		off += (size_t)n;
	}
	shutdown(fd, SHUT_WR);
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		int64_t left = deadline - gb_now_ms();
		char drop[4096];
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) == 0)
			fuzz_fail("no answer within %d ms to: %.*s", ANSWER_MS, (int)len, req);
		if (got < MAX_ANSWER)
			n = recv(fd, answer + got, MAX_ANSWER - got, 0);
		else
			n = recv(fd, drop, sizeof(drop), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (got < MAX_ANSWER)
			got += (size_t)n;
	}
	close(fd);
	answer[got] = '\0';
	return got;
}

/* The status of each answer in the first len bytes ("HTTP/1.1 NNN"); none may be 500. */
static void
check_statuses(const char *req, size_t len, size_t got)
{
	for (const char *p = answer; p && p < answer + got; p = strstr(p + 1, "HTTP/1.")) {
		if (strncmp(p, "HTTP/1.", 7) != 0)
			break;
		if (strncmp(p + 8, " 500", 4) == 0)
			fuzz_fail("500 to: %.*s\nanswer: %.2000s", (int)len, req, p);
	}
}

/* The answer in answer is /healthz's 200, or its 503 for want of a worker alone. */
static int
healthy(void)
{
	const char *body = strstr(answer, "\r\n\r\n");
	cJSON *j = body ? cJSON_Parse(body + 4) : NULL, *reason;
	const cJSON *reasons = cJSON_GetObjectItem(j, "reasons");
	int ok = cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "database"), "ok"));

	if (strncmp(answer, "HTTP/1.1 503", 12) == 0) {
		ok = ok && cJSON_GetArraySize(reasons) > 0;
		cJSON_ArrayForEach(reason, reasons)
			ok = ok && strcmp(cJSON_GetStringValue(reason) ? reason->valuestring : "",
			    WEB_NO_WORKER_WARNING) == 0;
	} else if (strncmp(answer, "HTTP/1.1 200", 12) != 0) {
		ok = 0;
	}
	cJSON_Delete(j);
	return ok;
}

static void
check_health(void)
{
	static const char get[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	static const char org[] = "GET /api/v1/organization HTTP/1.1\r\nHost: x\r\n"
		"Connection: close\r\nAuthorization: Bearer ";
	struct gb_err err = { 0, "" };
	char req[256];

	exchange(get, sizeof(get) - 1);
	if (!healthy())
		fuzz_fail("after %lu inputs GET /healthz answers: %.2000s", runs, answer);
	for (const struct demo_doc *d = demo_docs; d->collection; d++)
		if (store_put(st, (enum coll)coll_from_name(d->collection), d->json,
		    strlen(d->json), STORE_UPSERT, NULL, &err))
			fuzz_fail("reloading %s: %s", d->name, err.msg);
	snprintf(req, sizeof(req), "%s%s\r\n\r\n", org, key);
	exchange(req, strlen(req));
	if (strncmp(answer, "HTTP/1.1 200", 12) != 0)
		new_keys();
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct gb_err err = { 0, "" };
	struct web_config wc;
	static char path[4200];

	(void)argc, (void)argv;
	log_set_level(LOG_LEVEL_ERROR);
	fuzz_store(path, sizeof(path), 0, 1, &st);
	new_keys();
	web_config_defaults(&wc);
	wc.db_path = path;
	wc.listen = "127.0.0.1:0";
	wc.threads = 4;
	wc.max_body = 1 << 20;
	wc.request_timeout_ms = 2000;
	wc.stream_max_ms = 500;
	wc.metrics = metrics_new();
	if (web_start(&web, &wc, &err))
		fuzz_fail("web_start: %s", err.msg);
	port = web_port(web);
	return 0;
}

/* data with @KEY@ and @RKEY@ replaced: malloc'd, its length into *len. */
static char *
with_keys(const uint8_t *data, size_t size, size_t *len)
{
	char *out = malloc(size * (APIKEY_TOKEN_MAX / 5 + 1) + 1), *o = out;

	if (out == NULL)
		fuzz_fail("out of memory");
	for (size_t i = 0; i < size;) {
		if (size - i >= 5 && memcmp(data + i, "@KEY@", 5) == 0) {
			o = stpcpy(o, key);
			i += 5;
		} else if (size - i >= 6 && memcmp(data + i, "@RKEY@", 6) == 0) {
			o = stpcpy(o, rkey);
			i += 6;
		} else {
			*o++ = (char)data[i++];
		}
	}
	*len = (size_t)(o - out);
	return out;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t len, got;
	char *req = with_keys(data, size, &len);

	if (runs++ % CHECK_EVERY == 0)
		check_health();
	got = exchange(req, len);
	check_statuses(req, len, got);
	free(req);
	return 0;
}
