/*
 * archread.c - an archived object read back a line at a time, in bounded
 * memory whatever the object: streamed from the target into an unlinked
 * temporary file, its size and SHA-256 checked against the manifest entry,
 * then unpacked through a line buffer of one document (STORE_MAX_DOC) and
 * no more lines than the manifest's count.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "../storage/docs.h"
#include "archive_int.h"
#include "target_int.h"

int
arch_object_open(struct target *t, const struct arch_entry *e, const char *tmp_dir,
    struct gb_err *err)
{
	char path[4096], sha[65], what[512];
	int64_t size = 0;
	int fd;

	snprintf(what, sizeof(what), "%s/%s", target_label(t), e->name);
	if (tmp_dir == NULL || tmp_dir[0] == '\0')
		tmp_dir = getenv("TMPDIR") && getenv("TMPDIR")[0] ? getenv("TMPDIR") : "/tmp";
	snprintf(path, sizeof(path), "%s/.genbox-archive-XXXXXX", tmp_dir);
	if ((fd = mkstemp(path)) < 0) {
		gb_errf(err, GB_EIO, "cannot create a temporary file in %s: %s", tmp_dir,
		    strerror(errno));
		return -1;
	}
	close(fd);
	fd = -1;
	if (target_get_file(t, e->name, path, err) == 0 &&
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		gb_errf(err, GB_EIO, "%s: %s", path, strerror(errno));
	unlink(path);
	if (fd < 0)
		return -1;
	if (target_fd_hash(fd, &size, sha, what, err) == 0) {
		if (size != e->bytes)
			gb_errf(err, GB_EIO, "%s: %lld bytes, the manifest says %lld", what,
			    (long long)size, (long long)e->bytes);
		else if (strcmp(sha, e->sha256) != 0)
			gb_errf(err, GB_EIO, "%s: SHA-256 %s, the manifest says %s", what, sha,
			    e->sha256);
		else if (lseek(fd, 0, SEEK_SET) == 0)
			return fd;
		else
			gb_errf(err, GB_EIO, "%s: seek: %s", what, strerror(errno));
	}
	close(fd);
	return -1;
}

int
arch_object_lines(struct target *t, int fd, const struct arch_entry *e, arch_line_fn fn,
    void *arg, struct gb_err *err)
{
	size_t cap = (size_t)STORE_MAX_DOC + 2;	/* a document, its '\n' and a NUL */
	char *line = malloc(cap);
	gzFile gz = gzdopen(fd, "rb");
	int64_t n = 0;
	int rc = 0, zerr = Z_OK;
	char what[512];

	snprintf(what, sizeof(what), "%s/%s", target_label(t), e->name);
	if (line == NULL || gz == NULL) {
		free(line);
		if (gz)
			gzclose(gz);
		else
			close(fd);
		return gb_errf(err, GB_ENOMEM, "out of memory");
	}
	while (rc == 0 && gzgets(gz, line, (int)cap) != NULL) {
		size_t len = strlen(line);

		if (len > 0 && line[len - 1] == '\n')
			len--;
		else if (len == cap - 1)
			rc = gb_errf(err, GB_ETOOBIG, "%s: line %lld: longer than %u bytes", what,
			    (long long)n + 1, STORE_MAX_DOC);
		if (rc == 0 && len > 0 && ++n > e->count)
			rc = gb_errf(err, GB_EIO, "%s: more than the %lld documents the manifest "
			    "says", what, (long long)e->count);
		if (rc == 0 && len > 0)
			rc = fn(arg, line, len);
	}
	if (rc == 0)
		gzerror(gz, &zerr);
	if (rc == 0 && zerr != Z_OK && zerr != Z_STREAM_END)
		rc = gb_errf(err, GB_EIO, "%s: not gzip data (%s)", what, gzerror(gz, &zerr));
	gzclose(gz);
	free(line);
	return rc;
}

int
arch_each_line(struct target *t, const struct arch_entry *e, const char *tmp_dir,
    arch_line_fn fn, void *arg, struct gb_err *err)
{
	int fd;

	if ((fd = arch_object_open(t, e, tmp_dir, err)) < 0)
		return err->code;
	return arch_object_lines(t, fd, e, fn, arg, err);
}
