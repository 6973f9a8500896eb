/*
 * redis.c - the cluster's Redis keys, as the schema's Redis section names
 * them and sync.md maps them, each call one round trip (redis_conn.h):
 * worker heartbeats (HSET and EXPIRE per live worker), pipeline statistics
 * (ZADD, trim and EXPIRE per pipeline, sent after a mark in sync_meta that
 * moves only once Redis took them), the template and component registry
 * caches, and the worker locks (SET NX PX; Lua compare-and-PEXPIRE and
 * compare-and-DEL, so only the owner extends or releases).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "../base/gbtime.h"
#include "../base/json.h"
#include "../storage/docs.h"
#include "../storage/heartbeat.h"
#include "../storage/outbox.h"
#include "../storage/pipestats.h"
#include "internal.h"
#include "redis_conn.h"

#define HEARTBEAT_TTL_S		"60"
#define STATS_TTL_S		"86400"
#define TEMPLATE_TTL_S		"3600"
#define REGISTRY_TTL_S		"1800"
#define LOCK_TTL_MS		"300000"
#define STATS_MARK		"redis_stats_rowid"
#define STATS_ROWS		1000	/* rows per round trip */
#define STATS_ROUNDS		20	/* round trips per call, at most */
#define HEARTBEATS_MAX		1024
#define KEY_MAX			384

/* PEXPIRE / DEL only while the key holds ARGV[1]. */
static const char lock_extend_lua[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";
static const char lock_release_lua[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('DEL', KEYS[1]) else return 0 end";

static int
redis_key(char key[KEY_MAX], const char *prefix, const char *id, const char *what,
    struct gb_err *err)
{
	int len;

	if (!id || !*id)
		return gb_errf(err, GB_EINVAL, "redis: empty %s", what);
	len = snprintf(key, KEY_MAX, "%s%s", prefix, id);
	if (len < 0 || len >= KEY_MAX)
		return gb_errf(err, GB_EINVAL, "redis: %s of %zu bytes is too long", what,
		    strlen(id));
	return 0;
}

int
sync_redis_heartbeats(struct sync_redis *r, struct store *st, int64_t now_ms, int *n,
    struct gb_err *err)
{
	struct store_heartbeat *hb;
	struct redis_batch b = { 0 };
	char key[KEY_MAX], seen[GB_TIME_LEN], count[24];
	int rc, nhb = 0;

	*n = 0;
	if (!(hb = calloc(HEARTBEATS_MAX, sizeof(*hb))))
		return gb_errf(err, GB_ENOMEM, "out of memory");
	if ((rc = store_heartbeat_list(st, now_ms, hb, HEARTBEATS_MAX, &nhb, err)))
		goto out;
	for (int i = 0; i < nhb; i++) {
		if ((rc = redis_key(key, "worker_heartbeat:", hb[i].worker_id, "worker id", err)))
			goto out;
		gb_time_format(hb[i].last_seen_ms, seen);
		snprintf(count, sizeof(count), "%d", hb[i].processing_count);
		redis_batch_add(&b, "HSET", key, "last_seen", seen, "status", hb[i].status,
		    "processing_count", count, "host", hb[i].host, NULL);
		redis_batch_add(&b, "EXPIRE", key, HEARTBEAT_TTL_S, NULL);
	}
	if (nhb && !(rc = redis_run(r, &b, err)))
		*n = nhb;
out:
	redis_batch_free(&b);
	free(hb);
	return rc;
}

/* Rows of one round, ordered by pipeline then rowid (the later score of a member wins). */
static int
stat_row_cmp(const void *a, const void *b)
{
	const struct pipeline_stat_row *x = *(const struct pipeline_stat_row *const *)a;
	const struct pipeline_stat_row *y = *(const struct pipeline_stat_row *const *)b;
	int c = strcmp(x->pipeline_id, y->pipeline_id);

	if (c)
		return c;
	return x->rowid < y->rowid ? -1 : x->rowid > y->rowid;
}

/* ZADD, trim and EXPIRE of the k rows of one pipeline (num: 48 bytes per row). */
static int
stats_add_group(struct redis_batch *b, struct pipeline_stat_row **g, int k, const char *cutoff,
    const char **argv, char *num, struct gb_err *err)
{
	char key[KEY_MAX];
	int rc, argc = 0;

	if ((rc = redis_key(key, "pipeline_stats:", g[0]->pipeline_id, "pipeline id", err)))
		return rc;
	argv[argc++] = "ZADD";
	argv[argc++] = key;
	for (int i = 0; i < k; i++) {
		char *score = num + (size_t)i * 48, *member = score + 24;

		snprintf(score, 24, "%lld", (long long)g[i]->at_ms);
		snprintf(member, 24, "%lld", (long long)g[i]->duration_ms);
		argv[argc++] = score;
		argv[argc++] = member;
	}
	redis_batch_addv(b, argc, argv);
	redis_batch_add(b, "ZREMRANGEBYSCORE", key, "-inf", cutoff, NULL);
	redis_batch_add(b, "EXPIRE", key, STATS_TTL_S, NULL);
	return 0;
}

/* Send rows[0..n) (those still in the window); *sent how many went. */
static int
stats_send(struct sync_redis *r, struct pipeline_stat_row *rows, int n, int64_t now_ms,
    int *sent, struct gb_err *err)
{
	struct pipeline_stat_row **live = calloc((size_t)n, sizeof(*live));
	const char **argv = calloc((size_t)n * 2 + 2, sizeof(*argv));
	char *num = malloc((size_t)n * 48);
	struct redis_batch b = { 0 };
	char cutoff[24];
	int rc = 0, nlive = 0;

	*sent = 0;
	if (!live || !argv || !num) {
		rc = gb_errf(err, GB_ENOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < n; i++)
		if (rows[i].at_ms > now_ms - PIPELINE_STATS_WINDOW_MS)
			live[nlive++] = &rows[i];
	qsort(live, (size_t)nlive, sizeof(*live), stat_row_cmp);
	snprintf(cutoff, sizeof(cutoff), "%lld", (long long)(now_ms - PIPELINE_STATS_WINDOW_MS));
	for (int i = 0, j; i < nlive; i = j) {
		j = i + 1;
		while (j < nlive && !strcmp(live[j]->pipeline_id, live[i]->pipeline_id))
			j++;
		if ((rc = stats_add_group(&b, live + i, j - i, cutoff, argv, num, err)))
			goto out;
	}
	if (b.n && (rc = redis_run(r, &b, err)))
		goto out;
	*sent = nlive;
out:
	redis_batch_free(&b);
	free(num);
	free(argv);
	free(live);
	return rc;
}

int
sync_redis_stats(struct sync_redis *r, struct store *st, int64_t now_ms, int *n,
    struct gb_err *err)
{
	struct pipeline_stat_row *rows;
	char val[32], *end;
	int64_t mark = 0;
	int rc, found, nrows = STATS_ROWS, sent;

	*n = 0;
	if (!(rows = calloc(STATS_ROWS, sizeof(*rows))))
		return gb_errf(err, GB_ENOMEM, "out of memory");
	if ((rc = store_sync_meta_get(st, STATS_MARK, val, sizeof(val), &found, err)))
		goto out;
	if (found) {
		errno = 0;
		mark = strtoll(val, &end, 10);
		if (end == val || *end || errno || mark < 0) {
			rc = gb_errf(err, GB_EINVAL, "sync mark '%s' holds '%s', not a row id",
			    STATS_MARK, val);
			goto out;
		}
	}
	for (int round = 0; round < STATS_ROUNDS && nrows == STATS_ROWS; round++) {
		if ((rc = store_pipeline_stat_rows(st, mark, STATS_ROWS, rows, &nrows, err)))
			goto out;
		if (!nrows)
			break;
		if ((rc = stats_send(r, rows, nrows, now_ms, &sent, err)))
			goto out;
		mark = rows[nrows - 1].rowid;
		snprintf(val, sizeof(val), "%lld", (long long)mark);
		if ((rc = store_sync_meta_set(st, STATS_MARK, val, err)))
			goto out;
		*n += sent;
	}
out:
	free(rows);
	return rc;
}

/* The text of a date member: an ISO string, {"$date": ISO or ms or {"$numberLong"}}, ms. */
static void
json_date_text(const cJSON *v, char out[GB_TIME_LEN + 8])
{
	const cJSON *d = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, "$date") : v;
	const char *s = NULL;
	int64_t ms;
	char *end;

	out[0] = 0;
	if (cJSON_IsObject(d))
		s = json_get_str(d, "$numberLong");
	else if (cJSON_IsString(d))
		s = d->valuestring;
	if (cJSON_IsNumber(d) && !json_to_int64(d->valuedouble, -62135596800000LL,
	    253402300799999LL, &ms)) {
		gb_time_format(ms, out);
	} else if (s && cJSON_IsObject(d)) {
		errno = 0;
		ms = strtoll(s, &end, 10);
		if (!errno && end != s && !*end && ms >= -62135596800000LL &&
		    ms <= 253402300799999LL)
			gb_time_format(ms, out);
	} else if (s) {
		snprintf(out, GB_TIME_LEN + 8, "%s", s);
	}
}

/* Past the JSON string at p ('"'), or NULL. */
static const char *
raw_skip_string(const char *p, const char *end)
{
	for (p++; p < end; p++) {
		if (*p == '\\')
			p++;
		else if (*p == '"')
			return p + 1;
	}
	return NULL;
}

/* Past the JSON value at p (already checked by a parser), or NULL. */
static const char *
raw_skip_value(const char *p, const char *end)
{
	int depth = 0;

	while (p < end) {
		if (*p == '"') {
			if (!(p = raw_skip_string(p, end)))
				return NULL;
			if (!depth)
				return p;
			continue;
		}
		if (*p == '{' || *p == '[') {
			depth++;
		} else if (*p == '}' || *p == ']') {
			if (--depth < 0)
				return p;	/* a scalar ends at its container's end */
			if (!depth)
				return p + 1;
		} else if (!depth && (*p == ',' || *p == ' ' || *p == '\t' || *p == '\n' ||
		    *p == '\r')) {
			return p;
		}
		p++;
	}
	return depth ? NULL : p;
}

static const char *
raw_skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/*
 * The text of top-level member key of the JSON object doc, exactly as
 * written (integers past 2^53 kept): 0, or -1 when not found this way
 * (absent, or a key written with escapes).
 */
static int
raw_member(const char *doc, size_t len, const char *key, const char **val, size_t *vlen)
{
	const char *p = doc, *end = doc + len, *k, *v;
	size_t klen = strlen(key), kl;

	p = raw_skip_ws(p, end);
	if (p == end || *p++ != '{')
		return -1;
	for (;;) {
		p = raw_skip_ws(p, end);
		if (p == end || *p != '"' || !(v = raw_skip_string(p, end)))
			return -1;
		k = p + 1;
		kl = (size_t)(v - 1 - k);
		p = raw_skip_ws(v, end);
		if (p == end || *p++ != ':')
			return -1;
		p = raw_skip_ws(p, end);
		if (!(v = raw_skip_value(p, end)) || v == p)
			return -1;
		if (kl == klen && !memcmp(k, key, klen)) {
			*val = p;
			*vlen = (size_t)(v - p);
			return 0;
		}
		p = raw_skip_ws(v, end);
		if (p == end || *p++ != ',')
			return -1;
	}
}

/* A member as text for a hash field: strings as they are, numbers and others as JSON. */
static char *
json_field_text(const cJSON *v)
{
	if (!v)
		return strdup("");
	if (cJSON_IsString(v))
		return strdup(v->valuestring);
	return cJSON_PrintUnformatted(v);
}

int
sync_redis_template_put(struct sync_redis *r, const char *doc, size_t len, struct gb_err *err)
{
	cJSON *j = cJSON_ParseWithLength(doc, len);
	char key[KEY_MAX], updated[GB_TIME_LEN + 8];
	char *name = NULL, *version = NULL, *structure = NULL;
	struct redis_batch b = { 0 };
	const cJSON *sv;
	const char *raw;
	size_t rawlen;
	int rc;

	if (!j || !cJSON_IsObject(j)) {
		rc = gb_errf(err, GB_EINVAL, "template document is not a JSON object");
		goto out;
	}
	if ((rc = redis_key(key, "template:", json_get_str(j, "_id"), "template _id", err)))
		goto out;
	sv = cJSON_GetObjectItemCaseSensitive(j, "structure");
	name = json_field_text(cJSON_GetObjectItemCaseSensitive(j, "name"));
	version = json_field_text(cJSON_GetObjectItemCaseSensitive(j, "version"));
	if (sv && !raw_member(doc, len, "structure", &raw, &rawlen))
		structure = strndup(raw, rawlen);
	else
		structure = sv ? cJSON_PrintUnformatted(sv) : strdup("null");
	json_date_text(cJSON_GetObjectItemCaseSensitive(j, "updated_at"), updated);
	if (!name || !version || !structure) {
		rc = gb_errf(err, GB_ENOMEM, "out of memory");
		goto out;
	}
	redis_batch_add(&b, "HSET", key, "name", name, "version", version, "structure", structure,
	    "updated_at", updated, NULL);
	redis_batch_add(&b, "EXPIRE", key, TEMPLATE_TTL_S, NULL);
	rc = redis_run(r, &b, err);
out:
	redis_batch_free(&b);
	free(name);
	free(version);
	free(structure);
	cJSON_Delete(j);
	return rc;
}

/* One component into its type's array: its config object with _id and name first. */
static int
registry_add(void *arg, const char *doc, size_t len)
{
	cJSON *types = arg, *j = cJSON_ParseWithLength(doc, len), *e = NULL, *arr;
	const cJSON *config, *m;
	const char *type, *id, *name;
	int rc = GB_ENOMEM;

	if (!j)
		return GB_EINVAL;
	if (!(type = json_get_str(j, "type")) || !*type) {
		rc = 0;		/* no type, no field for it */
		goto out;
	}
	id = json_get_str(j, "_id");
	name = json_get_str(j, "name");
	if (!(e = cJSON_CreateObject()) || !cJSON_AddStringToObject(e, "_id", id ? id : "") ||
	    !cJSON_AddStringToObject(e, "name", name ? name : ""))
		goto out;
	config = cJSON_GetObjectItemCaseSensitive(j, "config");
	if (!cJSON_IsObject(config))
		config = NULL;
	cJSON_ArrayForEach(m, config) {
		cJSON *dup;

		if (!strcmp(m->string, "_id") || !strcmp(m->string, "name"))
			continue;
		if (!(dup = cJSON_Duplicate(m, 1)))
			goto out;
		cJSON_AddItemToObject(e, m->string, dup);
	}
	if (!(arr = cJSON_GetObjectItemCaseSensitive(types, type))) {
		if (!(arr = cJSON_AddArrayToObject(types, type)))
			goto out;
	}
	cJSON_AddItemToArray(arr, e);
	e = NULL;
	rc = 0;
out:
	cJSON_Delete(e);
	cJSON_Delete(j);
	return rc;
}

/* The organization's components by type: an object {type: [entries]}. */
static int
registry_read(struct store *st, const char *org, cJSON **out, struct gb_err *err)
{
	cJSON *filter = cJSON_CreateObject(), *types = cJSON_CreateObject();
	char *ftext = NULL;
	int rc;

	*out = NULL;
	if (!filter || !types || !cJSON_AddStringToObject(filter, "organization_id", org) ||
	    !(ftext = cJSON_PrintUnformatted(filter))) {
		rc = gb_errf(err, GB_ENOMEM, "out of memory");
		goto out;
	}
	rc = store_each(st, COLL_COMPONENTS, ftext, 0, registry_add, types, err);
	if (rc == GB_ENOMEM)
		rc = gb_errf(err, rc, "out of memory");
	else if (rc == GB_EINVAL)
		rc = gb_errf(err, rc, "a component of '%s' is not JSON", org);
	if (!rc) {
		*out = types;
		types = NULL;
	}
out:
	free(ftext);
	cJSON_Delete(filter);
	cJSON_Delete(types);
	return rc;
}

int
sync_redis_registry_put(struct sync_redis *r, struct store *st, const char *org,
    struct gb_err *err)
{
	cJSON *types = NULL, *t;
	char key[KEY_MAX];
	const char **argv = NULL;
	char **texts = NULL;
	struct redis_batch b = { 0 };
	int rc, k = 0, argc = 0;

	if ((rc = redis_key(key, "component_registry:", org, "organization id", err)))
		return rc;
	if ((rc = registry_read(st, org, &types, err)))
		return rc;
	k = cJSON_GetArraySize(types);
	argv = calloc((size_t)k * 2 + 2, sizeof(*argv));
	texts = calloc((size_t)k + 1, sizeof(*texts));
	if (!argv || !texts) {
		rc = gb_errf(err, GB_ENOMEM, "out of memory");
		goto out;
	}
	argv[argc++] = "HSET";
	argv[argc++] = key;
	k = 0;
	cJSON_ArrayForEach(t, types) {
		if (!(texts[k] = cJSON_PrintUnformatted(t))) {
			rc = gb_errf(err, GB_ENOMEM, "out of memory");
			goto out;
		}
		argv[argc++] = t->string;
		argv[argc++] = texts[k++];
	}
	if (k) {
		redis_batch_add(&b, "MULTI", NULL);
		redis_batch_add(&b, "DEL", key, NULL);
		redis_batch_addv(&b, argc, argv);
		redis_batch_add(&b, "EXPIRE", key, REGISTRY_TTL_S, NULL);
		redis_batch_add(&b, "EXEC", NULL);
	} else {
		redis_batch_add(&b, "DEL", key, NULL);
	}
	rc = redis_run(r, &b, err);
out:
	for (int i = 0; texts && i < k; i++)
		free(texts[i]);
	free(texts);
	free(argv);
	redis_batch_free(&b);
	cJSON_Delete(types);
	return rc;
}

static int
redis_del(struct sync_redis *r, const char *prefix, const char *id, const char *what,
    struct gb_err *err)
{
	struct redis_batch b = { 0 };
	char key[KEY_MAX];
	int rc;

	if ((rc = redis_key(key, prefix, id, what, err)))
		return rc;
	redis_batch_add(&b, "DEL", key, NULL);
	rc = redis_run(r, &b, err);
	redis_batch_free(&b);
	return rc;
}

int
sync_redis_template_drop(struct sync_redis *r, const char *template_id, struct gb_err *err)
{
	return redis_del(r, "template:", template_id, "template id", err);
}

int
sync_redis_registry_drop(struct sync_redis *r, const char *org, struct gb_err *err)
{
	return redis_del(r, "component_registry:", org, "organization id", err);
}

/* One command of the lock: its integer reply in *val (nil: 0). */
static int
lock_cmd(struct sync_redis *r, struct redis_batch *b, long long *val, struct gb_err *err)
{
	redisReply **rep;
	int rc;

	*val = 0;
	if ((rc = redis_exec(r, b, &rep, err)))
		return rc;
	if (rep[0]->type == REDIS_REPLY_ERROR)
		rc = gb_errf(err, GB_EIO, "redis at %s: %s: %.160s", r->where, b->cmds[0].argv[0],
		    rep[0]->str);
	else if (rep[0]->type == REDIS_REPLY_INTEGER)
		*val = rep[0]->integer;
	else if (rep[0]->type == REDIS_REPLY_STATUS)
		*val = !strcmp(rep[0]->str, "OK");
	redis_replies_free(rep, b->n);
	return rc;
}

static int
lock_script(struct sync_redis *r, const char *script, const char *key, const char *worker_id,
    long long *val, struct gb_err *err)
{
	struct redis_batch b = { 0 };
	int rc;

	redis_batch_add(&b, "EVAL", script, "1", key, worker_id, LOCK_TTL_MS, NULL);
	rc = lock_cmd(r, &b, val, err);
	redis_batch_free(&b);
	return rc;
}

/* worker_lock:{ctx_id} into key, for a worker id that is not empty */
static int
lock_key(char key[KEY_MAX], const char *ctx_id, const char *worker_id, struct gb_err *err)
{
	int rc = redis_key(key, "worker_lock:", ctx_id, "context id", err);

	if (rc == 0 && (!worker_id || !*worker_id))
		rc = gb_errf(err, GB_EINVAL, "redis: empty worker id");
	return rc;
}

int
sync_redis_lock(struct sync_redis *r, const char *ctx_id, const char *worker_id, int *got,
    struct gb_err *err)
{
	struct redis_batch b = { 0 };
	char key[KEY_MAX];
	long long val;
	int rc;

	*got = 0;
	if ((rc = lock_key(key, ctx_id, worker_id, err)))
		return rc;
	redis_batch_add(&b, "SET", key, worker_id, "NX", "PX", LOCK_TTL_MS, NULL);
	rc = lock_cmd(r, &b, &val, err);
	redis_batch_free(&b);
	/* not set: ours already (taken before, or a resent SET) when extending works */
	if (!rc && !val)
		rc = lock_script(r, lock_extend_lua, key, worker_id, &val, err);
	if (!rc)
		*got = val == 1;
	return rc;
}

int
sync_redis_lock_extend(struct sync_redis *r, const char *ctx_id, const char *worker_id,
    int *held, struct gb_err *err)
{
	char key[KEY_MAX];
	long long val;
	int rc;

	*held = 0;
	if ((rc = lock_key(key, ctx_id, worker_id, err)))
		return rc;
	if (!(rc = lock_script(r, lock_extend_lua, key, worker_id, &val, err)))
		*held = val == 1;
	return rc;
}

int
sync_redis_unlock(struct sync_redis *r, const char *ctx_id, const char *worker_id,
    struct gb_err *err)
{
	char key[KEY_MAX];
	long long val;
	int rc;

	if ((rc = lock_key(key, ctx_id, worker_id, err)))
		return rc;
	return lock_script(r, lock_release_lua, key, worker_id, &val, err);
}

int
sync_redis_box_heartbeat(struct sync_redis *r, struct store *st, const char *worker_id,
    int64_t now_ms, struct gb_err *err)
{
	struct store_heartbeat *hb;
	struct redis_batch b = { 0 };
	char key[KEY_MAX], seen[GB_TIME_LEN], count[24], host[64] = "";
	int rc, nhb = 0, busy = 0;
	long long sum = 0;

	if ((rc = redis_key(key, "worker_heartbeat:", worker_id, "worker id", err)))
		return rc;
	if (!(hb = calloc(HEARTBEATS_MAX, sizeof(*hb))))
		return gb_errf(err, GB_ENOMEM, "out of memory");
	if ((rc = store_heartbeat_list(st, now_ms, hb, HEARTBEATS_MAX, &nhb, err)))
		goto out;
	for (int i = 0; i < nhb; i++) {
		busy |= strcmp(hb[i].status, "busy") == 0;
		sum += hb[i].processing_count;
	}
	if (gethostname(host, sizeof(host) - 1) != 0 || !host[0])
		snprintf(host, sizeof(host), "%s", nhb ? hb[0].host : "genbox");
	gb_time_format(now_ms, seen);
	snprintf(count, sizeof(count), "%lld", sum);
	redis_batch_add(&b, "HSET", key, "last_seen", seen, "status", busy ? "busy" : "idle",
	    "processing_count", count, "host", host, NULL);
	redis_batch_add(&b, "EXPIRE", key, HEARTBEAT_TTL_S, NULL);
	rc = redis_run(r, &b, err);
out:
	redis_batch_free(&b);
	free(hb);
	return rc;
}

int
sync_redis_lock_holder(struct sync_redis *r, const char *ctx_id, char *holder, size_t size,
    struct gb_err *err)
{
	struct redis_batch b = { 0 };
	redisReply **rep;
	char key[KEY_MAX];
	int rc;

	holder[0] = '\0';
	if ((rc = redis_key(key, "worker_lock:", ctx_id, "context id", err)))
		return rc;
	redis_batch_add(&b, "GET", key, NULL);
	if ((rc = redis_exec(r, &b, &rep, err)) == 0) {
		if (rep[0]->type == REDIS_REPLY_STRING)
			snprintf(holder, size, "%.*s", (int)rep[0]->len, rep[0]->str);
		else if (rep[0]->type == REDIS_REPLY_ERROR)
			rc = gb_errf(err, GB_EIO, "redis at %s: GET: %.160s", r->where,
			    rep[0]->str);
		redis_replies_free(rep, b.n);
	}
	redis_batch_free(&b);
	return rc;
}
