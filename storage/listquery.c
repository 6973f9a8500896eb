/*
 * listquery.c - a list query checked before any walk: the limit, the
 * status set, the created_at bounds (ISO-8601 or milliseconds) in the
 * stored date form, and the cursor, an opaque base64url text of the last
 * position ("1\n<created_at>\n<_id>") checked on its way back.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/gbtime.h"
#include "internal.h"
#include "listing_internal.h"

#define LIST_DEFAULT_LIMIT 50

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* A date bound: digits are milliseconds since the epoch, anything else ISO-8601. */
static int
plan_date(const char *in, const char *name, char out[LIST_KEY_MAX], struct gb_err *err)
{
	char tmp[GB_TIME_LEN];
	int64_t ms;
	size_t n = strlen(in);

	if (n > 0 && n <= 15 && strspn(in, "0123456789") == n) {
		char *end;
		long long v;

		errno = 0;
		v = strtoll(in, &end, 10);
		if (errno || *end || v > 253402300799999LL)
			return gb_errf(err, GB_EINVAL, "bad %s '%s'", name, in);
		ms = v;
	} else if (gb_time_parse(in, n, &ms) != 0) {
		return gb_errf(err, GB_EINVAL, "bad %s '%.64s': not a date", name, in);
	}
	snprintf(out, LIST_KEY_MAX, "%s", gb_time_format(ms, tmp));
	return 0;
}

int
list_plan_init(struct list_plan *p, const struct ctx_query *q, struct gb_err *err)
{
	char before[LIST_KEY_MAX];
	int rc;

	memset(p, 0, sizeof(*p));
	if (q->org == NULL)
		return gb_errf(err, GB_EINVAL, "a list needs an organization");
	if (q->limit < 0 || q->limit > LIST_MAX_LIMIT)
		return gb_errf(err, GB_EINVAL, "bad limit %d: 1 to %d", q->limit, LIST_MAX_LIMIT);
	if (q->statuses >> CTX_STATUS_COUNT)
		return gb_errf(err, GB_EINVAL, "bad status set");
	p->org = q->org;
	p->type = q->type;
	p->batch_id = q->batch_id;
	p->user_id = q->user_id;
	p->q = q->q && q->q[0] ? q->q : NULL;
	p->statuses = q->statuses;
	p->limit = q->limit ? q->limit : LIST_DEFAULT_LIMIT;
	snprintf(p->hi_created, sizeof(p->hi_created), "~");	/* above every date */
	if (q->created_after && (rc = plan_date(q->created_after, "created_after", p->lo, err)))
		return rc;
	if (q->created_before) {
		if ((rc = plan_date(q->created_before, "created_before", before, err)))
			return rc;
		list_plan_below(p, before, "");		/* created_at < before */
	}
	if (q->cursor) {
		char cc[LIST_KEY_MAX], ci[STORE_ID_MAX];

		if ((rc = list_cursor_decode(q->cursor, cc, ci, err)))
			return rc;
		list_plan_below(p, cc, ci);
	}
	return 0;
}

void
list_plan_below(struct list_plan *p, const char *created_at, const char *id)
{
	int c = strcmp(created_at, p->hi_created);

	if (c < 0 || (c == 0 && strcmp(id, p->hi_id) < 0)) {
		snprintf(p->hi_created, sizeof(p->hi_created), "%s", created_at);
		snprintf(p->hi_id, sizeof(p->hi_id), "%s", id);
	}
}

int
list_cursor_encode(const char *created_at, const char *id, char out[LIST_CURSOR_MAX],
    struct gb_err *err)
{
	char raw[LIST_KEY_MAX + STORE_ID_MAX + 4];
	size_t n, o = 0;
	int len = snprintf(raw, sizeof(raw), "1\n%s\n%s", created_at, id);

	if (len < 0 || (size_t)len >= sizeof(raw) || ((size_t)len + 2) / 3 * 4 >= LIST_CURSOR_MAX)
		return gb_errf(err, GB_EIO, "position of '%.64s' too long for a cursor", id);
	n = (size_t)len;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned char)raw[i] << 16;

		v |= i + 1 < n ? (unsigned)(unsigned char)raw[i + 1] << 8 : 0;
		v |= i + 2 < n ? (unsigned char)raw[i + 2] : 0;
		out[o++] = b64url[v >> 18 & 63];
		out[o++] = b64url[v >> 12 & 63];
		if (i + 1 < n)
			out[o++] = b64url[v >> 6 & 63];
		if (i + 2 < n)
			out[o++] = b64url[v & 63];
	}
	out[o] = '\0';
	return 0;
}

/* base64url (no padding) into raw, NUL-terminated; -1 when not such text or too long. */
static int
cursor_unb64(const char *in, char *raw, size_t cap)
{
	size_t n = strlen(in), o = 0;
	unsigned v = 0;
	int bits = 0;

	if (n == 0 || n >= LIST_CURSOR_MAX || n % 4 == 1)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const char *at = in[i] ? strchr(b64url, in[i]) : NULL;

		if (at == NULL)
			return -1;
		v = (v << 6 | (unsigned)(at - b64url)) & 0xffffff;
		if ((bits += 6) >= 8) {
			bits -= 8;
			if (o + 1 >= cap)
				return -1;
			raw[o++] = (char)(v >> bits & 0xff);
		}
	}
	raw[o] = '\0';
	return strlen(raw) == o ? 0 : -1;
}

int
list_cursor_decode(const char *cursor, char created_at[LIST_KEY_MAX], char id[STORE_ID_MAX],
    struct gb_err *err)
{
	char raw[LIST_CURSOR_MAX];
	const char *c, *i;
	int64_t ms;

	if (cursor_unb64(cursor, raw, sizeof(raw)) != 0 || strncmp(raw, "1\n", 2) != 0)
		return gb_errf(err, GB_EINVAL, "bad cursor");
	c = raw + 2;
	if ((i = strchr(c, '\n')) == NULL || (size_t)(i - c) >= LIST_KEY_MAX ||
	    gb_time_parse(c, (size_t)(i - c), &ms) != 0)
		return gb_errf(err, GB_EINVAL, "bad cursor");
	i++;
	if (i[0] == '\0' || strlen(i) >= STORE_ID_MAX || strchr(i, '\n'))
		return gb_errf(err, GB_EINVAL, "bad cursor");
	for (const char *k = i; *k; k++)
		if ((unsigned char)*k < 0x20)
			return gb_errf(err, GB_EINVAL, "bad cursor");
	snprintf(created_at, LIST_KEY_MAX, "%.*s", (int)(i - 1 - c), c);
	snprintf(id, STORE_ID_MAX, "%s", i);
	return 0;
}
