/*
 * bench/soak - `genbox serve` for a long while under steady API load, its
 * workers busy and sync on, SIGKILLed and started again every so often;
 * then whether anything was lost or run twice, and how memory, the file
 * and latency went.
 *
 * Set-up (all on loopback, in a new folder under /var/tmp): a private
 * redis-server and the MongoDB test peer (tests/peers/mongo-peer.py), the
 * scripted generator in this process (gen.c), a demo database (`genbox
 * demo`, org_123's limits lifted), an API key, and a config with
 * [generator] url and [cluster] (mongo_uri, redis_url, organizations
 * org_123, push every 500 ms). Then, for SOAK_SECONDS:
 *   - load.c: creates (POST /contexts), lists and gets at a steady pace;
 *   - watch.c: RSS, file sizes, counts and the completion watcher every 2 s;
 *   - every SOAK_KILL_EVERY s: SIGKILL, start again on a new port at once,
 *     then every context acknowledged before the kill is looked for in the
 *     database.
 * At the end the load stops and the daemon runs on until every soak context
 * has ended and the outbox is empty (at most DRAIN_S), then stops on
 * SIGTERM; then the checks (report.txt says each one), the figures, and
 * soak.svg, samples.csv and serve.log in SOAK_OUT.
 *
 * Environment: SOAK_SECONDS (600), SOAK_KILL_EVERY (60), SOAK_RATE (creates
 * a second, 10; lists half that, gets twice), SOAK_GEN_DELAY_MS (100),
 * SOAK_WORKERS (4), SOAK_OUT (./soak-report). Exit status 1 when something
 * could not be measured or a context was lost or run twice; 0 otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include <curl/curl.h>
#include <mongoc/mongoc.h>

#include "../lib/benchlib.h"
#include "../lib/fixture.h"
#include "soak.h"

extern char **environ;

#define DRAIN_S		180
#define PROGRESS_S	SOAK_BUCKET_S
#define START_LIMIT_S	60

static pid_t redis_pid, mongo_pid;
static FILE *report;
static pthread_mutex_t say_mu = PTHREAD_MUTEX_INITIALIZER;
static int findings;

/* ---- messages ---- */

double
soak_now(const struct soak *s)
{
	return bench_secs(s->t0_us);
}

void
soak_say(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&say_mu);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	if (report) {
		va_start(ap, fmt);
		vfprintf(report, fmt, ap);
		va_end(ap);
		fputc('\n', report);
		fflush(report);
	}
	pthread_mutex_unlock(&say_mu);
}

void
soak_report_open(const char *path)
{
	if ((report = fopen(path, "w")) == NULL)
		bench_die(path, strerror(errno));
}

void
soak_report_close(void)
{
	if (report)
		fclose(report);
	report = NULL;
}

/* ---- the peers ---- */

static void
peers_stop(void)
{
	if (mongo_pid > 0) {
		kill(mongo_pid, SIGKILL);
		waitpid(mongo_pid, NULL, 0);
		mongo_pid = 0;
	}
	if (redis_pid > 0) {
		kill(redis_pid, SIGKILL);
		waitpid(redis_pid, NULL, 0);
		redis_pid = 0;
	}
}

static int
free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	if (port <= 0)
		bench_die("free port", strerror(errno));
	return port;
}

/* 1 when something accepts connections on 127.0.0.1:port. */
static int
port_open(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

	ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

static void
redis_start(struct soak *s)
{
	char portarg[16], dir[PATH_MAX];
	int port = free_port();

	snprintf(portarg, sizeof(portarg), "%d", port);
	bench_tpath(".", dir, sizeof(dir));
	if ((redis_pid = fork()) == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		execlp("redis-server", "redis-server", "--port", portarg, "--bind", "127.0.0.1",
		    "--save", "", "--appendonly", "no", "--dir", dir, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200 && !port_open(port); i++)
		bench_sleep_ms(25);
	if (!port_open(port))
		bench_die("redis-server", "did not start (is Debian's redis-server installed?)");
	snprintf(s->redis_url, sizeof(s->redis_url), "redis://127.0.0.1:%d/0", port);
}

static void
mongo_start(struct soak *s)
{
	char script[PATH_MAX], line[128], *end;
	int fd[2];
	long port;
	FILE *f;

	fixture_src_path("tests/peers/mongo-peer.py", script, sizeof(script));
	if (access(script, R_OK) != 0)
		bench_die(script, "not found (run from the source tree or set GENBOX_SRC)");
	if (pipe(fd) != 0)
		bench_die("pipe", strerror(errno));
	if ((mongo_pid = fork()) == 0) {
		dup2(fd[1], 1);
		close(fd[0]);
		execl("/usr/bin/python3", "python3", script, "--port", "0", (char *)NULL);
		_exit(127);
	}
	close(fd[1]);
	f = fdopen(fd[0], "r");
	if (f == NULL || fgets(line, sizeof(line), f) == NULL || strncmp(line, "READY port=", 11))
		bench_die("mongo-peer.py", "did not start");
	fclose(f);
	port = strtol(line + 11, &end, 10);
	if (end == line + 11 || port <= 0 || port > 65535)
		bench_die("mongo-peer.py", "printed no port");
	snprintf(s->mongo_uri, sizeof(s->mongo_uri), "mongodb://127.0.0.1:%ld/", port);
}

/* ---- set-up ---- */

static int
env_number(const char *name, long def, long lo, long hi)
{
	const char *v = getenv(name);

	return (int)(v && *v ? bench_number(name, v, lo, hi) : def);
}

static void
settings(struct soak *s)
{
	const char *out = getenv("SOAK_OUT");

	s->seconds = env_number("SOAK_SECONDS", 600, 30, 86400);
	s->kill_every = env_number("SOAK_KILL_EVERY", 60, 5, 86400);
	s->rate = env_number("SOAK_RATE", 10, 1, 1000);
	s->gen_delay_ms = env_number("SOAK_GEN_DELAY_MS", 100, 0, 10000);
	s->workers = env_number("SOAK_WORKERS", 4, 1, 64);
	s->inject = env_number("SOAK_INJECT_RERUN", 0, 0, 1);
	snprintf(s->out, sizeof(s->out), "%s", out && *out ? out : "soak-report");
	if (mkdir(s->out, 0755) != 0 && errno != EEXIST)
		bench_die(s->out, strerror(errno));
	s->max_ids = (int)((long)s->rate * (s->seconds + 60) + 1000);
	s->acked = calloc((size_t)s->max_ids, sizeof(*s->acked));
	s->seen_done = calloc((size_t)s->max_ids, sizeof(*s->seen_done));
	s->gen_calls = calloc((size_t)s->max_ids, sizeof(*s->gen_calls));
	s->done_at = calloc((size_t)s->max_ids, sizeof(*s->done_at));
	if (!s->acked || !s->seen_done || !s->gen_calls || !s->done_at)
		bench_die("settings", "out of memory");
	for (int r = 0; r < ROUTE_COUNT; r++)
		pthread_mutex_init(&s->calls[r].mu, NULL);
	pthread_mutex_init(&s->samples_mu, NULL);
}

/* An admin key of SOAK_USER from `genbox apikey create`. */
static void
make_key(struct soak *s)
{
	char out[PATH_MAX], errf[PATH_MAX], msg[PATH_MAX + 64], *text, *p, *end;
	char *argv[] = { s->genbox, "--db", s->db, "apikey", "create", "--user", SOAK_USER,
		"--perm", "read,write", NULL };
	struct bench_child c;

	bench_tpath("key.out", out, sizeof(out));
	bench_tpath("key.err", errf, sizeof(errf));
	if (bench_spawn_wait(argv, environ, out, errf, 30, &c, msg, sizeof(msg)) || c.status != 0) {
		bench_print_tail(errf, 5);
		bench_die("apikey create", "failed");
	}
	if ((text = bench_read_file(out)) == NULL || (p = strstr(text, "key_")) == NULL)
		bench_die("apikey create", "printed no key");
	end = p + strcspn(p, " \t\r\n\"");
	snprintf(s->token, sizeof(s->token), "%.*s", (int)(end - p), p);
	free(text);
}

static void
write_conf(struct soak *s)
{
	FILE *f = fopen(s->conf, "w");

	if (f == NULL)
		bench_die(s->conf, strerror(errno));
	fprintf(f, "[storage]\npath = %s\n\n[log]\nlevel = info\n\n[workers]\ncount = %d\n\n"
	    "[generator]\nurl = %s\ntimeout_ms = 20000\nmax_concurrent = 8\n\n"
	    "[cluster]\nmongo_uri = %s\nredis_url = %s\norganizations = " SOAK_ORG "\n"
	    "appliance_id = soak-box\nworker_id = soak-box-worker\npush_interval_ms = 500\n"
	    "pull_interval_ms = 2000\ntimeout_ms = 3000\nbackoff_max_ms = 2000\n", s->db,
	    s->workers, s->gen_url, s->mongo_uri, s->redis_url);
	if (fclose(f) != 0)
		bench_die(s->conf, strerror(errno));
}

/* ---- the daemon ---- */

static long
healthz_status(int port)
{
	CURL *c = curl_easy_init();
	char url[64];
	long status = 0;

	if (c == NULL)
		return 0;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", port);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 1000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	return status;
}

/* Start `genbox serve` on a new port; returns once it answers /healthz. */
static void
daemon_start(struct soak *s)
{
	char listen[64];
	int port = free_port(), fd;
	int64_t t0 = bench_mono_us();
	FILE *f;

	s->life++;
	if ((f = fopen(s->log, "a")) != NULL) {
		fprintf(f, "==== soak: start %d at t=%.1f s on port %d\n", s->life, soak_now(s), port);
		fclose(f);
	}
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	if ((s->pid = fork()) < 0)
		bench_die("fork", strerror(errno));
	if (s->pid == 0) {
		if ((fd = open(s->log, O_WRONLY | O_CREAT | O_APPEND, 0644)) >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(s->genbox, s->genbox, "-c", s->conf, "serve", "--listen", listen,
		    (char *)NULL);
		_exit(127);
	}
	while (healthz_status(port) == 0) {
		if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
			bench_print_tail(s->log, 15);
			bench_die("genbox serve", "exited before it answered /healthz");
		}
		if (bench_secs(t0) > START_LIMIT_S)
			bench_die("genbox serve", "no answer from /healthz in time");
		bench_sleep_ms(5);
	}
	if (s->life < SOAK_MAX_LIVES)
		s->start_ms[s->life] = bench_secs(t0) * 1000.0;
	atomic_store(&s->pid_now, (int)s->pid);
	atomic_store(&s->port, port);
}

/* SIGKILL it, then start it again; then look for what was acknowledged before. */
static void
daemon_kill_restart(struct soak *s)
{
	int st, acked_before;
	long missing;

	atomic_store(&s->port, 0);
	acked_before = atomic_load(&s->next_id);
	kill(s->pid, SIGKILL);
	waitpid(s->pid, &st, 0);
	atomic_store(&s->pid_now, 0);
	if (s->life < SOAK_MAX_LIVES)
		s->kill_at[s->life] = soak_now(s);
	daemon_start(s);
	missing = soak_missing_in_db(s, acked_before, 1);
	if (missing != 0) {
		soak_say("soak kill %d: %ld acknowledged contexts missing after the restart",
		    s->life - 1, missing);
		s->lost_at_restart += missing > 0 ? missing : 0;
	}
}

/* SIGTERM; its exit status (128 + signal when a signal ended it). */
static int
daemon_stop(struct soak *s)
{
	int st = 0;

	atomic_store(&s->port, 0);
	kill(s->pid, SIGTERM);
	for (int64_t t0 = bench_mono_us(); bench_secs(t0) < 60; bench_sleep_ms(20))
		if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
			atomic_store(&s->pid_now, 0);
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		}
	kill(s->pid, SIGKILL);
	waitpid(s->pid, &st, 0);
	atomic_store(&s->pid_now, 0);
	return -1;
}

/* ---- the run ---- */

static void
progress(struct soak *s, double from)
{
	struct soak_sample x = { 0 };
	double p99[ROUTE_COUNT];
	long ok, bad[ROUTE_COUNT], down[ROUTE_COUNT];

	pthread_mutex_lock(&s->samples_mu);
	if (s->nsamples)
		x = s->samples[s->nsamples - 1];
	pthread_mutex_unlock(&s->samples_mu);
	for (int r = 0; r < ROUTE_COUNT; r++)
		p99[r] = soak_p99_ms(&s->calls[r], from, from + PROGRESS_S, &ok, &bad[r], &down[r]);
	soak_say("soak t=%4.0fs life=%d rss=%6.1f MB db=%6.1f MB wal=%5.1f MB created=%d "
	    "pending=%lld processing=%lld completed=%lld failed=%lld  p99 create=%.1f list=%.1f "
	    "get=%.1f ms  non-2xx=%ld unanswered=%ld", x.t, x.life, x.rss_kb / 1024.0,
	    x.db_bytes / 1048576.0, x.wal_bytes / 1048576.0, atomic_load(&s->next_id), x.pending,
	    x.processing, x.completed, x.failed, p99[0], p99[1], p99[2],
	    bad[0] + bad[1] + bad[2], down[0] + down[1] + down[2]);
}

static void
run(struct soak *s)
{
	double next_kill = s->kill_every, next_progress = PROGRESS_S;
	int injected = !s->inject;

	soak_load_start(s);
	while (soak_now(s) < s->seconds) {
		double now = soak_now(s);

		if (now >= next_progress) {
			progress(s, next_progress - PROGRESS_S);
			next_progress += PROGRESS_S;
		}
		if (!injected && now >= s->kill_every / 2.0) {
			soak_inject_rerun(s);
			injected = 1;
		}
		if (now >= next_kill) {
			daemon_kill_restart(s);
			soak_say("soak t=%4.0fs SIGKILL %d, serving again after %.0f ms", now,
			    s->life - 1, s->start_ms[s->life < SOAK_MAX_LIVES ? s->life : 0]);
			next_kill += s->kill_every;
		}
		bench_sleep_ms(100);
	}
	soak_load_stop();
}

/* The daemon runs on without load until every soak context ended and the outbox is empty. */
static void
drain(struct soak *s)
{
	int64_t t0 = bench_mono_us();
	long unended = -1, outbox = -1;

	while (bench_secs(t0) < DRAIN_S) {
		unended = soak_unended(s);
		outbox = soak_outbox_rows(s);
		if (unended == 0 && outbox == 0)
			break;
		bench_sleep_ms(500);
	}
	soak_say("soak drain: %.1f s after the load stopped: %ld soak contexts not ended, "
	    "%ld outbox rows%s", bench_secs(t0), unended, outbox,
	    unended == 0 && outbox == 0 ? "" : " (gave up waiting)");
	if (unended != 0 || outbox != 0)
		findings++;
}

/* Detector A: completions counted by the database's trigger against contexts completed. */
static void
check_twice(struct soak *s)
{
	long long tput, done, events, distinct, rewritten = soak_rewritten(s, 1), twice;
	long calls = atomic_load(&s->gen_calls_total), multi = 0, ids = 0, hist[16] = { 0 };

	soak_db_tallies(s, &tput, &done);
	events = tput - s->tput_base;
	distinct = done - s->completed_base;
	twice = events - distinct;
	soak_say("soak run twice, A (ctx_throughput): %lld completion events for %lld contexts "
	    "newly completed: %lld extra (aim 0)", events, distinct, twice);
	soak_say("soak run twice, B (watcher): %ld went back from completed, %lld completed rows "
	    "written again (aim 0)", s->went_back, rewritten);
	for (int id = 0; id < atomic_load(&s->next_id) && id < s->max_ids; id++)
		if (atomic_load(&s->gen_calls[id]) > 0) {
			ids++;
			hist[atomic_load(&s->gen_calls[id]) < 15 ? atomic_load(&s->gen_calls[id]) : 15]++;
		}
	for (int k = 8; k < 16; k++)
		multi += hist[k];
	soak_say("soak run twice, C (generator): %ld calls after the context was seen completed "
	    "(aim 0); %ld calls for %ld contexts; calls per context 1-7: %ld %ld %ld %ld %ld %ld "
	    "%ld, 8 or more: %ld (a kill cuts work short and it is run again: expected)",
	    (long)atomic_load(&s->gen_after_done), calls, ids, hist[1], hist[2], hist[3], hist[4],
	    hist[5], hist[6], hist[7], multi);

	if (twice != 0 || s->went_back || rewritten || atomic_load(&s->gen_after_done))
		findings++;
}

static void
check_lost(struct soak *s)
{
	long acked = 0, missing = soak_missing_in_db(s, s->max_ids, 1);
	long unacked = soak_unacked_present(s);
	struct soak_mongo_check m;

	for (int id = 0; id < s->max_ids; id++)
		acked += atomic_load(&s->acked[id]);
	soak_say("soak lost: %ld contexts acknowledged (201), %d creates unanswered (the daemon "
	    "died under them; %ld of those were written all the same); %ld acknowledged missing "
	    "from the database at the end, %lld missing right after a restart (aim 0)", acked,
	    atomic_load(&s->unanswered), unacked, missing, s->lost_at_restart);
	if (soak_mongo_check(s, &m, 1)) {
		bench_problem("mongodb", "the contexts could not be read back");
		return;
	}
	soak_say("soak lost in MongoDB: %ld of %ld acknowledged contexts missing, %ld there but "
	    "not completed (aim 0)", m.missing, m.checked, m.not_completed);
	if (missing || s->lost_at_restart || m.missing || m.not_completed)
		findings++;
}

static void
write_samples(struct soak *s)
{
	char path[PATH_MAX + 16];
	FILE *f;

	snprintf(path, sizeof(path), "%s/samples.csv", s->out);
	if ((f = fopen(path, "w")) == NULL)
		return;
	fprintf(f, "t_s,life,rss_kb,rss_anon_kb,rss_file_kb,db_fds,db_bytes,wal_bytes,pending,"
	    "processing,completed,failed\n");
	pthread_mutex_lock(&s->samples_mu);
	for (size_t i = 0; i < s->nsamples; i++) {
		const struct soak_sample *x = &s->samples[i];

		fprintf(f, "%.1f,%d,%ld,%ld,%ld,%d,%lld,%lld,%lld,%lld,%lld,%lld\n", x->t, x->life,
		    x->rss_kb, x->anon_kb, x->file_kb, x->db_fds, x->db_bytes, x->wal_bytes,
		    x->pending, x->processing, x->completed, x->failed);
	}
	pthread_mutex_unlock(&s->samples_mu);
	fclose(f);
}

/* This program is build/X/bench/soak/soak: without $GENBOX_BIN, genbox is build/X/genbox. */
static void
find_genbox(struct soak *s)
{
	const char *env = getenv("GENBOX_BIN");
	char exe[PATH_MAX - 16], *slash;
	ssize_t len;

	if ((env == NULL || *env == '\0') &&
	    (len = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) > 0) {
		exe[len] = '\0';
		for (int i = 0; i < 3; i++)
			if ((slash = strrchr(exe, '/')) != NULL)
				*slash = '\0';
		snprintf(s->genbox, sizeof(s->genbox), "%s/genbox", exe);
		setenv("GENBOX_BIN", s->genbox, 1);
	}
	fixture_find_genbox(s->genbox, sizeof(s->genbox));
}

static void
set_up(struct soak *s)
{
	char path[PATH_MAX + 16];

	find_genbox(s);
	bench_tmpdir_make("genbox-soak");
	atexit(peers_stop);
	snprintf(path, sizeof(path), "%s/report.txt", s->out);
	soak_report_open(path);
	snprintf(s->log, sizeof(s->log), "%s/serve.log", s->out);
	unlink(s->log);
	bench_tpath("soak.db", s->db, sizeof(s->db));
	bench_tpath("soak.conf", s->conf, sizeof(s->conf));
	redis_start(s);
	mongo_start(s);
	soak_gen_start(s);
	fixture_demo_db(s->genbox, s->db);
	make_key(s);
	write_conf(s);
	soak_say("soak %d s, SIGKILL every %d s, %d creates/s (lists %.1f/s, gets %d/s), %d "
	    "workers, generator %d ms a call; MongoDB peer %s, Redis %s; out %s", s->seconds,
	    s->kill_every, s->rate, s->rate / 2.0, s->rate * 2, s->workers, s->gen_delay_ms,
	    s->mongo_uri, s->redis_url, s->out);
}

int
main(void)
{
	static struct soak s;
	char path[PATH_MAX + 16];
	int st;

	bench_init("bench/soak");
	settings(&s);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	mongoc_init();
	set_up(&s);
	soak_db_tallies(&s, &s.tput_base, &s.completed_base);
	s.t0_us = bench_mono_us();
	daemon_start(&s);
	soak_watch_start(&s);
	run(&s);
	drain(&s);
	st = daemon_stop(&s);
	soak_watch_stop();
	if (st != 0)
		bench_problem("genbox serve", "did not exit with status 0 on SIGTERM");
	check_lost(&s);
	check_twice(&s);
	soak_report_figures(&s);
	snprintf(path, sizeof(path), "%s/soak.svg", s.out);
	if (soak_write_svg(&s, path))
		bench_problem(path, strerror(errno));
	write_samples(&s);
	soak_say("soak %s; plot %s, samples %s/samples.csv, daemon log %s",
	    findings ? "FOUND DEFECTS (see above)" : "nothing lost, nothing run twice", path,
	    s.out, s.log);
	soak_gen_stop();
	soak_report_close();
	mongoc_cleanup();
	curl_global_cleanup();
	return bench_problems() || findings ? 1 : 0;
}
