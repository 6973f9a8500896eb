/*
 * t401-sync-roundtrip - every example document of the schema, and variants
 * (unknown fields, unicode, nested arrays, a ~1 MB body, dates before 1970,
 * integers beyond 2^53), from a box's SQLite to the MongoDB peer and from
 * there into a fresh SQLite: the same documents (json_same), big integers
 * to the digit; and in MongoDB itself, dates are BSON Dates and big
 * integers int64. Contexts and batches go through the pusher; the catalog
 * (which the box never pushes) is written to MongoDB by the test.
 * GENBOX_MONGO_PEER picks the peer.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../appliance/demo.h"
#include "../storage/outbox.h"
#include "synctest.h"

#define APPLIANCE "box-t401"
#define MAX_DOCS 64

static struct {
	enum coll c;
	char id[STORE_ID_MAX];
} docs[MAX_DOCS];
static int ndocs;

static void
remember(enum coll c, const char *id)
{
	if (ndocs == MAX_DOCS)
		tap_bail("too many documents");
	docs[ndocs].c = c;
	snprintf(docs[ndocs++].id, STORE_ID_MAX, "%s", id);
}

/* The schema's examples; contexts and batches meant for this appliance. */
static void
load_demo(struct store *st)
{
	struct gb_err err = { 0, "" };

	for (const struct demo_doc *d = demo_docs; d->collection; d++) {
		int c = coll_from_name(d->collection);
		cJSON *j = cJSON_Parse(d->json);
		char id[STORE_ID_MAX], *text;

		if (c < 0 || j == NULL)
			tap_bail("demo file %s", d->name);
		if (c == COLL_CONTEXTS || c == COLL_BATCHES)
			cJSON_AddStringToObject(json_member_object(j, "metadata"), "appliance_id",
			    APPLIANCE);
		text = cJSON_PrintUnformatted(j);
		if (store_put(st, (enum coll)c, text, strlen(text), STORE_UPSERT, id, &err))
			tap_bail("demo %s: %s", d->name, err.msg);
		remember((enum coll)c, id);
		free(text);
		cJSON_Delete(j);
	}
}

static void
load_variants(struct store *st)
{
	static const char meta[] = "\"metadata\":{\"appliance_id\":\"" APPLIANCE "\"}";
	char *big = malloc(1024 * 1024 + 1);

	st_put(st, COLL_CONTEXTS, "{\"_id\":\"ctx_unknown\",\"organization_id\":\"org_123\","
	    "\"status\":\"pending\",\"x_custom\":{\"a\":[1,{\"b\":null},true],\"c\":\"d\"},"
	    "\"data\":{\"z_field\":[],\"y\":{}},%s,\"zz_last\":false}", meta);
	remember(COLL_CONTEXTS, "ctx_unknown");
	st_put(st, COLL_CONTEXTS, "{\"_id\":\"ctx_unicode\",\"organization_id\":\"org_123\","
	    "\"status\":\"pending\",\"data\":{\"title\":\"Ünïcödé ✓ 日本 😀\",\"ключ\":"
	    "\"quote \\\" backslash \\\\ tab \\t nl \\n ctl \\u0001 \\ud83d\\ude00\"},%s}",
	    meta);
	remember(COLL_CONTEXTS, "ctx_unicode");
	st_put(st, COLL_CONTEXTS, "{\"_id\":\"ctx_nested\",\"organization_id\":\"org_123\","
	    "\"status\":\"failed\",\"data\":{\"m\":[[1,2,[3,[4,[5,[]]]]],[],[[]],"
	    "[{\"k\":[[\"x\"]]}]]},%s}", meta);
	remember(COLL_CONTEXTS, "ctx_nested");
	st_put(st, COLL_CONTEXTS, "{\"_id\":\"ctx_old\",\"organization_id\":\"org_123\","
	    "\"status\":\"completed\",\"created_at\":\"1955-11-05T06:15:00.123Z\","
	    "\"updated_at\":\"1969-12-31T23:59:59.999Z\",\"processing\":{\"started_at\":"
	    "\"1901-01-01T00:00:00.000Z\",\"completed_at\":\"0001-01-01T00:00:00.000Z\"},"
	    "%s}", meta);
	remember(COLL_CONTEXTS, "ctx_old");
	st_put(st, COLL_CONTEXTS, "{\"_id\":\"ctx_bigint\",\"organization_id\":\"org_123\","
	    "\"status\":\"pending\",\"data\":{\"n1\":9007199254740993,\"n2\":9223372036854775807,"
	    "\"n3\":-9223372036854775808,\"n4\":2147483648,\"small\":7,\"f\":0.1,\"e\":1e-7,"
	    "\"g\":1.5e300,\"one\":1.0,\"arr\":[9007199254740993,-1,2.5]},%s}", meta);
	remember(COLL_CONTEXTS, "ctx_bigint");
	memset(big, 'x', 1024 * 1024);
	for (int i = 0; i < 1024 * 1024; i += 97)
		big[i] = (char)('a' + i % 26);
	big[1024 * 1024] = '\0';
	st_put(st, COLL_CONTEXTS, "{\"_id\":\"ctx_large\",\"organization_id\":\"org_123\","
	    "\"status\":\"pending\",\"data\":{\"body\":\"%s\"},%s}", big, meta);
	remember(COLL_CONTEXTS, "ctx_large");
	free(big);
	st_put(st, COLL_BATCHES, "{\"_id\":\"batch_var\",\"organization_id\":\"org_123\","
	    "\"created_at\":\"1960-02-29T12:00:00.000Z\",\"status\":\"pending\","
	    "\"x\":{\"big\":9223372036854775807,\"s\":\"\xc3\xa9\"},%s}", meta);
	remember(COLL_BATCHES, "batch_var");
	st_put(st, COLL_TEMPLATES, "{\"_id\":\"tmpl_var\",\"organization_id\":\"org_123\","
	    "\"name\":\"日本\",\"extra\":{\"n\":[[1],[2,[3]]],"
	    "\"big\":9007199254740993}}");
	remember(COLL_TEMPLATES, "tmpl_var");
}

static int
to_mongo(void *arg, const char *doc, size_t len)
{
	struct { mongoc_client_t *cl; const char *coll; } *a = arg;
	char *text = strndup(doc, len);

	mt_insert_json(a->cl, a->coll, text);
	free(text);
	return 0;
}

/* The catalog is never pushed: the cluster's copy comes from the test. */
static void
catalog_to_mongo(struct store *st, mongoc_client_t *cl)
{
	static const enum coll cat[] = { COLL_ORGANIZATIONS, COLL_USERS, COLL_TEMPLATES,
	    COLL_COMPONENTS, COLL_PIPELINES };
	struct gb_err err = { 0, "" };

	for (size_t i = 0; i < sizeof(cat) / sizeof(cat[0]); i++) {
		struct { mongoc_client_t *cl; const char *coll; } a = { cl, coll_name(cat[i]) };

		if (store_each(st, cat[i], NULL, 1, to_mongo, &a, &err))
			tap_bail("export %s: %s", coll_name(cat[i]), err.msg);
	}
}

static void
check_types(mongoc_client_t *cl)
{
	bson_t *d = mt_get(cl, "contexts", "ctx_bigint");
	bson_iter_t it;

	ok(d != NULL, "ctx_bigint is in MongoDB");
	is_int(mt_type(d, "data.n1", &it), BSON_TYPE_INT64, "2^53+1 is an int64");
	is_int(bson_iter_as_int64(&it), 9007199254740993LL, "... exactly 9007199254740993");
	is_int(mt_type(d, "data.n2", &it), BSON_TYPE_INT64, "int64 max is an int64");
	is_int(bson_iter_as_int64(&it), INT64_MAX, "... exactly 9223372036854775807");
	is_int(mt_type(d, "data.n3", &it), BSON_TYPE_INT64, "int64 min is an int64");
	is_int(bson_iter_as_int64(&it), INT64_MIN, "... exactly");
	is_int(mt_type(d, "data.n4", &it), BSON_TYPE_INT64, "2^31 is an int64");
	is_int(mt_type(d, "data.small", &it), BSON_TYPE_INT32, "a small integer is an int32");
	is_int(mt_type(d, "data.f", &it), BSON_TYPE_DOUBLE, "0.1 is a double");
	is_int(mt_type(d, "data.one", &it), BSON_TYPE_DOUBLE, "1.0 is a double");
	is_int(mt_type(d, "data.arr.0", &it), BSON_TYPE_INT64, "a big integer in an array too");
	is_int(mt_type(d, "created_at", &it), BSON_TYPE_DATE_TIME, "created_at is a BSON Date");
	bson_destroy(d);
	d = mt_get(cl, "contexts", "ctx_old");
	is_int(mt_type(d, "created_at", &it), BSON_TYPE_DATE_TIME, "1955 is a BSON Date");
	is_int(bson_iter_date_time(&it), -446751899877LL, "... at the right millisecond");
	is_int(mt_type(d, "processing.completed_at", &it), BSON_TYPE_DATE_TIME,
	    "year 1 is a BSON Date");
	is_int(bson_iter_date_time(&it), -62135596800000LL, "... at the right millisecond");
	bson_destroy(d);
	d = mt_get(cl, "batches", "batch_var");
	is_int(mt_type(d, "created_at", &it), BSON_TYPE_DATE_TIME, "a batch's date too");
	is_int(mt_type(d, "x.big", &it), BSON_TYPE_INT64, "a batch's int64 too");
	bson_destroy(d);
	d = mt_get(cl, "contexts", "ctx_large");
	is_int(mt_type(d, "data.body", &it), BSON_TYPE_UTF8, "the 1 MB body is in MongoDB");
	is_int(bson_iter_utf8(&it, NULL) ? (int64_t)strlen(bson_iter_utf8(&it, NULL)) : 0,
	    1024 * 1024, "... whole");
	bson_destroy(d);
}

static void
compare(struct store *a, struct store *b)
{
	int same = 0;

	for (int i = 0; i < ndocs; i++) {
		cJSON *ja = st_get(a, docs[i].c, docs[i].id);
		cJSON *jb = st_get(b, docs[i].c, docs[i].id);
		int eq = ja && jb && json_same(ja, jb);

		if (!eq) {
			char *ta = ja ? cJSON_PrintUnformatted(ja) : NULL;
			char *tb = jb ? cJSON_PrintUnformatted(jb) : NULL;

			tap_diag("%s %s differs:\n  sent %.600s\n  back %.600s",
			    coll_name(docs[i].c), docs[i].id, ta ? ta : "(none)",
			    tb ? tb : "(none)");
			free(ta);
			free(tb);
		}
		same += eq;
		cJSON_Delete(ja);
		cJSON_Delete(jb);
	}
	is_int(same, ndocs, "every document is the same after SQLite -> MongoDB -> SQLite");
}

static void
check_exact(struct store *b)
{
	struct gb_err err = { 0, "" };
	char *text = NULL;

	if (store_get(b, COLL_CONTEXTS, "ctx_bigint", &text, &err))
		tap_bail("ctx_bigint: %s", err.msg);
	like(text, "\"n1\":9007199254740993", "2^53+1 comes back to the digit");
	like(text, "\"n2\":9223372036854775807", "int64 max comes back to the digit");
	like(text, "\"n3\":-9223372036854775808", "int64 min comes back to the digit");
	like(text, "[9007199254740993,-1,2.5]", "the array's integers too");
	like(text, "\"f\":0.1", "0.1 stays 0.1");
	free(text);
	text = NULL;
	if (store_get(b, COLL_CONTEXTS, "ctx_old", &text, &err))
		tap_bail("ctx_old: %s", err.msg);
	like(text, "\"created_at\":\"1955-11-05T06:15:00.123Z\"", "a date of 1955 comes back");
	like(text, "\"completed_at\":\"0001-01-01T00:00:00.000Z\"", "year 1 comes back");
	free(text);
}

int
main(void)
{
	struct gb_err err = { 0, "" };
	enum peer_mongo kind = peer_mongo_kind_from_env();
	const char *uri = peer_mongo_start(kind, NULL, NULL);
	char pa[4096], pb[4096];
	struct store *a = st_box("a", pa, sizeof(pa)), *b;
	struct sync_config cfg;
	mongoc_client_t *cl = mt_client(uri);
	struct sync *s;
	int64_t pushed = 0, pulled = 0, want = 0;

	tap_diag("MongoDB peer: %s", peer_mongo_name(kind));
	load_demo(a);
	load_variants(a);
	for (int i = 0; i < ndocs; i++)
		want += docs[i].c == COLL_CONTEXTS || docs[i].c == COLL_BATCHES;
	st_cfg(&cfg, pa, uri, APPLIANCE);
	if (sync_new(&s, &cfg, &err))
		tap_bail("sync_new: %s", err.msg);
	is_int(sync_push_all(s, &pushed, &err), 0, "push (%s)", err.msg);
	is_int(pushed, want, "every context and batch was pushed");
	is_int(st_depth(a), 0, "the outbox is empty");
	is_str(sync_state(s), "ok", "state ok");
	sync_free(s);
	check_types(cl);
	catalog_to_mongo(a, cl);

	b = st_box("b", pb, sizeof(pb));
	st_cfg(&cfg, pb, uri, APPLIANCE);
	if (sync_new(&s, &cfg, &err))
		tap_bail("sync_new: %s", err.msg);
	is_int(sync_pull_all(s, &pulled, &err), 0, "pull into a fresh box (%s)", err.msg);
	is_int(pulled, ndocs, "every document was pulled");
	compare(a, b);
	check_exact(b);
	is_int(sync_pull_all(s, &pulled, &err), 0, "pull again");
	is_int(pulled, 0, "... pulls nothing new");
	is_int(st_depth(b), 0, "what a pull wrote is not queued to push back");
	sync_free(s);
	store_close(a);
	store_close(b);
	mongoc_client_destroy(cl);
	return tap_done();
}
