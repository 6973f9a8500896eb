/*
 * push.c - one round of the outbox to the cluster.
 *
 * A round takes the oldest SYNC_PUSH_BATCH rows and sends each collection's
 * rows as one unordered bulk of replaceOne(upsert) whose filter carries the
 * shard key and the guard updated_at <= the document's: an older copy never
 * overwrites a newer one (the upsert's insert then collides on _id: 11000).
 * A duplicate key is judged by the cluster's copy, read back: newer or as
 * new, a conflict, counted and acknowledged; older, a shard key field the
 * box changed, rejected saying so. Contexts and batches made on the box go
 * with metadata.appliance_id set to it. Every operation with a result of its
 * own is settled: acknowledged, or set aside in the rejected list when the
 * cluster refused it for good. Anything else (network, timeout, not
 * primary, credentials, a write concern error) leaves the rows without a
 * result in the outbox, to be sent again: a replay changes nothing.
 *
 * Template and component rows are not written to MongoDB: they drop the
 * Redis cache keys the box's change made stale.
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

enum op_res { RES_NONE, RES_OK, RES_CONFLICT, RES_REJECT, RES_RETRY };

struct push_set {
	struct sync_ctx *c;
	enum coll coll;
	struct outbox_row *rows;	/* borrowed: the round's rows of coll */
	int n;
	bson_t **docs;			/* n, NULL until converted (heap: bson_t is
					 * 128-byte aligned, calloc'd arrays are not) */
	bson_t **filters;		/* n, NULL until built */
	enum op_res *res;		/* n */
	char (*msg)[256];		/* n: the cluster's error of a rejected row */
	int64_t pushed, conflicts, rejected;
	char retry_msg[256];		/* the first error that leaves rows for later */
};

static int
append_filter(enum coll coll, const bson_t *doc, bson_t *filter)
{
	static const char *const keys[] = { "_id", "organization_id", "created_at" };
	bson_iter_t it;
	bson_t guard;
	int ok = 1;

	for (int k = 0; k < 3 && ok; k++) {
		if (k == 2 && coll != COLL_BATCHES)
			break;
		if (bson_iter_init_find(&it, doc, keys[k]))
			ok = bson_append_iter(filter, keys[k], -1, &it);
		else
			ok = bson_append_null(filter, keys[k], -1);
	}
	if (ok && bson_iter_init_find(&it, doc, "updated_at")) {
		ok = bson_append_document_begin(filter, "updated_at", 10, &guard) &&
		    bson_append_iter(&guard, "$lte", 4, &it) &&
		    bson_append_document_end(filter, &guard);
	}
	return ok;
}

static void
set_reject(struct push_set *p, int i, const char *msg)
{
	p->res[i] = RES_REJECT;
	snprintf(p->msg[i], sizeof(p->msg[i]), "%.*s", (int)sizeof(p->msg[i]) - 1, msg);
}

/*
 * A context or batch made on the box carries no metadata.appliance_id: the
 * copy sent says it is this box's, so the cluster does not hand it to
 * another worker (take looks for contexts of no appliance) and the box's
 * pull brings the cluster's changes of it (a cancel) back here.
 */
static int
stamp_appliance(struct push_set *p, int i, struct gb_err *err)
{
	bson_iter_t root, it;
	bson_t stamped;
	int rc;

	if (p->coll != COLL_CONTEXTS && p->coll != COLL_BATCHES)
		return 0;
	if (bson_iter_init(&root, p->docs[i]) &&
	    bson_iter_find_descendant(&root, "metadata.appliance_id", &it) &&
	    !BSON_ITER_HOLDS_NULL(&it))
		return 0;
	if ((rc = bsonconv_set_appliance(p->docs[i], p->c->s->cfg.appliance_id, &stamped, err)))
		return rc;
	bson_destroy(p->docs[i]);
	p->docs[i] = bson_copy(&stamped);
	bson_destroy(&stamped);
	return p->docs[i] ? 0 : gb_errf(err, GB_ENOMEM, "out of memory");
}

/* Convert each row and build its filter; rows that cannot go are settled now. */
static void
push_prepare(struct push_set *p, int64_t max, int *todo, int *ntodo)
{
	struct gb_err cerr;

	*ntodo = 0;
	for (int i = 0; i < p->n; i++) {
		gb_err_clear(&cerr);
		if (p->rows[i].doc == NULL) {	/* deletes stay local */
			p->res[i] = RES_OK;
			continue;
		}
		if (bsonconv_from_json(p->rows[i].doc, p->rows[i].len, &p->docs[i], &cerr) ||
		    stamp_appliance(p, i, &cerr)) {
			set_reject(p, i, cerr.msg);
			continue;
		}
		if ((int64_t)p->docs[i]->len > max) {
			p->res[i] = RES_REJECT;
			snprintf(p->msg[i], sizeof(p->msg[i]), "document of %" PRIu32 " bytes as "
			    "BSON is over the cluster's maxBsonObjectSize of %" PRId64 " bytes",
			    p->docs[i]->len, max);
			continue;
		}
		if ((p->filters[i] = bson_new()) == NULL ||
		    !append_filter(p->coll, p->docs[i], p->filters[i])) {
			set_reject(p, i, "document too large for its filter");
			continue;
		}
		todo[(*ntodo)++] = i;
	}
}

static int64_t
reply_int(const bson_t *reply, const char *key)
{
	bson_iter_t it;

	return bson_iter_init_find(&it, reply, key) && BSON_ITER_HOLDS_NUMBER(&it) ?
	    bson_iter_as_int64(&it) : 0;
}

/* Settle each operation from the reply's writeErrors; the others succeeded. */
static void
settle_write_errors(struct push_set *p, const bson_t *reply, const int *opmap, int nops)
{
	bson_iter_t it, arr, we;

	for (int k = 0; k < nops; k++)
		p->res[opmap[k]] = RES_OK;
	if (!bson_iter_init_find(&it, reply, "writeErrors") || !BSON_ITER_HOLDS_ARRAY(&it) ||
	    !bson_iter_recurse(&it, &arr))
		return;
	while (bson_iter_next(&arr)) {
		int64_t index = -1, code = 0;
		const char *msg = "";
		int i;

		if (!BSON_ITER_HOLDS_DOCUMENT(&arr) || !bson_iter_recurse(&arr, &we))
			continue;
		while (bson_iter_next(&we)) {
			if (strcmp(bson_iter_key(&we), "index") == 0)
				index = bson_iter_as_int64(&we);
			else if (strcmp(bson_iter_key(&we), "code") == 0)
				code = bson_iter_as_int64(&we);
			else if (strcmp(bson_iter_key(&we), "errmsg") == 0 &&
			    BSON_ITER_HOLDS_UTF8(&we))
				msg = bson_iter_utf8(&we, NULL);
		}
		if (index < 0 || index >= nops)
			continue;
		i = opmap[index];
		if (code == 11000) {
			p->res[i] = RES_CONFLICT;
		} else if (mongo_code_permanent((int32_t)code)) {
			p->res[i] = RES_REJECT;
			snprintf(p->msg[i], sizeof(p->msg[i]), "E%" PRId64 " %.200s", code, msg);
		} else {
			p->res[i] = RES_RETRY;
			if (!p->retry_msg[0])
				snprintf(p->retry_msg, sizeof(p->retry_msg),
				    "MongoDB error %" PRId64 ": %.200s", code, msg);
		}
	}
}

/*
 * One unordered bulk of the rows todo[0..n): 0 when every operation got a
 * result of its own (p->res), else -1 with the driver's error in e.
 */
static int
bulk_run(struct push_set *p, mongoc_collection_t *coll, const int *todo, int n, bson_error_t *e)
{
	mongoc_bulk_operation_t *bulk;
	bson_t opts = BSON_INITIALIZER, upsert = BSON_INITIALIZER, reply;
	bson_iter_t it;
	int *opmap = calloc((size_t)n + 1, sizeof(*opmap)), nops = 0, rc = 0;

	if (opmap == NULL) {
		bson_set_error(e, MONGOC_ERROR_CLIENT, 0, "out of memory");
		return -1;
	}
	BSON_APPEND_BOOL(&opts, "ordered", false);
	BSON_APPEND_BOOL(&upsert, "upsert", true);
	bulk = mongoc_collection_create_bulk_operation_with_opts(coll, &opts);
	for (int k = 0; k < n; k++) {
		int i = todo[k];

		if (mongoc_bulk_operation_replace_one_with_opts(bulk, p->filters[i], p->docs[i],
		    &upsert, e))
			opmap[nops++] = i;
		else
			set_reject(p, i, e->message);
	}
	if (nops > 0) {
		uint32_t ok = mongoc_bulk_operation_execute(bulk, &reply, e);
		int64_t nres = reply_int(&reply, "nMatched") + reply_int(&reply, "nUpserted");
		int wce = bson_iter_init_find(&it, &reply, "writeConcernErrors") &&
		    BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &it) &&
		    bson_iter_next(&it);
		int64_t nwe = 0;

		if (!ok && bson_iter_init_find(&it, &reply, "writeErrors") &&
		    BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &it))
			while (bson_iter_next(&it))
				nwe++;
		if (ok)
			for (int k = 0; k < nops; k++)
				p->res[opmap[k]] = RES_OK;
		else if (wce || nres + nwe != nops)
			rc = -1;
		else
			settle_write_errors(p, &reply, opmap, nops);
		bson_destroy(&reply);
	}
	mongoc_bulk_operation_destroy(bulk);
	bson_destroy(&opts);
	bson_destroy(&upsert);
	free(opmap);
	return rc;
}

/*
 * The cluster refused a whole bulk for what one document did (some
 * servers fail every write of a batch on one duplicate): each alone, to
 * settle each by its own error.
 */
static int
push_each(struct push_set *p, mongoc_collection_t *coll, const int *todo, int n,
    struct gb_err *err)
{
	for (int k = 0; k < n; k++) {
		int i = todo[k];
		bson_error_t e;

		if (bulk_run(p, coll, &i, 1, &e) == 0)
			continue;
		if (mongo_error_kind(&e) != MONGO_ERR_OTHER)
			return mongo_fail(p->c->s, &e, "push", err);
		if (e.code == 11000) {
			p->res[i] = RES_CONFLICT;
		} else if (mongo_code_permanent((int32_t)e.code)) {
			p->res[i] = RES_REJECT;
			snprintf(p->msg[i], sizeof(p->msg[i]), "E%u %.200s", e.code, e.message);
		} else {
			return mongo_fail(p->c->s, &e, "push", err);
		}
	}
	return 0;
}

/* A value as Extended JSON text, for messages and comparisons ("absent" when it is). */
static void
value_text(bson_iter_t *it, int found, char *out, size_t size)
{
	bson_t one = BSON_INITIALIZER;
	char *json = NULL;
	size_t len = 0;

	snprintf(out, size, "absent");
	if (found && BSON_ITER_HOLDS_DATE_TIME(it)) {
		char iso[GB_TIME_LEN];

		snprintf(out, size, "%s", gb_time_format(bson_iter_date_time(it), iso));
		return;
	}
	if (!found || !bson_append_iter(&one, "v", 1, it) ||
	    (json = bson_as_relaxed_extended_json(&one, &len)) == NULL || len < 11) {
		bson_destroy(&one);
		bson_free(json);
		return;
	}
	/* { "v" : VALUE } */
	snprintf(out, size, "%.*s", (int)(len - 10), json + 8);
	bson_free(json);
	bson_destroy(&one);
}

static int
find_text(const bson_t *doc, const char *key, char *out, size_t size)
{
	bson_iter_t it;
	int found = bson_iter_init_find(&it, doc, key) && !BSON_ITER_HOLDS_NULL(&it);

	value_text(&it, found, out, size);
	return found;
}

/*
 * The cluster's copy cl of row i said 11000 to the upsert: newer (or as
 * new) -> a real conflict; else the filter missed it on a shard key field
 * the box changed, which the cluster never lets change: rejected, saying so.
 */
static void
conflict_judge(struct push_set *p, int i, const bson_t *cl)
{
	static const char *const keys[] = { "organization_id", "created_at" };
	bson_iter_t a, b;
	char mine[96], theirs[96];

	if (bson_iter_init_find(&a, p->docs[i], "updated_at") && BSON_ITER_HOLDS_DATE_TIME(&a) &&
	    bson_iter_init_find(&b, cl, "updated_at") && BSON_ITER_HOLDS_DATE_TIME(&b) &&
	    bson_iter_date_time(&b) >= bson_iter_date_time(&a))
		return;		/* RES_CONFLICT stays */
	for (int k = 0; k < (p->coll == COLL_BATCHES ? 2 : 1); k++) {
		find_text(p->docs[i], keys[k], mine, sizeof(mine));
		find_text(cl, keys[k], theirs, sizeof(theirs));
		if (strcmp(mine, theirs) != 0) {
			p->res[i] = RES_REJECT;
			snprintf(p->msg[i], sizeof(p->msg[i]), "shard key %s differs from the "
			    "cluster's copy (box: %.60s, cluster: %.60s): a shard key field cannot "
			    "change", keys[k], mine, theirs);
			return;
		}
	}
	find_text(p->docs[i], "updated_at", mine, sizeof(mine));
	find_text(cl, "updated_at", theirs, sizeof(theirs));
	p->res[i] = RES_REJECT;
	snprintf(p->msg[i], sizeof(p->msg[i]), "the cluster's copy refused the box's although "
	    "it is not newer (updated_at box: %.60s, cluster: %.60s)", mine, theirs);
}

/* The filter and projection of conflicts_check: the _ids of the conflicts. */
static int
conflicts_query(struct push_set *p, bson_t *filter, bson_t *opts)
{
	bson_t in, arr, proj;
	bson_iter_t it;
	char key[16];
	int k = 0;

	bson_append_document_begin(filter, "_id", 3, &in);
	bson_append_array_begin(&in, "$in", 3, &arr);
	for (int i = 0; i < p->n; i++) {
		if (p->res[i] != RES_CONFLICT || !bson_iter_init_find(&it, p->docs[i], "_id"))
			continue;
		snprintf(key, sizeof(key), "%d", k++);
		bson_append_iter(&arr, key, -1, &it);
	}
	bson_append_array_end(&in, &arr);
	bson_append_document_end(filter, &in);
	bson_append_document_begin(opts, "projection", 10, &proj);
	BSON_APPEND_INT32(&proj, "_id", 1);
	BSON_APPEND_INT32(&proj, "updated_at", 1);
	BSON_APPEND_INT32(&proj, "organization_id", 1);
	BSON_APPEND_INT32(&proj, "created_at", 1);
	bson_append_document_end(opts, &proj);
	return k;
}

/*
 * Duplicate keys (11000) are conflicts only when the cluster's copy is the
 * newer one: read the copies of them all (one find) and judge each. A
 * conflict whose copy is not found (deleted since) stays in the outbox.
 */
static int
conflicts_check(struct push_set *p, mongoc_collection_t *coll, struct gb_err *err)
{
	bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
	char *seen = calloc((size_t)p->n + 1, 1), want[STORE_ID_MAX + 64], got[STORE_ID_MAX + 64];
	mongoc_cursor_t *cur;
	const bson_t *cl;
	bson_error_t e;
	int rc = 0;

	if (seen == NULL)
		return gb_errf(err, GB_ENOMEM, "out of memory");
	if (conflicts_query(p, &filter, &opts) == 0)
		goto out;
	cur = mongoc_collection_find_with_opts(coll, &filter, &opts, NULL);
	while (mongoc_cursor_next(cur, &cl)) {
		find_text(cl, "_id", got, sizeof(got));
		for (int i = 0; i < p->n; i++) {
			if (p->res[i] != RES_CONFLICT || seen[i])
				continue;
			find_text(p->docs[i], "_id", want, sizeof(want));
			if (strcmp(want, got) == 0) {
				seen[i] = 1;
				conflict_judge(p, i, cl);
				break;
			}
		}
	}
	if (mongoc_cursor_error(cur, &e))
		rc = mongo_fail(p->c->s, &e, "push", err);
	mongoc_cursor_destroy(cur);
	for (int i = 0; i < p->n; i++)
		if (p->res[i] == RES_CONFLICT && (!seen[i] || rc))
			p->res[i] = RES_NONE;
out:
	bson_destroy(&filter);
	bson_destroy(&opts);
	free(seen);
	return rc;
}

/* Send the rows; 0 when every row has its own result. */
static int
push_send_locked(struct push_set *p, struct gb_err *err)
{
	mongoc_collection_t *coll = mongo_coll(p->c, p->coll);
	int *todo = calloc((size_t)p->n + 1, sizeof(*todo)), n = 0, rc = 0;
	bson_error_t e;
	int64_t max;

	if (todo == NULL) {
		mongoc_collection_destroy(coll);
		return gb_errf(err, GB_ENOMEM, "out of memory");
	}
	/* an unreachable cluster fails here, before any conversion */
	if (mongo_max_bson(p->c, &max, &e)) {
		mongoc_collection_destroy(coll);
		free(todo);
		return mongo_fail(p->c->s, &e, "push", err);
	}
	push_prepare(p, max, todo, &n);
	if (n > 0 && bulk_run(p, coll, todo, n, &e)) {
		/* the whole bulk failed: every row back to "no result" first */
		for (int k = 0; k < n; k++)
			if (p->res[todo[k]] != RES_REJECT)
				p->res[todo[k]] = RES_NONE;
		if (mongo_error_kind(&e) == MONGO_ERR_OTHER && n > 1)
			rc = push_each(p, coll, todo, n, err);
		else
			rc = mongo_fail(p->c->s, &e, "push", err);
	}
	if (rc == 0)
		rc = conflicts_check(p, coll, err);
	mongoc_collection_destroy(coll);
	free(todo);
	return rc;
}

/* push_send under the sync's MongoDB lock (see mongo_enter) */
static int
push_send(struct push_set *p, struct gb_err *err)
{
	int rc;

	if ((rc = mongo_enter(p->c->s, err)))
		return rc;
	rc = push_send_locked(p, err);
	mongo_unlock(p->c->s);
	return rc;
}

static int
is_terminal(const bson_t *doc)
{
	bson_iter_t it;
	const char *s;

	if (doc == NULL || !bson_iter_init_find(&it, doc, "status") ||
	    !BSON_ITER_HOLDS_UTF8(&it))
		return 0;
	s = bson_iter_utf8(&it, NULL);
	return !strcmp(s, "completed") || !strcmp(s, "failed") || !strcmp(s, "cancelled");
}

/* Release the cluster locks of acknowledged contexts that ended. */
static void
push_unlock(struct push_set *p)
{
	struct cluster_lock *locks;
	struct gb_err err = { 0, "" };
	int nl = 0, any = 0;

	if (p->coll != COLL_CONTEXTS || p->c->redis == NULL)
		return;
	for (int i = 0; i < p->n && !any; i++)
		any = (p->res[i] == RES_OK || p->res[i] == RES_CONFLICT) && is_terminal(p->docs[i]);
	if (!any || (locks = calloc(1024, sizeof(*locks))) == NULL)
		return;
	if (store_cluster_lock_list(p->c->st, locks, 1024, &nl, &err))
		log_warnx("cannot read the cluster locks: %s", err.msg);
	for (int i = 0; i < p->n; i++) {
		if ((p->res[i] != RES_OK && p->res[i] != RES_CONFLICT) || !is_terminal(p->docs[i]))
			continue;
		for (int l = 0; l < nl; l++) {
			if (strcmp(locks[l].ctx_id, p->rows[i].id) != 0)
				continue;
			gb_err_clear(&err);
			if (sync_redis_unlock(p->c->redis, locks[l].ctx_id, locks[l].worker_id,
			    &err) ||
			    store_cluster_lock_remove(p->c->st, locks[l].ctx_id, &err))
				log_warnx("cannot release the lock of '%s': %s", locks[l].ctx_id,
				    err.msg);
			break;
		}
	}
	free(locks);
}

/* Write down what the cluster said: acks, rejects, the status. */
static int
push_settle(struct push_set *p, struct gb_err *err)
{
	struct outbox_row *ack = calloc((size_t)p->n + 1, sizeof(*ack));
	char q[160];
	int nack = 0, rc = 0;

	if (ack == NULL)
		return gb_errf(err, GB_ENOMEM, "out of memory");
	for (int i = 0; i < p->n; i++) {
		if (p->res[i] == RES_OK || p->res[i] == RES_CONFLICT)
			ack[nack++] = p->rows[i];
		if (p->res[i] == RES_OK && p->rows[i].doc)
			p->pushed++;
		if (p->res[i] == RES_CONFLICT) {
			p->conflicts++;
			log_warnx("event=push_conflict coll=%s id=%s msg=\"the cluster holds a "
			    "newer copy: kept\"", coll_name(p->coll),
			    log_quoted(q, sizeof(q), p->rows[i].id));
		}
	}
	if (nack && (rc = store_outbox_ack(p->c->st, ack, nack, err)))
		goto out;
	for (int i = 0; i < p->n; i++) {
		if (p->res[i] != RES_REJECT)
			continue;
		log_warnx("event=push_rejected coll=%s id=%s error=%s", coll_name(p->coll),
		    log_quoted(q, sizeof(q), p->rows[i].id), p->msg[i]);
		if ((rc = store_outbox_reject(p->c->st, &p->rows[i], p->msg[i], err)))
			goto out;
		p->rejected++;
	}
	push_unlock(p);
out:
	free(ack);
	return rc;
}

static void
push_note(struct push_set *p, int rc, const struct gb_err *err)
{
	struct gb_err e2 = { 0, "" };
	int64_t now = gb_now_ms();
	struct store *st = p->c->st;

	if (p->pushed)
		store_sync_note(st, p->coll, SYNC_PUSHED, p->pushed, NULL, now, &e2);
	if (p->conflicts)
		store_sync_note(st, p->coll, SYNC_CONFLICT, p->conflicts, NULL, now, &e2);
	if (p->rejected)
		store_sync_note(st, p->coll, SYNC_REJECTED, p->rejected, NULL, now, &e2);
	if (rc)
		store_sync_note(st, p->coll, SYNC_ERROR, 0, err->msg, now, &e2);
	else if (p->retry_msg[0])
		store_sync_note(st, p->coll, SYNC_ERROR, 0, p->retry_msg, now, &e2);
	else
		store_sync_note(st, p->coll, SYNC_OK, 0, NULL, now, &e2);
	if (e2.code)
		log_warnx("cannot record the sync status: %s", e2.msg);
}

/* One collection's rows of the round, to MongoDB. */
static int
push_coll(struct sync_ctx *c, enum coll coll, struct outbox_row *rows, int n, int64_t *acked,
    int64_t *pushed, struct gb_err *err)
{
	struct push_set p;
	int rc, before, fail_state = -1;

	memset(&p, 0, sizeof(p));
	p.c = c;
	p.coll = coll;
	p.rows = rows;
	p.n = n;
	p.docs = calloc((size_t)n, sizeof(*p.docs));
	p.filters = calloc((size_t)n, sizeof(*p.filters));
	p.res = calloc((size_t)n, sizeof(*p.res));
	p.msg = calloc((size_t)n, sizeof(*p.msg));
	if (!p.docs || !p.filters || !p.res || !p.msg) {
		rc = gb_errf(err, GB_ENOMEM, "out of memory");
		goto out;
	}
	before = atomic_load(&c->s->state);
	rc = push_send(&p, err);
	if (rc) {
		/* the state the error calls for, set once the error is recorded below */
		fail_state = atomic_load(&c->s->state);
		sync_set_state(c->s, (enum sync_st)before);
	}
	if (rc == 0 || rc == GB_ETRANSIENT || rc == GB_EPERM || rc == GB_EIO) {
		struct gb_err serr = { 0, "" };
		/* even after a failed send, rows settled before it (conversion) count */
		int src = push_settle(&p, &serr);

		if (src && rc == 0) {
			rc = src;
			*err = serr;
		}
	}
	if (rc != GB_ESTATE)	/* not when sync is stopping: nothing was said */
		push_note(&p, rc, err);
	if (fail_state >= 0)
		sync_set_state(c->s, (enum sync_st)fail_state);
	*acked += p.pushed + p.conflicts + p.rejected;
	*pushed += p.pushed;
	if (rc == 0 && p.retry_msg[0])
		rc = gb_errf(err, GB_ETRANSIENT, "%s", p.retry_msg);
	if (rc == 0)
		sync_set_state(c->s, SYNC_ST_OK);
	for (int i = 0; i < n; i++) {
		if (p.docs[i])
			bson_destroy(p.docs[i]);
		if (p.filters[i])
			bson_destroy(p.filters[i]);
	}
out:
	free(p.docs);
	free(p.filters);
	free(p.res);
	free(p.msg);
	return rc;
}

/* The organization a component row belongs to, "" when unknown (deleted). */
static void
row_org(const struct outbox_row *row, char *org, size_t size)
{
	cJSON *doc = row->doc ? cJSON_ParseWithLength(row->doc, row->len) : NULL;
	const char *o = json_get_str(doc, "organization_id");

	snprintf(org, size, "%s", o ? o : "");
	cJSON_Delete(doc);
}

/* Template and component rows: drop the cluster's cache keys, then acknowledge. */
static int
push_cache(struct sync_ctx *c, enum coll coll, struct outbox_row *rows, int n, int64_t *acked,
    struct gb_err *err)
{
	struct sync *s = c->s;
	struct gb_err rerr = { 0, "" };
	char org[STORE_ID_MAX];
	int rc = 0;

	for (int i = 0; i < n && c->redis && rc == 0; i++) {
		if (coll == COLL_TEMPLATES) {
			rc = sync_redis_template_drop(c->redis, rows[i].id, &rerr);
			continue;
		}
		row_org(&rows[i], org, sizeof(org));
		if (org[0])
			rc = sync_redis_registry_drop(c->redis, org, &rerr);
		for (int o = 0; !org[0] && o < s->cfg.n_orgs && rc == 0; o++)
			rc = sync_redis_registry_drop(c->redis, s->cfg.orgs[o], &rerr);
	}
	if (rc) {
		store_sync_note(c->st, coll, SYNC_ERROR, 0, rerr.msg, gb_now_ms(), err);
		return gb_errf(err, GB_ETRANSIENT, "cannot drop the cached %s in Redis: %s",
		    coll_name(coll), rerr.msg);
	}
	if ((rc = store_outbox_ack(c->st, rows, n, err)))
		return rc;
	*acked += n;
	return 0;
}

int
push_round(struct sync_ctx *c, int *sent, int64_t *acked, int64_t *pushed, struct gb_err *err)
{
	static const enum coll order[] = { COLL_CONTEXTS, COLL_BATCHES, COLL_PIPELINES,
	    COLL_USERS, COLL_ORGANIZATIONS, COLL_TEMPLATES, COLL_COMPONENTS };
	struct outbox_row *rows = calloc(SYNC_PUSH_BATCH, sizeof(*rows));
	struct outbox_row *part = calloc(SYNC_PUSH_BATCH, sizeof(*part));
	int n = 0, rc = 0, rc_cache = 0;
	struct gb_err cerr = { 0, "" };

	*sent = 0;
	if (rows == NULL || part == NULL) {
		rc = gb_errf(err, GB_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = store_outbox_take(c->st, 0, SYNC_PUSH_BATCH, rows, &n, err)))
		goto out;
	*sent = n;
	for (size_t o = 0; o < sizeof(order) / sizeof(order[0]) && rc == 0; o++) {
		int k = 0;

		for (int i = 0; i < n; i++)
			if (rows[i].coll == order[o])
				part[k++] = rows[i];
		if (k == 0)
			continue;
		if (order[o] == COLL_TEMPLATES || order[o] == COLL_COMPONENTS) {
			/* a Redis failure leaves these rows; the documents go on */
			if (!rc_cache)
				rc_cache = push_cache(c, order[o], part, k, acked, &cerr);
		} else {
			rc = push_coll(c, order[o], part, k, acked, pushed, err);
		}
	}
	if (rc == 0 && rc_cache) {
		log_warnx("%s", cerr.msg);
		rc = gb_errf(err, rc_cache, "%s", cerr.msg);
	}
out:
	store_outbox_rows_free(rows, n);
	free(rows);
	free(part);
	return rc;
}
