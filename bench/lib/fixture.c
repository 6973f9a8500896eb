/*
 * fixture.c - the genbox binary, demo databases and status counts for the
 * benchmarks (see fixture.h).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../storage/access.h"
#include "../../storage/docs.h"
#include "benchlib.h"
#include "fixture.h"

#define FIXTURE_DEMO_TIMEOUT_S 60

extern char **environ;

void
fixture_find_genbox(char *out, size_t size)
{
	const char *env = getenv("GENBOX_BIN");
	char exe[PATH_MAX - 16], *slash, msg[PATH_MAX + 128];
	ssize_t len;

	if (env && *env) {
		snprintf(out, size, "%s", env);
	} else {
		if ((len = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) < 0)
			bench_die("/proc/self/exe", strerror(errno));
		exe[len] = '\0';
		for (int i = 0; i < 2; i++)
			if ((slash = strrchr(exe, '/')) != NULL)
				*slash = '\0';
		snprintf(out, size, "%s/genbox", exe);
	}
	if (access(out, X_OK) != 0) {
		snprintf(msg, sizeof(msg), "'%s': %s (build it with make, or set GENBOX_BIN)", out,
		    strerror(errno));
		bench_die("genbox binary", msg);
	}
}

const char *
fixture_src_path(const char *rel, char *out, size_t size)
{
	const char *src = getenv("GENBOX_SRC");

	snprintf(out, size, "%s/%s", src && *src ? src : ".", rel);
	return out;
}

/*
 * The demo's org_123 allows 50 contexts in a batch and 1000 a day: the
 * benchmarks run more, so its settings are raised (models and pipeline kept).
 */
static void
fixture_lift_limits(const char *db)
{
	static const char org[] =
	    "{\"_id\":\"org_123\",\"name\":\"Acme Corporation\",\"plan\":\"enterprise\","
	    "\"settings\":{\"max_contexts_per_day\":100000000,\"max_batch_size\":10000000,"
	    "\"allowed_models\":[\"gpt-3.5-turbo\",\"gpt-4\"],"
	    "\"default_pipeline_id\":\"pipe_article_generation\"}}";
	struct gb_err err = { 0, "" };
	struct store *st = NULL;

	if (store_open(&st, db, NULL, &err) ||
	    store_put(st, COLL_ORGANIZATIONS, org, strlen(org), STORE_UPSERT, NULL, &err))
		bench_die("organization limits", err.msg);
	store_close(st);
}

void
fixture_demo_db(const char *genbox, const char *db)
{
	char out[PATH_MAX], errf[PATH_MAX], msg[2 * PATH_MAX + 64];
	char *argv[] = { (char *)genbox, "--db", (char *)db, "demo", NULL };
	struct bench_child c;

	bench_db_remove(db);
	bench_tpath("demo.out", out, sizeof(out));
	bench_tpath("demo.err", errf, sizeof(errf));
	if (bench_spawn_wait(argv, environ, out, errf, FIXTURE_DEMO_TIMEOUT_S, &c, msg,
	    sizeof(msg)))
		bench_die("demo", msg);
	if (c.status != 0) {
		bench_print_tail(errf, 10);
		snprintf(msg, sizeof(msg), "'%s --db %s demo' exited with status %d", genbox, db,
		    c.status);
		bench_die("demo", msg);
	}
	fixture_lift_limits(db);
}


void
fixture_status_counts(const char *db, int64_t counts[CTX_STATUS_COUNT])
{
	struct gb_err err = { 0, "" };
	struct store *st = NULL;

	if (store_open(&st, db, NULL, &err) || store_ctx_status_counts(st, counts, &err))
		bench_die(db, err.msg);
	store_close(st);
}
