/*
 * migrate.c - numbered schema migrations, tracked in PRAGMA user_version.
 *
 * Step N takes a database from version N-1 to N inside one transaction, so a
 * crash leaves the database at N-1 or N, never in between. Steps are only
 * ever appended: a released step is never edited. A step without SQL is
 * special (migrate_vacuum): it runs outside a transaction and bumps the
 * version in one of its own once done, so a crash before that runs it
 * again.
 */
#include <stdio.h>

#include "internal.h"

#define GEN(col, path) col " GENERATED ALWAYS AS (json_extract(doc, '" path "')) VIRTUAL"
#define CATALOG_GEN(t) \
	"CREATE TRIGGER " t "_gen_ins AFTER INSERT ON " t " BEGIN " \
	"UPDATE meta SET value = value + 1 WHERE key = 'catalog_gen'; END;\n" \
	"CREATE TRIGGER " t "_gen_upd AFTER UPDATE ON " t " BEGIN " \
	"UPDATE meta SET value = value + 1 WHERE key = 'catalog_gen'; END;\n" \
	"CREATE TRIGGER " t "_gen_del AFTER DELETE ON " t " BEGIN " \
	"UPDATE meta SET value = value + 1 WHERE key = 'catalog_gen'; END;\n"

/*
 * An outbox trigger: when sync is enabled, queue the row (row: NEW or OLD)
 * of table, or count one more change of it when it is queued already.
 */
#define OUTBOX_TRIGGER(name, event, table, row) \
	"CREATE TRIGGER " name " AFTER " event " ON " table "\n" \
	"  WHEN (SELECT value FROM sync_meta WHERE key = 'enabled') = '1' BEGIN\n" \
	"  INSERT INTO outbox (coll, doc_id, ver, queued_ms)\n" \
	"  VALUES ('" table "', " row "._id, 1,\n" \
	"  CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER))\n" \
	"  ON CONFLICT (coll, doc_id) DO UPDATE SET ver = ver + 1; END;\n"

static const struct migration {
	const char *name;
	const char *sql;
} migrations[] = {
	{ "collections, indexes and catalog generation",
	"CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;\n"
	"INSERT INTO meta VALUES ('catalog_gen', 0);\n"
	/* contexts: hot queue state in real columns, overlaid on read when dirty */
	"CREATE TABLE contexts (\n"
	"  _id TEXT PRIMARY KEY NOT NULL,\n"
	"  doc TEXT NOT NULL,\n"
	"  status TEXT NOT NULL,\n"
	"  updated_at TEXT,\n"
	"  retry_count INTEGER NOT NULL DEFAULT 0,\n"
	"  next_retry_at TEXT,\n"
	"  started_at TEXT,\n"
	"  worker_id TEXT,\n"
	"  lease_until INTEGER,\n"
	"  dirty INTEGER NOT NULL DEFAULT 0,\n"
	/*
	 * the indexed fields, copied from the document by every whole write: the
	 * queue's narrow updates and progress records never recompute them
	 */
	"  organization_id TEXT,\n"
	"  user_id TEXT,\n"
	"  batch_id TEXT,\n"
	"  type TEXT,\n"
	"  priority,\n"
	"  created_at TEXT\n"
	");\n"
	/* the schema's Indexing Strategy */
	"CREATE INDEX ctx_status_created ON contexts (status, created_at);\n"
	"CREATE INDEX ctx_batch ON contexts (batch_id);\n"
	"CREATE INDEX ctx_user ON contexts (user_id);\n"
	"CREATE INDEX ctx_org ON contexts (organization_id);\n"
	"CREATE INDEX ctx_type ON contexts (type);\n"
	"CREATE INDEX ctx_priority ON contexts (priority, status, created_at);\n"
	/* the access patterns: worker polling per organization, a user's history */
	"CREATE INDEX ctx_poll ON contexts (organization_id, priority, "
	"created_at) WHERE status = 'pending';\n"
	"CREATE INDEX ctx_user_recent ON contexts (user_id, organization_id, created_at);\n"
	/* the queue: a batch's own pending work, and leases to reap */
	"CREATE INDEX ctx_batch_poll ON contexts (batch_id, priority, "
	"created_at) WHERE status = 'pending';\n"
	"CREATE INDEX ctx_lease ON contexts (lease_until) WHERE status = 'processing';\n"
	"CREATE TABLE templates (_id TEXT PRIMARY KEY NOT NULL, doc TEXT NOT NULL,\n"
	"  " GEN("organization_id", "$.organization_id") ",\n"
	"  " GEN("is_active", "$.is_active") ");\n"
	"CREATE INDEX tmpl_org ON templates (organization_id);\n"
	"CREATE INDEX tmpl_active ON templates (is_active);\n"
	/* metadata.tags is multikey in MongoDB: one row per tag here */
	"CREATE TABLE template_tags (tag TEXT NOT NULL, template_id TEXT NOT NULL,\n"
	"  PRIMARY KEY (tag, template_id)) WITHOUT ROWID;\n"
	"CREATE INDEX tmpl_tags_by_template ON template_tags (template_id);\n"
	"CREATE TRIGGER tmpl_tags_ins AFTER INSERT ON templates BEGIN\n"
	"  INSERT OR IGNORE INTO template_tags SELECT value, NEW._id FROM json_each(NEW.doc, "
	"'$.metadata.tags')\n"
	"  WHERE type = 'text'; END;\n"
	"CREATE TRIGGER tmpl_tags_upd AFTER UPDATE OF doc ON templates BEGIN\n"
	"  DELETE FROM template_tags WHERE template_id = OLD._id;\n"
	"  INSERT OR IGNORE INTO template_tags SELECT value, NEW._id FROM json_each(NEW.doc, "
	"'$.metadata.tags')\n"
	"  WHERE type = 'text'; END;\n"
	"CREATE TRIGGER tmpl_tags_del AFTER DELETE ON templates BEGIN\n"
	"  DELETE FROM template_tags WHERE template_id = OLD._id; END;\n"
	"CREATE TABLE components (_id TEXT PRIMARY KEY NOT NULL, doc TEXT NOT NULL,\n"
	"  " GEN("type", "$.type") ",\n"
	"  " GEN("organization_id", "$.organization_id") ",\n"
	"  " GEN("is_active", "$.is_active") ");\n"
	"CREATE INDEX comp_type ON components (type);\n"
	"CREATE INDEX comp_org ON components (organization_id);\n"
	"CREATE INDEX comp_active ON components (is_active);\n"
	"CREATE TABLE pipelines (_id TEXT PRIMARY KEY NOT NULL, doc TEXT NOT NULL,\n"
	"  " GEN("organization_id", "$.organization_id") ",\n"
	"  " GEN("is_active", "$.is_active") ",\n"
	"  " GEN("default_context_type", "$.default_context_type") ");\n"
	"CREATE INDEX pipe_org ON pipelines (organization_id);\n"
	"CREATE INDEX pipe_active ON pipelines (is_active);\n"
	"CREATE INDEX pipe_ctx_type ON pipelines (default_context_type);\n"
	/* batches: progress counters in real columns, bumped with each context's end */
	"CREATE TABLE batches (_id TEXT PRIMARY KEY NOT NULL, doc TEXT NOT NULL,\n"
	"  status TEXT NOT NULL DEFAULT 'pending',\n"
	"  updated_at TEXT,\n"
	"  context_count INTEGER NOT NULL DEFAULT 0,\n"
	"  completed_count INTEGER NOT NULL DEFAULT 0,\n"
	"  failed_count INTEGER NOT NULL DEFAULT 0,\n"
	"  cancelled_count INTEGER NOT NULL DEFAULT 0,\n"
	"  processing_started_at TEXT,\n"
	"  processing_completed_at TEXT,\n"
	"  total_duration_ms INTEGER,\n"
	"  prompt_tokens INTEGER NOT NULL DEFAULT 0,\n"
	"  completion_tokens INTEGER NOT NULL DEFAULT 0,\n"
	"  cost REAL NOT NULL DEFAULT 0,\n"
	"  dirty INTEGER NOT NULL DEFAULT 0,\n"
	"  " GEN("organization_id", "$.organization_id") ",\n"
	"  " GEN("created_at", "$.created_at") ");\n"
	/* the batches' shard key, for listing an organization's batches */
	"CREATE INDEX batch_org_created ON batches (organization_id, created_at);\n"
	"CREATE TABLE users (_id TEXT PRIMARY KEY NOT NULL, doc TEXT NOT NULL,\n"
	"  " GEN("organization_id", "$.organization_id") ",\n"
	"  " GEN("email", "$.email") ");\n"
	"CREATE INDEX user_org ON users (organization_id);\n"
	"CREATE INDEX user_email ON users (email);\n"
	"CREATE TABLE organizations (_id TEXT PRIMARY KEY NOT NULL, doc TEXT NOT NULL);\n"
	CATALOG_GEN("templates") CATALOG_GEN("components") CATALOG_GEN("pipelines")
	CATALOG_GEN("organizations")
	},
	{ "worker heartbeats and pipeline statistics",
	/* the schema's worker_heartbeat: one row per worker, live for 60 s after last_seen */
	"CREATE TABLE worker_heartbeats (\n"
	"  worker_id TEXT PRIMARY KEY NOT NULL,\n"
	"  last_seen_ms INTEGER NOT NULL,\n"
	"  status TEXT NOT NULL,\n"
	"  processing_count INTEGER NOT NULL DEFAULT 0,\n"
	"  host TEXT NOT NULL DEFAULT ''\n"
	") WITHOUT ROWID;\n"
	"CREATE INDEX heartbeat_seen ON worker_heartbeats (last_seen_ms);\n"
	/* the schema's pipeline_stats: durations of the last day per pipeline, scored by time */
	"CREATE TABLE pipeline_stats (\n"
	"  pipeline_id TEXT NOT NULL,\n"
	"  at_ms INTEGER NOT NULL,\n"
	"  duration_ms INTEGER NOT NULL\n"
	");\n"
	"CREATE INDEX pstats_pipeline_at ON pipeline_stats (pipeline_id, at_ms);\n"
	"CREATE INDEX pstats_at ON pipeline_stats (at_ms);\n"
	},
	{ "web: counters, throughput, pause, listing indexes",
	/* data.title in a real column, copied by every whole write like the other indexed fields */
	"ALTER TABLE contexts ADD COLUMN title TEXT;\n"
	"UPDATE contexts SET title = doc ->> '$.data.title' WHERE json_type(doc, "
	"'$.data.title') = 'text';\n"
	/* lists newest first (created_at, _id descending): one index range per filter */
	"CREATE INDEX ctx_list_org ON contexts (organization_id, created_at, _id);\n"
	"CREATE INDEX ctx_list_status ON contexts (organization_id, status, created_at, _id);\n"
	"CREATE INDEX ctx_list_user ON contexts (organization_id, user_id, created_at, _id);\n"
	"DROP INDEX ctx_user_recent;\n"	/* ctx_list_user serves a user's history too */
	"CREATE INDEX ctx_list_type ON contexts (organization_id, type, created_at, _id);\n"
	/* a batch's contexts by status: its list, and its status summary from the index alone */
	"CREATE INDEX ctx_list_batch ON contexts (batch_id, status, created_at, _id);\n"
	"CREATE INDEX batch_list ON batches (organization_id, created_at, _id);\n"
	"CREATE INDEX batch_list_status ON batches (organization_id, status, created_at, _id);\n"
	/* contexts per organization and status, exact: kept by triggers, read without a scan */
	"CREATE TABLE ctx_counts (organization_id TEXT NOT NULL, status TEXT NOT NULL,\n"
	"  n INTEGER NOT NULL, PRIMARY KEY (organization_id, status)) WITHOUT ROWID;\n"
	"INSERT INTO ctx_counts SELECT COALESCE(organization_id, ''), status, "
	"count(*) FROM contexts\n"
	"  GROUP BY 1, 2;\n"
	"CREATE TRIGGER ctx_counts_ins AFTER INSERT ON contexts BEGIN\n"
	"  INSERT INTO ctx_counts VALUES (COALESCE(NEW.organization_id, ''), NEW.status, 1)\n"
	"  ON CONFLICT DO UPDATE SET n = n + 1; END;\n"
	"CREATE TRIGGER ctx_counts_del AFTER DELETE ON contexts BEGIN\n"
	"  UPDATE ctx_counts SET n = n - 1\n"
	"  WHERE organization_id = COALESCE(OLD.organization_id, '') AND status = OLD.status; "
	"END;\n"
	"CREATE TRIGGER ctx_counts_upd AFTER UPDATE OF status, organization_id ON contexts\n"
	"  WHEN OLD.status IS NOT NEW.status OR OLD.organization_id IS NOT NEW.organization_id "
	"BEGIN\n"
	"  UPDATE ctx_counts SET n = n - 1\n"
	"  WHERE organization_id = COALESCE(OLD.organization_id, '') AND status = OLD.status;\n"
	"  INSERT INTO ctx_counts VALUES (COALESCE(NEW.organization_id, ''), NEW.status, 1)\n"
	"  ON CONFLICT DO UPDATE SET n = n + 1; END;\n"
	/*
	 * contexts that became completed or failed, per organization and minute
	 * ("YYYY-MM-DDTHH:MM" of updated_at, the time of the change)
	 */
	"CREATE TABLE ctx_throughput (organization_id TEXT NOT NULL, minute TEXT NOT NULL,\n"
	"  completed INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0,\n"
	"  PRIMARY KEY (organization_id, minute)) WITHOUT ROWID;\n"
	"CREATE INDEX ctx_throughput_minute ON ctx_throughput (minute);\n"
	"INSERT INTO ctx_throughput SELECT COALESCE(organization_id, ''), substr(updated_at, 1, "
	"16),\n"
	"  sum(status = 'completed'), sum(status = 'failed') FROM contexts\n"
	"  WHERE status IN ('completed', 'failed')\n"
	"  AND updated_at >= strftime('%Y-%m-%dT%H:%M', 'now', '-2 days') GROUP BY 1, 2;\n"
	"CREATE TRIGGER ctx_throughput_upd AFTER UPDATE OF status ON contexts\n"
	"  WHEN NEW.status IN ('completed', 'failed') AND OLD.status IS NOT NEW.status\n"
	"  AND NEW.updated_at IS NOT NULL BEGIN\n"
	"  INSERT INTO ctx_throughput VALUES (COALESCE(NEW.organization_id, ''), "
	"substr(NEW.updated_at, 1, 16),\n"
	"  NEW.status = 'completed', NEW.status = 'failed')\n"
	"  ON CONFLICT DO UPDATE SET completed = completed + excluded.completed,\n"
	"  failed = failed + excluded.failed; END;\n"
	/* paused batches: their contexts are not claimed */
	"CREATE TABLE paused_batches (batch_id TEXT PRIMARY KEY NOT NULL, organization_id TEXT,\n"
	"  paused_at TEXT) WITHOUT ROWID;\n"
	},
	{ "api keys",
	/*
	 * the API's keys: the SHA-256 of the secret (hex), never the secret;
	 * permissions "read" or "read,write"; times in ms since the epoch
	 */
	"CREATE TABLE api_keys (\n"
	"  key_id TEXT PRIMARY KEY NOT NULL,\n"
	"  secret_hash TEXT NOT NULL,\n"
	"  user_id TEXT NOT NULL,\n"
	"  organization_id TEXT NOT NULL,\n"
	"  name TEXT NOT NULL DEFAULT '',\n"
	"  permissions TEXT NOT NULL,\n"
	"  created_ms INTEGER NOT NULL,\n"
	"  last_used_ms INTEGER,\n"
	"  revoked_ms INTEGER\n"
	") WITHOUT ROWID;\n"
	"CREATE INDEX apikey_org_user ON api_keys (organization_id, user_id);\n"
	},
	{ "sync",
	/* sync's marks; 'enabled' = '1' turns the outbox triggers on */
	"CREATE TABLE sync_meta (key TEXT PRIMARY KEY NOT NULL, value TEXT) WITHOUT ROWID;\n"
	/*
	 * local changes to push: one row per document, at the position of its
	 * first unsent change, ver bumped by every later one
	 */
	"CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, coll TEXT NOT NULL,\n"
	"  doc_id TEXT NOT NULL, ver INTEGER NOT NULL DEFAULT 1, queued_ms INTEGER NOT NULL,\n"
	"  UNIQUE (coll, doc_id));\n"
	/*
	 * documents refused for good: by the cluster (direction 'push'; seq and
	 * ver: the outbox row refused), or on pull by the box ('pull'; 0, 0)
	 */
	"CREATE TABLE sync_rejected (coll TEXT NOT NULL, doc_id TEXT NOT NULL,\n"
	"  ver INTEGER NOT NULL, seq INTEGER NOT NULL, at_ms INTEGER NOT NULL,\n"
	"  error TEXT NOT NULL, direction TEXT NOT NULL DEFAULT 'push',\n"
	"  PRIMARY KEY (coll, doc_id)) WITHOUT ROWID;\n"
	"CREATE TABLE sync_checkpoint (coll TEXT PRIMARY KEY NOT NULL, updated_at TEXT NOT NULL,\n"
	"  doc_id TEXT NOT NULL, pulled INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;\n"
	"CREATE TABLE sync_status (coll TEXT PRIMARY KEY NOT NULL,\n"
	"  pushed INTEGER NOT NULL DEFAULT 0, pulled INTEGER NOT NULL DEFAULT 0,\n"
	"  conflicts INTEGER NOT NULL DEFAULT 0, rejected INTEGER NOT NULL DEFAULT 0,\n"
	"  last_push_ms INTEGER NOT NULL DEFAULT 0, last_pull_ms INTEGER NOT NULL DEFAULT 0,\n"
	"  last_error_ms INTEGER NOT NULL DEFAULT 0, last_error TEXT,\n"
	/* the pull's last error apart from the push's (last_error); undated: see outbox.h */
	"  pull_error_ms INTEGER NOT NULL DEFAULT 0, pull_error TEXT,\n"
	"  undated INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;\n"
	/* the cluster's worker_lock:{context_id} keys the box holds */
	"CREATE TABLE cluster_locks (ctx_id TEXT PRIMARY KEY NOT NULL, worker_id TEXT NOT NULL,\n"
	"  taken_ms INTEGER NOT NULL) WITHOUT ROWID;\n"
	/*
	 * contexts: the columns that are part of the document, not the worker's
	 * lease (worker_id, lease_until) nor dirty; deletes (retention) stay local
	 */
	OUTBOX_TRIGGER("outbox_ctx_ins", "INSERT", "contexts", "NEW")
	OUTBOX_TRIGGER("outbox_ctx_upd", "UPDATE OF doc, status, updated_at, retry_count, "
	    "next_retry_at, started_at", "contexts", "NEW")
	OUTBOX_TRIGGER("outbox_batch_ins", "INSERT", "batches", "NEW")
	OUTBOX_TRIGGER("outbox_batch_upd", "UPDATE OF doc, status, updated_at, context_count, "
	    "completed_count, failed_count, cancelled_count, processing_started_at, "
	    "processing_completed_at, total_duration_ms, prompt_tokens, completion_tokens, cost",
	    "batches", "NEW")
	/* templates and components: the cluster's caches of them are dropped */
	OUTBOX_TRIGGER("outbox_tmpl_ins", "INSERT", "templates", "NEW")
	OUTBOX_TRIGGER("outbox_tmpl_upd", "UPDATE", "templates", "NEW")
	OUTBOX_TRIGGER("outbox_tmpl_del", "DELETE", "templates", "OLD")
	OUTBOX_TRIGGER("outbox_comp_ins", "INSERT", "components", "NEW")
	OUTBOX_TRIGGER("outbox_comp_upd", "UPDATE", "components", "NEW")
	OUTBOX_TRIGGER("outbox_comp_del", "DELETE", "components", "OLD")
	},
	{ "jobs and document migrations",
	/*
	 * the box's own jobs (archive, backup, quick_check, optimize, ...): the
	 * last run of each, what it counted (a JSON object) and its error
	 */
	"CREATE TABLE box_jobs (job TEXT PRIMARY KEY NOT NULL,\n"
	"  started_ms INTEGER NOT NULL DEFAULT 0, finished_ms INTEGER NOT NULL DEFAULT 0,\n"
	"  ok INTEGER NOT NULL DEFAULT 0, counts TEXT NOT NULL DEFAULT '{}',\n"
	"  error TEXT NOT NULL DEFAULT '', last_ok_ms INTEGER NOT NULL DEFAULT 0,\n"
	"  running INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;\n"
	/*
	 * document migrations (migrate docs): one row per named migration begun;
	 * last_id the checkpoint (the last _id done, in _id order), done 1 when
	 * finished
	 */
	"CREATE TABLE doc_migrations (name TEXT PRIMARY KEY NOT NULL,\n"
	"  done INTEGER NOT NULL DEFAULT 0, last_id TEXT NOT NULL DEFAULT '',\n"
	"  migrated INTEGER NOT NULL DEFAULT 0, started_ms INTEGER NOT NULL DEFAULT 0,\n"
	"  finished_ms INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;\n"
	},
	/*
	 * free pages can go back to the file system (retention's deletes):
	 * auto_vacuum = INCREMENTAL, which an existing file takes only through a
	 * VACUUM, outside any transaction (migrate_vacuum); a new file has it
	 * from before its first table (store_open)
	 */
	{ "incremental vacuum (auto_vacuum)", NULL },
};

#define NMIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

int
store_schema_latest(void)
{
	return NMIGRATIONS;
}

const char *
store_migration_name(int v)
{
	return v >= 1 && v <= NMIGRATIONS ? migrations[v - 1].name : NULL;
}

/* PRAGMA auto_vacuum of the open database (0 none, 1 full, 2 incremental). */
static int
migrate_auto_vacuum(struct store *st, int *mode, struct gb_err *err)
{
	sqlite3_stmt *stmt = NULL;
	int rc = 0;

	if (sqlite3_prepare_v2(st->db, "PRAGMA auto_vacuum", -1, &stmt, NULL) != SQLITE_OK ||
	    sqlite3_step(stmt) != SQLITE_ROW)
		rc = store_sqlerr(st, err, "reading auto_vacuum");
	else
		*mode = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	return rc;
}

/*
 * Step v + 1, the special one, outside any transaction: VACUUM the file into
 * auto_vacuum = INCREMENTAL (atomic by itself; skipped when the file has it
 * already), then the version, in a transaction that checks it is still v
 * (another process may have done it meanwhile).
 */
static int
migrate_vacuum(struct store *st, int v, struct gb_err *err)
{
	char sql[64], what[128];
	int rc, mode = 0, now;

	if ((rc = migrate_auto_vacuum(st, &mode, err)))
		return rc;
	if (mode != 2 && sqlite3_exec(st->db, "PRAGMA auto_vacuum = INCREMENTAL; VACUUM", NULL,
	    NULL, NULL) != SQLITE_OK) {
		snprintf(what, sizeof(what), "migration %d (%s)", v + 1, migrations[v].name);
		return store_sqlerr(st, err, what);
	}
	if ((rc = store_begin(st, err)))
		return rc;
	if ((rc = store_schema_version(st, &now, err)) == 0 && now == v) {
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
		rc = store_exec(st, sql, err);
	}
	if (rc == 0)
		return store_commit(st, err);
	store_rollback(st);
	return rc;
}

int
store_migrate(struct store *st, int *from, int *to, struct gb_err *err)
{
	char sql[64];
	int rc, v, first = 1;

	for (;;) {
		if ((rc = store_begin(st, err)))
			return rc;
		/* read the version inside the write transaction: two processes may race here */
		if ((rc = store_schema_version(st, &v, err)))
			goto fail;
		if (first && from)
			*from = v;
		first = 0;
		if (v > NMIGRATIONS) {
			rc = gb_errf(err, GB_EVERSION,
			    "database '%s' has schema version %d, newer than this "
			    "genbox (version %d): upgrade genbox", st->path, v, NMIGRATIONS);
			goto fail;
		}
		if (v == NMIGRATIONS)
			break;
		if (migrations[v].sql == NULL) {
			store_rollback(st);	/* nothing written: the step runs outside */
			if ((rc = migrate_vacuum(st, v, err)))
				return rc;
			continue;
		}
		if (sqlite3_exec(st->db, migrations[v].sql, NULL, NULL, NULL) != SQLITE_OK) {
			char what[128];

			snprintf(what, sizeof(what), "migration %d (%s)", v + 1,
			    migrations[v].name);
			rc = store_sqlerr(st, err, what);
			goto fail;
		}
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
		if ((rc = store_exec(st, sql, err)) || (rc = store_commit(st, err)))
			goto fail;
	}
	store_rollback(st);	/* nothing was written in the last round */
	if (to)
		*to = v;
	return 0;
fail:
	store_rollback(st);
	return rc;
}
