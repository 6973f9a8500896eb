/*
 * access.c - the schema's access patterns on contexts: worker polling, a
 * user's history, a batch's status summary; counts per status and the
 * catalog generation. Each access pattern is one cached statement served
 * by one index (store_explain shows which).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/gbtime.h"
#include "access.h"
#include "internal.h"

#define USER_RECENT_SQL \
	"SELECT " CTX_DOC_EXPR " FROM contexts WHERE user_id = ?1 AND organization_id = ?2 " \
	"ORDER BY created_at DESC LIMIT ?3"

#define BATCH_SUMMARY_SQL \
	"SELECT status, count(*) FROM contexts WHERE batch_id = ?1 GROUP BY status"

int
store_ctx_poll(struct store *st, const char *org, int64_t now_ms, int limit,
    char (*ids)[STORE_ID_MAX], int *n, struct gb_err *err)
{
	char now[GB_TIME_LEN];
	sqlite3_stmt *stmt;
	int rc, step;

	*n = 0;
	if ((rc = store_stmt(st, POLL_ORG_SQL, &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, org, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, gb_time_format(now_ms, now), -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 3, limit);
	while ((step = sqlite3_step(stmt)) == SQLITE_ROW && *n < limit) {
		const char *id = (const char *)sqlite3_column_text(stmt, 0);

		snprintf(ids[*n], STORE_ID_MAX, "%s", id ? id : "");
		(*n)++;
	}
	if (step != SQLITE_DONE && step != SQLITE_ROW)
		rc = store_sqlerr(st, err, "poll");
	sqlite3_reset(stmt);
	return rc;
}

int
store_ctx_user_recent(struct store *st, const char *user, const char *org, int limit,
    store_doc_fn fn, void *arg, struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc, step;

	if ((rc = store_stmt(st, USER_RECENT_SQL, &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, org, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 3, limit);
	while ((step = sqlite3_step(stmt)) == SQLITE_ROW)
		if ((rc = fn(arg, (const char *)sqlite3_column_text(stmt, 0),
		    (size_t)sqlite3_column_bytes(stmt, 0))))
			break;
	if (rc == 0 && step != SQLITE_DONE)
		rc = store_sqlerr(st, err, "user history");
	sqlite3_reset(stmt);
	return rc;
}

int
store_batch_summary(struct store *st, const char *batch_id, int64_t counts[CTX_STATUS_COUNT],
    struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc, step;

	memset(counts, 0, sizeof(int64_t) * CTX_STATUS_COUNT);
	if ((rc = store_stmt(st, BATCH_SUMMARY_SQL, &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, batch_id, -1, SQLITE_STATIC);
	while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
		int s = ctx_status_from_name((const char *)sqlite3_column_text(stmt, 0));

		if (s >= 0)
			counts[s] = sqlite3_column_int64(stmt, 1);
	}
	if (step != SQLITE_DONE)
		rc = store_sqlerr(st, err, "batch summary");
	sqlite3_reset(stmt);
	return rc;
}

int
store_explain(struct store *st, const char *pattern, char **plan, struct gb_err *err)
{
	static const struct { const char *name, *sql; } patterns[] = {
		{ "poll", POLL_ORG_SQL },
		{ "user_recent", USER_RECENT_SQL },
		{ "batch_summary", BATCH_SUMMARY_SQL },
		{ "status_update", CTX_END_UPDATE },
		{ "claim", CLAIM_SQL },
	};
	sqlite3_stmt *stmt = NULL;
	char sql[2048];
	size_t len = 0, cap = 1024;
	int rc = 0;

	*plan = NULL;
	for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
		if (strcmp(patterns[i].name, pattern) != 0)
			continue;
		snprintf(sql, sizeof(sql), "EXPLAIN QUERY PLAN %s", patterns[i].sql);
		if (sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL) != SQLITE_OK)
			return store_sqlerr(st, err, "explain");
		if ((*plan = calloc(1, cap)) == NULL) {
			sqlite3_finalize(stmt);
			return gb_errf(err, GB_ENOMEM, "out of memory");
		}
		while (sqlite3_step(stmt) == SQLITE_ROW) {
			const char *row = (const char *)sqlite3_column_text(stmt, 3);
			size_t n = strlen(row);

			if (len + n + 2 > cap) {
				char *p = realloc(*plan, cap = (len + n + 2) * 2);

				if (p == NULL) {
					rc = gb_errf(err, GB_ENOMEM, "out of memory");
					break;
				}
				*plan = p;
			}
			memcpy(*plan + len, row, n);
			len += n;
			(*plan)[len++] = '\n';
			(*plan)[len] = '\0';
		}
		sqlite3_finalize(stmt);
		if (rc) {
			free(*plan);
			*plan = NULL;
		}
		return rc;
	}
	return gb_errf(err, GB_EINVAL, "unknown access pattern '%s'", pattern);
}

int
store_ctx_status_counts(struct store *st, int64_t counts[CTX_STATUS_COUNT], struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc, step;

	memset(counts, 0, sizeof(int64_t) * CTX_STATUS_COUNT);
	/* the counter rows the triggers of contexts keep (migration 3): no scan */
	if ((rc = store_stmt(st, "SELECT status, sum(n) FROM ctx_counts GROUP BY status", &stmt,
	    err)))
		return rc;
	while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
		int s = ctx_status_from_name((const char *)sqlite3_column_text(stmt, 0));

		if (s >= 0)
			counts[s] = sqlite3_column_int64(stmt, 1);
	}
	if (step != SQLITE_DONE)
		rc = store_sqlerr(st, err, "status counts");
	sqlite3_reset(stmt);
	return rc;
}

int
store_ctx_count_created(struct store *st, const char *org, int64_t since_ms,
    const char *except_batch, int64_t *n, struct gb_err *err)
{
	sqlite3_stmt *stmt;
	char since[GB_TIME_LEN];
	int rc;

	*n = 0;
	if ((rc = store_stmt(st, "SELECT count(*) FROM contexts WHERE organization_id = ?1 "
	    "AND created_at >= ?2 AND (?3 IS NULL OR batch_id IS NOT ?3)", &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, org, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, gb_time_format(since_ms, since), -1, SQLITE_STATIC);
	if (except_batch)
		sqlite3_bind_text(stmt, 3, except_batch, -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		*n = sqlite3_column_int64(stmt, 0);
	else
		rc = store_sqlerr(st, err, "count contexts created");
	sqlite3_reset(stmt);
	return rc;
}

int
store_batch_pipeline(struct store *st, const char *batch_id, char out[STORE_ID_MAX],
    struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc, step;

	out[0] = '\0';
	if ((rc = store_stmt(st,
	    "SELECT json_type(doc), doc ->> '$.pipeline_id' FROM batches WHERE _id = ?1",
	    &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, batch_id, -1, SQLITE_STATIC);
	if ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *type = (const char *)sqlite3_column_text(stmt, 0);
		const char *pid = (const char *)sqlite3_column_text(stmt, 1);

		if (type == NULL || strcmp(type, "object") != 0)
			rc = gb_errf(err, GB_EIO, "stored batch '%s' is not a JSON object",
			    batch_id);
		else if (pid && sqlite3_column_type(stmt, 1) == SQLITE_TEXT)
			snprintf(out, STORE_ID_MAX, "%s", pid);
	} else if (step == SQLITE_DONE) {
		rc = gb_errf(err, GB_ENOTFOUND, "no such batch '%s'", batch_id);
	} else {
		rc = store_sqlerr(st, err, "batch pipeline");
	}
	sqlite3_reset(stmt);
	return rc;
}

int
store_catalog_gen(struct store *st, int64_t *gen, struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc;

	if ((rc = store_stmt(st, "SELECT value FROM meta WHERE key = 'catalog_gen'", &stmt, err)))
		return rc;
	if (sqlite3_step(stmt) == SQLITE_ROW)
		*gen = sqlite3_column_int64(stmt, 0);
	else
		rc = store_sqlerr(st, err, "catalog generation");
	sqlite3_reset(stmt);
	return rc;
}
