/*
 * archivecmd.h - the archive run inside serve: a thread that archives at
 * start when the last run ("archive" job row) began more than [retention]
 * interval ago, then once per interval (an hour after a failed run, when
 * the interval is longer; ten minutes after start when it never ran). Logs
 * each run; the job row keeps its counts.
 */
#ifndef GB_ARCHIVECMD_H
#define GB_ARCHIVECMD_H

#include "../base/err.h"
#include "config.h"

struct archiver;

/* Start the thread; *out NULL (and 0) when [retention] interval is 0. */
int archiver_start(struct archiver **out, const struct config *cfg, struct gb_err *err);
/* Stop it: at once between runs, after the current day of a run. Accepts NULL. */
void archiver_stop(struct archiver *a);

#endif
