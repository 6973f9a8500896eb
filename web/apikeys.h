/*
 * apikeys.h - making API keys: the token the caller keeps
 * ("<key_id>.<secret>") and the row storage keeps (the SHA-256 of the
 * secret, never the secret). Used by POST /keys and `genbox apikey create`.
 */
#ifndef GB_WEB_APIKEYS_H
#define GB_WEB_APIKEYS_H

#include "../base/err.h"
#include "../storage/apikey.h"
#include "../storage/store.h"

#define APIKEY_SECRET_LEN 43		/* 32 random bytes in base64url, no padding */
#define APIKEY_TOKEN_MAX 80		/* "key_" + 16 hex + "." + 43 + NUL, with room */

/*
 * A new key for user_id (write: ["read","write"], else ["read"]) named name
 * (NULL: ""), stored, with its token into token (shown once, kept nowhere)
 * and its row into *out (may be NULL). GB_ENOTFOUND for an unknown user,
 * GB_EINVAL for a name too long or a user without organization, GB_EIO when
 * the system's random source fails.
 */
int apikey_new(struct store *st, const char *user_id, int write, const char *name, int64_t now_ms,
    char token[APIKEY_TOKEN_MAX], struct store_apikey *out, struct gb_err *err);

/* The hex SHA-256 of the secret of len bytes into hex. 0, or GB_EIO. */
int apikey_hash(const char *secret, size_t len, char hex[APIKEY_HASH_LEN + 1]);

#endif
