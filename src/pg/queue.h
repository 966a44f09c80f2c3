/*
 * The queue the sync engine works from (graph_sync_status), on top of the capture log:
 *   fold    move graph_sync_log into one status row per entity (graph_sync_fold())
 *   claim   FOR UPDATE SKIP LOCKED: due pending/deleted entities and in_progress ones whose lease
 *           expired; sets in_progress, claimed_by, lease_until
 *   mark    synced only where the version is unchanged (else back to pending); failed / retry
 *           later with a graph_sync_failures row; release back to pending (clean shutdown)
 *   batch   a graph_sync_batches row
 *   poll    the wake-up: has the version sequence moved, or is a change still in flight?
 * All statements run in autocommit unless the caller opened a transaction.
 */
#ifndef P2N_PG_QUEUE_H
#define P2N_PG_QUEUE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

typedef enum PgqOp {
    PGQ_OP_UPSERT = 0, /* sync_status 'pending': write the current row */
    PGQ_OP_DELETE = 1, /* sync_status 'deleted': remove the node */
    PGQ_OP_RESYNC = 2  /* entity_id '*': the table was truncated, resync the whole type */
} PgqOp;

typedef struct PgqClaim {
    char *entity_type;      /* from malloc() */
    char *entity_id;        /* from malloc() */
    int64_t version;        /* the change version claimed */
    PgqOp op;
    char *changed_arrays;   /* JSON text {"col": {"added": [...], "removed": [...]}} or NULL */
    int32_t attempts;       /* failed attempts so far (a lease that expired counts as one) */
    int64_t first_change_ms;/* unix ms of the oldest unsynced change (transaction start time) */
} PgqClaim;

typedef struct PgqKey {
    const char *entity_type;
    const char *entity_id;
    int64_t version;        /* as claimed */
} PgqKey;

/* Folds the change log; *n_entities (may be NULL) = status rows touched. */
int pgq_fold(PGconn *conn, const char *schema, int64_t *n_entities, P2nErr *err);

/* Folds (when fold is true), then claims up to limit entities for lease_ms under worker_id.
   *out from malloc() (pgq_claims_free), *n set; 0 claimed is not an error. */
int pgq_claim(PGconn *conn, const char *schema, size_t limit, uint32_t lease_ms, const char *worker_id,
              bool fold, PgqClaim **out, size_t *n, P2nErr *err);
void pgq_claims_free(PgqClaim *c, size_t n);

/* Marks claimed entities synced where their version is still the claimed one (a synced delete
   removes the status row); the others go back to pending (or deleted). Only rows this worker
   still holds are touched. *n_synced / *n_requeued may be NULL. */
int pgq_mark_synced(PGconn *conn, const char *schema, const char *worker_id, const PgqKey *keys, size_t n,
                    size_t *n_synced, size_t *n_requeued, P2nErr *err);

/* Records a failed attempt: attempts + 1, last_error, a graph_sync_failures row. A retryable
   failure with attempts left (attempts < max_attempts) goes back to pending/deleted with
   next_attempt_at = now + retry_delay_ms; so does any failure of an entity that changed since
   the claim; otherwise the entity becomes 'failed'. *failed (may be NULL) = 1 when it did. */
int pgq_mark_failed(PGconn *conn, const char *schema, const char *worker_id, const PgqKey *key,
                    const char *message, const char *error_code, bool retryable, uint32_t max_attempts,
                    uint32_t retry_delay_ms, int *failed, P2nErr *err);

/* Puts claimed entities back (pending/deleted, no attempt consumed): the given keys, or every
   entity worker_id holds when keys is NULL. *n_released may be NULL. */
int pgq_release(PGconn *conn, const char *schema, const char *worker_id, const PgqKey *keys, size_t n,
                size_t *n_released, P2nErr *err);

/* As pgq_release, the entities next claimable after delay_ms (a table the sync user cannot read). */
int pgq_release_after(PGconn *conn, const char *schema, const char *worker_id, const PgqKey *keys, size_t n,
                      uint32_t delay_ms, size_t *n_released, P2nErr *err);

typedef struct PgqBatch {
    const char *batch_type;    /* "incremental", "full", ... */
    const char *batch_status;  /* "completed", "partial", "failed" */
    int32_t total, synced, failed, retried, released;
    double duration_seconds;
    const char *worker_id;     /* may be NULL */
    int64_t started_ms;        /* unix ms, 0 = unknown */
} PgqBatch;

/* Inserts a graph_sync_batches row; *batch_id (may be NULL) receives its id. */
int pgq_batch_record(PGconn *conn, const char *schema, const PgqBatch *b, int64_t *batch_id, P2nErr *err);

/* Wake-up state for pgq_poll; zero-initialise, optionally set gap_timeout_ms (default 2000). */
typedef struct PgqPoll {
    bool primed;
    int64_t last_seen;        /* the version sequence's last value at the previous poll */
    int64_t folded;           /* graph_sync_state.folded_version at the previous poll */
    int64_t gap_since_ms;     /* monotonic ms when a version was seen that no fold has reached */
    uint32_t gap_timeout_ms;  /* how long to keep waking for an in-flight change */
} PgqPoll;

/* One cheap round trip (reads the version sequence and graph_sync_state: no table scan, no
   locks, nothing written). *has = 1 when the sequence moved since the last poll, or when a version
   was handed out that no fold has reached yet (its transaction may still be committing) and
   that for less than gap_timeout_ms. */
int pgq_poll(PGconn *conn, const char *schema, PgqPoll *st, int *has, P2nErr *err);

const char *pgq_op_name(PgqOp op);

#endif
