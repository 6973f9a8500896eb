/*
 * t302-serve-daemon - `genbox serve` as a process: READY=1 and STOPPING=1
 * on NOTIFY_SOCKET, /healthz, a context written into the database by
 * another process processed by the running pool, SIGTERM in the middle of
 * many slow contexts (a scripted generator that answers after a delay)
 * exiting 0 with nothing left processing, and after a restart every context
 * ending exactly once (one pipeline statistic each); SIGINT alike; bad
 * options and a port in use refused with exit 1; `genbox apikey` create,
 * list and revoke; WATCHDOG=1 on time while another process holds the
 * database's write lock (the throughput prune waits off the main thread).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <civetweb.h>
#include <sqlite3.h>

#include "../storage/pipestats.h"
#include "fakegen.h"
#include "webtest.h"

#define NCTX 30
#define GEN_DELAY_MS 150

static struct box b;
static char token[APIKEY_TOKEN_MAX];
static char notify_path[4200];
static int notify_fd = -1;

/* ---- a generator that answers after a delay ---- */



/* ---- the daemon ---- */

struct daemon {
	pid_t pid;
	int port;
	char log[4200];
};

static void
daemon_start(struct daemon *d, int notify)
{
	static int seq;
	char listen[64], db[4200];
	char *argv[] = { (char *)util_genbox(), db, "serve", "--listen", listen, "--workers", "3", NULL };

	d->port = peer_free_port();
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", d->port);
	snprintf(db, sizeof(db), "--db=%s", b.path);
	snprintf(d->log, sizeof(d->log), "%s/serve%d.log", util_tmpdir(), ++seq);
	if (notify) {
		setenv("NOTIFY_SOCKET", notify_path, 1);
		setenv("WATCHDOG_USEC", "400000", 1);
	}
	d->pid = util_spawn(argv, d->log, 0);
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
}

/* The next notification within ms, or "" on timeout. */
static const char *
notify_next(int ms)
{
	static char msg[512];
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	ssize_t n;

	setsockopt(notify_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	n = recv(notify_fd, msg, sizeof(msg) - 1, 0);
	msg[n > 0 ? n : 0] = '\0';
	return msg;
}

/* Whether a notification equal to want arrives within ms (others are skipped). */
static int
notify_wait(const char *want, int ms)
{
	for (int64_t t0 = gb_mono_ms(); gb_mono_ms() - t0 < ms; ) {
		const char *m = notify_next(ms);

		if (strcmp(m, want) == 0)
			return 1;
	}
	return 0;
}

/* Wait until /healthz answers (ms at most). */
static int
daemon_wait_http(struct daemon *d, int ms)
{
	char url[128];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", d->port);
	for (int64_t t0 = gb_mono_ms(); gb_mono_ms() - t0 < ms; usleep(50 * 1000))
		if (peer_http_status(url) == 200)
			return 1;
	return 0;
}

/* Send sig and wait for the exit (ms at most); the exit status, or -1. */
static int
daemon_stop(struct daemon *d, int sig, int ms)
{
	int st;

	kill(d->pid, sig);
	for (int64_t t0 = gb_mono_ms(); gb_mono_ms() - t0 < ms; usleep(20 * 1000))
		if (waitpid(d->pid, &st, WNOHANG) == d->pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	kill(d->pid, SIGKILL);
	waitpid(d->pid, &st, 0);
	return -1;
}

static void
import_contexts(const char *prefix, int n)
{
	char path[4200], db[4200], *text = NULL;
	size_t len = 0;
	FILE *f;
	struct run r;

	snprintf(path, sizeof(path), "%s/%s.jsonl", util_tmpdir(), prefix);
	f = open_memstream(&text, &len);
	for (int i = 0; i < n; i++)
		fprintf(f, "{\"_id\": \"%s%d\", \"type\": \"article\", \"status\": \"pending\", \"organization_id\": "
		    "\"org_123\", \"user_id\": \"user_456\", \"data\": {\"title\": \"Daemon %d\", \"keywords\": "
		    "[\"k\"], \"target_audience\": \"developers\", \"tone\": \"technical\"}}\n", prefix, i, i);
	fclose(f);
	util_write_file(path, text, len);
	free(text);
	snprintf(db, sizeof(db), "--db=%s", b.path);
	util_genbox_run(&r, NULL, db, "import", "contexts", path, NULL);
	if (r.status)
		tap_bail("import: %s", r.err);
	run_free(&r);
}

static void
test_apikey_cli(void)
{
	char db[4200], *nl;
	struct run r;

	snprintf(db, sizeof(db), "--db=%s", b.path);
	util_genbox_run(&r, NULL, db, "apikey", "create", "--user", "user_456", "--perm", "read,write", "--name",
	    "daemon", NULL);
	is_int(r.status, 0, "apikey create: exit 0");
	snprintf(token, sizeof(token), "%s", r.out);
	if ((nl = strchr(token, '\n')))
		*nl = '\0';
	is_int((long)strlen(token), 64, "the token alone on stdout");
	like(r.err, "shown only this once", "stderr says it is shown once");
	run_free(&r);
	util_genbox_run(&r, NULL, db, "apikey", "list", NULL);
	like(r.out, "user_456", "apikey list shows the key");
	ok(strstr(r.out, strchr(token, '.') + 1) == NULL, "never its secret");
	run_free(&r);
	util_genbox_run(&r, NULL, db, "apikey", "create", "--user", "user_nobody", NULL);
	is_int(r.status, 1, "a key for an unknown user: exit 1");
	run_free(&r);
	util_genbox_run(&r, NULL, db, "apikey", "revoke", "key_0000000000000000", NULL);
	is_int(r.status, 1, "revoking an unknown key: exit 1");
	like(r.err, "no api key", "the message says so");
	run_free(&r);
}

static void
test_bad_start(void)
{
	char db[4200], busy[64];
	struct run r;
	int fd;

	snprintf(db, sizeof(db), "--db=%s", b.path);
	util_genbox_run(&r, NULL, db, "serve", "--listen", "nonsense", NULL);
	is_int(r.status, 1, "--listen without a port: exit 1");
	like(r.err, "ADDR:PORT", "the message says what is expected");
	run_free(&r);
	util_genbox_run(&r, NULL, db, "serve", "--workers", "0", NULL);
	is_int(r.status, 1, "--workers 0: exit 1");
	run_free(&r);
	{
		char url[64];

		fd = hung_endpoint(url);	/* a port that is taken */
		snprintf(busy, sizeof(busy), "%s", url + strlen("http://"));
	}
	util_genbox_run(&r, NULL, db, "serve", "--listen", busy, NULL);
	is_int(r.status, 1, "a port in use: exit 1");
	like(r.err, "cannot listen", "the message says it cannot listen");
	run_free(&r);
	close(fd);
}

static int64_t
pipeline_count(void)
{
	struct gb_err err = { 0, "" };
	struct store_pipeline_stats s;

	if (store_pipeline_stats_get(b.st, "pipe_article_generation", gb_now_ms(), &s, &err))
		return -1;
	return s.count;
}

static void
test_serve(void)
{
	struct daemon d;
	struct http_resp r;
	char url[128];

	daemon_start(&d, 1);
	is_str(notify_next(15000), "READY=1\nSTATUS=serving", "systemd hears READY=1 once it serves");
	is_str(notify_next(1000), "WATCHDOG=1", "and WATCHDOG=1 within half the watchdog period");
	ok(daemon_wait_http(&d, 5000), "/healthz answers");
	import_contexts("ctx_one", 1);
	ok(box_wait_status(&b, "ctx_one0", "completed", 20000), "a context written by another process is "
	    "processed by the running pool");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/contexts/ctx_one0", d.port);
	http_json(&r, "GET", url, token, NULL);
	is_str(body_path(&r, "status"), "completed", "and the API shows it completed");
	http_resp_free(&r);
	import_contexts("ctx_many", NCTX);
	for (int64_t t0 = gb_mono_ms(); box_count(&b, CTX_COMPLETED) < 3 + 1 && gb_mono_ms() - t0 < 20000; )
		usleep(20 * 1000);
	ok(box_count(&b, CTX_PENDING) + box_count(&b, CTX_PROCESSING) > 0, "SIGTERM comes in the middle of "
	    "the run (%lld pending, %lld processing)", (long long)box_count(&b, CTX_PENDING),
	    (long long)box_count(&b, CTX_PROCESSING));
	is_int(daemon_stop(&d, SIGTERM, 20000), 0, "SIGTERM: exit 0");
	ok(notify_wait("STOPPING=1", 2000), "systemd hears STOPPING=1");
	is_int(box_count(&b, CTX_PROCESSING), 0, "nothing is left processing");
	{
		char *log = util_read_file(d.log, NULL);

		like(log ? log : "", "event=serving url=http://127.0.0.1:", "the log says where it serves");
		like(log ? log : "", "event=stopped", "and that it stopped");
		free(log);
	}
	daemon_start(&d, 0);
	ok(daemon_wait_http(&d, 10000), "restarted");
	ok(box_wait_quiet(&b, 60000), "after the restart the rest is processed");
	is_int(box_count(&b, CTX_FAILED), 0, "none failed");
	is_int(pipeline_count(), NCTX + 1, "every context ended exactly once (%d pipeline statistics)", NCTX + 1);
	is_int(daemon_stop(&d, SIGINT, 20000), 0, "SIGINT: exit 0");
}

/*
 * Another process holds the write lock while the daemon starts (and runs
 * its first throughput prune): WATCHDOG=1 keeps coming every half period,
 * and SIGTERM is taken at once.
 */
static void
test_watchdog_locked(void)
{
	struct daemon d;
	sqlite3 *db = NULL;
	int64_t gap = 0, last, t0;
	int beats = 0, rc;

	if (sqlite3_open(b.path, &db) != SQLITE_OK || sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL))
		tap_bail("cannot lock %s", b.path);
	setenv("GENBOX_STORAGE_BUSY_TIMEOUT_MS", "10000", 1);
	daemon_start(&d, 1);
	unsetenv("GENBOX_STORAGE_BUSY_TIMEOUT_MS");
	ok(notify_wait("READY=1\nSTATUS=serving", 15000), "with the write lock held elsewhere: READY=1");
	last = t0 = gb_mono_ms();
	while (gb_mono_ms() - t0 < 2500) {
		const char *m = notify_next(1500);

		if (strcmp(m, "WATCHDOG=1") == 0) {
			if (gb_mono_ms() - last > gap)
				gap = gb_mono_ms() - last;
			last = gb_mono_ms();
			beats++;
		} else if (m[0] == '\0') {
			gap = gb_mono_ms() - last;
			break;
		}
	}
	ok(beats >= 6 && gap < 600, "WATCHDOG=1 keeps coming while the lock is held (%d in 2.5 s, the "
	    "longest gap %lld ms; half the period is 200 ms)", beats, (long long)gap);
	kill(d.pid, SIGTERM);
	t0 = gb_mono_ms();
	rc = notify_wait("STOPPING=1", 1000);
	ok(rc, "SIGTERM with the lock still held is taken at once (%lld ms)", (long long)(gb_mono_ms() - t0));
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(db);
	rc = daemon_stop(&d, 0, 20000);	/* signal 0: only wait */
	is_int(rc, 0, "once the lock is gone it exits 0");
	while (notify_next(100)[0])
		;	/* what is left of its notifications */
}

int
main(void)
{
	struct sockaddr_un a;
	struct fakegen gen;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	box_open(&b, 1);
	snprintf(notify_path, sizeof(notify_path), "%s/notify.sock", util_tmpdir());
	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	if (strlen(notify_path) >= sizeof(a.sun_path))
		tap_bail("temporary path too long for a socket");
	memcpy(a.sun_path, notify_path, strlen(notify_path) + 1);
	if ((notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0 ||
	    bind(notify_fd, (struct sockaddr *)&a, sizeof(a)))
		tap_bail("notify socket: %s", strerror(errno));
	mg_init_library(0);
	fakegen_start(&gen, 16, GEN_DELAY_MS, NULL);
	setenv("GENBOX_GENERATOR_URL", gen.url, 1);
	setenv("GENBOX_WORKERS_GRACE_MS", "300", 1);
	test_apikey_cli();
	test_bad_start();
	test_serve();
	test_watchdog_locked();
	fakegen_stop(&gen);
	mg_exit_library();
	close(notify_fd);
	box_close(&b);
	curl_global_cleanup();
	return tap_done();
}
