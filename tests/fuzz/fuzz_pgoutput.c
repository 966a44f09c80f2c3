/*
 * Fuzz target: the logical capture's decoding of pgoutput messages (untrusted server bytes).
 * The input is a sequence of messages, each prefixed by a 2-byte big-endian length; each is
 * decoded by pgo_decode() and fed to a logical decoder with two captured tables (one composite
 * key), so relation descriptions, key lookups and id building are all reached.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pg/logical.h"
#include "pg/pgoutput.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_event(void *ctx, char op, const char *type, const char *id, int64_t t)
{
    (void)t;
    size_t *n = ctx;
    if ((op != 'u' && op != 'd' && op != 't') || !type || !id)
        abort();
    *n += strlen(id);
    return 0;
}

static const char *const k1[] = {"id"};
static const char *const k2[] = {"a", "b"};
static const PgLogicalTable tables[] = {
    {"public", "t", "T", k1, 1, NULL},
    {"s", "u", "U", k2, 2, NULL},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static PgoDecoder *pgo;
    if (!pgo && !(pgo = malloc(sizeof(*pgo))))
        return 0;
    PgLogicalDecoder *d = pg_logical_decoder_new(tables, 2);
    if (!d)
        return 0;
    size_t total = 0;
    while (size >= 2) {
        size_t len = ((size_t)data[0] << 8) | data[1];
        data += 2;
        size -= 2;
        if (len > size)
            len = size;
        /* an exact-size copy, so that any read past the message is caught */
        uint8_t *msg = malloc(len ? len : 1);
        if (!msg)
            break;
        memcpy(msg, data, len);
        PgoMsg m;
        P2nErr err;
        if (pgo_decode(pgo, msg, len, &m, &err) == 0 && m.kind == PGO_TRUNCATE)
            for (uint32_t i = 0; i < m.nrelids; i++)
                total += pgo_truncate_relid(&m, i) & 1;
        (void)pg_logical_decoder_feed(d, msg, len, on_event, &total, &err);
        free(msg);
        data += len;
        size -= len;
    }
    pg_logical_decoder_free(d);
    return 0;
}
