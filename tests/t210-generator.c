/*
 * t210-generator - the generator as the ai_generator component sees it.
 *
 * Against a real llama.cpp server (tests/peers/llama-build.sh builds and
 * caches it): a call, a stop sequence, a wrong key, 50 concurrent calls.
 * Against a scripted civetweb responder, for what the real server cannot do
 * on demand: 429 and 503 with Retry-After, 500, 400 and 403 with an
 * OpenAI-style error, replies that are not the protocol's JSON, an
 * oversized reply, a hang past the timeout, the request as sent, the bound
 * on calls in flight, and closing with calls in flight. An endpoint that is
 * down, and the offline-draft provider.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <civetweb.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "../appliance/generator.h"
#include "tap.h"
#include "peer.h"
#include "util.h"

#define LLAMA_KEY	"t210-secret"
#define HANG_MS		15000

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

static int
isalnum_ascii(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static struct gen_params
params(const char *model)
{
	struct gen_params p;

	memset(&p, 0, sizeof(p));
	p.model = model;
	p.temperature = p.top_p = p.frequency_penalty = p.presence_penalty = NAN;
	return p;
}

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

/* ---- callbacks that count (they run on the generator's thread) ------------ */

struct tally {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int n, ok, estate, other;	/* guarded by mu */
	int64_t max_tokens_seen;
	char first_msg[300];
};

static void
tally_init(struct tally *t)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->cv, NULL);
}

static void
tally_release(struct tally *t)
{
	pthread_cond_destroy(&t->cv);
	pthread_mutex_destroy(&t->mu);
}

static void
tally_done(void *arg, struct gen_reply *r)
{
	struct tally *t = arg;

	pthread_mutex_lock(&t->mu);
	t->n++;
	if (r->code == 0 && r->text && r->text[0])
		t->ok++;
	else if (r->code == GB_ESTATE && strcmp(r->msg, "generator closed") == 0)
		t->estate++;
	else {
		t->other++;
		if (!t->first_msg[0])
			snprintf(t->first_msg, sizeof(t->first_msg), "code %d: %s", r->code, r->msg);
	}
	if (r->completion_tokens > t->max_tokens_seen)
		t->max_tokens_seen = r->completion_tokens;
	pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->mu);
	gen_reply_release(r);
}

/* Wait until n callbacks ran or ms passed; returns the count. */
static int
tally_wait(struct tally *t, int n, int ms)
{
	struct timespec until;
	int got;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&t->mu);
	while (t->n < n && pthread_cond_timedwait(&t->cv, &t->mu, &until) == 0)
		;
	got = t->n;
	pthread_mutex_unlock(&t->mu);
	return got;
}

/* ---- the scripted responder ----------------------------------------------- */

struct responder {
	struct mg_context *ctx;
	int port;
	pthread_mutex_t mu;
	pthread_mutex_t header_mu;	/* civetweb dates its headers with gmtime(): one at a time */
	int inflight, max_inflight;	/* of "slow", guarded by mu */
	int hangs;			/* requests that entered "hang", guarded by mu */
	int release;			/* let the hangs go, guarded by mu */
};

static struct responder rsp;

enum mode { M_429, M_429_DATE, M_503, M_500, M_400, M_403, M_NOTJSON, M_NOCHOICES, M_BIG, M_HANG, M_ECHO, M_SLOW };

static const struct {
	const char *name;
	enum mode mode;
} modes[] = {
	{ "r429", M_429 }, { "r429date", M_429_DATE }, { "r503", M_503 }, { "r500", M_500 },
	{ "r400", M_400 }, { "r403", M_403 }, { "notjson", M_NOTJSON }, { "nochoices", M_NOCHOICES },
	{ "big", M_BIG }, { "hang", M_HANG }, { "echo", M_ECHO }, { "slow", M_SLOW },
};

static const char completion[] =
	"{\"id\":\"x\",\"object\":\"chat.completion\",\"model\":\"m\","
	"\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"fine words\"},"
	"\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":2}}";

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

/* The request as received, as the content of a chat completion. */
static int
send_echo(struct mg_connection *conn, const char *body)
{
	const char *auth = mg_get_header(conn, "Authorization"), *ctype = mg_get_header(conn, "Content-Type");
	cJSON *seen = cJSON_CreateObject(), *reply = cJSON_Parse(completion), *msg;
	char *text, *out;
	int rc;

	cJSON_AddStringToObject(seen, "method", mg_get_request_info(conn)->request_method);
	cJSON_AddStringToObject(seen, "auth", auth ? auth : "");
	cJSON_AddStringToObject(seen, "ctype", ctype ? ctype : "");
	cJSON_AddStringToObject(seen, "body", body);
	text = cJSON_PrintUnformatted(seen);
	msg = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(reply, "choices"), 0), "message");
	cJSON_ReplaceItemInObject(msg, "content", cJSON_CreateString(text));
	out = cJSON_PrintUnformatted(reply);
	rc = send_json(conn, 200, NULL, out);
	free(out);
	free(text);
	cJSON_Delete(seen);
	cJSON_Delete(reply);
	return rc;
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
respond(struct mg_connection *conn, enum mode mode, const char *body)
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
	case M_ECHO:
		return send_echo(conn, body);
	case M_HANG: {
		int64_t until = now_ms() + HANG_MS;
		int go;

		pthread_mutex_lock(&rsp.mu);
		rsp.hangs++;
		pthread_mutex_unlock(&rsp.mu);
		do {
			sleep_ms(20);
			pthread_mutex_lock(&rsp.mu);
			go = rsp.release;
			pthread_mutex_unlock(&rsp.mu);
		} while (!go && now_ms() < until);
		return send_json(conn, 200, NULL, completion);
	}
	case M_SLOW:
		pthread_mutex_lock(&rsp.mu);
		if (++rsp.inflight > rsp.max_inflight)
			rsp.max_inflight = rsp.inflight;
		pthread_mutex_unlock(&rsp.mu);
		sleep_ms(100);
		pthread_mutex_lock(&rsp.mu);
		rsp.inflight--;
		pthread_mutex_unlock(&rsp.mu);
		rc = send_json(conn, 200, NULL, completion);
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
	rc = respond(conn, mode, body);
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
	pthread_mutex_unlock(&rsp.mu);
	mg_stop(rsp.ctx);
	mg_exit_library();
	pthread_mutex_destroy(&rsp.header_mu);
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

/* One call to url with a fresh generator. */
static void
call_once(const char *url, const char *key, int timeout_ms, const struct gen_params *p, struct gen_reply *r)
{
	struct gen_config cfg = { url, key, timeout_ms, 2000, 2 };
	struct generator *g;
	struct gb_err err = { 0 };

	if (generator_open(&g, &cfg, &err))
		tap_bail("generator_open %s: %s", url, err.msg);
	generator_call(g, "You write.", "Write.", p, r);
	generator_close(g);
}

/* ---- offline-draft -------------------------------------------------------- */

static void
test_offline(void)
{
	struct gen_config cfg = { NULL, NULL, 0, 0, 0 };
	struct gen_params p = params(NULL);
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
	ok(words >= 40 && words <= 60, "offline: %d words within [40, 60]", words);
	is_str(b.text, a.text, "offline: same prompt, same text");
	is_int(a.prompt_tokens, 5 + 6, "offline: prompt tokens are the prompt's words");
	is_int(a.completion_tokens, words, "offline: completion tokens are the text's words");
	is_int(a.http_status, 0, "offline: no HTTP status");
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
	is_int(tally_wait(&t, 20, 10000), 20, "offline: 20 submits, 20 callbacks");
	is_int(t.ok, 20, "offline: all 20 answered");
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
test_open_errors(void)
{
	struct gen_config cfg = { "ftp://127.0.0.1/", NULL, 1000, 1000, 1 };
	struct generator *g = NULL;
	struct gb_err err = { 0 };

	is_int(generator_open(&g, &cfg, &err), GB_EINVAL, "open: an ftp url is refused");
	like(err.msg, "ftp://127.0.0.1", "open: the message names the url");
	ok(g == NULL, "open: nothing returned on failure");
	cfg.url = "http://127.0.0.1:1";
	cfg.key = "abc\r\nX-Injected: 1";
	gb_err_clear(&err);
	is_int(generator_open(&g, &cfg, &err), GB_EINVAL, "open: a key with CR LF is refused");
}

/* ---- the scripted responder ----------------------------------------------- */

static void
test_request(void)
{
	static const char *const stops[] = { "END", "###" };
	struct gen_params p = params("m1");
	struct gen_config cfg;
	struct gen_reply r;
	struct generator *g;
	struct gb_err err = { 0 };
	cJSON *seen, *body;
	char url[160];
	const char *want;

	p.temperature = 0.5;
	p.top_p = 0.9;
	p.frequency_penalty = 0.25;
	p.presence_penalty = -0.5;
	p.max_tokens = 77;
	p.stop = stops;
	p.nstop = 2;
	snprintf(url, sizeof(url), "%s/", rsp_url("echo"));	/* a trailing '/' is trimmed */
	cfg = (struct gen_config){ url, "k-123", 5000, 2000, 2 };
	if (generator_open(&g, &cfg, &err))
		tap_bail("open: %s", err.msg);
	is_str(generator_provider(g), "openai-compatible", "request: provider");
	generator_call(g, "You write.", "Write \"quoted\"\nlines.", &p, &r);
	is_int(r.code, 0, "request: echo answered (%s)", r.msg);
	is_int(r.http_status, 200, "request: HTTP 200");
	is_str(r.provider, "openai-compatible", "request: reply names the provider");
	is_str(r.finish_reason, "length", "request: finish_reason read");
	is_int(r.prompt_tokens, 11, "request: usage.prompt_tokens read");
	is_int(r.completion_tokens, 2, "request: usage.completion_tokens read");
	is_int(r.retry_after_ms, -1, "request: no Retry-After");
	seen = cJSON_Parse(r.text ? r.text : "");
	body = cJSON_Parse(cJSON_GetStringValue(cJSON_GetObjectItem(seen, "body")));
	is_str(cJSON_GetStringValue(cJSON_GetObjectItem(seen, "method")), "POST", "request: POST");
	is_str(cJSON_GetStringValue(cJSON_GetObjectItem(seen, "auth")), "Bearer k-123", "request: bearer key");
	is_str(cJSON_GetStringValue(cJSON_GetObjectItem(seen, "ctype")), "application/json",
	    "request: JSON content type");
	want = "{\"model\":\"m1\",\"messages\":[{\"role\":\"system\",\"content\":\"You write.\"},"
	    "{\"role\":\"user\",\"content\":\"Write \\\"quoted\\\"\\nlines.\"}],\"temperature\":0.5,\"top_p\":0.9,"
	    "\"frequency_penalty\":0.25,\"presence_penalty\":-0.5,\"max_tokens\":77,\"stop\":[\"END\",\"###\"]}";
	ok(body && util_json_equal(cJSON_GetStringValue(cJSON_GetObjectItem(seen, "body")), want),
	    "request: body has every parameter");
	if (!body)
		tap_diag("seen: %s", r.text ? r.text : "(null)");
	cJSON_Delete(body);
	cJSON_Delete(seen);
	gen_reply_release(&r);
	generator_close(g);

	p = params("m2");
	cfg = (struct gen_config){ rsp_url("echo"), NULL, 5000, 2000, 2 };
	if (generator_open(&g, &cfg, &err))
		tap_bail("open: %s", err.msg);
	generator_call(g, NULL, "Only a user.", &p, &r);
	seen = cJSON_Parse(r.text ? r.text : "");
	is_str(cJSON_GetStringValue(cJSON_GetObjectItem(seen, "auth")), "", "request: no key, no Authorization");
	ok(util_json_equal(cJSON_GetStringValue(cJSON_GetObjectItem(seen, "body")),
	    "{\"model\":\"m2\",\"messages\":[{\"role\":\"user\",\"content\":\"Only a user.\"}]}"),
	    "request: unset parameters and an empty system prompt are left out");
	cJSON_Delete(seen);
	gen_reply_release(&r);

	p.model = NULL;
	generator_call(g, NULL, "x", &p, &r);
	is_int(r.code, GB_EINVAL, "request: no model is GB_EINVAL");
	like(r.msg, "no model", "request: message says so");
	gen_reply_release(&r);
	generator_close(g);
}

static void
test_faults(void)
{
	struct gen_params p = params("m");
	struct gen_reply r;
	char want[160], downurl[64];
	int64_t t0, took;
	int port;

	call_once(rsp_url("r429"), NULL, 5000, &p, &r);
	is_int(r.code, GB_ETRANSIENT, "429: transient");
	is_int(r.http_status, 429, "429: status");
	is_int(r.retry_after_ms, 2000, "429: Retry-After 2 is 2000 ms");
	snprintf(want, sizeof(want), "HTTP 429 from %s: slow down", rsp_url("r429"));
	is_str(r.msg, want, "429: message");
	ok(r.text == NULL, "429: no text");
	gen_reply_release(&r);

	call_once(rsp_url("r429date"), NULL, 5000, &p, &r);
	is_int(r.code, GB_ETRANSIENT, "429 with a date: transient");
	ok(r.retry_after_ms >= 115000 && r.retry_after_ms <= 121000,
	    "429 with an HTTP date 120 s ahead: retry_after_ms %lld", (long long)r.retry_after_ms);
	gen_reply_release(&r);

	call_once(rsp_url("r503"), NULL, 5000, &p, &r);
	is_int(r.code, GB_ETRANSIENT, "503: transient");
	is_int(r.http_status, 503, "503: status");
	is_int(r.retry_after_ms, 1000, "503: Retry-After 1 is 1000 ms");
	like(r.msg, "HTTP 503 from", "503: message");
	gen_reply_release(&r);

	call_once(rsp_url("r500"), NULL, 5000, &p, &r);
	is_int(r.code, GB_ETRANSIENT, "500: transient");
	is_int(r.retry_after_ms, -1, "500: no Retry-After");
	snprintf(want, sizeof(want), "HTTP 500 from %s: internal failure", rsp_url("r500"));
	is_str(r.msg, want, "500: message");
	gen_reply_release(&r);

	call_once(rsp_url("r400"), NULL, 5000, &p, &r);
	is_int(r.code, GB_EINVAL, "400: invalid");
	is_int(r.http_status, 400, "400: status");
	like(r.msg, "HTTP 400 from", "400: message has the status");
	like(r.msg, "maximum context length is 4097 tokens", "400: message has the error.message of the body");
	gen_reply_release(&r);

	call_once(rsp_url("r403"), NULL, 5000, &p, &r);
	is_int(r.code, GB_EPERM, "403: permission");
	like(r.msg, "model not allowed", "403: message");
	gen_reply_release(&r);

	call_once(rsp_url("notjson"), NULL, 5000, &p, &r);
	is_int(r.code, GB_EINVAL, "not JSON: invalid");
	is_int(r.http_status, 200, "not JSON: status 200");
	like(r.msg, "is not JSON", "not JSON: message");
	gen_reply_release(&r);

	call_once(rsp_url("nochoices"), NULL, 5000, &p, &r);
	is_int(r.code, GB_EINVAL, "no choices: invalid");
	like(r.msg, "choices[0].message.content", "no choices: message names what is missing");
	gen_reply_release(&r);

	call_once(rsp_url("big"), NULL, 10000, &p, &r);
	is_int(r.code, GB_EINVAL, "9 MiB reply: invalid");
	like(r.msg, "reply larger than 8388608 bytes", "9 MiB reply: message");
	gen_reply_release(&r);

	t0 = now_ms();
	call_once(rsp_url("hang"), NULL, 1000, &p, &r);
	took = now_ms() - t0;
	is_int(r.code, GB_ETRANSIENT, "hang: transient");
	is_str(r.msg, "timeout after 1000 ms", "hang: message");
	ok(took >= 950 && took <= 2000, "hang: timed out after %lld ms (timeout 1000)", (long long)took);
	gen_reply_release(&r);

	port = peer_free_port();
	snprintf(downurl, sizeof(downurl), "http://127.0.0.1:%d", port);
	call_once(downurl, NULL, 5000, &p, &r);
	is_int(r.code, GB_ETRANSIENT, "down: transient");
	is_int(r.http_status, 0, "down: no HTTP status");
	like(r.msg, "connect", "down: message says connect (%s)", r.msg);
	like(r.msg, downurl, "down: message names the url");
	gen_reply_release(&r);

	snprintf(downurl, sizeof(downurl), "http://user:secret@127.0.0.1:%d/", port);
	call_once(downurl, NULL, 5000, &p, &r);
	snprintf(want, sizeof(want), "cannot connect to http://127.0.0.1:%d: ", port);
	like(r.msg, want, "down: credentials in the url are not in the message (%s)", r.msg);
	gen_reply_release(&r);
}

static void
test_bound(void)
{
	struct gen_config cfg = { rsp_url("slow"), NULL, 10000, 2000, 3 };
	struct gen_params p = params("m");
	struct generator *g;
	struct gb_err err = { 0 };
	struct tally t;

	tally_init(&t);
	if (generator_open(&g, &cfg, &err))
		tap_bail("open: %s", err.msg);
	for (int i = 0; i < 12; i++)
		if (generator_submit(g, "s", "u", &p, tally_done, &t))
			tap_bail("submit failed");
	is_int(tally_wait(&t, 12, 20000), 12, "bound: 12 submits, 12 callbacks");
	is_int(t.ok, 12, "bound: all answered");
	generator_close(g);
	is_int(rsp.max_inflight, 3, "bound: the server saw at most max_concurrent = 3 at once");
	tally_release(&t);
}

static void
test_close_in_flight(void)
{
	struct gen_config cfg = { rsp_url("hang"), NULL, 30000, 2000, 2 };
	struct gen_params p = params("m");
	struct generator *g;
	struct gb_err err = { 0 };
	struct tally t;
	int64_t t0, took;
	int before, hangs = 0;

	tally_init(&t);
	pthread_mutex_lock(&rsp.mu);
	before = rsp.hangs;
	pthread_mutex_unlock(&rsp.mu);
	if (generator_open(&g, &cfg, &err))
		tap_bail("open: %s", err.msg);
	for (int i = 0; i < 5; i++)
		if (generator_submit(g, "s", "u", &p, tally_done, &t))
			tap_bail("submit failed");
	for (t0 = now_ms(); now_ms() - t0 < 5000 && hangs < 2; sleep_ms(10)) {
		pthread_mutex_lock(&rsp.mu);
		hangs = rsp.hangs - before;
		pthread_mutex_unlock(&rsp.mu);
	}
	sleep_ms(200);	/* a third would have arrived by now */
	pthread_mutex_lock(&rsp.mu);
	hangs = rsp.hangs - before;
	pthread_mutex_unlock(&rsp.mu);
	is_int(hangs, 2, "close: max_concurrent = 2 calls in flight at the server, 3 queued");
	t0 = now_ms();
	generator_close(g);
	took = now_ms() - t0;
	ok(took < 1000, "close: returned in %lld ms", (long long)took);
	is_int(t.n, 5, "close: every call's callback ran");
	is_int(t.estate, 5, "close: all with GB_ESTATE 'generator closed' (%s)", t.first_msg);
	tally_release(&t);
}

/* ---- the real llama.cpp server -------------------------------------------- */

static void
test_llama(const char *base)
{
	struct gen_config cfg = { base, LLAMA_KEY, 60000, 5000, 4 };
	struct gen_params p = params("tiny-llama");
	struct gen_reply r, s;
	struct generator *g;
	struct gb_err err = { 0 };
	struct tally t;
	const char *stop[1];
	char want[256], sub[8], prefix[4096];
	size_t len, at = 0;
	int64_t t0;

	if (generator_open(&g, &cfg, &err))
		tap_bail("open: %s", err.msg);

	p.temperature = 0;
	p.max_tokens = 16;
	generator_call(g, "You are a terse assistant.", "Say hello to the tide pools.", &p, &r);
	is_int(r.code, 0, "llama: call succeeds (%s)", r.msg);
	is_int(r.http_status, 200, "llama: HTTP 200");
	is_str(r.provider, "openai-compatible", "llama: provider");
	ok(r.text && r.text[0], "llama: text is not empty");
	ok(r.prompt_tokens > 0, "llama: prompt_tokens %lld > 0", (long long)r.prompt_tokens);
	ok(r.completion_tokens > 0 && r.completion_tokens <= 16, "llama: completion_tokens %lld in 1..max_tokens 16",
	    (long long)r.completion_tokens);
	is_str(r.finish_reason, "length", "llama: a random model ends at max_tokens");
	gen_reply_release(&r);

	/* A stop sequence taken from the middle of a greedy answer. */
	p.max_tokens = 32;
	generator_call(g, "You are a terse assistant.", "Describe a lighthouse at night.", &p, &r);
	is_int(r.code, 0, "llama stop: first call succeeds (%s)", r.msg);
	len = r.text ? strlen(r.text) : 0;
	for (size_t i = len / 3; i + 3 <= len && !at; i++)
		if (isalnum_ascii(r.text[i]) && isalnum_ascii(r.text[i + 1]) && isalnum_ascii(r.text[i + 2]))
			at = i;
	if (!at) {
		tap_diag("no three ASCII letters in the second two thirds of '%s'", r.text ? r.text : "");
		at = len / 2;
	}
	snprintf(sub, sizeof(sub), "%.3s", r.text ? r.text + at : "");
	snprintf(prefix, sizeof(prefix), "%.*s", (int)(strstr(r.text ? r.text : "", sub) - (r.text ? r.text : "")),
	    r.text ? r.text : "");
	stop[0] = sub;
	p.stop = stop;
	p.nstop = 1;
	generator_call(g, "You are a terse assistant.", "Describe a lighthouse at night.", &p, &s);
	is_int(s.code, 0, "llama stop: second call succeeds (%s)", s.msg);
	is_str(s.finish_reason, "stop", "llama stop: finish_reason stop (stop '%s')", sub);
	is_str(s.text, prefix, "llama stop: the text ends before '%s'", sub);
	ok(s.text && strstr(s.text, sub) == NULL, "llama stop: the stop sequence is not in the text");
	if (strcmp(s.text ? s.text : "", prefix) != 0)
		tap_diag("first: '%s'", r.text ? r.text : "");
	gen_reply_release(&r);
	gen_reply_release(&s);
	p.stop = NULL;
	p.nstop = 0;

	/* 50 at once through 4 slots */
	tally_init(&t);
	p.max_tokens = 8;
	t0 = now_ms();
	for (int i = 0; i < 50; i++) {
		char user[64];

		snprintf(user, sizeof(user), "Tell me about shell number %d.", i);
		if (generator_submit(g, "You are terse.", user, &p, tally_done, &t))
			tap_bail("submit %d failed", i);
	}
	is_int(tally_wait(&t, 50, 120000), 50, "llama: 50 submits, 50 callbacks");
	is_int(t.ok, 50, "llama: all 50 answered (%s)", t.first_msg);
	ok(t.max_tokens_seen <= 8, "llama: no answer longer than max_tokens 8");
	tap_diag("50 calls, 4 at a time: %lld ms", (long long)(now_ms() - t0));
	generator_close(g);
	tally_release(&t);

	/* a wrong key */
	cfg.key = "wrong-key";
	if (generator_open(&g, &cfg, &err))
		tap_bail("open: %s", err.msg);
	p.max_tokens = 4;
	generator_call(g, NULL, "Hello.", &p, &r);
	is_int(r.code, GB_EPERM, "llama: a wrong key is GB_EPERM");
	is_int(r.http_status, 401, "llama: HTTP 401");
	snprintf(want, sizeof(want), "HTTP 401 from %s", base);
	like(r.msg, want, "llama: message '%s'", r.msg);
	ok(r.text == NULL, "llama: no text");
	gen_reply_release(&r);
	generator_close(g);

	snprintf(want, sizeof(want), "%s/health", base);
	is_int(peer_http_status(want), 200, "llama: the server still answers");
}

int
main(void)
{
	const char *base;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	base = peer_llama_start(LLAMA_KEY);	/* before any thread: fork and exec */
	responder_start();

	test_offline();
	test_open_errors();
	test_request();
	test_faults();
	test_bound();
	test_close_in_flight();
	test_llama(base);

	responder_stop();
	peer_llama_stop();
	return tap_done();
}
