/*
 * t403-sync-faults - the cluster going away and coming back, with the sync
 * threads running: MongoDB unreachable at start (local writes go on, sync
 * catches up when it appears), the link cut during a push (a TCP proxy
 * closing every connection) and the peer frozen past the socket timeout:
 * every row arrives exactly once and the outbox empties; a pushing process
 * killed with SIGKILL and a new one finishing: exactly once; wrong
 * credentials: state "auth", an error naming the user and not the
 * password, and few connection attempts (counted by the peer's connection
 * ids). GENBOX_MONGO_PEER picks the peer (jongodb has no authentication:
 * the credentials part runs against mongomock only).
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../base/gbtime.h"
#include "../storage/outbox.h"
#include "synctest.h"

#define USER "genbox"
#define PASS "s3cret-pw"

static struct gb_err err;
static mongoc_client_t *cl;
static int64_t total;		/* contexts written so far */
static int port;		/* the peer's own port */

static void
write_contexts(struct store *st, const char *prefix, int n)
{
	for (int i = 0; i < n; i++, total++)
		st_put(st, COLL_CONTEXTS, "{\"_id\":\"ctx_%s%05d\",\"organization_id\":\"org_123\","
		    "\"status\":\"pending\",\"data\":{\"i\":%d}}", prefix, i, i);
}

/* Wait (timeout_ms: a guard) until the outbox is empty. */
static int
wait_empty(struct store *st, int64_t timeout_ms)
{
	int64_t t0 = gb_mono_ms();

	while (st_depth(st) != 0) {
		if (gb_mono_ms() - t0 > timeout_ms)
			return 0;
		usleep(50 * 1000);
	}
	return 1;
}

static int
wait_state(struct sync *s, const char *state, int64_t timeout_ms)
{
	int64_t t0 = gb_mono_ms();

	while (strcmp(sync_state(s), state) != 0) {
		if (gb_mono_ms() - t0 > timeout_ms)
			return 0;
		usleep(50 * 1000);
	}
	return 1;
}

static int timeout_ms = 1500;

static struct sync *
new_sync(const char *db, const char *uri, int backoff_max_ms)
{
	struct sync_config cfg;
	struct sync *s;

	st_cfg(&cfg, db, uri, "box-t403");
	cfg.timeout_ms = timeout_ms;
	cfg.backoff_max_ms = backoff_max_ms;
	cfg.push_interval_ms = 100;
	cfg.pull_interval_ms = 600000;
	if (sync_new(&s, &cfg, &err))
		tap_bail("sync_new: %s", err.msg);
	return s;
}

static char *
uri_at(int p, const char *user, const char *pass)
{
	static char uri[256];

	if (user)
		snprintf(uri, sizeof(uri), "mongodb://%s:%s@127.0.0.1:%d/?authSource=admin", user,
		    pass, p);
	else
		snprintf(uri, sizeof(uri), "mongodb://127.0.0.1:%d/", p);
	return uri;
}

/* Nothing listens where the cluster should be: a clear error, nothing lost. */
static void
nobody_there(void)
{
	char pa[4096];
	struct store *st = st_box("nobody", pa, sizeof(pa));
	struct sync *s = new_sync(pa, uri_at(peer_free_port(), NULL, NULL), 1000);
	int64_t pushed = 0, t0 = gb_mono_ms();

	write_contexts(st, "n", 5);
	total -= 5;		/* never reach the cluster */
	is_int(sync_push_all(s, &pushed, &err), GB_ETRANSIENT, "no cluster: a transient error");
	like(err.msg, "cannot reach MongoDB", "... saying MongoDB cannot be reached");
	ok(gb_mono_ms() - t0 < 3 * timeout_ms, "... within the timeout (%" PRId64 " ms)",
	    gb_mono_ms() - t0);
	is_str(sync_state(s), "offline", "... state offline");
	is_int(st_depth(st), 5, "... the rows wait in the outbox");
	gb_err_clear(&err);
	sync_free(s);
	store_close(st);
}

/* Unreachable at start, then the link cut and the peer frozen mid-push. */
static void
link_faults(int with_auth, int n)
{
	char pa[4096], uri[256];
	struct store *st = st_box("link", pa, sizeof(pa));
	int proxy = peer_proxy_start(port);
	struct sync *s;

	snprintf(uri, sizeof(uri), "%s", uri_at(proxy, with_auth ? USER : NULL, PASS));
	peer_proxy_cut();
	s = new_sync(pa, uri, 1000);
	if (sync_start(s, &err))
		tap_bail("sync_start: %s", err.msg);
	write_contexts(st, "a", n);
	ok(wait_state(s, "offline", 10000), "unreachable at start: state offline");
	is_int(st_depth(st), n, "... the local writes went on, all in the outbox");
	peer_proxy_restore();
	ok(wait_empty(st, 30000), "the cluster appears: the outbox empties");
	is_str(sync_state(s), "ok", "... state ok");
	is_int(mt_count(cl, "contexts", "{}"), total, "... every row arrived once");

	write_contexts(st, "b", n);
	usleep(50 * 1000);
	tap_diag("the link is cut with %" PRId64 " of %d rows still to push", st_depth(st), n);
	peer_proxy_cut();
	write_contexts(st, "c", n / 4);
	usleep(2000 * 1000);
	ok(st_depth(st) >= n / 4, "the link cut: rows wait (%" PRId64 ")", st_depth(st));
	peer_proxy_restore();
	ok(wait_empty(st, 30000), "the link back: the outbox empties");
	is_int(mt_count(cl, "contexts", "{}"), total, "... every row arrived exactly once");

	peer_mongo_pause();
	write_contexts(st, "d", n / 4);
	usleep(2500 * 1000);
	ok(wait_state(s, "offline", 5000), "the peer frozen past the socket timeout: offline");
	peer_mongo_resume();
	ok(wait_empty(st, 30000), "the peer thawed: the outbox empties");
	is_int(mt_count(cl, "contexts", "{}"), total, "... every row arrived exactly once");
	sync_stop(s);
	sync_free(s);
	peer_proxy_stop();
	store_close(st);
}

/* A pushing process killed with SIGKILL; a new one finishes the job. */
static void
killed(const char *uri, int n)
{
	char pa[4096];
	struct store *st = st_box("kill", pa, sizeof(pa));
	int64_t before, seen = 0, t0;
	int status = 0;
	pid_t pid;

	/* a peer slow to write (jongodb) must not time out the new process's push */
	timeout_ms = 15000;
	write_contexts(st, "k", n);
	before = mt_count(cl, "contexts", "{}");
	if ((pid = fork()) == 0) {
		struct sync *s = new_sync(pa, uri, 1000);
		int64_t pushed;

		/* slow enough to be caught in the middle: many small rounds */
		_exit(sync_push_all(s, &pushed, &err) ? 1 : 0);
	}
	t0 = gb_mono_ms();
	while ((seen = mt_count(cl, "contexts", "{}") - before) <= 0 && gb_mono_ms() - t0 < 20000)
		usleep(2000);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	ok(WIFSIGNALED(status), "the pushing process was killed (%" PRId64 " of %d had arrived)",
	    mt_count(cl, "contexts", "{}") - before, n);
	{
		struct sync *s = new_sync(pa, uri, 1000);
		int64_t pushed = 0;

		is_int(sync_push_all(s, &pushed, &err), 0, "a new process pushes the rest (%s)",
		    err.msg);
		sync_free(s);
	}
	is_int(mt_count(cl, "contexts", "{}") - before, n, "every row arrived exactly once");
	is_int(st_depth(st), 0, "the outbox is empty");
	store_close(st);
	timeout_ms = 1500;
}

/* The connection id the peer gives the next connection, by opening one. */
static int64_t
next_conn_id(void)
{
	mongoc_client_t *c = mongoc_client_new(uri_at(port, NULL, NULL));
	bson_t cmd = BSON_INITIALIZER, reply;
	bson_iter_t it;
	int64_t id = -1;

	BSON_APPEND_INT32(&cmd, "hello", 1);
	if (mongoc_client_command_simple(c, "admin", &cmd, NULL, &reply, NULL) &&
	    bson_iter_init_find(&it, &reply, "connectionId"))
		id = bson_iter_as_int64(&it);
	bson_destroy(&reply);
	bson_destroy(&cmd);
	mongoc_client_destroy(c);
	return id;
}

static void
bad_credentials(void)
{
	char pa[4096];
	struct store *st = st_box("auth", pa, sizeof(pa));
	struct sync_coll_status all[COLL_COUNT];
	struct sync *s = new_sync(pa, uri_at(port, USER, "wrong-pw"), 30000);
	int64_t id0, id1, pushed = 0;

	write_contexts(st, "x", 3);
	is_int(sync_push_all(s, &pushed, &err), GB_EPERM, "wrong credentials: a permission error");
	like(err.msg, "credentials", "... saying the credentials were refused");
	like(err.msg, "'" USER "'", "... naming the user");
	ok(strstr(err.msg, "wrong-pw") == NULL, "... never the password");
	is_str(sync_state(s), "auth", "... state auth");
	gb_err_clear(&err);
	id0 = next_conn_id();
	if (sync_start(s, &err))
		tap_bail("sync_start: %s", err.msg);
	usleep(5000 * 1000);
	id1 = next_conn_id();
	sync_stop(s);
	ok(id1 - id0 - 1 <= 6, "in 5 s with the threads running: %" PRId64 " connections (no "
	    "retry storm)", id1 - id0 - 1);
	is_str(sync_state(s), "auth", "... state still auth");
	if (store_sync_status(st, all, &err))
		tap_bail("status: %s", err.msg);
	like(all[COLL_CONTEXTS].last_error, "credentials", "the status shows the error");
	is_int(st_depth(st), 3, "nothing left the outbox");
	sync_free(s);
	store_close(st);
}

int
main(void)
{
	enum peer_mongo kind = peer_mongo_kind_from_env();
	int auth = kind == PEER_MONGOMOCK;
	const char *uri;
	char good[256];
	int n = kind == PEER_JONGODB ? 120 : 800;

	uri = peer_mongo_start(kind, auth ? USER : NULL, auth ? PASS : NULL);
	snprintf(good, sizeof(good), "%s", uri);
	port = peer_mongo_port();
	cl = mt_client(good);
	nobody_there();
	link_faults(auth, n);
	killed(good, kind == PEER_JONGODB ? 150 : 3000);
	if (auth)
		bad_credentials();
	else
		tap_diag("jongodb has no authentication: the credentials checks run on mongomock");
	mongoc_client_destroy(cl);
	return tap_done();
}
