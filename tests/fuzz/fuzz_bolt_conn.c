/*
 * Fuzz target: the Bolt connection's state machine fed untrusted server bytes. The input is
 * everything "the server" says (handshake reply, then chunked messages); a fake transport serves
 * it in pieces whose sizes come from the first input byte, and swallows what the client writes.
 * The client runs a fixed session: connect, stream a query (small PULLs), a pipelined explicit
 * transaction, ROUTE, an auto-commit exec, RESET, close. Whatever the bytes, the client must
 * return errors, never crash, leak, or loop.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bolt/bolt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct FuzzWire {
    const uint8_t *in;
    size_t len, pos;
    size_t piece; /* bytes per read */
    size_t written;
} FuzzWire;

static int fw_open(void *ctx, const char *host, uint16_t port, const BoltTlsOptions *tls, int timeout_ms,
                   BoltTransport **out, P2nErr *err)
{
    (void)host, (void)port, (void)tls, (void)timeout_ms, (void)err;
    *out = (BoltTransport *)ctx;
    return 0;
}

static int fw_read(BoltTransport *t, void *buf, size_t len, int timeout_ms, size_t *got, P2nErr *err)
{
    (void)timeout_ms;
    FuzzWire *w = (FuzzWire *)(void *)t;
    if (w->pos >= w->len)
        return p2n_err_set(err, P2N_ECONNLOST, "server closed the connection");
    size_t n = w->len - w->pos;
    if (n > len)
        n = len;
    if (n > w->piece)
        n = w->piece;
    memcpy(buf, w->in + w->pos, n);
    w->pos += n;
    *got = n;
    return 0;
}

static int fw_write(BoltTransport *t, const void *buf, size_t len, int timeout_ms, size_t *written, P2nErr *err)
{
    (void)buf, (void)timeout_ms, (void)err;
    FuzzWire *w = (FuzzWire *)(void *)t;
    w->written += len;
    *written = len;
    return 0;
}

static void fw_close(BoltTransport *t)
{
    (void)t;
}

static const BoltTransportOps fw_ops = {fw_open, fw_read, fw_write, fw_close};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const size_t pieces[] = {65536, 1, 2, 3, 7, 64, 1000, 4096};
    FuzzWire w = {data + 1, size - 1, 0, pieces[data[0] & 7], 0};
    BoltConfig cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.uri = (data[0] & 8) ? "neo4j://fuzz:7687?r=1" : "bolt://fuzz:7687";
    cfg.user = "neo4j";
    cfg.password = "fuzz-password";
    cfg.database = (data[0] & 16) ? "neo4j" : NULL;
    cfg.fetch_size = 2;
    cfg.max_message = 1 << 20;
    cfg.transport = &fw_ops;
    cfg.transport_ctx = &w;
    BoltConn *c = NULL;
    P2nErr err;
    if (bolt_conn_open(&cfg, &c, &err) < 0)
        return 0;
    const PsValue *rec;
    int rc;
    size_t nf;
    if (bolt_run(c, "UNWIND range(1, 3) AS x RETURN x", NULL, 0, NULL, &err) == 0) {
        (void)bolt_fields(c, &nf);
        int guard = 0;
        while ((rc = bolt_next(c, &rec, &err)) == 1 && ++guard < 100000)
            if (rec->type != PS_LIST)
                abort();
    }
    static const uint8_t params[] = {0xA1, 0x81, 0x6B, 0x01}; /* {k: 1} */
    if (bolt_conn_usable(c) && bolt_begin(c, NULL, &err) == 0) {
        if (bolt_tx_queue(c, "CREATE (n {k: $k})", params, sizeof(params), &err) == 0 &&
            bolt_tx_queue(c, "CREATE (n {k: $k})", params, sizeof(params), &err) == 0) {
            BoltSummary sum;
            if (bolt_commit(c, &sum, &err) < 0 && bolt_conn_usable(c))
                (void)bolt_rollback(c, &err);
        }
    }
    if (bolt_conn_usable(c)) {
        BoltRoutingTable rt;
        (void)bolt_route(c, NULL, &rt, &err);
    }
    if (bolt_conn_usable(c)) {
        BoltSummary sum;
        (void)bolt_exec(c, "CREATE ()", params, sizeof(params), NULL, &sum, &err);
    }
    if (bolt_conn_usable(c))
        (void)bolt_reset(c, &err);
    bolt_conn_close(c);
    return 0;
}
