/*
 * t306-web-jobs.c - the box's jobs and its database file as `genbox serve`
 * shows them. Job rows are written into the served database by this
 * process through storage/jobs.h (as the CLI or a scheduler would); then
 * /metrics carries genbox_job_* with their values and genbox_db_* with the
 * file's figures, /healthz degrades (200) on a failed job and on an old
 * backup and turns unhealthy (503) on a failed quick_check, the dashboard
 * lists the jobs and the UI's page loads a Jobs panel; a hostile job name
 * and counts keys come out escaped in the metrics text and unchanged in
 * the JSON the UI renders as text.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "../base/gbtime.h"
#include "../storage/jobs.h"
#include "../storage/store.h"
#include "httpc.h"
#include "peer.h"
#include "tap.h"
#include "util.h"

#define DAY_MS (86400 * 1000LL)
#define HOSTILE "<b>\"a\\b\"}{\n</b>"	/* a job name */
#define HOSTILE_LABEL "job=\"<b>\\\"a\\\\b\\\"__\\n</b>\""
#define HOSTILE_COUNTS "{\"<i>\\\"w}{\":5,\"text\":\"x\"}"

static char db[4096], base[64], token[256];
static struct store *st;
static struct gb_err err;

static void
setup_db(void)
{
	char dbarg[4200];
	struct store_opts o = { 0, 1, 0, 10000, 0, 0 };
	sqlite3 *h = NULL;
	struct run r;
	char *nl;

	snprintf(db, sizeof(db), "%s/t306.db", util_tmpdir());
	snprintf(dbarg, sizeof(dbarg), "--db=%s", db);
	util_genbox_run(&r, NULL, dbarg, "demo", NULL);
	if (r.status)
		tap_bail("demo: %s", r.err);
	run_free(&r);
	util_genbox_run(&r, NULL, dbarg, "apikey", "create", "--user", "user_456", NULL);
	if (r.status)
		tap_bail("apikey: %s", r.err);
	snprintf(token, sizeof(token), "%s", r.out);
	if ((nl = strchr(token, '\n')) != NULL)
		*nl = '\0';
	run_free(&r);
	/* free pages: a table filled and dropped */
	if (sqlite3_open(db, &h) != SQLITE_OK || sqlite3_exec(h, "CREATE TABLE junk (b BLOB); "
	    "INSERT INTO junk VALUES (zeroblob(1048576)); DROP TABLE junk;", NULL, NULL, NULL))
		tap_bail("junk: %s", sqlite3_errmsg(h));
	sqlite3_close(h);
	if (store_open(&st, db, &o, &err))
		tap_bail("open: %s", err.msg);
}

static pid_t
serve_start(void)
{
	char dbarg[4200], listen[64], log[4200];
	char *argv[] = { (char *)util_genbox(), dbarg, "serve", "--listen", listen, "--workers",
		"1", NULL };
	int port = peer_free_port();
	pid_t pid;

	snprintf(dbarg, sizeof(dbarg), "--db=%s", db);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	snprintf(log, sizeof(log), "%s/serve.log", util_tmpdir());
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", port);
	pid = util_spawn(argv, log, 0);
	for (int64_t t0 = gb_mono_ms(); gb_mono_ms() - t0 < 15000; usleep(50 * 1000)) {
		char url[128];

		snprintf(url, sizeof(url), "%s/healthz", base);
		if (peer_http_status(url) == 200)
			return pid;
	}
	tap_bail("serve did not answer on %s", base);
}

/* GET path: the status, the body into *body (caller frees). */
static long
get(const char *path, const char *key, char **body)
{
	struct http_resp r;
	char url[512];
	long status;

	snprintf(url, sizeof(url), "%s%s", base, path);
	if (http_req(&r, "GET", url, key, NULL, NULL, 0))
		tap_bail("GET %s failed", url);
	status = r.status;
	*body = strdup(r.body ? r.body : "");
	http_resp_free(&r);
	return status;
}

static double
metric(const char *name)
{
	char *body;
	double v;

	get("/metrics", NULL, &body);
	v = http_metric_value(body, name);
	free(body);
	return v;
}

/* /healthz: the status code, and the parsed body into *j (caller deletes). */
static long
health(cJSON **j)
{
	char *body;
	long s = get("/healthz", NULL, &body);

	*j = cJSON_Parse(body);
	free(body);
	return s;
}

static const char *
jstr(const cJSON *j, const char *a, const char *b, const char *c)
{
	const cJSON *x = cJSON_GetObjectItem(j, a);

	if (b)
		x = cJSON_GetObjectItem(x, b);
	if (c)
		x = cJSON_GetObjectItem(x, c);
	return cJSON_IsString(x) ? x->valuestring : cJSON_IsBool(x) ? (cJSON_IsTrue(x) ?
	    "true" : "false") : cJSON_IsNumber(x) ? "number" : "(none)";
}

/* Whether a reason of /healthz holds want. */
static int
has_reason(const cJSON *j, const char *want)
{
	const cJSON *r;

	cJSON_ArrayForEach(r, cJSON_GetObjectItem(j, "reasons"))
		if (cJSON_IsString(r) && strstr(r->valuestring, want))
			return 1;
	return 0;
}

static void
job(const char *name, int64_t start, int64_t end, int good, const char *counts,
    const char *error)
{
	if (store_job_begin(st, name, start, &err) ||
	    (end && store_job_end(st, name, end, good, counts, error, &err)))
		tap_bail("job %s: %s", name, err.msg);
}

/* Every sample line of a Prometheus text is name{label="escaped",...} value. */
static int
metrics_well_formed(const char *text, char *bad, size_t size)
{
	for (const char *l = text; *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l)) {
		const char *p = l;

		if (*p == '#' || *p == '\n')
			continue;
		p += strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:");
		if (*p == '{') {
			do {
				p++;
				p += strspn(p, "abcdefghijklmnopqrstuvwxyz_");
				if (p[0] != '=' || p[1] != '"')
					goto bad;
				for (p += 2; *p && *p != '"' && *p != '\n'; p++)
					if (*p == '\\' && (p[1] == '\\' || p[1] == '"' || p[1] == 'n'))
						p++;
					else if (*p == '\\')
						goto bad;
				if (*p++ != '"')
					goto bad;
			} while (*p == ',');
			if (*p++ != '}')
				goto bad;
		}
		if (*p != ' ')
			goto bad;
		continue;
bad:
		snprintf(bad, size, "%.*s", (int)strcspn(l, "\n"), l);
		return 0;
	}
	return 1;
}

static void
test_figures(void)
{
	char *body;
	double file, page, freep, wal;

	get("/metrics", NULL, &body);
	file = http_metric_value(body, "genbox_db_file_bytes");
	page = http_metric_value(body, "genbox_db_page_size_bytes");
	freep = http_metric_value(body, "genbox_db_free_pages");
	wal = http_metric_value(body, "genbox_db_wal_bytes");
	free(body);
	ok(page == 4096, "genbox_db_page_size_bytes is the page size (%g)", page);
	ok(file > 1048576 && (long long)file % 4096 == 0,
	    "genbox_db_file_bytes is whole pages, with the dropped MiB (%g)", file);
	ok(freep >= 200, "genbox_db_free_pages counts the freed pages (%g)", freep);
	/*
	 * serve writes and the keeper checkpoints (and truncates) meanwhile: any
	 * size the WAL had, so 0 or its 32-byte header and whole frames of a page
	 */
	ok(wal == 0 || (wal >= 32 && ((long long)wal - 32) % (24 + 4096) == 0),
	    "genbox_db_wal_bytes is a size of the WAL: its header and whole frames (%g)", wal);
}

static void
test_ok_job(int64_t now)
{
	cJSON *j;

	job("archive", now - 5000, now - 2000, 1, "{\"contexts\":10000,\"batches\":3,"
	    "\"bytes\":123456}", NULL);
	ok(metric("genbox_job_last_run_timestamp_seconds{job=\"archive\"}") ==
	    (double)(now - 5000) / 1000, "the last run's time");
	ok(metric("genbox_job_last_success_timestamp_seconds{job=\"archive\"}") ==
	    (double)(now - 2000) / 1000, "the last success's time");
	ok(metric("genbox_job_ok{job=\"archive\"}") == 1, "genbox_job_ok 1");
	ok(metric("genbox_job_running{job=\"archive\"}") == 0, "genbox_job_running 0");
	ok(metric("genbox_job_count{job=\"archive\",what=\"contexts\"}") == 10000 &&
	    metric("genbox_job_count{job=\"archive\",what=\"bytes\"}") == 123456,
	    "genbox_job_count per number of counts");
	is_int(health(&j), 200, "/healthz 200 with a job that went well");
	is_str(jstr(j, "status", NULL, NULL), "ok", "... status ok");
	is_str(jstr(j, "jobs", "archive", "ok"), "true", "... jobs.archive.ok");
	ok(strcmp(jstr(j, "jobs", "archive", "last_success"), "(none)") != 0,
	    "... and its last success");
	cJSON_Delete(j);
}

/* A run whose process was killed: failed, interrupted, not running (the first run of a job too). */
static void
test_killed_job(int64_t now)
{
	struct store_opts o = { 0, 0, 0, 10000, 0, 0 };
	const char *names[] = { "archive", "t306_first" };
	char name[128];
	cJSON *j;

	for (int i = 0; i < 2; i++) {
		pid_t pid;

		fflush(stdout);
		if ((pid = fork()) == 0) {
			struct store *s2;

			if (store_open(&s2, db, &o, &err) == 0 &&
			    store_job_begin(s2, names[i], now + 10, &err) == 0)
				raise(SIGKILL);
			_exit(1);
		}
		waitpid(pid, NULL, 0);
		is_int(health(&j), 200, "%s: a run killed: /healthz 200", names[i]);
		is_str(jstr(j, "status", NULL, NULL), "degraded", "... degraded");
		is_str(jstr(j, "jobs", names[i], "running"), "false", "... jobs.%s.running false",
		    names[i]);
		like(jstr(j, "jobs", names[i], "error"), "interrupted: the process running it "
		    "ended before the job did", "... its error says it was interrupted");
		cJSON_Delete(j);
		snprintf(name, sizeof(name), "genbox_job_running{job=\"%s\"}", names[i]);
		ok(metric(name) == 0, "... genbox_job_running 0");
		job(names[i], now + 20, now + 30, 1, "{}", NULL);
	}
	is_str((health(&j), jstr(j, "status", NULL, NULL)), "ok", "good runs again: ok");
	cJSON_Delete(j);
}

static void
test_failed_job(int64_t now)
{
	cJSON *j;

	job("archive", now - 1000, now - 500, 0, NULL, "S3: 403 SignatureDoesNotMatch");
	is_int(health(&j), 200, "a failed job: /healthz still 200");
	is_str(jstr(j, "status", NULL, NULL), "degraded", "... degraded");
	ok(has_reason(j, "job 'archive' failed: S3: 403 SignatureDoesNotMatch"),
	    "... naming the job and its error");
	is_str(jstr(j, "jobs", "archive", "error"), "S3: 403 SignatureDoesNotMatch",
	    "... jobs.archive.error");
	cJSON_Delete(j);
	ok(metric("genbox_job_ok{job=\"archive\"}") == 0, "genbox_job_ok 0");
	ok(metric("genbox_job_last_success_timestamp_seconds{job=\"archive\"}") ==
	    (double)(now - 2000) / 1000, "... the last success kept");
	job("docmigrate", now, 0, 0, NULL, NULL);
	ok(metric("genbox_job_running{job=\"docmigrate\"}") == 1, "a run begun: running 1");
	job("archive", now, now, 1, "{}", NULL);
	job("docmigrate", now, now, 1, "{\"migrated\":4}", NULL);
	is_str((health(&j), jstr(j, "status", NULL, NULL)), "ok", "the next good run: ok again");
	cJSON_Delete(j);
	test_killed_job(now);
}

static void
test_backup(int64_t now)
{
	cJSON *j;

	now = gb_now_ms();
	/* 71.5 h old: "71 h" however slow this machine is */
	job("backup", now - 3 * DAY_MS, now - 3 * DAY_MS + 1800 * 1000, 1, "{\"bytes\":1}", NULL);
	is_int(health(&j), 200, "a backup 3 days old (schedule daily): 200");
	is_str(jstr(j, "status", NULL, NULL), "degraded", "... degraded");
	ok(has_reason(j, "backup is 71 h old"), "... saying how old");
	like(jstr(j, "jobs", "backup", "warning"), "more than twice the schedule",
	    "... with a warning on the job");
	cJSON_Delete(j);
	job("backup", now - 1000, now, 1, "{\"bytes\":1}", NULL);
	is_str((health(&j), jstr(j, "status", NULL, NULL)), "ok", "a fresh backup: ok");
	cJSON_Delete(j);
}

static void
test_quick_check(int64_t now)
{
	cJSON *j;

	job("quick_check", now, now + 1, 0, "{}", "*** in database main *** Page 7: btreeInitPage "
	    "error");
	is_int(health(&j), 503, "a failed quick_check: /healthz 503");
	is_str(jstr(j, "status", NULL, NULL), "unhealthy", "... unhealthy");
	ok(has_reason(j, "database corrupt"), "... saying the database is corrupt");
	is_str(jstr(j, "database", "last_check", "ok"), "false", "... database.last_check.ok");
	cJSON_Delete(j);
	job("quick_check", now + 2, now + 3, 1, "{}", NULL);
	is_int(health(&j), 200, "a good check: 200 again");
	is_str(jstr(j, "status", NULL, NULL), "ok", "... ok");
	cJSON_Delete(j);
}

static void
test_hostile(int64_t now)
{
	char *body, bad[512] = "", name[256];
	cJSON *j, *it, *jobs;
	int found = 0;

	job(HOSTILE, now, now, 1, HOSTILE_COUNTS, NULL);
	get("/metrics", NULL, &body);
	ok(metrics_well_formed(body, bad, sizeof(bad)), "/metrics stays well formed %s", bad);
	snprintf(name, sizeof(name), "genbox_job_ok{%s}", HOSTILE_LABEL);
	ok(http_metric_value(body, name) == 1, "a hostile job name is escaped in its labels");
	snprintf(name, sizeof(name), "genbox_job_count{%s,what=\"<i>\\\"w__\"}", HOSTILE_LABEL);
	ok(http_metric_value(body, name) == 5, "... and a hostile counts key");
	free(body);
	is_int(get("/api/v1/dashboard", token, &body), 200, "the dashboard answers");
	j = cJSON_Parse(body);
	free(body);
	jobs = cJSON_GetObjectItem(j, "jobs");
	cJSON_ArrayForEach(it, jobs)
		if (strcmp(jstr(it, "job", NULL, NULL), HOSTILE) == 0 &&
		    cJSON_GetObjectItem(cJSON_GetObjectItem(it, "counts"), "<i>\"w}{") != NULL)
			found++;
	is_int(found, 1, "... listing the hostile job with its name and counts unchanged");
	ok(cJSON_GetArraySize(jobs) == 6, "... and every job (%d, t306_first among them)",
	    cJSON_GetArraySize(jobs));
	ok(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "database"), "free_pages") != NULL,
	    "... and the database's figures");
	cJSON_Delete(j);
}

static void
test_ui(void)
{
	char *body;

	is_int(get("/", NULL, &body), 200, "the UI's page is served");
	ok(strstr(body, "views.js") != NULL, "... loading views.js");
	free(body);
	is_int(get("/views.js", NULL, &body), 200, "views.js is served");
	ok(strstr(body, "'Jobs'") && strstr(body, "jobs-panel") && strstr(body, "jobs-table"),
	    "... with the dashboard's Jobs panel");
	ok(strstr(body, "innerHTML") == NULL, "... which never writes HTML from data");
	free(body);
}

int
main(void)
{
	int64_t now = gb_now_ms();
	int status;
	cJSON *j;
	pid_t pid;

	setup_db();
	pid = serve_start();
	is_int(health(&j), 200, "a box fresh from its start: 200");
	{	/* serve's own start check may be there already, and went well (or runs) */
		cJSON *jobs = cJSON_GetObjectItem(j, "jobs"), *it;
		int others = 0, failed = 0;

		cJSON_ArrayForEach(it, jobs) {
			others += strcmp(it->string, "quick_check") != 0 &&
			    strcmp(it->string, "backup") != 0;
			/* the first scheduled backup may be under way: not ok yet */
			failed += !cJSON_IsTrue(cJSON_GetObjectItem(it, "ok")) &&
			    !cJSON_IsTrue(cJSON_GetObjectItem(it, "running"));
		}
		ok(cJSON_IsObject(jobs) && others == 0 && failed == 0,
		    "... with jobs {} or only the start's, all ok (%d others, %d failed)", others,
		    failed);
	}
	ok(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "database"), "file_bytes") != NULL,
	    "... and the database's figures");
	cJSON_Delete(j);
	test_figures();
	test_ok_job(now);
	test_failed_job(now);
	test_backup(now);
	test_quick_check(now);
	test_hostile(now);
	test_ui();
	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
	is_int(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0, "serve stops cleanly");
	store_close(st);
	return tap_done();
}
