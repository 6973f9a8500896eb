/*
 * t224-pool-defects - failures the pool must classify right: the worst of a
 * context's generator replies decides (a permanent one is not retried
 * because the first section's was transient); a batch that cannot be read
 * never runs the organization's default pipeline; a storage error while
 * resolving a pipeline is retried, so the context completes once storage
 * reads again; a prompt over its cap fails the context with the reason
 * instead of going round forever; hostile numbers (max_tokens past
 * INT_MAX, usage of 1e300) are refused or ignored, UBSan-clean.
 */
#include <pthread.h>
#include <sqlite3.h>

#include "pooltest.h"

/* ---- a responder for faults: 503 for "TRANSIENT" prompts, 400 for "PERMANENT" ones ---- */

struct responder {
	int fd;
	int stop;
};

static void
respond_one(int c)
{
	char buf[65536];
	size_t got = 0, need = 0;
	const char *reply;
	char *hdr_end = NULL;

	while (got < sizeof(buf) - 1) {
		ssize_t r = read(c, buf + got, sizeof(buf) - 1 - got);

		if (r <= 0)
			break;
		got += (size_t)r;
		buf[got] = '\0';
		if (hdr_end == NULL && (hdr_end = strstr(buf, "\r\n\r\n")) != NULL) {
			const char *cl = strcasestr(buf, "content-length:");

			need = (size_t)(hdr_end + 4 - buf) + (cl ? strtoul(cl + 15, NULL, 10) : 0);
		}
		if (hdr_end && got >= need)
			break;
	}
	if (strstr(buf, "TRANSIENT"))
		reply = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 43\r\n"
		    "Connection: close\r\n\r\n{\"error\":{\"message\":\"overloaded, try later\"}}";
	else
		reply = "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 41\r\n"
		    "Connection: close\r\n\r\n{\"error\":{\"message\":\"this is refused!!\"}}";
	(void)!write(c, reply, strlen(reply));
	close(c);
}

static void *
responder_main(void *arg)
{
	struct responder *r = arg;
	int c;

	while ((c = accept(r->fd, NULL, NULL)) >= 0 && !r->stop)
		respond_one(c);
	if (c >= 0)
		close(c);
	return NULL;
}

static void
raw_sql(struct box *b, const char *sql)
{
	sqlite3 *db = NULL;
	char *msg = NULL;

	if (sqlite3_open(b->path, &db) != SQLITE_OK)
		tap_bail("sqlite3_open");
	sqlite3_busy_timeout(db, 10000);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		tap_bail("%s: %s", sql, msg);
	sqlite3_close(db);
}

static void
test_worst_reply(void)
{
	struct responder r = { 0, 0 };
	struct pool_config cfg;
	struct box b;
	struct pool *p;
	pthread_t th;
	char url[64];

	r.fd = hung_endpoint(url);	/* listening; the responder accepts */
	pthread_create(&th, NULL, responder_main, &r);
	box_open(&b, 1);
	box_put(&b, COLL_TEMPLATES, "{\"_id\":\"tmpl_mixed\",\"organization_id\":\"org_123\",\"name\":\"Mixed\","
	    "\"structure\":{\"sections\":[{\"id\":\"introduction\",\"type\":\"text\",\"name\":\"Introduction\","
	    "\"instructions\":\"Say TRANSIENT\",\"word_range\":[5,8]},{\"id\":\"conclusion\",\"type\":\"text\","
	    "\"name\":\"Conclusion\",\"instructions\":\"Say PERMANENT\",\"word_range\":[3,4]}]}}");
	box_put(&b, COLL_PIPELINES, "{\"_id\":\"pipe_mixed\",\"organization_id\":\"org_123\",\"components\":["
	    "{\"component_id\":\"comp_template_article\",\"order\":1,\"config_overrides\":{\"template_id\":\"tmpl_mixed\"}},"
	    "{\"component_id\":\"comp_ai_generator_gpt4\",\"order\":2}]}");
	box_put(&b, COLL_BATCHES, "{\"_id\":\"batch_mixed\",\"organization_id\":\"org_123\",\"pipeline_id\":\"pipe_mixed\"}");
	box_put(&b, COLL_CONTEXTS, "{\"_id\":\"ctx_mixed\",\"organization_id\":\"org_123\",\"batch_id\":\"batch_mixed\"}");
	pool_config_defaults(&cfg);
	cfg.workers = 1;
	cfg.max_retries = 3;
	cfg.retry_base_ms = 50;
	p = box_pool(&b, url, &cfg);
	ok(box_wait_status(&b, "ctx_mixed", "failed", 30000), "one section transient, one permanent: failed");
	is_str(box_ctx(&b, "ctx_mixed", "retry_count"), "0", "at once, not retried");
	is_str(box_ctx(&b, "ctx_mixed", "error.transient"), "false", "the error is the permanent one");
	like(box_ctx(&b, "ctx_mixed", "error.message"), "section 2: ", "naming its section");
	pool_stop(p, 0);
	pool_free(p);
	r.stop = 1;
	shutdown(r.fd, SHUT_RDWR);
	pthread_join(th, NULL);
	close(r.fd);
	box_close(&b);
}

static void
test_unreadable_batch(void)
{
	struct pool_config cfg;
	struct box b;
	struct pool *p;

	box_open(&b, 1);
	box_put(&b, COLL_BATCHES, "{\"_id\":\"batch_bad\",\"organization_id\":\"org_123\",\"pipeline_id\":\"pipe_gone\"}");
	box_put(&b, COLL_CONTEXTS, "{\"_id\":\"ctx_badbatch\",\"organization_id\":\"org_123\",\"batch_id\":\"batch_bad\","
	    "\"data\":{\"title\":\"Which pipeline?\"}}");
	/* the batch's stored document stops being one (SQLite's JSON accepts it; the engine cannot read it) */
	raw_sql(&b, "UPDATE batches SET doc = '[\"batch_bad\"]' WHERE _id = 'batch_bad'");
	pool_config_defaults(&cfg);
	cfg.workers = 1;
	cfg.max_retries = 0;
	p = box_pool(&b, NULL, &cfg);
	ok(box_wait_status(&b, "ctx_badbatch", "failed", 30000), "a context whose batch cannot be read ends failed");
	is_str(box_ctx(&b, "ctx_badbatch", "data.formatted_content"), "(none)",
	    "without running the organization's default pipeline instead");
	is_str(box_ctx(&b, "ctx_badbatch", "error.component"), "pipeline", "the error is the pipeline's resolution");
	is_str(box_ctx(&b, "ctx_badbatch", "error.transient"), "true", "a storage error: worth a retry");
	pool_stop(p, 0);
	pool_free(p);
	box_close(&b);
}

static void
test_storage_error_retried(void)
{
	struct pool_config cfg;
	struct box b;
	struct pool *p;
	int64_t t0;

	box_open(&b, 1);
	box_put(&b, COLL_ORGANIZATIONS, "{\"_id\":\"org_six\",\"name\":\"Six\"}");
	box_put(&b, COLL_COMPONENTS, "{\"_id\":\"comp_six\",\"organization_id\":\"org_six\",\"type\":\"template\","
	    "\"config\":{\"template_id\":\"tmpl_article_technical\"}}");
	box_put(&b, COLL_CONTEXTS, "{\"_id\":\"ctx_six\",\"organization_id\":\"org_six\",\"pipeline\":[\"template\"]}");
	/* reading the components now fails in SQLite */
	raw_sql(&b, "ALTER TABLE components RENAME TO components_away");
	pool_config_defaults(&cfg);
	cfg.workers = 1;
	cfg.max_retries = 20;
	cfg.retry_base_ms = 20;
	cfg.retry_max_ms = 200;
	p = box_pool(&b, NULL, &cfg);
	t0 = gb_mono_ms();
	while (atoi(box_ctx(&b, "ctx_six", "retry_count")) < 1 && gb_mono_ms() - t0 < 30000 &&
	    strcmp(box_ctx(&b, "ctx_six", "status"), "failed") != 0)
		usleep(10000);
	is_str(box_ctx(&b, "ctx_six", "error.transient"), "true", "a storage error while resolving is transient");
	ok(strcmp(box_ctx(&b, "ctx_six", "status"), "failed") != 0, "the context is not failed for good");
	/* storage reads again */
	raw_sql(&b, "ALTER TABLE components_away RENAME TO components");
	ok(box_wait_status(&b, "ctx_six", "completed", 30000), "once storage reads again, a retry completes it");
	pool_stop(p, 0);
	pool_free(p);
	box_close(&b);
}

static void
test_prompt_too_big(void)
{
	struct pool_config cfg;
	struct box b;
	struct pool *p;
	char *title = malloc(1100001);

	memset(title, 'x', 1100000);
	title[1100000] = '\0';
	box_open(&b, 1);
	box_put(&b, COLL_CONTEXTS, "{\"_id\":\"ctx_huge\",\"organization_id\":\"org_123\",\"pipeline\":[\"template\","
	    "\"ai_generator\"],\"data\":{\"title\":\"%s\"}}", title);
	free(title);
	pool_config_defaults(&cfg);
	cfg.workers = 1;
	p = box_pool(&b, NULL, &cfg);
	ok(box_wait_status(&b, "ctx_huge", "failed", 30000), "a prompt over its 1 MiB cap fails the context");
	like(box_ctx(&b, "ctx_huge", "error.message"), "cannot build its prompt", "with the reason");
	is_str(box_ctx(&b, "ctx_huge", "retry_count"), "0", "at once, without going round again");
	pool_stop(p, 0);
	pool_free(p);
	box_close(&b);
}

static void
test_hostile_numbers(void)
{
	struct pool_config cfg;
	struct box b;
	struct pool *p;
	cJSON *batch;

	box_open(&b, 1);
	box_put(&b, COLL_ORGANIZATIONS, "{\"_id\":\"org_num\",\"name\":\"Numbers\"}");
	box_put(&b, COLL_COMPONENTS, "{\"_id\":\"comp_num_tmpl\",\"organization_id\":\"org_num\",\"type\":\"template\","
	    "\"config\":{\"template_id\":\"tmpl_article_technical\"}}");
	box_put(&b, COLL_COMPONENTS, "{\"_id\":\"comp_num_gen\",\"organization_id\":\"org_num\",\"type\":\"ai_generator\","
	    "\"config\":{\"model\":\"m\",\"max_tokens\":3000000000}}");
	box_put(&b, COLL_CONTEXTS, "{\"_id\":\"ctx_maxtok\",\"organization_id\":\"org_num\",\"pipeline\":[\"template\","
	    "\"ai_generator\"]}");
	box_put(&b, COLL_BATCHES, "{\"_id\":\"batch_num\",\"organization_id\":\"org_num\",\"context_count\":1}");
	box_put(&b, COLL_CONTEXTS, "{\"_id\":\"ctx_usage\",\"organization_id\":\"org_num\",\"batch_id\":\"batch_num\","
	    "\"pipeline\":[\"template\"],\"processing\":{\"completed_components\":[\"template\"],"
	    "\"usage\":{\"prompt_tokens\":1e300,\"completion_tokens\":-5,\"cost\":1e308}}}");
	pool_config_defaults(&cfg);
	cfg.workers = 1;
	p = box_pool(&b, NULL, &cfg);
	ok(box_wait_status(&b, "ctx_maxtok", "failed", 30000), "max_tokens past INT_MAX fails the context");
	like(box_ctx(&b, "ctx_maxtok", "error.message"), "max_tokens must be an integer from 1 to 2147483647",
	    "naming the setting and its range");
	ok(box_wait_status(&b, "ctx_usage", "completed", 30000), "a context with hostile usage numbers completes");
	batch = box_get(&b, COLL_BATCHES, "batch_num");
	is_str(jpath(batch, "usage.prompt_tokens"), "0", "its batch adds none of the out-of-range tokens");
	is_str(jpath(batch, "usage.completion_tokens"), "0", "nor negative ones");
	is_str(jpath(batch, "usage.cost"), "0", "nor an absurd cost");
	cJSON_Delete(batch);
	pool_stop(p, 0);
	pool_free(p);
	box_close(&b);
}

int
main(void)
{
	test_worst_reply();
	test_unreadable_batch();
	test_storage_error_retried();
	test_prompt_too_big();
	test_hostile_numbers();
	return tap_done();
}
