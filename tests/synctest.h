/*
 * synctest.h - what the sync tests (t401-t404) share: a box (a database
 * with sync enabled), a sync_config for it, and the test's own view of the
 * MongoDB peer through libmongoc (counts, documents by _id, inserts).
 * Header-only (static inline), so each test takes what it uses.
 */
#ifndef GB_SYNCTEST_H
#define GB_SYNCTEST_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bson/bson.h>
#include <cjson/cJSON.h>
#include <mongoc/mongoc.h>

#include "../base/json.h"
#include "../storage/docs.h"
#include "../storage/outbox.h"
#include "../storage/store.h"
#include "../sync/sync.h"
#include "peer.h"
#include "tap.h"
#include "util.h"

#define ST_DB "genbox"

/* A new database file in the test's directory, migrated, sync enabled. */
static inline struct store *
st_box(const char *name, char *path, size_t size)
{
	struct store_opts o = { 1, 1, 0, 10000, 0, 0 };
	struct gb_err err = { 0, "" };
	struct store *st;

	snprintf(path, size, "%s/%s.db", util_tmpdir(), name);
	if (store_open(&st, path, &o, &err) || store_sync_enable(st, NULL, &err))
		tap_bail("box %s: %s", name, err.msg);
	return st;
}

static inline void
st_cfg(struct sync_config *c, const char *db, const char *uri, const char *appliance)
{
	memset(c, 0, sizeof(*c));
	c->db_path = db;
	c->mongo_uri = uri;
	c->mongo_db = ST_DB;
	c->appliance_id = appliance;
	c->worker_id = appliance;
	c->orgs[0] = "org_123";
	c->orgs[1] = "org_456";
	c->n_orgs = 2;
	c->timeout_ms = 5000;
	c->backoff_max_ms = 2000;
}

static inline void st_put(struct store *st, enum coll c, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static inline void
st_put(struct store *st, enum coll c, const char *fmt, ...)
{
	struct gb_err err = { 0, "" };
	char *doc;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&doc, fmt, ap) < 0)
		tap_bail("out of memory");
	va_end(ap);
	if (store_put(st, c, doc, strlen(doc), STORE_UPSERT, NULL, &err))
		tap_bail("put %.200s: %s", doc, err.msg);
	free(doc);
}

static inline mongoc_client_t *
mt_client(const char *uri)
{
	static int once;
	mongoc_client_t *cl;

	if (!once++) {
		mongoc_init();
		mongoc_log_set_handler(NULL, NULL);
	}
	if ((cl = mongoc_client_new(uri)) == NULL)
		tap_bail("bad MongoDB URI %s", uri);
	return cl;
}

/* Documents of coll matching the Extended JSON filter; -1 on error. */
static inline int64_t
mt_count(mongoc_client_t *cl, const char *coll, const char *filter)
{
	mongoc_collection_t *c = mongoc_client_get_collection(cl, ST_DB, coll);
	bson_error_t e;
	bson_t *f = bson_new_from_json((const uint8_t *)filter, -1, &e);
	int64_t n = -1;

	if (f == NULL)
		tap_bail("bad filter %s: %s", filter, e.message);
	n = mongoc_collection_count_documents(c, f, NULL, NULL, NULL, &e);
	if (n < 0)
		tap_diag("count %s %s: %s", coll, filter, e.message);
	bson_destroy(f);
	mongoc_collection_destroy(c);
	return n;
}

/* The document of coll with _id id (caller destroys), NULL when absent. */
static inline bson_t *
mt_get(mongoc_client_t *cl, const char *coll, const char *id)
{
	mongoc_collection_t *c = mongoc_client_get_collection(cl, ST_DB, coll);
	bson_t f = BSON_INITIALIZER;
	mongoc_cursor_t *cur;
	const bson_t *d;
	bson_t *out = NULL;

	BSON_APPEND_UTF8(&f, "_id", id);
	cur = mongoc_collection_find_with_opts(c, &f, NULL, NULL);
	if (mongoc_cursor_next(cur, &d))
		out = bson_copy(d);
	mongoc_cursor_destroy(cur);
	bson_destroy(&f);
	mongoc_collection_destroy(c);
	return out;
}

/* The BSON type at a dotted path of doc (0 when absent), its iterator in *it. */
static inline int
mt_type(const bson_t *doc, const char *path, bson_iter_t *it)
{
	bson_iter_t root;

	if (doc == NULL || !bson_iter_init(&root, doc) ||
	    !bson_iter_find_descendant(&root, path, it))
		return 0;
	return (int)bson_iter_type(it);
}

/* Insert the Extended JSON document into coll; 0 or bails. */
static inline void
mt_insert_json(mongoc_client_t *cl, const char *coll, const char *json)
{
	mongoc_collection_t *c = mongoc_client_get_collection(cl, ST_DB, coll);
	bson_error_t e;
	bson_t *d = bson_new_from_json((const uint8_t *)json, -1, &e);

	if (d == NULL)
		tap_bail("bad document %.100s: %s", json, e.message);
	if (!mongoc_collection_insert_one(c, d, NULL, NULL, &e))
		tap_bail("insert into %s: %s", coll, e.message);
	bson_destroy(d);
	mongoc_collection_destroy(c);
}

/* Replace (upsert) a document of coll by its _id with the Extended JSON doc. */
static inline void
mt_replace_json(mongoc_client_t *cl, const char *coll, const char *id, const char *json)
{
	mongoc_collection_t *c = mongoc_client_get_collection(cl, ST_DB, coll);
	bson_t f = BSON_INITIALIZER, opts = BSON_INITIALIZER;
	bson_error_t e;
	bson_t *d = bson_new_from_json((const uint8_t *)json, -1, &e);

	if (d == NULL)
		tap_bail("bad document %.100s: %s", json, e.message);
	BSON_APPEND_UTF8(&f, "_id", id);
	BSON_APPEND_BOOL(&opts, "upsert", true);
	if (!mongoc_collection_replace_one(c, &f, d, &opts, NULL, &e))
		tap_bail("replace in %s: %s", coll, e.message);
	bson_destroy(d);
	bson_destroy(&f);
	bson_destroy(&opts);
	mongoc_collection_destroy(c);
}

/* Outbox rows left of every collection. */
static inline int64_t
st_depth(struct store *st)
{
	struct gb_err err = { 0, "" };
	int64_t depth = -1, oldest;

	if (store_outbox_depth(st, -1, &depth, &oldest, &err))
		tap_diag("outbox depth: %s", err.msg);
	return depth;
}

/* The document id of c in st, parsed (caller deletes), NULL when absent. */
static inline cJSON *
st_get(struct store *st, enum coll c, const char *id)
{
	struct gb_err err = { 0, "" };
	char *text = NULL;
	cJSON *j;

	if (store_get(st, c, id, &text, &err))
		return NULL;
	j = cJSON_Parse(text);
	free(text);
	return j;
}

#endif
