/*
 * t402-sync-push-pull - many contexts pushed in bulk (round trips counted)
 * and pulled into a fresh box in pages; the newer-wins guard both ways
 * (conflicts counted in the status); the job-aware rule; a document the
 * cluster refuses (over 16 MiB as BSON) set aside with its error without
 * blocking the others; a duplicate key that is no conflict (a batch's
 * created_at changed here) rejected, saying so; the clock skew noted; a
 * replay that changes nothing; a checkpoint that survives a restart; and a
 * pull stopped after a few pages that resumes where it stopped.
 * GENBOX_MONGO_PEER picks the peer (jongodb: fewer documents, it slows down
 * with the collection's size).
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../base/gbtime.h"
#include "../storage/outbox.h"
#include "synctest.h"

#define APPLIANCE "box-t402"

static struct gb_err err;
static int n_ctx, page;
static mongoc_client_t *cl;

/* n contexts ctx_00000... with updated_at in 2025, meant for this appliance. */
static void
fill(struct store *st, int from, int n)
{
	char **texts = calloc((size_t)n, sizeof(*texts));
	size_t *lens = calloc((size_t)n, sizeof(*lens));

	for (int i = 0; i < n; i++) {
		int k = from + i;

		if (asprintf(&texts[i], "{\"_id\":\"ctx_%05d\",\"organization_id\":\"org_123\","
		    "\"status\":\"pending\",\"created_at\":\"2025-01-01T00:00:00.000Z\","
		    "\"updated_at\":\"2025-01-02T%02d:%02d:%02d.%03dZ\",\"retry_count\":0,"
		    "\"data\":{\"title\":\"context %d\",\"n\":%d,\"big\":9007199254740993},"
		    "\"metadata\":{\"appliance_id\":\"" APPLIANCE "\",\"priority\":%d}}",
		    k, k / 3600 % 24, k / 60 % 60, k % 60, k % 1000, k, k, k % 5) < 0)
			tap_bail("out of memory");
		lens[i] = strlen(texts[i]);
	}
	if (store_put_many(st, COLL_CONTEXTS, (const char *const *)texts, lens, (size_t)n,
	    STORE_UPSERT, NULL, &err))
		tap_bail("fill: %s", err.msg);
	for (int i = 0; i < n; i++)
		free(texts[i]);
	free(texts);
	free(lens);
}

static struct sync *
new_sync(const char *db, const char *uri)
{
	struct sync_config cfg;
	struct sync *s;

	st_cfg(&cfg, db, uri, APPLIANCE);
	cfg.page_size = page;
	if (sync_new(&s, &cfg, &err))
		tap_bail("sync_new: %s", err.msg);
	return s;
}

static struct sync_coll_status
status_of(struct store *st, enum coll c)
{
	struct sync_coll_status all[COLL_COUNT];

	if (store_sync_status(st, all, &err))
		tap_bail("status: %s", err.msg);
	return all[c];
}

static const char *
field(struct store *st, const char *id, const char *key)
{
	static char out[256];
	cJSON *j = st_get(st, COLL_CONTEXTS, id);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
	char *t = v ? cJSON_PrintUnformatted(v) : NULL;

	snprintf(out, sizeof(out), "%s", t ? t : "(none)");
	free(t);
	cJSON_Delete(j);
	return out;
}

static const char *
mongo_field(const char *id, const char *path)
{
	static char out[256];
	bson_t *d = mt_get(cl, "contexts", id);
	bson_iter_t it;

	out[0] = '\0';
	if (mt_type(d, path, &it) == BSON_TYPE_UTF8)
		snprintf(out, sizeof(out), "%s", bson_iter_utf8(&it, NULL));
	else if (mt_type(d, path, &it) == BSON_TYPE_DATE_TIME)
		snprintf(out, sizeof(out), "%" PRId64, bson_iter_date_time(&it));
	else if (mt_type(d, path, &it))
		snprintf(out, sizeof(out), "%" PRId64, bson_iter_as_int64(&it));
	bson_destroy(d);
	return out;
}

/* Does st hold the context id? */
static int
has_ctx(struct store *st, const char *id)
{
	cJSON *j = st_get(st, COLL_CONTEXTS, id);

	cJSON_Delete(j);
	return j != NULL;
}

/* The rejected record of id in st: 1 refused on pull, 0 by the cluster, -1 none. */
static int
rejected_dir(struct store *st, const char *id, char *error, size_t size)
{
	struct rejected_doc rj[16];
	int n = 0;
	int64_t total = 0;

	if (store_rejected_list(st, rj, 16, &n, &total, &err))
		tap_bail("rejected list: %s", err.msg);
	for (int i = 0; i < n; i++)
		if (strcmp(rj[i].id, id) == 0) {
			snprintf(error, size, "%s", rj[i].error);
			return rj[i].pull;
		}
	return -1;
}

static void
push_many(struct store *a, struct sync *s)
{
	struct sync_counters c0, c1;
	int64_t pushed = 0;

	sync_counters(s, &c0);
	is_int(sync_push_all(s, &pushed, &err), 0, "push %d contexts (%s)", n_ctx, err.msg);
	sync_counters(s, &c1);
	is_int(pushed, n_ctx, "... all acknowledged");
	ok(c1.mongo_commands - c0.mongo_commands <= (n_ctx + 499) / 500,
	    "... in %" PRId64 " round trips (at most %d)", c1.mongo_commands - c0.mongo_commands,
	    (n_ctx + 499) / 500);
	is_int(mt_count(cl, "contexts", "{}"), n_ctx, "... all in MongoDB");
	is_int(st_depth(a), 0, "... the outbox is empty");
	is_int(status_of(a, COLL_CONTEXTS).pushed, n_ctx, "... the status counts them");
}

static void
pull_many(const char *uri, struct store **b, char *pb, size_t size)
{
	struct sync_counters c0, c1;
	struct sync *s;
	int64_t pulled = 0, n = 0;
	char *text = NULL;

	*b = st_box("b", pb, size);
	s = new_sync(pb, uri);
	sync_counters(s, &c0);
	is_int(sync_pull_all(s, &pulled, &err), 0, "pull into a fresh box (%s)", err.msg);
	sync_counters(s, &c1);
	is_int(pulled, n_ctx, "... pulled them all");
	store_count(*b, COLL_CONTEXTS, &n, &err);
	is_int(n, n_ctx, "... all in the fresh box");
	/* a find and a count of the documents it cannot see per collection */
	ok(c1.mongo_commands - c0.mongo_commands <= n_ctx / page + 1 + 2 * 7,
	    "... in %" PRId64 " round trips (pages of %d)", c1.mongo_commands - c0.mongo_commands,
	    page);
	if (store_get(*b, COLL_CONTEXTS, "ctx_00007", &text, &err))
		tap_bail("ctx_00007: %s", err.msg);
	like(text, "\"data\":{\"title\":\"context 7\",\"n\":7,\"big\":9007199254740993}",
	    "... a document is whole");
	free(text);
	is_int(st_depth(*b), 0, "... nothing queued to push back");
	sync_free(s);
	s = new_sync(pb, uri);
	is_int(sync_pull_all(s, &pulled, &err), 0, "a restarted sync pulls again");
	is_int(pulled, 0, "... nothing: the checkpoint survived");
	is_int(status_of(*b, COLL_CONTEXTS).checkpoint.pulled, n_ctx, "... the checkpoint counts");
	ok(status_of(*b, COLL_ORGANIZATIONS).last_pull_ms > 0,
	    "a pull that found nothing new is a success too (last pull time)");
	sync_free(s);
}

/* The cluster holds a newer copy: the box's older change is kept out. */
static void
newer_wins_push(struct store *a, struct sync *s)
{
	int64_t pushed = 0, before = status_of(a, COLL_CONTEXTS).conflicts;

	mt_replace_json(cl, "contexts", "ctx_00001", "{\"_id\":\"ctx_00001\",\"organization_id\":"
	    "\"org_123\",\"status\":\"pending\","
	    "\"updated_at\":{\"$date\":\"2030-01-01T00:00:00Z\"},"
	    "\"data\":{\"title\":\"cluster\"},\"metadata\":{\"appliance_id\":\"" APPLIANCE "\"}}");
	st_put(a, COLL_CONTEXTS, "{\"_id\":\"ctx_00001\",\"organization_id\":\"org_123\","
	    "\"status\":\"pending\",\"updated_at\":\"2026-01-01T00:00:00.000Z\","
	    "\"data\":{\"title\":"
	    "\"box, older\"},\"metadata\":{\"appliance_id\":\"" APPLIANCE "\"}}");
	st_put(a, COLL_CONTEXTS, "{\"_id\":\"ctx_00002\",\"organization_id\":\"org_123\","
	    "\"status\":\"pending\",\"updated_at\":\"2031-01-01T00:00:00.000Z\","
	    "\"data\":{\"title\":"
	    "\"box, newer\"},\"metadata\":{\"appliance_id\":\"" APPLIANCE "\"}}");
	is_int(sync_push_all(s, &pushed, &err), 0, "push over a newer cluster copy (%s)", err.msg);
	is_str(mongo_field("ctx_00001", "data.title"), "cluster", "the cluster's newer copy stays");
	is_str(mongo_field("ctx_00002", "data.title"), "box, newer", "the box's newer copy goes");
	is_int(status_of(a, COLL_CONTEXTS).conflicts - before, 1, "one conflict counted");
	is_int(st_depth(a), 0, "the conflict left the outbox");
}

/* A pull never puts an older copy over a newer one, nor a terminal context back to work. */
static void
newer_wins_pull(struct store *b, const char *pb, const char *uri)
{
	struct sync *s = new_sync(pb, uri);
	int64_t pulled = 0, before = status_of(b, COLL_CONTEXTS).conflicts;

	st_put(b, COLL_CONTEXTS, "{\"_id\":\"ctx_00004\",\"organization_id\":\"org_123\","
	    "\"status\":\"pending\",\"updated_at\":\"2032-01-01T00:00:00.000Z\","
	    "\"data\":{\"title\":"
	    "\"b, newest\"},\"metadata\":{\"appliance_id\":\"" APPLIANCE "\"}}");
	st_put(b, COLL_CONTEXTS, "{\"_id\":\"ctx_00005\",\"organization_id\":\"org_123\","
	    "\"status\":\"completed\",\"updated_at\":\"2026-01-01T00:00:00.000Z\",\"metadata\":"
	    "{\"appliance_id\":\"" APPLIANCE "\"}}");
	st_put(b, COLL_CONTEXTS, "{\"_id\":\"ctx_00006\",\"organization_id\":\"org_123\","
	    "\"status\":\"pending\",\"retry_count\":3,\"updated_at\":\"2026-01-01T00:00:00.000Z\","
	    "\"metadata\":{\"appliance_id\":\"" APPLIANCE "\"}}");
	mt_replace_json(cl, "contexts", "ctx_00003", "{\"_id\":\"ctx_00003\",\"organization_id\":"
	    "\"org_123\",\"status\":\"pending\","
	    "\"updated_at\":{\"$date\":\"2031-06-01T00:00:00Z\"},"
	    "\"data\":{\"title\":\"cluster, newer\"},\"metadata\":{\"appliance_id\":\"" APPLIANCE
	    "\"}}");
	mt_replace_json(cl, "contexts", "ctx_00004", "{\"_id\":\"ctx_00004\",\"organization_id\":"
	    "\"org_123\",\"status\":\"pending\","
	    "\"updated_at\":{\"$date\":\"2031-06-01T00:00:00Z\"},"
	    "\"data\":{\"title\":\"cluster, older\"},\"metadata\":{\"appliance_id\":\"" APPLIANCE
	    "\"}}");
	mt_replace_json(cl, "contexts", "ctx_00005", "{\"_id\":\"ctx_00005\",\"organization_id\":"
	    "\"org_123\",\"status\":\"pending\","
	    "\"updated_at\":{\"$date\":\"2031-06-01T00:00:00Z\"},"
	    "\"metadata\":{\"appliance_id\":\"" APPLIANCE "\"}}");
	mt_replace_json(cl, "contexts", "ctx_00006", "{\"_id\":\"ctx_00006\",\"organization_id\":"
	    "\"org_123\",\"status\":\"pending\",\"retry_count\":1,\"updated_at\":{\"$date\":"
	    "\"2031-06-01T00:00:00Z\"},\"metadata\":{\"appliance_id\":\"" APPLIANCE "\"}}");
	mt_replace_json(cl, "contexts", "ctx_00002a", "{\"_id\":\"ctx_00002a\",\"organization_id\":"
	    "\"org_123\",\"status\":\"no such status\",\"updated_at\":{\"$date\":"
	    "\"2031-05-01T00:00:00Z\"},\"metadata\":{\"appliance_id\":\"" APPLIANCE "\"}}");
	is_int(sync_pull_all(s, &pulled, &err), 0, "pull the cluster's changes (%s)", err.msg);
	ok(!has_ctx(b, "ctx_00002a"), "a document the box cannot store is skipped");
	{
		char error[256] = "";

		is_int(rejected_dir(b, "ctx_00002a", error, sizeof(error)), 1,
		    "... and recorded in the rejected list as refused on pull");
		like(error, "no such status", "... with the rules' error");
	}
	{
		mongoc_collection_t *mc = mongoc_client_get_collection(cl, ST_DB, "contexts");
		bson_t f = BSON_INITIALIZER;

		BSON_APPEND_UTF8(&f, "_id", "ctx_00002a");
		mongoc_collection_delete_one(mc, &f, NULL, NULL, NULL);
		bson_destroy(&f);
		mongoc_collection_destroy(mc);
	}
	is_str(field(b, "ctx_00003", "data"), "{\"title\":\"cluster, newer\"}",
	    "a newer cluster copy replaces the box's");
	is_str(field(b, "ctx_00004", "data"), "{\"title\":\"b, newest\"}",
	    "an older cluster copy does not replace the box's newer one");
	is_str(field(b, "ctx_00005", "status"), "\"completed\"",
	    "a completed context is not made pending again");
	is_str(field(b, "ctx_00006", "retry_count"), "3", "retry_count does not go down");
	ok(status_of(b, COLL_CONTEXTS).conflicts - before >= 2, "the kept copies count as "
	    "conflicts (%" PRId64 ")", status_of(b, COLL_CONTEXTS).conflicts - before);
	sync_free(s);
}

/* A context of 3 million integers: under 16 MiB as JSON, about 35 MB as BSON. */
static void
rejected(struct store *a, struct sync *s)
{
	size_t n = 3000000, len = 0;
	char *doc = malloc(n * 2 + 512);
	struct rejected_doc rj[4];
	int nrj = 0;
	int64_t total = 0, pushed = 0;

	len = (size_t)sprintf(doc, "{\"_id\":\"ctx_huge\",\"organization_id\":\"org_123\","
	    "\"status\":\"pending\",\"data\":{\"v\":[");
	for (size_t i = 0; i < n; i++) {
		doc[len++] = i ? ',' : ' ';
		doc[len++] = (char)('0' + i % 10);
	}
	len += (size_t)sprintf(doc + len, "]}}");
	if (store_put(a, COLL_CONTEXTS, doc, len, STORE_UPSERT, NULL, &err))
		tap_bail("huge: %s", err.msg);
	free(doc);
	st_put(a, COLL_CONTEXTS, "{\"_id\":\"ctx_after_huge\",\"organization_id\":\"org_123\","
	    "\"status\":\"pending\"}");
	is_int(sync_push_all(s, &pushed, &err), 0, "push past a document too large (%s)", err.msg);
	is_int(mt_count(cl, "contexts", "{\"_id\":\"ctx_after_huge\"}"), 1,
	    "the document behind it arrived");
	is_int(mt_count(cl, "contexts", "{\"_id\":\"ctx_huge\"}"), 0, "the huge one did not");
	is_int(st_depth(a), 0, "the outbox is not blocked");
	is_int(status_of(a, COLL_CONTEXTS).rejected, 1, "the status counts one rejected");
	is_int(store_rejected_list(a, rj, 4, &nrj, &total, &err), 0, "the rejected list reads");
	is_int(total, 1, "... one document");
	is_str(nrj ? rj[0].id : "", "ctx_huge", "... the huge one");
	like(nrj ? rj[0].error : "", "maxBsonObjectSize", "... with the cluster's limit");
	is_int(sync_push_all(s, &pushed, &err), 0, "push again");
	is_int(pushed, 0, "... the rejected one is not sent again");
}

/* The rejected record of id, "" when there is none. */
static const char *
rejected_error(struct store *a, const char *id)
{
	static char out[256];
	struct rejected_doc rj[16];
	int64_t total = 0;
	int n = 0;

	out[0] = '\0';
	if (store_rejected_list(a, rj, 16, &n, &total, &err))
		tap_diag("rejected list: %s", err.msg);
	for (int i = 0; i < n; i++)
		if (strcmp(rj[i].id, id) == 0)
			snprintf(out, sizeof(out), "%s", rj[i].error);
	return out;
}

/*
 * A duplicate key on push: a conflict only when the cluster's copy is newer;
 * a batch whose shard key (created_at) differs from the cluster's copy is
 * rejected, saying so, never acknowledged and dropped.
 */
static void
shard_key(struct store *a, struct sync *s)
{
	int64_t pushed = 0, conflicts = status_of(a, COLL_BATCHES).conflicts;
	int64_t rejected = status_of(a, COLL_BATCHES).rejected;

	mt_replace_json(cl, "batches", "batch_sk_old", "{\"_id\":\"batch_sk_old\","
	    "\"organization_id\":\"org_123\",\"name\":\"cluster\","
	    "\"created_at\":{\"$date\":\"2025-01-01T00:00:00Z\"},"
	    "\"updated_at\":{\"$date\":\"2025-01-02T00:00:00Z\"}}");
	mt_replace_json(cl, "batches", "batch_sk_new", "{\"_id\":\"batch_sk_new\","
	    "\"organization_id\":\"org_123\",\"name\":\"cluster\","
	    "\"created_at\":{\"$date\":\"2025-01-01T00:00:00Z\"},"
	    "\"updated_at\":{\"$date\":\"2031-01-01T00:00:00Z\"}}");
	st_put(a, COLL_BATCHES, "{\"_id\":\"batch_sk_old\",\"organization_id\":\"org_123\","
	    "\"name\":\"box\",\"created_at\":\"2025-06-01T00:00:00.000Z\","
	    "\"updated_at\":\"2026-01-01T00:00:00.000Z\"}");
	st_put(a, COLL_BATCHES, "{\"_id\":\"batch_sk_new\",\"organization_id\":\"org_123\","
	    "\"name\":\"box\",\"created_at\":\"2025-01-01T00:00:00.000Z\","
	    "\"updated_at\":\"2026-01-01T00:00:00.000Z\"}");
	is_int(sync_push_all(s, &pushed, &err), 0, "push two batches the cluster holds (%s)",
	    err.msg);
	is_int(status_of(a, COLL_BATCHES).conflicts - conflicts, 1,
	    "the one whose cluster copy is newer: a conflict");
	is_str(rejected_error(a, "batch_sk_new"), "", "... not rejected");
	is_int(status_of(a, COLL_BATCHES).rejected - rejected, 1,
	    "the one whose created_at changed here: rejected");
	like(rejected_error(a, "batch_sk_old"), "shard key created_at differs from the "
	    "cluster's copy (box: 2025-06-01T00:00:00.000Z, cluster: 2025-01-01T00:00:00.000Z): "
	    "a shard key field cannot change",
	    "... with an error naming the field and both values");
	is_int(mt_count(cl, "batches", "{\"name\":\"cluster\"}"), 2,
	    "the cluster kept both its copies");
	is_int(st_depth(a), 0, "both left the outbox");
}

/* The box's clock against the peer's, noted at connect. */
static void
clock_skew(struct store *a)
{
	char val[32] = "";
	int found = 0;
	bson_t cmd = BSON_INITIALIZER, reply;
	bson_iter_t it;
	int has = 0;

	BSON_APPEND_INT32(&cmd, "hello", 1);
	if (mongoc_client_command_simple(cl, "admin", &cmd, NULL, &reply, NULL))
		has = bson_iter_init_find(&it, &reply, "localTime");
	bson_destroy(&reply);
	bson_destroy(&cmd);
	if (!has) {
		tap_diag("the peer's hello has no localTime: no clock skew to note");
		return;
	}
	store_sync_meta_get(a, "clock_skew_ms", val, sizeof(val), &found, &err);
	ok(found && llabs(atoll(val)) < 2000, "the clock skew with the cluster is noted (%s ms)",
	    found ? val : "none");
}

/* The same rows sent twice: from a second box holding the same documents. */
static void
replay(const char *uri)
{
	char pc[4096];
	struct store *c = st_box("replay", pc, sizeof(pc));
	struct sync *s = new_sync(pc, uri);
	int64_t pushed = 0, count = mt_count(cl, "contexts", "{}");
	char before[256];

	fill(c, 100, 50);
	snprintf(before, sizeof(before), "%s", mongo_field("ctx_00120", "updated_at"));
	is_int(sync_push_all(s, &pushed, &err), 0, "the same rows pushed again (%s)", err.msg);
	is_int(pushed, 50, "... acknowledged");
	is_int(status_of(c, COLL_CONTEXTS).conflicts, 0, "... no conflict");
	is_int(mt_count(cl, "contexts", "{}"), count, "... no new document");
	is_str(mongo_field("ctx_00120", "updated_at"), before, "... the document unchanged");
	sync_free(s);
	store_close(c);
}

/* A pull stopped after two pages resumes after them. */
static void
interrupted(const char *uri)
{
	char pc[4096];
	struct store *c = st_box("resume", pc, sizeof(pc));
	struct sync *s = new_sync(pc, uri);
	int64_t pulled = 0, first = 0, n = 0, want = mt_count(cl, "contexts",
	    "{\"metadata.appliance_id\":\"" APPLIANCE "\"}");

	is_int(sync_pull_pages(s, 2, &first, &err), 0, "a pull stopped after 2 pages (%s)",
	    err.msg);
	is_int(first, 2 * page, "... pulled 2 pages");
	sync_free(s);
	s = new_sync(pc, uri);
	is_int(sync_pull_all(s, &pulled, &err), 0, "the next pull (%s)", err.msg);
	is_int(pulled, want - 2 * page, "... resumes after them");
	store_count(c, COLL_CONTEXTS, &n, &err);
	is_int(n, want, "... and the box has them all");
	sync_free(s);
	store_close(c);
}

/* A pulling process killed with SIGKILL once a page is in; the next pull resumes. */
static void
killed(const char *uri)
{
	char pc[4096];
	struct store *c = st_box("killed", pc, sizeof(pc));
	struct pull_checkpoint cp = { "", "", 0 };
	int64_t pulled = 0, n = 0, t0 = gb_mono_ms(), want = mt_count(cl, "contexts",
	    "{\"metadata.appliance_id\":\"" APPLIANCE "\"}");
	int status = 0;
	pid_t pid;

	if ((pid = fork()) == 0) {
		struct sync *s = new_sync(pc, uri);
		int64_t got;

		_exit(sync_pull_all(s, &got, &err) ? 1 : 0);
	}
	while (cp.pulled == 0 && gb_mono_ms() - t0 < 30000) {
		usleep(1000);
		store_checkpoint_get(c, COLL_CONTEXTS, &cp, &err);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	store_checkpoint_get(c, COLL_CONTEXTS, &cp, &err);
	ok(WIFSIGNALED(status) && cp.pulled > 0 && cp.pulled < want, "a pulling process killed "
	    "with SIGKILL after %" PRId64 " of %" PRId64 " contexts", cp.pulled, want);
	{
		struct sync *s = new_sync(pc, uri);

		is_int(sync_pull_all(s, &pulled, &err), 0, "a new process pulls (%s)", err.msg);
		sync_free(s);
	}
	is_int(pulled, want - cp.pulled, "... from where the killed one stopped");
	store_count(c, COLL_CONTEXTS, &n, &err);
	is_int(n, want, "... and the box has them all");
	store_close(c);
}

#define EDGE_CTX(id, status, at) \
	"{\"_id\":" id ",\"organization_id\":\"org_123\",\"status\":\"" status "\"," at \
	"\"metadata\":{\"appliance_id\":\"" APPLIANCE "\"}}"
#define OID "5f1d00000000000000000001"
#define OID2 "5f1d00000000000000000002"

/*
 * What the pull cannot store (an ObjectId _id, a status the rules refuse)
 * goes to the rejected list and the status, and the checkpoint moves past
 * it; documents without a Date updated_at are counted; a document written
 * late, before the checkpoint, is pulled all the same.
 */
static void
pull_edges(struct store *b, const char *pb, const char *uri)
{
	struct sync *s = new_sync(pb, uri);
	struct sync_coll_status st0 = status_of(b, COLL_CONTEXTS), st1;
	char error[256] = "";
	int64_t pulled = 0, pushed = 0;

	mt_insert_json(cl, "contexts", EDGE_CTX("{\"$oid\":\"" OID "\"}", "pending",
	    "\"updated_at\":{\"$date\":\"2040-01-01T00:00:00Z\"},"));
	mt_insert_json(cl, "contexts", EDGE_CTX("\"ctx_e1\"", "bogus",
	    "\"updated_at\":{\"$date\":\"2040-01-01T00:00:00Z\"},"));
	mt_insert_json(cl, "contexts", EDGE_CTX("\"ctx_e2\"", "pending",
	    "\"updated_at\":{\"$date\":\"2040-01-01T00:00:01Z\"},"));
	mt_insert_json(cl, "contexts", EDGE_CTX("\"ctx_e3\"", "pending",
	    "\"updated_at\":\"2040-01-01T00:00:02Z\","));
	mt_insert_json(cl, "contexts", EDGE_CTX("\"ctx_e4\"", "pending", ""));
	is_int(sync_pull_all(s, &pulled, &err), 0, "pull past documents the box cannot store (%s)",
	    err.msg);
	is_int(pulled, 1, "... the one it can is pulled");
	ok(has_ctx(b, "ctx_e2"), "... ctx_e2 is in the box");
	ok(!has_ctx(b, OID), "an ObjectId _id is not stored as a string");
	is_int(rejected_dir(b, "{\"$oid\":\"" OID "\"}", error, sizeof(error)), 1,
	    "... it is in the rejected list as refused on pull");
	is_str(error, "_id is an ObjectId; genbox stores string _ids only", "... with why");
	ok(!has_ctx(b, "ctx_e1"), "a status the rules refuse is not stored");
	is_int(rejected_dir(b, "ctx_e1", error, sizeof(error)), 1,
	    "... it is in the rejected list as refused on pull");
	like(error, "bogus", "... with the rules' error");
	st1 = status_of(b, COLL_CONTEXTS);
	is_int(st1.rejected - st0.rejected, 2, "the status counts both as rejected");
	is_str(st1.checkpoint.updated_at, "2040-01-01T00:00:01.000Z", "the checkpoint moved past "
	    "them");
	is_str(st1.checkpoint.id, "ctx_e2", "... to the last document");
	is_int(st1.undated, st0.undated, "the pull itself does not scan for undated documents");
	is_int(sync_count_undated(s, &err), 0, "sync_count_undated (%s)", err.msg);
	st1 = status_of(b, COLL_CONTEXTS);
	is_int(st1.undated, 2, "the documents without a Date updated_at are counted");
	is_int(st1.last_error_ms, 0, "... no error");

	is_int(sync_push_all(s, &pushed, &err), 0, "the box pushes (%s)", err.msg);
	is_int(mt_count(cl, "contexts", "{\"_id\":\"" OID "\"}"), 0,
	    "... no string twin of the ObjectId document in MongoDB");
	is_int(mt_count(cl, "contexts", "{\"_id\":{\"$oid\":\"" OID "\"}}"), 1,
	    "... which is still there once");
	is_int(sync_pull_all(s, &pulled, &err), 0, "pull again (%s)", err.msg);
	is_int(status_of(b, COLL_CONTEXTS).rejected, st1.rejected,
	    "... the same refusals are not counted twice");

	mt_insert_json(cl, "contexts", EDGE_CTX("\"ctx_e5\"", "pending",
	    "\"updated_at\":{\"$date\":\"2039-12-31T23:59:59Z\"},"));
	is_int(sync_pull_all(s, &pulled, &err), 0, "a document written late, 2 s before the "
	    "checkpoint (%s)", err.msg);
	is_int(pulled, 1, "... is pulled by the next round");
	ok(has_ctx(b, "ctx_e5"), "... it is in the box");
	st1 = status_of(b, COLL_CONTEXTS);
	ok(strcmp(st1.checkpoint.updated_at, "2040-01-01T00:00:01.000Z") == 0 &&
	    strcmp(st1.checkpoint.id, "ctx_e2") == 0, "... the checkpoint did not go back (%s %s)",
	    st1.checkpoint.updated_at, st1.checkpoint.id);
	mt_insert_json(cl, "contexts", EDGE_CTX("{\"$oid\":\"" OID2 "\"}", "pending",
	    "\"updated_at\":{\"$date\":\"2040-01-01T00:00:03Z\"},"));
	is_int(sync_pull_all(s, &pulled, &err), 0, "an ObjectId document last (%s)", err.msg);
	st1 = status_of(b, COLL_CONTEXTS);
	ok(strcmp(st1.checkpoint.updated_at, "2040-01-01T00:00:03.000Z") == 0 &&
	    strcmp(st1.checkpoint.id, "{\"$oid\":\"" OID2 "\"}") == 0,
	    "... is the checkpoint, its own _id (%s %s)", st1.checkpoint.updated_at,
	    st1.checkpoint.id);
	sync_free(s);
}

int
main(void)
{
	enum peer_mongo kind = peer_mongo_kind_from_env();
	const char *uri = peer_mongo_start(kind, NULL, NULL);
	char pa[4096], pb[4096];
	struct store *a = st_box("a", pa, sizeof(pa)), *b = NULL;
	struct sync *s;

	n_ctx = kind == PEER_JONGODB ? 600 : 10000;
	page = kind == PEER_JONGODB ? 100 : 1000;
	tap_diag("MongoDB peer: %s, %d contexts, pages of %d", peer_mongo_name(kind), n_ctx, page);
	cl = mt_client(uri);
	fill(a, 0, n_ctx);
	s = new_sync(pa, uri);
	push_many(a, s);
	pull_many(uri, &b, pb, sizeof(pb));
	newer_wins_push(a, s);
	newer_wins_pull(b, pb, uri);
	rejected(a, s);
	shard_key(a, s);
	clock_skew(a);
	replay(uri);
	sync_free(s);
	interrupted(uri);
	killed(uri);
	pull_edges(b, pb, uri);
	store_close(a);
	store_close(b);
	mongoc_client_destroy(cl);
	return tap_done();
}
