/*
 * t406-sync-cli - `genbox sync` and `genbox serve` with a cluster, as an
 * operator sees them: usage errors (exit 1) and no cluster (status "off",
 * push exit 1 naming the setting); a password in the config file refused;
 * against a real Redis and the MongoDB peer (GENBOX_MONGO_PEER picks it):
 * push, pull, status --json and reset contexts end to end on the demo data,
 * a wrong MongoDB password (exit 1, a clear message, never the password);
 * serve with MongoDB unreachable from the start (it serves, works alone and
 * says so); with a wrong password (state auth, /healthz degraded); serve
 * with [cluster]: /healthz and /metrics show sync, a context created
 * through the API arrives in MongoDB within seconds, MongoDB frozen -> the
 * outbox depth shows in /metrics and /healthz (degraded once its oldest
 * row is 16 min old), thawed -> it drains; /metrics has the checkpoint,
 * the pull lag and the last error per collection. The cluster removed
 * again: status, /healthz and the dashboard warn that the outbox still
 * records with nothing to drain it; `sync disable --yes` ends that.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mongoc/mongoc.h>
#include <sqlite3.h>

#include "../storage/outbox.h"
#include "webtest.h"

#define APPLIANCE "box-t406"
#define MUSER "genbox"
#define MPASS "s3cret-t406"

static struct box b;
static char db_arg[4200];
static char uri[512];		/* with credentials when the peer has them */
static char redis_url[128];
static int auth;		/* the peer checks credentials */
static mongoc_client_t *mc;

/* ---- the cluster as the test sees it (libmongoc, not genbox) ---- */

static bson_t *
bson_json(const char *json)
{
	bson_error_t e;
	bson_t *d = bson_new_from_json((const uint8_t *)json, -1, &e);

	if (d == NULL)
		tap_bail("bad JSON in the test: %s", e.message);
	return d;
}

/* Documents of coll matching filter (JSON) in the cluster, -1 on error. */
static int64_t
mongo_count(const char *coll, const char *filter)
{
	mongoc_collection_t *c = mongoc_client_get_collection(mc, "genbox", coll);
	bson_t *f = bson_json(filter);
	bson_error_t e;
	int64_t n = mongoc_collection_count_documents(c, f, NULL, NULL, NULL, &e);

	if (n < 0)
		tap_diag("count %s: %s", coll, e.message);
	bson_destroy(f);
	mongoc_collection_destroy(c);
	return n;
}

/* Insert doc into coll of the cluster, or (del) delete what matches it as a filter. */
static void
mongo_write(const char *coll, const char *json, int del)
{
	mongoc_collection_t *c = mongoc_client_get_collection(mc, "genbox", coll);
	bson_t *d = bson_json(json);
	bson_error_t e;

	if (!(del ? mongoc_collection_delete_many(c, d, NULL, NULL, &e) :
	    mongoc_collection_insert_one(c, d, NULL, NULL, &e)))
		tap_bail("%s %s: %s", del ? "delete from" : "insert into", coll, e.message);
	bson_destroy(d);
	mongoc_collection_destroy(c);
}

static void
mongo_insert(const char *coll, const char *doc)
{
	mongo_write(coll, doc, 0);
}

static int
mongo_wait(const char *coll, const char *filter, int64_t want, int ms)
{
	for (int64_t t0 = gb_mono_ms(); gb_mono_ms() - t0 < ms; usleep(100 * 1000))
		if (mongo_count(coll, filter) == want)
			return 1;
	return 0;
}

/* sql on the box's database through a connection of its own */
static void
db_exec(const char *sql)
{
	char *msg = NULL;
	sqlite3 *db = NULL;

	if (sqlite3_open(b.path, &db) != SQLITE_OK ||
	    sqlite3_busy_timeout(db, 5000) != SQLITE_OK ||
	    sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		tap_bail("%s: %s", sql, msg ? msg : sqlite3_errmsg(db));
	sqlite3_close(db);
}

/* The mongomock peer's hello reports a clock offset_ms away from the true one. */
static void
peer_clock(int offset_ms)
{
	bson_t cmd = BSON_INITIALIZER;
	bson_error_t e;

	BSON_APPEND_INT32(&cmd, "genboxPeerClock", 1);
	BSON_APPEND_INT32(&cmd, "offsetMs", offset_ms);
	if (!mongoc_client_command_simple(mc, "admin", &cmd, NULL, NULL, &e))
		tap_bail("genboxPeerClock: %s", e.message);
	bson_destroy(&cmd);
}

/* a user the pull cannot see: no updated_at */
#define UNDATED_USER "{\"_id\": \"user_undated\", \"organization_id\": \"org_123\", " \
	"\"email\": \"undated@example.com\"}"
#define UNDATED_FILTER "{\"_id\": \"user_undated\"}"

/* ---- genbox with the cluster in its environment ---- */

static void
cluster_env(const char *mongo)
{
	setenv("GENBOX_CLUSTER_MONGO_URI", mongo, 1);
	setenv("GENBOX_CLUSTER_REDIS_URL", redis_url, 1);
	setenv("GENBOX_CLUSTER_APPLIANCE_ID", APPLIANCE, 1);
	setenv("GENBOX_CLUSTER_TIMEOUT_MS", "1500", 1);
	setenv("GENBOX_CLUSTER_BACKOFF_MAX_MS", "1000", 1);
	setenv("GENBOX_CLUSTER_PUSH_INTERVAL_MS", "200", 1);
	setenv("GENBOX_CLUSTER_PULL_INTERVAL_MS", "500", 1);
}

static void
cluster_env_clear(void)
{
	unsetenv("GENBOX_CLUSTER_MONGO_URI");
	unsetenv("GENBOX_CLUSTER_REDIS_URL");
}

/* The JSON field at path of `genbox sync status --json`. */
static const char *
status_json(const char *path)
{
	static char out[1024];
	struct run r;
	cJSON *j;

	util_genbox_run(&r, NULL, db_arg, "sync", "status", "--json", NULL);
	j = cJSON_Parse(r.out);
	snprintf(out, sizeof(out), "%s", j ? jpath(j, path) : "(not JSON)");
	if (r.status)
		tap_diag("sync status: exit %d: %s", r.status, r.err);
	cJSON_Delete(j);
	run_free(&r);
	return out;
}

/* ---- no cluster ---- */

static void
test_usage(void)
{
	static const char *const bad[][4] = {
		{ "sync", NULL }, { "sync", "bogus", NULL }, { "sync", "push", "now", NULL },
		{ "sync", "status", "--yaml", NULL }, { "sync", "reset", NULL },
		{ "sync", "reset", "contexts", "users" },
	};
	struct run r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		util_genbox_run(&r, NULL, db_arg, bad[i][0], bad[i][1], bad[i][2], bad[i][3], NULL);
		is_int(r.status, 1, "genbox sync %s %s: usage error, exit 1", bad[i][1] ? bad[i][1] :
		    "", bad[i][2] ? bad[i][2] : "");
		like(r.err, "Try 'genbox sync --help'", "and it says where help is");
		run_free(&r);
	}
	util_genbox_run(&r, NULL, db_arg, "sync", "reset", "contxts", NULL);
	is_int(r.status, 1, "reset of an unknown collection: exit 1");
	like(r.err, "unknown collection 'contxts' (did you mean 'contexts'?)", "with the nearest name");
	like(r.err, "contexts, templates, components, pipelines, batches, users, organizations",
	    "and the valid ones");
	run_free(&r);
	util_genbox_run(&r, NULL, db_arg, "sync", "--help", NULL);
	is_int(r.status, 0, "sync --help: exit 0");
	like(r.out, "reset COLLECTION", "and the usage");
	run_free(&r);
}

static void
test_no_cluster(void)
{
	char conf[4200];
	struct run r;

	util_genbox_run(&r, NULL, db_arg, "sync", "status", NULL);
	is_int(r.status, 0, "no cluster: status exit 0");
	like(r.out, "sync: off", "status says sync is off");
	like(r.out, "contexts", "and lists the collections");
	like(r.out, "\nrejected documents: 0\n", "and the rejected documents");
	ok(r.out[0] && r.out[strlen(r.out) - 1] == '\n', "the output ends with a newline");
	ok(strstr(r.out, " \n") == NULL, "no line ends with a blank");
	ok(strstr(r.out, "warning") == NULL, "no warning: the outbox records nothing");
	run_free(&r);
	is_str(status_json("state"), "off", "status --json: state off");
	for (int i = 0; i < 3; i++) {
		const char *what = (const char *[]){ "push", "pull", "once" }[i];

		util_genbox_run(&r, NULL, db_arg, "sync", what, NULL);
		is_int(r.status, 1, "no cluster: sync %s exit 1", what);
		like(r.err, "genbox: sync: no cluster configured (set [cluster] mongo_uri)",
		    "sync %s says no cluster is configured", what);
		run_free(&r);
	}
	snprintf(conf, sizeof(conf), "%s/pw.conf", util_tmpdir());
	{
		const char *text = "[cluster]\n\nmongo_uri = mongodb://u:hunter2@127.0.0.1:1/\n";

		util_write_file(conf, text, strlen(text));
	}
	util_genbox_run(&r, NULL, "-c", conf, db_arg, "sync", "status", NULL);
	is_int(r.status, 1, "a password in the config file: exit 1");
	like(r.err, "pw.conf:3: 'cluster.mongo_uri' holds a password", "naming file, line and key");
	like(r.err, "GENBOX_CLUSTER_MONGO_URI", "and where it belongs");
	ok(strstr(r.err, "hunter2") == NULL, "never printing it");
	run_free(&r);
	util_write_file(conf, "[cluster]\npage_size = 0\n", strlen("[cluster]\npage_size = 0\n"));
	util_genbox_run(&r, NULL, "-c", conf, db_arg, "sync", "status", NULL);
	is_int(r.status, 1, "page_size 0: exit 1");
	like(r.err, "pw.conf:2: bad value '0' for 'cluster.page_size'", "naming file, line and key");
	run_free(&r);
	util_write_file(conf, "[cluster]\n\nlookback_ms = -5\n", strlen("[cluster]\n\nlookback_ms = -5\n"));
	util_genbox_run(&r, NULL, "-c", conf, db_arg, "sync", "status", NULL);
	is_int(r.status, 1, "lookback_ms -5: exit 1");
	like(r.err, "pw.conf:3: bad value '-5' for 'cluster.lookback_ms'", "naming file, line and key");
	run_free(&r);
	util_write_file(conf, "[cluster]\nlookback_ms = 0\n", strlen("[cluster]\nlookback_ms = 0\n"));
	util_genbox_run(&r, NULL, "-c", conf, db_arg, "sync", "status", NULL);
	is_int(r.status, 0, "lookback_ms 0 (none) is taken");
	run_free(&r);
}

/* ---- the CLI against the cluster ---- */

static void
test_push_pull(void)
{
	struct run r;
	int64_t n;

	cluster_env(uri);
	util_genbox_run(&r, NULL, db_arg, "sync", "push", NULL);
	is_int(r.status, 0, "sync push: exit 0");
	ok(sscanf(r.out, "pushed %lld document", (long long *)&n) == 1 && n >= 2,
	    "it says how many it pushed");
	run_free(&r);
	is_int(mongo_count("contexts", "{\"_id\": \"ctx_123456\", \"organization_id\": \"org_123\"}"), 1,
	    "the demo context is in MongoDB");
	is_int(mongo_count("batches", "{}"), 1, "and the demo batch");
	is_str(status_json("collections.contexts.outbox_depth"), "0", "status: the outbox is empty");
	ok(atoi(status_json("collections.contexts.pushed")) >= 1, "status: contexts pushed");
	ok(strcmp(status_json("collections.contexts.last_push"), "null") != 0, "status: a last push time");
	is_str(status_json("state"), "on", "status --json: state on");
	is_str(status_json("cluster.appliance_id"), APPLIANCE, "status: the appliance id");
	is_str(status_json("cluster.organizations.0"), "org_123", "status: the box's own organization");
	if (auth) {
		const char *m = status_json("cluster.mongo_uri");

		ok(strstr(m, "****") && !strstr(m, MPASS), "status shows the URI without its password (%s)", m);
	}
	mongo_insert("contexts", "{\"_id\": \"ctx_from_cluster\", \"type\": \"article\", \"status\": "
	    "\"completed\", \"organization_id\": \"org_123\", \"user_id\": \"user_456\", \"metadata\": "
	    "{\"appliance_id\": \"" APPLIANCE "\"}, \"data\": {\"title\": \"From the cluster\"}, "
	    "\"retry_count\": 0, \"created_at\": {\"$date\": \"2030-01-01T00:00:00Z\"}, "
	    "\"updated_at\": {\"$date\": \"2030-01-01T00:00:00Z\"}}");
	mongo_insert("contexts", "{\"_id\": \"ctx_other_box\", \"type\": \"article\", \"status\": "
	    "\"pending\", \"organization_id\": \"org_123\", "
	    "\"metadata\": {\"appliance_id\": \"box-else\"}, "
	    "\"data\": {\"title\": \"Not ours\"}, \"created_at\": {\"$date\": \"2030-01-01T00:00:00Z\"}, "
	    "\"updated_at\": {\"$date\": \"2030-01-01T00:00:00Z\"}}");
	/* a user with no updated_at: the pull cannot see it, the count after it can */
	mongo_insert("users", UNDATED_USER);
	util_genbox_run(&r, NULL, db_arg, "sync", "pull", NULL);
	is_int(r.status, 0, "sync pull: exit 0");
	like(r.out, "pulled ", "it says how many it pulled");
	like(r.err, "event=pull_undated coll=users count=1", "... and warns of the undated user");
	run_free(&r);
	is_str(status_json("collections.users.undated"), "1",
	    "status: the user without updated_at is counted after the pull");
	mongo_write("users", UNDATED_FILTER, 1);
	is_str(box_ctx(&b, "ctx_from_cluster", "data.title"), "From the cluster",
	    "a context meant for this box is pulled");
	is_str(box_ctx(&b, "ctx_other_box", "_id"), "(no such context)",
	    "one meant for another box is not");
	is_str(status_json("collections.contexts.checkpoint.updated_at"), "2030-01-01T00:00:00.000Z",
	    "status: the checkpoint's updated_at");
	is_str(status_json("collections.contexts.checkpoint._id"), "ctx_from_cluster",
	    "status: the checkpoint's _id");
	util_genbox_run(&r, NULL, db_arg, "sync", "reset", "contexts", NULL);
	is_int(r.status, 0, "sync reset contexts: exit 0");
	like(r.out, "reset the pull checkpoint of contexts", "it says what it reset");
	run_free(&r);
	is_str(status_json("collections.contexts.checkpoint.updated_at"), "null",
	    "status: the checkpoint is back at the start");
	util_genbox_run(&r, NULL, db_arg, "sync", "once", NULL);
	is_int(r.status, 0, "sync once: exit 0");
	like(r.out, "pushed ", "once pushes");
	like(r.out, "pulled ", "and pulls");
	run_free(&r);
	is_str(status_json("collections.contexts.checkpoint._id"), "ctx_from_cluster",
	    "after the reset the pull read contexts again to the same checkpoint");
	is_str(status_json("collections.users.undated"), "0", "the user deleted: counted 0");
	util_genbox_run(&r, NULL, db_arg, "sync", "status", NULL);
	is_int(r.status, 0, "sync status (text): exit 0");
	like(r.out, "sync: on", "it says sync is on");
	like(r.out, "2030-01-01T00:00:00.000Z ctx_from_cluster", "with the checkpoint of contexts");
	like(r.out, "\nclock: ", "and the clock skew (or that it is not measured yet)");
	run_free(&r);
	db_exec("INSERT INTO sync_meta (key, value) VALUES ('clock_skew_ms', '5000') "
	    "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
	util_genbox_run(&r, NULL, db_arg, "sync", "status", NULL);
	like(r.out, "clock: 5000 ms behind MongoDB's at the last connect\nwarning: newer-wins "
	    "compares this box's dates with the cluster's", "a skew of 5 s: status warns");
	run_free(&r);
	is_str(status_json("clock_skew_ms"), "5000", "status --json: clock_skew_ms");
	db_exec("DELETE FROM sync_meta WHERE key = 'clock_skew_ms'");
	util_genbox_run(&r, NULL, db_arg, "sync", "status", NULL);
	like(r.out, "clock: not measured yet", "never measured: said so");
	run_free(&r);
	is_str(status_json("clock_skew_ms"), "null", "status --json: clock_skew_ms null");
}

static void
test_bad_password(void)
{
	char bad[600], *at;
	struct run r;
	int64_t t0;

	if (!auth) {
		ok(1, "# SKIP this MongoDB peer checks no credentials");
		return;
	}
	snprintf(bad, sizeof(bad), "%s", uri);
	if ((at = strstr(bad, MPASS)) == NULL)
		tap_bail("no password in %s", uri);
	memcpy(at, "WRONGpw-t40", strlen("WRONGpw-t40"));
	cluster_env(bad);
	for (int i = 0; i < 2; i++) {
		const char *what = i ? "once" : "pull";

		t0 = gb_mono_ms();
		util_genbox_run(&r, NULL, db_arg, "sync", what, NULL);
		t0 = gb_mono_ms() - t0;
		is_int(r.status, 1, "a wrong MongoDB password: sync %s exit 1", what);
		like(r.err, "genbox: sync: the cluster refused the credentials: ",
		    "sync %s: a clear message", what);
		like(r.err, "genbox@127.0.0.1", "naming the user and the server");
		ok(strstr(r.err, "WRONGpw") == NULL && strstr(r.out, "WRONGpw") == NULL,
		    "never the password");
		ok(t0 < 15000, "at once, no retry storm (%lld ms)", (long long)t0);
		run_free(&r);
	}
	cluster_env(uri);
}

/* ---- serve with a cluster ---- */

struct daemon {
	pid_t pid;
	int port;
	char log[4200];
};

static void
daemon_start(struct daemon *d)
{
	char listen[64];
	char *argv[] = { (char *)util_genbox(), db_arg, "serve", "--listen", listen, "--workers", "2",
		NULL };

	d->port = peer_free_port();
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", d->port);
	snprintf(d->log, sizeof(d->log), "%s/serve.log", util_tmpdir());
	d->pid = util_spawn(argv, d->log, 0);
	wt_set_port(d->port);
}

static int
daemon_stop(struct daemon *d)
{
	int st;

	kill(d->pid, SIGTERM);
	for (int64_t t0 = gb_mono_ms(); gb_mono_ms() - t0 < 20000; usleep(20 * 1000))
		if (waitpid(d->pid, &st, WNOHANG) == d->pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	kill(d->pid, SIGKILL);
	waitpid(d->pid, &st, 0);
	return -1;
}

/* Wait until the /healthz field at path equals want (ms at most). */
static int
health_wait(const char *path, const char *want, int ms)
{
	for (int64_t t0 = gb_mono_ms(); gb_mono_ms() - t0 < ms; usleep(100 * 1000)) {
		struct http_resp r = wt_req("GET", "/healthz", NULL, NULL);
		int same = r.status && strcmp(body_path(&r, path), want) == 0;

		http_resp_free(&r);
		if (same)
			return 1;
	}
	return 0;
}

/* The value of the metric line starting with prefix ("name{labels}"), or -1. */
static double
metric(const char *prefix)
{
	struct http_resp r = wt_req("GET", "/metrics", NULL, NULL);
	double v = http_metric_value(r.body, prefix);

	http_resp_free(&r);
	return v;
}

static int
metric_wait(const char *prefix, double want, int ms)
{
	for (int64_t t0 = gb_mono_ms(); gb_mono_ms() - t0 < ms; usleep(100 * 1000))
		if (metric(prefix) == want)
			return 1;
	return 0;
}

/* Wait until the /healthz number at path is at least min (ms at most). */
static int
health_num(const char *path, double min, int ms)
{
	for (int64_t t0 = gb_mono_ms(); gb_mono_ms() - t0 < ms; usleep(100 * 1000)) {
		struct http_resp r = wt_req("GET", "/healthz", NULL, NULL);
		double v = r.status ? strtod(body_path(&r, path), NULL) : -1;

		http_resp_free(&r);
		if (v >= min)
			return 1;
	}
	return 0;
}

static char token[APIKEY_TOKEN_MAX];

static void
new_key(void)
{
	struct run r;
	char *nl;

	util_genbox_run(&r, NULL, db_arg, "apikey", "create", "--user", "user_456", "--perm",
	    "read,write", NULL);
	if (r.status)
		tap_bail("apikey create: %s", r.err);
	snprintf(token, sizeof(token), "%s", r.out);
	if ((nl = strchr(token, '\n')))
		*nl = '\0';
	run_free(&r);
}

static int
new_context(const char *id)
{
	struct http_resp r = wt_req("POST", "/api/v1/contexts", token, "{\"_id\": \"%s\", \"type\": "
	    "\"article\", \"data\": {\"title\": \"Through the API %s\"}}", id, id);
	int st = (int)r.status;

	if (st != 201)
		tap_diag("POST /contexts: %d %s", st, r.body);
	http_resp_free(&r);
	return st;
}

/* MongoDB unreachable from the start: the box serves and works alone, and says so. */
static void
test_serve_offline(void)
{
	char dead[128];
	struct http_resp r;
	struct daemon d;

	snprintf(dead, sizeof(dead), "mongodb://127.0.0.1:%d/", peer_free_port());
	cluster_env(dead);
	daemon_start(&d);
	ok(health_wait("sync.state", "offline", 15000), "MongoDB unreachable at start: serve runs, "
	    "/healthz sync.state offline");
	r = wt_req("GET", "/healthz", NULL, NULL);
	is_int(r.status, 200, "/healthz: 200 (the box works alone)");
	like(body_path(&r, "sync.warning"), "cannot be reached", "/healthz: a warning says why");
	like(body_path(&r, "sync.last_error"), "127.0.0.1", "/healthz: the last error names the server");
	http_resp_free(&r);
	ok(metric_wait("genbox_sync_up", 0, 5000), "/metrics: genbox_sync_up 0");
	is_int(new_context("ctx_alone"), 201, "a context created through the API");
	ok(box_wait_status(&b, "ctx_alone", "completed", 20000), "is processed locally meanwhile");
	is_int(daemon_stop(&d), 0, "SIGTERM while the cluster is away: exit 0");
	cluster_env(uri);
}

/* Bad credentials: state auth, /healthz degraded (still a 200) with the reason. */
static void
test_serve_auth(void)
{
	char bad[600], *at;
	struct http_resp r;
	struct daemon d;

	if (!auth) {
		ok(1, "# SKIP this MongoDB peer checks no credentials");
		return;
	}
	snprintf(bad, sizeof(bad), "%s", uri);
	if ((at = strstr(bad, MPASS)) != NULL)
		memcpy(at, "WRONGpw-t40", strlen("WRONGpw-t40"));
	cluster_env(bad);
	daemon_start(&d);
	ok(health_wait("sync.state", "auth", 15000), "serve with a wrong password: sync.state auth");
	r = wt_req("GET", "/healthz", NULL, NULL);
	is_int(r.status, 200, "/healthz: still 200");
	is_str(body_path(&r, "status"), "degraded", "/healthz: degraded");
	like(body_path(&r, "reasons"), "sync: the cluster refused the credentials",
	    "/healthz: the reason says so");
	ok(strstr(r.body, "WRONGpw") == NULL, "/healthz: never the password");
	http_resp_free(&r);
	is_int(daemon_stop(&d), 0, "SIGTERM: exit 0");
	{
		char *log = util_read_file(d.log, NULL);

		ok(log && strstr(log, "WRONGpw") == NULL, "the log never holds the password");
		free(log);
	}
	cluster_env(uri);
}

/* The outbox's oldest row made 16 minutes old, in the database itself. */
static void
outbox_age(int minutes)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "UPDATE outbox SET queued_ms = queued_ms - %d", minutes * 60000);
	db_exec(sql);
}

/* MongoDB frozen: sync is down, and its last error shows per collection. */
static void
test_frozen_gauges(void)
{
	ok(metric_wait("genbox_sync_up", 0, 5000), "/metrics: genbox_sync_up 0");
	ok(metric_wait("genbox_sync_error{collection=\"contexts\"}", 1, 10000),
	    "/metrics: genbox_sync_error of contexts 1");
	ok(metric("genbox_sync_last_error_timestamp_seconds{collection=\"contexts\"}") >
	    (double)gb_now_ms() / 1000 - 60, "/metrics: and the time of its last error");
}

/* Sync working again: the gauges of the checkpoint, the pull lag and the last error. */
static void
test_serve_gauges(void)
{
	struct http_resp r;
	double lag;

	ok(metric_wait("genbox_sync_error{collection=\"contexts\"}", 0, 10000),
	    "/metrics: genbox_sync_error of contexts 0 again");
	is_int((int64_t)metric("genbox_sync_last_error_timestamp_seconds{collection=\"contexts\"}"),
	    0, "/metrics: genbox_sync_last_error_timestamp_seconds 0: no error since");
	is_int((int64_t)metric("genbox_sync_checkpoint_timestamp_seconds{collection="
	    "\"contexts\"}"), 1893456000, "/metrics: the checkpoint of contexts "
	    "(2030-01-01T00:00:00Z, ctx_from_cluster's updated_at)");
	lag = metric("genbox_sync_pull_lag_seconds{collection=\"contexts\"}");
	ok(lag >= 0 && lag < 10, "/metrics: genbox_sync_pull_lag_seconds of contexts (%g)", lag);
	r = wt_req("GET", "/metrics", NULL, NULL);
	like(r.body, "# TYPE genbox_sync_pull_lag_seconds gauge", "/metrics: its TYPE line");
	like(r.body, "# HELP genbox_sync_error ", "/metrics: genbox_sync_error's HELP line");
	http_resp_free(&r);
}

static void
test_serve(void)
{
	struct http_resp r;
	struct daemon d;
	double depth = -1;
	int64_t t0;
	int got;
	char fast_uri[sizeof(uri) + 64];

	/* the pool's monitor says hello every half second: a skew shows soon */
	snprintf(fast_uri, sizeof(fast_uri), "%s%sheartbeatFrequencyMS=500", uri,
	    strchr(uri, '?') ? "&" : "?");
	cluster_env(fast_uri);
	daemon_start(&d);
	ok(health_wait("sync.state", "ok", 15000), "serve with [cluster]: /healthz sync.state ok");
	r = wt_req("GET", "/healthz", NULL, NULL);
	is_int(r.status, 200, "/healthz: 200");
	is_str(body_path(&r, "status"), "ok", "/healthz: ok");
	http_resp_free(&r);
	ok(health_wait("sync.outbox_depth", "0", 10000), "/healthz: sync.outbox_depth drains to 0");
	ok(mongo_wait("contexts", "{\"_id\": \"ctx_alone\", \"status\": \"completed\"}", 1, 5000),
	    "the context made while the cluster was away is in MongoDB, completed");
	ok(health_wait("sync.last_error", "null", 5000),
	    "/healthz: the error of the bad credentials before clears once a round succeeds");
	{
		struct http_resp h = wt_req("GET", "/healthz", NULL, NULL);
		const char *skew = body_path(&h, "sync.clock_skew_ms");

		/* jongodb's hello has no localTime: nothing to measure the skew with */
		if (auth)
			ok(strcmp(skew, "null") != 0 && llabs(atoll(skew)) < 2000,
			    "/healthz: sync.clock_skew_ms measured against the peer (%s)", skew);
		else
			ok(strcmp(skew, "null") == 0 || llabs(atoll(skew)) < 2000,
			    "/healthz: sync.clock_skew_ms (%s)", skew);
		is_str(body_path(&h, "sync.clock_warning"), "(none)", "/healthz: no clock warning");
		http_resp_free(&h);
	}
	if (auth) {	/* jongodb's hello has no localTime */
		struct http_resp h;

		peer_clock(5000);
		ok(health_num("sync.clock_skew_ms", 4000, 15000),
		    "MongoDB's clock 5 s ahead: serve records the skew without a restart");
		h = wt_req("GET", "/healthz", NULL, NULL);
		like(body_path(&h, "sync.clock_warning"), "s behind MongoDB's",
		    "/healthz: a clock warning");
		is_str(body_path(&h, "status"), "degraded", "/healthz: degraded");
		http_resp_free(&h);
		peer_clock(0);
		ok(health_wait("sync.clock_warning", "(none)", 15000),
		    "the clocks agree again: the warning goes, without a restart");
	}
	ok(metric_wait("genbox_sync_up", 1, 5000), "/metrics: genbox_sync_up 1");
	ok(metric("genbox_sync_pushed_total{collection=\"contexts\"}") >= 1,
	    "/metrics: genbox_sync_pushed_total of contexts");
	ok(metric("genbox_sync_last_success_timestamp_seconds{collection=\"contexts\","
	    "direction=\"pull\"}") > 1e9, "/metrics: the last pull's time");
	is_int(new_context("ctx_api_1"), 201, "a context created through the API");
	t0 = gb_mono_ms();
	got = mongo_wait("contexts", "{\"_id\": \"ctx_api_1\"}", 1, 5000);
	ok(got, "arrives in MongoDB within 5 s (%lld ms)", (long long)(gb_mono_ms() - t0));
	ok(mongo_wait("contexts", "{\"_id\": \"ctx_api_1\", \"status\": \"completed\"}", 1, 15000),
	    "and so does its completion");
	r = wt_req("GET", "/api/v1/dashboard", token, NULL);
	is_str(body_path(&r, "sync.state"), "ok", "dashboard: sync.state ok");
	is_str(body_path(&r, "sync.collections.0.collection"), "contexts",
	    "dashboard: sync per collection");
	http_resp_free(&r);

	peer_mongo_pause();
	is_int(new_context("ctx_api_2"), 201, "MongoDB frozen: a context is still created");
	ok(box_wait_status(&b, "ctx_api_2", "completed", 20000), "and processed");
	for (t0 = gb_mono_ms(); gb_mono_ms() - t0 < 10000 && depth < 1; usleep(100 * 1000))
		depth = metric("genbox_sync_outbox_depth{collection=\"contexts\"}");
	ok(depth >= 1, "/metrics shows the outbox depth of contexts (%g)", depth);
	ok(health_num("sync.outbox_depth", 1, 5000), "/healthz shows it too");
	ok(health_wait("sync.state", "offline", 10000), "and the state offline");
	r = wt_req("GET", "/healthz", NULL, NULL);
	is_int(r.status, 200, "/healthz stays 200 while the cluster is away");
	ok(strcmp(body_path(&r, "sync.outbox_oldest_s"), "null") != 0, "with the oldest row's age");
	ok(strcmp(body_path(&r, "sync.last_error"), "null") != 0, "and the last error (%s)",
	    body_path(&r, "sync.last_error"));
	http_resp_free(&r);
	test_frozen_gauges();
	outbox_age(16);
	r = wt_req("GET", "/healthz", NULL, NULL);
	is_int(r.status, 200, "an outbox row 16 min old: /healthz still 200");
	is_str(body_path(&r, "status"), "degraded", "/healthz: degraded");
	like(body_path(&r, "reasons"), "sync: the oldest change waiting in the outbox is 16 min old",
	    "/healthz: the reason gives its age");
	http_resp_free(&r);
	ok(metric("genbox_sync_outbox_oldest_seconds{collection=\"contexts\"}") >= 960,
	    "/metrics: genbox_sync_outbox_oldest_seconds of contexts");
	peer_mongo_resume();
	t0 = gb_mono_ms();
	got = health_wait("sync.outbox_depth", "0", 20000);
	ok(got, "thawed: the outbox drains (%lld ms)", (long long)(gb_mono_ms() - t0));
	ok(mongo_wait("contexts", "{\"_id\": \"ctx_api_2\", \"status\": \"completed\"}", 1, 10000),
	    "the context made meanwhile is in MongoDB, completed");
	ok(health_wait("sync.state", "ok", 10000), "the state is ok again");
	test_serve_gauges();
	is_int(daemon_stop(&d), 0, "SIGTERM: exit 0");
	{
		char *log = util_read_file(d.log, NULL);

		like(log ? log : "", "event=sync_started", "the log says sync started");
		ok(log && (!auth || strstr(log, MPASS) == NULL), "the log never holds the password");
		free(log);
	}
	/* serve counts what its pull cannot see after its first round */
	mongo_insert("users", UNDATED_USER);
	daemon_start(&d);
	ok(health_wait("sync.undated", "1", 15000),
	    "serve: /healthz counts the user without updated_at after the first pull");
	is_int(daemon_stop(&d), 0, "SIGTERM: exit 0");
	mongo_write("users", UNDATED_FILTER, 1);
	{
		struct run x;

		util_genbox_run(&x, NULL, db_arg, "sync", "pull", NULL);
		is_int(x.status, 0, "sync pull: exit 0");
		run_free(&x);
	}
	is_str(status_json("collections.users.undated"), "0", "deleted again: the next count is 0");
}

/* Rows waiting in the outbox, read through storage. */
static int64_t
outbox_depth(void)
{
	struct gb_err err = { 0, "" };
	int64_t depth = -1;

	if (store_outbox_depth(b.st, -1, &depth, NULL, &err))
		tap_bail("outbox depth: %s", err.msg);
	return depth;
}

/*
 * [cluster] removed after sync was on: the triggers still record, nothing
 * drains the outbox. status, /healthz and the dashboard say so; disable
 * --yes turns recording off and empties the outbox.
 */
static void
test_disable(void)
{
	const char *warn = "sync is off but 2 changes wait in the outbox: configure [cluster] or "
	    "run genbox sync disable --yes";
	struct http_resp r;
	struct daemon d;
	struct run x;

	cluster_env_clear();
	box_put(&b, COLL_CONTEXTS, "{\"_id\": \"ctx_orphan_1\", \"type\": \"article\", "
	    "\"status\": \"cancelled\", \"organization_id\": \"org_123\"}");
	box_put(&b, COLL_CONTEXTS, "{\"_id\": \"ctx_orphan_2\", \"type\": \"article\", "
	    "\"status\": \"cancelled\", \"organization_id\": \"org_123\"}");
	is_int(outbox_depth(), 2, "no cluster any more: local changes still land in the outbox");
	util_genbox_run(&x, NULL, db_arg, "sync", "status", NULL);
	is_int(x.status, 0, "sync status: exit 0");
	like(x.out, "sync: off (no [cluster] mongo_uri)\nwarning: ", "it says sync is off, and warns");
	like(x.out, warn, "that changes wait with nothing to send them");
	run_free(&x);
	is_str(status_json("warning"), warn, "status --json: the same warning");
	daemon_start(&d);
	ok(health_wait("sync.state", "off", 15000), "serve without a cluster: sync.state off");
	r = wt_req("GET", "/healthz", NULL, NULL);
	is_int(r.status, 200, "/healthz: 200");
	is_str(body_path(&r, "status"), "degraded", "/healthz: degraded, not hidden behind off");
	is_str(body_path(&r, "sync.warning"), warn, "/healthz: sync.warning says why");
	like(body_path(&r, "reasons"), "sync is off but 2 changes wait", "/healthz: as a reason");
	http_resp_free(&r);
	r = wt_req("GET", "/api/v1/dashboard", token, NULL);
	is_str(body_path(&r, "sync.warning"), warn, "dashboard: sync.warning");
	http_resp_free(&r);
	is_int(daemon_stop(&d), 0, "SIGTERM: exit 0");

	util_genbox_run(&x, NULL, db_arg, "sync", "disable", NULL);
	is_int(x.status, 1, "sync disable without --yes: exit 1");
	like(x.err, "drops the 2 changes waiting in the outbox, never to be sent; add --yes",
	    "it says what it would drop and asks for --yes");
	run_free(&x);
	is_int(outbox_depth(), 2, "... and drops nothing");
	util_genbox_run(&x, NULL, db_arg, "sync", "disable", "--now", NULL);
	is_int(x.status, 1, "sync disable --now: usage error, exit 1");
	run_free(&x);
	setenv("GENBOX_CLUSTER_MONGO_URI", uri, 1);
	util_genbox_run(&x, NULL, db_arg, "sync", "disable", "--yes", NULL);
	is_int(x.status, 1, "sync disable with a cluster configured: exit 1");
	like(x.err, "a cluster is configured", "it says why");
	run_free(&x);
	cluster_env_clear();
	util_genbox_run(&x, NULL, db_arg, "sync", "disable", "--yes", NULL);
	is_int(x.status, 0, "sync disable --yes: exit 0");
	like(x.out, "sync recording turned off: dropped 2 changes from the outbox",
	    "it says how many changes it dropped");
	run_free(&x);
	is_int(outbox_depth(), 0, "the outbox is empty");
	box_put(&b, COLL_CONTEXTS, "{\"_id\": \"ctx_orphan_3\", \"type\": \"article\", "
	    "\"status\": \"cancelled\", \"organization_id\": \"org_123\"}");
	is_int(outbox_depth(), 0, "and a new local change is not recorded any more");
	util_genbox_run(&x, NULL, db_arg, "sync", "status", NULL);
	ok(x.status == 0 && strstr(x.out, "warning") == NULL, "status: no warning");
	run_free(&x);
	daemon_start(&d);
	ok(health_wait("status", "ok", 15000), "/healthz: ok again");
	is_int(daemon_stop(&d), 0, "SIGTERM: exit 0");
	util_genbox_run(&x, NULL, db_arg, "sync", "disable", "--yes", NULL);
	ok(x.status == 0 && strstr(x.out, "dropped 0 changes"), "disable again: nothing to drop");
	run_free(&x);
}

int
main(void)
{
	const char *base;
	int rport;

	box_open(&b, 1);
	snprintf(db_arg, sizeof(db_arg), "--db=%s", b.path);
	cluster_env_clear();
	test_usage();
	test_no_cluster();

	mongoc_init();
	mongoc_log_set_handler(NULL, NULL);	/* the driver's lines are no TAP */
	auth = peer_mongo_kind_from_env() == PEER_MONGOMOCK;
	base = auth ? peer_mongo_start(PEER_MONGOMOCK, MUSER, MPASS) :
	    peer_mongo_start(peer_mongo_kind_from_env(), NULL, NULL);
	rport = peer_redis_start();
	snprintf(redis_url, sizeof(redis_url), "redis://127.0.0.1:%d/0", rport);
	if (auth && strchr(base, '@') == NULL && strncmp(base, "mongodb://", 10) == 0)
		snprintf(uri, sizeof(uri), "mongodb://%s:%s@%s", MUSER, MPASS, base + 10);
	else
		snprintf(uri, sizeof(uri), "%s", base);
	if ((mc = mongoc_client_new(uri)) == NULL)
		tap_bail("bad peer URI %s", uri);
	test_push_pull();
	test_bad_password();
	new_key();
	test_serve_offline();
	test_serve_auth();
	test_serve();
	test_disable();
	mongoc_client_destroy(mc);
	mongoc_cleanup();
	box_close(&b);
	return tap_done();
}
