/*
 * fuzz-filter.c - the export filter language (`genbox export --filter`,
 * store_each): the input is the filter's text, run on the contexts of a
 * database holding the schema's examples and contexts whose fields take
 * every JSON type (missing, null, booleans, numbers, strings, dates, arrays,
 * objects); an input of odd length exports as Extended JSON.
 *
 * Invariants: an error has a message; what matches comes in _id order,
 * never more than there is; and for each field of an accepted filter, the
 * condition and its opposite split the documents: $eq/$ne (a plain value
 * is $eq), $in/$nin and $exists true/false match disjoint sets that add up
 * to all, $gt/$lte and $gte/$lt to all but those where the field is null
 * or missing. The opposite is refused exactly when the condition is.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../../storage/docs.h"
#include "fuzz.h"

#define MAX_DOCS 64

static struct store *st;
static int64_t total;

static const char *const extra[] = {
	"{\"_id\":\"ctx_f1\",\"n\":1,\"s\":\"a\",\"b\":true,\"z\":null,\"a\":[1,2],"
	"\"o\":{\"n\":2,\"s\":\"b\"},\"created_at\":\"2024-01-01T00:00:00Z\",\"priority\":3}",
	"{\"_id\":\"ctx_f2\",\"n\":2.5,\"s\":\"b\",\"b\":false,\"a\":[],\"o\":{\"n\":null},"
	"\"created_at\":\"2024-01-01T00:00:00.001Z\",\"priority\":-1,\"status\":\"failed\"}",
	"{\"_id\":\"ctx_f3\",\"n\":\"1\",\"s\":\"\",\"b\":1,\"o\":\"x\",\"status\":\"cancelled\","
	"\"big\":12345678901234567890,\"created_at\":\"1970-01-01T00:00:00Z\"}",
	"{\"_id\":\"ctx_f4\",\"n\":-0.0,\"s\":\"\\u00e9\\u0001x\",\"o\":{},\"a\":[null],"
	"\"data\":{\"title\":\"t\",\"k\":{\"k\":1}},\"status\":\"processing\"}",
	"{\"_id\":\"ctx_f5\",\"n\":1e300,\"s\":\"a.b\",\"b\":null,\"o\":[{\"n\":1}],"
	"\"created_at\":{\"$date\":\"2030-12-31T23:59:59.999Z\"},\"status\":\"completed\"}",
	NULL
};

struct walk {
	char last[STORE_ID_MAX];
	int64_t n;
	char seen[MAX_DOCS][STORE_ID_MAX];
};

static int
walk_doc(void *arg, const char *doc, size_t len)
{
	struct walk *w = arg;
	cJSON *d = cJSON_ParseWithLength(doc, len);
	const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(d, "_id"));

	if (id == NULL)
		fuzz_fail("a matched document has no _id: %.*s", (int)len, doc);
	if (w->n > 0 && strcmp(w->last, id) >= 0)
		fuzz_fail("'%s' came after '%s': not in _id order", id, w->last);
	if (w->n >= total || w->n >= MAX_DOCS)
		fuzz_fail("more documents matched than there are (%lld)", (long long)total);
	snprintf(w->last, sizeof(w->last), "%s", id);
	snprintf(w->seen[w->n++], STORE_ID_MAX, "%s", id);
	cJSON_Delete(d);
	return 0;
}

/* Run filter; 0 and the matches in *w, or the error code (with its message checked). */
static int
run_filter(const char *filter, int extjson, struct walk *w)
{
	struct gb_err err = { 0, "" };
	int rc;

	memset(w, 0, sizeof(*w));
	rc = store_each(st, COLL_CONTEXTS, filter, extjson, walk_doc, w, &err);
	if (rc != 0 && (rc != err.code || err.msg[0] == '\0'))
		fuzz_fail("filter failed (%d) without a message: %s", rc, filter);
	if (rc > 0)
		fuzz_fail("filter returned %d", rc);
	return rc;
}

static char *
one_field(const char *field, const char *op, const cJSON *value)
{
	cJSON *f = cJSON_CreateObject(), *cond = cJSON_AddObjectToObject(f, field);
	char *s;

	if (op == NULL) {
		cJSON_Delete(f);
		f = cJSON_CreateObject();
		cJSON_AddItemToObject(f, field, cJSON_Duplicate(value, 1));
	} else {
		cJSON_AddItemToObject(cond, op, cJSON_Duplicate(value, 1));
	}
	s = cJSON_PrintUnformatted(f);
	cJSON_Delete(f);
	return s;
}

static int
shared(const struct walk *a, const struct walk *b)
{
	for (int64_t i = 0; i < a->n; i++)
		for (int64_t j = 0; j < b->n; j++)
			if (strcmp(a->seen[i], b->seen[j]) == 0)
				return 1;
	return 0;
}

/* The condition op (NULL: a plain value) and its opposite split the documents. */
static void
check_split(const char *field, const char *op, const char *opposite, const cJSON *v,
    const cJSON *v2)
{
	static struct walk a, b, nul;
	char *fa = one_field(field, op, v), *fb = one_field(field, opposite, v2), *fn;
	int ra = run_filter(fa, 0, &a), rb = run_filter(fb, 0, &b);
	int64_t want = total;

	if ((ra == 0) != (rb == 0))
		fuzz_fail("'%s' gives %d but '%s' gives %d", fa, ra, fb, rb);
	if (ra == 0 && op != NULL && (op[1] == 'g' || op[1] == 'l')) {
		cJSON *null = cJSON_CreateNull();

		fn = one_field(field, NULL, null);
		cJSON_Delete(null);
		if (run_filter(fn, 0, &nul))
			fuzz_fail("'%s' is refused", fn);
		want -= nul.n;
		free(fn);
	}
	if (ra == 0 && (shared(&a, &b) || a.n + b.n != want))
		fuzz_fail("'%s' (%lld) and '%s' (%lld) do not split %lld documents", fa,
		    (long long)a.n, fb, (long long)b.n, (long long)want);
	free(fa);
	free(fb);
}

static void
check_field(const cJSON *field)
{
	static const char *const pairs[][2] = { { "$eq", "$ne" }, { "$ne", "$eq" },
		{ "$in", "$nin" }, { "$nin", "$in" }, { "$gt", "$lte" }, { "$gte", "$lt" },
		{ "$lte", "$gt" }, { "$lt", "$gte" }, { "$exists", "$exists" } };
	const cJSON *op = field->child;

	if (!cJSON_IsObject(field) || op == NULL || op->string[0] != '$') {
		if (!cJSON_IsNull(field))
			check_split(field->string, NULL, "$ne", field, field);
		return;
	}
	if (op->next != NULL)
		return;
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		if (strcmp(op->string, pairs[i][0]) != 0)
			continue;
		if (i == 8 && cJSON_IsBool(op)) {
			cJSON *not = cJSON_CreateBool(!cJSON_IsTrue(op));

			check_split(field->string, "$exists", "$exists", op, not);
			cJSON_Delete(not);
		} else if (i < 8 && !(i >= 4 && cJSON_IsNull(op))) {
			check_split(field->string, pairs[i][0], pairs[i][1], op, op);
		}
		return;
	}
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct gb_err err = { 0, "" };
	char path[4200], doc[1024];

	(void)argc, (void)argv;
	fuzz_store(path, sizeof(path), 1, 1, &st);
	for (int i = 0; extra[i]; i++) {
		snprintf(doc, sizeof(doc), "%.*s,\"organization_id\":\"org_123\"}",
		    (int)strlen(extra[i]) - 1, extra[i]);
		if (store_put(st, COLL_CONTEXTS, doc, strlen(doc), STORE_INSERT, NULL, &err))
			fuzz_fail("put %s: %s", doc, err.msg);
	}
	if (store_count(st, COLL_CONTEXTS, &total, &err))
		fuzz_fail("count: %s", err.msg);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct walk w;
	char *filter = strndup((const char *)data, size);
	cJSON *tree;
	int n = 0;

	if (filter == NULL)
		fuzz_fail("out of memory");
	if (run_filter(filter, size & 1, &w) == 0 && (tree = cJSON_Parse(filter)) != NULL) {
		for (const cJSON *f = tree->child; f && n < 4; f = f->next, n++)
			check_field(f);
		cJSON_Delete(tree);
	}
	free(filter);
	return 0;
}
