/*
 * internal.h - what the files of the sync floor share: the struct sync
 * itself, one thread's handles (struct sync_ctx), JSON <-> BSON, the MongoDB
 * pool and its errors, and the rounds (push, pull, take) each thread runs.
 *
 * Locking: struct sync's mu guards stop and the condition the threads sleep
 * on; state and the counters are atomics, read by any thread. A sync_ctx
 * belongs to the one thread that made it.
 */
#ifndef GB_SYNC_INTERNAL_H
#define GB_SYNC_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>
#include <mongoc/mongoc.h>

#include "../base/err.h"
#include "../storage/outbox.h"
#include "../storage/store.h"
#include "redis.h"
#include "sync.h"

enum sync_st { SYNC_ST_OFF, SYNC_ST_OK, SYNC_ST_OFFLINE, SYNC_ST_ERROR, SYNC_ST_AUTH };

#define SYNC_THREADS_MAX 4

struct sync;
struct sync_targ {
	struct sync *s;
	int role;			/* index into sync.c's roles */
};

struct sync {
	struct sync_config cfg;		/* strings point into owned copies below */
	char *owned[8 + SYNC_MAX_ORGS];
	int nowned;
	mongoc_client_pool_t *pool;	/* NULL when sync is off */
	char uri_safe[512];		/* the URI without its password, for messages */
	char user[128];			/* the URI's user name, "" without */

	pthread_mutex_t mu;		/* guards stop; cv is signalled on stop */
	/*
	 * Held around every exchange with MongoDB (a bulk, a find and its
	 * cursor): libmongoc 1.23's pooled clients race inside the shared
	 * topology when two of them fail at once (ThreadSanitizer shows a
	 * server description freed by one while another reads it), so the
	 * threads take turns; they talk to one cluster anyway. mu is taken
	 * under it only for a look at stop (never the other way round).
	 */
	pthread_mutex_t mongo_mu;
	pthread_cond_t cv;
	int stop;
	pthread_t threads[SYNC_THREADS_MAX];
	struct sync_targ targ[SYNC_THREADS_MAX];
	int nthreads;

	atomic_int state;		/* enum sync_st */
	atomic_llong commands, bytes_out, bytes_in;	/* MongoDB round trips, bytes */
	atomic_llong skew_ms;		/* MongoDB's clock - the box's, by the monitor */
	atomic_int skew_known;
};

/* One thread's handles: its own store, MongoDB client and Redis connection. */
struct sync_ctx {
	struct sync *s;
	struct store *st;
	mongoc_client_t *client;	/* popped from s->pool; NULL when off */
	struct sync_redis *redis;	/* NULL without redis_url or when it failed */
	int64_t max_bson;		/* the server's maxBsonObjectSize, 0 unknown */
	int64_t locks_ms;		/* Redis thread: when the locks were last extended */
	int64_t undated[COLL_COUNT];	/* pull: the last count logged */
	int64_t undated_ms[COLL_COUNT];	/* pull: when it was counted (0: never) */
	int skew_noted;			/* the clock skew was recorded by this context */
	int64_t skew_ms;		/* ... as this */
};

int sync_ctx_open(struct sync_ctx *c, struct sync *s, struct gb_err *err);
void sync_ctx_close(struct sync_ctx *c);

/* bsonconv.c: the store's Extended JSON <-> BSON */
/* *out new (bson_destroy), NULL on error */
int bsonconv_from_json(const char *json, size_t len, bson_t **out, struct gb_err *err);
/* *out malloc'd (caller frees), *len its length */
int bsonconv_to_json(const bson_t *b, char **out, size_t *len, struct gb_err *err);
/* The same with dates as the store keeps them (bare ISO-8601 text): for store_sync_apply */
int bsonconv_to_store(const bson_t *b, char **out, size_t *len, struct gb_err *err);
/* dst (uninitialised) = src with metadata.appliance_id set to id */
int bsonconv_set_appliance(const bson_t *src, const char *id, bson_t *dst, struct gb_err *err);

/* mongo.c: the pool, errors, backoff */
int mongo_pool_new(struct sync *s, struct gb_err *err);
/*
 * Turn a driver error into err and the state: GB_EPERM for bad credentials
 * (state auth), GB_ETRANSIENT for an unreachable or failing cluster (state
 * offline), GB_EIO otherwise (state error). what names the operation.
 */
int mongo_fail(struct sync *s, const bson_error_t *e, const char *what, struct gb_err *err);
enum mongo_err { MONGO_ERR_OTHER, MONGO_ERR_OFFLINE, MONGO_ERR_AUTH };
enum mongo_err mongo_error_kind(const bson_error_t *e);
/* Is this server error code a permanent refusal of one document? */
int mongo_code_permanent(int32_t code);
/*
 * The server's maxBsonObjectSize (selecting a server once; the clock skew
 * the monitor saw goes to sync_meta clock_skew_ms): 0, or -1 with e set.
 */
int mongo_max_bson(struct sync_ctx *c, int64_t *max, bson_error_t *e);
/*
 * The clock skew the pool's monitor measures (MongoDB's clock less the
 * box's) into sync_meta clock_skew_ms when this context has not recorded it
 * yet or it moved by half a second since, with a warning in the log
 * beyond SYNC_SKEW_WARN_MS: at connect and after each push round, so a clock
 * set right (or going wrong) shows without a restart.
 */
void mongo_note_skew(struct sync_ctx *c);
mongoc_collection_t *mongo_coll(struct sync_ctx *c, enum coll coll);
/* Milliseconds to wait after fails failures in a row (jitter included). */
int64_t sync_backoff_ms(const struct sync *s, int fails, int auth);
void sync_set_state(struct sync *s, enum sync_st st);
void mongo_lock(struct sync *s);
/*
 * mongo_lock, unless sync is stopping (checked before, while waiting, and
 * once the lock is taken): 0 with the lock held, or GB_ESTATE "sync is
 * stopping" without it. Every exchange with MongoDB goes through it, so
 * sync_stop waits for the one exchange in flight at most.
 */
int mongo_enter(struct sync *s, struct gb_err *err);
void mongo_unlock(struct sync *s);
/* A ping (server selection and authentication): 0 or mongo_fail's error. */
int mongo_ping(struct sync_ctx *c, struct gb_err *err);
/* Sleep ms or until sync_stop; 1 when stopping. */
int sync_sleep(struct sync *s, int64_t ms);
int sync_stopping(struct sync *s);

/*
 * push.c: one round of at most SYNC_PUSH_BATCH rows: *sent rows taken (0:
 * empty outbox), *settled of them left the outbox (added to), *pushed of
 * them written to MongoDB (added to).
 */
int push_round(struct sync_ctx *c, int *sent, int64_t *settled, int64_t *pushed,
    struct gb_err *err);
/* pull.c: pull coll from its checkpoint, at most *pages pages (0: no limit) */
int pull_coll(struct sync_ctx *c, enum coll coll, int max_pages, int *pages, int64_t *pulled,
    struct gb_err *err);

/* One page of a pull: the documents read, as the store takes them. */
struct pull_doc {
	char *json;			/* malloc'd; NULL when refused (error says why) */
	size_t len;
	char id[STORE_ID_MAX];		/* a non-string _id as Extended JSON: {"$oid":"..."} */
	char org[STORE_ID_MAX];		/* components: for the registry cache */
	int beyond;			/* after the round's checkpoint (not a look-back) */
	char error[160];		/* why the box refuses it ("": it does not) */
};
struct pull_page {
	struct pull_doc *docs;		/* n converted (of seen read) */
	int n, seen;
	int64_t last_ms;		/* the last document's updated_at: the checkpoint */
	char last_id[STORE_ID_MAX];
	int64_t applied, conflicts, skipped;
	int beyond;			/* documents after the round's checkpoint */
	size_t bytes;			/* the JSON of the docs */
};
/*
 * pullfetch.c: the pages of one pull of coll after from, read by a thread
 * of its own with c's MongoDB client while the caller (c's thread, the
 * store's owner) applies them; at most PULL_AHEAD pages are read ahead
 * (pullfetch.c). Between
 * pull_fetch_start and pull_fetch_free only the reader uses c->client.
 */
struct pull_fetch;
int pull_fetch_start(struct sync_ctx *c, enum coll coll, const struct pull_checkpoint *from,
    struct pull_fetch **out, struct gb_err *err);
/*
 * The next page in (updated_at, _id) order; *pg NULL at the end. An error
 * of the reader comes after the pages read before it. The caller hands
 * every page back with pull_fetch_release before asking for the next.
 */
int pull_fetch_next(struct pull_fetch *f, struct pull_page **pg, struct gb_err *err);
void pull_fetch_release(struct pull_fetch *f, struct pull_page *pg);
/* Stop the reader (a page it was reading is dropped), wait for it, free; NULL is fine. */
void pull_fetch_free(struct pull_fetch *f);
/*
 * redis.c, for the box as a whole: worker_heartbeat:{worker_id} (the id of
 * its cluster locks), status busy when a live local worker is, else idle,
 * processing_count the sum of theirs, host this host; EXPIRE 60.
 */
int sync_redis_box_heartbeat(struct sync_redis *r, struct store *st, const char *worker_id,
    int64_t now_ms, struct gb_err *err);
/* Who holds worker_lock:{ctx_id}: holder "" when nobody. */
int sync_redis_lock_holder(struct sync_redis *r, const char *ctx_id, char *holder, size_t size,
    struct gb_err *err);
/*
 * After pull_fetch_next gave the reader's error: the state (enum sync_st)
 * that error calls for, which the reader leaves to the caller to set once
 * it has recorded the error; -1 for none.
 */
int pull_fetch_fail_state(struct pull_fetch *f);
/*
 * The documents of coll in the pull's scope whose updated_at is missing or
 * not a BSON Date: the pull's filter never matches them. One count on the
 * cluster, with c's client (no reader running): it reads every document of
 * the organizations in the collection, so it is asked apart from the pull
 * (pull_undated), not by every round.
 */
#define PULL_UNDATED_EVERY_MS (3600 * 1000)
int pull_count_undated(struct sync_ctx *c, enum coll coll, int64_t *n, struct gb_err *err);
/*
 * pull_count_undated of every collection into the status (a warning in the
 * log when it changes or fails); due_only: only those not counted by c in
 * the last PULL_UNDATED_EVERY_MS.
 */
void pull_undated(struct sync_ctx *c, int due_only);

/* take.c */
int take_round(struct sync_ctx *c, int *taken, struct gb_err *err);

#endif
