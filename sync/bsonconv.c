/*
 * bsonconv.c - documents between the store's Extended JSON and BSON.
 *
 * To BSON: libbson's JSON reader, which makes {"$date": ...} a BSON Date
 * (before 1970 too), integers that fit int32 an int32 and the others an
 * int64, exactly. An integer beyond int64 (which the store keeps as its
 * text) is read as a double, as MongoDB's own tools read it: the reader
 * would wrap it round or refuse the document.
 *
 * To JSON: written here rather than with bson_as_relaxed_extended_json,
 * whose doubles are printed with 20 digits ("0.69999999999999995559" for
 * 0.7) and whose dates before 1970 are {"$numberLong"} wrappers: doubles
 * come out in the shortest text that reads back the same value, dates as
 * {"$date": "ISO-8601"}, integers as their decimal text. For the store
 * (bsonconv_to_store), dates in years 1-9999 are the bare ISO-8601 text
 * store_put would make of that wrapper, so it has nothing to rewrite.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/buf.h"
#include "../base/gbtime.h"
#include "../storage/docs.h"
#include "internal.h"

#define CONV_MAX_DEPTH 200
#define CONV_MAX_JSON (STORE_MAX_DOC + 1024u * 1024)

/* Does the integer token s[0..n) (an optional '-' and digits) fall outside int64? */
static int
int_beyond_int64(const char *s, size_t n)
{
	char tmp[32];
	size_t digits = n - (s[0] == '-');

	if (digits < 19)
		return 0;
	if (n >= sizeof(tmp))
		return 1;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	errno = 0;
	(void)strtoll(tmp, NULL, 10);
	return errno == ERANGE;
}

/*
 * json with ".0" after every integer beyond int64 (read as a double then);
 * *out NULL when there is none (json is fine as it is).
 */
static int
widen_big_ints(const char *json, size_t len, char **out, size_t *outlen, struct gb_err *err)
{
	struct buf b;
	size_t i = 0, from = 0;
	int in_str = 0;

	*out = NULL;
	buf_init(&b, CONV_MAX_JSON);
	while (i < len) {
		char ch = json[i];

		if (in_str) {
			if (ch == '\\')
				i++;
			else if (ch == '"')
				in_str = 0;
			i++;
			continue;
		}
		if (ch == '"') {
			in_str = 1;
			i++;
			continue;
		}
		if (ch != '-' && (ch < '0' || ch > '9')) {
			i++;
			continue;
		}
		size_t start = i, intlen;
		int frac = 0;

		while (i < len && (json[i] == '-' || json[i] == '+' || json[i] == '.' ||
		    json[i] == 'e' || json[i] == 'E' || (json[i] >= '0' && json[i] <= '9'))) {
			if (json[i] == '.' || json[i] == 'e' || json[i] == 'E')
				frac = 1;
			i++;
		}
		intlen = i - start;
		if (frac || !int_beyond_int64(json + start, intlen))
			continue;
		if (buf_append(&b, json + from, i - from) || buf_append(&b, ".0", 2)) {
			buf_release(&b);
			return gb_errf(err, GB_ETOOBIG, "document too large to convert");
		}
		from = i;
	}
	if (b.len == 0) {
		buf_release(&b);
		return 0;
	}
	if (buf_append(&b, json + from, len - from)) {
		buf_release(&b);
		return gb_errf(err, GB_ETOOBIG, "document too large to convert");
	}
	*outlen = b.len;
	*out = buf_take(&b);
	return 0;
}

int
bsonconv_from_json(const char *json, size_t len, bson_t **out, struct gb_err *err)
{
	bson_error_t e;
	char *wide = NULL;
	size_t wlen = 0;
	int rc;

	*out = NULL;
	if ((rc = widen_big_ints(json, len, &wide, &wlen, err)))
		return rc;
	*out = bson_new_from_json((const uint8_t *)(wide ? wide : json),
	    wide ? (ssize_t)wlen : (ssize_t)len, &e);
	free(wide);
	if (*out == NULL)
		return gb_errf(err, GB_EINVAL, "cannot convert the document to BSON: %s",
		    e.message);
	return 0;
}

static int
put_str(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, from = 0;
	int rc = buf_append(b, "\"", 1);

	for (i = 0; i < n && rc == 0; i++) {
		unsigned char ch = (unsigned char)s[i];
		char esc[8];
		size_t elen;

		if (ch >= 0x20 && ch != '"' && ch != '\\')
			continue;
		rc = buf_append(b, s + from, i - from);
		if (ch == '"' || ch == '\\') {
			esc[0] = '\\';
			esc[1] = (char)ch;
			elen = 2;
		} else if (ch == '\n' || ch == '\t' || ch == '\r') {
			esc[0] = '\\';
			esc[1] = ch == '\n' ? 'n' : ch == '\t' ? 't' : 'r';
			elen = 2;
		} else {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[ch >> 4];
			esc[5] = hex[ch & 15];
			elen = 6;
		}
		if (rc == 0)
			rc = buf_append(b, esc, elen);
		from = i + 1;
	}
	if (rc == 0)
		rc = buf_append(b, s + from, n - from);
	return rc ? rc : buf_append(b, "\"", 1);
}

static int
put_double(struct buf *b, double v)
{
	char text[64];

	if (!isfinite(v))
		return buf_printf(b, "{\"$numberDouble\":\"%s\"}",
		    isnan(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity");
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(text, sizeof(text), "%.*g", prec, v);
		if (strtod(text, NULL) == v)
			break;
	}
	/* keep a double a double: 1.0, not 1 */
	if (strspn(text, "0123456789-") == strlen(text))
		strncat(text, ".0", sizeof(text) - strlen(text) - 1);
	return buf_puts(b, text);
}

static int
put_date(struct buf *b, int64_t ms, int bare)
{
	char when[GB_TIME_LEN];

	if (ms < -62135596800000LL || ms > 253402300799999LL)
		return buf_printf(b, "{\"$date\":{\"$numberLong\":\"%" PRId64 "\"}}", ms);
	gb_time_format(ms, when);
	if (bare)
		return buf_printf(b, "\"%s\"", when);
	return buf_printf(b, "{\"$date\":\"%s\"}", when);
}

/* A value of a type JSON has no plain form for, as canonical Extended JSON. */
static int
put_other(struct buf *b, const bson_iter_t *it)
{
	bson_t one = BSON_INITIALIZER;
	char *s, *colon;
	size_t n;
	int rc;

	if (!bson_append_iter(&one, "v", 1, it)) {
		bson_destroy(&one);
		return GB_EINVAL;
	}
	s = bson_as_canonical_extended_json(&one, &n);
	bson_destroy(&one);
	if (s == NULL)
		return GB_EINVAL;
	/* { "v" : VALUE } */
	colon = strchr(s, ':');
	if (colon == NULL || n < 4) {
		bson_free(s);
		return GB_EINVAL;
	}
	n = strlen(colon + 1);
	if (n < 2 || colon[n] != '}') {
		bson_free(s);
		return GB_EINVAL;
	}
	rc = buf_append(b, colon + 1, n - 1);
	bson_free(s);
	return rc;
}

static int put_doc(struct buf *b, bson_iter_t *it, int array, int depth, int bare);

/* bare: dates as bare ISO-8601 text (the store's form), else {"$date": ...} */
static int
put_value(struct buf *b, bson_iter_t *it, int depth, int bare)
{
	bson_iter_t sub;
	uint32_t n;
	const char *s;
	char oid[25];

	switch (bson_iter_type(it)) {
	case BSON_TYPE_UTF8:
		s = bson_iter_utf8(it, &n);
		return put_str(b, s, n);
	case BSON_TYPE_INT32:
		return buf_printf(b, "%" PRId32, bson_iter_int32(it));
	case BSON_TYPE_INT64:
		return buf_printf(b, "%" PRId64, bson_iter_int64(it));
	case BSON_TYPE_DOUBLE:
		return put_double(b, bson_iter_double(it));
	case BSON_TYPE_BOOL:
		return buf_puts(b, bson_iter_bool(it) ? "true" : "false");
	case BSON_TYPE_NULL:
	case BSON_TYPE_UNDEFINED:
		return buf_puts(b, "null");
	case BSON_TYPE_DATE_TIME:
		return put_date(b, bson_iter_date_time(it), bare);
	case BSON_TYPE_OID:
		bson_oid_to_string(bson_iter_oid(it), oid);
		return buf_printf(b, "{\"$oid\":\"%s\"}", oid);
	case BSON_TYPE_DOCUMENT:
	case BSON_TYPE_ARRAY:
		if (depth >= CONV_MAX_DEPTH || !bson_iter_recurse(it, &sub))
			return GB_EINVAL;
		return put_doc(b, &sub, bson_iter_type(it) == BSON_TYPE_ARRAY, depth + 1,
		    bare);
	default:
		return put_other(b, it);
	}
}

static int
put_doc(struct buf *b, bson_iter_t *it, int array, int depth, int bare)
{
	int first = 1, rc = buf_append(b, array ? "[" : "{", 1);

	while (rc == 0 && bson_iter_next(it)) {
		if (!first && (rc = buf_append(b, ",", 1)))
			break;
		first = 0;
		if (!array && ((rc = put_str(b, bson_iter_key(it), bson_iter_key_len(it))) ||
		    (rc = buf_append(b, ":", 1))))
			break;
		rc = put_value(b, it, depth, bare);
	}
	return rc ? rc : buf_append(b, array ? "]" : "}", 1);
}

static int
to_json(const bson_t *doc, int bare, char **out, size_t *len, struct gb_err *err)
{
	struct buf b;
	bson_iter_t it;
	int rc;

	*out = NULL;
	*len = 0;
	if (!bson_iter_init(&it, doc))
		return gb_errf(err, GB_EINVAL, "corrupt BSON document");
	buf_init(&b, CONV_MAX_JSON);
	if ((rc = put_doc(&b, &it, 0, 0, bare))) {
		buf_release(&b);
		if (rc == GB_ETOOBIG)
			return gb_errf(err, rc, "document over %u bytes as JSON", CONV_MAX_JSON);
		if (rc == GB_ENOMEM)
			return gb_errf(err, rc, "out of memory");
		return gb_errf(err, GB_EINVAL, "BSON document that cannot be written as JSON "
		    "(nested deeper than %d levels, or corrupt)", CONV_MAX_DEPTH);
	}
	*len = b.len;
	*out = buf_take(&b);
	return 0;
}

int
bsonconv_to_json(const bson_t *doc, char **out, size_t *len, struct gb_err *err)
{
	return to_json(doc, 0, out, len, err);
}

int
bsonconv_to_store(const bson_t *doc, char **out, size_t *len, struct gb_err *err)
{
	return to_json(doc, 1, out, len, err);
}

/* metadata's fields with appliance_id set to id, into dst */
static int
meta_with_appliance(const bson_iter_t *meta, const char *id, bson_t *dst)
{
	bson_iter_t sub;
	bson_t child;
	int ok = 1;

	if (!bson_append_document_begin(dst, "metadata", 8, &child))
		return 0;
	if (meta && bson_iter_recurse(meta, &sub)) {
		while (ok && bson_iter_next(&sub))
			if (strcmp(bson_iter_key(&sub), "appliance_id") != 0)
				ok = bson_append_iter(&child, NULL, 0, &sub);
	}
	ok = ok && BSON_APPEND_UTF8(&child, "appliance_id", id);
	return bson_append_document_end(dst, &child) && ok;
}

int
bsonconv_set_appliance(const bson_t *src, const char *id, bson_t *dst, struct gb_err *err)
{
	bson_iter_t it;
	int ok = 1, seen = 0;

	bson_init(dst);
	if (!bson_iter_init(&it, src))
		return gb_errf(err, GB_EINVAL, "corrupt BSON document");
	while (ok && bson_iter_next(&it)) {
		if (strcmp(bson_iter_key(&it), "metadata") == 0 && !seen) {
			seen = 1;
			ok = meta_with_appliance(BSON_ITER_HOLDS_DOCUMENT(&it) ? &it : NULL, id,
			    dst);
		} else {
			ok = bson_append_iter(dst, NULL, 0, &it);
		}
	}
	if (ok && !seen)
		ok = meta_with_appliance(NULL, id, dst);
	return ok ? 0 : gb_errf(err, GB_ETOOBIG, "document too large with its appliance_id");
}
