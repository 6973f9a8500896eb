/*
 * t604-running-lock - every command that works on the database holds its
 * running lock for its whole run, not only serve and run-batch: while a
 * restore holds the lock (this test takes it exclusively, as restore-backup
 * does) init, migrate, migrate docs, import, export, stats, demo, apikey,
 * sync, archive and restore are each refused (exit 1, "a restore ... is
 * under way") and write nothing; and restore-backup attempted while an
 * import runs is refused, the import ends well and none of its documents is
 * lost.
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "../base/gbtime.h"
#include "../storage/upkeep.h"
#include "tap.h"
#include "util.h"

#define NHALF 1500	/* contexts sent to the import before and after the restore */

static char db[4200], dbarg[4300], backups[4300];

/* Rows of table in the database, or -1 when it cannot be read. */
static int64_t
count_rows(const char *table)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *s = NULL;
	char sql[128];
	int64_t v = -1;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(h, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(h);
	return v;
}

static void
must_run(const char *what, const char *a, const char *b, const char *c)
{
	struct run r;

	util_genbox_run(&r, NULL, dbarg, what, a, b, c, NULL);
	if (r.status)
		tap_bail("%s: exit %d: %s", what, r.status, r.err);
	run_free(&r);
}

/* One context line of the import, _id ctx_lock<i>. */
static int
ctx_line(char *out, size_t size, int i)
{
	return snprintf(out, size, "{\"_id\": \"ctx_lock%05d\", \"type\": \"article\", \"status\": "
	    "\"completed\", \"organization_id\": \"org_123\", \"user_id\": \"user_456\", "
	    "\"data\": {\"title\": \"Lock %d\"}}\n", i, i);
}

static void
test_refused_during_restore(const char *one)
{
	static const char *const cmds[][4] = {
		{ "init" }, { "migrate" }, { "migrate", "docs" }, { "import", "contexts", NULL },
		{ "export", "contexts" }, { "stats" }, { "demo" },
		{ "apikey", "create", "--user", "user_456" }, { "sync", "reset", "contexts" },
		{ "archive", "--before", "2100-01-01" }, { "restore", "--from", NULL },
	};
	struct gb_err err = { 0, "" };
	char from[4400];
	int fd = -1;
	int64_t ctx = count_rows("contexts"), keys = count_rows("api_keys");

	snprintf(from, sizeof(from), "dir:%s", backups);
	if (store_lock_exclusive(db, &fd, &err))
		tap_bail("lock: %s", err.msg);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		const char *a = cmds[i][1], *b = cmds[i][2], *c = cmds[i][3];
		struct run r;

		if (strcmp(cmds[i][0], "import") == 0)
			b = one;
		else if (strcmp(cmds[i][0], "restore") == 0)
			b = from;
		util_genbox_run(&r, NULL, dbarg, cmds[i][0], a, b, c, NULL);
		is_int(r.status, 1, "%s%s%s during a restore: exit 1", cmds[i][0], a ? " " : "",
		    a ? a : "");
		like(r.err, "a restore of database", "%s: the message says why", cmds[i][0]);
		run_free(&r);
	}
	store_lock_release(fd);
	is_int(count_rows("contexts"), ctx, "no context was written");
	is_int(count_rows("api_keys"), keys, "no key was written");
}

/* genbox import contexts - with its stdin from a pipe; *in is the pipe's end to write. */
static pid_t
spawn_import(FILE **in, const char *log)
{
	char *argv[] = { (char *)util_genbox(), dbarg, "import", "contexts", "-", NULL };
	int p[2];
	pid_t pid;

	if (pipe(p) < 0 || (pid = fork()) < 0)
		tap_bail("pipe/fork");
	if (pid == 0) {
		dup2(p[0], 0);
		close(p[0]);
		close(p[1]);
		if (freopen(log, "w", stdout) == NULL || dup2(1, 2) < 0)
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	close(p[0]);
	if ((*in = fdopen(p[1], "w")) == NULL)
		tap_bail("fdopen");
	return pid;
}

/* Whether process pid has the file path open, waiting ms at most. */
static int
has_open(pid_t pid, const char *path, int ms)
{
	for (int64_t t0 = gb_mono_ms(); gb_mono_ms() - t0 < ms; usleep(20 * 1000)) {
		char dir[64], link[4200], to[4200];
		struct dirent *e;
		DIR *d;
		ssize_t n;
		int found = 0;

		snprintf(dir, sizeof(dir), "/proc/%ld/fd", (long)pid);
		if ((d = opendir(dir)) == NULL)
			return 0;
		while (!found && (e = readdir(d)) != NULL) {
			snprintf(link, sizeof(link), "%s/%s", dir, e->d_name);
			if ((n = readlink(link, to, sizeof(to) - 1)) > 0) {
				to[n] = '\0';
				found = strcmp(to, path) == 0;
			}
		}
		closedir(d);
		if (found)
			return 1;
	}
	return 0;
}

static void
test_restore_refused_during_import(void)
{
	char line[512], log[4200], from[4400];
	int64_t before = count_rows("contexts");
	struct run r;
	FILE *in;
	char *out;
	pid_t pid;
	int st;

	snprintf(log, sizeof(log), "%s/import.log", util_tmpdir());
	snprintf(from, sizeof(from), "dir:%s", backups);
	pid = spawn_import(&in, log);
	for (int i = 0; i < NHALF; i++) {
		ctx_line(line, sizeof(line), i);
		fputs(line, in);
	}
	fflush(in);
	ok(has_open(pid, db, 10000) && waitpid(pid, &st, WNOHANG) == 0,
	    "import runs: it has the database open and reads its input");
	util_genbox_run(&r, NULL, dbarg, "restore-backup", from, "latest", NULL);
	is_int(r.status, 1, "restore-backup while import runs: exit 1");
	like(r.err, "stop it first", "the message says what to do");
	like(r.err, "the database was not changed", "and that nothing changed");
	run_free(&r);
	for (int i = NHALF; i < 2 * NHALF; i++) {
		ctx_line(line, sizeof(line), i);
		fputs(line, in);
	}
	fclose(in);
	waitpid(pid, &st, 0);
	is_int(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 0, "import ends: exit 0");
	out = util_read_file(log, NULL);
	like(out ? out : "", "3000", "it says it imported the 3000 contexts");
	free(out);
	is_int(count_rows("contexts"), before + 2 * NHALF, "every imported context is there");
	util_genbox_run(&r, NULL, dbarg, "restore-backup", from, "latest", NULL);
	is_int(r.status, 0, "restore-backup once the import has ended: exit 0");
	run_free(&r);
	is_int(count_rows("contexts"), before, "the backup's contexts are back");
}

int
main(void)
{
	char one[4300], line[512], to[4400];

	snprintf(db, sizeof(db), "%s/box.db", util_tmpdir());
	snprintf(dbarg, sizeof(dbarg), "--db=%s", db);
	snprintf(backups, sizeof(backups), "%s/backups", util_tmpdir());
	snprintf(one, sizeof(one), "%s/one.jsonl", util_tmpdir());
	util_write_file(one, line, (size_t)ctx_line(line, sizeof(line), 99999));
	must_run("init", NULL, NULL, NULL);
	must_run("demo", NULL, NULL, NULL);
	snprintf(to, sizeof(to), "dir:%s", backups);
	must_run("backup", "--to", to, NULL);
	tap_plan(33);
	test_refused_during_restore(one);
	test_restore_refused_during_import();
	return tap_done();
}
