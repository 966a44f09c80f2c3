/*
 * Integration test of the HTTP server (src/http): starts it in this process with a provider that
 * returns known data, and checks every endpoint with real HTTP requests over loopback sockets:
 * status codes, content types, the bearer token, 404/405, malformed request lines, oversized
 * headers, slow clients (partial headers are dropped after the deadline while others are
 * served), a connection flood beyond the limit, and a bounded burst of requests from threads.
 *
 * With "--serve PORTFILE" it runs the same server with the same data until stdin closes (for the
 * browser test, tests/integration/test_http_browser.sh): the token comes from P2N_HTTP_TOKEN.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/log.h"
#include "common/metrics.h"
#include "common/time.h"
#include "http/server.h"
#include "http/status.h"
#include "sync/alerts.h"

#define TOKEN "test-token-7f3a9c"
#define DB_SECRET "pw-SECRET-5512"

/* ---- the provider: fixed, known data ------------------------------------------------------ */

typedef struct Fixture {
    HttpServer *srv;
    bool live;              /* serve mode: every scrape adds latency observations */
    double phase;
    P2nMetrics *reg;
    P2nStdMetrics m;
    SyncAlerts *alerts;
    volatile int ready;
    volatile int fail_status;
    int status_calls;
    pthread_mutex_t lock;
} Fixture;

static const HttpTypeStatus k_types[] = {
    {"bill", 12, 2, 340, 1, 42.5, 0.25},
    {"legislator", 0, 0, 120, 0, -1, 0.125},
    {"vote", 3, 1, 5000, 4, 7.0, 1.5},
};
static const HttpBatchStatus k_batches[] = {
    {1042, "incremental", "partial", 1800000000000LL, 0.75, 100, 96, 4},
    {1041, "incremental", "completed", 1799999990000LL, 0.5, 50, 50, 0},
};
static const HttpFailureStatus k_failures[] = {
    {"vote", "v-17", 3, "Neo.ClientError.Schema.ConstraintValidationFailed: node already exists", 1800000000100LL},
    {"bill", "b-<script>9", 1, "could not connect: password " DB_SECRET " rejected", 1800000000050LL},
};

static int fx_status_json(void *ctx, P2nBuf *out)
{
    Fixture *f = ctx;
    pthread_mutex_lock(&f->lock);
    f->status_calls++;
    pthread_mutex_unlock(&f->lock);
    if (f->fail_status)
        return P2N_EPG;
    HttpStatus st = {0};
    st.now_ms = p2n_now_wall_ms();
    st.initialized = true;
    st.neo4j_connected = f->ready != 0;
    st.postgres_connected = true;
    for (size_t i = 0; i < 3; i++) {
        st.pending += k_types[i].pending;
        st.in_progress += k_types[i].in_progress;
        st.synced += k_types[i].synced;
        st.failed += k_types[i].failed;
    }
    st.conflicts = 2;
    st.oldest_pending_age_s = 42.5;
    st.lag_s = 42.5;
    st.last_batch = &k_batches[0];
    st.types = k_types;
    st.ntypes = 3;
    st.recent_batches = k_batches;
    st.nbatches = 2;
    st.recent_failures = k_failures;
    st.nfailures = 2;
    st.alerts = f->alerts;
    return http_status_render(&st, out);
}

static int fx_ready(void *ctx) { return ((Fixture *)ctx)->ready; }

static int fx_fill_metrics(void *ctx, P2nMetrics *reg)
{
    (void)reg;
    Fixture *f = ctx;
    static const char *const statuses[] = {"pending", "in_progress", "synced", "failed"};
    p2n_metric_clear(f->m.entities);
    p2n_metric_clear(f->m.oldest_pending);
    for (size_t i = 0; i < 3; i++) {
        const HttpTypeStatus *t = &k_types[i];
        const double v[4] = {(double)t->pending, (double)t->in_progress, (double)t->synced, (double)t->failed};
        for (int k = 0; k < 4; k++) {
            const char *lv[2] = {t->entity_type, statuses[k]};
            p2n_metric_set(f->m.entities, lv, v[k]);
        }
        if (t->oldest_pending_age_s >= 0)
            p2n_metric_set1(f->m.oldest_pending, t->entity_type, t->oldest_pending_age_s);
    }
    p2n_metric_set1(f->m.conflicts, NULL, 2);
    p2n_metric_set1(f->m.postgresql_up, NULL, 1);
    p2n_metric_set1(f->m.neo4j_up, NULL, f->ready ? 1 : 0);
    sync_alerts_export(f->alerts, f->m.alert_firing);
    if (f->live) { /* keep the chart moving: one observation per type per scrape */
        f->phase += 0.4;
        for (size_t i = 0; i < 3; i++)
            p2n_metric_observe1(f->m.sync_latency, k_types[i].entity_type,
                                k_types[i].avg_latency_s * (1.0 + 0.5 * sin(f->phase + 2.0 * (double)i)));
    }
    return 0;
}

static void fixture_data(Fixture *f)
{
    f->reg = p2n_metrics_new();
    assert_non_null(f->reg);
    assert_int_equal(p2n_metrics_register_std(f->reg, &f->m, NULL), 0);
    f->alerts = sync_alerts_new(NULL);
    SyncAlertObs o = sync_alert_obs_unknown(p2n_now_wall_ms());
    o.conflicts = 2;
    o.pending = 15;
    o.staleness_s = 42.5;
    o.sync_latency_s = 1.5;
    SyncAlertEvent ev[SYNC_ALERT_COUNT];
    sync_alerts_evaluate(f->alerts, &o, ev, SYNC_ALERT_COUNT);
    p2n_metric_add1(f->m.batches, "completed", 1041);
    p2n_metric_add1(f->m.batches, "partial", 1);
    p2n_metric_observe1(f->m.batch_duration, NULL, 0.5);
    p2n_metric_observe1(f->m.batch_duration, NULL, 0.75);
    for (size_t i = 0; i < 3; i++)
        p2n_metric_observe1(f->m.sync_latency, k_types[i].entity_type, k_types[i].avg_latency_s);
    p2n_metric_add1(f->m.failures, "vote", 4);
    p2n_metric_add1(f->m.retries, "vote", 2);
    pthread_mutex_init(&f->lock, NULL);
    f->ready = 1;
    p2n_log_add_secret(DB_SECRET); /* as the daemon registers its passwords */
}

static int fixture_start(Fixture *f, const HttpConfig *cfg)
{
    HttpProvider p = {f, fx_status_json, fx_ready, fx_fill_metrics};
    P2nErr err;
    int rc = http_server_start(cfg, &p, f->reg, &f->srv, &err);
    if (rc != 0)
        fprintf(stderr, "http_server_start: %s\n", err.msg);
    return rc;
}

static void fixture_free(Fixture *f)
{
    http_server_stop(f->srv);
    sync_alerts_free(f->alerts);
    p2n_metrics_free(f->reg);
    pthread_mutex_destroy(&f->lock);
}

/* ---- a raw HTTP client ------------------------------------------------------------------- */

typedef struct Resp {
    int status;      /* 0: the server closed without an answer */
    char *head;      /* status line and headers, NUL-terminated */
    char *body;
    size_t body_len;
} Resp;

static void resp_free(Resp *r)
{
    free(r->head);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

static int connect_to(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Reads one response (until EOF, or the Content-Length body is complete), within timeout_ms. */
static int read_resp(int fd, Resp *r, int timeout_ms)
{
    memset(r, 0, sizeof(*r));
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    int64_t deadline = p2n_now_mono_ms() + timeout_ms;
    int rc = 0;
    for (;;) {
        char *hend = NULL;
        if (len > 0) {
            buf[len] = '\0';
            hend = strstr(buf, "\r\n\r\n");
        }
        if (hend != NULL) {
            char *cl = strcasestr(buf, "\r\nContent-Length:");
            size_t hlen = (size_t)(hend + 4 - buf);
            if (cl != NULL && cl < hend && len >= hlen + strtoul(cl + 17, NULL, 10))
                break;
        }
        if (len + 1 >= cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
        int64_t left = deadline - p2n_now_mono_ms();
        struct pollfd pfd = {fd, POLLIN, 0};
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0) {
            rc = -1; /* timeout */
            break;
        }
        ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* EOF or reset */
        len += (size_t)n;
    }
    buf[len] = '\0';
    char *hend = strstr(buf, "\r\n\r\n");
    if (len >= 12 && strncmp(buf, "HTTP/1.", 7) == 0)
        r->status = atoi(buf + 9);
    size_t hlen = hend ? (size_t)(hend + 4 - buf) : len;
    r->head = strndup(buf, hlen);
    r->body_len = len - hlen;
    r->body = malloc(r->body_len + 1);
    memcpy(r->body, buf + hlen, r->body_len);
    r->body[r->body_len] = '\0';
    free(buf);
    return rc;
}

/* Sends raw bytes on a new connection and reads the answer. Returns 0, or -1 on timeout. */
static int raw(uint16_t port, const char *req, size_t len, Resp *r)
{
    int fd = connect_to(port);
    assert_true(fd >= 0);
    send_all(fd, req, len); /* the server may close early: ignore */
    int rc = read_resp(fd, r, 5000);
    close(fd);
    return rc;
}

static int get(uint16_t port, const char *method, const char *path, const char *token, Resp *r)
{
    char req[1024];
    snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s%sConnection: close\r\n\r\n", method, path,
             token ? "Authorization: Bearer " : "", token ? token : "", token ? "\r\n" : "");
    return raw(port, req, strlen(req), r);
}

static const char *header(const Resp *r, const char *name)
{
    static __thread char val[512];
    char pat[128];
    snprintf(pat, sizeof(pat), "\r\n%s:", name);
    const char *h = strcasestr(r->head, pat);
    if (h == NULL)
        return NULL;
    h += strlen(pat);
    while (*h == ' ')
        h++;
    size_t n = strcspn(h, "\r\n");
    if (n >= sizeof(val))
        n = sizeof(val) - 1;
    memcpy(val, h, n);
    val[n] = '\0';
    return val;
}

static uint16_t g_port;
static Fixture g_fx;

static int setup_server(void **state)
{
    (void)state;
    memset(&g_fx, 0, sizeof(g_fx));
    fixture_data(&g_fx);
    HttpConfig cfg;
    http_config_defaults(&cfg);
    cfg.port = 0;
    cfg.bearer_token = TOKEN;
    cfg.request_timeout_ms = 1000;
    cfg.idle_timeout_s = 30;
    cfg.max_connections = 64;
    if (fixture_start(&g_fx, &cfg) != 0)
        return -1;
    g_port = http_server_port(g_fx.srv);
    return g_port == 0 ? -1 : 0;
}

static int teardown_server(void **state)
{
    (void)state;
    fixture_free(&g_fx);
    return 0;
}

/* ---- endpoint tests ---------------------------------------------------------------------- */

static void test_healthz(void **state)
{
    (void)state;
    Resp r;
    assert_int_equal(get(g_port, "GET", "/healthz", NULL, &r), 0); /* no token needed */
    assert_int_equal(r.status, 200);
    assert_string_equal(header(&r, "Content-Type"), "text/plain; charset=utf-8");
    assert_string_equal(r.body, "ok\n");
    resp_free(&r);
    assert_int_equal(get(g_port, "HEAD", "/healthz", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 0);
    resp_free(&r);
}

static void test_status_json(void **state)
{
    (void)state;
    Resp r;
    assert_int_equal(get(g_port, "GET", "/api/sync/status", TOKEN, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(header(&r, "Content-Type"), "application/json");
    json_error_t jerr;
    json_t *j = json_loadb(r.body, r.body_len, 0, &jerr);
    assert_non_null(j);
    assert_true(json_is_true(json_object_get(j, "initialized")));
    assert_true(json_is_true(json_object_get(j, "neo4jConnected")));
    assert_int_equal(json_integer_value(json_object_get(j, "pendingEntities")), 15);
    assert_int_equal(json_integer_value(json_object_get(j, "failedEntities")), 5);
    assert_int_equal(json_integer_value(json_object_get(j, "syncedEntities")), 5460);
    assert_int_equal(json_integer_value(json_object_get(j, "conflictCount")), 2);
    assert_true(json_real_value(json_object_get(j, "oldestPendingAgeSeconds")) == 42.5);
    json_t *lb = json_object_get(j, "lastSyncBatch");
    assert_int_equal(json_integer_value(json_object_get(lb, "id")), 1042);
    assert_string_equal(json_string_value(json_object_get(lb, "status")), "partial");
    assert_string_equal(json_string_value(json_object_get(lb, "startedAt")), "2027-01-15T08:00:00.000Z");
    json_t *types = json_object_get(j, "entityTypes");
    assert_int_equal(json_array_size(types), 3);
    json_t *vote = json_array_get(types, 2);
    assert_string_equal(json_string_value(json_object_get(vote, "entityType")), "vote");
    assert_int_equal(json_integer_value(json_object_get(vote, "synced")), 5000);
    assert_true(json_is_null(json_object_get(json_array_get(types, 1), "oldestPendingAgeSeconds")));
    json_t *fails = json_object_get(j, "recentFailures");
    assert_int_equal(json_array_size(fails), 2);
    const char *msg = json_string_value(json_object_get(json_array_get(fails, 1), "failureMessage"));
    assert_non_null(msg);
    assert_null(strstr(msg, DB_SECRET)); /* redacted */
    assert_non_null(strstr(msg, "password ****"));
    assert_null(strstr(r.body, DB_SECRET));
    json_t *alerts = json_object_get(j, "alerts");
    assert_int_equal(json_array_size(alerts), SYNC_ALERT_COUNT);
    assert_string_equal(json_string_value(json_object_get(json_array_get(alerts, SYNC_ALERT_CONFLICTS), "state")),
                        "firing");
    assert_int_equal(json_integer_value(json_object_get(j, "firingAlerts")), 1);
    json_decref(j);
    resp_free(&r);

    g_fx.fail_status = 1;
    assert_int_equal(get(g_port, "GET", "/api/sync/status", TOKEN, &r), 0);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.body, "status unavailable"));
    resp_free(&r);
    g_fx.fail_status = 0;
}

static void test_bearer_token(void **state)
{
    (void)state;
    const char *paths[] = {"/api/sync/status", "/metrics", "/readyz", "/nope"};
    const char *bad[] = {NULL, "wrong", TOKEN "x", "test-token-7f3a9", ""};
    for (size_t i = 0; i < 4; i++) {
        for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
            Resp r;
            assert_int_equal(get(g_port, "GET", paths[i], bad[k], &r), 0);
            assert_int_equal(r.status, 401);
            assert_string_equal(header(&r, "WWW-Authenticate"), "Bearer realm=\"pg2neo\"");
            resp_free(&r);
        }
    }
    /* other schemes and lower-case scheme */
    Resp r;
    const char *basic = "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Basic dGVzdDp0ZXN0\r\n\r\n";
    assert_int_equal(raw(g_port, basic, strlen(basic), &r), 0);
    assert_int_equal(r.status, 401);
    resp_free(&r);
    const char *lower = "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: bearer " TOKEN "\r\n\r\n";
    assert_int_equal(raw(g_port, lower, strlen(lower), &r), 0);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    /* the dashboard page holds no data and is served without the token */
    assert_int_equal(get(g_port, "GET", "/", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    resp_free(&r);
}

static void test_metrics(void **state)
{
    (void)state;
    Resp r;
    assert_int_equal(get(g_port, "GET", "/metrics", TOKEN, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(header(&r, "Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    const char *want[] = {
        "# TYPE pg2neo_entities gauge\n",
        "pg2neo_entities{entity_type=\"bill\",status=\"pending\"} 12\n",
        "pg2neo_entities{entity_type=\"vote\",status=\"synced\"} 5000\n",
        "pg2neo_entities{entity_type=\"legislator\",status=\"failed\"} 0\n",
        "pg2neo_conflicts 2\n",
        "pg2neo_oldest_pending_age_seconds{entity_type=\"bill\"} 42.5\n",
        "pg2neo_postgresql_up 1\n",
        "pg2neo_neo4j_up 1\n",
        "pg2neo_batches_total{status=\"completed\"} 1041\n",
        "pg2neo_batch_duration_seconds_bucket{le=\"0.5\"} 1\n",
        "pg2neo_batch_duration_seconds_bucket{le=\"1\"} 2\n",
        "pg2neo_batch_duration_seconds_count 2\n",
        "pg2neo_sync_latency_seconds_bucket{entity_type=\"vote\",le=\"2.5\"} 1\n",
        "pg2neo_sync_latency_seconds_bucket{entity_type=\"vote\",le=\"1\"} 0\n",
        "pg2neo_failures_total{entity_type=\"vote\"} 4\n",
        "pg2neo_retries_total{entity_type=\"vote\"} 2\n",
        "pg2neo_alert_firing{alert=\"conflicts\",severity=\"warning\"} 1\n",
        "pg2neo_alert_firing{alert=\"pending_entities\",severity=\"warning\"} 0\n",
        "# TYPE pg2neo_http_requests_total counter\n",
        "pg2neo_http_requests_total{code=\"200\"} ",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        if (strstr(r.body, want[i]) == NULL)
            fail_msg("/metrics lacks \"%s\"", want[i]);
    }
    /* oldest_pending was refilled: legislator has nothing pending, so no series */
    assert_null(strstr(r.body, "pg2neo_oldest_pending_age_seconds{entity_type=\"legislator\"}"));
    resp_free(&r);

    g_fx.ready = 0;
    assert_int_equal(get(g_port, "GET", "/metrics", TOKEN, &r), 0);
    assert_non_null(strstr(r.body, "\npg2neo_neo4j_up 0\n"));
    resp_free(&r);
    g_fx.ready = 1;
}

static void test_readyz(void **state)
{
    (void)state;
    Resp r;
    assert_int_equal(get(g_port, "GET", "/readyz", TOKEN, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ready\n");
    resp_free(&r);
    g_fx.ready = 0;
    assert_int_equal(get(g_port, "GET", "/readyz", TOKEN, &r), 0);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body, "not ready\n");
    resp_free(&r);
    g_fx.ready = 1;
}

static void test_dashboard_page(void **state)
{
    (void)state;
    Resp r;
    assert_int_equal(get(g_port, "GET", "/", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(header(&r, "Content-Type"), "text/html; charset=utf-8");
    assert_non_null(header(&r, "Content-Security-Policy"));
    assert_string_equal(header(&r, "X-Frame-Options"), "DENY");
    assert_non_null(strstr(r.body, "<title>pg2neo"));
    assert_non_null(strstr(r.body, "/api/sync/status"));
    assert_null(strstr(r.body, "http://")); /* no CDN, nothing external */
    assert_null(strstr(r.body, "https://"));
    resp_free(&r);
}

static void test_not_found_and_methods(void **state)
{
    (void)state;
    Resp r;
    const char *nf[] = {"/nope", "/api/sync/status/x", "/metricsx", "/../etc/passwd", "//metrics"};
    for (size_t i = 0; i < sizeof(nf) / sizeof(nf[0]); i++) {
        assert_int_equal(get(g_port, "GET", nf[i], TOKEN, &r), 0);
        assert_int_equal(r.status, 404);
        resp_free(&r);
    }
    const char *methods[] = {"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "BREW"};
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        assert_int_equal(get(g_port, methods[i], "/metrics", TOKEN, &r), 0);
        assert_int_equal(r.status, 405);
        assert_string_equal(header(&r, "Allow"), "GET, HEAD");
        resp_free(&r);
    }
    /* a POST with a body */
    const char *post = "POST /api/sync/status HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
    assert_int_equal(raw(g_port, post, strlen(post), &r), 0);
    assert_int_equal(r.status, 405);
    resp_free(&r);
    /* a query string is not part of the path */
    assert_int_equal(get(g_port, "GET", "/healthz?probe=1", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    resp_free(&r);
}

static void test_keep_alive(void **state)
{
    (void)state;
    int fd = connect_to(g_port);
    assert_true(fd >= 0);
    for (int i = 0; i < 3; i++) {
        const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_int_equal(send_all(fd, req, strlen(req)), 0);
        Resp r;
        assert_int_equal(read_resp(fd, &r, 3000), 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "ok\n");
        resp_free(&r);
    }
    close(fd);
}

static void assert_alive(void)
{
    Resp r;
    assert_int_equal(get(g_port, "GET", "/healthz", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    resp_free(&r);
}

static void test_malformed_requests(void **state)
{
    (void)state;
    /* lenient: libmicrohttpd accepts the request (the NUL cuts the header value; the first Host
       wins), which is harmless for GET-only endpoints: any well-formed answer will do */
    static const struct {
        const char *req;
        size_t len;
        bool lenient;
    } cases[] = {
#define C(s) {s, sizeof(s) - 1, false}
#define L(s) {s, sizeof(s) - 1, true}
        C("GARBAGE\r\n\r\n"),
        C("GET\r\n\r\n"),
        C("GET /healthz\r\n\r\n"),
        C("GET /healthz HTTP/1.1\r\n\r\n"),                 /* no Host: strict HTTP/1.1 */
        C("GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n"),
        C("GET /healthz HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n"),
        C("GET /he\0althz HTTP/1.1\r\nHost: x\r\n\r\n"),
        L("GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n"),
        C("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"),  /* a TLS ClientHello on the plain port */
        C("\xff\xfe\xfd\r\n\r\n"),
        C("GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"),
        C("GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n"),
        C("GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n"),
        L("GET /healthz HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n"),
        C("\r\n\r\n\r\n\r\n"),
#undef C
#undef L
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        Resp r;
        int rc = raw(g_port, cases[i].req, cases[i].len, &r);
        /* a 4xx/5xx answer, or the connection closed/left without an answer; never a 2xx */
        /* a 4xx/505 answer, or the connection closed without an answer; never a 2xx */
        if (rc != 0)
            fail_msg("malformed request %zu: no answer and no close within 5 s", i);
        bool rejected = r.status == 0 || (r.status >= 400 && r.status <= 505);
        if (!rejected && !(cases[i].lenient && r.status == 200))
            fail_msg("malformed request %zu got status %d", i, r.status);
        resp_free(&r);
        assert_alive();
    }
}

static void test_oversized(void **state)
{
    (void)state;
    /* a 64 KB header value */
    size_t big = 64 * 1024;
    char *req = malloc(big + 256);
    int n = snprintf(req, 256, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(req + n, 'a', big);
    memcpy(req + n + big, "\r\n\r\n", 5);
    Resp r;
    int rc = raw(g_port, req, strlen(req), &r);
    assert_true(rc == 0);
    assert_true(r.status == 0 || r.status == 431 || r.status == 413 || r.status == 400);
    printf("# 64 KB header -> %d\n", r.status);
    resp_free(&r);
    assert_alive();
    /* a 64 KB URL */
    n = snprintf(req, 256, "GET /");
    memset(req + n, 'u', big);
    snprintf(req + n + big, 200, " HTTP/1.1\r\nHost: x\r\n\r\n");
    rc = raw(g_port, req, strlen(req), &r);
    assert_true(rc == 0);
    assert_true(r.status == 0 || r.status == 414 || r.status == 431 || r.status == 400);
    printf("# 64 KB URL -> %d\n", r.status);
    resp_free(&r);
    /* many headers */
    size_t off = (size_t)snprintf(req, 256, "GET /healthz HTTP/1.1\r\nHost: x\r\n");
    while (off + 16 < big)
        off += (size_t)snprintf(req + off, 17, "X-%06zu: v\r\n", off);
    memcpy(req + off, "\r\n", 3);
    rc = raw(g_port, req, strlen(req), &r);
    assert_true(rc == 0);
    assert_true(r.status == 0 || r.status == 431 || r.status == 413 || r.status == 400);
    resp_free(&r);
    free(req);
    assert_alive();
}

/* Slow clients: partial headers (a line every 200 ms), bodies trickled, or nothing at all. */
static void test_slow_clients(void **state)
{
    (void)state;
    enum { NSLOW = 12 };
    int fds[NSLOW];
    uint64_t dropped0 = http_server_dropped(g_fx.srv);
    for (int i = 0; i < NSLOW; i++) {
        fds[i] = connect_to(g_port);
        assert_true(fds[i] >= 0);
        if (i % 3 == 1) /* a partial header, then a header line every 200 ms */
            send_all(fds[i], "GET /healthz HTTP/1.1\r\nHost: x\r\n", 32);
        else if (i % 3 == 2) /* a whole header announcing a body, then the body trickles */
            send_all(fds[i], "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n", 58);
        /* i % 3 == 0: silent */
    }
    bool closed[NSLOW] = {false};
    int64_t t0 = p2n_now_mono_ms();
    int served = 0;
    int64_t worst = 0;
    while (p2n_now_mono_ms() - t0 < 3000) {
        for (int i = 0; i < NSLOW; i++) {
            if (closed[i])
                continue;
            if (i % 3 != 0 && send(fds[i], "X-Slow: 1\r\n", 11, MSG_NOSIGNAL) < 0)
                closed[i] = true;
            struct pollfd p = {fds[i], POLLIN, 0};
            if (poll(&p, 1, 0) > 0) {
                char b[256];
                ssize_t k = recv(fds[i], b, sizeof(b), MSG_DONTWAIT);
                if (k <= 0)
                    closed[i] = true;
            }
        }
        /* others are served meanwhile, quickly */
        int64_t s = p2n_now_mono_ms();
        assert_alive();
        int64_t took = p2n_now_mono_ms() - s;
        if (took > worst)
            worst = took;
        served++;
        usleep(200 * 1000);
    }
    int nclosed = 0;
    for (int i = 0; i < NSLOW; i++) {
        nclosed += closed[i];
        close(fds[i]);
    }
    printf("# slow clients: %d of %d dropped within 3 s (deadline 1 s); %d other requests served, slowest %lld ms\n",
           nclosed, NSLOW, served, (long long)worst);
    assert_int_equal(nclosed, NSLOW);
    assert_true(http_server_dropped(g_fx.srv) - dropped0 >= NSLOW);
    assert_true(worst < 1000);
    Resp r;
    assert_int_equal(get(g_port, "GET", "/metrics", TOKEN, &r), 0);
    assert_non_null(strstr(r.body, "\npg2neo_http_slow_clients_dropped_total "));
    resp_free(&r);
}

/* A bounded burst: threads issue requests back to back, each on a new connection. */
typedef struct BurstArg {
    int n;
    int ok;
    int bad;
} BurstArg;

static void *burst_main(void *p)
{
    BurstArg *a = p;
    static const char *const paths[] = {"/metrics", "/api/sync/status", "/healthz", "/readyz"};
    for (int i = 0; i < a->n; i++) {
        Resp r;
        memset(&r, 0, sizeof(r));
        char req[256];
        snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n",
                 paths[i % 4], TOKEN);
        int fd = connect_to(g_port);
        if (fd < 0) {
            a->bad++;
            continue;
        }
        send_all(fd, req, strlen(req));
        int rc = read_resp(fd, &r, 5000);
        close(fd);
        if (rc == 0 && r.status == 200 && r.body_len > 0)
            a->ok++;
        else
            a->bad++;
        resp_free(&r);
    }
    return NULL;
}

static void test_burst(void **state)
{
    (void)state;
    enum { NT = 8, PER = 250 };
    pthread_t th[NT];
    BurstArg args[NT];
    int calls0 = g_fx.status_calls, want_calls = 0;
    for (int i = 0; i < PER; i++)
        want_calls += NT * (i % 4 == 1);
    int64_t t0 = p2n_now_mono_us();
    for (int i = 0; i < NT; i++) {
        args[i] = (BurstArg){PER, 0, 0};
        pthread_create(&th[i], NULL, burst_main, &args[i]);
    }
    int ok = 0, bad = 0;
    for (int i = 0; i < NT; i++) {
        pthread_join(th[i], NULL);
        ok += args[i].ok;
        bad += args[i].bad;
    }
    double secs = (double)(p2n_now_mono_us() - t0) / 1e6;
    printf("# burst: %d requests from %d threads in %.2f s (%.0f req/s), %d failed\n", ok + bad, NT, secs,
           (double)(ok + bad) / secs, bad);
    assert_int_equal(bad, 0);
    assert_int_equal(ok, NT * PER);
    assert_int_equal(g_fx.status_calls - calls0, want_calls);
    assert_alive();
}

/*
 * A flood of silent connections, five times the limit: the server holds at most the limit (the
 * rest wait in the kernel's backlog), drops the silent ones at their deadline, and a real
 * request behind the flood is still answered.
 */
static void test_connection_flood(void **state)
{
    (void)state;
    Fixture f;
    memset(&f, 0, sizeof(f));
    fixture_data(&f);
    HttpConfig cfg;
    http_config_defaults(&cfg);
    cfg.max_connections = 8;
    cfg.request_timeout_ms = 300;
    assert_int_equal(fixture_start(&f, &cfg), 0);
    uint16_t port = http_server_port(f.srv);
    enum { N = 40 };
    int fds[N];
    for (int i = 0; i < N; i++)
        fds[i] = connect_to(port);
    unsigned most = 0;
    for (int i = 0; i < 10; i++) {
        unsigned n = http_server_connections(f.srv);
        if (n > most)
            most = n;
        usleep(20 * 1000);
    }
    int64_t t0 = p2n_now_mono_ms();
    Resp r;
    assert_int_equal(get(port, "GET", "/healthz", NULL, &r), 0);
    int64_t took = p2n_now_mono_ms() - t0;
    assert_int_equal(r.status, 200);
    resp_free(&r);
    int closed = 0;
    for (int i = 0; i < N; i++) {
        if (fds[i] < 0) {
            closed++;
            continue;
        }
        struct pollfd p = {fds[i], POLLIN, 0};
        char b[16];
        if (poll(&p, 1, 3000) > 0 && recv(fds[i], b, sizeof(b), 0) <= 0)
            closed++;
        close(fds[i]);
    }
    printf("# flood of %d silent connections, limit 8: at most %u held, a real request answered after %lld ms, "
           "%d flood connections closed by the server\n", N, most, (long long)took, closed);
    assert_true(most <= 8);
    assert_int_equal(closed, N);
    assert_true(http_server_dropped(f.srv) >= N);
    fixture_free(&f);
}

static void test_config_errors(void **state)
{
    (void)state;
    Fixture f;
    memset(&f, 0, sizeof(f));
    fixture_data(&f);
    HttpConfig cfg;
    http_config_defaults(&cfg);
    cfg.bind_addr = "localhost:80";
    HttpProvider p = {&f, fx_status_json, fx_ready, fx_fill_metrics};
    P2nErr err;
    HttpServer *s = NULL;
    assert_int_equal(http_server_start(&cfg, &p, f.reg, &s, &err), P2N_EINVAL);
    assert_non_null(strstr(err.msg, "invalid HTTP bind address"));
    cfg.bind_addr = "127.0.0.1";
    cfg.port = g_port; /* taken by the main server */
    assert_int_equal(http_server_start(&cfg, &p, f.reg, &s, &err), P2N_EIO);
    assert_non_null(strstr(err.msg, "could not start the HTTP server"));
    assert_null(s);
    /* IPv6 loopback works too */
    cfg.bind_addr = "::1";
    cfg.port = 0;
    assert_int_equal(http_server_start(&cfg, &p, f.reg, &s, &err), 0);
    assert_true(http_server_port(s) != 0);
    http_server_stop(s);
    sync_alerts_free(f.alerts);
    p2n_metrics_free(f.reg);
    pthread_mutex_destroy(&f.lock);
}

/*
 * Secrets: the bearer token and a database password (registered as the daemon registers them)
 * appear in no log line (at debug level), no /metrics or status output, and no error message,
 * even when they are handed to the code in places where they could leak.
 */
static void test_no_secrets_anywhere(void **state)
{
    (void)state;
    char path[] = "/tmp/p2n-http-log-XXXXXX";
    int lfd = mkstemp(path);
    assert_true(lfd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(lfd, 2);
    p2n_log_set_level(P2N_LOG_DEBUG);

    Fixture f;
    memset(&f, 0, sizeof(f));
    fixture_data(&f);
    HttpConfig cfg;
    http_config_defaults(&cfg);
    cfg.bearer_token = "second-token-" DB_SECRET;
    assert_int_equal(fixture_start(&f, &cfg), 0);
    uint16_t port = http_server_port(f.srv);
    /* a label value carrying the password */
    p2n_metric_add1(f.m.failures, "type-" DB_SECRET, 1);
    Resp r;
    assert_int_equal(get(port, "GET", "/metrics", "second-token-" DB_SECRET, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "pg2neo_failures_total{entity_type=\"type-*"));
    assert_null(strstr(r.body, DB_SECRET));
    resp_free(&r);
    assert_int_equal(get(port, "GET", "/api/sync/status", "second-token-" DB_SECRET, &r), 0);
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body, DB_SECRET));
    resp_free(&r);
    assert_int_equal(get(port, "GET", "/metrics", "wrong-" DB_SECRET, &r), 0);
    assert_int_equal(r.status, 401);
    assert_null(strstr(r.head, DB_SECRET));
    assert_null(strstr(r.body, DB_SECRET));
    resp_free(&r);
    f.fail_status = 1;
    assert_int_equal(get(port, "GET", "/api/sync/status", "second-token-" DB_SECRET, &r), 0);
    assert_int_equal(r.status, 503);
    assert_null(strstr(r.body, DB_SECRET));
    resp_free(&r);

    /* a webhook that fails, with the password as its token: logged, not leaked */
    SyncAlertEvent ev = {SYNC_ALERT_CONFLICTS, SYNC_ALERT_STATE_OK, SYNC_ALERT_STATE_FIRING, 1, 0, 1, 1};
    SyncWebhookConfig wh = {"http://127.0.0.1:1/hook", DB_SECRET, 500};
    assert_int_not_equal(sync_alerts_notify(sync_alerts_config(f.alerts), &ev, 1, &wh), 0);
    P2nErr err;
    SyncWebhookConfig wh2 = {"http://u:" DB_SECRET "@127.0.0.1:1/", NULL, 500};
    assert_int_equal(sync_webhook_post(&wh2, "{}", 2, &err), P2N_EINVAL);
    assert_null(strstr(err.msg, DB_SECRET));
    fixture_free(&f);

    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    p2n_log_set_level(P2N_LOG_WARN);
    FILE *lf = fdopen(lfd, "r");
    assert_non_null(lf);
    fseek(lf, 0, SEEK_SET);
    static char logs[1 << 16];
    size_t n = fread(logs, 1, sizeof(logs) - 1, lf);
    logs[n] = '\0';
    fclose(lf);
    unlink(path);
    /* the capture worked: the lines we expect are there */
    assert_non_null(strstr(logs, "msg=\"http server listening\""));
    assert_non_null(strstr(logs, "msg=\"alert firing\""));
    assert_non_null(strstr(logs, "msg=\"could not post alert webhook\""));
    assert_null(strstr(logs, DB_SECRET));
    assert_null(strstr(logs, TOKEN));
}

/* ---- serve mode for the browser test ----------------------------------------------------- */

static volatile sig_atomic_t g_stop;
static void on_term(int sig)
{
    (void)sig;
    g_stop = 1;
}

static int serve(const char *portfile)
{
    Fixture f;
    memset(&f, 0, sizeof(f));
    fixture_data(&f);
    f.live = true;
    HttpConfig cfg;
    http_config_defaults(&cfg);
    const char *tok = getenv("P2N_HTTP_TOKEN");
    cfg.bearer_token = tok;
    if (fixture_start(&f, &cfg) != 0)
        return 1;
    FILE *pf = fopen(portfile, "w");
    if (pf == NULL)
        return 1;
    fprintf(pf, "%u\n", http_server_port(f.srv));
    fclose(pf);
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    while (!g_stop) {
        struct pollfd p = {0, POLLIN, 0};
        if (poll(&p, 1, 250) > 0) {
            char b[64];
            if (read(0, b, sizeof(b)) <= 0)
                break;
        }
    }
    fixture_free(&f);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--serve") == 0)
        return serve(argv[2]);
    p2n_log_set_level(P2N_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_healthz),
        cmocka_unit_test(test_status_json),
        cmocka_unit_test(test_bearer_token),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_readyz),
        cmocka_unit_test(test_dashboard_page),
        cmocka_unit_test(test_not_found_and_methods),
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_malformed_requests),
        cmocka_unit_test(test_oversized),
        cmocka_unit_test(test_slow_clients),
        cmocka_unit_test(test_burst),
        cmocka_unit_test(test_connection_flood),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_no_secrets_anywhere),
    };
    return cmocka_run_group_tests(tests, setup_server, teardown_server);
}
