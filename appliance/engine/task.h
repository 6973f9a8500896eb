/*
 * task.h - one claimed context in the pool: load it, resolve its pipeline,
 * run its steps from the first one not yet recorded, record progress after
 * each, and hand its end to retry.h. Dispatches by component type: the
 * template and transformer steps are here, the ai_generator step in
 * step_generate.h.
 *
 * Runs on a worker's thread inside its open transaction (each write is a
 * savepoint); every call takes the task to an end, a park, or back to the
 * queue.
 */
#ifndef GB_TASK_H
#define GB_TASK_H

#include "engine.h"

/*
 * Load a freshly claimed context id (counted in p->inflight) and resolve its
 * steps, skipping those already recorded. text: its document as the claim
 * read it (taken and freed), or NULL to read it here. NULL when it ended
 * here already (it could not be read or resolved: failed, retried or given
 * back).
 */
struct task *task_load(struct worker *w, const char *id, char *text);
/*
 * Whether t's next steps are CPU work (template, transformer; after a
 * generator's replies, finishing that step) worth running ahead, outside
 * the write lock.
 */
int task_cpu_ahead(const struct task *t, int resumed);
/*
 * Run those steps ahead, in memory only (no storage writes, no write lock
 * needed: catalog reads use the worker's own connection). task_run and
 * task_resume then record their results instead of running them again.
 */
void task_compute_ahead(struct worker *w, struct task *t, int resumed);
/*
 * Run t from its next step until it ends or parks (inside the worker's
 * transaction). 1: t left the worker (ended or given back; a completion is
 * written by the next retry_flush); 0: it parked, waiting for the generator.
 */
int task_run(struct worker *w, struct task *t);
/*
 * A parked task whose generator replies are all in: finish its step and run on.
 * Returns as task_run.
 */
int task_resume(struct worker *w, struct task *t);

#endif
