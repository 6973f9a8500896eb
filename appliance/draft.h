/*
 * draft.h - the offline-draft provider's text: what the ai_generator
 * component writes when no model endpoint is configured, so a box without a
 * model still runs a pipeline end to end. Pure: no I/O, no globals, no
 * clock; safe from any thread.
 *
 * A draft is not a model's answer and costs nothing: the generator reports
 * it under the provider name DRAFT_PROVIDER with no tokens billed.
 */
#ifndef GB_DRAFT_H
#define GB_DRAFT_H

#define DRAFT_PROVIDER	"offline-draft"
#define DRAFT_WORDS_MAX	100000		/* longest draft, in words */

/*
 * Deterministic draft text (same inputs, same bytes on every machine) built
 * from the topic words of the prompts (NULL is ""), of exactly the midpoint
 * of [words_min, words_max] rounded up, so within the range, both ends
 * included: [300, 600] gives 450 words, [k, k] gives k, [0, 1] gives 1 and
 * [0, 0] gives "" (no words). Swapped ends are taken in order; negative ends
 * count as 0; more than DRAFT_WORDS_MAX is cut to it. Words are separated by
 * single spaces, paragraphs of at most 100 words by a blank line; every
 * sentence starts with a capital and ends with '.'.
 * Returns malloc'd text (caller frees), NULL only when out of memory.
 */
char *offline_draft(const char *system, const char *user, int words_min, int words_max);

#endif
