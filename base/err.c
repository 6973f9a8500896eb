/* err.c - first-error-wins message buffer. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

int
gb_errf(struct gb_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || err->code != 0)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

void
gb_err_clear(struct gb_err *err)
{
	if (err == NULL)
		return;
	err->code = 0;
	err->msg[0] = '\0';
}

const char *
gb_code_name(int code)
{
	switch (code) {
	case GB_OK:		return "ok";
	case GB_EINVAL:		return "invalid";
	case GB_ENOTFOUND:	return "not_found";
	case GB_EEXIST:		return "conflict";
	case GB_ETOOBIG:	return "too_large";
	case GB_EIO:		return "io_error";
	case GB_ENOMEM:		return "out_of_memory";
	case GB_EVERSION:	return "version";
	case GB_EBUSY:		return "busy";
	case GB_ETRANSIENT:	return "transient";
	case GB_EPERM:		return "forbidden";
	case GB_ESTATE:		return "bad_state";
	case GB_ELIMIT:		return "limit";
	}
	return "error";
}
