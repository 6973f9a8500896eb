/* tap.c - TAP output. Single-threaded: call from the test's main thread. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/log.h"
#include "tap.h"

static int tap_count, tap_failed, tap_planned = -1;

/*
 * What the library logs in a test program (a context that fails on purpose,
 * a page of a sync) is a TAP comment, not a stray line in prove's output.
 */
__attribute__((constructor)) static void
tap_log_as_comments(void)
{
	log_set_prefix("# ");
}

void
tap_plan(int n)
{
	tap_planned = n;
	printf("1..%d\n", n);
	fflush(stdout);
}

int
tap_done(void)
{
	if (tap_planned < 0)
		printf("1..%d\n", tap_count);
	else if (tap_planned != tap_count)
		printf("# planned %d checks, ran %d\n", tap_planned, tap_count);
	fflush(stdout);
	return tap_failed || (tap_planned >= 0 && tap_planned != tap_count) ? 1 : 0;
}

static void
vdiag(const char *fmt, va_list ap)
{
	char msg[4096], *line, *save = NULL;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	for (line = strtok_r(msg, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		printf("# %s\n", line);
	fflush(stdout);
}

void
tap_diag(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdiag(fmt, ap);
	va_end(ap);
}

void
tap_bail(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	printf("Bail out! %s\n", msg);
	fflush(stdout);
	exit(255);
}

static int
vreport(int cond, const char *file, int line, const char *fmt, va_list ap)
{
	char name[1024];

	vsnprintf(name, sizeof(name), fmt, ap);
	/* a name is one line (it may quote a program's output): TAP has no other */
	for (char *p = name; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	tap_count++;
	printf("%sok %d - %s\n", cond ? "" : "not ", tap_count, name);
	if (!cond) {
		tap_failed++;
		printf("#   Failed test at %s line %d.\n", file, line);
	}
	fflush(stdout);
	return cond;
}

int
tap_ok(int cond, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(cond, file, line, fmt, ap);
	va_end(ap);
	return cond;
}

int
tap_is_int(int64_t got, int64_t want, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	int cond = got == want;

	va_start(ap, fmt);
	vreport(cond, file, line, fmt, ap);
	va_end(ap);
	if (!cond)
		tap_diag("     got: %lld\n    want: %lld", (long long)got, (long long)want);
	return cond;
}

int
tap_is_str(const char *got, const char *want, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	int cond = got && want ? strcmp(got, want) == 0 : got == want;

	va_start(ap, fmt);
	vreport(cond, file, line, fmt, ap);
	va_end(ap);
	if (!cond)
		tap_diag("     got: '%.1500s'\n    want: '%.1500s'", got ? got : "(null)", want ? want : "(null)");
	return cond;
}

int
tap_like(const char *got, const char *want, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	int cond = got && want && strstr(got, want) != NULL;

	va_start(ap, fmt);
	vreport(cond, file, line, fmt, ap);
	va_end(ap);
	if (!cond)
		tap_diag("          '%.1500s'\n    lacks '%.1500s'", got ? got : "(null)", want ? want : "(null)");
	return cond;
}
