/*
 * upkeepd.h - the database's upkeep inside `genbox serve`: the check at
 * start, a backup before a schema migration, and on their schedules a
 * backup ([backup] schedule, keep, to), PRAGMA optimize ([upkeep] optimize,
 * and at close) and PRAGMA quick_check ([upkeep] quick_check). Each run is
 * a job row (storage/jobs.h): "backup" {"bytes","contexts"}, "optimize",
 * "quick_check" (ok 0 and the first problem when it fails).
 *
 * A corrupt database is said so plainly in the log, with the command that
 * restores the last backup. Found at start, nothing is written to it and
 * serve exits with BACKUP_EXIT_CORRUPT; found by a later check, the pool
 * stops taking work and the API refuses every write with a 503 saying so
 * (reads go on; /healthz says why).
 *
 * The functions are called by serve's main thread; the schedules run on a
 * thread of their own with their own store.
 */
#ifndef GB_UPKEEPD_H
#define GB_UPKEEPD_H

#include "../base/err.h"
#include "../storage/store.h"
#include "config.h"

struct pool;
struct upkeepd;
struct web;

/*
 * Before serve opens the database: take its running lock (held until
 * upkeepd_stop), check the file read-only (*corrupt 1 when corrupt: an
 * error, logged), then back it up when a migration is pending.
 * *out (even on failure) is freed by upkeepd_stop.
 */
int upkeepd_prepare(struct upkeepd **out, const struct config *cfg, int *corrupt,
    struct gb_err *err);
/*
 * Record the start check and run the schedules on a thread; a check that
 * finds the file corrupt stops pool and makes web refuse writes
 * (web_set_unwritable; web may be NULL).
 */
int upkeepd_start(struct upkeepd *u, const struct store_opts *so, struct pool *pool,
    struct web *web, struct gb_err *err);
/* Stop the thread (a run under way ends first), PRAGMA optimize, unlock, free. NULL-safe. */
void upkeepd_stop(struct upkeepd *u);

#endif
