/* util.c - temporary directories and child processes for the tests. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "tap.h"
#include "util.h"

static char tmpdir[PATH_MAX];

static void
cleanup(void)
{
	char cmd[PATH_MAX + 16];

	if (tmpdir[0] && getenv("GENBOX_KEEP_TMP") == NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "# could not remove %s\n", tmpdir);
	}
}

const char *
util_tmpdir(void)
{
	const char *base = getenv("TMPDIR");

	if (tmpdir[0])
		return tmpdir;
	snprintf(tmpdir, sizeof(tmpdir), "%s/genbox-test-XXXXXX", base && *base ? base : "/tmp");
	if (mkdtemp(tmpdir) == NULL)
		tap_bail("mkdtemp: %s", strerror(errno));
	atexit(cleanup);
	return tmpdir;
}

const char *
util_genbox(void)
{
	const char *bin = getenv("GENBOX_BIN");

	return bin && *bin ? bin : "./genbox";
}

const char *
util_src(const char *rel, char *out, size_t size)
{
	const char *src = getenv("GENBOX_SRC");

	snprintf(out, size, "%s/%s", src && *src ? src : ".", rel);
	return out;
}

int
util_write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL)
		return -1;
	if (fwrite(data, 1, len, f) != len) {
		fclose(f);
		return -1;
	}
	return fclose(f) == 0 ? 0 : -1;
}

char *
util_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p = NULL;
	size_t cap = 0, n = 0, got;

	if (f == NULL)
		return NULL;
	do {
		if (n + 65536 + 1 > cap) {
			char *q = realloc(p, cap = (n + 65536 + 1) * 2);

			if (q == NULL) {
				free(p);
				fclose(f);
				return NULL;
			}
			p = q;
		}
		got = fread(p + n, 1, 65536, f);
		n += got;
	} while (got > 0);
	fclose(f);
	p[n] = '\0';
	if (len)
		*len = n;
	return p;
}

int
util_run(struct run *r, const char *in, size_t inlen, char *const argv[])
{
	char inpath[PATH_MAX], outpath[PATH_MAX], errpath[PATH_MAX];
	const char *dir = util_tmpdir();
	static int seq;
	pid_t pid;
	int st;

	memset(r, 0, sizeof(*r));
	seq++;
	snprintf(inpath, sizeof(inpath), "%s/.run%d.in", dir, seq);
	snprintf(outpath, sizeof(outpath), "%s/.run%d.out", dir, seq);
	snprintf(errpath, sizeof(errpath), "%s/.run%d.err", dir, seq);
	if (util_write_file(inpath, in ? in : "", in ? inlen : 0) < 0)
		tap_bail("cannot write %s", inpath);
	fflush(stdout);
	if ((pid = fork()) < 0)
		tap_bail("fork: %s", strerror(errno));
	if (pid == 0) {
		int fi = open(in ? inpath : "/dev/null", O_RDONLY);
		int fo = open(outpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int fe = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (fi < 0 || fo < 0 || fe < 0)
			_exit(126);
		dup2(fi, 0);
		dup2(fo, 1);
		dup2(fe, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			tap_bail("waitpid: %s", strerror(errno));
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	r->out = util_read_file(outpath, NULL);
	r->err = util_read_file(errpath, NULL);
	if (r->out == NULL || r->err == NULL)
		tap_bail("cannot read the output of %s", argv[0]);
	unlink(inpath);
	unlink(outpath);
	unlink(errpath);
	return r->status;
}

int
util_genbox_run(struct run *r, const char *in, ...)
{
	char *argv[64];
	va_list ap;
	int n = 0;

	argv[n++] = (char *)util_genbox();
	va_start(ap, in);
	while (n < 63 && (argv[n] = va_arg(ap, char *)) != NULL)
		n++;
	va_end(ap);
	argv[n] = NULL;
	return util_run(r, in, in ? strlen(in) : 0, argv);
}

void
run_free(struct run *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

int
util_json_equal(const char *a, const char *b)
{
	cJSON *x = cJSON_Parse(a), *y = cJSON_Parse(b);
	int eq = x && y && cJSON_Compare(x, y, 1);

	cJSON_Delete(x);
	cJSON_Delete(y);
	return eq;
}

pid_t
util_spawn(char *const argv[], const char *out, long long fsize)
{
	pid_t pid = fork();

	if (pid == 0) {
		int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600), fn = open("/dev/null", O_RDONLY);

		if (fsize > 0) {
			struct rlimit rl = { (rlim_t)fsize, (rlim_t)fsize };

			signal(SIGXFSZ, SIG_IGN);
			setrlimit(RLIMIT_FSIZE, &rl);
		}
		if (fo < 0 || fn < 0 || dup2(fn, 0) < 0 || dup2(fo, 1) < 0 || dup2(fo, 2) < 0)
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/*
 * SQL that puts a database of the latest schema back to what schema version
 * 1 made (step 2 only adds tables; step 3 tables, triggers, indexes and a
 * column; step 4 a table; step 5 tables and triggers): the stand-in for an
 * older genbox's database in the migration and upgrade tests. A new schema
 * step adds its undoing here.
 */
const char util_schema_v1_sql[] =
    "DROP TABLE box_jobs; DROP TABLE doc_migrations; "
    "DROP TRIGGER outbox_ctx_ins; DROP TRIGGER outbox_ctx_upd; "
    "DROP TRIGGER outbox_batch_ins; DROP TRIGGER outbox_batch_upd; "
    "DROP TRIGGER outbox_tmpl_ins; DROP TRIGGER outbox_tmpl_upd; "
    "DROP TRIGGER outbox_tmpl_del; DROP TRIGGER outbox_comp_ins; "
    "DROP TRIGGER outbox_comp_upd; DROP TRIGGER outbox_comp_del; "
    "DROP TABLE sync_meta; DROP TABLE outbox; DROP TABLE sync_rejected; "
    "DROP TABLE sync_checkpoint; DROP TABLE sync_status; DROP TABLE cluster_locks; "
    "DROP TABLE worker_heartbeats; DROP TABLE pipeline_stats; DROP TABLE api_keys; "
    "DROP TRIGGER ctx_counts_ins; DROP TRIGGER ctx_counts_upd; DROP TRIGGER ctx_counts_del; "
    "DROP TRIGGER ctx_throughput_upd; DROP TABLE ctx_counts; DROP TABLE ctx_throughput; "
    "DROP TABLE paused_batches; DROP INDEX ctx_list_org; DROP INDEX ctx_list_status; "
    "DROP INDEX ctx_list_user; DROP INDEX ctx_list_type; DROP INDEX ctx_list_batch; "
    "DROP INDEX batch_list; DROP INDEX batch_list_status; ALTER TABLE contexts DROP COLUMN title; "
    "CREATE INDEX ctx_user_recent ON contexts (user_id, organization_id, created_at); "
    "PRAGMA user_version = 1";
