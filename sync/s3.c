/*
 * s3.c - the S3 client of s3.h over libcurl's easy interface.
 *
 * Requests are path-style (endpoint/bucket/key). libcurl 7.88 signs them
 * (CURLOPT_AWS_SIGV4 "aws:amz:REGION:s3") but leaves three things to us:
 * the x-amz-content-sha256 header (the hex SHA-256 of the body, which it
 * then also uses in the signature), object keys percent-encoded in the path
 * (as SigV4's canonical URI wants them), and the query string, which it
 * signs as written: we write it sorted by name with encoded values.
 *
 * Time limits: a connection within timeout_ms; a request whose body is in
 * memory ends within timeout_ms; streamed ones (a file up, any GET down)
 * may take longer but fail once nothing moves for timeout_ms (curl's
 * low-speed limit), so a stopped server is an error, never a hang.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "../base/buf.h"
#include "s3.h"

#define S3_ERRBODY_MAX (64 * 1024)	/* an error answer kept for its <Code> */
#define S3_LISTBODY_MAX (16 << 20)	/* one page of ListObjectsV2 */
#define S3_LIST_PAGES_MAX 100000	/* 100 million keys */
#define S3_KEY_MAX 2048

struct s3 {
	CURL *curl;
	char *endpoint;			/* without a trailing '/' */
	char *access_key;
	char *secret_key;
	char sigv4[96];			/* aws:amz:REGION:s3 */
	long timeout_ms;
	char errbuf[CURL_ERROR_SIZE];
};

/* One request: what goes up, where what comes down goes. */
struct s3_req {
	CURL *curl;
	const char *method;		/* GET PUT HEAD DELETE */
	const char *bucket;
	const char *key;		/* NULL: the bucket itself */
	const char *query;		/* sorted and encoded, or NULL */
	const char *what;		/* for messages, when not s3://bucket[/key] */
	const char *body;		/* PUT from memory... */
	size_t len, off;
	int fd;				/* ... or from fd when >= 0 */
	int64_t size, sent;
	const char *sha;		/* hex SHA-256 of the body */
	int streamed;			/* no overall time limit (see above) */
	/* a 2xx body goes to sink; any other into errbody */
	int (*sink)(const void *data, size_t len, void *arg, struct gb_err *err);
	void *arg;
	struct buf errbody;
	struct gb_err sink_err;		/* why sink or the file stopped the transfer */
	long status;
	int64_t length;			/* Content-Length of the answer, -1 unknown */
};

static pthread_once_t s3_curl_once = PTHREAD_ONCE_INIT;
static CURLcode s3_curl_rc;

static void
s3_curl_init(void)
{
	s3_curl_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

void
s3_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
	for (unsigned int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", i < n ? md[i] : 0);
	out[64] = '\0';
}

/* Percent-encode s as SigV4 wants it (RFC 3986 unreserved kept; '/' kept when slash). */
static int
s3_encode(struct buf *b, const char *s, int slash)
{
	static const char hex[] = "0123456789ABCDEF";
	int rc = 0;

	for (; *s && rc == 0; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[3] = { '%', hex[c >> 4], hex[c & 15] };

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~' || (slash && c == '/'))
			rc = buf_append(b, s, 1);
		else
			rc = buf_append(b, esc, 3);
	}
	return rc;
}

/* endpoint for a message: a user:password@ in it shown as ****@ */
static void
endpoint_masked(const char *endpoint, char *out, size_t size)
{
	const char *at = strrchr(endpoint, '@'), *from = strstr(endpoint, "://");

	from = from ? from + 3 : endpoint;
	if (at == NULL || at < from)
		snprintf(out, size, "%s", endpoint);
	else
		snprintf(out, size, "%.*s****%s", (int)(from - endpoint), endpoint, at);
}

int
s3_open(struct s3 **out, const char *endpoint, const char *region,
    const char *access_key, const char *secret_key, int timeout_ms, struct gb_err *err)
{
	char shown[208];
	const char *host;
	struct s3 *s;
	size_t n;

	*out = NULL;
	endpoint_masked(endpoint ? endpoint : "", shown, sizeof(shown));
	if (endpoint == NULL || (strncmp(endpoint, "http://", 7) && strncmp(endpoint, "https://", 8)))
		return gb_errf(err, GB_EINVAL, "s3 endpoint '%s': http://host:port or "
		    "https://... expected", shown);
	host = strstr(endpoint, "://") + 3;
	n = strlen(endpoint);
	while (n > (size_t)(host - endpoint) && endpoint[n - 1] == '/')
		n--;
	if (n == (size_t)(host - endpoint) || strcspn(endpoint, "?#@ \t\r\n") < n ||
	    memchr(host, '/', n - (size_t)(host - endpoint)) != NULL)
		return gb_errf(err, GB_EINVAL, "s3 endpoint '%s': only scheme, host and port "
		    "(buckets go in the target)", shown);
	if (region == NULL || !*region)
		region = "us-east-1";
	if (strcspn(region, ":/ \t") != strlen(region) || strlen(region) > 60)
		return gb_errf(err, GB_EINVAL, "s3 region '%s' is not a region name", region);
	pthread_once(&s3_curl_once, s3_curl_init);
	if (s3_curl_rc != CURLE_OK)
		return gb_errf(err, GB_EIO, "libcurl: %s", curl_easy_strerror(s3_curl_rc));
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return gb_errf(err, GB_ENOMEM, "out of memory");
	s->endpoint = strndup(endpoint, n);
	s->access_key = strdup(access_key ? access_key : "");
	s->secret_key = strdup(secret_key ? secret_key : "");
	s->curl = curl_easy_init();
	snprintf(s->sigv4, sizeof(s->sigv4), "aws:amz:%s:s3", region);
	s->timeout_ms = timeout_ms > 0 ? timeout_ms : 30000;
	if (s->endpoint == NULL || s->access_key == NULL || s->secret_key == NULL || !s->curl) {
		s3_close(s);
		return gb_errf(err, GB_ENOMEM, "out of memory");
	}
	*out = s;
	return 0;
}

void
s3_close(struct s3 *s)
{
	if (s == NULL)
		return;
	if (s->curl)
		curl_easy_cleanup(s->curl);
	free(s->endpoint);
	free(s->access_key);
	if (s->secret_key) {
		explicit_bzero(s->secret_key, strlen(s->secret_key));
		free(s->secret_key);
	}
	free(s);
}

/* ---- S3's XML answers */

/*
 * S3 answers in XML and genbox links no XML parser, so these read only the
 * few flat elements needed (<Key>, <IsTruncated>, <NextContinuationToken>,
 * <Code>, <Message>): the text between "<Name>" and "</Name>", with the
 * five predefined entities and numeric character references decoded.
 * Bounded: text that does not fit out (with its NUL) is an error, never cut
 * short; an unknown or unterminated entity is an error. Not a general XML
 * parser (no CDATA, comments or attributes on these elements): S3 does not
 * send those in them.
 */
static int
xml_decode(const char *p, const char *end, char *out, size_t size)
{
	size_t n = 0;

	while (p < end) {
		unsigned long cp;
		const char *semi;
		char *e;

		if (*p != '&') {
			if (n + 1 >= size)
				return -1;
			out[n++] = *p++;
			continue;
		}
		if ((semi = memchr(p, ';', (size_t)(end - p))) == NULL || semi - p > 12)
			return -1;
		if (strncmp(p, "&amp;", 5) == 0)
			cp = '&';
		else if (strncmp(p, "&lt;", 4) == 0)
			cp = '<';
		else if (strncmp(p, "&gt;", 4) == 0)
			cp = '>';
		else if (strncmp(p, "&quot;", 6) == 0)
			cp = '"';
		else if (strncmp(p, "&apos;", 6) == 0)
			cp = '\'';
		else if (p[1] == '#') {
			int hex = p[2] == 'x' || p[2] == 'X';

			errno = 0;
			cp = strtoul(p + 2 + hex, &e, hex ? 16 : 10);
			if (errno || e != semi || e == p + 2 + hex || cp == 0 || cp > 0x10FFFF)
				return -1;
		} else {
			return -1;
		}
		if (n + 5 >= size)
			return -1;
		if (cp < 0x80) {
			out[n++] = (char)cp;
		} else if (cp < 0x800) {
			out[n++] = (char)(0xC0 | (cp >> 6));
			out[n++] = (char)(0x80 | (cp & 0x3F));
		} else if (cp < 0x10000) {
			out[n++] = (char)(0xE0 | (cp >> 12));
			out[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
			out[n++] = (char)(0x80 | (cp & 0x3F));
		} else {
			out[n++] = (char)(0xF0 | (cp >> 18));
			out[n++] = (char)(0x80 | ((cp >> 12) & 0x3F));
			out[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
			out[n++] = (char)(0x80 | (cp & 0x3F));
		}
		p = semi + 1;
	}
	out[n] = '\0';
	return 0;
}

/*
 * The decoded text of the first <tag> at or after *pos (before end) into
 * out; *pos moves past its end tag. 1 found, 0 none, -1 malformed or too long.
 */
static int
xml_next(const char **pos, const char *end, const char *tag, char *out, size_t size)
{
	char open[64], close[64];
	const char *a, *b;
	size_t ol, cl;

	ol = (size_t)snprintf(open, sizeof(open), "<%s>", tag);
	cl = (size_t)snprintf(close, sizeof(close), "</%s>", tag);
	if ((a = memmem(*pos, (size_t)(end - *pos), open, ol)) == NULL)
		return 0;
	a += ol;
	if ((b = memmem(a, (size_t)(end - a), close, cl)) == NULL)
		return -1;
	if (xml_decode(a, b, out, size) < 0)
		return -1;
	*pos = b + cl;
	return 1;
}

/* The first <tag>'s text, or "" */
static void
xml_first(const struct buf *b, const char *tag, char *out, size_t size)
{
	const char *p = buf_str(b);

	if (xml_next(&p, p + b->len, tag, out, size) != 1)
		out[0] = '\0';
}

/* ---- one request */

static size_t
s3_on_write(char *p, size_t size, size_t n, void *arg)
{
	struct s3_req *r = arg;
	size_t len = size * n;
	long st = 0;

	curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &st);
	if (st >= 200 && st < 300) {
		if (r->sink && r->sink(p, len, r->arg, &r->sink_err))
			return 0;	/* ends the transfer with CURLE_WRITE_ERROR */
		return len;
	}
	if (r->errbody.len < S3_ERRBODY_MAX)
		buf_append(&r->errbody, p, len < S3_ERRBODY_MAX - r->errbody.len ? len :
		    S3_ERRBODY_MAX - r->errbody.len);
	return len;
}

static size_t
s3_on_read(char *p, size_t size, size_t n, void *arg)
{
	struct s3_req *r = arg;
	size_t want = size * n;
	ssize_t got;

	if (r->fd < 0) {
		if (want > r->len - r->off)
			want = r->len - r->off;
		memcpy(p, r->body + r->off, want);
		r->off += want;
		return want;
	}
	if ((int64_t)want > r->size - r->sent)
		want = (size_t)(r->size - r->sent);
	if (want == 0)
		return 0;
	while ((got = read(r->fd, p, want)) < 0 && errno == EINTR)
		;
	if (got <= 0) {
		gb_errf(&r->sink_err, GB_EIO, "reading the file to send: %s",
		    got < 0 ? strerror(errno) : "it shrank");
		return CURL_READFUNC_ABORT;
	}
	r->sent += got;
	return (size_t)got;
}

/* The request's URL: endpoint/bucket[/key][?query]. */
static int
s3_url(struct s3 *s, const struct s3_req *r, struct buf *url)
{
	int rc = buf_printf(url, "%s/", s->endpoint);

	if (!rc)
		rc = s3_encode(url, r->bucket, 0);
	if (!rc && r->key) {
		rc = buf_puts(url, "/");
		if (!rc)
			rc = s3_encode(url, r->key, 1);
	}
	if (!rc && r->query)
		rc = buf_printf(url, "?%s", r->query);
	return rc;
}

/* Set the handle up for r (after a reset: the connection cache stays). */
static int
s3_setup(struct s3 *s, struct s3_req *r, const char *url, struct curl_slist **hdrs)
{
	char sha_hdr[96];
	long secs = s->timeout_ms / 1000 > 0 ? s->timeout_ms / 1000 : 1;
	CURL *c = s->curl;

	snprintf(sha_hdr, sizeof(sha_hdr), "x-amz-content-sha256: %s", r->sha);
	/* only headers that are sent: libcurl signs every one given here */
	if ((*hdrs = curl_slist_append(NULL, sha_hdr)) == NULL)
		return -1;
	curl_easy_reset(c);
	s->errbuf[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);	/* keys are not paths: no ".." folding */
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, s->errbuf);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hdrs);
	curl_easy_setopt(c, CURLOPT_AWS_SIGV4, s->sigv4);
	curl_easy_setopt(c, CURLOPT_USERNAME, s->access_key);
	curl_easy_setopt(c, CURLOPT_PASSWORD, s->secret_key);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, s->timeout_ms);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, secs);
	if (!r->streamed)
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, s->timeout_ms);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s3_on_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	if (strcmp(r->method, "PUT") == 0) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, s3_on_read);
		curl_easy_setopt(c, CURLOPT_READDATA, r);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE,
		    (curl_off_t)(r->fd >= 0 ? r->size : (int64_t)r->len));
	} else if (strcmp(r->method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (strcmp(r->method, "DELETE") == 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
	}
	return 0;
}

/* The object named as in messages: s3://bucket[/key]. */
static void
s3_label(const struct s3_req *r, char *out, size_t size)
{
	if (r->what) {
		snprintf(out, size, "%s", r->what);
		return;
	}
	snprintf(out, size, "s3://%s%s%s", r->bucket, r->key ? "/" : "", r->key ? r->key : "");
}

/* An HTTP answer that is not 2xx as a GB_E* error naming S3's code. */
static int
s3_status_err(const struct s3_req *r, struct gb_err *err)
{
	char label[S3_KEY_MAX + 80], code[128], msg[256];
	int gb;

	s3_label(r, label, sizeof(label));
	xml_first(&r->errbody, "Code", code, sizeof(code));
	xml_first(&r->errbody, "Message", msg, sizeof(msg));
	if (!code[0])
		snprintf(code, sizeof(code), "%s", r->status == 404 ? "NotFound" :
		    r->status == 403 ? "Forbidden" : "(no S3 error code)");
	if (r->status == 404)
		gb = GB_ENOTFOUND;
	else if (r->status == 401 || r->status == 403 ||
	    (r->status == 400 && strstr(code, "Authorization") != NULL))
		gb = GB_EPERM;	/* 400 AuthorizationHeaderMalformed: a wrong region */
	else if (r->status >= 500 || r->status == 429 || r->status == 408)
		gb = GB_ETRANSIENT;
	else
		gb = GB_EIO;
	return gb_errf(err, gb, "%s: %ld %s%s%s", label, r->status, code, msg[0] ? ": " : "",
	    msg);
}

/* Run r; 0 on a 2xx answer, else the error. r->errbody is released. */
static int
s3_perform(struct s3 *s, struct s3_req *r, struct gb_err *err)
{
	struct curl_slist *hdrs = NULL;
	char label[S3_KEY_MAX + 80];
	struct buf url;
	curl_off_t cl = -1;
	CURLcode cc;
	int rc = 0;

	r->curl = s->curl;
	buf_init(&url, S3_KEY_MAX * 3 + 8192);
	buf_init(&r->errbody, S3_ERRBODY_MAX + 1);
	s3_label(r, label, sizeof(label));
	if (s3_url(s, r, &url))
		rc = gb_errf(err, GB_EINVAL, "%s: name too long", label);
	else if (s3_setup(s, r, buf_str(&url), &hdrs))
		rc = gb_errf(err, GB_ENOMEM, "out of memory");
	if (rc)
		goto out;
	cc = curl_easy_perform(s->curl);
	curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_getinfo(s->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
	r->length = cl;
	if (r->sink_err.code)
		rc = gb_errf(err, r->sink_err.code, "%s: %s", label, r->sink_err.msg);
	else if (cc != CURLE_OK)
		rc = gb_errf(err, GB_ETRANSIENT, "s3 endpoint %s unreachable: %s (%s %s)",
		    s->endpoint, s->errbuf[0] ? s->errbuf : curl_easy_strerror(cc), r->method,
		    label);
	else if (r->status < 200 || r->status > 299)
		rc = s3_status_err(r, err);
out:
	curl_slist_free_all(hdrs);
	buf_release(&url);
	buf_release(&r->errbody);
	return rc;
}

/* ---- the operations */

/* The hex SHA-256 of nothing: the payload of GET, HEAD, DELETE. */
#define S3_EMPTY_SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static void
s3_req_init(struct s3_req *r, const char *method, const char *bucket, const char *key)
{
	memset(r, 0, sizeof(*r));
	r->method = method;
	r->bucket = bucket;
	r->key = key;
	r->fd = -1;
	r->sha = S3_EMPTY_SHA;
	r->length = -1;
}

static int
s3_key_ok(const char *bucket, const char *key, struct gb_err *err)
{
	if (bucket == NULL || !*bucket || key == NULL || !*key)
		return gb_errf(err, GB_EINVAL, "s3: empty bucket or key");
	if (strlen(key) > S3_KEY_MAX / 2)
		return gb_errf(err, GB_EINVAL, "s3://%s: key of %zu bytes (at most %d)", bucket,
		    strlen(key), S3_KEY_MAX / 2);
	return 0;
}

int
s3_put(struct s3 *s, const char *bucket, const char *key, const void *data, size_t len,
    const char *sha256_hex, struct gb_err *err)
{
	struct s3_req r;
	char sha[65];
	int rc;

	if ((rc = s3_key_ok(bucket, key, err)))
		return rc;
	if (sha256_hex == NULL) {
		s3_sha256_hex(data, len, sha);
		sha256_hex = sha;
	}
	s3_req_init(&r, "PUT", bucket, key);
	r.body = len ? data : "";
	r.len = len;
	r.sha = sha256_hex;
	return s3_perform(s, &r, err);
}

int
s3_put_fd(struct s3 *s, const char *bucket, const char *key, int fd, int64_t size,
    const char *sha256_hex, struct gb_err *err)
{
	struct s3_req r;
	int rc;

	if ((rc = s3_key_ok(bucket, key, err)))
		return rc;
	if (fd < 0 || size < 0 || sha256_hex == NULL)
		return gb_errf(err, GB_EINVAL, "s3://%s/%s: no file to send", bucket, key);
	s3_req_init(&r, "PUT", bucket, key);
	r.fd = fd;
	r.size = size;
	r.sha = sha256_hex;
	r.streamed = 1;
	return s3_perform(s, &r, err);
}

int
s3_get(struct s3 *s, const char *bucket, const char *key,
    int (*sink)(const void *data, size_t len, void *arg, struct gb_err *err), void *arg,
    struct gb_err *err)
{
	struct s3_req r;
	int rc;

	if ((rc = s3_key_ok(bucket, key, err)))
		return rc;
	s3_req_init(&r, "GET", bucket, key);
	r.sink = sink;
	r.arg = arg;
	r.streamed = 1;
	return s3_perform(s, &r, err);
}

int
s3_head(struct s3 *s, const char *bucket, const char *key, int64_t *size, int *found,
    struct gb_err *err)
{
	struct gb_err e = { 0 };
	struct s3_req r;
	int rc;

	*found = 0;
	*size = 0;
	if ((rc = s3_key_ok(bucket, key, err)))
		return rc;
	s3_req_init(&r, "HEAD", bucket, key);
	if ((rc = s3_perform(s, &r, &e)) == GB_ENOTFOUND)
		return 0;
	if (rc)
		return gb_errf(err, rc, "%s", e.msg);
	*found = 1;
	*size = r.length;
	return 0;
}

int
s3_delete(struct s3 *s, const char *bucket, const char *key, struct gb_err *err)
{
	struct gb_err e = { 0 };
	struct s3_req r;
	int rc;

	if ((rc = s3_key_ok(bucket, key, err)))
		return rc;
	s3_req_init(&r, "DELETE", bucket, key);
	if ((rc = s3_perform(s, &r, &e)) == GB_ENOTFOUND && strstr(e.msg, "NoSuchKey"))
		return 0;
	if (rc)
		return gb_errf(err, rc, "%s", e.msg);
	return 0;
}

int
s3_bucket_create(struct s3 *s, const char *bucket, struct gb_err *err)
{
	struct gb_err e = { 0 };
	struct s3_req r;
	int rc;

	if (bucket == NULL || !*bucket)
		return gb_errf(err, GB_EINVAL, "s3: empty bucket name");
	s3_req_init(&r, "PUT", bucket, NULL);
	r.body = "";
	rc = s3_perform(s, &r, &e);
	if (rc && r.status == 409 && strstr(e.msg, "BucketAlreadyOwnedByYou"))
		return 0;
	if (rc)
		return gb_errf(err, rc, "%s", e.msg);
	return 0;
}

static int
s3_sink_buf(const void *data, size_t len, void *arg, struct gb_err *err)
{
	if (buf_append(arg, data, len))
		return gb_errf(err, GB_ETOOBIG, "a list answer of more than %d bytes",
		    S3_LISTBODY_MAX);
	return 0;
}

/* Hand each <Key> of a page to each; *token the next page's, "" at the end. */
static int
s3_list_page(const struct buf *page, const char *label,
    int (*each)(const char *key, void *arg, struct gb_err *err), void *arg,
    char *token, size_t tsize, struct gb_err *err)
{
	const char *p = buf_str(page), *end = p + page->len;
	char key[S3_KEY_MAX], trunc[16];
	int got, rc;

	/* an endpoint that is not S3 (a web server answering 200) is no empty bucket */
	if (strstr(p, "<ListBucketResult") == NULL)
		return gb_errf(err, GB_EIO, "%s: the endpoint's answer is not an S3 list "
		    "(no <ListBucketResult>): is [s3] endpoint an S3 server?", label);
	xml_first(page, "IsTruncated", trunc, sizeof(trunc));
	xml_first(page, "NextContinuationToken", token, tsize);
	if (strcmp(trunc, "true") != 0)
		token[0] = '\0';
	else if (!token[0])
		return gb_errf(err, GB_EIO, "%s: a truncated list without a continuation token",
		    label);
	while ((got = xml_next(&p, end, "Key", key, sizeof(key))) == 1)
		if ((rc = each(key, arg, err)))
			return rc;
	if (got < 0)
		return gb_errf(err, GB_EIO, "%s: a list answer with a malformed <Key>", label);
	return 0;
}

int
s3_list(struct s3 *s, const char *bucket, const char *prefix,
    int (*each)(const char *key, void *arg, struct gb_err *err), void *arg,
    struct gb_err *err)
{
	char token[4096] = "", label[S3_KEY_MAX + 80];
	struct buf page, query;
	struct s3_req r;
	int rc = 0, pages = 0;

	if (bucket == NULL || !*bucket)
		return gb_errf(err, GB_EINVAL, "s3: empty bucket name");
	snprintf(label, sizeof(label), "s3://%s/%s", bucket, prefix ? prefix : "");
	buf_init(&page, S3_LISTBODY_MAX);
	buf_init(&query, S3_KEY_MAX * 3 + 4096 * 3 + 64);
	do {
		/* the parameters sorted by name, as SigV4 signs them */
		buf_reset(&page);
		buf_reset(&query);
		if (token[0] && (buf_puts(&query, "continuation-token=") ||
		    s3_encode(&query, token, 0) || buf_puts(&query, "&")))
			rc = gb_errf(err, GB_EIO, "%s: continuation token too long", label);
		if (!rc && (buf_puts(&query, "list-type=2&max-keys=1000&prefix=") ||
		    s3_encode(&query, prefix ? prefix : "", 0)))
			rc = gb_errf(err, GB_EINVAL, "%s: prefix too long", label);
		if (rc)
			break;
		s3_req_init(&r, "GET", bucket, NULL);
		r.query = buf_str(&query);
		r.what = label;
		r.sink = s3_sink_buf;
		r.arg = &page;
		if ((rc = s3_perform(s, &r, err)))
			break;
		rc = s3_list_page(&page, label, each, arg, token, sizeof(token), err);
		if (rc == 0 && token[0] && ++pages >= S3_LIST_PAGES_MAX)
			rc = gb_errf(err, GB_ETOOBIG, "%s: more than %d pages to list", label,
			    S3_LIST_PAGES_MAX);
	} while (rc == 0 && token[0]);
	buf_release(&page);
	buf_release(&query);
	return rc;
}
