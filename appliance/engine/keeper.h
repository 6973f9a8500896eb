/*
 * keeper.h - the pool's keeper thread: extends the pool's leases, gives
 * back contexts the workers could not, reaps expired leases and those of
 * dead processes on this host, writes the workers' heartbeat rows every
 * heartbeat_ms (and deletes them when the pool stops), notices when a
 * run-batch pool is done, and checkpoints the WAL so it stays bounded
 * however long the pool is busy.
 */
#ifndef GB_KEEPER_H
#define GB_KEEPER_H

#include <stddef.h>

#include "engine.h"

#define KEEPER_WAL_RESTART_FRAMES 4096	/* 16 MiB of 4 KiB pages */
#define KEEPER_TICK_MS 250
#define KEEPER_LAST_TRIES 12	/* rounds to give back what is left at the stop */

/* Start the thread (p->keeper_started set). Stopped by p->stopping; join with pthread_join. */
int keeper_start(struct pool *p, struct gb_err *err);

/*
 * Whether owner (a lease's "host/pid:start") is a process of this host that
 * no longer runs: gone, another process with the pid, or a zombie (killed,
 * not yet reaped by its parent). Another host's owner is never dead here.
 * Matches store_owner_dead_fn; arg is the asking pool (its own owner is
 * alive, and its host name is used), or NULL.
 */
int keeper_owner_dead(void *arg, const char *owner);
/*
 * Where the owner check reads process entries: "/proc"; a test points it at
 * an empty folder to stand for a /proc that hides processes.
 */
extern const char *keeper_proc_dir;
/* This host's name ("localhost" when it has none), as owner names carry it. */
void keeper_hostname(char *host, size_t len);
/* The owner name of process pid on this host: "host/pid:start". 0, or GB_ENOTFOUND. */
int keeper_owner_name(long pid, char *out, size_t len);

#endif
