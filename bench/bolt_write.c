/*
 * Benchmark (not a test): writes N nodes (default 100,000) to Neo4j in UNWIND batches (default
 * 1,000 rows) through our Bolt client, one explicit transaction per batch (BEGIN + RUN + PULL +
 * COMMIT pipelined in one write), parameters streamed straight into PackStream as the sync engine
 * does. bench/bolt_write.py does the same through the official Python driver; scripts/bench-bolt
 * runs both against the same server and prints the ratio.
 *
 * usage: bolt_write [--nodes N] [--batch B] [--label L]   (connection from NEO4J_* variables)
 * Prints one line: "c nodes=N batch=B seconds=S rate=R" (rate in nodes per second).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bolt/bolt.h"
#include "common/buf.h"
#include "common/time.h"
#include "packstream/packstream.h"

static int die(const char *what, const P2nErr *err)
{
    fprintf(stderr, "bolt_write: %s: %s\n", what, err->msg);
    return 1;
}

int main(int argc, char **argv)
{
    long nodes = 100000, batch = 1000;
    const char *label = "BenchBoltC";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--nodes") == 0 && i + 1 < argc)
            nodes = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc)
            batch = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--label") == 0 && i + 1 < argc)
            label = argv[++i];
        else {
            fprintf(stderr, "usage: bolt_write [--nodes N] [--batch B] [--label L]\n");
            return 2;
        }
    }
    if (nodes <= 0 || batch <= 0 || strspn(label, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") !=
                                        strlen(label)) {
        fprintf(stderr, "bolt_write: --nodes and --batch must be positive, --label alphanumeric\n");
        return 2;
    }
    BoltConfig cfg;
    BoltEnv env;
    P2nErr err;
    p2n_err_clear(&err);
    if (bolt_config_from_env(&cfg, &env, &err) < 0)
        return die("configuration", &err);
    BoltDriver *drv = NULL;
    BoltConn *c = NULL;
    if (bolt_driver_new(&cfg, &drv, &err) < 0 || bolt_driver_connect(drv, BOLT_ACCESS_WRITE, &c, &err) < 0)
        return die("connect", &err);

    char q[512];
    /* start empty (not timed) */
    snprintf(q, sizeof(q), "MATCH (n:%s) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS", label);
    if (bolt_exec(c, q, NULL, 0, NULL, NULL, &err) < 0)
        return die("cleanup", &err);
    snprintf(q, sizeof(q),
             "UNWIND $rows AS r CREATE (n:%s {id: r.id, name: r.name, email: r.email, score: r.score, "
             "active: r.active, tags: r.tags})", label);

    P2nBuf params;
    p2n_buf_init(&params);
    char name[64], email[96];
    int64_t created = 0;
    int64_t t0 = p2n_now_mono_us();
    for (long start = 0; start < nodes; start += batch) {
        long n = nodes - start < batch ? nodes - start : batch;
        p2n_buf_reset(&params);
        ps_pack_map_header(&params, 1);
        ps_pack_cstr(&params, "rows");
        ps_pack_list_header(&params, (uint32_t)n);
        for (long i = start; i < start + n; i++) {
            int nl = snprintf(name, sizeof(name), "user %ld", i);
            int el = snprintf(email, sizeof(email), "user%ld@example.org", i);
            ps_pack_map_header(&params, 6);
            ps_pack_string(&params, "id", 2);
            ps_pack_int(&params, i);
            ps_pack_string(&params, "name", 4);
            ps_pack_string(&params, name, (size_t)nl);
            ps_pack_string(&params, "email", 5);
            ps_pack_string(&params, email, (size_t)el);
            ps_pack_string(&params, "score", 5);
            ps_pack_float(&params, (double)(i % 1000) / 10.0);
            ps_pack_string(&params, "active", 6);
            ps_pack_bool(&params, i % 3 != 0);
            ps_pack_string(&params, "tags", 4);
            ps_pack_list_header(&params, 2);
            ps_pack_string(&params, "bench", 5);
            ps_pack_string(&params, i % 2 ? "odd" : "even", i % 2 ? 3 : 4);
        }
        if (params.failed) {
            fprintf(stderr, "bolt_write: out of memory\n");
            return 1;
        }
        BoltSummary sum;
        if (bolt_begin(c, NULL, &err) < 0 || bolt_tx_queue(c, q, params.data, params.len, &err) < 0 ||
            bolt_commit(c, &sum, &err) < 0)
            return die("write", &err);
        created += sum.nodes_created;
    }
    double secs = (double)(p2n_now_mono_us() - t0) / 1e6;
    snprintf(q, sizeof(q), "MATCH (n:%s) RETURN count(n)", label);
    const PsValue *rec;
    if (bolt_run(c, q, NULL, 0, NULL, &err) < 0 || bolt_next(c, &rec, &err) != 1)
        return die("count", &err);
    int64_t count = rec->u.list.items[0].u.i;
    while (bolt_next(c, &rec, &err) == 1)
        ;
    if (created != nodes || count != nodes) {
        fprintf(stderr, "bolt_write: expected %ld nodes, created %lld, found %lld\n", nodes, (long long)created,
                (long long)count);
        return 1;
    }
    BoltConnStats st;
    bolt_conn_stats(c, &st);
    printf("c nodes=%ld batch=%ld seconds=%.3f rate=%.0f writes=%llu bytes_sent=%llu\n", nodes, batch, secs,
           (double)nodes / secs, (unsigned long long)st.writes, (unsigned long long)st.bytes_sent);
    snprintf(q, sizeof(q), "MATCH (n:%s) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS", label);
    bolt_exec(c, q, NULL, 0, NULL, NULL, &err);
    p2n_buf_free(&params);
    bolt_conn_close(c);
    bolt_driver_free(drv);
    return 0;
}
