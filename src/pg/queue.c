/* The sync queue: fold, claim, mark synced/failed, release, batch records, wake-up poll. */
#include "pg/queue.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/time.h"
#include "pg/pgutil.h"

const char *pgq_op_name(PgqOp op)
{
    switch (op) {
    case PGQ_OP_UPSERT: return "upsert";
    case PGQ_OP_DELETE: return "delete";
    case PGQ_OP_RESYNC: return "resync";
    }
    return "?";
}

/* runs a schema template with parameters */
static int q(PGconn *conn, const char *schema, const char *tmpl, int np, const char *const *p, PGresult **out,
             const char *what, P2nErr *err)
{
    char *sql = pgu_schema_subst(tmpl, schema, err);
    if (!sql)
        return P2N_EINVAL;
    int rc = pgu_query(conn, sql, np, p, out, what, err);
    free(sql);
    return rc;
}

int pgq_fold(PGconn *conn, const char *schema, int64_t *n_entities, P2nErr *err)
{
    PGresult *r = NULL;
    int rc = q(conn, schema, "SELECT @SCHEMA@.graph_sync_fold()", 0, NULL, &r, "could not fold the change log", err);
    if (rc < 0)
        return rc;
    if (n_entities)
        *n_entities = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return 0;
}

void pgq_claims_free(PgqClaim *c, size_t n)
{
    if (!c)
        return;
    for (size_t i = 0; i < n; i++) {
        free(c[i].entity_type);
        free(c[i].entity_id);
        free(c[i].changed_arrays);
    }
    free(c);
}

int pgq_claim(PGconn *conn, const char *schema, size_t limit, uint32_t lease_ms, const char *worker_id,
              bool fold, PgqClaim **out, size_t *n, P2nErr *err)
{
    *out = NULL;
    *n = 0;
    if (!worker_id || !*worker_id)
        return p2n_err_set(err, P2N_EINVAL, "a worker id is required to claim");
    int rc;
    if (fold && (rc = pgq_fold(conn, schema, NULL, err)) < 0)
        return rc;
    if (limit == 0)
        return 0;
    char lim[24], lease[24];
    snprintf(lim, sizeof(lim), "%zu", limit);
    snprintf(lease, sizeof(lease), "%" PRIu32, lease_ms);
    const char *p[3] = {lim, lease, worker_id};
    PGresult *r = NULL;
    rc = q(conn, schema,
           /* The locked rows are updated by ctid (a TID scan), so the plan cannot turn into a
              nested loop over the whole table when the statistics are stale right after a
              large fold (seen: a 100k claim running for minutes on a fresh table). */
           "WITH c AS ("
           "  SELECT ctid FROM @SCHEMA@.graph_sync_status"
           "   WHERE (sync_status IN ('pending', 'deleted') AND next_attempt_at <= now())"
           "      OR (sync_status = 'in_progress' AND lease_until < now())"
           "   ORDER BY next_attempt_at LIMIT $1::bigint FOR UPDATE SKIP LOCKED)"
           " UPDATE @SCHEMA@.graph_sync_status s SET sync_status = 'in_progress', claimed_by = $3,"
           "        lease_until = now() + $2::bigint * interval '1 millisecond',"
           "        attempts = CASE WHEN s.sync_status = 'in_progress' THEN s.attempts + 1 ELSE s.attempts END,"
           "        updated_at = now()"
           "   WHERE s.ctid = ANY (ARRAY(SELECT ctid FROM c))"
           " RETURNING s.entity_type, s.entity_id, s.version, s.op, s.changed_arrays::text, s.attempts,"
           "        (extract(epoch FROM coalesce(s.first_change_at, s.created_at)) * 1000)::bigint",
           3, p, &r, "could not claim entities", err);
    if (rc < 0)
        return rc;
    int nt = PQntuples(r);
    PgqClaim *c = calloc((size_t)nt + 1, sizeof(PgqClaim));
    if (!c) {
        PQclear(r);
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    }
    for (int i = 0; i < nt; i++) {
        c[i].entity_type = strdup(PQgetvalue(r, i, 0));
        c[i].entity_id = strdup(PQgetvalue(r, i, 1));
        c[i].version = strtoll(PQgetvalue(r, i, 2), NULL, 10);
        const char *op = PQgetvalue(r, i, 3);
        c[i].op = strcmp(op, "delete") == 0 ? PGQ_OP_DELETE : strcmp(op, "resync") == 0 ? PGQ_OP_RESYNC : PGQ_OP_UPSERT;
        c[i].changed_arrays = PQgetisnull(r, i, 4) ? NULL : strdup(PQgetvalue(r, i, 4));
        c[i].attempts = (int32_t)strtol(PQgetvalue(r, i, 5), NULL, 10);
        c[i].first_change_ms = strtoll(PQgetvalue(r, i, 6), NULL, 10);
        if (!c[i].entity_type || !c[i].entity_id || (!PQgetisnull(r, i, 4) && !c[i].changed_arrays)) {
            PQclear(r);
            pgq_claims_free(c, (size_t)i + 1);
            return p2n_err_set(err, P2N_ENOMEM, "out of memory");
        }
    }
    PQclear(r);
    *out = c;
    *n = (size_t)nt;
    return 0;
}

/* keys as three array parameters: types, ids, versions */
typedef struct KeyArrays {
    P2nBuf types, ids, versions;
} KeyArrays;

static int key_arrays_build(KeyArrays *k, const PgqKey *keys, size_t n, P2nErr *err)
{
    p2n_buf_init(&k->types);
    p2n_buf_init(&k->ids);
    p2n_buf_init(&k->versions);
    p2n_buf_append_byte(&k->types, '{');
    p2n_buf_append_byte(&k->ids, '{');
    p2n_buf_append_byte(&k->versions, '{');
    for (size_t i = 0; i < n; i++) {
        const char *t[1] = {keys[i].entity_type}, *d[1] = {keys[i].entity_id};
        if (i) {
            p2n_buf_append_byte(&k->types, ',');
            p2n_buf_append_byte(&k->ids, ',');
            p2n_buf_append_byte(&k->versions, ',');
        }
        /* reuse the literal writer for one element, without its braces */
        P2nBuf one;
        p2n_buf_init(&one);
        pgu_array_literal(&one, t, 1);
        if (!one.failed)
            p2n_buf_append(&k->types, one.data + 1, one.len - 2);
        p2n_buf_reset(&one);
        pgu_array_literal(&one, d, 1);
        if (!one.failed)
            p2n_buf_append(&k->ids, one.data + 1, one.len - 2);
        if (one.failed)
            k->ids.failed = true;
        p2n_buf_free(&one);
        p2n_buf_printf(&k->versions, "%" PRId64, keys[i].version);
    }
    p2n_buf_append(&k->types, "}", 2);
    p2n_buf_append(&k->ids, "}", 2);
    p2n_buf_append(&k->versions, "}", 2);
    if (k->types.failed || k->ids.failed || k->versions.failed)
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    return 0;
}

static void key_arrays_free(KeyArrays *k)
{
    p2n_buf_free(&k->types);
    p2n_buf_free(&k->ids);
    p2n_buf_free(&k->versions);
}

int pgq_mark_synced(PGconn *conn, const char *schema, const char *worker_id, const PgqKey *keys, size_t n,
                    size_t *n_synced, size_t *n_requeued, P2nErr *err)
{
    if (n_synced)
        *n_synced = 0;
    if (n_requeued)
        *n_requeued = 0;
    if (n == 0)
        return 0;
    KeyArrays k;
    int rc = key_arrays_build(&k, keys, n, err);
    if (rc < 0) {
        key_arrays_free(&k);
        return rc;
    }
    const char *p[4] = {(const char *)k.types.data, (const char *)k.ids.data, (const char *)k.versions.data,
                        worker_id};
    PGresult *r = NULL;
    rc = q(conn, schema,
           /* lock the rows in key order first (folds do the same): no deadlocks */
           "WITH k AS (SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]) AS k(t, i, v)),"
           " l AS (SELECT s.entity_type, s.entity_id, s.version = k.v AS same, s.op, s.version AS ver,"
           "              s.changed_arrays AS arrs"
           "         FROM @SCHEMA@.graph_sync_status s JOIN k ON s.entity_type = k.t AND s.entity_id = k.i"
           "        WHERE s.sync_status = 'in_progress' AND s.claimed_by = $4"
           "        ORDER BY s.entity_type, s.entity_id FOR UPDATE OF s),"
           /* the audit trail (sql/002): one row per applied change, in this same round trip */
           " aud AS (INSERT INTO @SCHEMA@.graph_sync_audit (entity_type, entity_id, version, action, fields, worker_id)"
           "   SELECT l.entity_type, l.entity_id, l.ver, l.op, l.arrs, $4 FROM l, @SCHEMA@.graph_sync_state st"
           "    WHERE l.same AND st.audit_retention_days > 0),"
           " del AS (DELETE FROM @SCHEMA@.graph_sync_status s USING l"
           "   WHERE s.entity_type = l.entity_type AND s.entity_id = l.entity_id AND l.same AND l.op = 'delete'"
           "   RETURNING 1),"
           " upd AS (UPDATE @SCHEMA@.graph_sync_status s SET"
           "   sync_status = CASE WHEN l.same THEN 'synced' WHEN s.op = 'delete' THEN 'deleted' ELSE 'pending' END,"
           "   synced_at = CASE WHEN l.same THEN now() ELSE s.synced_at END,"
           "   attempts = CASE WHEN l.same THEN 0 ELSE s.attempts END,"
           "   last_error = CASE WHEN l.same THEN NULL ELSE s.last_error END,"
           "   last_latency_seconds = CASE WHEN l.same THEN extract(epoch FROM now() - s.first_change_at)"
           "                               ELSE s.last_latency_seconds END,"
           "   first_change_at = CASE WHEN l.same THEN NULL ELSE s.first_change_at END,"
           "   next_attempt_at = CASE WHEN l.same THEN s.next_attempt_at ELSE now() END,"
           "   claimed_by = NULL, lease_until = NULL, updated_at = now()"
           "   FROM l WHERE s.entity_type = l.entity_type AND s.entity_id = l.entity_id"
           "     AND NOT (l.same AND l.op = 'delete')"
           "   RETURNING l.same AS same)"
           " SELECT (SELECT count(*) FROM del) + (SELECT count(*) FROM upd WHERE same),"
           "        (SELECT count(*) FROM upd WHERE NOT same)",
           4, p, &r, "could not mark entities synced", err);
    key_arrays_free(&k);
    if (rc < 0)
        return rc;
    if (n_synced)
        *n_synced = (size_t)strtoull(PQgetvalue(r, 0, 0), NULL, 10);
    if (n_requeued)
        *n_requeued = (size_t)strtoull(PQgetvalue(r, 0, 1), NULL, 10);
    PQclear(r);
    return 0;
}

int pgq_mark_failed(PGconn *conn, const char *schema, const char *worker_id, const PgqKey *key,
                    const char *message, const char *error_code, bool retryable, uint32_t max_attempts,
                    uint32_t retry_delay_ms, int *failed, P2nErr *err)
{
    if (failed)
        *failed = 0;
    char ver[24], maxa[16], delay[16];
    snprintf(ver, sizeof(ver), "%" PRId64, key->version);
    snprintf(maxa, sizeof(maxa), "%" PRIu32, max_attempts);
    snprintf(delay, sizeof(delay), "%" PRIu32, retry_delay_ms);
    const char *p[9] = {key->entity_type, key->entity_id, ver, message ? message : "unknown error",
                        retryable ? "true" : "false", maxa, delay, worker_id, error_code};
    PGresult *r = NULL;
    int rc = q(conn, schema,
               "WITH s AS (UPDATE @SCHEMA@.graph_sync_status s SET"
               "   attempts = s.attempts + 1,"
               "   sync_status = CASE WHEN ($5::boolean AND s.attempts + 1 < $6::int) OR s.version <> $3::bigint"
               "                      THEN CASE WHEN s.op = 'delete' THEN 'deleted' ELSE 'pending' END"
               "                      ELSE 'failed' END,"
               "   next_attempt_at = now() + $7::bigint * interval '1 millisecond',"
               "   last_error = $4, claimed_by = NULL, lease_until = NULL, updated_at = now()"
               "  WHERE s.entity_type = $1 AND s.entity_id = $2 AND s.sync_status = 'in_progress'"
               "    AND s.claimed_by = $8"
               "  RETURNING s.entity_type, s.entity_id, s.attempts, s.sync_status),"
               " f AS (INSERT INTO @SCHEMA@.graph_sync_failures"
               "   (entity_type, entity_id, attempt_number, failure_message, error_code, retryable, worker_id)"
               "   SELECT entity_type, entity_id, attempts, $4, $9, $5::boolean, $8 FROM s RETURNING 1)"
               " SELECT s.sync_status, (SELECT count(*) FROM f) FROM s",
               9, p, &r, "could not record the failure", err);
    if (rc < 0)
        return rc;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return p2n_err_set(err, P2N_ESTATE, "entity %s \"%s\" is not claimed by worker \"%s\"", key->entity_type,
                           key->entity_id, worker_id);
    }
    if (failed)
        *failed = strcmp(PQgetvalue(r, 0, 0), "failed") == 0;
    PQclear(r);
    return 0;
}

int pgq_release(PGconn *conn, const char *schema, const char *worker_id, const PgqKey *keys, size_t n,
                size_t *n_released, P2nErr *err)
{
    return pgq_release_after(conn, schema, worker_id, keys, n, 0, n_released, err);
}

int pgq_release_after(PGconn *conn, const char *schema, const char *worker_id, const PgqKey *keys, size_t n,
                      uint32_t delay_ms, size_t *n_released, P2nErr *err)
{
    if (n_released)
        *n_released = 0;
    PGresult *r = NULL;
    int rc;
    /* rows are locked in key order first, as folds and marks do: no deadlocks */
    const char *all = "WITH l AS (SELECT entity_type, entity_id FROM @SCHEMA@.graph_sync_status"
                      "  WHERE sync_status = 'in_progress' AND claimed_by = $1"
                      "  ORDER BY entity_type, entity_id FOR UPDATE)"
                      " UPDATE @SCHEMA@.graph_sync_status s SET"
                      " sync_status = CASE WHEN s.op = 'delete' THEN 'deleted' ELSE 'pending' END,"
                      " claimed_by = NULL, lease_until = NULL, updated_at = now(),"
                      " next_attempt_at = now() + $2::bigint * interval '1 millisecond'"
                      " FROM l WHERE s.entity_type = l.entity_type AND s.entity_id = l.entity_id";
    const char *some = "WITH l AS (SELECT entity_type, entity_id FROM @SCHEMA@.graph_sync_status"
                       "  WHERE sync_status = 'in_progress' AND claimed_by = $1"
                       "    AND (entity_type, entity_id) IN (SELECT * FROM unnest($2::text[], $3::text[]))"
                       "  ORDER BY entity_type, entity_id FOR UPDATE)"
                       " UPDATE @SCHEMA@.graph_sync_status s SET"
                       " sync_status = CASE WHEN s.op = 'delete' THEN 'deleted' ELSE 'pending' END,"
                       " claimed_by = NULL, lease_until = NULL, updated_at = now(),"
                       " next_attempt_at = now() + $4::bigint * interval '1 millisecond'"
                       " FROM l WHERE s.entity_type = l.entity_type AND s.entity_id = l.entity_id";
    char delay[16];
    snprintf(delay, sizeof(delay), "%" PRIu32, delay_ms);
    if (!keys) {
        const char *p[2] = {worker_id, delay};
        rc = q(conn, schema, all, 2, p, &r, "could not release claims", err);
    } else {
        if (n == 0)
            return 0;
        KeyArrays k;
        rc = key_arrays_build(&k, keys, n, err);
        if (rc < 0) {
            key_arrays_free(&k);
            return rc;
        }
        const char *p[4] = {worker_id, (const char *)k.types.data, (const char *)k.ids.data, delay};
        rc = q(conn, schema, some, 4, p, &r, "could not release claims", err);
        key_arrays_free(&k);
    }
    if (rc < 0)
        return rc;
    if (n_released)
        *n_released = (size_t)strtoull(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return 0;
}

int pgq_batch_record(PGconn *conn, const char *schema, const PgqBatch *b, int64_t *batch_id, P2nErr *err)
{
    char tot[16], syn[16], fai[16], ret[16], rel[16], dur[40], st[24];
    snprintf(tot, sizeof(tot), "%" PRId32, b->total);
    snprintf(syn, sizeof(syn), "%" PRId32, b->synced);
    snprintf(fai, sizeof(fai), "%" PRId32, b->failed);
    snprintf(ret, sizeof(ret), "%" PRId32, b->retried);
    snprintf(rel, sizeof(rel), "%" PRId32, b->released);
    snprintf(dur, sizeof(dur), "%.6f", b->duration_seconds);
    snprintf(st, sizeof(st), "%" PRId64, b->started_ms);
    const char *p[10] = {b->batch_type ? b->batch_type : "incremental", b->batch_status ? b->batch_status : "completed",
                         tot, syn, fai, ret, rel, dur, b->worker_id, b->started_ms > 0 ? st : NULL};
    PGresult *r = NULL;
    int rc = q(conn, schema,
               "INSERT INTO @SCHEMA@.graph_sync_batches (batch_type, batch_status, total_entities, synced_count,"
               " failed_count, retried_count, released_count, duration_seconds, worker_id, started_at)"
               " VALUES ($1, $2, $3::int, $4::int, $5::int, $6::int, $7::int, $8::float8, $9,"
               "         to_timestamp($10::bigint / 1000.0)) RETURNING id",
               10, p, &r, "could not record the batch", err);
    if (rc < 0)
        return rc;
    if (batch_id)
        *batch_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return 0;
}

int pgq_poll(PGconn *conn, const char *schema, PgqPoll *st, int *has, P2nErr *err)
{
    *has = 0;
    PGresult *r = NULL;
    int rc = q(conn, schema,
               "SELECT CASE WHEN s.is_called THEN s.last_value ELSE 0 END, st.folded_version"
               "  FROM @SCHEMA@.graph_sync_version_seq s, @SCHEMA@.graph_sync_state st",
               0, NULL, &r, "could not poll for changes", err);
    if (rc < 0)
        return rc;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return p2n_err_set(err, P2N_ESTATE, "graph_sync_state is empty: run pg2neo init");
    }
    int64_t cur = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    int64_t folded = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    PQclear(r);
    int64_t now = p2n_now_mono_ms();
    uint32_t timeout = st->gap_timeout_ms ? st->gap_timeout_ms : 2000;
    if (!st->primed || cur != st->last_seen) {
        /* new versions handed out (or first poll: anything unfolded?) */
        *has = st->primed ? 1 : cur > folded;
        st->primed = true;
        st->last_seen = cur;
        st->gap_since_ms = cur > folded ? now : 0;
    } else if (cur > folded) {
        /* a version no fold has reached: its transaction may still be committing */
        if (st->gap_since_ms == 0)
            st->gap_since_ms = now;
        *has = now - st->gap_since_ms < (int64_t)timeout;
    } else {
        st->gap_since_ms = 0;
    }
    st->folded = folded;
    return 0;
}
