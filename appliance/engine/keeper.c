/*
 * keeper.c - leases, reaping, heartbeats, the end of a batch and WAL
 * checkpoints (see keeper.h).
 *
 * The keeper writes under the pool's write lock, and says when it waits for
 * it so that workers let it go first (a plain mutex goes back to the thread
 * that just let it go).
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../base/gbtime.h"
#include "../../base/log.h"
#include "../../storage/access.h"
#include "../../storage/heartbeat.h"
#include "keeper.h"

struct keeper {
	struct pool *p;
	struct store *st;
	int64_t last_extend, last_reap, last_beat;
};

static void
keeper_write_lock(struct pool *p)
{
	atomic_store(&p->keeper_waiting, 1);
	pthread_mutex_lock(&p->write_lock);
	atomic_store(&p->keeper_waiting, 0);
	pthread_mutex_lock(&p->lock);
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

const char *keeper_proc_dir = "/proc";

/* Fields 3 (state) and 22 (starttime) of /proc/PID/stat; -1 when there is no such process. */
static long long
keeper_proc_start(long pid, char *state)
{
	char path[PATH_MAX], line[1024], *p;
	long long start = -1;
	FILE *f;

	*state = '?';
	snprintf(path, sizeof(path), "%s/%ld/stat", keeper_proc_dir, pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	if (fgets(line, sizeof(line), f) && (p = strrchr(line, ')')) != NULL && p[1] == ' ') {
		/* after the command's closing parenthesis: " S ppid ..." */
		int field = 2;

		*state = p[2];
		for (p++; *p && field < 22; p++)
			if (*p == ' ')
				field++;
		start = strtoll(p, NULL, 10);
	}
	fclose(f);
	return start;
}

void
keeper_hostname(char *host, size_t len)
{
	if (gethostname(host, len) != 0)
		snprintf(host, len, "localhost");
	host[len - 1] = '\0';
}

int
keeper_owner_name(long pid, char *out, size_t len)
{
	char host[64], state;
	long long start = keeper_proc_start(pid, &state);

	keeper_hostname(host, sizeof(host));
	snprintf(out, len, "%s/%ld:%lld", host, pid, start);
	return start < 0 ? GB_ENOTFOUND : 0;
}

int
keeper_owner_dead(void *arg, const char *owner)
{
	const struct pool *p = arg;
	char host[64], mine[64], state;
	const char *slash = strchr(owner, '/');
	long pid;
	long long start;

	if (p && strcmp(owner, p->owner) == 0)
		return 0;	/* this pool's own: alive */
	if (slash == NULL || (size_t)(slash - owner) >= sizeof(host))
		return 0;
	memcpy(host, owner, (size_t)(slash - owner));
	host[slash - owner] = '\0';
	if (p)
		snprintf(mine, sizeof(mine), "%s", p->host);
	else
		keeper_hostname(mine, sizeof(mine));
	if (strcmp(host, mine) != 0)
		return 0;	/* another host's: only its lease can tell */
	if (sscanf(slash + 1, "%ld:%lld", &pid, &start) != 2)
		return 0;
	long long now_start = keeper_proc_start(pid, &state);

	if (now_start < 0)
		/*
		 * no /proc entry: gone, unless /proc hides it (another user's
		 * process under ProtectProc=invisible, hidepid=): a process the
		 * kernel still knows keeps its claims until its lease runs out
		 */
		return !(kill((pid_t)pid, 0) == 0 || errno == EPERM);
	if (now_start != start)
		return 1;
	return state == 'Z' || state == 'X';	/* killed, only waiting for its parent */
}

static void
keeper_extend(struct keeper *k, int64_t now)
{
	struct pool *p = k->p;
	struct gb_err err = { 0, "" };

	if (now - k->last_extend < p->cfg.lease_ms / 3)
		return;
	if (store_queue_extend(k->st, p->owner, gb_now_ms() + p->cfg.lease_ms, NULL, &err))
		log_warnx("extend leases: %s", err.msg);
	k->last_extend = now;
}

/*
 * Give back the contexts the workers could not; those storage still refuses
 * stay for the next round.
 */
static void
keeper_release_orphans(struct keeper *k)
{
	struct pool *p = k->p;
	struct orphan *o, *keep = NULL;

	pthread_mutex_lock(&p->lock);
	o = p->orphans;
	p->orphans = NULL;
	pthread_mutex_unlock(&p->lock);
	while (o) {
		struct orphan *next = o->next;
		struct gb_err err = { 0, "" };
		int rc = store_queue_release(k->st, o->id, p->owner, gb_now_ms(), &err);

		if (rc == 0 || rc == GB_ESTATE) {
			free(o);
		} else {
			o->next = keep;
			keep = o;
		}
		o = next;
	}
	pthread_mutex_lock(&p->lock);
	while (keep) {
		struct orphan *next = keep->next;

		keep->next = p->orphans;
		p->orphans = keep;
		keep = next;
	}
	pthread_mutex_unlock(&p->lock);
}

static void
keeper_reap(struct keeper *k, int64_t now)
{
	struct gb_err err = { 0, "" };
	int n = 0;

	if (now - k->last_reap < 1000)
		return;
	keeper_release_orphans(k);
	if (store_queue_reap(k->st, gb_now_ms(), keeper_owner_dead, k->p, &n, &err))
		log_warnx("reap: %s", err.msg);
	else if (n > 0)
		log_info("returned %d context%s with expired leases to the queue", n,
		    n == 1 ? "" : "s");
	k->last_reap = now;
}

/* Write every worker's heartbeat row (force: whatever the time). */
static void
keeper_beat(struct keeper *k, int64_t now, int force)
{
	struct pool *p = k->p;
	struct gb_err err = { 0, "" };
	struct store_heartbeat *hb;
	int n = p->cfg.workers;

	if (!force && now - k->last_beat < p->cfg.heartbeat_ms)
		return;
	if ((hb = calloc((size_t)n, sizeof(*hb))) == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	memcpy(hb, p->hb, sizeof(*hb) * (size_t)n);
	pthread_mutex_unlock(&p->lock);
	for (int i = 0; i < n; i++)
		hb[i].last_seen_ms = gb_now_ms();
	if (store_heartbeat_put(k->st, hb, n, &err))
		log_warnx("heartbeats: %s", err.msg);
	free(hb);
	k->last_beat = now;
}

/*
 * A pool that runs one batch (or the queue) to its end: done once nothing is
 * pending or processing.
 */
static void
keeper_check_done(struct keeper *k)
{
	struct pool *p = k->p;
	struct gb_err err = { 0, "" };
	int64_t c[CTX_STATUS_COUNT] = { 0 };
	int idle, rc;

	pthread_mutex_lock(&p->lock);
	idle = p->idle && !p->done;
	pthread_mutex_unlock(&p->lock);
	if (p->cfg.run_forever || !idle)
		return;
	if (p->batch_id)
		rc = store_batch_summary(k->st, p->batch_id, c, &err);
	else
		rc = store_ctx_status_counts(k->st, c, &err);
	if (rc) {
		log_warnx("keeper: %s", err.msg);
		return;
	}
	if (c[CTX_PENDING] + c[CTX_PROCESSING] > 0)
		return;
	pthread_mutex_lock(&p->lock);
	p->done = 1;
	p->draining = 1;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

/*
 * Checkpoints copy the WAL into the database while the workers go on
 * writing. The WAL starts over only after a checkpoint that nothing was
 * written behind, so once it has grown past KEEPER_WAL_RESTART_FRAMES a
 * short second pass holds the write lock: the WAL stays bounded however long
 * the pool is busy.
 */
static void
keeper_checkpoint(struct keeper *k)
{
	struct gb_err err = { 0, "" };
	int frames = 0;

	if (store_checkpoint(k->st, &frames, &err)) {
		log_warnx("%s", err.msg);
	} else if (frames > KEEPER_WAL_RESTART_FRAMES) {
		keeper_write_lock(k->p);
		if (store_checkpoint(k->st, NULL, &err))
			log_warnx("%s", err.msg);
		pthread_mutex_unlock(&k->p->write_lock);
	}
}

/* Whether a write of keeper_round is due (the write lock is taken only then). */
static int
keeper_due(const struct keeper *k, int64_t now)
{
	const struct pool *p = k->p;

	return now - k->last_extend >= p->cfg.lease_ms / 3 || now - k->last_reap >= 1000 ||
	    now - k->last_beat >= p->cfg.heartbeat_ms;
}

/*
 * Once a tick: the writes that are due, then a checkpoint. Woken between
 * ticks (the pool's condition is broadcast at every claim), only the end of
 * the batch is checked: the workers keep the write lock.
 */
static void
keeper_round(struct keeper *k, int tick)
{
	int64_t now = gb_mono_ms();

	if (tick && keeper_due(k, now)) {
		keeper_write_lock(k->p);
		keeper_extend(k, now);
		keeper_reap(k, now);
		keeper_beat(k, now, 0);
		pthread_mutex_unlock(&k->p->write_lock);
	}
	keeper_check_done(k);
	if (tick)
		keeper_checkpoint(k);
}

/*
 * The pool stopped: what the workers could not give back is given back now,
 * trying for a few seconds while storage is busy (sleeping with no lock and
 * no transaction held); the heartbeat rows go.
 */
static void
keeper_last_round(struct keeper *k)
{
	struct pool *p = k->p;
	struct gb_err err = { 0, "" };
	int left = 1;

	for (int i = 0; i < KEEPER_LAST_TRIES && left; i++) {
		if (i > 0)
			usleep(KEEPER_TICK_MS * 1000);
		keeper_write_lock(p);
		keeper_release_orphans(k);
		pthread_mutex_unlock(&p->write_lock);
		pthread_mutex_lock(&p->lock);
		left = p->orphans != NULL;
		pthread_mutex_unlock(&p->lock);
	}
	if (left)
		log_warnx("some contexts could not be given back: their leases expire, or the next "
		    "run takes them");
	keeper_write_lock(p);
	if (store_heartbeat_delete(k->st, p->owner, &err))
		log_warnx("heartbeats: %s", err.msg);
	pthread_mutex_unlock(&p->write_lock);
}

static void *
keeper_main(void *arg)
{
	struct keeper *k = arg;
	struct pool *p = k->p;
	struct gb_err err = { 0, "" };
	int64_t next_tick = 0;
	int failed = 0;

	/* a store belongs to the thread that opened it */
	if (store_open(&k->st, p->cfg.db_path, &p->cfg.store, &err)) {
		log_warnx("keeper: %s", err.msg);
		free(k);
		return NULL;
	}
	pthread_mutex_lock(&p->lock);
	while (!p->stopping) {
		int64_t now = gb_mono_ms();
		int tick = now >= next_tick;

		if (tick)
			next_tick = now + KEEPER_TICK_MS;
		/*
		 * a failed pool writes nothing more: its leases are left to
		 * expire or to the next run
		 */
		if (!(failed = p->failed)) {
			pthread_mutex_unlock(&p->lock);
			keeper_round(k, tick);
			pthread_mutex_lock(&p->lock);
		}
		now = gb_mono_ms();
		if (!p->stopping && now < next_tick)
			engine_wait_ms(p, next_tick - now);
	}
	failed = p->failed;
	pthread_mutex_unlock(&p->lock);
	if (!failed)
		keeper_last_round(k);
	store_close(k->st);
	free(k);
	return NULL;
}

int
keeper_start(struct pool *p, struct gb_err *err)
{
	struct keeper *k = calloc(1, sizeof(*k));

	if (k == NULL)
		return gb_errf(err, GB_ENOMEM, "out of memory");
	k->p = p;
	if (pthread_create(&p->keeper, NULL, keeper_main, k) != 0) {
		free(k);
		return gb_errf(err, GB_ENOMEM, "cannot start the lease keeper");
	}
	p->keeper_started = 1;
	return 0;
}
