/*
 * near.h - "did you mean": the valid name nearest to a mistyped one, by edit
 * distance (insertions, deletions, substitutions; case ignored). Used for
 * commands, options, collections, config keys and sections, environment
 * variables and document ids, so every message suggests the same way.
 *
 *   struct gb_near n;
 *   gb_near_init(&n, "stat");
 *   for (...) gb_near_add(&n, candidate);
 *   if (gb_near_best(&n)) ... "did you mean '%s'?"
 */
#ifndef GB_NEAR_H
#define GB_NEAR_H

#include <stddef.h>

#define GB_NEAR_MAX 128		/* longer words and candidates are not compared */

struct gb_near {
	const char *word;	/* not copied: lives as long as the struct is used */
	char best[GB_NEAR_MAX];
	size_t dist;		/* of best; (size_t)-1 while there is none */
	char any[GB_NEAR_MAX];	/* the nearest offered, however far */
	size_t any_dist;
};

/* Edit distance of a and b, case-insensitive; (size_t)-1 past GB_NEAR_MAX bytes. */
size_t gb_edit_distance(const char *a, const char *b);

void gb_near_init(struct gb_near *n, const char *word);
/* Offer one valid name; the first of equally near ones is kept. */
void gb_near_add(struct gb_near *n, const char *cand);
/*
 * The nearest name offered when it is near enough to be a likely typo (at
 * most a third of the word's length in edits, at least 1, at most 3; or
 * the one a prefix of the other), else NULL.
 */
const char *gb_near_best(const struct gb_near *n);
/* The nearest name offered, however far (NULL when none was): for ids. */
const char *gb_near_any(const struct gb_near *n);

#endif
