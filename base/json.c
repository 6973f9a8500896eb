/*
 * json.c - typed, range-checked access to cJSON members (see json.h).
 */
#include <math.h>

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
json_get_int64(const cJSON *o, const char *key, int64_t min, int64_t max, int64_t dflt, int64_t *out)
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
