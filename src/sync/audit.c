/*
 * The audit trail (retention, pruning, resolve requests, `pg2neo history`), the conflict review
 * API (list, scan, acknowledge) of pg2neo.h, and the daemon's maintenance thread. See audit.h.
 */
#include "sync/audit.h"

#include <inttypes.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/time.h"
#include "pg/pgutil.h"
#include "pg/schema.h"
#include "pg2neo.h"
#include "sync/conflicts.h"
#include "sync/engine.h"
#include "sync/fullsync.h"

#define MAINT_PRUNE_EVERY_MS 60000

static int sq(PGconn *conn, const char *schema, const char *tmpl, int np, const char *const *p, PGresult **out,
              const char *what, P2nErr *err)
{
    char *sql = pgu_schema_subst(tmpl, schema, err);
    if (sql == NULL)
        return err->code ? err->code : P2N_ENOMEM;
    int rc = pgu_query(conn, sql, np, p, out, what, err);
    free(sql);
    return rc;
}

int audit_settings_store(PGconn *conn, const char *schema, int64_t days, P2nErr *err)
{
    char d[24];
    snprintf(d, sizeof(d), "%" PRId64, days);
    const char *p[1] = {d};
    return sq(conn, schema,
              "UPDATE @SCHEMA@.graph_sync_state SET audit_retention_days = $1::int"
              " WHERE audit_retention_days IS DISTINCT FROM $1::int",
              1, p, NULL, "could not store the audit retention", err);
}

int audit_prune(PGconn *conn, const char *schema, int64_t days, int batch, int max_batches, int64_t *deleted,
                P2nErr *err)
{
    if (deleted)
        *deleted = 0;
    char d[24], b[24];
    snprintf(d, sizeof(d), "%" PRId64, days);
    snprintf(b, sizeof(b), "%d", batch > 0 ? batch : AUDIT_PRUNE_BATCH);
    const char *p[2] = {d, b};
    for (int i = 0; i < max_batches; i++) {
        PGresult *r = NULL;
        int rc = sq(conn, schema,
                    /* the oldest ids first (the primary key, no index on created_at): a batch
                       reads at most $2 rows; a row committed late with an older time than a
                       newer id waits for that one */
                    "DELETE FROM @SCHEMA@.graph_sync_audit WHERE id IN ("
                    " SELECT id FROM (SELECT id, created_at FROM @SCHEMA@.graph_sync_audit"
                    "                  ORDER BY id LIMIT $2::int) o"
                    "  WHERE o.created_at < now() - $1::int * interval '1 day')",
                    2, p, &r, "could not prune the audit trail", err);
        if (rc < 0)
            return rc;
        int64_t n = strtoll(PQcmdTuples(r), NULL, 10);
        PQclear(r);
        if (deleted)
            *deleted += n;
        if (n < strtoll(b, NULL, 10))
            break;
    }
    return 0;
}

int audit_queue_resolve(PGconn *conn, const char *schema, const char *type, const char *id, const char *os_user,
                        int64_t *version, P2nErr *err)
{
    const char *p[3] = {type, id, os_user && *os_user ? os_user : NULL};
    PGresult *r = NULL;
    int rc = sq(conn, schema,
                "WITH v AS (SELECT nextval('@SCHEMA@.graph_sync_version_seq'::regclass) AS v),"
                " lg AS (INSERT INTO @SCHEMA@.graph_sync_log (version, op, entity_type, entity_ids)"
                "   SELECT v.v, 'u', $1, ARRAY[$2::text] FROM v),"
                " au AS (INSERT INTO @SCHEMA@.graph_sync_audit (entity_type, entity_id, version, action, details,"
                "        os_user)"
                "   SELECT $1, $2, v.v, 'resolve', (SELECT s.conflict_details FROM @SCHEMA@.graph_sync_status s"
                "           WHERE s.entity_type = $1 AND s.entity_id = $2), $3"
                "     FROM v, @SCHEMA@.graph_sync_state st WHERE st.audit_retention_days > 0)"
                " SELECT v FROM v",
                3, p, &r, "could not queue the entity", err);
    if (rc < 0)
        return rc;
    if (version)
        *version = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return 0;
}

void audit_os_user(char *buf, size_t size)
{
    if (size == 0)
        return;
    buf[0] = '\0';
    struct passwd pw, *res = NULL;
    char tmp[1024];
    if (getpwuid_r(geteuid(), &pw, tmp, sizeof(tmp), &res) == 0 && res != NULL && res->pw_name)
        snprintf(buf, size, "%s", res->pw_name);
    else if (getenv("USER"))
        snprintf(buf, size, "%s", getenv("USER"));
}

/* ---- the maintenance thread ---- */

struct SyncMaint {
    char *path, *conninfo, *schema;
    MappingSync cfg;
    pthread_t thread;
    volatile int stop;
};

static void maint_nap(SyncMaint *m, int64_t ms)
{
    int64_t end = p2n_now_mono_ms() + ms;
    while (!m->stop) {
        int64_t left = end - p2n_now_mono_ms();
        if (left <= 0)
            return;
        p2n_sleep_ms(left > 50 ? 50 : left, &m->stop);
    }
}

static int env_open(const char *path, const char *schema, FsEnv *env, P2nErr *err)
{
    int rc = fullsync_env_open(path, env, NULL, err);
    if (rc == 0)
        snprintf(env->schema, sizeof(env->schema), "%s", schema);
    return rc;
}

static void *maint_main(void *arg)
{
    SyncMaint *m = arg;
    PGconn *pg = NULL;
    FsEnv env;
    bool env_up = false;
    bool stored = false;
    int64_t next_prune = p2n_now_mono_ms();
    int64_t scan_every = m->cfg.conflict_scan_interval_ms;
    int64_t next_scan = p2n_now_mono_ms() + scan_every;
    while (!m->stop) {
        int64_t now = p2n_now_mono_ms();
        P2nErr err;
        p2n_err_clear(&err);
        if (now >= next_prune) {
            next_prune = now + MAINT_PRUNE_EVERY_MS;
            if (pg == NULL || PQstatus(pg) != CONNECTION_OK) {
                PQfinish(pg);
                pg = NULL;
                if (pgu_connect(m->conninfo, NULL, &pg, &err) == 0)
                    PQclear(PQexec(pg, "SET application_name = 'pg2neo maintenance'"));
            }
            int rc = PQstatus(pg) == CONNECTION_OK ? 0 : P2N_ECONNLOST;
            int ver = 0;
            if (rc == 0 && !stored && pg_schema_version(pg, m->schema, &ver, &err) == 0 && ver < pg_schema_latest()) {
                /* batches fail on a schema this binary does not know: say why, once a minute */
                P2N_ERROR("the sync schema is older than this pg2neo: run pg2neo init",
                          "schema=%s version=%d expected=%d", m->schema, ver, pg_schema_latest());
                rc = P2N_ESTATE;
                p2n_err_set(&err, P2N_ESTATE, "sync schema \"%s\" is at version %d", m->schema, ver);
            }
            if (rc == 0 && !stored && (rc = audit_settings_store(pg, m->schema, m->cfg.audit_retention_days, &err)) == 0)
                stored = true;
            int64_t n = 0;
            if (rc == 0)
                rc = audit_prune(pg, m->schema, m->cfg.audit_retention_days, AUDIT_PRUNE_BATCH, AUDIT_PRUNE_ROUNDS,
                                 &n, &err);
            if (rc == P2N_ESTATE) {
                /* logged above; checked again in a minute */
            } else if (rc < 0) {
                P2N_WARN("audit maintenance failed, will retry", "error=\"%s\"",
                         err.msg[0] ? err.msg : "PostgreSQL is not connected");
                next_prune = now + 5000;
            } else if (n > 0) {
                P2N_INFO("audit trail pruned", "rows=%" PRId64 " retention_days=%" PRId64, n,
                         m->cfg.audit_retention_days);
                if (n >= (int64_t)AUDIT_PRUNE_BATCH * AUDIT_PRUNE_ROUNDS)
                    next_prune = now + 1000; /* more left: keep going soon, in small steps */
            }
        }
        if (scan_every > 0 && now >= next_scan) {
            next_scan = now + scan_every;
            int rc = 0;
            if (!env_up) {
                rc = env_open(m->path, m->schema, &env, &err);
                env_up = rc == 0;
            }
            ConflictScanStats st;
            memset(&st, 0, sizeof(st));
            int64_t t0 = p2n_now_mono_ms();
            if (rc == 0)
                rc = conflicts_scan(&env, (long)m->cfg.conflict_scan_sample, &st, &err);
            if (rc < 0) {
                P2N_WARN("conflict scan failed, will retry", "error=\"%s\"", err.msg);
                if (env_up)
                    fullsync_env_close(&env);
                env_up = false;
            } else {
                p2n_log(st.newly || st.cleared ? P2N_LOG_INFO : P2N_LOG_DEBUG, "conflict scan",
                        "checked=%" PRId64 " differing=%" PRId64 " flagged=%" PRId64 " new=%" PRId64
                        " cleared=%" PRId64 " in_flight=%" PRId64 " ms=%" PRId64,
                        st.checked, st.differing, st.flagged, st.newly, st.cleared, st.skipped,
                        p2n_now_mono_ms() - t0);
            }
        }
        maint_nap(m, 200);
    }
    if (env_up)
        fullsync_env_close(&env);
    PQfinish(pg);
    return NULL;
}

int sync_maint_start(const char *mapping_path, const char *conninfo, const char *schema, const MappingSync *cfg,
                     SyncMaint **out, P2nErr *err)
{
    *out = NULL;
    SyncMaint *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    m->path = strdup(mapping_path);
    m->conninfo = strdup(conninfo ? conninfo : "");
    m->schema = strdup(schema);
    m->cfg = *cfg;
    if (m->path == NULL || m->conninfo == NULL || m->schema == NULL) {
        sync_maint_stop(m);
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    }
    /* FsEnv reads the sync schema from the environment: set it here, before the thread runs */
    const char *cur = getenv("P2N_SYNC_SCHEMA");
    if (cur == NULL || strcmp(cur, schema) != 0)
        setenv("P2N_SYNC_SCHEMA", schema, 1);
    int e = pthread_create(&m->thread, NULL, maint_main, m);
    if (e != 0) {
        free(m->path);
        free(m->conninfo);
        free(m->schema);
        free(m);
        return p2n_err_set(err, P2N_EIO, "could not start the maintenance thread: %s", strerror(e));
    }
    *out = m;
    return 0;
}

void sync_maint_stop(SyncMaint *m)
{
    if (m == NULL)
        return;
    m->stop = 1;
    if (m->thread)
        pthread_join(m->thread, NULL);
    free(m->path);
    free(m->conninfo);
    free(m->schema);
    free(m);
}

/* ---- the public API (pg2neo.h) ---- */

static int svc_fail(P2nService *s, const P2nErr *err)
{
    sync_engine_set_error(s, err);
    return err->code ? err->code : P2N_EIO;
}

/* a connection of its own: the service's may be in use by its scheduler thread */
static int svc_pg(P2nService *s, PGconn **out, P2nErr *err)
{
    return pgu_connect(sync_engine_mapping(s)->conninfo, sync_engine_mapping(s)->conninfo_from, out, err);
}

static int svc_env(P2nService *s, FsEnv *env, P2nErr *err)
{
    const char *cur = getenv("P2N_SYNC_SCHEMA");
    if (cur == NULL || strcmp(cur, sync_engine_schema(s)) != 0)
        setenv("P2N_SYNC_SCHEMA", sync_engine_schema(s), 1);
    return env_open(sync_engine_mapping_path(s), sync_engine_schema(s), env, err);
}

static char *dup_or_null(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : strdup(PQgetvalue(r, row, col));
}

static double num_or_zero(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtod(PQgetvalue(r, row, col), NULL);
}

int p2n_conflict_list(P2nService *s, const char *type, long limit, P2nConflictEntry **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    P2nErr err;
    p2n_err_clear(&err);
    if (type && mapping_entity_find(sync_engine_mapping(s), type) == NULL) {
        p2n_err_set(&err, P2N_ENOTFOUND, "entity type \"%s\" is not in the mapping", type);
        return svc_fail(s, &err);
    }
    PGconn *pg = NULL;
    if (svc_pg(s, &pg, &err) < 0)
        return svc_fail(s, &err);
    char lim[24];
    snprintf(lim, sizeof(lim), "%ld", limit > 0 ? limit : 1000);
    const char *p[2] = {type, lim};
    PGresult *r = NULL;
    int rc = sq(pg, sync_engine_schema(s),
                "SELECT entity_type, entity_id, conflict_details::text,"
                " extract(epoch FROM coalesce(conflict_detected_at, updated_at))::float8,"
                " NOT has_conflicts AND conflict_acked_at IS NOT NULL,"
                " extract(epoch FROM conflict_acked_at)::float8, conflict_acked_by, conflict_ack_note"
                " FROM @SCHEMA@.graph_sync_status"
                " WHERE (has_conflicts OR conflict_acked_at IS NOT NULL) AND ($1::text IS NULL OR entity_type = $1)"
                " ORDER BY entity_type, entity_id LIMIT $2::bigint",
                2, p, &r, "could not list conflicts", &err);
    PQfinish(pg);
    if (rc < 0)
        return svc_fail(s, &err);
    int nt = PQntuples(r);
    P2nConflictEntry *v = calloc((size_t)nt + 1, sizeof(*v));
    if (v == NULL) {
        PQclear(r);
        p2n_err_set(&err, P2N_ENOMEM, "out of memory");
        return svc_fail(s, &err);
    }
    for (int i = 0; i < nt; i++) {
        v[i].entity_type = dup_or_null(r, i, 0);
        v[i].entity_id = dup_or_null(r, i, 1);
        v[i].details = dup_or_null(r, i, 2);
        v[i].detected_at = num_or_zero(r, i, 3);
        v[i].acknowledged = PQgetvalue(r, i, 4)[0] == 't';
        v[i].acked_at = num_or_zero(r, i, 5);
        v[i].acked_by = dup_or_null(r, i, 6);
        v[i].ack_note = dup_or_null(r, i, 7);
    }
    PQclear(r);
    *out = v;
    *n = (size_t)nt;
    return 0;
}

void p2n_conflict_list_free(P2nConflictEntry *e, size_t n)
{
    if (e == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free(e[i].entity_type);
        free(e[i].entity_id);
        free(e[i].details);
        free(e[i].acked_by);
        free(e[i].ack_note);
    }
    free(e);
}

int p2n_conflict_scan(P2nService *s, long sample, P2nConflictScanStats *st)
{
    memset(st, 0, sizeof(*st));
    P2nErr err;
    p2n_err_clear(&err);
    FsEnv env;
    int rc = svc_env(s, &env, &err);
    if (rc < 0)
        return svc_fail(s, &err);
    ConflictScanStats cs;
    memset(&cs, 0, sizeof(cs));
    rc = conflicts_scan(&env, sample > 0 ? sample : (long)sync_engine_mapping(s)->sync.conflict_scan_sample, &cs,
                        &err);
    fullsync_env_close(&env);
    st->checked = cs.checked;
    st->differing = cs.differing;
    st->flagged = cs.flagged;
    st->cleared = cs.cleared;
    st->in_flight = cs.skipped;
    return rc < 0 ? svc_fail(s, &err) : 0;
}

int p2n_conflict_ack(P2nService *s, const char *type, const char *id, const char *note, P2nConflictReport *r)
{
    memset(r, 0, sizeof(*r));
    P2nErr err;
    p2n_err_clear(&err);
    if (mapping_entity_find(sync_engine_mapping(s), type) == NULL) {
        p2n_err_set(&err, P2N_ENOTFOUND, "entity type \"%s\" is not in the mapping", type);
        return svc_fail(s, &err);
    }
    FsEnv env;
    int rc = svc_env(s, &env, &err);
    if (rc < 0)
        return svc_fail(s, &err);
    char os[256];
    audit_os_user(os, sizeof(os));
    ConflictReport cr;
    rc = conflicts_ack(&env, type, id, note, os, &cr, &err);
    r->in_postgres = cr.in_postgres;
    r->in_neo4j = cr.in_neo4j;
    r->nfields = cr.nfields;
    P2nBuf b;
    p2n_buf_init(&b);
    conflicts_report_json(&cr, type, id, &b);
    r->json = p2n_buf_steal(&b);
    conflicts_report_free(&cr);
    fullsync_env_close(&env);
    if (rc == 0 && r->json == NULL)
        rc = p2n_err_set(&err, P2N_ENOMEM, "out of memory");
    return rc < 0 ? svc_fail(s, &err) : 0;
}

/* Does entity (type, id) exist anywhere PostgreSQL knows of (its table or the queue)? */
static int entity_known(PGconn *pg, const char *schema, const Mapping *m, const MappingEntity *e, const char *id,
                        bool *known, P2nErr *err)
{
    *known = false;
    const char *p[2] = {e->name, id};
    PGresult *r = NULL;
    int rc = sq(pg, schema, "SELECT 1 FROM @SCHEMA@.graph_sync_status WHERE entity_type = $1 AND entity_id = $2", 2,
                p, &r, "could not read the sync queue", err);
    if (rc < 0)
        return rc;
    *known = PQntuples(r) > 0;
    PQclear(r);
    if (*known)
        return 0;
    P2nBuf q;
    p2n_buf_init(&q);
    p2n_buf_append_str(&q, "SELECT 1 FROM ");
    mapping_sql_table(m, e, &q);
    p2n_buf_append_str(&q, " AS t WHERE (");
    mapping_sql_id_expr(e, "t", &q);
    p2n_buf_append_str(&q, ")::text = $1 LIMIT 1");
    if (q.failed) {
        p2n_buf_free(&q);
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    }
    const char *p1[1] = {id};
    rc = pgu_query(pg, (const char *)q.data, 1, p1, &r, "could not look the entity up", err);
    p2n_buf_free(&q);
    if (rc < 0)
        return rc;
    *known = PQntuples(r) > 0;
    PQclear(r);
    return 0;
}

int p2n_history(P2nService *s, const char *type, const char *id, long limit, P2nHistoryEntry **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    P2nErr err;
    p2n_err_clear(&err);
    const Mapping *m = sync_engine_mapping(s);
    const MappingEntity *e = mapping_entity_find(m, type);
    if (e == NULL) {
        p2n_err_set(&err, P2N_ENOTFOUND, "entity type \"%s\" is not in the mapping", type);
        return svc_fail(s, &err);
    }
    PGconn *pg = NULL;
    if (svc_pg(s, &pg, &err) < 0)
        return svc_fail(s, &err);
    char lim[24];
    snprintf(lim, sizeof(lim), "%ld", limit > 0 ? limit : 100);
    const char *p[3] = {type, id, lim};
    PGresult *r = NULL;
    int rc = sq(pg, sync_engine_schema(s),
                "SELECT id, action, version, fields::text, details::text, actor, os_user, note, worker_id,"
                " extract(epoch FROM created_at)::float8"
                " FROM @SCHEMA@.graph_sync_audit WHERE entity_type = $1 AND entity_id = $2"
                " ORDER BY id DESC LIMIT $3::bigint",
                3, p, &r, "could not read the audit trail", &err);
    if (rc == 0 && PQntuples(r) == 0) {
        bool known = false;
        rc = entity_known(pg, sync_engine_schema(s), m, e, id, &known, &err);
        if (rc == 0 && !known)
            rc = p2n_err_set(&err, P2N_ENOTFOUND, "no %s with id \"%s\" is known to PostgreSQL", type, id);
    }
    PQfinish(pg);
    if (rc < 0) {
        PQclear(r);
        return svc_fail(s, &err);
    }
    int nt = PQntuples(r);
    P2nHistoryEntry *v = calloc((size_t)nt + 1, sizeof(*v));
    if (v == NULL) {
        PQclear(r);
        p2n_err_set(&err, P2N_ENOMEM, "out of memory");
        return svc_fail(s, &err);
    }
    for (int i = 0; i < nt; i++) {
        v[i].id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
        v[i].action = dup_or_null(r, i, 1);
        v[i].version = PQgetisnull(r, i, 2) ? -1 : strtoll(PQgetvalue(r, i, 2), NULL, 10);
        v[i].fields = dup_or_null(r, i, 3);
        v[i].details = dup_or_null(r, i, 4);
        v[i].actor = dup_or_null(r, i, 5);
        v[i].os_user = dup_or_null(r, i, 6);
        v[i].note = dup_or_null(r, i, 7);
        v[i].worker_id = dup_or_null(r, i, 8);
        v[i].at = num_or_zero(r, i, 9);
    }
    PQclear(r);
    *out = v;
    *n = (size_t)nt;
    return 0;
}

void p2n_history_free(P2nHistoryEntry *h, size_t n)
{
    if (h == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free(h[i].action);
        free(h[i].fields);
        free(h[i].details);
        free(h[i].actor);
        free(h[i].os_user);
        free(h[i].note);
        free(h[i].worker_id);
    }
    free(h);
}

int p2n_audit_prune(P2nService *s, long long *deleted)
{
    if (deleted)
        *deleted = 0;
    P2nErr err;
    p2n_err_clear(&err);
    PGconn *pg = NULL;
    if (svc_pg(s, &pg, &err) < 0)
        return svc_fail(s, &err);
    int64_t days = sync_engine_mapping(s)->sync.audit_retention_days, n = 0;
    int rc = audit_settings_store(pg, sync_engine_schema(s), days, &err);
    if (rc == 0)
        rc = audit_prune(pg, sync_engine_schema(s), days, AUDIT_PRUNE_BATCH, INT32_MAX, &n, &err);
    PQfinish(pg);
    if (deleted)
        *deleted = n;
    return rc < 0 ? svc_fail(s, &err) : 0;
}
