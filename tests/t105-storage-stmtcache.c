/*
 * t105-storage-stmtcache - the prepared-statement cache of a store: more
 * distinct statements than it has slots, prepared while one of them is
 * being stepped, never finalize the one in use; one text at two addresses
 * is one statement; an evicted statement is prepared again when needed.
 * A white-box test of storage/internal.h's store_stmt.
 */
#include <stdio.h>
#include <string.h>

#include "../storage/internal.h"
#include "../storage/store.h"
#include "tap.h"

#define MANY (3 * STMT_CACHE)

/* Static storage: the cache keeps pointers to the texts it was given. */
static char texts[MANY][64];
static char copy_a[64], copy_b[64];
static const char walk_sql[] = "SELECT value FROM json_each('[10,20,30,40,50]')";

/* Prepare, step and reset MANY distinct statements; how many gave their one row right. */
static int
prepare_many(struct store *st)
{
	struct gb_err err = { 0, "" };
	int good = 0;

	for (int i = 0; i < MANY; i++) {
		sqlite3_stmt *s;

		snprintf(texts[i], sizeof(texts[i]), "SELECT %d + 0", i);
		if (store_stmt(st, texts[i], &s, &err))
			continue;
		if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int(s, 0) == i)
			good++;
		sqlite3_reset(s);
	}
	return good;
}

static void
test_eviction_while_stepping(void)
{
	struct gb_err err = { 0, "" };
	struct store *st;
	sqlite3_stmt *walk, *again;
	int rows[5], n = 0, step;

	if (store_open(&st, ":memory:", NULL, &err))
		tap_bail("open: %s", err.msg);
	is_int(store_stmt(st, walk_sql, &walk, &err), 0, "a statement is prepared");
	is_int(sqlite3_step(walk), SQLITE_ROW, "and stepped once");
	rows[n++] = sqlite3_column_int(walk, 0);
	is_int(prepare_many(st), MANY, "then %d other statements (the cache has %d slots) are prepared and run",
	    MANY, STMT_CACHE);
	/* the statement in use was not finalized under its caller */
	while (n < 5 && (step = sqlite3_step(walk)) == SQLITE_ROW)
		rows[n++] = sqlite3_column_int(walk, 0);
	is_int(n, 5, "the statement in use still gives all its rows");
	ok(n == 5 && rows[0] == 10 && rows[1] == 20 && rows[2] == 30 && rows[3] == 40 && rows[4] == 50,
	    "in order: %d %d %d %d %d", rows[0], rows[1], rows[2], rows[3], rows[4]);
	is_int(sqlite3_step(walk), SQLITE_DONE, "and then ends");
	sqlite3_reset(walk);
	is_int(store_stmt(st, walk_sql, &again, &err), 0, "asked for again");
	ok(again == walk, "it is the same cached statement");
	sqlite3_reset(again);

	/* the first of the many was evicted long ago: prepared again */
	{
		sqlite3_stmt *s;

		is_int(store_stmt(st, texts[0], &s, &err), 0, "an evicted statement is prepared again");
		ok(sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int(s, 0) == 0, "and runs");
		sqlite3_reset(s);
	}
	store_close(st);
}

static void
test_by_content(void)
{
	struct gb_err err = { 0, "" };
	struct store *st;
	sqlite3_stmt *a, *b;

	if (store_open(&st, ":memory:", NULL, &err))
		tap_bail("open: %s", err.msg);
	snprintf(copy_a, sizeof(copy_a), "SELECT 'same text'");
	snprintf(copy_b, sizeof(copy_b), "SELECT 'same text'");
	is_int(store_stmt(st, copy_a, &a, &err), 0, "a text at one address is prepared");
	sqlite3_reset(a);
	is_int(store_stmt(st, copy_b, &b, &err), 0, "the same text at another address");
	ok(a == b, "is the same cached statement (compared by content)");
	sqlite3_reset(b);
	store_close(st);
}

/* Every statement of the cache stepped at once: the cache grows instead of evicting one in use. */
static void
test_all_busy(void)
{
	static sqlite3_stmt *held[STMT_CACHE + 8];
	struct gb_err err = { 0, "" };
	struct store *st;
	int good = 0;

	if (store_open(&st, ":memory:", NULL, &err))
		tap_bail("open: %s", err.msg);
	for (int i = 0; i < STMT_CACHE + 8; i++) {
		snprintf(texts[i], sizeof(texts[i]), "SELECT value + %d FROM json_each('[0,1]')", i);
		if (store_stmt(st, texts[i], &held[i], &err) == 0 && sqlite3_step(held[i]) == SQLITE_ROW)
			good++;
	}
	is_int(good, STMT_CACHE + 8, "%d statements stepped at once, more than the cache's slots",
	    STMT_CACHE + 8);
	good = 0;
	for (int i = 0; i < STMT_CACHE + 8; i++) {
		if (sqlite3_step(held[i]) == SQLITE_ROW && sqlite3_column_int(held[i], 0) == i + 1)
			good++;
		sqlite3_reset(held[i]);
	}
	is_int(good, STMT_CACHE + 8, "each still gives its second row");
	store_close(st);
}

int
main(void)
{
	test_eviction_while_stepping();
	test_by_content();
	test_all_busy();
	return tap_done();
}
