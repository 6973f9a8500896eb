/*
 * apikey.h - the API's keys: one row per key (its id, the SHA-256 of its
 * secret in hex, never the secret; the user and organization it belongs to;
 * its permissions; when it was made, last used and revoked). The user
 * document's `api_keys` array (key_id, name, created_at, last_used_at,
 * permissions) is kept in step as keys are created and revoked. Making the
 * secret and checking a token are web/auth.h's.
 *
 * All functions return 0 or a negative GB_E* code with a message in err.
 */
#ifndef GB_STORAGE_APIKEY_H
#define GB_STORAGE_APIKEY_H

#include <stdint.h>

#include "store.h"

#define APIKEY_ID_MAX	24		/* "key_" + 16 hex digits + NUL, with room */
#define APIKEY_HASH_LEN	64		/* hex SHA-256 */
#define APIKEY_NAME_MAX	128		/* bytes of a name, NUL included */

struct store_apikey {
	char key_id[APIKEY_ID_MAX];
	char secret_hash[APIKEY_HASH_LEN + 1];
	char user_id[STORE_ID_MAX];
	char organization_id[STORE_ID_MAX];
	char name[APIKEY_NAME_MAX];
	int write;			/* permissions: 0 ["read"], 1 ["read","write"] */
	int64_t created_ms;
	int64_t last_used_ms;		/* 0: never */
	int64_t revoked_ms;		/* 0: live */
};

/*
 * Insert key k (its organization_id is the user's, read here) and add its
 * entry to the user's api_keys, in one transaction. GB_ENOTFOUND when the
 * user does not exist, GB_EINVAL when it has no organization_id, GB_EEXIST
 * for a key_id in use.
 */
int store_apikey_create(struct store *st, struct store_apikey *k, struct gb_err *err);
/* The key key_id into *out; GB_ENOTFOUND when absent. */
int store_apikey_get(struct store *st, const char *key_id, struct store_apikey *out,
    struct gb_err *err);
/*
 * Revoke key_id at now_ms and drop its entry from the user's api_keys, in
 * one transaction. GB_ENOTFOUND when absent (or of another organization when
 * org is not NULL); a key already revoked keeps its first revocation time.
 */
int store_apikey_revoke(struct store *st, const char *key_id, const char *org, int64_t now_ms,
    struct gb_err *err);
/*
 * Record a use at now_ms, written only when the last recorded use is older
 * than min_gap_ms; *written (may be NULL) says whether it was.
 */
int store_apikey_touch(struct store *st, const char *key_id, int64_t now_ms, int64_t min_gap_ms,
    int *written, struct gb_err *err);
/*
 * fn for every key of org (and of user when not NULL; org NULL: every key),
 * by created time then key_id. The keys are read first, so fn may use st.
 * A non-zero return from fn stops the walk and is returned.
 */
int store_apikey_each(struct store *st, const char *org, const char *user,
    int (*fn)(void *arg, const struct store_apikey *k), void *arg, struct gb_err *err);

#endif
