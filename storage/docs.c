/*
 * docs.c - whole-document reads and writes for every collection: put (insert,
 * upsert, replace), get, delete, count, filtered walks for export.
 *
 * The SQL of each collection is spelled out once here as static text so the
 * statement cache can key on it.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../base/buf.h"
#include "../base/gbtime.h"
#include "../base/json.h"
#include "docs.h"
#include "internal.h"

#define CTX_INSERT \
	"INSERT INTO contexts (_id, doc, status, updated_at, retry_count, next_retry_at, " \
	"started_at, organization_id, user_id, batch_id, type, priority, created_at, title) " \
	"VALUES (?1, json(?2), ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
#define CTX_SET \
	"doc = excluded.doc, status = excluded.status, updated_at = excluded.updated_at, " \
	"retry_count = excluded.retry_count, next_retry_at = excluded.next_retry_at, " \
	"started_at = excluded.started_at, dirty = 0, organization_id = " \
	"excluded.organization_id, " \
	"user_id = excluded.user_id, batch_id = excluded.batch_id, type = excluded.type, " \
	"priority = excluded.priority, created_at = excluded.created_at, title = excluded.title, " \
	"worker_id = CASE WHEN excluded.status = 'processing' THEN worker_id END, " \
	"lease_until = CASE WHEN excluded.status = 'processing' THEN lease_until END"

#define BATCH_INSERT \
	"INSERT INTO batches (_id, doc, status, updated_at, context_count, completed_count, " \
	"failed_count, " \
	"cancelled_count, processing_started_at, processing_completed_at, total_duration_ms, " \
	"prompt_tokens, " \
	"completion_tokens, cost) VALUES (?1, json(?2), ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, " \
	"?12, ?13, ?14)"
#define BATCH_SET \
	"doc = excluded.doc, status = excluded.status, updated_at = excluded.updated_at, " \
	"context_count = excluded.context_count, completed_count = excluded.completed_count, " \
	"failed_count = excluded.failed_count, cancelled_count = excluded.cancelled_count, " \
	"processing_started_at = excluded.processing_started_at, " \
	"processing_completed_at = excluded.processing_completed_at, " \
	"total_duration_ms = excluded.total_duration_ms, prompt_tokens = excluded.prompt_tokens, " \
	"completion_tokens = excluded.completion_tokens, cost = excluded.cost, dirty = 0"

#define INS(t)	"INSERT INTO " t " (_id, doc) VALUES (?1, json(?2))"
#define UPS(t)	INS(t) " ON CONFLICT (_id) DO UPDATE SET doc = excluded.doc"
#define GET(t)	"SELECT doc FROM " t " WHERE _id = ?1"
#define DEL(t)	"DELETE FROM " t " WHERE _id = ?1"
#define CNT(t)	"SELECT count(*) FROM " t

/* REPLACE is an update that must find its row: see put_row */
static const char *const put_sql[COLL_COUNT][3] = {
	[COLL_CONTEXTS] = { CTX_INSERT, CTX_INSERT " ON CONFLICT (_id) DO UPDATE SET " CTX_SET,
		"UPDATE contexts SET doc = json(?2), status = ?3, updated_at = ?4, "
		"retry_count = ?5, "
		"next_retry_at = ?6, started_at = ?7, dirty = 0, organization_id = ?8, "
		"user_id = ?9, "
		"batch_id = ?10, type = ?11, priority = ?12, created_at = ?13, title = ?14, "
		"worker_id = CASE WHEN ?3 = 'processing' THEN worker_id END, "
		"lease_until = CASE WHEN ?3 = 'processing' THEN lease_until END WHERE _id = ?1" },
	[COLL_BATCHES] = { BATCH_INSERT, BATCH_INSERT " ON CONFLICT (_id) DO UPDATE SET " BATCH_SET,
		"UPDATE batches SET doc = json(?2), status = ?3, updated_at = ?4, "
		"context_count = ?5, "
		"completed_count = ?6, failed_count = ?7, cancelled_count = ?8, "
		"processing_started_at = ?9, "
		"processing_completed_at = ?10, total_duration_ms = ?11, prompt_tokens = ?12, "
		"completion_tokens = ?13, cost = ?14, dirty = 0 WHERE _id = ?1" },
#define COLL_SQL(c, t) [c] = { INS(t), UPS(t), "UPDATE " t " SET doc = json(?2) WHERE _id = ?1" }
	COLL_SQL(COLL_TEMPLATES, "templates"),
	COLL_SQL(COLL_COMPONENTS, "components"),
	COLL_SQL(COLL_PIPELINES, "pipelines"),
	COLL_SQL(COLL_USERS, "users"),
	COLL_SQL(COLL_ORGANIZATIONS, "organizations"),
#undef COLL_SQL
};

static const char *const get_sql[COLL_COUNT] = {
	[COLL_CONTEXTS] = "SELECT " CTX_DOC_EXPR " FROM contexts WHERE _id = ?1",
	[COLL_BATCHES] = "SELECT " BATCH_DOC_EXPR " FROM batches WHERE _id = ?1",
	[COLL_TEMPLATES] = GET("templates"), [COLL_COMPONENTS] = GET("components"),
	[COLL_PIPELINES] = GET("pipelines"),
	[COLL_USERS] = GET("users"), [COLL_ORGANIZATIONS] = GET("organizations"),
};

static const char *const del_sql[COLL_COUNT] = {
	DEL("contexts"), DEL("templates"), DEL("components"), DEL("pipelines"),
	DEL("batches"), DEL("users"), DEL("organizations"),
};

static const char *const cnt_sql[COLL_COUNT] = {
	CNT("contexts"), CNT("templates"), CNT("components"), CNT("pipelines"),
	CNT("batches"), CNT("users"), CNT("organizations"),
};

static const char *
tree_str(const cJSON *root, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, a);

	if (b != NULL)
		v = cJSON_GetObjectItemCaseSensitive(v, b);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/*
 * v as an integer when it is a number that fits one, else dflt: the range
 * is checked before the cast (a cast of a double out of range is undefined).
 * The collection rules have refused such values already; this never trusts it.
 */
static int64_t
num_int(const cJSON *v, int64_t dflt)
{
	int64_t out;

	return cJSON_IsNumber(v) && json_to_int64(v->valuedouble, INT64_MIN, INT64_MAX, &out) == 0 ?
	    out : dflt;
}

static int64_t
tree_int(const cJSON *root, const char *a, const char *b, int64_t dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, a);

	if (b != NULL)
		v = cJSON_GetObjectItemCaseSensitive(v, b);
	return num_int(v, dflt);
}

static int
put_row(struct store *st, enum coll c, const struct doc *d, enum store_put_mode mode,
    struct gb_err *err)
{
	sqlite3_stmt *stmt;
	const char *text;
	size_t len;
	int rc;

	if ((rc = store_stmt(st, put_sql[c][mode], &stmt, err)))
		return rc;
	text = doc_text(d, &len);
	sqlite3_bind_text(stmt, 1, d->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, text, (int)len, SQLITE_STATIC);
	if (c == COLL_CONTEXTS) {
		const cJSON *rcnt = cJSON_GetObjectItemCaseSensitive(d->tree, "retry_count");

		sqlite3_bind_text(stmt, 3, tree_str(d->tree, "status", NULL), -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 4, tree_str(d->tree, "updated_at", NULL), -1,
		    SQLITE_STATIC);
		sqlite3_bind_int64(stmt, 5, num_int(rcnt, 0));
		sqlite3_bind_text(stmt, 6, tree_str(d->tree, "next_retry_at", NULL), -1,
		    SQLITE_STATIC);
		sqlite3_bind_text(stmt, 7, tree_str(d->tree, "processing", "started_at"), -1,
		    SQLITE_STATIC);
		sqlite3_bind_text(stmt, 8, tree_str(d->tree, "organization_id", NULL), -1,
		    SQLITE_STATIC);
		sqlite3_bind_text(stmt, 9, tree_str(d->tree, "user_id", NULL), -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 10, tree_str(d->tree, "batch_id", NULL), -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 11, tree_str(d->tree, "type", NULL), -1, SQLITE_STATIC);
		{
			const cJSON *p = cJSON_GetObjectItemCaseSensitive(
			    cJSON_GetObjectItemCaseSensitive(d->tree, "metadata"), "priority");

			if (cJSON_IsNumber(p))
				sqlite3_bind_int64(stmt, 12, num_int(p, 0));
		}
		sqlite3_bind_text(stmt, 13, tree_str(d->tree, "created_at", NULL), -1,
		    SQLITE_STATIC);
		sqlite3_bind_text(stmt, 14, tree_str(d->tree, "data", "title"), -1, SQLITE_STATIC);
	}
	if (c == COLL_BATCHES) {
		const cJSON *usage = cJSON_GetObjectItemCaseSensitive(d->tree, "usage");
		const char *status = tree_str(d->tree, "status", NULL);

		sqlite3_bind_text(stmt, 3, status ? status : "pending", -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 4, tree_str(d->tree, "updated_at", NULL), -1,
		    SQLITE_STATIC);
		sqlite3_bind_int64(stmt, 5, tree_int(d->tree, "context_count", NULL,
		    cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(d->tree, "context_ids"))));
		sqlite3_bind_int64(stmt, 6, tree_int(d->tree, "completed_count", NULL, 0));
		sqlite3_bind_int64(stmt, 7, tree_int(d->tree, "failed_count", NULL, 0));
		sqlite3_bind_int64(stmt, 8, tree_int(d->tree, "cancelled_count", NULL, 0));
		sqlite3_bind_text(stmt, 9, tree_str(d->tree, "processing_started_at", NULL), -1,
		    SQLITE_STATIC);
		sqlite3_bind_text(stmt, 10, tree_str(d->tree, "processing_completed_at", NULL), -1,
		    SQLITE_STATIC);
		if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(d->tree, "total_duration_ms")))
			sqlite3_bind_int64(stmt, 11,
			    tree_int(d->tree, "total_duration_ms", NULL, 0));
		sqlite3_bind_int64(stmt, 12, tree_int(usage, "prompt_tokens", NULL, 0));
		sqlite3_bind_int64(stmt, 13, tree_int(usage, "completion_tokens", NULL, 0));
		{
			const cJSON *cost = cJSON_GetObjectItemCaseSensitive(usage, "cost");

			sqlite3_bind_double(stmt, 14,
			    cJSON_IsNumber(cost) && isfinite(cost->valuedouble) ?
			    cost->valuedouble : 0);
		}
	}
	if (sqlite3_step(stmt) != SQLITE_DONE) {
		if ((sqlite3_extended_errcode(st->db) == SQLITE_CONSTRAINT_PRIMARYKEY ||
		    sqlite3_extended_errcode(st->db) == SQLITE_CONSTRAINT_UNIQUE))
			rc = gb_errf(err, GB_EEXIST, "duplicate _id '%s' in %s", d->id,
			    coll_defs[c].name);
		else
			rc = store_sqlerr(st, err, "write");
	} else if (mode == STORE_REPLACE && sqlite3_changes(st->db) == 0) {
		rc = gb_errf(err, GB_ENOTFOUND, "no document with _id '%s' in %s", d->id,
		    coll_defs[c].name);
	}
	sqlite3_reset(stmt);
	return rc;
}

int
store_put_doc(struct store *st, enum coll c, const struct doc *d, enum store_put_mode mode,
    struct gb_err *err)
{
	return put_row(st, c, d, mode, err);
}

int
store_put(struct store *st, enum coll c, const char *text, size_t len,
    enum store_put_mode mode, char id_out[STORE_ID_MAX], struct gb_err *err)
{
	struct doc d;
	int rc;

	if ((unsigned)c >= COLL_COUNT)
		return gb_errf(err, GB_EINVAL, "unknown collection");
	if ((rc = doc_prepare(st, c, text, len, &d, err)))
		return rc;
	if ((rc = put_row(st, c, &d, mode, err)) == 0 && id_out)
		memcpy(id_out, d.id, strlen(d.id) + 1);
	doc_release(&d);
	return rc;
}

int
store_normalize(struct store *st, enum coll c, const char *text, size_t len,
    char **out, char id_out[STORE_ID_MAX], struct gb_err *err)
{
	const char *t;
	struct doc d;
	size_t n;
	int rc;

	*out = NULL;
	if ((unsigned)c >= COLL_COUNT)
		return gb_errf(err, GB_EINVAL, "unknown collection");
	if ((rc = doc_prepare(st, c, text, len, &d, err)))
		return rc;
	t = doc_text(&d, &n);
	if ((*out = strndup(t, n)) == NULL)
		rc = gb_errf(err, GB_ENOMEM, "out of memory");
	else if (id_out)
		memcpy(id_out, d.id, strlen(d.id) + 1);
	doc_release(&d);
	return rc;
}

int
store_put_many(struct store *st, enum coll c, const char *const *texts, const size_t *lens,
    size_t n, enum store_put_mode mode, size_t *failed, struct gb_err *err)
{
	int rc;

	if ((rc = store_begin(st, err)))
		return rc;
	for (size_t i = 0; i < n; i++)
		if ((rc = store_put(st, c, texts[i], lens[i], mode, NULL, err))) {
			if (failed)
				*failed = i;
			store_rollback(st);
			return rc;
		}
	return store_commit(st, err);
}

int
store_get(struct store *st, enum coll c, const char *id, char **out, struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc = 0, step;

	*out = NULL;
	if ((unsigned)c >= COLL_COUNT)
		return gb_errf(err, GB_EINVAL, "unknown collection");
	if ((rc = store_stmt(st, get_sql[c], &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
	step = sqlite3_step(stmt);
	if (step == SQLITE_ROW) {
		if ((*out = strndup((const char *)sqlite3_column_text(stmt, 0),
		    (size_t)sqlite3_column_bytes(stmt, 0))) == NULL)
			rc = gb_errf(err, GB_ENOMEM, "out of memory");
	} else if (step == SQLITE_DONE) {
		rc = gb_errf(err, GB_ENOTFOUND, "no document with _id '%s' in %s", id,
		    coll_defs[c].name);
	} else {
		rc = store_sqlerr(st, err, "read");
	}
	sqlite3_reset(stmt);
	return rc;
}

int
store_delete(struct store *st, enum coll c, const char *id, struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc;

	if ((unsigned)c >= COLL_COUNT)
		return gb_errf(err, GB_EINVAL, "unknown collection");
	if ((rc = store_stmt(st, del_sql[c], &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) != SQLITE_DONE)
		rc = store_sqlerr(st, err, "delete");
	else if (sqlite3_changes(st->db) == 0)
		rc = gb_errf(err, GB_ENOTFOUND, "no document with _id '%s' in %s", id,
		    coll_defs[c].name);
	sqlite3_reset(stmt);
	return rc;
}

int
store_count(struct store *st, enum coll c, int64_t *n, struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc;

	if ((unsigned)c >= COLL_COUNT)
		return gb_errf(err, GB_EINVAL, "unknown collection");
	if ((rc = store_stmt(st, cnt_sql[c], &stmt, err)))
		return rc;
	if (sqlite3_step(stmt) == SQLITE_ROW)
		*n = sqlite3_column_int64(stmt, 0);
	else
		rc = store_sqlerr(st, err, "count");
	sqlite3_reset(stmt);
	return rc;
}

/* ---- filters: a small MongoDB-style subset turned into SQL ---- */

struct filter {
	struct buf sql;
	const cJSON *binds[256];	/* values, in parameter order */
	const char *paths[256];		/* SQLite JSON path of each value's field */
	int nbinds;
	enum coll c;
};

static int
is_date_path(enum coll c, const char *path)
{
	for (int i = 0; coll_defs[c].date_paths[i]; i++)
		if (strcmp(coll_defs[c].date_paths[i], path) == 0)
			return 1;
	return 0;
}

static int
filter_value(struct filter *f, const char *field, const cJSON *v, struct gb_err *err)
{
	if (f->nbinds >= 256)
		return gb_errf(err, GB_ETOOBIG, "filter has too many values");
	if (cJSON_IsObject(v) || cJSON_IsArray(v))
		return gb_errf(err, GB_EINVAL,
		    "filter on '%s': compare with a string, number, boolean or null", field);
	f->binds[f->nbinds] = v;
	f->paths[f->nbinds] = field;
	f->nbinds++;
	return buf_printf(&f->sql, "?%d", f->nbinds) ?
	    gb_errf(err, GB_ETOOBIG, "filter too long") : 0;
}

/*
 * $in and $nin as MongoDB has them: null in the list stands for a null or
 * missing field, and $nin without null in its list matches a null or
 * missing field (SQL's NOT IN alone would not).
 */
static int
filter_in(struct filter *f, const char *field, const char *expr, const cJSON *op,
    struct gb_err *err)
{
	int nin = op->string[1] == 'n', has_null = 0, first = 1, rc;
	const cJSON *el;

	if (!cJSON_IsArray(op))
		return gb_errf(err, GB_EINVAL, "filter on '%s': %s takes an array", field,
		    op->string);
	if (buf_printf(&f->sql, " AND (%s %sIN (", expr, nin ? "NOT " : ""))
		return gb_errf(err, GB_ETOOBIG, "filter too long");
	for (el = op->child; el; el = el->next) {
		if (cJSON_IsNull(el)) {
			has_null = 1;
			continue;
		}
		if (!first && buf_puts(&f->sql, ", "))
			return gb_errf(err, GB_ETOOBIG, "filter too long");
		first = 0;
		if ((rc = filter_value(f, field, el, err)))
			return rc;
	}
	if (nin)
		rc = buf_printf(&f->sql, ") %s %s IS %sNULL)", has_null ? "AND" : "OR", expr,
		    has_null ? "NOT " : "");
	else
		rc = has_null ? buf_printf(&f->sql, ") OR %s IS NULL)", expr) :
		    buf_puts(&f->sql, "))");
	return rc ? gb_errf(err, GB_ETOOBIG, "filter too long") : 0;
}

static int
filter_field(struct filter *f, const char *field, const cJSON *cond, struct gb_err *err)
{
	static const struct { const char *op, *sql; } ops[] = {
		{ "$eq", "=" }, { "$ne", "IS NOT" }, { "$gt", ">" }, { "$gte", ">=" },
		{ "$lt", "<" }, { "$lte", "<=" },
	};
	char expr[200];
	const cJSON *op;
	int rc;

	for (const char *p = field; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' && *p != '-')
			return gb_errf(err, GB_EINVAL,
			    "filter field '%.64s': only letters, digits, '_', '-' "
			    "and '.' are supported", field);
	if (*field == '\0' || strlen(field) > 120)
		return gb_errf(err, GB_EINVAL, "filter field '%.64s' is empty or too long", field);
	snprintf(expr, sizeof(expr), "json_extract(d, '$.%s')", field);
	if (!cJSON_IsObject(cond) || cond->child == NULL || cond->child->string[0] != '$') {
		if (cJSON_IsNull(cond))
			return buf_printf(&f->sql, " AND %s IS NULL", expr) ? GB_ETOOBIG : 0;
		if (buf_printf(&f->sql, " AND %s = ", expr))
			return gb_errf(err, GB_ETOOBIG, "filter too long");
		return filter_value(f, field, cond, err);
	}
	for (op = cond->child; op; op = op->next) {
		size_t i;

		for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
			if (strcmp(op->string, ops[i].op) == 0)
				break;
		if (i < sizeof(ops) / sizeof(ops[0])) {
			if (cJSON_IsNull(op))
				rc = buf_printf(&f->sql, " AND %s %s NULL", expr,
				    i == 1 ? "IS NOT" : "IS");
			else
				rc = buf_printf(&f->sql, " AND %s %s ", expr, ops[i].sql);
			if (rc)
				return gb_errf(err, GB_ETOOBIG, "filter too long");
			if (!cJSON_IsNull(op) && (rc = filter_value(f, field, op, err)))
				return rc;
		} else if (strcmp(op->string, "$in") == 0 || strcmp(op->string, "$nin") == 0) {
			if ((rc = filter_in(f, field, expr, op, err)))
				return rc;
		} else if (strcmp(op->string, "$exists") == 0) {
			if (!cJSON_IsBool(op))
				return gb_errf(err, GB_EINVAL,
				    "filter on '%s': $exists takes true or false", field);
			if (buf_printf(&f->sql, " AND json_type(d, '$.%s') IS %s", field,
			    cJSON_IsTrue(op) ? "NOT NULL" : "NULL"))
				return gb_errf(err, GB_ETOOBIG, "filter too long");
		} else {
			return gb_errf(err, GB_EINVAL,
			    "filter on '%s': operator '%.32s' is not supported "
			    "($eq $ne $gt $gte $lt $lte $in $nin $exists)", field, op->string);
		}
	}
	return 0;
}

static void
filter_bind(struct filter *f, sqlite3_stmt *stmt)
{
	for (int i = 0; i < f->nbinds; i++) {
		const cJSON *v = f->binds[i];
		char when[GB_TIME_LEN];
		int64_t ms;

		if (cJSON_IsString(v)) {
			/* a date compares in its canonical form */
			if (is_date_path(f->c, f->paths[i]) &&
			    gb_time_parse(v->valuestring, strlen(v->valuestring), &ms) == 0)
				sqlite3_bind_text(stmt, i + 1, gb_time_format(ms, when), -1,
				    SQLITE_TRANSIENT);
			else
				sqlite3_bind_text(stmt, i + 1, v->valuestring, -1, SQLITE_STATIC);
		} else if (cJSON_IsBool(v)) {
			sqlite3_bind_int(stmt, i + 1, cJSON_IsTrue(v));
		} else if (cJSON_IsNumber(v)) {
			if (v->valuedouble == floor(v->valuedouble) && fabs(v->valuedouble) < 9e15)
				sqlite3_bind_int64(stmt, i + 1, (sqlite3_int64)v->valuedouble);
			else
				sqlite3_bind_double(stmt, i + 1, v->valuedouble);
		} else {
			sqlite3_bind_null(stmt, i + 1);
		}
	}
}

int
store_each(struct store *st, enum coll c, const char *filter, int extjson,
    store_doc_fn fn, void *arg, struct gb_err *err)
{
	struct filter *f = NULL;
	sqlite3_stmt *stmt = NULL;
	cJSON *ftree = NULL;
	int rc = 0, step;

	if ((unsigned)c >= COLL_COUNT)
		return gb_errf(err, GB_EINVAL, "unknown collection");
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return gb_errf(err, GB_ENOMEM, "out of memory");
	f->c = c;
	buf_init(&f->sql, 64 * 1024);
	if (buf_printf(&f->sql, "SELECT d FROM (SELECT _id, %s AS d FROM %s) WHERE 1",
	    store_doc_expr(c), coll_defs[c].name)) {
		rc = gb_errf(err, GB_ENOMEM, "out of memory");
		goto out;
	}
	if (filter != NULL) {
		const cJSON *field;

		if ((ftree = cJSON_Parse(filter)) == NULL || !cJSON_IsObject(ftree)) {
			rc = gb_errf(err, GB_EINVAL, "filter is not a JSON object");
			goto out;
		}
		for (field = ftree->child; field; field = field->next)
			if ((rc = filter_field(f, field->string, field, err)))
				goto out;
	}
	if (buf_puts(&f->sql, " ORDER BY _id")) {
		rc = gb_errf(err, GB_ENOMEM, "out of memory");
		goto out;
	}
	if (sqlite3_prepare_v2(st->db, buf_str(&f->sql), -1, &stmt, NULL) != SQLITE_OK) {
		rc = store_sqlerr(st, err, "filter");
		goto out;
	}
	filter_bind(f, stmt);
	while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *doc = (const char *)sqlite3_column_text(stmt, 0);
		size_t len = (size_t)sqlite3_column_bytes(stmt, 0);

		if (extjson) {
			char *ext;

			if ((rc = doc_to_extjson(st, c, doc, len, &ext, err)))
				goto out;
			rc = fn(arg, ext, strlen(ext));
			free(ext);
		} else {
			rc = fn(arg, doc, len);
		}
		if (rc)
			goto out;
	}
	if (step != SQLITE_DONE)
		rc = store_sqlerr(st, err, "read");
out:
	sqlite3_finalize(stmt);
	cJSON_Delete(ftree);
	if (f)
		buf_release(&f->sql);
	free(f);
	return rc;
}

/* The line of text that at is on, from 1. */
static size_t
array_line(const char *text, const char *at)
{
	size_t line = 1;

	for (; text < at; text++)
		line += *text == '\n';
	return line;
}

int
store_json_array_each(struct store *st, const char *text, size_t len,
    store_elem_fn fn, void *arg, struct gb_err *err)
{
	const char *end = NULL;
	sqlite3_stmt *stmt;
	cJSON *tree;
	size_t i = 0;
	int rc, step;

	if ((end = memchr(text, '\0', len)) != NULL)
		return gb_errf(err, GB_EINVAL, "a NUL byte at line %zu", array_line(text, end));
	/* cJSON finds where the syntax breaks; SQLite then splits the elements exactly */
	if ((tree = cJSON_ParseWithLengthOpts(text, len, &end, 0)) == NULL) {
		size_t at = end && end >= text ? (size_t)(end - text) : len, line = 1;

		for (size_t k = 0; k < at && k < len; k++)
			line += text[k] == '\n';
		return gb_errf(err, GB_EINVAL, "invalid JSON at line %zu%s", line,
		    at >= len ? " (truncated?)" : "");
	}
	if (!cJSON_IsArray(tree)) {
		cJSON_Delete(tree);
		return gb_errf(err, GB_EINVAL, "expected a JSON array");
	}
	cJSON_Delete(tree);
	while (end < text + len && isspace((unsigned char)*end))
		end++;
	if (end < text + len)
		return gb_errf(err, GB_EINVAL, "unexpected text after the array at line %zu",
		    array_line(text, end));
	if ((rc = store_stmt(st, "SELECT type, value FROM json_each(?1)", &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, text, (int)len, SQLITE_STATIC);
	while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *type = (const char *)sqlite3_column_text(stmt, 0);

		if (strcmp(type, "object") != 0) {
			rc = gb_errf(err, GB_EINVAL, "element %zu: expected a JSON object, got %s",
			    i + 1, type);
			break;
		}
		if ((rc = fn(arg, i, (const char *)sqlite3_column_text(stmt, 1),
		    (size_t)sqlite3_column_bytes(stmt, 1))))
			break;
		i++;
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = store_sqlerr(st, err, "JSON array");
	sqlite3_reset(stmt);
	return rc;
}
