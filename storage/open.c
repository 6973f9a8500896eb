/*
 * open.c - opening the mirror: connect (store.c), check the schema version,
 * set the pragmas, and run pending migrations (migrate.c). The one place
 * that uses both, so neither calls the other. The file's header is checked
 * through SQLite only (see check_regular).
 */
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

/*
 * Only SQLite ever opens the database file: closing any other descriptor of
 * it would drop every POSIX lock this process holds on it, and another
 * process would then checkpoint and delete the WAL under a running writer.
 * So stat() alone (which opens nothing) refuses what is not a regular file,
 * a FIFO or a device that a read would hang on, and a file shorter than
 * one page (a read-only SQLite connection would take it for an empty
 * database); SQLite's own first read says whether the rest is a database
 * (SQLITE_NOTADB).
 */
static int
check_regular(const char *path, struct gb_err *err)
{
	struct stat sb;

	if (stat(path, &sb) < 0)
		return 0;
	if (!S_ISREG(sb.st_mode))
		return gb_errf(err, GB_EINVAL, "'%s' is not a database file but %s", path,
		    S_ISDIR(sb.st_mode) ? "a directory" : S_ISFIFO(sb.st_mode) ? "a FIFO" :
		    S_ISCHR(sb.st_mode) ? "a character device" :
		    S_ISBLK(sb.st_mode) ? "a block device" :
		    S_ISSOCK(sb.st_mode) ? "a socket" : "no regular file");
	/* an empty file is a new database; an SQLite file is whole pages of 512 bytes or more */
	if (sb.st_size > 0 && sb.st_size < 512)
		return gb_errf(err, GB_EINVAL,
		    "'%s' is not a genbox database (not an SQLite file): %lld bytes, less "
		    "than one page", path, (long long)sb.st_size);
	return 0;
}

/* The schema version of a new connection, refusing one newer than this binary. */
static int
open_version(struct store *st, int *version, struct gb_err *err)
{
	int rc;

	if ((rc = store_schema_version(st, version, err))) {
		if (rc == GB_EIO && *store_unwritable(st->path)) {
			gb_err_clear(err);
			rc = gb_errf(err, GB_EIO, "cannot open database '%s': %s%s", st->path,
			    sqlite3_errmsg(st->db), store_unwritable(st->path));
		}
		return rc;
	}
	if (*version > store_schema_latest())
		return gb_errf(err, GB_EVERSION,
		    "database '%s' has schema version %d, newer than this genbox "
		    "(version %d): upgrade genbox", st->path, *version, store_schema_latest());
	return 0;
}

int
store_open(struct store **out, const char *path, const struct store_opts *opts, struct gb_err *err)
{
	static const struct store_opts defaults = { 1, 1, 0, 0, 0, 0 };
	struct store *st = NULL;
	int rc, version;
	struct stat sb;

	*out = NULL;
	if (opts == NULL)
		opts = &defaults;
	if (strcmp(path, ":memory:") != 0) {
		if (!opts->create && stat(path, &sb) < 0)
			return gb_errf(err, GB_ENOTFOUND,
			    "database '%s' does not exist (run 'genbox init')", path);
		if ((rc = check_regular(path, err)))
			return rc;
	}
	if ((rc = store_connect(&st, path,
	    SQLITE_OPEN_READWRITE | (opts->create ? SQLITE_OPEN_CREATE : 0),
	    opts->busy_timeout_ms, err)))
		return rc;
	if ((rc = open_version(st, &version, err)))
		goto fail;
	/* a new file: free pages can go back (incremental vacuum) from its first table on */
	if (version == 0 && opts->migrate &&
	    (rc = store_exec(st, "PRAGMA auto_vacuum = INCREMENTAL", err)))
		goto fail;
	if ((rc = store_pragmas(st, opts, err)))
		goto fail;
	if (version < store_schema_latest()) {
		if (!opts->migrate) {
			rc = gb_errf(err, GB_EVERSION,
			    "database '%s' has schema version %d, older than this genbox "
			    "(version %d): run 'genbox migrate'",
			    path, version, store_schema_latest());
			goto fail;
		}
		if ((rc = store_migrate(st, NULL, NULL, err)))
			goto fail;
	}
	*out = st;
	return 0;
fail:
	store_close(st);
	return rc;
}

int
store_file_version(const char *path, int *version, struct gb_err *err)
{
	struct store *st = NULL;
	struct stat sb;
	int rc;

	if (stat(path, &sb) < 0)
		return gb_errf(err, GB_ENOTFOUND,
		    "database '%s' does not exist (run 'genbox init')", path);
	if ((rc = check_regular(path, err)))
		return rc;
	if ((rc = store_connect(&st, path, SQLITE_OPEN_READONLY, 0, err)) == 0)
		rc = store_schema_version(st, version, err);
	store_close(st);
	return rc;
}
