/*
 * fixture.h - what the benchmarks that drive genbox set up: the genbox
 * binary, databases with the schema's example documents, and counts of
 * contexts per status. Failures here end the benchmark (bench_die).
 */
#ifndef GB_BENCH_FIXTURE_H
#define GB_BENCH_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "../../storage/store.h"

/*
 * The genbox binary: $GENBOX_BIN, else ../genbox from this program's folder
 * (build/default/genbox for build/default/bench/pipeline). Exits when it is
 * not executable.
 */
void fixture_find_genbox(char *out, size_t size);
/*
 * A path under the source tree: $GENBOX_SRC/rel, else ./rel. Returns out.
 */
const char *fixture_src_path(const char *rel, char *out, size_t size);
/*
 * `genbox --db db demo`: a new database (db and its -wal/-shm removed first)
 * holding the schema's example documents, org_123 without its batch and
 * daily limits. Needs bench_tmpdir_make for the
 * child's output files.
 */
void fixture_demo_db(const char *genbox, const char *db);
/* Contexts per status in db. */
void fixture_status_counts(const char *db, int64_t counts[CTX_STATUS_COUNT]);

#endif
