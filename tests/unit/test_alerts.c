/*
 * Unit tests for src/sync/alerts: the evaluator on a fake clock (windows honoured, each change
 * reported once), the failure window, JSON, metric export, and the webhook client against a
 * loopback receiver (success, non-2xx, no answer -> timeout, refused, bad URLs).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"
#include "common/time.h"
#include "sync/alerts.h"

#define MIN (60 * 1000LL)
#define HOUR (60 * MIN)
#define T0 1800000000000LL /* a fixed wall-clock start for the fake clock */

static size_t eval(SyncAlerts *a, SyncAlertObs o, SyncAlertEvent *ev) { return sync_alerts_evaluate(a, &o, ev, SYNC_ALERT_COUNT); }

static SyncAlertObs obs_pending(int64_t t, int64_t pending)
{
    SyncAlertObs o = sync_alert_obs_unknown(t);
    o.pending = pending;
    return o;
}

static void test_defaults_are_the_seed_table(void **state)
{
    (void)state;
    SyncAlertConfig c;
    sync_alert_config_defaults(&c);
    assert_true(c.rules[SYNC_ALERT_PENDING_ENTITIES].threshold == 100);
    assert_int_equal(c.rules[SYNC_ALERT_PENDING_ENTITIES].for_ms, 5 * MIN);
    assert_true(c.rules[SYNC_ALERT_FAILED_SYNCS].threshold == 5);
    assert_int_equal(c.failed_window_ms, HOUR);
    assert_true(c.rules[SYNC_ALERT_SYNC_LATENCY].threshold == 5);
    assert_true(c.rules[SYNC_ALERT_BATCH_DURATION].threshold == 120);
    assert_true(c.rules[SYNC_ALERT_CONFLICTS].threshold == 0);
    assert_true(c.rules[SYNC_ALERT_STALENESS_WARNING].threshold == 3600);
    assert_true(c.rules[SYNC_ALERT_STALENESS].threshold == 86400);
    char d[128];
    assert_string_equal(sync_alert_describe(&c, SYNC_ALERT_PENDING_ENTITIES, d, sizeof(d)),
                        "pending entities > 100 for 5m");
    assert_string_equal(sync_alert_describe(&c, SYNC_ALERT_FAILED_SYNCS, d, sizeof(d)), "failed syncs > 5 in 1h");
    assert_string_equal(sync_alert_name(SYNC_ALERT_STALENESS), "data_staleness");
    assert_string_equal(sync_alert_severity(SYNC_ALERT_STALENESS), "critical");
    assert_string_equal(sync_alert_severity(SYNC_ALERT_STALENESS_WARNING), "warning");
    assert_int_equal(sync_alert_parse_name("conflicts"), SYNC_ALERT_CONFLICTS);
    assert_int_equal(sync_alert_parse_name("nope"), -1);
}

static void test_pending_window_fires_once_resolves_once(void **state)
{
    (void)state;
    SyncAlerts *a = sync_alerts_new(NULL);
    SyncAlertEvent ev[SYNC_ALERT_COUNT];
    assert_int_equal(eval(a, obs_pending(T0, 100), ev), 0); /* not above 100 */
    assert_int_equal(eval(a, obs_pending(T0 + 1000, 150), ev), 1);
    assert_int_equal(ev[0].kind, SYNC_ALERT_PENDING_ENTITIES);
    assert_int_equal(ev[0].from, SYNC_ALERT_STATE_OK);
    assert_int_equal(ev[0].to, SYNC_ALERT_STATE_PENDING);
    assert_int_equal(ev[0].since_ms, T0 + 1000);
    /* inside the window: no event, still pending, not firing */
    for (int64_t t = T0 + 1000 + MIN; t < T0 + 1000 + 5 * MIN; t += MIN)
        assert_int_equal(eval(a, obs_pending(t, 500), ev), 0);
    assert_int_equal(sync_alerts_firing_count(a), 0);
    assert_int_equal(eval(a, obs_pending(T0 + 1000 + 5 * MIN - 1, 500), ev), 0);
    /* the window has passed: fires, once */
    assert_int_equal(eval(a, obs_pending(T0 + 1000 + 5 * MIN, 500), ev), 1);
    assert_int_equal(ev[0].from, SYNC_ALERT_STATE_PENDING);
    assert_int_equal(ev[0].to, SYNC_ALERT_STATE_FIRING);
    assert_true(ev[0].value == 500);
    assert_int_equal(ev[0].since_ms, T0 + 1000);
    assert_int_equal(sync_alerts_firing_count(a), 1);
    for (int i = 1; i <= 10; i++)
        assert_int_equal(eval(a, obs_pending(T0 + 1000 + 5 * MIN + i * 1000, 400), ev), 0);
    /* unknown data changes nothing */
    assert_int_equal(eval(a, sync_alert_obs_unknown(T0 + 20 * MIN), ev), 0);
    assert_int_equal(sync_alerts_firing_count(a), 1);
    /* resolves, once */
    assert_int_equal(eval(a, obs_pending(T0 + 21 * MIN, 3), ev), 1);
    assert_int_equal(ev[0].from, SYNC_ALERT_STATE_FIRING);
    assert_int_equal(ev[0].to, SYNC_ALERT_STATE_OK);
    assert_int_equal(ev[0].since_ms, T0 + 1000 + 5 * MIN); /* when it fired */
    assert_int_equal(eval(a, obs_pending(T0 + 22 * MIN, 3), ev), 0);
    assert_int_equal(sync_alerts_firing_count(a), 0);
    sync_alerts_free(a);
}

static void test_pending_dip_restarts_window(void **state)
{
    (void)state;
    SyncAlerts *a = sync_alerts_new(NULL);
    SyncAlertEvent ev[SYNC_ALERT_COUNT];
    assert_int_equal(eval(a, obs_pending(T0, 200), ev), 1);
    assert_int_equal(eval(a, obs_pending(T0 + 4 * MIN, 50), ev), 1); /* dips: pending -> ok */
    assert_int_equal(ev[0].from, SYNC_ALERT_STATE_PENDING);
    assert_int_equal(ev[0].to, SYNC_ALERT_STATE_OK);
    assert_int_equal(eval(a, obs_pending(T0 + 5 * MIN, 200), ev), 1); /* window starts again */
    assert_int_equal(ev[0].to, SYNC_ALERT_STATE_PENDING);
    assert_int_equal(eval(a, obs_pending(T0 + 9 * MIN, 200), ev), 0); /* 4 min into the new window */
    assert_int_equal(eval(a, obs_pending(T0 + 10 * MIN, 200), ev), 1);
    assert_int_equal(ev[0].to, SYNC_ALERT_STATE_FIRING);
    sync_alerts_free(a);
}

static SyncAlertObs obs_fail(int64_t t, int64_t total)
{
    SyncAlertObs o = sync_alert_obs_unknown(t);
    o.failures_total = total;
    return o;
}

static void test_failed_in_window(void **state)
{
    (void)state;
    SyncAlerts *a = sync_alerts_new(NULL);
    SyncAlertEvent ev[SYNC_ALERT_COUNT];
    assert_int_equal(eval(a, obs_fail(T0, 10), ev), 0);             /* baseline */
    assert_int_equal(eval(a, obs_fail(T0 + 10 * MIN, 14), ev), 0);  /* +4 */
    assert_int_equal(eval(a, obs_fail(T0 + 15 * MIN, 15), ev), 0);  /* +5: not above 5 */
    assert_int_equal(eval(a, obs_fail(T0 + 20 * MIN, 16), ev), 1);  /* +6 */
    assert_int_equal(ev[0].kind, SYNC_ALERT_FAILED_SYNCS);
    assert_int_equal(ev[0].to, SYNC_ALERT_STATE_FIRING);
    assert_true(ev[0].value == 6);
    /* at 65 min the window starts at 5 min: the baseline is still the sample at 0 (10) */
    assert_int_equal(eval(a, obs_fail(T0 + 65 * MIN, 16), ev), 0);
    /* at 75 min the window starts at 15 min: baseline 15, increase 1 -> resolved */
    assert_int_equal(eval(a, obs_fail(T0 + 75 * MIN, 16), ev), 1);
    assert_int_equal(ev[0].to, SYNC_ALERT_STATE_OK);
    assert_true(ev[0].value == 1);
    /* a counter reset counts from the new value */
    assert_int_equal(eval(a, obs_fail(T0 + 80 * MIN, 2), ev), 0);
    assert_int_equal(eval(a, obs_fail(T0 + 81 * MIN, 8), ev), 1);
    assert_true(ev[0].value == 6);
    sync_alerts_free(a);
}

static void test_immediate_rules_and_staleness(void **state)
{
    (void)state;
    SyncAlerts *a = sync_alerts_new(NULL);
    SyncAlertEvent ev[SYNC_ALERT_COUNT];
    SyncAlertObs o = sync_alert_obs_unknown(T0);
    o.sync_latency_s = 5.0; /* at the threshold: ok */
    o.batch_duration_s = 121;
    o.conflicts = 1;
    o.staleness_s = 2 * 3600;
    size_t n = eval(a, o, ev);
    assert_int_equal(n, 3);
    bool seen[SYNC_ALERT_COUNT] = {false};
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(ev[i].from, SYNC_ALERT_STATE_OK);
        assert_int_equal(ev[i].to, SYNC_ALERT_STATE_FIRING); /* no window: straight to firing */
        seen[ev[i].kind] = true;
    }
    assert_true(seen[SYNC_ALERT_BATCH_DURATION] && seen[SYNC_ALERT_CONFLICTS] && seen[SYNC_ALERT_STALENESS_WARNING]);
    assert_false(seen[SYNC_ALERT_STALENESS]);
    o.now_ms += 1000;
    o.sync_latency_s = 5.5;
    o.staleness_s = 25 * 3600;
    n = eval(a, o, ev);
    assert_int_equal(n, 2);
    assert_int_equal(ev[0].kind, SYNC_ALERT_SYNC_LATENCY);
    assert_int_equal(ev[1].kind, SYNC_ALERT_STALENESS);
    assert_int_equal(sync_alerts_firing_count(a), 5);
    o.now_ms += 1000;
    o.sync_latency_s = 0.2;
    o.batch_duration_s = 1;
    o.conflicts = 0;
    o.staleness_s = 0;
    assert_int_equal(eval(a, o, ev), 5);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(ev[i].to, SYNC_ALERT_STATE_OK);
    assert_int_equal(eval(a, o, ev), 0);
    sync_alerts_free(a);
}

static void test_config_and_disabled(void **state)
{
    (void)state;
    SyncAlertConfig c;
    sync_alert_config_defaults(&c);
    c.rules[SYNC_ALERT_CONFLICTS].enabled = false;
    c.rules[SYNC_ALERT_PENDING_ENTITIES].threshold = 3;
    c.rules[SYNC_ALERT_PENDING_ENTITIES].for_ms = 2000;
    SyncAlerts *a = sync_alerts_new(&c);
    SyncAlertEvent ev[SYNC_ALERT_COUNT];
    SyncAlertObs o = sync_alert_obs_unknown(T0);
    o.conflicts = 99;
    o.pending = 4;
    assert_int_equal(eval(a, o, ev), 1);
    assert_int_equal(ev[0].kind, SYNC_ALERT_PENDING_ENTITIES);
    o.now_ms += 2000;
    assert_int_equal(eval(a, o, ev), 1);
    assert_int_equal(ev[0].to, SYNC_ALERT_STATE_FIRING);
    SyncAlertStatus st[SYNC_ALERT_COUNT];
    sync_alerts_snapshot(a, st);
    assert_int_equal(st[SYNC_ALERT_CONFLICTS].state, SYNC_ALERT_STATE_OK);
    assert_int_equal(st[SYNC_ALERT_PENDING_ENTITIES].state, SYNC_ALERT_STATE_FIRING);
    assert_true(st[SYNC_ALERT_PENDING_ENTITIES].value == 4);
    assert_true(isnan(st[SYNC_ALERT_SYNC_LATENCY].value)); /* never observed */
    sync_alerts_free(a);
}

static void test_json_and_export(void **state)
{
    (void)state;
    SyncAlerts *a = sync_alerts_new(NULL);
    SyncAlertEvent ev[SYNC_ALERT_COUNT];
    SyncAlertObs o = sync_alert_obs_unknown(T0);
    o.conflicts = 2;
    assert_int_equal(eval(a, o, ev), 1);
    json_t *arr = sync_alerts_to_json(a);
    assert_non_null(arr);
    assert_int_equal(json_array_size(arr), SYNC_ALERT_COUNT);
    json_t *c = json_array_get(arr, SYNC_ALERT_CONFLICTS);
    assert_string_equal(json_string_value(json_object_get(c, "name")), "conflicts");
    assert_string_equal(json_string_value(json_object_get(c, "state")), "firing");
    assert_true(json_number_value(json_object_get(c, "value")) == 2);
    assert_string_equal(json_string_value(json_object_get(c, "since")), "2027-01-15T08:00:00.000Z");
    assert_true(json_is_null(json_object_get(json_array_get(arr, 0), "value")));
    json_decref(arr);

    P2nBuf b;
    p2n_buf_init(&b);
    assert_int_equal(sync_alert_events_json(sync_alerts_config(a), ev, 1, &b), 0);
    json_error_t jerr;
    json_t *root = json_loadb((const char *)b.data, b.len, 0, &jerr);
    assert_non_null(root);
    json_t *e0 = json_array_get(json_object_get(root, "events"), 0);
    assert_string_equal(json_string_value(json_object_get(e0, "alert")), "conflicts");
    assert_string_equal(json_string_value(json_object_get(e0, "state")), "firing");
    assert_string_equal(json_string_value(json_object_get(e0, "previous")), "ok");
    assert_string_equal(json_string_value(json_object_get(e0, "description")), "conflicts > 0");
    json_decref(root);
    p2n_buf_free(&b);

    P2nMetrics *r = p2n_metrics_new();
    P2nStdMetrics m;
    assert_int_equal(p2n_metrics_register_std(r, &m, NULL), 0);
    sync_alerts_export(a, m.alert_firing);
    double v = -1;
    const char *lv[] = {"conflicts", "warning"};
    assert_int_equal(p2n_metric_get(m.alert_firing, lv, &v, NULL), 0);
    assert_true(v == 1);
    const char *lv2[] = {"data_staleness", "critical"};
    assert_int_equal(p2n_metric_get(m.alert_firing, lv2, &v, NULL), 0);
    assert_true(v == 0);
    p2n_metrics_free(r);
    sync_alerts_free(a);
}

/* Each change is logged once, one line per event with its level, in logfmt or JSON. */
static void test_notify_logs_once(void **state)
{
    (void)state;
    char path[] = "/tmp/p2n-alert-log-XXXXXX";
    int lfd = mkstemp(path);
    assert_true(lfd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(lfd, 2);
    p2n_log_set_level(P2N_LOG_DEBUG);
    p2n_log_set_format(P2N_LOG_JSON);

    SyncAlerts *a = sync_alerts_new(NULL);
    SyncAlertEvent ev[SYNC_ALERT_COUNT];
    SyncAlertObs o = sync_alert_obs_unknown(T0);
    o.pending = 500;          /* ok -> pending (info) */
    o.staleness_s = 90000;    /* both staleness rules fire: warn and error */
    size_t n = eval(a, o, ev);
    assert_int_equal(n, 3);
    assert_int_equal(sync_alerts_notify(sync_alerts_config(a), ev, n, NULL), 0);
    o.now_ms += 1000;
    assert_int_equal(eval(a, o, ev), 0); /* nothing changed: nothing to log */
    o.staleness_s = 10;
    n = eval(a, o, ev);
    assert_int_equal(n, 2);
    assert_int_equal(sync_alerts_notify(sync_alerts_config(a), ev, n, NULL), 0);
    sync_alerts_free(a);

    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    p2n_log_set_format(P2N_LOG_LOGFMT);
    p2n_log_set_level(P2N_LOG_OFF);
    FILE *f = fdopen(lfd, "r");
    fseek(f, 0, SEEK_SET);
    char line[2048];
    int lines = 0, fired_err = 0, fired_warn = 0, resolved = 0, pending = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        json_error_t jerr;
        json_t *j = json_loads(line, 0, &jerr);
        if (j == NULL)
            fail_msg("log line is not JSON: %s", line);
        lines++;
        const char *lvl = json_string_value(json_object_get(j, "level"));
        const char *msg = json_string_value(json_object_get(j, "msg"));
        const char *alert = json_string_value(json_object_get(j, "alert"));
        assert_non_null(lvl);
        assert_non_null(msg);
        assert_non_null(alert);
        if (strcmp(msg, "alert firing") == 0 && strcmp(lvl, "error") == 0 && strcmp(alert, "data_staleness") == 0)
            fired_err++;
        else if (strcmp(msg, "alert firing") == 0 && strcmp(lvl, "warn") == 0 &&
                 strcmp(alert, "data_staleness_warning") == 0)
            fired_warn++;
        else if (strcmp(msg, "alert resolved") == 0 && strcmp(lvl, "info") == 0)
            resolved++;
        else if (strcmp(msg, "alert pending") == 0 && strcmp(lvl, "info") == 0 &&
                 strcmp(alert, "pending_entities") == 0)
            pending++;
        else
            fail_msg("unexpected log line: %s", line);
        json_decref(j);
    }
    fclose(f);
    unlink(path);
    assert_int_equal(lines, 5);
    assert_int_equal(fired_err, 1);
    assert_int_equal(fired_warn, 1);
    assert_int_equal(resolved, 2);
    assert_int_equal(pending, 1);
}

/* ---- loopback webhook receiver ---- */

typedef enum { RX_OK, RX_500, RX_SILENT } RxMode;

typedef struct Receiver {
    int lfd;
    uint16_t port;
    RxMode mode;
    char req[8192];
    size_t len;
    pthread_t th;
} Receiver;

static void *receiver_main(void *arg)
{
    Receiver *rx = arg;
    int fd = accept(rx->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    /* read headers and the Content-Length body */
    for (;;) {
        ssize_t r = recv(fd, rx->req + rx->len, sizeof(rx->req) - 1 - rx->len, 0);
        if (r <= 0)
            break;
        rx->len += (size_t)r;
        rx->req[rx->len] = '\0';
        char *hend = strstr(rx->req, "\r\n\r\n");
        char *cl = strcasestr(rx->req, "Content-Length:");
        if (hend && cl && rx->len >= (size_t)(hend + 4 - rx->req) + strtoul(cl + 15, NULL, 10))
            break;
    }
    if (rx->mode == RX_OK)
        (void)!write(fd, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 38);
    else if (rx->mode == RX_500)
        (void)!write(fd, "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n", 40);
    else
        usleep(1500 * 1000); /* never answers in time */
    close(fd);
    return NULL;
}

static void receiver_start(Receiver *rx, RxMode mode)
{
    memset(rx, 0, sizeof(*rx));
    rx->mode = mode;
    rx->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(rx->lfd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(rx->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    socklen_t sl = sizeof(sa);
    getsockname(rx->lfd, (struct sockaddr *)&sa, &sl);
    rx->port = ntohs(sa.sin_port);
    assert_int_equal(listen(rx->lfd, 4), 0);
    pthread_create(&rx->th, NULL, receiver_main, rx);
}

static void receiver_stop(Receiver *rx)
{
    pthread_join(rx->th, NULL);
    close(rx->lfd);
}

static void test_webhook_post(void **state)
{
    (void)state;
    Receiver rx;
    receiver_start(&rx, RX_OK);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/hooks/alerts?x=1", rx.port);
    SyncWebhookConfig wh = {url, "hook-token-123", 2000};
    SyncAlerts *a = sync_alerts_new(NULL);
    SyncAlertEvent ev[SYNC_ALERT_COUNT];
    SyncAlertObs o = sync_alert_obs_unknown(T0);
    o.conflicts = 1;
    size_t n = eval(a, o, ev);
    p2n_log_set_level(P2N_LOG_OFF);
    assert_int_equal(sync_alerts_notify(sync_alerts_config(a), ev, n, &wh), 0);
    receiver_stop(&rx);
    assert_non_null(strstr(rx.req, "POST /hooks/alerts?x=1 HTTP/1.1\r\n"));
    assert_non_null(strstr(rx.req, "\r\nContent-Type: application/json\r\n"));
    assert_non_null(strstr(rx.req, "\r\nAuthorization: Bearer hook-token-123\r\n"));
    char host[64];
    snprintf(host, sizeof(host), "\r\nHost: 127.0.0.1:%u\r\n", rx.port);
    assert_non_null(strstr(rx.req, host));
    const char *body = strstr(rx.req, "\r\n\r\n") + 4;
    json_t *root = json_loads(body, 0, NULL);
    assert_non_null(root);
    json_t *e0 = json_array_get(json_object_get(root, "events"), 0);
    assert_string_equal(json_string_value(json_object_get(e0, "alert")), "conflicts");
    json_decref(root);

    /* a pending-only change is logged but not posted: nothing listens, yet no error */
    SyncAlertEvent pend = {SYNC_ALERT_PENDING_ENTITIES, SYNC_ALERT_STATE_OK, SYNC_ALERT_STATE_PENDING, 200, 100, T0, T0};
    SyncWebhookConfig dead = {"http://127.0.0.1:1/", NULL, 500};
    assert_int_equal(sync_alerts_notify(sync_alerts_config(a), &pend, 1, &dead), 0);
    sync_alerts_free(a);
}

static void test_webhook_errors(void **state)
{
    (void)state;
    P2nErr err;
    Receiver rx;
    char url[128];

    receiver_start(&rx, RX_500);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", rx.port);
    SyncWebhookConfig wh = {url, NULL, 2000};
    assert_int_equal(sync_webhook_post(&wh, "{}", 2, &err), P2N_EIO);
    assert_non_null(strstr(err.msg, "status 500"));
    receiver_stop(&rx);
    assert_non_null(strstr(rx.req, "POST / HTTP/1.1\r\n"));
    assert_null(strstr(rx.req, "Authorization"));

    receiver_start(&rx, RX_SILENT);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/", rx.port);
    SyncWebhookConfig slow = {url, NULL, 300};
    int64_t t = p2n_now_mono_ms();
    assert_int_equal(sync_webhook_post(&slow, "{}", 2, &err), P2N_ETIMEDOUT);
    int64_t took = p2n_now_mono_ms() - t;
    assert_true(took >= 250 && took < 1400);
    receiver_stop(&rx);

    /* refused: bind a port, close it, post to it */
    receiver_start(&rx, RX_OK);
    uint16_t port = rx.port;
    shutdown(rx.lfd, SHUT_RDWR);
    receiver_stop(&rx);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/", port);
    SyncWebhookConfig refused = {url, NULL, 1000};
    assert_int_equal(sync_webhook_post(&refused, "{}", 2, &err), P2N_EIO);
    assert_non_null(strstr(err.msg, "could not connect"));

    const char *bad[] = {"https://example.org/", "ftp://x/", "http://user:pw@127.0.0.1/", "http://", "http://h:0/",
                         "http://h:99999/", "http://h:x/", "http://[::1/", "http://h/a b", NULL, "http://h?q"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        SyncWebhookConfig b = {bad[i], NULL, 100};
        assert_int_equal(sync_webhook_post(&b, "{}", 2, &err), P2N_EINVAL);
    }
    SyncWebhookConfig crlf = {"http://127.0.0.1:1/", "a\r\nX-Evil: 1", 100};
    assert_int_equal(sync_webhook_post(&crlf, "{}", 2, &err), P2N_EINVAL);
}

/* A slow batch fires sync_latency and batch_duration; without any batch after it they resolve
   once batch_obs_max_age_ms (5 min) has passed, instead of firing forever. */
static void test_old_batch_stops_counting(void **state)
{
    (void)state;
    SyncAlerts *a = sync_alerts_new(NULL);
    SyncAlertEvent ev[SYNC_ALERT_COUNT];
    SyncAlertObs o = sync_alert_obs_unknown(T0);
    o.sync_latency_s = 30;
    o.batch_duration_s = 200;
    o.last_batch_ms = T0;
    assert_int_equal(eval(a, o, ev), 2);
    o.now_ms = T0 + 299 * 1000;
    assert_int_equal(eval(a, o, ev), 0); /* still recent: still firing */
    assert_int_equal(sync_alerts_firing_count(a), 2);
    o.now_ms = T0 + 301 * 1000;
    assert_int_equal(eval(a, o, ev), 2); /* no batch for 5 min: both resolve */
    assert_int_equal(ev[0].to, SYNC_ALERT_STATE_OK);
    assert_int_equal(ev[1].to, SYNC_ALERT_STATE_OK);
    o.last_batch_ms = o.now_ms; /* a new slow batch fires again */
    assert_int_equal(eval(a, o, ev), 2);
    o.last_batch_ms = 0; /* not known: the value counts as it is */
    o.now_ms += 3600 * 1000;
    assert_int_equal(eval(a, o, ev), 0);
    sync_alerts_free(a);
}

/* The mapping's alerts section: units converted (ms -> s), -1 disables, the windows carried. */
static void test_config_from_mapping(void **state)
{
    (void)state;
    MappingAlerts ma = {20, 3000, 2, 60000, 1500, 2500, 0, 4000, 8000, NULL, 1000};
    SyncAlertConfig c;
    sync_alert_config_from_mapping(&ma, &c);
    assert_true(c.rules[SYNC_ALERT_PENDING_ENTITIES].threshold == 20);
    assert_int_equal(c.rules[SYNC_ALERT_PENDING_ENTITIES].for_ms, 3000);
    assert_true(c.rules[SYNC_ALERT_FAILED_SYNCS].threshold == 2);
    assert_int_equal(c.failed_window_ms, 60000);
    assert_true(c.rules[SYNC_ALERT_SYNC_LATENCY].threshold == 1.5);
    assert_true(c.rules[SYNC_ALERT_BATCH_DURATION].threshold == 2.5);
    assert_true(c.rules[SYNC_ALERT_STALENESS_WARNING].threshold == 4);
    assert_true(c.rules[SYNC_ALERT_STALENESS].threshold == 8);
    for (int k = 0; k < SYNC_ALERT_COUNT; k++)
        assert_true(c.rules[k].enabled);
    char d[128];
    assert_string_equal(sync_alert_describe(&c, SYNC_ALERT_PENDING_ENTITIES, d, sizeof(d)), "pending entities > 20 for 3s");
    assert_string_equal(sync_alert_describe(&c, SYNC_ALERT_FAILED_SYNCS, d, sizeof(d)), "failed syncs > 2 in 1m");
    ma.conflicts_threshold = -1;
    ma.latency_ms = -1;
    sync_alert_config_from_mapping(&ma, &c);
    assert_false(c.rules[SYNC_ALERT_CONFLICTS].enabled);
    assert_false(c.rules[SYNC_ALERT_SYNC_LATENCY].enabled);
    assert_true(c.rules[SYNC_ALERT_BATCH_DURATION].enabled);
    SyncAlerts *a = sync_alerts_new(&c);
    SyncAlertEvent ev[SYNC_ALERT_COUNT];
    SyncAlertObs o = sync_alert_obs_unknown(T0);
    o.conflicts = 3;
    o.sync_latency_s = 100;
    assert_int_equal(eval(a, o, ev), 0); /* disabled rules never fire */
    sync_alerts_free(a);

    /* a bad webhook URL is refused up front */
    P2nErr err;
    char bad[] = "http://127.0.0.1:99999/";
    ma.webhook_url = bad;
    assert_null(sync_alerts_from_mapping(&ma, &err));
    assert_non_null(strstr(err.msg, "port"));
}

/* sync_alerts_report queues the webhook call: a receiver that never answers does not hold up the
   caller, and the calls arrive in order. */
static void test_report_does_not_block(void **state)
{
    (void)state;
    Receiver rx;
    receiver_start(&rx, RX_SILENT);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/hook", rx.port);
    MappingAlerts ma = {-1, 0, -1, 3600000, -1, -1, 0, -1, -1, url, 1000};
    P2nErr err;
    SyncAlerts *a = sync_alerts_from_mapping(&ma, &err);
    assert_non_null(a);
    p2n_log_set_level(P2N_LOG_OFF);
    SyncAlertEvent ev[SYNC_ALERT_COUNT];
    SyncAlertObs o = sync_alert_obs_unknown(T0);
    o.conflicts = 2;
    size_t n = eval(a, o, ev);
    assert_int_equal(n, 1);
    sync_alerts_report(a, ev, n); /* not live yet (a one-shot status): nothing is posted */
    assert_int_equal(sync_alerts_start(a, &err), 0);
    o.conflicts = 0;
    o.now_ms += 1000;
    assert_int_equal(eval(a, o, ev), 1); /* resolved: not posted either (before start) */
    o.conflicts = 3;
    o.now_ms += 1000;
    n = eval(a, o, ev);
    assert_int_equal(n, 1);
    int64_t t = p2n_now_mono_ms();
    sync_alerts_report(a, ev, n);
    assert_true(p2n_now_mono_ms() - t < 200);
    receiver_stop(&rx); /* the worker's POST reached the receiver */
    assert_non_null(strstr(rx.req, "POST /hook HTTP/1.1\r\n"));
    assert_non_null(strstr(rx.req, "\"alert\":\"conflicts\""));
    assert_non_null(strstr(rx.req, "\"state\":\"firing\""));
    assert_non_null(strstr(rx.req, "\"value\":3")); /* the live report, not the one before start */
    sync_alerts_free(a); /* joins the worker */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_are_the_seed_table),
        cmocka_unit_test(test_pending_window_fires_once_resolves_once),
        cmocka_unit_test(test_pending_dip_restarts_window),
        cmocka_unit_test(test_failed_in_window),
        cmocka_unit_test(test_immediate_rules_and_staleness),
        cmocka_unit_test(test_config_and_disabled),
        cmocka_unit_test(test_json_and_export),
        cmocka_unit_test(test_notify_logs_once),
        cmocka_unit_test(test_webhook_post),
        cmocka_unit_test(test_webhook_errors),
        cmocka_unit_test(test_config_from_mapping),
        cmocka_unit_test(test_old_batch_stops_counting),
        cmocka_unit_test(test_report_does_not_block),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
