/*
 * components.h - the pure parts of the three pipeline components: template
 * expansion, prompt building, the offline-draft provider's text and the
 * transformer's rendering. No I/O, no storage, no globals: each function
 * takes cJSON input it only reads and returns new memory the caller frees.
 * Safe to call from any thread.
 *
 * The shapes they share (the schema's context "data"):
 *   data.template          {"id","name","version","sections":[SECTION...]}
 *     SECTION              {"id","type":"text","name","instructions","word_range":[lo,hi]}
 *   data.generated_content {"introduction": TEXT, "body": [{"id","title","content"}...],
 *                           "conclusion": TEXT}
 *   data.formatted_content {"format": "markdown"|"html", "content": TEXT}
 */
#ifndef GB_COMPONENTS_H
#define GB_COMPONENTS_H

#include <cjson/cJSON.h>

#include "../base/err.h"

/*
 * Expand a template document (the templates collection's shape) into the
 * data.template object above. Every "text" section is copied; a "sections"
 * section becomes n text sections "<id>_1".."<id>_n" (name "<name> 1", ...)
 * with its section_template's instructions and word_range, where n lies in
 * min_sections..max_sections and is chosen deterministically from seed_key
 * (the context's _id). A template without structure.sections, a section
 * without an id, or min_sections > max_sections is GB_EINVAL naming it.
 * *out: caller frees with cJSON_Delete.
 */
int template_expand(const cJSON *tmpl, const char *seed_key, cJSON **out, struct gb_err *err);

/*
 * The system and user prompts for one expanded section of a context:
 * the section's instructions and word range, the context data's title,
 * keywords, target_audience and tone (each optional). Both malloc'd.
 */
int prompt_build(const cJSON *data, const cJSON *section, char **system_out, char **user_out,
    struct gb_err *err);

/*
 * The offline-draft provider: deterministic draft text (same inputs, same
 * bytes) built from the prompt and the context data, between words_min and
 * words_max words inclusive (words separated by single spaces or newlines).
 * Returns malloc'd text, NULL only when out of memory.
 */
char *offline_draft(const char *system, const char *user, int words_min, int words_max);

/*
 * Render generated_content as format "markdown" or "html" under the title:
 * markdown is "# Title\n\n## Introduction\n\n...", each body section under
 * "## <title>", then "## Conclusion"; html has every text escaped. With toc,
 * a table of contents linking the sections follows the title. *out malloc'd.
 * GB_EINVAL for an unknown format or content of the wrong shape.
 */
int transform_render(const cJSON *generated_content, const char *title, const char *format, int toc,
    char **out, struct gb_err *err);

#endif
