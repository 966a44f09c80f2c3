/*
 * The status document of GET /api/sync/status, built with jansson from a plain struct the daemon
 * fills. Field names follow the seed's getSyncServiceStatus() (initialized, neo4jConnected,
 * pendingEntities, failedEntities, conflictCount, lastSyncBatch) and add per-type counts, the
 * oldest pending age, the lag, recent batches and failures, and the alerts.
 *
 * Every string is copied into the JSON; failure messages are passed through p2n_log_redact()
 * so that a registered secret never reaches a client.
 */
#ifndef P2N_HTTP_STATUS_H
#define P2N_HTTP_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/buf.h"
#include "sync/alerts.h"

typedef struct HttpTypeStatus {
    const char *entity_type;
    int64_t pending;
    int64_t in_progress;
    int64_t synced;
    int64_t failed;
    double oldest_pending_age_s; /* negative: nothing pending */
    double avg_latency_s;        /* negative: unknown */
} HttpTypeStatus;

typedef struct HttpBatchStatus {
    int64_t id;
    const char *batch_type; /* "incremental", "full", ... */
    const char *status;     /* "completed", "partial", "failed", ... */
    int64_t started_ms;     /* wall clock */
    double duration_s;
    int64_t total;
    int64_t synced;
    int64_t failed;
} HttpBatchStatus;

typedef struct HttpFailureStatus {
    const char *entity_type;
    const char *entity_id;
    int32_t attempt;
    const char *message;
    int64_t at_ms;          /* wall clock */
} HttpFailureStatus;

typedef struct HttpStatus {
    int64_t now_ms;                 /* wall clock of the snapshot */
    bool initialized;
    bool neo4j_connected;
    bool postgres_connected;
    int64_t pending;
    int64_t in_progress;
    int64_t failed;
    int64_t synced;
    int64_t conflicts;
    double oldest_pending_age_s;    /* negative: nothing pending (rendered as null) */
    double lag_s;                   /* negative: unknown (null) */
    const HttpBatchStatus *last_batch; /* NULL: none yet (null) */
    const HttpTypeStatus *types;
    size_t ntypes;
    const HttpBatchStatus *recent_batches; /* newest first */
    size_t nbatches;
    const HttpFailureStatus *recent_failures; /* newest first */
    size_t nfailures;
    SyncAlerts *alerts;             /* NULL: "alerts": [] */
} HttpStatus;

/* The status as a JSON object (a new reference), NULL when out of memory. */
json_t *http_status_to_json(const HttpStatus *st);

/* Appends the status JSON (compact) to out. Returns 0 or P2N_ENOMEM. */
int http_status_render(const HttpStatus *st, P2nBuf *out);

/* Formats a wall-clock time in ms as ISO 8601 UTC with milliseconds; null for ms <= 0. */
json_t *http_json_time(int64_t ms);

#endif
