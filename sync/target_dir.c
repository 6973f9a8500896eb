/*
 * target_dir.c - the dir: targets of target.h, and the file and SHA-256
 * helpers that target.c shares (target_int.h).
 *
 * An object is the file PATH/name. A put writes the temporary file
 * "<folder>/.tmp-<base>-XXXXXX", fsyncs it, links it into place (never
 * over an existing object: GB_EEXIST), unlinks the temporary and fsyncs
 * the folder: a reader sees the whole object or none. A list skips
 * the temporaries (target.c refuses names with a part that looks like one).
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

#include "target_int.h"

/* ---- SHA-256 of a stream */

int
target_hash_init(struct target_hash *h, struct gb_err *err)
{
	h->size = 0;
	if ((h->ctx = EVP_MD_CTX_new()) == NULL || !EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(h->ctx);
		h->ctx = NULL;
		return gb_errf(err, GB_ENOMEM, "sha-256: cannot start a digest");
	}
	return 0;
}

void
target_hash_update(struct target_hash *h, const void *p, size_t n)
{
	EVP_DigestUpdate(h->ctx, p, n);
	h->size += (int64_t)n;
}

/* The hex digest into out (65 bytes); h is released. */
void
target_hash_final(struct target_hash *h, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	EVP_DigestFinal_ex(h->ctx, md, &n);
	for (unsigned int i = 0; i < n && i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	out[64] = '\0';
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
}

void
target_hash_release(struct target_hash *h)
{
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
}

int
target_dir_path(const struct target *t, const char *name, char *out, size_t size,
    struct gb_err *err)
{
	if ((size_t)snprintf(out, size, "%s/%s", t->dir, name) >= size)
		return gb_errf(err, GB_EINVAL, "%s/%s: path too long", t->spec, name);
	return 0;
}

static int
fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/*
 * Create the folders of path up to (not including) its last '/' from the
 * byte at `from` on (mode 0750); each new one is made durable in its parent.
 */
static int
mkdirs(char *path, size_t from, const char *label, struct gb_err *err)
{
	for (char *p = path + from; (p = strchr(p, '/')) != NULL; p++) {
		if (p == path)
			continue;
		*p = '\0';
		if (mkdir(path, 0750) == 0) {
			char *slash = strrchr(path, '/');

			if (slash && slash != path) {
				*slash = '\0';
				fsync_dir(path);
				*slash = '/';
			}
		} else if (errno != EEXIST) {
			int e = errno;

			*p = '/';
			return gb_errf(err, GB_EIO, "%s: mkdir: %s", label, strerror(e));
		}
		*p = '/';
	}
	return 0;
}

/* ---- reading and writing files */

int
target_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Read fd to its end through h (and into out when not -1). The buffer is on
 * the heap: thread-local storage is carved out of every thread's stack, and
 * civetweb's threads have ~100 KB of it.
 */
int
target_fd_pump(int fd, struct target_hash *h, int out, const char *label, struct gb_err *err)
{
	enum { CHUNK = 1 << 16 };
	char *chunk = malloc(CHUNK);
	ssize_t n;
	int rc = 0;

	if (chunk == NULL)
		return gb_errf(err, GB_ENOMEM, "%s: out of memory", label);
	for (;;) {
		if ((n = read(fd, chunk, CHUNK)) < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = gb_errf(err, GB_EIO, "%s: read: %s", label, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		if (h)
			target_hash_update(h, chunk, (size_t)n);
		if (out >= 0 && target_write_all(out, chunk, (size_t)n) < 0) {
			rc = gb_errf(err, GB_EIO, "%s: write: %s", label, strerror(errno));
			break;
		}
	}
	free(chunk);
	return rc;
}

/* Size and hex SHA-256 of what fd holds from its current offset on. */
int
target_fd_hash(int fd, int64_t *size, char sha[65], const char *label, struct gb_err *err)
{
	struct target_hash h;
	int rc;

	if ((rc = target_hash_init(&h, err)))
		return rc;
	if ((rc = target_fd_pump(fd, &h, -1, label, err))) {
		target_hash_release(&h);
		return rc;
	}
	*size = h.size;
	target_hash_final(&h, sha);
	return 0;
}

/*
 * A temporary file beside path (its folder and "prefix" then XXXXXX), into
 * tmp; returns its fd (mode 0600) or -1 with err set.
 */
const char *
target_shorten(const char *s, char *out, size_t size)
{
	size_t len = strlen(s), head = 40, tail;

	if (len < size && len <= TARGET_SHOWN_MAX + 40) {
		memcpy(out, s, len + 1);
		return out;
	}
	tail = (size < TARGET_SHOWN_MAX + 41 ? size - 1 : TARGET_SHOWN_MAX + 40) - head - 3;
	snprintf(out, size, "%.*s...%s", (int)head, s, s + len - tail);
	return out;
}

int
target_tmp_beside(const char *path, const char *prefix, char *tmp, size_t size, struct gb_err *err)
{
	char shown[TARGET_SHOWN_MAX + 41];
	const char *slash = strrchr(path, '/');
	int n, fd;

	if (slash)
		n = snprintf(tmp, size, "%.*s/%s%s-XXXXXX", (int)(slash - path), path, prefix,
		    slash + 1);
	else
		n = snprintf(tmp, size, "%s%s-XXXXXX", prefix, path);
	if (n < 0 || (size_t)n >= size) {
		gb_errf(err, GB_EINVAL, "%s: path too long", target_shorten(path, shown,
		    sizeof(shown)));
		return -1;
	}
	if ((fd = mkstemp(tmp)) < 0) {
		int e = errno;

		gb_errf(err, GB_EIO, "%s: cannot create a temporary file: %s",
		    target_shorten(path, shown, sizeof(shown)), strerror(e));
	}
	return fd;
}

/*
 * fsync and close fd, rename tmp to path (or, noreplace, link it there and
 * unlink tmp: an existing path is GB_EEXIST, never replaced), fsync the
 * folder; tmp removed on failure.
 */
int
target_tmp_commit(int fd, const char *tmp, const char *path, const char *label, int noreplace,
    struct gb_err *err)
{
	char folder[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int rc = 0;

	if (fsync(fd) < 0)
		rc = gb_errf(err, GB_EIO, "%s: fsync: %s", label, strerror(errno));
	if (close(fd) < 0 && !rc)
		rc = gb_errf(err, GB_EIO, "%s: close: %s", label, strerror(errno));
	if (!rc && noreplace && link(tmp, path) < 0)
		rc = errno == EEXIST ? gb_errf(err, GB_EEXIST, "%s: already there, not replaced",
		    label) : gb_errf(err, GB_EIO, "%s: link: %s", label, strerror(errno));
	else if (!rc && noreplace)
		unlink(tmp);
	else if (!rc && rename(tmp, path) < 0)
		rc = gb_errf(err, GB_EIO, "%s: rename: %s", label, strerror(errno));
	if (rc) {
		unlink(tmp);
		return rc;
	}
	snprintf(folder, sizeof(folder), "%.*s", slash ? (int)(slash - path) : 1,
	    slash ? (slash == path ? "/" : path) : ".");
	if (fsync_dir(folder) < 0)
		return gb_errf(err, GB_EIO, "%s: fsync of the folder: %s", label, strerror(errno));
	return 0;
}

int
target_dir_open(struct target *t, const char *path, int create, struct gb_err *err)
{
	char tmp[PATH_MAX];
	struct stat st;
	size_t len = strlen(path);

	while (len > 1 && path[len - 1] == '/')
		len--;
	if (len == 0)
		return gb_errf(err, GB_EINVAL, "target 'dir:': no folder given");
	if (len + 2 > sizeof(tmp))
		return gb_errf(err, GB_EINVAL, "%s: path too long", t->spec);
	snprintf(tmp, sizeof(tmp), "%.*s/", (int)len, path);
	if (create && mkdirs(tmp, 0, t->spec, err))
		return err->code;
	tmp[len] = '\0';
	if (!create && stat(tmp, &st) < 0 && errno == ENOENT)
		return gb_errf(err, GB_ENOTFOUND, "%s: no such folder", t->spec);
	if (stat(tmp, &st) < 0 || !S_ISDIR(st.st_mode))
		return gb_errf(err, GB_EIO, "%s: not a folder", t->spec);
	if ((t->dir = strdup(tmp)) == NULL)
		return gb_errf(err, GB_ENOMEM, "out of memory");
	return 0;
}

/* ---- dir: */

/* Write name from data (or, when data is NULL, from srcfd), atomically. */
int
target_dir_write(struct target *t, const char *name, const void *data, size_t len, int srcfd,
    struct gb_err *err)
{
	char path[PATH_MAX], tmp[PATH_MAX], label[PATH_MAX + 64];
	int fd, rc;

	if ((rc = target_dir_path(t, name, path, sizeof(path), err)))
		return rc;
	snprintf(label, sizeof(label), "%s/%s", t->spec, name);
	if ((rc = mkdirs(path, strlen(t->dir) + 1, label, err)))
		return rc;
	if ((fd = target_tmp_beside(path, TARGET_TMP, tmp, sizeof(tmp), err)) < 0)
		return err->code;
	fchmod(fd, 0640);
	if (data == NULL)
		rc = target_fd_pump(srcfd, NULL, fd, label, err);
	else if (target_write_all(fd, data, len) < 0)
		rc = gb_errf(err, GB_EIO, "%s: write: %s", label, strerror(errno));
	if (rc) {
		close(fd);
		unlink(tmp);
		return rc;
	}
	return target_tmp_commit(fd, tmp, path, label, 1, err);
}

/* Open name for reading; -1 with *missing set when it is not there, or err. */
int
target_dir_file(struct target *t, const char *name, int *missing, struct gb_err *err)
{
	char path[PATH_MAX];
	int fd;

	*missing = 0;
	if (target_dir_path(t, name, path, sizeof(path), err))
		return -1;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0)
		return fd;
	if (errno == ENOENT || errno == ENOTDIR)
		*missing = 1;
	else
		gb_errf(err, GB_EIO, "%s/%s: open: %s", t->spec, name, strerror(errno));
	return -1;
}

int
target_dir_stat(struct target *t, const char *name, int64_t *size, char sha[65], int *found,
    struct gb_err *err)
{
	char label[PATH_MAX + 64];
	int fd, missing, rc;

	*found = 0;
	if ((fd = target_dir_file(t, name, &missing, err)) < 0)
		return missing ? 0 : err->code;
	snprintf(label, sizeof(label), "%s/%s", t->spec, name);
	rc = target_fd_hash(fd, size, sha, label, err);
	close(fd);
	*found = rc == 0;
	return rc;
}

int
target_dir_get(struct target *t, const char *name, void **data, size_t *len, struct gb_err *err)
{
	struct stat st;
	size_t got = 0;
	char *p;
	int fd, missing, rc = 0;

	if ((fd = target_dir_file(t, name, &missing, err)) < 0)
		return missing ? gb_errf(err, GB_ENOTFOUND, "%s/%s: not found", t->spec, name) :
		    err->code;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return gb_errf(err, GB_EIO, "%s/%s: not a file", t->spec, name);
	}
	if ((uint64_t)st.st_size > TARGET_GET_MAX) {
		close(fd);
		return gb_errf(err, GB_ETOOBIG, "%s/%s: %lld bytes, more than %zu to read at once",
		    t->spec, name, (long long)st.st_size, TARGET_GET_MAX);
	}
	if ((p = malloc((size_t)st.st_size + 1)) == NULL) {
		close(fd);
		return gb_errf(err, GB_ENOMEM, "out of memory");
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, p + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = gb_errf(err, GB_EIO, "%s/%s: read: %s", t->spec, name,
			    n < 0 ? strerror(errno) : "the file shrank");
			break;
		}
		got += (size_t)n;
	}
	close(fd);
	if (rc) {
		free(p);
		return rc;
	}
	p[got] = '\0';
	*data = p;
	*len = got;
	return 0;
}

int
target_names_add(struct target_names *nm, const char *s, struct gb_err *err)
{
	if (nm->n == nm->cap) {
		int cap = nm->cap ? nm->cap * 2 : 64;
		char **v;

		if (nm->n >= TARGET_LIST_MAX)
			return gb_errf(err, GB_ETOOBIG, "more than %d objects to list",
			    TARGET_LIST_MAX);
		if ((v = realloc(nm->v, (size_t)cap * sizeof(*v))) == NULL)
			return gb_errf(err, GB_ENOMEM, "out of memory");
		nm->v = v;
		nm->cap = cap;
	}
	if ((nm->v[nm->n] = strdup(s)) == NULL)
		return gb_errf(err, GB_ENOMEM, "out of memory");
	nm->n++;
	return 0;
}

/*
 * Add the files under path (its length len, the target's folder and '/'
 * taking base bytes) whose names start with prefix.
 */
int
target_dir_walk(struct target *t, char *path, size_t len, size_t base, const char *prefix,
    struct target_names *nm, struct gb_err *err)
{
	size_t plen = strlen(prefix);
	struct dirent *de;
	struct stat st;
	DIR *d;
	int rc = 0;

	if ((d = opendir(path)) == NULL)
		return errno == ENOENT ? 0 : gb_errf(err, GB_EIO, "%s: %s: %s", t->spec, path,
		    strerror(errno));
	while (rc == 0 && (de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name), rl;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    strncmp(de->d_name, TARGET_TMP, strlen(TARGET_TMP)) == 0)
			continue;
		if (len + 1 + n + 2 > PATH_MAX) {
			rc = gb_errf(err, GB_EIO, "%s: path too long under %s", t->spec, path);
			break;
		}
		snprintf(path + len, PATH_MAX - len, "/%s", de->d_name);
		rl = len + 1 + n - base;
		if (lstat(path, &st) < 0) {
			if (errno != ENOENT)
				rc = gb_errf(err, GB_EIO, "%s: %s: %s", t->spec, path, strerror(errno));
		} else if (S_ISDIR(st.st_mode)) {
			/* only folders that can hold a match */
			path[len + 1 + n] = '/';
			if (strncmp(path + base, prefix, rl + 1 < plen ? rl + 1 : plen) == 0) {
				path[len + 1 + n] = '\0';
				rc = target_dir_walk(t, path, len + 1 + n, base, prefix, nm, err);
			}
		} else if (S_ISREG(st.st_mode) && strncmp(path + base, prefix, plen) == 0) {
			rc = target_names_add(nm, path + base, err);
		}
		path[len] = '\0';
	}
	closedir(d);
	return rc;
}

int
target_dir_delete(struct target *t, const char *name, struct gb_err *err)
{
	char path[PATH_MAX];
	int rc;

	if ((rc = target_dir_path(t, name, path, sizeof(path), err)))
		return rc;
	if (unlink(path) < 0 && errno != ENOENT && errno != ENOTDIR)
		return gb_errf(err, GB_EIO, "%s/%s: %s", t->spec, name, strerror(errno));
	return 0;
}
