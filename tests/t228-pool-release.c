/*
 * t228-pool-release - a context storage will not take back at once.
 *
 * The pool is stopped with a context parked on a generator call that never
 * ends; giving it back fails twice (this program stands in for SQLite's
 * sqlite3_step and fails the release statement). The worker that tried
 * must not try again on its own connection, sleeping while it holds the
 * pool's write lock and an open transaction: it hands the context to the
 * keeper at once, whose connection gives it back. Asserted on the order of
 * the attempts and the connections that made them, not on time.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>

#include "pooltest.h"

#define RELEASE_PREFIX "UPDATE contexts SET status = 'pending', worker_id = NULL, lease_until = NULL"
#define MAX_ATTEMPTS 64

static pthread_mutex_t attempts_mu = PTHREAD_MUTEX_INITIALIZER;
static sqlite3 *attempt_db[MAX_ATTEMPTS];	/* the connection of each release attempt, in order */
static int nattempts;				/* guarded by attempts_mu, like attempt_db */
static atomic_int fail_left;			/* release attempts still to fail */

/* Every statement of this process passes here: the release is counted, and fails while fail_left lasts. */
int
sqlite3_step(sqlite3_stmt *stmt)
{
	static int (*real)(sqlite3_stmt *);
	const char *sql = sqlite3_sql(stmt);

	if (real == NULL)
		real = (int (*)(sqlite3_stmt *))dlsym(RTLD_NEXT, "sqlite3_step");
	if (sql && strncmp(sql, RELEASE_PREFIX, strlen(RELEASE_PREFIX)) == 0) {
		pthread_mutex_lock(&attempts_mu);
		if (nattempts < MAX_ATTEMPTS)
			attempt_db[nattempts++] = sqlite3_db_handle(stmt);
		pthread_mutex_unlock(&attempts_mu);
		if (atomic_fetch_sub(&fail_left, 1) > 0)
			return SQLITE_IOERR;
	}
	return real(stmt);
}

int
main(void)
{
	struct pool_config cfg;
	struct pool_stats s;
	struct box b;
	struct pool *p;
	char url[64];
	int fd = hung_endpoint(url), n, again = 0;
	int64_t t0;

	box_open(&b, 1);
	box_put(&b, COLL_CONTEXTS, "{\"_id\":\"ctx_rel\",\"organization_id\":\"org_123\",\"pipeline\":"
	    "[\"template\",\"ai_generator\"],\"data\":{\"title\":\"Held\"}}");
	pool_config_defaults(&cfg);
	cfg.workers = 1;
	p = box_pool(&b, url, &cfg);
	t0 = gb_mono_ms();
	while (strcmp(box_ctx(&b, "ctx_rel", "processing.completed_components"), "[\"template\"]") != 0 &&
	    gb_mono_ms() - t0 < 30000)
		usleep(10000);
	is_str(box_ctx(&b, "ctx_rel", "status"), "processing", "the context is held, its generator call hanging");
	atomic_store(&fail_left, 2);
	pool_stop(p, 0);
	pool_stats(p, &s);
	pool_free(p);
	pthread_mutex_lock(&attempts_mu);
	n = nattempts;
	pthread_mutex_unlock(&attempts_mu);
	ok(n >= 3, "giving it back took %d attempts: two refused, then one that went through", n);
	ok(n >= 2 && attempt_db[1] != attempt_db[0],
	    "after the worker's refused attempt the next one comes from another connection (the keeper's), "
	    "not from the worker trying again while it holds the write lock");
	for (int i = 1; i < n; i++)
		if (attempt_db[i] == attempt_db[0])
			again++;
	is_int(again, 0, "the worker's connection tried exactly once");
	is_str(box_ctx(&b, "ctx_rel", "status"), "pending", "the keeper gave the context back: pending again");
	is_str(box_ctx(&b, "ctx_rel", "processing.completed_components"), "[\"template\"]",
	    "with its recorded template step");
	box_close(&b);
	close(fd);
	return tap_done();
}
