/*
 * The batch runner: one batch = claim, write, record outcomes. The decisions live here (what
 * is retried, what is bisected, what fails); the I/O lives behind SyncOps, which the engine
 * implements with PostgreSQL (queue) and Neo4j (writes), so this file is testable as pure logic.
 *
 * Outcome policy:
 *   - write succeeds                    -> SYNC_RES_SYNCED (the queue keeps an entity pending if it
 *                                          changed after the claim: the version tells)
 *   - unavailable (connection refused, lost, or lost after COMMIT: outcome unknown)
 *                                       -> SYNC_RES_RELEASE: back to pending, no attempt consumed,
 *                                          a retryable failure recorded; the runner reports
 *                                          P2N_ECONNLOST so the daemon backs off and reconnects
 *   - transient in the transaction (deadlock, batch over syncTimeoutMs, TransientError,
 *     serialization failure, a DatabaseError other than a statement's)
 *                                       -> retried in place up to inline_retries times with backoff;
 *                                          if it still fails: from contention (locks, serialization,
 *                                          the cluster: p2n_err_is_contention) -> SYNC_RES_RETRY
 *                                          (attempt consumed; next_attempt_at = now + backoff; failed
 *                                          once attempts reach max_attempts); anything else may follow
 *                                          the data or the batch's size, so the batch is bisected as
 *                                          for a permanent error, and an entity alone gets SYNC_RES_RETRY
 *   - permanent (constraint violation, a value Neo4j rejects or cannot index, a statement that
 *     failed on its rows: Neo.DatabaseError.Statement.ExecutionFailed)
 *                                       -> the batch is bisected until the culprit stands alone;
 *                                          it ends SYNC_RES_FAILED, every other entity syncs
 */
#ifndef P2N_SYNC_RUNNER_H
#define P2N_SYNC_RUNNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/backoff.h"
#include "common/error.h"

/* SYNC_OP_RESYNC: the whole type (its table was truncated); entity_id is "*". */
typedef enum SyncOp { SYNC_OP_UPSERT = 0, SYNC_OP_DELETE = 1, SYNC_OP_RESYNC = 2 } SyncOp;

typedef enum SyncResult {
    SYNC_RES_NONE = 0,
    SYNC_RES_SYNCED,
    SYNC_RES_RETRY,   /* transient: try again after next_attempt_delay_ms */
    SYNC_RES_FAILED,  /* permanent, or out of attempts */
    SYNC_RES_RELEASE  /* not attempted or target unavailable: back to pending, attempt not consumed */
} SyncResult;

typedef struct SyncItem {
    char *entity_type;       /* from malloc() */
    char *entity_id;         /* from malloc() */
    int64_t version;         /* the change version claimed */
    SyncOp op;
    int32_t attempts;        /* failed attempts before this claim */
    int64_t changed_at_ms;   /* wall clock of the oldest unsynced change (latency metrics) */
    /* filled by the runner */
    SyncResult result;
    uint32_t next_attempt_delay_ms;
    int err_code;            /* P2N_E* of the failure, 0 if none */
    char err_neo_code[128];
    char err_sqlstate[6];
    char *err_msg;           /* from malloc(), or NULL */
} SyncItem;

typedef struct SyncBatchStats {
    int64_t batch_id;        /* filled by record_batch, 0 if not recorded */
    size_t total;            /* entities claimed */
    size_t synced;
    size_t retried;
    size_t failed;
    size_t released;
    size_t writes;           /* write transactions attempted (bisection adds some) */
    int64_t started_ms;      /* wall clock */
    int64_t duration_ms;
    int64_t claim_us, finish_us; /* the claim's and the finish's time (the daemon's debug batch line) */
    int status;              /* 0, or P2N_ECONNLOST when the target was unavailable */
} SyncBatchStats;

typedef struct SyncOps {
    void *ctx;
    /* Claims up to limit entities; *items from malloc() (array of SyncItem), *n set. */
    int (*claim)(void *ctx, size_t limit, SyncItem **items, size_t *n, P2nErr *err);
    /* Reads the current rows of items and writes them to Neo4j in ONE transaction, finished by
       deadline_ms (monotonic). All or nothing, except that the write may give items back: an
       item it sets to SYNC_RES_RELEASE (its table cannot be read by the sync user, say) is
       released with no attempt consumed and keeps that result whatever the write returns; it
       must skip items already given back when it is called again for the same batch. */
    int (*write)(void *ctx, SyncItem *const *items, size_t n, int64_t deadline_ms, P2nErr *err);
    /* Records every item's result in the queue (and failures in graph_sync_failures). */
    int (*finish)(void *ctx, SyncItem *items, size_t n, P2nErr *err);
    /* Records the batch (graph_sync_batches); may set st->batch_id. May be NULL. */
    int (*record_batch)(void *ctx, SyncBatchStats *st, P2nErr *err);
} SyncOps;

typedef struct SyncPolicy {
    uint32_t max_attempts;    /* default 3 */
    uint32_t inline_retries;  /* in-place retries of a transient failure, default 2 */
    uint32_t timeout_ms;      /* the batch deadline (syncTimeoutMs), default 30000 */
    P2nBackoff backoff;       /* delays between attempts */
} SyncPolicy;

void sync_policy_default(SyncPolicy *p);

/* True when err means "the target is unreachable", not "this data is at fault". */
bool sync_err_is_unavailable(const P2nErr *err);

/*
 * Runs one batch: claim up to limit, write, bisect, finish, record. Returns 0 (also when
 * nothing was pending: st->total == 0), P2N_ECONNLOST when a database was unavailable (items
 * released), or another error when the queue itself could not be read or updated.
 */
int sync_run_batch(const SyncOps *ops, SyncPolicy *policy, size_t limit, SyncBatchStats *st, P2nErr *err);

void sync_items_free(SyncItem *items, size_t n);

#endif
