/*
 * fuzz-import.c - import of documents, as `genbox import` does it: the
 * input's first byte picks the collection (low 4 bits), --upsert (0x10)
 * and, 0xfe and 0xff when GENBOX_FUZZ_CAP is set, pads the first line to the
 * 16 MiB cap (0xfe: exactly the cap, 0xff: one byte past it; not while
 * fuzzing, where the fuzzer soon finds these bytes and a 16 MiB document
 * per input takes the speed from thousands of inputs a second to tens, but
 * on the kept inputs of tests/fuzz/regress/import); the rest is the file, a JSON array
 * when it starts with '[', JSON lines (Extended JSON, dates...) otherwise,
 * through store_json_array_each and store_put.
 *
 * Invariants: an error has a message; a document past STORE_MAX_DOC is
 * GB_ETOOBIG; every accepted document reads back, exports (plain, by an
 * _id filter) to the same text, and its Extended JSON export imports again
 * (replacing it) to the same text. Each input runs in a transaction rolled
 * back at its end, so every run starts from the schema's examples.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../../storage/docs.h"
#include "fuzz.h"

static struct store *st;

struct run {
	enum coll coll;
	enum store_put_mode mode;
	size_t count;
	struct gb_err err;	/* the import's error, as the command reports it */
};

struct one {
	char *text;
	size_t n;
};

static int
keep_doc(void *arg, const char *doc, size_t len)
{
	struct one *o = arg;

	o->n++;
	free(o->text);
	if ((o->text = strndup(doc, len)) == NULL)
		fuzz_fail("out of memory");
	return 0;
}

/* The one document with _id id, as `export --filter '{"_id": id}'` prints it. */
static char *
export_one(enum coll c, const char *id, int extjson)
{
	struct gb_err err = { 0, "" };
	struct one o = { NULL, 0 };
	cJSON *f = cJSON_CreateObject();
	char *filter;

	cJSON_AddStringToObject(f, "_id", id);
	filter = cJSON_PrintUnformatted(f);
	cJSON_Delete(f);
	if (store_each(st, c, filter, extjson, keep_doc, &o, &err))
		fuzz_fail("export of '%s': %s", id, err.msg);
	if (o.n != 1)
		fuzz_fail("export of '%s' by its _id gave %zu documents", id, o.n);
	free(filter);
	return o.text;
}

static void
check_roundtrip(enum coll c, const char *id)
{
	struct gb_err err = { 0, "" };
	char *got, *plain, *ext, *again, id2[STORE_ID_MAX];

	if (store_get(st, c, id, &got, &err))
		fuzz_fail("accepted '%s' does not read back: %s", id, err.msg);
	plain = export_one(c, id, 0);
	if (strcmp(plain, got) != 0)
		fuzz_fail("export of '%s' differs from its read:\n%s\n%s", id, plain, got);
	ext = export_one(c, id, 1);
	if (store_put(st, c, ext, strlen(ext), STORE_REPLACE, id2, &err))
		fuzz_fail("Extended JSON export of '%s' does not import: %s\n%s", id, err.msg, ext);
	if (strcmp(id, id2) != 0)
		fuzz_fail("reimport of '%s' stored '%s'", id, id2);
	if (store_get(st, c, id, &again, &err))
		fuzz_fail("reimported '%s' does not read back: %s", id, err.msg);
	if (strcmp(again, got) != 0)
		fuzz_fail("export and reimport changed '%s':\n%s\n%s", id, got, again);
	free(got);
	free(plain);
	free(ext);
	free(again);
}

static int
import_doc(struct run *r, const char *text, size_t len)
{
	char id[STORE_ID_MAX];
	int rc = store_put(st, r->coll, text, len, r->mode, id, &r->err);

	if (rc != 0 && (rc != r->err.code || r->err.msg[0] == '\0'))
		fuzz_fail("store_put failed (%d) without a message", rc);
	if (len > STORE_MAX_DOC && rc != GB_ETOOBIG)
		fuzz_fail("a document of %zu bytes got %d, not GB_ETOOBIG", len, rc);
	if (getenv("FUZZ_DEBUG"))
		fprintf(stderr, "put %zu bytes: %d %s\n", len, rc, rc ? r->err.msg : id);
	if (rc)
		return rc;
	r->count++;
	check_roundtrip(r->coll, id);
	return 0;
}

static int
elem_cb(void *arg, size_t i, const char *elem, size_t len)
{
	(void)i;
	return import_doc(arg, elem, len);
}

static void
import_lines(struct run *r, const char *text, size_t len)
{
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		size_t k = 0;

		while (k < n && (p[k] == ' ' || p[k] == '\t' || p[k] == '\r'))
			k++;
		if (k < n && import_doc(r, p, n))
			return;
		p += n + 1;
	}
}

/* The first line padded with spaces after its first byte to want bytes. */
static char *
pad_first_line(const char *text, size_t len, size_t want, size_t *outlen)
{
	const char *nl = memchr(text, '\n', len);
	size_t first = nl ? (size_t)(nl - text) : len, pad;
	char *out;

	if (first == 0 || first >= want)
		return NULL;
	pad = want - first;
	if ((out = malloc(len + pad)) == NULL)
		fuzz_fail("out of memory");
	out[0] = text[0];
	memset(out + 1, ' ', pad);
	memcpy(out + 1 + pad, text + 1, len - 1);
	*outlen = len + pad;
	return out;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[4200];

	(void)argc, (void)argv;
	fuzz_store(path, sizeof(path), 1, 1, &st);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run r = { .err = { 0, "" } };
	char *padded = NULL;
	const char *text;
	size_t len, k = 0;

	if (size < 1)
		return 0;
	r.coll = (enum coll)((data[0] & 0x0f) % COLL_COUNT);
	r.mode = data[0] & 0x10 ? STORE_UPSERT : STORE_INSERT;
	text = (const char *)data + 1;
	len = size - 1;
	if (data[0] >= 0xfe && getenv("GENBOX_FUZZ_CAP") && (padded = pad_first_line(text, len,
	    STORE_MAX_DOC + (data[0] & 1), &len)) != NULL)
		text = padded;
	if (store_begin(st, &r.err))
		fuzz_fail("begin: %s", r.err.msg);
	while (k < len && (text[k] == ' ' || text[k] == '\t' || text[k] == '\n' || text[k] == '\r'))
		k++;
	if (k < len && text[k] == '[') {
		int rc = store_json_array_each(st, text, len, elem_cb, &r, &r.err);

		if (rc != 0 && r.err.msg[0] == '\0')
			fuzz_fail("store_json_array_each failed (%d) without a message", rc);
	} else {
		import_lines(&r, text, len);
	}
	store_rollback(st);
	free(padded);
	return 0;
}
