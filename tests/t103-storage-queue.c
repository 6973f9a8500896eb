/*
 * t103-storage-queue - contexts as a work queue: claims with leases, fair
 * between organizations and in priority order within one, progress, finish,
 * retry, cancel, reaping, and the batch counters that move with each end.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../base/gbtime.h"
#include "../storage/access.h"
#include "../storage/docs.h"
#include "../storage/queue.h"
#include "../storage/store.h"
#include "tap.h"

#define NOW 1700000000000LL

static struct store *st;
static struct gb_err err;

static void
put(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
put(const char *fmt, ...)
{
	char doc[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(doc, sizeof(doc), fmt, ap);
	va_end(ap);
	gb_err_clear(&err);
	if (store_put(st, strncmp(doc, "{\"_id\":\"batch_", 14) == 0 ? COLL_BATCHES : COLL_CONTEXTS, doc, strlen(doc),
	    STORE_INSERT, NULL, &err))
		tap_bail("put %s: %s", doc, err.msg);
}

static char *
field(enum coll c, const char *id, const char *path)
{
	static char out[256];
	char *doc = NULL;
	cJSON *t, *v;
	char p[128], *seg, *save = NULL;

	gb_err_clear(&err);
	if (store_get(st, c, id, &doc, &err))
		return "(missing)";
	t = cJSON_Parse(doc);
	v = t;
	snprintf(p, sizeof(p), "%s", path);
	for (seg = strtok_r(p, ".", &save); seg && v; seg = strtok_r(NULL, ".", &save))
		v = cJSON_GetObjectItemCaseSensitive(v, seg);
	if (v == NULL)
		snprintf(out, sizeof(out), "(none)");
	else if (cJSON_IsString(v))
		snprintf(out, sizeof(out), "%s", v->valuestring);
	else {
		char *s = cJSON_PrintUnformatted(v);

		snprintf(out, sizeof(out), "%s", s);
		free(s);
	}
	cJSON_Delete(t);
	free(doc);
	return out;
}

static void
test_fairness(void)
{
	char ids[8][STORE_ID_MAX];
	int n, done = 0, b_done = 0, b_last = -1;

	store_begin(st, &err);
	for (int i = 0; i < 1000; i++)
		put("{\"_id\":\"ctx_a%04d\",\"organization_id\":\"org_a\",\"created_at\":\"2023-01-01T00:00:00Z\","
		    "\"metadata\":{\"priority\":5}}", i);
	for (int i = 0; i < 10; i++)
		put("{\"_id\":\"ctx_b%04d\",\"organization_id\":\"org_b\",\"created_at\":\"2023-06-01T00:00:00Z\","
		    "\"metadata\":{\"priority\":5}}", i);
	store_commit(st, &err);
	while (b_done < 10 && done < 1010) {
		struct ctx_finish f = { CTX_COMPLETED, NOW, 1, 0, 0, 0, 0, NULL, 0 };

		if (store_queue_claim(st, "w1", NULL, NOW, 300000, 4, ids, &n, &err) || n == 0)
			break;
		for (int i = 0; i < n; i++) {
			store_ctx_finish(st, ids[i], "w1", &f, &err);
			done++;
			if (strncmp(ids[i], "ctx_b", 5) == 0) {
				b_done++;
				b_last = done;
			}
		}
	}
	is_int(b_done, 10, "all 10 contexts of the small organization complete");
	ok(b_last > 0 && b_last <= 30, "within the first 30 completions (the 10th was completion %d), "
	    "although 1000 older ones of another organization were queued", b_last);
}

#define MANY_ORGS 200

/*
 * 200 organizations with due work (the first with a flood of 500), and 50
 * more between them by _id whose work is not due yet: claims of 16 serve
 * every one of the 200 within the first 200 claimed contexts, and never the
 * work that is not due.
 */
static void
test_many_orgs(void)
{
	char ids[16][STORE_ID_MAX];
	int first_at[MANY_ORGS], claimed = 0, n, late = 0, served = 0, last = 0;

	store_begin(st, &err);
	for (int o = 0; o < MANY_ORGS; o++) {
		for (int i = 0; i < (o == 0 ? 500 : 3); i++)
			put("{\"_id\":\"ctx_m%03d_%03d\",\"organization_id\":\"org_m%03d\","
			    "\"created_at\":\"2023-01-01T00:00:00Z\"}", o, i, o);
		first_at[o] = -1;
	}
	for (int o = 0; o < MANY_ORGS; o += 4)
		for (int i = 0; i < 3; i++)
			put("{\"_id\":\"ctx_m%03d_late%d\",\"organization_id\":\"org_m%03d_late\","
			    "\"created_at\":\"2022-01-01T00:00:00Z\",\"next_retry_at\":\"2030-01-01T00:00:00Z\"}",
			    o, i, o);
	store_commit(st, &err);
	while (claimed < 400) {
		gb_err_clear(&err);
		if (store_queue_claim(st, "w1", NULL, NOW, 300000, 16, ids, &n, &err) || n == 0)
			break;
		for (int i = 0; i < n; i++) {
			int o;

			claimed++;
			if (strstr(ids[i], "late"))
				late++;
			else if (sscanf(ids[i], "ctx_m%d_", &o) == 1 && o >= 0 && o < MANY_ORGS && first_at[o] < 0)
				first_at[o] = claimed;
		}
	}
	for (int o = 0; o < MANY_ORGS; o++)
		if (first_at[o] > 0) {
			served++;
			if (first_at[o] > last)
				last = first_at[o];
		}
	is_int(claimed, 400, "claims of 16 take 400 contexts of %d organizations", MANY_ORGS);
	is_int(served, MANY_ORGS, "every one of the %d organizations with due work is served", MANY_ORGS);
	ok(served == MANY_ORGS && last <= MANY_ORGS, "each within the first %d claimed contexts (the last "
	    "was claim %d), although one has 500 queued", MANY_ORGS, last);
	is_int(first_at[MANY_ORGS - 1] > 0, 1, "organizations after the 64th by _id are served too");
	is_int(late, 0, "work that is not due yet is never claimed");
}

static void
test_claims(void)
{
	char ids[16][STORE_ID_MAX];
	int n = 0, reaped = 0;

	put("{\"_id\":\"ctx_p3\",\"organization_id\":\"org_q\",\"created_at\":\"2023-01-01T00:00:03Z\","
	    "\"metadata\":{\"priority\":3}}");
	put("{\"_id\":\"ctx_p1_late\",\"organization_id\":\"org_q\",\"created_at\":\"2023-01-01T00:00:02Z\","
	    "\"metadata\":{\"priority\":1}}");
	put("{\"_id\":\"ctx_p1_early\",\"organization_id\":\"org_q\",\"created_at\":\"2023-01-01T00:00:01Z\","
	    "\"metadata\":{\"priority\":1}}");
	put("{\"_id\":\"ctx_notdue\",\"organization_id\":\"org_q\",\"created_at\":\"2023-01-01T00:00:00Z\","
	    "\"next_retry_at\":\"2099-01-01T00:00:00Z\",\"metadata\":{\"priority\":0}}");
	is_int(store_queue_claim(st, "w1", NULL, NOW, 300000, 2, ids, &n, &err), 0, "claim 2");
	is_int(n, 2, "two claimed");
	is_str(ids[0], "ctx_p1_early", "priority first, then the oldest");
	is_str(ids[1], "ctx_p1_late", "then the next");
	is_str(field(COLL_CONTEXTS, "ctx_p1_early", "status"), "processing", "a claimed context is processing");
	is_str(field(COLL_CONTEXTS, "ctx_p1_early", "processing.started_at"), "2023-11-14T22:13:20.000Z",
	    "with processing.started_at");
	is_int(store_queue_claim(st, "w2", NULL, NOW, 300000, 16, ids, &n, &err), 0, "another worker claims");
	is_int(n, 1, "and gets only what is left and due");
	is_str(ids[0], "ctx_p3", "the priority 3 context; the one not due waits");

	/* leases: extend, then reap what expired and what a dead owner held */
	is_int(store_queue_extend(st, "w1", NOW + 600000, &n, &err), 0, "w1 extends its leases");
	is_int(n, 2, "both of them");
	is_int(store_queue_reap(st, NOW + 400000, NULL, NULL, &reaped, &err), 0, "reap at +400 s");
	is_int(reaped, 1, "only w2's lease (300 s) expired");
	is_str(field(COLL_CONTEXTS, "ctx_p3", "status"), "pending", "its context is pending again");
	{
		struct ctx_edit e = { "$.data.step", "1" };

		is_int(store_ctx_progress(st, "ctx_p3", "w2", &e, 1, NOW, &err), GB_ESTATE,
		    "w2 can no longer record progress on it");
		like(err.msg, "is no longer held by this worker", "and is told why");
		gb_err_clear(&err);
	}
	is_int(store_queue_reap(st, NOW, NULL, NULL, &reaped, &err), 0, "reap now");
	is_int(reaped, 0, "nothing expired");
}

static int
w1_dead(void *arg, const char *owner)
{
	(void)arg;
	return strcmp(owner, "w1") == 0;
}

static void
test_progress_and_end(void)
{
	struct ctx_edit edits[2] = { { "$.data.template", "{\"id\":\"t\",\"sections\":[]}" },
				     { "$.processing.completed_components", "[\"template\"]" } };
	struct ctx_finish f = { CTX_COMPLETED, NOW + 5000, 5000, 0, 100, 50, 0.009, NULL, 0 };
	int reaped = 0;

	is_int(store_ctx_progress(st, "ctx_p1_early", "w1", edits, 2, NOW + 1000, &err), 0, "w1 records progress");
	is_str(field(COLL_CONTEXTS, "ctx_p1_early", "data.template.id"), "t", "the edit is in the document");
	is_str(field(COLL_CONTEXTS, "ctx_p1_early", "status"), "processing", "still processing");
	is_int(store_queue_reap(st, NOW, w1_dead, NULL, &reaped, &err), 0, "reap with w1 gone");
	is_int(reaped, 2, "w1's two contexts go back to the queue");
	is_str(field(COLL_CONTEXTS, "ctx_p1_early", "processing.completed_components"), "[\"template\"]",
	    "progress recorded before is kept");

	/* a batch of two: one completes, one fails */
	put("{\"_id\":\"batch_q\",\"organization_id\":\"org_r\",\"context_ids\":[\"ctx_r1\",\"ctx_r2\"],"
	    "\"status\":\"pending\"}");
	put("{\"_id\":\"ctx_r1\",\"organization_id\":\"org_r\",\"batch_id\":\"batch_q\"}");
	put("{\"_id\":\"ctx_r2\",\"organization_id\":\"org_r\",\"batch_id\":\"batch_q\"}");
	{
		char ids[4][STORE_ID_MAX];
		int n;
		struct ctx_edit e = { "$.error", "{\"component\":\"ai_generator\",\"message\":\"boom\"}" };
		struct ctx_finish fail = { CTX_FAILED, NOW + 9000, 9000, 0, 0, 0, 0, &e, 1 };
		struct ctx_finish retry = { CTX_PENDING, NOW + 2000, -1, NOW + 60000, 0, 0, 0, NULL, 0 };

		store_queue_claim(st, "w3", "batch_q", NOW, 300000, 4, ids, &n, &err);
		is_int(n, 2, "claim a batch's contexts");
		is_str(field(COLL_BATCHES, "batch_q", "status"), "processing", "the batch is processing");
		is_int(store_ctx_finish(st, "ctx_r2", "w3", &retry, &err), 0, "a transient failure: retry");
		is_str(field(COLL_CONTEXTS, "ctx_r2", "status"), "pending", "pending again");
		is_str(field(COLL_CONTEXTS, "ctx_r2", "retry_count"), "1", "retry_count 1");
		is_str(field(COLL_CONTEXTS, "ctx_r2", "next_retry_at"), "2023-11-14T22:14:20.000Z", "next_retry_at set");
		store_queue_claim(st, "w3", "batch_q", NOW + 30000, 300000, 4, ids, &n, &err);
		is_int(n, 0, "not claimable before it is due");
		store_queue_claim(st, "w3", "batch_q", NOW + 60000, 300000, 4, ids, &n, &err);
		is_int(n, 1, "claimable when due");
		is_int(store_ctx_finish(st, "ctx_r1", "w3", &f, &err), 0, "one completes");
		is_str(field(COLL_BATCHES, "batch_q", "completed_count"), "1", "the batch counts it");
		is_str(field(COLL_BATCHES, "batch_q", "status"), "processing", "the batch goes on");
		is_int(store_ctx_finish(st, "ctx_r2", "w3", &fail, &err), 0, "the other fails");
		is_str(field(COLL_CONTEXTS, "ctx_r2", "error.message"), "boom", "its error is recorded");
		is_str(field(COLL_CONTEXTS, "ctx_r2", "status"), "failed", "it is failed");
		is_str(field(COLL_BATCHES, "batch_q", "failed_count"), "1", "the batch counts the failure");
		is_str(field(COLL_BATCHES, "batch_q", "status"), "failed", "and ends failed");
		is_str(field(COLL_BATCHES, "batch_q", "total_duration_ms"), "9000", "total_duration_ms: first claim to end");
		is_str(field(COLL_BATCHES, "batch_q", "usage.prompt_tokens"), "100", "usage is summed on the batch");
		is_str(field(COLL_CONTEXTS, "ctx_r1", "processing.duration_ms"), "5000", "processing.duration_ms");
		is_int(store_ctx_finish(st, "ctx_r1", "w3", &f, &err), GB_ESTATE, "a context ends only once");
		gb_err_clear(&err);
	}

	/* cancel */
	put("{\"_id\":\"batch_c\",\"organization_id\":\"org_r\",\"context_ids\":[\"ctx_c1\"]}");
	put("{\"_id\":\"ctx_c1\",\"organization_id\":\"org_r\",\"batch_id\":\"batch_c\"}");
	is_int(store_ctx_cancel(st, "ctx_c1", NOW, &err), 0, "cancel a pending context");
	is_str(field(COLL_CONTEXTS, "ctx_c1", "status"), "cancelled", "it is cancelled");
	is_str(field(COLL_BATCHES, "batch_c", "status"), "cancelled", "its batch of one is cancelled");
	is_int(store_ctx_cancel(st, "ctx_c1", NOW, &err), GB_ESTATE, "cancelling again is refused");
	gb_err_clear(&err);
}

/* Processing without a lease (set by hand, or imported so): nobody holds it, the reaper returns it. */
static void
test_reap_leaseless(void)
{
	char ids[4][STORE_ID_MAX];
	int reaped = -1, n = 0;

	put("{\"_id\":\"ctx_l1\",\"organization_id\":\"org_l\",\"status\":\"processing\","
	    "\"created_at\":\"2023-01-01T00:00:00Z\"}");
	put("{\"_id\":\"ctx_l2\",\"organization_id\":\"org_l\",\"created_at\":\"2023-01-01T00:00:01Z\"}");
	put("{\"_id\":\"ctx_l3\",\"organization_id\":\"org_l\",\"created_at\":\"2023-01-01T00:00:02Z\"}");
	is_int(store_ctx_set_status(st, "ctx_l2", CTX_PROCESSING, NOW, -1, &err), 0,
	    "a context is set to processing by hand");
	is_int(store_queue_claim(st, "w1", NULL, NOW, 300000, 4, ids, &n, &err), 0, "a worker claims");
	ok(n == 1 && strcmp(ids[0], "ctx_l3") == 0, "only the pending one (%d claimed)", n);
	is_int(store_queue_reap(st, NOW, NULL, NULL, &reaped, &err), 0, "reap now");
	is_int(reaped, 2, "the imported and the hand-set processing contexts, without a lease, are reaped");
	is_str(field(COLL_CONTEXTS, "ctx_l1", "status"), "pending", "the imported one is pending again");
	is_str(field(COLL_CONTEXTS, "ctx_l2", "status"), "pending", "and so is the hand-set one");
	is_str(field(COLL_CONTEXTS, "ctx_l3", "status"), "processing", "the leased claim is kept");
	is_int(store_queue_claim(st, "w2", NULL, NOW, 300000, 4, ids, &n, &err), 0, "another worker claims");
	is_int(n, 2, "and gets both");
}

static void
test_catalog_gen(void)
{
	int64_t a = -1, b = -1;
	const char *t = "{\"_id\":\"tmpl_g\",\"organization_id\":\"o\",\"name\":\"g\"}";

	store_catalog_gen(st, &a, &err);
	store_put(st, COLL_TEMPLATES, t, strlen(t), STORE_UPSERT, NULL, &err);
	store_catalog_gen(st, &b, &err);
	ok(b > a, "a template write bumps the catalog generation (%lld -> %lld)", (long long)a, (long long)b);
	a = b;
	put("{\"organization_id\":\"o\"}");
	store_catalog_gen(st, &b, &err);
	is_int(b, a, "a context write does not");
}

/*
 * Peek, take, and end from pending in one transaction: a batch of three,
 * one taken and completed as usual, two ended from pending (never claimed);
 * a pending end of a context that is not pending is skipped.
 */
static void
test_peek_take(void)
{
	char ids[4][STORE_ID_MAX], *docs[4];
	struct ctx_end ends[4];
	int n = 0, skipped = -1, taken = -1;

	put("{\"_id\":\"batch_k\",\"organization_id\":\"org_k\",\"status\":\"pending\","
	    "\"context_ids\":[\"ctx_k1\",\"ctx_k2\",\"ctx_k3\"]}");
	for (int i = 1; i <= 3; i++)
		put("{\"_id\":\"ctx_k%d\",\"organization_id\":\"org_k\",\"batch_id\":\"batch_k\","
		    "\"created_at\":\"2023-01-01T00:00:0%dZ\"}", i, i);
	store_begin(st, &err);
	is_int(store_queue_peek_docs(st, NULL, NOW, 4, ids, docs, &n, &err), 0, "peek inside a transaction");
	ok(n == 3 && strcmp(ids[0], "ctx_k1") == 0, "the three, in claim order (%d)", n);
	like(n > 0 && docs[0] ? docs[0] : "", "\"status\":\"pending\"", "their documents, still pending");
	is_str(field(COLL_CONTEXTS, "ctx_k1", "status"), "pending", "nothing is claimed by a look");
	for (int i = 0; i < n; i++)
		free(docs[i]);
	for (int i = 0; i < n; i++)
		if (strcmp(ids[i], "ctx_k3") == 0)
			taken = store_queue_take(st, "w5", NOW, 300000, ids + i, 1, &err);
	is_int(taken, 0, "ctx_k3 is taken");
	is_str(field(COLL_CONTEXTS, "ctx_k3", "status"), "processing", "it is processing");
	is_str(field(COLL_BATCHES, "batch_k", "status"), "processing", "and its batch started");
	is_int(store_queue_take(st, "w5", NOW, 300000, ids + 2, 1, &err), GB_ESTATE, "taking it again is refused");
	gb_err_clear(&err);
	memset(ends, 0, sizeof(ends));
	ends[0] = (struct ctx_end){ "ctx_k1", CTX_COMPLETED, 0, 0, 0, 0, NULL, 0, 1, -1 };
	ends[1] = (struct ctx_end){ "ctx_k2", CTX_COMPLETED, 0, 0, 0, 0, NULL, 0, 1, -1 };
	ends[2] = (struct ctx_end){ "ctx_k3", CTX_COMPLETED, 0, 0, 0, 0, NULL, 0, 1, -1 };
	ends[3] = (struct ctx_end){ "ctx_k3", CTX_COMPLETED, 0, 0, 0, 0, NULL, 0, 0, -1 };
	is_int(store_ctx_finish_many(st, "w5", ends, 3, NOW + 1000, &skipped, &err), 0, "end the three from pending");
	is_int(skipped, 1, "the pending end of the taken one is skipped");
	ok(ends[0].rc == 0 && ends[1].rc == 0 && ends[2].rc == GB_ESTATE, "the two never taken end");
	is_str(field(COLL_CONTEXTS, "ctx_k3", "status"), "processing", "the taken one is still processing");
	is_int(store_ctx_finish_many(st, "w5", ends + 3, 1, NOW + 1000, &skipped, &err), 0, "end the taken one");
	ok(skipped == 0 && ends[3].rc == 0, "as its holder");
	is_int(store_commit(st, &err), 0, "commit");
	is_str(field(COLL_CONTEXTS, "ctx_k1", "status"), "completed", "ctx_k1 completed from pending");
	is_str(field(COLL_CONTEXTS, "ctx_k1", "processing.started_at"), "2023-11-14T22:13:21.000Z",
	    "it started when it ended");
	is_str(field(COLL_BATCHES, "batch_k", "completed_count"), "3", "the batch counts all three");
	is_str(field(COLL_BATCHES, "batch_k", "status"), "completed", "and is completed");
}

/*
 * A context ended from pending with edits (the engine clears an error left
 * by an earlier attempt): the edits apply and the end is not skipped; the
 * same end of a context another worker holds is skipped.
 */
static void
test_pending_end_edits(void)
{
	char ids[4][STORE_ID_MAX], other[1][STORE_ID_MAX], *docs[4];
	struct ctx_edit clear = { "$.error", "null" };
	struct ctx_end ends[2];
	int n = 0, skipped = -1;

	put("{\"_id\":\"ctx_e1\",\"organization_id\":\"org_e\",\"retry_count\":1,"
	    "\"error\":{\"component\":\"ai_generator\",\"message\":\"HTTP 503\"},"
	    "\"processing\":{\"completed_components\":[\"template\"]},\"created_at\":\"2023-01-01T00:00:01Z\"}");
	put("{\"_id\":\"ctx_e2\",\"organization_id\":\"org_e2\",\"error\":{\"message\":\"x\"},"
	    "\"created_at\":\"2023-01-01T00:00:02Z\"}");
	store_begin(st, &err);
	is_int(store_queue_peek_docs(st, NULL, NOW, 4, ids, docs, &n, &err), 0, "peek the context with an old error");
	for (int i = 0; i < n; i++)
		free(docs[i]);
	snprintf(other[0], sizeof(other[0]), "ctx_e2");
	is_int(store_queue_take(st, "w7", NOW, 300000, other, 1, &err), 0,
	    "another worker takes ctx_e2");
	ends[0] = (struct ctx_end){ "ctx_e1", CTX_COMPLETED, 0, 0, 0, 0, &clear, 1, 1, -1 };
	ends[1] = (struct ctx_end){ "ctx_e2", CTX_COMPLETED, 0, 0, 0, 0, &clear, 1, 1, -1 };
	is_int(store_ctx_finish_many(st, "w6", ends, 2, NOW + 1000, &skipped, &err), 0,
	    "end both from pending, clearing their errors");
	ok(ends[0].rc == 0, "the pending one with edits is not skipped (rc %d)", ends[0].rc);
	ok(ends[1].rc == GB_ESTATE && skipped == 1, "the one another worker holds is skipped");
	is_int(store_commit(st, &err), 0, "commit");
	is_str(field(COLL_CONTEXTS, "ctx_e1", "status"), "completed", "ctx_e1 completed from pending");
	is_str(field(COLL_CONTEXTS, "ctx_e1", "error"), "null", "its old error is cleared");
	is_str(field(COLL_CONTEXTS, "ctx_e2", "status"), "processing", "ctx_e2 is still its holder's");
	like(field(COLL_CONTEXTS, "ctx_e2", "error"), "\"x\"", "with its error untouched");
}

/* Two organizations, one with a single due context: a claim of 16 still gets 16, the small one's first. */
static void
test_claim_fills(void)
{
	char ids[16][STORE_ID_MAX];
	int n = 0, small = 0;

	put("{\"_id\":\"ctx_f_small\",\"organization_id\":\"org_f1\",\"created_at\":\"2023-01-01T00:00:00Z\"}");
	for (int i = 0; i < 30; i++)
		put("{\"_id\":\"ctx_f_big%02d\",\"organization_id\":\"org_f2\","
		    "\"created_at\":\"2023-01-01T00:00:%02dZ\"}", i, i);
	is_int(store_queue_claim(st, "w8", NULL, NOW, 300000, 16, ids, &n, &err), 0, "claim 16 from two organizations");
	is_int(n, 16, "the claim is full though one organization has a single due context");
	for (int i = 0; i < n && i < 2; i++)
		small += strcmp(ids[i], "ctx_f_small") == 0;
	is_int(small, 1, "that one is among the first two, in turn with the other");
}

/* A claim that reads the documents: each the same text store_get gives, in the order of the ids. */
static void
test_claim_docs(void)
{
	char ids[4][STORE_ID_MAX], *docs[4], *text = NULL;
	int n = 0, same = 0;

	put("{\"_id\":\"ctx_d2\",\"organization_id\":\"org_d\",\"created_at\":\"2023-01-01T00:00:02Z\"}");
	put("{\"_id\":\"ctx_d1\",\"organization_id\":\"org_d\",\"created_at\":\"2023-01-01T00:00:01Z\","
	    "\"data\":{\"title\":\"one\"}}");
	is_int(store_queue_claim_docs(st, "w7", NULL, NOW, 300000, 4, ids, docs, &n, &err), 0, "claim with documents");
	is_int(n, 2, "two claimed");
	for (int i = 0; i < n; i++) {
		if (store_get(st, COLL_CONTEXTS, ids[i], &text, &err) == 0 && docs[i] && strcmp(docs[i], text) == 0)
			same++;
		free(text);
		text = NULL;
	}
	is_int(same, 2, "each document is the one store_get reads now");
	like(n == 2 && docs[0] ? docs[0] : "", "\"title\":\"one\"", "the first is ctx_d1's, as ids[0] (%s)", ids[0]);
	like(n == 2 && docs[1] ? docs[1] : "", "\"status\":\"processing\"", "and they show the claim");
	for (int i = 0; i < n; i++)
		free(docs[i]);
}

/*
 * Many ends at once: two batches and a context of none, one failure with
 * its error, one context cancelled meanwhile and one held by another
 * worker (both skipped and reported), a duplicate counted once; the
 * batches' counters and usage are exact and each batch ends when its
 * last context does.
 */
static void
test_finish_many(void)
{
	char ids[16][STORE_ID_MAX];
	struct ctx_edit e = { "$.error", "{\"component\":\"transformer\",\"message\":\"bad\"}" };
	struct ctx_end ends[8];
	int n = 0, m = 0, skipped = -1;

	put("{\"_id\":\"batch_x\",\"organization_id\":\"org_x\",\"context_ids\":[\"ctx_x1\",\"ctx_x2\",\"ctx_x3\"]}");
	put("{\"_id\":\"batch_y\",\"organization_id\":\"org_x\",\"context_ids\":[\"ctx_y1\",\"ctx_y2\"]}");
	for (int i = 1; i <= 3; i++)
		put("{\"_id\":\"ctx_x%d\",\"organization_id\":\"org_x\",\"batch_id\":\"batch_x\"}", i);
	for (int i = 1; i <= 2; i++)
		put("{\"_id\":\"ctx_y%d\",\"organization_id\":\"org_x\",\"batch_id\":\"batch_y\"}", i);
	put("{\"_id\":\"ctx_z1\",\"organization_id\":\"org_x\"}");
	for (int k = 0; k < 8 && store_queue_claim(st, "w9", NULL, NOW, 300000, 16, ids, &m, &err) == 0 && m > 0; k++)
		n += m;
	is_int(n, 6, "w9 claims the six contexts of org_x");
	put("{\"_id\":\"ctx_w1\",\"organization_id\":\"org_w\"}");
	is_int(store_queue_claim(st, "w8", NULL, NOW, 300000, 4, ids, &m, &err), 0, "w8 claims");
	ok(m == 1 && strcmp(ids[0], "ctx_w1") == 0, "ctx_w1 is w8's");
	is_int(store_ctx_cancel(st, "ctx_x3", NOW, &err), 0, "ctx_x3 is cancelled while w9 holds it");

	memset(ends, 0, sizeof(ends));
	ends[0] = (struct ctx_end){ "ctx_x1", CTX_COMPLETED, 4000, 10, 5, 0.25, NULL, 0, 0, -1 };
	ends[1] = (struct ctx_end){ "ctx_x2", CTX_FAILED, 3000, 7, 0, 0.5, &e, 1, 0, -1 };
	ends[2] = (struct ctx_end){ "ctx_x3", CTX_COMPLETED, 2000, 100, 100, 1, NULL, 0, 0, -1 };
	ends[3] = (struct ctx_end){ "ctx_y1", CTX_COMPLETED, 1000, 1, 2, 0.125, NULL, 0, 0, -1 };
	ends[4] = (struct ctx_end){ "ctx_w1", CTX_COMPLETED, 1000, 1000, 0, 0, NULL, 0, 0, -1 };
	ends[5] = (struct ctx_end){ "ctx_y2", CTX_COMPLETED, -1, 3, 4, 0.125, NULL, 0, 0, -1 };
	ends[6] = (struct ctx_end){ "ctx_z1", CTX_COMPLETED, 500, 0, 0, 0, NULL, 0, 0, -1 };
	ends[7] = (struct ctx_end){ "ctx_y1", CTX_COMPLETED, 1000, 1, 2, 0.125, NULL, 0, 0, -1 };
	{
		struct ctx_end bad = { "ctx_y1", CTX_PENDING, 0, 0, 0, 0, NULL, 0, 0, -1 };

		is_int(store_ctx_finish_many(st, "w9", &bad, 1, NOW, NULL, &err), GB_EINVAL, "only ends end many");
		is_str(field(COLL_CONTEXTS, "ctx_y1", "status"), "processing", "nothing moved");
		gb_err_clear(&err);
	}
	is_int(store_ctx_finish_many(st, "w9", ends, 8, NOW + 5000, &skipped, &err), 0, "eight ends in one call");
	is_int(skipped, 3, "three skipped: the cancelled one, the one w8 holds, the duplicate");
	ok(ends[0].rc == 0 && ends[1].rc == 0 && ends[3].rc == 0 && ends[5].rc == 0 && ends[6].rc == 0,
	    "the five w9 holds end");
	ok(ends[2].rc == GB_ESTATE && ends[4].rc == GB_ESTATE && ends[7].rc == GB_ESTATE,
	    "each skipped one is reported GB_ESTATE");
	is_str(field(COLL_CONTEXTS, "ctx_x1", "status"), "completed", "ctx_x1 completed");
	is_str(field(COLL_CONTEXTS, "ctx_x1", "processing.duration_ms"), "4000", "with its duration");
	is_str(field(COLL_CONTEXTS, "ctx_x1", "processing.completed_at"), "2023-11-14T22:13:25.000Z",
	    "and completed_at");
	is_str(field(COLL_CONTEXTS, "ctx_x2", "status"), "failed", "ctx_x2 failed");
	is_str(field(COLL_CONTEXTS, "ctx_x2", "error.message"), "bad", "with its error");
	is_str(field(COLL_CONTEXTS, "ctx_x3", "status"), "cancelled", "the cancelled one stays cancelled");
	is_str(field(COLL_CONTEXTS, "ctx_w1", "status"), "processing", "w8's context is untouched");
	is_str(field(COLL_CONTEXTS, "ctx_y2", "processing.duration_ms"), "null", "a duration < 0 is null");
	is_str(field(COLL_CONTEXTS, "ctx_z1", "status"), "completed", "a context of no batch completes");
	is_str(field(COLL_BATCHES, "batch_x", "completed_count"), "1", "batch_x: 1 completed");
	is_str(field(COLL_BATCHES, "batch_x", "failed_count"), "1", "1 failed");
	is_str(field(COLL_BATCHES, "batch_x", "cancelled_count"), "1", "1 cancelled (by the cancel)");
	is_str(field(COLL_BATCHES, "batch_x", "usage.prompt_tokens"), "17", "prompt tokens of the two ends only");
	is_str(field(COLL_BATCHES, "batch_x", "usage.completion_tokens"), "5", "completion tokens");
	is_str(field(COLL_BATCHES, "batch_x", "usage.cost"), "0.75", "cost");
	is_str(field(COLL_BATCHES, "batch_x", "status"), "failed", "batch_x ends failed");
	is_str(field(COLL_BATCHES, "batch_y", "completed_count"), "2", "batch_y: 2 completed, the duplicate once");
	is_str(field(COLL_BATCHES, "batch_y", "usage.prompt_tokens"), "4", "its usage summed once each");
	is_str(field(COLL_BATCHES, "batch_y", "status"), "completed", "batch_y ends completed");
	is_int(store_ctx_finish_many(st, "w9", ends, 2, NOW + 6000, &skipped, &err), 0, "the same ends again");
	is_int(skipped, 2, "both skipped: a context ends once");
	is_str(field(COLL_BATCHES, "batch_x", "completed_count"), "1", "the counters do not move");
	is_str(field(COLL_CONTEXTS, "ctx_x2", "processing.duration_ms"), "3000", "nor does the document");
}

int
main(void)
{
	if (store_open(&st, ":memory:", NULL, &err))
		tap_bail("store_open: %s", err.msg);
	test_fairness();
	store_close(st);
	if (store_open(&st, ":memory:", NULL, &err))
		tap_bail("store_open: %s", err.msg);
	test_many_orgs();
	store_close(st);
	if (store_open(&st, ":memory:", NULL, &err))
		tap_bail("store_open: %s", err.msg);
	test_claims();
	test_progress_and_end();
	test_catalog_gen();
	store_close(st);
	if (store_open(&st, ":memory:", NULL, &err))
		tap_bail("store_open: %s", err.msg);
	test_reap_leaseless();
	store_close(st);
	if (store_open(&st, ":memory:", NULL, &err))
		tap_bail("store_open: %s", err.msg);
	test_finish_many();
	test_claim_docs();
	test_peek_take();
	test_pending_end_edits();
	test_claim_fills();
	store_close(st);
	return tap_done();
}
