/*
 * Embedding libpg2neo: a program that keeps its Neo4j graph in step with its PostgreSQL database
 * through the public API (pg2neo.h) only, in the seed's order: initialise the service, look at
 * its status, run one batch by hand, let the scheduler run in the background for a while, stop
 * it, shut down.
 *
 *   example_embed MAPPING [SECONDS]
 *
 * The mapping names the servers (or DATABASE_URL / NEO4J_URI / NEO4J_PASSWORD are used). Run
 * `pg2neo init --config MAPPING` once first.
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep, when built with -std=c11 */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "pg2neo.h"

static void print_status(P2nService *s)
{
    P2nServiceStatus st;
    if (p2n_service_status(s, &st) < 0) {
        fprintf(stderr, "status: %s\n", p2n_service_error(s));
        return;
    }
    printf("initialized=%d postgres=%d neo4j=%d scheduler=%d pending=%lld in_progress=%lld synced=%lld "
           "failed=%lld conflicts=%lld\n",
           st.initialized, st.postgres_connected, st.neo4j_connected, st.scheduler_running, st.pending_entities,
           st.in_progress_entities, st.synced_entities, st.failed_entities, st.conflict_count);
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s MAPPING [SECONDS]\n", argv[0]);
        return 2;
    }
    int seconds = argc == 3 ? atoi(argv[2]) : 2;
    char err[1024];
    P2nService *svc = NULL;
    if (p2n_service_open(argv[1], &svc, err, sizeof(err)) < 0) { /* initializeSyncService */
        fprintf(stderr, "could not start the sync service: %s\n", err);
        return 1;
    }
    print_status(svc); /* getSyncServiceStatus */

    P2nSyncStats stats; /* runBatchSync(limit: 100, timeout: 30000) */
    if (p2n_sync_batch(svc, 100, 30000, &stats) < 0)
        fprintf(stderr, "batch: %s\n", p2n_service_error(svc));
    printf("Synced: %lld/%lld (failed %lld) in %lld ms\n", stats.synced_count, stats.total_entities,
           stats.failed_count, stats.duration_ms);

    if (p2n_scheduler_start(svc) < 0) { /* startSyncScheduler */
        fprintf(stderr, "scheduler: %s\n", p2n_service_error(svc));
    } else {
        struct timespec ts = {seconds, 0};
        nanosleep(&ts, NULL);
        print_status(svc);
        p2n_scheduler_stop(svc); /* stopSyncScheduler */
    }
    print_status(svc);
    p2n_service_close(svc); /* shutdownSyncService */
    return 0;
}
