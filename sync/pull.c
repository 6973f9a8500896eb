/*
 * pull.c - a collection from the cluster, from its checkpoint on.
 *
 * Pages of page_size documents in (updated_at, _id) order after the
 * checkpoint, read ahead from one cursor by pullfetch.c's thread while this
 * one applies them. A page is applied (store_sync_apply: the newer-wins
 * guard and the job rule) in one transaction with the checkpoint of its
 * last document, so an interrupted pull (an error, a kill) resumes at the
 * page it was reading and never starts over: the pages committed stand and
 * the next round reads from the checkpoint. A document the box cannot
 * store is logged and skipped: it does not stop the pull.
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

/* Apply a page and move the checkpoint, in one transaction. */
static int
page_apply(struct sync_ctx *c, enum coll coll, struct pull_checkpoint *cp,
    struct pull_page *pg, struct gb_err *err)
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
	next.pulled += pg->seen;
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
page_cache(struct sync_ctx *c, enum coll coll, const struct pull_page *pg)
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

/* A page applied: the caches, the progress line, the status. */
static void
page_done(struct sync_ctx *c, enum coll coll, const struct pull_checkpoint *cp,
    const struct pull_page *pg)
{
	struct gb_err e2 = { 0, "" };

	page_cache(c, coll, pg);
	log_info("event=pull coll=%s pulled=%d applied=%" PRId64 " conflicts=%" PRId64
	    " total=%" PRId64, coll_name(coll), pg->seen, pg->applied, pg->conflicts,
	    cp->pulled);
	if (pg->applied)
		store_sync_note(c->st, coll, SYNC_PULLED, pg->applied, NULL, gb_now_ms(), &e2);
	if (pg->conflicts)
		store_sync_note(c->st, coll, SYNC_CONFLICT, pg->conflicts, NULL, gb_now_ms(),
		    &e2);
	if (e2.code)
		log_warnx("cannot record the sync status: %s", e2.msg);
}

/* Apply the pages the reader brings until the end, max_pages, an error or a stop. */
static int
pull_pages(struct sync_ctx *c, enum coll coll, struct pull_checkpoint *cp, int max_pages,
    int *pages, int64_t *pulled, struct gb_err *err)
{
	struct pull_fetch *f;
	struct pull_page *pg;
	int rc;

	if ((rc = pull_fetch_start(c, coll, cp, &f, err)))
		return rc;
	while ((rc = pull_fetch_next(f, &pg, err)) == 0 && pg) {
		if ((rc = page_apply(c, coll, cp, pg, err)) == 0) {
			page_done(c, coll, cp, pg);
			(*pages)++;
			*pulled += pg->applied;
		}
		pull_fetch_release(f, pg);
		if (rc || (max_pages > 0 && *pages >= max_pages) || sync_stopping(c->s))
			break;
	}
	pull_fetch_free(f);
	return rc;
}

int
pull_coll(struct sync_ctx *c, enum coll coll, int max_pages, int *pages, int64_t *pulled,
    struct gb_err *err)
{
	struct pull_checkpoint cp;
	struct gb_err e2 = { 0, "" };
	int rc;

	if ((rc = store_checkpoint_get(c->st, coll, &cp, err)))
		return rc;
	if (max_pages <= 0 || *pages < max_pages)
		rc = pull_pages(c, coll, &cp, max_pages, pages, pulled, err);
	if (rc)
		store_sync_note(c->st, coll, SYNC_PULL_ERROR, 0, err->msg, gb_now_ms(), &e2);
	else if (store_sync_note(c->st, coll, SYNC_PULLED, 0, NULL, gb_now_ms(), &e2) == 0)
		/* a pull that found nothing new succeeded too: last_pull_ms moves */
		store_sync_note(c->st, coll, SYNC_PULL_OK, 0, NULL, gb_now_ms(), &e2);
	if (e2.code)
		log_warnx("cannot record the sync status: %s", e2.msg);
	if (rc == 0)
		sync_set_state(c->s, SYNC_ST_OK);
	return rc;
}
