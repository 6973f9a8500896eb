/*
 * render.h - the transformer component's pure part: rendering a context's
 * generated_content as the article a reader sees. No I/O, no globals; safe
 * from any thread.
 *
 * The shapes (the schema's context "data"):
 *   data.generated_content {"introduction": TEXT, "body": [{"id","title","content"}...],
 *                           "conclusion": TEXT}
 *   data.formatted_content {"format": "markdown"|"html", "content": TEXT}
 */
#ifndef GB_RENDER_H
#define GB_RENDER_H

#include <cjson/cJSON.h>

#include "../base/err.h"

#define RENDER_MAX		(64u << 20)	/* bytes of one rendered article */
#define RENDER_SECTIONS_MAX	1000		/* body sections of one article */

/*
 * Render generated_content as format "markdown" or "html" under the title
 * (NULL: none): markdown is "# Title\n\n## Introduction\n\n...", each body
 * section under "## <title>" (untitled: its id), then "## Conclusion", the
 * sections' text as written. html is "<article><h1>..." with each section
 * in <section id="<slug>"><h2>...; titles are escaped, and a section's text
 * is read as CommonMark (libcmark) and rendered with nothing in it left
 * live: raw HTML is shown as escaped text ("<script>" stays visible, never
 * runs), links and images whose URL is not http, https, mailto or relative
 * keep only their text, and its headings sit below the section's <h2>.
 * With toc, a table of contents linking the sections follows the title.
 * *out malloc'd (caller frees), NULL on failure:
 * GB_EINVAL for an unknown format or content of the wrong shape, GB_ETOOBIG
 * past RENDER_MAX bytes or RENDER_SECTIONS_MAX body sections, GB_ENOMEM.
 */
int transform_render(const cJSON *generated_content, const char *title, const char *format, int toc,
    char **out, struct gb_err *err);

#endif
