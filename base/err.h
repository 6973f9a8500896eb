/*
 * err.h - the one error convention of genbox.
 *
 * Functions return 0 on success or a negative GB_E* code, and write a message
 * into a caller-provided struct gb_err. The first error wins: later calls to
 * gb_errf on an error that is already set keep the first message, so a
 * cleanup path cannot hide the cause.
 */
#ifndef GB_ERR_H
#define GB_ERR_H

#include <stddef.h>

enum gb_code {
	GB_OK = 0,
	GB_EINVAL = -1,		/* bad input: document, argument, config */
	GB_ENOTFOUND = -2,	/* no such document, collection, file */
	GB_EEXIST = -3,		/* duplicate _id or other conflict */
	GB_ETOOBIG = -4,	/* input over a hard limit */
	GB_EIO = -5,		/* storage or file system failure */
	GB_ENOMEM = -6,
	GB_EVERSION = -7,	/* database newer than this binary */
	GB_EBUSY = -8,		/* locked, leased elsewhere, try later */
	GB_ETRANSIENT = -9,	/* remote failure worth a retry */
	GB_EPERM = -10,		/* permission or policy refusal */
	GB_ESTATE = -11,	/* operation not valid in the current state */
	GB_ELIMIT = -12,	/* a quota is used up until it resets (max_contexts_per_day) */
};

struct gb_err {
	int code;
	char msg[256];
};

/* Set err (when not set yet) from a printf format; returns code. err may be NULL. */
int gb_errf(struct gb_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Forget any error held in err. */
void gb_err_clear(struct gb_err *err);

/* A short stable name for a code: "invalid", "not_found", ... */
const char *gb_code_name(int code);

#endif
