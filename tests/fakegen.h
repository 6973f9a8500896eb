/*
 * fakegen.h - a scripted OpenAI-compatible endpoint for the daemon and web
 * tests: /v1/chat/completions on a free loopback port of this process,
 * answering every call with the same short completion after delay_ms; the
 * first call whose body holds fail_once (when set) gets a 503 instead.
 */
#ifndef GB_FAKEGEN_H
#define GB_FAKEGEN_H

struct mg_context;

struct fakegen {
	struct mg_context *ctx;
	char url[64];			/* "http://127.0.0.1:PORT", for [generator] url */
};

/* Start it with threads civetweb threads; bails out of the test when it cannot. */
void fakegen_start(struct fakegen *g, int threads, int delay_ms, const char *fail_once);
void fakegen_stop(struct fakegen *g);

#endif
