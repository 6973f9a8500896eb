/*
 * watch.c - the soak's eyes on the daemon, from outside it: a thread that
 * every SAMPLE_MS reads the daemon's VmRSS from /proc, the database's and
 * its WAL's sizes, the contexts per status (ctx_counts, kept by triggers),
 * and the soak's completed contexts; and the checks main runs on the
 * database file (a read-only SQLite connection of this process; WAL lets
 * it read beside the daemon's writers).
 *
 * The completion watcher (detector B of contexts run twice): each round
 * reads, in one read transaction, the _ids of the soak's completed
 * contexts (the ctx_list_status index alone). A context seen completed for
 * the first time gets its updated_at noted (the time of its completion)
 * and its seen_done flag (which the generator reads: detector C). A
 * context seen completed before but missing from a later round's set went
 * back from completed: counted and printed. At the end, a completed row
 * whose updated_at moved since was written again after its completion.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "../lib/benchlib.h"
#include "soak.h"

#define SAMPLE_MS	2000
#define PRINT_MAX	20
#define SOAK_ID_HI	"ctx_soak`"	/* just past every ctx_soak_ id */

static pthread_t watch_th;
static atomic_int watch_stop;
static int watch_started;

static sqlite3 *
ro_open(const struct soak *s)
{
	sqlite3 *db = NULL;

	if (sqlite3_open_v2(s->db, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 5000);
	return db;
}

static long long
file_bytes(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

/* VmRSS, RssAnon and RssFile of pid into x (0 when it is gone). */
static void
rss_read(pid_t pid, struct soak_sample *x)
{
	static const char *const keys[3] = { "VmRSS:", "RssAnon:", "RssFile:" };
	long *out[3] = { &x->rss_kb, &x->anon_kb, &x->file_kb };
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (pid <= 0 || (f = fopen(path, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f))
		for (int k = 0; k < 3; k++)
			if (strncmp(line, keys[k], strlen(keys[k])) == 0)
				*out[k] = strtol(line + strlen(keys[k]), NULL, 10);
	fclose(f);
}

/* Descriptors of pid open on the database file (one per SQLite connection). */
static int
db_fds(pid_t pid, const char *db)
{
	char dir[64], path[320], target[PATH_MAX];
	struct dirent *e;
	ssize_t len;
	DIR *d;
	int n = 0;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	if (pid <= 0 || (d = opendir(dir)) == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if ((len = readlink(path, target, sizeof(target) - 1)) <= 0)
			continue;
		target[len] = '\0';
		n += strcmp(target, db) == 0;
	}
	closedir(d);
	return n;
}

static void
status_counts(sqlite3 *db, struct soak_sample *x)
{
	sqlite3_stmt *q;

	if (sqlite3_prepare_v2(db, "SELECT status, sum(n) FROM ctx_counts GROUP BY status", -1,
	    &q, NULL) != SQLITE_OK)
		return;
	while (sqlite3_step(q) == SQLITE_ROW) {
		const char *st = (const char *)sqlite3_column_text(q, 0);
		long long n = sqlite3_column_int64(q, 1);

		if (st == NULL)
			continue;
		if (strcmp(st, "pending") == 0)
			x->pending = n;
		else if (strcmp(st, "processing") == 0)
			x->processing = n;
		else if (strcmp(st, "completed") == 0)
			x->completed = n;
		else if (strcmp(st, "failed") == 0)
			x->failed = n;
	}
	sqlite3_finalize(q);
}

/* updated_at of id into out ("" when unreadable). */
static void
updated_at(sqlite3 *db, const char *id, char *out, size_t size)
{
	sqlite3_stmt *q;

	out[0] = '\0';
	if (sqlite3_prepare_v2(db, "SELECT updated_at FROM contexts WHERE _id = ?1", -1, &q,
	    NULL) != SQLITE_OK)
		return;
	sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0))
		snprintf(out, size, "%s", (const char *)sqlite3_column_text(q, 0));
	sqlite3_finalize(q);
}

/* One round of the completion watcher; mark: scratch of max_ids bytes. */
static void
watch_completed(struct soak *s, sqlite3 *db, unsigned char *mark)
{
	sqlite3_stmt *q;
	int n = atomic_load(&s->next_id);

	if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return;
	if (sqlite3_prepare_v2(db, "SELECT _id FROM contexts WHERE organization_id = ?1 AND "
	    "status = 'completed' AND _id >= ?2 AND _id < ?3", -1, &q, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(q, 1, SOAK_ORG, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, SOAK_ID_PREFIX, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, SOAK_ID_HI, -1, SQLITE_STATIC);
	memset(mark, 0, (size_t)s->max_ids);
	while (sqlite3_step(q) == SQLITE_ROW) {
		const char *cid = (const char *)sqlite3_column_text(q, 0);
		int id;

		if (cid == NULL || sscanf(cid, SOAK_ID_FMT, &id) != 1 || id < 0 ||
		    id >= s->max_ids)
			continue;
		mark[id] = 1;
		if (!atomic_load(&s->seen_done[id])) {
			updated_at(db, cid, s->done_at[id], sizeof(s->done_at[id]));
			atomic_store(&s->seen_done[id], 1);
		}
	}
	sqlite3_finalize(q);
	for (int id = 0; id < n && id < s->max_ids; id++)
		if (atomic_load(&s->seen_done[id]) && !mark[id] && s->done_at[id][0] != '!') {
			if (s->went_back++ < PRINT_MAX)
				soak_say("soak RUN TWICE? t=%.1fs " SOAK_ID_FMT " was completed (at %s) "
				    "and is no longer", soak_now(s), id, s->done_at[id]);
			s->done_at[id][0] = '!';	/* counted once */
		}
out:
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
}

static void
sample_add(struct soak *s, const struct soak_sample *x)
{
	pthread_mutex_lock(&s->samples_mu);
	if (s->nsamples == s->samples_cap) {
		size_t cap = s->samples_cap ? s->samples_cap * 2 : 1024;
		struct soak_sample *v = realloc(s->samples, cap * sizeof(*v));

		if (v) {
			s->samples = v;
			s->samples_cap = cap;
		}
	}
	if (s->nsamples < s->samples_cap)
		s->samples[s->nsamples++] = *x;
	pthread_mutex_unlock(&s->samples_mu);
}

static void *
watch_main(void *arg)
{
	struct soak *s = arg;
	unsigned char *mark = malloc((size_t)s->max_ids);
	char wal[PATH_MAX + 8];
	sqlite3 *db = NULL;

	snprintf(wal, sizeof(wal), "%s-wal", s->db);
	while (mark && !atomic_load(&watch_stop)) {
		struct soak_sample x = { .t = soak_now(s), .life = s->life };

		rss_read(atomic_load(&s->pid_now), &x);
		x.db_fds = db_fds(atomic_load(&s->pid_now), s->db);
		x.db_bytes = file_bytes(s->db);
		x.wal_bytes = file_bytes(wal);
		if (db == NULL)
			db = ro_open(s);
		if (db) {
			status_counts(db, &x);
			watch_completed(s, db, mark);
		}
		sample_add(s, &x);
		bench_sleep_ms(SAMPLE_MS);
	}
	sqlite3_close(db);
	free(mark);
	return NULL;
}

void
soak_watch_start(struct soak *s)
{
	atomic_store(&watch_stop, 0);
	if (pthread_create(&watch_th, NULL, watch_main, s) != 0)
		bench_die("watch", "cannot start a thread");
	watch_started = 1;
}

void
soak_watch_stop(void)
{
	if (!watch_started)
		return;
	atomic_store(&watch_stop, 1);
	pthread_join(watch_th, NULL);
	watch_started = 0;
}

/* The first column of the first row of sql as a number, -1 on failure. */
static long long
one_number(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *q;
	long long v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return v;
}

void
soak_db_tallies(const struct soak *s, long long *tput_completed, long long *completed)
{
	sqlite3 *db = ro_open(s);

	*tput_completed = *completed = -1;
	if (db == NULL)
		return;
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	*tput_completed = one_number(db, "SELECT COALESCE(sum(completed), 0) FROM ctx_throughput");
	*completed = one_number(db, "SELECT COALESCE(sum(n), 0) FROM ctx_counts WHERE "
	    "status = 'completed'");
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(db);
}

long
soak_missing_in_db(struct soak *s, int limit, int print)
{
	sqlite3 *db = ro_open(s);
	sqlite3_stmt *q;
	long missing = 0;

	if (db == NULL || sqlite3_prepare_v2(db, "SELECT 1 FROM contexts WHERE _id = ?1", -1, &q,
	    NULL) != SQLITE_OK) {
		sqlite3_close(db);
		return -1;
	}
	for (int id = 0; id < limit && id < s->max_ids; id++) {
		char cid[32];

		if (!atomic_load(&s->acked[id]))
			continue;
		snprintf(cid, sizeof(cid), SOAK_ID_FMT, id);
		sqlite3_bind_text(q, 1, cid, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(q) != SQLITE_ROW && missing++ < PRINT_MAX && print)
			soak_say("soak LOST t=%.1fs %s was acknowledged (201) and is not in the "
			    "database", soak_now(s), cid);
		sqlite3_reset(q);
	}
	sqlite3_finalize(q);
	sqlite3_close(db);
	return missing;
}

long
soak_unacked_present(struct soak *s)
{
	sqlite3 *db = ro_open(s);
	sqlite3_stmt *q;
	long n = 0;

	if (db == NULL || sqlite3_prepare_v2(db, "SELECT 1 FROM contexts WHERE _id = ?1", -1, &q,
	    NULL) != SQLITE_OK) {
		sqlite3_close(db);
		return -1;
	}
	for (int id = 0; id < atomic_load(&s->next_id) && id < s->max_ids; id++) {
		char cid[32];

		if (atomic_load(&s->acked[id]))
			continue;
		snprintf(cid, sizeof(cid), SOAK_ID_FMT, id);
		sqlite3_bind_text(q, 1, cid, -1, SQLITE_TRANSIENT);
		n += sqlite3_step(q) == SQLITE_ROW;
		sqlite3_reset(q);
	}
	sqlite3_finalize(q);
	sqlite3_close(db);
	return n;
}

long
soak_unended(const struct soak *s)
{
	sqlite3 *db = ro_open(s);
	long long n;

	if (db == NULL)
		return -1;
	n = one_number(db, "SELECT count(*) FROM contexts WHERE _id >= '" SOAK_ID_PREFIX
	    "' AND _id < '" SOAK_ID_HI "' AND status IN ('pending', 'processing')");
	sqlite3_close(db);
	return (long)n;
}

long
soak_rewritten(struct soak *s, int print)
{
	sqlite3 *db = ro_open(s);
	long n = 0;

	if (db == NULL)
		return -1;
	for (int id = 0; id < s->max_ids && id < atomic_load(&s->next_id); id++) {
		char cid[32], now[32];

		if (!atomic_load(&s->seen_done[id]) || s->done_at[id][0] == '!')
			continue;
		snprintf(cid, sizeof(cid), SOAK_ID_FMT, id);
		updated_at(db, cid, now, sizeof(now));
		if (strcmp(now, s->done_at[id]) != 0 && n++ < PRINT_MAX && print)
			soak_say("soak RUN TWICE? %s completed at %s, its row now says %s", cid,
			    s->done_at[id], now);
	}
	sqlite3_close(db);
	return n;
}

long
soak_outbox_rows(const struct soak *s)
{
	sqlite3 *db = ro_open(s);
	long long n;

	if (db == NULL)
		return -1;
	n = one_number(db, "SELECT count(*) FROM outbox");
	sqlite3_close(db);
	return (long)n;
}

long
soak_inject_rerun(struct soak *s)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *q;
	char cid[32] = "";
	int rc = -1;

	for (int id = 0; id < atomic_load(&s->next_id) && cid[0] == '\0'; id++)
		if (atomic_load(&s->seen_done[id]))
			snprintf(cid, sizeof(cid), SOAK_ID_FMT, id);
	if (cid[0] == '\0' || sqlite3_open_v2(s->db, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
		goto out;
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_prepare_v2(db, "UPDATE contexts SET status = 'pending', worker_id = NULL, "
	    "lease_until = NULL, next_retry_at = NULL, dirty = 1 WHERE _id = ?1 AND "
	    "status = 'completed'", -1, &q, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(q, 1, cid, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_DONE && sqlite3_changes(db) == 1)
		rc = 0;
	sqlite3_finalize(q);
out:
	sqlite3_close(db);
	soak_say("soak t=%.1fs SOAK_INJECT_RERUN: %s set back to pending by hand %s", soak_now(s),
	    cid[0] ? cid : "(none completed yet)", rc ? "FAILED" : "(the detectors must see it)");
	return rc;
}
