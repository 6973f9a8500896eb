/*
 * mongo.c - the soak's look at the cluster once sync has settled: every
 * context of the cluster's genbox.contexts (only _id and status), each
 * acknowledged soak context looked for among them. Missing ones are lost
 * on the way to MongoDB; ones there with another status than completed are
 * counted apart (the box completed them all before this check runs).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mongoc/mongoc.h>

#include "../lib/benchlib.h"
#include "soak.h"

#define PRINT_MAX 20

/* Marks in seen (1 there, 2 there and completed) every soak context of the cluster. */
static int
read_all(const struct soak *s, unsigned char *seen)
{
	mongoc_client_t *cl = mongoc_client_new(s->mongo_uri);
	mongoc_collection_t *c;
	mongoc_cursor_t *cur;
	bson_t *filter, *opts;
	const bson_t *doc;
	bson_error_t e;
	int rc = 0;

	if (cl == NULL)
		return -1;
	c = mongoc_client_get_collection(cl, "genbox", "contexts");
	filter = BCON_NEW("_id", "{", "$gte", BCON_UTF8(SOAK_ID_PREFIX), "}");
	opts = BCON_NEW("projection", "{", "_id", BCON_INT32(1), "status", BCON_INT32(1), "}",
	    "batchSize", BCON_INT32(5000));
	cur = mongoc_collection_find_with_opts(c, filter, opts, NULL);
	while (mongoc_cursor_next(cur, &doc)) {
		bson_iter_t it;
		int id, done = 0;

		if (!bson_iter_init_find(&it, doc, "_id") || !BSON_ITER_HOLDS_UTF8(&it) ||
		    sscanf(bson_iter_utf8(&it, NULL), SOAK_ID_FMT, &id) != 1 || id < 0 ||
		    id >= s->max_ids)
			continue;
		if (bson_iter_init_find(&it, doc, "status") && BSON_ITER_HOLDS_UTF8(&it))
			done = strcmp(bson_iter_utf8(&it, NULL), "completed") == 0;
		seen[id] = done ? 2 : 1;
	}
	if (mongoc_cursor_error(cur, &e)) {
		soak_say("soak mongodb: %s", e.message);
		rc = -1;
	}
	mongoc_cursor_destroy(cur);
	bson_destroy(filter);
	bson_destroy(opts);
	mongoc_collection_destroy(c);
	mongoc_client_destroy(cl);
	return rc;
}

int
soak_mongo_check(struct soak *s, struct soak_mongo_check *m, int print)
{
	unsigned char *seen = calloc((size_t)s->max_ids, 1);
	int n = atomic_load(&s->next_id);

	memset(m, 0, sizeof(*m));
	if (seen == NULL || read_all(s, seen)) {
		free(seen);
		return -1;
	}
	for (int id = 0; id < n && id < s->max_ids; id++) {
		if (!atomic_load(&s->acked[id]))
			continue;
		m->checked++;
		if (seen[id] == 0 && m->missing++ < PRINT_MAX && print)
			soak_say("soak LOST " SOAK_ID_FMT " was acknowledged (201) and is not in "
			    "MongoDB", id);
		if (seen[id] == 1 && m->not_completed++ < PRINT_MAX && print)
			soak_say("soak " SOAK_ID_FMT " is in MongoDB but not completed there", id);
	}
	free(seen);
	return 0;
}
