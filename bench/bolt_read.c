/*
 * Benchmark (not a test): streams a result of N rows (default 1,000,000; two columns, an integer
 * and a short string) through our Bolt client and checks the sum; bench/bolt_read.py does the same
 * through the official Python driver. scripts/bench-bolt runs both and prints the ratio.
 *
 * usage: bolt_read [--rows N] [--fetch-size F]       (connection from NEO4J_* variables)
 * Prints one line: "c rows=N seconds=S rate=R" (rows per second).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bolt/bolt.h"
#include "common/time.h"
#include "packstream/packstream.h"

int main(int argc, char **argv)
{
    long rows = 1000000, fetch = 1000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rows") == 0 && i + 1 < argc)
            rows = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--fetch-size") == 0 && i + 1 < argc)
            fetch = strtol(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: bolt_read [--rows N] [--fetch-size F]\n");
            return 2;
        }
    }
    if (rows <= 0 || fetch == 0 || fetch < -1) {
        fprintf(stderr, "bolt_read: --rows must be positive, --fetch-size positive or -1\n");
        return 2;
    }
    BoltConfig cfg;
    BoltEnv env;
    P2nErr err;
    p2n_err_clear(&err);
    BoltDriver *drv = NULL;
    BoltConn *c = NULL;
    if (bolt_config_from_env(&cfg, &env, &err) == 0)
        cfg.fetch_size = fetch;
    if (err.code != 0 || bolt_driver_new(&cfg, &drv, &err) < 0 ||
        bolt_driver_connect(drv, BOLT_ACCESS_READ, &c, &err) < 0) {
        fprintf(stderr, "bolt_read: %s\n", err.msg);
        return 1;
    }
    P2nBuf p;
    p2n_buf_init(&p);
    ps_pack_map_header(&p, 1);
    ps_pack_cstr(&p, "n");
    ps_pack_int(&p, rows);
    BoltTxConfig tx = {0};
    tx.mode = BOLT_ACCESS_READ;
    int64_t t0 = p2n_now_mono_us();
    int rc = bolt_run(c, "UNWIND range(1, $n) AS x RETURN x, 'name ' + toString(x) AS s", p.data, p.len, &tx, &err);
    int64_t sum = 0, got = 0;
    size_t bytes = 0;
    const PsValue *rec;
    if (rc == 0) {
        while ((rc = bolt_next(c, &rec, &err)) == 1) {
            sum += rec->u.list.items[0].u.i;
            bytes += rec->u.list.items[1].u.str.len;
            got++;
        }
    }
    double secs = (double)(p2n_now_mono_us() - t0) / 1e6;
    if (rc < 0 || got != rows || sum != (int64_t)rows * (rows + 1) / 2) {
        fprintf(stderr, "bolt_read: %s (rows %lld, sum %lld)\n", rc < 0 ? err.msg : "wrong result", (long long)got,
                (long long)sum);
        return 1;
    }
    printf("c rows=%ld seconds=%.3f rate=%.0f string_bytes=%zu\n", rows, secs, (double)rows / secs, bytes);
    p2n_buf_free(&p);
    bolt_conn_close(c);
    bolt_driver_free(drv);
    return 0;
}
