/*
 * t305-web-limits - what one client may hold of the server. Event streams:
 * at most max_streams at once and max_streams_per_key per key (503
 * unavailable with Retry-After past that, while other requests are served),
 * counted in /metrics, ended after stream_max_ms; HEAD /events answers the
 * headers and returns. Slow clients with the default threads: half of them
 * sending a header a byte at a time and half announcing a huge body and
 * trickling it; a normal request is answered within 2 s meanwhile, the
 * trickling ones get their 413 and are closed at once, the slow headers are
 * cut off by request_timeout_ms, and the server answers normally after.
 */
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "webtest.h"

static struct wt t;
static char key_a[APIKEY_TOKEN_MAX], key_b[APIKEY_TOKEN_MAX], key_w[APIKEY_TOKEN_MAX];

/* wt_start with the stream settings and default request timeout (0: the default). */
static void
start(int threads, int max_streams, int stream_max_ms)
{
	struct gb_err err = { 0, "" };
	struct web_config wc;

	box_open(&t.box, 1);
	t.m = metrics_new();
	web_config_defaults(&wc);
	wc.db_path = t.box.path;
	wc.listen = "127.0.0.1:0";
	if (threads)
		wc.threads = threads;
	wc.max_streams = max_streams;
	if (stream_max_ms)
		wc.stream_max_ms = stream_max_ms;
	wc.metrics = t.m;
	if (web_start(&t.web, &wc, &err))
		tap_bail("web_start: %s", err.msg);
	t.port = web_port(t.web);
	wt_key(&t, "user_456", 0, key_a);
	wt_key(&t, "user_456", 0, key_b);
	wt_key(&t, "user_456", 1, key_w);
}

/* A stream opened with token: its socket after the first event, or -1 (the answer in acc). */
static int
stream_open(const char *token, char *acc, size_t cap)
{
	char req[256];
	int fd = http_connect(t.port);

	acc[0] = '\0';
	snprintf(req, sizeof(req), "GET /api/v1/events HTTP/1.1\r\nHost: x\r\n"
	    "Authorization: Bearer %s\r\n\r\n", token);
	(void)!send(fd, req, strlen(req), MSG_NOSIGNAL);
	if (http_read_until(fd, acc, cap, "\"seq\":1}", 5000, NULL))
		return fd;
	http_read_until(fd, acc, cap, "}}", 2000, NULL);
	close(fd);
	return -1;
}

/* The time a GET of /healthz takes (ms), or -1 when it is not 200. */
static int64_t
healthz_ms(void)
{
	struct http_resp r;
	int64_t t0 = gb_mono_ms(), ms;

	http_json(&r, "GET", wt_url(&t, "/healthz"), NULL, NULL);
	ms = r.status == 200 ? gb_mono_ms() - t0 : -1;
	http_resp_free(&r);
	return ms;
}

/* The value of the open-streams gauge in /metrics, or -1. */
static int
streams_gauge(void)
{
	struct http_resp r;
	const char *p;
	int v = -1;

	http_json(&r, "GET", wt_url(&t, "/metrics"), NULL, NULL);
	if (r.body && (p = strstr(r.body, "\ngenbox_http_event_streams ")) != NULL)
		v = atoi(p + strlen("\ngenbox_http_event_streams "));
	http_resp_free(&r);
	return v;
}

static void
test_stream_caps(void)
{
	char acc[8192];
	int a1, a2, b1, fd;
	int64_t ms;

	start(8, 3, 3000);
	a1 = stream_open(key_a, acc, sizeof(acc));
	a2 = stream_open(key_a, acc, sizeof(acc));
	ok(a1 >= 0 && a2 >= 0, "a key opens two streams");
	fd = stream_open(key_a, acc, sizeof(acc));
	ok(fd < 0, "its third is refused");
	like(acc, "HTTP/1.1 503 ", "with 503");
	like(acc, "\r\nRetry-After: 5\r\n", "and Retry-After");
	like(acc, "{\"error\":{\"code\":\"unavailable\",\"message\":\"this key holds as many event "
	    "streams",
	    "saying the key holds all it may");
	b1 = stream_open(key_b, acc, sizeof(acc));
	ok(b1 >= 0, "another key still opens one");
	fd = stream_open(key_b, acc, sizeof(acc));
	ok(fd < 0, "past max_streams the server refuses any key");
	like(acc, "\"message\":\"the server holds as many event streams as it may",
	    "saying the server holds all it may");
	ms = healthz_ms();
	ok(ms >= 0 && ms < 1000, "other requests are served meanwhile (%lld ms)", (long long)ms);
	is_int(streams_gauge(), 3, "/metrics counts the open streams");
	{
		int eof = 0;
		int64_t t0 = gb_mono_ms();

		http_read_until(a1, acc, sizeof(acc), NULL, 6000, &eof);
		ok(eof, "a stream ends after stream_max_ms (%lld ms)", (long long)(gb_mono_ms() - t0));
	}
	close(a1);
	close(a2);
	close(b1);
	{	/* the other two end at their own stream_max_ms, a moment later */
		int64_t t0 = gb_mono_ms();
		int n;

		while ((n = streams_gauge()) != 0 && gb_mono_ms() - t0 < 3000)
			usleep(20 * 1000);
		is_int(n, 0, "and is counted no more (after %lld ms)",
		    (long long)(gb_mono_ms() - t0));
	}
	fd = stream_open(key_a, acc, sizeof(acc));
	ok(fd >= 0, "then the key opens a stream again");
	close(fd);
}

static void
test_head(void)
{
	char req[256], acc[8192] = "";
	int fd = http_connect(t.port), eof = 0, open_before = streams_gauge();
	int64_t t0 = gb_mono_ms();

	snprintf(req, sizeof(req), "HEAD /api/v1/events HTTP/1.1\r\nHost: x\r\n"
	    "Authorization: Bearer %s\r\n\r\n", key_a);
	(void)!send(fd, req, strlen(req), MSG_NOSIGNAL);
	http_read_until(fd, acc, sizeof(acc), NULL, 3000, &eof);
	like(acc, "HTTP/1.1 200 ", "HEAD /events: 200");
	like(acc, "Content-Type: text/event-stream", "with the stream's type");
	ok(strstr(acc, "event:") == NULL, "and no event");
	ok(eof && gb_mono_ms() - t0 < 1500, "the connection ends at once (%lld ms)",
	    (long long)(gb_mono_ms() - t0));
	close(fd);
	is_int(streams_gauge(), open_before, "a HEAD is no open stream");
}

#define SLOW_MAX 128

/*
 * n clients send a header a byte each 250 ms and n announce a body of 1 GB
 * and send a byte of it each 250 ms, for 2 * request_timeout_ms; of these,
 * half have no key (401) and half a key that may write (413).
 */
static void
test_slow_clients(void)
{
	static const char hdr[] = "GET /healthz HTTP/1.1\r\nHost: slow\r\nX-Pad: "
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
	char big[512];
	int n = WEB_DEFAULT_THREADS / 2, fds[2 * SLOW_MAX], closed_at[2 * SLOW_MAX], json[2 * SLOW_MAX];
	char got[2 * SLOW_MAX][512];
	int64_t t0 = gb_mono_ms(), served = -1, late = 0;
	size_t step = 0;

	for (int i = 0; i < 2 * n; i++) {
		fds[i] = http_connect(t.port);
		closed_at[i] = -1;
		json[i] = 0;
		got[i][0] = '\0';
		if (i < n)
			continue;
		snprintf(big, sizeof(big), "POST /api/v1/contexts HTTP/1.1\r\nHost: slow\r\n%s%s%s"
		    "Content-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n{",
		    i % 2 ? "Authorization: Bearer " : "", i % 2 ? key_w : "", i % 2 ? "\r\n" : "");
		(void)!send(fds[i], big, strlen(big), MSG_NOSIGNAL);
	}
	while (gb_mono_ms() - t0 < 2 * WEB_DEFAULT_REQUEST_TIMEOUT_MS) {
		for (int i = 0; i < 2 * n; i++) {
			struct pollfd p = { fds[i], POLLIN, 0 };
			size_t len = strlen(got[i]);
			ssize_t k;

			if (closed_at[i] >= 0)
				continue;
			(void)!send(fds[i], i < n ? hdr + (step % (sizeof(hdr) - 5)) : "a", 1, MSG_NOSIGNAL);
			if (poll(&p, 1, 0) <= 0)
				continue;
			k = recv(fds[i], got[i] + len, sizeof(got[i]) - 1 - len, MSG_DONTWAIT);
			if (k > 0) {
				got[i][len + (size_t)k] = '\0';
				json[i] |= strstr(got[i], "{\"error\":{\"code\":") != NULL;
			} else {
				closed_at[i] = (int)(gb_mono_ms() - t0);
			}
		}
		if (step++ == 4)
			served = healthz_ms();
		usleep(250 * 1000);
	}
	ok(served >= 0 && served < 2000, "a normal request is served within 2 s while %d clients "
	    "send headers slowly and %d trickle a huge body (%lld ms)", n, n, (long long)served);
	for (int i = n; i < 2 * n; i++) {
		if (closed_at[i] < 0 || closed_at[i] > 1500 || !strstr(got[i], i % 2 ? " 413 " : " 401 ") ||
		    !json[i])
			late++;
	}
	is_int((int)late, 0, "every trickling client got its answer (401 without a key, 413 with) "
	    "and was closed within 1.5 s");
	like(got[n + 1 - n % 2], "\"code\":\"payload_too_large\"", "in the API's error shape");
	late = 0;
	for (int i = 0; i < n; i++)
		if (closed_at[i] < 0 || closed_at[i] > WEB_DEFAULT_REQUEST_TIMEOUT_MS + 2000)
			late++;
	is_int((int)late, 0, "every slow header was cut off after request_timeout_ms (%d ms)",
	    WEB_DEFAULT_REQUEST_TIMEOUT_MS);
	for (int i = 0; i < 2 * n; i++)
		close(fds[i]);
	ok(healthz_ms() >= 0, "the server answers normally afterwards");
}

int
main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	test_stream_caps();
	test_head();
	wt_stop(&t);
	start(0, 0, 0);
	test_slow_clients();
	wt_stop(&t);
	curl_global_cleanup();
	return tap_done();
}
