/*
 * target_int.h - what target.c (the API, names, s3:) and target_dir.c
 * (dir:, files, hashing) share. Not for other modules: they use target.h.
 */
#ifndef GB_SYNC_TARGET_INT_H
#define GB_SYNC_TARGET_INT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "target.h"

#define TARGET_NAME_MAX 1024			/* bytes of a name (S3's limit) */
#define TARGET_GET_MAX ((size_t)1 << 30)	/* target_get into memory */
#define TARGET_LIST_MAX 1000000			/* names in one list */
#define TARGET_TMP ".tmp-"			/* temporaries of dir: puts */

enum target_kind { TARGET_DIR, TARGET_S3 };

struct target {
	enum target_kind kind;
	char *given;		/* the spec as given */
	char *spec;		/* the same without a trailing '/', for messages (shortened) */
	char *dir;		/* dir: the folder */
	struct s3 *s3;		/* s3: the client, and where in it */
	char *bucket;
	char *prefix;		/* "" or "a/b", no '/' at either end */
};

/* A SHA-256 over a stream, and the bytes seen. */
struct target_hash {
	EVP_MD_CTX *ctx;
	int64_t size;
};

int target_hash_init(struct target_hash *h, struct gb_err *err);
void target_hash_update(struct target_hash *h, const void *p, size_t n);
/* The hex digest into out (65 bytes); h is released. */
void target_hash_final(struct target_hash *h, char out[65]);
void target_hash_release(struct target_hash *h);

int target_write_all(int fd, const void *data, size_t len);
/* Read fd to its end through h (when not NULL) and into out (when not -1). */
int target_fd_pump(int fd, struct target_hash *h, int out, const char *label,
    struct gb_err *err);
/* Size and hex SHA-256 of what fd holds from its offset on. */
int target_fd_hash(int fd, int64_t *size, char sha[65], const char *label,
    struct gb_err *err);
/* s, or, when long, its head, "..." and its tail, in out: for messages. */
const char *target_shorten(const char *s, char *out, size_t size);
/* A temporary file beside path named prefix<base>-XXXXXX (mode 0600): its fd or -1. */
int target_tmp_beside(const char *path, const char *prefix, char *tmp, size_t size,
    struct gb_err *err);
/*
 * fsync and close fd, rename tmp to path (noreplace: link it there, an
 * existing path is GB_EEXIST), fsync the folder; tmp removed on failure.
 */
int target_tmp_commit(int fd, const char *tmp, const char *path, const char *label,
    int noreplace, struct gb_err *err);

/* A growing array of names. */
struct target_names {
	char **v;
	int n, cap;
};

int target_names_add(struct target_names *nm, const char *s, struct gb_err *err);

/* dir: (names already checked) */
/* create: make the folder when missing; else a missing one is GB_ENOTFOUND. */
int target_dir_open(struct target *t, const char *path, int create, struct gb_err *err);
int target_dir_path(const struct target *t, const char *name, char *out, size_t size,
    struct gb_err *err);
/* Write name from data (or, when data is NULL, from srcfd), atomically. */
int target_dir_write(struct target *t, const char *name, const void *data, size_t len,
    int srcfd, struct gb_err *err);
/* name opened for reading; -1 with *missing set when not there, or err set. */
int target_dir_file(struct target *t, const char *name, int *missing, struct gb_err *err);
int target_dir_stat(struct target *t, const char *name, int64_t *size, char sha[65],
    int *found, struct gb_err *err);
int target_dir_get(struct target *t, const char *name, void **data, size_t *len,
    struct gb_err *err);
/*
 * Add the files under path (len bytes; the target's folder and its '/' are
 * the first base bytes) whose names start with prefix. path has PATH_MAX bytes.
 */
int target_dir_walk(struct target *t, char *path, size_t len, size_t base,
    const char *prefix, struct target_names *nm, struct gb_err *err);
int target_dir_delete(struct target *t, const char *name, struct gb_err *err);

#endif
