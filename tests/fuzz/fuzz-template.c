/*
 * fuzz-template.c - template expansion (template_expand, the template
 * component): the input is a template document, expanded for two context
 * _ids.
 *
 * Invariants: refused with a message and no output, or an object whose
 * "sections" are at most TEMPLATE_SECTIONS_MAX text sections, each with an
 * id of its own and a word range template_word_range accepts (0 <= lo <=
 * hi <= TEMPLATE_WORDS_MAX); the same _id expands the same way twice; a refused
 * word range leaves lo and hi as they were.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../../appliance/template.h"
#include "fuzz.h"

static void
check_section(const cJSON *s, int i)
{
	struct gb_err err = { 0, "" };
	const cJSON *id = cJSON_GetObjectItem(s, "id"), *type = cJSON_GetObjectItem(s, "type");
	int lo = -7, hi = -7;

	if (!cJSON_IsObject(s) || !cJSON_IsString(id) || id->valuestring[0] == '\0')
		fuzz_fail("expanded section %d has no id", i);
	if (!cJSON_IsString(type) || strcmp(type->valuestring, "text") != 0)
		fuzz_fail("expanded section '%s' is not of type text", id->valuestring);
	if (template_word_range(s, &lo, &hi, &err))
		fuzz_fail("expanded section '%s' has a word range refused: %s", id->valuestring,
		    err.msg);
	if (lo < 0 || lo > hi || hi > TEMPLATE_WORDS_MAX)
		fuzz_fail("expanded section '%s' has words %d..%d", id->valuestring, lo, hi);
}

static int
id_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void
check_unique_ids(const cJSON *sections)
{
	static const char *ids[TEMPLATE_SECTIONS_MAX];
	const cJSON *s;
	size_t n = 0;

	cJSON_ArrayForEach(s, sections)
		ids[n++] = cJSON_GetStringValue(cJSON_GetObjectItem(s, "id"));
	qsort(ids, n, sizeof(ids[0]), id_cmp);
	for (size_t i = 1; i < n; i++)
		if (strcmp(ids[i - 1], ids[i]) == 0)
			fuzz_fail("two expanded sections have the id '%s'", ids[i]);
}

static void
check_expansion(const cJSON *tmpl, const char *key, int twice)
{
	struct gb_err err = { 0, "" }, err2 = { 0, "" };
	cJSON *out = NULL, *again = NULL;
	const cJSON *sections, *s;
	char *a, *b;
	int rc = template_expand(tmpl, key, &out, &err), rc2, i = 0;

	if (rc != 0) {
		if (out != NULL || rc != err.code || err.msg[0] == '\0')
			fuzz_fail("template_expand failed (%d) without a message or with output", rc);
		return;
	}
	sections = cJSON_GetObjectItem(out, "sections");
	if (!cJSON_IsArray(sections) || cJSON_GetArraySize(sections) > TEMPLATE_SECTIONS_MAX)
		fuzz_fail("expanded template without sections or with too many");
	cJSON_ArrayForEach(s, sections)
		check_section(s, i++);
	check_unique_ids(sections);
	if (!twice) {
		cJSON_Delete(out);
		return;
	}
	if ((rc2 = template_expand(tmpl, key, &again, &err2)) != 0)
		fuzz_fail("the second expansion failed: %s", err2.msg);
	a = cJSON_PrintUnformatted(out);
	b = cJSON_PrintUnformatted(again);
	if (a == NULL || b == NULL || strcmp(a, b) != 0)
		fuzz_fail("two expansions for '%s' differ", key);
	free(a);
	free(b);
	cJSON_Delete(out);
	cJSON_Delete(again);
}

/* template_word_range on anything that looks like a section of the input. */
static void
check_ranges(const cJSON *node, int depth)
{
	const cJSON *c;

	if (depth > 8)
		return;
	if (cJSON_IsObject(node) && cJSON_GetObjectItem(node, "word_range")) {
		struct gb_err err = { 0, "" };
		int lo = -7, hi = -7, rc = template_word_range(node, &lo, &hi, &err);

		if (rc == 0 && (lo < 0 || lo > hi || hi > TEMPLATE_WORDS_MAX))
			fuzz_fail("template_word_range accepted %d..%d", lo, hi);
		if (rc != 0 && (lo != -7 || hi != -7 || err.msg[0] == '\0'))
			fuzz_fail("a refused word range changed lo/hi or has no message");
	}
	for (c = node->child; c; c = c->next)
		check_ranges(c, depth + 1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *tmpl = cJSON_ParseWithLength((const char *)data, size);

	if (tmpl == NULL)
		return 0;
	check_expansion(tmpl, "ctx_123456", 1);
	check_expansion(tmpl, NULL, 0);
	check_ranges(tmpl, 0);
	cJSON_Delete(tmpl);
	return 0;
}
