/*
 * synccmd.c - `genbox sync once|push|pull|status|reset|disable`: sync
 * with the cluster from the command line, and what it has done so far.
 *
 * push, pull and once talk to the cluster ([cluster] mongo_uri) and turn
 * outbox recording on first (store_sync_enable), as serve does; status,
 * reset and disable read and write the database only, so they work with no
 * cluster. disable (with --yes) turns recording off again and empties the
 * outbox, for a box taken off its cluster; status warns while recording is
 * on with no cluster configured (nothing drains the outbox then).
 * Exit status: 0 done, 1 a failure (the cluster unreachable, bad
 * credentials, the database), 2 a usage error.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../base/gbtime.h"
#include "../base/near.h"
#include "../storage/outbox.h"
#include "../storage/syncoff.h"
#include "../sync/sync.h"
#include "cli.h"
#include "synccfg.h"

#define SYNC_REJECTED_SHOWN 20

enum sync_what { SYNC_ONCE, SYNC_PUSH, SYNC_PULL };

static int sync_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A usage error (exit status 1). */
static int
sync_usage(const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = cli_vusage("sync", "sync", fmt, ap);
	va_end(ap);
	return rc;
}

/* An argument of sub other than its one option: named, with that option when near. */
static int
sync_bad_arg(const char *sub, const char *arg, const char *option)
{
	struct gb_near near;

	gb_near_init(&near, arg);
	gb_near_add(&near, option);
	if (gb_near_best(&near))
		return sync_usage("%s: unknown option '%.64s' (did you mean '%s'?)", sub, arg,
		    option);
	return sync_usage("%s: unexpected argument '%.64s'", sub, arg);
}

static int
sync_open(const struct config *cfg, struct store **st)
{
	struct store_opts o = { 0, 1, cfg->sync_full, cfg->busy_timeout_ms, 0, 0 };
	struct gb_err err = { 0, "" };

	if (cli_store_open(cfg, &o, st, &err))
		return cli_fail("sync", "%s", err.msg);
	return 0;
}

/*
 * The message of a failed round: the sync floor's says what it did and
 * where (the URI without its password); this says what kind of failure.
 */
static int
sync_failed(const char *what, const struct gb_err *err)
{
	if (err->code == GB_ETRANSIENT)
		return cli_fail("sync", "cluster unreachable: %s", err->msg);
	if (err->code == GB_EPERM)
		return cli_fail("sync", "the cluster refused the credentials: %s", err->msg);
	return cli_fail("sync", "%s failed: %s", what, err->msg);
}

/* Outbox recording on, and the settings resolved (the box's organizations read). */
static int
sync_prepare(const struct config *cfg, struct synccfg *c, struct gb_err *err)
{
	struct store *st = NULL;
	int64_t queued = 0;
	int rc;

	if (sync_open(cfg, &st))
		return 1;
	if ((rc = store_sync_enable(st, &queued, err)) == 0)
		rc = synccfg_fill(c, cfg, st, cfg->workers, err);
	store_close(st);
	if (rc)
		return cli_fail("sync", "%s", err->msg);
	if (queued > 0)
		fprintf(stderr, "sync recording turned on: %lld document%s queued for the first "
		    "push\n", (long long)queued, queued == 1 ? "" : "s");
	return 0;
}

static int
sync_run(const struct config *cfg, enum sync_what what)
{
	struct gb_err err = { 0, "" };
	struct synccfg *c;
	struct sync *s = NULL;
	int64_t pushed = 0, pulled = 0;
	int taken = 0, rc = 0;

	if (!synccfg_on(cfg))
		return cli_fail("sync", "no cluster configured (set [cluster] mongo_uri)");
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return cli_fail("sync", "out of memory");
	if (sync_prepare(cfg, c, &err) || sync_new(&s, &c->sc, &err)) {
		rc = err.code ? cli_fail("sync", "%s", err.msg) : 1;
		goto out;
	}
	if (what != SYNC_PULL && sync_push_all(s, &pushed, &err)) {
		rc = sync_failed("push", &err);
		goto out;
	}
	if (what != SYNC_PUSH && sync_pull_all(s, &pulled, &err)) {
		rc = sync_failed("pull", &err);
		goto out;
	}
	/* its own failure is a warning in the log and the status, not the pull's */
	if (what != SYNC_PUSH)
		sync_count_undated(s, &err);
	if (what == SYNC_ONCE && c->sc.take_cluster_work && sync_take_once(s, &taken, &err)) {
		rc = sync_failed("take", &err);
		goto out;
	}
	if (what != SYNC_PULL)
		printf("pushed %lld document%s\n", (long long)pushed, pushed == 1 ? "" : "s");
	if (what != SYNC_PUSH)
		printf("pulled %lld document%s\n", (long long)pulled, pulled == 1 ? "" : "s");
	if (what == SYNC_ONCE && c->sc.take_cluster_work)
		printf("took %d context%s from the cluster\n", taken, taken == 1 ? "" : "s");
out:
	sync_free(s);
	free(c);
	return rc;
}

/* ---- status ---- */

/* "12s ago", "3m ago", "never" */
static const char *
sync_age(int64_t now, int64_t ms, char *out, size_t size)
{
	int64_t s = (now - ms) / 1000;

	if (ms <= 0)
		snprintf(out, size, "never");
	else if (s < 120)
		snprintf(out, size, "%llds ago", (long long)(s < 0 ? 0 : s));
	else if (s < 7200)
		snprintf(out, size, "%lldm ago", (long long)(s / 60));
	else if (s < 172800)
		snprintf(out, size, "%lldh ago", (long long)(s / 3600));
	else
		snprintf(out, size, "%lldd ago", (long long)(s / 86400));
	return out;
}

static const char *
sync_oldest(int64_t now, int64_t ms, char *out, size_t size)
{
	if (ms <= 0)
		return snprintf(out, size, "-"), out;
	return snprintf(out, size, "%llds", (long long)((now - ms) / 1000)), out;
}

/* Recording on with no cluster: the warning (in out) that nothing drains the outbox. */
static const char *
status_orphan(int on, int recording, const struct sync_coll_status *cs, char *out, size_t size)
{
	int64_t depth = 0;

	if (on || !recording)
		return NULL;
	for (int i = 0; i < COLL_COUNT; i++)
		depth += cs[i].outbox_depth;
	snprintf(out, size, "sync is off but %lld change%s wait%s in the outbox: configure "
	    "[cluster] or run genbox sync disable --yes", (long long)depth, depth == 1 ? "" : "s",
	    depth == 1 ? "s" : "");
	return out;
}

static void
status_text_head(const struct config *cfg, const struct synccfg *c, int on,
    const char *warning)
{
	if (!on) {
		printf("sync: off (no [cluster] mongo_uri)\n");
		if (warning)
			printf("warning: %s\n", warning);
		return;
	}
	printf("sync: on\ncluster: %s database %s%s%s\n", c->mongo_masked, cfg->cluster_mongo_db,
	    c->redis_masked[0] ? ", redis " : "", c->redis_masked);
	printf("appliance: %s worker %s, take_cluster_work %s\norganizations:", c->appliance_id,
	    c->worker_id, cfg->cluster_take_work ? "on" : "off");
	for (int i = 0; i < c->sc.n_orgs; i++)
		printf("%s %s", i ? "," : "", c->orgs[i]);
	printf("%s\n", c->sc.n_orgs ? "" : " none (set [cluster] organizations)");
}

static int
status_has_error(const struct sync_coll_status *cs)
{
	for (int i = 0; i < COLL_COUNT; i++)
		if (cs[i].last_error_ms > 0)
			return 1;
	return 0;
}

/* The clock skew of sync's last connect, a line; a warning past SYNC_SKEW_WARN_MS. */
static void
status_skew_text(int64_t skew, int known)
{
	int64_t mag = skew < 0 ? -skew : skew;

	if (!known) {
		printf("\nclock: not measured yet (sync has not connected to MongoDB)\n");
		return;
	}
	printf("\nclock: %lld ms %s MongoDB's at the last connect\n", (long long)mag,
	    skew > 0 ? "behind" : skew < 0 ? "ahead of" : "off");
	if (mag > SYNC_SKEW_WARN_MS)
		printf("warning: newer-wins compares this box's dates with the cluster's: set the "
		    "time (NTP)\n");
}

static void
status_text(const struct sync_coll_status *cs, const struct rejected_doc *rj, int nrj,
    int64_t total)
{
	int64_t now = gb_now_ms();
	char a[32], b[32], o[32], t[GB_TIME_LEN];

	printf("\n%-14s %8s %8s %7s %7s %9s %8s %-10s %-10s %s\n", "collection", "pushed",
	    "pulled", "outbox", "oldest", "conflicts", "rejected", "last push", "last pull",
	    "checkpoint (updated_at, _id)");
	for (int i = 0; i < COLL_COUNT; i++)
		printf("%-14s %8lld %8lld %7lld %7s %9lld %8lld %-10s %-10s %s%s%s\n",
		    coll_name((enum coll)i), (long long)cs[i].pushed, (long long)cs[i].pulled,
		    (long long)cs[i].outbox_depth, sync_oldest(now, cs[i].outbox_oldest_ms, o,
		    sizeof(o)), (long long)cs[i].conflicts, (long long)cs[i].rejected,
		    sync_age(now, cs[i].last_push_ms, a, sizeof(a)),
		    sync_age(now, cs[i].last_pull_ms, b, sizeof(b)),
		    cs[i].checkpoint.updated_at[0] ? cs[i].checkpoint.updated_at : "-",
		    cs[i].checkpoint.id[0] ? " " : "", cs[i].checkpoint.id);
	printf("\nlast errors:%s\n", status_has_error(cs) ? "" : " none");
	for (int i = 0; i < COLL_COUNT; i++)
		if (cs[i].last_error_ms > 0)
			printf("  %s, %s %s: %s\n", coll_name((enum coll)i),
			    cs[i].last_error_pull ? "pull" : "push",
			    sync_age(now, cs[i].last_error_ms, a, sizeof(a)), cs[i].last_error);
	for (int i = 0; i < COLL_COUNT; i++)
		if (cs[i].undated > 0)
			printf("  %s: %lld document%s in the cluster without a date in updated_at "
			    "%s never pulled\n", coll_name((enum coll)i), (long long)cs[i].undated,
			    cs[i].undated == 1 ? "" : "s", cs[i].undated == 1 ? "is" : "are");
	printf("\nrejected documents: %lld%s\n", (long long)total, total > nrj ? " (the newest "
	    "shown)" : "");
	for (int i = 0; i < nrj; i++)
		printf("  %-14s %-28s %s  %s %s\n", coll_name(rj[i].coll), rj[i].id,
		    gb_time_format(rj[i].at_ms, t), rj[i].pull ? "refused on pull:" :
		    "refused by the cluster:", rj[i].error);
}

static cJSON *
status_time(int64_t ms)
{
	char t[GB_TIME_LEN];

	return ms > 0 ? cJSON_CreateString(gb_time_format(ms, t)) : cJSON_CreateNull();
}

static cJSON *
status_coll_json(const struct sync_coll_status *s, int64_t now)
{
	cJSON *o = cJSON_CreateObject(), *cp;

	cJSON_AddNumberToObject(o, "pushed", (double)s->pushed);
	cJSON_AddNumberToObject(o, "pulled", (double)s->pulled);
	cJSON_AddNumberToObject(o, "conflicts", (double)s->conflicts);
	cJSON_AddNumberToObject(o, "rejected", (double)s->rejected);
	cJSON_AddItemToObject(o, "last_push", status_time(s->last_push_ms));
	cJSON_AddItemToObject(o, "last_pull", status_time(s->last_pull_ms));
	cJSON_AddNumberToObject(o, "outbox_depth", (double)s->outbox_depth);
	if (s->outbox_oldest_ms > 0)
		cJSON_AddNumberToObject(o, "outbox_oldest_s",
		    (double)((now - s->outbox_oldest_ms) / 1000));
	else
		cJSON_AddNullToObject(o, "outbox_oldest_s");
	cp = cJSON_AddObjectToObject(o, "checkpoint");
	if (s->checkpoint.updated_at[0])
		cJSON_AddStringToObject(cp, "updated_at", s->checkpoint.updated_at);
	else
		cJSON_AddNullToObject(cp, "updated_at");
	if (s->checkpoint.id[0])
		cJSON_AddStringToObject(cp, "_id", s->checkpoint.id);
	else
		cJSON_AddNullToObject(cp, "_id");
	cJSON_AddNumberToObject(cp, "pulled", (double)s->checkpoint.pulled);
	cJSON_AddItemToObject(o, "last_error_at", status_time(s->last_error_ms));
	cJSON_AddNumberToObject(o, "undated", (double)s->undated);
	if (s->last_error_ms > 0)
		cJSON_AddStringToObject(o, "last_error", s->last_error);
	else
		cJSON_AddNullToObject(o, "last_error");
	return o;
}

static void
status_json(const struct config *cfg, const struct synccfg *c, int on, const char *warning,
    const struct sync_coll_status *cs, const struct rejected_doc *rj, int nrj, int64_t total,
    const int64_t *skew)
{
	cJSON *out = cJSON_CreateObject(), *o, *arr;
	int64_t now = gb_now_ms();
	char *text;

	cJSON_AddStringToObject(out, "state", on ? "on" : "off");
	if (warning)
		cJSON_AddStringToObject(out, "warning", warning);
	if (on) {
		o = cJSON_AddObjectToObject(out, "cluster");
		cJSON_AddStringToObject(o, "mongo_uri", c->mongo_masked);
		cJSON_AddStringToObject(o, "mongo_db", cfg->cluster_mongo_db);
		cJSON_AddStringToObject(o, "redis_url", c->redis_masked);
		cJSON_AddStringToObject(o, "appliance_id", c->appliance_id);
		cJSON_AddStringToObject(o, "worker_id", c->worker_id);
		cJSON_AddBoolToObject(o, "take_cluster_work", cfg->cluster_take_work);
		arr = cJSON_AddArrayToObject(o, "organizations");
		for (int i = 0; i < c->sc.n_orgs; i++)
			cJSON_AddItemToArray(arr, cJSON_CreateString(c->orgs[i]));
	}
	/* MongoDB's clock less the box's at the last connect; null: not measured (or off) */
	if (skew)
		cJSON_AddNumberToObject(out, "clock_skew_ms", (double)*skew);
	else
		cJSON_AddNullToObject(out, "clock_skew_ms");
	o = cJSON_AddObjectToObject(out, "collections");
	for (int i = 0; i < COLL_COUNT; i++)
		cJSON_AddItemToObject(o, coll_name((enum coll)i), status_coll_json(&cs[i], now));
	cJSON_AddNumberToObject(out, "rejected_total", (double)total);
	arr = cJSON_AddArrayToObject(out, "rejected");
	for (int i = 0; i < nrj; i++) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "collection", coll_name(rj[i].coll));
		cJSON_AddStringToObject(o, "_id", rj[i].id);
		cJSON_AddItemToObject(o, "at", status_time(rj[i].at_ms));
		cJSON_AddStringToObject(o, "direction", rj[i].pull ? "pull" : "push");
		cJSON_AddStringToObject(o, "error", rj[i].error);
		cJSON_AddItemToArray(arr, o);
	}
	if ((text = cJSON_Print(out)) != NULL)
		printf("%s\n", text);
	free(text);
	cJSON_Delete(out);
}

static int
sync_status_cmd(const struct config *cfg, int argc, char **argv)
{
	struct sync_coll_status cs[COLL_COUNT];
	struct rejected_doc rj[SYNC_REJECTED_SHOWN];
	struct gb_err err = { 0, "" }, cerr = { 0, "" };
	struct synccfg *c = NULL;
	struct store *st = NULL;
	int json = 0, on = synccfg_on(cfg), nrj = 0, recording = 0, rc, skew_known = 0;
	int64_t total = 0, skew = 0;
	const char *warning = NULL;
	char wbuf[256];

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") != 0)
			return sync_bad_arg("status", argv[i], "--json");
		json = 1;
	}
	if (sync_open(cfg, &st))
		return 1;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		store_close(st);
		return cli_fail("sync", "out of memory");
	}
	if (on)
		synccfg_fill(c, cfg, st, cfg->workers, &cerr);	/* no organization: shown so */
	if ((rc = store_sync_status(st, cs, &err)) == 0 &&
	    (rc = store_rejected_list(st, rj, SYNC_REJECTED_SHOWN, &nrj, &total, &err)) == 0 &&
	    (rc = store_sync_enabled(st, &recording, &err)) == 0)
		rc = store_sync_clock_skew(st, &skew, &skew_known, &err);
	store_close(st);
	if (rc == 0)
		warning = status_orphan(on, recording, cs, wbuf, sizeof(wbuf));
	if (rc == 0 && json) {
		status_json(cfg, c, on, warning, cs, rj, nrj, total,
		    on && skew_known ? &skew : NULL);
	} else if (rc == 0) {
		status_text_head(cfg, c, on, warning);
		if (on)
			status_skew_text(skew, skew_known);
		status_text(cs, rj, nrj, total);
	}
	free(c);
	return rc ? cli_fail("sync", "status: %s", err.msg) : 0;
}

/* ---- reset ---- */

static int
sync_unknown_coll(const char *name)
{
	struct gb_near near;
	const char *best;

	gb_near_init(&near, name);
	for (int i = 0; i < COLL_COUNT; i++)
		gb_near_add(&near, coll_name((enum coll)i));
	best = gb_near_best(&near);
	fprintf(stderr, "genbox: sync: reset: unknown collection '%.64s'", name);
	if (best)
		fprintf(stderr, " (did you mean '%s'?)", best);
	fprintf(stderr, "; expected one of:");
	for (int i = 0; i < COLL_COUNT; i++)
		fprintf(stderr, "%s %s", i ? "," : "", coll_name((enum coll)i));
	fprintf(stderr, "\nTry 'genbox sync --help'.\n");
	return 1;
}

static int
sync_reset_cmd(const struct config *cfg, int argc, char **argv)
{
	struct gb_err err = { 0, "" };
	struct store *st;
	int c, rc;

	if (argc != 2)
		return sync_usage("%s", "reset: expected one COLLECTION");
	if ((c = coll_from_name(argv[1])) < 0)
		return sync_unknown_coll(argv[1]);
	if (sync_open(cfg, &st))
		return 1;
	rc = store_checkpoint_reset(st, (enum coll)c, &err);
	store_close(st);
	if (rc)
		return cli_fail("sync", "reset: %s", err.msg);
	printf("reset the pull checkpoint of %s: the next pull reads it from the start\n",
	    coll_name((enum coll)c));
	return 0;
}

/* ---- disable ---- */

static int
sync_disable_cmd(const struct config *cfg, int argc, char **argv)
{
	struct gb_err err = { 0, "" };
	struct store *st;
	int64_t depth = 0, dropped = 0, locks = 0;
	int yes = 0, rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--yes") != 0)
			return sync_bad_arg("disable", argv[i], "--yes");
		yes = 1;
	}
	if (synccfg_on(cfg))
		return cli_fail("sync", "disable: a cluster is configured ([cluster] mongo_uri or "
		    "GENBOX_CLUSTER_MONGO_URI): serve and sync would turn recording on again; "
		    "remove it first");
	if (sync_open(cfg, &st))
		return 1;
	if (!yes) {
		rc = store_outbox_depth(st, -1, &depth, NULL, &err);
		store_close(st);
		if (rc)
			return cli_fail("sync", "disable: %s", err.msg);
		return sync_usage("disable: this turns outbox recording off and drops the %lld "
		    "change%s waiting in the outbox, never to be sent; add --yes to do it",
		    (long long)depth, depth == 1 ? "" : "s");
	}
	rc = store_sync_disable(st, &dropped, &locks, &err);
	store_close(st);
	if (rc)
		return cli_fail("sync", "disable: %s", err.msg);
	printf("sync recording turned off: dropped %lld change%s from the outbox",
	    (long long)dropped, dropped == 1 ? "" : "s");
	if (locks > 0)
		printf(" and %lld cluster lock%s (Redis lets them expire)", (long long)locks,
		    locks == 1 ? "" : "s");
	printf("\n");
	return 0;
}

int
cmd_sync(const struct config *cfg, int argc, char **argv)
{
	static const char *const runs[] = { "once", "push", "pull" };
	static const char *const words[] = { "once", "push", "pull", "status", "reset",
		"disable", NULL };
	char msg[256];

	if (argc < 2)
		return sync_usage("%s", "expected once, push, pull, status, reset or disable");
	for (int i = 0; i < 3; i++)
		if (strcmp(argv[1], runs[i]) == 0) {
			if (argc > 2)
				return sync_usage("unexpected argument '%s'", argv[2]);
			return sync_run(cfg, (enum sync_what)i);
		}
	if (strcmp(argv[1], "status") == 0)
		return sync_status_cmd(cfg, argc - 1, argv + 1);
	if (strcmp(argv[1], "reset") == 0)
		return sync_reset_cmd(cfg, argc - 1, argv + 1);
	if (strcmp(argv[1], "disable") == 0)
		return sync_disable_cmd(cfg, argc - 1, argv + 1);
	cli_unknown_word(msg, sizeof(msg), "command", argv[1], words);
	return sync_usage("%s; expected once, push, pull, status, reset or disable", msg);
}
