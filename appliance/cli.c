/*
 * cli.c - the data commands: init, migrate, import, export, demo, stats.
 *
 * Import is all or nothing: every document of the file goes in inside one
 * transaction, and the first bad one (named by line, or by element for a
 * JSON array, and by field) rolls all of them back.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "../base/buf.h"
#include "../base/near.h"
#include "../storage/access.h"
#include "../storage/docs.h"
#include "../storage/store.h"
#include "../storage/upkeep.h"
#include "backupcmd.h"
#include "cli.h"
#include "demo.h"

#define MAX_ARRAY_FILE (512u * 1024 * 1024)	/* a JSON array file is read whole */

int
cli_fail(const char *cmd, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "genbox: %s: %s\n", cmd, msg);
	return 1;
}

int
cli_vusage(const char *cmd, const char *help, const char *fmt, va_list ap)
{
	char msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	fprintf(stderr, "genbox: %s: %s\nTry 'genbox %s --help'.\n", cmd, msg, help);
	return 1;
}

/* The running lock of cli_hold_db, held until the process ends. */
static int held_fd = -1;

int
cli_hold_db(const char *db_path, int create, struct gb_err *err)
{
	struct stat sb;

	if (held_fd >= 0 || strcmp(db_path, ":memory:") == 0)
		return 0;
	/* opening it fails with the reason: no lock file beside what is no database */
	if (stat(db_path, &sb) == 0 ? !S_ISREG(sb.st_mode) : !create)
		return 0;
	return store_lock_running(db_path, &held_fd, err);
}

int
cli_store_open(const struct config *cfg, const struct store_opts *o, struct store **st,
    struct gb_err *err)
{
	int rc;

	*st = NULL;
	if ((rc = cli_hold_db(cfg->db_path, o->create, err)))
		return rc;
	return store_open(st, cfg->db_path, o, err);
}

static int
open_store(const struct config *cfg, int create, struct store **st, struct gb_err *err)
{
	struct store_opts o = { create, 1, cfg->sync_full, cfg->busy_timeout_ms, 0, 0 };

	return cli_store_open(cfg, &o, st, err);
}

int
cli_opt_error(int ch, char **argv, const struct option *longs, struct gb_err *err)
{
	const char *arg = argv[optind - 1], *eq;
	struct gb_near near;
	char name[GB_NEAR_MAX];
	size_t n;

	if (ch == ':')
		return gb_errf(err, GB_EINVAL, "option '%.64s' needs a value", arg);
	if (strncmp(arg, "--", 2) != 0)
		return gb_errf(err, GB_EINVAL, "unknown option '-%c'", optopt ? optopt : '?');
	eq = strchr(arg + 2, '=');
	n = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
	snprintf(name, sizeof(name), "%.*s", (int)(n < sizeof(name) ? n : sizeof(name) - 1),
	    arg + 2);
	gb_near_init(&near, name);
	for (const struct option *o = longs; o->name; o++) {
		if (eq && o->has_arg == no_argument && strcmp(o->name, name) == 0)
			return gb_errf(err, GB_EINVAL, "option '--%s' takes no value", name);
		gb_near_add(&near, o->name);
	}
	if (gb_near_best(&near))
		return gb_errf(err, GB_EINVAL, "unknown option '--%.64s' (did you mean '--%s'?)",
		    name, gb_near_best(&near));
	return gb_errf(err, GB_EINVAL, "unknown option '--%.64s'", name);
}

int
cli_opt_fail(const char *cmd, int ch, char **argv, const struct option *longs)
{
	struct gb_err err = { 0, "" };

	cli_opt_error(ch, argv, longs, &err);
	cli_fail(cmd, "%s", err.msg);
	fprintf(stderr, "Try 'genbox %s --help'.\n", cmd);
	return 1;
}

/* getopt_long over a command's argv, with messages in the command's name. */
static int
next_opt(int argc, char **argv, const struct option *longs, const char *cmd)
{
	int ch;

	opterr = 0;
	ch = getopt_long(argc, argv, ":", longs, NULL);
	if (ch == '?' || ch == ':')
		cli_opt_fail(cmd, ch, argv, longs);
	return ch;
}

static int
bad_args(const char *cmd, const char *what)
{
	cli_fail(cmd, "%s", what);
	fprintf(stderr, "Try 'genbox %s --help'.\n", cmd);
	return 1;
}

int
cli_extra_arg(const char *cmd, const char *arg, const char *expected)
{
	cli_fail(cmd, "too many arguments: '%.64s' (%s)", arg, expected);
	fprintf(stderr, "Try 'genbox %s --help'.\n", cmd);
	return 1;
}

void
cli_unknown_word(char *out, size_t size, const char *what, const char *word,
    const char *const *words)
{
	struct gb_near near;

	gb_near_init(&near, word);
	for (; *words; words++)
		gb_near_add(&near, *words);
	if (gb_near_best(&near))
		snprintf(out, size, "unknown %s '%.64s' (did you mean '%s'?)", what, word,
		    gb_near_best(&near));
	else
		snprintf(out, size, "unknown %s '%.64s'", what, word);
}

static int
near_doc(void *arg, const char *doc, size_t len)
{
	cJSON *j = cJSON_ParseWithLength(doc, len);
	const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "_id"));

	if (id)
		gb_near_add(arg, id);
	cJSON_Delete(j);
	return 0;
}

void
cli_near_id(struct store *st, enum coll c, const char *id, char *out, size_t size)
{
	struct gb_err err = { 0, "" };
	struct gb_near near;

	out[0] = '\0';
	gb_near_init(&near, id);
	if (store_each(st, c, NULL, 0, near_doc, &near, &err) != 0)
		return;
	if (gb_near_best(&near))
		snprintf(out, size, " (did you mean '%s'?)", gb_near_best(&near));
	else if (gb_near_any(&near))
		snprintf(out, size, " (the nearest is '%s')", gb_near_any(&near));
}

/* An unknown collection, named, with the nearest one and the list. */
int
cli_bad_coll(const char *cmd, const char *name)
{
	struct gb_near near;

	gb_near_init(&near, name);
	for (int i = 0; i < COLL_COUNT; i++)
		gb_near_add(&near, coll_name((enum coll)i));
	fprintf(stderr, "genbox: %s: unknown collection '%.64s'", cmd, name);
	if (gb_near_best(&near))
		fprintf(stderr, " (did you mean '%s'?)", gb_near_best(&near));
	fprintf(stderr, "; expected one of:");
	for (int i = 0; i < COLL_COUNT; i++)
		fprintf(stderr, "%s %s", i ? "," : "", coll_name((enum coll)i));
	fprintf(stderr, "\nTry 'genbox %s --help'.\n", cmd);
	return 1;
}

/* ---- init, migrate ---- */

/* What to do when the database's folder may not be made or written: make it as root. */
static int
init_dir_hint(const char *dir, const char *what, struct gb_err *err)
{
	return gb_errf(err, GB_EIO,
	    "cannot %s '%s': %s; run 'genbox init' as root, or create the folder first: "
	    "install -d -o genbox -m 0750 %s", what, dir, strerror(errno), dir);
}

/* The database's folder, made (mode 0750, with any missing parent) when missing. */
static int
init_dir(const char *path, struct gb_err *err)
{
	char dir[4096], *p;
	struct stat sb;

	if (strcmp(path, ":memory:") == 0 || snprintf(dir, sizeof(dir), "%s", path) >=
	    (int)sizeof(dir) || (p = strrchr(dir, '/')) == NULL || p == dir)
		return 0;
	*p = '\0';
	if (stat(dir, &sb) == 0)
		return S_ISDIR(sb.st_mode) ? (access(dir, W_OK | X_OK) == 0 ? 0 :
		    init_dir_hint(dir, "write in the database's folder", err)) :
		    gb_errf(err, GB_EINVAL, "'%s' (the database's folder) is not a directory", dir);
	for (p = dir + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		{
			char c = *p;

			*p = '\0';
			if (mkdir(dir, 0750) < 0 && errno != EEXIST)
				return init_dir_hint(dir, "create the database's folder", err);
			*p = c;
		}
		if (*p == '\0')
			break;
	}
	return 0;
}

static int
cmd_init(const struct config *cfg, int argc, char **argv)
{
	struct gb_err err = { 0, "" };
	struct store *st = NULL;
	int v, rc;

	if (argc > 1)
		return cli_extra_arg("init", argv[1], "init takes no arguments");
	/* the store is closed on every path: open_store leaves it NULL when it fails */
	if ((rc = init_dir(cfg->db_path, &err)) == 0 && (rc = open_store(cfg, 1, &st, &err)) == 0)
		rc = store_schema_version(st, &v, &err);
	store_close(st);
	if (rc)
		return cli_fail("init", "%s", err.msg);
	printf("initialised %s (schema version %d)\n", cfg->db_path, v);
	return 0;
}

static int
cmd_migrate(const struct config *cfg, int argc, char **argv)
{
	static const struct option longs[] = { { "status", no_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 } };
	struct store_opts o = { 0, 1, cfg->sync_full, cfg->busy_timeout_ms, 0, 0 };
	struct gb_err err = { 0, "" };
	struct store *st = NULL;
	int status = 0, ch, from, to, backup = 0;

	if (argc > 1 && strcmp(argv[1], "docs") == 0)
		return cmd_migrate_docs(cfg, argc - 1, argv + 1);
	optind = 0;
	while ((ch = next_opt(argc, argv, longs, "migrate")) != -1) {
		if (ch != 's')
			return 1;
		status = 1;
	}
	if (optind < argc)
		return cli_extra_arg("migrate", argv[optind], "migrate takes no arguments");
	if (store_file_version(cfg->db_path, &from, &err))
		return cli_fail("migrate", "%s", err.msg);
	if (status) {
		printf("%s: schema version %d of %d (%s)\n", cfg->db_path, from,
		    store_schema_latest(), from == store_schema_latest() ? "up to date" :
		    from > store_schema_latest() ? "newer than this genbox" : "migrations pending");
		for (int v = 1; v <= store_schema_latest(); v++)
			printf("  %3d  %-8s %s\n", v, v <= from ? "applied" : "pending",
			    store_migration_name(v));
		return 0;
	}
	if (cli_hold_db(cfg->db_path, 0, &err) || (from < store_schema_latest() &&
	    backupcmd_before_migrate(cfg, "migrate", &backup, &err)))
		return cli_fail("migrate", "%s", err.msg);
	if (cli_store_open(cfg, &o, &st, &err) || store_schema_version(st, &to, &err)) {
		store_close(st);
		return cli_fail("migrate", "%s", err.msg);
	}
	store_close(st);
	if (from == to)
		printf("%s: schema version %d, up to date\n", cfg->db_path, to);
	else
		printf("%s: migrated from schema version %d to %d\n", cfg->db_path, from, to);
	return 0;
}

/* ---- import ---- */

struct seen {
	char *id;
	size_t where;		/* line or element */
};

struct import {
	struct store *st;
	enum coll coll;
	enum store_put_mode mode;
	int array;		/* positions are elements, not lines */
	size_t count;
	struct seen *seen;
	size_t nseen, capseen;
	struct gb_err *err;
	char where[64];		/* "line 3" of the failure */
};

static int
import_one(struct import *im, size_t pos, const char *text, size_t len)
{
	char id[STORE_ID_MAX];
	int rc;

	snprintf(im->where, sizeof(im->where), "%s %zu", im->array ? "element" : "line", pos);
	if ((rc = store_put(im->st, im->coll, text, len, im->mode, id, im->err)))
		return rc;
	if (im->nseen == im->capseen) {
		size_t cap = im->capseen ? im->capseen * 2 : 1024;
		struct seen *s = realloc(im->seen, cap * sizeof(*s));

		if (s == NULL)
			return gb_errf(im->err, GB_ENOMEM, "out of memory");
		im->seen = s;
		im->capseen = cap;
	}
	if ((im->seen[im->nseen].id = strdup(id)) == NULL)
		return gb_errf(im->err, GB_ENOMEM, "out of memory");
	im->seen[im->nseen++].where = pos;
	im->count++;
	return 0;
}

static int
elem_cb(void *arg, size_t i, const char *elem, size_t len)
{
	return import_one(arg, i + 1, elem, len);
}

static int
seen_cmp(const void *a, const void *b)
{
	const struct seen *x = a, *y = b;
	int c = strcmp(x->id, y->id);

	return c ? c : (x->where > y->where) - (x->where < y->where);
}

/* With --upsert the database accepts a repeated _id: the file must not repeat one. */
static int
check_repeats(struct import *im)
{
	qsort(im->seen, im->nseen, sizeof(*im->seen), seen_cmp);
	for (size_t i = 1; i < im->nseen; i++)
		if (strcmp(im->seen[i].id, im->seen[i - 1].id) == 0) {
			snprintf(im->where, sizeof(im->where), "%s %zu",
			    im->array ? "element" : "line", im->seen[i].where);
			return gb_errf(im->err, GB_EEXIST, "duplicate _id '%s' (also at %s %zu)",
			    im->seen[i].id, im->array ? "element" : "line", im->seen[i - 1].where);
		}
	return 0;
}

static int
import_array(struct import *im, FILE *f, struct buf *b)
{
	char chunk[65536];
	size_t n;

	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (buf_append(b, chunk, n))
			return gb_errf(im->err, GB_ETOOBIG,
			    "a JSON array file is limited to %u bytes "
			    "(use JSON lines for more)", MAX_ARRAY_FILE);
	if (ferror(f))
		return gb_errf(im->err, GB_EIO, "read error: %s", strerror(errno));
	im->array = 1;
	return store_json_array_each(im->st, buf_str(b), b->len, elem_cb, im, im->err);
}

static int
import_lines(struct import *im, FILE *f, struct buf *b)
{
	size_t line = 0;
	int rc;

	for (;;) {
		const char *p;

		rc = buf_getline(b, f);
		line++;
		if (rc == 0)
			return 0;
		if (rc == GB_ETOOBIG) {
			snprintf(im->where, sizeof(im->where), "line %zu", line);
			return gb_errf(im->err, GB_ETOOBIG,
			    "document exceeds the limit of %u bytes", STORE_MAX_DOC);
		}
		if (rc < 0) {
			snprintf(im->where, sizeof(im->where), "line %zu", line);
			return gb_errf(im->err, GB_EIO, "read error: %s", strerror(errno));
		}
		for (p = buf_str(b); *p && isspace((unsigned char)*p); p++)
			;
		if (*p == '\0' && (size_t)(p - buf_str(b)) == b->len)
			continue;	/* blank line */
		if ((rc = import_one(im, line, buf_str(b), b->len)))
			return rc;
	}
}

static int
cmd_import(const struct config *cfg, int argc, char **argv)
{
	static const struct option longs[] = { { "upsert", no_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 } };
	struct gb_err err = { 0, "" };
	struct import im;
	struct buf b;
	const char *path;
	FILE *f;
	int ch, c, rc, first;

	memset(&im, 0, sizeof(im));
	im.mode = STORE_INSERT;
	im.err = &err;
	optind = 0;
	while ((ch = next_opt(argc, argv, longs, "import")) != -1) {
		if (ch != 'u')
			return 1;
		im.mode = STORE_UPSERT;
	}
	if (argc - optind > 2)
		return cli_extra_arg("import", argv[optind + 2],
		    "expected COLLECTION and FILE (or - for standard input)");
	if (argc - optind != 2)
		return bad_args("import", "expected COLLECTION and FILE (or - for standard input)");
	if ((c = coll_from_name(argv[optind])) < 0)
		return cli_bad_coll("import", argv[optind]);
	im.coll = (enum coll)c;
	path = argv[optind + 1];
	if (strcmp(path, "-") == 0) {
		f = stdin;
	} else if ((f = fopen(path, "rb")) == NULL) {
		return cli_fail("import", "cannot open '%s': %s", path, strerror(errno));
	}
	if ((rc = open_store(cfg, 1, &im.st, &err))) {
		if (f != stdin)
			fclose(f);
		return cli_fail("import", "%s", err.msg);
	}
	while ((first = getc(f)) != EOF && isspace(first))
		;
	if (first != EOF)
		ungetc(first, f);
	buf_init(&b, first == '[' ? MAX_ARRAY_FILE : STORE_MAX_DOC);
	if ((rc = store_begin(im.st, &err)) == 0) {
		if (first == '[')
			rc = import_array(&im, f, &b);
		else
			rc = import_lines(&im, f, &b);
		if (rc == 0 && im.mode == STORE_UPSERT)
			rc = check_repeats(&im);
		if (rc == 0)
			rc = store_commit(im.st, &err);
		else
			store_rollback(im.st);
	}
	buf_release(&b);
	if (f != stdin)
		fclose(f);
	for (size_t i = 0; i < im.nseen; i++)
		free(im.seen[i].id);
	free(im.seen);
	store_close(im.st);
	if (rc) {
		if (im.where[0])
			return cli_fail("import", "%s: %s (nothing imported)", im.where, err.msg);
		return cli_fail("import", "%s (nothing imported)", err.msg);
	}
	printf("imported %zu document%s into %s\n", im.count, im.count == 1 ? "" : "s",
	    coll_name(im.coll));
	return 0;
}

/* ---- export ---- */

static int
print_doc(void *arg, const char *doc, size_t len)
{
	(void)arg;
	if (fwrite(doc, 1, len, stdout) != len || putchar('\n') == EOF)
		return GB_EIO;
	return 0;
}

static int
cmd_export(const struct config *cfg, int argc, char **argv)
{
	static const struct option longs[] = {
		{ "filter", required_argument, NULL, 'f' },
		{ "ext-json", no_argument, NULL, 'x' },
		{ NULL, 0, NULL, 0 },
	};
	struct gb_err err = { 0, "" };
	const char *filter = NULL;
	struct store *st;
	int ch, c, ext = 0, rc;

	optind = 0;
	while ((ch = next_opt(argc, argv, longs, "export")) != -1) {
		if (ch == 'f')
			filter = optarg;
		else if (ch == 'x')
			ext = 1;
		else
			return 1;
	}
	if (argc - optind > 1)
		return cli_extra_arg("export", argv[optind + 1], "expected one COLLECTION");
	if (argc - optind != 1)
		return bad_args("export", "expected COLLECTION");
	if ((c = coll_from_name(argv[optind])) < 0)
		return cli_bad_coll("export", argv[optind]);
	if ((rc = open_store(cfg, 0, &st, &err)))
		return cli_fail("export", "%s", err.msg);
	rc = store_each(st, (enum coll)c, filter, ext, print_doc, NULL, &err);
	store_close(st);
	if (rc == GB_EIO && err.code == 0)
		return cli_fail("export", "cannot write the output: %s", strerror(errno));
	if (rc)
		return cli_fail("export", "%s", err.msg);
	if (fflush(stdout) == EOF)
		return cli_fail("export", "cannot write the output: %s", strerror(errno));
	return 0;
}

/* ---- demo, stats ---- */

static int
cmd_demo(const struct config *cfg, int argc, char **argv)
{
	struct gb_err err = { 0, "" };
	struct store *st;
	int rc, n = 0;

	if (argc > 1)
		return cli_extra_arg("demo", argv[1], "demo takes no arguments");
	if ((rc = open_store(cfg, 1, &st, &err)))
		return cli_fail("demo", "%s", err.msg);
	if ((rc = store_begin(st, &err)) == 0) {
		for (const struct demo_doc *d = demo_docs; d->collection; d++) {
			char id[STORE_ID_MAX];
			int c = coll_from_name(d->collection);

			if (c < 0) {
				rc = gb_errf(&err, GB_EINVAL, "demo file '%s': unknown collection",
				    d->name);
				break;
			}
			if ((rc = store_put(st, (enum coll)c, d->json, strlen(d->json),
			    STORE_UPSERT, id, &err)))
				break;
			printf("loaded %-13s %s\n", d->collection, id);
			n++;
		}
		if (rc == 0)
			rc = store_commit(st, &err);
		else
			store_rollback(st);
	}
	store_close(st);
	if (rc)
		return cli_fail("demo", "%s", err.msg);
	printf("loaded %d example document%s of the schema into %s\n", n, n == 1 ? "" : "s",
	    cfg->db_path);
	return 0;
}

static int
cmd_stats(const struct config *cfg, int argc, char **argv)
{
	int64_t counts[CTX_STATUS_COUNT], n;
	struct gb_err err = { 0, "" };
	struct store *st;
	int rc = 0;

	if (argc > 1)
		return cli_extra_arg("stats", argv[1], "stats takes no arguments");
	if ((rc = open_store(cfg, 0, &st, &err)))
		return cli_fail("stats", "%s", err.msg);
	printf("%-16s %10s\n", "collection", "documents");
	for (int c = 0; c < COLL_COUNT && rc == 0; c++)
		if ((rc = store_count(st, (enum coll)c, &n, &err)) == 0)
			printf("%-16s %10lld\n", coll_name((enum coll)c), (long long)n);
	if (rc == 0 && (rc = store_ctx_status_counts(st, counts, &err)) == 0) {
		printf("\n%-16s %10s\n", "context status", "contexts");
		for (int s = 0; s < CTX_STATUS_COUNT; s++)
			printf("%-16s %10lld\n", ctx_status_name((enum ctx_status)s),
			    (long long)counts[s]);
	}
	store_close(st);
	return rc ? cli_fail("stats", "%s", err.msg) : 0;
}

const struct cli_command cli_commands[] = {
	{ "init", cmd_init, "create the database and its schema",
	  "init\n\n"
	  "Create the database file (--db) when missing and bring its schema up to date.\n" },
	{ "migrate", cmd_migrate, "bring the database schema (or its documents) up to date",
	  "migrate [--status]\n"
	  "       genbox migrate docs [--name NAME] [--batch-size N] [--dry-run] [--status]\n\n"
	  "Run pending schema migrations, each in its own transaction, after a backup of\n"
	  "the database ([backup] to and keep; no backup, no migration).\n"
	  "  --status   list the migrations and which are applied; change nothing\n"
	  "docs: run the document migrations (all in order, or --name NAME) in batches,\n"
	  "each committed with a checkpoint: run it again to resume a killed run.\n"
	  "  --batch-size N  documents per transaction (default 500)\n"
	  "  --dry-run       count the documents that would be migrated; change nothing\n"
	  "  --status        each document migration, its checkpoint and what is left\n"
	  "Exit status 0 done, 1 a failure, 2 a usage error.\n" },
	{ "import", cmd_import, "load documents from a file",
	  "import [--upsert] COLLECTION FILE|-\n\n"
	  "Load a JSON array, JSON lines, or mongoexport Extended JSON lines into\n"
	  "COLLECTION, all or nothing: the first bad document imports nothing and is\n"
	  "named by line (or array element) and field; exit status 1.\n"
	  "  --upsert   replace documents whose _id exists "
	  "(a file repeating an _id is still an error)\n" },
	{ "export", cmd_export, "print documents as JSON lines",
	  "export [--filter JSON] [--ext-json] COLLECTION\n\n"
	  "Print COLLECTION's documents as JSON lines in _id order.\n"
	  "  --filter JSON  MongoDB-style filter on dotted fields: values, or $eq $ne $gt $gte\n"
	  "                 $lt $lte $in $nin $exists; e.g. '{\"status\":\"pending\"}'\n"
	  "  --ext-json     dates as Extended JSON {\"$date\": ...}, as mongoimport reads them\n" },
	{ "demo", cmd_demo, "load the schema's example documents",
	  "demo\n\nLoad (or reload) the schema's example documents and the components its\n"
	  "example pipeline names, so that the example pipeline can run.\n" },
	{ "stats", cmd_stats, "documents per collection, contexts per status",
	  "stats\n\n"
	  "Print the number of documents in each collection and of contexts in each status.\n" },
	{ "run-batch", cmd_run_batch, "run a file of contexts to completion, offline",
	  "run-batch --pipeline ID --input FILE.jsonl [--org ORG] [--user USER] [--out DIR] "
	  "[--workers N]\n"
	  "       genbox run-batch --resume BATCH_ID [--out DIR] [--workers N]\n\n"
	  "Create a batch of the file's contexts (JSON lines) and run it to completion with no\n"
	  "server: a progress bar on a terminal, periodic lines otherwise, and a summary.\n"
	  "A line needs data.title and may not set the engine's fields (status, processing,\n"
	  "pipeline, ...); the organization's max_batch_size and max_contexts_per_day apply.\n"
	  "Exit status 0 when all completed, 2 when some failed, 1 on bad input or any error,\n"
	  "130 after Ctrl-C and 143 after SIGTERM (running contexts finish, then --resume\n"
	  "continues).\n"
	  "  --pipeline ID   the pipeline document the batch runs\n"
	  "  --org ORG       the organization (default: [box] organization, else the pipeline's)\n"
	  "  --user USER     user_id of the contexts and created_by of the batch\n"
	  "  --out DIR       write each completed context's formatted content to DIR/<_id>.md\n"
	  "  --workers N     worker threads (default: [workers] count)\n"
	  "  --trace FILE    append a line per component run and end to FILE\n" },
	{ "serve", cmd_serve, "run the daemon: the worker pool and the HTTP API",
	  "serve [--listen ADDR:PORT] [--workers N]\n\n"
	  "Run the worker pool without end and the HTTP API (/api/v1, /healthz, /metrics)\n"
	  "in one process until SIGTERM or SIGINT: then the API stops accepting, running\n"
	  "contexts get [workers] grace_ms to end, the rest go back to the queue; exit 0.\n"
	  "Tells systemd READY=1 once serving and pets its watchdog. Takes backups and runs\n"
	  "optimize and quick_check on the [backup] and [upkeep] schedules; a database found\n"
	  "corrupt at start is left untouched: exit status 3 (see genbox restore-backup).\n"
	  "  --listen ADDR:PORT  where to listen (default: [web] listen, 127.0.0.1:8080)\n"
	  "  --workers N         worker threads (default: [workers] count)\n" },
	{ "apikey", cmd_apikey, "create, list and revoke API keys",
	  "apikey create --user USER_ID [--perm read|read,write] [--name NAME]\n"
	  "       genbox apikey list [--user USER_ID]\n"
	  "       genbox apikey revoke KEY_ID\n\n"
	  "create prints the new key's token (KEY_ID.SECRET) once on stdout; only a hash\n"
	  "of the secret is kept. --perm defaults to read.\n" },
	{ "sync", cmd_sync, "sync with the MongoDB/Redis cluster, or show how it goes",
	  "sync once | push | pull | status [--json] | reset COLLECTION\n"
	  "       genbox sync disable --yes\n\n"
	  "Sync with the cluster of [cluster] mongo_uri (GENBOX_CLUSTER_MONGO_URI).\n"
	  "  push     send the outbox (local changes) until it is empty\n"
	  "  pull     read the cluster's changes of every collection since its checkpoint\n"
	  "  once     push, then pull (then take pending contexts when take_cluster_work)\n"
	  "  status   per collection: checkpoint, pushed, pulled, last push and pull,\n"
	  "           outbox depth and the age of its oldest row, conflicts, rejected,\n"
	  "           the last error; then the rejected documents. --json: as JSON\n"
	  "  reset COLLECTION  forget the pull checkpoint: the next pull reads all of it\n"
	  "  disable --yes     for a box taken off its cluster: turn outbox recording off\n"
	  "                    and drop the changes waiting in it (never sent)\n"
	  "Exit status 0 done, 1 a failure (the cluster unreachable, bad credentials, no\n"
	  "cluster configured), 2 a usage error. status, reset and disable need no cluster.\n" },
	{ "backup", cmd_backup, "take a verified backup of the database, even while it serves",
	  "backup [--to dir:PATH|s3://bucket/prefix]\n\n"
	  "Copy the database with SQLite's online backup API (serve and run-batch go on),\n"
	  "check the copy (integrity_check), gzip it and put genbox-<time>.db.gz and its\n"
	  "genbox-<time>.manifest.json (schema version, documents per collection, size,\n"
	  "SHA-256) to the target, each read back and verified; then only the newest\n"
	  "[backup] keep stay there.\n"
	  "  --to TARGET  where to (default: [backup] to, else dir:<database folder>/backups)\n"
	  "Exit status 0 done, 1 a failure, 2 a usage error.\n" },
	{ "restore-backup", cmd_restore_backup, "put a backup back in place of the database",
	  "restore-backup SOURCE [NAME] [--db PATH]\n\n"
	  "SOURCE: a backup's .manifest.json or .db.gz file, or a target (dir:PATH or\n"
	  "s3://bucket/prefix) and the NAME of a backup there (genbox-<time>, or latest,\n"
	  "the default). Refused while any genbox command (serve, run-batch, import, ...)\n"
	  "has the database open. The backup's size and SHA-256 are checked against its\n"
	  "manifest and the decompressed database must pass integrity_check before\n"
	  "anything changes; then it replaces the database in one rename. The old file is\n"
	  "kept as <db>.before-restore until the restored one opens. A restore cut short\n"
	  "leaves the old or the new database.\n"
	  "  --db PATH  the database to replace (default: [storage] path)\n"
	  "Exit status 0 done, 1 refused or failed (nothing changed), 2 a usage error.\n" },
	{ "archive", cmd_archive, "archive contexts and batches past retention, then delete them",
	  "archive [--dry-run] [--before DATE]\n\n"
	  "Write the contexts and batches past [retention] (terminal, created before the cutoff\n"
	  "day, and, with sync on, held by the cluster) to the [retention] archive target\n"
	  "(dir:PATH or s3://bucket/prefix; default dir:<database folder>/archive) as gzip JSON\n"
	  "lines per collection and day with a manifest, read each back, then delete them\n"
	  "locally in small transactions. Templates, components and pipelines never go.\n"
	  "  --dry-run      count what would be archived; write and delete nothing\n"
	  "  --before DATE  archive what was created before DATE (YYYY-MM-DD) instead of\n"
	  "                 [retention] retention_days ago\n"
	  "Exit status 0 done, 1 a failure (nothing unverified deleted), 2 a usage error.\n" },
	{ "restore", cmd_restore, "bring archived contexts and batches back",
	  "restore --from dir:PATH|s3://bucket/prefix [--after DATE] [--before DATE]\n\n"
	  "Read the archive's manifests, check each object's size and SHA-256, and upsert its\n"
	  "documents by _id (one transaction per object). S3 settings from [s3].\n"
	  "  --after DATE   only days after DATE (YYYY-MM-DD)\n"
	  "  --before DATE  only days before DATE\n"
	  "Exit status 0 done, 1 a failure, 2 a usage error.\n" },
	{ NULL, NULL, NULL, NULL },
};
