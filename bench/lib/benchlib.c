/*
 * benchlib.c - the benchmarks' shared helpers (see benchlib.h).
 *
 * Children are waited for on a pidfd, so no polling loop runs inside the
 * time being measured; CPU time per thread comes from /proc/self/task.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "benchlib.h"

static const char *bench_name = "bench";
static char bench_tmpdir[PATH_MAX];	/* "" until bench_tmpdir_make */
static int bench_problem_count;

void
bench_init(const char *name)
{
	bench_name = name;
}

void
bench_die(const char *what, const char *msg)
{
	fprintf(stderr, "%s: %s: %s\n", bench_name, what, msg);
	exit(1);
}

void
bench_problem(const char *what, const char *msg)
{
	fflush(stdout);
	fprintf(stderr, "%s: %s: %s\n", bench_name, what, msg);
	fflush(stderr);
	bench_problem_count++;
}

int
bench_problems(void)
{
	int n = bench_problem_count;

	if (n)
		fprintf(stderr, "%s: %d problem%s, see above\n", bench_name, n, n == 1 ? "" : "s");
	return n;
}

long
bench_number(const char *opt, const char *s, long lo, long hi)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "%s: %s takes a number from %ld to %ld, not '%s'\n", bench_name,
		    opt, lo, hi, s);
		exit(2);
	}
	return (long)v;
}

/* ---- the temporary folder ---- */

static void
bench_tmpdir_remove(void)
{
	char path[PATH_MAX + 256];
	struct dirent *e;
	DIR *d;

	if (bench_tmpdir[0] == '\0' || (d = opendir(bench_tmpdir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", bench_tmpdir, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(bench_tmpdir);
}

const char *
bench_tmpdir_make(const char *prefix)
{
	snprintf(bench_tmpdir, sizeof(bench_tmpdir), "/var/tmp/%s-XXXXXX", prefix);
	if (mkdtemp(bench_tmpdir) == NULL) {
		char msg[PATH_MAX + 64];

		snprintf(msg, sizeof(msg), "%s: %s", bench_tmpdir, strerror(errno));
		bench_tmpdir[0] = '\0';
		bench_die("mkdtemp", msg);
	}
	atexit(bench_tmpdir_remove);
	return bench_tmpdir;
}

const char *
bench_tpath(const char *name, char *out, size_t size)
{
	snprintf(out, size, "%s/%s", bench_tmpdir, name);
	return out;
}

void
bench_db_remove(const char *path)
{
	char p[PATH_MAX + 8];

	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
}

/* ---- timing ---- */

int64_t
bench_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

double
bench_secs(int64_t t0_us)
{
	return (double)(bench_mono_us() - t0_us) / 1e6;
}

void
bench_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- text ---- */

char *
bench_read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *p = NULL;
	long len;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (p = malloc((size_t)len + 1)) != NULL) {
		if (fread(p, 1, (size_t)len, f) != (size_t)len) {
			free(p);
			p = NULL;
		} else {
			p[len] = '\0';
		}
	}
	fclose(f);
	return p;
}

void
bench_print_tail(const char *path, int lines)
{
	char *text = bench_read_file(path), *p;
	int n = 0;

	if (text == NULL || text[0] == '\0') {
		free(text);
		return;
	}
	p = text + strlen(text);
	if (p > text && p[-1] == '\n')
		p--;
	while (p > text && n <= lines)
		if (*--p == '\n')
			n++;
	if (*p == '\n')
		p++;
	for (char *line = p, *nl; *line; line = nl + 1) {
		if ((nl = strchr(line, '\n')) == NULL) {
			fprintf(stderr, "    | %s\n", line);
			break;
		}
		fprintf(stderr, "    | %.*s\n", (int)(nl - line), line);
	}
	free(text);
}

void
bench_find_line(const char *text, const char *prefix, const char *part, char *out, size_t size)
{
	size_t plen = strlen(prefix);

	out[0] = '\0';
	for (const char *line = text; line && *line;) {
		const char *nl = strchr(line, '\n');
		int len = nl ? (int)(nl - line) : (int)strlen(line);
		char buf[1024];

		snprintf(buf, sizeof(buf), "%.*s", len, line);
		if (strncmp(buf, prefix, plen) == 0 && (part == NULL || strstr(buf, part)))
			snprintf(out, size, "%.*s", (int)(size - 1), buf);
		line = nl ? nl + 1 : NULL;
	}
}

/* ---- child processes ---- */

static volatile sig_atomic_t bench_signal;	/* SIGINT or SIGTERM while a child runs */

static void
bench_on_signal(int sig)
{
	bench_signal = sig;
}

/*
 * Wait for the child's pidfd to be readable (it exited) for up to ms; 1
 * when it exited, 0 at the time limit, -1 when a SIGINT or SIGTERM came
 * (only when interruptible).
 */
static int
bench_wait_exit(int pidfd, int ms, int interruptible)
{
	struct pollfd pfd = { pidfd, POLLIN, 0 };
	int64_t end = bench_mono_us() + (int64_t)ms * 1000;
	int rc;

	for (;;) {
		int left = (int)((end - bench_mono_us()) / 1000);

		if (interruptible && bench_signal)
			return -1;
		if ((rc = poll(&pfd, 1, left > 0 ? left : 0)) > 0)
			return 1;
		if (rc == 0)
			return 0;
		if (errno != EINTR)
			return 1;	/* cannot wait on it: leave it to wait4 */
	}
}

/* The child's process group (run.sh, redis, node): TERM, and KILL after 5 s. */
static void
bench_stop_group(pid_t pid, int pidfd)
{
	kill(-pid, SIGTERM);
	if (pidfd < 0 || bench_wait_exit(pidfd, 5000, 0) != 1)
		kill(-pid, SIGKILL);
}

int
bench_spawn_wait(char *const argv[], char *const envp[], const char *out, const char *errf,
    int timeout_s, struct bench_child *c, char *msg, size_t msglen)
{
	struct sigaction sa = { .sa_handler = bench_on_signal }, old_int, old_term;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	struct rusage ru;
	pid_t pid;
	int64_t t0;
	int rc, st, pidfd, exited = 1;

	memset(c, 0, sizeof(*c));
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_addopen(&fa, 2, errf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	/* a process group of its own, so a time limit stops its children too */
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
	posix_spawnattr_setpgroup(&attr, 0);
	bench_signal = 0;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	t0 = bench_mono_us();
	rc = posix_spawnp(&pid, argv[0], &fa, &attr, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rc != 0) {
		snprintf(msg, msglen, "cannot run '%s': %s", argv[0], strerror(rc));
		goto out;
	}
	/* the pidfd becomes readable when the child exits: no polling loop in the timing */
	if ((pidfd = pidfd_open(pid, 0)) >= 0)
		exited = bench_wait_exit(pidfd, timeout_s * 1000, 1);
	if (exited != 1)
		bench_stop_group(pid, pidfd);
	if (pidfd >= 0)
		close(pidfd);
	while ((rc = wait4(pid, &st, 0, &ru)) < 0 && errno == EINTR)
		;
	if (rc < 0) {
		snprintf(msg, msglen, "wait for '%s': %s", argv[0], strerror(errno));
		goto out;
	}
	c->secs = bench_secs(t0);
	c->maxrss_kb = ru.ru_maxrss;
	c->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	rc = 0;
	if (exited == 0) {
		snprintf(msg, msglen, "'%s' stopped after %d s", argv[0], timeout_s);
		rc = -1;
	}
out:
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	if (bench_signal) {
		fprintf(stderr, "%s: stopped by signal %d\n", bench_name, (int)bench_signal);
		exit(128 + bench_signal);	/* the temporary folder is removed at exit */
	}
	return rc ? -1 : 0;
}

int
bench_files_limit(rlim_t need, rlim_t *now, char *msg, size_t msglen)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		snprintf(msg, msglen, "getrlimit: %s", strerror(errno));
		return -1;
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
			snprintf(msg, msglen, "the open-files limit is %llu and cannot be raised "
			    "to %llu: raise it (ulimit -n)", (unsigned long long)rl.rlim_max,
			    (unsigned long long)need);
			return -1;
		}
		rl.rlim_cur = need;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
			snprintf(msg, msglen, "setrlimit to %llu: %s", (unsigned long long)need,
			    strerror(errno));
			return -1;
		}
	}
	*now = rl.rlim_cur;
	return 0;
}

/* ---- CPU time per thread ---- */

/* utime + stime of one line of /proc/self/task/TID/stat; -1 when unreadable. */
static long long
bench_cpu_ticks(const char *tid)
{
	char path[300], line[1024], *p, *end;
	long long ut, stt;
	int field = 3;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%s/stat", tid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	p = fgets(line, sizeof(line), f) ? strrchr(line, ')') : NULL;
	fclose(f);
	if (p == NULL)
		return -1;
	/* after ") " comes field 3 (state); utime and stime are fields 14 and 15 */
	for (p += 2; *p && field < 14; p++)
		if (*p == ' ')
			field++;
	ut = strtoll(p, &end, 10);
	stt = strtoll(end, NULL, 10);
	return ut + stt;
}

void
bench_cpu_snapshot(struct bench_cpu *c)
{
	struct dirent *e;
	DIR *d;

	c->n = 0;
	if ((d = opendir("/proc/self/task")) == NULL)
		return;
	while ((e = readdir(d)) != NULL && c->n < BENCH_MAX_THREADS) {
		long long t;

		if (e->d_name[0] == '.' || (t = bench_cpu_ticks(e->d_name)) < 0)
			continue;
		c->tid[c->n] = strtol(e->d_name, NULL, 10);
		c->ticks[c->n++] = t;
	}
	closedir(d);
}

void
bench_cpu_report(const char *label, const struct bench_cpu *before, const struct bench_cpu *after,
    double wall)
{
	double hz = (double)sysconf(_SC_CLK_TCK), total = 0, top[3] = { 0, 0, 0 };

	for (int i = 0; i < after->n; i++) {
		long long d = after->ticks[i];
		double s;

		for (int j = 0; j < before->n; j++)
			if (before->tid[j] == after->tid[i])
				d -= before->ticks[j];
		s = (double)d / hz;
		total += s;
		for (int k = 0; k < 3; k++)
			if (s > top[k]) {
				for (int m = 2; m > k; m--)
					top[m] = top[m - 1];
				top[k] = s;
				break;
			}
	}
	printf("    %s cpu %.2f s in %.2f s (%.2f cores); busiest threads %.2f %.2f %.2f s\n",
	    label, total, wall, wall > 0 ? total / wall : 0, top[0], top[1], top[2]);
}
