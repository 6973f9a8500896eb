/*
 * t310-web-browser.c - the web UI. First its files as built into the
 * binary (web/ui.h): every file of web/ui/ found byte for byte with its
 * content type, and the page free of inline script and style (the CSP
 * forbids them). Then the UI in a real browser: `genbox serve` on a free
 * port with the demo data, two failed contexts and two keys (admin
 * read+write, read-only), and tests/browser/ui.mjs driving Debian's
 * headless chromium with playwright-core (installed and cached by
 * tests/browser/setup.sh). The script's TAP lines are relayed as checks
 * of this program; its screenshots stay in $GENBOX_ARTIFACTS (default
 * artifacts/t310-web-browser/ beside the binary: build/default/... ).
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../base/gbtime.h"
#include "../storage/jobs.h"
#include "../web/ui.h"
#include "peer.h"
#include "tap.h"
#include "util.h"

#define FAILED_A "ctx_browser_failed_a"
#define FAILED_B "ctx_browser_failed_b"
#define HOSTILE_JOB "<img src=x onerror=alert(1)>"	/* the Jobs panel shows it as text */

static pid_t serve_pid;

static const char *
type_of(const char *name)
{
	const char *dot = strrchr(name, '.');

	if (dot && strcmp(dot, ".html") == 0)
		return "text/html; charset=utf-8";
	if (dot && strcmp(dot, ".js") == 0)
		return "text/javascript; charset=utf-8";
	if (dot && strcmp(dot, ".css") == 0)
		return "text/css; charset=utf-8";
	if (dot && strcmp(dot, ".svg") == 0)
		return "image/svg+xml";
	return NULL;
}

/* Every file of web/ui/ is served from the binary as it is on disk. */
static void
check_assets(void)
{
	char dir[4096], path[4600], url[600];
	struct dirent *de;
	int nfiles = 0, nassets = 0;
	DIR *d;

	if ((d = opendir(util_src("web/ui", dir, sizeof(dir)))) == NULL)
		tap_bail("opendir %s: %s", dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		const struct web_asset *a;
		size_t len;
		char *text;

		if (de->d_name[0] == '.')
			continue;
		nfiles++;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		snprintf(url, sizeof(url), "/%s", de->d_name);
		text = util_read_file(path, &len);
		a = web_asset_find(url);
		ok(a && text && a->len == len && memcmp(a->bytes, text, len) == 0 &&
		    a->bytes[len] == 0,
		    "%s is built in as it is on disk", url);
		if (a && type_of(de->d_name))
			is_str(a->content_type, type_of(de->d_name), "%s is served as %s", url,
			    type_of(de->d_name));
		free(text);
	}
	closedir(d);
	for (const struct web_asset *a = web_assets; a->path; a++)
		nassets++;
	is_int(nassets, nfiles, "the table holds every file of web/ui and nothing else");
	ok(web_asset_find("/") == web_asset_find("/index.html") && web_asset_find("/"),
	    "/ is index.html");
	ok(!web_asset_find("/nope.js") && !web_asset_find("index.html") &&
	    !web_asset_find("/../web/ui/app.js") && !web_asset_find(NULL),
	    "unknown and relative paths find nothing");
}

/* index.html loads only files that exist and holds no inline script or style. */
static void
check_csp_clean(void)
{
	const struct web_asset *a = web_asset_find("/index.html");
	const char *html = a ? (const char *)a->bytes : "", *p;
	int refs = 0, missing = 0, scripts = 0, files = 0;

	for (p = html; (p = strstr(p, "<script")) != NULL; p++) {
		scripts++;
		files += strncmp(p, "<script src=\"", 13) == 0;
	}
	ok(scripts > 0 && files == scripts,
	    "the %d scripts of index.html are all files (%d inline)", scripts, scripts - files);
	ok(!strstr(html, " style=") && !strstr(html, "<style") && !strstr(html, " onclick=") &&
	    !strstr(html, " onload="), "index.html has no inline style or event handler");
	for (p = html; (p = strstr(p, " src=\"")) != NULL; p += 6) {
		char name[256];
		size_t n = strcspn(p + 6, "\"");

		snprintf(name, sizeof(name), "/%.*s", (int)(n < 200 ? n : 200), p + 6);
		refs++;
		missing += web_asset_find(name) == NULL;
	}
	ok(refs >= 3 && missing == 0, "the %d files index.html loads are built in (%d missing)",
	    refs, missing);
	for (const struct web_asset *s = web_assets; s->path; s++)
		if (strstr(s->content_type, "javascript"))
			ok(!strstr((const char *)s->bytes, "innerHTML") &&
			    !strstr((const char *)s->bytes, "eval("),
			    "%s writes no HTML strings and evaluates no code", s->path);
}

/* `genbox serve --help` answers: the server is built in. */
static int
serve_available(void)
{
	struct run r;
	int yes;

	util_genbox_run(&r, NULL, "serve", "--help", NULL);
	yes = r.status == 0 && strstr(r.out, "serve") != NULL;
	if (!yes)
		tap_diag("genbox serve --help: exit %d: %s%s", r.status, r.out, r.err);
	run_free(&r);
	return yes;
}

/*
 * A context whose first component failed for good: no component is recorded
 * as done, so a retry runs the whole pipeline (a component recorded as done
 * must have left its output in the document).
 */
static void
failed_context(char *out, size_t size, const char *id, const char *title)
{
	snprintf(out, size, "{\"_id\":\"%s\",\"type\":\"article\",\"status\":\"failed\","
	    "\"created_at\":\"2026-01-01T00:00:00Z\",\"updated_at\":\"2026-01-01T00:00:00Z\","
	    "\"data\":{\"title\":\"%s\"},\"error\":{\"component\":\"ai_generator\","
	    "\"message\":\"connection refused\",\"time\":\"2026-01-01T00:00:00Z\","
	    "\"transient\":false},\"retry_count\":3,\"next_retry_at\":null,"
	    "\"processing\":{\"completed_components\":[],"
	    "\"component_timings\":{},\"attempts\":[{\"attempt\":1,"
	    "\"at\":\"2026-01-01T00:00:00Z\",\"error\":\"connection refused\","
	    "\"component\":\"ai_generator\"}]},\"batch_id\":\"batch_7890\","
	    "\"user_id\":\"user_456\",\"organization_id\":\"org_123\","
	    "\"metadata\":{\"priority\":5}}\n",
	    id, title);
}

/* A job that went well and one whose name, counts and error would be markup as HTML. */
static void
jobs_rows(const char *db)
{
	struct store_opts o = { 0, 1, 0, 10000, 0, 0 };
	struct gb_err err = { 0, "" };
	struct store *st = NULL;
	int64_t now = gb_now_ms();

	if (store_open(&st, db, &o, &err) ||
	    store_job_begin(st, "archive", now - 2000, &err) ||
	    store_job_end(st, "archive", now - 1000, 1, "{\"contexts\":12}", NULL, &err) ||
	    store_job_begin(st, HOSTILE_JOB, now - 2000, &err) ||
	    store_job_end(st, HOSTILE_JOB, now - 1000, 0, "{\"<b>n</b>\":3}", "<i>boom</i>", &err))
		tap_bail("job rows: %s", err.msg);
	store_close(st);
}

/* The demo, and two contexts that failed: one to retry, one that stays failed. */
static void
load_db(const char *db)
{
	char lines[4096];
	size_t n;
	struct run r;

	util_genbox_run(&r, NULL, "--db", db, "demo", NULL);
	if (r.status != 0)
		tap_bail("genbox demo: %s", r.err);
	run_free(&r);
	failed_context(lines, sizeof(lines), FAILED_A, "Browser test failed A");
	n = strlen(lines);
	failed_context(lines + n, sizeof(lines) - n, FAILED_B, "Browser test failed B");
	util_genbox_run(&r, lines, "--db", db, "import", "contexts", "-", NULL);
	if (r.status != 0)
		tap_bail("genbox import of the failed contexts: %s", r.err);
	run_free(&r);
	jobs_rows(db);
}

/* A new key of user_456 with perms; its token ("key_<16 hex>.<43 base64url>") into out. */
static void
make_key(const char *db, const char *perms, char *out, size_t size)
{
	struct run r;
	const char *p;

	util_genbox_run(&r, NULL, "--db", db, "apikey", "create", "--user", "user_456",
	    "--perm", perms, "--name", "browser test", NULL);
	out[0] = '\0';
	for (p = r.status == 0 ? r.out : ""; (p = strstr(p, "key_")) != NULL; p++) {
		size_t idn = strspn(p + 4, "0123456789abcdef");
		size_t sn = strspn(p + 21, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "abcdefghijklmnopqrstuvwxyz0123456789-_");

		if (idn == 16 && p[20] == '.' && sn == 43) {
			snprintf(out, size, "%.64s", p);
			break;
		}
	}
	if (!out[0])
		tap_bail("genbox apikey create --perm %s printed no token (exit %d): %s%s", perms,
		    r.status, r.out, r.err);
	run_free(&r);
}

static void
log_tail(const char *log)
{
	char *text = util_read_file(log, NULL);
	size_t len = text ? strlen(text) : 0;

	if (text)
		tap_diag("genbox serve log (tail):\n%s", text + (len > 3000 ? len - 3000 : 0));
	free(text);
}

/* Stop the server (also at exit); returns its exit status, or -1. */
static int
serve_stop(void)
{
	int st;

	if (serve_pid <= 0)
		return -1;
	kill(serve_pid, SIGTERM);
	for (int i = 0; i < 300; i++) {
		if (waitpid(serve_pid, &st, WNOHANG) == serve_pid) {
			serve_pid = 0;
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		}
		usleep(50 * 1000);
	}
	kill(serve_pid, SIGKILL);
	waitpid(serve_pid, &st, 0);
	serve_pid = 0;
	return -1;
}

static void
serve_stop_at_exit(void)
{
	serve_stop();
}

/* genbox serve on a free port; waits until /healthz answers; returns the base URL. */
static const char *
serve_start(const char *db, const char *log)
{
	static char base[64];
	char listen[32], health[96];
	char *argv[] = { (char *)util_genbox(), "--db", (char *)db, "serve", "--listen", listen,
		"--workers", "2", NULL };
	int64_t t0;
	int st;

	snprintf(listen, sizeof(listen), "127.0.0.1:%d", peer_free_port());
	snprintf(base, sizeof(base), "http://%s", listen);
	snprintf(health, sizeof(health), "%s/healthz", base);
	fflush(stdout);
	if ((serve_pid = util_spawn(argv, log, 0)) < 0)
		tap_bail("fork: %s", strerror(errno));
	atexit(serve_stop_at_exit);
	for (t0 = gb_mono_ms(); gb_mono_ms() - t0 < 20000; usleep(50 * 1000)) {
		int code;

		if (waitpid(serve_pid, &st, WNOHANG) == serve_pid) {
			serve_pid = 0;
			log_tail(log);
			tap_bail("genbox serve exited during start-up");
		}
		if ((code = peer_http_status(health)) == 200 || code == 503) {
			tap_diag("genbox serve answers at %s after %lld ms", base,
			    (long long)(gb_mono_ms() - t0));
			return base;
		}
	}
	log_tail(log);
	tap_bail("genbox serve does not answer %s after 20 s", health);
}

/* Install (once, cached) chromium, node and playwright-core; returns its node_modules. */
static void
browser_setup(char *modules, size_t size)
{
	char script[4096], cmd[4200], line[4096];
	FILE *f;

	util_src("tests/browser/setup.sh", script, sizeof(script));
	snprintf(cmd, sizeof(cmd), "sh '%s'", script);
	modules[0] = '\0';
	fflush(stdout);
	if ((f = popen(cmd, "r")) == NULL)
		tap_bail("popen %s: %s", script, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "BROWSER_NODE_MODULES=", 21) == 0)
			snprintf(modules, size, "%s", line + 21);
	}
	if (pclose(f) != 0 || !modules[0])
		tap_bail("%s failed", script);
}

/* Run ui.mjs and relay its TAP lines as checks of this program; returns the failures. */
static int
browser_run(const char *base, const char *admin, const char *reader, const char *modules,
    const char *artifacts)
{
	char script[4096], cmd[4200], line[8192];
	int relayed = 0, failed = 0, st;
	FILE *f;

	setenv("GENBOX_URL", base, 1);
	setenv("GENBOX_ADMIN_KEY", admin, 1);
	setenv("GENBOX_READ_KEY", reader, 1);
	setenv("GENBOX_FAILED_IDS", FAILED_A "," FAILED_B, 1);
	setenv("GENBOX_ARTIFACTS", artifacts, 1);
	setenv("BROWSER_NODE_MODULES", modules, 1);
	util_src("tests/browser/ui.mjs", script, sizeof(script));
	snprintf(cmd, sizeof(cmd), "node '%s' 2>&1", script);
	fflush(stdout);
	if ((f = popen(cmd, "r")) == NULL)
		tap_bail("popen node: %s", strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "ok - ", 5) == 0) {
			ok(1, "%s", line + 5);
			relayed++;
		} else if (strncmp(line, "not ok - ", 9) == 0) {
			ok(0, "%s", line + 9);
			relayed++;
			failed++;
		} else {
			tap_diag("%s", line[0] == '#' ? line + (line[1] == ' ' ? 2 : 1) : line);
		}
	}
	st = pclose(f);
	failed += !ok(st == 0, "the browser script ran to its end (status %d)", st);
	failed += !ok(relayed >= 20, "the browser script made its %d checks", relayed);
	return failed;
}

/* $GENBOX_ARTIFACTS, else artifacts/t310-web-browser beside the (real) binary under test. */
static void
artifacts_dir(char *out, size_t size)
{
	const char *env = getenv("GENBOX_ARTIFACTS");
	char *bin = realpath(util_genbox(), NULL), *slash;

	if (env && *env)
		snprintf(out, size, "%s", env);
	else if (bin && (slash = strrchr(bin, '/')) != NULL) {
		*slash = '\0';
		snprintf(out, size, "%s/artifacts/t310-web-browser", bin);
	} else
		snprintf(out, size, "%s/artifacts", util_tmpdir());
	free(bin);
}

int
main(void)
{
	char db[4200], log[4200], artifacts[4200], admin[128], reader[128], modules[4096];
	const char *base;
	char *text;

	check_assets();
	check_csp_clean();
	if (!serve_available()) {
		ok(0, "genbox serve not available: the browser test needs the server");
		return tap_done();
	}
	artifacts_dir(artifacts, sizeof(artifacts));
	browser_setup(modules, sizeof(modules));
	snprintf(db, sizeof(db), "%s/genbox.db", util_tmpdir());
	snprintf(log, sizeof(log), "%s/serve.log", util_tmpdir());
	load_db(db);
	make_key(db, "read,write", admin, sizeof(admin));
	make_key(db, "read", reader, sizeof(reader));
	base = serve_start(db, log);
	if (browser_run(base, admin, reader, modules, artifacts))
		log_tail(log);
	is_int(serve_stop(), 0, "genbox serve stops on SIGTERM with status 0");
	text = util_read_file(log, NULL);
	ok(text && !strstr(text, strchr(admin, '.') + 1) && !strstr(text, strchr(reader, '.') + 1),
	    "no key's secret is in the server's log");
	free(text);
	return tap_done();
}
