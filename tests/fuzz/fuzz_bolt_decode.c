/*
 * Fuzz target: Bolt framing and PackStream decoding of untrusted server bytes.
 * The input is read three ways: as a chunked stream (fed in pieces whose sizes come from the
 * input itself) with each reassembled message decoded; as one raw PackStream value; and every
 * decoded value is re-encoded, re-decoded (must be equal), and printed as JSON (must not fail).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bolt/chunk.h"
#include "packstream/packstream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_value(PsArena *arena, const PsValue *v)
{
    P2nBuf enc, json;
    p2n_buf_init(&enc);
    p2n_buf_init(&json);
    ps_pack_value(&enc, v);
    if (enc.failed)
        abort();
    PsArena a2;
    ps_arena_init(&a2, 0);
    PsValue back;
    size_t used;
    P2nErr err;
    /* what we decoded we can re-encode and decode again to an equal value */
    if (ps_decode(&a2, enc.data, enc.len, NULL, &back, &used, &err) != 0 || used != enc.len ||
        !ps_value_equal(v, &back))
        abort();
    ps_value_to_json(&json, v);
    if (json.failed || json.len == 0)
        abort();
    ps_arena_free(&a2);
    p2n_buf_free(&enc);
    p2n_buf_free(&json);
    (void)arena;
}

static void decode_all(PsArena *arena, const uint8_t *p, size_t len)
{
    /* a small arena limit and collection limit so the limit paths are exercised too */
    PsLimits lim = {.max_depth = 0, .max_collection = 0};
    size_t pos = 0;
    while (pos < len) {
        PsValue v;
        size_t used = 0;
        P2nErr err;
        if (ps_decode(arena, p + pos, len - pos, &lim, &v, &used, &err) != 0) {
            if (err.code >= 0 || err.msg[0] == 0)
                abort();
            break;
        }
        if (used == 0 || used > len - pos)
            abort();
        check_value(arena, &v);
        pos += used;
        ps_arena_reset(arena);
    }
    ps_arena_reset(arena);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    PsArena arena;
    ps_arena_init(&arena, 1u << 20);

    /* 1: raw PackStream values back to back */
    decode_all(&arena, data, size);

    /* 2: a chunked stream, fed in pieces of 1..(first byte % 64 + 1) bytes */
    BoltDechunker d;
    bolt_dechunker_init(&d, 1u << 16);
    size_t step = size > 0 ? (size_t)(data[0] % 64u) + 1 : 1;
    size_t pos = 0, piece = 1;
    while (pos < size) {
        size_t n = size - pos < piece ? size - pos : piece;
        size_t used = 0;
        P2nErr err;
        int rc = bolt_dechunker_feed(&d, data + pos, n, &used, &err);
        if (used > n)
            abort();
        pos += used;
        if (rc < 0)
            break;
        if (rc == 1) {
            size_t mlen = 0;
            const uint8_t *m = bolt_dechunker_message(&d, &mlen);
            if (m == NULL || mlen == 0 || mlen > (1u << 16))
                abort();
            decode_all(&arena, m, mlen);
            bolt_dechunker_next(&d);
        } else if (used != n) {
            abort(); /* 0 means all input was taken */
        }
        piece = piece % step + 1;
    }
    bolt_dechunker_free(&d);
    ps_arena_free(&arena);
    return 0;
}
