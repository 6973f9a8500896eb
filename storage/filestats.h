/*
 * filestats.h - the database file's figures for /metrics, /healthz and the
 * UI: its size, page size, free pages and the WAL's size. Read through
 * SQLite (PRAGMA page_count, page_size, freelist_count) and stat() of the
 * -wal file by name: no descriptor of the database or its WAL is opened
 * outside SQLite (DESIGN.md, "Storage").
 */
#ifndef GB_STORAGE_FILESTATS_H
#define GB_STORAGE_FILESTATS_H

#include <stdint.h>

#include "store.h"

struct store_filestats {
	int64_t file_bytes;		/* page_count x page_size */
	int64_t page_size;		/* bytes */
	int64_t free_pages;		/* freelist_count */
	int64_t wal_bytes;		/* size of "<path>-wal"; 0 when there is none */
};

/* The figures of st's database. 0 or a negative GB_E* code with a message in err. */
int store_filestats(struct store *st, struct store_filestats *out, struct gb_err *err);

#endif
