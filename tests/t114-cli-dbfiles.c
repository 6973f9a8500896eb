/*
 * t114-cli-dbfiles - what --db names when it is no database: a FIFO,
 * /dev/null, a directory, a file cut to 50 bytes, a text file. Every
 * command that opens the database (migrate, migrate --status, stats, init,
 * serve) refuses it with the reason, at once (a FIFO is never read), exit 1,
 * and leaves it as it was; an empty file is a new database. init makes the
 * database's folder (mode 0750) when missing, and says what to do when it
 * may not.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"
#include "util.h"

static char *
tmp_path(const char *name)
{
	static char paths[8][4096];
	static int next;
	char *p = paths[next++ % 8];

	snprintf(p, 4096, "%s/%s", util_tmpdir(), name);
	return p;
}

/* The kind and size of path, to tell it was left as it was. */
static void
file_sig(const char *path, char *out, size_t size)
{
	struct stat sb;

	if (stat(path, &sb) < 0)
		snprintf(out, size, "missing");
	else
		snprintf(out, size, "%o %lld", (unsigned)sb.st_mode, (long long)sb.st_size);
}

static void
refused_by_all(const char *path, const char *what, const char *reason)
{
	static const char *const cmds[][3] = {
		{ "migrate", NULL, NULL }, { "migrate", "--status", NULL }, { "stats", NULL, NULL },
		{ "init", NULL, NULL }, { "serve", "--listen", "127.0.0.1:0" },
	};
	char dbarg[4200], before[64], after[64], wal[4200];

	snprintf(dbarg, sizeof(dbarg), "--db=%s", path);
	snprintf(wal, sizeof(wal), "%s-wal", path);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		struct run r;

		file_sig(path, before, sizeof(before));
		util_genbox_run(&r, NULL, dbarg, cmds[i][0], cmds[i][1], cmds[i][2], NULL);
		file_sig(path, after, sizeof(after));
		is_int(r.status, 1, "%s: %s %s: exit 1", what, cmds[i][0], cmds[i][1] ? cmds[i][1] : "");
		like(r.err, reason, "saying '%s'", reason);
		is_str(after, before, "and left as it was");
		ok(access(wal, F_OK) < 0, "with no WAL beside it");
		run_free(&r);
	}
}

static void
test_not_databases(void)
{
	char *fifo = tmp_path("fifo.db"), *dir = tmp_path("dir.db"), *cut = tmp_path("cut.db");
	char *text = tmp_path("text.db"), *good = tmp_path("good.db"), dbarg[4200], *whole;
	size_t len = 0;
	struct run r;

	if (mkfifo(fifo, 0600) < 0 || mkdir(dir, 0700) < 0)
		tap_bail("mkfifo, mkdir: %s", strerror(errno));
	snprintf(dbarg, sizeof(dbarg), "--db=%s", good);
	util_genbox_run(&r, NULL, dbarg, "init", NULL);
	if (r.status != 0)
		tap_bail("init: %s", r.err);
	run_free(&r);
	if ((whole = util_read_file(good, &len)) == NULL || len < 512)
		tap_bail("read %s", good);
	util_write_file(cut, whole, 50);
	free(whole);
	util_write_file(text, "these are my notes, not a database at all\n", 42);

	refused_by_all(fifo, "a FIFO", "is not a database file but a FIFO");
	refused_by_all("/dev/null", "/dev/null", "is not a database file but a character device");
	refused_by_all(dir, "a directory", "is not a database file but a directory");
	refused_by_all(cut, "a database cut to 50 bytes",
	    "is not a genbox database (not an SQLite file): 50 bytes, less than one page");
	refused_by_all(text, "a text file", "is not a genbox database (not an SQLite file)");
}

static void
test_empty_file(void)
{
	char *empty = tmp_path("empty.db"), dbarg[4200];
	struct run r;

	util_write_file(empty, "", 0);
	snprintf(dbarg, sizeof(dbarg), "--db=%s", empty);
	util_genbox_run(&r, NULL, dbarg, "migrate", "--status", NULL);
	is_int(r.status, 0, "an empty file: migrate --status exit 0");
	like(r.out, "schema version 0 of", "a new database with no schema yet");
	run_free(&r);
	util_genbox_run(&r, NULL, dbarg, "init", NULL);
	is_int(r.status, 0, "init makes it a database");
	run_free(&r);
	util_genbox_run(&r, NULL, dbarg, "stats", NULL);
	is_int(r.status, 0, "which stats reads");
	run_free(&r);
}

static void
test_init_folder(void)
{
	char *db = tmp_path("var/lib/genbox/genbox.db"), *blocker = tmp_path("afile");
	char dbarg[4200], want[4400];
	struct stat sb;
	struct run r;

	snprintf(dbarg, sizeof(dbarg), "--db=%s", db);
	util_genbox_run(&r, NULL, dbarg, "init", NULL);
	is_int(r.status, 0, "init with the database's folder missing: exit 0");
	run_free(&r);
	ok(stat(tmp_path("var/lib/genbox"), &sb) == 0 && S_ISDIR(sb.st_mode) &&
	    (sb.st_mode & 0777) == 0750, "the folder is made, mode 0750");
	ok(stat(db, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0, "and the database in it");

	/* a folder that cannot be made: a file stands where a folder should be */
	util_write_file(blocker, "x", 1);
	snprintf(dbarg, sizeof(dbarg), "--db=%s/genbox/genbox.db", blocker);
	util_genbox_run(&r, NULL, dbarg, "init", NULL);
	is_int(r.status, 1, "init where the folder cannot be made: exit 1");
	snprintf(want, sizeof(want),
	    "genbox: init: cannot create the database's folder '%s/genbox': Not a directory", blocker);
	like(r.err, want, "naming the folder");
	snprintf(want, sizeof(want), "run 'genbox init' as root, or create the folder first: "
	    "install -d -o genbox -m 0750 %s/genbox", blocker);
	like(r.err, want, "and saying what to do");
	run_free(&r);
	ok(stat(blocker, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size == 1, "the file is left as it was");
}

int
main(void)
{
	alarm(120);		/* a command that hangs fails the test instead of stalling it */
	umask(022);
	test_not_databases();
	test_empty_file();
	test_init_folder();
	return tap_done();
}
