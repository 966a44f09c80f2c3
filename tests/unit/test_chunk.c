/* Unit tests for src/bolt/chunk.c: Bolt chunk framing and reassembly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bolt/chunk.h"
#include "packstream/packstream.h"

/* The examples of ../shared/reference/bolt.md, built with the encoder and the chunker. */
static void test_chunk_reset_and_pull_exact_bytes(void **state)
{
    (void)state;
    P2nBuf msg, out;
    p2n_buf_init(&msg);
    p2n_buf_init(&out);

    ps_pack_struct_header(&msg, 0x0F, 0); /* RESET */
    bolt_chunk_message(&out, msg.data, msg.len);
    const uint8_t reset[] = {0x00, 0x02, 0xB0, 0x0F, 0x00, 0x00};
    assert_false(out.failed);
    assert_int_equal(out.len, sizeof(reset));
    assert_memory_equal(out.data, reset, sizeof(reset));

    p2n_buf_reset(&msg);
    p2n_buf_reset(&out);
    ps_pack_struct_header(&msg, 0x3F, 1); /* PULL {n: -1} */
    ps_pack_map_header(&msg, 1);
    ps_pack_cstr(&msg, "n");
    ps_pack_int(&msg, -1);
    bolt_chunk_message(&out, msg.data, msg.len);
    const uint8_t pull[] = {0x00, 0x06, 0xB1, 0x3F, 0xA1, 0x81, 0x6E, 0xFF, 0x00, 0x00};
    assert_int_equal(out.len, sizeof(pull));
    assert_memory_equal(out.data, pull, sizeof(pull));

    p2n_buf_free(&msg);
    p2n_buf_free(&out);
}

static uint8_t *make_pattern(size_t n)
{
    uint8_t *p = malloc(n);
    assert_non_null(p);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)x;
    }
    return p;
}

/* Splits the frame of a message of n bytes and checks every chunk header. */
static void check_frame_layout(size_t n)
{
    uint8_t *m = make_pattern(n);
    P2nBuf out;
    p2n_buf_init(&out);
    bolt_chunk_message(&out, m, n);
    assert_false(out.failed);
    size_t pos = 0, got = 0;
    for (;;) {
        assert_true(pos + 2 <= out.len);
        size_t size = ((size_t)out.data[pos] << 8) | out.data[pos + 1];
        pos += 2;
        if (size == 0)
            break;
        assert_true(size <= BOLT_MAX_CHUNK);
        /* every chunk but the last is full */
        if (got + size < n)
            assert_int_equal(size, BOLT_MAX_CHUNK);
        assert_memory_equal(out.data + pos, m + got, size);
        pos += size;
        got += size;
    }
    assert_int_equal(pos, out.len);
    assert_int_equal(got, n);
    size_t chunks = (n + BOLT_MAX_CHUNK - 1) / BOLT_MAX_CHUNK;
    assert_int_equal(out.len, n + 2 * chunks + 2);
    p2n_buf_free(&out);
    free(m);
}

static void test_chunk_boundaries(void **state)
{
    (void)state;
    const size_t sizes[] = {1, 2, 65534, 65535, 65536, 131070, 131071, 200000};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        check_frame_layout(sizes[i]);
    /* empty message: only the end marker (a NOOP to the peer) */
    P2nBuf out;
    p2n_buf_init(&out);
    bolt_chunk_message(&out, NULL, 0);
    assert_int_equal(out.len, 2);
    assert_int_equal(out.data[0], 0);
    assert_int_equal(out.data[1], 0);
    p2n_buf_free(&out);
}

/* A 200 KB message spans four chunks and is rebuilt whether fed whole or one byte at a time. */
static void test_dechunk_200k_whole_and_bytewise(void **state)
{
    (void)state;
    const size_t n = 200 * 1024;
    uint8_t *m = make_pattern(n);
    P2nBuf out;
    p2n_buf_init(&out);
    bolt_chunk_message(&out, m, n);
    bolt_chunk_message(&out, (const uint8_t *)"\xB0\x0F", 2); /* a second message behind it */

    BoltDechunker d;
    bolt_dechunker_init(&d, 0);
    P2nErr err;
    size_t used = 0, len = 0;
    int rc = bolt_dechunker_feed(&d, out.data, out.len, &used, &err);
    assert_int_equal(rc, 1);
    assert_int_equal(used, n + 2 * 4 + 2);
    const uint8_t *got = bolt_dechunker_message(&d, &len);
    assert_non_null(got);
    assert_int_equal(len, n);
    assert_memory_equal(got, m, n);
    /* while ready, more input is not consumed */
    size_t used2 = 99;
    assert_int_equal(bolt_dechunker_feed(&d, out.data + used, out.len - used, &used2, &err), 1);
    assert_int_equal(used2, 0);
    bolt_dechunker_next(&d);
    assert_null(bolt_dechunker_message(&d, &len));
    assert_int_equal(bolt_dechunker_feed(&d, out.data + used, out.len - used, &used2, &err), 1);
    assert_int_equal(used + used2, out.len);
    got = bolt_dechunker_message(&d, &len);
    assert_int_equal(len, 2);
    assert_memory_equal(got, "\xB0\x0F", 2);
    bolt_dechunker_next(&d);

    /* one byte at a time */
    int messages = 0;
    for (size_t i = 0; i < out.len; i++) {
        rc = bolt_dechunker_feed(&d, out.data + i, 1, &used, &err);
        assert_true(rc == 0 || rc == 1);
        assert_int_equal(used, 1);
        if (rc == 1) {
            got = bolt_dechunker_message(&d, &len);
            if (messages == 0) {
                assert_int_equal(i, n + 2 * 4 + 1);
                assert_int_equal(len, n);
                assert_memory_equal(got, m, n);
            } else {
                assert_int_equal(i, out.len - 1);
                assert_int_equal(len, 2);
            }
            messages++;
            bolt_dechunker_next(&d);
        }
    }
    assert_int_equal(messages, 2);
    bolt_dechunker_free(&d);
    p2n_buf_free(&out);
    free(m);
}

static void test_dechunk_noops_skipped(void **state)
{
    (void)state;
    /* NOOP, NOOP, RESET split in two chunks, NOOP, SUCCESS {} */
    const uint8_t in[] = {0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xB0, 0x00, 0x01, 0x0F, 0x00, 0x00,
                          0x00, 0x00, 0x00, 0x03, 0xB1, 0x70, 0xA0, 0x00, 0x00};
    BoltDechunker d;
    bolt_dechunker_init(&d, 0);
    P2nErr err;
    size_t used, len;
    assert_int_equal(bolt_dechunker_feed(&d, in, sizeof(in), &used, &err), 1);
    assert_int_equal(used, 12);
    const uint8_t *m = bolt_dechunker_message(&d, &len);
    assert_int_equal(len, 2);
    assert_memory_equal(m, "\xB0\x0F", 2);
    bolt_dechunker_next(&d);
    size_t used2;
    assert_int_equal(bolt_dechunker_feed(&d, in + used, sizeof(in) - used, &used2, &err), 1);
    assert_int_equal(used + used2, sizeof(in));
    m = bolt_dechunker_message(&d, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(m, "\xB1\x70\xA0", 3);
    bolt_dechunker_next(&d);
    /* only NOOPs: consumed, nothing ready */
    const uint8_t noops[] = {0, 0, 0, 0, 0};
    assert_int_equal(bolt_dechunker_feed(&d, noops, sizeof(noops), &used, &err), 0);
    assert_int_equal(used, sizeof(noops));
    assert_null(bolt_dechunker_message(&d, &len));
    /* the dangling half header is kept: 00 | 02 B0 0F 00 00 */
    const uint8_t rest[] = {0x02, 0xB0, 0x0F, 0x00, 0x00};
    assert_int_equal(bolt_dechunker_feed(&d, rest, sizeof(rest), &used, &err), 1);
    m = bolt_dechunker_message(&d, &len);
    assert_int_equal(len, 2);
    bolt_dechunker_free(&d);
}

static void test_dechunk_max_message(void **state)
{
    (void)state;
    uint8_t *m = make_pattern(3000);
    P2nBuf out;
    p2n_buf_init(&out);
    bolt_chunk_message(&out, m, 1000); /* exactly at the limit: fine */
    BoltDechunker d;
    bolt_dechunker_init(&d, 1000);
    P2nErr err;
    size_t used, len;
    assert_int_equal(bolt_dechunker_feed(&d, out.data, out.len, &used, &err), 1);
    assert_non_null(bolt_dechunker_message(&d, &len));
    assert_int_equal(len, 1000);
    bolt_dechunker_next(&d);

    /* 1001 bytes in two chunks: the second chunk's header pushes it past the limit */
    p2n_buf_reset(&out);
    const uint8_t h1[] = {0x01, 0xF4}; /* 500 */
    const uint8_t h2[] = {0x01, 0xF5}; /* 501 */
    p2n_buf_append(&out, h1, 2);
    p2n_buf_append(&out, m, 500);
    p2n_buf_append(&out, h2, 2);
    p2n_buf_append(&out, m, 501);
    p2n_buf_append(&out, "\0\0", 2);
    int rc = bolt_dechunker_feed(&d, out.data, out.len, &used, &err);
    assert_int_equal(rc, P2N_ETOOBIG);
    assert_int_equal(err.code, P2N_ETOOBIG);
    assert_non_null(strstr(err.msg, "1000"));
    /* the stream cannot be resynchronised: further feeds fail */
    assert_int_equal(bolt_dechunker_feed(&d, out.data, out.len, &used, &err), P2N_EPROTO);
    assert_int_equal(used, 0);
    bolt_dechunker_free(&d);

    /* default limit is 256 MiB: a chunk header alone does not allocate past it */
    bolt_dechunker_init(&d, 0);
    assert_int_equal(d.max_message, (size_t)256 * 1024 * 1024);
    bolt_dechunker_free(&d);
    p2n_buf_free(&out);
    free(m);
}

/* Many small messages in one buffer, fed in ragged pieces, come out in order. */
static void test_dechunk_ragged_pieces(void **state)
{
    (void)state;
    P2nBuf out, msg;
    p2n_buf_init(&out);
    p2n_buf_init(&msg);
    for (int i = 0; i < 300; i++) {
        p2n_buf_reset(&msg);
        ps_pack_struct_header(&msg, 0x71, 1);
        ps_pack_list_header(&msg, 1);
        ps_pack_int(&msg, i * 1000);
        bolt_chunk_message(&out, msg.data, msg.len);
        if (i % 7 == 0)
            p2n_buf_append(&out, "\0\0", 2);
    }
    BoltDechunker d;
    bolt_dechunker_init(&d, 0);
    P2nErr err;
    size_t pos = 0, piece = 1;
    int seen = 0;
    while (pos < out.len) {
        size_t n = out.len - pos < piece ? out.len - pos : piece;
        size_t used;
        int rc = bolt_dechunker_feed(&d, out.data + pos, n, &used, &err);
        assert_true(rc >= 0);
        pos += used;
        if (rc == 1) {
            size_t len;
            const uint8_t *m = bolt_dechunker_message(&d, &len);
            p2n_buf_reset(&msg);
            ps_pack_struct_header(&msg, 0x71, 1);
            ps_pack_list_header(&msg, 1);
            ps_pack_int(&msg, seen * 1000);
            assert_int_equal(len, msg.len);
            assert_memory_equal(m, msg.data, len);
            seen++;
            bolt_dechunker_next(&d);
        }
        piece = piece % 13 + 1;
    }
    assert_int_equal(seen, 300);
    bolt_dechunker_free(&d);
    p2n_buf_free(&out);
    p2n_buf_free(&msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chunk_reset_and_pull_exact_bytes),
        cmocka_unit_test(test_chunk_boundaries),
        cmocka_unit_test(test_dechunk_200k_whole_and_bytewise),
        cmocka_unit_test(test_dechunk_noops_skipped),
        cmocka_unit_test(test_dechunk_max_message),
        cmocka_unit_test(test_dechunk_ragged_pieces),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
