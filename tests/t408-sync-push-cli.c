/*
 * t408-sync-push-cli - `genbox sync push` with nothing to send still asks
 * the cluster: against an address where nothing listens it fails (exit 1,
 * "cannot reach MongoDB", within the timeout) instead of saying it pushed 0
 * documents, and a wrong password is reported (exit 1, the user named, never
 * the password). Against the MongoDB peer (GENBOX_MONGO_PEER picks it; the
 * password part runs on mongomock, jongodb has no authentication).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/gbtime.h"
#include "peer.h"
#include "pooltest.h"
#include "tap.h"
#include "util.h"

#define MUSER "genbox"
#define MPASS "s3cret-t408"

static struct box b;
static char db_arg[4200];

static void
cluster_env(const char *uri)
{
	setenv("GENBOX_CLUSTER_MONGO_URI", uri, 1);
	setenv("GENBOX_CLUSTER_APPLIANCE_ID", "box-t408", 1);
	setenv("GENBOX_CLUSTER_TIMEOUT_MS", "1500", 1);
	setenv("GENBOX_CLUSTER_BACKOFF_MAX_MS", "1000", 1);
	unsetenv("GENBOX_CLUSTER_REDIS_URL");
}

/* sync push with the URI: its exit status; *out / *err_out the texts (static). */
static int
push(const char *uri, char *out, char *errout, size_t size, int64_t *ms)
{
	struct run r;
	int64_t t0 = gb_mono_ms();
	int status;

	cluster_env(uri);
	util_genbox_run(&r, NULL, db_arg, "sync", "push", NULL);
	*ms = gb_mono_ms() - t0;
	snprintf(out, size, "%s", r.out ? r.out : "");
	snprintf(errout, size, "%s", r.err ? r.err : "");
	status = r.status;
	run_free(&r);
	return status;
}

int
main(void)
{
	int auth = peer_mongo_kind_from_env() == PEER_MONGOMOCK;
	const char *base = peer_mongo_start(peer_mongo_kind_from_env(), auth ? MUSER : NULL,
	    auth ? MPASS : NULL);
	char good[512], bad[512], out[4096], err[4096];
	int64_t ms = 0;

	box_open(&b, 1);
	snprintf(db_arg, sizeof(db_arg), "--db=%s", b.path);
	if (auth)
		snprintf(good, sizeof(good), "mongodb://%s:%s@127.0.0.1:%d/?authSource=admin",
		    MUSER, MPASS, peer_mongo_port());
	else
		snprintf(good, sizeof(good), "%s", base);

	is_int(push(good, out, err, sizeof(out), &ms), 0, "sync push of the demo data: exit 0");
	like(out, "pushed ", "... it says what it pushed");
	is_int(push(good, out, err, sizeof(out), &ms), 0,
	    "sync push with an empty outbox, the cluster there: exit 0 (%s)", err);
	like(out, "pushed 0 documents", "... nothing to push");

	snprintf(bad, sizeof(bad), "mongodb://127.0.0.1:%d/", peer_free_port());
	is_int(push(bad, out, err, sizeof(out), &ms), 1,
	    "sync push with an empty outbox, nothing where the cluster should be: exit 1");
	like(err, "genbox: sync: cluster unreachable: ", "... saying so");
	like(err, "cannot reach MongoDB at mongodb://127.0.0.1:", "... naming the server");
	ok(strstr(out, "pushed") == NULL, "... and not that it pushed anything");
	ok(ms < 10000, "... within the timeout (%lld ms)", (long long)ms);

	if (auth) {
		snprintf(bad, sizeof(bad), "mongodb://%s:WRONGpw-t408@127.0.0.1:%d/"
		    "?authSource=admin", MUSER, peer_mongo_port());
		is_int(push(bad, out, err, sizeof(out), &ms), 1,
		    "sync push with an empty outbox and a wrong password: exit 1");
		like(err, "genbox: sync: the cluster refused the credentials: ", "... saying so");
		like(err, "'" MUSER "'", "... naming the user");
		ok(strstr(err, "WRONGpw") == NULL && strstr(out, "WRONGpw") == NULL,
		    "... never the password");
	} else {
		tap_diag("jongodb has no authentication: the password checks run on mongomock");
	}
	box_close(&b);
	return tap_done();
}
