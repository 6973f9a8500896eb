/*
 * t231-runbatch-storage-error - a storage error while run-batch runs ends
 * it with exit status 1 and the error's message: here the batch's progress
 * can no longer be read because another connection renamed the contexts
 * table under the run (its one context is not due for years, so the pool
 * itself stays quiet and only the progress read fails).
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "tap.h"
#include "util.h"

static char db[4096], dbarg[4200];

static void
genbox_ok(const char *what, const char *in, const char *cmd, const char *a1, const char *a2)
{
	struct run r;

	util_genbox_run(&r, in, dbarg, cmd, a1, a2, NULL);
	if (r.status != 0)
		tap_bail("%s: %s%s", what, r.out, r.err);
	run_free(&r);
}

/* Wait until the file at path holds text (or the process ended); 0 when it does. */
static int
wait_for_text(const char *path, const char *text, pid_t pid)
{
	for (int i = 0; i < 6000; i++) {
		char *s = util_read_file(path, NULL);
		int found = s && strstr(s, text);
		int st;

		free(s);
		if (found)
			return 0;
		if (waitpid(pid, &st, WNOHANG) == pid)
			return -1;
		usleep(10 * 1000);
	}
	return -1;
}

/* Exit status of pid, or -1 when it has not ended after a long while (then it is killed). */
static int
wait_exit(pid_t pid)
{
	int st;

	for (int i = 0; i < 12000; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		usleep(10 * 1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

int
main(void)
{
	char out[4200], *text;
	char *argv[] = { (char *)util_genbox(), dbarg, "run-batch", "--resume", "batch_wait", NULL };
	sqlite3 *h;
	pid_t pid;
	int status;

	snprintf(db, sizeof(db), "%s/err.db", util_tmpdir());
	snprintf(dbarg, sizeof(dbarg), "--db=%s", db);
	snprintf(out, sizeof(out), "%s/run.out", util_tmpdir());
	genbox_ok("demo", NULL, "demo", NULL, NULL);
	genbox_ok("batch", "{\"_id\":\"batch_wait\",\"organization_id\":\"org_123\",\"pipeline_id\":"
	    "\"pipe_article_generation\",\"context_ids\":[\"ctx_wait\"]}\n", "import", "batches", "-");
	genbox_ok("context", "{\"_id\":\"ctx_wait\",\"organization_id\":\"org_123\",\"batch_id\":\"batch_wait\","
	    "\"data\":{\"title\":\"Later\"},\"next_retry_at\":\"2099-01-01T00:00:00Z\"}\n", "import", "contexts", "-");

	pid = util_spawn(argv, out, 0);
	if (wait_for_text(out, "progress:", pid) < 0)
		tap_bail("run-batch showed no progress");
	if (sqlite3_open(db, &h) != SQLITE_OK)
		tap_bail("cannot open %s", db);
	sqlite3_busy_timeout(h, 10000);
	if (sqlite3_exec(h, "ALTER TABLE contexts RENAME TO contexts_gone", NULL, NULL, NULL) != SQLITE_OK)
		tap_bail("rename: %s", sqlite3_errmsg(h));
	sqlite3_close(h);
	status = wait_exit(pid);
	text = util_read_file(out, NULL);
	is_int(status, 1, "a storage error during the run: exit status 1");
	like(text, "genbox: run-batch: batch summary: no such table: contexts", "with the storage error's message");
	ok(text && strstr(text, "0 completed, 0 failed, 0 cancelled") == NULL, "and no summary of counts it could not read");
	free(text);
	return tap_done();
}
