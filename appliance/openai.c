/*
 * openai.c - the OpenAI chat-completions wire format: the endpoint URL
 * (curl's URL API, so no hand-written URL surgery), the request body and
 * the reply (cJSON), and the classification of HTTP errors.
 */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "../base/err.h"
#include "../base/json.h"
#include "openai.h"

#define TOKENS_MAX	9e15		/* usage counts above this are not believed */

/* ---- the reply type -------------------------------------------------------- */

void
gen_reply_init(struct gen_reply *r, const char *provider)
{
	memset(r, 0, sizeof(*r));
	r->retry_after_ms = -1;
	snprintf(r->provider, sizeof(r->provider), "%s", provider);
}

void
gen_reply_fail(struct gen_reply *r, int code, const char *fmt, ...)
{
	va_list ap;

	if (r->code != 0)
		return;
	r->code = code;
	free(r->text);
	r->text = NULL;
	va_start(ap, fmt);
	vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
	va_end(ap);
}

void
gen_reply_release(struct gen_reply *reply)
{
	if (reply == NULL)
		return;
	free(reply->text);
	reply->text = NULL;
}

/* ---- the component's config ------------------------------------------------ */

/* A number member (absent or null: NAN); GB_EINVAL for anything else. */
static int
config_number(const cJSON *config, const char *name, double *out, struct gb_err *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(config, name);

	*out = NAN;
	if (v == NULL || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
		return gb_errf(err, GB_EINVAL, "component config %s must be a number", name);
	*out = v->valuedouble;
	return 0;
}

static int
config_stops(const cJSON *config, struct gen_params *p, const char **stopv, struct gb_err *err)
{
	const cJSON *stops = cJSON_GetObjectItemCaseSensitive(config, "stop_sequences"), *x;

	p->stop = NULL;
	p->nstop = 0;
	if (stops == NULL || cJSON_IsNull(stops))
		return 0;
	if (!cJSON_IsArray(stops))
		return gb_errf(err, GB_EINVAL,
		    "component config stop_sequences must be an array of strings");
	cJSON_ArrayForEach(x, stops) {
		if (!cJSON_IsString(x))
			return gb_errf(err, GB_EINVAL,
			    "component config stop_sequences must be an array of strings");
		if (p->nstop < OPENAI_STOP_MAX)
			stopv[p->nstop++] = x->valuestring;
	}
	p->stop = stopv;
	return 0;
}

int
openai_params_from_config(const cJSON *config, struct gen_params *p, const char **stopv,
    struct gb_err *err)
{
	const cJSON *model = cJSON_GetObjectItemCaseSensitive(config, "model");
	double max_tokens;
	int rc;

	if (model != NULL && !cJSON_IsNull(model) && !cJSON_IsString(model))
		return gb_errf(err, GB_EINVAL, "component config model must be a string");
	p->model = cJSON_GetStringValue(model);
	if ((rc = config_number(config, "temperature", &p->temperature, err)) ||
	    (rc = config_number(config, "top_p", &p->top_p, err)) ||
	    (rc = config_number(config, "frequency_penalty", &p->frequency_penalty, err)) ||
	    (rc = config_number(config, "presence_penalty", &p->presence_penalty, err)) ||
	    (rc = config_number(config, "max_tokens", &max_tokens, err)))
		return rc;
	p->max_tokens = 0;
	if (!isnan(max_tokens)) {
		/* compared as a double first: 1e300 or -5 never reach the cast */
		if (!(max_tokens >= 1 && max_tokens <= (double)INT_MAX) ||
		    max_tokens != floor(max_tokens))
			return gb_errf(err, GB_EINVAL,
			    "component config max_tokens must be an integer from 1 to %d", INT_MAX);
		p->max_tokens = (int)max_tokens;
	}
	return config_stops(config, p, stopv, err);
}

/* ---- the endpoint ---------------------------------------------------------- */

static int
has_ctl_or_space(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

/* The path to POST to: "<path>/v1/chat/completions", or "<path>/chat/completions" after a "/v1". */
static char *
endpoint_path(const char *path)
{
	size_t len = strlen(path), need;
	const char *tail;
	char *out;

	while (len > 0 && path[len - 1] == '/')
		len--;
	tail = len >= 3 && memcmp(path + len - 3, "/v1", 3) == 0 ? "/chat/completions" :
	    "/v1/chat/completions";
	need = len + strlen(tail) + 1;
	if ((out = malloc(need)) == NULL)
		return NULL;
	snprintf(out, need, "%.*s%s", (int)len, path, tail);
	return out;
}

/* A copy of the URL u names, in memory the caller frees with free(); NULL when out of memory. */
static char *
url_copy(CURLU *u)
{
	char *curl_owned = NULL, *copy;

	if (curl_url_get(u, CURLUPART_URL, &curl_owned, 0))
		return NULL;
	copy = strdup(curl_owned);
	curl_free(curl_owned);
	return copy;
}

int
openai_endpoint(const char *base, char **url_out, char **shown_out, struct gb_err *err)
{
	CURLU *u = NULL;
	CURLUcode uc;
	char *scheme = NULL, *path = NULL, *newpath = NULL;
	int rc = 0;

	*url_out = *shown_out = NULL;
	if (strlen(base) > OPENAI_URL_MAX || has_ctl_or_space(base))
		return gb_errf(err, GB_EINVAL,
		    "generator url is longer than %d bytes or holds spaces", OPENAI_URL_MAX);
	if (strstr(base, "://") == NULL)
		return gb_errf(err, GB_EINVAL,
		    "generator url '%s' has no scheme: write http://%s (or https://)",
		    strchr(base, '@') ? "****" : base, strchr(base, '@') ? "..." : base);
	if ((u = curl_url()) == NULL)
		return gb_errf(err, GB_ENOMEM, "out of memory");
	if ((uc = curl_url_set(u, CURLUPART_URL, base, 0)) ||
	    (uc = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0)) ||
	    (uc = curl_url_get(u, CURLUPART_PATH, &path, 0))) {
		rc = gb_errf(err, uc == CURLUE_OUT_OF_MEMORY ? GB_ENOMEM : GB_EINVAL,
		    "generator url is not a URL: %s", curl_url_strerror(uc));
		goto out;
	}
	/* the URL called keeps user:password, which curl sends as Basic auth; messages do not */
	if ((newpath = endpoint_path(path)) == NULL ||
	    curl_url_set(u, CURLUPART_PATH, newpath, 0) ||
	    curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0) || (*url_out = url_copy(u)) == NULL ||
	    curl_url_set(u, CURLUPART_USER, NULL, 0) ||
	    curl_url_set(u, CURLUPART_PASSWORD, NULL, 0) ||
	    curl_url_set(u, CURLUPART_OPTIONS, NULL, 0) || (*shown_out = url_copy(u)) == NULL) {
		rc = gb_errf(err, GB_ENOMEM, "out of memory");
		goto out;
	}
	if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)
		rc = gb_errf(err, GB_EINVAL, "generator url '%s' is not http:// or https://",
		    *shown_out);
out:
	if (rc) {
		free(*url_out);
		free(*shown_out);
		*url_out = *shown_out = NULL;
	}
	free(newpath);
	curl_free(path);
	curl_free(scheme);
	curl_url_cleanup(u);
	return rc;
}

/* ---- the request ----------------------------------------------------------- */

static int
add_number(cJSON *o, const char *name, double v)
{
	if (!isfinite(v))
		return 0;
	return cJSON_AddNumberToObject(o, name, v) ? 0 : GB_ENOMEM;
}

static int
add_message(cJSON *msgs, const char *role, const char *content)
{
	cJSON *m = cJSON_CreateObject();

	if (m == NULL)
		return GB_ENOMEM;
	cJSON_AddItemToArray(msgs, m);
	if (cJSON_AddStringToObject(m, "role", role) == NULL ||
	    cJSON_AddStringToObject(m, "content", content) == NULL)
		return GB_ENOMEM;
	return 0;
}

static int
add_stops(cJSON *o, const struct gen_params *p)
{
	cJSON *stop, *s;

	if (p->nstop <= 0 || p->stop == NULL)
		return 0;
	if ((stop = cJSON_AddArrayToObject(o, "stop")) == NULL)
		return GB_ENOMEM;
	for (int i = 0; i < p->nstop; i++) {
		if (p->stop[i] == NULL)
			continue;
		if ((s = cJSON_CreateString(p->stop[i])) == NULL)
			return GB_ENOMEM;
		cJSON_AddItemToArray(stop, s);
	}
	return 0;
}

char *
openai_request_body(const char *system, const char *user, const struct gen_params *p)
{
	cJSON *o = cJSON_CreateObject(), *msgs;
	char *body = NULL;

	if (o == NULL)
		return NULL;
	if (cJSON_AddStringToObject(o, "model", p->model ? p->model : "") == NULL ||
	    (msgs = cJSON_AddArrayToObject(o, "messages")) == NULL ||
	    (system && *system && add_message(msgs, "system", system)) ||
	    add_message(msgs, "user", user ? user : "") ||
	    add_number(o, "temperature", p->temperature) ||
	    add_number(o, "top_p", p->top_p) ||
	    add_number(o, "frequency_penalty", p->frequency_penalty) ||
	    add_number(o, "presence_penalty", p->presence_penalty) ||
	    (p->max_tokens > 0 &&
	    cJSON_AddNumberToObject(o, "max_tokens", p->max_tokens) == NULL) ||
	    add_stops(o, p))
		goto out;
	body = cJSON_PrintUnformatted(o);
out:
	cJSON_Delete(o);
	return body;
}

/* ---- the reply ------------------------------------------------------------- */

/* error.message (OpenAI, llama.cpp, vLLM), or error or message as a plain string */
static const char *
error_detail(const cJSON *root)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
	const char *s;

	if ((s = cJSON_GetStringValue(e)) ||
	    (s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "message"))))
		return s;
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "message"));
}

static int64_t
token_count(const cJSON *usage, const char *name)
{
	int64_t v;

	json_get_int64(usage, name, 0, TOKENS_MAX, 0, &v);
	return v;
}

void
openai_reply_parse(const char *body, size_t len, const char *url, struct gen_reply *r)
{
	const cJSON *choice, *usage;
	const char *content, *detail, *finish;
	cJSON *root;

	if ((root = cJSON_ParseWithLength(body ? body : "", body ? len : 0)) == NULL) {
		gen_reply_fail(r, GB_EINVAL, "reply from %s is not JSON", url);
		return;
	}
	choice = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "choices"), 0);
	content = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(choice, "message"), "content"));
	if (content == NULL) {
		detail = error_detail(root);
		gen_reply_fail(r, GB_EINVAL, "reply from %s has no choices[0].message.content%s%s",
		    url, detail ? ": " : "", detail ? detail : "");
		goto out;
	}
	free(r->text);
	if ((r->text = strdup(content)) == NULL) {
		gen_reply_fail(r, GB_ENOMEM, "out of memory reading the reply from %s", url);
		goto out;
	}
	if ((finish = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(choice,
	    "finish_reason"))))
		snprintf(r->finish_reason, sizeof(r->finish_reason), "%s", finish);
	usage = cJSON_GetObjectItemCaseSensitive(root, "usage");
	r->prompt_tokens = token_count(usage, "prompt_tokens");
	r->completion_tokens = token_count(usage, "completion_tokens");
out:
	cJSON_Delete(root);
}

int
openai_status_code(long status)
{
	if (status == 401 || status == 403)
		return GB_EPERM;
	if (status == 429 || status >= 500)
		return GB_ETRANSIENT;
	return GB_EINVAL;
}

void
openai_reply_http_error(long status, const char *body, size_t len, const char *url,
    struct gen_reply *r)
{
	cJSON *root = body ? cJSON_ParseWithLength(body, len) : NULL;
	const char *detail = root ? error_detail(root) : NULL;

	gen_reply_fail(r, openai_status_code(status), "HTTP %ld from %s%s%s", status, url,
	    detail ? ": " : "", detail ? detail : "");
	cJSON_Delete(root);
}
