/*
 * The row encoder: one text-format row of an entity's read_sql into one PackStream map of the
 * $rows parameter, converting each column as the mapping declares (see mapping.h). Values are
 * parsed strictly: a value that does not match its declared type is an error naming the entity,
 * the id and the column, never a silently wrong property.
 */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/keyid.h"
#include "mapping/mapping.h"
#include "mapping/mapping_int.h"
#include "packstream/packstream.h"

#define MAP_FLATTEN_MAX_DEPTH 32

typedef struct Enc {
    const MappingEntity *e;
    const char *id;
    P2nErr *err;
} Enc;

static int bad(Enc *x, const MappingColumn *c, const char *what, const char *val)
{
    return p2n_err_set(x->err, P2N_EINVAL, "%s \"%s\" id %s: column \"%s\": %s \"%.60s\"",
                       x->e->kind == MAPPING_NODE ? "entity" : "relationship", x->e->name, x->id ? x->id : "?",
                       c->column, what, val);
}

static bool parse_i64(const char *s, int64_t *out)
{
    if (s[0] == '\0' || isspace((unsigned char)s[0]))
        return false;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = v;
    return true;
}

/* "1700000000.123456" or "-12.5" (extract(epoch ...)) into seconds and nanoseconds (floored). */
static bool parse_epoch(const char *s, int64_t *sec, int64_t *nanos)
{
    const char *p = s;
    bool neg = false;
    if (*p == '-') {
        neg = true;
        p++;
    }
    if (!isdigit((unsigned char)*p))
        return false;
    int64_t ip = 0;
    while (isdigit((unsigned char)*p)) {
        if (ip > (INT64_MAX - 9) / 10)
            return false;
        ip = ip * 10 + (*p++ - '0');
    }
    int64_t frac = 0;
    int digits = 0;
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p)) {
            if (digits < 9) {
                frac = frac * 10 + (*p - '0');
                digits++;
            }
            p++;
        }
    }
    if (*p != '\0')
        return false;
    while (digits < 9) {
        frac *= 10;
        digits++;
    }
    if (!neg) {
        *sec = ip;
        *nanos = frac;
    } else if (frac == 0) {
        *sec = -ip;
        *nanos = 0;
    } else {
        *sec = -ip - 1;
        *nanos = 1000000000 - frac;
    }
    return true;
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* A decimal text (a float or numeric array element, a scalar of a float column) as a double:
   1 when it is one, 0 when it is a number beyond the double range, -1 when it is not a number.
   NaN and the infinities are numbers. */
static int text_real(const char *s, double *out)
{
    if (s[0] == '\0' || isspace((unsigned char)s[0]))
        return -1;
    char *end = NULL;
    errno = 0;
    double d = strtod(s, &end);
    if (*end != '\0')
        return -1;
    if (isinf(d) && errno == ERANGE)
        return 0;
    *out = d;
    return 1;
}

/* 'infinity' or '-infinity', the text of an infinite date or timestamp (read_sql gives the
   text when the value is not finite). */
static bool is_infinite_text(const char *v)
{
    return strcmp(v, "infinity") == 0 || strcmp(v, "-infinity") == 0;
}

/* A scalar (non-array, non-map) value. */
static int pack_scalar(Enc *x, const MappingColumn *c, MappingConv conv, const char *v, P2nBuf *b)
{
    int64_t i, s, ns;
    switch (conv) {
    case MAPPING_CONV_INT:
        if (!parse_i64(v, &i))
            return bad(x, c, "not an integer:", v);
        ps_pack_int(b, i);
        return 0;
    case MAPPING_CONV_FLOAT: {
        double d;
        int r = text_real(v, &d);
        if (r < 0)
            return bad(x, c, "not a number:", v);
        if (r == 0)
            ps_pack_string(b, v, strlen(v)); /* a numeric beyond the double range: its exact text */
        else
            ps_pack_float(b, d);
        return 0;
    }
    case MAPPING_CONV_BOOL:
        if (strcmp(v, "t") == 0 || strcmp(v, "true") == 0)
            ps_pack_bool(b, true);
        else if (strcmp(v, "f") == 0 || strcmp(v, "false") == 0)
            ps_pack_bool(b, false);
        else
            return bad(x, c, "not a boolean:", v);
        return 0;
    case MAPPING_CONV_DATETIME:
    case MAPPING_CONV_LOCALDATETIME:
        if (is_infinite_text(v)) {
            ps_pack_string(b, v, strlen(v));
            return 0;
        }
        if (!parse_epoch(v, &s, &ns))
            return bad(x, c, "not an epoch timestamp:", v);
        if (conv == MAPPING_CONV_DATETIME)
            ps_pack_datetime(b, s, ns, 0);
        else
            ps_pack_local_datetime(b, s, ns);
        return 0;
    case MAPPING_CONV_DATE:
        if (is_infinite_text(v)) {
            ps_pack_string(b, v, strlen(v));
            return 0;
        }
        if (!parse_i64(v, &i))
            return bad(x, c, "not a day number:", v);
        ps_pack_date(b, i);
        return 0;
    case MAPPING_CONV_BYTES: {
        size_t len = strlen(v);
        if (len % 2 != 0)
            return bad(x, c, "not hex bytes:", v);
        uint8_t *buf = malloc(len / 2 + 1);
        if (buf == NULL)
            return p2n_err_set(x->err, P2N_ENOMEM, "out of memory");
        for (size_t k = 0; k < len / 2; k++) {
            int hi = hexval((unsigned char)v[2 * k]), lo = hexval((unsigned char)v[2 * k + 1]);
            if (hi < 0 || lo < 0) {
                free(buf);
                return bad(x, c, "not hex bytes:", v);
            }
            buf[k] = (uint8_t)(hi * 16 + lo);
        }
        ps_pack_bytes(b, buf, len / 2);
        free(buf);
        return 0;
    }
    default:
        ps_pack_string(b, v, strlen(v));
        return 0;
    }
}

/* ---- JSON: arrays (read as to_jsonb(...)::text) and `map` documents ----
 * Read with the scanner of json.c, so that every value PostgreSQL holds converts: see
 * docs/mapping.md "Type conversions" for the forms. */

/* An integer token (no fraction, no exponent) that fits int64. */
static bool jnum_int(const char *tok, int64_t *out)
{
    errno = 0;
    long long v = strtoll(tok, NULL, 10); /* stops at the token's end: JSON never continues it */
    if (errno != 0)
        return false;
    *out = v;
    return true;
}

/* A number token as the nearest double; false when beyond the double range. A value below the
   range rounds to a subnormal or to zero, as every decimal rounds to its nearest double. */
static bool jnum_real(const char *tok, double *out)
{
    double d = strtod(tok, NULL);
    if (isinf(d))
        return false;
    *out = d;
    return true;
}

/* Packs a decoded copy of the string at p; returns its end. */
static const char *pack_json_string(const char *p, const char *end, P2nBuf *b)
{
    P2nBuf s;
    p2n_buf_init(&s);
    const char *q = mj_string(p, end, &s);
    if (q) {
        ps_pack_string(b, (const char *)s.data, s.len);
        if (s.failed)
            b->failed = true;
    }
    p2n_buf_free(&s);
    return q;
}

/* Packs the compact JSON text of the value at p; returns its end. */
static const char *pack_json_text(const char *p, const char *end, P2nBuf *b)
{
    P2nBuf t;
    p2n_buf_init(&t);
    const char *q = mj_skip(p, end, &t);
    if (q) {
        ps_pack_string(b, (const char *)t.data, t.len);
        if (t.failed)
            b->failed = true;
    }
    p2n_buf_free(&t);
    return q;
}

/* A number token: an integer within int64 as Integer, any other number as the nearest Float;
   either beyond its range as String (the token: an exact decimal). Returns its end. */
static const char *pack_json_number(const char *p, const char *end, P2nBuf *b)
{
    bool is_int;
    const char *q = mj_number(p, end, &is_int);
    if (q == NULL)
        return NULL;
    int64_t i;
    double d;
    if (is_int && jnum_int(p, &i))
        ps_pack_int(b, i);
    else if (!is_int && jnum_real(p, &d))
        ps_pack_float(b, d);
    else
        ps_pack_string(b, p, (size_t)(q - p));
    return q;
}

/* Packs one element of an array column as conv (or its rows: see pack_json_list). Returns the
   element's end, NULL with x->err set when it does not convert. */
static const char *pack_json_elem(Enc *x, const MappingColumn *c, MappingConv conv, const char *e, const char *end,
                                  P2nBuf *b)
{
    MjKind k = mj_kind(e, end);
    const char *q = NULL;
    bool is_int = false, truth = false;
    switch (conv) {
    case MAPPING_CONV_INT: {
        int64_t i;
        if (k == MJ_NUMBER && (q = mj_number(e, end, &is_int)) != NULL && is_int && jnum_int(e, &i)) {
            ps_pack_int(b, i);
            return q;
        }
        bad(x, c, "array element is not an integer in", "");
        return NULL;
    }
    case MAPPING_CONV_FLOAT: {
        double d;
        if (k == MJ_NUMBER && (q = mj_number(e, end, &is_int)) != NULL) {
            ps_pack_float(b, strtod(e, NULL)); /* a range was checked by pack_json_list */
            return q;
        }
        if (k == MJ_STRING) { /* the element's text: float8/numeric out, NaN and infinities too */
            P2nBuf s;
            p2n_buf_init(&s);
            q = mj_string(e, end, &s);
            p2n_buf_append_byte(&s, 0);
            int r = q && !s.failed ? text_real((const char *)s.data, &d) : -1;
            p2n_buf_free(&s);
            if (r == 1) {
                ps_pack_float(b, d);
                return q;
            }
        }
        bad(x, c, "array element is not a number in", "");
        return NULL;
    }
    case MAPPING_CONV_BOOL:
        if (k == MJ_BOOL && (q = mj_literal(e, end, &truth)) != NULL) {
            ps_pack_bool(b, truth);
            return q;
        }
        bad(x, c, "array element is not a boolean in", "");
        return NULL;
    case MAPPING_CONV_DATE:
    case MAPPING_CONV_DATETIME:
    case MAPPING_CONV_LOCALDATETIME: {
        /* an array referencing temporal keys: each element's text as a scalar (read_sql) */
        P2nBuf s;
        p2n_buf_init(&s);
        q = k == MJ_STRING ? mj_string(e, end, &s) : NULL;
        p2n_buf_append_byte(&s, 0);
        int rc = q && !s.failed ? pack_scalar(x, c, conv, (const char *)s.data, b) : bad(x, c, "array element is not a date or time in", "");
        p2n_buf_free(&s);
        return rc == 0 ? q : NULL;
    }
    default:
        if (k == MJ_STRING && (q = pack_json_string(e, end, b)) != NULL)
            return q;
        if (k == MJ_NUMBER && (q = mj_number(e, end, &is_int)) != NULL) {
            ps_pack_string(b, e, (size_t)(q - e)); /* the number's text */
            return q;
        }
        bad(x, c, "array element is not a string in", "");
        return NULL;
    }
}

/* Would this element of a float list be beyond the double range (a numeric)? */
static bool float_elem_wide(const char *e, const char *end)
{
    double d;
    bool is_int;
    if (mj_kind(e, end) == MJ_NUMBER)
        return mj_number(e, end, &is_int) != NULL && !jnum_real(e, &d);
    if (mj_kind(e, end) != MJ_STRING)
        return false;
    P2nBuf s;
    p2n_buf_init(&s);
    bool wide = mj_string(e, end, &s) != NULL && (p2n_buf_append_byte(&s, 0), !s.failed) &&
                text_real((const char *)s.data, &d) == 0;
    p2n_buf_free(&s);
    return wide;
}

/* An array column (its to_jsonb text) into a list, nulls dropped (Neo4j lists hold no nulls).
   A multi-dimensional array becomes the list of its rows' JSON text; a float list with a
   number beyond the double range (numeric) the list of its elements' text. */
static int pack_json_list(Enc *x, const MappingColumn *c, MappingConv conv, const char *v, P2nBuf *b)
{
    const char *end = v + strlen(v), *e;
    MjIter it;
    if (!mj_iter_open(&it, mj_ws(v, end), end) || it.close != ']')
        return bad(x, c, "not a JSON array:", v);
    uint32_t cnt = 0;
    bool rows = false, wide = false;
    int r;
    while ((r = mj_iter_next(&it, NULL, &e)) == 1) {
        MjKind k = mj_kind(e, end);
        cnt += k != MJ_NULL;
        rows = rows || k == MJ_ARRAY;
        wide = wide || (conv == MAPPING_CONV_FLOAT && float_elem_wide(e, end));
        if ((it.p = mj_skip(e, end, NULL)) == NULL)
            break;
    }
    if (r != 0 || mj_ws(it.p, end) != end)
        return bad(x, c, "not a JSON array:", v);
    ps_pack_list_header(b, cnt);
    mj_iter_open(&it, mj_ws(v, end), end);
    while (mj_iter_next(&it, NULL, &e) == 1) {
        if (mj_kind(e, end) == MJ_NULL)
            it.p = e + 4;
        else if (rows)
            it.p = pack_json_text(e, end, b);
        else if ((it.p = pack_json_elem(x, c, wide ? MAPPING_CONV_STRING : conv, e, end, b)) == NULL)
            return x->err->code;
    }
    return 0;
}

/* ---- `map`: a JSON document flattened into properties ---- */

/* The property names given so far in one row's map: flattened names that collide get a
   suffix (see flat_name). Open addressing; names may hold NUL bytes (a \u0000 in a key). */
typedef struct NameSet {
    struct NameSlot {
        char *s; /* malloc(), NULL when free */
        size_t len;
    } *slot;
    size_t cap, n;
    bool failed;
} NameSet;

static uint64_t name_hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ULL;
    return h;
}

static struct NameSlot *nameset_find(NameSet *ns, const char *s, size_t len)
{
    size_t i = (size_t)name_hash(s, len) & (ns->cap - 1);
    while (ns->slot[i].s && !(ns->slot[i].len == len && memcmp(ns->slot[i].s, s, len) == 0))
        i = (i + 1) & (ns->cap - 1);
    return &ns->slot[i];
}

/* Adds a name; false when it was already there (or memory ran out: ns->failed). */
static bool nameset_add(NameSet *ns, const char *s, size_t len)
{
    if (ns->failed)
        return true;
    if (2 * (ns->n + 1) > ns->cap) {
        size_t ncap = ns->cap ? ns->cap * 2 : 32;
        struct NameSlot *old = ns->slot, *nw = calloc(ncap, sizeof(*nw));
        if (nw == NULL) {
            ns->failed = true;
            return true;
        }
        size_t ocap = ns->cap;
        ns->slot = nw;
        ns->cap = ncap;
        for (size_t i = 0; i < ocap; i++)
            if (old[i].s)
                *nameset_find(ns, old[i].s, old[i].len) = old[i];
        free(old);
    }
    struct NameSlot *sl = nameset_find(ns, s, len);
    if (sl->s)
        return false;
    if ((sl->s = malloc(len + 1)) == NULL) {
        ns->failed = true;
        return true;
    }
    memcpy(sl->s, s, len);
    sl->len = len;
    ns->n++;
    return true;
}

static void nameset_free(NameSet *ns)
{
    for (size_t i = 0; i < ns->cap; i++)
        free(ns->slot[i].s);
    free(ns->slot);
}

/* Packs a property name, unique within the row: a name already given (two JSON paths that
   flatten to one name, `{"a.b": 1, "a": {"b": 2}}`) gets the first free suffix ~2, ~3, ...
   Names are given in column order, then in document order (jsonb's: shorter keys first). */
static void flat_name(NameSet *ns, const char *s, size_t len, P2nBuf *b)
{
    if (nameset_add(ns, s, len)) {
        ps_pack_string(b, s, len);
        return;
    }
    P2nBuf t;
    p2n_buf_init(&t);
    for (unsigned n = 2;; n++) {
        p2n_buf_reset(&t);
        p2n_buf_append(&t, s, len);
        p2n_buf_printf(&t, "~%u", n);
        if (t.failed || nameset_add(ns, (const char *)t.data, t.len))
            break;
    }
    ps_pack_string(b, (const char *)t.data, t.len);
    if (t.failed)
        b->failed = true;
    p2n_buf_free(&t);
}

/* A non-null, non-object JSON value (or an object nested too deep) as one property value:
   strings, booleans, numbers as pack_json_number; an array of strings, of booleans, of
   integers (within int64) or of numbers (floats: only when every integer in it is exact as a
   double) as a list; any other array, and an object, as its compact JSON text. */
static const char *pack_json_value(const char *p, const char *end, P2nBuf *b)
{
    bool truth;
    const char *q;
    switch (mj_kind(p, end)) {
    case MJ_STRING:
        return pack_json_string(p, end, b);
    case MJ_NUMBER:
        return pack_json_number(p, end, b);
    case MJ_BOOL:
        if ((q = mj_literal(p, end, &truth)) != NULL)
            ps_pack_bool(b, truth);
        return q;
    case MJ_ARRAY:
        break;
    default:
        return pack_json_text(p, end, b);
    }
    enum { EL_STR = 1, EL_BOOL = 2, EL_INT = 4, EL_REAL = 8, EL_WIDE = 16, EL_OTHER = 32 };
    unsigned mask = 0;
    uint32_t n = 0;
    MjIter it;
    const char *e;
    int r;
    mj_iter_open(&it, p, end);
    while ((r = mj_iter_next(&it, NULL, &e)) == 1) {
        bool is_int;
        int64_t i;
        double d;
        switch (mj_kind(e, end)) {
        case MJ_STRING:
            q = mj_string(e, end, NULL);
            mask |= EL_STR;
            break;
        case MJ_BOOL:
            q = mj_literal(e, end, &truth);
            mask |= EL_BOOL;
            break;
        case MJ_NUMBER:
            q = mj_number(e, end, &is_int);
            if (q && is_int && jnum_int(e, &i))
                mask |= EL_INT | (i > (1LL << 53) || i < -(1LL << 53) ? EL_WIDE : 0u);
            else if (q && !is_int && jnum_real(e, &d))
                mask |= EL_REAL;
            else
                mask |= EL_OTHER;
            break;
        default:
            q = mj_skip(e, end, NULL);
            mask |= EL_OTHER;
            break;
        }
        if ((it.p = q) == NULL)
            return NULL;
        n++;
    }
    if (r != 0)
        return NULL;
    bool ints = (mask & EL_INT) && (mask & ~(unsigned)(EL_INT | EL_WIDE)) == 0;
    bool reals = (mask & EL_REAL) && (mask & ~(unsigned)(EL_INT | EL_REAL)) == 0;
    if (!(mask == 0 || mask == EL_STR || mask == EL_BOOL || ints || reals))
        return pack_json_text(p, end, b); /* nested, mixed, nulls, beyond int64 or double */
    ps_pack_list_header(b, n);
    mj_iter_open(&it, p, end);
    while (mj_iter_next(&it, NULL, &e) == 1) {
        if (reals) {
            bool is_int;
            it.p = mj_number(e, end, &is_int);
            ps_pack_float(b, strtod(e, NULL));
        } else if (ints) {
            it.p = pack_json_number(e, end, b);
        } else {
            it.p = pack_json_value(e, end, b); /* a string or a boolean */
        }
    }
    return it.p;
}

typedef struct Flat {
    P2nBuf *b;       /* the properties map being written */
    uint32_t *count; /* its entries */
    NameSet *names;
    P2nBuf name;     /* the current path: property.key.key... */
} Flat;

/* A member of an object being flattened. */
typedef struct FlatMember {
    size_t koff, klen; /* the decoded key, in the keys buffer */
    const uint8_t *k;  /* keys.data + koff, once every key is in */
    const char *val;
    size_t pos;
    bool dropped;
} FlatMember;

static int flat_cmp(const void *a, const void *b)
{
    const FlatMember *x = *(const FlatMember *const *)a, *y = *(const FlatMember *const *)b;
    size_t n = x->klen < y->klen ? x->klen : y->klen;
    int c = n ? memcmp(x->k, y->k, n) : 0;
    if (c == 0)
        c = x->klen < y->klen ? -1 : x->klen > y->klen;
    return c != 0 ? c : x->pos < y->pos ? -1 : 1;
}

/* Flattens the value at p under f->name: an object (up to MAP_FLATTEN_MAX_DEPTH levels) into
   one entry per member, `name.key`, anything else into one entry `name`; JSON nulls give no
   entry. Returns the value's end; NULL when it is not JSON. */
static const char *flatten(Flat *f, const char *p, const char *end, int depth)
{
    MjKind k = mj_kind(p, end);
    bool truth;
    if (k == MJ_NULL)
        return mj_literal(p, end, &truth);
    if (k != MJ_OBJECT || depth >= MAP_FLATTEN_MAX_DEPTH) {
        flat_name(f->names, (const char *)f->name.data, f->name.len, f->b);
        (*f->count)++;
        return pack_json_value(p, end, f->b);
    }
    /* collect the members first: of a key given twice in one object (json keeps both), the
       last counts, as in PostgreSQL (->, ::jsonb) */
    MjIter it;
    mj_iter_open(&it, p, end);
    P2nBuf keys, key;
    p2n_buf_init(&keys);
    p2n_buf_init(&key);
    FlatMember *mem = NULL;
    FlatMember **order = NULL;
    size_t nm = 0, cap = 0;
    const char *v, *ret = NULL;
    int r;
    while ((r = mj_iter_next(&it, &key, &v)) == 1) {
        if ((it.p = mj_skip(v, end, NULL)) == NULL)
            break;
        if (nm == cap) {
            FlatMember *nw = realloc(mem, (cap = cap ? cap * 2 : 16) * sizeof(*mem));
            if (nw == NULL) {
                f->b->failed = true;
                r = -2;
                break;
            }
            mem = nw;
        }
        mem[nm] = (FlatMember){keys.len, key.len, NULL, v, nm, false};
        nm++;
        p2n_buf_append(&keys, key.data, key.len);
    }
    if (r == 0 && nm > 1) {
        if (!keys.failed && (order = malloc(nm * sizeof(*order))) != NULL) {
            for (size_t i = 0; i < nm; i++) {
                mem[i].k = keys.data + mem[i].koff;
                order[i] = &mem[i];
            }
            qsort(order, nm, sizeof(*order), flat_cmp);
            for (size_t i = 0; i + 1 < nm; i++)
                order[i]->dropped = order[i]->klen == order[i + 1]->klen &&
                                    (order[i]->klen == 0 || memcmp(order[i]->k, order[i + 1]->k, order[i]->klen) == 0);
        } else {
            f->b->failed = true;
        }
    }
    if (r == 0) {
        ret = it.p;
        size_t mark = f->name.len;
        for (size_t i = 0; i < nm && ret; i++) {
            if (mem[i].dropped)
                continue;
            p2n_buf_append_byte(&f->name, '.');
            for (size_t o = 0; o < mem[i].klen; o++) { /* a NUL (json's \u0000) as U+FFFD */
                uint8_t ch = keys.data[mem[i].koff + o];
                if (ch == 0)
                    p2n_buf_append(&f->name, "\xef\xbf\xbd", 3);
                else
                    p2n_buf_append_byte(&f->name, ch);
            }
            if (flatten(f, mem[i].val, end, depth + 1) == NULL)
                ret = NULL;
            f->name.len = mark;
        }
    }
    free(order);
    free(mem);
    p2n_buf_free(&keys);
    p2n_buf_free(&key);
    return ret;
}

/* One property: appends key + value entries to b, counting them. names is NULL when the entity
   has no `map` column (no name can collide: check refuses two columns with one property). */
static int pack_property(Enc *x, const MappingColumn *c, const char *v, P2nBuf *b, uint32_t *count, NameSet *names)
{
    if (v == NULL)
        return 0; /* absent from r.p: SET n = r.p removes it */
    if (c->conv == MAPPING_CONV_MAP && !c->is_array) {
        const char *end = v + strlen(v);
        Flat f = {b, count, names, {0}};
        p2n_buf_init(&f.name);
        p2n_buf_append_str(&f.name, c->property);
        const char *q = flatten(&f, mj_ws(v, end), end, 0); /* an object spreads; anything else is one value */
        if (f.name.failed)
            b->failed = true;
        p2n_buf_free(&f.name);
        if (q == NULL && b->failed)
            return p2n_err_set(x->err, P2N_ENOMEM, "out of memory");
        if (q == NULL || mj_ws(q, end) != end)
            return bad(x, c, "not JSON:", v);
        return 0;
    }
    if (names)
        flat_name(names, c->property, strlen(c->property), b);
    else
        ps_pack_cstr(b, c->property);
    (*count)++;
    if (c->is_array)
        return pack_json_list(x, c, c->conv, v, b);
    return pack_scalar(x, c, c->conv, v, b);
}

static int pack_props(Enc *x, const MappingEntity *e, const char *const *vals, P2nBuf *out)
{
    P2nBuf p;
    p2n_buf_init(&p);
    uint32_t count = 0;
    NameSet names = {0}, *np = NULL;
    for (size_t i = 0; i < e->ncols && np == NULL; i++)
        if (e->cols[i].property && e->cols[i].conv == MAPPING_CONV_MAP && !e->cols[i].is_array)
            np = &names;
    for (size_t i = 0; i < e->ncols; i++) {
        if (e->cols[i].property == NULL)
            continue;
        int rc = pack_property(x, &e->cols[i], vals[2 + i], &p, &count, np);
        if (rc < 0) {
            nameset_free(&names);
            p2n_buf_free(&p);
            return rc;
        }
    }
    if (names.failed)
        p.failed = true;
    nameset_free(&names);
    ps_pack_map_header(out, count);
    if (p.failed)
        out->failed = true;
    else
        p2n_buf_append(out, p.data, p.len);
    p2n_buf_free(&p);
    return 0;
}

/* The list of targets of a relationship column: [] for NULL, [v] for a scalar, the elements of
 * an array (nulls dropped). */
static int pack_targets(Enc *x, const MappingColumn *c, const char *v, P2nBuf *b)
{
    if (v == NULL) {
        ps_pack_list_header(b, 0);
        return 0;
    }
    if (c->is_array)
        return pack_json_list(x, c, c->conv, v, b);
    ps_pack_list_header(b, 1);
    return pack_scalar(x, c, c->conv, v, b);
}

static int pack_key_value(Enc *x, const MappingEntity *e, const char *const *vals, P2nBuf *b)
{
    if (e->nkeys > 1)
        ps_pack_list_header(b, (uint32_t)e->nkeys);
    for (size_t i = 0; i < e->nkeys; i++) {
        const MappingColumn *c = &e->cols[e->key_cols[i]];
        const char *v = vals[2 + e->key_cols[i]];
        if (v == NULL)
            return bad(x, c, "key is NULL", "");
        int rc = pack_scalar(x, c, c->conv, v, b);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int mapping_row_encode_values(const MappingEntity *e, const char *const *vals, size_t nvals, int64_t version,
                              P2nBuf *out, P2nErr *err)
{
    Enc x = {e, nvals > 0 ? vals[0] : NULL, err};
    size_t nheld = e->kind == MAPPING_NODE ? e->nrels : 1;
    if (!e->resolved || (nvals != e->ncols + 2 && nvals != e->ncols + 2 + nheld))
        return p2n_err_set(err, P2N_EINVAL, "row of %zu columns does not match entity \"%s\" (%zu expected)",
                           nvals, e->name, e->ncols + 2 + nheld);
    /* the held columns, when the row has them (see mapping.h (a)) */
    const char *const *held = nvals == e->ncols + 2 + nheld ? vals + 2 + e->ncols : NULL;
    if (vals[0] == NULL)
        return p2n_err_set(err, P2N_EINVAL, "entity \"%s\": row without an id", e->name);
    size_t mark = out->len;
    int rc;
    if (e->kind == MAPPING_NODE) {
        uint32_t nent = 0;
        for (size_t i = 0; i < e->nrels; i++)
            nent += e->rels[i].target >= 0;
        ps_pack_map_header(out, (uint32_t)(3 + e->nrels + nent));
        ps_pack_cstr(out, "k");
        if ((rc = pack_key_value(&x, e, vals, out)) < 0)
            goto fail;
        ps_pack_cstr(out, "v");
        ps_pack_int(out, version);
        ps_pack_cstr(out, "p");
        if ((rc = pack_props(&x, e, vals, out)) < 0)
            goto fail;
        for (size_t i = 0; i < e->nrels; i++) {
            char key[32];
            snprintf(key, sizeof(key), "r%zu", i);
            ps_pack_cstr(out, key);
            int col = e->rels[i].col;
            if ((rc = pack_targets(&x, &e->cols[col], vals[2 + col], out)) < 0)
                goto fail;
            if (e->rels[i].target < 0)
                continue;
            snprintf(key, sizeof(key), "h%zu", i);
            ps_pack_cstr(out, key);
            if ((rc = pack_targets(&x, &e->cols[col], held ? held[i] : NULL, out)) < 0)
                goto fail;
        }
    } else {
        ps_pack_map_header(out, 6);
        ps_pack_cstr(out, "h");
        ps_pack_bool(out, held != NULL && vals[1] != NULL && vals[1][0] == 't' && held[0] != NULL && held[0][0] == 't');
        ps_pack_cstr(out, "id");
        ps_pack_cstr(out, vals[0]);
        ps_pack_cstr(out, "v");
        ps_pack_int(out, version);
        const MappingEnd *ends[2] = {&e->from, &e->to};
        for (int k = 0; k < 2; k++) {
            ps_pack_cstr(out, k ? "t" : "f");
            const MappingColumn *c = &e->cols[ends[k]->col];
            const char *v = vals[2 + ends[k]->col];
            if (v == NULL) {
                rc = bad(&x, c, "relationship end is NULL", "");
                goto fail;
            }
            if ((rc = pack_scalar(&x, c, c->conv, v, out)) < 0)
                goto fail;
        }
        ps_pack_cstr(out, "p");
        if ((rc = pack_props(&x, e, vals, out)) < 0)
            goto fail;
    }
    if (out->failed)
        return p2n_err_set(err, P2N_ENOMEM, "out of memory encoding a row");
    return 0;
fail:
    out->len = mark; /* the caller's buffer is left as it was */
    return rc;
}

int mapping_row_encode(const MappingEntity *e, const struct pg_result *res, int row, int64_t version,
                       P2nBuf *out, P2nErr *err)
{
    const PGresult *r = (const PGresult *)res;
    int nf = PQnfields(r);
    if (nf < 2 || row < 0 || row >= PQntuples(r))
        return p2n_err_set(err, P2N_EINVAL, "no row %d in the result for entity \"%s\"", row, e->name);
    const char *stackv[64];
    const char **vals = (size_t)nf <= 64 ? stackv : calloc((size_t)nf, sizeof(*vals));
    if (vals == NULL)
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    for (int i = 0; i < nf; i++)
        vals[i] = PQgetisnull(r, row, i) ? NULL : PQgetvalue(r, row, i);
    int rc = mapping_row_encode_values(e, vals, (size_t)nf, version, out, err);
    if (vals != stackv)
        free(vals);
    return rc;
}

/* A key's value from its text in an id (common/keyid.h): what the key's column encodes to in a
   row. A date's Date from its ISO text where the row gives a day number, and so on. */
static int pack_key_text(Enc *x, const MappingColumn *c, const char *v, P2nBuf *b)
{
    if (c->conv != MAPPING_CONV_DATE && c->conv != MAPPING_CONV_DATETIME && c->conv != MAPPING_CONV_LOCALDATETIME)
        return pack_scalar(x, c, c->conv, v, b);
    P2nKeyKind k = c->conv == MAPPING_CONV_DATE       ? P2N_KEY_DATE
                   : c->conv == MAPPING_CONV_DATETIME ? P2N_KEY_TIMESTAMPTZ
                                                      : P2N_KEY_TIMESTAMP;
    P2nKeyTime t;
    if (p2n_key_text_parse_time(k, v, strlen(v), &t) < 0)
        return bad(x, c, "not a date or time in an id:", v);
    if (t.infinite) {
        ps_pack_cstr(b, t.infinite > 0 ? "infinity" : "-infinity");
        return 0;
    }
    if (k == P2N_KEY_DATE)
        ps_pack_date(b, t.days);
    else if (k == P2N_KEY_TIMESTAMPTZ)
        ps_pack_datetime(b, t.days * 86400 + t.usec / 1000000, (t.usec % 1000000) * 1000, 0);
    else
        ps_pack_local_datetime(b, t.days * 86400 + t.usec / 1000000, (t.usec % 1000000) * 1000);
    return 0;
}

int mapping_id_encode(const MappingEntity *e, const char *id, int64_t version, P2nBuf *out, P2nErr *err)
{
    if (e->kind == MAPPING_LINK) {
        ps_pack_map_header(out, 2);
        ps_pack_cstr(out, "id");
        ps_pack_cstr(out, id);
        ps_pack_cstr(out, "v");
        ps_pack_int(out, version);
        return out->failed ? p2n_err_set(err, P2N_ENOMEM, "out of memory") : 0;
    }
    Enc x = {e, id, err};
    size_t mark = out->len;
    ps_pack_map_header(out, 2);
    ps_pack_cstr(out, "k");
    int rc = 0;
    if (e->nkeys == 1) {
        rc = pack_key_text(&x, &e->cols[e->key_cols[0]], id, out);
    } else {
        json_error_t je;
        json_t *arr = json_loads(id, 0, &je);
        if (!json_is_array(arr) || json_array_size(arr) != e->nkeys) {
            json_decref(arr);
            out->len = mark;
            return p2n_err_set(err, P2N_EINVAL, "entity \"%s\": id %s is not a JSON array of %zu keys", e->name,
                               id, e->nkeys);
        }
        ps_pack_list_header(out, (uint32_t)e->nkeys);
        for (size_t i = 0; i < e->nkeys && rc == 0; i++) {
            const MappingColumn *c = &e->cols[e->key_cols[i]];
            const char *s = json_string_value(json_array_get(arr, i));
            rc = s ? pack_key_text(&x, c, s, out) : bad(&x, c, "key is not a string in id", id);
        }
        json_decref(arr);
    }
    if (rc < 0) {
        out->len = mark;
        return rc;
    }
    ps_pack_cstr(out, "v");
    ps_pack_int(out, version);
    return out->failed ? p2n_err_set(err, P2N_ENOMEM, "out of memory") : 0;
}
