/*
 * sync.c - the sync floor's threads and state.
 *
 * Up to four threads, each with its own store, MongoDB client (from the
 * pool) and Redis connection (struct sync_ctx): the pusher (outbox rounds
 * every push_interval_ms, at once again while rounds come back full), the
 * puller (every collection to its end every pull_interval_ms), Redis
 * (heartbeats and pipeline statistics every 20 s, the cluster locks
 * extended every 60 s) and, with take_cluster_work, the taker. A failed
 * round waits with exponential backoff and jitter; refused credentials wait
 * backoff_max_ms. The CLI's one-shot calls make a sync_ctx of their own on
 * the caller's thread.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "../base/gbtime.h"
#include "../base/json.h"
#include "../base/log.h"
#include "../storage/docs.h"
#include "../storage/outbox.h"
#include "../storage/queue.h"
#include "internal.h"

#define REDIS_BEAT_MS 20000
#define REDIS_LOCKS_MS 60000
#define LOCKS_MAX 4096

static pthread_once_t mongoc_once = PTHREAD_ONCE_INIT;

static void
mongoc_start(void)
{
	mongoc_init();
	mongoc_log_set_handler(NULL, NULL);	/* the driver's own lines stay out of the log */
}

static const char *
own(struct sync *s, const char *v)
{
	char *copy;

	if (v == NULL || s->nowned >= (int)(sizeof(s->owned) / sizeof(s->owned[0])))
		return v;
	if ((copy = strdup(v)) == NULL)
		return NULL;
	s->owned[s->nowned++] = copy;
	return copy;
}

static int
collect_org(void *arg, const char *doc, size_t len)
{
	struct sync *s = arg;
	cJSON *j = cJSON_ParseWithLength(doc, len);
	const char *id = json_get_str(j, "_id");

	if (id && s->cfg.n_orgs < SYNC_MAX_ORGS)
		s->cfg.orgs[s->cfg.n_orgs++] = own(s, id);
	cJSON_Delete(j);
	return 0;
}

/* No organizations given: those of the box. */
static int
default_orgs(struct sync *s, struct gb_err *err)
{
	struct store *st;
	int rc;

	if ((rc = store_open(&st, s->cfg.db_path, NULL, err)))
		return rc;
	rc = store_each(st, COLL_ORGANIZATIONS, NULL, 0, collect_org, s, err);
	store_close(st);
	return rc;
}

static int
config_copy(struct sync *s, const struct sync_config *cfg, struct gb_err *err)
{
	static char host[256];
	struct sync_config *c = &s->cfg;

	*c = *cfg;
	if (cfg->db_path == NULL)
		return gb_errf(err, GB_EINVAL, "sync needs the database's path");
	c->db_path = own(s, cfg->db_path);
	c->mongo_uri = cfg->mongo_uri && cfg->mongo_uri[0] ? own(s, cfg->mongo_uri) : NULL;
	c->mongo_db = own(s, cfg->mongo_db && cfg->mongo_db[0] ? cfg->mongo_db : "genbox");
	c->redis_url = cfg->redis_url && cfg->redis_url[0] ? own(s, cfg->redis_url) : NULL;
	if (cfg->appliance_id == NULL || !cfg->appliance_id[0]) {
		if (host[0] == '\0' && gethostname(host, sizeof(host) - 1) != 0)
			snprintf(host, sizeof(host), "genbox");
		c->appliance_id = host;
	}
	c->appliance_id = own(s, c->appliance_id);
	c->worker_id = own(s, cfg->worker_id && cfg->worker_id[0] ? cfg->worker_id :
	    c->appliance_id);
	for (int i = 0; i < cfg->n_orgs && i < SYNC_MAX_ORGS; i++)
		c->orgs[i] = own(s, cfg->orgs[i]);
	c->push_interval_ms = cfg->push_interval_ms > 0 ? cfg->push_interval_ms : 2000;
	c->pull_interval_ms = cfg->pull_interval_ms > 0 ? cfg->pull_interval_ms : 10000;
	c->page_size = cfg->page_size > 0 ? cfg->page_size : SYNC_PAGE_DEFAULT;
	c->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 10000;
	c->backoff_max_ms = cfg->backoff_max_ms > 0 ? cfg->backoff_max_ms : 60000;
	c->take_max = cfg->take_max > 0 ? cfg->take_max : 8;
	if (c->page_size > 100000)
		return gb_errf(err, GB_EINVAL, "page_size %d is over 100000", c->page_size);
	if (cfg->n_orgs < 0 || cfg->n_orgs > SYNC_MAX_ORGS)
		return gb_errf(err, GB_EINVAL, "more than %d organizations", SYNC_MAX_ORGS);
	return 0;
}

int
sync_new(struct sync **out, const struct sync_config *cfg, struct gb_err *err)
{
	struct sync *s = calloc(1, sizeof(*s));
	pthread_condattr_t ca;
	int rc;

	*out = NULL;
	if (s == NULL)
		return gb_errf(err, GB_ENOMEM, "out of memory");
	pthread_mutex_init(&s->mu, NULL);
	pthread_mutex_init(&s->mongo_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cv, &ca);
	pthread_condattr_destroy(&ca);
	atomic_init(&s->state, SYNC_ST_OFF);
	atomic_init(&s->skew_ms, 0);
	atomic_init(&s->skew_known, 0);
	if ((rc = config_copy(s, cfg, err)))
		goto fail;
	if (s->cfg.mongo_uri) {
		pthread_once(&mongoc_once, mongoc_start);
		if ((rc = mongo_pool_new(s, err)))
			goto fail;
		if (s->cfg.n_orgs == 0 && (rc = default_orgs(s, err)))
			goto fail;
		atomic_store(&s->state, SYNC_ST_OK);
	}
	*out = s;
	return 0;
fail:
	sync_free(s);
	return rc;
}

void
sync_free(struct sync *s)
{
	if (s == NULL)
		return;
	if (s->nthreads)
		sync_stop(s);
	if (s->pool)
		mongoc_client_pool_destroy(s->pool);
	for (int i = 0; i < s->nowned; i++)
		free(s->owned[i]);
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->mongo_mu);
	pthread_cond_destroy(&s->cv);
	free(s);
}

int
sync_ctx_open(struct sync_ctx *c, struct sync *s, struct gb_err *err)
{
	struct gb_err rerr = { 0, "" };
	int rc;

	memset(c, 0, sizeof(*c));
	c->s = s;
	if ((rc = store_open(&c->st, s->cfg.db_path, NULL, err)))
		return rc;
	if (s->pool)
		c->client = mongoc_client_pool_pop(s->pool);
	if (s->cfg.redis_url && sync_redis_new(&c->redis, s->cfg.redis_url, s->cfg.timeout_ms,
	    &rerr)) {
		log_warnx("redis: %s", rerr.msg);
		c->redis = NULL;
	}
	return 0;
}

void
sync_ctx_close(struct sync_ctx *c)
{
	if (c->client)
		mongoc_client_pool_push(c->s->pool, c->client);
	sync_redis_free(c->redis);
	store_close(c->st);
	memset(c, 0, sizeof(*c));
}

/*
 * Push rounds until the outbox is empty, a round settles nothing, or an
 * error; *taken (may be NULL) counts the rows sent.
 */
static int
push_until_empty(struct sync_ctx *c, int64_t *pushed, int64_t *taken, struct gb_err *err)
{
	int sent, rc;

	do {
		int64_t acked = 0;

		rc = push_round(c, &sent, &acked, pushed, err);
		if (taken)
			*taken += sent;
		if (rc)
			return rc;
		if (sent > 0 && acked == 0)
			return gb_errf(err, GB_ETRANSIENT, "%d outbox rows could not be sent",
			    sent);
	} while (sent == SYNC_PUSH_BATCH && !sync_stopping(c->s));
	return 0;
}

static int
pull_everything(struct sync_ctx *c, int max_pages, int64_t *pulled, struct gb_err *err)
{
	static const enum coll order[] = { COLL_ORGANIZATIONS, COLL_USERS, COLL_TEMPLATES,
	    COLL_COMPONENTS, COLL_PIPELINES, COLL_BATCHES, COLL_CONTEXTS };
	int pages = 0, rc = 0;

	if (c->s->cfg.n_orgs == 0)
		return 0;
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]) && rc == 0; i++)
		rc = pull_coll(c, order[i], max_pages, &pages, pulled, err);
	return rc;
}

static int
sync_off(struct sync *s, struct gb_err *err)
{
	if (s->pool == NULL)
		return gb_errf(err, GB_ESTATE, "sync is off: no mongo_uri is configured");
	return 0;
}

int
sync_push_all(struct sync *s, int64_t *pushed, struct gb_err *err)
{
	struct sync_ctx c;
	int64_t n = 0, sent = 0;
	int rc;

	if ((rc = sync_off(s, err)) || (rc = sync_ctx_open(&c, s, err)))
		return rc;
	rc = push_until_empty(&c, &n, &sent, err);
	/* nothing to send said nothing of the cluster: it must answer all the same */
	if (rc == 0 && sent == 0)
		rc = mongo_ping(&c, err);
	sync_ctx_close(&c);
	if (pushed)
		*pushed = n;
	return rc;
}

int
sync_pull_pages(struct sync *s, int max_pages, int64_t *pulled, struct gb_err *err)
{
	struct sync_ctx c;
	int64_t n = 0;
	int rc;

	if ((rc = sync_off(s, err)) || (rc = sync_ctx_open(&c, s, err)))
		return rc;
	rc = pull_everything(&c, max_pages, &n, err);
	sync_ctx_close(&c);
	if (pulled)
		*pulled = n;
	return rc;
}

int
sync_pull_all(struct sync *s, int64_t *pulled, struct gb_err *err)
{
	return sync_pull_pages(s, 0, pulled, err);
}

int
sync_count_undated(struct sync *s, struct gb_err *err)
{
	struct sync_ctx c;
	int rc;

	if ((rc = sync_off(s, err)) || (rc = sync_ctx_open(&c, s, err)))
		return rc;
	pull_undated(&c, 0);
	sync_ctx_close(&c);
	return 0;
}

int
sync_take_once(struct sync *s, int *taken, struct gb_err *err)
{
	struct sync_ctx c;
	int n = 0, rc;

	if ((rc = sync_off(s, err)) || (rc = sync_ctx_open(&c, s, err)))
		return rc;
	rc = take_round(&c, &n, err);
	sync_ctx_close(&c);
	if (taken)
		*taken = n;
	return rc;
}

/* What became of the context of a cluster lock the box holds */
enum lock_ctx { LOCK_RUNNING, LOCK_DONE, LOCK_ABSENT };

/*
 * LOCK_DONE: the context ended here while no context waits in the outbox:
 * its end was acknowledged, but the pusher could not release the lock then
 * (Redis was away). Released now instead of kept alive. LOCK_ABSENT: no such
 * context here: a claim (take.c) in progress, or one that a kill or a failed
 * store cut short, or a context deleted here since.
 */
static enum lock_ctx
lock_ctx_state(struct sync_ctx *c, const char *ctx_id, int64_t ctx_depth)
{
	struct gb_err err = { 0, "" };
	char *text = NULL;
	cJSON *j;
	int st, rc;

	if ((rc = store_get(c->st, COLL_CONTEXTS, ctx_id, &text, &err)) == GB_ENOTFOUND)
		return LOCK_ABSENT;
	if (rc != 0 || ctx_depth != 0) {
		free(text);
		return LOCK_RUNNING;
	}
	j = cJSON_Parse(text);
	st = ctx_status_from_name(json_get_str(j, "status") ? json_get_str(j, "status") : "");
	cJSON_Delete(j);
	free(text);
	return st == CTX_COMPLETED || st == CTX_FAILED || st == CTX_CANCELLED ? LOCK_DONE :
	    LOCK_RUNNING;
}

/* The outbox row of context id, when it is among the oldest: acknowledged unsent. */
static void
outbox_forget(struct sync_ctx *c, const char *id)
{
	struct outbox_row *rows = calloc(SYNC_PUSH_BATCH, sizeof(*rows));
	struct gb_err err = { 0, "" };
	int n = 0;

	if (rows == NULL ||
	    store_outbox_take(c->st, 1u << COLL_CONTEXTS, SYNC_PUSH_BATCH, rows, &n, &err))
		n = 0;
	for (int i = 0; i < n; i++)
		if (strcmp(rows[i].id, id) == 0 && store_outbox_ack(c->st, &rows[i], 1, &err))
			log_warnx("cannot drop the outbox row of '%s': %s", id, err.msg);
	store_outbox_rows_free(rows, n);
	free(rows);
}

/*
 * The cluster lock of a context the box runs expired (Redis away past its
 * TTL) or was taken: take it back when it is free; when another worker
 * holds it, that worker runs the context: the local run is cancelled (the
 * local worker's end then fails and it moves on), and the cancel is kept
 * from the cluster (the holder's copy is the one that counts).
 */
static int
lock_lost(struct sync_ctx *c, const struct cluster_lock *l, struct gb_err *err)
{
	struct gb_err cerr = { 0, "" };
	char holder[192], q[160], qh[220];
	int got = 0, rc;

	if ((rc = sync_redis_lock(c->redis, l->ctx_id, l->worker_id, &got, err)))
		return rc;
	log_quoted(q, sizeof(q), l->ctx_id);
	if (got) {
		log_warnx("event=lock_retaken id=%s msg=\"the cluster lock of the context had "
		    "expired: taken again\"", q);
		return 0;
	}
	if ((rc = sync_redis_lock_holder(c->redis, l->ctx_id, holder, sizeof(holder), err)) ||
	    !holder[0])
		return rc;	/* freed since: taken back at the next round */
	if (store_ctx_cancel(c->st, l->ctx_id, gb_now_ms(), &cerr) == 0)
		outbox_forget(c, l->ctx_id);
	log_warnx("event=lock_lost id=%s holder=%s msg=\"another worker holds the cluster lock "
	    "of the context: its local run is cancelled\"%s%s", q,
	    log_quoted(qh, sizeof(qh), holder[0] ? holder : "(unknown)"),
	    cerr.code ? " cancel=" : "", cerr.code ? cerr.msg : "");
	return store_cluster_lock_remove(c->st, l->ctx_id, err);
}

/*
 * A claim older than this whose context never reached the store was cut
 * short: its key, when still the box's, is released. A claim in progress
 * (this process or another on the same file) lasts a few round trips.
 */
#define CLAIM_STALE_MS (60 * 1000)

/* Keep the locks the box holds: PEXPIRE while ours; a lost one is taken back or let go. */
static int
redis_extend_locks(struct sync_ctx *c, struct gb_err *err)
{
	struct cluster_lock *locks = calloc(LOCKS_MAX, sizeof(*locks));
	int64_t depth = -1, oldest, now = gb_now_ms();
	int n = 0, rc;

	if (locks == NULL)
		return gb_errf(err, GB_ENOMEM, "out of memory");
	if ((rc = store_cluster_lock_list(c->st, locks, LOCKS_MAX, &n, err)) == 0 && n > 0)
		rc = store_outbox_depth(c->st, COLL_CONTEXTS, &depth, &oldest, err);
	for (int i = 0; i < n && rc == 0; i++) {
		const char *id = locks[i].ctx_id;
		enum lock_ctx lc = lock_ctx_state(c, id, depth);
		int held = 0;

		if (lc == LOCK_ABSENT && now - locks[i].taken_ms < CLAIM_STALE_MS)
			continue;	/* a claim in progress */
		if (lc != LOCK_RUNNING) {
			char q[160];

			if (lc == LOCK_ABSENT)
				log_warnx("event=claim_dropped id=%s msg=\"a claim of the "
				    "cluster lock that never reached the store: released\"",
				    log_quoted(q, sizeof(q), id));
			if ((rc = sync_redis_unlock(c->redis, id, locks[i].worker_id, err)) == 0)
				rc = store_cluster_lock_remove(c->st, id, err);
			continue;
		}
		if ((rc = sync_redis_lock_extend(c->redis, id, locks[i].worker_id, &held, err)))
			break;
		if (!held)
			rc = lock_lost(c, &locks[i], err);
	}
	free(locks);
	return rc;
}

static int
redis_beat(struct sync_ctx *c, struct gb_err *err)
{
	int n, rc;

	if ((rc = sync_redis_box_heartbeat(c->redis, c->st, c->s->cfg.worker_id, gb_now_ms(),
	    err)) ||
	    (rc = sync_redis_heartbeats(c->redis, c->st, gb_now_ms(), &n, err)))
		return rc;
	return sync_redis_stats(c->redis, c->st, gb_now_ms(), &n, err);
}

int
sync_redis_once(struct sync *s, struct gb_err *err)
{
	struct sync_ctx c;
	int rc;

	if (s->cfg.redis_url == NULL)
		return gb_errf(err, GB_ESTATE, "no redis_url is configured");
	if ((rc = sync_ctx_open(&c, s, err)))
		return rc;
	if (c.redis == NULL)
		rc = gb_errf(err, GB_EINVAL, "bad redis_url");
	if (rc == 0 && (rc = redis_beat(&c, err)) == 0)
		rc = redis_extend_locks(&c, err);
	sync_ctx_close(&c);
	return rc;
}

const char *
sync_state(struct sync *s)
{
	static const char *const names[] = { "off", "ok", "offline", "error", "auth" };
	int st = s ? atomic_load(&s->state) : SYNC_ST_OFF;

	return st >= 0 && st <= SYNC_ST_AUTH ? names[st] : "error";
}

void
sync_counters(struct sync *s, struct sync_counters *out)
{
	out->mongo_commands = atomic_load(&s->commands);
	out->mongo_bytes_out = atomic_load(&s->bytes_out);
	out->mongo_bytes_in = atomic_load(&s->bytes_in);
}

static int
role_push(struct sync_ctx *c, struct gb_err *err)
{
	int64_t n = 0;
	int rc;

	if ((rc = push_until_empty(c, &n, NULL, err)) == 0)
		mongo_note_skew(c);
	return rc;
}

static int
role_pull(struct sync_ctx *c, struct gb_err *err)
{
	int64_t n = 0;
	int rc;

	if ((rc = pull_everything(c, 0, &n, err)) == 0)
		pull_undated(c, 1);
	return rc;
}

static int
role_take(struct sync_ctx *c, struct gb_err *err)
{
	int n = 0;

	return take_round(c, &n, err);
}

static int
role_redis(struct sync_ctx *c, struct gb_err *err)
{
	int rc;

	if (c->redis == NULL)
		return gb_errf(err, GB_EINVAL, "bad redis_url");
	if ((rc = redis_beat(c, err)))
		return rc;
	if (gb_mono_ms() - c->locks_ms >= REDIS_LOCKS_MS || c->locks_ms == 0) {
		if ((rc = redis_extend_locks(c, err)))
			return rc;
		c->locks_ms = gb_mono_ms();
	}
	return 0;
}

enum { ROLE_PUSH, ROLE_PULL, ROLE_REDIS, ROLE_TAKE };

static const struct role {
	const char *name;
	int (*fn)(struct sync_ctx *c, struct gb_err *err);
} roles[] = {
	[ROLE_PUSH] = { "push", role_push },
	[ROLE_PULL] = { "pull", role_pull },
	[ROLE_REDIS] = { "redis", role_redis },
	[ROLE_TAKE] = { "take", role_take },
};

static int64_t
role_interval(const struct sync *s, int role)
{
	switch (role) {
	case ROLE_PULL:
		return s->cfg.pull_interval_ms;
	case ROLE_REDIS:
		return REDIS_BEAT_MS;
	default:
		return s->cfg.push_interval_ms;
	}
}

static void
round_failed(const struct role *r, int fails, int64_t wait, const struct gb_err *err,
    char *last, size_t size)
{
	char q[300];

	/* the same error again is not news: one line when it starts or changes */
	if (fails > 1 && strcmp(last, err->msg) == 0)
		return;
	snprintf(last, size, "%s", err->msg);
	log_warnx("event=sync_failed part=%s fails=%d retry_ms=%" PRId64 " error=%s", r->name,
	    fails, wait, log_quoted(q, sizeof(q), err->msg));
}

static void *
sync_thread(void *arg)
{
	struct sync_targ *t = arg;
	struct sync *s = t->s;
	const struct role *r = &roles[t->role];
	struct sync_ctx c;
	char last[256] = "";
	int fails = 0, open = 0;

	while (!sync_stopping(s)) {
		struct gb_err err = { 0, "" };
		int64_t wait = role_interval(s, t->role);
		int rc;

		if (!open && (rc = sync_ctx_open(&c, s, &err)) == 0)
			open = 1;
		rc = open ? r->fn(&c, &err) : err.code;
		if (rc && sync_stopping(s)) {
			break;		/* a round cut short by the stop is no failure */
		} else if (rc) {
			fails++;
			wait = sync_backoff_ms(s, fails, rc == GB_EPERM);
			round_failed(r, fails, wait, &err, last, sizeof(last));
		} else if (fails) {
			log_info("event=sync_recovered part=%s after=%d", r->name, fails);
			fails = 0;
			last[0] = '\0';
		}
		if (sync_sleep(s, wait))
			break;
	}
	if (open)
		sync_ctx_close(&c);
	return NULL;
}

int
sync_start(struct sync *s, struct gb_err *err)
{
	int want[SYNC_THREADS_MAX], n = 0, rc;

	if (s->nthreads)
		return gb_errf(err, GB_ESTATE, "sync is running already");
	if (s->pool) {
		want[n++] = ROLE_PUSH;
		want[n++] = ROLE_PULL;
		if (s->cfg.take_cluster_work)
			want[n++] = ROLE_TAKE;
	}
	if (s->cfg.redis_url)
		want[n++] = ROLE_REDIS;
	s->stop = 0;
	for (int i = 0; i < n; i++) {
		s->targ[i].s = s;
		s->targ[i].role = want[i];
		if ((rc = pthread_create(&s->threads[i], NULL, sync_thread, &s->targ[i]))) {
			sync_stop(s);
			return gb_errf(err, GB_ENOMEM, "cannot start a sync thread: %s",
			    strerror(rc));
		}
		s->nthreads++;
	}
	return 0;
}

void
sync_stop(struct sync *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	for (int i = 0; i < s->nthreads; i++)
		pthread_join(s->threads[i], NULL);
	s->nthreads = 0;
}
