/*
 * render.c - the transformer's rendering of generated_content into one
 * markdown or html article, appended to a capped struct buf. Section anchors
 * are GitHub-style slugs made unique in order ("setup", "setup-1").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

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
			if ((content = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(item, "content"))) == NULL) {
				rc = gb_errf(err, GB_EINVAL, "generated_content body %d: content is not a string", i);
				goto out;
			}
			t = cJSON_GetObjectItemCaseSensitive(item, "title");
			if (t && !cJSON_IsString(t)) {
				rc = gb_errf(err, GB_EINVAL, "generated_content body %d: title is not a string", i);
				goto out;
			}
			/* an untitled section goes under its id */
			if ((parts[n].title = t ? t->valuestring : NULL) == NULL)
				parts[n].title = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(item, "id"));
			if (parts[n].title == NULL)
				parts[n].title = "Section";
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
	if (rc == GB_ETOOBIG)
		rc = gb_errf(err, rc, "rendered content exceeds %u bytes", RENDER_MAX);
	else if (rc)
		rc = gb_errf(err, GB_ENOMEM, "out of memory");
	else if ((*out = buf_take(&b)) == NULL)
		rc = gb_errf(err, GB_ENOMEM, "out of memory");
	buf_release(&b);
out:
	free(parts);
	return rc;
}
