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

/* A freshly claimed context id (counted in p->inflight): load, resolve, skip what is recorded, run. */
void task_start(struct worker *w, const char *id);
/* A parked task whose generator replies are all in: finish its step and run on. */
void task_resume(struct worker *w, struct task *t);

#endif
