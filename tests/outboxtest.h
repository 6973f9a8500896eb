/*
 * outboxtest.h - what both t109 programs share: a database in the test's
 * folder, documents put by format, and the outbox read back.
 */
#ifndef GB_TEST_OUTBOXTEST_H
#define GB_TEST_OUTBOXTEST_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../storage/docs.h"
#include "../storage/outbox.h"
#include "../storage/store.h"
#include "tap.h"
#include "util.h"

#define NOW 1700000000000LL
#define MAXROWS 64

static struct store *st;
static struct gb_err err;
static char path[4096];

static struct store *
open_db(const char *name)
{
	struct store_opts o = { 1, 1, 0, 10000, 0, 0 };
	struct store *s = NULL;

	snprintf(path, sizeof(path), "%s/%s", util_tmpdir(), name);
	if (store_open(&s, path, &o, &err))
		tap_bail("open %s: %s", path, err.msg);
	return s;
}

static void
put(enum coll c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
put(enum coll c, const char *fmt, ...)
{
	char doc[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(doc, sizeof(doc), fmt, ap);
	va_end(ap);
	gb_err_clear(&err);
	if (store_put(st, c, doc, strlen(doc), STORE_UPSERT, NULL, &err))
		tap_bail("put %s: %s", doc, err.msg);
}

/* A context of org_a at updated_at "2024-01-01T00:00:<sec>". */
static void
put_ctx(const char *id, const char *status, int sec, int retry)
{
	put(COLL_CONTEXTS, "{\"_id\":\"%s\",\"organization_id\":\"org_a\",\"status\":\"%s\","
	    "\"created_at\":\"2024-01-01T00:00:00Z\",\"updated_at\":\"2024-01-01T00:00:%02dZ\","
	    "\"retry_count\":%d,\"data\":{\"title\":\"t\"}}", id, status, sec, retry);
}

static int64_t
depth(int coll)
{
	int64_t d = -1, oldest = 0;

	if (store_outbox_depth(st, coll, &d, &oldest, &err))
		tap_bail("depth: %s", err.msg);
	return d;
}

static int
take(unsigned mask, struct outbox_row *rows, int max)
{
	int n = -1;

	gb_err_clear(&err);
	if (store_outbox_take(st, mask, max, rows, &n, &err))
		tap_bail("take: %s", err.msg);
	return n;
}

/* The row of id among rows, or NULL. */
static struct outbox_row *
row_of(struct outbox_row *rows, int n, const char *id)
{
	for (int i = 0; i < n; i++)
		if (strcmp(rows[i].id, id) == 0)
			return &rows[i];
	return NULL;
}

/* The version of id's outbox row now, 0 when it has none. */
static int64_t
ver_of(const char *id)
{
	struct outbox_row rows[MAXROWS], *r;
	int n = take(0, rows, MAXROWS);
	int64_t v = (r = row_of(rows, n, id)) != NULL ? r->ver : 0;

	store_outbox_rows_free(rows, n);
	return v;
}

/* Acknowledge every queued row. */
static void
drain(void)
{
	struct outbox_row rows[MAXROWS];
	int n;

	while ((n = take(0, rows, MAXROWS)) > 0) {
		if (store_outbox_ack(st, rows, n, &err))
			tap_bail("ack: %s", err.msg);
		store_outbox_rows_free(rows, n);
	}
}

#endif
