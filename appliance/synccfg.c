/* synccfg.c - [cluster] resolved into the sync floor's settings (see synccfg.h). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "../base/json.h"
#include "../storage/docs.h"
#include "synccfg.h"

int
synccfg_on(const struct config *cfg)
{
	return cfg->cluster_mongo_uri[0] != '\0';
}

/* Add one organization (trimmed, once); the list is checked by the config already. */
static void
synccfg_add_org(struct synccfg *out, const char *p, size_t len)
{
	while (len > 0 && isspace((unsigned char)*p))
		p++, len--;
	while (len > 0 && isspace((unsigned char)p[len - 1]))
		len--;
	if (len == 0 || len >= STORE_ID_MAX || out->sc.n_orgs >= SYNC_MAX_ORGS)
		return;
	for (int i = 0; i < out->sc.n_orgs; i++)
		if (strlen(out->orgs[i]) == len && memcmp(out->orgs[i], p, len) == 0)
			return;
	memcpy(out->orgs[out->sc.n_orgs], p, len);
	out->orgs[out->sc.n_orgs][len] = '\0';
	out->sc.orgs[out->sc.n_orgs] = out->orgs[out->sc.n_orgs];
	out->sc.n_orgs++;
}

static int
synccfg_org_doc(void *arg, const char *doc, size_t len)
{
	struct synccfg *out = arg;
	cJSON *j = cJSON_ParseWithLength(doc, len);
	const char *id = json_get_str(j, "_id");

	if (id)
		synccfg_add_org(out, id, strlen(id));
	cJSON_Delete(j);
	return out->sc.n_orgs >= SYNC_MAX_ORGS;
}

static int
synccfg_orgs(struct synccfg *out, const struct config *cfg, struct store *st,
    struct gb_err *err)
{
	const char *list = cfg->cluster_orgs[0] ? cfg->cluster_orgs : cfg->organization;
	int rc;

	for (const char *p = list; *p; ) {
		size_t len = strcspn(p, ",");

		synccfg_add_org(out, p, len);
		p += len + (p[len] == ',');
	}
	if (out->sc.n_orgs == 0 && st != NULL &&
	    (rc = store_each(st, COLL_ORGANIZATIONS, NULL, 0, synccfg_org_doc, out, err)) < 0)
		return rc;
	if (out->sc.n_orgs == 0)
		return gb_errf(err, GB_EINVAL, "no organization to sync: set [cluster] "
		    "organizations (or [box] organization)");
	return 0;
}

int
synccfg_fill(struct synccfg *out, const struct config *cfg, struct store *st, int workers,
    struct gb_err *err)
{
	struct sync_config *sc = &out->sc;

	memset(out, 0, sizeof(*out));
	if (cfg->cluster_appliance_id[0])
		snprintf(out->appliance_id, sizeof(out->appliance_id), "%s",
		    cfg->cluster_appliance_id);
	else if (gethostname(out->appliance_id, sizeof(out->appliance_id) - 1) != 0 ||
	    out->appliance_id[0] == '\0')
		snprintf(out->appliance_id, sizeof(out->appliance_id), "genbox");
	if (cfg->cluster_worker_id[0])
		snprintf(out->worker_id, sizeof(out->worker_id), "%s", cfg->cluster_worker_id);
	else
		snprintf(out->worker_id, sizeof(out->worker_id), "genbox-%s", out->appliance_id);
	config_uri_mask(cfg->cluster_mongo_uri, out->mongo_masked, sizeof(out->mongo_masked));
	config_uri_mask(cfg->cluster_redis_url, out->redis_masked, sizeof(out->redis_masked));
	sc->db_path = cfg->db_path;
	sc->mongo_uri = cfg->cluster_mongo_uri;
	sc->mongo_db = cfg->cluster_mongo_db;
	sc->redis_url = cfg->cluster_redis_url[0] ? cfg->cluster_redis_url : NULL;
	sc->appliance_id = out->appliance_id;
	sc->worker_id = out->worker_id;
	sc->take_cluster_work = cfg->cluster_take_work;
	sc->push_interval_ms = cfg->cluster_push_interval_ms;
	sc->pull_interval_ms = cfg->cluster_pull_interval_ms;
	sc->page_size = cfg->cluster_page_size;
	sc->timeout_ms = cfg->cluster_timeout_ms;
	sc->backoff_max_ms = cfg->cluster_backoff_max_ms;
	/* 0 in the file: none (the sync floor reads 0 as its default, < 0 as none) */
	sc->lookback_ms = cfg->cluster_lookback_ms > 0 ? cfg->cluster_lookback_ms : -1;
	sc->take_max = 2 * (workers > 0 ? workers : 1);
	return synccfg_orgs(out, cfg, st, err);
}
