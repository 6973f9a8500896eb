/*
 * fuzz-config.c - the settings file (config_load_file, as `genbox` reads
 * /etc/genbox/genbox.conf): the input is the file, read from a memory file
 * through /proc/self/fd.
 *
 * Invariants: the file loads, or the error names the file and a line the
 * file has ("PATH:N: ..."); a line setting a secret ([generator] key,
 * [s3] secret_key) that is refused does not show its value; loading the
 * same file twice gives the same settings.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../appliance/config.h"
#include "fuzz.h"

static int fd = -1;
static char path[64];

/* Line n (1-based) of data, or NULL; its length into *len. */
static const char *
nth_line(const char *data, size_t size, long n, size_t *len)
{
	const char *p = data, *end = data + size, *nl;

	for (long i = 1; i < n; i++) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			return NULL;
		p = nl + 1;
	}
	nl = memchr(p, '\n', (size_t)(end - p));
	*len = nl ? (size_t)(nl - p) : (size_t)(end - p);
	return p;
}

static int
occurrences(const uint8_t *data, size_t size, const char *s)
{
	const uint8_t *p = data, *end = data + size, *hit;
	size_t n = strlen(s);
	int count = 0;

	while ((hit = memmem(p, (size_t)(end - p), s, n)) != NULL) {
		count++;
		p = hit + 1;
	}
	return count;
}

/*
 * The refused line sets a secret: its value must not be in the message
 * (unless the file holds it elsewhere too, in a section name say).
 */
static void
check_secret(const uint8_t *data, size_t size, const char *line, size_t len,
    const char *msg)
{
	char text[4200], name[64], value[4200];

	if (len >= sizeof(text))
		return;
	memcpy(text, line, len);
	text[len] = '\0';
	if (sscanf(text, " %63[a-z_] = %4199s", name, value) != 2 || strlen(value) < 8)
		return;
	if (strcmp(name, "key") != 0 && strcmp(name, "secret_key") != 0)
		return;
	if (occurrences(data, size, value) == 1 && strstr(msg, value))
		fuzz_fail("the refused secret '%s' shows in: %s", value, msg);
}

static void
check_error(const uint8_t *data, size_t size, const struct gb_err *err, int rc)
{
	size_t plen = strlen(path), lines = 1, len;
	const char *line;
	char *end;
	long n;

	if (rc != err->code || err->msg[0] == '\0')
		fuzz_fail("config_load_file failed (%d) without a message", rc);
	if (strncmp(err->msg, path, plen) != 0 || err->msg[plen] != ':')
		fuzz_fail("the error does not name the file: %s", err->msg);
	n = strtol(err->msg + plen + 1, &end, 10);
	if (end == err->msg + plen + 1 || *end != ':')
		fuzz_fail("the error does not name a line: %s", err->msg);
	for (size_t i = 0; i + 1 < size; i++)
		lines += data[i] == '\n';
	if (n < 1 || (size_t)n > lines)
		fuzz_fail("the error names line %ld of a file of %zu lines: %s", n, lines,
		    err->msg);
	if ((line = nth_line((const char *)data, size, n, &len)) != NULL)
		check_secret(data, size, line, len, err->msg);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	if ((fd = memfd_create("genbox.conf", 0)) < 0)
		fuzz_fail("memfd_create failed");
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config a, b;
	struct gb_err err = { 0, "" }, err2 = { 0, "" };
	int rc, rc2;

	if (ftruncate(fd, 0) || pwrite(fd, data, size, 0) != (ssize_t)size)
		fuzz_fail("cannot write the memory file");
	config_defaults(&a);
	config_defaults(&b);
	rc = config_load_file(&a, path, 1, &err);
	if (rc != 0)
		check_error(data, size, &err, rc);
	rc2 = config_load_file(&b, path, 1, &err2);
	if (rc != rc2 || strcmp(err.msg, err2.msg) != 0 || (rc == 0 && memcmp(&a, &b, sizeof(a))))
		fuzz_fail("two loads of one file differ: %d %s / %d %s", rc, err.msg, rc2, err2.msg);
	return 0;
}
