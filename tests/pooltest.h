/*
 * pooltest.h - set-up the engine's tests share: a database in the test's
 * temporary directory (optionally with the schema's example documents),
 * documents in and out, a pool on it, waiting for statuses, and an endpoint
 * that accepts connections and never answers (the fault of a hung server).
 * Header-only (static inline), so each test takes what it uses.
 */
#ifndef GB_POOLTEST_H
#define GB_POOLTEST_H

#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "../appliance/engine/pool.h"
#include "../base/gbtime.h"
#include "../storage/access.h"
#include "../storage/docs.h"
#include "../storage/queue.h"
#include "../storage/store.h"
#include "tap.h"
#include "util.h"

struct box {
	char path[4096];
	char trace[4096];
	struct store *st;
};

static inline void
box_open(struct box *b, int demo)
{
	static int seq;
	struct gb_err err = { 0, "" };
	char arg[4200];
	struct run r;

	snprintf(b->path, sizeof(b->path), "%s/p%d.db", util_tmpdir(), ++seq);
	snprintf(b->trace, sizeof(b->trace), "%s/p%d.trace", util_tmpdir(), seq);
	if (demo) {
		snprintf(arg, sizeof(arg), "--db=%s", b->path);
		util_genbox_run(&r, NULL, arg, "demo", NULL);
		if (r.status)
			tap_bail("demo: %s", r.err);
		run_free(&r);
	}
	if (store_open(&b->st, b->path, NULL, &err))
		tap_bail("open: %s", err.msg);
}

static inline void
box_close(struct box *b)
{
	store_close(b->st);
	b->st = NULL;
}

static inline void box_put(struct box *b, enum coll c, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static inline void
box_put(struct box *b, enum coll c, const char *fmt, ...)
{
	struct gb_err err = { 0, "" };
	char *doc;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&doc, fmt, ap) < 0)
		tap_bail("out of memory");
	va_end(ap);
	if (store_put(b->st, c, doc, strlen(doc), STORE_UPSERT, NULL, &err))
		tap_bail("put %.200s: %s", doc, err.msg);
	free(doc);
}

static inline cJSON *
box_get(struct box *b, enum coll c, const char *id)
{
	struct gb_err err = { 0, "" };
	char *text = NULL;
	cJSON *doc;

	if (store_get(b->st, c, id, &text, &err))
		return NULL;
	doc = cJSON_Parse(text);
	free(text);
	return doc;
}

/* The value at a dotted path as text (strings bare, the rest as JSON), "(none)" when absent. */
static inline const char *
jpath(const cJSON *doc, const char *path)
{
	static char out[1024];
	char p[256], *seg, *save = NULL;
	const cJSON *v = doc;

	snprintf(p, sizeof(p), "%s", path);
	for (seg = strtok_r(p, ".", &save); seg && v; seg = strtok_r(NULL, ".", &save))
		v = cJSON_IsArray(v) ? cJSON_GetArrayItem(v, atoi(seg)) : cJSON_GetObjectItemCaseSensitive(v, seg);
	if (cJSON_IsString(v)) {
		snprintf(out, sizeof(out), "%s", v->valuestring);
	} else if (v) {
		char *s = cJSON_PrintUnformatted(v);

		snprintf(out, sizeof(out), "%s", s);
		free(s);
	} else {
		snprintf(out, sizeof(out), "(none)");
	}
	return out;
}

/* The field at path of context id, as jpath gives it. */
static inline const char *
box_ctx(struct box *b, const char *id, const char *path)
{
	cJSON *doc = box_get(b, COLL_CONTEXTS, id);
	const char *v = doc ? jpath(doc, path) : "(no such context)";

	cJSON_Delete(doc);
	return v;
}

/* Wait (at most timeout_ms: a guard, not the assertion) until context id has status. Returns 1 when it did. */
static inline int
box_wait_status(struct box *b, const char *id, const char *status, int64_t timeout_ms)
{
	int64_t t0 = gb_mono_ms();

	while (strcmp(box_ctx(b, id, "status"), status) != 0) {
		if (gb_mono_ms() - t0 > timeout_ms)
			return 0;
		usleep(20 * 1000);
	}
	return 1;
}

/* Wait until nothing is pending or processing (timeout_ms: a guard). Returns 1 when so. */
static inline int
box_wait_quiet(struct box *b, int64_t timeout_ms)
{
	struct gb_err err = { 0, "" };
	int64_t t0 = gb_mono_ms();

	for (;;) {
		int64_t c[CTX_STATUS_COUNT] = { 0 };

		store_ctx_status_counts(b->st, c, &err);
		if (c[CTX_PENDING] + c[CTX_PROCESSING] == 0)
			return 1;
		if (gb_mono_ms() - t0 > timeout_ms)
			return 0;
		usleep(20 * 1000);
	}
}

static inline int64_t
box_count(struct box *b, enum ctx_status s)
{
	struct gb_err err = { 0, "" };
	int64_t c[CTX_STATUS_COUNT] = { 0 };

	store_ctx_status_counts(b->st, c, &err);
	return c[s];
}

/* A pool on b's database; url NULL: the offline-draft provider. */
static inline struct pool *
box_pool(struct box *b, const char *url, const struct pool_config *tweak)
{
	struct gen_config gc = { url, NULL, 60000, 2000, 8 };
	struct gb_err err = { 0, "" };
	struct pool_config cfg;
	struct generator *gen = NULL;
	struct pool *p = NULL;

	if (generator_open(&gen, &gc, &err))
		tap_bail("generator: %s", err.msg);
	if (tweak)
		cfg = *tweak;
	else
		pool_config_defaults(&cfg);
	cfg.db_path = b->path;
	cfg.gen = gen;
	if (cfg.trace_path == NULL)
		cfg.trace_path = b->trace;
	if (pool_start(&p, &cfg, &err))
		tap_bail("pool: %s", err.msg);
	return p;
}

/* A loopback port that accepts connections (the kernel's backlog does) and never answers. */
static inline int
hung_endpoint(char url[64])
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 512) ||
	    getsockname(fd, (struct sockaddr *)&a, &len))
		tap_bail("hung endpoint: cannot listen");
	snprintf(url, 64, "http://127.0.0.1:%d", ntohs(a.sin_port));
	return fd;
}

#endif
