/*
 * PackStream decoder. Trusts no length: every read is bounds-checked against the input, a
 * collection may not claim more elements than bytes remain (so a 5-byte header cannot make us
 * allocate gigabytes), nesting is limited, and all memory comes from the caller's arena (whose
 * limit caps the total). Reserved markers are rejected with the marker and its offset.
 */
#include "packstream/packstream.h"

#include <string.h>

#define PS_DEFAULT_MAX_COLLECTION (16u * 1024u * 1024u)
#define PS_MAX_MAX_DEPTH 1024u /* a larger max_depth is lowered to this: the decoder recurses */
#define PS_MAP_LINEAR_DEDUP 16u /* maps up to this size check duplicate keys pairwise */

typedef struct PsDecoder {
    const uint8_t *p;
    size_t len;
    size_t pos;
    PsArena *arena;
    uint32_t max_depth;
    uint32_t max_collection;
    P2nErr *err;
} PsDecoder;

static int dec_value(PsDecoder *d, PsValue *out, uint32_t depth);

static int dec_truncated(PsDecoder *d, size_t start, const char *what, size_t need)
{
    return p2n_err_set(d->err, P2N_EPROTO,
                       "truncated PackStream data: %s at offset %zu needs %zu bytes, %zu remain", what,
                       start, need, d->len - d->pos);
}

static void *dec_alloc(PsDecoder *d, size_t n, size_t start)
{
    void *p = ps_arena_alloc(d->arena, n);
    if (p != NULL)
        return p;
    size_t rounded = (n + 7u) & ~(size_t)7u;
    if (d->arena->limit != 0 && (rounded > d->arena->limit || d->arena->used > d->arena->limit - rounded))
        p2n_err_set(d->err, P2N_ETOOBIG,
                    "decoded PackStream value exceeds the memory limit of %zu bytes (at offset %zu)",
                    d->arena->limit, start);
    else
        p2n_err_set(d->err, P2N_ENOMEM, "out of memory decoding PackStream value at offset %zu", start);
    return NULL;
}

static inline uint64_t dec_be(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Reads an n-byte big-endian size (n = 1, 2 or 4) following the marker. */
static int dec_size(PsDecoder *d, size_t start, unsigned n, const char *what, uint32_t *size)
{
    if (d->len - d->pos < n)
        return dec_truncated(d, start, what, n);
    *size = (uint32_t)dec_be(d->p + d->pos, n);
    d->pos += n;
    return 0;
}

static int dec_bytes(PsDecoder *d, size_t start, uint32_t n, PsType type, PsValue *out)
{
    if (d->len - d->pos < n)
        return dec_truncated(d, start, type == PS_STRING ? "string" : "bytes", n);
    char *s = dec_alloc(d, (size_t)n + 1, start);
    if (s == NULL)
        return d->err ? d->err->code : P2N_ENOMEM;
    if (n > 0)
        memcpy(s, d->p + d->pos, n);
    s[n] = 0;
    d->pos += n;
    out->type = type;
    out->u.str.data = s;
    out->u.str.len = n;
    return 0;
}

static int dec_check_collection(PsDecoder *d, size_t start, uint32_t n, size_t min_bytes_each,
                                uint32_t depth, const char *what)
{
    if (depth + 1 > d->max_depth)
        return p2n_err_set(d->err, P2N_EPROTO,
                           "PackStream %s at offset %zu nested deeper than the limit of %u", what, start,
                           d->max_depth);
    if ((uint64_t)n * min_bytes_each > d->len - d->pos)
        return p2n_err_set(d->err, P2N_EPROTO,
                           "truncated PackStream data: %s at offset %zu claims %u elements but only %zu bytes remain",
                           what, start, n, d->len - d->pos);
    if (n > d->max_collection)
        return p2n_err_set(d->err, P2N_ETOOBIG,
                           "PackStream %s at offset %zu has %u elements, more than the limit of %u", what,
                           start, n, d->max_collection);
    return 0;
}

static int dec_list(PsDecoder *d, size_t start, uint32_t n, uint32_t depth, PsValue *out)
{
    int rc = dec_check_collection(d, start, n, 1, depth, "list");
    if (rc < 0)
        return rc;
    PsValue *items = NULL;
    if (n > 0 && (items = dec_alloc(d, (size_t)n * sizeof(PsValue), start)) == NULL)
        return d->err ? d->err->code : P2N_ENOMEM;
    for (uint32_t i = 0; i < n; i++)
        if ((rc = dec_value(d, &items[i], depth + 1)) < 0)
            return rc;
    out->type = PS_LIST;
    out->u.list.items = items;
    out->u.list.len = n;
    return 0;
}

static inline uint32_t key_hash(const char *k, uint32_t len)
{
    uint32_t h = 2166136261u;
    for (uint32_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)k[i]) * 16777619u;
    return h;
}

static inline bool key_eq(const PsMapEntry *a, const PsMapEntry *b)
{
    return a->key_len == b->key_len && memcmp(a->key, b->key, a->key_len) == 0;
}

/*
 * Duplicate keys: the last value wins (PackStream's rule), kept at the first key's position.
 * Returns the new entry count, or -1 when the scratch table could not be allocated.
 */
static int64_t dec_map_dedup(PsDecoder *d, size_t start, PsMapEntry *e, uint32_t n)
{
    uint32_t out = 0;
    if (n <= PS_MAP_LINEAR_DEDUP) {
        for (uint32_t i = 0; i < n; i++) {
            uint32_t j = 0;
            while (j < out && !key_eq(&e[j], &e[i]))
                j++;
            if (j < out)
                e[j].value = e[i].value;
            else
                e[out++] = e[i];
        }
        return out;
    }
    uint32_t cap = 32;
    while (cap < n * 2u)
        cap *= 2;
    uint32_t *slots = dec_alloc(d, (size_t)cap * sizeof(uint32_t), start); /* index + 1, 0 empty */
    if (slots == NULL)
        return -1;
    memset(slots, 0, (size_t)cap * sizeof(uint32_t));
    for (uint32_t i = 0; i < n; i++) {
        uint32_t h = key_hash(e[i].key, e[i].key_len) & (cap - 1);
        while (slots[h] != 0 && !key_eq(&e[slots[h] - 1], &e[i]))
            h = (h + 1) & (cap - 1);
        if (slots[h] != 0) {
            e[slots[h] - 1].value = e[i].value;
        } else {
            e[out] = e[i];
            slots[h] = ++out;
        }
    }
    return out;
}

static int dec_map(PsDecoder *d, size_t start, uint32_t n, uint32_t depth, PsValue *out)
{
    int rc = dec_check_collection(d, start, n, 2, depth, "map");
    if (rc < 0)
        return rc;
    PsMapEntry *entries = NULL;
    if (n > 0 && (entries = dec_alloc(d, (size_t)n * sizeof(PsMapEntry), start)) == NULL)
        return d->err ? d->err->code : P2N_ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        size_t kstart = d->pos;
        if (d->pos >= d->len)
            return dec_truncated(d, kstart, "map key", 1);
        uint8_t m = d->p[d->pos];
        if (!((m >= 0x80 && m <= 0x8F) || (m >= 0xD0 && m <= 0xD2)))
            return p2n_err_set(d->err, P2N_EPROTO,
                               "PackStream map key at offset %zu is not a string (marker 0x%02X)", kstart, m);
        PsValue key;
        if ((rc = dec_value(d, &key, depth + 1)) < 0)
            return rc;
        entries[i].key = key.u.str.data;
        entries[i].key_len = key.u.str.len;
        if ((rc = dec_value(d, &entries[i].value, depth + 1)) < 0)
            return rc;
    }
    int64_t kept = dec_map_dedup(d, start, entries, n);
    if (kept < 0)
        return d->err ? d->err->code : P2N_ENOMEM;
    out->type = PS_MAP;
    out->u.map.entries = entries;
    out->u.map.len = (uint32_t)kept;
    return 0;
}

static int dec_struct(PsDecoder *d, size_t start, uint8_t nfields, uint32_t depth, PsValue *out)
{
    if (d->pos >= d->len)
        return dec_truncated(d, start, "structure tag", 1);
    uint8_t tag = d->p[d->pos++];
    int rc = dec_check_collection(d, start, nfields, 1, depth, "structure");
    if (rc < 0)
        return rc;
    PsValue *fields = NULL;
    if (nfields > 0 && (fields = dec_alloc(d, (size_t)nfields * sizeof(PsValue), start)) == NULL)
        return d->err ? d->err->code : P2N_ENOMEM;
    for (uint8_t i = 0; i < nfields; i++)
        if ((rc = dec_value(d, &fields[i], depth + 1)) < 0)
            return rc;
    out->type = PS_STRUCT;
    out->u.st.tag = tag;
    out->u.st.len = nfields;
    out->u.st.fields = fields;
    return 0;
}

static int dec_value(PsDecoder *d, PsValue *out, uint32_t depth)
{
    size_t start = d->pos;
    if (d->pos >= d->len)
        return dec_truncated(d, start, "value", 1);
    uint8_t m = d->p[d->pos++];
    uint32_t n = 0; /* set by every path that reads it (-O3 cannot see it: -Wmaybe-uninitialized) */
    int rc;

    if (m < 0x80 || m >= 0xF0) { /* tiny int */
        out->type = PS_INT;
        out->u.i = (int8_t)m;
        return 0;
    }
    switch (m >> 4) {
    case 0x8:
        return dec_bytes(d, start, m & 0x0Fu, PS_STRING, out);
    case 0x9:
        return dec_list(d, start, m & 0x0Fu, depth, out);
    case 0xA:
        return dec_map(d, start, m & 0x0Fu, depth, out);
    case 0xB:
        return dec_struct(d, start, (uint8_t)(m & 0x0Fu), depth, out);
    default:
        break;
    }
    switch (m) {
    case 0xC0:
        out->type = PS_NULL;
        return 0;
    case 0xC2:
    case 0xC3:
        out->type = PS_BOOL;
        out->u.b = m == 0xC3;
        return 0;
    case 0xC1: {
        if (d->len - d->pos < 8)
            return dec_truncated(d, start, "float", 8);
        uint64_t bits = dec_be(d->p + d->pos, 8);
        d->pos += 8;
        out->type = PS_FLOAT;
        memcpy(&out->u.f, &bits, sizeof(bits));
        return 0;
    }
    case 0xC8:
    case 0xC9:
    case 0xCA:
    case 0xCB: {
        unsigned nb = 1u << (m - 0xC8);
        if (d->len - d->pos < nb)
            return dec_truncated(d, start, "integer", nb);
        uint64_t u = dec_be(d->p + d->pos, nb);
        d->pos += nb;
        /* sign-extend from nb bytes */
        unsigned shift = 64u - 8u * nb;
        out->type = PS_INT;
        out->u.i = shift ? (int64_t)(u << shift) >> shift : (int64_t)u;
        return 0;
    }
    case 0xCC:
    case 0xCD:
    case 0xCE:
        if ((rc = dec_size(d, start, 1u << (m - 0xCC), "bytes size", &n)) < 0)
            return rc;
        return dec_bytes(d, start, n, PS_BYTES, out);
    case 0xD0:
    case 0xD1:
    case 0xD2:
        if ((rc = dec_size(d, start, 1u << (m - 0xD0), "string size", &n)) < 0)
            return rc;
        return dec_bytes(d, start, n, PS_STRING, out);
    case 0xD4:
    case 0xD5:
    case 0xD6:
        if ((rc = dec_size(d, start, 1u << (m - 0xD4), "list size", &n)) < 0)
            return rc;
        return dec_list(d, start, n, depth, out);
    case 0xD8:
    case 0xD9:
    case 0xDA:
        if ((rc = dec_size(d, start, 1u << (m - 0xD8), "map size", &n)) < 0)
            return rc;
        return dec_map(d, start, n, depth, out);
    default:
        /* C4-C7, CF, D3, D7, DB-DF, E0-EF */
        return p2n_err_set(d->err, P2N_EPROTO, "reserved PackStream marker 0x%02X at offset %zu", m, start);
    }
}

int ps_decode(PsArena *a, const uint8_t *data, size_t len, const PsLimits *limits, PsValue *out,
              size_t *used, P2nErr *err)
{
    P2nErr local;
    PsDecoder d = {
        .p = data,
        .len = data != NULL ? len : 0,
        .pos = 0,
        .arena = a,
        .max_depth = limits != NULL && limits->max_depth != 0 ? limits->max_depth : PS_DEFAULT_MAX_DEPTH,
        .max_collection = limits != NULL && limits->max_collection != 0 ? limits->max_collection
                                                                        : PS_DEFAULT_MAX_COLLECTION,
        .err = err != NULL ? err : &local,
    };
    if (d.max_depth > PS_MAX_MAX_DEPTH)
        d.max_depth = PS_MAX_MAX_DEPTH;
    out->type = PS_NULL;
    int rc = dec_value(&d, out, 0);
    if (rc < 0) {
        out->type = PS_NULL;
        if (used != NULL)
            *used = 0;
        return rc;
    }
    if (used != NULL)
        *used = d.pos;
    return 0;
}
