/*
 * main.c - the genbox binary: global options, settings, then one command.
 *
 *   genbox [--db PATH] [-c CONFIG] COMMAND [ARGS]
 *
 * Settings come from the config file, then GENBOX_* variables, then flags.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/log.h"
#include "cli.h"
#include "config.h"

#ifndef GENBOX_VERSION
#define GENBOX_VERSION "dev"
#endif

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: genbox [--db PATH] [-c CONFIG] COMMAND [ARGS]\n"
	    "       genbox --version | --help | COMMAND --help\n"
	    "\n"
	    "genbox runs generative-content pipelines on a local SQLite mirror of the\n"
	    "service's collections.\n"
	    "\n"
	    "options:\n"
	    "  --db PATH      the database file (default: [storage] path, "
	    "/var/lib/genbox/genbox.db)\n"
	    "  -c CONFIG      the config file (default: " CONFIG_DEFAULT_PATH " when present)\n"
	    "  --version      print the version\n"
	    "  --help         print this help\n"
	    "\n"
	    "commands:\n");
	for (const struct cli_command *c = cli_commands; c->name; c++)
		fprintf(out, "  %-12s %s\n", c->name, c->summary);
	fprintf(out,
	    "\nSettings: the config file, then GENBOX_<SECTION>_<KEY> variables, then flags.\n");
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "config", required_argument, NULL, 'c' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *db = NULL, *conf = NULL;
	struct gb_err err = { 0, "" };
	struct config cfg;
	int ch;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			db = optarg;
			break;
		case 'c':
			conf = optarg;
			break;
		case 'V':
			printf("genbox %s\n", GENBOX_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			if (optopt && strchr("c", optopt))
				fprintf(stderr, "genbox: option '-%c' needs a value\n", optopt);
			else if (optopt == 'd')
				fprintf(stderr, "genbox: option '--db' needs a value\n");
			else
				fprintf(stderr, "genbox: unknown option '%s'\n", argv[optind - 1]);
			fprintf(stderr, "Try 'genbox --help'.\n");
			return 1;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 1;
	}
	config_defaults(&cfg);
	if (config_load_file(&cfg, conf ? conf : CONFIG_DEFAULT_PATH, conf != NULL, &err) ||
	    config_load_env(&cfg, &err) ||
	    (db && config_set(&cfg, "storage", "path", db, &err))) {
		fprintf(stderr, "genbox: %s\n", err.msg);
		return 1;
	}
	log_set_level(cfg.log_level);
	for (const struct cli_command *c = cli_commands; c->name; c++) {
		if (strcmp(c->name, argv[optind]) != 0)
			continue;
		for (int i = optind + 1; i < argc && strcmp(argv[i], "--") != 0; i++)
			if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
				printf("usage: genbox %s\n", c->usage);
				return 0;
			}
		return c->run(&cfg, argc - optind, argv + optind);
	}
	fprintf(stderr, "genbox: unknown command '%s'\nTry 'genbox --help'.\n", argv[optind]);
	return 1;
}
