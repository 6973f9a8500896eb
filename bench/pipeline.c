/*
 * bench/pipeline - genbox's worker pool beside a plain SQLite loop and the
 * BullMQ baseline, in three parts of one run:
 *
 *   1. end to end   N contexts like the demo's (pipeline template,
 *                   ai_generator, transformer; offline-draft) run by the
 *                   runner API (2 workers, default claim_max), vs a
 *                   single-threaded plain SQLite loop on a second database:
 *                   claim one context per transaction (the worker polling
 *                   order on ctx_poll), call the same pure functions of
 *                   components.h, write the result in a second transaction
 *   2. no-op        M contexts with an empty pipeline run by the runner, vs
 *                   BullMQ's no-op worker (bench/bullmq/run.sh M) and the
 *                   same plain loop with no work
 *   3. concurrency  K contexts of 3 sections each through the genbox binary's
 *                   run-batch against an endpoint in this process that
 *                   answers every call after 1 s: the child's wall time and
 *                   peak RSS (wait4)
 *
 * usage: pipeline [--contexts N] [--noop M] [--slow K]
 *                 [--noop-workers W] [--noop-claim C] [--no-bullmq]
 * Defaults 2000, 20000, 200, 4 workers, claim_max 16; 0 skips a part. The
 * databases live in a new directory under /var/tmp, removed at the end.
 * The demo documents are loaded by running the genbox binary
 * (`genbox --db PATH demo`): $GENBOX_BIN, else ../genbox beside this
 * program's directory (build/default/genbox for build/default/bench/pipeline);
 * part 3 runs the same binary. bench/bullmq/run.sh is found under
 * $GENBOX_SRC, else the current directory. Prints rates and a ratio line per
 * part; the exit status is 1 when a part could not be measured.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <civetweb.h>
#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "../appliance/components.h"
#include "../appliance/generator.h"
#include "../appliance/runner.h"
#include "../base/gbtime.h"
#include "../storage/access.h"
#include "../storage/docs.h"
#include "../storage/queue.h"
#include "../storage/store.h"

extern char **environ;

#define DEFAULT_CONTEXTS	2000
#define DEFAULT_NOOP		20000
#define DEFAULT_SLOW		200
#define E2E_WORKERS		2
/*
 * No-op settings: the best of a sweep with 20,000 contexts on a shared
 * 2-core box (workers 1, 2, 3, 4 x claim_max 16 to 256, 2 to 5 runs each;
 * median contexts/s): 4 x 16 3400, 3 x 32 3480 (3 runs), 4 x 32 3220,
 * 2 x 16 3070, 2 x 64 2880, 1 x any 2000-2700. More workers than cores help
 * because a worker waiting for SQLite's write lock sleeps in its busy
 * handler (1, 2, 5, 10 ... ms) past the moment the lock is free.
 * max_inflight stays at its default.
 */
#define NOOP_WORKERS		4
#define NOOP_CLAIM		16
#define SLOW_DELAY_MS		1000
#define SLOW_CALLS		3		/* sections of the part 3 template */
#define SLOW_AIM_S		(1.5 * SLOW_CALLS * SLOW_DELAY_MS / 1000.0)
#define SLOW_RSS_AIM_MB		100.0
#define SLOW_MAX_CONCURRENT	"1000"
#define E2E_AIM			0.7
#define ORG			"org_123"
#define DOC_MAX			512		/* bytes of one generated context */
#define POOL_TIMEOUT_MS		(600 * 1000)	/* the runner's parts */
#define DEMO_TIMEOUT_S		60		/* genbox demo */
#define BULLMQ_TIMEOUT_S	900		/* run.sh, npm ci included */
#define SLOW_TIMEOUT_S		300		/* run-batch in part 3 */
#define MAX_THREADS		64		/* threads whose CPU time is read */

static char tmpdir[] = "/var/tmp/genbox-pipeline-XXXXXX";
static int have_tmpdir;
static char genbox_bin[PATH_MAX];
static int failures;

static void die(const char *what, const char *msg) __attribute__((noreturn));

static void
die(const char *what, const char *msg)
{
	fprintf(stderr, "bench/pipeline: %s: %s\n", what, msg);
	exit(1);
}

/* A part could not be measured: say why, go on, exit 1 at the end. */
static void
problem(const char *what, const char *msg)
{
	fprintf(stderr, "bench/pipeline: %s: %s\n", what, msg);
	fflush(stderr);
	failures++;
}

static void
cleanup(void)
{
	char path[PATH_MAX + 256];
	struct dirent *e;
	DIR *d;

	if (!have_tmpdir || (d = opendir(tmpdir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", tmpdir, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(tmpdir);
}

static const char *
tpath(const char *name, char *out, size_t size)
{
	snprintf(out, size, "%s/%s", tmpdir, name);
	return out;
}

static int64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static double
secs(int64_t t0_us)
{
	return (double)(mono_us() - t0_us) / 1e6;
}

/* Whole file, NUL-terminated; caller frees; NULL when it cannot be read. */
static char *
read_file(const char *path)
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

/* The last lines of a file, indented, to stderr. */
static void
print_tail(const char *path, int lines)
{
	char *text = read_file(path), *p;
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

/* The last line of text that starts with prefix and holds part (NULL: any), copied into out ("" when none). */
static void
find_line(const char *text, const char *prefix, const char *part, char *out, size_t size)
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

struct child {
	int status;		/* exit status, or 128 + signal */
	double secs;		/* wall time from spawn to exit */
	long maxrss_kb;		/* the child's peak RSS */
};

/*
 * Run argv (argv[0] searched in PATH) with stdin from /dev/null, stdout and
 * stderr into the files out and errf, environment envp; killed after
 * timeout_s. 0, or -1 with msg when it could not run or was killed.
 */
static int
spawn_wait(char *const argv[], char *const envp[], const char *out, const char *errf, int timeout_s,
    struct child *c, char *msg, size_t msglen)
{
	posix_spawn_file_actions_t fa;
	struct rusage ru;
	struct pollfd pfd;
	pid_t pid;
	int64_t t0;
	int rc, st, killed = 0;

	memset(c, 0, sizeof(*c));
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_addopen(&fa, 2, errf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	t0 = mono_us();
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		snprintf(msg, msglen, "cannot run '%s': %s", argv[0], strerror(rc));
		return -1;
	}
	/* the pidfd becomes readable when the child exits: no polling loop in the timing */
	if ((pfd.fd = pidfd_open(pid, 0)) >= 0) {
		pfd.events = POLLIN;
		while ((rc = poll(&pfd, 1, timeout_s * 1000)) < 0 && errno == EINTR)
			;
		if (rc == 0) {
			kill(pid, SIGKILL);
			killed = 1;
		}
		close(pfd.fd);
	}
	while (wait4(pid, &st, 0, &ru) < 0) {
		if (errno != EINTR) {
			snprintf(msg, msglen, "wait for '%s': %s", argv[0], strerror(errno));
			return -1;
		}
	}
	c->secs = secs(t0);
	c->maxrss_kb = ru.ru_maxrss;
	c->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	if (killed) {
		snprintf(msg, msglen, "'%s' killed after %d s", argv[0], timeout_s);
		return -1;
	}
	return 0;
}

/* genbox --db PATH demo: the schema's example documents. */
static void
load_demo(const char *db)
{
	char out[PATH_MAX], errf[PATH_MAX], msg[PATH_MAX + 64];
	char *argv[] = { genbox_bin, "--db", (char *)db, "demo", NULL };
	struct child c;

	tpath("demo.out", out, sizeof(out));
	tpath("demo.err", errf, sizeof(errf));
	if (spawn_wait(argv, environ, out, errf, DEMO_TIMEOUT_S, &c, msg, sizeof(msg)))
		die("demo", msg);
	if (c.status != 0) {
		print_tail(errf, 10);
		snprintf(msg, sizeof(msg), "'%s --db %s demo' exited with status %d", genbox_bin, db, c.status);
		die("demo", msg);
	}
}

static void
db_remove(const char *path)
{
	char p[PATH_MAX + 8];

	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
}

/* ---- the contexts ---- */

struct docset {
	char *text;		/* n documents, DOC_MAX bytes apart */
	const char **v;
	size_t *len;
	size_t n;
};

static void
docset_make(struct docset *d, size_t n, int noop)
{
	d->n = n;
	d->text = malloc(n * DOC_MAX);
	d->v = malloc(n * sizeof(*d->v));
	d->len = malloc(n * sizeof(*d->len));
	if (d->text == NULL || d->v == NULL || d->len == NULL)
		die("contexts", "out of memory");
	for (size_t i = 0; i < n; i++) {
		char *p = d->text + i * DOC_MAX, created[GB_TIME_LEN];
		int len;

		gb_time_format(1686407400000LL + (int64_t)i * 37, created);
		if (noop)
			len = snprintf(p, DOC_MAX, "{\"_id\":\"ctx_noop_%07zu\",\"type\":\"article\",\"status\":\"pending\","
			    "\"created_at\":\"%s\",\"pipeline\":[],\"data\":{\"title\":\"No-op %zu\"},"
			    "\"user_id\":\"user_456\",\"organization_id\":\"" ORG "\","
			    "\"metadata\":{\"source\":\"bench\",\"priority\":%zu}}", i, created, i, 1 + i % 10);
		else
			len = snprintf(p, DOC_MAX, "{\"_id\":\"ctx_e2e_%07zu\",\"type\":\"article\",\"status\":\"pending\","
			    "\"created_at\":\"%s\",\"pipeline\":[\"template\",\"ai_generator\",\"transformer\"],"
			    "\"data\":{\"title\":\"Example Article %zu\",\"keywords\":[\"microservices\",\"architecture\","
			    "\"documentation\"],\"target_audience\":\"developers\",\"tone\":\"technical\"},"
			    "\"user_id\":\"user_456\",\"organization_id\":\"" ORG "\","
			    "\"metadata\":{\"source\":\"api\",\"priority\":%zu}}", i, created, i, 1 + i % 10);
		if (len < 0 || len >= DOC_MAX)
			die("contexts", "a generated context is longer than DOC_MAX");
		d->v[i] = p;
		d->len[i] = (size_t)len;
	}
}

static void
docset_free(struct docset *d)
{
	free(d->text);
	free(d->v);
	free(d->len);
}

/* A new database: the demo documents, then the contexts. */
static void
db_fill(const char *path, const struct docset *d)
{
	struct gb_err err = { 0, "" };
	struct store *st;
	size_t failed = 0;

	db_remove(path);
	load_demo(path);
	if (store_open(&st, path, NULL, &err))
		die(path, err.msg);
	if (store_put_many(st, COLL_CONTEXTS, d->v, d->len, d->n, STORE_INSERT, &failed, &err))
		die("insert contexts", err.msg);
	store_close(st);
}

/* Contexts per status; dies when it cannot read them. */
static void
status_counts(const char *path, int64_t counts[CTX_STATUS_COUNT])
{
	struct gb_err err = { 0, "" };
	struct store *st;

	if (store_open(&st, path, NULL, &err) || store_ctx_status_counts(st, counts, &err))
		die(path, err.msg);
	store_close(st);
}

/* ---- CPU time per thread of this process, from /proc ---- */

struct cpu {
	int n;
	long tid[MAX_THREADS];
	long long ticks[MAX_THREADS];	/* utime + stime */
};

static void
cpu_snapshot(struct cpu *c)
{
	struct dirent *e;
	DIR *d;

	c->n = 0;
	if ((d = opendir("/proc/self/task")) == NULL)
		return;
	while ((e = readdir(d)) != NULL && c->n < MAX_THREADS) {
		char path[300], line[1024], *p, *end;
		long long ut, stt;
		int field = 3;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/stat", e->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		p = fgets(line, sizeof(line), f) ? strrchr(line, ')') : NULL;
		fclose(f);
		if (p == NULL)
			continue;
		/* after ") " comes field 3 (state); utime and stime are fields 14 and 15 */
		for (p += 2; *p && field < 14; p++)
			if (*p == ' ')
				field++;
		ut = strtoll(p, &end, 10);
		stt = strtoll(end, NULL, 10);
		c->tid[c->n] = strtol(e->d_name, NULL, 10);
		c->ticks[c->n++] = ut + stt;
	}
	closedir(d);
}

/* CPU seconds of the threads over a run of wall seconds, in all and of the three busiest */
static void
cpu_report(const struct cpu *before, const struct cpu *after, double wall)
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
	printf("    genbox cpu %.2f s in %.2f s (%.2f cores); busiest threads %.2f %.2f %.2f s\n", total, wall,
	    wall > 0 ? total / wall : 0, top[0], top[1], top[2]);
}

/* ---- genbox's runner ---- */

struct pool_result {
	double secs;		/* runner_start until every context's end is committed */
	int64_t completed, failed;
};

static void
pool_run(const char *db, int workers, int claim_max, size_t n, struct pool_result *res)
{
	struct gen_config gc = { NULL, NULL, 0, 0, 0 };
	struct gb_err err = { 0, "" };
	struct runner_config cfg;
	struct runner_stats s;
	struct runner *r = NULL;
	struct generator *gen = NULL;
	struct store *st = NULL;
	struct cpu before, after;
	int64_t t0, c[CTX_STATUS_COUNT];

	memset(res, 0, sizeof(*res));
	if (store_open(&st, db, NULL, &err))
		die(db, err.msg);
	if (generator_open(&gen, &gc, &err))
		die("generator", err.msg);
	runner_config_defaults(&cfg);
	cfg.db_path = db;
	cfg.workers = workers;
	if (claim_max > 0)
		cfg.claim_max = claim_max;
	cfg.gen = gen;
	cpu_snapshot(&before);
	t0 = mono_us();
	if (runner_start(&r, &cfg, &err))
		die("runner", err.msg);	/* it took the generator */
	/* the pool's own count first (cheap), then the database: ends are committed per claimed group */
	for (;;) {
		runner_stats(r, &s);
		if (s.completed + s.failed >= (int64_t)n || mono_us() - t0 > POOL_TIMEOUT_MS * 1000LL)
			break;
		sleep_ms(2);
	}
	for (;;) {
		if (store_ctx_status_counts(st, c, &err))
			die(db, err.msg);
		if (c[CTX_PENDING] + c[CTX_PROCESSING] == 0 || mono_us() - t0 > POOL_TIMEOUT_MS * 1000LL)
			break;
		sleep_ms(1);
	}
	res->secs = secs(t0);
	cpu_snapshot(&after);
	runner_stats(r, &s);
	res->completed = s.completed;
	res->failed = s.failed;
	runner_stop(r, 5000);
	runner_free(r);
	store_close(st);
	cpu_report(&before, &after, res->secs);
	if (c[CTX_PENDING] + c[CTX_PROCESSING] > 0 || s.failed > 0) {
		char msg[160];

		snprintf(msg, sizeof(msg), "%lld completed, %lld failed, %lld still pending or processing of %zu",
		    (long long)s.completed, (long long)s.failed, (long long)(c[CTX_PENDING] + c[CTX_PROCESSING]), n);
		problem("genbox runner", msg);
	}
}

/* ---- the plain SQLite loop ---- */

struct plain {
	sqlite3 *db;
	sqlite3_stmt *begin_imm, *begin, *commit, *next, *claim, *done;
	int64_t sql_us, draft_us, work_us;	/* where the time went */
};

static sqlite3_stmt *
plain_prepare(struct plain *p, const char *sql)
{
	sqlite3_stmt *s;

	if (sqlite3_prepare_v2(p->db, sql, -1, &s, NULL) != SQLITE_OK)
		die(sql, sqlite3_errmsg(p->db));
	return s;
}

static void
plain_open(struct plain *p, const char *path, int noop)
{
	memset(p, 0, sizeof(*p));
	if (sqlite3_open_v2(path, &p->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
		die(path, p->db ? sqlite3_errmsg(p->db) : "out of memory");
	sqlite3_busy_timeout(p->db, 5000);
	if (sqlite3_exec(p->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL", NULL, NULL, NULL) != SQLITE_OK)
		die(path, sqlite3_errmsg(p->db));
	p->begin_imm = plain_prepare(p, "BEGIN IMMEDIATE");
	p->begin = plain_prepare(p, "BEGIN");
	p->commit = plain_prepare(p, "COMMIT");
	/* the worker polling order, on the ctx_poll index */
	p->next = plain_prepare(p, "SELECT _id, doc FROM contexts WHERE status = 'pending' AND organization_id = ?1 "
	    "AND (next_retry_at IS NULL OR next_retry_at <= ?2) ORDER BY priority, created_at LIMIT 1");
	p->claim = plain_prepare(p, "UPDATE contexts SET status = 'processing', started_at = ?2, updated_at = ?2 "
	    "WHERE _id = ?1 AND status = 'pending'");
	if (noop)
		p->done = plain_prepare(p, "UPDATE contexts SET status = 'completed', updated_at = ?2, "
		    "doc = json_set(doc, '$.status', 'completed', '$.updated_at', ?2, "
		    "'$.processing.started_at', started_at, '$.processing.completed_at', ?2) WHERE _id = ?1");
	else
		p->done = plain_prepare(p, "UPDATE contexts SET status = 'completed', updated_at = ?2, "
		    "doc = json_set(doc, '$.data.template', json(?3), '$.data.generated_content', json(?4), "
		    "'$.data.formatted_content', json(?5), '$.status', 'completed', '$.updated_at', ?2, "
		    "'$.processing.started_at', started_at, '$.processing.completed_at', ?2) WHERE _id = ?1");
}

static void
plain_close(struct plain *p)
{
	sqlite3_finalize(p->begin_imm);
	sqlite3_finalize(p->begin);
	sqlite3_finalize(p->commit);
	sqlite3_finalize(p->next);
	sqlite3_finalize(p->claim);
	sqlite3_finalize(p->done);
	sqlite3_close(p->db);
}

static void
plain_step(struct plain *p, sqlite3_stmt *s, const char *what)
{
	if (sqlite3_step(s) != SQLITE_DONE)
		die(what, sqlite3_errmsg(p->db));
	sqlite3_reset(s);
}

static const char *
jstr(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/*
 * The three components on one context, as the runner does them: the
 * expanded template, the generated content (one offline draft per section),
 * the markdown rendering (comp_transformer_markdown: no table of contents).
 * The three results are malloc'd JSON texts.
 */
static void
plain_work(struct plain *p, const cJSON *tmpl, const char *id, const char *doc, char **tj, char **gj, char **fj)
{
	struct gb_err err = { 0, "" };
	cJSON *ctx = cJSON_Parse(doc), *expanded = NULL, *gc, *body, *fc;
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(ctx, "data"), *sec;
	char *content = NULL;

	if (ctx == NULL)
		die(id, "stored document is not JSON");
	if (template_expand(tmpl, id, &expanded, &err))
		die("template_expand", err.msg);
	gc = cJSON_CreateObject();
	body = cJSON_CreateArray();
	cJSON_ArrayForEach(sec, cJSON_GetObjectItemCaseSensitive(expanded, "sections")) {
		const cJSON *range = cJSON_GetObjectItemCaseSensitive(sec, "word_range");
		const cJSON *lo = cJSON_GetArrayItem(range, 0), *hi = cJSON_GetArrayItem(range, 1);
		const char *sid = jstr(sec, "id");
		char *system = NULL, *user = NULL, *text;
		int64_t t0;

		if (prompt_build(data, sec, &system, &user, &err))
			die("prompt_build", err.msg);
		t0 = mono_us();
		text = offline_draft(system, user, cJSON_IsNumber(lo) ? lo->valueint : 100,
		    cJSON_IsNumber(hi) ? hi->valueint : 200);
		p->draft_us += mono_us() - t0;
		if (text == NULL)
			die("offline_draft", "out of memory");
		if (sid && strcmp(sid, "introduction") == 0) {
			cJSON_AddStringToObject(gc, "introduction", text);
		} else if (sid && strcmp(sid, "conclusion") == 0) {
			cJSON_AddStringToObject(gc, "conclusion", text);
		} else {
			cJSON *item = cJSON_CreateObject();

			cJSON_AddStringToObject(item, "id", sid ? sid : "");
			cJSON_AddStringToObject(item, "title", jstr(sec, "name") ? jstr(sec, "name") : sid ? sid : "");
			cJSON_AddStringToObject(item, "content", text);
			cJSON_AddItemToArray(body, item);
		}
		free(system);
		free(user);
		free(text);
	}
	cJSON_AddItemToObject(gc, "body", body);
	if (transform_render(gc, jstr(data, "title"), "markdown", 0, &content, &err))
		die("transform_render", err.msg);
	fc = cJSON_CreateObject();
	cJSON_AddStringToObject(fc, "format", "markdown");
	cJSON_AddStringToObject(fc, "content", content);
	*tj = cJSON_PrintUnformatted(expanded);
	*gj = cJSON_PrintUnformatted(gc);
	*fj = cJSON_PrintUnformatted(fc);
	if (*tj == NULL || *gj == NULL || *fj == NULL)
		die("plain loop", "out of memory");
	free(content);
	cJSON_Delete(fc);
	cJSON_Delete(gc);
	cJSON_Delete(expanded);
	cJSON_Delete(ctx);
}

/* The demo template, read once. */
static cJSON *
plain_template(struct plain *p)
{
	sqlite3_stmt *s = plain_prepare(p, "SELECT doc FROM templates WHERE _id = 'tmpl_article_technical'");
	cJSON *t = NULL;

	if (sqlite3_step(s) == SQLITE_ROW)
		t = cJSON_Parse((const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	if (t == NULL)
		die("plain loop", "template 'tmpl_article_technical' is missing or not JSON");
	return t;
}

/*
 * Claim and complete n contexts one per transaction, with the component
 * work in between unless noop. Returns the seconds taken.
 */
static double
plain_run(const char *path, size_t n, int noop, struct plain *p)
{
	cJSON *tmpl;
	int64_t t0;
	double took;

	plain_open(p, path, noop);
	tmpl = noop ? NULL : plain_template(p);
	t0 = mono_us();
	for (size_t i = 0; i < n; i++) {
		char id[STORE_ID_MAX], now[GB_TIME_LEN], *doc, *tj = NULL, *gj = NULL, *fj = NULL;
		int64_t t1 = mono_us(), t2;

		plain_step(p, p->begin_imm, "begin immediate");
		gb_time_format(gb_now_ms(), now);
		sqlite3_bind_text(p->next, 1, ORG, -1, SQLITE_STATIC);
		sqlite3_bind_text(p->next, 2, now, -1, SQLITE_STATIC);
		if (sqlite3_step(p->next) != SQLITE_ROW)
			die("plain loop", "no pending context left before the last");
		snprintf(id, sizeof(id), "%s", (const char *)sqlite3_column_text(p->next, 0));
		doc = noop ? NULL : strdup((const char *)sqlite3_column_text(p->next, 1));
		sqlite3_reset(p->next);
		if (!noop && doc == NULL)
			die("plain loop", "out of memory");
		sqlite3_bind_text(p->claim, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_text(p->claim, 2, now, -1, SQLITE_STATIC);
		plain_step(p, p->claim, "claim");
		plain_step(p, p->commit, "commit");
		t2 = mono_us();
		p->sql_us += t2 - t1;
		if (!noop)
			plain_work(p, tmpl, id, doc, &tj, &gj, &fj);
		t1 = mono_us();
		p->work_us += t1 - t2;
		gb_time_format(gb_now_ms(), now);
		plain_step(p, p->begin, "begin");
		sqlite3_bind_text(p->done, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_text(p->done, 2, now, -1, SQLITE_STATIC);
		if (!noop) {
			sqlite3_bind_text(p->done, 3, tj, -1, SQLITE_STATIC);
			sqlite3_bind_text(p->done, 4, gj, -1, SQLITE_STATIC);
			sqlite3_bind_text(p->done, 5, fj, -1, SQLITE_STATIC);
		}
		plain_step(p, p->done, "complete");
		sqlite3_clear_bindings(p->done);
		plain_step(p, p->commit, "commit");
		p->sql_us += mono_us() - t1;
		free(doc);
		free(tj);
		free(gj);
		free(fj);
	}
	took = secs(t0);
	cJSON_Delete(tmpl);
	plain_close(p);
	return took;
}

/* ---- part 1: end to end ---- */

/* data.formatted_content.content of a context; caller frees; NULL when absent. */
static char *
article_of(const char *path, const char *id)
{
	struct gb_err err = { 0, "" };
	struct store *st;
	char *text = NULL, *out = NULL;
	cJSON *doc;

	if (store_open(&st, path, NULL, &err) || store_get(st, COLL_CONTEXTS, id, &text, &err))
		die(path, err.msg);
	store_close(st);
	if ((doc = cJSON_Parse(text)) != NULL) {
		const char *c = jstr(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "data"),
		    "formatted_content"), "content");

		out = c ? strdup(c) : NULL;
	}
	cJSON_Delete(doc);
	free(text);
	return out;
}

static void
part_e2e(size_t n)
{
	char gpath[PATH_MAX], ppath[PATH_MAX];
	struct docset d;
	struct pool_result g;
	struct plain p;
	int64_t c[CTX_STATUS_COUNT];
	double tp, a, b;
	char *ga, *pa;

	printf("1. end to end: %zu contexts (template, ai_generator offline-draft, transformer)\n", n);
	fflush(stdout);
	docset_make(&d, n, 0);
	db_fill(tpath("e2e-genbox.db", gpath, sizeof(gpath)), &d);
	db_fill(tpath("e2e-plain.db", ppath, sizeof(ppath)), &d);
	docset_free(&d);

	pool_run(gpath, E2E_WORKERS, 0, n, &g);
	tp = plain_run(ppath, n, 0, &p);
	status_counts(ppath, c);
	if (c[CTX_PENDING] + c[CTX_PROCESSING] + c[CTX_FAILED] > 0)
		problem("plain loop", "contexts left pending, processing or failed");
	a = (double)g.completed / g.secs;
	b = (double)n / tp;
	printf("    plain detail: sqlite %.2f s, component work %.2f s (offline_draft %.2f s)\n",
	    (double)p.sql_us / 1e6, (double)p.work_us / 1e6, (double)p.draft_us / 1e6);
	ga = article_of(gpath, "ctx_e2e_0000000");
	pa = article_of(ppath, "ctx_e2e_0000000");
	printf("    same article text in both databases: %s\n", ga && pa && strcmp(ga, pa) == 0 ? "yes" : "NO");
	free(ga);
	free(pa);
	printf("  genbox runner (%d workers, claim_max default) %8.1f contexts/s  (%.2f s)\n", E2E_WORKERS, a, g.secs);
	printf("  plain sqlite loop (1 thread)                 %8.1f contexts/s  (%.2f s)\n", b, tp);
	printf("  ratio genbox/plain %.2f   (aim >= %.1f)\n", a / b, E2E_AIM);
	fflush(stdout);
	db_remove(gpath);
	db_remove(ppath);
}

/* ---- part 2: no-op throughput ---- */

/* bash bench/bullmq/run.sh M: 0 and its rate, or -1 (and why, on stderr). */
static int
bullmq_run(size_t m, double *rate, double *took)
{
	const char *src = getenv("GENBOX_SRC");
	char script[PATH_MAX], out[PATH_MAX], errf[PATH_MAX], mstr[32], msg[PATH_MAX + 64], detail[256];
	char *argv[] = { "bash", script, mstr, NULL };
	const char *r, *s;
	struct child c;
	char *text;

	snprintf(script, sizeof(script), "%s/bench/bullmq/run.sh", src && *src ? src : ".");
	if (access(script, R_OK) != 0) {
		snprintf(msg, sizeof(msg), "cannot read '%s': %s (run from the source tree or set GENBOX_SRC)",
		    script, strerror(errno));
		problem("bullmq", msg);
		return -1;
	}
	snprintf(mstr, sizeof(mstr), "%zu", m);
	tpath("bullmq.out", out, sizeof(out));
	tpath("bullmq.err", errf, sizeof(errf));
	if (spawn_wait(argv, environ, out, errf, BULLMQ_TIMEOUT_S, &c, msg, sizeof(msg))) {
		print_tail(errf, 15);
		problem("bullmq", msg);
		return -1;
	}
	if (c.status != 0) {
		print_tail(errf, 15);
		snprintf(msg, sizeof(msg), "'bash %s %s' exited with status %d", script, mstr, c.status);
		problem("bullmq", msg);
		return -1;
	}
	if ((text = read_file(out)) == NULL || (r = strstr(text, "jobs_per_sec=")) == NULL ||
	    (s = strstr(text, " seconds=")) == NULL || (*rate = strtod(r + 13, NULL)) <= 0) {
		print_tail(out, 5);
		problem("bullmq", "no 'jobs_per_sec=' in the output of run.sh");
		free(text);
		return -1;
	}
	*took = strtod(s + 9, NULL);
	free(text);
	if ((text = read_file(errf)) != NULL) {
		find_line(text, "bullmq detail:", NULL, detail, sizeof(detail));
		if (detail[0])
			printf("    %s\n", detail);
		free(text);
	}
	return 0;
}

static void
part_noop(size_t m, int workers, int claim_max, int with_bullmq)
{
	char gpath[PATH_MAX], ppath[PATH_MAX];
	struct docset d;
	struct pool_result g;
	struct plain p;
	int64_t c[CTX_STATUS_COUNT];
	double tp, a, b, q = 0, tq = 0;
	int bull_ok;

	printf("2. no-op throughput: %zu contexts with \"pipeline\": []\n", m);
	fflush(stdout);
	docset_make(&d, m, 1);
	db_fill(tpath("noop-genbox.db", gpath, sizeof(gpath)), &d);
	db_fill(tpath("noop-plain.db", ppath, sizeof(ppath)), &d);
	docset_free(&d);

	pool_run(gpath, workers, claim_max, m, &g);
	tp = plain_run(ppath, m, 1, &p);
	status_counts(ppath, c);
	if (c[CTX_PENDING] + c[CTX_PROCESSING] + c[CTX_FAILED] > 0)
		problem("plain loop", "contexts left pending, processing or failed");
	db_remove(gpath);
	db_remove(ppath);
	bull_ok = with_bullmq ? bullmq_run(m, &q, &tq) == 0 : 0;
	a = (double)g.completed / g.secs;
	b = (double)m / tp;
	printf("  genbox runner (%d workers, claim_max %d) %9.0f contexts/s  (%.2f s)\n", workers, claim_max, a, g.secs);
	if (bull_ok)
		printf("  bullmq (noop.js, its default concurrency) %9.0f jobs/s      (%.2f s)\n", q, tq);
	else
		printf("  bullmq                                   %9s\n", with_bullmq ? "failed" : "skipped");
	printf("  plain sqlite loop (1 thread, reference)  %9.0f contexts/s  (%.2f s)\n", b, tp);
	if (bull_ok)
		printf("  ratio genbox/bullmq %.2f   (aim > 1)   genbox/plain %.2f\n", a / q, a / b);
	else
		printf("  ratio genbox/bullmq n/a   genbox/plain %.2f\n", a / b);
	fflush(stdout);
}

/* ---- part 3: concurrency against a slow endpoint ---- */

struct slow_server {
	struct mg_context *ctx;
	int port;
	char *reply;			/* the chat.completion body, read-only once built */
	size_t reply_len;
	pthread_mutex_t header_mu;	/* civetweb dates its headers with gmtime(): one at a time */
	pthread_mutex_t mu;		/* guards the counters below */
	int inflight, peak;
	long answered;
};

static struct slow_server srv;

/* On a civetweb thread: read the request, wait, answer a chat completion. */
static int
slow_handle(struct mg_connection *conn, void *cbdata)
{
	char buf[1024], clen[32];

	(void)cbdata;
	while (mg_read(conn, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&srv.mu);
	if (++srv.inflight > srv.peak)
		srv.peak = srv.inflight;
	pthread_mutex_unlock(&srv.mu);
	sleep_ms(SLOW_DELAY_MS);
	snprintf(clen, sizeof(clen), "%zu", srv.reply_len);
	pthread_mutex_lock(&srv.header_mu);
	mg_response_header_start(conn, 200);
	mg_response_header_add(conn, "Content-Type", "application/json", -1);
	mg_response_header_add(conn, "Content-Length", clen, -1);
	mg_response_header_send(conn);
	pthread_mutex_unlock(&srv.header_mu);
	mg_write(conn, srv.reply, srv.reply_len);
	pthread_mutex_lock(&srv.mu);
	srv.inflight--;
	srv.answered++;
	pthread_mutex_unlock(&srv.mu);
	return 200;
}

static void
slow_start(size_t k)
{
	static const char words[] = "Microservices let small teams build, test and ship each part of a system on "
	    "its own schedule, but the freedom has a price: every call between services crosses a network that "
	    "can be slow or down, so timeouts, retries and clear contracts matter as much as the code itself, "
	    "and good documentation keeps the whole picture understandable.";
	char threads[32], *reply;
	const char *opts[] = { "listening_ports", "127.0.0.1:0", "num_threads", threads, "connection_queue", threads,
	    "request_timeout_ms", "60000", NULL };
	struct mg_server_port ports[2];
	cJSON *o = cJSON_CreateObject(), *choices, *choice, *msg, *usage;

	cJSON_AddStringToObject(o, "id", "chatcmpl-bench");
	cJSON_AddStringToObject(o, "object", "chat.completion");
	cJSON_AddNumberToObject(o, "created", 1686407400);
	cJSON_AddStringToObject(o, "model", "gpt-4");
	choices = cJSON_AddArrayToObject(o, "choices");
	choice = cJSON_CreateObject();
	cJSON_AddItemToArray(choices, choice);
	cJSON_AddNumberToObject(choice, "index", 0);
	msg = cJSON_AddObjectToObject(choice, "message");
	cJSON_AddStringToObject(msg, "role", "assistant");
	cJSON_AddStringToObject(msg, "content", words);
	cJSON_AddStringToObject(choice, "finish_reason", "stop");
	usage = cJSON_AddObjectToObject(o, "usage");
	cJSON_AddNumberToObject(usage, "prompt_tokens", 120);
	cJSON_AddNumberToObject(usage, "completion_tokens", 66);
	cJSON_AddNumberToObject(usage, "total_tokens", 186);
	reply = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (reply == NULL)
		die("endpoint", "out of memory");
	srv.reply = reply;
	srv.reply_len = strlen(reply);
	pthread_mutex_init(&srv.header_mu, NULL);
	pthread_mutex_init(&srv.mu, NULL);
	snprintf(threads, sizeof(threads), "%zu", SLOW_CALLS * k + 16);
	mg_init_library(0);
	if ((srv.ctx = mg_start(NULL, NULL, opts)) == NULL)
		die("endpoint", "civetweb would not start on 127.0.0.1");
	if (mg_get_server_ports(srv.ctx, 2, ports) < 1 || ports[0].port <= 0)
		die("endpoint", "civetweb has no port");
	srv.port = ports[0].port;
	mg_set_request_handler(srv.ctx, "/v1/chat/completions", slow_handle, NULL);
}

static void
slow_stop(void)
{
	mg_stop(srv.ctx);
	mg_exit_library();
	pthread_mutex_destroy(&srv.mu);
	pthread_mutex_destroy(&srv.header_mu);
	free(srv.reply);
	memset(&srv, 0, sizeof(srv));
}

/* Raise this process's open-files limit (the child inherits it) to at least need; *now: the limit. */
static int
files_limit(rlim_t need, rlim_t *now, char *msg, size_t msglen)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		snprintf(msg, msglen, "getrlimit: %s", strerror(errno));
		return -1;
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
			snprintf(msg, msglen, "the open-files limit is %llu and cannot be raised to %llu: raise it "
			    "(ulimit -n) or lower --slow", (unsigned long long)rl.rlim_max, (unsigned long long)need);
			return -1;
		}
		rl.rlim_cur = need;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
			snprintf(msg, msglen, "setrlimit to %llu: %s", (unsigned long long)need, strerror(errno));
			return -1;
		}
	}
	*now = rl.rlim_cur;
	return 0;
}

/* The environment with the generator's URL and concurrency set; free the array (not its strings). */
static char **
child_env(char *url_var, char *conc_var)
{
	size_t n = 0, k = 0;
	char **env;

	while (environ[n])
		n++;
	if ((env = calloc(n + 3, sizeof(*env))) == NULL)
		die("environment", "out of memory");
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "GENBOX_GENERATOR_URL=", 21) != 0 &&
		    strncmp(environ[i], "GENBOX_GENERATOR_MAX_CONCURRENT=", 32) != 0)
			env[k++] = environ[i];
	env[k++] = url_var;
	env[k++] = conc_var;
	env[k] = NULL;
	return env;
}

static void
part_slow(size_t k)
{
	static const char tmpl[] = "{\"_id\":\"tmpl_bench_three\",\"name\":\"Three Sections\",\"version\":\"1.0.0\","
	    "\"organization_id\":\"" ORG "\",\"is_active\":true,\"structure\":{\"sections\":["
	    "{\"id\":\"introduction\",\"type\":\"text\",\"name\":\"Introduction\",\"instructions\":\"Introduce the topic\","
	    "\"word_range\":[40,60]},"
	    "{\"id\":\"main\",\"type\":\"text\",\"name\":\"Main Section\",\"instructions\":\"Explain the topic\","
	    "\"word_range\":[40,60]},"
	    "{\"id\":\"conclusion\",\"type\":\"text\",\"name\":\"Conclusion\",\"instructions\":\"Sum up\","
	    "\"word_range\":[40,60]}]},\"metadata\":{\"tags\":[\"bench\"]}}";
	static const char pipe[] = "{\"_id\":\"pipe_bench_three\",\"name\":\"Three slow calls\",\"organization_id\":\""
	    ORG "\",\"is_active\":true,\"components\":["
	    "{\"component_id\":\"comp_template_article\",\"order\":1,\"config_overrides\":{\"template_id\":"
	    "\"tmpl_bench_three\"}},"
	    "{\"component_id\":\"comp_ai_generator_gpt4\",\"order\":2},"
	    "{\"component_id\":\"comp_transformer_markdown\",\"order\":3}]}";
	char db[PATH_MAX], input[PATH_MAX], out[PATH_MAX], errf[PATH_MAX], msg[PATH_MAX + 128];
	char url_var[96], conc_var[] = "GENBOX_GENERATOR_MAX_CONCURRENT=" SLOW_MAX_CONCURRENT, line[256];
	char *argv[] = { genbox_bin, "--db", db, "run-batch", "--pipeline", "pipe_bench_three", "--input", input,
	    "--workers", "2", NULL };
	struct gb_err err = { 0, "" };
	struct store *st;
	struct child c;
	int64_t before[CTX_STATUS_COUNT], after[CTX_STATUS_COUNT];
	char **env, *text;
	rlim_t need = (rlim_t)(2 * SLOW_CALLS * k + 256), nofile = 0;
	double rss_mb, calls;
	FILE *f;

	printf("3. concurrency: %zu contexts x %d generator calls, each answered after %d ms\n", k, SLOW_CALLS,
	    SLOW_DELAY_MS);
	fflush(stdout);
	if (files_limit(need, &nofile, msg, sizeof(msg))) {
		problem("concurrency", msg);
		return;
	}
	if (nofile == RLIM_INFINITY)
		printf("    open-files limit: unlimited (both ends of %zu sockets need about %llu)\n", SLOW_CALLS * k,
		    (unsigned long long)need);
	else
		printf("    open-files limit: %llu (both ends of %zu sockets need about %llu)\n",
		    (unsigned long long)nofile, SLOW_CALLS * k, (unsigned long long)need);
	tpath("slow.db", db, sizeof(db));
	db_remove(db);
	load_demo(db);
	if (store_open(&st, db, NULL, &err) ||
	    store_put(st, COLL_TEMPLATES, tmpl, strlen(tmpl), STORE_UPSERT, NULL, &err) ||
	    store_put(st, COLL_PIPELINES, pipe, strlen(pipe), STORE_UPSERT, NULL, &err) ||
	    store_ctx_status_counts(st, before, &err))
		die(db, err.msg);
	store_close(st);
	if ((f = fopen(tpath("slow.jsonl", input, sizeof(input)), "w")) == NULL)
		die(input, strerror(errno));
	for (size_t i = 0; i < k; i++)
		fprintf(f, "{\"type\":\"article\",\"data\":{\"title\":\"Slow Article %zu\",\"keywords\":[\"microservices\","
		    "\"latency\"],\"target_audience\":\"developers\",\"tone\":\"technical\"},\"user_id\":\"user_456\","
		    "\"metadata\":{\"source\":\"bench\",\"priority\":5}}\n", i);
	if (fclose(f) != 0)
		die(input, strerror(errno));

	slow_start(k);
	snprintf(url_var, sizeof(url_var), "GENBOX_GENERATOR_URL=http://127.0.0.1:%d", srv.port);
	env = child_env(url_var, conc_var);
	tpath("slow.out", out, sizeof(out));
	tpath("slow.err", errf, sizeof(errf));
	if (spawn_wait(argv, env, out, errf, SLOW_TIMEOUT_S, &c, msg, sizeof(msg))) {
		print_tail(errf, 10);
		free(env);
		slow_stop();
		problem("run-batch", msg);
		return;
	}
	free(env);
	pthread_mutex_lock(&srv.mu);
	calls = (double)srv.answered / (double)k;
	printf("    endpoint: %ld calls answered, at most %d at once\n", srv.answered, srv.peak);
	pthread_mutex_unlock(&srv.mu);
	slow_stop();
	if ((text = read_file(out)) != NULL) {
		find_line(text, "batch ", " completed,", line, sizeof(line));
		if (line[0])
			printf("    run-batch: %s\n", line);
		free(text);
	}
	status_counts(db, after);
	if (c.status != 0 || after[CTX_COMPLETED] - before[CTX_COMPLETED] != (int64_t)k) {
		print_tail(errf, 10);
		snprintf(msg, sizeof(msg), "run-batch exited with status %d; %lld of %zu contexts completed", c.status,
		    (long long)(after[CTX_COMPLETED] - before[CTX_COMPLETED]), k);
		problem("run-batch", msg);
	}
	db_remove(db);
	unlink(input);
	rss_mb = (double)c.maxrss_kb / 1024.0;
	printf("  calls per context %.2f (template sections: %d)\n", calls, SLOW_CALLS);
	printf("  genbox run-batch wall %.2f s   (aim <= %.1f s = 1.5 x %d x %.0f s)\n", c.secs, SLOW_AIM_S, SLOW_CALLS,
	    SLOW_DELAY_MS / 1000.0);
	printf("  genbox run-batch peak RSS %.1f MB   (aim < %.0f MB)\n", rss_mb, SLOW_RSS_AIM_MB);
	printf("  ratio wall/aim %.2f   rss/aim %.2f   (aim: both <= 1)\n", c.secs / SLOW_AIM_S, rss_mb / SLOW_RSS_AIM_MB);
	fflush(stdout);
}

/* ---- main ---- */

static long
number(const char *opt, const char *s, long lo, long hi)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "bench/pipeline: %s takes a number from %ld to %ld, not '%s'\n", opt, lo, hi, s);
		exit(2);
	}
	return (long)v;
}

/* $GENBOX_BIN, else ../genbox from this program's directory. */
static void
find_genbox(void)
{
	const char *env = getenv("GENBOX_BIN");
	char exe[PATH_MAX - 16], *slash;
	ssize_t len;

	if (env && *env) {
		snprintf(genbox_bin, sizeof(genbox_bin), "%s", env);
	} else {
		if ((len = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) < 0)
			die("/proc/self/exe", strerror(errno));
		exe[len] = '\0';
		for (int i = 0; i < 2; i++)
			if ((slash = strrchr(exe, '/')) != NULL)
				*slash = '\0';
		snprintf(genbox_bin, sizeof(genbox_bin), "%s/genbox", exe);
	}
	if (access(genbox_bin, X_OK) != 0) {
		fprintf(stderr, "bench/pipeline: genbox binary '%s': %s (build it with make, or set GENBOX_BIN)\n",
		    genbox_bin, strerror(errno));
		exit(1);
	}
}

int
main(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "contexts", required_argument, NULL, 'n' }, { "noop", required_argument, NULL, 'm' },
		{ "slow", required_argument, NULL, 'k' }, { "noop-workers", required_argument, NULL, 'w' },
		{ "noop-claim", required_argument, NULL, 'c' }, { "no-bullmq", no_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 },
	};
	long n = DEFAULT_CONTEXTS, m = DEFAULT_NOOP, k = DEFAULT_SLOW, workers = NOOP_WORKERS, claim = NOOP_CLAIM;
	int ch, bullmq = 1;

	while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		switch (ch) {
		case 'n': n = number("--contexts", optarg, 0, 10000000); break;
		case 'm': m = number("--noop", optarg, 0, 100000000); break;
		case 'k': k = number("--slow", optarg, 0, 1000); break;
		case 'w': workers = number("--noop-workers", optarg, 1, RUNNER_MAX_WORKERS); break;
		case 'c': claim = number("--noop-claim", optarg, 1, QUEUE_MAX_CLAIM); break;
		case 'b': bullmq = 0; break;
		default:
			fprintf(stderr, "usage: pipeline [--contexts N] [--noop M] [--slow K] [--noop-workers W] "
			    "[--noop-claim C] [--no-bullmq]\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "bench/pipeline: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	find_genbox();
	if (mkdtemp(tmpdir) == NULL)
		die("mkdtemp", strerror(errno));
	have_tmpdir = 1;
	atexit(cleanup);
	printf("bench/pipeline: genbox's runner vs a plain SQLite loop and BullMQ, same run (genbox %s)\n",
	    genbox_bin);
	fflush(stdout);
	if (n > 0)
		part_e2e((size_t)n);
	if (m > 0)
		part_noop((size_t)m, (int)workers, (int)claim, bullmq);
	if (k > 0)
		part_slow((size_t)k);
	if (failures)
		fprintf(stderr, "bench/pipeline: %d problem%s, see above\n", failures, failures == 1 ? "" : "s");
	return failures ? 1 : 0;
}
