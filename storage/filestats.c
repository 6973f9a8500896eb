/*
 * filestats.c - the database file's figures (filestats.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "filestats.h"
#include "internal.h"

static int
filestats_pragma(struct store *st, const char *sql, int64_t *out, struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc;

	if ((rc = store_stmt(st, sql, &stmt, err)))
		return rc;
	if (sqlite3_step(stmt) == SQLITE_ROW)
		*out = sqlite3_column_int64(stmt, 0);
	else
		rc = store_sqlerr(st, err, sql);
	sqlite3_reset(stmt);
	return rc;
}

int
store_filestats(struct store *st, struct store_filestats *out, struct gb_err *err)
{
	const char *path = store_path(st);
	int64_t pages = 0;
	char wal[4200];
	struct stat sb;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = filestats_pragma(st, "PRAGMA page_count", &pages, err)) ||
	    (rc = filestats_pragma(st, "PRAGMA page_size", &out->page_size, err)) ||
	    (rc = filestats_pragma(st, "PRAGMA freelist_count", &out->free_pages, err)))
		return rc;
	out->file_bytes = pages * out->page_size;
	if (path == NULL || *path == '\0' || strcmp(path, ":memory:") == 0)
		return 0;
	if ((size_t)snprintf(wal, sizeof(wal), "%s-wal", path) >= sizeof(wal))
		return gb_errf(err, GB_EINVAL, "database path too long");
	if (stat(wal, &sb) == 0)
		out->wal_bytes = (int64_t)sb.st_size;
	else if (errno != ENOENT)
		return gb_errf(err, GB_EIO, "stat '%s': %s", wal, strerror(errno));
	return 0;
}
