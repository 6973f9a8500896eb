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
#include <strings.h>

#include <ini.h>

#include "../base/log.h"
#include "../base/near.h"
#include "../storage/store.h"
#include "../sync/sync.h"
#include "../web/web.h"
#include "config.h"
#include "engine/pool.h"
#include "generator.h"

/*
 * K_MONGO and K_REDIS are URIs whose password may come only from the
 * environment; K_ORGS a comma list of _ids; K_DBNAME a MongoDB database
 * name; K_IDENT a name without blanks; K_DUR a duration kept in seconds
 * (off, hourly, daily, weekly, or N followed by s, m, h or d); K_TARGET
 * where archives and backups go (dir:PATH or s3://bucket[/prefix]).
 */
enum ktype {
	K_STR, K_INT, K_SYNC, K_LEVEL, K_BOOL, K_MONGO, K_REDIS, K_ORGS, K_DBNAME, K_IDENT,
	K_DUR, K_TARGET
};

static const struct key {
	const char *section, *name;
	enum ktype type;
	size_t off, size;	/* K_STR: buffer size */
	int min, max;		/* K_INT */
} keys[] = {
#define STR(s, n, f) \
	{ s, n, K_STR, offsetof(struct config, f), sizeof(((struct config *)0)->f), 0, 0 }
#define TYP(s, n, f, t) \
	{ s, n, t, offsetof(struct config, f), sizeof(((struct config *)0)->f), 0, 0 }
#define INT(s, n, f, lo, hi) { s, n, K_INT, offsetof(struct config, f), 0, lo, hi }
	STR("storage", "path", db_path),
	{ "storage", "synchronous", K_SYNC, offsetof(struct config, sync_full), 0, 0, 0 },
	INT("storage", "busy_timeout_ms", busy_timeout_ms, 1, 600000),
	TYP("backup", "schedule", backup_schedule_s, K_DUR),
	INT("backup", "keep", backup_keep, 0, 100000),
	TYP("backup", "to", backup_to, K_TARGET),
	TYP("upkeep", "optimize", upkeep_optimize_s, K_DUR),
	TYP("upkeep", "quick_check", upkeep_check_s, K_DUR),
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
	TYP("cluster", "mongo_uri", cluster_mongo_uri, K_MONGO),
	TYP("cluster", "mongo_db", cluster_mongo_db, K_DBNAME),
	TYP("cluster", "redis_url", cluster_redis_url, K_REDIS),
	TYP("cluster", "organizations", cluster_orgs, K_ORGS),
	TYP("cluster", "appliance_id", cluster_appliance_id, K_IDENT),
	TYP("cluster", "worker_id", cluster_worker_id, K_IDENT),
	{ "cluster", "take_cluster_work", K_BOOL, offsetof(struct config, cluster_take_work), 0, 0,
	  0 },
	INT("cluster", "push_interval_ms", cluster_push_interval_ms, 50, 3600000),
	INT("cluster", "pull_interval_ms", cluster_pull_interval_ms, 50, 86400000),
	INT("cluster", "page_size", cluster_page_size, 1, 100000),
	INT("cluster", "timeout_ms", cluster_timeout_ms, 100, 600000),
	INT("cluster", "backoff_max_ms", cluster_backoff_max_ms, 100, 86400000),
	INT("cluster", "lookback_ms", cluster_lookback_ms, 0, 3600000),
	INT("retention", "retention_days", retention_days, 1, 36500),
	INT("retention", "contexts_retention_days", contexts_retention_days, 0, 36500),
	INT("retention", "batches_retention_days", batches_retention_days, 0, 36500),
	TYP("retention", "archive", archive, K_TARGET),
	TYP("retention", "interval", retention_interval_s, K_DUR),
	INT("retention", "delete_batch", retention_delete_batch, 1, 100000),
	STR("s3", "endpoint", s3_endpoint),
	STR("s3", "region", s3_region),
	STR("s3", "access_key", s3_access_key),
	STR("s3", "secret_key", s3_secret_key),
	INT("s3", "timeout_ms", s3_timeout_ms, 100, 3600000),
#undef STR
#undef TYP
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
	snprintf(cfg->cluster_mongo_db, sizeof(cfg->cluster_mongo_db), "genbox");
	cfg->cluster_push_interval_ms = 2000;
	cfg->cluster_pull_interval_ms = 10000;
	cfg->cluster_page_size = 1000;
	cfg->cluster_timeout_ms = 10000;
	cfg->cluster_backoff_max_ms = 60000;
	cfg->cluster_lookback_ms = 5000;
	cfg->retention_days = 90;
	cfg->retention_interval_s = 86400;
	cfg->retention_delete_batch = 500;
	snprintf(cfg->s3_region, sizeof(cfg->s3_region), "us-east-1");
	cfg->s3_timeout_ms = 30000;
	cfg->backup_schedule_s = 86400;
	cfg->backup_keep = 7;
	cfg->upkeep_optimize_s = 86400;
	cfg->upkeep_check_s = 86400;
}

/* "off", "hourly", "daily", "weekly" or N[s|m|h|d] into seconds; -1 when bad. */
static long
parse_duration(const char *v)
{
	static const struct { const char *name; long s; } words[] = {
		{ "off", 0 }, { "hourly", 3600 }, { "daily", 86400 }, { "weekly", 604800 },
	};
	char *end;
	long n, unit = 1;

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcmp(v, words[i].name) == 0)
			return words[i].s;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || end == v || n < 0 || !isdigit((unsigned char)*v))
		return -1;
	if (*end != '\0') {
		if (end[1] != '\0' || strchr("smhd", *end) == NULL)
			return -1;
		unit = *end == 's' ? 1 : *end == 'm' ? 60 : *end == 'h' ? 3600 : 86400;
	}
	if (n > 10L * 366 * 86400 / unit)
		return -1;
	return n * unit;
}

/* dir:PATH (not empty) or s3://bucket[/prefix] with a bucket name S3 accepts */
static int
target_ok(const char *v)
{
	const char *b, *slash;
	size_t n;

	if (strncmp(v, "dir:", 4) == 0)
		return v[4] != '\0';
	if (strncmp(v, "s3://", 5) != 0)
		return 0;
	b = v + 5;
	slash = strchr(b, '/');
	n = slash ? (size_t)(slash - b) : strlen(b);
	if (n < 3 || n > 63)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!islower((unsigned char)b[i]) && !isdigit((unsigned char)b[i]) &&
		    b[i] != '-' && b[i] != '.')
			return 0;
	return 1;
}

/*
 * Where the password of a URI is: *at its first byte and *len its length (0:
 * none). scheme://[user[:password]@]hosts[/...]; unix:/path has none.
 */
static void
uri_password(const char *uri, size_t *at, size_t *len)
{
	const char *p = strstr(uri, "://"), *end, *amp = NULL, *colon;

	*at = *len = 0;
	if (p == NULL)
		return;
	p += 3;
	end = p + strcspn(p, "/?#");
	for (const char *q = p; q < end; q++)
		if (*q == '@')
			amp = q;	/* the last one: a password may hold '@' */
	if (amp == NULL || (colon = memchr(p, ':', (size_t)(amp - p))) == NULL)
		return;
	*at = (size_t)(colon + 1 - uri);
	*len = (size_t)(amp - colon - 1);
}

const char *
config_uri_mask(const char *uri, char *out, size_t size)
{
	size_t at, len;

	uri_password(uri, &at, &len);
	if (len == 0)
		snprintf(out, size, "%s", uri);
	else
		snprintf(out, size, "%.*s****%s", (int)at, uri, uri + at + len);
	return out;
}

static int
parse_bool(const char *v, int *out)
{
	static const char *const yes[] = { "1", "true", "yes", "on" };
	static const char *const no[] = { "0", "false", "no", "off" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0)
			return *out = 1, 0;
		if (strcasecmp(v, no[i]) == 0)
			return *out = 0, 0;
	}
	return -1;
}

/* A comma list of _ids: none empty, each shorter than an _id, at most SYNC_MAX_ORGS. */
static int
check_orgs(const char *v, const char *section, const char *name, struct gb_err *err)
{
	int n = 0;

	if (*v == '\0')
		return 0;
	for (const char *p = v;; p++) {
		size_t len = strcspn(p, ","), lead = strspn(p, " \t"), l = len;

		while (l > lead && isspace((unsigned char)p[l - 1]))
			l--;
		if (l <= lead)
			return gb_errf(err, GB_EINVAL, "bad value for '%s.%s': an empty "
			    "organization in the list", section, name);
		if (l - lead >= STORE_ID_MAX)
			return gb_errf(err, GB_EINVAL, "bad value for '%s.%s': organization "
			    "'%.32s...' is longer than %d bytes", section, name, p + lead,
			    STORE_ID_MAX - 1);
		if (++n > SYNC_MAX_ORGS)
			return gb_errf(err, GB_EINVAL, "bad value for '%s.%s': more than %d "
			    "organizations", section, name, SYNC_MAX_ORGS);
		p += len;
		if (*p == '\0')
			return 0;
	}
}

/* The checks of a string-like value; from_file: it comes from a file, not the environment. */
static int
check_str(const struct key *k, const char *v, int from_file, struct gb_err *err)
{
	size_t at, len;

	if (strlen(v) >= k->size)
		return gb_errf(err, GB_EINVAL, "value for '%s.%s' is longer than %zu bytes",
		    k->section, k->name, k->size - 1);
	for (const char *p = v; *p; p++)
		if (k->type != K_STR && ((unsigned char)*p < 0x20 || (k->type != K_ORGS &&
		    *p == ' ')))
			return gb_errf(err, GB_EINVAL, "bad value for '%s.%s': a blank or a "
			    "control character", k->section, k->name);
	switch (k->type) {
	case K_MONGO:
	case K_REDIS:
		if (*v && (k->type == K_MONGO ? strncmp(v, "mongodb://", 10) != 0 &&
		    strncmp(v, "mongodb+srv://", 14) != 0 : strncmp(v, "redis://", 8) != 0 &&
		    strncmp(v, "unix:", 5) != 0))
			return gb_errf(err, GB_EINVAL, "bad value for '%s.%s': expected %s",
			    k->section, k->name, k->type == K_MONGO ?
			    "mongodb://HOST[:PORT][/...] or mongodb+srv://" :
			    "redis://[:PASSWORD@]HOST[:PORT][/DB] or unix:/PATH");
		uri_password(v, &at, &len);
		if (from_file && len > 0)
			return gb_errf(err, GB_EINVAL, "'%s.%s' holds a password: give it in the "
			    "environment (GENBOX_CLUSTER_%s), never in a file", k->section,
			    k->name, k->type == K_MONGO ? "MONGO_URI" : "REDIS_URL");
		return 0;
	case K_ORGS:
		return check_orgs(v, k->section, k->name, err);
	case K_DBNAME:
		if (*v == '\0' || v[strcspn(v, "/\\.\"$")] != '\0')
			return gb_errf(err, GB_EINVAL, "bad value '%.64s' for '%s.%s': a MongoDB "
			    "database name (not empty, without / \\ . \" $)", v, k->section,
			    k->name);
		return 0;
	default:
		return 0;
	}
}

static int
set_int(const struct key *k, int *field, const char *value, struct gb_err *err)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(value, &end, 10);
	if (errno || end == value || *end != '\0' || v < k->min || v > k->max)
		return gb_errf(err, GB_EINVAL, "bad value '%.64s' for '%s.%s': expected an integer "
		    "from %d to %d", value, k->section, k->name, k->min, k->max);
	*field = (int)v;
	return 0;
}

static int
set_value(struct config *cfg, const struct key *k, const char *value, int from_file,
    struct gb_err *err)
{
	char *field = (char *)cfg + k->off;
	int *ifield = (int *)(void *)field;
	int level;
	long dur;

	switch (k->type) {
	case K_INT:
		return set_int(k, ifield, value, err);
	case K_SYNC:
		if (strcmp(value, "normal") != 0 && strcmp(value, "full") != 0)
			return gb_errf(err, GB_EINVAL, "bad value '%.64s' for '%s.%s': expected "
			    "normal or full", value, k->section, k->name);
		*ifield = strcmp(value, "full") == 0;
		return 0;
	case K_LEVEL:
		if ((level = log_level_from_name(value)) < 0)
			return gb_errf(err, GB_EINVAL, "bad value '%.64s' for '%s.%s': expected "
			    "error, warn, info or debug", value, k->section, k->name);
		*ifield = level;
		return 0;
	case K_DUR:
		if ((dur = parse_duration(value)) < 0)
			return gb_errf(err, GB_EINVAL, "bad value '%.64s' for '%s.%s': expected off, "
			    "hourly, daily, weekly or a number with s, m, h or d (90s, 30m, 6h, "
			    "2d)", value, k->section, k->name);
		*ifield = (int)dur;
		return 0;
	case K_TARGET:
		if (*value != '\0' && !target_ok(value))
			return gb_errf(err, GB_EINVAL, "bad value '%.64s' for '%s.%s': expected "
			    "dir:PATH or s3://bucket/prefix", value, k->section, k->name);
		if (strlen(value) >= k->size)
			return gb_errf(err, GB_EINVAL, "value for '%s.%s' is longer than %zu "
			    "bytes", k->section, k->name, k->size - 1);
		memcpy(field, value, strlen(value) + 1);
		return 0;
	case K_BOOL:
		if (parse_bool(value, ifield))
			return gb_errf(err, GB_EINVAL, "bad value '%.64s' for '%s.%s': expected "
			    "true or false", value, k->section, k->name);
		return 0;
	default:
		if (check_str(k, value, from_file, err))
			return err->code;
		memcpy(field, value, strlen(value) + 1);
		return 0;
	}
}

static int
config_section_known(const char *section)
{
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(keys[i].section, section) == 0)
			return 1;
	return 0;
}

/* "unknown section [x]" or "unknown key 'k' in [s]", with the nearest valid name. */
static int
config_unknown(const char *section, const char *name, struct gb_err *err)
{
	struct gb_near near;
	int known = config_section_known(section);

	gb_near_init(&near, known ? name : section);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!known)
			gb_near_add(&near, keys[i].section);
		else if (strcmp(keys[i].section, section) == 0)
			gb_near_add(&near, keys[i].name);
	if (!known && gb_near_best(&near))
		return gb_errf(err, GB_EINVAL, "unknown section [%.64s] (did you mean [%s]?)",
		    section, gb_near_best(&near));
	if (!known)
		return gb_errf(err, GB_EINVAL, "unknown section [%.64s]", section);
	if (gb_near_best(&near))
		return gb_errf(err, GB_EINVAL, "unknown key '%.64s' in [%s] (did you mean '%s'?)",
		    name, section, gb_near_best(&near));
	return gb_errf(err, GB_EINVAL, "unknown key '%.64s' in [%s]", name, section);
}

/* Set one key; the message says what is wrong without saying where. */
static int
set_key(struct config *cfg, const char *section, const char *name, const char *value,
    int from_file, struct gb_err *err)
{
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0)
			return set_value(cfg, &keys[i], value, from_file, err);
	if (*section == '\0')
		return gb_errf(err, GB_EINVAL, "key '%s' is outside any [section]", name);
	return config_unknown(section, name, err);
}

int
config_set(struct config *cfg, const char *section, const char *key, const char *value,
    struct gb_err *err)
{
	return set_key(cfg, section, key, value, 0, err);
}

struct parse {
	struct config *cfg;
	FILE *f;
	int line;		/* lines read so far: the handler's line */
	int bad_line;		/* the line of the first handler error */
	int long_line;		/* a line longer than inih's buffer, where reading stopped */
	struct gb_err inner;
	int sect_line;		/* the first header of an unknown section */
	struct gb_err sect;
};

/* A line "[name]" of a section no key belongs to: noted, whether keys follow or not. */
static void
check_header(struct parse *p, const char *line)
{
	char name[64];
	size_t n;

	while (isspace((unsigned char)*line))
		line++;
	if (*line != '[' || p->sect_line)
		return;
	n = strcspn(++line, "]");
	if (line[n] != ']' || n >= sizeof(name))
		return;
	memcpy(name, line, n);
	name[n] = '\0';
	if (!config_section_known(name)) {
		p->sect_line = p->line;
		config_unknown(name, "", &p->sect);
	}
}

/*
 * inih's reader: fgets that counts lines, so errors can name theirs. A line
 * that fills the buffer without its newline ends the reading: inih would
 * take the rest of it for a line of its own.
 */
static char *
read_line(char *str, int num, void *stream)
{
	struct parse *p = stream;
	char *s;

	str[num - 1] = 1;	/* fgets writes its NUL here only when the buffer is full */
	if ((s = fgets(str, num, p->f)) == NULL)
		return NULL;
	p->line++;
	if (num > 1 && str[num - 1] == '\0' && str[num - 2] != '\n' && !feof(p->f)) {
		p->long_line = p->line;
		return NULL;
	}
	check_header(p, s);
	return s;
}

static int
on_ini(void *user, const char *section, const char *name, const char *value)
{
	struct parse *p = user;

	if (name == NULL)	/* a section header alone */
		return 1;
	if (set_key(p->cfg, section, name, value ? value : "", 1, &p->inner) == 0)
		return 1;
	if (p->bad_line == 0)
		p->bad_line = p->line;
	return 0;
}

int
config_load_file(struct config *cfg, const char *path, int required, struct gb_err *err)
{
	struct parse p = { cfg, NULL, 0, 0, 0, { 0, "" }, 0, { 0, "" } };
	int line;

	if ((p.f = fopen(path, "r")) == NULL) {
		if (!required && errno == ENOENT)
			return 0;
		return gb_errf(err, GB_EINVAL, "cannot read config '%s': %s", path,
		    strerror(errno));
	}
	line = ini_parse_stream(read_line, &p, on_ini, &p);
	fclose(p.f);
	if (p.long_line && (line == 0 || p.long_line <= line))
		return gb_errf(err, GB_EINVAL, "%s:%d: line longer than %d bytes", path,
		    p.long_line, INI_MAX_LINE - 2);
	if (p.sect_line && (line == 0 || p.sect_line <= line))
		return gb_errf(err, GB_EINVAL, "%s:%d: %s", path, p.sect_line, p.sect.msg);
	if (line == 0)
		return 0;
	if (line < 0)
		return gb_errf(err, GB_EIO, "cannot read config '%s'", path);
	if (p.inner.code && p.bad_line == line)
		return gb_errf(err, GB_EINVAL, "%s:%d: %s", path, line, p.inner.msg);
	return gb_errf(err, GB_EINVAL, "%s:%d: syntax error (expected [section] or key = value)",
	    path, line);
}

/* GENBOX_SECTION_KEY of keys[i] into var */
static void
config_env_name(size_t i, char *var, size_t size)
{
	snprintf(var, size, "GENBOX_%s_%s", keys[i].section, keys[i].name);
	for (char *p = var; *p; p++)
		*p = (char)toupper((unsigned char)*p);
}

int
config_load_env(struct config *cfg, struct gb_err *err)
{
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char var[96];
		const char *v;
		struct gb_err inner = { 0, "" };

		config_env_name(i, var, sizeof(var));
		if ((v = getenv(var)) == NULL)
			continue;
		if (set_key(cfg, keys[i].section, keys[i].name, v, 0, &inner))
			return gb_errf(err, GB_EINVAL, "environment %s: %s", var, inner.msg);
	}
	return 0;
}

/* name (a GENBOX_ variable) when it looks like a setting but is none: the message */
static int
config_env_odd(const char *name, char *msg, size_t size)
{
	char var[96];
	struct gb_near near;
	size_t pre = 0;

	gb_near_init(&near, name);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		config_env_name(i, var, sizeof(var));
		if (strcmp(var, name) == 0)
			return 0;
		gb_near_add(&near, var);
		/* GENBOX_SECTION_ of a real section */
		if (strncmp(var, name, strlen(var) - strlen(keys[i].name)) == 0)
			pre = 1;
	}
	if (gb_near_best(&near))
		snprintf(msg, size, "%.96s is not a setting (did you mean %s?)", name,
		    gb_near_best(&near));
	else if (pre)
		snprintf(msg, size, "%.96s is not a setting (see the keys of genbox.conf)", name);
	return gb_near_best(&near) || pre;
}

void
config_env_check(void (*warn)(void *arg, const char *msg), void *arg)
{
	extern char **environ;
	char name[128], msg[256];

	for (char **e = environ; e && *e; e++) {
		size_t n = strcspn(*e, "=");

		if (strncmp(*e, "GENBOX_", 7) != 0 || n >= sizeof(name))
			continue;
		memcpy(name, *e, n);
		name[n] = '\0';
		if (config_env_odd(name, msg, sizeof(msg)))
			warn(arg, msg);
	}
}

int
config_key_at(size_t i, const char **section, const char **name)
{
	if (i >= sizeof(keys) / sizeof(keys[0]))
		return -1;
	*section = keys[i].section;
	*name = keys[i].name;
	return 0;
}
