/*
 * docs.h - whole documents of every collection: validated and normalised
 * writes, reads by _id, counts, and filtered walks in a small MongoDB-style
 * filter language.
 *
 * All functions return 0 or a negative GB_E* code with a message in err.
 */
#ifndef GB_STORAGE_DOCS_H
#define GB_STORAGE_DOCS_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define STORE_MAX_DOC	(16u * 1024 * 1024)	/* MongoDB's document limit, on the JSON text */

enum store_put_mode {
	STORE_INSERT,		/* a duplicate _id is GB_EEXIST */
	STORE_UPSERT,		/* replace the document with the same _id, or insert */
	STORE_REPLACE,		/* the _id must exist: GB_ENOTFOUND otherwise */
};

/*
 * Validate, normalise and write one JSON document (text of len bytes; it may
 * be MongoDB Extended JSON: $date, $numberLong, $numberInt, $numberDouble and
 * $oid are turned into plain values). Dates at the collection's date paths
 * become ISO-8601 UTC with milliseconds; a missing _id is generated with the
 * collection's prefix, missing created_at/updated_at are set to now, and a
 * context without status is pending. Integers keep their exact text. The
 * stored _id is copied to id_out when not NULL. Nothing is written on error;
 * the message names the field and the reason.
 */
int store_put(struct store *st, enum coll c, const char *text, size_t len,
    enum store_put_mode mode, char id_out[STORE_ID_MAX], struct gb_err *err);

/* A top-level string field for store_set_fields. */
struct store_field {
	const char *name;
	const char *value;
};

/*
 * text with the n top-level string fields set (added, or replacing what is
 * there), through SQLite's json_set, so every other value keeps its exact
 * text (integers beyond 2^53 included); *out is malloc'd. text must be a
 * JSON object.
 */
int store_set_fields(struct store *st, const char *text, size_t len, const struct store_field *f,
    int n, char **out, struct gb_err *err);

/*
 * Validate and normalise without writing: *out receives the document as it
 * would be stored (caller frees with free()). Used by import's dry checks.
 */
int store_normalize(struct store *st, enum coll c, const char *text, size_t len,
    char **out, char id_out[STORE_ID_MAX], struct gb_err *err);

/* The whole document with _id id; caller frees *out with free(). GB_ENOTFOUND when absent. */
int store_get(struct store *st, enum coll c, const char *id, char **out, struct gb_err *err);
/* Delete by _id; GB_ENOTFOUND when absent. */
int store_delete(struct store *st, enum coll c, const char *id, struct gb_err *err);
/* Number of documents in a collection. */
int store_count(struct store *st, enum coll c, int64_t *n, struct gb_err *err);

/*
 * Call fn for every document of c matching filter, in _id order. filter is a
 * MongoDB-style JSON object of dotted paths to scalars or to operator objects
 * ($eq $ne $gt $gte $lt $lte $in $nin $exists), or NULL for all. doc is
 * borrowed for the call. A non-zero return from fn stops the walk and is
 * returned. extjson: dates at the collection's date paths come as {"$date": ...}.
 */
typedef int (*store_doc_fn)(void *arg, const char *doc, size_t len);
int store_each(struct store *st, enum coll c, const char *filter, int extjson,
    store_doc_fn fn, void *arg, struct gb_err *err);

/*
 * Split a JSON array text into its elements, keeping each element's text
 * exactly (integers beyond 2^53 included). fn gets element i (0-based).
 */
typedef int (*store_elem_fn)(void *arg, size_t i, const char *elem, size_t len);
int store_json_array_each(struct store *st, const char *text, size_t len,
    store_elem_fn fn, void *arg, struct gb_err *err);

/*
 * Insert many documents of c in one transaction: all or none. On error
 * *failed (when not NULL) is the index of the document at fault.
 */
int store_put_many(struct store *st, enum coll c, const char *const *texts, const size_t *lens,
    size_t n, enum store_put_mode mode, size_t *failed, struct gb_err *err);

#endif
