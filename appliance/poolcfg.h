/*
 * poolcfg.h - the worker pool as the settings describe it, for the commands
 * that run one (run-batch, serve).
 */
#ifndef GB_POOLCFG_H
#define GB_POOLCFG_H

#include "config.h"
#include "engine/pool.h"

/*
 * pc filled from the defaults and cfg ([workers], [storage] through so,
 * workers threads) with its generator opened from [generator]: pc->gen is
 * set, and pool_start takes it. 0, or the error of the generator's set-up.
 */
int poolcfg_fill(struct pool_config *pc, const struct config *cfg, const struct store_opts *so,
    int workers, struct gb_err *err);

/*
 * Whether the generator of cfg ([generator] url, key) can be set up, said
 * before anything is written: 0, or poolcfg_fill's error.
 */
int poolcfg_check(const struct config *cfg, struct gb_err *err);

#endif
