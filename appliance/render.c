/*
 * render.c - the transformer's rendering of generated_content into one
 * markdown or html article, appended to a capped struct buf. Section anchors
 * are GitHub-style slugs made unique in order ("setup", "setup-1").
 *
 * For html, a section's text is what a model wrote: markdown. libcmark
 * parses it; before rendering, the tree is walked once to collect raw HTML
 * nodes (turned into text nodes, so "<script>" is shown, escaped, never
 * run), links and images with a URL that is not http, https, mailto or
 * relative (they keep their text and lose the link), and headings (moved
 * two levels down, below the section's <h2>). cmark renders in its safe
 * mode on top of that.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <cmark.h>

#include "../base/buf.h"
#include "../base/err.h"
#include "render.h"

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

/* ---- a section's markdown as safe html ---- */

/* Nodes to rewrite after the walk: the tree is not changed under the iterator. */
struct node_list {
	cmark_node **v;
	size_t n, cap;
};

static int
node_list_push(struct node_list *l, cmark_node *node)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		cmark_node **v = realloc(l->v, cap * sizeof(*v));

		if (v == NULL)
			return GB_ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = node;
	return 0;
}

/*
 * A URL a reader may follow: no scheme (a relative path, "#anchor"), or
 * http, https or mailto. javascript:, vbscript:, data: and the rest are not.
 */
static int
url_is_safe(const char *url)
{
	static const char *const schemes[] = { "http:", "https:", "mailto:" };
	size_t n = strcspn(url ? url : "", ":/?#");

	if (url == NULL || url[n] != ':')
		return 1;
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
		if (strncasecmp(url, schemes[i], strlen(schemes[i])) == 0)
			return 1;
	return 0;
}

/* Raw HTML becomes text showing it: a text node inline, a paragraph of text for a block. */
static int
html_to_text(cmark_node *node)
{
	const char *lit = cmark_node_get_literal(node);
	size_t len = lit ? strlen(lit) : 0;
	cmark_node *text, *repl;
	char *copy;

	while (len > 0 && lit[len - 1] == '\n')
		len--;
	if ((copy = strndup(lit ? lit : "", len)) == NULL)
		return GB_ENOMEM;
	text = cmark_node_new(CMARK_NODE_TEXT);
	cmark_node_set_literal(text, copy);
	free(copy);
	repl = text;
	if (cmark_node_get_type(node) == CMARK_NODE_HTML_BLOCK) {
		repl = cmark_node_new(CMARK_NODE_PARAGRAPH);
		cmark_node_append_child(repl, text);
	}
	cmark_node_replace(node, repl);
	cmark_node_free(node);
	return 0;
}

/* A link or image whose URL is not safe keeps its text and loses the link. */
static void
unlink_node(cmark_node *node)
{
	cmark_node *child;

	while ((child = cmark_node_first_child(node)) != NULL)
		cmark_node_insert_before(node, child);
	cmark_node_free(node);
}

/*
 * Make the parsed markdown safe to show: raw HTML as text, unsafe links and
 * images as their text, headings below the section's <h2>.
 */
static int
markdown_sanitize(cmark_node *doc)
{
	struct node_list todo = { NULL, 0, 0 };
	cmark_iter *it = cmark_iter_new(doc);
	cmark_event_type ev;
	int rc = 0;

	while (!rc && (ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
		cmark_node *node = cmark_iter_get_node(it);

		if (ev != CMARK_EVENT_ENTER)
			continue;
		switch (cmark_node_get_type(node)) {
		case CMARK_NODE_HTML_BLOCK:
		case CMARK_NODE_HTML_INLINE:
			rc = node_list_push(&todo, node);
			break;
		case CMARK_NODE_LINK:
		case CMARK_NODE_IMAGE:
			if (!url_is_safe(cmark_node_get_url(node)))
				rc = node_list_push(&todo, node);
			break;
		case CMARK_NODE_HEADING: {
			int level = cmark_node_get_heading_level(node) + 2;

			cmark_node_set_heading_level(node, level > 6 ? 6 : level);
			break;
		}
		default:
			break;
		}
	}
	cmark_iter_free(it);
	for (size_t i = 0; !rc && i < todo.n; i++) {
		cmark_node_type type = cmark_node_get_type(todo.v[i]);

		if (type == CMARK_NODE_LINK || type == CMARK_NODE_IMAGE)
			unlink_node(todo.v[i]);
		else
			rc = html_to_text(todo.v[i]);
	}
	free(todo.v);
	return rc;
}

/* text, read as CommonMark, appended to b as html with nothing the model wrote left live. */
static int
html_markdown(struct buf *b, const char *text)
{
	cmark_node *doc =
	    cmark_parse_document(text, strlen(text), CMARK_OPT_DEFAULT | CMARK_OPT_VALIDATE_UTF8);
	char *html = NULL;
	int rc;

	if (doc == NULL)
		return GB_ENOMEM;
	/* CMARK_OPT_DEFAULT is cmark's safe mode: any raw HTML left would be omitted, not shown */
	if ((rc = markdown_sanitize(doc)) == 0) {
		if ((html = cmark_render_html(doc, CMARK_OPT_DEFAULT)) == NULL)
			rc = GB_ENOMEM;
		else
			rc = buf_puts(b, html);
	}
	cmark_get_default_mem_allocator()->free(html);
	cmark_node_free(doc);
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
		if (!(rc = buf_printf(b, "## %s\n\n", parts[i].title)) &&
		    !(rc = buf_append(b, t, len)))
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
	if (!rc && title && !(rc = buf_puts(b, "<h1>")) &&
	    !(rc = html_escape(b, title, strlen(title))))
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
		    !(rc = html_markdown(b, parts[i].text)))
			rc = buf_puts(b, "</section>\n");
	}
	if (!rc)
		rc = buf_puts(b, "</article>\n");
	return rc;
}

/* One body item as a part: its content, under its title, else its id, else "Section". */
static int
part_from_body(const cJSON *item, int i, struct part *part, struct gb_err *err)
{
	const cJSON *t;

	if (!cJSON_IsObject(item))
		return gb_errf(err, GB_EINVAL, "generated_content body %d: not an object", i);
	part->text = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(item, "content"));
	if (part->text == NULL)
		return gb_errf(err, GB_EINVAL, "generated_content body %d: content is not a string",
		    i);
	t = cJSON_GetObjectItemCaseSensitive(item, "title");
	if (t && !cJSON_IsString(t))
		return gb_errf(err, GB_EINVAL, "generated_content body %d: title is not a string",
		    i);
	if ((part->title = cJSON_GetStringValue(t)) == NULL)
		part->title = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(item, "id"));
	if (part->title == NULL)
		part->title = "Section";
	return 0;
}

/* The sections of generated_content in order, each with a unique slug. *parts: caller frees. */
static int
parts_collect(const cJSON *gc, struct part **parts_out, int *n_out, struct gb_err *err)
{
	const cJSON *intro, *body, *concl, *item;
	struct part *parts;
	int n = 0, nbody, i = 0, rc = 0;

	*parts_out = NULL;
	*n_out = 0;
	if (!cJSON_IsObject(gc))
		return gb_errf(err, GB_EINVAL, "generated_content is not an object");
	intro = cJSON_GetObjectItemCaseSensitive(gc, "introduction");
	body = cJSON_GetObjectItemCaseSensitive(gc, "body");
	concl = cJSON_GetObjectItemCaseSensitive(gc, "conclusion");
	if (intro && !cJSON_IsString(intro) && !cJSON_IsNull(intro))
		return gb_errf(err, GB_EINVAL, "generated_content introduction is not a string");
	if (concl && !cJSON_IsString(concl) && !cJSON_IsNull(concl))
		return gb_errf(err, GB_EINVAL, "generated_content conclusion is not a string");
	if (body && !cJSON_IsArray(body) && !cJSON_IsNull(body))
		return gb_errf(err, GB_EINVAL, "generated_content body is not an array");
	nbody = cJSON_IsArray(body) ? cJSON_GetArraySize(body) : 0;
	if (nbody > RENDER_SECTIONS_MAX)
		return gb_errf(err, GB_ETOOBIG, "generated_content body has more than %d sections",
		    RENDER_SECTIONS_MAX);
	if ((parts = calloc((size_t)nbody + 2, sizeof(*parts))) == NULL)
		return gb_errf(err, GB_ENOMEM, "out of memory");
	if (cJSON_IsString(intro)) {
		parts[n].title = "Introduction";
		parts[n++].text = intro->valuestring;
	}
	for (item = nbody > 0 ? body->child : NULL; item && !rc; item = item->next)
		rc = part_from_body(item, ++i, &parts[n++], err);
	if (!rc && cJSON_IsString(concl)) {
		parts[n].title = "Conclusion";
		parts[n++].text = concl->valuestring;
	}
	if (rc) {
		free(parts);
		return rc;
	}
	for (i = 0; i < n; i++)
		slug_unique(parts, i);
	*parts_out = parts;
	*n_out = n;
	return 0;
}

int
transform_render(const cJSON *generated_content, const char *title, const char *format, int toc,
    char **out, struct gb_err *err)
{
	struct part *parts = NULL;
	struct buf b;
	int n, rc, html;

	*out = NULL;
	if (format && strcmp(format, "markdown") == 0)
		html = 0;
	else if (format && strcmp(format, "html") == 0)
		html = 1;
	else
		return gb_errf(err, GB_EINVAL, "unknown format '%s' (markdown, html)",
		    format ? format : "");
	if ((rc = parts_collect(generated_content, &parts, &n, err)))
		return rc;
	buf_init(&b, RENDER_MAX);
	rc = html ? render_html(&b, title, parts, n, toc) :
	    render_markdown(&b, title, parts, n, toc);
	if (rc == GB_ETOOBIG)
		rc = gb_errf(err, rc, "rendered content exceeds %u bytes", RENDER_MAX);
	else if (rc)
		rc = gb_errf(err, GB_ENOMEM, "out of memory");
	else if ((*out = buf_take(&b)) == NULL)
		rc = gb_errf(err, GB_ENOMEM, "out of memory");
	buf_release(&b);
	free(parts);
	return rc;
}
