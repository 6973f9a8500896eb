/*
 * bench/pipeline - genbox's worker pool beside a plain SQLite loop and
 * BullMQ, in two parts of one run:
 *
 *   1. end to end   N contexts like the demo's (pipeline template,
 *                   ai_generator, transformer; offline-draft) run by the
 *                   pool API with 1, 2 and 4 workers (default claim_max),
 *                   each run followed by the plain loop of plainloop.h on a
 *                   database filled the same way: the ratio of each pair
 *                   (aim: at least 0.7 of the plain loop)
 *   2. no-op        M contexts with an empty pipeline run by the pool,
 *                   before and after BullMQ's no-op worker at concurrency
 *                   1, 50 and 200 (bench/bullmq/run.sh M 1 50 200), and the
 *                   plain loop with no work: genbox (the mean of its two
 *                   runs) against BullMQ's best (aim: at least 1.5 times)
 *
 * usage: pipeline [--contexts N] [--noop M] [--noop-workers W]
 *                 [--noop-claim C] [--no-bullmq]
 * Defaults 2000, 20000, 4 workers, claim_max 16; 0 skips a part. The
 * databases live in a new folder under /var/tmp, removed at the end. The
 * demo documents are loaded by the genbox binary (`genbox --db PATH demo`):
 * $GENBOX_BIN, else ../genbox beside this program's folder.
 * bench/bullmq/run.sh is found under $GENBOX_SRC, else the current folder.
 * Prints rates and ratios; the exit status is 1 only when a part could not
 * be measured, never because of a ratio.
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../appliance/generator.h"
#include "../appliance/engine/pool.h"
#include "../base/gbtime.h"
#include "../storage/access.h"
#include "../storage/docs.h"
#include "../storage/queue.h"
#include "../storage/store.h"
#include "lib/benchlib.h"
#include "lib/bullmq.h"
#include "lib/fixture.h"
#include "lib/plainloop.h"

#define DEFAULT_CONTEXTS	2000
#define DEFAULT_NOOP		20000
/*
 * No-op settings: the best of a sweep with 20,000 contexts on a shared
 * 2-core box (workers 1, 2, 3, 4 x claim_max 16 to 256, 2 to 5 runs each;
 * median contexts/s): 4 x 16 3400, 3 x 32 3480 (3 runs), 4 x 32 3220,
 * 2 x 16 3070, 2 x 64 2880, 1 x any 2000-2700. More workers than cores help
 * because a worker waiting for SQLite's write lock sleeps in its busy
 * handler (1, 2, 5, 10 ... ms) past the moment the lock is free.
 * max_inflight stays at its default.
 */
#define NOOP_WORKERS		4
#define NOOP_CLAIM		16
#define E2E_AIM			0.7
#define BULLMQ_AIM		1.5
#define ORG			"org_123"
#define DOC_MAX			512		/* bytes of one generated context */
#define POOL_TIMEOUT_MS		(600 * 1000)	/* one pool run */

static const int e2e_workers[] = { 1, 2, 4 };
static const int bullmq_concurrency[] = { 1, 50, 200 };
#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

static char genbox_bin[PATH_MAX];

/* ---- the contexts ---- */

struct docset {
	char *text;		/* n documents, DOC_MAX bytes apart */
	const char **v;
	size_t *len;
	size_t n;
};

static int
docset_print(char *p, size_t i, int noop)
{
	char created[GB_TIME_LEN];

	gb_time_format(1686407400000LL + (int64_t)i * 37, created);
	if (noop)
		return snprintf(p, DOC_MAX, "{\"_id\":\"ctx_noop_%07zu\",\"type\":\"article\","
		    "\"status\":\"pending\",\"created_at\":\"%s\",\"pipeline\":[],"
		    "\"data\":{\"title\":\"No-op %zu\"},\"user_id\":\"user_456\","
		    "\"organization_id\":\"" ORG "\","
		    "\"metadata\":{\"source\":\"bench\",\"priority\":%zu}}",
		    i, created, i, 1 + i % 10);
	return snprintf(p, DOC_MAX, "{\"_id\":\"ctx_e2e_%07zu\",\"type\":\"article\","
	    "\"status\":\"pending\",\"created_at\":\"%s\","
	    "\"pipeline\":[\"template\",\"ai_generator\",\"transformer\"],"
	    "\"data\":{\"title\":\"Example Article %zu\",\"keywords\":[\"microservices\","
	    "\"architecture\",\"documentation\"],\"target_audience\":\"developers\","
	    "\"tone\":\"technical\"},\"user_id\":\"user_456\",\"organization_id\":\"" ORG "\","
	    "\"metadata\":{\"source\":\"api\",\"priority\":%zu}}", i, created, i, 1 + i % 10);
}

static void
docset_make(struct docset *d, size_t n, int noop)
{
	d->n = n;
	d->text = malloc(n * DOC_MAX);
	d->v = malloc(n * sizeof(*d->v));
	d->len = malloc(n * sizeof(*d->len));
	if (d->text == NULL || d->v == NULL || d->len == NULL)
		bench_die("contexts", "out of memory");
	for (size_t i = 0; i < n; i++) {
		char *p = d->text + i * DOC_MAX;
		int len = docset_print(p, i, noop);

		if (len < 0 || len >= DOC_MAX)
			bench_die("contexts", "a generated context is longer than DOC_MAX");
		d->v[i] = p;
		d->len[i] = (size_t)len;
	}
}

static void
docset_free(struct docset *d)
{
	free(d->text);
	free(d->v);
	free(d->len);
}

/* A new database: the demo documents, then the contexts. */
static void
db_fill(const char *path, const struct docset *d)
{
	struct gb_err err = { 0, "" };
	struct store *st = NULL;
	size_t failed = 0;

	fixture_demo_db(genbox_bin, path);
	if (store_open(&st, path, NULL, &err))
		bench_die(path, err.msg);
	if (store_put_many(st, COLL_CONTEXTS, d->v, d->len, d->n, STORE_INSERT, &failed, &err))
		bench_die("insert contexts", err.msg);
	store_close(st);
}

/* The plain loop on path; a problem when it left any context unfinished. */
static void
plain_measure(const char *path, size_t n, int noop, struct plainloop_stats *p)
{
	int64_t c[CTX_STATUS_COUNT];

	plainloop_run(path, ORG, n, noop, p);
	fixture_status_counts(path, c);
	if (c[CTX_PENDING] + c[CTX_PROCESSING] + c[CTX_FAILED] > 0)
		bench_problem("plain loop", "contexts left pending, processing or failed");
}

/* ---- genbox's pool ---- */

struct pool_result {
	double secs;		/* pool_start until every context's end is committed */
	int64_t completed, failed, unfinished;
};

/*
 * Wait for n ends: the pool's own count first (cheap), then the database
 * (ends are committed per claimed group). Pending and processing contexts
 * left after the timeout into *unfinished.
 */
static void
bench_pool_wait(struct pool *r, struct store *st, size_t n, int64_t t0, int64_t *unfinished)
{
	struct gb_err err = { 0, "" };
	struct pool_stats s;
	int64_t c[CTX_STATUS_COUNT];

	for (;;) {
		pool_stats(r, &s);
		if (s.completed + s.failed >= (int64_t)n ||
		    bench_mono_us() - t0 > POOL_TIMEOUT_MS * 1000LL)
			break;
		bench_sleep_ms(2);
	}
	for (;;) {
		if (store_ctx_status_counts(st, c, &err))
			bench_die("status counts", err.msg);
		*unfinished = c[CTX_PENDING] + c[CTX_PROCESSING];
		if (*unfinished == 0 || bench_mono_us() - t0 > POOL_TIMEOUT_MS * 1000LL)
			break;
		bench_sleep_ms(1);
	}
}

/* Run the n contexts of db with the pool; claim_max 0 keeps its default. */
static void
pool_run(const char *db, int workers, int claim_max, size_t n, const char *label,
    struct pool_result *res)
{
	struct gen_config gc = { NULL, NULL, 0, 0, 0 };
	struct gb_err err = { 0, "" };
	struct pool_config cfg;
	struct pool_stats s;
	struct pool *r = NULL;
	struct generator *gen = NULL;
	struct store *st = NULL;
	struct bench_cpu before, after;
	int64_t t0;

	memset(res, 0, sizeof(*res));
	if (store_open(&st, db, NULL, &err))
		bench_die(db, err.msg);
	if (generator_open(&gen, &gc, &err))
		bench_die("generator", err.msg);
	pool_config_defaults(&cfg);
	cfg.db_path = db;
	cfg.workers = workers;
	if (claim_max > 0)
		cfg.claim_max = claim_max;
	cfg.gen = gen;
	bench_cpu_snapshot(&before);
	t0 = bench_mono_us();
	if (pool_start(&r, &cfg, &err))
		bench_die("pool", err.msg);	/* it took the generator */
	bench_pool_wait(r, st, n, t0, &res->unfinished);
	res->secs = bench_secs(t0);
	bench_cpu_snapshot(&after);
	pool_stats(r, &s);
	res->completed = s.completed;
	res->failed = s.failed;
	pool_stop(r, 5000);
	pool_free(r);
	store_close(st);
	bench_cpu_report(label, &before, &after, res->secs);
	if (res->unfinished > 0 || s.failed > 0) {
		char msg[200];

		snprintf(msg, sizeof(msg), "%lld completed, %lld failed, %lld still pending or "
		    "processing of %zu", (long long)s.completed, (long long)s.failed,
		    (long long)res->unfinished, n);
		bench_problem("genbox pool", msg);
	}
}

/* ---- part 1: end to end ---- */

/* data.formatted_content.content of a context; caller frees; NULL when absent. */
static char *
article_of(const char *path, const char *id)
{
	struct gb_err err = { 0, "" };
	struct store *st = NULL;
	char *text = NULL, *out = NULL;
	cJSON *doc;

	if (store_open(&st, path, NULL, &err) || store_get(st, COLL_CONTEXTS, id, &text, &err))
		bench_die(path, err.msg);
	store_close(st);
	if ((doc = cJSON_Parse(text)) != NULL) {
		const cJSON *data = cJSON_GetObjectItemCaseSensitive(doc, "data");
		const char *c = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(data, "formatted_content"), "content"));

		out = c ? strdup(c) : NULL;
	}
	cJSON_Delete(doc);
	free(text);
	return out;
}

/* Whether both databases hold the same article for the first context. */
static int
e2e_same_article(const char *gpath, const char *ppath)
{
	char *ga = article_of(gpath, "ctx_e2e_0000000"), *pa = article_of(ppath, "ctx_e2e_0000000");
	int same = ga && pa && strcmp(ga, pa) == 0;

	free(ga);
	free(pa);
	return same;
}

/* One pair: the pool with this many workers, then the plain loop; returns the ratio. */
static double
e2e_pair(const struct docset *d, int workers, int *same)
{
	char gpath[PATH_MAX], ppath[PATH_MAX], label[64];
	struct pool_result g;
	struct plainloop_stats p;
	double a, b;

	bench_tpath("e2e-genbox.db", gpath, sizeof(gpath));
	bench_tpath("e2e-plain.db", ppath, sizeof(ppath));
	db_fill(gpath, d);
	db_fill(ppath, d);
	snprintf(label, sizeof(label), "genbox %d worker%s:", workers, workers == 1 ? "" : "s");
	pool_run(gpath, workers, 0, d->n, label, &g);
	plain_measure(ppath, d->n, 0, &p);
	printf("    plain loop: sqlite %.2f s, component work %.2f s (offline_draft %.2f s)\n",
	    (double)p.sql_us / 1e6, (double)p.work_us / 1e6, (double)p.draft_us / 1e6);
	if (!e2e_same_article(gpath, ppath))
		*same = 0;
	bench_db_remove(gpath);
	bench_db_remove(ppath);
	a = (double)g.completed / g.secs;
	b = (double)d->n / p.secs;
	printf("  %d worker%s  genbox pool   %8.1f contexts/s (%5.2f s)   "
	    "plain loop %8.1f contexts/s (%5.2f s)   ratio %.2f\n", workers,
	    workers == 1 ? " " : "s", a, g.secs, b, p.secs, a / b);
	fflush(stdout);
	return a / b;
}

static void
part_e2e(size_t n)
{
	double ratio[NELEM(e2e_workers)];
	struct docset d;
	int same = 1;

	printf("1. end to end: %zu contexts (template, ai_generator offline-draft, transformer);\n"
	    "   each pool run beside a plain SQLite loop run (1 thread, claim and complete one "
	    "context per transaction)\n", n);
	fflush(stdout);
	docset_make(&d, n, 0);
	for (int i = 0; i < NELEM(e2e_workers); i++)
		ratio[i] = e2e_pair(&d, e2e_workers[i], &same);
	docset_free(&d);
	printf("  same article text in the pool's and the plain loop's databases: %s\n",
	    same ? "yes" : "NO");
	printf("  ratio genbox/plain");
	for (int i = 0; i < NELEM(e2e_workers); i++)
		printf("   %d worker%s %.2f", e2e_workers[i], e2e_workers[i] == 1 ? "" : "s",
		    ratio[i]);
	printf("   (aim >= %.1f)\n", E2E_AIM);
	fflush(stdout);
}

/* ---- part 2: no-op throughput ---- */

#define NOOP_COLUMN "%-52s %9.0f %-10s (%.2f s)\n"

/* One pool on a fresh database of the no-op contexts; returns contexts per second. */
static double
noop_pool(const struct docset *d, int workers, int claim_max, const char *when)
{
	char gpath[PATH_MAX], label[128];
	struct pool_result g;
	double rate;

	db_fill(bench_tpath("noop-genbox.db", gpath, sizeof(gpath)), d);
	snprintf(label, sizeof(label), "genbox%s%s:", when[0] ? " " : "", when);
	pool_run(gpath, workers, claim_max, d->n, label, &g);
	bench_db_remove(gpath);
	rate = (double)g.completed / g.secs;
	snprintf(label, sizeof(label), "genbox pool%s%s (%d workers, claim_max %d)",
	    when[0] ? ", " : "", when, workers, claim_max);
	printf("  " NOOP_COLUMN, label, rate, "contexts/s", g.secs);
	fflush(stdout);
	return rate;
}

static double
noop_plain(const struct docset *d)
{
	char ppath[PATH_MAX];
	struct plainloop_stats p;

	db_fill(bench_tpath("noop-plain.db", ppath, sizeof(ppath)), d);
	plain_measure(ppath, d->n, 1, &p);
	bench_db_remove(ppath);
	printf("  " NOOP_COLUMN, "plain sqlite loop (1 thread, reference)", (double)d->n / p.secs,
	    "contexts/s", p.secs);
	fflush(stdout);
	return (double)d->n / p.secs;
}

/* BullMQ at each concurrency into r. */
static void
noop_bullmq(size_t m, struct bullmq_result r[NELEM(bullmq_concurrency)])
{
	char script[PATH_MAX], label[64];

	fixture_src_path("bench/bullmq/run.sh", script, sizeof(script));
	bullmq_run(script, m, bullmq_concurrency, NELEM(bullmq_concurrency), r);
	for (int i = 0; i < NELEM(bullmq_concurrency); i++) {
		if (r[i].detail[0])
			printf("    %s\n", r[i].detail);
		snprintf(label, sizeof(label), "bullmq noop.js, concurrency %d", r[i].concurrency);
		if (r[i].ok)
			printf("  " NOOP_COLUMN, label, r[i].jobs_per_sec, "jobs/s", r[i].secs);
		else
			printf("  %-52s %9s\n", label, "failed");
	}
	fflush(stdout);
}

/* genbox's rate against each concurrency's and the best. */
static void
noop_ratios(double genbox, const struct bullmq_result r[NELEM(bullmq_concurrency)])
{
	const struct bullmq_result *best = bullmq_best(r, NELEM(bullmq_concurrency));

	if (best == NULL) {
		printf("  ratio genbox/bullmq n/a (bullmq not measured)\n");
		return;
	}
	printf("  ratio genbox/bullmq   concurrency");
	for (int i = 0; i < NELEM(bullmq_concurrency); i++)
		if (r[i].ok)
			printf(" %d: %.2f ", r[i].concurrency, genbox / r[i].jobs_per_sec);
	printf("  best (%d): %.2f   (aim >= %.1f)\n", best->concurrency,
	    genbox / best->jobs_per_sec, BULLMQ_AIM);
}

static void
part_noop(size_t m, int workers, int claim_max, int with_bullmq)
{
	struct bullmq_result r[NELEM(bullmq_concurrency)];
	struct docset d;
	double g1, g2, g, plain;

	printf("2. no-op throughput: %zu contexts with \"pipeline\": []\n", m);
	fflush(stdout);
	docset_make(&d, m, 1);
	g1 = noop_pool(&d, workers, claim_max, with_bullmq ? "before bullmq" : "");
	plain = noop_plain(&d);
	if (with_bullmq) {
		noop_bullmq(m, r);
		g2 = noop_pool(&d, workers, claim_max, "after bullmq");
		g = (g1 + g2) / 2;
		printf("  genbox: the mean of its two runs, %.0f contexts/s\n", g);
		noop_ratios(g, r);
	} else {
		g = g1;
		printf("  ratio genbox/bullmq n/a (--no-bullmq)\n");
	}
	docset_free(&d);
	printf("  ratio genbox/plain %.2f\n", g / plain);
	fflush(stdout);
}

/* ---- main ---- */

int
main(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "contexts", required_argument, NULL, 'n' },
		{ "noop", required_argument, NULL, 'm' },
		{ "noop-workers", required_argument, NULL, 'w' },
		{ "noop-claim", required_argument, NULL, 'c' },
		{ "no-bullmq", no_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 },
	};
	long n = DEFAULT_CONTEXTS, m = DEFAULT_NOOP, workers = NOOP_WORKERS, claim = NOOP_CLAIM;
	int ch, bullmq = 1;

	bench_init("bench/pipeline");
	while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		switch (ch) {
		case 'n': n = bench_number("--contexts", optarg, 0, 10000000); break;
		case 'm': m = bench_number("--noop", optarg, 0, 100000000); break;
		case 'w':
			workers = bench_number("--noop-workers", optarg, 1, POOL_MAX_WORKERS);
			break;
		case 'c': claim = bench_number("--noop-claim", optarg, 1, QUEUE_MAX_CLAIM); break;
		case 'b': bullmq = 0; break;
		default:
			fprintf(stderr,
			    "usage: pipeline [--contexts N] [--noop M] [--noop-workers W] "
			    "[--noop-claim C] [--no-bullmq]\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "bench/pipeline: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	fixture_find_genbox(genbox_bin, sizeof(genbox_bin));
	bench_tmpdir_make("genbox-pipeline");
	printf("bench/pipeline: genbox's pool vs a plain SQLite loop and BullMQ, same run "
	    "(genbox %s)\n", genbox_bin);
	fflush(stdout);
	if (n > 0)
		part_e2e((size_t)n);
	if (m > 0)
		part_noop((size_t)m, (int)workers, (int)claim, bullmq);
	return bench_problems() ? 1 : 0;
}
