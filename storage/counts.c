/*
 * counts.c - what the dashboard reads without a scan of contexts: counts
 * per organization and status, and completions and failures per minute,
 * both kept by triggers on contexts (migration 3); a batch's pause, and an
 * organization's batches, newest first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/gbtime.h"
#include "internal.h"
#include "listing_internal.h"

#define ORG_COUNTS_SQL "SELECT status, n FROM ctx_counts WHERE organization_id = ?1"
#define ALL_COUNTS_SQL "SELECT status, sum(n) FROM ctx_counts GROUP BY status"

#define ORG_TPUT_SQL \
	"SELECT minute, completed, failed FROM ctx_throughput WHERE organization_id = ?1 " \
	"AND minute >= ?2 AND minute <= ?3"
#define ALL_TPUT_SQL \
	"SELECT minute, sum(completed), sum(failed) FROM ctx_throughput WHERE minute >= ?2 AND " \
	"minute <= ?3 AND ?1 IS NULL GROUP BY minute"
#define TPUT_PRUNE_SQL "DELETE FROM ctx_throughput WHERE minute < ?1"
#define TPUT_KEEP_MS (2 * 86400000LL)

#define BATCH_OF_ORG_SQL "SELECT 1 FROM batches WHERE _id = ?1 AND organization_id = ?2"
#define PAUSE_SQL "INSERT INTO paused_batches VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING"
#define RESUME_SQL "DELETE FROM paused_batches WHERE batch_id = ?1"
#define PAUSED_SQL "SELECT 1 FROM paused_batches WHERE batch_id = ?1"
#define ANY_PAUSED_SQL "SELECT 1 FROM paused_batches WHERE ?1 IS NOT NULL LIMIT 1"

#define BATCH_LIST(idx, cond) \
	"SELECT _id, created_at, json_remove(" BATCH_DOC_EXPR ", '$.context_ids'), " \
	"EXISTS (SELECT 1 FROM paused_batches WHERE batch_id = batches._id) FROM batches INDEXED " \
	"BY " idx \
	" WHERE organization_id = ?1 AND " cond " AND (created_at, _id) < (?3, ?4) " \
	"ORDER BY created_at DESC, _id DESC LIMIT ?5"

int
store_ctx_org_counts(struct store *st, const char *org, int64_t counts[CTX_STATUS_COUNT],
    struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc, step;

	memset(counts, 0, sizeof(int64_t) * CTX_STATUS_COUNT);
	if ((rc = store_stmt(st, org ? ORG_COUNTS_SQL : ALL_COUNTS_SQL, &stmt, err)))
		return rc;
	if (org)
		sqlite3_bind_text(stmt, 1, org, -1, SQLITE_STATIC);
	while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
		int s = ctx_status_from_name((const char *)sqlite3_column_text(stmt, 0));

		if (s >= 0)
			counts[s] += sqlite3_column_int64(stmt, 1);
	}
	if (step != SQLITE_DONE)
		rc = store_sqlerr(st, err, "status counts");
	sqlite3_reset(stmt);
	return rc;
}

/* "YYYY-MM-DDTHH:MM" of ms */
static void
minute_key(int64_t ms, char out[GB_TIME_LEN])
{
	gb_time_format(ms, out);
	out[16] = '\0';
}

int
store_ctx_throughput(struct store *st, const char *org, int64_t now_ms, int minutes,
    struct ctx_minute *out, struct gb_err *err)
{
	char lo[GB_TIME_LEN], hi[GB_TIME_LEN];
	int64_t last, first;
	sqlite3_stmt *stmt;
	int rc, step;

	if (minutes < 1 || minutes > 1440 || now_ms < 0)
		return gb_errf(err, GB_EINVAL, "bad throughput window of %d minutes", minutes);
	last = now_ms - now_ms % 60000;
	first = last - (int64_t)(minutes - 1) * 60000;
	for (int i = 0; i < minutes; i++)
		out[i] = (struct ctx_minute){ first + (int64_t)i * 60000, 0, 0 };
	minute_key(first, lo);
	minute_key(last, hi);
	if ((rc = store_stmt(st, org ? ORG_TPUT_SQL : ALL_TPUT_SQL, &stmt, err)))
		return rc;
	if (org)
		sqlite3_bind_text(stmt, 1, org, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, lo, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, hi, -1, SQLITE_STATIC);
	while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *m = (const char *)sqlite3_column_text(stmt, 0);
		int64_t ms;

		if (m == NULL || gb_time_parse(m, strlen(m), &ms) != 0 || ms < first || ms > last)
			continue;
		out[(ms - first) / 60000].completed += sqlite3_column_int64(stmt, 1);
		out[(ms - first) / 60000].failed += sqlite3_column_int64(stmt, 2);
	}
	if (step != SQLITE_DONE)
		rc = store_sqlerr(st, err, "throughput");
	sqlite3_reset(stmt);
	return rc;
}

int
store_throughput_prune(struct store *st, int64_t now_ms, int *n, struct gb_err *err)
{
	char before[GB_TIME_LEN];
	sqlite3_stmt *stmt;
	int rc;

	minute_key(now_ms - TPUT_KEEP_MS, before);
	if ((rc = store_stmt(st, TPUT_PRUNE_SQL, &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, before, -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) != SQLITE_DONE)
		rc = store_sqlerr(st, err, "prune throughput");
	else if (n)
		*n = sqlite3_changes(st->db);
	sqlite3_reset(stmt);
	return rc;
}

/* Run sql with ?1 a and ?2 b (may be NULL), ?3 c (may be NULL); *row: whether it returned a row. */
static int
run3(struct store *st, const char *sql, const char *a, const char *b, const char *c, int *row,
    struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc, step;

	if ((rc = store_stmt(st, sql, &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, a, -1, SQLITE_STATIC);
	if (b)
		sqlite3_bind_text(stmt, 2, b, -1, SQLITE_STATIC);
	if (c)
		sqlite3_bind_text(stmt, 3, c, -1, SQLITE_STATIC);
	step = sqlite3_step(stmt);
	if (step != SQLITE_ROW && step != SQLITE_DONE)
		rc = store_sqlerr(st, err, "batch pause");
	else if (row)
		*row = step == SQLITE_ROW;
	sqlite3_reset(stmt);
	return rc;
}

int
store_batch_pause(struct store *st, const char *id, const char *org, int paused, int64_t now_ms,
    struct gb_err *err)
{
	char now[GB_TIME_LEN];
	int rc, found = 0;

	if (org == NULL)
		return gb_errf(err, GB_EINVAL, "a pause needs an organization");
	if ((rc = store_begin(st, err)))
		return rc;
	if ((rc = run3(st, BATCH_OF_ORG_SQL, id, org, NULL, &found, err)) == 0 && !found)
		rc = gb_errf(err, GB_ENOTFOUND, "no batch '%s'", id);
	if (rc == 0)
		rc = run3(st, paused ? PAUSE_SQL : RESUME_SQL, id, paused ? org : NULL,
		    paused ? gb_time_format(now_ms, now) : NULL, NULL, err);
	if (rc) {
		store_rollback(st);
		return rc;
	}
	return store_commit(st, err);
}

int
store_batch_paused(struct store *st, const char *id, int *paused, struct gb_err *err)
{
	*paused = 0;
	return run3(st, PAUSED_SQL, id, NULL, NULL, paused, err);
}

int
list_any_paused(struct store *st, int *any, struct gb_err *err)
{
	*any = 0;
	return run3(st, ANY_PAUSED_SQL, "1", NULL, NULL, any, err);
}

int
store_batch_list(struct store *st, const char *org, const char *status, int limit,
    const char *cursor, batch_list_fn fn, void *arg, char next_cursor[LIST_CURSOR_MAX],
    struct gb_err *err)
{
	char hc[LIST_KEY_MAX] = "~", hi[STORE_ID_MAX] = "";
	sqlite3_stmt *stmt;
	int rc, step, n = 0;

	if (limit == 0)
		limit = 50;
	if (org == NULL || limit < 0 || limit > LIST_MAX_LIMIT)
		return gb_errf(err, GB_EINVAL,
		    org ? "bad limit %d: 1 to %d" : "a list needs an organization", limit,
		    LIST_MAX_LIMIT);
	if (status && ctx_status_from_name(status) < 0)
		return gb_errf(err, GB_EINVAL, "bad status '%.32s'", status);
	/* first: cursor may be next_cursor */
	if (cursor && (rc = list_cursor_decode(cursor, hc, hi, err)))
		return rc;
	next_cursor[0] = '\0';
	if ((rc = store_stmt(st, status ? BATCH_LIST("batch_list_status", "status = ?2") :
	    BATCH_LIST("batch_list", "?2 IS NULL"), &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, org, -1, SQLITE_STATIC);
	if (status)
		sqlite3_bind_text(stmt, 2, status, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, hc, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 4, hi, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 5, limit + 1);
	while (rc == 0 && (step = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(stmt, 0);
		const char *created = (const char *)sqlite3_column_text(stmt, 1);

		if (++n > limit) {
			step = SQLITE_DONE;
			break;
		}
		if ((rc = fn(arg, (const char *)sqlite3_column_text(stmt, 2),
		    (size_t)sqlite3_column_bytes(stmt, 2), sqlite3_column_int(stmt, 3))) == 0 &&
		    n == limit)
			rc = list_cursor_encode(created ? created : "", id, next_cursor, err);
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = store_sqlerr(st, err, "list batches");
	sqlite3_reset(stmt);
	if (rc == 0 && n <= limit)
		next_cursor[0] = '\0';
	return rc;
}
