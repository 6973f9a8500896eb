/*
 * queue.c - contexts as a work queue: claim with a lease, extend, reap,
 * release, record progress, finish or retry, cancel, the plain status update.
 *
 * Claims and ends touch only the hot columns, plus one json_set of the
 * final fields when a context ends, so the queue does not rewrite whole
 * documents per state change. A batch's counters move in the same
 * transaction as each of its contexts' terminal transitions.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/gbtime.h"
#include "internal.h"
#include "listing_internal.h"
#include "queue_internal.h"

/* the organizations with pending work, in _id order: one index seek each (ctx_poll) */
#define FIRST_ORG_SQL \
	"SELECT organization_id FROM contexts INDEXED BY ctx_poll WHERE status = 'pending' " \
	"AND organization_id IS NOT NULL ORDER BY organization_id LIMIT 1"
#define NEXT_ORG_SQL \
	"SELECT organization_id FROM contexts INDEXED BY ctx_poll WHERE status = 'pending' " \
	"AND organization_id > ?1 ORDER BY organization_id LIMIT 1"

/* organizations a claim looks at, at most: the next claim goes on from there */
#define CLAIM_MAX_VISITS 1024

#define POLL_BATCH_SQL \
	"SELECT _id FROM contexts WHERE status = 'pending' AND batch_id = ?1 " \
	"AND (next_retry_at IS NULL OR next_retry_at <= ?2) " \
	"AND NOT EXISTS (SELECT 1 FROM paused_batches WHERE batch_id = ?1) ORDER BY priority, " \
	"created_at LIMIT ?3"

#define BATCH_START_SQL \
	"UPDATE batches SET status = 'processing', processing_started_at = " \
	"COALESCE(processing_started_at, ?2), " \
	"updated_at = ?2, dirty = 1 WHERE _id = ?1 AND status = 'pending'"

/* the documents of up to CLAIM_CHUNK pending contexts, unused places bound to NULL */
#define PEEK_DOCS_SQL \
	"SELECT _id, " CTX_DOC_EXPR \
	" FROM contexts WHERE +status = 'pending' AND _id IN (?1, ?2, ?3, ?4, ?5, " \
	"?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"

#define EXTEND_SQL \
	"UPDATE contexts SET lease_until = ?2 WHERE worker_id = ?1 AND status = 'processing'"

/* a processing context without a lease (set so by hand or imported) has no owner to wait for */
#define EXPIRED_SQL \
	"SELECT _id, worker_id, lease_until FROM contexts WHERE status = 'processing' ORDER BY " \
	"lease_until"

#define RELEASE_SQL \
	"UPDATE contexts SET status = 'pending', worker_id = NULL, lease_until = NULL, " \
	"updated_at = ?3, " \
	"dirty = 1 WHERE _id = ?1 AND status = 'processing' AND (?2 IS NULL OR worker_id = ?2)"

#define RETRY_SQL \
	"UPDATE contexts SET status = 'pending', retry_count = retry_count + 1, " \
	"next_retry_at = ?3, updated_at = ?4, worker_id = NULL, lease_until = NULL, dirty = 1 " \
	"WHERE _id = ?1 AND worker_id = ?2 AND status = 'processing'"

#define END_SQL(guard) CTX_END_UPDATE " AND " guard " RETURNING batch_id"

#define FINISH_SQL END_SQL("worker_id = ?5 AND status = 'processing'")
#define CANCEL_SQL END_SQL("status IN ('pending', 'processing') AND ?5 IS NULL")

/*
 * ?2..?4: how many of the batch's contexts ended completed, failed, cancelled;
 * ?5..?7 their usage
 */
#define BATCH_COUNT_SQL \
	"UPDATE batches SET completed_count = completed_count + ?2, " \
	"failed_count = failed_count + ?3, " \
	"cancelled_count = cancelled_count + ?4, prompt_tokens = prompt_tokens + ?5, " \
	"completion_tokens = completion_tokens + ?6, cost = cost + ?7, " \
	"processing_started_at = COALESCE(processing_started_at, ?8), updated_at = ?8, " \
	"dirty = 1 WHERE _id = ?1"

#define BATCH_END_SQL \
	"UPDATE batches SET status = CASE WHEN failed_count > 0 THEN 'failed' " \
	"WHEN completed_count = 0 AND cancelled_count > 0 THEN 'cancelled' ELSE 'completed' END, " \
	"processing_completed_at = ?2, total_duration_ms = CAST(round((julianday(?2) - " \
	"julianday(processing_started_at)) * 86400000.0) AS INTEGER), dirty = 1 " \
	"WHERE _id = ?1 AND completed_count + failed_count + cancelled_count >= context_count " \
	"AND status NOT IN ('completed', 'failed', 'cancelled')"

/* processing: the hot columns only, no document rewrite */
#define SET_PROCESSING_SQL \
	"UPDATE contexts SET status = 'processing', updated_at = ?2, started_at = ?2, " \
	"dirty = 1 WHERE _id = ?1"

#define SET_TERMINAL_SQL CTX_END_UPDATE

/* back to pending: hot columns only */
#define SET_PENDING_SQL \
	"UPDATE contexts SET status = 'pending', updated_at = ?2, worker_id = NULL, " \
	"lease_until = NULL, dirty = 1 WHERE _id = ?1"

#define PROGRESS_HEAD "UPDATE contexts SET updated_at = ?3, dirty = 1, doc = json_set(doc"
/*
 * ?2 the owner that holds it; NULL: a pending context being ended in the
 * holder's transaction (queue_many.c)
 */
#define PROGRESS_TAIL ") WHERE _id = ?1 AND CASE WHEN ?2 IS NULL THEN status = 'pending' " \
	"ELSE worker_id = ?2 AND status = 'processing' END"
static const char *const progress_sql[8] = {
	PROGRESS_HEAD ", ?4, json(?5)" PROGRESS_TAIL,
	PROGRESS_HEAD ", ?4, json(?5), ?6, json(?7)" PROGRESS_TAIL,
	PROGRESS_HEAD ", ?4, json(?5), ?6, json(?7), ?8, json(?9)" PROGRESS_TAIL,
	PROGRESS_HEAD ", ?4, json(?5), ?6, json(?7), ?8, json(?9), ?10, json(?11)" PROGRESS_TAIL,
	PROGRESS_HEAD ", ?4, json(?5), ?6, json(?7), ?8, json(?9), ?10, json(?11), ?12, json(?13)"
	    PROGRESS_TAIL,
	PROGRESS_HEAD ", ?4, json(?5), ?6, json(?7), ?8, json(?9), ?10, json(?11), ?12, json(?13), "
	    "?14, json(?15)" PROGRESS_TAIL,
	PROGRESS_HEAD ", ?4, json(?5), ?6, json(?7), ?8, json(?9), ?10, json(?11), ?12, json(?13), "
	    "?14, json(?15), ?16, json(?17)" PROGRESS_TAIL,
	PROGRESS_HEAD ", ?4, json(?5), ?6, json(?7), ?8, json(?9), ?10, json(?11), ?12, json(?13), "
	    "?14, json(?15), ?16, json(?17), ?18, json(?19)" PROGRESS_TAIL,
};

static int
not_held(const char *id, struct gb_err *err)
{
	return gb_errf(err, GB_ESTATE, "context '%s' is no longer held by this worker", id);
}

/* Poll one query (org or batch) into ids[*n..], at most want more. */
static int
poll_into(struct store *st, const char *sql, const char *key, const char *now, int want,
    char (*ids)[STORE_ID_MAX], int *n, struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc, step;

	if ((rc = store_stmt(st, sql, &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, now, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 3, want);
	while ((step = sqlite3_step(stmt)) == SQLITE_ROW)
		snprintf(ids[(*n)++], STORE_ID_MAX, "%s",
		    (const char *)sqlite3_column_text(stmt, 0));
	if (step != SQLITE_DONE)
		rc = store_sqlerr(st, err, "poll");
	sqlite3_reset(stmt);
	return rc;
}

/*
 * The organization with pending work after org in _id order (the first when
 * org is ""), wrapping around to the first; "" in next when there is none.
 */
static int
next_org(struct store *st, const char *org, char next[STORE_ID_MAX], struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc, step, wrapped = org[0] == '\0';

	next[0] = '\0';
	for (;;) {
		if ((rc = store_stmt(st, org[0] ? NEXT_ORG_SQL : FIRST_ORG_SQL, &stmt, err)))
			return rc;
		if (org[0])
			sqlite3_bind_text(stmt, 1, org, -1, SQLITE_STATIC);
		if ((step = sqlite3_step(stmt)) == SQLITE_ROW)
			snprintf(next, STORE_ID_MAX, "%s",
			    (const char *)sqlite3_column_text(stmt, 0));
		sqlite3_reset(stmt);
		if (step != SQLITE_ROW && step != SQLITE_DONE)
			return store_sqlerr(st, err, "poll");
		if (next[0] || wrapped)
			return 0;
		wrapped = 1;
		org = "";
	}
}

/* The organizations a fair claim serves, in the order they are served. */
struct claim_orgs {
	char (*ids)[STORE_ID_MAX];
	char (*first)[STORE_ID_MAX];	/* each one's first due context */
	int n;
	const char *poll_sql;		/* POLL_ORG_SQL, or POLL_ORG_ANY_SQL while no batch
					 * is paused */
};

/*
 * Walk the organizations with pending work from the one after the store's
 * cursor, wrapping around, and keep those with due work (the first due
 * context of each), up to max of them; organizations whose work is not yet
 * due take no place. The cursor moves to the last one kept when max were
 * found, else to the first one kept, so who goes first rotates.
 */
static int
claim_orgs_walk(struct store *st, const char *now, int max, struct claim_orgs *co,
    struct gb_err *err)
{
	char org[STORE_ID_MAX], prev[STORE_ID_MAX], start[STORE_ID_MAX] = "";
	int rc = 0, visits = 0, got;

	co->n = 0;
	snprintf(org, sizeof(org), "%s", st->claim_org);
	while (co->n < max && visits < CLAIM_MAX_VISITS) {
		memcpy(prev, org, sizeof(prev));
		if ((rc = next_org(st, prev, org, err)) || org[0] == '\0')
			break;
		if (start[0] == '\0')
			snprintf(start, sizeof(start), "%s", org);
		else if (strcmp(org, start) == 0)
			break;		/* all of them seen */
		visits++;
		got = co->n;
		if ((rc = poll_into(st, co->poll_sql, org, now, 1, co->first, &got, err)))
			break;
		if (got > co->n)
			memcpy(co->ids[co->n++], org, STORE_ID_MAX);
	}
	if (rc == 0 && co->n > 0)
		memcpy(st->claim_org, co->ids[co->n == max ? co->n - 1 : 0], STORE_ID_MAX);
	else if (rc == 0 && visits == CLAIM_MAX_VISITS)
		memcpy(st->claim_org, org, STORE_ID_MAX);
	return rc;
}

/*
 * Fewer organizations with due work than places: round robin in the walk's
 * order, one context of each in turn, until the places are filled or the
 * due work runs out. Each has at least one due context, so none can take
 * more than max - (co->n - 1) places: that many are polled from each.
 */
static int
claim_orgs_share(struct store *st, const char *now, int max, const struct claim_orgs *co,
    char (*ids)[STORE_ID_MAX], int *n, struct gb_err *err)
{
	int share, rc = 0, *counts;
	char (*per)[STORE_ID_MAX];

	if (co->n <= 0 || max <= 0 || max > QUEUE_MAX_CLAIM)
		return 0;
	share = max - co->n + 1;
	per = malloc(sizeof(*per) * (size_t)share * (size_t)co->n);
	counts = calloc((size_t)co->n, sizeof(int));
	if (per == NULL || counts == NULL) {
		rc = gb_errf(err, GB_ENOMEM, "out of memory");
		goto out;
	}
	for (int o = 0; o < co->n; o++) {
		int at = o * share;

		if ((rc = poll_into(st, co->poll_sql, co->ids[o], now, share, per, &at, err)))
			goto out;
		counts[o] = at - o * share;
	}
	for (int round = 0; round < share && *n < max; round++)
		for (int o = 0; o < co->n && *n < max; o++)
			if (round < counts[o])
				memcpy(ids[(*n)++], per[o * share + round], STORE_ID_MAX);
out:
	free(per);
	free(counts);
	return rc;
}

/*
 * The candidates: a batch's due work, or the due work of every organization
 * in turn: each claim serves up to max organizations that have due work,
 * one context each, starting after the last one served; when fewer have
 * due work, each gets a fair share of the places.
 */
static int
candidates(struct store *st, const char *batch_id, const char *now, int max,
    char (*ids)[STORE_ID_MAX], int *n, struct gb_err *err)
{
	struct claim_orgs co = { NULL, NULL, 0, POLL_ORG_SQL };
	int rc, paused;

	*n = 0;
	if (batch_id != NULL)
		return poll_into(st, POLL_BATCH_SQL, batch_id, now, max, ids, n, err);
	/* the check of each context's batch only while some batch is paused */
	if ((rc = list_any_paused(st, &paused, err)))
		return rc;
	if (!paused)
		co.poll_sql = POLL_ORG_ANY_SQL;
	co.ids = malloc(sizeof(*co.ids) * (size_t)max);
	co.first = malloc(sizeof(*co.first) * (size_t)max);
	if (co.ids == NULL || co.first == NULL) {
		rc = gb_errf(err, GB_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = claim_orgs_walk(st, now, max, &co, err)) || co.n == 0)
		goto out;
	if (co.n == max) {
		memcpy(ids, co.first, (size_t)max * STORE_ID_MAX);
		*n = max;
	} else {
		rc = claim_orgs_share(st, now, max, &co, ids, n, err);
	}
out:
	free(co.ids);
	free(co.first);
	return rc;
}

/*
 * A row's _id and document (columns col and col + 1) into docs at the _id's
 * place among the k ids.
 */
static int
claim_keep_doc(sqlite3_stmt *stmt, int col, char (*ids)[STORE_ID_MAX], int k, char **docs,
    struct gb_err *err)
{
	const char *id = (const char *)sqlite3_column_text(stmt, col);
	const char *doc = (const char *)sqlite3_column_text(stmt, col + 1);

	for (int i = 0; id && doc && i < k; i++) {
		if (strcmp(ids[i], id) != 0)
			continue;
		free(docs[i]);
		if ((docs[i] = strdup(doc)) == NULL)
			return gb_errf(err, GB_ENOMEM, "out of memory");
		return 0;
	}
	return 0;
}

/* The batches of a claim chunk that may be starting: pending ones become processing. */
static int
claim_start_batches(struct store *st, char (*batches)[STORE_ID_MAX], int nb, const char *now,
    struct gb_err *err)
{
	sqlite3_stmt *bstart;
	int rc = 0;

	for (int i = 0; rc == 0 && i < nb; i++) {
		if ((rc = store_stmt(st, BATCH_START_SQL, &bstart, err)))
			return rc;
		sqlite3_bind_text(bstart, 1, batches[i], -1, SQLITE_STATIC);
		sqlite3_bind_text(bstart, 2, now, -1, SQLITE_STATIC);
		if (sqlite3_step(bstart) != SQLITE_DONE)
			rc = store_sqlerr(st, err, "batch start");
		sqlite3_reset(bstart);
	}
	return rc;
}

int
queue_batch_start(struct store *st, const char *batch, const char *now, struct gb_err *err)
{
	char one[1][STORE_ID_MAX];

	snprintf(one[0], sizeof(one[0]), "%s", batch);
	return claim_start_batches(st, one, 1, now, err);
}

/*
 * Claim the k pending contexts cand for owner (docs: also read their
 * documents); GB_ESTATE when one is not pending.
 */
static int
claim_chunks(struct store *st, const char *owner, int64_t now_ms, int64_t lease_ms,
    char (*cand)[STORE_ID_MAX], int ncand, char **docs, struct gb_err *err)
{
	char now[GB_TIME_LEN], lastbatch[STORE_ID_MAX] = "";
	sqlite3_stmt *claim;
	int rc = 0;

	gb_time_format(now_ms, now);
	for (int at = 0; rc == 0 && at < ncand; at += CLAIM_CHUNK) {
		int k = ncand - at < CLAIM_CHUNK ? ncand - at : CLAIM_CHUNK, got = 0, nb = 0, step;
		char batches[CLAIM_CHUNK][STORE_ID_MAX];

		if ((rc = store_stmt(st, docs ? CLAIM_DOCS_SQL : CLAIM_SQL, &claim, err)))
			return rc;
		sqlite3_bind_text(claim, 1, owner, -1, SQLITE_STATIC);
		sqlite3_bind_int64(claim, 2, now_ms + lease_ms);
		sqlite3_bind_text(claim, 3, now, -1, SQLITE_STATIC);
		for (int i = 0; i < k; i++)
			sqlite3_bind_text(claim, 4 + i, cand[at + i], -1, SQLITE_STATIC);
		while ((step = sqlite3_step(claim)) == SQLITE_ROW) {
			const char *b = (const char *)sqlite3_column_text(claim, 0);

			got++;
			if (docs && (rc = claim_keep_doc(claim, 1, cand + at, k, docs + at, err)))
				break;
			/* the batches whose first claim this may be: each once */
			if (b != NULL && strcmp(b, lastbatch) != 0 && nb < CLAIM_CHUNK) {
				snprintf(lastbatch, sizeof(lastbatch), "%s", b);
				memcpy(batches[nb++], lastbatch, STORE_ID_MAX);
			}
		}
		if (rc == 0 && step != SQLITE_DONE)
			rc = store_sqlerr(st, err, "claim");
		sqlite3_reset(claim);
		/* the candidates were read in this transaction: every one is still pending */
		if (rc == 0 && got != k)
			rc = gb_errf(err, GB_ESTATE,
			    "claim: %d of %d candidates were no longer pending", k - got, k);
		if (rc == 0)
			rc = claim_start_batches(st, batches, nb, now, err);
	}
	return rc;
}

static void
claim_free_docs(char **docs, int n)
{
	for (int i = 0; docs && i < n; i++) {
		free(docs[i]);
		docs[i] = NULL;
	}
}

int
store_queue_claim(struct store *st, const char *owner, const char *batch_id, int64_t now_ms,
    int64_t lease_ms, int max, char (*ids)[STORE_ID_MAX], int *n, struct gb_err *err)
{
	return store_queue_claim_docs(st, owner, batch_id, now_ms, lease_ms, max, ids, NULL, n,
	    err);
}

int
store_queue_claim_docs(struct store *st, const char *owner, const char *batch_id, int64_t now_ms,
    int64_t lease_ms, int max, char (*ids)[STORE_ID_MAX], char **docs, int *n, struct gb_err *err)
{
	char now[GB_TIME_LEN];
	int rc, ncand = 0;

	*n = 0;
	if (max <= 0)
		return 0;
	if (max > QUEUE_MAX_CLAIM)
		max = QUEUE_MAX_CLAIM;
	for (int i = 0; docs && i < max; i++)
		docs[i] = NULL;
	gb_time_format(now_ms, now);
	if ((rc = store_begin(st, err)))
		return rc;
	if ((rc = candidates(st, batch_id, now, max, ids, &ncand, err)) == 0 &&
	    (rc = claim_chunks(st, owner, now_ms, lease_ms, ids, ncand, docs, err)) == 0 &&
	    (rc = store_commit(st, err)) == 0) {
		*n = ncand;
		return 0;
	}
	store_rollback(st);
	claim_free_docs(docs, max);
	return rc;
}

int
store_queue_take(struct store *st, const char *owner, int64_t now_ms, int64_t lease_ms,
    char (*ids)[STORE_ID_MAX], int n, struct gb_err *err)
{
	int rc;

	if (n <= 0)
		return 0;
	if ((rc = store_begin(st, err)))
		return rc;
	if ((rc = claim_chunks(st, owner, now_ms, lease_ms, ids, n, NULL, err))) {
		store_rollback(st);
		return rc;
	}
	return store_commit(st, err);
}

int
store_queue_peek_docs(struct store *st, const char *batch_id, int64_t now_ms, int max,
    char (*ids)[STORE_ID_MAX], char **docs, int *n, struct gb_err *err)
{
	char now[GB_TIME_LEN];
	sqlite3_stmt *stmt;
	int rc, step = SQLITE_DONE;

	*n = 0;
	if (max <= 0)
		return 0;
	if (max > QUEUE_MAX_CLAIM)
		max = QUEUE_MAX_CLAIM;
	for (int i = 0; i < max; i++)
		docs[i] = NULL;
	if ((rc = candidates(st, batch_id, gb_time_format(now_ms, now), max, ids, n, err)))
		return rc;
	for (int at = 0; rc == 0 && at < *n; at += CLAIM_CHUNK) {
		int k = *n - at < CLAIM_CHUNK ? *n - at : CLAIM_CHUNK;

		if ((rc = store_stmt(st, PEEK_DOCS_SQL, &stmt, err)))
			break;
		for (int i = 0; i < k; i++)
			sqlite3_bind_text(stmt, 1 + i, ids[at + i], -1, SQLITE_STATIC);
		while (rc == 0 && (step = sqlite3_step(stmt)) == SQLITE_ROW)
			rc = claim_keep_doc(stmt, 0, ids + at, k, docs + at, err);
		if (rc == 0 && step != SQLITE_DONE)
			rc = store_sqlerr(st, err, "peek");
		sqlite3_reset(stmt);
	}
	if (rc) {
		claim_free_docs(docs, max);
		*n = 0;
	}
	return rc;
}

int
store_queue_extend(struct store *st, const char *owner, int64_t until_ms, int *n,
    struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc;

	if ((rc = store_stmt(st, EXTEND_SQL, &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, owner, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, until_ms);
	if (sqlite3_step(stmt) != SQLITE_DONE)
		rc = store_sqlerr(st, err, "extend leases");
	else if (n)
		*n = sqlite3_changes(st->db);
	sqlite3_reset(stmt);
	return rc;
}

static int
release_one(struct store *st, const char *id, const char *owner, const char *now,
    struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc;

	if ((rc = store_stmt(st, RELEASE_SQL, &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
	if (owner)
		sqlite3_bind_text(stmt, 2, owner, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, now, -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) != SQLITE_DONE)
		rc = store_sqlerr(st, err, "release");
	else if (owner && sqlite3_changes(st->db) == 0)
		rc = not_held(id, err);
	sqlite3_reset(stmt);
	return rc;
}

int
store_queue_release(struct store *st, const char *id, const char *owner, int64_t now_ms,
    struct gb_err *err)
{
	char now[GB_TIME_LEN];

	return release_one(st, id, owner, gb_time_format(now_ms, now), err);
}

int
store_queue_reap(struct store *st, int64_t now_ms, store_owner_dead_fn dead, void *arg, int *n,
    struct gb_err *err)
{
	char (*ids)[STORE_ID_MAX] = NULL, now[GB_TIME_LEN];
	int nids = 0, cap = 0, rc, step;
	sqlite3_stmt *stmt;

	if (n)
		*n = 0;
	gb_time_format(now_ms, now);
	if ((rc = store_begin(st, err)))
		return rc;
	if ((rc = store_stmt(st, EXPIRED_SQL, &stmt, err)))
		goto fail;
	while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *owner = (const char *)sqlite3_column_text(stmt, 1);

		if (sqlite3_column_type(stmt, 2) != SQLITE_NULL &&
		    sqlite3_column_int64(stmt, 2) >= now_ms && !(dead && owner && dead(arg, owner)))
			continue;
		if (nids == cap) {
			char (*p)[STORE_ID_MAX] =
			    realloc(ids, sizeof(*ids) * (size_t)(cap = cap ? cap * 2 : 64));

			if (p == NULL) {
				rc = gb_errf(err, GB_ENOMEM, "out of memory");
				break;
			}
			ids = p;
		}
		snprintf(ids[nids++], STORE_ID_MAX, "%s",
		    (const char *)sqlite3_column_text(stmt, 0));
	}
	if (rc == 0 && step != SQLITE_DONE && step != SQLITE_ROW)
		rc = store_sqlerr(st, err, "reap");
	sqlite3_reset(stmt);
	for (int i = 0; rc == 0 && i < nids; i++)
		rc = release_one(st, ids[i], NULL, now, err);
	if (rc)
		goto fail;
	free(ids);
	if (n)
		*n = nids;
	return store_commit(st, err);
fail:
	free(ids);
	store_rollback(st);
	return rc;
}

static int
apply_progress(struct store *st, const char *id, const char *owner, const struct ctx_edit *edits,
    int n, const char *now, struct gb_err *err)
{
	for (int done = 0; done < n;) {
		int k = n - done > 8 ? 8 : n - done, rc = 0;
		sqlite3_stmt *stmt;

		if ((rc = store_stmt(st, progress_sql[k - 1], &stmt, err)))
			return rc;
		sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 2, owner, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 3, now, -1, SQLITE_STATIC);
		for (int i = 0; i < k; i++) {
			sqlite3_bind_text(stmt, 4 + 2 * i, edits[done + i].path, -1, SQLITE_STATIC);
			sqlite3_bind_text(stmt, 5 + 2 * i, edits[done + i].json, -1, SQLITE_STATIC);
		}
		if (sqlite3_step(stmt) != SQLITE_DONE)
			rc = store_sqlerr(st, err, "progress");
		else if (sqlite3_changes(st->db) == 0)
			rc = not_held(id, err);
		sqlite3_reset(stmt);
		if (rc)
			return rc;
		done += k;
	}
	return 0;
}

int
store_ctx_progress(struct store *st, const char *id, const char *owner,
    const struct ctx_edit *edits, int n, int64_t now_ms, struct gb_err *err)
{
	char now[GB_TIME_LEN];
	int rc;

	if (owner == NULL)
		return gb_errf(err, GB_EINVAL, "progress on context '%s' without an owner", id);
	gb_time_format(now_ms, now);
	if ((rc = store_begin(st, err)))
		return rc;
	if ((rc = apply_progress(st, id, owner, edits, n, now, err))) {
		store_rollback(st);
		return rc;
	}
	return store_commit(st, err);
}

/* A context ended: its batch's counters, and the batch's own end when it was the last. */
static int
count_in_batch(struct store *st, const struct queue_batch_sum *b, const char *now,
    struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc;

	if ((rc = store_stmt(st, BATCH_COUNT_SQL, &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, b->id, -1, SQLITE_STATIC);
	for (int i = 0; i < 3; i++)
		sqlite3_bind_int64(stmt, 2 + i, b->ended[i]);
	sqlite3_bind_int64(stmt, 5, b->prompt_tokens);
	sqlite3_bind_int64(stmt, 6, b->completion_tokens);
	sqlite3_bind_double(stmt, 7, b->cost);
	sqlite3_bind_text(stmt, 8, now, -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) != SQLITE_DONE)
		rc = store_sqlerr(st, err, "batch counters");
	sqlite3_reset(stmt);
	if (rc || (rc = store_stmt(st, BATCH_END_SQL, &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, b->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, now, -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) != SQLITE_DONE)
		rc = store_sqlerr(st, err, "batch end");
	sqlite3_reset(stmt);
	return rc;
}

void
queue_batch_sum_add(struct queue_batch_sum *b, enum ctx_status status, int64_t prompt_tokens,
    int64_t completion_tokens, double cost)
{
	b->ended[status == CTX_COMPLETED ? 0 : status == CTX_FAILED ? 1 : 2]++;
	b->prompt_tokens += prompt_tokens;
	b->completion_tokens += completion_tokens;
	b->cost += cost;
}

int
queue_batch_count(struct store *st, const struct queue_batch_sum *b, const char *now,
    struct gb_err *err)
{
	return count_in_batch(st, b, now, err);
}

int
queue_apply_edits(struct store *st, const char *id, const char *owner, const struct ctx_edit *edits,
    int n, const char *now, struct gb_err *err)
{
	return apply_progress(st, id, owner, edits, n, now, err);
}

/* The terminal update (finish or cancel), then the batch. */
static int
end_context(struct store *st, const char *sql, const char *id, const char *owner,
    enum ctx_status status, const struct ctx_finish *f, const char *now, struct gb_err *err)
{
	char batch[STORE_ID_MAX] = "";
	struct queue_batch_sum sum;
	sqlite3_stmt *stmt;
	int rc, step, found = 0;

	if ((rc = store_stmt(st, sql, &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, ctx_status_name(status), -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, now, -1, SQLITE_STATIC);
	if (f && f->duration_ms >= 0)
		sqlite3_bind_int64(stmt, 4, f->duration_ms);
	if (owner)
		sqlite3_bind_text(stmt, 5, owner, -1, SQLITE_STATIC);
	if ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
		found = 1;
		if (sqlite3_column_type(stmt, 0) == SQLITE_TEXT)
			snprintf(batch, sizeof(batch), "%s",
			    (const char *)sqlite3_column_text(stmt, 0));
		step = sqlite3_step(stmt);
	}
	if (step != SQLITE_DONE)
		rc = store_sqlerr(st, err, "end of context");
	sqlite3_reset(stmt);
	if (rc)
		return rc;
	if (!found)
		return owner ? not_held(id, err) :
		    gb_errf(err, GB_ESTATE, "context '%s' has already ended or does not exist", id);
	if (batch[0] == '\0')
		return 0;
	memset(&sum, 0, sizeof(sum));
	snprintf(sum.id, sizeof(sum.id), "%s", batch);
	if (f)
		queue_batch_sum_add(&sum, status, f->prompt_tokens, f->completion_tokens, f->cost);
	else
		queue_batch_sum_add(&sum, status, 0, 0, 0);
	return count_in_batch(st, &sum, now, err);
}

int
store_ctx_finish(struct store *st, const char *id, const char *owner, const struct ctx_finish *f,
    struct gb_err *err)
{
	char now[GB_TIME_LEN], next[GB_TIME_LEN];
	sqlite3_stmt *stmt;
	int rc;

	gb_time_format(f->now_ms, now);
	if ((rc = store_begin(st, err)))
		return rc;
	if (f->nedits > 0 && (rc = apply_progress(st, id, owner, f->edits, f->nedits, now, err)))
		goto fail;
	if (f->status == CTX_PENDING) {
		if ((rc = store_stmt(st, RETRY_SQL, &stmt, err)))
			goto fail;
		sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 2, owner, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 3, gb_time_format(f->next_retry_ms, next), -1,
		    SQLITE_STATIC);
		sqlite3_bind_text(stmt, 4, now, -1, SQLITE_STATIC);
		if (sqlite3_step(stmt) != SQLITE_DONE)
			rc = store_sqlerr(st, err, "retry");
		else if (sqlite3_changes(st->db) == 0)
			rc = not_held(id, err);
		sqlite3_reset(stmt);
	} else if (f->status == CTX_COMPLETED || f->status == CTX_FAILED ||
	    f->status == CTX_CANCELLED) {
		rc = end_context(st, FINISH_SQL, id, owner, f->status, f, now, err);
	} else {
		rc = gb_errf(err, GB_EINVAL, "a run cannot end as '%s'",
		    ctx_status_name(f->status));
	}
	if (rc)
		goto fail;
	return store_commit(st, err);
fail:
	store_rollback(st);
	return rc;
}

int
store_ctx_cancel(struct store *st, const char *id, int64_t now_ms, struct gb_err *err)
{
	char now[GB_TIME_LEN];
	int rc;

	gb_time_format(now_ms, now);
	if ((rc = store_begin(st, err)))
		return rc;
	if ((rc = end_context(st, CANCEL_SQL, id, NULL, CTX_CANCELLED, NULL, now, err))) {
		store_rollback(st);
		return rc;
	}
	return store_commit(st, err);
}

int
store_ctx_set_status(struct store *st, const char *id, enum ctx_status status,
    int64_t now_ms, int64_t duration_ms, struct gb_err *err)
{
	char now[GB_TIME_LEN];
	sqlite3_stmt *stmt;
	int rc;

	gb_time_format(now_ms, now);
	switch (status) {
	case CTX_PROCESSING:
		rc = store_stmt(st, SET_PROCESSING_SQL, &stmt, err);
		break;
	case CTX_PENDING:
		rc = store_stmt(st, SET_PENDING_SQL, &stmt, err);
		break;
	case CTX_COMPLETED:
	case CTX_FAILED:
	case CTX_CANCELLED:
		if ((rc = store_stmt(st, SET_TERMINAL_SQL, &stmt, err)))
			break;
		sqlite3_bind_text(stmt, 2, ctx_status_name(status), -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 3, now, -1, SQLITE_STATIC);
		if (duration_ms >= 0)
			sqlite3_bind_int64(stmt, 4, duration_ms);
		break;
	default:
		return gb_errf(err, GB_EINVAL, "unknown status %d", (int)status);
	}
	if (rc)
		return rc;
	sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
	if (status == CTX_PROCESSING || status == CTX_PENDING)
		sqlite3_bind_text(stmt, 2, now, -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) != SQLITE_DONE)
		rc = store_sqlerr(st, err, "status update");
	else if (sqlite3_changes(st->db) == 0)
		rc = gb_errf(err, GB_ENOTFOUND, "no document with _id '%s' in contexts", id);
	sqlite3_reset(stmt);
	return rc;
}
