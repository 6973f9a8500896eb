/*
 * archrestore.c - archived documents back into the database: every
 * manifest of the target, oldest first; each object of a day in range read
 * back, its size and SHA-256 checked against the manifest, its line count
 * too, then its documents upserted by _id in one transaction (all of the
 * object or none of it). A local document whose updated_at is newer than
 * the archived one's stays as it is ("kept"): a restore never undoes a
 * change made here; one equal to the archived one, byte for byte, is kept
 * too (restoring twice writes nothing again). With the same updated_at but
 * other bytes the archived one is written: of a document archived twice
 * (changed between its archive and its delete) the later manifest's wins.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "../storage/docs.h"
#include "archive_int.h"

struct restore_obj {
	struct store *st;
	enum coll c;
	int64_t lines, kept;
	int put_failed;			/* the error is store_put's (or store_get's) */
	struct gb_err *err;
};

static const char *
updated_at(const cJSON *doc)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "updated_at"));

	return s ? s : "";
}

/*
 * 1 when the local document of line's _id is newer than line or the same
 * document, else 0; <0 error.
 */
static int
local_newer(struct restore_obj *ro, const char *line, size_t len)
{
	cJSON *arch = cJSON_ParseWithLength(line, len), *local = NULL;
	const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(arch, "_id"));
	char *doc = NULL;
	int rc;

	if (id == NULL) {
		cJSON_Delete(arch);
		return 0;	/* store_put says what is wrong with it */
	}
	rc = store_get(ro->st, ro->c, id, &doc, ro->err);
	if (rc == GB_ENOTFOUND) {
		gb_err_clear(ro->err);
		rc = 0;
	} else if (rc == 0) {
		local = cJSON_Parse(doc);
		rc = strcmp(updated_at(local), updated_at(arch));
		rc = rc > 0 || (rc == 0 && strlen(doc) == len && memcmp(doc, line, len) == 0);
	}
	cJSON_Delete(local);
	cJSON_Delete(arch);
	free(doc);
	return rc;
}

static int
restore_line(void *arg, const char *line, size_t len)
{
	struct restore_obj *ro = arg;
	int rc;

	ro->lines++;
	if ((rc = local_newer(ro, line, len)) > 0) {
		ro->kept++;
		return 0;
	}
	if (rc == 0)
		rc = store_put(ro->st, ro->c, line, len, STORE_UPSERT, NULL, ro->err);
	ro->put_failed = rc != 0;
	return rc;
}

static int
restore_object(struct store *st, struct target *t, const struct arch_entry *e,
    const char *tmp_dir, struct restore_counts *out, struct gb_err *err)
{
	struct restore_obj ro = { st, archive_coll(e->ci), 0, 0, 0, err };
	int rc, fd;

	if ((fd = arch_object_open(t, e, tmp_dir, err)) < 0)
		return err->code;
	if ((rc = store_begin(st, err))) {
		close(fd);
		return rc;
	}
	if ((rc = arch_object_lines(t, fd, e, restore_line, &ro, err)) && ro.put_failed) {
		char msg[sizeof(err->msg)];

		snprintf(msg, sizeof(msg), "%s", err->msg);
		gb_err_clear(err);
		rc = gb_errf(err, rc, "%s/%s: line %lld: %s", target_label(t), e->name,
		    (long long)ro.lines, msg);
	} else if (rc == 0 && ro.lines != e->count) {
		rc = gb_errf(err, GB_EIO, "%s/%s: %lld documents, the manifest says %lld",
		    target_label(t), e->name, (long long)ro.lines, (long long)e->count);
	}
	if (rc == 0 && (rc = store_commit(st, err)) == 0) {
		out->docs[e->ci] += ro.lines - ro.kept;
		out->kept[e->ci] += ro.kept;
		out->objects++;
		out->bytes += e->bytes;
	}
	if (rc)
		store_rollback(st);
	return rc;
}

static int
restore_wanted(const struct arch_index *idx, int i, const struct restore_opts *o)
{
	const struct arch_entry *e = &idx->v[i];

	if (o->after && strcmp(e->day, o->after) <= 0)
		return 0;
	if (o->before && strcmp(e->day, o->before) >= 0)
		return 0;
	for (int j = 0; j < i; j++)		/* named by an earlier manifest too */
		if (strcmp(idx->v[j].name, e->name) == 0)
			return 0;
	return 1;
}

int
archive_restore(struct store *st, struct target *t, const struct restore_opts *o,
    struct restore_counts *out, struct gb_err *err)
{
	struct arch_index idx;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = arch_index_load(t, &idx, err)))
		return rc;
	out->manifests = idx.manifests;
	if (idx.manifests == 0) {
		arch_index_free(&idx);
		return gb_errf(err, GB_ENOTFOUND, "%s: no archive here (no manifests/*.json)",
		    target_label(t));
	}
	for (int i = 0; i < idx.n && rc == 0; i++)
		if (restore_wanted(&idx, i, o))
			rc = restore_object(st, t, &idx.v[i], o->tmp_dir, out, err);
	arch_index_free(&idx);
	return rc;
}
