/*
 * mongo.c - the MongoDB side's plumbing: the client pool (one client per
 * thread), the URI with the timeouts, what a driver error means (bad
 * credentials, an unreachable cluster, a refusal of one document), the
 * server's document size limit, counters of round trips and bytes, and the
 * backoff between failed rounds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../base/gbtime.h"
#include "../base/log.h"
#include "../storage/outbox.h"
#include "internal.h"

#define MONGO_WAIT_SLICE_MS 50

static void
apm_started(const mongoc_apm_command_started_t *ev)
{
	struct sync *s = mongoc_apm_command_started_get_context(ev);
	const bson_t *cmd = mongoc_apm_command_started_get_command(ev);

	atomic_fetch_add(&s->commands, 1);
	atomic_fetch_add(&s->bytes_out, (long long)cmd->len);
}

static void
apm_succeeded(const mongoc_apm_command_succeeded_t *ev)
{
	struct sync *s = mongoc_apm_command_succeeded_get_context(ev);
	const bson_t *reply = mongoc_apm_command_succeeded_get_reply(ev);

	atomic_fetch_add(&s->bytes_in, (long long)reply->len);
}

/*
 * The server's clock against the box's, from the hello the pool's monitor
 * got: its localTime against the box's clock when the reply arrived, less
 * half the round trip. Recorded by mongo_note_skew.
 */
static void
apm_heartbeat(const mongoc_apm_server_heartbeat_succeeded_t *ev)
{
	struct sync *s = mongoc_apm_server_heartbeat_succeeded_get_context(ev);
	const bson_t *reply = mongoc_apm_server_heartbeat_succeeded_get_reply(ev);
	int64_t rtt_ms = mongoc_apm_server_heartbeat_succeeded_get_awaited(ev) ? 0 :
	    mongoc_apm_server_heartbeat_succeeded_get_duration(ev) / 1000;
	bson_iter_t it;

	if (reply && bson_iter_init_find(&it, reply, "localTime") &&
	    BSON_ITER_HOLDS_DATE_TIME(&it)) {
		atomic_store(&s->skew_ms, (long long)(bson_iter_date_time(&it) -
		    (gb_now_ms() - rtt_ms / 2)));
		atomic_store(&s->skew_known, 1);
	}
}

/* The URI as text without its password: for messages and the status. */
static void
uri_describe(struct sync *s, const mongoc_uri_t *uri)
{
	const mongoc_host_list_t *h;
	const char *user = mongoc_uri_get_username(uri);
	size_t len;

	snprintf(s->user, sizeof(s->user), "%s", user ? user : "");
	len = (size_t)snprintf(s->uri_safe, sizeof(s->uri_safe), "mongodb://%s%s",
	    s->user, s->user[0] ? "@" : "");
	for (h = mongoc_uri_get_hosts(uri); h && len < sizeof(s->uri_safe); h = h->next)
		len += (size_t)snprintf(s->uri_safe + len, sizeof(s->uri_safe) - len, "%s%s",
		    h->host_and_port, h->next ? "," : "/");
}

static void
uri_default_int(mongoc_uri_t *uri, const char *opt, int32_t v)
{
	if (!mongoc_uri_has_option(uri, opt))
		mongoc_uri_set_option_as_int32(uri, opt, v);
}

int
mongo_pool_new(struct sync *s, struct gb_err *err)
{
	mongoc_apm_callbacks_t *cb;
	mongoc_uri_t *uri;
	bson_error_t e;
	int t = s->cfg.timeout_ms;

	if ((uri = mongoc_uri_new_with_error(s->cfg.mongo_uri, &e)) == NULL)
		return gb_errf(err, GB_EINVAL, "bad mongo_uri: %s", e.message);
	uri_describe(s, uri);
	uri_default_int(uri, MONGOC_URI_CONNECTTIMEOUTMS, t);
	uri_default_int(uri, MONGOC_URI_SOCKETTIMEOUTMS, t);
	uri_default_int(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, t);
	if (!mongoc_uri_has_option(uri, MONGOC_URI_SERVERSELECTIONTRYONCE))
		mongoc_uri_set_option_as_bool(uri, MONGOC_URI_SERVERSELECTIONTRYONCE, false);
	/*
	 * The driver's one retry of a failed write or read doubles the wait on
	 * a frozen cluster (and sync_stop's); a failed round is sent again by
	 * the next one anyway (replays change nothing).
	 */
	if (!mongoc_uri_has_option(uri, MONGOC_URI_RETRYWRITES))
		mongoc_uri_set_option_as_bool(uri, MONGOC_URI_RETRYWRITES, false);
	if (!mongoc_uri_has_option(uri, MONGOC_URI_RETRYREADS))
		mongoc_uri_set_option_as_bool(uri, MONGOC_URI_RETRYREADS, false);
	if (!mongoc_uri_has_option(uri, MONGOC_URI_APPNAME))
		mongoc_uri_set_appname(uri, "genbox");
	s->pool = mongoc_client_pool_new_with_error(uri, &e);
	mongoc_uri_destroy(uri);
	if (s->pool == NULL)
		return gb_errf(err, GB_EINVAL, "bad mongo_uri: %s", e.message);
	mongoc_client_pool_set_error_api(s->pool, MONGOC_ERROR_API_VERSION_2);
	cb = mongoc_apm_callbacks_new();
	mongoc_apm_set_command_started_cb(cb, apm_started);
	mongoc_apm_set_command_succeeded_cb(cb, apm_succeeded);
	mongoc_apm_set_server_heartbeat_succeeded_cb(cb, apm_heartbeat);
	mongoc_client_pool_set_apm_callbacks(s->pool, cb, s);
	mongoc_apm_callbacks_destroy(cb);
	return 0;
}

static int
error_is_auth(const bson_error_t *e)
{
	if (e->domain == MONGOC_ERROR_CLIENT && e->code == MONGOC_ERROR_CLIENT_AUTHENTICATE)
		return 1;
	if (e->code == 18 || e->code == 13)	/* AuthenticationFailed, Unauthorized */
		return e->domain == MONGOC_ERROR_SERVER || e->domain == MONGOC_ERROR_QUERY ||
		    e->domain == MONGOC_ERROR_COMMAND;
	return strstr(e->message, "Authentication failed") != NULL ||
	    strstr(e->message, "auth failed") != NULL;
}

static int
error_is_offline(const bson_error_t *e)
{
	switch (e->domain) {
	case MONGOC_ERROR_STREAM:
	case MONGOC_ERROR_SERVER_SELECTION:
	case MONGOC_ERROR_PROTOCOL:
		return 1;
	default:
		break;
	}
	/* not primary, shutting down, interrupted, network: retry */
	switch (e->code) {
	case 6: case 7: case 89: case 91: case 189: case 262: case 9001:
	case 10107: case 11600: case 11602: case 13435: case 13436:
		return 1;
	default:
		return 0;
	}
}

enum mongo_err
mongo_error_kind(const bson_error_t *e)
{
	if (error_is_auth(e))
		return MONGO_ERR_AUTH;
	return error_is_offline(e) ? MONGO_ERR_OFFLINE : MONGO_ERR_OTHER;
}

int
mongo_fail(struct sync *s, const bson_error_t *e, const char *what, struct gb_err *err)
{
	if (error_is_auth(e)) {
		sync_set_state(s, SYNC_ST_AUTH);
		return gb_errf(err, GB_EPERM, "%s: MongoDB refused the credentials of user '%s' "
		    "at %s: %s", what, s->user, s->uri_safe, e->message);
	}
	if (error_is_offline(e)) {
		sync_set_state(s, SYNC_ST_OFFLINE);
		return gb_errf(err, GB_ETRANSIENT, "%s: cannot reach MongoDB at %s: %s", what,
		    s->uri_safe, e->message);
	}
	sync_set_state(s, SYNC_ST_ERROR);
	return gb_errf(err, GB_EIO, "%s: MongoDB error %u: %s", what, e->code, e->message);
}

int
mongo_code_permanent(int32_t code)
{
	static const int32_t codes[] = {
		2,	/* BadValue */
		9,	/* FailedToParse */
		14,	/* TypeMismatch */
		15,	/* Overflow */
		17,	/* CannotMutateObject ... */
		28,	/* PathNotViable */
		52,	/* DollarPrefixedFieldName */
		55,	/* InvalidDBRef */
		56,	/* EmptyFieldName */
		57,	/* DottedFieldName */
		61,	/* ShardKeyNotFound */
		66,	/* ImmutableField */
		121,	/* DocumentValidationFailure */
		10334,	/* BSONObjectTooLarge */
		17280,	/* KeyTooLong */
		17419,	/* document too large after the update */
	};

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (codes[i] == code)
			return 1;
	return 0;
}

#define SKEW_NOTE_STEP_MS 500

/* The updated_at guards compare the box's dates with the cluster's. */
void
mongo_note_skew(struct sync_ctx *c)
{
	struct gb_err err = { 0, "" };
	long long skew = atomic_load(&c->s->skew_ms);
	char val[32];

	if (!atomic_load(&c->s->skew_known) || c->st == NULL || (c->skew_noted &&
	    llabs(skew - c->skew_ms) < SKEW_NOTE_STEP_MS))
		return;
	snprintf(val, sizeof(val), "%lld", skew);
	if (store_sync_meta_set(c->st, "clock_skew_ms", val, &err)) {
		log_warnx("cannot record the clock skew: %s", err.msg);
		return;
	}
	c->skew_noted = 1;
	c->skew_ms = skew;
	if (skew > SYNC_SKEW_WARN_MS || skew < -SYNC_SKEW_WARN_MS)
		log_warnx("event=clock_skew skew_ms=%lld msg=\"the box's clock differs from "
		    "MongoDB's at %s by %lld ms: newer-wins compares their dates\"", skew,
		    c->s->uri_safe, skew);
}

int
mongo_max_bson(struct sync_ctx *c, int64_t *max, bson_error_t *e)
{
	mongoc_server_description_t *sd;
	const bson_t *hello;
	bson_iter_t it;

	*max = c->max_bson ? c->max_bson : 16 * 1024 * 1024;
	if (c->max_bson)
		return 0;
	if ((sd = mongoc_client_select_server(c->client, true, NULL, e)) == NULL)
		return -1;
	hello = mongoc_server_description_hello_response(sd);
	if (hello && bson_iter_init_find(&it, hello, "maxBsonObjectSize") &&
	    BSON_ITER_HOLDS_NUMBER(&it) && bson_iter_as_int64(&it) > 0) {
		*max = bson_iter_as_int64(&it);
		c->max_bson = *max;
	}
	mongo_note_skew(c);
	mongoc_server_description_destroy(sd);
	return 0;
}

int
mongo_ping(struct sync_ctx *c, struct gb_err *err)
{
	bson_t cmd = BSON_INITIALIZER, reply;
	bson_error_t e;
	int rc = 0;

	if ((rc = mongo_enter(c->s, err)))
		return rc;
	BSON_APPEND_INT32(&cmd, "ping", 1);
	if (!mongoc_client_command_simple(c->client, "admin", &cmd, NULL, &reply, &e))
		rc = mongo_fail(c->s, &e, "ping", err);
	mongo_unlock(c->s);
	bson_destroy(&reply);
	bson_destroy(&cmd);
	return rc;
}

mongoc_collection_t *
mongo_coll(struct sync_ctx *c, enum coll coll)
{
	return mongoc_client_get_collection(c->client, c->s->cfg.mongo_db, coll_name(coll));
}

int64_t
sync_backoff_ms(const struct sync *s, int fails, int auth)
{
	static _Thread_local unsigned seed;
	int64_t max = s->cfg.backoff_max_ms, d = 500;
	unsigned r;

	if (auth)
		return max;
	for (int i = 1; i < fails && d < max; i++)
		d *= 2;
	if (d > max)
		d = max;
	/* full range [d/2, d]: boxes that failed together do not retry together */
	if (seed == 0)
		seed = (unsigned)gb_now_ms() ^ (unsigned)(uintptr_t)&d ^ 1u;
	r = (unsigned)rand_r(&seed);
	return d / 2 + (int64_t)(r % (unsigned)(d / 2 + 1));
}

void
mongo_lock(struct sync *s)
{
	pthread_mutex_lock(&s->mongo_mu);
}

int
mongo_enter(struct sync *s, struct gb_err *err)
{
	struct timespec until;

	for (;;) {
		if (sync_stopping(s))
			return gb_errf(err, GB_ESTATE, "sync is stopping");
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += MONGO_WAIT_SLICE_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		if (pthread_mutex_timedlock(&s->mongo_mu, &until) == 0)
			break;
	}
	if (sync_stopping(s)) {
		pthread_mutex_unlock(&s->mongo_mu);
		return gb_errf(err, GB_ESTATE, "sync is stopping");
	}
	return 0;
}

void
mongo_unlock(struct sync *s)
{
	pthread_mutex_unlock(&s->mongo_mu);
}

void
sync_set_state(struct sync *s, enum sync_st st)
{
	atomic_store(&s->state, (int)st);
}

int
sync_stopping(struct sync *s)
{
	int stop;

	pthread_mutex_lock(&s->mu);
	stop = s->stop;
	pthread_mutex_unlock(&s->mu);
	return stop;
}

int
sync_sleep(struct sync *s, int64_t ms)
{
	struct timespec until;
	int stop;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&s->mu);
	while (!s->stop && pthread_cond_timedwait(&s->cv, &s->mu, &until) == 0)
		;
	stop = s->stop;
	pthread_mutex_unlock(&s->mu);
	return stop;
}
