/*
 * pull.c - a collection from the cluster, from its checkpoint on.
 *
 * Pages of page_size documents in (updated_at, _id) order after the
 * checkpoint, read ahead from one cursor by pullfetch.c's thread while this
 * one applies them. A page is applied (store_sync_apply: the newer-wins
 * guard and the job rule) in one transaction with the checkpoint of its
 * last document, so an interrupted pull (an error, a kill) resumes at the
 * page it was reading and never starts over: the pages committed stand and
 * the next round reads from the checkpoint. Each round starts a look-back
 * (lookback_ms) before the checkpoint's updated_at, for documents written
 * late with an older one: what it reads again the store finds the same;
 * only documents after the checkpoint move it (it never goes back) and
 * count as pulled and as conflicts. A document the box cannot store (an _id
 * that is not a string, a document the rules refuse) goes to the rejected
 * list as refused on pull, with a warning: it does not stop the pull.
 *
 * Apart from the pull, pull_undated counts the documents it cannot see
 * (updated_at missing or not a Date) into the status and, when the count
 * changes, the log: a scan of the collection on the cluster, so serve asks
 * it after its first pull round and then once an hour, and the CLI after
 * its pull.
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

/* A document the box cannot store: into the rejected list, with a warning. */
static int
doc_refuse(struct sync_ctx *c, enum coll coll, struct pull_page *pg, struct pull_doc *pd,
    const char *why, struct gb_err *err)
{
	char q[160], qe[300];

	log_warnx("event=pull_refused coll=%s id=%s error=%s", coll_name(coll),
	    log_quoted(q, sizeof(q), pd->id), log_quoted(qe, sizeof(qe), why));
	pg->skipped++;
	pd->org[0] = '\0';
	return store_pull_reject(c->st, coll, pd->id, why, gb_now_ms(), err);
}

/* Apply one document of a page; pd->org cleared when there is nothing to cache. */
static int
doc_apply(struct sync_ctx *c, enum coll coll, struct pull_page *pg, struct pull_doc *pd,
    struct gb_err *err)
{
	struct gb_err aerr = { 0, "" };
	enum store_apply res;
	int rc;

	if (pd->json == NULL)
		return doc_refuse(c, coll, pg, pd, pd->error, err);
	/* store_sync_apply undoes its own writes when it fails */
	rc = store_sync_apply(c->st, coll, pd->json, pd->len, &res, NULL, &aerr);
	if (rc == GB_EINVAL || rc == GB_ETOOBIG)
		return doc_refuse(c, coll, pg, pd, aerr.msg, err);
	if (rc)
		return gb_errf(err, rc, "%s", aerr.msg);
	if (res == STORE_APPLY_INSERTED || res == STORE_APPLY_NEWER)
		pg->applied++;
	/* a look-back's document was counted when it was first read */
	else if ((res == STORE_APPLY_OLDER || res == STORE_APPLY_KEPT_TERMINAL) && pd->beyond)
		pg->conflicts++;
	if (res == STORE_APPLY_SAME || res == STORE_APPLY_OLDER)
		pd->org[0] = '\0';	/* nothing new to cache */
	return 0;
}

/* Apply a page and move the checkpoint, in one transaction. */
static int
page_apply(struct sync_ctx *c, enum coll coll, struct pull_checkpoint *cp,
    struct pull_page *pg, struct gb_err *err)
{
	struct pull_checkpoint next = *cp;
	char when[GB_TIME_LEN];
	int rc;

	if ((rc = store_pull_begin(c->st, err)))
		return rc;
	for (int i = 0; i < pg->n; i++)
		if ((rc = doc_apply(c, coll, pg, &pg->docs[i], err)))
			goto fail;
	/* only documents after the checkpoint move it: never backwards */
	if (pg->beyond > 0) {
		snprintf(next.updated_at, sizeof(next.updated_at), "%s",
		    gb_time_format(pg->last_ms, when));
		snprintf(next.id, sizeof(next.id), "%s", pg->last_id);
		next.pulled += pg->beyond;
	}
	if ((rc = store_checkpoint_set(c->st, coll, &next, err)))
		goto fail;
	if ((rc = store_pull_commit(c->st, err)))
		return rc;
	*cp = next;
	return 0;
fail:
	store_pull_rollback(c->st);
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
	    " refused=%" PRId64 " total=%" PRId64, coll_name(coll), pg->seen, pg->applied,
	    pg->conflicts, pg->skipped, cp->pulled);
	if (pg->applied)
		store_sync_note(c->st, coll, SYNC_PULLED, pg->applied, NULL, gb_now_ms(), &e2);
	if (pg->conflicts)
		store_sync_note(c->st, coll, SYNC_CONFLICT, pg->conflicts, NULL, gb_now_ms(),
		    &e2);
	if (e2.code)
		log_warnx("cannot record the sync status: %s", e2.msg);
}

/* The documents of coll the pull cannot see: counted into the status, logged when it changes. */
static void
undated_coll(struct sync_ctx *c, enum coll coll)
{
	struct gb_err e2 = { 0, "" };
	int64_t n = 0;
	int rc;

	if ((rc = pull_count_undated(c, coll, &n, &e2)) == GB_ESTATE && sync_stopping(c->s))
		return;
	c->undated_ms[coll] = gb_now_ms();
	if (rc) {
		log_warnx("cannot count the %s without a Date updated_at: %s", coll_name(coll),
		    e2.msg);
		return;
	}
	if (store_sync_note(c->st, coll, SYNC_UNDATED, n, NULL, gb_now_ms(), &e2))
		log_warnx("cannot record the sync status: %s", e2.msg);
	if (n == c->undated[coll])
		return;
	if (n > 0)
		log_warnx("event=pull_undated coll=%s count=%" PRId64 ": documents of the cluster "
		    "with updated_at missing or not a Date are never pulled", coll_name(coll), n);
	else
		log_info("event=pull_undated coll=%s count=0", coll_name(coll));
	c->undated[coll] = n;
}

/*
 * Apply the pages the reader brings until the end, max_pages, an error or a
 * stop; *fail_state: the state the reader's error calls for (-1: none).
 */
static int
pull_pages(struct sync_ctx *c, enum coll coll, struct pull_checkpoint *cp, int max_pages,
    int *pages, int64_t *pulled, int *fail_state, struct gb_err *err)
{
	struct pull_fetch *f;
	struct pull_page *pg;
	int rc;

	if ((rc = pull_fetch_start(c, coll, cp, &f, err)))
		return rc;
	while ((rc = pull_fetch_next(f, &pg, err)) == 0) {
		if (pg == NULL)		/* the end */
			break;
		if ((rc = page_apply(c, coll, cp, pg, err)) == 0) {
			page_done(c, coll, cp, pg);
			(*pages)++;
			*pulled += pg->applied;
		}
		pull_fetch_release(f, pg);
		if (rc || (max_pages > 0 && *pages >= max_pages) || sync_stopping(c->s))
			break;
	}
	*fail_state = pull_fetch_fail_state(f);
	pull_fetch_free(f);
	return rc;
}

void
pull_undated(struct sync_ctx *c, int due_only)
{
	int64_t now = gb_now_ms();

	if (c->s->cfg.n_orgs == 0)	/* nothing is pulled */
		return;
	for (int i = 0; i < COLL_COUNT && !sync_stopping(c->s); i++)
		if (!due_only || c->undated_ms[i] == 0 ||
		    now - c->undated_ms[i] >= PULL_UNDATED_EVERY_MS)
			undated_coll(c, (enum coll)i);
}

int
pull_coll(struct sync_ctx *c, enum coll coll, int max_pages, int *pages, int64_t *pulled,
    struct gb_err *err)
{
	struct pull_checkpoint cp;
	struct gb_err e2 = { 0, "" };
	int rc, fail_state = -1;

	if ((rc = store_checkpoint_get(c->st, coll, &cp, err)))
		return rc;
	if (max_pages <= 0 || *pages < max_pages)
		rc = pull_pages(c, coll, &cp, max_pages, pages, pulled, &fail_state, err);
	if (rc == GB_ESTATE && sync_stopping(c->s))
		return rc;	/* cut short by the stop: no error of the cluster's */
	if (rc)
		store_sync_note(c->st, coll, SYNC_PULL_ERROR, 0, err->msg, gb_now_ms(), &e2);
	else if (store_sync_note(c->st, coll, SYNC_PULLED, 0, NULL, gb_now_ms(), &e2) == 0)
		/* a pull that found nothing new succeeded too: last_pull_ms moves */
		store_sync_note(c->st, coll, SYNC_PULL_OK, 0, NULL, gb_now_ms(), &e2);
	if (e2.code)
		log_warnx("cannot record the sync status: %s", e2.msg);
	if (rc && fail_state >= 0)	/* the error is recorded: now the state */
		sync_set_state(c->s, (enum sync_st)fail_state);
	if (rc == 0)
		sync_set_state(c->s, SYNC_ST_OK);
	return rc;
}
