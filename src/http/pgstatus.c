/* Reads the sync queue's state from PostgreSQL into an HttpPgSnapshot (status, gauges, alerts). */
#include "http/pgstatus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg/pgutil.h"

static const char *const SQL_TYPES =
    "SELECT entity_type,"
    " count(*) FILTER (WHERE sync_status IN ('pending', 'deleted')),"
    " count(*) FILTER (WHERE sync_status = 'in_progress'),"
    " count(*) FILTER (WHERE sync_status = 'synced'),"
    " count(*) FILTER (WHERE sync_status = 'failed'),"
    " count(*) FILTER (WHERE has_conflicts),"
    " extract(epoch FROM now() - min(coalesce(first_change_at, updated_at))"
    "   FILTER (WHERE sync_status IN ('pending', 'deleted', 'in_progress')))::float8,"
    " avg(last_latency_seconds) FILTER (WHERE sync_status = 'synced' AND synced_at > now() - interval '15 minutes')"
    " FROM @SCHEMA@.graph_sync_status GROUP BY entity_type ORDER BY entity_type";

static const char *const SQL_FAILCOUNT =
    "SELECT coalesce(max(id), 0), (extract(epoch FROM now()) * 1000)::int8 FROM @SCHEMA@.graph_sync_failures";

static const char *const SQL_BATCHES =
    "SELECT id, batch_type, batch_status, (extract(epoch FROM coalesce(started_at, created_at)) * 1000)::int8,"
    " coalesce(duration_seconds, -1), total_entities, synced_count, failed_count"
    " FROM @SCHEMA@.graph_sync_batches ORDER BY id DESC LIMIT $1";

static const char *const SQL_FAILURES =
    "SELECT entity_type, entity_id, attempt_number, failure_message,"
    " (extract(epoch FROM created_at) * 1000)::int8"
    " FROM @SCHEMA@.graph_sync_failures ORDER BY id DESC LIMIT $1";

static int64_t col_i64(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static double col_f64(const PGresult *r, int row, int col, double dflt)
{
    return PQgetisnull(r, row, col) ? dflt : strtod(PQgetvalue(r, row, col), NULL);
}

static char *col_str(const PGresult *r, int row, int col)
{
    return strdup(PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col));
}

void http_pg_snapshot_free(HttpPgSnapshot *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->ntypes; i++)
        free((char *)(uintptr_t)s->types[i].entity_type);
    for (size_t i = 0; i < s->nbatches; i++) {
        free((char *)(uintptr_t)s->batches[i].batch_type);
        free((char *)(uintptr_t)s->batches[i].status);
    }
    for (size_t i = 0; i < s->nfailures; i++) {
        free((char *)(uintptr_t)s->failures[i].entity_type);
        free((char *)(uintptr_t)s->failures[i].entity_id);
        free((char *)(uintptr_t)s->failures[i].message);
    }
    free(s->types);
    free(s->batches);
    free(s->failures);
    memset(s, 0, sizeof(*s));
    s->oldest_pending_age_s = -1;
}

/* Runs a schema template with up to one parameter. */
static int run(PGconn *conn, const char *schema, const char *tmpl, const char *param, PGresult **res,
               const char *what, P2nErr *err)
{
    char *sql = pgu_schema_subst(tmpl, schema, err);
    if (sql == NULL)
        return err != NULL && err->code != 0 ? err->code : P2N_ENOMEM;
    const char *params[1] = {param};
    int rc = pgu_query(conn, sql, param != NULL ? 1 : 0, param != NULL ? params : NULL, res, what, err);
    free(sql);
    return rc;
}

static int load_locked(PGconn *conn, const char *schema, size_t recent, HttpPgSnapshot *s, P2nErr *err)
{
    PGresult *r = NULL;
    int rc = run(conn, schema, SQL_TYPES, NULL, &r, "could not read the sync status", err);
    if (rc != 0)
        return rc;
    int n = PQntuples(r);
    s->types = calloc((size_t)(n > 0 ? n : 1), sizeof(HttpTypeStatus));
    if (s->types == NULL) {
        PQclear(r);
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        HttpTypeStatus *t = &s->types[s->ntypes];
        t->entity_type = col_str(r, i, 0);
        if (t->entity_type == NULL) {
            PQclear(r);
            return p2n_err_set(err, P2N_ENOMEM, "out of memory");
        }
        s->ntypes++;
        t->pending = col_i64(r, i, 1);
        t->in_progress = col_i64(r, i, 2);
        t->synced = col_i64(r, i, 3);
        t->failed = col_i64(r, i, 4);
        s->conflicts += col_i64(r, i, 5);
        t->oldest_pending_age_s = col_f64(r, i, 6, -1);
        t->avg_latency_s = col_f64(r, i, 7, -1); /* of the entities synced in the last 15 minutes */
        s->pending += t->pending;
        s->in_progress += t->in_progress;
        s->synced += t->synced;
        s->failed += t->failed;
        if (t->oldest_pending_age_s > s->oldest_pending_age_s)
            s->oldest_pending_age_s = t->oldest_pending_age_s;
    }
    PQclear(r);

    rc = run(conn, schema, SQL_FAILCOUNT, NULL, &r, "could not read the failure count", err);
    if (rc != 0)
        return rc;
    s->failures_total = col_i64(r, 0, 0);
    s->taken_ms = col_i64(r, 0, 1);
    PQclear(r);

    char lim[24];
    snprintf(lim, sizeof(lim), "%zu", recent);
    rc = run(conn, schema, SQL_BATCHES, lim, &r, "could not read recent batches", err);
    if (rc != 0)
        return rc;
    n = PQntuples(r);
    s->batches = calloc((size_t)(n > 0 ? n : 1), sizeof(HttpBatchStatus));
    if (s->batches == NULL) {
        PQclear(r);
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        HttpBatchStatus *b = &s->batches[s->nbatches++];
        b->id = col_i64(r, i, 0);
        b->batch_type = col_str(r, i, 1);
        b->status = col_str(r, i, 2);
        b->started_ms = col_i64(r, i, 3);
        b->duration_s = col_f64(r, i, 4, -1);
        b->total = col_i64(r, i, 5);
        b->synced = col_i64(r, i, 6);
        b->failed = col_i64(r, i, 7);
        if (b->batch_type == NULL || b->status == NULL) {
            PQclear(r);
            return p2n_err_set(err, P2N_ENOMEM, "out of memory");
        }
    }
    PQclear(r);

    rc = run(conn, schema, SQL_FAILURES, lim, &r, "could not read recent failures", err);
    if (rc != 0)
        return rc;
    n = PQntuples(r);
    s->failures = calloc((size_t)(n > 0 ? n : 1), sizeof(HttpFailureStatus));
    if (s->failures == NULL) {
        PQclear(r);
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        HttpFailureStatus *f = &s->failures[s->nfailures++];
        f->entity_type = col_str(r, i, 0);
        f->entity_id = col_str(r, i, 1);
        f->attempt = (int32_t)col_i64(r, i, 2);
        f->message = col_str(r, i, 3);
        f->at_ms = col_i64(r, i, 4);
        if (f->entity_type == NULL || f->entity_id == NULL || f->message == NULL) {
            PQclear(r);
            return p2n_err_set(err, P2N_ENOMEM, "out of memory");
        }
    }
    PQclear(r);
    return 0;
}

int http_pg_snapshot_load(PGconn *conn, const char *schema, size_t recent, HttpPgSnapshot *out, P2nErr *err)
{
    memset(out, 0, sizeof(*out));
    out->oldest_pending_age_s = -1;
    int rc = pgu_exec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "could not begin", err);
    if (rc != 0)
        return rc;
    rc = load_locked(conn, schema, recent, out, err);
    if (rc == 0) {
        rc = pgu_exec(conn, "COMMIT", "could not commit", err);
    } else {
        P2nErr ignored;
        pgu_exec(conn, "ROLLBACK", "could not roll back", &ignored);
    }
    if (rc != 0)
        http_pg_snapshot_free(out);
    return rc;
}

void http_pg_snapshot_status(const HttpPgSnapshot *s, HttpStatus *st)
{
    st->now_ms = s->taken_ms;
    st->pending = s->pending;
    st->in_progress = s->in_progress;
    st->failed = s->failed;
    st->synced = s->synced;
    st->conflicts = s->conflicts;
    st->oldest_pending_age_s = s->oldest_pending_age_s;
    st->lag_s = s->oldest_pending_age_s < 0 ? 0 : s->oldest_pending_age_s;
    st->types = s->types;
    st->ntypes = s->ntypes;
    st->recent_batches = s->batches;
    st->nbatches = s->nbatches;
    st->last_batch = s->nbatches > 0 ? &s->batches[0] : NULL;
    st->recent_failures = s->failures;
    st->nfailures = s->nfailures;
}

void http_pg_snapshot_metrics(const HttpPgSnapshot *s, const P2nStdMetrics *m)
{
    static const char *const statuses[] = {"pending", "in_progress", "synced", "failed"};
    p2n_metric_clear(m->entities);
    p2n_metric_clear(m->oldest_pending);
    for (size_t i = 0; i < s->ntypes; i++) {
        const HttpTypeStatus *t = &s->types[i];
        const double v[4] = {(double)t->pending, (double)t->in_progress, (double)t->synced, (double)t->failed};
        for (int k = 0; k < 4; k++) {
            const char *lv[2] = {t->entity_type, statuses[k]};
            p2n_metric_set(m->entities, lv, v[k]);
        }
        if (t->oldest_pending_age_s >= 0)
            p2n_metric_set1(m->oldest_pending, t->entity_type, t->oldest_pending_age_s);
    }
    p2n_metric_set1(m->conflicts, NULL, (double)s->conflicts);
}

void http_pg_snapshot_obs(const HttpPgSnapshot *s, SyncAlertObs *o)
{
    o->pending = s->pending;
    o->failures_total = s->failures_total;
    o->conflicts = s->conflicts;
    o->staleness_s = s->oldest_pending_age_s < 0 ? 0 : s->oldest_pending_age_s;
}
