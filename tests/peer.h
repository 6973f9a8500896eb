/*
 * peer.h - real servers for the tests, on loopback.
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

#endif
