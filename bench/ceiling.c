/*
 * Benchmark (not a test): the raw UNWIND ceiling of make bench. Replays prepared Neo4j write
 * batches through our Bolt client as fast as it can: each batch is one explicit transaction,
 * BEGIN + RUN/PULL per statement + COMMIT pipelined in one round trip, the way the sync engine
 * writes. No PostgreSQL work at all: bench/bench.py reads the rows beforehand (untimed), builds the
 * hand-written UNWIND statements of bench/peer/python_sync.py with their parameters, packs the
 * parameters to PackStream with the official driver's packer and writes them to FILE:
 *
 *   "P2NCEIL1", then per batch: u32 statements, then per statement: u32 query length, the query,
 *   u32 parameter length, the parameters (a PackStream map); integers big-endian.
 *
 * usage: ceiling [--per-statement] FILE   (connection from the NEO4J_* variables)
 * --per-statement: every statement waits for its reply and is timed; prints the time per query
 * text, slowest first (with P2N_DUMP_TX, the engine writes its own transactions in this format).
 * Prints one line: "ceiling batches=B statements=S seconds=T cpu=C nodes_created=N rels_created=R"
 * (seconds: wall time of the writes only; cpu: this process's CPU time over the same span).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bolt/bolt.h"
#include "common/time.h"

typedef struct CeilStmt {
    char *query;           /* NUL-terminated copy */
    const uint8_t *params;
    size_t params_len;
} CeilStmt;

static int die(const char *what, const P2nErr *err)
{
    fprintf(stderr, "ceiling: %s: %s\n", what, err->msg);
    return 1;
}

static int read_u32(const uint8_t *buf, size_t len, size_t *off, uint32_t *out)
{
    if (len - *off < 4)
        return -1;
    const uint8_t *p = buf + *off;
    *out = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
    *off += 4;
    return 0;
}

typedef struct CeilFile {
    CeilStmt *stmts;
    size_t nstmts;
    uint32_t *sizes;     /* statements per batch */
    size_t nbatches;
} CeilFile;

/* Splits the file (after its magic) into batches of statements; parameters point into buf. */
static int ceil_parse(const uint8_t *buf, size_t len, CeilFile *cf)
{
    size_t off = 8, cap = 256, bcap = 64;
    memset(cf, 0, sizeof *cf);
    cf->stmts = malloc(cap * sizeof *cf->stmts);
    cf->sizes = malloc(bcap * sizeof *cf->sizes);
    if (!cf->stmts || !cf->sizes)
        return -1;
    while (off < len) {
        uint32_t k;
        if (read_u32(buf, len, &off, &k) < 0)
            return -1;
        if (cf->nbatches == bcap) {
            uint32_t *nb = realloc(cf->sizes, bcap * 2 * sizeof *nb);
            if (!nb)
                return -1;
            cf->sizes = nb;
            bcap *= 2;
        }
        cf->sizes[cf->nbatches++] = k;
        for (uint32_t i = 0; i < k; i++) {
            uint32_t ql, pl;
            if (read_u32(buf, len, &off, &ql) < 0 || len - off < ql)
                return -1;
            if (cf->nstmts == cap) {
                CeilStmt *ns = realloc(cf->stmts, cap * 2 * sizeof *ns);
                if (!ns)
                    return -1;
                cf->stmts = ns;
                cap *= 2;
            }
            CeilStmt *st = &cf->stmts[cf->nstmts];
            st->query = malloc((size_t)ql + 1);
            if (!st->query)
                return -1;
            cf->nstmts++;
            memcpy(st->query, buf + off, ql);
            st->query[ql] = '\0';
            off += ql;
            if (read_u32(buf, len, &off, &pl) < 0 || len - off < pl)
                return -1;
            st->params = buf + off;
            st->params_len = pl;
            off += pl;
        }
    }
    return 0;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 20, n = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = n;
    return buf;
}

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void ceil_free(CeilFile *cf)
{
    for (size_t i = 0; i < cf->nstmts; i++)
        free(cf->stmts[i].query);
    free(cf->stmts);
    free(cf->sizes);
    memset(cf, 0, sizeof *cf);
}

/* --per-statement: the time of each distinct query text (summed over batches), slowest first */
typedef struct StmtTime {
    const char *query;
    double seconds;
    size_t runs;
} StmtTime;

static int stmt_time_cmp(const void *a, const void *b)
{
    double x = ((const StmtTime *)a)->seconds, y = ((const StmtTime *)b)->seconds;
    return x < y ? 1 : x > y ? -1 : 0;
}

static void stmt_time_add(StmtTime *t, size_t *n, const char *query, double secs)
{
    for (size_t i = 0; i < *n; i++) {
        if (strcmp(t[i].query, query) == 0) {
            t[i].seconds += secs;
            t[i].runs++;
            return;
        }
    }
    t[*n] = (StmtTime){query, secs, 1};
    (*n)++;
}

/* Replays every batch; prints the result line. Returns 0, or 1 after printing the error.
   per_statement: each statement waits for its own reply (not pipelined) and is timed. */
static int ceil_replay(const CeilFile *cf, int per_statement)
{
    StmtTime *times = per_statement ? calloc(cf->nstmts ? cf->nstmts : 1, sizeof(*times)) : NULL;
    size_t ntimes = 0;
    BoltConfig cfg;
    BoltEnv env;
    P2nErr err;
    BoltDriver *drv = NULL;
    BoltConn *c = NULL;
    int64_t nodes = 0, rels = 0;
    size_t at = 0;
    int rc = 0;
    p2n_err_clear(&err);
    if (bolt_config_from_env(&cfg, &env, &err) < 0)
        return die("configuration", &err);
    if (bolt_driver_new(&cfg, &drv, &err) < 0 || bolt_driver_connect(drv, BOLT_ACCESS_WRITE, &c, &err) < 0) {
        bolt_driver_free(drv);
        return die("connect", &err);
    }
    double c0 = cpu_seconds();
    int64_t t0 = p2n_now_mono_us();
    for (size_t b = 0; b < cf->nbatches && rc == 0; b++) {
        BoltSummary sum;
        if (bolt_begin(c, NULL, &err) < 0) {
            rc = die("begin", &err);
            break;
        }
        for (uint32_t i = 0; i < cf->sizes[b] && rc == 0; i++, at++) {
            if (times) {
                BoltSummary one;
                int64_t s0 = p2n_now_mono_us();
                if (bolt_exec(c, cf->stmts[at].query, cf->stmts[at].params, cf->stmts[at].params_len, NULL, &one,
                              &err) < 0)
                    rc = die("run", &err);
                stmt_time_add(times, &ntimes, cf->stmts[at].query, (double)(p2n_now_mono_us() - s0) / 1e6);
            } else if (bolt_tx_queue(c, cf->stmts[at].query, cf->stmts[at].params, cf->stmts[at].params_len,
                                     &err) < 0) {
                rc = die("run", &err);
            }
        }
        if (rc == 0 && bolt_commit(c, &sum, &err) < 0)
            rc = die("commit", &err);
        if (rc == 0) {
            nodes += sum.nodes_created;
            rels += sum.relationships_created;
        }
    }
    if (rc == 0) {
        double secs = (double)(p2n_now_mono_us() - t0) / 1e6;
        double cpu = cpu_seconds() - c0;
        printf("ceiling batches=%zu statements=%zu seconds=%.3f cpu=%.3f nodes_created=%lld rels_created=%lld\n",
               cf->nbatches, cf->nstmts, secs, cpu, (long long)nodes, (long long)rels);
        if (times) {
            qsort(times, ntimes, sizeof(*times), stmt_time_cmp);
            for (size_t i = 0; i < ntimes; i++) {
                printf("%8.3f s %5zu runs  ", times[i].seconds, times[i].runs);
                for (const char *q = times[i].query; *q && q - times[i].query < 150; q++)
                    putchar(*q == '\n' ? ' ' : *q);
                putchar('\n');
            }
        }
    }
    free(times);
    bolt_conn_close(c);
    bolt_driver_free(drv);
    return rc;
}

int main(int argc, char **argv)
{
    int per_statement = argc == 3 && strcmp(argv[1], "--per-statement") == 0;
    if (argc != 2 && !per_statement) {
        fprintf(stderr, "usage: ceiling [--per-statement] FILE\n");
        return 2;
    }
    const char *path = argv[argc - 1];
    size_t len = 0;
    uint8_t *buf = slurp(path, &len);
    if (!buf) {
        fprintf(stderr, "ceiling: could not read \"%s\"\n", path);
        return 1;
    }
    int rc = 1;
    CeilFile cf;
    memset(&cf, 0, sizeof cf);
    if (len < 8 || memcmp(buf, "P2NCEIL1", 8) != 0)
        fprintf(stderr, "ceiling: \"%s\" is not a ceiling batch file\n", path);
    else if (ceil_parse(buf, len, &cf) < 0)       /* everything parsed first, not timed */
        fprintf(stderr, "ceiling: \"%s\" is truncated or malformed, or out of memory\n", path);
    else
        rc = ceil_replay(&cf, per_statement);
    ceil_free(&cf);
    free(buf);
    return rc;
}
