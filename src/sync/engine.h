/*
 * The sync engine: the glue that turns the parts into a service (P2nService of pg2neo.h).
 * It implements the runner's SyncOps with the queue (src/pg/queue.h) and Neo4j writes
 * (src/bolt) driven by the mapping's generated SQL and Cypher, the daemon's SyncDaemonHooks,
 * and the HTTP provider (status, readiness, metrics, alerts) the daemon serves.
 *
 * One batch, as the engine does it:
 *   claim   pgq_claim (fold first) with a lease of 2 x syncTimeoutMs + 5 s under worker id
 *           host:pid:random
 *   write   entities grouped by type; one REPEATABLE READ, READ ONLY PostgreSQL transaction
 *           runs each type's read_sql once (ids as a text[] parameter) so every type sees the
 *           same snapshot; rows are encoded (mapping_row_encode); missing or soft-deleted rows
 *           become deletes; a resync (TRUNCATE) reads the whole table, upserts every row at
 *           the resync's version and removes nodes / relationships of that type with an older
 *           version. Then ONE Neo4j transaction: BEGIN (tx_timeout = the time left to the
 *           deadline) + one queued RUN per statement + COMMIT, in one round trip.
 *   finish  pgq_mark_synced (version-checked) / pgq_mark_failed / pgq_release; a release
 *           caused by an unavailable database also records retryable graph_sync_failures rows
 *   record  pgq_batch_record, metrics (batches, durations, commit-to-graph latency per type)
 * The public functions lock the service, so the scheduler thread and callers of
 * p2n_sync_batch never use a connection at the same time.
 */
#ifndef P2N_SYNC_ENGINE_H
#define P2N_SYNC_ENGINE_H

#include <libpq-fe.h>

#include "common/error.h"
#include "mapping/mapping.h"
#include "pg/capture.h"
#include "pg2neo.h"
#include "sync/runner.h"

/* The runner's operations bound to s (tests drive claim / write / finish one by one). The
   caller must not run them concurrently with the scheduler. */
void sync_engine_ops(P2nService *s, SyncOps *ops);

/* Makes sure both connections are up (the daemon's connect hook). */
int sync_engine_connect(P2nService *s, P2nErr *err);

/* The service's PostgreSQL connection (NULL when down), mapping, sync schema and worker id. */
PGconn *sync_engine_pg(P2nService *s);
const Mapping *sync_engine_mapping(const P2nService *s);
const char *sync_engine_schema(const P2nService *s);
const char *sync_engine_worker_id(const P2nService *s);

/* The mapping file's path; records err as the service's last error (p2n_service_error). */
const char *sync_engine_mapping_path(const P2nService *s);

/* The capture tables of the service's (resolved) mapping, as init installs them: *t and the
   lists behind it are freed with sync_engine_capture_free. */
int sync_engine_capture_tables(const P2nService *s, PgCaptureTable **t, size_t *n, void ***lists, size_t *nlists,
                               P2nErr *err);
void sync_engine_capture_free(PgCaptureTable *t, void **lists, size_t nlists);
void sync_engine_set_error(P2nService *s, const P2nErr *err);

/* The runner policy in use (max attempts, backoff, timeout); tests may change it. */
SyncPolicy *sync_engine_policy(P2nService *s);

#endif
