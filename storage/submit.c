/*
 * submit.c - new contexts and batches under their organization's rules
 * (see submit.h).
 *
 * A batch is written first (to learn its _id), then each context through
 * store_set_fields, so every value of the input keeps its exact text, and
 * the batch is rewritten with its context ids and counts; all of it in one
 * transaction. The day's count is read after the inserts, inside that
 * transaction: store_begin takes the write lock at once (BEGIN IMMEDIATE),
 * so no other writer adds contexts between the count and the commit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/gbtime.h"
#include "../base/json.h"
#include "access.h"
#include "docs.h"
#include "submit.h"

#define DAY_MS 86400000

/*
 * Fields of a context that only the engine (or the batch) sets; created_at
 * too: the day's count of max_contexts_per_day goes by it.
 */
static const char *const submit_engine_fields[] = {
	"status", "retry_count", "next_retry_at", "processing", "error", "pipeline", "batch_id",
	"created_at", "updated_at", NULL,
};

static const char *
submit_type_name(const cJSON *v)
{
	return cJSON_IsString(v) ? "string" :
	    cJSON_IsNumber(v)    ? "number" :
	    cJSON_IsBool(v)      ? "boolean" :
	    cJSON_IsNull(v)      ? "null" :
	    cJSON_IsArray(v)     ? "array" : "object";
}

/* data.NAME, when present, must be a string */
static int
submit_check_string(const cJSON *data, const char *name, struct gb_err *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(data, name);

	if (v && !cJSON_IsString(v))
		return gb_errf(err, GB_EINVAL, "field 'data.%s': expected a string, got %s", name,
		    submit_type_name(v));
	return 0;
}

static int
submit_check_data(const cJSON *ctx, struct gb_err *err)
{
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(ctx, "data");
	const cJSON *title = cJSON_GetObjectItemCaseSensitive(data, "title");
	const cJSON *kw = cJSON_GetObjectItemCaseSensitive(data, "keywords"), *k;
	const char *p;

	if (data == NULL)
		return gb_errf(err, GB_EINVAL, "field 'data.title' is required");
	if (!cJSON_IsObject(data))
		return gb_errf(err, GB_EINVAL, "field 'data': expected an object, got %s",
		    submit_type_name(data));
	if (title == NULL)
		return gb_errf(err, GB_EINVAL, "field 'data.title' is required");
	if (!cJSON_IsString(title))
		return gb_errf(err, GB_EINVAL, "field 'data.title': expected a string, got %s",
		    submit_type_name(title));
	for (p = title->valuestring; *p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'; p++)
		;
	if (*p == '\0')
		return gb_errf(err, GB_EINVAL, "field 'data.title' is empty");
	if (submit_check_string(data, "target_audience", err) ||
	    submit_check_string(data, "tone", err))
		return err->code;
	if (kw && !cJSON_IsArray(kw))
		return gb_errf(err, GB_EINVAL,
		    "field 'data.keywords': expected an array of strings, got %s",
		    submit_type_name(kw));
	cJSON_ArrayForEach(k, kw)
		if (!cJSON_IsString(k))
			return gb_errf(err, GB_EINVAL,
			    "field 'data.keywords': expected an array of strings, holds a %s",
			    submit_type_name(k));
	return 0;
}

/* A top-level member NAME, when present, must be a string (or, with obj, an object). */
static int
submit_check_member(const cJSON *ctx, const char *name, int obj, struct gb_err *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(ctx, name);

	if (v == NULL || (obj ? cJSON_IsObject(v) : cJSON_IsString(v)))
		return 0;
	return gb_errf(err, GB_EINVAL, "field '%s': expected %s, got %s", name,
	    obj ? "an object" : "a string", submit_type_name(v));
}

int
submit_check_context(const cJSON *ctx, const char *org, int in_batch, const char *noun,
    struct gb_err *err)
{
	const cJSON *v;

	if (noun == NULL)
		noun = "new context";
	if (!cJSON_IsObject(ctx))
		return gb_errf(err, GB_EINVAL, "not a JSON object");
	for (int i = 0; submit_engine_fields[i]; i++) {
		if ((v = cJSON_GetObjectItemCaseSensitive(ctx, submit_engine_fields[i])) == NULL)
			continue;
		if (cJSON_IsObject(v) && v->child)
			return gb_errf(err, GB_EINVAL,
			    "field '%s.%s' is the engine's: a %s may not set it",
			    submit_engine_fields[i], v->child->string, noun);
		return gb_errf(err, GB_EINVAL, "field '%s' is the engine's: a %s may not set it",
		    submit_engine_fields[i], noun);
	}
	v = cJSON_GetObjectItemCaseSensitive(ctx, "organization_id");
	if (v && !cJSON_IsString(v))
		return gb_errf(err, GB_EINVAL, "field 'organization_id': expected a string, got %s",
		    submit_type_name(v));
	if (v && strcmp(v->valuestring, org) != 0)
		return gb_errf(err, GB_EINVAL,
		    "field 'organization_id': '%s' is not the %s organization '%s'", v->valuestring,
		    in_batch ? "batch's" : "caller's", org);
	if (in_batch && cJSON_GetObjectItemCaseSensitive(ctx, "pipeline_id"))
		return gb_errf(err, GB_EINVAL,
		    "field 'pipeline_id': a context of a batch runs the batch's pipeline");
	if (submit_check_member(ctx, "user_id", 0, err) ||
	    submit_check_member(ctx, "_id", 0, err) || submit_check_member(ctx, "type", 0, err) ||
	    submit_check_member(ctx, "pipeline_id", 0, err) ||
	    submit_check_member(ctx, "metadata", 1, err))
		return err->code;
	return submit_check_data(ctx, err);
}

/* settings.NAME of an organization: a whole number from 0, or absent (-1). */
static int
submit_limit(const cJSON *settings, const char *org, const char *name, int64_t *out,
    struct gb_err *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(settings, name);

	*out = -1;
	if (v == NULL || cJSON_IsNull(v))
		return 0;
	/* the range before the cast: a hostile document stays defined */
	if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= 1e15) ||
	    v->valuedouble != (double)(int64_t)v->valuedouble)
		return gb_errf(err, GB_EINVAL,
		    "organization '%s': settings.%s must be a whole number from 0", org, name);
	*out = (int64_t)v->valuedouble;
	return 0;
}

/* settings.allowed_models and settings.default_pipeline_id into lim. */
static int
submit_models(const cJSON *settings, const char *org, struct submit_limits *lim, struct gb_err *err)
{
	const cJSON *models = cJSON_GetObjectItemCaseSensitive(settings, "allowed_models"), *m;
	const cJSON *def = cJSON_GetObjectItemCaseSensitive(settings, "default_pipeline_id");

	if (def && !cJSON_IsNull(def) && !cJSON_IsString(def))
		return gb_errf(err, GB_EINVAL,
		    "organization '%s': settings.default_pipeline_id must be a string", org);
	if (cJSON_IsString(def))
		snprintf(lim->default_pipeline_id, sizeof(lim->default_pipeline_id), "%s",
		    def->valuestring);
	if (models == NULL || cJSON_IsNull(models))
		return 0;
	if (!cJSON_IsArray(models))
		return gb_errf(err, GB_EINVAL,
		    "organization '%s': settings.allowed_models must be an array of strings", org);
	cJSON_ArrayForEach(m, models)
		if (!cJSON_IsString(m))
			return gb_errf(err, GB_EINVAL,
			    "organization '%s': settings.allowed_models must be an array of "
			    "strings", org);
	if ((lim->allowed_models = cJSON_Duplicate(models, 1)) == NULL)
		return gb_errf(err, GB_ENOMEM, "out of memory");
	return 0;
}

int
submit_read_limits(struct store *st, const char *org, struct submit_limits *lim, struct gb_err *err)
{
	struct gb_err inner = { 0, "" };
	const cJSON *settings;
	char *text = NULL;
	cJSON *doc;
	int rc;

	memset(lim, 0, sizeof(*lim));
	lim->max_batch_size = lim->max_contexts_per_day = -1;
	if (store_get(st, COLL_ORGANIZATIONS, org, &text, &inner))
		return inner.code == GB_ENOTFOUND ? 0 : gb_errf(err, inner.code, "%s", inner.msg);
	doc = cJSON_Parse(text);
	free(text);
	if (doc == NULL)
		return gb_errf(err, GB_EIO, "stored document '%s' is not JSON", org);
	settings = cJSON_GetObjectItemCaseSensitive(doc, "settings");
	if ((rc = submit_limit(settings, org, "max_batch_size", &lim->max_batch_size, err)) == 0 &&
	    (rc = submit_limit(settings, org, "max_contexts_per_day", &lim->max_contexts_per_day,
	    err)) == 0)
		rc = submit_models(settings, org, lim, err);
	cJSON_Delete(doc);
	if (rc)
		submit_limits_release(lim);
	return rc;
}

void
submit_limits_release(struct submit_limits *lim)
{
	if (lim == NULL)
		return;
	cJSON_Delete(lim->allowed_models);
	lim->allowed_models = NULL;
}

int64_t
submit_day_reset_ms(int64_t now_ms)
{
	return now_ms - now_ms % DAY_MS + DAY_MS;
}

/* A stored document of c, parsed; GB_ENOTFOUND when absent. */
static int
submit_get(struct store *st, enum coll c, const char *id, cJSON **out, struct gb_err *err)
{
	char *text = NULL;
	int rc;

	*out = NULL;
	if ((rc = store_get(st, c, id, &text, err)))
		return rc;
	*out = cJSON_Parse(text);
	free(text);
	if (!cJSON_IsObject(*out)) {
		cJSON_Delete(*out);
		*out = NULL;
		return gb_errf(err, GB_EIO, "stored document '%s' is not a JSON object", id);
	}
	return 0;
}

static int
submit_model_allowed(const struct submit_limits *lim, const char *model)
{
	const cJSON *m;

	if (lim->allowed_models == NULL)
		return 1;
	cJSON_ArrayForEach(m, lim->allowed_models)
		if (cJSON_IsString(m) && strcmp(m->valuestring, model) == 0)
			return 1;
	return 0;
}

/* One entry of a pipeline's components: an active component of org, and an allowed model. */
static int
submit_check_step(struct store *st, const char *org, const char *pipe_id, const cJSON *entry,
    const struct submit_limits *lim, struct gb_err *err)
{
	const char *cid =
	    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(entry, "component_id"));
	const cJSON *over = cJSON_GetObjectItemCaseSensitive(entry, "config_overrides"), *model;
	const char *owner, *type;
	cJSON *comp = NULL;
	int rc;

	if (cid == NULL)
		return gb_errf(err, GB_EINVAL, "pipeline '%s': unknown component ''", pipe_id);
	if ((rc = submit_get(st, COLL_COMPONENTS, cid, &comp, err)) && rc != GB_ENOTFOUND)
		return rc;
	owner = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(comp, "organization_id"));
	/* as the engine's catalog: only the organization's own active components */
	if (rc || owner == NULL || strcmp(owner, org) != 0 ||
	    cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(comp, "is_active"))) {
		cJSON_Delete(comp);
		gb_err_clear(err);
		return gb_errf(err, GB_EINVAL, "pipeline '%s': unknown component '%s'", pipe_id,
		    cid);
	}
	type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(comp, "type"));
	model = cJSON_IsObject(over) && cJSON_GetObjectItemCaseSensitive(over, "model") ?
	    cJSON_GetObjectItemCaseSensitive(over, "model") :
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(comp, "config"),
	    "model");
	/* no model named: the engine fails the context, saying so; nothing to allow here */
	if (type && strcmp(type, "ai_generator") == 0 && cJSON_IsString(model) &&
	    !submit_model_allowed(lim, model->valuestring))
		rc = gb_errf(err, GB_EPERM,
		    "pipeline '%s': model '%s' (component '%s') is not allowed for "
		    "organization '%s' (settings.allowed_models)",
		    pipe_id, model->valuestring, cid, org);
	cJSON_Delete(comp);
	return rc;
}

int
submit_check_pipeline(struct store *st, const char *org, const char *pipeline_id,
    const struct submit_limits *lim, struct gb_err *err)
{
	const char *owner;
	const cJSON *c;
	cJSON *pipe = NULL;
	int rc;

	if ((rc = submit_get(st, COLL_PIPELINES, pipeline_id, &pipe, err)) && rc != GB_ENOTFOUND)
		return rc;
	owner = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pipe, "organization_id"));
	/* another organization's pipeline is answered as a missing one, word for word */
	if (rc || (owner && strcmp(owner, org) != 0)) {
		cJSON_Delete(pipe);
		gb_err_clear(err);
		return gb_errf(err, GB_EINVAL, "unknown pipeline '%s'", pipeline_id);
	}
	if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(pipe, "is_active")))
		rc = gb_errf(err, GB_EINVAL, "pipeline '%s' is not active", pipeline_id);
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(pipe, "components"))
		if (rc == 0)
			rc = submit_check_step(st, org, pipeline_id, c, lim, err);
	cJSON_Delete(pipe);
	return rc;
}

/* max_contexts_per_day, counted after count new contexts were written in the open transaction. */
static int
submit_check_daily(struct store *st, const struct submit_opts *o, const struct submit_limits *lim,
    size_t count, struct submit_result *res, struct gb_err *err)
{
	int64_t now = gb_now_ms(), reset = submit_day_reset_ms(now), left = reset - now, total = 0;
	int rc;

	if (lim->max_contexts_per_day < 0)
		return 0;
	if ((rc = store_ctx_count_created(st, o->org, reset - DAY_MS, NULL, &total, err)))
		return rc;
	if (total <= lim->max_contexts_per_day)
		return 0;
	res->today = total - (int64_t)count;
	res->reset_ms = reset;
	return gb_errf(err, GB_ELIMIT,
	    "organization '%s' allows %lld contexts a day (settings.max_contexts_per_day): "
	    "%lld created today and %zu in %s; the day starts again at 00:00 UTC, "
	    "in %lld h %02lld min",
	    o->org, (long long)lim->max_contexts_per_day, (long long)res->today, count,
	    o->origin ? o->origin : "the request", (long long)(left / 3600000),
	    (long long)(left / 60000 % 60));
}

/*
 * Whether the item's text is the document that was checked: what is
 * stored is what the rules saw, however the caller found the text.
 */
static int
submit_same_text(const struct submit_item *it, struct gb_err *err)
{
	cJSON *stored = cJSON_ParseWithLength(it->text, it->len);
	int same = stored && json_same(stored, it->doc);

	cJSON_Delete(stored);
	if (!same)
		return gb_errf(err, GB_EINVAL,
		    "the context's text is not the input that was checked");
	return 0;
}

/* One new context written: batch (a batch's) or pipeline (a context alone's) set on it. */
static int
submit_put(struct store *st, const struct submit_opts *o, const struct submit_item *it,
    const char *batch, const char *pipeline, char id[STORE_ID_MAX], struct gb_err *err)
{
	struct store_field set[4];
	char *printed = NULL, *text = NULL;
	const char *in = it->text;
	size_t len = it->len;
	int nf = 0, rc;

	if (batch)
		set[nf++] = (struct store_field){ "batch_id", batch };
	if (pipeline && !cJSON_GetObjectItemCaseSensitive(it->doc, "pipeline_id"))
		set[nf++] = (struct store_field){ "pipeline_id", pipeline };
	if (!cJSON_GetObjectItemCaseSensitive(it->doc, "organization_id"))
		set[nf++] = (struct store_field){ "organization_id", o->org };
	if (o->user && !cJSON_GetObjectItemCaseSensitive(it->doc, "user_id"))
		set[nf++] = (struct store_field){ "user_id", o->user };
	if (in == NULL) {
		if ((in = printed = cJSON_PrintUnformatted(it->doc)) == NULL)
			return gb_errf(err, GB_ENOMEM, "out of memory");
		len = strlen(in);
	} else if ((rc = submit_same_text(it, err))) {
		return rc;
	}
	if ((rc = store_set_fields(st, in, len, set, nf, &text, err)) == 0)
		rc = store_put(st, COLL_CONTEXTS, text, strlen(text), STORE_INSERT, id, err);
	free(text);
	free(printed);
	return rc;
}

struct submit_batch {
	struct store *st;
	struct submit_opts o;
	struct submit_limits lim;
	cJSON *bdoc;			/* the batch's document, written again at the end */
	cJSON *ids;			/* its contexts' _ids */
	size_t bytes;			/* its document's length so far, _ids included */
	int open;			/* the transaction is open */
};

/* "'name'" or "the batch", for messages */
static const char *
submit_subject(const struct submit_batch *b, char *buf, size_t size)
{
	if (b->o.name == NULL)
		return "the batch";
	snprintf(buf, size, "'%s'", b->o.name);
	return buf;
}

/* The length of id as an element of a JSON array: quoted, escaped, a comma. */
static size_t
submit_id_bytes(const char *id)
{
	size_t n = 3;

	for (; *id; id++)
		n += (unsigned char)*id < 0x20 ? 6 : *id == '"' || *id == '\\' ? 2 : 1;
	return n;
}

/* A batch's room for one more context: SUBMIT_MAX_BATCH and its document's 16 MiB. */
static int
submit_batch_room(const struct submit_batch *b, const struct submit_result *res, size_t more,
    struct gb_err *err)
{
	char subject[STORE_ID_MAX + 8];

	/* room for _id and the counts that the batch's last write adds */
	if (res->count + 1 > SUBMIT_MAX_BATCH)
		return gb_errf(err, GB_EINVAL,
		    "%s holds more than %d contexts, the most one batch holds (its document "
		    "is limited to %u bytes): split it into several batches",
		    submit_subject(b, subject, sizeof(subject)), SUBMIT_MAX_BATCH, STORE_MAX_DOC);
	if (b->bytes + more + 256 > STORE_MAX_DOC)
		return gb_errf(err, GB_EINVAL,
		    "%s: the batch's document would pass %u bytes at context %zu (its "
		    "contexts' _ids and its metadata): split it into several batches",
		    submit_subject(b, subject, sizeof(subject)), STORE_MAX_DOC, res->count + 1);
	return 0;
}

/* The batch's first document; its _id into res. */
static int
submit_put_batch(struct submit_batch *b, struct submit_result *res, struct gb_err *err)
{
	const struct submit_opts *o = &b->o;
	cJSON *meta;
	char *text;
	int rc;

	if (o->metadata && !cJSON_IsObject(o->metadata))
		return gb_errf(err, GB_EINVAL, "field 'metadata': expected an object, got %s",
		    submit_type_name(o->metadata));
	if ((b->bdoc = cJSON_CreateObject()) == NULL || (b->ids = cJSON_CreateArray()) == NULL)
		return gb_errf(err, GB_ENOMEM, "out of memory");
	if (o->name)
		cJSON_AddStringToObject(b->bdoc, "name", o->name);
	cJSON_AddStringToObject(b->bdoc, "organization_id", o->org);
	if (o->user)
		cJSON_AddStringToObject(b->bdoc, "created_by", o->user);
	cJSON_AddStringToObject(b->bdoc, "status", "pending");
	cJSON_AddStringToObject(b->bdoc, "pipeline_id", o->pipeline_id);
	meta = o->metadata ? cJSON_Duplicate(o->metadata, 1) : cJSON_CreateObject();
	if (meta && o->source && !cJSON_GetObjectItemCaseSensitive(meta, "source"))
		cJSON_AddStringToObject(meta, "source", o->source);
	cJSON_AddItemToObject(b->bdoc, "metadata", meta);
	if ((text = cJSON_PrintUnformatted(b->bdoc)) == NULL)
		return gb_errf(err, GB_ENOMEM, "out of memory");
	b->bytes = strlen(text);
	rc = store_put(b->st, COLL_BATCHES, text, strlen(text), STORE_INSERT, res->batch_id, err);
	free(text);
	if (rc == 0)
		cJSON_AddStringToObject(b->bdoc, "_id", res->batch_id);
	return rc;
}

int
submit_batch_begin(struct store *st, const struct submit_opts *o, struct submit_batch **out,
    struct submit_result *res, struct gb_err *err)
{
	struct submit_batch *b = calloc(1, sizeof(*b));
	int rc;

	memset(res, 0, sizeof(*res));
	res->failed = SIZE_MAX;
	if ((*out = b) == NULL)
		return gb_errf(err, GB_ENOMEM, "out of memory");
	b->st = st;
	b->o = *o;
	b->lim.max_batch_size = b->lim.max_contexts_per_day = -1;
	if ((rc = store_begin(st, err)))
		return rc;
	b->open = 1;
	if ((rc = submit_read_limits(st, o->org, &b->lim, err)))
		return rc;
	if (b->o.pipeline_id == NULL && b->lim.default_pipeline_id[0])
		b->o.pipeline_id = b->lim.default_pipeline_id;
	if (b->o.pipeline_id == NULL)
		return gb_errf(err, GB_EINVAL,
		    "field 'pipeline_id' is required: organization '%s' has no "
		    "settings.default_pipeline_id", o->org);
	if ((rc = submit_check_pipeline(st, o->org, b->o.pipeline_id, &b->lim, err)))
		return rc;
	return submit_put_batch(b, res, err);
}

int
submit_batch_add(struct submit_batch *b, const struct submit_item *it, char id[STORE_ID_MAX],
    struct submit_result *res, struct gb_err *err)
{
	char new_id[STORE_ID_MAX], subject[STORE_ID_MAX + 8];
	int rc;

	res->failed = SIZE_MAX;		/* the batch's limit is no one context's fault */
	if (b->lim.max_batch_size >= 0 && (int64_t)res->count + 1 > b->lim.max_batch_size)
		return gb_errf(err, GB_EINVAL,
		    "%s holds more than %lld contexts: organization '%s' allows %lld "
		    "in a batch (settings.max_batch_size)",
		    submit_subject(b, subject, sizeof(subject)), (long long)b->lim.max_batch_size,
		    b->o.org, (long long)b->lim.max_batch_size);
	if ((rc = submit_batch_room(b, res, 0, err)))
		return rc;
	res->failed = res->count;
	if ((rc = submit_check_context(it->doc, b->o.org, 1, b->o.noun, err)) ||
	    (rc = submit_put(b->st, &b->o, it, res->batch_id, NULL, new_id, err)))
		return rc;
	res->failed = SIZE_MAX;
	if ((rc = submit_batch_room(b, res, submit_id_bytes(new_id), err)))
		return rc;
	b->bytes += submit_id_bytes(new_id);
	if (!cJSON_AddItemToArray(b->ids, cJSON_CreateString(new_id)))
		return gb_errf(err, GB_ENOMEM, "out of memory");
	if (id)
		memcpy(id, new_id, STORE_ID_MAX);
	res->count++;
	res->failed = SIZE_MAX;
	return 0;
}

int
submit_batch_end(struct submit_batch *b, struct submit_result *res, struct gb_err *err)
{
	char *text, subject[STORE_ID_MAX + 8];
	int rc;

	res->failed = SIZE_MAX;
	if (res->count == 0)
		return gb_errf(err, GB_EINVAL, "%s holds no contexts",
		    submit_subject(b, subject, sizeof(subject)));
	if ((rc = submit_check_daily(b->st, &b->o, &b->lim, res->count, res, err)))
		return rc;
	cJSON_AddItemToObject(b->bdoc, "context_ids", b->ids);
	b->ids = NULL;		/* bdoc holds them now */
	cJSON_AddNumberToObject(b->bdoc, "context_count", (double)res->count);
	cJSON_AddNumberToObject(b->bdoc, "completed_count", 0);
	cJSON_AddNumberToObject(b->bdoc, "failed_count", 0);
	if ((text = cJSON_PrintUnformatted(b->bdoc)) == NULL)
		return gb_errf(err, GB_ENOMEM, "out of memory");
	rc = store_put(b->st, COLL_BATCHES, text, strlen(text), STORE_REPLACE, NULL, err);
	free(text);
	if (rc == 0 && (rc = store_commit(b->st, err)) == 0)
		b->open = 0;
	return rc;
}

void
submit_batch_abort(struct submit_batch *b)
{
	if (b == NULL)
		return;
	if (b->open)
		store_rollback(b->st);
	submit_limits_release(&b->lim);
	cJSON_Delete(b->bdoc);
	cJSON_Delete(b->ids);
	free(b);
}

int
submit_batch_create(struct store *st, const struct submit_opts *o, const struct submit_item *items,
    size_t n, struct submit_result *res, struct gb_err *err)
{
	struct submit_batch *b = NULL;
	int rc;

	if ((rc = submit_batch_begin(st, o, &b, res, err)) == 0) {
		for (size_t i = 0; i < n && rc == 0; i++)
			rc = submit_batch_add(b, &items[i], NULL, res, err);
		if (rc == 0)
			rc = submit_batch_end(b, res, err);
	}
	submit_batch_abort(b);
	if (rc) {
		res->batch_id[0] = '\0';
		res->count = 0;
	}
	return rc;
}

/* The pipeline of one context alone, checked (last: the one checked before, not checked again). */
static int
submit_alone_pipeline(struct store *st, const struct submit_opts *o,
    const struct submit_limits *lim, const cJSON *doc, const char **pipeline,
    char last[STORE_ID_MAX], struct gb_err *err)
{
	const char *p = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "pipeline_id"));
	int rc;

	if (p == NULL)
		p = o->pipeline_id ? o->pipeline_id :
		    lim->default_pipeline_id[0] ? lim->default_pipeline_id : NULL;
	if ((*pipeline = p) == NULL)
		return gb_errf(err, GB_EINVAL,
		    "field 'pipeline_id' is required: organization '%s' has no "
		    "settings.default_pipeline_id", o->org);
	if (strcmp(p, last) == 0)
		return 0;
	if ((rc = submit_check_pipeline(st, o->org, p, lim, err)))
		return rc;
	snprintf(last, STORE_ID_MAX, "%s", p);
	return 0;
}

/* Inside the caller's transaction: every context written, or the first error. */
static int
submit_alone_each(struct store *st, const struct submit_opts *o, const struct submit_limits *lim,
    const struct submit_item *items, size_t n, char (*ids)[STORE_ID_MAX], struct submit_result *res,
    struct gb_err *err)
{
	char last[STORE_ID_MAX] = "", id[STORE_ID_MAX];
	const char *pipeline;
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		res->failed = i;
		if ((rc = submit_check_context(items[i].doc, o->org, 0, o->noun, err)) ||
		    (rc = submit_alone_pipeline(st, o, lim, items[i].doc, &pipeline, last, err)) ||
		    (rc = submit_put(st, o, &items[i], NULL, pipeline, id, err)))
			break;
		if (ids)
			memcpy(ids[i], id, STORE_ID_MAX);
		res->count++;
	}
	if (rc == 0)
		res->failed = SIZE_MAX;
	return rc;
}

int
submit_contexts_create(struct store *st, const struct submit_opts *o,
    const struct submit_item *items, size_t n, char (*ids)[STORE_ID_MAX], struct submit_result *res,
    struct gb_err *err)
{
	struct submit_limits lim;
	int rc;

	memset(res, 0, sizeof(*res));
	res->failed = SIZE_MAX;
	memset(&lim, 0, sizeof(lim));
	if (n == 0)
		return gb_errf(err, GB_EINVAL, "%s holds no contexts",
		    o->origin ? o->origin : "the request");
	if ((rc = store_begin(st, err)))
		return rc;
	if ((rc = submit_read_limits(st, o->org, &lim, err)))
		goto fail;
	if (lim.max_batch_size >= 0 && (int64_t)n > lim.max_batch_size) {
		rc = gb_errf(err, GB_EINVAL,
		    "%s holds more than %lld contexts: organization '%s' allows %lld "
		    "in a batch (settings.max_batch_size)",
		    o->origin ? o->origin : "the request", (long long)lim.max_batch_size, o->org,
		    (long long)lim.max_batch_size);
		goto fail;
	}
	if ((rc = submit_alone_each(st, o, &lim, items, n, ids, res, err)) ||
	    (rc = submit_check_daily(st, o, &lim, n, res, err)) || (rc = store_commit(st, err)))
		goto fail;
	submit_limits_release(&lim);
	return 0;
fail:
	store_rollback(st);
	submit_limits_release(&lim);
	res->count = 0;
	return rc;
}
