/*
 * t211-generator-llama - the generator against a real llama.cpp server.
 *
 * Every normal reply comes from llama-server with a tiny model
 * (tests/peers/llama-build.sh builds and caches it): a call with its
 * usage and finish_reason, a stop sequence cut from a greedy answer,
 * max_tokens, 50 concurrent calls through 4 slots, a base URL with and
 * without /v1 and a trailing '/', a wrong key, and credentials in the URL
 * kept out of the message. t210 has the faults.
 */
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "../appliance/generator.h"
#include "gentest.h"
#include "tap.h"
#include "peer.h"

#define LLAMA_KEY	"t211-secret"
#define WAIT_MS		60000		/* bound for waiting on events that must come */

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
isalnum_ascii(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* ---- the real llama.cpp server -------------------------------------------- */

/* One greedy call of max_tokens 4 to url: it reaches the chat completions path. */
static void
llama_form(const char *url, const char *name)
{
	struct gen_params p = gentest_params("tiny-llama");
	struct gen_reply r;

	p.temperature = 0;
	p.max_tokens = 4;
	gentest_call_once(url, LLAMA_KEY, WAIT_MS, &p, &r);
	is_int(r.code, 0, "llama %s: the call succeeds (%s)", name, r.msg);
	is_int(r.http_status, 200, "llama %s: HTTP 200, not /v1/v1", name);
	gen_reply_release(&r);
}

static void
test_llama_stop(struct generator *g)
{
	struct gen_params p = gentest_params("tiny-llama");
	struct gen_reply r, s;
	const char *stop[1];
	char sub[8], prefix[4096];
	size_t len, at = 0;

	/* A stop sequence taken from the middle of a greedy answer. */
	p.temperature = 0;
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
}

static void
test_llama(const char *base)
{
	struct gen_config cfg = { base, LLAMA_KEY, WAIT_MS, 5000, 4 };
	struct gen_params p = gentest_params("tiny-llama");
	struct gen_reply r;
	struct generator *g;
	struct gb_err err = { 0 };
	struct tally t;
	char want[256], url[192];
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
	is_int(r.retry_after_ms, -1, "llama: no Retry-After on a 200");
	gen_reply_release(&r);

	test_llama_stop(g);

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
	is_int(tally_wait(&t, 50, 300000), 50, "llama: 50 submits, 50 callbacks");
	is_int(t.ok, 50, "llama: all 50 answered (%s)", t.first_msg);
	ok(t.max_tokens_seen >= 1 && t.max_tokens_seen <= 8, "llama: answers of 1..max_tokens 8 tokens (%lld)",
	    (long long)t.max_tokens_seen);
	tap_diag("50 calls, 4 at a time: %lld ms", (long long)(now_ms() - t0));
	generator_close(g);
	tally_release(&t);

	/* the base URL with /v1, with a trailing '/', with both */
	snprintf(url, sizeof(url), "%s/v1", base);
	llama_form(url, "base/v1");
	snprintf(url, sizeof(url), "%s/v1/", base);
	llama_form(url, "base/v1/");
	snprintf(url, sizeof(url), "%s/", base);
	llama_form(url, "base/");

	/* a wrong key, and credentials in the URL kept out of the message */
	p.max_tokens = 4;
	gentest_call_once(base, "wrong-key", WAIT_MS, &p, &r);
	is_int(r.code, GB_EPERM, "llama: a wrong key is GB_EPERM");
	is_int(r.http_status, 401, "llama: HTTP 401");
	snprintf(want, sizeof(want), "HTTP 401 from %s", gentest_called(base));
	like(r.msg, want, "llama: message names the URL called '%s'", r.msg);
	ok(r.text == NULL, "llama: no text");
	gen_reply_release(&r);
	snprintf(url, sizeof(url), "http://joe:hunter2@%s/v1", base + strlen("http://"));
	gentest_call_once(url, "wrong-key", WAIT_MS, &p, &r);
	is_int(r.http_status, 401, "llama with credentials in the URL: HTTP 401");
	like(r.msg, want, "llama with credentials in the URL: message '%s'", r.msg);
	ok(strstr(r.msg, "hunter2") == NULL && strstr(r.msg, "joe") == NULL, "llama: no credentials in the message");
	gen_reply_release(&r);

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
	test_llama(base);
	peer_llama_stop();
	return tap_done();
}
