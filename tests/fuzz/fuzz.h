/*
 * fuzz.h - what the libFuzzer harnesses of tests/fuzz share: libFuzzer's
 * entry points, a temporary folder removed at exit, a database holding the
 * schema's example documents, and the failed invariant that stops a run.
 *
 * Each harness is one fuzz-NAME.c linked with fuzzlib.c, the project's
 * objects (built with -fsanitize=fuzzer-no-link,address,undefined into
 * build/fuzz) and libFuzzer's main: `make fuzz` runs each for a while,
 * t700-fuzz-brief for seconds.
 */
#ifndef GB_FUZZ_H
#define GB_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "../../storage/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A folder of this process, made once, removed with what it holds at exit. */
const char *fuzz_tmpdir(void);

/*
 * A new database file name in fuzz_tmpdir into path (memory: ":memory:"),
 * created and migrated, holding the schema's example documents (appliance/demo) when demo is set;
 * the open store into *st. Any failure ends the process.
 */
void fuzz_store(char *path, size_t size, int memory, int demo, struct store **st);

/* An invariant is broken: print why and abort, so libFuzzer keeps the input. */
void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
