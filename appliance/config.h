/*
 * config.h - genbox's settings: an INI file (/etc/genbox/genbox.conf by
 * default when present), overridden by GENBOX_<SECTION>_<KEY> environment
 * variables, overridden by command-line flags. An unknown key or a bad value
 * is an error naming the file and line (or the variable).
 */
#ifndef GB_CONFIG_H
#define GB_CONFIG_H

#include <stddef.h>

#include "../base/err.h"

#define CONFIG_DEFAULT_PATH "/etc/genbox/genbox.conf"

struct config {
	/* [storage] */
	char db_path[1024];		/* path: the SQLite file */
	int sync_full;			/* synchronous: normal | full */
	int busy_timeout_ms;
	/* [log] */
	int log_level;			/* level: error | warn | info | debug */
	/* [workers] */
	int workers;			/* count: worker threads */
	int max_retries;		/* transient failures before failed */
	int lease_seconds;		/* the worker lock's TTL */
	int retry_base_ms;		/* first retry backoff, doubling */
	int max_inflight;		/* contexts held at once by the pool, waiting ones
					 * included */
	int heartbeat_ms;		/* how often the pool writes its workers' heartbeats */
	int grace_ms;			/* how long running contexts get at a stop of the daemon */
	/* [generator] */
	char generator_url[512];	/* url: OpenAI-compatible base URL; empty: offline-draft */
	char generator_key[256];	/* key: bearer token */
	int generator_timeout_ms;
	int generator_connect_timeout_ms;
	int generator_max_concurrent;	/* calls in flight per endpoint */
	/* [web] */
	char web_listen[256];		/* listen: ADDR:PORT */
	int web_max_body;		/* bytes of a request body */
	int web_threads;		/* civetweb worker threads */
	int web_request_timeout_ms;	/* a request must arrive within this */
	int web_max_streams;		/* event streams at once; 0: a quarter of web_threads */
	int web_max_streams_per_key;	/* event streams one key may hold */
	int web_stream_max_ms;		/* an event stream's longest life */
	/* [box] */
	char organization[128];		/* default organization for CLI runs */
	/* [cluster]: sync with the MongoDB/Redis cluster; no mongo_uri: sync is off */
	char cluster_mongo_uri[1024];	/* mongodb://...; a password only from the environment */
	char cluster_mongo_db[64];	/* default genbox */
	char cluster_redis_url[1024];	/* redis://...; empty: no Redis */
	char cluster_orgs[2048];	/* organizations: comma list; empty: the box's own */
	char cluster_appliance_id[128];	/* empty: the host name */
	char cluster_worker_id[192];	/* empty: genbox-<appliance_id> */
	int cluster_take_work;		/* take_cluster_work: claim pending contexts */
	int cluster_push_interval_ms;
	int cluster_pull_interval_ms;
	int cluster_page_size;		/* documents per pulled page */
	int cluster_timeout_ms;		/* connect, socket and server selection */
	int cluster_backoff_max_ms;	/* longest wait between tries */
	int cluster_lookback_ms;	/* each pull re-reads this far before its checkpoint */
	/* [retention]: what leaves the box, and where it goes */
	int retention_days;		/* default for both collections, 90 */
	int contexts_retention_days;	/* 0: retention_days */
	int batches_retention_days;	/* 0: retention_days */
	char archive[1024];		/* dir:PATH | s3://bucket/prefix; empty: dir:<db's folder>/archive */
	int retention_interval_s;	/* interval: how often serve archives; 0: never */
	int retention_delete_batch;	/* rows per delete transaction */
	/* [s3]: the S3 endpoint of s3:// targets (archive, backup) */
	char s3_endpoint[512];		/* http(s)://host:port, path-style */
	char s3_region[64];		/* default us-east-1 */
	char s3_access_key[256];
	char s3_secret_key[256];	/* or GENBOX_S3_SECRET_KEY */
	int s3_timeout_ms;
	/* [backup] */
	int backup_schedule_s;		/* schedule: how often serve takes one; 0: never */
	int backup_keep;		/* how many to keep */
	char backup_to[1024];		/* dir:PATH | s3://bucket/prefix; empty: dir:<db's folder>/backups */
	/* [upkeep] */
	int upkeep_optimize_s;		/* optimize: PRAGMA optimize; 0: only at close */
	int upkeep_check_s;		/* quick_check: PRAGMA quick_check; 0: never */
};

void config_defaults(struct config *cfg);
/*
 * Read path into cfg. With required == 0 a missing file is not an error (the
 * default path); otherwise it is.
 */
int config_load_file(struct config *cfg, const char *path, int required, struct gb_err *err);
/* Apply GENBOX_<SECTION>_<KEY> variables from the environment. */
int config_load_env(struct config *cfg, struct gb_err *err);
/* Set one "section.key" to value, as the file would. */
int config_set(struct config *cfg, const char *section, const char *key, const char *value,
    struct gb_err *err);

/*
 * Call warn(arg, message) for each GENBOX_* variable of the environment that
 * looks like a setting but is none (GENBOX_WORKER_COUNT: near a real one, or
 * of a real section): the message names the nearest setting. Variables far
 * from every setting (GENBOX_BIN, GENBOX_SRC) are no concern of it.
 */
void config_env_check(void (*warn)(void *arg, const char *msg), void *arg);
/* The i-th key of the table (section, name); -1 past the last. For tests and docs. */
int config_key_at(size_t i, const char **section, const char **name);

/* uri with its password (if any) as "****", into out. Returns out. */
const char *config_uri_mask(const char *uri, char *out, size_t size);

#endif
