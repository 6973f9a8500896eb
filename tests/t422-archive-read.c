/*
 * t422-archive-read - what `genbox restore` and the archive settings do
 * with archives and settings that are odd: manifests whose names do not
 * sort by time, a count no integer holds, a gzip bomb, a config line longer
 * than the parser reads, dates that do not exist.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "../storage/docs.h"
#include "../storage/store.h"
#include "archivetest.h"
#include "tap.h"
#include "util.h"

/* A gzip object of one line in arch/name; its manifest entry into out. */
static void
hand_object(const char *arch, const char *name, const char *line, char *out, size_t size)
{
	char path[4400], hex[65];
	long long bytes;
	gzFile f;

	snprintf(path, sizeof(path), "%s/contexts", arch);
	mkdir(arch, 0700);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/%s", arch, name);
	if ((f = gzopen(path, "wb")) == NULL || gzputs(f, line) < 0 || gzputs(f, "\n") < 0 ||
	    gzclose(f) != Z_OK)
		tap_bail("write %s", path);
	sha_file(path, hex, &bytes);
	snprintf(out, size, "{\"name\":\"%s\",\"collection\":\"contexts\",\"day\":"
	    "\"2024-01-01\",\"count\":1,\"bytes\":%lld,\"sha256\":\"%s\"}", name, bytes, hex);
}

static void
hand_manifest(const char *arch, const char *name, const char *created, const char *entry)
{
	char path[4400], text[1024];

	snprintf(path, sizeof(path), "%s/manifests", arch);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/manifests/%s", arch, name);
	snprintf(text, sizeof(text), "{\"objects\":[%s],\"created_at\":\"%s\",\"box\":\"x\"}",
	    entry, created);
	if (util_write_file(path, text, strlen(text)))
		tap_bail("write %s", path);
}

/*
 * Manifests whose names do not sort by time (another box's clock, random
 * run ids): restore goes by their created_at. A manifest with a count no
 * integer holds is refused.
 */
static void
test_order(void)
{
	char arch[4200], db[4200], from[4300], e1[512], e2[512], *doc = NULL;
	struct store *st;
	struct run r;

	snprintf(arch, sizeof(arch), "%s/arch-o", util_tmpdir());
	snprintf(db, sizeof(db), "%s/o.db", util_tmpdir());
	hand_object(arch, "contexts/old.jsonl.gz", "{\"_id\":\"ctx_o1\",\"organization_id\":"
	    "\"org_1\",\"status\":\"completed\",\"updated_at\":\"2024-02-01T00:00:00.000Z\","
	    "\"data\":{\"v\":1}}", e1, sizeof(e1));
	hand_object(arch, "contexts/new.jsonl.gz", "{\"_id\":\"ctx_o1\",\"organization_id\":"
	    "\"org_1\",\"status\":\"completed\",\"updated_at\":\"2024-03-01T00:00:00.000Z\","
	    "\"data\":{\"v\":2}}", e2, sizeof(e2));
	hand_manifest(arch, "b.json", "2024-02-01T00:00:00.000Z", e1);
	hand_manifest(arch, "a.json", "2024-03-01T00:00:00.000Z", e2);
	init_db(db);
	snprintf(from, sizeof(from), "dir:%s", arch);
	util_genbox_run(&r, NULL, "--db", db, "restore", "--from", from, (char *)NULL);
	like(r.out, "restored 2 contexts and 0 batches from 2 objects",
	    "manifests are read by created_at, not by name: each version written in turn (%s%s)",
	    r.out, r.err);
	like(r.out, "kept 0 ", "... none kept");
	run_free(&r);
	st = open_db(db);
	if (store_get(st, COLL_CONTEXTS, "ctx_o1", &doc, &err) == 0)
		like(doc, "\"v\":2", "... the later version is the one here");
	else
		ok(0, "... the context is here");
	free(doc);
	store_close(st);
	snprintf(e1, sizeof(e1), "{\"name\":\"contexts/old.jsonl.gz\",\"collection\":"
	    "\"contexts\",\"day\":\"2024-01-01\",\"count\":1e300,\"bytes\":1e300,"
	    "\"sha256\":\"%064d\"}", 0);
	hand_manifest(arch, "c.json", "2024-04-01T00:00:00.000Z", e1);
	util_genbox_run(&r, NULL, "--db", db, "restore", "--from", from, (char *)NULL);
	is_int(r.status, 1, "a manifest with a count of 1e300 is refused (%s)", r.err);
	like(r.err, "c.json: an object without name, collection, day, count",
	    "... as a malformed manifest");
	is_str(r.out, "", "... with no summary on stdout");
	run_free(&r);
}

/*
 * A gzip bomb named by a manifest (300 MB of one line, well under 1 MB
 * packed): restore refuses it past one document's size, in bounded memory.
 */
static void
test_bomb(void)
{
	char arch[4200], db[4200], from[4300], path[4400], hex[65], entry[512];
	static char chunk[1 << 20];
	long long bytes;
	gzFile f;
	pid_t pid;
	int status = 0;

	snprintf(arch, sizeof(arch), "%s/arch-bomb", util_tmpdir());
	snprintf(db, sizeof(db), "%s/bomb.db", util_tmpdir());
	snprintf(path, sizeof(path), "%s/contexts", arch);
	mkdir(arch, 0700);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/contexts/bomb.jsonl.gz", arch);
	memset(chunk, 'x', sizeof(chunk));
	if ((f = gzopen(path, "wb9")) == NULL)
		tap_bail("write %s", path);
	for (int i = 0; i < 300; i++)
		gzwrite(f, chunk, sizeof(chunk));
	gzputs(f, "\n");
	gzclose(f);
	sha_file(path, hex, &bytes);
	snprintf(entry, sizeof(entry), "{\"name\":\"contexts/bomb.jsonl.gz\",\"collection\":"
	    "\"contexts\",\"day\":\"2024-01-01\",\"count\":1,\"bytes\":%lld,\"sha256\":"
	    "\"%s\"}", bytes, hex);
	hand_manifest(arch, "bomb.json", "2024-01-01T00:00:00.000Z", entry);
	init_db(db);
	snprintf(from, sizeof(from), "dir:%s", arch);
	fflush(stdout);
	/* a child runs it, so that RUSAGE_CHILDREN is that restore's alone */
	if ((pid = fork()) == 0) {
		struct rusage ru;
		struct run r;
		int good;

		util_genbox_run(&r, NULL, "--db", db, "restore", "--from", from, (char *)NULL);
		good = r.status == 1 && strstr(r.err, "line 1: longer than 16777216 bytes") != NULL;
		if (!good)
			fprintf(stderr, "# restore of the bomb: %d %s\n", r.status, r.err);
		getrusage(RUSAGE_CHILDREN, &ru);
		_exit(good ? (int)(ru.ru_maxrss / 1024 / 4 > 250 ? 250 : ru.ru_maxrss / 1024 / 4) :
		    255);
	}
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) != 255,
	    "restore of a gzip bomb exits 1: a line longer than a document");
	ok(WIFEXITED(status) && WEXITSTATUS(status) * 4 < 200,
	    "... using at most 200 MB (%d MB at most)", WEXITSTATUS(status) * 4 + 4);
}

/* A config line past inih's buffer is refused, not read as two lines. */
static void
test_long_line(void)
{
	char cf[4200], db[4200], text[1024], path[600];
	struct run r;

	snprintf(cf, sizeof(cf), "%s/long.conf", util_tmpdir());
	snprintf(db, sizeof(db), "%s/long.db", util_tmpdir());
	init_db(db);
	memset(path, 'a', 400);
	path[400] = '\0';
	/* the cut-off rest would read as "retention_days = 1" */
	snprintf(text, sizeof(text), "[retention]\narchive = dir:%s/%s retention_days = 1\n",
	    util_tmpdir(), path);
	util_write_file(cf, text, strlen(text));
	util_genbox_run(&r, NULL, "-c", cf, "--db", db, "archive", "--dry-run", (char *)NULL);
	is_int(r.status, 1, "a config line longer than the parser reads is refused (exit 1)");
	like(r.err, "long.conf:2: line longer than ", "... naming its file and line (%s)", r.err);
	run_free(&r);
	snprintf(text, sizeof(text), "[retention]\narchive = dir:%s/arch-short\n", util_tmpdir());
	util_write_file(cf, text, strlen(text));
	util_genbox_run(&r, NULL, "-c", cf, "--db", db, "archive", "--dry-run", (char *)NULL);
	is_int(r.status, 0, "... a short one is read (%s)", r.err);
	run_free(&r);
}

/* A failed run says so on stderr, and prints no summary of work done. */
static void
test_failed_summary(void)
{
	char cf[4200], db[4200], file[4200], text[4400];
	struct run r;

	snprintf(cf, sizeof(cf), "%s/fail.conf", util_tmpdir());
	snprintf(db, sizeof(db), "%s/fail.db", util_tmpdir());
	snprintf(file, sizeof(file), "%s/a-file", util_tmpdir());
	util_write_file(file, "x", 1);
	snprintf(text, sizeof(text), "[retention]\narchive = dir:%s\n", file);
	util_write_file(cf, text, strlen(text));
	init_db(db);
	util_genbox_run(&r, NULL, "-c", cf, "--db", db, "archive", (char *)NULL);
	is_int(r.status, 1, "archive to a file in place of a folder exits 1");
	like(r.err, "not a folder", "... saying why (%s)", r.err);
	is_str(r.out, "", "... and prints no summary on stdout");
	run_free(&r);
}

/* Dates that do not exist, and a range without a day. */
static void
test_dates(void)
{
	static const char *bad[] = { "2024-02-30", "2024-01- 5", "2023-02-29", "2024-13-01",
		"2024-1-05" };
	char db[4200], arch[4200];
	struct run r;

	snprintf(db, sizeof(db), "%s/dates.db", util_tmpdir());
	snprintf(arch, sizeof(arch), "dir:%s", util_tmpdir());
	init_db(db);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		util_genbox_run(&r, NULL, "--db", db, "archive", "--dry-run", "--before", bad[i],
		    (char *)NULL);
		is_int(r.status, 1, "archive --before '%s' is a usage error: exit 1", bad[i]);
		like(r.err, "is not a date (YYYY-MM-DD)", "... saying so (%s)", r.err);
		run_free(&r);
	}
	util_genbox_run(&r, NULL, "--db", db, "archive", "--dry-run", "--before", "2024-02-29",
	    (char *)NULL);
	is_int(r.status, 0, "... 2024-02-29 is a date (%s)", r.err);
	run_free(&r);
	util_genbox_run(&r, NULL, "--db", db, "restore", "--from", arch, "--after", "2024-03-01",
	    "--before", "2024-02-01", (char *)NULL);
	is_int(r.status, 1, "restore --after later than --before is a usage error: exit 1");
	like(r.err, "--after 2024-03-01 is not before --before 2024-02-01", "... saying so (%s)",
	    r.err);
	run_free(&r);
}

int
main(void)
{
	test_order();
	test_bomb();
	test_long_line();
	test_dates();
	test_failed_summary();
	return tap_done();
}
