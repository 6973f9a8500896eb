/*
 * tap.h - Test Anything Protocol output for prove, in the spirit of git's
 * test-lib and libuv's task.h. Each check prints "ok N - name" or
 * "not ok N - name" with a diagnostic naming the file and line.
 */
#ifndef GB_TAP_H
#define GB_TAP_H

#include <stdint.h>

void tap_plan(int n);
/* Print the plan from the count of checks run; returns the exit status. */
int tap_done(void);
void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Stop the whole program: something the rest depends on failed. */
void tap_bail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

int tap_ok(int cond, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int tap_is_int(int64_t got, int64_t want, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
int tap_is_str(const char *got, const char *want, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* got contains want */
int tap_like(const char *got, const char *want, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

#define ok(cond, ...)		tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_int(g, w, ...)	tap_is_int((g), (w), __FILE__, __LINE__, __VA_ARGS__)
#define is_str(g, w, ...)	tap_is_str((g), (w), __FILE__, __LINE__, __VA_ARGS__)
#define like(g, w, ...)		tap_like((g), (w), __FILE__, __LINE__, __VA_ARGS__)

#endif
