/*
 * archive_int.h - what archive.c (runs) and archrestore.c (restores) share:
 * the manifests of a target, gzip in memory, reading an object back line
 * by line.
 */
#ifndef GB_SYNC_ARCHIVE_INT_H
#define GB_SYNC_ARCHIVE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "../base/buf.h"
#include "archive.h"

#define ARCHIVE_MAX_RAW (1024u * 1024 * 1024)	/* an object being written, gzip */
#define ARCHIVE_MAX_MANIFEST (64u * 1024 * 1024)
#define ARCHIVE_NAME_MAX 256
#define ARCHIVE_RUN_ID_LEN 17		/* 16 hex digits and a NUL */

/* An object as a manifest names it. */
struct arch_entry {
	char name[ARCHIVE_NAME_MAX];
	int ci;				/* index of its collection (archive_coll) */
	char day[11];
	int64_t count, bytes;
	char sha256[65];		/* hex */
	/* its manifest's "created_at" and place in name order: restores go by these */
	char created[ARCHIVE_TIME_LEN];
	int mseq, pos;
};

/*
 * Every object of every manifest of a target, oldest manifest first: by
 * the manifest's created_at, then its name (names need not sort by time:
 * clocks differ, and a name's run id is random).
 */
struct arch_index {
	struct arch_entry *v;
	int n, cap;
	int manifests;
};

int arch_index_load(struct target *t, struct arch_index *idx, struct gb_err *err);
void arch_index_free(struct arch_index *idx);

/* A gzip stream being written into memory. */
struct arch_gz {
	void *z;			/* z_stream, malloc'd */
	struct buf out;
};
int arch_gz_open(struct arch_gz *g, struct gb_err *err);
int arch_gz_write(struct arch_gz *g, const void *data, size_t len, struct gb_err *err);
/* Finish the stream: g->out holds the gzip bytes. */
int arch_gz_finish(struct arch_gz *g, struct gb_err *err);
void arch_gz_close(struct arch_gz *g);

/*
 * e's object from t, streamed into an unlinked temporary file of tmp_dir
 * (NULL: $TMPDIR or /tmp), its size and SHA-256 checked against e, then
 * each non-empty line (borrowed, without its '\n') to fn, a non-zero
 * return stopping; memory stays bounded by one document (STORE_MAX_DOC),
 * and more lines than e->count is an error (GB_EIO). A missing object is
 * GB_ENOTFOUND.
 */
typedef int (*arch_line_fn)(void *arg, const char *line, size_t len);
/* The same in two steps: the checked object's fd (at 0), or -1 with err set ... */
int arch_object_open(struct target *t, const struct arch_entry *e, const char *tmp_dir,
    struct gb_err *err);
/* ... then its lines (fd is closed). */
int arch_object_lines(struct target *t, int fd, const struct arch_entry *e, arch_line_fn fn,
    void *arg, struct gb_err *err);
int arch_each_line(struct target *t, const struct arch_entry *e, const char *tmp_dir,
    arch_line_fn fn, void *arg, struct gb_err *err);

void arch_hex(const unsigned char md[32], char hex[65]);

#endif
