/*
 * redis_conn.c - the connection of a struct sync_redis (hiredis 0.14,
 * blocking API): its URL, connecting with AUTH and SELECT, one round trip
 * per batch, and what failures mean.
 *
 * Every call sends a batch of commands (argv copies) in one write and reads
 * every reply, so one call is one round trip. The context is made on the
 * first call and dropped on any connection error or timeout (its replies
 * could be out of step); the next call connects again. A call that finds a
 * reused connection closed by the server (EOF, reset: a restarted Redis)
 * reconnects and sends its batch once more: the callers' batches are
 * idempotent, so one that arrived twice does no harm. The socket timeouts
 * are set from what is left of timeout_ms for the call.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "../base/gbtime.h"
#include "redis_conn.h"

void
redis_batch_free(struct redis_batch *b)
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
void
redis_batch_addv(struct redis_batch *b, int argc, const char *const *argv)
{
	struct redis_cmd *cmd;

	if (b->oom)
		return;
	if (b->n == b->cap) {
		int cap = b->cap ? b->cap * 2 : 8;
		struct redis_cmd *p = realloc(b->cmds, (size_t)cap * sizeof(*p));

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
void
redis_batch_add(struct redis_batch *b, const char *arg0, ...)
{
	const char *argv[16];
	int argc = 0;
	va_list ap;

	va_start(ap, arg0);
	for (const char *a = arg0; a && argc < 16; a = va_arg(ap, const char *))
		argv[argc++] = a;
	va_end(ap);
	redis_batch_addv(b, argc, argv);
}

void
redis_replies_free(redisReply **rep, int n)
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
			if (end != hex + 2 || ch == 0)
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
			return gb_errf(err, GB_EINVAL,
			    "redis url: bad or too long user or password");
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
		return gb_errf(err, GB_EINVAL, "redis timeout of %d ms: must be positive",
		    timeout_ms);
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

		rc = gb_errf(err, c2 == GB_ETRANSIENT ? c2 : code,
		    "redis at %s: %s refused: %.160s", r->where, what, rep->str);
	}
	freeReplyObject(rep);
	return rc;
}

/* Connect, AUTH and SELECT, by deadline (gb_mono_ms; name resolution is not bounded). */
static int
redis_connect(struct sync_redis *r, int64_t deadline, struct gb_err *err)
{
	int64_t ms = deadline - gb_mono_ms();
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
	if (redisSetTimeout(r->c, ms_tv(deadline - gb_mono_ms())) != REDIS_OK) {
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
redis_send(struct sync_redis *r, struct redis_batch *b, int64_t deadline, redisReply **rep,
    int *closed, struct gb_err *err)
{
	int fresh = 0, rc = 0, eno;

	*closed = 0;
	if (!r->c) {
		if ((rc = redis_connect(r, deadline, err)))
			return rc;
		fresh = 1;
	}
	if (redisSetTimeout(r->c, ms_tv(deadline - gb_mono_ms())) != REDIS_OK) {
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
 * redis_replies_free). Error replies are left to the caller except the ones
 * that say the server cannot serve (transient) or wants a password (EPERM).
 */
int
redis_exec(struct sync_redis *r, struct redis_batch *b, redisReply ***out, struct gb_err *err)
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
		/* a fresh connection: never "closed" again, its failure is in err */
		rc = redis_send(r, b, deadline, rep, &closed, err);
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
	redis_replies_free(rep, b->n);
	return rc;
}

/* Run b and check that no reply is an error; the replies are dropped. */
int
redis_run(struct sync_redis *r, struct redis_batch *b, struct gb_err *err)
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
			rc = gb_errf(err, GB_EIO, "redis at %s: %s%s%.100s: %.160s", r->where,
			    b->cmds[i].argv[0], b->cmds[i].argc > 1 ? " " : "",
			    b->cmds[i].argc > 1 ? b->cmds[i].argv[1] : "", e->str);
	}
	redis_replies_free(rep, b->n);
	return rc;
}

int
sync_redis_ping(struct sync_redis *r, struct gb_err *err)
{
	struct redis_batch b = { 0 };
	int rc;

	redis_batch_add(&b, "PING", NULL);
	rc = redis_run(r, &b, err);
	redis_batch_free(&b);
	return rc;
}
