/*
 * t100-storage-docs - documents in and out of the mirror: validation with
 * messages that name the field, dates, Extended JSON, exact integers,
 * unknown fields, limits, and nothing half-written on error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../storage/docs.h"
#include "../storage/queue.h"
#include "../storage/store.h"
#include "tap.h"

static struct store *st;

/* put text; return the code and leave the message in msg */
static int
put(enum coll c, const char *text, enum store_put_mode mode, char *id, char msg[256])
{
	struct gb_err err = { 0, "" };
	char tmp[STORE_ID_MAX];
	int rc = store_put(st, c, text, strlen(text), mode, id ? id : tmp, &err);

	snprintf(msg, 256, "%s", err.msg);
	return rc;
}

static char *
get(enum coll c, const char *id)
{
	struct gb_err err = { 0, "" };
	char *doc = NULL;

	if (store_get(st, c, id, &doc, &err))
		return NULL;
	return doc;
}

static const char *
field_str(const char *doc, const char *a, const char *b)
{
	static char out[256];
	cJSON *t = cJSON_Parse(doc), *v = cJSON_GetObjectItemCaseSensitive(t, a);

	if (b)
		v = cJSON_GetObjectItemCaseSensitive(v, b);
	snprintf(out, sizeof(out), "%s", cJSON_IsString(v) ? v->valuestring : cJSON_IsNull(v) ? "null" :
	    v ? "(not a string)" : "(missing)");
	cJSON_Delete(t);
	return out;
}

static int64_t
count(enum coll c)
{
	struct gb_err err = { 0, "" };
	int64_t n = -1;

	store_count(st, c, &n, &err);
	return n;
}

/* A bad document: the code, a message naming what is wrong, and no row written. */
static void
rejects(enum coll c, const char *text, int code, const char *want, const char *name)
{
	int64_t before = count(c);
	char msg[256];

	is_int(put(c, text, STORE_INSERT, NULL, msg), code, "%s: rejected", name);
	like(msg, want, "%s: message", name);
	is_int(count(c), before, "%s: nothing written", name);
}

static void
test_validation(void)
{
	rejects(COLL_CONTEXTS, "{\"_id\":\"c1\"}", GB_EINVAL, "field 'organization_id': is required",
	    "missing organization_id");
	rejects(COLL_CONTEXTS, "{\"organization_id\":\"o\",\"status\":\"done\"}", GB_EINVAL,
	    "field 'status': 'done' is not one of pending, processing, completed, failed, cancelled",
	    "unknown status");
	rejects(COLL_CONTEXTS, "{\"organization_id\":\"o\",\"metadata\":{\"priority\":\"high\"}}", GB_EINVAL,
	    "field 'metadata.priority': expected an integer, got string", "priority as string");
	rejects(COLL_CONTEXTS, "{\"organization_id\":\"o\",\"metadata\":{\"priority\":1.5}}", GB_EINVAL,
	    "field 'metadata.priority': expected an integer, got number", "priority as fraction");
	rejects(COLL_CONTEXTS, "{\"organization_id\":\"o\",\"retry_count\":-1}", GB_EINVAL,
	    "field 'retry_count': must not be negative", "negative retry_count");
	rejects(COLL_CONTEXTS, "{\"organization_id\":7}", GB_EINVAL,
	    "field 'organization_id': expected a string, got number", "organization_id as number");
	rejects(COLL_CONTEXTS, "{\"organization_id\":\"o\",\"pipeline\":[\"template\",3]}", GB_EINVAL,
	    "field 'pipeline': expected an array of strings, found number", "pipeline with a number");
	rejects(COLL_CONTEXTS, "{\"_id\":5,\"organization_id\":\"o\"}", GB_EINVAL,
	    "field '_id': expected a string, got number", "_id as number");
	rejects(COLL_CONTEXTS, "{\"organization_id\":\"o\",\"created_at\":\"yesterday\"}", GB_EINVAL,
	    "field 'created_at': 'yesterday' is not an ISO-8601 date", "created_at not a date");
	rejects(COLL_CONTEXTS, "{\"organization_id\":\"o\",\"created_at\":1686407400000}", GB_EINVAL,
	    "field 'created_at': expected an ISO-8601 date string, got number", "created_at as number");
	rejects(COLL_CONTEXTS, "{\"organization_id\":\"o\",\"processing\":{\"started_at\":\"2023-02-30T00:00:00Z\"}}",
	    GB_EINVAL, "field 'processing.started_at': '2023-02-30T00:00:00Z' is not an ISO-8601 date",
	    "February 30th");
	rejects(COLL_USERS, "{\"organization_id\":\"o\",\"email\":\"a@b\",\"api_keys\":[{\"key_id\":\"k1\"},"
	    "{\"key_id\":\"k2\",\"created_at\":\"soon\"}]}", GB_EINVAL,
	    "field 'api_keys[1].created_at': 'soon' is not an ISO-8601 date", "date inside an array");
	rejects(COLL_USERS, "{\"organization_id\":\"o\",\"email\":\"a@b\",\"api_keys\":[{\"key_id\":\"k1\","
	    "\"permissions\":[\"read\",\"root\"]}]}", GB_EINVAL,
	    "field 'api_keys[0].permissions[1]': 'root' is not one of read, write", "unknown permission");
	rejects(COLL_PIPELINES, "{\"organization_id\":\"o\",\"components\":[{\"order\":1}]}", GB_EINVAL,
	    "field 'components[0].component_id': is required", "pipeline step without component");
	rejects(COLL_TEMPLATES, "{\"organization_id\":\"o\"}", GB_EINVAL, "field 'name': is required",
	    "template without name");
	rejects(COLL_ORGANIZATIONS, "{\"name\":\"x\",\"settings\":{\"allowed_models\":\"gpt-4\"}}", GB_EINVAL,
	    "field 'settings.allowed_models': expected an array of strings, got string", "allowed_models as string");
	rejects(COLL_COMPONENTS, "{\"organization_id\":\"o\",\"type\":\"ai_generator\",\"is_active\":\"yes\"}",
	    GB_EINVAL, "field 'is_active': expected a boolean, got string", "is_active as string");
	rejects(COLL_BATCHES, "{\"organization_id\":\"o\",\"context_count\":\"3\"}", GB_EINVAL,
	    "field 'context_count': expected an integer, got string", "context_count as string");

	/* the shape of the input */
	rejects(COLL_CONTEXTS, "{\"organization_id\":\"o\",", GB_EINVAL, "invalid JSON at byte", "truncated JSON");
	rejects(COLL_CONTEXTS, "[{\"organization_id\":\"o\"}]", GB_EINVAL, "expected a JSON object, got array",
	    "an array");
	rejects(COLL_CONTEXTS, "{\"organization_id\":\"o\"} x", GB_EINVAL, "unexpected text at byte 24",
	    "trailing text");
	rejects(COLL_CONTEXTS, "{\"organization_id\":\"o\xc3\x28\"}", GB_EINVAL, "not valid UTF-8",
	    "invalid UTF-8");
	rejects(COLL_CONTEXTS, "{\"organization_id\":\"o\",\"$where\":1}", GB_EINVAL,
	    "field '$where': names starting with '$' are not allowed", "a $ name");
	rejects(COLL_CONTEXTS, "{\"organization_id\":\"o\",\"x\":{\"$binary\":\"AA==\"}}", GB_EINVAL,
	    "field 'x': extended JSON type '$binary' is not supported", "$binary");
	rejects(COLL_CONTEXTS, "{\"organization_id\":\"o\",\"n\":{\"$numberLong\":\"12x\"}}", GB_EINVAL,
	    "field 'n': bad $numberLong value", "bad $numberLong");

	{
		/* one byte over 16 MiB, and exactly at it */
		size_t big = STORE_MAX_DOC + 1, pad;
		char *doc = malloc(big + 1);
		const char *head = "{\"organization_id\":\"o\",\"pad\":\"";
		struct gb_err err = { 0, "" };
		char id[STORE_ID_MAX];

		pad = big - strlen(head) - 2;
		memcpy(doc, head, strlen(head));
		memset(doc + strlen(head), 'a', pad);
		memcpy(doc + strlen(head) + pad, "\"}", 3);
		is_int(store_put(st, COLL_CONTEXTS, doc, big, STORE_INSERT, id, &err), GB_ETOOBIG,
		    "a document of 16 MiB + 1 byte is refused");
		like(err.msg, "exceeds the limit of 16777216 bytes", "and the message says the limit");
		gb_err_clear(&err);
		memcpy(doc + strlen(head) + pad - 1, "\"}", 3);
		is_int(store_put(st, COLL_CONTEXTS, doc, big - 1, STORE_INSERT, id, &err), 0,
		    "a document of exactly 16 MiB is stored");
		store_delete(st, COLL_CONTEXTS, id, &err);
		free(doc);
	}
}

static void
test_normalisation(void)
{
	char id[STORE_ID_MAX], msg[256], *doc;

	is_int(put(COLL_CONTEXTS, "{\"_id\":\"ctx_dates\",\"organization_id\":\"o\","
	    "\"created_at\":\"2023-06-10T16:30:00+02:00\",\"next_retry_at\":\"2023-06-10\","
	    "\"processing\":{\"started_at\":\"2023-06-10T14:30:05.123456Z\",\"completed_at\":null}}",
	    STORE_INSERT, id, msg), 0, "dates with offsets are accepted");
	doc = get(COLL_CONTEXTS, "ctx_dates");
	is_str(field_str(doc, "created_at", NULL), "2023-06-10T14:30:00.000Z", "an offset is normalised to UTC");
	is_str(field_str(doc, "updated_at", NULL), "2023-06-10T14:30:00.000Z", "updated_at defaults to created_at");
	is_str(field_str(doc, "next_retry_at", NULL), "2023-06-10T00:00:00.000Z", "a date alone is midnight UTC");
	is_str(field_str(doc, "processing", "started_at"), "2023-06-10T14:30:05.123Z",
	    "fractions are kept to the millisecond");
	is_str(field_str(doc, "processing", "completed_at"), "null", "a null date stays null");
	is_str(field_str(doc, "status", NULL), "pending", "a context without status is pending");
	free(doc);

	is_int(put(COLL_CONTEXTS, "{\"organization_id\":\"o\"}", STORE_INSERT, id, msg), 0, "no _id: generated");
	ok(strncmp(id, "ctx_", 4) == 0 && strlen(id) == 28, "generated _id '%s' has the contexts prefix", id);
	is_int(put(COLL_TEMPLATES, "{\"organization_id\":\"o\",\"name\":\"t\"}", STORE_INSERT, id, msg), 0,
	    "template without _id");
	ok(strncmp(id, "tmpl_", 5) == 0, "generated _id '%s' has the templates prefix", id);

	/* unknown fields and exact integers survive */
	is_int(put(COLL_CONTEXTS, "{\"_id\":\"ctx_exact\",\"organization_id\":\"o\",\"created_at\":\"2023-01-01T00:00:00Z\","
	    "\"future_field\":{\"deep\":[1,2.5,{\"a\":null,\"b\":[true,false]}],\"u\":\"\\u00e9\\ud83d\\ude00\"},"
	    "\"big\":9007199254740993,\"neg\":-9223372036854775808}", STORE_INSERT, id, msg), 0,
	    "a document with unknown fields and big integers");
	doc = get(COLL_CONTEXTS, "ctx_exact");
	like(doc, "\"big\":9007199254740993", "an integer beyond 2^53 keeps its exact text");
	like(doc, "\"neg\":-9223372036854775808", "the smallest int64 keeps its exact text");
	like(doc, "\"future_field\":{\"deep\":[1,2.5,{\"a\":null,\"b\":[true,false]}]",
	    "unknown nested fields survive untouched");
	free(doc);

	/* Extended JSON */
	is_int(put(COLL_CONTEXTS, "{\"_id\":{\"$oid\":\"64849f6c2f1e4a3b5c6d7e8f\"},\"organization_id\":\"o\","
	    "\"created_at\":{\"$date\":\"2023-06-10T14:30:00Z\"},"
	    "\"updated_at\":{\"$date\":{\"$numberLong\":\"1686407723000\"}},"
	    "\"retry_count\":{\"$numberInt\":\"2\"},\"n\":{\"$numberLong\":\"9223372036854775807\"},"
	    "\"d\":{\"$numberDouble\":\"0.25\"},\"metadata\":{\"priority\":{\"$numberInt\":\"5\"}}}",
	    STORE_INSERT, id, msg), 0, "Extended JSON is accepted");
	is_str(id, "64849f6c2f1e4a3b5c6d7e8f", "an $oid _id becomes its hex string");
	doc = get(COLL_CONTEXTS, id);
	is_str(field_str(doc, "created_at", NULL), "2023-06-10T14:30:00.000Z", "$date string");
	is_str(field_str(doc, "updated_at", NULL), "2023-06-10T14:35:23.000Z", "$date as $numberLong milliseconds");
	like(doc, "\"n\":9223372036854775807", "$numberLong keeps all its digits");
	like(doc, "\"retry_count\":2", "$numberInt becomes a number");
	like(doc, "\"d\":0.25", "$numberDouble becomes a number");
	like(doc, "\"priority\":5", "nested $numberInt");
	free(doc);

	/* insert, upsert, replace */
	is_int(put(COLL_CONTEXTS, "{\"_id\":\"ctx_exact\",\"organization_id\":\"o\"}", STORE_INSERT, id, msg),
	    GB_EEXIST, "insert of an existing _id is a conflict");
	like(msg, "duplicate _id 'ctx_exact'", "and says which _id");
	is_int(put(COLL_CONTEXTS, "{\"_id\":\"ctx_exact\",\"organization_id\":\"o\",\"status\":\"failed\"}",
	    STORE_UPSERT, id, msg), 0, "upsert replaces it");
	doc = get(COLL_CONTEXTS, "ctx_exact");
	is_str(field_str(doc, "status", NULL), "failed", "with the new document");
	ok(strstr(doc, "future_field") == NULL, "whole: the old fields are gone");
	free(doc);
	is_int(put(COLL_CONTEXTS, "{\"_id\":\"ctx_nope\",\"organization_id\":\"o\"}", STORE_REPLACE, id, msg),
	    GB_ENOTFOUND, "replace of a missing _id is not found");
	is_int(put(COLL_CONTEXTS, "{\"_id\":\"ctx_exact\",\"organization_id\":\"o\",\"status\":\"pending\"}",
	    STORE_REPLACE, id, msg), 0, "replace of an existing _id");
}

static void
test_hot_state(void)
{
	struct gb_err err = { 0, "" };
	char msg[256], *doc;

	is_int(put(COLL_CONTEXTS, "{\"_id\":\"ctx_hot\",\"organization_id\":\"o\",\"keep\":\"me\","
	    "\"created_at\":\"2023-06-10T14:30:00Z\"}", STORE_INSERT, NULL, msg), 0, "a pending context");
	is_int(store_ctx_set_status(st, "ctx_hot", CTX_PROCESSING, 1686407405000LL, -1, &err), 0,
	    "status update to processing");
	doc = get(COLL_CONTEXTS, "ctx_hot");
	is_str(field_str(doc, "status", NULL), "processing", "the document shows processing");
	is_str(field_str(doc, "updated_at", NULL), "2023-06-10T14:30:05.000Z", "updated_at is set");
	is_str(field_str(doc, "processing", "started_at"), "2023-06-10T14:30:05.000Z", "processing.started_at is set");
	is_str(field_str(doc, "keep", NULL), "me", "other fields stay");
	free(doc);
	is_int(store_ctx_set_status(st, "ctx_hot", CTX_COMPLETED, 1686407417500LL, 12500, &err), 0,
	    "status update to completed");
	doc = get(COLL_CONTEXTS, "ctx_hot");
	is_str(field_str(doc, "status", NULL), "completed", "the document shows completed");
	is_str(field_str(doc, "processing", "completed_at"), "2023-06-10T14:30:17.500Z", "processing.completed_at");
	like(doc, "\"duration_ms\":12500", "processing.duration_ms");
	is_str(field_str(doc, "processing", "started_at"), "2023-06-10T14:30:05.000Z", "started_at kept");
	free(doc);
	is_int(store_ctx_set_status(st, "ctx_missing", CTX_COMPLETED, 0, 1, &err), GB_ENOTFOUND,
	    "status update of a missing context");
}

/*
 * Numbers no integer (or no double) holds, where the mirror turns a number
 * into an integer: refused with the field named, and UBSan-clean
 * (SANITIZE=address,undefined builds abort on a cast out of range).
 */
static void
test_hostile_numbers(void)
{
	static const struct {
		enum coll c;
		const char *doc, *field;
	} bad[] = {
		{ COLL_BATCHES, "{\"organization_id\":\"o\",\"usage\":{\"prompt_tokens\":1e19}}", "usage.prompt_tokens" },
		{ COLL_BATCHES, "{\"organization_id\":\"o\",\"usage\":{\"completion_tokens\":-1e300}}",
			"usage.completion_tokens" },
		{ COLL_BATCHES, "{\"organization_id\":\"o\",\"usage\":{\"cost\":1e999}}", "usage.cost" },
		{ COLL_BATCHES, "{\"organization_id\":\"o\",\"usage\":{\"total_tokens\":-1e999}}", "usage.total_tokens" },
		{ COLL_BATCHES, "{\"organization_id\":\"o\",\"cancelled_count\":1e19}", "cancelled_count" },
		{ COLL_BATCHES, "{\"organization_id\":\"o\",\"total_duration_ms\":1e999}", "total_duration_ms" },
		{ COLL_CONTEXTS, "{\"organization_id\":\"o\",\"retry_count\":1e19}", "retry_count" },
		{ COLL_CONTEXTS, "{\"organization_id\":\"o\",\"metadata\":{\"priority\":-1e300}}", "metadata.priority" },
		{ COLL_CONTEXTS, "{\"organization_id\":\"o\",\"data\":{\"n\":[1,1e999]}}", "data.n[1]" },
		{ COLL_CONTEXTS, "{\"organization_id\":\"o\",\"created_at\":{\"$date\":1e19}}", "created_at" },
		{ COLL_CONTEXTS, "{\"organization_id\":\"o\",\"created_at\":{\"$date\":-1e300}}", "created_at" },
		{ COLL_CONTEXTS, "{\"organization_id\":\"o\",\"created_at\":{\"$date\":1e999}}", "created_at" },
	};
	int64_t before = count(COLL_CONTEXTS), bbefore = count(COLL_BATCHES);
	char msg[256], want[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		is_int(put(bad[i].c, bad[i].doc, STORE_INSERT, NULL, msg), GB_EINVAL, "refused: %s", bad[i].doc);
		snprintf(want, sizeof(want), "field '%s'", bad[i].field);
		like(msg, want, "the message names %s: %s", bad[i].field, msg);
	}
	is_int(count(COLL_CONTEXTS), before, "no context was written");
	is_int(count(COLL_BATCHES), bbefore, "no batch was written");
	/* large but finite where no integer is made of it: kept as it is */
	{
		char id[STORE_ID_MAX], *doc;

		is_int(put(COLL_CONTEXTS, "{\"organization_id\":\"o\",\"data\":{\"big\":-1e300,\"x\":1e19}}",
		    STORE_INSERT, id, msg), 0, "a finite large number in data is stored");
		doc = get(COLL_CONTEXTS, id);
		like(doc, "-1e300", "with its text");
		free(doc);
		is_int(put(COLL_BATCHES, "{\"organization_id\":\"o\",\"usage\":{\"prompt_tokens\":12,"
		    "\"completion_tokens\":30,\"cost\":0.25}}", STORE_INSERT, id, msg), 0, "plain usage is stored");
		doc = get(COLL_BATCHES, id);
		like(doc, "\"prompt_tokens\":12", "and read back");
		free(doc);
	}
}

static int
collect_id(void *arg, const char *doc, size_t len)
{
	char *out = arg;
	cJSON *t = cJSON_ParseWithLength(doc, len);
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(t, "_id");
	size_t at = strlen(out);

	snprintf(out + at, 256 - at, "%s%s", at ? " " : "", cJSON_IsString(id) ? id->valuestring : "?");
	cJSON_Delete(t);
	return 0;
}

/* The _ids of the contexts store_each finds with filter, space-separated; "error: ..." on error. */
static const char *
matching(struct store *fs, const char *filter)
{
	static char out[256];
	struct gb_err err = { 0, "" };

	out[0] = '\0';
	if (store_each(fs, COLL_CONTEXTS, filter, 0, collect_id, out, &err))
		snprintf(out, sizeof(out), "error: %s", err.msg);
	return out;
}

/* The filter operators ($ne $nin $exists $lt ...) and dates, with MongoDB's meaning for missing fields. */
static void
test_filters(void)
{
	static const char *const docs[] = {
		"{\"_id\":\"ctx_f1\",\"organization_id\":\"org_f\",\"status\":\"pending\",\"type\":\"article\","
		"\"metadata\":{\"priority\":1},\"created_at\":\"2023-06-10T14:30:00Z\",\"data\":{\"tag\":\"x\"}}",
		"{\"_id\":\"ctx_f2\",\"organization_id\":\"org_f\",\"status\":\"completed\",\"type\":\"summary\","
		"\"metadata\":{\"priority\":5},\"created_at\":\"2023-06-11T00:00:00.000Z\",\"data\":{}}",
		"{\"_id\":\"ctx_f3\",\"organization_id\":\"org_f\",\"status\":\"failed\",\"type\":\"article\","
		"\"metadata\":{\"priority\":3},\"created_at\":\"2023-06-09T23:59:59.999Z\",\"data\":{\"tag\":null}}",
		"{\"_id\":\"ctx_f4\",\"organization_id\":\"org_f\",\"status\":\"pending\",\"type\":\"article\","
		"\"created_at\":\"2023-06-10T14:30:00.001Z\",\"data\":{\"tag\":\"y\"}}",
	};
	static const struct {
		const char *filter, *want, *what;
	} cases[] = {
		{ "{\"status\":{\"$ne\":\"pending\"}}", "ctx_f2 ctx_f3", "$ne" },
		{ "{\"metadata.priority\":{\"$ne\":5}}", "ctx_f1 ctx_f3 ctx_f4", "$ne matches a missing field" },
		{ "{\"type\":{\"$nin\":[\"summary\",\"report\"]}}", "ctx_f1 ctx_f3 ctx_f4", "$nin" },
		{ "{\"data.tag\":{\"$nin\":[\"x\"]}}", "ctx_f2 ctx_f3 ctx_f4", "$nin matches a null or missing field" },
		{ "{\"data.tag\":{\"$nin\":[\"x\",null]}}", "ctx_f4", "$nin with null excludes null and missing" },
		{ "{\"data.tag\":{\"$in\":[\"y\",null]}}", "ctx_f2 ctx_f3 ctx_f4", "$in with null matches null and missing" },
		{ "{\"data.tag\":{\"$in\":[]}}", "", "$in of nothing matches nothing" },
		{ "{\"data.tag\":{\"$exists\":true}}", "ctx_f1 ctx_f3 ctx_f4", "$exists true (a null value exists)" },
		{ "{\"data.tag\":{\"$exists\":false}}", "ctx_f2", "$exists false" },
		{ "{\"metadata.priority\":{\"$lt\":3}}", "ctx_f1", "$lt (a missing field is not less)" },
		{ "{\"metadata.priority\":{\"$gt\":1,\"$lte\":5}}", "ctx_f2 ctx_f3", "two operators on one field" },
		{ "{\"created_at\":\"2023-06-10T14:30:00Z\"}", "ctx_f1", "a date equals its canonical form" },
		{ "{\"created_at\":{\"$gte\":\"2023-06-10T14:30:00Z\"}}", "ctx_f1 ctx_f2 ctx_f4", "$gte on a date" },
		{ "{\"created_at\":{\"$lt\":\"2023-06-10T16:30:00+02:00\"}}", "ctx_f3", "$lt on a date in another zone" },
		{ "{\"created_at\":{\"$gt\":\"2023-06-10 14:30:00\",\"$lt\":\"2023-06-11\"}}", "ctx_f4",
			"a range of dates written without zone or time" },
		{ "{\"status\":\"pending\",\"created_at\":{\"$ne\":\"2023-06-10T14:30:00.000Z\"}}", "ctx_f4",
			"$ne on a date, with another field" },
	};
	struct gb_err err = { 0, "" };
	struct store *fs;

	if (store_open(&fs, ":memory:", NULL, &err))
		tap_bail("open: %s", err.msg);
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
		if (store_put(fs, COLL_CONTEXTS, docs[i], strlen(docs[i]), STORE_INSERT, NULL, &err))
			tap_bail("put: %s", err.msg);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		is_str(matching(fs, cases[i].filter), cases[i].want, "filter %s: %s", cases[i].what, cases[i].filter);
	like(matching(fs, "{\"status\":{\"$regex\":\"p\"}}"), "operator '$regex' is not supported",
	    "an unknown operator is refused by name");
	like(matching(fs, "{\"status\":{\"$nin\":\"pending\"}}"), "$nin takes an array", "$nin needs an array");
	like(matching(fs, "{\"data.tag\":{\"$exists\":1}}"), "$exists takes true or false", "$exists needs a boolean");
	store_close(fs);
}

/*
 * What the parsed tree would hide: a name twice (after its escapes are
 * read), \u0000 (cJSON cuts a string there) and a date an offset carries out
 * of the years 0001-9999. Each refused, naming the field; nothing written.
 */
/* Nesting past the limit: refused, and the message still ends with what is wrong. */
static void
test_deep(void)
{
	char doc[1024], *p = doc;
	int d = 150;

	p += sprintf(p, "{\"organization_id\":\"o\",\"data\":{\"deep\":");
	for (int i = 0; i < d; i++)
		*p++ = '[';
	for (int i = 0; i < d; i++)
		*p++ = ']';
	strcpy(p, "}}");
	rejects(COLL_CONTEXTS, doc, GB_EINVAL, "[0][0]': nested deeper than 100 levels",
	    "nesting 150 deep: the path shown cut in the middle, the reason whole");
}

static void
test_hostile_text(void)
{
	static const struct {
		const char *doc, *message;
	} bad[] = {
		{ "{\"_id\":\"d1\",\"organization_id\":\"o\",\"created_at\":\"0001-01-01T00:00:00+01:00\"}",
		  "field 'created_at': '0001-01-01T00:00:00+01:00' falls outside the years 0001-9999 in UTC" },
		{ "{\"_id\":\"d2\",\"organization_id\":\"o\",\"updated_at\":\"9999-12-31T23:59:59-01:00\"}",
		  "field 'updated_at': '9999-12-31T23:59:59-01:00' falls outside the years 0001-9999" },
		{ "{\"_id\":\"d3\",\"organization_id\":\"o\","
		  "\"created_at\":{\"$date\":\"9999-12-31T23:30:00-00:45\"}}",
		  "field 'created_at': '9999-12-31T23:30:00-00:45' falls outside the years 0001-9999" },
		{ "{\"_id\":\"k1\",\"organization_id\":\"o\",\"data\":{\"\\u00e9\":1,\"\xc3\xa9\":2}}",
		  "field 'data.\xc3\xa9' appears twice" },
		{ "{\"_id\":\"k2\",\"organization_id\":\"o\",\"cre\\u0061ted_at\":\"2023-01-01T00:00:00Z\","
		  "\"created_at\":\"2023-01-01T00:00:00Z\"}", "field 'created_at' appears twice" },
		{ "{\"_id\":\"k3\",\"organization_id\":\"o\","
		  "\"created_at\":\"2023-01-01T00:00:00Z\",\"created_at\":7}",
		  "field 'created_at' appears twice" },
		{ "{\"_id\":\"k4\",\"organization_id\":\"o\",\"data\":{\"l\":[{\"a\":1},{\"b\":1,\"c\":2,\"b\":3}]}}",
		  "field 'data.l[1].b' appears twice" },
		{ "{\"_id\":\"k5\",\"organization_id\":\"o\",\"_id\":\"k6\"}", "field '_id' appears twice" },
		{ "{\"_id\":\"z\\u0000w\",\"organization_id\":\"o\"}",
		  "field '_id': holds a NUL character (\\u0000)" },
		{ "{\"_id\":\"n1\",\"organization_id\":\"o\",\"data\":{\"t\":[\"a\",\"b\\u0000c\"]}}",
		  "field 'data.t[1]': holds a NUL character" },
		{ "{\"_id\":\"n2\",\"organization_id\":\"o\",\"data\":{\"k\\u0000\":1}}",
		  "field 'data.k\\u0000': holds a NUL character" },
	};
	int64_t before = count(COLL_CONTEXTS);
	char msg[256], id[STORE_ID_MAX], *doc = NULL;
	struct gb_err err = { 0, "" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		is_int(put(COLL_CONTEXTS, bad[i].doc, STORE_INSERT, NULL, msg), GB_EINVAL, "refused: %s",
		    bad[i].doc);
		like(msg, bad[i].message, "saying: %s", bad[i].message);
	}
	is_int(count(COLL_CONTEXTS), before, "none of them was written");
	is_int(put(COLL_CONTEXTS, "{\"_id\":\"z\",\"organization_id\":\"o\"}", STORE_INSERT, NULL, msg), 0,
	    "the _id before the NUL is free");
	/* a backslash before u0000 is text; the edges of the range in UTC are dates */
	is_int(put(COLL_CONTEXTS, "{\"_id\":\"n3\",\"organization_id\":\"o\",\"data\":{\"t\":\"\\\\u0000\"},"
	    "\"created_at\":\"0001-01-01T00:59:00-00:59\",\"updated_at\":\"9999-12-31T23:59:59+00:00\"}",
	    STORE_INSERT, id, msg), 0, "an escaped backslash before u0000 and the range's edges are kept");
	is_int(store_get(st, COLL_CONTEXTS, "n3", &doc, &err), 0, "and read back");
	like(doc ? doc : "", "\"t\":\"\\\\u0000\"", "the text as written");
	like(doc ? doc : "", "\"created_at\":\"0001-01-01T01:58:00.000Z\"", "created_at normalised in range");
	like(doc ? doc : "", "\"updated_at\":\"9999-12-31T23:59:59.000Z\"", "updated_at at the last second");
	free(doc);
}

int
main(void)
{
	struct gb_err err = { 0, "" };

	if (store_open(&st, ":memory:", NULL, &err))
		tap_bail("store_open: %s", err.msg);
	test_validation();
	test_normalisation();
	test_hot_state();
	test_hostile_numbers();
	test_hostile_text();
	test_deep();
	store_close(st);
	test_filters();
	return tap_done();
}
