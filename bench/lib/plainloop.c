/*
 * plainloop.c - the plain SQLite claim-and-complete loop (see plainloop.h).
 *
 * It keeps the work of a context and the SQL apart in its timings, so a
 * reader sees where the reference spends its time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "../../appliance/draft.h"
#include "../../appliance/prompt.h"
#include "../../appliance/render.h"
#include "../../appliance/template.h"
#include "../../base/gbtime.h"
#include "../../storage/store.h"
#include "benchlib.h"
#include "plainloop.h"

#define PLAINLOOP_TEMPLATE "tmpl_article_technical"

struct plainloop {
	sqlite3 *db;
	sqlite3_stmt *begin_imm, *begin, *commit, *next, *claim, *done;
	const char *org;
	int noop;
	cJSON *tmpl;			/* the demo template, or NULL when noop */
	struct plainloop_stats *stats;
};

/* The three results of a context's components, as JSON texts (malloc'd). */
struct plainloop_result {
	char *tmpl, *generated, *formatted;
};

static sqlite3_stmt *
plainloop_prepare(struct plainloop *p, const char *sql)
{
	sqlite3_stmt *s;

	if (sqlite3_prepare_v2(p->db, sql, -1, &s, NULL) != SQLITE_OK)
		bench_die(sql, sqlite3_errmsg(p->db));
	return s;
}

static void
plainloop_step(struct plainloop *p, sqlite3_stmt *s, const char *what)
{
	if (sqlite3_step(s) != SQLITE_DONE)
		bench_die(what, sqlite3_errmsg(p->db));
	sqlite3_reset(s);
}

/* The demo template, read once. */
static cJSON *
plainloop_template(struct plainloop *p)
{
	sqlite3_stmt *s = plainloop_prepare(p, "SELECT doc FROM templates WHERE _id = '"
	    PLAINLOOP_TEMPLATE "'");
	cJSON *t = NULL;

	if (sqlite3_step(s) == SQLITE_ROW)
		t = cJSON_Parse((const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	if (t == NULL)
		bench_die("plain loop", "template '" PLAINLOOP_TEMPLATE "' is missing or not JSON");
	return t;
}

static void
plainloop_open(struct plainloop *p, const char *path)
{
	if (sqlite3_open_v2(path, &p->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
	    NULL) != SQLITE_OK)
		bench_die(path, p->db ? sqlite3_errmsg(p->db) : "out of memory");
	sqlite3_busy_timeout(p->db, 5000);
	if (sqlite3_exec(p->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL", NULL, NULL,
	    NULL) != SQLITE_OK)
		bench_die(path, sqlite3_errmsg(p->db));
	p->begin_imm = plainloop_prepare(p, "BEGIN IMMEDIATE");
	p->begin = plainloop_prepare(p, "BEGIN");
	p->commit = plainloop_prepare(p, "COMMIT");
	/* the worker polling order, on the ctx_poll index */
	p->next = plainloop_prepare(p, "SELECT _id, doc FROM contexts WHERE status = 'pending' "
	    "AND organization_id = ?1 AND (next_retry_at IS NULL OR next_retry_at <= ?2) "
	    "ORDER BY priority, created_at LIMIT 1");
	p->claim = plainloop_prepare(p, "UPDATE contexts SET status = 'processing', "
	    "started_at = ?2, updated_at = ?2 WHERE _id = ?1 AND status = 'pending'");
	if (p->noop)
		p->done = plainloop_prepare(p, "UPDATE contexts SET status = 'completed', "
		    "updated_at = ?2, doc = json_set(doc, '$.status', 'completed', "
		    "'$.updated_at', ?2, '$.processing.started_at', started_at, "
		    "'$.processing.completed_at', ?2) WHERE _id = ?1");
	else
		p->done = plainloop_prepare(p, "UPDATE contexts SET status = 'completed', "
		    "updated_at = ?2, doc = json_set(doc, '$.data.template', json(?3), "
		    "'$.data.generated_content', json(?4), '$.data.formatted_content', json(?5), "
		    "'$.status', 'completed', '$.updated_at', ?2, "
		    "'$.processing.started_at', started_at, '$.processing.completed_at', ?2) "
		    "WHERE _id = ?1");
	p->tmpl = p->noop ? NULL : plainloop_template(p);
}

static void
plainloop_close(struct plainloop *p)
{
	sqlite3_finalize(p->begin_imm);
	sqlite3_finalize(p->begin);
	sqlite3_finalize(p->commit);
	sqlite3_finalize(p->next);
	sqlite3_finalize(p->claim);
	sqlite3_finalize(p->done);
	sqlite3_close(p->db);
	cJSON_Delete(p->tmpl);
}

/* One generated section into generated_content, as the ai_generator lays it out. */
static void
plainloop_add_section(cJSON *gc, cJSON *body, const cJSON *sec, const char *text)
{
	const char *sid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(sec, "id"));
	const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(sec, "name"));
	cJSON *item;

	if (sid && strcmp(sid, "introduction") == 0) {
		cJSON_AddStringToObject(gc, "introduction", text);
	} else if (sid && strcmp(sid, "conclusion") == 0) {
		cJSON_AddStringToObject(gc, "conclusion", text);
	} else {
		item = cJSON_CreateObject();
		cJSON_AddStringToObject(item, "id", sid ? sid : "");
		cJSON_AddStringToObject(item, "title", name ? name : sid ? sid : "");
		cJSON_AddStringToObject(item, "content", text);
		cJSON_AddItemToArray(body, item);
	}
}

/* One offline draft per section of the expanded template. */
static cJSON *
plainloop_generate(struct plainloop *p, const cJSON *data, const cJSON *expanded)
{
	struct gb_err err = { 0, "" };
	cJSON *gc = cJSON_CreateObject(), *body = cJSON_CreateArray();
	const cJSON *sec;

	cJSON_ArrayForEach(sec, cJSON_GetObjectItemCaseSensitive(expanded, "sections")) {
		const cJSON *range = cJSON_GetObjectItemCaseSensitive(sec, "word_range");
		const cJSON *lo = cJSON_GetArrayItem(range, 0), *hi = cJSON_GetArrayItem(range, 1);
		char *system = NULL, *user = NULL, *text;
		int64_t t0;

		if (prompt_build(data, sec, &system, &user, &err))
			bench_die("prompt_build", err.msg);
		t0 = bench_mono_us();
		text = offline_draft(system, user, cJSON_IsNumber(lo) ? lo->valueint : 100,
		    cJSON_IsNumber(hi) ? hi->valueint : 200);
		p->stats->draft_us += bench_mono_us() - t0;
		if (text == NULL)
			bench_die("offline_draft", "out of memory");
		plainloop_add_section(gc, body, sec, text);
		free(system);
		free(user);
		free(text);
	}
	cJSON_AddItemToObject(gc, "body", body);
	return gc;
}

/*
 * The three components on one context, as the pool does them: the expanded
 * template, the generated content, the markdown rendering
 * (comp_transformer_markdown: no table of contents).
 */
static void
plainloop_work(struct plainloop *p, const char *id, const char *doc, struct plainloop_result *r)
{
	struct gb_err err = { 0, "" };
	cJSON *ctx = cJSON_Parse(doc), *expanded = NULL, *gc, *fc;
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(ctx, "data");
	const char *title;
	char *content = NULL;

	if (ctx == NULL)
		bench_die(id, "stored document is not JSON");
	if (template_expand(p->tmpl, id, &expanded, &err))
		bench_die("template_expand", err.msg);
	gc = plainloop_generate(p, data, expanded);
	title = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(data, "title"));
	if (transform_render(gc, title, "markdown", 0, &content, &err))
		bench_die("transform_render", err.msg);
	fc = cJSON_CreateObject();
	cJSON_AddStringToObject(fc, "format", "markdown");
	cJSON_AddStringToObject(fc, "content", content);
	r->tmpl = cJSON_PrintUnformatted(expanded);
	r->generated = cJSON_PrintUnformatted(gc);
	r->formatted = cJSON_PrintUnformatted(fc);
	if (r->tmpl == NULL || r->generated == NULL || r->formatted == NULL)
		bench_die("plain loop", "out of memory");
	free(content);
	cJSON_Delete(fc);
	cJSON_Delete(gc);
	cJSON_Delete(expanded);
	cJSON_Delete(ctx);
}

/*
 * The first transaction: the next due context, set to processing. *doc:
 * malloc'd, or NULL when noop.
 */
static void
plainloop_claim(struct plainloop *p, char id[STORE_ID_MAX], char **doc)
{
	char now[GB_TIME_LEN];

	plainloop_step(p, p->begin_imm, "begin immediate");
	gb_time_format(gb_now_ms(), now);
	sqlite3_bind_text(p->next, 1, p->org, -1, SQLITE_STATIC);
	sqlite3_bind_text(p->next, 2, now, -1, SQLITE_STATIC);
	if (sqlite3_step(p->next) != SQLITE_ROW)
		bench_die("plain loop", "no pending context left before the last");
	snprintf(id, STORE_ID_MAX, "%s", (const char *)sqlite3_column_text(p->next, 0));
	*doc = p->noop ? NULL : strdup((const char *)sqlite3_column_text(p->next, 1));
	sqlite3_reset(p->next);
	if (!p->noop && *doc == NULL)
		bench_die("plain loop", "out of memory");
	sqlite3_bind_text(p->claim, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(p->claim, 2, now, -1, SQLITE_STATIC);
	plainloop_step(p, p->claim, "claim");
	plainloop_step(p, p->commit, "commit");
}

/* The second transaction: the results and the completed status. */
static void
plainloop_complete(struct plainloop *p, const char *id, const struct plainloop_result *r)
{
	char now[GB_TIME_LEN];

	gb_time_format(gb_now_ms(), now);
	plainloop_step(p, p->begin, "begin");
	sqlite3_bind_text(p->done, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(p->done, 2, now, -1, SQLITE_STATIC);
	if (!p->noop) {
		sqlite3_bind_text(p->done, 3, r->tmpl, -1, SQLITE_STATIC);
		sqlite3_bind_text(p->done, 4, r->generated, -1, SQLITE_STATIC);
		sqlite3_bind_text(p->done, 5, r->formatted, -1, SQLITE_STATIC);
	}
	plainloop_step(p, p->done, "complete");
	sqlite3_clear_bindings(p->done);
	plainloop_step(p, p->commit, "commit");
}

void
plainloop_run(const char *db, const char *org, size_t n, int noop, struct plainloop_stats *out)
{
	struct plainloop p = { .org = org, .noop = noop, .stats = out };
	int64_t t0;

	memset(out, 0, sizeof(*out));
	plainloop_open(&p, db);
	t0 = bench_mono_us();
	for (size_t i = 0; i < n; i++) {
		struct plainloop_result r = { NULL, NULL, NULL };
		char id[STORE_ID_MAX], *doc;
		int64_t t1 = bench_mono_us(), t2;

		plainloop_claim(&p, id, &doc);
		t2 = bench_mono_us();
		out->sql_us += t2 - t1;
		if (!noop)
			plainloop_work(&p, id, doc, &r);
		t1 = bench_mono_us();
		out->work_us += t1 - t2;
		plainloop_complete(&p, id, &r);
		out->sql_us += bench_mono_us() - t1;
		free(doc);
		free(r.tmpl);
		free(r.generated);
		free(r.formatted);
	}
	out->secs = bench_secs(t0);
	plainloop_close(&p);
}
