/*
 * archivetest.h - what the archive tests share: databases of contexts past
 * retention, their documents read back and compared.
 */
#ifndef GB_TEST_ARCHIVETEST_H
#define GB_TEST_ARCHIVETEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "../storage/docs.h"
#include "../storage/store.h"
#include "tap.h"
#include "util.h"

#define PAD 600			/* bytes of text in each context */

static struct gb_err err;

static inline char *
tpath(const char *name)
{
	static char out[8][4096];
	static int k;

	k = (k + 1) % 8;
	snprintf(out[k], sizeof(out[k]), "%s/%s", util_tmpdir(), name);
	return out[k];
}

static inline struct store *
open_db(const char *path)
{
	struct store_opts o = { 1, 1, 0, 0, 0, 0 };
	struct store *st;

	if (store_open(&st, path, &o, &err))
		tap_bail("open %s: %s", path, err.msg);
	return st;
}

static inline void
put(struct store *st, enum coll c, const char *doc)
{
	if (store_put(st, c, doc, strlen(doc), STORE_INSERT, NULL, &err))
		tap_bail("put %s: %s", doc, err.msg);
}

/* n completed contexts over days days of January 2024, prefix p; a few others. */
static inline void
fill(const char *path, const char *p, int n, int days)
{
	struct store *st = open_db(path);
	char doc[2048], pad[PAD + 1];

	memset(pad, 'x', PAD);
	pad[PAD] = '\0';
	if (store_begin(st, &err))
		tap_bail("begin: %s", err.msg);
	for (int i = 0; i < n; i++) {
		snprintf(doc, sizeof(doc), "{\"_id\":\"ctx_%s%05d\",\"organization_id\":\"org_1\","
		    "\"status\":\"%s\",\"created_at\":\"2024-01-%02dT%02d:00:00.000Z\","
		    "\"updated_at\":\"2024-02-01T00:00:00.000Z\",\"data\":{\"title\":\"t%d\","
		    "\"big\":12345678901234567890,\"pad\":\"%s\"}}", p, i,
		    i % 3 == 0 ? "completed" : i % 3 == 1 ? "failed" : "cancelled",
		    1 + i % days, i % 24, i, pad);
		put(st, COLL_CONTEXTS, doc);
	}
	snprintf(doc, sizeof(doc), "{\"_id\":\"ctx_%spending\",\"organization_id\":\"org_1\","
	    "\"status\":\"pending\",\"created_at\":\"2024-01-01T00:00:00.000Z\",\"data\":"
	    "{\"title\":\"p\"}}", p);
	put(st, COLL_CONTEXTS, doc);
	snprintf(doc, sizeof(doc), "{\"_id\":\"ctx_%srecent\",\"organization_id\":\"org_1\","
	    "\"status\":\"completed\",\"data\":{\"title\":\"r\"}}", p);
	put(st, COLL_CONTEXTS, doc);
	snprintf(doc, sizeof(doc), "{\"_id\":\"batch_%sold\",\"organization_id\":\"org_1\","
	    "\"status\":\"completed\",\"created_at\":\"2024-01-02T00:00:00.000Z\"}", p);
	put(st, COLL_BATCHES, doc);
	snprintf(doc, sizeof(doc), "{\"_id\":\"batch_%srun\",\"organization_id\":\"org_1\","
	    "\"status\":\"processing\",\"created_at\":\"2024-01-02T00:00:00.000Z\"}", p);
	put(st, COLL_BATCHES, doc);
	snprintf(doc, sizeof(doc), "{\"_id\":\"tmpl_%sold\",\"name\":\"old\",\"organization_id\":"
	    "\"org_1\",\"content\":\"x\",\"created_at\":\"2023-01-01T00:00:00.000Z\"}", p);
	put(st, COLL_TEMPLATES, doc);
	if (store_commit(st, &err))
		tap_bail("commit: %s", err.msg);
	store_close(st);
}

struct docs {
	char **v;
	size_t n, cap;
};

static inline int
docs_add(void *arg, const char *doc, size_t len)
{
	struct docs *d = arg;

	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 1024;
		d->v = realloc(d->v, d->cap * sizeof(*d->v));
	}
	d->v[d->n++] = strndup(doc, len);
	return 0;
}

static inline void
docs_free(struct docs *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i]);
	free(d->v);
	memset(d, 0, sizeof(*d));
}

/* Every document of c in path, in _id order. */
static inline struct docs
dump(const char *path, enum coll c)
{
	struct docs d = { NULL, 0, 0 };
	struct store *st = open_db(path);

	if (store_each(st, c, NULL, 0, docs_add, &d, &err))
		tap_bail("dump: %s", err.msg);
	store_close(st);
	return d;
}

static inline int64_t
count(const char *path, enum coll c)
{
	struct store *st = open_db(path);
	int64_t n = -1;

	store_count(st, c, &n, &err);
	store_close(st);
	return n;
}

/* Every document of got equal, byte for byte, to the one of want with its _id. */
static inline int
same_docs(const struct docs *got, const struct docs *want)
{
	size_t j = 0, bad = 0;

	for (size_t i = 0; i < got->n; i++) {
		cJSON *g = cJSON_Parse(got->v[i]);
		const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(g, "_id"));
		int found = 0;

		for (; j < want->n && !found; j++) {
			cJSON *w = cJSON_Parse(want->v[j]);

			found = id && strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(w, "_id")),
			    id) == 0;
			if (found && strcmp(got->v[i], want->v[j]) != 0) {
				tap_diag("%s differs:\n  %s\n  %s", id, got->v[i], want->v[j]);
				bad++;
			}
			cJSON_Delete(w);
		}
		bad += !found;
		cJSON_Delete(g);
	}
	return bad == 0;
}

static inline int
has(const char *path, enum coll c, const char *id)
{
	struct store *st = open_db(path);
	char *doc = NULL;
	int rc = store_get(st, c, id, &doc, &err);

	free(doc);
	store_close(st);
	return rc == 0;
}

/* The SHA-256 of the file at path as hex, its size into *size (-1: unreadable). */
static inline void
sha_file(const char *path, char hex[65], long long *size)
{
	size_t len = 0;
	char *data = util_read_file(path, &len);
	unsigned char md[32];
	unsigned int n = 32;

	EVP_Digest(data ? data : "", len, md, &n, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	*size = data ? (long long)len : -1;
	free(data);
}

/* `genbox init` of the database at path; bails when it fails. */
static inline void
init_db(const char *path)
{
	struct run r;

	util_genbox_run(&r, NULL, "--db", path, "init", (char *)NULL);
	if (r.status != 0)
		tap_bail("init %s: %s", path, r.err);
	run_free(&r);
}

#endif
