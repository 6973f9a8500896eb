/*
 * t109-storage-outbox - what sync keeps in the database: the outbox the
 * triggers fill (off until sync is enabled, coalescing, order, ack, reject,
 * depth, the queue's claims and ends), two processes queuing at once, the
 * cluster locks, sync's marks and the pipeline stat rows. The pull's side is
 * t109-storage-syncapply.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../base/gbtime.h"
#include "../storage/docs.h"
#include "../storage/outbox.h"
#include "../storage/pipestats.h"
#include "../storage/queue.h"
#include "../storage/store.h"
#include "tap.h"
#include "util.h"

#include "outboxtest.h"

/* Nothing is recorded while sync is off: not writes, not claims, not ends. */
static void
test_off(void)
{
	struct ctx_finish f = { CTX_COMPLETED, NOW + 10, 5, 0, 0, 0, 0, NULL, 0 };
	char ids[4][STORE_ID_MAX];
	int on = -1, n = 0;

	st = open_db("off.db");
	is_int(store_sync_enabled(st, &on, &err), 0, "sync's state is read");
	is_int(on, 0, "a new database has sync off");
	put_ctx("ctx_off1", "pending", 1, 0);
	put(COLL_BATCHES, "{\"_id\":\"batch_off\",\"organization_id\":\"org_a\"}");
	put(COLL_TEMPLATES, "{\"_id\":\"tmpl_off\",\"organization_id\":\"org_a\",\"name\":\"T\"}");
	is_int(store_queue_claim(st, "w1", NULL, NOW, 60000, 4, ids, &n, &err), 0, "a claim");
	is_int(store_ctx_finish(st, "ctx_off1", "w1", &f, &err), 0, "and an end");
	is_int(depth(-1), 0, "leave no outbox row while sync is off");
	store_close(st);
}

/* Enabling queues the contexts and batches already there, once. */
static void
test_enable(void)
{
	int64_t queued = -1;
	int on = 0;

	st = open_db("enable.db");
	put_ctx("ctx_e1", "pending", 1, 0);
	put_ctx("ctx_e2", "completed", 2, 0);
	put(COLL_BATCHES, "{\"_id\":\"batch_e\",\"organization_id\":\"org_a\"}");
	put(COLL_TEMPLATES, "{\"_id\":\"tmpl_e\",\"organization_id\":\"org_a\",\"name\":\"T\"}");
	is_int(store_sync_enable(st, &queued, &err), 0, "sync is turned on");
	is_int(queued, 3, "queuing the 2 contexts and the batch already there");
	store_sync_enabled(st, &on, &err);
	is_int(on, 1, "sync reads as on");
	is_int(depth(COLL_CONTEXTS), 2, "2 context rows");
	is_int(depth(COLL_BATCHES), 1, "1 batch row");
	is_int(depth(COLL_TEMPLATES), 0, "the template was not queued");
	is_int(store_sync_enable(st, &queued, &err), 0, "turning it on again");
	is_int(queued, 0, "queues nothing new");
	is_int(depth(-1), 3, "still 3 rows");
	store_close(st);
}

/* Changes coalesce into one row per document; lease renewals are not changes. */
static void
test_coalesce(void)
{
	struct outbox_row rows[MAXROWS], *r;
	char ids[4][STORE_ID_MAX];
	int n = 0;

	st = open_db("coalesce.db");
	store_sync_enable(st, NULL, &err);
	put_ctx("ctx_c1", "pending", 1, 0);
	is_int(ver_of("ctx_c1"), 1, "an insert queues version 1");
	put_ctx("ctx_c1", "pending", 2, 0);
	is_int(store_ctx_set_status(st, "ctx_c1", CTX_PROCESSING, NOW, -1, &err), 0,
	    "a status change");
	is_int(depth(COLL_CONTEXTS), 1, "3 changes leave 1 row");
	is_int(ver_of("ctx_c1"), 3, "at version 3");
	n = take(0, rows, MAXROWS);
	r = row_of(rows, n, "ctx_c1");
	ok(r && r->doc && r->coll == COLL_CONTEXTS, "the row comes with its document");
	like(r ? r->doc : "", "\"status\":\"processing\"",
	    "as it is now (the status column laid over it)");
	like(r ? r->doc : "", "\"created_at\":{\"$date\":\"2024-01-01T00:00:00.000Z\"}",
	    "dates as Extended JSON");
	store_outbox_rows_free(rows, n);
	store_ctx_set_status(st, "ctx_c1", CTX_PENDING, NOW, -1, &err);
	is_int(store_queue_claim(st, "w1", NULL, NOW, 60000, 4, ids, &n, &err), 0, "a claim");
	is_int(ver_of("ctx_c1"), 5, "is a change (version 5)");
	is_int(store_queue_extend(st, "w1", NOW + 120000, &n, &err), 0, "a lease renewal");
	is_int(n, 1, "extends the lease");
	is_int(ver_of("ctx_c1"), 5, "and is not a change");
	store_close(st);
}

/* Rows come oldest first by seq, of the collections asked for. */
static void
test_take_order(void)
{
	struct outbox_row rows[MAXROWS];
	int n, inorder = 1;

	st = open_db("order.db");
	store_sync_enable(st, NULL, &err);
	put_ctx("ctx_o3", "pending", 1, 0);
	put(COLL_BATCHES, "{\"_id\":\"batch_o1\",\"organization_id\":\"org_a\"}");
	put_ctx("ctx_o1", "pending", 1, 0);
	put_ctx("ctx_o2", "pending", 1, 0);
	put_ctx("ctx_o3", "pending", 2, 0);	/* a later change keeps its place */
	n = take(0, rows, MAXROWS);
	is_int(n, 4, "4 rows");
	for (int i = 1; i < n; i++)
		inorder &= rows[i].seq > rows[i - 1].seq;
	ok(inorder, "in seq order");
	ok(n == 4 && strcmp(rows[0].id, "ctx_o3") == 0 && strcmp(rows[1].id, "batch_o1") == 0 &&
	    strcmp(rows[2].id, "ctx_o1") == 0 && strcmp(rows[3].id, "ctx_o2") == 0,
	    "each at the place of its first unsent change");
	ok(n == 4 && rows[0].ver == 2 && rows[1].coll == COLL_BATCHES,
	    "with version and collection");
	store_outbox_rows_free(rows, n);
	n = take(0, rows, 2);
	ok(n == 2 && strcmp(rows[1].id, "batch_o1") == 0, "at most max of them");
	store_outbox_rows_free(rows, n);
	n = take(1u << COLL_BATCHES, rows, MAXROWS);
	ok(n == 1 && strcmp(rows[0].id, "batch_o1") == 0, "only the collections of the mask");
	like(n == 1 && rows[0].doc ? rows[0].doc : "", "\"_id\":\"batch_o1\"",
	    "the batch's document");
	store_outbox_rows_free(rows, n);
	n = take((1u << COLL_TEMPLATES) | (1u << COLL_COMPONENTS), rows, MAXROWS);
	is_int(n, 0, "none of collections without rows");
	store_close(st);
}

/* An ack deletes only the versions taken; a change after the take stays. */
static void
test_ack(void)
{
	struct outbox_row rows[MAXROWS];
	int n;

	st = open_db("ack.db");
	store_sync_enable(st, NULL, &err);
	put_ctx("ctx_a1", "pending", 1, 0);
	put_ctx("ctx_a2", "pending", 1, 0);
	put_ctx("ctx_a3", "pending", 1, 0);
	n = take(0, rows, MAXROWS);
	is_int(n, 3, "3 rows taken");
	put_ctx("ctx_a2", "pending", 5, 0);	/* changed while being sent */
	is_int(store_outbox_ack(st, rows, n, &err), 0, "all 3 acknowledged");
	store_outbox_rows_free(rows, n);
	n = take(0, rows, MAXROWS);
	ok(n == 1 && strcmp(rows[0].id, "ctx_a2") == 0, "the one changed after the take stays");
	ok(n == 1 && rows[0].ver == 2, "at its new version");
	like(n == 1 && rows[0].doc ? rows[0].doc : "", "00:00:05.000Z", "with the new document");
	is_int(store_outbox_ack(st, rows, n, &err), 0, "acknowledged in turn");
	store_outbox_rows_free(rows, n);
	is_int(depth(-1), 0, "the outbox is empty");
	is_int(store_outbox_ack(st, rows, 0, &err), 0, "an empty ack is fine");
	store_close(st);
}

/* A refused document: recorded, out of the way, back when it changes, cleared by an ack. */
static void
test_reject(void)
{
	struct outbox_row rows[MAXROWS];
	struct rejected_doc rej[4];
	int64_t total = -1;
	int n, nr = -1;

	st = open_db("reject.db");
	store_sync_enable(st, NULL, &err);
	put_ctx("ctx_r1", "pending", 1, 0);
	put_ctx("ctx_r2", "pending", 1, 0);
	n = take(0, rows, 1);
	ok(n == 1 && strcmp(rows[0].id, "ctx_r1") == 0, "the first row is taken");
	is_int(store_outbox_reject(st, &rows[0], "document too large (code 10334)", &err), 0,
	    "and refused by the cluster");
	store_outbox_rows_free(rows, n);
	is_int(store_rejected_list(st, rej, 4, &nr, &total, &err), 0, "the rejected list is read");
	ok(nr == 1 && total == 1 && strcmp(rej[0].id, "ctx_r1") == 0 &&
	    rej[0].coll == COLL_CONTEXTS,
	    "it holds the document");
	is_str(nr == 1 ? rej[0].error : "", "document too large (code 10334)",
	    "with the cluster's error");
	ok(nr == 1 && rej[0].at_ms > 0, "and when");
	n = take(0, rows, MAXROWS);
	ok(n == 1 && strcmp(rows[0].id, "ctx_r2") == 0, "the row behind it is not blocked");
	store_outbox_ack(st, rows, n, &err);
	store_outbox_rows_free(rows, n);
	is_int(depth(-1), 0, "the refused row is gone from the outbox");
	put_ctx("ctx_r1", "pending", 2, 0);
	n = take(0, rows, MAXROWS);
	ok(n == 1 && strcmp(rows[0].id, "ctx_r1") == 0, "a later local change queues it again");
	store_rejected_list(st, rej, 4, &nr, &total, &err);
	is_int(total, 1, "it is still listed as rejected until the cluster takes it");
	is_int(store_outbox_ack(st, rows, n, &err), 0, "the cluster takes it");
	store_outbox_rows_free(rows, n);
	store_rejected_list(st, rej, 4, &nr, &total, &err);
	ok(nr == 0 && total == 0, "and the rejected record is cleared");
	/* refused while it changed again: the new version stays queued */
	n = take(0, rows, MAXROWS);
	is_int(n, 0, "nothing queued");
	put_ctx("ctx_r2", "pending", 3, 0);
	n = take(0, rows, MAXROWS);
	put_ctx("ctx_r2", "pending", 4, 0);
	is_int(store_outbox_reject(st, &rows[0], "validation failed", &err), 0,
	    "a row refused after it changed again");
	store_outbox_rows_free(rows, n);
	n = take(0, rows, MAXROWS);
	ok(n == 1 && rows[0].ver == 2, "stays queued at its new version");
	{
		char big[601] = "";

		for (int i = 0; i < 300; i++)
			strcat(big, "\xc3\xa9");
		store_outbox_reject(st, &rows[0], big, &err);
		store_rejected_list(st, rej, 4, &nr, &total, &err);
		ok(nr == 1 && strlen(rej[0].error) == 254 && strncmp(rej[0].error, big, 254) == 0,
		    "a long error is listed cut at a character's end (%zu bytes)",
		    strlen(rej[0].error));
	}
	store_outbox_rows_free(rows, n);
	store_close(st);
}

/* Depth and the age of the oldest row; deletes are not queued; the catalog is. */
static void
test_depth_and_catalog(void)
{
	struct outbox_row rows[MAXROWS];
	int64_t d = -1, oldest = -1, t0 = gb_now_ms(), t1;
	struct outbox_row *r;
	int n;

	st = open_db("depth.db");
	store_sync_enable(st, NULL, &err);
	is_int(store_outbox_depth(st, -1, &d, &oldest, &err), 0, "depth of an empty outbox");
	ok(d == 0 && oldest == 0, "is 0, no oldest");
	put_ctx("ctx_d1", "pending", 1, 0);
	usleep(20000);
	put_ctx("ctx_d2", "pending", 1, 0);
	put(COLL_BATCHES, "{\"_id\":\"batch_d\",\"organization_id\":\"org_a\"}");
	t1 = gb_now_ms();
	store_outbox_depth(st, COLL_CONTEXTS, &d, &oldest, &err);
	is_int(d, 2, "2 context rows");
	ok(oldest >= t0 - 5 && oldest <= t1 - 15,
	    "the oldest is the first one's time (%lld in %lld..%lld)",
	    (long long)oldest, (long long)t0, (long long)t1);
	store_outbox_depth(st, COLL_BATCHES, &d, NULL, &err);
	is_int(d, 1, "1 batch row");
	is_int(store_outbox_depth(st, COLL_COUNT, &d, NULL, &err), GB_EINVAL,
	    "an unknown collection is refused");
	n = take(0, rows, MAXROWS);
	store_outbox_ack(st, rows, n, &err);
	store_outbox_rows_free(rows, n);
	is_int(store_delete(st, COLL_CONTEXTS, "ctx_d1", &err), 0, "a context deleted (retention)");
	is_int(store_delete(st, COLL_BATCHES, "batch_d", &err), 0, "and a batch");
	is_int(depth(-1), 0, "are not queued");
	put(COLL_TEMPLATES, "{\"_id\":\"tmpl_d\",\"organization_id\":\"org_a\",\"name\":\"T\"}");
	put(COLL_COMPONENTS, "{\"_id\":\"comp_d\",\"organization_id\":\"org_a\",\"type\":\"llm\"}");
	is_int(depth(COLL_TEMPLATES), 1, "a new template is queued");
	is_int(depth(COLL_COMPONENTS), 1, "a new component too");
	n = take(0, rows, MAXROWS);
	store_outbox_ack(st, rows, n, &err);
	store_outbox_rows_free(rows, n);
	put(COLL_TEMPLATES, "{\"_id\":\"tmpl_d\",\"organization_id\":\"org_a\",\"name\":\"T2\"}");
	is_int(depth(COLL_TEMPLATES), 1, "a changed template is queued");
	store_delete(st, COLL_COMPONENTS, "comp_d", &err);
	is_int(depth(COLL_COMPONENTS), 1, "a deleted component too");
	n = take(1u << COLL_COMPONENTS, rows, MAXROWS);
	r = row_of(rows, n, "comp_d");
	ok(r && r->doc == NULL && r->len == 0, "its row comes without a document");
	store_outbox_rows_free(rows, n);
	store_close(st);
}

static void
test_locks_meta(void)
{
	struct cluster_lock locks[4];
	char val[32];
	int n = -1, found = -1;

	st = open_db("locks.db");
	is_int(store_cluster_lock_add(st, "ctx_l2", "box-1:7", 2000, &err), 0,
	    "a lock is recorded");
	store_cluster_lock_add(st, "ctx_l1", "box-1:7", 1000, &err);
	store_cluster_lock_add(st, "ctx_l3", "box-1:8", 3000, &err);
	is_int(store_cluster_lock_list(st, locks, 4, &n, &err), 0, "the locks are listed");
	ok(n == 3 && strcmp(locks[0].ctx_id, "ctx_l1") == 0 && strcmp(locks[2].ctx_id,
	    "ctx_l3") == 0 &&
	    strcmp(locks[2].worker_id, "box-1:8") == 0 && locks[0].taken_ms == 1000,
	    "oldest first");
	is_int(store_cluster_lock_remove(st, "ctx_l1", &err), 0, "one is removed");
	store_cluster_lock_list(st, locks, 1, &n, &err);
	ok(n == 1 && strcmp(locks[0].ctx_id, "ctx_l2") == 0, "and gone; at most max listed");
	is_int(store_sync_meta_get(st, "stats_rowid", val, sizeof(val), &found, &err), 0,
	    "a mark is read");
	is_int(found, 0, "absent at first");
	store_sync_meta_set(st, "stats_rowid", "42", &err);
	store_sync_meta_get(st, "stats_rowid", val, sizeof(val), &found, &err);
	ok(found && strcmp(val, "42") == 0, "and as set");
	store_close(st);
}

/* Claims and ends of the queue, and the batch counters they move, are changes. */
static void
test_queue_changes(void)
{
	struct ctx_finish done = { CTX_COMPLETED, NOW + 10, 5, 0, 0, 0, 0, NULL, 0 };
	struct ctx_finish retry = { CTX_PENDING, NOW + 10, 0, NOW + 60000, 0, 0, 0, NULL, 0 };
	char ids[4][STORE_ID_MAX];
	int n = 0;

	st = open_db("queue.db");
	store_sync_enable(st, NULL, &err);
	put(COLL_BATCHES,
	    "{\"_id\":\"batch_q\",\"organization_id\":\"org_a\",\"context_count\":3}");
	for (int i = 1; i <= 3; i++)
		put(COLL_CONTEXTS,
		    "{\"_id\":\"ctx_q%d\",\"organization_id\":\"org_a\",\"batch_id\":\"batch_q\"}",
		    i);
	drain();
	is_int(store_queue_claim(st, "w1", NULL, NOW, 60000, 4, ids, &n, &err), 0,
	    "3 contexts claimed");
	is_int(depth(COLL_CONTEXTS), 3, "3 context rows");
	is_int(depth(COLL_BATCHES), 1, "and their batch's (processing now)");
	drain();
	is_int(store_ctx_finish(st, "ctx_q1", "w1", &done, &err), 0, "one completes");
	is_int(store_ctx_finish(st, "ctx_q2", "w1", &retry, &err), 0, "one is to be retried");
	is_int(store_ctx_cancel(st, "ctx_q3", NOW + 10, &err), 0, "one is cancelled");
	is_int(depth(COLL_CONTEXTS), 3, "each is queued");
	is_int(depth(COLL_BATCHES), 1, "and the batch, whose counters moved");
	store_close(st);
}

#define PER_CHILD 300

/* Two processes, each with its own connection, queue at once: no row is lost. */
static void
test_two_processes(void)
{
	struct outbox_row *rows = calloc(2 * PER_CHILD + 1, sizeof(*rows));
	pid_t pid[2];
	int n = 0, status, failed = 0, ok2 = 1;

	st = open_db("two.db");
	store_sync_enable(st, NULL, &err);
	store_close(st);
	for (int c = 0; c < 2; c++) {
		if ((pid[c] = fork()) == 0) {
			struct store_opts o = { 0, 0, 0, 10000, 0, 0 };
			struct store *mine = NULL;
			int bad = 0;

			if (store_open(&mine, path, &o, &err))
				_exit(2);
			for (int i = 0; i < PER_CHILD && !bad; i++) {
				char id[64], doc[160];

				snprintf(id, sizeof(id), "ctx_p%d_%03d", c, i);
				snprintf(doc, sizeof(doc),
				    "{\"_id\":\"%s\",\"organization_id\":\"org_a\"}", id);
				bad = store_put(mine, COLL_CONTEXTS, doc, strlen(doc), STORE_INSERT,
				    NULL, &err) ||
				    store_ctx_set_status(mine, id, CTX_PROCESSING, NOW, -1, &err);
			}
			store_close(mine);
			_exit(bad);
		}
	}
	for (int c = 0; c < 2; c++) {
		waitpid(pid[c], &status, 0);
		failed += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
	}
	is_int(failed, 0, "two processes wrote %d contexts each, changing each twice", PER_CHILD);
	st = open_db("two.db");
	n = take(0, rows, 2 * PER_CHILD + 1);
	is_int(n, 2 * PER_CHILD, "every context has its outbox row");
	for (int i = 0; i < n; i++)
		ok2 &= rows[i].ver == 2 && rows[i].doc != NULL;
	ok(ok2, "each at version 2, with its document");
	store_outbox_rows_free(rows, n);
	free(rows);
	store_close(st);
}

static void
test_stat_rows(void)
{
	struct pipeline_stat_row rows[8];
	int n = -1;

	st = open_db("stats.db");
	store_pipeline_stat_add(st, "pipe_a", NOW, 100, &err);
	store_pipeline_stat_add(st, "pipe_b", NOW + 1, 200, &err);
	store_pipeline_stat_add(st, "pipe_a", NOW + 2, 300, &err);
	is_int(store_pipeline_stat_rows(st, 0, 8, rows, &n, &err), 0,
	    "pipeline stat rows are read");
	ok(n == 3 && strcmp(rows[1].pipeline_id, "pipe_b") == 0 && rows[1].at_ms == NOW + 1 &&
	    rows[1].duration_ms == 200 && rows[0].rowid < rows[1].rowid &&
	    rows[1].rowid < rows[2].rowid,
	    "all 3, in the order they were added");
	store_pipeline_stat_rows(st, rows[0].rowid, 1, rows, &n, &err);
	ok(n == 1 && rows[0].duration_ms == 200, "after a rowid, at most max");
	store_pipeline_stat_rows(st, 1000000, 8, rows, &n, &err);
	ok(n == 3 && rows[0].duration_ms == 100, "a mark past the last row reads from the first");
	store_close(st);
}

int
main(void)
{
	test_off();
	test_enable();
	test_coalesce();
	test_take_order();
	test_ack();
	test_reject();
	test_depth_and_catalog();
	test_queue_changes();
	test_two_processes();
	test_locks_meta();
	test_stat_rows();
	return tap_done();
}
