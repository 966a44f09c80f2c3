/*
 * pg2neo full-sync: the initial load and the rebuild of the graph (src/sync/fullsync.h).
 * A progress bar on a terminal, a JSON summary otherwise (or with --json).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "sync/fullsync.h"

static void full_sync_help(void)
{
    printf("usage: pg2neo full-sync [--config MAPPING] [--type TYPE] [--batch N] [--restart] [--json]\n\n"
           "Loads every mapped table (or TYPE) into Neo4j: streams it in key order, writes chunks of N rows\n"
           "(default 5000) in one transaction each, checkpoints after each chunk in the sync schema\n"
           "($P2N_SYNC_SCHEMA or public; run pg2neo init first) and resumes after the last checkpoint\n"
           "when a previous run was interrupted. Then removes graph nodes and relationships of the\n"
           "type that no longer exist in PostgreSQL. Changes made meanwhile are queued by the triggers\n"
           "with higher versions and synced after it.\n\n"
           "  --config F   mapping file (default $P2N_MAPPING, else mapping.yaml)\n"
           "  --type T     only entity type T\n"
           "  --batch N    rows per Neo4j transaction (1..100000)\n"
           "  --restart    ignore checkpoints and start over\n"
           "  --json       print the JSON summary even on a terminal (no progress bar)\n"
           "  --limit-chunks N  (tests) stop after N chunks, as if interrupted\n\n"
           "On a terminal, a progress bar (rows/s, ETA) on stderr; otherwise a JSON summary on stdout.\n"
           "exit codes: 0 done, 1 failure or interrupted, 2 bad usage, unknown type or invalid mapping\n");
}

static int parse_pos(const char *opt, const char *v, long max, long *out)
{
    char *end = NULL;
    long n = strtol(v, &end, 10);
    if (end == v || *end != '\0' || n < 1 || n > max) {
        cli_errorf("invalid value \"%s\" for %s: expected 1..%ld", v, opt, max);
        return -1;
    }
    *out = n;
    return 0;
}

static void print_diags(const MappingDiags *d, const P2nErr *err)
{
    for (size_t i = 0; i < d->n; i++)
        cli_errorf("%s", d->msgs[i]);
    if (d->n == 0)
        cli_errorf("%s", err->msg);
}

static int full_sync_run(int argc, char **argv)
{
    const char *path = NULL;
    FullsyncOptions o;
    memset(&o, 0, sizeof(o));
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long n = 0;
        if (strcmp(a, "--restart") == 0) {
            o.restart = true;
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (strcmp(a, "--config") == 0 && i + 1 < argc) {
            path = argv[++i];
        } else if (strcmp(a, "--type") == 0 && i + 1 < argc) {
            o.type = argv[++i];
        } else if (strcmp(a, "--batch") == 0 && i + 1 < argc) {
            if (parse_pos(a, argv[++i], 100000, &n) < 0)
                return CLI_USAGE;
            o.batch = (int)n;
        } else if (strcmp(a, "--limit-chunks") == 0 && i + 1 < argc) {
            if (parse_pos(a, argv[++i], 1000000000L, &n) < 0)
                return CLI_USAGE;
            o.limit_chunks = n;
        } else {
            cli_errorf("unknown option \"%s\" for full-sync", a);
            return CLI_USAGE;
        }
    }
    if (path == NULL)
        path = getenv("P2N_MAPPING") && *getenv("P2N_MAPPING") ? getenv("P2N_MAPPING") : "mapping.yaml";
    o.progress = !json && isatty(2);
    FsEnv env;
    MappingDiags diags = {0};
    P2nErr err;
    p2n_err_clear(&err);
    int rc = fullsync_env_open(path, &env, &diags, &err);
    if (rc < 0) {
        print_diags(&diags, &err);
        mapping_diags_free(&diags);
        return rc == P2N_ECONFIG ? CLI_USAGE : CLI_FAIL;
    }
    mapping_diags_free(&diags);
    if (o.type && mapping_entity_find(env.m, o.type) == NULL) {
        cli_errorf("unknown entity type \"%s\"", o.type);
        fullsync_env_close(&env);
        return CLI_USAGE;
    }
    FullsyncResult res;
    rc = fullsync_run(&env, &o, &res, &err);
    if ((!o.progress || rc < 0) && res.ntypes > 0) {
        P2nBuf b;
        p2n_buf_init(&b);
        fullsync_result_json(&res, &b);
        if (!b.failed)
            printf("%s\n", (char *)b.data);
        p2n_buf_free(&b);
    } else if (rc < 0) {
        /* never a success-looking line for a run that failed (before its first row, say) */
        if (res.rows > 0)
            fprintf(stderr, "full sync stopped after %lld rows (%.1f s); run it again to resume\n", (long long)res.rows,
                    res.seconds);
    } else {
        fprintf(stderr, "full sync: %lld rows, %lld orphans removed in %.1f s (%.0f rows/s)\n", (long long)res.rows,
                (long long)res.orphans_removed, res.seconds, res.seconds > 0 ? (double)res.rows / res.seconds : 0.0);
    }
    if (rc < 0)
        cli_errorf("%s", err.msg);
    fullsync_result_free(&res);
    fullsync_env_close(&env);
    if (rc == P2N_ENOTFOUND)
        return CLI_USAGE;
    return rc < 0 ? CLI_FAIL : CLI_OK;
}

const CliCommand cli_cmd_full_sync = {"full-sync", "load or rebuild the whole graph from PostgreSQL (resumable)",
                                      full_sync_run, full_sync_help};
