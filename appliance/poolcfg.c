/* poolcfg.c - the worker pool's settings from the config (see poolcfg.h). */
#include <string.h>

#include "poolcfg.h"

static void
poolcfg_gen_config(struct gen_config *gc, const struct config *cfg)
{
	memset(gc, 0, sizeof(*gc));
	gc->url = cfg->generator_url;
	gc->key = cfg->generator_key;
	gc->timeout_ms = cfg->generator_timeout_ms;
	gc->connect_timeout_ms = cfg->generator_connect_timeout_ms;
	gc->max_concurrent = cfg->generator_max_concurrent;
}

int
poolcfg_check(const struct config *cfg, struct gb_err *err)
{
	struct gen_config gc;

	poolcfg_gen_config(&gc, cfg);
	return generator_check(&gc, err);
}

int
poolcfg_fill(struct pool_config *pc, const struct config *cfg, const struct store_opts *so,
    int workers, struct gb_err *err)
{
	struct generator *gen = NULL;
	struct gen_config gc;

	poolcfg_gen_config(&gc, cfg);
	if (generator_open(&gen, &gc, err))
		return err->code;
	pool_config_defaults(pc);
	pc->db_path = cfg->db_path;
	pc->store = *so;
	pc->workers = workers;
	pc->max_retries = cfg->max_retries;
	pc->lease_ms = (int64_t)cfg->lease_seconds * 1000;
	pc->retry_base_ms = cfg->retry_base_ms;
	pc->max_inflight = cfg->max_inflight;
	pc->heartbeat_ms = cfg->heartbeat_ms;
	pc->gen = gen;		/* the pool takes it, and closes it on failure */
	return 0;
}
