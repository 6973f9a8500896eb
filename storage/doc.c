/*
 * doc.c - one document on its way into the mirror: checked, normalised,
 * given its defaults, without ever re-printing the caller's text.
 *
 * cJSON reads the document (numbers as doubles are fine for checking), and
 * every change this module makes (an Extended JSON wrapper turned into its
 * plain value, a date in canonical form, a generated _id) is recorded as an
 * edit: a SQLite JSON path and the new value's JSON text. SQLite's json_set
 * then applies the edits to the original text, which keeps every other byte
 * of meaning, integers beyond 2^53 included.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <bson/bson.h>
#include <openssl/rand.h>

#include "../base/buf.h"
#include "../base/gbtime.h"
#include "../base/json.h"
#include "docs.h"
#include "internal.h"

#define MAX_EDITS_SQL 8		/* pairs per json_set statement */
#define MAX_DEPTH 100		/* nesting MongoDB also refuses past this */

struct edit {
	char *path;		/* SQLite JSON path: $."a"[0]."b" */
	char *json;		/* the new value as JSON text */
};

#define WHERE_MAX 120	/* the longest path a message shows: the rest must fit too */

struct walk {
	struct edit *edits;
	size_t nedits, cap;
	struct buf sqlp;	/* path of the current node, SQLite syntax */
	struct buf disp;	/* the same for messages: a[0].b */
	char cut[WHERE_MAX + 1];	/* disp cut in the middle when longer than WHERE_MAX */
	struct gb_err *err;
};

static void
walk_release(struct walk *w)
{
	for (size_t i = 0; i < w->nedits; i++) {
		free(w->edits[i].path);
		free(w->edits[i].json);
	}
	free(w->edits);
	buf_release(&w->sqlp);
	buf_release(&w->disp);
}

/* Push one step on both paths; returns the lengths to pop back to. */
static int
path_push(struct walk *w, const char *key, int index, size_t *sl, size_t *dl)
{
	*sl = w->sqlp.len;
	*dl = w->disp.len;
	if (key != NULL) {
		size_t klen = strlen(key);

		if (memchr(key, '"', klen) != NULL)
			return gb_errf(w->err, GB_EINVAL,
			    "field '%s%s%s': names with a double quote are "
			    "not supported", buf_str(&w->disp), w->disp.len ? "." : "", key);
		if (buf_append(&w->sqlp, ".\"", 2) || buf_append(&w->sqlp, key, klen) ||
		    buf_append(&w->sqlp, "\"", 1) ||
		    (w->disp.len && buf_append(&w->disp, ".", 1)) ||
		    buf_append(&w->disp, key, klen))
			return gb_errf(w->err, GB_ETOOBIG, "field path too long");
	} else {
		char ix[16];
		int n = snprintf(ix, sizeof(ix), "[%d]", index);

		if (buf_append(&w->sqlp, ix, (size_t)n) || buf_append(&w->disp, ix, (size_t)n))
			return gb_errf(w->err, GB_ETOOBIG, "field path too long");
	}
	return 0;
}

static void
path_pop(struct walk *w, size_t sl, size_t dl)
{
	w->sqlp.len = sl;
	w->sqlp.p[sl] = '\0';
	w->disp.len = dl;
	w->disp.p[dl] = '\0';
}

/* Record that the value at the current path becomes json (taken over). */
static int
add_edit(struct walk *w, char *json)
{
	if (json == NULL)
		return gb_errf(w->err, GB_ENOMEM, "out of memory");
	if (w->nedits == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 8;
		struct edit *e = realloc(w->edits, cap * sizeof(*e));

		if (e == NULL) {
			free(json);
			return gb_errf(w->err, GB_ENOMEM, "out of memory");
		}
		w->edits = e;
		w->cap = cap;
	}
	w->edits[w->nedits].json = json;
	if ((w->edits[w->nedits].path = strdup(w->sqlp.len ? w->sqlp.p : "$")) == NULL) {
		free(json);
		return gb_errf(w->err, GB_ENOMEM, "out of memory");
	}
	w->nedits++;
	return 0;
}

static char *
json_string(const char *s)
{
	cJSON *str = cJSON_CreateString(s);
	char *out = str ? cJSON_PrintUnformatted(str) : NULL;

	cJSON_Delete(str);
	return out;
}

static const char *
type_name(const cJSON *v)
{
	if (cJSON_IsNull(v))
		return "null";
	if (cJSON_IsBool(v))
		return "boolean";
	if (cJSON_IsNumber(v))
		return "number";
	if (cJSON_IsString(v))
		return "string";
	if (cJSON_IsArray(v))
		return "array";
	return "object";
}

static const char *
where(struct walk *w)
{
	size_t half = (WHERE_MAX - 3) / 2;

	if (w->disp.len == 0)
		return "(document)";
	if (w->disp.len <= WHERE_MAX)
		return w->disp.p;
	memcpy(w->cut, w->disp.p, half);
	memcpy(w->cut + half, "...", 3);
	memcpy(w->cut + half + 3, w->disp.p + w->disp.len - half, half);
	w->cut[2 * half + 3] = '\0';
	return w->cut;
}

/* Parse a decimal integer that must fill the whole string. */
static int
parse_int(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
	char *end;
	long long v;

	if (s == NULL || *s == '\0' || isspace((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

/* A date whose offset carries it out of the years 0001-9999 in UTC. */
static int
date_range_err(struct walk *w, const char *text)
{
	return gb_errf(w->err, GB_EINVAL,
	    "field '%s': '%.64s' falls outside the years 0001-9999 in UTC", where(w), text);
}

/*
 * An Extended JSON wrapper at the current path: its plain replacement goes
 * into *repl (a new cJSON item) and the edit list.
 */
static int
unwrap_one(struct walk *w, const cJSON *wrap, cJSON **repl)
{
	const cJSON *v = wrap->child;
	const char *k = v->string;
	char text[64], when[GB_TIME_LEN];
	int64_t n, ms;

	*repl = NULL;
	if (strcmp(k, "$date") == 0) {
		if (cJSON_IsString(v)) {
			if (gb_time_parse(v->valuestring, strlen(v->valuestring), &ms) < 0)
				return gb_errf(w->err, GB_EINVAL,
				    "field '%s': '%.64s' is not an ISO-8601 date", where(w),
				    v->valuestring);
			if (ms < GB_TIME_MIN_MS || ms > GB_TIME_MAX_MS)
				return date_range_err(w, v->valuestring);
		} else if (cJSON_IsObject(v) && v->child && !v->child->next &&
		    strcmp(v->child->string, "$numberLong") == 0 && cJSON_IsString(v->child)) {
			if (parse_int(v->child->valuestring, INT64_MIN, INT64_MAX, &ms) < 0)
				return gb_errf(w->err, GB_EINVAL,
				    "field '%s': bad $numberLong in $date", where(w));
		} else if (cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble)) {
			/*
			 * the range before the cast: a double out of int64_t's
			 * range is undefined
			 */
			if (!(v->valuedouble >= (double)GB_TIME_MIN_MS &&
			    v->valuedouble <= (double)GB_TIME_MAX_MS))
				return gb_errf(w->err, GB_EINVAL,
				    "field '%s': $date out of range (years 1-9999)", where(w));
			ms = (int64_t)v->valuedouble;
		} else {
			return gb_errf(w->err, GB_EINVAL, "field '%s': bad $date value", where(w));
		}
		if (ms < GB_TIME_MIN_MS || ms > GB_TIME_MAX_MS)
			return gb_errf(w->err, GB_EINVAL,
			    "field '%s': $date out of range (years 1-9999)", where(w));
		gb_time_format(ms, when);
		*repl = cJSON_CreateString(when);
		return *repl ? add_edit(w, json_string(when)) :
		    gb_errf(w->err, GB_ENOMEM, "out of memory");
	}
	if (strcmp(k, "$numberLong") == 0 || strcmp(k, "$numberInt") == 0) {
		int is_long = k[7] == 'L';

		if (!cJSON_IsString(v) || parse_int(v->valuestring, is_long ? INT64_MIN : INT32_MIN,
		    is_long ? INT64_MAX : INT32_MAX, &n) < 0)
			return gb_errf(w->err, GB_EINVAL, "field '%s': bad %s value", where(w), k);
		snprintf(text, sizeof(text), "%" PRId64, n);
		*repl = cJSON_CreateNumber((double)n);
		return *repl ? add_edit(w, strdup(text)) :
		    gb_errf(w->err, GB_ENOMEM, "out of memory");
	}
	if (strcmp(k, "$numberDouble") == 0) {
		char *end;
		double d;

		if (!cJSON_IsString(v))
			return gb_errf(w->err, GB_EINVAL, "field '%s': bad $numberDouble value",
			    where(w));
		errno = 0;
		d = strtod(v->valuestring, &end);
		if (*v->valuestring == '\0' || *end != '\0' || !isfinite(d))
			return gb_errf(w->err, GB_EINVAL,
			    "field '%s': $numberDouble '%.32s' cannot be stored "
			    "as JSON", where(w), v->valuestring);
		*repl = cJSON_CreateNumber(d);
		return *repl ? add_edit(w, cJSON_PrintUnformatted(*repl)) :
		    gb_errf(w->err, GB_ENOMEM, "out of memory");
	}
	if (strcmp(k, "$oid") == 0) {
		size_t i;

		if (!cJSON_IsString(v) || strlen(v->valuestring) != 24)
			return gb_errf(w->err, GB_EINVAL, "field '%s': bad $oid value", where(w));
		for (i = 0; i < 24; i++)
			if (!isxdigit((unsigned char)v->valuestring[i]))
				return gb_errf(w->err, GB_EINVAL, "field '%s': bad $oid value",
				    where(w));
		*repl = cJSON_CreateString(v->valuestring);
		return *repl ? add_edit(w, json_string(v->valuestring)) :
		    gb_errf(w->err, GB_ENOMEM, "out of memory");
	}
	return gb_errf(w->err, GB_EINVAL, "field '%s': extended JSON type '%s' is not supported",
	    where(w), k);
}

/* An object holding a name twice (after its escapes are read) is refused, naming it. */
static int
unwrap_dup(struct walk *w, const cJSON *node)
{
	const char *dup = NULL;
	int rc;

	if (!cJSON_IsObject(node) || (rc = json_dup_member(node, &dup)) == 0)
		return 0;
	if (rc < 0)
		return gb_errf(w->err, GB_ENOMEM, "out of memory");
	return gb_errf(w->err, GB_EINVAL, "field '%s%s%s' appears twice",
	    buf_str(&w->disp), w->disp.len ? "." : "", dup);
}

/* Walk the whole tree: refuse names twice, unwrap Extended JSON, refuse other '$' names. */
static int
unwrap(struct walk *w, cJSON *node, int depth)
{
	cJSON *child, *next;
	int index = 0, rc;

	if (depth > MAX_DEPTH)
		return gb_errf(w->err, GB_EINVAL, "field '%s': nested deeper than %d levels",
		    where(w), MAX_DEPTH);
	if ((rc = unwrap_dup(w, node)))
		return rc;
	for (child = node->child; child; child = next, index++) {
		size_t sl, dl;

		next = child->next;
		if (cJSON_IsObject(node) && child->string[0] == '$')
			return gb_errf(w->err, GB_EINVAL,
			    "field '%s%s%s': names starting with '$' are not allowed",
			    buf_str(&w->disp), w->disp.len ? "." : "", child->string);
		/* 1e999 reads as infinity: JSON has no such number, and no integer holds it */
		if (cJSON_IsNumber(child) && !isfinite(child->valuedouble)) {
			if ((rc = path_push(w, cJSON_IsObject(node) ? child->string : NULL, index,
			    &sl, &dl)))
				return rc;
			return gb_errf(w->err, GB_EINVAL,
			    "field '%s': number out of range (not finite)", where(w));
		}
		if (!cJSON_IsObject(child) && !cJSON_IsArray(child))
			continue;
		if ((rc = path_push(w, cJSON_IsObject(node) ? child->string : NULL, index, &sl,
		    &dl)))
			return rc;
		if (cJSON_IsObject(child) && child->child && !child->child->next &&
		    child->child->string[0] == '$') {
			cJSON *repl;

			if ((rc = unwrap_one(w, child, &repl)))
				return rc;
			if (cJSON_IsObject(node) &&
			    (repl->string = strdup(child->string)) == NULL) {
				cJSON_Delete(repl);
				return gb_errf(w->err, GB_ENOMEM, "out of memory");
			}
			cJSON_ReplaceItemViaPointer(node, child, repl);
		} else if ((rc = unwrap(w, child, depth + 1))) {
			return rc;
		}
		path_pop(w, sl, dl);
	}
	return 0;
}

/* Apply fn to every value at the dotted path below node, entering arrays on the way. */
typedef int (*visit_fn)(struct walk *w, cJSON *parent, cJSON *value, const char *key,
    const void *arg);

static int
visit(struct walk *w, cJSON *node, const char *path, visit_fn fn, const void *arg)
{
	char key[128];
	const char *dot = strchr(path, '.');
	size_t klen = dot ? (size_t)(dot - path) : strlen(path);
	cJSON *child;
	size_t sl, dl;
	int rc;

	if (klen >= sizeof(key))
		return 0;
	memcpy(key, path, klen);
	key[klen] = '\0';
	child = cJSON_GetObjectItemCaseSensitive(node, key);
	if ((rc = path_push(w, key, 0, &sl, &dl)))
		return rc;
	if (dot == NULL) {
		rc = fn(w, node, child, key, arg);
	} else if (cJSON_IsObject(child)) {
		rc = visit(w, child, dot + 1, fn, arg);
	} else if (cJSON_IsArray(child)) {
		cJSON *el;
		int i = 0;

		for (el = child->child; el && rc == 0; el = el->next, i++) {
			size_t sl2, dl2;

			if (!cJSON_IsObject(el))
				continue;
			if ((rc = path_push(w, NULL, i, &sl2, &dl2)))
				break;
			rc = visit(w, el, dot + 1, fn, arg);
			path_pop(w, sl2, dl2);
		}
	}
	path_pop(w, sl, dl);
	return rc;
}

static int
visit_date(struct walk *w, cJSON *parent, cJSON *v, const char *key, const void *arg)
{
	char when[GB_TIME_LEN];
	int64_t ms;

	(void)arg;
	if (v == NULL || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v))
		return gb_errf(w->err, GB_EINVAL,
		    "field '%s': expected an ISO-8601 date string, got %s", where(w), type_name(v));
	if (gb_time_parse(v->valuestring, strlen(v->valuestring), &ms) < 0)
		return gb_errf(w->err, GB_EINVAL, "field '%s': '%.64s' is not an ISO-8601 date",
		    where(w), v->valuestring);
	if (ms < GB_TIME_MIN_MS || ms > GB_TIME_MAX_MS)
		return date_range_err(w, v->valuestring);
	gb_time_format(ms, when);
	if (strcmp(when, v->valuestring) == 0)
		return 0;
	cJSON_ReplaceItemInObjectCaseSensitive(parent, key, cJSON_CreateString(when));
	return add_edit(w, json_string(when));
}

static int
check_type(struct walk *w, const cJSON *v, const struct field_rule *r)
{
	static const char *const expected[] = {
		[F_STRING] = "a string", [F_INT] = "an integer", [F_NUMBER] = "a number",
		[F_BOOL] = "a boolean", [F_OBJECT] = "an object", [F_ARRAY] = "an array",
		[F_STRARRAY] = "an array of strings", [F_ENUM] = "one of",
	};
	int ok;

	switch (r->type) {
	case F_STRING:	ok = cJSON_IsString(v); break;
	case F_NUMBER:
		ok = cJSON_IsNumber(v) && (!(r->flags & F_NONNEG) || v->valuedouble >= 0);
		break;
	case F_INT:
		ok = cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) &&
		    fabs(v->valuedouble) < 9.2e18 &&
		    (!(r->flags & F_NONNEG) || v->valuedouble >= 0);
		break;
	case F_BOOL:	ok = cJSON_IsBool(v); break;
	case F_OBJECT:	ok = cJSON_IsObject(v); break;
	case F_ARRAY:	ok = cJSON_IsArray(v); break;
	case F_STRARRAY: {
		const cJSON *el;

		ok = cJSON_IsArray(v);
		for (el = ok ? v->child : NULL; el; el = el->next)
			if (!cJSON_IsString(el))
				return gb_errf(w->err, GB_EINVAL,
				    "field '%s': expected an array of strings, "
				    "found %s", where(w), type_name(el));
		break;
	}
	case F_ENUM:
		ok = 0;
		if (cJSON_IsString(v))
			for (int i = 0; r->values[i]; i++)
				if (strcmp(r->values[i], v->valuestring) == 0)
					ok = 1;
		if (!ok) {
			char list[160] = "";

			for (int i = 0; r->values[i]; i++) {
				strncat(list, i ? ", " : "", sizeof(list) - strlen(list) - 1);
				strncat(list, r->values[i], sizeof(list) - strlen(list) - 1);
			}
			if (cJSON_IsString(v))
				return gb_errf(w->err, GB_EINVAL,
				    "field '%s': '%.64s' is not one of %s", where(w),
				    v->valuestring, list);
			return gb_errf(w->err, GB_EINVAL, "field '%s': expected one of %s, got %s",
			    where(w), list, type_name(v));
		}
		break;
	default:
		ok = 0;
	}
	if (!ok) {
		if (r->flags & F_NONNEG && cJSON_IsNumber(v) && v->valuedouble < 0)
			return gb_errf(w->err, GB_EINVAL, "field '%s': must not be negative",
			    where(w));
		return gb_errf(w->err, GB_EINVAL, "field '%s': expected %s, got %s", where(w),
		    expected[r->type], type_name(v));
	}
	return 0;
}

static int
visit_rule(struct walk *w, cJSON *parent, cJSON *v, const char *key, const void *arg)
{
	const struct field_rule *r = arg;

	(void)parent;
	(void)key;
	if (v == NULL)
		return r->flags & F_REQUIRED ?
		    gb_errf(w->err, GB_EINVAL, "field '%s': is required", where(w)) : 0;
	if (cJSON_IsNull(v))
		return r->flags & F_NULLABLE ? 0 :
		    gb_errf(w->err, GB_EINVAL, "field '%s': expected %s, got null", where(w),
		    r->flags & F_REQUIRED ? "a value" : "a value or no field");
	if (r->flags & F_EACH) {
		const cJSON *el;
		int i = 0, rc;

		if (!cJSON_IsArray(v))
			return gb_errf(w->err, GB_EINVAL, "field '%s': expected an array, got %s",
			    where(w), type_name(v));
		for (el = v->child; el; el = el->next, i++) {
			size_t sl, dl;

			if ((rc = path_push(w, NULL, i, &sl, &dl)) || (rc = check_type(w, el, r)))
				return rc;
			path_pop(w, sl, dl);
		}
		return 0;
	}
	return check_type(w, v, r);
}

static int
check_id(struct walk *w, cJSON *root, enum coll c, char id[STORE_ID_MAX])
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "_id");
	const unsigned char *p;
	size_t sl, dl;
	int rc;

	if (v == NULL) {
		unsigned char rnd[8];
		char *gen;

		if (RAND_bytes(rnd, sizeof(rnd)) != 1)
			return gb_errf(w->err, GB_EIO, "no random bytes for a new _id");
		/* seconds first, as in an ObjectId, so _id order follows creation */
		snprintf(id, STORE_ID_MAX, "%s%08" PRIx32 "%02x%02x%02x%02x%02x%02x%02x%02x",
		    coll_defs[c].prefix, (uint32_t)(gb_now_ms() / 1000),
		    rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
		if ((rc = path_push(w, "_id", 0, &sl, &dl)))
			return rc;
		if ((gen = json_string(id)) == NULL || !cJSON_AddStringToObject(root, "_id", id)) {
			free(gen);
			return gb_errf(w->err, GB_ENOMEM, "out of memory");
		}
		rc = add_edit(w, gen);
		path_pop(w, sl, dl);
		return rc;
	}
	if (!cJSON_IsString(v))
		return gb_errf(w->err, GB_EINVAL, "field '_id': expected a string, got %s",
		    type_name(v));
	if (v->valuestring[0] == '\0' || strlen(v->valuestring) >= STORE_ID_MAX)
		return gb_errf(w->err, GB_EINVAL, "field '_id': must be 1 to %d bytes",
		    STORE_ID_MAX - 1);
	for (p = (const unsigned char *)v->valuestring; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return gb_errf(w->err, GB_EINVAL,
			    "field '_id': control characters are not allowed");
	memcpy(id, v->valuestring, strlen(v->valuestring) + 1);
	return 0;
}

/* Set key at the top level to a string when it is absent. */
static int
set_default(struct walk *w, cJSON *root, const char *key, const char *value)
{
	size_t sl, dl;
	int rc;

	if (cJSON_GetObjectItemCaseSensitive(root, key) != NULL)
		return 0;
	if (!cJSON_AddStringToObject(root, key, value))
		return gb_errf(w->err, GB_ENOMEM, "out of memory");
	if ((rc = path_push(w, key, 0, &sl, &dl)))
		return rc;
	rc = add_edit(w, json_string(value));
	path_pop(w, sl, dl);
	return rc;
}

static const char *const edit_sql[MAX_EDITS_SQL] = {
	"SELECT json_set(json(?1), ?2, json(?3))",
	"SELECT json_set(json(?1), ?2, json(?3), ?4, json(?5))",
	"SELECT json_set(json(?1), ?2, json(?3), ?4, json(?5), ?6, json(?7))",
	"SELECT json_set(json(?1), ?2, json(?3), ?4, json(?5), ?6, json(?7), ?8, json(?9))",
	"SELECT json_set(json(?1), ?2, json(?3), ?4, json(?5), ?6, json(?7), ?8, json(?9), "
	    "?10, json(?11))",
	"SELECT json_set(json(?1), ?2, json(?3), ?4, json(?5), ?6, json(?7), ?8, json(?9), "
	    "?10, json(?11), ?12, json(?13))",
	"SELECT json_set(json(?1), ?2, json(?3), ?4, json(?5), ?6, json(?7), ?8, json(?9), "
	    "?10, json(?11), ?12, json(?13), ?14, json(?15))",
	"SELECT json_set(json(?1), ?2, json(?3), ?4, json(?5), ?6, json(?7), ?8, json(?9), "
	    "?10, json(?11), ?12, json(?13), ?14, json(?15), ?16, json(?17))",
};

/* Apply the edits to text with SQLite's json_set; *out is malloc'd. */
static int
apply_edits(struct store *st, const char *text, size_t len, const struct edit *edits, size_t n,
    char **out, struct gb_err *err)
{
	char *cur = NULL;
	size_t curlen = len;
	int rc = 0;

	for (size_t done = 0; done < n;) {
		size_t k = n - done > MAX_EDITS_SQL ? MAX_EDITS_SQL : n - done;
		sqlite3_stmt *stmt;
		const char *res;

		if ((rc = store_stmt(st, edit_sql[k - 1], &stmt, err)))
			break;
		sqlite3_bind_text(stmt, 1, cur ? cur : text, (int)curlen, SQLITE_STATIC);
		for (size_t i = 0; i < k; i++) {
			sqlite3_bind_text(stmt, (int)(2 + 2 * i), edits[done + i].path, -1,
			    SQLITE_STATIC);
			sqlite3_bind_text(stmt, (int)(3 + 2 * i), edits[done + i].json, -1,
			    SQLITE_STATIC);
		}
		if (sqlite3_step(stmt) != SQLITE_ROW ||
		    (res = (const char *)sqlite3_column_text(stmt, 0)) == NULL) {
			rc = store_sqlerr(st, err, "document");
			sqlite3_reset(stmt);
			break;
		}
		curlen = (size_t)sqlite3_column_bytes(stmt, 0);
		free(cur);
		if ((cur = malloc(curlen + 1)) == NULL) {
			sqlite3_reset(stmt);
			rc = gb_errf(err, GB_ENOMEM, "out of memory");
			break;
		}
		memcpy(cur, res, curlen + 1);
		sqlite3_reset(stmt);
		done += k;
	}
	if (rc) {
		free(cur);
		return rc;
	}
	*out = cur;
	return 0;
}

int
store_set_fields(struct store *st, const char *text, size_t len, const struct store_field *f, int n,
    char **out, struct gb_err *err)
{
	struct edit *e = calloc(n > 0 ? (size_t)n : 1, sizeof(*e));
	int rc = 0;

	*out = NULL;
	if (e == NULL)
		return gb_errf(err, GB_ENOMEM, "out of memory");
	for (int i = 0; i < n && rc == 0; i++) {
		char *name = json_string(f[i].name);

		e[i].json = json_string(f[i].value);
		if (name == NULL || e[i].json == NULL || asprintf(&e[i].path, "$.%s", name) < 0) {
			e[i].path = NULL;
			rc = gb_errf(err, GB_ENOMEM, "out of memory");
		}
		free(name);
	}
	if (rc == 0)
		rc = apply_edits(st, text, len, e, (size_t)n, out, err);
	for (int i = 0; i < n; i++) {
		free(e[i].path);
		free(e[i].json);
	}
	free(e);
	return rc;
}

/* All bytes below 0x80: valid UTF-8 without a closer look. */
static int
ascii(const char *text, size_t len)
{
	uint64_t acc = 0, word;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		memcpy(&word, text + i, 8);
		acc |= word;
	}
	for (; i < len; i++)
		acc |= (unsigned char)text[i];
	return (acc & 0x8080808080808080ULL) == 0;
}

int
doc_prepare(struct store *st, enum coll c, const char *text, size_t len, struct doc *d,
    struct gb_err *err)
{
	const struct coll_def *def = &coll_defs[c];
	const char *end = NULL;
	struct walk w;
	cJSON *root = NULL;
	char now[GB_TIME_LEN];
	int rc = 0;

	memset(d, 0, sizeof(*d));
	memset(&w, 0, sizeof(w));
	buf_init(&w.sqlp, 64 * 1024);
	buf_init(&w.disp, 64 * 1024);
	buf_puts(&w.sqlp, "$");
	w.err = err;
	if (len > STORE_MAX_DOC) {
		rc = gb_errf(err, GB_ETOOBIG, "document of %zu bytes exceeds the limit of %u bytes",
		    len, STORE_MAX_DOC);
		goto out;
	}
	if (memchr(text, '\0', len) != NULL) {
		rc = gb_errf(err, GB_EINVAL, "document contains a NUL byte");
		goto out;
	}
	if (!ascii(text, len) && !bson_utf8_validate(text, len, false)) {
		rc = gb_errf(err, GB_EINVAL, "document is not valid UTF-8");
		goto out;
	}
	root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (root == NULL) {
		size_t at = end && end >= text && end <= text + len ? (size_t)(end - text) : len;

		rc = gb_errf(err, GB_EINVAL, "invalid JSON at byte %zu%s", at,
		    at >= len ? " (truncated?)" : "");
		goto out;
	}
	while (end < text + len && isspace((unsigned char)*end))
		end++;
	if (end != text + len) {
		rc = gb_errf(err, GB_EINVAL, "invalid JSON: unexpected text at byte %zu",
		    (size_t)(end - text));
		goto out;
	}
	if (!cJSON_IsObject(root)) {
		rc = gb_errf(err, GB_EINVAL, "expected a JSON object, got %s", type_name(root));
		goto out;
	}
	if ((rc = doc_check_nul(text, len, err)) || (rc = unwrap(&w, root, 0)))
		goto out;
	for (int i = 0; def->date_paths[i]; i++)
		if ((rc = visit(&w, root, def->date_paths[i], visit_date, NULL)))
			goto out;
	gb_time_format(gb_now_ms(), now);
	if ((rc = set_default(&w, root, "created_at", now)))
		goto out;
	{
		const cJSON *created = cJSON_GetObjectItemCaseSensitive(root, "created_at");

		if ((rc = set_default(&w, root, "updated_at",
		    cJSON_IsString(created) ? created->valuestring : now)))
			goto out;
	}
	if (c == COLL_CONTEXTS && (rc = set_default(&w, root, "status", "pending")))
		goto out;
	for (const struct field_rule *r = def->rules; r->path; r++)
		if ((rc = visit(&w, root, r->path, visit_rule, r)))
			goto out;
	if ((rc = check_id(&w, root, c, d->id)))
		goto out;
	if (w.nedits > 0 && (rc = apply_edits(st, text, len, w.edits, w.nedits, &d->text, err)))
		goto out;
	d->tree = root;
	root = NULL;
	d->in = text;
	d->inlen = len;
out:
	cJSON_Delete(root);
	walk_release(&w);
	return rc;
}

void
doc_release(struct doc *d)
{
	cJSON_Delete(d->tree);
	free(d->text);
	d->tree = NULL;
	d->text = NULL;
}

const char *
doc_text(const struct doc *d, size_t *len)
{
	if (d->text) {
		*len = strlen(d->text);
		return d->text;
	}
	*len = d->inlen;
	return d->in;
}

static int
visit_extdate(struct walk *w, cJSON *parent, cJSON *v, const char *key, const void *arg)
{
	char *json;
	int rc;

	(void)parent;
	(void)key;
	(void)arg;
	if (!cJSON_IsString(v))
		return 0;
	if ((json = malloc(strlen(v->valuestring) * 2 + 16)) == NULL)
		return gb_errf(w->err, GB_ENOMEM, "out of memory");
	{
		char *s = json_string(v->valuestring);

		if (s == NULL) {
			free(json);
			return gb_errf(w->err, GB_ENOMEM, "out of memory");
		}
		snprintf(json, strlen(v->valuestring) * 2 + 16, "{\"$date\":%s}", s);
		free(s);
	}
	rc = add_edit(w, json);
	return rc;
}

int
doc_to_extjson(struct store *st, enum coll c, const char *text, size_t len, char **out,
    struct gb_err *err)
{
	struct walk w;
	cJSON *root;
	int rc = 0;

	*out = NULL;
	memset(&w, 0, sizeof(w));
	buf_init(&w.sqlp, 64 * 1024);
	buf_init(&w.disp, 64 * 1024);
	buf_puts(&w.sqlp, "$");
	w.err = err;
	if ((root = cJSON_ParseWithLength(text, len)) == NULL) {
		rc = gb_errf(err, GB_EIO, "stored document is not valid JSON");
		goto out;
	}
	for (int i = 0; coll_defs[c].date_paths[i]; i++)
		if ((rc = visit(&w, root, coll_defs[c].date_paths[i], visit_extdate, NULL)))
			goto out;
	if (w.nedits == 0)
		*out = strndup(text, len);
	else
		rc = apply_edits(st, text, len, w.edits, w.nedits, out, err);
	if (rc == 0 && *out == NULL)
		rc = gb_errf(err, GB_ENOMEM, "out of memory");
out:
	cJSON_Delete(root);
	walk_release(&w);
	return rc;
}
