/*
 * step_generate.h - the ai_generator step: one generator call per template
 * section, the task parked while the calls are out, and the replies turned
 * into data.generated_content and processing.usage.
 *
 * Runs on a worker's thread; the replies arrive on the generator's thread,
 * where the last one puts the task back on the pool's ready queue.
 */
#ifndef GB_STEP_GENERATE_H
#define GB_STEP_GENERATE_H

#include <stdint.h>

#include "engine.h"

/*
 * Submit the calls. STEP_PARKED: replies will bring the task back to the
 * ready queue; STEP_DONE: every reply is in already (step_generate_finish
 * next); STEP_FAILED with err (no sections, no model, a model the
 * organization does not allow, a prompt that cannot be built);
 * STEP_GIVE_BACK when the pool is stopping. Never submits once the pool
 * releases, so pool_stop may close the generator after waiting for
 * p->submitting to reach 0.
 */
enum step_outcome step_generate_start(struct worker *w, struct task *t, const struct step *s,
    struct gb_err *err);

/*
 * All replies are in: STEP_DONE with the edits to record in out (free with
 * step_out_release), or STEP_FAILED with err carrying the worst reply's code
 * (permanent before transient) and *retry_after_ms the largest Retry-After
 * of the transient ones, or STEP_GIVE_BACK when a call found the generator
 * closed. Cost is charged only on usage the endpoint reported; the
 * offline-draft provider bills nothing.
 */
enum step_outcome step_generate_finish(struct worker *w, struct task *t, const struct step *s,
    struct step_out *out, int64_t *retry_after_ms, struct gb_err *err);

void step_out_release(struct step_out *out);

#endif
