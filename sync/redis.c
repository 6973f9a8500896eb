/*
 * redis.c - the cluster's Redis keys through hiredis 0.14 (blocking API).
 *
 * Every call builds a batch of commands (argv copies), sends it in one
 * write and reads every reply (one round trip), so a heartbeat round for
 * all workers, a template or a registry costs one round trip. The context
 * is made on the first call (connect, AUTH, SELECT) and dropped on any
 * connection error or timeout (its replies could be out of step); the next
 * call connects again. A call that finds a reused connection closed by the
 * server (EOF, reset: a restarted Redis) reconnects and sends its batch once
 * more; every batch is idempotent, so a batch that arrived twice does no harm.
 * Socket timeouts are set from what is left of timeout_ms for the call.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>

#include "../base/gbtime.h"
#include "../base/json.h"
#include "../storage/docs.h"
#include "../storage/heartbeat.h"
#include "../storage/outbox.h"
#include "../storage/pipestats.h"
#include "redis.h"

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

struct sync_redis {
	redisContext *c;	/* NULL until connected, and after a failure */
	char host[256];		/* host name or address; the socket path when unix */
	int port;		/* 0: unix socket */
	char user[128];
	char pass[256];
	int db;
	int timeout_ms;
	char where[300];	/* "host:port" or "unix:/path", for messages */
};

/* One pipeline of commands, each an argv of NUL-terminated copies. */
struct rcmd {
	int argc;
	char **argv;
};
struct rbatch {
	struct rcmd *cmds;
	int n, cap;
	int oom;
};

static void
rbatch_free(struct rbatch *b)
{
	for (int i = 0; i < b->n; i++) {
		for (int j = 0; j < b->cmds[i].argc; j++)
			free(b->cmds[i].argv[j]);
		free(b->cmds[i].argv);
	}
	free(b->cmds);
	memset(b, 0, sizeof(*b));
}

/* Add a command of argc arguments (copied). */
static void
rbatch_addv(struct rbatch *b, int argc, const char *const *argv)
{
	struct rcmd *cmd;

	if (b->oom)
		return;
	if (b->n == b->cap) {
		int cap = b->cap ? b->cap * 2 : 8;
		struct rcmd *p = realloc(b->cmds, (size_t)cap * sizeof(*p));

		if (!p) {
			b->oom = 1;
			return;
		}
		b->cmds = p;
		b->cap = cap;
	}
	cmd = &b->cmds[b->n];
	if (!(cmd->argv = calloc((size_t)argc, sizeof(char *)))) {
		b->oom = 1;
		return;
	}
	cmd->argc = argc;
	b->n++;
	for (int i = 0; i < argc; i++)
		if (!(cmd->argv[i] = strdup(argv[i])))
			b->oom = 1;
}

/* Add a command from a NULL-terminated list of strings (at most 16). */
static void
rbatch_add(struct rbatch *b, const char *arg0, ...)
{
	const char *argv[16];
	int argc = 0;
	va_list ap;

	va_start(ap, arg0);
	for (const char *a = arg0; a && argc < 16; a = va_arg(ap, const char *))
		argv[argc++] = a;
	va_end(ap);
	rbatch_addv(b, argc, argv);
}

static void
replies_free(redisReply **rep, int n)
{
	if (!rep)
		return;
	for (int i = 0; i < n; i++)
		if (rep[i])
			freeReplyObject(rep[i]);
	free(rep);
}

/* Percent-decode src[0..len) into dst (size bytes); -1 when bad or too long. */
static int
url_decode(char *dst, size_t size, const char *src, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		int ch = (unsigned char)src[i];

		if (ch == '%') {
			char hex[3];
			char *end;

			if (i + 2 >= len)
				return -1;
			hex[0] = src[i + 1];
			hex[1] = src[i + 2];
			hex[2] = 0;
			ch = (int)strtol(hex, &end, 16);
			if (end != hex + 2)
				return -1;
			i += 2;
		}
		if (o + 1 >= size)
			return -1;
		dst[o++] = (char)ch;
	}
	dst[o] = 0;
	return 0;
}

/* host[:port][/db] of a redis:// URL, after any userinfo. */
static int
url_hostpart(struct sync_redis *r, const char *p, struct gb_err *err)
{
	const char *hend, *slash = strchr(p, '/');
	size_t plen = slash ? (size_t)(slash - p) : strlen(p);
	char *end;
	long v;

	r->port = 6379;
	if (*p == '[') {
		const char *rb = memchr(p, ']', plen);

		if (!rb)
			return gb_errf(err, GB_EINVAL, "redis url: unclosed '[' in the host");
		if ((size_t)(rb - p - 1) >= sizeof(r->host))
			return gb_errf(err, GB_EINVAL, "redis url: host too long");
		memcpy(r->host, p + 1, (size_t)(rb - p - 1));
		r->host[rb - p - 1] = 0;
		hend = rb + 1;
	} else {
		const char *colon = memchr(p, ':', plen);

		hend = colon ? colon : p + plen;
		if ((size_t)(hend - p) >= sizeof(r->host))
			return gb_errf(err, GB_EINVAL, "redis url: host too long");
		memcpy(r->host, p, (size_t)(hend - p));
		r->host[hend - p] = 0;
	}
	if (!r->host[0])
		return gb_errf(err, GB_EINVAL, "redis url: no host");
	if (*hend == ':') {
		errno = 0;
		v = strtol(hend + 1, &end, 10);
		if (end == hend + 1 || end != p + plen || errno || v < 1 || v > 65535)
			return gb_errf(err, GB_EINVAL, "redis url: bad port");
		r->port = (int)v;
	} else if (hend != p + plen) {
		return gb_errf(err, GB_EINVAL, "redis url: bad host");
	}
	if (slash && slash[1]) {
		errno = 0;
		v = strtol(slash + 1, &end, 10);
		if (*end || errno || v < 0 || v > 1000000 || end == slash + 1)
			return gb_errf(err, GB_EINVAL, "redis url: bad database number");
		r->db = (int)v;
	}
	return 0;
}

/* redis://[[user]:password@]host[:port][/db] or unix:/path; never echoes the password. */
static int
url_parse(struct sync_redis *r, const char *url, struct gb_err *err)
{
	const char *p, *at, *colon;
	int rc;

	if (!strncmp(url, "unix:", 5)) {
		p = url + 5;
		if (*p != '/' || strlen(p) >= sizeof(r->host))
			return gb_errf(err, GB_EINVAL, "redis url: 'unix:' needs an absolute path");
		snprintf(r->host, sizeof(r->host), "%s", p);
		r->port = 0;
		snprintf(r->where, sizeof(r->where), "unix:%.290s", p);
		return 0;
	}
	if (!strncmp(url, "rediss://", 9))
		return gb_errf(err, GB_EINVAL, "redis url: TLS (rediss://) is not supported");
	if (strncmp(url, "redis://", 8))
		return gb_errf(err, GB_EINVAL,
		    "redis url: must start with 'redis://' or 'unix:'");
	p = url + 8;
	at = strrchr(p, '@');
	if (at) {
		colon = memchr(p, ':', (size_t)(at - p));
		if (!colon)
			return gb_errf(err, GB_EINVAL,
			    "redis url: userinfo needs ':' before the password");
		if (url_decode(r->user, sizeof(r->user), p, (size_t)(colon - p)) ||
		    url_decode(r->pass, sizeof(r->pass), colon + 1, (size_t)(at - colon - 1)))
			return gb_errf(err, GB_EINVAL, "redis url: bad or too long user or password");
		p = at + 1;
	}
	if ((rc = url_hostpart(r, p, err)))
		return rc;
	snprintf(r->where, sizeof(r->where), strchr(r->host, ':') ? "[%s]:%d" : "%s:%d",
	    r->host, r->port);
	return 0;
}

int
sync_redis_new(struct sync_redis **out, const char *url, int timeout_ms, struct gb_err *err)
{
	struct sync_redis *r;
	int rc;

	*out = NULL;
	if (!url || !*url)
		return gb_errf(err, GB_EINVAL, "redis url: empty");
	if (timeout_ms <= 0)
		return gb_errf(err, GB_EINVAL, "redis timeout of %d ms: must be positive", timeout_ms);
	if (!(r = calloc(1, sizeof(*r))))
		return gb_errf(err, GB_ENOMEM, "out of memory");
	r->timeout_ms = timeout_ms;
	if ((rc = url_parse(r, url, err))) {
		sync_redis_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

static void
redis_drop(struct sync_redis *r)
{
	if (r->c)
		redisFree(r->c);
	r->c = NULL;
}

void
sync_redis_free(struct sync_redis *r)
{
	if (!r)
		return;
	redis_drop(r);
	explicit_bzero(r->pass, sizeof(r->pass));
	free(r);
}

static struct timeval
ms_tv(int64_t ms)
{
	struct timeval tv;

	if (ms < 1)
		ms = 1;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000 * 1000);
	return tv;
}

/* The code for an error reply: unreachable-like states are transient, auth refusals EPERM. */
static int
reply_err_code(const char *s)
{
	static const char *const transient[] = { "LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN",
	    "CLUSTERDOWN", "READONLY", "MISCONF", NULL };

	if (!strncmp(s, "NOAUTH", 6) || !strncmp(s, "WRONGPASS", 9) || !strncmp(s, "NOPERM", 6))
		return GB_EPERM;
	for (int i = 0; transient[i]; i++)
		if (!strncmp(s, transient[i], strlen(transient[i])))
			return GB_ETRANSIENT;
	return GB_EIO;
}

/* An error for a failed context (connection or I/O); eno is errno right after. */
static int
ctx_err(struct sync_redis *r, const char *what, int eno, struct gb_err *err)
{
	redisContext *c = r->c;

	if (c && c->err == REDIS_ERR_IO && (eno == EAGAIN || eno == EWOULDBLOCK ||
	    eno == EINPROGRESS || eno == ETIMEDOUT))
		return gb_errf(err, GB_ETRANSIENT, "redis at %s: no answer within %d ms (%s)",
		    r->where, r->timeout_ms, what);
	if (c && c->err == REDIS_ERR_OOM)
		return gb_errf(err, GB_ENOMEM, "redis at %s: out of memory", r->where);
	return gb_errf(err, GB_ETRANSIENT, "redis at %s: %s (%s)", r->where,
	    c ? c->errstr : "cannot allocate a context", what);
}

/* One command on the fresh context (AUTH, SELECT); error replies mapped with code. */
static int
redis_setup_cmd(struct sync_redis *r, int argc, const char **argv, int code,
    const char *what, struct gb_err *err)
{
	redisReply *rep = redisCommandArgv(r->c, argc, argv, NULL);
	int rc = 0;

	if (!rep)
		return ctx_err(r, what, errno, err);
	if (rep->type == REDIS_REPLY_ERROR) {
		int c2 = reply_err_code(rep->str);

		rc = gb_errf(err, c2 == GB_ETRANSIENT ? c2 : code, "redis at %s: %s refused: %.160s",
		    r->where, what, rep->str);
	}
	freeReplyObject(rep);
	return rc;
}

/* Connect, AUTH and SELECT, within ms. */
static int
redis_connect(struct sync_redis *r, int64_t ms, struct gb_err *err)
{
	const char *argv[3];
	char db[16];
	int rc;

	if (r->port)
		r->c = redisConnectWithTimeout(r->host, r->port, ms_tv(ms));
	else
		r->c = redisConnectUnixWithTimeout(r->host, ms_tv(ms));
	if (!r->c || r->c->err) {
		rc = ctx_err(r, "connect", errno, err);
		goto out;
	}
	if (redisSetTimeout(r->c, ms_tv(ms)) != REDIS_OK) {
		rc = ctx_err(r, "set timeout", errno, err);
		goto out;
	}
	if (r->pass[0] || r->user[0]) {
		int argc = 0;

		argv[argc++] = "AUTH";
		if (r->user[0])
			argv[argc++] = r->user;
		argv[argc++] = r->pass;
		if ((rc = redis_setup_cmd(r, argc, argv, GB_EPERM, "AUTH", err)))
			goto out;
	}
	if (r->db) {
		snprintf(db, sizeof(db), "%d", r->db);
		argv[0] = "SELECT";
		argv[1] = db;
		if ((rc = redis_setup_cmd(r, 2, argv, GB_EINVAL, "SELECT", err)))
			goto out;
	}
	return 0;
out:
	redis_drop(r);
	return rc;
}

/* Was this failure a connection the server closed (worth one retry on a fresh one)? */
static int
ctx_closed(const redisContext *c, int eno)
{
	return c->err == REDIS_ERR_EOF ||
	    (c->err == REDIS_ERR_IO && (eno == ECONNRESET || eno == EPIPE));
}

/* Send b and read its replies once; *closed when the reused connection was closed. */
static int
redis_send(struct sync_redis *r, struct rbatch *b, int64_t deadline, redisReply **rep,
    int *closed, struct gb_err *err)
{
	int fresh = 0, rc = 0, eno;

	*closed = 0;
	if (!r->c) {
		if ((rc = redis_connect(r, deadline - gb_mono_ms(), err)))
			return rc;
		fresh = 1;
	}
	if (!fresh && redisSetTimeout(r->c, ms_tv(deadline - gb_mono_ms())) != REDIS_OK) {
		rc = ctx_err(r, "set timeout", errno, err);
		redis_drop(r);
		return rc;
	}
	for (int i = 0; i < b->n; i++)
		if (redisAppendCommandArgv(r->c, b->cmds[i].argc, (const char **)b->cmds[i].argv,
		    NULL) != REDIS_OK) {
			redis_drop(r);
			return gb_errf(err, GB_ENOMEM, "out of memory");
		}
	for (int i = 0; i < b->n; i++) {
		void *v = NULL;

		errno = 0;
		if (redisGetReply(r->c, &v) != REDIS_OK || !v) {
			eno = errno;
			if (!fresh && ctx_closed(r->c, eno)) {
				*closed = 1;
				rc = GB_ETRANSIENT;
			} else {
				rc = ctx_err(r, b->cmds[i].argv[0], eno, err);
			}
			redis_drop(r);
			return rc;
		}
		rep[i] = v;
	}
	return 0;
}

/*
 * Run b in one round trip; *out gets its n replies (caller frees with
 * replies_free). Error replies are left to the caller except the ones
 * that say the server cannot serve (transient) or wants a password (EPERM).
 */
static int
redis_exec(struct sync_redis *r, struct rbatch *b, redisReply ***out, struct gb_err *err)
{
	int64_t deadline = gb_mono_ms() + r->timeout_ms;
	redisReply **rep = NULL;
	int rc, closed;

	*out = NULL;
	if (b->oom || !(rep = calloc((size_t)b->n + 1, sizeof(*rep)))) {
		rc = gb_errf(err, GB_ENOMEM, "out of memory");
		goto out;
	}
	rc = redis_send(r, b, deadline, rep, &closed, err);
	if (rc && closed) {
		for (int i = 0; i < b->n; i++) {
			if (rep[i])
				freeReplyObject(rep[i]);
			rep[i] = NULL;
		}
		rc = redis_send(r, b, deadline, rep, &closed, err);
		if (rc && closed)
			rc = gb_errf(err, GB_ETRANSIENT, "redis at %s: connection closed", r->where);
	}
	if (rc)
		goto out;
	for (int i = 0; i < b->n; i++) {
		int code;

		if (rep[i]->type != REDIS_REPLY_ERROR)
			continue;
		if ((code = reply_err_code(rep[i]->str)) == GB_EIO)
			continue;
		rc = gb_errf(err, code, "redis at %s: %s: %.160s", r->where, b->cmds[i].argv[0],
		    rep[i]->str);
		if (code == GB_EPERM)
			redis_drop(r);
		goto out;
	}
	*out = rep;
	rep = NULL;
out:
	replies_free(rep, b->n);
	return rc;
}

/* Run b and check that no reply is an error; the replies are dropped. */
static int
redis_run(struct sync_redis *r, struct rbatch *b, struct gb_err *err)
{
	redisReply **rep;
	int rc;

	if ((rc = redis_exec(r, b, &rep, err)))
		return rc;
	for (int i = 0; i < b->n && !rc; i++) {
		const redisReply *e = rep[i];

		/* an EXEC's array holds the replies of the commands of the transaction */
		for (size_t k = 0; e->type == REDIS_REPLY_ARRAY && k < rep[i]->elements; k++)
			if (rep[i]->element[k]->type == REDIS_REPLY_ERROR)
				e = rep[i]->element[k];
		if (e->type == REDIS_REPLY_ERROR)
			rc = gb_errf(err, GB_EIO, "redis at %s: %s %.100s: %.160s", r->where,
			    b->cmds[i].argv[0], b->cmds[i].argc > 1 ? b->cmds[i].argv[1] : "",
			    e->str);
	}
	replies_free(rep, b->n);
	return rc;
}

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
sync_redis_ping(struct sync_redis *r, struct gb_err *err)
{
	struct rbatch b = { 0 };
	int rc;

	rbatch_add(&b, "PING", NULL);
	rc = redis_run(r, &b, err);
	rbatch_free(&b);
	return rc;
}

int
sync_redis_heartbeats(struct sync_redis *r, struct store *st, int64_t now_ms, int *n,
    struct gb_err *err)
{
	struct store_heartbeat *hb;
	struct rbatch b = { 0 };
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
		rbatch_add(&b, "HSET", key, "last_seen", seen, "status", hb[i].status,
		    "processing_count", count, "host", hb[i].host, NULL);
		rbatch_add(&b, "EXPIRE", key, HEARTBEAT_TTL_S, NULL);
	}
	if (nhb && !(rc = redis_run(r, &b, err)))
		*n = nhb;
out:
	rbatch_free(&b);
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
stats_add_group(struct rbatch *b, struct pipeline_stat_row **g, int k, const char *cutoff,
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
	rbatch_addv(b, argc, argv);
	rbatch_add(b, "ZREMRANGEBYSCORE", key, "-inf", cutoff, NULL);
	rbatch_add(b, "EXPIRE", key, STATS_TTL_S, NULL);
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
	struct rbatch b = { 0 };
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
		for (j = i + 1; j < nlive && !strcmp(live[j]->pipeline_id, live[i]->pipeline_id); j++)
			;
		if ((rc = stats_add_group(&b, live + i, j - i, cutoff, argv, num, err)))
			goto out;
	}
	if (b.n && (rc = redis_run(r, &b, err)))
		goto out;
	*sent = nlive;
out:
	rbatch_free(&b);
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
	struct rbatch b = { 0 };
	const cJSON *sv;
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
	structure = sv ? cJSON_PrintUnformatted(sv) : strdup("null");
	json_date_text(cJSON_GetObjectItemCaseSensitive(j, "updated_at"), updated);
	if (!name || !version || !structure) {
		rc = gb_errf(err, GB_ENOMEM, "out of memory");
		goto out;
	}
	rbatch_add(&b, "HSET", key, "name", name, "version", version, "structure", structure,
	    "updated_at", updated, NULL);
	rbatch_add(&b, "EXPIRE", key, TEMPLATE_TTL_S, NULL);
	rc = redis_run(r, &b, err);
out:
	rbatch_free(&b);
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
	const char *type;
	int rc = GB_ENOMEM;

	if (!j)
		return GB_EINVAL;
	if (!(type = json_get_str(j, "type")) || !*type) {
		rc = 0;		/* no type, no field for it */
		goto out;
	}
	if (!(e = cJSON_CreateObject()) ||
	    !cJSON_AddStringToObject(e, "_id", json_get_str(j, "_id") ? json_get_str(j, "_id") : "") ||
	    !cJSON_AddStringToObject(e, "name", json_get_str(j, "name") ? json_get_str(j, "name") : ""))
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
	struct rbatch b = { 0 };
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
		rbatch_add(&b, "MULTI", NULL);
		rbatch_add(&b, "DEL", key, NULL);
		rbatch_addv(&b, argc, argv);
		rbatch_add(&b, "EXPIRE", key, REGISTRY_TTL_S, NULL);
		rbatch_add(&b, "EXEC", NULL);
	} else {
		rbatch_add(&b, "DEL", key, NULL);
	}
	rc = redis_run(r, &b, err);
out:
	for (int i = 0; texts && i < k; i++)
		free(texts[i]);
	free(texts);
	free(argv);
	rbatch_free(&b);
	cJSON_Delete(types);
	return rc;
}

static int
redis_del(struct sync_redis *r, const char *prefix, const char *id, const char *what,
    struct gb_err *err)
{
	struct rbatch b = { 0 };
	char key[KEY_MAX];
	int rc;

	if ((rc = redis_key(key, prefix, id, what, err)))
		return rc;
	rbatch_add(&b, "DEL", key, NULL);
	rc = redis_run(r, &b, err);
	rbatch_free(&b);
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
lock_cmd(struct sync_redis *r, struct rbatch *b, long long *val, struct gb_err *err)
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
	replies_free(rep, b->n);
	return rc;
}

static int
lock_script(struct sync_redis *r, const char *script, const char *key, const char *worker_id,
    long long *val, struct gb_err *err)
{
	struct rbatch b = { 0 };
	int rc;

	rbatch_add(&b, "EVAL", script, "1", key, worker_id, LOCK_TTL_MS, NULL);
	rc = lock_cmd(r, &b, val, err);
	rbatch_free(&b);
	return rc;
}

int
sync_redis_lock(struct sync_redis *r, const char *ctx_id, const char *worker_id, int *got,
    struct gb_err *err)
{
	struct rbatch b = { 0 };
	char key[KEY_MAX];
	long long val;
	int rc;

	*got = 0;
	if ((rc = redis_key(key, "worker_lock:", ctx_id, "context id", err)))
		return rc;
	if (!worker_id || !*worker_id)
		return gb_errf(err, GB_EINVAL, "redis: empty worker id");
	rbatch_add(&b, "SET", key, worker_id, "NX", "PX", LOCK_TTL_MS, NULL);
	rc = lock_cmd(r, &b, &val, err);
	rbatch_free(&b);
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
	if ((rc = redis_key(key, "worker_lock:", ctx_id, "context id", err)))
		return rc;
	if (!worker_id || !*worker_id)
		return gb_errf(err, GB_EINVAL, "redis: empty worker id");
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

	if ((rc = redis_key(key, "worker_lock:", ctx_id, "context id", err)))
		return rc;
	if (!worker_id || !*worker_id)
		return gb_errf(err, GB_EINVAL, "redis: empty worker id");
	return lock_script(r, lock_release_lua, key, worker_id, &val, err);
}
