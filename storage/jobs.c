/*
 * jobs.c - the last run of each of the box's own jobs (jobs.h), one row of
 * box_jobs per job.
 */
#include <stdio.h>
#include <string.h>

#include "../base/json.h"
#include "internal.h"
#include "jobs.h"

#define JOB_BEGIN_SQL \
	"INSERT INTO box_jobs (job, started_ms, running) VALUES (?1, ?2, 1) " \
	"ON CONFLICT (job) DO UPDATE SET started_ms = excluded.started_ms, running = 1"
#define JOB_END_SQL \
	"INSERT INTO box_jobs (job, started_ms, finished_ms, ok, counts, error, last_ok_ms, " \
	"running) VALUES (?1, ?2, ?2, ?3, ?4, ?5, CASE WHEN ?3 THEN ?2 ELSE 0 END, 0) " \
	"ON CONFLICT (job) DO UPDATE SET finished_ms = ?2, ok = ?3, counts = ?4, error = ?5, " \
	"last_ok_ms = CASE WHEN ?3 THEN ?2 ELSE last_ok_ms END, running = 0"
#define JOB_COLS "job, started_ms, finished_ms, last_ok_ms, ok, running, counts, error"
#define JOB_GET_SQL "SELECT " JOB_COLS " FROM box_jobs WHERE job = ?1"
#define JOB_LIST_SQL "SELECT " JOB_COLS " FROM box_jobs ORDER BY job LIMIT ?1"

static int
job_name_ok(const char *job, struct gb_err *err)
{
	if (job == NULL || *job == '\0' || strlen(job) >= STORE_JOB_NAME_MAX)
		return gb_errf(err, GB_EINVAL, "job name must be 1 to %d bytes",
		    STORE_JOB_NAME_MAX - 1);
	return 0;
}

int
store_job_begin(struct store *st, const char *job, int64_t now_ms, struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc;

	if ((rc = job_name_ok(job, err)) || (rc = store_stmt(st, JOB_BEGIN_SQL, &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, job, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, now_ms);
	rc = sqlite3_step(stmt) == SQLITE_DONE ? 0 : store_sqlerr(st, err, "job begin");
	sqlite3_reset(stmt);
	return rc;
}

int
store_job_end(struct store *st, const char *job, int64_t now_ms, int ok,
    const char *counts, const char *error, struct gb_err *err)
{
	char msg[STORE_JOB_ERROR_MAX];
	sqlite3_stmt *stmt;
	cJSON *j;
	int rc;

	if ((rc = job_name_ok(job, err)))
		return rc;
	if (counts == NULL)
		counts = "{}";
	if (strlen(counts) >= STORE_JOB_COUNTS_MAX)
		return gb_errf(err, GB_EINVAL, "job %s: counts longer than %d bytes", job,
		    STORE_JOB_COUNTS_MAX - 1);
	j = cJSON_Parse(counts);
	rc = cJSON_IsObject(j);
	cJSON_Delete(j);
	if (!rc)
		return gb_errf(err, GB_EINVAL, "job %s: counts must be a JSON object", job);
	store_copy_text(msg, sizeof(msg), (const unsigned char *)(error ? error : ""));
	if ((rc = store_stmt(st, JOB_END_SQL, &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, job, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, now_ms);
	sqlite3_bind_int(stmt, 3, ok ? 1 : 0);
	sqlite3_bind_text(stmt, 4, counts, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 5, msg, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt) == SQLITE_DONE ? 0 : store_sqlerr(st, err, "job end");
	sqlite3_reset(stmt);
	return rc;
}

static void
job_row(sqlite3_stmt *stmt, struct store_job *out)
{
	store_copy_text(out->job, sizeof(out->job), sqlite3_column_text(stmt, 0));
	out->started_ms = sqlite3_column_int64(stmt, 1);
	out->finished_ms = sqlite3_column_int64(stmt, 2);
	out->last_ok_ms = sqlite3_column_int64(stmt, 3);
	out->ok = sqlite3_column_int(stmt, 4);
	out->running = sqlite3_column_int(stmt, 5);
	store_copy_text(out->counts, sizeof(out->counts), sqlite3_column_text(stmt, 6));
	store_copy_text(out->error, sizeof(out->error), sqlite3_column_text(stmt, 7));
}

int
store_job_get(struct store *st, const char *job, struct store_job *out, int *found,
    struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc, step;

	*found = 0;
	memset(out, 0, sizeof(*out));
	strcpy(out->counts, "{}");
	if ((rc = job_name_ok(job, err)) || (rc = store_stmt(st, JOB_GET_SQL, &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, job, -1, SQLITE_STATIC);
	if ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
		job_row(stmt, out);
		*found = 1;
	} else if (step != SQLITE_DONE)
		rc = store_sqlerr(st, err, "job");
	sqlite3_reset(stmt);
	if (!*found)
		snprintf(out->job, sizeof(out->job), "%s", job);
	return rc;
}

int
store_job_list(struct store *st, struct store_job *out, int max, int *n, struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc, step;

	*n = 0;
	if ((rc = store_stmt(st, JOB_LIST_SQL, &stmt, err)))
		return rc;
	sqlite3_bind_int(stmt, 1, max > 0 ? max : 0);
	while ((step = sqlite3_step(stmt)) == SQLITE_ROW)
		job_row(stmt, &out[(*n)++]);
	if (step != SQLITE_DONE)
		rc = store_sqlerr(st, err, "jobs");
	sqlite3_reset(stmt);
	return rc;
}
