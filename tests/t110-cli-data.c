/*
 * t110-cli-data - the genbox binary as a user runs it: import and export of
 * every example document of the schema (JSON, JSON array and Extended JSON),
 * bad inputs that must leave the database unchanged, settings from file,
 * environment and flags, migrate, demo and stats.
 */
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "../storage/store.h"
#include "tap.h"
#include "util.h"

static char db[4096];

static char *
tmp_path(const char *name)
{
	static char out[8][4096];
	static int k;

	k = (k + 1) % 8;
	snprintf(out[k], sizeof(out[k]), "%s/%s", util_tmpdir(), name);
	return out[k];
}

/* "2023-06-10T14:30:00Z" -> "2023-06-10T14:30:00.000Z" in every string of the tree */
static void
canonical_dates(cJSON *node)
{
	for (cJSON *c = node->child; c; c = c->next) {
		if (cJSON_IsString(c)) {
			const char *s = c->valuestring;

			if (strlen(s) == 20 && s[4] == '-' && s[10] == 'T' && s[19] == 'Z' && isdigit((unsigned char)s[0])) {
				char out[32];

				snprintf(out, sizeof(out), "%.19s.000Z", s);
				cJSON_SetValuestring(c, out);
			}
		} else {
			canonical_dates(c);
		}
	}
}

static int
is_date(const char *s)
{
	return strlen(s) == 24 && s[4] == '-' && s[10] == 'T' && s[23] == 'Z';
}

/* Extended JSON as mongoexport writes it: $date for dates, $numberInt/$numberLong for integers */
static void
to_extjson(cJSON *node, int canonical_dates_only)
{
	for (cJSON *c = node->child; c; c = c->next) {
		cJSON *w = NULL;

		if (cJSON_IsString(c) && (canonical_dates_only ? is_date(c->valuestring) :
		    strlen(c->valuestring) == 20 && c->valuestring[10] == 'T')) {
			w = cJSON_CreateObject();
			cJSON_AddStringToObject(w, "$date", c->valuestring);
		} else if (!canonical_dates_only && cJSON_IsNumber(c) && c->valuedouble == (double)(long long)c->valuedouble) {
			char n[32];

			snprintf(n, sizeof(n), "%lld", (long long)c->valuedouble);
			w = cJSON_CreateObject();
			cJSON_AddStringToObject(w, c->valuedouble > 2147483647.0 ? "$numberLong" : "$numberInt", n);
		} else if (cJSON_IsObject(c) || cJSON_IsArray(c)) {
			to_extjson(c, canonical_dates_only);
		}
		if (w) {
			cJSON *next = c->next;

			if (c->string)
				w->string = strdup(c->string);
			cJSON_ReplaceItemViaPointer(node, c, w);
			c = w;
			(void)next;
		}
	}
}

static char *
export_all(const char *dbpath)
{
	static const char *const colls[] = {
		"contexts", "templates", "components", "pipelines", "batches", "users", "organizations",
	};
	size_t cap = 1 << 16, len = 0;
	char *all = malloc(cap);
	struct run r;

	all[0] = '\0';
	for (size_t i = 0; i < 7; i++) {
		char arg[4200];

		snprintf(arg, sizeof(arg), "--db=%s", dbpath);
		util_genbox_run(&r, NULL, arg, "export", colls[i], NULL);
		if (len + strlen(r.out) + 64 > cap)
			all = realloc(all, cap = (len + strlen(r.out) + 64) * 2);
		len += (size_t)sprintf(all + len, "== %s (%d)\n%s", colls[i], r.status, r.out);
		run_free(&r);
	}
	return all;
}

static void
test_examples(void)
{
	char dir[4096], file[4600];
	struct dirent **names;
	int n;

	util_src("appliance/demo", dir, sizeof(dir));
	n = scandir(dir, &names, NULL, alphasort);
	if (n < 0)
		tap_bail("cannot list %s", dir);
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name, *coll;
		char *text, *line, *arr, *ext, *want_ext, dbarg[4200];
		cJSON *tree, *want;
		struct run r;

		if (strstr(name, ".json") == NULL) {
			free(names[i]);
			continue;
		}
		coll = strchr(name, '-') + 1;
		snprintf(file, sizeof(file), "%s/%s", dir, name);
		text = util_read_file(file, NULL);
		tree = cJSON_Parse(text);
		if (tree == NULL)
			tap_bail("%s is not JSON", file);
		want = cJSON_Duplicate(tree, 1);
		canonical_dates(want);

		char collname[64];
		snprintf(collname, sizeof(collname), "%.*s", (int)(strlen(coll) - 5), coll);

		/* JSON lines */
		snprintf(db, sizeof(db), "%s", tmp_path("ex.db"));
		unlink(db);
		snprintf(dbarg, sizeof(dbarg), "--db=%s", db);
		line = cJSON_PrintUnformatted(tree);
		util_genbox_run(&r, line, dbarg, "import", collname, "-", NULL);
		is_int(r.status, 0, "%s: import as JSON lines", name);
		like(r.out, "imported 1 document into", "%s: says what it imported", name);
		run_free(&r);
		util_genbox_run(&r, NULL, dbarg, "export", collname, NULL);
		{
			char *want_text = cJSON_PrintUnformatted(want);

			ok(util_json_equal(r.out, want_text), "%s: export equals the input with canonical dates", name);
			if (!util_json_equal(r.out, want_text))
				tap_diag("got  %s\nwant %s", r.out, want_text);
			free(want_text);
		}
		run_free(&r);

		/* a pretty JSON array, from a file */
		unlink(db);
		arr = malloc(strlen(text) + 8);
		sprintf(arr, "[\n%s\n]\n", text);
		util_write_file(tmp_path("in.json"), arr, strlen(arr));
		util_genbox_run(&r, NULL, dbarg, "import", collname, tmp_path("in.json"), NULL);
		is_int(r.status, 0, "%s: import as a JSON array", name);
		run_free(&r);
		util_genbox_run(&r, NULL, dbarg, "export", collname, NULL);
		{
			char *want_text = cJSON_PrintUnformatted(want);

			ok(util_json_equal(r.out, want_text), "%s: array import exports the same", name);
			free(want_text);
		}
		run_free(&r);

		/* Extended JSON lines in, Extended JSON out */
		unlink(db);
		to_extjson(tree, 0);
		ext = cJSON_PrintUnformatted(tree);
		util_genbox_run(&r, ext, dbarg, "import", collname, "-", NULL);
		is_int(r.status, 0, "%s: import as Extended JSON", name);
		run_free(&r);
		util_genbox_run(&r, NULL, dbarg, "export", collname, NULL);
		{
			char *want_text = cJSON_PrintUnformatted(want);

			ok(util_json_equal(r.out, want_text), "%s: Extended JSON import exports plain JSON equal to the input",
			    name);
			free(want_text);
		}
		run_free(&r);
		to_extjson(want, 1);
		want_ext = cJSON_PrintUnformatted(want);
		util_genbox_run(&r, NULL, dbarg, "export", "--ext-json", collname, NULL);
		ok(util_json_equal(r.out, want_ext), "%s: --ext-json export has $date at every date", name);
		if (!util_json_equal(r.out, want_ext))
			tap_diag("got  %s\nwant %s", r.out, want_ext);
		run_free(&r);

		free(want_ext);
		free(ext);
		free(arr);
		free(line);
		free(text);
		cJSON_Delete(tree);
		cJSON_Delete(want);
		free(names[i]);
	}
	free(names);
}

/* Run an import that must fail: exit 1, the message, and an unchanged database. */
static void
import_fails(const char *name, const char *coll, const char *input, size_t len, const char *extra_arg,
    const char *want)
{
	char dbarg[4200], *before, *after, *in = tmp_path("bad.in");
	char *argv[] = { (char *)util_genbox(), dbarg, "import", (char *)coll, in, (char *)extra_arg, NULL };
	struct run r;

	snprintf(dbarg, sizeof(dbarg), "--db=%s", db);
	util_write_file(in, input, len);
	before = export_all(db);
	util_run(&r, NULL, 0, argv);
	is_int(r.status, 1, "%s: exit status 1", name);
	like(r.err, want, "%s: the message", name);
	like(r.err, "nothing imported", "%s: says nothing was imported", name);
	after = export_all(db);
	is_str(after, before, "%s: the database is unchanged", name);
	free(before);
	free(after);
	run_free(&r);
}

static void
test_bad_imports(void)
{
	char dbarg[4200];
	struct run r;

	snprintf(db, sizeof(db), "%s", tmp_path("bad.db"));
	snprintf(dbarg, sizeof(dbarg), "--db=%s", db);
	util_genbox_run(&r, NULL, dbarg, "demo", NULL);
	is_int(r.status, 0, "demo data as the starting point");
	run_free(&r);

#define GOOD "{\"_id\":\"ctx_good\",\"organization_id\":\"org_123\"}\n"
	import_fails("truncated JSON", "contexts", GOOD "{\"_id\":\"ctx_t\",\"organization_id\":\"org_1",
	    strlen(GOOD) + 36, NULL, "line 2: invalid JSON at byte");
	{
		const char *t = GOOD "{\"organization_id\":\"org_123\",\"metadata\":{\"priority\":\"high\"}}\n";

		import_fails("wrong type", "contexts", t, strlen(t), NULL,
		    "line 2: field 'metadata.priority': expected an integer, got string");
	}
	{
		const char *t = GOOD "\n{\"status\":\"pending\"}\n";

		import_fails("missing required field", "contexts", t, strlen(t), NULL,
		    "line 3: field 'organization_id': is required");
	}
	{
		const char *t = "{\"_id\":\"ctx_dup\",\"organization_id\":\"o\"}\n" GOOD
		    "{\"_id\":\"ctx_dup\",\"organization_id\":\"o\"}\n";

		import_fails("duplicate _id in one file", "contexts", t, strlen(t), NULL,
		    "line 3: duplicate _id 'ctx_dup' in contexts");
		import_fails("duplicate _id in one file with --upsert", "contexts", t, strlen(t), "--upsert",
		    "line 3: duplicate _id 'ctx_dup' (also at line 1)");
	}
	{
		const char *t = "{\"_id\":\"ctx_123456\",\"organization_id\":\"o\"}\n";

		import_fails("an _id that exists", "contexts", t, strlen(t), NULL,
		    "line 1: duplicate _id 'ctx_123456' in contexts");
	}
	{
		size_t big = 17u * 1024 * 1024, head = strlen(GOOD);
		char *t = malloc(head + big + 64);
		size_t n;

		memcpy(t, GOOD, head);
		n = head + (size_t)sprintf(t + head, "{\"organization_id\":\"o\",\"pad\":\"");
		memset(t + n, 'x', big);
		n += big;
		n += (size_t)sprintf(t + n, "\"}\n");
		import_fails("a 17 MiB document", "contexts", t, n, NULL,
		    "line 2: document exceeds the limit of 16777216 bytes");
		free(t);
	}
	{
		const char *t = GOOD "{\"organization_id\":\"o\",\"data\":{\"title\":\"caf\xe9\"}}\n";

		import_fails("invalid UTF-8", "contexts", t, strlen(t), NULL, "line 2: document is not valid UTF-8");
	}
	{
		const char *t = "[{\"_id\":\"ctx_a1\",\"organization_id\":\"o\"},\n {\"_id\":\"ctx_a2\",\"retry_count\":\"x\","
		    "\"organization_id\":\"o\"}]";

		import_fails("a bad element of an array", "contexts", t, strlen(t), NULL,
		    "element 2: field 'retry_count': expected an integer, got string");
	}
	{
		const char *t = "[{\"_id\":\"ctx_a1\",\"organization_id\":\"o\"},\n {\"_id\":";

		import_fails("a truncated array", "contexts", t, strlen(t), NULL, "invalid JSON at line 2");
	}
	{
		char *argv[] = { (char *)util_genbox(), dbarg, "import", "widgets", "-", NULL };

		util_run(&r, GOOD, strlen(GOOD), argv);
		is_int(r.status, 1, "an unknown collection: exit 1");
		like(r.err, "unknown collection (contexts, templates,", "and the message lists the collections");
		run_free(&r);
	}
	{
		char *argv[] = { (char *)util_genbox(), dbarg, "import", "contexts", "/nonexistent/file.json", NULL };

		util_run(&r, NULL, 0, argv);
		is_int(r.status, 1, "a missing input file: exit 1");
		like(r.err, "cannot open '/nonexistent/file.json': No such file or directory", "and says why");
		run_free(&r);
	}
}

/*
 * Input that the parsed tree would hide or store wrong: NUL bytes around the
 * JSON, names twice, \u0000, dates out of range, numbers no JSON holds.
 * Each refused naming the line (or element) and field; nothing imported.
 */
static void
test_hostile_imports(void)
{
	static const struct {
		const char *name, *coll, *text;
		size_t len;		/* 0: strlen(text) */
		const char *want;
	} bad[] = {
		{ "an array with a NUL byte after it", "contexts",
		  "[{\"_id\":\"ctx_n1\",\"organization_id\":\"o\"}]\0junk", 45, "a NUL byte at line 1" },
		{ "an array with text after it", "contexts",
		  "[{\"_id\":\"ctx_n1\",\"organization_id\":\"o\"}]\n]x", 0,
		  "unexpected text after the array at line 2" },
		{ "a line starting with a NUL byte", "contexts", GOOD "\0{\"organization_id\":\"o\"}\n",
		  sizeof(GOOD) + 24, "line 2: document contains a NUL byte" },
		{ "a line with a NUL byte after its JSON", "contexts", GOOD "{\"organization_id\":\"o\"}\0junk\n",
		  sizeof(GOOD) + 28, "line 2: document contains a NUL byte" },
		{ "a date before year 0001 in UTC", "contexts",
		  GOOD "{\"organization_id\":\"o\",\"created_at\":\"0001-01-01T00:00:00+01:00\"}\n", 0,
		  "line 2: field 'created_at': '0001-01-01T00:00:00+01:00' falls outside the years 0001-9999" },
		{ "a date after year 9999 in UTC", "batches",
		  "{\"organization_id\":\"o\",\"updated_at\":\"9999-12-31T23:59:59-01:00\"}\n", 0,
		  "line 1: field 'updated_at': '9999-12-31T23:59:59-01:00' falls outside the years 0001-9999" },
		{ "a name twice, one escaped", "contexts",
		  GOOD "{\"organization_id\":\"o\",\"data\":{\"\\u00e9\":1,\"\xc3\xa9\":2}}\n", 0,
		  "line 2: field 'data.\xc3\xa9' appears twice" },
		{ "created_at escaped beside created_at", "contexts",
		  GOOD "{\"organization_id\":\"o\",\"cre\\u0061ted_at\":\"2023-01-01T00:00:00Z\","
		  "\"created_at\":\"2023-01-01T00:00:00Z\"}\n", 0, "line 2: field 'created_at' appears twice" },
		{ "created_at twice, a number last", "contexts",
		  GOOD "{\"organization_id\":\"o\",\"created_at\":\"2023-01-01T00:00:00Z\",\"created_at\":7}\n",
		  0, "line 2: field 'created_at' appears twice" },
		{ "a name twice deep in an array", "contexts",
		  "[{\"organization_id\":\"o\",\"data\":{\"l\":[{\"a\":{\"b\":1,\"b\":2}}]}}]", 0,
		  "element 1: field 'data.l[0].a.b' appears twice" },
		{ "an _id holding \\u0000", "contexts",
		  GOOD "{\"_id\":\"z\\u0000w\",\"organization_id\":\"o\"}\n", 0,
		  "line 2: field '_id': holds a NUL character (\\u0000)" },
		{ "a title holding \\u0000", "contexts",
		  GOOD "{\"organization_id\":\"o\",\"data\":{\"title\":\"a\\u0000b\"}}\n", 0,
		  "line 2: field 'data.title': holds a NUL character" },
		{ "1e999 in a batch's counter", "batches", "{\"organization_id\":\"o\",\"completed_count\":1e999}\n",
		  0, "line 1: field 'completed_count': number out of range (not finite)" },
		{ "-1e999 in a batch's usage", "batches",
		  "{\"organization_id\":\"o\",\"usage\":{\"total_tokens\":-1e999}}\n", 0,
		  "line 1: field 'usage.total_tokens': number out of range (not finite)" },
		{ "1e999 in a field of its own", "contexts", GOOD "{\"organization_id\":\"o\",\"x\":1e999}\n", 0,
		  "line 2: field 'x': number out of range (not finite)" },
		{ "$numberDouble Infinity", "contexts",
		  GOOD "{\"organization_id\":\"o\",\"x\":{\"$numberDouble\":\"Infinity\"}}\n", 0,
		  "line 2: field 'x': $numberDouble 'Infinity' cannot be stored as JSON" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		import_fails(bad[i].name, bad[i].coll, bad[i].text,
		    bad[i].len ? bad[i].len : strlen(bad[i].text), NULL, bad[i].want);
}

static void
test_bad_databases(void)
{
	char dbarg[4200], *path;
	struct run r;

	/* a file that is not SQLite */
	path = tmp_path("notes.txt");
	util_write_file(path, "my notes\n", 9);
	snprintf(dbarg, sizeof(dbarg), "--db=%s", path);
	util_genbox_run(&r, GOOD, dbarg, "import", "contexts", "-", NULL);
	is_int(r.status, 1, "import into a file that is not SQLite: exit 1");
	like(r.err, "is not a genbox database (not an SQLite file)", "and says so");
	run_free(&r);
	{
		char *after = util_read_file(path, NULL);

		is_str(after, "my notes\n", "the file is untouched");
		free(after);
	}

	/* a database from a newer genbox */
	path = tmp_path("newer.db");
	snprintf(dbarg, sizeof(dbarg), "--db=%s", path);
	util_genbox_run(&r, NULL, dbarg, "init", NULL);
	run_free(&r);
	{
		sqlite3 *h;

		sqlite3_open(path, &h);
		sqlite3_exec(h, "PRAGMA user_version = 42", NULL, NULL, NULL);
		sqlite3_close(h);
	}
	util_genbox_run(&r, GOOD, dbarg, "import", "contexts", "-", NULL);
	is_int(r.status, 1, "import into a newer database: exit 1");
	{
		char want[128];

		snprintf(want, sizeof(want), "has schema version 42, newer than this genbox (version %d): upgrade "
		    "genbox", store_schema_latest());
		like(r.err, want, "and says so");
		run_free(&r);
		util_genbox_run(&r, NULL, dbarg, "migrate", "--status", NULL);
		snprintf(want, sizeof(want), "schema version 42 of %d (newer than this genbox)", store_schema_latest());
		like(r.out, want, "migrate --status shows it");
	}
	run_free(&r);

	/* a path where nothing can be written */
	util_genbox_run(&r, GOOD, "--db=/proc/genbox.db", "import", "contexts", "-", NULL);
	is_int(r.status, 1, "import into a read-only file system path: exit 1");
	like(r.err, "cannot open database '/proc/genbox.db'", "and says it cannot open it");
	run_free(&r);

	/* an existing database on a file system mounted read-only */
	{
		char cmd[32768], *dir = tmp_path("ro"), *before, *after, ropath[4100];
		int rc;

		snprintf(cmd, sizeof(cmd), "mkdir -p %s", dir);
		if (system(cmd) != 0)
			tap_bail("mkdir");
		snprintf(ropath, sizeof(ropath), "%s/ro.db", dir);
		snprintf(dbarg, sizeof(dbarg), "--db=%s", ropath);
		util_genbox_run(&r, NULL, dbarg, "demo", NULL);
		run_free(&r);
		before = export_all(ropath);
		util_write_file(tmp_path("good.jsonl"), GOOD, strlen(GOOD));
		/* a private read-only bind mount; where unshare cannot make one (a chroot), immutable files */
		snprintf(cmd, sizeof(cmd), "unshare -m sh -c 'mount --bind -o ro %s %s && %s --db=%s import contexts %s' "
		    "> %s 2>&1", dir, dir, util_genbox(), ropath, tmp_path("good.jsonl"), tmp_path("ro.out"));
		rc = system(cmd);
		after = util_read_file(tmp_path("ro.out"), NULL);
		if (after && (strncmp(after, "unshare:", 8) == 0 || strncmp(after, "mount:", 6) == 0)) {
			tap_diag("no private mount here (%s): using immutable files instead", after);
			free(after);
			snprintf(cmd, sizeof(cmd), "chattr +i %s %s* && { %s --db=%s import contexts %s > %s 2>&1; "
			    "r=$?; chattr -i %s %s*; exit $r; }", dir, ropath, util_genbox(), ropath,
			    tmp_path("good.jsonl"), tmp_path("ro.out"), dir, ropath);
			rc = system(cmd);
			after = util_read_file(tmp_path("ro.out"), NULL);
		}
		ok(WIFEXITED(rc) && WEXITSTATUS(rc) == 1, "import into a database the file system will not write: exit 1");
		like(after, "cannot open database", "and the message says it cannot open it");
		ok(after && (strstr(after, "(Read-only file system)") || strstr(after, "(Operation not permitted)")),
		    "and why: the file system refuses writes");
		free(after);
		after = export_all(ropath);
		is_str(after, before, "the database is unchanged");
		free(before);
		free(after);
	}
}

static void
test_settings(void)
{
	char conf[4200], cflag[4300], envdb[4200];
	struct run r;

	snprintf(conf, sizeof(conf), "%s", tmp_path("genbox.conf"));
	util_write_file(conf, "[storage]\npath = /tmp/x.db\n\ncolour = blue\n", 43);
	snprintf(cflag, sizeof(cflag), "-c%s", conf);
	util_genbox_run(&r, NULL, cflag, "stats", NULL);
	is_int(r.status, 1, "an unknown config key: exit 1");
	like(r.err, "genbox.conf:4: unknown key 'colour' in [storage]", "names the file, line and key");
	run_free(&r);

	util_write_file(conf, "[workers]\ncount = lots\n", 23);
	util_genbox_run(&r, NULL, cflag, "stats", NULL);
	like(r.err, "genbox.conf:2: bad value 'lots' for 'workers.count': expected an integer from 1 to 256",
	    "a bad value names the line and the range");
	run_free(&r);

	util_write_file(conf, "[storage\npath = x\n", 18);
	util_genbox_run(&r, NULL, cflag, "stats", NULL);
	like(r.err, "genbox.conf:1: syntax error", "a broken section header is a syntax error on its line");
	run_free(&r);

	util_genbox_run(&r, NULL, "-c/nonexistent.conf", "stats", NULL);
	like(r.err, "cannot read config '/nonexistent.conf'", "an explicit config file must exist");
	run_free(&r);

	/* file < environment < flag */
	{
		char *a = tmp_path("from-file.db"), *b = tmp_path("from-env.db"), *c = tmp_path("from-flag.db");
		char text[8192], dbflag[4200];

		snprintf(text, sizeof(text), "[storage]\npath = %s\n", a);
		util_write_file(conf, text, strlen(text));
		util_genbox_run(&r, NULL, cflag, "init", NULL);
		like(r.out, a, "the config file sets the database");
		run_free(&r);
		snprintf(envdb, sizeof(envdb), "%s", b);
		setenv("GENBOX_STORAGE_PATH", envdb, 1);
		util_genbox_run(&r, NULL, cflag, "init", NULL);
		like(r.out, b, "GENBOX_STORAGE_PATH overrides the file");
		run_free(&r);
		snprintf(dbflag, sizeof(dbflag), "--db=%s", c);
		util_genbox_run(&r, NULL, cflag, dbflag, "init", NULL);
		like(r.out, c, "--db overrides both");
		run_free(&r);
		setenv("GENBOX_WORKERS_COUNT", "0", 1);
		util_genbox_run(&r, NULL, cflag, "init", NULL);
		like(r.err, "environment GENBOX_WORKERS_COUNT: bad value '0' for 'workers.count'",
		    "a bad environment value names the variable");
		run_free(&r);
		unsetenv("GENBOX_WORKERS_COUNT");
		unsetenv("GENBOX_STORAGE_PATH");
	}
}

static void
test_commands(void)
{
	char dbarg[4200];
	struct run r;

	util_genbox_run(&r, NULL, "--version", NULL);
	like(r.out, "genbox 0.", "--version");
	run_free(&r);
	util_genbox_run(&r, NULL, "--help", NULL);
	ok(r.status == 0 && strstr(r.out, "usage: genbox") && strstr(r.out, "import"), "--help lists the commands");
	run_free(&r);
	util_genbox_run(&r, NULL, "import", "--help", NULL);
	ok(r.status == 0 && strstr(r.out, "usage: genbox import [--upsert] COLLECTION FILE|-"), "import --help");
	run_free(&r);
	util_genbox_run(&r, NULL, "frobnicate", NULL);
	ok(r.status == 1 && strstr(r.err, "unknown command 'frobnicate'"), "an unknown command: exit 1 and a message");
	run_free(&r);
	util_genbox_run(&r, NULL, "export", "--bogus", "contexts", NULL);
	ok(r.status == 1 && strstr(r.err, "unknown option '--bogus'"), "an unknown option: exit 1 and a message");
	run_free(&r);

	snprintf(db, sizeof(db), "%s", tmp_path("cmd.db"));
	snprintf(dbarg, sizeof(dbarg), "--db=%s", db);
	util_genbox_run(&r, NULL, dbarg, "stats", NULL);
	ok(r.status == 1 && strstr(r.err, "does not exist (run 'genbox init')"), "stats on a missing database");
	run_free(&r);
	{
		char want[64];

		util_genbox_run(&r, NULL, dbarg, "init", NULL);
		snprintf(want, sizeof(want), "schema version %d)", store_schema_latest());
		ok(r.status == 0 && strstr(r.out, want), "init creates it");
		run_free(&r);
		util_genbox_run(&r, NULL, dbarg, "migrate", "--status", NULL);
		snprintf(want, sizeof(want), "schema version %d of %d (up to date)", store_schema_latest(),
		    store_schema_latest());
		ok(r.status == 0 && strstr(r.out, want) && strstr(r.out, "applied"),
		    "migrate --status lists the applied migrations");
	}
	run_free(&r);
	util_genbox_run(&r, NULL, dbarg, "migrate", NULL);
	ok(r.status == 0 && strstr(r.out, "up to date"), "migrate on an up-to-date database");
	run_free(&r);
	util_genbox_run(&r, NULL, dbarg, "demo", NULL);
	ok(r.status == 0 && strstr(r.out, "loaded 9 example documents"), "demo loads the examples");
	like(r.out, "comp_template_article", "and the template component of the example pipeline");
	like(r.out, "comp_transformer_markdown", "and its transformer component");
	run_free(&r);
	util_genbox_run(&r, NULL, dbarg, "stats", NULL);
	like(r.out, "components                3", "stats counts documents per collection");
	like(r.out, "completed                 1", "and contexts per status");
	run_free(&r);
	util_genbox_run(&r, NULL, dbarg, "export", "contexts", "--filter", "{\"status\":\"completed\",\"metadata.priority\":{\"$gte\":5}}", NULL);
	like(r.out, "\"_id\":\"ctx_123456\"", "export --filter matches");
	run_free(&r);
	util_genbox_run(&r, NULL, dbarg, "export", "contexts", "--filter", "{\"status\":{\"$in\":[\"pending\",\"failed\"]}}", NULL);
	ok(r.status == 0 && r.out[0] == '\0', "export --filter with $in that matches nothing");
	run_free(&r);
	util_genbox_run(&r, NULL, dbarg, "export", "contexts", "--filter", "{\"status\":{\"$regex\":\"x\"}}", NULL);
	ok(r.status == 1 && strstr(r.err, "operator '$regex' is not supported"), "an unsupported filter operator");
	run_free(&r);
	util_genbox_run(&r, NULL, dbarg, "export", "contexts", "--filter", "{status", NULL);
	ok(r.status == 1 && strstr(r.err, "filter is not a JSON object"), "a filter that is not JSON");
	run_free(&r);
}

/* The sanitizers' options as they were before fault_preload. */
static char *fault_old_asan;

/*
 * Run the next genbox commands with fault-sqlite.so (built beside this test)
 * preloaded, its report going to report: what it counts and fails is set by
 * the caller's GENBOX_FAULT_* variables.
 */
static void
fault_preload(const char *report)
{
	char so[4096], asan[1024];
	const char *old = getenv("ASAN_OPTIONS");
	ssize_t n = readlink("/proc/self/exe", so, sizeof(so) - 32);

	if (n <= 0)
		tap_bail("cannot find this test's path");
	so[n] = '\0';
	snprintf(strrchr(so, '/'), 32, "/fault-sqlite.so");
	fault_old_asan = old ? strdup(old) : NULL;
	/* the library comes before the sanitizers' runtime, which then must not insist on being first */
	snprintf(asan, sizeof(asan), "%s%sverify_asan_link_order=0", old ? old : "", old ? ":" : "");
	setenv("ASAN_OPTIONS", asan, 1);
	setenv("GENBOX_FAULT_REPORT", report, 1);
	setenv("LD_PRELOAD", so, 1);
}

static void
fault_preload_end(void)
{
	unsetenv("LD_PRELOAD");
	unsetenv("GENBOX_FAULT_SQL");
	unsetenv("GENBOX_FAULT_SKIP");
	unsetenv("GENBOX_FAULT_THREAD");
	unsetenv("GENBOX_FAULT_REPORT");
	if (fault_old_asan)
		setenv("ASAN_OPTIONS", fault_old_asan, 1);
	else
		unsetenv("ASAN_OPTIONS");
	free(fault_old_asan);
	fault_old_asan = NULL;
}

/*
 * init whose reading of the schema version fails (injected by
 * fault-sqlite.so): an error, and every connection it opened is closed.
 */
static void
test_init_fault(void)
{
	char report[4200], dbflag[4200], *text;
	struct run r;

	snprintf(report, sizeof(report), "%s", tmp_path("fault.report"));
	snprintf(dbflag, sizeof(dbflag), "--db=%s", tmp_path("fault.db"));
	util_genbox_run(&r, NULL, dbflag, "init", NULL);
	run_free(&r);
	fault_preload(report);
	setenv("GENBOX_FAULT_SQL", "PRAGMA user_version", 1);
	for (int skip = 0; skip <= 1; skip++) {
		char s[8];

		snprintf(s, sizeof(s), "%d", skip);
		setenv("GENBOX_FAULT_SKIP", s, 1);
		unlink(report);
		util_genbox_run(&r, NULL, dbflag, "init", NULL);
		is_int(r.status, 1, "init whose %s read of the schema version fails: exit 1", skip ? "second" : "first");
		like(r.err, "genbox: init: cannot read database", "with a message");
		run_free(&r);
		text = util_read_file(report, NULL);
		is_str(text, "opened 1 closed 1\n", "and the connection it opened is closed");
		free(text);
	}
	fault_preload_end();
}

/*
 * run-batch whose pool cannot start one of its threads (the generator's
 * thread is the first, then the workers'): exit 1 naming the thread, and
 * every store the pool opened is closed again.
 */
static void
test_run_batch_thread_fault(void)
{
	static const char lines[] = "{\"data\":{\"title\":\"One\"}}\n{\"data\":{\"title\":\"Two\"}}\n";
	char report[4200], dbflag[4200], *text, *in = tmp_path("threads.jsonl");
	int opened = -1, closed = -2;
	struct run r;

	snprintf(report, sizeof(report), "%s", tmp_path("threads.report"));
	snprintf(dbflag, sizeof(dbflag), "--db=%s", tmp_path("threads.db"));
	util_write_file(in, lines, strlen(lines));
	util_genbox_run(&r, NULL, dbflag, "demo", NULL);
	run_free(&r);
	fault_preload(report);
	setenv("GENBOX_FAULT_THREAD", "3", 1);
	util_genbox_run(&r, NULL, dbflag, "run-batch", "--pipeline", "pipe_article_generation", "--input", in,
	    "--workers", "4", NULL);
	fault_preload_end();
	is_int(r.status, 1, "run-batch whose second worker thread cannot start: exit 1");
	like(r.err, "cannot start worker thread 1", "naming the thread");
	run_free(&r);
	text = util_read_file(report, NULL);
	ok(text && sscanf(text, "opened %d closed %d", &opened, &closed) == 2 && opened > 4,
	    "the workers' stores were opened (%s)", text ? text : "no report");
	is_int(closed, opened, "and every connection opened was closed");
	free(text);
}

int
main(void)
{
	test_commands();
	test_examples();
	test_bad_imports();
	test_hostile_imports();
	test_bad_databases();
	test_settings();
	test_init_fault();
	test_run_batch_thread_fault();
	return tap_done();
}
