/*
 * listing.h - what the API and the web UI read and change on contexts and
 * batches: an organization's lists (filters, newest first, opaque cursors),
 * counts per status and throughput per minute kept by triggers (no scan of
 * contexts), retry and cancel of one context or of every context a filter
 * matches, and pausing a batch.
 *
 * Every function that takes an organization only ever sees or changes that
 * organization's objects: another organization's object is GB_ENOTFOUND,
 * exactly as a missing one.
 *
 * All functions return 0 or a negative GB_E* code with a message in err.
 */
#ifndef GB_STORAGE_LISTING_H
#define GB_STORAGE_LISTING_H

#include <stdint.h>

#include "store.h"

#define LIST_MAX_LIMIT	200		/* items in one page */
#define LIST_CURSOR_MAX	256		/* bytes in a cursor, NUL included */
/* rows one call of store_ctx_list examines at most before it answers with what it has */
#define LIST_MAX_EXAMINED 20000

/* A filter on an organization's contexts (the list query of the API). */
struct ctx_query {
	const char *org;		/* required */
	unsigned statuses;		/* bits 1u << enum ctx_status; 0: any */
	const char *type;		/* NULL: any (the same for each field below) */
	const char *batch_id;
	const char *user_id;
	const char *created_after;	/* created_at > this: ISO-8601 or milliseconds since
					 * the epoch */
	const char *created_before;	/* created_at < this: the same forms */
	const char *q;			/* substring of data.title, ASCII letters without
					 * regard to case */
	int limit;			/* 1..LIST_MAX_LIMIT; 0: 50 */
	const char *cursor;		/* a next_cursor of the same query, or NULL for the
					 * first page */
};

/*
 * One context in a list. Every pointer is borrowed for the callback's
 * duration; absent fields are NULL. error: the document's error.message
 * (or error when it is a string), NULL when there is none.
 */
struct ctx_summary {
	const char *id, *type, *status, *batch_id, *user_id, *title;
	const char *created_at, *updated_at, *error;
	int64_t retry_count;
};

typedef int (*ctx_summary_fn)(void *arg, const struct ctx_summary *s);

/*
 * The page of q's contexts, newest first (created_at, then _id, both
 * descending): fn once per summary, at most q->limit times (a non-zero
 * return stops and is returned). next_cursor (LIST_CURSOR_MAX bytes)
 * receives the cursor of the next page, "" when this is the last one.
 * Each filter is one index range walk; the filters the walk's index does
 * not hold (and q's title search) are checked on the rows walked, at most
 * LIST_MAX_EXAMINED of them: then the page holds what was found so far,
 * *partial (may be NULL) is 1 and next_cursor goes on from there.
 * GB_EINVAL for a bad limit, date, status set or cursor (the message names
 * it: "bad cursor").
 */
int store_ctx_list(struct store *st, const struct ctx_query *q, ctx_summary_fn fn, void *arg,
    char next_cursor[LIST_CURSOR_MAX], int *partial, struct gb_err *err);

/*
 * The batch documents of org (status NULL: any, else a status name),
 * newest first, without context_ids: fn(arg, doc, len) per batch, with
 * paused 1 when the batch is paused; cursor and next_cursor as for
 * store_ctx_list. GB_EINVAL for a bad limit, status or cursor.
 */
typedef int (*batch_list_fn)(void *arg, const char *doc, size_t len, int paused);
int store_batch_list(struct store *st, const char *org, const char *status, int limit,
    const char *cursor, batch_list_fn fn, void *arg, char next_cursor[LIST_CURSOR_MAX],
    struct gb_err *err);

/*
 * Pause (paused 1) or resume (0) batch id of org: while paused no claim or
 * peek takes its contexts (running ones end normally). Pausing twice or
 * resuming a batch that runs is no error. GB_ENOTFOUND when no such batch
 * of org.
 */
int store_batch_pause(struct store *st, const char *id, const char *org, int paused, int64_t now_ms,
    struct gb_err *err);
/* Whether batch id is paused. */
int store_batch_paused(struct store *st, const char *id, int *paused, struct gb_err *err);

/*
 * Contexts of org per status (counts[s] for every enum ctx_status); org
 * NULL: of every organization. Read from the counter rows, never a scan.
 */
int store_ctx_org_counts(struct store *st, const char *org, int64_t counts[CTX_STATUS_COUNT],
    struct gb_err *err);

/* One minute of throughput: contexts that became completed or failed in it. */
struct ctx_minute {
	int64_t minute_ms;		/* the minute's start */
	int64_t completed, failed;
};

/*
 * The minutes minutes up to and including now_ms's, oldest first, zeros
 * included, of org (NULL: every organization) into out (minutes slots,
 * 1..1440).
 */
int store_ctx_throughput(struct store *st, const char *org, int64_t now_ms, int minutes,
    struct ctx_minute *out, struct gb_err *err);
/* Forget throughput older than two days before now_ms; *n (may be NULL): rows removed. */
int store_throughput_prune(struct store *st, int64_t now_ms, int *n, struct gb_err *err);

/*
 * Retry context id of org: failed or cancelled -> pending, due now, its
 * error cleared, its lease and end time dropped, retry_count and the
 * progress made (processing.completed_components, timings) kept so it
 * resumes where it stopped. Its batch counts it as not ended again and,
 * when the batch had ended, is processing again. GB_ENOTFOUND when there is
 * no such context of org, GB_ESTATE when it is pending, processing or
 * completed.
 */
int store_ctx_retry(struct store *st, const char *id, const char *org, int64_t now_ms,
    struct gb_err *err);
/*
 * store_ctx_cancel for a context of org (NULL: any): GB_ENOTFOUND when there
 * is no such context of org, GB_ESTATE when it has already ended.
 */
int store_ctx_cancel_org(struct store *st, const char *id, const char *org, int64_t now_ms,
    struct gb_err *err);

enum ctx_bulk_action { BULK_RETRY, BULK_CANCEL };

/*
 * Retry (failed and cancelled ones) or cancel (pending and processing ones)
 * every context filter matches (its limit and cursor are ignored), a few
 * hundred per transaction so the queue is never held up for long. *matched:
 * the contexts the filter matched that the action applies to; *changed:
 * those it changed (0 with dry_run, which changes nothing).
 */
int store_ctx_bulk(struct store *st, const struct ctx_query *filter, enum ctx_bulk_action action,
    int dry_run, int64_t now_ms, int64_t *matched, int64_t *changed, struct gb_err *err);

/*
 * The query plans of the walks store_ctx_list makes for q (one per status
 * of its set when its walk is by status), for tests; *plan malloc'd.
 */
int store_ctx_list_explain(struct store *st, const struct ctx_query *q, char **plan,
    struct gb_err *err);

#endif
