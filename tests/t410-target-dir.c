/*
 * t410-target-dir.c - dir:PATH targets (sync/target.h): put, get, stat,
 * list, delete; names that would leave the folder are refused; a put killed
 * halfway leaves no object; a 50 MB file streamed in and out.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dirent.h>

#include "../sync/target.h"
#include "tap.h"
#include "util.h"

static struct gb_err err;

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

/* A file of size bytes that does not repeat (xorshift). */
static void
make_file(const char *path, size_t size)
{
	unsigned char *p = malloc(size);
	uint64_t x = 88172645463325252ULL;

	if (p == NULL)
		tap_bail("out of memory");
	for (size_t i = 0; i < size; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (unsigned char)x;
	}
	if (util_write_file(path, p, size) < 0)
		tap_bail("write %s", path);
	free(p);
}

static int
exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

static void
test_open(const char *tmp)
{
	struct target *t = NULL;
	char spec[4200], path[4200];
	struct stat st;

	snprintf(spec, sizeof(spec), "dir:%s/new/archive", tmp);
	is_int(target_open(&t, spec, NULL, &err), 0, "a missing folder is created (%s)", err.msg);
	snprintf(path, sizeof(path), "%s/new/archive", tmp);
	ok(stat(path, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0750,
	    "... as a folder of mode 0750");
	is_str(target_name(t), spec, "target_name is the spec");
	target_close(t);
	gb_err_clear(&err);
	t = NULL;
	snprintf(spec, sizeof(spec), "dir:%s/nope/typo", tmp);
	ok(target_open_existing(&t, spec, NULL, &err) == GB_ENOTFOUND && t == NULL,
	    "opened for reading, a missing folder is GB_ENOTFOUND");
	like(err.msg, "nope/typo: no such folder", "... saying so (%s)", err.msg);
	snprintf(path, sizeof(path), "%s/nope", tmp);
	ok(stat(path, &st) < 0, "... and is not created");
	gb_err_clear(&err);
	snprintf(spec, sizeof(spec), "dir:%s/new/archive", tmp);
	is_int(target_open_existing(&t, spec, NULL, &err), 0, "... an existing one opens");
	target_close(t);
	t = NULL;
	ok(target_open(&t, "dir:", NULL, &err) == GB_EINVAL && t == NULL,
	    "dir: without a path is refused");
	like(err.msg, "no folder", "... saying so (%s)", err.msg);
	gb_err_clear(&err);
	ok(target_open(&t, "ftp://x/y", NULL, &err) == GB_EINVAL, "an unknown scheme is refused");
	like(err.msg, "dir:PATH or s3://bucket/prefix", "... naming the forms (%s)", err.msg);
	gb_err_clear(&err);
	snprintf(path, sizeof(path), "%s/plain", tmp);
	util_write_file(path, "x", 1);
	snprintf(spec, sizeof(spec), "dir:%s/plain", tmp);
	ok(target_open(&t, spec, NULL, &err) != 0, "a file in place of the folder is refused");
	like(err.msg, "not a folder", "... saying so (%s)", err.msg);
	gb_err_clear(&err);
	ok(target_open(&t, "s3://bucket/p", NULL, &err) == GB_EINVAL,
	    "s3:// without an endpoint is refused");
	like(err.msg, "[s3] endpoint", "... naming the key (%s)", err.msg);
	gb_err_clear(&err);
}

static void
test_objects(struct target *t, const char *root)
{
	const char *body = "{\"_id\":\"ctx_1\"}\n";
	char path[4200], want[65], got[65], **names = NULL;
	void *data = NULL;
	size_t len = 0;
	int64_t size = -1;
	int found = -1, n = 0;

	is_int(target_put(t, "contexts/2024-01-05.jsonl.gz", body, strlen(body), &err), 0,
	    "put an object (%s)", err.msg);
	snprintf(path, sizeof(path), "%s/contexts/2024-01-05.jsonl.gz", root);
	{
		char *text = util_read_file(path, NULL);

		is_str(text, body, "... it is the file of its name");
		free(text);
	}
	is_int(target_get(t, "contexts/2024-01-05.jsonl.gz", &data, &len, &err), 0, "get it");
	ok(len == strlen(body) && memcmp(data, body, len) == 0, "... the same bytes");
	free(data);
	sha256sum(path, want);
	is_int(target_stat(t, "contexts/2024-01-05.jsonl.gz", &size, got, &found, &err), 0, "stat it");
	ok(found && size == (int64_t)strlen(body), "... found, %lld bytes", (long long)size);
	is_str(got, want, "... its SHA-256 is sha256sum's");
	is_int(target_stat(t, "contexts/none.gz", &size, got, &found, &err), 0,
	    "stat of a missing object is no error");
	is_int(found, 0, "... it is not found");
	ok(target_get(t, "contexts/none.gz", &data, &len, &err) == GB_ENOTFOUND,
	    "get of a missing object: GB_ENOTFOUND");
	like(err.msg, "contexts/none.gz: not found", "... naming it (%s)", err.msg);
	gb_err_clear(&err);
	target_put(t, "contexts/2024-01-04.jsonl.gz", "a", 1, &err);
	target_put(t, "batches/2024-01-04.jsonl.gz", "b", 1, &err);
	target_put(t, "manifests/2024-01-06T00:00:00Z.json", "{}", 2, &err);
	is_int(target_put(t, "empty", NULL, 0, &err), 0, "an empty object is stored");
	ok(target_put(t, "contexts/2024-01-04.jsonl.gz", "aa", 2, &err) == GB_EEXIST,
	    "a put never replaces an object: GB_EEXIST");
	like(err.msg, "contexts/2024-01-04.jsonl.gz: already there", "... naming it (%s)",
	    err.msg);
	gb_err_clear(&err);
	is_int(target_get(t, "contexts/2024-01-04.jsonl.gz", &data, &len, &err), 0,
	    "... and it is still there");
	ok(len == 1 && memcmp(data, "a", 1) == 0, "... unchanged");
	free(data);
	is_int(target_list(t, "", &names, &n, &err), 0, "list all");
	ok(n == 5 && strcmp(names[0], "batches/2024-01-04.jsonl.gz") == 0 &&
	    strcmp(names[1], "contexts/2024-01-04.jsonl.gz") == 0 &&
	    strcmp(names[2], "contexts/2024-01-05.jsonl.gz") == 0 && strcmp(names[4], "manifests/"
	    "2024-01-06T00:00:00Z.json") == 0 && strcmp(names[3], "empty") == 0,
	    "... five names, sorted, with their folders");
	target_names_free(names, n);
	is_int(target_list(t, "contexts/2024-01-0", &names, &n, &err), 0, "list by a prefix");
	ok(n == 2 && strcmp(names[0], "contexts/2024-01-04.jsonl.gz") == 0,
	    "... only the two under it (%d)", n);
	target_names_free(names, n);
	is_int(target_list(t, "nothing/", &names, &n, &err), 0, "list of an unused prefix");
	is_int(n, 0, "... is empty");
	target_names_free(names, n);
	is_int(target_delete(t, "contexts/2024-01-04.jsonl.gz", &err), 0, "delete");
	target_stat(t, "contexts/2024-01-04.jsonl.gz", &size, got, &found, &err);
	is_int(found, 0, "... it is gone");
	is_int(target_delete(t, "contexts/2024-01-04.jsonl.gz", &err), 0,
	    "deleting a missing object is no error");
}

static void
test_names(struct target *t, const char *tmp)
{
	static const char *bad[] = { "", "/etc/passwd", "../escape", "a/../../escape", "a//b",
		"a/", ".", "a/./b", "..", "a/.tmp-x-123456", ".tmp-a/b", "tab\there" };
	char path[4200];
	int64_t size;
	char sha[65];
	int found, refused = 0;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = target_put(t, bad[i], "x", 1, &err);

		if (rc == GB_EINVAL && strstr(err.msg, "object name"))
			refused++;
		else
			tap_diag("'%s': %d %s", bad[i], rc, err.msg);
		gb_err_clear(&err);
		if (target_stat(t, bad[i], &size, sha, &found, &err) == GB_EINVAL)
			refused++;
		gb_err_clear(&err);
	}
	is_int(refused, 24, "put and stat refuse the 12 bad names");
	snprintf(path, sizeof(path), "%s/escape", tmp);
	ok(!exists(path), "... nothing was written outside the folder");
	ok(target_delete(t, "../plain", &err) == GB_EINVAL, "delete refuses '../plain'");
	snprintf(path, sizeof(path), "%s/plain", tmp);
	ok(exists(path), "... the file is still there");
	gb_err_clear(&err);
	{
		char *longname = malloc(2000);

		memset(longname, 'a', 1999);
		longname[1999] = '\0';
		ok(target_put(t, longname, "x", 1, &err) == GB_EINVAL, "a 1999-byte name is refused");
		like(err.msg, "1999 bytes", "... saying how long it is (%s)", err.msg);
		gb_err_clear(&err);
		free(longname);
	}
}

/*
 * A put killed halfway (SIGKILL while it writes 50 MB) leaves no object:
 * the name stays unlisted and unreadable; the next put stores it.
 */
static void
test_killed_put(struct target *t, const char *root, const char *big)
{
	char folder[4200], **names = NULL, sha[65];
	int64_t size = -1;
	int n = 0, found = -1, seen = 0, st;
	pid_t pid;

	snprintf(folder, sizeof(folder), "%s/backups", root);
	fflush(stdout);
	if ((pid = fork()) == 0) {
		struct gb_err e = { 0 };

		alarm(60);
		_exit(target_put_file(t, "backups/killed.db.gz", big, &e) ? 1 : 0);
	}
	for (int i = 0; i < 5000 && !seen; i++) {
		DIR *d = opendir(folder);
		struct dirent *de;

		while (d && (de = readdir(d)) != NULL)
			if (strncmp(de->d_name, ".tmp-killed.db.gz-", 18) == 0)
				seen = 1;
		if (d)
			closedir(d);
		if (!seen)
			usleep(1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	ok(seen && WIFSIGNALED(st), "a put was killed while its temporary file was written");
	is_int(target_stat(t, "backups/killed.db.gz", &size, sha, &found, &err), 0, "stat after it");
	is_int(found, 0, "... no object of that name");
	is_int(target_list(t, "backups/", &names, &n, &err), 0, "list after it");
	is_int(n, 0, "... the temporary file is not listed");
	target_names_free(names, n);
	is_int(target_put_file(t, "backups/killed.db.gz", big, &err), 0,
	    "the put run again stores it (%s)", err.msg);
}

static void
test_big(struct target *t, const char *tmp, const char *big)
{
	char back[4200], want[65], got[65], missing[4200];
	int64_t size = -1;
	int found = -1;
	size_t len = 0;
	char *a, *b;
	struct stat st;

	sha256sum(big, want);
	is_int(target_put_file(t, "backups/genbox-1.db.gz", big, &err), 0,
	    "put_file of 50 MB (%s)", err.msg);
	is_int(target_stat(t, "backups/genbox-1.db.gz", &size, got, &found, &err), 0, "stat it");
	ok(found && size == 50 * 1024 * 1024, "... 50 MB stored (%lld)", (long long)size);
	is_str(got, want, "... with the file's SHA-256");
	snprintf(back, sizeof(back), "%s/back.db.gz", tmp);
	util_write_file(back, "old", 3);
	is_int(target_get_file(t, "backups/genbox-1.db.gz", back, &err), 0,
	    "get_file replaces a local file (%s)", err.msg);
	a = util_read_file(big, &len);
	b = util_read_file(back, NULL);
	ok(a && b && stat(back, &st) == 0 && st.st_size == (off_t)len && memcmp(a, b, len) == 0,
	    "... with the same 50 MB");
	is_int(st.st_mode & 0777, 0600, "... of mode 0600");
	free(a);
	free(b);
	ok(target_get_file(t, "backups/none.gz", back, &err) == GB_ENOTFOUND,
	    "get_file of a missing object: GB_ENOTFOUND");
	ok(stat(back, &st) == 0 && st.st_size == 50 * 1024 * 1024, "... the local file is kept");
	gb_err_clear(&err);
	snprintf(missing, sizeof(missing), "%s/no-such-file", tmp);
	ok(target_put_file(t, "backups/x", missing, &err) == GB_ENOTFOUND,
	    "put_file of a missing local file is refused");
	like(err.msg, "no-such-file", "... naming it (%s)", err.msg);
	gb_err_clear(&err);
}

/* A long folder: a failure's message keeps its reason (the path shown shortened). */
static void
test_long_path(const char *tmp)
{
	char path[1200], spec[1300], file[1400];
	struct target *t = NULL;

	snprintf(path, sizeof(path), "%s", tmp);
	for (int i = 0; i < 6; i++)
		snprintf(path + strlen(path), sizeof(path) - strlen(path), "/%s%d",
		    "a-rather-long-folder-name-for-archives", i);
	snprintf(spec, sizeof(spec), "dir:%s", path);
	if (target_open(&t, spec, NULL, &err))
		tap_bail("open %s: %s", spec, err.msg);
	is_str(target_name(t), spec, "a long folder's target_name is the spec");
	snprintf(file, sizeof(file), "%s/contexts", path);
	util_write_file(file, "x", 1);
	ok(target_put(t, "contexts/2024-01-05.jsonl.gz", "a", 1, &err) != 0,
	    "a put under a file fails");
	like(err.msg, "contexts/2024-01-05.jsonl.gz: cannot create a temporary file: Not a dir",
	    "... the message keeps the path's tail and the reason (%s)", err.msg);
	like(err.msg, "...", "... the path shortened in the middle");
	gb_err_clear(&err);
	target_close(t);
}

int
main(void)
{
	const char *tmp = util_tmpdir();
	char spec[4200], root[1024], big[1024];
	struct target *t = NULL;

	test_open(tmp);
	test_long_path(tmp);
	snprintf(root, sizeof(root), "%s/archive", tmp);
	snprintf(spec, sizeof(spec), "dir:%s/", root);
	if (target_open(&t, spec, NULL, &err))
		tap_bail("open %s: %s", spec, err.msg);
	test_objects(t, root);
	test_names(t, tmp);
	snprintf(big, sizeof(big), "%s/big.bin", tmp);
	make_file(big, 50 * 1024 * 1024);
	test_killed_put(t, root, big);
	test_big(t, tmp, big);
	target_close(t);
	return tap_done();
}
