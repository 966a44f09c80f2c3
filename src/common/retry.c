/* Bounded retries of work that failed on a conflict with another session; auth-failure test. */
#include "common/retry.h"

#include <string.h>

#include "common/backoff.h"
#include "common/log.h"
#include "common/time.h"

bool p2n_err_is_conflict(const P2nErr *err)
{
    if (err == NULL)
        return false;
    if (err->sqlstate[0] != '\0')
        return strcmp(err->sqlstate, "40001") == 0 || strcmp(err->sqlstate, "40P01") == 0 ||
               strcmp(err->sqlstate, "55P03") == 0;
    if (err->code == P2N_ENEO4J)
        return strncmp(err->neo_code, "Neo.TransientError.", 19) == 0 &&
               p2n_neo_code_class(err->neo_code) == P2N_ERR_TRANSIENT;
    return false;
}

bool p2n_err_is_auth(const P2nErr *err)
{
    if (err == NULL || err->code == 0)
        return false;
    if (err->code == P2N_EAUTH)
        return true;
    if (strncmp(err->neo_code, "Neo.ClientError.Security.", 25) == 0)
        return strcmp(err->neo_code, "Neo.ClientError.Security.AuthorizationExpired") != 0 &&
               strcmp(err->neo_code, "Neo.ClientError.Security.Forbidden") != 0;
    return strncmp(err->sqlstate, "28", 2) == 0;
}

uint32_t p2n_retry_delay_ms(uint32_t attempt)
{
    return p2n_backoff_ceiling_ms(P2N_RETRY_BASE_MS, P2N_RETRY_CAP_MS, attempt);
}

int p2n_retry(const char *what, P2nRetryFn fn, void *ctx, P2nErr *err)
{
    P2nBackoff b = {0};
    p2n_backoff_init(&b, P2N_RETRY_BASE_MS, P2N_RETRY_CAP_MS, 0.5);
    for (uint32_t run = 1;; run++) {
        p2n_err_clear(err);
        int rc = fn(ctx, err);
        if (rc >= 0 || run >= P2N_RETRY_ATTEMPTS || !p2n_err_is_conflict(err))
            return rc;
        uint32_t d = p2n_backoff_delay_ms(&b, run);
        P2N_WARN("transient error, will retry", "what=\"%s\" attempt=%u of=%u delay_ms=%u code=%s error=\"%s\"",
                 what, run, (unsigned)P2N_RETRY_ATTEMPTS, d, err->sqlstate[0] ? err->sqlstate : err->neo_code,
                 err->msg);
        p2n_sleep_ms(d, NULL);
    }
}
