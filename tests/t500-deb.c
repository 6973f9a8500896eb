/*
 * t500-deb - the Debian package as an administrator meets it. `make deb`
 * builds it (lintian: no error, no warning) and a newer build of the same
 * tree; both go into a throw-away Debian 12 root (debootstrap --variant=
 * minbase, cached as a tarball with its apt lists in
 * /var/cache/genbox-peers/deb, and the packages apt fetched beside it):
 * dpkg -i, then apt-get install -f for the dependencies. Then:
 * `genbox --version`, the user, the state folder and the settings' modes;
 * the unit passes `systemd-analyze verify` and `security --offline=yes`
 * (exposure 2.0 at most); its ExecStart, run by hand as its User with its
 * Environment on a free port, answers /healthz; a context made through the
 * API before the upgrade is still served after it, and the postinst has
 * migrated the schema after a backup of it; a purge leaves no file of genbox's behind (the
 * user stays, as Debian's policy asks).
 *
 * It needs root (debootstrap, chroot, mounts); its mounts live in a mount
 * namespace of its own and are gone with it. Nothing of the host's /etc or
 * /var/lib is touched. GENBOX_DEB_CACHE moves the cache.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "../storage/store.h"
#include "httpc.h"
#include "peer.h"
#include "tap.h"
#include "util.h"

#define CHROOT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define UNIT "/lib/systemd/system/genbox.service"
#define DB "/var/lib/genbox/genbox.db"
#define MAXARGS 64

static char root[PATH_MAX], cache[PATH_MAX], archives[PATH_MAX + 16];
static int mounted;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Run the NULL-terminated list of arguments; the program is a path. */
static int
cmd_run(struct run *r, const char *prog, ...)
{
	char *argv[MAXARGS];
	va_list ap;
	int n = 0;

	argv[n++] = (char *)prog;
	va_start(ap, prog);
	while (n < MAXARGS - 1 && (argv[n] = va_arg(ap, char *)) != NULL)
		n++;
	va_end(ap);
	argv[n] = NULL;
	return util_run(r, NULL, 0, argv);
}

/* argv after "chroot ROOT env -i PATH=... [env...]": prefix, then args up to NULL. */
static int
chroot_argv(char **argv, const char *user, va_list ap)
{
	static char reuid[64], regid[64];
	int n = 0;

	argv[n++] = "/usr/sbin/chroot";
	argv[n++] = root;
	if (user) {
		snprintf(reuid, sizeof(reuid), "--reuid=%s", user);
		snprintf(regid, sizeof(regid), "--regid=%s", user);
		argv[n++] = "/usr/bin/setpriv";
		argv[n++] = reuid;
		argv[n++] = regid;
		argv[n++] = "--init-groups";
	}
	argv[n++] = "/usr/bin/env";
	argv[n++] = "-i";
	argv[n++] = CHROOT_PATH;
	argv[n++] = "LANG=C.UTF-8";
	argv[n++] = "DEBIAN_FRONTEND=noninteractive";
	while (n < MAXARGS - 1 && (argv[n] = va_arg(ap, char *)) != NULL)
		n++;
	argv[n] = NULL;
	return n;
}

/* A command inside the root, as root (user NULL) or as user, with a clean environment. */
static int
in_root(struct run *r, const char *user, ...)
{
	char *argv[MAXARGS];
	va_list ap;

	va_start(ap, user);
	chroot_argv(argv, user, ap);
	va_end(ap);
	return util_run(r, NULL, 0, argv);
}

static void
diag_run(const char *what, const struct run *r)
{
	tap_diag("%s: exit %d\n%s%s", what, r->status, r->out ? r->out : "", r->err ? r->err : "");
}

/* ---- the packages ---- */

/* `make deb` into out, with version (NULL: the changelog's); the .deb's path into deb. */
static int
deb_build(const char *out, const char *version, int lintian, char *deb, size_t size)
{
	char src[PATH_MAX], outarg[PATH_MAX + 16], verarg[128], pattern[PATH_MAX + 32];
	struct run r;
	glob_t g;
	int rc;

	util_src(".", src, sizeof(src));
	snprintf(outarg, sizeof(outarg), "DEB_OUT=%s", out);
	snprintf(verarg, sizeof(verarg), "DEB_VERSION=%s", version ? version : "");
	setenv("LINTIAN", lintian ? "1" : "0", 1);
	rc = cmd_run(&r, "/usr/bin/make", "-s", "-C", src, "deb", outarg, verarg, NULL);
	unsetenv("LINTIAN");
	if (!ok(rc == 0, "make deb%s%s builds the package", version ? " DEB_VERSION=" : "",
	    version ? version : ""))
		diag_run("make deb", &r);
	if (lintian)
		like(r.out, "lintian: no errors, no warnings", "lintian reports no error and no warning");
	run_free(&r);
	snprintf(pattern, sizeof(pattern), "%s/genbox_*.deb", out);
	if (glob(pattern, 0, NULL, &g) != 0 || g.gl_pathc != 1)
		tap_bail("no single %s after make deb", pattern);
	snprintf(deb, size, "%s", g.gl_pathv[0]);
	globfree(&g);
	return rc;
}

/* The field of the .deb's control file, e.g. Version. */
static void
deb_field(const char *deb, const char *field, char *out, size_t size)
{
	struct run r;

	if (cmd_run(&r, "/usr/bin/dpkg-deb", "-f", deb, field, NULL) != 0)
		tap_bail("dpkg-deb -f %s %s: %s", deb, field, r.err);
	snprintf(out, size, "%s", r.out);
	out[strcspn(out, "\n")] = '\0';
	run_free(&r);
}

/* ---- the throw-away root ---- */

/* Copy the host's apt sources and settings into base, so apt there asks the same mirror. */
static void
root_apt_config(const char *base)
{
	char dst[PATH_MAX + 64];
	struct run r;

	snprintf(dst, sizeof(dst), "%s/etc/apt/sources.list", base);
	unlink(dst);
	snprintf(dst, sizeof(dst), "%s/etc/apt/sources.list.d/", base);
	if (cmd_run(&r, "/bin/cp", "-a", "/etc/apt/sources.list.d/.", dst, NULL) != 0)
		tap_bail("cp sources.list.d: %s", r.err);
	run_free(&r);
	snprintf(dst, sizeof(dst), "%s/etc/apt/apt.conf.d/", base);
	if (cmd_run(&r, "/bin/cp", "-a", "/etc/apt/apt.conf.d/.", dst, NULL) != 0)
		tap_bail("cp apt.conf.d: %s", r.err);
	run_free(&r);
	snprintf(dst, sizeof(dst), "%s/etc/apt/sources.list", base);
	if (access("/etc/apt/sources.list", F_OK) == 0) {
		cmd_run(&r, "/bin/cp", "/etc/apt/sources.list", dst, NULL);
		run_free(&r);
	}
	snprintf(dst, sizeof(dst), "%s/etc/resolv.conf", base);
	cmd_run(&r, "/bin/cp", "-L", "/etc/resolv.conf", dst, NULL);
	run_free(&r);
}

/* The cached tarball of a minimal Debian 12 root with its apt lists: made once. */
static void
root_cache(const char *tar)
{
	char base[PATH_MAX], tmp[PATH_MAX + 64];
	struct run r;
	double t0 = now_s();

	if (access(tar, R_OK) == 0)
		return;
	snprintf(base, sizeof(base), "%s/base", util_tmpdir());
	tap_diag("making the cached Debian 12 root %s (debootstrap, once: a few minutes)", tar);
	if (cmd_run(&r, "/usr/sbin/debootstrap", "--variant=minbase", "bookworm", base, NULL))
		tap_bail("debootstrap: %s%s", r.out, r.err);
	run_free(&r);
	root_apt_config(base);
	snprintf(root, sizeof(root), "%s", base);
	if (in_root(&r, NULL, "apt-get", "update", "-q", NULL) != 0)
		tap_bail("apt-get update in the root: %s%s", r.out, r.err);
	run_free(&r);
	/* debootstrap's own packages: not needed again */
	in_root(&r, NULL, "apt-get", "clean", NULL);
	run_free(&r);
	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", tar, (long)getpid());
	if (cmd_run(&r, "/bin/tar", "-C", base, "-cf", tmp, ".", NULL) != 0 || rename(tmp, tar))
		tap_bail("tar %s: %s", tmp, r.err);
	run_free(&r);
	cmd_run(&r, "/bin/rm", "-rf", base, NULL);
	run_free(&r);
	tap_diag("cached root made in %.0f s", now_s() - t0);
}

/*
 * The packages apt fetched, from the cache into the root (in) or back (out):
 * copied, not mounted, so that runs at once each have their own apt lock.
 */
static void
archives_copy(int in)
{
	char dir[PATH_MAX + 64], from[PATH_MAX + 96];
	struct run r;

	snprintf(dir, sizeof(dir), "%s/var/cache/apt/archives/", root);
	snprintf(from, sizeof(from), "%s/.", in ? archives : dir);
	if (in)
		cmd_run(&r, "/bin/cp", "-R", "-n", from, dir, NULL);
	else
		cmd_run(&r, "/usr/bin/find", dir, "-maxdepth", "1", "-name", "*.deb", "-exec",
		    "/bin/cp", "-n", "-t", archives, "{}", "+", NULL);
	if (r.status != 0)
		tap_diag("copying apt's packages %s the cache: %s", in ? "from" : "to", r.err);
	run_free(&r);
}

static void
root_umount(void)
{
	char p[PATH_MAX + 32];

	if (!mounted)
		return;
	snprintf(p, sizeof(p), "%s/dev/shm", root);
	umount2(p, MNT_DETACH);
	snprintf(p, sizeof(p), "%s/proc", root);
	umount2(p, MNT_DETACH);
	mounted = 0;
}

/*
 * A fresh root from the cache, with /proc and /dev/shm mounted (in a mount
 * namespace of this process only where it can have one), and the packages
 * apt fetched in earlier runs.
 */
static void
root_make(void)
{
	char tar[PATH_MAX + 32], p[PATH_MAX + 32];
	struct run r;

	snprintf(tar, sizeof(tar), "%s/bookworm-minbase.tar", cache);
	root_cache(tar);
	snprintf(root, sizeof(root), "%s/root", util_tmpdir());
	if (mkdir(root, 0755) < 0 || cmd_run(&r, "/bin/tar", "-C", root, "-xf", tar, NULL) != 0)
		tap_bail("cannot make the root %s from %s", root, tar);
	run_free(&r);
	root_apt_config(root);
	/*
	 * A mount namespace of its own keeps the mounts from the host's view;
	 * where there is none to be had (a chroot refuses one: EINVAL), they are
	 * made in the root all the same and undone at exit.
	 */
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		tap_diag("no mount namespace here (%s): /proc and /dev/shm of the root are "
		    "unmounted at exit", strerror(errno));
	/* unmounted before util's cleanup removes the folder (atexit runs in reverse) */
	atexit(root_umount);
	mounted = 1;
	snprintf(p, sizeof(p), "%s/proc", root);
	if (mount("proc", p, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		tap_bail("mount proc on %s: %s", p, strerror(errno));
	/* a system's /dev/shm (libmongoc's counters live there) */
	snprintf(p, sizeof(p), "%s/dev/shm", root);
	if ((mkdir(p, 01777) < 0 && errno != EEXIST) ||
	    mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") < 0)
		tap_bail("mount tmpfs on %s: %s", p, strerror(errno));
	archives_copy(1);
}

/* Copy the .deb into the root's /tmp; its path inside the root into in. */
static void
root_put(const char *deb, char *in, size_t size)
{
	char dst[PATH_MAX * 2];
	const char *name = strrchr(deb, '/') + 1;
	size_t len;
	char *data = util_read_file(deb, &len);

	snprintf(in, size, "/tmp/%s", name);
	snprintf(dst, sizeof(dst), "%s%s", root, in);
	if (data == NULL || util_write_file(dst, data, len) < 0)
		tap_bail("cannot copy %s into the root", deb);
	free(data);
}

/* dpkg -i, and apt-get install -f for what it depends on (from the cache when it can). */
static void
deb_install(const char *deb)
{
	struct run r;
	int rc;

	in_root(&r, NULL, "dpkg", "-i", deb, NULL);
	run_free(&r);
	if ((rc = in_root(&r, NULL, "apt-get", "install", "-f", "-y", "-q",
	    "--no-install-recommends", NULL)) != 0) {
		/* a dependency the cached lists do not know yet */
		run_free(&r);
		in_root(&r, NULL, "apt-get", "update", "-q", NULL);
		run_free(&r);
		rc = in_root(&r, NULL, "apt-get", "install", "-f", "-y", "-q",
		    "--no-install-recommends", NULL);
	}
	if (!ok(rc == 0, "dpkg -i and apt-get install -f install the package and its dependencies"))
		diag_run("apt-get install -f", &r);
	run_free(&r);
	archives_copy(0);
	in_root(&r, NULL, "dpkg-query", "-W", "-f=${Status} ${Version}", "genbox", NULL);
	like(r.out, "install ok installed", "dpkg says genbox is installed (%s)", r.out);
	run_free(&r);
}

/* ---- the installed package ---- */

/* The upstream part of a Debian version: no epoch, no revision. */
static void
upstream_of(const char *version, char *out, size_t size)
{
	const char *colon = strchr(version, ':'), *dash;

	snprintf(out, size, "%s", colon ? colon + 1 : version);
	if ((dash = strrchr(out, '-')) != NULL)
		out[dash - out] = '\0';
}

static void
check_installed(const char *version)
{
	char want[PATH_MAX + 64], upstream[128];
	struct run r;

	upstream_of(version, upstream, sizeof(upstream));
	snprintf(want, sizeof(want), "genbox %s\n", upstream);
	in_root(&r, NULL, "genbox", "--version", NULL);
	is_str(r.out, want, "genbox --version answers with the package's version");
	run_free(&r);
	in_root(&r, NULL, "getent", "passwd", "genbox", NULL);
	like(r.out, "genbox:", "the system user genbox exists (sysusers)");
	run_free(&r);
	in_root(&r, NULL, "stat", "-c", "%U:%G %a", "/var/lib/genbox", NULL);
	is_str(r.out, "genbox:genbox 750\n", "/var/lib/genbox is the user's, mode 0750");
	run_free(&r);
	in_root(&r, NULL, "stat", "-c", "%U:%G %a", "/etc/genbox/genbox.conf", NULL);
	is_str(r.out, "root:genbox 640\n", "the settings are readable by root and genbox only");
	run_free(&r);
	in_root(&r, NULL, "dpkg-query", "-W", "-f=${Conffiles}", "genbox", NULL);
	like(r.out, "/etc/genbox/genbox.conf", "/etc/genbox/genbox.conf is a conffile");
	run_free(&r);
	snprintf(want, sizeof(want), "%s/usr/share/man/man8/genbox.8.gz", root);
	ok(access(want, F_OK) == 0, "the man page genbox(8) is installed");
}

/* systemd-analyze, inside the root (systemd came as a dependency): verify and security. */
static void
check_unit(void)
{
	struct run r;
	const char *p;
	double exposure = 99;

	in_root(&r, NULL, "systemd-analyze", "verify", "--man=no", UNIT, NULL);
	if (!ok(r.status == 0 && r.err[0] == '\0',
	    "systemd-analyze verify finds nothing wrong in the unit"))
		diag_run("systemd-analyze verify", &r);
	run_free(&r);
	in_root(&r, NULL, "systemd-analyze", "security", "--offline=yes", UNIT, NULL);
	if ((p = strstr(r.out, "Overall exposure level for genbox.service: ")) != NULL)
		exposure = strtod(p + strlen("Overall exposure level for genbox.service: "), NULL);
	if (!ok(exposure <= 2.0, "systemd-analyze security --offline=yes: exposure %.1f, 2.0 at most",
	    exposure))
		diag_run("systemd-analyze security", &r);
	run_free(&r);
}

/* ---- the daemon, started as the unit says ---- */

struct unit {
	char exec[512];			/* ExecStart= */
	char user[64], group[64];
	char env[8][256];		/* Environment= assignments */
	int nenv;
};

static void
unit_read(struct unit *u)
{
	char path[PATH_MAX + 64], *text, *line, *save = NULL;

	memset(u, 0, sizeof(*u));
	snprintf(path, sizeof(path), "%s%s", root, UNIT);
	if ((text = util_read_file(path, NULL)) == NULL)
		tap_bail("cannot read %s", path);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "ExecStart=", 10) == 0)
			snprintf(u->exec, sizeof(u->exec), "%s", line + 10);
		else if (strncmp(line, "User=", 5) == 0)
			snprintf(u->user, sizeof(u->user), "%s", line + 5);
		else if (strncmp(line, "Group=", 6) == 0)
			snprintf(u->group, sizeof(u->group), "%s", line + 6);
		else if (strncmp(line, "Environment=", 12) == 0 && u->nenv < 8)
			snprintf(u->env[u->nenv++], sizeof(u->env[0]), "%s", line + 12);
	}
	free(text);
	if (u->exec[0] == '\0' || u->user[0] == '\0')
		tap_bail("%s has no ExecStart= or User=", UNIT);
	if (u->group[0] == '\0')
		snprintf(u->group, sizeof(u->group), "%s", u->user);
}

struct daemon {
	pid_t pid;
	int port;
	char log[PATH_MAX];
};

/*
 * The unit's ExecStart, by hand: chroot, its User and Group, its UMask, its
 * WorkingDirectory and Environment, and [web] listen moved to a free port
 * through the environment (the settings file is the installed one).
 */
static void
daemon_start(struct daemon *d)
{
	static char reuid[80], regid[80], listen[64];
	char *argv[MAXARGS], *words;
	struct unit u;
	mode_t old;
	int n = 0;

	unit_read(&u);
	d->port = peer_free_port();
	snprintf(listen, sizeof(listen), "GENBOX_WEB_LISTEN=127.0.0.1:%d", d->port);
	snprintf(reuid, sizeof(reuid), "--reuid=%s", u.user);
	snprintf(regid, sizeof(regid), "--regid=%s", u.group);
	snprintf(d->log, sizeof(d->log), "%s/serve-%d.log", util_tmpdir(), d->port);
	argv[n++] = "/usr/sbin/chroot";
	argv[n++] = root;
	argv[n++] = "/usr/bin/setpriv";
	argv[n++] = reuid;
	argv[n++] = regid;
	argv[n++] = "--init-groups";
	argv[n++] = "/usr/bin/env";
	argv[n++] = "-i";
	argv[n++] = "-C";
	argv[n++] = "/var/lib/genbox";
	argv[n++] = CHROOT_PATH;
	for (int i = 0; i < u.nenv; i++)
		argv[n++] = u.env[i];
	argv[n++] = listen;
	words = u.exec;
	for (char *w = strtok(words, " "); w && n < MAXARGS - 1; w = strtok(NULL, " "))
		argv[n++] = w;
	argv[n] = NULL;
	old = umask(0077);
	d->pid = util_spawn(argv, d->log, 0);
	umask(old);
}

/* Whether /healthz answers 200 within 15 s (and the daemon is still up). */
static int
daemon_healthy(struct daemon *d)
{
	char url[96];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", d->port);
	for (int i = 0; i < 150; i++) {
		struct http_resp resp;
		int st;

		if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
			d->pid = 0;
			return 0;
		}
		http_req(&resp, "GET", url, NULL, NULL, NULL, 0);
		st = (int)resp.status;
		http_resp_free(&resp);
		if (st == 200)
			return 1;
		usleep(100 * 1000);
	}
	return 0;
}

static void
daemon_log(const struct daemon *d)
{
	char *log = util_read_file(d->log, NULL);

	tap_diag("serve's log:\n%s", log ? log : "(none)");
	free(log);
}

/* SIGTERM: the daemon stops with exit status 0. */
static void
daemon_stop(struct daemon *d)
{
	int st = -1;

	if (d->pid <= 0)
		return;
	kill(d->pid, SIGTERM);
	waitpid(d->pid, &st, 0);
	if (!ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "SIGTERM stops serve with exit status 0"))
		daemon_log(d);
	d->pid = 0;
}

/* ---- data kept across the upgrade ---- */

/* The schema's example documents (user_456, an admin, among them), by the CLI as genbox. */
static void
data_demo(void)
{
	struct run r;

	in_root(&r, "genbox", "genbox", "demo", NULL);
	if (!ok(r.status == 0, "genbox demo as the genbox user, with the installed settings"))
		diag_run("genbox demo", &r);
	run_free(&r);
}

/* An API key of the example admin user_456, by the CLI as the genbox user; its token into tok. */
static void
data_key(char *tok, size_t size)
{
	struct run r;

	in_root(&r, "genbox", "genbox", "apikey", "create", "--user", "user_456", "--perm",
	    "read,write", NULL);
	if (!ok(r.status == 0 && strchr(r.out, '.') != NULL, "genbox apikey create prints a token"))
		diag_run("genbox apikey create", &r);
	snprintf(tok, size, "%s", r.out);
	tok[strcspn(tok, "\n")] = '\0';
	run_free(&r);
}

/* A new context through the API; its _id into id. */
static void
data_context(const struct daemon *d, const char *tok, char *id, size_t size)
{
	char url[96];
	struct http_resp resp;
	cJSON *doc;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/contexts", d->port);
	http_json(&resp, "POST", url, tok,
	    "{\"type\":\"article\",\"data\":{\"title\":\"Made before the upgrade\"}}");
	is_int(resp.status, 201, "POST /api/v1/contexts makes a context");
	doc = cJSON_Parse(resp.body ? resp.body : "");
	snprintf(id, size, "%s", cJSON_GetStringValue(cJSON_GetObjectItem(doc, "_id")) ?
	    cJSON_GetStringValue(cJSON_GetObjectItem(doc, "_id")) : "");
	cJSON_Delete(doc);
	http_resp_free(&resp);
	ok(id[0] != '\0', "with an _id (%s)", id);
}

static void
data_check(const struct daemon *d, const char *tok, const char *id)
{
	char url[256];
	struct http_resp resp;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/contexts/%s", d->port, id);
	http_req(&resp, "GET", url, tok, NULL, NULL, 0);
	is_int(resp.status, 200, "after the upgrade the context made before it is served");
	like(resp.body, "Made before the upgrade", "with its title");
	http_resp_free(&resp);
}

/*
 * Both builds come from this tree, so they share one schema: the database
 * is put back to what schema version 1 made (as t102 does) to stand for an
 * older genbox's, which the upgrade's postinst must migrate.
 */
static void
data_schema_v1(void)
{
	char path[PATH_MAX + 32];
	struct gb_err err = { 0, "" };
	sqlite3 *db = NULL;
	int v = -1;

	snprintf(path, sizeof(path), "%s%s", root, DB);
	if (sqlite3_open(path, &db) != SQLITE_OK || sqlite3_exec(db, util_schema_v1_sql, NULL, NULL,
	    NULL) != SQLITE_OK)
		tap_bail("sqlite3 %s: %s", path, sqlite3_errmsg(db));
	sqlite3_close(db);
	store_file_version(path, &v, &err);
	is_int(v, 1, "the database stands at schema version 1 before the upgrade");
}

/* ---- upgrade and purge ---- */

static void
upgrade(const char *deb, const char *version)
{
	char path[PATH_MAX + 32], want[256], upstream[160];
	struct gb_err err = { 0, "" };
	struct run r;
	int v = -1;

	upstream_of(version, upstream, sizeof(upstream));
	in_root(&r, NULL, "dpkg", "-i", deb, NULL);
	if (!ok(r.status == 0, "dpkg -i of the newer build upgrades the package"))
		diag_run("dpkg -i (upgrade)", &r);
	like(r.out, "genbox: " DB ": migrated from schema version 1 to",
	    "its postinst migrated the database");
	like(r.out, "event=backup_before_migration by=migrate from_version=1",
	    "... after a backup of it");
	run_free(&r);
	/* that backup: of schema version 1, beside the database as [backup] to says */
	in_root(&r, NULL, "sh", "-c", "cat /var/lib/genbox/backups/genbox-*.manifest.json", NULL);
	like(r.out, "\"schema_version\":\t1", "the backup's manifest is of schema version 1");
	run_free(&r);
	snprintf(path, sizeof(path), "%s%s", root, DB);
	store_file_version(path, &v, &err);
	is_int(v, store_schema_latest(), "to the latest schema version");
	snprintf(want, sizeof(want), "genbox %s\n", upstream);
	in_root(&r, NULL, "genbox", "--version", NULL);
	is_str(r.out, want, "genbox --version says the newer version");
	run_free(&r);
	in_root(&r, NULL, "find", "/var/lib/genbox", "!", "-user", "genbox", NULL);
	is_str(r.out, "", "every file of the state is still the genbox user's");
	run_free(&r);
}

static int leftovers;

static int
leftover(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	static const char *const allowed[] = { "/var/lib/dpkg/", "/var/log/", "/var/cache/",
		"/tmp/", "/proc/" };
	const char *in = path + strlen(root);

	(void)sb;
	(void)flag;
	if (strstr(path + ftw->base, "genbox") == NULL)
		return 0;
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		if (strncmp(in, allowed[i], strlen(allowed[i])) == 0)
			return 0;
	tap_diag("left behind: %s", in);
	leftovers++;
	return 0;
}

static void
purge(void)
{
	char path[PATH_MAX + 32];
	struct run r;

	in_root(&r, NULL, "dpkg", "--purge", "genbox", NULL);
	if (!ok(r.status == 0, "dpkg --purge genbox"))
		diag_run("dpkg --purge", &r);
	run_free(&r);
	snprintf(path, sizeof(path), "%s/etc/genbox", root);
	ok(access(path, F_OK) < 0 && errno == ENOENT, "no /etc/genbox after the purge");
	snprintf(path, sizeof(path), "%s/var/lib/genbox", root);
	ok(access(path, F_OK) < 0 && errno == ENOENT, "no /var/lib/genbox after the purge");
	leftovers = 0;
	nftw(root, leftover, 32, FTW_PHYS | FTW_MOUNT);
	is_int(leftovers, 0, "no file named genbox anywhere else (but dpkg's records and logs)");
	in_root(&r, NULL, "getent", "passwd", "genbox", NULL);
	ok(r.status == 0, "the system user stays, as Debian's policy asks");
	run_free(&r);
}

/* ---- the run ---- */

static void
serve_and_upgrade(const char *deb2, const char *up2)
{
	struct daemon d;
	char tok[256], id[128];

	daemon_start(&d);
	if (!ok(daemon_healthy(&d), "the unit's ExecStart, as the genbox user on a free port, "
	    "answers /healthz with 200")) {
		daemon_log(&d);
		tap_bail("the daemon does not serve");
	}
	data_demo();
	data_key(tok, sizeof(tok));
	data_context(&d, tok, id, sizeof(id));
	daemon_stop(&d);
	data_schema_v1();
	upgrade(deb2, up2);
	daemon_start(&d);
	if (!ok(daemon_healthy(&d), "after the upgrade it answers /healthz again"))
		daemon_log(&d);
	/* schema version 1 had no API keys: a new one */
	data_key(tok, sizeof(tok));
	data_check(&d, tok, id);
	daemon_stop(&d);
}

int
main(void)
{
	char out1[PATH_MAX], out2[PATH_MAX], deb1[PATH_MAX], deb2[PATH_MAX];
	char in1[PATH_MAX], in2[PATH_MAX], v1[128], v2[160];
	const char *c = getenv("GENBOX_DEB_CACHE");
	struct run r;
	double t0 = now_s(), t;

	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root (debootstrap, chroot, mounts)\n");
		return 0;
	}
	snprintf(cache, sizeof(cache), "%s", c && *c ? c : "/var/cache/genbox-peers/deb");
	snprintf(archives, sizeof(archives), "%s/archives", cache);
	if (cmd_run(&r, "/bin/mkdir", "-p", archives, NULL) != 0)
		tap_bail("cannot make %s: %s", archives, r.err);
	run_free(&r);
	snprintf(out1, sizeof(out1), "%s/deb1", util_tmpdir());
	snprintf(out2, sizeof(out2), "%s/deb2", util_tmpdir());
	deb_build(out1, NULL, 1, deb1, sizeof(deb1));
	deb_field(deb1, "Version", v1, sizeof(v1));
	snprintf(v2, sizeof(v2), "%s+t500.1", v1);
	deb_build(out2, v2, 0, deb2, sizeof(deb2));
	tap_diag("two builds in %.0f s", (t = now_s()) - t0);
	root_make();
	root_put(deb1, in1, sizeof(in1));
	root_put(deb2, in2, sizeof(in2));
	tap_diag("the root ready in %.0f s", now_s() - t);
	deb_install(in1);
	check_installed(v1);
	check_unit();
	serve_and_upgrade(in2, v2);
	purge();
	tap_diag("t500 took %.0f s", now_s() - t0);
	return tap_done();
}
