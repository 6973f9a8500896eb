/*
 * t107-storage-listing - what the API reads and changes on contexts and
 * batches: counts per organization and status kept exact through every
 * kind of write, throughput per minute, lists with filters and cursors
 * checked against answers computed here from the generated data, the query
 * plan of each filter, the bound on a title search, retry and cancel with
 * their batch counters, bulk actions, and pausing a batch.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../base/gbtime.h"
#include "../storage/access.h"
#include "../storage/docs.h"
#include "../storage/listing.h"
#include "../storage/queue.h"
#include "../storage/store.h"
#include "tap.h"

#define NOW 1700000000000LL
#define NA 1000			/* contexts of org_a in the list tests */
#define LEASE 60000

static struct store *st;
static struct gb_err err;

static void put(enum coll c, enum store_put_mode mode, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
put(enum coll c, enum store_put_mode mode, const char *fmt, ...)
{
	char doc[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(doc, sizeof(doc), fmt, ap);
	va_end(ap);
	gb_err_clear(&err);
	if (store_put(st, c, doc, strlen(doc), mode, NULL, &err))
		tap_bail("put %s: %s", doc, err.msg);
}

static char *
field(enum coll c, const char *id, const char *name, const char *sub)
{
	static char out[256];
	char *doc = NULL, *s;
	cJSON *t, *v;

	gb_err_clear(&err);
	if (store_get(st, c, id, &doc, &err))
		return "(missing)";
	t = cJSON_Parse(doc);
	v = cJSON_GetObjectItemCaseSensitive(t, name);
	if (sub)
		v = cJSON_GetObjectItemCaseSensitive(v, sub);
	s = v ? cJSON_PrintUnformatted(v) : NULL;
	snprintf(out, sizeof(out), "%s", s ? s : "(none)");
	free(s);
	cJSON_Delete(t);
	free(doc);
	return out;
}

/* The true count of org's contexts of status, by a walk over the documents (not the counters). */
static int
count_one(void *arg, const char *doc, size_t len)
{
	(void)doc;
	(void)len;
	(*(int64_t *)arg)++;
	return 0;
}

static int
counts_exact(const char *org, const char *when)
{
	int64_t got[CTX_STATUS_COUNT], all[CTX_STATUS_COUNT], sum[CTX_STATUS_COUNT];
	int same = 1;

	gb_err_clear(&err);
	if (store_ctx_org_counts(st, org, got, &err) || store_ctx_status_counts(st, all, &err) ||
	    store_ctx_org_counts(st, NULL, sum, &err))
		tap_bail("counts: %s", err.msg);
	for (int s = 0; s < CTX_STATUS_COUNT; s++) {
		char filter[160];
		int64_t want = 0, total = 0;

		snprintf(filter, sizeof(filter), "{\"organization_id\":\"%s\",\"status\":\"%s\"}", org,
		    ctx_status_name((enum ctx_status)s));
		store_each(st, COLL_CONTEXTS, filter, 0, count_one, &want, &err);
		snprintf(filter, sizeof(filter), "{\"status\":\"%s\"}", ctx_status_name((enum ctx_status)s));
		store_each(st, COLL_CONTEXTS, filter, 0, count_one, &total, &err);
		if (got[s] != want || all[s] != total || sum[s] != total) {
			tap_diag("%s: %s of %s: counter %lld, all %lld, sum %lld; true %lld, all %lld", when,
			    ctx_status_name((enum ctx_status)s), org, (long long)got[s], (long long)all[s],
			    (long long)sum[s], (long long)want, (long long)total);
			same = 0;
		}
	}
	return ok(same, "counts exact after %s", when);
}

static void
finish(const char *id, const char *owner, enum ctx_status status, int64_t now)
{
	struct ctx_edit e = { "$.error", "{\"message\":\"boom\",\"component\":\"ai_generator\"}" };
	struct ctx_finish f = { .status = status, .now_ms = now, .duration_ms = 5, .next_retry_ms = now };

	if (status == CTX_FAILED) {
		f.edits = &e;
		f.nedits = 1;
	}
	gb_err_clear(&err);
	if (store_ctx_finish(st, id, owner, &f, &err))
		tap_bail("finish %s: %s", id, err.msg);
}

static int
claim(const char *batch, int64_t now, int max, char (*ids)[STORE_ID_MAX])
{
	int n = 0;

	gb_err_clear(&err);
	if (store_queue_claim(st, "w1", batch, now, LEASE, max, ids, &n, &err))
		tap_bail("claim: %s", err.msg);
	return n;
}

static void
test_counts(void)
{
	char ids[8][STORE_ID_MAX];
	int n;

	for (int i = 0; i < 12; i++)
		put(COLL_CONTEXTS, STORE_INSERT, "{\"_id\":\"ctx_c%02d\",\"organization_id\":\"org_c%d\",\"status\":\"%s\"}",
		    i, i % 2, i < 8 ? "pending" : "failed");
	counts_exact("org_c0", "inserts");
	n = claim(NULL, NOW, 4, ids);
	is_int(n, 4, "claim of 4");
	counts_exact("org_c0", "claims");
	finish(ids[0], "w1", CTX_COMPLETED, NOW);
	finish(ids[1], "w1", CTX_FAILED, NOW);
	finish(ids[2], "w1", CTX_PENDING, NOW);
	counts_exact("org_c1", "finishes and a retry by the worker");
	is_int(store_ctx_cancel(st, ids[3], NOW, &err), 0, "cancel");
	counts_exact("org_c0", "a cancel");
	is_int(store_ctx_retry(st, ids[3], ids[3][6] == '0' || ids[3][6] == '2' || ids[3][6] == '4' ||
	    ids[3][6] == '6' || ids[3][6] == '8' ? "org_c0" : "org_c1", NOW, &err), 0, "retry of the cancelled one");
	counts_exact("org_c0", "a retry");
	is_int(store_delete(st, COLL_CONTEXTS, "ctx_c10", &err), 0, "delete");
	counts_exact("org_c0", "a delete");
	put(COLL_CONTEXTS, STORE_UPSERT, "{\"_id\":\"ctx_c11\",\"organization_id\":\"org_c0\",\"status\":\"completed\"}");
	counts_exact("org_c0", "an upsert that changes status and organization");
	counts_exact("org_c1", "an upsert that changes status and organization (the old one)");
	put(COLL_CONTEXTS, STORE_UPSERT, "{\"_id\":\"ctx_c12\",\"organization_id\":\"org_c1\",\"status\":\"cancelled\"}");
	is_int(store_ctx_set_status(st, "ctx_c12", CTX_PROCESSING, NOW, -1, &err), 0, "a plain status update");
	counts_exact("org_c1", "an upsert that inserts and a plain status update");
}

static void
test_throughput(void)
{
	struct ctx_minute m[5];
	char ids[8][STORE_ID_MAX];
	int64_t t0 = NOW - NOW % 60000 + 7000;		/* 7 s into a minute */
	int n, pruned = -1;

	for (int i = 0; i < 6; i++)
		put(COLL_CONTEXTS, STORE_INSERT, "{\"_id\":\"ctx_t%d\",\"organization_id\":\"org_t\","
		    "\"batch_id\":\"batch_t\"}", i);
	n = claim("batch_t", t0, 8, ids);
	is_int(n, 6, "the throughput contexts are claimed");
	finish(ids[0], "w1", CTX_COMPLETED, t0 - 120000);
	finish(ids[1], "w1", CTX_COMPLETED, t0 - 120000 + 50000);
	finish(ids[2], "w1", CTX_FAILED, t0);
	finish(ids[3], "w1", CTX_COMPLETED, t0 + 1000);
	finish(ids[4], "w1", CTX_PENDING, t0);		/* a retry is no end */
	finish(ids[5], "w1", CTX_COMPLETED, t0 - 3 * 86400000LL);
	is_int(store_ctx_throughput(st, "org_t", t0 + 2000, 5, m, &err), 0, "throughput of 5 minutes");
	ok(m[0].minute_ms == t0 - 7000 - 4 * 60000 && m[4].minute_ms == t0 - 7000, "oldest first, up to now's minute");
	ok(m[2].completed == 2 && m[2].failed == 0, "two minutes ago: 2 completed (%lld, %lld)",
	    (long long)m[2].completed, (long long)m[2].failed);
	ok(m[4].completed == 1 && m[4].failed == 1, "this minute: 1 completed, 1 failed");
	ok(m[0].completed + m[1].completed + m[3].completed + m[0].failed + m[1].failed + m[3].failed == 0,
	    "the other minutes are zeros");
	is_int(store_ctx_throughput(st, NULL, t0 + 2000, 5, m, &err), 0, "throughput of every organization");
	ok(m[4].completed >= 1 && m[4].failed >= 1, "includes org_t's");
	is_int(store_ctx_throughput(st, "org_t", t0 - 3 * 86400000LL, 1, m, &err), 0, "three days ago");
	is_int(m[0].completed, 1, "one completed then");
	is_int(store_throughput_prune(st, t0, &pruned, &err), 0, "prune");
	ok(pruned >= 1, "prune removed the old minute (%d)", pruned);
	store_ctx_throughput(st, "org_t", t0 - 3 * 86400000LL, 1, m, &err);
	is_int(m[0].completed, 0, "gone after the prune");
	store_ctx_throughput(st, "org_t", t0 + 2000, 5, m, &err);
	is_int(m[4].completed, 1, "the recent minutes stay");
	is_int(store_ctx_throughput(st, "org_t", t0, 0, m, &err), GB_EINVAL, "a window of 0 minutes is refused");
}

/* The list data set: NA contexts of org_a (created times with ties), some of org_b. */
struct gen {
	char id[32], created[GB_TIME_LEN], title[48];
	int status, type, user, batch;
};
static struct gen g[NA];
static const char *const types[] = { "article", "summary", "faq" };

static void
generate(void)
{
	const char **texts = calloc(NA + 50, sizeof(*texts));
	size_t *lens = calloc(NA + 50, sizeof(*lens)), failed = 0;

	for (int i = 0; i < NA + 50; i++) {
		struct gen tmp, *x = i < NA ? &g[i] : &tmp;
		char *doc = malloc(512);

		snprintf(x->id, sizeof(x->id), "ctx_%s%04d", i < NA ? "a" : "b", i);
		gb_time_format(NOW - 86400000LL + (int64_t)((i * 7919) % NA / 2) * 1000, x->created);
		x->status = i % 5;
		x->type = i % 3;
		x->user = i % 7;
		x->batch = i % 4;
		snprintf(x->title, sizeof(x->title), i % 50 == 0 ? "A Special Report %d" : "Title %d", i);
		lens[i] = (size_t)snprintf(doc, 512, "{\"_id\":\"%s\",\"organization_id\":\"%s\",\"status\":\"%s\","
		    "\"type\":\"%s\",\"user_id\":\"user_%d\",\"batch_id\":\"batch_l%d\",\"created_at\":\"%s\","
		    "\"data\":{\"title\":\"%s\"}%s}", x->id, i < NA ? "org_a" : "org_b",
		    ctx_status_name((enum ctx_status)x->status), types[x->type], x->user, x->batch, x->created, x->title,
		    x->status == CTX_FAILED ? ",\"error\":{\"message\":\"it broke\"}" : "");
		texts[i] = doc;
	}
	if (store_put_many(st, COLL_CONTEXTS, texts, lens, NA + 50, STORE_INSERT, &failed, &err))
		tap_bail("insert of the list data set failed at %zu: %s", failed, err.msg);
	for (int i = 0; i < NA + 50; i++)
		free((void *)texts[i]);
	free(texts);
	free(lens);
}

static int
gen_cmp(const void *a, const void *b)
{
	const struct gen *x = *(const struct gen *const *)a, *y = *(const struct gen *const *)b;
	int c = strcmp(y->created, x->created);

	return c ? c : strcmp(y->id, x->id);
}

struct page {
	char ids[NA + 50][32];
	int n, bad_org, no_error;
};

static int
page_add(void *arg, const struct ctx_summary *s)
{
	struct page *p = arg;

	if (strncmp(s->id, "ctx_a", 5) != 0)
		p->bad_org++;
	if (strcmp(s->status, "failed") == 0 && (s->error == NULL || strcmp(s->error, "it broke") != 0))
		p->no_error++;
	if (p->n < NA + 50)
		snprintf(p->ids[p->n++], 32, "%s", s->id);
	return 0;
}

static int
matches(const struct gen *x, const struct ctx_query *q)
{
	return (q->statuses == 0 || (q->statuses & (1u << x->status))) &&
	    (q->type == NULL || strcmp(q->type, types[x->type]) == 0) &&
	    (q->batch_id == NULL || (int)strtol(q->batch_id + 7, NULL, 10) == x->batch) &&
	    (q->user_id == NULL || (int)strtol(q->user_id + 5, NULL, 10) == x->user) &&
	    (q->q == NULL || strcasestr(x->title, q->q) != NULL);
}

/* Page through q with its limit; every page checked; *pages counts them. */
static int
list_all(struct ctx_query q, struct page *p, int *pages, int *partials)
{
	char cursor[LIST_CURSOR_MAX] = "";
	int rc, partial, before;

	p->n = p->bad_org = p->no_error = 0;
	*pages = *partials = 0;
	do {
		before = p->n;
		q.cursor = cursor[0] ? cursor : NULL;
		gb_err_clear(&err);
		if ((rc = store_ctx_list(st, &q, page_add, p, cursor, &partial, &err)))
			return rc;
		(*pages)++;
		*partials += partial;
		if (p->n - before > (q.limit ? q.limit : 50) || (!partial && cursor[0] && p->n - before != (q.limit ? q.limit : 50)))
			return tap_diag("page %d has %d items", *pages, p->n - before), -100;
	} while (cursor[0] && *pages < 1000);
	return 0;
}

static void
check_list(const char *what, struct ctx_query q, int min_want)
{
	static struct page p;
	const struct gen *want[NA];
	int nw = 0, pages, partials, same;

	q.org = "org_a";
	for (int i = 0; i < NA; i++)
		if (matches(&g[i], &q))
			want[nw++] = &g[i];
	qsort(want, (size_t)nw, sizeof(want[0]), gen_cmp);
	is_int(list_all(q, &p, &pages, &partials), 0, "%s: listed (%s)", what, err.msg);
	same = p.n == nw;
	for (int i = 0; same && i < nw; i++)
		if (strcmp(p.ids[i], want[i]->id) != 0) {
			tap_diag("%s: position %d: got %s want %s", what, i, p.ids[i], want[i]->id);
			same = 0;
		}
	ok(same && nw >= min_want, "%s: all %d of %d, newest first, no duplicate, no gap, in %d pages", what,
	    p.n, nw, pages);
	ok(p.bad_org == 0 && p.no_error == 0, "%s: only org_a's, errors given", what);
	is_int(partials, 0, "%s: never partial", what);
}

static void
test_list(void)
{
	char cursor[LIST_CURSOR_MAX], after[GB_TIME_LEN], before[GB_TIME_LEN], ms[24];
	struct page *p = calloc(1, sizeof(*p));
	struct ctx_query q = { .org = "org_a", .limit = 37 };
	int partial;

	generate();
	check_list("all of org_a, 37 a page", q, NA);
	q.limit = 200;
	check_list("all of org_a, 200 a page", q, NA);
	q.limit = 0;
	check_list("all of org_a, the default page", q, NA);
	q.limit = 23;
	check_list("one status", (struct ctx_query){ .statuses = 1u << CTX_FAILED, .limit = 23 }, 100);
	check_list("two statuses", (struct ctx_query){ .statuses = 1u << CTX_FAILED | 1u << CTX_CANCELLED,
	    .limit = 31 }, 200);
	check_list("a type", (struct ctx_query){ .type = "summary", .limit = 50 }, 300);
	check_list("a batch", (struct ctx_query){ .batch_id = "batch_l2", .limit = 40 }, 200);
	check_list("a batch and a status", (struct ctx_query){ .batch_id = "batch_l2",
	    .statuses = 1u << CTX_PENDING, .limit = 7 }, 40);
	check_list("a user", (struct ctx_query){ .user_id = "user_3", .limit = 9 }, 100);
	check_list("a user, a type, two statuses", (struct ctx_query){ .user_id = "user_3", .type = "faq",
	    .statuses = 1u << CTX_PENDING | 1u << CTX_COMPLETED, .limit = 5 }, 10);
	check_list("a title search", (struct ctx_query){ .q = "sPeCiAl", .limit = 6 }, 20);
	gb_time_format(NOW - 86400000LL + 100000, after);
	gb_time_format(NOW - 86400000LL + 300000, before);
	snprintf(ms, sizeof(ms), "%lld", NOW - 86400000LL + 300000);
	{
		static struct page r;
		int pages, partials, n = 0, in = 1;

		for (int i = 0; i < NA; i++)
			n += strcmp(g[i].created, after) > 0 && strcmp(g[i].created, before) < 0;
		is_int(list_all((struct ctx_query){ .org = "org_a", .created_after = after, .created_before = ms,
		    .limit = 11 }, &r, &pages, &partials), 0, "a created range (ISO and milliseconds)");
		for (int i = 0; i < r.n; i++)
			for (int k = 0; k < NA; k++)
				if (strcmp(g[k].id, r.ids[i]) == 0)
					in &= strcmp(g[k].created, after) > 0 && strcmp(g[k].created, before) < 0;
		ok(r.n == n && in && n > 150, "a created range: the %d inside it (%d)", n, r.n);
	}
	is_int(store_ctx_list(st, &(struct ctx_query){ .org = "org_a", .cursor = "bogus!" }, page_add, p, cursor,
	    &partial, &err), GB_EINVAL, "a bad cursor is refused");
	like(err.msg, "bad cursor", "and named");
	gb_err_clear(&err);
	is_int(store_ctx_list(st, &(struct ctx_query){ .org = "org_a", .cursor = "MQpub3QgYSBkYXRlCmN0eF8x" },
	    page_add, p, cursor, &partial, &err), GB_EINVAL, "a cursor of the right form but no date is refused");
	gb_err_clear(&err);
	is_int(store_ctx_list(st, &(struct ctx_query){ .org = "org_a", .limit = 201 }, page_add, p, cursor,
	    &partial, &err), GB_EINVAL, "a limit of 201 is refused");
	gb_err_clear(&err);
	is_int(store_ctx_list(st, &(struct ctx_query){ .org = "org_a", .created_after = "yesterday" }, page_add, p,
	    cursor, &partial, &err), GB_EINVAL, "a bad date is refused");
	like(err.msg, "created_after", "and named");
	p->n = 0;
	is_int(store_ctx_list(st, &(struct ctx_query){ .org = "org_none" }, page_add, p, cursor, &partial, &err), 0,
	    "an organization without contexts");
	ok(p->n == 0 && cursor[0] == '\0', "lists nothing and has no next page");
	free(p);
}

static void
test_plans(void)
{
	static const struct { struct ctx_query q; const char *index; } cases[] = {
		{ { .org = "o" }, "ctx_list_org (organization_id=? AND " },
		{ { .org = "o", .statuses = 1u << CTX_FAILED }, "ctx_list_status (organization_id=? AND status=? AND " },
		{ { .org = "o", .statuses = 3 }, "ctx_list_status (organization_id=? AND status=? AND " },
		{ { .org = "o", .batch_id = "b" }, "ctx_list_batch (batch_id=? AND status=? AND " },
		{ { .org = "o", .user_id = "u", .statuses = 1 }, "ctx_list_user (organization_id=? AND user_id=? AND " },
		{ { .org = "o", .type = "t" }, "ctx_list_type (organization_id=? AND type=? AND " },
		{ { .org = "o", .created_after = "2020-01-01", .q = "x" }, "ctx_list_org (organization_id=? AND " },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *plan = NULL;

		is_int(store_ctx_list_explain(st, &cases[i].q, &plan, &err), 0, "explain list %zu", i);
		like(plan, cases[i].index, "list %zu walks its index", i);
		ok(plan && strstr(plan, "SCAN") == NULL && strstr(plan, "TEMP B-TREE") == NULL,
		    "list %zu: no scan, no sort (%s)", i, plan ? plan : "");
		free(plan);
	}
}

/* A title search examines a bounded number of rows per call, then goes on from where it stopped. */
static void
test_search_bound(void)
{
	enum { NS = LIST_MAX_EXAMINED + 5000 };
	const char **texts = calloc(NS, sizeof(*texts));
	size_t *lens = calloc(NS, sizeof(*lens)), failed = 0;
	char cursor[LIST_CURSOR_MAX] = "";
	struct page *p = calloc(1, sizeof(*p));
	int partial = 0, calls = 0, partials = 0;

	for (int i = 0; i < NS; i++) {
		char *doc = malloc(256), created[GB_TIME_LEN];

		gb_time_format(NOW + i, created);
		lens[i] = (size_t)snprintf(doc, 256, "{\"_id\":\"ctx_s%05d\",\"organization_id\":\"org_s\","
		    "\"created_at\":\"%s\",\"data\":{\"title\":\"%s %d\"}}", i, created, i < 3 ? "Needle" : "hay", i);
		texts[i] = doc;
	}
	if (store_put_many(st, COLL_CONTEXTS, texts, lens, NS, STORE_INSERT, &failed, &err))
		tap_bail("search set: %s", err.msg);
	for (int i = 0; i < NS; i++)
		free((void *)texts[i]);
	free(texts);
	free(lens);
	is_int(store_ctx_list(st, &(struct ctx_query){ .org = "org_s", .q = "needle", .limit = 10 }, page_add, p,
	    cursor, &partial, &err), 0, "a title search over %d contexts", NS);
	ok(partial == 1 && p->n == 0 && cursor[0], "stops after %d rows with nothing found yet, partial, and a cursor",
	    LIST_MAX_EXAMINED);
	do {
		calls++;
		partials += partial;
		store_ctx_list(st, &(struct ctx_query){ .org = "org_s", .q = "needle", .limit = 10, .cursor = cursor },
		    page_add, p, cursor, &partial, &err);
	} while (cursor[0] && calls < 10);
	ok(p->n == 3 && strcmp(p->ids[0], "ctx_s00002") == 0 && strcmp(p->ids[2], "ctx_s00000") == 0,
	    "the cursor goes on and finds the 3 oldest (%d, in %d more calls)", p->n, calls);
	free(p);
}

static void
test_retry_cancel(void)
{
	char ids[4][STORE_ID_MAX];
	int n;

	put(COLL_BATCHES, STORE_INSERT, "{\"_id\":\"batch_r\",\"organization_id\":\"org_r\","
	    "\"context_ids\":[\"ctx_r1\",\"ctx_r2\"]}");
	for (int i = 1; i <= 2; i++)
		put(COLL_CONTEXTS, STORE_INSERT, "{\"_id\":\"ctx_r%d\",\"organization_id\":\"org_r\","
		    "\"batch_id\":\"batch_r\",\"retry_count\":2,\"processing\":{\"completed_components\":[\"template\"],"
		    "\"component_timings\":{\"template\":12}}}", i);
	n = claim("batch_r", NOW, 4, ids);
	is_int(n, 2, "both contexts of the batch are claimed");
	finish("ctx_r1", "w1", CTX_COMPLETED, NOW + 10);
	finish("ctx_r2", "w1", CTX_FAILED, NOW + 20);
	is_str(field(COLL_BATCHES, "batch_r", "status", NULL), "\"failed\"", "the batch ended failed");
	is_int(store_ctx_retry(st, "ctx_r1", "org_r", NOW, &err), GB_ESTATE, "a completed context is not retried");
	gb_err_clear(&err);
	is_int(store_ctx_retry(st, "ctx_r2", "org_other", NOW, &err), GB_ENOTFOUND,
	    "another organization's context is not found");
	gb_err_clear(&err);
	is_int(store_ctx_retry(st, "ctx_nope", "org_r", NOW, &err), GB_ENOTFOUND, "an absent one neither");
	gb_err_clear(&err);
	is_int(store_ctx_retry(st, "ctx_r2", "org_r", NOW + 30, &err), 0, "the failed one is retried");
	is_str(field(COLL_CONTEXTS, "ctx_r2", "status", NULL), "\"pending\"", "it is pending");
	is_str(field(COLL_CONTEXTS, "ctx_r2", "error", NULL), "null", "its error cleared");
	is_str(field(COLL_CONTEXTS, "ctx_r2", "retry_count", NULL), "2", "its retry_count kept");
	is_str(field(COLL_CONTEXTS, "ctx_r2", "processing", "completed_components"), "[\"template\"]",
	    "its completed components kept");
	is_str(field(COLL_CONTEXTS, "ctx_r2", "next_retry_at", NULL), "null", "due now");
	is_str(field(COLL_BATCHES, "batch_r", "status", NULL), "\"processing\"", "the batch runs again");
	is_str(field(COLL_BATCHES, "batch_r", "failed_count", NULL), "0", "its failed_count moved back");
	is_str(field(COLL_BATCHES, "batch_r", "processing_completed_at", NULL), "null", "and it has no end");
	is_int(store_ctx_retry(st, "ctx_r2", "org_r", NOW, &err), GB_ESTATE, "a pending context is not retried");
	gb_err_clear(&err);
	is_int(store_ctx_cancel_org(st, "ctx_r2", "org_other", NOW, &err), GB_ENOTFOUND,
	    "another organization cannot cancel it");
	gb_err_clear(&err);
	is_int(store_ctx_cancel_org(st, "ctx_r2", "org_r", NOW + 40, &err), 0, "its organization cancels it");
	is_str(field(COLL_BATCHES, "batch_r", "status", NULL), "\"completed\"", "the batch ends again");
	is_str(field(COLL_BATCHES, "batch_r", "cancelled_count", NULL), "1", "counting the cancel");
	is_int(store_ctx_cancel_org(st, "ctx_r2", "org_r", NOW, &err), GB_ESTATE, "a cancelled one is not cancelled");
	gb_err_clear(&err);
	is_int(store_ctx_retry(st, "ctx_r2", "org_r", NOW + 50, &err), 0, "a cancelled context is retried");
	is_str(field(COLL_BATCHES, "batch_r", "cancelled_count", NULL), "0", "its cancel no longer counts");
	is_int(claim("batch_r", NOW + 60, 4, ids), 1, "and it is claimed again");
	finish("ctx_r2", "w1", CTX_COMPLETED, NOW + 70);
	is_str(field(COLL_BATCHES, "batch_r", "status", NULL), "\"completed\"", "then the batch completes");
	is_str(field(COLL_BATCHES, "batch_r", "completed_count", NULL), "2", "with both completed");
	counts_exact("org_r", "retries and cancels");
}

static void
test_bulk(void)
{
	struct ctx_query f = { .org = "org_a", .statuses = 1u << CTX_FAILED | 1u << CTX_COMPLETED, .type = "faq" };
	int64_t matched = -1, changed = -1, want = 0, cancellable = 0, before[CTX_STATUS_COUNT], after[CTX_STATUS_COUNT];

	for (int i = 0; i < NA; i++) {
		want += g[i].status == CTX_FAILED && g[i].type == 2;
		cancellable += (g[i].status == CTX_PENDING || g[i].status == CTX_PROCESSING) && g[i].user == 1;
	}
	store_ctx_org_counts(st, "org_a", before, &err);
	is_int(store_ctx_bulk(st, &f, BULK_RETRY, 1, NOW, &matched, &changed, &err), 0, "bulk retry, dry run");
	ok(matched == want && changed == 0, "matches the %lld failed faqs (%lld), changes none", (long long)want,
	    (long long)matched);
	store_ctx_org_counts(st, "org_a", after, &err);
	ok(memcmp(before, after, sizeof(before)) == 0, "the dry run changed nothing");
	is_int(store_ctx_bulk(st, &f, BULK_RETRY, 0, NOW, &matched, &changed, &err), 0, "bulk retry");
	ok(matched == want && changed == want, "retries them all (%lld of %lld)", (long long)changed,
	    (long long)matched);
	store_ctx_org_counts(st, "org_a", after, &err);
	ok(after[CTX_FAILED] == before[CTX_FAILED] - want && after[CTX_PENDING] == before[CTX_PENDING] + want,
	    "the failed ones are pending now");
	counts_exact("org_a", "a bulk retry");
	is_int(store_ctx_bulk(st, &(struct ctx_query){ .org = "org_b", .user_id = "user_1" }, BULK_CANCEL, 0, NOW,
	    &matched, &changed, &err), 0, "bulk cancel in org_b");
	is_int(store_ctx_bulk(st, &(struct ctx_query){ .org = "org_a", .user_id = "user_1",
	    .statuses = 1u << CTX_PROCESSING | 1u << CTX_PENDING | 1u << CTX_FAILED }, BULK_CANCEL, 0, NOW,
	    &matched, &changed, &err), 0, "bulk cancel of a user's");
	ok(matched >= cancellable && changed == matched, "cancels each pending or processing one (%lld of %lld)",
	    (long long)changed, (long long)matched);
	is_int(store_ctx_bulk(st, &(struct ctx_query){ .org = "org_a", .user_id = "user_1" }, BULK_CANCEL, 1, NOW,
	    &matched, &changed, &err), 0, "bulk cancel again, dry run");
	is_int(matched, 0, "nothing left to cancel");
	counts_exact("org_a", "a bulk cancel");
	counts_exact("org_b", "a bulk cancel of another organization");
}

static int
batch_add(void *arg, const char *doc, size_t len, int paused)
{
	struct page *p = arg;
	cJSON *t = cJSON_ParseWithLength(doc, len);
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(t, "_id");

	if (cJSON_GetObjectItemCaseSensitive(t, "context_ids") != NULL)
		p->no_error++;
	if (cJSON_IsString(id) && p->n < 32)
		snprintf(p->ids[p->n++], 32, "%s%s", id->valuestring, paused ? "*" : "");
	cJSON_Delete(t);
	return 0;
}

static void
test_pause(void)
{
	char ids[16][STORE_ID_MAX], cursor[LIST_CURSOR_MAX];
	struct page *p = calloc(1, sizeof(*p));
	int paused = -1, n, mine = 0;

	for (int b = 0; b < 5; b++) {
		char created[GB_TIME_LEN];

		put(COLL_BATCHES, STORE_INSERT, "{\"_id\":\"batch_p%d\",\"organization_id\":\"org_p\",\"created_at\":\"%s\","
		    "\"context_ids\":[\"ctx_p%d\"]}", b, gb_time_format(NOW + b * 1000, created), b);
		put(COLL_CONTEXTS, STORE_INSERT, "{\"_id\":\"ctx_p%d\",\"organization_id\":\"org_p\","
		    "\"batch_id\":\"batch_p%d\",\"metadata\":{\"priority\":1}}", b, b);
	}
	is_int(store_batch_pause(st, "batch_p1", "org_other", 1, NOW, &err), GB_ENOTFOUND,
	    "another organization cannot pause a batch");
	gb_err_clear(&err);
	is_int(store_batch_pause(st, "batch_p1", "org_p", 1, NOW, &err), 0, "pause");
	is_int(store_batch_pause(st, "batch_p1", "org_p", 1, NOW, &err), 0, "pause twice");
	is_int(store_batch_paused(st, "batch_p1", &paused, &err), 0, "read the pause");
	is_int(paused, 1, "paused");
	is_int(claim("batch_p1", NOW, 4, ids), 0, "a claim of the paused batch takes nothing");
	n = claim(NULL, NOW + 1, 16, ids);
	for (int i = 0; i < n; i++)
		mine += strcmp(ids[i], "ctx_p1") == 0;
	ok(n > 0 && mine == 0, "a claim of every organization passes it over (%d claimed)", n);
	while (claim(NULL, NOW + 2, 16, ids) > 0)
		;
	is_str(field(COLL_CONTEXTS, "ctx_p1", "status", NULL), "\"pending\"", "its context is still pending");
	is_int(store_batch_list(st, "org_p", NULL, 2, NULL, batch_add, p, cursor, &err), 0, "list batches");
	ok(p->n == 2 && strcmp(p->ids[0], "batch_p4") == 0 && cursor[0], "newest first, 2 a page, a next page");
	while (cursor[0] && p->n < 10) {
		char c[LIST_CURSOR_MAX];

		snprintf(c, sizeof(c), "%s", cursor);
		if (store_batch_list(st, "org_p", NULL, 2, c, batch_add, p, cursor, &err))
			break;
	}
	ok(p->n == 5 && strcmp(p->ids[3], "batch_p1*") == 0 && strcmp(p->ids[4], "batch_p0") == 0 && p->no_error == 0,
	    "all 5 by pages, the paused one marked, no context_ids (%s %s)", p->ids[3], p->ids[4]);
	p->n = 0;
	is_int(store_batch_list(st, "org_p", "processing", 50, NULL, batch_add, p, cursor, &err), 0,
	    "list processing batches");
	ok(p->n == 4 && cursor[0] == '\0', "the four that started (%d)", p->n);
	is_int(store_batch_list(st, "org_p", NULL, 5, "zz", batch_add, p, cursor, &err), GB_EINVAL, "bad cursor");
	gb_err_clear(&err);
	is_int(store_batch_pause(st, "batch_p1", "org_p", 0, NOW, &err), 0, "resume");
	store_batch_paused(st, "batch_p1", &paused, &err);
	is_int(paused, 0, "no longer paused");
	n = claim(NULL, NOW + 3, 16, ids);
	ok(n == 1 && strcmp(ids[0], "ctx_p1") == 0, "the next claim takes its context");
	free(p);
}

int
main(void)
{
	if (store_open(&st, ":memory:", NULL, &err))
		tap_bail("store_open: %s", err.msg);
	test_counts();
	test_throughput();
	test_list();
	test_plans();
	test_search_bound();
	test_retry_cancel();
	test_bulk();
	test_pause();
	store_close(st);
	return tap_done();
}
