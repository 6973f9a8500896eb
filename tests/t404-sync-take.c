/*
 * t404-sync-take - two boxes (two processes, each its own database file and
 * worker id, one cluster) taking pending contexts from MongoDB under the
 * cluster's Redis locks: each of 500 contexts is processed exactly once
 * (every completion is written down by the box that did it), every one is
 * completed in MongoDB, and no worker_lock:* key is left. Each box runs a
 * minimal worker: claim what the store holds, complete it, push. Before
 * them, the Redis side of one box: the template and component caches
 * written by a pull and dropped by the push of a local change, and the
 * sync threads' heartbeats (the workers' and the box's own, at once); a
 * context made on a box is not taken by another and its cancel in the
 * cluster comes back; a lost lock taken back, or its local run cancelled
 * when another worker holds it. After them: sync_stop bounded with MongoDB
 * frozen.
 * GENBOX_MONGO_PEER picks the peer.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "../base/gbtime.h"
#include "../storage/heartbeat.h"
#include "../storage/outbox.h"
#include "../storage/queue.h"
#include "synctest.h"

#define N_CTX 500

static char redis_url[128];
static const char *uri;

static void
seed(mongoc_client_t *cl)
{
	mongoc_collection_t *c = mongoc_client_get_collection(cl, ST_DB, "contexts");
	bson_t *docs[N_CTX];
	bson_error_t e;

	for (int i = 0; i < N_CTX; i++) {
		char json[512];

		snprintf(json, sizeof(json), "{\"_id\":\"ctx_take%04d\",\"organization_id\":\"%s\","
		    "\"status\":\"pending\","
		    "\"created_at\":{\"$date\":\"2025-01-01T00:00:%02d.%03dZ\"},"
		    "\"updated_at\":{\"$date\":\"2025-01-01T00:00:00Z\"},\"next_retry_at\":null,"
		    "\"retry_count\":0,\"data\":{\"i\":%d},\"metadata\":{\"priority\":%d}}", i,
		    i % 3 ? "org_123" : "org_456", i / 1000, i % 1000, i, i % 4);
		if ((docs[i] = bson_new_from_json((const uint8_t *)json, -1, &e)) == NULL)
			tap_bail("seed: %s", e.message);
	}
	if (!mongoc_collection_insert_many(c, (const bson_t **)docs, N_CTX, NULL, NULL, &e))
		tap_bail("seed: %s", e.message);
	for (int i = 0; i < N_CTX; i++)
		bson_destroy(docs[i]);
	mongoc_collection_destroy(c);
}

/* Complete what the box claimed; each completion is a line in log. */
static int
work(struct store *st, const char *owner, FILE *log)
{
	char ids[64][STORE_ID_MAX];
	struct gb_err err = { 0, "" };
	int n = 0;

	if (store_queue_claim(st, owner, NULL, gb_now_ms(), 60000, 64, ids, &n, &err))
		return -1;
	for (int i = 0; i < n; i++) {
		struct ctx_finish f = { 0 };

		f.status = CTX_COMPLETED;
		f.now_ms = gb_now_ms();
		f.duration_ms = 1;
		if (store_ctx_finish(st, ids[i], owner, &f, &err) == 0)
			fprintf(log, "%s\n", ids[i]);
	}
	fflush(log);
	return n;
}

/* One box: take, work, push until the cluster has nothing pending for 1 s. */
static int
box_main(int k)
{
	char path[4096], name[32], logpath[4200];
	struct sync_config cfg;
	struct gb_err err = { 0, "" };
	struct store *st;
	struct sync *s;
	mongoc_client_t *cl = mt_client(uri);
	int64_t idle_since = 0, t0 = gb_mono_ms(), pushed;
	FILE *log;

	snprintf(name, sizeof(name), "box-%d", k);
	st = st_box(name, path, sizeof(path));
	snprintf(logpath, sizeof(logpath), "%s/done-%d", util_tmpdir(), k);
	if ((log = fopen(logpath, "w")) == NULL)
		return 2;
	st_cfg(&cfg, path, uri, name);
	cfg.redis_url = redis_url;
	cfg.take_cluster_work = 1;
	cfg.take_max = 16;
	if (sync_new(&s, &cfg, &err))
		return 3;
	while (gb_mono_ms() - t0 < 120000) {
		int taken = 0, done;

		if (sync_take_once(s, &taken, &err))
			fprintf(stderr, "box %d: take: %s\n", k, err.msg);
		done = work(st, "w1", log);
		if (sync_push_all(s, &pushed, &err))
			fprintf(stderr, "box %d: push: %s\n", k, err.msg);
		gb_err_clear(&err);
		if (taken || done) {
			idle_since = 0;
		} else if (mt_count(cl, "contexts", "{\"status\":\"pending\","
		    "\"metadata.appliance_id\":null}") == 0) {
			if (idle_since == 0)
				idle_since = gb_mono_ms();
			else if (gb_mono_ms() - idle_since > 1000)
				break;
		}
	}
	fclose(log);
	sync_free(s);
	store_close(st);
	mongoc_client_destroy(cl);
	return 0;
}

static redisReply *
rq(int port, const char *fmt, const char *arg)
{
	struct timeval tv = { 2, 0 };
	redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
	redisReply *r = c && !c->err ? redisCommand(c, fmt, arg) : NULL;

	redisFree(c);
	return r;
}

static int64_t
redis_int(int port, const char *fmt, const char *arg)
{
	redisReply *r = rq(port, fmt, arg);
	int64_t v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;

	if (r)
		freeReplyObject(r);
	return v;
}

/* The status of a context in MongoDB, "(none)" when absent. */
static const char *
mongo_status(mongoc_client_t *cl, const char *id)
{
	static char out[64];
	bson_t *d = mt_get(cl, "contexts", id);
	bson_iter_t it;

	snprintf(out, sizeof(out), "%s", mt_type(d, "status", &it) == BSON_TYPE_UTF8 ?
	    bson_iter_utf8(&it, NULL) : "(none)");
	bson_destroy(d);
	return out;
}

static void
mt_delete(mongoc_client_t *cl, const char *id)
{
	mongoc_collection_t *mc = mongoc_client_get_collection(cl, ST_DB, "contexts");
	bson_t f = BSON_INITIALIZER;

	BSON_APPEND_UTF8(&f, "_id", id);
	mongoc_collection_delete_one(mc, &f, NULL, NULL, NULL);
	bson_destroy(&f);
	mongoc_collection_destroy(mc);
}

static const char *
redis_str(int port, const char *fmt, const char *arg)
{
	static char out[256];
	redisReply *r = rq(port, fmt, arg);

	snprintf(out, sizeof(out), "%s", r && r->type == REDIS_REPLY_STRING ? r->str : "(none)");
	if (r)
		freeReplyObject(r);
	return out;
}

static const char *
local_status(struct store *st, const char *id)
{
	static char out[64];
	cJSON *j = st_get(st, COLL_CONTEXTS, id);
	const char *v = json_get_str(j, "status");

	snprintf(out, sizeof(out), "%s", v ? v : "(none)");
	cJSON_Delete(j);
	return out;
}

/* A cancel made in the cluster: $set of status and updated_at, nothing else. */
static void
mt_cancel(mongoc_client_t *cl, const char *id)
{
	mongoc_collection_t *mc = mongoc_client_get_collection(cl, ST_DB, "contexts");
	bson_t f = BSON_INITIALIZER, *u;
	bson_error_t e;

	u = bson_new_from_json((const uint8_t *)"{\"$set\":{\"status\":\"cancelled\","
	    "\"updated_at\":{\"$date\":\"2025-02-01T00:00:00Z\"}}}", -1, &e);
	BSON_APPEND_UTF8(&f, "_id", id);
	if (u == NULL || !mongoc_collection_update_one(mc, &f, u, NULL, NULL, &e))
		tap_bail("cancel %s in the cluster: %s", id, e.message);
	bson_destroy(u);
	bson_destroy(&f);
	mongoc_collection_destroy(mc);
}

static struct sync *
box_sync(const char *path, const char *name, int take)
{
	struct sync_config cfg;
	struct gb_err err = { 0, "" };
	struct sync *s;

	st_cfg(&cfg, path, uri, name);
	cfg.redis_url = redis_url;
	cfg.take_cluster_work = take;
	cfg.take_max = 16;
	if (sync_new(&s, &cfg, &err))
		tap_bail("sync_new: %s", err.msg);
	return s;
}

/*
 * A context made on box A goes to the cluster as A's (metadata.appliance_id):
 * box B, taking cluster work, leaves it alone, and a cancel in the cluster
 * comes back to A.
 */
static void
own_context(mongoc_client_t *cl)
{
	char pa[4096], pb[4096];
	struct store *a = st_box("own-a", pa, sizeof(pa)), *b = st_box("own-b", pb, sizeof(pb));
	struct sync *sa = box_sync(pa, "box-own-a", 0), *sb = box_sync(pb, "box-own-b", 1);
	struct gb_err err = { 0, "" };
	int64_t n = 0;
	int taken = -1;
	bson_t *d;
	bson_iter_t it;
	cJSON *j;

	st_put(a, COLL_CONTEXTS, "{\"_id\":\"ctx_own\",\"organization_id\":\"org_123\","
	    "\"status\":\"pending\",\"created_at\":\"2025-01-01T00:00:00.000Z\","
	    "\"updated_at\":\"2025-01-01T00:00:00.000Z\",\"data\":{\"made\":\"on A\"}}");
	is_int(sync_push_all(sa, &n, &err), 0, "box A pushes a context made on it (%s)", err.msg);
	d = mt_get(cl, "contexts", "ctx_own");
	is_str(mt_type(d, "metadata.appliance_id", &it) == BSON_TYPE_UTF8 ?
	    bson_iter_utf8(&it, NULL) : "(none)", "box-own-a",
	    "... as A's: metadata.appliance_id in the cluster's copy");
	bson_destroy(d);
	ok((j = st_get(a, COLL_CONTEXTS, "ctx_own")) && !cJSON_GetObjectItem(j, "metadata"),
	    "... the local document is left as it was");
	cJSON_Delete(j);
	is_int(sync_take_once(sb, &taken, &err), 0, "box B takes cluster work (%s)", err.msg);
	is_int(taken, 0, "... and takes nothing: A's pending context is A's to run");
	ok((j = st_get(b, COLL_CONTEXTS, "ctx_own")) == NULL, "... B does not hold it");
	cJSON_Delete(j);
	mt_cancel(cl, "ctx_own");
	is_int(sync_pull_all(sa, &n, &err), 0, "box A pulls (%s)", err.msg);
	is_str(local_status(a, "ctx_own"), "cancelled", "... a cancel in the cluster reaches A");
	sync_free(sa);
	sync_free(sb);
	store_close(a);
	store_close(b);
}

/*
 * A lock the box holds found lost: taken back when it is free; when another
 * worker holds it, the local run is cancelled (the worker's end refused) and
 * the cancel is not pushed over the holder's copy.
 */
static void
lost_lock(mongoc_client_t *cl, int port)
{
	char path[4096], ids[4][STORE_ID_MAX];
	struct store *st = st_box("steal", path, sizeof(path));
	struct sync *s = box_sync(path, "box-steal", 1);
	struct gb_err err = { 0, "" };
	struct ctx_finish f = { 0 };
	struct cluster_lock locks[4];
	int taken = 0, n = 0, nl = -1;
	int64_t pushed;

	mt_insert_json(cl, "contexts", "{\"_id\":\"ctx_steal\",\"organization_id\":\"org_123\","
	    "\"status\":\"pending\",\"created_at\":{\"$date\":\"2024-01-01T00:00:00Z\"},"
	    "\"updated_at\":{\"$date\":\"2024-01-01T00:00:00Z\"},\"next_retry_at\":null,"
	    "\"metadata\":{\"priority\":0}}");
	is_int(sync_take_once(s, &taken, &err), 0, "take a pending context (%s)", err.msg);
	is_int(taken, 1, "... one");
	store_queue_claim(st, "w1", NULL, gb_now_ms(), 60000, 4, ids, &n, &err);
	is_int(n, 1, "a local worker runs it");
	freeReplyObject(rq(port, "DEL worker_lock:%s", "ctx_steal"));
	is_int(sync_redis_once(s, &err), 0, "the lock expired: a Redis round (%s)", err.msg);
	is_str(redis_str(port, "GET worker_lock:%s", "ctx_steal"), "box-steal",
	    "... takes it back");
	freeReplyObject(rq(port, "SET worker_lock:%s other-worker", "ctx_steal"));
	is_int(sync_redis_once(s, &err), 0, "another worker took it: a Redis round (%s)",
	    err.msg);
	f.status = CTX_COMPLETED;
	f.now_ms = gb_now_ms();
	ok(store_ctx_finish(st, "ctx_steal", "w1", &f, &err) != 0,
	    "... the local run is stopped: its completion is refused");
	is_str(local_status(st, "ctx_steal"), "cancelled", "... the context is cancelled here");
	store_cluster_lock_list(st, locks, 4, &nl, &err);
	is_int(nl, 0, "... its lock row is gone");
	is_str(redis_str(port, "GET worker_lock:%s", "ctx_steal"), "other-worker",
	    "... the other worker's lock is left alone");
	gb_err_clear(&err);
	is_int(sync_push_all(s, &pushed, &err), 0, "push (%s)", err.msg);
	is_str(mongo_status(cl, "ctx_steal"), "pending",
	    "... the local cancel is not pushed over the holder's copy");
	mt_delete(cl, "ctx_steal");
	freeReplyObject(rq(port, "DEL worker_lock:%s", "ctx_steal"));
	sync_free(s);
	store_close(st);
}

static int64_t
last_pull(struct store *st)
{
	struct sync_coll_status all[COLL_COUNT];
	struct gb_err err = { 0, "" };

	return store_sync_status(st, all, &err) ? 0 : all[COLL_CONTEXTS].last_pull_ms;
}

/* With MongoDB frozen and the threads waiting on it, sync_stop returns within a timeout. */
static void
stop_bounded(void)
{
	char path[4096];
	struct store *st = st_box("stop", path, sizeof(path));
	struct sync_config cfg;
	struct gb_err err = { 0, "" };
	struct sync *s;
	int64_t t0;
	int tmo = 4000;

	st_cfg(&cfg, path, uri, "box-stop");
	cfg.redis_url = redis_url;
	cfg.take_cluster_work = 1;
	cfg.timeout_ms = tmo;
	cfg.push_interval_ms = 100;
	cfg.pull_interval_ms = 600000;
	if (sync_new(&s, &cfg, &err) || sync_start(s, &err))
		tap_bail("sync: %s", err.msg);
	st_put(st, COLL_CONTEXTS, "{\"_id\":\"ctx_stop1\",\"organization_id\":\"org_123\","
	    "\"status\":\"completed\"}");
	t0 = gb_mono_ms();
	/* the first push and the first pull (contexts come last) are done */
	while ((st_depth(st) != 0 || last_pull(st) == 0) && gb_mono_ms() - t0 < 20000)
		usleep(50 * 1000);
	peer_mongo_pause();
	st_put(st, COLL_CONTEXTS, "{\"_id\":\"ctx_stop2\",\"organization_id\":\"org_123\","
	    "\"status\":\"completed\"}");
	usleep(700 * 1000);	/* the pusher and the taker both on MongoDB */
	t0 = gb_mono_ms();
	sync_stop(s);
	t0 = gb_mono_ms() - t0;
	peer_mongo_resume();
	ok(t0 <= tmo + 2000, "MongoDB frozen: sync_stop returns in %" PRId64 " ms (timeout %d ms)",
	    t0, tmo);
	sync_free(s);
	store_close(st);
}

/* The caches a pull writes and a local change drops; heartbeats from the threads. */
static void
caches(mongoc_client_t *cl, int port)
{
	char path[4096];
	struct store *st = st_box("cache", path, sizeof(path));
	struct store_heartbeat hb = { "box-c/w1", 0, "busy", 1, "host-c" };
	static const char noredis[] = "{\"_id\":\"ctx_noredis\",\"organization_id\":\"org_123\","
	    "\"status\":\"pending\",\"metadata\":{\"appliance_id\":\"box-c\"}}";
	struct sync_config cfg;
	struct gb_err err = { 0, "" };
	struct sync *s;
	redisReply *r;
	int64_t n = 0, t0;

	mt_insert_json(cl, "templates", "{\"_id\":\"tmpl_cache\",\"organization_id\":\"org_123\","
	    "\"name\":\"Cached\",\"version\":\"2.0\",\"structure\":{\"sections\":[]},"
	    "\"updated_at\":{\"$date\":\"2025-01-01T00:00:00Z\"}}");
	mt_insert_json(cl, "components", "{\"_id\":\"comp_cache\",\"organization_id\":"
	    "\"org_123\",\"type\":\"ai_generator\",\"name\":\"Gen\",\"config\":{\"model\":"
	    "\"m\"},\"updated_at\":{\"$date\":\"2025-01-01T00:00:00Z\"}}");
	st_cfg(&cfg, path, uri, "box-c");
	cfg.redis_url = redis_url;
	if (sync_new(&s, &cfg, &err))
		tap_bail("sync_new: %s", err.msg);
	is_int(sync_pull_all(s, &n, &err), 0, "pull the catalog (%s)", err.msg);
	r = rq(port, "HGET template:%s name", "tmpl_cache");
	is_str(r && r->type == REDIS_REPLY_STRING ? r->str : "(none)", "Cached",
	    "the pulled template is cached in Redis");
	if (r)
		freeReplyObject(r);
	ok(redis_int(port, "TTL template:%s", "tmpl_cache") > 3000, "... with its TTL");
	is_int(redis_int(port, "HEXISTS component_registry:%s ai_generator", "org_123"), 1,
	    "the organization's component registry is cached");
	st_put(st, COLL_TEMPLATES, "{\"_id\":\"tmpl_cache\",\"organization_id\":\"org_123\","
	    "\"name\":\"Changed here\",\"updated_at\":\"2026-01-01T00:00:00.000Z\"}");
	st_put(st, COLL_COMPONENTS, "{\"_id\":\"comp_cache\",\"organization_id\":\"org_123\","
	    "\"type\":\"ai_generator\",\"updated_at\":\"2026-01-01T00:00:00.000Z\"}");
	is_int(sync_push_all(s, &n, &err), 0, "push the local changes (%s)", err.msg);
	is_int(redis_int(port, "EXISTS template:%s", "tmpl_cache"), 0,
	    "the stale template is dropped");
	is_int(redis_int(port, "EXISTS component_registry:%s", "org_123"), 0,
	    "the stale registry is dropped");
	is_int(st_depth(st), 0, "... and their outbox rows are gone");
	/* a lock the pusher could not release (Redis away) and one still running */
	st_put(st, COLL_CONTEXTS, "{\"_id\":\"ctx_lockdone\",\"organization_id\":\"org_123\","
	    "\"status\":\"completed\"}");
	st_put(st, COLL_CONTEXTS, "{\"_id\":\"ctx_lockrun\",\"organization_id\":\"org_123\","
	    "\"status\":\"pending\"}");
	is_int(sync_push_all(s, &n, &err), 0, "push two contexts (%s)", err.msg);
	if (store_cluster_lock_add(st, "ctx_lockdone", "box-c", gb_now_ms(), &err) ||
	    store_cluster_lock_add(st, "ctx_lockrun", "box-c", gb_now_ms(), &err))
		tap_bail("lock rows: %s", err.msg);
	freeReplyObject(rq(port, "SET worker_lock:%s box-c PX 10000", "ctx_lockdone"));
	freeReplyObject(rq(port, "SET worker_lock:%s box-c PX 10000", "ctx_lockrun"));
	is_int(sync_redis_once(s, &err), 0, "a Redis round (%s)", err.msg);
	is_int(redis_int(port, "EXISTS worker_lock:%s", "ctx_lockdone"), 0,
	    "the lock of a context that ended and was pushed is released");
	ok(redis_int(port, "PTTL worker_lock:%s", "ctx_lockrun") > 200000,
	    "the lock of a context still running is extended to 5 min");
	{
		struct cluster_lock locks[4];
		int nl = 0;

		store_cluster_lock_list(st, locks, 4, &nl, &err);
		is_int(nl, 1, "... and only its lock row is left");
	}
	/*
	 * Claims that never reached the store (take.c writes the row before the
	 * SET; a kill between the two): an old one is released when the key is
	 * still the box's, and dropped when it is not; a young one is a claim in
	 * progress and left alone.
	 */
	if (store_cluster_lock_add(st, "ctx_claim_old", "box-c", gb_now_ms() - 120000, &err) ||
	    store_cluster_lock_add(st, "ctx_claim_gone", "box-c", gb_now_ms() - 120000, &err) ||
	    store_cluster_lock_add(st, "ctx_claim_new", "box-c", gb_now_ms(), &err))
		tap_bail("claim rows: %s", err.msg);
	freeReplyObject(rq(port, "SET worker_lock:%s box-c PX 300000", "ctx_claim_old"));
	freeReplyObject(rq(port, "SET worker_lock:%s other-worker PX 300000", "ctx_claim_gone"));
	freeReplyObject(rq(port, "SET worker_lock:%s box-c PX 300000", "ctx_claim_new"));
	is_int(sync_redis_once(s, &err), 0, "a Redis round with three claims (%s)", err.msg);
	is_int(redis_int(port, "EXISTS worker_lock:%s", "ctx_claim_old"), 0,
	    "a claim cut short a while ago: its lock is released");
	is_str(redis_str(port, "GET worker_lock:%s", "ctx_claim_gone"), "other-worker",
	    "... one whose key another worker holds: the key is left alone");
	is_str(redis_str(port, "GET worker_lock:%s", "ctx_claim_new"), "box-c",
	    "... a claim in progress: left alone");
	{
		struct cluster_lock locks[8];
		int nl = 0;

		store_cluster_lock_list(st, locks, 8, &nl, &err);
		is_int(nl, 2, "... two rows are left: the running context's and the young claim's");
		for (int i = 0; i < nl; i++)
			ok(strcmp(locks[i].ctx_id, "ctx_claim_old") != 0 &&
			    strcmp(locks[i].ctx_id, "ctx_claim_gone") != 0,
			    "... not the old claim's: %s", locks[i].ctx_id);
	}
	freeReplyObject(rq(port, "DEL worker_lock:%s", "ctx_claim_new"));
	freeReplyObject(rq(port, "DEL worker_lock:%s", "ctx_claim_gone"));
	store_cluster_lock_remove(st, "ctx_claim_new", &err);
	{	/* out of the way of the take below */
		mongoc_collection_t *mc = mongoc_client_get_collection(cl, ST_DB, "contexts");
		bson_error_t e;
		bson_t *f = bson_new_from_json((const uint8_t *)"{\"_id\":{\"$in\":"
		    "[\"ctx_lockdone\",\"ctx_lockrun\"]}}", -1, &e);

		mongoc_collection_delete_many(mc, f, NULL, NULL, NULL);
		bson_destroy(f);
		mongoc_collection_destroy(mc);
		freeReplyObject(rq(port, "DEL worker_lock:%s", "ctx_lockrun"));
		store_cluster_lock_remove(st, "ctx_lockrun", &err);
	}
	/* the threads start with Redis away: local work goes on, heartbeats follow it back */
	hb.last_seen_ms = gb_now_ms();
	if (store_heartbeat_put(st, &hb, 1, &err))
		tap_bail("heartbeat: %s", err.msg);
	peer_redis_stop();
	if (sync_start(s, &err))
		tap_bail("sync_start: %s", err.msg);
	usleep(1500 * 1000);
	ok(store_put(st, COLL_CONTEXTS, noredis, strlen(noredis), STORE_UPSERT, NULL, &err) == 0,
	    "Redis away: local writes go on (%s)", err.msg);
	peer_redis_restart();
	t0 = gb_mono_ms();
	while (redis_int(port, "EXISTS worker_heartbeat:%s", "box-c/w1") != 1 &&
	    gb_mono_ms() - t0 < 10000)
		usleep(50 * 1000);
	sync_stop(s);
	is_int(redis_int(port, "EXISTS worker_heartbeat:%s", "box-c/w1"), 1,
	    "Redis back: the Redis thread mirrors the box's heartbeats (after %" PRId64 " ms)",
	    gb_mono_ms() - t0);
	is_str(redis_str(port, "HGET worker_heartbeat:%s status", "box-c"), "busy",
	    "the box's own heartbeat under its lock's worker id: busy as a worker is");
	is_str(redis_str(port, "HGET worker_heartbeat:%s processing_count", "box-c"), "1",
	    "... processing the sum of its workers'");
	ok(redis_int(port, "TTL worker_heartbeat:%s", "box-c") > 0, "... with a TTL");
	freeReplyObject(rq(port, "DEL worker_heartbeat:%s", "box-c"));
	if (sync_start(s, &err))
		tap_bail("sync_start: %s", err.msg);
	t0 = gb_mono_ms();
	while (redis_int(port, "EXISTS worker_heartbeat:%s", "box-c") != 1 &&
	    gb_mono_ms() - t0 < 3000)
		usleep(20 * 1000);
	sync_stop(s);
	is_int(redis_int(port, "EXISTS worker_heartbeat:%s", "box-c"), 1,
	    "the threads start: the box's heartbeat is written at once (%" PRId64 " ms)",
	    gb_mono_ms() - t0);
	sync_free(s);
	store_close(st);
}

/* Lines of both boxes' logs: total and distinct. */
static void
count_done(int *total, int *distinct)
{
	static char seen[N_CTX];
	char line[256];

	*total = *distinct = 0;
	for (int k = 1; k <= 2; k++) {
		char path[4200];
		FILE *f;

		snprintf(path, sizeof(path), "%s/done-%d", util_tmpdir(), k);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		while (fgets(line, sizeof(line), f)) {
			int i;

			(*total)++;
			if (sscanf(line, "ctx_take%d", &i) == 1 && i >= 0 && i < N_CTX &&
			    !seen[i]++)
				(*distinct)++;
		}
		fclose(f);
	}
}

static int64_t
lock_keys(int port)
{
	struct timeval tv = { 2, 0 };
	redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
	redisReply *r = c && !c->err ? redisCommand(c, "KEYS worker_lock:*") : NULL;
	int64_t n = r && r->type == REDIS_REPLY_ARRAY ? (int64_t)r->elements : -1;

	if (r)
		freeReplyObject(r);
	redisFree(c);
	return n;
}

int
main(void)
{
	enum peer_mongo kind = peer_mongo_kind_from_env();
	int port = peer_redis_start(), total, distinct, status[2] = { -1, -1 };
	mongoc_client_t *cl;
	pid_t pid[2];

	uri = peer_mongo_start(kind, NULL, NULL);
	snprintf(redis_url, sizeof(redis_url), "redis://127.0.0.1:%d", port);
	cl = mt_client(uri);
	caches(cl, port);
	own_context(cl);
	lost_lock(cl, port);
	seed(cl);
	is_int(mt_count(cl, "contexts", "{\"status\":\"pending\",\"metadata.appliance_id\":null}"),
	    N_CTX, "%d pending contexts in MongoDB for any box", N_CTX);
	mt_insert_json(cl, "contexts", "{\"_id\":\"ctx_routed\",\"organization_id\":\"org_123\","
	    "\"status\":\"pending\",\"created_at\":{\"$date\":\"2024-01-01T00:00:00Z\"},"
	    "\"updated_at\":{\"$date\":\"2024-01-01T00:00:00Z\"},\"metadata\":{\"appliance_id\":"
	    "\"box-other\"}}");
	for (int k = 0; k < 2; k++)
		if ((pid[k] = fork()) == 0)
			_exit(box_main(k + 1));
	for (int k = 0; k < 2; k++)
		waitpid(pid[k], &status[k], 0);
	ok(WIFEXITED(status[0]) && WEXITSTATUS(status[0]) == 0 && WIFEXITED(status[1]) &&
	    WEXITSTATUS(status[1]) == 0, "both boxes ran to the end");
	count_done(&total, &distinct);
	is_int(distinct, N_CTX, "every context was processed");
	is_int(total, N_CTX, "... exactly once (completions of both boxes)");
	is_int(mt_count(cl, "contexts", "{\"status\":\"completed\"}"), N_CTX,
	    "every context is completed in MongoDB");
	ok(mt_count(cl, "contexts", "{\"metadata.appliance_id\":\"box-1\"}") > 0 &&
	    mt_count(cl, "contexts", "{\"metadata.appliance_id\":\"box-2\"}") > 0,
	    "both boxes took work (%" PRId64 " and %" PRId64 ")",
	    mt_count(cl, "contexts", "{\"metadata.appliance_id\":\"box-1\"}"),
	    mt_count(cl, "contexts", "{\"metadata.appliance_id\":\"box-2\"}"));
	is_int(mt_count(cl, "contexts", "{\"_id\":\"ctx_routed\",\"status\":\"pending\"}"), 1,
	    "a context routed to another appliance is left to it");
	is_int(lock_keys(port), 0, "no worker_lock:* key is left");
	stop_bounded();
	mongoc_client_destroy(cl);
	return tap_done();
}
