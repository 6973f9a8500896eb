/*
 * plainloop.h - the reference genbox's pool is measured against: one
 * thread, plain SQLite, one context claimed per transaction in the worker
 * polling order (the ctx_poll index), the same pure component functions
 * (template.h, prompt.h, draft.h, render.h), the result written in a second
 * transaction.
 *
 * Runs on a database filled like the pool's (fixture_demo_db, then the
 * contexts); dies when anything fails.
 */
#ifndef GB_BENCH_PLAINLOOP_H
#define GB_BENCH_PLAINLOOP_H

#include <stddef.h>
#include <stdint.h>

struct plainloop_stats {
	double secs;			/* the whole loop */
	int64_t sql_us;			/* in SQLite: claims and completions */
	int64_t work_us;		/* in the component functions */
	int64_t draft_us;		/* of which in offline_draft */
};

/*
 * Claim and complete n pending contexts of organization org in db: with
 * the demo template 'tmpl_article_technical' expanded, one offline draft
 * per section and the markdown rendering written into the document, or
 * with no work at all when noop (status and times only).
 */
void plainloop_run(const char *db, const char *org, size_t n, int noop,
    struct plainloop_stats *out);

#endif
