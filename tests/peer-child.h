/*
 * peer-child.h - how peer.c and peer-ceph.c run a peer's processes: in the
 * foreground, output to a log file, killed with the test (PR_SET_PDEATHSIG).
 */
#ifndef GB_TEST_PEER_CHILD_H
#define GB_TEST_PEER_CHILD_H

#include <sys/types.h>

/* Start argv (argv[0] a path) with stdin from /dev/null, stdout and stderr to log. */
pid_t child_spawn(char *const argv[], const char *log);
/* Stop *pid (also a stopped one): SIGTERM, then SIGKILL after 5 s; *pid = 0. */
void child_stop(pid_t *pid);
/* SIGSTOP or SIGCONT *pid, returning once it is stopped or running again. */
void child_signal(pid_t *pid, int sig, const char *name);
/* The last 2000 bytes of log as a TAP diagnostic. */
void log_tail(const char *name, const char *log);

#endif
