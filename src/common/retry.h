/*
 * Retries for the one-shot commands (init, full-sync, verify, resolve, the conflict scan): a
 * unit of work that failed on a conflict with another session (a deadlock, a serialization
 * failure, a lock timeout, a Neo4j transient error) is run again after a backoff, a bounded
 * number of times, each retry logged. The daemon has its own loop (sync/daemon.c); this is for
 * work that would otherwise exit 1 on the first conflict. Also the one place that says whether
 * an error is a wrong password or user (the daemon backs off much further on those).
 */
#ifndef P2N_COMMON_RETRY_H
#define P2N_COMMON_RETRY_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

#define P2N_RETRY_ATTEMPTS 8      /* runs in all, the first included */
#define P2N_RETRY_BASE_MS 100     /* first delay, doubling ... */
#define P2N_RETRY_CAP_MS 2000     /* ... up to this (about 8 s of waiting in all) */

/* True for an error that running the same transaction again may cure: PostgreSQL's 40001
   (serialization failure), 40P01 (deadlock), 55P03 (lock not available: lock_timeout, NOWAIT),
   and Neo4j's transient errors (Neo.TransientError.*, deadlocks and lock timeouts among them;
   not a terminated transaction). A lost connection is not one: the caller's connection is gone. */
bool p2n_err_is_conflict(const P2nErr *err);

/* True for a credentials failure: P2N_EAUTH, a Neo4j Neo.ClientError.Security.* code other than
   AuthorizationExpired (Unauthorized, AuthenticationRateLimit ...), or a PostgreSQL 28xxx SQLSTATE
   (28P01 invalid password, 28000 invalid authorization). */
bool p2n_err_is_auth(const P2nErr *err);

/* The un-jittered delay before retry `attempt` (1 = the first retry): 100, 200, 400 ... 2000 ms. */
uint32_t p2n_retry_delay_ms(uint32_t attempt);

/* One unit of work that may be run again: it must leave nothing half done when it fails (one
   transaction, or work that resumes from what it recorded). */
typedef int (*P2nRetryFn)(void *ctx, P2nErr *err);

/* Runs fn; while it fails with p2n_err_is_conflict(), waits (p2n_retry_delay_ms, jittered) and
   runs it again, at most P2N_RETRY_ATTEMPTS runs in all. Each retry is logged at warn level
   ("transient error, will retry" with what, the attempt and the error). Returns fn's last result;
   err holds its error. */
int p2n_retry(const char *what, P2nRetryFn fn, void *ctx, P2nErr *err);

#endif
