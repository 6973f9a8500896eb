/*
 * t601-restore - `genbox restore-backup`: refused (exit 1, a message
 * naming the running genbox) while `genbox serve` or `genbox run-batch` has
 * the database open (each holds its lock, across processes); a
 * .db.gz with one byte flipped refused (its checksum) and one whose checksum
 * is right but whose database is corrupt refused (integrity_check), the
 * database unchanged each time; a restore SIGKILLed at many moments leaves
 * a database that opens and passes integrity_check holding either the old
 * contents or the backup's, never anything else, and the next restore
 * works.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>
#include <zlib.h>

#include "pooltest.h"
#include "peer.h"

#define NOLD 3000	/* contexts in the backup */
#define NNEW 500	/* added after it */

static struct box b;
static char dbarg[4200];
static char dir_a[4200], dir_b[4200];	/* backups of the old (NOLD) and new (NOLD + NNEW) states */
static int extra = 1;	/* contexts besides ours: the demo's, then run-batch's */

static void
add_contexts(int from, int n)
{
	struct gb_err err = { 0, "" };
	char pad[1601];

	if (store_begin(b.st, &err))
		tap_bail("begin: %s", err.msg);
	for (int i = from; i < from + n; i++) {
		for (int k = 0; k < 1600; k++)
			pad[k] = "0123456789abcdef"[(unsigned)(i * 7919 + k * 104729) % 16];
		pad[1600] = '\0';
		box_put(&b, COLL_CONTEXTS, "{\"_id\": \"ctx_r%d\", \"type\": \"article\", \"status\": "
		    "\"completed\", \"organization_id\": \"org_123\", \"user_id\": \"user_456\", \"data\": "
		    "{\"title\": \"Restore %d\", \"body\": \"%s\"}}", i, i, pad);
	}
	if (store_commit(b.st, &err))
		tap_bail("commit: %s", err.msg);
}

/* contexts in the database at path, or -1 when it does not open or fails its check. */
static int64_t
db_contexts(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int64_t v = -1;
	int ok = 0;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		ok = strcmp((const char *)sqlite3_column_text(s, 0), "ok") == 0;
	sqlite3_finalize(s);
	s = NULL;
	if (ok && sqlite3_prepare_v2(db, "SELECT count(*) FROM contexts", -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

static void
backup_to(const char *dir)
{
	char to[4300];
	struct run r;

	snprintf(to, sizeof(to), "dir:%s", dir);
	util_genbox_run(&r, NULL, dbarg, "backup", "--to", to, NULL);
	if (r.status)
		tap_bail("backup: %s", r.err);
	run_free(&r);
}

static int
restore(const char *source, const char *name, struct run *r)
{
	char to[4500];

	snprintf(to, sizeof(to), "dir:%s", source);
	if (name)
		util_genbox_run(r, NULL, dbarg, "restore-backup", to, name, NULL);
	else
		util_genbox_run(r, NULL, dbarg, "restore-backup", source, NULL);
	return r->status;
}

/* genbox --db=db restore-backup a [b2]. */
static int
restore_db(const char *db, const char *a, const char *b2, struct run *r)
{
	char arg[4500];

	snprintf(arg, sizeof(arg), "--db=%s", db);
	return util_genbox_run(r, NULL, arg, "restore-backup", a, b2, NULL);
}

/* The one file of dir ending in suffix, into out. */
static void
one_file(const char *dir, const char *suffix, char *out, size_t size)
{
	char cmd[4400];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ls %s/*%s", dir, suffix);
	if ((p = popen(cmd, "r")) == NULL || fgets(out, (int)size, p) == NULL)
		tap_bail("no %s in %s", suffix, dir);
	pclose(p);
	out[strcspn(out, "\n")] = '\0';
}

static void
test_refused_running(void)
{
	char listen[64], url[128], log[4200];
	char *argv[] = { (char *)util_genbox(), dbarg, "serve", "--listen", listen, "--workers", "1",
		NULL };
	int port = peer_free_port(), st, up = 0;
	struct run r;
	pid_t pid;

	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	snprintf(log, sizeof(log), "%s/serve.log", util_tmpdir());
	pid = util_spawn(argv, log, 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", port);
	for (int64_t t0 = gb_mono_ms(); !up && gb_mono_ms() - t0 < 15000; usleep(50 * 1000))
		up = peer_http_status(url) == 200;
	ok(up, "serve runs on the database");
	is_int(restore(dir_a, "latest", &r), 1, "restore-backup while serve runs: exit 1");
	like(r.err, "a running genbox command (serve, run-batch, import, sync, archive, ...) has database", "the message says why");
	like(r.err, "stop it first", "and what to do");
	run_free(&r);
	{
		char link[4200], to[4300];
		struct stat sb;

		snprintf(link, sizeof(link), "%s/running-link.db", util_tmpdir());
		snprintf(to, sizeof(to), "dir:%s", dir_a);
		if (symlink(b.path, link) < 0)
			tap_bail("symlink");
		is_int(restore_db(link, to, "latest", &r), 1,
		    "through a symlink to the database serve runs on: exit 1 too");
		like(r.err, "a running genbox command (serve, run-batch, import, sync, archive, ...) has database", "the same message");
		run_free(&r);
		ok(lstat(link, &sb) == 0 && S_ISLNK(sb.st_mode), "the symlink is left alone");
	}
	is_int(db_contexts(b.path), NOLD + NNEW + extra, "the database is unchanged");
	kill(pid, SIGTERM);
	waitpid(pid, &st, 0);
	is_int(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 0, "serve stops: exit 0");
}

/* run-batch holds the database too: a restore is refused while it runs. */
static void
test_refused_run_batch(void)
{
	char input[4200], url[64], log[4200];
	char *argv[] = { (char *)util_genbox(), dbarg, "run-batch", "--pipeline",
		"pipe_article_generation", "--input", input, "--user", "user_456", NULL };
	int fd = hung_endpoint(url), st;
	int64_t n0 = db_contexts(b.path);
	struct run r;
	pid_t pid;

	snprintf(input, sizeof(input), "%s/batch.jsonl", util_tmpdir());
	snprintf(log, sizeof(log), "%s/run-batch.log", util_tmpdir());
	util_write_file(input, "{\"data\": {\"title\": \"Held\"}}\n",
	    strlen("{\"data\": {\"title\": \"Held\"}}\n"));
	setenv("GENBOX_GENERATOR_URL", url, 1);	/* answers nothing: the batch stays running */
	setenv("GENBOX_GENERATOR_TIMEOUT_MS", "60000", 1);
	pid = util_spawn(argv, log, 0);
	for (int64_t t0 = gb_mono_ms(); gb_mono_ms() - t0 < 10000 && db_contexts(b.path) == n0; )
		usleep(50 * 1000);
	ok(waitpid(pid, &st, WNOHANG) == 0, "run-batch runs (its context written)");
	is_int(restore(dir_a, "latest", &r), 1, "restore-backup while run-batch runs: exit 1");
	like(r.err, "a running genbox command (serve, run-batch, import, sync, archive, ...) has database", "the message says why");
	run_free(&r);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	close(fd);
	setenv("GENBOX_GENERATOR_URL", "", 1);
	unsetenv("GENBOX_GENERATOR_TIMEOUT_MS");
	ok(db_contexts(b.path) == n0 + 1, "the database holds the batch's context, nothing restored");
	extra++;
	backup_to(dir_b);	/* the old state to come back to holds it too */
}

/* A copy of backup a in dir, its .gz rewritten by change (NULL: as is); the manifest's path. */
static void
copy_backup(const char *dir, char *manifest, size_t size)
{
	char cmd[9000];

	snprintf(cmd, sizeof(cmd), "mkdir -p %s && cp %s/* %s/", dir, dir_a, dir);
	if (system(cmd) != 0)
		tap_bail("%s", cmd);
	one_file(dir, ".manifest.json", manifest, size);
}

static void
test_flipped_byte(void)
{
	char dir[4200], man[4400], gz[4400];
	size_t len;
	char *data;
	struct run r;

	snprintf(dir, sizeof(dir), "%s/flipped", util_tmpdir());
	copy_backup(dir, man, sizeof(man));
	one_file(dir, ".db.gz", gz, sizeof(gz));
	data = util_read_file(gz, &len);
	data[len / 2] ^= 0x20;
	util_write_file(gz, data, len);
	free(data);
	is_int(restore(man, NULL, &r), 1, "a .db.gz with one byte flipped: exit 1");
	like(r.err, "does not match its manifest", "refused for its checksum");
	like(r.err, ".db.gz' does not match", "naming the backup's object");
	ok(strstr(r.err, ".restore.gz") == NULL, "not the local temporary file");
	like(r.err, "the database was not changed", "saying the database was not changed");
	run_free(&r);
	is_int(db_contexts(b.path), NOLD + NNEW + extra, "and it was not");
}

/* gz's database decompressed, pages 3 to 5 overwritten, compressed again. */
static void
corrupt_inside(const char *gz)
{
	char raw[4500];
	gzFile in = gzopen(gz, "rb"), out;
	char buf[65536];
	size_t len = 0;
	char *db;
	FILE *f;
	int n;

	snprintf(raw, sizeof(raw), "%s.raw", gz);
	f = fopen(raw, "wb");
	while ((n = gzread(in, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, f);
	gzclose(in);
	fclose(f);
	db = util_read_file(raw, &len);
	if (len < 6 * 4096)
		tap_bail("backup too small");
	memset(db + 2 * 4096, 0x5a, 3 * 4096);
	out = gzopen(gz, "wb");
	gzwrite(out, db, (unsigned)len);
	gzclose(out);
	free(db);
	unlink(raw);
}

/* The manifest at path with the .gz's true size and SHA-256. */
static void
manifest_fix(const char *path, const char *gz)
{
	unsigned char md[32];
	unsigned int mdlen;
	char hex[65], *text, *data, *out;
	size_t len;
	cJSON *m;

	data = util_read_file(gz, &len);
	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	free(data);
	text = util_read_file(path, NULL);
	m = cJSON_Parse(text);
	cJSON_ReplaceItemInObject(m, "sha256", cJSON_CreateString(hex));
	cJSON_ReplaceItemInObject(m, "bytes", cJSON_CreateNumber((double)len));
	out = cJSON_Print(m);
	util_write_file(path, out, strlen(out));
	free(out);
	free(text);
	cJSON_Delete(m);
}

static void
test_corrupt_inside(void)
{
	char dir[4200], man[4400], gz[4400];
	struct run r;

	snprintf(dir, sizeof(dir), "%s/corrupt", util_tmpdir());
	copy_backup(dir, man, sizeof(man));
	one_file(dir, ".db.gz", gz, sizeof(gz));
	corrupt_inside(gz);
	manifest_fix(man, gz);
	is_int(restore(dir, "latest", &r), 1,
	    "a backup with a right checksum and a corrupt database: exit 1");
	like(r.err, "integrity check", "refused by the integrity check");
	run_free(&r);
	is_int(db_contexts(b.path), NOLD + NNEW + extra, "the database is unchanged");
	ok(access(b.path, F_OK) == 0 && db_contexts(b.path) > 0, "and still opens");
}

/* One restore of dir_a killed after delay_us: 0 old left, 1 backup's, -1 neither. */
static int
killed_restore(int delay_us, int *finished)
{
	char to[4300], log[4200];
	char *argv[] = { (char *)util_genbox(), dbarg, "restore-backup", to, "latest", NULL };
	int64_t n;
	int st;
	pid_t pid;

	snprintf(to, sizeof(to), "dir:%s", dir_a);
	snprintf(log, sizeof(log), "%s/restore.log", util_tmpdir());
	pid = util_spawn(argv, log, 0);
	usleep((useconds_t)delay_us);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	*finished = WIFEXITED(st) && WEXITSTATUS(st) == 0;
	n = db_contexts(b.path);
	return n == NOLD + NNEW + extra ? 0 : n == NOLD + 1 ? 1 : -1;
}

static void
test_killed(void)
{
	int before = 0, after = 0, bad = 0, killed_after = 0, delay = 0;
	struct run r;

	for (int i = 0; i < 60 && (before < 5 || after < 1); i++, delay += delay / 2 + 1000) {
		int fin, got = killed_restore(delay, &fin);

		if (got < 0) {
			bad++;
			tap_diag("after %d us: the database is neither the old nor the backup", delay);
			break;
		}
		if (got == 0) {
			before++;
			continue;
		}
		after++;
		killed_after += !fin;
		if (restore(dir_b, "latest", &r) != 0)	/* the old contents back for the next round */
			tap_bail("restore of the newer backup: %s", r.err);
		run_free(&r);
		delay = delay / 3;	/* look around the moment it finished */
	}
	is_int(bad, 0, "a restore SIGKILLed at any moment leaves a database that opens and passes "
	    "integrity_check");
	ok(before >= 5, "killed before the swap %d times: the old database, every context (%d)", before,
	    NOLD + NNEW + extra);
	ok(after >= 1, "past the swap %d times (%d of them killed): the backup's contents", after,
	    killed_after);
	is_int(restore(dir_a, "latest", &r), 0, "after all that a restore runs to its end: exit 0");
	like(r.out, "restored ", "and says so");
	run_free(&r);
	is_int(db_contexts(b.path), NOLD + 1, "the database holds the backup's contexts");
	{
		char before_path[4300];

		snprintf(before_path, sizeof(before_path), "%s.before-restore", b.path);
		ok(access(before_path, F_OK) != 0, "the old file kept aside is gone once the new one opened");
	}
}

/* A copy of backup a in dir whose manifest's key is set to the JSON text val (NULL: removed). */
static void
manifest_set(const char *dir, const char *key, const char *val, char *man, size_t size)
{
	char *text, *out;
	cJSON *m;

	copy_backup(dir, man, size);
	text = util_read_file(man, NULL);
	m = cJSON_Parse(text);
	cJSON_DeleteItemFromObject(m, key);
	if (val)
		cJSON_AddItemToObject(m, key, cJSON_Parse(val));
	out = cJSON_Print(m);
	util_write_file(man, out, strlen(out));
	free(out);
	free(text);
	cJSON_Delete(m);
}

/* Manifests that are refused before anything is decompressed. */
static void
test_bad_manifests(void)
{
	static const struct { const char *key, *val, *says, *what; } cases[] = {
		{ "db_bytes", "0", "db_bytes", "db_bytes 0 (no limit to decompressing)" },
		{ "created_at", NULL, "created_at", "no created_at" },
		{ "schema_version", "1e12", "schema_version", "a schema_version past int" },
	};
	char dir[4200], man[4400], *text;
	struct run r;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(dir, sizeof(dir), "%s/manifest%zu", util_tmpdir(), i);
		manifest_set(dir, cases[i].key, cases[i].val, man, sizeof(man));
		is_int(restore(man, NULL, &r), 1, "a manifest with %s: exit 1", cases[i].what);
		like(r.err, cases[i].says, "naming what is wrong");
		run_free(&r);
	}
	snprintf(dir, sizeof(dir), "%s/manifestjunk", util_tmpdir());
	copy_backup(dir, man, sizeof(man));
	text = util_read_file(man, NULL);
	text = realloc(text, strlen(text) + 8);
	strcat(text, "\n{{{\n");
	util_write_file(man, text, strlen(text));
	free(text);
	is_int(restore(man, NULL, &r), 1, "a manifest with something after its object: exit 1");
	like(r.err, "not one JSON object", "says so");
	run_free(&r);
	is_int(db_contexts(b.path), NOLD + NNEW + extra, "the database is unchanged");
}

/* A .db.gz holding no SQLite file is refused at its first bytes. */
static void
test_not_sqlite(void)
{
	char dir[4200], man[4400], gz[4400], rest[4300];
	char zeros[65536] = { 0 };
	gzFile out;
	struct run r;

	snprintf(dir, sizeof(dir), "%s/zeros", util_tmpdir());
	copy_backup(dir, man, sizeof(man));
	one_file(dir, ".db.gz", gz, sizeof(gz));
	out = gzopen(gz, "wb");
	for (int i = 0; i < 64; i++)
		gzwrite(out, zeros, sizeof(zeros));
	gzclose(out);
	manifest_fix(man, gz);
	is_int(restore(man, NULL, &r), 1, "a .db.gz of zeros with its right checksum: exit 1");
	like(r.err, "holds no SQLite database", "refused at its first bytes");
	run_free(&r);
	snprintf(rest, sizeof(rest), "%s.restore", b.path);
	ok(access(rest, F_OK) != 0, "nothing left beside the database");
}

/*
 * --db naming a file that is no database (a typo): restored all the same,
 * the file kept as <db>.before-restore for good, saying so; then a restore
 * over the restored one keeps it too; leftovers of a restore go.
 */
static void
test_not_a_db(void)
{
	char notes[4200], before[4300], to[4300], path[4400], *text;
	struct run r;

	snprintf(notes, sizeof(notes), "%s/notes.txt", util_tmpdir());
	snprintf(before, sizeof(before), "%s.before-restore", notes);
	snprintf(to, sizeof(to), "dir:%s", dir_a);
	util_write_file(notes, "my notes\n", 9);
	is_int(restore_db(notes, to, "latest", &r), 0, "restore-backup over a text file: exit 0");
	like(r.out, "kept as", "saying the old file is kept");
	run_free(&r);
	text = util_read_file(before, NULL);
	ok(text && strcmp(text, "my notes\n") == 0, "the text file is kept as .before-restore");
	free(text);
	is_int(db_contexts(notes), NOLD + 1, "and the backup is in place");
	snprintf(path, sizeof(path), "%s.restore-wal", notes);
	util_write_file(path, "x", 1);
	snprintf(path, sizeof(path), "%s.restore-shm", notes);
	util_write_file(path, "x", 1);
	is_int(restore_db(notes, to, "latest", &r), 0, "a second restore over it: exit 0");
	run_free(&r);
	snprintf(path, sizeof(path), "%s.1", before);
	text = util_read_file(path, NULL);
	ok(text && strcmp(text, "my notes\n") == 0,
	    "the text file is still kept (.before-restore.1)");
	free(text);
	snprintf(path, sizeof(path), "%s.restore-wal", notes);
	ok(access(path, F_OK) != 0, "no .restore-wal left");
	snprintf(path, sizeof(path), "%s.restore-shm", notes);
	ok(access(path, F_OK) != 0, "no .restore-shm left");
}

/* A symlinked --db: the restore goes through to the file, the link stays a link. */
static void
test_symlink(void)
{
	char real[4200], link[4200], to[4300];
	struct stat sb;
	struct run r;

	snprintf(real, sizeof(real), "%s/real.db", util_tmpdir());
	snprintf(link, sizeof(link), "%s/link.db", util_tmpdir());
	snprintf(to, sizeof(to), "dir:%s", dir_b);
	if (restore_db(real, to, "latest", &r))
		tap_bail("restore: %s", r.err);
	run_free(&r);
	if (symlink(real, link) < 0)
		tap_bail("symlink");
	snprintf(to, sizeof(to), "dir:%s", dir_a);
	is_int(restore_db(link, to, "latest", &r), 0, "restore-backup through a symlink: exit 0");
	run_free(&r);
	ok(lstat(link, &sb) == 0 && S_ISLNK(sb.st_mode), "the symlink is still one");
	is_int(db_contexts(real), NOLD + 1, "the file it names holds the backup");
}

/* A restore refused because another holds the lock exclusively says it is a restore. */
static void
test_second_restore(void)
{
	char lockp[4300];
	struct run r;
	int fd;

	snprintf(lockp, sizeof(lockp), "%s-lock", b.path);
	if ((fd = open(lockp, O_RDONLY | O_CREAT, 0644)) < 0 || flock(fd, LOCK_EX) < 0)
		tap_bail("lock %s", lockp);
	is_int(restore(dir_a, "latest", &r), 1, "a restore while another runs: exit 1");
	like(r.err, "a restore of database", "says a restore has it");
	ok(strstr(r.err, "running genbox command") == NULL, "not a running command");
	run_free(&r);
	close(fd);
}

int
main(void)
{
	struct gb_err err = { 0, "" };

	box_open(&b, 1);
	snprintf(dbarg, sizeof(dbarg), "--db=%s", b.path);
	snprintf(dir_a, sizeof(dir_a), "%s/a", util_tmpdir());
	snprintf(dir_b, sizeof(dir_b), "%s/b", util_tmpdir());
	box_put(&b, COLL_ORGANIZATIONS, "{\"_id\": \"org_123\", \"name\": \"Acme\", \"settings\": "
	    "{\"max_contexts_per_day\": 1000000, \"max_batch_size\": 5000}}");
	add_contexts(0, NOLD);
	box_close(&b);
	backup_to(dir_a);
	if (store_open(&b.st, b.path, NULL, &err))
		tap_bail("open: %s", err.msg);
	add_contexts(NOLD, NNEW);
	box_close(&b);
	backup_to(dir_b);
	setenv("GENBOX_GENERATOR_URL", "", 1);
	test_refused_running();
	test_refused_run_batch();
	test_flipped_byte();
	test_corrupt_inside();
	test_bad_manifests();
	test_not_sqlite();
	test_not_a_db();
	test_symlink();
	test_second_restore();
	test_killed();
	return tap_done();
}
