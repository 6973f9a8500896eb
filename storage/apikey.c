/*
 * apikey.c - API key rows, and the user document's api_keys array kept in
 * step with them (created: an entry added; revoked: its entry dropped). The
 * secret's hash never goes into the document.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/gbtime.h"
#include "apikey.h"
#include "internal.h"

#define KEY_COLS "key_id, secret_hash, user_id, organization_id, name, permissions, created_ms, " \
	"last_used_ms, revoked_ms"
#define KEY_INSERT_SQL \
	"INSERT INTO api_keys (" KEY_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, NULL)"
#define KEY_GET_SQL "SELECT " KEY_COLS " FROM api_keys WHERE key_id = ?1"
#define KEY_REVOKE_SQL "UPDATE api_keys SET revoked_ms = COALESCE(revoked_ms, ?2) WHERE key_id = ?1"
#define KEY_TOUCH_SQL "UPDATE api_keys SET last_used_ms = ?2 WHERE key_id = ?1 " \
	"AND (last_used_ms IS NULL OR last_used_ms <= ?2 - ?3)"
#define KEY_EACH_SQL \
	"SELECT " KEY_COLS " FROM api_keys WHERE (?1 IS NULL OR organization_id = ?1) " \
	"AND (?2 IS NULL OR user_id = ?2) ORDER BY created_ms, key_id"

static void
key_copy(char *dst, size_t size, const unsigned char *src)
{
	snprintf(dst, size, "%s", src ? (const char *)src : "");
}

static void
key_read(sqlite3_stmt *stmt, struct store_apikey *k)
{
	const unsigned char *perm;

	memset(k, 0, sizeof(*k));
	key_copy(k->key_id, sizeof(k->key_id), sqlite3_column_text(stmt, 0));
	key_copy(k->secret_hash, sizeof(k->secret_hash), sqlite3_column_text(stmt, 1));
	key_copy(k->user_id, sizeof(k->user_id), sqlite3_column_text(stmt, 2));
	key_copy(k->organization_id, sizeof(k->organization_id), sqlite3_column_text(stmt, 3));
	key_copy(k->name, sizeof(k->name), sqlite3_column_text(stmt, 4));
	perm = sqlite3_column_text(stmt, 5);
	k->write = perm && strcmp((const char *)perm, "read,write") == 0;
	k->created_ms = sqlite3_column_int64(stmt, 6);
	k->last_used_ms = sqlite3_column_int64(stmt, 7);
	k->revoked_ms = sqlite3_column_int64(stmt, 8);
}

/* The user's document with its api_keys entry for k added (add) or dropped, written back. */
static int
user_keys_update(struct store *st, const char *user_id, const struct store_apikey *k, int add,
    char org[STORE_ID_MAX], struct gb_err *err)
{
	char *text = NULL, *out = NULL, when[GB_TIME_LEN];
	cJSON *doc = NULL, *keys, *e;
	const cJSON *o;
	int rc;

	if ((rc = store_get(st, COLL_USERS, user_id, &text, err)))
		return rc;
	if ((doc = cJSON_Parse(text)) == NULL) {
		rc = gb_errf(err, GB_EIO, "user '%s': stored document is not JSON", user_id);
		goto out;
	}
	o = cJSON_GetObjectItemCaseSensitive(doc, "organization_id");
	if (org &&
	    (!cJSON_IsString(o) || o->valuestring[0] == '\0' ||
	    strlen(o->valuestring) >= STORE_ID_MAX)) {
		rc = gb_errf(err, GB_EINVAL, "user '%s' has no organization_id", user_id);
		goto out;
	}
	if (org)
		snprintf(org, STORE_ID_MAX, "%s", o->valuestring);
	keys = cJSON_GetObjectItemCaseSensitive(doc, "api_keys");
	if (!cJSON_IsArray(keys)) {
		cJSON_DeleteItemFromObjectCaseSensitive(doc, "api_keys");
		if ((keys = cJSON_AddArrayToObject(doc, "api_keys")) == NULL)
			goto nomem;
	}
	for (int i = cJSON_GetArraySize(keys) - 1; i >= 0; i--) {
		const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetArrayItem(keys, i), "key_id"));

		if (id && strcmp(id, k->key_id) == 0)
			cJSON_DeleteItemFromArray(keys, i);
	}
	if (add) {
		cJSON *perms;

		if ((e = cJSON_CreateObject()) == NULL)
			goto nomem;
		cJSON_AddItemToArray(keys, e);
		if (!cJSON_AddStringToObject(e, "key_id", k->key_id) ||
		    !cJSON_AddStringToObject(e, "name", k->name) ||
		    !cJSON_AddStringToObject(e, "created_at",
		    gb_time_format(k->created_ms, when)) ||
		    !cJSON_AddNullToObject(e, "last_used_at") ||
		    (perms = cJSON_AddArrayToObject(e, "permissions")) == NULL)
			goto nomem;
		cJSON_AddItemToArray(perms, cJSON_CreateString("read"));
		if (k->write)
			cJSON_AddItemToArray(perms, cJSON_CreateString("write"));
	}
	if ((out = cJSON_PrintUnformatted(doc)) == NULL)
		goto nomem;
	rc = store_put(st, COLL_USERS, out, strlen(out), STORE_REPLACE, NULL, err);
	goto out;
nomem:
	rc = gb_errf(err, GB_ENOMEM, "out of memory");
out:
	free(out);
	cJSON_Delete(doc);
	free(text);
	return rc;
}

static int
key_insert(struct store *st, const struct store_apikey *k, struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc, step;

	if ((rc = store_stmt(st, KEY_INSERT_SQL, &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, k->key_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, k->secret_hash, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, k->user_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 4, k->organization_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 5, k->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 6, k->write ? "read,write" : "read", -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 7, k->created_ms);
	step = sqlite3_step(stmt);
	if (step == SQLITE_CONSTRAINT_PRIMARYKEY)
		rc = gb_errf(err, GB_EEXIST, "api key '%s' exists", k->key_id);
	else if (step != SQLITE_DONE)
		rc = store_sqlerr(st, err, "api key insert");
	sqlite3_reset(stmt);
	return rc;
}

int
store_apikey_create(struct store *st, struct store_apikey *k, struct gb_err *err)
{
	int rc;

	if (strncmp(k->key_id, "key_", 4) != 0 || strlen(k->secret_hash) != APIKEY_HASH_LEN)
		return gb_errf(err, GB_EINVAL, "api key: bad key_id or hash");
	if ((rc = store_begin(st, err)))
		return rc;
	if ((rc = user_keys_update(st, k->user_id, k, 1, k->organization_id, err)) ||
	    (rc = key_insert(st, k, err)) || (rc = store_commit(st, err)))
		store_rollback(st);
	return rc;
}

int
store_apikey_get(struct store *st, const char *key_id, struct store_apikey *out, struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc, step;

	if ((rc = store_stmt(st, KEY_GET_SQL, &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, key_id, -1, SQLITE_STATIC);
	step = sqlite3_step(stmt);
	if (step == SQLITE_ROW)
		key_read(stmt, out);
	else if (step == SQLITE_DONE)
		rc = gb_errf(err, GB_ENOTFOUND, "no api key '%s'", key_id);
	else
		rc = store_sqlerr(st, err, "api key");
	sqlite3_reset(stmt);
	return rc;
}

static int
key_exec(struct store *st, const char *sql, const char *key_id, int64_t a, int64_t b, int *changed,
    struct gb_err *err)
{
	sqlite3_stmt *stmt;
	int rc;

	if ((rc = store_stmt(st, sql, &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, key_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, a);
	if (sqlite3_bind_parameter_count(stmt) >= 3)
		sqlite3_bind_int64(stmt, 3, b);
	if (sqlite3_step(stmt) != SQLITE_DONE)
		rc = store_sqlerr(st, err, "api key update");
	else if (changed)
		*changed = sqlite3_changes(st->db) > 0;
	sqlite3_reset(stmt);
	return rc;
}

int
store_apikey_revoke(struct store *st, const char *key_id, const char *org, int64_t now_ms,
    struct gb_err *err)
{
	struct store_apikey k;
	int rc;

	if ((rc = store_begin(st, err)))
		return rc;
	if ((rc = store_apikey_get(st, key_id, &k, err)))
		goto fail;
	if (org && strcmp(org, k.organization_id) != 0) {
		rc = gb_errf(err, GB_ENOTFOUND, "no api key '%s'", key_id);
		goto fail;
	}
	if ((rc = key_exec(st, KEY_REVOKE_SQL, key_id, now_ms, 0, NULL, err)))
		goto fail;
	/* a user deleted since keeps no document to update */
	rc = user_keys_update(st, k.user_id, &k, 0, NULL, err);
	if (rc == GB_ENOTFOUND) {
		gb_err_clear(err);
		rc = 0;
	}
	if (rc || (rc = store_commit(st, err)))
		goto fail;
	return 0;
fail:
	store_rollback(st);
	return rc;
}

int
store_apikey_touch(struct store *st, const char *key_id, int64_t now_ms, int64_t min_gap_ms,
    int *written, struct gb_err *err)
{
	int changed = 0, rc;

	rc = key_exec(st, KEY_TOUCH_SQL, key_id, now_ms, min_gap_ms, &changed, err);
	if (written)
		*written = rc == 0 && changed;
	return rc;
}

int
store_apikey_each(struct store *st, const char *org, const char *user,
    int (*fn)(void *arg, const struct store_apikey *k), void *arg, struct gb_err *err)
{
	struct store_apikey *keys = NULL, *grown;
	sqlite3_stmt *stmt;
	size_t n = 0, cap = 0;
	int rc, step;

	if ((rc = store_stmt(st, KEY_EACH_SQL, &stmt, err)))
		return rc;
	sqlite3_bind_text(stmt, 1, org, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, user, -1, SQLITE_STATIC);
	while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			if ((grown = realloc(keys, cap * sizeof(*keys))) == NULL) {
				rc = gb_errf(err, GB_ENOMEM, "out of memory");
				break;
			}
			keys = grown;
		}
		key_read(stmt, &keys[n++]);
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = store_sqlerr(st, err, "api keys");
	sqlite3_reset(stmt);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = fn(arg, &keys[i]);
	free(keys);
	return rc;
}
