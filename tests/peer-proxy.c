/*
 * peer-proxy.c - a TCP proxy on loopback between the program under test and
 * a peer, run in a forked child (a poll loop over many connections), that
 * the test can cut and restore. Cut closes every connection and from then
 * on accepts new ones only to close them at once (the listening port stays
 * reserved); restore forwards again. The parent drives it through a socket
 * pair and waits for each command's acknowledgement.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "peer.h"
#include "tap.h"

#define PROXY_PAIRS	240		/* connections forwarded at once */
#define PROXY_BUF	65536		/* bytes in flight per direction */
#define PROXY_CTL	3		/* the child's descriptors */
#define PROXY_LISTEN	4

/* dir[d] holds bytes read from fd[d], to be written to fd[!d]. */
struct proxy_dir {
	char buf[PROXY_BUF];
	size_t len, off;
};

struct proxy_pair {
	int fd[2];
	int dead;
	struct proxy_dir dir[2];
};

static pid_t proxy_pid;
static int proxy_ctl = -1;
static struct proxy_pair *proxy_pairs;	/* the child's, allocated before fork */

static int
proxy_target(int port)
{
	struct timeval tv = { 2, 0 };
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	if (fd < 0)
		return -1;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

static void
proxy_close_all(int *n)
{
	for (int i = 0; i < *n; i++) {
		close(proxy_pairs[i].fd[0]);
		close(proxy_pairs[i].fd[1]);
	}
	*n = 0;
}

/* A new client: forwarded to the target unless cut or full. */
static void
proxy_accept(int target, int cut, int *n)
{
	int fd = accept4(PROXY_LISTEN, NULL, NULL, SOCK_NONBLOCK), one = 1, to;
	struct proxy_pair *p;

	if (fd < 0)
		return;
	if (cut || *n == PROXY_PAIRS || (to = proxy_target(target)) < 0) {
		close(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	p = &proxy_pairs[(*n)++];
	p->fd[0] = fd;
	p->fd[1] = to;
	p->dead = 0;
	p->dir[0].len = p->dir[0].off = p->dir[1].len = p->dir[1].off = 0;
}

/* Move bytes for side d of p after poll said revents. */
static void
proxy_side(struct proxy_pair *p, int d, short revents)
{
	struct proxy_dir *in = &p->dir[d], *out = &p->dir[!d];
	ssize_t k;

	if (revents & POLLIN && in->len == 0) {
		k = read(p->fd[d], in->buf, sizeof(in->buf));
		if (k > 0)
			in->len = (size_t)k, in->off = 0;
		else if (k == 0 || (errno != EAGAIN && errno != EINTR))
			p->dead = 1;
	} else if (revents & (POLLERR | POLLHUP)) {
		p->dead = 1;
	}
	if (!p->dead && revents & POLLOUT && out->len > out->off) {
		k = send(p->fd[d], out->buf + out->off, out->len - out->off, MSG_NOSIGNAL);
		if (k > 0 && (out->off += (size_t)k) == out->len)
			out->len = out->off = 0;
		else if (k < 0 && errno != EAGAIN && errno != EINTR)
			p->dead = 1;
	}
}

/* A command from the parent: 'c' cut, 'r' restore; 0 when the parent is gone. */
static int
proxy_command_in(int *cut, int *n)
{
	char c, ack = 'k';

	if (read(PROXY_CTL, &c, 1) != 1)
		return 0;
	if (c == 'c') {
		proxy_close_all(n);
		*cut = 1;
	} else if (c == 'r') {
		*cut = 0;
	}
	return write(PROXY_CTL, &ack, 1) == 1;
}

static void __attribute__((noreturn))
proxy_loop(int target)
{
	static struct pollfd pfd[2 + 2 * PROXY_PAIRS];
	int n = 0, cut = 0, m, j;

	for (;;) {
		pfd[0] = (struct pollfd){ .fd = PROXY_CTL, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = PROXY_LISTEN, .events = POLLIN };
		for (int i = 0; i < n; i++)
			for (int d = 0; d < 2; d++) {
				struct proxy_pair *p = &proxy_pairs[i];

				pfd[2 + 2 * i + d] = (struct pollfd){ .fd = p->fd[d],
					.events = (short)((p->dir[d].len ? 0 : POLLIN) |
					    (p->dir[!d].len ? POLLOUT : 0)) };
			}
		if (poll(pfd, (nfds_t)(2 + 2 * n), -1) < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		for (int i = 0; i < n; i++)
			for (int d = 0; d < 2; d++)
				if (!proxy_pairs[i].dead && pfd[2 + 2 * i + d].revents)
					proxy_side(&proxy_pairs[i], d, pfd[2 + 2 * i + d].revents);
		for (m = j = 0; j < n; j++) {
			if (proxy_pairs[j].dead) {
				close(proxy_pairs[j].fd[0]);
				close(proxy_pairs[j].fd[1]);
			} else if (m++ != j) {
				proxy_pairs[m - 1] = proxy_pairs[j];
			}
		}
		n = m;
		if (pfd[0].revents && !proxy_command_in(&cut, &n))
			_exit(0);
		if (pfd[1].revents & POLLIN)
			proxy_accept(target, cut, &n);
	}
}

void
peer_proxy_stop(void)
{
	int st;

	if (proxy_pid <= 0)
		return;
	close(proxy_ctl);
	proxy_ctl = -1;
	kill(proxy_pid, SIGKILL);
	waitpid(proxy_pid, &st, 0);
	proxy_pid = 0;
}

/* A loopback listening socket on a free port; returns it, the port in *port. */
static int
proxy_listen(int *port)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 128) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		tap_bail("proxy: listen: %s", strerror(errno));
	*port = ntohs(a.sin_port);
	return fd;
}

int
peer_proxy_start(int target_port)
{
	static int registered;
	struct timeval tv = { 10, 0 };
	pid_t parent = getpid();
	int sv[2], lfd, port;

	if (proxy_pid > 0)
		tap_bail("peer_proxy_start: a proxy is running already");
	if (proxy_pairs == NULL && (proxy_pairs = calloc(PROXY_PAIRS, sizeof(*proxy_pairs))) == NULL)
		tap_bail("proxy: out of memory");
	lfd = proxy_listen(&port);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		tap_bail("proxy: socketpair: %s", strerror(errno));
	fflush(stdout);
	fflush(stderr);
	if ((proxy_pid = fork()) < 0)
		tap_bail("proxy: fork: %s", strerror(errno));
	if (proxy_pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		signal(SIGPIPE, SIG_IGN);
		/* only its own descriptors: the test's sockets close when the test closes them */
		if ((sv[1] = fcntl(sv[1], F_DUPFD, 10)) < 0 || (lfd = fcntl(lfd, F_DUPFD, 10)) < 0 ||
		    dup2(sv[1], PROXY_CTL) < 0 || dup2(lfd, PROXY_LISTEN) < 0)
			_exit(1);
		close_range(PROXY_LISTEN + 1, ~0U, 0);
		proxy_loop(target_port);
	}
	close(lfd);
	close(sv[1]);
	proxy_ctl = sv[0];
	setsockopt(proxy_ctl, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (!registered++)
		atexit(peer_proxy_stop);
	return port;
}

static void
proxy_command(char c, const char *what)
{
	char ack;

	if (proxy_pid <= 0)
		tap_bail("peer_proxy_%s: no proxy running", what);
	if (send(proxy_ctl, &c, 1, MSG_NOSIGNAL) != 1 || read(proxy_ctl, &ack, 1) != 1 || ack != 'k')
		tap_bail("peer_proxy_%s: the proxy does not answer", what);
}

void
peer_proxy_cut(void)
{
	proxy_command('c', "cut");
}

void
peer_proxy_restore(void)
{
	proxy_command('r', "restore");
}
