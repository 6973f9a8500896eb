/*
 * cli.h - genbox's commands. Each takes the settings and its own argv
 * (argv[0] is the command's name) and returns the process exit status; only
 * main exits. Messages go to stderr as "genbox: COMMAND: ...".
 */
#ifndef GB_CLI_H
#define GB_CLI_H

#include "config.h"

struct cli_command {
	const char *name;
	int (*run)(const struct config *cfg, int argc, char **argv);
	const char *summary;
	const char *usage;	/* the command's --help text after "usage: genbox " */
};

/* Ends with a NULL name. */
extern const struct cli_command cli_commands[];

int cmd_run_batch(const struct config *cfg, int argc, char **argv);
int cmd_serve(const struct config *cfg, int argc, char **argv);
int cmd_apikey(const struct config *cfg, int argc, char **argv);
int cmd_sync(const struct config *cfg, int argc, char **argv);
int cmd_archive(const struct config *cfg, int argc, char **argv);
int cmd_restore(const struct config *cfg, int argc, char **argv);
/* `migrate docs ...` (docmigcmd.c); argv[0] is "docs". */
int cmd_migrate_docs(const struct config *cfg, int argc, char **argv);

/* Print "genbox: cmd: message" to stderr; returns 1. */
int cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
