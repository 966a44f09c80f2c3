/*
 * Unit tests for src/packstream: exact bytes of the encoder at every size boundary and against
 * the protocol documents' examples, decode round trips, every Bolt 5 structure, decoder errors
 * (truncation at every offset, reserved markers, nesting, limits), equality and the JSON form.
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
#include <jansson.h>

#include "packstream/packstream.h"

#define P2N_NAN ((double)NAN) /* NAN is a float: spell out the conversion */

typedef struct Fixture {
    P2nBuf buf;
    PsArena arena;
} Fixture;

static int setup(void **state)
{
    Fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    p2n_buf_init(&f->buf);
    ps_arena_init(&f->arena, 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fixture *f = *state;
    p2n_buf_free(&f->buf);
    ps_arena_free(&f->arena);
    free(f);
    return 0;
}

/* Decodes the whole buffer (it must be exactly one value) into the fixture's arena. */
static PsValue decode_all(Fixture *f, const uint8_t *data, size_t len)
{
    PsValue v;
    size_t used = 0;
    P2nErr err;
    p2n_err_clear(&err);
    int rc = ps_decode(&f->arena, data, len, NULL, &v, &used, &err);
    if (rc != 0)
        fail_msg("decode failed: %s", err.msg);
    assert_int_equal(used, len);
    return v;
}

/* Re-encodes a decoded value and checks the bytes are the original ones. */
static void assert_reencodes(const PsValue *v, const uint8_t *want, size_t len)
{
    P2nBuf b;
    p2n_buf_init(&b);
    ps_pack_value(&b, v);
    assert_false(b.failed);
    assert_int_equal(b.len, len);
    assert_memory_equal(b.data, want, len);
    p2n_buf_free(&b);
}

static void assert_bytes(const P2nBuf *b, const uint8_t *want, size_t len)
{
    assert_false(b->failed);
    if (b->len != len || memcmp(b->data, want, len) != 0) {
        char got[256] = "", exp[256] = "";
        for (size_t i = 0; i < b->len && i < 60; i++)
            snprintf(got + strlen(got), sizeof(got) - strlen(got), "%02X ", b->data[i]);
        for (size_t i = 0; i < len && i < 60; i++)
            snprintf(exp + strlen(exp), sizeof(exp) - strlen(exp), "%02X ", want[i]);
        fail_msg("bytes differ:\n  got  %s\n  want %s", got, exp);
    }
}

#define BYTES(...) ((const uint8_t[]){__VA_ARGS__}), sizeof((const uint8_t[]){__VA_ARGS__})

/* ---- encoder exact bytes ---- */

typedef struct IntCase {
    int64_t v;
    uint8_t bytes[9];
    size_t len;
} IntCase;

static void test_int_boundaries(void **state)
{
    Fixture *f = *state;
    const IntCase cases[] = {
        {0, {0x00}, 1},
        {1, {0x01}, 1},
        {42, {0x2A}, 1},
        {127, {0x7F}, 1},
        {128, {0xC9, 0x00, 0x80}, 3},
        {-1, {0xFF}, 1},
        {-16, {0xF0}, 1},
        {-17, {0xC8, 0xEF}, 2},
        {-128, {0xC8, 0x80}, 2},
        {-129, {0xC9, 0xFF, 0x7F}, 3},
        {1234, {0xC9, 0x04, 0xD2}, 3},
        {32767, {0xC9, 0x7F, 0xFF}, 3},
        {32768, {0xCA, 0x00, 0x00, 0x80, 0x00}, 5},
        {-32768, {0xC9, 0x80, 0x00}, 3},
        {-32769, {0xCA, 0xFF, 0xFF, 0x7F, 0xFF}, 5},
        {INT32_MAX, {0xCA, 0x7F, 0xFF, 0xFF, 0xFF}, 5},
        {(int64_t)INT32_MAX + 1, {0xCB, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00}, 9},
        {INT32_MIN, {0xCA, 0x80, 0x00, 0x00, 0x00}, 5},
        {(int64_t)INT32_MIN - 1, {0xCB, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF}, 9},
        {INT64_MAX, {0xCB, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, 9},
        {INT64_MIN, {0xCB, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, 9},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        p2n_buf_reset(&f->buf);
        ps_pack_int(&f->buf, cases[i].v);
        assert_bytes(&f->buf, cases[i].bytes, cases[i].len);
        PsValue v = decode_all(f, f->buf.data, f->buf.len);
        assert_int_equal(v.type, PS_INT);
        assert_true(v.u.i == cases[i].v);
    }
    /* Every value in a sweep across all size classes round-trips, and uses the smallest size. */
    for (int64_t x = -70000; x <= 70000; x += 7) {
        p2n_buf_reset(&f->buf);
        ps_pack_int(&f->buf, x);
        size_t want = x >= -16 && x <= 127 ? 1 : x >= -128 && x <= 127 ? 2 : x >= -32768 && x <= 32767 ? 3 : 5;
        assert_int_equal(f->buf.len, want);
        PsValue v = decode_all(f, f->buf.data, f->buf.len);
        assert_true(v.u.i == x);
        ps_arena_reset(&f->arena);
    }
    /* Wider-than-needed encodings from other writers are accepted. */
    PsValue v = decode_all(f, BYTES(0xC8, 0x01));
    assert_int_equal(v.u.i, 1);
    v = decode_all(f, BYTES(0xCB, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE));
    assert_int_equal(v.u.i, -2);
}

static void test_scalars(void **state)
{
    Fixture *f = *state;
    ps_pack_null(&f->buf);
    ps_pack_bool(&f->buf, false);
    ps_pack_bool(&f->buf, true);
    ps_pack_float(&f->buf, 1.1);
    ps_pack_float(&f->buf, 1.23);
    ps_pack_float(&f->buf, -0.0);
    assert_bytes(&f->buf,
                 BYTES(0xC0, 0xC2, 0xC3, 0xC1, 0x3F, 0xF1, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9A, 0xC1, 0x3F,
                       0xF3, 0xAE, 0x14, 0x7A, 0xE1, 0x47, 0xAE, 0xC1, 0x80, 0, 0, 0, 0, 0, 0, 0));
    const double floats[] = {0.0, -0.0, 1.1, -1e308, 5e-324, HUGE_VAL, -HUGE_VAL, P2N_NAN, 3.141592653589793};
    for (size_t i = 0; i < sizeof(floats) / sizeof(floats[0]); i++) {
        p2n_buf_reset(&f->buf);
        ps_pack_float(&f->buf, floats[i]);
        PsValue v = decode_all(f, f->buf.data, f->buf.len);
        assert_int_equal(v.type, PS_FLOAT);
        assert_memory_equal(&v.u.f, &floats[i], sizeof(double));
    }
    PsValue v = decode_all(f, BYTES(0xC0));
    assert_int_equal(v.type, PS_NULL);
    v = decode_all(f, BYTES(0xC3));
    assert_true(v.type == PS_BOOL && v.u.b);
    v = decode_all(f, BYTES(0xC2));
    assert_true(v.type == PS_BOOL && !v.u.b);
}

/* Expected header for a string/bytes/list/map of n, tiny base 0 = none. */
static size_t size_header(uint8_t *h, uint8_t tiny, uint8_t m8, size_t n)
{
    if (tiny != 0 && n < 16) {
        h[0] = (uint8_t)(tiny | n);
        return 1;
    }
    if (n < 0x100) {
        h[0] = m8;
        h[1] = (uint8_t)n;
        return 2;
    }
    if (n < 0x10000) {
        h[0] = (uint8_t)(m8 + 1);
        h[1] = (uint8_t)(n >> 8);
        h[2] = (uint8_t)n;
        return 3;
    }
    h[0] = (uint8_t)(m8 + 2);
    h[1] = (uint8_t)(n >> 24);
    h[2] = (uint8_t)(n >> 16);
    h[3] = (uint8_t)(n >> 8);
    h[4] = (uint8_t)n;
    return 5;
}

static const size_t boundary_sizes[] = {0, 1, 15, 16, 255, 256, 65535, 65536, 70000};

static void test_string_and_bytes_boundaries(void **state)
{
    Fixture *f = *state;
    char *s = malloc(70001);
    assert_non_null(s);
    for (size_t i = 0; i < 70000; i++)
        s[i] = (char)('a' + i % 26);
    for (size_t k = 0; k < sizeof(boundary_sizes) / sizeof(boundary_sizes[0]); k++) {
        size_t n = boundary_sizes[k];
        for (int kind = 0; kind < 2; kind++) {
            uint8_t h[5];
            size_t hl = kind == 0 ? size_header(h, 0x80, 0xD0, n) : size_header(h, 0, 0xCC, n);
            p2n_buf_reset(&f->buf);
            if (kind == 0)
                ps_pack_string(&f->buf, s, n);
            else
                ps_pack_bytes(&f->buf, s, n);
            assert_false(f->buf.failed);
            assert_int_equal(f->buf.len, hl + n);
            assert_memory_equal(f->buf.data, h, hl);
            assert_memory_equal(f->buf.data + hl, s, n);
            PsValue v = decode_all(f, f->buf.data, f->buf.len);
            assert_int_equal(v.type, kind == 0 ? PS_STRING : PS_BYTES);
            assert_int_equal(v.u.str.len, n);
            assert_memory_equal(v.u.str.data, s, n);
            assert_int_equal(v.u.str.data[n], 0); /* NUL-terminated copy */
            assert_reencodes(&v, f->buf.data, f->buf.len);
            ps_arena_reset(&f->arena);
        }
    }
    free(s);
    /* the PackStream documents' examples */
    p2n_buf_reset(&f->buf);
    ps_pack_cstr(&f->buf, "");
    ps_pack_cstr(&f->buf, "A");
    ps_pack_cstr(&f->buf, "Größenmaßstäbe");
    assert_bytes(&f->buf, BYTES(0x80, 0x81, 0x41, 0xD0, 0x12, 0x47, 0x72, 0xC3, 0xB6, 0xC3, 0x9F, 0x65, 0x6E,
                                0x6D, 0x61, 0xC3, 0x9F, 0x73, 0x74, 0xC3, 0xA4, 0x62, 0x65));
}

static void test_list_and_map_boundaries(void **state)
{
    Fixture *f = *state;
    for (size_t k = 0; k < sizeof(boundary_sizes) / sizeof(boundary_sizes[0]); k++) {
        size_t n = boundary_sizes[k];
        uint8_t h[5];
        /* list of n ints i % 100 */
        size_t hl = size_header(h, 0x90, 0xD4, n);
        p2n_buf_reset(&f->buf);
        ps_pack_list_header(&f->buf, (uint32_t)n);
        for (size_t i = 0; i < n; i++)
            ps_pack_int(&f->buf, (int64_t)(i % 100));
        assert_int_equal(f->buf.len, hl + n);
        assert_memory_equal(f->buf.data, h, hl);
        PsValue v = decode_all(f, f->buf.data, f->buf.len);
        assert_int_equal(v.type, PS_LIST);
        assert_int_equal(v.u.list.len, n);
        for (size_t i = 0; i < n; i++)
            assert_true(v.u.list.items[i].type == PS_INT && v.u.list.items[i].u.i == (int64_t)(i % 100));
        assert_reencodes(&v, f->buf.data, f->buf.len);
        ps_arena_reset(&f->arena);

        /* map of n distinct keys "k<i>" -> i */
        hl = size_header(h, 0xA0, 0xD8, n);
        p2n_buf_reset(&f->buf);
        ps_pack_map_header(&f->buf, (uint32_t)n);
        for (size_t i = 0; i < n; i++) {
            char key[16];
            snprintf(key, sizeof(key), "k%zu", i);
            ps_pack_cstr(&f->buf, key);
            ps_pack_int(&f->buf, (int64_t)i);
        }
        assert_memory_equal(f->buf.data, h, hl);
        v = decode_all(f, f->buf.data, f->buf.len);
        assert_int_equal(v.type, PS_MAP);
        assert_int_equal(v.u.map.len, n);
        if (n > 0) {
            char key[16];
            snprintf(key, sizeof(key), "k%zu", n - 1);
            int64_t got = -1;
            assert_true(ps_map_get_int(&v, key, &got));
            assert_true(got == (int64_t)(n - 1));
        }
        assert_reencodes(&v, f->buf.data, f->buf.len);
        ps_arena_reset(&f->arena);
    }
    p2n_buf_reset(&f->buf);
    ps_pack_list_header(&f->buf, 3);
    ps_pack_int(&f->buf, 1);
    ps_pack_int(&f->buf, 2);
    ps_pack_int(&f->buf, 3);
    ps_pack_map_header(&f->buf, 1);
    ps_pack_cstr(&f->buf, "one");
    ps_pack_cstr(&f->buf, "eins");
    assert_bytes(&f->buf, BYTES(0x93, 0x01, 0x02, 0x03, 0xA1, 0x83, 0x6F, 0x6E, 0x65, 0x84, 0x65, 0x69, 0x6E, 0x73));
}

/* ---- Bolt messages and structures ---- */

static void test_bolt_message_bytes(void **state)
{
    Fixture *f = *state;
    /* RUN "RETURN 1 AS num" {} {} */
    ps_pack_struct_header(&f->buf, 0x10, 3);
    ps_pack_cstr(&f->buf, "RETURN 1 AS num");
    ps_pack_map_header(&f->buf, 0);
    ps_pack_map_header(&f->buf, 0);
    assert_bytes(&f->buf, BYTES(0xB3, 0x10, 0x8F, 0x52, 0x45, 0x54, 0x55, 0x52, 0x4E, 0x20, 0x31, 0x20, 0x41,
                                0x53, 0x20, 0x6E, 0x75, 0x6D, 0xA0, 0xA0));
    PsValue v = decode_all(f, f->buf.data, f->buf.len);
    assert_int_equal(v.type, PS_STRUCT);
    assert_int_equal(v.u.st.tag, 0x10);
    assert_int_equal(v.u.st.len, 3);
    assert_string_equal(v.u.st.fields[0].u.str.data, "RETURN 1 AS num");
    /* PULL {n: -1} and RESET */
    p2n_buf_reset(&f->buf);
    ps_pack_struct_header(&f->buf, 0x3F, 1);
    ps_pack_map_header(&f->buf, 1);
    ps_pack_cstr(&f->buf, "n");
    ps_pack_int(&f->buf, -1);
    ps_pack_struct_header(&f->buf, 0x0F, 0);
    assert_bytes(&f->buf, BYTES(0xB1, 0x3F, 0xA1, 0x81, 0x6E, 0xFF, 0xB0, 0x0F));
    /* a FAILURE as the server sends it */
    v = decode_all(f, BYTES(0xB1, 0x7F, 0xA2, 0x84, 'c', 'o', 'd', 'e', 0x83, 'N', 'e', 'o', 0x87, 'm', 'e', 's',
                            's', 'a', 'g', 'e', 0x82, 'h', 'i'));
    assert_int_equal(v.u.st.tag, 0x7F);
    const PsValue *meta = ps_struct_field(&v, 0x7F, 0);
    assert_non_null(meta);
    assert_string_equal(ps_map_get_str(meta, "code"), "Neo");
    assert_string_equal(ps_map_get_str(meta, "message"), "hi");
    assert_null(ps_map_get_str(meta, "nope"));
    assert_null(ps_struct_field(&v, 0x70, 0));
    assert_null(ps_struct_field(&v, 0x7F, 1));
}

static void test_bolt5_structures(void **state)
{
    Fixture *f = *state;
    P2nBuf *b = &f->buf;
    /* date 2024-05-01 = 19844 days */
    ps_pack_date(b, 19844);
    assert_bytes(b, BYTES(0xB1, 0x44, 0xC9, 0x4D, 0x84));
    p2n_buf_reset(b);
    ps_pack_time(b, 1, 3600);
    assert_bytes(b, BYTES(0xB2, 0x54, 0x01, 0xC9, 0x0E, 0x10));
    p2n_buf_reset(b);
    ps_pack_local_time(b, 0);
    assert_bytes(b, BYTES(0xB1, 0x74, 0x00));
    p2n_buf_reset(b);
    ps_pack_datetime(b, 0, 5, -3600);
    assert_bytes(b, BYTES(0xB3, 0x49, 0x00, 0x05, 0xC9, 0xF1, 0xF0));
    p2n_buf_reset(b);
    ps_pack_datetime_zone_id(b, 1, 0, "UTC");
    assert_bytes(b, BYTES(0xB3, 0x69, 0x01, 0x00, 0x83, 'U', 'T', 'C'));
    p2n_buf_reset(b);
    ps_pack_local_datetime(b, -1, 2);
    assert_bytes(b, BYTES(0xB2, 0x64, 0xFF, 0x02));
    p2n_buf_reset(b);
    ps_pack_duration(b, 14, 3, 60, 7);
    assert_bytes(b, BYTES(0xB4, 0x45, 0x0E, 0x03, 0x3C, 0x07));
    p2n_buf_reset(b);
    ps_pack_point2d(b, 7203, 1.0, 2.0);
    assert_bytes(b, BYTES(0xB3, 0x58, 0xC9, 0x1C, 0x23, 0xC1, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0, 0xC1, 0x40, 0, 0, 0,
                          0, 0, 0, 0));
    p2n_buf_reset(b);
    ps_pack_point3d(b, 9157, 0.0, 0.0, -2.0);
    assert_bytes(b, BYTES(0xB4, 0x59, 0xC9, 0x23, 0xC5, 0xC1, 0, 0, 0, 0, 0, 0, 0, 0, 0xC1, 0, 0, 0, 0, 0, 0, 0,
                          0, 0xC1, 0xC0, 0, 0, 0, 0, 0, 0, 0));

    /* all structures in one list: decode, check tags and field counts, re-encode */
    p2n_buf_reset(b);
    ps_pack_list_header(b, 13);
    ps_pack_date(b, -719528); /* 0000-01-01 */
    ps_pack_time(b, 45296789000000, 7200);
    ps_pack_local_time(b, 86399999999999);
    ps_pack_datetime(b, 1714564800, 123000000, 7200);
    ps_pack_datetime_zone_id(b, 1714564800, 0, "Europe/Berlin");
    ps_pack_local_datetime(b, 1714564800, 1);
    ps_pack_duration(b, -1, 2, INT64_MAX, 999999999);
    ps_pack_point2d(b, 4326, 13.4, 52.5);
    ps_pack_point3d(b, 4979, 13.4, 52.5, 34.0);
    /* node, relationship, unbound relationship, path */
    ps_pack_struct_header(b, PS_TAG_NODE, 4);
    ps_pack_int(b, 1);
    ps_pack_list_header(b, 1);
    ps_pack_cstr(b, "Bill");
    ps_pack_map_header(b, 1);
    ps_pack_cstr(b, "title");
    ps_pack_cstr(b, "HR 1");
    ps_pack_cstr(b, "4:abc:1");
    ps_pack_struct_header(b, PS_TAG_RELATIONSHIP, 8);
    ps_pack_int(b, 9);
    ps_pack_int(b, 1);
    ps_pack_int(b, 2);
    ps_pack_cstr(b, "SPONSORED");
    ps_pack_map_header(b, 0);
    ps_pack_cstr(b, "5:abc:9");
    ps_pack_cstr(b, "4:abc:1");
    ps_pack_cstr(b, "4:abc:2");
    ps_pack_struct_header(b, PS_TAG_UNBOUND_REL, 4);
    ps_pack_int(b, 9);
    ps_pack_cstr(b, "SPONSORED");
    ps_pack_map_header(b, 0);
    ps_pack_cstr(b, "5:abc:9");
    ps_pack_struct_header(b, PS_TAG_PATH, 3);
    ps_pack_list_header(b, 0);
    ps_pack_list_header(b, 0);
    ps_pack_list_header(b, 0);
    PsValue v = decode_all(f, b->data, b->len);
    const uint8_t tags[] = {0x44, 0x54, 0x74, 0x49, 0x69, 0x64, 0x45, 0x58, 0x59, 0x4E, 0x52, 0x72, 0x50};
    const uint8_t nf[] = {1, 2, 1, 3, 3, 2, 4, 3, 4, 4, 8, 4, 3};
    assert_int_equal(v.u.list.len, 13);
    for (int i = 0; i < 13; i++) {
        assert_int_equal(v.u.list.items[i].type, PS_STRUCT);
        assert_int_equal(v.u.list.items[i].u.st.tag, tags[i]);
        assert_int_equal(v.u.list.items[i].u.st.len, nf[i]);
    }
    assert_true(v.u.list.items[6].u.st.fields[2].u.i == INT64_MAX);
    assert_string_equal(ps_struct_field(&v.u.list.items[4], PS_TAG_DATETIME_ZONE_ID, 2)->u.str.data,
                        "Europe/Berlin");
    assert_reencodes(&v, b->data, b->len);

    /* struct size limits: 15 fields fine, 16 fails the buffer */
    p2n_buf_reset(b);
    ps_pack_struct_header(b, 0x01, 15);
    for (int i = 0; i < 15; i++)
        ps_pack_int(b, i);
    v = decode_all(f, b->data, b->len);
    assert_int_equal(v.u.st.len, 15);
    assert_int_equal(v.u.st.fields[14].u.i, 14);
    ps_pack_struct_header(b, 0x01, 16);
    assert_true(b->failed);
}

/* ---- decoder errors ---- */

static int decode_err(Fixture *f, const uint8_t *data, size_t len, const PsLimits *lim, P2nErr *err)
{
    PsValue v;
    size_t used = 12345;
    p2n_err_clear(err);
    int rc = ps_decode(&f->arena, data, len, lim, &v, &used, err);
    if (rc < 0) {
        assert_int_equal(err->code, rc);
        assert_int_equal(used, 0);
        assert_int_equal(v.type, PS_NULL);
        assert_true(err->msg[0] != 0);
    }
    return rc;
}

/* A RECORD with nested values of every kind: every proper prefix must fail cleanly. */
static void test_truncation_at_every_offset(void **state)
{
    Fixture *f = *state;
    P2nBuf *b = &f->buf;
    ps_pack_struct_header(b, 0x71, 1);
    ps_pack_list_header(b, 12);
    ps_pack_null(b);
    ps_pack_bool(b, true);
    ps_pack_int(b, -70000);
    ps_pack_int(b, INT64_MIN);
    ps_pack_float(b, 2.5);
    ps_pack_bytes(b, "\x00\x01\x02", 3);
    ps_pack_string(b, "x", 1);
    ps_pack_map_header(b, 2);
    ps_pack_cstr(b, "a");
    ps_pack_list_header(b, 2);
    ps_pack_int(b, 300);
    ps_pack_cstr(b, "sixteen chars!!!");
    ps_pack_cstr(b, "b");
    ps_pack_map_header(b, 0);
    ps_pack_datetime(b, 1714564800, 5, 3600);
    ps_pack_point2d(b, 4326, 1.0, 2.0);
    ps_pack_duration(b, 1, 2, 3, 4);
    ps_pack_string(b, "0123456789012345678901234567890123456789012345678901234567890123456789"
                      "012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
                      "0123456789012345678901234567890123456789012345678901234567890123456789",
                   230);
    decode_all(f, b->data, b->len);
    P2nErr err;
    for (size_t cut = 0; cut < b->len; cut++) {
        /* a copy of exactly `cut` bytes, so ASan catches any read past it */
        uint8_t *copy = malloc(cut ? cut : 1);
        assert_non_null(copy);
        memcpy(copy, b->data, cut);
        int rc = decode_err(f, copy, cut, NULL, &err);
        if (rc != P2N_EPROTO)
            fail_msg("prefix of %zu bytes: rc %d", cut, rc);
        assert_non_null(strstr(err.msg, "truncated"));
        free(copy);
        ps_arena_reset(&f->arena);
    }
    assert_int_equal(decode_err(f, NULL, 0, NULL, &err), P2N_EPROTO);
}

static void test_reserved_markers(void **state)
{
    Fixture *f = *state;
    P2nErr err;
    int count = 0;
    for (unsigned m = 0; m < 256; m++) {
        bool reserved = (m >= 0xC4 && m <= 0xC7) || m == 0xCF || m == 0xD3 || m == 0xD7 ||
                        (m >= 0xDB && m <= 0xDF) || (m >= 0xE0 && m <= 0xEF);
        /* enough trailing zero bytes for any valid marker's payload */
        uint8_t in[16] = {(uint8_t)m};
        int rc = decode_err(f, in, sizeof(in), NULL, &err);
        if (reserved) {
            count++;
            assert_int_equal(rc, P2N_EPROTO);
            char want[64];
            snprintf(want, sizeof(want), "reserved PackStream marker 0x%02X at offset 0", m);
            assert_string_equal(err.msg, want);
        } else {
            /* valid markers decode, or at worst find the zero padding too short for them */
            assert_true(rc == 0 || strstr(err.msg, "reserved") == NULL);
        }
        ps_arena_reset(&f->arena);
    }
    assert_int_equal(count, 4 + 1 + 1 + 1 + 5 + 16);
    /* the offset is the marker's own, deep inside a value */
    int rc = decode_err(f, BYTES(0x93, 0x01, 0xA1, 0x81, 0x6B, 0xE7), NULL, &err);
    assert_int_equal(rc, P2N_EPROTO);
    assert_string_equal(err.msg, "reserved PackStream marker 0xE7 at offset 5");
}

static void test_nesting_limit(void **state)
{
    Fixture *f = *state;
    P2nErr err;
    uint8_t in[200];
    /* 64 nested lists around an int: allowed; 65: refused */
    for (int depth = 63; depth <= 66; depth++) {
        memset(in, 0x91, (size_t)depth);
        in[depth] = 0x01;
        int rc = decode_err(f, in, (size_t)depth + 1, NULL, &err);
        if (depth <= 64) {
            assert_int_equal(rc, 0);
        } else {
            assert_int_equal(rc, P2N_EPROTO);
            assert_non_null(strstr(err.msg, "nested deeper than the limit of 64"));
        }
        ps_arena_reset(&f->arena);
    }
    /* maps and structs count too, with a custom limit */
    PsLimits lim = {.max_depth = 2, .max_collection = 0};
    assert_int_equal(decode_err(f, BYTES(0xA1, 0x81, 0x61, 0x91, 0x01), &lim, &err), 0);
    assert_int_equal(decode_err(f, BYTES(0xA1, 0x81, 0x61, 0xB1, 0x44, 0x91, 0x01), &lim, &err), P2N_EPROTO);
    assert_non_null(strstr(err.msg, "offset 5"));
    /* a deep nest of 100000 lists stops at the limit without deep recursion */
    uint8_t *deep = malloc(100001);
    assert_non_null(deep);
    memset(deep, 0x91, 100000);
    deep[100000] = 0;
    assert_int_equal(decode_err(f, deep, 100001, NULL, &err), P2N_EPROTO);
    /* a caller's huge max_depth is capped, so the recursion stays bounded */
    PsLimits huge = {.max_depth = UINT32_MAX, .max_collection = 0};
    assert_int_equal(decode_err(f, deep, 100001, &huge, &err), P2N_EPROTO);
    assert_non_null(strstr(err.msg, "limit of 1024"));
    memset(deep + 1024, 0x01, 1);
    assert_int_equal(decode_err(f, deep, 1025, &huge, &err), 0);
    free(deep);
}

static void test_size_limits(void **state)
{
    Fixture *f = *state;
    P2nErr err;
    /* arena limit */
    PsArena small;
    ps_arena_init(&small, 1024);
    char s[2000];
    memset(s, 'x', sizeof(s));
    P2nBuf *b = &f->buf;
    ps_pack_string(b, s, 900);
    PsValue v;
    size_t used;
    assert_int_equal(ps_decode(&small, b->data, b->len, NULL, &v, &used, &err), 0);
    ps_arena_reset(&small);
    p2n_buf_reset(b);
    ps_pack_string(b, s, 2000);
    assert_int_equal(ps_decode(&small, b->data, b->len, NULL, &v, &used, &err), P2N_ETOOBIG);
    assert_non_null(strstr(err.msg, "memory limit of 1024 bytes"));
    /* a list of many small strings hits it too */
    p2n_buf_reset(b);
    ps_pack_list_header(b, 200);
    for (int i = 0; i < 200; i++)
        ps_pack_cstr(b, "abc");
    ps_arena_reset(&small);
    assert_int_equal(ps_decode(&small, b->data, b->len, NULL, &v, &used, &err), P2N_ETOOBIG);
    ps_arena_free(&small);

    /* max_collection */
    PsLimits lim = {.max_depth = 0, .max_collection = 5};
    assert_int_equal(decode_err(f, BYTES(0x95, 1, 2, 3, 4, 5), &lim, &err), 0);
    assert_int_equal(decode_err(f, BYTES(0x96, 1, 2, 3, 4, 5, 6), &lim, &err), P2N_ETOOBIG);
    assert_non_null(strstr(err.msg, "limit of 5"));
    assert_int_equal(decode_err(f, BYTES(0xA6, 0x80, 1, 0x80, 1, 0x80, 1, 0x80, 1, 0x80, 1, 0x80, 1), &lim, &err),
                     P2N_ETOOBIG);

    /* lengths larger than the input: refused before any allocation */
    assert_int_equal(decode_err(f, BYTES(0xD6, 0xFF, 0xFF, 0xFF, 0xFF, 0x01), NULL, &err), P2N_EPROTO);
    assert_non_null(strstr(err.msg, "claims"));
    assert_int_equal(decode_err(f, BYTES(0xDA, 0x00, 0x10, 0x00, 0x00, 0x80, 0x01), NULL, &err), P2N_EPROTO);
    assert_int_equal(decode_err(f, BYTES(0xD2, 0x7F, 0xFF, 0xFF, 0xFF, 'a'), NULL, &err), P2N_EPROTO);
    assert_int_equal(decode_err(f, BYTES(0xCE, 0xFF, 0xFF, 0xFF, 0xFF), NULL, &err), P2N_EPROTO);
    assert_true(f->arena.used < 1024);
    /* map keys must be strings */
    assert_int_equal(decode_err(f, BYTES(0xA1, 0x01, 0x01), NULL, &err), P2N_EPROTO);
    assert_string_equal(err.msg, "PackStream map key at offset 1 is not a string (marker 0x01)");
    /* a struct header without its tag */
    assert_int_equal(decode_err(f, BYTES(0xB1), NULL, &err), P2N_EPROTO);
    /* trailing bytes are left to the caller: *used tells */
    assert_int_equal(ps_decode(&f->arena, BYTES(0x01, 0x02), NULL, &v, &used, &err), 0);
    assert_int_equal(used, 1);
}

/* ---- map keys, equality ---- */

static void test_duplicate_keys_last_wins(void **state)
{
    Fixture *f = *state;
    PsValue v = decode_all(f, BYTES(0xA3, 0x81, 'a', 0x01, 0x81, 'b', 0x02, 0x81, 'a', 0x03));
    assert_int_equal(v.u.map.len, 2);
    int64_t x = 0;
    assert_true(ps_map_get_int(&v, "a", &x));
    assert_int_equal(x, 3);
    assert_true(ps_map_get_int(&v, "b", &x));
    assert_int_equal(x, 2);
    /* larger maps use the hashed path: 40 entries over 10 keys, each key's last value wins */
    P2nBuf *b = &f->buf;
    ps_pack_map_header(b, 40);
    for (int i = 0; i < 40; i++) {
        char key[8];
        snprintf(key, sizeof(key), "k%d", i % 10);
        ps_pack_cstr(b, key);
        ps_pack_int(b, i);
    }
    v = decode_all(f, b->data, b->len);
    assert_int_equal(v.u.map.len, 10);
    for (int k = 0; k < 10; k++) {
        char key[8];
        snprintf(key, sizeof(key), "k%d", k);
        assert_true(ps_map_get_int(&v, key, &x));
        assert_int_equal(x, 30 + k);
    }
    /* keys with embedded NUL bytes are distinct from their prefix */
    v = decode_all(f, BYTES(0xA2, 0x81, 'a', 0x01, 0x82, 'a', 0x00, 0x02));
    assert_int_equal(v.u.map.len, 2);
    bool bv;
    assert_false(ps_map_get_bool(&v, "a", &bv));
    assert_null(ps_map_get(&v, "zz"));
    assert_null(ps_map_get(NULL, "a"));
}

static void test_value_equal(void **state)
{
    Fixture *f = *state;
    PsValue a = decode_all(f, BYTES(0xA2, 0x81, 'a', 0x91, 0x01, 0x81, 'b', 0xC1, 0x7F, 0xF8, 0, 0, 0, 0, 0, 0));
    PsValue b = decode_all(f, BYTES(0xA2, 0x81, 'b', 0xC1, 0x7F, 0xF8, 0, 0, 0, 0, 0, 0, 0x81, 'a', 0x91, 0x01));
    assert_true(ps_value_equal(&a, &b)); /* order-free maps, NaN equals NaN */
    PsValue c = decode_all(f, BYTES(0xA2, 0x81, 'a', 0x91, 0x02, 0x81, 'b', 0xC1, 0x7F, 0xF8, 0, 0, 0, 0, 0, 0));
    assert_false(ps_value_equal(&a, &c));
    PsValue d = decode_all(f, BYTES(0xA2, 0x81, 'a', 0x91, 0x01, 0x81, 'c', 0xC1, 0x7F, 0xF8, 0, 0, 0, 0, 0, 0));
    assert_false(ps_value_equal(&a, &d));
    PsValue i1 = decode_all(f, BYTES(0x01));
    PsValue f1 = decode_all(f, BYTES(0xC1, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0));
    assert_false(ps_value_equal(&i1, &f1));
    PsValue z = decode_all(f, BYTES(0xC1, 0, 0, 0, 0, 0, 0, 0, 0));
    PsValue nz = decode_all(f, BYTES(0xC1, 0x80, 0, 0, 0, 0, 0, 0, 0));
    assert_false(ps_value_equal(&z, &nz));
    PsValue s1 = decode_all(f, BYTES(0x82, 'a', 'b'));
    PsValue y1 = decode_all(f, BYTES(0xCC, 0x02, 'a', 'b'));
    assert_false(ps_value_equal(&s1, &y1)); /* string vs bytes */
    PsValue st1 = decode_all(f, BYTES(0xB1, 0x44, 0x01));
    PsValue st2 = decode_all(f, BYTES(0xB1, 0x74, 0x01));
    PsValue st3 = decode_all(f, BYTES(0xB1, 0x44, 0x01));
    assert_false(ps_value_equal(&st1, &st2));
    assert_true(ps_value_equal(&st1, &st3));
    assert_string_equal(ps_type_name(PS_MAP), "map");
    assert_string_equal(ps_type_name(PS_STRUCT), "structure");
}

/* ---- JSON ---- */

static char *to_json(Fixture *f, const uint8_t *data, size_t len)
{
    PsValue v = decode_all(f, data, len);
    P2nBuf out;
    p2n_buf_init(&out);
    ps_value_to_json(&out, &v);
    assert_false(out.failed);
    /* whatever the value, the output must be valid JSON */
    json_error_t jerr;
    json_t *j = json_loadb((const char *)out.data, out.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (j == NULL) {
        print_error("invalid JSON %s: %s\n", out.data, jerr.text);
        p2n_buf_free(&out);
        fail();
    }
    json_decref(j);
    return p2n_buf_steal(&out);
}

static void assert_json(Fixture *f, const P2nBuf *b, const char *want)
{
    char *got = to_json(f, b->data, b->len);
    assert_string_equal(got, want);
    free(got);
}

static void test_json_forms(void **state)
{
    Fixture *f = *state;
    P2nBuf *b = &f->buf;
#define J(want, ...)                                                                                         \
    do {                                                                                                     \
        p2n_buf_reset(b);                                                                                    \
        __VA_ARGS__;                                                                                         \
        assert_json(f, b, want);                                                                             \
    } while (0)
    J("null", ps_pack_null(b));
    J("[true,false]", (ps_pack_list_header(b, 2), ps_pack_bool(b, true), ps_pack_bool(b, false)));
    J("[9223372036854775807,-9223372036854775808,9007199254740993]",
      (ps_pack_list_header(b, 3), ps_pack_int(b, INT64_MAX), ps_pack_int(b, INT64_MIN),
       ps_pack_int(b, 9007199254740993)));
    J("[1.0,0.1,-0.0,1e+300,4.94065645841247e-324,2.5]", (ps_pack_list_header(b, 6), ps_pack_float(b, 1.0), ps_pack_float(b, 0.1),
                                         ps_pack_float(b, -0.0), ps_pack_float(b, 1e300),
                                         ps_pack_float(b, 5e-324), ps_pack_float(b, 2.5)));
    J("[{\"$float\":\"NaN\"},{\"$float\":\"Infinity\"},{\"$float\":\"-Infinity\"}]",
      (ps_pack_list_header(b, 3), ps_pack_float(b, P2N_NAN), ps_pack_float(b, HUGE_VAL), ps_pack_float(b, -HUGE_VAL)));
    J("\"a\\\"b\\\\c\\n\\u0001\\u0000é\"", ps_pack_string(b, "a\"b\\c\n\x01\0é", 10));
    J("\"x\xEF\xBF\xBDy\xEF\xBF\xBD\xEF\xBF\xBD\"", ps_pack_string(b, "x\xFFy\xED\xA0", 5)); /* bad UTF-8 */
    J("{\"$bytes\":\"\"}", ps_pack_bytes(b, "", 0));
    J("{\"$bytes\":\"AAEC/w==\"}", ps_pack_bytes(b, "\x00\x01\x02\xFF", 4));
    J("{\"$bytes\":\"Zm9vYg==\"}", ps_pack_bytes(b, "foob", 4));
    J("{\"$bytes\":\"Zm9vYmE=\"}", ps_pack_bytes(b, "fooba", 5));
    J("{\"$bytes\":\"Zm9vYmFy\"}", ps_pack_bytes(b, "foobar", 6));
    J("{\"a\":{},\"b\\u0001\":[]}", (ps_pack_map_header(b, 2), ps_pack_cstr(b, "a"), ps_pack_map_header(b, 0),
                                     ps_pack_string(b, "b\1", 2), ps_pack_list_header(b, 0)));
    J("{\"$date\":\"2024-05-01\"}", ps_pack_date(b, 19844));
    J("{\"$date\":\"1970-01-01\"}", ps_pack_date(b, 0));
    J("{\"$date\":\"1969-12-31\"}", ps_pack_date(b, -1));
    J("{\"$date\":\"0000-03-01\"}", ps_pack_date(b, -719468));
    J("{\"$date\":\"-0001-12-31\"}", ps_pack_date(b, -719529));
    J("{\"$date\":\"+10000-01-01\"}", ps_pack_date(b, 2932897));
    J("{\"$time\":\"12:34:56.789+02:00\"}", ps_pack_time(b, 45296789000000, 7200));
    J("{\"$time\":\"00:00:00-05:30:15\"}", ps_pack_time(b, 0, -19815));
    J("{\"$local_time\":\"23:59:59.999999999\"}", ps_pack_local_time(b, 86399999999999));
    J("{\"$datetime\":\"2024-05-01T14:00:00.123+02:00\"}", ps_pack_datetime(b, 1714564800, 123000000, 7200));
    J("{\"$datetime\":\"2024-05-01T12:00:00Z\"}", ps_pack_datetime(b, 1714564800, 0, 0));
    J("{\"$datetime\":\"1969-12-31T23:59:59.000000001Z\"}", ps_pack_datetime(b, -1, 1, 0));
    J("{\"$datetime\":\"2024-05-01T12:00:00Z[Europe/Berlin]\"}",
      ps_pack_datetime_zone_id(b, 1714564800, 0, "Europe/Berlin"));
    J("{\"$local_datetime\":\"2024-05-01T12:00:00.5\"}", ps_pack_local_datetime(b, 1714564800, 500000000));
    J("{\"$duration\":{\"months\":14,\"days\":-3,\"seconds\":3600,\"nanoseconds\":5}}",
      ps_pack_duration(b, 14, -3, 3600, 5));
    J("{\"$point\":{\"srid\":4326,\"x\":13.4,\"y\":52.5}}", ps_pack_point2d(b, 4326, 13.4, 52.5));
    J("{\"$point\":{\"srid\":4979,\"x\":1.0,\"y\":2.0,\"z\":{\"$float\":\"NaN\"}}}",
      ps_pack_point3d(b, 4979, 1.0, 2.0, P2N_NAN));
    /* out-of-range or mis-shaped temporals fall back to the generic form */
    J("{\"$struct\":{\"tag\":73,\"fields\":[0,1000000000,0]}}", ps_pack_datetime(b, 0, 1000000000, 0));
    J("{\"$struct\":{\"tag\":68,\"fields\":[9223372036854775807]}}", ps_pack_date(b, INT64_MAX));
    J("{\"$struct\":{\"tag\":68,\"fields\":[\"x\"]}}", (ps_pack_struct_header(b, 0x44, 1), ps_pack_cstr(b, "x")));
    J("{\"$struct\":{\"tag\":112,\"fields\":[{}]}}", (ps_pack_struct_header(b, 0x70, 1), ps_pack_map_header(b, 0)));
    J("{\"$node\":{\"id\":1,\"element_id\":\"4:x:1\",\"labels\":[\"Bill\"],\"properties\":{\"n\":1}}}",
      (ps_pack_struct_header(b, PS_TAG_NODE, 4), ps_pack_int(b, 1), ps_pack_list_header(b, 1),
       ps_pack_cstr(b, "Bill"), ps_pack_map_header(b, 1), ps_pack_cstr(b, "n"), ps_pack_int(b, 1),
       ps_pack_cstr(b, "4:x:1")));
    J("{\"$relationship\":{\"id\":9,\"element_id\":\"5:x:9\",\"type\":\"R\",\"start_id\":1,"
      "\"start_element_id\":\"4:x:1\",\"end_id\":2,\"end_element_id\":\"4:x:2\",\"properties\":{}}}",
      (ps_pack_struct_header(b, PS_TAG_RELATIONSHIP, 8), ps_pack_int(b, 9), ps_pack_int(b, 1), ps_pack_int(b, 2),
       ps_pack_cstr(b, "R"), ps_pack_map_header(b, 0), ps_pack_cstr(b, "5:x:9"), ps_pack_cstr(b, "4:x:1"),
       ps_pack_cstr(b, "4:x:2")));
    J("{\"$unbound_relationship\":{\"id\":9,\"element_id\":\"5:x:9\",\"type\":\"R\",\"properties\":{}}}",
      (ps_pack_struct_header(b, PS_TAG_UNBOUND_REL, 4), ps_pack_int(b, 9), ps_pack_cstr(b, "R"),
       ps_pack_map_header(b, 0), ps_pack_cstr(b, "5:x:9")));
#undef J
}

static void pack_node(P2nBuf *b, int64_t id)
{
    char eid[16];
    snprintf(eid, sizeof(eid), "4:x:%d", (int)id);
    ps_pack_struct_header(b, PS_TAG_NODE, 4);
    ps_pack_int(b, id);
    ps_pack_list_header(b, 0);
    ps_pack_map_header(b, 0);
    ps_pack_cstr(b, eid);
}

static void pack_unbound(P2nBuf *b, int64_t id)
{
    ps_pack_struct_header(b, PS_TAG_UNBOUND_REL, 4);
    ps_pack_int(b, id);
    ps_pack_cstr(b, "R");
    ps_pack_map_header(b, 0);
    ps_pack_cstr(b, "5:x:9");
}

/* (a)-[r1]->(b)<-[r2]-(c): indices [1, 1, -2, 2] */
static void test_json_path(void **state)
{
    Fixture *f = *state;
    P2nBuf *b = &f->buf;
    ps_pack_struct_header(b, PS_TAG_PATH, 3);
    ps_pack_list_header(b, 3);
    pack_node(b, 10);
    pack_node(b, 11);
    pack_node(b, 12);
    ps_pack_list_header(b, 2);
    pack_unbound(b, 20);
    pack_unbound(b, 21);
    ps_pack_list_header(b, 4);
    ps_pack_int(b, 1);
    ps_pack_int(b, 1);
    ps_pack_int(b, -2);
    ps_pack_int(b, 2);
    char *got = to_json(f, b->data, b->len);
    json_error_t jerr;
    json_t *j = json_loads(got, 0, &jerr);
    assert_non_null(j);
    json_t *p = json_object_get(j, "$path");
    json_t *nodes = json_object_get(p, "nodes");
    json_t *rels = json_object_get(p, "relationships");
    assert_int_equal(json_array_size(nodes), 3);
    assert_int_equal(json_array_size(rels), 2);
    json_t *r1 = json_object_get(json_array_get(rels, 0), "$relationship");
    json_t *r2 = json_object_get(json_array_get(rels, 1), "$relationship");
    assert_int_equal(json_integer_value(json_object_get(r1, "id")), 20);
    assert_int_equal(json_integer_value(json_object_get(r1, "start_id")), 10);
    assert_int_equal(json_integer_value(json_object_get(r1, "end_id")), 11);
    assert_int_equal(json_integer_value(json_object_get(r2, "id")), 21);
    assert_int_equal(json_integer_value(json_object_get(r2, "start_id")), 12); /* reversed */
    assert_int_equal(json_integer_value(json_object_get(r2, "end_id")), 11);
    assert_string_equal(json_string_value(json_object_get(r2, "end_element_id")), "4:x:11");
    json_decref(j);
    free(got);
    /* an index out of range: generic form, still valid JSON */
    b->data[b->len - 1] = 0x05; /* node index 5 of 3 */
    got = to_json(f, b->data, b->len);
    assert_non_null(strstr(got, "{\"$struct\":{\"tag\":80,"));
    free(got);
}

/* ---- random round trips ---- */

static uint64_t rng_state = 88172645463325252ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* A random value tree in the arena; sizes cluster around the encoding boundaries. */
static void random_value(PsArena *a, PsValue *v, int depth)
{
    static const uint32_t sizes[] = {0, 1, 15, 16, 17, 255, 256};
    static const int64_t ints[] = {0, 127, 128, -16, -17, -128, -129, 32767, 32768, -32768, -32769,
                                   INT32_MAX, (int64_t)INT32_MAX + 1, INT32_MIN, (int64_t)INT32_MIN - 1,
                                   INT64_MAX, INT64_MIN};
    unsigned kind = (unsigned)(rng() % (depth < 3 ? 9u : 6u));
    uint32_t n = depth < 2 ? sizes[rng() % 7] : (uint32_t)(rng() % 4);
    switch (kind) {
    case 0:
        v->type = PS_NULL;
        break;
    case 1:
        v->type = PS_BOOL;
        v->u.b = rng() & 1;
        break;
    case 2:
        v->type = PS_INT;
        v->u.i = rng() & 1 ? ints[rng() % (sizeof(ints) / sizeof(ints[0]))] : (int64_t)rng() >> (rng() % 64);
        break;
    case 3: {
        v->type = PS_FLOAT;
        uint64_t bits = rng();
        memcpy(&v->u.f, &bits, sizeof(bits)); /* any bit pattern, NaNs and denormals included */
        break;
    }
    case 4:
    case 5: {
        v->type = kind == 4 ? PS_STRING : PS_BYTES;
        char *p = ps_arena_alloc(a, (size_t)n + 1);
        assert_non_null(p);
        for (uint32_t i = 0; i < n; i++)
            p[i] = (char)rng();
        p[n] = 0;
        v->u.str.data = p;
        v->u.str.len = n;
        break;
    }
    case 6:
        v->type = PS_LIST;
        v->u.list.len = n;
        v->u.list.items = n ? ps_arena_alloc(a, n * sizeof(PsValue)) : NULL;
        for (uint32_t i = 0; i < n; i++)
            random_value(a, &v->u.list.items[i], depth + 1);
        break;
    case 7:
        v->type = PS_MAP;
        v->u.map.len = n;
        v->u.map.entries = n ? ps_arena_alloc(a, n * sizeof(PsMapEntry)) : NULL;
        for (uint32_t i = 0; i < n; i++) {
            char *k = ps_arena_alloc(a, 16);
            assert_non_null(k);
            int kl = snprintf(k, 16, "k%u", i); /* unique keys */
            v->u.map.entries[i].key = k;
            v->u.map.entries[i].key_len = (uint32_t)kl;
            random_value(a, &v->u.map.entries[i].value, depth + 1);
        }
        break;
    default: {
        static const uint8_t tags[] = {0x4E, 0x52, 0x72, 0x50, 0x44, 0x54, 0x74, 0x49, 0x69, 0x64, 0x45, 0x58, 0x59, 0x01};
        v->type = PS_STRUCT;
        v->u.st.tag = tags[rng() % sizeof(tags)];
        v->u.st.len = (uint8_t)(rng() % 16);
        v->u.st.fields = v->u.st.len ? ps_arena_alloc(a, v->u.st.len * sizeof(PsValue)) : NULL;
        for (uint8_t i = 0; i < v->u.st.len; i++)
            random_value(a, &v->u.st.fields[i], depth + 1);
        break;
    }
    }
}

static void test_random_round_trips(void **state)
{
    Fixture *f = *state;
    PsArena gen;
    ps_arena_init(&gen, 0);
    P2nBuf again, json;
    p2n_buf_init(&again);
    p2n_buf_init(&json);
    for (int iter = 0; iter < 1000; iter++) {
        PsValue v;
        random_value(&gen, &v, 0);
        p2n_buf_reset(&f->buf);
        ps_pack_value(&f->buf, &v);
        assert_false(f->buf.failed);
        PsValue back = decode_all(f, f->buf.data, f->buf.len);
        assert_true(ps_value_equal(&v, &back));
        p2n_buf_reset(&again);
        ps_pack_value(&again, &back);
        assert_int_equal(again.len, f->buf.len);
        assert_memory_equal(again.data, f->buf.data, f->buf.len);
        /* the JSON form of anything is valid JSON */
        p2n_buf_reset(&json);
        ps_value_to_json(&json, &back);
        assert_false(json.failed);
        json_error_t jerr;
        json_t *j = json_loadb((const char *)json.data, json.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        if (j == NULL && strstr(jerr.text, "NUL byte in object key") == NULL)
            fail_msg("invalid JSON at iteration %d: %s", iter, jerr.text);
        json_decref(j);
        ps_arena_reset(&gen);
        ps_arena_reset(&f->arena);
    }
    p2n_buf_free(&again);
    p2n_buf_free(&json);
    ps_arena_free(&gen);
}

/* ---- encoder failure, arena ---- */

static void test_encoder_buffer_max(void **state)
{
    (void)state;
    P2nBuf b;
    p2n_buf_init(&b);
    b.max = 10;
    ps_pack_int(&b, INT64_MAX); /* 9 bytes */
    assert_false(b.failed);
    ps_pack_int(&b, 1);
    assert_false(b.failed);
    ps_pack_int(&b, 2);
    assert_true(b.failed);
    assert_int_equal(b.len, 10);
    ps_pack_cstr(&b, "more");
    assert_int_equal(b.len, 10);
    p2n_buf_free(&b);
    /* many values into a growing buffer: no failure, exact length */
    p2n_buf_init(&b);
    for (int i = 0; i < 100000; i++)
        ps_pack_int(&b, 1000);
    assert_false(b.failed);
    assert_int_equal(b.len, 300000);
    p2n_buf_free(&b);
}

static void test_arena(void **state)
{
    (void)state;
    PsArena a;
    ps_arena_init(&a, 0);
    for (int round = 0; round < 3; round++) {
        uint8_t *prev = NULL;
        for (size_t i = 1; i < 5000; i++) {
            uint8_t *p = ps_arena_alloc(&a, i % 37);
            assert_non_null(p);
            assert_int_equal((uintptr_t)p % 8, 0);
            memset(p, 0xAB, i % 37);
            assert_true(p != prev);
            prev = p;
        }
        uint8_t *big = ps_arena_alloc(&a, 3u << 20); /* oversize block */
        assert_non_null(big);
        memset(big, 1, 3u << 20);
        assert_true(a.used >= (3u << 20));
        ps_arena_reset(&a);
        assert_int_equal(a.used, 0);
        assert_non_null(a.head);
    }
    ps_arena_free(&a);
    assert_null(a.head);
    ps_arena_free(&a);
    PsArena lim;
    ps_arena_init(&lim, 64);
    assert_non_null(ps_arena_alloc(&lim, 60));
    assert_null(ps_arena_alloc(&lim, 8));
    ps_arena_free(&lim);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_int_boundaries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scalars, setup, teardown),
        cmocka_unit_test_setup_teardown(test_string_and_bytes_boundaries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_and_map_boundaries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bolt_message_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bolt5_structures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncation_at_every_offset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reserved_markers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nesting_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_size_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_keys_last_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_value_equal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_round_trips, setup, teardown),
        cmocka_unit_test(test_encoder_buffer_max),
        cmocka_unit_test(test_arena),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
