/*
 * config.c - one table of keys serves the file (inih), the environment and
 * the flags, so the three always agree on names, types and limits.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "../base/log.h"
#include "../web/web.h"
#include "config.h"
#include "engine/pool.h"
#include "generator.h"

enum ktype { K_STR, K_INT, K_SYNC, K_LEVEL };

static const struct key {
	const char *section, *name;
	enum ktype type;
	size_t off, size;	/* K_STR: buffer size */
	int min, max;		/* K_INT */
} keys[] = {
#define STR(s, n, f) \
	{ s, n, K_STR, offsetof(struct config, f), sizeof(((struct config *)0)->f), 0, 0 }
#define INT(s, n, f, lo, hi) { s, n, K_INT, offsetof(struct config, f), 0, lo, hi }
	STR("storage", "path", db_path),
	{ "storage", "synchronous", K_SYNC, offsetof(struct config, sync_full), 0, 0, 0 },
	INT("storage", "busy_timeout_ms", busy_timeout_ms, 1, 600000),
	{ "log", "level", K_LEVEL, offsetof(struct config, log_level), 0, 0, 0 },
	INT("workers", "count", workers, 1, POOL_MAX_WORKERS),
	INT("workers", "max_retries", max_retries, 0, 100),
	INT("workers", "lease_seconds", lease_seconds, 5, 86400),
	INT("workers", "retry_base_ms", retry_base_ms, 1, 3600000),
	INT("workers", "max_inflight", max_inflight, 1, 65536),
	/* a heartbeat expires after 60 s: it is written more often than that */
	INT("workers", "heartbeat_ms", heartbeat_ms, 100, 59000),
	INT("workers", "grace_ms", grace_ms, 0, 3600000),
	STR("generator", "url", generator_url),
	STR("generator", "key", generator_key),
	INT("generator", "timeout_ms", generator_timeout_ms, 100, 3600000),
	INT("generator", "connect_timeout_ms", generator_connect_timeout_ms, 100, 600000),
	INT("generator", "max_concurrent", generator_max_concurrent, 1, 1024),
	STR("web", "listen", web_listen),
	INT("web", "max_body", web_max_body, 1, 1 << 30),
	INT("web", "threads", web_threads, 1, WEB_MAX_THREADS),
	INT("web", "request_timeout_ms", web_request_timeout_ms, 100, 3600000),
	INT("web", "max_streams", web_max_streams, 0, WEB_MAX_THREADS),
	INT("web", "max_streams_per_key", web_max_streams_per_key, 1, WEB_MAX_THREADS),
	INT("web", "stream_max_ms", web_stream_max_ms, 1000, 86400000),
	STR("box", "organization", organization),
#undef STR
#undef INT
};

void
config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->db_path, sizeof(cfg->db_path), "/var/lib/genbox/genbox.db");
	cfg->busy_timeout_ms = 5000;
	cfg->log_level = LOG_LEVEL_INFO;
	cfg->workers = POOL_DEFAULT_WORKERS;
	cfg->max_retries = POOL_DEFAULT_MAX_RETRIES;
	cfg->lease_seconds = POOL_DEFAULT_LEASE_MS / 1000;
	cfg->retry_base_ms = POOL_DEFAULT_RETRY_BASE_MS;
	cfg->max_inflight = POOL_DEFAULT_MAX_INFLIGHT;
	cfg->heartbeat_ms = POOL_DEFAULT_HEARTBEAT_MS;
	cfg->generator_timeout_ms = GEN_DEFAULT_TIMEOUT_MS;
	cfg->generator_connect_timeout_ms = GEN_DEFAULT_CONNECT_MS;
	cfg->generator_max_concurrent = GEN_DEFAULT_CONCURRENT;
	cfg->grace_ms = 10000;
	snprintf(cfg->web_listen, sizeof(cfg->web_listen), "%s", WEB_DEFAULT_LISTEN);
	cfg->web_max_body = WEB_DEFAULT_MAX_BODY;
	cfg->web_threads = WEB_DEFAULT_THREADS;
	cfg->web_request_timeout_ms = WEB_DEFAULT_REQUEST_TIMEOUT_MS;
	cfg->web_max_streams = 0;
	cfg->web_max_streams_per_key = WEB_DEFAULT_STREAMS_PER_KEY;
	cfg->web_stream_max_ms = WEB_DEFAULT_STREAM_MAX_MS;
}

/* Set one key; the message says what is wrong without saying where. */
static int
set_key(struct config *cfg, const char *section, const char *name, const char *value,
    struct gb_err *err)
{
	char *field;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const struct key *k = &keys[i];

		if (strcmp(k->section, section) != 0 || strcmp(k->name, name) != 0)
			continue;
		field = (char *)cfg + k->off;
		switch (k->type) {
		case K_STR:
			if (strlen(value) >= k->size)
				return gb_errf(err, GB_EINVAL,
				    "value for '%s.%s' is longer than %zu bytes", section, name,
				    k->size - 1);
			memcpy(field, value, strlen(value) + 1);
			return 0;
		case K_INT: {
			char *end;
			long v;

			errno = 0;
			v = strtol(value, &end, 10);
			if (errno || end == value || *end != '\0' || v < k->min || v > k->max)
				return gb_errf(err, GB_EINVAL,
				    "bad value '%.64s' for '%s.%s': expected an integer "
				    "from %d to %d", value, section, name, k->min, k->max);
			*(int *)(void *)field = (int)v;
			return 0;
		}
		case K_SYNC:
			if (strcmp(value, "normal") != 0 && strcmp(value, "full") != 0)
				return gb_errf(err, GB_EINVAL,
				    "bad value '%.64s' for '%s.%s': expected normal or full", value,
				    section, name);
			*(int *)(void *)field = strcmp(value, "full") == 0;
			return 0;
		case K_LEVEL: {
			int level = log_level_from_name(value);

			if (level < 0)
				return gb_errf(err, GB_EINVAL,
				    "bad value '%.64s' for '%s.%s': expected error, warn, "
				    "info or debug", value, section, name);
			*(int *)(void *)field = level;
			return 0;
		}
		}
	}
	if (*section == '\0')
		return gb_errf(err, GB_EINVAL, "key '%s' is outside any [section]", name);
	return gb_errf(err, GB_EINVAL, "unknown key '%s' in [%s]", name, section);
}

int
config_set(struct config *cfg, const char *section, const char *key, const char *value,
    struct gb_err *err)
{
	return set_key(cfg, section, key, value, err);
}

struct parse {
	struct config *cfg;
	FILE *f;
	int line;		/* lines read so far: the handler's line */
	int bad_line;		/* the line of the first handler error */
	struct gb_err inner;
};

/* inih's reader: fgets that counts lines, so errors can name theirs */
static char *
read_line(char *str, int num, void *stream)
{
	struct parse *p = stream;
	char *s = fgets(str, num, p->f);

	if (s != NULL)
		p->line++;
	return s;
}

static int
on_ini(void *user, const char *section, const char *name, const char *value)
{
	struct parse *p = user;

	if (name == NULL)	/* a section header alone */
		return 1;
	if (set_key(p->cfg, section, name, value ? value : "", &p->inner) == 0)
		return 1;
	if (p->bad_line == 0)
		p->bad_line = p->line;
	return 0;
}

int
config_load_file(struct config *cfg, const char *path, int required, struct gb_err *err)
{
	struct parse p = { cfg, NULL, 0, 0, { 0, "" } };
	int line;

	if ((p.f = fopen(path, "r")) == NULL) {
		if (!required && errno == ENOENT)
			return 0;
		return gb_errf(err, GB_EINVAL, "cannot read config '%s': %s", path,
		    strerror(errno));
	}
	line = ini_parse_stream(read_line, &p, on_ini, &p);
	fclose(p.f);
	if (line == 0)
		return 0;
	if (line < 0)
		return gb_errf(err, GB_EIO, "cannot read config '%s'", path);
	if (p.inner.code && p.bad_line == line)
		return gb_errf(err, GB_EINVAL, "%s:%d: %s", path, line, p.inner.msg);
	return gb_errf(err, GB_EINVAL, "%s:%d: syntax error (expected [section] or key = value)",
	    path, line);
}

int
config_load_env(struct config *cfg, struct gb_err *err)
{
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char var[96], *p;
		const char *v;
		struct gb_err inner = { 0, "" };

		snprintf(var, sizeof(var), "GENBOX_%s_%s", keys[i].section, keys[i].name);
		for (p = var; *p; p++)
			*p = (char)toupper((unsigned char)*p);
		if ((v = getenv(var)) == NULL)
			continue;
		if (set_key(cfg, keys[i].section, keys[i].name, v, &inner))
			return gb_errf(err, GB_EINVAL, "environment %s: %s", var, inner.msg);
	}
	return 0;
}
