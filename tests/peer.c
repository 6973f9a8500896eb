/*
 * peer.c - the real servers the tests talk to, started on free loopback
 * ports in the test's temporary directory and stopped at exit: the llama.cpp
 * server (built and cached by tests/peers/llama-build.sh), a private
 * redis-server, and the MongoDB peers (mongo-peer.py, jongodb); Ceph's
 * radosgw is in peer-ceph.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "../base/gbtime.h"
#include "peer-child.h"
#include "peer.h"
#include "tap.h"
#include "util.h"

/* A loopback port nobody listens on right now. */
int
peer_free_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd, port;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		tap_bail("socket: %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		tap_bail("bind: %s", strerror(errno));
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static pid_t llama_pid;
static char llama_log[4096];

void
peer_llama_stop(void)
{
	int st;

	if (llama_pid <= 0)
		return;
	kill(llama_pid, SIGTERM);
	for (int i = 0; i < 100; i++) {
		if (waitpid(llama_pid, &st, WNOHANG) == llama_pid) {
			llama_pid = 0;
			return;
		}
		usleep(50 * 1000);
	}
	kill(llama_pid, SIGKILL);
	waitpid(llama_pid, &st, 0);
	llama_pid = 0;
}

static void
llama_log_tail(void)
{
	char *text = util_read_file(llama_log, NULL);
	size_t len = text ? strlen(text) : 0;

	if (text)
		tap_diag("llama-server log (tail):\n%s", text + (len > 3000 ? len - 3000 : 0));
	free(text);
}

/* Build or find llama-server and the tiny model; returns the paths. */
static void
llama_paths(char *server, char *model, size_t size)
{
	char script[4096], cmd[4200], line[4096];
	FILE *f;

	util_src("tests/peers/llama-build.sh", script, sizeof(script));
	snprintf(cmd, sizeof(cmd), "bash '%s'", script);
	server[0] = model[0] = '\0';
	fflush(stdout);
	if ((f = popen(cmd, "r")) == NULL)
		tap_bail("popen %s: %s", script, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "LLAMA_SERVER=", 13) == 0)
			snprintf(server, size, "%s", line + 13);
		else if (strncmp(line, "LLAMA_MODEL=", 12) == 0)
			snprintf(model, size, "%s", line + 12);
	}
	if (pclose(f) != 0 || !server[0] || !model[0])
		tap_bail("%s failed", script);
}

static size_t
discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

int
peer_http_status(const char *url)
{
	CURL *e = curl_easy_init();
	long status = 0;

	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 2000L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
	if (curl_easy_perform(e) == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(e);
	return (int)status;
}

/* Start llama-server on a free port; returns its base URL. */
const char *
peer_llama_start(const char *key)
{
	static char base[64];
	char server[4096], model[4096], port[16], health_url[96];
	char *argv[32];
	int n = 0, st, fd;
	int64_t t0;

	llama_paths(server, model, sizeof(server));
	snprintf(port, sizeof(port), "%d", peer_free_port());
	snprintf(base, sizeof(base), "http://127.0.0.1:%s", port);
	snprintf(health_url, sizeof(health_url), "%s/health", base);
	snprintf(llama_log, sizeof(llama_log), "%s/llama-server.log", util_tmpdir());
	argv[n++] = server;
	argv[n++] = "-m";
	argv[n++] = model;
	argv[n++] = "--host";
	argv[n++] = "127.0.0.1";
	argv[n++] = "--port";
	argv[n++] = port;
	argv[n++] = "-c";
	argv[n++] = "2048";
	argv[n++] = "-np";
	argv[n++] = "4";
	argv[n++] = "-t";
	argv[n++] = "1";
	argv[n++] = "-tb";
	argv[n++] = "1";
	argv[n++] = "--alias";
	argv[n++] = "tiny-llama";
	argv[n++] = "--api-key";
	argv[n++] = (char *)key;
	argv[n] = NULL;
	{
		char cmdline[2048] = "";

		for (int i = 0; i < n; i++)
			snprintf(cmdline + strlen(cmdline), sizeof(cmdline) - strlen(cmdline), "%s%s",
			    i ? " " : "", argv[i]);
		tap_diag("%s", cmdline);
	}
	fflush(stdout);
	fflush(stderr);
	if ((fd = open(llama_log, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0)
		tap_bail("open %s: %s", llama_log, strerror(errno));
	if ((llama_pid = fork()) < 0)
		tap_bail("fork: %s", strerror(errno));
	if (llama_pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		prctl(PR_SET_PDEATHSIG, SIGTERM);	/* also when the test is killed */
		dup2(null, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execv(server, argv);
		_exit(127);
	}
	close(fd);
	atexit(peer_llama_stop);
	for (t0 = gb_mono_ms(); gb_mono_ms() - t0 < 60000; usleep(100 * 1000)) {
		if (waitpid(llama_pid, &st, WNOHANG) == llama_pid) {
			llama_pid = 0;
			llama_log_tail();
			tap_bail("llama-server exited during start-up");
		}
		if (peer_http_status(health_url) == 200) {
			tap_diag("llama-server ready in %lld ms", (long long)(gb_mono_ms() - t0));
			return base;
		}
	}
	llama_log_tail();
	tap_bail("llama-server not healthy after 60 s");
}

/* ---- children: started with their output in a log file, killed with the test */

/* Start argv with stdin from /dev/null and stdout and stderr to log. */
pid_t
child_spawn(char *const argv[], const char *log)
{
	pid_t parent = getpid(), pid;
	int fd;

	fflush(stdout);
	fflush(stderr);
	if ((fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0)
		tap_bail("open %s: %s", log, strerror(errno));
	if ((pid = fork()) < 0)
		tap_bail("fork: %s", strerror(errno));
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		/* SIGKILL: it also ends a child stopped with SIGSTOP */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		dup2(null, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		/* none of the test's sockets: a connection it closes must close */
		close_range(3, ~0U, 0);
		execv(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(fd);
	return pid;
}

/* Stop *pid (also a stopped one): SIGTERM, then SIGKILL after 5 s. */
void
child_stop(pid_t *pid)
{
	int st;

	if (*pid <= 0)
		return;
	kill(*pid, SIGCONT);
	kill(*pid, SIGTERM);
	for (int i = 0; i < 100; i++) {
		if (waitpid(*pid, &st, WNOHANG) == *pid) {
			*pid = 0;
			return;
		}
		usleep(50 * 1000);
	}
	kill(*pid, SIGKILL);
	waitpid(*pid, &st, 0);
	*pid = 0;
}

/*
 * SIGSTOP or SIGCONT to *pid, returning once it is stopped (every thread:
 * a signal is acted on a moment after kill returns) or running again.
 */
void
child_signal(pid_t *pid, int sig, const char *name)
{
	int st;

	if (*pid <= 0)
		tap_bail("%s is not running", name);
	if (kill(*pid, sig) < 0)
		tap_bail("kill %s: %s", name, strerror(errno));
	while (waitpid(*pid, &st, sig == SIGSTOP ? WUNTRACED : WCONTINUED) < 0)
		if (errno != EINTR)
			tap_bail("waitpid %s: %s", name, strerror(errno));
	if (WIFEXITED(st) || WIFSIGNALED(st)) {
		*pid = 0;
		tap_bail("%s exited", name);
	}
}

void
log_tail(const char *name, const char *log)
{
	char *text = util_read_file(log, NULL);
	size_t len = text ? strlen(text) : 0;

	if (text)
		tap_diag("%s log (tail):\n%s", name, text + (len > 2000 ? len - 2000 : 0));
	free(text);
}

/*
 * Wait up to timeout_ms for a line starting with prefix in log; copies the
 * rest of the line to out. Bails out (with the log's tail) when the child
 * exits or the time is up.
 */
static void
child_wait_line(pid_t *pid, const char *name, const char *log, const char *prefix,
    char *out, size_t size, int timeout_ms)
{
	int64_t t0 = gb_mono_ms();
	size_t plen = strlen(prefix);
	int st;

	for (;; usleep(20 * 1000)) {
		char *text = util_read_file(log, NULL), *p = text, *nl;

		for (; p && (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
			if (strncmp(p, prefix, plen) == 0) {
				snprintf(out, size, "%.*s", (int)(nl - p - (ptrdiff_t)plen), p + plen);
				free(text);
				return;
			}
		}
		free(text);
		if (waitpid(*pid, &st, WNOHANG) == *pid) {
			*pid = 0;
			log_tail(name, log);
			tap_bail("%s exited during start-up (status %d)", name,
			    WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
		}
		if (gb_mono_ms() - t0 > timeout_ms) {
			log_tail(name, log);
			child_stop(pid);
			tap_bail("%s: no '%s' line after %d ms", name, prefix, timeout_ms);
		}
	}
}

/* A TCP connection to 127.0.0.1:port with send and receive timeouts; -1 on failure. */
static int
tcp_connect(int port, int timeout_ms)
{
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* ---- Redis: a private redis-server */

static pid_t redis_pid;
static int redis_port;
static char redis_dir[4096], redis_log[4200];

/* 1 when the server on port answers PING with +PONG. */
static int
redis_pong(int port)
{
	char buf[64];
	ssize_t n;
	int fd = tcp_connect(port, 1000), ok = 0;

	if (fd < 0)
		return 0;
	if (write(fd, "PING\r\n", 6) == 6 && (n = read(fd, buf, sizeof(buf) - 1)) > 0) {
		buf[n] = '\0';
		ok = strncmp(buf, "+PONG", 5) == 0;
	}
	close(fd);
	return ok;
}

/* Start redis-server on redis_port; 0 when it answers PING, -1 when it exited. */
static int
redis_launch(void)
{
	char port[16];
	char *argv[] = { "/usr/bin/redis-server", "--bind", "127.0.0.1", "--port", port,
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", redis_dir,
		NULL };
	int64_t t0 = gb_mono_ms();
	int st;

	if (access(argv[0], X_OK) < 0)
		tap_bail("%s missing: run packaging/install-deps (Debian's redis-server)", argv[0]);
	snprintf(port, sizeof(port), "%d", redis_port);
	redis_pid = child_spawn(argv, redis_log);
	while (gb_mono_ms() - t0 < 10000) {
		if (waitpid(redis_pid, &st, WNOHANG) == redis_pid) {
			redis_pid = 0;
			return -1;
		}
		if (redis_pong(redis_port))
			return 0;
		usleep(20 * 1000);
	}
	log_tail("redis-server", redis_log);
	child_stop(&redis_pid);
	tap_bail("redis-server on port %d does not answer PING after 10 s", redis_port);
}

void
peer_redis_stop(void)
{
	child_stop(&redis_pid);
}

int
peer_redis_start(void)
{
	static int registered;

	if (redis_pid > 0)
		return redis_port;
	snprintf(redis_dir, sizeof(redis_dir), "%s/redis", util_tmpdir());
	snprintf(redis_log, sizeof(redis_log), "%s/redis-server.log", redis_dir);
	if (mkdir(redis_dir, 0700) < 0 && errno != EEXIST)
		tap_bail("mkdir %s: %s", redis_dir, strerror(errno));
	if (!registered++)
		atexit(peer_redis_stop);
	/* a free port may be taken before redis-server binds it: try another */
	for (int i = 0; i < 5; i++) {
		redis_port = peer_free_port();
		if (redis_launch() == 0)
			return redis_port;
	}
	log_tail("redis-server", redis_log);
	tap_bail("redis-server did not start");
}

void
peer_redis_restart(void)
{
	int64_t t0 = gb_mono_ms();

	if (redis_port <= 0)
		tap_bail("peer_redis_restart: redis-server was never started");
	child_stop(&redis_pid);
	while (redis_launch() < 0) {
		if (gb_mono_ms() - t0 > 10000) {
			log_tail("redis-server", redis_log);
			tap_bail("redis-server did not restart on port %d", redis_port);
		}
		usleep(100 * 1000);
	}
}

void
peer_redis_pause(void)
{
	child_signal(&redis_pid, SIGSTOP, "redis-server");
}

void
peer_redis_resume(void)
{
	child_signal(&redis_pid, SIGCONT, "redis-server");
}

/* ---- MongoDB: mongo-peer.py (mongomock) or jongodb */

static pid_t mongo_pid;
static int mongo_port;
static char mongo_log[4200];

enum peer_mongo
peer_mongo_kind_from_env(void)
{
	const char *v = getenv("GENBOX_MONGO_PEER");

	if (v == NULL || !*v || strcmp(v, "mongomock") == 0)
		return PEER_MONGOMOCK;
	if (strcmp(v, "jongodb") == 0)
		return PEER_JONGODB;
	tap_bail("GENBOX_MONGO_PEER='%s': expected mongomock or jongodb", v);
}

const char *
peer_mongo_name(enum peer_mongo kind)
{
	return kind == PEER_JONGODB ? "jongodb" : "mongomock";
}

/* Percent-encode s for the user information of a URI. */
static void
uri_escape(const char *s, char *out, size_t size)
{
	size_t n = 0;

	for (; *s && n + 4 < size; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    strchr("-._~", c))
			out[n++] = (char)c;
		else
			n += (size_t)snprintf(out + n, size - n, "%%%02X", c);
	}
	out[n] = '\0';
}

/* The jongodb binary, installed (once, cached) by tests/peers/jongodb-setup.sh. */
static void
jongodb_path(char *bin, size_t size)
{
	char script[4096], cmd[4200], line[4096];
	FILE *f;

	util_src("tests/peers/jongodb-setup.sh", script, sizeof(script));
	snprintf(cmd, sizeof(cmd), "sh '%s'", script);
	bin[0] = '\0';
	fflush(stdout);
	if ((f = popen(cmd, "r")) == NULL)
		tap_bail("popen %s: %s", script, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "JONGODB_BIN=", 12) == 0)
			snprintf(bin, size, "%s", line + 12);
	}
	if (pclose(f) != 0 || !bin[0])
		tap_bail("%s failed: jongodb cannot be installed", script);
}

/* Start the peer; its port from the line it prints once listening. */
static void
mongo_launch(enum peer_mongo kind, const char *user, const char *pass)
{
	char script[4096], bin[4096], line[512], *argv[12], *end;
	const char *name = peer_mongo_name(kind);
	int n = 0;
	long port;

	snprintf(mongo_log, sizeof(mongo_log), "%s/mongo-%s.log", util_tmpdir(), name);
	if (kind == PEER_JONGODB) {
		if (user)
			tap_bail("jongodb has no authentication: start it without a user");
		jongodb_path(bin, sizeof(bin));
		argv[n++] = bin;
		argv[n++] = "--host=127.0.0.1";
		argv[n++] = "--port=0";
	} else {
		if (access("/usr/bin/python3", X_OK) < 0)
			tap_bail("/usr/bin/python3 missing: run packaging/install-deps");
		util_src("tests/peers/mongo-peer.py", script, sizeof(script));
		argv[n++] = "/usr/bin/python3";
		argv[n++] = script;
		argv[n++] = "--host";
		argv[n++] = "127.0.0.1";
		argv[n++] = "--port";
		argv[n++] = "0";
		if (user) {
			argv[n++] = "--user";
			argv[n++] = (char *)user;
			argv[n++] = "--password";
			argv[n++] = (char *)(pass ? pass : "");
		}
	}
	argv[n] = NULL;
	mongo_pid = child_spawn(argv, mongo_log);
	child_wait_line(&mongo_pid, name, mongo_log,
	    kind == PEER_JONGODB ? "JONGODB_URI=mongodb://127.0.0.1:" : "READY port=",
	    line, sizeof(line), 60000);
	errno = 0;
	port = strtol(line, &end, 10);
	if (errno || port <= 0 || port > 65535 || (*end && *end != '/')) {
		child_stop(&mongo_pid);
		tap_bail("%s: cannot read its port from '%s'", name, line);
	}
	mongo_port = (int)port;
}

void
peer_mongo_stop(void)
{
	child_stop(&mongo_pid);
}

const char *
peer_mongo_start(enum peer_mongo kind, const char *user, const char *pass)
{
	static char uri[1024];
	static int registered;
	char u[256], p[256];
	int64_t t0 = gb_mono_ms();

	if (mongo_pid > 0)
		tap_bail("peer_mongo_start: a MongoDB peer is running already");
	if (!registered++)
		atexit(peer_mongo_stop);
	mongo_launch(kind, user, pass);
	tap_diag("%s MongoDB peer on port %d, ready in %lld ms", peer_mongo_name(kind),
	    mongo_port, (long long)(gb_mono_ms() - t0));
	if (user) {
		uri_escape(user, u, sizeof(u));
		uri_escape(pass ? pass : "", p, sizeof(p));
		snprintf(uri, sizeof(uri), "mongodb://%s:%s@127.0.0.1:%d/?authSource=admin", u, p,
		    mongo_port);
	} else {
		snprintf(uri, sizeof(uri), "mongodb://127.0.0.1:%d/", mongo_port);
	}
	return uri;
}

int
peer_mongo_port(void)
{
	return mongo_port;
}

void
peer_mongo_pause(void)
{
	child_signal(&mongo_pid, SIGSTOP, "the MongoDB peer");
}

void
peer_mongo_resume(void)
{
	child_signal(&mongo_pid, SIGCONT, "the MongoDB peer");
}
