/*
 * t420-archive-dir - `genbox archive` and `genbox restore` with a dir:
 * target, as a user runs them: what is past retention goes into gzip JSON
 * lines objects and a manifest (read here with zlib and OpenSSL, not with
 * genbox's own code), leaves the database, comes back equal; a dry run and
 * a rerun change nothing; rows waiting in the outbox or refused by the
 * cluster stay; templates stay; a row changed between the archive and the
 * delete stays; SIGKILL in the middle of runs loses nothing and duplicates
 * nothing; the file shrinks after 10,000 contexts left it.
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "../storage/docs.h"
#include "../storage/jobs.h"
#include "../storage/outbox.h"
#include "../storage/store.h"
#include "../sync/archive.h"
#include "archivetest.h"
#include "peer.h"
#include "tap.h"
#include "util.h"

static void
conf(const char *file, const char *arch, int batch)
{
	char text[4200];

	snprintf(text, sizeof(text), "[retention]\narchive = dir:%s\ndelete_batch = %d\n", arch,
	    batch);
	if (util_write_file(file, text, strlen(text)))
		tap_bail("write %s", file);
}

static int
genbox(struct run *r, const char *cf, const char *db, const char *a1, const char *a2,
    const char *a3)
{
	return util_genbox_run(r, NULL, "-c", cf, "--db", db, a1, a2, a3, (char *)NULL);
}

/* Lines of a gzip file, each a JSON object with an _id; -1 when unreadable. */
static long long
gz_lines(const char *path)
{
	static char line[1 << 16];
	gzFile f = gzopen(path, "rb");
	long long n = 0;

	if (f == NULL)
		return -1;
	while (gzgets(f, line, sizeof(line)) != NULL) {
		cJSON *doc = cJSON_Parse(line);

		n += cJSON_GetStringValue(cJSON_GetObjectItem(doc, "_id")) ? 1 : 0;
		cJSON_Delete(doc);
	}
	gzclose(f);
	return n;
}

/*
 * Check every manifest of arch against its objects (size, SHA-256, lines);
 * the documents of the objects named, -1 on any mismatch. *objects and
 * *files: objects named, files under contexts/ and batches/.
 */
static long long
check_archive(const char *arch, int *objects, int *files)
{
	char dir[4200], file[4600];
	long long total = 0, bad = 0;
	struct dirent *de;
	DIR *d;

	*objects = *files = 0;
	for (int k = 0; k < 2; k++) {
		snprintf(dir, sizeof(dir), "%s/%s", arch, k ? "batches" : "contexts");
		if ((d = opendir(dir)) == NULL)
			continue;
		while ((de = readdir(d)) != NULL)
			*files += de->d_name[0] != '.' && strstr(de->d_name, ".jsonl.gz") != NULL;
		closedir(d);
	}
	snprintf(dir, sizeof(dir), "%s/manifests", arch);
	if ((d = opendir(dir)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		cJSON *m, *o;
		char *text;

		if (de->d_name[0] == '.' || !strstr(de->d_name, ".json"))
			continue;	/* a temporary file a killed run left */
		snprintf(file, sizeof(file), "%s/%s", dir, de->d_name);
		text = util_read_file(file, NULL);
		m = cJSON_Parse(text);
		free(text);
		cJSON_ArrayForEach(o, cJSON_GetObjectItem(m, "objects")) {
			char hex[65];
			long long size, lines;

			snprintf(file, sizeof(file), "%s/%s", arch,
			    cJSON_GetStringValue(cJSON_GetObjectItem(o, "name")));
			sha_file(file, hex, &size);
			lines = gz_lines(file);
			bad += size != (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(o,
			    "bytes"));
			bad += strcmp(hex, cJSON_GetStringValue(cJSON_GetObjectItem(o, "sha256")));
			bad += lines != (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(o,
			    "count"));
			total += lines;
			(*objects)++;
		}
		cJSON_Delete(m);
	}
	closedir(d);
	return bad ? -1 : total;
}

static long long
file_size(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
}

/*
 * Files of dir named <day>-<16 hex digits>.jsonl.gz (a run's first object
 * of the day); -1 when a file of the day is named otherwise.
 */
static int
run_named(const char *dir, const char *day)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0, bad = 0;

	while (d && (de = readdir(d)) != NULL) {
		const char *p = de->d_name;

		if (strncmp(p, day, 10) != 0)
			continue;
		if (p[10] == '-' && strspn(p + 11, "0123456789abcdef") == 16 &&
		    strcmp(p + 27, ".jsonl.gz") == 0)
			n++;
		else
			bad++;
	}
	if (d)
		closedir(d);
	return bad ? -1 : n;
}

/*
 * Mark every queued row sent but those whose _id ends with keep; of those,
 * the ones ending with refuse are refused by the cluster. Returns how many kept.
 */
static int
ack_all_but(const char *path, const char *keep, const char *refuse, int max)
{
	struct store *st = open_db(path);
	struct outbox_row *rows = calloc((size_t)max, sizeof(*rows));
	struct outbox_row *acks = calloc((size_t)max, sizeof(*acks));
	int n = 0, m = 0, kept = 0;

	if (store_outbox_take(st, 0, max, rows, &n, &err))
		tap_bail("take: %s", err.msg);
	for (int i = 0; i < n; i++) {
		size_t l = strlen(rows[i].id), k = strlen(keep);

		if (l > k && strcmp(rows[i].id + l - k, keep) == 0) {
			kept++;
			size_t r = strlen(refuse);

			if (l > r && strcmp(rows[i].id + l - r, refuse) == 0 &&
			    store_outbox_reject(st, &rows[i], "refused", &err))
				tap_bail("reject: %s", err.msg);
		} else {
			acks[m++] = rows[i];
		}
	}
	if (m && store_outbox_ack(st, acks, m, &err))
		tap_bail("ack: %s", err.msg);
	store_outbox_rows_free(rows, n);
	free(rows);
	free(acks);
	store_close(st);
	return kept;
}

/* init_db of name in the test's folder (tpath's buffers left alone). */
static void
init_db_in(const char *name)
{
	char path[4200];

	snprintf(path, sizeof(path), "%s/%s", util_tmpdir(), name);
	init_db(path);
}

/*
 * Restored, a context is changed here (a newer updated_at); a second
 * restore keeps it, and writes nothing it holds already.
 */
static void
test_restore_newer(const char *rdb, const char *from)
{
	const char *edited = "{\"_id\":\"ctx_a00001\",\"organization_id\":\"org_1\","
	    "\"status\":\"failed\",\"created_at\":\"2024-01-02T01:00:00.000Z\","
	    "\"updated_at\":\"2026-01-01T00:00:00.000Z\",\"data\":{\"title\":\"edited\"}}";
	struct store *st = open_db(rdb);
	char *doc = NULL;
	struct run r;

	if (store_put(st, COLL_CONTEXTS, edited, strlen(edited), STORE_REPLACE, NULL, &err))
		tap_bail("edit: %s", err.msg);
	store_close(st);
	util_genbox_run(&r, NULL, "--db", rdb, "restore", "--from", from, (char *)NULL);
	is_int(r.status, 0, "a second restore exits 0 (%s)", r.err);
	like(r.out, "restored 0 contexts and 0 batches from 10 objects",
	    "... writes nothing (%s)", r.out);
	like(r.out, "kept 9001 (newer here)", "... keeping what is here");
	run_free(&r);
	st = open_db(rdb);
	if (store_get(st, COLL_CONTEXTS, "ctx_a00001", &doc, &err) == 0)
		like(doc, "\"title\":\"edited\"", "... and the context changed here keeps its change");
	else
		ok(0, "... the changed context is there");
	free(doc);
	store_close(st);
}

/* The archive of test_archive_restore restored into new databases. */
static void
test_restore(const char *arch, const struct docs *ctx)
{
	const char *rdb = tpath("r.db"), *r2 = tpath("r2.db");
	struct docs back;
	struct run r;
	char from[4200];

	snprintf(from, sizeof(from), "dir:%s", arch);
	util_genbox_run(&r, NULL, "--db", rdb, "restore", "--from", from, (char *)NULL);
	is_int(r.status, 1, "restore into a database that does not exist exits 1");
	like(r.err, "genbox init", "... saying to run genbox init first (%s)", r.err);
	run_free(&r);
	ok(file_size(rdb) < 0, "... and creates none");
	init_db(rdb);
	init_db(r2);
	util_genbox_run(&r, NULL, "--db", rdb, "restore", "--from", from, (char *)NULL);
	is_int(r.status, 0, "restore into a new database exits 0 (%s)", r.err);
	like(r.out, "restored 9000 contexts and 1 batches from 10 objects",
	    "... 9000 contexts and 1 batch");
	run_free(&r);
	back = dump(rdb, COLL_CONTEXTS);
	is_int((int64_t)back.n, 9000, "the restored database holds 9000 contexts");
	ok(same_docs(&back, ctx), "... each equal byte for byte to the original");
	docs_free(&back);
	test_restore_newer(rdb, from);
	util_genbox_run(&r, NULL, "--db", r2, "restore", "--from", from, "--after", "2024-01-03",
	    "--before", "2024-01-06", (char *)NULL);
	like(r.out, "restored 2000 contexts and 0 batches from 2 objects",
	    "restore --after 2024-01-03 --before 2024-01-06 reads the days between (%s)", r.out);
	run_free(&r);
	snprintf(from, sizeof(from), "dir:%s", tpath("nope/typo"));
	util_genbox_run(&r, NULL, "--db", r2, "restore", "--from", from, (char *)NULL);
	is_int(r.status, 1, "restore from a folder that does not exist exits 1");
	like(r.err, "nope/typo: no such folder", "... and says so (%s)", r.err);
	run_free(&r);
	ok(file_size(tpath("nope")) < 0, "... and does not create it");
	mkdir(tpath("empty-archive"), 0700);
	snprintf(from, sizeof(from), "dir:%s", tpath("empty-archive"));
	util_genbox_run(&r, NULL, "--db", r2, "restore", "--from", from, (char *)NULL);
	is_int(r.status, 1, "restore from a folder without an archive exits 1");
	like(r.err, "no archive here", "... and says so (%s)", r.err);
	run_free(&r);
	util_genbox_run(&r, NULL, "--db", r2, "restore", (char *)NULL);
	is_int(r.status, 1, "restore without --from is a usage error: exit 1");
	like(r.err, "--from", "... that names --from");
	run_free(&r);
}

static void
test_archive_restore(void)
{
	const char *db = tpath("a.db"), *arch = tpath("arch-a"), *cf = tpath("a.conf");
	struct docs ctx, tmpl, tmpl2;
	long long before, after;
	struct run r;
	struct store *st;
	struct store_job job;
	int objects, files, objects2, files2, found, held;

	conf(cf, arch, 500);
	fill(db, "a", 10000, 10);
	st = open_db(db);
	if (store_sync_enable(st, NULL, &err))
		tap_bail("sync enable: %s", err.msg);
	store_close(st);
	/* ids ending in 7 stay queued (those ending in 77 refused): 1000 of the 10,000 */
	held = ack_all_but(db, "7", "77", 20000);
	is_int(held, 1000, "1000 contexts are not held by the cluster (900 queued, 100 refused)");
	ctx = dump(db, COLL_CONTEXTS);
	tmpl = dump(db, COLL_TEMPLATES);
	before = file_size(db);

	genbox(&r, cf, db, "archive", "--dry-run", NULL);
	is_int(r.status, 0, "archive --dry-run exits 0");
	like(r.out, "contexts  would archive 9000,", "... and counts 9000 contexts (%s)", r.out);
	like(r.out, "batches   would archive 1,", "... and 1 batch");
	run_free(&r);
	is_int(count(db, COLL_CONTEXTS), 10002, "... and deletes nothing");
	is_int(check_archive(arch, &objects, &files), 0, "... nor writes a manifest");
	is_int(files, 0, "... nor an object");

	genbox(&r, cf, db, "archive", NULL, NULL);
	is_int(r.status, 0, "archive exits 0 (%s)", r.err);
	like(r.out, "contexts  archived 9000, deleted 9000, kept 0",
	    "it archived and deleted 9000 contexts");
	like(r.out, "batches   archived 1, deleted 1", "... and the completed batch");
	run_free(&r);
	is_int(check_archive(arch, &objects, &files), 9001,
	    "the objects hold 9001 documents: sizes, SHA-256 and line counts match the manifest");
	/* the contexts held back are those of 2024-01-08 (i % 10 == 7) */
	is_int(objects, 10, "... in 10 objects (9 days of contexts, 1 of batches)");
	is_int(files, 10, "... and no other object");
	is_int(count(db, COLL_CONTEXTS), 1002, "1002 contexts are left");
	ok(has(db, COLL_CONTEXTS, "ctx_a00007") && has(db, COLL_CONTEXTS, "ctx_a00077"),
	    "a context still queued and one refused by the cluster are kept");
	ok(has(db, COLL_CONTEXTS, "ctx_apending") && has(db, COLL_CONTEXTS, "ctx_arecent"),
	    "a pending context and a recent one are kept");
	ok(has(db, COLL_BATCHES, "batch_arun") && !has(db, COLL_BATCHES, "batch_aold"),
	    "the running batch is kept, the completed one archived");
	tmpl2 = dump(db, COLL_TEMPLATES);
	ok(tmpl2.n == tmpl.n && tmpl.n == 1 && strcmp(tmpl2.v[0], tmpl.v[0]) == 0,
	    "the old template is untouched");
	docs_free(&tmpl2);
	after = file_size(db);
	ok(after > 0 && after < before / 3, "the file shrank from %lld to %lld bytes", before,
	    after);
	st = open_db(db);
	found = 0;
	store_job_get(st, "archive", &job, &found, &err);
	store_close(st);
	ok(found && job.ok && strstr(job.counts, "\"contexts\":9000") &&
	    strstr(job.counts, "\"objects\":10"), "the job row says so (%s)", job.counts);

	genbox(&r, cf, db, "archive", NULL, NULL);
	is_int(r.status, 0, "a rerun exits 0");
	like(r.out, "contexts  archived 0, deleted 0", "... and archives nothing (%s)", r.out);
	run_free(&r);
	check_archive(arch, &objects2, &files2);
	ok(objects2 == 10 && files2 == 10, "... nor writes an object");

	test_restore(arch, &ctx);
	genbox(&r, cf, db, "archive", "--before", "2024-13-45");
	is_int(r.status, 1, "archive --before with a bad date is a usage error: exit 1");
	run_free(&r);
	docs_free(&ctx);
	docs_free(&tmpl);
}

static const char *changed_db;

/* Between the manifest and the deletes: another connection changes a context. */
static void
change_one(void *arg)
{
	struct store *st = open_db(changed_db);
	char *doc = NULL, *now = NULL;
	struct store_field f = { "note", "changed" };

	(void)arg;
	if (store_get(st, COLL_CONTEXTS, "ctx_b00002", &doc, &err) ||
	    store_set_fields(st, doc, strlen(doc), &f, 1, &now, &err) ||
	    store_put(st, COLL_CONTEXTS, now, strlen(now), STORE_REPLACE, NULL, &err))
		tap_bail("change: %s", err.msg);
	free(doc);
	free(now);
	store_close(st);
}

static void
test_changed_meanwhile(void)
{
	const char *db = tpath("b.db"), *arch = tpath("arch-b"), *cf = tpath("b.conf");
	struct archive_opts o;
	struct archive_counts c;
	struct target *t = NULL;
	struct store *st;
	struct run r;
	char spec[4200], *doc = NULL;
	int objects, files, lock;

	conf(cf, arch, 2);
	fill(db, "b", 5, 1);
	changed_db = db;
	memset(&o, 0, sizeof(o));
	archive_day_cutoff("2024-06-01", o.cutoff[0], &err);
	archive_day_cutoff("2024-06-01", o.cutoff[1], &err);
	o.delete_batch = 2;
	o.box = "t420";
	o.now_ms = 1700000000000LL;
	o.verified = change_one;
	snprintf(spec, sizeof(spec), "dir:%s", arch);
	st = open_db(db);
	if (target_open(&t, spec, NULL, &err))
		tap_bail("target: %s", err.msg);
	is_int(archive_run(st, t, &o, &c, &err), 0,
	    "a run with a context changed before its delete");
	ok(c.archived[0] == 5 && c.deleted[0] == 4 && c.kept[0] == 1,
	    "... archived 5, deleted 4, kept the changed one (%lld %lld %lld)",
	    (long long)c.archived[0], (long long)c.deleted[0], (long long)c.kept[0]);
	if (store_get(st, COLL_CONTEXTS, "ctx_b00002", &doc, &err) == 0)
		like(doc, "\"note\":\"changed\"", "... which holds its change");
	else
		ok(0, "... which is still there");
	free(doc);
	target_close(t);
	store_close(st);
	genbox(&r, cf, db, "archive", "--before", "2024-06-01");
	like(r.out, "contexts  archived 1, deleted 1", "the next run archives the changed one (%s)",
	    r.out);
	run_free(&r);
	is_int(check_archive(arch, &objects, &files), 7,
	    "two manifests name 7 documents (5 contexts, 1 batch, the changed context again)");
	is_int(run_named(tpath("arch-b/contexts"), "2024-01-01"), 2,
	    "... the two objects of the day each carry their run's id");
	snprintf(spec, sizeof(spec), "dir:%s", arch);
	init_db_in("rb.db");
	util_genbox_run(&r, NULL, "--db", tpath("rb.db"), "restore", "--from", spec, (char *)NULL);
	is_int(r.status, 0, "restore exits 0");
	run_free(&r);
	st = open_db(tpath("rb.db"));
	doc = NULL;
	if (store_get(st, COLL_CONTEXTS, "ctx_b00002", &doc, &err) == 0)
		like(doc, "\"note\":\"changed\"", "... the restored context is its last version");
	else
		ok(0, "... restored the changed context");
	free(doc);
	store_close(st);
	is_int(count(tpath("rb.db"), COLL_CONTEXTS), 5, "... 5 contexts, none twice");
	lock = open(tpath("b.db-archive"), O_RDWR | O_CREAT, 0600);
	ok(lock >= 0 && flock(lock, LOCK_EX | LOCK_NB) == 0, "a run of this database is under way");
	genbox(&r, cf, db, "archive", NULL, NULL);
	is_int(r.status, 1, "... and another one exits 1");
	like(r.err, "another archive run of this database is under way", "... and says why");
	run_free(&r);
	close(lock);
}

/*
 * Two databases share one target (the default dir:<folder>/archive of both)
 * and archive at the same time: no object of one replaces the other's.
 */
static void
test_shared(void)
{
	const char *arch = tpath("arch-s"), *cf = tpath("s.conf");
	const char *dbs[2] = { tpath("s1.db"), tpath("s2.db") };
	char log[4200], spec[4200];
	long long total;
	pid_t pid[2];
	int st[2] = { -1, -1 }, objects = 0, files = 0;
	struct run r;

	conf(cf, arch, 500);
	fill(dbs[0], "s", 3000, 3);
	fill(dbs[1], "t", 3000, 3);
	snprintf(log, sizeof(log), "%s/s.log", util_tmpdir());
	for (int i = 0; i < 2; i++) {
		char *argv[] = { (char *)util_genbox(), "-c", (char *)cf, "--db", (char *)dbs[i],
			"archive", NULL };

		pid[i] = util_spawn(argv, log, 0);
	}
	for (int i = 0; i < 2; i++)
		waitpid(pid[i], &st[i], 0);
	ok(WIFEXITED(st[0]) && WEXITSTATUS(st[0]) == 0 && WIFEXITED(st[1]) &&
	    WEXITSTATUS(st[1]) == 0, "two runs sharing a target at once both exit 0");
	total = check_archive(arch, &objects, &files);
	is_int(total, 6002, "... their manifests name 6002 documents, every object intact (%d)",
	    objects);
	is_int(objects, files, "... %d files, each named by one manifest", files);
	is_int(run_named(tpath("arch-s/contexts"), "2024-01-02"), 2,
	    "... each run's object of a day carries its run id");
	snprintf(spec, sizeof(spec), "dir:%s", arch);
	init_db_in("rs.db");
	util_genbox_run(&r, NULL, "--db", tpath("rs.db"), "restore", "--from", spec, (char *)NULL);
	like(r.out, "restored 6000 contexts and 2 batches", "restore brings back both (%s%s)",
	    r.out, r.err);
	run_free(&r);
}

static int stop_now;

static void
stop_after_verify(void *arg)
{
	(void)arg;
	stop_now = 1;
}

static int
stop_asked(void *arg)
{
	(void)arg;
	return stop_now;
}

/* A run asked to stop during its deletes stops after a transaction; the next finishes. */
static void
test_stopped(void)
{
	const char *db = tpath("p.db"), *arch = tpath("arch-p"), *cf = tpath("p.conf");
	struct archive_opts o;
	struct archive_counts c;
	struct target *t = NULL;
	struct store *st;
	struct run r;
	char spec[4200];

	conf(cf, arch, 2);
	fill(db, "p", 9, 1);
	memset(&o, 0, sizeof(o));
	archive_day_cutoff("2024-06-01", o.cutoff[0], &err);
	o.delete_batch = 2;
	o.now_ms = 1700000000000LL;
	o.verified = stop_after_verify;
	o.stopping = stop_asked;
	snprintf(spec, sizeof(spec), "dir:%s", arch);
	st = open_db(db);
	gb_err_clear(&err);
	if (target_open(&t, spec, NULL, &err))
		tap_bail("target: %s", err.msg);
	ok(archive_run(st, t, &o, &c, &err) == GB_ESTATE,
	    "a run asked to stop during its deletes stops");
	like(err.msg, "stopped after deleting 2 of 9 contexts", "... after one transaction (%s)",
	    err.msg);
	gb_err_clear(&err);
	target_close(t);
	store_close(st);
	is_int(count(db, COLL_CONTEXTS), 9, "... 7 of the 9 archived contexts are left (and 2 others)");
	genbox(&r, cf, db, "archive", "--before", "2024-06-01");
	like(r.out, "contexts  archived 0, deleted 7, kept 0 (changed since), 7 archived already",
	    "the next run deletes them without archiving them again (%s)", r.out);
	run_free(&r);
}

/* Runs killed with SIGKILL after delay_ms each, then one to its end. */
static void
test_killed(void)
{
	static const int delays[] = { 5, 40, 90, 160, 260, 400, 700 };
	const char *db = tpath("c.db"), *arch = tpath("arch-c"), *cf = tpath("c.conf");
	char spec[4200], log[4200];
	struct docs ctx, back;
	struct run r;
	int objects = 0, files = 0, killed = 0;
	long long total;

	conf(cf, arch, 10);
	fill(db, "c", 6000, 3);
	ctx = dump(db, COLL_CONTEXTS);
	snprintf(log, sizeof(log), "%s/c.log", util_tmpdir());
	for (size_t i = 0; i < sizeof(delays) / sizeof(delays[0]); i++) {
		char *argv[] = { (char *)util_genbox(), "-c", (char *)cf, "--db", (char *)db,
			"archive", NULL };
		pid_t pid = util_spawn(argv, log, 0);
		struct timespec ts = { 0, delays[i] * 1000000L };
		int status = 0;

		nanosleep(&ts, NULL);
		killed += kill(pid, SIGKILL) == 0;
		waitpid(pid, &status, 0);
		tap_diag("killed after %d ms: %lld contexts left", delays[i],
		    (long long)count(db, COLL_CONTEXTS));
	}
	ok(killed > 0, "%d runs were killed with SIGKILL", killed);
	genbox(&r, cf, db, "archive", NULL, NULL);
	is_int(r.status, 0, "the next run exits 0 (%s)", r.err);
	run_free(&r);
	is_int(count(db, COLL_CONTEXTS), 2, "... and every context past retention left the box");
	total = check_archive(arch, &objects, &files);
	is_int(total, 6001, "the manifests name 6001 documents, each once (%d objects, %d files)",
	    objects, files);
	snprintf(spec, sizeof(spec), "dir:%s", arch);
	init_db_in("rc.db");
	util_genbox_run(&r, NULL, "--db", tpath("rc.db"), "restore", "--from", spec, (char *)NULL);
	like(r.out, "restored 6000 contexts and 1 batches",
	    "restore brings back 6000 contexts (%s)", r.out);
	run_free(&r);
	back = dump(tpath("rc.db"), COLL_CONTEXTS);
	is_int((int64_t)back.n, 6000, "... none lost");
	ok(same_docs(&back, &ctx), "... each equal to the original");
	docs_free(&back);
	docs_free(&ctx);
}

/* serve with [retention] interval = 1s archives on its own and records the job row */
static void
test_serve(void)
{
	const char *db = tpath("d.db"), *cf = tpath("d.conf");
	char listen[64], log[4200], text[4400];
	char *argv[] = { (char *)util_genbox(), "-c", (char *)cf, "--db", (char *)db, "serve",
		"--listen", listen, "--workers", "1", NULL };
	struct store_job job;
	struct store *st;
	int found = 0, status = 0, objects, files;
	long long left;
	pid_t pid;

	snprintf(text, sizeof(text), "[retention]\narchive = dir:%s\ninterval = 1s\n",
	    tpath("arch-d"));
	util_write_file(cf, text, strlen(text));
	fill(db, "d", 30, 3);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", peer_free_port());
	snprintf(log, sizeof(log), "%s/d.log", util_tmpdir());
	pid = util_spawn(argv, log, 0);
	for (int i = 0; i < 300 && !(found && job.ok); i++) {
		struct timespec ts = { 0, 100 * 1000000L };

		nanosleep(&ts, NULL);
		st = open_db(db);
		store_job_get(st, "archive", &job, &found, &err);
		store_close(st);
	}
	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "serve stops with exit 0 after SIGTERM");
	ok(found && job.ok && strstr(job.counts, "\"contexts\":") && strstr(job.counts,
	    "\"objects\":"), "serve archived on its own and recorded the job (%s)",
	    found ? job.counts : "");
	/* the pending context of 2024 may have been run by serve's worker, then archived */
	left = count(db, COLL_CONTEXTS);
	ok(left <= 2 && has(db, COLL_CONTEXTS, "ctx_drecent"),
	    "... the contexts past retention left the database, the recent one stays");
	is_int(check_archive(tpath("arch-d"), &objects, &files) + left, 33,
	    "... each of the 32 contexts and the batch is either archived or here");
	if (!found || !job.ok) {
		char *l = util_read_file(log, NULL);

		tap_diag("serve's log: %s", l ? l : "");
		free(l);
	}
}

int
main(void)
{
	test_archive_restore();
	test_changed_meanwhile();
	test_shared();
	test_stopped();
	test_killed();
	test_serve();
	return tap_done();
}
