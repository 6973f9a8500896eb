/*
 * t602-upkeep - the database's upkeep in `genbox serve`: a database file
 * with pages overwritten on purpose (pages inside it, the header of page 1,
 * the rest of page 1) is found corrupt at start: exit status 3, a message
 * naming the file and the restore command, and not one byte of it written
 * (bytes and mtime unchanged). With 2 s schedules serve writes the
 * quick_check, optimize and backup job rows (backup: bytes and contexts
 * counted; keep applied), and optimize again at close. Pages overwritten
 * while it runs are found by the next quick_check: said in the log, the job
 * row failed with the first problem, no new work taken, the API still up
 * for reads but refusing every write (503 "unavailable", saying the
 * database is corrupt and to restore the last backup; /healthz
 * database.ok false);
 * then the README's way back: restore-backup of the last backup over the
 * corrupt file, and serve starts again.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "../storage/jobs.h"
#include "httpc.h"
#include "pooltest.h"
#include "peer.h"

static struct box b;

struct daemon {
	pid_t pid;
	int port;
	char log[4200];
};

static void
daemon_start(struct daemon *d, const char *db)
{
	static int seq;
	char listen[64], dbarg[4200];
	char *argv[] = { (char *)util_genbox(), dbarg, "serve", "--listen", listen, "--workers", "2",
		NULL };

	d->port = peer_free_port();
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", d->port);
	snprintf(dbarg, sizeof(dbarg), "--db=%s", db);
	snprintf(d->log, sizeof(d->log), "%s/serve%d.log", util_tmpdir(), ++seq);
	d->pid = util_spawn(argv, d->log, 0);
}

/* Wait for the exit (ms at most, then SIGKILL); the exit status, or -1. */
static int
daemon_wait(struct daemon *d, int ms)
{
	int st;

	for (int64_t t0 = gb_mono_ms(); gb_mono_ms() - t0 < ms; usleep(20 * 1000))
		if (waitpid(d->pid, &st, WNOHANG) == d->pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	kill(d->pid, SIGKILL);
	waitpid(d->pid, &st, 0);
	return -1;
}

static int
daemon_up(struct daemon *d, int ms)
{
	char url[128];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", d->port);
	for (int64_t t0 = gb_mono_ms(); gb_mono_ms() - t0 < ms; usleep(50 * 1000))
		if (peer_http_status(url) > 0)
			return 1;
	return 0;
}

static void
add_contexts(struct box *x, int n)
{
	struct gb_err err = { 0, "" };

	if (store_begin(x->st, &err))
		tap_bail("begin: %s", err.msg);
	for (int i = 0; i < n; i++)
		box_put(x, COLL_CONTEXTS, "{\"_id\": \"ctx_u%d\", \"type\": \"article\", "
		    "\"status\": \"completed\", "
		    "\"organization_id\": \"org_123\", \"user_id\": \"user_456\", \"data\": {\"title\": "
		    "\"Upkeep %d with a longer title to fill the pages of the table\"}}", i, i);
	if (store_commit(x->st, &err))
		tap_bail("commit: %s", err.msg);
}

static void
copy_file(const char *from, const char *to)
{
	size_t len;
	char *data = util_read_file(from, &len);

	if (data == NULL || util_write_file(to, data, len))
		tap_bail("copy %s", from);
	free(data);
}

static void
overwrite(const char *path, long off, long len)
{
	FILE *f = fopen(path, "r+b");

	if (f == NULL || fseek(f, off, SEEK_SET))
		tap_bail("open %s", path);
	for (long i = 0; i < len; i++)
		fputc(0x5a, f);
	fclose(f);
}

/* One corrupted copy of the database served: refused at start, the file untouched. */
static void
corrupt_start(const char *what, long off, long len)
{
	char path[4300], *before, *after, *log;
	size_t blen, alen;
	struct stat s1, s2;
	struct daemon d;

	snprintf(path, sizeof(path), "%s/corrupt-%ld.db", util_tmpdir(), off);
	copy_file(b.path, path);
	overwrite(path, off, len);
	before = util_read_file(path, &blen);
	stat(path, &s1);
	usleep(20 * 1000);	/* a write now would show in the mtime */
	daemon_start(&d, path);
	is_int(daemon_wait(&d, 20000), 3, "%s: serve exits with status 3", what);
	log = util_read_file(d.log, NULL);
	like(log, "event=database_corrupt", "%s: the log says the database is corrupt", what);
	like(log, path, "%s: naming the file", what);
	like(log, "restore-backup dir:", "%s: and the command that restores the last backup", what);
	like(log, "genbox: serve: the database file", "%s: the error message says so too", what);
	after = util_read_file(path, &alen);
	stat(path, &s2);
	ok(blen == alen && memcmp(before, after, blen) == 0, "%s: not a byte of the file was written",
	    what);
	ok(s1.st_mtim.tv_sec == s2.st_mtim.tv_sec && s1.st_mtim.tv_nsec == s2.st_mtim.tv_nsec,
	    "%s: its mtime is unchanged", what);
	free(log);
	free(before);
	free(after);
}

static void
test_corrupt_at_start(void)
{
	corrupt_start("pages 5 to 7 overwritten", 4 * 4096, 3 * 4096);
	corrupt_start("the header of page 1 overwritten", 0, 100);
	corrupt_start("the rest of page 1 overwritten", 100, 4096 - 100);
}

static struct store_job
job(const char *path, const char *name)
{
	struct gb_err err = { 0, "" };
	struct store *st = NULL;
	struct store_job j;
	int found = 0;

	memset(&j, 0, sizeof(j));
	if (store_open(&st, path, NULL, &err) == 0)
		store_job_get(st, name, &j, &found, &err);
	store_close(st);
	return j;
}

static int
count_manifests(const char *dir)
{
	char cmd[4400];
	int n = -1;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ls %s/*.manifest.json 2>/dev/null | wc -l", dir);
	if ((p = popen(cmd, "r"))) {
		if (fscanf(p, "%d", &n) != 1)
			n = -1;
		pclose(p);
	}
	return n;
}

static void
test_schedules(void)
{
	struct store_job q = { 0 }, o = { 0 }, bk = { 0 };
	char backups[4300];
	struct daemon d;
	int64_t t0 = gb_now_ms(), stop_ms;

	setenv("GENBOX_UPKEEP_OPTIMIZE", "2s", 1);
	setenv("GENBOX_UPKEEP_QUICK_CHECK", "2s", 1);
	setenv("GENBOX_BACKUP_SCHEDULE", "2s", 1);
	setenv("GENBOX_BACKUP_KEEP", "2", 1);
	daemon_start(&d, b.path);
	ok(daemon_up(&d, 15000), "serve with 2 s schedules runs");
	for (int64_t w = gb_mono_ms(); gb_mono_ms() - w < 20000; usleep(200 * 1000)) {
		q = job(b.path, "quick_check");
		o = job(b.path, "optimize");
		bk = job(b.path, "backup");
		if (q.started_ms > t0 + 1500 && q.finished_ms && o.finished_ms &&
		    bk.finished_ms >= bk.started_ms && bk.started_ms > t0 + 3500)
			break;
	}
	ok(q.ok && q.started_ms > t0 + 1500 && q.finished_ms >= q.started_ms,
	    "a scheduled quick_check ran and went well (%lld ms after start)",
	    (long long)(q.started_ms - t0));
	ok(o.ok && o.finished_ms > 0, "optimize ran and went well (%s)", o.counts);
	ok(bk.ok && bk.started_ms > t0 + 3500, "backups ran more than once and went well");
	ok(strstr(bk.counts, "\"bytes\":") && atol(strstr(bk.counts, "\"bytes\":") + 8) > 1000,
	    "the backup's row counts its bytes (%s)", bk.counts);
	ok(strstr(bk.counts, "\"contexts\":601"), "and the contexts it holds");
	stop_ms = gb_now_ms();
	kill(d.pid, SIGTERM);
	is_int(daemon_wait(&d, 20000), 0, "serve stops: exit 0");
	snprintf(backups, sizeof(backups), "%s/backups", util_tmpdir());
	is_int(count_manifests(backups), 2, "beside the database, keep = 2 leaves 2 backups");
	o = job(b.path, "optimize");
	ok(o.ok && o.started_ms >= stop_ms, "optimize ran again at close");
	unsetenv("GENBOX_UPKEEP_OPTIMIZE");
	unsetenv("GENBOX_BACKUP_SCHEDULE");
	unsetenv("GENBOX_BACKUP_KEEP");
}

/* The pages of the contexts table's leaves, the middle three of them. */
static void
middle_leaves(const char *path, long pages[3])
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	long all[4096];
	int n = 0;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT pageno FROM dbstat WHERE name = 'contexts' "
	    "AND pagetype = 'leaf' ORDER BY pageno", -1, &s, NULL) != SQLITE_OK)
		tap_bail("dbstat: %s", sqlite3_errmsg(db));
	while (sqlite3_step(s) == SQLITE_ROW && n < 4096)
		all[n++] = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	if (n < 8)
		tap_bail("only %d leaf pages", n);
	for (int i = 0; i < 3; i++)
		pages[i] = all[n / 2 + i];
}

/* An admin's read,write key made with `genbox apikey create`, into token. */
static void
make_key(char *token, size_t size)
{
	char dbarg[4200];
	struct run r;

	snprintf(dbarg, sizeof(dbarg), "--db=%s", b.path);
	util_genbox_run(&r, NULL, dbarg, "apikey", "create", "--user", "user_456", "--perm",
	    "read,write", NULL);
	if (r.status)
		tap_bail("apikey create: %s", r.err);
	snprintf(token, size, "%.*s", (int)strcspn(r.out, "\n"), r.out);
	run_free(&r);
}

/* Once the check has found the file corrupt: writes get 503, reads go on. */
static void
test_writes_refused(const struct daemon *d, const char *token)
{
	char url[128];
	struct http_resp h;
	cJSON *j, *db;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/templates", d->port);
	http_json(&h, "POST", url, token, "{\"_id\": \"tmpl_late\", \"name\": \"Late\"}");
	is_int(h.status, 503, "a write (POST /api/v1/templates) afterwards: 503");
	like(h.body, "\"code\":\"unavailable\"", "code unavailable");
	like(h.body, "\"message\":\"the database is corrupt: ", "saying the database is corrupt");
	like(h.body, "restore the last backup", "and to restore the last backup");
	http_resp_free(&h);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/templates/tmpl_late", d->port);
	http_json(&h, "DELETE", url, token, NULL);
	is_int(h.status, 503, "a DELETE: 503 too");
	http_resp_free(&h);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/templates/tmpl_article_technical",
	    d->port);
	http_json(&h, "GET", url, token, NULL);
	is_int(h.status, 200, "a read (GET of a template) still answers 200");
	http_resp_free(&h);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", d->port);
	http_json(&h, "GET", url, NULL, NULL);
	is_int(h.status, 503, "/healthz: 503");
	j = cJSON_Parse(h.body ? h.body : "");
	db = cJSON_GetObjectItem(j, "database");
	if (!ok(cJSON_IsFalse(cJSON_GetObjectItem(db, "ok")), "/healthz database.ok false"))
		tap_diag("%s", h.body ? h.body : "");
	cJSON_Delete(j);
	http_resp_free(&h);
}

static void
test_corrupt_running(void)
{
	struct store_job q;
	struct daemon d;
	char *log = NULL, dbarg[4200], file[4300], token[128];
	long pages[3];
	struct run r;
	int64_t t0;

	middle_leaves(b.path, pages);
	make_key(token, sizeof(token));
	daemon_start(&d, b.path);
	ok(daemon_up(&d, 15000), "serve runs with a 2 s quick_check");
	usleep(500 * 1000);
	t0 = gb_now_ms();
	for (int i = 0; i < 3; i++)
		overwrite(b.path, (pages[i] - 1) * 4096, 4096);
	for (int64_t w = gb_mono_ms(); gb_mono_ms() - w < 15000; usleep(200 * 1000)) {
		free(log);
		log = util_read_file(d.log, NULL);
		if (log && strstr(log, "event=database_corrupt"))
			break;
	}
	like(log, "event=database_corrupt",
	    "pages overwritten while it runs: the next check says so in the log");
	like(log, "no new work is taken", "that no new work is taken");
	like(log, "restore-backup", "and how to restore the last backup");
	q = job(b.path, "quick_check");
	ok(!q.ok && q.started_ms >= t0, "the quick_check job row failed");
	ok(strstr(q.error, "Page ") || strstr(q.error, "malformed"), "with the first problem (%s)",
	    q.error);
	test_writes_refused(&d, token);
	snprintf(dbarg, sizeof(dbarg), "--db=%s", b.path);
	snprintf(file, sizeof(file), "%s/late.jsonl", util_tmpdir());
	{
		static const char late[] = "{\"_id\": \"ctx_late\", \"type\": \"article\", "
		    "\"status\": \"pending\", \"organization_id\": \"org_123\", "
		    "\"user_id\": \"user_456\", \"data\": {\"title\": \"Late\"}}\n";

		util_write_file(file, late, strlen(late));
	}
	util_genbox_run(&r, NULL, dbarg, "import", "contexts", file, NULL);
	run_free(&r);
	usleep(1500 * 1000);
	{
		cJSON *c = box_get(&b, COLL_CONTEXTS, "ctx_late");

		is_str(c ? jpath(c, "status") : "(none)", "pending", "a context written afterwards is not taken");
		cJSON_Delete(c);
	}
	ok(daemon_up(&d, 2000), "the API still answers");
	kill(d.pid, SIGTERM);
	is_int(daemon_wait(&d, 20000), 0, "SIGTERM: exit 0");
	free(log);
}

/* The README's way back: restore the last backup over the corrupt file, start again. */
static void
test_restore_after(void)
{
	char dbarg[4200], from[4300], url[128];
	struct daemon d;
	struct run r;

	snprintf(dbarg, sizeof(dbarg), "--db=%s", b.path);
	snprintf(from, sizeof(from), "dir:%s/backups", util_tmpdir());
	util_genbox_run(&r, NULL, dbarg, "restore-backup", from, "latest", NULL);
	is_int(r.status, 0, "restore-backup of the last backup over the corrupt file: exit 0");
	if (r.status)
		tap_diag("%s", r.err);
	run_free(&r);
	unsetenv("GENBOX_UPKEEP_QUICK_CHECK");
	daemon_start(&d, b.path);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", d.port);
	ok(daemon_up(&d, 15000) && peer_http_status(url) == 200, "serve starts again on it");
	kill(d.pid, SIGTERM);
	is_int(daemon_wait(&d, 20000), 0, "and stops: exit 0");
	is_int(job(b.path, "quick_check").ok, 1, "its start check went well");
}

int
main(void)
{
	box_open(&b, 1);
	add_contexts(&b, 600);
	box_close(&b);
	setenv("GENBOX_GENERATOR_URL", "", 1);
	setenv("GENBOX_WORKERS_GRACE_MS", "300", 1);
	test_corrupt_at_start();
	test_schedules();
	if (store_open(&b.st, b.path, NULL, &(struct gb_err){ 0, "" }))
		tap_bail("open");
	test_corrupt_running();
	box_close(&b);
	test_restore_after();
	return tap_done();
}
