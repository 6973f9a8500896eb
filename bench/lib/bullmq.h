/*
 * bullmq.h - BullMQ's no-op throughput, measured by bench/bullmq/run.sh
 * (npm's bullmq against a private redis-server), at several worker
 * concurrencies in one run.
 */
#ifndef GB_BENCH_BULLMQ_H
#define GB_BENCH_BULLMQ_H

#include <stddef.h>

#define BULLMQ_MAX_RUNS 8

struct bullmq_result {
	int concurrency;
	int ok;			/* measured; else the rest is 0 */
	double jobs_per_sec;
	double secs;		/* from the worker's start until the last job completed */
	char detail[256];	/* noop.js's enqueue timings, "" when none */
};

/*
 * bash script jobs conc[0] .. conc[n-1] (n <= BULLMQ_MAX_RUNS): out[i] for
 * conc[i]. Returns how many were measured; a concurrency that was not (or
 * run.sh failing as a whole) is a bench_problem, with the tail of run.sh's
 * stderr. The first run may take minutes: apt and npm ci when needed.
 */
int bullmq_run(const char *script, size_t jobs, const int *conc, int n, struct bullmq_result *out);
/* The result with the highest rate, or NULL when none was measured. */
const struct bullmq_result *bullmq_best(const struct bullmq_result *r, int n);

#endif
