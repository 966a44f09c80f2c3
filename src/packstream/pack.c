/*
 * PackStream encoder: streams values straight into a P2nBuf, no value tree and no per-value
 * malloc. Each function reserves its worst case once and writes bytes directly; the buffer's
 * sticky failed bit reports out-of-memory (or its max) and the caller checks it once at the end.
 */
#include "packstream/packstream.h"

#include <string.h>

/* Room for n bytes at the end of b, or NULL (b->failed is then set). */
static inline uint8_t *ps_room(P2nBuf *b, size_t n)
{
    /* Fast path: room already there (reserve keeps one byte for the NUL) and no max to honour. */
    if (b->cap - b->len > n && b->max == 0 && !b->failed)
        return b->data + b->len;
    if (!p2n_buf_reserve(b, n))
        return NULL;
    return b->data + b->len;
}

/* Commits n bytes written at ps_room()'s pointer and keeps the buffer NUL-terminated. */
static inline void ps_commit(P2nBuf *b, size_t n)
{
    b->len += n;
    b->data[b->len] = 0;
}

static inline void ps_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void ps_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline void ps_put64(uint8_t *p, uint64_t v)
{
    ps_put32(p, (uint32_t)(v >> 32));
    ps_put32(p + 4, (uint32_t)v);
}

static inline void ps_pack_marker(P2nBuf *b, uint8_t m)
{
    uint8_t *p = ps_room(b, 1);
    if (p == NULL)
        return;
    p[0] = m;
    ps_commit(b, 1);
}

void ps_pack_null(P2nBuf *b)
{
    ps_pack_marker(b, 0xC0);
}

void ps_pack_bool(P2nBuf *b, bool v)
{
    ps_pack_marker(b, v ? 0xC3 : 0xC2);
}

void ps_pack_int(P2nBuf *b, int64_t v)
{
    uint64_t u = (uint64_t)v;
    uint8_t *p;
    /* Unsigned range checks: one compare per size class, no sign tests. */
    if (u + 16u <= 16u + 127u) { /* -16..127: tiny int, the byte itself (two's complement) */
        if ((p = ps_room(b, 1)) == NULL)
            return;
        p[0] = (uint8_t)u;
        ps_commit(b, 1);
    } else if (u + 128u <= 255u) {
        if ((p = ps_room(b, 2)) == NULL)
            return;
        p[0] = 0xC8;
        p[1] = (uint8_t)u;
        ps_commit(b, 2);
    } else if (u + 32768u <= 65535u) {
        if ((p = ps_room(b, 3)) == NULL)
            return;
        p[0] = 0xC9;
        ps_put16(p + 1, (uint16_t)u);
        ps_commit(b, 3);
    } else if (u + 2147483648u <= 4294967295u) {
        if ((p = ps_room(b, 5)) == NULL)
            return;
        p[0] = 0xCA;
        ps_put32(p + 1, (uint32_t)u);
        ps_commit(b, 5);
    } else {
        if ((p = ps_room(b, 9)) == NULL)
            return;
        p[0] = 0xCB;
        ps_put64(p + 1, u);
        ps_commit(b, 9);
    }
}

void ps_pack_float(P2nBuf *b, double v)
{
    uint8_t *p = ps_room(b, 9);
    if (p == NULL)
        return;
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    p[0] = 0xC1;
    ps_put64(p + 1, bits);
    ps_commit(b, 9);
}

/*
 * Writes a size header: a tiny marker (tiny_base | n) for n < 16 when tiny_base != 0, else
 * m8/m16/m32 followed by the size. Returns false when the buffer failed.
 */
static inline bool ps_pack_size(P2nBuf *b, uint8_t tiny_base, uint8_t m8, size_t n)
{
    uint8_t *p;
    if (tiny_base != 0 && n < 16) {
        if ((p = ps_room(b, 1)) == NULL)
            return false;
        p[0] = (uint8_t)(tiny_base | n);
        ps_commit(b, 1);
    } else if (n <= 0xFF) {
        if ((p = ps_room(b, 2)) == NULL)
            return false;
        p[0] = m8;
        p[1] = (uint8_t)n;
        ps_commit(b, 2);
    } else if (n <= 0xFFFF) {
        if ((p = ps_room(b, 3)) == NULL)
            return false;
        p[0] = (uint8_t)(m8 + 1);
        ps_put16(p + 1, (uint16_t)n);
        ps_commit(b, 3);
    } else if (n <= 0xFFFFFFFFu) {
        if ((p = ps_room(b, 5)) == NULL)
            return false;
        p[0] = (uint8_t)(m8 + 2);
        ps_put32(p + 1, (uint32_t)n);
        ps_commit(b, 5);
    } else {
        b->failed = true; /* PackStream cannot say more than 2^32-1 */
        return false;
    }
    return true;
}

void ps_pack_string(P2nBuf *b, const char *s, size_t len)
{
    if (ps_pack_size(b, 0x80, 0xD0, len))
        p2n_buf_append(b, s, len);
}

void ps_pack_cstr(P2nBuf *b, const char *s)
{
    ps_pack_string(b, s, strlen(s));
}

void ps_pack_bytes(P2nBuf *b, const void *data, size_t len)
{
    if (ps_pack_size(b, 0, 0xCC, len))
        p2n_buf_append(b, data, len);
}

void ps_pack_list_header(P2nBuf *b, uint32_t n)
{
    ps_pack_size(b, 0x90, 0xD4, n);
}

void ps_pack_map_header(P2nBuf *b, uint32_t n)
{
    ps_pack_size(b, 0xA0, 0xD8, n);
}

void ps_pack_struct_header(P2nBuf *b, uint8_t tag, uint8_t nfields)
{
    if (nfields > 15) {
        b->failed = true;
        return;
    }
    uint8_t *p = ps_room(b, 2);
    if (p == NULL)
        return;
    p[0] = (uint8_t)(0xB0 | nfields);
    p[1] = tag;
    ps_commit(b, 2);
}

void ps_pack_value(P2nBuf *b, const PsValue *v)
{
    switch (v->type) {
    case PS_NULL:
        ps_pack_null(b);
        return;
    case PS_BOOL:
        ps_pack_bool(b, v->u.b);
        return;
    case PS_INT:
        ps_pack_int(b, v->u.i);
        return;
    case PS_FLOAT:
        ps_pack_float(b, v->u.f);
        return;
    case PS_BYTES:
        ps_pack_bytes(b, v->u.str.data, v->u.str.len);
        return;
    case PS_STRING:
        ps_pack_string(b, v->u.str.data, v->u.str.len);
        return;
    case PS_LIST:
        ps_pack_list_header(b, v->u.list.len);
        for (uint32_t i = 0; i < v->u.list.len && !b->failed; i++)
            ps_pack_value(b, &v->u.list.items[i]);
        return;
    case PS_MAP:
        ps_pack_map_header(b, v->u.map.len);
        for (uint32_t i = 0; i < v->u.map.len && !b->failed; i++) {
            ps_pack_string(b, v->u.map.entries[i].key, v->u.map.entries[i].key_len);
            ps_pack_value(b, &v->u.map.entries[i].value);
        }
        return;
    case PS_STRUCT:
        ps_pack_struct_header(b, v->u.st.tag, v->u.st.len);
        for (uint8_t i = 0; i < v->u.st.len && !b->failed; i++)
            ps_pack_value(b, &v->u.st.fields[i]);
        return;
    }
    b->failed = true; /* not a PsType */
}

/* ---- Bolt 5 structures ---- */

void ps_pack_date(P2nBuf *b, int64_t days_since_epoch)
{
    ps_pack_struct_header(b, PS_TAG_DATE, 1);
    ps_pack_int(b, days_since_epoch);
}

void ps_pack_time(P2nBuf *b, int64_t nanos_of_day, int64_t tz_offset_seconds)
{
    ps_pack_struct_header(b, PS_TAG_TIME, 2);
    ps_pack_int(b, nanos_of_day);
    ps_pack_int(b, tz_offset_seconds);
}

void ps_pack_local_time(P2nBuf *b, int64_t nanos_of_day)
{
    ps_pack_struct_header(b, PS_TAG_LOCAL_TIME, 1);
    ps_pack_int(b, nanos_of_day);
}

void ps_pack_datetime(P2nBuf *b, int64_t epoch_seconds_utc, int64_t nanos, int64_t tz_offset_seconds)
{
    ps_pack_struct_header(b, PS_TAG_DATETIME, 3);
    ps_pack_int(b, epoch_seconds_utc);
    ps_pack_int(b, nanos);
    ps_pack_int(b, tz_offset_seconds);
}

void ps_pack_datetime_zone_id(P2nBuf *b, int64_t epoch_seconds_utc, int64_t nanos, const char *zone_id)
{
    ps_pack_struct_header(b, PS_TAG_DATETIME_ZONE_ID, 3);
    ps_pack_int(b, epoch_seconds_utc);
    ps_pack_int(b, nanos);
    ps_pack_cstr(b, zone_id);
}

void ps_pack_local_datetime(P2nBuf *b, int64_t epoch_seconds, int64_t nanos)
{
    ps_pack_struct_header(b, PS_TAG_LOCAL_DATETIME, 2);
    ps_pack_int(b, epoch_seconds);
    ps_pack_int(b, nanos);
}

void ps_pack_duration(P2nBuf *b, int64_t months, int64_t days, int64_t seconds, int64_t nanos)
{
    ps_pack_struct_header(b, PS_TAG_DURATION, 4);
    ps_pack_int(b, months);
    ps_pack_int(b, days);
    ps_pack_int(b, seconds);
    ps_pack_int(b, nanos);
}

void ps_pack_point2d(P2nBuf *b, int64_t srid, double x, double y)
{
    ps_pack_struct_header(b, PS_TAG_POINT2D, 3);
    ps_pack_int(b, srid);
    ps_pack_float(b, x);
    ps_pack_float(b, y);
}

void ps_pack_point3d(P2nBuf *b, int64_t srid, double x, double y, double z)
{
    ps_pack_struct_header(b, PS_TAG_POINT3D, 4);
    ps_pack_int(b, srid);
    ps_pack_float(b, x);
    ps_pack_float(b, y);
    ps_pack_float(b, z);
}
