/*
 * t201-openai - the OpenAI chat-completions wire format, without a network:
 * the URL a base URL is called at (with or without /v1, credentials kept
 * out of messages), the request body as sent, the reply as read, the code
 * of each HTTP error, and a component's config turned into call parameters
 * (hostile numbers refused before any conversion).
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../appliance/openai.h"
#include "gentest.h"
#include "tap.h"
#include "util.h"

static void
endpoint_is(const char *base, const char *want_url, const char *want_shown)
{
	struct gb_err err = { 0, "" };
	char *url = NULL, *shown = NULL;
	int rc = openai_endpoint(base, &url, &shown, &err);

	is_int(rc, 0, "endpoint %s: accepted (%s)", base, err.msg);
	is_str(url, want_url, "endpoint %s: the URL called", base);
	is_str(shown, want_shown, "endpoint %s: the URL in messages", base);
	free(url);
	free(shown);
}

static void
endpoint_rejects(const char *base, const char *want, const char *name)
{
	struct gb_err err = { 0, "" };
	char *url = (char *)"x", *shown = (char *)"x";

	is_int(openai_endpoint(base, &url, &shown, &err), GB_EINVAL, "endpoint %s: refused", name);
	like(err.msg, want, "endpoint %s: message (%s)", name, err.msg);
	ok(url == NULL && shown == NULL, "endpoint %s: nothing returned", name);
}

static void
test_endpoint(void)
{
	const char *v = "http://127.0.0.1:8080/v1/chat/completions";

	endpoint_is("http://127.0.0.1:8080", v, v);
	endpoint_is("http://127.0.0.1:8080/", v, v);
	endpoint_is("http://127.0.0.1:8080/v1", v, v);
	endpoint_is("http://127.0.0.1:8080/v1/", v, v);
	endpoint_is("https://api.example.com/openai", "https://api.example.com/openai/v1/chat/completions",
	    "https://api.example.com/openai/v1/chat/completions");
	endpoint_is("https://api.example.com/openai/v1", "https://api.example.com/openai/v1/chat/completions",
	    "https://api.example.com/openai/v1/chat/completions");
	/* "/v10" and "/xv1" are not "/v1" */
	endpoint_is("http://h/v10", "http://h/v10/v1/chat/completions", "http://h/v10/v1/chat/completions");
	endpoint_is("http://h/xv1", "http://h/xv1/v1/chat/completions", "http://h/xv1/v1/chat/completions");
	endpoint_is("http://h/v1?api-version=2024", "http://h/v1/chat/completions?api-version=2024",
	    "http://h/v1/chat/completions?api-version=2024");
	endpoint_is("http://joe:hunter2@127.0.0.1:8080/v1", "http://joe:hunter2@127.0.0.1:8080/v1/chat/completions", v);
	endpoint_is("http://joe@127.0.0.1:8080", "http://joe@127.0.0.1:8080/v1/chat/completions", v);

	endpoint_rejects("ftp://joe:pw@127.0.0.1/", "generator url 'ftp://127.0.0.1/", "ftp, credentials not shown");
	endpoint_rejects("127.0.0.1:8080", "generator url '127.0.0.1:8080' has no scheme: write "
	    "http://127.0.0.1:8080 (or https://)", "no scheme");
	endpoint_rejects("localhost:8080/v1", "has no scheme: write http://localhost:8080/v1",
	    "localhost, no scheme");
	endpoint_rejects("joe:hunter2@h:8080", "generator url '****' has no scheme",
	    "no scheme, credentials not shown");
	endpoint_rejects("http://h/a b", "holds spaces", "a space");
	endpoint_rejects("http://h/\r\nX: 1", "holds spaces", "CR LF");
	endpoint_rejects("http://[::1", "generator url is not a URL", "a bracket left open");
	{
		char *big = malloc(3000);

		memcpy(big, "http://h/", 9);
		memset(big + 9, 'a', 2990);
		big[2999] = '\0';
		endpoint_rejects(big, "longer than 2048 bytes", "3000 bytes");
		free(big);
	}
}

static void
test_request_body(void)
{
	static const char *const stops[] = { "END", NULL, "###" };
	struct gen_params p = gentest_params("m1");
	char *body;

	p.temperature = 0.5;
	p.top_p = 0.9;
	p.frequency_penalty = 0.25;
	p.presence_penalty = -0.5;
	p.max_tokens = 77;
	p.stop = stops;
	p.nstop = 3;
	body = openai_request_body("You write.", "Write \"quoted\"\nlines.", &p);
	ok(body && util_json_equal(body,
	    "{\"model\":\"m1\",\"messages\":[{\"role\":\"system\",\"content\":\"You write.\"},"
	    "{\"role\":\"user\",\"content\":\"Write \\\"quoted\\\"\\nlines.\"}],\"temperature\":0.5,\"top_p\":0.9,"
	    "\"frequency_penalty\":0.25,\"presence_penalty\":-0.5,\"max_tokens\":77,\"stop\":[\"END\",\"###\"]}"),
	    "request: every parameter, the prompts JSON-escaped, NULL stops skipped (%s)", body ? body : "NULL");
	free(body);

	p = gentest_params("m2");
	body = openai_request_body("", "Only a user.", &p);
	ok(body && util_json_equal(body, "{\"model\":\"m2\",\"messages\":[{\"role\":\"user\",\"content\":\"Only a user.\"}]}"),
	    "request: unset parameters and an empty system prompt are left out (%s)", body ? body : "NULL");
	free(body);
	body = openai_request_body(NULL, NULL, &p);
	ok(body && util_json_equal(body, "{\"model\":\"m2\",\"messages\":[{\"role\":\"user\",\"content\":\"\"}]}"),
	    "request: NULL prompts are empty");
	free(body);
}

static void
parse(const char *body, struct gen_reply *r)
{
	gen_reply_init(r, OPENAI_PROVIDER);
	openai_reply_parse(body, body ? strlen(body) : 0, "http://h/v1/chat/completions", r);
}

static void
test_reply(void)
{
	struct gen_reply r;

	parse("{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"fine words\"},"
	    "\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":2}}", &r);
	is_int(r.code, 0, "reply: read (%s)", r.msg);
	is_str(r.text, "fine words", "reply: the text of choices[0].message.content");
	is_str(r.finish_reason, "length", "reply: finish_reason");
	is_int(r.prompt_tokens, 11, "reply: usage.prompt_tokens");
	is_int(r.completion_tokens, 2, "reply: usage.completion_tokens");
	is_str(r.provider, "openai-compatible", "reply: the provider");
	is_int(r.retry_after_ms, -1, "reply: no Retry-After");
	gen_reply_release(&r);

	parse("{\"choices\":[{\"message\":{\"content\":\"x\"}}],"
	    "\"usage\":{\"prompt_tokens\":-3,\"completion_tokens\":1e300}}", &r);
	is_int(r.code, 0, "reply with hostile usage: read");
	is_int(r.prompt_tokens, 0, "reply: a negative token count is 0");
	is_int(r.completion_tokens, 0, "reply: a token count of 1e300 is 0, not a wrapped integer");
	is_str(r.finish_reason, "", "reply: no finish_reason, none invented");
	gen_reply_release(&r);

	parse("<html>hello</html>", &r);
	is_int(r.code, GB_EINVAL, "reply not JSON: invalid");
	is_str(r.msg, "reply from http://h/v1/chat/completions is not JSON", "reply not JSON: message");
	ok(r.text == NULL, "reply not JSON: no text");
	gen_reply_release(&r);

	parse("{\"error\":{\"message\":\"model is loading\"}}", &r);
	is_int(r.code, GB_EINVAL, "reply without choices: invalid");
	is_str(r.msg, "reply from http://h/v1/chat/completions has no choices[0].message.content: model is loading",
	    "reply without choices: message with the server's error.message");
	gen_reply_release(&r);

	parse("{\"choices\":[{\"message\":{\"content\":null}}]}", &r);
	is_int(r.code, GB_EINVAL, "reply with null content: invalid");
	gen_reply_release(&r);
	parse(NULL, &r);
	is_int(r.code, GB_EINVAL, "reply of no body: invalid");
	gen_reply_release(&r);
}

static void
test_http_errors(void)
{
	static const struct { long status; int code; } codes[] = {
		{ 400, GB_EINVAL }, { 401, GB_EPERM }, { 403, GB_EPERM }, { 404, GB_EINVAL }, { 422, GB_EINVAL },
		{ 429, GB_ETRANSIENT }, { 500, GB_ETRANSIENT }, { 502, GB_ETRANSIENT }, { 503, GB_ETRANSIENT },
	};
	struct gen_reply r;
	const char *u = "http://h/v1/chat/completions", *body;

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		is_int(openai_status_code(codes[i].status), codes[i].code, "HTTP %ld: code %d", codes[i].status,
		    codes[i].code);
	gen_reply_init(&r, OPENAI_PROVIDER);
	body = "{\"error\":{\"message\":\"Invalid API Key\"}}";
	openai_reply_http_error(401, body, strlen(body), u, &r);
	is_int(r.code, GB_EPERM, "HTTP 401: permission");
	is_str(r.msg, "HTTP 401 from http://h/v1/chat/completions: Invalid API Key", "HTTP 401: message");
	gen_reply_release(&r);
	gen_reply_init(&r, OPENAI_PROVIDER);
	body = "<html>bad gateway</html>";
	openai_reply_http_error(502, body, strlen(body), u, &r);
	is_str(r.msg, "HTTP 502 from http://h/v1/chat/completions", "HTTP 502 with an html body: the status alone");
	gen_reply_release(&r);
	gen_reply_init(&r, OPENAI_PROVIDER);
	body = "{\"error\":\"plain\"}";
	openai_reply_http_error(500, body, strlen(body), u, &r);
	is_str(r.msg, "HTTP 500 from http://h/v1/chat/completions: plain", "HTTP 500 with error as a string");
	gen_reply_fail(&r, GB_EINVAL, "later");
	is_str(r.msg, "HTTP 500 from http://h/v1/chat/completions: plain", "the first failure wins");
	gen_reply_release(&r);
}

/* openai_params_from_config on config text: the code, and the message or p. */
static int
from_config(const char *text, struct gen_params *p, const char **stopv, char *msg)
{
	struct gb_err err = { 0, "" };
	cJSON *config = cJSON_Parse(text);
	int rc;

	if (config == NULL)
		tap_bail("config does not parse: %s", text);
	*p = gentest_params("unset");
	p->words_min = 3;
	p->words_max = 9;
	rc = openai_params_from_config(config, p, stopv, &err);
	snprintf(msg, 256, "%s", err.msg);
	/* the strings p borrows live as long as config: copy what the checks read */
	if (rc == 0 && p->model)
		p->model = strcmp(p->model, "gpt-4") == 0 ? "gpt-4" : "other";
	for (int i = 0; rc == 0 && i < p->nstop; i++)
		stopv[i] = strcmp(stopv[i], "END") == 0 ? "END" : "other";
	cJSON_Delete(config);
	return rc;
}

static void
config_rejects(const char *text, const char *want, const char *name)
{
	struct gen_params p;
	const char *stopv[OPENAI_STOP_MAX];
	char msg[256];

	is_int(from_config(text, &p, stopv, msg), GB_EINVAL, "config %s: refused", name);
	is_str(msg, want, "config %s: message", name);
}

static void
test_params_from_config(void)
{
	static const char max_msg[] = "component config max_tokens must be an integer from 1 to 2147483647";
	struct gen_params p;
	const char *stopv[OPENAI_STOP_MAX];
	char msg[256], text[2048];
	int rc;

	/* the schema's ai_generator component config */
	rc = from_config("{\"model\":\"gpt-4\",\"temperature\":0.7,\"max_tokens\":2000,\"top_p\":1,"
	    "\"frequency_penalty\":0,\"presence_penalty\":0,\"stop_sequences\":[\"END\"]}", &p, stopv, msg);
	is_int(rc, 0, "config: the schema's example (%s)", msg);
	is_str(p.model, "gpt-4", "config: model");
	ok(p.temperature == 0.7 && p.top_p == 1 && p.frequency_penalty == 0 && p.presence_penalty == 0,
	    "config: temperature, top_p and penalties");
	is_int(p.max_tokens, 2000, "config: max_tokens");
	is_int(p.nstop, 1, "config: one stop sequence");
	is_str(p.nstop ? stopv[0] : NULL, "END", "config: the stop sequence");
	ok(p.words_min == 3 && p.words_max == 9, "config: the word range is left alone");

	rc = from_config("{\"model\":\"m\",\"max_tokens\":null}", &p, stopv, msg);
	is_int(rc, 0, "config: the bare minimum");
	ok(isnan(p.temperature) && isnan(p.top_p) && isnan(p.frequency_penalty) && isnan(p.presence_penalty),
	    "config: absent numbers are not sent (NAN)");
	is_int(p.max_tokens, 0, "config: null max_tokens is not sent");
	ok(p.stop == NULL && p.nstop == 0, "config: no stop sequences");
	rc = from_config("{\"max_tokens\":2147483647}", &p, stopv, msg);
	is_int(rc, 0, "config: max_tokens INT_MAX is taken");
	is_int(p.max_tokens, INT_MAX, "config: max_tokens INT_MAX");
	ok(p.model == NULL, "config: no model, NULL (the endpoint then refuses the call)");

	config_rejects("{\"max_tokens\":2147483648}", max_msg, "max_tokens INT_MAX + 1");
	config_rejects("{\"max_tokens\":1e300}", max_msg, "max_tokens 1e300");
	config_rejects("{\"max_tokens\":-5}", max_msg, "max_tokens -5");
	config_rejects("{\"max_tokens\":0}", max_msg, "max_tokens 0");
	config_rejects("{\"max_tokens\":10.5}", max_msg, "max_tokens 10.5");
	config_rejects("{\"max_tokens\":\"100\"}", "component config max_tokens must be a number",
	    "max_tokens a string");
	config_rejects("{\"temperature\":\"hot\"}", "component config temperature must be a number",
	    "temperature a string");
	config_rejects("{\"model\":7}", "component config model must be a string", "model a number");
	config_rejects("{\"stop_sequences\":\"END\"}", "component config stop_sequences must be an array of strings",
	    "stop_sequences a string");
	config_rejects("{\"stop_sequences\":[\"END\",3]}",
	    "component config stop_sequences must be an array of strings", "a stop sequence a number");

	snprintf(text, sizeof(text), "{\"stop_sequences\":[");
	for (int i = 0; i < 20; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s\"END\"", i ? "," : "");
	snprintf(text + strlen(text), sizeof(text) - strlen(text), "]}");
	rc = from_config(text, &p, stopv, msg);
	is_int(rc, 0, "config: 20 stop sequences accepted");
	is_int(p.nstop, OPENAI_STOP_MAX, "config: the first 16 are sent");
}

int
main(void)
{
	test_endpoint();
	test_request_body();
	test_reply();
	test_http_errors();
	test_params_from_config();
	return tap_done();
}
