/*
 * JSON form of PackStream values, as `pg2neo cypher` prints them. The format is documented in
 * docs/cypher-json.md; in short: plain JSON where JSON has the type (integers always exact, as
 * plain numbers), tagged objects {"$bytes": …}, {"$date": …}, {"$node": …} for the rest. The
 * output is valid JSON whatever the input: invalid UTF-8 becomes U+FFFD, NaN and infinities
 * become {"$float": "NaN"}, and a structure that does not have the shape its tag promises is
 * printed as a generic {"$struct": …}.
 */
#include "packstream/packstream.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Legacy (Bolt 4.4 without the UTC patch) DateTime tags: wall-clock seconds, not UTC. */
#define PS_TAG_LEGACY_DATETIME 0x46
#define PS_TAG_LEGACY_DATETIME_ZONE_ID 0x66

/* Dates beyond Neo4j's range (years ±999,999,999) are printed as raw structures. */
#define JSON_MAX_DAYS INT64_C(365243219162)
#define JSON_MAX_SECONDS (JSON_MAX_DAYS * 86400)
#define JSON_MAX_OFFSET (18 * 3600)
#define NANOS_PER_SECOND INT64_C(1000000000)
#define NANOS_PER_DAY (86400 * NANOS_PER_SECOND)

static void json_string(P2nBuf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *p = (const uint8_t *)s;
    p2n_buf_append_byte(b, '"');
    size_t run = 0; /* start of a run of bytes copied verbatim */
    size_t i = 0;
    while (i < len) {
        uint8_t c = p[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            i++;
            continue;
        }
        if (c >= 0x80) { /* validate one UTF-8 sequence (RFC 3629: no overlongs, no surrogates) */
            size_t n = 0;
            if (c >= 0xC2 && c <= 0xDF)
                n = 2;
            else if (c >= 0xE0 && c <= 0xEF)
                n = 3;
            else if (c >= 0xF0 && c <= 0xF4)
                n = 4;
            bool ok = n != 0 && i + n <= len;
            for (size_t k = 1; ok && k < n; k++)
                ok = (p[i + k] & 0xC0) == 0x80;
            if (ok && n == 3)
                ok = !(c == 0xE0 && p[i + 1] < 0xA0) && !(c == 0xED && p[i + 1] >= 0xA0);
            if (ok && n == 4)
                ok = !(c == 0xF0 && p[i + 1] < 0x90) && !(c == 0xF4 && p[i + 1] >= 0x90);
            if (ok) {
                i += n;
                continue;
            }
            p2n_buf_append(b, p + run, i - run);
            p2n_buf_append(b, "\xEF\xBF\xBD", 3); /* U+FFFD */
            i++;
            run = i;
            continue;
        }
        p2n_buf_append(b, p + run, i - run);
        switch (c) {
        case '"':
            p2n_buf_append(b, "\\\"", 2);
            break;
        case '\\':
            p2n_buf_append(b, "\\\\", 2);
            break;
        case '\n':
            p2n_buf_append(b, "\\n", 2);
            break;
        case '\r':
            p2n_buf_append(b, "\\r", 2);
            break;
        case '\t':
            p2n_buf_append(b, "\\t", 2);
            break;
        default: {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            p2n_buf_append(b, e, 6);
        }
        }
        i++;
        run = i;
    }
    p2n_buf_append(b, p + run, i - run);
    p2n_buf_append_byte(b, '"');
}

static void json_int(P2nBuf *b, int64_t v)
{
    p2n_buf_printf(b, "%" PRId64, v);
}

/* Shortest decimal that reads back as the same double; always has a '.' or an exponent. */
static void json_float(P2nBuf *b, double v)
{
    if (isnan(v)) {
        p2n_buf_append_str(b, "{\"$float\":\"NaN\"}");
        return;
    }
    if (isinf(v)) {
        p2n_buf_append_str(b, v > 0 ? "{\"$float\":\"Infinity\"}" : "{\"$float\":\"-Infinity\"}");
        return;
    }
    char tmp[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
        if (prec == 17 || strtod(tmp, NULL) == v)
            break;
    }
    /* a locale with a decimal comma must not leak into JSON */
    for (char *c = tmp; *c != 0; c++)
        if (*c == ',')
            *c = '.';
    p2n_buf_append_str(b, tmp);
    if (strpbrk(tmp, ".e") == NULL)
        p2n_buf_append(b, ".0", 2);
}

static void json_base64(P2nBuf *b, const uint8_t *p, size_t len)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (!p2n_buf_reserve(b, (len + 2) / 3 * 4 + 2))
        return;
    p2n_buf_append_byte(b, '"');
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        char q[4] = {tbl[v >> 18], tbl[(v >> 12) & 63], tbl[(v >> 6) & 63], tbl[v & 63]};
        p2n_buf_append(b, q, 4);
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        char q[4] = {tbl[v >> 18], tbl[(v >> 12) & 63], '=', '='};
        p2n_buf_append(b, q, 4);
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        char q[4] = {tbl[v >> 18], tbl[(v >> 12) & 63], tbl[(v >> 6) & 63], '='};
        p2n_buf_append(b, q, 4);
    }
    p2n_buf_append_byte(b, '"');
}

static int64_t floor_div(int64_t a, int64_t d)
{
    int64_t q = a / d;
    return (a % d != 0 && (a < 0) != (d < 0)) ? q - 1 : q;
}

/* Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's civil_from_days). */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *y = yy + (*m <= 2);
}

static void fmt_date(P2nBuf *b, int64_t days)
{
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    if (y < 0)
        p2n_buf_printf(b, "-%04" PRId64, -y);
    else if (y > 9999)
        p2n_buf_printf(b, "+%" PRId64, y);
    else
        p2n_buf_printf(b, "%04" PRId64, y);
    p2n_buf_printf(b, "-%02u-%02u", m, d);
}

/* HH:MM:SS[.fraction], the fraction without trailing zeros. */
static void fmt_time(P2nBuf *b, int64_t secs_of_day, int64_t nanos)
{
    p2n_buf_printf(b, "%02d:%02d:%02d", (int)(secs_of_day / 3600), (int)(secs_of_day / 60 % 60),
                   (int)(secs_of_day % 60));
    if (nanos != 0) {
        char frac[16];
        snprintf(frac, sizeof(frac), "%09" PRId64, nanos);
        size_t n = 9;
        while (n > 1 && frac[n - 1] == '0')
            n--;
        p2n_buf_append_byte(b, '.');
        p2n_buf_append(b, frac, n);
    }
}

static void fmt_offset(P2nBuf *b, int64_t off)
{
    if (off == 0) {
        p2n_buf_append_byte(b, 'Z');
        return;
    }
    char sign = off < 0 ? '-' : '+';
    int64_t a = off < 0 ? -off : off;
    p2n_buf_printf(b, "%c%02d:%02d", sign, (int)(a / 3600), (int)(a / 60 % 60));
    if (a % 60 != 0)
        p2n_buf_printf(b, ":%02d", (int)(a % 60));
}

static void fmt_local_datetime(P2nBuf *b, int64_t secs, int64_t nanos)
{
    int64_t days = floor_div(secs, 86400);
    fmt_date(b, days);
    p2n_buf_append_byte(b, 'T');
    fmt_time(b, secs - days * 86400, nanos);
}

static bool is_int(const PsValue *v)
{
    return v->type == PS_INT;
}

static bool secs_ok(int64_t s)
{
    return s >= -JSON_MAX_SECONDS && s <= JSON_MAX_SECONDS;
}

static bool nanos_ok(int64_t n)
{
    return n >= 0 && n < NANOS_PER_SECOND;
}

static bool offset_ok(int64_t o)
{
    return o >= -JSON_MAX_OFFSET && o <= JSON_MAX_OFFSET;
}

/* Temporal structures; false when the fields do not have the expected shape or range. */
static bool json_temporal(P2nBuf *b, const PsValue *v)
{
    const PsValue *f = v->u.st.fields;
    uint8_t n = v->u.st.len;
    switch (v->u.st.tag) {
    case PS_TAG_DATE:
        if (n != 1 || !is_int(&f[0]) || f[0].u.i < -JSON_MAX_DAYS || f[0].u.i > JSON_MAX_DAYS)
            return false;
        p2n_buf_append_str(b, "{\"$date\":\"");
        fmt_date(b, f[0].u.i);
        break;
    case PS_TAG_TIME:
    case PS_TAG_LOCAL_TIME: {
        bool local = v->u.st.tag == PS_TAG_LOCAL_TIME;
        if (n != (local ? 1 : 2) || !is_int(&f[0]) || f[0].u.i < 0 || f[0].u.i >= NANOS_PER_DAY)
            return false;
        if (!local && (!is_int(&f[1]) || !offset_ok(f[1].u.i)))
            return false;
        p2n_buf_append_str(b, local ? "{\"$local_time\":\"" : "{\"$time\":\"");
        fmt_time(b, f[0].u.i / NANOS_PER_SECOND, f[0].u.i % NANOS_PER_SECOND);
        if (!local)
            fmt_offset(b, f[1].u.i);
        break;
    }
    case PS_TAG_DATETIME:
    case PS_TAG_LEGACY_DATETIME:
        if (n != 3 || !is_int(&f[0]) || !is_int(&f[1]) || !is_int(&f[2]) || !secs_ok(f[0].u.i) ||
            !nanos_ok(f[1].u.i) || !offset_ok(f[2].u.i))
            return false;
        p2n_buf_append_str(b, "{\"$datetime\":\"");
        /* 0x49 carries UTC seconds; the legacy 0x46 carries wall-clock seconds */
        fmt_local_datetime(b, f[0].u.i + (v->u.st.tag == PS_TAG_DATETIME ? f[2].u.i : 0), f[1].u.i);
        fmt_offset(b, f[2].u.i);
        break;
    case PS_TAG_DATETIME_ZONE_ID:
    case PS_TAG_LEGACY_DATETIME_ZONE_ID:
        if (n != 3 || !is_int(&f[0]) || !is_int(&f[1]) || f[2].type != PS_STRING || !secs_ok(f[0].u.i) ||
            !nanos_ok(f[1].u.i))
            return false;
        p2n_buf_append_str(b, "{\"$datetime\":\"");
        /* Without a time-zone database the offset is unknown: 0x69 is printed as the UTC instant
         * plus the zone ("…Z[Europe/Berlin]"); the legacy 0x66 as wall-clock time plus the zone. */
        fmt_local_datetime(b, f[0].u.i, f[1].u.i);
        if (v->u.st.tag == PS_TAG_DATETIME_ZONE_ID)
            p2n_buf_append_byte(b, 'Z');
        p2n_buf_append_byte(b, '[');
        {
            /* the zone goes inside the JSON string: escape it without the quotes */
            P2nBuf z;
            p2n_buf_init(&z);
            json_string(&z, f[2].u.str.data, f[2].u.str.len);
            if (z.failed)
                b->failed = true;
            else
                p2n_buf_append(b, z.data + 1, z.len - 2);
            p2n_buf_free(&z);
        }
        p2n_buf_append_byte(b, ']');
        break;
    case PS_TAG_LOCAL_DATETIME:
        if (n != 2 || !is_int(&f[0]) || !is_int(&f[1]) || !secs_ok(f[0].u.i) || !nanos_ok(f[1].u.i))
            return false;
        p2n_buf_append_str(b, "{\"$local_datetime\":\"");
        fmt_local_datetime(b, f[0].u.i, f[1].u.i);
        break;
    default:
        return false;
    }
    p2n_buf_append_str(b, "\"}");
    return true;
}

/* Node: id, labels, properties[, element_id]. */
static bool node_ok(const PsValue *v)
{
    if (v->type != PS_STRUCT || v->u.st.tag != PS_TAG_NODE || (v->u.st.len != 4 && v->u.st.len != 3))
        return false;
    const PsValue *f = v->u.st.fields;
    if (!is_int(&f[0]) || f[1].type != PS_LIST || f[2].type != PS_MAP)
        return false;
    for (uint32_t i = 0; i < f[1].u.list.len; i++)
        if (f[1].u.list.items[i].type != PS_STRING)
            return false;
    return v->u.st.len == 3 || f[3].type == PS_STRING;
}

static void json_node(P2nBuf *b, const PsValue *v)
{
    const PsValue *f = v->u.st.fields;
    p2n_buf_append_str(b, "{\"$node\":{\"id\":");
    json_int(b, f[0].u.i);
    if (v->u.st.len == 4) {
        p2n_buf_append_str(b, ",\"element_id\":");
        json_string(b, f[3].u.str.data, f[3].u.str.len);
    }
    p2n_buf_append_str(b, ",\"labels\":");
    ps_value_to_json(b, &f[1]);
    p2n_buf_append_str(b, ",\"properties\":");
    ps_value_to_json(b, &f[2]);
    p2n_buf_append_str(b, "}}");
}

/* UnboundRelationship: id, type, properties[, element_id]. */
static bool unbound_ok(const PsValue *v)
{
    if (v->type != PS_STRUCT || v->u.st.tag != PS_TAG_UNBOUND_REL || (v->u.st.len != 4 && v->u.st.len != 3))
        return false;
    const PsValue *f = v->u.st.fields;
    return is_int(&f[0]) && f[1].type == PS_STRING && f[2].type == PS_MAP &&
           (v->u.st.len == 3 || f[3].type == PS_STRING);
}

/* Relationship: id, start, end, type, properties[, element_id, start_element_id, end_element_id]. */
static bool rel_ok(const PsValue *v)
{
    if (v->type != PS_STRUCT || v->u.st.tag != PS_TAG_RELATIONSHIP || (v->u.st.len != 8 && v->u.st.len != 5))
        return false;
    const PsValue *f = v->u.st.fields;
    if (!is_int(&f[0]) || !is_int(&f[1]) || !is_int(&f[2]) || f[3].type != PS_STRING || f[4].type != PS_MAP)
        return false;
    return v->u.st.len == 5 || (f[5].type == PS_STRING && f[6].type == PS_STRING && f[7].type == PS_STRING);
}

/* Writes a relationship from its parts; element ids may be NULL (Bolt 4.4). */
static void json_rel_parts(P2nBuf *b, const PsValue *id, const PsValue *eid, const PsValue *type,
                           const PsValue *start, const PsValue *start_eid, const PsValue *end,
                           const PsValue *end_eid, const PsValue *props)
{
    p2n_buf_append_str(b, "{\"$relationship\":{\"id\":");
    json_int(b, id->u.i);
    if (eid != NULL) {
        p2n_buf_append_str(b, ",\"element_id\":");
        ps_value_to_json(b, eid);
    }
    p2n_buf_append_str(b, ",\"type\":");
    ps_value_to_json(b, type);
    p2n_buf_append_str(b, ",\"start_id\":");
    json_int(b, start->u.i);
    if (start_eid != NULL) {
        p2n_buf_append_str(b, ",\"start_element_id\":");
        ps_value_to_json(b, start_eid);
    }
    p2n_buf_append_str(b, ",\"end_id\":");
    json_int(b, end->u.i);
    if (end_eid != NULL) {
        p2n_buf_append_str(b, ",\"end_element_id\":");
        ps_value_to_json(b, end_eid);
    }
    p2n_buf_append_str(b, ",\"properties\":");
    ps_value_to_json(b, props);
    p2n_buf_append_str(b, "}}");
}

static void json_rel(P2nBuf *b, const PsValue *v)
{
    const PsValue *f = v->u.st.fields;
    bool e = v->u.st.len == 8;
    json_rel_parts(b, &f[0], e ? &f[5] : NULL, &f[3], &f[1], e ? &f[6] : NULL, &f[2], e ? &f[7] : NULL,
                   &f[4]);
}

/*
 * Path: nodes, unbound relationships, indices. Printed resolved, in path order:
 * {"$path":{"nodes":[n0..nk],"relationships":[r1..rk]}} with each relationship's start and end.
 */
static bool path_ok(const PsValue *v)
{
    if (v->u.st.len != 3)
        return false;
    const PsValue *f = v->u.st.fields;
    if (f[0].type != PS_LIST || f[1].type != PS_LIST || f[2].type != PS_LIST)
        return false;
    const PsValue *nodes = &f[0], *rels = &f[1], *idx = &f[2];
    if (nodes->u.list.len == 0 || idx->u.list.len % 2 != 0)
        return false;
    for (uint32_t i = 0; i < nodes->u.list.len; i++)
        if (!node_ok(&nodes->u.list.items[i]))
            return false;
    for (uint32_t i = 0; i < rels->u.list.len; i++)
        if (!unbound_ok(&rels->u.list.items[i]))
            return false;
    for (uint32_t i = 0; i < idx->u.list.len; i++) {
        const PsValue *x = &idx->u.list.items[i];
        if (!is_int(x))
            return false;
        if (i % 2 == 0) {
            if (x->u.i == 0 || x->u.i > (int64_t)rels->u.list.len || x->u.i < -(int64_t)rels->u.list.len)
                return false;
        } else if (x->u.i < 0 || x->u.i >= (int64_t)nodes->u.list.len) {
            return false;
        }
    }
    return true;
}

static const PsValue *node_eid(const PsValue *n)
{
    return n->u.st.len == 4 ? &n->u.st.fields[3] : NULL;
}

static void json_path(P2nBuf *b, const PsValue *v)
{
    const PsValue *f = v->u.st.fields;
    const PsValue *nodes = f[0].u.list.items, *rels = f[1].u.list.items, *idx = f[2].u.list.items;
    uint32_t steps = f[2].u.list.len / 2;
    p2n_buf_append_str(b, "{\"$path\":{\"nodes\":[");
    json_node(b, &nodes[0]);
    for (uint32_t i = 0; i < steps; i++) {
        p2n_buf_append_byte(b, ',');
        json_node(b, &nodes[idx[2 * i + 1].u.i]);
    }
    p2n_buf_append_str(b, "],\"relationships\":[");
    const PsValue *prev = &nodes[0];
    for (uint32_t i = 0; i < steps; i++) {
        int64_t ri = idx[2 * i].u.i;
        const PsValue *next = &nodes[idx[2 * i + 1].u.i];
        const PsValue *r = &rels[(ri > 0 ? ri : -ri) - 1];
        const PsValue *s = ri > 0 ? prev : next, *e = ri > 0 ? next : prev;
        const PsValue *rf = r->u.st.fields;
        if (i > 0)
            p2n_buf_append_byte(b, ',');
        json_rel_parts(b, &rf[0], r->u.st.len == 4 ? &rf[3] : NULL, &rf[1], &s->u.st.fields[0], node_eid(s),
                       &e->u.st.fields[0], node_eid(e), &rf[2]);
        prev = next;
    }
    p2n_buf_append_str(b, "]}}");
}

static bool json_struct_known(P2nBuf *b, const PsValue *v)
{
    const PsValue *f = v->u.st.fields;
    uint8_t n = v->u.st.len;
    switch (v->u.st.tag) {
    case PS_TAG_NODE:
        if (!node_ok(v))
            return false;
        json_node(b, v);
        return true;
    case PS_TAG_RELATIONSHIP:
        if (!rel_ok(v))
            return false;
        json_rel(b, v);
        return true;
    case PS_TAG_UNBOUND_REL:
        if (!unbound_ok(v))
            return false;
        p2n_buf_append_str(b, "{\"$unbound_relationship\":{\"id\":");
        json_int(b, f[0].u.i);
        if (n == 4) {
            p2n_buf_append_str(b, ",\"element_id\":");
            ps_value_to_json(b, &f[3]);
        }
        p2n_buf_append_str(b, ",\"type\":");
        ps_value_to_json(b, &f[1]);
        p2n_buf_append_str(b, ",\"properties\":");
        ps_value_to_json(b, &f[2]);
        p2n_buf_append_str(b, "}}");
        return true;
    case PS_TAG_PATH:
        if (!path_ok(v))
            return false;
        json_path(b, v);
        return true;
    case PS_TAG_DURATION:
        if (n != 4 || !is_int(&f[0]) || !is_int(&f[1]) || !is_int(&f[2]) || !is_int(&f[3]))
            return false;
        p2n_buf_printf(b,
                       "{\"$duration\":{\"months\":%" PRId64 ",\"days\":%" PRId64 ",\"seconds\":%" PRId64
                       ",\"nanoseconds\":%" PRId64 "}}",
                       f[0].u.i, f[1].u.i, f[2].u.i, f[3].u.i);
        return true;
    case PS_TAG_POINT2D:
    case PS_TAG_POINT3D: {
        uint8_t want = v->u.st.tag == PS_TAG_POINT2D ? 3 : 4;
        if (n != want || !is_int(&f[0]))
            return false;
        for (uint8_t i = 1; i < n; i++)
            if (f[i].type != PS_FLOAT)
                return false;
        p2n_buf_append_str(b, "{\"$point\":{\"srid\":");
        json_int(b, f[0].u.i);
        static const char *const axes[] = {"", ",\"x\":", ",\"y\":", ",\"z\":"};
        for (uint8_t i = 1; i < n; i++) {
            p2n_buf_append_str(b, axes[i]);
            json_float(b, f[i].u.f);
        }
        p2n_buf_append_str(b, "}}");
        return true;
    }
    default:
        return json_temporal(b, v);
    }
}

void ps_value_to_json(P2nBuf *b, const PsValue *v)
{
    switch (v->type) {
    case PS_NULL:
        p2n_buf_append(b, "null", 4);
        return;
    case PS_BOOL:
        p2n_buf_append_str(b, v->u.b ? "true" : "false");
        return;
    case PS_INT:
        json_int(b, v->u.i);
        return;
    case PS_FLOAT:
        json_float(b, v->u.f);
        return;
    case PS_STRING:
        json_string(b, v->u.str.data, v->u.str.len);
        return;
    case PS_BYTES:
        p2n_buf_append_str(b, "{\"$bytes\":");
        json_base64(b, (const uint8_t *)v->u.str.data, v->u.str.len);
        p2n_buf_append_byte(b, '}');
        return;
    case PS_LIST:
        p2n_buf_append_byte(b, '[');
        for (uint32_t i = 0; i < v->u.list.len && !b->failed; i++) {
            if (i > 0)
                p2n_buf_append_byte(b, ',');
            ps_value_to_json(b, &v->u.list.items[i]);
        }
        p2n_buf_append_byte(b, ']');
        return;
    case PS_MAP:
        p2n_buf_append_byte(b, '{');
        for (uint32_t i = 0; i < v->u.map.len && !b->failed; i++) {
            if (i > 0)
                p2n_buf_append_byte(b, ',');
            json_string(b, v->u.map.entries[i].key, v->u.map.entries[i].key_len);
            p2n_buf_append_byte(b, ':');
            ps_value_to_json(b, &v->u.map.entries[i].value);
        }
        p2n_buf_append_byte(b, '}');
        return;
    case PS_STRUCT:
        if (json_struct_known(b, v))
            return;
        p2n_buf_printf(b, "{\"$struct\":{\"tag\":%u,\"fields\":[", (unsigned)v->u.st.tag);
        for (uint8_t i = 0; i < v->u.st.len && !b->failed; i++) {
            if (i > 0)
                p2n_buf_append_byte(b, ',');
            ps_value_to_json(b, &v->u.st.fields[i]);
        }
        p2n_buf_append_str(b, "]}}");
        return;
    }
    p2n_buf_append(b, "null", 4);
}
