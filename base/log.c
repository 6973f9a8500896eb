/* log.c - one formatted line per call, written with a single write(2). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"

static int log_level = LOG_LEVEL_INFO;	/* set once at start-up */
static int log_format = LOG_FORMAT_TEXT;
static char log_prefix[16];		/* "# " in the TAP tests */

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void
log_set_level(enum log_level level)
{
	log_level = level;
}

void
log_set_format(enum log_format format)
{
	log_format = format;
}

void
log_set_prefix(const char *prefix)
{
	snprintf(log_prefix, sizeof(log_prefix), "%s", prefix);
}

/* text quoted for a kv line into out at n: backslash, quote and control characters escaped */
static int
log_quote(char *out, int n, int size, const char *text)
{
	if (n < size - 1)
		out[n++] = '"';
	for (const unsigned char *p = (const unsigned char *)text; *p && n < size - 3; p++) {
		if (*p == '"' || *p == '\\') {
			out[n++] = '\\';
			out[n++] = (char)*p;
		} else if (*p < 0x20 || *p == 0x7f) {
			out[n++] = ' ';
		} else {
			out[n++] = (char)*p;
		}
	}
	if (n < size - 1)
		out[n++] = '"';
	return n;
}

const char *
log_quoted(char *out, size_t size, const char *text)
{
	int n = log_quote(out, 0, size > 4096 ? 4096 : (int)size, text);

	out[n] = '\0';
	return out;
}

/* One kv line of msg into line; its length. */
static int
log_kv(char *line, int size, enum log_level level, const char *func, const char *msg,
    const char *errstr)
{
	int n = snprintf(line, (size_t)size, "level=%s src=%s ", level_names[level], func);

	if (n >= size - 8)
		n = size - 8;
	if (strncmp(msg, "event=", 6) == 0) {
		n += snprintf(line + n, (size_t)(size - n), "%s", msg);
		if (n >= size)
			n = size - 1;
	} else {
		n += snprintf(line + n, (size_t)(size - n), "msg=");
		n = log_quote(line, n, size, msg);
	}
	if (errstr && n < size - 10) {
		n += snprintf(line + n, (size_t)(size - n), " errno=");
		if (n >= size)
			n = size - 1;
		n = log_quote(line, n, size, errstr);
	}
	return n;
}

int
log_level_from_name(const char *name)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	return -1;
}

void
log_emit(enum log_level level, int with_errno, const char *func, const char *fmt, ...)
{
	char line[1024], msg[896];
	int saved = errno, n;
	va_list ap;

	if ((int)level > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (log_format == LOG_FORMAT_KV) {
		n = log_kv(line, (int)sizeof(line) - 1, level, func, msg,
		    with_errno ? strerror(saved) : NULL);
	} else {
		n = snprintf(line, sizeof(line) - 1, "%s: %s: %s%s%s", level_names[level], func,
		    msg, with_errno ? ": " : "", with_errno ? strerror(saved) : "");
		if (n >= (int)sizeof(line) - 1)
			n = (int)sizeof(line) - 2;
	}
	line[n++] = '\n';
	{
		struct iovec iov[2] = { { log_prefix, strlen(log_prefix) }, { line, (size_t)n } };

		(void)!writev(STDERR_FILENO, iov, 2);
	}
	errno = saved;
}
