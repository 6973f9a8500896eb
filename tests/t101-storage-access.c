/*
 * t101-storage-access - the schema's access patterns on 10,000 generated
 * contexts over 3 organizations, checked against answers computed here
 * from the generated data, and the index each one uses.
 */
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

#define N 10000
#define NORG 3
#define NUSER 20
#define NBATCH 30
#define NOW 1700000000000LL

static const char *const statuses[] = { "pending", "processing", "completed", "failed", "cancelled" };

struct gen {
	char id[32];
	int org, user, batch, status, priority;
	int64_t created, retry;		/* retry: 0 none */
};

static struct gen g[N];
static struct store *st;
static uint64_t seed = 42;

static unsigned
rnd(unsigned n)
{
	seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
	return (unsigned)(seed >> 33) % n;
}

static void
generate(void)
{
	const char **texts = calloc(N, sizeof(*texts));
	size_t *lens = calloc(N, sizeof(*lens)), failed = 0;
	struct gb_err err = { 0, "" };
	char created[GB_TIME_LEN], retry[GB_TIME_LEN];

	for (int i = 0; i < N; i++) {
		struct gen *x = &g[i];
		char *doc;
		int n;

		snprintf(x->id, sizeof(x->id), "ctx_%05d", i);
		x->org = rnd(NORG);
		x->user = rnd(NUSER);
		x->batch = rnd(NBATCH);
		x->status = rnd(10) < 4 ? 0 : (int)rnd(5);
		x->priority = 1 + rnd(10);
		/* distinct creation times, not in _id order */
		x->created = NOW - 86400000LL + (int64_t)((i * 7919) % N) * 1000;
		x->retry = rnd(4) == 0 ? NOW + (rnd(2) ? 1 : -1) * (int64_t)(1 + rnd(3600)) * 1000 : 0;
		gb_time_format(x->created, created);
		gb_time_format(x->retry, retry);
		doc = malloc(1024);
		n = snprintf(doc, 1024, "{\"_id\":\"%s\",\"organization_id\":\"org_%d\",\"user_id\":\"user_%d\","
		    "\"batch_id\":\"batch_%d\",\"status\":\"%s\",\"type\":\"article\",\"created_at\":\"%s\","
		    "\"next_retry_at\":%s%s%s,\"metadata\":{\"priority\":%d},\"data\":{\"title\":\"t%d\"}}",
		    x->id, x->org, x->user, x->batch, statuses[x->status], created,
		    x->retry ? "\"" : "", x->retry ? retry : "null", x->retry ? "\"" : "", x->priority, i);
		texts[i] = doc;
		lens[i] = (size_t)n;
	}
	if (store_put_many(st, COLL_CONTEXTS, texts, lens, N, STORE_INSERT, &failed, &err))
		tap_bail("insert of the data set failed at %zu: %s", failed, err.msg);
	for (int i = 0; i < N; i++)
		free((void *)texts[i]);
	free(texts);
	free(lens);
}

static int
poll_cmp(const void *a, const void *b)
{
	const struct gen *x = *(const struct gen *const *)a, *y = *(const struct gen *const *)b;

	if (x->priority != y->priority)
		return x->priority - y->priority;
	return (x->created > y->created) - (x->created < y->created);
}

static void
test_poll(void)
{
	struct gen *due[N];
	char ids[10][STORE_ID_MAX];
	struct gb_err err = { 0, "" };

	for (int org = 0; org < NORG; org++) {
		char name[16];
		int nd = 0, n = 0, same = 1;

		for (int i = 0; i < N; i++)
			if (g[i].org == org && g[i].status == 0 && (g[i].retry == 0 || g[i].retry <= NOW))
				due[nd++] = &g[i];
		qsort(due, (size_t)nd, sizeof(due[0]), poll_cmp);
		snprintf(name, sizeof(name), "org_%d", org);
		is_int(store_ctx_poll(st, name, NOW, 10, ids, &n, &err), 0, "poll %s", name);
		is_int(n, nd < 10 ? nd : 10, "poll %s returns the limit", name);
		for (int i = 0; i < n && i < nd; i++)
			if (strcmp(ids[i], due[i]->id) != 0) {
				tap_diag("position %d: got %s want %s", i, ids[i], due[i]->id);
				same = 0;
			}
		ok(same, "poll %s: pending, due, by priority then created_at", name);
	}
	{
		int n = -1;

		is_int(store_ctx_poll(st, "org_none", NOW, 10, ids, &n, &err), 0, "poll of an unknown organization");
		is_int(n, 0, "finds nothing");
	}
}

static int
created_desc(const void *a, const void *b)
{
	const struct gen *x = *(const struct gen *const *)a, *y = *(const struct gen *const *)b;

	return (x->created < y->created) - (x->created > y->created);
}

struct collect {
	char ids[20][32];
	int n;
};

static int
collect_id(void *arg, const char *doc, size_t len)
{
	struct collect *c = arg;
	cJSON *t = cJSON_ParseWithLength(doc, len);
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(t, "_id");

	if (c->n < 20 && cJSON_IsString(id))
		snprintf(c->ids[c->n++], 32, "%s", id->valuestring);
	cJSON_Delete(t);
	return 0;
}

static void
test_user_recent(void)
{
	struct gen *mine[N];
	struct gb_err err = { 0, "" };

	for (int u = 0; u < 3; u++) {
		int org = u % NORG, nm = 0, same = 1;
		struct collect c = { .n = 0 };
		char user[16], orgname[16];

		for (int i = 0; i < N; i++)
			if (g[i].user == u && g[i].org == org)
				mine[nm++] = &g[i];
		qsort(mine, (size_t)nm, sizeof(mine[0]), created_desc);
		snprintf(user, sizeof(user), "user_%d", u);
		snprintf(orgname, sizeof(orgname), "org_%d", org);
		is_int(store_ctx_user_recent(st, user, orgname, 20, collect_id, &c, &err), 0, "history of %s", user);
		is_int(c.n, nm < 20 ? nm : 20, "%s: 20 most recent", user);
		for (int i = 0; i < c.n; i++)
			if (strcmp(c.ids[i], mine[i]->id) != 0)
				same = 0;
		ok(same, "%s: newest first, only %s's", user, orgname);
	}
}

static void
test_batch_summary(void)
{
	struct gb_err err = { 0, "" };
	int64_t counts[CTX_STATUS_COUNT];
	int all = 1;

	for (int b = 0; b < NBATCH; b++) {
		int64_t want[CTX_STATUS_COUNT] = { 0 };
		char name[16];

		for (int i = 0; i < N; i++)
			if (g[i].batch == b)
				want[g[i].status]++;
		snprintf(name, sizeof(name), "batch_%d", b);
		if (store_batch_summary(st, name, counts, &err) || memcmp(want, counts, sizeof(want)) != 0) {
			tap_diag("%s: counts differ (%s)", name, err.msg);
			all = 0;
		}
	}
	ok(all, "status summary of all %d batches matches the data", NBATCH);

	/* a status update moves a context between the counts */
	{
		int i;
		int64_t before[CTX_STATUS_COUNT];
		char name[16];

		for (i = 0; g[i].status != 0; i++)
			;
		snprintf(name, sizeof(name), "batch_%d", g[i].batch);
		store_batch_summary(st, name, before, &err);
		is_int(store_ctx_set_status(st, g[i].id, CTX_COMPLETED, NOW, 1234, &err), 0, "complete %s", g[i].id);
		store_batch_summary(st, name, counts, &err);
		ok(counts[CTX_PENDING] == before[CTX_PENDING] - 1 && counts[CTX_COMPLETED] == before[CTX_COMPLETED] + 1,
		    "the batch summary follows the status update");
		g[i].status = 2;
	}
}

static void
test_insert_many(void)
{
	const char *texts[100];
	size_t lens[100], failed = 0;
	char bufs[100][160];
	struct gb_err err = { 0, "" };
	int64_t before, after;

	store_count(st, COLL_CONTEXTS, &before, &err);
	for (int i = 0; i < 100; i++) {
		snprintf(bufs[i], sizeof(bufs[i]), "{\"_id\":\"ctx_many_%d\",\"organization_id\":\"org_0\"%s}", i,
		    i == 49 ? ",\"status\":\"bogus\"" : "");
		texts[i] = bufs[i];
		lens[i] = strlen(bufs[i]);
	}
	is_int(store_put_many(st, COLL_CONTEXTS, texts, lens, 100, STORE_INSERT, &failed, &err), GB_EINVAL,
	    "insertMany with one bad document fails");
	is_int((int64_t)failed, 49, "and names the bad one");
	store_count(st, COLL_CONTEXTS, &after, &err);
	is_int(after, before, "and inserts none of the 100");
	snprintf(bufs[49], sizeof(bufs[49]), "{\"_id\":\"ctx_many_49\",\"organization_id\":\"org_0\"}");
	lens[49] = strlen(bufs[49]);
	gb_err_clear(&err);
	is_int(store_put_many(st, COLL_CONTEXTS, texts, lens, 100, STORE_INSERT, &failed, &err), 0,
	    "insertMany of 100 good documents");
	store_count(st, COLL_CONTEXTS, &after, &err);
	is_int(after, before + 100, "inserts all 100");
}

static void
test_plans(void)
{
	static const struct { const char *pattern, *index; } want[] = {
		{ "poll", "USING INDEX ctx_poll (organization_id=?)" },
		{ "user_recent", "USING INDEX ctx_list_user (organization_id=? AND user_id=?)" },
		{ "batch_summary", "USING COVERING INDEX ctx_list_batch (batch_id=?)" },
		{ "status_update", "USING INDEX sqlite_autoindex_contexts_1 (_id=?)" },
		{ "claim", "USING INDEX sqlite_autoindex_contexts_1 (_id=?)" },
	};
	struct gb_err err = { 0, "" };

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		char *plan = NULL;

		is_int(store_explain(st, want[i].pattern, &plan, &err), 0, "explain %s", want[i].pattern);
		like(plan, want[i].index, "%s uses its index", want[i].pattern);
		if (strcmp(want[i].pattern, "batch_summary") != 0)
			ok(plan && strstr(plan, "TEMP B-TREE") == NULL && strstr(plan, "SCAN") == NULL,
			    "%s needs no sort and no scan", want[i].pattern);
		free(plan);
	}
}

/* What max_contexts_per_day counts: one organization's contexts created since a time, one batch aside. */
static void
test_count_created(void)
{
	static const char *const docs[] = {
		"{\"_id\":\"cc_1\",\"organization_id\":\"org_cc\",\"created_at\":\"2031-05-02T00:00:00Z\"}",
		"{\"_id\":\"cc_2\",\"organization_id\":\"org_cc\",\"created_at\":\"2031-05-02T23:59:59.999Z\"}",
		"{\"_id\":\"cc_3\",\"organization_id\":\"org_cc\",\"created_at\":\"2031-05-01T23:59:59.999Z\"}",
		"{\"_id\":\"cc_4\",\"organization_id\":\"org_cc\",\"created_at\":\"2031-05-02T08:00:00+02:00\"}",
		"{\"_id\":\"cc_5\",\"organization_id\":\"org_other\",\"created_at\":\"2031-05-02T10:00:00Z\"}",
		"{\"_id\":\"cc_6\",\"organization_id\":\"org_cc\",\"batch_id\":\"batch_cc\","
		    "\"created_at\":\"2031-05-02T10:00:00Z\"}",
	};
	struct gb_err err = { 0, "" };
	int64_t since, n = -1;

	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
		if (store_put(st, COLL_CONTEXTS, docs[i], strlen(docs[i]), STORE_INSERT, NULL, &err))
			tap_bail("put: %s", err.msg);
	gb_time_parse("2031-05-02T00:00:00Z", 20, &since);
	is_int(store_ctx_count_created(st, "org_cc", since, NULL, &n, &err), 0, "count created: no error");
	is_int((int)n, 4, "count created: the day's four of the organization (an offset counts in UTC), "
	    "not the day before, not another organization's");
	is_int(store_ctx_count_created(st, "org_cc", since, "batch_cc", &n, &err), 0, "count created, one batch aside");
	is_int((int)n, 3, "count created: the batch set aside is not counted");
	is_int(store_ctx_count_created(st, "org_none", since, NULL, &n, &err), 0, "count created: no such organization");
	is_int((int)n, 0, "count created: none");
}

/* A batch's pipeline_id, as the engine reads it for each of the batch's contexts. */
static void
test_batch_pipeline(void)
{
	static const char with[] = "{\"_id\":\"batch_bp1\",\"organization_id\":\"org_bp\",\"pipeline_id\":\"pipe_bp\"}";
	static const char without[] = "{\"_id\":\"batch_bp2\",\"organization_id\":\"org_bp\"}";
	struct gb_err err = { 0, "" };
	char pid[STORE_ID_MAX];

	if (store_put(st, COLL_BATCHES, with, strlen(with), STORE_INSERT, NULL, &err) ||
	    store_put(st, COLL_BATCHES, without, strlen(without), STORE_INSERT, NULL, &err))
		tap_bail("put: %s", err.msg);
	is_int(store_batch_pipeline(st, "batch_bp1", pid, &err), 0, "batch pipeline: read");
	is_str(pid, "pipe_bp", "batch pipeline: the batch's pipeline_id");
	is_int(store_batch_pipeline(st, "batch_bp2", pid, &err), 0, "batch pipeline: a batch without one");
	is_str(pid, "", "batch pipeline: none");
	is_int(store_batch_pipeline(st, "batch_nope", pid, &err), GB_ENOTFOUND, "batch pipeline: no such batch");
}

int
main(void)
{
	struct gb_err err = { 0, "" };

	if (store_open(&st, ":memory:", NULL, &err))
		tap_bail("store_open: %s", err.msg);
	generate();
	test_poll();
	test_user_recent();
	test_batch_summary();
	test_insert_many();
	test_plans();
	test_count_created();
	test_batch_pipeline();
	store_close(st);
	return tap_done();
}
