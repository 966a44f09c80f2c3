/*
 * A snapshot of the sync queue read from PostgreSQL (graph_sync_status, graph_sync_failures,
 * graph_sync_batches of sql/001_capture.sql) for the status API, the provider-filled gauges of
 * /metrics and the alert observations. One read-only REPEATABLE READ transaction, four queries.
 *
 * Counting graph_sync_status scans it: load the snapshot on the daemon's tick (about once a
 * second) and let the HTTP provider serve the latest one, rather than loading per request.
 *
 * Definitions: "pending" counts sync_status pending and deleted (both wait for the runner);
 * the oldest pending age (data staleness) is now - first_change_at (or updated_at) over pending,
 * deleted and in_progress rows; the failure counter for the failed_syncs alert is the highest
 * graph_sync_failures id (monotonic, an index lookup; a rolled-back insert may skip one).
 */
#ifndef P2N_HTTP_PGSTATUS_H
#define P2N_HTTP_PGSTATUS_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/metrics.h"
#include "http/status.h"
#include "sync/alerts.h"

typedef struct HttpPgSnapshot {
    int64_t taken_ms;            /* wall clock of PostgreSQL's now() */
    HttpTypeStatus *types;       /* per entity type, sorted by name; strings owned */
    size_t ntypes;
    int64_t pending, in_progress, synced, failed, conflicts;
    double oldest_pending_age_s; /* -1 when nothing waits */
    int64_t failures_total;      /* max(graph_sync_failures.id), 0 when none */
    HttpBatchStatus *batches;    /* newest first; strings owned */
    size_t nbatches;
    HttpFailureStatus *failures; /* newest first; strings owned */
    size_t nfailures;
} HttpPgSnapshot;

/* Loads a snapshot from the sync tables in schema (with `recent` batches and failures). The
   connection must not be inside a transaction. On failure *out is left empty. */
int http_pg_snapshot_load(PGconn *conn, const char *schema, size_t recent, HttpPgSnapshot *out, P2nErr *err);

/* Frees what a snapshot owns and empties it. */
void http_pg_snapshot_free(HttpPgSnapshot *s);

/* Fills the queue part of st (counts, types, batches, failures, ages, last_batch) from s; st
   points into s, so s must outlive st's use. The caller sets initialized, the connection flags
   and alerts. */
void http_pg_snapshot_status(const HttpPgSnapshot *s, HttpStatus *st);

/* Refills the provider-owned gauges: pg2neo_entities, pg2neo_conflicts,
   pg2neo_oldest_pending_age_seconds (the up gauges are the caller's). */
void http_pg_snapshot_metrics(const HttpPgSnapshot *s, const P2nStdMetrics *m);

/* Fills pending, failures_total, conflicts and staleness_s of an alert observation. */
void http_pg_snapshot_obs(const HttpPgSnapshot *s, SyncAlertObs *o);

#endif
