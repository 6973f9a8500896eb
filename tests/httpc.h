/*
 * httpc.h - a small HTTP client for the web tests: one request with libcurl
 * (status, headers, body), and raw requests over a plain socket for what
 * curl will not send (a header a byte at a time, chunked bodies by hand).
 */
#ifndef GB_TEST_HTTPC_H
#define GB_TEST_HTTPC_H

#include <stddef.h>

struct http_resp {
	long status;		/* 0: no answer */
	char *body;		/* NUL-terminated; free with http_resp_free */
	size_t len;
	char *headers;		/* the raw header block */
};

/*
 * method url with Authorization: Bearer token (NULL: none), Content-Type
 * ctype (NULL: none) and body of len bytes (NULL: none). Waits 10 s at most.
 */
int http_req(struct http_resp *r, const char *method, const char *url, const char *token, const char *ctype,
    const char *body, size_t len);
/* http_req with a JSON body (Content-Type application/json), or none when json is NULL. */
int http_json(struct http_resp *r, const char *method, const char *url, const char *token, const char *json);
void http_resp_free(struct http_resp *r);
/* The value of header name (case-insensitive) in r, or NULL; one static buffer. */
const char *http_header(const struct http_resp *r, const char *name);

/*
 * The value of the sample named exactly name ("name{labels}") in Prometheus
 * text (NULL allowed), or -1 when it has none.
 */
double http_metric_value(const char *text, const char *name);

/* A connected TCP socket to 127.0.0.1:port, or -1. */
int http_connect(int port);
/* Send raw bytes on a new connection and read the answer (up to 64 KiB, timeout_ms); malloc'd, or NULL. */
char *http_raw(int port, const char *req, size_t len, int timeout_ms);
/*
 * Read from fd, appending to the NUL-terminated acc (cap bytes), until want
 * is in it or ms pass; 1 when it is. *eof (may be NULL): the server closed.
 */
int http_read_until(int fd, char *acc, size_t cap, const char *want, int ms, int *eof);

#endif
