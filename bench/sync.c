/*
 * bench/sync - sync's push and pull beside plain libmongoc on the same
 * documents, against the same MongoDB peer (tests/peers/mongo-peer.py,
 * mongomock behind the wire protocol) in one run:
 *
 *   push   sync_push_all of N contexts from the outbox (bulk replaceOne
 *          upserts of 500 with the shard-key and updated_at filter)
 *          vs one plain unordered bulk insert of the same documents
 *          (converted from the same JSON with bson_new_from_json)
 *   pull   sync_pull_all into a fresh database (pages, store_sync_apply,
 *          checkpoints) vs a plain find of every document, and vs a plain
 *          find with the pull's own filter and sort; best of 3 turns each
 *
 * Also the MongoDB round trips and bytes per synced context, and the Redis
 * commands per minute of an idle box (4 idle workers' heartbeats) and a
 * busy one (4 busy workers, 1000 contexts ended a minute over 5
 * pipelines): one round of sync_redis_once per 20 s, counted with INFO
 * on a private redis-server. The MongoDB peer is a test peer written in
 * Python: its speed, not the network's, bounds both sides, so the ratios
 * are what to read.
 *
 * usage: sync [--contexts N] [--page P]     (default 100000, sync's own page size)
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <bson/bson.h>
#include <hiredis/hiredis.h>
#include <mongoc/mongoc.h>

#include "../base/gbtime.h"
#include "../storage/docs.h"
#include "../storage/heartbeat.h"
#include "../storage/pipestats.h"
#include "../storage/outbox.h"
#include "../storage/store.h"
#include "../sync/sync.h"
#include "lib/benchlib.h"

#define CHUNK 5000

static const char LOREM[] = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed "
    "do eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, "
    "quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat. Duis "
    "aute irure dolor in reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla "
    "pariatur. Excepteur sint occaecat cupidatat non proident, sunt in culpa qui officia "
    "deserunt mollit anim id est laborum. Sed ut perspiciatis unde omnis iste natus error sit "
    "voluptatem accusantium doloremque laudantium, totam rem aperiam, eaque ipsa quae ab illo.";

#define PULL_ROUNDS 3
#define REDIS_ROUNDS_PER_MIN 3	/* sync's Redis thread: a round every 20 s */

static pid_t peer_pid, redis_pid;
static char uri[128], redis_url[64];

static void
peer_stop(void)
{
	if (peer_pid > 0) {
		kill(peer_pid, SIGKILL);
		waitpid(peer_pid, NULL, 0);
		peer_pid = 0;
	}
	if (redis_pid > 0) {
		kill(redis_pid, SIGKILL);
		waitpid(redis_pid, NULL, 0);
		redis_pid = 0;
	}
}

/* Start the mongomock peer and read its READY line. */
static void
peer_start(void)
{
	const char *src = getenv("GENBOX_SRC");
	char script[4096], line[128];
	int fd[2];
	FILE *f;

	snprintf(script, sizeof(script), "%s/tests/peers/mongo-peer.py", src ? src : ".");
	if (access(script, R_OK) != 0)
		bench_die(script, "not found (run from the source tree or set GENBOX_SRC)");
	if (pipe(fd) != 0)
		bench_die("pipe", strerror(errno));
	if ((peer_pid = fork()) == 0) {
		dup2(fd[1], 1);
		close(fd[0]);
		execl("/usr/bin/python3", "python3", script, "--port", "0", (char *)NULL);
		_exit(127);
	}
	close(fd[1]);
	atexit(peer_stop);
	f = fdopen(fd[0], "r");
	if (f == NULL || fgets(line, sizeof(line), f) == NULL || strncmp(line, "READY port=", 11))
		bench_die("mongo-peer.py", "did not start");
	snprintf(uri, sizeof(uri), "mongodb://127.0.0.1:%d/", atoi(line + 11));
}

static struct store *
box(const char *name, char *path, size_t size)
{
	struct store_opts o = { 1, 1, 0, 10000, 0, 0 };
	struct gb_err err = { 0, "" };
	struct store *st;

	bench_tpath(name, path, size);
	bench_db_remove(path);
	if (store_open(&st, path, &o, &err) || store_sync_enable(st, NULL, &err))
		bench_die(name, err.msg);
	return st;
}

/* N contexts of ~1 KB, meant for this appliance (so the pull brings them). */
static void
fill(struct store *st, long n)
{
	static char *texts[CHUNK];
	static size_t lens[CHUNK];
	struct gb_err err = { 0, "" };

	for (long from = 0; from < n; from += CHUNK) {
		int k = (int)(n - from < CHUNK ? n - from : CHUNK);

		for (int i = 0; i < k; i++) {
			long j = from + i;
			int len = asprintf(&texts[i], "{\"_id\":\"ctx_%07ld\",\"organization_id\":"
			    "\"org_%ld\",\"status\":\"completed\",\"type\":\"article\","
			    "\"created_at\":"
			    "\"2025-03-01T10:00:00.000Z\","
			    "\"updated_at\":\"2025-03-01T10:%02ld:%02ld.%03ldZ\","
			    "\"pipeline\":[\"template\",\"ai_generator\",\"transformer\"],"
			    "\"data\":{\"title\":"
			    "\"Article %ld\",\"keywords\":[\"sync\",\"bench\"],"
			    "\"generated_content\":{"
			    "\"introduction\":\"%.*s\"}},\"processing\":{\"duration_ms\":%ld,"
			    "\"component_timings\":{\"template\":3,\"ai_generator\":1200}},"
			    "\"retry_count\":0,"
			    "\"user_id\":\"user_456\",\"metadata\":{\"appliance_id\":\"bench\","
			    "\"priority\":%ld,\"big\":9007199254740993}}", j, j % 2 ? 123L : 456L,
			    j / 60000 % 60, j / 1000 % 60, j % 1000, j, 600,
			    LOREM,
			    j * 7 % 5000, j % 5);

			if (len < 0)
				bench_die("fill", "out of memory");
			lens[i] = (size_t)len;
		}
		if (store_put_many(st, COLL_CONTEXTS, (const char *const *)texts, lens, (size_t)k,
		    STORE_UPSERT, NULL, &err))
			bench_die("fill", err.msg);
		for (int i = 0; i < k; i++)
			free(texts[i]);
	}
}

struct plain {
	mongoc_bulk_operation_t *bulk;
	long n;
};

static int
plain_add(void *arg, const char *doc, size_t len)
{
	struct plain *p = arg;
	bson_error_t e;
	bson_t *b = bson_new_from_json((const uint8_t *)doc, (ssize_t)len, &e);

	if (b == NULL)
		bench_die("plain insert", e.message);
	mongoc_bulk_operation_insert(p->bulk, b);
	bson_destroy(b);
	p->n++;
	return 0;
}

/* The plain bulk insert of the box's contexts into genbox_plain; seconds. */
static double
plain_insert(struct store *st, mongoc_client_t *cl)
{
	mongoc_collection_t *c = mongoc_client_get_collection(cl, "genbox_plain", "contexts");
	bson_t opts = BSON_INITIALIZER, reply;
	struct gb_err err = { 0, "" };
	struct plain p = { NULL, 0 };
	bson_error_t e;
	int64_t t0 = bench_mono_us();

	BSON_APPEND_BOOL(&opts, "ordered", false);
	p.bulk = mongoc_collection_create_bulk_operation_with_opts(c, &opts);
	if (store_each(st, COLL_CONTEXTS, NULL, 1, plain_add, &p, &err))
		bench_die("plain insert", err.msg);
	if (!mongoc_bulk_operation_execute(p.bulk, &reply, &e))
		bench_problem("plain insert", e.message);
	bson_destroy(&reply);
	mongoc_bulk_operation_destroy(p.bulk);
	bson_destroy(&opts);
	mongoc_collection_destroy(c);
	return bench_secs(t0);
}

/*
 * A plain find of genbox_plain.contexts; seconds. query: the pull's own
 * filter and sort (the organizations, the appliance, updated_at a Date, by
 * (updated_at, _id), batches of page), else every document.
 */
static double
plain_find(mongoc_client_t *cl, int query, int page, long *n)
{
	mongoc_collection_t *c = mongoc_client_get_collection(cl, "genbox_plain", "contexts");
	bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, in, gte, sort;
	const bson_t *d;
	bson_error_t e;
	int64_t t0 = bench_mono_us();
	mongoc_cursor_t *cur;

	if (query) {
		bson_append_document_begin(&filter, "organization_id", -1, &in);
		bson_append_array_begin(&in, "$in", -1, &gte);
		BSON_APPEND_UTF8(&gte, "0", "org_123");
		BSON_APPEND_UTF8(&gte, "1", "org_456");
		bson_append_array_end(&in, &gte);
		bson_append_document_end(&filter, &in);
		BSON_APPEND_UTF8(&filter, "metadata.appliance_id", "bench");
		bson_append_document_begin(&filter, "updated_at", -1, &gte);
		BSON_APPEND_DATE_TIME(&gte, "$gte", -5000);
		bson_append_document_end(&filter, &gte);
		bson_append_document_begin(&opts, "sort", -1, &sort);
		BSON_APPEND_INT32(&sort, "updated_at", 1);
		BSON_APPEND_INT32(&sort, "_id", 1);
		bson_append_document_end(&opts, &sort);
		BSON_APPEND_INT64(&opts, "batchSize", page > 0 ? page : SYNC_PAGE_DEFAULT);
	}
	cur = mongoc_collection_find_with_opts(c, &filter, &opts, NULL);
	*n = 0;
	while (mongoc_cursor_next(cur, &d))
		(*n)++;
	if (mongoc_cursor_error(cur, &e))
		bench_problem("plain find", e.message);
	mongoc_cursor_destroy(cur);
	mongoc_collection_destroy(c);
	bson_destroy(&filter);
	bson_destroy(&opts);
	return bench_secs(t0);
}

static int
free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* A private redis-server without persistence; a connection to it, or NULL. */
static redisContext *
redis_start(void)
{
	struct timeval tv = { 2, 0 };
	char portarg[16], dir[4096];
	int port = free_port();
	redisContext *rc = NULL;

	if (port < 0 || access("/usr/bin/redis-server", X_OK) != 0)
		return NULL;
	snprintf(portarg, sizeof(portarg), "%d", port);
	bench_tpath(".", dir, sizeof(dir));
	if ((redis_pid = fork()) == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		execl("/usr/bin/redis-server", "redis-server", "--port", portarg, "--bind",
		    "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 100 && rc == NULL; i++) {
		bench_sleep_ms(50);
		rc = redisConnectWithTimeout("127.0.0.1", port, tv);
		if (rc && rc->err) {
			redisFree(rc);
			rc = NULL;
		}
	}
	snprintf(redis_url, sizeof(redis_url), "redis://127.0.0.1:%d", port);
	return rc;
}

/* Commands the server has run, the INFO asking it not counted. */
static long long
redis_total(redisContext *rc)
{
	redisReply *r = redisCommand(rc, "INFO stats");
	const char *p;
	long long n = -1;

	if (r && r->type == REDIS_REPLY_STRING &&
	    (p = strstr(r->str, "total_commands_processed:")) != NULL)
		n = strtoll(p + 25, NULL, 10);
	freeReplyObject(r);
	return n;
}

/* Redis commands of one sync_redis_once round of the box at path. */
static long long
redis_round(redisContext *rc, const char *path)
{
	struct sync_config cfg;
	struct gb_err err = { 0, "" };
	struct sync *s;
	long long t0;

	memset(&cfg, 0, sizeof(cfg));
	cfg.db_path = path;
	cfg.mongo_uri = uri;
	cfg.redis_url = redis_url;
	cfg.worker_id = "bench";
	cfg.orgs[0] = "org_123";
	cfg.n_orgs = 1;
	if (sync_new(&s, &cfg, &err))
		bench_die("sync_new", err.msg);
	t0 = redis_total(rc);
	if (sync_redis_once(s, &err))
		bench_problem("redis round", err.msg);
	sync_free(s);
	return redis_total(rc) - t0 - 1;
}

/* The box's 4 workers beating (idle or busy), and ended contexts' durations. */
static void
redis_box(struct store *st, int busy, int ended)
{
	struct store_heartbeat hb[4];
	struct gb_err err = { 0, "" };
	int64_t now = gb_now_ms();
	char pipe[32];

	memset(hb, 0, sizeof(hb));
	for (int i = 0; i < 4; i++) {
		snprintf(hb[i].worker_id, sizeof(hb[i].worker_id), "bench-w%d", i);
		hb[i].last_seen_ms = now;
		snprintf(hb[i].status, sizeof(hb[i].status), "%s", busy ? "busy" : "idle");
		hb[i].processing_count = busy ? 4 : 0;
		snprintf(hb[i].host, sizeof(hb[i].host), "bench");
	}
	if (store_heartbeat_put(st, hb, 4, &err))
		bench_die("heartbeats", err.msg);
	for (int i = 0; i < ended; i++) {
		snprintf(pipe, sizeof(pipe), "pipe_%d", i % 5);
		if (store_pipeline_stat_add(st, pipe, now - i, 1000 + i, &err))
			bench_die("pipeline stats", err.msg);
	}
}

/* Redis commands a minute of an idle and a busy box. */
static void
redis_load(void)
{
	redisContext *rc = redis_start();
	struct store *st;
	char path[4096];
	long long idle, busy;

	if (rc == NULL) {
		bench_problem("redis", "no redis-server to measure with (apt-get install "
		    "redis-server)");
		return;
	}
	st = box("r.db", path, sizeof(path));
	redis_box(st, 0, 0);
	idle = redis_round(rc, path);
	/* a minute's 1000 ended contexts come in three rounds */
	redis_box(st, 1, 1000 / REDIS_ROUNDS_PER_MIN);
	busy = redis_round(rc, path);
	printf("redis commands per minute: idle box %lld, busy box %lld (4 workers; busy: 1000 "
	    "contexts ended a minute in 5 pipelines; +1 per cluster lock held)\n",
	    idle * REDIS_ROUNDS_PER_MIN, busy * REDIS_ROUNDS_PER_MIN);
	store_close(st);
	redisFree(rc);
}

static struct sync *
sync_for(const char *path, int page)
{
	struct sync_config cfg;
	struct gb_err err = { 0, "" };
	struct sync *s;

	memset(&cfg, 0, sizeof(cfg));
	cfg.db_path = path;
	cfg.mongo_uri = uri;
	cfg.mongo_db = "genbox_sync";
	cfg.appliance_id = "bench";
	cfg.orgs[0] = "org_123";
	cfg.orgs[1] = "org_456";
	cfg.n_orgs = 2;
	cfg.page_size = page;
	cfg.timeout_ms = 600000;
	if (sync_new(&s, &cfg, &err))
		bench_die("sync_new", err.msg);
	return s;
}

static void
report(const char *what, long n, double secs, double plain, const struct sync_counters *c0,
    const struct sync_counters *c1)
{
	int64_t trips = c1->mongo_commands - c0->mongo_commands;
	int64_t out = c1->mongo_bytes_out - c0->mongo_bytes_out;
	int64_t in = c1->mongo_bytes_in - c0->mongo_bytes_in;

	printf("%-5s genbox %8.2f s %9.0f docs/s | plain %8.2f s %9.0f docs/s | "
	    "plain/genbox %.2f (aim >= 0.5)\n", what, secs, n / secs, plain, n / plain,
	    plain / secs);
	printf("%-5s round trips %" PRId64 " (%.4f per context), bytes out %.1f / in %.1f per "
	    "context\n", what, trips, (double)trips / (double)n, (double)out / (double)n,
	    (double)in / (double)n);
}

int
main(int argc, char **argv)
{
	long n = 100000, got = 0;
	int page = 0;	/* sync's own default */
	char pa[4096], pb[4096];
	struct gb_err err = { 0, "" };
	struct sync_counters c0, c1;
	struct store *a, *b = NULL;
	struct sync *s;
	mongoc_client_t *cl;
	int64_t t0, pushed = 0, pulled = 0;
	double push_s, pull_s, ins_s, find_s, query_s;

	bench_init("bench/sync");
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--contexts"))
			n = bench_number("--contexts", argv[i + 1], 1, 10000000);
		else if (!strcmp(argv[i], "--page"))
			page = (int)bench_number("--page", argv[i + 1], 1, 100000);
		else
			bench_die("usage", "sync [--contexts N] [--page P]");
	}
	bench_tmpdir_make("genbox-sync");
	peer_start();
	mongoc_init();
	cl = mongoc_client_new(uri);
	a = box("a.db", pa, sizeof(pa));
	fill(a, n);
	printf("bench/sync: %ld contexts of ~1 KB, MongoDB peer mongomock at %s\n", n, uri);

	s = sync_for(pa, page);
	sync_counters(s, &c0);
	t0 = bench_mono_us();
	if (sync_push_all(s, &pushed, &err) || pushed != n)
		bench_problem("push", err.msg[0] ? err.msg : "not every context was pushed");
	push_s = bench_secs(t0);
	sync_counters(s, &c1);
	ins_s = plain_insert(a, cl);
	report("push", n, push_s, ins_s, &c0, &c1);
	sync_free(s);

	/*
	 * The pull and both finds take turns, PULL_ROUNDS times, and the best
	 * of each counts: the peer and the machine's load move between runs.
	 */
	pull_s = find_s = query_s = 0;
	for (int r = 0; r < PULL_ROUNDS; r++) {
		double t;

		if (b != NULL)
			store_close(b);
		b = box("b.db", pb, sizeof(pb));
		s = sync_for(pb, page);
		sync_counters(s, &c0);
		t0 = bench_mono_us();
		pulled = 0;
		if (sync_pull_all(s, &pulled, &err) || pulled != n)
			bench_problem("pull", err.msg[0] ? err.msg :
			    "not every context was pulled");
		t = bench_secs(t0);
		pull_s = r == 0 || t < pull_s ? t : pull_s;
		sync_counters(s, &c1);
		sync_free(s);
		t = plain_find(cl, 0, page, &got);
		find_s = r == 0 || t < find_s ? t : find_s;
		if (got != n)
			bench_problem("plain find", "not every context was found");
		t = plain_find(cl, 1, page, &got);
		query_s = r == 0 || t < query_s ? t : query_s;
		if (got != n)
			bench_problem("plain find", "the pull's query did not find every context");
	}
	report("pull", n, pull_s, find_s, &c0, &c1);
	printf("pull  beside a plain find with the pull's own filter and sort: plain %.2f s, "
	    "plain/genbox %.2f (best of %d turns each)\n", query_s, query_s / pull_s, PULL_ROUNDS);
	redis_load();
	store_close(a);
	store_close(b);
	mongoc_client_destroy(cl);
	mongoc_cleanup();
	return bench_problems() ? 1 : 0;
}
