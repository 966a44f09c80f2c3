/*
 * Unit tests for the row encoder at the edges of every type (docs/mapping.md "Type conversions"):
 * JSON `map` documents with numbers beyond int64 and the double range, subnormals, any depth,
 * colliding flattened names and duplicate keys; integer arrays kept exact; float and numeric
 * arrays from their text; multi-dimensional arrays; infinite dates and timestamps; the read SQL
 * that feeds them; check's refusal of a property under a `map` column's prefix. Each encoded row
 * is decoded back with the PackStream decoder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "mapping/mapping.h"
#include "mapping/mapping_int.h"
#include "packstream/packstream.h"

static const char *no_env(const char *name, void *ctx)
{
    (void)name;
    (void)ctx;
    return NULL;
}

static void edge_catalog(MappingCatalog *cat)
{
    memset(cat, 0, sizeof(*cat));
    MappingCatTable *t = mapping_catalog_add_table(cat, "public", "edge");
    mapping_catalog_add_column(t, "id", "int8", false, true);
    mapping_catalog_add_column(t, "j", "jsonb", false, false);
    mapping_catalog_add_column(t, "js", "json", false, false);
    mapping_catalog_add_column(t, "f", "float8", false, false);
    mapping_catalog_add_column(t, "n", "numeric", false, false);
    mapping_catalog_add_column(t, "fa", "float8", true, false);
    mapping_catalog_add_column(t, "na", "numeric", true, false);
    mapping_catalog_add_column(t, "ia", "int8", true, false);
    mapping_catalog_add_column(t, "ta", "text", true, false);
    mapping_catalog_add_column(t, "d", "date", false, false);
    mapping_catalog_add_column(t, "ts", "timestamp", false, false);
    mapping_catalog_add_column(t, "tz", "timestamptz", false, false);
    mapping_catalog_add_column(t, "ba", "bytea", false, false);
    mapping_catalog_add_unique(t, (const char *const[]){"id", NULL}, true);

    t = mapping_catalog_add_table(cat, "public", "coll");
    mapping_catalog_add_column(t, "id", "int8", false, true);
    mapping_catalog_add_column(t, "j", "jsonb", false, false);
    mapping_catalog_add_column(t, "j.x", "text", false, false);
    mapping_catalog_add_unique(t, (const char *const[]){"id", NULL}, true);
}

#define EDGE_YAML "entities:\n  E:\n    table: edge\n    convert: {j: map, js: map, n: float, na: float}\n"

typedef struct Fx {
    MappingCatalog cat;
    Mapping *m;
    MappingEntity *e;
    const char *vals[32];
    size_t n;
    P2nBuf b;
    PsArena arena;
    PsValue row;
    const PsValue *p; /* the row's properties */
} Fx;

static int setup(void **state)
{
    Fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    P2nErr err;
    assert_int_equal(mapping_load_string(EDGE_YAML, strlen(EDGE_YAML), "v.yaml", no_env, NULL, &f->m, NULL, &err), 0);
    edge_catalog(&f->cat);
    MappingDiags d = {0};
    int rc = mapping_resolve(f->m, &f->cat, &d, &err);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "diag: %s\n", d.msgs[i]);
    mapping_diags_free(&d);
    assert_int_equal(rc, 0);
    f->e = &f->m->entities[0];
    f->n = f->e->ncols + 2;
    p2n_buf_init(&f->b);
    ps_arena_init(&f->arena, 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fx *f = *state;
    ps_arena_free(&f->arena);
    p2n_buf_free(&f->b);
    mapping_free(f->m);
    mapping_catalog_free(&f->cat);
    free(f);
    return 0;
}

static size_t col(Fx *f, const char *column)
{
    for (size_t i = 0; i < f->e->ncols; i++)
        if (strcmp(f->e->cols[i].column, column) == 0)
            return i;
    fail_msg("no column %s", column);
    return 0;
}

/* Encodes a row with id 1 and the one column set (others NULL); returns the encoder's code. */
static int enc1(Fx *f, const char *column, const char *value, P2nErr *err)
{
    memset(f->vals, 0, sizeof(f->vals));
    f->vals[0] = "1";
    f->vals[1] = "f";
    f->vals[2 + col(f, "id")] = "1";
    if (column)
        f->vals[2 + col(f, column)] = value;
    p2n_buf_reset(&f->b);
    int rc = mapping_row_encode_values(f->e, f->vals, f->n, 1, &f->b, err);
    if (rc != 0)
        return rc;
    ps_arena_free(&f->arena);
    ps_arena_init(&f->arena, 0);
    size_t used = 0;
    P2nErr derr;
    assert_int_equal(ps_decode(&f->arena, f->b.data, f->b.len, NULL, &f->row, &used, &derr), 0);
    assert_int_equal(used, f->b.len);
    f->p = ps_map_get(&f->row, "p");
    assert_non_null(f->p);
    assert_int_equal(f->p->type, PS_MAP);
    /* never two entries with one name (Neo4j refuses a map with a duplicate key) */
    for (uint32_t i = 0; i < f->p->u.map.len; i++)
        for (uint32_t k = i + 1; k < f->p->u.map.len; k++)
            assert_false(f->p->u.map.entries[i].key_len == f->p->u.map.entries[k].key_len &&
                         memcmp(f->p->u.map.entries[i].key, f->p->u.map.entries[k].key,
                                f->p->u.map.entries[i].key_len) == 0);
    return 0;
}

static void enc(Fx *f, const char *column, const char *value)
{
    P2nErr err;
    int rc = enc1(f, column, value, &err);
    if (rc != 0)
        fail_msg("encode %s = %.200s: %s", column, value, err.msg);
}

static const PsValue *prop(Fx *f, const char *name)
{
    const PsValue *v = ps_map_get(f->p, name);
    if (v == NULL)
        fail_msg("no property %s", name);
    return v;
}

static void want_str(Fx *f, const char *name, const char *s)
{
    const PsValue *v = prop(f, name);
    assert_int_equal(v->type, PS_STRING);
    assert_int_equal(v->u.str.len, strlen(s));
    assert_memory_equal(v->u.str.data, s, strlen(s));
}

static void want_int(Fx *f, const char *name, int64_t i)
{
    const PsValue *v = prop(f, name);
    assert_int_equal(v->type, PS_INT);
    assert_true(v->u.i == i);
}

static void want_float(Fx *f, const char *name, double d)
{
    const PsValue *v = prop(f, name);
    assert_int_equal(v->type, PS_FLOAT);
    if (isnan(d))
        assert_true(isnan(v->u.f));
    else
        assert_true(v->u.f == d && signbit(v->u.f) == signbit(d));
}

static char *repeat(const char *a, size_t n, const char *mid, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), lm = strlen(mid);
    char *s = malloc(n * (la + lb) + lm + 1), *p = s;
    assert_non_null(s);
    for (size_t i = 0; i < n; i++, p += la)
        memcpy(p, a, la);
    memcpy(p, mid, lm);
    p += lm;
    for (size_t i = 0; i < n; i++, p += lb)
        memcpy(p, b, lb);
    *p = '\0';
    return s;
}

/* Numbers PostgreSQL holds and jansson refused: beyond int64, beyond and below the double range. */
static void test_json_numbers(void **state)
{
    Fx *f = *state;
    char *huge = repeat("0", 400, "", ""); /* jsonb prints 1e400 as 1 and 400 zeros */
    char doc[1200];
    snprintf(doc, sizeof(doc),
             "{\"big\": 12345678901234567890, \"low\": -9223372036854775809, \"max\": 9223372036854775807, "
             "\"min\": -9223372036854775808, \"huge\": 1%s, \"sub\": 1.5e-320, \"tiny\": 1e-400, \"r\": 1.0, "
             "\"e\": 1E+2, \"z\": -0, \"rz\": -0.0, \"pi\": 3.141592653589793238462643383279, \"ex\": 1e400}",
             huge);
    enc(f, "j", doc);
    want_str(f, "j.big", "12345678901234567890");
    want_str(f, "j.low", "-9223372036854775809");
    want_int(f, "j.max", INT64_MAX);
    want_int(f, "j.min", INT64_MIN);
    char want_huge[410];
    snprintf(want_huge, sizeof(want_huge), "1%s", huge);
    want_str(f, "j.huge", want_huge);
    want_str(f, "j.ex", "1e400"); /* json keeps the text as written */
    want_float(f, "j.sub", 1.5e-320); /* a subnormal: the nearest double */
    assert_true(prop(f, "j.sub")->u.f > 0);
    want_float(f, "j.tiny", 0.0);
    want_float(f, "j.r", 1.0);
    want_float(f, "j.e", 100.0);
    want_int(f, "j.z", 0);
    want_float(f, "j.rz", -0.0);
    want_float(f, "j.pi", 3.141592653589793);
    free(huge);
    /* a document that is one number */
    enc(f, "j", "12345678901234567890");
    want_str(f, "j", "12345678901234567890");
    enc(f, "js", " 1.5e-320 ");
    want_float(f, "js", 1.5e-320);
}

/* Homogeneous arrays are lists, integers exactly; anything else is its compact JSON text. */
static void test_json_arrays(void **state)
{
    Fx *f = *state;
    enc(f, "j",
        "{\"ints\": [9007199254740993, 1, -9223372036854775808], \"mix\": [1, 2.5], \"wide\": [9007199254740993, 0.5], "
        "\"bigs\": [12345678901234567890, 1], \"over\": [1.5, 1e400], \"s\": [\"a\", \"\\n\"], \"b\": [true, false], "
        "\"nulls\": [1, null], \"nested\": [[1], [2, [3]]], \"empty\": [], \"mixed\": [\"a\", 1], "
        "\"objs\": [{\"a\": 0.1}]}");
    const PsValue *v = prop(f, "j.ints");
    assert_int_equal(v->type, PS_LIST);
    assert_int_equal(v->u.list.len, 3);
    assert_int_equal(v->u.list.items[0].type, PS_INT);
    assert_true(v->u.list.items[0].u.i == 9007199254740993LL); /* not 9007199254740992.0 */
    assert_true(v->u.list.items[2].u.i == INT64_MIN);
    v = prop(f, "j.mix");
    assert_int_equal(v->u.list.items[0].type, PS_FLOAT);
    assert_true(v->u.list.items[0].u.f == 1.0 && v->u.list.items[1].u.f == 2.5);
    want_str(f, "j.wide", "[9007199254740993,0.5]"); /* no double holds it exactly */
    want_str(f, "j.bigs", "[12345678901234567890,1]");
    want_str(f, "j.over", "[1.5,1e400]");
    v = prop(f, "j.s");
    assert_int_equal(v->u.list.len, 2);
    assert_string_equal(v->u.list.items[1].u.str.data, "\n");
    v = prop(f, "j.b");
    assert_int_equal(v->u.list.items[0].type, PS_BOOL);
    assert_false(v->u.list.items[1].u.b);
    want_str(f, "j.nulls", "[1,null]");
    want_str(f, "j.nested", "[[1],[2,[3]]]");
    assert_int_equal(prop(f, "j.empty")->u.list.len, 0);
    want_str(f, "j.mixed", "[\"a\",1]");
    want_str(f, "j.objs", "[{\"a\":0.1}]"); /* the numbers as written, not re-printed */
    /* the example: a document that is an integer array stays one */
    enc(f, "j", "[9007199254740993, 1]");
    v = prop(f, "j");
    assert_int_equal(v->u.list.items[0].type, PS_INT);
    assert_true(v->u.list.items[0].u.i == 9007199254740993LL && v->u.list.items[1].u.i == 1);
}

/* Any depth: objects flatten 32 levels, deeper ones (and deep arrays) are their JSON text. */
static void test_json_depth(void **state)
{
    Fx *f = *state;
    char *deep = repeat("[", 100000, "1", "]");
    enc(f, "j", deep);
    want_str(f, "j", deep);
    free(deep);
    char *obj = repeat("{\"a\": ", 40, "1", "}");
    enc(f, "j", obj);
    char name[200] = "j";
    for (int i = 0; i < 32; i++)
        strcat(name, ".a");
    want_str(f, name, "{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":1}}}}}}}}");
    free(obj);
    char *wide = repeat("{\"k\": [", 50000, "true", "]}");
    enc(f, "js", wide);
    assert_int_equal(prop(f, "js.k")->type, PS_STRING);
    free(wide);
}

/* Two paths that flatten to one name: the first keeps it, the next get ~2, ~3...; a key given
   twice in one json object: the last counts (PostgreSQL's rule). */
static void test_json_collisions(void **state)
{
    Fx *f = *state;
    enc(f, "j", "{\"a\": {\"b\": 2}, \"a.b\": 1}"); /* the issue's {"a.b":1,"a":{"b":2}}, in jsonb order */
    want_int(f, "j.a.b", 2);
    want_int(f, "j.a.b~2", 1);
    enc(f, "j", "{\"a\": {\"b\": 1}, \"a.b\": 2, \"a.b~2\": 3, \"a.b~3\": 4}");
    want_int(f, "j.a.b", 1);
    want_int(f, "j.a.b~2", 2);
    want_int(f, "j.a.b~2~2", 3); /* its own name was taken by the suffix */
    want_int(f, "j.a.b~3", 4);
    assert_int_equal(f->p->u.map.len, 5); /* id + 4 */
    enc(f, "js", "{\"x\": 1, \"y\": {\"k\": 1}, \"x\": 2, \"y\": {\"m\": 2}, \"x\": null}");
    assert_null(ps_map_get(f->p, "js.x")); /* the last x is null: no property */
    assert_null(ps_map_get(f->p, "js.x~2"));
    assert_null(ps_map_get(f->p, "js.y.k"));
    want_int(f, "js.y.m", 2);
}

static void test_json_strings(void **state)
{
    Fx *f = *state;
    enc(f, "js", "{\"k\\\"q\": \"\\u00e9\\ud83d\\ude00\", \"lone\": \"a\\ud800b\\udc00\", \"nul\": \"x\\u0000y\", "
                 "\"esc\": \"\\/\\b\\f\\n\\r\\t\\\\\", \"raw\": \"é\", \"k\\u0000\": 1}");
    want_int(f, "js.k\xef\xbf\xbd", 1); /* a NUL in a key: U+FFFD (names are C strings to verify) */
    want_str(f, "js.k\"q", "\xc3\xa9\xf0\x9f\x98\x80");
    want_str(f, "js.lone", "a\xef\xbf\xbd" "b\xef\xbf\xbd");
    const PsValue *v = prop(f, "js.nul");
    assert_int_equal(v->u.str.len, 3);
    assert_memory_equal(v->u.str.data, "x\0y", 3);
    want_str(f, "js.esc", "/\b\f\n\r\t\\");
    want_str(f, "js.raw", "é");
    enc(f, "j", "\"just a string\"");
    want_str(f, "j", "just a string");
    enc(f, "j", "null");
    assert_null(ps_map_get(f->p, "j"));
    enc(f, "j", "{}");
    assert_int_equal(f->p->u.map.len, 1); /* id only */
}

static void test_json_malformed(void **state)
{
    Fx *f = *state;
    static const char *const bad_docs[] = {"{\"a\": 1,}", "[1 2]", "{\"a\"}", "\"open", "{\"a\": 1} x", "",
                                           "[1,]", "{,}", "01", "1.", "-", "tru", "\"\\x\"", "\"\\u12\"",
                                           "\"a\nb\"", "{\"a\": [1, {\"b\": }]}", "[[[[[[[[[[[[["};
    for (size_t i = 0; i < sizeof(bad_docs) / sizeof(bad_docs[0]); i++) {
        P2nErr err;
        assert_int_equal(enc1(f, "j", bad_docs[i], &err), P2N_EINVAL);
        assert_non_null(strstr(err.msg, "column \"j\": not JSON"));
    }
    P2nErr err;
    assert_int_equal(enc1(f, "ia", "[1, 2", &err), P2N_EINVAL);
    assert_non_null(strstr(err.msg, "column \"ia\": not a JSON array"));
    assert_int_equal(enc1(f, "ia", "{}", &err), P2N_EINVAL);
    assert_int_equal(enc1(f, "ia", "[1] 2", &err), P2N_EINVAL);
    assert_int_equal(enc1(f, "ia", "[12345678901234567890]", &err), P2N_EINVAL);
    assert_non_null(strstr(err.msg, "array element is not an integer"));
    assert_int_equal(enc1(f, "fa", "[\"x\"]", &err), P2N_EINVAL);
    assert_non_null(strstr(err.msg, "array element is not a number"));
    assert_int_equal(enc1(f, "f", "1.5x", &err), P2N_EINVAL);
    assert_non_null(strstr(err.msg, "not a number"));
}

/* The scanner on its own: compact text, iteration. */
static void test_scanner(void **state)
{
    (void)state;
    const char *s = " { \"a\" : [ 1 , \"x y\" , { } , [ ] , true , null ] , \"b\" : -1.5e3 } ";
    P2nBuf c;
    p2n_buf_init(&c);
    const char *end = s + strlen(s);
    const char *q = mj_skip(mj_ws(s, end), end, &c);
    assert_non_null(q);
    assert_ptr_equal(mj_ws(q, end), end);
    p2n_buf_append_byte(&c, 0);
    assert_string_equal((const char *)c.data, "{\"a\":[1,\"x y\",{},[],true,null],\"b\":-1.5e3}");
    p2n_buf_free(&c);
    MjIter it;
    assert_true(mj_iter_open(&it, mj_ws(s, end), end));
    P2nBuf key;
    p2n_buf_init(&key);
    const char *v;
    assert_int_equal(mj_iter_next(&it, &key, &v), 1);
    assert_int_equal(key.len, 1);
    assert_int_equal(mj_kind(v, end), MJ_ARRAY);
    it.p = mj_skip(v, end, NULL);
    assert_int_equal(mj_iter_next(&it, &key, &v), 1);
    assert_memory_equal(key.data, "b", 1);
    bool is_int = true;
    it.p = mj_number(v, end, &is_int);
    assert_false(is_int);
    assert_int_equal(mj_iter_next(&it, &key, &v), 0);
    p2n_buf_free(&key);
    const char *one = "1";
    assert_false(mj_iter_open(&it, one, one + 1));
}

static void test_scalar_edges(void **state)
{
    Fx *f = *state;
    enc(f, "f", "NaN");
    want_float(f, "f", (double)NAN);
    enc(f, "f", "-Infinity");
    want_float(f, "f", -(double)INFINITY);
    enc(f, "f", "-0");
    want_float(f, "f", -0.0);
    enc(f, "f", "4.9e-324");
    want_float(f, "f", 4.9e-324);
    enc(f, "f", "1.7976931348623157e+308");
    want_float(f, "f", 1.7976931348623157e308);
    /* numeric as float: NaN, the infinities, the nearest double, beyond the range its text */
    enc(f, "n", "Infinity");
    want_float(f, "n", (double)INFINITY);
    enc(f, "n", "123456789012345678901234567890.123456789");
    want_float(f, "n", 123456789012345678901234567890.123456789);
    char *huge = repeat("9", 400, "", "");
    enc(f, "n", huge);
    want_str(f, "n", huge);
    free(huge);
    enc(f, "n", "-1e-400");
    want_float(f, "n", -0.0);
    /* infinite dates and timestamps: their text */
    enc(f, "d", "infinity");
    want_str(f, "d", "infinity");
    enc(f, "ts", "-infinity");
    want_str(f, "ts", "-infinity");
    enc(f, "tz", "infinity");
    want_str(f, "tz", "infinity");
    P2nErr err;
    assert_int_equal(enc1(f, "tz", "Infinity", &err), P2N_EINVAL); /* only PostgreSQL's own spelling */
    /* BC and the far future */
    enc(f, "d", "-2440588"); /* 4713-01-01 BC */
    assert_true(prop(f, "d")->u.st.fields[0].u.i == -2440588);
    enc(f, "tz", "-210863519999.999999");
    const PsValue *t = prop(f, "tz");
    assert_int_equal(t->u.st.tag, PS_TAG_DATETIME);
    assert_true(t->u.st.fields[0].u.i == -210863520000 && t->u.st.fields[1].u.i == 1000);
    enc(f, "ts", "9224318015999.999999"); /* 294276-12-31 23:59:59.999999 */
    t = prop(f, "ts");
    assert_true(t->u.st.fields[0].u.i == 9224318015999 && t->u.st.fields[1].u.i == 999999000);
    enc(f, "ba", "");
    assert_int_equal(prop(f, "ba")->type, PS_BYTES);
    assert_int_equal(prop(f, "ba")->u.str.len, 0);
}

static void test_array_edges(void **state)
{
    Fx *f = *state;
    /* float8[] read as text[]: NaN, the infinities, -0, the extremes, nulls dropped */
    enc(f, "fa", "[\"NaN\", \"Infinity\", \"-Infinity\", \"-0\", \"1.7976931348623157e+308\", \"4.9e-324\", null]");
    const PsValue *v = prop(f, "fa");
    assert_int_equal(v->u.list.len, 6);
    assert_true(isnan(v->u.list.items[0].u.f));
    assert_true(isinf(v->u.list.items[2].u.f) && v->u.list.items[2].u.f < 0);
    assert_true(v->u.list.items[3].u.f == 0 && signbit(v->u.list.items[3].u.f));
    assert_true(v->u.list.items[4].u.f == 1.7976931348623157e308);
    assert_true(v->u.list.items[5].u.f == 4.9e-324);
    /* numbers as to_jsonb prints them (relationship value columns) */
    char *zeros = repeat("0", 292, "", ""), big[400];
    snprintf(big, sizeof(big), "[17976931348623157%s, 0.1]", zeros); /* 1.7976931348623157e308 */
    free(zeros);
    enc(f, "fa", big);
    assert_true(prop(f, "fa")->u.list.items[0].u.f == 1.7976931348623157e308);
    /* numeric[] as float: one element beyond the double range makes it the list of their text */
    char doc[600];
    snprintf(doc, sizeof(doc), "[\"1.5\", \"NaN\", \"1%0400d\"]", 0);
    enc(f, "na", doc);
    v = prop(f, "na");
    assert_int_equal(v->u.list.len, 3);
    assert_int_equal(v->u.list.items[0].type, PS_STRING);
    assert_string_equal(v->u.list.items[0].u.str.data, "1.5");
    assert_string_equal(v->u.list.items[1].u.str.data, "NaN");
    assert_int_equal(v->u.list.items[2].u.str.len, 401);
    enc(f, "na", "[\"1.5\", \"NaN\", \"-1e-400\"]");
    v = prop(f, "na");
    assert_int_equal(v->u.list.items[0].type, PS_FLOAT);
    assert_true(v->u.list.items[2].u.f == 0 && signbit(v->u.list.items[2].u.f));
    /* integer arrays exact; multi-dimensional arrays of any type: their rows' JSON text */
    enc(f, "ia", "[9223372036854775807, null, -9223372036854775808]");
    v = prop(f, "ia");
    assert_int_equal(v->u.list.len, 2);
    assert_true(v->u.list.items[0].u.i == INT64_MAX && v->u.list.items[1].u.i == INT64_MIN);
    enc(f, "ia", "[[[1, 2]], [[null, 4]]]");
    v = prop(f, "ia");
    assert_int_equal(v->u.list.len, 2);
    assert_string_equal(v->u.list.items[1].u.str.data, "[[null,4]]");
    enc(f, "fa", "[[\"NaN\", \"-0\"], [null, null]]");
    assert_string_equal(prop(f, "fa")->u.list.items[0].u.str.data, "[\"NaN\",\"-0\"]");
    enc(f, "ta", "[null, null]");
    assert_int_equal(prop(f, "ta")->u.list.len, 0);
    enc(f, "ta", "[]");
    assert_int_equal(prop(f, "ta")->u.list.len, 0);
}

/* The read SQL gives the encoder those forms. */
static void test_read_sql(void **state)
{
    Fx *f = *state;
    const char *sql = f->e->plan.read_sql;
    static const char *const want[] = {
        "to_jsonb(t.\"fa\"::text[])::text", /* floats as text: -0, no cast error */
        "to_jsonb(t.\"na\"::text[])::text",  /* numeric: never ::float8[] (overflow fails the read) */
        "to_jsonb(t.\"ia\")::text",
        "CASE WHEN isfinite(t.\"d\") THEN (t.\"d\" - DATE '1970-01-01')::text ELSE t.\"d\"::text END",
        "CASE WHEN isfinite(t.\"ts\") THEN (extract(epoch FROM t.\"ts\" - TIMESTAMP '2000-01-01 00:00:00') + "
        "946684800)::text ELSE t.\"ts\"::text END",
        "CASE WHEN isfinite(t.\"tz\") THEN (extract(epoch FROM t.\"tz\" - TIMESTAMPTZ '2000-01-01 00:00:00+00') + "
        "946684800)::text ELSE t.\"tz\"::text END",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (strstr(sql, want[i]) == NULL)
            fail_msg("read_sql lacks %s:\n%s", want[i], sql);
    assert_null(strstr(sql, "float8[]"));
}

/* check refuses a property under a `map` column's prefix: it would collide with its keys. */
static void test_check_collision(void **state)
{
    (void)state;
    const char *yaml = "entities:\n  C:\n    table: coll\n    convert: {j: map}\n";
    Mapping *m = NULL;
    P2nErr err;
    assert_int_equal(mapping_load_string(yaml, strlen(yaml), "c.yaml", no_env, NULL, &m, NULL, &err), 0);
    MappingCatalog cat;
    edge_catalog(&cat);
    MappingDiags d = {0};
    assert_int_equal(mapping_resolve(m, &cat, &d, &err), P2N_ECONFIG);
    bool found = false;
    for (size_t i = 0; i < d.n; i++)
        found = found || strstr(d.msgs[i], "property \"j.x\" (column \"j.x\") can collide with the flattened keys of "
                                           "column \"j\"") != NULL;
    assert_true(found);
    mapping_diags_free(&d);
    mapping_free(m);
    /* renamed away, it is valid */
    yaml = "entities:\n  C:\n    table: coll\n    convert: {j: map}\n    rename: {j.x: jx}\n";
    assert_int_equal(mapping_load_string(yaml, strlen(yaml), "c.yaml", no_env, NULL, &m, NULL, &err), 0);
    MappingDiags d2 = {0};
    assert_int_equal(mapping_resolve(m, &cat, &d2, &err), 0);
    mapping_diags_free(&d2);
    mapping_free(m);
    mapping_catalog_free(&cat);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_json_numbers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_arrays, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_depth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_collisions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_strings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_malformed, setup, teardown),
        cmocka_unit_test(test_scanner),
        cmocka_unit_test_setup_teardown(test_scalar_edges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_array_edges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_sql, setup, teardown),
        cmocka_unit_test(test_check_collision),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
