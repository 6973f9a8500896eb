/*
 * t421-archive-s3 - `genbox archive` and `genbox restore` against the real
 * S3 peer (Ceph's radosgw): a wrong secret is a clear error that deletes
 * nothing; radosgw killed in the middle of a run loses nothing and the
 * next run completes it; 10,000 contexts past retention end up in objects
 * listed and checked here (size, SHA-256, lines, read with zlib and
 * OpenSSL), gone from the database, and restored equal.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "../base/buf.h"
#include "../sync/s3.h"
#include "archivetest.h"
#include "peer.h"
#include "tap.h"
#include "util.h"

#define BUCKET "genbox-archive"
#define PREFIX "box1"

static struct s3 *s3c;

static void
conf(const char *file)
{
	char text[2048];

	snprintf(text, sizeof(text), "[retention]\narchive = s3://" BUCKET "/" PREFIX "\n"
	    "delete_batch = 200\n[s3]\nendpoint = %s\naccess_key = %s\ntimeout_ms = 5000\n",
	    peer_s3_endpoint(), peer_s3_access_key());
	if (util_write_file(file, text, strlen(text)))
		tap_bail("write %s", file);
}

static int
archive(struct run *r, const char *cf, const char *db)
{
	return util_genbox_run(r, NULL, "-c", cf, "--db", db, "archive", (char *)NULL);
}

struct keys {
	char *v[4096];
	int n;
};

static int
key_add(const char *key, void *arg, struct gb_err *e)
{
	struct keys *k = arg;

	(void)e;
	if (k->n < 4096)
		k->v[k->n++] = strdup(key);
	return 0;
}

static int
sink(const void *data, size_t len, void *arg, struct gb_err *e)
{
	(void)e;
	return buf_append(arg, data, len);
}

/* key's bytes into b. */
static int
get(const char *key, struct buf *b)
{
	buf_reset(b);
	return s3_get(s3c, BUCKET, key, sink, b, &err);
}

/* JSON lines (each with an _id) in gzip data; -1 when not gzip. */
static long long
gz_lines_mem(const char *data, size_t len)
{
	static unsigned char out[1 << 20];
	long long n = 0;
	z_stream z;
	int zr = Z_OK;
	struct buf all;

	memset(&z, 0, sizeof(z));
	buf_init(&all, 1u << 30);
	inflateInit2(&z, 15 + 32);
	z.next_in = (unsigned char *)(uintptr_t)data;
	z.avail_in = (uInt)len;
	while (zr == Z_OK) {
		z.next_out = out;
		z.avail_out = sizeof(out);
		zr = inflate(&z, Z_NO_FLUSH);
		buf_append(&all, out, sizeof(out) - z.avail_out);
	}
	inflateEnd(&z);
	if (zr != Z_STREAM_END)
		n = -1;
	for (char *p = (char *)buf_str(&all), *nl; n >= 0 && *p; p = nl + 1) {
		cJSON *doc;

		if ((nl = strchr(p, '\n')) == NULL)
			break;
		*nl = '\0';
		doc = cJSON_Parse(p);
		n += cJSON_GetStringValue(cJSON_GetObjectItem(doc, "_id")) ? 1 : 0;
		cJSON_Delete(doc);
	}
	buf_release(&all);
	return n;
}

/*
 * The bucket listed: every manifest's objects fetched and checked (size,
 * SHA-256, lines); the documents they hold, -1 on a mismatch.
 */
static long long
check_bucket(int *objects)
{
	struct keys k = { { 0 }, 0 };
	struct buf m, o;
	long long total = 0, bad = 0;

	*objects = 0;
	buf_init(&m, 1u << 26);
	buf_init(&o, 1u << 30);
	if (s3_list(s3c, BUCKET, PREFIX "/manifests/", key_add, &k, &err))
		tap_diag("list: %s", err.msg);
	for (int i = 0; i < k.n; i++) {
		cJSON *man, *e;

		if (get(k.v[i], &m)) {
			bad++;
			continue;
		}
		man = cJSON_Parse(buf_str(&m));
		cJSON_ArrayForEach(e, cJSON_GetObjectItem(man, "objects")) {
			char key[512], hex[65];
			long long lines;

			snprintf(key, sizeof(key), PREFIX "/%s",
			    cJSON_GetStringValue(cJSON_GetObjectItem(e, "name")));
			if (get(key, &o)) {
				bad++;
				continue;
			}
			s3_sha256_hex(buf_str(&o), o.len, hex);
			lines = gz_lines_mem(buf_str(&o), o.len);
			bad += (long long)o.len !=
			    (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(e, "bytes"));
			bad += strcmp(hex, cJSON_GetStringValue(cJSON_GetObjectItem(e,
			    "sha256"))) != 0;
			bad += lines !=
			    (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(e, "count"));
			total += lines;
			(*objects)++;
		}
		cJSON_Delete(man);
		free(k.v[i]);
	}
	buf_release(&m);
	buf_release(&o);
	return bad ? -1 : total;
}

static void
test_wrong_secret(const char *cf, const char *db)
{
	struct run r;

	setenv("GENBOX_S3_SECRET_KEY", "not-the-secret-4711", 1);
	archive(&r, cf, db);
	is_int(r.status, 1, "archive with a wrong secret exits 1");
	like(r.err, "genbox: archive: ", "... with a message (%s)", r.err);
	like(r.err, "403", "... that says S3 refused it");
	ok(strstr(r.err, "not-the-secret-4711") == NULL && strstr(r.out, "not-the-secret-4711") ==
	    NULL, "... without the secret");
	run_free(&r);
	is_int(count(db, COLL_CONTEXTS), 10002, "... and deletes nothing");
	setenv("GENBOX_S3_SECRET_KEY", peer_s3_secret_key(), 1);
}

/* radosgw killed after delay_ms of a run: nothing lost; restarted, the next run ends it. */
static void
test_killed(const char *cf, const char *db)
{
	char *argv[] = { (char *)util_genbox(), "-c", (char *)cf, "--db", (char *)db, "archive",
		NULL };
	char log[4200];
	struct timespec ts = { 0, 20 * 1000000L };
	struct run r;
	int status = 0, objects = 0, put = 0;
	long long held, left;
	pid_t pid;

	snprintf(log, sizeof(log), "%s/kill.log", util_tmpdir());
	pid = util_spawn(argv, log, 0);
	/* until the run has put 3 objects of its 11 (or 10 s went by) */
	for (int i = 0; i < 500 && put < 3; i++) {
		struct keys k = { { 0 }, 0 };

		nanosleep(&ts, NULL);
		s3_list(s3c, BUCKET, PREFIX "/contexts/", key_add, &k, &err);
		put = k.n;
		for (int j = 0; j < k.n; j++)
			free(k.v[j]);
	}
	peer_s3_kill();
	waitpid(pid, &status, 0);
	ok(put >= 3, "radosgw was killed after the run had put %d objects", put);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 1, "the run fails when radosgw dies (%d)",
	    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	{
		char *l = util_read_file(log, NULL);

		tap_diag("the run cut short said: %s", l ? l : "");
		free(l);
	}
	left = count(db, COLL_CONTEXTS) + count(db, COLL_BATCHES);
	peer_s3_restart();
	held = check_bucket(&objects);
	/* archived: 10,000 contexts and a batch; kept: 2 contexts and the running batch */
	is_int(held + left, 10001 + 3,
	    "nothing lost: %lld in checked objects of manifests, %lld still here", held, left);
	archive(&r, cf, db);
	is_int(r.status, 0, "restarted, the next run exits 0 (%s)", r.err);
	run_free(&r);
	is_int(count(db, COLL_CONTEXTS), 2, "... and every context past retention left the box");
	ok(has(db, COLL_TEMPLATES, "tmpl_sold"), "... the old template stays");
}

int
main(void)
{
	const char *db = tpath("s3.db"), *cf = tpath("s3.conf");
	struct docs ctx, back;
	struct run r;
	int objects = 0;
	long long total;
	char from[256];

	if (peer_s3_start() <= 0)
		tap_bail("the S3 peer did not start");
	if (s3_open(&s3c, peer_s3_endpoint(), NULL, peer_s3_access_key(), peer_s3_secret_key(),
	    10000, &err) || s3_bucket_create(s3c, BUCKET, &err))
		tap_bail("bucket: %s", err.msg);
	conf(cf);
	fill(db, "s", 10000, 10);
	ctx = dump(db, COLL_CONTEXTS);
	test_wrong_secret(cf, db);
	test_killed(cf, db);
	total = check_bucket(&objects);
	is_int(total, 10001, "the bucket's manifests name 10001 documents, each once, in %d "
	    "objects whose size, SHA-256 and lines match", objects);
	ok(objects >= 11, "... at least one object per day and collection (%d)", objects);
	snprintf(from, sizeof(from), "s3://" BUCKET "/" PREFIX);
	util_genbox_run(&r, NULL, "--db", tpath("r.db"), "init", (char *)NULL);
	run_free(&r);
	util_genbox_run(&r, NULL, "-c", cf, "--db", tpath("r.db"), "restore", "--from", from,
	    (char *)NULL);
	is_int(r.status, 0, "restore from S3 exits 0 (%s)", r.err);
	like(r.out, "restored 10000 contexts and 1 batches", "... 10,000 contexts and the batch");
	run_free(&r);
	back = dump(tpath("r.db"), COLL_CONTEXTS);
	is_int((int64_t)back.n, 10000, "the restored database holds 10,000 contexts");
	ok(same_docs(&back, &ctx), "... each equal byte for byte to the original");
	docs_free(&back);
	docs_free(&ctx);
	s3_close(s3c);
	peer_s3_stop();
	return tap_done();
}
