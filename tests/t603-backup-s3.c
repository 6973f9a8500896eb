/*
 * t603-backup-s3 - backups to an s3:// target (Ceph's radosgw, started for
 * the test): `genbox backup --to s3://bucket/prefix` puts the .db.gz and
 * its manifest (read back and verified), keep applies there too, `genbox
 * restore-backup s3://bucket/prefix latest` restores the newest one into a
 * database that holds what the backup held; a wrong secret fails with a
 * message that names the target and never shows the secret.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "peer.h"
#include "pooltest.h"

#define SPEC "s3://genbox-t603/box-1"

static struct box b;
static char dbarg[4200];

static int64_t
contexts_in(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int64_t v = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "SELECT count(*) FROM contexts", -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

static void
add_context(int i)
{
	box_put(&b, COLL_CONTEXTS, "{\"_id\": \"ctx_s3_%d\", \"type\": \"article\", \"status\": "
	    "\"completed\", \"organization_id\": \"org_123\", \"user_id\": \"user_456\", \"data\": "
	    "{\"title\": \"S3 %d\"}}", i, i);
}

int
main(void)
{
	char newdb[4200], newarg[4300];
	char names[3][128];
	struct run r;
	int ok_all = 1;

	peer_s3_start();
	setenv("GENBOX_S3_ENDPOINT", peer_s3_endpoint(), 1);
	setenv("GENBOX_S3_ACCESS_KEY", peer_s3_access_key(), 1);
	setenv("GENBOX_S3_SECRET_KEY", peer_s3_secret_key(), 1);
	box_open(&b, 1);
	snprintf(dbarg, sizeof(dbarg), "--db=%s", b.path);

	setenv("GENBOX_BACKUP_KEEP", "2", 1);
	for (int i = 0; i < 3; i++) {
		add_context(i);
		util_genbox_run(&r, NULL, dbarg, "backup", "--to", SPEC, NULL);
		ok_all &= r.status == 0 && strstr(r.out, "backup " SPEC "/genbox-") != NULL;
		snprintf(names[i], sizeof(names[i]), "%.*s", (int)strlen("genbox-20240101T000000.000Z"),
		    strstr(r.out, SPEC "/genbox-") ? strstr(r.out, SPEC "/genbox-") + strlen(SPEC) + 1 : "");
		if (r.status)
			tap_diag("%s", r.err);
		ok(strstr(r.out, peer_s3_secret_key()) == NULL && strstr(r.err, peer_s3_secret_key()) == NULL,
		    "backup %d: the secret appears nowhere", i + 1);
		run_free(&r);
	}
	ok(ok_all, "three backups to %s: exit 0, each named", SPEC);
	unsetenv("GENBOX_BACKUP_KEEP");

	snprintf(newdb, sizeof(newdb), "%s/from-s3.db", util_tmpdir());
	snprintf(newarg, sizeof(newarg), "--db=%s", newdb);
	util_genbox_run(&r, NULL, "restore-backup", SPEC, "latest", newarg, NULL);
	is_int(r.status, 0, "restore-backup %s latest: exit 0", SPEC);
	like(r.out, "restored ", "it says what it restored");
	run_free(&r);
	is_int(contexts_in(newdb), contexts_in(b.path), "the newest backup: every context (%lld)",
	    (long long)contexts_in(b.path));

	/* keep = 2: the oldest is gone, the second is there */
	snprintf(newarg, sizeof(newarg), "--db=%s/other.db", util_tmpdir());
	util_genbox_run(&r, NULL, "restore-backup", SPEC, names[0], newarg, NULL);
	is_int(r.status, 1, "keep = 2: the first backup (%s) is gone: exit 1", names[0]);
	like(r.err, "no such manifest", "no such manifest");
	run_free(&r);
	util_genbox_run(&r, NULL, "restore-backup", SPEC, names[1], newarg, NULL);
	is_int(r.status, 0, "the second (%s) is there: exit 0", names[1]);
	run_free(&r);

	setenv("GENBOX_S3_SECRET_KEY", "wrong-secret-t603", 1);
	util_genbox_run(&r, NULL, dbarg, "backup", "--to", SPEC, NULL);
	is_int(r.status, 1, "a wrong secret: exit 1");
	like(r.err, SPEC, "the message names the target");
	ok(strstr(r.err, "wrong-secret-t603") == NULL, "and never the secret");
	run_free(&r);
	box_close(&b);
	peer_s3_stop();
	return tap_done();
}
