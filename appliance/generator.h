/*
 * generator.h - text generation for the ai_generator component.
 *
 * With an endpoint URL, calls go to an OpenAI-compatible
 * POST {url}/v1/chat/completions (OpenAI, vLLM, llama.cpp's server, Ollama)
 * through libcurl's multi interface on one thread owned by the generator, so
 * hundreds of calls can be in flight without a thread each; at most
 * max_concurrent per generator, the rest wait in a FIFO. Without a URL the
 * offline-draft provider (draft.h) answers every call.
 *
 * Thread safety: generator_submit and generator_call may be called from any
 * thread, also from a callback. Callbacks run on the generator's thread (in
 * offline-draft mode too) and must not block. generator_close must not run
 * concurrently with submits on the same generator, nor from a callback.
 *
 * Limits: a reply body over 8 MiB is GB_EINVAL "reply larger than ...";
 * at most 65536 calls wait in the FIFO (then submit returns GB_EBUSY).
 */
#ifndef GB_GENERATOR_H
#define GB_GENERATOR_H

#include <stdint.h>

#include "../base/err.h"

struct gen_config {
	const char *url;		/* base URL, e.g. http://127.0.0.1:8080; NULL or "": offline-draft */
	const char *key;		/* bearer token, may be NULL */
	int timeout_ms;			/* whole call; <= 0: 120000 */
	int connect_timeout_ms;		/* <= 0: 10000 */
	int max_concurrent;		/* calls in flight; <= 0: 8 */
};

struct gen_params {
	const char *model;		/* required for the endpoint (else the reply is GB_EINVAL) */
	double temperature;		/* NAN: not sent */
	double top_p;			/* NAN: not sent */
	double frequency_penalty;	/* NAN: not sent */
	double presence_penalty;	/* NAN: not sent */
	int max_tokens;			/* <= 0: not sent */
	const char *const *stop;	/* stop sequences, nstop of them; none: not sent */
	int nstop;
	int words_min, words_max;	/* the section's word range: offline-draft's length */
};

struct gen_reply {
	int code;			/* 0; GB_ETRANSIENT: timeout, connection failure, 429, 5xx;
					 * GB_EPERM: 401, 403; GB_EINVAL: other 4xx, a reply that
					 * is not the protocol's JSON; GB_ESTATE: the generator closed */
	int http_status;		/* 0 when no HTTP answer */
	char *text;			/* malloc'd choices[0].message.content, or NULL */
	int64_t prompt_tokens;		/* usage.prompt_tokens, 0 when absent */
	int64_t completion_tokens;	/* usage.completion_tokens, 0 when absent */
	int64_t retry_after_ms;		/* Retry-After of a 429/503 (seconds or HTTP date), -1 when absent */
	char finish_reason[32];
	char provider[32];		/* "openai-compatible" or "offline-draft" */
	char msg[256];			/* why it failed: "HTTP 401 from http://host:8080: Invalid API Key",
					 * "timeout after 2000 ms", "cannot connect to http://host:8080: ...",
					 * "generator closed"; the URL is shown without user:password@ */
};

/* Called once per submit, on the generator's thread; reply->text is the callee's to free. */
typedef void (*gen_done_fn)(void *arg, struct gen_reply *reply);

struct generator;

/*
 * Start the generator's thread. cfg's strings are copied. GB_EINVAL for a URL
 * that is not http:// or https:// or a key with control characters; GB_ENOMEM,
 * GB_EIO (libcurl would not initialise). *out: close with generator_close.
 */
int generator_open(struct generator **out, const struct gen_config *cfg, struct gb_err *err);
/* Fails in-flight and queued calls with GB_ESTATE (callbacks run), joins the thread. NULL-safe. */
void generator_close(struct generator *g);
/* "openai-compatible" or "offline-draft" */
const char *generator_provider(const struct generator *g);

/*
 * Start one call; system (NULL or "": no system message), user and p (with its
 * strings) are copied. 0 and done runs exactly once later; or GB_ENOMEM,
 * GB_ESTATE (closing), GB_EBUSY (FIFO full) and done never runs.
 */
int generator_submit(struct generator *g, const char *system, const char *user, const struct gen_params *p,
    gen_done_fn done, void *arg);
/* The same, waiting for the reply (for the CLI and tests); a failed submit is the reply's code.
 * Not from a callback. Release the reply with gen_reply_release. */
void generator_call(struct generator *g, const char *system, const char *user, const struct gen_params *p,
    struct gen_reply *reply);
/* Free reply->text; NULL-safe. */
void gen_reply_release(struct gen_reply *reply);

#endif
