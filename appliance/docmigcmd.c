/*
 * docmigcmd.c - `genbox migrate docs [--name NAME] [--batch-size N]
 * [--dry-run] [--status]`: the document migrations of storage/docmigrate.h,
 * every one of the registry in order, or the one named.
 *
 * A line per committed batch says how far the run is; a killed run is
 * resumed by running the command again (each batch commits with its
 * checkpoint). Exit status: 0 done, 1 a failure, 2 a usage error (an
 * unknown --name names the nearest valid one).
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/gbtime.h"
#include "../storage/docmigrate.h"
#include "cli.h"

#define CMD "migrate docs"

struct docmig_args {
	const char *name;		/* NULL: every migration in order */
	int batch_size;
	int dry_run;
	int status;
};

static int docmig_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A usage error (exit status 1). */
static int
docmig_usage(const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = cli_vusage(CMD, "migrate", fmt, ap);
	va_end(ap);
	return rc;
}

static int
docmig_batch_arg(const char *s, int *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end != '\0' || v < 1 || v > DOCMIG_MAX_BATCH)
		return docmig_usage("--batch-size must be a number from 1 to %d, not '%s'",
		    DOCMIG_MAX_BATCH, s);
	*out = (int)v;
	return 0;
}

/* 0, or the exit status of a usage error (1). argv[0] is "docs". */
static int
docmig_parse(int argc, char **argv, struct docmig_args *a)
{
	static const struct option longs[] = { { "name", required_argument, NULL, 'n' },
		{ "batch-size", required_argument, NULL, 'b' },
		{ "dry-run", no_argument, NULL, 'd' }, { "status", no_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 } };
	int ch;

	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		if (ch == 'n')
			a->name = optarg;
		else if (ch == 'b' && docmig_batch_arg(optarg, &a->batch_size))
			return 1;
		else if (ch == 'd')
			a->dry_run = 1;
		else if (ch == 's')
			a->status = 1;
		else if (ch == '?' || ch == ':')
			return docmig_usage(optopt && ch == ':' ? "option '%s' needs a value" :
			    "unknown option '%s'", argv[optind - 1]);
	}
	if (optind < argc)
		return docmig_usage("unexpected argument '%s'", argv[optind]);
	if (a->name && store_docmig_find(a->name) == NULL)
		return docmig_usage("unknown document migration '%s' (did you mean '%s'?)",
		    a->name, store_docmig_nearest(a->name));
	if (a->status && (a->dry_run || a->batch_size))
		return docmig_usage("--status takes no --dry-run or --batch-size");
	return 0;
}

static void
docmig_progress_line(void *arg, const struct docmig_progress *p)
{
	(void)arg;
	printf("%s: batch %lld: %lld of %lld migrated (checkpoint %s)\n", p->name,
	    (long long)p->batches, (long long)p->migrated, (long long)p->total, p->last_id);
	fflush(stdout);
}

static int
docmig_one(struct store *st, const char *name, const struct docmig_args *a)
{
	struct docmig_opts o = { a->batch_size, a->dry_run, docmig_progress_line, NULL };
	struct gb_err err = { 0, "" };
	struct docmig_result res;

	if (store_docmig_run(st, name, &o, &res, &err))
		return cli_fail("migrate", "docs: %s: %s", name, err.msg);
	if (a->dry_run) {
		printf("%s: %lld document%s would be migrated (dry run: nothing changed)\n", name,
		    (long long)res.selected, res.selected == 1 ? "" : "s");
		return 0;
	}
	if (res.resumed)
		printf("%s: resumed after %s\n", name, res.resumed_after);
	printf("%s: done: %lld document%s migrated in %lld batch%s\n", name,
	    (long long)res.migrated, res.migrated == 1 ? "" : "s", (long long)res.batches,
	    res.batches == 1 ? "" : "es");
	return 0;
}

static int
docmig_status(struct store *st)
{
	struct docmig_opts dry = { 0, 1, NULL, NULL };
	struct gb_err err = { 0, "" };
	char t[GB_TIME_LEN];

	for (int i = 0; i < store_docmig_count(); i++) {
		const struct docmig_info *m = store_docmig_at(i);
		struct docmig_result res;
		struct docmig_state s;

		if (store_docmig_state(st, m->name, &s, &err) ||
		    store_docmig_run(st, m->name, &dry, &res, &err))
			return cli_fail("migrate", "docs: %s: %s", m->name, err.msg);
		printf("%3d  %-20s %s\n     ", i + 1, m->name, m->summary);
		if (!s.found)
			printf("never run");
		else if (s.done)
			printf("done %s", gb_time_format(s.finished_ms, t));
		else
			printf("not finished (killed, failed or running): checkpoint %s",
			    s.last_id[0] ? s.last_id : "(none yet)");
		printf(", %lld migrated so far, %lld in the old shape\n", (long long)s.migrated,
		    (long long)res.selected);
	}
	return 0;
}

int
cmd_migrate_docs(const struct config *cfg, int argc, char **argv)
{
	struct store_opts so = { 0, 1, cfg->sync_full, cfg->busy_timeout_ms, 0, 0 };
	struct docmig_args a = { NULL, 0, 0, 0 };
	struct gb_err err = { 0, "" };
	struct store *st = NULL;
	int rc;

	if ((rc = docmig_parse(argc, argv, &a)))
		return rc;
	if (cli_store_open(cfg, &so, &st, &err))
		return cli_fail("migrate", "docs: %s", err.msg);
	if (a.status)
		rc = docmig_status(st);
	else if (a.name)
		rc = docmig_one(st, a.name, &a);
	else
		for (int i = 0; i < store_docmig_count() && rc == 0; i++)
			rc = docmig_one(st, store_docmig_at(i)->name, &a);
	store_close(st);
	return rc;
}
