/*
 * batchfile.c - a file of JSON lines into a new batch and its contexts.
 *
 * The batch is written first (to learn its _id), then each line as a
 * context through store_set_fields, so every value of the line keeps its
 * exact text, and the batch is rewritten with its context ids and counts;
 * all of it in one transaction. The organization's limits are checked
 * inside that transaction: once the first row is written it holds the
 * write lock, so no other writer adds contexts between the count and the
 * commit.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../base/buf.h"
#include "../base/gbtime.h"
#include "../storage/access.h"
#include "../storage/docs.h"
#include "batchfile.h"

#define DAY_MS 86400000

/*
 * Fields of a context that only the engine (or run-batch itself) sets;
 * created_at too: the day's count of max_contexts_per_day goes by it.
 */
static const char *const engine_fields[] = {
	"status", "retry_count", "next_retry_at", "processing", "error", "pipeline", "batch_id",
	"created_at", "updated_at", NULL,
};

static const char *
batchfile_type_name(const cJSON *v)
{
	return cJSON_IsString(v) ? "string" : cJSON_IsNumber(v) ? "number" : cJSON_IsBool(v) ? "boolean" :
	    cJSON_IsNull(v) ? "null" : cJSON_IsArray(v) ? "array" : "object";
}

/* data.NAME, when present, must be a string */
static int
batchfile_check_string(const cJSON *data, const char *name, struct gb_err *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(data, name);

	if (v && !cJSON_IsString(v))
		return gb_errf(err, GB_EINVAL, "field 'data.%s': expected a string, got %s", name,
		    batchfile_type_name(v));
	return 0;
}

static int
batchfile_check_data(const cJSON *ctx, struct gb_err *err)
{
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(ctx, "data");
	const cJSON *title = cJSON_GetObjectItemCaseSensitive(data, "title");
	const cJSON *kw = cJSON_GetObjectItemCaseSensitive(data, "keywords"), *k;
	const char *p;

	if (data == NULL)
		return gb_errf(err, GB_EINVAL, "field 'data.title' is required");
	if (!cJSON_IsObject(data))
		return gb_errf(err, GB_EINVAL, "field 'data': expected an object, got %s", batchfile_type_name(data));
	if (title == NULL)
		return gb_errf(err, GB_EINVAL, "field 'data.title' is required");
	if (!cJSON_IsString(title))
		return gb_errf(err, GB_EINVAL, "field 'data.title': expected a string, got %s",
		    batchfile_type_name(title));
	for (p = title->valuestring; *p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'; p++)
		;
	if (*p == '\0')
		return gb_errf(err, GB_EINVAL, "field 'data.title' is empty");
	if (batchfile_check_string(data, "target_audience", err) || batchfile_check_string(data, "tone", err))
		return err->code;
	if (kw && !cJSON_IsArray(kw))
		return gb_errf(err, GB_EINVAL, "field 'data.keywords': expected an array of strings, got %s",
		    batchfile_type_name(kw));
	cJSON_ArrayForEach(k, kw)
		if (!cJSON_IsString(k))
			return gb_errf(err, GB_EINVAL, "field 'data.keywords': expected an array of strings, holds a %s",
			    batchfile_type_name(k));
	return 0;
}

/* The line as a new context of org; *out is the parsed line (cJSON_Delete it). */
static int
batchfile_parse_line(const char *text, size_t len, const char *org, cJSON **out, struct gb_err *err)
{
	const cJSON *v;
	cJSON *ctx;

	*out = NULL;
	if (memchr(text, '\0', len) != NULL)
		return gb_errf(err, GB_EINVAL, "holds a NUL byte");
	if ((ctx = cJSON_ParseWithLength(text, len)) == NULL || !cJSON_IsObject(ctx)) {
		cJSON_Delete(ctx);
		return gb_errf(err, GB_EINVAL, "not a JSON object");
	}
	for (int i = 0; engine_fields[i]; i++) {
		if ((v = cJSON_GetObjectItemCaseSensitive(ctx, engine_fields[i])) == NULL)
			continue;
		if (cJSON_IsObject(v) && v->child)
			gb_errf(err, GB_EINVAL, "field '%s.%s' is the engine's: a line may not set it", engine_fields[i],
			    v->child->string);
		else
			gb_errf(err, GB_EINVAL, "field '%s' is the engine's: a line may not set it", engine_fields[i]);
		goto bad;
	}
	v = cJSON_GetObjectItemCaseSensitive(ctx, "organization_id");
	if (v && (!cJSON_IsString(v) || strcmp(v->valuestring, org) != 0)) {
		if (cJSON_IsString(v))
			gb_errf(err, GB_EINVAL, "field 'organization_id': '%s' is not the batch's organization '%s'",
			    v->valuestring, org);
		else
			gb_errf(err, GB_EINVAL, "field 'organization_id': expected a string, got %s",
			    batchfile_type_name(v));
		goto bad;
	}
	v = cJSON_GetObjectItemCaseSensitive(ctx, "user_id");
	if (v && !cJSON_IsString(v)) {
		gb_errf(err, GB_EINVAL, "field 'user_id': expected a string, got %s", batchfile_type_name(v));
		goto bad;
	}
	if (batchfile_check_data(ctx, err))
		goto bad;
	*out = ctx;
	return 0;
bad:
	cJSON_Delete(ctx);
	return err->code;
}

/* settings.NAME of an organization: a whole number from 0, or absent (-1). */
static int
batchfile_limit(const cJSON *settings, const char *org, const char *name, int64_t *out, struct gb_err *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(settings, name);

	*out = -1;
	if (v == NULL || cJSON_IsNull(v))
		return 0;
	/* the range before the cast: a hostile document stays defined */
	if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= 1e15) ||
	    v->valuedouble != (double)(int64_t)v->valuedouble)
		return gb_errf(err, GB_EINVAL, "organization '%s': settings.%s must be a whole number from 0", org, name);
	*out = (int64_t)v->valuedouble;
	return 0;
}

int
batchfile_read_limits(struct store *st, const char *org, struct batchfile_limits *lim, struct gb_err *err)
{
	struct gb_err inner = { 0, "" };
	const cJSON *settings;
	char *text = NULL;
	cJSON *doc;
	int rc;

	lim->max_batch_size = lim->max_contexts_per_day = -1;
	if (store_get(st, COLL_ORGANIZATIONS, org, &text, &inner))
		return inner.code == GB_ENOTFOUND ? 0 : gb_errf(err, inner.code, "%s", inner.msg);
	doc = cJSON_Parse(text);
	free(text);
	if (doc == NULL)
		return gb_errf(err, GB_EIO, "stored document '%s' is not JSON", org);
	settings = cJSON_GetObjectItemCaseSensitive(doc, "settings");
	if ((rc = batchfile_limit(settings, org, "max_batch_size", &lim->max_batch_size, err)) == 0)
		rc = batchfile_limit(settings, org, "max_contexts_per_day", &lim->max_contexts_per_day, err);
	cJSON_Delete(doc);
	return rc;
}

/*
 * max_contexts_per_day: the contexts of org created since the last UTC
 * midnight (by any means: run-batch, import, the API), the new batch's
 * aside, plus count must stay within the limit.
 */
static int
batchfile_check_daily(struct store *st, const struct batchfile_opts *o, const char *batch, size_t count,
    struct gb_err *err)
{
	int64_t now = gb_now_ms(), midnight = now - now % DAY_MS, left = midnight + DAY_MS - now, today = 0;
	int rc;

	if ((rc = store_ctx_count_created(st, o->org, midnight, batch, &today, err)))
		return rc;
	if (today + (int64_t)count <= o->limits.max_contexts_per_day)
		return 0;
	return gb_errf(err, GB_EINVAL, "organization '%s' allows %lld contexts a day (settings.max_contexts_per_day): "
	    "%lld created today and %zu in the file; the day starts again at 00:00 UTC, in %lld h %02lld min", o->org,
	    (long long)o->limits.max_contexts_per_day, (long long)today, count, (long long)(left / 3600000),
	    (long long)(left / 60000 % 60));
}

/* The batch's document before its contexts; its _id goes to batch. */
static int
batchfile_put_batch(struct store *st, const struct batchfile_opts *o, cJSON **bdoc, char batch[STORE_ID_MAX],
    struct gb_err *err)
{
	cJSON *b = cJSON_CreateObject();
	char *text;
	int rc;

	cJSON_AddStringToObject(b, "name", o->input);
	cJSON_AddStringToObject(b, "organization_id", o->org);
	if (o->user)
		cJSON_AddStringToObject(b, "created_by", o->user);
	cJSON_AddStringToObject(b, "status", "pending");
	cJSON_AddStringToObject(b, "pipeline_id", o->pipeline);
	cJSON_AddStringToObject(cJSON_AddObjectToObject(b, "metadata"), "source", "run-batch");
	if ((text = cJSON_PrintUnformatted(b)) == NULL)
		rc = gb_errf(err, GB_ENOMEM, "out of memory");
	else
		rc = store_put(st, COLL_BATCHES, text, strlen(text), STORE_INSERT, batch, err);
	free(text);
	if (rc == 0)
		cJSON_AddStringToObject(b, "_id", batch);
	*bdoc = b;
	return rc;
}

/* One line as a context of the batch, its text kept; the new _id goes to id. */
static int
batchfile_put_line(struct store *st, const struct batchfile_opts *o, const char *batch, const struct buf *line,
    char id[STORE_ID_MAX], struct gb_err *err)
{
	struct store_field set[3];
	char *text = NULL;
	cJSON *ctx;
	int nf = 0, rc;

	if ((rc = batchfile_parse_line(buf_str(line), line->len, o->org, &ctx, err)))
		return rc;
	set[nf++] = (struct store_field){ "batch_id", batch };
	if (!cJSON_GetObjectItemCaseSensitive(ctx, "organization_id"))
		set[nf++] = (struct store_field){ "organization_id", o->org };
	if (o->user && !cJSON_GetObjectItemCaseSensitive(ctx, "user_id"))
		set[nf++] = (struct store_field){ "user_id", o->user };
	cJSON_Delete(ctx);
	if ((rc = store_set_fields(st, buf_str(line), line->len, set, nf, &text, err)) == 0)
		rc = store_put(st, COLL_CONTEXTS, text, strlen(text), STORE_INSERT, id, err);
	free(text);
	return rc;
}

/* Every line of f into the batch; its context ids go to ids. */
static int
batchfile_put_lines(struct store *st, const struct batchfile_opts *o, FILE *f, const char *batch, cJSON *ids,
    size_t *count, struct gb_err *err)
{
	struct buf line;
	size_t lineno = 0;
	int rc;

	buf_init(&line, STORE_MAX_DOC);
	for (;;) {
		char id[STORE_ID_MAX];
		const char *p;

		if ((rc = buf_getline(&line, f)) == 0)
			break;
		lineno++;
		if (rc < 0) {
			rc = rc == GB_ETOOBIG ?
			    gb_errf(err, rc, "line %zu: document exceeds the limit of %u bytes", lineno, STORE_MAX_DOC) :
			    gb_errf(err, rc, "line %zu: read error: %s", lineno, strerror(errno));
			break;
		}
		for (p = buf_str(&line); p < buf_str(&line) + line.len && strchr(" \t\r\n", *p) && *p; p++)
			;
		if (p == buf_str(&line) + line.len)
			continue;
		if (o->limits.max_batch_size >= 0 && (int64_t)*count + 1 > o->limits.max_batch_size) {
			rc = gb_errf(err, GB_EINVAL, "'%s' holds more than %lld contexts: organization '%s' allows %lld "
			    "in a batch (settings.max_batch_size)", o->input, (long long)o->limits.max_batch_size, o->org,
			    (long long)o->limits.max_batch_size);
			break;
		}
		if ((rc = batchfile_put_line(st, o, batch, &line, id, err))) {
			struct gb_err inner = *err;

			gb_err_clear(err);
			gb_errf(err, rc, "line %zu: %s", lineno, inner.msg);
			break;
		}
		cJSON_AddItemToArray(ids, cJSON_CreateString(id));
		(*count)++;
	}
	buf_release(&line);
	return rc;
}

/* The batch rewritten with its contexts. */
static int
batchfile_close_batch(struct store *st, cJSON *bdoc, cJSON *ids, size_t count, struct gb_err *err)
{
	char *text;
	int rc;

	cJSON_AddItemToObject(bdoc, "context_ids", ids);
	cJSON_AddNumberToObject(bdoc, "context_count", (double)count);
	cJSON_AddNumberToObject(bdoc, "completed_count", 0);
	cJSON_AddNumberToObject(bdoc, "failed_count", 0);
	if ((text = cJSON_PrintUnformatted(bdoc)) == NULL)
		return gb_errf(err, GB_ENOMEM, "out of memory");
	rc = store_put(st, COLL_BATCHES, text, strlen(text), STORE_REPLACE, NULL, err);
	free(text);
	return rc;
}

int
batchfile_create(struct store *st, const struct batchfile_opts *o, char batch[STORE_ID_MAX], size_t *count,
    struct gb_err *err)
{
	cJSON *bdoc = NULL, *ids = cJSON_CreateArray();
	FILE *f;
	int rc;

	*count = 0;
	if (strcmp(o->input, "-") == 0)
		f = stdin;
	else if ((f = fopen(o->input, "rb")) == NULL) {
		cJSON_Delete(ids);
		return gb_errf(err, GB_ENOTFOUND, "cannot open '%s': %s", o->input, strerror(errno));
	}
	if ((rc = store_begin(st, err)))
		goto out;
	if ((rc = batchfile_put_batch(st, o, &bdoc, batch, err)) ||
	    (rc = batchfile_put_lines(st, o, f, batch, ids, count, err)))
		goto fail;
	if (*count == 0) {
		rc = gb_errf(err, GB_EINVAL, "'%s' holds no contexts", o->input);
		goto fail;
	}
	/* counted after the inserts: the transaction holds the write lock, so no one adds meanwhile */
	if (o->limits.max_contexts_per_day >= 0 && (rc = batchfile_check_daily(st, o, batch, *count, err)))
		goto fail;
	rc = batchfile_close_batch(st, bdoc, ids, *count, err);
	ids = NULL;	/* bdoc holds them now */
	if (rc == 0 && (rc = store_commit(st, err)) == 0)
		goto out;
fail:
	store_rollback(st);
out:
	cJSON_Delete(ids);
	cJSON_Delete(bdoc);
	if (f != stdin)
		fclose(f);
	return rc;
}
