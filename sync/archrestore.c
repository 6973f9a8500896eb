/*
 * archrestore.c - archived documents back into the database: every
 * manifest of the target, oldest first; each object of a day in range read
 * back, its size and SHA-256 checked against the manifest, its line count
 * too, then its documents upserted by _id in one transaction (all of the
 * object or none of it). Restoring twice writes the same documents again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../storage/docs.h"
#include "archive_int.h"

struct restore_obj {
	struct store *st;
	enum coll c;
	int64_t lines;
	struct gb_err *err;
};

static int
restore_line(void *arg, const char *line, size_t len)
{
	struct restore_obj *ro = arg;

	ro->lines++;
	return store_put(ro->st, ro->c, line, len, STORE_UPSERT, NULL, ro->err);
}

static int
restore_object(struct store *st, struct target *t, const struct arch_entry *e,
    struct buf *raw, struct restore_counts *out, struct gb_err *err)
{
	struct restore_obj ro = { st, archive_coll(e->ci), 0, err };
	int rc;

	if ((rc = arch_fetch(t, e, raw, err)) || (rc = store_begin(st, err)))
		return rc;
	if ((rc = arch_lines(buf_str(raw), raw->len, restore_line, &ro))) {
		char msg[sizeof(err->msg)];

		snprintf(msg, sizeof(msg), "%s", err->msg);
		gb_err_clear(err);
		rc = gb_errf(err, rc, "%s/%s: line %lld: %s", target_name(t), e->name,
		    (long long)ro.lines, msg);
	} else if (ro.lines != e->count) {
		rc = gb_errf(err, GB_EIO, "%s/%s: %lld documents, the manifest says %lld",
		    target_name(t), e->name, (long long)ro.lines, (long long)e->count);
	}
	if (rc == 0 && (rc = store_commit(st, err)) == 0) {
		out->docs[e->ci] += ro.lines;
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
	struct buf raw;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = arch_index_load(t, &idx, err)))
		return rc;
	out->manifests = idx.manifests;
	if (idx.manifests == 0) {
		arch_index_free(&idx);
		return gb_errf(err, GB_ENOTFOUND, "%s: no archive here (no manifests/*.json)",
		    target_name(t));
	}
	buf_init(&raw, (size_t)ARCHIVE_MAX_RAW);
	for (int i = 0; i < idx.n && rc == 0; i++)
		if (restore_wanted(&idx, i, o))
			rc = restore_object(st, t, &idx.v[i], &raw, out, err);
	buf_release(&raw);
	arch_index_free(&idx);
	return rc;
}
