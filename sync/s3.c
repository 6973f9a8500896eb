/* s3.c - placeholder */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>

#include "s3.h"

struct s3 { int x; };

int s3_open(struct s3 **out, const char *endpoint, const char *region,
    const char *access_key, const char *secret_key, int timeout_ms, struct gb_err *err)
{ (void)endpoint; (void)region; (void)access_key; (void)secret_key; (void)timeout_ms; *out = NULL; return gb_errf(err, GB_EINVAL, "s3: not built yet"); }
void s3_close(struct s3 *s) { free(s); }
int s3_put(struct s3 *s, const char *bucket, const char *key, const void *data,
    size_t len, const char *sha256_hex, struct gb_err *err) { (void)s; (void)bucket; (void)key; (void)data; (void)len; (void)sha256_hex; return gb_errf(err, GB_EINVAL, "x"); }
int s3_put_fd(struct s3 *s, const char *bucket, const char *key, int fd, int64_t size,
    const char *sha256_hex, struct gb_err *err) { (void)s; (void)bucket; (void)key; (void)fd; (void)size; (void)sha256_hex; return gb_errf(err, GB_EINVAL, "x"); }
int s3_get(struct s3 *s, const char *bucket, const char *key,
    int (*sink)(const void *data, size_t len, void *arg, struct gb_err *err), void *arg,
    struct gb_err *err) { (void)s; (void)bucket; (void)key; (void)sink; (void)arg; return gb_errf(err, GB_EINVAL, "x"); }
int s3_head(struct s3 *s, const char *bucket, const char *key, int64_t *size, int *found,
    struct gb_err *err) { (void)s; (void)bucket; (void)key; (void)size; (void)found; return gb_errf(err, GB_EINVAL, "x"); }
int s3_delete(struct s3 *s, const char *bucket, const char *key, struct gb_err *err) { (void)s; (void)bucket; (void)key; return gb_errf(err, GB_EINVAL, "x"); }
int s3_list(struct s3 *s, const char *bucket, const char *prefix,
    int (*each)(const char *key, void *arg, struct gb_err *err), void *arg,
    struct gb_err *err) { (void)s; (void)bucket; (void)prefix; (void)each; (void)arg; return gb_errf(err, GB_EINVAL, "x"); }
int s3_bucket_create(struct s3 *s, const char *bucket, struct gb_err *err) { (void)s; (void)bucket; return gb_errf(err, GB_EINVAL, "x"); }
void s3_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[32]; unsigned int n;
	EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
}
