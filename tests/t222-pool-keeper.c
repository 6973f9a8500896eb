/*
 * t222-pool-keeper - the keeper inside a live pool: it extends the leases of
 * contexts whose generator calls are out (past their first TTL they are
 * still the pool's), reaps a context whose lease expired and one held by a
 * zombie (killed, not yet waited for) so the pool runs them, and writes the
 * workers' heartbeat rows every heartbeat_ms, seen from another connection,
 * gone once the pool stops.
 */
#include <sqlite3.h>
#include <sys/wait.h>

#include "pooltest.h"

#include "../appliance/engine/keeper.h"
#include "../storage/heartbeat.h"

/* lease_until and worker_id of context id, read through a connection of its own. */
static int64_t
lease_of(struct box *b, const char *id, char *owner, size_t len)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *stmt = NULL;
	int64_t until = -1;

	if (sqlite3_open_v2(b->path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "SELECT lease_until, worker_id FROM contexts WHERE _id = ?1", -1, &stmt,
	    NULL) == SQLITE_OK) {
		sqlite3_busy_timeout(db, 5000);
		sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
		if (sqlite3_step(stmt) == SQLITE_ROW) {
			until = sqlite3_column_type(stmt, 0) == SQLITE_NULL ? -1 : sqlite3_column_int64(stmt, 0);
			snprintf(owner, len, "%s", sqlite3_column_text(stmt, 1) ? (const char *)sqlite3_column_text(stmt, 1) :
			    "");
		}
	}
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return until;
}

static void
test_extend(void)
{
	struct box b;
	struct pool_config cfg;
	struct pool *p;
	char url[64], owner[200] = "";
	int fd = hung_endpoint(url);
	int64_t first, later = -1, t0;

	box_open(&b, 1);
	box_put(&b, COLL_CONTEXTS, "{\"_id\":\"ctx_long\",\"organization_id\":\"org_123\",\"pipeline\":"
	    "[\"template\",\"ai_generator\"],\"data\":{\"title\":\"Long\"}}");
	pool_config_defaults(&cfg);
	cfg.workers = 1;
	cfg.lease_ms = 1500;
	p = box_pool(&b, url, &cfg);
	ok(box_wait_status(&b, "ctx_long", "processing", 20000), "the context is claimed; its calls never end");
	t0 = gb_mono_ms();
	while ((first = lease_of(&b, "ctx_long", owner, sizeof(owner))) < 0 && gb_mono_ms() - t0 < 20000)
		usleep(10000);
	is_str(owner, pool_owner(p), "the pool holds its lease");
	/* past the first lease's end */
	while (gb_now_ms() <= first + 200 && gb_mono_ms() - t0 < 20000)
		usleep(10000);
	later = lease_of(&b, "ctx_long", owner, sizeof(owner));
	ok(later > first, "the keeper extended the lease (%lld ms later)", (long long)(later - first));
	is_str(box_ctx(&b, "ctx_long", "status"), "processing", "past the first lease's end it is still processing");
	is_str(owner, pool_owner(p), "and still the pool's, not reaped");
	pool_stop(p, 0);
	pool_free(p);
	is_str(box_ctx(&b, "ctx_long", "status"), "pending", "stopped: given back");
	close(fd);
	box_close(&b);
}

static void
test_reap(void)
{
	struct box b;
	struct gb_err err = { 0, "" };
	struct pool_config cfg;
	struct pool *p;
	char ids[1][STORE_ID_MAX], zombie[200];
	int pipefd[2], n = 0, status;
	pid_t child;

	box_open(&b, 1);
	/* a process of this host that will be killed and left unreaped */
	if (pipe(pipefd) != 0)
		tap_bail("pipe");
	if ((child = fork()) == 0) {
		char c;

		close(pipefd[1]);
		(void)!read(pipefd[0], &c, 1);
		_exit(0);
	}
	close(pipefd[0]);
	is_int(keeper_owner_name((long)child, zombie, sizeof(zombie)), 0, "the child has an owner name");
	is_int(keeper_owner_dead(NULL, zombie), 0, "a running process is not dead");
	box_put(&b, COLL_CONTEXTS, "{\"_id\":\"ctx_zombie\",\"organization_id\":\"org_123\",\"pipeline\":"
	    "[\"template\"]}");
	is_int(store_queue_claim(b.st, zombie, NULL, gb_now_ms(), 300000, 1, ids, &n, &err), 0, "claimed for it");
	is_int(n, 1, "with a 300 s lease");
	box_put(&b, COLL_CONTEXTS, "{\"_id\":\"ctx_expired\",\"organization_id\":\"org_123\",\"pipeline\":"
	    "[\"template\"]}");
	is_int(store_queue_claim(b.st, "elsewhere/1:1", NULL, gb_now_ms(), 1, 1, ids, &n, &err), 0,
	    "another context claimed by another host");
	is_str(ids[0], "ctx_expired", "with a lease that ends at once");
	close(pipefd[1]);	/* the child exits; nobody waits for it */
	for (int i = 0; i < 2000 && !keeper_owner_dead(NULL, zombie); i++)
		usleep(5000);
	is_int(keeper_owner_dead(NULL, zombie), 1, "a zombie is dead for the owner check");
	pool_config_defaults(&cfg);
	cfg.workers = 2;
	cfg.run_forever = 1;
	p = box_pool(&b, NULL, &cfg);
	ok(box_wait_status(&b, "ctx_expired", "completed", 30000), "the live pool reaped the expired lease and ran it");
	ok(box_wait_status(&b, "ctx_zombie", "completed", 30000), "and the zombie's context, long before its lease ends");
	is_str(box_ctx(&b, "ctx_zombie", "processing.completed_components"), "[\"template\"]", "once");
	pool_stop(p, 1000);
	pool_free(p);
	waitpid(child, &status, 0);
	box_close(&b);
}

static void
test_heartbeats(void)
{
	struct box b;
	struct gb_err err = { 0, "" };
	struct pool_config cfg;
	struct store_heartbeat hb[8], hb2[8];
	struct pool *p;
	int n = 0, n2 = 0, mine = 0, advanced = 0;
	int64_t t0;

	box_open(&b, 1);
	pool_config_defaults(&cfg);
	cfg.workers = 3;
	cfg.heartbeat_ms = 100;
	cfg.run_forever = 1;
	p = box_pool(&b, NULL, &cfg);
	t0 = gb_mono_ms();
	/* rows appear at the keeper's first round; an idle pool's workers say so by the next */
	while (mine < 3 && gb_mono_ms() - t0 < 20000) {
		usleep(10000);
		mine = 0;
		store_heartbeat_list(b.st, gb_now_ms(), hb, 8, &n, &err);
		for (int i = 0; i < n; i++)
			if (strncmp(hb[i].worker_id, pool_owner(p), strlen(pool_owner(p))) == 0 &&
			    strcmp(hb[i].status, "idle") == 0 && hb[i].processing_count == 0)
				mine++;
	}
	is_int(mine, 3, "three idle workers' rows, named after the pool, seen from another connection");
	/* heartbeat_ms is honoured: the rows move on while the pool runs */
	while (!advanced && gb_mono_ms() - t0 < 20000) {
		usleep(20000);
		store_heartbeat_list(b.st, gb_now_ms(), hb2, 8, &n2, &err);
		advanced = n2 == n && n > 0 && hb2[0].last_seen_ms > hb[0].last_seen_ms;
	}
	ok(advanced, "the keeper writes them again every heartbeat_ms");
	pool_stop(p, 0);
	pool_free(p);
	store_heartbeat_list(b.st, gb_now_ms(), hb, 8, &n, &err);
	is_int(n, 0, "after the stop no row is left");
	box_close(&b);
}

/*
 * A process /proc hides (another user's, under the unit's ProtectProc=
 * invisible) must not be taken for dead: stood in for by an empty folder
 * as the owner check's /proc.
 */
static void
test_hidden_proc(void)
{
	char alive[200], gone[200], host[64];
	pid_t dead;
	int status = 0;

	if (keeper_owner_name((long)getpid(), alive, sizeof(alive)))
		tap_bail("no owner name for this process");
	if ((dead = fork()) == 0)
		_exit(0);
	waitpid(dead, &status, 0);
	keeper_hostname(host, sizeof(host));
	snprintf(gone, sizeof(gone), "%s/%ld:1", host, (long)dead);
	keeper_proc_dir = util_tmpdir();	/* no numbered entries */
	is_int(keeper_owner_dead(NULL, alive), 0, "a live process /proc does not show is not dead");
	is_int(keeper_owner_dead(NULL, gone), 1, "a process that ended is dead, /proc or not");
	keeper_proc_dir = "/proc";
}

int
main(void)
{
	test_extend();
	test_reap();
	test_hidden_proc();
	test_heartbeats();
	return tap_done();
}
