/*
 * synccfg.h - the sync floor's settings as [cluster] describes them, for
 * the commands that run sync (serve, sync): defaults resolved (the host name,
 * the worker id, the box's own organizations) and the strings kept beside.
 */
#ifndef GB_SYNCCFG_H
#define GB_SYNCCFG_H

#include "../storage/store.h"
#include "../sync/sync.h"
#include "config.h"

struct synccfg {
	struct sync_config sc;		/* its strings point into this struct and cfg */
	char appliance_id[128];
	char worker_id[192];
	char orgs[SYNC_MAX_ORGS][STORE_ID_MAX];
	char mongo_masked[1024];	/* mongo_uri with its password as "****" */
	char redis_masked[1024];
};

/* Is a cluster configured ([cluster] mongo_uri)? */
int synccfg_on(const struct config *cfg);
/*
 * Fill out from cfg. The organizations are [cluster] organizations, else
 * [box] organization, else every organization in st's organizations
 * collection (st may be NULL: then none); none at all is an error that says
 * what to set. workers sizes take_max (twice the workers).
 */
int synccfg_fill(struct synccfg *out, const struct config *cfg, struct store *st, int workers,
    struct gb_err *err);

#endif
