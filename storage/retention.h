/*
 * retention.h - what may leave the box: contexts and batches past their
 * retention, read a day at a time for the archive, and deleted in small
 * transactions that check each row again.
 *
 * A candidate is a context or batch in a terminal state (completed, failed,
 * cancelled) created before the cutoff (created_at, ISO-8601 UTC) and, when
 * sync is enabled (store_sync_enabled), neither waiting in the outbox nor
 * refused by the cluster (sync_rejected, direction 'push'): only what the
 * cluster holds may leave. Templates, components and pipelines are never
 * candidates. Days are the UTC days of created_at ("YYYY-MM-DD").
 *
 * All functions return 0 or a negative GB_E* code with a message in err;
 * a collection other than contexts and batches is GB_EINVAL.
 */
#ifndef GB_STORAGE_RETENTION_H
#define GB_STORAGE_RETENTION_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define RETENTION_DAY_LEN 11		/* "YYYY-MM-DD" and a NUL */

/*
 * The days (ascending) that hold candidates of c created before cutoff
 * (an ISO-8601 time, e.g. "2026-09-01T00:00:00.000Z"); *days malloc'd
 * (caller frees with free()), *n of them.
 */
int store_retention_days(struct store *st, enum coll c, const char *cutoff,
    char (**days)[RETENTION_DAY_LEN], int *n, struct gb_err *err);

/*
 * Call fn for each candidate of c created on day and before cutoff, in _id
 * order, with its whole document as store_get reads it (id and doc
 * borrowed for the call). A non-zero return from fn stops the walk and is
 * returned.
 */
typedef int (*store_retention_fn)(void *arg, const char *id, const char *doc, size_t len);
int store_retention_each(struct store *st, enum coll c, const char *day, const char *cutoff,
    store_retention_fn fn, void *arg, struct gb_err *err);

/* A row to delete: its _id and the SHA-256 of its document as archived. */
struct retention_row {
	const char *id;
	unsigned char sha256[32];
};

/*
 * Delete rows of c, batch rows per transaction (<= 0: 500). Each row is
 * read again inside its transaction and deleted only when it is still a
 * candidate (terminal, not in the outbox nor refused on push when sync is
 * enabled) and its document is the one archived (same SHA-256): a row
 * changed since is kept. *deleted and *kept (may be NULL) count them.
 * stopping (may be NULL) is asked between transactions: non-zero stops
 * there with GB_ESTATE (what is left is a later run's to delete).
 */
int store_retention_delete(struct store *st, enum coll c, const struct retention_row *rows,
    size_t n, int batch, int (*stopping)(void *arg), void *arg, int64_t *deleted,
    int64_t *kept, struct gb_err *err);

/*
 * Give the free pages back to the file system (PRAGMA incremental_vacuum),
 * a slice at a time so that writers get in between; *freed (may be NULL)
 * counts the pages. Nothing to do on a database without auto_vacuum.
 */
int store_retention_vacuum(struct store *st, int64_t *freed, struct gb_err *err);

/* SHA-256 of len bytes of data into md. */
void store_sha256(const void *data, size_t len, unsigned char md[32]);

#endif
