/*
 * template.c - expanding a template document into data.template.
 *
 * template_expand walks structure.sections once, validating as it copies and
 * expanding a "sections" section into n numbered text sections, n picked by
 * an FNV-1a hash of the seed key so a retried context gets the same outline.
 * Numbers from the document are compared as doubles against their range
 * before they are converted, so a hostile template stays UBSan-clean.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../base/err.h"
#include "../base/json.h"
#include "template.h"

#define SECTIONS_LIMIT		100		/* largest max_sections */
#define SECTION_ID_MAX		200		/* bytes of a repeated section's id or name */

#define FNV_OFFSET		0xcbf29ce484222325ULL
#define FNV_PRIME		0x100000001b3ULL

static uint64_t
template_hash(const char *s)
{
	uint64_t h = FNV_OFFSET;

	for (; s && *s; s++) {
		h ^= (unsigned char)*s;
		h *= FNV_PRIME;
	}
	return h;
}

/* A JSON number that is a whole number in [lo, hi]: 1, else 0 (nothing converted). */
static int
json_whole(const cJSON *v, long lo, long hi, long *out)
{
	double d;

	if (!cJSON_IsNumber(v))
		return 0;
	d = v->valuedouble;
	if (!(d >= (double)lo && d <= (double)hi))	/* also NaN */
		return 0;
	if (d != (double)(long)d)			/* in range: the cast is defined */
		return 0;
	*out = (long)d;
	return 1;
}

/* word_range of sec (NULL: the default): 0, or -1 when it is not a valid range. */
static int
word_range_read(const cJSON *sec, long *lo, long *hi)
{
	const cJSON *wr = cJSON_GetObjectItemCaseSensitive(sec, "word_range");
	long a, b;

	if (wr == NULL) {
		*lo = TEMPLATE_WORDS_DEFAULT_LO;
		*hi = TEMPLATE_WORDS_DEFAULT_HI;
		return 0;
	}
	if (!cJSON_IsArray(wr) || cJSON_GetArraySize(wr) != 2 ||
	    !json_whole(cJSON_GetArrayItem(wr, 0), 0, TEMPLATE_WORDS_MAX, &a) ||
	    !json_whole(cJSON_GetArrayItem(wr, 1), 0, TEMPLATE_WORDS_MAX, &b) || a > b)
		return -1;
	*lo = a;
	*hi = b;
	return 0;
}

#define WORD_RANGE_RULE	"word_range must be two integers [lo, hi] with 0 <= lo <= hi <= %d"

int
template_word_range(const cJSON *section, int *lo, int *hi, struct gb_err *err)
{
	const char *id;
	long a, b;

	if (word_range_read(section, &a, &b)) {
		id = json_get_str(section, "id");
		return gb_errf(err, GB_EINVAL, "section '%.128s': " WORD_RANGE_RULE, id ? id : "",
		    TEMPLATE_WORDS_MAX);
	}
	*lo = (int)a;
	*hi = (int)b;
	return 0;
}

/* Add a text section {"id","type","name","instructions","word_range"} to arr. 0 or -1 (memory). */
static int
add_text_section(cJSON *arr, const char *id, const char *name, const char *instructions, long lo,
    long hi)
{
	cJSON *s, *wr;

	if ((s = cJSON_CreateObject()) == NULL)
		return -1;
	cJSON_AddItemToArray(arr, s);
	if (cJSON_AddStringToObject(s, "id", id) == NULL ||
	    cJSON_AddStringToObject(s, "type", "text") == NULL)
		return -1;
	if (name && cJSON_AddStringToObject(s, "name", name) == NULL)
		return -1;
	if (instructions && cJSON_AddStringToObject(s, "instructions", instructions) == NULL)
		return -1;
	if ((wr = cJSON_AddArrayToObject(s, "word_range")) == NULL)
		return -1;
	cJSON_AddItemToArray(wr, cJSON_CreateNumber((double)lo));
	cJSON_AddItemToArray(wr, cJSON_CreateNumber((double)hi));
	return cJSON_GetArraySize(wr) == 2 ? 0 : -1;
}

static int
has_section(const cJSON *arr, const char *id)
{
	const cJSON *s;

	cJSON_ArrayForEach(s, arr) {
		const char *sid = json_get_str(s, "id");

		if (sid && strcmp(sid, id) == 0)
			return 1;
	}
	return 0;
}

/* Copy one "text" section. */
static int
expand_text(cJSON *arr, const cJSON *sec, const char *label, const char *id, struct gb_err *err)
{
	long lo, hi;

	if (word_range_read(sec, &lo, &hi))
		return gb_errf(err, GB_EINVAL, "%s: section '%s': " WORD_RANGE_RULE, label, id,
		    TEMPLATE_WORDS_MAX);
	if (has_section(arr, id))
		return gb_errf(err, GB_EINVAL, "%s: duplicate section id '%s'", label, id);
	if (cJSON_GetArraySize(arr) >= TEMPLATE_SECTIONS_MAX)
		return gb_errf(err, GB_ETOOBIG, "%s: more than %d sections", label,
		    TEMPLATE_SECTIONS_MAX);
	if (add_text_section(arr, id, json_get_str(sec, "name"), json_get_str(sec, "instructions"),
	    lo, hi))
		return gb_errf(err, GB_ENOMEM, "out of memory");
	return 0;
}

/* min_sections and max_sections of a "sections" section. */
static int
section_count_range(const cJSON *sec, const char *label, const char *id, long *min, long *max,
    struct gb_err *err)
{
	const cJSON *v;

	*min = 1;
	if ((v = cJSON_GetObjectItemCaseSensitive(sec, "min_sections")) &&
	    !json_whole(v, 0, SECTIONS_LIMIT, min))
		return gb_errf(err, GB_EINVAL,
		    "%s: section '%s': min_sections must be an integer from 0 to %d", label, id,
		    SECTIONS_LIMIT);
	*max = *min;
	if ((v = cJSON_GetObjectItemCaseSensitive(sec, "max_sections")) &&
	    !json_whole(v, 0, SECTIONS_LIMIT, max))
		return gb_errf(err, GB_EINVAL,
		    "%s: section '%s': max_sections must be an integer from 0 to %d", label, id,
		    SECTIONS_LIMIT);
	if (*min > *max)
		return gb_errf(err, GB_EINVAL,
		    "%s: section '%s': min_sections %ld > max_sections %ld", label, id, *min, *max);
	return 0;
}

/* Expand one "sections" section into n numbered text sections. */
static int
expand_repeated(cJSON *arr, const cJSON *sec, const char *label, const char *id,
    const char *seed_key, struct gb_err *err)
{
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(sec, "section_template");
	const char *name = json_get_str(sec, "name");
	char sid[256], sname[256];
	long min = 0, max = 0, n, k, lo, hi;
	int rc;

	if ((rc = section_count_range(sec, label, id, &min, &max, err)))
		return rc;
	if (st != NULL && !cJSON_IsObject(st))
		return gb_errf(err, GB_EINVAL,
		    "%s: section '%s': section_template is not an object", label, id);
	if (word_range_read(st, &lo, &hi))
		return gb_errf(err, GB_EINVAL, "%s: section '%s': " WORD_RANGE_RULE, label, id,
		    TEMPLATE_WORDS_MAX);
	if (strlen(id) > SECTION_ID_MAX || (name && strlen(name) > SECTION_ID_MAX))
		return gb_errf(err, GB_EINVAL,
		    "%s: section '%.64s': id or name longer than %d bytes", label, id,
		    SECTION_ID_MAX);
	n = min + (long)(template_hash(seed_key) % (uint64_t)(max - min + 1));
	if (cJSON_GetArraySize(arr) + n > TEMPLATE_SECTIONS_MAX)
		return gb_errf(err, GB_ETOOBIG, "%s: more than %d sections", label,
		    TEMPLATE_SECTIONS_MAX);
	for (k = 1; k <= n; k++) {
		snprintf(sid, sizeof(sid), "%s_%ld", id, k);
		if (name)
			snprintf(sname, sizeof(sname), "%s %ld", name, k);
		if (has_section(arr, sid))
			return gb_errf(err, GB_EINVAL, "%s: duplicate section id '%s'", label, sid);
		if (add_text_section(arr, sid, name ? sname : NULL,
		    json_get_str(st, "instructions"), lo, hi))
			return gb_errf(err, GB_ENOMEM, "out of memory");
	}
	return 0;
}

/* One section of structure.sections (the i-th, from 1). */
static int
expand_section(cJSON *arr, const cJSON *sec, int i, const char *label, const char *seed_key,
    struct gb_err *err)
{
	const cJSON *v;
	const char *id, *type;

	if (!cJSON_IsObject(sec))
		return gb_errf(err, GB_EINVAL, "%s: section %d is not an object", label, i);
	if ((id = json_get_str(sec, "id")) == NULL || *id == '\0')
		return gb_errf(err, GB_EINVAL, "%s: section %d has no id", label, i);
	v = cJSON_GetObjectItemCaseSensitive(sec, "type");
	type = v == NULL ? "text" : cJSON_IsString(v) ? v->valuestring : "";
	if (strcmp(type, "text") == 0)
		return expand_text(arr, sec, label, id, err);
	if (strcmp(type, "sections") == 0)
		return expand_repeated(arr, sec, label, id, seed_key, err);
	return gb_errf(err, GB_EINVAL, "%s: section '%s': unknown type '%s' (text, sections)",
	    label, id, type);
}

int
template_expand(const cJSON *tmpl, const char *seed_key, cJSON **out, struct gb_err *err)
{
	const cJSON *secs, *sec;
	const char *tid, *s;
	char label[160];
	cJSON *res = NULL, *arr;
	int rc = 0, i = 0;

	*out = NULL;
	if (!cJSON_IsObject(tmpl))
		return gb_errf(err, GB_EINVAL, "template is not an object");
	if ((tid = json_get_str(tmpl, "_id")) == NULL)
		tid = json_get_str(tmpl, "id");
	if (tid)
		snprintf(label, sizeof(label), "template '%.128s'", tid);
	else
		snprintf(label, sizeof(label), "template");
	secs = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(tmpl, "structure"),
	    "sections");
	if (!cJSON_IsArray(secs))
		return gb_errf(err, GB_EINVAL, "%s: structure.sections is missing or not an array",
		    label);
	if (cJSON_GetArraySize(secs) > TEMPLATE_SECTIONS_MAX)
		return gb_errf(err, GB_ETOOBIG, "%s: more than %d sections", label,
		    TEMPLATE_SECTIONS_MAX);

	if ((res = cJSON_CreateObject()) == NULL ||
	    (tid && cJSON_AddStringToObject(res, "id", tid) == NULL) ||
	    ((s = json_get_str(tmpl, "name")) && cJSON_AddStringToObject(res, "name", s) == NULL) ||
	    ((s = json_get_str(tmpl, "version")) &&
	    cJSON_AddStringToObject(res, "version", s) == NULL) ||
	    (arr = cJSON_AddArrayToObject(res, "sections")) == NULL) {
		rc = gb_errf(err, GB_ENOMEM, "out of memory");
		goto out;
	}
	cJSON_ArrayForEach(sec, secs) {
		if ((rc = expand_section(arr, sec, ++i, label, seed_key, err)))
			goto out;
	}
	*out = res;
	res = NULL;
out:
	cJSON_Delete(res);
	return rc;
}
