/*
 * backup.h - consistent, verified copies of the database file, and putting
 * one back.
 *
 * A backup is taken with SQLite's online backup API from one read
 * transaction on the live file (WAL mode: writers go on meanwhile, a copy
 * never mixes two moments), into a temporary file that is opened and must
 * pass PRAGMA integrity_check, then gzip-compressed. What it holds is
 * described by a manifest (schema version, documents per collection, the
 * .gz's size and SHA-256, the database's size, the time).
 *
 * Putting one back (backup_unpack, backup_swap) never leaves the database
 * path without a usable file: the copy is decompressed and checked beside
 * the database, the old file is kept as "<db>.before-restore" (a hard link)
 * and the copy renamed over the database in one step.
 *
 * Where backups go (folders, S3) is the sync floor's target.h; these
 * functions work on local files only. All return 0 or a negative GB_E* code
 * with a message in err.
 */
#ifndef GB_STORAGE_BACKUP_H
#define GB_STORAGE_BACKUP_H

#include <stdatomic.h>
#include <stdint.h>

#include "../base/err.h"
#include "store.h"

#define BACKUP_NAME_MAX 64	/* "genbox-20261130T024521.123Z.manifest.json" and a NUL */

struct backup_info {
	int schema_version;
	int64_t counts[COLL_COUNT];	/* documents per collection */
	int64_t bytes;			/* of the .gz */
	char sha256[65];		/* of the .gz, lower-case hex */
	int64_t db_bytes;		/* of the database copy */
	int64_t created_ms;
	char name[BACKUP_NAME_MAX];	/* the .gz's name, "genbox-<time>.db.gz" */
};

/* The names of a backup taken at ms: "genbox-<time>" + ".db.gz" / ".manifest.json". */
void backup_names(int64_t ms, char gz[BACKUP_NAME_MAX], char manifest[BACKUP_NAME_MAX]);

/*
 * Copy the database at db_path into gz_path (created 0600, replaced),
 * verified, and describe it in *out. The copy passes through
 * "<gz_path>.db", removed on return. steps_pages: pages per backup step (0:
 * 1024); between steps the read transaction stays open, so the copy is of
 * one moment. Refuses a database newer than this binary. stop (may be NULL)
 * is looked at between steps and chunks: once set, the backup ends
 * (GB_ESTATE), its files removed. Any thread may set it.
 */
int backup_make(const char *db_path, const char *gz_path, int step_pages,
    const atomic_int *stop, struct backup_info *out, struct gb_err *err);

/* The manifest's JSON text of bi (malloc'd into *out, caller frees). */
int backup_manifest_json(const struct backup_info *bi, char **out, struct gb_err *err);
/* A manifest's text back into *bi; GB_EINVAL naming what is wrong. */
int backup_manifest_parse(const char *text, size_t len, struct backup_info *bi,
    struct gb_err *err);

/* The size and SHA-256 (hex) of the file at path. */
int backup_file_sha256(const char *path, int64_t *size, char hex[65], struct gb_err *err);

/*
 * The database file at path, opened read-only: an SQLite file passing
 * PRAGMA integrity_check (GB_EINVAL with the first problem otherwise), of a
 * schema this binary knows; *got (may be NULL): its schema_version, counts
 * and db_bytes.
 */
int backup_check_db(const char *path, struct backup_info *got, struct gb_err *err);

/*
 * Check gz_path against want (its size and SHA-256; a mismatch is GB_EINVAL
 * "checksum"; messages name want->name when set), decompress it into db_out
 * (created 0600, replaced, fsynced; at most want->db_bytes, which must be
 * above 0, and refused at once unless it begins with SQLite's header)
 * and check the result: an SQLite file passing PRAGMA integrity_check, of a
 * schema this binary knows (GB_EINVAL otherwise). *got (may be NULL): what
 * the decompressed database holds (schema_version, counts, db_bytes). The
 * -wal/-shm the check may leave beside db_out are removed.
 */
int backup_unpack(const char *gz_path, const struct backup_info *want, const char *db_out,
    struct backup_info *got, struct gb_err *err);

/*
 * Put the checked database file new_path in place of db_path, which no
 * process may have open (see upkeep.h's store_lock_exclusive): the old
 * file's WAL is checkpointed (when it opens), the old file linked to
 * "<db_path>.before-restore", stale -wal and -shm files removed, and
 * new_path renamed over db_path. A crash at any moment leaves either the old
 * or the new database at db_path. Returns once the new file is in place;
 * backup_swap_done removes the old one once the new one opened. A db_path
 * that is a symlink is followed: the file it names is replaced. An old file
 * without SQLite's header (no database, or one whose first page is
 * damaged) is not checkpointed and *kept is 1: its "<db>.before-restore"
 * is for the caller to keep (never backup_swap_done); such a file already
 * at "<db>.before-restore" is first linked to "<db>.before-restore.N".
 */
int backup_swap(const char *db_path, const char *new_path, int *kept, struct gb_err *err);
void backup_swap_done(const char *db_path);

#endif
