/*
 * take.c - pending contexts of the cluster, claimed through its own lock.
 *
 * A round looks for due pending contexts of the organizations that are
 * meant for no appliance in particular (metadata.appliance_id null or
 * absent: a context routed to a box is that box's to pull) and not here
 * yet, in the schema's polling order, as many as the box has room for. Each
 * is claimed with SET worker_lock:{id} NX PX 300000, after a cluster_locks
 * row has been written down as the claim's intent (so a box killed between
 * the SET and the store still knows the key is its own: the lock keeper in
 * sync.c releases a claim that never got its context). When the lock is
 * ours, the context is read again by _id (another worker may have taken and
 * finished it between the find and the lock): still pending, it lands in the
 * store with metadata.appliance_id set to this box, and the local engine
 * runs it. The pusher releases the lock once the terminal result is
 * acknowledged.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../base/gbtime.h"
#include "../base/log.h"
#include "../storage/docs.h"
#include "../storage/outbox.h"
#include "internal.h"

#define TAKE_LOCKS_MAX 4096

static void
take_filter(const struct sync *s, int64_t now, bson_t *f)
{
	bson_t in, arr, or, a, b, lte;
	char key[16];

	bson_init(f);
	BSON_APPEND_UTF8(f, "status", "pending");
	bson_append_document_begin(f, "organization_id", -1, &in);
	bson_append_array_begin(&in, "$in", 3, &arr);
	for (int i = 0; i < s->cfg.n_orgs; i++) {
		snprintf(key, sizeof(key), "%d", i);
		bson_append_utf8(&arr, key, -1, s->cfg.orgs[i], -1);
	}
	bson_append_array_end(&in, &arr);
	bson_append_document_end(f, &in);
	BSON_APPEND_NULL(f, "metadata.appliance_id");
	bson_append_array_begin(f, "$or", 3, &or);
	bson_append_document_begin(&or, "0", 1, &a);
	bson_append_document_begin(&a, "next_retry_at", -1, &lte);
	BSON_APPEND_DATE_TIME(&lte, "$lte", now);
	bson_append_document_end(&a, &lte);
	bson_append_document_end(&or, &a);
	bson_append_document_begin(&or, "1", 1, &b);
	BSON_APPEND_NULL(&b, "next_retry_at");
	bson_append_document_end(&or, &b);
	bson_append_array_end(f, &or);
}

/* The candidates' _ids, in the polling order. */
static int
take_find_locked(struct sync_ctx *c, int limit, char (*ids)[STORE_ID_MAX], int *n,
    struct gb_err *err)
{
	mongoc_collection_t *mc = mongo_coll(c, COLL_CONTEXTS);
	bson_t filter, opts = BSON_INITIALIZER, sort;
	mongoc_cursor_t *cur;
	const bson_t *doc;
	bson_iter_t it;
	bson_error_t e;
	int rc = 0;

	*n = 0;
	take_filter(c->s, gb_now_ms(), &filter);
	bson_append_document_begin(&opts, "sort", 4, &sort);
	BSON_APPEND_INT32(&sort, "metadata.priority", 1);
	BSON_APPEND_INT32(&sort, "created_at", 1);
	bson_append_document_end(&opts, &sort);
	BSON_APPEND_INT64(&opts, "limit", limit);
	cur = mongoc_collection_find_with_opts(mc, &filter, &opts, NULL);
	while (*n < limit && mongoc_cursor_next(cur, &doc))
		if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_UTF8(&it))
			snprintf(ids[(*n)++], STORE_ID_MAX, "%s", bson_iter_utf8(&it, NULL));
	if (mongoc_cursor_error(cur, &e))
		rc = mongo_fail(c->s, &e, "take", err);
	mongoc_cursor_destroy(cur);
	mongoc_collection_destroy(mc);
	bson_destroy(&filter);
	bson_destroy(&opts);
	return rc;
}

/* take_find under the sync's MongoDB lock (mongo_enter) */
static int
take_find(struct sync_ctx *c, int limit, char (*ids)[STORE_ID_MAX], int *n,
    struct gb_err *err)
{
	int rc;

	if ((rc = mongo_enter(c->s, err)))
		return rc;
	rc = take_find_locked(c, limit, ids, n, err);
	mongo_unlock(c->s);
	return rc;
}

/* Read id again under our lock: *doc (initialised) when still pending. */
static int
take_reread_locked(struct sync_ctx *c, const char *id, bson_t *doc, int *pending,
    struct gb_err *err)
{
	mongoc_collection_t *mc = mongo_coll(c, COLL_CONTEXTS);
	bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
	mongoc_cursor_t *cur;
	const bson_t *d;
	bson_iter_t it;
	bson_error_t e;
	int rc = 0;

	*pending = 0;
	BSON_APPEND_UTF8(&filter, "_id", id);
	BSON_APPEND_INT64(&opts, "limit", 1);
	cur = mongoc_collection_find_with_opts(mc, &filter, &opts, NULL);
	if (mongoc_cursor_next(cur, &d)) {
		if (bson_iter_init_find(&it, d, "status") && BSON_ITER_HOLDS_UTF8(&it) &&
		    strcmp(bson_iter_utf8(&it, NULL), "pending") == 0) {
			*pending = 1;
			rc = bsonconv_set_appliance(d, c->s->cfg.appliance_id, doc, err);
		}
	}
	if (rc == 0 && mongoc_cursor_error(cur, &e))
		rc = mongo_fail(c->s, &e, "take", err);
	mongoc_cursor_destroy(cur);
	mongoc_collection_destroy(mc);
	bson_destroy(&filter);
	bson_destroy(&opts);
	return rc;
}

/* take_reread under the sync's MongoDB lock (mongo_enter) */
static int
take_reread(struct sync_ctx *c, const char *id, bson_t *doc, int *pending,
    struct gb_err *err)
{
	int rc;

	if ((rc = mongo_enter(c->s, err)))
		return rc;
	rc = take_reread_locked(c, id, doc, pending, err);
	mongo_unlock(c->s);
	return rc;
}

/* The lock is ours and the context pending: into the store, its lock row refreshed. */
static int
take_store(struct sync_ctx *c, const char *id, const bson_t *doc, struct gb_err *err)
{
	enum store_apply res;
	char *json = NULL;
	size_t len;
	int rc;

	if ((rc = bsonconv_to_json(doc, &json, &len, err)))
		return rc;
	if ((rc = store_begin(c->st, err)) == 0) {
		if ((rc = store_cluster_lock_add(c->st, id, c->s->cfg.worker_id, gb_now_ms(),
		    err)) ||
		    (rc = store_sync_apply(c->st, COLL_CONTEXTS, json, len, &res, NULL, err)) ||
		    (rc = store_commit(c->st, err)))
			store_rollback(c->st);
	}
	free(json);
	return rc;
}

/* Claim one candidate; *got 1 when it is now the box's. */
static int
take_one(struct sync_ctx *c, const char *id, int *got, struct gb_err *err)
{
	struct gb_err uerr = { 0, "" };
	const char *worker = c->s->cfg.worker_id;
	char *local = NULL;
	bson_t doc;
	int rc, locked = 0, pending = 0;

	*got = 0;
	if (store_get(c->st, COLL_CONTEXTS, id, &local, &uerr) != GB_ENOTFOUND) {
		free(local);
		return 0;		/* here already: the local engine has it */
	}
	/* the intent first: a kill after the SET leaves a row that names the key */
	if ((rc = store_cluster_lock_add(c->st, id, worker, gb_now_ms(), err)))
		return rc;
	if ((rc = sync_redis_lock(c->redis, id, worker, &locked, err)) == 0 && locked) {
		bson_init(&doc);
		if ((rc = take_reread(c, id, &doc, &pending, err)) == 0 && pending &&
		    (rc = take_store(c, id, &doc, err)) == 0)
			*got = 1;
		bson_destroy(&doc);
	}
	if (*got)
		return 0;
	gb_err_clear(&uerr);
	if (locked && sync_redis_unlock(c->redis, id, worker, &uerr))
		log_warnx("cannot release the lock of '%s': %s", id, uerr.msg);
	else if (store_cluster_lock_remove(c->st, id, &uerr))
		log_warnx("cannot drop the claim of '%s': %s", id, uerr.msg);
	return rc;
}

int
take_round(struct sync_ctx *c, int *taken, struct gb_err *err)
{
	struct cluster_lock *locks = NULL;
	char (*ids)[STORE_ID_MAX] = NULL;
	int held = 0, room, n = 0, rc;

	*taken = 0;
	if (c->redis == NULL)
		return gb_errf(err, GB_EINVAL, "take_cluster_work needs redis_url (the cluster's "
		    "worker locks)");
	if ((locks = calloc(TAKE_LOCKS_MAX, sizeof(*locks))) == NULL)
		return gb_errf(err, GB_ENOMEM, "out of memory");
	if ((rc = store_cluster_lock_list(c->st, locks, TAKE_LOCKS_MAX, &held, err)))
		goto out;
	room = c->s->cfg.take_max - held;
	if (room <= 0)
		goto out;
	if ((ids = calloc((size_t)room * 2 + 16, sizeof(*ids))) == NULL) {
		rc = gb_errf(err, GB_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = take_find(c, room * 2 + 16, ids, &n, err)))
		goto out;
	for (int i = 0; i < n && *taken < room && rc == 0; i++) {
		int got;

		rc = take_one(c, ids[i], &got, err);
		*taken += got;
	}
	if (*taken)
		log_info("event=take taken=%d held=%d", *taken, held + *taken);
	if (rc == 0)
		sync_set_state(c->s, SYNC_ST_OK);
out:
	free(locks);
	free(ids);
	return rc;
}
