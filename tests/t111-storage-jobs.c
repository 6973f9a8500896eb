/*
 * t111-storage-jobs.c - the last run of the box's jobs (storage/jobs.h):
 * begin, end, a failure after a success, what is refused, two processes;
 * a run whose process was killed reads back as interrupted, one whose
 * process lives as running.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sys/wait.h>

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
	int found = -1, n = 0, status = 0, fds[2];
	pid_t pid;
	char c;

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

	/* a run whose process is SIGKILLed */
	fflush(stdout);
	if ((pid = fork()) == 0) {
		other = open_db();
		if (store_job_begin(other, "optimize", 7000, &err) == 0)
			raise(SIGKILL);
		_exit(1);
	}
	waitpid(pid, &status, 0);
	ok(WIFSIGNALED(status), "a process killed while its run of optimize goes on");
	store_job_get(st, "optimize", &j, &found, &err);
	ok(found && !j.running && !j.ok && j.started_ms == 7000,
	    "... reads back as not running, not ok (running %d, ok %d)", j.running, j.ok);
	like(j.error, "interrupted: the process running it ended before the job did",
	    "... saying it was interrupted");
	store_job_list(st, list, 4, &n, &err);
	ok(n == 3 && strcmp(list[2].job, "optimize") == 0 && !list[2].running,
	    "... in the list too");

	/* a run whose process lives, then is killed */
	if (pipe(fds) != 0)
		tap_bail("pipe");
	fflush(stdout);
	if ((pid = fork()) == 0) {
		close(fds[0]);
		other = open_db();
		if (store_job_begin(other, "quick_check", 8000, &err) == 0 &&
		    write(fds[1], "x", 1) == 1)
			for (;;)
				pause();
		_exit(1);
	}
	close(fds[1]);
	ok(read(fds[0], &c, 1) == 1, "another process begins a run of quick_check");
	store_job_get(st, "quick_check", &j, &found, &err);
	ok(j.running && j.error[0] == '\0', "... it reads as running while that process lives");
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	close(fds[0]);
	store_job_get(st, "quick_check", &j, &found, &err);
	ok(!j.running && !j.ok, "... and as interrupted once it was killed");
	is_int(store_job_begin(st, "quick_check", 9000, &err), 0, "a new run begins");
	store_job_get(st, "quick_check", &j, &found, &err);
	ok(j.running, "... it reads as running: this process holds it");
	store_job_end(st, "quick_check", 9500, 1, "{}", "", &err);
	store_job_get(st, "quick_check", &j, &found, &err);
	ok(!j.running && j.ok && j.error[0] == '\0', "... and as ended well once it ends");
	store_close(st);
	return tap_done();
}
