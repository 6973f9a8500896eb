/*
 * pull.c - a collection from the cluster, from its checkpoint on.
 *
 * Pages of page_size documents in (updated_at, _id) order, each read with
 * one find: {organization_id in orgs (contexts and batches: meant for this
 * appliance)} and after the checkpoint (D, ID): updated_at > D, or
 * updated_at = D and _id > ID. A page is applied (store_sync_apply: the
 * newer-wins guard and the job rule) in one transaction with the checkpoint
 * of its last document, so an interrupted pull resumes at the page it was
 * reading and never starts over. A document the box cannot store is logged
 * and skipped: it does not stop the pull.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../base/gbtime.h"
#include "../base/json.h"
#include "../base/log.h"
#include "../storage/outbox.h"
#include "internal.h"

#define DATE_MIN_MS (-62135596800000LL)	/* 0001-01-01 */

struct page_doc {
	char *json;
	size_t len;
	char id[STORE_ID_MAX];
	char org[STORE_ID_MAX];		/* components: for the registry cache */
};

struct page {
	struct page_doc *docs;
	int n;
	int64_t last_ms;		/* the last document's updated_at */
	char last_id[STORE_ID_MAX];
	int64_t applied, conflicts, skipped;
};

static void
page_free(struct page *pg)
{
	for (int i = 0; i < pg->n; i++)
		free(pg->docs[i].json);
	free(pg->docs);
	memset(pg, 0, sizeof(*pg));
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

static void
pull_filter(const struct sync *s, enum coll coll, const struct pull_checkpoint *cp,
    bson_t *filter)
{
	bson_t or, a, b, gt, id;
	int64_t d = DATE_MIN_MS;

	if (cp->updated_at[0])
		gb_time_parse(cp->updated_at, strlen(cp->updated_at), &d);
	bson_init(filter);
	if (coll == COLL_ORGANIZATIONS) {
		append_orgs(s, filter, "_id");
	} else {
		append_orgs(s, filter, "organization_id");
		if (coll == COLL_CONTEXTS || coll == COLL_BATCHES)
			BSON_APPEND_UTF8(filter, "metadata.appliance_id", s->cfg.appliance_id);
	}
	bson_append_array_begin(filter, "$or", 3, &or);
	bson_append_document_begin(&or, "0", 1, &a);
	bson_append_document_begin(&a, "updated_at", -1, &gt);
	if (cp->updated_at[0])
		BSON_APPEND_DATE_TIME(&gt, "$gt", d);
	else
		BSON_APPEND_DATE_TIME(&gt, "$gte", d);
	bson_append_document_end(&a, &gt);
	bson_append_document_end(&or, &a);
	bson_append_document_begin(&or, "1", 1, &b);
	BSON_APPEND_DATE_TIME(&b, "updated_at", d);
	bson_append_document_begin(&b, "_id", 3, &id);
	BSON_APPEND_UTF8(&id, "$gt", cp->id);
	bson_append_document_end(&b, &id);
	bson_append_document_end(&or, &b);
	bson_append_array_end(filter, &or);
}

/* Keep one document of the page: its JSON and where the checkpoint moves. */
static int
page_add(struct page *pg, enum coll coll, const bson_t *doc, struct gb_err *err)
{
	struct page_doc *pd = &pg->docs[pg->n];
	bson_iter_t it;
	struct gb_err cerr = { 0, "" };
	char q[160], qe[300];

	if (bson_iter_init_find(&it, doc, "updated_at") && BSON_ITER_HOLDS_DATE_TIME(&it))
		pg->last_ms = bson_iter_date_time(&it);
	if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_UTF8(&it))
		snprintf(pg->last_id, sizeof(pg->last_id), "%s", bson_iter_utf8(&it, NULL));
	memset(pd, 0, sizeof(*pd));
	snprintf(pd->id, sizeof(pd->id), "%s", pg->last_id);
	if (coll == COLL_COMPONENTS && bson_iter_init_find(&it, doc, "organization_id") &&
	    BSON_ITER_HOLDS_UTF8(&it))
		snprintf(pd->org, sizeof(pd->org), "%s", bson_iter_utf8(&it, NULL));
	if (bsonconv_to_json(doc, &pd->json, &pd->len, &cerr)) {
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

/* Read one page after cp; pg->n == 0 at the end of the collection. */
static int
page_read_locked(struct sync_ctx *c, enum coll coll, const struct pull_checkpoint *cp,
    struct page *pg, int *seen, struct gb_err *err)
{
	int size = c->s->cfg.page_size;
	mongoc_collection_t *mc = mongo_coll(c, coll);
	mongoc_cursor_t *cur;
	bson_t filter, opts = BSON_INITIALIZER, sort;
	const bson_t *doc;
	bson_error_t e;
	int rc = 0;

	memset(pg, 0, sizeof(*pg));
	*seen = 0;
	if ((pg->docs = calloc((size_t)size, sizeof(*pg->docs))) == NULL) {
		mongoc_collection_destroy(mc);
		return gb_errf(err, GB_ENOMEM, "out of memory");
	}
	pull_filter(c->s, coll, cp, &filter);
	bson_append_document_begin(&opts, "sort", 4, &sort);
	BSON_APPEND_INT32(&sort, "updated_at", 1);
	BSON_APPEND_INT32(&sort, "_id", 1);
	bson_append_document_end(&opts, &sort);
	BSON_APPEND_INT64(&opts, "limit", size);
	BSON_APPEND_INT64(&opts, "batchSize", size);
	cur = mongoc_collection_find_with_opts(mc, &filter, &opts, NULL);
	while (rc == 0 && *seen < size && mongoc_cursor_next(cur, &doc)) {
		(*seen)++;
		rc = page_add(pg, coll, doc, err);
	}
	if (rc == 0 && mongoc_cursor_error(cur, &e))
		rc = mongo_fail(c->s, &e, "pull", err);
	mongoc_cursor_destroy(cur);
	mongoc_collection_destroy(mc);
	bson_destroy(&filter);
	bson_destroy(&opts);
	return rc;
}

/* page_read under the sync's MongoDB lock (mongo_mu in internal.h) */
static int
page_read(struct sync_ctx *c, enum coll coll, const struct pull_checkpoint *cp,
    struct page *pg, int *seen, struct gb_err *err)
{
	int rc;

	mongo_lock(c->s);
	rc = page_read_locked(c, coll, cp, pg, seen, err);
	mongo_unlock(c->s);
	return rc;
}

/* Apply a page and move the checkpoint, in one transaction. */
static int
page_apply(struct sync_ctx *c, enum coll coll, struct pull_checkpoint *cp, struct page *pg,
    int seen, struct gb_err *err)
{
	struct pull_checkpoint next = *cp;
	char when[GB_TIME_LEN], q[160], qe[300];
	int rc;

	if ((rc = store_begin(c->st, err)))
		return rc;
	for (int i = 0; i < pg->n; i++) {
		struct gb_err aerr = { 0, "" };
		enum store_apply res;
		char id[STORE_ID_MAX] = "";

		/* store_sync_apply undoes its own writes when it fails */
		rc = store_sync_apply(c->st, coll, pg->docs[i].json, pg->docs[i].len, &res, id,
		    &aerr);
		if (rc == GB_EINVAL || rc == GB_ETOOBIG) {
			log_warnx("event=pull_skipped coll=%s id=%s error=%s", coll_name(coll),
			    log_quoted(q, sizeof(q), pg->docs[i].id),
			    log_quoted(qe, sizeof(qe), aerr.msg));
			pg->skipped++;
			pg->docs[i].org[0] = '\0';
			continue;
		}
		if (rc) {
			rc = gb_errf(err, rc, "%s", aerr.msg);
			goto fail;
		}
		if (res == STORE_APPLY_INSERTED || res == STORE_APPLY_NEWER)
			pg->applied++;
		else if (res == STORE_APPLY_OLDER || res == STORE_APPLY_KEPT_TERMINAL)
			pg->conflicts++;
		if (res == STORE_APPLY_SAME || res == STORE_APPLY_OLDER)
			pg->docs[i].org[0] = '\0';	/* nothing new to cache */
	}
	snprintf(next.updated_at, sizeof(next.updated_at), "%s", gb_time_format(pg->last_ms, when));
	snprintf(next.id, sizeof(next.id), "%s", pg->last_id);
	next.pulled += seen;
	if ((rc = store_checkpoint_set(c->st, coll, &next, err)) || (rc = store_commit(c->st, err)))
		goto fail;
	*cp = next;
	return 0;
fail:
	store_rollback(c->st);
	return rc;
}

/* The Redis caches of what was pulled: template:{id}, component_registry:{org}. */
static void
page_cache(struct sync_ctx *c, enum coll coll, const struct page *pg)
{
	struct gb_err err = { 0, "" };
	char done[8][STORE_ID_MAX];
	int ndone = 0, rc = 0;

	if (c->redis == NULL || (coll != COLL_TEMPLATES && coll != COLL_COMPONENTS))
		return;
	for (int i = 0; i < pg->n && rc == 0; i++) {
		if (coll == COLL_TEMPLATES) {
			rc = sync_redis_template_put(c->redis, pg->docs[i].json, pg->docs[i].len,
			    &err);
			continue;
		}
		int seen = !pg->docs[i].org[0];

		for (int k = 0; k < ndone && !seen; k++)
			seen = !strcmp(done[k], pg->docs[i].org);
		if (seen)
			continue;
		rc = sync_redis_registry_put(c->redis, c->st, pg->docs[i].org, &err);
		if (ndone < 8)
			snprintf(done[ndone++], sizeof(done[0]), "%s", pg->docs[i].org);
	}
	if (rc)
		log_warnx("cannot update the Redis cache of %s: %s", coll_name(coll), err.msg);
}

int
pull_coll(struct sync_ctx *c, enum coll coll, int max_pages, int *pages, int64_t *pulled,
    struct gb_err *err)
{
	struct pull_checkpoint cp;
	struct gb_err e2 = { 0, "" };
	struct page pg;
	int rc, seen = 0;

	if ((rc = store_checkpoint_get(c->st, coll, &cp, err)))
		return rc;
	for (;;) {
		if (max_pages > 0 && *pages >= max_pages)
			break;
		if ((rc = page_read(c, coll, &cp, &pg, &seen, err))) {
			page_free(&pg);
			break;
		}
		if (seen == 0) {
			page_free(&pg);
			break;
		}
		rc = page_apply(c, coll, &cp, &pg, seen, err);
		if (rc == 0) {
			page_cache(c, coll, &pg);
			(*pages)++;
			*pulled += pg.applied;
			log_info("event=pull coll=%s pulled=%" PRId64 " applied=%" PRId64
			    " conflicts=%" PRId64 " total=%" PRId64, coll_name(coll),
			    (int64_t)seen, pg.applied, pg.conflicts, cp.pulled);
			if (pg.applied)
				store_sync_note(c->st, coll, SYNC_PULLED, pg.applied, NULL,
				    gb_now_ms(), &e2);
			if (pg.conflicts)
				store_sync_note(c->st, coll, SYNC_CONFLICT, pg.conflicts, NULL,
				    gb_now_ms(), &e2);
		}
		page_free(&pg);
		if (rc || seen < c->s->cfg.page_size || sync_stopping(c->s))
			break;
	}
	if (rc)
		store_sync_note(c->st, coll, SYNC_ERROR, 0, err->msg, gb_now_ms(), &e2);
	else if (store_sync_note(c->st, coll, SYNC_PULLED, 0, NULL, gb_now_ms(), &e2) == 0)
		/* a pull that found nothing new succeeded too: last_pull_ms moves */
		store_sync_note(c->st, coll, SYNC_OK, 0, NULL, gb_now_ms(), &e2);
	if (e2.code)
		log_warnx("cannot record the sync status: %s", e2.msg);
	if (rc == 0)
		sync_set_state(c->s, SYNC_ST_OK);
	return rc;
}
