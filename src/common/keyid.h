/*
 * Entity ids from key values: the canonical text of a key value of each key type, the same
 * whichever session computes it (its DateStyle, TimeZone). An entity id is that text (or, for a
 * composite key, the JSON array of the key values' texts), built in places that must agree byte
 * for byte:
 *   - the capture triggers (pg/capture.c) and the mapping's SQL (mapping/gen.c): the SQL
 *     expression of p2n_key_sql_text();
 *   - the logical decoder (pg/logical.c): p2n_key_text_normalise() of the text pgoutput sends;
 *   - the mapping's id encoder (mapping/encode.c): p2n_key_text_parse_time() turns an id back
 *     into the key's Neo4j value for deletes; the full sync's Neo4j side prints Neo4j values in
 *     the same form (sync/fullsync.c).
 *
 * The canonical forms (docs/mapping.md "Keys"):
 *   integer, text, varchar, name, citext, uuid, enum: the value's text (::text)
 *   character(n): its text without the trailing padding (::text)
 *   boolean: true, false
 *   numeric: without trailing fractional zeros (1.50 and 1.5 are one value: "1.5"); NaN,
 *            Infinity, -Infinity
 *   date: YYYY-MM-DD (4 digits or more), "YYYY-MM-DD BC" before year 1, infinity, -infinity
 *   timestamp: YYYY-MM-DD HH:MM:SS.ffffff (always 6 digits), " BC" after it before year 1
 *   timestamptz: the same in UTC followed by +00 ("2024-03-01 12:00:00.000000+00")
 */
#ifndef P2N_COMMON_KEYID_H
#define P2N_COMMON_KEYID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

typedef enum P2nKeyKind {
    P2N_KEY_TEXT = 0,   /* integers, text types, uuid, enums, anything else: ::text */
    P2N_KEY_BPCHAR,     /* character(n): ::text drops the padding that the output function keeps */
    P2N_KEY_CITEXT,     /* equality ignores case: capture compares such columns as text */
    P2N_KEY_BOOL,       /* ::text is true/false, the output function t/f */
    P2N_KEY_NUMERIC,    /* trim_scale */
    P2N_KEY_DATE,
    P2N_KEY_TIMESTAMP,
    P2N_KEY_TIMESTAMPTZ
} P2nKeyKind;

/* The kind of a key column from its type's name (pg_type.typname of the base type for a domain);
   P2N_KEY_TEXT for NULL and any name not listed above. */
P2nKeyKind p2n_key_kind(const char *typname);

/* Appends the SQL expression whose value is the canonical text of the SQL expression expr (a
   column reference such as NEW."k" or t."k"; it may be written several times). It depends on no
   session setting. */
void p2n_key_sql_text(P2nBuf *b, P2nKeyKind k, const char *expr);

/* Appends to out the canonical text of a value given as its output function's text in a session
   with DateStyle = ISO (any TimeZone: an offset is converted to UTC), as pgoutput sends it.
   Returns 0, or -1 when s is not such a text (out is then unchanged). */
int p2n_key_text_normalise(P2nKeyKind k, const char *s, size_t n, P2nBuf *out);

/* A date or timestamp: day number (days since 1970-01-01) and microseconds into that day, in UTC
   for timestamptz; infinite is 1 or -1 for 'infinity' / '-infinity' (the rest is then 0). */
typedef struct P2nKeyTime {
    int infinite;
    int64_t days;
    int64_t usec; /* 0 .. 86,399,999,999 */
} P2nKeyTime;

/* Parses a canonical date (k P2N_KEY_DATE) or timestamp (P2N_KEY_TIMESTAMP, P2N_KEY_TIMESTAMPTZ)
   text, or an ISO output text as p2n_key_text_normalise() takes. Returns 0 or -1. */
int p2n_key_text_parse_time(P2nKeyKind k, const char *s, size_t n, P2nKeyTime *out);

/* Days since 1970-01-01 of a proleptic Gregorian date (astronomical year: 1 BC is 0), and back. */
int64_t p2n_days_from_civil(int64_t y, int64_t m, int64_t d);
void p2n_civil_from_days(int64_t days, int64_t *y, int64_t *m, int64_t *d);

#endif
