/*
 * archgz.c - the pieces of an archive: the manifests of a target read into
 * one index, and gzip streams in memory (zlib); archread.c reads an
 * object back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <zlib.h>

#include "../storage/retention.h"
#include "archive_int.h"

#define GZ_CHUNK 65536
#define ARCH_MAX_NUMBER 9007199254740992.0	/* 2^53: a count or size a double holds exactly */

void
arch_hex(const unsigned char md[32], char hex[65])
{
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* ---- manifests ---- */

static int
index_add(struct arch_index *idx, const struct arch_entry *e, struct gb_err *err)
{
	struct arch_entry *nv;

	if (idx->n == idx->cap) {
		int cap = idx->cap ? idx->cap * 2 : 64;

		if ((nv = realloc(idx->v, (size_t)cap * sizeof(*nv))) == NULL)
			return gb_errf(err, GB_ENOMEM, "out of memory");
		idx->v = nv;
		idx->cap = cap;
	}
	idx->v[idx->n++] = *e;
	return 0;
}

/* One entry of a manifest's "objects" into e; GB_EINVAL when malformed. */
static int
index_entry(const cJSON *o, struct arch_entry *e)
{
	const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "name"));
	const char *coll = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o,
	    "collection"));
	const char *day = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "day"));
	const char *sha = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "sha256"));
	const cJSON *count = cJSON_GetObjectItemCaseSensitive(o, "count");
	const cJSON *bytes = cJSON_GetObjectItemCaseSensitive(o, "bytes");

	memset(e, 0, sizeof(*e));
	if (!name || !coll || !day || !sha || !cJSON_IsNumber(count) || !cJSON_IsNumber(bytes) ||
	    strlen(name) >= sizeof(e->name) || strlen(day) != 10 || strlen(sha) != 64 ||
	    !(count->valuedouble >= 0 && count->valuedouble <= ARCH_MAX_NUMBER) ||
	    !(bytes->valuedouble >= 0 && bytes->valuedouble <= ARCH_MAX_NUMBER))
		return GB_EINVAL;
	e->ci = -1;
	for (int i = 0; i < ARCHIVE_NCOLL; i++)
		if (strcmp(coll, coll_name(archive_coll(i))) == 0)
			e->ci = i;
	if (e->ci < 0)
		return GB_EINVAL;
	memcpy(e->name, name, strlen(name) + 1);
	memcpy(e->day, day, 11);
	memcpy(e->sha256, sha, 65);
	e->count = (int64_t)count->valuedouble;
	e->bytes = (int64_t)bytes->valuedouble;
	return 0;
}

static int
index_manifest(struct target *t, const char *name, int mseq, struct arch_index *idx,
    struct gb_err *err)
{
	const cJSON *objs, *o;
	struct arch_entry e;
	cJSON *root = NULL;
	void *data = NULL;
	size_t len = 0;
	int rc;

	if ((rc = target_get(t, name, &data, &len, err)))
		return rc;
	if (len > ARCHIVE_MAX_MANIFEST)
		rc = gb_errf(err, GB_ETOOBIG, "%s/%s: a manifest of %zu bytes", target_label(t),
		    name, len);
	else if ((root = cJSON_ParseWithLength(data, len)) == NULL ||
	    !cJSON_IsArray(objs = cJSON_GetObjectItemCaseSensitive(root, "objects")))
		rc = gb_errf(err, GB_EINVAL, "%s/%s: not an archive manifest", target_label(t),
		    name);
	else
		cJSON_ArrayForEach(o, objs) {
			const char *at = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root,
			    "created_at"));

			if (index_entry(o, &e)) {
				rc = gb_errf(err, GB_EINVAL, "%s/%s: an object without name, "
				    "collection, day, count, bytes or sha256", target_label(t),
				    name);
				break;
			}
			snprintf(e.created, sizeof(e.created), "%s", at ? at : "");
			e.mseq = mseq;
			e.pos = idx->n;
			if ((rc = index_add(idx, &e, err)))
				break;
		}
	cJSON_Delete(root);
	free(data);
	return rc;
}

/* Manifests by created_at, then name; a manifest's objects in its order. */
static int
index_cmp(const void *a, const void *b)
{
	const struct arch_entry *x = a, *y = b;
	int c = strcmp(x->created, y->created);

	if (c == 0)
		c = (x->mseq > y->mseq) - (x->mseq < y->mseq);
	return c ? c : (x->pos > y->pos) - (x->pos < y->pos);
}

int
arch_index_load(struct target *t, struct arch_index *idx, struct gb_err *err)
{
	char **names = NULL;
	int n = 0, rc;

	memset(idx, 0, sizeof(*idx));
	if ((rc = target_list(t, "manifests/", &names, &n, err)))
		return rc;
	for (int i = 0; i < n && rc == 0; i++) {
		size_t l = strlen(names[i]);

		if (l < 5 || strcmp(names[i] + l - 5, ".json") != 0)
			continue;	/* a temporary file, or not ours */
		if ((rc = index_manifest(t, names[i], i, idx, err)) == 0)
			idx->manifests++;
	}
	target_names_free(names, n);
	if (rc == 0 && idx->n > 1)
		qsort(idx->v, (size_t)idx->n, sizeof(idx->v[0]), index_cmp);
	if (rc)
		arch_index_free(idx);
	return rc;
}

void
arch_index_free(struct arch_index *idx)
{
	free(idx->v);
	memset(idx, 0, sizeof(*idx));
}

/* ---- gzip ---- */

int
arch_gz_open(struct arch_gz *g, struct gb_err *err)
{
	z_stream *z;

	buf_init(&g->out, (size_t)ARCHIVE_MAX_RAW);
	if ((g->z = z = calloc(1, sizeof(*z))) == NULL)
		return gb_errf(err, GB_ENOMEM, "out of memory");
	/* 15 + 16: a gzip header and trailer */
	if (deflateInit2(z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
	    Z_DEFAULT_STRATEGY) != Z_OK) {
		free(z);
		g->z = NULL;
		return gb_errf(err, GB_ENOMEM, "cannot start a gzip stream");
	}
	return 0;
}

static int
gz_pump(struct arch_gz *g, const void *data, size_t len, int flush, struct gb_err *err)
{
	z_stream *z = g->z;
	unsigned char out[GZ_CHUNK];
	int zr;

	z->next_in = (unsigned char *)(uintptr_t)data;
	z->avail_in = (uInt)len;
	do {
		z->next_out = out;
		z->avail_out = sizeof(out);
		zr = deflate(z, flush);
		if (zr == Z_STREAM_ERROR)
			return gb_errf(err, GB_EIO, "gzip: %s", z->msg ? z->msg : "stream error");
		if (buf_append(&g->out, out, sizeof(out) - z->avail_out))
			return gb_errf(err, GB_ETOOBIG, "an archive object past %u bytes",
			    ARCHIVE_MAX_RAW);
	} while (z->avail_out == 0 || (flush == Z_FINISH && zr != Z_STREAM_END));
	return 0;
}

int
arch_gz_write(struct arch_gz *g, const void *data, size_t len, struct gb_err *err)
{
	if (len > (size_t)ARCHIVE_MAX_RAW)
		return gb_errf(err, GB_ETOOBIG, "a document of %zu bytes", len);
	return gz_pump(g, data, len, Z_NO_FLUSH, err);
}

int
arch_gz_finish(struct arch_gz *g, struct gb_err *err)
{
	return gz_pump(g, "", 0, Z_FINISH, err);
}

void
arch_gz_close(struct arch_gz *g)
{
	if (g->z) {
		deflateEnd(g->z);
		free(g->z);
		g->z = NULL;
	}
	buf_release(&g->out);
}
