/*
 * docmigrate.c - the registry of document migrations and their runner
 * (docmigrate.h).
 *
 * A migration is three SQL texts over its collection's table: the next
 * batch of selected _ids after a checkpoint, the count of them, and the
 * rewrite of one document. The rewrite repeats the selector in its WHERE,
 * so a document changed since it was selected (or migrated already) is
 * left alone: a migration changes a document at most once. Documents are
 * edited with SQLite's JSON functions, so every other value keeps its
 * exact text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/gbtime.h"
#include "internal.h"
#include "docmigrate.h"
#include "jobs.h"

/*
 * component_timings: the schema's example. Completed contexts that have
 * processing.completed_components (any value, as MongoDB's $exists) but no
 * processing.component_timings get a timing of 0 per completed component
 * (each distinct string of the array, in its order; {} for anything else).
 */
#define TIMINGS_WHERE TIMINGS_WHERE_ON("status")
/* +status: a batch walks the _id index from its checkpoint, never the status index */
#define TIMINGS_WHERE_ON(status) \
	status " = 'completed' " \
	"AND json_type(doc, '$.processing.completed_components') IS NOT NULL " \
	"AND json_type(doc, '$.processing.component_timings') IS NULL"
#define TIMINGS_VALUE \
	"json((SELECT json_group_object(value, 0) FROM (SELECT value FROM " \
	"json_each(contexts.doc, '$.processing.completed_components') WHERE type = 'text' " \
	"AND json_type(contexts.doc, '$.processing.completed_components') = 'array' " \
	"GROUP BY value ORDER BY min(key))))"
/* a new updated_at: now, or 1 ms past the old one when that is not earlier (?2 now) */
#define NEW_UPDATED_AT \
	"(CASE WHEN updated_at IS NOT NULL AND updated_at >= ?2 " \
	"THEN COALESCE(strftime('%Y-%m-%dT%H:%M:%fZ', updated_at, '+0.001 seconds'), ?2) " \
	"ELSE ?2 END)"

struct docmig {
	struct docmig_info info;
	const char *next_sql;		/* ?1 after _id, ?2 limit: the next batch's _ids */
	const char *count_sql;		/* ?1 after _id: how many are selected */
	const char *update_sql;		/* ?1 _id, ?2 now (ISO): one document */
};

static const struct docmig docmigs[] = {
	{ { "component_timings", "completed contexts get processing.component_timings, "
	    "0 for each completed component", COLL_CONTEXTS },
	  "SELECT _id FROM contexts WHERE _id > ?1 AND " TIMINGS_WHERE_ON("+status")
	  " ORDER BY _id LIMIT ?2",
	  "SELECT count(*) FROM contexts WHERE _id > ?1 AND " TIMINGS_WHERE,
	  "UPDATE contexts SET updated_at = " NEW_UPDATED_AT ", "
	  "doc = json_set(" CTX_DOC_EXPR ", '$.processing.component_timings', " TIMINGS_VALUE
	  ", '$.updated_at', " NEW_UPDATED_AT "), dirty = 0 WHERE _id = ?1 AND " TIMINGS_WHERE },
};

#define NDOCMIGS ((int)(sizeof(docmigs) / sizeof(docmigs[0])))

#define STATE_SQL "SELECT done, last_id, migrated, started_ms, finished_ms " \
	"FROM doc_migrations WHERE name = ?1"
/* a pass begins: a new row, or a finished one starts over from the first _id */
#define PASS_SQL "INSERT INTO doc_migrations (name, started_ms) VALUES (?1, ?2) " \
	"ON CONFLICT (name) DO UPDATE SET done = 0, last_id = '', started_ms = ?2, " \
	"finished_ms = 0 WHERE done = 1"
#define CHECKPOINT_SQL "UPDATE doc_migrations SET last_id = ?2, migrated = migrated + ?3 " \
	"WHERE name = ?1"
#define DONE_SQL "UPDATE doc_migrations SET done = 1, finished_ms = ?2 WHERE name = ?1"

int
store_docmig_count(void)
{
	return NDOCMIGS;
}

const struct docmig_info *
store_docmig_at(int i)
{
	return i >= 0 && i < NDOCMIGS ? &docmigs[i].info : NULL;
}

static const struct docmig *
docmig_lookup(const char *name)
{
	for (int i = 0; name && i < NDOCMIGS; i++)
		if (strcmp(docmigs[i].info.name, name) == 0)
			return &docmigs[i];
	return NULL;
}

const struct docmig_info *
store_docmig_find(const char *name)
{
	const struct docmig *m = docmig_lookup(name);

	return m ? &m->info : NULL;
}

/* Levenshtein distance of a and b (b at most DOCMIG_NAME_MAX bytes are looked at). */
static int
docmig_distance(const char *a, const char *b)
{
	int row[DOCMIG_NAME_MAX + 1], lb = (int)strnlen(b, DOCMIG_NAME_MAX);

	for (int j = 0; j <= lb; j++)
		row[j] = j;
	for (int i = 1; a[i - 1] && i <= 4 * DOCMIG_NAME_MAX; i++) {
		int diag = row[0];

		row[0] = i;
		for (int j = 1; j <= lb; j++) {
			int up = row[j], best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diag = up;
			row[j] = best;
		}
	}
	return row[lb];
}

const char *
store_docmig_nearest(const char *name)
{
	const char *best = docmigs[0].info.name;
	int bestd = -1;

	for (int i = 0; name && i < NDOCMIGS; i++) {
		int d = docmig_distance(name, docmigs[i].info.name);

		if (bestd < 0 || d < bestd) {
			bestd = d;
			best = docmigs[i].info.name;
		}
	}
	return best;
}

int
store_docmig_state(struct store *st, const char *name, struct docmig_state *out,
    struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc, step;

	memset(out, 0, sizeof(*out));
	if ((rc = store_stmt(st, STATE_SQL, &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
	if ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
		out->found = 1;
		out->done = sqlite3_column_int(stmt, 0);
		store_copy_text(out->last_id, sizeof(out->last_id), sqlite3_column_text(stmt, 1));
		out->migrated = sqlite3_column_int64(stmt, 2);
		out->started_ms = sqlite3_column_int64(stmt, 3);
		out->finished_ms = sqlite3_column_int64(stmt, 4);
	} else if (step != SQLITE_DONE)
		rc = store_sqlerr(st, err, "document migration state");
	sqlite3_reset(stmt);
	return rc;
}

/* A statement of text/int64 parameters run to its end; *changes (may be NULL) rows. */
static int
docmig_exec(struct store *st, const char *sql, const char *s1, const char *s2, int64_t i3,
    int *changes, struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc;

	if ((rc = store_stmt(st, sql, &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, s1, -1, SQLITE_STATIC);
	if (s2)
		sqlite3_bind_text(stmt, 2, s2, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(stmt, 2, i3);
	if (s2)
		sqlite3_bind_int64(stmt, 3, i3);
	rc = sqlite3_step(stmt) == SQLITE_DONE ? 0 : store_sqlerr(st, err, "document migration");
	if (changes)
		*changes = rc ? 0 : sqlite3_changes(sqlite3_db_handle(stmt));
	sqlite3_reset(stmt);
	return rc;
}

static int
docmig_selected(struct store *st, const struct docmig *m, const char *after, int64_t *n,
    struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc;

	*n = 0;
	if ((rc = store_stmt(st, m->count_sql, &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, after, -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		*n = sqlite3_column_int64(stmt, 0);
	else
		rc = store_sqlerr(st, err, "document migration count");
	sqlite3_reset(stmt);
	return rc;
}

/* The next batch's _ids after *after into ids (at most size); *n of them. */
static int
docmig_next(struct store *st, const struct docmig *m, const char *after, int size,
    char (*ids)[STORE_ID_MAX], int *n, struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc, step;

	*n = 0;
	if ((rc = store_stmt(st, m->next_sql, &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, after, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 2, size);
	while ((step = sqlite3_step(stmt)) == SQLITE_ROW && *n < size)
		store_copy_text(ids[(*n)++], STORE_ID_MAX, sqlite3_column_text(stmt, 0));
	if (step != SQLITE_ROW && step != SQLITE_DONE)
		rc = store_sqlerr(st, err, "document migration batch");
	sqlite3_reset(stmt);
	return rc;
}

/*
 * One batch in one transaction with the checkpoint: *n documents selected
 * (0: the pass is over), *changed of them rewritten; last_id moves on. The
 * batch starts after the checkpoint as stored, read in the transaction, so
 * two runs at once share the work instead of undoing each other's
 * checkpoint.
 */
static int
docmig_batch(struct store *st, const struct docmig *m, int size, char (*ids)[STORE_ID_MAX],
    char last_id[STORE_ID_MAX], int *n, int *changed, struct gb_err *err)
{
	char now[GB_TIME_LEN];
	struct docmig_state s;
	int rc, one;

	*changed = 0;
	*n = 0;
	if ((rc = store_begin(st, err)))
		return rc;
	if ((rc = store_docmig_state(st, m->info.name, &s, err)))
		goto out;
	if (s.done)			/* another run finished the pass */
		goto out;
	if (strcmp(s.last_id, last_id) > 0)
		memcpy(last_id, s.last_id, STORE_ID_MAX);
	if ((rc = docmig_next(st, m, last_id, size, ids, n, err)) || *n == 0)
		goto out;
	gb_time_format(gb_now_ms(), now);
	for (int i = 0; i < *n && rc == 0; i++)
		if ((rc = docmig_exec(st, m->update_sql, ids[i], now, 0, &one, err)) == 0)
			*changed += one;
	if (rc == 0)
		rc = docmig_exec(st, CHECKPOINT_SQL, m->info.name, ids[*n - 1], *changed, NULL,
		    err);
out:
	if (rc == 0 && (rc = store_commit(st, err)) == 0 && *n > 0)
		memcpy(last_id, ids[*n - 1], STORE_ID_MAX);
	else if (rc)
		store_rollback(st);
	return rc;
}

/* The batches of one pass, from the checkpoint to the end. */
static int
docmig_pass(struct store *st, const struct docmig *m, const struct docmig_opts *o, int size,
    struct docmig_result *res, char last_id[STORE_ID_MAX], struct gb_err *err)
{
	char (*ids)[STORE_ID_MAX] = calloc((size_t)size, STORE_ID_MAX);
	struct docmig_progress p = { m->info.name, 0, 0, res->selected, last_id };
	int rc = 0, n = 1, changed;

	if (ids == NULL)
		return gb_errf(err, GB_ENOMEM, "out of memory");
	while (rc == 0 && n > 0) {
		if ((rc = docmig_batch(st, m, size, ids, last_id, &n, &changed, err)) || n == 0)
			break;
		res->batches++;
		res->migrated += changed;
		p.batches = res->batches;
		p.migrated = res->migrated;
		if (o->progress)
			o->progress(o->arg, &p);
	}
	free(ids);
	if (rc == 0)
		rc = docmig_exec(st, DONE_SQL, m->info.name, NULL, gb_now_ms(), NULL, err);
	return rc;
}

/* Begin (or resume) a pass: the checkpoint to start after into last_id. */
static int
docmig_start(struct store *st, const struct docmig *m, struct docmig_result *res,
    char last_id[STORE_ID_MAX], struct gb_err *err)
{
	struct docmig_state s;
	int rc;

	if ((rc = docmig_exec(st, PASS_SQL, m->info.name, NULL, gb_now_ms(), NULL, err)) ||
	    (rc = store_docmig_state(st, m->info.name, &s, err)))
		return rc;
	memcpy(last_id, s.last_id, STORE_ID_MAX);
	if (last_id[0]) {
		res->resumed = 1;
		memcpy(res->resumed_after, last_id, STORE_ID_MAX);
	}
	return docmig_selected(st, m, last_id, &res->selected, err);
}

static int
docmig_real(struct store *st, const struct docmig *m, const struct docmig_opts *o, int size,
    struct docmig_result *res, struct gb_err *err)
{
	char last_id[STORE_ID_MAX] = "", counts[128];
	struct gb_err jerr = { 0, "" };
	int rc;

	if ((rc = store_job_begin(st, "docmigrate", gb_now_ms(), err)))
		return rc;
	if ((rc = docmig_start(st, m, res, last_id, err)) == 0)
		rc = docmig_pass(st, m, o, size, res, last_id, err);
	snprintf(counts, sizeof(counts), "{\"migrated\":%lld,\"batches\":%lld,"
	    "\"selected\":%lld}", (long long)res->migrated, (long long)res->batches,
	    (long long)res->selected);
	if (store_job_end(st, "docmigrate", gb_now_ms(), rc == 0, counts, rc ? err->msg : NULL,
	    &jerr) && rc == 0)
		rc = gb_errf(err, jerr.code, "%s", jerr.msg);
	return rc;
}

int
store_docmig_run(struct store *st, const char *name, const struct docmig_opts *opts,
    struct docmig_result *res, struct gb_err *err)
{
	static const struct docmig_opts none;
	const struct docmig_opts *o = opts ? opts : &none;
	const struct docmig *m = docmig_lookup(name);
	int size = o->batch_size > 0 ? o->batch_size : DOCMIG_DEFAULT_BATCH;

	memset(res, 0, sizeof(*res));
	if (m == NULL)
		return gb_errf(err, GB_ENOTFOUND, "unknown document migration '%s'",
		    name ? name : "");
	if (size > DOCMIG_MAX_BATCH)
		return gb_errf(err, GB_EINVAL, "batch size %d exceeds %d", size,
		    DOCMIG_MAX_BATCH);
	if (o->dry_run)
		return docmig_selected(st, m, "", &res->selected, err);
	return docmig_real(st, m, o, size, res, err);
}
