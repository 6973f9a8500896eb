/*
 * pullfetch.c - the reading half of a pull: one cursor for the round, read
 * ahead by a thread of its own while the caller applies.
 *
 * The reader opens one find of {organization_id in orgs (contexts and
 * batches: meant for this appliance)} and updated_at >= D - lookback_ms,
 * D the checkpoint's updated_at: the look-back reads again what a round
 * read before (the store finds it the same) so that a document written
 * late with an older updated_at is not missed. Sorted by (updated_at, _id),
 * with batchSize page_size, so the server sorts once and each later page is
 * one getMore. The find's limit of PULL_CURSOR_PAGES pages (and one
 * document, so a find that ends short of it was the last) bounds what a
 * server without an index on (updated_at, _id) sorts at once; past it, a
 * new find starts after the last document read (D', V): updated_at > D',
 * or updated_at = D' and _id > V - in V's own BSON type, since MongoDB
 * compares values of one type only; the types that sort after V's (a
 * string's: ObjectId; a number's: string and ObjectId) are asked for by
 * $type. Rarer _id types (documents, arrays, binary) sharing one
 * updated_at with the last document of a find may be missed.
 *
 * Each document is marked beyond when it comes after the checkpoint in
 * that order (the look-back's documents are not), so the caller counts and
 * checkpoints only those. A document the box cannot take (an _id that is
 * not a string, a document that cannot be converted) is handed over
 * without its JSON and with the reason, for the rejected list.
 *
 * Each page is read and converted to the store's JSON under mongo_mu
 * (libmongoc's pooled clients race otherwise, see internal.h), then handed
 * over through a queue: the reader reads ahead while the caller applies,
 * up to PULL_AHEAD pages and PULL_AHEAD_BYTES of JSON (always one page),
 * so a page that is slow to read or to apply does not hold the other side.
 *
 * Threads: the reader uses only c's MongoDB client and the read-only
 * configuration; the caller keeps the store and Redis. f->mu guards the
 * queue, done, stop, rc and err; the reader's position is its own.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../base/gbtime.h"
#include "../base/log.h"
#include "internal.h"

#define DATE_MIN_MS (-62135596800000LL)	/* 0001-01-01 */
#define PULL_CURSOR_PAGES 100
#define PULL_LOOKBACK_MS 5000
#define PULL_AHEAD 4			/* pages read ahead of the caller */
#define PULL_AHEAD_BYTES (32 << 20)	/* ... and their JSON, past the first page */

/* Where the BSON types of an _id sort in MongoDB, as far as the pull cares. */
enum id_rank { RANK_NUMBER = 1, RANK_STRING, RANK_OID, RANK_OTHER };

struct pull_fetch {
	struct sync_ctx *c;
	enum coll coll;
	pthread_t thread;
	/* the reader's own: where the next find starts */
	int64_t start_ms;		/* the round's first find: updated_at >= this */
	int64_t pos_ms;
	bson_value_t pos_id;		/* the last document read: its _id */
	int pos_set;			/* 0: from start_ms */
	/* the round's checkpoint, to tell the look-back's documents */
	int cp_set, past_cp;
	int64_t cp_ms;
	char cp_id[STORE_ID_MAX];
	enum id_rank cp_rank;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct pull_page *q[PULL_AHEAD];	/* read, not yet taken: q[qhead], ... */
	int qhead, qn;
	size_t qbytes;			/* their JSON */
	struct pull_page *held;		/* taken, until the caller releases it */
	int done;			/* the reader has ended */
	int stop;			/* the caller wants no more pages */
	int rc;				/* the reader's error, err its message */
	struct gb_err err;
	int fail_state;			/* the state of the reader's error, -1: none */
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

/* filter (initialised here): the documents of coll the pull is about. */
static void
scope_filter(const struct sync *s, enum coll coll, bson_t *filter)
{
	bson_init(filter);
	if (coll == COLL_ORGANIZATIONS) {
		append_orgs(s, filter, "_id");
	} else {
		append_orgs(s, filter, "organization_id");
		if (coll == COLL_CONTEXTS || coll == COLL_BATCHES)
			BSON_APPEND_UTF8(filter, "metadata.appliance_id", s->cfg.appliance_id);
	}
}

static enum id_rank
rank_of(bson_type_t t)
{
	switch (t) {
	case BSON_TYPE_INT32:
	case BSON_TYPE_INT64:
	case BSON_TYPE_DOUBLE:
	case BSON_TYPE_DECIMAL128:
		return RANK_NUMBER;
	case BSON_TYPE_UTF8:
		return RANK_STRING;
	case BSON_TYPE_OID:
		return RANK_OID;
	default:
		return RANK_OTHER;
	}
}

/* One branch of the $or: {updated_at: d, _id: {op: v}} (v NULL: {$type: type}). */
static void
tie_branch(bson_t *or, const char *key, int64_t d, const char *op, const bson_value_t *v,
    const char *type)
{
	bson_t b, id;

	bson_append_document_begin(or, key, -1, &b);
	BSON_APPEND_DATE_TIME(&b, "updated_at", d);
	bson_append_document_begin(&b, "_id", 3, &id);
	if (v)
		BSON_APPEND_VALUE(&id, op, v);
	else
		BSON_APPEND_UTF8(&id, "$type", type);
	bson_append_document_end(&b, &id);
	bson_append_document_end(or, &b);
}

/* The pull filter after the reader's position. */
static void
fetch_filter(const struct pull_fetch *f, bson_t *filter)
{
	enum id_rank r = rank_of(f->pos_id.value_type);
	bson_t or, a, gt;

	scope_filter(f->c->s, f->coll, filter);
	if (!f->pos_set) {
		bson_append_document_begin(filter, "updated_at", -1, &gt);
		BSON_APPEND_DATE_TIME(&gt, "$gte", f->start_ms);
		bson_append_document_end(filter, &gt);
		return;
	}
	bson_append_array_begin(filter, "$or", 3, &or);
	bson_append_document_begin(&or, "0", 1, &a);
	bson_append_document_begin(&a, "updated_at", -1, &gt);
	BSON_APPEND_DATE_TIME(&gt, "$gt", f->pos_ms);
	bson_append_document_end(&a, &gt);
	bson_append_document_end(&or, &a);
	tie_branch(&or, "1", f->pos_ms, "$gt", &f->pos_id, NULL);
	if (r == RANK_NUMBER)
		tie_branch(&or, "2", f->pos_ms, NULL, NULL, "string");
	if (r == RANK_NUMBER || r == RANK_STRING)
		tie_branch(&or, r == RANK_NUMBER ? "3" : "2", f->pos_ms, NULL, NULL, "objectId");
	bson_append_array_end(filter, &or);
}

int
pull_count_undated(struct sync_ctx *c, enum coll coll, int64_t *n, struct gb_err *err)
{
	mongoc_collection_t *mc;
	bson_t filter, not, type, cmd = BSON_INITIALIZER, reply;
	bson_error_t e;
	bson_iter_t it;
	int rc = 0;

	*n = 0;
	scope_filter(c->s, coll, &filter);
	bson_append_document_begin(&filter, "updated_at", -1, &not);
	bson_append_document_begin(&not, "$not", 4, &type);
	BSON_APPEND_UTF8(&type, "$type", "date");
	bson_append_document_end(&not, &type);
	bson_append_document_end(&filter, &not);
	/*
	 * the count command rather than an aggregation (count_documents): one
	 * pass without copying the documents on the test peers too
	 */
	BSON_APPEND_UTF8(&cmd, "count", coll_name(coll));
	BSON_APPEND_DOCUMENT(&cmd, "query", &filter);
	if ((rc = mongo_enter(c->s, err))) {	/* sync is stopping */
		bson_destroy(&cmd);
		bson_destroy(&filter);
		return rc;
	}
	mc = mongo_coll(c, coll);
	if (!mongoc_collection_read_command_with_opts(mc, &cmd, NULL, NULL, &reply, &e))
		/* the state is the pages' to tell: an emulation may lack $type */
		rc = gb_errf(err, GB_EIO, "%s", e.message);
	else if (bson_iter_init_find(&it, &reply, "n") && BSON_ITER_HOLDS_NUMBER(&it))
		*n = bson_iter_as_int64(&it);
	mongoc_collection_destroy(mc);
	mongo_unlock(c->s);
	bson_destroy(&reply);
	bson_destroy(&cmd);
	bson_destroy(&filter);
	return rc;
}

/*
 * A document's _id as text into out, and why the box refuses it into why
 * ("" for a string): an ObjectId as {"$oid":"..."}, a number as
 * {"$numberLong"} or {"$numberDouble"}, another type as {"$type"}.
 */
static void
id_text(const bson_iter_t *it, char *out, size_t size, char *why, size_t wsize)
{
	bson_type_t t = bson_iter_type(it);
	char oid[25];

	why[0] = '\0';
	if (t == BSON_TYPE_UTF8) {
		snprintf(out, size, "%s", bson_iter_utf8(it, NULL));
		return;
	}
	if (t == BSON_TYPE_OID) {
		bson_oid_to_string(bson_iter_oid(it), oid);
		snprintf(out, size, "{\"$oid\":\"%s\"}", oid);
		snprintf(why, wsize, "_id is an ObjectId; genbox stores string _ids only");
	} else if (t == BSON_TYPE_INT32 || t == BSON_TYPE_INT64) {
		snprintf(out, size, "{\"$numberLong\":\"%" PRId64 "\"}", bson_iter_as_int64(it));
		snprintf(why, wsize, "_id is a number; genbox stores string _ids only");
	} else if (t == BSON_TYPE_DOUBLE) {
		snprintf(out, size, "{\"$numberDouble\":\"%.17g\"}", bson_iter_double(it));
		snprintf(why, wsize, "_id is a number; genbox stores string _ids only");
	} else {
		snprintf(out, size, "{\"$type\":\"0x%02x\"}", (unsigned)t);
		snprintf(why, wsize, "_id is of BSON type 0x%02x; genbox stores string _ids only",
		    (unsigned)t);
	}
}

/* The rank of a checkpoint's _id text (id_text's forms). */
static enum id_rank
text_rank(const char *id)
{
	if (strncmp(id, "{\"$oid\":\"", 9) == 0)
		return RANK_OID;
	if (strncmp(id, "{\"$number", 9) == 0)
		return RANK_NUMBER;
	if (strncmp(id, "{\"$type\":", 9) == 0)
		return RANK_OTHER;
	return RANK_STRING;
}

/* Does (ms, id) come after the round's checkpoint in the pull's order? */
static int
after_checkpoint(struct pull_fetch *f, int64_t ms, enum id_rank r, const char *id)
{
	int after;

	if (f->past_cp || !f->cp_set)
		return 1;
	if (ms != f->cp_ms)
		after = ms > f->cp_ms;
	else if (r != f->cp_rank)
		after = r > f->cp_rank;
	else
		after = strcmp(id, f->cp_id) > 0;	/* strings: bytes, as MongoDB */
	/* the documents come in order: all after the first one after it are */
	f->past_cp = after;
	return after;
}

/* The document's place in the order: the page's last, the reader's position. */
static void
doc_place(struct pull_fetch *f, struct pull_page *pg, struct pull_doc *pd, const bson_t *doc)
{
	bson_iter_t it;
	enum id_rank r = RANK_OTHER;
	char why[160];

	/* the filter asks for a Date; a server that gives another keeps the last place */
	if (bson_iter_init_find(&it, doc, "updated_at") && BSON_ITER_HOLDS_DATE_TIME(&it))
		pg->last_ms = bson_iter_date_time(&it);
	else
		snprintf(pd->error, sizeof(pd->error), "updated_at is not a Date");
	if (bson_iter_init_find(&it, doc, "_id")) {
		r = rank_of(bson_iter_type(&it));
		bson_value_destroy(&f->pos_id);
		bson_value_copy(bson_iter_value(&it), &f->pos_id);
		id_text(&it, pd->id, sizeof(pd->id), why, sizeof(why));
		if (why[0])	/* the first reason found stands */
			snprintf(pd->error, sizeof(pd->error), "%s", why);
	} else {
		snprintf(pd->error, sizeof(pd->error), "no _id");
	}
	snprintf(pg->last_id, sizeof(pg->last_id), "%s", pd->id);
	f->pos_ms = pg->last_ms;
	pd->beyond = after_checkpoint(f, pg->last_ms, r, pd->id);
	pg->beyond += pd->beyond;
}

/*
 * Keep one document of the page: its JSON, or why the box refuses it, and
 * where the checkpoint moves.
 */
static int
page_add(struct pull_fetch *f, struct pull_page *pg, const bson_t *doc, struct gb_err *err)
{
	struct pull_doc *pd = &pg->docs[pg->n++];
	bson_iter_t it;
	struct gb_err cerr = { 0, "" };
	int rc;

	memset(pd, 0, sizeof(*pd));
	doc_place(f, pg, pd, doc);
	if (pd->error[0])
		return 0;
	if (f->coll == COLL_COMPONENTS && bson_iter_init_find(&it, doc, "organization_id") &&
	    BSON_ITER_HOLDS_UTF8(&it))
		snprintf(pd->org, sizeof(pd->org), "%s", bson_iter_utf8(&it, NULL));
	/* templates go to the Redis cache as pulled too: Extended JSON dates there */
	if (f->coll == COLL_TEMPLATES)
		rc = bsonconv_to_json(doc, &pd->json, &pd->len, &cerr);
	else
		rc = bsonconv_to_store(doc, &pd->json, &pd->len, &cerr);
	if (rc == 0)
		pg->bytes += pd->len;
	if (rc && cerr.code == GB_ENOMEM)
		return gb_errf(err, GB_ENOMEM, "out of memory");
	if (rc)
		snprintf(pd->error, sizeof(pd->error), "%s", cerr.msg);
	return 0;
}

/*
 * mongo_fail's error, its state held back: the caller sets it once it has
 * recorded the error, so the status never shows the state without it.
 */
static int
fetch_fail(struct pull_fetch *f, const bson_error_t *e, struct gb_err *err)
{
	struct sync *s = f->c->s;
	int before = atomic_load(&s->state), rc = mongo_fail(s, e, "pull", err);

	f->fail_state = atomic_exchange(&s->state, before);
	return rc;
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
	if ((rc = mongo_enter(f->c->s, err))) {	/* sync is stopping */
		page_free(pg);
		return rc;
	}
	while (rc == 0 && pg->seen < size && mongoc_cursor_next(cur, &doc)) {
		pg->seen++;
		rc = page_add(f, pg, doc, err);
	}
	if (rc == 0 && mongoc_cursor_error(cur, &e))
		rc = fetch_fail(f, &e, err);
	mongo_unlock(f->c->s);
	if (rc) {
		page_free(pg);
		return rc;
	}
	*out = pg;
	return 0;
}

/* Queue pg once there is room; 0 when the caller stopped (pg freed). */
static int
fetch_put(struct pull_fetch *f, struct pull_page *pg)
{
	size_t bytes = pg->bytes;
	int ok;

	pthread_mutex_lock(&f->mu);
	while ((f->qn == PULL_AHEAD || (f->qn > 0 && f->qbytes + bytes > PULL_AHEAD_BYTES)) &&
	    !f->stop)
		pthread_cond_wait(&f->cv, &f->mu);
	if ((ok = !f->stop)) {
		f->q[(f->qhead + f->qn++) % PULL_AHEAD] = pg;
		f->qbytes += bytes;
	}
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
	int64_t limit = (int64_t)size * PULL_CURSOR_PAGES + 1, got = 0;
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
		f->pos_set = 1;	/* page_add moved pos_ms and pos_id */
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
	f->fail_state = -1;
	f->start_ms = f->pos_ms = DATE_MIN_MS;
	if (from->updated_at[0] &&
	    gb_time_parse(from->updated_at, strlen(from->updated_at), &f->cp_ms) == 0) {
		int lb = c->s->cfg.lookback_ms;

		f->cp_set = 1;
		snprintf(f->cp_id, sizeof(f->cp_id), "%s", from->id);
		f->cp_rank = text_rank(f->cp_id);
		f->start_ms = f->cp_ms - (lb > 0 ? lb : lb < 0 ? 0 : PULL_LOOKBACK_MS);
		if (f->start_ms < DATE_MIN_MS)
			f->start_ms = DATE_MIN_MS;
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
	while (f->qn == 0 && !f->done)
		pthread_cond_wait(&f->cv, &f->mu);
	*pg = NULL;
	if (f->qn > 0) {
		*pg = f->held = f->q[f->qhead];
		f->qhead = (f->qhead + 1) % PULL_AHEAD;
		f->qn--;
		f->qbytes -= (*pg)->bytes;
		pthread_cond_broadcast(&f->cv);
	}
	if (*pg == NULL && f->rc)
		rc = gb_errf(err, f->rc, "%s", f->err.msg);
	pthread_mutex_unlock(&f->mu);
	return rc;
}

int
pull_fetch_fail_state(struct pull_fetch *f)
{
	int st;

	pthread_mutex_lock(&f->mu);
	st = f->done ? f->fail_state : -1;
	pthread_mutex_unlock(&f->mu);
	return st;
}

void
pull_fetch_release(struct pull_fetch *f, struct pull_page *pg)
{
	pthread_mutex_lock(&f->mu);
	if (f->held == pg)
		f->held = NULL;
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
	page_free(f->held);
	for (; f->qn > 0; f->qn--, f->qhead = (f->qhead + 1) % PULL_AHEAD)
		page_free(f->q[f->qhead]);
	bson_value_destroy(&f->pos_id);
	pthread_cond_destroy(&f->cv);
	pthread_mutex_destroy(&f->mu);
	free(f);
}
