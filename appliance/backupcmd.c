/*
 * backupcmd.c - `genbox backup` and `genbox restore-backup`, and the
 * backups serve and migrate take (backupcmd.h).
 *
 * A backup is made beside the database (storage/backup.h: a checked copy,
 * gzip, SHA-256), put to the target (which reads each object back and
 * compares size and checksum), the .db.gz first and its manifest last: a
 * backup counts once its manifest is there. Then the oldest beyond keep go,
 * manifest first.
 *
 * A restore takes the database's running lock exclusively for its whole
 * run (storage/upkeep.h): refused while serve or run-batch has the file
 * open, and neither can start until it is done. The backup is fetched and
 * checked (size and SHA-256 against the manifest, integrity_check and the
 * counts of the decompressed copy) before the database is touched.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../base/gbtime.h"
#include "../base/log.h"
#include "../storage/jobs.h"
#include "../storage/upkeep.h"
#include "../sync/target.h"
#include "backupcmd.h"
#include "cli.h"

#define MANIFEST_SUFFIX ".manifest.json"
#define GZ_SUFFIX ".db.gz"
#define MANIFEST_MAX (64 * 1024)

void
backupcmd_default_to(const struct config *cfg, char *out, size_t size)
{
	char dir[sizeof(cfg->db_path)];

	if (cfg->backup_to[0]) {
		snprintf(out, size, "%s", cfg->backup_to);
		return;
	}
	snprintf(dir, sizeof(dir), "%s", cfg->db_path);
	snprintf(out, size, "dir:%s/backups", dirname(dir));
}

void
backupcmd_restore_hint(const struct config *cfg, char *out, size_t size)
{
	char to[1100];

	backupcmd_default_to(cfg, to, sizeof(to));
	snprintf(out, size, "genbox --db %s restore-backup %s latest", cfg->db_path, to);
}

static int
target_for(const struct config *cfg, const char *spec, struct target **t, struct gb_err *err)
{
	struct target_s3 s3 = { cfg->s3_endpoint, cfg->s3_region, cfg->s3_access_key,
		cfg->s3_secret_key, cfg->s3_timeout_ms };

	return target_open(t, spec, &s3, err);
}

static int
has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

#define STAMP_FORM "genbox-ddddddddTdddddd.dddZ"	/* d: a digit */

/*
 * Whether name is a backup's own: "genbox-YYYYMMDDTHHMMSS.mmmZ" and suffix.
 * Only those are ranked (by that time: the names sort by it), pruned and
 * "latest"; others are restored by their name only.
 */
static int
stamped(const char *name, const char *suffix)
{
	size_t n = sizeof(STAMP_FORM) - 1;

	if (strlen(name) < n || strcmp(name + n, suffix) != 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (STAMP_FORM[i] == 'd' ? name[i] < '0' || name[i] > '9' :
		    name[i] != STAMP_FORM[i])
			return 0;
	return 1;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The backups at t (every "genbox-*" name), sorted. */
static int
list_all(struct target *t, char ***names, int *n, struct gb_err *err)
{
	int rc;

	if ((rc = target_list(t, "genbox-", names, n, err)))
		return rc;
	if (*n > 1)
		qsort(*names, (size_t)*n, sizeof(**names), name_cmp);
	return 0;
}

/* The backups' own manifests at t (see stamped), oldest first. */
static int
list_manifests(struct target *t, char ***names, int *n, struct gb_err *err)
{
	int rc, k = 0;

	if ((rc = list_all(t, names, n, err)))
		return rc;
	for (int i = 0; i < *n; i++) {
		if (stamped((*names)[i], MANIFEST_SUFFIX))
			(*names)[k++] = (*names)[i];
		else
			free((*names)[i]);
	}
	*n = k;
	return 0;
}

/* Whether gz (a stamped .db.gz) has its manifest among names[0..n). */
static int
has_manifest(const char *gz, char **names, int n)
{
	char m[BACKUP_NAME_MAX * 2];

	snprintf(m, sizeof(m), "%.*s%s", (int)(strlen(gz) - strlen(GZ_SUFFIX)), gz,
	    MANIFEST_SUFFIX);
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], m) == 0)
			return 1;
	return 0;
}

/*
 * Delete the oldest backups at t beyond keep (manifest first, then its
 * .db.gz), and the .db.gz left without a manifest (a backup cut short
 * between its two puts) older than the newest complete backup.
 */
static int
keep_newest(struct target *t, int keep, int *deleted, struct gb_err *err)
{
	char **names = NULL, **man = NULL, newest[BACKUP_NAME_MAX * 2] = "";
	int n = 0, nm = 0, rc;

	*deleted = 0;
	if (keep <= 0)
		return 0;
	if ((rc = list_all(t, &names, &n, err)))
		return rc;
	if ((man = calloc((size_t)n + 1, sizeof(*man))) == NULL) {
		target_names_free(names, n);
		return gb_errf(err, GB_ENOMEM, "out of memory");
	}
	for (int i = 0; i < n; i++)
		if (stamped(names[i], MANIFEST_SUFFIX))
			man[nm++] = names[i];
	if (nm > 0)
		snprintf(newest, sizeof(newest), "%s", man[nm - 1]);
	for (int i = 0; i < n && rc == 0 && nm > 0; i++)
		if (stamped(names[i], GZ_SUFFIX) && !has_manifest(names[i], man, nm) &&
		    strncmp(names[i], newest, sizeof(STAMP_FORM) - 1) < 0 &&
		    (rc = target_delete(t, names[i], err)) == 0)
			(*deleted)++;
	for (int i = 0; i < nm - keep && rc == 0; i++) {
		char gz[BACKUP_NAME_MAX * 2];
		size_t stem = strlen(man[i]) - strlen(MANIFEST_SUFFIX);

		snprintf(gz, sizeof(gz), "%.*s%s", (int)stem, man[i], GZ_SUFFIX);
		if ((rc = target_delete(t, man[i], err)) == 0 &&
		    (rc = target_delete(t, gz, err)) == 0)
			(*deleted)++;
	}
	free(man);
	target_names_free(names, n);
	return rc;
}

/* The local file the backup passes through: beside the database. */
static void
local_gz(const struct config *cfg, char *out, size_t size)
{
	snprintf(out, size, "%s.backup-%ld.gz", cfg->db_path, (long)getpid());
}

/*
 * The files a backup killed halfway left beside the database
 * ("<db>.backup-PID.gz" and its ".db"), once their process is gone.
 */
static void
local_sweep(const struct config *cfg)
{
	char dir[sizeof(cfg->db_path)], base[sizeof(cfg->db_path)], head[1100], path[4400];
	const char *folder;
	struct dirent *e;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s", cfg->db_path);
	snprintf(base, sizeof(base), "%s", cfg->db_path);
	snprintf(head, sizeof(head), "%s.backup-", basename(base));
	if ((d = opendir(folder = dirname(dir))) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		char *end;
		long pid;

		if (strncmp(e->d_name, head, strlen(head)) != 0)
			continue;
		pid = strtol(e->d_name + strlen(head), &end, 10);
		if (pid <= 0 || strncmp(end, ".gz", 3) != 0 ||
		    (pid != (long)getpid() && kill((pid_t)pid, 0) == 0) || errno == EPERM)
			continue;
		snprintf(path, sizeof(path), "%s/%s", folder, e->d_name);
		unlink(path);
	}
	closedir(d);
}

/*
 * What a restore killed halfway left beside db ("<db>.restore", its .gz,
 * -wal, -shm), when no restore is under way (the running lock is free of
 * one).
 */
static void
restore_sweep(const char *db)
{
	static const char *const tails[] = { ".restore", ".restore.gz", ".restore-wal",
		".restore-shm" };
	struct gb_err err = { 0, "" };
	char real[PATH_MAX], path[PATH_MAX + 16];
	int fd = -1;

	if (realpath(db, real) == NULL || store_lock_running(real, &fd, &err) || fd < 0)
		return;
	for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", real, tails[i]);
		unlink(path);
	}
	store_lock_release(fd);
}

static int
put_backup(struct target *t, const char *gz_path, struct backup_info *bi, const char *mname,
    struct gb_err *err)
{
	char *json = NULL;
	int rc;

	if ((rc = target_put_file(t, bi->name, gz_path, err)) ||
	    (rc = backup_manifest_json(bi, &json, err)))
		return rc;
	rc = target_put(t, mname, json, strlen(json), err);
	free(json);
	return rc;
}

int
backupcmd_take(const struct config *cfg, const char *to, int keep,
    const atomic_int *stop, struct backup_info *bi, char *where, size_t size,
    struct gb_err *err)
{
	char spec[1100], gz_path[sizeof(cfg->db_path) + 64], mname[BACKUP_NAME_MAX];
	struct target *t = NULL;
	int rc, deleted = 0;

	if (to == NULL || *to == '\0')
		backupcmd_default_to(cfg, spec, sizeof(spec));
	else
		snprintf(spec, sizeof(spec), "%s", to);
	if ((rc = target_for(cfg, spec, &t, err)))
		return rc;
	local_sweep(cfg);
	restore_sweep(cfg->db_path);
	local_gz(cfg, gz_path, sizeof(gz_path));
	if ((rc = backup_make(cfg->db_path, gz_path, 0, stop, bi, err)) == 0) {
		backup_names(bi->created_ms, bi->name, mname);
		rc = put_backup(t, gz_path, bi, mname, err);
	}
	unlink(gz_path);
	if (rc == 0) {
		struct gb_err perr = { 0, "" };

		/* the backup is good whatever pruning does: a failure is a warning */
		if (keep_newest(t, keep, &deleted, &perr))
			log_warnx("event=backups_prune_failed target=\"%s\" reason=\"%s\"", spec,
			    perr.msg);
		if (deleted > 0)
			log_info("event=backups_pruned target=\"%s\" deleted=%d keep=%d", spec,
			    deleted, keep);
	}
	if (where)
		snprintf(where, size, "%s/%s", spec, bi->name);
	target_close(t);
	return rc;
}

int
backupcmd_before_migrate(const struct config *cfg, const char *who, int *taken,
    struct gb_err *err)
{
	char where[1400];
	struct backup_info bi;
	struct stat sb;
	int v, rc;

	*taken = 0;
	if (stat(cfg->db_path, &sb) < 0 || sb.st_size == 0)
		return 0;	/* a new database: nothing to lose */
	if ((rc = store_file_version(cfg->db_path, &v, err)))
		return rc;
	if (v == 0 || v >= store_schema_latest())
		return 0;
	log_info("event=backup_before_migration by=%s from_version=%d to_version=%d", who, v,
	    store_schema_latest());
	if ((rc = backupcmd_take(cfg, NULL, cfg->backup_keep, NULL, &bi, where, sizeof(where),
	    err))) {
		char msg[sizeof(err->msg)];

		snprintf(msg, sizeof(msg), "%s", err->msg);
		gb_err_clear(err);
		return gb_errf(err, rc, "no migration without a backup first: %s", msg);
	}
	log_info("event=backup_taken by=%s file=\"%s\" bytes=%lld sha256=%s", who, where,
	    (long long)bi.bytes, bi.sha256);
	*taken = 1;
	return 0;
}

/* ---- genbox backup ---- */

/* The backup's job row in the database, when its schema has box_jobs (else nothing). */
static struct store *
job_begin(const struct config *cfg)
{
	struct store_opts o = { 0, 0, cfg->sync_full, cfg->busy_timeout_ms, 0, 0 };
	struct gb_err err = { 0, "" };
	struct store *st = NULL;

	if (store_open(&st, cfg->db_path, &o, &err) == 0 &&
	    store_job_begin(st, "backup", gb_now_ms(), &err) == 0)
		return st;
	store_close(st);
	return NULL;
}

static void
job_end(struct store *st, int ok, const struct backup_info *bi, const char *error)
{
	struct gb_err err = { 0, "" };
	char counts[128];

	if (st == NULL)
		return;
	snprintf(counts, sizeof(counts), "{\"bytes\":%lld,\"contexts\":%lld}",
	    ok ? (long long)bi->bytes : 0LL, ok ? (long long)bi->counts[COLL_CONTEXTS] : 0LL);
	if (store_job_end(st, "backup", gb_now_ms(), ok, counts, error, &err))
		log_warnx("event=job_row job=backup reason=\"%s\"", err.msg);
	store_close(st);
}

int
cmd_backup(const struct config *cfg, int argc, char **argv)
{
	static const struct option longs[] = { { "to", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 } };
	struct gb_err err = { 0, "" };
	const char *to = NULL;
	struct backup_info bi;
	struct store *job;
	char where[1400];
	int ch, rc;

	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		if (ch != 't') {
			cli_fail("backup", "unknown option or missing value '%s'", argv[optind - 1]);
			fprintf(stderr, "Try 'genbox backup --help'.\n");
			return 1;
		}
		to = optarg;
	}
	if (optind < argc) {
		cli_fail("backup", "unexpected argument '%s'", argv[optind]);
		fprintf(stderr, "Try 'genbox backup --help'.\n");
		return 1;
	}
	job = job_begin(cfg);
	rc = backupcmd_take(cfg, to, cfg->backup_keep, NULL, &bi, where, sizeof(where), &err);
	job_end(job, rc == 0, &bi, rc ? err.msg : NULL);
	if (rc)
		return cli_fail("backup", "%s", err.msg);
	printf("backup %s: %lld bytes (database %lld bytes), sha256 %s, schema version %d, "
	    "%lld context%s\n", where, (long long)bi.bytes, (long long)bi.db_bytes, bi.sha256,
	    bi.schema_version, (long long)bi.counts[COLL_CONTEXTS],
	    bi.counts[COLL_CONTEXTS] == 1 ? "" : "s");
	return 0;
}

/* ---- genbox restore-backup ---- */

struct restore {
	const char *db;			/* the database to replace (resolved) */
	char real[PATH_MAX];		/* db through its symlinks, when it exists */
	char spec[4200];		/* the target the backup is read from */
	char name[1024];		/* its manifest's name there, or "latest" */
	char gz_path[4300];		/* the fetched .gz, beside the database */
	char new_path[4300];		/* the decompressed copy, beside the database */
	struct backup_info want;	/* what the manifest says */
	struct backup_info got;		/* what the copy holds */
	int swapped;			/* the copy is in place */
	int kept;			/* the old file was no database: kept aside */
};

/* SOURCE (and NAME) into a target and a manifest's name. */
static int
restore_source(struct restore *r, const char *source, const char *name, struct gb_err *err)
{
	char tmp[4200];
	size_t n;

	if (strncmp(source, "dir:", 4) == 0 || strncmp(source, "s3://", 5) == 0) {
		snprintf(r->spec, sizeof(r->spec), "%s", source);
		snprintf(r->name, sizeof(r->name), "%s", name ? name : "latest");
	} else {
		if (name)
			return gb_errf(err, GB_EINVAL, "a NAME goes with a target (dir:PATH or "
			    "s3://bucket/prefix), not with the file '%s'", source);
		snprintf(tmp, sizeof(tmp), "%s", source);
		snprintf(r->spec, sizeof(r->spec), "dir:%s", dirname(tmp));
		snprintf(tmp, sizeof(tmp), "%s", source);
		snprintf(r->name, sizeof(r->name), "%s", basename(tmp));
	}
	n = strlen(r->name);
	if (has_suffix(r->name, GZ_SUFFIX))
		snprintf(r->name + n - strlen(GZ_SUFFIX), sizeof(r->name) - n + strlen(GZ_SUFFIX),
		    "%s", MANIFEST_SUFFIX);
	else if (!has_suffix(r->name, MANIFEST_SUFFIX) && strcmp(r->name, "latest") != 0 &&
	    n + strlen(MANIFEST_SUFFIX) < sizeof(r->name))
		snprintf(r->name + n, sizeof(r->name) - n, "%s", MANIFEST_SUFFIX);
	return 0;
}

/* The manifest (the newest for "latest") into r->want, and the .gz fetched. */
static int
restore_fetch(struct restore *r, struct target *t, struct gb_err *err)
{
	char **names = NULL, gz[BACKUP_NAME_MAX * 2];
	void *data = NULL;
	size_t len = 0;
	int n = 0, rc;

	if (strcmp(r->name, "latest") == 0) {
		if ((rc = list_manifests(t, &names, &n, err)))
			return rc;
		if (n > 0)
			snprintf(r->name, sizeof(r->name), "%s", names[n - 1]);
		target_names_free(names, n);
		if (n == 0)
			return gb_errf(err, GB_ENOTFOUND, "%s holds no backup", r->spec);
	}
	if ((rc = target_get(t, r->name, &data, &len, err))) {
		if (rc == GB_ENOTFOUND) {
			gb_err_clear(err);
			gb_errf(err, rc, "%s/%s: no such manifest", r->spec, r->name);
		}
		return rc;
	}
	rc = len > MANIFEST_MAX ? gb_errf(err, GB_EINVAL, "%s/%s: not a manifest (%zu bytes)",
	    r->spec, r->name, len) : backup_manifest_parse(data, len, &r->want, err);
	free(data);
	if (rc)
		return rc;
	if (r->want.name[0] == '\0' || strchr(r->want.name, '/'))
		snprintf(r->want.name, sizeof(r->want.name), "%.*s%s",
		    (int)(strlen(r->name) - strlen(MANIFEST_SUFFIX)), r->name, GZ_SUFFIX);
	snprintf(gz, sizeof(gz), "%s", r->want.name);
	return target_get_file(t, gz, r->gz_path, err);
}

/* The decompressed copy holds what the manifest says it does. */
static int
restore_compare(const struct restore *r, struct gb_err *err)
{
	if (r->got.schema_version != r->want.schema_version)
		return gb_errf(err, GB_EINVAL, "%s: schema version %d, the manifest says %d",
		    r->want.name, r->got.schema_version, r->want.schema_version);
	for (int c = 0; c < COLL_COUNT; c++)
		if (r->got.counts[c] != r->want.counts[c])
			return gb_errf(err, GB_EINVAL, "%s: %lld %s, the manifest says %lld",
			    r->want.name, (long long)r->got.counts[c], coll_name((enum coll)c),
			    (long long)r->want.counts[c]);
	return 0;
}

/* The restore's own files beside the database: the fetched .gz, the copy, its -wal/-shm. */
static void
restore_leftovers(const struct restore *r)
{
	char path[sizeof(r->new_path) + 8];

	unlink(r->gz_path);
	unlink(r->new_path);
	snprintf(path, sizeof(path), "%s-wal", r->new_path);
	unlink(path);
	snprintf(path, sizeof(path), "%s-shm", r->new_path);
	unlink(path);
}

static int
restore_run(const struct config *cfg, struct restore *r, struct gb_err *err)
{
	struct target *t = NULL;
	int rc, v;

	snprintf(r->gz_path, sizeof(r->gz_path), "%s.restore.gz", r->db);
	snprintf(r->new_path, sizeof(r->new_path), "%s.restore", r->db);
	restore_leftovers(r);
	if ((rc = target_for(cfg, r->spec, &t, err)) || (rc = restore_fetch(r, t, err)) ||
	    (rc = backup_unpack(r->gz_path, &r->want, r->new_path, &r->got, err)) ||
	    (rc = restore_compare(r, err)))
		goto out;
	if ((rc = backup_swap(r->db, r->new_path, &r->kept, err)))
		goto out;
	r->swapped = 1;
	/* the old file goes once the new one opens; one that was no database stays */
	if ((rc = store_file_version(r->db, &v, err)) == 0 && !r->kept)
		backup_swap_done(r->db);
out:
	restore_leftovers(r);
	target_close(t);
	return rc;
}

int
cmd_restore_backup(const struct config *cfg, int argc, char **argv)
{
	static const struct option longs[] = { { "db", required_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 } };
	struct gb_err err = { 0, "" };
	char at[GB_TIME_LEN];
	struct restore r;
	int ch, rc, lock = -1;

	memset(&r, 0, sizeof(r));
	r.db = cfg->db_path;
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		if (ch != 'd') {
			cli_fail("restore-backup", "unknown option or missing value '%s'",
			    argv[optind - 1]);
			fprintf(stderr, "Try 'genbox restore-backup --help'.\n");
			return 1;
		}
		r.db = optarg;
	}
	if (argc - optind < 1 || argc - optind > 2) {
		cli_fail("restore-backup", "expected SOURCE (a manifest or .db.gz file, or a "
		    "target and a NAME)");
		fprintf(stderr, "Try 'genbox restore-backup --help'.\n");
		return 1;
	}
	/* through symlinks: the lock and the swap are the real file's */
	if (realpath(r.db, r.real) != NULL)
		r.db = r.real;
	if ((rc = restore_source(&r, argv[optind], argc - optind == 2 ? argv[optind + 1] : NULL,
	    &err)) || (rc = store_lock_exclusive(r.db, &lock, &err)) ||
	    (rc = restore_run(cfg, &r, &err))) {
		store_lock_release(lock);
		return cli_fail("restore-backup", "%s%s", err.msg,
		    r.swapped ? "" : " (the database was not changed)");
	}
	store_lock_release(lock);
	printf("restored %s from %s/%s (taken %s): schema version %d, %lld context%s, "
	    "%lld batch%s\n", r.db, r.spec, r.want.name, gb_time_format(r.want.created_ms, at),
	    r.got.schema_version, (long long)r.got.counts[COLL_CONTEXTS],
	    r.got.counts[COLL_CONTEXTS] == 1 ? "" : "s", (long long)r.got.counts[COLL_BATCHES],
	    r.got.counts[COLL_BATCHES] == 1 ? "" : "es");
	if (r.kept)
		printf("the file that was at %s has no SQLite header (no database, or a damaged "
		    "one): it is kept as %s.before-restore\n", r.db, r.db);
	if (r.got.schema_version < store_schema_latest())
		printf("its schema (version %d) is migrated by 'genbox migrate' or at the next "
		    "start of 'genbox serve'\n", r.got.schema_version);
	return 0;
}
