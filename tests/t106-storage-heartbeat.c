/*
 * t106-storage-heartbeat - state that several floors read: worker
 * heartbeats (put, replace, expiry 60 s after the newest put, delete by
 * prefix, listing the live ones) and pipeline statistics (count, mean,
 * p50 and p95 on known data, the one-day window, pruning, the pipelines
 * that have any). Times are explicit now_ms values, never the clock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "../storage/heartbeat.h"
#include "../storage/pipestats.h"
#include "../storage/store.h"
#include "tap.h"
#include "util.h"

#define T 1700000000000LL
#define DAY PIPELINE_STATS_WINDOW_MS

static struct store *st;
static struct gb_err err;

static struct store_heartbeat
hb(const char *id, int64_t seen, const char *status, int count)
{
	struct store_heartbeat h;

	memset(&h, 0, sizeof(h));
	snprintf(h.worker_id, sizeof(h.worker_id), "%s", id);
	h.last_seen_ms = seen;
	snprintf(h.status, sizeof(h.status), "%s", status);
	h.processing_count = count;
	snprintf(h.host, sizeof(h.host), "box-1");
	return h;
}

/* The live worker ids at now, joined with spaces. */
static const char *
live(int64_t now)
{
	static char out[16 * 70];
	struct store_heartbeat rows[16];
	int n = 0;

	out[0] = '\0';
	gb_err_clear(&err);
	if (store_heartbeat_list(st, now, rows, 16, &n, &err))
		return "(error)";
	for (int i = 0; i < n; i++) {
		size_t at = strlen(out);

		snprintf(out + at, sizeof(out) - at, "%s%.64s", i ? " " : "", rows[i].worker_id);
	}
	return out;
}

static void
test_heartbeats(void)
{
	struct store_heartbeat three[3] = {
		hb("pool-a-w2", T, "idle", 0), hb("pool-a-w1", T, "busy", 2), hb("pool_b-w1", T, "stopping", 1),
	};
	struct store_heartbeat rows[4], one;
	int n = 0;

	is_int(store_heartbeat_put(st, three, 3, &err), 0, "three heartbeats are put in one call");
	is_int(store_heartbeat_list(st, T, rows, 4, &n, &err), 0, "and listed");
	is_int(n, 3, "all three are live");
	is_str(live(T), "pool-a-w1 pool-a-w2 pool_b-w1", "by worker_id");
	ok(n == 3 && rows[0].last_seen_ms == T && strcmp(rows[0].status, "busy") == 0 &&
	    rows[0].processing_count == 2 && strcmp(rows[0].host, "box-1") == 0,
	    "with last_seen, status, processing_count and host as put");
	is_int(store_heartbeat_list(st, T, rows, 1, &n, &err), 0, "a list of at most one");
	is_int(n, 1, "gives one");

	/* live for 60 s after last_seen, by the caller's now */
	is_str(live(T + HEARTBEAT_TTL_MS), "pool-a-w1 pool-a-w2 pool_b-w1", "still live at +60 s");
	is_str(live(T + HEARTBEAT_TTL_MS + 1), "", "expired at +60.001 s");

	/* replace by worker_id */
	one = hb("pool-a-w1", T + 30000, "idle", 0);
	is_int(store_heartbeat_put(st, &one, 1, &err), 0, "a worker's heartbeat is put again");
	is_int(store_heartbeat_list(st, T + 30000, rows, 4, &n, &err), 0, "listed");
	ok(n == 3 && strcmp(rows[0].status, "idle") == 0 && rows[0].last_seen_ms == T + 30000,
	    "its row is replaced, not added (%d rows)", n);

	/* a put deletes the rows stale by the newest put's time */
	one = hb("w-new", T + 70000, "busy", 1);
	is_int(store_heartbeat_put(st, &one, 1, &err), 0, "a heartbeat 70 s later");
	is_str(live(T), "pool-a-w1 w-new", "the rows 70 s old are gone from the table, not only from the list");

	/* bad input writes nothing */
	{
		struct store_heartbeat bad[2] = { hb("w-x", T + 70000, "busy", 0), hb("w-y", T + 70000, "sleepy", 0) };

		is_int(store_heartbeat_put(st, bad, 2, &err), GB_EINVAL, "an unknown status is refused");
		like(err.msg, "status 'sleepy' is not idle, busy, stopping or stopped", "with the status named");
		gb_err_clear(&err);
		is_str(live(T + 70000), "pool-a-w1 w-new", "and nothing of that call is written");
		bad[0] = hb("", T, "idle", 0);
		is_int(store_heartbeat_put(st, bad, 1, &err), GB_EINVAL, "an empty worker_id is refused");
		gb_err_clear(&err);
		bad[0] = hb("w-z", T, "idle", -1);
		is_int(store_heartbeat_put(st, bad, 1, &err), GB_EINVAL, "a negative processing_count is refused");
		gb_err_clear(&err);
	}

	/* delete by prefix: a pool that stopped cleanly */
	{
		struct store_heartbeat pool[3] = {
			hb("pool-c-w1", T + 70000, "stopped", 0), hb("pool-c-w2", T + 70000, "stopped", 0),
			hb("pool-cx-w1", T + 70000, "busy", 1),
		};

		store_heartbeat_put(st, pool, 3, &err);
		is_int(store_heartbeat_delete(st, "pool-c-", &err), 0, "delete the rows of prefix 'pool-c-'");
		is_str(live(T + 70000), "pool-a-w1 pool-cx-w1 w-new", "only those are gone");
		is_int(store_heartbeat_delete(st, "pool_", &err), 0, "a prefix with '_' in it");
		is_str(live(T + 70000), "pool-a-w1 pool-cx-w1 w-new", "matches itself only, not any character");
	}
}

static void
test_stats_exact(void)
{
	struct store_pipeline_stats s;
	struct pipeline_stat rows[20];
	int order[100];

	/* 1..100 ms, added in a scrambled order over the last 100 s */
	for (int i = 0; i < 100; i++)
		order[i] = (i * 37) % 100 + 1;
	store_begin(st, &err);
	for (int i = 0; i < 100; i++)
		if (store_pipeline_stat_add(st, "pipe_a", T - 100000 + i * 1000, order[i], &err))
			tap_bail("add: %s", err.msg);
	is_int(store_commit(st, &err), 0, "100 durations are added inside a transaction");
	is_int(store_pipeline_stats_get(st, "pipe_a", T, &s, &err), 0, "statistics of pipe_a");
	is_int(s.count, 100, "count 100");
	ok(s.mean_ms > 50.49 && s.mean_ms < 50.51, "mean 50.5 (%.3f)", s.mean_ms);
	is_int(s.p50_ms, 50, "p50 is 50 (nearest rank)");
	is_int(s.p95_ms, 95, "p95 is 95");

	for (int i = 1; i <= 20; i++)
		rows[i - 1] = (struct pipeline_stat){ "pipe_b", T - i, i * 10 };
	is_int(store_pipeline_stat_add_many(st, rows, 20, &err), 0, "20 durations of pipe_b in one call");
	store_pipeline_stats_get(st, "pipe_b", T, &s, &err);
	ok(s.count == 20 && s.p50_ms == 100 && s.p95_ms == 190,
	    "10..200 ms: p50 100, p95 190 (%lld, %lld)", (long long)s.p50_ms, (long long)s.p95_ms);
	rows[0].duration_ms = 1;
	rows[1].duration_ms = -1;
	is_int(store_pipeline_stat_add_many(st, rows, 2, &err), GB_EINVAL, "a negative duration refuses the call");
	gb_err_clear(&err);
	store_pipeline_stats_get(st, "pipe_b", T, &s, &err);
	is_int(s.count, 20, "and none of its rows is added");

	store_pipeline_stat_add(st, "pipe_c", T, 7, &err);
	store_pipeline_stats_get(st, "pipe_c", T, &s, &err);
	ok(s.count == 1 && s.mean_ms == 7 && s.p50_ms == 7 && s.p95_ms == 7, "one duration is every percentile");

	is_int(store_pipeline_stats_get(st, "pipe_none", T, &s, &err), 0, "a pipeline with none");
	ok(s.count == 0 && s.mean_ms == 0 && s.p50_ms == 0 && s.p95_ms == 0, "is all zero");

	is_int(store_pipeline_stat_add(st, "", T, 1, &err), GB_EINVAL, "an empty pipeline_id is refused");
	gb_err_clear(&err);
	is_int(store_pipeline_stat_add(st, "pipe_a", T, -1, &err), GB_EINVAL, "a negative duration is refused");
	gb_err_clear(&err);
}

static int
collect(void *arg, const char *id)
{
	char *out = arg;

	snprintf(out + strlen(out), 256 - strlen(out), "%s%s", *out ? " " : "", id);
	return 0;
}

static int
stop_at_first(void *arg, const char *id)
{
	(void)id;
	(*(int *)arg)++;
	return 42;
}

static void
test_stats_window(void)
{
	struct store_pipeline_stats s;
	char ids[256] = "";
	int calls = 0;

	/* the window is (now - 1 day, now] */
	store_pipeline_stat_add(st, "pipe_w", T - DAY, 1000, &err);
	store_pipeline_stat_add(st, "pipe_w", T - DAY + 1, 2000, &err);
	store_pipeline_stat_add(st, "pipe_w", T + 1, 3000, &err);
	store_pipeline_stats_get(st, "pipe_w", T, &s, &err);
	ok(s.count == 1 && s.p50_ms == 2000, "only the duration inside (now - 1 day, now] counts (%lld)",
	    (long long)s.count);
	is_int(store_pipeline_stats_each(st, T, collect, ids, &err), 0, "the pipelines with durations");
	is_str(ids, "pipe_a pipe_b pipe_c pipe_w", "by id");
	ids[0] = '\0';
	store_pipeline_stats_each(st, T + 2 * DAY, collect, ids, &err);
	is_str(ids, "", "none two days later");
	is_int(store_pipeline_stats_each(st, T, stop_at_first, &calls, &err), 42, "fn's non-zero return is returned");
	is_int(calls, 1, "and stops the walk");
}

/* Rows of pipeline_stats in the file, read with SQLite beside the store. */
static int
raw_rows(const char *path)
{
	sqlite3_stmt *s = NULL;
	sqlite3 *h;
	int n = -1;

	if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(h, "SELECT count(*) FROM pipeline_stats", -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(h);
	return n;
}

static void
test_stats_pruning(void)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/prune.db", util_tmpdir());
	if (store_open(&st, path, NULL, &err))
		tap_bail("open: %s", err.msg);
	for (int i = 0; i < 10; i++)
		store_pipeline_stat_add(st, "pipe_p", T + i, 100, &err);
	is_int(raw_rows(path), 10, "10 durations are stored");
	store_pipeline_stat_add(st, "pipe_p", T + DAY - 1000, 100, &err);
	is_int(raw_rows(path), 11, "a day later, all are still in the window");
	store_pipeline_stat_add(st, "pipe_p", T + DAY + 30000, 100, &err);
	is_int(raw_rows(path), 12, "31 s on, the first 10 are out of the window but kept (pruned once a minute)");
	store_pipeline_stat_add(st, "pipe_p", T - DAY, 100, &err);
	is_int(raw_rows(path), 13, "an older duration prunes nothing");
	store_pipeline_stat_add(st, "pipe_p", T + DAY + 59000, 100, &err);
	is_int(raw_rows(path), 3, "a minute after the last pruning, the rows older than the window are pruned");
	store_close(st);
}

int
main(void)
{
	if (store_open(&st, ":memory:", NULL, &err))
		tap_bail("store_open: %s", err.msg);
	test_heartbeats();
	test_stats_exact();
	test_stats_window();
	store_close(st);
	test_stats_pruning();
	return tap_done();
}
