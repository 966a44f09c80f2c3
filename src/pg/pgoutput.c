/* A bounds-checked decoder of pgoutput (logical replication protocol version 1) messages. */
#include "pg/pgoutput.h"

#include <string.h>

/* microseconds between 1970-01-01 and PostgreSQL's epoch, 2000-01-01 */
#define PGO_EPOCH_OFFSET_US INT64_C(946684800000000)

typedef struct Rd {
    const uint8_t *p;
    size_t n;
    bool bad;
} Rd;

static uint8_t rd_u8(Rd *r)
{
    if (r->bad || r->n < 1) {
        r->bad = true;
        return 0;
    }
    uint8_t v = r->p[0];
    r->p++;
    r->n--;
    return v;
}

static uint64_t rd_be(Rd *r, size_t width)
{
    if (r->bad || r->n < width) {
        r->bad = true;
        return 0;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < width; i++)
        v = (v << 8) | r->p[i];
    r->p += width;
    r->n -= width;
    return v;
}

static uint16_t rd_u16(Rd *r) { return (uint16_t)rd_be(r, 2); }
static uint32_t rd_u32(Rd *r) { return (uint32_t)rd_be(r, 4); }
static uint64_t rd_u64(Rd *r) { return rd_be(r, 8); }

/* A NUL-terminated string inside the message. */
static const char *rd_str(Rd *r)
{
    if (r->bad)
        return "";
    const uint8_t *z = memchr(r->p, '\0', r->n);
    if (z == NULL) {
        r->bad = true;
        return "";
    }
    const char *s = (const char *)r->p;
    size_t len = (size_t)(z - r->p) + 1;
    r->p += len;
    r->n -= len;
    return s;
}

static int64_t pg_time_to_unix_us(uint64_t t)
{
    int64_t v = (int64_t)t;
    /* out-of-range times (never sent by a real server) are clamped rather than overflowing */
    if (v > INT64_MAX - PGO_EPOCH_OFFSET_US)
        return INT64_MAX;
    return v + PGO_EPOCH_OFFSET_US;
}

static int rd_tuple(Rd *r, PgoValue *slots, PgoTuple *t, P2nErr *err)
{
    uint16_t n = rd_u16(r);
    if (r->bad)
        return p2n_err_set(err, P2N_EPROTO, "pgoutput: truncated tuple header");
    if (n > PGO_MAX_COLS)
        return p2n_err_set(err, P2N_EPROTO, "pgoutput: tuple with %u columns (at most %d)", (unsigned)n,
                           PGO_MAX_COLS);
    for (uint16_t i = 0; i < n; i++) {
        uint8_t kind = rd_u8(r);
        slots[i].kind = (char)kind;
        slots[i].data = NULL;
        slots[i].len = 0;
        switch (kind) {
        case 'n':
        case 'u':
            break;
        case 't':
        case 'b': {
            uint32_t len = rd_u32(r);
            if (r->bad || len > r->n)
                return p2n_err_set(err, P2N_EPROTO, "pgoutput: column %u value runs past the message",
                                   (unsigned)i + 1);
            slots[i].data = r->p;
            slots[i].len = len;
            r->p += len;
            r->n -= len;
            break;
        }
        default:
            if (r->bad)
                return p2n_err_set(err, P2N_EPROTO, "pgoutput: truncated tuple");
            return p2n_err_set(err, P2N_EPROTO, "pgoutput: unknown column kind 0x%02x", kind);
        }
    }
    if (r->bad)
        return p2n_err_set(err, P2N_EPROTO, "pgoutput: truncated tuple");
    t->n = n;
    t->v = slots;
    return 0;
}

static int decode_relation(PgoDecoder *d, Rd *r, PgoMsg *m, P2nErr *err)
{
    m->relid = rd_u32(r);
    m->nspname = rd_str(r);
    m->relname = rd_str(r);
    m->replident = (char)rd_u8(r);
    uint16_t n = rd_u16(r);
    if (r->bad)
        return p2n_err_set(err, P2N_EPROTO, "pgoutput: truncated relation message");
    if (n > PGO_MAX_COLS)
        return p2n_err_set(err, P2N_EPROTO, "pgoutput: relation with %u columns (at most %d)", (unsigned)n,
                           PGO_MAX_COLS);
    for (uint16_t i = 0; i < n; i++) {
        uint8_t flags = rd_u8(r);
        d->cols[i].key = (flags & 1) != 0;
        d->cols[i].name = rd_str(r);
        d->cols[i].type_oid = rd_u32(r);
        (void)rd_u32(r); /* atttypmod */
    }
    if (r->bad)
        return p2n_err_set(err, P2N_EPROTO, "pgoutput: truncated relation columns");
    m->ncols = n;
    m->cols = d->cols;
    return 0;
}

int pgo_decode(PgoDecoder *d, const uint8_t *data, size_t len, PgoMsg *m, P2nErr *err)
{
    memset(m, 0, sizeof(*m));
    Rd r = {data, len, false};
    uint8_t type = rd_u8(&r);
    if (r.bad)
        return p2n_err_set(err, P2N_EPROTO, "pgoutput: empty message");
    int rc = 0;
    switch (type) {
    case 'B':
        m->kind = PGO_BEGIN;
        m->lsn = rd_u64(&r);
        m->time_us = pg_time_to_unix_us(rd_u64(&r));
        (void)rd_u32(&r); /* xid */
        break;
    case 'C':
        m->kind = PGO_COMMIT;
        (void)rd_u8(&r);  /* flags */
        (void)rd_u64(&r); /* commit LSN */
        m->lsn = rd_u64(&r);
        m->time_us = pg_time_to_unix_us(rd_u64(&r));
        break;
    case 'R':
        m->kind = PGO_RELATION;
        rc = decode_relation(d, &r, m, err);
        break;
    case 'I':
        m->kind = PGO_INSERT;
        m->relid = rd_u32(&r);
        if (rd_u8(&r) != 'N' && !r.bad)
            return p2n_err_set(err, P2N_EPROTO, "pgoutput: insert without a new tuple");
        rc = rd_tuple(&r, d->newv, &m->new_tuple, err);
        break;
    case 'U': {
        m->kind = PGO_UPDATE;
        m->relid = rd_u32(&r);
        uint8_t t = rd_u8(&r);
        if (t == 'K' || t == 'O') {
            m->old_kind = (char)t;
            if ((rc = rd_tuple(&r, d->oldv, &m->old_tuple, err)) < 0)
                break;
            t = rd_u8(&r);
        }
        if (t != 'N' && !r.bad)
            return p2n_err_set(err, P2N_EPROTO, "pgoutput: update without a new tuple");
        rc = rd_tuple(&r, d->newv, &m->new_tuple, err);
        break;
    }
    case 'D': {
        m->kind = PGO_DELETE;
        m->relid = rd_u32(&r);
        uint8_t t = rd_u8(&r);
        if ((t != 'K' && t != 'O') && !r.bad)
            return p2n_err_set(err, P2N_EPROTO, "pgoutput: delete without a key or old tuple");
        m->old_kind = (char)t;
        rc = rd_tuple(&r, d->oldv, &m->old_tuple, err);
        break;
    }
    case 'T':
        m->kind = PGO_TRUNCATE;
        m->nrelids = rd_u32(&r);
        (void)rd_u8(&r); /* options: cascade, restart identity */
        if (!r.bad && (m->nrelids > r.n / 4 || r.n != (size_t)m->nrelids * 4))
            return p2n_err_set(err, P2N_EPROTO, "pgoutput: truncate of %u relations does not match its length",
                               (unsigned)m->nrelids);
        m->relids = r.p;
        r.p += r.n;
        r.n = 0;
        break;
    case 'O': /* origin */
    case 'Y': /* type */
    case 'M': /* logical decoding message */
        m->kind = PGO_OTHER;
        return 0;
    default:
        return p2n_err_set(err, P2N_EPROTO, "pgoutput: unknown message type 0x%02x", type);
    }
    if (rc < 0)
        return rc;
    if (r.bad)
        return p2n_err_set(err, P2N_EPROTO, "pgoutput: truncated '%c' message", type);
    if (r.n != 0)
        return p2n_err_set(err, P2N_EPROTO, "pgoutput: %zu trailing bytes after a '%c' message", r.n, type);
    return 0;
}

uint32_t pgo_truncate_relid(const PgoMsg *m, uint32_t i)
{
    const uint8_t *p = m->relids + (size_t)i * 4;
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
