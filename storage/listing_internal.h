/*
 * listing_internal.h - what listing.c shares with listquery.c and ctxops.c:
 * a list query checked and ready to walk, the cursor's form, and the rows
 * of a walk. Not for use outside storage/.
 */
#ifndef GB_STORAGE_LISTING_INTERNAL_H
#define GB_STORAGE_LISTING_INTERNAL_H

#include "listing.h"

#define LIST_KEY_MAX 64			/* bytes of a created_at bound, NUL included */

/* A ctx_query checked: bounds in the stored date form, the cursor decoded. */
struct list_plan {
	const char *org, *type, *batch_id, *user_id, *q;	/* borrowed from the query */
	unsigned statuses;
	int limit;
	int empty;			/* the status set is empty: nothing matches */
	char lo[LIST_KEY_MAX];		/* created_at > lo ("": none) */
	char hi_created[LIST_KEY_MAX];	/* (created_at, _id) < (hi_created, hi_id) */
	char hi_id[STORE_ID_MAX];
};

/* A context as a walk reads it; every string malloc'd. */
struct list_row {
	char *id, *created_at, *status, *type, *batch_id, *user_id, *title, *updated_at;
	char *error;			/* the document's error as JSON text, or NULL */
	int64_t retry_count;
};

struct list_rows {
	struct list_row *v;
	int n, cap;
};

/* Check q into p (GB_EINVAL naming the bad field). */
int list_plan_init(struct list_plan *p, const struct ctx_query *q, struct gb_err *err);
/* Move p's upper bound below (created_at, id): the next page. */
void list_plan_below(struct list_plan *p, const char *created_at, const char *id);
/* The cursor of position (created_at, id) into out. */
int list_cursor_encode(const char *created_at, const char *id, char out[LIST_CURSOR_MAX],
    struct gb_err *err);
/* A cursor back into its position; GB_EINVAL "bad cursor". */
int list_cursor_decode(const char *cursor, char created_at[LIST_KEY_MAX], char id[STORE_ID_MAX],
    struct gb_err *err);

/*
 * Walk p: rows (newest first) receives up to want + 1 matching contexts,
 * the walks examining about budget rows at most; when one stopped early
 * *partial is 1, stop the cursor to go on from, and rows hold only what
 * lies above that point. Caller frees rows with list_rows_free.
 */
int list_collect(struct store *st, const struct list_plan *p, int want, int budget,
    struct list_rows *rows, int *partial, char stop[LIST_CURSOR_MAX], struct gb_err *err);
void list_rows_free(struct list_rows *rows);

/* Whether any batch is paused (the queue's claims check each context's batch only then). */
int list_any_paused(struct store *st, int *any, struct gb_err *err);

#endif
