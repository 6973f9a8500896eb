/*
 * heartbeat.c - worker heartbeat rows, in a table created on first use.
 */
#include <stdio.h>
#include <string.h>

#include "heartbeat.h"
#include "internal.h"

#define HB_TABLE "CREATE TABLE IF NOT EXISTS worker_heartbeats (worker_id TEXT PRIMARY KEY NOT NULL, " \
	"last_seen_ms INTEGER NOT NULL, status TEXT NOT NULL, processing_count INTEGER NOT NULL, host TEXT NOT NULL)"

static int
heartbeat_table(struct store *st, struct gb_err *err)
{
	return store_exec(st, HB_TABLE, err);
}

static int
heartbeat_run(struct store *st, const char *sql, sqlite3_stmt **stmt, struct gb_err *err)
{
	if (sqlite3_prepare_v2(st->db, sql, -1, stmt, NULL) != SQLITE_OK)
		return store_sqlerr(st, err, "heartbeats");
	return 0;
}

int
store_heartbeat_put(struct store *st, const struct store_heartbeat *hb, int n, struct gb_err *err)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if ((rc = heartbeat_table(st, err)) || (rc = store_begin(st, err)))
		return rc;
	if ((rc = heartbeat_run(st, "INSERT INTO worker_heartbeats VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT "
	    "(worker_id) DO UPDATE SET last_seen_ms = ?2, status = ?3, processing_count = ?4, host = ?5",
	    &stmt, err)))
		goto out;
	for (int i = 0; i < n && rc == 0; i++) {
		sqlite3_reset(stmt);
		sqlite3_bind_text(stmt, 1, hb[i].worker_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(stmt, 2, hb[i].last_seen_ms);
		sqlite3_bind_text(stmt, 3, hb[i].status, -1, SQLITE_STATIC);
		sqlite3_bind_int(stmt, 4, hb[i].processing_count);
		sqlite3_bind_text(stmt, 5, hb[i].host, -1, SQLITE_STATIC);
		if (sqlite3_step(stmt) != SQLITE_DONE)
			rc = store_sqlerr(st, err, "heartbeat");
	}
	sqlite3_finalize(stmt);
	stmt = NULL;
	if (rc == 0 && n > 0 && (rc = heartbeat_run(st, "DELETE FROM worker_heartbeats WHERE last_seen_ms < ?1",
	    &stmt, err)) == 0) {
		sqlite3_bind_int64(stmt, 1, hb[0].last_seen_ms - HEARTBEAT_TTL_MS);
		if (sqlite3_step(stmt) != SQLITE_DONE)
			rc = store_sqlerr(st, err, "heartbeat prune");
	}
out:
	sqlite3_finalize(stmt);
	if (rc == 0)
		return store_commit(st, err);
	store_rollback(st);
	return rc;
}

int
store_heartbeat_delete(struct store *st, const char *prefix, struct gb_err *err)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if ((rc = heartbeat_table(st, err)) ||
	    (rc = heartbeat_run(st, "DELETE FROM worker_heartbeats WHERE substr(worker_id, 1, length(?1)) = ?1",
	    &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, prefix, -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) != SQLITE_DONE)
		rc = store_sqlerr(st, err, "heartbeat delete");
	sqlite3_finalize(stmt);
	return rc;
}

int
store_heartbeat_list(struct store *st, int64_t now_ms, struct store_heartbeat *out, int max, int *n,
    struct gb_err *err)
{
	sqlite3_stmt *stmt = NULL;
	int rc, s;

	*n = 0;
	if ((rc = heartbeat_table(st, err)) ||
	    (rc = heartbeat_run(st, "SELECT worker_id, last_seen_ms, status, processing_count, host FROM "
	    "worker_heartbeats WHERE last_seen_ms >= ?1 ORDER BY worker_id", &stmt, err)))
		return rc;
	sqlite3_bind_int64(stmt, 1, now_ms - HEARTBEAT_TTL_MS);
	while ((s = sqlite3_step(stmt)) == SQLITE_ROW && *n < max) {
		struct store_heartbeat *h = &out[(*n)++];

		snprintf(h->worker_id, sizeof(h->worker_id), "%s", (const char *)sqlite3_column_text(stmt, 0));
		h->last_seen_ms = sqlite3_column_int64(stmt, 1);
		snprintf(h->status, sizeof(h->status), "%s", (const char *)sqlite3_column_text(stmt, 2));
		h->processing_count = sqlite3_column_int(stmt, 3);
		snprintf(h->host, sizeof(h->host), "%s", (const char *)sqlite3_column_text(stmt, 4));
	}
	if (s != SQLITE_ROW && s != SQLITE_DONE)
		rc = store_sqlerr(st, err, "heartbeats");
	sqlite3_finalize(stmt);
	return rc;
}
