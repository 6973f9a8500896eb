/*
 * t237-runbatch-input - what run-batch checks before it writes anything:
 * a file of more contexts than one batch holds, generator settings that
 * cannot work, an --out folder that cannot be made; each exits 1 with a
 * message and creates no batch. The generator's base URL works with or
 * without "/v1", and a failed call names the whole URL it called.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakegen.h"
#include "tap.h"
#include "util.h"

static char db[4096], dbarg[4200], input[4200];

/* Lines in the export of coll: its documents. */
static int
docs(const char *coll)
{
	struct run r;
	int n = 0;

	util_genbox_run(&r, NULL, dbarg, "export", coll, NULL);
	for (const char *p = r.out; (p = strchr(p, '\n')) != NULL; p++)
		n++;
	run_free(&r);
	return n;
}

static void
run_batch(struct run *r, const char *out)
{
	util_genbox_run(r, NULL, dbarg, "run-batch", "--pipeline", "pipe_article_generation", "--input", input,
	    out ? "--out" : NULL, out, NULL);
}

/* run-batch refused with message, and neither a batch nor a context created. */
static void
refused(const char *name, const char *out, const char *message)
{
	int batches = docs("batches"), contexts = docs("contexts");
	struct run r;

	run_batch(&r, out);
	is_int(r.status, 1, "%s: exit 1", name);
	like(r.err, message, "%s: saying '%s'", name, message);
	if (r.status != 1 || strstr(r.err, message) == NULL)
		tap_diag("exit %d: %s", r.status, r.err);
	run_free(&r);
	is_int(docs("batches"), batches, "%s: no batch created", name);
	is_int(docs("contexts"), contexts, "%s: no context created", name);
}

static void
test_too_many(void)
{
	FILE *f = fopen(input, "w");

	if (f == NULL)
		tap_bail("cannot write %s", input);
	for (int i = 0; i < 500001; i++)
		fprintf(f, "{\"data\":{\"title\":\"T%d\"}}\n%s", i, i % 1000 ? "" : "\n");
	fclose(f);
	refused("a file of 500001 contexts", NULL,
	    "holds 500001 contexts, more than the 500000 one batch holds (its document is limited to "
	    "16777216 bytes): split it into several files, one batch each (nothing created)");
}

static void
test_settings(void)
{
	char file[4200], out[4300];

	util_write_file(input, "{\"data\":{\"title\":\"One\"}}\n", 26);
	setenv("GENBOX_GENERATOR_URL", "localhost:8080", 1);
	refused("a generator URL without a scheme", NULL,
	    "generator url 'localhost:8080' has no scheme: write http://localhost:8080 (or https://)");
	setenv("GENBOX_GENERATOR_URL", "ftp://127.0.0.1:1/", 1);
	refused("an ftp:// generator URL", NULL, "is not http:// or https://");
	setenv("GENBOX_GENERATOR_URL", "http://127.0.0.1:1/", 1);
	setenv("GENBOX_GENERATOR_KEY", "sk-line\nbreak", 1);
	refused("a generator key with a line break", NULL, "generator key is longer than");
	unsetenv("GENBOX_GENERATOR_KEY");
	unsetenv("GENBOX_GENERATOR_URL");

	snprintf(file, sizeof(file), "%s/a-file", util_tmpdir());
	util_write_file(file, "x", 1);
	refused("--out naming a file", file, "--out: '");
	snprintf(out, sizeof(out), "%s/sub", file);
	refused("--out that cannot be made", out, "--out: cannot create");
}

/* A fake OpenAI endpoint: the base URL with "/v1" calls /v1/chat/completions once. */
static void
test_base_url(void)
{
	char url[128];
	struct fakegen gen;
	struct run r;

	fakegen_start(&gen, 4, 0, NULL);
	util_write_file(input, "{\"data\":{\"title\":\"Through v1\"}}\n", 32);
	snprintf(url, sizeof(url), "%s/v1", gen.url);
	setenv("GENBOX_GENERATOR_URL", url, 1);
	run_batch(&r, NULL);
	is_int(r.status, 0, "a base URL ending in /v1 works");
	like(r.out, "1 completed", "the context completes");
	if (r.status != 0)
		tap_diag("%s%s", r.out, r.err);
	run_free(&r);

	snprintf(url, sizeof(url), "%s/nope/", gen.url);
	setenv("GENBOX_GENERATOR_URL", url, 1);
	run_batch(&r, NULL);
	is_int(r.status, 2, "a base URL the server does not serve: the context fails, exit 2");
	run_free(&r);
	util_genbox_run(&r, NULL, dbarg, "export", "contexts", "--filter", "{\"status\":\"failed\"}", NULL);
	snprintf(url, sizeof(url), "%s/nope/v1/chat/completions", gen.url);
	like(r.out, url, "its error names the whole URL called");
	run_free(&r);
	unsetenv("GENBOX_GENERATOR_URL");
	fakegen_stop(&gen);
}

int
main(void)
{
	struct run r;

	snprintf(db, sizeof(db), "%s/input.db", util_tmpdir());
	snprintf(dbarg, sizeof(dbarg), "--db=%s", db);
	snprintf(input, sizeof(input), "%s/in.jsonl", util_tmpdir());
	util_genbox_run(&r, NULL, dbarg, "demo", NULL);
	if (r.status != 0)
		tap_bail("demo: %s", r.err);
	run_free(&r);
	/* no organization limit in the way of the batch's own */
	util_write_file(input, "{\"_id\":\"org_123\",\"name\":\"Acme\"}\n", 32);
	util_genbox_run(&r, NULL, dbarg, "import", "--upsert", "organizations", input, NULL);
	if (r.status != 0)
		tap_bail("import: %s", r.err);
	run_free(&r);
	test_too_many();
	test_settings();
	test_base_url();
	return tap_done();
}
