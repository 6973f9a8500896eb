/*
 * draft.c - the offline-draft provider's text.
 *
 * The draft is seeded from an FNV-1a hash of both prompts: a splitmix64
 * generator picks sentence patterns and fills them with the topic words found
 * in the prompts, stopping at exactly the target word count. No globals, no
 * rand(), no clock: the same input gives the same bytes on every machine.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../base/buf.h"
#include "draft.h"

#define DRAFT_MAX		(16u << 20)	/* bytes of one draft */
#define VOCAB_MAX		256		/* topic words kept from a prompt */
#define VOCAB_WORD_MAX		32		/* longer tokens are not topic words */

#define FNV_OFFSET		0xcbf29ce484222325ULL
#define FNV_PRIME		0x100000001b3ULL

static uint64_t
draft_hash(uint64_t h, const char *s)
{
	for (; s && *s; s++) {
		h ^= (unsigned char)*s;
		h *= FNV_PRIME;
	}
	return h;
}

struct vocab {
	char words[VOCAB_MAX][VOCAB_WORD_MAX + 1];
	int n;
	int last;		/* index of the word used last, not picked twice in a row */
};

/* Words of the prompts' own wording, and words too common to carry the topic. */
static const char *const stopwords[] = {
	"about", "after", "again", "all", "also", "and", "any", "are", "article", "because",
	"been", "before", "being", "between", "both", "but", "can", "content", "could", "did",
	"does", "each", "few", "for", "from", "further", "had", "has", "have", "her", "here",
	"him", "his", "how", "instructions", "into", "its", "itself", "just", "keywords",
	"more", "most", "not", "now", "off", "once", "only", "other", "our", "out", "over",
	"own", "provide", "return", "same", "section", "she", "should", "some", "such", "text",
	"than", "that", "the", "their", "them", "then", "there", "these", "they", "this",
	"those", "through", "title", "tone", "too", "under", "until", "very", "was", "were",
	"what", "when", "where", "which", "while", "who", "whom", "why", "will", "with",
	"words", "would", "write", "writer", "you", "your",
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
		/*
		 * "Example" is an ordinary word at a sentence start; "API" and
		 * "GraphQL" keep their case
		 */
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

/* The draft's length: the midpoint of the range rounded up, within 0..DRAFT_WORDS_MAX. */
static long
draft_target(int words_min, int words_max)
{
	long lo = words_min < 0 ? 0 : words_min, hi = words_max < 0 ? 0 : words_max, t;

	if (lo > hi) {
		t = lo;
		lo = hi;
		hi = t;
	}
	t = lo + (hi - lo + 1) / 2;
	return t > DRAFT_WORDS_MAX ? DRAFT_WORDS_MAX : t;
}

/* One sentence of a pattern's words (without its '.'); the words written, or -1 (memory, cap). */
static long
draft_pattern_sentence(struct buf *b, struct vocab *v, uint64_t *state, const char *p)
{
	long ntok = 0;

	while (*p) {
		const char *end = strchr(p, ' ');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (put_token(b, v, state, p, len, ntok == 0))
			return -1;
		ntok++;
		p += len;
		if (*p == ' ' && buf_append(b, p++, 1))
			return -1;
	}
	return ntok;
}

/*
 * One sentence of at most left words: a pattern that ends the draft exactly
 * or leaves room for another, else a closing sentence of exactly the words
 * left. Returns the words written, or -1.
 */
static long
draft_sentence(struct buf *b, struct vocab *v, uint64_t *state, long left)
{
	const char *toks[WORDS_CLOSING_MAX];
	int fit[NPATTERNS], nfit = 0, i;

	for (i = 0; i < NPATTERNS; i++) {
		long w = pattern_words(patterns[i]);

		if (w == left || w + PATTERN_WORDS_MIN <= left)
			fit[nfit++] = i;
	}
	if (nfit > 0)
		return draft_pattern_sentence(b, v, state, patterns[fit[pick(state, nfit)]]);
	closing(left, toks);
	for (i = 0; i < left; i++) {
		if (i > 0 && buf_append(b, " ", 1))
			return -1;
		if (put_token(b, v, state, toks[i], strlen(toks[i]), i == 0))
			return -1;
	}
	return left;
}

char *
offline_draft(const char *system, const char *user, int words_min, int words_max)
{
	struct vocab *v;
	struct buf b;
	uint64_t state;
	long target = draft_target(words_min, words_max), written = 0, in_para = 0, para_len, n;
	char *res = NULL;

	if ((v = calloc(1, sizeof(*v))) == NULL)
		return NULL;
	v->last = -1;
	vocab_scan(v, user);
	vocab_scan(v, system);
	state = draft_hash(draft_hash(draft_hash(FNV_OFFSET, system), "\x1f"), user);
	para_len = 60 + pick(&state, 21);
	buf_init(&b, DRAFT_MAX);

	while (written < target) {
		if ((n = draft_sentence(&b, v, &state, target - written)) < 0 ||
		    buf_append(&b, ".", 1))
			goto out;
		written += n;
		in_para += n;
		if (written >= target)
			break;
		if (in_para >= para_len) {
			if (buf_append(&b, "\n\n", 2))
				goto out;
			in_para = 0;
			para_len = 60 + pick(&state, 21);
		} else if (buf_append(&b, " ", 1)) {
			goto out;
		}
	}
	res = buf_take(&b);
out:
	buf_release(&b);
	free(v);
	return res;
}
