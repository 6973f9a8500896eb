/*
 * redis_conn.h - inside sync/ only: the connection of a struct sync_redis
 * and its one-round-trip pipelines, shared by redis_conn.c (the URL, the
 * connection, its errors) and redis.c (the keys).
 *
 * Same thread rule as redis.h: a struct sync_redis and its batches belong
 * to one thread.
 */
#ifndef GB_SYNC_REDIS_CONN_H
#define GB_SYNC_REDIS_CONN_H

#include <hiredis/hiredis.h>

#include "redis.h"

struct sync_redis {
	redisContext *c;	/* NULL until connected, and after a failure */
	char host[256];		/* host name or address; the socket path when unix */
	int port;		/* 0: unix socket */
	char user[128];
	char pass[256];
	int db;
	int timeout_ms;
	char where[300];	/* "host:port" or "unix:/path", for messages; no password */
};

/* One pipeline of commands, each an argv of NUL-terminated copies. */
struct redis_cmd {
	int argc;
	char **argv;
};
struct redis_batch {
	struct redis_cmd *cmds;
	int n, cap;
	int oom;		/* a copy failed: redis_exec says GB_ENOMEM */
};

void redis_batch_free(struct redis_batch *b);
/* Add a command of argc arguments (copied). */
void redis_batch_addv(struct redis_batch *b, int argc, const char *const *argv);
/* Add a command from a NULL-terminated list of at most 16 strings (copied). */
void redis_batch_add(struct redis_batch *b, const char *arg0, ...)
	__attribute__((sentinel));
void redis_replies_free(redisReply **rep, int n);

/*
 * Run b in one round trip (connecting first when needed) within the
 * timeout; *out gets its b->n replies (caller frees with
 * redis_replies_free). Error replies are left to the caller, except those
 * saying the server cannot serve now (GB_ETRANSIENT: LOADING, BUSY, ...)
 * or wants a password (GB_EPERM: NOAUTH, WRONGPASS, NOPERM).
 */
int redis_exec(struct sync_redis *r, struct redis_batch *b, redisReply ***out,
    struct gb_err *err);
/* redis_exec, and GB_EIO for any error reply (one level into EXEC's array); replies dropped. */
int redis_run(struct sync_redis *r, struct redis_batch *b, struct gb_err *err);

#endif
