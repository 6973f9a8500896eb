/*
 * t407-sync-serve-take - two real `genbox serve` daemons, each on its own
 * database file (the demo catalog loaded by `genbox demo`) with its own
 * appliance and worker id and [cluster] take_cluster_work = true, against
 * one private redis-server and the MongoDB peer (GENBOX_MONGO_PEER picks
 * it). The catalog is in MongoDB too, and 500 pending contexts of the demo
 * organization meant for no box in particular. Halfway, one daemon is
 * killed with SIGKILL and started again at once (its locks are still its
 * own). Every context ends completed in MongoDB, and exactly once: the
 * contexts each box completed in its own database add up to 500 distinct
 * ids, none completed by both, each by the box MongoDB names; no
 * worker_lock:* key is left; /metrics has the sync gauges per collection;
 * both daemons stop on SIGTERM with status 0.
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
#include "httpc.h"
#include "synctest.h"

#define N_CTX 500
#define ALL_DONE_MS 120000
#define ORG "org_123"

struct daemon {
	int k;				/* 1 or 2 */
	char db[4200], conf[4200], log[4300];
	pid_t pid;
	int port, starts;
};

static struct daemon boxes[2];
static const char *uri;
static int rport;
static mongoc_client_t *cl;

/* ---- the cluster ---- */

struct catalog_copy {
	enum coll c;
	int n;
};

static int
catalog_doc(void *arg, const char *doc, size_t len)
{
	struct catalog_copy *cc = arg;
	char *text = strndup(doc, len);

	if (text == NULL)
		tap_bail("out of memory");
	mt_insert_json(cl, coll_name(cc->c), text);
	free(text);
	cc->n++;
	return 0;
}

/* The demo catalog of a box's database into MongoDB, dates as BSON Dates. */
static int
catalog_to_cluster(const char *db)
{
	static const enum coll colls[] = { COLL_ORGANIZATIONS, COLL_USERS, COLL_TEMPLATES,
		COLL_COMPONENTS, COLL_PIPELINES };
	struct gb_err err = { 0, "" };
	struct store *st;
	int n = 0;

	if (store_open(&st, db, NULL, &err))
		tap_bail("open %s: %s", db, err.msg);
	for (size_t i = 0; i < sizeof(colls) / sizeof(colls[0]); i++) {
		struct catalog_copy cc = { colls[i], 0 };

		if (store_each(st, colls[i], NULL, 1, catalog_doc, &cc, &err))
			tap_bail("catalog %s: %s", coll_name(colls[i]), err.msg);
		n += cc.n;
	}
	store_close(st);
	return n;
}

static void
seed(void)
{
	mongoc_collection_t *c = mongoc_client_get_collection(cl, ST_DB, "contexts");
	bson_t *docs[N_CTX];
	bson_error_t e;

	for (int i = 0; i < N_CTX; i++) {
		char json[768];

		snprintf(json, sizeof(json), "{\"_id\":\"ctx_t407_%04d\",\"type\":\"article\","
		    "\"status\":\"pending\",\"organization_id\":\"" ORG "\",\"user_id\":\"user_456\","
		    "\"created_at\":{\"$date\":\"2025-02-01T00:%02d:%02d.000Z\"},"
		    "\"updated_at\":{\"$date\":\"2025-02-01T00:00:00.000Z\"},\"next_retry_at\":null,"
		    "\"retry_count\":0,\"error\":null,\"data\":{\"title\":\"Cluster article %d\","
		    "\"keywords\":[\"edge\",\"sync\"],\"tone\":\"technical\"},"
		    "\"metadata\":{\"source\":\"t407\",\"priority\":%d}}", i, i / 60, i % 60, i,
		    i % 3);
		if ((docs[i] = bson_new_from_json((const uint8_t *)json, -1, &e)) == NULL)
			tap_bail("seed: %s", e.message);
	}
	if (!mongoc_collection_insert_many(c, (const bson_t **)docs, N_CTX, NULL, NULL, &e))
		tap_bail("seed: %s", e.message);
	for (int i = 0; i < N_CTX; i++)
		bson_destroy(docs[i]);
	mongoc_collection_destroy(c);
}

static int64_t
seeds_with(const char *status)
{
	char f[160];

	snprintf(f, sizeof(f), "{\"metadata.source\":\"t407\",\"status\":\"%s\"}", status);
	return mt_count(cl, "contexts", f);
}

static int64_t
lock_keys(void)
{
	struct timeval tv = { 2, 0 };
	redisContext *c = redisConnectWithTimeout("127.0.0.1", rport, tv);
	redisReply *r = c && !c->err ? redisCommand(c, "KEYS worker_lock:*") : NULL;
	int64_t n = r && r->type == REDIS_REPLY_ARRAY ? (int64_t)r->elements : -1;

	if (r)
		freeReplyObject(r);
	redisFree(c);
	return n;
}

/* worker_lock:* keys whose value is worker, -1 on error. */
static int
locks_of(const char *worker)
{
	struct timeval tv = { 2, 0 };
	redisContext *c = redisConnectWithTimeout("127.0.0.1", rport, tv);
	redisReply *r = c && !c->err ? redisCommand(c, "KEYS worker_lock:*") : NULL;
	int n = r && r->type == REDIS_REPLY_ARRAY ? 0 : -1;

	for (size_t i = 0; n >= 0 && i < r->elements; i++) {
		redisReply *v = redisCommand(c, "GET %s", r->element[i]->str);

		n += v && v->type == REDIS_REPLY_STRING && strcmp(v->str, worker) == 0;
		if (v)
			freeReplyObject(v);
	}
	if (r)
		freeReplyObject(r);
	redisFree(c);
	return n;
}

/* ---- the daemons ---- */

static void
box_make(struct daemon *d, int k)
{
	char arg[4300], text[6000];
	struct run r;

	d->k = k;
	snprintf(d->db, sizeof(d->db), "%s/box-%d.db", util_tmpdir(), k);
	snprintf(d->conf, sizeof(d->conf), "%s/box-%d.conf", util_tmpdir(), k);
	snprintf(arg, sizeof(arg), "--db=%s", d->db);
	util_genbox_run(&r, NULL, arg, "demo", NULL);
	if (r.status)
		tap_bail("demo into box %d: %s", k, r.err);
	run_free(&r);
	snprintf(text, sizeof(text), "[storage]\npath = %s\n\n[workers]\ncount = 4\n\n"
	    "[cluster]\nmongo_uri = %s\nredis_url = redis://127.0.0.1:%d/0\n"
	    "appliance_id = box-%d\nworker_id = box-%d-worker\norganizations = " ORG "\n"
	    "take_cluster_work = true\npush_interval_ms = 100\npull_interval_ms = 400\n"
	    "timeout_ms = 3000\nbackoff_max_ms = 1000\n", d->db, uri, rport, k, k);
	if (util_write_file(d->conf, text, strlen(text)))
		tap_bail("write %s", d->conf);
}

static const char *
box_url(const struct daemon *d, const char *path)
{
	static char url[256];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", d->port, path);
	return url;
}

static void
box_start(struct daemon *d)
{
	char listen[64];
	char *argv[] = { (char *)util_genbox(), "-c", d->conf, "serve", "--listen", listen, NULL };
	int64_t t0 = gb_mono_ms();

	d->port = peer_free_port();
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", d->port);
	snprintf(d->log, sizeof(d->log), "%s/box-%d.%d.log", util_tmpdir(), d->k, ++d->starts);
	d->pid = util_spawn(argv, d->log, 0);
	while (peer_http_status(box_url(d, "/healthz")) != 200)
		if (gb_mono_ms() - t0 > 20000)
			tap_bail("box %d does not serve (see %s)", d->k, d->log);
		else
			usleep(50 * 1000);
}

/* Signal it and wait for its end: its exit status, 128 + signal, or -1 when it hangs. */
static int
box_stop(struct daemon *d, int sig)
{
	int st;

	kill(d->pid, sig);
	for (int64_t t0 = gb_mono_ms(); gb_mono_ms() - t0 < 30000; usleep(20 * 1000))
		if (waitpid(d->pid, &st, WNOHANG) == d->pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	kill(d->pid, SIGKILL);
	waitpid(d->pid, &st, 0);
	return -1;
}

/* The value of the metric line "name{labels} value" of box d, or -1 when absent. */
static double
box_metric(const struct daemon *d, const char *prefix)
{
	struct http_resp r;
	double v;

	http_json(&r, "GET", box_url(d, "/metrics"), NULL, NULL);
	v = http_metric_value(r.body, prefix);
	http_resp_free(&r);
	return v;
}

/* ---- what each box did, from its own database ---- */

struct done {
	unsigned char by[N_CTX];	/* bit k-1: box k completed it */
	int k, n[2];
};

static int
done_doc(void *arg, const char *doc, size_t len)
{
	struct done *d = arg;
	cJSON *j = cJSON_ParseWithLength(doc, len);
	const char *id = json_get_str(j, "_id");
	int i;

	if (id && sscanf(id, "ctx_t407_%d", &i) == 1 && i >= 0 && i < N_CTX) {
		d->by[i] |= (unsigned char)(1u << (d->k - 1));
		d->n[d->k - 1]++;
	}
	cJSON_Delete(j);
	return 0;
}

static void
done_read(struct done *d, const struct daemon *b)
{
	struct gb_err err = { 0, "" };
	struct store *st;

	d->k = b->k;
	if (store_open(&st, b->db, NULL, &err) ||
	    store_each(st, COLL_CONTEXTS, "{\"status\": \"completed\"}", 0, done_doc, d, &err))
		tap_bail("read box %d: %s", b->k, err.msg);
	store_close(st);
}

/*
 * The seeded contexts a box's database holds cluster locks for (it is not
 * running): marked in held; how many of them are processing there.
 */
static int
held_locks(const struct daemon *b, unsigned char held[N_CTX], int *n)
{
	struct cluster_lock locks[64];
	struct gb_err err = { 0, "" };
	struct store *st;
	int running = 0, i, rows = 0;

	*n = 0;
	if (store_open(&st, b->db, NULL, &err) ||
	    store_cluster_lock_list(st, locks, 64, &rows, &err))
		tap_bail("the locks of box %d: %s", b->k, err.msg);
	for (int j = 0; j < rows; j++) {
		char *text = NULL;

		if (sscanf(locks[j].ctx_id, "ctx_t407_%d", &i) != 1 || i < 0 || i >= N_CTX)
			continue;
		/*
		 * a lock row whose context is not here is a claim the kill cut
		 * short (sync/take.c writes the row before the SET): released
		 * later, the context is either box's to take
		 */
		if (store_get(st, COLL_CONTEXTS, locks[j].ctx_id, &text, &err) == 0) {
			cJSON *doc = cJSON_Parse(text);
			const char *status = json_get_str(doc, "status");

			held[i] = 1;
			(*n)++;
			running += status && strcmp(status, "processing") == 0;
			cJSON_Delete(doc);
		}
		free(text);
	}
	store_close(st);
	return running;
}

/* Wait until at least want seeded contexts are completed in MongoDB (ms at most). */
static int64_t
wait_completed(int64_t want, int ms)
{
	int64_t n = 0;

	for (int64_t t0 = gb_mono_ms(); gb_mono_ms() - t0 < ms; usleep(200 * 1000))
		if ((n = seeds_with("completed")) >= want)
			break;
	return n;
}

static void
check_metrics(const struct daemon *d)
{
	double cp = box_metric(d, "genbox_sync_checkpoint_timestamp_seconds{collection=\"contexts\"}");
	double lag = box_metric(d, "genbox_sync_pull_lag_seconds{collection=\"contexts\"}");
	double et = box_metric(d, "genbox_sync_last_error_timestamp_seconds{collection=\"contexts\"}");
	double e = box_metric(d, "genbox_sync_error{collection=\"contexts\"}");

	/* the box pulled back its own contexts: updated_at of their completions, now-ish */
	ok(cp > (double)gb_now_ms() / 1000.0 - 600 && cp <= (double)gb_now_ms() / 1000.0 + 1,
	    "box %d /metrics: genbox_sync_checkpoint_timestamp_seconds of contexts is the "
	    "checkpoint's updated_at (%.3f)", d->k, cp);
	ok(lag >= 0 && lag < 30, "box %d /metrics: genbox_sync_pull_lag_seconds of contexts (%g)",
	    d->k, lag);
	ok((e == 0 && et == 0) || (e == 1 && et > 1e9), "box %d /metrics: genbox_sync_error "
	    "(%g) and genbox_sync_last_error_timestamp_seconds (%g) agree", d->k, e, et);
	ok(box_metric(d, "genbox_sync_error{collection=\"organizations\"}") == 0,
	    "box %d /metrics: genbox_sync_error of organizations 0", d->k);
}

static void
run(void)
{
	struct done done = { { 0 }, 0, { 0, 0 } };
	int64_t n, t0 = gb_mono_ms(), locks;
	unsigned char held[N_CTX] = { 0 };
	int both = 0, status, nheld, running, theirs = 0;

	for (int k = 0; k < 2; k++)
		box_start(&boxes[k]);
	n = wait_completed(N_CTX / 4, ALL_DONE_MS);
	ok(n >= N_CTX / 4, "the daemons take and complete contexts (%" PRId64 " after %" PRId64
	    " ms)", n, gb_mono_ms() - t0);
	/* while it holds some of the cluster's locks */
	for (int64_t t1 = gb_mono_ms(); locks_of("box-2-worker") <= 0 &&
	    gb_mono_ms() - t1 < 5000; usleep(2 * 1000))
		;
	status = box_stop(&boxes[1], SIGKILL);
	is_int(status, 128 + SIGKILL, "box 2 killed with SIGKILL halfway");
	running = held_locks(&boxes[1], held, &nheld);
	tap_diag("box 2 held %d cluster locks when it was killed (%d of those contexts "
	    "processing), %" PRId64 " of %d completed", nheld, running, seeds_with("completed"),
	    N_CTX);
	box_start(&boxes[1]);
	n = wait_completed(N_CTX, ALL_DONE_MS);
	is_int(n, N_CTX, "every context is completed in MongoDB (after %" PRId64 " ms)",
	    gb_mono_ms() - t0);
	is_int(seeds_with("pending") + seeds_with("processing"), 0,
	    "none is pending or processing in MongoDB");
	for (int64_t t1 = gb_mono_ms(); (locks = lock_keys()) != 0 &&
	    gb_mono_ms() - t1 < 90000; usleep(200 * 1000))
		;
	is_int(locks, 0, "no worker_lock:* key is left in Redis");
	for (int k = 0; k < 2; k++)
		check_metrics(&boxes[k]);
	for (int k = 0; k < 2; k++)
		is_int(box_stop(&boxes[k], SIGTERM), 0, "box %d stops on SIGTERM with status 0",
		    k + 1);
	for (int k = 0; k < 2; k++)
		done_read(&done, &boxes[k]);
	n = 0;
	for (int i = 0; i < N_CTX; i++) {
		n += done.by[i] != 0;
		both += done.by[i] == 3;
	}
	is_int(n, N_CTX, "the contexts completed in the two databases: %d distinct ids", N_CTX);
	is_int(both, 0, "none completed by both boxes");
	for (int i = 0; i < N_CTX; i++)
		theirs += held[i] && done.by[i] == 2;
	is_int(theirs, nheld, "the %d contexts box 2 held under lock at the kill were completed "
	    "by box 2 after its restart", nheld);
	is_int(done.n[0] + done.n[1], N_CTX, "... %d completions in all (%d and %d)", N_CTX,
	    done.n[0], done.n[1]);
	is_int(mt_count(cl, "contexts", "{\"metadata.source\":\"t407\",\"status\":\"completed\","
	    "\"metadata.appliance_id\":\"box-1\"}"), done.n[0],
	    "MongoDB names box 1 for exactly the contexts it completed");
	is_int(mt_count(cl, "contexts", "{\"metadata.source\":\"t407\",\"status\":\"completed\","
	    "\"metadata.appliance_id\":\"box-2\"}"), done.n[1], "and box 2 for its own");
	if (done.n[0] == 0 || done.n[1] == 0)
		tap_diag("one box took all the work (%d and %d)", done.n[0], done.n[1]);
	else
		ok(1, "both boxes took work (%d and %d)", done.n[0], done.n[1]);
}

int
main(void)
{
	enum peer_mongo kind = peer_mongo_kind_from_env();
	int n;

	rport = peer_redis_start();
	uri = peer_mongo_start(kind, NULL, NULL);
	cl = mt_client(uri);
	/* only the config files speak of the cluster */
	unsetenv("GENBOX_CLUSTER_MONGO_URI");
	unsetenv("GENBOX_CLUSTER_REDIS_URL");
	for (int k = 0; k < 2; k++)
		box_make(&boxes[k], k + 1);
	n = catalog_to_cluster(boxes[0].db);
	ok(n >= 5, "the demo catalog is in MongoDB (%d documents)", n);
	seed();
	is_int(mt_count(cl, "contexts", "{\"status\":\"pending\",\"metadata.appliance_id\":null}"),
	    N_CTX, "%d pending contexts of %s in MongoDB for any box (%s)", N_CTX, ORG,
	    peer_mongo_name(kind));
	run();
	mongoc_client_destroy(cl);
	return tap_done();
}
