/*
 * gentest.h - what the generator tests share: parameters with nothing
 * optional set, and callbacks that count replies (they run on the
 * generator's thread).
 */
#ifndef GB_TEST_GENTEST_H
#define GB_TEST_GENTEST_H

#include <pthread.h>
#include <stdint.h>

#include "../appliance/generator.h"

/* Parameters for model with every optional number not sent. */
struct gen_params gentest_params(const char *model);

/* One call (system "You write.", user "Write.") to url with a fresh generator; bails when it cannot open. */
void gentest_call_once(const char *url, const char *key, int timeout_ms, const struct gen_params *p,
    struct gen_reply *r);
/* The URL a base URL's calls go to, as messages name it (one of 4 static buffers, reused in turn). */
const char *gentest_called(const char *base);

struct tally {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int n, ok, estate, other;	/* guarded by mu */
	int64_t max_tokens_seen;
	char first_msg[300];
};

void tally_init(struct tally *t);
void tally_release(struct tally *t);
/* A gen_done_fn: counts the reply (ok, closed, other), keeps the first failure's message. */
void tally_done(void *arg, struct gen_reply *r);
/* Wait until n callbacks ran or ms passed; returns the count. */
int tally_wait(struct tally *t, int n, int ms);

#endif
