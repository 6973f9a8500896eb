/*
 * batchfile.c - a file of JSON lines into a new batch and its contexts,
 * through storage/submit.h (which holds the rules a new context and batch
 * follow, the same for the API): this file reads and parses the lines and
 * names the line at fault.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../base/buf.h"
#include "../storage/docs.h"
#include "batchfile.h"

/* One line as a context of the batch, its text kept. */
static int
batchfile_put_line(struct submit_batch *sb, const struct buf *line, struct submit_result *res,
    struct gb_err *err)
{
	struct submit_item it = { NULL, buf_str(line), line->len };
	cJSON *ctx;
	int rc;

	res->failed = res->count;	/* this line, unless the batch's limit says otherwise */
	if (memchr(it.text, '\0', it.len) != NULL)
		return gb_errf(err, GB_EINVAL, "holds a NUL byte");
	if ((ctx = cJSON_ParseWithLength(it.text, it.len)) == NULL || !cJSON_IsObject(ctx)) {
		cJSON_Delete(ctx);
		return gb_errf(err, GB_EINVAL, "not a JSON object");
	}
	it.doc = ctx;
	rc = submit_batch_add(sb, &it, NULL, res, err);
	cJSON_Delete(ctx);
	return rc;
}

/* Every line of f into the batch. */
static int
batchfile_put_lines(struct submit_batch *sb, FILE *f, struct submit_result *res, struct gb_err *err)
{
	struct buf line;
	size_t lineno = 0;
	int rc;

	buf_init(&line, STORE_MAX_DOC);
	for (;;) {
		const char *p;

		if ((rc = buf_getline(&line, f)) == 0)
			break;
		lineno++;
		if (rc < 0) {
			rc = rc == GB_ETOOBIG ?
			    gb_errf(err, rc, "line %zu: document exceeds the limit of %u bytes",
			    lineno, STORE_MAX_DOC) :
			    gb_errf(err, rc, "line %zu: read error: %s", lineno, strerror(errno));
			break;
		}
		for (p = buf_str(&line);
		    p < buf_str(&line) + line.len && strchr(" \t\r\n", *p) && *p; p++)
			;
		if (p == buf_str(&line) + line.len)
			continue;
		if ((rc = batchfile_put_line(sb, &line, res, err))) {
			struct gb_err inner = *err;

			/* a limit of the whole batch names no line */
			if (res->failed != SIZE_MAX) {
				gb_err_clear(err);
				gb_errf(err, rc, "line %zu: %s", lineno, inner.msg);
			}
			break;
		}
	}
	buf_release(&line);
	return rc;
}

/*
 * A file's contexts (its lines that are not blank) counted before anything
 * is written: more than one batch holds is refused at once, not after
 * writing them. Standard input is not read twice: submit_batch_add stops it
 * at the context past the limit.
 */
static int
batchfile_precount(FILE *f, const char *path, struct gb_err *err)
{
	char chunk[65536];
	size_t n, count = 0;
	int blank = 1;

	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		for (size_t i = 0; i < n; i++) {
			if (chunk[i] == '\n') {
				count += !blank;
				blank = 1;
			} else if (!strchr(" \t\r", chunk[i])) {
				blank = 0;
			}
		}
	}
	count += !blank;
	if (ferror(f) || fseek(f, 0, SEEK_SET) < 0)
		return gb_errf(err, GB_EIO, "cannot read '%s': %s", path, strerror(errno));
	if (count > SUBMIT_MAX_BATCH)
		return gb_errf(err, GB_EINVAL,
		    "'%s' holds %zu contexts, more than the %d one batch holds (its document is "
		    "limited to %u bytes): split it into several files, one batch each", path,
		    count, SUBMIT_MAX_BATCH, STORE_MAX_DOC);
	return 0;
}

int
batchfile_create(struct store *st, const struct batchfile_opts *o, char batch[STORE_ID_MAX],
    size_t *count, struct gb_err *err)
{
	struct submit_opts so = { o->org, o->user, o->pipeline, o->input, NULL, "run-batch",
		"the file", "line" };
	struct submit_result res;
	struct submit_batch *sb = NULL;
	FILE *f;
	int rc;

	*count = 0;
	if (strcmp(o->input, "-") == 0)
		f = stdin;
	else if ((f = fopen(o->input, "rb")) == NULL)
		return gb_errf(err, GB_ENOTFOUND, "cannot open '%s': %s", o->input,
		    strerror(errno));
	if (f != stdin && (rc = batchfile_precount(f, o->input, err))) {
		fclose(f);
		return rc;
	}
	if ((rc = submit_batch_begin(st, &so, &sb, &res, err)) == 0 &&
	    (rc = batchfile_put_lines(sb, f, &res, err)) == 0 &&
	    (rc = submit_batch_end(sb, &res, err)) == 0) {
		snprintf(batch, STORE_ID_MAX, "%s", res.batch_id);
		*count = res.count;
	}
	submit_batch_abort(sb);
	if (f != stdin)
		fclose(f);
	return rc;
}
