/*
 * generator.c - the ai_generator component's text provider: an
 * OpenAI-compatible POST .../v1/chat/completions over libcurl's multi
 * interface, or the offline-draft provider when no URL is configured. The
 * wire format (URL, request body, reply, error classes) is openai.c's.
 *
 * One thread per generator owns the CURLM and every easy handle in it.
 * generator_submit copies its inputs into a gen_call (the request body is
 * built there, on the caller's thread), appends it to a FIFO under g->mu and
 * wakes the thread with curl_multi_wakeup. The thread moves calls from the
 * FIFO into the multi handle while fewer than max_concurrent are in flight,
 * drives them with curl_multi_perform and curl_multi_poll, turns each
 * finished transfer into a gen_reply and runs the callback with no lock
 * held. Offline, the same thread writes each reply with offline_draft, so a
 * callback always runs on the generator's thread.
 *
 * generator_close sets g->closing and wakes the thread, which fails the
 * calls in flight and then the queued ones with GB_ESTATE and returns; a
 * submit that sees g->closing fails at once.
 */
#include <assert.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "../base/buf.h"
#include "../base/err.h"
#include "../base/log.h"
#include "draft.h"
#include "generator.h"
#include "openai.h"

#define GEN_MAX_KEY		4096
#define GEN_MAX_REPLY		(8 * 1024 * 1024)	/* bytes of one reply body */
#define GEN_MAX_QUEUED		65536			/* calls waiting for a slot */
#define GEN_POLL_MS		1000

struct gen_call {
	struct gen_call *next;		/* in g->head's FIFO, then in g->flight */
	gen_done_fn done;
	void *arg;
	char *body;			/* request JSON (endpoint) */
	char *system, *user;		/* the prompts (offline-draft) */
	int words_min, words_max;
	CURL *easy;			/* while in flight */
	struct buf resp;		/* reply body, capped at GEN_MAX_REPLY */
	int resp_rc;			/* why the body callback stopped the transfer */
	struct gen_reply reply;		/* filled in as the call goes; code set early: fail
					 * at once */
};

/* Lock order: g->mu is the only lock and is never held while calling out. */
struct generator {
	char *url;			/* the URL called (openai_endpoint) */
	char *shown;			/* the same without credentials, for messages */
	int offline;
	int timeout_ms, connect_timeout_ms, max_concurrent;
	struct curl_slist *headers;	/* shared, read-only once built */
	CURLM *multi;
	pthread_t thread;

	pthread_mutex_t mu;
	struct gen_call *head, *tail;	/* FIFO of waiting calls, guarded by mu */
	int nqueued;			/* guarded by mu */
	int closing;			/* guarded by mu */

	struct gen_call *flight;	/* the thread's: calls in the multi handle */
	int nflight;			/* the thread's */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void
curl_init_once(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void
call_free(struct gen_call *c)
{
	if (c == NULL)
		return;
	if (c->easy)
		curl_easy_cleanup(c->easy);
	free(c->body);
	free(c->system);
	free(c->user);
	buf_release(&c->resp);
	gen_reply_release(&c->reply);
	free(c);
}

/* Hand the reply to the callback; c is gone afterwards. */
static void
call_deliver(struct gen_call *c)
{
	struct gen_reply r = c->reply;
	gen_done_fn done = c->done;
	void *arg = c->arg;

	c->reply.text = NULL;
	call_free(c);
	done(arg, &r);
}

static void
offline_reply(struct gen_call *c)
{
	struct gen_reply *r = &c->reply;

	if (r->code != 0)
		return;
	r->text = offline_draft(c->system ? c->system : "", c->user ? c->user : "", c->words_min,
	    c->words_max);
	if (r->text == NULL) {
		gen_reply_fail(r, GB_ENOMEM, "out of memory writing the offline draft");
		return;
	}
	snprintf(r->finish_reason, sizeof(r->finish_reason), "stop");
	/* a draft is no model's work: no tokens billed */
	r->prompt_tokens = r->completion_tokens = 0;
}

/* ---- the reply ------------------------------------------------------------ */

static size_t
on_body(char *data, size_t size, size_t n, void *arg)
{
	struct gen_call *c = arg;
	int rc;

	if ((rc = buf_append(&c->resp, data, size * n))) {
		c->resp_rc = rc;
		return 0;	/* CURLE_WRITE_ERROR */
	}
	return size * n;
}

/*
 * Retry-After in ms, as curl read it (delay-seconds, or an HTTP date turned
 * into seconds from now); -1 when absent, 0 or past: no wait asked for.
 */
static int64_t
retry_after(CURL *e)
{
	curl_off_t secs = 0;

	if (curl_easy_getinfo(e, CURLINFO_RETRY_AFTER, &secs) != CURLE_OK || secs <= 0)
		return -1;
	return secs > INT64_MAX / 1000 ? INT64_MAX : (int64_t)secs * 1000;
}

/* Classify a finished transfer into c->reply. */
static void
call_finish(struct generator *g, struct gen_call *c, CURLcode res)
{
	struct gen_reply *r = &c->reply;
	curl_off_t connected = 0;
	long status = 0;

	curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
	r->http_status = (int)status;
	if (status == 429 || status == 503)
		r->retry_after_ms = retry_after(c->easy);
	switch (res) {
	case CURLE_OK:
		if (status >= 200 && status < 300)
			openai_reply_parse(buf_str(&c->resp), c->resp.len, g->shown, r);
		else
			openai_reply_http_error(status, buf_str(&c->resp), c->resp.len, g->shown,
			    r);
		break;
	case CURLE_WRITE_ERROR:
		if (c->resp_rc == GB_ETOOBIG)
			gen_reply_fail(r, GB_EINVAL, "reply larger than %d bytes from %s",
			    GEN_MAX_REPLY, g->shown);
		else
			gen_reply_fail(r, GB_ENOMEM, "out of memory reading the reply from %s",
			    g->shown);
		break;
	case CURLE_OPERATION_TIMEDOUT:
		curl_easy_getinfo(c->easy, CURLINFO_CONNECT_TIME_T, &connected);
		if (connected == 0)
			gen_reply_fail(r, GB_ETRANSIENT,
			    "cannot connect to %s: timeout after %d ms", g->shown,
			    g->connect_timeout_ms);
		else
			gen_reply_fail(r, GB_ETRANSIENT, "no reply from %s: timeout after %d ms",
			    g->shown, g->timeout_ms);
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
		gen_reply_fail(r, GB_ETRANSIENT, "cannot connect to %s: %s", g->shown,
		    curl_easy_strerror(res));
		break;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		gen_reply_fail(r, GB_EINVAL, "cannot call %s: %s", g->shown,
		    curl_easy_strerror(res));
		break;
	case CURLE_OUT_OF_MEMORY:
		gen_reply_fail(r, GB_ENOMEM, "out of memory calling %s", g->shown);
		break;
	default:
		gen_reply_fail(r, GB_ETRANSIENT, "call to %s failed: %s", g->shown,
		    curl_easy_strerror(res));
		break;
	}
}

/* ---- the thread ----------------------------------------------------------- */

static void
flight_remove(struct generator *g, struct gen_call *c)
{
	for (struct gen_call **pp = &g->flight; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			c->next = NULL;
			g->nflight--;
			return;
		}
}

/* Start one call: offline and failed ones are answered here, the rest go into the multi handle. */
static void
call_start(struct generator *g, struct gen_call *c)
{
	CURL *e;

	if (g->offline || c->reply.code != 0) {
		if (g->offline)
			offline_reply(c);
		call_deliver(c);
		return;
	}
	if ((e = c->easy = curl_easy_init()) == NULL) {
		gen_reply_fail(&c->reply, GB_ENOMEM, "out of memory calling %s", g->shown);
		call_deliver(c);
		return;
	}
	if (curl_easy_setopt(e, CURLOPT_URL, g->url) ||
	    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") ||
	    curl_easy_setopt(e, CURLOPT_HTTPHEADER, g->headers) ||
	    curl_easy_setopt(e, CURLOPT_USERAGENT, "genbox/" GENBOX_VERSION) ||
	    curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->body) ||
	    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(c->body)) ||
	    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) ||
	    curl_easy_setopt(e, CURLOPT_WRITEDATA, c) ||
	    curl_easy_setopt(e, CURLOPT_PRIVATE, c) ||
	    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)g->timeout_ms) ||
	    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)g->connect_timeout_ms) ||
	    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) ||
	    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) ||
	    curl_multi_add_handle(g->multi, e)) {
		gen_reply_fail(&c->reply, GB_ENOMEM, "cannot set up the call to %s", g->shown);
		call_deliver(c);
		return;
	}
	c->next = g->flight;
	g->flight = c;
	g->nflight++;
}

/* Deliver every finished transfer; returns how many. */
static int
collect(struct generator *g)
{
	struct gen_call *c;
	CURLMsg *m;
	CURLcode res;
	CURL *e;
	char *priv;
	int left, n = 0;

	while ((m = curl_multi_info_read(g->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		e = m->easy_handle;
		res = m->data.result;
		priv = NULL;
		curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
		c = (struct gen_call *)(void *)priv;
		curl_multi_remove_handle(g->multi, e);	/* m is invalid from here */
		call_finish(g, c, res);
		flight_remove(g, c);
		call_deliver(c);
		n++;
	}
	return n;
}

/* Close: fail what is in flight, then what is queued. */
static void
fail_all(struct generator *g)
{
	struct gen_call *c, *queue;

	while ((c = g->flight)) {
		flight_remove(g, c);
		curl_multi_remove_handle(g->multi, c->easy);
		gen_reply_fail(&c->reply, GB_ESTATE, "generator closed");
		call_deliver(c);
	}
	pthread_mutex_lock(&g->mu);
	queue = g->head;
	g->head = g->tail = NULL;
	g->nqueued = 0;
	pthread_mutex_unlock(&g->mu);
	while ((c = queue)) {
		queue = c->next;
		gen_reply_fail(&c->reply, GB_ESTATE, "generator closed");
		call_deliver(c);
	}
}

static void *
gen_thread(void *arg)
{
	struct generator *g = arg;
	struct gen_call *batch, **tailp, *c;
	int closing, room, running, busy;
	CURLMcode mrc;

	for (;;) {
		batch = NULL;
		tailp = &batch;
		pthread_mutex_lock(&g->mu);
		closing = g->closing;
		room = g->max_concurrent - g->nflight;
		while (!closing && room > 0 && (c = g->head)) {
			if ((g->head = c->next) == NULL)
				g->tail = NULL;
			g->nqueued--;
			c->next = NULL;
			*tailp = c;
			tailp = &c->next;
			room--;
		}
		pthread_mutex_unlock(&g->mu);
		if (closing)
			break;
		busy = batch != NULL;
		while ((c = batch)) {
			batch = c->next;
			c->next = NULL;
			call_start(g, c);
		}
		if (g->nflight > 0) {
			curl_multi_perform(g->multi, &running);
			busy |= collect(g) > 0;
		}
		if (busy)
			continue;	/* slots may have opened, callbacks may have submitted */
		if ((mrc = curl_multi_poll(g->multi, NULL, 0, GEN_POLL_MS, NULL)) != CURLM_OK) {
			struct timespec pause = { 0, 100 * 1000000L };	/* no busy loop */

			log_warnx("curl_multi_poll: %s", curl_multi_strerror(mrc));
			nanosleep(&pause, NULL);
		}
	}
	fail_all(g);
	return NULL;
}

/* ---- the interface -------------------------------------------------------- */

static int
has_ctl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

static int
headers_build(struct generator *g, const char *key, struct gb_err *err)
{
	static const char *const fixed[] = {
		"Content-Type: application/json", "Accept: application/json", "Expect:",
	};
	struct curl_slist *l;
	struct buf b;
	int rc = 0;

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		if ((l = curl_slist_append(g->headers, fixed[i])) == NULL)
			return gb_errf(err, GB_ENOMEM, "out of memory");
		g->headers = l;
	}
	if (key == NULL || *key == '\0')
		return 0;
	if (strlen(key) > GEN_MAX_KEY || has_ctl(key))
		return gb_errf(err, GB_EINVAL,
		    "generator key is longer than %d bytes or holds control characters",
		    GEN_MAX_KEY);
	buf_init(&b, GEN_MAX_KEY + 64);
	if ((rc = buf_printf(&b, "Authorization: Bearer %s", key)) == 0) {
		if ((l = curl_slist_append(g->headers, buf_str(&b))) == NULL)
			rc = gb_errf(err, GB_ENOMEM, "out of memory");
		else
			g->headers = l;
	} else {
		gb_errf(err, rc, "cannot build the authorization header");
	}
	buf_release(&b);
	return rc;
}

static void
generator_free(struct generator *g)
{
	if (g->multi)
		curl_multi_cleanup(g->multi);
	curl_slist_free_all(g->headers);
	free(g->url);
	free(g->shown);
	free(g);
}

int
generator_check(const struct gen_config *cfg, struct gb_err *err)
{
	struct generator g;
	int rc;

	if (cfg->url == NULL || cfg->url[0] == '\0')
		return 0;
	memset(&g, 0, sizeof(g));
	if ((rc = openai_endpoint(cfg->url, &g.url, &g.shown, err)) == 0)
		rc = headers_build(&g, cfg->key, err);
	free(g.url);
	free(g.shown);
	curl_slist_free_all(g.headers);
	return rc;
}

int
generator_open(struct generator **out, const struct gen_config *cfg, struct gb_err *err)
{
	struct generator *g;
	int rc;

	*out = NULL;
	pthread_once(&curl_once, curl_init_once);
	if (curl_init_rc != CURLE_OK)
		return gb_errf(err, GB_EIO, "cannot initialise libcurl: %s",
		    curl_easy_strerror(curl_init_rc));
	if ((g = calloc(1, sizeof(*g))) == NULL)
		return gb_errf(err, GB_ENOMEM, "out of memory");
	g->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : GEN_DEFAULT_TIMEOUT_MS;
	g->connect_timeout_ms =
	    cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : GEN_DEFAULT_CONNECT_MS;
	g->max_concurrent = cfg->max_concurrent > 0 ? cfg->max_concurrent : GEN_DEFAULT_CONCURRENT;
	g->offline = cfg->url == NULL || cfg->url[0] == '\0';
	if (!g->offline &&
	    ((rc = openai_endpoint(cfg->url, &g->url, &g->shown, err)) ||
	    (rc = headers_build(g, cfg->key, err))))
		goto fail;
	if ((g->multi = curl_multi_init()) == NULL) {
		rc = gb_errf(err, GB_ENOMEM, "cannot create a curl multi handle");
		goto fail;
	}
	if ((rc = pthread_mutex_init(&g->mu, NULL))) {
		rc = gb_errf(err, GB_ENOMEM, "cannot create the generator's mutex: %s",
		    strerror(rc));
		goto fail;
	}
	if ((rc = pthread_create(&g->thread, NULL, gen_thread, g))) {
		pthread_mutex_destroy(&g->mu);
		rc = gb_errf(err, GB_ENOMEM, "cannot start the generator's thread: %s",
		    strerror(rc));
		goto fail;
	}
	*out = g;
	return 0;
fail:
	generator_free(g);
	return rc;
}

void
generator_close(struct generator *g)
{
	int rc;

	if (g == NULL)
		return;
	assert(!pthread_equal(pthread_self(), g->thread));	/* not from a callback */
	pthread_mutex_lock(&g->mu);
	g->closing = 1;
	curl_multi_wakeup(g->multi);
	pthread_mutex_unlock(&g->mu);
	if ((rc = pthread_join(g->thread, NULL)))
		log_error("cannot join the generator's thread: %s", strerror(rc));
	pthread_mutex_destroy(&g->mu);
	generator_free(g);
}

const char *
generator_provider(const struct generator *g)
{
	return g->offline ? DRAFT_PROVIDER : OPENAI_PROVIDER;
}

int
generator_submit(struct generator *g, const char *system, const char *user,
    const struct gen_params *p, gen_done_fn done, void *arg)
{
	struct gen_call *c;
	int rc = 0;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return GB_ENOMEM;
	c->done = done;
	c->arg = arg;
	buf_init(&c->resp, GEN_MAX_REPLY);
	gen_reply_init(&c->reply, generator_provider(g));
	if (g->offline) {
		c->words_min = p->words_min;
		c->words_max = p->words_max;
		if ((system && (c->system = strdup(system)) == NULL) ||
		    (user && (c->user = strdup(user)) == NULL)) {
			call_free(c);
			return GB_ENOMEM;
		}
	} else if (p->model == NULL || p->model[0] == '\0') {
		gen_reply_fail(&c->reply, GB_EINVAL, "no model for %s", g->shown);
	} else if ((c->body = openai_request_body(system, user, p)) == NULL) {
		call_free(c);
		return GB_ENOMEM;
	}

	pthread_mutex_lock(&g->mu);
	if (g->closing)
		rc = GB_ESTATE;
	else if (g->nqueued >= GEN_MAX_QUEUED)
		rc = GB_EBUSY;
	if (rc == 0) {
		if (g->tail)
			g->tail->next = c;
		else
			g->head = c;
		g->tail = c;
		g->nqueued++;
		curl_multi_wakeup(g->multi);
	}
	pthread_mutex_unlock(&g->mu);
	if (rc)
		call_free(c);
	return rc;
}

struct call_wait {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;			/* guarded by mu */
	struct gen_reply *reply;
};

static void
call_wait_done(void *arg, struct gen_reply *reply)
{
	struct call_wait *w = arg;

	pthread_mutex_lock(&w->mu);
	*w->reply = *reply;
	w->done = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

void
generator_call(struct generator *g, const char *system, const char *user,
    const struct gen_params *p, struct gen_reply *reply)
{
	struct call_wait w;
	int rc;

	gen_reply_init(reply, generator_provider(g));
	w.done = 0;
	w.reply = reply;
	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, NULL);
	if ((rc = generator_submit(g, system, user, p, call_wait_done, &w))) {
		gen_reply_fail(reply, rc, rc == GB_ESTATE ? "generator closed" :
		    rc == GB_EBUSY ? "too many calls waiting" : "out of memory");
	} else {
		pthread_mutex_lock(&w.mu);
		while (!w.done)
			pthread_cond_wait(&w.cv, &w.mu);
		pthread_mutex_unlock(&w.mu);
	}
	pthread_cond_destroy(&w.cv);
	pthread_mutex_destroy(&w.mu);
}
