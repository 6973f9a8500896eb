/*
 * prompt.h - the ai_generator component's prompts for one expanded section
 * (template.h's SECTION) of a context. Pure: no I/O, no globals; safe from
 * any thread.
 */
#ifndef GB_PROMPT_H
#define GB_PROMPT_H

#include <cjson/cJSON.h>

#include "../base/err.h"

#define PROMPT_MAX	(1u << 20)	/* bytes of one prompt */

/*
 * The system and user prompts for one expanded section: the system prompt
 * names the tone and target_audience of the context's data; the user prompt
 * holds the data's title and keywords (a string or an array of strings), the
 * section's name (else its id), its instructions and its word range
 * (template_word_range: absent is 100..200). Empty or non-string values are
 * left out, never shown as empty labels.
 * Both *system_out and *user_out are malloc'd (caller frees); NULL on
 * failure: GB_EINVAL (section not an object, bad word_range), GB_ETOOBIG (a
 * prompt over PROMPT_MAX bytes), GB_ENOMEM.
 */
int prompt_build(const cJSON *data, const cJSON *section, char **system_out, char **user_out,
    struct gb_err *err);

#endif
