/*
 * fault-sqlite.c - an LD_PRELOAD library for tests: it counts the SQLite
 * connections a process opens and closes, and can make one statement fail.
 *
 *   GENBOX_FAULT_SQL=TEXT    statements whose SQL is TEXT fail with SQLITE_IOERR...
 *   GENBOX_FAULT_SKIP=N      ...after the first N steps of them succeeded (default 0)
 *   GENBOX_FAULT_REPORT=PATH at exit, write "opened N closed M" there
 *   GENBOX_FAULT_THREAD=N    the Nth pthread_create of the process (1-based) fails with EAGAIN
 *
 * The real functions are found with dlsym(RTLD_NEXT).
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

static atomic_int opened, closed, matched, threads;

int
sqlite3_open_v2(const char *path, sqlite3 **db, int flags, const char *vfs)
{
	int (*real)(const char *, sqlite3 **, int, const char *) =
	    (int (*)(const char *, sqlite3 **, int, const char *))dlsym(RTLD_NEXT, "sqlite3_open_v2");
	int rc = real(path, db, flags, vfs);

	if (*db)
		atomic_fetch_add(&opened, 1);
	return rc;
}

int
sqlite3_close(sqlite3 *db)
{
	int (*real)(sqlite3 *) = (int (*)(sqlite3 *))dlsym(RTLD_NEXT, "sqlite3_close");

	if (db)
		atomic_fetch_add(&closed, 1);
	return real(db);
}

int
sqlite3_close_v2(sqlite3 *db)
{
	int (*real)(sqlite3 *) = (int (*)(sqlite3 *))dlsym(RTLD_NEXT, "sqlite3_close_v2");

	if (db)
		atomic_fetch_add(&closed, 1);
	return real(db);
}

int
sqlite3_step(sqlite3_stmt *stmt)
{
	int (*real)(sqlite3_stmt *) = (int (*)(sqlite3_stmt *))dlsym(RTLD_NEXT, "sqlite3_step");
	const char *sql = getenv("GENBOX_FAULT_SQL"), *skip = getenv("GENBOX_FAULT_SKIP");
	const char *text = sqlite3_sql(stmt);

	if (sql && text && strcmp(sql, text) == 0 &&
	    atomic_fetch_add(&matched, 1) >= (skip ? atoi(skip) : 0))
		return SQLITE_IOERR;
	return real(stmt);
}

int
pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	int (*real)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *) =
	    (int (*)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *))dlsym(RTLD_NEXT,
	    "pthread_create");
	const char *nth = getenv("GENBOX_FAULT_THREAD");

	if (nth && atomic_fetch_add(&threads, 1) + 1 == atoi(nth))
		return EAGAIN;
	return real(thread, attr, fn, arg);
}

__attribute__((destructor)) static void
fault_report(void)
{
	const char *path = getenv("GENBOX_FAULT_REPORT");
	FILE *f;

	if (path && (f = fopen(path, "w")) != NULL) {
		fprintf(f, "opened %d closed %d\n", atomic_load(&opened), atomic_load(&closed));
		fclose(f);
	}
}
