/*
 * bench/storage - the mirror's four hot operations on contexts beside a plain
 * SQLite loop doing the same work on the same kind of table, in one run:
 *
 *   insert        store_put (validation, normalisation, generated _id
 *                 checks) vs INSERT of the finished text, 1000 per transaction,
 *                 the two taking turns
 *   point read    store_get vs SELECT doc WHERE _id = ?, both files warmed,
 *                 in alternating slices
 *   poll          store_ctx_poll vs the same SELECT, limit 10
 *   status update store_ctx_set_status(completed) vs UPDATE ... json_set,
 *                 1000 per transaction
 *
 * usage: storage [N ...]     (default: 100000 1000000 contexts of ~2 KB)
 * Prints operations per second for both and the ratio genbox/plain.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "../base/gbtime.h"
#include "../storage/access.h"
#include "../storage/docs.h"
#include "../storage/queue.h"
#include "../storage/store.h"
#include "lib/benchlib.h"

#define TX 1000
#define READS 200000
#define SLICE 1000
#define POLLS 20000
#define UPDATES 100000

static char *docs_text;		/* N documents, NUL-separated */
static char **docs;
static size_t *lens;
static char (*ids)[32];
static char (*created)[GB_TIME_LEN];
static struct meta {
	char org[16], user[16], batch[24];
	int priority;
} *meta;		/* the indexed fields of each document, as the plain loop binds them */

static uint64_t seed = 7;

static unsigned
rnd(unsigned n)
{
	seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
	return (unsigned)(seed >> 33) % n;
}

static void
make_docs(size_t n)
{
	static const char filler[] =
	    "Microservices architecture has revolutionized how teams build and ship "
	    "software; this paragraph stands in for generated text of a realistic size. ";
	size_t per = 2300;

	docs_text = malloc(n * per);
	docs = malloc(n * sizeof(*docs));
	lens = malloc(n * sizeof(*lens));
	ids = malloc(n * sizeof(*ids));
	created = malloc(n * sizeof(*created));
	meta = malloc(n * sizeof(*meta));
	for (size_t i = 0; i < n; i++) {
		char *p = docs_text + i * per, intro[1400];
		size_t k = 0;

		while (k + sizeof(filler) < sizeof(intro)) {
			memcpy(intro + k, filler, sizeof(filler) - 1);
			k += sizeof(filler) - 1;
		}
		intro[k] = '\0';
		snprintf(ids[i], sizeof(ids[i]), "ctx_%08zu", i);
		snprintf(meta[i].org, sizeof(meta[i].org), "org_%u", rnd(3));
		snprintf(meta[i].user, sizeof(meta[i].user), "user_%u", rnd(200));
		snprintf(meta[i].batch, sizeof(meta[i].batch), "batch_%zu", i / 1000);
		meta[i].priority = 1 + (int)rnd(10);
		gb_time_format(1686400000000LL + (int64_t)i * 37, created[i]);
		lens[i] = (size_t)snprintf(p, per,
		    "{\"_id\":\"%s\",\"type\":\"article\",\"status\":\"pending\","
		    "\"created_at\":\"%s\",\"updated_at\":\"%s\",\"pipeline\":[\"template\","
		    "\"ai_generator\",\"transformer\"],\"data\":{\"title\":\"Article %zu\","
		    "\"keywords\":[\"microservices\",\"architecture\"],"
		    "\"target_audience\":\"developers\",\"tone\":\"technical\","
		    "\"generated_content\":{\"introduction\":\"%s\"}},\"processing\":{},"
		    "\"error\":null,\"retry_count\":0,\"next_retry_at\":null,"
		    "\"batch_id\":\"%s\",\"user_id\":\"%s\",\"organization_id\":\"%s\","
		    "\"metadata\":{\"source\":\"api\",\"priority\":%d}}",
		    ids[i], created[i], created[i], i, intro, meta[i].batch, meta[i].user,
		    meta[i].org, meta[i].priority);
		docs[i] = p;
	}
}

static void
plain_exec(sqlite3 *db, const char *sql)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		bench_die(sql, sqlite3_errmsg(db));
}

static sqlite3_stmt *
plain_prepare(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s;

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		bench_die(sql, sqlite3_errmsg(db));
	return s;
}

static void
report(const char *op, size_t n, double gb_s, size_t pn, double plain_s)
{
	double a = (double)n / gb_s, b = (double)pn / plain_s;

	printf("  %-14s genbox %10.0f/s   plain sqlite %10.0f/s   ratio %.2f\n", op, a, b, a / b);
	fflush(stdout);
}

/* Read a file through once, so its pages are in the operating system's cache. */
static void
warm(const char *path)
{
	static char chunk[1 << 20];
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		bench_die(path, strerror(errno));
	while (read(fd, chunk, sizeof(chunk)) > 0)
		;
	close(fd);
}

/*
 * store_put against INSERT of the finished text: the two sides take turns,
 * one transaction of TX each, so both write while the machine's cache and
 * disk are in the same state.
 */
static void
measure_insert(struct store *st, sqlite3 *db, size_t n)
{
	struct gb_err err = { 0, "" };
	sqlite3_stmt *s;
	double tg, tp;
	int64_t t0;

	s = plain_prepare(db,
	    "INSERT INTO contexts (_id, doc, status, updated_at, retry_count, next_retry_at, "
	    "started_at, organization_id, user_id, batch_id, type, priority, created_at) "
	    "VALUES (?1, ?2, 'pending', ?3, 0, NULL, NULL, ?4, ?5, ?6, 'article', ?7, ?3)");
	tg = tp = 0;
	for (size_t done = 0; done < n; done += TX) {
		size_t end = done + TX < n ? done + TX : n;

		t0 = bench_mono_us();
		if (store_begin(st, &err))
			bench_die("begin", err.msg);
		for (size_t i = done; i < end; i++)
			if (store_put(st, COLL_CONTEXTS, docs[i], lens[i], STORE_INSERT, NULL,
			    &err))
				bench_die("insert", err.msg);
		if (store_commit(st, &err))
			bench_die("commit", err.msg);
		tg += bench_secs(t0);
		t0 = bench_mono_us();
		plain_exec(db, "BEGIN");
		for (size_t i = done; i < end; i++) {
			sqlite3_bind_text(s, 1, ids[i], -1, SQLITE_STATIC);
			sqlite3_bind_text(s, 2, docs[i], (int)lens[i], SQLITE_STATIC);
			sqlite3_bind_text(s, 3, created[i], -1, SQLITE_STATIC);
			sqlite3_bind_text(s, 4, meta[i].org, -1, SQLITE_STATIC);
			sqlite3_bind_text(s, 5, meta[i].user, -1, SQLITE_STATIC);
			sqlite3_bind_text(s, 6, meta[i].batch, -1, SQLITE_STATIC);
			sqlite3_bind_int(s, 7, meta[i].priority);
			if (sqlite3_step(s) != SQLITE_DONE)
				bench_die("plain insert", sqlite3_errmsg(db));
			sqlite3_reset(s);
		}
		plain_exec(db, "COMMIT");
		tp += bench_secs(t0);
	}
	sqlite3_finalize(s);
	report("insert", n, tg, n, tp);
}

/*
 * store_get against SELECT doc by _id, in alternating slices of the same
 * random ids. Both files are read through first (warm), so both sides
 * start with the operating system's cache equally warm: otherwise the file
 * written first reads from a colder cache (0.58 instead of about 1.0 at 1M).
 */
static void
measure_read(struct store *st, sqlite3 *db, size_t n)
{
	struct gb_err err = { 0, "" };
	size_t reads = n < READS ? n : READS;
	sqlite3_stmt *s;
	double tg, tp;
	int64_t t0;

	s = plain_prepare(db, "SELECT doc FROM contexts WHERE _id = ?1");
	tg = tp = 0;
	for (size_t done = 0; done < reads; done += SLICE) {
		uint64_t at = seed;

		t0 = bench_mono_us();
		for (size_t i = done; i < done + SLICE && i < reads; i++) {
			char *doc;

			if (store_get(st, COLL_CONTEXTS, ids[rnd((unsigned)n)], &doc, &err))
				bench_die("get", err.msg);
			free(doc);
		}
		tg += bench_secs(t0);
		seed = at;
		t0 = bench_mono_us();
		for (size_t i = done; i < done + SLICE && i < reads; i++) {
			char *doc;

			sqlite3_bind_text(s, 1, ids[rnd((unsigned)n)], -1, SQLITE_STATIC);
			if (sqlite3_step(s) != SQLITE_ROW)
				bench_die("plain get", sqlite3_errmsg(db));
			doc = strndup((const char *)sqlite3_column_text(s, 0),
			    (size_t)sqlite3_column_bytes(s, 0));
			free(doc);
			sqlite3_reset(s);
		}
		tp += bench_secs(t0);
	}
	sqlite3_finalize(s);
	report("point read", reads, tg, reads, tp);
}

/* store_ctx_poll against the same SELECT, limit 10. */
static void
measure_poll(struct store *st, sqlite3 *db)
{
	char pids[10][STORE_ID_MAX], now[GB_TIME_LEN];
	struct gb_err err = { 0, "" };
	sqlite3_stmt *s;
	double tg, tp;
	int64_t t0;

	gb_time_format(gb_now_ms(), now);
	t0 = bench_mono_us();
	for (size_t i = 0; i < POLLS; i++) {
		char org[16];
		int got;

		snprintf(org, sizeof(org), "org_%zu", i % 3);
		if (store_ctx_poll(st, org, gb_now_ms(), 10, pids, &got, &err) || got != 10)
			bench_die("poll", err.msg);
	}
	tg = bench_secs(t0);
	s = plain_prepare(db,
	    "SELECT _id FROM contexts WHERE status = 'pending' AND organization_id = ?1 "
	    "AND (next_retry_at IS NULL OR next_retry_at <= ?2) ORDER BY priority, "
	    "created_at LIMIT 10");
	t0 = bench_mono_us();
	for (size_t i = 0; i < POLLS; i++) {
		char org[16];
		int got = 0;

		snprintf(org, sizeof(org), "org_%zu", i % 3);
		sqlite3_bind_text(s, 1, org, -1, SQLITE_TRANSIENT);
		gb_time_format(gb_now_ms(), now);
		sqlite3_bind_text(s, 2, now, -1, SQLITE_STATIC);
		while (sqlite3_step(s) == SQLITE_ROW)
			snprintf(pids[got++], STORE_ID_MAX, "%s",
			    (const char *)sqlite3_column_text(s, 0));
		if (got != 10)
			bench_die("plain poll", "short");
		sqlite3_reset(s);
	}
	tp = bench_secs(t0);
	sqlite3_finalize(s);
	report("poll", POLLS, tg, POLLS, tp);
}

/* store_ctx_set_status(completed) against UPDATE ... json_set, TX per transaction. */
static void
measure_update(struct store *st, sqlite3 *db, size_t n)
{
	char now[GB_TIME_LEN];
	struct gb_err err = { 0, "" };
	size_t ups = n < UPDATES ? n : UPDATES;
	sqlite3_stmt *s;
	double tg, tp;
	int64_t t0;

	t0 = bench_mono_us();
	for (size_t i = 0; i < ups; i++) {
		if (i % TX == 0 && store_begin(st, &err))
			bench_die("begin", err.msg);
		if (store_ctx_set_status(st, ids[i * (n / ups)], CTX_COMPLETED, gb_now_ms(), 1234,
		    &err))
			bench_die("status", err.msg);
		if ((i % TX == TX - 1 || i == ups - 1) && store_commit(st, &err))
			bench_die("commit", err.msg);
	}
	tg = bench_secs(t0);
	s = plain_prepare(db,
	    "UPDATE contexts SET status = ?2, updated_at = ?3, doc = json_set(doc, '$.status', ?2, "
	    "'$.updated_at', ?3, '$.processing.completed_at', ?3, '$.processing.duration_ms', "
	    "?4) WHERE _id = ?1");
	t0 = bench_mono_us();
	for (size_t i = 0; i < ups; i++) {
		if (i % TX == 0)
			plain_exec(db, "BEGIN");
		gb_time_format(gb_now_ms(), now);
		sqlite3_bind_text(s, 1, ids[i * (n / ups)], -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, "completed", -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, now, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 4, 1234);
		if (sqlite3_step(s) != SQLITE_DONE)
			bench_die("plain update", sqlite3_errmsg(db));
		sqlite3_reset(s);
		if (i % TX == TX - 1 || i == ups - 1)
			plain_exec(db, "COMMIT");
	}
	tp = bench_secs(t0);
	sqlite3_finalize(s);
	report("status update", ups, tg, ups, tp);
}

/* The four operations on n contexts, each side on its own new database. */
static void
run(size_t n)
{
	char gpath[PATH_MAX], ppath[PATH_MAX], name[64];
	struct store_opts o = { 1, 1, 0, 0, 0, 0 };
	struct gb_err err = { 0, "" };
	struct store *st, *tmp;
	sqlite3 *db;

	printf("%zu contexts of ~%zu bytes\n", n, lens[0]);
	snprintf(name, sizeof(name), "genbox-%zu.db", n);
	bench_tpath(name, gpath, sizeof(gpath));
	snprintf(name, sizeof(name), "plain-%zu.db", n);
	bench_tpath(name, ppath, sizeof(ppath));
	bench_db_remove(gpath);
	bench_db_remove(ppath);
	if (store_open(&st, gpath, &o, &err) || store_open(&tmp, ppath, &o, &err))
		bench_die("open", err.msg);
	store_close(tmp);	/* the plain loop gets the same tables and indexes */
	if (sqlite3_open(ppath, &db) != SQLITE_OK)
		bench_die("open", sqlite3_errmsg(db));
	plain_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL");
	measure_insert(st, db, n);
	warm(gpath);
	warm(ppath);
	measure_read(st, db, n);
	measure_poll(st, db);
	measure_update(st, db, n);
	store_close(st);
	sqlite3_close(db);
	bench_db_remove(gpath);
	bench_db_remove(ppath);
}

int
main(int argc, char **argv)
{
	size_t sizes[8] = { 100000, 1000000 }, nsizes = 2, max = 0;

	bench_init("bench/storage");
	if (argc > 1) {
		nsizes = 0;
		for (int i = 1; i < argc && nsizes < 8; i++) {
			char *end;
			long long v = strtoll(argv[i], &end, 10);

			if (*end != '\0' || v < 1000 || v > 100000000) {
				fprintf(stderr,
				    "usage: storage [N ...]  (N from 1000 to 100000000)\n");
				return 1;
			}
			sizes[nsizes++] = (size_t)v;
		}
	}
	for (size_t i = 0; i < nsizes; i++)
		if (sizes[i] > max)
			max = sizes[i];
	bench_tmpdir_make("genbox-storage");
	make_docs(max);
	printf("bench/storage: genbox's storage functions vs a plain SQLite loop, same tables, "
	    "same run\n");
	for (size_t i = 0; i < nsizes; i++)
		run(sizes[i]);
	free(docs_text);
	free(docs);
	free(lens);
	free(ids);
	free(created);
	free(meta);
	return 0;
}
