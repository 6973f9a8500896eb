/*
 * log.h - logging to stderr (journald picks it up under systemd).
 *
 * Two formats, process-wide, set once at start-up with the level:
 *   text (the CLI's): "warn: store_open: cannot open 'x.db': ..."
 *   kv (the daemon's, for journald and log tools): one key=value line per
 *     event, "level=warn src=store_open msg=\"cannot open 'x.db': ...\"".
 *     A message that is itself key=value pairs starting with "event=" is
 *     kept as it is: "level=info src=cmd_serve event=serving url=...".
 * log_warn appends strerror(errno) (kv: errno="..."); log_warnx does not.
 * Thread-safe: each line is one write(2).
 */
#ifndef GB_LOG_H
#define GB_LOG_H

#include <stddef.h>

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_KV };

void log_set_level(enum log_level level);
void log_set_format(enum log_format format);
/*
 * Start every line with prefix (at most 15 bytes; "" for none): the test
 * programs make the library's lines TAP comments with "# ".
 */
void log_set_prefix(const char *prefix);
/* Parse "error", "warn", "info", "debug"; -1 when unknown. */
int log_level_from_name(const char *name);

/*
 * text as one kv value into out (size bytes, at least 3): in double quotes,
 * '"' and '\\' escaped, control characters as spaces, cut to fit. For a
 * value that comes from outside (a request's ids, a path) in an "event="
 * line, which is written as it is. Returns out.
 */
const char *log_quoted(char *out, size_t size, const char *text);

void log_emit(enum log_level level, int with_errno, const char *func, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define log_warn(...)	log_emit(LOG_LEVEL_WARN, 1, __func__, __VA_ARGS__)
#define log_warnx(...)	log_emit(LOG_LEVEL_WARN, 0, __func__, __VA_ARGS__)
#define log_error(...)	log_emit(LOG_LEVEL_ERROR, 0, __func__, __VA_ARGS__)
#define log_info(...)	log_emit(LOG_LEVEL_INFO, 0, __func__, __VA_ARGS__)
#define log_debug(...)	log_emit(LOG_LEVEL_DEBUG, 0, __func__, __VA_ARGS__)

#endif
