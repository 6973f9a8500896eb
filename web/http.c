/*
 * http.c - reading requests and answering them: bodies under a cap, JSON
 * with a nesting limit, query parameters, JSON answers and error bodies,
 * all with the security headers.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../base/json.h"
#include "internal.h"

static const char csp[] =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

static void
head_common(struct web_req *r, int status, const char *ctype)
{
	mg_response_header_start(r->conn, status);
	if (ctype)
		mg_response_header_add(r->conn, "Content-Type", ctype, -1);
	mg_response_header_add(r->conn, "Content-Security-Policy", csp, -1);
	mg_response_header_add(r->conn, "X-Content-Type-Options", "nosniff", -1);
	mg_response_header_add(r->conn, "X-Frame-Options", "DENY", -1);
	mg_response_header_add(r->conn, "Referrer-Policy", "no-referrer", -1);
	mg_response_header_add(r->conn, "Cache-Control", "no-store", -1);
	if (status == 405 && r->route == NULL && r->object[0])
		mg_response_header_add(r->conn, "Allow", r->object, -1);
}

void
web_send_head(struct web_req *r, int status, const char *ctype)
{
	r->status = status;
	pthread_mutex_lock(&r->web->header_mu);
	head_common(r, status, ctype);
	mg_response_header_send(r->conn);
	pthread_mutex_unlock(&r->web->header_mu);
}

/* The Date header's value for now: formatted once a second per thread. */
static const char *
http_date(void)
{
	static _Thread_local char text[40];
	static _Thread_local time_t last = -1;
	time_t now = time(NULL);
	struct tm tm;

	if (now != last && gmtime_r(&now, &tm)) {
		strftime(text, sizeof(text), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		last = now;
	}
	return text;
}

/*
 * One whole answer: the status line, the headers head_common would send,
 * and the body, written with one mg_write (one packet for a small answer,
 * and no lock held around the socket).
 */
int
web_send(struct web_req *r, int status, const char *ctype, const char *body, size_t len)
{
	int head = r->ri->request_method && strcmp(r->ri->request_method, "HEAD") == 0, rc;
	struct buf b;

	if (r->status)
		return r->status;	/* answered already: one answer per request */
	r->status = status;
	buf_init(&b, len + 4096);	/* the body and headers of a known size */
	rc = buf_printf(&b, "HTTP/1.1 %d %s\r\nDate: %s\r\n", status,
	    mg_get_response_code_text(r->conn, status), http_date());
	if (ctype && (len || status != 204))
		rc |= buf_printf(&b, "Content-Type: %s\r\n", ctype);
	rc |= buf_printf(&b,
	    "Content-Security-Policy: %s\r\nX-Content-Type-Options: nosniff\r\n"
	    "X-Frame-Options: DENY\r\nReferrer-Policy: no-referrer\r\nCache-Control: no-store\r\n",
	    csp);
	if (status == 405 && r->route == NULL && r->object[0])
		rc |= buf_printf(&b, "Allow: %s\r\n", r->object);
	if (r->retry_after > 0)
		rc |= buf_printf(&b, "Retry-After: %d\r\n", r->retry_after);
	if (status != 204)
		rc |= buf_printf(&b, "Content-Length: %zu\r\n", len);
	rc |= buf_puts(&b, "Connection: close\r\n\r\n");
	if (len && !head)
		rc |= buf_append(&b, body, len);
	/*
	 * a client that went away is not the server's error; out of memory: the
	 * connection closes
	 */
	if (rc == 0)
		(void)mg_write(r->conn, buf_str(&b), b.len);
	buf_release(&b);
	return status;
}

int
web_send_json(struct web_req *r, int status, const cJSON *j)
{
	char *text = cJSON_PrintUnformatted(j);
	int rc;

	if (text == NULL)
		return web_error(r, 500, "internal", "out of memory");
	rc = web_send(r, status, "application/json", text, strlen(text));
	free(text);
	return rc;
}

int
web_send_json_take(struct web_req *r, int status, cJSON *j)
{
	int rc;

	if (j == NULL)
		return web_error(r, 500, "internal", "out of memory");
	rc = web_send_json(r, status, j);
	cJSON_Delete(j);
	return rc;
}

int
web_error(struct web_req *r, int status, const char *code, const char *fmt, ...)
{
	char msg[512];
	cJSON *j, *e;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if ((j = cJSON_CreateObject()) == NULL ||
	    (e = cJSON_AddObjectToObject(j, "error")) == NULL ||
	    !cJSON_AddStringToObject(e, "code", code) ||
	    !cJSON_AddStringToObject(e, "message", msg)) {
		static const char oom[] =
		    "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";

		cJSON_Delete(j);
		return web_send(r, 500, "application/json", oom, sizeof(oom) - 1);
	}
	return web_send_json_take(r, status, j);
}

const char *
web_taken_msg(const char *msg, char *out, size_t size)
{
	static const char head[] = "duplicate _id '";
	const char *id = msg + sizeof(head) - 1, *end, *p;

	if (strncmp(msg, head, sizeof(head) - 1) != 0)
		return msg;
	for (end = NULL, p = id; (p = strstr(p, "' in ")) != NULL; p++)
		end = p;	/* the last one: an _id may hold "' in " itself */
	if (end == NULL)
		return msg;
	snprintf(out, size, "_id '%.*s' is already taken", (int)(end - id), id);
	return out;
}

int
web_store_error(struct web_req *r, const struct gb_err *err)
{
	char taken[sizeof(err->msg) + 32];

	switch (err->code) {
	case GB_ENOTFOUND:
		return web_error(r, 404, "not_found", "%s", err->msg);
	case GB_EEXIST:
		return web_error(r, 409, "conflict", "%s",
		    web_taken_msg(err->msg, taken, sizeof(taken)));
	case GB_ESTATE:
		return web_error(r, 409, "conflict", "%s", err->msg);
	case GB_EINVAL:
		return web_error(r, 400, "bad_request", "%s", err->msg);
	case GB_ETOOBIG:
		return web_error(r, 413, "payload_too_large", "%s", err->msg);
	case GB_EPERM:
		return web_error(r, 403, "forbidden", "%s", err->msg);
	case GB_EBUSY:
	case GB_EIO:
	case GB_EVERSION:
		return web_error(r, 503, "unavailable", "database unavailable: %s", err->msg);
	default:
		return web_error(r, 500, "internal", "%s",
		    err->msg[0] ? err->msg : "internal error");
	}
}

/* ---- reading ---- */

static int
is_json_type(const char *ct)
{
	size_t n = strlen("application/json");

	if (ct == NULL || strncasecmp(ct, "application/json", n) != 0)
		return 0;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

int
web_read_body(struct web_req *r, struct buf *b, int json)
{
	int64_t max = r->web->cfg.max_body;
	long long clen = r->ri->content_length;
	char chunk[8192];
	int n;

	buf_init(b, (size_t)max);
	if (clen > max)
		return web_error(r, 413, "payload_too_large",
		    "request body of %lld bytes exceeds the limit of "
		    "%lld bytes", clen, (long long)max);
	if (json && !is_json_type(mg_get_header(r->conn, "Content-Type")))
		return web_error(r, 415, "unsupported_media_type",
		    "the body must be application/json");
	while ((n = mg_read(r->conn, chunk, sizeof(chunk))) > 0) {
		int rc = buf_append(b, chunk, (size_t)n);

		if (rc == GB_ETOOBIG)
			return web_error(r, 413, "payload_too_large",
			    "request body exceeds the limit of %lld bytes", (long long)max);
		if (rc)
			return web_error(r, 500, "internal", "out of memory");
	}
	if (n < 0)
		return web_error(r, 400, "bad_request", "the request body could not be read");
	return 0;
}

/*
 * The deepest nesting of arrays and objects in text, strings skipped; *nul
 * set when a string holds the escape of a NUL character, which cJSON would
 * cut the string at while SQLite keeps it: one key or value read two ways.
 */
static int
json_depth(const char *s, size_t len, int *nul)
{
	int depth = 0, max = 0, in_str = 0;

	*nul = 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (in_str) {
			if (c == '\\') {
				*nul |= i + 5 < len && s[i + 1] == 'u' &&
				    memcmp(s + i + 2, "0000", 4) == 0;
				i++;
			} else if (c == '"') {
				in_str = 0;
			}
		} else if (c == '"') {
			in_str = 1;
		} else if (c == '[' || c == '{') {
			if (++depth > max)
				max = depth;
		} else if (c == ']' || c == '}') {
			depth--;
		}
	}
	return max;
}

int
web_read_json(struct web_req *r, cJSON **out)
{
	struct buf b;
	int rc = web_read_json_text(r, out, &b);

	buf_release(&b);
	return rc;
}

/* Checks of a parsed body beyond its syntax: 0, or the 400 answered. */
static int
json_body_check(struct web_req *r, const cJSON *j)
{
	const char *key = NULL;
	int rc;

	if (!cJSON_IsObject(j))
		return web_error(r, 400, "invalid_json", "the body must be a JSON object");
	/* a key given twice is read as the first by some and the last by others: refused */
	if ((rc = json_dup_key(j, &key)) == GB_ENOMEM)
		return web_error(r, 500, "internal", "out of memory");
	if (rc)
		return web_error(r, 400, "invalid_json",
		    "the key '%.64s' appears twice in one object", key);
	return 0;
}

int
web_read_json_text(struct web_req *r, cJSON **out, struct buf *body)
{
	const char *end = NULL, *text;
	struct buf b;
	cJSON *j = NULL;
	int rc, nul = 0;

	*out = NULL;
	if ((rc = web_read_body(r, &b, 1)))
		goto out;
	text = buf_str(&b);
	if (memchr(text, '\0', b.len))
		rc = web_error(r, 400, "invalid_json", "the body holds a NUL byte");
	else if (json_depth(text, b.len, &nul) > WEB_JSON_DEPTH)
		rc = web_error(r, 400, "invalid_json", "the body nests deeper than %d levels",
		    WEB_JSON_DEPTH);
	else if (nul)
		rc = web_error(r, 400, "invalid_json", "the body holds a NUL character (\\u0000)");
	else if ((j = cJSON_ParseWithLengthOpts(text, b.len, &end, 0)) == NULL)
		rc = web_error(r, 400, "invalid_json", "the body is not JSON (at byte %zu)",
		    end ? (size_t)(end - text) : (size_t)0);
	if (rc)
		goto out;
	while (end < text + b.len && isspace((unsigned char)*end))
		end++;
	if (end != text + b.len)
		rc = web_error(r, 400, "invalid_json",
		    "unexpected text after the JSON value (at byte %zu)", (size_t)(end - text));
	else
		rc = json_body_check(r, j);
out:
	if (rc)
		cJSON_Delete(j);
	else
		*out = j;
	*body = b;	/* the caller releases it */
	return rc;
}

int
web_query(struct web_req *r, const char *name, char *out, size_t size)
{
	const char *q = r->ri->query_string;
	int n;

	out[0] = '\0';
	if (q == NULL)
		return 0;
	n = mg_get_var2(q, strlen(q), name, out, size, 0);
	if (n == -1)
		return 0;
	if (n < 0) {
		web_error(r, 400, "bad_request", "query parameter '%s' is too long", name);
		return -400;
	}
	if (strlen(out) != (size_t)n) {	/* %00: the value would be cut there */
		web_error(r, 400, "bad_request", "query parameter '%s' holds a NUL byte", name);
		return -400;
	}
	return 1;
}

int
web_query_int(struct web_req *r, const char *name, int64_t min, int64_t max, int64_t dflt,
    int64_t *out)
{
	char v[32], *end;
	long long x;
	int rc;

	*out = dflt;
	if ((rc = web_query(r, name, v, sizeof(v))) <= 0)
		return rc < 0 ? 400 : 0;	/* answered, or absent */
	errno = 0;
	x = strtoll(v, &end, 10);
	if (v[0] == '\0' || errno || *end != '\0' || x < min || x > max)
		return web_error(r, 400, "bad_request",
		    "query parameter '%s' must be an integer from %lld to %lld", name,
		    (long long)min, (long long)max);
	*out = x;
	return 0;
}
