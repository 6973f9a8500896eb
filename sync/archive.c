/*
 * archive.c - an archive run (see archive.h): per collection and UTC day,
 * the candidates of storage/retention.h go into one gzip JSON lines object
 * (a page of ARCHIVE_PAGE_ROWS at most; a bigger day takes several), each
 * put and read back; then the run's manifest; then the deletes.
 *
 * A rerun must not archive twice what an earlier run archived but did not
 * delete (killed during its deletes): before a day's candidates are read,
 * the objects that earlier manifests name for that day are read back and
 * each of their lines hashed; a candidate whose _id and document hash are
 * among them is only deleted. Only days that still have candidates are
 * read back, so a run reads little besides the manifests.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/rand.h>

#include "../storage/retention.h"
#include "archive_int.h"

#define ARCHIVE_PAGE_ROWS 50000		/* documents per object at most */

/* Rows with owned _ids (retention_row.id is strdup'd). */
struct arch_rows {
	struct retention_row *v;
	size_t n, cap;
};

struct arch_run {
	struct store *st;
	struct target *t;
	const struct archive_opts *o;
	struct archive_counts *out;
	struct gb_err *err;
	struct arch_index idx;		/* earlier manifests */
	struct arch_index put;		/* objects this run put */
	struct arch_rows held[ARCHIVE_NCOLL];	/* in earlier objects: deleted whatever happens */
	struct arch_rows done[ARCHIVE_NCOLL];	/* put this run: deleted after the manifest */
	/* the day being read */
	int ci;
	const char *day;
	struct arch_rows known;		/* (_id, hash) of the day's earlier objects, sorted */
	struct arch_rows page;		/* rows of the object being written */
	struct arch_gz gz;
	int gz_open;
	char run_id[ARCHIVE_RUN_ID_LEN];	/* random, hex: in every name this run puts */
};

enum coll
archive_coll(int i)
{
	return i == 0 ? COLL_CONTEXTS : COLL_BATCHES;
}

void
archive_cutoff(int64_t now_ms, int days, char out[ARCHIVE_TIME_LEN])
{
	time_t t = (time_t)(now_ms / 1000) - (time_t)days * 86400;
	struct tm tm;

	t -= t % 86400;
	gmtime_r(&t, &tm);
	strftime(out, ARCHIVE_TIME_LEN, "%Y-%m-%dT00:00:00.000Z", &tm);
}

int
archive_day_cutoff(const char *day, char out[ARCHIVE_TIME_LEN], struct gb_err *err)
{
	struct tm tm;
	char *end;

	char back[16];
	time_t t;

	memset(&tm, 0, sizeof(tm));
	/* strict: what the formatter writes back for that day ("2024-02-30", "2024-01- 5": no) */
	if (strlen(day) != 10 || (end = strptime(day, "%Y-%m-%d", &tm)) == NULL || *end ||
	    (t = timegm(&tm)) == (time_t)-1 || gmtime_r(&t, &tm) == NULL ||
	    strftime(back, sizeof(back), "%Y-%m-%d", &tm) != 10 || strcmp(back, day) != 0)
		return gb_errf(err, GB_EINVAL, "'%s' is not a date (YYYY-MM-DD)", day);
	snprintf(out, ARCHIVE_TIME_LEN, "%sT00:00:00.000Z", day);
	return 0;
}

/* A random run id: 16 hex digits (64 bits) from the system's generator. */
static int
arch_run_id(char out[ARCHIVE_RUN_ID_LEN], struct gb_err *err)
{
	unsigned char b[8];

	if (RAND_bytes(b, (int)sizeof(b)) != 1)
		return gb_errf(err, GB_EIO, "no random run id (RAND_bytes failed)");
	for (size_t i = 0; i < sizeof(b); i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
	return 0;
}

/* ---- rows ---- */

static int
rows_add(struct arch_rows *r, const char *id, const unsigned char md[32], struct gb_err *err)
{
	struct retention_row *nv;

	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 256;

		if ((nv = realloc(r->v, cap * sizeof(*nv))) == NULL)
			return gb_errf(err, GB_ENOMEM, "out of memory");
		r->v = nv;
		r->cap = cap;
	}
	if ((r->v[r->n].id = strdup(id)) == NULL)
		return gb_errf(err, GB_ENOMEM, "out of memory");
	memcpy(r->v[r->n++].sha256, md, 32);
	return 0;
}

/* Move every row of from to the end of to; from is empty afterwards. */
static int
rows_move(struct arch_rows *to, struct arch_rows *from, struct gb_err *err)
{
	int rc = 0;

	for (size_t i = 0; i < from->n && rc == 0; i++)
		rc = rows_add(to, from->v[i].id, from->v[i].sha256, err);
	for (size_t i = 0; i < from->n; i++)
		free((char *)(uintptr_t)from->v[i].id);
	from->n = 0;
	return rc;
}

static void
rows_free(struct arch_rows *r)
{
	for (size_t i = 0; i < r->n; i++)
		free((char *)(uintptr_t)r->v[i].id);
	free(r->v);
	memset(r, 0, sizeof(*r));
}

static int
rows_cmp(const void *a, const void *b)
{
	const struct retention_row *x = a, *y = b;
	int c = strcmp(x->id, y->id);

	return c ? c : memcmp(x->sha256, y->sha256, 32);
}

/* ---- what earlier runs archived of the day ---- */

static int
known_line(void *arg, const char *line, size_t len)
{
	struct arch_run *r = arg;
	unsigned char md[32];
	cJSON *doc = cJSON_ParseWithLength(line, len);
	const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "_id"));
	int rc = 0;

	if (id != NULL) {
		store_sha256(line, len, md);
		rc = rows_add(&r->known, id, md, r->err);
	}
	cJSON_Delete(doc);
	return rc;
}

static int
known_load(struct arch_run *r)
{
	int rc = 0;

	for (int i = 0; i < r->idx.n && rc == 0; i++) {
		const struct arch_entry *e = &r->idx.v[i];

		if (e->ci != r->ci || strcmp(e->day, r->day) != 0)
			continue;
		if ((rc = arch_each_line(r->t, e, r->o->tmp_dir, known_line, r, r->err)) ==
		    GB_ENOTFOUND) {
			gb_err_clear(r->err);	/* gone from the target: holds nothing */
			rc = 0;
		}
	}
	if (r->known.n > 1)
		qsort(r->known.v, r->known.n, sizeof(r->known.v[0]), rows_cmp);
	return rc;
}

/* ---- objects ---- */

/*
 * The object's name: <coll>/<day>-<run id>.jsonl.gz, then -2, -3, ... for
 * more objects of the day in this run. The run id is random: no other run,
 * of this box or another sharing the target, picks the same name.
 */
static int
object_name(struct arch_run *r, char *name, size_t size)
{
	const char *coll = coll_name(archive_coll(r->ci));
	int n = 1;

	for (int i = 0; i < r->put.n; i++)
		if (r->put.v[i].ci == r->ci && strcmp(r->put.v[i].day, r->day) == 0)
			n++;
	if (n == 1)
		snprintf(name, size, "%s/%s-%s.jsonl.gz", coll, r->day, r->run_id);
	else
		snprintf(name, size, "%s/%s-%s-%d.jsonl.gz", coll, r->day, r->run_id, n);
	return 0;
}

/* The page into an object: put, read back, then its rows wait for the manifest. */
static int
object_flush(struct arch_run *r)
{
	struct arch_entry e;
	unsigned char md[32];
	int rc;

	if (r->page.n == 0)
		return 0;
	memset(&e, 0, sizeof(e));
	if ((rc = arch_gz_finish(&r->gz, r->err)))
		goto out;
	e.ci = r->ci;
	memcpy(e.day, r->day, sizeof(e.day));
	e.count = (int64_t)r->page.n;
	e.bytes = (int64_t)r->gz.out.len;
	store_sha256(buf_str(&r->gz.out), r->gz.out.len, md);
	arch_hex(md, e.sha256);
	if (!r->o->dry_run &&
	    ((rc = object_name(r, e.name, sizeof(e.name))) ||
	    (rc = target_put(r->t, e.name, buf_str(&r->gz.out), r->gz.out.len, r->err))))
		goto out;
	r->out->archived[r->ci] += e.count;
	r->out->objects++;
	r->out->bytes += e.bytes;
	if (!r->o->dry_run) {
		struct arch_index *p = &r->put;

		if (p->n == p->cap) {
			int cap = p->cap ? p->cap * 2 : 16;
			struct arch_entry *nv = realloc(p->v, (size_t)cap * sizeof(*nv));

			if (nv == NULL) {
				rc = gb_errf(r->err, GB_ENOMEM, "out of memory");
				goto out;
			}
			p->v = nv;
			p->cap = cap;
		}
		p->v[p->n++] = e;
		rc = rows_move(&r->done[r->ci], &r->page, r->err);
	}
out:
	arch_gz_close(&r->gz);
	r->gz_open = 0;
	for (size_t i = 0; i < r->page.n; i++)
		free((char *)(uintptr_t)r->page.v[i].id);
	r->page.n = 0;
	return rc;
}

static int
day_row(void *arg, const char *id, const char *doc, size_t len)
{
	struct arch_run *r = arg;
	struct retention_row key;
	int rc;

	store_sha256(doc, len, key.sha256);
	key.id = id;
	if (r->known.n && bsearch(&key, r->known.v, r->known.n, sizeof(key), rows_cmp)) {
		r->out->already[r->ci]++;
		return rows_add(&r->held[r->ci], id, key.sha256, r->err);
	}
	if (!r->gz_open) {
		if ((rc = arch_gz_open(&r->gz, r->err)))
			return rc;
		r->gz_open = 1;
	}
	if ((rc = arch_gz_write(&r->gz, doc, len, r->err)) ||
	    (rc = arch_gz_write(&r->gz, "\n", 1, r->err)) ||
	    (rc = rows_add(&r->page, id, key.sha256, r->err)))
		return rc;
	return r->page.n >= ARCHIVE_PAGE_ROWS ? object_flush(r) : 0;
}

static int
archive_day(struct arch_run *r, int ci, const char *day)
{
	const char *cutoff = r->o->cutoff[ci];
	int rc;

	r->ci = ci;
	r->day = day;
	if ((rc = known_load(r)) == 0 &&
	    (rc = store_retention_each(r->st, archive_coll(ci), day, cutoff, day_row, r,
	    r->err)) == 0)
		rc = object_flush(r);
	if (r->gz_open) {
		arch_gz_close(&r->gz);
		r->gz_open = 0;
	}
	rows_free(&r->page);
	rows_free(&r->known);
	return rc;
}

static int
archive_coll_days(struct arch_run *r, int ci)
{
	char (*days)[RETENTION_DAY_LEN] = NULL;
	int n = 0, rc;

	if (r->o->cutoff[ci][0] == '\0')
		return 0;
	if ((rc = store_retention_days(r->st, archive_coll(ci), r->o->cutoff[ci], &days, &n,
	    r->err)))
		return rc;
	for (int i = 0; i < n && rc == 0; i++) {
		if (r->o->stopping && r->o->stopping(r->o->arg)) {
			rc = gb_errf(r->err, GB_ESTATE, "stopped before day %s of %s", days[i],
			    coll_name(archive_coll(ci)));
			break;
		}
		rc = archive_day(r, ci, days[i]);
	}
	free(days);
	return rc;
}

/* ---- the manifest, the deletes ---- */

static cJSON *
manifest_json(struct arch_run *r)
{
	cJSON *root = cJSON_CreateObject(), *objs = cJSON_AddArrayToObject(root, "objects");
	char at[ARCHIVE_TIME_LEN];
	time_t t = (time_t)(r->o->now_ms / 1000);
	struct tm tm;

	for (int i = 0; i < r->put.n && objs; i++) {
		const struct arch_entry *e = &r->put.v[i];
		cJSON *o = cJSON_CreateObject();

		cJSON_AddItemToArray(objs, o);
		cJSON_AddStringToObject(o, "name", e->name);
		cJSON_AddStringToObject(o, "collection", coll_name(archive_coll(e->ci)));
		cJSON_AddStringToObject(o, "day", e->day);
		cJSON_AddNumberToObject(o, "count", (double)e->count);
		cJSON_AddNumberToObject(o, "bytes", (double)e->bytes);
		cJSON_AddStringToObject(o, "sha256", e->sha256);
	}
	gmtime_r(&t, &tm);
	strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(at + strlen(at), sizeof(at) - strlen(at), ".%03dZ",
	    (int)(r->o->now_ms % 1000));
	cJSON_AddStringToObject(root, "created_at", at);
	cJSON_AddStringToObject(root, "box", r->o->box ? r->o->box : "");
	return root;
}

static int
manifest_put(struct arch_run *r)
{
	char stamp[32], name[128];
	time_t t = (time_t)(r->o->now_ms / 1000);
	cJSON *root = manifest_json(r);
	char *text = root ? cJSON_PrintUnformatted(root) : NULL;
	struct tm tm;
	int rc;

	cJSON_Delete(root);
	if (text == NULL)
		return gb_errf(r->err, GB_ENOMEM, "out of memory");
	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(name, sizeof(name), "manifests/%s-%s.json", stamp, r->run_id);
	if ((rc = target_put(r->t, name, text, strlen(text), r->err)) == 0)
		snprintf(r->out->manifest, sizeof(r->out->manifest), "%s", name);
	free(text);
	return rc;
}

static int
archive_delete(struct arch_run *r, struct arch_rows *rows, int ci, struct gb_err *err)
{
	int64_t d = 0, k = 0;
	int rc;

	if (rows->n == 0)
		return 0;
	rc = store_retention_delete(r->st, archive_coll(ci), rows->v, rows->n,
	    r->o->delete_batch, r->o->stopping, r->o->arg, &d, &k, err);
	r->out->deleted[ci] += d;
	r->out->kept[ci] += k;
	return rc;
}

/* After the reading: the manifest, then what may go goes. The first error wins. */
static int
archive_finish(struct arch_run *r, int rc)
{
	struct gb_err e2 = { 0, "" };
	int mrc = 0, drc = 0;

	if (r->o->dry_run)
		return rc;
	if (r->put.n > 0 && (mrc = manifest_put(r)) == 0 && r->o->verified)
		r->o->verified(r->o->arg);
	for (int ci = 0; ci < ARCHIVE_NCOLL && drc == 0; ci++) {
		drc = archive_delete(r, &r->held[ci], ci, rc || mrc ? &e2 : r->err);
		if (drc == 0 && r->put.n > 0 && mrc == 0)
			drc = archive_delete(r, &r->done[ci], ci, rc || mrc ? &e2 : r->err);
	}
	if (drc == 0 && (r->out->deleted[0] || r->out->deleted[1]))
		drc = store_retention_vacuum(r->st, &r->out->freed_pages,
		    rc || mrc ? &e2 : r->err);
	return rc ? rc : mrc ? mrc : drc;
}

int
archive_run(struct store *st, struct target *t, const struct archive_opts *o,
    struct archive_counts *out, struct gb_err *err)
{
	struct arch_run r;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&r, 0, sizeof(r));
	r.st = st;
	r.t = t;
	r.o = o;
	r.out = out;
	r.err = err;
	if ((rc = arch_run_id(r.run_id, err)) == 0 && (rc = arch_index_load(t, &r.idx, err)) == 0)
		for (int ci = 0; ci < ARCHIVE_NCOLL && rc == 0; ci++)
			rc = archive_coll_days(&r, ci);
	rc = archive_finish(&r, rc);
	for (int ci = 0; ci < ARCHIVE_NCOLL; ci++) {
		rows_free(&r.held[ci]);
		rows_free(&r.done[ci]);
	}
	arch_index_free(&r.idx);
	arch_index_free(&r.put);
	return rc;
}
