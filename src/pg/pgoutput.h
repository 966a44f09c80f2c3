/*
 * A decoder of PostgreSQL's logical replication messages (the pgoutput plugin, protocol version 1),
 * as pg_logical_slot_peek_binary_changes() returns them, one message per row. It knows no
 * connection and allocates nothing: a message is decoded into a PgoMsg whose strings and values
 * point into the message bytes, with room for the columns in a caller-owned PgoDecoder. Every read
 * is bounds-checked; a truncated or malformed message is an error, never a read past its end.
 * Used by the logical capture mode (pg/logical.h). Reference: PostgreSQL 15 documentation,
 * "Logical Replication Message Formats".
 */
#ifndef P2N_PG_PGOUTPUT_H
#define P2N_PG_PGOUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define PGO_MAX_COLS 1664 /* MaxTupleAttributeNumber */

typedef enum PgoKind {
    PGO_BEGIN,
    PGO_COMMIT,
    PGO_RELATION,
    PGO_INSERT,
    PGO_UPDATE,
    PGO_DELETE,
    PGO_TRUNCATE,
    PGO_OTHER          /* origin, type, logical message: nothing the capture needs */
} PgoKind;

typedef struct PgoValue {
    char kind;           /* 'n' null, 'u' unchanged TOAST, 't' text, 'b' binary */
    const uint8_t *data; /* 't'/'b': the bytes (not NUL-terminated) */
    uint32_t len;
} PgoValue;

typedef struct PgoTuple {
    uint16_t n;
    const PgoValue *v;
} PgoTuple;

typedef struct PgoColumn {
    const char *name;    /* NUL-terminated inside the message */
    bool key;            /* part of the replica identity */
    uint32_t type_oid;
} PgoColumn;

typedef struct PgoMsg {
    PgoKind kind;
    uint32_t relid;             /* relation, insert, update, delete */
    uint64_t lsn;               /* begin: the final LSN; commit: the end LSN */
    int64_t time_us;            /* begin, commit: commit time, unix microseconds */
    const char *nspname;        /* relation ("" means pg_catalog) */
    const char *relname;
    char replident;             /* relation: 'd', 'n', 'f', 'i' */
    uint16_t ncols;             /* relation */
    const PgoColumn *cols;
    char old_kind;              /* update, delete: 'K' key, 'O' old row, 0 none */
    PgoTuple old_tuple;
    PgoTuple new_tuple;         /* insert, update */
    uint32_t nrelids;           /* truncate */
    const uint8_t *relids;      /* truncate: nrelids big-endian uint32 (pgo_truncate_relid) */
} PgoMsg;

/* Scratch space for one decoded message; large, allocate it once (malloc). */
typedef struct PgoDecoder {
    PgoColumn cols[PGO_MAX_COLS];
    PgoValue oldv[PGO_MAX_COLS];
    PgoValue newv[PGO_MAX_COLS];
} PgoDecoder;

/* Decodes one message. 0, or P2N_EPROTO with a message saying what is wrong. *m is valid until
   the message bytes or d change. */
int pgo_decode(PgoDecoder *d, const uint8_t *data, size_t len, PgoMsg *m, P2nErr *err);

/* The i-th relation OID of a truncate message (i < m->nrelids). */
uint32_t pgo_truncate_relid(const PgoMsg *m, uint32_t i);

#endif
