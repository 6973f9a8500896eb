/*
 * fuzz-render.c - the markdown/html transformer (transform_render, with
 * libcmark for html). The input's first byte picks html (bit 0), the table
 * of contents (bit 1) and the input's shape (bit 2): a JSON generated_content,
 * or text split at \x01 into the title, the introduction, the conclusion and
 * the body sections' markdown.
 *
 * Invariants: refused with a message and no output, or an article of at
 * most RENDER_MAX bytes; html holds only the tags the transformer writes
 * (raw HTML in the text is escaped, never live), and every href and src is
 * http, https, mailto or relative.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "../../appliance/render.h"
#include "fuzz.h"

static const char *const tags[] = { "article", "h1", "h2", "h3", "h4", "h5", "h6", "section",
	"p", "ul", "ol", "li", "a", "img", "em", "strong", "code", "pre", "blockquote", "hr",
	"br", "nav", NULL };

static void
check_tag(const char *html, const char *p)
{
	size_t n;

	if (*++p == '/')
		p++;
	n = strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789");
	for (int i = 0; tags[i]; i++)
		if (strlen(tags[i]) == n && strncmp(p, tags[i], n) == 0 &&
		    (p[n] == '>' || p[n] == ' ' || p[n] == '/'))
			return;
	fuzz_fail("html holds a tag the transformer does not write: %.40s\nin: %s", p - 1, html);
}

/* The URL of an attribute, its entities decoded, is http, https, mailto or relative. */
static void
check_url(const char *html, const char *v)
{
	char url[64];
	size_t n = 0;

	while (*v && *v != '"' && n + 1 < sizeof(url)) {
		unsigned long c;
		char *end;

		if (strncmp(v, "&amp;", 5) == 0) {
			c = '&', v += 5;
		} else if (strncmp(v, "&#", 2) == 0) {
			c = v[2] == 'x' || v[2] == 'X' ? strtoul(v + 3, &end, 16) :
			    strtoul(v + 2, &end, 10);
			v = *end == ';' ? end + 1 : end;
		} else {
			c = (unsigned char)*v++;
		}
		if (c > ' ' || n > 0)	/* a browser skips leading blanks */
			url[n++] = (char)c;
	}
	url[n] = '\0';
	n = strcspn(url, ":/?#");
	if (url[n] != ':' || strncasecmp(url, "http:", 5) == 0 ||
	    strncasecmp(url, "https:", 6) == 0 || strncasecmp(url, "mailto:", 7) == 0)
		return;
	fuzz_fail("html links to '%s'\nin: %s", url, html);
}

static void
check_html(const char *html)
{
	for (const char *p = html; (p = strchr(p, '<')) != NULL; p++)
		check_tag(html, p);
	/* attributes only: a blank before the name (title="..src=" is not one) */
	for (const char *p = html; (p = strstr(p, " href=\"")) != NULL; p += 7)
		check_url(html, p + 7);
	for (const char *p = html; (p = strstr(p, " src=\"")) != NULL; p += 6)
		check_url(html, p + 6);
}

/* text: title \x01 introduction \x01 conclusion (\x01 body section)... */
static cJSON *
from_text(const char *text, char **title)
{
	cJSON *gc = cJSON_CreateObject(), *body = cJSON_AddArrayToObject(gc, "body");
	const char *p = text;
	int i = 0;

	*title = NULL;
	for (;; i++) {
		size_t n = strcspn(p, "\x01");
		char *part = strndup(p, n), id[32];
		cJSON *s;

		if (part == NULL)
			fuzz_fail("out of memory");
		if (i == 0) {
			*title = part;
			part = NULL;
		} else if (i == 1 || i == 2) {
			cJSON_AddStringToObject(gc, i == 1 ? "introduction" : "conclusion", part);
		} else {
			snprintf(id, sizeof(id), "s%d", i - 2);
			s = cJSON_CreateObject();
			cJSON_AddStringToObject(s, "id", id);
			cJSON_AddStringToObject(s, "title", i % 2 ? id : "Same");
			cJSON_AddStringToObject(s, "content", part);
			cJSON_AddItemToArray(body, s);
		}
		free(part);
		if (p[n] == '\0')
			return gc;
		p += n + 1;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gb_err err = { 0, "" };
	const char *format;
	char *text, *title = NULL, *out = NULL;
	cJSON *gc;
	int rc;

	if (size < 1)
		return 0;
	format = data[0] & 1 ? "html" : "markdown";
	if ((text = strndup((const char *)data + 1, size - 1)) == NULL)
		fuzz_fail("out of memory");
	gc = data[0] & 4 ? cJSON_Parse(text) : from_text(text, &title);
	rc = transform_render(gc, title, format, data[0] & 2, &out, &err);
	if (rc != 0 && (out != NULL || rc != err.code || err.msg[0] == '\0'))
		fuzz_fail("transform_render failed (%d) without a message or with output", rc);
	if (rc == 0 && (out == NULL || strlen(out) > RENDER_MAX))
		fuzz_fail("transform_render gave no article or one too big");
	if (getenv("FUZZ_DEBUG"))
		fprintf(stderr, "render %s: %d %s\n", format, rc, rc ? err.msg : out);
	if (rc == 0 && data[0] & 1)
		check_html(out);
	free(out);
	free(title);
	free(text);
	cJSON_Delete(gc);
	return 0;
}
