/*
 * pg2neo sync: the seed's runBatchSync from the command line. `--once` runs one batch (claim up
 * to --limit entities, write them, record the outcome) and prints its figures; `--full` first
 * queues a resync of every mapped type (the path a TRUNCATE takes) and then runs batches until
 * nothing is left to claim. (`pg2neo full-sync` is the streaming initial load.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "pg2neo.h"

static void sync_help(void)
{
    printf("usage: pg2neo sync --once [--limit N] [--timeout MS] [--config MAPPING] [--json]\n"
           "       pg2neo sync --full [--limit N] [--timeout MS] [--config MAPPING] [--json]\n\n"
           "--once runs one batch: claims up to N pending entities (default: the mapping's\n"
           "batchSizeLimit), reads their rows, writes them to Neo4j in one transaction with a deadline\n"
           "of MS milliseconds (default syncTimeoutMs), and records the batch. Prints totalEntities,\n"
           "syncedCount, failedCount and duration (ms).\n"
           "--full queues a resync of every mapped type (each is read whole; what PostgreSQL no longer\n"
           "has is removed), then runs batches until none is left to claim. For a first load of a large\n"
           "database use `pg2neo full-sync`, which streams in chunks and resumes.\n"
           "The mapping is --config, else $P2N_MAPPING, else mapping.yaml.\n\n"
           "exit codes: 0 done (even if some entities failed: see failedCount), 1 a database was\n"
           "unavailable or the queue could not be used, 2 bad usage or an invalid mapping\n");
}

static int parse_long(const char *opt, const char *v, long *out)
{
    char *end;
    long x = strtol(v, &end, 10);
    if (*v == '\0' || *end != '\0' || x <= 0) {
        cli_errorf("invalid value \"%s\" for %s: a positive integer is needed", v, opt);
        return -1;
    }
    *out = x;
    return 0;
}

static void print_stats(const P2nSyncStats *st, int json, int batches)
{
    if (json)
        printf("{\"batchId\":%lld,\"totalEntities\":%lld,\"syncedCount\":%lld,\"failedCount\":%lld,"
               "\"retriedCount\":%lld,\"releasedCount\":%lld,\"duration\":%lld%s",
               st->batch_id, st->total_entities, st->synced_count, st->failed_count, st->retried_count,
               st->released_count, st->duration_ms, batches > 0 ? "" : "}\n");
    else
        printf("totalEntities: %lld\nsyncedCount: %lld\nfailedCount: %lld\nretriedCount: %lld\n"
               "releasedCount: %lld\nduration: %lld ms\n",
               st->total_entities, st->synced_count, st->failed_count, st->retried_count, st->released_count,
               st->duration_ms);
    if (json && batches > 0)
        printf(",\"batches\":%d}\n", batches);
    else if (batches > 0)
        printf("batches: %d\n", batches);
}

static int sync_run(int argc, char **argv)
{
    const char *path = NULL;
    long limit = 0, timeout = 0;
    int once = 0, full = 0, json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--once") == 0) {
            once = 1;
        } else if (strcmp(a, "--full") == 0) {
            full = 1;
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if ((strcmp(a, "--limit") == 0 || strcmp(a, "--timeout") == 0 || strcmp(a, "--config") == 0) &&
                   i + 1 < argc) {
            const char *v = argv[++i];
            if (a[2] == 'c')
                path = v;
            else if (parse_long(a, v, a[2] == 'l' ? &limit : &timeout) < 0)
                return CLI_USAGE;
        } else {
            cli_errorf("unknown option \"%s\" for sync", a);
            return CLI_USAGE;
        }
    }
    if (once == full) {
        cli_errorf("give exactly one of --once and --full");
        return CLI_USAGE;
    }
    if (path == NULL)
        path = getenv("P2N_MAPPING") && *getenv("P2N_MAPPING") ? getenv("P2N_MAPPING") : "mapping.yaml";
    char msg[2048];
    P2nService *s = NULL;
    int rc = p2n_service_open(path, &s, msg, sizeof(msg));
    if (rc < 0) {
        cli_errorf("%s", msg);
        return rc == P2N_ECONFIG || rc == P2N_EINVAL ? CLI_USAGE : CLI_FAIL;
    }
    P2nSyncStats st, sum;
    memset(&sum, 0, sizeof(sum));
    int batches = 0;
    if (full) {
        long q = 0;
        rc = p2n_sync_resync(s, &q);
        if (rc == 0 && !json)
            printf("queued a resync of %ld types\n", q);
    }
    while (rc == 0) {
        rc = p2n_sync_batch(s, limit, timeout, &st);
        if (rc < 0 && st.total_entities == 0)
            break;
        batches++;
        if (st.batch_id)
            sum.batch_id = st.batch_id;
        sum.total_entities += st.total_entities;
        sum.synced_count += st.synced_count;
        sum.failed_count += st.failed_count;
        sum.retried_count += st.retried_count;
        sum.released_count += st.released_count;
        sum.duration_ms += st.duration_ms;
        if (once || st.total_entities == 0 || rc < 0)
            break;
    }
    if (batches > 0)
        print_stats(&sum, json, full ? batches : 0);
    if (rc < 0)
        cli_errorf("%s", p2n_service_error(s));
    p2n_service_close(s);
    return rc < 0 ? CLI_FAIL : CLI_OK;
}

const CliCommand cli_cmd_sync = {"sync", "run one sync batch (--once), or resync every type (--full)", sync_run, sync_help};
