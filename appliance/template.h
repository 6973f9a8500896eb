/*
 * template.h - the template component's pure part: expanding a template
 * document into the context's data.template, and reading a section's word
 * range. No I/O, no storage, no globals; cJSON input is only read, output is
 * new memory the caller frees. Safe to call from any thread.
 *
 * The shape it writes (the schema's context "data"):
 *   data.template          {"id","name","version","sections":[SECTION...]}
 *     SECTION              {"id","type":"text","name","instructions","word_range":[lo,hi]}
 */
#ifndef GB_TEMPLATE_H
#define GB_TEMPLATE_H

#include <cjson/cJSON.h>

#include "../base/err.h"

#define TEMPLATE_WORDS_DEFAULT_LO	100	/* a section without word_range */
#define TEMPLATE_WORDS_DEFAULT_HI	200
#define TEMPLATE_WORDS_MAX		100000	/* largest word count a range may ask for */
#define TEMPLATE_SECTIONS_MAX		1000	/* sections of one expanded template */

/*
 * Expand a template document (the templates collection's shape) into the
 * data.template object above. Every "text" section is copied; a "sections"
 * section becomes n text sections "<id>_1".."<id>_n" (name "<name> 1", ...)
 * with its section_template's instructions and word_range, where n lies in
 * min_sections..max_sections (each 0..100) and is chosen deterministically
 * from seed_key (the context's _id, NULL is ""). A template without
 * structure.sections, a section without an id, a bad word_range or
 * min_sections > max_sections is GB_EINVAL naming it; more than
 * TEMPLATE_SECTIONS_MAX sections is GB_ETOOBIG.
 * *out: caller frees with cJSON_Delete; NULL on failure.
 */
int template_expand(const cJSON *tmpl, const char *seed_key, cJSON **out, struct gb_err *err);

/*
 * The word range of a section (expanded, or a section_template): absent is
 * [TEMPLATE_WORDS_DEFAULT_LO, TEMPLATE_WORDS_DEFAULT_HI]; otherwise it must
 * be two whole JSON numbers with 0 <= lo <= hi <= TEMPLATE_WORDS_MAX, both
 * ends included ([0, 0] asks for no words). The numbers are range-checked as
 * doubles before any conversion: 1e300, -5, 1.5, NaN or a string are
 * GB_EINVAL "section '<id>': word_range must be ...", and *lo, *hi are left
 * unchanged. section may be NULL (the default range).
 */
int template_word_range(const cJSON *section, int *lo, int *hi, struct gb_err *err);

#endif
