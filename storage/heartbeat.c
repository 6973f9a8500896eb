/*
 * heartbeat.c - worker heartbeats as rows: put (with expiry of the stale
 * ones), delete by prefix, list the live ones.
 */
#include <stdio.h>
#include <string.h>

#include "heartbeat.h"
#include "internal.h"

#define HB_PUT_SQL \
	"INSERT OR REPLACE INTO worker_heartbeats (worker_id, last_seen_ms, status, " \
	"processing_count, host) VALUES (?1, ?2, ?3, ?4, ?5)"
#define HB_EXPIRE_SQL "DELETE FROM worker_heartbeats WHERE last_seen_ms < ?1"
#define HB_DELETE_SQL "DELETE FROM worker_heartbeats WHERE substr(worker_id, 1, length(?1)) = ?1"
#define HB_LIST_SQL \
	"SELECT worker_id, last_seen_ms, status, processing_count, host FROM worker_heartbeats " \
	"WHERE last_seen_ms >= ?1 ORDER BY worker_id LIMIT ?2"

/* t - HEARTBEAT_TTL_MS without overflow */
static int64_t
ttl_before(int64_t t)
{
	return t < INT64_MIN + HEARTBEAT_TTL_MS ? INT64_MIN : t - HEARTBEAT_TTL_MS;
}

static const char *const hb_statuses[] = { "idle", "busy", "stopping", "stopped", NULL };

/* The length of a fixed-size text field, or -1 when it is not NUL-terminated. */
static int
field_len(const char *s, size_t size)
{
	const char *nul = memchr(s, '\0', size);

	return nul ? (int)(nul - s) : -1;
}

static int
heartbeat_check(const struct store_heartbeat *hb, struct gb_err *err)
{
	int ok = 0;

	if (field_len(hb->worker_id, sizeof(hb->worker_id)) <= 0)
		return gb_errf(err, GB_EINVAL, "heartbeat: worker_id is empty or too long");
	if (field_len(hb->host, sizeof(hb->host)) < 0)
		return gb_errf(err, GB_EINVAL, "heartbeat of '%s': host is too long",
		    hb->worker_id);
	if (field_len(hb->status, sizeof(hb->status)) > 0)
		for (int i = 0; hb_statuses[i]; i++)
			ok |= strcmp(hb->status, hb_statuses[i]) == 0;
	if (!ok)
		return gb_errf(err, GB_EINVAL,
		    "heartbeat of '%s': status '%.15s' is not idle, busy, stopping "
		    "or stopped",
		    hb->worker_id, field_len(hb->status, sizeof(hb->status)) < 0 ? "" : hb->status);
	if (hb->processing_count < 0)
		return gb_errf(err, GB_EINVAL,
		    "heartbeat of '%s': processing_count must not be negative", hb->worker_id);
	return 0;
}

static int
heartbeat_write(struct store *st, const struct store_heartbeat *hb, struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc;

	if ((rc = store_stmt(st, HB_PUT_SQL, &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, hb->worker_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, hb->last_seen_ms);
	sqlite3_bind_text(stmt, 3, hb->status, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 4, hb->processing_count);
	sqlite3_bind_text(stmt, 5, hb->host, -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) != SQLITE_DONE)
		rc = store_sqlerr(st, err, "heartbeat");
	sqlite3_reset(stmt);
	return rc;
}

int
store_heartbeat_put(struct store *st, const struct store_heartbeat *hb, int n, struct gb_err *err)
{
	int64_t newest = INT64_MIN;
	sqlite3_stmt *stmt;
	int rc;

	for (int i = 0; i < n; i++) {
		if ((rc = heartbeat_check(&hb[i], err)))
			return rc;
		if (hb[i].last_seen_ms > newest)
			newest = hb[i].last_seen_ms;
	}
	if (n <= 0)
		return 0;
	if ((rc = store_begin(st, err)))
		return rc;
	for (int i = 0; i < n; i++)
		if ((rc = heartbeat_write(st, &hb[i], err)))
			goto fail;
	if ((rc = store_stmt(st, HB_EXPIRE_SQL, &stmt, err)))
		goto fail;
	sqlite3_bind_int64(stmt, 1, ttl_before(newest));
	if (sqlite3_step(stmt) != SQLITE_DONE)
		rc = store_sqlerr(st, err, "heartbeat expiry");
	sqlite3_reset(stmt);
	if (rc)
		goto fail;
	return store_commit(st, err);
fail:
	store_rollback(st);
	return rc;
}

int
store_heartbeat_delete(struct store *st, const char *prefix, struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc;

	if ((rc = store_stmt(st, HB_DELETE_SQL, &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, prefix, -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) != SQLITE_DONE)
		rc = store_sqlerr(st, err, "heartbeat delete");
	sqlite3_reset(stmt);
	return rc;
}

int
store_heartbeat_list(struct store *st, int64_t now_ms, struct store_heartbeat *out, int max, int *n,
    struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc, step;

	*n = 0;
	if (max <= 0)
		return 0;
	if ((rc = store_stmt(st, HB_LIST_SQL, &stmt, err)))
		return rc;
	sqlite3_bind_int64(stmt, 1, ttl_before(now_ms));
	sqlite3_bind_int(stmt, 2, max);
	while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct store_heartbeat *hb = &out[(*n)++];
		const char *host = (const char *)sqlite3_column_text(stmt, 4);

		memset(hb, 0, sizeof(*hb));
		snprintf(hb->worker_id, sizeof(hb->worker_id), "%s",
		    (const char *)sqlite3_column_text(stmt, 0));
		hb->last_seen_ms = sqlite3_column_int64(stmt, 1);
		snprintf(hb->status, sizeof(hb->status), "%s",
		    (const char *)sqlite3_column_text(stmt, 2));
		hb->processing_count = sqlite3_column_int(stmt, 3);
		snprintf(hb->host, sizeof(hb->host), "%s", host ? host : "");
	}
	if (step != SQLITE_DONE)
		rc = store_sqlerr(st, err, "heartbeats");
	sqlite3_reset(stmt);
	return rc;
}
