/*
 * soak.h - what the parts of bench/soak share: the run's settings, the
 * daemon being driven, the API load and its latencies, the generator's call
 * log, the samples of RSS and file size, and the three detectors of
 * contexts run twice.
 *
 * Contexts of the soak have the _id ctx_soak_NNNNNNN (N from 0): the number
 * indexes the per-context arrays below. Everything is reached through one
 * struct soak owned by main; counters read by several threads are atomics.
 */
#ifndef GB_BENCH_SOAK_H
#define GB_BENCH_SOAK_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#define SOAK_ID_FMT	"ctx_soak_%07d"
#define SOAK_ID_PREFIX	"ctx_soak_"
#define SOAK_ORG	"org_123"
#define SOAK_USER	"user_456"
#define SOAK_BUCKET_S	10		/* seconds per bucket of the plot and sparklines */
#define SOAK_WARM_S	120		/* slopes are taken after this (soak_warm_s) */
#define SOAK_MAX_LIVES	1024

enum soak_route { ROUTE_CREATE, ROUTE_LIST, ROUTE_GET, ROUTE_COUNT };

/* One API call: when it started (ms since the run's start), its latency, its status. */
struct soak_call {
	int32_t t_ms;
	int32_t us;
	int16_t status;			/* HTTP status; 0: no answer (the daemon was down) */
};

struct soak_calls {
	pthread_mutex_t mu;
	struct soak_call *v;
	size_t n, cap;
};

/* One sample of the daemon, every few seconds. */
struct soak_sample {
	double t;			/* seconds since the start */
	int life;			/* which run of the daemon (1 = the first) */
	long rss_kb;			/* VmRSS; 0 while it is down */
	long anon_kb, file_kb;		/* its RssAnon (heap, stacks) and RssFile parts */
	int db_fds;			/* descriptors open on the database file: SQLite connections */
	long long db_bytes, wal_bytes;
	long long pending, processing, completed, failed;
};

struct soak {
	/* settings (environment) */
	int seconds, kill_every, rate, gen_delay_ms, workers, inject;
	char out[PATH_MAX];		/* where the report, the plot and the logs go */
	/* the pieces */
	char genbox[PATH_MAX], db[PATH_MAX], conf[PATH_MAX], log[PATH_MAX + 16];
	char token[256], mongo_uri[128], redis_url[64], gen_url[64];
	int64_t t0_us;			/* the run's start */
	atomic_int port;		/* the daemon's port; 0 while it is down */
	pid_t pid;			/* the daemon */
	atomic_int pid_now;		/* the daemon's pid for the sampler; 0 while down */
	int life;			/* runs of the daemon so far */
	double kill_at[SOAK_MAX_LIVES];	/* seconds of each SIGKILL */
	double start_ms[SOAK_MAX_LIVES];	/* from spawn to its first answer */
	atomic_int stop_load;
	/* contexts */
	int max_ids;
	atomic_int next_id;		/* ids handed out by the create thread */
	atomic_uchar *acked;		/* 1: the API answered 201 */
	atomic_uchar *seen_done;	/* 1: the watcher saw it completed */
	atomic_int *gen_calls;		/* generator calls naming it */
	/*
	 * updated_at when first seen completed ("!..." once counted as gone
	 * back): written by the watcher before it sets seen_done, so a reader
	 * that saw seen_done set reads a whole string
	 */
	char (*done_at)[32];
	atomic_int unanswered;		/* creates with no answer (the daemon died under them) */
	/* the detectors */
	atomic_long gen_calls_total, gen_after_done;	/* C: calls after it was seen completed */
	long went_back;			/* B: seen completed, later seen not completed */
	long rewritten;			/* B: completed row rewritten later (updated_at moved) */
	long long tput_base, completed_base;	/* A: ctx_throughput and ctx_counts at start */
	long long lost_at_restart;	/* acknowledged before a kill, missing after it */
	/* figures */
	struct soak_calls calls[ROUTE_COUNT];
	struct soak_sample *samples;
	size_t nsamples, samples_cap;
	pthread_mutex_t samples_mu;
};

/* Seconds since the run's start. */
double soak_now(const struct soak *s);
/* One line to stdout and to out/report.txt (printf-style). */
void soak_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The report file: opened by main, closed at the end. */
void soak_report_open(const char *path);
void soak_report_close(void);

/* load.c: the API load, one thread per route until stop_load. */
void soak_load_start(struct soak *s);
void soak_load_stop(void);
void soak_calls_add(struct soak_calls *c, const struct soak_call *call);

/* gen.c: the scripted generator (OpenAI-compatible) with its call log. */
void soak_gen_start(struct soak *s);
void soak_gen_stop(void);

/* watch.c: the sampler and the completion watcher (a thread), the checks. */
void soak_watch_start(struct soak *s);
void soak_watch_stop(void);
/* Counts from the database: ctx_throughput's completions and completed contexts. */
void soak_db_tallies(const struct soak *s, long long *tput_completed, long long *completed);
/* Acknowledged contexts below limit missing from the database; -1 when it cannot be read. */
long soak_missing_in_db(struct soak *s, int limit, int print);
/* Creates nobody answered whose context is in the database all the same; -1 when unreadable. */
long soak_unacked_present(struct soak *s);
/* Soak contexts not yet ended (pending or processing), -1 when unreadable. */
long soak_unended(const struct soak *s);
/* Rows in the outbox (changes not yet acknowledged by MongoDB), -1 when unreadable. */
long soak_outbox_rows(const struct soak *s);
/* Completed rows whose updated_at moved since first seen completed. */
long soak_rewritten(struct soak *s, int print);

/*
 * A check of the detectors (SOAK_INJECT_RERUN=1): the first completed soak
 * context is set back to pending in the database by hand, as a defect
 * would, so the daemon runs it to completion once more. 0 when done.
 */
long soak_inject_rerun(struct soak *s);

/* mongo.c: the MongoDB check once sync settles. */
struct soak_mongo_check {
	long missing, not_completed, checked;
};
int soak_mongo_check(struct soak *s, struct soak_mongo_check *m, int print);

/* report.c: percentiles, slopes, sparklines, the SVG. */
/* Where the slopes start: SOAK_WARM_S, or half the run when it is shorter than twice that. */
double soak_warm_s(const struct soak *s);
double soak_p99_ms(struct soak_calls *c, double from_s, double to_s, long *ok, long *bad,
    long *down);
void soak_report_figures(struct soak *s);
int soak_write_svg(struct soak *s, const char *path);

#endif
