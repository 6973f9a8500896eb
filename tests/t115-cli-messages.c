/*
 * t115-cli-messages - what a newcomer's usual mistakes get: a missing option
 * value, a mistyped command, collection, option, pipeline, batch, config
 * section or key, or environment variable, each named with the nearest valid
 * name; global options after the command, but not as the value of a
 * command's option (apikey create --name -c), for every option a command's
 * --help names with a value; the commands' column of --help wide enough for
 * the longest; no libmongoc counters file left by a killed genbox, nor one
 * of a dead process after a genbox ran; output that cannot be written
 * (stdout on /dev/full) is an error; counts in singular and plural; and the
 * key table of config.c, the sample genbox.conf and the man page agree.
 * Each error: the exit status, the message, and that nothing was written.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../appliance/config.h"
#include "../base/gbtime.h"
#include "../base/near.h"
#include "fakegen.h"
#include "tap.h"
#include "util.h"

static char db[4200], dbarg[4300];

static char *
tmp_path(const char *name)
{
	static char out[8][4200];
	static int k;

	k = (k + 1) % 8;
	snprintf(out[k], sizeof(out[k]), "%s/%s", util_tmpdir(), name);
	return out[k];
}

/* The database file's bytes, to show a refused command changed nothing; caller frees. */
static char *
db_bytes(size_t *len)
{
	char *b = util_read_file(db, len);

	if (b == NULL)
		tap_bail("cannot read %s", db);
	return b;
}

/* Run genbox with argv[1..] (ends with NULL); expect exit status and stderr holding want. */
static void
refused(int status, const char *want, const char *what, char **args)
{
	char *argv[32];
	size_t n0, n1;
	char *before = db_bytes(&n0), *after;
	struct run r;
	int n = 0;

	argv[n++] = (char *)util_genbox();
	while (n < 31 && (argv[n] = *args++) != NULL)
		n++;
	util_run(&r, NULL, 0, argv);
	is_int(r.status, status, "%s: exit %d", what, status);
	like(r.err, want, "%s: says so", what);
	is_str(r.out, "", "%s: nothing on stdout", what);
	after = db_bytes(&n1);
	ok(n0 == n1 && memcmp(before, after, n0) == 0, "%s: the database is unchanged", what);
	free(before);
	free(after);
	run_free(&r);
}

#define REFUSED(st, want, what, ...) \
	refused((st), (want), (what), (char *[]){ __VA_ARGS__, NULL })

static void
test_missing_values(void)
{
	const char *file = tmp_path("nothing.jsonl");

	util_write_file(file, "", 0);
	REFUSED(1, "genbox: export: option '--filter' needs a value", "export contexts --filter",
	    dbarg, "export", "contexts", "--filter");
	REFUSED(1, "genbox: run-batch: option '--pipeline' needs a value", "run-batch --pipeline",
	    dbarg, "run-batch", "--input", (char *)file, "--pipeline");
	REFUSED(1, "option '--resume' needs a value", "run-batch --resume", dbarg, "run-batch",
	    "--resume");
	REFUSED(1, "option '--workers' needs a value", "run-batch --workers", dbarg, "run-batch",
	    "--workers");
	REFUSED(1, "genbox: apikey create: option '--user' needs a value", "apikey create --user",
	    dbarg, "apikey", "create", "--user");
	REFUSED(1, "genbox: apikey list: option '--user' needs a value", "apikey list --user",
	    dbarg, "apikey", "list", "--user");
	REFUSED(1, "genbox: serve: option '--listen' needs a value", "serve --listen", dbarg,
	    "serve", "--listen");
	REFUSED(1, "genbox: option '--db' needs a value", "stats --db", "stats", "--db");
	REFUSED(1, "genbox: option '-c' needs a value", "-c", dbarg, "-c");
	REFUSED(1, "genbox: option '--config' needs a value", "stats --config", dbarg, "stats",
	    "--config");
	REFUSED(1, "genbox: import: option '--upsert' takes no value", "import --upsert=1",
	    dbarg, "import", "--upsert=1", "contexts", (char *)file);
}

static void
test_names(void)
{
	REFUSED(1, "genbox: unknown command 'stat' (did you mean 'stats'?)", "genbox stat",
	    dbarg, "stat");
	REFUSED(1, "genbox: unknown command 'frobnicate'\nTry 'genbox --help'.",
	    "a command near none: no guess", dbarg, "frobnicate");
	REFUSED(1, "genbox: import: unknown collection 'context' (did you mean 'contexts'?); "
	    "expected one of: contexts, templates,", "import context FILE", dbarg, "import",
	    "context", "/dev/null");
	REFUSED(1, "genbox: export: unknown collection 'pipeline' (did you mean 'pipelines'?)",
	    "export pipeline", dbarg, "export", "pipeline");
	REFUSED(1, "genbox: export: too many arguments: 'users' (expected one COLLECTION)",
	    "export contexts users", dbarg, "export", "contexts", "users");
	REFUSED(1, "genbox: import: too many arguments: 'extra'", "import with three arguments",
	    dbarg, "import", "contexts", "/dev/null", "extra");
	REFUSED(1, "genbox: stats: too many arguments: 'contexts' (stats takes no arguments)",
	    "stats contexts", dbarg, "stats", "contexts");
	REFUSED(1, "genbox: export: unknown option '--filtr' (did you mean '--filter'?)",
	    "export --filtr", dbarg, "export", "--filtr", "{}", "contexts");
	REFUSED(1, "genbox: unknown option '--dbb' (did you mean '--db'?)", "--dbb", "--dbb",
	    db, "stats");
	REFUSED(1, "genbox: run-batch: unknown option '--pipline' (did you mean '--pipeline'?)",
	    "run-batch --pipline", dbarg, "run-batch", "--pipline", "x");
	REFUSED(1, "genbox: sync: unknown command 'stat' (did you mean 'status'?)", "sync stat",
	    dbarg, "sync", "stat");
	REFUSED(1, "genbox: apikey: unknown command 'lst' (did you mean 'list'?)", "apikey lst",
	    dbarg, "apikey", "lst");
	REFUSED(1, "genbox: sync: status: unknown option '--jsn' (did you mean '--json'?)",
	    "sync status --jsn", dbarg, "sync", "status", "--jsn");
	REFUSED(1, "genbox: sync: disable: unknown option '-yes' (did you mean '--yes'?)",
	    "sync disable -yes", dbarg, "sync", "disable", "-yes");
	/* every usage error exits 1, the newer commands' too */
	REFUSED(1, "genbox: archive: unknown option or missing value '--bogus'",
	    "archive --bogus", dbarg, "archive", "--bogus");
	REFUSED(1, "genbox: backup: unknown option or missing value '--bogus'",
	    "backup --bogus", dbarg, "backup", "--bogus");
	REFUSED(1, "genbox: restore-backup: expected SOURCE", "restore-backup", dbarg,
	    "restore-backup");
	REFUSED(1, "genbox: migrate docs: unknown option '--bogus'", "migrate docs --bogus",
	    dbarg, "migrate", "docs", "--bogus");
}

/* Names from the database: the pipelines and batches there are. */
static void
test_ids(void)
{
	const char *file = tmp_path("one.jsonl");
	const char *t = "{\"data\":{\"title\":\"One\"}}\n";

	util_write_file(file, t, strlen(t));
	REFUSED(1, "genbox: run-batch: unknown pipeline 'pipe_nope' (the nearest is "
	    "'pipe_article_generation')", "--pipeline pipe_nope", dbarg, "run-batch",
	    "--pipeline", "pipe_nope", "--input", (char *)file);
	REFUSED(1, "unknown pipeline 'pipe_article_generatoin' (did you mean "
	    "'pipe_article_generation'?)", "--pipeline with a typo", dbarg, "run-batch",
	    "--pipeline", "pipe_article_generatoin", "--input", (char *)file);
	REFUSED(1, "genbox: run-batch: no such batch 'batch_nope'", "--resume batch_nope", dbarg,
	    "run-batch", "--resume", "batch_nope");
}

/* The global options before or after the command, the same. */
static void
test_global_options(void)
{
	const char *conf = tmp_path("global.conf");
	char confarg[4300];
	struct run a, b, c, d;

	util_write_file(conf, "[log]\nlevel = warn\n", 19);
	snprintf(confarg, sizeof(confarg), "--config=%s", conf);
	util_genbox_run(&a, NULL, "--db", db, "stats", NULL);
	util_genbox_run(&b, NULL, "stats", "--db", db, NULL);
	util_genbox_run(&c, NULL, "stats", dbarg, "-c", conf, NULL);
	util_genbox_run(&d, NULL, "export", confarg, "organizations", dbarg, NULL);
	ok(a.status == 0 && strstr(a.out, "contexts"), "--db X stats works");
	ok(b.status == 0 && strcmp(a.out, b.out) == 0 && strcmp(b.err, "") == 0,
	    "stats --db X: the same (%s)", b.err);
	ok(c.status == 0 && strcmp(a.out, c.out) == 0, "stats --db=X -c CONF: the same (%s)",
	    c.err);
	ok(d.status == 0 && strstr(d.out, "\"_id\":\"org_"),
	    "export --config=CONF COLLECTION --db=X: the global options among the command's (%s)",
	    d.err);
	run_free(&a);
	run_free(&b);
	run_free(&c);
	run_free(&d);
	REFUSED(1, "cannot read config '/nonexistent/genbox.conf'", "-c after the command is read",
	    "stats", dbarg, "-c", "/nonexistent/genbox.conf");
}

/* The key named name in `apikey list` of the database at arg. */
static int
key_named(const char *arg, const char *name)
{
	char want[128];
	struct run r;
	int found;

	snprintf(want, sizeof(want), " %s\n", name);
	util_genbox_run(&r, NULL, arg, "apikey", "list", NULL);
	found = r.status == 0 && strstr(r.out, want) != NULL;
	run_free(&r);
	return found;
}

/* The options with a value in the --help of cmd ("--name NAME"), into opts; their count. */
static int
valued_options(const char *cmd, char opts[][32], int max)
{
	struct run r;
	int n = 0;

	util_genbox_run(&r, NULL, cmd, "--help", NULL);
	for (const char *p = r.out; (p = strstr(p, "--")) != NULL && n < max; p += 2) {
		size_t len = strspn(p + 2, "abcdefghijklmnopqrstuvwxyz-");

		if (len == 0 || len > 30 || p[2 + len] != ' ' || strchr("- [", p[3 + len]))
			continue;
		snprintf(opts[n], 32, "--%.*s", (int)len, p + 2);
		if (strcmp(opts[n], "--db") != 0 && strcmp(opts[n], "--config") != 0)
			n++;
	}
	run_free(&r);
	return n;
}

/* The word after an option that takes a value is that value, even -c or --db. */
static void
test_global_values(void)
{
	char arg[4300], opts[32][32];
	struct run r, h;
	int checked = 0, wrong = 0;

	snprintf(arg, sizeof(arg), "--db=%s", tmp_path("values.db"));
	util_genbox_run(&r, NULL, arg, "demo", NULL);
	run_free(&r);
	util_genbox_run(&r, NULL, arg, "apikey", "create", "--user", "user_456", "--name", "-c",
	    NULL);
	is_int(r.status, 0, "apikey create --user U --name -c: exit 0 (%s)", r.err);
	run_free(&r);
	ok(key_named(arg, "-c"), "the key is named '-c'");
	util_genbox_run(&r, NULL, "apikey", "create", "--name", "--db", "--user", "user_456", arg,
	    NULL);
	is_int(r.status, 0, "apikey create --name --db --user U --db=X: exit 0 (%s)", r.err);
	run_free(&r);
	ok(key_named(arg, "--db"), "the key is named '--db'");
	util_genbox_run(&h, NULL, "--help", NULL);
	for (const char *p = strstr(h.out, "commands:\n"); p && (p = strchr(p, '\n')) &&
	    strncmp(p, "\n  ", 3) == 0; ) {
		char cmd[32];
		int n;

		p += 3;
		snprintf(cmd, sizeof(cmd), "%.*s", (int)strcspn(p, " "), p);
		n = valued_options(cmd, opts, 32);
		for (int i = 0; i < n; i++) {
			util_genbox_run(&r, NULL, arg, cmd, opts[i], "-c", NULL);
			checked++;
			if (strstr(r.err, "'-c'") && strstr(r.err, "needs a value")) {
				wrong++;
				tap_diag("%s %s -c: %s", cmd, opts[i], r.err);
			}
			run_free(&r);
		}
	}
	run_free(&h);
	ok(checked >= 17, "every option with a value in the commands' --help tried (%d)", checked);
	is_int(wrong, 0, "none of them takes a -c after it for the global option");
	util_genbox_run(&r, NULL, arg, "stats", "--", "--db", "/nonexistent/x.db", NULL);
	like(r.err, "too many arguments: '--'", "stats -- --db X: nothing after -- is global");
	run_free(&r);
}

/* --help: each command's summary in one column, past the longest name. */
static void
test_help_columns(void)
{
	struct run r;
	int col = -1, same = 1, lines = 0;

	util_genbox_run(&r, NULL, "--help", NULL);
	for (const char *p = strstr(r.out, "commands:\n"); p && (p = strchr(p, '\n')) &&
	    strncmp(p, "\n  ", 3) == 0; lines++) {
		size_t name = strcspn(p + 3, " \n"), gap = strspn(p + 3 + name, " ");
		int c = (int)(3 + name + gap);

		if (gap < 2 || (col >= 0 && c != col))
			same = 0;
		col = c;
		p += 3;
	}
	ok(lines >= 14 && same, "--help: the %d commands' summaries in one column, 2 spaces "
	    "past the longest name", lines);
	run_free(&r);
}

/* A file /dev/shm/mongoc-PID (libmongoc's counters) for pid, made as libmongoc does. */
static int
shm_file(pid_t pid, char *path, size_t size)
{
	snprintf(path, size, "/dev/shm/mongoc-%ld", (long)pid);
	return util_write_file(path, "x", 1);
}

static void
test_mongoc_counters(void)
{
	char *argv[] = { (char *)util_genbox(), dbarg, "serve", "--listen", "127.0.0.1:0", NULL };
	char path[64], log[4200];
	pid_t pid, dead;
	struct run r;
	char *text = NULL;

	if (access("/dev/shm", W_OK) != 0) {
		tap_diag("no /dev/shm to write: the counters files are not checked");
		return;
	}
	unsetenv("MONGOC_DISABLE_SHM");	/* as an operator's shell has it */
	if ((dead = fork()) == 0)
		_exit(0);
	waitpid(dead, NULL, 0);
	shm_file(dead, path, sizeof(path));
	util_genbox_run(&r, NULL, "--version", NULL);
	is_str(r.err, "", "--version: nothing on stderr");
	run_free(&r);
	ok(access(path, F_OK) != 0, "the counters file of a dead process is gone after genbox ran");
	snprintf(log, sizeof(log), "%s/shm-serve.log", util_tmpdir());
	pid = util_spawn(argv, log, 0);
	for (int64_t t0 = gb_mono_ms(); gb_mono_ms() - t0 < 15000; usleep(50 * 1000)) {
		free(text);
		if ((text = util_read_file(log, NULL)) && strstr(text, "event=serving"))
			break;
	}
	ok(text && strstr(text, "event=serving"), "serve runs");
	free(text);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	snprintf(path, sizeof(path), "/dev/shm/mongoc-%ld", (long)pid);
	ok(access(path, F_OK) != 0, "a genbox killed with SIGKILL leaves no %s", path);
	unlink(path);
	setenv("MONGOC_DISABLE_SHM", "1", 1);
}

static void
test_config_names(void)
{
	const char *c1 = tmp_path("nosuch.conf"), *c2 = tmp_path("worker.conf");
	const char *c3 = tmp_path("cont.conf");
	char want[4400];

	util_write_file(c1, "[log]\nlevel = info\n[nosuch]\n", 27);
	util_write_file(c2, "[worker]\ncount = 2\n", 19);
	util_write_file(c3, "[workers]\ncont = 2\n", 19);
	snprintf(want, sizeof(want), "genbox: %s:3: unknown section [nosuch]\n", c1);
	REFUSED(1, want, "a section [nosuch], even with no key", "-c", (char *)c1, dbarg, "stats");
	snprintf(want, sizeof(want), "%s:1: unknown section [worker] (did you mean [workers]?)",
	    c2);
	REFUSED(1, want, "a section [worker]", "-c", (char *)c2, dbarg, "stats");
	snprintf(want, sizeof(want), "%s:2: unknown key 'cont' in [workers] (did you mean "
	    "'count'?)", c3);
	REFUSED(1, want, "a key 'cont'", "-c", (char *)c3, dbarg, "stats");
}

static void
env_case(const char *var, const char *want, const char *what)
{
	struct run r;

	setenv(var, "2", 1);
	util_genbox_run(&r, NULL, dbarg, "stats", NULL);
	unsetenv(var);
	is_int(r.status, 0, "%s: the command still runs", what);
	if (want)
		like(r.err, want, "%s: warned on stderr", what);
	else
		is_str(r.err, "", "%s: no warning", what);
	run_free(&r);
}

static void
test_env(void)
{
	env_case("GENBOX_WORKER_COUNT", "genbox: warning: GENBOX_WORKER_COUNT is not a setting "
	    "(did you mean GENBOX_WORKERS_COUNT?)", "GENBOX_WORKER_COUNT");
	env_case("GENBOX_LOG_LEVL", "(did you mean GENBOX_LOG_LEVEL?)", "GENBOX_LOG_LEVL");
	env_case("GENBOX_WEB_COLOUR", "GENBOX_WEB_COLOUR is not a setting",
	    "an unknown key of a real section");
	/* the project's own variables that are not settings */
	env_case("GENBOX_MONGO_PEER", NULL, "GENBOX_MONGO_PEER");
	env_case("GENBOX_KEEP_TMP", NULL, "GENBOX_KEEP_TMP");
	env_case("GENBOX_PEER_CACHE", NULL, "GENBOX_PEER_CACHE");
	env_case("GENBOX_TEST_SEED", NULL, "GENBOX_TEST_SEED");
	env_case("GENBOX_FAULT_SQL", NULL, "GENBOX_FAULT_SQL");
	env_case("GENBOX_WORKERS_COUNT", NULL, "a real setting");
}

/* genbox args... with stdout on /dev/full: its exit status, stderr into err */
static int
run_full(char *err, size_t size, char **args)
{
	char path[4300], *argv[16], *text;
	int n = 0, st;
	pid_t pid;

	argv[n++] = (char *)util_genbox();
	while (n < 15 && (argv[n] = *args++) != NULL)
		n++;
	snprintf(path, sizeof(path), "%s/full.err", util_tmpdir());
	fflush(stdout);
	if ((pid = fork()) == 0) {
		int fo = open("/dev/full", O_WRONLY), fe = open(path, O_WRONLY | O_CREAT | O_TRUNC,
		    0600);

		if (fo < 0 || fe < 0 || dup2(fo, 1) < 0 || dup2(fe, 2) < 0)
			_exit(126);
		execv(argv[0], argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		tap_bail("cannot run %s", argv[0]);
	text = util_read_file(path, NULL);
	snprintf(err, size, "%s", text ? text : "");
	free(text);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void
full_case(const char *cmd, const char *what, char **args)
{
	char err[4096], want[256];

	is_int(run_full(err, sizeof(err), args), 1, "%s > /dev/full: exit 1", what);
	snprintf(want, sizeof(want), "genbox: %s: cannot write the output: No space left on "
	    "device\n", cmd);
	like(err, want, "%s > /dev/full: says so", what);
}

#define FULL(cmd, what, ...) full_case((cmd), (what), (char *[]){ __VA_ARGS__, NULL })

static void
test_full(void)
{
	if (access("/dev/full", W_OK) != 0) {
		ok(1, "# SKIP no /dev/full");
		return;
	}
	FULL("stats", "stats", dbarg, "stats");
	FULL("--version", "--version", "--version");
	FULL("--help", "--help", "--help");
	FULL("stats", "stats --help", "stats", "--help");
	FULL("export", "export", dbarg, "export", "pipelines");
	FULL("migrate", "migrate --status", dbarg, "migrate", "--status");
	FULL("apikey", "apikey list", dbarg, "apikey", "list");
	FULL("sync", "sync status", dbarg, "sync", "status");
	FULL("demo", "demo", dbarg, "demo");
}

static void
test_plural(void)
{
	const char *one = tmp_path("one-org.jsonl"), *two = tmp_path("two-orgs.jsonl");
	const char *ctx = tmp_path("one-ctx.jsonl");
	const char *t1 = "{\"_id\":\"org_p1\",\"name\":\"P1\"}\n";
	const char *t2 = "{\"_id\":\"org_p2\",\"name\":\"P2\"}\n{\"_id\":\"org_p3\",\"name\":\"P3\"}\n";
	const char *t3 = "{\"_id\":\"ctx_plural\",\"data\":{\"title\":\"One\"}}\n";
	struct fakegen g;
	struct run r;

	util_write_file(one, t1, strlen(t1));
	util_write_file(two, t2, strlen(t2));
	util_write_file(ctx, t3, strlen(t3));
	util_genbox_run(&r, NULL, dbarg, "import", "organizations", one, NULL);
	like(r.out, "imported 1 document into organizations", "1 document");
	run_free(&r);
	util_genbox_run(&r, NULL, dbarg, "import", "organizations", two, NULL);
	like(r.out, "imported 2 documents into organizations", "2 documents");
	run_free(&r);
	fakegen_start(&g, 2, 0, NULL);
	setenv("GENBOX_GENERATOR_URL", g.url, 1);
	util_genbox_run(&r, NULL, dbarg, "run-batch", "--pipeline", "pipe_article_generation",
	    "--input", ctx, "--workers", "1", NULL);
	unsetenv("GENBOX_GENERATOR_URL");
	fakegen_stop(&g);
	if (!is_int(r.status, 0, "a batch of one context runs"))
		tap_diag("%s", r.err);
	like(r.out, " 1 context from ", "run-batch: 1 context from FILE");
	like(r.out, ": 1 context: 1 completed", "run-batch's summary: 1 context");
	ok(strstr(r.out, "1 contexts") == NULL, "never '1 contexts'");
	run_free(&r);
}

/* ---- the key table, the sample genbox.conf and the man page ---- */

struct keyset {
	char names[256][96];	/* "section.key" */
	int n;
};

static void
keyset_add(struct keyset *ks, const char *section, const char *name, size_t len)
{
	if (ks->n < 256)
		snprintf(ks->names[ks->n++], sizeof(ks->names[0]), "%s.%.*s", section, (int)len,
		    name);
}

static int
keyset_has(const struct keyset *ks, const char *name)
{
	for (int i = 0; i < ks->n; i++)
		if (strcmp(ks->names[i], name) == 0)
			return 1;
	return 0;
}

/* "[section]" lines and "# key = default" (or "key = value") lines of genbox.conf */
static void
conf_keys(const char *text, struct keyset *ks)
{
	char section[64] = "";

	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		size_t n;

		if (*p == '[') {
			n = strcspn(p + 1, "]\n");
			snprintf(section, sizeof(section), "%.*s", (int)n, p + 1);
			continue;
		}
		if (strncmp(p, "# ", 2) == 0)
			p += 2;
		n = strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789_");
		if (n > 0 && strncmp(p + n, " =", 2) == 0 && section[0])
			keyset_add(ks, section, p, n);
	}
}

/* ".SS [section]" then ".TP" and ".B key" in the man page's SETTINGS */
static void
man_keys(const char *text, struct keyset *ks)
{
	const char *p = strstr(text, "\n.SH SETTINGS");
	char section[64] = "";

	for (; p && *p; p = strchr(p + 1, '\n')) {
		const char *l = p + 1;

		if (strncmp(l, ".SH ", 4) == 0 && strncmp(l, ".SH SETTINGS", 12) != 0)
			break;
		if (strncmp(l, ".SS [", 5) == 0)
			snprintf(section, sizeof(section), "%.*s", (int)strcspn(l + 5, "]\n"), l + 5);
		else if (strncmp(l, ".TP\n.B ", 7) == 0 && section[0])
			keyset_add(ks, section, l + 7, strcspn(l + 7, " \n"));
	}
}

static void
test_key_table(void)
{
	char path[4200], *conf, *man;
	struct keyset table = { .n = 0 }, inconf = { .n = 0 }, inman = { .n = 0 };
	const char *section, *name;
	int missing = 0, extra = 0;

	for (size_t i = 0; config_key_at(i, &section, &name) == 0; i++)
		keyset_add(&table, section, name, strlen(name));
	conf = util_read_file(util_src("packaging/genbox.conf", path, sizeof(path)), NULL);
	man = util_read_file(util_src("packaging/genbox.8", path, sizeof(path)), NULL);
	if (conf == NULL || man == NULL)
		tap_bail("cannot read packaging/genbox.conf or packaging/genbox.8");
	conf_keys(conf, &inconf);
	man_keys(man, &inman);
	ok(table.n > 30 && inconf.n > 0 && inman.n > 0, "keys: %d in config.c, %d in genbox.conf, "
	    "%d in genbox.8", table.n, inconf.n, inman.n);
	for (int i = 0; i < table.n; i++) {
		if (!keyset_has(&inconf, table.names[i]))
			missing += !ok(0, "%s is in genbox.conf", table.names[i]);
		if (!keyset_has(&inman, table.names[i]))
			missing += !ok(0, "%s is in genbox.8", table.names[i]);
	}
	for (int i = 0; i < inconf.n; i++)
		if (!keyset_has(&table, inconf.names[i]))
			extra += !ok(0, "genbox.conf's %s is a key of config.c", inconf.names[i]);
	for (int i = 0; i < inman.n; i++)
		if (!keyset_has(&table, inman.names[i]))
			extra += !ok(0, "genbox.8's %s is a key of config.c", inman.names[i]);
	ok(missing == 0, "every key of config.c is in genbox.conf and genbox.8");
	ok(extra == 0, "genbox.conf and genbox.8 name no key config.c does not know");
	free(conf);
	free(man);
}

/* Every "# key = default" of the sample, uncommented, loads and is the default. */
static void
test_conf_defaults(void)
{
	char path[4200], *conf, *p, *out = tmp_path("uncommented.conf");
	struct config defaults, loaded;
	struct gb_err err = { 0, "" };
	size_t len;

	conf = util_read_file(util_src("packaging/genbox.conf", path, sizeof(path)), &len);
	if (conf == NULL)
		tap_bail("cannot read packaging/genbox.conf");
	/* "# key = value" lines lose their "# " (a line led by blanks continues the last) */
	for (p = conf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		size_t n = strspn(p + 2, "abcdefghijklmnopqrstuvwxyz0123456789_");

		if (strncmp(p, "# ", 2) == 0 && n > 0 && strncmp(p + 2 + n, " =", 2) == 0) {
			memmove(p, p + 2, len - (size_t)(p - conf) - 1);
			len -= 2;
		}
	}
	util_write_file(out, conf, len);
	free(conf);
	config_defaults(&defaults);
	config_defaults(&loaded);
	is_int(config_load_file(&loaded, out, 1, &err), 0, "genbox.conf uncommented loads (%s)",
	    err.msg);
	ok(memcmp(&defaults, &loaded, sizeof(loaded)) == 0,
	    "and each value it shows is the default");
}

/* The README names only files of the repository, and what a newcomer looks for. */
static void
test_readme(void)
{
	static const char *const exts[] = { ".c", ".h", ".md", ".sh", ".mjs", ".json", ".jsonl",
		".conf", ".8", NULL };
	char path[4200], file[4200], *text;
	int named = 0, missing = 0;

	text = util_read_file(util_src("README.md", path, sizeof(path)), NULL);
	if (text == NULL)
		tap_bail("cannot read README.md");
	/* every `dir/file.ext` or `file.ext` in backquotes */
	for (const char *p = strchr(text, '`'); p; p = strchr(p + 1, '`')) {
		size_t n = strspn(p + 1, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./-");
		const char *e = p + 1 + n;

		if (p[1] == '/' || p[1] == '.' || *e != '`' || n == 0)
			continue;
		for (int i = 0; exts[i]; i++) {
			size_t l = strlen(exts[i]);

			if (n > l && strncmp(e - l, exts[i], l) == 0 && memchr(p + 1, '/', n)) {
				snprintf(file, sizeof(file), "%.*s", (int)n, p + 1);
				named++;
				if (access(util_src(file, path, sizeof(path)), F_OK) != 0)
					missing += !ok(0, "README's %s is in the repository", file);
				break;
			}
		}
		p = e;
	}
	ok(named > 5 && missing == 0, "the %d files the README names are in the repository",
	    named);
	ok(strstr(text, "STYLE.md") == NULL, "the README names no STYLE.md (not in the repository)");
	ok(strstr(text, "make test") && strstr(text, "--trace") && strstr(text, "V=1") &&
	    strstr(text, "./genbox"), "the README has make test, run-batch --trace, V=1, ./genbox");
	ok(strstr(text, "### Using a real model") && strstr(text, "allowed_models") &&
	    strstr(text, "import --upsert") && strstr(text, "config.model"),
	    "the README says how to use a real model");
	free(text);
}

/* tests/tap-only, which make check runs every test through, fails a stray line. */
static void
test_tap_only(void)
{
	char script[4200];
	char *clean[] = { "/bin/sh", script, "/bin/sh", "-c",
		"echo 'ok 1 - a'; echo '# a comment' >&2; echo '1..1'", NULL };
	char *stray[] = { "/bin/sh", script, "/bin/sh", "-c",
		"echo 'ok 1 - a'; echo 'info: fail: context ctx_down' >&2; echo '1..1'", NULL };
	char *failing[] = { "/bin/sh", script, "/bin/sh", "-c", "echo '1..0'; exit 3", NULL };
	struct run r;

	util_src("tests/tap-only", script, sizeof(script));
	util_run(&r, NULL, 0, clean);
	ok(r.status == 0 && strstr(r.out, "# a comment"), "tap-only: TAP and comments pass");
	run_free(&r);
	util_run(&r, NULL, 0, stray);
	is_int(r.status, 1, "tap-only: a log line on stderr fails the test");
	like(r.err, "sh: a line that is not TAP: info: fail: context ctx_down", "and is named");
	run_free(&r);
	util_run(&r, NULL, 0, failing);
	is_int(r.status, 3, "tap-only: the test's own exit status is kept");
	run_free(&r);
}

int
main(void)
{
	struct run r;

	snprintf(db, sizeof(db), "%s", tmp_path("messages.db"));
	snprintf(dbarg, sizeof(dbarg), "--db=%s", db);
	util_genbox_run(&r, NULL, dbarg, "demo", NULL);
	if (r.status != 0)
		tap_bail("genbox demo: %s", r.err);
	run_free(&r);
	test_missing_values();
	test_names();
	test_ids();
	test_global_options();
	test_global_values();
	test_help_columns();
	test_mongoc_counters();
	test_config_names();
	test_env();
	test_full();
	test_key_table();
	test_conf_defaults();
	test_readme();
	test_tap_only();
	test_plural();
	return tap_done();
}
