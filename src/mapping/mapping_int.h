/*
 * What the mapping module's own files (and its unit tests) share beyond mapping.h.
 *
 * The JSON scanner (json.c): reads the JSON text PostgreSQL prints for json and jsonb values in
 * place, with none of a general parser's limits: any nesting depth (iterative, no recursion),
 * numbers of any size or precision (the caller gets the token and decides), strings with any
 * escape (\u0000 included; a lone surrogate escape, which the json type accepts, decodes to
 * U+FFFD). The text must be NUL-terminated (libpq's values are): a number token is always
 * followed by a byte that ends it, so strtod/strtoll can read it in place.
 */
#ifndef P2N_MAPPING_INT_H
#define P2N_MAPPING_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "mapping/mapping.h"

typedef enum MjKind {
    MJ_BAD = 0, /* no value starts here */
    MJ_NULL,
    MJ_BOOL,
    MJ_NUMBER,
    MJ_STRING,
    MJ_ARRAY,
    MJ_OBJECT
} MjKind;

/* Skips JSON whitespace. */
const char *mj_ws(const char *p, const char *end);
/* The kind of the value at p (no whitespace skipped), by its first byte. */
MjKind mj_kind(const char *p, const char *end);
/* Checks the one value at p (any kind, any depth) and returns the end of it, NULL when it is not
   JSON. With compact, appends the value's text without the whitespace outside strings. */
const char *mj_skip(const char *p, const char *end, P2nBuf *compact);
/* The string at p: returns its end (after the closing quote) or NULL; with out, appends the
   decoded UTF-8 (not NUL-terminated by this call). */
const char *mj_string(const char *p, const char *end, P2nBuf *out);
/* The number token at p: returns its end or NULL; *is_int is true when it has neither a
   fraction nor an exponent. */
const char *mj_number(const char *p, const char *end, bool *is_int);
/* true, false or null at p: returns its end or NULL; *truth for booleans. */
const char *mj_literal(const char *p, const char *end, bool *truth);

/* Walks the members of one array or object. */
typedef struct MjIter {
    const char *p;   /* scan position: after the opener, then after the last value */
    const char *end;
    char close;      /* ']' or '}' */
    bool first;
} MjIter;

/* Opens the array or object at p; false when none starts there. */
bool mj_iter_open(MjIter *it, const char *p, const char *end);
/* The next member: 1 with *val at its value (for an object its key decoded into key, which is
   reset first; key may be NULL to skip it), 0 after the closer (it->p just past it), -1 when
   malformed. After a 1 the caller sets it->p to the end of that value before the next call. */
int mj_iter_next(MjIter *it, P2nBuf *key, const char **val);

/* Frees what mapping_catalog_load_links() added to a table (catalog.c; mapping_catalog_free()
   calls it for each table). */
void mapping_catalog_links_free(MappingCatTable *t);

#endif
