/*
 * t400-sync-peers - the sync suite's peers answer the real clients.
 *
 * libmongoc and hiredis only, no genbox code: the mongomock peer
 * (tests/peers/mongo-peer.py) takes a bulk insert, pages a sorted find
 * through getMore, reports per statement of an unordered bulk the
 * duplicate key of a guarded upsert (11000) and a document over 16 MiB
 * (10334), checks SCRAM-SHA-256 credentials (18 for a wrong password),
 * survives garbage on its socket and keeps its data through a SIGSTOP;
 * jongodb stores and finds; a private redis-server restarts on its port and
 * freezes; the TCP proxy carries a libmongoc client, cuts it and restores it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <mongoc/mongoc.h>

#include "../base/gbtime.h"
#include "peer.h"
#include "tap.h"

#define USER		"t400-user"
#define PASS		"p@ss:w/rd"
#define NDOCS		1000
#define T1		1700000000000LL		/* updated_at of the inserted documents */

static int getmores;

static void
count_getmore(const mongoc_apm_command_started_t *ev)
{
	if (strcmp(mongoc_apm_command_started_get_command_name(ev), "getMore") == 0)
		getmores++;
}

static mongoc_client_t *
client_new(const char *uri, const char *opts)
{
	char full[1200];
	mongoc_client_t *c;

	snprintf(full, sizeof(full), "%s%s%s", uri, strchr(uri, '?') ? "&" : "?", opts);
	if ((c = mongoc_client_new(full)) == NULL)
		tap_bail("mongoc_client_new('%s') failed", full);
	mongoc_client_set_error_api(c, MONGOC_ERROR_API_VERSION_2);
	return c;
}

static int
ping(mongoc_client_t *c, bson_error_t *err)
{
	bson_t cmd = BSON_INITIALIZER;
	bool ok;

	BSON_APPEND_INT32(&cmd, "ping", 1);
	ok = mongoc_client_command_simple(c, "admin", &cmd, NULL, NULL, err);
	bson_destroy(&cmd);
	return ok;
}

static void
insert_many(mongoc_collection_t *coll)
{
	bson_t *docs[NDOCS], reply;
	bson_error_t err = { 0 };
	bson_iter_t it;
	bool ok;

	for (int i = 0; i < NDOCS; i++)
		docs[i] = BCON_NEW("_id", BCON_INT32(i), "n", BCON_INT32(i), "org", "org_a",
		    "updated_at", BCON_DATE_TIME(T1 + i));
	ok = mongoc_collection_insert_many(coll, (const bson_t **)docs, NDOCS, NULL, &reply, &err);
	ok(ok, "mongomock: insert_many of %d documents (%s)", NDOCS, ok ? "ok" : err.message);
	is_int(bson_iter_init_find(&it, &reply, "insertedCount") ? bson_iter_as_int64(&it) : -1,
	    NDOCS, "mongomock: insertedCount");
	for (int i = 0; i < NDOCS; i++)
		bson_destroy(docs[i]);
	bson_destroy(&reply);
}

/* find sorted by n descending, limit 250 in batches of 100: three batches. */
static void
find_pages(mongoc_collection_t *coll)
{
	bson_t *filter = BCON_NEW("n", "{", "$gte", BCON_INT32(100), "}");
	bson_t *opts = BCON_NEW("sort", "{", "n", BCON_INT32(-1), "}", "limit", BCON_INT64(250),
	    "batchSize", BCON_INT32(100));
	mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
	const bson_t *doc;
	bson_error_t err = { 0 };
	bson_iter_t it;
	int n = 0, in_order = 1, last = NDOCS;

	getmores = 0;
	while (mongoc_cursor_next(cur, &doc)) {
		int v = bson_iter_init_find(&it, doc, "n") ? bson_iter_int32(&it) : -1;

		in_order &= v == last - 1;
		last = v;
		n++;
	}
	ok(!mongoc_cursor_error(cur, &err), "mongomock: find cursor without error (%s)",
	    err.message);
	is_int(n, 250, "mongomock: find with limit 250 returned 250 documents");
	ok(in_order && last == NDOCS - 250, "mongomock: sorted by n descending (999 .. 750)");
	is_int(getmores, 2, "mongomock: the cursor was paged with 2 getMore");
	mongoc_cursor_destroy(cur);
	bson_destroy(filter);
	bson_destroy(opts);
}

/* One write error of an unordered bulk's reply: its index and code. */
static int
write_error(const bson_t *reply, int k, int *index, const char **msg)
{
	bson_iter_t it, arr, doc, f;
	int i = 0, code = -1;

	if (!bson_iter_init_find(&it, reply, "writeErrors") || !bson_iter_recurse(&it, &arr))
		return -1;
	while (bson_iter_next(&arr))
		if (i++ == k && bson_iter_recurse(&arr, &doc)) {
			if (bson_iter_find(&doc, "index"))
				*index = bson_iter_int32(&doc);
			bson_iter_recurse(&arr, &f);
			if (bson_iter_find(&f, "code"))
				code = bson_iter_int32(&f);
			bson_iter_recurse(&arr, &f);
			if (bson_iter_find(&f, "errmsg"))
				*msg = bson_iter_utf8(&f, NULL);
		}
	return code;
}

static int64_t
reply_int(const bson_t *reply, const char *key)
{
	bson_iter_t it;

	return bson_iter_init_find(&it, reply, key) ? bson_iter_as_int64(&it) : -1;
}

static int64_t
doc_int(mongoc_collection_t *coll, int id, const char *key)
{
	bson_t *filter = BCON_NEW("_id", BCON_INT32(id));
	mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, NULL, NULL);
	const bson_t *doc;
	int64_t v = -1;
	bson_iter_t it;

	if (mongoc_cursor_next(cur, &doc) && bson_iter_init_find(&it, doc, key))
		v = bson_iter_as_int64(&it);
	mongoc_cursor_destroy(cur);
	bson_destroy(filter);
	return v;
}

/* replaceOne(_id, updated_at <= T, upsert) for ids 0..4 and 5000; id 2 is newer in the peer. */
static void
guarded_upserts(mongoc_collection_t *coll)
{
	bson_t *opts = BCON_NEW("ordered", BCON_BOOL(false)), reply;
	bson_t *newer = BCON_NEW("$set", "{", "updated_at", BCON_DATE_TIME(T1 + 10000000),
	    "v", BCON_INT32(7), "}");
	bson_t *two = BCON_NEW("_id", BCON_INT32(2));
	mongoc_bulk_operation_t *bulk;
	const char *msg = "";
	int ids[] = { 0, 1, 2, 3, 4, 5000 }, index = -1;
	bson_error_t err = { 0 };

	ok(mongoc_collection_update_one(coll, two, newer, NULL, NULL, &err),
	    "mongomock: update_one $set (%s)", err.message);
	bulk = mongoc_collection_create_bulk_operation_with_opts(coll, opts);
	for (int i = 0; i < 6; i++) {
		bson_t *q = BCON_NEW("_id", BCON_INT32(ids[i]), "org", "org_a", "updated_at", "{",
		    "$lte", BCON_DATE_TIME(T1 + 5000000), "}");
		bson_t *doc = BCON_NEW("_id", BCON_INT32(ids[i]), "org", "org_a", "n",
		    BCON_INT32(ids[i]), "v", BCON_INT32(1), "updated_at", BCON_DATE_TIME(T1 + 5000000));
		bson_t *uo = BCON_NEW("upsert", BCON_BOOL(true));

		mongoc_bulk_operation_replace_one_with_opts(bulk, q, doc, uo, NULL);
		bson_destroy(q);
		bson_destroy(doc);
		bson_destroy(uo);
	}
	ok(!mongoc_bulk_operation_execute(bulk, &reply, &err),
	    "mongomock: the bulk reports a write error");
	is_int(write_error(&reply, 0, &index, &msg), 11000,
	    "mongomock: the newer document's upsert is a duplicate key (%s)", msg);
	is_int(index, 2, "mongomock: ... for statement 2");
	is_int(write_error(&reply, 1, &index, &msg), -1, "mongomock: and only that one");
	is_int(reply_int(&reply, "nMatched"), 4, "mongomock: 4 replaced");
	is_int(reply_int(&reply, "nUpserted"), 1, "mongomock: 1 upserted");
	is_int(doc_int(coll, 2, "v"), 7, "mongomock: the newer copy of 2 is kept");
	is_int(doc_int(coll, 3, "v"), 1, "mongomock: 3 replaced");
	is_int(doc_int(coll, 5000, "v"), 1, "mongomock: 5000 inserted");
	mongoc_bulk_operation_destroy(bulk);
	bson_destroy(&reply);
	bson_destroy(opts);
	bson_destroy(newer);
	bson_destroy(two);
}

/* A document of about size bytes: _id and a string. */
static bson_t *
big_doc(int id, size_t size)
{
	char *s = malloc(size + 1);
	bson_t *doc = bson_new();

	if (s == NULL)
		tap_bail("out of memory");
	memset(s, 'x', size);
	s[size] = '\0';
	BSON_APPEND_INT32(doc, "_id", id);
	BSON_APPEND_UTF8(doc, "body", s);
	free(s);
	return doc;
}

/* An unordered bulk of three upserts whose middle document is over 16 MiB. */
static void
oversize(mongoc_collection_t *coll)
{
	bson_t *opts = BCON_NEW("ordered", BCON_BOOL(false)), reply;
	mongoc_bulk_operation_t *bulk = mongoc_collection_create_bulk_operation_with_opts(coll, opts);
	const char *msg = "";
	int index = -1;
	bson_error_t err = { 0 };

	for (int i = 0; i < 3; i++) {
		bson_t *q = BCON_NEW("_id", BCON_INT32(6000 + i));
		bson_t *doc = big_doc(6000 + i, i == 1 ? 16 * 1024 * 1024 + 100 : 1000);
		bson_t *uo = BCON_NEW("upsert", BCON_BOOL(true));

		mongoc_bulk_operation_replace_one_with_opts(bulk, q, doc, uo, NULL);
		bson_destroy(q);
		bson_destroy(doc);
		bson_destroy(uo);
	}
	ok(!mongoc_bulk_operation_execute(bulk, &reply, &err),
	    "mongomock: a bulk with a document over 16 MiB reports an error");
	is_int(write_error(&reply, 0, &index, &msg), 10334,
	    "mongomock: BSONObjectTooLarge for it (%s)", msg);
	is_int(index, 1, "mongomock: ... for statement 1 only");
	is_int(write_error(&reply, 1, &index, &msg), -1, "mongomock: no other error");
	is_int(reply_int(&reply, "nUpserted"), 2, "mongomock: the two others upserted");
	is_int(doc_int(coll, 6001, "_id"), -1, "mongomock: the large one is not stored");
	mongoc_bulk_operation_destroy(bulk);
	bson_destroy(&reply);
	bson_destroy(opts);
}

/* Run cmd on db; returns the server's error code (0: ok). */
static int
command_code(mongoc_client_t *c, const char *db, const bson_t *cmd, bson_t *reply,
    bson_error_t *err)
{
	bson_t tmp;

	if (mongoc_client_command_simple(c, db, cmd, NULL, reply ? reply : &tmp, err)) {
		if (!reply)
			bson_destroy(&tmp);
		return 0;
	}
	if (!reply)
		bson_destroy(&tmp);
	return (int)err->code;
}

/* saslStart, then a saslContinue with a wrong proof: the server's own answer. */
static void
wrong_proof(mongoc_client_t *anon)
{
	const char *first = "n,,n=" USER ",r=t400clientnonce", *p;
	char server[512] = "", final[700];
	bson_t reply, *cont;
	bson_error_t err = { 0 };
	bson_iter_t it;
	const uint8_t *data;
	uint32_t len = 0;
	bson_subtype_t st;
	bson_t *start = BCON_NEW("saslStart", BCON_INT32(1), "mechanism", "SCRAM-SHA-256", "payload",
	    BCON_BIN(BSON_SUBTYPE_BINARY, (const uint8_t *)first, (uint32_t)strlen(first)));
	is_int(command_code(anon, "admin", start, &reply, &err), 0, "auth: saslStart answers (%s)",
	    err.message);
	if (bson_iter_init_find(&it, &reply, "payload") && BSON_ITER_HOLDS_BINARY(&it)) {
		bson_iter_binary(&it, &st, &len, &data);
		snprintf(server, sizeof(server), "%.*s", (int)len, (const char *)data);
	}
	bson_destroy(&reply);
	like(server, "r=t400clientnonce", "auth: the server's nonce extends the client's");
	p = strstr(server, "r=");
	snprintf(final, sizeof(final), "c=biws,r=%.*s,p=%s", p ? (int)strcspn(p + 2, ",") : 0,
	    p ? p + 2 : "", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
	cont = BCON_NEW("saslContinue", BCON_INT32(1), "conversationId", BCON_INT32(1), "payload",
	    BCON_BIN(BSON_SUBTYPE_BINARY, (const uint8_t *)final, (uint32_t)strlen(final)));
	is_int(command_code(anon, "admin", cont, NULL, &err), 18,
	    "auth: a wrong proof is AuthenticationFailed (18)");
	is_str(err.message, "Authentication failed.", "auth: ... with its message");
	bson_destroy(start);
	bson_destroy(cont);
}

static void
auth_checks(const char *bad_uri, const char *anon_uri)
{
	mongoc_client_t *bad = client_new(bad_uri, "serverSelectionTimeoutMS=3000");
	mongoc_client_t *anon = client_new(anon_uri, "serverSelectionTimeoutMS=3000");
	bson_t *find = BCON_NEW("find", "docs", "filter", "{", "}");
	bson_error_t err = { 0 };
	int ok;

	ok = ping(bad, &err);
	ok(!ok, "auth: a wrong password fails");
	tap_diag("wrong password: domain %u code %u: %s", err.domain, err.code, err.message);
	like(err.message, "Authentication failed", "auth: ... saying authentication failed");
	is_int(command_code(anon, "genbox", find, NULL, &err), 13,
	    "auth: a find without credentials is Unauthorized (13)");
	like(err.message, "requires authentication", "auth: ... saying it requires authentication");
	ok(ping(anon, &err), "auth: ping needs no credentials");
	wrong_proof(anon);
	bson_destroy(find);
	mongoc_client_destroy(bad);
	mongoc_client_destroy(anon);
}

/* Send bytes on a new raw connection; 1 when the peer then closes it within 3 s. */
static int
raw_closed_after(int port, const void *bytes, size_t len)
{
	struct timeval tv = { 3, 0 };
	struct sockaddr_in a;
	char buf[256];
	int fd = socket(AF_INET, SOCK_STREAM, 0), closed = 0;
	ssize_t n;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    send(fd, bytes, len, MSG_NOSIGNAL) == (ssize_t)len) {
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			;
		closed = n == 0 || (n < 0 && errno == ECONNRESET);
	}
	close(fd);
	return closed;
}

/* Little-endian message header + body. */
static size_t
wire_msg(unsigned char *out, int32_t length, int32_t op, const void *body, size_t blen)
{
	int32_t h[4] = { length, 7, 0, op };

	memcpy(out, h, sizeof(h));	/* x86-64: little-endian like the wire */
	memcpy(out + 16, body, blen);
	return 16 + blen;
}

static void
garbage(mongoc_client_t *c, int port)
{
	unsigned char junk[200], msg[300];
	unsigned char bad_section[] = { 0, 0, 0, 0, 9, 1, 2, 3, 4 };
	unsigned char bad_doc[] = { 0, 0, 0, 0, 0, 0x7f, 0, 0, 0, 3, 0 };
	bson_t *cmd = BCON_NEW("frobnicate", BCON_INT32(1));
	bson_error_t err = { 0 };
	size_t n;

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)(i * 37 + 11);
	ok(raw_closed_after(port, junk, sizeof(junk)), "garbage: junk bytes close the connection");
	n = wire_msg(msg, 16 + (int32_t)sizeof(bad_section), 2013, bad_section, sizeof(bad_section));
	ok(raw_closed_after(port, msg, n), "garbage: an OP_MSG with a bad section kind");
	n = wire_msg(msg, 16 + (int32_t)sizeof(bad_doc), 2013, bad_doc, sizeof(bad_doc));
	ok(raw_closed_after(port, msg, n), "garbage: an OP_MSG with a bad document length");
	n = wire_msg(msg, 1 << 30, 2013, bad_doc, sizeof(bad_doc));
	ok(raw_closed_after(port, msg, n), "garbage: a message claiming 1 GiB");
	n = wire_msg(msg, 16 + 100, 2013, junk, 20);
	{
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
			.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
			ok(send(fd, msg, 36, MSG_NOSIGNAL) == 36, "garbage: half a message, then gone");
		close(fd);
	}
	is_int(command_code(c, "admin", cmd, NULL, &err), 59, "garbage: an unknown command is 59");
	like(err.message, "no such command", "garbage: ... 'no such command' (%s)", err.message);
	ok(ping(c, &err), "garbage: the peer still answers (%s)", err.message);
	bson_destroy(cmd);
}

/* uri with its port replaced by port. */
static const char *
uri_port(const char *uri, int port)
{
	static char out[1024];
	const char *at = strstr(uri, "127.0.0.1:"), *rest;

	if (at == NULL || (rest = strchr(at + 10, '/')) == NULL)
		tap_bail("unexpected peer URI '%s'", uri);
	snprintf(out, sizeof(out), "%.*s127.0.0.1:%d%s", (int)(at - uri), uri, port, rest);
	return out;
}

static void
proxy_checks(const char *uri)
{
	int port = peer_proxy_start(peer_mongo_port());
	mongoc_client_t *c = client_new(uri_port(uri, port), "serverSelectionTimeoutMS=3000"
	    "&socketTimeoutMS=1500&connectTimeoutMS=1000&serverSelectionTryOnce=false");
	mongoc_collection_t *coll = mongoc_client_get_collection(c, "genbox", "proxied");
	bson_t *doc = BCON_NEW("_id", "through-proxy", "v", BCON_INT32(42));
	bson_error_t err = { 0 };
	int64_t t0;
	int got = 0, ms;

	ok(ping(c, &err), "proxy: a libmongoc client through it (%s)", err.message);
	ok(mongoc_collection_insert_one(coll, doc, NULL, NULL, &err), "proxy: insert (%s)",
	    err.message);
	peer_proxy_cut();
	t0 = gb_mono_ms();
	ok(!ping(c, &err), "proxy: cut: a command fails");
	ok(!ping(c, &err), "proxy: cut: the next one too (%s)", err.message);
	ms = (int)(gb_mono_ms() - t0);
	ok(ms < 8000, "proxy: cut: both failed within the timeouts (%d ms)", ms);
	peer_proxy_restore();
	for (t0 = gb_mono_ms(); !got && gb_mono_ms() - t0 < 15000;)
		if (!(got = ping(c, &err)))
			usleep(200 * 1000);
	ok(got, "proxy: restored: the client works again after %lld ms (%s)",
	    (long long)(gb_mono_ms() - t0), got ? "ok" : err.message);
	{
		bson_t *f = BCON_NEW("_id", "through-proxy");

		is_int(mongoc_collection_count_documents(coll, f, NULL, NULL, NULL, &err), 1,
		    "proxy: restored: the document written before the cut is there");
		bson_destroy(f);
	}
	bson_destroy(doc);
	mongoc_collection_destroy(coll);
	mongoc_client_destroy(c);
	peer_proxy_stop();
}

static void
jongodb_checks(void)
{
	const char *uri = peer_mongo_start(PEER_JONGODB, NULL, NULL);
	mongoc_client_t *c = client_new(uri, "serverSelectionTimeoutMS=5000");
	mongoc_collection_t *coll = mongoc_client_get_collection(c, "genbox", "docs");
	bson_t *docs[3];
	bson_error_t err = { 0 };
	int ok;

	ok(ping(c, &err), "jongodb: ping (%s)", err.message);
	for (int i = 0; i < 3; i++)
		docs[i] = BCON_NEW("_id", BCON_INT32(i), "v", BCON_INT32(10 * i));
	ok = mongoc_collection_insert_many(coll, (const bson_t **)docs, 3, NULL, NULL, &err);
	ok(ok, "jongodb: insert_many (%s)", ok ? "ok" : err.message);
	is_int(doc_int(coll, 2, "v"), 20, "jongodb: find by _id");
	{
		bson_t *f = BCON_NEW("v", "{", "$gte", BCON_INT32(10), "}");

		is_int(mongoc_collection_count_documents(coll, f, NULL, NULL, NULL, &err), 2,
		    "jongodb: count with a filter");
		bson_destroy(f);
	}
	for (int i = 0; i < 3; i++)
		bson_destroy(docs[i]);
	mongoc_collection_destroy(coll);
	mongoc_client_destroy(c);
	peer_mongo_stop();
	ok(1, "jongodb: stopped");
}

static redisReply *
redis_cmd(int port, int timeout_ms, const char *fmt, const char *arg)
{
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	redisContext *r = redisConnectWithTimeout("127.0.0.1", port, tv);
	redisReply *rep = NULL;

	if (r && !r->err) {
		redisSetTimeout(r, tv);
		rep = redisCommand(r, fmt, arg);
	}
	if (r)
		redisFree(r);
	return rep;
}

static int
redis_is(redisReply *rep, int type, const char *str)
{
	int ok = type < 0 ? rep == NULL :
	    rep && rep->type == type && (!str || (rep->str && strcmp(rep->str, str) == 0));

	if (rep)
		freeReplyObject(rep);
	return ok;
}

static void
redis_checks(void)
{
	int port = peer_redis_start();
	int64_t t0;

	ok(redis_is(redis_cmd(port, 2000, "PING%s", ""), REDIS_REPLY_STATUS, "PONG"),
	    "redis: PING");
	ok(redis_is(redis_cmd(port, 2000, "SET %s v NX PX 60000", "lock:1"), REDIS_REPLY_STATUS,
	    "OK"), "redis: SET NX PX takes a free key");
	ok(redis_is(redis_cmd(port, 2000, "SET %s w NX PX 60000", "lock:1"), REDIS_REPLY_NIL, NULL),
	    "redis: ... and not a taken one");
	peer_redis_restart();
	ok(redis_is(redis_cmd(port, 2000, "PING%s", ""), REDIS_REPLY_STATUS, "PONG"),
	    "redis: restarted on the same port %d", port);
	ok(redis_is(redis_cmd(port, 2000, "GET %s", "lock:1"), REDIS_REPLY_NIL, NULL),
	    "redis: ... without the old data");
	peer_redis_pause();
	t0 = gb_mono_ms();
	ok(redis_is(redis_cmd(port, 500, "PING%s", ""), -1, NULL), "redis: paused: no answer");
	ok(gb_mono_ms() - t0 < 3000, "redis: ... within the client's timeout");
	peer_redis_resume();
	ok(redis_is(redis_cmd(port, 2000, "PING%s", ""), REDIS_REPLY_STATUS, "PONG"),
	    "redis: resumed: PING");
	peer_redis_stop();
	ok(redis_is(redis_cmd(port, 500, "PING%s", ""), -1, NULL), "redis: stopped: refused");
}

/* Frozen past the socket timeout: commands fail; thawed: they work, data kept. */
static void
pause_checks(const char *uri)
{
	mongoc_client_t *c = client_new(uri, "serverSelectionTimeoutMS=2000&socketTimeoutMS=1000"
	    "&connectTimeoutMS=1000&serverSelectionTryOnce=false");
	mongoc_collection_t *coll = mongoc_client_get_collection(c, "genbox", "docs");
	bson_error_t err = { 0 };
	int64_t t0, n;
	int got = 0;

	n = mongoc_collection_count_documents(coll, &(bson_t)BSON_INITIALIZER, NULL, NULL, NULL,
	    &err);
	ok(n > 0, "pause: %lld documents before", (long long)n);
	peer_mongo_pause();
	t0 = gb_mono_ms();
	ok(!ping(c, &err), "pause: a command fails (%s)", err.message);
	ok(gb_mono_ms() - t0 < 5000, "pause: ... within the timeouts (%lld ms)",
	    (long long)(gb_mono_ms() - t0));
	peer_mongo_resume();
	for (t0 = gb_mono_ms(); !got && gb_mono_ms() - t0 < 15000;)
		if (!(got = ping(c, &err)))
			usleep(200 * 1000);
	ok(got, "pause: resumed: the client works again (%s)", got ? "ok" : err.message);
	is_int(mongoc_collection_count_documents(coll, &(bson_t)BSON_INITIALIZER, NULL, NULL, NULL,
	    &err), n, "pause: resumed: the same documents");
	mongoc_collection_destroy(coll);
	mongoc_client_destroy(c);
}

static void
mongomock_checks(void)
{
	const char *uri = peer_mongo_start(PEER_MONGOMOCK, USER, PASS);
	char bad[1024], anon[128];
	mongoc_client_t *c = client_new(uri, "serverSelectionTimeoutMS=5000");
	mongoc_collection_t *coll = mongoc_client_get_collection(c, "genbox", "docs");
	mongoc_apm_callbacks_t *cb = mongoc_apm_callbacks_new();
	bson_error_t err = { 0 };

	mongoc_apm_set_command_started_cb(cb, count_getmore);
	mongoc_client_set_apm_callbacks(c, cb, NULL);
	ok(ping(c, &err), "mongomock: ping with good credentials (%s)", err.message);
	insert_many(coll);
	find_pages(coll);
	guarded_upserts(coll);
	oversize(coll);
	snprintf(bad, sizeof(bad), "mongodb://" USER ":wrong@127.0.0.1:%d/?authSource=admin",
	    peer_mongo_port());
	snprintf(anon, sizeof(anon), "mongodb://127.0.0.1:%d/", peer_mongo_port());
	auth_checks(bad, anon);
	garbage(c, peer_mongo_port());
	mongoc_collection_destroy(coll);
	mongoc_client_destroy(c);
	mongoc_apm_callbacks_destroy(cb);
	pause_checks(uri);
	proxy_checks(uri);
	peer_mongo_stop();
}

int
main(void)
{
	mongoc_init();
	mongoc_log_set_handler(NULL, NULL);	/* the driver's lines are no TAP */
	redis_checks();
	mongomock_checks();
	jongodb_checks();
	mongoc_cleanup();
	return tap_done();
}
