/*
 * t232-runbatch-out - run-batch --out: one file per completed context
 * holding its formatted content; --out naming a file is refused before
 * anything is created; a batch whose _id holds a quote and a backslash is
 * resumed and written out like any other.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "tap.h"
#include "util.h"

static char db[4096], dbarg[4200];

static void
genbox_ok(const char *what, const char *in, const char *cmd, const char *a1, const char *a2)
{
	struct run r;

	util_genbox_run(&r, in, dbarg, cmd, a1, a2, NULL);
	if (r.status != 0)
		tap_bail("%s: %s%s", what, r.out, r.err);
	run_free(&r);
}

/* data.formatted_content.content of context id, as export shows it; caller frees */
static char *
formatted(const char *id)
{
	char filter[256], *content = NULL;
	struct run r;
	cJSON *c;

	snprintf(filter, sizeof(filter), "{\"_id\":\"%s\"}", id);
	util_genbox_run(&r, NULL, dbarg, "export", "contexts", "--filter", filter, NULL);
	c = cJSON_Parse(r.out);
	content = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(c, "data"), "formatted_content"), "content"));
	content = content ? strdup(content) : NULL;
	cJSON_Delete(c);
	run_free(&r);
	return content;
}

static void
test_files(void)
{
	char input[4200], dir[4200], path[4400];
	struct run r;
	int same = 0;

	snprintf(input, sizeof(input), "%s/out.jsonl", util_tmpdir());
	snprintf(dir, sizeof(dir), "%s/outdir", util_tmpdir());
	{
		const char *t = "{\"_id\":\"ctx_out_1\",\"data\":{\"title\":\"One\"}}\n"
		    "{\"_id\":\"ctx_out_2\",\"data\":{\"title\":\"Two\"}}\n"
		    "{\"_id\":\"ctx_out_3\",\"data\":{\"title\":\"Three\"}}\n";

		util_write_file(input, t, strlen(t));
	}
	util_genbox_run(&r, NULL, dbarg, "run-batch", "--pipeline", "pipe_article_generation", "--input", input,
	    "--out", dir, NULL);
	is_int(r.status, 0, "run-batch --out DIR: exit 0");
	like(r.out, "wrote 3 files to ", "and says it wrote 3 files");
	run_free(&r);
	for (int i = 1; i <= 3; i++) {
		char id[32], *want, *got;

		snprintf(id, sizeof(id), "ctx_out_%d", i);
		snprintf(path, sizeof(path), "%s/%s.md", dir, id);
		want = formatted(id);
		got = util_read_file(path, NULL);
		if (want && got && strlen(want) > 0 && strcmp(want, got) == 0)
			same++;
		else
			tap_diag("%s: file '%.200s', formatted content '%.200s'", id, got ? got : "(none)",
			    want ? want : "(none)");
		free(want);
		free(got);
	}
	is_int(same, 3, "each DIR/<_id>.md holds its context's formatted content");
}

static void
test_out_is_file(void)
{
	char input[4200], file[4200];
	struct run r;

	snprintf(input, sizeof(input), "%s/file.jsonl", util_tmpdir());
	snprintf(file, sizeof(file), "%s/a-file", util_tmpdir());
	util_write_file(input, "{\"data\":{\"title\":\"Never\"}}\n", 27);
	util_write_file(file, "x", 1);
	util_genbox_run(&r, NULL, dbarg, "run-batch", "--pipeline", "pipe_article_generation", "--input", input,
	    "--out", file, NULL);
	is_int(r.status, 1, "--out naming a file: exit 1");
	like(r.err, "is not a directory", "with a message");
	run_free(&r);
	util_genbox_run(&r, NULL, dbarg, "export", "contexts", "--filter", "{\"data.title\":\"Never\"}", NULL);
	is_str(r.out, "", "and nothing was created");
	run_free(&r);
}

static void
test_quoted_batch(void)
{
	char dir[4200], path[4400], *text;
	struct run r;

	snprintf(dir, sizeof(dir), "%s/quoted", util_tmpdir());
	genbox_ok("batch", "{\"_id\":\"batch_q\\\"\\\\x\",\"organization_id\":\"org_123\",\"pipeline_id\":"
	    "\"pipe_article_generation\",\"context_ids\":[\"ctx_q\"]}\n", "import", "batches", "-");
	genbox_ok("context", "{\"_id\":\"ctx_q\",\"organization_id\":\"org_123\",\"batch_id\":\"batch_q\\\"\\\\x\","
	    "\"data\":{\"title\":\"Quoted\"}}\n", "import", "contexts", "-");
	util_genbox_run(&r, NULL, dbarg, "run-batch", "--resume", "batch_q\"\\x", "--out", dir, NULL);
	is_int(r.status, 0, "a batch _id with a quote and a backslash: --resume --out exits 0");
	like(r.out, "wrote 1 file to ", "and writes its one file");
	run_free(&r);
	snprintf(path, sizeof(path), "%s/ctx_q.md", dir);
	text = util_read_file(path, NULL);
	like(text, "Quoted", "holding its content");
	free(text);
}

/* an _id that cannot be a file name: not written, and said so */
static void
test_unnameable(void)
{
	char dir[4200];
	struct run r;

	snprintf(dir, sizeof(dir), "%s/slashed", util_tmpdir());
	genbox_ok("batch", "{\"_id\":\"batch_slash\",\"organization_id\":\"org_123\",\"pipeline_id\":"
	    "\"pipe_article_generation\",\"context_ids\":[\"ctx/slash\"]}\n", "import", "batches", "-");
	genbox_ok("context", "{\"_id\":\"ctx/slash\",\"organization_id\":\"org_123\",\"batch_id\":\"batch_slash\","
	    "\"data\":{\"title\":\"Slashed\"}}\n", "import", "contexts", "-");
	util_genbox_run(&r, NULL, dbarg, "run-batch", "--resume", "batch_slash", "--out", dir, NULL);
	is_int(r.status, 1, "a context _id holding '/': exit 1");
	like(r.err, "could not write 1 file in ", "the file it could not write is counted");
	run_free(&r);
}

int
main(void)
{
	snprintf(db, sizeof(db), "%s/out.db", util_tmpdir());
	snprintf(dbarg, sizeof(dbarg), "--db=%s", db);
	genbox_ok("demo", NULL, "demo", NULL, NULL);
	test_files();
	test_out_is_file();
	test_quoted_batch();
	test_unnameable();
	return tap_done();
}
