/*
 * openai.h - the OpenAI chat-completions wire format, as spoken by OpenAI,
 * vLLM, llama.cpp's server and Ollama: the endpoint URL, the request body,
 * the reply and the classification of errors. Pure functions over strings
 * and cJSON (curl's URL parser for URLs): no I/O, no globals; safe from any
 * thread. The generator (generator.h) does the HTTP.
 */
#ifndef GB_OPENAI_H
#define GB_OPENAI_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "../base/err.h"

#define OPENAI_PROVIDER		"openai-compatible"
#define OPENAI_URL_MAX		2048		/* bytes of a base URL */
#define OPENAI_STOP_MAX		16		/* stop sequences sent */

/* What one call asks for. */
struct gen_params {
	const char *model;		/* required for the endpoint (else the reply is
					 * GB_EINVAL) */
	double temperature;		/* NAN: not sent */
	double top_p;			/* NAN: not sent */
	double frequency_penalty;	/* NAN: not sent */
	double presence_penalty;	/* NAN: not sent */
	int max_tokens;			/* <= 0: not sent */
	const char *const *stop;	/* stop sequences, nstop of them; none: not sent */
	int nstop;
	int words_min, words_max;	/* the section's word range: offline-draft's length */
};

/* What one call got. */
struct gen_reply {
	int code;			/* 0; GB_ETRANSIENT: timeout, connection failure, 429, 5xx;
					 * GB_EPERM: 401, 403; GB_EINVAL: other 4xx, a reply that
					 * is not the protocol's JSON; GB_ESTATE: the generator
					 * closed */
	int http_status;		/* 0 when no HTTP answer */
	char *text;			/* malloc'd choices[0].message.content, or NULL */
	int64_t prompt_tokens;		/* usage.prompt_tokens; 0 when absent and for
					 * offline drafts */
	int64_t completion_tokens;	/* usage.completion_tokens; 0 when absent and for
					 * offline drafts */
	int64_t retry_after_ms;		/* Retry-After of a 429/503 (seconds or HTTP date) when it
					 * asks for a wait; -1 when absent, 0 or in the past */
	char finish_reason[32];
	char provider[32];		/* OPENAI_PROVIDER or DRAFT_PROVIDER (draft.h) */
	char msg[256];			/* why it failed: "HTTP 401 from URL: Invalid API Key",
					 * "timeout after 2000 ms", "cannot connect to URL: ...",
					 * "generator closed"; URL is the full URL called, shown
					 * without user:password@ */
};

/* An empty reply (code 0, retry_after_ms -1) from provider. */
void gen_reply_init(struct gen_reply *r, const char *provider);
/* Fail r with code and a message, unless it failed already (first error wins); frees r->text. */
void gen_reply_fail(struct gen_reply *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Free reply->text; NULL-safe. */
void gen_reply_release(struct gen_reply *reply);

/*
 * The parameters of an ai_generator component's config (the schema's
 * components.config): model, temperature, top_p, frequency_penalty,
 * presence_penalty, max_tokens and stop_sequences; what is absent or null
 * is not sent. Numbers are range-checked as doubles before any conversion:
 * max_tokens must be a whole number from 1 to INT_MAX, the others numbers;
 * stop_sequences an array of strings (the first OPENAI_STOP_MAX are sent).
 * GB_EINVAL names the field. p borrows config's strings and stopv (of at
 * least OPENAI_STOP_MAX entries); words_min/words_max are left as they are.
 */
int openai_params_from_config(const cJSON *config, struct gen_params *p, const char **stopv,
    struct gb_err *err);

/*
 * The URL to POST to for a base URL (http:// or https://, at most
 * OPENAI_URL_MAX bytes): base/v1/chat/completions, or base/chat/completions
 * when base already ends in /v1 (a trailing '/' is ignored; a query is
 * kept). *url_out is that URL, *shown_out the same without user, password
 * and login options, for messages; both malloc'd (caller frees), NULL on
 * failure: GB_EINVAL naming the problem, GB_ENOMEM.
 */
int openai_endpoint(const char *base, char **url_out, char **shown_out, struct gb_err *err);

/*
 * The request body for a call; parameters that are not set (NAN,
 * max_tokens <= 0, no stop) are left out, so is an empty system prompt.
 * Returns malloc'd JSON (caller frees), NULL when out of memory.
 */
char *openai_request_body(const char *system, const char *user, const struct gen_params *p);

/*
 * Read a 2xx reply body of len bytes from url into r: the text of
 * choices[0].message.content, finish_reason and usage's token counts
 * (missing, negative or absurd counts are 0). A body that is not JSON or
 * has no content fails r with GB_EINVAL naming url and the body's
 * error.message when it has one; GB_ENOMEM.
 */
void openai_reply_parse(const char *body, size_t len, const char *url, struct gen_reply *r);

/*
 * The code of an HTTP error status: GB_EPERM (401, 403), GB_ETRANSIENT (429,
 * 5xx), else GB_EINVAL.
 */
int openai_status_code(long status);

/* Fail r for an HTTP error status: "HTTP <status> from <url>: <error.message of the body>". */
void openai_reply_http_error(long status, const char *body, size_t len, const char *url,
    struct gen_reply *r);

#endif
