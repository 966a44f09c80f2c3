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

#include "mapping/mapping.h"
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
        if (v[0] == '\0' || isspace((unsigned char)v[0]))
            return bad(x, c, "not a number:", v);
        char *end = NULL;
        double d = strtod(v, &end);
        if (*end != '\0')
            return bad(x, c, "not a number:", v);
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
        if (!parse_epoch(v, &s, &ns))
            return bad(x, c, "not an epoch timestamp:", v);
        if (conv == MAPPING_CONV_DATETIME)
            ps_pack_datetime(b, s, ns, 0);
        else
            ps_pack_local_datetime(b, s, ns);
        return 0;
    case MAPPING_CONV_DATE:
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

/* Packs one JSON array element as conv; returns 1 when packed, 0 when skipped (null), <0 error. */
static int pack_json_elem(Enc *x, const MappingColumn *c, MappingConv conv, const json_t *j, P2nBuf *b)
{
    if (json_is_null(j))
        return 0;
    switch (conv) {
    case MAPPING_CONV_INT:
        if (!json_is_integer(j))
            return bad(x, c, "array element is not an integer in", "");
        ps_pack_int(b, (int64_t)json_integer_value(j));
        return 1;
    case MAPPING_CONV_FLOAT:
        if (json_is_number(j)) {
            ps_pack_float(b, json_number_value(j));
            return 1;
        }
        if (json_is_string(j)) { /* to_jsonb(float8[]) writes NaN and infinities as strings */
            const char *s = json_string_value(j);
            char *end = NULL;
            double d = strtod(s, &end);
            if (*end == '\0' && s[0] != '\0' && (isnan(d) || isinf(d))) {
                ps_pack_float(b, d);
                return 1;
            }
        }
        return bad(x, c, "array element is not a number in", "");
    case MAPPING_CONV_BOOL:
        if (!json_is_boolean(j))
            return bad(x, c, "array element is not a boolean in", "");
        ps_pack_bool(b, json_is_true(j));
        return 1;
    default:
        if (json_is_string(j)) {
            ps_pack_string(b, json_string_value(j), json_string_length(j));
            return 1;
        }
        if (json_is_array(j) && conv == MAPPING_CONV_STRING) { /* a row of a multi-dimensional array */
            char *txt = json_dumps(j, JSON_COMPACT);
            if (txt == NULL)
                return p2n_err_set(x->err, P2N_ENOMEM, "out of memory");
            ps_pack_cstr(b, txt);
            free(txt);
            return 1;
        }
        if (json_is_integer(j) && conv == MAPPING_CONV_STRING) {
            char tmp[32];
            snprintf(tmp, sizeof(tmp), "%lld", (long long)json_integer_value(j));
            ps_pack_cstr(b, tmp);
            return 1;
        }
        return bad(x, c, "array element is not a string in", "");
    }
}

/* A JSON array (text) into a list, nulls dropped (Neo4j lists hold no nulls). */
static int pack_json_list(Enc *x, const MappingColumn *c, MappingConv conv, const char *v, P2nBuf *b)
{
    json_error_t je;
    json_t *arr = json_loads(v, JSON_ALLOW_NUL, &je);
    if (!json_is_array(arr)) {
        json_decref(arr);
        return bad(x, c, "not a JSON array:", v);
    }
    size_t n = json_array_size(arr), cnt = 0;
    for (size_t i = 0; i < n; i++)
        cnt += !json_is_null(json_array_get(arr, i));
    ps_pack_list_header(b, (uint32_t)cnt);
    for (size_t i = 0; i < n; i++) {
        int rc = pack_json_elem(x, c, conv, json_array_get(arr, i), b);
        if (rc < 0) {
            json_decref(arr);
            return rc;
        }
    }
    json_decref(arr);
    return 0;
}

/* Is a JSON array a homogeneous list of scalars Neo4j can store? Returns the json type or -1. */
static int homogeneous(const json_t *a)
{
    int t = -2;
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        int vt = (int)json_typeof(v);
        if (json_is_true(v) || json_is_false(v))
            vt = JSON_TRUE;
        if (json_is_integer(v))
            vt = JSON_REAL; /* ints and reals mix as floats */
        if (vt != JSON_STRING && vt != JSON_REAL && vt != JSON_TRUE)
            return -1;
        if (t != -2 && t != vt)
            return -1;
        t = vt;
    }
    return t;
}

/* Packs a non-null, non-object JSON value as a Neo4j property value. */
static void pack_json_value(const json_t *j, P2nBuf *b)
{
    if (json_is_string(j)) {
        ps_pack_string(b, json_string_value(j), json_string_length(j));
    } else if (json_is_integer(j)) {
        ps_pack_int(b, (int64_t)json_integer_value(j));
    } else if (json_is_real(j)) {
        ps_pack_float(b, json_real_value(j));
    } else if (json_is_boolean(j)) {
        ps_pack_bool(b, json_is_true(j));
    } else if (json_is_array(j) && homogeneous(j) != -1) {
        int t = homogeneous(j);
        ps_pack_list_header(b, (uint32_t)json_array_size(j));
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v)
        {
            if (t == JSON_STRING)
                ps_pack_string(b, json_string_value(v), json_string_length(v));
            else if (t == JSON_TRUE)
                ps_pack_bool(b, json_is_true(v));
            else
                ps_pack_float(b, json_number_value(v));
        }
    } else { /* nested or mixed arrays, objects too deep: the JSON text */
        char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
        ps_pack_cstr(b, s ? s : "");
        free(s);
    }
}

/* Flattens a JSON value into entries `prefix[.key...]: value`; counts entries written. */
static void flatten(const char *prefix, json_t *j, P2nBuf *b, uint32_t *count, int depth)
{
    if (json_is_null(j))
        return;
    if (json_is_object(j) && depth < MAP_FLATTEN_MAX_DEPTH) {
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v)
        {
            P2nBuf p;
            p2n_buf_init(&p);
            p2n_buf_printf(&p, "%s.%s", prefix, k);
            if (!p.failed)
                flatten((const char *)p.data, v, b, count, depth + 1);
            p2n_buf_free(&p);
        }
        return;
    }
    ps_pack_cstr(b, prefix);
    (*count)++;
    pack_json_value(j, b);
}

/* One property: appends key + value entries to b, counting them. */
static int pack_property(Enc *x, const MappingColumn *c, const char *v, P2nBuf *b, uint32_t *count)
{
    if (v == NULL)
        return 0; /* absent from r.p: SET n = r.p removes it */
    if (c->conv == MAPPING_CONV_MAP && !c->is_array) {
        json_error_t je;
        json_t *j = json_loads(v, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
        if (j == NULL)
            return bad(x, c, "not JSON:", v);
        flatten(c->property, j, b, count, 0); /* an object spreads; anything else is one value */
        json_decref(j);
        return 0;
    }
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
    for (size_t i = 0; i < e->ncols; i++) {
        if (e->cols[i].property == NULL)
            continue;
        int rc = pack_property(x, &e->cols[i], vals[2 + i], &p, &count);
        if (rc < 0) {
            p2n_buf_free(&p);
            return rc;
        }
    }
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
        const MappingColumn *c = &e->cols[e->key_cols[0]];
        rc = pack_scalar(&x, c, c->conv, id, out);
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
            rc = s ? pack_scalar(&x, c, c->conv, s, out) : bad(&x, c, "key is not a string in id", id);
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
