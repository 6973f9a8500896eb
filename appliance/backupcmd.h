/*
 * backupcmd.h - backups of the box's database to a target (dir:PATH or
 * s3://bucket/prefix): `genbox backup`, `genbox restore-backup`, and the
 * backups serve and migrate take (upkeepd.h, cli.c).
 */
#ifndef GB_BACKUPCMD_H
#define GB_BACKUPCMD_H

#include <stddef.h>

#include "../storage/backup.h"
#include "config.h"

/* The exit status of serve (and migrate) when the database file is corrupt. */
#define BACKUP_EXIT_CORRUPT 3

/* [backup] to, or "dir:" + the database's folder + "/backups" when empty. */
void backupcmd_default_to(const struct config *cfg, char *out, size_t size);

/*
 * Take a verified backup of cfg's database to to (NULL: [backup] to), then
 * keep the newest keep (0: all) there. *bi describes it; where (size bytes)
 * receives "TARGET/NAME". stop (may be NULL): see backup_make.
 */
int backupcmd_take(const struct config *cfg, const char *to, int keep,
    const atomic_int *stop, struct backup_info *bi, char *where, size_t size,
    struct gb_err *err);

/*
 * Before a schema migration: when the database exists and a migration is
 * pending, take a backup ([backup] to and keep) and log it as who ("serve",
 * "migrate"); *taken 1 then. Nothing to do is no error.
 */
int backupcmd_before_migrate(const struct config *cfg, const char *who, int *taken,
    struct gb_err *err);

/* The restore command to suggest for cfg's database, into out. */
void backupcmd_restore_hint(const struct config *cfg, char *out, size_t size);

#endif
