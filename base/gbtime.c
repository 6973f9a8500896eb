/*
 * gbtime.c - ISO-8601 parsing and formatting. strptime reads the calendar
 * part; the fraction and the zone, which strptime does not cover portably,
 * are read here digit by digit.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "gbtime.h"

int64_t
gb_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
gb_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
digits(const char *p, const char *end, int n, int *out)
{
	int v = 0;

	if (end - p < n)
		return -1;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)p[i]))
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	*out = v;
	return 0;
}

int
gb_time_parse(const char *s, size_t len, int64_t *ms)
{
	char buf[64];
	const char *p, *end;
	struct tm tm;
	int frac = 0, off = 0, hh, mm;
	time_t t;

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (len > 10 && buf[10] == ' ')
		buf[10] = 'T';
	end = buf + len;
	memset(&tm, 0, sizeof(tm));
	if (len == 10) {
		p = strptime(buf, "%Y-%m-%d", &tm);
	} else if (len >= 19 && buf[16] == ':') {
		p = strptime(buf, "%Y-%m-%dT%H:%M:%S", &tm);
	} else {
		p = strptime(buf, "%Y-%m-%dT%H:%M", &tm);
	}
	/* strptime accepts one-digit fields; insist on the fixed widths */
	if (p == NULL || buf[4] != '-' || buf[7] != '-' || (len > 10 && buf[10] != 'T'))
		return -1;
	if (!isdigit((unsigned char)buf[0]) || !isdigit((unsigned char)buf[5]) ||
	    !isdigit((unsigned char)buf[8]) || (len > 10 && (p - buf != 16 && p - buf != 19)))
		return -1;
	if (*p == '.' || *p == ',') {
		int n = 0;

		for (p++; p < end && isdigit((unsigned char)*p); p++, n++)
			if (n < 3)
				frac = frac * 10 + (*p - '0');
		if (n == 0)
			return -1;
		for (; n < 3; n++)
			frac *= 10;
	}
	if (p < end && (*p == 'Z' || *p == 'z')) {
		p++;
	} else if (p < end && (*p == '+' || *p == '-')) {
		int sign = *p == '-' ? -1 : 1;

		p++;
		mm = 0;
		if (digits(p, end, 2, &hh) < 0)
			return -1;
		p += 2;
		if (p < end && *p == ':')
			p++;
		if (p < end) {
			if (digits(p, end, 2, &mm) < 0)
				return -1;
			p += 2;
		}
		if (hh > 23 || mm > 59)
			return -1;
		off = sign * (hh * 3600 + mm * 60);
	}
	if (p != end)
		return -1;
	if (tm.tm_year + 1900 < 1 || tm.tm_year + 1900 > 9999)
		return -1;
	{
		/* reject dates that timegm would roll over: Feb 30, Jun 31 */
		int mday = tm.tm_mday, mon = tm.tm_mon;

		t = timegm(&tm);
		if (tm.tm_mday != mday || tm.tm_mon != mon)
			return -1;
	}
	*ms = ((int64_t)t - off) * 1000 + frac;
	return 0;
}

char *
gb_time_format(int64_t ms, char out[GB_TIME_LEN])
{
	time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
	int rest = (int)(ms - (int64_t)t * 1000);
	struct tm tm;
	size_t n;

	gmtime_r(&t, &tm);
	/* not strftime's %Y: it writes year 1 as "1", not "0001" */
	n = (size_t)snprintf(out, GB_TIME_LEN, "%04d-%02d-%02dT%02d:%02d:%02d",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (n != 19) {
		strcpy(out, "0000-00-00T00:00:00.000Z");
		return out;
	}
	/* 19 + ".mmmZ" + NUL fits GB_TIME_LEN exactly */
	out[19] = '.';
	out[20] = (char)('0' + rest / 100);
	out[21] = (char)('0' + rest / 10 % 10);
	out[22] = (char)('0' + rest % 10);
	out[23] = 'Z';
	out[24] = '\0';
	return out;
}
