/*
 * jobs.c - the last run of each of the box's own jobs (jobs.h), one row of
 * box_jobs per job.
 *
 * A run holds a lock while it runs: an open file description lock (fcntl
 * F_OFD_SETLK, a read lock: the file is opened read-only) on one byte of
 * the database's "-lock" file (store_lock_path), the byte its job's name
 * hashes to. The kernel drops it when the run's process ends, however it
 * ends. A row that says running while nobody holds its byte is a run whose
 * process died (a SIGKILL, a crash, a power cut): it reads back as ended,
 * not ok, saying so. Such locks are apart from the flock on the same file
 * (upkeep.c): Linux never lets the two kinds meet.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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

#define JOB_LOCK_BYTES 65536		/* the byte of a job: its name's hash in this range */
#define JOB_LOCKS_HELD 16
#define JOB_DIED "interrupted: the process running it ended before the job did"

/* the locks of the runs of this process, by lock file and job */
static struct held {
	char path[4200];
	char job[STORE_JOB_NAME_MAX];
	int used, fd;
} held[JOB_LOCKS_HELD];
static pthread_mutex_t held_mu = PTHREAD_MUTEX_INITIALIZER;

static off_t
job_byte(const char *job)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (; *job; job++)
		h = (h ^ (unsigned char)*job) * 16777619u;
	return (off_t)(h % JOB_LOCK_BYTES);
}

/* path opened (created: flags O_CREAT) with fcntl cmd on job's byte done; -1 when not */
static int
job_lock_fd(const char *path, int flags, const char *job, int cmd, short type, short *seen)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = job_byte(job),
	    .l_len = 1 };
	int fd = open(path, O_RDONLY | O_CLOEXEC | flags, 0644), rc;

	if (fd < 0)
		return -1;
	while ((rc = fcntl(fd, cmd, &fl)) < 0 && errno == EINTR)
		;
	if (rc < 0) {
		close(fd);
		return -1;
	}
	if (seen)
		*seen = fl.l_type;
	return fd;
}

/* The lock file of st's database into path; -1 when none (an in-memory one). */
static int
job_path(struct store *st, char *path, size_t size)
{
	return strcmp(st->path, ":memory:") == 0 ? -1 : store_lock_path(st->path, path, size);
}

/* The slot of held holding job's byte of path, -1 when none; held_mu held. */
static int
held_find(const char *path, const char *job)
{
	for (int i = 0; i < JOB_LOCKS_HELD; i++)
		if (held[i].used && strcmp(held[i].job, job) == 0 &&
		    strcmp(held[i].path, path) == 0)
			return i;
	return -1;
}

/* Hold job's byte for this run (best effort: without it the run is never called dead). */
static void
job_lock(struct store *st, const char *job)
{
	char path[4200];
	int fd;

	if (job_path(st, path, sizeof(path)))
		return;
	pthread_mutex_lock(&held_mu);
	for (int i = 0; i < JOB_LOCKS_HELD && held_find(path, job) < 0; i++)
		if (!held[i].used) {
			fd = job_lock_fd(path, O_CREAT, job, F_OFD_SETLK, F_RDLCK, NULL);
			if (fd >= 0) {
				held[i].used = 1;
				held[i].fd = fd;
				snprintf(held[i].path, sizeof(held[i].path), "%s", path);
				snprintf(held[i].job, sizeof(held[i].job), "%s", job);
			}
			break;
		}
	pthread_mutex_unlock(&held_mu);
}

static void
job_unlock(struct store *st, const char *job)
{
	char path[4200];
	int i;

	if (job_path(st, path, sizeof(path)))
		return;
	pthread_mutex_lock(&held_mu);
	if ((i = held_find(path, job)) >= 0) {
		close(held[i].fd);
		held[i].used = 0;
	}
	pthread_mutex_unlock(&held_mu);
}

/*
 * A row read as running: ended and not ok when nobody holds its job's byte.
 * A lock file that cannot be opened tells nothing: the row stands.
 */
static void
job_alive(struct store *st, struct store_job *j)
{
	char path[4200];
	short seen = F_UNLCK;
	int fd;

	if (!j->running || job_path(st, path, sizeof(path)) ||
	    (fd = job_lock_fd(path, 0, j->job, F_OFD_GETLK, F_WRLCK, &seen)) < 0)
		return;
	close(fd);
	if (seen != F_UNLCK)
		return;
	j->running = 0;
	j->ok = 0;
	snprintf(j->error, sizeof(j->error), "%s", JOB_DIED);
}

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
	/* held before the row says running, so no reader finds it running and unheld */
	job_lock(st, job);
	rc = sqlite3_step(stmt) == SQLITE_DONE ? 0 : store_sqlerr(st, err, "job begin");
	sqlite3_reset(stmt);
	if (rc)
		job_unlock(st, job);
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
	job_unlock(st, job);
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
	job_alive(st, out);
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
	while (*n < max && (step = sqlite3_step(stmt)) == SQLITE_ROW)
		job_row(stmt, &out[(*n)++]);
	if (*n < max && step != SQLITE_DONE)
		rc = store_sqlerr(st, err, "jobs");
	sqlite3_reset(stmt);
	for (int i = 0; i < *n; i++)
		job_alive(st, &out[i]);
	return rc;
}
