/* httpc.c - see httpc.h. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "httpc.h"

struct sink {
	char *p;
	size_t len;
};

static size_t
sink_write(char *data, size_t size, size_t n, void *arg)
{
	struct sink *s = arg;
	char *grown = realloc(s->p, s->len + size * n + 1);

	if (grown == NULL)
		return 0;
	memcpy(grown + s->len, data, size * n);
	s->len += size * n;
	grown[s->len] = '\0';
	s->p = grown;
	return size * n;
}

int
http_req(struct http_resp *r, const char *method, const char *url, const char *token, const char *ctype,
    const char *body, size_t len)
{
	struct sink b = { NULL, 0 }, h = { NULL, 0 };
	struct curl_slist *hdrs = NULL;
	char line[256];
	CURL *c = curl_easy_init();
	CURLcode rc;

	memset(r, 0, sizeof(*r));
	if (c == NULL)
		return -1;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, sink_write);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	if (token) {
		snprintf(line, sizeof(line), "Authorization: Bearer %s", token);
		hdrs = curl_slist_append(hdrs, line);
	}
	if (ctype) {
		snprintf(line, sizeof(line), "Content-Type: %s", ctype);
		hdrs = curl_slist_append(hdrs, line);
	} else {
		hdrs = curl_slist_append(hdrs, "Content-Type:");
	}
	hdrs = curl_slist_append(hdrs, "Expect:");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	r->body = b.p ? b.p : strdup("");
	r->len = b.len;
	r->headers = h.p ? h.p : strdup("");
	return rc == CURLE_OK ? 0 : -1;
}

int
http_json(struct http_resp *r, const char *method, const char *url, const char *token, const char *json)
{
	return http_req(r, method, url, token, json ? "application/json" : NULL, json, json ? strlen(json) : 0);
}

void
http_resp_free(struct http_resp *r)
{
	free(r->body);
	free(r->headers);
	memset(r, 0, sizeof(*r));
}

const char *
http_header(const struct http_resp *r, const char *name)
{
	static char val[1024];
	size_t n = strlen(name);

	for (const char *p = r->headers; p && *p; ) {
		const char *eol = strstr(p, "\r\n");
		size_t ll = eol ? (size_t)(eol - p) : strlen(p);

		if (ll > n && strncasecmp(p, name, n) == 0 && p[n] == ':') {
			const char *v = p + n + 1;

			while (*v == ' ')
				v++;
			snprintf(val, sizeof(val), "%.*s", (int)(ll - (size_t)(v - p)), v);
			return val;
		}
		p = eol ? eol + 2 : p + ll;
	}
	return NULL;
}

int
http_connect(int port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((unsigned short)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
		return fd;
	if (fd >= 0)
		close(fd);
	return -1;
}

char *
http_raw(int port, const char *req, size_t len, int timeout_ms)
{
	size_t cap = 65536, got = 0;
	char *out = malloc(cap + 1);
	int fd = http_connect(port);

	if (fd < 0 || out == NULL) {
		free(out);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	(void)!send(fd, req, len, MSG_NOSIGNAL);
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t n;

		if (poll(&p, 1, timeout_ms) <= 0)
			break;
		if ((n = recv(fd, out + got, cap - got, 0)) <= 0)
			break;
		got += (size_t)n;
		if (got == cap)
			break;
	}
	close(fd);
	out[got] = '\0';
	return out;
}

static long long
http_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
http_read_until(int fd, char *acc, size_t cap, const char *want, int ms, int *eof)
{
	size_t len = strlen(acc);

	if (eof)
		*eof = 0;
	for (long long t0 = http_mono_ms(); !(want && strstr(acc, want)) && http_mono_ms() - t0 < ms; ) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t n;

		if (poll(&p, 1, 50) <= 0)
			continue;
		if ((n = recv(fd, acc + len, cap - 1 - len, 0)) <= 0) {
			if (eof)
				*eof = 1;
			break;
		}
		len += (size_t)n;
		acc[len] = '\0';
	}
	return want && strstr(acc, want) != NULL;
}

double
http_metric_value(const char *text, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, name, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	return -1;
}
