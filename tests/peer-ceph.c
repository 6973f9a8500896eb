/*
 * peer-ceph.c - the S3 peer: Ceph's radosgw in a throw-away cluster of its
 * own (one monitor, one OSD in memory, no manager, no authentication inside
 * the cluster), all on free 127.0.0.1 ports with every file in the test's
 * temporary directory, so that test programs can each run their own at the
 * same time. tests/peers/ceph-s3.sh makes the files; the daemons run here in
 * the foreground and die with the test.
 */
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../base/gbtime.h"
#include "peer-child.h"
#include "peer.h"
#include "tap.h"
#include "util.h"

#define S3_ACCESS_KEY "GENBOXTESTACCESSKEY1"
#define S3_SECRET_KEY "genbox/test+secret/key/0001"

static pid_t mon_pid, osd_pid, rgw_pid;
static int rgw_port;
static char ceph_dir[4096], ceph_conf[4200], rgw_log[4200], s3_endpoint[64];

static void
ceph_logs(void)
{
	char log[4200];

	snprintf(log, sizeof(log), "%s/mon.out", ceph_dir);
	log_tail("ceph-mon", log);
	snprintf(log, sizeof(log), "%s/osd.out", ceph_dir);
	log_tail("ceph-osd", log);
	log_tail("radosgw", rgw_log);
}

/* One step of tests/peers/ceph-s3.sh; bails out with its output on failure. */
static void
ceph_step(const char *step, const char *a, const char *b)
{
	char script[4096];
	char *argv[] = { "/bin/sh", script, (char *)step, ceph_dir, (char *)a, (char *)b, NULL };
	struct run r;

	util_src("tests/peers/ceph-s3.sh", script, sizeof(script));
	if (util_run(&r, NULL, 0, argv) != 0 || r.status != 0) {
		tap_diag("ceph-s3.sh %s: status %d\n%s%s", step, r.status, r.out ? r.out : "",
		    r.err ? r.err : "");
		run_free(&r);
		ceph_logs();
		peer_s3_stop();
		tap_bail("the S3 peer's set-up step '%s' failed", step);
	}
	run_free(&r);
}

/* Kill *pid at once (a throw-away daemon with nothing to save) and reap it. */
static void
ceph_kill(pid_t *pid)
{
	int st;

	if (*pid <= 0)
		return;
	kill(*pid, SIGKILL);
	waitpid(*pid, &st, 0);
	*pid = 0;
}

static pid_t
ceph_daemon(const char *prog, const char *id_flag, const char *id, const char *log_name)
{
	char log[4200];
	char *argv[] = { (char *)prog, "-f", "-c", ceph_conf, (char *)id_flag, (char *)id, NULL };

	snprintf(log, sizeof(log), "%s/%s", ceph_dir, log_name);
	if (access(prog, X_OK) < 0)
		tap_bail("%s missing: run packaging/install-deps (Debian's ceph packages)", prog);
	return child_spawn(argv, log);
}

/*
 * Start radosgw on rgw_port and wait until it answers S3 (60 s at most):
 * 0, or -1 when it exited while it started (its log shown: the port taken
 * meanwhile by another socket of the machine's, say).
 */
static int
rgw_launch(void)
{
	char url[96];
	int64_t t0 = gb_mono_ms();
	int st;

	snprintf(url, sizeof(url), "%s/", s3_endpoint);
	rgw_pid = ceph_daemon("/usr/bin/radosgw", "-n", "client.rgw", "rgw.out");
	while (gb_mono_ms() - t0 < 60000) {
		if (waitpid(rgw_pid, &st, WNOHANG) == rgw_pid) {
			rgw_pid = 0;
			log_tail("radosgw", rgw_log);
			return -1;
		}
		if (peer_http_status(url) == 200)
			return 0;
		usleep(50 * 1000);
	}
	ceph_logs();
	peer_s3_stop();
	tap_bail("radosgw does not answer on %s after 60 s", s3_endpoint);
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void
peer_s3_stop(void)
{
	ceph_kill(&rgw_pid);
	ceph_kill(&osd_pid);
	ceph_kill(&mon_pid);
	if (ceph_dir[0])
		nftw(ceph_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	ceph_dir[0] = '\0';
	rgw_port = 0;
}

/* One whole peer: monitor, OSD, user and radosgw; 0, or -1 when radosgw exited as it started. */
static int
ceph_start(int seq)
{
	char mon_port[16], port[16];

	snprintf(ceph_dir, sizeof(ceph_dir), "%s/ceph%d", util_tmpdir(), seq);
	snprintf(ceph_conf, sizeof(ceph_conf), "%s/ceph.conf", ceph_dir);
	snprintf(rgw_log, sizeof(rgw_log), "%s/rgw.out", ceph_dir);
	if (mkdir(ceph_dir, 0700) < 0)
		tap_bail("mkdir %s: %s", ceph_dir, strerror(errno));
	rgw_port = peer_free_port();
	snprintf(mon_port, sizeof(mon_port), "%d", peer_free_port());
	snprintf(port, sizeof(port), "%d", rgw_port);
	snprintf(s3_endpoint, sizeof(s3_endpoint), "http://127.0.0.1:%d", rgw_port);
	ceph_step("conf", mon_port, port);
	mon_pid = ceph_daemon("/usr/bin/ceph-mon", "-i", "a", "mon.out");
	ceph_step("osd", NULL, NULL);
	osd_pid = ceph_daemon("/usr/bin/ceph-osd", "-i", "0", "osd.out");
	ceph_step("user", S3_ACCESS_KEY, S3_SECRET_KEY);
	return rgw_launch();
}

/*
 * A radosgw that exits as it starts leaves its sessions open on the OSD,
 * which hold up the next one's writes for the OSD's watch timeout: the
 * whole peer is made again, on new ports (three times at most).
 */
int
peer_s3_start(void)
{
	static int registered, seq;
	int64_t t0 = gb_mono_ms();

	if (rgw_pid > 0)
		return rgw_port;
	if (!registered++)
		atexit(peer_s3_stop);
	for (int tries = 1; ceph_start(seq++) != 0; tries++) {
		peer_s3_stop();
		if (tries == 3)
			tap_bail("radosgw exited during start-up, %d times", tries);
		tap_diag("radosgw exited during start-up: the S3 peer is made again");
	}
	tap_diag("S3 peer (radosgw) on %s, ready in %lld ms", s3_endpoint,
	    (long long)(gb_mono_ms() - t0));
	return rgw_port;
}

const char *
peer_s3_endpoint(void)
{
	return s3_endpoint;
}

const char *
peer_s3_access_key(void)
{
	return S3_ACCESS_KEY;
}

const char *
peer_s3_secret_key(void)
{
	return S3_SECRET_KEY;
}

void
peer_s3_pause(void)
{
	child_signal(&rgw_pid, SIGSTOP, "radosgw");
}

void
peer_s3_resume(void)
{
	child_signal(&rgw_pid, SIGCONT, "radosgw");
}

void
peer_s3_kill(void)
{
	if (rgw_pid <= 0)
		tap_bail("peer_s3_kill: radosgw is not running");
	ceph_kill(&rgw_pid);
}

void
peer_s3_restart(void)
{
	int64_t t0 = gb_mono_ms();

	if (rgw_port <= 0)
		tap_bail("peer_s3_restart: the S3 peer was never started");
	ceph_kill(&rgw_pid);
	if (rgw_launch() != 0) {
		ceph_logs();
		peer_s3_stop();
		tap_bail("radosgw exited during its restart");
	}
	tap_diag("radosgw restarted in %lld ms", (long long)(gb_mono_ms() - t0));
}
