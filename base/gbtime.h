/*
 * gbtime.h - ISO-8601 UTC timestamps with milliseconds, the one date form of
 * the SQLite mirror ("2023-06-10T14:30:00.000Z").
 */
#ifndef GB_TIME_H
#define GB_TIME_H

#include <stdint.h>
#include <stddef.h>

#define GB_TIME_LEN 25		/* "YYYY-MM-DDTHH:MM:SS.mmmZ" plus NUL */
/* The dates gb_time_format writes: 0001-01-01T00:00:00.000Z to 9999-12-31T23:59:59.999Z */
#define GB_TIME_MIN_MS (-62135596800000LL)
#define GB_TIME_MAX_MS 253402300799999LL

/* Milliseconds since the epoch, wall clock. */
int64_t gb_now_ms(void);
/* Monotonic milliseconds, for timeouts and durations. */
int64_t gb_mono_ms(void);

/*
 * Parse an ISO-8601 date-time: "YYYY-MM-DD", "YYYY-MM-DDTHH:MM[:SS[.f+]]"
 * with "Z", "+hh:mm", "+hhmm", "+hh" or no zone (taken as UTC); a space may
 * stand for the 'T'. Fractions past milliseconds are truncated. Returns 0 and
 * sets *ms, or -1 when the text is not such a date (years 0001-9999 only).
 */
int gb_time_parse(const char *s, size_t len, int64_t *ms);

/* Write the canonical form of ms into out (GB_TIME_LEN bytes). Returns out. */
char *gb_time_format(int64_t ms, char out[GB_TIME_LEN]);

#endif
