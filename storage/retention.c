/*
 * retention.c - candidates for the archive, and their deletion.
 *
 * The candidates of a collection are read through the (status, created_at)
 * index one UTC day at a time. A delete never trusts what was read before:
 * each row is read again inside the delete's transaction, and goes only if
 * it is still a candidate and its document hashes to what was archived. The
 * transactions are small (delete_batch rows), so workers and the API wait
 * for one of them at most. Deletes of contexts and batches are not queued
 * for sync (the outbox triggers ignore them): the cluster keeps its copy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "internal.h"
#include "outbox.h"
#include "retention.h"

#define RETENTION_BATCH_DEFAULT 500
#define VACUUM_SLICE_PAGES 2048		/* pages given back per statement */

#define TERMINAL "status IN ('completed', 'failed', 'cancelled')"
/* ?S: sync enabled; then only what the cluster holds */
#define SYNCED(t, s) \
	"(" s " = 0 OR (NOT EXISTS (SELECT 1 FROM outbox WHERE coll = '" t "' AND " \
	"doc_id = " t "._id) AND NOT EXISTS (SELECT 1 FROM sync_rejected WHERE coll = '" t \
	"' AND doc_id = " t "._id AND direction = 'push')))"

#define DAYS_SQL(t) \
	"SELECT DISTINCT substr(created_at, 1, 10) FROM " t " WHERE " TERMINAL \
	" AND created_at < ?1 AND " SYNCED(t, "?2") " ORDER BY 1"
#define EACH_SQL(t, expr) \
	"SELECT _id, " expr " FROM " t " WHERE " TERMINAL " AND created_at >= ?1 " \
	"AND created_at < ?2 AND " SYNCED(t, "?3") " ORDER BY _id"
#define RECHECK_SQL(t, expr) \
	"SELECT " expr " FROM " t " WHERE _id = ?1 AND " TERMINAL " AND " SYNCED(t, "?2")

static const struct retention_sql {
	const char *days, *each, *recheck, *del;
} retention_sql[2] = {
	{ DAYS_SQL("contexts"), EACH_SQL("contexts", CTX_DOC_EXPR),
	  RECHECK_SQL("contexts", CTX_DOC_EXPR), "DELETE FROM contexts WHERE _id = ?1" },
	{ DAYS_SQL("batches"), EACH_SQL("batches", BATCH_DOC_EXPR),
	  RECHECK_SQL("batches", BATCH_DOC_EXPR), "DELETE FROM batches WHERE _id = ?1" },
};

void
store_sha256(const void *data, size_t len, unsigned char md[32])
{
	unsigned int n = 32;

	if (!EVP_Digest(data, len, md, &n, EVP_sha256(), NULL))
		memset(md, 0, 32);
}

static int
retention_pick(enum coll c, const struct retention_sql **out, struct gb_err *err)
{
	if (c == COLL_CONTEXTS)
		*out = &retention_sql[0];
	else if (c == COLL_BATCHES)
		*out = &retention_sql[1];
	else
		return gb_errf(err, GB_EINVAL,
		    "retention applies to contexts and batches, not '%s'",
		    coll_name(c) ? coll_name(c) : "?");
	return 0;
}

int
store_retention_days(struct store *st, enum coll c, const char *cutoff,
    char (**days)[RETENTION_DAY_LEN], int *n, struct gb_err *err)
{
	const struct retention_sql *q = NULL;
	char (*v)[RETENTION_DAY_LEN] = NULL, (*nv)[RETENTION_DAY_LEN];
	sqlite3_stmt *stmt = NULL;
	int rc, on = 0, cap = 0, x;

	*days = NULL;
	*n = 0;
	if ((rc = retention_pick(c, &q, err)) || (rc = store_sync_enabled(st, &on, err)) ||
	    (rc = store_stmt(st, q->days, &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, cutoff, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 2, on);
	while ((x = sqlite3_step(stmt)) == SQLITE_ROW) {
		const unsigned char *d = sqlite3_column_text(stmt, 0);

		if (d == NULL || strlen((const char *)d) != RETENTION_DAY_LEN - 1)
			continue;	/* not a date: never a candidate of a day */
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			if ((nv = realloc(v, (size_t)cap * sizeof(*v))) == NULL) {
				rc = gb_errf(err, GB_ENOMEM, "out of memory");
				goto out;
			}
			v = nv;
		}
		memcpy(v[(*n)++], d, RETENTION_DAY_LEN);
	}
	if (x != SQLITE_DONE)
		rc = store_sqlerr(st, err, "reading the days past retention");
out:
	sqlite3_reset(stmt);
	if (rc) {
		free(v);
		*n = 0;
		return rc;
	}
	*days = v;
	return 0;
}

/* The day after day ("YYYY-MM-DD"), by the calendar. */
static int
retention_next_day(const char *day, char next[RETENTION_DAY_LEN], struct gb_err *err)
{
	struct tm tm;
	time_t t;
	char *end;

	memset(&tm, 0, sizeof(tm));
	end = strptime(day, "%Y-%m-%d", &tm);
	if (end == NULL || *end != '\0')
		return gb_errf(err, GB_EINVAL, "'%s' is not a day (YYYY-MM-DD)", day);
	t = timegm(&tm) + 86400;
	gmtime_r(&t, &tm);
	strftime(next, RETENTION_DAY_LEN, "%Y-%m-%d", &tm);
	return 0;
}

int
store_retention_each(struct store *st, enum coll c, const char *day, const char *cutoff,
    store_retention_fn fn, void *arg, struct gb_err *err)
{
	const struct retention_sql *q = NULL;
	char next[RETENTION_DAY_LEN];
	sqlite3_stmt *stmt = NULL;
	int rc, on = 0, x;

	if ((rc = retention_pick(c, &q, err)) || (rc = retention_next_day(day, next, err)) ||
	    (rc = store_sync_enabled(st, &on, err)) || (rc = store_stmt(st, q->each, &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, day, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, strcmp(next, cutoff) < 0 ? next : cutoff, -1,
	    SQLITE_TRANSIENT);
	sqlite3_bind_int(stmt, 3, on);
	while ((x = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(stmt, 0);
		const char *doc = (const char *)sqlite3_column_text(stmt, 1);

		if (id == NULL || doc == NULL)
			continue;
		if ((rc = fn(arg, id, doc, (size_t)sqlite3_column_bytes(stmt, 1))))
			break;
	}
	if (rc == 0 && x != SQLITE_DONE)
		rc = store_sqlerr(st, err, "reading the documents past retention");
	sqlite3_reset(stmt);
	return rc;
}

/* One row, inside the caller's transaction: deleted (*gone 1) or kept. */
static int
retention_delete_one(struct store *st, const struct retention_sql *q, int on,
    const struct retention_row *row, int *gone, struct gb_err *err)
{
	sqlite3_stmt *stmt = NULL;
	unsigned char md[32];
	int rc = 0, x, same = 0;

	*gone = 0;
	if ((rc = store_stmt(st, q->recheck, &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, row->id, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 2, on);
	if ((x = sqlite3_step(stmt)) == SQLITE_ROW) {
		const void *doc = sqlite3_column_text(stmt, 0);

		store_sha256(doc ? doc : "", doc ? (size_t)sqlite3_column_bytes(stmt, 0) : 0, md);
		same = memcmp(md, row->sha256, sizeof(md)) == 0;
	} else if (x != SQLITE_DONE) {
		rc = store_sqlerr(st, err, "reading a document past retention again");
	}
	sqlite3_reset(stmt);
	if (rc || !same)
		return rc;
	if ((rc = store_stmt(st, q->del, &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, row->id, -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) != SQLITE_DONE)
		rc = store_sqlerr(st, err, "deleting a document past retention");
	else
		*gone = sqlite3_changes(st->db) > 0;
	sqlite3_reset(stmt);
	return rc;
}

int
store_retention_delete(struct store *st, enum coll c, const struct retention_row *rows,
    size_t n, int batch, int (*stopping)(void *arg), void *arg, int64_t *deleted,
    int64_t *kept, struct gb_err *err)
{
	const struct retention_sql *q = NULL;
	int64_t del = 0, keep = 0;
	int rc, on = 0, gone;

	if (batch <= 0)
		batch = RETENTION_BATCH_DEFAULT;
	if ((rc = retention_pick(c, &q, err)))
		return rc;
	for (size_t i = 0; i < n && rc == 0; ) {
		int64_t d = 0;
		size_t end = i + (size_t)batch < n ? i + (size_t)batch : n;

		if (i > 0 && stopping && stopping(arg)) {
			rc = gb_errf(err, GB_ESTATE, "stopped after deleting %zu of %zu %s (the "
			    "next run deletes the rest)", i, n, coll_name(c));
			break;
		}
		if ((rc = store_begin(st, err)))
			break;
		/* read inside the transaction: sync may have been enabled meanwhile */
		rc = store_sync_enabled(st, &on, err);
		for (size_t j = i; j < end && rc == 0; j++)
			if ((rc = retention_delete_one(st, q, on, &rows[j], &gone, err)) == 0)
				d += gone;
		if (rc == 0 && (rc = store_commit(st, err)) == 0) {
			del += d;
			keep += (int64_t)(end - i) - d;
		}
		if (rc)
			store_rollback(st);
		i = end;
	}
	if (deleted)
		*deleted = del;
	if (kept)
		*kept = keep;
	return rc;
}

/* An integer PRAGMA's value. */
static int
retention_pragma(struct store *st, const char *sql, int64_t *v, struct gb_err *err)
{
	sqlite3_stmt *stmt = NULL;
	int rc = 0;

	*v = 0;
	if (sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL) != SQLITE_OK)
		return store_sqlerr(st, err, sql);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		*v = sqlite3_column_int64(stmt, 0);
	else
		rc = store_sqlerr(st, err, sql);
	sqlite3_finalize(stmt);
	return rc;
}

int
store_retention_vacuum(struct store *st, int64_t *freed, struct gb_err *err)
{
	char sql[64];
	int64_t mode, before, left, total = 0;
	int rc;

	if (freed)
		*freed = 0;
	if ((rc = retention_pragma(st, "PRAGMA auto_vacuum", &mode, err)) || mode != 2)
		return rc;
	if ((rc = retention_pragma(st, "PRAGMA freelist_count", &before, err)))
		return rc;
	snprintf(sql, sizeof(sql), "PRAGMA incremental_vacuum(%d)", VACUUM_SLICE_PAGES);
	for (left = before; left > 0; ) {
		int64_t now;

		if ((rc = store_exec(st, sql, err)) ||
		    (rc = retention_pragma(st, "PRAGMA freelist_count", &now, err)))
			break;
		if (now >= left)
			break;		/* nothing more given back */
		total += left - now;
		left = now;
	}
	if (freed)
		*freed = total;
	return rc;
}
