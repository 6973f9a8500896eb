/*
 * archive.h - contexts and batches past retention go to a target (dir: or
 * s3://, target.h) as gzip JSON lines, verified, and only then leave the
 * database; restore brings them back.
 *
 * Objects: "<coll>/<YYYY-MM-DD>-<run>.jsonl.gz", the UTC day of the
 * documents' created_at, one document (as store_get reads it) per line;
 * <run> is the run's random id (16 hex digits), so runs of several boxes or
 * databases sharing a target never pick the same name; a run's further
 * objects of a day are "<coll>/<day>-<run>-<n>.jsonl.gz". A manifest per
 * run, "manifests/<YYYYMMDDTHHMMSSZ>-<run>.json": {"objects": [{"name",
 * "collection", "day", "count", "bytes", "sha256"}], "created_at", "box"}.
 * Archives written with the earlier names ("<coll>/<day>[-<n>].jsonl.gz",
 * "manifests/<stamp>[-<n>].json") are read alike: a manifest names its
 * objects. Only objects
 * named by a manifest count: an object put by a run that died before its
 * manifest is ignored (its documents are still in the database).
 *
 * A run: every object put and read back (size and SHA-256), then the
 * manifest put and read back, and only then the deletes, each row checked
 * again (storage/retention.h): a failure before the manifest deletes
 * nothing. A document already held by an object of an earlier manifest
 * (a run killed during its deletes) is not archived again, only deleted:
 * a rerun finishes the job and a restore finds each document once.
 *
 * Called from one thread with its own store; all functions return 0 or a
 * negative GB_E* code with a message in err (the target's errors name the
 * object, never a secret).
 */
#ifndef GB_SYNC_ARCHIVE_H
#define GB_SYNC_ARCHIVE_H

#include <stdint.h>

#include "../storage/store.h"
#include "target.h"

#define ARCHIVE_TIME_LEN 32

/* The collections archived: contexts (0) and batches (1). */
#define ARCHIVE_NCOLL 2

struct archive_opts {
	/* documents created before these ISO-8601 times go; "" : none of that collection */
	char cutoff[ARCHIVE_NCOLL][ARCHIVE_TIME_LEN];
	int delete_batch;		/* rows per delete transaction; 0: 500 */
	int dry_run;			/* count only: nothing put, nothing deleted */
	const char *box;		/* named in the manifest ("box") */
	int64_t now_ms;			/* the run's time (manifest name, created_at) */
	/* called once the manifest is verified, before the deletes (may be NULL) */
	void (*verified)(void *arg);
	/*
	 * non-zero: stop reading after the current day, and finish; asked
	 * between delete transactions too (may be NULL)
	 */
	int (*stopping)(void *arg);
	void *arg;
	const char *tmp_dir;		/* earlier objects are read through a file here */
};

struct archive_counts {
	int64_t archived[ARCHIVE_NCOLL];	/* documents put into objects (or, dry: would be) */
	int64_t already[ARCHIVE_NCOLL];		/* held by an earlier run's object already */
	int64_t deleted[ARCHIVE_NCOLL];
	int64_t kept[ARCHIVE_NCOLL];		/* changed since archived: kept locally */
	int64_t objects, bytes;			/* objects put, their compressed bytes */
	int64_t freed_pages;			/* given back by the incremental vacuum */
	char manifest[128];			/* its name, "" when none was written */
};

/* enum coll of the i-th archived collection. */
enum coll archive_coll(int i);

/*
 * The cutoff of a retention of days before now_ms: the start of that UTC
 * day ("YYYY-MM-DDT00:00:00.000Z"), so that only whole days are archived.
 */
void archive_cutoff(int64_t now_ms, int days, char out[ARCHIVE_TIME_LEN]);
/* "YYYY-MM-DD" -> its start as above; GB_EINVAL for anything else. */
int archive_day_cutoff(const char *day, char out[ARCHIVE_TIME_LEN], struct gb_err *err);

/*
 * One run (see the top). out is filled also on error: what was done before
 * the failure (objects put, rows deleted of what an earlier manifest or
 * this run's verified one holds).
 */
int archive_run(struct store *st, struct target *t, const struct archive_opts *o,
    struct archive_counts *out, struct gb_err *err);

struct restore_opts {
	const char *after;		/* "YYYY-MM-DD": only days after it; NULL: all */
	const char *before;		/* only days before it; NULL: all */
	const char *tmp_dir;		/* objects are read through a file here; NULL: $TMPDIR */
};

struct restore_counts {
	int64_t docs[ARCHIVE_NCOLL];	/* documents written (upsert by _id) */
	int64_t kept[ARCHIVE_NCOLL];	/* not written: the local one's updated_at is as new */
	int64_t objects, bytes, manifests;
};

/*
 * Read every manifest of t (oldest first: by created_at, then name) and,
 * for each object of a day in range, check its size and SHA-256, then
 * upsert its documents by _id (one transaction per object), but for those
 * whose local document has an updated_at as new or newer (kept). An object
 * named twice is read once. A target without any manifest is GB_ENOTFOUND.
 */
int archive_restore(struct store *st, struct target *t, const struct restore_opts *o,
    struct restore_counts *out, struct gb_err *err);

#endif
