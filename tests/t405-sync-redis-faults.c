/*
 * t405-sync-redis-faults - what sync's Redis client says when the server
 * refuses it or fails: a wrong or missing password (a private redis-server
 * with requirepass, also through a unix socket), user and password with a
 * database number, and a fake server that answers LOADING, BUSY or
 * WRONGTYPE or resets the connection in the middle of a big batch.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "../sync/redis.h"
#include "peer.h"
#include "tap.h"
#include "util.h"

static struct gb_err err;

/*
 * A second private redis-server that requires pass (peer.h's has no
 * password), on a free port *p; its pid.
 */
static pid_t
redis_start_auth(const char *pass, int *p)
{
	char sport[16], log[512], sock[512];
	char *argv[16];
	int n = 0;
	pid_t pid;

	*p = peer_free_port();
	snprintf(sport, sizeof(sport), "%d", *p);
	snprintf(log, sizeof(log), "%s/redis-auth.log", util_tmpdir());
	snprintf(sock, sizeof(sock), "%s/redis-auth.sock", util_tmpdir());
	argv[n++] = "/usr/bin/redis-server";
	argv[n++] = "--bind";
	argv[n++] = "127.0.0.1";
	argv[n++] = "--port";
	argv[n++] = sport;
	argv[n++] = "--save";
	argv[n++] = "";
	argv[n++] = "--appendonly";
	argv[n++] = "no";
	argv[n++] = "--daemonize";
	argv[n++] = "no";
	argv[n++] = "--requirepass";
	argv[n++] = (char *)pass;
	argv[n++] = "--unixsocket";
	argv[n++] = sock;
	argv[n] = NULL;
	pid = util_spawn(argv, log, 0);
	for (int i = 0; i < 500; i++) {
		struct timeval tv = { 0, 100000 };
		redisContext *c = redisConnectWithTimeout("127.0.0.1", *p, tv);
		int up = c && !c->err;

		redisFree(c);
		if (up)
			return pid;
		usleep(10000);
	}
	tap_bail("redis-server on port %d did not start (see %s)", *p, log);
}

static void
redis_kill(pid_t pid)
{
	int status;

	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
}

static void
test_auth(void)
{
	int p;
	pid_t pid = redis_start_auth("right-pass", &p);
	struct sync_redis *r;
	char url[256], where[64];

	snprintf(where, sizeof(where), "127.0.0.1:%d", p);
	snprintf(url, sizeof(url), "redis://:wrong-pass@127.0.0.1:%d", p);
	sync_redis_new(&r, url, 2000, &err);
	gb_err_clear(&err);
	is_int(sync_redis_ping(r, &err), GB_EPERM, "a wrong password: GB_EPERM");
	like(err.msg, "WRONGPASS", "the server's word: %s", err.msg);
	like(err.msg, where, "naming the server");
	ok(!strstr(err.msg, "wrong-pass"), "not the password");
	sync_redis_free(r);

	snprintf(url, sizeof(url), "redis://127.0.0.1:%d", p);
	sync_redis_new(&r, url, 2000, &err);
	gb_err_clear(&err);
	is_int(sync_redis_lock(r, "ctx_1", "w", &(int){ 0 }, &err), GB_EPERM,
	    "no password where one is needed: GB_EPERM");
	like(err.msg, "NOAUTH", "the server's word: %s", err.msg);
	sync_redis_free(r);

	snprintf(url, sizeof(url), "unix:%s/redis-auth.sock", util_tmpdir());
	sync_redis_new(&r, url, 2000, &err);
	gb_err_clear(&err);
	is_int(sync_redis_ping(r, &err), GB_EPERM, "through a unix socket: connected, NOAUTH");
	like(err.msg, url, "the message names the socket: %s", err.msg);
	sync_redis_free(r);

	snprintf(url, sizeof(url), "redis://default:right-pass@127.0.0.1:%d/2", p);
	sync_redis_new(&r, url, 2000, &err);
	gb_err_clear(&err);
	is_int(sync_redis_template_drop(r, "tmpl_x", &err), 0, "user and password: it works");
	is_int(sync_redis_lock(r, "ctx_db", "w", &(int){ 0 }, &err), 0, "a lock in database 2");
	{
		redisContext *c = redisConnect("127.0.0.1", p);
		redisReply *rep;

		freeReplyObject(redisCommand(c, "AUTH right-pass"));
		freeReplyObject(redisCommand(c, "SELECT 2"));
		rep = redisCommand(c, "GET worker_lock:ctx_db");
		ok(rep && rep->type == REDIS_REPLY_STRING && !strcmp(rep->str, "w"),
		    "is in database 2 (SELECT on connect)");
		freeReplyObject(rep);
		redisFree(c);
	}
	sync_redis_free(r);
	redis_kill(pid);
}

/*
 * A fake server on a free port, in a child: to every connection it answers
 * reply to whatever comes first, or (reply NULL) resets it once the client
 * had time to fill its socket buffers. *pid the child; returns "127.0.0.1:N".
 */
static const char *
fake_start(const char *reply, pid_t *pid)
{
	static char where[64];
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	struct linger lg = { 1, 0 };
	char buf[4096];
	int lfd;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, 8) ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen))
		tap_bail("listen: %s", strerror(errno));
	if ((*pid = fork()) == 0) {
		for (;;) {
			int c = accept(lfd, NULL, NULL);

			if (c < 0)
				_exit(0);
			if (reply) {
				while (read(c, buf, sizeof(buf)) > 0)
					if (write(c, reply, strlen(reply)) < 0)
						break;
			} else {
				usleep(20000);
				setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			}
			close(c);
		}
	}
	close(lfd);
	snprintf(where, sizeof(where), "127.0.0.1:%d", ntohs(a.sin_port));
	return where;
}

static void
fake_stop(pid_t pid)
{
	int status;

	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
}

/*
 * What error replies and a reset connection mean: LOADING and BUSY are
 * transient, WRONGTYPE is not; a server resetting the connection in the
 * middle of a big batch (the process does not ignore SIGPIPE) is transient.
 */
static void
test_fake(void)
{
	static const struct { const char *reply; int code; const char *what; } cases[] = {
		{ "-LOADING Redis is loading the dataset in memory\r\n", GB_ETRANSIENT, "LOADING" },
		{ "-BUSY Redis is busy running a script\r\n", GB_ETRANSIENT, "BUSY" },
		{ "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n", GB_EIO,
		    "WRONGTYPE" },
	};
	size_t big = 8 << 20;
	char url[96], *doc = malloc(big + 64);
	const char *where;
	struct sync_redis *r;
	int head;
	pid_t pid;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		where = fake_start(cases[i].reply, &pid);
		snprintf(url, sizeof(url), "redis://%s", where);
		sync_redis_new(&r, url, 2000, &err);
		gb_err_clear(&err);
		is_int(sync_redis_ping(r, &err), cases[i].code, "a %s reply: %s", cases[i].what,
		    gb_code_name(cases[i].code));
		like(err.msg, cases[i].what, "the server's word: %s", err.msg);
		like(err.msg, where, "naming the server");
		sync_redis_free(r);
		fake_stop(pid);
	}

	if (!doc)
		tap_bail("out of memory");
	head = snprintf(doc, 64, "{\"_id\": \"tmpl_big\", \"structure\": \"");
	memset(doc + head, 'x', big);
	memcpy(doc + head + big, "\"}", 3);
	where = fake_start(NULL, &pid);
	snprintf(url, sizeof(url), "redis://%s", where);
	sync_redis_new(&r, url, 2000, &err);
	gb_err_clear(&err);
	is_int(sync_redis_template_put(r, doc, strlen(doc), &err), GB_ETRANSIENT,
	    "a server resetting the connection mid-write: transient");
	like(err.msg, where, "naming the server: %s", err.msg);
	sync_redis_free(r);
	free(doc);
	fake_stop(pid);
}

int
main(void)
{
	test_auth();
	test_fake();
	return tap_done();
}
