/*
 * t405-sync-redis - the cluster's Redis keys as sync writes them, read back
 * with hiredis from a private redis-server: worker heartbeats, pipeline
 * statistics (and their mark in sync_meta), the template and component
 * registry caches, worker locks; a stopped, paused or restarted Redis
 * (t405-sync-redis-faults: refusals and failing servers).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>

#include "../base/gbtime.h"
#include "../storage/docs.h"
#include "../storage/heartbeat.h"
#include "../storage/outbox.h"
#include "../storage/pipestats.h"
#include "../storage/store.h"
#include "../sync/redis.h"
#include "peer.h"
#include "tap.h"
#include "util.h"

#define DAY PIPELINE_STATS_WINDOW_MS

static struct store *st;
static struct gb_err err;
static redisContext *chk;	/* the test's own view of the server */
static int port;
static int64_t now;

/* The check context's reply to a command; caller frees with freeReplyObject. */
static redisReply *
q(const char *fmt, ...)
{
	redisReply *rep;
	va_list ap;

	va_start(ap, fmt);
	rep = redisvCommand(chk, fmt, ap);
	va_end(ap);
	if (!rep)
		tap_bail("check connection: %s", chk->errstr);
	return rep;
}

static long long
q_int(const char *fmt, const char *arg)
{
	redisReply *rep = q(fmt, arg);
	long long v = rep->type == REDIS_REPLY_INTEGER ? rep->integer : -999;

	freeReplyObject(rep);
	return v;
}

/* HGET key field as a static string ("(nil)" when absent). */
static const char *
hget(const char *key, const char *field)
{
	static char out[8192];
	redisReply *rep = q("HGET %s %s", key, field);

	snprintf(out, sizeof(out), "%s", rep->type == REDIS_REPLY_STRING ? rep->str : "(nil)");
	freeReplyObject(rep);
	return out;
}

/* The fields of a hash, sorted by Redis' order, joined with spaces. */
static const char *
hkeys(const char *key)
{
	static char out[1024];
	redisReply *rep = q("HKEYS %s", key);
	const char *names[32];
	size_t n = 0;

	out[0] = 0;
	for (size_t i = 0; i < rep->elements && n < 32; i++)
		names[n++] = rep->element[i]->str;
	/* sort for a stable comparison */
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (strcmp(names[j], names[i]) < 0) {
				const char *t = names[i];

				names[i] = names[j];
				names[j] = t;
			}
	for (size_t i = 0; i < n; i++) {
		size_t at = strlen(out);

		snprintf(out + at, sizeof(out) - at, "%s%s", i ? " " : "", names[i]);
	}
	freeReplyObject(rep);
	return out;
}

/* ZRANGE key 0 -1 WITHSCORES as "member@score ..." */
static const char *
zall(const char *key)
{
	static char out[4096];
	redisReply *rep = q("ZRANGE %s 0 -1 WITHSCORES", key);

	out[0] = 0;
	for (size_t i = 0; i + 1 < rep->elements; i += 2) {
		size_t at = strlen(out);

		snprintf(out + at, sizeof(out) - at, "%s%s@%s", i ? " " : "",
		    rep->element[i]->str, rep->element[i + 1]->str);
	}
	freeReplyObject(rep);
	return out;
}

/* Commands the server has run so far (INFO commandstats), the INFO calls not counted. */
static long long
commands_total(void)
{
	redisReply *rep = q("INFO commandstats");
	long long total = 0;
	const char *p = rep->str;

	while ((p = strstr(p, "cmdstat_"))) {
		const char *c = strstr(p, "calls=");

		if (!c)
			break;
		if (strncmp(p, "cmdstat_info:", 13))
			total += strtoll(c + 6, NULL, 10);
		p = c;
	}
	freeReplyObject(rep);
	return total;
}

static char *
demo_file(const char *name)
{
	char rel[256], path[1024];
	char *text;

	snprintf(rel, sizeof(rel), "appliance/demo/%s", name);
	if (!(text = util_read_file(util_src(rel, path, sizeof(path)), NULL)))
		tap_bail("cannot read %s", path);
	return text;
}

static struct store_heartbeat
hb(const char *id, int64_t seen, const char *status, int count)
{
	struct store_heartbeat h;

	memset(&h, 0, sizeof(h));
	snprintf(h.worker_id, sizeof(h.worker_id), "%s", id);
	h.last_seen_ms = seen;
	snprintf(h.status, sizeof(h.status), "%s", status);
	h.processing_count = count;
	snprintf(h.host, sizeof(h.host), "box-7");
	return h;
}

static void
test_url(void)
{
	static const struct { const char *url, *msg; } bad[] = {
		{ "http://127.0.0.1:6379", "must start with 'redis://' or 'unix:'" },
		{ "redis://", "no host" },
		{ "redis://127.0.0.1:0", "bad port" },
		{ "redis://127.0.0.1:70000", "bad port" },
		{ "redis://127.0.0.1:63x", "bad port" },
		{ "redis://127.0.0.1/x", "bad database number" },
		{ "redis://s3cr3t@127.0.0.1", "userinfo needs ':' before the password" },
		{ "redis://:s3cr3t%zz@127.0.0.1", "bad or too long user or password" },
		{ "rediss://127.0.0.1", "TLS" },
		{ "unix:relative", "absolute path" },
		{ "", "empty" },
	};
	struct sync_redis *r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		gb_err_clear(&err);
		is_int(sync_redis_new(&r, bad[i].url, 1000, &err), GB_EINVAL, "url '%s' refused",
		    bad[i].url);
		like(err.msg, bad[i].msg, "with '%s'", bad[i].msg);
		ok(!strstr(err.msg, "s3cr3t"), "the password is not in the message");
	}
	gb_err_clear(&err);
	is_int(sync_redis_new(&r, "redis://127.0.0.1", 0, &err), GB_EINVAL,
	    "a zero timeout is refused");
	gb_err_clear(&err);
	ok(!sync_redis_new(&r, "redis://u%40x:p%3Aw@[::1]:7000/2", 1000, &err),
	    "an IPv6 host and an escaped user and password are taken");
	sync_redis_free(r);
	sync_redis_free(NULL);
}

static void
test_heartbeats(struct sync_redis *r)
{
	struct store_heartbeat three[3] = {
		hb("w-a", now, "busy", 2), hb("w-b", now - 1000, "idle", 0),
		hb("w-old", now - 61000, "idle", 0),
	};
	long long before, used, ttl;
	int n = -1;

	gb_err_clear(&err);
	if (store_heartbeat_put(st, three, 3, &err))
		tap_bail("heartbeat put: %s", err.msg);
	before = commands_total();
	is_int(sync_redis_heartbeats(r, st, now, &n, &err), 0, "heartbeats sent");
	used = commands_total() - before;
	is_int(n, 2, "for the two live workers");
	is_str(hkeys("worker_heartbeat:w-a"), "host last_seen processing_count status",
	    "worker_heartbeat:w-a has exactly the schema's fields");
	{
		char seen[GB_TIME_LEN];

		is_str(hget("worker_heartbeat:w-a", "last_seen"), gb_time_format(now, seen),
		    "last_seen as ISO-8601 UTC with milliseconds");
	}
	is_str(hget("worker_heartbeat:w-a", "status"), "busy", "status");
	is_str(hget("worker_heartbeat:w-a", "processing_count"), "2", "processing_count");
	is_str(hget("worker_heartbeat:w-a", "host"), "box-7", "host");
	is_str(hget("worker_heartbeat:w-b", "status"), "idle", "the second worker too");
	is_int(q_int("EXISTS %s", "worker_heartbeat:w-old"), 0, "a worker not live is not sent");
	ttl = q_int("TTL %s", "worker_heartbeat:w-a");
	ok(ttl > 0 && ttl <= 60, "TTL %lld in (0, 60]", ttl);
	is_int(used, 4, "one round of 2 workers costs 4 commands (HSET and EXPIRE each)");
	tap_diag("heartbeat round: %lld commands for %d workers", used, n);

	/* refreshed: the TTL goes back up and the fields change */
	freeReplyObject(q("EXPIRE worker_heartbeat:w-a 5"));
	three[0] = hb("w-a", now + 20000, "idle", 0);
	store_heartbeat_put(st, three, 1, &err);
	is_int(sync_redis_heartbeats(r, st, now + 20000, &n, &err), 0, "20 s later, sent again");
	ttl = q_int("TTL %s", "worker_heartbeat:w-a");
	ok(ttl > 55 && ttl <= 60, "the TTL is refreshed (%lld)", ttl);
	is_str(hget("worker_heartbeat:w-a", "status"), "idle", "and the status is the new one");
	is_str(hget("worker_heartbeat:w-a", "processing_count"), "0", "and the count");
	store_heartbeat_delete(st, "w-", &err);
	before = commands_total();
	is_int(sync_redis_heartbeats(r, st, now, &n, &err), 0, "no live worker");
	is_int(n, 0, "none sent");
	is_int(commands_total() - before, 0, "and no command sent to Redis");
}

static const char *
stats_mark(void)
{
	static char val[64];
	int found = 0;

	gb_err_clear(&err);
	if (store_sync_meta_get(st, "redis_stats_rowid", val, sizeof(val), &found, &err))
		return "(error)";
	return found ? val : "(none)";
}

static void
stat_add(const char *pipeline, int64_t at, int64_t duration)
{
	gb_err_clear(&err);
	if (store_pipeline_stat_add(st, pipeline, at, duration, &err))
		tap_bail("stat add: %s", err.msg);
}

static void
test_stats(struct sync_redis *r)
{
	struct sync_redis *quick;
	char want[512], mark[64];
	long long ttl, used;
	int64_t t0;
	int n = -1, rc;

	stat_add("pipe_a", now - 3000, 1200);
	stat_add("pipe_b", now - 2000, 50);
	stat_add("pipe_a", now - 1000, 800);
	/* a member older than a day, already in Redis */
	freeReplyObject(q("ZADD pipeline_stats:pipe_a %lld 777", (long long)(now - DAY - 1)));
	is_str(stats_mark(), "(none)", "no mark before the first send");
	used = commands_total();
	is_int(sync_redis_stats(r, st, now, &n, &err), 0, "pipeline stats sent");
	used = commands_total() - used;
	is_int(n, 3, "three durations");
	is_int(used, 6, "in 6 commands: ZADD, ZREMRANGEBYSCORE, EXPIRE per pipeline");
	tap_diag("stats round: %lld commands for %d durations of 2 pipelines", used, n);
	snprintf(want, sizeof(want), "1200@%lld 800@%lld", (long long)(now - 3000),
	    (long long)(now - 1000));
	is_str(zall("pipeline_stats:pipe_a"), want,
	    "pipe_a: member = duration, score = end time; the member older than a day trimmed");
	snprintf(want, sizeof(want), "50@%lld", (long long)(now - 2000));
	is_str(zall("pipeline_stats:pipe_b"), want, "pipe_b");
	ttl = q_int("TTL %s", "pipeline_stats:pipe_a");
	ok(ttl > 86000 && ttl <= 86400, "TTL %lld in (86000, 86400]", ttl);
	ok(strcmp(stats_mark(), "(none)") != 0, "the mark moved (%s)", stats_mark());

	/* sent once: Redis emptied, nothing comes again */
	freeReplyObject(q("DEL pipeline_stats:pipe_a pipeline_stats:pipe_b"));
	used = commands_total();
	is_int(sync_redis_stats(r, st, now, &n, &err), 0, "sent again");
	is_int(n, 0, "nothing new");
	is_int(commands_total() - used, 0, "and no command sent");
	is_int(q_int("EXISTS %s", "pipeline_stats:pipe_a"), 0, "no duration sent twice");

	/* Redis paused: an error within the timeout, the mark stays */
	stat_add("pipe_a", now + 1000, 4321);
	snprintf(mark, sizeof(mark), "%s", stats_mark());
	snprintf(want, sizeof(want), "redis://127.0.0.1:%d", port);
	if (sync_redis_new(&quick, want, 500, &err))
		tap_bail("new: %s", err.msg);
	is_int(sync_redis_ping(quick, &err), 0, "a client with a 500 ms timeout connects");
	peer_redis_pause();
	t0 = gb_mono_ms();
	gb_err_clear(&err);
	rc = sync_redis_stats(quick, st, now + 1000, &n, &err);
	is_int(rc, GB_ETRANSIENT, "Redis paused: the send fails as transient");
	ok(gb_mono_ms() - t0 < 1500, "within the timeout (%lld ms)",
	    (long long)(gb_mono_ms() - t0));
	like(err.msg, "no answer within 500 ms", "the message says so: %s", err.msg);
	snprintf(want, sizeof(want), "127.0.0.1:%d", port);
	like(err.msg, want, "and names the server");
	is_str(stats_mark(), mark, "the mark did not move");
	t0 = gb_mono_ms();
	gb_err_clear(&err);
	rc = sync_redis_ping(quick, &err);
	is_int(rc, GB_ETRANSIENT, "still paused: a new connection fails as well");
	ok(gb_mono_ms() - t0 < 1500, "within the timeout (%lld ms)",
	    (long long)(gb_mono_ms() - t0));
	peer_redis_resume();
	gb_err_clear(&err);
	is_int(sync_redis_stats(quick, st, now + 1000, &n, &err), 0, "resumed: sent");
	is_int(n, 1, "the one duration");
	snprintf(want, sizeof(want), "4321@%lld", (long long)(now + 1000));
	is_str(zall("pipeline_stats:pipe_a"), want, "it is there once");
	is_int(sync_redis_stats(quick, st, now + 1000, &n, &err), 0, "sent again");
	is_int(n, 0, "nothing more");
	is_str(zall("pipeline_stats:pipe_a"), want, "no duplicate");
	sync_redis_free(quick);

	/* durations older than a day are not sent, but the mark passes them */
	stat_add("pipe_c", now - DAY - 10, 5);
	is_int(sync_redis_stats(r, st, now, &n, &err), 0, "a duration older than a day");
	is_int(n, 0, "is not sent");
	is_int(q_int("EXISTS %s", "pipeline_stats:pipe_c"), 0, "no key for it");
}

static void
test_template(struct sync_redis *r)
{
	char *doc = demo_file("3-templates.json");
	cJSON *j = cJSON_Parse(doc), *got;
	const char *ext = "{\"_id\": \"tmpl_ext\", \"name\": \"Ext\", \"version\": 4, "
	    "\"structure\": {\"n\": [1, 2, {\"x\": \"\\u00e9\", \"s\": \"a\\\"}\"}], "
	    "\"big\": 9007199254740993}, "
	    "\"updated_at\": {\"$date\": {\"$numberLong\": \"1700000000123\"}}}";
	long long ttl;

	is_int(sync_redis_template_put(r, doc, strlen(doc), &err), 0, "a template cached");
	is_str(hkeys("template:tmpl_article_technical"), "name structure updated_at version",
	    "template:{id} has exactly the schema's fields");
	is_str(hget("template:tmpl_article_technical", "name"), "Technical Article Template",
	    "name");
	is_str(hget("template:tmpl_article_technical", "version"), "1.3.0", "version");
	is_str(hget("template:tmpl_article_technical", "updated_at"), "2023-05-20T11:45:30Z",
	    "updated_at");
	got = cJSON_Parse(hget("template:tmpl_article_technical", "structure"));
	ok(got && cJSON_Compare(got, cJSON_GetObjectItem(j, "structure"), 1),
	    "structure is the JSON text of the template's structure");
	cJSON_Delete(got);
	ttl = q_int("TTL %s", "template:tmpl_article_technical");
	ok(ttl > 3500 && ttl <= 3600, "TTL %lld in (3500, 3600]", ttl);

	is_int(sync_redis_template_put(r, ext, strlen(ext), &err), 0,
	    "a template as pulled (Extended JSON dates)");
	is_str(hget("template:tmpl_ext", "updated_at"), "2023-11-14T22:13:20.123Z",
	    "a {$date: {$numberLong}} becomes ISO-8601");
	is_str(hget("template:tmpl_ext", "version"), "4", "a number version as its text");
	is_str(hget("template:tmpl_ext", "structure"),
	    "{\"n\": [1, 2, {\"x\": \"\\u00e9\", \"s\": \"a\\\"}\"}], \"big\": 9007199254740993}",
	    "structure: the document's own text (escapes and an integer past 2^53 kept)");

	gb_err_clear(&err);
	is_int(sync_redis_template_put(r, "{\"name\": 1", 10, &err), GB_EINVAL,
	    "a document that is not JSON is refused");
	gb_err_clear(&err);
	is_int(sync_redis_template_put(r, "{\"name\": \"x\"}", 13, &err), GB_EINVAL,
	    "a template without _id is refused");
	like(err.msg, "empty template _id", "with a clear message");
	gb_err_clear(&err);

	is_int(sync_redis_template_drop(r, "tmpl_article_technical", &err), 0, "dropped");
	is_int(q_int("EXISTS %s", "template:tmpl_article_technical"), 0, "the key is gone");
	is_int(q_int("EXISTS %s", "template:tmpl_ext"), 1, "the other stays");
	is_int(sync_redis_template_drop(r, "tmpl_none", &err), 0, "dropping an absent one is fine");
	cJSON_Delete(j);
	free(doc);
}

static void
put_component(const char *text)
{
	gb_err_clear(&err);
	if (store_put(st, COLL_COMPONENTS, text, strlen(text), STORE_UPSERT, NULL, &err))
		tap_bail("component put: %s", err.msg);
}

/* The element of the array in field type whose _id is id. */
static cJSON *
registry_entry(cJSON *arr, const char *id)
{
	cJSON *e;

	cJSON_ArrayForEach(e, arr)
		if (cJSON_IsString(cJSON_GetObjectItem(e, "_id")) &&
		    !strcmp(cJSON_GetObjectItem(e, "_id")->valuestring, id))
			return e;
	return NULL;
}

static void
test_registry(struct sync_redis *r)
{
	static const char *const files[] = { "4a-components.json", "4b-components.json",
	    "4c-components.json" };
	cJSON *arr, *e;
	long long ttl;
	char *other;

	for (size_t i = 0; i < 3; i++) {
		char *t = demo_file(files[i]);

		put_component(t);
		free(t);
	}
	/* a second generator of org_123, and one of another organization */
	other = demo_file("4a-components.json");
	{
		cJSON *j = cJSON_Parse(other);
		char *t;

		cJSON_ReplaceItemInObject(j, "_id", cJSON_CreateString("comp_gen_two"));
		cJSON_ReplaceItemInObject(j, "name", cJSON_CreateString("Second"));
		t = cJSON_PrintUnformatted(j);
		put_component(t);
		free(t);
		cJSON_ReplaceItemInObject(j, "_id", cJSON_CreateString("comp_other_org"));
		cJSON_ReplaceItemInObject(j, "organization_id", cJSON_CreateString("org_999"));
		t = cJSON_PrintUnformatted(j);
		put_component(t);
		free(t);
		cJSON_Delete(j);
	}
	free(other);
	freeReplyObject(q("HSET component_registry:org_123 stale_type []"));
	is_int(sync_redis_registry_put(r, st, "org_123", &err), 0, "registry of org_123 rebuilt");
	is_str(hkeys("component_registry:org_123"), "ai_generator template transformer",
	    "one field per component type (a field of before is gone)");
	arr = cJSON_Parse(hget("component_registry:org_123", "ai_generator"));
	ok(cJSON_IsArray(arr) && cJSON_GetArraySize(arr) == 2,
	    "ai_generator: a JSON array of its two components");
	e = registry_entry(arr, "comp_ai_generator_gpt4");
	ok(e && !strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(e, "name")),
	    "GPT-4 Article Generator"), "an entry has _id and name");
	ok(e && !strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(e, "model")), "gpt-4") &&
	    cJSON_GetObjectItem(e, "temperature")->valuedouble == 0.7,
	    "and the fields of its config");
	ok(!registry_entry(arr, "comp_other_org"), "no component of another organization");
	cJSON_Delete(arr);
	ttl = q_int("TTL %s", "component_registry:org_123");
	ok(ttl > 1700 && ttl <= 1800, "TTL %lld in (1700, 1800]", ttl);
	is_int(sync_redis_registry_put(r, st, "org_none", &err), 0, "an org without components");
	is_int(q_int("EXISTS %s", "component_registry:org_none"), 0, "has no key");
	is_int(sync_redis_registry_drop(r, "org_123", &err), 0, "registry dropped");
	is_int(q_int("EXISTS %s", "component_registry:org_123"), 0, "the key is gone");
}

static const char *
get_str(const char *key)
{
	static char out[256];
	redisReply *rep = q("GET %s", key);

	snprintf(out, sizeof(out), "%s", rep->type == REDIS_REPLY_STRING ? rep->str : "(nil)");
	freeReplyObject(rep);
	return out;
}

static void
test_locks(struct sync_redis *r)
{
	const char *k = "worker_lock:ctx_9";
	int got = -1, held = -1;
	long long pttl, used;

	used = commands_total();
	is_int(sync_redis_lock(r, "ctx_9", "box-1", &got, &err), 0, "lock");
	is_int(commands_total() - used, 1, "one command (SET NX PX)");
	is_int(got, 1, "box-1 takes it");
	is_str(get_str(k), "box-1", "worker_lock:ctx_9 holds the worker id");
	pttl = q_int("PTTL %s", k);
	ok(pttl > 295000 && pttl <= 300000, "PTTL %lld near 300000", pttl);
	used = commands_total();
	is_int(sync_redis_lock(r, "ctx_9", "box-2", &got, &err), 0, "box-2 asks");
	is_int(got, 0, "and does not get it (NX)");
	/* commandstats counts the calls a script makes too: SET, EVAL and its GET */
	is_int(commands_total() - used, 3, "in SET, then EVAL (its GET): two round trips");
	is_str(get_str(k), "box-1", "the value is unchanged");
	is_int(sync_redis_lock(r, "ctx_9", "box-1", &got, &err), 0, "box-1 asks again");
	is_int(got, 1, "and is told it holds it");

	freeReplyObject(q("PEXPIRE %s 10000", k));
	is_int(sync_redis_lock_extend(r, "ctx_9", "box-2", &held, &err), 0, "box-2 extends");
	is_int(held, 0, "it is not the owner");
	pttl = q_int("PTTL %s", k);
	ok(pttl > 0 && pttl <= 10000, "the TTL is not extended (%lld)", pttl);
	is_int(sync_redis_lock_extend(r, "ctx_9", "box-1", &held, &err), 0, "box-1 extends");
	is_int(held, 1, "it holds it");
	pttl = q_int("PTTL %s", k);
	ok(pttl > 295000 && pttl <= 300000, "the TTL is back near 300000 (%lld)", pttl);

	is_int(sync_redis_unlock(r, "ctx_9", "box-2", &err), 0, "box-2 unlocks");
	is_str(get_str(k), "box-1", "nothing happens: not its lock");

	/* lost: expired and taken by another */
	freeReplyObject(q("SET %s box-3 PX 300000", k));
	is_int(sync_redis_lock_extend(r, "ctx_9", "box-1", &held, &err), 0, "box-1 extends a lock");
	is_int(held, 0, "that box-3 took: reported lost");
	is_int(sync_redis_unlock(r, "ctx_9", "box-1", &err), 0, "box-1 unlocks it");
	is_str(get_str(k), "box-3", "box-3's lock stays");
	is_int(sync_redis_unlock(r, "ctx_9", "box-3", &err), 0, "box-3 unlocks");
	is_int(q_int("EXISTS %s", k), 0, "the key is gone");
	is_int(sync_redis_lock_extend(r, "ctx_9", "box-1", &held, &err), 0,
	    "extending a lock gone");
	is_int(held, 0, "is reported lost");
	is_int(sync_redis_lock(r, "ctx_9", "box-2", &got, &err), 0, "box-2 asks now");
	is_int(got, 1, "and takes it");
	gb_err_clear(&err);
	is_int(sync_redis_lock(r, "", "box-2", &got, &err), GB_EINVAL, "an empty context id");
	gb_err_clear(&err);
	is_int(sync_redis_lock(r, "ctx_9", "", &got, &err), GB_EINVAL, "an empty worker id");
	gb_err_clear(&err);
}

/* Redis stopped: fast clear errors; started again on the same port: the next call works. */
static void
test_down(struct sync_redis *r)
{
	char where[64];
	int64_t t0;
	int n, rc;

	snprintf(where, sizeof(where), "127.0.0.1:%d", port);
	redisFree(chk);
	chk = NULL;
	peer_redis_stop();
	t0 = gb_mono_ms();
	gb_err_clear(&err);
	rc = sync_redis_heartbeats(r, st, now, &n, &err);
	/* no live workers would send nothing: put one */
	if (!rc) {
		struct store_heartbeat one = hb("w-down", now, "idle", 0);

		store_heartbeat_put(st, &one, 1, &err);
		rc = sync_redis_heartbeats(r, st, now, &n, &err);
	}
	is_int(rc, GB_ETRANSIENT, "Redis stopped: heartbeats fail as transient");
	like(err.msg, where, "the message names the server: %s", err.msg);
	gb_err_clear(&err);
	is_int(sync_redis_ping(r, &err), GB_ETRANSIENT, "and the next call too");
	like(err.msg, "onnection refused", "connection refused: %s", err.msg);
	ok(gb_mono_ms() - t0 < 1000, "fast (%lld ms for both)", (long long)(gb_mono_ms() - t0));
	gb_err_clear(&err);

	peer_redis_restart();
	is_int(sync_redis_heartbeats(r, st, now, &n, &err), 0,
	    "started again: the next call works");
	is_int(n, 1, "the heartbeat is sent");
	chk = redisConnect("127.0.0.1", port);
	is_str(hget("worker_heartbeat:w-down", "status"), "idle", "and is there");

	/* restarted behind a live connection: the first call reconnects on its own */
	redisFree(chk);
	peer_redis_restart();
	chk = redisConnect("127.0.0.1", port);
	gb_err_clear(&err);
	is_int(sync_redis_heartbeats(r, st, now, &n, &err), 0,
	    "Redis restarted between calls: the call reconnects and works");
	is_str(hget("worker_heartbeat:w-down", "status"), "idle", "the heartbeat is there");
	store_heartbeat_delete(st, "w-down", &err);
}

int
main(void)
{
	struct store_opts opts = { .create = 1, .migrate = 1 };
	struct sync_redis *r;
	char path[1024], url[128];

	now = gb_now_ms();
	snprintf(path, sizeof(path), "%s/t405.db", util_tmpdir());
	if (store_open(&st, path, &opts, &err))
		tap_bail("store_open: %s", err.msg);
	port = peer_redis_start();
	if (!(chk = redisConnect("127.0.0.1", port)) || chk->err)
		tap_bail("check connection failed");
	test_url();
	snprintf(url, sizeof(url), "redis://127.0.0.1:%d", port);
	if (sync_redis_new(&r, url, 2000, &err))
		tap_bail("sync_redis_new: %s", err.msg);
	is_int(sync_redis_ping(r, &err), 0, "PING");
	test_heartbeats(r);
	test_stats(r);
	test_template(r);
	test_registry(r);
	test_locks(r);
	test_down(r);
	sync_redis_free(r);
	redisFree(chk);
	peer_redis_stop();
	store_close(st);
	return tap_done();
}
