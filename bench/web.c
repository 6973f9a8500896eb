/*
 * bench/web - the daemon's HTTP API under load: wrk against `genbox serve`
 * beside civetweb's hello-world handler in this process, in the same run.
 *
 * For each size N (default 100000 and 1000000 contexts of org_123, mostly
 * ended, none pending): a database with the schema's example documents and
 * N contexts, `genbox serve` on a free loopback port, then wrk (-t2 -c32,
 * --latency, the key in a Lua script) on
 *   get    GET /api/v1/contexts/{id}
 *   list   GET /api/v1/contexts?status=failed&limit=50  (a filtered page)
 *   counts GET /api/v1/dashboard                       (the dashboard's counts)
 * with the worker pool idle, then busy (batches of pending contexts sent
 * through the API keep the pool working). Prints requests per second, p50
 * and p99, each beside its aim: get at least 0.5 of hello-world's
 * requests per second, list p99 under 20 ms at 1M, the idle daemon's RSS
 * under 64 MB, serving within 200 ms of start.
 *
 * usage: web [--duration S] [N ...]     (S: seconds per wrk run, default 10)
 * Needs wrk (Debian's package; `make bench` installs it). The genbox binary
 * is $GENBOX_BIN, else ../genbox beside this program's folder. Exit status 1
 * when something could not be measured; never because of a figure.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include <civetweb.h>
#include <curl/curl.h>

#include "../storage/access.h"
#include "../storage/docs.h"
#include "../storage/store.h"
#include "lib/benchlib.h"
#include "lib/fixture.h"

extern char **environ;

#define ORG		"org_123"
#define USER		"user_456"
#define CHUNK		5000		/* contexts per insert transaction */
#define BUSY_BATCH	2000		/* contexts per batch sent to keep the pool busy */
#define BUSY_PENDING	20000		/* pending contexts wanted before a busy run */
#define START_AIM_MS	200.0
#define RSS_AIM_MB	64.0
#define LIST_P99_AIM_MS	20.0
#define GET_RATIO_AIM	0.5

struct wrk_result {
	double rps, p50_ms, p99_ms;
	long errors;			/* non-2xx answers and socket errors */
};

static int duration_s = 10;

/* ---- civetweb's hello-world, the baseline ---- */

static int
hello_handle(struct mg_connection *conn, void *cbdata)
{
	static const char body[] = "Hello world";

	(void)cbdata;
	mg_send_http_ok(conn, "text/plain", sizeof(body) - 1);
	mg_write(conn, body, sizeof(body) - 1);
	return 200;
}

static struct mg_context *
hello_start(int *port)
{
	const char *opts[] = { "listening_ports", "127.0.0.1:0", "num_threads", "8", NULL };
	struct mg_server_port ports[2];
	struct mg_context *ctx;

	mg_init_library(0);
	if ((ctx = mg_start(NULL, NULL, opts)) == NULL)
		bench_die("hello-world", "civetweb would not start on 127.0.0.1");
	if (mg_get_server_ports(ctx, 2, ports) < 1 || ports[0].port <= 0)
		bench_die("hello-world", "civetweb has no port");
	*port = ports[0].port;
	mg_set_request_handler(ctx, "/hello", hello_handle, NULL);
	return ctx;
}

/* ---- wrk ---- */

/* "1.23ms" and the like in milliseconds; -1 when it is not a latency. */
static double
wrk_ms(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s)
		return -1;
	if (strncmp(end, "us", 2) == 0)
		return v / 1000.0;
	if (strncmp(end, "ms", 2) == 0)
		return v;
	if (*end == 's')
		return v * 1000.0;
	if (strncmp(end, "m", 1) == 0)
		return v * 60000.0;
	return -1;
}

static void
wrk_parse(const char *text, struct wrk_result *r)
{
	char line[256];
	const char *p;
	long n;

	memset(r, 0, sizeof(*r));
	r->p50_ms = r->p99_ms = -1;
	bench_find_line(text, "Requests/sec:", NULL, line, sizeof(line));
	if (*line)
		r->rps = strtod(line + strlen("Requests/sec:"), NULL);
	bench_find_line(text, "     50%", NULL, line, sizeof(line));
	if (*line)
		r->p50_ms = wrk_ms(line + 8 + strspn(line + 8, " "));
	bench_find_line(text, "     99%", NULL, line, sizeof(line));
	if (*line)
		r->p99_ms = wrk_ms(line + 8 + strspn(line + 8, " "));
	bench_find_line(text, "  Non-2xx or 3xx responses:", NULL, line, sizeof(line));
	if (*line)
		r->errors += strtol(line + strlen("  Non-2xx or 3xx responses:"), NULL, 10);
	bench_find_line(text, "  Socket errors:", NULL, line, sizeof(line));
	for (p = line; *line && (p = strpbrk(p, "0123456789")) != NULL;
	    p += strspn(p, "0123456789")) {
		n = strtol(p, NULL, 10);
		r->errors += n;
	}
}

/* wrk on url with the key (NULL: none); dies when wrk cannot run. */
static void
wrk_run(const char *label, const char *url, const char *token, struct wrk_result *r)
{
	char script[PATH_MAX], out[PATH_MAX], errf[PATH_MAX], dur[16], msg[PATH_MAX + 64];
	char *argv[12];
	struct bench_child c;
	char *text;
	FILE *f;
	int k = 0;

	bench_tpath("auth.lua", script, sizeof(script));
	bench_tpath("wrk.out", out, sizeof(out));
	bench_tpath("wrk.err", errf, sizeof(errf));
	snprintf(dur, sizeof(dur), "%ds", duration_s);
	if (token) {
		if ((f = fopen(script, "w")) == NULL)
			bench_die(script, strerror(errno));
		fprintf(f, "wrk.headers[\"Authorization\"] = \"Bearer %s\"\n", token);
		fclose(f);
	}
	argv[k++] = "wrk";
	argv[k++] = "-t2";
	argv[k++] = "-c32";
	argv[k++] = "-d";
	argv[k++] = dur;
	argv[k++] = "--latency";
	if (token) {
		argv[k++] = "-s";
		argv[k++] = script;
	}
	argv[k++] = (char *)url;
	argv[k] = NULL;
	if (bench_spawn_wait(argv, environ, out, errf, duration_s + 60, &c, msg, sizeof(msg)))
		bench_die("wrk", msg);
	if (c.status != 0) {
		bench_print_tail(errf, 5);
		bench_die("wrk", "wrk failed (is the wrk package installed?)");
	}
	if ((text = bench_read_file(out)) == NULL)
		bench_die(out, "cannot be read");
	wrk_parse(text, r);
	free(text);
	if (r->rps <= 0 || r->p99_ms < 0)
		bench_problem(label, "wrk printed no figures");
	if (r->errors)
		bench_problem(label, "some answers were errors (see the count)");
}

/* ---- the database ---- */

static const char *const statuses[] = { "completed", "completed", "completed", "completed",
	"completed", "completed", "completed", "failed", "cancelled", "completed" };

/* N ended contexts of ORG, about 1 KB each, in transactions of CHUNK. */
static void
fill(const char *db, size_t n, char first_id[STORE_ID_MAX])
{
	struct gb_err err = { 0, "" };
	struct store *st = NULL;
	char *texts[CHUNK];
	size_t lens[CHUNK], done = 0;

	if (store_open(&st, db, NULL, &err))
		bench_die(db, err.msg);
	snprintf(first_id, STORE_ID_MAX, "ctx_bench_%09zu", (size_t)0);
	while (done < n) {
		size_t k = n - done < CHUNK ? n - done : CHUNK;

		for (size_t i = 0; i < k; i++) {
			size_t id = done + i;

			if (asprintf(&texts[i],
			    "{\"_id\":\"ctx_bench_%09zu\",\"type\":\"article\","
			    "\"status\":\"%s\",\"organization_id\":\"" ORG
			    "\",\"user_id\":\"" USER "\","
			    "\"batch_id\":\"batch_bench_%04zu\","
			    "\"created_at\":\"2026-%02zu-%02zuT%02zu:%02zu:00Z\","
			    "\"metadata\":{\"priority\":%zu},\"data\":{\"title\":\"Benchmark "
			    "article %zu about microservices and queues\","
			    "\"keywords\":[\"bench\",\"web\"],\"tone\":\"plain\","
			    "\"generated_content\":\"%.*s\"},\"retry_count\":0}",
			    id, statuses[id % 10], id / 1000, 1 + id % 11, 1 + id % 28, id % 24,
			    id % 60, id % 3, id, 600,
			    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do "
			    "eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut "
			    "enim ad minim veniam, quis nostrud exercitation ullamco laboris "
			    "nisi ut aliquip ex ea commodo consequat. Duis aute irure dolor in "
			    "reprehenderit in voluptate velit esse cillum dolore eu fugiat "
			    "nulla pariatur. Excepteur sint occaecat cupidatat non proident, "
			    "sunt in culpa qui officia deserunt mollit anim id est laborum. "
			    "Sed ut perspiciatis unde omnis iste natus error sit voluptatem "
			    "accusantium doloremque laudantium, totam rem aperiam, eaque ipsa "
			    "quae ab illo inventore veritatis et quasi architecto "
			    "beatae vitae.") < 0)
				bench_die("fill", "out of memory");
			lens[i] = strlen(texts[i]);
		}
		if (store_put_many(st, COLL_CONTEXTS, (const char *const *)texts, lens, k,
		    STORE_INSERT, NULL, &err))
			bench_die("fill", err.msg);
		for (size_t i = 0; i < k; i++)
			free(texts[i]);
		done += k;
	}
	store_close(st);
}

/* ---- the daemon ---- */

struct daemon {
	pid_t pid;
	int port;
	double start_ms;		/* spawn to the first answer of /healthz */
};

/* A free loopback port: bound once by the kernel's choice, then closed. */
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

/* GET url; the HTTP status, or 0 when nothing answered. */
static long
http_get_status(const char *url)
{
	CURL *c = curl_easy_init();
	long status = 0;

	if (c == NULL)
		return 0;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 1000L);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	return status;
}

static void
daemon_start(const char *genbox, const char *db, struct daemon *d)
{
	char listen[64], url[128], errf[PATH_MAX];
	int64_t t0;
	int fd;

	d->port = free_port();
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", d->port);
	snprintf(url, sizeof(url), "http://%s/healthz", listen);
	bench_tpath("serve.log", errf, sizeof(errf));
	t0 = bench_mono_us();
	if ((d->pid = fork()) < 0)
		bench_die("fork", strerror(errno));
	if (d->pid == 0) {
		if ((fd = open(errf, O_WRONLY | O_CREAT | O_APPEND, 0644)) >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(genbox, genbox, "--db", db, "serve", "--listen", listen, "--workers", "2",
		    (char *)NULL);
		_exit(127);
	}
	while (http_get_status(url) == 0) {
		if (waitpid(d->pid, NULL, WNOHANG) == d->pid) {
			bench_print_tail(errf, 10);
			bench_die("genbox serve", "exited before it answered /healthz");
		}
		if (bench_secs(t0) > 30)
			bench_die("genbox serve", "no answer from /healthz within 30 s");
		usleep(2000);
	}
	d->start_ms = bench_secs(t0) * 1000.0;
}

static void
daemon_stop(struct daemon *d)
{
	int status;

	kill(d->pid, SIGTERM);
	if (waitpid(d->pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		bench_problem("genbox serve", "did not exit with status 0 on SIGTERM");
}

/* VmRSS of pid in MB, or -1. */
static double
rss_mb(pid_t pid)
{
	char path[64], line[256];
	double mb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "VmRSS:", 6) == 0)
			mb = strtod(line + 6, NULL) / 1024.0;
	fclose(f);
	return mb;
}

/* An admin key of USER from `genbox apikey create`: the token printed. */
static void
make_key(const char *genbox, const char *db, char *token, size_t size)
{
	char out[PATH_MAX], errf[PATH_MAX], msg[PATH_MAX + 64], *text, *p, *end;
	char *argv[] = { (char *)genbox, "--db", (char *)db, "apikey", "create", "--user", USER,
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
	snprintf(token, size, "%.*s", (int)(end - p), p);
	free(text);
}

/* curl's body sink: the answers to the batches are not kept */
static size_t
discard(char *data, size_t size, size_t n, void *arg)
{
	(void)data;
	(void)arg;
	return size * n;
}

/* POST a batch of k pending contexts through the API; dies when it is refused. */
static void
send_batch(int port, const char *token, size_t k)
{
	char url[128], auth[320];
	struct curl_slist *h = NULL;
	size_t cap = 64 + k * 96, len = 0;
	char *body = malloc(cap);
	long status = 0;
	CURL *c;

	if (body == NULL || (c = curl_easy_init()) == NULL)
		bench_die("batch", "out of memory");
	len += (size_t)snprintf(body, cap,
	    "{\"pipeline_id\":\"pipe_article_generation\",\"contexts\":[");
	for (size_t i = 0; i < k; i++)
		len += (size_t)snprintf(body + len, cap - len, "%s{\"type\":\"article\",\"data\":"
		    "{\"title\":\"Busy article %zu\"}}", i ? "," : "", i);
	snprintf(body + len, cap - len, "]}");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/batches", port);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	h = curl_slist_append(h, auth);
	h = curl_slist_append(h, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	if (curl_easy_perform(c) != CURLE_OK)
		bench_die("batch", "POST /api/v1/batches failed");
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (status != 201)
		bench_die("batch", "POST /api/v1/batches was not answered 201");
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	free(body);
}

/* Pending contexts in db. */
static int64_t
pending(const char *db)
{
	int64_t counts[CTX_STATUS_COUNT];

	fixture_status_counts(db, counts);
	return counts[CTX_PENDING];
}

static void
keep_busy(const char *db, int port, const char *token)
{
	int64_t p = pending(db);

	while (p < BUSY_PENDING) {
		send_batch(port, token, BUSY_BATCH);
		p += BUSY_BATCH;
	}
}

/* ---- one size ---- */

static void
print_run(const char *size, const char *what, const char *mode, const struct wrk_result *r,
    double hello_rps)
{
	printf("web n=%s %-6s %-4s rps=%9.0f p50=%7.2f ms p99=%7.2f ms  %.2f x hello-world\n",
	    size, what, mode, r->rps, r->p50_ms, r->p99_ms, hello_rps > 0 ? r->rps / hello_rps : 0);
	fflush(stdout);
}

static void
measure_size(const char *genbox, size_t n, double hello_rps)
{
	char db[PATH_MAX], token[256], url[3][256], size[32], first[STORE_ID_MAX];
	static const char *const what[3] = { "get", "list", "counts" };
	struct wrk_result r[2][3];
	struct daemon d;
	int64_t t0;
	double rss;

	snprintf(size, sizeof(size), "%zu", n);
	bench_tpath("web.db", db, sizeof(db));
	fixture_demo_db(genbox, db);
	t0 = bench_mono_us();
	fill(db, n, first);
	printf("web n=%s filled in %.1f s\n", size, bench_secs(t0));
	make_key(genbox, db, token, sizeof(token));
	daemon_start(genbox, db, &d);
	snprintf(url[0], sizeof(url[0]), "http://127.0.0.1:%d/api/v1/contexts/%s", d.port, first);
	snprintf(url[1], sizeof(url[1]),
	    "http://127.0.0.1:%d/api/v1/contexts?status=failed&limit=50", d.port);
	snprintf(url[2], sizeof(url[2]), "http://127.0.0.1:%d/api/v1/dashboard", d.port);
	for (int i = 0; i < 3; i++) {
		wrk_run(what[i], url[i], token, &r[0][i]);
		print_run(size, what[i], "idle", &r[0][i], hello_rps);
	}
	rss = rss_mb(d.pid);
	for (int i = 0; i < 3; i++) {
		keep_busy(db, d.port, token);
		wrk_run(what[i], url[i], token, &r[1][i]);
		print_run(size, what[i], "busy", &r[1][i], hello_rps);
	}
	daemon_stop(&d);
	printf("web n=%s serving after %.0f ms (aim < %.0f)  idle RSS %.1f MB (aim < %.0f)\n", size,
	    d.start_ms, START_AIM_MS, rss, RSS_AIM_MB);
	printf("web n=%s get idle %.2f x hello-world (aim >= %.1f)  list p99 idle %.2f ms "
	    "busy %.2f ms (aim < %.0f at 1M)\n", size, hello_rps > 0 ? r[0][0].rps / hello_rps : 0,
	    GET_RATIO_AIM, r[0][1].p99_ms, r[1][1].p99_ms, LIST_P99_AIM_MS);
	fflush(stdout);
	bench_db_remove(db);
}

int
main(int argc, char **argv)
{
	size_t sizes[8] = { 100000, 1000000 }, nsizes = 2;
	char genbox[PATH_MAX], url[128];
	struct mg_context *hello;
	struct wrk_result hr;
	int port, i = 1;

	bench_init("bench/web");
	if (argc > 2 && strcmp(argv[1], "--duration") == 0) {
		duration_s = (int)bench_number("--duration", argv[2], 1, 600);
		i = 3;
	}
	if (i < argc)
		nsizes = 0;
	for (; i < argc && nsizes < 8; i++)
		sizes[nsizes++] = (size_t)bench_number("N", argv[i], 1000, 10000000);
	fixture_find_genbox(genbox, sizeof(genbox));
	bench_tmpdir_make("genbox-web");
	curl_global_init(CURL_GLOBAL_DEFAULT);
	hello = hello_start(&port);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/hello", port);
	wrk_run("hello-world", url, NULL, &hr);
	printf("web hello-world (civetweb, this process) rps=%9.0f p50=%7.2f ms p99=%7.2f ms\n",
	    hr.rps, hr.p50_ms, hr.p99_ms);
	mg_stop(hello);
	for (size_t k = 0; k < nsizes; k++)
		measure_size(genbox, sizes[k], hr.rps);
	curl_global_cleanup();
	return bench_problems() ? 1 : 0;
}
