/*
 * load.c - the soak's steady API load: one thread per route, each paced to
 * its rate (create: SOAK_RATE a second; list: half that; get: twice that),
 * every call's start, latency and HTTP status kept (0: no answer, the
 * daemon being down). Creates send their own _id (ctx_soak_NNNNNNN, the
 * id in the title too, so the generator can tell whose prompt it reads);
 * only a 201 marks a context acknowledged. Gets ask for a random
 * acknowledged context; lists ask for the newest page, every other time
 * filtered on status=completed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "../lib/benchlib.h"
#include "soak.h"

#define CALL_TIMEOUT_MS 10000L

struct loader {
	struct soak *s;
	enum soak_route route;
	double per_s;
	pthread_t th;
	unsigned seed;
};

static struct loader loaders[ROUTE_COUNT];

void
soak_calls_add(struct soak_calls *c, const struct soak_call *call)
{
	pthread_mutex_lock(&c->mu);
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 4096;
		struct soak_call *v = realloc(c->v, cap * sizeof(*v));

		if (v == NULL) {
			pthread_mutex_unlock(&c->mu);
			return;
		}
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n++] = *call;
	pthread_mutex_unlock(&c->mu);
}

static size_t
discard(char *data, size_t size, size_t n, void *arg)
{
	(void)data;
	(void)arg;
	return size * n;
}

/* One call on the daemon's current port; its HTTP status, 0 when nothing answered. */
static int
call(CURL *c, struct soak *s, const char *method, const char *path, const char *body)
{
	char url[256], auth[320];
	struct curl_slist *h = NULL;
	int port = atomic_load(&s->port);
	long status = 0;

	if (port == 0)
		return 0;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", s->token);
	h = curl_slist_append(h, auth);
	if (body)
		h = curl_slist_append(h, "Content-Type: application/json");
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, CALL_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	return (int)status;
}

static int
do_create(CURL *c, struct loader *l)
{
	struct soak *s = l->s;
	int id = atomic_fetch_add(&s->next_id, 1), st;
	char body[512], cid[32];

	if (id >= s->max_ids) {
		atomic_fetch_sub(&s->next_id, 1);
		return -1;
	}
	snprintf(cid, sizeof(cid), SOAK_ID_FMT, id);
	snprintf(body, sizeof(body), "{\"_id\":\"%s\",\"type\":\"article\",\"data\":{\"title\":"
	    "\"Soak article %s\",\"keywords\":[\"soak\",\"edge\"],\"tone\":\"plain\"},"
	    "\"metadata\":{\"source\":\"soak\",\"priority\":%d}}", cid, cid, id % 3);
	st = call(c, s, "POST", "/api/v1/contexts", body);
	if (st == 201)
		atomic_store(&s->acked[id], 1);
	else if (st == 0)
		atomic_fetch_add(&s->unanswered, 1);
	return st;
}

/* A random acknowledged context (the newest 0..n), -1 when none yet. */
static int
pick_acked(struct loader *l)
{
	int n = atomic_load(&l->s->next_id);

	for (int tries = 0; n > 0 && tries < 8; tries++) {
		int id = (int)(rand_r(&l->seed) % (unsigned)n);

		if (atomic_load(&l->s->acked[id]))
			return id;
	}
	return -1;
}

static int
do_one(CURL *c, struct loader *l, unsigned long k)
{
	char path[128];
	int id;

	switch (l->route) {
	case ROUTE_CREATE:
		return do_create(c, l);
	case ROUTE_LIST:
		return call(c, l->s, "GET", k % 2 ? "/api/v1/contexts?limit=50&status=completed" :
		    "/api/v1/contexts?limit=50", NULL);
	default:
		if ((id = pick_acked(l)) < 0)
			return -1;
		snprintf(path, sizeof(path), "/api/v1/contexts/" SOAK_ID_FMT, id);
		return call(c, l->s, "GET", path, NULL);
	}
}

static void *
loader_main(void *arg)
{
	struct loader *l = arg;
	struct soak *s = l->s;
	CURL *c = curl_easy_init();
	double next = soak_now(s);

	for (unsigned long k = 0; c && !atomic_load(&s->stop_load); k++) {
		struct soak_call rec;
		double now = soak_now(s);
		int64_t t0;
		int st;

		if (now < next) {
			bench_sleep_ms((int)((next - now) * 1000) + 1);
			continue;
		}
		/* a slow answer does not make a burst afterwards */
		next = (next + 1.0 / l->per_s < now) ? now : next + 1.0 / l->per_s;
		t0 = bench_mono_us();
		st = do_one(c, l, k);
		if (st < 0) {
			next = soak_now(s) + 0.2;
			continue;
		}
		rec.t_ms = (int32_t)((t0 - s->t0_us) / 1000);
		rec.us = (int32_t)(bench_mono_us() - t0);
		rec.status = (int16_t)st;
		soak_calls_add(&s->calls[l->route], &rec);
	}
	if (c)
		curl_easy_cleanup(c);
	return NULL;
}

void
soak_load_start(struct soak *s)
{
	double rate[ROUTE_COUNT] = { s->rate, s->rate / 2.0, s->rate * 2.0 };

	for (int r = 0; r < ROUTE_COUNT; r++) {
		struct loader *l = &loaders[r];

		l->s = s;
		l->route = (enum soak_route)r;
		l->per_s = rate[r] < 0.5 ? 0.5 : rate[r];
		l->seed = 7u + (unsigned)r;
		if (pthread_create(&l->th, NULL, loader_main, l) != 0)
			bench_die("load", "cannot start a thread");
	}
}

void
soak_load_stop(void)
{
	for (int r = 0; r < ROUTE_COUNT; r++)
		if (loaders[r].s) {
			atomic_store(&loaders[r].s->stop_load, 1);
			pthread_join(loaders[r].th, NULL);
		}
}
