/*
 * prompt.c - building the prompts of one section: two capped struct bufs
 * filled from the context's data and the section, in a fixed order.
 */
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "../base/buf.h"
#include "../base/err.h"
#include "prompt.h"
#include "template.h"

/* A string member that is present and not empty, else NULL. */
static const char *
prompt_text(const cJSON *o, const char *key)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));

	return s && *s ? s : NULL;
}

static int
prompt_system(struct buf *b, const cJSON *data)
{
	const char *audience = prompt_text(data, "target_audience"),
	    *tone = prompt_text(data, "tone");
	int rc = buf_puts(b, "You are a content writer.");

	if (!rc && tone && audience)
		rc = buf_printf(b, " Write in a %s tone for %s.", tone, audience);
	else if (!rc && tone)
		rc = buf_printf(b, " Write in a %s tone.", tone);
	else if (!rc && audience)
		rc = buf_printf(b, " Write for %s.", audience);
	return rc;
}

/* "Keywords: a, b\n" from a string or an array of strings; nothing when there are none. */
static int
prompt_keywords(struct buf *b, const cJSON *kw)
{
	const cJSON *k;
	const char *s;
	int rc = 0, first = 1;

	if ((s = cJSON_GetStringValue(kw)) != NULL)
		return *s ? buf_printf(b, "Keywords: %s\n", s) : 0;
	if (!cJSON_IsArray(kw))
		return 0;
	cJSON_ArrayForEach(k, kw) {
		if ((s = cJSON_GetStringValue(k)) == NULL || *s == '\0')
			continue;
		if ((rc = buf_printf(b, "%s%s", first ? "Keywords: " : ", ", s)))
			return rc;
		first = 0;
	}
	return first ? 0 : buf_puts(b, "\n");
}

static int
prompt_user(struct buf *b, const cJSON *data, const cJSON *section, int lo, int hi)
{
	const char *title = prompt_text(data, "title"), *name, *instructions;
	int rc = 0;

	if ((name = prompt_text(section, "name")) == NULL)
		name = prompt_text(section, "id");
	instructions = prompt_text(section, "instructions");
	if (title)
		rc = buf_printf(b, "Article title: %s\n", title);
	if (!rc)
		rc = prompt_keywords(b, cJSON_GetObjectItemCaseSensitive(data, "keywords"));
	if (!rc && name)
		rc = buf_printf(b, "Section: %s\n", name);
	if (!rc && instructions)
		rc = buf_printf(b, "Instructions: %s\n", instructions);
	if (!rc)
		rc = buf_printf(b,
		    "Write between %d and %d words.\nReturn only the text of this section.", lo,
		    hi);
	return rc;
}

int
prompt_build(const cJSON *data, const cJSON *section, char **system_out, char **user_out,
    struct gb_err *err)
{
	struct buf sys, user;
	int rc, lo, hi;

	*system_out = *user_out = NULL;
	if (!cJSON_IsObject(section))
		return gb_errf(err, GB_EINVAL, "section is not an object");
	if ((rc = template_word_range(section, &lo, &hi, err)))
		return rc;
	buf_init(&sys, PROMPT_MAX);
	buf_init(&user, PROMPT_MAX);
	if ((rc = prompt_system(&sys, data)) || (rc = prompt_user(&user, data, section, lo, hi))) {
		if (rc == GB_ETOOBIG)
			rc = gb_errf(err, rc, "prompt exceeds %u bytes", PROMPT_MAX);
		else
			rc = gb_errf(err, GB_ENOMEM, "out of memory");
		goto out;
	}
	*system_out = buf_take(&sys);
	*user_out = buf_take(&user);
	if (*system_out == NULL || *user_out == NULL) {
		free(*system_out);
		free(*user_out);
		*system_out = *user_out = NULL;
		rc = gb_errf(err, GB_ENOMEM, "out of memory");
	}
out:
	buf_release(&sys);
	buf_release(&user);
	return rc;
}
