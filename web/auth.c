/*
 * auth.c - API keys: making them, and checking the caller's on every
 * request that needs one.
 *
 * A token is "<key_id>.<secret>": key_id "key_" and 16 hex digits, the
 * secret 32 bytes of RAND_bytes in base64url. The secret is compared by its
 * SHA-256 in constant time (CRYPTO_memcmp). The key's user must exist and
 * be active; its role "admin" makes the caller an admin. last_used_at is
 * written at most once per AUTH_TOUCH_GAP_MS per key: the row read for the
 * check says when it was last written, and the UPDATE itself is conditional.
 * Secrets and Authorization headers are never logged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "../base/gbtime.h"
#include "../base/log.h"
#include "../storage/docs.h"
#include "apikeys.h"
#include "internal.h"

#define AUTH_TOUCH_GAP_MS 60000

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int
apikey_hash(const char *secret, size_t len, char hex[APIKEY_HASH_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (!EVP_Digest(secret, len, md, &n, EVP_sha256(), NULL) || n != 32)
		return GB_EIO;
	for (unsigned int i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}

/* 32 random bytes as 43 base64url characters: OpenSSL's base64, made URL-safe, no padding. */
static void
secret_encode(const unsigned char raw[32], char out[APIKEY_SECRET_LEN + 1])
{
	unsigned char b64[48];

	EVP_EncodeBlock(b64, raw, 32);		/* 44 characters, the last one '=' */
	for (int i = 0; i < APIKEY_SECRET_LEN; i++)
		out[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : (char)b64[i];
	out[APIKEY_SECRET_LEN] = '\0';
	OPENSSL_cleanse(b64, sizeof(b64));
}

int
apikey_new(struct store *st, const char *user_id, int write, const char *name, int64_t now_ms,
    char token[APIKEY_TOKEN_MAX], struct store_apikey *out, struct gb_err *err)
{
	unsigned char raw[32], idraw[8];
	char secret[APIKEY_SECRET_LEN + 1];
	struct store_apikey k;
	int rc;

	if (name && strlen(name) >= APIKEY_NAME_MAX)
		return gb_errf(err, GB_EINVAL, "a key name is at most %d bytes",
		    APIKEY_NAME_MAX - 1);
	if (strlen(user_id) >= STORE_ID_MAX)
		return gb_errf(err, GB_EINVAL, "user id is too long");
	if (RAND_bytes(raw, sizeof(raw)) != 1 || RAND_bytes(idraw, sizeof(idraw)) != 1)
		return gb_errf(err, GB_EIO, "the system's random source failed");
	memset(&k, 0, sizeof(k));
	memcpy(k.key_id, "key_", 4);
	for (int i = 0; i < 8; i++)
		snprintf(k.key_id + 4 + 2 * i, 3, "%02x", idraw[i]);
	secret_encode(raw, secret);
	OPENSSL_cleanse(raw, sizeof(raw));
	if (apikey_hash(secret, APIKEY_SECRET_LEN, k.secret_hash))
		return gb_errf(err, GB_EIO, "SHA-256 failed");
	snprintf(k.user_id, sizeof(k.user_id), "%s", user_id);
	snprintf(k.name, sizeof(k.name), "%s", name ? name : "");
	k.write = write;
	k.created_ms = now_ms;
	if ((rc = store_apikey_create(st, &k, err)) == 0) {
		snprintf(token, APIKEY_TOKEN_MAX, "%s.%s", k.key_id, secret);
		if (out)
			*out = k;
	}
	OPENSSL_cleanse(secret, sizeof(secret));
	return rc;
}

/* key_id and secret out of "key_<16 hex>.<43 base64url>"; 0 or -1. */
static int
token_split(const char *t, char key_id[APIKEY_ID_MAX], const char **secret)
{
	if (strncmp(t, "key_", 4) != 0 || strspn(t + 4, "0123456789abcdef") != 16 || t[20] != '.')
		return -1;
	if (strlen(t + 21) != APIKEY_SECRET_LEN || strspn(t + 21, b64url) != APIKEY_SECRET_LEN)
		return -1;
	memcpy(key_id, t, 20);
	key_id[20] = '\0';
	*secret = t + 21;
	return 0;
}

/*
 * The key's user: active, still in the key's organization, admin or not.
 * 0, or the 401/503 answered.
 */
static int
auth_user(struct web_req *r, const struct store_apikey *k)
{
	struct gb_err err = { 0, "" };
	char *text = NULL;
	cJSON *u;
	int rc;

	if ((rc = store_get(r->st, COLL_USERS, k->user_id, &text, &err))) {
		if (rc == GB_ENOTFOUND)
			return web_error(r, 401, "unauthorized", "the key's user does not exist");
		return web_store_error(r, &err);
	}
	u = cJSON_Parse(text);
	free(text);
	if (u == NULL || strcmp(json_str_or(u, "status"), "active") != 0) {
		cJSON_Delete(u);
		return web_error(r, 401, "unauthorized", "the key's user is not active");
	}
	/* a key is its organization's: a user moved since holds no key of the new one */
	if (strcmp(json_str_or(u, "organization_id"), k->organization_id) != 0) {
		cJSON_Delete(u);
		return web_error(r, 401, "unauthorized", "the key's user is no longer in the key's "
		    "organization");
	}
	r->caller.admin = strcmp(json_str_or(u, "role"), "admin") == 0;
	cJSON_Delete(u);
	return 0;
}

/* The key of the Authorization header, checked: 0, or the 401/503 answered. */
static int
auth_key(struct web_req *r, struct store_apikey *k)
{
	const char *h = mg_get_header(r->conn, "Authorization"), *secret;
	char key_id[APIKEY_ID_MAX], hash[APIKEY_HASH_LEN + 1];
	struct gb_err err = { 0, "" };
	int rc;

	if (h == NULL || h[0] == '\0')
		return web_error(r, 401, "unauthorized",
		    "an API key is required (Authorization: Bearer <key>)");
	if (strncasecmp(h, "Bearer ", 7) != 0)
		return web_error(r, 401, "unauthorized",
		    "the Authorization header must be 'Bearer <key>'");
	for (h += 7; *h == ' '; h++)
		;
	if (token_split(h, key_id, &secret))
		return web_error(r, 401, "unauthorized", "malformed API key");
	if ((rc = store_apikey_get(r->st, key_id, k, &err))) {
		if (rc == GB_ENOTFOUND)
			return web_error(r, 401, "unauthorized", "invalid API key");
		return web_store_error(r, &err);
	}
	if (apikey_hash(secret, APIKEY_SECRET_LEN, hash))
		return web_error(r, 500, "internal", "SHA-256 failed");
	if (CRYPTO_memcmp(hash, k->secret_hash, APIKEY_HASH_LEN) != 0)
		return web_error(r, 401, "unauthorized", "invalid API key");
	if (k->revoked_ms)
		return web_error(r, 401, "unauthorized", "the API key was revoked");
	return 0;
}

int
web_auth(struct web_req *r, enum web_perm perm)
{
	const char *m = r->ri->request_method;
	int reading = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
	struct gb_err err = { 0, "" };
	struct store_apikey k;
	int64_t now = gb_now_ms();
	char reason[sizeof(err.msg) + 8];
	int rc;

	if ((rc = auth_key(r, &k)) || (rc = auth_user(r, &k)))
		return rc;
	r->caller.authed = 1;
	snprintf(r->caller.key_id, sizeof(r->caller.key_id), "%s", k.key_id);
	snprintf(r->caller.user_id, sizeof(r->caller.user_id), "%s", k.user_id);
	snprintf(r->caller.org_id, sizeof(r->caller.org_id), "%s", k.organization_id);
	r->caller.write = k.write;
	if (now - k.last_used_ms >= AUTH_TOUCH_GAP_MS &&
	    store_apikey_touch(r->st, k.key_id, now, AUTH_TOUCH_GAP_MS, NULL, &err))
		log_warnx("event=apikey_touch key_id=%s status=failed reason=%s", k.key_id,
		    log_quoted(reason, sizeof(reason), err.msg));
	if ((!reading || perm >= PERM_WRITE) && !k.write && !(perm == PERM_ADMIN && reading))
		return web_error(r, 403, "forbidden",
		    "this key may only read (it lacks the write permission)");
	if (perm == PERM_ADMIN && !r->caller.admin)
		return web_error(r, 403, "forbidden", "only an admin may do this");
	return 0;
}

void
web_audit(struct web_req *r)
{
	const char *object = r->object[0] ? r->object : r->nparams ? r->params[0] : "-";
	char route[256], obj[2 * STORE_ID_MAX + 8];

	/* quoted: an _id may hold spaces and "key=" text of its own */
	log_info("event=api_change key_id=%s method=%s route=%s object=%s status=%d",
	    r->caller.key_id, r->route->method, log_quoted(route, sizeof(route), r->route->pattern),
	    log_quoted(obj, sizeof(obj), object), r->status);
}
