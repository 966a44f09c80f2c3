/* Error values and the one place that decides what is worth retrying. */
#include "common/error.h"

#include <stdio.h>
#include <string.h>

void p2n_err_clear(P2nErr *err)
{
    if (err == NULL)
        return;
    err->code = 0;
    err->msg[0] = '\0';
    err->neo_code[0] = '\0';
    err->sqlstate[0] = '\0';
}

int p2n_err_setv(P2nErr *err, int code, const char *fmt, va_list ap)
{
    if (err == NULL)
        return code;
    err->code = code;
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    err->neo_code[0] = '\0';
    err->sqlstate[0] = '\0';
    return code;
}

int p2n_err_set(P2nErr *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    p2n_err_setv(err, code, fmt, ap);
    va_end(ap);
    return code;
}

int p2n_err_prefix(P2nErr *err, const char *fmt, ...)
{
    if (err == NULL)
        return 0;
    char prefix[512];
    char old[sizeof(err->msg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old);
    return err->code;
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

P2nErrClass p2n_neo_code_class(const char *c)
{
    if (c == NULL || c[0] == '\0')
        return P2N_ERR_PERMANENT;
    /* 5.x reports these as ClientErrors; a terminated transaction is not worth a retry. */
    if (strcmp(c, "Neo.TransientError.Transaction.Terminated") == 0 ||
        strcmp(c, "Neo.TransientError.Transaction.LockClientStopped") == 0)
        return P2N_ERR_PERMANENT;
    if (starts_with(c, "Neo.TransientError."))
        return P2N_ERR_TRANSIENT;
    if (strcmp(c, "Neo.ClientError.Cluster.NotALeader") == 0 ||
        strcmp(c, "Neo.ClientError.General.ForbiddenOnReadOnlyDatabase") == 0)
        return P2N_ERR_TRANSIENT;
    /* An expired authorization goes away with a fresh connection (drivers retry it). */
    if (strcmp(c, "Neo.ClientError.Security.AuthorizationExpired") == 0)
        return P2N_ERR_TRANSIENT;
    if (starts_with(c, "Neo.ClientError.Security."))
        return P2N_ERR_FATAL;
    /* A statement that failed on its data ("Property value is too large to index", a value a
       procedure refuses): the same rows fail the same way again. Bisected, never retried whole. */
    if (strcmp(c, "Neo.DatabaseError.Statement.ExecutionFailed") == 0 || starts_with(c, "Neo.DatabaseError.Schema."))
        return P2N_ERR_PERMANENT;
    /* Other database errors (a commit that failed, an unknown error) may pass on a retry; if they
       repeat, the runner bisects (p2n_err_is_contention is false for them). */
    if (starts_with(c, "Neo.DatabaseError."))
        return P2N_ERR_TRANSIENT;
    return P2N_ERR_PERMANENT;
}

bool p2n_err_is_contention(const P2nErr *err)
{
    if (err == NULL)
        return false;
    if (err->code == P2N_ENEO4J) {
        const char *c = err->neo_code;
        return starts_with(c, "Neo.TransientError.Transaction.DeadlockDetected") ||
               starts_with(c, "Neo.TransientError.Transaction.LockAcquisitionTimeout") ||
               starts_with(c, "Neo.TransientError.Transaction.Outdated") ||
               starts_with(c, "Neo.TransientError.Transaction.ConstraintsChanged") ||
               starts_with(c, "Neo.TransientError.Cluster.") ||
               strcmp(c, "Neo.ClientError.Cluster.NotALeader") == 0 ||
               strcmp(c, "Neo.ClientError.General.ForbiddenOnReadOnlyDatabase") == 0 ||
               strcmp(c, "Neo.ClientError.Security.AuthorizationExpired") == 0;
    }
    if (err->code == P2N_EPG) /* serialization failure, deadlock, lock not available */
        return strcmp(err->sqlstate, "40001") == 0 || strcmp(err->sqlstate, "40P01") == 0 ||
               strcmp(err->sqlstate, "55P03") == 0;
    return false;
}

P2nErrClass p2n_sqlstate_class(const char *s)
{
    if (s == NULL || s[0] == '\0')
        return P2N_ERR_TRANSIENT; /* no SQLSTATE: the connection itself failed */
    if (strcmp(s, "40001") == 0 || strcmp(s, "40P01") == 0) /* serialization, deadlock */
        return P2N_ERR_TRANSIENT;
    if (starts_with(s, "08") || starts_with(s, "57P") || starts_with(s, "53")) /* connection, shutdown, resources */
        return P2N_ERR_TRANSIENT;
    if (strcmp(s, "55P03") == 0 || strcmp(s, "57014") == 0) /* lock not available, query canceled */
        return P2N_ERR_TRANSIENT;
    if (starts_with(s, "28")) /* invalid authorization */
        return P2N_ERR_FATAL;
    return P2N_ERR_PERMANENT;
}

P2nErrClass p2n_err_class(const P2nErr *err)
{
    if (err == NULL || err->code == 0)
        return P2N_ERR_PERMANENT;
    switch (err->code) {
    case P2N_ENEO4J:
        return p2n_neo_code_class(err->neo_code);
    case P2N_EPG:
        return p2n_sqlstate_class(err->sqlstate);
    case P2N_EIO:
    case P2N_ETIMEDOUT:
    case P2N_ECONNLOST:
    case P2N_EUNKNOWN_OUTCOME:
        return P2N_ERR_TRANSIENT;
    case P2N_EAUTH:
        return P2N_ERR_FATAL;
    default:
        return P2N_ERR_PERMANENT;
    }
}

const char *p2n_strerror(int code)
{
    switch (code) {
#define P2N_STRERROR_CASE(name, val, text) case P2N_##name: return text;
        P2N_ERRNO_MAP(P2N_STRERROR_CASE)
#undef P2N_STRERROR_CASE
    default:
        return "unknown error";
    }
}

const char *p2n_err_class_name(P2nErrClass c)
{
    switch (c) {
    case P2N_ERR_TRANSIENT: return "transient";
    case P2N_ERR_PERMANENT: return "permanent";
    case P2N_ERR_FATAL: return "fatal";
    }
    return "unknown";
}
