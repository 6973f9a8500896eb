/*
 * outbox.c - sync's tables: the outbox the triggers of schema step 5 fill
 * (enable, take, ack, reject, depth), the rejected list, the pull
 * checkpoints, the per-collection status, the cluster locks and sync's own
 * marks. store_sync_apply, the pull's write, is in syncapply.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/gbtime.h"
#include "internal.h"
#include "outbox.h"

#define META_GET_SQL "SELECT value FROM sync_meta WHERE key = ?1"
#define META_SET_SQL \
	"INSERT INTO sync_meta (key, value) VALUES (?1, ?2) " \
	"ON CONFLICT (key) DO UPDATE SET value = excluded.value"

/* what the box holds already, queued once when sync is turned on */
#define ENABLE_QUEUE_SQL(t) \
	"INSERT INTO outbox (coll, doc_id, ver, queued_ms) SELECT '" t "', _id, 1, ?1 " \
	"FROM " t " WHERE 1 ON CONFLICT (coll, doc_id) DO NOTHING"

/*
 * ?1: ",coll,coll," of the collections asked for, NULL for all; a row of a
 * document rejected at this very version is passed over
 */
#define TAKE_SQL \
	"SELECT seq, ver, queued_ms, coll, doc_id FROM outbox o " \
	"WHERE (?1 IS NULL OR instr(?1, ',' || coll || ',') > 0) AND NOT EXISTS " \
	"(SELECT 1 FROM sync_rejected r WHERE r.coll = o.coll AND r.doc_id = o.doc_id " \
	"AND r.seq = o.seq AND r.ver = o.ver) ORDER BY seq LIMIT ?2"

#define ACK_SQL "DELETE FROM outbox WHERE seq = ?1 AND ver = ?2"
#define UNREJECT_SQL "DELETE FROM sync_rejected WHERE coll = ?1 AND doc_id = ?2"
#define REJECT_SQL \
	"INSERT INTO sync_rejected (coll, doc_id, ver, seq, at_ms, error) " \
	"VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (coll, doc_id) DO UPDATE SET " \
	"ver = excluded.ver, seq = excluded.seq, at_ms = excluded.at_ms, error = excluded.error"

#define DEPTH_ALL_SQL "SELECT count(*), min(queued_ms) FROM outbox"
#define DEPTH_COLL_SQL "SELECT count(*), min(queued_ms) FROM outbox WHERE coll = ?1"
#define DEPTH_EACH_SQL "SELECT coll, count(*), min(queued_ms) FROM outbox GROUP BY coll"

/*
 * a refusal on pull: seq and ver 0 match no outbox row; the same refusal
 * again changes nothing (no row changed: not counted twice)
 */
#define PULL_REJECT_SQL \
	"INSERT INTO sync_rejected (coll, doc_id, ver, seq, at_ms, error, direction) " \
	"VALUES (?1, ?2, 0, 0, ?3, ?4, 'pull') ON CONFLICT (coll, doc_id) DO UPDATE SET " \
	"ver = 0, seq = 0, at_ms = excluded.at_ms, error = excluded.error, direction = 'pull' " \
	"WHERE direction <> 'pull' OR error <> excluded.error"

#define REJECTED_SQL \
	"SELECT coll, doc_id, at_ms, error, direction = 'pull' FROM sync_rejected " \
	"ORDER BY at_ms DESC, coll, doc_id LIMIT ?1"
#define REJECTED_COUNT_SQL "SELECT count(*) FROM sync_rejected"

#define CP_GET_SQL "SELECT updated_at, doc_id, pulled FROM sync_checkpoint WHERE coll = ?1"
#define CP_SET_SQL \
	"INSERT INTO sync_checkpoint (coll, updated_at, doc_id, pulled) VALUES (?1, ?2, ?3, ?4) " \
	"ON CONFLICT (coll) DO UPDATE SET updated_at = excluded.updated_at, " \
	"doc_id = excluded.doc_id, pulled = excluded.pulled"
#define CP_RESET_SQL "DELETE FROM sync_checkpoint WHERE coll = ?1"

/* store_sync_note: ?1 coll, ?2 n, ?3 now, ?4 error; each uses what it needs */
#define NOTE_HEAD "INSERT INTO sync_status (coll, "
#define NOTE_TAIL " ON CONFLICT (coll) DO UPDATE SET "
static const char *const note_sql[] = {
	[SYNC_PUSHED] = NOTE_HEAD "pushed, last_push_ms) VALUES (?1, ?2, ?3)" NOTE_TAIL
	    "pushed = pushed + excluded.pushed, last_push_ms = excluded.last_push_ms",
	[SYNC_PULLED] = NOTE_HEAD "pulled, last_pull_ms) VALUES (?1, ?2, ?3)" NOTE_TAIL
	    "pulled = pulled + excluded.pulled, last_pull_ms = excluded.last_pull_ms",
	[SYNC_CONFLICT] = NOTE_HEAD "conflicts) VALUES (?1, ?2)" NOTE_TAIL
	    "conflicts = conflicts + excluded.conflicts",
	[SYNC_REJECTED] = NOTE_HEAD "rejected) VALUES (?1, ?2)" NOTE_TAIL
	    "rejected = rejected + excluded.rejected",
	[SYNC_ERROR] = NOTE_HEAD "last_error_ms, last_error) VALUES (?1, ?3, ?4)" NOTE_TAIL
	    "last_error_ms = excluded.last_error_ms, last_error = excluded.last_error",
	[SYNC_OK] = NOTE_HEAD "last_error_ms) VALUES (?1, 0)" NOTE_TAIL
	    "last_error_ms = 0, last_error = NULL",
	[SYNC_PULL_ERROR] = NOTE_HEAD "pull_error_ms, pull_error) VALUES (?1, ?3, ?4)" NOTE_TAIL
	    "pull_error_ms = excluded.pull_error_ms, pull_error = excluded.pull_error",
	[SYNC_PULL_OK] = NOTE_HEAD "pull_error_ms) VALUES (?1, 0)" NOTE_TAIL
	    "pull_error_ms = 0, pull_error = NULL",
	[SYNC_UNDATED] = NOTE_HEAD "undated) VALUES (?1, ?2)" NOTE_TAIL
	    "undated = excluded.undated",
};

#define STATUS_SQL \
	"SELECT coll, pushed, pulled, conflicts, rejected, last_push_ms, last_pull_ms, " \
	"last_error_ms, last_error, pull_error_ms, pull_error, undated FROM sync_status"
#define CP_ALL_SQL "SELECT coll, updated_at, doc_id, pulled FROM sync_checkpoint"

#define LOCK_ADD_SQL \
	"INSERT INTO cluster_locks (ctx_id, worker_id, taken_ms) VALUES (?1, ?2, ?3) " \
	"ON CONFLICT (ctx_id) DO UPDATE SET worker_id = excluded.worker_id, " \
	"taken_ms = excluded.taken_ms"
#define LOCK_DEL_SQL "DELETE FROM cluster_locks WHERE ctx_id = ?1"
#define LOCK_LIST_SQL \
	"SELECT ctx_id, worker_id, taken_ms FROM cluster_locks ORDER BY taken_ms, ctx_id LIMIT ?1"

static int
bad_coll(int c, struct gb_err *err)
{
	return gb_errf(err, GB_EINVAL, "sync: unknown collection %d", c);
}

/* One statement that returns no row. */
static int
run_done(struct store *st, sqlite3_stmt *stmt, const char *what, struct gb_err *err)
{
	int rc = sqlite3_step(stmt) == SQLITE_DONE ? 0 : store_sqlerr(st, err, what);

	sqlite3_reset(stmt);
	return rc;
}

int
store_sync_meta_get(struct store *st, const char *key, char *val, size_t size, int *found,
    struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc, step;

	*found = 0;
	if (size)
		val[0] = '\0';
	if ((rc = store_stmt(st, META_GET_SQL, &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
	if ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
		*found = 1;
		if (size)
			store_copy_text(val, size, sqlite3_column_text(stmt, 0));
	} else if (step != SQLITE_DONE) {
		rc = store_sqlerr(st, err, "sync mark");
	}
	sqlite3_reset(stmt);
	return rc;
}

int
store_sync_meta_set(struct store *st, const char *key, const char *val, struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc;

	if ((rc = store_stmt(st, META_SET_SQL, &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, val, -1, SQLITE_STATIC);
	return run_done(st, stmt, "sync mark", err);
}

int
store_sync_clock_skew(struct store *st, int64_t *skew_ms, int *known, struct gb_err *err)
{
	char v[32], *end;
	int rc, found = 0;
	long long n;

	*skew_ms = 0;
	*known = 0;
	if ((rc = store_sync_meta_get(st, "clock_skew_ms", v, sizeof(v), &found, err)) || !found)
		return rc;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno == 0 && end != v && *end == '\0') {
		*skew_ms = n;
		*known = 1;
	}
	return 0;
}

int
store_sync_enabled(struct store *st, int *on, struct gb_err *err)
{
	char v[8];
	int found, rc;

	*on = 0;
	if ((rc = store_sync_meta_get(st, "enabled", v, sizeof(v), &found, err)))
		return rc;
	*on = found && strcmp(v, "1") == 0;
	return 0;
}

/* Queue every document of one table not queued yet; *n += how many. */
static int
enable_queue(struct store *st, const char *sql, int64_t now_ms, int64_t *n, struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc;

	if ((rc = store_stmt(st, sql, &stmt, err)))
		return rc;
	sqlite3_bind_int64(stmt, 1, now_ms);
	if ((rc = run_done(st, stmt, "queue for sync", err)) == 0)
		*n += sqlite3_changes(st->db);
	return rc;
}

int
store_sync_enable(struct store *st, int64_t *queued, struct gb_err *err)
{
	int64_t n = 0, now = gb_now_ms();
	int rc, on;

	if (queued)
		*queued = 0;
	if ((rc = store_begin(st, err)))
		return rc;
	if ((rc = store_sync_enabled(st, &on, err)) == 0 && !on &&
	    (rc = store_sync_meta_set(st, "enabled", "1", err)) == 0 &&
	    (rc = enable_queue(st, ENABLE_QUEUE_SQL("contexts"), now, &n, err)) == 0)
		rc = enable_queue(st, ENABLE_QUEUE_SQL("batches"), now, &n, err);
	if (rc == 0 && (rc = store_commit(st, err)) == 0) {
		if (queued)
			*queued = n;
		return 0;
	}
	store_rollback(st);
	return rc;
}

void
store_outbox_rows_free(struct outbox_row *rows, int n)
{
	for (int i = 0; rows && i < n; i++) {
		free(rows[i].doc);
		rows[i].doc = NULL;
		rows[i].len = 0;
	}
}

/* ",contexts,batches," for mask into out; 0 when mask asks for all */
static int
mask_list(unsigned mask, char *out, size_t size)
{
	size_t at = 0;

	out[0] = '\0';
	if ((mask & ((1u << COLL_COUNT) - 1)) == 0)
		return 0;
	for (int c = 0; c < COLL_COUNT; c++)
		if (mask & (1u << c))
			at += (size_t)snprintf(out + at, size - at, ",%s", coll_name(c));
	snprintf(out + at, size - at, ",");
	return 1;
}

/* The rows of TAKE_SQL into rows, without their documents. */
static int
take_rows(struct store *st, unsigned mask, int max, struct outbox_row *rows, int *n,
    struct gb_err *err)
{
	char list[128];
	sqlite3_stmt *stmt;
	int rc, step = SQLITE_DONE;

	if ((rc = store_stmt(st, TAKE_SQL, &stmt, err)))
		return rc;
	if (mask_list(mask, list, sizeof(list)))
		sqlite3_bind_text(stmt, 1, list, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 2, max);
	while (*n < max && (step = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct outbox_row *r = &rows[*n];
		int c = coll_from_name((const char *)sqlite3_column_text(stmt, 3));

		if (c < 0)
			continue;	/* a collection this binary does not know */
		memset(r, 0, sizeof(*r));
		r->seq = sqlite3_column_int64(stmt, 0);
		r->ver = sqlite3_column_int64(stmt, 1);
		r->queued_ms = sqlite3_column_int64(stmt, 2);
		r->coll = (enum coll)c;
		store_copy_text(r->id, sizeof(r->id), sqlite3_column_text(stmt, 4));
		(*n)++;
	}
	if (*n < max && step != SQLITE_DONE)
		rc = store_sqlerr(st, err, "outbox");
	sqlite3_reset(stmt);
	return rc;
}

/* The document of r as it is now, in Extended JSON; NULL when it is gone. */
static int
take_doc(struct store *st, struct outbox_row *r, struct gb_err *err)
{
	char *doc = NULL;
	int rc;

	if ((rc = store_get(st, r->coll, r->id, &doc, err)) == GB_ENOTFOUND) {
		gb_err_clear(err);
		return 0;
	}
	if (rc == 0)
		rc = doc_to_extjson(st, r->coll, doc, strlen(doc), &r->doc, err);
	free(doc);
	if (rc == 0)
		r->len = strlen(r->doc);
	return rc;
}

int
store_outbox_take(struct store *st, unsigned mask, int max, struct outbox_row *rows, int *n,
    struct gb_err *err)
{
	int rc;

	*n = 0;
	if (max <= 0)
		return 0;
	if ((rc = take_rows(st, mask, max, rows, n, err)))
		return rc;
	for (int i = 0; i < *n; i++)
		if ((rc = take_doc(st, &rows[i], err))) {
			store_outbox_rows_free(rows, i + 1);
			*n = 0;
			return rc;
		}
	return 0;
}

/* Delete row when its version is the one taken. */
static int
outbox_drop(struct store *st, const struct outbox_row *row, struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc;

	if ((rc = store_stmt(st, ACK_SQL, &stmt, err)))
		return rc;
	sqlite3_bind_int64(stmt, 1, row->seq);
	sqlite3_bind_int64(stmt, 2, row->ver);
	return run_done(st, stmt, "outbox", err);
}

int
store_outbox_ack(struct store *st, const struct outbox_row *rows, int n, struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc;

	if (n <= 0)
		return 0;
	if ((rc = store_begin(st, err)))
		return rc;
	for (int i = 0; rc == 0 && i < n; i++) {
		if ((unsigned)rows[i].coll >= COLL_COUNT) {
			rc = bad_coll((int)rows[i].coll, err);
			break;
		}
		if ((rc = outbox_drop(st, &rows[i], err)) ||
		    (rc = store_stmt(st, UNREJECT_SQL, &stmt, err)))
			break;
		sqlite3_bind_text(stmt, 1, coll_name(rows[i].coll), -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 2, rows[i].id, -1, SQLITE_STATIC);
		rc = run_done(st, stmt, "rejected list", err);
	}
	if (rc == 0 && (rc = store_commit(st, err)) == 0)
		return 0;
	store_rollback(st);
	return rc;
}

int
store_outbox_reject(struct store *st, const struct outbox_row *row, const char *error,
    struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc;

	if ((unsigned)row->coll >= COLL_COUNT)
		return bad_coll((int)row->coll, err);
	if ((rc = store_begin(st, err)))
		return rc;
	if ((rc = store_stmt(st, REJECT_SQL, &stmt, err)) == 0) {
		sqlite3_bind_text(stmt, 1, coll_name(row->coll), -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 2, row->id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(stmt, 3, row->ver);
		sqlite3_bind_int64(stmt, 4, row->seq);
		sqlite3_bind_int64(stmt, 5, gb_now_ms());
		sqlite3_bind_text(stmt, 6, error ? error : "", -1, SQLITE_STATIC);
		rc = run_done(st, stmt, "rejected list", err);
	}
	if (rc == 0 && (rc = outbox_drop(st, row, err)) == 0 && (rc = store_commit(st, err)) == 0)
		return 0;
	store_rollback(st);
	return rc;
}

int
store_outbox_depth(struct store *st, int coll, int64_t *depth, int64_t *oldest_ms,
    struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc;

	*depth = 0;
	if (oldest_ms)
		*oldest_ms = 0;
	if (coll >= COLL_COUNT || coll < -1)
		return bad_coll(coll, err);
	if ((rc = store_stmt(st, coll < 0 ? DEPTH_ALL_SQL : DEPTH_COLL_SQL, &stmt, err)))
		return rc;
	if (coll >= 0)
		sqlite3_bind_text(stmt, 1, coll_name(coll), -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) == SQLITE_ROW) {
		*depth = sqlite3_column_int64(stmt, 0);
		if (oldest_ms)
			*oldest_ms = sqlite3_column_int64(stmt, 1);	/* NULL reads as 0 */
	} else {
		rc = store_sqlerr(st, err, "outbox depth");
	}
	sqlite3_reset(stmt);
	return rc;
}

int
store_rejected_list(struct store *st, struct rejected_doc *out, int max, int *n, int64_t *total,
    struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc, step;

	*n = 0;
	if (total)
		*total = 0;
	if ((rc = store_stmt(st, REJECTED_SQL, &stmt, err)))
		return rc;
	sqlite3_bind_int(stmt, 1, max > 0 ? max : 0);
	while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
		int c = coll_from_name((const char *)sqlite3_column_text(stmt, 0));

		if (c < 0)
			continue;
		out[*n].coll = (enum coll)c;
		store_copy_text(out[*n].id, sizeof(out[*n].id), sqlite3_column_text(stmt, 1));
		out[*n].at_ms = sqlite3_column_int64(stmt, 2);
		store_copy_text(out[*n].error, sizeof(out[*n].error), sqlite3_column_text(stmt, 3));
		out[*n].pull = sqlite3_column_int(stmt, 4);
		(*n)++;
	}
	if (step != SQLITE_DONE)
		rc = store_sqlerr(st, err, "rejected list");
	sqlite3_reset(stmt);
	if (rc || total == NULL || (rc = store_stmt(st, REJECTED_COUNT_SQL, &stmt, err)))
		return rc;
	if (sqlite3_step(stmt) == SQLITE_ROW)
		*total = sqlite3_column_int64(stmt, 0);
	else
		rc = store_sqlerr(st, err, "rejected list");
	sqlite3_reset(stmt);
	return rc;
}

int
store_pull_reject(struct store *st, enum coll c, const char *id, const char *error,
    int64_t now_ms, struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc, changed = 0;

	if ((unsigned)c >= COLL_COUNT)
		return bad_coll((int)c, err);
	if (id == NULL)
		return gb_errf(err, GB_EINVAL, "rejected list: no _id");
	if ((rc = store_begin(st, err)))
		return rc;
	if ((rc = store_stmt(st, PULL_REJECT_SQL, &stmt, err)) == 0) {
		sqlite3_bind_text(stmt, 1, coll_name(c), -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 2, id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(stmt, 3, now_ms);
		sqlite3_bind_text(stmt, 4, error ? error : "refused on pull", -1, SQLITE_STATIC);
		if ((rc = run_done(st, stmt, "rejected list", err)) == 0)
			changed = sqlite3_changes(st->db) > 0;
	}
	if (rc == 0 && changed)
		rc = store_sync_note(st, c, SYNC_REJECTED, 1, NULL, now_ms, err);
	if (rc == 0)
		st->pull_rejected = 1;	/* a page's later apply of it looks again */
	if (rc == 0 && (rc = store_commit(st, err)) == 0)
		return 0;
	store_rollback(st);
	return rc;
}

/* A checkpoint row's columns from col on into cp. */
static void
cp_read(sqlite3_stmt *stmt, int col, struct pull_checkpoint *cp)
{
	store_copy_text(cp->updated_at, sizeof(cp->updated_at), sqlite3_column_text(stmt, col));
	store_copy_text(cp->id, sizeof(cp->id), sqlite3_column_text(stmt, col + 1));
	cp->pulled = sqlite3_column_int64(stmt, col + 2);
}

int
store_checkpoint_get(struct store *st, enum coll c, struct pull_checkpoint *cp,
    struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc, step;

	memset(cp, 0, sizeof(*cp));
	if ((unsigned)c >= COLL_COUNT)
		return bad_coll((int)c, err);
	if ((rc = store_stmt(st, CP_GET_SQL, &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, coll_name(c), -1, SQLITE_STATIC);
	if ((step = sqlite3_step(stmt)) == SQLITE_ROW)
		cp_read(stmt, 0, cp);
	else if (step != SQLITE_DONE)
		rc = store_sqlerr(st, err, "checkpoint");
	sqlite3_reset(stmt);
	return rc;
}

int
store_checkpoint_set(struct store *st, enum coll c, const struct pull_checkpoint *cp,
    struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc;

	if ((unsigned)c >= COLL_COUNT)
		return bad_coll((int)c, err);
	if ((rc = store_stmt(st, CP_SET_SQL, &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, coll_name(c), -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, cp->updated_at, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, cp->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 4, cp->pulled);
	return run_done(st, stmt, "checkpoint", err);
}

int
store_checkpoint_reset(struct store *st, enum coll c, struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc;

	if ((unsigned)c >= COLL_COUNT)
		return bad_coll((int)c, err);
	if ((rc = store_stmt(st, CP_RESET_SQL, &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, coll_name(c), -1, SQLITE_STATIC);
	return run_done(st, stmt, "checkpoint", err);
}

int
store_sync_note(struct store *st, enum coll c, enum sync_event ev, int64_t n, const char *error,
    int64_t now_ms, struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc, np;

	if ((unsigned)c >= COLL_COUNT)
		return bad_coll((int)c, err);
	if ((unsigned)ev > SYNC_UNDATED)
		return gb_errf(err, GB_EINVAL, "sync status: unknown event %d", (int)ev);
	if (n < 0)
		return gb_errf(err, GB_EINVAL, "sync status: negative count %lld", (long long)n);
	if ((rc = store_stmt(st, note_sql[ev], &stmt, err)))
		return rc;
	np = sqlite3_bind_parameter_count(stmt);
	sqlite3_bind_text(stmt, 1, coll_name(c), -1, SQLITE_STATIC);
	if (np >= 2)
		sqlite3_bind_int64(stmt, 2, n);
	if (np >= 3)
		sqlite3_bind_int64(stmt, 3, now_ms);
	if (np >= 4)
		sqlite3_bind_text(stmt, 4, error ? error : "error", -1, SQLITE_STATIC);
	return run_done(st, stmt, "sync status", err);
}

/* The sync_status rows into out. */
static int
status_rows(struct store *st, struct sync_coll_status *out, struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc, step;

	if ((rc = store_stmt(st, STATUS_SQL, &stmt, err)))
		return rc;
	while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
		int c = coll_from_name((const char *)sqlite3_column_text(stmt, 0));
		struct sync_coll_status *s;

		if (c < 0)
			continue;
		s = &out[c];
		s->pushed = sqlite3_column_int64(stmt, 1);
		s->pulled = sqlite3_column_int64(stmt, 2);
		s->conflicts = sqlite3_column_int64(stmt, 3);
		s->rejected = sqlite3_column_int64(stmt, 4);
		s->last_push_ms = sqlite3_column_int64(stmt, 5);
		s->last_pull_ms = sqlite3_column_int64(stmt, 6);
		s->last_error_ms = sqlite3_column_int64(stmt, 7);
		store_copy_text(s->last_error, sizeof(s->last_error), sqlite3_column_text(stmt, 8));
		/* the newer of the push's and the pull's errors */
		if (sqlite3_column_int64(stmt, 9) > s->last_error_ms) {
			s->last_error_ms = sqlite3_column_int64(stmt, 9);
			store_copy_text(s->last_error, sizeof(s->last_error),
			    sqlite3_column_text(stmt, 10));
			s->last_error_pull = 1;
		}
		s->undated = sqlite3_column_int64(stmt, 11);
	}
	if (step != SQLITE_DONE)
		rc = store_sqlerr(st, err, "sync status");
	sqlite3_reset(stmt);
	return rc;
}

/* The checkpoints (cp) or the outbox depths (!cp) of every collection into out. */
static int
status_each(struct store *st, int cp, struct sync_coll_status *out, struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc, step;

	if ((rc = store_stmt(st, cp ? CP_ALL_SQL : DEPTH_EACH_SQL, &stmt, err)))
		return rc;
	while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
		int c = coll_from_name((const char *)sqlite3_column_text(stmt, 0));

		if (c < 0)
			continue;
		if (cp) {
			cp_read(stmt, 1, &out[c].checkpoint);
		} else {
			out[c].outbox_depth = sqlite3_column_int64(stmt, 1);
			out[c].outbox_oldest_ms = sqlite3_column_int64(stmt, 2);
		}
	}
	if (step != SQLITE_DONE)
		rc = store_sqlerr(st, err, "sync status");
	sqlite3_reset(stmt);
	return rc;
}

int
store_sync_status(struct store *st, struct sync_coll_status out[COLL_COUNT],
    struct gb_err *err)
{
	int rc;

	memset(out, 0, sizeof(*out) * COLL_COUNT);
	if ((rc = status_rows(st, out, err)) == 0 && (rc = status_each(st, 1, out, err)) == 0)
		rc = status_each(st, 0, out, err);
	return rc;
}

int
store_cluster_lock_add(struct store *st, const char *ctx_id, const char *worker_id,
    int64_t now_ms, struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc;

	if (ctx_id == NULL || *ctx_id == '\0' || worker_id == NULL)
		return gb_errf(err, GB_EINVAL, "cluster lock: no context or worker");
	if ((rc = store_stmt(st, LOCK_ADD_SQL, &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, ctx_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, worker_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, now_ms);
	return run_done(st, stmt, "cluster lock", err);
}

int
store_cluster_lock_remove(struct store *st, const char *ctx_id, struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc;

	if ((rc = store_stmt(st, LOCK_DEL_SQL, &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, ctx_id, -1, SQLITE_STATIC);
	return run_done(st, stmt, "cluster lock", err);
}

int
store_cluster_lock_list(struct store *st, struct cluster_lock *out, int max, int *n,
    struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc, step;

	*n = 0;
	if ((rc = store_stmt(st, LOCK_LIST_SQL, &stmt, err)))
		return rc;
	sqlite3_bind_int(stmt, 1, max > 0 ? max : 0);
	while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
		store_copy_text(out[*n].ctx_id, sizeof(out[*n].ctx_id), sqlite3_column_text(stmt, 0));
		store_copy_text(out[*n].worker_id, sizeof(out[*n].worker_id),
		    sqlite3_column_text(stmt, 1));
		out[*n].taken_ms = sqlite3_column_int64(stmt, 2);
		(*n)++;
	}
	if (step != SQLITE_DONE)
		rc = store_sqlerr(st, err, "cluster locks");
	sqlite3_reset(stmt);
	return rc;
}
