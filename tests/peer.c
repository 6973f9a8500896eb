/*
 * peer.c - the real servers the tests talk to, started on free loopback
 * ports in the test's temporary directory and stopped at exit: the llama.cpp
 * server (built and cached by tests/peers/llama-build.sh).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "../base/gbtime.h"
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

