/*
 * util.h - what the test programs share: temporary directories, files, and
 * running the genbox binary (GENBOX_BIN) with its output captured.
 */
#ifndef GB_TEST_UTIL_H
#define GB_TEST_UTIL_H

#include <stddef.h>
#include <sys/types.h>

struct run {
	int status;		/* exit status, or 128+signal */
	char *out;		/* stdout, NUL-terminated; free with run_free */
	char *err;		/* stderr */
};

/* A new directory under $TMPDIR (or /tmp); removed by util_cleanup at exit. */
const char *util_tmpdir(void);
/* Path of the genbox binary under test. */
const char *util_genbox(void);
/* Path of a file in the repository (GENBOX_SRC). */
const char *util_src(const char *rel, char *out, size_t size);

/* Run argv (argv[0] is the program) with stdin from in (NULL: /dev/null). */
int util_run(struct run *r, const char *in, size_t inlen, char *const argv[]);
/* genbox with printf-free argument list ending in NULL. */
int util_genbox_run(struct run *r, const char *in, ...) __attribute__((sentinel));
void run_free(struct run *r);
/*
 * Start argv (argv[0] a path) in a child with stdin from /dev/null and
 * stdout and stderr to the file out; fsize > 0 limits the size of any file
 * it writes (EFBIG past it, SIGXFSZ ignored). Returns its pid.
 */
pid_t util_spawn(char *const argv[], const char *out, long long fsize);

int util_write_file(const char *path, const void *data, size_t len);
/* Whole file, NUL-terminated; caller frees; NULL on error. */
char *util_read_file(const char *path, size_t *len);

/* JSON texts equal as values (cJSON_Compare, case-sensitive keys). */
int util_json_equal(const char *a, const char *b);

/* SQL back from the latest schema to version 1 (t102, t500). */
extern const char util_schema_v1_sql[];

#endif
