/*
 * The batch runner's decisions: retry, bisect, fail, release. See runner.h for the policy.
 */
#include "sync/runner.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/time.h"

void sync_policy_default(SyncPolicy *p)
{
    memset(p, 0, sizeof(*p));
    p->max_attempts = 3;
    p->inline_retries = 2;
    p->timeout_ms = 30000;
    p2n_backoff_init(&p->backoff, 1000, 60000, 0.5);
}

bool sync_err_is_unavailable(const P2nErr *err)
{
    switch (err->code) {
    case P2N_ECONNLOST:
    case P2N_EIO:
    case P2N_EUNKNOWN_OUTCOME:
    case P2N_EAUTH:
    case P2N_ETLS:
        return true;
    case P2N_EPG:
        /* connection-class SQLSTATEs, admin shutdown, or no SQLSTATE at all (socket gone) */
        return err->sqlstate[0] == '\0' || strncmp(err->sqlstate, "08", 2) == 0 ||
               strncmp(err->sqlstate, "57P", 3) == 0;
    case P2N_ENEO4J:
        return strcmp(err->neo_code, "Neo.TransientError.General.DatabaseUnavailable") == 0 ||
               strncmp(err->neo_code, "Neo.ClientError.Security.", 25) == 0;
    default:
        return false;
    }
}

void sync_items_free(SyncItem *items, size_t n)
{
    if (items == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free(items[i].entity_type);
        free(items[i].entity_id);
        free(items[i].err_msg);
    }
    free(items);
}

static void item_set(SyncItem *it, SyncResult res, const P2nErr *e)
{
    it->result = res;
    free(it->err_msg);
    it->err_msg = NULL;
    it->err_code = 0;
    it->err_neo_code[0] = '\0';
    it->err_sqlstate[0] = '\0';
    if (e != NULL && e->code != 0) {
        it->err_code = e->code;
        it->err_msg = strdup(e->msg);
        memcpy(it->err_neo_code, e->neo_code, sizeof(it->err_neo_code));
        memcpy(it->err_sqlstate, e->sqlstate, sizeof(it->err_sqlstate));
    }
}

/* An item the write gave back (SYNC_RES_RELEASE, see SyncOps.write) keeps that result. */
static void set_all(SyncItem *const *items, size_t n, SyncResult res, const P2nErr *e)
{
    for (size_t i = 0; i < n; i++)
        if (items[i]->result != SYNC_RES_RELEASE || res == SYNC_RES_RELEASE)
            item_set(items[i], res, e);
}

/* A transient failure consumed an attempt: retry later, or fail when out of attempts. */
static void set_retry(SyncItem *const *items, size_t n, SyncPolicy *p, const P2nErr *e)
{
    for (size_t i = 0; i < n; i++) {
        SyncItem *it = items[i];
        if (it->result == SYNC_RES_RELEASE)
            continue; /* given back by the write: no attempt consumed */
        uint32_t attempt = (uint32_t)it->attempts + 1;
        if (attempt >= p->max_attempts) {
            item_set(it, SYNC_RES_FAILED, e);
        } else {
            item_set(it, SYNC_RES_RETRY, e);
            it->next_attempt_delay_ms = p2n_backoff_delay_ms(&p->backoff, attempt);
        }
    }
}

/*
 * Writes items[0..n), retrying a transient failure in place up to `retries` times. Bisects on a
 * permanent failure, and on a transient one that repeats unless it comes from contention (see
 * p2n_err_is_contention): an error that follows the batch's data must end with its culprit
 * alone, never with its bystanders retried or failed. Halves of a bisection get no in-place
 * retry of their own (each half is one more write already). Returns 0 or the unavailability code.
 */
static int write_range(const SyncOps *ops, SyncPolicy *p, SyncItem *const *items, size_t n, uint32_t retries,
                       SyncBatchStats *st)
{
    for (uint32_t try = 0;; try++) {
        P2nErr e;
        p2n_err_clear(&e);
        int64_t deadline = p2n_now_mono_ms() + p->timeout_ms;
        st->writes++;
        int rc = ops->write(ops->ctx, items, n, deadline, &e);
        if (rc == 0) {
            set_all(items, n, SYNC_RES_SYNCED, NULL);
            return 0;
        }
        if (e.code == 0)
            p2n_err_set(&e, rc, "write failed: %s", p2n_strerror(rc));
        if (sync_err_is_unavailable(&e)) {
            P2N_WARN("target unavailable, releasing claims", "entities=%zu code=%s error=\"%s\"", n,
                     e.neo_code[0] ? e.neo_code : p2n_strerror(e.code), e.msg);
            set_all(items, n, SYNC_RES_RELEASE, &e);
            return P2N_ECONNLOST;
        }
        P2nErrClass cls = p2n_err_class(&e);
        if (cls == P2N_ERR_TRANSIENT) {
            if (try < retries) {
                uint32_t d = p2n_backoff_delay_ms(&p->backoff, try + 1);
                if (d > 2000)
                    d = 2000; /* in place, keep it short: the queue's backoff does the long waits */
                P2N_INFO("transient failure, retrying batch", "entities=%zu try=%u delay_ms=%u error=\"%s\"",
                         n, try + 1, d, e.msg);
                p2n_sleep_ms(d, NULL);
                continue;
            }
            if (n == 1 || p2n_err_is_contention(&e)) {
                set_retry(items, n, p, &e);
                return 0;
            }
            P2N_INFO("transient failure repeats, bisecting the batch", "entities=%zu code=%s error=\"%s\"", n,
                     e.neo_code[0] ? e.neo_code : (e.sqlstate[0] ? e.sqlstate : p2n_strerror(e.code)), e.msg);
        } else if (n == 1) {
            P2N_WARN("entity failed permanently", "type=%s id=%s version=%lld code=%s error=\"%s\"",
                     items[0]->entity_type, items[0]->entity_id, (long long)items[0]->version,
                     e.neo_code[0] ? e.neo_code : (e.sqlstate[0] ? e.sqlstate : p2n_strerror(e.code)), e.msg);
            set_all(items, 1, SYNC_RES_FAILED, &e);
            return 0;
        }
        /* Several entities: find the culprit(s) by halves. */
        size_t half = n / 2;
        int r = write_range(ops, p, items, half, 0, st);
        if (r != 0) {
            set_all(items + half, n - half, SYNC_RES_RELEASE, NULL);
            return r;
        }
        return write_range(ops, p, items + half, n - half, 0, st);
    }
}

int sync_run_batch(const SyncOps *ops, SyncPolicy *policy, size_t limit, SyncBatchStats *st, P2nErr *err)
{
    memset(st, 0, sizeof(*st));
    st->started_ms = p2n_now_wall_ms();
    int64_t t0 = p2n_now_mono_ms();
    SyncItem *items = NULL;
    size_t n = 0;
    int64_t tu = p2n_now_mono_us();
    int rc = ops->claim(ops->ctx, limit, &items, &n, err);
    st->claim_us = p2n_now_mono_us() - tu;
    if (rc != 0)
        return rc;
    st->total = n;
    if (n == 0) {
        free(items);
        st->duration_ms = p2n_now_mono_ms() - t0;
        return 0;
    }

    SyncItem **ptrs = malloc(n * sizeof(*ptrs));
    if (ptrs == NULL) {
        /* Claims stay in_progress until their lease expires: nothing is lost. */
        sync_items_free(items, n);
        return p2n_err_set(err, P2N_ENOMEM, "out of memory for a batch of %zu", n);
    }
    for (size_t i = 0; i < n; i++) {
        ptrs[i] = &items[i];
        items[i].result = SYNC_RES_NONE;
    }
    st->status = write_range(ops, policy, ptrs, n, policy->inline_retries, st);
    free(ptrs);

    for (size_t i = 0; i < n; i++) {
        switch (items[i].result) {
        case SYNC_RES_SYNCED: st->synced++; break;
        case SYNC_RES_RETRY: st->retried++; break;
        case SYNC_RES_FAILED: st->failed++; break;
        case SYNC_RES_RELEASE:
        case SYNC_RES_NONE:
            items[i].result = SYNC_RES_RELEASE;
            st->released++;
            break;
        }
    }
    tu = p2n_now_mono_us();
    rc = ops->finish(ops->ctx, items, n, err);
    st->finish_us = p2n_now_mono_us() - tu;
    st->duration_ms = p2n_now_mono_ms() - t0;
    if (rc == 0 && ops->record_batch != NULL) {
        P2nErr e2;
        p2n_err_clear(&e2);
        if (ops->record_batch(ops->ctx, st, &e2) != 0)
            P2N_WARN("could not record the batch", "error=\"%s\"", e2.msg);
    }
    sync_items_free(items, n);
    if (rc != 0)
        return rc;
    if (st->status != 0)
        p2n_err_set(err, st->status, "target unavailable: %zu entities released", st->released);
    return st->status;
}
