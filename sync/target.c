/*
 * target.c - the API of target.h: names checked, then dir:PATH (in
 * target_dir.c) or s3://bucket/prefix (through s3.c, the object's key being
 * prefix/name).
 *
 * Names with a part starting with ".tmp-" are refused: in a folder those are
 * the temporary files of puts under way, which a list skips. Every put is
 * read back (size and SHA-256, OpenSSL's EVP) before it returns; on S3 a
 * missing bucket is created by the first put, and an object is stored whole
 * or not at all by S3 itself.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../base/buf.h"
#include "s3.h"
#include "target_int.h"

/* ---- names */

/* Objects are '/'-separated relative names: no "..", ".", empty part, control byte. */
static int
name_check(const struct target *t, const char *name, struct gb_err *err)
{
	const char *part, *end;
	size_t len;

	if (name == NULL || !*name)
		return gb_errf(err, GB_EINVAL, "%s: empty object name", t->spec);
	if ((len = strlen(name)) > TARGET_NAME_MAX)
		return gb_errf(err, GB_EINVAL, "%s: object name of %zu bytes (at most %d)",
		    t->spec, len, TARGET_NAME_MAX);
	if (name[0] == '/')
		return gb_errf(err, GB_EINVAL, "%s: object name '%s' starts with '/'", t->spec, name);
	for (const char *p = name; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return gb_errf(err, GB_EINVAL, "%s: object name holds a control character",
			    t->spec);
	for (part = name;; part = end + 1) {
		end = part + strcspn(part, "/");
		if (end == part)
			return gb_errf(err, GB_EINVAL, "%s: object name '%s' has an empty part",
			    t->spec, name);
		if ((end - part == 2 && part[0] == '.' && part[1] == '.') ||
		    (end - part == 1 && part[0] == '.'))
			return gb_errf(err, GB_EINVAL, "%s: object name '%s' has a '%.*s' part",
			    t->spec, name, (int)(end - part), part);
		if (strncmp(part, TARGET_TMP, strlen(TARGET_TMP)) == 0)
			return gb_errf(err, GB_EINVAL, "%s: object name '%s': parts starting "
			    "with '" TARGET_TMP "' are reserved", t->spec, name);
		if (*end == '\0')
			break;
	}
	return 0;
}

/* s3: the key of name. */
static int
s3_key(const struct target *t, const char *name, char *out, size_t size, struct gb_err *err)
{
	if ((size_t)snprintf(out, size, "%s%s%s", t->prefix, *t->prefix ? "/" : "", name) >= size)
		return gb_errf(err, GB_EINVAL, "%s/%s: key too long", t->spec, name);
	return 0;
}

/* ---- open and close */

static int
open_s3(struct target *t, const char *rest, const struct target_s3 *c, struct gb_err *err)
{
	size_t blen = strcspn(rest, "/");
	const char *prefix = rest + blen;
	size_t plen;

	if (blen < 3 || blen > 63)
		return gb_errf(err, GB_EINVAL, "%s: bucket name of 3 to 63 characters expected",
		    t->spec);
	for (size_t i = 0; i < blen; i++)
		if (!((rest[i] >= 'a' && rest[i] <= 'z') || (rest[i] >= '0' && rest[i] <= '9') ||
		    rest[i] == '-' || rest[i] == '.'))
			return gb_errf(err, GB_EINVAL, "%s: bucket names hold a-z, 0-9, '-' and '.'",
			    t->spec);
	while (*prefix == '/')
		prefix++;
	plen = strlen(prefix);
	while (plen > 0 && prefix[plen - 1] == '/')
		plen--;
	if (c == NULL || c->endpoint == NULL || !*c->endpoint)
		return gb_errf(err, GB_EINVAL, "%s: no S3 endpoint set ([s3] endpoint)", t->spec);
	if (c->access_key == NULL || !*c->access_key)
		return gb_errf(err, GB_EINVAL, "%s: no S3 access key set ([s3] access_key)", t->spec);
	if (c->secret_key == NULL || !*c->secret_key)
		return gb_errf(err, GB_EINVAL,
		    "%s: no S3 secret key set ([s3] secret_key or GENBOX_S3_SECRET_KEY)", t->spec);
	t->bucket = strndup(rest, blen);
	t->prefix = strndup(prefix, plen);
	if (t->bucket == NULL || t->prefix == NULL)
		return gb_errf(err, GB_ENOMEM, "out of memory");
	/* the prefix obeys the rules of names */
	if (plen && name_check(t, t->prefix, err))
		return err->code;
	return s3_open(&t->s3, c->endpoint, c->region, c->access_key, c->secret_key,
	    c->timeout_ms, err);
}

static int
open_target(struct target **out, const char *spec, const struct target_s3 *s3, int create,
    struct gb_err *err)
{
	struct target *t;
	size_t len;
	int rc;

	*out = NULL;
	if (spec == NULL)
		return gb_errf(err, GB_EINVAL, "no target given");
	if ((t = calloc(1, sizeof(*t))) == NULL || (t->spec = strdup(spec)) == NULL ||
	    (t->given = strdup(spec)) == NULL) {
		target_close(t);
		return gb_errf(err, GB_ENOMEM, "out of memory");
	}
	len = strlen(t->spec);
	while (len > 1 && t->spec[len - 1] == '/' && strcmp(t->spec, "dir:/") != 0)
		t->spec[--len] = '\0';
	if (len > TARGET_SHOWN_MAX) {	/* head and tail: the reason must fit in a message */
		size_t head = 40, tail = TARGET_SHOWN_MAX - head - 3;

		memcpy(t->spec + head, "...", 3);
		memmove(t->spec + head + 3, t->spec + len - tail, tail + 1);
	}
	if (strncmp(spec, "dir:", 4) == 0) {
		t->kind = TARGET_DIR;
		rc = target_dir_open(t, spec + 4, create, err);
	} else if (strncmp(spec, "s3://", 5) == 0) {
		t->kind = TARGET_S3;
		rc = open_s3(t, spec + 5, s3, err);
	} else {
		rc = gb_errf(err, GB_EINVAL, "target '%s': dir:PATH or s3://bucket/prefix expected",
		    spec);
	}
	if (rc) {
		target_close(t);
		return rc;
	}
	*out = t;
	return 0;
}

int
target_open(struct target **out, const char *spec, const struct target_s3 *s3,
    struct gb_err *err)
{
	return open_target(out, spec, s3, 1, err);
}

int
target_open_existing(struct target **out, const char *spec, const struct target_s3 *s3,
    struct gb_err *err)
{
	return open_target(out, spec, s3, 0, err);
}

void
target_close(struct target *t)
{
	if (t == NULL)
		return;
	s3_close(t->s3);
	free(t->spec);
	free(t->given);
	free(t->dir);
	free(t->bucket);
	free(t->prefix);
	free(t);
}

const char *
target_name(const struct target *t)
{
	return t->given;
}

const char *
target_label(const struct target *t)
{
	return t->spec;
}

/* ---- s3: */

static int
sink_hash(const void *data, size_t len, void *arg, struct gb_err *err)
{
	(void)err;
	target_hash_update(arg, data, len);
	return 0;
}

static int
sink_buf(const void *data, size_t len, void *arg, struct gb_err *err)
{
	int rc = buf_append(arg, data, len);

	if (rc == GB_ETOOBIG)
		return gb_errf(err, rc, "object of more than %zu bytes to read at once",
		    TARGET_GET_MAX);
	if (rc)
		return gb_errf(err, rc, "out of memory");
	return 0;
}

/* A local file being written. */
struct sink_file {
	int fd;
	const char *path;
};

static int
sink_fd(const void *data, size_t len, void *arg, struct gb_err *err)
{
	struct sink_file *f = arg;

	if (target_write_all(f->fd, data, len) < 0)
		return gb_errf(err, GB_EIO, "writing %s: %s", f->path, strerror(errno));
	return 0;
}

static void
err_copy(struct gb_err *err, const struct gb_err *from)
{
	gb_errf(err, from->code, "%s", from->msg);
}

/* PUT from data (or fd when data is NULL), creating the bucket when missing. */
static int
s3_write(struct target *t, const char *name, const void *data, size_t len, int fd,
    int64_t size, const char *sha, struct gb_err *err)
{
	char key[TARGET_NAME_MAX * 2 + 8];
	struct gb_err e = { 0 };
	int rc;

	if ((rc = s3_key(t, name, key, sizeof(key), err)))
		return rc;
	for (int attempt = 0;; attempt++) {
		gb_err_clear(&e);
		if (data)
			rc = s3_put(t->s3, t->bucket, key, data, len, sha, &e);
		else if (lseek(fd, 0, SEEK_SET) < 0)
			return gb_errf(err, GB_EIO, "%s/%s: seek: %s", t->spec, name, strerror(errno));
		else
			rc = s3_put_fd(t->s3, t->bucket, key, fd, size, sha, &e);
		if (rc != GB_ENOTFOUND || strstr(e.msg, "NoSuchBucket") == NULL || attempt > 0)
			break;
		if ((rc = s3_bucket_create(t->s3, t->bucket, err)))
			return rc;
	}
	if (rc)
		err_copy(err, &e);
	return rc;
}

static int
s3_stat(struct target *t, const char *name, int64_t *size, char sha[65], int *found,
    struct gb_err *err)
{
	char key[TARGET_NAME_MAX * 2 + 8];
	struct gb_err e = { 0 };
	struct target_hash h;
	int rc;

	*found = 0;
	if ((rc = s3_key(t, name, key, sizeof(key), err)) || (rc = target_hash_init(&h, err)))
		return rc;
	rc = s3_get(t->s3, t->bucket, key, sink_hash, &h, &e);
	if (rc) {
		target_hash_release(&h);
		if (rc == GB_ENOTFOUND)
			return 0;
		err_copy(err, &e);
		return rc;
	}
	*size = h.size;
	target_hash_final(&h, sha);
	*found = 1;
	return 0;
}

struct collect {
	struct target_names nm;
	size_t skip;		/* the target's prefix and its '/' */
	const char *want;	/* the key prefix asked for */
	const char *label;
};

static int
s3_collect(const char *key, void *arg, struct gb_err *err)
{
	struct collect *c = arg;

	if (strncmp(key, c->want, strlen(c->want)) != 0)
		return gb_errf(err, GB_EIO, "%s: the list answer names '%.64s', outside the "
		    "prefix asked for", c->label, key);
	if (strlen(key) <= c->skip)
		return 0;
	return target_names_add(&c->nm, key + c->skip, err);
}

/* ---- the operations */

/* What is stored as name must be size bytes hashing to sha. */
static int
verify(struct target *t, const char *name, int64_t size, const char *sha, struct gb_err *err)
{
	char got[65];
	int64_t gsize = -1;
	int found, rc;

	if ((rc = target_stat(t, name, &gsize, got, &found, err)))
		return rc;
	if (!found)
		return gb_errf(err, GB_EIO, "%s/%s: missing when read back after the put",
		    t->spec, name);
	if (gsize != size || strcmp(got, sha) != 0)
		return gb_errf(err, GB_EIO, "%s/%s: read back %lld bytes (sha-256 %.16s...), "
		    "sent %lld (%.16s...)", t->spec, name, (long long)gsize, got, (long long)size,
		    sha);
	return 0;
}

int
target_put(struct target *t, const char *name, const void *data, size_t len,
    struct gb_err *err)
{
	char sha[65];
	int rc;

	if ((rc = name_check(t, name, err)))
		return rc;
	if (data == NULL && len > 0)
		return gb_errf(err, GB_EINVAL, "%s/%s: no data", t->spec, name);
	if (data == NULL)
		data = "";
	s3_sha256_hex(data, len, sha);
	if (t->kind == TARGET_DIR)
		rc = target_dir_write(t, name, data, len, -1, err);
	else
		rc = s3_write(t, name, data, len, -1, (int64_t)len, sha, err);
	return rc ? rc : verify(t, name, (int64_t)len, sha, err);
}

int
target_put_file(struct target *t, const char *name, const char *path, struct gb_err *err)
{
	char sha[65];
	int64_t size;
	int fd, rc;

	if ((rc = name_check(t, name, err)))
		return rc;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return gb_errf(err, errno == ENOENT ? GB_ENOTFOUND : GB_EIO, "%s: %s", path,
		    strerror(errno));
	if ((rc = target_fd_hash(fd, &size, sha, path, err)) == 0) {
		if (lseek(fd, 0, SEEK_SET) < 0)
			rc = gb_errf(err, GB_EIO, "%s: seek: %s", path, strerror(errno));
		else if (t->kind == TARGET_DIR)
			rc = target_dir_write(t, name, NULL, 0, fd, err);
		else
			rc = s3_write(t, name, NULL, 0, fd, size, sha, err);
	}
	close(fd);
	return rc ? rc : verify(t, name, size, sha, err);
}

int
target_get(struct target *t, const char *name, void **data, size_t *len,
    struct gb_err *err)
{
	char key[TARGET_NAME_MAX * 2 + 8];
	struct buf b;
	int rc;

	*data = NULL;
	*len = 0;
	if ((rc = name_check(t, name, err)))
		return rc;
	if (t->kind == TARGET_DIR)
		return target_dir_get(t, name, data, len, err);
	if ((rc = s3_key(t, name, key, sizeof(key), err)))
		return rc;
	buf_init(&b, TARGET_GET_MAX);
	if ((rc = s3_get(t->s3, t->bucket, key, sink_buf, &b, err))) {
		buf_release(&b);
		return rc;
	}
	*len = b.len;
	if ((*data = buf_take(&b)) == NULL)
		return gb_errf(err, GB_ENOMEM, "out of memory");
	return 0;
}

int
target_get_file(struct target *t, const char *name, const char *path, struct gb_err *err)
{
	char tmp[PATH_MAX], key[TARGET_NAME_MAX * 2 + 8], label[PATH_MAX + 64];
	int fd, src, missing, rc;

	if ((rc = name_check(t, name, err)))
		return rc;
	snprintf(label, sizeof(label), "%s/%s", t->spec, name);
	if (t->kind == TARGET_S3 && (rc = s3_key(t, name, key, sizeof(key), err)))
		return rc;
	if ((fd = target_tmp_beside(path, ".", tmp, sizeof(tmp), err)) < 0)
		return err->code;
	if (t->kind == TARGET_DIR) {
		if ((src = target_dir_file(t, name, &missing, err)) < 0)
			rc = missing ? gb_errf(err, GB_ENOTFOUND, "%s: not found", label) : err->code;
		else
			rc = target_fd_pump(src, NULL, fd, label, err);
		if (src >= 0)
			close(src);
	} else {
		struct sink_file f = { fd, path };

		rc = s3_get(t->s3, t->bucket, key, sink_fd, &f, err);
	}
	if (rc) {
		close(fd);
		unlink(tmp);
		return rc;
	}
	return target_tmp_commit(fd, tmp, path, path, 0, err);
}

int
target_stat(struct target *t, const char *name, int64_t *size, char sha256_hex[65],
    int *found, struct gb_err *err)
{
	int rc;

	*found = 0;
	*size = 0;
	sha256_hex[0] = '\0';
	if ((rc = name_check(t, name, err)))
		return rc;
	if (t->kind == TARGET_DIR)
		return target_dir_stat(t, name, size, sha256_hex, found, err);
	return s3_stat(t, name, size, sha256_hex, found, err);
}

static int
names_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
target_list(struct target *t, const char *prefix, char ***names, int *n,
    struct gb_err *err)
{
	char path[PATH_MAX], key[TARGET_NAME_MAX * 2 + 8];
	struct collect c = { { NULL, 0, 0 }, 0, "", "" };
	struct gb_err e = { 0 };
	int rc;

	*names = NULL;
	*n = 0;
	if (prefix == NULL)
		prefix = "";
	if (strlen(prefix) > TARGET_NAME_MAX)
		return gb_errf(err, GB_EINVAL, "%s: prefix too long", t->spec);
	if (t->kind == TARGET_DIR) {
		snprintf(path, sizeof(path), "%s", t->dir);
		rc = target_dir_walk(t, path, strlen(path), strlen(t->dir) + 1, prefix, &c.nm, err);
	} else if ((rc = s3_key(t, prefix, key, sizeof(key), err)) == 0) {
		c.skip = *t->prefix ? strlen(t->prefix) + 1 : 0;
		c.want = key;
		c.label = t->spec;
		rc = s3_list(t->s3, t->bucket, key, s3_collect, &c, &e);
		if (rc == GB_ENOTFOUND && strstr(e.msg, "NoSuchBucket"))
			rc = 0;		/* nothing stored yet */
		else if (rc)
			err_copy(err, &e);
	}
	if (rc) {
		target_names_free(c.nm.v, c.nm.n);
		return rc;
	}
	if (c.nm.n > 1)
		qsort(c.nm.v, (size_t)c.nm.n, sizeof(*c.nm.v), names_cmp);
	*names = c.nm.v;
	*n = c.nm.n;
	return 0;
}

void
target_names_free(char **names, int n)
{
	for (int i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
}

int
target_delete(struct target *t, const char *name, struct gb_err *err)
{
	char key[TARGET_NAME_MAX * 2 + 8];
	int rc;

	if ((rc = name_check(t, name, err)))
		return rc;
	if (t->kind == TARGET_S3) {
		if ((rc = s3_key(t, name, key, sizeof(key), err)))
			return rc;
		return s3_delete(t->s3, t->bucket, key, err);
	}
	return target_dir_delete(t, name, err);
}
