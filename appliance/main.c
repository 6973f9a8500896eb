/*
 * main.c - the genbox binary: global options, settings, then one command.
 *
 *   genbox [--db PATH] [-c CONFIG] COMMAND [ARGS]
 *
 * The global options may also come after the command (genbox stats --db X),
 * except as the value of a command's option (apikey create --name -c) and
 * after "--".
 * Settings come from the config file, then GENBOX_* variables, then flags.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../base/log.h"
#include "../base/near.h"
#include "cli.h"
#include "config.h"

#ifndef GENBOX_VERSION
#define GENBOX_VERSION "dev"
#endif

static void
usage(FILE *out)
{
	int width = 0;

	fprintf(out,
	    "usage: genbox [--db PATH] [-c CONFIG] COMMAND [ARGS]\n"
	    "       genbox --version | --help | COMMAND --help\n"
	    "\n"
	    "genbox runs generative-content pipelines on a local SQLite mirror of the\n"
	    "service's collections.\n"
	    "\n"
	    "options (before or after the command):\n"
	    "  --db PATH      the database file (default: [storage] path, "
	    "/var/lib/genbox/genbox.db)\n"
	    "  -c CONFIG      the config file (default: " CONFIG_DEFAULT_PATH " when present)\n"
	    "  --version      print the version\n"
	    "  --help         print this help\n"
	    "\n"
	    "commands:\n");
	for (const struct cli_command *c = cli_commands; c->name; c++)
		if ((int)strlen(c->name) > width)
			width = (int)strlen(c->name);
	for (const struct cli_command *c = cli_commands; c->name; c++)
		fprintf(out, "  %-*s  %s\n", width, c->name, c->summary);
	fprintf(out,
	    "\nSettings: the config file, then GENBOX_<SECTION>_<KEY> variables, then flags.\n");
}

static const struct option main_opts[] = {
	{ "db", required_argument, NULL, 'd' },
	{ "config", required_argument, NULL, 'c' },
	{ "version", no_argument, NULL, 'V' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

struct globals {
	const char *db, *conf;
};

/*
 * The commands' options that take a value (apikey create --name NAME), by
 * name, whichever command has them: no name is a flag in one command and
 * takes a value in another. A new such option is added here (t115 checks
 * every one a command's --help names).
 */
static const char *const valued_opts[] = {
	"after", "batch-size", "before", "filter", "from", "input", "listen", "name", "org",
	"out", "perm", "pipeline", "resume", "to", "trace", "user", "workers", NULL,
};

/* a is a command's option whose value is the next word ("--name", or "--na" as getopt takes it) */
static int
takes_next(const char *a)
{
	size_t n;

	if (strncmp(a, "--", 2) != 0 || strchr(a, '=') || (n = strlen(a + 2)) == 0)
		return 0;
	for (int i = 0; valued_opts[i]; i++)
		if (strncmp(valued_opts[i], a + 2, n) == 0)
			return 1;
	return 0;
}

/*
 * The global options a command's arguments carry (genbox stats --db X):
 * taken out of argv, so that the command sees only its own. The word after
 * one of the command's options that takes a value is that value, never a
 * global option (apikey create --name -c); nothing is taken after "--". No
 * command has options of these names. Returns 0, or 1 after a message.
 */
static int
take_globals(struct globals *g, int *argc, char **argv)
{
	int n = 1, i;

	for (i = 1; i < *argc && strcmp(argv[i], "--") != 0; i++) {
		const char *a = argv[i], **to = NULL, *v = NULL;

		if (takes_next(a) && i + 1 < *argc) {
			argv[n++] = argv[i++];
			argv[n++] = argv[i];
			continue;
		}
		if (strcmp(a, "--db") == 0 || strncmp(a, "--db=", 5) == 0)
			to = &g->db;
		else if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0 ||
		    strncmp(a, "--config=", 9) == 0)
			to = &g->conf;
		if (to == NULL) {
			argv[n++] = argv[i];
			continue;
		}
		if ((v = strchr(a, '=')) != NULL)
			v++;
		else if (i + 1 < *argc)
			v = argv[++i];
		if (v == NULL) {
			fprintf(stderr, "genbox: option '%s' needs a value\nTry 'genbox --help'.\n",
			    a);
			return 1;
		}
		*to = v;
	}
	while (i < *argc)
		argv[n++] = argv[i++];
	argv[n] = NULL;
	*argc = n;
	return 0;
}

/*
 * stdout was written whole: the last check of every command. A command that
 * failed has said why (perhaps that it could not write).
 */
static int
output_done(const char *cmd, int rc)
{
	errno = 0;
	if ((fflush(stdout) == 0 && !ferror(stdout)) || rc != 0)
		return rc;
	fprintf(stderr, "genbox: %s: cannot write the output: %s\n", cmd,
	    strerror(errno ? errno : EIO));
	return 1;
}

/* The options before the command; *done set when they were all there was to do. */
static int
main_options(struct globals *g, int argc, char **argv, int *done)
{
	struct gb_err err = { 0, "" };
	int ch;

	*done = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:c:h", main_opts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			g->db = optarg;
			break;
		case 'c':
			g->conf = optarg;
			break;
		case 'V':
			printf("genbox %s\n", GENBOX_VERSION);
			return output_done("--version", 0);
		case 'h':
			usage(stdout);
			return output_done("--help", 0);
		default:
			cli_opt_error(ch, argv, main_opts, &err);
			fprintf(stderr, "genbox: %s\nTry 'genbox --help'.\n", err.msg);
			return 1;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 1;
	}
	*done = 0;
	return 0;
}

static void
env_warn(void *arg, const char *msg)
{
	(void)arg;
	fprintf(stderr, "genbox: warning: %s\n", msg);
}

static int
unknown_command(const char *name)
{
	struct gb_near near;

	gb_near_init(&near, name);
	for (const struct cli_command *c = cli_commands; c->name; c++)
		gb_near_add(&near, c->name);
	fprintf(stderr, "genbox: unknown command '%.64s'", name);
	if (gb_near_best(&near))
		fprintf(stderr, " (did you mean '%s'?)", gb_near_best(&near));
	fprintf(stderr, "\nTry 'genbox --help'.\n");
	return 1;
}

/*
 * libmongoc (linked for sync) sets up its counters as the program loads,
 * before main: a file /dev/shm/mongoc-PID that genbox never reads, left
 * behind when the process is killed; a later process given the same pid
 * then warns "Falling back to malloc for counters" before main runs. So
 * genbox removes its own file at once (the counters stay mapped) and those
 * of dead processes, and sets MONGOC_DISABLE_SHM (unless the operator did)
 * for whatever it starts.
 */
static void
mongoc_counters_off(void)
{
	struct dirent *e;
	char path[300];
	DIR *d;

	setenv("MONGOC_DISABLE_SHM", "1", 0);
	if ((d = opendir("/dev/shm")) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		char *end;
		long pid;

		if (strncmp(e->d_name, "mongoc-", 7) != 0)
			continue;
		errno = 0;
		pid = strtol(e->d_name + 7, &end, 10);
		if (errno || *end || end == e->d_name + 7 || pid <= 0 || pid > INT_MAX ||
		    (pid != (long)getpid() && (kill((pid_t)pid, 0) == 0 || errno != ESRCH)))
			continue;
		snprintf(path, sizeof(path), "/dev/shm/%s", e->d_name);
		unlink(path);
	}
	closedir(d);
}

int
main(int argc, char **argv)
{
	struct gb_err err = { 0, "" };
	struct globals g = { NULL, NULL };
	const struct cli_command *c;
	struct config cfg;
	int rc, done;

	mongoc_counters_off();
	if ((rc = main_options(&g, argc, argv, &done)) || done)
		return rc;
	argc -= optind;
	argv += optind;
	for (c = cli_commands; c->name && strcmp(c->name, argv[0]) != 0; c++)
		;
	if (c->name == NULL)
		return unknown_command(argv[0]);
	if (take_globals(&g, &argc, argv))
		return 1;
	config_defaults(&cfg);
	if (config_load_file(&cfg, g.conf ? g.conf : CONFIG_DEFAULT_PATH, g.conf != NULL, &err) ||
	    config_load_env(&cfg, &err) ||
	    (g.db && config_set(&cfg, "storage", "path", g.db, &err))) {
		fprintf(stderr, "genbox: %s\n", err.msg);
		return 1;
	}
	log_set_level(cfg.log_level);
	config_env_check(env_warn, NULL);
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("usage: genbox %s\n", c->usage);
			return output_done(c->name, 0);
		}
	return output_done(c->name, c->run(&cfg, argc, argv));
}
