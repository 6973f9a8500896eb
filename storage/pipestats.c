/*
 * pipestats.c - pipeline durations of the last day, in a table created on
 * first use.
 */
#include <stdio.h>

#include "internal.h"
#include "pipestats.h"

#define PS_TABLE "CREATE TABLE IF NOT EXISTS pipeline_stats (pipeline_id TEXT NOT NULL, " \
	"at_ms INTEGER NOT NULL, duration_ms INTEGER NOT NULL); " \
	"CREATE INDEX IF NOT EXISTS pipeline_stats_at ON pipeline_stats (pipeline_id, at_ms)"

static int
pipestats_prepare(struct store *st, const char *sql, sqlite3_stmt **stmt, struct gb_err *err)
{
	int rc;

	if ((rc = store_exec(st, PS_TABLE, err)))
		return rc;
	if (sqlite3_prepare_v2(st->db, sql, -1, stmt, NULL) != SQLITE_OK)
		return store_sqlerr(st, err, "pipeline stats");
	return 0;
}

int
store_pipeline_stat_add(struct store *st, const char *pipeline_id, int64_t at_ms, int64_t duration_ms,
    struct gb_err *err)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if ((rc = pipestats_prepare(st, "INSERT INTO pipeline_stats VALUES (?1, ?2, ?3)", &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, pipeline_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, at_ms);
	sqlite3_bind_int64(stmt, 3, duration_ms);
	if (sqlite3_step(stmt) != SQLITE_DONE)
		rc = store_sqlerr(st, err, "pipeline stats");
	sqlite3_finalize(stmt);
	if (rc == 0 && (rc = pipestats_prepare(st, "DELETE FROM pipeline_stats WHERE pipeline_id = ?1 AND at_ms < ?2",
	    &stmt, err)) == 0) {
		sqlite3_bind_text(stmt, 1, pipeline_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(stmt, 2, at_ms - PIPELINE_STATS_WINDOW_MS);
		if (sqlite3_step(stmt) != SQLITE_DONE)
			rc = store_sqlerr(st, err, "pipeline stats");
		sqlite3_finalize(stmt);
	}
	return rc;
}

/* The duration at rank k (0-based) in ascending order of the window. */
static int
pipestats_rank(struct store *st, const char *pipeline_id, int64_t since, int64_t k, int64_t *out,
    struct gb_err *err)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if ((rc = pipestats_prepare(st, "SELECT duration_ms FROM pipeline_stats WHERE pipeline_id = ?1 AND "
	    "at_ms >= ?2 ORDER BY duration_ms LIMIT 1 OFFSET ?3", &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, pipeline_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, since);
	sqlite3_bind_int64(stmt, 3, k);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		*out = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return 0;
}

int
store_pipeline_stats_get(struct store *st, const char *pipeline_id, int64_t now_ms,
    struct store_pipeline_stats *out, struct gb_err *err)
{
	sqlite3_stmt *stmt = NULL;
	int64_t since = now_ms - PIPELINE_STATS_WINDOW_MS;
	int rc;

	out->count = 0;
	out->mean_ms = 0;
	out->p50_ms = out->p95_ms = 0;
	if ((rc = pipestats_prepare(st, "SELECT count(*), avg(duration_ms) FROM pipeline_stats WHERE "
	    "pipeline_id = ?1 AND at_ms >= ?2", &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, pipeline_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, since);
	if (sqlite3_step(stmt) == SQLITE_ROW) {
		out->count = sqlite3_column_int64(stmt, 0);
		out->mean_ms = sqlite3_column_double(stmt, 1);
	} else {
		rc = store_sqlerr(st, err, "pipeline stats");
	}
	sqlite3_finalize(stmt);
	if (rc == 0 && out->count > 0 &&
	    (rc = pipestats_rank(st, pipeline_id, since, (out->count - 1) / 2, &out->p50_ms, err)) == 0)
		rc = pipestats_rank(st, pipeline_id, since, (out->count * 95 + 99) / 100 - 1, &out->p95_ms, err);
	return rc;
}

int
store_pipeline_stats_each(struct store *st, int64_t now_ms, int (*fn)(void *arg, const char *pipeline_id),
    void *arg, struct gb_err *err)
{
	sqlite3_stmt *stmt = NULL;
	int rc, s;

	if ((rc = pipestats_prepare(st, "SELECT DISTINCT pipeline_id FROM pipeline_stats WHERE at_ms >= ?1 "
	    "ORDER BY pipeline_id", &stmt, err)))
		return rc;
	sqlite3_bind_int64(stmt, 1, now_ms - PIPELINE_STATS_WINDOW_MS);
	while (rc == 0 && (s = sqlite3_step(stmt)) == SQLITE_ROW)
		rc = fn(arg, (const char *)sqlite3_column_text(stmt, 0));
	if (rc == 0 && s != SQLITE_DONE)
		rc = store_sqlerr(st, err, "pipeline stats");
	sqlite3_finalize(stmt);
	return rc;
}
