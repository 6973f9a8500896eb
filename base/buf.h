/*
 * buf.h - a growable byte buffer with a hard cap (in the spirit of git's
 * strbuf and curl's dynbuf). The content is always NUL-terminated.
 * Caller-owned: buf_init before use, buf_release after; buf_take hands the
 * bytes to the caller, who frees them with free().
 */
#ifndef GB_BUF_H
#define GB_BUF_H

#include <stdio.h>
#include <stddef.h>

struct buf {
	char *p;		/* NULL until the first append */
	size_t len;
	size_t cap;
	size_t max;		/* appends that would pass this fail with GB_ETOOBIG */
};

void buf_init(struct buf *b, size_t max);
void buf_release(struct buf *b);
void buf_reset(struct buf *b);
/* Returns 0, GB_ETOOBIG past the cap, GB_ENOMEM. */
int buf_append(struct buf *b, const void *data, size_t len);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The content, never NULL ("" when empty). */
const char *buf_str(const struct buf *b);
/* Hand the content to the caller (free() it); b is empty afterwards. */
char *buf_take(struct buf *b);

/*
 * Read one line (without its '\n') from f into b, replacing its content.
 * Returns 1 when a line was read, 0 at end of file, GB_ETOOBIG when the line
 * passes b->max (the rest of that line is skipped), GB_EIO on a read error.
 */
int buf_getline(struct buf *b, FILE *f);

#endif
