/*
 * t411-target-s3.c - s3://bucket/prefix targets (sync/target.h, sync/s3.c)
 * against the real S3 peer, Ceph's radosgw (tests/peer.h): put, get, stat,
 * list (past 1000 keys), delete; odd keys; a wrong secret; the peer frozen,
 * killed and restarted; a 50 MB file streamed in and out.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../base/gbtime.h"
#include "../sync/s3.h"
#include "../sync/target.h"
#include "peer.h"
#include "tap.h"
#include "util.h"

static struct gb_err err;
static struct target_s3 conf;

/* The SHA-256 of a file by sha256sum (not by the code under test). */
static void
sha256sum(const char *path, char out[65])
{
	char *argv[] = { "/usr/bin/sha256sum", (char *)path, NULL };
	struct run r;

	if (util_run(&r, NULL, 0, argv) != 0 || r.status != 0 || strlen(r.out) < 64)
		tap_bail("sha256sum %s failed", path);
	snprintf(out, 65, "%.64s", r.out);
	run_free(&r);
}

static void
sha256_of(const void *data, size_t len, char out[65])
{
	char path[4200];

	snprintf(path, sizeof(path), "%s/sha.in", util_tmpdir());
	util_write_file(path, data, len);
	sha256sum(path, out);
}

static struct target *
open_target(const char *spec, const struct target_s3 *c)
{
	struct target *t = NULL;

	if (target_open(&t, spec, c, &err))
		tap_bail("open %s: %s", spec, err.msg);
	return t;
}

static void
test_open(void)
{
	struct target_s3 c = conf;
	struct target *t = NULL;

	c.secret_key = "";
	ok(target_open(&t, "s3://genbox-t411/x", &c, &err) == GB_EINVAL && t == NULL,
	    "no secret key: refused");
	like(err.msg, "GENBOX_S3_SECRET_KEY", "... naming where it goes (%s)", err.msg);
	gb_err_clear(&err);
	c = conf;
	c.endpoint = "http://127.0.0.1:1/bucket";
	ok(target_open(&t, "s3://genbox-t411/x", &c, &err) == GB_EINVAL,
	    "an endpoint with a path: refused");
	like(err.msg, "only scheme, host and port", "... saying so (%s)", err.msg);
	gb_err_clear(&err);
	c.endpoint = "http://admin:hunter2@127.0.0.1:1";
	ok(target_open(&t, "s3://genbox-t411/x", &c, &err) == GB_EINVAL,
	    "an endpoint with user:password@: refused");
	ok(strstr(err.msg, "hunter2") == NULL && strstr(err.msg, "admin") == NULL,
	    "... never echoing them (%s)", err.msg);
	like(err.msg, "'http://****@127.0.0.1:1'", "... shown masked");
	gb_err_clear(&err);
	ok(target_open(&t, "s3://Bad_Bucket/x", &conf, &err) == GB_EINVAL,
	    "a bucket name S3 refuses: refused");
	gb_err_clear(&err);
}

static void
test_objects(struct target *t)
{
	const char *body = "{\"_id\":\"ctx_1\",\"status\":\"completed\"}\n";
	char want[65], got[65], **names = NULL;
	void *data = NULL;
	size_t len = 0;
	int64_t size = -1;
	int found = -1, n = 0;

	is_int(target_put(t, "contexts/2024-01-05.jsonl.gz", body, strlen(body), &err), 0,
	    "the first put creates the bucket and stores the object (%s)", err.msg);
	is_int(target_get(t, "contexts/2024-01-05.jsonl.gz", &data, &len, &err), 0, "get it");
	ok(len == strlen(body) && memcmp(data, body, len) == 0, "... the same bytes");
	free(data);
	sha256_of(body, strlen(body), want);
	is_int(target_stat(t, "contexts/2024-01-05.jsonl.gz", &size, got, &found, &err), 0,
	    "stat it");
	ok(found && size == (int64_t)strlen(body), "... found, %lld bytes", (long long)size);
	is_str(got, want, "... its SHA-256 is sha256sum's");
	is_int(target_stat(t, "contexts/none.gz", &size, got, &found, &err), 0,
	    "stat of a missing object is no error");
	is_int(found, 0, "... not found");
	ok(target_get(t, "contexts/none.gz", &data, &len, &err) == GB_ENOTFOUND,
	    "get of a missing object: GB_ENOTFOUND");
	like(err.msg, "s3://genbox-t411/archive/contexts/none.gz: 404 NoSuchKey",
	    "... naming it and S3's code (%s)", err.msg);
	gb_err_clear(&err);
	target_put(t, "contexts/2024-01-04.jsonl.gz", "a", 1, &err);
	target_put(t, "batches/2024-01-04.jsonl.gz", "b", 1, &err);
	is_int(target_put(t, "empty", "", 0, &err), 0, "an empty object is stored");
	is_int(target_list(t, "", &names, &n, &err), 0, "list all (%s)", err.msg);
	ok(n == 4 && strcmp(names[0], "batches/2024-01-04.jsonl.gz") == 0 &&
	    strcmp(names[2], "contexts/2024-01-05.jsonl.gz") == 0 && strcmp(names[3], "empty") == 0,
	    "... four names, sorted, without the target's prefix (%d)", n);
	target_names_free(names, n);
	is_int(target_list(t, "contexts/", &names, &n, &err), 0, "list by a prefix");
	is_int(n, 2, "... the two under it");
	target_names_free(names, n);
	is_int(target_delete(t, "contexts/2024-01-04.jsonl.gz", &err), 0, "delete");
	target_stat(t, "contexts/2024-01-04.jsonl.gz", &size, got, &found, &err);
	is_int(found, 0, "... it is gone");
	is_int(target_delete(t, "contexts/2024-01-04.jsonl.gz", &err), 0,
	    "deleting a missing object is no error");
	ok(target_put(t, "../x", "x", 1, &err) == GB_EINVAL, "a bad name is refused before S3");
	gb_err_clear(&err);
}

static void
test_odd_keys(struct target *t)
{
	static const char *keys[] = { "odd/a b+c.json", "odd/caf\xc3\xa9 \xe2\x82\xac.json",
		"odd/x%y&z=1?#;.json", "odd/<tag>&amp;'\".json", "odd/~tilde*star(1).json" };
	int nk = (int)(sizeof(keys) / sizeof(keys[0])), same = 0, listed = 0, n = 0;
	char **names = NULL;

	for (int i = 0; i < nk; i++) {
		void *data = NULL;
		size_t len = 0;

		if (target_put(t, keys[i], keys[i], strlen(keys[i]), &err) == 0 &&
		    target_get(t, keys[i], &data, &len, &err) == 0 && len == strlen(keys[i]) &&
		    memcmp(data, keys[i], len) == 0)
			same++;
		else
			tap_diag("'%s': %s", keys[i], err.msg);
		gb_err_clear(&err);
		free(data);
	}
	is_int(same, nk, "keys with spaces, '+', UTF-8, %%, &, ?, #, < and quotes: put and get");
	is_int(target_list(t, "odd/", &names, &n, &err), 0, "list them");
	for (int i = 0; i < n; i++)
		for (int j = 0; j < nk; j++)
			listed += strcmp(names[i], keys[j]) == 0;
	ok(n == nk && listed == nk, "... listed by their exact names (%d of %d)", listed, n);
	target_names_free(names, n);
}

/* More than one page of ListObjectsV2 (1000 keys a page). */
static void
test_many(struct target *t)
{
	struct s3 *s = NULL;
	char key[64], **names = NULL;
	int n = 0, put = 0, in_order = 1;
	int64_t t0 = gb_mono_ms();

	if (s3_open(&s, conf.endpoint, conf.region, conf.access_key, conf.secret_key, 10000, &err))
		tap_bail("s3_open: %s", err.msg);
	for (int i = 0; i < 1105; i++) {
		snprintf(key, sizeof(key), "archive/many/%05d.gz", i);
		put += s3_put(s, "genbox-t411", key, key, strlen(key), NULL, &err) == 0;
	}
	{
		int64_t size = -1;
		int found = -1;

		is_int(s3_head(s, "genbox-t411", "archive/many/00007.gz", &size, &found, &err), 0,
		    "s3_head of an object");
		ok(found == 1 && size == 21, "... found, 21 bytes (%lld)", (long long)size);
		s3_head(s, "genbox-t411", "archive/many/none.gz", &size, &found, &err);
		is_int(found, 0, "s3_head of a missing one: not found, no error");
	}
	s3_close(s);
	is_int(put, 1105, "1105 objects put (%lld ms; %s)", (long long)(gb_mono_ms() - t0),
	    err.msg);
	is_int(target_list(t, "many/", &names, &n, &err), 0, "list them (%s)", err.msg);
	for (int i = 0; i < n && in_order; i++) {
		snprintf(key, sizeof(key), "many/%05d.gz", i);
		in_order = strcmp(names[i], key) == 0;
	}
	ok(n == 1105 && in_order, "... all 1105 across two pages, in order (%d)", n);
	target_names_free(names, n);
}

static void
test_wrong_secret(struct target *t)
{
	struct target_s3 c = conf;
	struct target *bad;
	int64_t size;
	char sha[65], **names = NULL;
	int found = -1, n = -1;

	c.secret_key = "wrong-secret-1234";
	bad = open_target("s3://genbox-t411/archive", &c);
	ok(target_put(bad, "contexts/forbidden.gz", "x", 1, &err) == GB_EPERM,
	    "a wrong secret: the put is refused with GB_EPERM");
	like(err.msg, "s3://genbox-t411/archive/contexts/forbidden.gz: 403 SignatureDoesNotMatch",
	    "... naming the object, the status and S3's code (%s)", err.msg);
	ok(strstr(err.msg, "wrong-secret") == NULL, "... without the secret");
	gb_err_clear(&err);
	ok(target_list(bad, "", &names, &n, &err) == GB_EPERM, "... so is a list");
	like(err.msg, "403 SignatureDoesNotMatch", "... saying why (%s)", err.msg);
	gb_err_clear(&err);
	target_close(bad);
	target_stat(t, "contexts/forbidden.gz", &size, sha, &found, &err);
	is_int(found, 0, "... and nothing was written");
}

/* Freeze radosgw: each call fails within about the timeout, then works again. */
static void
test_paused(void)
{
	struct target_s3 c = conf;
	struct target *t;
	int64_t t0, ms, size;
	char sha[65];
	int found, rc;

	c.timeout_ms = 2000;
	t = open_target("s3://genbox-t411/archive", &c);
	peer_s3_pause();
	t0 = gb_mono_ms();
	rc = target_put(t, "paused/a.gz", "abc", 3, &err);
	ms = gb_mono_ms() - t0;
	ok(rc == GB_ETRANSIENT && ms >= 1500 && ms < 5000,
	    "radosgw stopped: a put fails after %lld ms (timeout 2000)", (long long)ms);
	like(err.msg, "unreachable", "... as unreachable (%s)", err.msg);
	gb_err_clear(&err);
	t0 = gb_mono_ms();
	rc = target_stat(t, "contexts/2024-01-05.jsonl.gz", &size, sha, &found, &err);
	ms = gb_mono_ms() - t0;
	ok(rc == GB_ETRANSIENT && ms < 5000, "... a streamed get too, after %lld ms",
	    (long long)ms);
	gb_err_clear(&err);
	peer_s3_resume();
	is_int(target_put(t, "paused/a.gz", "abc", 3, &err), 0,
	    "radosgw thawed: the put works (%s)", err.msg);
	target_close(t);
}

static void
test_killed(struct target *t)
{
	int64_t size = -1;
	char sha[65];
	int found = -1;

	peer_s3_kill();
	ok(target_put(t, "killed/a.gz", "abc", 3, &err) == GB_ETRANSIENT,
	    "radosgw killed: a put fails with GB_ETRANSIENT");
	like(err.msg, "s3 endpoint http://127.0.0.1:", "... naming the endpoint (%s)", err.msg);
	like(err.msg, "unreachable", "... as unreachable");
	gb_err_clear(&err);
	peer_s3_restart();
	is_int(target_put(t, "killed/a.gz", "abc", 3, &err), 0, "restarted: the put works (%s)",
	    err.msg);
	is_int(target_stat(t, "contexts/2024-01-05.jsonl.gz", &size, sha, &found, &err), 0,
	    "... and what was stored before is there");
	is_int(found, 1, "... found");
}

static void
test_big(struct target *t, const char *tmp)
{
	char big[4200], back[4200], want[65], got[65];
	int64_t size = -1, t0;
	int found = -1;
	size_t len = 0;
	char *a, *b, *p = malloc(50 << 20);
	uint64_t x = 88172645463325252ULL;

	for (size_t i = 0; p && i < (50u << 20); i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (char)x;
	}
	snprintf(big, sizeof(big), "%s/big.bin", tmp);
	if (p == NULL || util_write_file(big, p, 50 << 20) < 0)
		tap_bail("cannot write %s", big);
	free(p);
	sha256sum(big, want);
	t0 = gb_mono_ms();
	is_int(target_put_file(t, "backups/genbox-1.db.gz", big, &err), 0,
	    "put_file of 50 MB, streamed and read back (%s)", err.msg);
	tap_diag("50 MB put and verified in %lld ms", (long long)(gb_mono_ms() - t0));
	is_int(target_stat(t, "backups/genbox-1.db.gz", &size, got, &found, &err), 0, "stat it");
	ok(found && size == 50 << 20, "... 50 MB stored (%lld)", (long long)size);
	is_str(got, want, "... with the file's SHA-256");
	snprintf(back, sizeof(back), "%s/back.bin", tmp);
	is_int(target_get_file(t, "backups/genbox-1.db.gz", back, &err), 0, "get_file it (%s)",
	    err.msg);
	a = util_read_file(big, &len);
	b = util_read_file(back, NULL);
	ok(a && b && len == 50u << 20 && memcmp(a, b, len) == 0, "... the same 50 MB");
	free(a);
	free(b);
	ok(target_get_file(t, "backups/none.gz", back, &err) == GB_ENOTFOUND,
	    "get_file of a missing object: GB_ENOTFOUND");
	gb_err_clear(&err);
}

/*
 * An HTTP server on 127.0.0.1 that is not S3: it answers every request
 * with 200 and body. Returns its pid; *port its port.
 */
static pid_t
not_s3_start(const char *body, int *port)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	pid_t pid;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(ls, 16) < 0 ||
	    getsockname(ls, (struct sockaddr *)&a, &alen) < 0)
		tap_bail("cannot listen on 127.0.0.1");
	*port = ntohs(a.sin_port);
	if ((pid = fork()) == 0) {
		for (;;) {
			char req[65536], head[256];
			int c = accept(ls, NULL, NULL);
			ssize_t n;

			if (c < 0)
				_exit(0);
			n = recv(c, req, sizeof(req) - 1, 0);
			(void)n;
			snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n"
			    "Connection: close\r\n\r\n", strlen(body));
			if (send(c, head, strlen(head), 0) < 0 || send(c, body, strlen(body), 0) < 0)
				tap_diag("send failed");
			close(c);
		}
	}
	close(ls);
	return pid;
}

/* An endpoint that answers 200 with a web page, or with keys outside the prefix. */
static void
test_not_s3(void)
{
	static const char *bodies[2] = { "<html><body>a web server, not S3</body></html>",
		"<?xml version=\"1.0\"?><ListBucketResult><IsTruncated>false</IsTruncated>"
		"<Contents><Key>other/manifests/x.json</Key></Contents></ListBucketResult>" };
	static const char *says[2] = { "not an S3 list", "outside the prefix" };
	char endpoint[64];
	struct target_s3 c = conf;
	struct target *t;
	char **names = NULL;
	int n = -1, port = 0, status;

	for (int i = 0; i < 2; i++) {
		pid_t pid = not_s3_start(bodies[i], &port);

		snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%d", port);
		c.endpoint = endpoint;
		t = open_target("s3://bucket/arch", &c);
		ok(target_list(t, "manifests/", &names, &n, &err) == GB_EIO,
		    "a list from %s is an error, not an empty bucket",
		    i ? "a server naming keys outside the prefix" : "a web server answering 200");
		like(err.msg, says[i], "... saying so (%s)", err.msg);
		gb_err_clear(&err);
		if (names)
			target_names_free(names, n);
		names = NULL;
		target_close(t);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
}

int
main(void)
{
	const char *tmp = util_tmpdir();
	struct target *t;

	if (getenv("T411_ENDPOINT") == NULL)
		peer_s3_start();
	conf.endpoint = getenv("T411_ENDPOINT") ? getenv("T411_ENDPOINT") : peer_s3_endpoint();
	conf.region = "";
	conf.access_key = peer_s3_access_key();
	conf.secret_key = peer_s3_secret_key();
	conf.timeout_ms = 10000;
	test_open();
	test_not_s3();
	t = open_target("s3://genbox-t411/archive/", &conf);
	is_str(target_name(t), "s3://genbox-t411/archive/", "target_name is the spec as given");
	test_objects(t);
	test_odd_keys(t);
	test_many(t);
	test_wrong_secret(t);
	test_paused();
	test_killed(t);
	test_big(t, tmp);
	target_close(t);
	return tap_done();
}
