/*
 * fuzzlib.c - the harnesses' shared set-up (fuzz.h).
 */
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../appliance/demo.h"
#include "../../storage/docs.h"
#include "fuzz.h"

static char tmpdir[4096];
static pid_t tmp_owner;

static int
remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(path);
}

static void
remove_tmpdir(void)
{
	if (tmpdir[0] && getpid() == tmp_owner)
		nftw(tmpdir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *
fuzz_tmpdir(void)
{
	const char *base = getenv("TMPDIR");

	if (tmpdir[0])
		return tmpdir;
	snprintf(tmpdir, sizeof(tmpdir), "%s/genbox-fuzz-XXXXXX", base && *base ? base : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		perror(tmpdir);
		exit(1);
	}
	tmp_owner = getpid();
	atexit(remove_tmpdir);
	return tmpdir;
}

void
fuzz_store(char *path, size_t size, int memory, int demo, struct store **st)
{
	static int seq;
	struct store_opts opts = { .create = 1, .migrate = 1 };
	struct gb_err err = { 0, "" };

	if (memory)
		snprintf(path, size, ":memory:");
	else
		snprintf(path, size, "%s/db%d.db", fuzz_tmpdir(), ++seq);
	if (store_open(st, path, &opts, &err))
		fuzz_fail("open %s: %s", path, err.msg);
	for (const struct demo_doc *d = demo ? demo_docs : NULL; d && d->collection; d++) {
		int c = coll_from_name(d->collection);

		if (c < 0 || store_put(*st, (enum coll)c, d->json, strlen(d->json), STORE_UPSERT,
		    NULL, &err))
			fuzz_fail("demo %s: %s", d->name, c < 0 ? "unknown collection" : err.msg);
	}
}

void
fuzz_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("fuzz: invariant broken: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}
