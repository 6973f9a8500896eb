/*
 * t111-storage-jobs.c - the last run of the box's jobs (storage/jobs.h):
 * begin, end, a failure after a success, what is refused, two processes.
 */
#include <stdio.h>
#include <string.h>

#include "../storage/jobs.h"
#include "../storage/store.h"
#include "tap.h"
#include "util.h"

static char path[4096];
static struct gb_err err;

static struct store *
open_db(void)
{
	struct store_opts o = { 1, 1, 0, 10000, 0, 0 };
	struct store *s = NULL;

	if (store_open(&s, path, &o, &err))
		tap_bail("open %s: %s", path, err.msg);
	return s;
}

int
main(void)
{
	struct store *st, *other;
	struct store_job j, list[4];
	int found = -1, n = 0;

	snprintf(path, sizeof(path), "%s/jobs.db", util_tmpdir());
	st = open_db();
	is_int(store_job_get(st, "archive", &j, &found, &err), 0, "a job never run is read");
	is_int(found, 0, "... not found");
	is_str(j.counts, "{}", "... with no counts");
	is_int(store_job_begin(st, "archive", 1000, &err), 0, "a run begins");
	store_job_get(st, "archive", &j, &found, &err);
	ok(found && j.running && j.started_ms == 1000 && j.finished_ms == 0,
	    "... and reads as running since 1000");
	is_int(store_job_end(st, "archive", 2000, 1, "{\"contexts\":3}", NULL, &err), 0,
	    "it ends well");
	store_job_get(st, "archive", &j, &found, &err);
	ok(!j.running && j.ok && j.finished_ms == 2000 && j.last_ok_ms == 2000,
	    "... not running, ok, finished and last good at 2000");
	is_str(j.counts, "{\"contexts\":3}", "... with its counts");
	store_job_begin(st, "archive", 3000, &err);
	is_int(store_job_end(st, "archive", 4000, 0, NULL, "S3: 403 SignatureDoesNotMatch",
	    &err), 0, "the next run fails");
	store_job_get(st, "archive", &j, &found, &err);
	ok(!j.ok && j.finished_ms == 4000 && j.last_ok_ms == 2000,
	    "... the last good run is still the one at 2000");
	is_str(j.error, "S3: 403 SignatureDoesNotMatch", "... its error is kept");
	ok(store_job_end(st, "archive", 5000, 1, "[1]", NULL, &err) != 0,
	    "counts that are not an object are refused");
	ok(strstr(err.msg, "JSON object") != NULL, "... saying so (%s)", err.msg);
	ok(store_job_begin(st, "", 1, &err) != 0, "an empty job name is refused");
	other = open_db();
	is_int(store_job_end(other, "backup", 6000, 1, "{}", "", &err), 0,
	    "a second process records another job");
	is_int(store_job_list(st, list, 4, &n, &err), 0, "the jobs are listed");
	ok(n == 2 && strcmp(list[0].job, "archive") == 0 && strcmp(list[1].job, "backup") == 0,
	    "... both, by name (%d)", n);
	store_close(other);
	store_close(st);
	return tap_done();
}
