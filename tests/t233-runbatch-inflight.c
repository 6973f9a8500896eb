/*
 * t233-runbatch-inflight - the [workers] settings max_inflight and
 * heartbeat_ms: bad values are refused naming the key and its range, and
 * run-batch holds no more contexts at once than max_inflight. The generator
 * is a loopback socket that takes requests and never answers, so every
 * claimed context stays processing.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "tap.h"
#include "util.h"

#define N 6
#define INFLIGHT 2

static char db[4096], dbarg[4200];

static void
test_bad_values(void)
{
	char conf[4200], confarg[4300];
	struct run r;

	snprintf(conf, sizeof(conf), "%s/bad.conf", util_tmpdir());
	snprintf(confarg, sizeof(confarg), "-c%s", conf);
	util_write_file(conf, "[workers]\nmax_inflight = 0\n", 27);
	util_genbox_run(&r, NULL, confarg, dbarg, "stats", NULL);
	is_int(r.status, 1, "max_inflight = 0: exit 1");
	like(r.err, "bad.conf:2: bad value '0' for 'workers.max_inflight': expected an integer from 1 to 65536",
	    "names the line, the key and its range");
	run_free(&r);
	util_write_file(conf, "[workers]\nheartbeat_ms = 60000\n", 31);
	util_genbox_run(&r, NULL, confarg, dbarg, "stats", NULL);
	is_int(r.status, 1, "heartbeat_ms = 60000 (the heartbeat's expiry): exit 1");
	like(r.err, "bad value '60000' for 'workers.heartbeat_ms': expected an integer from 100 to 59000",
	    "names the key and its range");
	run_free(&r);
	util_write_file(conf, "[workers]\nheartbeat_ms = 5000\nmax_inflight = 64\n", 47);
	util_genbox_run(&r, NULL, confarg, dbarg, "stats", NULL);
	is_int(r.status, 0, "good values are taken");
	run_free(&r);
}

static int
processing_count(void)
{
	sqlite3 *h;
	sqlite3_stmt *s;
	int n = -1;

	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		return -1;
	sqlite3_busy_timeout(h, 5000);
	if (sqlite3_prepare_v2(h, "SELECT count(*) FROM contexts WHERE status = 'processing'", -1, &s, NULL) == SQLITE_OK) {
		if (sqlite3_step(s) == SQLITE_ROW)
			n = sqlite3_column_int(s, 0);
		sqlite3_finalize(s);
	}
	sqlite3_close(h);
	return n;
}

/* A socket that accepts connections (the kernel does) and never answers. */
static int
silent_listener(int *port)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 64) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		tap_bail("cannot listen on loopback");
	*port = ntohs(a.sin_port);
	return fd;
}

static void
test_inflight(void)
{
	char input[4200], out[4200], url[64], *text;
	char *argv[] = { (char *)util_genbox(), dbarg, "run-batch", "--pipeline", "pipe_article_generation",
		"--input", input, "--workers", "2", NULL };
	int port, fd = silent_listener(&port), most = 0, reached = 0, st;
	FILE *f;
	pid_t pid;

	snprintf(input, sizeof(input), "%s/in.jsonl", util_tmpdir());
	snprintf(out, sizeof(out), "%s/run.out", util_tmpdir());
	f = fopen(input, "w");
	for (int i = 0; i < N; i++)
		fprintf(f, "{\"data\":{\"title\":\"Held %d\"}}\n", i);
	fclose(f);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
	setenv("GENBOX_GENERATOR_URL", url, 1);
	setenv("GENBOX_GENERATOR_TIMEOUT_MS", "600000", 1);
	setenv("GENBOX_WORKERS_MAX_INFLIGHT", "2", 1);
	pid = fork();
	if (pid == 0) {
		int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		dup2(fo, 1);
		dup2(fo, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	unsetenv("GENBOX_GENERATOR_URL");
	unsetenv("GENBOX_GENERATOR_TIMEOUT_MS");
	unsetenv("GENBOX_WORKERS_MAX_INFLIGHT");
	/* until the pool holds what it may, then a while longer: it never holds more */
	for (int i = 0; i < 3000 && reached < 100; i++) {
		int n = processing_count();

		if (n > most)
			most = n;
		if (most >= INFLIGHT)
			reached++;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			pid = -1;
			break;
		}
		usleep(10 * 1000);
	}
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
	close(fd);
	text = util_read_file(out, NULL);
	like(text, "up to 2 contexts in flight", "run-batch says it holds up to 2 contexts in flight");
	is_int(most, INFLIGHT, "with max_inflight = 2, 2 of %d contexts were processing at most", N);
	free(text);
}

int
main(void)
{
	struct run r;

	snprintf(db, sizeof(db), "%s/inflight.db", util_tmpdir());
	snprintf(dbarg, sizeof(dbarg), "--db=%s", db);
	util_genbox_run(&r, NULL, dbarg, "demo", NULL);
	if (r.status != 0)
		tap_bail("demo: %s", r.err);
	run_free(&r);
	test_bad_values();
	test_inflight();
	return tap_done();
}
