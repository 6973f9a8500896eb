/*
 * apikeycmd.c - `genbox apikey create|list|revoke`: API keys from the
 * command line. The token is printed once, on stdout, and kept nowhere;
 * every change is logged with the key id, never the secret.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "../base/gbtime.h"
#include "../base/log.h"
#include "../storage/apikey.h"
#include "../web/apikeys.h"
#include "cli.h"

static int
apikey_open(const struct config *cfg, struct store **st)
{
	struct store_opts o = { 0, 1, cfg->sync_full, cfg->busy_timeout_ms, 0, 0 };
	struct gb_err err = { 0, "" };

	if (cli_store_open(cfg, &o, st, &err))
		return cli_fail("apikey", "%s", err.msg);
	return 0;
}

static int
apikey_create(const struct config *cfg, int argc, char **argv)
{
	static const struct option longs[] = {
		{ "user", required_argument, NULL, 'u' },
		{ "perm", required_argument, NULL, 'p' },
		{ "name", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	const char *user = NULL, *name = "";
	char token[APIKEY_TOKEN_MAX], quoted[2 * STORE_ID_MAX + 8];
	struct gb_err err = { 0, "" };
	struct store_apikey k;
	struct store *st;
	int ch, write = 0, rc;

	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":", longs, NULL)) != -1) {
		if (ch == 'u')
			user = optarg;
		else if (ch == 'n')
			name = optarg;
		else if (ch == 'p' &&
		    (strcmp(optarg, "read") == 0 || strcmp(optarg, "read,write") == 0))
			write = strcmp(optarg, "read,write") == 0;
		else if (ch == 'p')
			return cli_fail("apikey", "--perm '%.32s': expected read or read,write",
			    optarg);
		else
			return cli_opt_fail("apikey create", ch, argv, longs);
	}
	if (user == NULL || optind < argc)
		return cli_fail("apikey",
		    "usage: genbox apikey create --user USER_ID [--perm read,write] [--name N]");
	if (apikey_open(cfg, &st))
		return 1;
	rc = apikey_new(st, user, write, name, gb_now_ms(), token, &k, &err);
	store_close(st);
	if (rc)
		return cli_fail("apikey", "%s", err.msg);
	log_info("event=api_change key_id=%s action=create user_id=%s permissions=%s", k.key_id,
	    log_quoted(quoted, sizeof(quoted), k.user_id), write ? "read,write" : "read");
	printf("%s\n", token);
	fprintf(stderr, "created %s for %s (%s): the token above is shown only this once\n",
	    k.key_id, k.user_id, write ? "read,write" : "read");
	memset(token, 0, sizeof(token));
	return 0;
}

static int
apikey_print(void *arg, const struct store_apikey *k)
{
	char c[GB_TIME_LEN], u[GB_TIME_LEN], r[GB_TIME_LEN];

	(void)arg;
	printf("%-21s %-16s %-10s %-24s %-24s %-24s %s\n", k->key_id, k->user_id,
	    k->write ? "read,write" : "read", gb_time_format(k->created_ms, c),
	    k->last_used_ms ? gb_time_format(k->last_used_ms, u) : "-",
	    k->revoked_ms ? gb_time_format(k->revoked_ms, r) : "-", k->name);
	return 0;
}

static int
apikey_list(const struct config *cfg, int argc, char **argv)
{
	static const struct option longs[] = { { "user", required_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 } };
	struct gb_err err = { 0, "" };
	const char *user = NULL;
	struct store *st;
	int ch, rc;

	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":", longs, NULL)) != -1) {
		if (ch != 'u')
			return cli_opt_fail("apikey list", ch, argv, longs);
		user = optarg;
	}
	if (optind < argc)
		return cli_fail("apikey", "usage: genbox apikey list [--user USER_ID]");
	if (apikey_open(cfg, &st))
		return 1;
	printf("%-21s %-16s %-10s %-24s %-24s %-24s %s\n", "key_id", "user_id", "perms",
	    "created_at", "last_used_at", "revoked_at", "name");
	rc = store_apikey_each(st, NULL, user, apikey_print, NULL, &err);
	store_close(st);
	return rc ? cli_fail("apikey", "%s", err.msg) : 0;
}

static int
apikey_revoke(const struct config *cfg, int argc, char **argv)
{
	struct gb_err err = { 0, "" };
	struct store *st;
	int rc;

	if (argc != 2)
		return cli_fail("apikey", "usage: genbox apikey revoke KEY_ID");
	if (apikey_open(cfg, &st))
		return 1;
	rc = store_apikey_revoke(st, argv[1], NULL, gb_now_ms(), &err);
	store_close(st);
	if (rc)
		return cli_fail("apikey", "%s", err.msg);
	log_info("event=api_change key_id=%s action=revoke", argv[1]);
	printf("revoked %s\n", argv[1]);
	return 0;
}

int
cmd_apikey(const struct config *cfg, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "create") == 0)
		return apikey_create(cfg, argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "list") == 0)
		return apikey_list(cfg, argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "revoke") == 0)
		return apikey_revoke(cfg, argc - 1, argv + 1);
	static const char *const words[] = { "create", "list", "revoke", NULL };
	char msg[256];

	if (argc < 2) {
		cli_fail("apikey", "expected create, list or revoke");
	} else {
		cli_unknown_word(msg, sizeof(msg), "command", argv[1], words);
		cli_fail("apikey", "%s; expected create, list or revoke", msg);
	}
	fprintf(stderr, "Try 'genbox apikey --help'.\n");
	return 1;
}
