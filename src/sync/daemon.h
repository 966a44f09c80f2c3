/*
 * The daemon's loop (the seed's scheduler, made fast): it runs batches while there is work,
 * polls a cheap wake-up signal when idle (fast right after activity, slower as idleness goes
 * on, never slower than max_poll_ms), runs a batch at least every interval_ms anyway (the seed's
 * syncIntervalMs: catches retries whose backoff ran out), reconnects with backoff after a fault
 * and never exits on one, and stops cleanly: a stop request lets the batch in hand finish.
 * The I/O is behind SyncDaemonHooks, implemented by the engine.
 */
#ifndef P2N_SYNC_DAEMON_H
#define P2N_SYNC_DAEMON_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/backoff.h"
#include "common/error.h"
#include "sync/runner.h"

typedef struct SyncDaemonHooks {
    void *ctx;
    /* Makes sure both databases are connected; 0 when ready. P2N_ESTATE means the daemon cannot
       run at all (the sync schema is missing, or of another version): the loop stops and
       sync_daemon_run returns it; any other failure is retried with backoff. */
    int (*connect)(void *ctx, P2nErr *err);
    /* Drops connections after a fault (the next connect starts afresh). */
    void (*disconnect)(void *ctx);
    /* Cheap check for new work: sets *has (1 = new changes may be waiting). */
    int (*poll)(void *ctx, int *has, P2nErr *err);
    /* One batch; st->total == 0 means nothing was claimable. */
    int (*batch)(void *ctx, SyncBatchStats *st, P2nErr *err);
    /* Called about every tick_ms for periodic work (metrics, alerts, conflict scan). May be NULL. */
    void (*tick)(void *ctx);
    /* Called once when a stop was asked, before the connections are closed (connected or not):
       the claims this worker holds are marked or released there. May be NULL. */
    void (*shutdown)(void *ctx);
} SyncDaemonHooks;

typedef struct SyncDaemonConfig {
    bool auto_sync;          /* enableAutoSync: false = no batches, only ticks */
    uint32_t interval_ms;    /* syncIntervalMs: a batch at least this often */
    uint32_t sweep_ms;       /* also a batch this often even when the poll saw nothing (0 = off,
                                default 1000): catches a change whose transaction committed long
                                after its trigger fired, which the cheap poll stops watching */
    uint32_t min_poll_ms;    /* first idle poll delay after activity, default 2 */
    uint32_t max_poll_ms;    /* slowest idle poll, default 50 */
    uint32_t tick_ms;        /* periodic hook, default 1000 */
    uint32_t reconnect_base_ms, reconnect_cap_ms; /* default 200, 10000 */
    uint32_t auth_base_ms, auth_cap_ms; /* after a wrong password or user (p2n_err_is_auth): default
                                           30000, 300000. Neo4j locks an account after a few failed
                                           logins in a row (AuthenticationRateLimit); LDAP-backed
                                           PostgreSQL logins may lock the directory account */
} SyncDaemonConfig;

typedef struct SyncDaemonStats {
    uint64_t batches;
    uint64_t entities;
    uint64_t polls;
    uint64_t reconnects;
    uint64_t faults;
} SyncDaemonStats;

void sync_daemon_config_default(SyncDaemonConfig *c);

/* The daemon's wait after a fault (a failed connect or batch) described by e. A credentials
   failure (p2n_err_is_auth: a wrong password or user, on either side) counts in *auth_attempt and
   waits auth_base_ms doubling up to auth_cap_ms (30 s, 1 min, 2 min, 4 min, 5 min ...); any other
   fault counts in *attempt and waits the jittered reconnect backoff rb (200 ms .. 10 s). The
   counters are reset by the caller once connected. */
uint32_t sync_daemon_fault_delay_ms(const SyncDaemonConfig *c, P2nBackoff *rb, const P2nErr *e, uint32_t *attempt,
                                    uint32_t *auth_attempt);

/* Runs until *stop becomes non-zero. Returns 0 after a clean stop. */
int sync_daemon_run(const SyncDaemonHooks *h, const SyncDaemonConfig *c, volatile sig_atomic_t *stop,
                    SyncDaemonStats *stats);

#endif
