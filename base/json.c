/*
 * json.c - typed, range-checked access to cJSON members (see json.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "json.h"

const char *
json_get_str(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

double
json_get_number(const cJSON *o, const char *key, double dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

int
json_to_int64(double v, int64_t min, int64_t max, int64_t *out)
{
	int64_t i;

	/* 2^63 is exact as a double; everything below it converts without UB */
	if (!isfinite(v) || v < -9223372036854775808.0 || v >= 9223372036854775808.0)
		return GB_EINVAL;
	i = (int64_t)v;
	if (i < min || i > max)
		return GB_EINVAL;
	*out = i;
	return 0;
}

static int
json_number_int64(const cJSON *v, int64_t min, int64_t max, int64_t dflt, int64_t *out)
{
	*out = dflt;
	if (!cJSON_IsNumber(v))
		return GB_ENOTFOUND;
	if (json_to_int64(v->valuedouble, min, max, out)) {
		*out = dflt;
		return GB_EINVAL;
	}
	return 0;
}

int
json_get_int64(const cJSON *o, const char *key, int64_t min, int64_t max, int64_t dflt,
    int64_t *out)
{
	return json_number_int64(cJSON_GetObjectItemCaseSensitive(o, key), min, max, dflt, out);
}

int
json_get_int(const cJSON *o, const char *key, int min, int max, int dflt, int *out)
{
	int64_t v;
	int rc = json_get_int64(o, key, min, max, dflt, &v);

	*out = (int)v;
	return rc;
}

cJSON *
json_member_object(cJSON *parent, const char *key)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(parent, key);

	if (cJSON_IsObject(v))
		return v;
	if (v)
		cJSON_DeleteItemFromObjectCaseSensitive(parent, key);
	return cJSON_AddObjectToObject(parent, key);
}

int
json_member_replace(cJSON *parent, const char *key, cJSON *item)
{
	if (item == NULL)
		return GB_ENOMEM;
	if (!cJSON_IsObject(parent)) {
		cJSON_Delete(item);
		return GB_EINVAL;
	}
	if (cJSON_GetObjectItemCaseSensitive(parent, key))
		return cJSON_ReplaceItemInObjectCaseSensitive(parent, key, item) ? 0 : GB_ENOMEM;
	return cJSON_AddItemToObject(parent, key, item) ? 0 : GB_ENOMEM;
}

static int
json_key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int
json_dup_member(const cJSON *o, const char **key)
{
	const char **keys;
	const cJSON *c;
	size_t n = 0, i = 0;
	int found = 0;

	cJSON_ArrayForEach(c, o)
		n++;
	if (n <= 8) {	/* a few keys: compared pairwise */
		for (c = o->child; c; c = c->next)
			for (const cJSON *d = c->next; d; d = d->next)
				if (strcmp(c->string, d->string) == 0) {
					*key = c->string;
					return 1;
				}
		return 0;
	}
	if ((keys = malloc(n * sizeof(*keys))) == NULL)
		return GB_ENOMEM;
	cJSON_ArrayForEach(c, o)
		keys[i++] = c->string;
	qsort(keys, n, sizeof(*keys), json_key_cmp);
	for (i = 1; i < n && !found; i++)
		if (strcmp(keys[i - 1], keys[i]) == 0) {
			*key = keys[i];
			found = 1;
		}
	free(keys);
	return found;
}

int
json_dup_key(const cJSON *j, const char **key)
{
	const cJSON *c;
	int rc;

	if (cJSON_IsObject(j) && (rc = json_dup_member(j, key)) != 0)
		return rc;
	if (cJSON_IsObject(j) || cJSON_IsArray(j))
		cJSON_ArrayForEach(c, j)
			if ((rc = json_dup_key(c, key)) != 0)
				return rc;
	return 0;
}

int
json_same(const cJSON *a, const cJSON *b)
{
	const cJSON *x, *y;

	if (a == NULL || b == NULL || (a->type & 0xff) != (b->type & 0xff))
		return a == b;
	if (cJSON_IsNumber(a))
		return a->valuedouble == b->valuedouble;
	if (cJSON_IsString(a) || cJSON_IsRaw(a))
		return a->valuestring && b->valuestring ?
		    strcmp(a->valuestring, b->valuestring) == 0 : a->valuestring == b->valuestring;
	if (!cJSON_IsArray(a) && !cJSON_IsObject(a))
		return 1;	/* null, true, false: the type says it all */
	for (x = a->child, y = b->child; x && y; x = x->next, y = y->next) {
		if (cJSON_IsObject(a) && (x->string == NULL || y->string == NULL ||
		    strcmp(x->string, y->string) != 0))
			return 0;
		if (!json_same(x, y))
			return 0;
	}
	return x == NULL && y == NULL;
}
