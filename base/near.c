/* near.c - Levenshtein distance over two rows, and the nearest of some names. */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "near.h"

size_t
gb_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), prev[GB_NEAR_MAX + 1], cur[GB_NEAR_MAX + 1];

	if (la > GB_NEAR_MAX || lb > GB_NEAR_MAX)
		return (size_t)-1;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = prev[j - 1] + (tolower((unsigned char)a[i - 1]) !=
			    tolower((unsigned char)b[j - 1]));
			size_t del = prev[j] + 1, ins = cur[j - 1] + 1;

			cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
		}
		memcpy(prev, cur, (lb + 1) * sizeof(prev[0]));
	}
	return prev[lb];
}

void
gb_near_init(struct gb_near *n, const char *word)
{
	n->word = word;
	n->best[0] = '\0';
	n->dist = (size_t)-1;
	n->any[0] = '\0';
	n->any_dist = (size_t)-1;
}

/* a a prefix of b, or b of a, ignoring case, the shorter at least 3 long */
static int
near_prefix(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), l = la < lb ? la : lb;

	return l >= 3 && strncasecmp(a, b, l) == 0;
}

void
gb_near_add(struct gb_near *n, const char *cand)
{
	size_t d, len = strlen(n->word), limit = len / 3;

	if (strlen(cand) >= GB_NEAR_MAX)
		return;
	d = gb_edit_distance(n->word, cand);
	if (d == (size_t)-1 || strcmp(n->word, cand) == 0)
		return;
	if (d < n->any_dist) {
		n->any_dist = d;
		memcpy(n->any, cand, strlen(cand) + 1);
	}
	if (limit < 1)
		limit = 1;
	if (limit > 3)
		limit = 3;
	/* a prefix counts as near, after every real near one */
	if (d > limit) {
		if (!near_prefix(n->word, cand))
			return;
		d = limit + 1 + d;
	}
	if (d < n->dist) {
		n->dist = d;
		memcpy(n->best, cand, strlen(cand) + 1);
	}
}

const char *
gb_near_best(const struct gb_near *n)
{
	return n->dist == (size_t)-1 ? NULL : n->best;
}

const char *
gb_near_any(const struct gb_near *n)
{
	return n->any_dist == (size_t)-1 ? NULL : n->any;
}
