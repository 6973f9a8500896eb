/*
 * listing.c - an organization's contexts, filtered, newest first, a page at
 * a time (see listing.h).
 *
 * A query picks one index to walk (a batch, a user, a type, the statuses
 * of its set one walk each, else the organization alone), each walk a range
 * of (key, created_at, _id) below the cursor, descending. The filters the
 * index does not hold are checked here on the rows walked, LIST_MAX_EXAMINED
 * rows at most per call. The walks' rows are merged by (created_at, _id):
 * a page is correct down to the highest point where a walk stopped early.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../base/gbtime.h"
#include "internal.h"
#include "listing.h"
#include "listing_internal.h"

/*
 * Column 10 is the error as JSON text, read from the document (one JSON
 * function: on SQLite 3.40 two calls on the same document cost several
 * times one) only for a context that failed, was cancelled or was retried:
 * the others carry none, and their documents are not parsed.
 */
#define WALK_COLS \
	"SELECT _id, created_at, status, type, batch_id, user_id, title, updated_at, " \
	"retry_count, organization_id, CASE WHEN status IN ('failed', 'cancelled') " \
	"OR retry_count > 0 THEN doc -> '$.error' END FROM contexts "
/* ?3 lower bound (exclusive), (?4, ?5) upper bound (exclusive), ?6 limit */
#define WALK_RANGE \
	" AND created_at > ?3 AND (created_at, _id) < (?4, ?5) ORDER BY created_at DESC, " \
	"_id DESC LIMIT ?6"

enum walk_by { BY_ORG, BY_STATUS, BY_USER, BY_TYPE, BY_BATCH };

static const char *const walk_sql[] = {
	[BY_ORG] = WALK_COLS "INDEXED BY ctx_list_org WHERE organization_id = ?1 AND ?2 IS NULL"
	    WALK_RANGE,
	[BY_STATUS] = WALK_COLS
	    "INDEXED BY ctx_list_status WHERE organization_id = ?1 AND status = ?2" WALK_RANGE,
	[BY_USER] = WALK_COLS "INDEXED BY ctx_list_user WHERE organization_id = ?1 AND user_id = ?2"
	    WALK_RANGE,
	[BY_TYPE] = WALK_COLS "INDEXED BY ctx_list_type WHERE organization_id = ?1 AND type = ?2"
	    WALK_RANGE,
	[BY_BATCH] = WALK_COLS "INDEXED BY ctx_list_batch WHERE batch_id = ?1 AND status = ?2"
	    WALK_RANGE,
};


/* One walk: its index, its key values, and where it stopped. */
struct walk {
	enum walk_by by;
	const char *k1, *k2;
	int budget;			/* rows it may examine */
	int stopped;			/* the budget ran out at stop_* (examined, inclusive) */
	char *stop_created, *stop_id;
};

static void
row_free(struct list_row *r)
{
	free(r->id);
	free(r->created_at);
	free(r->status);
	free(r->type);
	free(r->batch_id);
	free(r->user_id);
	free(r->title);
	free(r->updated_at);
	free(r->error);
	memset(r, 0, sizeof(*r));
}

void
list_rows_free(struct list_rows *rows)
{
	for (int i = 0; i < rows->n; i++)
		row_free(&rows->v[i]);
	free(rows->v);
	memset(rows, 0, sizeof(*rows));
}

static char *
col_dup(sqlite3_stmt *stmt, int col, int *oom)
{
	const char *s = (const char *)sqlite3_column_text(stmt, col);
	char *d;

	if (s == NULL || sqlite3_column_type(stmt, col) == SQLITE_NULL)
		return NULL;
	if ((d = strdup(s)) == NULL)
		*oom = 1;
	return d;
}

static int
rows_add(struct list_rows *rows, sqlite3_stmt *stmt, struct gb_err *err)
{
	struct list_row *r;
	int oom = 0;

	if (rows->n == rows->cap) {
		int cap = rows->cap ? rows->cap * 2 : 64;
		struct list_row *v = realloc(rows->v, sizeof(*v) * (size_t)cap);

		if (v == NULL)
			return gb_errf(err, GB_ENOMEM, "out of memory");
		rows->v = v;
		rows->cap = cap;
	}
	r = &rows->v[rows->n++];
	memset(r, 0, sizeof(*r));
	r->id = col_dup(stmt, 0, &oom);
	r->created_at = col_dup(stmt, 1, &oom);
	r->status = col_dup(stmt, 2, &oom);
	r->type = col_dup(stmt, 3, &oom);
	r->batch_id = col_dup(stmt, 4, &oom);
	r->user_id = col_dup(stmt, 5, &oom);
	r->title = col_dup(stmt, 6, &oom);
	r->updated_at = col_dup(stmt, 7, &oom);
	r->retry_count = sqlite3_column_int64(stmt, 8);
	r->error = col_dup(stmt, 10, &oom);
	if (oom || r->id == NULL || r->created_at == NULL)
		return gb_errf(err, GB_ENOMEM, "out of memory");
	return 0;
}

static int
col_is(sqlite3_stmt *stmt, int col, const char *want)
{
	const char *s = (const char *)sqlite3_column_text(stmt, col);

	return want == NULL || (s != NULL && strcmp(s, want) == 0);
}

/* Whether the walked row matches the filters its walk's index does not hold. */
static int
row_matches(sqlite3_stmt *stmt, const struct list_plan *p)
{
	const char *title = (const char *)sqlite3_column_text(stmt, 6);
	int s = ctx_status_from_name((const char *)sqlite3_column_text(stmt, 2));

	if (p->statuses && (s < 0 || !(p->statuses & (1u << s))))
		return 0;
	if (!col_is(stmt, 9, p->org) || !col_is(stmt, 3, p->type) ||
	    !col_is(stmt, 4, p->batch_id) || !col_is(stmt, 5, p->user_id))
		return 0;
	return p->q == NULL || (title != NULL && strcasestr(title, p->q) != NULL);
}

/* Run one walk: up to want matching rows into rows. */
static int
walk_run(struct store *st, const struct list_plan *p, struct walk *w, int want,
    struct list_rows *rows, struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc, step, got = 0, examined = 0;

	if ((rc = store_stmt(st, walk_sql[w->by], &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, w->k1, -1, SQLITE_STATIC);
	if (w->k2)
		sqlite3_bind_text(stmt, 2, w->k2, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, p->lo, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 4, p->hi_created, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 5, p->hi_id, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 6, w->budget);
	while (got < want && (step = sqlite3_step(stmt)) == SQLITE_ROW) {
		examined++;
		if (row_matches(stmt, p)) {
			if ((rc = rows_add(rows, stmt, err)))
				break;
			got++;
		}
		if (got < want && examined >= w->budget) {
			int oom = 0;

			w->stopped = 1;
			w->stop_id = col_dup(stmt, 0, &oom);
			w->stop_created = col_dup(stmt, 1, &oom);
			if (oom || !w->stop_id || !w->stop_created)
				rc = gb_errf(err, GB_ENOMEM, "out of memory");
			break;
		}
	}
	if (rc == 0 && got < want && !w->stopped && step != SQLITE_DONE)
		rc = store_sqlerr(st, err, "list contexts");
	sqlite3_reset(stmt);
	return rc;
}

static int
key_cmp(const char *ca, const char *ia, const char *cb, const char *ib)
{
	int c = strcmp(ca, cb);

	return c ? c : strcmp(ia, ib);
}

/* newest first */
static int
row_cmp(const void *a, const void *b)
{
	const struct list_row *x = a, *y = b;

	return key_cmp(y->created_at, y->id, x->created_at, x->id);
}

/*
 * The walks of a plan: a batch's contexts (one walk per status of the set,
 * or of all five), a user's, a type's, one walk per status of the set, else
 * the organization's.
 */
static int
plan_walks(const struct list_plan *p, struct walk *w)
{
	int n = 0;

	if (p->batch_id == NULL && (p->user_id || p->type || p->statuses == 0)) {
		enum walk_by by = p->user_id ? BY_USER : p->type ? BY_TYPE : BY_ORG;

		w[0] = (struct walk){ .by = by, .k1 = p->org,
		    .k2 = p->user_id ? p->user_id : p->type };
		return 1;
	}
	for (int s = 0; s < CTX_STATUS_COUNT; s++)
		if (p->statuses == 0 || (p->statuses & (1u << s)))
			w[n++] = (struct walk){ .by = p->batch_id ? BY_BATCH : BY_STATUS,
			    .k1 = p->batch_id ? p->batch_id : p->org,
			    .k2 = ctx_status_name((enum ctx_status)s) };
	return n;
}

/*
 * Run the plan's walks and merge their rows: rows (newest first) receives
 * at most want of them, each at or above the highest point where a walk
 * stopped early (*stop_* then set, borrowed from w until walks_free),
 * plus one more when there is more.
 */
int
list_collect(struct store *st, const struct list_plan *p, int want, int budget,
    struct list_rows *rows, int *partial, char stop[LIST_CURSOR_MAX], struct gb_err *err)
{
	struct walk w[CTX_STATUS_COUNT];
	int nw = plan_walks(p, w), rc = 0, keep;
	const char *sc = NULL, *si = NULL;

	memset(rows, 0, sizeof(*rows));
	*partial = 0;
	stop[0] = '\0';
	for (int i = 0; i < nw; i++) {
		w[i].stopped = 0;
		w[i].stop_created = w[i].stop_id = NULL;
		w[i].budget = budget / nw > want ? budget / nw : want;
	}
	for (int i = 0; rc == 0 && i < nw; i++)
		rc = walk_run(st, p, &w[i], want + 1, rows, err);
	for (int i = 0; i < nw; i++)
		if (w[i].stopped &&
		    (sc == NULL || key_cmp(w[i].stop_created, w[i].stop_id, sc, si) > 0)) {
			sc = w[i].stop_created;
			si = w[i].stop_id;
		}
	if (rc == 0) {
		if (rows->n > 1)
			qsort(rows->v, (size_t)rows->n, sizeof(rows->v[0]), row_cmp);
		for (keep = 0; keep < rows->n && keep <= want; keep++)
			if (sc && key_cmp(rows->v[keep].created_at, rows->v[keep].id, sc, si) < 0)
				break;
		for (int i = keep; i < rows->n; i++)
			row_free(&rows->v[i]);
		rows->n = keep;
		if (sc && keep <= want) {
			*partial = 1;
			rc = list_cursor_encode(sc, si, stop, err);
		}
	}
	for (int i = 0; i < nw; i++) {
		free(w[i].stop_created);
		free(w[i].stop_id);
	}
	if (rc)
		list_rows_free(rows);
	return rc;
}

/* The error's text out of its JSON: error.message, or error when it is a string; else NULL. */
static int
row_error(const char *text, char **out, struct gb_err *err)
{
	cJSON *e = NULL, *msg;
	int rc = 0;

	*out = NULL;
	/* a string, or an object with a message; anything else is no error text */
	if (text && (*text == '"' || *text == '{') && (e = cJSON_Parse(text)) != NULL) {
		msg = cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, "message") : e;
		if (cJSON_IsString(msg) && (*out = strdup(msg->valuestring)) == NULL)
			rc = gb_errf(err, GB_ENOMEM, "out of memory");
	}
	cJSON_Delete(e);
	return rc;
}

static int
page_yield(const struct list_rows *rows, int n, ctx_summary_fn fn, void *arg,
    struct gb_err *err)
{
	int rc = 0;

	for (int i = 0; rc == 0 && i < n; i++) {
		const struct list_row *r = &rows->v[i];
		struct ctx_summary s = { r->id, r->type, r->status, r->batch_id, r->user_id,
		    r->title, r->created_at, r->updated_at, NULL, r->retry_count };
		char *error = NULL;

		if ((rc = row_error(r->error, &error, err)))
			break;
		s.error = error;
		rc = fn(arg, &s);
		free(error);
	}
	return rc;
}

/* One cached statement without rows (BEGIN, COMMIT). */
static int
list_exec(struct store *st, const char *sql, struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc;

	if ((rc = store_stmt(st, sql, &stmt, err)))
		return rc;
	if (sqlite3_step(stmt) != SQLITE_DONE)
		rc = store_sqlerr(st, err, "list contexts");
	sqlite3_reset(stmt);
	return rc;
}

int
store_ctx_list(struct store *st, const struct ctx_query *q, ctx_summary_fn fn, void *arg,
    char next_cursor[LIST_CURSOR_MAX], int *partial, struct gb_err *err)
{
	struct list_plan p;
	struct list_rows rows;
	int rc, part = 0, limit, own;

	if (partial)
		*partial = 0;
	rc = list_plan_init(&p, q, err);	/* first: q->cursor may be next_cursor */
	next_cursor[0] = '\0';
	if (rc)
		return rc;
	limit = p.limit;
	if (p.empty)
		return 0;
	/*
	 * one read transaction for the walks and the error reads: one snapshot,
	 * and one WAL read lock instead of one per statement
	 */
	own = sqlite3_get_autocommit(st->db);
	if (own && (rc = list_exec(st, "BEGIN", err)))
		return rc;
	if ((rc = list_collect(st, &p, limit, LIST_MAX_EXAMINED, &rows, &part, next_cursor,
	    err)) == 0) {
		if (!part && rows.n > limit)
			rc = list_cursor_encode(rows.v[limit - 1].created_at, rows.v[limit - 1].id,
			    next_cursor, err);
		if (rc == 0)
			rc = page_yield(&rows, rows.n < limit ? rows.n : limit, fn, arg, err);
		list_rows_free(&rows);
	}
	if (own)	/* read only: nothing to lose */
		(void)list_exec(st, "COMMIT", &(struct gb_err){ 0, "" });
	if (partial && rc == 0)
		*partial = part;
	return rc;
}

int
store_ctx_list_explain(struct store *st, const struct ctx_query *q, char **plan, struct gb_err *err)
{
	struct list_plan p;
	struct walk w[CTX_STATUS_COUNT];
	char sql[1024];
	size_t len = 0;
	int rc, nw;

	*plan = NULL;
	if ((rc = list_plan_init(&p, q, err)))
		return rc;
	nw = plan_walks(&p, w);
	if ((*plan = calloc(1, 4096)) == NULL)
		return gb_errf(err, GB_ENOMEM, "out of memory");
	for (int i = 0; rc == 0 && i < nw; i++) {
		sqlite3_stmt *stmt;

		snprintf(sql, sizeof(sql), "EXPLAIN QUERY PLAN %s", walk_sql[w[i].by]);
		if (sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
			rc = store_sqlerr(st, err, "explain");
			break;
		}
		while (sqlite3_step(stmt) == SQLITE_ROW && len < 4000)
			len += (size_t)snprintf(*plan + len, 4096 - len, "%s\n",
			    (const char *)sqlite3_column_text(stmt, 3));
		sqlite3_finalize(stmt);
	}
	if (rc) {
		free(*plan);
		*plan = NULL;
	}
	return rc;
}
