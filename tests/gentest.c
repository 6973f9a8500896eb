/*
 * gentest.c - see gentest.h.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "gentest.h"
#include "tap.h"

struct gen_params
gentest_params(const char *model)
{
	struct gen_params p;

	memset(&p, 0, sizeof(p));
	p.model = model;
	p.temperature = p.top_p = p.frequency_penalty = p.presence_penalty = NAN;
	return p;
}


void
tally_init(struct tally *t)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->cv, NULL);
}

void
tally_release(struct tally *t)
{
	pthread_cond_destroy(&t->cv);
	pthread_mutex_destroy(&t->mu);
}

void
tally_done(void *arg, struct gen_reply *r)
{
	struct tally *t = arg;

	pthread_mutex_lock(&t->mu);
	t->n++;
	if (r->code == 0 && r->text && r->text[0])
		t->ok++;
	else if (r->code == GB_ESTATE && strcmp(r->msg, "generator closed") == 0)
		t->estate++;
	else {
		t->other++;
		if (!t->first_msg[0])
			snprintf(t->first_msg, sizeof(t->first_msg), "code %d: %s", r->code, r->msg);
	}
	if (r->completion_tokens > t->max_tokens_seen)
		t->max_tokens_seen = r->completion_tokens;
	pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->mu);
	gen_reply_release(r);
}

int
tally_wait(struct tally *t, int n, int ms)
{
	struct timespec until;
	int got;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&t->mu);
	while (t->n < n && pthread_cond_timedwait(&t->cv, &t->mu, &until) == 0)
		;
	got = t->n;
	pthread_mutex_unlock(&t->mu);
	return got;
}

void
gentest_call_once(const char *url, const char *key, int timeout_ms, const struct gen_params *p,
    struct gen_reply *r)
{
	struct gen_config cfg = { url, key, timeout_ms, 2000, 2 };
	struct generator *g;
	struct gb_err err = { 0, "" };

	if (generator_open(&g, &cfg, &err))
		tap_bail("generator_open %s: %s", url, err.msg);
	generator_call(g, "You write.", "Write.", p, r);
	generator_close(g);
}

const char *
gentest_called(const char *base)
{
	static char url[4][192];
	static int k;

	k = (k + 1) % 4;
	snprintf(url[k], sizeof(url[k]), "%s/v1/chat/completions", base);
	return url[k];
}
