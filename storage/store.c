/*
 * store.c - one connection to the mirror: connecting, its pragmas, the
 * statement cache, nested transactions, the schema version it holds, and the
 * names of collections and statuses. Schema work on open is open.c's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include "internal.h"

static const char *const status_names[CTX_STATUS_COUNT] = {
	"pending", "processing", "completed", "failed", "cancelled",
};

const char *
coll_name(enum coll c)
{
	return (unsigned)c < COLL_COUNT ? coll_defs[c].name : NULL;
}

int
coll_from_name(const char *name)
{
	for (int c = 0; c < COLL_COUNT; c++)
		if (strcmp(coll_defs[c].name, name) == 0)
			return c;
	return -1;
}

const char *
coll_id_prefix(enum coll c)
{
	return (unsigned)c < COLL_COUNT ? coll_defs[c].prefix : NULL;
}

const char *
ctx_status_name(enum ctx_status s)
{
	return (unsigned)s < CTX_STATUS_COUNT ? status_names[s] : NULL;
}

int
ctx_status_from_name(const char *name)
{
	for (int s = 0; s < CTX_STATUS_COUNT; s++)
		if (strcmp(status_names[s], name) == 0)
			return s;
	return -1;
}

int
store_sqlerr(struct store *st, struct gb_err *err, const char *what)
{
	int x = sqlite3_extended_errcode(st->db), code = GB_EIO;

	if ((x & 0xff) == SQLITE_CONSTRAINT)
		code = x == SQLITE_CONSTRAINT_PRIMARYKEY || x == SQLITE_CONSTRAINT_UNIQUE ?
		    GB_EEXIST : GB_EINVAL;
	else if ((x & 0xff) == SQLITE_BUSY || (x & 0xff) == SQLITE_LOCKED)
		code = GB_EBUSY;
	else if ((x & 0xff) == SQLITE_TOOBIG)
		code = GB_ETOOBIG;
	else if ((x & 0xff) == SQLITE_NOMEM)
		code = GB_ENOMEM;
	if (code == GB_EBUSY && x != SQLITE_BUSY)
		return gb_errf(err, code, "%s: %s (extended code %d)", what, sqlite3_errmsg(st->db),
		    x);
	return gb_errf(err, code, "%s: %s", what, sqlite3_errmsg(st->db));
}

int
store_exec(struct store *st, const char *sql, struct gb_err *err)
{
	if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return store_sqlerr(st, err, "database");
	return 0;
}

/* The slot holding sql: by pointer first, then by content (one text may sit at two addresses). */
static int
stmt_find(const struct store *st, const char *sql)
{
	for (int i = 0; i < st->ncached; i++)
		if (st->cache[i].sql == sql)
			return i;
	for (int i = 0; i < st->ncached; i++)
		if (strcmp(st->cache[i].sql, sql) == 0)
			return i;
	return -1;
}

/*
 * A slot for a new statement: a free one, else the least recently used
 * statement that nobody is stepping (sqlite3_stmt_busy), finalized; the
 * cache grows only when every statement in it is being stepped.
 */
static int
stmt_slot(struct store *st, struct gb_err *err)
{
	int victim = -1;

	if (st->ncached < st->cap)
		return st->ncached++;
	for (int i = 0; i < st->ncached; i++)
		if (!sqlite3_stmt_busy(st->cache[i].stmt) &&
		    (victim < 0 || st->cache[i].used < st->cache[victim].used))
			victim = i;
	if (victim >= 0) {
		sqlite3_finalize(st->cache[victim].stmt);
		st->cache[victim].stmt = NULL;
		return victim;
	}
	{
		int cap = st->cap ? st->cap * 2 : STMT_CACHE;
		struct stmt_slot *p = realloc(st->cache, sizeof(*p) * (size_t)cap);

		if (p == NULL)
			return gb_errf(err, GB_ENOMEM, "out of memory");
		st->cache = p;
		st->cap = cap;
	}
	return st->ncached++;
}

int
store_stmt(struct store *st, const char *sql, sqlite3_stmt **out, struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int i;

	store_busy_release(st);		/* a writer that waited has begun by now */
	if ((i = stmt_find(st, sql)) >= 0) {
		st->cache[i].used = ++st->tick;
		*out = st->cache[i].stmt;
		sqlite3_reset(*out);
		sqlite3_clear_bindings(*out);
		return 0;
	}
	if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL) !=
	    SQLITE_OK)
		return store_sqlerr(st, err, "prepare");
	if ((i = stmt_slot(st, err)) < 0) {
		sqlite3_finalize(stmt);
		return i;
	}
	st->cache[i].sql = sql;
	st->cache[i].stmt = stmt;
	st->cache[i].used = ++st->tick;
	*out = stmt;
	return 0;
}

/* Why path cannot be written, when the file system says so: "" otherwise. */
const char *
store_unwritable(const char *path)
{
	static __thread char why[128];
	char dir[4096], *slash;

	why[0] = '\0';
	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) != NULL)
		*(slash == dir ? slash + 1 : slash) = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	if (access(dir, W_OK) < 0 || (access(path, F_OK) == 0 && access(path, W_OK) < 0))
		snprintf(why, sizeof(why), " (%s)", strerror(errno));
	return why;
}

/*
 * Before SQLite's first use in the process: no memory statistics, which
 * would take a global mutex on every allocation of every connection.
 */
static void
sqlite_setup(void)
{
	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int
store_connect(struct store **out, const char *path, int flags, int busy_timeout_ms,
    struct gb_err *err)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct store *st;
	int rc;

	*out = NULL;
	pthread_once(&once, sqlite_setup);
	if ((st = calloc(1, sizeof(*st))) == NULL || (st->path = strdup(path)) == NULL) {
		free(st);
		return gb_errf(err, GB_ENOMEM, "out of memory");
	}
	st->turn_fd = -1;
	if (sqlite3_open_v2(path, &st->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		rc = gb_errf(err, GB_EIO, "cannot open database '%s': %s%s", path,
		    st->db ? sqlite3_errmsg(st->db) : "out of memory", store_unwritable(path));
		store_close(st);
		return rc;
	}
	sqlite3_extended_result_codes(st->db, 1);
	st->busy_timeout_ms = busy_timeout_ms > 0 ? busy_timeout_ms : 5000;
	sqlite3_busy_handler(st->db, store_busy_wait, st);
	if (flags & SQLITE_OPEN_READWRITE)
		store_busy_open(st);
	*out = st;
	return 0;
}

int
store_pragmas(struct store *st, const struct store_opts *opts, struct gb_err *err)
{
	char pragma[192];

	if (strcmp(st->path, ":memory:") != 0 &&
	    sqlite3_exec(st->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) != SQLITE_OK)
		return gb_errf(err, GB_EIO, "cannot open database '%s': %s%s", st->path,
		    sqlite3_errmsg(st->db), store_unwritable(st->path));
	snprintf(pragma, sizeof(pragma),
	    "PRAGMA synchronous=%s; PRAGMA foreign_keys=OFF; PRAGMA temp_store=MEMORY%s; "
	    "PRAGMA cache_size=%d", opts->sync_full ? "FULL" : "NORMAL",
	    opts->no_autocheckpoint ? "; PRAGMA wal_autocheckpoint=0" : "",
	    opts->cache_kb > 0 ? -opts->cache_kb : -2000);
	return store_exec(st, pragma, err);
}

int
store_schema_version(struct store *st, int *version, struct gb_err *err)
{
	sqlite3_stmt *stmt = NULL;
	int rc = 0;

	if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &stmt, NULL) != SQLITE_OK ||
	    sqlite3_step(stmt) != SQLITE_ROW) {
		int x = sqlite3_errcode(st->db);

		if (x == SQLITE_NOTADB)
			rc = gb_errf(err, GB_EINVAL,
			    "'%s' is not a genbox database (not an SQLite file)", st->path);
		else
			rc = gb_errf(err, GB_EIO, "cannot read database '%s': %s", st->path,
			    sqlite3_errmsg(st->db));
		goto out;
	}
	*version = sqlite3_column_int(stmt, 0);
out:
	sqlite3_finalize(stmt);
	return rc;
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	for (int i = 0; i < st->ncached; i++)
		sqlite3_finalize(st->cache[i].stmt);
	free(st->cache);
	store_busy_close(st);
	sqlite3_close(st->db);
	free(st->path);
	free(st);
}

const char *
store_path(const struct store *st)
{
	return st->path;
}

int
store_checkpoint(struct store *st, int *frames, struct gb_err *err)
{
	int log = 0;

	if (frames)
		*frames = 0;
	if (sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, NULL) !=
	    SQLITE_OK)
		return store_sqlerr(st, err, "checkpoint");
	if (frames && log > 0)
		*frames = log;
	return 0;
}

/*
 * PRAGMA data_version moves when another connection commits (it looks at
 * the file, unlike SQLITE_FCNTL_DATA_VERSION outside a transaction); this
 * connection's own changes are counted by sqlite3_total_changes64.
 */
int
store_data_version(struct store *st, uint64_t *version, struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc;

	if ((rc = store_stmt(st, "PRAGMA data_version", &stmt, err)))
		return rc;
	if (sqlite3_step(stmt) == SQLITE_ROW)
		*version = ((uint64_t)sqlite3_column_int64(stmt, 0) << 32) ^
		    (uint64_t)sqlite3_total_changes64(st->db);
	else
		rc = store_sqlerr(st, err, "data version");
	sqlite3_reset(stmt);
	return rc;
}

/*
 * The outermost level is BEGIN IMMEDIATE (take the write lock at once, so a
 * busy database shows here and not half-way through); inner levels are
 * savepoints, so an inner failure undoes only its own part.
 */
/* Transaction control by depth, as cached statements (deeper levels are prepared each time). */
static const char *const begin_sql[] = {
	"BEGIN IMMEDIATE", "SAVEPOINT s1", "SAVEPOINT s2", "SAVEPOINT s3", "SAVEPOINT s4",
};
static const char *const commit_sql[] = {
	"COMMIT", "RELEASE s1", "RELEASE s2", "RELEASE s3", "RELEASE s4",
};
#define TX_CACHED ((int)(sizeof(begin_sql) / sizeof(begin_sql[0])))

/* Run one transaction-control statement: cached at the usual depths. */
static int
tx_exec(struct store *st, const char *const *cached, const char *deeper, struct gb_err *err)
{
	sqlite3_stmt *stmt;
	char sql[32];
	int rc, step;

	if (st->txdepth >= TX_CACHED) {
		snprintf(sql, sizeof(sql), "%s s%d", deeper, st->txdepth);
		return sqlite3_exec(st->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : GB_EIO;
	}
	if ((rc = store_stmt(st, cached[st->txdepth], &stmt, err)))
		return rc;
	step = sqlite3_step(stmt);
	sqlite3_reset(stmt);
	return step == SQLITE_DONE ? 0 : GB_EIO;
}

int
store_begin(struct store *st, struct gb_err *err)
{
	int rc;

	if (st->txdepth == 0)
		store_busy_yield(st);	/* another writer waiting goes first */
	rc = tx_exec(st, begin_sql, "SAVEPOINT", err);
	store_busy_release(st);
	if (rc)
		return store_sqlerr(st, err, "begin");
	st->txdepth++;
	return 0;
}

int
store_commit(struct store *st, struct gb_err *err)
{
	if (st->txdepth == 0)
		return gb_errf(err, GB_ESTATE, "commit without a transaction");
	st->txdepth--;
	if (tx_exec(st, commit_sql, "RELEASE", err)) {
		int rc = store_sqlerr(st, err, "commit");

		st->txdepth++;
		store_rollback(st);
		return rc;
	}
	return 0;
}

void
store_rollback(struct store *st)
{
	char sql[64];

	if (st->txdepth == 0)
		return;
	st->txdepth--;
	if (st->txdepth > 0) {
		snprintf(sql, sizeof(sql), "ROLLBACK TO s%d; RELEASE s%d", st->txdepth,
		    st->txdepth);
		sqlite3_exec(st->db, sql, NULL, NULL, NULL);
	} else if (sqlite3_get_autocommit(st->db) == 0) {
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	}
}

/* src into dst (size bytes), cut at a character boundary of UTF-8 when too long */
void
store_copy_text(char *dst, size_t size, const unsigned char *src)
{
	size_t n = src ? strlen((const char *)src) : 0;

	if (n >= size) {
		n = size - 1;
		while (n > 0 && (src[n] & 0xC0) == 0x80)
			n--;
	}
	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

int
store_sqlite_head(const char *buf, size_t n)
{
	static const char magic[16] = "SQLite format 3";

	return n >= sizeof(magic) && memcmp(buf, magic, sizeof(magic)) == 0;
}

int
store_file_sqlite(const char *path)
{
	char head[16];
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0)
		return -1;
	n = read(fd, head, sizeof(head));
	close(fd);
	if (n < 0)
		return -1;
	return store_sqlite_head(head, (size_t)n);
}
