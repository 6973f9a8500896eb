/*
 * docscan.c - what a document's parsed tree cannot show: a NUL character
 * (\u0000) in a string or a name, which cJSON cuts the string at (so
 * "z\u0000w" would be read as "z"), found in the text.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define SCAN_DEPTH 128		/* past doc.c's nesting limit: deeper is refused there */

struct scan_level {
	int is_obj, want_key;
	const char *key;	/* the current name, as written (escapes kept) */
	size_t klen;
	long index;
};

/* The path of the string just read, as "a.b[2]" (names as written), into out. */
static void
scan_path(const struct scan_level *lv, int depth, int is_key, const char *s, size_t slen,
    char *out, size_t size)
{
	size_t n = 0;

	out[0] = '\0';
	for (int i = 0; i <= depth && n < size; i++) {
		int w;

		if (lv[i].is_obj && (lv[i].key || (i == depth && is_key)))
			w = snprintf(out + n, size - n, "%s%.*s", n ? "." : "",
			    (int)(i == depth && is_key ? slen : lv[i].klen),
			    i == depth && is_key ? s : lv[i].key);
		else if (!lv[i].is_obj)
			w = snprintf(out + n, size - n, "[%ld]", lv[i].index);
		else
			w = 0;
		if (w < 0)
			break;
		n += (size_t)w;
	}
}

/* p at a string's opening quote: its end (past the closing quote); *nul when it holds \u0000. */
static const char *
scan_string(const char *p, const char *end, int *nul)
{
	*nul = 0;
	for (p++; p < end && *p != '"'; p++) {
		if (*p != '\\')
			continue;
		if (end - p >= 6 && p[1] == 'u' && memcmp(p + 2, "0000", 4) == 0)
			*nul = 1;
		p++;
	}
	return p < end ? p + 1 : end;
}

/* 1 when a string or a name holds \u0000, its path into path; else 0. */
static int
doc_find_nul(const char *text, size_t len, char *path, size_t size)
{
	struct scan_level lv[SCAN_DEPTH];
	const char *p = text, *end = text + len;
	int depth = -1;

	while (p < end) {
		const char *s;
		int nul, is_key;

		switch (*p) {
		case '{': case '[':
			if (++depth >= SCAN_DEPTH)
				return 0;
			lv[depth] = (struct scan_level){ *p == '{', *p == '{', NULL, 0, 0 };
			p++;
			continue;
		case '}': case ']':
			depth--;
			p++;
			continue;
		case ',':
			if (depth >= 0 && lv[depth].is_obj)
				lv[depth].want_key = 1;
			else if (depth >= 0)
				lv[depth].index++;
			p++;
			continue;
		case '"':
			break;
		default:
			p++;
			continue;
		}
		s = p + 1;
		p = scan_string(p, end, &nul);
		is_key = depth >= 0 && lv[depth].is_obj && lv[depth].want_key;
		if (nul) {
			scan_path(lv, depth, is_key, s, (size_t)(p - 1 - s), path, size);
			return 1;
		}
		if (is_key) {
			lv[depth].key = s;
			lv[depth].klen = (size_t)(p - 1 - s);
			lv[depth].want_key = 0;
		}
	}
	return 0;
}

int
doc_check_nul(const char *text, size_t len, struct gb_err *err)
{
	char path[256];

	/* without the escape anywhere there is nothing to place (most documents) */
	if (memmem(text, len, "\\u0000", 6) == NULL || !doc_find_nul(text, len, path, sizeof(path)))
		return 0;
	return gb_errf(err, GB_EINVAL, "field '%s': holds a NUL character (\\u0000)", path);
}
