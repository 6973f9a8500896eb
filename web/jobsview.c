/*
 * jobsview.c - the box's own jobs (storage/jobs.h: archive, backup,
 * optimize, quick_check, docmigrate, and any other row of box_jobs) and the
 * database file's figures (storage/filestats.h), as /healthz, /metrics and
 * the dashboard show them. Read from storage at each request, so they are
 * the same whoever ran the job (the daemon or the CLI).
 *
 * Health: a job whose last run failed degrades /healthz (200) naming it; a
 * backup whose last success is older than twice [backup] schedule
 * (web_config.backup_schedule_s; 0: no such rule) degrades it with a
 * warning; a failed quick_check (the database is corrupt) makes it
 * unhealthy (503).
 *
 * Job names and the keys of counts are whatever the rows hold: in metric
 * labels they are escaped as Prometheus wants (\\ \" \n), with braces and
 * other control bytes (which the registry refuses) as '_'.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/gbtime.h"
#include "../storage/filestats.h"
#include "../storage/jobs.h"
#include "internal.h"

#define JOBS_SHOWN 64			/* rows of box_jobs read at most */
#define JOBS_LABEL_MAX 40		/* bytes of a job name or counts key in a label: two
					 * escaped fit METRICS_LABELS_MAX */

/* The jobs on record into *out (caller frees); *n of them. */
static int
jobs_read(struct web_req *r, struct store_job **out, int *n, struct gb_err *err)
{
	*n = 0;
	if ((*out = calloc(JOBS_SHOWN, sizeof(**out))) == NULL)
		return gb_errf(err, GB_ENOMEM, "out of memory");
	if (r->st == NULL)
		return gb_errf(err, GB_EIO, "database unusable");
	return store_job_list(r->st, *out, JOBS_SHOWN, n, err);
}

/* Its last run failed, or was interrupted (a first run too: no end, an error). */
static int
jobs_failed(const struct store_job *j)
{
	return !j->running && !j->ok && (j->finished_ms > 0 || j->error[0]);
}

/*
 * A backup's warning into msg when the last good one is older than twice
 * the schedule (or there never was one though it ran): 1, else 0.
 */
static int
jobs_backup_old(const struct web *w, const struct store_job *j, int64_t now, char *msg,
    size_t size)
{
	int64_t limit = 2LL * w->cfg.backup_schedule_s * 1000;

	if (w->cfg.backup_schedule_s <= 0 || strcmp(j->job, "backup") != 0)
		return 0;
	if (j->last_ok_ms > 0 && now - j->last_ok_ms <= limit)
		return 0;
	if (j->last_ok_ms > 0)
		snprintf(msg, size, "the last good backup is %lld h old (more than twice the "
		    "schedule of %d s)", (long long)((now - j->last_ok_ms) / 3600000),
		    w->cfg.backup_schedule_s);
	else
		snprintf(msg, size, "no backup has succeeded yet");
	return 1;
}

static cJSON *
jobs_counts_json(const char *counts)
{
	cJSON *c = cJSON_Parse(counts);

	if (!cJSON_IsObject(c)) {
		cJSON_Delete(c);
		c = cJSON_CreateObject();
	}
	return c;
}

static cJSON *
jobs_one_json(const struct store_job *j)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddBoolToObject(o, "ok", j->ok);
	cJSON_AddBoolToObject(o, "running", j->running);
	cJSON_AddItemToObject(o, "last_run", web_time_or_null(j->started_ms));
	cJSON_AddItemToObject(o, "last_finished", web_time_or_null(j->finished_ms));
	cJSON_AddItemToObject(o, "last_success", web_time_or_null(j->last_ok_ms));
	if (j->error[0])
		cJSON_AddStringToObject(o, "error", j->error);
	else
		cJSON_AddNullToObject(o, "error");
	cJSON_AddItemToObject(o, "counts", jobs_counts_json(j->counts));
	return o;
}

/* The figures of the database file into o; 0, or -1 when they could not be read. */
static int
jobs_db_figures(struct web_req *r, cJSON *o)
{
	struct store_filestats fs;
	struct gb_err err = { 0, "" };

	if (r->st == NULL || store_filestats(r->st, &fs, &err))
		return -1;
	cJSON_AddNumberToObject(o, "file_bytes", (double)fs.file_bytes);
	cJSON_AddNumberToObject(o, "page_size", (double)fs.page_size);
	cJSON_AddNumberToObject(o, "free_pages", (double)fs.free_pages);
	cJSON_AddNumberToObject(o, "wal_bytes", (double)fs.wal_bytes);
	return 0;
}

/* The last quick_check into db (/healthz "database"): "last_check" {at, ok, error} or null. */
static void
jobs_last_check(cJSON *db, const struct store_job *j)
{
	cJSON *c;

	if (j == NULL || j->finished_ms == 0) {
		cJSON_AddNullToObject(db, "last_check");
		return;
	}
	c = cJSON_AddObjectToObject(db, "last_check");
	cJSON_AddItemToObject(c, "at", web_time_or_null(j->finished_ms));
	cJSON_AddBoolToObject(c, "ok", j->ok);
	if (j->error[0])
		cJSON_AddStringToObject(c, "error", j->error);
	else
		cJSON_AddNullToObject(c, "error");
}

void
web_jobs_health(struct web_req *r, cJSON *jobs, cJSON *db, cJSON *reasons, cJSON *local)
{
	struct gb_err err = { 0, "" };
	const struct store_job *check = NULL;
	struct store_job *v = NULL;
	int64_t now = gb_now_ms();
	char msg[STORE_JOB_ERROR_MAX + 200];
	int n = 0;

	jobs_db_figures(r, db);
	if (jobs_read(r, &v, &n, &err) == 0)
		for (int i = 0; i < n; i++) {
			cJSON *o = jobs_one_json(&v[i]);

			if (strcmp(v[i].job, "quick_check") == 0)
				check = &v[i];
			if (jobs_failed(&v[i])) {
				snprintf(msg, sizeof(msg), "%s '%s' failed: %s",
				    check == &v[i] ? "database corrupt: check" : "job", v[i].job,
				    v[i].error[0] ? v[i].error : "no message");
				cJSON_AddItemToArray(check == &v[i] ? local : reasons,
				    cJSON_CreateString(msg));
			}
			if (jobs_backup_old(r->web, &v[i], now, msg, sizeof(msg))) {
				cJSON_AddStringToObject(o, "warning", msg);
				cJSON_AddItemToArray(reasons, cJSON_CreateString(msg));
			}
			cJSON_AddItemToObject(jobs, v[i].job, o);
		}
	jobs_last_check(db, check);
	free(v);
}

cJSON *
web_jobs_json(struct web_req *r, struct gb_err *err)
{
	struct store_job *v = NULL;
	int64_t now = gb_now_ms();
	char msg[200];
	cJSON *out, *arr, *db;
	int n = 0;

	if (jobs_read(r, &v, &n, err)) {
		free(v);
		return NULL;
	}
	out = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(out, "jobs");
	for (int i = 0; i < n; i++) {
		cJSON *o = jobs_one_json(&v[i]);

		cJSON_AddItemToObjectCS(o, "job", cJSON_CreateString(v[i].job));
		if (jobs_backup_old(r->web, &v[i], now, msg, sizeof(msg)))
			cJSON_AddStringToObject(o, "warning", msg);
		cJSON_AddItemToArray(arr, o);
	}
	db = cJSON_AddObjectToObject(out, "database");
	jobs_db_figures(r, db);
	free(v);
	return out;
}

/* ---- /metrics ---- */

/* s as a Prometheus label value (without quotes) into out. */
static void
jobs_label_value(const char *s, char *out, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; s[i] && i < JOBS_LABEL_MAX && o + 3 < size; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\\' || c == '"') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else {
			out[o++] = (char)(c < 0x20 || c == 0x7f || c == '{' || c == '}' ? '_' : c);
		}
	}
	out[o] = '\0';
}

/* Every number of a job's counts as genbox_job_count{job=...,what=...}. */
static void
jobs_count_metrics(struct web *w, const char *jl, const char *counts)
{
	cJSON *c = cJSON_Parse(counts), *it;
	char what[2 * JOBS_LABEL_MAX + 2], l[METRICS_LABELS_MAX];

	if (!cJSON_IsObject(c)) {
		cJSON_Delete(c);
		return;
	}
	cJSON_ArrayForEach(it, c) {
		if (!cJSON_IsNumber(it) || it->string == NULL)
			continue;
		jobs_label_value(it->string, what, sizeof(what));
		if ((size_t)snprintf(l, sizeof(l), "job=\"%s\",what=\"%s\"", jl, what) >=
		    sizeof(l))
			continue;
		metric_set(metrics_gauge(w->metrics, "genbox_job_count", l,
		    "What the last run of the job counted (a number of its counts)"),
		    it->valuedouble);
	}
	cJSON_Delete(c);
}

static void
jobs_one_metrics(struct web *w, const struct store_job *j)
{
	char jl[2 * JOBS_LABEL_MAX + 2], l[METRICS_LABELS_MAX];

	jobs_label_value(j->job, jl, sizeof(jl));
	snprintf(l, sizeof(l), "job=\"%s\"", jl);
	metric_set(metrics_gauge(w->metrics, "genbox_job_last_run_timestamp_seconds", l,
	    "Unix time the last run of the job began (0: never)"), (double)j->started_ms / 1000.0);
	metric_set(metrics_gauge(w->metrics, "genbox_job_last_success_timestamp_seconds", l,
	    "Unix time the last good run of the job ended (0: never)"),
	    (double)j->last_ok_ms / 1000.0);
	metric_set(metrics_gauge(w->metrics, "genbox_job_ok", l,
	    "1 when the last finished run of the job went well, else 0"), j->ok ? 1 : 0);
	metric_set(metrics_gauge(w->metrics, "genbox_job_running", l,
	    "1 while a run of the job is under way (or its process died in it), else 0"),
	    j->running ? 1 : 0);
	jobs_count_metrics(w, jl, j->counts);
}

void
web_jobs_metrics(struct web_req *r)
{
	struct gb_err err = { 0, "" };
	struct store_filestats fs;
	struct store_job *v = NULL;
	struct metrics *m = r->web->metrics;
	int n = 0;

	if (r->st != NULL && store_filestats(r->st, &fs, &err) == 0) {
		metric_set(metrics_gauge(m, "genbox_db_file_bytes", NULL,
		    "Size of the database file (pages x page size)"), (double)fs.file_bytes);
		metric_set(metrics_gauge(m, "genbox_db_free_pages", NULL,
		    "Pages of the database file on its freelist"), (double)fs.free_pages);
		metric_set(metrics_gauge(m, "genbox_db_page_size_bytes", NULL,
		    "The database's page size"), (double)fs.page_size);
		metric_set(metrics_gauge(m, "genbox_db_wal_bytes", NULL,
		    "Size of the database's write-ahead log file"), (double)fs.wal_bytes);
	}
	if (jobs_read(r, &v, &n, &err) == 0)
		for (int i = 0; i < n; i++)
			jobs_one_metrics(r->web, &v[i]);
	free(v);
}
