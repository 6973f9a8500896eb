/*
 * busy.c - waiting for the write lock, and letting a waiting writer in.
 *
 * SQLite's own busy handler sleeps up to 100 ms between tries, so a writer
 * in another process misses the short gaps between a busy pool's
 * transactions. store_busy_wait tries again after 1 ms, growing to 10 ms,
 * until the busy timeout has passed. That alone still loses to a pool whose
 * next transaction begins microseconds after the last one committed, so a
 * writer that has waited raises a flag, an exclusive flock() on a file
 * beside the database ("<db>-turn"), and every store checks the flag before
 * it begins a transaction (store_busy_yield): while another writer waits,
 * it holds back (up to TURN_YIELD_MS), and the waiter, trying every 1 ms,
 * gets in. The flag is lowered once the waiter's transaction has begun, or
 * at its next call into the store.
 *
 * The turn file is never the database: closing it drops no SQLite lock.
 * flock() locks belong to the open file, so the stores of one process
 * flag and see each other as other processes' stores do. Without the file
 * (a read-only folder) none of this happens and the plain waiting remains.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "../base/gbtime.h"
#include "internal.h"

#define TURN_AFTER_MS 2		/* a writer that waited this long raises the flag */
#define TURN_YIELD_MS 100	/* how long a store holds back for a waiting writer, at most */

static void
sleep_ms(int64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

void
store_busy_open(struct store *st)
{
	char turn[4200];

	st->turn_fd = -1;
	if (strcmp(st->path, ":memory:") == 0 || st->path[0] == '\0' ||
	    snprintf(turn, sizeof(turn), "%s-turn", st->path) >= (int)sizeof(turn))
		return;
	/* flock() needs no write access: a file another user created still works */
	st->turn_fd = open(turn, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
}

void
store_busy_close(struct store *st)
{
	if (st->turn_fd >= 0)
		close(st->turn_fd);
	st->turn_fd = -1;
	st->turn_held = 0;
}

void
store_busy_release(struct store *st)
{
	if (st->turn_held) {
		flock(st->turn_fd, LOCK_UN);
		st->turn_held = 0;
	}
}

/* Whether another writer has raised the flag. */
static int
turn_wanted(struct store *st)
{
	if (st->turn_fd < 0 || st->turn_held)
		return 0;
	if (flock(st->turn_fd, LOCK_SH | LOCK_NB) < 0)
		return errno == EWOULDBLOCK;
	flock(st->turn_fd, LOCK_UN);
	return 0;
}

void
store_busy_yield(struct store *st)
{
	int64_t until = gb_mono_ms() + TURN_YIELD_MS;

	while (turn_wanted(st) && gb_mono_ms() < until)
		sleep_ms(1);
}

int
store_busy_wait(void *arg, int count)
{
	struct store *st = arg;
	int64_t now = gb_mono_ms(), left, ms;

	if (count == 0)
		st->busy_since_ms = now;
	left = st->busy_timeout_ms - (now - st->busy_since_ms);
	if (left <= 0) {
		store_busy_release(st);
		return 0;
	}
	if (!st->turn_held && st->turn_fd >= 0 && now - st->busy_since_ms >= TURN_AFTER_MS &&
	    flock(st->turn_fd, LOCK_EX | LOCK_NB) == 0)
		st->turn_held = 1;
	ms = st->turn_held ? 1 : count < 4 ? (int64_t)1 << count : 10;
	sleep_ms(ms < left ? ms : left);
	return 1;
}
