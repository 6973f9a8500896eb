/*
 * pullfetch.c - the reading half of a pull: one cursor for the round, read
 * ahead by a thread of its own while the caller applies.
 *
 * The reader opens one find after the checkpoint (D, ID): {organization_id
 * in orgs (contexts and batches: meant for this appliance)} and updated_at
 * > D, or updated_at = D and _id > ID; sorted by (updated_at, _id), with
 * batchSize page_size, so the server sorts once and each later page is one
 * getMore. The find's limit of PULL_CURSOR_PAGES pages bounds what a server
 * without an index on (updated_at, _id) sorts at once; past it, a new find
 * starts after the last page read. Each page is read and converted to the
 * store's JSON under mongo_mu (libmongoc's pooled clients race otherwise,
 * see internal.h), then handed over through a slot of one page: the
 * reader reads the next page while the caller applies the one in the slot,
 * so at most two pages are in memory. A document that cannot be converted
 * is logged and skipped; it still counts as read.
 *
 * Threads: the reader uses only c's MongoDB client and the read-only
 * configuration; the caller keeps the store and Redis. f->mu guards the
 * slot, done, stop, rc and err; the reader's position is its own.
 */
#include <stdlib.h>
#include <string.h>

#include "../base/gbtime.h"
#include "../base/log.h"
#include "internal.h"

#define DATE_MIN_MS (-62135596800000LL)	/* 0001-01-01 */
#define PULL_CURSOR_PAGES 100

struct pull_fetch {
	struct sync_ctx *c;
	enum coll coll;
	pthread_t thread;
	/* the reader's own: where the next find starts */
	int64_t pos_ms;
	char pos_id[STORE_ID_MAX];
	int pos_set;			/* 0: from the start */

	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct pull_page *slot;		/* read, until the caller releases it */
	int done;			/* the reader has ended */
	int stop;			/* the caller wants no more pages */
	int rc;				/* the reader's error, err its message */
	struct gb_err err;
};

static void
page_free(struct pull_page *pg)
{
	if (pg == NULL)
		return;
	for (int i = 0; i < pg->n; i++)
		free(pg->docs[i].json);
	free(pg->docs);
	free(pg);
}

static void
append_orgs(const struct sync *s, bson_t *filter, const char *field)
{
	bson_t in, arr;
	char key[16];

	bson_append_document_begin(filter, field, -1, &in);
	bson_append_array_begin(&in, "$in", 3, &arr);
	for (int i = 0; i < s->cfg.n_orgs; i++) {
		snprintf(key, sizeof(key), "%d", i);
		bson_append_utf8(&arr, key, -1, s->cfg.orgs[i], -1);
	}
	bson_append_array_end(&in, &arr);
	bson_append_document_end(filter, &in);
}

/* The pull filter after the reader's position. */
static void
fetch_filter(const struct pull_fetch *f, bson_t *filter)
{
	const struct sync *s = f->c->s;
	bson_t or, a, b, gt, id;
	int64_t d = f->pos_set ? f->pos_ms : DATE_MIN_MS;

	bson_init(filter);
	if (f->coll == COLL_ORGANIZATIONS) {
		append_orgs(s, filter, "_id");
	} else {
		append_orgs(s, filter, "organization_id");
		if (f->coll == COLL_CONTEXTS || f->coll == COLL_BATCHES)
			BSON_APPEND_UTF8(filter, "metadata.appliance_id", s->cfg.appliance_id);
	}
	bson_append_array_begin(filter, "$or", 3, &or);
	bson_append_document_begin(&or, "0", 1, &a);
	bson_append_document_begin(&a, "updated_at", -1, &gt);
	if (f->pos_set)
		BSON_APPEND_DATE_TIME(&gt, "$gt", d);
	else
		BSON_APPEND_DATE_TIME(&gt, "$gte", d);
	bson_append_document_end(&a, &gt);
	bson_append_document_end(&or, &a);
	bson_append_document_begin(&or, "1", 1, &b);
	BSON_APPEND_DATE_TIME(&b, "updated_at", d);
	bson_append_document_begin(&b, "_id", 3, &id);
	BSON_APPEND_UTF8(&id, "$gt", f->pos_set ? f->pos_id : "");
	bson_append_document_end(&b, &id);
	bson_append_document_end(&or, &b);
	bson_append_array_end(filter, &or);
}

/* Keep one document of the page: its JSON and where the checkpoint moves. */
static int
page_add(struct pull_page *pg, enum coll coll, const bson_t *doc, struct gb_err *err)
{
	struct pull_doc *pd = &pg->docs[pg->n];
	bson_iter_t it;
	struct gb_err cerr = { 0, "" };
	char q[160], qe[300];
	int rc;

	if (bson_iter_init_find(&it, doc, "updated_at") && BSON_ITER_HOLDS_DATE_TIME(&it))
		pg->last_ms = bson_iter_date_time(&it);
	if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_UTF8(&it))
		snprintf(pg->last_id, sizeof(pg->last_id), "%s", bson_iter_utf8(&it, NULL));
	memset(pd, 0, sizeof(*pd));
	snprintf(pd->id, sizeof(pd->id), "%s", pg->last_id);
	if (coll == COLL_COMPONENTS && bson_iter_init_find(&it, doc, "organization_id") &&
	    BSON_ITER_HOLDS_UTF8(&it))
		snprintf(pd->org, sizeof(pd->org), "%s", bson_iter_utf8(&it, NULL));
	/* templates go to the Redis cache as pulled too: Extended JSON dates there */
	if (coll == COLL_TEMPLATES)
		rc = bsonconv_to_json(doc, &pd->json, &pd->len, &cerr);
	else
		rc = bsonconv_to_store(doc, &pd->json, &pd->len, &cerr);
	if (rc) {
		if (cerr.code == GB_ENOMEM)
			return gb_errf(err, GB_ENOMEM, "out of memory");
		log_warnx("event=pull_skipped coll=%s id=%s error=%s", coll_name(coll),
		    log_quoted(q, sizeof(q), pg->last_id), log_quoted(qe, sizeof(qe), cerr.msg));
		pg->skipped++;
		return 0;
	}
	pg->n++;
	return 0;
}

/* The next page of cur (seen 0 at its end), read under the MongoDB lock. */
static int
page_read(struct pull_fetch *f, mongoc_cursor_t *cur, struct pull_page **out,
    struct gb_err *err)
{
	int size = f->c->s->cfg.page_size, rc = 0;
	struct pull_page *pg = calloc(1, sizeof(*pg));
	const bson_t *doc;
	bson_error_t e;

	*out = NULL;
	if (pg == NULL || (pg->docs = calloc((size_t)size, sizeof(*pg->docs))) == NULL) {
		free(pg);
		return gb_errf(err, GB_ENOMEM, "out of memory");
	}
	mongo_lock(f->c->s);
	while (rc == 0 && pg->seen < size && mongoc_cursor_next(cur, &doc)) {
		pg->seen++;
		rc = page_add(pg, f->coll, doc, err);
	}
	if (rc == 0 && mongoc_cursor_error(cur, &e))
		rc = mongo_fail(f->c->s, &e, "pull", err);
	mongo_unlock(f->c->s);
	if (rc) {
		page_free(pg);
		return rc;
	}
	*out = pg;
	return 0;
}

/* Hand pg over once the slot is free; 0 when the caller stopped (pg freed). */
static int
fetch_put(struct pull_fetch *f, struct pull_page *pg)
{
	int ok;

	pthread_mutex_lock(&f->mu);
	while (f->slot && !f->stop)
		pthread_cond_wait(&f->cv, &f->mu);
	if ((ok = !f->stop))
		f->slot = pg;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
	if (!ok)
		page_free(pg);
	return ok;
}

static int
fetch_stopped(struct pull_fetch *f)
{
	int stop;

	pthread_mutex_lock(&f->mu);
	stop = f->stop;
	pthread_mutex_unlock(&f->mu);
	return stop;
}

static mongoc_cursor_t *
fetch_open(struct pull_fetch *f, int64_t limit, mongoc_collection_t **mc)
{
	bson_t filter, opts = BSON_INITIALIZER, sort;
	mongoc_cursor_t *cur;

	fetch_filter(f, &filter);
	bson_append_document_begin(&opts, "sort", 4, &sort);
	BSON_APPEND_INT32(&sort, "updated_at", 1);
	BSON_APPEND_INT32(&sort, "_id", 1);
	bson_append_document_end(&opts, &sort);
	BSON_APPEND_INT64(&opts, "limit", limit);
	BSON_APPEND_INT64(&opts, "batchSize", f->c->s->cfg.page_size);
	*mc = mongo_coll(f->c, f->coll);
	cur = mongoc_collection_find_with_opts(*mc, &filter, &opts, NULL);
	bson_destroy(&filter);
	bson_destroy(&opts);
	return cur;
}

/* One find from the position, page by page; *more: it ended at its limit. */
static int
fetch_cursor(struct pull_fetch *f, int *more, struct gb_err *err)
{
	int size = f->c->s->cfg.page_size, rc = 0, seen;
	int64_t limit = (int64_t)size * PULL_CURSOR_PAGES, got = 0;
	mongoc_collection_t *mc;
	mongoc_cursor_t *cur;
	struct pull_page *pg;

	*more = 0;
	mongo_lock(f->c->s);
	cur = fetch_open(f, limit, &mc);
	mongo_unlock(f->c->s);
	while (!fetch_stopped(f)) {
		if ((rc = page_read(f, cur, &pg, err)))
			break;
		got += (seen = pg->seen);
		if (seen == 0) {
			page_free(pg);
			*more = got == limit;
			break;
		}
		f->pos_ms = pg->last_ms;
		snprintf(f->pos_id, sizeof(f->pos_id), "%s", pg->last_id);
		f->pos_set = 1;
		if (!fetch_put(f, pg) || seen < size)
			break;
	}
	mongo_lock(f->c->s);
	mongoc_cursor_destroy(cur);	/* killCursors when it is still open */
	mongoc_collection_destroy(mc);
	mongo_unlock(f->c->s);
	return rc;
}

static void *
fetch_main(void *arg)
{
	struct pull_fetch *f = arg;
	struct gb_err err = { 0, "" };
	int more = 1, rc = 0;

	while (rc == 0 && more)
		rc = fetch_cursor(f, &more, &err);
	pthread_mutex_lock(&f->mu);
	f->done = 1;
	f->rc = rc;
	f->err = err;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

int
pull_fetch_start(struct sync_ctx *c, enum coll coll, const struct pull_checkpoint *from,
    struct pull_fetch **out, struct gb_err *err)
{
	struct pull_fetch *f = calloc(1, sizeof(*f));
	int rc;

	*out = NULL;
	if (f == NULL)
		return gb_errf(err, GB_ENOMEM, "out of memory");
	f->c = c;
	f->coll = coll;
	f->pos_ms = DATE_MIN_MS;
	if (from->updated_at[0]) {
		f->pos_set = 1;
		gb_time_parse(from->updated_at, strlen(from->updated_at), &f->pos_ms);
		snprintf(f->pos_id, sizeof(f->pos_id), "%s", from->id);
	}
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	if ((rc = pthread_create(&f->thread, NULL, fetch_main, f))) {
		pthread_cond_destroy(&f->cv);
		pthread_mutex_destroy(&f->mu);
		free(f);
		return gb_errf(err, GB_ENOMEM, "cannot start the pull's reader: %s",
		    strerror(rc));
	}
	*out = f;
	return 0;
}

int
pull_fetch_next(struct pull_fetch *f, struct pull_page **pg, struct gb_err *err)
{
	int rc = 0;

	pthread_mutex_lock(&f->mu);
	while (f->slot == NULL && !f->done)
		pthread_cond_wait(&f->cv, &f->mu);
	*pg = f->slot;
	if (*pg == NULL && f->rc)
		rc = gb_errf(err, f->rc, "%s", f->err.msg);
	pthread_mutex_unlock(&f->mu);
	return rc;
}

void
pull_fetch_release(struct pull_fetch *f, struct pull_page *pg)
{
	pthread_mutex_lock(&f->mu);
	if (f->slot == pg)
		f->slot = NULL;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
	page_free(pg);
}

void
pull_fetch_free(struct pull_fetch *f)
{
	if (f == NULL)
		return;
	pthread_mutex_lock(&f->mu);
	f->stop = 1;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
	pthread_join(f->thread, NULL);
	page_free(f->slot);
	pthread_cond_destroy(&f->cv);
	pthread_mutex_destroy(&f->mu);
	free(f);
}
