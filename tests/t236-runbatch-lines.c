/*
 * t236-runbatch-lines - run-batch refuses a line that would break the run,
 * naming the line and the field, and creates nothing: a missing or empty
 * data.title, wrong types, the engine's own fields, a NUL byte. A line with
 * fields of its own beside the schema's runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "util.h"

static char db[4096], dbarg[4200], input[4200];

static const struct {
	const char *line, *message;
} bad[] = {
	{ "{\"data\":{\"keywords\":[\"x\"]}}", "line 2: field 'data.title' is required (nothing created)" },
	{ "{\"metadata\":{\"priority\":1}}", "line 2: field 'data.title' is required" },
	{ "{}", "line 2: field 'data.title' is required (nothing created)" },
	{ "{\"data\":{}}", "line 2: field 'data.title' is required (nothing created)" },
	{ "{\"data\":{\"title\":\"\"}}", "line 2: field 'data.title' is empty (nothing created)" },
	{ "[{\"data\":{\"title\":\"t\"}}]", "line 2: not a JSON object" },
	{ "{\"data\":{\"title\":\"t\"},\"processing\":{\"started_at\":\"2030-01-01T00:00:00Z\"}}",
	  "line 2: field 'processing.started_at' is the engine's: a line may not set it" },
	{ "{\"data\":{\"title\":\"t\"},\"updated_at\":\"2020-01-01T00:00:00Z\"}",
	  "line 2: field 'updated_at' is the engine's" },
	{ "{\"data\":{\"title\":\"t\"},\"pipeline_id\":\"pipe_other\"}",
	  "line 2: field 'pipeline_id': a context of a batch runs the batch's pipeline" },
	{ "{\"data\":{\"title\":\"t\"},\"x\":1e999}", "line 2: field 'x': number out of range (not finite)" },
	{ "{\"data\":{\"title\":\"t\",\"title\":\"u\"}}", "line 2: field 'data.title' appears twice" },
	{ "{\"data\":{\"title\":\"  \"}}", "line 2: field 'data.title' is empty" },
	{ "{\"data\":{\"title\":7}}", "line 2: field 'data.title': expected a string, got number" },
	{ "{\"data\":\"title\"}", "line 2: field 'data': expected an object, got string" },
	{ "{\"data\":{\"title\":\"t\",\"tone\":5}}", "line 2: field 'data.tone': expected a string, got number" },
	{ "{\"data\":{\"title\":\"t\",\"target_audience\":[\"a\"]}}",
	  "line 2: field 'data.target_audience': expected a string, got array" },
	{ "{\"data\":{\"title\":\"t\",\"keywords\":\"a, b\"}}",
	  "line 2: field 'data.keywords': expected an array of strings, got string" },
	{ "{\"data\":{\"title\":\"t\",\"keywords\":[\"a\",3]}}",
	  "line 2: field 'data.keywords': expected an array of strings, holds a number" },
	{ "{\"data\":{\"title\":\"t\"},\"user_id\":12}", "line 2: field 'user_id': expected a string, got number" },
	{ "{\"data\":{\"title\":\"t\"},\"next_retry_at\":\"2030-01-01T00:00:00Z\"}",
	  "line 2: field 'next_retry_at' is the engine's: a line may not set it" },
	{ "{\"data\":{\"title\":\"t\"},\"processing\":{\"completed_components\":[\"template\"]}}",
	  "line 2: field 'processing.completed_components' is the engine's" },
	{ "{\"data\":{\"title\":\"t\"},\"status\":\"pending\"}", "line 2: field 'status' is the engine's" },
	{ "{\"data\":{\"title\":\"t\"},\"retry_count\":0}", "line 2: field 'retry_count' is the engine's" },
	{ "{\"data\":{\"title\":\"t\"},\"pipeline\":[]}", "line 2: field 'pipeline' is the engine's" },
	{ "{\"data\":{\"title\":\"t\"},\"error\":null}", "line 2: field 'error' is the engine's" },
	{ "{\"data\":{\"title\":\"t\"},\"batch_id\":\"batch_other\"}", "line 2: field 'batch_id' is the engine's" },
	{ "{\"data\":{\"title\":\"t\"},\"created_at\":\"2020-01-01T00:00:00Z\"}",
	  "line 2: field 'created_at' is the engine's" },
	{ "{\"data\":{\"title\":\"t\"},\"organization_id\":\"org_other\"}",
	  "line 2: field 'organization_id': 'org_other' is not the batch's organization 'org_123'" },
};

static int
contexts(void)
{
	struct run r;
	int n = 0;

	util_genbox_run(&r, NULL, dbarg, "export", "contexts", NULL);
	for (const char *p = r.out; (p = strchr(p, '\n')) != NULL; p++)
		n++;
	run_free(&r);
	return n;
}

static void
run_file(struct run *r, const char *text, size_t len)
{
	util_write_file(input, text, len);
	util_genbox_run(r, NULL, dbarg, "run-batch", "--pipeline", "pipe_article_generation", "--input", input, NULL);
}

/*
 * Fields that look like the engine's but are not its state: worker_id,
 * lease_until and started_at at the top (the lease lives outside the
 * document) are kept as the line's own; data.template, data.generated_content
 * and data.formatted_content are replaced by the components that write them.
 */
static void
test_outputs_replaced(void)
{
	static const char line[] = "{\"_id\":\"ctx_lookalike\",\"worker_id\":\"w9\",\"lease_until\":1,"
	    "\"started_at\":\"2099-01-01T00:00:00Z\",\"data\":{\"title\":\"Look-alike\","
	    "\"template\":5,\"generated_content\":\"old\",\"formatted_content\":{\"content\":\"HACK\"}}}\n";
	struct run r;

	run_file(&r, line, sizeof(line) - 1);
	is_int(r.status, 0, "a line with look-alikes of the engine's fields runs");
	like(r.out, "1 completed", "and completes");
	run_free(&r);
	util_genbox_run(&r, NULL, dbarg, "export", "contexts", "--filter", "{\"_id\":\"ctx_lookalike\"}", NULL);
	like(r.out, "\"worker_id\":\"w9\"", "worker_id kept as the line's own");
	like(r.out, "\"started_at\":\"2099-01-01T00:00:00Z\"", "started_at at the top kept as written");
	ok(strstr(r.out, "HACK") == NULL && strstr(r.out, "\"generated_content\":\"old\"") == NULL &&
	    strstr(r.out, "\"template\":5") == NULL, "the pipeline's outputs are the components'");
	like(r.out, "\"formatted_content\":{", "formatted_content written by the transformer");
	run_free(&r);
}

int
main(void)
{
	char text[1024];
	struct run r;
	int before;

	snprintf(db, sizeof(db), "%s/lines.db", util_tmpdir());
	snprintf(dbarg, sizeof(dbarg), "--db=%s", db);
	snprintf(input, sizeof(input), "%s/in.jsonl", util_tmpdir());
	util_genbox_run(&r, NULL, dbarg, "demo", NULL);
	if (r.status != 0)
		tap_bail("demo: %s", r.err);
	run_free(&r);
	before = contexts();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "{\"data\":{\"title\":\"Good first\"}}\n%s\n", bad[i].line);
		run_file(&r, text, strlen(text));
		ok(r.status == 1 && strstr(r.err, bad[i].message) != NULL, "%s: exit 1, '%s'", bad[i].line,
		    bad[i].message);
		if (r.status != 1 || strstr(r.err, bad[i].message) == NULL)
			tap_diag("exit %d: %s", r.status, r.err);
		run_free(&r);
	}
	{
		static const char nul[] = "{\"data\":{\"title\":\"a\"}}\n{\"data\":{\"title\":\"b\"}}\n"
		    "{\"data\":{\"title\":\"c\0d\"}}\n";

		static const char first[] = "{\"data\":{\"title\":\"a\"}}\n\0{\"data\":{\"title\":\"b\"}}\n";
		static const char after[] = "{\"data\":{\"title\":\"a\"}}\n{\"data\":{\"title\":\"b\"}}\0junk\n";

		run_file(&r, nul, sizeof(nul) - 1);
		is_int(r.status, 1, "a line with a NUL byte: exit 1");
		like(r.err, "line 3: holds a NUL byte (nothing created)", "naming the line");
		run_free(&r);
		run_file(&r, first, sizeof(first) - 1);
		is_int(r.status, 1, "a line starting with a NUL byte: exit 1");
		like(r.err, "line 2: holds a NUL byte (nothing created)", "naming the line");
		run_free(&r);
		run_file(&r, after, sizeof(after) - 1);
		is_int(r.status, 1, "a NUL byte after a line's JSON: exit 1");
		like(r.err, "line 2: holds a NUL byte (nothing created)", "naming the line");
		run_free(&r);
	}
	is_int(contexts(), before, "none of these created a context");
	snprintf(text, sizeof(text), "\n{\"_id\":\"ctx_own_fields\",\"type\":\"article\",\"data\":{\"title\":\"Own\","
	    "\"keywords\":[\"k\"],\"tone\":\"plain\",\"target_audience\":\"all\",\"notes\":{\"n\":1}},"
	    "\"metadata\":{\"priority\":2,\"client_version\":\"1.2.3\"},\"extra\":[1,2]}\n\n");
	run_file(&r, text, strlen(text));
	is_int(r.status, 0, "a line with fields of its own beside the schema's runs (blank lines skipped)");
	like(r.out, "1 completed", "and completes");
	run_free(&r);
	util_genbox_run(&r, NULL, dbarg, "export", "contexts", "--filter", "{\"_id\":\"ctx_own_fields\"}", NULL);
	like(r.out, "\"extra\":[1,2]", "keeping them");
	run_free(&r);
	test_outputs_replaced();
	return tap_done();
}
