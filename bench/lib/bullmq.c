/*
 * bullmq.c - runs bench/bullmq/run.sh and reads its result lines (see
 * bullmq.h): "bullmq jobs=N concurrency=C seconds=S jobs_per_sec=R" on
 * stdout, "bullmq detail: concurrency=C ..." on stderr.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "benchlib.h"
#include "bullmq.h"

#define BULLMQ_TIMEOUT_S	900		/* run.sh, apt and npm ci included */

extern char **environ;

/* The number after "key=" in line, or -1. */
static double
bullmq_field(const char *line, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), " %s=", key);
	if ((p = strstr(line, pat)) == NULL)
		return -1;
	return strtod(p + strlen(pat), NULL);
}

/* Fill the result of each concurrency from run.sh's stdout and stderr. */
static void
bullmq_parse(const char *out, const char *errs, int n, struct bullmq_result *r)
{
	for (int i = 0; i < n; i++) {
		char want[64], line[512];

		snprintf(want, sizeof(want), " concurrency=%d ", r[i].concurrency);
		bench_find_line(out, "bullmq jobs=", want, line, sizeof(line));
		if (line[0] && bullmq_field(line, "jobs_per_sec") > 0) {
			r[i].ok = 1;
			r[i].jobs_per_sec = bullmq_field(line, "jobs_per_sec");
			r[i].secs = bullmq_field(line, "seconds");
		}
		if (errs) {
			snprintf(want, sizeof(want), "concurrency=%d ", r[i].concurrency);
			bench_find_line(errs, "bullmq detail: ", want, r[i].detail,
			    sizeof(r[i].detail));
		}
	}
}

int
bullmq_run(const char *script, size_t jobs, const int *conc, int n, struct bullmq_result *out)
{
	char out_path[PATH_MAX], err_path[PATH_MAX], msg[PATH_MAX + 64], jstr[32];
	char cstr[BULLMQ_MAX_RUNS][16], *argv[BULLMQ_MAX_RUNS + 4];
	char *text = NULL, *errs = NULL;
	struct bench_child c;
	int got = 0;

	if (n > BULLMQ_MAX_RUNS)
		n = BULLMQ_MAX_RUNS;
	memset(out, 0, (size_t)n * sizeof(*out));
	if (access(script, R_OK) != 0) {
		snprintf(msg, sizeof(msg), "cannot read '%s': %s (run from the source tree or set "
		    "GENBOX_SRC)", script, strerror(errno));
		bench_problem("bullmq", msg);
		return 0;
	}
	snprintf(jstr, sizeof(jstr), "%zu", jobs);
	argv[0] = "bash";
	argv[1] = (char *)script;
	argv[2] = jstr;
	for (int i = 0; i < n; i++) {
		out[i].concurrency = conc[i];
		snprintf(cstr[i], sizeof(cstr[i]), "%d", conc[i]);
		argv[3 + i] = cstr[i];
	}
	argv[3 + n] = NULL;
	bench_tpath("bullmq.out", out_path, sizeof(out_path));
	bench_tpath("bullmq.err", err_path, sizeof(err_path));
	if (bench_spawn_wait(argv, environ, out_path, err_path, BULLMQ_TIMEOUT_S, &c, msg,
	    sizeof(msg))) {
		bench_print_tail(err_path, 15);
		bench_problem("bullmq", msg);
		return 0;
	}
	text = bench_read_file(out_path);
	errs = bench_read_file(err_path);
	bullmq_parse(text ? text : "", errs, n, out);
	for (int i = 0; i < n; i++)
		got += out[i].ok;
	if (c.status != 0 || got < n) {
		bench_print_tail(err_path, 15);
		snprintf(msg, sizeof(msg), "'bash %s %s ...' exited with status %d; %d of %d "
		    "concurrencies measured", script, jstr, c.status, got, n);
		bench_problem("bullmq", msg);
	}
	free(text);
	free(errs);
	return got;
}

const struct bullmq_result *
bullmq_best(const struct bullmq_result *r, int n)
{
	const struct bullmq_result *best = NULL;

	for (int i = 0; i < n; i++)
		if (r[i].ok && (best == NULL || r[i].jobs_per_sec > best->jobs_per_sec))
			best = &r[i];
	return best;
}
