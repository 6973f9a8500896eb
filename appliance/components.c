/*
 * components.c - the pure parts of the pipeline components.
 *
 * template_expand walks structure.sections once, validating as it copies and
 * expanding a "sections" section into n numbered text sections, n picked by
 * an FNV-1a hash of the seed key so a retried context gets the same outline.
 * prompt_build and transform_render append to capped struct bufs. The
 * offline draft is seeded from an FNV-1a hash of both prompts: a splitmix64
 * generator picks sentence patterns and fills them with the topic words found
 * in the prompt, stopping at exactly the target word count. No globals, no
 * rand(), no clock: the same input gives the same bytes on every machine.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../base/buf.h"
#include "components.h"

#define WORDS_DEFAULT_LO	100
#define WORDS_DEFAULT_HI	200
#define WORDS_LIMIT		100000		/* largest word count a range may ask for */
#define SECTIONS_LIMIT		100		/* largest max_sections */
#define TEMPLATE_SECTIONS_MAX	1000		/* sections of one expanded template */
#define PROMPT_MAX		(1u << 20)	/* bytes of one prompt */
#define RENDER_MAX		(64u << 20)	/* bytes of one rendered article */
#define DRAFT_MAX		(16u << 20)
#define VOCAB_MAX		256		/* topic words kept from a prompt */
#define VOCAB_WORD_MAX		32		/* longer tokens are not topic words */

/* ---- shared helpers ---- */

static uint64_t
fnv1a(uint64_t h, const char *s)
{
	if (s == NULL)
		return h;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

#define FNV_OFFSET	0xcbf29ce484222325ULL

static const char *
obj_str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A string member that is present and not empty, else NULL. */
static const char *
opt_str(const cJSON *o, const char *key)
{
	const char *s = obj_str(o, key);

	return s && *s ? s : NULL;
}

/* A JSON number that is a whole number in [lo, hi]. */
static int
json_int(const cJSON *v, long lo, long hi, long *out)
{
	double d;

	if (!cJSON_IsNumber(v))
		return 0;
	d = v->valuedouble;
	if (!(d >= (double)lo && d <= (double)hi) || d != (double)(long)d)
		return 0;
	*out = (long)d;
	return 1;
}

/* word_range: absent gives the default; otherwise [lo, hi], 0 <= lo <= hi. Returns 0 or -1. */
static int
word_range(const cJSON *sec, long *lo, long *hi)
{
	const cJSON *wr = cJSON_GetObjectItemCaseSensitive(sec, "word_range");

	if (wr == NULL) {
		*lo = WORDS_DEFAULT_LO;
		*hi = WORDS_DEFAULT_HI;
		return 0;
	}
	if (!cJSON_IsArray(wr) || cJSON_GetArraySize(wr) != 2 ||
	    !json_int(cJSON_GetArrayItem(wr, 0), 0, WORDS_LIMIT, lo) ||
	    !json_int(cJSON_GetArrayItem(wr, 1), 0, WORDS_LIMIT, hi) || *lo > *hi)
		return -1;
	return 0;
}

static int
buf_error(int rc, const char *what, size_t max, struct gb_err *err)
{
	if (rc == GB_ETOOBIG)
		return gb_errf(err, rc, "%s exceeds %zu bytes", what, max);
	return gb_errf(err, GB_ENOMEM, "out of memory");
}

/* ---- template_expand ---- */

/* Add a text section {"id","type","name","instructions","word_range"} to arr. 0 or -1 (memory). */
static int
add_text_section(cJSON *arr, const char *id, const char *name, const char *instructions, long lo, long hi)
{
	cJSON *s, *wr;

	if ((s = cJSON_CreateObject()) == NULL)
		return -1;
	cJSON_AddItemToArray(arr, s);
	if (cJSON_AddStringToObject(s, "id", id) == NULL || cJSON_AddStringToObject(s, "type", "text") == NULL)
		return -1;
	if (name && cJSON_AddStringToObject(s, "name", name) == NULL)
		return -1;
	if (instructions && cJSON_AddStringToObject(s, "instructions", instructions) == NULL)
		return -1;
	if ((wr = cJSON_AddArrayToObject(s, "word_range")) == NULL)
		return -1;
	cJSON_AddItemToArray(wr, cJSON_CreateNumber((double)lo));
	cJSON_AddItemToArray(wr, cJSON_CreateNumber((double)hi));
	return cJSON_GetArraySize(wr) == 2 ? 0 : -1;
}

static int
has_section(const cJSON *arr, const char *id)
{
	const cJSON *s;

	cJSON_ArrayForEach(s, arr) {
		const char *sid = obj_str(s, "id");

		if (sid && strcmp(sid, id) == 0)
			return 1;
	}
	return 0;
}

int
template_expand(const cJSON *tmpl, const char *seed_key, cJSON **out, struct gb_err *err)
{
	const cJSON *secs, *sec, *v;
	const char *tid, *s;
	char label[160];
	cJSON *res = NULL, *arr;
	int rc = GB_ENOMEM, i = 0;

	*out = NULL;
	if (!cJSON_IsObject(tmpl))
		return gb_errf(err, GB_EINVAL, "template is not an object");
	if ((tid = obj_str(tmpl, "_id")) == NULL)
		tid = obj_str(tmpl, "id");
	if (tid)
		snprintf(label, sizeof(label), "template '%.128s'", tid);
	else
		snprintf(label, sizeof(label), "template");
	secs = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(tmpl, "structure"), "sections");
	if (!cJSON_IsArray(secs))
		return gb_errf(err, GB_EINVAL, "%s: structure.sections is missing or not an array", label);
	if (cJSON_GetArraySize(secs) > TEMPLATE_SECTIONS_MAX)
		return gb_errf(err, GB_ETOOBIG, "%s: more than %d sections", label, TEMPLATE_SECTIONS_MAX);

	if ((res = cJSON_CreateObject()) == NULL)
		goto nomem;
	if (tid && cJSON_AddStringToObject(res, "id", tid) == NULL)
		goto nomem;
	if ((s = obj_str(tmpl, "name")) && cJSON_AddStringToObject(res, "name", s) == NULL)
		goto nomem;
	if ((s = obj_str(tmpl, "version")) && cJSON_AddStringToObject(res, "version", s) == NULL)
		goto nomem;
	if ((arr = cJSON_AddArrayToObject(res, "sections")) == NULL)
		goto nomem;

	cJSON_ArrayForEach(sec, secs) {
		const char *id, *name, *type;
		long lo, hi;

		i++;
		if (!cJSON_IsObject(sec)) {
			rc = gb_errf(err, GB_EINVAL, "%s: section %d is not an object", label, i);
			goto fail;
		}
		if ((id = obj_str(sec, "id")) == NULL || *id == '\0') {
			rc = gb_errf(err, GB_EINVAL, "%s: section %d has no id", label, i);
			goto fail;
		}
		name = obj_str(sec, "name");
		v = cJSON_GetObjectItemCaseSensitive(sec, "type");
		type = v == NULL ? "text" : cJSON_IsString(v) ? v->valuestring : "";

		if (strcmp(type, "text") == 0) {
			if (word_range(sec, &lo, &hi)) {
				rc = gb_errf(err, GB_EINVAL, "%s: section '%s': word_range must be two integers "
				    "[lo, hi] with 0 <= lo <= hi <= %d", label, id, WORDS_LIMIT);
				goto fail;
			}
			if (has_section(arr, id)) {
				rc = gb_errf(err, GB_EINVAL, "%s: duplicate section id '%s'", label, id);
				goto fail;
			}
			if (add_text_section(arr, id, name, obj_str(sec, "instructions"), lo, hi))
				goto nomem;
		} else if (strcmp(type, "sections") == 0) {
			const cJSON *st = cJSON_GetObjectItemCaseSensitive(sec, "section_template");
			long min = 1, max, n, k;
			char sid[256], sname[256];

			if ((v = cJSON_GetObjectItemCaseSensitive(sec, "min_sections")) &&
			    !json_int(v, 0, SECTIONS_LIMIT, &min)) {
				rc = gb_errf(err, GB_EINVAL, "%s: section '%s': min_sections must be an integer "
				    "from 0 to %d", label, id, SECTIONS_LIMIT);
				goto fail;
			}
			max = min;
			if ((v = cJSON_GetObjectItemCaseSensitive(sec, "max_sections")) &&
			    !json_int(v, 0, SECTIONS_LIMIT, &max)) {
				rc = gb_errf(err, GB_EINVAL, "%s: section '%s': max_sections must be an integer "
				    "from 0 to %d", label, id, SECTIONS_LIMIT);
				goto fail;
			}
			if (min > max) {
				rc = gb_errf(err, GB_EINVAL, "%s: section '%s': min_sections %ld > max_sections %ld",
				    label, id, min, max);
				goto fail;
			}
			if (st != NULL && !cJSON_IsObject(st)) {
				rc = gb_errf(err, GB_EINVAL, "%s: section '%s': section_template is not an object",
				    label, id);
				goto fail;
			}
			if (word_range(st, &lo, &hi)) {
				rc = gb_errf(err, GB_EINVAL, "%s: section '%s': word_range must be two integers "
				    "[lo, hi] with 0 <= lo <= hi <= %d", label, id, WORDS_LIMIT);
				goto fail;
			}
			if (strlen(id) > 200 || (name && strlen(name) > 200)) {
				rc = gb_errf(err, GB_EINVAL, "%s: section '%.64s': id or name longer than 200 bytes",
				    label, id);
				goto fail;
			}
			n = min + (long)(fnv1a(FNV_OFFSET, seed_key ? seed_key : "") % (uint64_t)(max - min + 1));
			if (cJSON_GetArraySize(arr) + n > TEMPLATE_SECTIONS_MAX) {
				rc = gb_errf(err, GB_ETOOBIG, "%s: more than %d sections", label,
				    TEMPLATE_SECTIONS_MAX);
				goto fail;
			}
			for (k = 1; k <= n; k++) {
				snprintf(sid, sizeof(sid), "%s_%ld", id, k);
				if (name)
					snprintf(sname, sizeof(sname), "%s %ld", name, k);
				if (has_section(arr, sid)) {
					rc = gb_errf(err, GB_EINVAL, "%s: duplicate section id '%s'", label, sid);
					goto fail;
				}
				if (add_text_section(arr, sid, name ? sname : NULL, obj_str(st, "instructions"), lo, hi))
					goto nomem;
			}
		} else {
			rc = gb_errf(err, GB_EINVAL, "%s: section '%s': unknown type '%s' (text, sections)",
			    label, id, type);
			goto fail;
		}
	}
	*out = res;
	return 0;
nomem:
	rc = gb_errf(err, GB_ENOMEM, "out of memory");
fail:
	cJSON_Delete(res);
	return rc;
}

/* ---- prompt_build ---- */

int
prompt_build(const cJSON *data, const cJSON *section, char **system_out, char **user_out,
    struct gb_err *err)
{
	struct buf sys, user;
	const char *title, *audience, *tone, *name, *instructions;
	const cJSON *kw, *k;
	long lo, hi;
	int rc = 0, first = 1;

	*system_out = *user_out = NULL;
	if (!cJSON_IsObject(section))
		return gb_errf(err, GB_EINVAL, "section is not an object");
	if (word_range(section, &lo, &hi)) {
		name = obj_str(section, "id");
		return gb_errf(err, GB_EINVAL, "section '%s': word_range must be two integers [lo, hi] "
		    "with 0 <= lo <= hi <= %d", name ? name : "", WORDS_LIMIT);
	}
	title = opt_str(data, "title");
	audience = opt_str(data, "target_audience");
	tone = opt_str(data, "tone");
	kw = cJSON_GetObjectItemCaseSensitive(data, "keywords");
	if ((name = opt_str(section, "name")) == NULL)
		name = opt_str(section, "id");
	instructions = opt_str(section, "instructions");

	buf_init(&sys, PROMPT_MAX);
	buf_init(&user, PROMPT_MAX);
	rc = buf_puts(&sys, "You are a content writer.");
	if (!rc && tone && audience)
		rc = buf_printf(&sys, " Write in a %s tone for %s.", tone, audience);
	else if (!rc && tone)
		rc = buf_printf(&sys, " Write in a %s tone.", tone);
	else if (!rc && audience)
		rc = buf_printf(&sys, " Write for %s.", audience);

	if (!rc && title)
		rc = buf_printf(&user, "Article title: %s\n", title);
	if (!rc && cJSON_IsString(kw) && *kw->valuestring)
		rc = buf_printf(&user, "Keywords: %s\n", kw->valuestring);
	else if (!rc && cJSON_IsArray(kw)) {
		cJSON_ArrayForEach(k, kw) {
			if (rc || !cJSON_IsString(k) || *k->valuestring == '\0')
				continue;
			rc = buf_printf(&user, "%s%s", first ? "Keywords: " : ", ", k->valuestring);
			first = 0;
		}
		if (!rc && !first)
			rc = buf_puts(&user, "\n");
	}
	if (!rc && name)
		rc = buf_printf(&user, "Section: %s\n", name);
	if (!rc && instructions)
		rc = buf_printf(&user, "Instructions: %s\n", instructions);
	if (!rc)
		rc = buf_printf(&user, "Write between %ld and %ld words.\nReturn only the text of this section.",
		    lo, hi);
	if (rc) {
		rc = buf_error(rc, "prompt", PROMPT_MAX, err);
		goto out;
	}
	*system_out = buf_take(&sys);
	*user_out = buf_take(&user);
	if (*system_out == NULL || *user_out == NULL) {
		free(*system_out);
		free(*user_out);
		*system_out = *user_out = NULL;
		rc = gb_errf(err, GB_ENOMEM, "out of memory");
	}
out:
	buf_release(&sys);
	buf_release(&user);
	return rc;
}

/* ---- offline_draft ---- */

struct vocab {
	char words[VOCAB_MAX][VOCAB_WORD_MAX + 1];
	int n;
	int last;		/* index of the word used last, not picked twice in a row */
};

/* Words of the prompts' own wording, and words too common to carry the topic. */
static const char *const stopwords[] = {
	"about", "after", "again", "all", "also", "and", "any", "are", "article", "because", "been",
	"before", "being", "between", "both", "but", "can", "content", "could", "did", "does", "each",
	"few", "for", "from", "further", "had", "has", "have", "her", "here", "him", "his", "how",
	"instructions", "into", "its", "itself", "just", "keywords", "more", "most", "not", "now",
	"off", "once", "only", "other", "our", "out", "over", "own", "provide", "return", "same",
	"section", "she", "should", "some", "such", "text", "than", "that", "the", "their", "them", "then",
	"there", "these", "they", "this", "those", "through", "title", "tone", "too", "under", "until",
	"very", "was", "were", "what", "when", "where", "which", "while", "who", "whom", "why", "will",
	"with", "words", "would", "write", "writer", "you", "your",
};

static int
is_stopword(const char *w)
{
	size_t i;

	for (i = 0; i < sizeof(stopwords) / sizeof(stopwords[0]); i++)
		if (strcmp(stopwords[i], w) == 0)
			return 1;
	return 0;
}

static int
is_word_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    c == '-' || c >= 0x80;
}

/* Collect the topic words of s, in order of first appearance, without repeats. */
static void
vocab_scan(struct vocab *v, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");

	while (*p && v->n < VOCAB_MAX) {
		const unsigned char *start;
		char w[VOCAB_WORD_MAX + 1];
		size_t len, i;
		int upper_inside = 0, letters = 0;

		while (*p && !is_word_byte(*p))
			p++;
		start = p;
		while (*p && is_word_byte(*p))
			p++;
		while (start < p && *start == '-')
			start++;
		len = (size_t)(p - start);
		while (len > 0 && start[len - 1] == '-')
			len--;
		if (len < 3 || len > VOCAB_WORD_MAX)
			continue;
		for (i = 0; i < len; i++) {
			unsigned char c = start[i];

			if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80)
				letters++;
			if (i > 0 && c >= 'A' && c <= 'Z')
				upper_inside = 1;
			w[i] = (char)c;
		}
		w[len] = '\0';
		if (letters == 0)
			continue;
		/* "Example" is an ordinary word at a sentence start; "API" and "GraphQL" keep their case */
		if (!upper_inside && w[0] >= 'A' && w[0] <= 'Z')
			w[0] = (char)(w[0] - 'A' + 'a');
		if (is_stopword(w))
			continue;
		for (i = 0; i < (size_t)v->n; i++)
			if (strcmp(v->words[i], w) == 0)
				break;
		if (i < (size_t)v->n)
			continue;
		memcpy(v->words[v->n++], w, len + 1);
	}
}

static uint64_t
splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static int
pick(uint64_t *state, int n)
{
	return (int)(splitmix64(state) % (uint64_t)n);
}

/* Sentence patterns: "%" is a topic word; text after it in the token is kept ("%," ). */
static const char *const patterns[] = {
	"% is central to any serious discussion of %",
	"teams that understand % tend to handle % with more confidence",
	"a practical approach to % starts with a clear view of %",
	"when % and % work together, the results are easier to measure",
	"it helps to look at % from the perspective of %",
	"good % depends on careful attention to %",
	"many readers first meet % through everyday questions about %",
	"the link between % and % is worth examining in detail",
	"over time, % shapes how people think about %",
	"clear examples of % make % easier to follow",
	"one useful habit is to review % before changing %",
	"in short, % rewards steady and well-documented work",
	"experience with % shows that small improvements to % add up",
	"a closer look at % reveals why % matters",
	"anyone working on % will eventually need a plan for %",
};

#define NPATTERNS	((int)(sizeof(patterns) / sizeof(patterns[0])))

static const char *const fallback[] = {
	"ideas", "practice", "detail", "structure", "progress", "clarity", "method", "quality",
};

static int
pattern_words(const char *p)
{
	int n = 1;

	for (; *p; p++)
		if (*p == ' ')
			n++;
	return n;
}

static const char *
topic_word(struct vocab *v, uint64_t *state)
{
	int i;

	if (v->n == 0)
		return fallback[pick(state, (int)(sizeof(fallback) / sizeof(fallback[0])))];
	if ((i = pick(state, v->n)) == v->last)
		i = (i + 1) % v->n;
	v->last = i;
	return v->words[i];
}

/*
 * A pattern is chosen only when it leaves 0 or at least PATTERN_WORDS_MIN
 * words (the shortest pattern), so a closing sentence is always shorter
 * than PATTERN_WORDS_MIN + the longest pattern.
 */
#define PATTERN_WORDS_MIN	8
#define WORDS_CLOSING_MAX	32

/* Append word w, capitalised when it starts a sentence. */
static int
put_word(struct buf *b, const char *w, size_t len, int cap)
{
	char c = w[0];

	if (cap && c >= 'a' && c <= 'z') {
		c = (char)(c - 'a' + 'A');
		if (buf_append(b, &c, 1))
			return -1;
		w++;
		len--;
	}
	return buf_append(b, w, len) ? -1 : 0;
}

/* One token of a pattern: "%" (with what follows it, "%,") is a topic word. */
static int
put_token(struct buf *b, struct vocab *v, uint64_t *state, const char *tok, size_t len, int cap)
{
	const char *w;

	if (*tok != '%')
		return put_word(b, tok, len, cap);
	w = topic_word(v, state);
	if (put_word(b, w, strlen(w), cap))
		return -1;
	return buf_append(b, tok + 1, len - 1) ? -1 : 0;
}

/*
 * The tokens of a closing sentence of exactly k words (1 <= k < WORDS_CLOSING_MAX):
 * "%", "% matters", "% shapes %", "in the end, % and %", "in the end, %, % and %"...
 */
static void
closing(long k, const char **toks)
{
	long m, i, n = 0;

	if (k <= 3) {
		toks[n++] = "%";
		if (k == 2)
			toks[n++] = "matters";
		if (k == 3) {
			toks[n++] = "shapes";
			toks[n++] = "%";
		}
		return;
	}
	toks[n++] = "in";
	toks[n++] = "the";
	toks[n++] = "end,";
	m = k - 3;
	if (m == 1)
		toks[n++] = "%";
	else if (m == 2) {
		toks[n++] = "%";
		toks[n++] = "matters";
	} else {
		for (i = 0; i < m - 3; i++)
			toks[n++] = "%,";
		toks[n++] = "%";
		toks[n++] = "and";
		toks[n++] = "%";
	}
}

char *
offline_draft(const char *system, const char *user, int words_min, int words_max)
{
	struct vocab *v;
	struct buf b;
	uint64_t state;
	long lo = words_min, hi = words_max, target, written = 0, in_para = 0, para_len;
	char *res = NULL;

	if (lo > hi) {
		long t = lo;

		lo = hi;
		hi = t;
	}
	target = lo + (hi - lo) / 2;
	if (target < 1)
		target = 1;
	if (target > WORDS_LIMIT)
		target = WORDS_LIMIT;

	if ((v = calloc(1, sizeof(*v))) == NULL)
		return NULL;
	v->last = -1;
	vocab_scan(v, user);
	vocab_scan(v, system);
	state = fnv1a(fnv1a(fnv1a(FNV_OFFSET, system), "\x1f"), user);
	para_len = 60 + pick(&state, 21);
	buf_init(&b, DRAFT_MAX);

	while (written < target) {
		long left = target - written;
		const char *toks[WORDS_CLOSING_MAX];
		int fit[NPATTERNS], nfit = 0, ntok = 0, i;

		/*
		 * A pattern that ends the draft exactly or leaves room for another;
		 * else a closing sentence of exactly the words left.
		 */
		for (i = 0; i < NPATTERNS; i++) {
			long w = pattern_words(patterns[i]);

			if (w == left || w + PATTERN_WORDS_MIN <= left)
				fit[nfit++] = i;
		}
		if (nfit > 0) {
			const char *p = patterns[fit[pick(&state, nfit)]];

			while (*p) {
				const char *end = strchr(p, ' ');
				size_t len = end ? (size_t)(end - p) : strlen(p);

				if (put_token(&b, v, &state, p, len, ntok == 0))
					goto out;
				ntok++;
				p += len;
				if (*p == ' ' && buf_append(&b, p++, 1))
					goto out;
			}
		} else {
			closing(left, toks);
			for (i = 0; i < left; i++) {
				if (i > 0 && buf_append(&b, " ", 1))
					goto out;
				if (put_token(&b, v, &state, toks[i], strlen(toks[i]), i == 0))
					goto out;
			}
			ntok = (int)left;
		}
		written += ntok;
		in_para += ntok;
		if (buf_append(&b, ".", 1))
			goto out;
		if (written < target) {
			if (in_para >= para_len) {
				if (buf_append(&b, "\n\n", 2))
					goto out;
				in_para = 0;
				para_len = 60 + pick(&state, 21);
			} else if (buf_append(&b, " ", 1))
				goto out;
		}
	}
	res = buf_take(&b);
out:
	buf_release(&b);
	free(v);
	return res;
}

/* ---- transform_render ---- */

struct part {
	const char *title;
	const char *text;
	char slug[128];
};

/* GitHub-style anchor: lower case, spaces to '-', keep letters, digits, '-', '_' and non-ASCII. */
static void
slugify(const char *title, char *out, size_t size)
{
	const unsigned char *p = (const unsigned char *)title;
	size_t n = 0;

	for (; *p && n + 1 < size; p++) {
		unsigned char c = *p;

		if (c >= 'A' && c <= 'Z')
			out[n++] = (char)(c - 'A' + 'a');
		else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')
			out[n++] = (char)c;
		else if (c == ' ')
			out[n++] = '-';
		else if (c >= 0x80) {
			/* keep a whole UTF-8 sequence or none of it */
			size_t len = 1;

			while ((p[len] & 0xc0) == 0x80)
				len++;
			if (n + len >= size)
				break;
			memcpy(out + n, p, len);
			n += len;
			p += len - 1;
		}
	}
	out[n] = '\0';
	if (n == 0)
		snprintf(out, size, "section");
}

/* Give parts[i] a slug unlike those before it ("setup", "setup-1", ...), as GitHub does. */
static void
slug_unique(struct part *parts, int i)
{
	char base[100], cand[128];
	int k, j, clash;

	slugify(parts[i].title, base, sizeof(base));
	snprintf(cand, sizeof(cand), "%s", base);
	for (k = 1;; k++) {
		for (clash = 0, j = 0; j < i && !clash; j++)
			clash = strcmp(parts[j].slug, cand) == 0;
		if (!clash)
			break;
		snprintf(cand, sizeof(cand), "%s-%d", base, k);
	}
	memcpy(parts[i].slug, cand, sizeof(cand));
}

static int
html_escape(struct buf *b, const char *s, size_t len)
{
	size_t i, start = 0;
	int rc = 0;

	for (i = 0; i < len && !rc; i++) {
		const char *rep;

		switch (s[i]) {
		case '&':	rep = "&amp;"; break;
		case '<':	rep = "&lt;"; break;
		case '>':	rep = "&gt;"; break;
		case '"':	rep = "&quot;"; break;
		case '\'':	rep = "&#39;"; break;
		default:	continue;
		}
		if (!(rc = buf_append(b, s + start, i - start)))
			rc = buf_puts(b, rep);
		start = i + 1;
	}
	if (!rc)
		rc = buf_append(b, s + start, len - start);
	return rc;
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* s without leading and trailing white space: start and length. */
static const char *
trim(const char *s, size_t *len)
{
	size_t n;

	while (is_space(*s))
		s++;
	n = strlen(s);
	while (n > 0 && is_space(s[n - 1]))
		n--;
	*len = n;
	return s;
}

/* Paragraphs of text (split on lines holding only white space), each as <p>..</p>\n. */
static int
html_paragraphs(struct buf *b, const char *text)
{
	const char *p = text;
	int rc = 0;

	while (*p && !rc) {
		const char *q = p, *end, *nl, *r;
		size_t len;

		/* the paragraph runs to the newline before a blank line, or to the end */
		for (;;) {
			if ((nl = strchr(q, '\n')) == NULL) {
				end = q + strlen(q);
				break;
			}
			for (r = nl + 1; *r == ' ' || *r == '\t' || *r == '\r'; r++)
				;
			if (*r == '\n' || *r == '\0') {
				end = nl;
				break;
			}
			q = nl + 1;
		}
		len = (size_t)(end - p);
		while (len > 0 && is_space(*p)) {
			p++;
			len--;
		}
		while (len > 0 && is_space(p[len - 1]))
			len--;
		if (len > 0 && !(rc = buf_puts(b, "<p>")) && !(rc = html_escape(b, p, len)))
			rc = buf_puts(b, "</p>\n");
		p = *end ? end + 1 : end;
	}
	return rc;
}

static int
render_markdown(struct buf *b, const char *title, const struct part *parts, int n, int toc)
{
	int rc = 0, i;
	size_t len;
	const char *t;

	if (title)
		rc = buf_printf(b, "# %s\n\n", title);
	if (!rc && toc && n > 0) {
		rc = buf_puts(b, "## Table of Contents\n\n");
		for (i = 0; i < n && !rc; i++)
			rc = buf_printf(b, "- [%s](#%s)\n", parts[i].title, parts[i].slug);
		if (!rc)
			rc = buf_puts(b, "\n");
	}
	for (i = 0; i < n && !rc; i++) {
		t = trim(parts[i].text, &len);
		if (!(rc = buf_printf(b, "## %s\n\n", parts[i].title)) && !(rc = buf_append(b, t, len)))
			rc = buf_puts(b, "\n\n");
	}
	/* the document ends with one newline */
	if (!rc && b->len >= 2 && b->p[b->len - 1] == '\n' && b->p[b->len - 2] == '\n')
		b->p[--b->len] = '\0';
	return rc;
}

static int
render_html(struct buf *b, const char *title, const struct part *parts, int n, int toc)
{
	int rc, i;

	rc = buf_puts(b, "<article>\n");
	if (!rc && title && !(rc = buf_puts(b, "<h1>")) && !(rc = html_escape(b, title, strlen(title))))
		rc = buf_puts(b, "</h1>\n");
	if (!rc && toc && n > 0) {
		rc = buf_puts(b, "<nav class=\"toc\"><ul>");
		for (i = 0; i < n && !rc; i++) {
			if (!(rc = buf_puts(b, "<li><a href=\"#")) &&
			    !(rc = html_escape(b, parts[i].slug, strlen(parts[i].slug))) &&
			    !(rc = buf_puts(b, "\">")) &&
			    !(rc = html_escape(b, parts[i].title, strlen(parts[i].title))))
				rc = buf_puts(b, "</a></li>");
		}
		if (!rc)
			rc = buf_puts(b, "</ul></nav>\n");
	}
	for (i = 0; i < n && !rc; i++) {
		if (!(rc = buf_puts(b, "<section id=\"")) &&
		    !(rc = html_escape(b, parts[i].slug, strlen(parts[i].slug))) &&
		    !(rc = buf_puts(b, "\"><h2>")) &&
		    !(rc = html_escape(b, parts[i].title, strlen(parts[i].title))) &&
		    !(rc = buf_puts(b, "</h2>\n")) &&
		    !(rc = html_paragraphs(b, parts[i].text)))
			rc = buf_puts(b, "</section>\n");
	}
	if (!rc)
		rc = buf_puts(b, "</article>\n");
	return rc;
}

int
transform_render(const cJSON *generated_content, const char *title, const char *format, int toc,
    char **out, struct gb_err *err)
{
	const cJSON *intro, *body, *concl, *item;
	struct part *parts = NULL;
	struct buf b;
	int n = 0, nbody, i = 0, rc = 0, html;

	*out = NULL;
	if (format && strcmp(format, "markdown") == 0)
		html = 0;
	else if (format && strcmp(format, "html") == 0)
		html = 1;
	else
		return gb_errf(err, GB_EINVAL, "unknown format '%s' (markdown, html)", format ? format : "");
	if (!cJSON_IsObject(generated_content))
		return gb_errf(err, GB_EINVAL, "generated_content is not an object");
	intro = cJSON_GetObjectItemCaseSensitive(generated_content, "introduction");
	body = cJSON_GetObjectItemCaseSensitive(generated_content, "body");
	concl = cJSON_GetObjectItemCaseSensitive(generated_content, "conclusion");
	if (intro && !cJSON_IsString(intro) && !cJSON_IsNull(intro))
		return gb_errf(err, GB_EINVAL, "generated_content introduction is not a string");
	if (concl && !cJSON_IsString(concl) && !cJSON_IsNull(concl))
		return gb_errf(err, GB_EINVAL, "generated_content conclusion is not a string");
	if (body && !cJSON_IsArray(body) && !cJSON_IsNull(body))
		return gb_errf(err, GB_EINVAL, "generated_content body is not an array");
	nbody = cJSON_IsArray(body) ? cJSON_GetArraySize(body) : 0;
	if ((parts = calloc((size_t)nbody + 2, sizeof(*parts))) == NULL)
		return gb_errf(err, GB_ENOMEM, "out of memory");

	if (cJSON_IsString(intro)) {
		parts[n].title = "Introduction";
		parts[n++].text = intro->valuestring;
	}
	if (nbody > 0) {
		cJSON_ArrayForEach(item, body) {
			const cJSON *t;
			const char *content;

			i++;
			if (!cJSON_IsObject(item)) {
				rc = gb_errf(err, GB_EINVAL, "generated_content body %d: not an object", i);
				goto out;
			}
			if ((content = obj_str(item, "content")) == NULL) {
				rc = gb_errf(err, GB_EINVAL, "generated_content body %d: content is not a string", i);
				goto out;
			}
			t = cJSON_GetObjectItemCaseSensitive(item, "title");
			if (t && !cJSON_IsString(t)) {
				rc = gb_errf(err, GB_EINVAL, "generated_content body %d: title is not a string", i);
				goto out;
			}
			/* an untitled section goes under its id */
			parts[n].title = t ? t->valuestring : obj_str(item, "id") ? obj_str(item, "id") : "Section";
			parts[n++].text = content;
		}
	}
	if (cJSON_IsString(concl)) {
		parts[n].title = "Conclusion";
		parts[n++].text = concl->valuestring;
	}
	for (i = 0; i < n; i++)
		slug_unique(parts, i);

	buf_init(&b, RENDER_MAX);
	rc = html ? render_html(&b, title, parts, n, toc) : render_markdown(&b, title, parts, n, toc);
	if (rc)
		rc = buf_error(rc, "rendered content", RENDER_MAX, err);
	else if ((*out = buf_take(&b)) == NULL)
		rc = gb_errf(err, GB_ENOMEM, "out of memory");
	buf_release(&b);
out:
	free(parts);
	return rc;
}
