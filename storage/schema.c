/*
 * schema.c - what each collection's documents must look like: the _id
 * prefix, the date paths (declared once here, used on import, export and
 * sync), and the field rules checked on every write. Rules check types of the
 * fields the box relies on; every other field is kept as it came.
 */
#include <stddef.h>

#include "internal.h"

static const char *const ctx_statuses[] = {
	"pending", "processing", "completed", "failed", "cancelled", NULL,
};

static const char *const ctx_dates[] = {
	"created_at", "updated_at", "next_retry_at", "processing.started_at",
	"processing.completed_at", "error.time", "processing.attempts.at", NULL,
};
static const struct field_rule ctx_rules[] = {
	{ "organization_id", F_STRING, F_REQUIRED, NULL },
	{ "status", F_ENUM, F_REQUIRED, ctx_statuses },
	{ "type", F_STRING, 0, NULL },
	{ "pipeline", F_STRARRAY, F_NULLABLE, NULL },
	{ "pipeline_id", F_STRING, F_NULLABLE, NULL },
	{ "data", F_OBJECT, 0, NULL },
	{ "data.title", F_STRING, F_NULLABLE, NULL },
	{ "data.keywords", F_STRARRAY, F_NULLABLE, NULL },
	{ "processing", F_OBJECT, F_NULLABLE, NULL },
	{ "processing.duration_ms", F_INT, F_NONNEG | F_NULLABLE, NULL },
	{ "processing.completed_components", F_STRARRAY, 0, NULL },
	{ "processing.component_timings", F_OBJECT, 0, NULL },
	{ "processing.attempts", F_ARRAY, 0, NULL },
	{ "error", F_OBJECT, F_NULLABLE, NULL },
	{ "retry_count", F_INT, F_NONNEG, NULL },
	{ "batch_id", F_STRING, F_NULLABLE, NULL },
	{ "user_id", F_STRING, F_NULLABLE, NULL },
	{ "metadata", F_OBJECT, 0, NULL },
	{ "metadata.priority", F_INT, F_NULLABLE, NULL },
	{ NULL, 0, 0, NULL },
};

static const char *const catalog_dates[] = { "created_at", "updated_at", NULL };

static const struct field_rule tmpl_rules[] = {
	{ "organization_id", F_STRING, F_REQUIRED, NULL },
	{ "name", F_STRING, F_REQUIRED, NULL },
	{ "version", F_STRING, 0, NULL },
	{ "structure", F_OBJECT, 0, NULL },
	{ "structure.sections", F_ARRAY, 0, NULL },
	{ "structure.sections.id", F_STRING, F_REQUIRED, NULL },
	{ "structure.sections.type", F_STRING, F_REQUIRED, NULL },
	{ "structure.sections.min_sections", F_INT, F_NONNEG, NULL },
	{ "structure.sections.max_sections", F_INT, F_NONNEG, NULL },
	{ "metadata", F_OBJECT, 0, NULL },
	{ "metadata.tags", F_STRARRAY, 0, NULL },
	{ "is_active", F_BOOL, 0, NULL },
	{ NULL, 0, 0, NULL },
};

static const struct field_rule comp_rules[] = {
	{ "organization_id", F_STRING, F_REQUIRED, NULL },
	{ "type", F_STRING, F_REQUIRED, NULL },
	{ "name", F_STRING, 0, NULL },
	{ "config", F_OBJECT, 0, NULL },
	{ "config.max_tokens", F_INT, F_NONNEG, NULL },
	{ "config.temperature", F_NUMBER, 0, NULL },
	{ "config.stop_sequences", F_STRARRAY, 0, NULL },
	{ "metadata", F_OBJECT, 0, NULL },
	{ "metadata.cost_per_1k_tokens", F_NUMBER, F_NONNEG, NULL },
	{ "is_active", F_BOOL, 0, NULL },
	{ NULL, 0, 0, NULL },
};

static const struct field_rule pipe_rules[] = {
	{ "organization_id", F_STRING, F_REQUIRED, NULL },
	{ "name", F_STRING, 0, NULL },
	{ "components", F_ARRAY, F_REQUIRED, NULL },
	{ "components.component_id", F_STRING, F_REQUIRED, NULL },
	{ "components.order", F_INT, 0, NULL },
	{ "components.config_overrides", F_OBJECT, 0, NULL },
	{ "default_context_type", F_STRING, F_NULLABLE, NULL },
	{ "is_active", F_BOOL, 0, NULL },
	{ NULL, 0, 0, NULL },
};

static const char *const batch_dates[] = {
	"created_at", "updated_at", "processing_started_at", "processing_completed_at", NULL,
};
static const struct field_rule batch_rules[] = {
	{ "organization_id", F_STRING, F_REQUIRED, NULL },
	{ "status", F_ENUM, 0, ctx_statuses },
	{ "name", F_STRING, 0, NULL },
	{ "context_ids", F_STRARRAY, 0, NULL },
	{ "context_count", F_INT, F_NONNEG, NULL },
	{ "completed_count", F_INT, F_NONNEG, NULL },
	{ "failed_count", F_INT, F_NONNEG, NULL },
	{ "cancelled_count", F_INT, F_NONNEG, NULL },
	{ "total_duration_ms", F_INT, F_NONNEG | F_NULLABLE, NULL },
	/* what the batch's contexts cost, summed as each ends */
	{ "usage", F_OBJECT, 0, NULL },
	{ "usage.prompt_tokens", F_INT, F_NONNEG, NULL },
	{ "usage.completion_tokens", F_INT, F_NONNEG, NULL },
	{ "usage.total_tokens", F_INT, F_NONNEG, NULL },
	{ "usage.cost", F_NUMBER, F_NONNEG, NULL },
	{ "pipeline_id", F_STRING, F_NULLABLE, NULL },
	{ "metadata", F_OBJECT, 0, NULL },
	{ "metadata.priority", F_INT, F_NULLABLE, NULL },
	{ NULL, 0, 0, NULL },
};

static const char *const user_dates[] = {
	"created_at",
	"updated_at",
	"last_login_at",
	"api_keys.created_at",
	"api_keys.last_used_at",
	NULL,
};
static const char *const permissions[] = { "read", "write", NULL };
static const struct field_rule user_rules[] = {
	{ "organization_id", F_STRING, F_REQUIRED, NULL },
	{ "email", F_STRING, F_REQUIRED, NULL },
	{ "name", F_STRING, 0, NULL },
	{ "role", F_STRING, 0, NULL },
	{ "status", F_STRING, 0, NULL },
	{ "api_keys", F_ARRAY, 0, NULL },
	{ "api_keys.key_id", F_STRING, F_REQUIRED, NULL },
	{ "api_keys.permissions", F_ENUM, F_EACH, permissions },
	{ NULL, 0, 0, NULL },
};

static const char *const org_dates[] = {
	"created_at", "updated_at", "billing.plan_renewal_date", NULL,
};
static const struct field_rule org_rules[] = {
	{ "name", F_STRING, F_REQUIRED, NULL },
	{ "plan", F_STRING, 0, NULL },
	{ "settings", F_OBJECT, 0, NULL },
	{ "settings.max_contexts_per_day", F_INT, F_NONNEG, NULL },
	{ "settings.max_batch_size", F_INT, F_NONNEG, NULL },
	{ "settings.allowed_models", F_STRARRAY, 0, NULL },
	{ "settings.default_pipeline_id", F_STRING, F_NULLABLE, NULL },
	{ NULL, 0, 0, NULL },
};

const struct coll_def coll_defs[COLL_COUNT] = {
	[COLL_CONTEXTS] = { "contexts", "ctx_", ctx_dates, ctx_rules },
	[COLL_TEMPLATES] = { "templates", "tmpl_", catalog_dates, tmpl_rules },
	[COLL_COMPONENTS] = { "components", "comp_", catalog_dates, comp_rules },
	[COLL_PIPELINES] = { "pipelines", "pipe_", catalog_dates, pipe_rules },
	[COLL_BATCHES] = { "batches", "batch_", batch_dates, batch_rules },
	[COLL_USERS] = { "users", "user_", user_dates, user_rules },
	[COLL_ORGANIZATIONS] = { "organizations", "org_", org_dates, org_rules },
};

const char *
store_doc_expr(enum coll c)
{
	return c == COLL_CONTEXTS ? CTX_DOC_EXPR : c == COLL_BATCHES ? BATCH_DOC_EXPR : "doc";
}
