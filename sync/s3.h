/*
 * s3.h - a small S3 client over libcurl: path-style URLs
 * (endpoint/bucket/key), requests signed with SigV4 by libcurl
 * (CURLOPT_AWS_SIGV4) and the payload hash sent by us
 * (x-amz-content-sha256), which libcurl 7.88 leaves out.
 *
 * One struct s3 belongs to one thread at a time (it owns a curl handle).
 * Every request waits at most timeout_ms, and fails sooner when the peer
 * sends nothing for a few seconds (a stopped server).
 *
 * Errors name the object as s3://bucket/key and never the secret:
 *   GB_ENOTFOUND  404 (NoSuchKey, NoSuchBucket)
 *   GB_EPERM      401, 403 ("s3://b/k: 403 SignatureDoesNotMatch")
 *   GB_ETRANSIENT no connection, timeout, 5xx, 429
 *                 ("s3 endpoint http://127.0.0.1:7480 unreachable: ...")
 *   GB_EIO        other answers, or a local file that cannot be read/written
 * All functions return 0 or a negative GB_E* code with a message in err.
 */
#ifndef GB_SYNC_S3_H
#define GB_SYNC_S3_H

#include <stddef.h>
#include <stdint.h>

#include "../base/err.h"

struct s3;

/*
 * endpoint http(s)://host[:port] (no path), region NULL or "" for
 * us-east-1, timeout_ms <= 0 for 30000. The strings are copied.
 */
int s3_open(struct s3 **out, const char *endpoint, const char *region,
    const char *access_key, const char *secret_key, int timeout_ms, struct gb_err *err);
void s3_close(struct s3 *s);

/*
 * PUT len bytes as bucket/key. sha256_hex: the hex SHA-256 of the data, or
 * NULL to have it computed. GB_ENOTFOUND when the bucket is missing.
 */
int s3_put(struct s3 *s, const char *bucket, const char *key, const void *data,
    size_t len, const char *sha256_hex, struct gb_err *err);
/* PUT size bytes read from fd (at its current offset), whose hash is sha256_hex. */
int s3_put_fd(struct s3 *s, const char *bucket, const char *key, int fd, int64_t size,
    const char *sha256_hex, struct gb_err *err);
/*
 * GET bucket/key, handing the body to sink in pieces as it arrives; sink
 * returns 0 to go on or a negative GB_E* code (with its message in err) to
 * stop. GB_ENOTFOUND when missing.
 */
int s3_get(struct s3 *s, const char *bucket, const char *key,
    int (*sink)(const void *data, size_t len, void *arg, struct gb_err *err), void *arg,
    struct gb_err *err);
/* HEAD: *found 0 when missing (not an error), else *size. */
int s3_head(struct s3 *s, const char *bucket, const char *key, int64_t *size, int *found,
    struct gb_err *err);
/* DELETE; a missing key is not an error. */
int s3_delete(struct s3 *s, const char *bucket, const char *key, struct gb_err *err);
/*
 * ListObjectsV2 of the keys starting with prefix, every page (continuation
 * tokens), each key handed to each (which returns 0 or a GB_E* code to
 * stop). GB_ENOTFOUND when the bucket is missing.
 */
int s3_list(struct s3 *s, const char *bucket, const char *prefix,
    int (*each)(const char *key, void *arg, struct gb_err *err), void *arg,
    struct gb_err *err);
/* PUT bucket; one that exists and is ours already is not an error. */
int s3_bucket_create(struct s3 *s, const char *bucket, struct gb_err *err);

/* The hex SHA-256 of len bytes (65 bytes with the NUL). */
void s3_sha256_hex(const void *data, size_t len, char out[65]);

#endif
