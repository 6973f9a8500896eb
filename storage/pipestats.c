/*
 * pipestats.c - durations per pipeline in a sliding window of one day:
 * add (with pruning now and then), count, mean and percentiles, the
 * pipelines that have any.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "pipestats.h"

#define PRUNE_EVERY_MS 60000

#define PS_ADD_MANY_SQL \
	"INSERT INTO pipeline_stats (pipeline_id, at_ms, duration_ms) " \
	"SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each(?1)"
#define PS_PRUNE_SQL "DELETE FROM pipeline_stats WHERE at_ms <= ?1"
#define PS_SUMMARY_SQL \
	"SELECT count(*), avg(duration_ms) FROM pipeline_stats WHERE pipeline_id = ?1 AND at_ms " \
	"> ?2 AND at_ms <= ?3"
#define PS_RANK_SQL \
	"SELECT duration_ms FROM pipeline_stats WHERE pipeline_id = ?1 AND at_ms > ?2 AND at_ms " \
	"<= ?3 ORDER BY duration_ms LIMIT 1 OFFSET ?4"
#define PS_IDS_SQL \
	"SELECT DISTINCT pipeline_id FROM pipeline_stats WHERE at_ms > ?1 AND at_ms <= ?2 ORDER " \
	"BY pipeline_id"

#define PS_ROWS_SQL \
	"SELECT rowid, pipeline_id, at_ms, duration_ms FROM pipeline_stats WHERE rowid > " \
	"(CASE WHEN ?1 > (SELECT coalesce(max(rowid), 0) FROM pipeline_stats) THEN 0 ELSE ?1 END) " \
	"ORDER BY rowid LIMIT ?2"

/* t - PIPELINE_STATS_WINDOW_MS without overflow */
static int64_t
window_start(int64_t t)
{
	return t < INT64_MIN + PIPELINE_STATS_WINDOW_MS ? INT64_MIN : t - PIPELINE_STATS_WINDOW_MS;
}

/* One statement with no rows to read. */
static int
ps_run(struct store *st, sqlite3_stmt *stmt, const char *what, struct gb_err *err)
{
	int rc = sqlite3_step(stmt) == SQLITE_DONE ? 0 : store_sqlerr(st, err, what);

	sqlite3_reset(stmt);
	return rc;
}

static int
ps_check(const char *pipeline_id, int64_t duration_ms, struct gb_err *err)
{
	if (pipeline_id == NULL || *pipeline_id == '\0')
		return gb_errf(err, GB_EINVAL, "pipeline statistics: pipeline_id is empty");
	if (duration_ms < 0)
		return gb_errf(err, GB_EINVAL, "pipeline statistics of '%s': negative duration",
		    pipeline_id);
	return 0;
}

/* Drop what left the window, at most once a minute of at_ms; an older duration never prunes. */
static int
ps_prune(struct store *st, int64_t at_ms, struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc;

	if (st->pstats_pruned && (at_ms < st->pstats_pruned_ms ||
	    (uint64_t)at_ms - (uint64_t)st->pstats_pruned_ms < PRUNE_EVERY_MS))
		return 0;
	if ((rc = store_stmt(st, PS_PRUNE_SQL, &stmt, err)))
		return rc;
	sqlite3_bind_int64(stmt, 1, window_start(at_ms));
	if ((rc = ps_run(st, stmt, "pipeline statistics pruning", err)))
		return rc;
	st->pstats_pruned = 1;
	st->pstats_pruned_ms = at_ms;
	return 0;
}

/* rows as PS_ADD_MANY_SQL's list (malloc'd), or NULL; integers printed exactly */
static char *
ps_list(const struct pipeline_stat *rows, int n)
{
	cJSON *list = cJSON_CreateArray();
	char *text;

	for (int i = 0; list && i < n; i++) {
		cJSON *row = cJSON_CreateArray();
		char at[24], dur[24];

		snprintf(at, sizeof(at), "%lld", (long long)rows[i].at_ms);
		snprintf(dur, sizeof(dur), "%lld", (long long)rows[i].duration_ms);
		cJSON_AddItemToArray(list, row);
		cJSON_AddItemToArray(row, cJSON_CreateString(rows[i].pipeline_id));
		cJSON_AddItemToArray(row, cJSON_CreateRaw(at));
		cJSON_AddItemToArray(row, cJSON_CreateRaw(dur));
	}
	text = list ? cJSON_PrintUnformatted(list) : NULL;
	cJSON_Delete(list);
	return text;
}

int
store_pipeline_stat_add_many(struct store *st, const struct pipeline_stat *rows, int n,
    struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int64_t last = INT64_MIN;
	char *list;
	int rc;

	for (int i = 0; i < n; i++) {
		if ((rc = ps_check(rows[i].pipeline_id, rows[i].duration_ms, err)))
			return rc;
		if (rows[i].at_ms > last)
			last = rows[i].at_ms;
	}
	if (n <= 0)
		return 0;
	if ((list = ps_list(rows, n)) == NULL)
		return gb_errf(err, GB_ENOMEM, "out of memory");
	if ((rc = store_stmt(st, PS_ADD_MANY_SQL, &stmt, err)) == 0) {
		sqlite3_bind_text(stmt, 1, list, -1, SQLITE_STATIC);
		rc = ps_run(st, stmt, "pipeline statistics", err);
	}
	free(list);
	return rc ? rc : ps_prune(st, last, err);
}

int
store_pipeline_stat_add(struct store *st, const char *pipeline_id, int64_t at_ms,
    int64_t duration_ms, struct gb_err *err)
{
	struct pipeline_stat row = { pipeline_id, at_ms, duration_ms };

	return store_pipeline_stat_add_many(st, &row, 1, err);
}

/* The duration at 0-based rank k (by duration) in the window. */
static int
ps_rank(struct store *st, const char *pipeline_id, int64_t now_ms, int64_t k, int64_t *out,
    struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc, step;

	if ((rc = store_stmt(st, PS_RANK_SQL, &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, pipeline_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, window_start(now_ms));
	sqlite3_bind_int64(stmt, 3, now_ms);
	sqlite3_bind_int64(stmt, 4, k);
	if ((step = sqlite3_step(stmt)) == SQLITE_ROW)
		*out = sqlite3_column_int64(stmt, 0);
	else if (step != SQLITE_DONE)
		rc = store_sqlerr(st, err, "pipeline statistics");
	sqlite3_reset(stmt);
	return rc;
}

/* Nearest rank, 0-based: ceil(pct / 100 * n) - 1. */
static int64_t
nearest_rank(int64_t n, int pct)
{
	int64_t r = (n * pct + 99) / 100 - 1;

	return r < 0 ? 0 : r;
}

int
store_pipeline_stats_get(struct store *st, const char *pipeline_id, int64_t now_ms,
    struct store_pipeline_stats *out, struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = store_stmt(st, PS_SUMMARY_SQL, &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, pipeline_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, window_start(now_ms));
	sqlite3_bind_int64(stmt, 3, now_ms);
	if (sqlite3_step(stmt) == SQLITE_ROW) {
		out->count = sqlite3_column_int64(stmt, 0);
		out->mean_ms = out->count ? sqlite3_column_double(stmt, 1) : 0;
	} else {
		rc = store_sqlerr(st, err, "pipeline statistics");
	}
	sqlite3_reset(stmt);
	if (rc || out->count == 0)
		return rc;
	if ((rc = ps_rank(st, pipeline_id, now_ms, nearest_rank(out->count, 50), &out->p50_ms,
	    err)) == 0)
		rc = ps_rank(st, pipeline_id, now_ms, nearest_rank(out->count, 95), &out->p95_ms,
		    err);
	return rc;
}

int
store_pipeline_stats_each(struct store *st, int64_t now_ms,
    int (*fn)(void *arg, const char *pipeline_id), void *arg, struct gb_err *err)
{
	char **ids = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *stmt;
	int rc, step;

	if ((rc = store_stmt(st, PS_IDS_SQL, &stmt, err)))
		return rc;
	sqlite3_bind_int64(stmt, 1, window_start(now_ms));
	sqlite3_bind_int64(stmt, 2, now_ms);
	while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (n == cap) {
			char **p = realloc(ids, sizeof(*ids) * (cap = cap ? cap * 2 : 16));

			if (p == NULL) {
				rc = gb_errf(err, GB_ENOMEM, "out of memory");
				break;
			}
			ids = p;
		}
		if ((ids[n] = strdup((const char *)sqlite3_column_text(stmt, 0))) == NULL) {
			rc = gb_errf(err, GB_ENOMEM, "out of memory");
			break;
		}
		n++;
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = store_sqlerr(st, err, "pipeline statistics");
	sqlite3_reset(stmt);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = fn(arg, ids[i]);
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	return rc;
}

int
store_pipeline_stat_rows(struct store *st, int64_t after_rowid, int max,
    struct pipeline_stat_row *out, int *n, struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc, step;

	*n = 0;
	if (max <= 0)
		return 0;
	if ((rc = store_stmt(st, PS_ROWS_SQL, &stmt, err)))
		return rc;
	sqlite3_bind_int64(stmt, 1, after_rowid);
	sqlite3_bind_int(stmt, 2, max);
	while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct pipeline_stat_row *r = &out[(*n)++];

		r->rowid = sqlite3_column_int64(stmt, 0);
		snprintf(r->pipeline_id, sizeof(r->pipeline_id), "%s",
		    (const char *)sqlite3_column_text(stmt, 1));
		r->at_ms = sqlite3_column_int64(stmt, 2);
		r->duration_ms = sqlite3_column_int64(stmt, 3);
	}
	if (step != SQLITE_DONE)
		rc = store_sqlerr(st, err, "pipeline statistics");
	sqlite3_reset(stmt);
	return rc;
}
