/*
 * peer.h - real servers for the tests, on loopback.
 *
 * Each is started once per test program, on a free port, with its files in
 * the test's temporary directory, and stopped at exit (also after a bail
 * out); a child dies with the test (PR_SET_PDEATHSIG). Start them before any
 * thread (they fork). A peer that cannot start bails out with the reason:
 * tests never skip for want of one.
 */
#ifndef GB_TEST_PEER_H
#define GB_TEST_PEER_H

/* A loopback port nobody listens on right now. */
int peer_free_port(void);
/*
 * Build (once, cached) and start llama.cpp's server with the tiny model on a
 * free port, requiring the API key key; waits until it is healthy and returns
 * its base URL. Call before starting threads (it forks). Bails out on failure.
 */
const char *peer_llama_start(const char *key);
/* The HTTP status of a GET of url (0 when no answer within 2 s). */
int peer_http_status(const char *url);
/* Stop it (also run at exit). */
void peer_llama_stop(void);

/*
 * A private redis-server (Debian's) on 127.0.0.1, no persistence; returns
 * its port once it answers PING.
 */
int peer_redis_start(void);
void peer_redis_stop(void);
/* Stop it and start it again on the same port (its data is gone). */
void peer_redis_restart(void);
/* Freeze it (SIGSTOP): connections stay open, nothing answers; and thaw it. */
void peer_redis_pause(void);
void peer_redis_resume(void);

/*
 * The MongoDB peers of PEERS.md: tests/peers/mongo-peer.py (mongomock behind
 * the wire protocol; authentication with SCRAM-SHA-256 when user is not
 * NULL) and jongodb (no authentication: user must be NULL), installed by
 * tests/peers/jongodb-setup.sh. Both keep data in memory only.
 */
enum peer_mongo { PEER_MONGOMOCK, PEER_JONGODB };

/* GENBOX_MONGO_PEER=mongomock|jongodb (default mongomock); bails out on others. */
enum peer_mongo peer_mongo_kind_from_env(void);
/* "mongomock" or "jongodb" */
const char *peer_mongo_name(enum peer_mongo kind);
/*
 * Start one; returns its URI, mongodb://[user:pass@]127.0.0.1:N/ (with
 * ?authSource=admin when user is given), in a static buffer.
 */
const char *peer_mongo_start(enum peer_mongo kind, const char *user, const char *pass);
/* Its port (for peer_proxy_start). */
int peer_mongo_port(void);
void peer_mongo_stop(void);
/* Freeze (SIGSTOP) and thaw (SIGCONT) it: data kept, nothing answers meanwhile. */
void peer_mongo_pause(void);
void peer_mongo_resume(void);

/*
 * A TCP proxy to 127.0.0.1:target_port in a child process; returns the port
 * it listens on. Start it before the connections it is to carry exist.
 */
int peer_proxy_start(int target_port);
/* Close every connection; new ones are accepted and closed at once. */
void peer_proxy_cut(void);
/* Forward new connections again. */
void peer_proxy_restore(void);
void peer_proxy_stop(void);

/*
 * S3: Ceph's radosgw (PEERS.md) in a throw-away cluster of its own (one
 * monitor, one OSD in memory, no manager), on free 127.0.0.1 ports, its
 * files in the test's temporary directory (tests/peers/ceph-s3.sh), with an
 * S3 user of fixed test keys. Starts in about 3 s (8 on a busy machine);
 * returns radosgw's port once it answers S3. Call before starting threads
 * (it forks). Bails out when it cannot start.
 */
int peer_s3_start(void);
/* http://127.0.0.1:N (path-style), and the user's keys. */
const char *peer_s3_endpoint(void);
const char *peer_s3_access_key(void);
const char *peer_s3_secret_key(void);
/* Kill the whole cluster and remove its files (also run at exit). */
void peer_s3_stop(void);
/* Freeze (SIGSTOP) and thaw (SIGCONT) radosgw: connections open, no answers. */
void peer_s3_pause(void);
void peer_s3_resume(void);
/* Kill radosgw only (SIGKILL: connections refused), and start it again on
 * the same port (the stored objects are kept: they live in the OSD). */
void peer_s3_kill(void);
void peer_s3_restart(void);

#endif
