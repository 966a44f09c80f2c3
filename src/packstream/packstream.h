/*
 * PackStream: the value format of Bolt. Pure code: no sockets, no Bolt state.
 *
 * Values decoded from the network live in a PsArena and are freed all at once
 * (ps_arena_reset/ps_arena_free), so a record never needs a tree walk to free.
 * Encoding streams straight into a P2nBuf (no value tree needed): ps_pack_*().
 * The decoder trusts no length: every read is bounds-checked, nesting is limited, sizes are
 * limited, and reserved markers are rejected with a clear error.
 */
#ifndef P2N_PACKSTREAM_H
#define P2N_PACKSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"

typedef enum PsType {
    PS_NULL = 0,
    PS_BOOL,
    PS_INT,
    PS_FLOAT,
    PS_BYTES,
    PS_STRING,
    PS_LIST,
    PS_MAP,
    PS_STRUCT
} PsType;

/* Structure tags of Bolt 5. */
enum {
    PS_TAG_NODE = 0x4E,
    PS_TAG_RELATIONSHIP = 0x52,
    PS_TAG_UNBOUND_REL = 0x72,
    PS_TAG_PATH = 0x50,
    PS_TAG_DATE = 0x44,
    PS_TAG_TIME = 0x54,
    PS_TAG_LOCAL_TIME = 0x74,
    PS_TAG_DATETIME = 0x49,         /* epoch seconds UTC, nanos, tz offset seconds */
    PS_TAG_DATETIME_ZONE_ID = 0x69, /* epoch seconds UTC, nanos, tz id */
    PS_TAG_LOCAL_DATETIME = 0x64,
    PS_TAG_DURATION = 0x45,
    PS_TAG_POINT2D = 0x58,
    PS_TAG_POINT3D = 0x59
};

typedef struct PsValue PsValue;
typedef struct PsMapEntry PsMapEntry;

struct PsValue {
    PsType type;
    union {
        bool b;
        int64_t i;
        double f;
        struct {
            const char *data; /* not NUL-terminated for bytes; strings are NUL-terminated copies */
            uint32_t len;
        } str;                /* PS_STRING and PS_BYTES */
        struct {
            PsValue *items;
            uint32_t len;
        } list;
        struct {
            PsMapEntry *entries;
            uint32_t len;
        } map;
        struct {
            uint8_t tag;
            uint8_t len;
            PsValue *fields;
        } st;
    } u;
};

struct PsMapEntry {
    const char *key; /* NUL-terminated */
    uint32_t key_len;
    PsValue value;
};

/* ---- arena ---- */
typedef struct PsArenaBlock PsArenaBlock;
typedef struct PsArena {
    PsArenaBlock *head; /* from malloc() */
    size_t used;        /* bytes handed out since the last reset */
    size_t limit;       /* 0 = unlimited; allocation past it fails */
} PsArena;

void ps_arena_init(PsArena *a, size_t limit);
void *ps_arena_alloc(PsArena *a, size_t n); /* 8-byte aligned; NULL when out of memory or limit */
void ps_arena_reset(PsArena *a);            /* frees all but one block, keeps it for reuse */
void ps_arena_free(PsArena *a);

/* ---- encoder: appends to a P2nBuf (its failed bit reports errors) ---- */
void ps_pack_null(P2nBuf *b);
void ps_pack_bool(P2nBuf *b, bool v);
void ps_pack_int(P2nBuf *b, int64_t v); /* smallest encoding */
void ps_pack_float(P2nBuf *b, double v);
void ps_pack_string(P2nBuf *b, const char *s, size_t len);
void ps_pack_cstr(P2nBuf *b, const char *s);
void ps_pack_bytes(P2nBuf *b, const void *data, size_t len);
void ps_pack_list_header(P2nBuf *b, uint32_t n);
void ps_pack_map_header(P2nBuf *b, uint32_t n);
void ps_pack_struct_header(P2nBuf *b, uint8_t tag, uint8_t nfields);
void ps_pack_value(P2nBuf *b, const PsValue *v);
/* Bolt 5 structures */
void ps_pack_date(P2nBuf *b, int64_t days_since_epoch);
void ps_pack_time(P2nBuf *b, int64_t nanos_of_day, int64_t tz_offset_seconds);
void ps_pack_local_time(P2nBuf *b, int64_t nanos_of_day);
void ps_pack_datetime(P2nBuf *b, int64_t epoch_seconds_utc, int64_t nanos, int64_t tz_offset_seconds);
void ps_pack_datetime_zone_id(P2nBuf *b, int64_t epoch_seconds_utc, int64_t nanos, const char *zone_id);
void ps_pack_local_datetime(P2nBuf *b, int64_t epoch_seconds, int64_t nanos);
void ps_pack_duration(P2nBuf *b, int64_t months, int64_t days, int64_t seconds, int64_t nanos);
void ps_pack_point2d(P2nBuf *b, int64_t srid, double x, double y);
void ps_pack_point3d(P2nBuf *b, int64_t srid, double x, double y, double z);

/* ---- decoder ---- */
typedef struct PsLimits {
    uint32_t max_depth;      /* nesting of lists/maps/structs; 0 = default 64; at most 1024 */
    uint32_t max_collection; /* elements in one list/map; 0 = default 16M (P2N_ETOOBIG past it) */
} PsLimits;

#define PS_DEFAULT_MAX_DEPTH 64u

/*
 * Decodes one value from data[0..len). On success stores the number of bytes used in *used.
 * Strings, bytes and keys are copied into the arena (NUL-terminated), so the value lives until
 * the arena is reset, independently of data. limits may be NULL (defaults). Duplicate map keys
 * are merged (the last value wins). A collection may not claim more elements than bytes remain.
 * Errors: P2N_EPROTO (malformed, truncated, reserved marker, too deep, invalid UTF-8 is NOT
 * checked), P2N_ETOOBIG (arena limit), P2N_ENOMEM.
 */
int ps_decode(PsArena *a, const uint8_t *data, size_t len, const PsLimits *limits, PsValue *out,
              size_t *used, P2nErr *err);

/* ---- accessors ---- */
const PsValue *ps_map_get(const PsValue *map, const char *key); /* NULL if absent or not a map */
/* Typed lookups: false/NULL when the key is absent or the value has another type. */
bool ps_map_get_int(const PsValue *map, const char *key, int64_t *out);
bool ps_map_get_bool(const PsValue *map, const char *key, bool *out);
const char *ps_map_get_str(const PsValue *map, const char *key); /* NUL-terminated */
/* Field i of a structure with this tag, or NULL (not a struct, other tag, too few fields). */
const PsValue *ps_struct_field(const PsValue *v, uint8_t tag, uint8_t i);
/*
 * Deep equality. Maps compare regardless of entry order (decoded maps have unique keys: a
 * repeated key on the wire keeps its last value); an int never equals a float; floats are equal
 * when both are NaN or when == holds and the signs agree (0.0 differs from -0.0).
 */
bool ps_value_equal(const PsValue *a, const PsValue *b);
const char *ps_type_name(PsType t); /* "integer", "map", ... */

/*
 * JSON form of a value, as `pg2neo cypher` prints it (documented in docs/cypher-json.md):
 * null/bool/int/float/string/list/map as JSON; bytes, temporals, durations, points, nodes,
 * relationships and paths as tagged objects. Appends to b.
 */
void ps_value_to_json(P2nBuf *b, const PsValue *v);

#endif
