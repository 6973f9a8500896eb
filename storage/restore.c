/*
 * restore.c - putting a backup back (backup.h): the .gz checked against its
 * manifest, decompressed beside the database and checked, then swapped in.
 *
 * The swap's order is what makes a crash harmless: the old file gets a
 * second name (a hard link, "<db>.before-restore") before anything moves;
 * its WAL, checkpointed first, is empty or set aside with it; the stale
 * -wal and -shm go before the new file arrives, so the new file never meets
 * the old file's WAL; and rename() puts the new file in place in one step.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "backup.h"
#include "internal.h"

#define RESTORE_CHUNK (128 * 1024)

/*
 * Decompress gz_path (called name in messages) into db_out: at most max
 * bytes, and only what begins as an SQLite file.
 */
static int
gunzip_file(const char *gz_path, const char *name, const char *db_out, int64_t max,
    struct gb_err *err)
{
	char *buf = NULL;
	int64_t total = 0;
	gzFile gz = NULL;
	int out = -1, rc = 0, n, zerr;

	if ((gz = gzopen(gz_path, "rb")) == NULL)
		return gb_errf(err, GB_EIO, "cannot open '%s': %s", gz_path, strerror(errno));
	if ((out = open(db_out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
		rc = gb_errf(err, GB_EIO, "cannot create '%s': %s", db_out, strerror(errno));
		goto out;
	}
	if ((buf = malloc(RESTORE_CHUNK)) == NULL) {
		rc = gb_errf(err, GB_ENOMEM, "out of memory");
		goto out;
	}
	while ((n = gzread(gz, buf, RESTORE_CHUNK)) > 0) {
		if (total == 0 && !store_sqlite_head(buf, (size_t)n)) {
			rc = gb_errf(err, GB_EINVAL, "'%s' holds no SQLite database", name);
			goto out;
		}
		total += n;
		if (total > max) {
			rc = gb_errf(err, GB_EINVAL, "'%s' holds more than the %lld bytes its "
			    "manifest says", name, (long long)max);
			goto out;
		}
		if (write(out, buf, (size_t)n) != n) {
			rc = gb_errf(err, GB_EIO, "cannot write '%s': %s", db_out, strerror(errno));
			goto out;
		}
	}
	if (n < 0) {
		const char *m = gzerror(gz, &zerr);

		rc = gb_errf(err, GB_EINVAL, "'%s' is not a whole gzip file: %s", name, m);
		goto out;
	}
	if (fsync(out) < 0)
		rc = gb_errf(err, GB_EIO, "cannot write '%s': %s", db_out, strerror(errno));
out:
	free(buf);
	if (out >= 0)
		close(out);
	gzclose(gz);
	if (rc)
		unlink(db_out);
	return rc;
}

/* The -wal and -shm a read-only open may leave beside path. */
static void
unlink_wal_shm(const char *path)
{
	char p[4200];

	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
}

int
backup_unpack(const char *gz_path, const struct backup_info *want, const char *db_out,
    struct backup_info *got, struct gb_err *err)
{
	const char *name = want->name[0] ? want->name : gz_path;
	char hex[65];
	int64_t size;
	int rc;

	if (want->db_bytes <= 0)
		return gb_errf(err, GB_EINVAL, "%s: the manifest gives no database size", name);
	if ((rc = backup_file_sha256(gz_path, &size, hex, err)))
		return rc;
	if (size != want->bytes || strcmp(hex, want->sha256) != 0)
		return gb_errf(err, GB_EINVAL, "'%s' does not match its manifest: %lld bytes, "
		    "checksum sha256 %.12s..., the manifest says %lld bytes, %.12s...", name,
		    (long long)size, hex, (long long)want->bytes, want->sha256);
	if ((rc = gunzip_file(gz_path, name, db_out, want->db_bytes, err)))
		return rc;
	rc = backup_check_db(db_out, got, err);
	unlink_wal_shm(db_out);
	if (rc)
		unlink(db_out);
	return rc;
}

/* fsync the folder holding path. */
static void
sync_dir(const char *path)
{
	char dir[4200];
	int fd;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(fd);
		close(fd);
	}
}

/* The old database's WAL into the file (when it opens), so -wal is empty or gone. */
static void
swap_checkpoint(const char *db_path)
{
	sqlite3 *db = NULL;

	if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK) {
		sqlite3_busy_timeout(db, 2000);
		sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
	}
	sqlite3_close(db);
}

/* A kept non-database "<db>.before-restore" moved to the first free "<db>.before-restore.N". */
static int
keep_kept(const char *before, struct gb_err *err)
{
	char to[4300];

	for (int i = 1; i < 1000; i++) {
		snprintf(to, sizeof(to), "%s.%d", before, i);
		if (link(before, to) == 0)
			return 0;
		if (errno != EEXIST)
			break;
	}
	return gb_errf(err, GB_EIO, "cannot keep '%s' aside: %s", before, strerror(errno));
}

/* The old file (and a WAL the checkpoint left) under the before-restore names. */
static int
swap_keep_old(const char *db_path, struct gb_err *err)
{
	char before[4200], wal[4200], bwal[4200];
	struct stat sb;
	int rc;

	snprintf(before, sizeof(before), "%s.before-restore", db_path);
	snprintf(bwal, sizeof(bwal), "%s.before-restore-wal", db_path);
	snprintf(wal, sizeof(wal), "%s-wal", db_path);
	if (store_file_sqlite(before) != 1 && access(before, F_OK) == 0 && (rc = keep_kept(before, err)))
		return rc;	/* an earlier restore's non-database file stays */
	unlink(before);
	unlink(bwal);
	if (link(db_path, before) < 0)
		return gb_errf(err, GB_EIO, "cannot keep the old database as '%s': %s", before,
		    strerror(errno));
	if (stat(wal, &sb) == 0 && sb.st_size > 0 && link(wal, bwal) < 0)
		return gb_errf(err, GB_EIO, "cannot keep the old WAL as '%s': %s", bwal,
		    strerror(errno));
	sync_dir(db_path);
	return 0;
}

int
backup_swap(const char *db_path, const char *new_path, int *kept, struct gb_err *err)
{
	char wal[4200], shm[4200], real[PATH_MAX];
	struct stat old;
	int rc, have_old;

	*kept = 0;
	/* through a symlink to the file it names: the link stays, the file is replaced */
	if (realpath(db_path, real) != NULL)
		db_path = real;
	have_old = stat(db_path, &old) == 0;
	snprintf(wal, sizeof(wal), "%s-wal", db_path);
	snprintf(shm, sizeof(shm), "%s-shm", db_path);
	if (have_old) {
		if (!S_ISREG(old.st_mode))
			return gb_errf(err, GB_EINVAL, "'%s' is not a regular file", db_path);
		/* no SQLite header: not a database (a typo?) or a damaged one; kept for good */
		if (!(*kept = store_file_sqlite(db_path) != 1))
			swap_checkpoint(db_path);
		if ((rc = swap_keep_old(db_path, err)))
			return rc;
		/* the new file belongs to whom the old one did */
		if (chown(new_path, old.st_uid, old.st_gid) < 0 && errno != EPERM)
			return gb_errf(err, GB_EIO, "'%s': %s", new_path, strerror(errno));
		if (chmod(new_path, old.st_mode & 07777) < 0)
			return gb_errf(err, GB_EIO, "'%s': %s", new_path, strerror(errno));
	}
	if ((unlink(wal) < 0 && errno != ENOENT) || (unlink(shm) < 0 && errno != ENOENT))
		return gb_errf(err, GB_EIO, "cannot remove the old WAL of '%s': %s", db_path,
		    strerror(errno));
	if (rename(new_path, db_path) < 0)
		return gb_errf(err, GB_EIO, "cannot put '%s' in place of '%s': %s", new_path,
		    db_path, strerror(errno));
	sync_dir(db_path);
	return 0;
}

void
backup_swap_done(const char *db_path)
{
	char path[4200], real[PATH_MAX];

	if (realpath(db_path, real) != NULL)
		db_path = real;
	snprintf(path, sizeof(path), "%s.before-restore", db_path);
	unlink(path);
	snprintf(path, sizeof(path), "%s.before-restore-wal", db_path);
	unlink(path);
	sync_dir(db_path);
}
