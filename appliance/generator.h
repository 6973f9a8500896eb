/*
 * generator.h - text generation for the ai_generator component.
 *
 * With an endpoint URL, calls go to an OpenAI-compatible
 * POST {url}/v1/chat/completions, or {url}/chat/completions when url ends
 * in /v1 (OpenAI, vLLM, llama.cpp's server, Ollama; openai.h has the wire
 * format and the gen_params and gen_reply types), through libcurl's multi
 * interface on one thread owned by the generator, so
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

#include "../base/err.h"
#include "openai.h"

/* What gen_config's zeros stand for; config.h's [generator] shares them. */
#define GEN_DEFAULT_TIMEOUT_MS	120000
#define GEN_DEFAULT_CONNECT_MS	10000
#define GEN_DEFAULT_CONCURRENT	8

struct gen_config {
	const char *url;		/* base URL, e.g. http://127.0.0.1:8080 or .../v1;
					 * NULL or "": offline-draft */
	const char *key;		/* bearer token, may be NULL */
	int timeout_ms;			/* whole call; <= 0: 120000 */
	int connect_timeout_ms;		/* <= 0: 10000 */
	int max_concurrent;		/* calls in flight; <= 0: 8 */
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
/* generator_open's checks of cfg (the URL, the key) alone: no thread, nothing kept. */
int generator_check(const struct gen_config *cfg, struct gb_err *err);
/* Fails in-flight and queued calls with GB_ESTATE (callbacks run), joins the thread. NULL-safe. */
void generator_close(struct generator *g);
/* OPENAI_PROVIDER "openai-compatible" or DRAFT_PROVIDER "offline-draft" */
const char *generator_provider(const struct generator *g);

/*
 * Start one call; system (NULL or "": no system message), user and p (with its
 * strings) are copied. 0 and done runs exactly once later; or GB_ENOMEM,
 * GB_ESTATE (closing), GB_EBUSY (FIFO full) and done never runs.
 */
int generator_submit(struct generator *g, const char *system, const char *user,
    const struct gen_params *p, gen_done_fn done, void *arg);
/* The same, waiting for the reply (for the CLI and tests); a failed submit is the reply's code.
 * Not from a callback. Release the reply with gen_reply_release. */
void generator_call(struct generator *g, const char *system, const char *user,
    const struct gen_params *p, struct gen_reply *reply);

#endif
