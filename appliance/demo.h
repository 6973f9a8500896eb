/*
 * demo.h - the schema's example documents, built into the binary from
 * the JSON files of appliance/demo, plus the components its example pipeline names.
 */
#ifndef GB_DEMO_H
#define GB_DEMO_H

struct demo_doc {
	const char *collection;
	const char *name;	/* the source file's name */
	const char *json;
};

/* Ends with an entry whose collection is NULL. */
extern const struct demo_doc demo_docs[];

#endif
