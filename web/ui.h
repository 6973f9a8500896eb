/*
 * ui.h - the web UI's files (web/ui/), built into the binary: the Makefile
 * turns each file into a byte array of a generated C file, listed in
 * web_assets with its content type. Read-only data: any thread may call.
 */
#ifndef GB_WEB_UI_H
#define GB_WEB_UI_H

#include <stddef.h>

struct web_asset {
	const char *path;		/* "/index.html": the file's path under web/ui/ */
	const char *content_type;	/* "text/html; charset=utf-8" */
	const unsigned char *bytes;	/* the file's bytes, followed by a NUL not counted in len */
	size_t len;
};

/* Every file, in path order; ends with an entry whose path is NULL. */
extern const struct web_asset web_assets[];

/*
 * The file served at the URL path path ("/" is "/index.html"); NULL when
 * there is none. The query string must already be cut off. Borrowed: the
 * data lives as long as the program.
 */
const struct web_asset *web_asset_find(const char *path);

#endif
