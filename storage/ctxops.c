/*
 * ctxops.c - retry and cancel of one context of an organization, and of
 * every context a filter matches, a chunk per transaction (see listing.h).
 *
 * A retry undoes what the context's end did to its batch: the counter of
 * its end moves back and a batch that had ended runs again. Usage already
 * spent stays counted.
 */
#include <stdio.h>
#include <string.h>

#include "../base/gbtime.h"
#include "internal.h"
#include "listing_internal.h"
#include "queue.h"

/* contexts per transaction of a bulk action */
#define BULK_CHUNK 256

#define CTX_STATE_SQL \
	"SELECT status, batch_id FROM contexts WHERE _id = ?1 AND organization_id = ?2"

#define RETRY_ONE_SQL \
	"UPDATE contexts SET status = 'pending', updated_at = ?2, next_retry_at = NULL, " \
	"worker_id = NULL, " \
	"lease_until = NULL, dirty = 0, doc = json_set(doc, '$.status', 'pending', " \
	"'$.updated_at', ?2, " \
	"'$.next_retry_at', NULL, '$.retry_count', retry_count, '$.error', NULL, " \
	"'$.processing.completed_at', NULL, '$.processing.duration_ms', NULL) " \
	"WHERE _id = ?1 AND status IN ('failed', 'cancelled')"

/* ?2, ?3: 1 when the context had failed, was cancelled */
#define BATCH_UNEND_SQL \
	"UPDATE batches SET failed_count = max(failed_count - ?2, 0), " \
	"cancelled_count = max(cancelled_count - ?3, 0), " \
	"status = CASE WHEN status IN ('completed', 'failed', " \
	"'cancelled') THEN 'processing' ELSE status END, " \
	"processing_completed_at = CASE WHEN status IN ('completed', 'failed', " \
	"'cancelled') THEN NULL ELSE processing_completed_at END, " \
	"total_duration_ms = CASE WHEN status IN ('completed', 'failed', 'cancelled') THEN NULL " \
	"ELSE total_duration_ms END, updated_at = ?4, dirty = 1 WHERE _id = ?1"

/* The status (and batch, when batch is not NULL) of context id of org; GB_ENOTFOUND when none. */
static int
ctx_state(struct store *st, const char *id, const char *org, enum ctx_status *status,
    char batch[STORE_ID_MAX], struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc, step, s = -1;

	if ((rc = store_stmt(st, CTX_STATE_SQL, &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, org, -1, SQLITE_STATIC);
	if (batch)
		batch[0] = '\0';
	if ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *b = (const char *)sqlite3_column_text(stmt, 1);

		s = ctx_status_from_name((const char *)sqlite3_column_text(stmt, 0));
		if (batch && b)
			snprintf(batch, STORE_ID_MAX, "%s", b);
	} else if (step != SQLITE_DONE) {
		rc = store_sqlerr(st, err, "context state");
	}
	sqlite3_reset(stmt);
	if (rc == 0 && step == SQLITE_DONE)
		rc = gb_errf(err, GB_ENOTFOUND, "no context '%s'", id);
	else if (rc == 0 && s < 0)
		rc = gb_errf(err, GB_EIO, "context '%s' has an unknown status", id);
	if (rc == 0)
		*status = (enum ctx_status)s;
	return rc;
}

static int
batch_unend(struct store *st, const char *batch, enum ctx_status was, const char *now,
    struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc;

	if ((rc = store_stmt(st, BATCH_UNEND_SQL, &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, batch, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 2, was == CTX_FAILED);
	sqlite3_bind_int(stmt, 3, was == CTX_CANCELLED);
	sqlite3_bind_text(stmt, 4, now, -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) != SQLITE_DONE)
		rc = store_sqlerr(st, err, "batch counters");
	sqlite3_reset(stmt);
	return rc;
}

static int
retry_in_tx(struct store *st, const char *id, const char *org, const char *now, struct gb_err *err)
{
	char batch[STORE_ID_MAX];
	enum ctx_status was;
	sqlite3_stmt *stmt;
	int rc;

	if ((rc = ctx_state(st, id, org, &was, batch, err)))
		return rc;
	if (was != CTX_FAILED && was != CTX_CANCELLED)
		return gb_errf(err, GB_ESTATE,
		    "context '%s' is %s: only a failed or cancelled one is retried", id,
		    ctx_status_name(was));
	if ((rc = store_stmt(st, RETRY_ONE_SQL, &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, now, -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) != SQLITE_DONE)
		rc = store_sqlerr(st, err, "retry");
	else if (sqlite3_changes(st->db) != 1)
		rc = gb_errf(err, GB_ESTATE, "context '%s' changed while being retried", id);
	sqlite3_reset(stmt);
	if (rc == 0 && batch[0])
		rc = batch_unend(st, batch, was, now, err);
	return rc;
}

int
store_ctx_retry(struct store *st, const char *id, const char *org, int64_t now_ms,
    struct gb_err *err)
{
	char now[GB_TIME_LEN];
	int rc;

	if (org == NULL)
		return gb_errf(err, GB_EINVAL, "a retry needs an organization");
	gb_time_format(now_ms, now);
	if ((rc = store_begin(st, err)))
		return rc;
	if ((rc = retry_in_tx(st, id, org, now, err))) {
		store_rollback(st);
		return rc;
	}
	return store_commit(st, err);
}

int
store_ctx_cancel_org(struct store *st, const char *id, const char *org, int64_t now_ms,
    struct gb_err *err)
{
	enum ctx_status s;
	int rc;

	if (org == NULL)
		return store_ctx_cancel(st, id, now_ms, err);
	if ((rc = store_begin(st, err)))
		return rc;
	if ((rc = ctx_state(st, id, org, &s, NULL, err)) == 0) {
		if (s != CTX_PENDING && s != CTX_PROCESSING)
			rc = gb_errf(err, GB_ESTATE, "context '%s' has already ended (%s)", id,
			    ctx_status_name(s));
		else
			rc = store_ctx_cancel(st, id, now_ms, err);
	}
	if (rc) {
		store_rollback(st);
		return rc;
	}
	return store_commit(st, err);
}

/* Apply the action to the k first rows in one transaction; *changed counts those it changed. */
static int
bulk_chunk(struct store *st, const struct list_plan *p, enum ctx_bulk_action action,
    const struct list_rows *rows, int k, int64_t now_ms, int64_t *changed, struct gb_err *err)
{
	char now[GB_TIME_LEN];
	int rc;

	gb_time_format(now_ms, now);
	if ((rc = store_begin(st, err)))
		return rc;
	for (int i = 0; rc == 0 && i < k; i++) {
		struct gb_err one = { 0, "" };

		if (action == BULK_RETRY)
			rc = retry_in_tx(st, rows->v[i].id, p->org, now, &one);
		else
			rc = store_ctx_cancel_org(st, rows->v[i].id, p->org, now_ms, &one);
		if (rc == 0)
			(*changed)++;
		else if (rc == GB_ESTATE || rc == GB_ENOTFOUND)
			rc = 0;		/* it moved on since it was listed */
		else
			gb_errf(err, rc, "%s", one.msg);
	}
	if (rc) {
		store_rollback(st);
		return rc;
	}
	return store_commit(st, err);
}

int
store_ctx_bulk(struct store *st, const struct ctx_query *filter, enum ctx_bulk_action action,
    int dry_run, int64_t now_ms, int64_t *matched, int64_t *changed, struct gb_err *err)
{
	unsigned applies = action == BULK_RETRY ? (1u << CTX_FAILED | 1u << CTX_CANCELLED) :
	    (1u << CTX_PENDING | 1u << CTX_PROCESSING);
	struct ctx_query q = *filter;
	struct list_plan p;
	int rc, partial, more = 1;

	*matched = *changed = 0;
	q.limit = 0;
	q.cursor = NULL;
	if ((rc = list_plan_init(&p, &q, err)))
		return rc;
	if ((p.statuses = (p.statuses ? p.statuses : applies) & applies) == 0)
		return 0;
	while (rc == 0 && more) {
		struct list_rows rows;
		char stop[LIST_CURSOR_MAX], sc[LIST_KEY_MAX], si[STORE_ID_MAX];
		int k;

		if ((rc = list_collect(st, &p, BULK_CHUNK, LIST_MAX_EXAMINED, &rows, &partial, stop,
		    err)))
			break;
		k = rows.n < BULK_CHUNK ? rows.n : BULK_CHUNK;
		*matched += k;
		if (!dry_run)
			rc = bulk_chunk(st, &p, action, &rows, k, now_ms, changed, err);
		if (rc == 0 && partial && (rc = list_cursor_decode(stop, sc, si, err)) == 0)
			list_plan_below(&p, sc, si);
		else if (rc == 0 && rows.n > BULK_CHUNK)
			list_plan_below(&p, rows.v[k - 1].created_at, rows.v[k - 1].id);
		else
			more = 0;
		list_rows_free(&rows);
	}
	return rc;
}
