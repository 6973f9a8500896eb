/*
 * t600-backup - `genbox backup` of a live database: taken while `genbox
 * serve` runs a 2,000-context batch (a scripted generator) and a thread
 * keeps the API busy (creating and listing contexts), the backup restores
 * to a database that passes integrity_check and holds every context that
 * had completed before the backup began; the manifest's counts, size and
 * SHA-256 are those of what was written; [backup] keep leaves the newest
 * backups only (manifests and .db.gz alike), of genbox-<time> names only
 * (a hand-named pair is neither pruned nor latest), and prunes an orphan
 * .db.gz; a failed prune is a warning; a restored backup shows no backup
 * running; a corrupt database's backup names it.
 */
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <civetweb.h>
#include <openssl/evp.h>
#include <sqlite3.h>

#include "fakegen.h"
#include "webtest.h"

#define NBATCH 2000

static struct box b;
static int port;
static char token[APIKEY_TOKEN_MAX];

struct load {
	pthread_t thread;
	atomic_int stop;
	atomic_int posted, listed, errors;
};

static pid_t
daemon_start(const char *log)
{
	char listen[64], db[4200], url[128];
	char *argv[] = { (char *)util_genbox(), db, "serve", "--listen", listen, "--workers", "4",
		NULL };
	pid_t pid;

	port = peer_free_port();
	wt_set_port(port);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	snprintf(db, sizeof(db), "--db=%s", b.path);
	pid = util_spawn(argv, log, 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", port);
	for (int64_t t0 = gb_mono_ms(); gb_mono_ms() - t0 < 15000; usleep(50 * 1000))
		if (peer_http_status(url) == 200)
			return pid;
	tap_bail("genbox serve did not answer /healthz");
}

static int
daemon_stop(pid_t pid)
{
	int st;

	kill(pid, SIGTERM);
	for (int64_t t0 = gb_mono_ms(); gb_mono_ms() - t0 < 30000; usleep(20 * 1000))
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

/* The API under load: create a context, list the newest, again and again. */
static void *
load_main(void *arg)
{
	struct load *l = arg;
	char url[128], body[256];
	struct http_resp r;

	for (int i = 0; !l->stop; i++) {
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/contexts", port);
		snprintf(body, sizeof(body), "{\"type\": \"article\", \"data\": {\"title\": \"Load %d\", "
		    "\"keywords\": [\"k\"], \"target_audience\": \"developers\", \"tone\": \"technical\"}}", i);
		http_json(&r, "POST", url, token, body);
		if (r.status == 201)
			l->posted++;
		else
			l->errors++;
		http_resp_free(&r);
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/contexts?limit=50", port);
		http_json(&r, "GET", url, token, NULL);
		if (r.status == 200)
			l->listed++;
		else
			l->errors++;
		http_resp_free(&r);
	}
	return NULL;
}

static void
batch_new(int n)
{
	struct http_resp r;
	char *body = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&body, &len);

	fprintf(f, "{\"pipeline_id\": \"pipe_article_generation\", \"name\": \"big\", \"contexts\": [");
	for (int i = 0; i < n; i++)
		fprintf(f, "%s{\"type\": \"article\", \"data\": {\"title\": \"Big %d\", \"keywords\": [\"k\"], "
		    "\"target_audience\": \"developers\", \"tone\": \"technical\"}}", i ? ", " : "", i);
	fprintf(f, "]}");
	fclose(f);
	r = wt_req("POST", "/api/v1/batches", token, "%s", body);
	free(body);
	is_int(r.status, 201, "POST /batches with %d contexts: 201", n);
	http_resp_free(&r);
}

/* One number from the database at path (read-only), or -1. */
static int64_t
db_count(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int64_t v = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
		sqlite3_busy_timeout(db, 10000);
		if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
			v = sqlite3_column_int64(s, 0);
	}
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

static int64_t
completed_now(void)
{
	return db_count(b.path, "SELECT count(*) FROM contexts WHERE status = 'completed'");
}

/* The _ids of the completed contexts of path, into a malloc'd array (*n). */
static char **
completed_ids(const char *path, int *n)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	char **ids = NULL;
	int cap = 0;

	*n = 0;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		tap_bail("open %s", path);
	sqlite3_busy_timeout(db, 10000);
	if (sqlite3_prepare_v2(db, "SELECT _id FROM contexts WHERE status = 'completed'", -1, &s, NULL))
		tap_bail("prepare: %s", sqlite3_errmsg(db));
	while (sqlite3_step(s) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 1024;
			if ((ids = realloc(ids, sizeof(*ids) * (size_t)cap)) == NULL)
				tap_bail("out of memory");
		}
		ids[(*n)++] = strdup((const char *)sqlite3_column_text(s, 0));
	}
	sqlite3_finalize(s);
	sqlite3_close(db);
	return ids;
}

/* How many of ids are completed contexts in the database at path. */
static int
ids_completed(const char *path, char **ids, int n)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int found = 0;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT 1 FROM contexts WHERE _id = ?1 AND status = 'completed'",
	    -1, &s, NULL) != SQLITE_OK)
		tap_bail("open %s", path);
	for (int i = 0; i < n; i++) {
		sqlite3_bind_text(s, 1, ids[i], -1, SQLITE_STATIC);
		found += sqlite3_step(s) == SQLITE_ROW;
		sqlite3_reset(s);
	}
	sqlite3_finalize(s);
	sqlite3_close(db);
	return found;
}

static const char *
integrity(const char *path)
{
	static char out[256];
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;

	snprintf(out, sizeof(out), "(cannot run)");
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		snprintf(out, sizeof(out), "%s", (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	sqlite3_close(db);
	return out;
}

static void
sha256_hex(const char *path, char hex[65], long *size)
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	size_t len = 0;
	char *data = util_read_file(path, &len);

	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	*size = (long)len;
	free(data);
}

/* The names in dir ending in suffix, sorted; count returned, names into out (up to max). */
static int
dir_names(const char *dir, const char *suffix, char out[][128], int max)
{
	struct dirent **ents = NULL;
	int n = scandir(dir, &ents, NULL, alphasort), k = 0;

	for (int i = 0; i < n; i++) {
		size_t l = strlen(ents[i]->d_name), m = strlen(suffix);

		if (l > m && strcmp(ents[i]->d_name + l - m, suffix) == 0 && k < max)
			snprintf(out[k++], 128, "%s", ents[i]->d_name);
		free(ents[i]);
	}
	free(ents);
	return k;
}

/* genbox backup --to dir:dir; its exit status. */
static int
backup_to(const char *dir, struct run *r)
{
	char db[4200], to[4200];

	snprintf(db, sizeof(db), "--db=%s", b.path);
	snprintf(to, sizeof(to), "dir:%s", dir);
	return util_genbox_run(r, NULL, db, "backup", "--to", to, NULL), r->status;
}

static void
check_manifest(const char *dir, const char *restored)
{
	char names[4][128], path[4400], gz[4400], hex[65];
	cJSON *m;
	char *text;
	long size;

	is_int(dir_names(dir, ".manifest.json", names, 4), 1, "one manifest in the target");
	snprintf(path, sizeof(path), "%s/%s", dir, names[0]);
	text = util_read_file(path, NULL);
	m = cJSON_Parse(text ? text : "");
	snprintf(gz, sizeof(gz), "%s/%s", dir, jpath(m, "file"));
	sha256_hex(gz, hex, &size);
	is_str(jpath(m, "sha256"), hex, "the manifest's sha256 is that of the .db.gz");
	is_int(atol(jpath(m, "bytes")), size, "and its bytes its size (%ld)", size);
	is_int(atol(jpath(m, "counts.contexts")), db_count(restored, "SELECT count(*) FROM contexts"),
	    "counts.contexts is what the backup holds (%s)", jpath(m, "counts.contexts"));
	is_int(atol(jpath(m, "counts.batches")), db_count(restored, "SELECT count(*) FROM batches"),
	    "counts.batches too");
	is_int(atol(jpath(m, "schema_version")), db_count(restored, "PRAGMA user_version"),
	    "schema_version that of the copy");
	cJSON_Delete(m);
	free(text);
}

static void
test_live_backup(void)
{
	char log[4200], dir[4200], names[4][128], src[4400], to[4400], rdb[4200];
	struct load l = { 0 };
	struct run r;
	char **ids;
	int64_t t0, before, during;
	int n;
	pid_t pid;

	snprintf(log, sizeof(log), "%s/serve.log", util_tmpdir());
	snprintf(dir, sizeof(dir), "%s/live", util_tmpdir());
	pid = daemon_start(log);
	batch_new(NBATCH);
	pthread_create(&l.thread, NULL, load_main, &l);
	for (t0 = gb_mono_ms(); completed_now() < 300 && gb_mono_ms() - t0 < 120000; usleep(50 * 1000))
		;
	ids = completed_ids(b.path, &n);
	ok(n >= 300, "%d contexts completed before the backup began", n);
	is_int(backup_to(dir, &r), 0, "genbox backup while serve runs the batch: exit 0");
	like(r.out, "backup dir:", "it says where the backup went");
	if (r.status)
		tap_diag("%s", r.err);
	run_free(&r);
	during = db_count(b.path,
	    "SELECT count(*) FROM contexts WHERE status IN ('pending', 'processing')");
	ok(during > 0, "the batch was still running when the backup ended (%lld left)", (long long)during);
	before = l.posted;
	usleep(300 * 1000);
	ok(l.posted > before, "the API kept answering during and after it (%d created, %d lists)",
	    (int)l.posted, (int)l.listed);
	l.stop = 1;
	pthread_join(l.thread, NULL);
	is_int((int)l.errors, 0, "no request of the load failed");
	is_int(daemon_stop(pid), 0, "serve stops: exit 0");

	dir_names(dir, ".manifest.json", names, 4);
	snprintf(src, sizeof(src), "%s/%s", dir, names[0]);
	snprintf(rdb, sizeof(rdb), "%s/restored.db", util_tmpdir());
	snprintf(to, sizeof(to), "--db=%s", rdb);
	util_genbox_run(&r, NULL, "restore-backup", src, to, NULL);
	is_int(r.status, 0, "restore-backup of it into a new file: exit 0");
	if (r.status)
		tap_diag("%s", r.err);
	run_free(&r);
	is_str(integrity(rdb), "ok", "the restored database passes integrity_check");
	is_int(ids_completed(rdb, ids, n), n, "and holds every context completed before the backup began");
	check_manifest(dir, rdb);
	for (int i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

static void
test_keep(void)
{
	char dir[4200], gz[8][128], man[8][128], last[3][128];
	struct run r;
	int ok_all = 1;

	snprintf(dir, sizeof(dir), "%s/keep", util_tmpdir());
	setenv("GENBOX_BACKUP_KEEP", "2", 1);
	for (int i = 0; i < 4; i++) {
		ok_all &= backup_to(dir, &r) == 0;
		if (i >= 2)
			snprintf(last[i - 2], 128, "%.100s", strstr(r.out, "/genbox-2") ?
			    strstr(r.out, "/genbox-2") + 1 : "");
		run_free(&r);
		usleep(5 * 1000);
	}
	unsetenv("GENBOX_BACKUP_KEEP");
	ok(ok_all, "four backups with keep = 2: each exit 0");
	is_int(dir_names(dir, ".manifest.json", man, 8), 2, "two manifests are left");
	is_int(dir_names(dir, ".db.gz", gz, 8), 2, "and two .db.gz");
	ok(strncmp(last[0], gz[0], strlen(gz[0])) == 0 && strncmp(last[1], gz[1], strlen(gz[1])) == 0,
	    "the two newest (%s, %s)", gz[0], gz[1]);
	ok(strncmp(man[0], gz[0], strlen(gz[0]) - strlen(".db.gz")) == 0, "each with its manifest");
}

static void
test_bad_use(void)
{
	struct run r;
	char db[4200];

	snprintf(db, sizeof(db), "--db=%s", b.path);
	util_genbox_run(&r, NULL, db, "backup", "--to", "ftp://x", NULL);
	is_int(r.status, 1, "backup to an unknown kind of target: exit 1");
	like(r.err, "genbox: backup: ", "with a message");
	run_free(&r);
	util_genbox_run(&r, NULL, db, "backup", "extra", NULL);
	is_int(r.status, 1, "an unexpected argument: exit 1");
	run_free(&r);
	util_genbox_run(&r, NULL, "--db=/nonexistent/x.db", "backup", NULL);
	is_int(r.status, 1, "a database that does not exist: exit 1");
	like(r.err, "does not exist", "says so");
	run_free(&r);
}

/* genbox with --db=db and the words after it (up to four, NULL-ended). */
static int
gb_db(struct run *r, const char *db, const char *a, const char *b2, const char *c,
    const char *d)
{
	char arg[4500];

	snprintf(arg, sizeof(arg), "--db=%s", db);
	return util_genbox_run(r, NULL, arg, a, b2, c, d, NULL);
}

static int
exists(const char *dir, const char *name)
{
	char path[4400];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

/* The "genbox-<time>" stem of a backup's output line ("backup dir:D/genbox-...db.gz: ..."). */
static void
stem_of(const char *out, char *stem, size_t size)
{
	const char *p = strstr(out, "/genbox-2");

	snprintf(stem, size, "%.*s", p ? (int)strcspn(p + 1, ":") - 6 : 0, p ? p + 1 : "");
}

static void
shell(const char *cmd)
{
	if (system(cmd) != 0)
		tap_bail("%s", cmd);
}

/*
 * Only genbox-<time> names count for keep and latest: a hand-named pair is
 * never pruned nor latest, and the backup just taken stays; an orphan
 * .db.gz older than the newest backup goes.
 */
static void
test_names(const char *db, const char *dir)
{
	char to[4400], a[128], bb[128], name[200], rdb[4400], cmd[4800];
	struct run r;

	snprintf(to, sizeof(to), "dir:%s", dir);
	is_int(gb_db(&r, db, "backup", "--to", to, NULL), 0, "a backup of a small database");
	like(r.out, ", 1 context\n", "'1 context', singular");
	stem_of(r.out, a, sizeof(a));
	run_free(&r);
	snprintf(cmd, sizeof(cmd), "cd %s && cp %s.manifest.json "
	    "genbox-before-upgrade.manifest.json && cp %s.db.gz genbox-before-upgrade.db.gz && "
	    "cp genbox-before-upgrade.db.gz genbox-20000101T000000.000Z.db.gz", dir, a, a);
	shell(cmd);
	usleep(5 * 1000);
	snprintf(rdb, sizeof(rdb), "%s.restore", db);
	util_write_file(rdb, "a killed restore's copy", 23);
	setenv("GENBOX_BACKUP_KEEP", "1", 1);
	is_int(gb_db(&r, db, "backup", "--to", to, NULL), 0, "another with keep = 1");
	unsetenv("GENBOX_BACKUP_KEEP");
	ok(access(rdb, F_OK) != 0, "a killed restore's leftover beside the database is removed");
	stem_of(r.out, bb, sizeof(bb));
	run_free(&r);
	snprintf(name, sizeof(name), "%s.manifest.json", bb);
	ok(exists(dir, name), "the backup just taken is kept (%s)", name);
	snprintf(name, sizeof(name), "%s.manifest.json", a);
	ok(!exists(dir, name), "the older one is pruned");
	ok(exists(dir, "genbox-before-upgrade.manifest.json") &&
	    exists(dir, "genbox-before-upgrade.db.gz"), "a hand-named pair is never pruned");
	ok(!exists(dir, "genbox-20000101T000000.000Z.db.gz"),
	    "an orphan .db.gz older than the newest backup is pruned");
	snprintf(rdb, sizeof(rdb), "%s.restored", db);
	is_int(gb_db(&r, rdb, "restore-backup", to, "latest", NULL), 0, "restore latest");
	like(r.out, bb, "latest is the newest genbox-<time> backup, not the hand-named one");
	like(r.out, ", 1 context, 1 batch\n", "'1 context, 1 batch', singular");
	run_free(&r);
	is_int(db_count(rdb, "SELECT count(*) FROM box_jobs WHERE job = 'backup' AND running = 1"),
	    0, "the restored database shows no backup running");
	is_int(db_count(rdb, "SELECT count(*) FROM box_jobs WHERE job = 'backup'"), 1,
	    "(it has the backup's job row)");
}

/* A prune that fails after a good backup: a warning, the backup still exit 0. */
static void
test_prune_fails(const char *db, const char *dir)
{
	char to[4400], a[128], cmd[4600];
	struct run r;

	snprintf(to, sizeof(to), "dir:%s", dir);
	if (gb_db(&r, db, "backup", "--to", to, NULL))
		tap_bail("backup: %s", r.err);
	stem_of(r.out, a, sizeof(a));
	run_free(&r);
	snprintf(cmd, sizeof(cmd), "chattr +i %s/%s.manifest.json 2>/dev/null", dir, a);
	if (system(cmd) != 0) {
		ok(1, "# SKIP chattr +i not possible here");
		return;
	}
	usleep(5 * 1000);
	setenv("GENBOX_BACKUP_KEEP", "1", 1);
	is_int(gb_db(&r, db, "backup", "--to", to, NULL), 0,
	    "a backup whose pruning fails: exit 0 all the same");
	unsetenv("GENBOX_BACKUP_KEEP");
	like(r.err, "prune", "with a warning");
	run_free(&r);
	snprintf(cmd, sizeof(cmd), "chattr -i %s/%s.manifest.json", dir, a);
	if (system(cmd) != 0)
		tap_bail("%s", cmd);
}

/* Backing up a corrupt database names it (not the temporary copy), in one line. */
static void
test_corrupt_source(const char *db)
{
	char bad[4400], to[4400];
	size_t len;
	char *data = util_read_file(db, &len);
	const char *p;
	struct run r;

	snprintf(bad, sizeof(bad), "%s.bad.db", db);
	snprintf(to, sizeof(to), "dir:%s.badbackups", db);
	if (data == NULL || len < 12 * 4096)
		tap_bail("small database too small");
	memset(data + 4 * 4096, 0x5a, 6 * 4096);
	util_write_file(bad, data, len);
	free(data);
	is_int(gb_db(&r, bad, "backup", "--to", to, NULL), 1,
	    "a backup of a corrupt database: exit 1");
	p = strstr(r.err, "fails its integrity check");
	ok(p != NULL, "it fails the integrity check: %s", r.err);
	like(r.err, bad, "the message names the database");
	ok(strstr(r.err, ".backup-") == NULL, "not the temporary copy");
	ok(p && strchr(p, '\n') && strchr(p, '\n')[1] == '\0', "one line of what the check found");
	run_free(&r);
}

static void
test_small(void)
{
	char db[4200], dir[4200];
	struct run r;

	snprintf(db, sizeof(db), "%s/small.db", util_tmpdir());
	if (gb_db(&r, db, "init", NULL, NULL, NULL))
		tap_bail("init: %s", r.err);
	run_free(&r);
	if (gb_db(&r, db, "demo", NULL, NULL, NULL))
		tap_bail("demo: %s", r.err);
	run_free(&r);
	snprintf(dir, sizeof(dir), "%s/names", util_tmpdir());
	test_names(db, dir);
	snprintf(dir, sizeof(dir), "%s/prune", util_tmpdir());
	test_prune_fails(db, dir);
	test_corrupt_source(db);
}

int
main(void)
{
	struct fakegen gen;
	struct gb_err err = { 0, "" };

	curl_global_init(CURL_GLOBAL_DEFAULT);
	box_open(&b, 1);
	box_put(&b, COLL_ORGANIZATIONS, "{\"_id\": \"org_123\", \"name\": \"Acme\", \"settings\": "
	    "{\"max_contexts_per_day\": 1000000, \"max_batch_size\": 5000, "
	    "\"default_pipeline_id\": \"pipe_article_generation\"}}");
	if (apikey_new(b.st, "user_456", 1, "test", gb_now_ms(), token, NULL, &err))
		tap_bail("apikey: %s", err.msg);
	box_close(&b);
	mg_init_library(0);
	fakegen_start(&gen, 16, 5, NULL);
	setenv("GENBOX_GENERATOR_URL", gen.url, 1);
	setenv("GENBOX_WORKERS_GRACE_MS", "300", 1);
	setenv("GENBOX_WEB_MAX_BODY", "4000000", 1);
	test_bad_use();
	test_small();
	test_live_backup();
	test_keep();
	fakegen_stop(&gen);
	mg_exit_library();
	curl_global_cleanup();
	return tap_done();
}
