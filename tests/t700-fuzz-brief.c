/*
 * t700-fuzz-brief - each libFuzzer harness of tests/fuzz (built by
 * `make fuzzers` into build/fuzz, or GENBOX_FUZZ_DIR) runs for a few
 * seconds from its seeds and ends with no crash and no broken invariant,
 * so the harnesses never rot; each input kept in tests/fuzz/regress (what
 * fuzzing once found, and the 16 MiB cap of an imported document) runs
 * clean; and what the config and template harnesses found shows as a
 * user or a caller sees it.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "../appliance/template.h"
#include "tap.h"
#include "util.h"

#define BRIEF_SECONDS "3"

static const struct harness {
	const char *name, *max_len, *extra;
} harnesses[] = {
	{ "import", "16384", "-detect_leaks=1" },
	{ "filter", "1024", "-detect_leaks=1" },
	{ "config", "4096", "-detect_leaks=1" },
	{ "http", "8192", "-detect_leaks=0" },	/* the server's threads allocate meanwhile */
	{ "template", "8192", "-detect_leaks=1" },
	{ "render", "16384", "-detect_leaks=1" },
};

static char fuzz_dir[4096];

static const char *
binary(const char *name, char *out, size_t size)
{
	snprintf(out, size, "%s/fuzz-%s", fuzz_dir, name);
	return out;
}

static void
brief_run(const struct harness *h)
{
	char bin[4200], seeds[4200], sub[4200], max_len[64], secs[64], art[4300];
	const char *runs;
	struct run r;

	util_src("tests/fuzz/corpus", seeds, sizeof(seeds));
	snprintf(seeds + strlen(seeds), sizeof(seeds) - strlen(seeds), "/%s", h->name);
	snprintf(sub, sizeof(sub), "%s/corpus-%s", util_tmpdir(), h->name);
	snprintf(art, sizeof(art), "-artifact_prefix=%s/crash-%s-", util_tmpdir(), h->name);
	snprintf(max_len, sizeof(max_len), "-max_len=%s", h->max_len);
	snprintf(secs, sizeof(secs), "-max_total_time=%s", BRIEF_SECONDS);
	if (mkdir(sub, 0700) != 0)
		tap_bail("cannot make %s", sub);
	util_run(&r, NULL, 0, (char *[]){ (char *)binary(h->name, bin, sizeof(bin)), max_len,
	    secs, (char *)h->extra, (char *)"-timeout=20", (char *)"-print_final_stats=1", art,
	    sub, seeds, NULL });
	runs = strstr(r.err, "stat::number_of_executed_units: ");
	if (!is_int(r.status, 0, "fuzz-%s runs %s s from its seeds with no crash", h->name,
	    BRIEF_SECONDS))
		tap_diag("%s", strlen(r.err) > 3000 ? r.err + strlen(r.err) - 3000 : r.err);
	ok(strstr(r.err, "Done ") && runs && atol(runs + 33) > 0,
	    "fuzz-%s says Done with its executions counted (%ld)", h->name,
	    runs ? atol(runs + 33) : 0L);
	run_free(&r);
}

/* Each file of tests/fuzz/regress/NAME runs once, clean. */
static void
regress_run(const struct harness *h)
{
	char dir[4200], bin[4200], *argv[64];
	struct dirent *e;
	int n = 0, argc = 0;
	struct run r;
	DIR *d;

	util_src("tests/fuzz/regress", dir, sizeof(dir));
	snprintf(dir + strlen(dir), sizeof(dir) - strlen(dir), "/%s", h->name);
	if ((d = opendir(dir)) == NULL)
		return;
	argv[argc++] = (char *)binary(h->name, bin, sizeof(bin));
	argv[argc++] = (char *)h->extra;
	while ((e = readdir(d)) != NULL && argc < 62) {
		if (e->d_name[0] == '.')
			continue;
		if (asprintf(&argv[argc++], "%s/%s", dir, e->d_name) < 0)
			tap_bail("out of memory");
		n++;
	}
	closedir(d);
	argv[argc] = NULL;
	util_run(&r, NULL, 0, argv);
	if (!is_int(r.status, 0, "fuzz-%s runs its %d kept inputs clean", h->name, n))
		tap_diag("%s", strlen(r.err) > 3000 ? r.err + strlen(r.err) - 3000 : r.err);
	for (int i = 2; i < argc; i++)
		free(argv[i]);
	run_free(&r);
}

/* What fuzz-config found: a long line was read as two, the error naming the wrong one. */
static void
config_long_line(void)
{
	char conf[4200], line[512], arg[4300];
	struct run r;

	snprintf(conf, sizeof(conf), "%s/long.conf", util_tmpdir());
	snprintf(line, sizeof(line), "[web]\nlisten = %0250d\nthreads = x\n", 0);
	if (util_write_file(conf, line, strlen(line)))
		tap_bail("cannot write %s", conf);
	snprintf(arg, sizeof(arg), "--config=%s", conf);
	util_genbox_run(&r, NULL, arg, "stats", NULL);
	is_int(r.status, 1, "a config line longer than inih's buffer is refused");
	like(r.err, ":2: line longer than 198 bytes", "the error names the long line, line 2");
	run_free(&r);
}

/* What fuzz-template found: a text section after 1000 repeated ones went past the cap. */
static void
template_text_past_max(void)
{
	struct gb_err err = { 0, "" };
	cJSON *tmpl = cJSON_CreateObject(), *secs, *out = NULL, *s;
	char id[16];
	int rc;

	secs = cJSON_AddArrayToObject(cJSON_AddObjectToObject(tmpl, "structure"), "sections");
	for (int i = 0; i < TEMPLATE_SECTIONS_MAX / 100; i++) {
		snprintf(id, sizeof(id), "s%d", i);
		s = cJSON_CreateObject();
		cJSON_AddStringToObject(s, "id", id);
		cJSON_AddStringToObject(s, "type", "sections");
		cJSON_AddNumberToObject(s, "min_sections", 100);
		cJSON_AddNumberToObject(s, "max_sections", 100);
		cJSON_AddItemToArray(secs, s);
	}
	s = cJSON_CreateObject();
	cJSON_AddStringToObject(s, "id", "last");
	cJSON_AddItemToArray(secs, s);
	rc = template_expand(tmpl, "ctx_1", &out, &err);
	is_int(rc, GB_ETOOBIG, "a text section past %d expanded sections is refused",
	    TEMPLATE_SECTIONS_MAX);
	like(err.msg, "more than 1000 sections", "the error says the cap");
	ok(out == NULL, "and nothing is expanded");
	cJSON_Delete(out);
	cJSON_Delete(tmpl);
}

int
main(void)
{
	const char *dir = getenv("GENBOX_FUZZ_DIR");
	char src[4096];

	if (dir && *dir)
		snprintf(fuzz_dir, sizeof(fuzz_dir), "%s", dir);
	else
		snprintf(fuzz_dir, sizeof(fuzz_dir), "%s", util_src("build/fuzz/tests/fuzz", src,
		    sizeof(src)));
	setenv("GENBOX_FUZZ_CAP", "1", 1);
	for (size_t i = 0; i < sizeof(harnesses) / sizeof(harnesses[0]); i++) {
		char bin[4200];

		if (access(binary(harnesses[i].name, bin, sizeof(bin)), X_OK) != 0)
			tap_bail("%s is missing: run `make fuzzers` (clang, libclang-rt-14-dev)", bin);
		brief_run(&harnesses[i]);
		regress_run(&harnesses[i]);
	}
	config_long_line();
	template_text_past_max();
	return tap_done();
}
