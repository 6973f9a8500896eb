/*
 * json.h - small helpers over cJSON for reading documents whose shape is
 * not trusted: members of a given type or nothing, numbers checked against
 * a range before any conversion to an integer (a hostile 1e300 never meets
 * a cast), and get-or-create / replace for writing members.
 *
 * Pure functions on caller-owned trees; safe from any thread on trees the
 * thread owns.
 */
#ifndef GB_JSON_H
#define GB_JSON_H

#include <stdint.h>

#include <cjson/cJSON.h>

/* The string member key of o, or NULL (absent, not a string, o NULL). Borrowed. */
const char *json_get_str(const cJSON *o, const char *key);

/*
 * The number member key of o, or dflt when absent or not a number (NAN is
 * a fine dflt: "not given").
 */
double json_get_number(const cJSON *o, const char *key, double dflt);

/*
 * Convert v to an integer in [min, max], truncating a fraction: 0, or
 * GB_EINVAL for NaN, infinities and values outside the range (checked on the
 * double, before any cast).
 */
int json_to_int64(double v, int64_t min, int64_t max, int64_t *out);

/*
 * The integer member key of o within [min, max]: 0 and *out set;
 * GB_ENOTFOUND when absent or not a number (*out = dflt); GB_EINVAL when out
 * of range (*out = dflt).
 */
int json_get_int64(const cJSON *o, const char *key, int64_t min, int64_t max, int64_t dflt,
    int64_t *out);
int json_get_int(const cJSON *o, const char *key, int min, int max, int dflt, int *out);

/*
 * The object member key of parent, created (replacing a member of another
 * type) when missing. NULL only when out of memory.
 */
cJSON *json_member_object(cJSON *parent, const char *key);

/*
 * Set parent[key] to item, replacing what is there; item is taken (deleted on
 * failure). NULL-safe.
 */
int json_member_replace(cJSON *parent, const char *key, cJSON *item);

/*
 * The first key that an object anywhere in j holds twice (keys compared as
 * cJSON decoded them, escapes undone: "a\u0062" and "ab" are the same key):
 * 1 with *key borrowed from j, 0 when every object's keys differ, GB_ENOMEM.
 * Readers disagree on such an object (the first or the last wins), so input
 * that will be checked by one and stored or read by another must not hold
 * one.
 */
int json_dup_key(const cJSON *j, const char **key);
/* The same for the members of the object o alone, not the objects inside them. */
int json_dup_member(const cJSON *o, const char **key);

/*
 * Whether a and b are the same tree: the same types, object keys in the
 * same order, equal strings and numbers. Linear in their size (cJSON_Compare
 * looks each key up, which is quadratic in an object's size).
 */
int json_same(const cJSON *a, const cJSON *b);

#endif
