/*
 * t223-pool-live - the pool as the daemon runs it and as run-batch does:
 * without end, picking up contexts another connection writes while it
 * runs, and never done; or one batch to
 * its end, leaving other work alone. A catalog write in the middle of a run
 * is seen by the contexts after it, and more than 64 organizations go
 * through the pool with none starved behind an older flood.
 */
#include <pthread.h>

#include "pooltest.h"

/*
 * Another thread of this process with a connection of its own writes
 * contexts while the pool runs: one at a time, each after the last one
 * completed, then a flood of 3,000.
 */
struct writer {
	struct store *st;
	int written, completed;
};

static void *
writer_main(void *arg)
{
	struct writer *w = arg;
	struct gb_err err = { 0, "" };

	for (int i = 0; i < 5; i++) {
		char doc[256], id[32];
		int64_t t0 = gb_mono_ms();

		snprintf(id, sizeof(id), "ctx_conn%d", i);
		snprintf(doc, sizeof(doc), "{\"_id\":\"%s\",\"organization_id\":\"org_123\",\"pipeline\":[\"template\"]}",
		    id);
		gb_err_clear(&err);
		if (store_put(w->st, COLL_CONTEXTS, doc, strlen(doc), STORE_INSERT, NULL, &err) == 0)
			w->written++;
		for (;;) {
			char *text = NULL;
			int done;

			if (store_get(w->st, COLL_CONTEXTS, id, &text, &err))
				break;
			done = strstr(text, "\"status\":\"completed\"") != NULL;
			free(text);
			if (done) {
				w->completed++;
				break;
			}
			if (gb_mono_ms() - t0 > 30000)
				break;
			usleep(10000);
		}
	}
	store_begin(w->st, &err);
	for (int i = 0; i < 3000; i++) {
		char doc[256];

		snprintf(doc, sizeof(doc), "{\"_id\":\"ctx_flood%04d\",\"organization_id\":\"org_123\",\"pipeline\":[]}", i);
		w->written += store_put(w->st, COLL_CONTEXTS, doc, strlen(doc), STORE_INSERT, NULL, &err) == 0;
	}
	if (store_commit(w->st, &err))
		tap_diag("writer: %s", err.msg);
	return NULL;
}

static void
test_daemon(void)
{
	struct box b;
	struct gb_err err = { 0, "" };
	struct pool_config cfg;
	struct pool_stats s;
	struct writer w = { NULL, 0, 0 };
	struct pool *p;
	pthread_t th;
	int64_t before;

	box_open(&b, 1);
	before = box_count(&b, CTX_COMPLETED);	/* the example documents' */
	if (store_open(&w.st, b.path, NULL, &err))
		tap_bail("open: %s", err.msg);
	pool_config_defaults(&cfg);
	cfg.workers = 2;
	cfg.run_forever = 1;
	p = box_pool(&b, NULL, &cfg);
	pthread_create(&th, NULL, writer_main, &w);
	pthread_join(th, NULL);
	is_int(w.written, 3005, "another connection wrote contexts while the pool ran");
	is_int(w.completed, 5, "the running pool picked up each of the first 5, written one at a time, and completed it");
	ok(box_wait_quiet(&b, 60000), "and it completes the flood of 3,000 after them");
	is_int(box_count(&b, CTX_COMPLETED) - before, 3005, "3,005 more completed");
	is_int(pool_wait(p, 300), 0, "a pool run without end is never done");
	pool_stats(p, &s);
	is_int(s.done, 0, "its statistics say so too");
	is_int(s.claimed, 3005, "it claimed each once");
	pool_stop(p, 1000);
	pool_free(p);
	store_close(w.st);
	box_close(&b);
}

static void
test_one_batch(void)
{
	struct box b;
	struct pool_config cfg;
	struct pool_stats s;
	struct pool *p;

	box_open(&b, 1);
	box_put(&b, COLL_BATCHES, "{\"_id\":\"batch_one\",\"organization_id\":\"org_123\",\"context_count\":20}");
	box_put(&b, COLL_BATCHES, "{\"_id\":\"batch_two\",\"organization_id\":\"org_123\",\"context_count\":5}");
	for (int i = 0; i < 20; i++)
		box_put(&b, COLL_CONTEXTS, "{\"_id\":\"ctx_one%02d\",\"organization_id\":\"org_123\",\"batch_id\":\"batch_one\","
		    "\"pipeline\":[\"template\"]}", i);
	for (int i = 0; i < 5; i++)
		box_put(&b, COLL_CONTEXTS, "{\"_id\":\"ctx_two%02d\",\"organization_id\":\"org_123\",\"batch_id\":\"batch_two\","
		    "\"pipeline\":[\"template\"]}", i);
	pool_config_defaults(&cfg);
	cfg.workers = 2;
	cfg.batch_id = "batch_one";
	p = box_pool(&b, NULL, &cfg);
	is_int(pool_wait(p, 60000), 1, "a pool of one batch is done once the batch is");
	pool_stats(p, &s);
	is_int(s.done, 1, "its statistics say so");
	is_int(s.completed, 20, "it completed the batch's 20");
	is_int(box_count(&b, CTX_PENDING), 5, "and left the other batch's 5 pending");
	pool_stop(p, 0);
	pool_free(p);
	box_close(&b);
}

static void
test_catalog_mid_run(void)
{
	struct box b;
	struct pool_config cfg;
	struct pool *p;
	static const char tmpl[] = "{\"_id\":\"tmpl_live\",\"organization_id\":\"org_123\",\"name\":\"Live\","
	    "\"structure\":{\"sections\":[{\"id\":\"introduction\",\"type\":\"text\",\"name\":\"%s\","
	    "\"instructions\":\"Say hello\",\"word_range\":[5,8]}]}}";

	box_open(&b, 1);
	box_put(&b, COLL_TEMPLATES, tmpl, "Alpha");
	box_put(&b, COLL_PIPELINES, "{\"_id\":\"pipe_live\",\"organization_id\":\"org_123\",\"components\":["
	    "{\"component_id\":\"comp_template_article\",\"order\":1,\"config_overrides\":{\"template_id\":\"tmpl_live\"}}]}");
	box_put(&b, COLL_BATCHES, "{\"_id\":\"batch_live\",\"organization_id\":\"org_123\",\"pipeline_id\":\"pipe_live\"}");
	pool_config_defaults(&cfg);
	cfg.workers = 2;
	cfg.run_forever = 1;
	p = box_pool(&b, NULL, &cfg);
	box_put(&b, COLL_CONTEXTS, "{\"_id\":\"ctx_before\",\"organization_id\":\"org_123\",\"batch_id\":\"batch_live\"}");
	ok(box_wait_status(&b, "ctx_before", "completed", 30000), "a context before the change completed");
	is_str(box_ctx(&b, "ctx_before", "data.template.sections.0.name"), "Alpha", "with the template as it was");
	box_put(&b, COLL_TEMPLATES, tmpl, "Beta");
	box_put(&b, COLL_CONTEXTS, "{\"_id\":\"ctx_after\",\"organization_id\":\"org_123\",\"batch_id\":\"batch_live\"}");
	ok(box_wait_status(&b, "ctx_after", "completed", 30000), "a context after the change completed");
	is_str(box_ctx(&b, "ctx_after", "data.template.sections.0.name"), "Beta",
	    "with the template as written in the middle of the run: the cache was invalidated");
	pool_stop(p, 1000);
	pool_free(p);
	box_close(&b);
}

static void
test_many_orgs(void)
{
	static char ends[1300][64];
	char *text, *line, *save = NULL;
	struct box b;
	struct pool_config cfg;
	struct pool *p;
	int n = 0, small = 0, last_small = 0;

	box_open(&b, 0);
	store_begin(b.st, NULL);
	for (int i = 0; i < 1000; i++)
		box_put(&b, COLL_CONTEXTS, "{\"_id\":\"ctx_flood%04d\",\"organization_id\":\"org_aa\",\"pipeline\":[],"
		    "\"created_at\":\"2023-01-01T00:00:00Z\"}", i);
	for (int i = 0; i < 200; i++)
		box_put(&b, COLL_CONTEXTS, "{\"_id\":\"ctx_org%03d\",\"organization_id\":\"org_s%03d\",\"pipeline\":[],"
		    "\"created_at\":\"2023-06-01T00:00:00Z\"}", i, i);
	store_commit(b.st, NULL);
	pool_config_defaults(&cfg);
	cfg.workers = 1;
	cfg.claim_max = 8;
	p = box_pool(&b, NULL, &cfg);
	ok(pool_wait(p, 120000), "the pool ran the queue to its end");
	pool_stop(p, 0);
	pool_free(p);
	text = util_read_file(b.trace, NULL);
	for (line = text ? strtok_r(text, "\n", &save) : NULL; line && n < 1300; line = strtok_r(NULL, "\n", &save)) {
		char w[16], id[64], d[32];

		if (sscanf(line, "%15s %63s %31s", w, id, d) == 3 && strcmp(w, "end") == 0)
			snprintf(ends[n++], sizeof(ends[0]), "%s", id);
	}
	free(text);
	for (int i = 0; i < n; i++)
		if (strncmp(ends[i], "ctx_org", 7) == 0) {
			small++;
			last_small = i + 1;
		}
	is_int(n, 1200, "1,200 contexts of 201 organizations completed");
	is_int(small, 200, "one of each of 200 small organizations among them");
	ok(last_small <= 400, "all 200 ended within the first 400 completions (the last was #%d), ahead of "
	    "1,000 older ones of one organization", last_small);
	box_close(&b);
}

int
main(void)
{
	test_daemon();
	test_one_batch();
	test_catalog_mid_run();
	test_many_orgs();
	return tap_done();
}
