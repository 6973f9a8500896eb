/*
 * benchlib.h - what the benchmarks share: messages and exit, a temporary
 * folder removed at exit, monotonic timing, child processes with a time
 * limit, CPU time per thread, and small text helpers.
 *
 * A benchmark calls bench_init first with its name (messages start with
 * it). The functions are meant for a benchmark's main thread: the counters
 * and the temporary folder are plain globals, not guarded.
 */
#ifndef GB_BENCHLIB_H
#define GB_BENCHLIB_H

#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>

#define BENCH_MAX_THREADS 64	/* threads whose CPU time is read */

/* The program's name for messages, e.g. "bench/pipeline". */
void bench_init(const char *name);

/* "name: what: msg" on stderr, exit 1 (the temporary folder is removed). */
void bench_die(const char *what, const char *msg) __attribute__((noreturn));
/*
 * A part could not be measured: "name: what: msg" on stderr and one more
 * problem counted. Ratios are never problems: a benchmark prints them.
 */
void bench_problem(const char *what, const char *msg);
/* Problems counted so far; prints "name: N problems, see above" when any. */
int bench_problems(void);
/* A number from lo to hi for option opt, or a message and exit 2. */
long bench_number(const char *opt, const char *s, long lo, long hi);

/*
 * A new folder under /var/tmp named after prefix ("genbox-pipeline"),
 * removed with the files in it (not subfolders) when the program exits;
 * dies when it cannot be made. Returns its path (static storage).
 */
const char *bench_tmpdir_make(const char *prefix);
/* tmpdir/name into out; returns out. */
const char *bench_tpath(const char *name, char *out, size_t size);
/* A SQLite database file and its -wal and -shm, where they exist. */
void bench_db_remove(const char *path);

/* Monotonic microseconds; seconds since t0_us; a sleep that resumes after signals. */
int64_t bench_mono_us(void);
double bench_secs(int64_t t0_us);
void bench_sleep_ms(int ms);

/* A whole file, NUL-terminated; caller frees; NULL when it cannot be read. */
char *bench_read_file(const char *path);
/* The last lines of a file to stderr, indented. */
void bench_print_tail(const char *path, int lines);
/*
 * The last line of text starting with prefix and holding part (NULL: any)
 * into out, "" when none.
 */
void bench_find_line(const char *text, const char *prefix, const char *part, char *out,
    size_t size);

struct bench_child {
	int status;		/* exit status, or 128 + signal */
	double secs;		/* wall time from spawn to exit */
	long maxrss_kb;		/* the child's peak RSS */
};

/*
 * Run argv (argv[0] searched in PATH) with stdin from /dev/null, stdout and
 * stderr into the files out and errf, environment envp, for up to
 * timeout_s. The child runs in a process group of its own: at the time limit
 * the group gets SIGTERM, then SIGKILL after 5 s; a SIGINT or SIGTERM to this
 * program meanwhile stops the group the same way and exits this program
 * (128 + the signal). 0, or -1 with msg when it could not run or was stopped.
 */
int bench_spawn_wait(char *const argv[], char *const envp[], const char *out, const char *errf,
    int timeout_s, struct bench_child *c, char *msg, size_t msglen);
/*
 * Raise the open-files limit (children inherit it) to at least need; *now:
 * the limit then. 0, or -1 with msg when the hard limit is lower.
 */
int bench_files_limit(rlim_t need, rlim_t *now, char *msg, size_t msglen);

/* CPU time of each thread of this process, from /proc/self/task. */
struct bench_cpu {
	int n;
	long tid[BENCH_MAX_THREADS];
	long long ticks[BENCH_MAX_THREADS];	/* utime + stime */
};

void bench_cpu_snapshot(struct bench_cpu *c);
/*
 * "label cpu T s in W s (C cores); busiest threads a b c s" for the threads'
 * CPU time between two snapshots over wall seconds.
 */
void bench_cpu_report(const char *label, const struct bench_cpu *before,
    const struct bench_cpu *after, double wall);

#endif
