/* Unit tests for the daemon loop (src/sync/daemon.c) through its hooks. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/log.h"
#include "common/time.h"
#include "sync/daemon.h"

typedef struct FakeD {
    volatile sig_atomic_t *stop;
    int connect_failures;     /* the first N connects fail */
    int connect_state;        /* the first connect fails with P2N_ESTATE (no sync schema) */
    int connects, disconnects, polls, batches, ticks;
    int shutdowns, disconnects_at_shutdown; /* the shutdown hook's calls, and disconnects before it */
    int work;                 /* entities waiting */
    int work_after_polls;     /* after this many polls, 250 entities arrive (-1 = never) */
    int fail_batches;         /* the next N batches fail (target gone) */
    int stop_after_batches;   /* set *stop after this many non-empty batches (0 = never) */
    int stop_after_polls;     /* set *stop after this many polls (0 = never) */
    int nonempty;
} FakeD;

static int f_connect(void *ctx, P2nErr *err)
{
    FakeD *f = ctx;
    f->connects++;
    if (f->connect_state)
        return p2n_err_set(err, P2N_ESTATE, "the sync schema \"public\" is not installed in this database");
    if (f->connect_failures > 0) {
        f->connect_failures--;
        return p2n_err_set(err, P2N_ECONNLOST, "connection refused");
    }
    return 0;
}

static void f_disconnect(void *ctx) { ((FakeD *)ctx)->disconnects++; }

static int f_poll(void *ctx, int *has, P2nErr *err)
{
    (void)err;
    FakeD *f = ctx;
    f->polls++;
    if (f->work_after_polls >= 0 && f->polls == f->work_after_polls)
        f->work += 250;
    *has = f->work > 0;
    if (f->stop_after_polls && f->polls >= f->stop_after_polls)
        *f->stop = 1;
    return 0;
}

static int f_batch(void *ctx, SyncBatchStats *st, P2nErr *err)
{
    FakeD *f = ctx;
    memset(st, 0, sizeof(*st));
    f->batches++;
    if (f->fail_batches > 0) {
        f->fail_batches--;
        return p2n_err_set(err, P2N_ECONNLOST, "target unavailable");
    }
    int n = f->work > 100 ? 100 : f->work;
    f->work -= n;
    st->total = (size_t)n;
    if (n > 0) {
        f->nonempty++;
        if (f->stop_after_batches && f->nonempty >= f->stop_after_batches)
            *f->stop = 1;
    }
    return 0;
}

static void f_tick(void *ctx) { ((FakeD *)ctx)->ticks++; }

static void f_shutdown(void *ctx)
{
    FakeD *f = ctx;
    f->shutdowns++;
    f->disconnects_at_shutdown = f->disconnects;
}

static SyncDaemonHooks hooks(FakeD *f)
{
    SyncDaemonHooks h = {f, f_connect, f_disconnect, f_poll, f_batch, f_tick, f_shutdown};
    return h;
}

static SyncDaemonConfig fast_config(void)
{
    SyncDaemonConfig c;
    sync_daemon_config_default(&c);
    c.min_poll_ms = 1;
    c.max_poll_ms = 4;
    c.tick_ms = 5;
    c.reconnect_base_ms = 1;
    c.reconnect_cap_ms = 5;
    c.sweep_ms = 0;
    return c;
}

static void test_drains_work_then_polls(void **state)
{
    (void)state;
    volatile sig_atomic_t stop = 0;
    FakeD f = {.stop = &stop, .work = 0, .work_after_polls = 5, .stop_after_polls = 20};
    SyncDaemonHooks h = hooks(&f);
    SyncDaemonConfig c = fast_config();
    SyncDaemonStats st;
    assert_int_equal(sync_daemon_run(&h, &c, &stop, &st), 0);
    assert_int_equal(f.work, 0);           /* 250 arrived and were drained */
    assert_int_equal(st.entities, 250);
    assert_int_equal(st.batches, 3);       /* 100 + 100 + 50 */
    assert_true(f.polls >= 20);
    assert_int_equal(f.disconnects, 1);    /* clean stop closes connections */
    assert_int_equal(f.shutdowns, 1);      /* ...after the shutdown hook, which saw them open */
    assert_int_equal(f.disconnects_at_shutdown, 0);
}

static void test_reconnects_with_backoff_and_never_exits(void **state)
{
    (void)state;
    volatile sig_atomic_t stop = 0;
    FakeD f = {.stop = &stop, .connect_failures = 4, .work = 150, .work_after_polls = -1,
               .stop_after_batches = 2};
    SyncDaemonHooks h = hooks(&f);
    SyncDaemonConfig c = fast_config();
    SyncDaemonStats st;
    assert_int_equal(sync_daemon_run(&h, &c, &stop, &st), 0);
    assert_int_equal(f.connects, 5);
    assert_int_equal(st.faults, 4);
    assert_int_equal(st.reconnects, 1);
    assert_int_equal(f.work, 0);
}

/* Issue 15 item 3: a sync schema missing (or of another version) is not retried for ever */
static void test_stops_when_it_cannot_run(void **state)
{
    (void)state;
    volatile sig_atomic_t stop = 0;
    FakeD f = {.stop = &stop, .connect_state = 1, .work = 10, .work_after_polls = -1};
    SyncDaemonHooks h = hooks(&f);
    SyncDaemonConfig c = fast_config();
    SyncDaemonStats st;
    assert_int_equal(sync_daemon_run(&h, &c, &stop, &st), P2N_ESTATE);
    assert_int_equal(f.connects, 1);
    assert_int_equal(f.batches, 0);
    assert_int_equal(f.shutdowns, 1);
}

static void test_failed_batch_reconnects(void **state)
{
    (void)state;
    volatile sig_atomic_t stop = 0;
    FakeD f = {.stop = &stop, .fail_batches = 3, .work = 100, .work_after_polls = -1, .stop_after_batches = 1};
    SyncDaemonHooks h = hooks(&f);
    SyncDaemonConfig c = fast_config();
    SyncDaemonStats st;
    assert_int_equal(sync_daemon_run(&h, &c, &stop, &st), 0);
    assert_int_equal(f.connects, 4);       /* one per failed batch, plus the first */
    assert_int_equal(f.disconnects, 4);
    assert_int_equal(f.work, 0);
}

static void f_tick_stop_at_3(void *ctx)
{
    FakeD *f = ctx;
    if (++f->ticks >= 3)
        *f->stop = 1;
}

static void test_auto_sync_off_runs_no_batch(void **state)
{
    (void)state;
    volatile sig_atomic_t stop = 0;
    FakeD f = {.stop = &stop, .work = 100, .work_after_polls = -1};
    SyncDaemonHooks h = hooks(&f);
    h.tick = f_tick_stop_at_3;
    SyncDaemonConfig c = fast_config();
    c.auto_sync = false;
    c.tick_ms = 1;
    SyncDaemonStats st;
    assert_int_equal(sync_daemon_run(&h, &c, &stop, &st), 0);
    assert_int_equal(f.ticks, 3);      /* periodic work still runs */
    assert_int_equal(f.batches, 0);    /* but no sync */
    assert_int_equal(f.polls, 0);
    assert_int_equal(f.work, 100);
}

static int g_sweep_batches;
static int f_batch_counting(void *ctx, SyncBatchStats *st, P2nErr *err)
{
    g_sweep_batches++;
    return f_batch(ctx, st, err);
}

static void test_sweep_runs_batches_without_poll_news(void **state)
{
    (void)state;
    volatile sig_atomic_t stop = 0;
    FakeD f = {.stop = &stop, .work = 0, .work_after_polls = -1};
    SyncDaemonHooks h = hooks(&f);
    h.batch = f_batch_counting;
    SyncDaemonConfig c = fast_config();
    c.sweep_ms = 10;
    h.tick = f_tick_stop_at_3;
    c.tick_ms = 40; /* stop after ~80 ms */
    g_sweep_batches = 0;
    assert_int_equal(sync_daemon_run(&h, &c, &stop, NULL), 0);
    /* the poll never reported work, yet the sweep ran batches: the first, then about one per 10 ms */
    assert_true(g_sweep_batches >= 4);
    assert_true(f.polls > 0);
}

/* connect fails with a wrong password */
static int f_connect_auth(void *ctx, P2nErr *err)
{
    FakeD *f = ctx;
    f->connects++;
    p2n_err_set(err, P2N_EAUTH, "authentication failed at 127.0.0.1:7687: The client is unauthorized "
                                "(Neo.ClientError.Security.Unauthorized)");
    snprintf(err->neo_code, sizeof(err->neo_code), "Neo.ClientError.Security.Unauthorized");
    return P2N_EAUTH;
}

static volatile sig_atomic_t *g_stop_later;
static void *stop_later(void *arg)
{
    (void)arg;
    p2n_sleep_ms(700, NULL);
    *g_stop_later = 1;
    return NULL;
}

/* A wrong password is not retried at the reconnect backoff (200 ms, 400 ms ...: Neo4j locks the
   account after a few failures in a row): the next attempt waits 30 s. With the daemon's default
   configuration, 700 ms see one attempt, not three or four. */
static void test_auth_failure_backs_off_far(void **state)
{
    (void)state;
    volatile sig_atomic_t stop = 0;
    FakeD f = {.stop = &stop, .work_after_polls = -1};
    SyncDaemonHooks h = hooks(&f);
    h.connect = f_connect_auth;
    SyncDaemonConfig c;
    sync_daemon_config_default(&c);
    pthread_t t;
    g_stop_later = &stop;
    assert_int_equal(pthread_create(&t, NULL, stop_later, NULL), 0);
    int64_t t0 = p2n_now_mono_ms();
    SyncDaemonStats st;
    assert_int_equal(sync_daemon_run(&h, &c, &stop, &st), 0);
    pthread_join(t, NULL);
    assert_int_equal(f.connects, 1);
    assert_int_equal(st.faults, 1);
    assert_true(p2n_now_mono_ms() - t0 < 5000); /* the long wait still ends on a stop */
}

/* The backoff decision: credentials failures (either side) wait 30 s doubling to 5 min; others
   the reconnect backoff (200 ms .. 10 s, jittered down by at most 30 %). */
static void test_fault_delay_decision(void **state)
{
    (void)state;
    SyncDaemonConfig c;
    sync_daemon_config_default(&c);
    P2nBackoff rb = {0};
    p2n_backoff_init(&rb, c.reconnect_base_ms, c.reconnect_cap_ms, 0.3);
    uint32_t attempt = 0, auth = 0;
    P2nErr neo, pg, rate, lost, forbidden;
    p2n_err_set(&neo, P2N_EAUTH, "authentication failed");
    snprintf(neo.neo_code, sizeof(neo.neo_code), "Neo.ClientError.Security.Unauthorized");
    p2n_err_set(&pg, P2N_EAUTH, "could not connect to PostgreSQL: password authentication failed");
    snprintf(pg.sqlstate, sizeof(pg.sqlstate), "28P01");
    p2n_err_set(&rate, P2N_ENEO4J, "too many attempts");
    snprintf(rate.neo_code, sizeof(rate.neo_code), "Neo.ClientError.Security.AuthenticationRateLimit");
    p2n_err_set(&lost, P2N_ECONNLOST, "connection refused");
    p2n_err_set(&forbidden, P2N_ENEO4J, "no write permission");
    snprintf(forbidden.neo_code, sizeof(forbidden.neo_code), "Neo.ClientError.Security.Forbidden");

    const uint32_t want[] = {30000, 60000, 120000, 240000, 300000, 300000};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const P2nErr *e = i % 3 == 0 ? &neo : i % 3 == 1 ? &pg : &rate;
        assert_int_equal(sync_daemon_fault_delay_ms(&c, &rb, e, &attempt, &auth), want[i]);
    }
    assert_int_equal(auth, 6);
    assert_int_equal(attempt, 0);
    for (uint32_t i = 1; i <= 8; i++) {
        uint32_t d = sync_daemon_fault_delay_ms(&c, &rb, i % 2 ? &lost : &forbidden, &attempt, &auth);
        uint32_t ceil = p2n_backoff_ceiling_ms(200, 10000, i);
        assert_true(d <= ceil && d >= ceil * 7 / 10);
    }
    assert_int_equal(attempt, 8);
    assert_int_equal(auth, 6); /* unchanged by other faults */
}

static void test_stop_before_start(void **state)
{
    (void)state;
    volatile sig_atomic_t stop = 1;
    FakeD f = {.stop = &stop, .work = 100, .work_after_polls = -1};
    SyncDaemonHooks h = hooks(&f);
    SyncDaemonConfig c = fast_config();
    assert_int_equal(sync_daemon_run(&h, &c, &stop, NULL), 0);
    assert_int_equal(f.connects, 0);
    assert_int_equal(f.batches, 0);
}

int main(void)
{
    p2n_log_set_level(P2N_LOG_OFF);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_drains_work_then_polls),
        cmocka_unit_test(test_reconnects_with_backoff_and_never_exits),
        cmocka_unit_test(test_failed_batch_reconnects),
        cmocka_unit_test(test_stops_when_it_cannot_run),
        cmocka_unit_test(test_auto_sync_off_runs_no_batch),
        cmocka_unit_test(test_stop_before_start),
        cmocka_unit_test(test_auth_failure_backs_off_far),
        cmocka_unit_test(test_fault_delay_decision),
        cmocka_unit_test(test_sweep_runs_batches_without_poll_news),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
