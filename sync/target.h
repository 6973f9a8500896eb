/*
 * target.h - where archives and backups go: a folder (dir:PATH) or an S3
 * bucket (s3://bucket/prefix, path-style, SigV4 through libcurl).
 *
 * Objects are named by a relative name ("contexts/2024-01-05.jsonl.gz"),
 * '/'-separated, without "..", empty parts or a leading '/'. A put is
 * verified before it returns: the object is read back and its size and
 * SHA-256 compared with what was sent; a mismatch is an error (GB_EIO) and
 * the object must not count. A dir: put writes a temporary file, fsyncs it
 * and links it into place (and fsyncs the folder), so a reader never sees
 * half an object; it never replaces an existing object (GB_EEXIST). An S3
 * PUT replaces one: writers that share a target pick names no other writer
 * can pick (archive.h: a random run id in every name). Errors name the target and object, never the secret:
 * "s3://b/p/contexts/x.gz: 403 SignatureDoesNotMatch", "s3 endpoint
 * http://127.0.0.1:7480 unreachable: Connection refused".
 *
 * All functions return 0 or a negative GB_E* code with a message in err.
 */
#ifndef GB_SYNC_TARGET_H
#define GB_SYNC_TARGET_H

#include <stddef.h>
#include <stdint.h>

#include "../base/err.h"

struct target;

struct target_s3 {
	const char *endpoint;		/* http(s)://host:port */
	const char *region;		/* NULL or "": us-east-1 */
	const char *access_key;
	const char *secret_key;
	int timeout_ms;			/* each request; 0: 30000 */
};

/*
 * Open spec (dir:PATH, created with mode 0750 when missing; or
 * s3://bucket/prefix, with s3 set). Nothing is sent yet for S3.
 */
int target_open(struct target **out, const char *spec, const struct target_s3 *s3,
    struct gb_err *err);
/* The same for reading only: a missing dir: folder is GB_ENOTFOUND, not created. */
int target_open_existing(struct target **out, const char *spec, const struct target_s3 *s3,
    struct gb_err *err);
void target_close(struct target *t);
/* The spec as given (it holds no secret), for messages and status. */
const char *target_name(const struct target *t);
/*
 * The spec for messages: without a trailing '/', and one longer than
 * TARGET_SHOWN_MAX shown as its head, "..." and its tail, so that the
 * reason after it still fits in a message.
 */
#define TARGET_SHOWN_MAX 100
const char *target_label(const struct target *t);

/* Store len bytes of data as name, then read it back and verify. */
int target_put(struct target *t, const char *name, const void *data, size_t len,
    struct gb_err *err);
/* The same from a local file, streamed (a backup may be larger than memory). */
int target_put_file(struct target *t, const char *name, const char *path,
    struct gb_err *err);
/* name's bytes into *data (malloc'd, *len); GB_ENOTFOUND when missing. */
int target_get(struct target *t, const char *name, void **data, size_t *len,
    struct gb_err *err);
/* name streamed into the local file path (created 0600, replaced). */
int target_get_file(struct target *t, const char *name, const char *path,
    struct gb_err *err);
/*
 * Read name back: *size and sha256_hex (64 hex digits and a NUL) of what is
 * stored; *found 0 when missing (not an error).
 */
int target_stat(struct target *t, const char *name, int64_t *size, char sha256_hex[65],
    int *found, struct gb_err *err);
/*
 * The names under prefix ("" for all), sorted, into *names (malloc'd array
 * of malloc'd strings, *n); free with target_names_free.
 */
int target_list(struct target *t, const char *prefix, char ***names, int *n,
    struct gb_err *err);
void target_names_free(char **names, int n);
/* Remove name; a missing one is not an error. */
int target_delete(struct target *t, const char *name, struct gb_err *err);

#endif
