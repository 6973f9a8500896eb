/*
 * backup.c - taking a backup (backup.h): the online backup API from one
 * read transaction of the live file into a temporary copy, the copy checked
 * (integrity_check) and counted, gzip, SHA-256, and the manifest's JSON.
 * Putting one back is restore.c's.
 *
 * The source's read transaction is opened before the first step and held to
 * the last, so the steps copy one snapshot and another connection's commit
 * never restarts the copy; in WAL mode a reader holds up no writer (only
 * the checkpoint waits for it to end).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "../base/gbtime.h"
#include "backup.h"
#include "internal.h"

#define BACKUP_STEP_PAGES 1024
#define BACKUP_BUSY_TRIES 3000		/* 10 ms apart: 30 s of a locked source */
#define BACKUP_CHUNK (128 * 1024)

void
backup_names(int64_t ms, char gz[BACKUP_NAME_MAX], char manifest[BACKUP_NAME_MAX])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char stamp[32];

	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
	snprintf(gz, BACKUP_NAME_MAX, "genbox-%s.%03dZ.db.gz", stamp, (int)(ms % 1000));
	snprintf(manifest, BACKUP_NAME_MAX, "genbox-%s.%03dZ.manifest.json", stamp,
	    (int)(ms % 1000));
}

/* The one-value answer of sql on db into *v. */
static int
db_int(sqlite3 *db, const char *sql, int64_t *v)
{
	sqlite3_stmt *stmt = NULL;
	int rc = SQLITE_OK;

	if ((rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL)) == SQLITE_OK) {
		if ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
			*v = sqlite3_column_int64(stmt, 0);
			rc = SQLITE_OK;
		}
	}
	sqlite3_finalize(stmt);
	return rc;
}

/*
 * PRAGMA integrity_check of db: 0 when "ok", else GB_EINVAL with the first
 * line of what it found.
 */
static int
db_integrity(sqlite3 *db, const char *path, struct gb_err *err)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, NULL) != SQLITE_OK ||
	    sqlite3_step(stmt) != SQLITE_ROW) {
		rc = gb_errf(err, GB_EINVAL, "'%s' fails its integrity check: %s", path,
		    sqlite3_errmsg(db));
	} else {
		const char *first = (const char *)sqlite3_column_text(stmt, 0);
		static const char head[] = "*** in database main ***\n";

		if (first && strncmp(first, head, sizeof(head) - 1) == 0)
			first += sizeof(head) - 1;
		rc = first && strcmp(first, "ok") == 0 ? 0 :
		    gb_errf(err, GB_EINVAL, "'%s' fails its integrity check: %.*s", path,
		    first ? (int)(strcspn(first, "\n") < 160 ? strcspn(first, "\n") : 160) : 1,
		    first ? first : "?");
	}
	sqlite3_finalize(stmt);
	return rc;
}

/* Schema version and documents per collection of the database db (a checked copy). */
static int
db_describe(sqlite3 *db, const char *path, struct backup_info *bi, struct gb_err *err)
{
	int64_t v;

	if (db_int(db, "PRAGMA user_version", &v) != SQLITE_OK)
		return gb_errf(err, GB_EINVAL, "'%s': %s", path, sqlite3_errmsg(db));
	if (v > store_schema_latest())
		return gb_errf(err, GB_EVERSION, "'%s' has schema version %lld, newer than this "
		    "genbox (version %d)", path, (long long)v, store_schema_latest());
	bi->schema_version = (int)v;
	for (int c = 0; c < COLL_COUNT; c++) {
		char sql[96];

		snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", coll_name((enum coll)c));
		if (db_int(db, sql, &bi->counts[c]) != SQLITE_OK)
			return gb_errf(err, GB_EINVAL, "'%s' is not a genbox database: %s", path,
			    sqlite3_errmsg(db));
	}
	return 0;
}

int
backup_file_sha256(const char *path, int64_t *size, char hex[65], struct gb_err *err)
{
	unsigned char buf[65536], md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = NULL;
	int64_t total = 0;
	int fd, rc = 0;
	ssize_t n;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return gb_errf(err, errno == ENOENT ? GB_ENOTFOUND : GB_EIO, "cannot open '%s': %s",
		    path, strerror(errno));
	if ((ctx = EVP_MD_CTX_new()) == NULL || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		rc = gb_errf(err, GB_ENOMEM, "sha256: cannot start");
		goto out;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (!EVP_DigestUpdate(ctx, buf, (size_t)n)) {
			rc = gb_errf(err, GB_EIO, "sha256 of '%s': cannot compute", path);
			goto out;
		}
		total += n;
	}
	if (n < 0) {
		rc = gb_errf(err, GB_EIO, "cannot read '%s': %s", path, strerror(errno));
		goto out;
	}
	if (!EVP_DigestFinal_ex(ctx, md, &mdlen)) {
		rc = gb_errf(err, GB_EIO, "sha256 of '%s': cannot compute", path);
		goto out;
	}
	for (unsigned int i = 0; i < mdlen && i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	hex[64] = '\0';
	*size = total;
out:
	EVP_MD_CTX_free(ctx);
	close(fd);
	return rc;
}

/* The backup API's steps from src into dst, waiting out a locked source. */
static int
copy_steps(sqlite3 *src, sqlite3 *dst, int step_pages, const atomic_int *stop,
    struct gb_err *err)
{
	sqlite3_backup *b;
	int rc, tries = 0;

	if ((b = sqlite3_backup_init(dst, "main", src, "main")) == NULL)
		return gb_errf(err, GB_EIO, "backup: %s", sqlite3_errmsg(dst));
	while ((rc = sqlite3_backup_step(b, step_pages)) != SQLITE_DONE) {
		if (stop && atomic_load(stop)) {
			sqlite3_backup_finish(b);
			return gb_errf(err, GB_ESTATE, "backup: stopped");
		}
		if ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && ++tries < BACKUP_BUSY_TRIES) {
			sqlite3_sleep(10);
			continue;
		}
		if (rc != SQLITE_OK)
			break;
	}
	sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE)
		return gb_errf(err, rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? GB_EBUSY : GB_EIO,
		    "backup: %s", sqlite3_errstr(rc));
	return 0;
}

/* The source's read transaction: the snapshot every step copies. */
static int
source_open(const char *db_path, sqlite3 **src, struct gb_err *err)
{
	struct stat sb;
	int64_t v;

	if (stat(db_path, &sb) < 0)
		return gb_errf(err, GB_ENOTFOUND, "database '%s' does not exist", db_path);
	if (!S_ISREG(sb.st_mode))
		return gb_errf(err, GB_EINVAL, "'%s' is not a regular file", db_path);
	if (sqlite3_open_v2(db_path, src, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
		return gb_errf(err, GB_EIO, "cannot open database '%s': %s", db_path,
		    *src ? sqlite3_errmsg(*src) : "out of memory");
	sqlite3_busy_timeout(*src, 30000);
	if (sqlite3_exec(*src, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
	    db_int(*src, "SELECT count(*) FROM sqlite_schema", &v) != SQLITE_OK)
		return gb_errf(err, GB_EIO, "cannot read database '%s': %s", db_path,
		    sqlite3_errmsg(*src));
	return 0;
}

/* box_jobs' "backup" row of the copy (when the schema has one) no longer running. */
static int
copy_job_idle(sqlite3 *dst, struct gb_err *err)
{
	int64_t has = 0;

	if (db_int(dst, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND "
	    "name = 'box_jobs'", &has) != SQLITE_OK)
		return gb_errf(err, GB_EIO, "backup copy: %s", sqlite3_errmsg(dst));
	if (has && sqlite3_exec(dst, "UPDATE box_jobs SET running = 0 WHERE job = 'backup'",
	    NULL, NULL, NULL) != SQLITE_OK)
		return gb_errf(err, GB_EIO, "backup copy: %s", sqlite3_errmsg(dst));
	return 0;
}

/* A checked copy of db_path at copy_path, described in *bi. */
static int
backup_copy(const char *db_path, const char *copy_path, int step_pages,
    const atomic_int *stop, struct backup_info *bi, struct gb_err *err)
{
	sqlite3 *src = NULL, *dst = NULL;
	struct stat sb;
	int rc;

	unlink(copy_path);
	if ((rc = source_open(db_path, &src, err)))
		goto out;
	if (sqlite3_open_v2(copy_path, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
	    NULL) != SQLITE_OK) {
		rc = gb_errf(err, GB_EIO, "cannot create '%s': %s", copy_path,
		    dst ? sqlite3_errmsg(dst) : "out of memory");
		goto out;
	}
	if ((rc = copy_steps(src, dst, step_pages, stop, err)))
		goto out;
	sqlite3_exec(src, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(src);
	src = NULL;
	/* the copy stands alone: no WAL to carry along */
	if (sqlite3_exec(dst, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL) != SQLITE_OK) {
		rc = gb_errf(err, GB_EIO, "backup copy: %s", sqlite3_errmsg(dst));
		goto out;
	}
	/* the copy's own job row was "running" at copy time: no restore shows it so */
	if ((rc = copy_job_idle(dst, err)) ||
	    (rc = db_integrity(dst, db_path, err)) || (rc = db_describe(dst, db_path, bi, err)))
		goto out;
	if (stat(copy_path, &sb) < 0) {
		rc = gb_errf(err, GB_EIO, "'%s': %s", copy_path, strerror(errno));
		goto out;
	}
	bi->db_bytes = (int64_t)sb.st_size;
out:
	sqlite3_close(src);
	sqlite3_close(dst);
	return rc;
}

/* path into a new gzip file gz_path, fsynced. */
static int
gzip_file(const char *path, const char *gz_path, const atomic_int *stop, struct gb_err *err)
{
	char *buf = NULL;
	int in = -1, out = -1, dupfd = -1, rc = 0;
	gzFile gz = NULL;
	ssize_t n;

	if ((in = open(path, O_RDONLY | O_CLOEXEC)) < 0 ||
	    (out = open(gz_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
		rc = gb_errf(err, GB_EIO, "cannot open '%s': %s", in < 0 ? path : gz_path,
		    strerror(errno));
		goto out;
	}
	if ((buf = malloc(BACKUP_CHUNK)) == NULL) {
		rc = gb_errf(err, GB_ENOMEM, "out of memory");
		goto out;
	}
	if ((dupfd = dup(out)) < 0 || (gz = gzdopen(dupfd, "wb6")) == NULL) {
		rc = gb_errf(err, GB_EIO, "cannot write '%s': %s", gz_path,
		    dupfd < 0 ? strerror(errno) : "gzip cannot start");
		if (dupfd >= 0)
			close(dupfd);
		goto out;
	}
	while ((n = read(in, buf, BACKUP_CHUNK)) > 0) {
		if (stop && atomic_load(stop)) {
			rc = gb_errf(err, GB_ESTATE, "backup: stopped");
			goto out;
		}
		if (gzwrite(gz, buf, (unsigned)n) != (int)n) {
			rc = gb_errf(err, GB_EIO, "cannot write '%s'", gz_path);
			goto out;
		}
	}
	if (n < 0)
		rc = gb_errf(err, GB_EIO, "cannot read '%s': %s", path, strerror(errno));
out:
	if (gz && gzclose(gz) != Z_OK && rc == 0)
		rc = gb_errf(err, GB_EIO, "cannot write '%s'", gz_path);
	if (out >= 0 && rc == 0 && fsync(out) < 0)
		rc = gb_errf(err, GB_EIO, "cannot write '%s': %s", gz_path, strerror(errno));
	if (out >= 0)
		close(out);
	if (in >= 0)
		close(in);
	free(buf);
	return rc;
}

int
backup_make(const char *db_path, const char *gz_path, int step_pages,
    const atomic_int *stop, struct backup_info *out, struct gb_err *err)
{
	char copy[4200];
	int rc;

	memset(out, 0, sizeof(*out));
	out->created_ms = gb_now_ms();
	if (snprintf(copy, sizeof(copy), "%s.db", gz_path) >= (int)sizeof(copy))
		return gb_errf(err, GB_EINVAL, "path too long: '%.64s...'", gz_path);
	rc = backup_copy(db_path, copy, step_pages > 0 ? step_pages : BACKUP_STEP_PAGES, stop,
	    out, err);
	if (rc == 0)
		rc = gzip_file(copy, gz_path, stop, err);
	unlink(copy);
	if (rc == 0)
		rc = backup_file_sha256(gz_path, &out->bytes, out->sha256, err);
	if (rc)
		unlink(gz_path);
	return rc;
}

int
backup_manifest_json(const struct backup_info *bi, char **out, struct gb_err *err)
{
	char at[GB_TIME_LEN];
	cJSON *m = cJSON_CreateObject(), *counts = cJSON_CreateObject();

	*out = NULL;
	cJSON_AddItemToObject(m, "file", cJSON_CreateString(bi->name));
	cJSON_AddNumberToObject(m, "schema_version", bi->schema_version);
	for (int c = 0; c < COLL_COUNT; c++)
		cJSON_AddNumberToObject(counts, coll_name((enum coll)c), (double)bi->counts[c]);
	cJSON_AddItemToObject(m, "counts", counts);
	cJSON_AddNumberToObject(m, "bytes", (double)bi->bytes);
	cJSON_AddStringToObject(m, "sha256", bi->sha256);
	cJSON_AddNumberToObject(m, "db_bytes", (double)bi->db_bytes);
	cJSON_AddStringToObject(m, "created_at", gb_time_format(bi->created_ms, at));
	*out = cJSON_Print(m);
	cJSON_Delete(m);
	return *out ? 0 : gb_errf(err, GB_ENOMEM, "out of memory");
}

/* A whole non-negative number field of m into *v. */
static int
manifest_num(const cJSON *m, const char *key, int64_t *v, struct gb_err *err)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(m, key);

	if (!cJSON_IsNumber(j) || j->valuedouble < 0 || j->valuedouble > 9e15 ||
	    j->valuedouble != (double)(int64_t)j->valuedouble)
		return gb_errf(err, GB_EINVAL, "manifest: '%s' is not a whole number", key);
	*v = (int64_t)j->valuedouble;
	return 0;
}

int
backup_manifest_parse(const char *text, size_t len, struct backup_info *bi,
    struct gb_err *err)
{
	const char *end = NULL;
	cJSON *m = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	const cJSON *counts;
	const char *s;
	int64_t v;
	int rc;

	memset(bi, 0, sizeof(*bi));
	/* nothing but white space after the object */
	while (m && end && end < text + len && strchr(" \t\r\n", *end) && *end)
		end++;
	if (!cJSON_IsObject(m) || end != text + len) {
		rc = gb_errf(err, GB_EINVAL, "manifest: not one JSON object%s",
		    m ? " (something follows it)" : "");
		goto out;
	}
	if ((rc = manifest_num(m, "schema_version", &v, err)) ||
	    (rc = manifest_num(m, "bytes", &bi->bytes, err)) ||
	    (rc = manifest_num(m, "db_bytes", &bi->db_bytes, err)))
		goto out;
	if (v < 1 || v > 1000000) {
		rc = gb_errf(err, GB_EINVAL, "manifest: 'schema_version' %lld is out of range",
		    (long long)v);
		goto out;
	}
	bi->schema_version = (int)v;
	if (bi->db_bytes <= 0) {
		/* the limit of decompression: none would let a small .gz fill the disk */
		rc = gb_errf(err, GB_EINVAL, "manifest: 'db_bytes' must be above 0");
		goto out;
	}
	s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "sha256"));
	if (s == NULL || strlen(s) != 64 || strspn(s, "0123456789abcdef") != 64) {
		rc = gb_errf(err, GB_EINVAL, "manifest: 'sha256' is not 64 hex digits");
		goto out;
	}
	memcpy(bi->sha256, s, 65);
	if ((s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "file"))) &&
	    strlen(s) < sizeof(bi->name))
		memcpy(bi->name, s, strlen(s) + 1);
	s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "created_at"));
	if (s == NULL || gb_time_parse(s, strlen(s), &bi->created_ms) != 0) {
		rc = gb_errf(err, GB_EINVAL, "manifest: 'created_at' is missing or not a time");
		goto out;
	}
	counts = cJSON_GetObjectItemCaseSensitive(m, "counts");
	for (int c = 0; c < COLL_COUNT && cJSON_IsObject(counts); c++)
		if (cJSON_GetObjectItemCaseSensitive(counts, coll_name((enum coll)c)) &&
		    (rc = manifest_num(counts, coll_name((enum coll)c), &bi->counts[c], err)))
			goto out;
out:
	cJSON_Delete(m);
	return rc;
}

int
backup_check_db(const char *path, struct backup_info *got, struct gb_err *err)
{
	sqlite3 *db = NULL;
	struct backup_info bi;
	struct stat sb;
	int rc;

	memset(&bi, 0, sizeof(bi));
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		rc = gb_errf(err, GB_EINVAL, "the backup's database cannot be opened: %s",
		    db ? sqlite3_errmsg(db) : "out of memory");
		goto out;
	}
	if ((rc = db_integrity(db, "the backup's database", err)) ||
	    (rc = db_describe(db, "the backup's database", &bi, err)))
		goto out;
	if (stat(path, &sb) == 0)
		bi.db_bytes = (int64_t)sb.st_size;
	if (got)
		*got = bi;
out:
	sqlite3_close(db);
	return rc;
}
