/*
 * t210-generator - the generator as the ai_generator component sees it.
 *
 * Normal replies come from a real llama.cpp server, in t211. Here a
 * scripted civetweb responder plays only the faults a real server does not
 * produce on demand: 429 and 503 with Retry-After,
 * 500, 400 and 403 with an OpenAI-style error, replies that are not the
 * protocol's JSON, an oversized reply, a hang past the timeout, and a gate
 * that holds calls to count how many are in flight; a raw socket resets
 * connections. An endpoint that is down, closing with calls in flight, and
 * the offline-draft provider. No check depends on how fast the machine is:
 * only lower bounds of time, and counts of events.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <civetweb.h>
#include <curl/curl.h>

#include "../appliance/generator.h"
#include "gentest.h"
#include "tap.h"
#include "peer.h"
#include "util.h"

#define HANG_MS		60000		/* a hang ends by responder_stop, or after this */
#define WAIT_MS		60000		/* bound for waiting on events that must come */

static int
count_words(const char *s)
{
	int n = 0, in = 0;

	for (; s && *s; s++) {
		if (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
			in = 0;
		else if (!in) {
			in = 1;
			n++;
		}
	}
	return n;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- the scripted responder ----------------------------------------------- */

struct responder {
	struct mg_context *ctx;
	int port;
	pthread_mutex_t mu;
	pthread_cond_t cv;		/* signalled on every change below */
	pthread_mutex_t header_mu;	/* civetweb dates its headers with gmtime(): one at a time */
	int inflight, max_inflight;	/* at the "gate", guarded by mu */
	int gate_open;			/* calls the gate may still let through, guarded by mu */
	int gate_passed;		/* calls through the gate, guarded by mu */
	int hangs;			/* requests that entered "hang", guarded by mu */
	int hangs_answered;		/* hangs that sent their reply, guarded by mu */
	int release;			/* let the hangs and the gate go, guarded by mu */
};

static struct responder rsp;

enum mode { M_429, M_429_DATE, M_503, M_500, M_400, M_403, M_NOTJSON, M_NOCHOICES, M_BIG, M_HANG, M_GATE };

static const struct {
	const char *name;
	enum mode mode;
} modes[] = {
	{ "r429", M_429 }, { "r429date", M_429_DATE }, { "r503", M_503 }, { "r500", M_500 },
	{ "r400", M_400 }, { "r403", M_403 }, { "notjson", M_NOTJSON }, { "nochoices", M_NOCHOICES },
	{ "big", M_BIG }, { "hang", M_HANG }, { "gate", M_GATE },
};

static int
send_reply(struct mg_connection *conn, int status, const char *retry_after, const char *ctype,
    const char *body, size_t len)
{
	char clen[32];

	snprintf(clen, sizeof(clen), "%zu", len);
	pthread_mutex_lock(&rsp.header_mu);
	mg_response_header_start(conn, status);
	mg_response_header_add(conn, "Content-Type", ctype, -1);
	mg_response_header_add(conn, "Content-Length", clen, -1);
	if (retry_after)
		mg_response_header_add(conn, "Retry-After", retry_after, -1);
	mg_response_header_send(conn);
	pthread_mutex_unlock(&rsp.header_mu);
	mg_write(conn, body, len);
	return status;
}

static int
send_json(struct mg_connection *conn, int status, const char *retry_after, const char *body)
{
	return send_reply(conn, status, retry_after, "application/json", body, strlen(body));
}

static int
send_big(struct mg_connection *conn)
{
	size_t total = 9u << 20, chunk = 1 << 16, sent = 0;
	char *block = malloc(chunk), clen[32];

	memset(block, 'a', chunk);
	snprintf(clen, sizeof(clen), "%zu", total);
	pthread_mutex_lock(&rsp.header_mu);
	mg_response_header_start(conn, 200);
	mg_response_header_add(conn, "Content-Type", "application/json", -1);
	mg_response_header_add(conn, "Content-Length", clen, -1);
	mg_response_header_send(conn);
	pthread_mutex_unlock(&rsp.header_mu);
	while (sent < total && mg_write(conn, block, chunk) > 0)
		sent += chunk;
	free(block);
	return 200;
}

static int
respond(struct mg_connection *conn, enum mode mode)
{
	char date[64];
	int rc = 0;

	switch (mode) {
	case M_429:
		return send_json(conn, 429, "2", "{\"error\":{\"message\":\"slow down\",\"type\":\"rate_limit\"}}");
	case M_429_DATE: {
		time_t t = time(NULL) + 120;
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		return send_json(conn, 429, date, "{}");
	}
	case M_503:
		return send_json(conn, 503, "1", "{\"error\":{\"message\":\"loading model\",\"code\":503}}");
	case M_500:
		return send_json(conn, 500, NULL, "{\"error\":{\"message\":\"internal failure\",\"code\":500}}");
	case M_400:
		return send_json(conn, 400, NULL,
		    "{\"error\":{\"message\":\"This model's maximum context length is 4097 tokens\","
		    "\"type\":\"invalid_request_error\",\"param\":\"messages\",\"code\":\"context_length_exceeded\"}}");
	case M_403:
		return send_json(conn, 403, NULL, "{\"error\":{\"message\":\"model not allowed for this key\"}}");
	case M_NOTJSON:
		return send_reply(conn, 200, NULL, "text/html", "<html>hello</html>", 18);
	case M_NOCHOICES:
		return send_json(conn, 200, NULL, "{\"object\":\"chat.completion\",\"choices\":[]}");
	case M_BIG:
		return send_big(conn);
	case M_HANG: {
		int64_t until = now_ms() + HANG_MS;
		int go;

		pthread_mutex_lock(&rsp.mu);
		rsp.hangs++;
		pthread_cond_broadcast(&rsp.cv);
		pthread_mutex_unlock(&rsp.mu);
		do {
			sleep_ms(20);
			pthread_mutex_lock(&rsp.mu);
			go = rsp.release;
			pthread_mutex_unlock(&rsp.mu);
		} while (!go && now_ms() < until);
		pthread_mutex_lock(&rsp.mu);
		rsp.hangs_answered++;
		pthread_mutex_unlock(&rsp.mu);
		return send_json(conn, 500, NULL, "{\"error\":{\"message\":\"hung\"}}");
	}
	case M_GATE:
		/* held until the test lets one through: a fault reply, the count is the point */
		pthread_mutex_lock(&rsp.mu);
		if (++rsp.inflight > rsp.max_inflight)
			rsp.max_inflight = rsp.inflight;
		pthread_cond_broadcast(&rsp.cv);
		while (rsp.gate_open == 0 && !rsp.release)
			pthread_cond_wait(&rsp.cv, &rsp.mu);
		if (rsp.gate_open > 0)
			rsp.gate_open--;
		rsp.inflight--;
		rsp.gate_passed++;
		pthread_cond_broadcast(&rsp.cv);
		pthread_mutex_unlock(&rsp.mu);
		rc = send_json(conn, 503, NULL, "{\"error\":{\"message\":\"gate\"}}");
		break;
	}
	return rc;
}

static int
handle(struct mg_connection *conn, void *cbdata)
{
	enum mode mode = (enum mode)(long)cbdata;
	size_t len = 0, cap = 65536;
	char *body = malloc(cap);	/* civetweb's worker threads have small stacks */
	int n, rc;

	if (body == NULL)
		return 500;
	while (len < cap - 1 && (n = mg_read(conn, body + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	body[len] = '\0';
	rc = respond(conn, mode);	/* the request is read, then answered with a fault */
	free(body);
	return rc;
}

static void
responder_start(void)
{
	const char *opts[] = { "listening_ports", "127.0.0.1:0", "num_threads", "24", NULL };
	struct mg_server_port ports[2];
	char uri[64];

	pthread_mutex_init(&rsp.mu, NULL);
	pthread_cond_init(&rsp.cv, NULL);
	pthread_mutex_init(&rsp.header_mu, NULL);
	mg_init_library(0);
	if ((rsp.ctx = mg_start(NULL, NULL, opts)) == NULL)
		tap_bail("cannot start the civetweb responder");
	if (mg_get_server_ports(rsp.ctx, 2, ports) < 1 || ports[0].port <= 0)
		tap_bail("the civetweb responder has no port");
	rsp.port = ports[0].port;
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		snprintf(uri, sizeof(uri), "/%s/v1/chat/completions", modes[i].name);
		mg_set_request_handler(rsp.ctx, uri, handle, (void *)(long)modes[i].mode);
	}
}

static void
responder_stop(void)
{
	pthread_mutex_lock(&rsp.mu);
	rsp.release = 1;
	pthread_cond_broadcast(&rsp.cv);
	pthread_mutex_unlock(&rsp.mu);
	mg_stop(rsp.ctx);
	mg_exit_library();
	pthread_mutex_destroy(&rsp.header_mu);
	pthread_cond_destroy(&rsp.cv);
	pthread_mutex_destroy(&rsp.mu);
}

static const char *
rsp_url(const char *mode)
{
	static char url[8][128];
	static int k;

	k = (k + 1) % 8;
	snprintf(url[k], sizeof(url[k]), "http://127.0.0.1:%d/%s", rsp.port, mode);
	return url[k];
}

/* Wait until what(arg) holds under rsp.mu; 0, or -1 after WAIT_MS (a failure, never a pass). */
static int
rsp_wait(int (*what)(void *), void *arg)
{
	struct timespec until;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += WAIT_MS / 1000;
	pthread_mutex_lock(&rsp.mu);
	while (!what(arg) && rc == 0)
		rc = pthread_cond_timedwait(&rsp.cv, &rsp.mu, &until);
	rc = what(arg) ? 0 : -1;
	pthread_mutex_unlock(&rsp.mu);
	return rc;
}

/* ---- a listener that resets every connection once the request is in ------ */

static int reset_fd = -1;
static int reset_port;
static pthread_t reset_thread;

static void *
reset_main(void *arg)
{
	struct linger hard = { 1, 0 };
	char req[4096];
	int c;

	(void)arg;
	while ((c = accept(reset_fd, NULL, NULL)) >= 0) {
		(void)recv(c, req, sizeof(req), 0);
		setsockopt(c, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));	/* close sends RST */
		close(c);
	}
	return NULL;
}

static void
reset_start(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((reset_fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 || bind(reset_fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(reset_fd, 8) < 0 || getsockname(reset_fd, (struct sockaddr *)&a, &len) < 0)
		tap_bail("reset listener: %s", strerror(errno));
	reset_port = ntohs(a.sin_port);
	if (pthread_create(&reset_thread, NULL, reset_main, NULL))
		tap_bail("reset listener thread");
}

static void
reset_stop(void)
{
	shutdown(reset_fd, SHUT_RDWR);	/* accept returns */
	pthread_join(reset_thread, NULL);
	close(reset_fd);
}

/* ---- offline-draft -------------------------------------------------------- */

static void
test_offline(void)
{
	struct gen_config cfg = { NULL, NULL, 0, 0, 0 };
	struct gen_params p = gentest_params(NULL);
	struct gen_reply a, b;
	struct generator *g;
	struct gb_err err = { 0 };
	struct tally t;
	int words;

	ok(generator_open(&g, &cfg, &err) == 0, "offline: open without a url");
	is_str(generator_provider(g), "offline-draft", "offline: provider");
	p.words_min = 40;
	p.words_max = 60;
	generator_call(g, "You write a blog section.", "Write about tide pools for children.", &p, &a);
	generator_call(g, "You write a blog section.", "Write about tide pools for children.", &p, &b);
	is_int(a.code, 0, "offline: code 0 (%s)", a.msg);
	is_str(a.provider, "offline-draft", "offline: reply names the provider");
	words = count_words(a.text);
	is_int(words, 50, "offline: the midpoint of [40, 60] words");
	ok(a.text && strstr(a.text, "tide"), "offline: the draft speaks of the prompt's topic");
	is_str(b.text, a.text, "offline: same prompt, same text");
	is_int(a.prompt_tokens, 0, "offline: no prompt tokens billed");
	is_int(a.completion_tokens, 0, "offline: no completion tokens billed");
	is_int(a.http_status, 0, "offline: no HTTP status");
	is_str(a.finish_reason, "stop", "offline: finish_reason stop");
	gen_reply_release(&a);
	gen_reply_release(&b);

	p.words_min = p.words_max = 7;
	generator_call(g, NULL, "Seven words please.", &p, &a);
	is_int(count_words(a.text), 7, "offline: a range of one length is met exactly");
	gen_reply_release(&a);

	tally_init(&t);
	p.words_min = 10;
	p.words_max = 20;
	for (int i = 0; i < 20; i++)
		if (generator_submit(g, "sys", "user", &p, tally_done, &t))
			tap_bail("offline submit failed");
	is_int(tally_wait(&t, 20, WAIT_MS), 20, "offline: 20 submits, 20 callbacks");
	is_int(t.ok, 20, "offline: all 20 answered");
	is_int(t.max_tokens_seen, 0, "offline: none bills tokens");
	generator_close(g);
	tally_release(&t);

	cfg.url = "";
	ok(generator_open(&g, &cfg, &err) == 0 && strcmp(generator_provider(g), "offline-draft") == 0,
	    "offline: an empty url is offline too");
	generator_close(g);
	generator_close(NULL);
}

/* ---- configuration -------------------------------------------------------- */

static void
open_rejects(const char *url, const char *key, const char *want, const char *name)
{
	struct gen_config cfg = { url, key, 1000, 1000, 1 };
	struct generator *g = (struct generator *)&cfg;
	struct gb_err err = { 0 };

	is_int(generator_open(&g, &cfg, &err), GB_EINVAL, "open %s: refused", name);
	like(err.msg, want, "open %s: message (%s)", name, err.msg);
	ok(g == NULL, "open %s: nothing returned", name);
}

static void
test_open_errors(void)
{
	open_rejects("ftp://127.0.0.1/", NULL, "generator url 'ftp://127.0.0.1/", "ftp url");
	open_rejects("ftp://joe:pw@127.0.0.1/", NULL, "'ftp://127.0.0.1/", "ftp url with credentials");
	open_rejects("http://127.0.0.1:1", "abc\r\nX-Injected: 1", "control characters", "key with CR LF");
	open_rejects("http://127.0.0.1:1/a b", NULL, "holds spaces", "url with a space");
	open_rejects("http://[::1", NULL, "generator url is not a URL", "url that does not parse");
}

/* ---- the scripted responder: faults --------------------------------------- */

static void
test_retry_after(void)
{
	struct gen_params p = gentest_params("m");
	struct gen_reply r;
	char want[256];

	gentest_call_once(rsp_url("r429"), NULL, 5000, &p, &r);
	is_int(r.code, GB_ETRANSIENT, "429: transient");
	is_int(r.http_status, 429, "429: status");
	is_int(r.retry_after_ms, 2000, "429: Retry-After 2 is 2000 ms");
	snprintf(want, sizeof(want), "HTTP 429 from %s: slow down", gentest_called(rsp_url("r429")));
	is_str(r.msg, want, "429: message names the URL called and the server's error.message");
	ok(r.text == NULL, "429: no text");
	gen_reply_release(&r);

	/* the value curl computed from a date; the window is on a value, not on how long anything took */
	gentest_call_once(rsp_url("r429date"), NULL, 5000, &p, &r);
	is_int(r.code, GB_ETRANSIENT, "429 with a date: transient");
	ok(r.retry_after_ms >= 100000 && r.retry_after_ms <= 121000,
	    "429 with an HTTP date 120 s ahead: retry_after_ms %lld", (long long)r.retry_after_ms);
	gen_reply_release(&r);

	gentest_call_once(rsp_url("r503"), NULL, 5000, &p, &r);
	is_int(r.code, GB_ETRANSIENT, "503: transient");
	is_int(r.http_status, 503, "503: status");
	is_int(r.retry_after_ms, 1000, "503: Retry-After 1 is 1000 ms");
	snprintf(want, sizeof(want), "HTTP 503 from %s: loading model", gentest_called(rsp_url("r503")));
	is_str(r.msg, want, "503: message");
	gen_reply_release(&r);

	gentest_call_once(rsp_url("r500"), NULL, 5000, &p, &r);
	is_int(r.code, GB_ETRANSIENT, "500: transient");
	is_int(r.retry_after_ms, -1, "500: no Retry-After");
	snprintf(want, sizeof(want), "HTTP 500 from %s: internal failure", gentest_called(rsp_url("r500")));
	is_str(r.msg, want, "500: message");
	gen_reply_release(&r);
}

static void
test_faults(void)
{
	struct gen_params p = gentest_params("m");
	struct gen_reply r;
	char want[256], url[96];
	int64_t t0, took;
	int port;

	gentest_call_once(rsp_url("r400"), NULL, 5000, &p, &r);
	is_int(r.code, GB_EINVAL, "400: invalid");
	is_int(r.http_status, 400, "400: status");
	snprintf(want, sizeof(want), "HTTP 400 from %s: This model's maximum context length is 4097 tokens",
	    gentest_called(rsp_url("r400")));
	is_str(r.msg, want, "400: message has the status, the URL and the error.message of the body");
	gen_reply_release(&r);

	gentest_call_once(rsp_url("r403"), NULL, 5000, &p, &r);
	is_int(r.code, GB_EPERM, "403: permission");
	like(r.msg, "model not allowed", "403: message");
	gen_reply_release(&r);

	gentest_call_once(rsp_url("notjson"), NULL, 5000, &p, &r);
	is_int(r.code, GB_EINVAL, "not JSON: invalid");
	is_int(r.http_status, 200, "not JSON: status 200");
	snprintf(want, sizeof(want), "reply from %s is not JSON", gentest_called(rsp_url("notjson")));
	is_str(r.msg, want, "not JSON: message");
	ok(r.text == NULL, "not JSON: no text");
	gen_reply_release(&r);

	gentest_call_once(rsp_url("nochoices"), NULL, 5000, &p, &r);
	is_int(r.code, GB_EINVAL, "no choices: invalid");
	like(r.msg, "choices[0].message.content", "no choices: message names what is missing");
	gen_reply_release(&r);

	gentest_call_once(rsp_url("big"), NULL, 30000, &p, &r);
	is_int(r.code, GB_EINVAL, "9 MiB reply: invalid");
	like(r.msg, "reply larger than 8388608 bytes", "9 MiB reply: message");
	ok(r.text == NULL, "9 MiB reply: no text");
	gen_reply_release(&r);

	/* only the lower bound: the call waited for its timeout */
	t0 = now_ms();
	gentest_call_once(rsp_url("hang"), NULL, 1000, &p, &r);
	took = now_ms() - t0;
	is_int(r.code, GB_ETRANSIENT, "hang: transient");
	snprintf(want, sizeof(want), "no reply from %s: timeout after 1000 ms", gentest_called(rsp_url("hang")));
	is_str(r.msg, want, "hang: message");
	ok(took >= 1000, "hang: failed no sooner than its 1000 ms timeout (%lld ms)", (long long)took);
	gen_reply_release(&r);

	snprintf(url, sizeof(url), "http://127.0.0.1:%d", reset_port);
	gentest_call_once(url, NULL, 5000, &p, &r);
	is_int(r.code, GB_ETRANSIENT, "reset: transient");
	is_int(r.http_status, 0, "reset: no HTTP status");
	snprintf(want, sizeof(want), "call to %s failed: ", gentest_called(url));
	like(r.msg, want, "reset: message names the URL (%s)", r.msg);
	gen_reply_release(&r);

	port = peer_free_port();
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
	gentest_call_once(url, NULL, 5000, &p, &r);
	is_int(r.code, GB_ETRANSIENT, "down: transient");
	is_int(r.http_status, 0, "down: no HTTP status");
	snprintf(want, sizeof(want), "cannot connect to %s: ", gentest_called(url));
	like(r.msg, want, "down: message names the URL called (%s)", r.msg);
	gen_reply_release(&r);

	snprintf(url, sizeof(url), "http://user:secret@127.0.0.1:%d/", port);
	gentest_call_once(url, NULL, 5000, &p, &r);
	snprintf(want, sizeof(want), "cannot connect to http://127.0.0.1:%d/v1/chat/completions: ", port);
	like(r.msg, want, "down: credentials in the url are not in the message (%s)", r.msg);
	ok(strstr(r.msg, "secret") == NULL && strstr(r.msg, "user") == NULL, "down: neither user nor password");
	gen_reply_release(&r);
}

struct gate_state {
	int passed;		/* calls let through so far */
	int expect;		/* calls that should be held at the gate */
};

static int
gate_settled(void *arg)
{
	const struct gate_state *s = arg;

	return rsp.gate_passed == s->passed && rsp.inflight == s->expect;
}

/* 12 calls through 3 slots: the server sees 3 at once, never more, and every call ends. */
static void
test_bound(void)
{
	struct gen_config cfg = { rsp_url("gate"), NULL, 60000, 2000, 3 };
	struct gen_params p = gentest_params("m");
	struct gate_state st = { 0, 0 };
	struct generator *g;
	struct gb_err err = { 0 };
	struct tally t;
	int settled = 1;

	tally_init(&t);
	if (generator_open(&g, &cfg, &err))
		tap_bail("open: %s", err.msg);
	for (int i = 0; i < 12; i++)
		if (generator_submit(g, "s", "u", &p, tally_done, &t))
			tap_bail("submit failed");
	/* let one through at a time, each time once the next has taken its place */
	for (st.passed = 0; st.passed < 12 && settled; st.passed++) {
		st.expect = 12 - st.passed < 3 ? 12 - st.passed : 3;
		settled = rsp_wait(gate_settled, &st) == 0;
		pthread_mutex_lock(&rsp.mu);
		if (!settled)
			tap_diag("gate: %d passed, %d held, want %d", rsp.gate_passed, rsp.inflight, st.expect);
		rsp.gate_open++;
		pthread_cond_broadcast(&rsp.cv);
		pthread_mutex_unlock(&rsp.mu);
	}
	ok(settled, "bound: each time one call ended, the next queued one went out");
	is_int(tally_wait(&t, 12, WAIT_MS), 12, "bound: 12 submits, 12 callbacks");
	is_int(t.other, 12, "bound: each with the gate's 503 (%s)", t.first_msg);
	generator_close(g);
	pthread_mutex_lock(&rsp.mu);
	is_int(rsp.max_inflight, 3, "bound: the server saw max_concurrent = 3 calls at once, never more");
	pthread_mutex_unlock(&rsp.mu);
	tally_release(&t);
}

static int
two_hangs(void *arg)
{
	return rsp.hangs >= *(int *)arg + 2;
}

/* Closing fails what is in flight and what is queued, without waiting for the server. */
static void
test_close_in_flight(void)
{
	struct gen_config cfg = { rsp_url("hang"), NULL, HANG_MS * 2, 2000, 2 };
	struct gen_params p = gentest_params("m");
	struct generator *g;
	struct gb_err err = { 0 };
	struct tally t;
	int before, answered, answered_before;

	tally_init(&t);
	pthread_mutex_lock(&rsp.mu);
	before = rsp.hangs;
	answered_before = rsp.hangs_answered;
	pthread_mutex_unlock(&rsp.mu);
	if (generator_open(&g, &cfg, &err))
		tap_bail("open: %s", err.msg);
	for (int i = 0; i < 5; i++)
		if (generator_submit(g, "s", "u", &p, tally_done, &t))
			tap_bail("submit failed");
	ok(rsp_wait(two_hangs, &before) == 0, "close: 2 calls in flight at the server");
	generator_close(g);
	pthread_mutex_lock(&rsp.mu);
	answered = rsp.hangs_answered - answered_before;
	pthread_mutex_unlock(&rsp.mu);
	is_int(answered, 0, "close: returned before the server answered any call");
	is_int(t.n, 5, "close: every call's callback ran");
	is_int(t.estate, 5, "close: all with GB_ESTATE 'generator closed' (%s)", t.first_msg);
	tally_release(&t);
}

int
main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	responder_start();
	reset_start();

	test_offline();
	test_open_errors();
	test_retry_after();
	test_faults();
	test_bound();
	test_close_in_flight();

	reset_stop();
	responder_stop();
	return tap_done();
}
