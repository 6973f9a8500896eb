/*
 * syncapply.c - a document pulled from the cluster, applied with the
 * newer-wins guard and, for contexts, the job-aware rule:
 *
 * - absent here: inserted;
 * - updated_at here newer: kept; equal: nothing to do;
 * - a context that ended here (completed, failed, cancelled) is never
 *   replaced by one that has not: it is kept, and its updated_at moves up
 *   to the cluster's so that its push wins over the cluster's copy;
 * - retry_count never goes down: the higher local count is written into
 *   the applied document;
 * - a context a local worker holds (processing with a lease) stays
 *   processing with that lease and its start when the cluster's copy has
 *   not ended, so the running worker is not disturbed.
 *
 * The write goes through store_put's UPSERT (real columns, counters,
 * listing). The outbox row the write itself queued is deleted, unless the
 * rule made the document differ from the cluster's: that one must go back.
 * Inside a page (store_pull_begin) the triggers queue nothing and the
 * apply queues that row itself, and a row queued before gets its version
 * moved as the trigger would.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/gbtime.h"
#include "internal.h"
#include "outbox.h"

/*
 * What the box has of the document and its outbox row, in one lookup
 * (?1 _id, ?2 the collection's name in the outbox).
 */
#define LOCAL_FROM(t) " FROM (SELECT ?1 AS id) k LEFT JOIN " t " d ON d._id = k.id"
#define LOCAL_QUEUED(t) \
	LOCAL_FROM(t) " LEFT JOIN outbox o ON o.coll = ?2 AND o.doc_id = k.id"
#define LOCAL_CTX_SQL \
	"SELECT d._id IS NOT NULL, d.updated_at, o.seq IS NOT NULL, o.seq, o.ver, d.status, " \
	"d.retry_count, d.worker_id IS NOT NULL AND d.status = 'processing', d.started_at" \
	LOCAL_QUEUED("contexts")
#define LOCAL_HEAD "SELECT d._id IS NOT NULL, "
#define LOCAL_DOC_AT "d.doc ->> '$.updated_at', "
#define LOCAL_WITH_OUTBOX(t, at) LOCAL_HEAD at "o.seq IS NOT NULL, o.seq, o.ver" LOCAL_QUEUED(t)
#define LOCAL_NO_OUTBOX(t) LOCAL_HEAD LOCAL_DOC_AT "0, NULL, NULL" LOCAL_FROM(t)
static const char *const local_sql[COLL_COUNT] = {
	[COLL_CONTEXTS] = LOCAL_CTX_SQL,
	[COLL_BATCHES] = LOCAL_WITH_OUTBOX("batches", "d.updated_at, "),
	[COLL_TEMPLATES] = LOCAL_WITH_OUTBOX("templates", LOCAL_DOC_AT),
	[COLL_COMPONENTS] = LOCAL_WITH_OUTBOX("components", LOCAL_DOC_AT),
	[COLL_PIPELINES] = LOCAL_NO_OUTBOX("pipelines"),
	[COLL_USERS] = LOCAL_NO_OUTBOX("users"),
	[COLL_ORGANIZATIONS] = LOCAL_NO_OUTBOX("organizations"),
};

/* the row the apply's own write queued (there was none before) */
#define OUTBOX_UNQUEUE_SQL "DELETE FROM outbox WHERE coll = ?1 AND doc_id = ?2"
/* inside a page: what the quiet trigger would have done (migrate.c's OUTBOX_TRIGGER) */
#define OUTBOX_QUEUE_SQL \
	"INSERT INTO outbox (coll, doc_id, ver, queued_ms) VALUES (?1, ?2, 1, " \
	"CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)) " \
	"ON CONFLICT (coll, doc_id) DO UPDATE SET ver = ver + 1"
/* sync enabled: turned 0 for the page (a change: it was on), back to 1 at its commit */
#define ENABLED_QUIET_SQL "UPDATE sync_meta SET value = '0' WHERE key = 'enabled' AND value = '1'"
#define ENABLED_SET_SQL "UPDATE sync_meta SET value = '1' WHERE key = 'enabled'"
#define ANY_PULL_REJECTED_SQL \
	"SELECT EXISTS (SELECT 1 FROM sync_rejected WHERE direction = 'pull')"
/* a document the box could not store before and now could: out of the rejected list */
#define UNREJECT_PULL_SQL \
	"DELETE FROM sync_rejected WHERE coll = ?1 AND doc_id = ?2 AND direction = 'pull'"
#define JSON_SET_SQL "SELECT json_set(?1, ?2, json(?3))"
/*
 * a kept terminal context: its updated_at moves up to the cluster's, its
 * retry_count to the cluster's when that is higher (?3, NULL: none)
 */
#define KEEP_TERMINAL_SQL \
	"UPDATE contexts SET updated_at = ?2, retry_count = max(retry_count, ifnull(?3, 0)), " \
	"doc = json_set(doc, '$.updated_at', ?2, '$.retry_count', " \
	"max(retry_count, ifnull(?3, 0))) " \
	"WHERE _id = ?1 AND (updated_at IS NULL OR updated_at < ?2)"

/* What the box has of the document, and whether it waits in the outbox. */
struct local {
	int found;
	char updated_at[GB_TIME_LEN + 8];	/* "" when it has none */
	int status;				/* contexts: enum ctx_status, -1 unknown */
	int64_t retry_count;
	int leased;				/* contexts: held by a local worker */
	char started_at[GB_TIME_LEN + 8];
	int queued;				/* an outbox row was there before */
};

static int
is_terminal(int s)
{
	return s == CTX_COMPLETED || s == CTX_FAILED || s == CTX_CANCELLED;
}

static void
col_text(sqlite3_stmt *stmt, int col, char *dst, size_t size)
{
	const unsigned char *v = sqlite3_column_text(stmt, col);

	snprintf(dst, size, "%s", v ? (const char *)v : "");
}

static int
local_read(struct store *st, enum coll c, const char *id, struct local *l, struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc, step;

	memset(l, 0, sizeof(*l));
	l->status = -1;
	if ((rc = store_stmt(st, local_sql[c], &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, coll_name(c), -1, SQLITE_STATIC);
	if ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
		l->found = sqlite3_column_int(stmt, 0);
		col_text(stmt, 1, l->updated_at, sizeof(l->updated_at));
		l->queued = sqlite3_column_int(stmt, 2);
		if (c == COLL_CONTEXTS && l->found) {
			l->status = ctx_status_from_name(
			    (const char *)sqlite3_column_text(stmt, 5));
			l->retry_count = sqlite3_column_int64(stmt, 6);
			l->leased = sqlite3_column_int(stmt, 7);
			col_text(stmt, 8, l->started_at, sizeof(l->started_at));
		}
	} else {
		rc = store_sqlerr(st, err, "sync apply");
	}
	sqlite3_reset(stmt);
	return rc;
}

static int
has_outbox(enum coll c)
{
	return c == COLL_CONTEXTS || c == COLL_BATCHES || c == COLL_TEMPLATES ||
	    c == COLL_COMPONENTS;
}

/* Run sql (?1 the collection's name, ?2 the _id). */
static int
run_coll_id(struct store *st, const char *sql, enum coll c, const char *id, struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc;

	if ((rc = store_stmt(st, sql, &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, coll_name(c), -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt) == SQLITE_DONE ? 0 : store_sqlerr(st, err, "sync apply");
	sqlite3_reset(stmt);
	return rc;
}

/* Drop the outbox row the apply's own write queued (none was there before). */
static int
unqueue(struct store *st, enum coll c, const char *id, const struct local *before,
    struct gb_err *err)
{
	if (before->queued || !has_outbox(c))
		return 0;
	return run_coll_id(st, OUTBOX_UNQUEUE_SQL, c, id, err);
}

/* d's text with the value at path set to json, prepared again into d. */
static int
doc_edit(struct store *st, enum coll c, struct doc *d, const char *path, const char *json,
    struct gb_err *err)
{
	sqlite3_stmt *stmt;
	const char *text;
	char *edited = NULL;
	struct doc nd;
	size_t len;
	int rc;

	if ((rc = store_stmt(st, JSON_SET_SQL, &stmt, err)))
		return rc;
	text = doc_text(d, &len);
	sqlite3_bind_text(stmt, 1, text, (int)len, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, path, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, json, -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) != SQLITE_ROW || sqlite3_column_text(stmt, 0) == NULL)
		rc = store_sqlerr(st, err, "sync apply");
	else if ((edited = strdup((const char *)sqlite3_column_text(stmt, 0))) == NULL)
		rc = gb_errf(err, GB_ENOMEM, "out of memory");
	sqlite3_reset(stmt);
	if (rc || (rc = doc_prepare(st, c, edited, strlen(edited), &nd, err))) {
		free(edited);
		return rc;
	}
	/* nd keeps the edited text: its own normalised copy, or this one */
	if (nd.text == NULL)
		nd.text = edited;
	else
		free(edited);
	doc_release(d);
	*d = nd;
	return 0;
}

/*
 * The job-aware rule on a context newer in the cluster: the local retry
 * count when higher, the local lease's processing state when a worker holds
 * it. *changed: the document now differs from the cluster's.
 */
static int
ctx_rule(struct store *st, struct doc *d, const struct local *l, int *changed,
    struct gb_err *err)
{
	const cJSON *rc_item = cJSON_GetObjectItemCaseSensitive(d->tree, "retry_count");
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(d->tree, "status");
	int remote = cJSON_IsString(s) ? ctx_status_from_name(s->valuestring) : -1, rc;
	char json[64];

	/* the rules refused a retry_count that is not a non-negative integer */
	if (l->retry_count > 0 &&
	    (!cJSON_IsNumber(rc_item) || rc_item->valuedouble < (double)l->retry_count)) {
		snprintf(json, sizeof(json), "%lld", (long long)l->retry_count);
		if ((rc = doc_edit(st, COLL_CONTEXTS, d, "$.retry_count", json, err)))
			return rc;
		*changed = 1;
	}
	if (!l->leased || is_terminal(remote))
		return 0;
	if (remote != CTX_PROCESSING) {
		if ((rc = doc_edit(st, COLL_CONTEXTS, d, "$.status", "\"processing\"", err)))
			return rc;
		*changed = 1;
	}
	if (l->started_at[0]) {
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(d->tree, "processing");
		const cJSON *sa = cJSON_GetObjectItemCaseSensitive(p, "started_at");

		if (cJSON_IsString(sa) && strcmp(sa->valuestring, l->started_at) == 0)
			return 0;
		snprintf(json, sizeof(json), "\"%s\"", l->started_at);
		if ((rc = doc_edit(st, COLL_CONTEXTS, d, "$.processing.started_at", json, err)))
			return rc;
		*changed = 1;
	}
	return 0;
}

/*
 * A local terminal context kept: its updated_at up to the cluster's, so its
 * push wins, and its retry_count up to the cluster's when that is higher, so
 * the push does not lower it there.
 */
static int
keep_terminal(struct store *st, const struct doc *d, const char *remote_at, struct gb_err *err)
{
	const cJSON *rc_item = cJSON_GetObjectItemCaseSensitive(d->tree, "retry_count");
	sqlite3_stmt *stmt;
	int rc;

	if ((rc = store_stmt(st, KEEP_TERMINAL_SQL, &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, d->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, remote_at, -1, SQLITE_STATIC);
	/* the rules took only a non-negative integer retry_count */
	if (cJSON_IsNumber(rc_item) && rc_item->valuedouble >= 0)
		sqlite3_bind_int64(stmt, 3, (sqlite3_int64)rc_item->valuedouble);
	rc = sqlite3_step(stmt) == SQLITE_DONE ? 0 : store_sqlerr(st, err, "sync apply");
	sqlite3_reset(stmt);
	return rc;
}

/*
 * Decide and write d (the outbox rows aside) after l, what the box has;
 * *changed: d differs from the cluster's.
 */
static int
apply_doc(struct store *st, enum coll c, struct doc *d, const struct local *l,
    enum store_apply *res, int *changed, struct gb_err *err)
{
	const cJSON *u = cJSON_GetObjectItemCaseSensitive(d->tree, "updated_at");
	const char *remote_at = cJSON_IsString(u) ? u->valuestring : "";
	int rc, cmp;

	if (!l->found) {
		*res = STORE_APPLY_INSERTED;
		return store_put_doc(st, c, d, STORE_UPSERT, err);
	}
	cmp = strcmp(l->updated_at, remote_at);
	if (cmp > 0 || cmp == 0) {
		*res = cmp > 0 ? STORE_APPLY_OLDER : STORE_APPLY_SAME;
		return 0;
	}
	if (c == COLL_CONTEXTS) {
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(d->tree, "status");
		int remote = cJSON_IsString(s) ? ctx_status_from_name(s->valuestring) : -1;

		if (is_terminal(l->status) && !is_terminal(remote)) {
			*res = STORE_APPLY_KEPT_TERMINAL;
			*changed = 1;
			return keep_terminal(st, d, remote_at, err);
		}
		if ((rc = ctx_rule(st, d, l, changed, err)))
			return rc;
	}
	*res = STORE_APPLY_NEWER;
	return store_put_doc(st, c, d, STORE_UPSERT, err);
}

/* The outbox row of a write inside a page, where the triggers are quiet. */
static int
page_queue(struct store *st, enum coll c, const char *id, const struct local *before,
    enum store_apply res, int changed, struct gb_err *err)
{
	int wrote = res == STORE_APPLY_INSERTED || res == STORE_APPLY_NEWER ||
	    res == STORE_APPLY_KEPT_TERMINAL;

	if (!has_outbox(c) || !wrote || !(changed || before->queued))
		return 0;
	return run_coll_id(st, OUTBOX_QUEUE_SQL, c, id, err);
}

/* The lookup, the write and the outbox row of d. */
static int
apply_write(struct store *st, enum coll c, struct doc *d, enum store_apply *res,
    struct gb_err *err)
{
	struct local l;
	int rc, changed = 0;

	if ((rc = local_read(st, c, d->id, &l, err)) ||
	    (rc = apply_doc(st, c, d, &l, res, &changed, err)))
		return rc;
	if (st->pull_page)
		rc = page_queue(st, c, d->id, &l, *res, changed, err);
	else if (!changed && (*res == STORE_APPLY_INSERTED || *res == STORE_APPLY_NEWER))
		rc = unqueue(st, c, d->id, &l, err);
	if (rc == 0 && (!st->pull_page || st->pull_rejected))
		rc = run_coll_id(st, UNREJECT_PULL_SQL, c, d->id, err);
	return rc;
}

/* sql, its first row's integer into *out (0: no row). */
static int
page_int(struct store *st, const char *sql, int *out, struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc = 0, step;

	*out = 0;
	if ((rc = store_stmt(st, sql, &stmt, err)))
		return rc;
	if ((step = sqlite3_step(stmt)) == SQLITE_ROW)
		*out = sqlite3_column_int(stmt, 0);
	else if (step != SQLITE_DONE)
		rc = store_sqlerr(st, err, "pull page");
	sqlite3_reset(stmt);
	return rc;
}

int
store_pull_begin(struct store *st, struct gb_err *err)
{
	int rc, none;

	if (st->pull_page)
		return gb_errf(err, GB_ESTATE, "a pull page is open already");
	if ((rc = store_begin(st, err)))
		return rc;
	if ((rc = page_int(st, ANY_PULL_REJECTED_SQL, &st->pull_rejected, err)) ||
	    (rc = page_int(st, ENABLED_QUIET_SQL, &none, err))) {
		store_rollback(st);
		return rc;
	}
	/* without sync enabled the triggers queue nothing anyway */
	st->pull_page = sqlite3_changes(st->db) > 0;
	return 0;
}

int
store_pull_commit(struct store *st, struct gb_err *err)
{
	int rc, none;

	if (st->pull_page && (rc = page_int(st, ENABLED_SET_SQL, &none, err))) {
		store_pull_rollback(st);
		return rc;
	}
	st->pull_page = 0;
	return store_commit(st, err);	/* undoes the page when it fails */
}

void
store_pull_rollback(struct store *st)
{
	st->pull_page = 0;
	store_rollback(st);
}

int
store_sync_apply(struct store *st, enum coll c, const char *doc, size_t len,
    enum store_apply *result, char id_out[STORE_ID_MAX], struct gb_err *err)
{
	enum store_apply res = STORE_APPLY_SAME;
	struct doc d;
	int rc;

	if ((unsigned)c >= COLL_COUNT)
		return gb_errf(err, GB_EINVAL, "unknown collection");
	if ((rc = doc_prepare(st, c, doc, len, &d, err)))
		return rc;
	if ((rc = store_begin(st, err)) == 0) {
		if ((rc = apply_write(st, c, &d, &res, err)) == 0)
			rc = store_commit(st, err);
		else
			store_rollback(st);
	}
	if (rc == 0) {
		if (result)
			*result = res;
		if (id_out)
			memcpy(id_out, d.id, strlen(d.id) + 1);
	}
	doc_release(&d);
	return rc;
}
