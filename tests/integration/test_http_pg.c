/*
 * Integration test: the observability pieces driven by a real queue in PostgreSQL. The sync
 * schema (sql/001_capture.sql, via pg_schema_migrate) goes into a private schema of
 * DATABASE_URL's database; rows are put in graph_sync_status/_failures/_batches as the engine
 * would; then
 *   - the snapshot's counts, ages, batches and failures equal what SQL says;
 *   - the alerts fire from those real numbers: 150 pending past a (short) window, a conflict,
 *     2-hour-old changes (staleness warning, not critical), 6 new failures; and resolve once
 *     the rows are synced;
 *   - an HTTP server whose provider serves the snapshot answers /api/sync/status and /metrics
 *     with those numbers, and /readyz turns 503 (pg2neo_postgresql_up 0, status 503) when the
 *     PostgreSQL connection is lost.
 * Fails (not skips) when PostgreSQL is unreachable.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "common/log.h"
#include "common/time.h"
#include "http/pgstatus.h"
#include "http/server.h"
#include "pg/schema.h"

static PGconn *g_conn;
static char g_schema[64];

static void sql(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sql(const char *fmt, ...)
{
    char q[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q, sizeof(q), fmt, ap);
    va_end(ap);
    PGresult *r = PQexec(g_conn, q);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("SQL failed: %s: %s", q, PQerrorMessage(g_conn));
    PQclear(r);
}

static int64_t sql_int(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int64_t sql_int(const char *fmt, ...)
{
    char q[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q, sizeof(q), fmt, ap);
    va_end(ap);
    PGresult *r = PQexec(g_conn, q);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        fail_msg("SQL failed: %s: %s", q, PQerrorMessage(g_conn));
    int64_t v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

static int setup(void **state)
{
    (void)state;
    const char *url = getenv("DATABASE_URL");
    if (url == NULL || *url == '\0') {
        fprintf(stderr, "DATABASE_URL is not set (eval \"$(scripts/services env)\")\n");
        return -1;
    }
    g_conn = PQconnectdb(url);
    if (PQstatus(g_conn) != CONNECTION_OK) {
        fprintf(stderr, "could not connect to PostgreSQL: %s", PQerrorMessage(g_conn));
        return -1;
    }
    snprintf(g_schema, sizeof(g_schema), "http_test_%d", (int)getpid());
    char q[256];
    snprintf(q, sizeof(q), "SET client_min_messages = warning; DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s",
             g_schema, g_schema);
    PGresult *r = PQexec(g_conn, q);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok)
        return -1;
    P2nErr err;
    if (pg_schema_migrate(g_conn, g_schema, NULL, NULL, &err) != 0) {
        fprintf(stderr, "pg_schema_migrate: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (g_conn != NULL) {
        char q[128];
        snprintf(q, sizeof(q), "SET client_min_messages = warning; DROP SCHEMA IF EXISTS %s CASCADE", g_schema);
        PQclear(PQexec(g_conn, q));
        PQfinish(g_conn);
    }
    return 0;
}

/* The queue as the engine leaves it: bill 150 pending (changed 2 h ago), vote 3 in progress,
   5 synced, 2 failed, one of them in conflict; 3 batches; 4 failures. */
static void fill_queue(void)
{
    sql("INSERT INTO %s.graph_sync_status (entity_type, entity_id, sync_status, first_change_at)"
        " SELECT 'bill', 'b' || g, 'pending', now() - interval '2 hours' FROM generate_series(1, 150) g",
        g_schema);
    sql("INSERT INTO %s.graph_sync_status (entity_type, entity_id, sync_status, first_change_at, has_conflicts)"
        " VALUES ('vote', 'v1', 'in_progress', now() - interval '10 seconds', false),"
        " ('vote', 'v2', 'in_progress', now() - interval '5 seconds', false),"
        " ('vote', 'v3', 'in_progress', now(), false),"
        " ('vote', 'v4', 'failed', now() - interval '3 days', true),"
        " ('vote', 'v5', 'failed', now() - interval '3 days', false)",
        g_schema);
    sql("INSERT INTO %s.graph_sync_status (entity_type, entity_id, sync_status, synced_at)"
        " SELECT 'vote', 's' || g, 'synced', now() FROM generate_series(1, 5) g",
        g_schema);
    sql("INSERT INTO %s.graph_sync_batches (batch_type, batch_status, total_entities, synced_count, failed_count,"
        " duration_seconds, started_at) VALUES ('incremental', 'completed', 10, 10, 0, 0.5, now() - interval '3 minutes'),"
        " ('incremental', 'partial', 12, 10, 2, 0.75, now() - interval '2 minutes'),"
        " ('full', 'completed', 5, 5, 0, 1.25, now() - interval '1 minute')",
        g_schema);
    for (int i = 1; i <= 4; i++)
        sql("INSERT INTO %s.graph_sync_failures (entity_type, entity_id, attempt_number, failure_message, retryable)"
            " VALUES ('vote', 'v4', %d, 'Neo.ClientError.Schema.ConstraintValidationFailed #%d', false)",
            g_schema, i, i);
}

static void test_snapshot_matches_sql(void **state)
{
    (void)state;
    fill_queue();
    HttpPgSnapshot s;
    P2nErr err;
    assert_int_equal(http_pg_snapshot_load(g_conn, g_schema, 10, &s, &err), 0);
    assert_int_equal(s.ntypes, 2);
    assert_string_equal(s.types[0].entity_type, "bill");
    assert_int_equal(s.types[0].pending, 150);
    assert_int_equal(s.types[1].in_progress, 3);
    assert_int_equal(s.types[1].synced, 5);
    assert_int_equal(s.types[1].failed, 2);
    assert_int_equal(s.pending, sql_int("SELECT count(*) FROM %s.graph_sync_status WHERE sync_status = 'pending'",
                                        g_schema));
    assert_int_equal(s.conflicts, 1);
    assert_true(s.types[0].oldest_pending_age_s > 7190 && s.types[0].oldest_pending_age_s < 7300);
    assert_true(s.types[1].oldest_pending_age_s >= 9 && s.types[1].oldest_pending_age_s < 100); /* in progress */
    assert_true(s.oldest_pending_age_s > 7190);
    assert_int_equal(s.failures_total, sql_int("SELECT max(id) FROM %s.graph_sync_failures", g_schema));
    assert_int_equal(s.nbatches, 3);
    assert_string_equal(s.batches[0].batch_type, "full"); /* newest first */
    assert_true(s.batches[0].duration_s == 1.25);
    assert_int_equal(s.nfailures, 4);
    assert_string_equal(s.failures[0].message, "Neo.ClientError.Schema.ConstraintValidationFailed #4");
    assert_int_equal(s.failures[0].attempt, 4);
    assert_true(llabs(s.taken_ms - p2n_now_wall_ms()) < 60000);
    http_pg_snapshot_free(&s);
    /* a schema that is not installed: a clear error, no crash */
    assert_int_not_equal(http_pg_snapshot_load(g_conn, "no_such_schema_here", 10, &s, &err), 0);
    assert_non_null(strstr(err.msg, "could not read the sync status"));
    assert_int_equal(PQtransactionStatus(g_conn), PQTRANS_IDLE);
}

static size_t observe(SyncAlerts *a, SyncAlertEvent *ev)
{
    HttpPgSnapshot s;
    P2nErr err;
    assert_int_equal(http_pg_snapshot_load(g_conn, g_schema, 10, &s, &err), 0);
    SyncAlertObs o = sync_alert_obs_unknown(p2n_now_wall_ms());
    http_pg_snapshot_obs(&s, &o);
    http_pg_snapshot_free(&s);
    return sync_alerts_evaluate(a, &o, ev, SYNC_ALERT_COUNT);
}

static const SyncAlertEvent *find_event(const SyncAlertEvent *ev, size_t n, SyncAlertKind k)
{
    for (size_t i = 0; i < n; i++)
        if (ev[i].kind == k)
            return &ev[i];
    return NULL;
}

static void test_alerts_from_real_queue(void **state)
{
    (void)state;
    SyncAlertConfig cfg;
    sync_alert_config_defaults(&cfg);
    cfg.rules[SYNC_ALERT_PENDING_ENTITIES].for_ms = 400; /* the 5 min window, made short */
    SyncAlerts *a = sync_alerts_new(&cfg);
    SyncAlertEvent ev[SYNC_ALERT_COUNT];

    size_t n = observe(a, ev);
    const SyncAlertEvent *e = find_event(ev, n, SYNC_ALERT_PENDING_ENTITIES);
    assert_non_null(e);
    assert_int_equal(e->to, SYNC_ALERT_STATE_PENDING); /* not yet: the window runs */
    assert_true(e->value == 150);
    assert_non_null(find_event(ev, n, SYNC_ALERT_CONFLICTS));
    assert_int_equal(find_event(ev, n, SYNC_ALERT_CONFLICTS)->to, SYNC_ALERT_STATE_FIRING);
    assert_non_null(find_event(ev, n, SYNC_ALERT_STALENESS_WARNING));
    assert_null(find_event(ev, n, SYNC_ALERT_STALENESS)); /* 2 h is not 24 h */
    assert_null(find_event(ev, n, SYNC_ALERT_FAILED_SYNCS)); /* the first count is the baseline */

    usleep(450 * 1000);
    n = observe(a, ev);
    e = find_event(ev, n, SYNC_ALERT_PENDING_ENTITIES);
    assert_non_null(e);
    assert_int_equal(e->to, SYNC_ALERT_STATE_FIRING);
    assert_int_equal(n, 1); /* nothing else changed */

    /* six new failures: failed_syncs fires */
    for (int i = 0; i < 6; i++)
        sql("INSERT INTO %s.graph_sync_failures (entity_type, entity_id, attempt_number, failure_message, retryable)"
            " VALUES ('bill', 'b1', %d, 'timeout', true)", g_schema, i + 1);
    n = observe(a, ev);
    assert_int_equal(n, 1);
    assert_int_equal(ev[0].kind, SYNC_ALERT_FAILED_SYNCS);
    assert_int_equal(ev[0].to, SYNC_ALERT_STATE_FIRING);
    assert_true(ev[0].value == 6);
    assert_int_equal(observe(a, ev), 0); /* reported once */

    /* the runner catches up: pending, staleness and conflicts resolve, once */
    sql("UPDATE %s.graph_sync_status SET sync_status = 'synced', has_conflicts = false", g_schema);
    n = observe(a, ev);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ev[i].to, SYNC_ALERT_STATE_OK);
    assert_non_null(find_event(ev, n, SYNC_ALERT_PENDING_ENTITIES));
    assert_non_null(find_event(ev, n, SYNC_ALERT_CONFLICTS));
    assert_non_null(find_event(ev, n, SYNC_ALERT_STALENESS_WARNING));
    assert_int_equal(observe(a, ev), 0);
    assert_int_equal(sync_alerts_firing_count(a), 1); /* failed_syncs holds for its hour */
    sync_alerts_free(a);
    sql("DELETE FROM %s.graph_sync_status; DELETE FROM %s.graph_sync_failures; DELETE FROM %s.graph_sync_batches",
        g_schema, g_schema, g_schema);
}

/* ---- the HTTP server with a provider over the real snapshot ---- */

typedef struct PgProvider {
    pthread_mutex_t lock;
    PGconn *conn;        /* one connection, used under lock */
    P2nStdMetrics m;
    SyncAlerts *alerts;
} PgProvider;

static int pgp_up(PgProvider *p)
{
    if (PQstatus(p->conn) != CONNECTION_OK)
        return 0;
    PGresult *r = PQexec(p->conn, "SELECT 1");
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    return ok;
}

static int pgp_status(void *ctx, P2nBuf *out)
{
    PgProvider *p = ctx;
    pthread_mutex_lock(&p->lock);
    HttpPgSnapshot s;
    P2nErr err;
    int rc = http_pg_snapshot_load(p->conn, g_schema, 5, &s, &err);
    if (rc == 0) {
        HttpStatus st = {0};
        http_pg_snapshot_status(&s, &st);
        st.initialized = true;
        st.postgres_connected = true;
        st.alerts = p->alerts;
        rc = http_status_render(&st, out);
        http_pg_snapshot_free(&s);
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

static int pgp_ready(void *ctx)
{
    PgProvider *p = ctx;
    pthread_mutex_lock(&p->lock);
    int up = pgp_up(p);
    pthread_mutex_unlock(&p->lock);
    return up;
}

static int pgp_fill(void *ctx, P2nMetrics *reg)
{
    (void)reg;
    PgProvider *p = ctx;
    pthread_mutex_lock(&p->lock);
    int up = pgp_up(p);
    p2n_metric_set1(p->m.postgresql_up, NULL, up);
    HttpPgSnapshot s;
    P2nErr err;
    int rc = up ? http_pg_snapshot_load(p->conn, g_schema, 5, &s, &err) : P2N_ECONNLOST;
    if (rc == 0) {
        http_pg_snapshot_metrics(&s, &p->m);
        http_pg_snapshot_free(&s);
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

static char *http_get(uint16_t port, const char *path, int *status)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    char req[256];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
    assert_int_equal(write(fd, req, (size_t)n), n);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    ssize_t k;
    while ((k = read(fd, buf + len, cap - 1 - len)) > 0) {
        len += (size_t)k;
        if (len + 1 >= cap)
            buf = realloc(buf, cap *= 2);
    }
    buf[len] = '\0';
    close(fd);
    *status = len > 12 ? atoi(buf + 9) : 0;
    char *body = strstr(buf, "\r\n\r\n");
    char *out = strdup(body ? body + 4 : "");
    free(buf);
    return out;
}

static void test_http_over_real_queue(void **state)
{
    (void)state;
    fill_queue();
    PgProvider p;
    memset(&p, 0, sizeof(p));
    pthread_mutex_init(&p.lock, NULL);
    p.conn = PQconnectdb(getenv("DATABASE_URL"));
    assert_int_equal(PQstatus(p.conn), CONNECTION_OK);
    P2nMetrics *reg = p2n_metrics_new();
    assert_int_equal(p2n_metrics_register_std(reg, &p.m, NULL), 0);
    p.alerts = sync_alerts_new(NULL);
    HttpConfig cfg;
    http_config_defaults(&cfg);
    HttpProvider prov = {&p, pgp_status, pgp_ready, pgp_fill};
    HttpServer *srv;
    P2nErr err;
    assert_int_equal(http_server_start(&cfg, &prov, reg, &srv, &err), 0);
    uint16_t port = http_server_port(srv);

    int status;
    char *body = http_get(port, "/api/sync/status", &status);
    assert_int_equal(status, 200);
    json_t *j = json_loads(body, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "pendingEntities")),
                     sql_int("SELECT count(*) FROM %s.graph_sync_status WHERE sync_status IN ('pending','deleted')",
                             g_schema));
    assert_int_equal(json_integer_value(json_object_get(j, "failedEntities")), 2);
    assert_int_equal(json_integer_value(json_object_get(j, "syncedEntities")), 5);
    assert_int_equal(json_integer_value(json_object_get(j, "conflictCount")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "lastSyncBatch"), "id")),
                     sql_int("SELECT max(id) FROM %s.graph_sync_batches", g_schema));
    assert_int_equal(json_array_size(json_object_get(j, "recentFailures")), 4);
    assert_true(json_real_value(json_object_get(j, "oldestPendingAgeSeconds")) > 7190);
    json_decref(j);
    free(body);

    body = http_get(port, "/metrics", &status);
    assert_int_equal(status, 200);
    assert_non_null(strstr(body, "pg2neo_entities{entity_type=\"bill\",status=\"pending\"} 150\n"));
    assert_non_null(strstr(body, "pg2neo_entities{entity_type=\"vote\",status=\"failed\"} 2\n"));
    assert_non_null(strstr(body, "\npg2neo_conflicts 1\n"));
    assert_non_null(strstr(body, "\npg2neo_postgresql_up 1\n"));
    free(body);
    body = http_get(port, "/readyz", &status);
    assert_int_equal(status, 200);
    free(body);

    /* PostgreSQL goes away (the server kills our backend): not ready, up gauge 0, status 503 */
    pthread_mutex_lock(&p.lock);
    int pid = PQbackendPID(p.conn);
    pthread_mutex_unlock(&p.lock);
    assert_int_equal(sql_int("SELECT pg_terminate_backend(%d)::int", pid), 1);
    usleep(100 * 1000);
    body = http_get(port, "/readyz", &status);
    assert_int_equal(status, 503);
    free(body);
    body = http_get(port, "/metrics", &status);
    assert_int_equal(status, 200);
    assert_non_null(strstr(body, "\npg2neo_postgresql_up 0\n"));
    free(body);
    body = http_get(port, "/api/sync/status", &status);
    assert_int_equal(status, 503);
    free(body);
    body = http_get(port, "/healthz", &status); /* the process itself is fine */
    assert_int_equal(status, 200);
    free(body);

    http_server_stop(srv);
    sync_alerts_free(p.alerts);
    p2n_metrics_free(reg);
    PQfinish(p.conn);
    pthread_mutex_destroy(&p.lock);
}

int main(void)
{
    p2n_log_set_level(P2N_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshot_matches_sql),
        cmocka_unit_test(test_alerts_from_real_queue),
        cmocka_unit_test(test_http_over_real_queue),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
