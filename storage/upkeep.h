/*
 * upkeep.h - keeping the database file healthy: PRAGMA optimize, PRAGMA
 * quick_check, telling a corrupt file at start without writing to it, and
 * the lock that says a genbox process is using the database.
 *
 * The running lock: every process that works on the database for long
 * (serve, run-batch) holds a shared flock(2) on "<db>-lock" for its whole
 * life; restore-backup takes it exclusively, so it is refused while any
 * such process runs, and they cannot start while a restore is under way.
 * The kernel drops the lock when the process dies, however it dies.
 *
 * All functions return 0 or a negative GB_E* code with a message in err.
 */
#ifndef GB_STORAGE_UPKEEP_H
#define GB_STORAGE_UPKEEP_H

#include <stddef.h>

#include "../base/err.h"
#include "store.h"

#define UPKEEP_WHY_MAX 256

/*
 * PRAGMA optimize over every table (analysis_limit bounded), as a
 * long-lived connection should run it now and then and at close.
 */
int store_optimize(struct store *st, struct gb_err *err);

/*
 * PRAGMA quick_check: *ok 1 when it says "ok"; otherwise *ok 0 and the
 * first line it found (or SQLite's error when the file could not even be
 * read) in why. A corrupt file is no error of this function.
 */
int store_quick_check(struct store *st, int *ok, char why[UPKEEP_WHY_MAX], struct gb_err *err);

/*
 * The file at path checked before anything opens it for writing: opened
 * read-only and quick_check'ed. *corrupt 1 (and why) when SQLite finds it
 * corrupt or not a database at all; nothing is written to the file. A
 * missing or empty file is not corrupt. Other failures (permissions) are
 * errors.
 */
int upkeep_check_file(const char *path, int *corrupt, char why[UPKEEP_WHY_MAX],
    struct gb_err *err);

/*
 * The running lock (see above), shared: *fd holds it until
 * store_lock_release. GB_EBUSY while a restore holds it. When the lock file
 * cannot be made (no folder, a read-only one) *fd is -1 and it is no error:
 * the database cannot be opened for writing there either.
 */
int store_lock_running(const char *db_path, int *fd, struct gb_err *err);
/* Exclusive: GB_EBUSY (naming the database) while any genbox process holds it. */
int store_lock_exclusive(const char *db_path, int *fd, struct gb_err *err);
/* Release a lock taken above; -1 is ignored. */
void store_lock_release(int fd);

#endif
