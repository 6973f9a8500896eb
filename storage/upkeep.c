/*
 * upkeep.c - optimize, quick_check, the start check of a file that may be
 * corrupt, and the running lock (upkeep.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "upkeep.h"

int
store_optimize(struct store *st, struct gb_err *err)
{
	/* 0x10002: every table, not only those this connection queried */
	return store_exec(st, "PRAGMA analysis_limit=400; PRAGMA optimize=0x10002", err);
}

/* Whether an SQLite result code means the file is damaged. */
static int
code_corrupt(int code)
{
	return (code & 0xff) == SQLITE_CORRUPT || (code & 0xff) == SQLITE_NOTADB;
}

/* The first line of what quick_check found, without its "*** in database main ***". */
static void
first_line(char why[UPKEEP_WHY_MAX], const char *text)
{
	static const char head[] = "*** in database main ***\n";
	size_t n;

	if (strncmp(text, head, sizeof(head) - 1) == 0)
		text += sizeof(head) - 1;
	n = strcspn(text, "\n");
	snprintf(why, UPKEEP_WHY_MAX, "%.*s", (int)(n < UPKEEP_WHY_MAX - 1 ? n :
	    UPKEEP_WHY_MAX - 1), text);
}

/*
 * quick_check on db: 0 and *ok; the first line found (or the error that
 * stopped it) in why. An error that is no sign of damage: GB_EIO.
 */
static int
db_quick_check(sqlite3 *db, const char *path, int *ok, char why[UPKEEP_WHY_MAX],
    struct gb_err *err)
{
	sqlite3_stmt *stmt = NULL;
	int rc = 0, x;

	*ok = 0;
	why[0] = '\0';
	if (sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &stmt, NULL) == SQLITE_OK &&
	    (x = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *first = (const char *)sqlite3_column_text(stmt, 0);

		*ok = first && strcmp(first, "ok") == 0;
		if (!*ok)
			first_line(why, first ? first : "(no answer)");
		goto out;
	}
	x = sqlite3_extended_errcode(db);
	if (code_corrupt(x))
		snprintf(why, UPKEEP_WHY_MAX, "%s", sqlite3_errmsg(db));
	else
		rc = gb_errf(err, (x & 0xff) == SQLITE_BUSY ? GB_EBUSY : GB_EIO,
		    "cannot check database '%s': %s", path, sqlite3_errmsg(db));
out:
	sqlite3_finalize(stmt);
	return rc;
}

int
store_quick_check(struct store *st, int *ok, char why[UPKEEP_WHY_MAX], struct gb_err *err)
{
	return db_quick_check(st->db, st->path, ok, why, err);
}

int
upkeep_check_file(const char *path, int *corrupt, char why[UPKEEP_WHY_MAX],
    struct gb_err *err)
{
	sqlite3 *db = NULL;
	struct stat sb;
	int rc = 0, ok;

	*corrupt = 0;
	why[0] = '\0';
	if (stat(path, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size < 512)
		return 0;	/* missing, empty, shorter than a page or no file: store_open says */
	switch (store_file_sqlite(path)) {
	case 1:
		break;
	case 0:
		/*
		 * No SQLite header: a database is whole pages of 512 bytes or more,
		 * so a file of whole pages is one whose first page was damaged;
		 * anything else was never one, and store_open says so.
		 */
		if (sb.st_size % 512 != 0)
			return 0;
		*corrupt = 1;
		snprintf(why, UPKEEP_WHY_MAX, "the header of its first page is damaged");
		return 0;
	default:
		return gb_errf(err, GB_EIO, "cannot read database '%s': %s", path,
		    strerror(errno));
	}
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		if (db && code_corrupt(sqlite3_extended_errcode(db))) {
			*corrupt = 1;
			snprintf(why, UPKEEP_WHY_MAX, "%s", sqlite3_errmsg(db));
		} else {
			rc = gb_errf(err, GB_EIO, "cannot open database '%s': %s", path,
			    db ? sqlite3_errmsg(db) : "out of memory");
		}
		goto out;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, 5000);
	if ((rc = db_quick_check(db, path, &ok, why, err)) == 0)
		*corrupt = !ok;
out:
	sqlite3_close(db);
	return rc;
}

int
store_lock_path(const char *db_path, char *out, size_t size)
{
	char real[PATH_MAX];

	if (realpath(db_path, real) != NULL)
		db_path = real;
	return snprintf(out, size, "%s-lock", db_path) < (int)size ? 0 : -1;
}

/* store_lock_path's file, opened (created 0644 when missing) for flock. */
static int
lock_open(const char *db_path, int *fd, struct gb_err *err)
{
	char path[4200];

	if (store_lock_path(db_path, path, sizeof(path)))
		return gb_errf(err, GB_EINVAL, "database path too long");
	if ((*fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0644)) < 0)
		return gb_errf(err, GB_EIO, "cannot open '%s': %s", path, strerror(errno));
	return 0;
}

/*
 * Who holds the lock fd that an exclusive flock was refused: only a restore
 * takes it exclusively, so when a shared one is refused too, it is a restore.
 */
static void
lock_busy_why(int fd, const char *db_path, struct gb_err *err)
{
	if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
		flock(fd, LOCK_UN);
		gb_errf(err, GB_EBUSY, "a running genbox command (serve, run-batch, import, sync, "
		    "archive, ...) has database '%s' open: stop it first (systemctl stop genbox "
		    "for serve)", db_path);
	} else if (errno == EWOULDBLOCK) {
		gb_errf(err, GB_EBUSY, "a restore of database '%s' is under way", db_path);
	} else {
		gb_errf(err, GB_EBUSY, "another genbox process has database '%s' open",
		    db_path);
	}
}

static int
lock_take(const char *db_path, int *fd, int how, struct gb_err *err)
{
	int rc;

	*fd = -1;
	if ((rc = lock_open(db_path, fd, err))) {
		if (how == LOCK_SH && (errno == ENOENT || errno == EACCES || errno == EROFS)) {
			/* no folder, or none to write: opening the database says so better */
			gb_err_clear(err);
			return 0;
		}
		return rc;
	}
	while (flock(*fd, how | LOCK_NB) < 0) {
		if (errno == EINTR)
			continue;
		rc = errno == EWOULDBLOCK ? GB_EBUSY : GB_EIO;
		if (rc == GB_EBUSY && how == LOCK_SH)
			gb_errf(err, rc, "a restore of database '%s' is under way", db_path);
		else if (rc == GB_EBUSY)
			lock_busy_why(*fd, db_path, err);
		else
			gb_errf(err, rc, "cannot lock '%s-lock': %s", db_path, strerror(errno));
		close(*fd);
		*fd = -1;
		return rc;
	}
	return 0;
}

int
store_lock_running(const char *db_path, int *fd, struct gb_err *err)
{
	return lock_take(db_path, fd, LOCK_SH, err);
}

int
store_lock_exclusive(const char *db_path, int *fd, struct gb_err *err)
{
	return lock_take(db_path, fd, LOCK_EX, err);
}

void
store_lock_release(int fd)
{
	if (fd >= 0)
		close(fd);
}
