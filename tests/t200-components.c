/*
 * t200-components - the pure parts of the pipeline components: expanding
 * the schema's example template, the errors of bad templates, word ranges,
 * the prompts, and the offline draft's determinism and length. t202 has
 * the transformer's rendering.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../appliance/draft.h"
#include "../appliance/prompt.h"
#include "../appliance/template.h"
#include "tap.h"

/* appliance/demo/3-templates.json, the schema's templates example */
static const char demo_template[] =
	"{\n"
	"  \"_id\": \"tmpl_article_technical\",\n"
	"  \"name\": \"Technical Article Template\",\n"
	"  \"description\": \"Template for technical articles with structured sections\",\n"
	"  \"version\": \"1.3.0\",\n"
	"  \"created_at\": \"2023-01-15T09:00:00Z\",\n"
	"  \"updated_at\": \"2023-05-20T11:45:30Z\",\n"
	"  \"created_by\": \"user_789\",\n"
	"  \"structure\": {\n"
	"    \"sections\": [\n"
	"      {\n"
	"        \"id\": \"introduction\",\n"
	"        \"type\": \"text\",\n"
	"        \"name\": \"Introduction\",\n"
	"        \"instructions\": \"Provide a technical introduction to the topic\",\n"
	"        \"word_range\": [150, 300]\n"
	"      },\n"
	"      {\n"
	"        \"id\": \"main_content\",\n"
	"        \"type\": \"sections\",\n"
	"        \"name\": \"Main Content\",\n"
	"        \"min_sections\": 2,\n"
	"        \"max_sections\": 5,\n"
	"        \"section_template\": {\n"
	"          \"type\": \"text\",\n"
	"          \"instructions\": \"Expand on a specific aspect of the topic\",\n"
	"          \"word_range\": [300, 600]\n"
	"        }\n"
	"      },\n"
	"      {\n"
	"        \"id\": \"conclusion\",\n"
	"        \"type\": \"text\",\n"
	"        \"name\": \"Conclusion\",\n"
	"        \"instructions\": \"Summarize key points and provide next steps\",\n"
	"        \"word_range\": [150, 300]\n"
	"      }\n"
	"    ]\n"
	"  },\n"
	"  \"metadata\": {\n"
	"    \"tags\": [\"technical\", \"article\", \"documentation\"],\n"
	"    \"category\": \"educational\",\n"
	"    \"target_audience\": \"developers\"\n"
	"  },\n"
	"  \"is_active\": true,\n"
	"  \"organization_id\": \"org_123\"\n"
	"}\n";

/* the schema's context data, without the parts the components produce */
static const char demo_data[] =
	"{\"title\":\"Example Article\","
	"\"keywords\":[\"microservices\",\"architecture\",\"documentation\"],"
	"\"target_audience\":\"developers\",\"tone\":\"technical\"}";

static cJSON *
parse(const char *text)
{
	cJSON *j = cJSON_Parse(text);

	if (j == NULL)
		tap_bail("test JSON does not parse: %.60s", text);
	return j;
}

static const char *
str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : v ? "(not a string)" : "(missing)";
}

/* "lo,hi" of a section's word_range, or what is wrong with it */
static const char *
range(const cJSON *sec)
{
	static char out[64];
	const cJSON *wr = cJSON_GetObjectItemCaseSensitive(sec, "word_range");

	if (!cJSON_IsArray(wr) || cJSON_GetArraySize(wr) != 2)
		return "(no word_range)";
	snprintf(out, sizeof(out), "%g,%g", cJSON_GetArrayItem(wr, 0)->valuedouble,
	    cJSON_GetArrayItem(wr, 1)->valuedouble);
	return out;
}

static int
count_words(const char *s)
{
	int n = 0, in = 0;

	for (; *s; s++) {
		if (isspace((unsigned char)*s))
			in = 0;
		else if (!in) {
			in = 1;
			n++;
		}
	}
	return n;
}

/* The number of main_content sections the demo template gives for seed. */
static int
main_sections(const cJSON *tmpl, const char *seed)
{
	struct gb_err err = { 0, "" };
	cJSON *out = NULL;
	int n;

	if (template_expand(tmpl, seed, &out, &err))
		return -1;
	n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(out, "sections")) - 2;
	cJSON_Delete(out);
	return n;
}

static void
test_expand_demo(void)
{
	struct gb_err err = { 0, "" };
	cJSON *tmpl = parse(demo_template), *out = NULL, *again = NULL, *secs;
	int rc, n, k, seen[8] = { 0 }, distinct = 0, in_range = 1;
	char seed[32];

	rc = template_expand(tmpl, "ctx_123456", &out, &err);
	is_int(rc, 0, "demo template expands");
	if (rc)
		tap_diag("error: %s", err.msg);
	is_str(str(out, "id"), "tmpl_article_technical", "expanded: id from _id");
	is_str(str(out, "name"), "Technical Article Template", "expanded: name");
	is_str(str(out, "version"), "1.3.0", "expanded: version");
	ok(cJSON_GetObjectItemCaseSensitive(out, "structure") == NULL &&
	    cJSON_GetObjectItemCaseSensitive(out, "organization_id") == NULL, "expanded: only the template's fields");
	secs = cJSON_GetObjectItemCaseSensitive(out, "sections");
	n = cJSON_GetArraySize(secs) - 2;
	ok(n >= 2 && n <= 5, "2..5 main_content sections (got %d)", n);

	is_str(str(cJSON_GetArrayItem(secs, 0), "id"), "introduction", "first: introduction");
	is_str(str(cJSON_GetArrayItem(secs, 0), "type"), "text", "introduction: type text");
	is_str(str(cJSON_GetArrayItem(secs, 0), "name"), "Introduction", "introduction: name");
	is_str(str(cJSON_GetArrayItem(secs, 0), "instructions"), "Provide a technical introduction to the topic",
	    "introduction: instructions");
	is_str(range(cJSON_GetArrayItem(secs, 0)), "150,300", "introduction: word_range");
	for (k = 1; k <= n; k++) {
		const cJSON *s = cJSON_GetArrayItem(secs, k);
		char id[32], name[32];

		snprintf(id, sizeof(id), "main_content_%d", k);
		snprintf(name, sizeof(name), "Main Content %d", k);
		is_str(str(s, "id"), id, "section %d: id", k);
		is_str(str(s, "name"), name, "section %d: name", k);
		is_str(str(s, "type"), "text", "section %d: type", k);
		is_str(str(s, "instructions"), "Expand on a specific aspect of the topic", "section %d: instructions", k);
		is_str(range(s), "300,600", "section %d: word_range", k);
	}
	is_str(str(cJSON_GetArrayItem(secs, n + 1), "id"), "conclusion", "last: conclusion");
	is_str(str(cJSON_GetArrayItem(secs, n + 1), "instructions"), "Summarize key points and provide next steps",
	    "conclusion: instructions");
	is_str(range(cJSON_GetArrayItem(secs, n + 1)), "150,300", "conclusion: word_range");

	is_int(template_expand(tmpl, "ctx_123456", &again, &err), 0, "expands again");
	ok(cJSON_Compare(out, again, 1), "same seed, same expansion");

	/* n depends on the seed: several values over many contexts, all in range */
	for (k = 0; k < 64; k++) {
		snprintf(seed, sizeof(seed), "ctx_%d", k);
		n = main_sections(tmpl, seed);
		if (n < 2 || n > 5)
			in_range = 0;
		else if (!seen[n]++)
			distinct++;
	}
	ok(in_range, "64 seeds: every n in 2..5");
	ok(distinct >= 3, "64 seeds: at least 3 different n (got %d)", distinct);
	is_int(main_sections(tmpl, "ctx_42"), main_sections(tmpl, "ctx_42"), "seed ctx_42: same n twice");
	n = main_sections(tmpl, NULL);
	ok(n >= 2 && n <= 5, "NULL seed: a valid n (%d)", n);

	cJSON_Delete(again);
	cJSON_Delete(out);
	cJSON_Delete(tmpl);
}

static void
test_expand_shapes(void)
{
	struct gb_err err = { 0, "" };
	cJSON *tmpl, *out = NULL, *secs;

	/* fixed count, no names, default word range, an already-expanded "id" */
	tmpl = parse("{\"id\":\"tmpl_y\",\"structure\":{\"sections\":["
	    "{\"id\":\"lead\",\"instructions\":\"Open\"},"
	    "{\"id\":\"part\",\"type\":\"sections\",\"min_sections\":3,\"max_sections\":3,"
	    "\"section_template\":{\"instructions\":\"Go on\"}}]}}");
	is_int(template_expand(tmpl, "any", &out, &err), 0, "minimal template expands");
	is_str(str(out, "id"), "tmpl_y", "minimal: id kept");
	ok(cJSON_GetObjectItemCaseSensitive(out, "name") == NULL, "minimal: no name, none invented");
	secs = cJSON_GetObjectItemCaseSensitive(out, "sections");
	is_int(cJSON_GetArraySize(secs), 4, "min_sections = max_sections = 3: 1 + 3 sections");
	is_str(str(cJSON_GetArrayItem(secs, 0), "type"), "text", "section without type is text");
	is_str(range(cJSON_GetArrayItem(secs, 0)), "100,200", "text section without word_range: 100,200");
	is_str(str(cJSON_GetArrayItem(secs, 3), "id"), "part_3", "third generated section: part_3");
	is_str(str(cJSON_GetArrayItem(secs, 3), "instructions"), "Go on", "generated: template instructions");
	is_str(range(cJSON_GetArrayItem(secs, 3)), "100,200", "generated without word_range: 100,200");
	cJSON_Delete(out);
	cJSON_Delete(tmpl);

	tmpl = parse("{\"_id\":\"tmpl_e\",\"structure\":{\"sections\":[]}}");
	is_int(template_expand(tmpl, "x", &out, &err), 0, "empty sections expand");
	is_int(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(out, "sections")), 0, "to no sections");
	cJSON_Delete(out);
	cJSON_Delete(tmpl);
}

/* A bad template: GB_EINVAL, the message, and no output. */
static void
expand_rejects(const char *text, const char *want, const char *name)
{
	struct gb_err err = { 0, "" };
	cJSON *tmpl = parse(text), *out = (cJSON *)&err;

	is_int(template_expand(tmpl, "ctx_1", &out, &err), GB_EINVAL, "%s: rejected", name);
	is_str(err.msg, want, "%s: message", name);
	ok(out == NULL, "%s: no output", name);
	cJSON_Delete(tmpl);
}

static void
test_expand_errors(void)
{
	static const char wr_msg[] = "word_range must be two integers [lo, hi] with 0 <= lo <= hi <= 100000";
	char want[256];

	expand_rejects("{\"_id\":\"tmpl_x\",\"name\":\"X\"}",
	    "template 'tmpl_x': structure.sections is missing or not an array", "no structure");
	expand_rejects("{\"_id\":\"tmpl_x\",\"structure\":{\"sections\":{}}}",
	    "template 'tmpl_x': structure.sections is missing or not an array", "sections not an array");
	expand_rejects("[1,2]", "template is not an object", "not an object");
	expand_rejects("{\"_id\":\"tmpl_x\",\"structure\":{\"sections\":[{\"id\":\"a\"},{\"name\":\"B\"}]}}",
	    "template 'tmpl_x': section 2 has no id", "section without id");
	expand_rejects("{\"_id\":\"tmpl_x\",\"structure\":{\"sections\":[{\"id\":\"\"}]}}",
	    "template 'tmpl_x': section 1 has no id", "empty id");
	expand_rejects("{\"structure\":{\"sections\":[{\"id\":7}]}}",
	    "template: section 1 has no id", "numeric id, template without _id");
	expand_rejects("{\"_id\":\"tmpl_x\",\"structure\":{\"sections\":[\"intro\"]}}",
	    "template 'tmpl_x': section 1 is not an object", "section as string");
	expand_rejects("{\"_id\":\"tmpl_x\",\"structure\":{\"sections\":[{\"id\":\"main\",\"type\":\"sections\","
	    "\"min_sections\":5,\"max_sections\":2,\"section_template\":{}}]}}",
	    "template 'tmpl_x': section 'main': min_sections 5 > max_sections 2", "min > max");
	expand_rejects("{\"_id\":\"tmpl_x\",\"structure\":{\"sections\":[{\"id\":\"main\",\"type\":\"sections\","
	    "\"min_sections\":-1,\"max_sections\":2}]}}",
	    "template 'tmpl_x': section 'main': min_sections must be an integer from 0 to 100", "negative min");
	expand_rejects("{\"_id\":\"tmpl_x\",\"structure\":{\"sections\":[{\"id\":\"main\",\"type\":\"sections\","
	    "\"min_sections\":1,\"max_sections\":\"5\"}]}}",
	    "template 'tmpl_x': section 'main': max_sections must be an integer from 0 to 100", "max as string");
	expand_rejects("{\"_id\":\"tmpl_x\",\"structure\":{\"sections\":[{\"id\":\"main\",\"type\":\"sections\","
	    "\"section_template\":\"text\"}]}}",
	    "template 'tmpl_x': section 'main': section_template is not an object", "section_template as string");
	expand_rejects("{\"_id\":\"tmpl_x\",\"structure\":{\"sections\":[{\"id\":\"intro\",\"type\":\"image\"}]}}",
	    "template 'tmpl_x': section 'intro': unknown type 'image' (text, sections)", "unknown type");
	expand_rejects("{\"_id\":\"tmpl_x\",\"structure\":{\"sections\":[{\"id\":\"a\"},{\"id\":\"a\"}]}}",
	    "template 'tmpl_x': duplicate section id 'a'", "duplicate id");
	expand_rejects("{\"_id\":\"tmpl_x\",\"structure\":{\"sections\":[{\"id\":\"p_1\"},"
	    "{\"id\":\"p\",\"type\":\"sections\",\"min_sections\":1,\"max_sections\":1}]}}",
	    "template 'tmpl_x': duplicate section id 'p_1'", "generated id clashes");

	{
		struct gb_err err = { 0, "" };
		cJSON *tmpl = parse("{\"_id\":\"tmpl_big\",\"structure\":{\"sections\":[]}}"), *out = NULL;
		cJSON *secs = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(tmpl, "structure"),
		    "sections");
		int k;

		for (k = 0; k < 990; k++) {
			cJSON *s = cJSON_CreateObject();

			snprintf(want, sizeof(want), "s%d", k);
			cJSON_AddStringToObject(s, "id", want);
			cJSON_AddItemToArray(secs, s);
		}
		cJSON_AddItemToArray(secs, parse("{\"id\":\"p\",\"type\":\"sections\",\"min_sections\":20,"
		    "\"max_sections\":20}"));
		is_int(template_expand(tmpl, "x", &out, &err), GB_ETOOBIG, "1010 sections: rejected");
		is_str(err.msg, "template 'tmpl_big': more than 1000 sections", "1010 sections: message");
		ok(out == NULL, "1010 sections: no output");
		cJSON_Delete(tmpl);
	}

	snprintf(want, sizeof(want), "template 'tmpl_x': section 'intro': %s", wr_msg);
	expand_rejects("{\"_id\":\"tmpl_x\",\"structure\":{\"sections\":[{\"id\":\"intro\",\"word_range\":[300,150]}]}}",
	    want, "word_range lo > hi");
	expand_rejects("{\"_id\":\"tmpl_x\",\"structure\":{\"sections\":[{\"id\":\"intro\",\"word_range\":[-1,5]}]}}",
	    want, "word_range negative");
	expand_rejects("{\"_id\":\"tmpl_x\",\"structure\":{\"sections\":[{\"id\":\"intro\",\"word_range\":[1.5,5]}]}}",
	    want, "word_range fraction");
	expand_rejects("{\"_id\":\"tmpl_x\",\"structure\":{\"sections\":[{\"id\":\"intro\",\"word_range\":[\"1\",5]}]}}",
	    want, "word_range string");
	expand_rejects("{\"_id\":\"tmpl_x\",\"structure\":{\"sections\":[{\"id\":\"intro\",\"word_range\":[5]}]}}",
	    want, "word_range of one");
	expand_rejects("{\"_id\":\"tmpl_x\",\"structure\":{\"sections\":[{\"id\":\"intro\",\"word_range\":300}]}}",
	    want, "word_range a number");
	snprintf(want, sizeof(want), "template 'tmpl_x': section 'main': %s", wr_msg);
	expand_rejects("{\"_id\":\"tmpl_x\",\"structure\":{\"sections\":[{\"id\":\"main\",\"type\":\"sections\","
	    "\"section_template\":{\"word_range\":[600,300]}}]}}", want, "section_template word_range lo > hi");
}

/* s has no label followed by nothing ("Keywords: \n", "Article title: " at the end...) */
static int
no_empty_label(const char *s)
{
	const char *p;

	for (p = s ? strstr(s, ": ") : NULL; p; p = strstr(p + 1, ": "))
		if (p[2] == '\n' || p[2] == '\0' || p[2] == ',')
			return 0;
	return s != NULL;
}

static void
test_prompt(void)
{
	struct gb_err err = { 0, "" };
	cJSON *data = parse(demo_data), *tmpl = parse(demo_template), *exp = NULL, *sec, *empty = parse("{}");
	char *sys = NULL, *user = NULL, *sys2 = NULL, *user2 = NULL;
	int rc;

	if (template_expand(tmpl, "ctx_123456", &exp, &err))
		tap_bail("template_expand: %s", err.msg);
	sec = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(exp, "sections"), 1);

	/* what a user checks in a prompt: their own words reach the model */
	rc = prompt_build(data, sec, &sys, &user, &err);
	is_int(rc, 0, "prompt for main_content_1");
	like(sys, "technical", "system prompt: the tone");
	like(sys, "developers", "system prompt: the audience");
	like(user, "Example Article", "user prompt: the title");
	like(user, "microservices", "user prompt: keyword 1");
	like(user, "architecture", "user prompt: keyword 2");
	like(user, "documentation", "user prompt: keyword 3");
	like(user, "Main Content 1", "user prompt: the section's name");
	like(user, "Expand on a specific aspect of the topic", "user prompt: the section's instructions");
	like(user, "300", "user prompt: the range's low end");
	like(user, "600", "user prompt: the range's high end");
	ok(strstr(user ? user : "", "300") < strstr(user ? user : "", "600"), "user prompt: low end before high end");
	ok(user && strstr(user, "tmpl_article_technical") == NULL && strstr(user, "main_content_1") == NULL,
	    "user prompt: no internal ids when the section has a name");
	ok(no_empty_label(sys) && no_empty_label(user), "prompts: no empty labels");

	is_int(prompt_build(data, sec, &sys2, &user2, &err), 0, "prompt again");
	ok(sys && sys2 && strcmp(sys, sys2) == 0 && user && user2 && strcmp(user, user2) == 0,
	    "same input, same prompts");
	free(sys);
	free(user);
	free(sys2);
	free(user2);

	/* the introduction's range and instructions are its own */
	sec = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(exp, "sections"), 0);
	is_int(prompt_build(data, sec, &sys, &user, &err), 0, "prompt for the introduction");
	like(user, "Provide a technical introduction to the topic", "introduction: its instructions");
	ok(user && strstr(user, "150") && strstr(user, "300") && !strstr(user, "600"), "introduction: its range 150..300");
	free(sys);
	free(user);

	/* nothing optional: nothing invented, the section named by its id */
	sec = parse("{\"id\":\"s_only\",\"word_range\":[10,20]}");
	is_int(prompt_build(empty, sec, &sys, &user, &err), 0, "prompt from bare data");
	ok(sys && *sys, "bare: a system prompt all the same");
	ok(no_empty_label(sys) && no_empty_label(user), "bare: no empty labels");
	ok(user && !strstr(user, "title") && !strstr(user, "Keywords") && !strstr(user, "Instructions"),
	    "bare: no title, keywords or instructions lines");
	like(user, "s_only", "bare: the section named by its id");
	ok(user && strstr(user, "10") && strstr(user, "20"), "bare: the range 10..20");
	free(sys);
	free(user);
	cJSON_Delete(sec);

	/* empty strings and non-string keywords are left out; no range is 100..200 */
	sec = parse("{\"name\":\"Intro\"}");
	cJSON_Delete(data);
	data = parse("{\"title\":\"\",\"tone\":\"\",\"target_audience\":\"beginners\",\"keywords\":[\"alpha\",3,\"\",\"beta\"]}");
	is_int(prompt_build(data, sec, &sys, &user, &err), 0, "prompt with audience only");
	like(sys, "beginners", "audience only: the audience");
	ok(no_empty_label(sys) && no_empty_label(user), "audience only: no empty labels");
	like(user, "alpha, beta", "keywords: the strings, in order, the rest left out");
	ok(user && strstr(user, "100") && strstr(user, "200"), "no word_range: the default 100..200");
	free(sys);
	free(user);
	cJSON_Delete(data);
	data = parse("{\"keywords\":\"solar, wind\",\"tone\":\"friendly\"}");
	is_int(prompt_build(data, sec, &sys, &user, &err), 0, "prompt with keywords as one string");
	like(user, "solar, wind", "keywords as a string: as given");
	like(sys, "friendly", "tone only: the tone");
	free(sys);
	free(user);
	cJSON_Delete(sec);

	sec = parse("{\"id\":\"s\",\"word_range\":[20,10]}");
	sys = user = (char *)"x";
	is_int(prompt_build(empty, sec, &sys, &user, &err), GB_EINVAL, "bad word range: rejected");
	like(err.msg, "section 's': word_range must be two integers", "bad word range: message");
	ok(sys == NULL && user == NULL, "bad word range: no prompts");
	cJSON_Delete(sec);

	{
		/* a title over the 1 MiB cap: refused with the reason, never truncated */
		size_t n = (1u << 20) + 100;
		char *big = malloc(n + 1);
		cJSON *huge = cJSON_CreateObject();

		memset(big, 'x', n);
		big[n] = '\0';
		cJSON_AddStringToObject(huge, "title", big);
		sec = parse("{\"id\":\"s\"}");
		gb_err_clear(&err);
		is_int(prompt_build(huge, sec, &sys, &user, &err), GB_ETOOBIG, "a 1 MiB title: too big");
		is_str(err.msg, "prompt exceeds 1048576 bytes", "a 1 MiB title: message");
		ok(sys == NULL && user == NULL, "a 1 MiB title: no prompts");
		cJSON_Delete(sec);
		cJSON_Delete(huge);
		free(big);
	}

	cJSON_Delete(empty);
	cJSON_Delete(data);
	cJSON_Delete(exp);
	cJSON_Delete(tmpl);
}

/* Hostile numbers in a word range: refused before any conversion (UBSan-clean). */
static void
test_word_range(void)
{
	static const char *const bad[] = {
		"[1e300,1e301]", "[-5,10]", "[0,1e300]", "[5,-1]", "[0,100001]", "[2147483648,2147483649]",
		"[1.5,3]", "[0,\"9\"]", "[0]", "[0,1,2]", "{}", "null", "[-1e300,0]", "[true,5]",
	};
	struct gb_err err;
	char text[128];
	int lo = -7, hi = -7;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cJSON *sec;

		snprintf(text, sizeof(text), "{\"id\":\"s\",\"word_range\":%s}", bad[i]);
		sec = parse(text);
		gb_err_clear(&err);
		is_int(template_word_range(sec, &lo, &hi, &err), GB_EINVAL, "word_range %s: refused", bad[i]);
		cJSON_Delete(sec);
	}
	is_str(err.msg, "section 's': word_range must be two integers [lo, hi] with 0 <= lo <= hi <= 100000",
	    "word_range: the message names the section and the rule");
	ok(lo == -7 && hi == -7, "word_range: nothing written when refused");
	{
		cJSON *sec = parse("{\"id\":\"n\",\"word_range\":[0,0]}");

		/* NaN cannot come from JSON text, but can from a document built in code */
		cJSON_ReplaceItemInArray(cJSON_GetObjectItem(sec, "word_range"), 0, cJSON_CreateNumber(NAN));
		gb_err_clear(&err);
		is_int(template_word_range(sec, &lo, &hi, &err), GB_EINVAL, "word_range [NaN,0]: refused");
		cJSON_Delete(sec);
	}
	{
		cJSON *sec = parse("{\"id\":\"z\",\"word_range\":[0,0]}");

		is_int(template_word_range(sec, &lo, &hi, &err), 0, "word_range [0,0]: taken (inclusive, no words)");
		ok(lo == 0 && hi == 0, "word_range [0,0]: 0 and 0");
		cJSON_Delete(sec);
		sec = parse("{\"id\":\"m\",\"word_range\":[100000,100000]}");
		is_int(template_word_range(sec, &lo, &hi, &err), 0, "word_range [100000,100000]: the largest");
		ok(lo == 100000 && hi == 100000, "word_range [100000,100000]: read");
		cJSON_Delete(sec);
	}
	is_int(template_word_range(NULL, &lo, &hi, &err), 0, "no section: the default range");
	ok(lo == 100 && hi == 200, "the default range is 100..200");

	expand_rejects("{\"_id\":\"t\",\"structure\":{\"sections\":[{\"id\":\"m\",\"type\":\"sections\","
	    "\"min_sections\":1e300,\"max_sections\":2}]}}",
	    "template 't': section 'm': min_sections must be an integer from 0 to 100", "min_sections 1e300");
	expand_rejects("{\"_id\":\"t\",\"structure\":{\"sections\":[{\"id\":\"m\",\"type\":\"sections\","
	    "\"min_sections\":1,\"max_sections\":-1e300}]}}",
	    "template 't': section 'm': max_sections must be an integer from 0 to 100", "max_sections -1e300");
	expand_rejects("{\"_id\":\"t\",\"structure\":{\"sections\":[{\"id\":\"m\",\"word_range\":[1e300,1e300]}]}}",
	    "template 't': section 'm': word_range must be two integers [lo, hi] with 0 <= lo <= hi <= 100000",
	    "text section word_range 1e300");
}

/* Every sentence starts with a capital and ends with '.'; paragraphs of at most 100 words. */
static int
well_formed(const char *t, char *why, size_t size)
{
	const char *p = t, *para;
	size_t len = strlen(t);

	if (len == 0 || t[len - 1] != '.' || !isupper((unsigned char)t[0]))
		return snprintf(why, size, "bad start or end"), 0;
	if (strstr(t, "  ") || strstr(t, "\n\n\n") || strchr(t, '\t') || strstr(t, " \n") || strstr(t, "\n "))
		return snprintf(why, size, "irregular white space"), 0;
	for (; *p; p++) {
		if (p[0] == '.' && p[1] == ' ' && !isupper((unsigned char)p[2]))
			return snprintf(why, size, "sentence without a capital at %d", (int)(p - t)), 0;
		if (p[0] == '.' && p[1] == '\n' && !(p[2] == '\n' && isupper((unsigned char)p[3])))
			return snprintf(why, size, "bad paragraph break at %d", (int)(p - t)), 0;
		if (p[0] == '\n' && p[1] == '\n' && p > t && p[-1] != '.')
			return snprintf(why, size, "paragraph not ending a sentence at %d", (int)(p - t)), 0;
	}
	for (para = t; para; ) {
		const char *end = strstr(para, "\n\n");
		size_t n = end ? (size_t)(end - para) : strlen(para);
		char *one = strndup(para, n);
		int w = one ? count_words(one) : 0;

		free(one);
		if (w > 100)
			return snprintf(why, size, "a paragraph of %d words", w), 0;
		para = end ? end + 2 : NULL;
	}
	return 1;
}

static void
test_draft(void)
{
	static const int ranges[][2] = {
		{ 150, 300 }, { 300, 600 }, { 1, 1 }, { 5, 5 }, { 2, 3 }, { 8, 8 }, { 19, 19 }, { 100, 200 },
		{ 0, 10 }, { 999, 1000 },
	};
	const char *sys = "You are a content writer. Write in a technical tone for developers.";
	const char *user = "Article title: Example Article\n"
	    "Keywords: microservices, architecture, documentation\n"
	    "Section: Main Content 1\n"
	    "Instructions: Expand on a specific aspect of the topic\n"
	    "Write between 300 and 600 words.\n"
	    "Return only the text of this section.";
	char *a, *b, why[128] = "";
	size_t i;
	int k, exact = 1, formed = 1, bad_k = 0;

	a = offline_draft(sys, user, 300, 600);
	b = offline_draft(sys, user, 300, 600);
	ok(a && b && strcmp(a, b) == 0, "offline draft: same input, same bytes");
	is_int(count_words(a), 450, "offline draft: [300,600] gives the midpoint, 450 words");
	ok(strstr(a, "\n\n") != NULL, "offline draft: 450 words come in paragraphs");
	ok(strstr(a, "microservices") || strstr(a, "architecture") || strstr(a, "documentation"),
	    "offline draft: speaks of the keywords");
	ok(well_formed(a, why, sizeof(why)), "offline draft: capitalised sentences ending in '.' (%s)", why);
	free(b);
	b = offline_draft(sys, "Article title: Gardening for Beginners\nWrite between 300 and 600 words.", 300, 600);
	ok(b && strcmp(a, b) != 0, "offline draft: different prompt, different text");
	ok(b && strstr(b, "gardening") != NULL, "offline draft: words of the other title");
	free(b);
	b = offline_draft("You are a content writer.", user, 300, 600);
	ok(b && strcmp(a, b) != 0, "offline draft: different system prompt, different text");
	free(b);
	free(a);

	for (i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		int lo = ranges[i][0], hi = ranges[i][1], n;

		a = offline_draft(sys, user, lo, hi);
		n = a ? count_words(a) : -1;
		ok(n >= lo && n <= hi && n == lo + (hi - lo + 1) / 2, "offline draft [%d,%d]: %d words, the midpoint",
		    lo, hi, n);
		ok(a && well_formed(a, why, sizeof(why)), "offline draft [%d,%d]: well formed (%s)", lo, hi, why);
		free(a);
	}

	/* every exact length from 1 to 300 */
	for (k = 1; k <= 300; k++) {
		a = offline_draft(sys, user, k, k);
		if (a == NULL || count_words(a) != k) {
			if (exact)
				bad_k = k;
			exact = 0;
		}
		if (a && formed && !well_formed(a, why, sizeof(why))) {
			formed = 0;
			tap_diag("[%d,%d]: %s", k, k, why);
		}
		free(a);
	}
	ok(exact, "offline draft [k,k] has k words for k = 1..300 (first failure %d)", bad_k);
	ok(formed, "offline draft [k,k] well formed for k = 1..300");

	a = offline_draft(sys, user, 600, 300);
	ok(a && count_words(a) >= 300 && count_words(a) <= 600, "offline draft: swapped range still in range");
	free(a);
	a = offline_draft(NULL, NULL, 5, 5);
	ok(a && count_words(a) == 5 && well_formed(a, why, sizeof(why)), "offline draft: no prompt, still 5 words");
	free(a);
	/* the range is inclusive: [0,0] asks for no words, [0,1] for the rounded-up midpoint */
	a = offline_draft(sys, user, 0, 0);
	ok(a != NULL, "offline draft [0,0]: text, not NULL");
	is_str(a, "", "offline draft [0,0]: no words, the empty text");
	free(a);
	a = offline_draft(sys, user, 0, 1);
	is_int(a ? count_words(a) : -1, 1, "offline draft [0,1]: 1 word");
	free(a);
	a = offline_draft(sys, user, -5, -1);
	is_str(a, "", "offline draft [-5,-1]: negative ends count as 0, no words");
	free(a);
	a = offline_draft(sys, user, 2147483647, 2147483647);
	is_int(a ? count_words(a) : -1, 100000, "offline draft [INT_MAX,INT_MAX]: cut to 100000 words");
	free(a);
}

int
main(void)
{
	test_expand_demo();
	test_expand_shapes();
	test_expand_errors();
	test_prompt();
	test_word_range();
	test_draft();
	return tap_done();
}
