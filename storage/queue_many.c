/*
 * queue_many.c - ending many contexts at once (see queue.h): one UPDATE
 * over a JSON list of the contexts, then one counter update and one end
 * check per batch with the sums of its contexts, all in one savepoint.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/gbtime.h"
#include "internal.h"
#include "queue_internal.h"

/*
 * ?1 [[_id, status, duration_ms or null, pending], ...], ?2 now, ?3 owner:
 * each context the owner still holds (or, pending, that is still pending:
 * peeked in this transaction, never taken) ends as CTX_END_UPDATE ends one.
 * The list drives the join (the unary + keeps the planner off the status
 * indexes).
 */
#define END_MANY_SQL \
	"UPDATE contexts SET status = v.status, updated_at = ?2, dirty = 0, worker_id = NULL, " \
	"lease_until = NULL, started_at = COALESCE(started_at, ?2), doc = json_set(doc, " \
	"CASE WHEN started_at IS NULL AND NOT v.pending THEN '$.updated_at' ELSE " \
	"'$.processing.started_at' END, " \
	"COALESCE(started_at, ?2), '$.status', v.status, '$.updated_at', ?2, '$.retry_count', " \
	"retry_count, " \
	"'$.next_retry_at', next_retry_at, '$.processing.completed_at', ?2, " \
	"'$.processing.duration_ms', v.dur) " \
	"FROM (SELECT value ->> 0 AS id, value ->> 1 AS status, value ->> 2 AS dur, " \
	"value ->> 3 AS pending FROM json_each(?1)) AS v " \
	"WHERE contexts._id = v.id AND CASE WHEN v.pending THEN +contexts.status = 'pending' " \
	"ELSE +contexts.worker_id = ?3 AND +contexts.status = 'processing' END " \
	"RETURNING _id, batch_id"

static int
many_is_end(enum ctx_status s)
{
	return s == CTX_COMPLETED || s == CTX_FAILED || s == CTX_CANCELLED;
}

/*
 * The index of id in ends, looked for from hint on (rows come back mostly in
 * order); -1 when absent.
 */
static int
many_find(const struct ctx_end *ends, int n, const char *id, int hint)
{
	for (int k = 0; k < n; k++) {
		int i = (hint + k) % n;

		if (ends[i].rc == GB_ESTATE && strcmp(ends[i].id, id) == 0)
			return i;
	}
	return -1;
}

/* The sums of batch id in sums[0..*nsums), added when new. */
static struct queue_batch_sum *
many_batch(struct queue_batch_sum *sums, int *nsums, const char *id)
{
	for (int k = *nsums - 1; k >= 0; k--)
		if (strcmp(sums[k].id, id) == 0)
			return &sums[k];
	memset(&sums[*nsums], 0, sizeof(sums[0]));
	snprintf(sums[*nsums].id, sizeof(sums[0].id), "%s", id);
	return &sums[(*nsums)++];
}

/*
 * The ends still to do, as END_MANY_SQL's list (malloc'd; integers printed
 * exactly); each marked GB_ESTATE until the UPDATE returns it.
 */
static char *
many_list(struct ctx_end *ends, int n)
{
	cJSON *list = cJSON_CreateArray();
	char *text;

	for (int i = 0; list && i < n; i++) {
		char dur[24];
		cJSON *row;

		if (ends[i].rc)
			continue;
		snprintf(dur, sizeof(dur), "%lld", (long long)ends[i].duration_ms);
		row = cJSON_CreateArray();
		cJSON_AddItemToArray(list, row);
		cJSON_AddItemToArray(row, cJSON_CreateString(ends[i].id));
		cJSON_AddItemToArray(row, cJSON_CreateString(ctx_status_name(ends[i].status)));
		cJSON_AddItemToArray(row,
		    ends[i].duration_ms >= 0 ? cJSON_CreateRaw(dur) : cJSON_CreateNull());
		cJSON_AddItemToArray(row, cJSON_CreateRaw(ends[i].pending ? "1" : "0"));
		ends[i].rc = GB_ESTATE;
	}
	text = list ? cJSON_PrintUnformatted(list) : NULL;
	cJSON_Delete(list);
	return text;
}

/* Run the UPDATE; the ends it returns get rc 0 and count in their batch's sums. */
static int
many_update(struct store *st, const char *owner, struct ctx_end *ends, int n, const char *now,
    struct queue_batch_sum *sums, int *nsums, struct gb_err *err)
{
	char *list = many_list(ends, n);
	sqlite3_stmt *stmt;
	int rc, step, hint = 0;

	if (list == NULL)
		return gb_errf(err, GB_ENOMEM, "out of memory");
	if ((rc = store_stmt(st, END_MANY_SQL, &stmt, err))) {
		free(list);
		return rc;
	}
	sqlite3_bind_text(stmt, 1, list, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, now, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, owner, -1, SQLITE_STATIC);
	while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
		int i = many_find(ends, n, (const char *)sqlite3_column_text(stmt, 0), hint);
		struct ctx_end *e;

		if (i < 0)
			continue;
		e = &ends[i];
		e->rc = 0;
		hint = i + 1;
		if (sqlite3_column_type(stmt, 1) == SQLITE_TEXT)
			queue_batch_sum_add(many_batch(sums, nsums,
			    (const char *)sqlite3_column_text(stmt, 1)),
			    e->status, e->prompt_tokens, e->completion_tokens, e->cost);
	}
	if (step != SQLITE_DONE)
		rc = store_sqlerr(st, err, "end of contexts");
	sqlite3_reset(stmt);
	free(list);
	return rc;
}

int
store_ctx_finish_many(struct store *st, const char *owner, struct ctx_end *ends, int n,
    int64_t now_ms, int *skipped, struct gb_err *err)
{
	char now[GB_TIME_LEN];
	struct queue_batch_sum *sums = NULL;
	int rc = 0, nsums = 0, todo = 0;

	if (skipped)
		*skipped = 0;
	if (n <= 0)
		return 0;
	for (int i = 0; i < n; i++) {
		if (!many_is_end(ends[i].status))
			return gb_errf(err, GB_EINVAL, "a run cannot end as '%s'",
			    ctx_status_name(ends[i].status));
		ends[i].rc = 0;
	}
	if ((sums = calloc((size_t)n, sizeof(*sums))) == NULL)
		return gb_errf(err, GB_ENOMEM, "out of memory");
	gb_time_format(now_ms, now);
	if ((rc = store_begin(st, err))) {
		free(sums);
		return rc;
	}
	for (int i = 0; rc == 0 && i < n; i++) {
		if (ends[i].nedits > 0 &&
		    (rc = queue_apply_edits(st, ends[i].id, ends[i].pending ? NULL : owner,
		    ends[i].edits, ends[i].nedits, now, err)) == GB_ESTATE) {
			ends[i].rc = GB_ESTATE;
			rc = 0;
		}
		todo += ends[i].rc == 0;
	}
	if (rc == 0 && todo > 0)
		rc = many_update(st, owner, ends, n, now, sums, &nsums, err);
	/* a batch whose contexts ended from pending may not have started yet */
	for (int k = 0; rc == 0 && k < nsums; k++)
		if ((rc = queue_batch_start(st, sums[k].id, now, err)) == 0)
			rc = queue_batch_count(st, &sums[k], now, err);
	free(sums);
	if (rc || (rc = store_commit(st, err))) {
		store_rollback(st);
		for (int i = 0; i < n; i++)
			ends[i].rc = rc;
		return rc;
	}
	for (int i = 0; skipped && i < n; i++)
		*skipped += ends[i].rc != 0;
	return 0;
}
