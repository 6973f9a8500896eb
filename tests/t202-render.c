/*
 * t202-render - the transformer's rendering of generated content: markdown
 * stays markdown; html shows the model's markdown as html (lists, code
 * blocks, emphasis, links) with nothing the model wrote left live: raw
 * HTML shown as text, javascript: and other unsafe links and images not
 * links, headings kept below the section's; the table of contents links
 * the sections; errors for content of the wrong shape.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../appliance/render.h"
#include "tap.h"

static cJSON *
parse(const char *text)
{
	cJSON *j = cJSON_Parse(text);

	if (j == NULL)
		tap_bail("test JSON does not parse: %.60s", text);
	return j;
}

static const char gen_content[] =
	"{\"introduction\":\"Intro text.\","
	"\"body\":[{\"id\":\"main_content_1\",\"title\":\"Service Boundaries\","
	"\"content\":\"First body.\\n\\nSecond paragraph.\"},"
	"{\"id\":\"main_content_2\",\"title\":\"Data & APIs!\",\"content\":\"Body two.\\n\"}],"
	"\"conclusion\":\"The end.\"}";

static char *
render(const char *content, const char *title, const char *format, int toc, int *rc, char *msg)
{
	struct gb_err err = { 0, "" };
	cJSON *gc = parse(content);
	char *out = (char *)"unset";

	*rc = transform_render(gc, title, format, toc, &out, &err);
	snprintf(msg, 256, "%s", err.msg);
	cJSON_Delete(gc);
	return out;
}

static void
test_markdown(void)
{
	char msg[256], *md;
	int rc;

	md = render(gen_content, "Example Article", "markdown", 0, &rc, msg);
	is_int(rc, 0, "markdown renders");
	is_str(md,
	    "# Example Article\n\n"
	    "## Introduction\n\nIntro text.\n\n"
	    "## Service Boundaries\n\nFirst body.\n\nSecond paragraph.\n\n"
	    "## Data & APIs!\n\nBody two.\n\n"
	    "## Conclusion\n\nThe end.\n", "markdown without table of contents");
	free(md);

	md = render(gen_content, "Example Article", "markdown", 1, &rc, msg);
	is_int(rc, 0, "markdown with toc renders");
	is_str(md,
	    "# Example Article\n\n"
	    "## Table of Contents\n\n"
	    "- [Introduction](#introduction)\n"
	    "- [Service Boundaries](#service-boundaries)\n"
	    "- [Data & APIs!](#data--apis)\n"
	    "- [Conclusion](#conclusion)\n\n"
	    "## Introduction\n\nIntro text.\n\n"
	    "## Service Boundaries\n\nFirst body.\n\nSecond paragraph.\n\n"
	    "## Data & APIs!\n\nBody two.\n\n"
	    "## Conclusion\n\nThe end.\n", "markdown with table of contents");
	free(md);

	md = render("{\"body\":[{\"title\":\"Setup\",\"content\":\"One.\"},{\"title\":\"Setup\",\"content\":\"Two.\"}]}",
	    "T", "markdown", 1, &rc, msg);
	is_str(md,
	    "# T\n\n## Table of Contents\n\n- [Setup](#setup)\n- [Setup](#setup-1)\n\n"
	    "## Setup\n\nOne.\n\n## Setup\n\nTwo.\n",
	    "no introduction or conclusion: skipped; repeated titles get -1");
	free(md);

	md = render("{\"introduction\":\"Only this.\",\"body\":[]}", "T", "markdown", 0, &rc, msg);
	is_str(md, "# T\n\n## Introduction\n\nOnly this.\n", "empty body: introduction only");
	free(md);
}

static void
test_html(void)
{
	static const char evil[] = "<script>alert('x') & \"y\"</script>";
	static const char escaped[] = "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;";
	char msg[256], *html, content[512], want[256];
	int rc;

	html = render(gen_content, "Example Article", "html", 1, &rc, msg);
	is_int(rc, 0, "html renders");
	is_str(html,
	    "<article>\n<h1>Example Article</h1>\n"
	    "<nav class=\"toc\"><ul><li><a href=\"#introduction\">Introduction</a></li>"
	    "<li><a href=\"#service-boundaries\">Service Boundaries</a></li>"
	    "<li><a href=\"#data--apis\">Data &amp; APIs!</a></li>"
	    "<li><a href=\"#conclusion\">Conclusion</a></li></ul></nav>\n"
	    "<section id=\"introduction\"><h2>Introduction</h2>\n<p>Intro text.</p>\n</section>\n"
	    "<section id=\"service-boundaries\"><h2>Service Boundaries</h2>\n"
	    "<p>First body.</p>\n<p>Second paragraph.</p>\n</section>\n"
	    "<section id=\"data--apis\"><h2>Data &amp; APIs!</h2>\n<p>Body two.</p>\n</section>\n"
	    "<section id=\"conclusion\"><h2>Conclusion</h2>\n<p>The end.</p>\n</section>\n"
	    "</article>\n", "html with table of contents");
	free(html);

	snprintf(content, sizeof(content), "{\"introduction\":\"%s\",\"body\":[{\"title\":\"%s\",\"content\":\"%s\"}]}",
	    "<script>alert('x') & \\\"y\\\"</script>", "<script>alert('x') & \\\"y\\\"</script>",
	    "<script>alert('x') & \\\"y\\\"</script>");
	html = render(content, evil, "html", 0, &rc, msg);
	is_int(rc, 0, "html with markup in the text renders");
	snprintf(want, sizeof(want), "<h1>%s</h1>", escaped);
	like(html, want, "html: title escaped");
	snprintf(want, sizeof(want), "<h2>%s</h2>", escaped);
	like(html, want, "html: section title escaped");
	like(html, "<p>&lt;script&gt;alert('x') &amp; &quot;y&quot;&lt;/script&gt;</p>",
	    "html: content shown as text, escaped");
	ok(html && strstr(html, "<script") == NULL, "html: no live markup");
	ok(html && strstr(html, "<nav") == NULL, "html without toc: no nav");
	free(html);

	html = render("{\"conclusion\":\"a\\nb\\n  \\n\\n\\nc\"}", NULL, "html", 0, &rc, msg);
	is_str(html, "<article>\n<section id=\"conclusion\"><h2>Conclusion</h2>\n<p>a\nb</p>\n<p>c</p>\n"
	    "</section>\n</article>\n", "html: blank lines split paragraphs, no title, no h1");
	free(html);
}

static void
render_rejects(const char *content, const char *format, const char *want, const char *name)
{
	char msg[256], *out;
	int rc;

	out = render(content, "T", format, 1, &rc, msg);
	is_int(rc, GB_EINVAL, "%s: rejected", name);
	is_str(msg, want, "%s: message", name);
	ok(out == NULL, "%s: no output", name);
}

static void
test_render_errors(void)
{
	render_rejects(gen_content, "pdf", "unknown format 'pdf' (markdown, html)", "format pdf");
	render_rejects(gen_content, "Markdown", "unknown format 'Markdown' (markdown, html)", "format case");
	render_rejects(gen_content, NULL, "unknown format '' (markdown, html)", "no format");
	render_rejects("{\"body\":[{\"title\":\"A\",\"content\":\"x\"},{\"title\":\"B\"}]}", "markdown",
	    "generated_content body 2: content is not a string", "body item without content");
	render_rejects("{\"body\":[{\"title\":\"A\",\"content\":\"x\"},{\"title\":\"B\",\"content\":7}]}", "html",
	    "generated_content body 2: content is not a string", "content a number");
	render_rejects("{\"body\":[\"x\"]}", "markdown", "generated_content body 1: not an object",
	    "body item a string");
	render_rejects("{\"body\":[{\"title\":5,\"content\":\"x\"}]}", "markdown",
	    "generated_content body 1: title is not a string", "title a number");
	render_rejects("{\"body\":{\"content\":\"x\"}}", "markdown", "generated_content body is not an array",
	    "body an object");
	render_rejects("{\"introduction\":[\"x\"]}", "markdown", "generated_content introduction is not a string",
	    "introduction an array");
	render_rejects("[]", "markdown", "generated_content is not an object", "content an array");
	{
		cJSON *gc = cJSON_CreateObject(), *body = cJSON_AddArrayToObject(gc, "body");
		struct gb_err err = { 0, "" };
		char *out = (char *)"unset";

		for (int i = 0; i < 1001; i++) {
			cJSON *item = cJSON_CreateObject();

			cJSON_AddStringToObject(item, "title", "Same");
			cJSON_AddStringToObject(item, "content", "x");
			cJSON_AddItemToArray(body, item);
		}
		is_int(transform_render(gc, "T", "html", 1, &out, &err), GB_ETOOBIG, "1001 body sections: too big");
		is_str(err.msg, "generated_content body has more than 1000 sections", "1001 body sections: message");
		ok(out == NULL, "1001 body sections: no output");
		cJSON_Delete(cJSON_DetachItemFromArray(body, 0));
		gb_err_clear(&err);
		is_int(transform_render(gc, "T", "html", 1, &out, &err), 0, "1000 body sections of one title: rendered");
		like(out, "<section id=\"same-999\">", "1000 body sections: the last slug is same-999");
		free(out);
		cJSON_Delete(gc);
	}
}

/* The html of one conclusion whose text is md (as a JSON string's content). */
static char *
html_of(const char *md)
{
	cJSON *gc = cJSON_CreateObject();
	struct gb_err err = { 0, "" };
	char *out = NULL;

	cJSON_AddStringToObject(gc, "conclusion", md);
	if (transform_render(gc, NULL, "html", 0, &out, &err))
		tap_diag("render: %s", err.msg);
	cJSON_Delete(gc);
	return out;
}

static void
test_html_markdown(void)
{
	char *h;

	h = html_of("Intro with *emphasis*, **strong** and `code`.\n\n"
	    "- one\n- two\n\n1. first\n2. second\n\n"
	    "```c\nint x = a < b;\n```\n\n"
	    "> quoted\n\n"
	    "See [the docs](https://example.com/docs?a=1&b=2) and [a section](#intro).");
	like(h, "<em>emphasis</em>", "markdown: emphasis");
	like(h, "<strong>strong</strong>", "markdown: strong");
	like(h, "<code>code</code>", "markdown: inline code");
	like(h, "<ul>\n<li>one</li>\n<li>two</li>\n</ul>", "markdown: a bullet list");
	like(h, "<ol>\n<li>first</li>\n<li>second</li>\n</ol>", "markdown: a numbered list");
	like(h, "<pre><code class=\"language-c\">int x = a &lt; b;\n</code></pre>", "markdown: a code block, escaped");
	like(h, "<blockquote>\n<p>quoted</p>\n</blockquote>", "markdown: a quote");
	like(h, "<a href=\"https://example.com/docs?a=1&amp;b=2\">the docs</a>", "markdown: an https link");
	like(h, "<a href=\"#intro\">a section</a>", "markdown: a relative link");
	free(h);

	h = html_of("# Big\n\n## Smaller\n\n##### Tiny");
	like(h, "<h3>Big</h3>", "markdown: a model's # heading sits below the section's h2");
	like(h, "<h4>Smaller</h4>", "markdown: ## becomes h4");
	like(h, "<h6>Tiny</h6>", "markdown: ##### stays at h6");
	ok(h && strstr(h, "<h1>Big") == NULL, "markdown: no h1 from the model");
	free(h);
}

static void
test_html_hostile(void)
{
	char *h;

	h = html_of("<script>alert(1)</script>");
	like(h, "&lt;script&gt;alert(1)&lt;/script&gt;", "script block: shown as text");
	ok(h && strstr(h, "<script") == NULL, "script block: never live");
	ok(h && strstr(h, "raw HTML omitted") == NULL, "script block: shown, not dropped");
	free(h);

	h = html_of("Look: <img src=x onerror=alert(1)> here and <b>bold</b>.");
	like(h, "&lt;img src=x onerror=alert(1)&gt;", "inline img: shown as text");
	like(h, "&lt;b&gt;bold&lt;/b&gt;", "inline tags: shown as text");
	ok(h && strstr(h, "<img") == NULL && strstr(h, "<b>") == NULL, "inline html: never live");
	free(h);

	h = html_of("<div onclick=\"x()\">\n<p>block</p>\n</div>\n\nafter");
	like(h, "&lt;div onclick=&quot;x()&quot;&gt;", "html block: shown as text");
	ok(h && strstr(h, "<div") == NULL, "html block: never live");
	like(h, "<p>after</p>", "html block: what follows still renders");
	free(h);

	h = html_of("[click me](javascript:alert(1)) and [again](JavaScript:alert(2)) "
	    "and [data](data:text/html,<b>x</b>) and <javascript:alert(3)> and ![pic](javascript:alert(4))");
	like(h, "click me", "javascript: link: its text stays");
	like(h, "again", "JavaScript: link: its text stays");
	ok(h && strstr(h, "<a ") == NULL, "javascript:, data: links and autolinks: no link at all");
	ok(h && strstr(h, "<img") == NULL, "a javascript: image: no image");
	ok(h && strstr(h, "href=\"javascript") == NULL && strstr(h, "src=\"javascript") == NULL,
	    "no javascript: URL anywhere");
	free(h);

	h = html_of("[mail](mailto:a@example.com) ![logo](https://example.com/l.png)");
	like(h, "<a href=\"mailto:a@example.com\">mail</a>", "mailto: link kept");
	like(h, "<img src=\"https://example.com/l.png\" alt=\"logo\" />", "https image kept");
	free(h);

	h = html_of("bad \xff\xfe bytes");
	ok(h != NULL && strstr(h, "bytes") != NULL, "invalid UTF-8: rendered, not refused");
	free(h);
}

static void
test_html_toc(void)
{
	const char *content = "{\"introduction\":\"- a\\n- b\",\"body\":[{\"title\":\"Setup *now*\","
	    "\"content\":\"# Inside\\n\\ntext\"}],\"conclusion\":\"**done**\"}";
	char msg[256], *h;
	int rc;

	h = render(content, "T", "html", 1, &rc, msg);
	is_int(rc, 0, "toc with markdown sections: renders");
	like(h, "<li><a href=\"#introduction\">Introduction</a></li>", "toc: links the introduction");
	like(h, "<li><a href=\"#setup-now\">Setup *now*</a></li>", "toc: links a body section by its title");
	like(h, "<li><a href=\"#conclusion\">Conclusion</a></li>", "toc: links the conclusion");
	like(h, "<section id=\"introduction\">", "toc: the introduction's anchor exists");
	like(h, "<section id=\"setup-now\"><h2>Setup *now*</h2>", "toc: the body section's anchor exists");
	like(h, "<section id=\"conclusion\">", "toc: the conclusion's anchor exists");
	like(h, "<h3>Inside</h3>", "toc: a heading inside a section stays inside it");
	like(h, "<p><strong>done</strong></p>", "toc: the conclusion's markdown rendered");
	free(h);

	h = render(content, "T", "markdown", 1, &rc, msg);
	like(h, "## Conclusion\n\n**done**\n", "markdown output: the model's markdown as written");
	like(h, "- [Setup *now*](#setup-now)", "markdown output: the toc");
	free(h);
}

int
main(void)
{
	test_markdown();
	test_html();
	test_html_markdown();
	test_html_hostile();
	test_html_toc();
	test_render_errors();
	return tap_done();
}
