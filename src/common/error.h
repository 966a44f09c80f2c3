/*
 * Errors: every fallible function returns 0 or a negative P2N_E* code, and fills a caller-owned
 * P2nErr with a message in PostgreSQL's style (lower-case, no final period) and, for Neo4j
 * failures, the server's code. Retryability is decided in one place: p2n_err_class().
 */
#ifndef P2N_COMMON_ERROR_H
#define P2N_COMMON_ERROR_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "pg2neo.h"

typedef struct P2nErr {
    int code;             /* a P2N_E* value, 0 when no error */
    char msg[1024];       /* human-readable message */
    char neo_code[128];   /* Neo4j status code ("Neo.ClientError...") or "" */
    char sqlstate[6];     /* PostgreSQL SQLSTATE or "" */
} P2nErr;

/* Clears err (a NULL err is allowed everywhere and ignored). */
void p2n_err_clear(P2nErr *err);

/* Sets err->code and formats the message; returns code so callers can `return p2n_err_set(...)`. */
int p2n_err_set(P2nErr *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int p2n_err_setv(P2nErr *err, int code, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));

/* Prepends context: "could not X: <old message>". Keeps code, neo_code and sqlstate. */
int p2n_err_prefix(P2nErr *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Classifies an error for retry decisions (P2N_ERR_TRANSIENT, _PERMANENT, _FATAL). */
P2nErrClass p2n_err_class(const P2nErr *err);

/* Classifies a Neo4j status code alone (used by p2n_err_class and tests). */
P2nErrClass p2n_neo_code_class(const char *neo_code);

/* Classifies a PostgreSQL SQLSTATE alone. */
P2nErrClass p2n_sqlstate_class(const char *sqlstate);

/*
 * True for a transient error that other transactions or the cluster cause (a deadlock, a lock
 * wait, a serialization failure, a leader change): a smaller batch does not avoid it, waiting
 * does. Other transient errors (a timeout, memory, a DatabaseError) may come from the batch's
 * own data or size: the runner bisects a batch when one of them repeats, so that one entity
 * can never fail the others.
 */
bool p2n_err_is_contention(const P2nErr *err);

#endif
