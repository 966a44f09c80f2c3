/* The daemon loop: batches while there is work, adaptive idle polling, reconnects, clean stop. */
#include "sync/daemon.h"

#include <string.h>

#include "common/log.h"
#include "common/retry.h"
#include "common/time.h"

void sync_daemon_config_default(SyncDaemonConfig *c)
{
    memset(c, 0, sizeof(*c));
    c->auto_sync = true;
    c->interval_ms = 300000;
    c->sweep_ms = 1000;
    c->min_poll_ms = 2;
    c->max_poll_ms = 50;
    c->tick_ms = 1000;
    c->reconnect_base_ms = 200;
    c->reconnect_cap_ms = 10000;
    c->auth_base_ms = 30000;
    c->auth_cap_ms = 300000;
}

uint32_t sync_daemon_fault_delay_ms(const SyncDaemonConfig *c, P2nBackoff *rb, const P2nErr *e, uint32_t *attempt,
                                    uint32_t *auth_attempt)
{
    if (p2n_err_is_auth(e)) {
        (*auth_attempt)++;
        return p2n_backoff_ceiling_ms(c->auth_base_ms, c->auth_cap_ms, *auth_attempt);
    }
    (*attempt)++;
    return p2n_backoff_delay_ms(rb, *attempt);
}

/* Logs a fault and the wait that follows; a wrong password or user says so, at error level (the
   message names where the secret came from, never the secret). */
static void log_fault(const char *what, const P2nErr *e, uint32_t attempt, uint32_t delay_ms)
{
    if (p2n_err_is_auth(e))
        P2N_ERROR("authentication failed: the password or the user is wrong, will retry much later",
                  "attempt=%u delay_ms=%u error=\"%s\"", attempt, delay_ms, e->msg);
    else
        P2N_WARN(what, "attempt=%u delay_ms=%u error=\"%s\"", attempt, delay_ms, e->msg);
}

/* Sleeps up to ms, waking early when *stop is set. */
static void nap(int64_t ms, volatile sig_atomic_t *stop)
{
    int64_t end = p2n_now_mono_ms() + ms;
    while (!*stop) {
        int64_t left = end - p2n_now_mono_ms();
        if (left <= 0)
            return;
        p2n_sleep_ms(left > 20 ? 20 : left, NULL);
    }
}

int sync_daemon_run(const SyncDaemonHooks *h, const SyncDaemonConfig *c, volatile sig_atomic_t *stop,
                    SyncDaemonStats *stats)
{
    SyncDaemonStats local;
    if (stats == NULL)
        stats = &local;
    memset(stats, 0, sizeof(*stats));
    P2nBackoff rb = {0};
    p2n_backoff_init(&rb, c->reconnect_base_ms, c->reconnect_cap_ms, 0.3);
    uint32_t reconnect_attempt = 0, auth_attempt = 0;
    bool connected = false;
    int fatal = 0;
    uint32_t poll_ms = c->min_poll_ms;
    int64_t last_batch = 0; /* monotonic ms of the last batch (0 = run one now) */
    int64_t last_tick = 0;

    while (!*stop) {
        int64_t now = p2n_now_mono_ms();
        if (h->tick != NULL && now - last_tick >= (int64_t)c->tick_ms) {
            h->tick(h->ctx);
            last_tick = now;
        }
        if (!connected) {
            P2nErr e;
            p2n_err_clear(&e);
            int crc = h->connect(h->ctx, &e);
            if (crc == P2N_ESTATE) {
                P2N_ERROR("the daemon cannot run, stopping", "error=\"%s\"", e.msg);
                fatal = crc;
                break;
            }
            if (crc != 0) {
                uint32_t d = sync_daemon_fault_delay_ms(c, &rb, &e, &reconnect_attempt, &auth_attempt);
                log_fault("could not connect, will retry", &e, reconnect_attempt + auth_attempt, d);
                stats->faults++;
                nap(d, stop);
                continue;
            }
            if (reconnect_attempt + auth_attempt > 0) {
                P2N_INFO("connected again", "after_attempts=%u", reconnect_attempt + auth_attempt);
                stats->reconnects++;
            }
            auth_attempt = 0;
            connected = true;
            last_batch = 0;
        }
        if (!c->auto_sync) {
            nap(c->tick_ms, stop);
            continue;
        }

        uint32_t every = c->interval_ms;
        if (c->sweep_ms != 0 && c->sweep_ms < every)
            every = c->sweep_ms;
        bool due = last_batch == 0 || now - last_batch >= (int64_t)every;
        if (!due) {
            int has = 0;
            P2nErr e;
            p2n_err_clear(&e);
            stats->polls++;
            if (h->poll(h->ctx, &has, &e) != 0) {
                P2N_WARN("wake-up poll failed, reconnecting", "error=\"%s\"", e.msg);
                stats->faults++;
                h->disconnect(h->ctx);
                connected = false;
                continue;
            }
            if (!has) {
                nap(poll_ms, stop);
                poll_ms = poll_ms * 2 > c->max_poll_ms ? c->max_poll_ms : poll_ms * 2;
                continue;
            }
        }

        /* Work may be waiting: run batches until one comes back empty. */
        for (;;) {
            SyncBatchStats st;
            P2nErr e;
            p2n_err_clear(&e);
            int rc = h->batch(h->ctx, &st, &e);
            last_batch = p2n_now_mono_ms();
            if (rc != 0) {
                /* Count it like a failed connect, so a target that accepts connections but
                   fails every batch is retried with growing delays, not in a tight loop. */
                uint32_t d = sync_daemon_fault_delay_ms(c, &rb, &e, &reconnect_attempt, &auth_attempt);
                log_fault("batch failed, reconnecting", &e, reconnect_attempt + auth_attempt, d);
                stats->faults++;
                h->disconnect(h->ctx);
                connected = false;
                nap(d, stop);
                break;
            }
            reconnect_attempt = 0;
            if (st.total == 0)
                break;
            stats->batches++;
            stats->entities += st.total;
            poll_ms = c->min_poll_ms;
            if (*stop)
                break;
            /* keep the periodic hook alive under sustained load */
            if (h->tick != NULL && p2n_now_mono_ms() - last_tick >= (int64_t)c->tick_ms) {
                h->tick(h->ctx);
                last_tick = p2n_now_mono_ms();
            }
        }
    }
    /* every claim marked or released while the connections are still open */
    if (h->shutdown != NULL)
        h->shutdown(h->ctx);
    if (connected)
        h->disconnect(h->ctx);
    return fatal;
}
