/*
 * t221-pool-stop - stopping the pool while generator calls are in flight:
 * the endpoint accepts and never answers, the pool is stopped with parked
 * contexts and with workers still submitting, and every context is back in
 * the queue with its progress, none lost, none left processing. Run under
 * ASan: the generator is closed only once no worker can submit to it.
 */
#include <pthread.h>
#include <sqlite3.h>

#include "pooltest.h"

#include "../base/metrics.h"

static void *
stopper(void *arg)
{
	pool_stop(arg, 0);
	return NULL;
}

/*
 * Another connection holds SQLite's write lock while the pool stops: the
 * workers' attempts to give their contexts back fail (busy), and they never
 * wait for storage holding the pool's write lock; the keeper gives them back
 * once the lock is free.
 */
static void
stop_while_locked(const char *url)
{
	struct box b;
	struct pool_config cfg;
	struct pool *p;
	sqlite3 *db = NULL;
	pthread_t th;
	int64_t t0;

	box_open(&b, 1);
	for (int i = 0; i < 4; i++)
		box_put(&b, COLL_CONTEXTS, "{\"_id\":\"ctx_l%d\",\"organization_id\":\"org_123\",\"pipeline\":"
		    "[\"template\",\"ai_generator\"],\"data\":{\"title\":\"Locked %d\"}}", i, i);
	pool_config_defaults(&cfg);
	cfg.workers = 2;
	cfg.store.create = 1;
	cfg.store.migrate = 1;
	cfg.store.busy_timeout_ms = 50;
	p = box_pool(&b, url, &cfg);
	t0 = gb_mono_ms();
	while (box_count(&b, CTX_PROCESSING) < 4 && gb_mono_ms() - t0 < 30000)
		usleep(10000);
	usleep(200000);	/* their template steps are committed; their calls hang */
	/* the pool may be writing right then: wait for its turn like any writer */
	if (sqlite3_open(b.path, &db) != SQLITE_OK || sqlite3_busy_timeout(db, 10000) != SQLITE_OK ||
	    sqlite3_exec(db, "BEGIN IMMEDIATE; "
	    "UPDATE organizations SET doc = doc WHERE _id = 'org_123'", NULL, NULL, NULL) != SQLITE_OK)
		tap_bail("lock: %s", sqlite3_errmsg(db));
	pthread_create(&th, NULL, stopper, p);
	usleep(500000);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(db);
	pthread_join(th, NULL);
	pool_free(p);
	is_int(box_count(&b, CTX_PROCESSING), 0, "stopped while another connection held the write lock: none left processing");
	is_int(box_count(&b, CTX_PENDING), 4, "all 4 were given back once the lock was free");
	box_close(&b);
}

/* Lines of the trace that start with what and end with detail. */
static int
trace_count(struct box *b, const char *what, const char *detail)
{
	char *text = util_read_file(b->trace, NULL), *line, *save = NULL;
	int n = 0;

	for (line = text ? strtok_r(text, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
		char w[16], id[64], d[32];

		if (sscanf(line, "%15s %63s %31s", w, id, d) == 3 && strcmp(w, what) == 0 && strcmp(d, detail) == 0)
			n++;
	}
	free(text);
	return n;
}

/*
 * n contexts; stop once wait_calls generator calls went out, or (wait_calls
 * 0) once every context started its ai_generator step.
 */
static void
stop_in_flight(const char *url, int n, int inflight, int64_t wait_calls)
{
	struct box b;
	struct pool_config cfg;
	struct pool_stats s;
	struct metrics *m = metrics_new();
	struct metric *calls = metrics_counter(m, "genbox_generator_calls_total", NULL, "");
	struct pool *p;
	int64_t t0, with_template = 0;

	box_open(&b, 1);
	store_begin(b.st, NULL);
	for (int i = 0; i < n; i++)
		box_put(&b, COLL_CONTEXTS, "{\"_id\":\"ctx_s%04d\",\"organization_id\":\"org_123\",\"pipeline\":"
		    "[\"template\",\"ai_generator\",\"transformer\"],\"data\":{\"title\":\"Stop %d\"}}", i, i);
	store_commit(b.st, NULL);
	pool_config_defaults(&cfg);
	cfg.workers = 2;
	cfg.claim_max = 8;
	cfg.max_inflight = inflight;
	cfg.metrics = m;
	p = box_pool(&b, url, &cfg);
	t0 = gb_mono_ms();
	while (wait_calls > 0 && metric_value(calls) < (double)wait_calls && gb_mono_ms() - t0 < 30000)
		usleep(1000);
	while (wait_calls == 0 && trace_count(&b, "run", "ai_generator") < n && gb_mono_ms() - t0 < 30000)
		usleep(10000);
	ok(metric_value(calls) >= (double)(wait_calls ? wait_calls : n),
	    "%d contexts: %.0f generator calls out before the stop", n, metric_value(calls));
	pool_stop(p, 0);
	pool_stats(p, &s);
	pool_free(p);
	is_int(box_count(&b, CTX_PROCESSING), 0, "after the stop none is left processing");
	is_int(box_count(&b, CTX_PENDING), n, "all %d are pending again: none lost, none ended", n);
	ok(s.claimed > 0 && s.released == s.claimed, "every claimed context was given back (%lld claimed, %lld released)",
	    (long long)s.claimed, (long long)s.released);
	for (int i = 0; i < n; i++) {
		char id[32];

		snprintf(id, sizeof(id), "ctx_s%04d", i);
		if (strcmp(box_ctx(&b, id, "processing.completed_components"), "[\"template\"]") == 0)
			with_template++;
	}
	ok(with_template > 0, "contexts given back keep their recorded template step (%lld)", (long long)with_template);
	is_int(with_template, trace_count(&b, "done", "template"), "every template step the pool committed is there");
	box_close(&b);
	metrics_free(m);
}

int
main(void)
{
	char url[64];
	int fd = hung_endpoint(url);

	/* every context parked, waiting for replies that never come */
	stop_in_flight(url, 16, 64, 0);
	/* workers still claiming and submitting while the pool stops */
	for (int round = 0; round < 3; round++)
		stop_in_flight(url, 400, 256, 8 + round * 40);
	stop_while_locked(url);
	close(fd);
	return tap_done();
}
