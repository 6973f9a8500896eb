/*
 * t234-runbatch-limits - the organization's settings.max_batch_size,
 * settings.max_contexts_per_day and settings.allowed_models: a file past
 * either limit, or for a pipeline with a model not allowed, is refused with
 * exit status 1, a message naming the limit or model, and nothing created;
 * a file at the limit runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"
#include "util.h"

static char db[4096], dbarg[4200], input[4200];

static void
genbox_ok(const char *what, const char *in, const char *cmd, const char *a1, const char *a2, const char *a3)
{
	struct run r;

	util_genbox_run(&r, in, dbarg, cmd, a1, a2, a3, NULL);
	if (r.status != 0)
		tap_bail("%s: %s%s", what, r.out, r.err);
	run_free(&r);
}

static void
org_settings(const char *settings)
{
	char doc[1024];

	snprintf(doc, sizeof(doc), "{\"_id\":\"org_123\",\"name\":\"Acme Corporation\",\"settings\":%s}\n", settings);
	genbox_ok("organization", doc, "import", "--upsert", "organizations", "-");
}

/* run-batch over n new contexts titled "<tag> i" */
static void
run_n(struct run *r, int n, const char *tag)
{
	FILE *f = fopen(input, "w");

	for (int i = 0; i < n; i++)
		fprintf(f, "{\"data\":{\"title\":\"%s %d\"}}\n", tag, i);
	fclose(f);
	util_genbox_run(r, NULL, dbarg, "run-batch", "--pipeline", "pipe_article_generation", "--input", input, NULL);
}

/* contexts and batches in the database */
static void
counts(int64_t *contexts, int64_t *batches)
{
	struct run r;

	util_genbox_run(&r, NULL, dbarg, "export", "contexts", NULL);
	*contexts = 0;
	for (const char *p = r.out; (p = strchr(p, '\n')) != NULL; p++)
		(*contexts)++;
	run_free(&r);
	util_genbox_run(&r, NULL, dbarg, "export", "batches", NULL);
	*batches = 0;
	for (const char *p = r.out; (p = strchr(p, '\n')) != NULL; p++)
		(*batches)++;
	run_free(&r);
}

static void
test_batch_size(void)
{
	int64_t c0, b0, c1, b1;
	struct run r;

	/* the demo's org_123 allows 50 in a batch and 1000 a day */
	counts(&c0, &b0);
	run_n(&r, 51, "Too many");
	is_int(r.status, 1, "51 contexts where max_batch_size is 50: exit 1");
	like(r.err, "holds more than 50 contexts: organization 'org_123' allows 50 in a batch "
	    "(settings.max_batch_size) (nothing created)", "the message names the limit");
	run_free(&r);
	counts(&c1, &b1);
	ok(c1 == c0 && b1 == b0, "no context and no batch was created");
	run_n(&r, 50, "Just enough");
	is_int(r.status, 0, "50 contexts: runs, exit 0");
	like(r.out, "50 completed, 0 failed", "all 50 completed");
	run_free(&r);
}

static void
test_per_day(void)
{
	int64_t c0, b0, c1, b1;
	struct run r;

	/* 50 created today so far (the demo's contexts are from 2023) */
	org_settings("{\"max_batch_size\":50,\"max_contexts_per_day\":60}");
	counts(&c0, &b0);
	run_n(&r, 11, "Over the day");
	is_int(r.status, 1, "50 today + 11 where max_contexts_per_day is 60: exit 1");
	like(r.err, "organization 'org_123' allows 60 contexts a day (settings.max_contexts_per_day): "
	    "50 created today and 11 in the file; the day starts again at 00:00 UTC, in ",
	    "the message names the limit, the count so far and when the day resets");
	like(r.err, "(nothing created)", "and that nothing was created");
	run_free(&r);
	counts(&c1, &b1);
	ok(c1 == c0 && b1 == b0, "no context and no batch was created");
	run_n(&r, 10, "Up to the day");
	is_int(r.status, 0, "50 today + 10: runs, exit 0");
	run_free(&r);
	genbox_ok("import", "{\"organization_id\":\"org_123\",\"data\":{\"title\":\"From import\"}}\n",
	    "import", "contexts", "-", NULL);
	org_settings("{\"max_batch_size\":50,\"max_contexts_per_day\":71}");
	run_n(&r, 11, "Imports count");
	is_int(r.status, 1, "contexts imported today count too: 61 + 11 past 71, exit 1");
	like(r.err, "61 created today and 11 in the file", "with the count so far");
	run_free(&r);
}

static void
test_no_limits(void)
{
	struct run r;

	org_settings("{}");
	run_n(&r, 51, "No limits");
	is_int(r.status, 0, "an organization without limits takes 51");
	run_free(&r);
}

static void
test_models(void)
{
	int64_t c0, b0, c1, b1;
	struct run r;

	/* the demo's pipeline generates with gpt-4 */
	org_settings("{\"allowed_models\":[\"gpt-3.5-turbo\"]}");
	counts(&c0, &b0);
	run_n(&r, 2, "Model");
	is_int(r.status, 1, "a pipeline whose model is not in allowed_models: exit 1");
	like(r.err, "pipeline 'pipe_article_generation': model 'gpt-4' (component 'comp_ai_generator_gpt4') is not "
	    "allowed for organization 'org_123' (settings.allowed_models)", "the message names the model");
	run_free(&r);
	counts(&c1, &b1);
	ok(c1 == c0 && b1 == b0, "no context and no batch was created");
	org_settings("{\"allowed_models\":[\"gpt-3.5-turbo\",\"gpt-4\"]}");
	run_n(&r, 2, "Model allowed");
	is_int(r.status, 0, "with gpt-4 allowed: runs, exit 0");
	run_free(&r);
}

/* The day's count starts again at 00:00 UTC: a run that would span it waits for the new day first. */
static void
away_from_midnight(void)
{
	time_t now = time(NULL);
	long left = 86400 - (long)(now % 86400);

	if (left < 120) {
		tap_diag("waiting %ld s for 00:00 UTC", left + 1);
		sleep((unsigned)left + 1);
	}
}

int
main(void)
{
	away_from_midnight();
	snprintf(db, sizeof(db), "%s/limits.db", util_tmpdir());
	snprintf(dbarg, sizeof(dbarg), "--db=%s", db);
	snprintf(input, sizeof(input), "%s/in.jsonl", util_tmpdir());
	genbox_ok("demo", NULL, "demo", NULL, NULL, NULL);
	test_batch_size();
	test_per_day();
	test_no_limits();
	test_models();
	return tap_done();
}
