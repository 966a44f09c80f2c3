/* Unit tests for the batch runner's decisions (src/sync/runner.c), through its SyncOps interface. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/log.h"
#include "sync/runner.h"

typedef struct Fake {
    size_t pending;          /* entities to hand out */
    int poison[4];           /* ids whose write fails permanently (-1 = none) */
    int flaky_data;          /* id whose write always fails with a transient, non-contention code (-1 = none) */
    const char *flaky_code;  /* that code (default Neo.DatabaseError.General.UnknownError) */
    int transient_failures;  /* next N writes fail with a deadlock */
    int unavailable_writes;  /* next N writes fail with connection lost */
    size_t unavailable_after; /* every write after the first N fails with connection lost (0 = off) */
    size_t writes;
    size_t max_write;        /* largest write seen */
    SyncResult results[1000];
    int32_t attempts[1000];
    size_t finished;
    int batches_recorded;
    int give_back;           /* id the write gives back (SYNC_RES_RELEASE) and then succeeds (-1 = none) */
    int give_back_deadlocks; /* after giving it back, the next N writes fail with a deadlock */
} Fake;

static int fake_claim(void *ctx, size_t limit, SyncItem **items, size_t *n, P2nErr *err)
{
    (void)err;
    Fake *f = ctx;
    size_t k = f->pending < limit ? f->pending : limit;
    *items = calloc(k ? k : 1, sizeof(SyncItem));
    for (size_t i = 0; i < k; i++) {
        char id[32];
        snprintf(id, sizeof(id), "%zu", i);
        (*items)[i].entity_type = strdup("User");
        (*items)[i].entity_id = strdup(id);
        (*items)[i].version = (int64_t)i + 100;
        (*items)[i].attempts = f->attempts[i];
    }
    *n = k;
    return 0;
}

static int fake_write(void *ctx, SyncItem *const *items, size_t n, int64_t deadline, P2nErr *err)
{
    (void)deadline;
    Fake *f = ctx;
    f->writes++;
    if (n > f->max_write)
        f->max_write = n;
    for (size_t i = 0; i < n; i++)
        if (f->give_back >= 0 && atoi(items[i]->entity_id) == f->give_back && items[i]->result != SYNC_RES_RELEASE)
            items[i]->result = SYNC_RES_RELEASE;
    if (f->give_back_deadlocks > 0) {
        f->give_back_deadlocks--;
        int rc = p2n_err_set(err, P2N_ENEO4J, "deadlock");
        strcpy(err->neo_code, "Neo.TransientError.Transaction.DeadlockDetected");
        return rc;
    }
    if (f->unavailable_writes > 0 || (f->unavailable_after > 0 && f->writes > f->unavailable_after)) {
        if (f->unavailable_writes > 0)
            f->unavailable_writes--;
        return p2n_err_set(err, P2N_ECONNLOST, "connection refused");
    }
    if (f->transient_failures > 0) {
        f->transient_failures--;
        int rc = p2n_err_set(err, P2N_ENEO4J, "deadlock");
        strcpy(err->neo_code, "Neo.TransientError.Transaction.DeadlockDetected");
        return rc;
    }
    for (size_t i = 0; i < n; i++)
        if (f->flaky_data >= 0 && atoi(items[i]->entity_id) == f->flaky_data) {
            int rc = p2n_err_set(err, P2N_ENEO4J, "failed on %s", items[i]->entity_id);
            strcpy(err->neo_code, f->flaky_code ? f->flaky_code : "Neo.DatabaseError.General.UnknownError");
            return rc;
        }
    for (size_t i = 0; i < n; i++)
        for (int p = 0; p < 4; p++)
            if (f->poison[p] >= 0 && atoi(items[i]->entity_id) == f->poison[p]) {
                int rc = p2n_err_set(err, P2N_ENEO4J, "constraint violated by %s", items[i]->entity_id);
                strcpy(err->neo_code, "Neo.ClientError.Schema.ConstraintValidationFailed");
                return rc;
            }
    return 0;
}

static int fake_finish(void *ctx, SyncItem *items, size_t n, P2nErr *err)
{
    (void)err;
    Fake *f = ctx;
    for (size_t i = 0; i < n; i++)
        f->results[atoi(items[i].entity_id)] = items[i].result;
    f->finished = n;
    return 0;
}

static int fake_record(void *ctx, SyncBatchStats *st, P2nErr *err)
{
    (void)err;
    Fake *f = ctx;
    f->batches_recorded++;
    st->batch_id = 7;
    return 0;
}

static void fake_init(Fake *f, size_t pending)
{
    memset(f, 0, sizeof(*f));
    f->pending = pending;
    for (int p = 0; p < 4; p++)
        f->poison[p] = -1;
    f->flaky_data = -1;
    f->give_back = -1;
}

static SyncOps ops_for(Fake *f)
{
    SyncOps ops = {f, fake_claim, fake_write, fake_finish, fake_record};
    return ops;
}

static SyncPolicy quick_policy(void)
{
    SyncPolicy p;
    sync_policy_default(&p);
    p2n_backoff_init(&p.backoff, 1, 10, 0); /* no real waiting in unit tests */
    return p;
}

static void test_all_synced_in_one_write(void **state)
{
    (void)state;
    Fake f;
    fake_init(&f, 100);
    SyncOps ops = ops_for(&f);
    SyncPolicy p = quick_policy();
    SyncBatchStats st;
    P2nErr e;
    p2n_err_clear(&e);
    assert_int_equal(sync_run_batch(&ops, &p, 100, &st, &e), 0);
    assert_int_equal(st.total, 100);
    assert_int_equal(st.synced, 100);
    assert_int_equal(st.writes, 1);
    assert_int_equal(f.finished, 100);
    assert_int_equal(f.batches_recorded, 1);
    assert_int_equal(st.batch_id, 7);
}

static void test_empty_queue(void **state)
{
    (void)state;
    Fake f;
    fake_init(&f, 0);
    SyncOps ops = ops_for(&f);
    SyncPolicy p = quick_policy();
    SyncBatchStats st;
    assert_int_equal(sync_run_batch(&ops, &p, 100, &st, NULL), 0);
    assert_int_equal(st.total, 0);
    assert_int_equal(f.writes, 0);
    assert_int_equal(f.batches_recorded, 0);
}

static void test_poison_is_isolated_by_bisection(void **state)
{
    (void)state;
    Fake f;
    fake_init(&f, 100);
    f.poison[0] = 37;
    SyncOps ops = ops_for(&f);
    SyncPolicy p = quick_policy();
    SyncBatchStats st;
    assert_int_equal(sync_run_batch(&ops, &p, 100, &st, NULL), 0);
    assert_int_equal(st.failed, 1);
    assert_int_equal(st.synced, 99);
    assert_int_equal(f.results[37], SYNC_RES_FAILED);
    for (int i = 0; i < 100; i++)
        if (i != 37)
            assert_int_equal(f.results[i], SYNC_RES_SYNCED);
    /* bisection costs about 2*log2(n) writes, not n */
    assert_true(st.writes <= 16);
}

static void test_two_poisons(void **state)
{
    (void)state;
    Fake f;
    fake_init(&f, 64);
    f.poison[0] = 0;
    f.poison[1] = 63;
    SyncOps ops = ops_for(&f);
    SyncPolicy p = quick_policy();
    SyncBatchStats st;
    assert_int_equal(sync_run_batch(&ops, &p, 64, &st, NULL), 0);
    assert_int_equal(st.failed, 2);
    assert_int_equal(st.synced, 62);
    assert_int_equal(f.results[0], SYNC_RES_FAILED);
    assert_int_equal(f.results[63], SYNC_RES_FAILED);
}

static void test_transient_retried_in_place(void **state)
{
    (void)state;
    Fake f;
    fake_init(&f, 10);
    f.transient_failures = 2; /* inline_retries = 2: the third try succeeds */
    SyncOps ops = ops_for(&f);
    SyncPolicy p = quick_policy();
    SyncBatchStats st;
    assert_int_equal(sync_run_batch(&ops, &p, 10, &st, NULL), 0);
    assert_int_equal(st.synced, 10);
    assert_int_equal(st.writes, 3);
}

static void test_transient_exhausted_consumes_attempt(void **state)
{
    (void)state;
    Fake f;
    fake_init(&f, 3);
    f.attempts[2] = 2; /* this one is on its last attempt (max 3) */
    f.transient_failures = 100;
    SyncOps ops = ops_for(&f);
    SyncPolicy p = quick_policy();
    SyncBatchStats st;
    assert_int_equal(sync_run_batch(&ops, &p, 3, &st, NULL), 0);
    assert_int_equal(f.results[0], SYNC_RES_RETRY);
    assert_int_equal(f.results[1], SYNC_RES_RETRY);
    assert_int_equal(f.results[2], SYNC_RES_FAILED);
    assert_int_equal(st.retried, 2);
    assert_int_equal(st.failed, 1);
    assert_int_equal(st.writes, 3); /* no bisection for transient errors */
}

/* A transient error that follows one entity (a DatabaseError that is not contention) repeats on
   every write holding it: the batch is bisected and only that entity is retried later. */
static void test_repeating_transient_isolates_culprit(void **state)
{
    (void)state;
    Fake f;
    fake_init(&f, 61);
    f.flaky_data = 17;
    SyncOps ops = ops_for(&f);
    SyncPolicy p = quick_policy();
    SyncBatchStats st;
    assert_int_equal(sync_run_batch(&ops, &p, 61, &st, NULL), 0);
    assert_int_equal(st.synced, 60);
    assert_int_equal(st.retried, 1);
    assert_int_equal(st.failed, 0);
    assert_int_equal(f.results[17], SYNC_RES_RETRY);
    for (int i = 0; i < 61; i++)
        if (i != 17)
            assert_int_equal(f.results[i], SYNC_RES_SYNCED);
    /* 3 tries of the whole batch, then one write per half down to the culprit (about 2 log2 n) */
    assert_true(st.writes <= 3 + 2 * 7);
}

/* On its last attempt the culprit alone fails; the others sync. */
static void test_repeating_transient_fails_only_culprit(void **state)
{
    (void)state;
    Fake f;
    fake_init(&f, 10);
    f.flaky_data = 4;
    f.attempts[4] = 2;
    f.attempts[5] = 2; /* a bystander on its last attempt too: it must not fail */
    SyncOps ops = ops_for(&f);
    SyncPolicy p = quick_policy();
    SyncBatchStats st;
    assert_int_equal(sync_run_batch(&ops, &p, 10, &st, NULL), 0);
    assert_int_equal(f.results[4], SYNC_RES_FAILED);
    assert_int_equal(f.results[5], SYNC_RES_SYNCED);
    assert_int_equal(st.synced, 9);
    assert_int_equal(st.failed, 1);
}

/* "Property value is too large to index" (Neo.DatabaseError.Statement.ExecutionFailed) is the
   row's own fault: bisected at once, the culprit failed, no in-place retry of the whole batch. */
static void test_statement_failure_is_permanent(void **state)
{
    (void)state;
    Fake f;
    fake_init(&f, 61);
    f.flaky_data = 30;
    f.flaky_code = "Neo.DatabaseError.Statement.ExecutionFailed";
    SyncOps ops = ops_for(&f);
    SyncPolicy p = quick_policy();
    SyncBatchStats st;
    assert_int_equal(sync_run_batch(&ops, &p, 61, &st, NULL), 0);
    assert_int_equal(f.results[30], SYNC_RES_FAILED);
    assert_int_equal(st.synced, 60);
    assert_true(st.writes <= 1 + 2 * 7);
}

/* The write gives one item back (its table cannot be read): it stays released, with no attempt
   consumed, whatever happens to the others (synced here, or retried after deadlocks). */
static void test_write_gives_items_back(void **state)
{
    (void)state;
    Fake f;
    fake_init(&f, 10);
    f.give_back = 4;
    SyncOps ops = ops_for(&f);
    SyncPolicy p = quick_policy();
    SyncBatchStats st;
    assert_int_equal(sync_run_batch(&ops, &p, 10, &st, NULL), 0);
    assert_int_equal(f.results[4], SYNC_RES_RELEASE);
    assert_int_equal(st.released, 1);
    assert_int_equal(st.synced, 9);
    /* deadlocks until the attempts are spent: the others retry, the given-back one stays released */
    fake_init(&f, 10);
    f.give_back = 4;
    f.give_back_deadlocks = 100;
    assert_int_equal(sync_run_batch(&ops, &p, 10, &st, NULL), 0);
    assert_int_equal(f.results[4], SYNC_RES_RELEASE);
    assert_int_equal(f.results[3], SYNC_RES_RETRY);
    assert_int_equal(st.released, 1);
    assert_int_equal(st.retried, 9);
}

static void test_unavailable_releases_without_attempt(void **state)
{
    (void)state;
    Fake f;
    fake_init(&f, 20);
    f.unavailable_writes = 1;
    SyncOps ops = ops_for(&f);
    SyncPolicy p = quick_policy();
    SyncBatchStats st;
    P2nErr e;
    p2n_err_clear(&e);
    assert_int_equal(sync_run_batch(&ops, &p, 20, &st, &e), P2N_ECONNLOST);
    assert_int_equal(st.released, 20);
    assert_int_equal(st.synced, 0);
    for (int i = 0; i < 20; i++)
        assert_int_equal(f.results[i], SYNC_RES_RELEASE);
    assert_int_equal(f.finished, 20); /* outcomes still recorded */
}

static void test_unavailable_during_bisection_releases_rest(void **state)
{
    (void)state;
    Fake f;
    fake_init(&f, 8);
    f.poison[0] = 1;
    f.unavailable_after = 1; /* the first write fails on the poison, then the target goes away */
    SyncOps ops = ops_for(&f);
    SyncPolicy p = quick_policy();
    SyncBatchStats st;
    assert_int_equal(sync_run_batch(&ops, &p, 8, &st, NULL), P2N_ECONNLOST);
    assert_int_equal(st.released, 8);
    assert_int_equal(st.failed, 0); /* nobody is blamed for an outage */
    for (int i = 0; i < 8; i++)
        assert_int_equal(f.results[i], SYNC_RES_RELEASE);
}

int main(void)
{
    p2n_log_set_level(P2N_LOG_OFF);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_synced_in_one_write),
        cmocka_unit_test(test_empty_queue),
        cmocka_unit_test(test_poison_is_isolated_by_bisection),
        cmocka_unit_test(test_two_poisons),
        cmocka_unit_test(test_transient_retried_in_place),
        cmocka_unit_test(test_transient_exhausted_consumes_attempt),
        cmocka_unit_test(test_repeating_transient_isolates_culprit),
        cmocka_unit_test(test_repeating_transient_fails_only_culprit),
        cmocka_unit_test(test_statement_failure_is_permanent),
        cmocka_unit_test(test_write_gives_items_back),
        cmocka_unit_test(test_unavailable_releases_without_attempt),
        cmocka_unit_test(test_unavailable_during_bisection_releases_rest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
