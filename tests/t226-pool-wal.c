/*
 * t226-pool-wal - the WAL stays bounded during a long busy run: workers
 * write without pause, the keeper checkpoints beside them and, once the WAL
 * has grown past KEEPER_WAL_RESTART_FRAMES, makes the next writer start it
 * over. The file is sampled (stat only: nothing but SQLite opens it)
 * throughout the run.
 */
#include <sqlite3.h>
#include <sys/stat.h>

#include "pooltest.h"

#include "../appliance/engine/keeper.h"

#define N 40000

int
main(void)
{
	static char pad[1601];
	struct pool_config cfg;
	struct box b;
	struct pool *p;
	char wal[4200];
	int64_t max_wal = 0, samples = 0, t0;
	const int64_t bound = (int64_t)KEEPER_WAL_RESTART_FRAMES * 4096 * 4;

	memset(pad, 'p', sizeof(pad) - 1);
	box_open(&b, 0);
	snprintf(wal, sizeof(wal), "%s-wal", b.path);
	store_begin(b.st, NULL);
	for (int i = 0; i < N; i++)
		box_put(&b, COLL_CONTEXTS, "{\"_id\":\"ctx_w%05d\",\"organization_id\":\"org_%d\",\"pipeline\":[],"
		    "\"data\":{\"pad\":\"%s\"}}", i, i % 7, pad);
	store_commit(b.st, NULL);
	/* the inserts' WAL is emptied first: what is measured is the run's */
	{
		sqlite3 *db = NULL;

		if (sqlite3_open(b.path, &db) != SQLITE_OK ||
		    sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL) != SQLITE_OK)
			tap_bail("checkpoint: %s", sqlite3_errmsg(db));
		sqlite3_close(db);
	}
	{
		struct stat sb;

		is_int(stat(wal, &sb) == 0 ? sb.st_size : -1, 0, "the WAL is empty when the run starts");
	}
	pool_config_defaults(&cfg);
	cfg.workers = 2;
	cfg.trace_path = "/dev/null";
	p = box_pool(&b, NULL, &cfg);
	t0 = gb_mono_ms();
	while (!pool_wait(p, 0) && gb_mono_ms() - t0 < 300000) {
		struct stat sb;

		if (stat(wal, &sb) == 0 && sb.st_size > max_wal)
			max_wal = sb.st_size;
		samples++;
		usleep(2000);
	}
	pool_stop(p, 0);
	pool_free(p);
	is_int(box_count(&b, CTX_COMPLETED), N, "a long busy run completed all %d contexts", N);
	ok(samples > 10, "the WAL's size was sampled %lld times during the run", (long long)samples);
	ok(max_wal > 0 && max_wal <= bound, "it never passed %lld MiB (at most %.1f MiB)", (long long)(bound >> 20),
	    (double)max_wal / 1048576.0);
	box_close(&b);
	return tap_done();
}
