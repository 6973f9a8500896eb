/*
 * cli.h - genbox's commands. Each takes the settings and its own argv
 * (argv[0] is the command's name) and returns the process exit status; only
 * main exits. Messages go to stderr as "genbox: COMMAND: ...".
 */
#ifndef GB_CLI_H
#define GB_CLI_H

#include <getopt.h>
#include <stdarg.h>

#include "../base/err.h"
#include "../storage/store.h"
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
int cmd_backup(const struct config *cfg, int argc, char **argv);
int cmd_restore_backup(const struct config *cfg, int argc, char **argv);

/*
 * The database's running lock (storage/upkeep.h), shared, held until the
 * process ends: every command that works on the database takes it before it
 * opens the file, so that restore-backup is refused while one runs (and the
 * command is refused while a restore is under way, GB_EBUSY). Nothing is
 * taken for a path that is no regular file or, without create, is missing:
 * opening it says why. Once per process; 0 or a negative GB_E* code.
 */
int cli_hold_db(const char *db_path, int create, struct gb_err *err);
/* cli_hold_db, then store_open (*st NULL on failure). */
int cli_store_open(const struct config *cfg, const struct store_opts *o, struct store **st,
    struct gb_err *err);

/* Print "genbox: cmd: message" to stderr; returns 1. */
int cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * A usage error of cmd: "genbox: CMD: MESSAGE", then "Try 'genbox HELP
 * --help'."; returns 1, the exit status of every usage error (genbox(8)).
 */
int cli_vusage(const char *cmd, const char *help, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/*
 * The message for getopt_long's '?' or ':' (the option string starts with
 * ':', so that a missing value is told from an unknown option) into err:
 * "option '--x' needs a value", "option '--x' takes no value" or "unknown
 * option '--x'" with the nearest of longs. Returns GB_EINVAL.
 */
int cli_opt_error(int ch, char **argv, const struct option *longs, struct gb_err *err);
/* The same printed as "genbox: cmd: ..." and "Try 'genbox cmd --help'."; returns 1. */
int cli_opt_fail(const char *cmd, int ch, char **argv, const struct option *longs);
/* "too many arguments: 'arg' (expected)" and the --help hint; returns 1. */
int cli_extra_arg(const char *cmd, const char *arg, const char *expected);
/*
 * "unknown what 'word' (did you mean 'x'?)" with the nearest of words (ends
 * with NULL) into out; for sub-commands and the like.
 */
void cli_unknown_word(char *out, size_t size, const char *what, const char *word,
    const char *const *words);
struct store;
/*
 * " (did you mean 'x'?)" with the _id of collection c nearest to id, else
 * " (the nearest is 'x')", or "" when the collection is empty or cannot be
 * read, into out. Reads the whole collection: for error messages only.
 */
void cli_near_id(struct store *st, enum coll c, const char *id, char *out, size_t size);
/* "unknown collection 'name' (did you mean 'x'?); expected one of: ..."; returns 1. */
int cli_bad_coll(const char *cmd, const char *name);

#endif
