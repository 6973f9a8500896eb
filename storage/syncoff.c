/*
 * syncoff.c - store_sync_disable (syncoff.h): the mark that turns the
 * outbox triggers on set to '0', the outbox and the cluster locks deleted,
 * in one transaction.
 */
#include "internal.h"
#include "outbox.h"
#include "syncoff.h"

#define OFF_OUTBOX_SQL "DELETE FROM outbox"
#define OFF_LOCKS_SQL "DELETE FROM cluster_locks"

/* One DELETE; *n (may be NULL) gets the rows it deleted. */
static int
syncoff_delete(struct store *st, const char *sql, int64_t *n, struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc;

	if ((rc = store_stmt(st, sql, &stmt, err)))
		return rc;
	if (sqlite3_step(stmt) != SQLITE_DONE)
		rc = store_sqlerr(st, err, "turn sync recording off");
	else if (n)
		*n = sqlite3_changes(st->db);
	sqlite3_reset(stmt);
	return rc;
}

int
store_sync_disable(struct store *st, int64_t *dropped, int64_t *locks, struct gb_err *err)
{
	int64_t d = 0, l = 0;
	int rc;

	if (dropped)
		*dropped = 0;
	if (locks)
		*locks = 0;
	if ((rc = store_begin(st, err)))
		return rc;
	if ((rc = store_sync_meta_set(st, "enabled", "0", err)) == 0 &&
	    (rc = syncoff_delete(st, OFF_OUTBOX_SQL, &d, err)) == 0 &&
	    (rc = syncoff_delete(st, OFF_LOCKS_SQL, &l, err)) == 0 &&
	    (rc = store_commit(st, err)) == 0) {
		if (dropped)
			*dropped = d;
		if (locks)
			*locks = l;
		return 0;
	}
	store_rollback(st);
	return rc;
}
