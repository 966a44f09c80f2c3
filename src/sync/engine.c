/*
 * The sync engine: P2nService (pg2neo.h), the runner's SyncOps over PostgreSQL and Neo4j, the
 * daemon's hooks and the HTTP provider. See engine.h for the shape of one batch.
 */
#include "sync/engine.h"
#include "common/sdnotify.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bolt/bolt.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/time.h"
#include "http/pgstatus.h"
#include "http/server.h"
#include "http/status.h"
#include "packstream/packstream.h"
#include "pg/capture.h"
#include "pg/pgutil.h"
#include "pg/logical.h"
#include "pg/queue.h"
#include "pg/schema.h"
#include "sync/alerts.h"
#include "sync/audit.h"
#include "sync/conflicts.h"
#include "sync/fullsync.h"
#include "sync/verify.h"
#include "sync/versions.h"
#include "sync/daemon.h"

#define ENGINE_LEASE_MARGIN_MS 5000u
#define ENGINE_RECENT 10u

struct P2nService {
    Mapping *map;
    char *path; /* the mapping file, for the tools that open connections of their own */
    char *schema;
    char worker_id[200];
    SyncPolicy policy;
    uint32_t lease_ms;
    size_t batch_limit;
    uint32_t timeout_ms;
    const char *dump_tx; /* $P2N_DUMP_TX (txplan_dump), NULL when unset */

    pthread_mutex_t lock; /* the connections and everything below until snap_lock */
    PGconn *pg;
    BoltDriver *drv;
    BoltConn *neo;
    PgqPoll poll;
    PgLogicalPoll lpoll;   /* the wake-up in logical capture mode */
    bool async_commit;     /* the daemon: its own bookkeeping commits without waiting for the WAL
                              flush (pg_ensure explains why that loses nothing) */
    char last_error[1024];

    /* observability */
    P2nMetrics *reg;
    P2nStdMetrics m;
    SyncAlerts *alerts;
    HttpServer *http;
    pthread_mutex_t snap_lock; /* the snapshot and the flags the HTTP threads read */
    HttpPgSnapshot snap;
    bool have_snap;
    bool pg_up, neo_up;
    double last_latency_s, last_batch_s;
    int64_t last_batch_wall_ms; /* when the last batch ended (alerts: how recent lat/batch are) */
    bool sweep_dirty;           /* batches ran since the last orphan sweep (orphan_sweep) */
    int64_t sweep_last_ms, work_last_ms; /* monotonic: last sweep, last batch with entities */
    int64_t t_read_us, t_neo_us;         /* the current batch's writes: PostgreSQL reads, Neo4j */
    /* prefetch (the daemon): the next batch, claimed and prepared during this one's write */
    bool prefetch;
    SyncItem *next_items;
    size_t next_n;
    int64_t next_claimed_ms;     /* monotonic: when the prefetch claimed next_items */
    struct Prepared *next_plan;  /* NULL when its rows could not be read */
    struct Prepared *ready;      /* the handed-out batch's transaction, for op_write */
    const SyncItem *ready_items;
    size_t ready_n;
    uint64_t prefetched;         /* batches handed out by the prefetch */
    /* synced marks of the last batch not yet written (the daemon: see mark_deferred) */
    struct DeferredMark *deferred;
    size_t ndeferred;
    /* per entity (index in map->entities): its table cannot be read by the sync user (42501):
       claims of that type are given back until until_ms (monotonic), retried then */
    struct TypeBlock {
        int64_t until_ms;
        uint32_t delay_ms; /* the last block's length, doubled on each new denial */
    } *blocked;

    /* scheduler thread */
    pthread_t thread;
    bool thread_running;
    bool claimed; /* a claim was made: release on shutdown */
    volatile sig_atomic_t stop;
    int thread_rc;
};

/* ---- small helpers ---- */

static void set_last_error(P2nService *s, const P2nErr *err)
{
    snprintf(s->last_error, sizeof(s->last_error), "%s", err->msg);
    p2n_log_redact(s->last_error);
}

static const char *err_code_text(const SyncItem *it)
{
    if (it->err_neo_code[0])
        return it->err_neo_code;
    if (it->err_sqlstate[0])
        return it->err_sqlstate;
    return it->err_code ? p2n_strerror(it->err_code) : NULL;
}

static void pg_disconnect(P2nService *s)
{
    if (s->pg) {
        PQfinish(s->pg);
        s->pg = NULL;
    }
    memset(&s->poll, 0, sizeof(s->poll));
}

static void neo_disconnect(P2nService *s)
{
    if (s->neo) {
        bolt_conn_close(s->neo);
        s->neo = NULL;
    }
}

static int pg_ensure(P2nService *s, P2nErr *err)
{
    if (s->pg && PQstatus(s->pg) == CONNECTION_OK)
        return 0;
    pg_disconnect(s);
    PGconn *c = NULL; /* notices become log lines; a wrong password is P2N_EAUTH, a bad string P2N_ECONFIG */
    int rc = pgu_connect(s->map->conninfo, s->map->conninfo_from, &c, err);
    if (rc < 0)
        return rc;
    PQclear(PQexec(c, "SET application_name = 'pg2neo'; " MAPPING_SESSION_SQL));
    /* The daemon's own writes (fold, claim, mark synced, batch and failure rows) need not wait
       for a WAL flush: a crash of PostgreSQL can undo only the last of them, and each is redone
       (a lost fold is folded again from the log it had not yet deleted, a lost claim or mark sends
       the entity back to pending and it syncs again, idempotently and monotonically). The
       application's changes keep their own durability, and the logical capture's pull forces a
       flush before it confirms the slot. Halves the fixed cost of a small batch (fewer fsyncs). */
    if (s->async_commit)
        PQclear(PQexec(c, "SET synchronous_commit = off"));
    s->pg = c;
    return 0;
}

static int neo_ensure(P2nService *s, P2nErr *err)
{
    if (s->neo && bolt_conn_usable(s->neo) && !bolt_conn_in_tx(s->neo))
        return 0;
    neo_disconnect(s);
    int rc = bolt_driver_connect(s->drv, BOLT_ACCESS_WRITE, &s->neo, err);
    if (rc < 0) {
        s->neo = NULL;
        if (rc != P2N_EAUTH && rc != P2N_ETLS && rc != P2N_ECONFIG && rc != P2N_EPROTO)
            err->code = P2N_ECONNLOST; /* unavailable: release, back off, reconnect */
        p2n_err_prefix(err, "could not connect to Neo4j at \"%s\"", s->map->neo4j_uri);
        return err->code;
    }
    return 0;
}

/* ---- claim ---- */

/* Logical capture: bring the slot's committed changes into the change log before a fold. */
static int logical_pull(P2nService *s, P2nErr *err)
{
    if (s->map->capture_mode != PG_CAPTURE_MODE_LOGICAL)
        return 0;
    return pg_logical_pull(s->pg, s->schema, 10000, NULL, err);
}

static void ready_free(P2nService *s);
static void prefetch_release(P2nService *s);
static void release_all(P2nService *s);

/*
 * Deferred marks (the daemon, with prefetch): a batch whose every entity synced does not mark
 * them at once; the marks are written while Neo4j runs the next batch (op_write's overlap), or
 * before the next claim when there is none. Entities stay in_progress a little longer; should
 * the process die first, their leases expire and they are synced again (writes are monotonic,
 * so a second write of the same version changes nothing).
 */
typedef struct DeferredMark {
    char *entity_type, *entity_id;
    int64_t version;
} DeferredMark;

static void deferred_free(P2nService *s)
{
    for (size_t i = 0; i < s->ndeferred; i++) {
        free(s->deferred[i].entity_type);
        free(s->deferred[i].entity_id);
    }
    free(s->deferred);
    s->deferred = NULL;
    s->ndeferred = 0;
}

/* Keeps copies of keys[0..n) for deferred_flush; false when out of memory (nothing kept). */
static bool deferred_keep(P2nService *s, const PgqKey *keys, size_t n)
{
    DeferredMark *d = calloc(n, sizeof(*d));
    if (d == NULL)
        return false;
    s->deferred = d;
    for (size_t i = 0; i < n; i++) {
        s->ndeferred = i + 1;
        d[i].entity_type = strdup(keys[i].entity_type);
        d[i].entity_id = strdup(keys[i].entity_id);
        d[i].version = keys[i].version;
        if (d[i].entity_type == NULL || d[i].entity_id == NULL) {
            deferred_free(s);
            return false;
        }
    }
    return true;
}

static int deferred_flush(P2nService *s, P2nErr *err)
{
    if (s->ndeferred == 0)
        return 0;
    if (s->pg == NULL)
        return p2n_err_set(err, P2N_ECONNLOST, "PostgreSQL is not connected");
    PgqKey *k = calloc(s->ndeferred, sizeof(*k));
    if (k == NULL)
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    for (size_t i = 0; i < s->ndeferred; i++)
        k[i] = (PgqKey){s->deferred[i].entity_type, s->deferred[i].entity_id, s->deferred[i].version};
    int rc = pgq_mark_synced(s->pg, s->schema, s->worker_id, k, s->ndeferred, NULL, NULL, err);
    free(k);
    if (rc == 0)
        deferred_free(s);
    return rc;
}

/* Claims up to limit entities from the queue (the logical slot pulled first). */
static int claim_new(P2nService *s, size_t limit, SyncItem **items, size_t *n, P2nErr *err)
{
    *items = NULL;
    *n = 0;
    int rc = pg_ensure(s, err);
    if (rc < 0)
        return rc;
    PgqClaim *c = NULL;
    size_t nc = 0;
    s->claimed = true;
    if ((rc = logical_pull(s, err)) < 0)
        return rc;
    rc = pgq_claim(s->pg, s->schema, limit, s->lease_ms, s->worker_id, true, &c, &nc, err);
    if (rc < 0)
        return rc;
    if (nc == 0) {
        pgq_claims_free(c, nc);
        return 0;
    }
    SyncItem *it = calloc(nc, sizeof(*it));
    if (it == NULL) {
        pgq_claims_free(c, nc);
        return p2n_err_set(err, P2N_ENOMEM, "out of memory for %zu claims", nc);
    }
    for (size_t i = 0; i < nc; i++) {
        it[i].entity_type = c[i].entity_type;
        it[i].entity_id = c[i].entity_id;
        c[i].entity_type = c[i].entity_id = NULL;
        it[i].version = c[i].version;
        it[i].op = c[i].op == PGQ_OP_DELETE ? SYNC_OP_DELETE : c[i].op == PGQ_OP_RESYNC ? SYNC_OP_RESYNC : SYNC_OP_UPSERT;
        it[i].attempts = c[i].attempts;
        it[i].changed_at_ms = c[i].first_change_ms;
    }
    pgq_claims_free(c, nc);
    *items = it;
    *n = nc;
    return 0;
}

/* The runner's claim: the batch the prefetch holds, else a new claim. */
static int op_claim(void *ctx, size_t limit, SyncItem **items, size_t *n, P2nErr *err)
{
    P2nService *s = ctx;
    ready_free(s); /* a prepared transaction not taken by its batch (bisected, or ended early) */
    if (s->next_items == NULL && s->ndeferred > 0 && s->pg != NULL) {
        /* no batch in hand to hide them behind: the last batch's marks now */
        int rc = deferred_flush(s, err);
        if (rc < 0)
            return rc;
    }
    if (s->next_items != NULL && p2n_now_mono_ms() - s->next_claimed_ms > (int64_t)s->timeout_ms) {
        /* Held too long (the last write failed, a database was away): its rows are stale and its
           leases may be near their end — another worker could then sync the entities, and this
           stale write, coming after, would put a deleted node back. Given back and claimed
           afresh below. */
        prefetch_release(s);
    }
    if (s->next_items == NULL)
        return claim_new(s, limit, items, n, err);
    /* the batch the prefetch claimed (and read) while the last one was being written */
    *items = s->next_items;
    *n = s->next_n;
    s->ready = s->next_plan;
    s->ready_items = *items;
    s->ready_n = *n;
    s->next_items = NULL;
    s->next_n = 0;
    s->next_plan = NULL;
    s->prefetched++;
    return 0;
}

/* ---- write ---- */

typedef struct IdRef {
    const char *id;
    SyncItem *item;
} IdRef;

static int idref_cmp(const void *a, const void *b)
{
    return strcmp(((const IdRef *)a)->id, ((const IdRef *)b)->id);
}

/* The statements of one transaction, their parameter bytes kept until the commit. */
typedef struct TxPlan {
    const char **query;
    P2nBuf *params;
    size_t n, cap;
} TxPlan;

static P2nBuf *txplan_add(TxPlan *t, const char *query)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        const char **q = realloc(t->query, cap * sizeof(*q));
        if (q == NULL)
            return NULL;
        t->query = q;
        P2nBuf *p = realloc(t->params, cap * sizeof(*p));
        if (p == NULL)
            return NULL;
        t->params = p;
        t->cap = cap;
    }
    t->query[t->n] = query;
    p2n_buf_init(&t->params[t->n]);
    return &t->params[t->n++];
}

/*
 * A developer's knob (docs/performance.md): with P2N_DUMP_TX=FILE every write transaction is
 * appended to FILE in bench/ceiling.c's batch format, so that `ceiling --per-statement FILE`
 * can replay exactly what the engine wrote and time each statement. Row values are in the
 * file: never set it on production data.
 */
static void put_u32(FILE *f, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    fwrite(b, 1, 4, f);
}

static void txplan_dump(const char *path, const TxPlan *t)
{
    if (path == NULL || *path == '\0' || t->n == 0)
        return;
    FILE *f = fopen(path, "ab");
    if (f == NULL)
        return;
    if (ftell(f) == 0)
        fwrite("P2NCEIL1", 1, 8, f);
    put_u32(f, (uint32_t)t->n);
    for (size_t i = 0; i < t->n; i++) {
        size_t ql = strlen(t->query[i]);
        put_u32(f, (uint32_t)ql);
        fwrite(t->query[i], 1, ql, f);
        put_u32(f, (uint32_t)t->params[i].len);
        fwrite(t->params[i].data, 1, t->params[i].len, f);
    }
    fclose(f);
}

static void txplan_free(TxPlan *t)
{
    for (size_t i = 0; i < t->n; i++)
        p2n_buf_free(&t->params[i]);
    free(t->query);
    free(t->params);
    memset(t, 0, sizeof(*t));
}

/* {rows: [<encoded rows>]} */
static int rows_param(P2nBuf *out, const P2nBuf *rows, uint32_t n, P2nErr *err)
{
    ps_pack_map_header(out, 1);
    ps_pack_cstr(out, "rows");
    ps_pack_list_header(out, n);
    p2n_buf_append(out, rows->data, rows->len);
    if (out->failed)
        return p2n_err_set(err, P2N_ENOMEM, "out of memory for the parameters");
    return 0;
}

/*
 * Revivals: a node entity with delete_when whose node is absent from Neo4j before this batch
 * (soft-deleted, then restored) comes back; the relationships other rows had to it were
 * removed with it, so those rows are queued again once the batch has committed.
 */
typedef struct Revive {
    const MappingEntity *e;
    char **ids; /* upserted ids, then (after the check) the ones absent from the graph */
    size_t n;
} Revive;

typedef struct ReviveList {
    Revive *v;
    size_t n;
} ReviveList;

static void revive_free(ReviveList *r)
{
    for (size_t i = 0; i < r->n; i++) {
        for (size_t k = 0; k < r->v[i].n; k++)
            free(r->v[i].ids[k]);
        free(r->v[i].ids);
    }
    free(r->v);
    memset(r, 0, sizeof(*r));
}

/* True when e can have relationships pointing at it that a revival must restore: references
 * that skip a target whose row is not live (soft-deleted; for arrays of keys also absent: a key
 * deleted and inserted again). */
static bool revive_applies(const Mapping *m, const MappingEntity *e)
{
    if (e->kind != MAPPING_NODE || e->nkeys != 1)
        return false;
    int idx = (int)(e - m->entities);
    for (size_t i = 0; i < m->nentities; i++) {
        const MappingEntity *d = &m->entities[i];
        if (e->delete_when && d->kind == MAPPING_LINK && (d->from.target == idx || d->to.target == idx))
            return true;
        for (size_t k = 0; d->kind == MAPPING_NODE && k < d->nrels; k++)
            if (d->rels[k].target == idx && (e->delete_when || d->cols[d->rels[k].col].is_array))
                return true;
    }
    return false;
}

/* Keeps in r only the ids whose node is absent (or a placeholder) in the graph: one read. */
static int revive_check(P2nService *s, Revive *r, P2nErr *err)
{
    if (r->n == 0)
        return 0;
    const MappingEntity *e = r->e;
    P2nBuf q, p;
    p2n_buf_init(&q);
    p2n_buf_init(&p);
    /* a unique-constraint seek whatever the statistics: never worth a replan */
    p2n_buf_append_str(&q, MAPPING_CYPHER_PLAN_ONCE "UNWIND range(0, size($rows) - 1) AS i OPTIONAL MATCH (n:");
    mapping_cypher_ident(&q, e->labels[0].s);
    p2n_buf_append_str(&q, " {");
    mapping_cypher_ident(&q, e->cols[e->key_cols[0]].property);
    p2n_buf_append_str(&q, ": $rows[i].k}) WITH i, n WHERE n IS NULL OR n." MAPPING_VERSION_PROP " IS NULL RETURN i");
    p2n_buf_append(&q, "", 1);
    ps_pack_map_header(&p, 1);
    ps_pack_cstr(&p, "rows");
    ps_pack_list_header(&p, (uint32_t)r->n);
    int rc = 0;
    for (size_t i = 0; i < r->n && rc == 0; i++)
        rc = mapping_id_encode(e, r->ids[i], 0, &p, err);
    if (rc == 0 && (q.failed || p.failed))
        rc = p2n_err_set(err, P2N_ENOMEM, "out of memory");
    bool *absent = calloc(r->n, sizeof(bool));
    if (rc == 0 && absent == NULL)
        rc = p2n_err_set(err, P2N_ENOMEM, "out of memory");
    if (rc == 0)
        rc = bolt_run(s->neo, (const char *)q.data, p.data, p.len, NULL, err);
    const PsValue *rec;
    while (rc == 0 && (rc = bolt_next(s->neo, &rec, err)) == 1) {
        const PsValue *v = &rec->u.list.items[0];
        if (v->type == PS_INT && v->u.i >= 0 && (uint64_t)v->u.i < r->n)
            absent[v->u.i] = true;
        rc = 0;
    }
    if (rc == 0) {
        size_t k = 0;
        for (size_t i = 0; i < r->n; i++) {
            if (absent[i])
                r->ids[k++] = r->ids[i];
            else
                free(r->ids[i]);
        }
        r->n = k;
    }
    free(absent);
    p2n_buf_free(&q);
    p2n_buf_free(&p);
    return rc;
}

/* Queues again the rows whose relationships point at the revived nodes of r. */
static int revive_queue(P2nService *s, const Revive *r, P2nErr *err)
{
    const Mapping *m = s->map;
    const MappingEntity *e = r->e;
    int idx = (int)(e - m->entities);
    P2nBuf ids;
    p2n_buf_init(&ids);
    pgu_array_literal(&ids, (const char *const *)r->ids, r->n);
    p2n_buf_append(&ids, "", 1);
    if (ids.failed)
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    const char *ktype = e->cols[e->key_cols[0]].sql_type;
    int rc = 0;
    for (size_t i = 0; i < m->nentities && rc == 0; i++) {
        const MappingEntity *d = &m->entities[i];
        const char *cols[64];
        bool arr[64];
        size_t nc = 0;
        if (d->kind == MAPPING_LINK) {
            if (d->from.target == idx)
                cols[nc] = d->from.column, arr[nc++] = false;
            if (d->to.target == idx)
                cols[nc] = d->to.column, arr[nc++] = false;
        } else {
            for (size_t k = 0; k < d->nrels && nc < 64; k++) {
                if (d->rels[k].target == idx) {
                    cols[nc] = d->cols[d->rels[k].col].column;
                    arr[nc++] = d->cols[d->rels[k].col].is_array;
                }
            }
        }
        if (nc == 0)
            continue;
        P2nBuf q;
        p2n_buf_init(&q);
        p2n_buf_append_str(&q, "INSERT INTO @SCHEMA@.graph_sync_log (version, op, entity_type, entity_ids)"
                               " SELECT nextval('@SCHEMA@.graph_sync_version_seq'::regclass), 'u', $1, array_agg(");
        mapping_sql_id_expr(d, "t", &q);
        p2n_buf_append_str(&q, ") FROM ");
        mapping_sql_table(m, d, &q);
        p2n_buf_append_str(&q, " AS t WHERE ");
        for (size_t k = 0; k < nc; k++) {
            p2n_buf_append_str(&q, k ? " OR t." : "t.");
            mapping_sql_ident(&q, cols[k]);
            p2n_buf_printf(&q, " %s $2::text[]::%s[]", arr[k] ? "&&" : "= ANY(", ktype);
            if (!arr[k])
                p2n_buf_append_str(&q, ")");
        }
        p2n_buf_append_str(&q, " HAVING count(*) > 0");
        p2n_buf_append(&q, "", 1);
        char *sql = q.failed ? NULL : pgu_schema_subst((const char *)q.data, s->schema, err);
        p2n_buf_free(&q);
        if (sql == NULL) {
            rc = err->code ? err->code : P2N_ENOMEM;
            break;
        }
        const char *pv[2] = {d->name, (const char *)ids.data};
        rc = pgu_query(s->pg, sql, 2, pv, NULL, "could not queue the rows pointing at revived nodes", err);
        free(sql);
    }
    p2n_buf_free(&ids);
    return rc;
}

/* Owned strings of a resync: the Cypher that removes what is older than the resync. */
typedef struct EngineExtra {
    char **cypher;
    size_t n;
} EngineExtra;

static void extra_free(EngineExtra *x)
{
    for (size_t i = 0; i < x->n; i++)
        free(x->cypher[i]);
    free(x->cypher);
    memset(x, 0, sizeof(*x));
}

static const char *extra_add(EngineExtra *x, P2nBuf *b)
{
    char *q = p2n_buf_steal(b);
    if (q == NULL)
        return NULL;
    char **a = realloc(x->cypher, (x->n + 1) * sizeof(*a));
    if (a == NULL) {
        free(q);
        return NULL;
    }
    x->cypher = a;
    x->cypher[x->n++] = q;
    return q;
}

/* MATCH what the type holds at a version older than $v and remove it. */
static int resync_cleanup_cypher(const Mapping *m, const MappingEntity *e, P2nBuf *b)
{
    if (e->kind == MAPPING_NODE) {
        p2n_buf_append_str(b, "MATCH (n:");
        mapping_cypher_ident(b, e->labels[0].s);
        p2n_buf_append_str(b, ") WHERE n." MAPPING_VERSION_PROP " < $v DETACH DELETE n");
    } else {
        const MappingEntity *from = &m->entities[e->from.target];
        const MappingEntity *to = &m->entities[e->to.target];
        p2n_buf_append_str(b, "MATCH (:");
        mapping_cypher_ident(b, from->labels[0].s);
        p2n_buf_append_str(b, ")-[e:");
        mapping_cypher_ident(b, e->rel_type);
        p2n_buf_append_str(b, "]->(:");
        mapping_cypher_ident(b, to->labels[0].s);
        p2n_buf_append_str(b, ") WHERE e." MAPPING_VERSION_PROP " < $v DELETE e");
    }
    p2n_buf_append(b, "", 1);
    b->len--;
    return b->failed ? P2N_ENOMEM : 0;
}

/* Every id of the entity's table (for a resync). */
static int read_all_ids(P2nService *s, const MappingEntity *e, char ***ids, size_t *n, P2nErr *err)
{
    P2nBuf q;
    p2n_buf_init(&q);
    p2n_buf_append_str(&q, "SELECT ");
    mapping_sql_id_expr(e, "t", &q);
    p2n_buf_append_str(&q, " FROM ");
    mapping_sql_table(s->map, e, &q);
    p2n_buf_append_str(&q, " AS t");
    p2n_buf_append(&q, "", 1);
    if (q.failed) {
        p2n_buf_free(&q);
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    }
    PGresult *r = NULL;
    int rc = pgu_query(s->pg, (const char *)q.data, 0, NULL, &r, "could not read the ids of a resync", err);
    p2n_buf_free(&q);
    if (rc < 0)
        return rc;
    size_t nr = (size_t)PQntuples(r);
    char **a = calloc(nr ? nr : 1, sizeof(*a));
    if (a == NULL) {
        PQclear(r);
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < nr; i++) {
        a[i] = strdup(PQgetvalue(r, (int)i, 0));
        if (a[i] == NULL) {
            for (size_t k = 0; k < i; k++)
                free(a[k]);
            free(a);
            PQclear(r);
            return p2n_err_set(err, P2N_ENOMEM, "out of memory");
        }
    }
    PQclear(r);
    *ids = a;
    *n = nr;
    return 0;
}

/*
 * Reads the rows of ids (refs sorted by id, each with its item; or all at version `version` when
 * refs is NULL) and appends encoded upserts / deletes.
 */
static int encode_rows(const MappingEntity *e, PGresult *r, size_t nids, IdRef *refs, int64_t version,
                       P2nBuf *up, uint32_t *nup, P2nBuf *del, uint32_t *ndel, Revive *rv, P2nErr *err);

static int read_encode(P2nService *s, const MappingEntity *e, const char *const *ids, size_t nids,
                       IdRef *refs, int64_t version, P2nBuf *up, uint32_t *nup, P2nBuf *del,
                       uint32_t *ndel, Revive *rv, P2nErr *err)
{
    P2nBuf param;
    p2n_buf_init(&param);
    mapping_ids_param(ids, nids, &param);
    p2n_buf_append(&param, "", 1);
    if (param.failed) {
        p2n_buf_free(&param);
        return p2n_err_set(err, P2N_ENOMEM, "out of memory for %zu ids", nids);
    }
    const char *vals[1] = {(const char *)param.data};
    PGresult *r = NULL;
    int rc = pgu_query(s->pg, e->plan.read_sql, 1, vals, &r, "could not read the rows", err);
    p2n_buf_free(&param);
    if (rc < 0) {
        p2n_err_prefix(err, "entity \"%s\"", e->name);
        return rc;
    }
    return encode_rows(e, r, nids, refs, version, up, nup, del, ndel, rv, err);
}

/* Encodes the rows of a read_sql result r (cleared here) as upserts and deletes; refs sorted by
 * id (each with its item) or NULL: every row at `version`. */
static int encode_rows(const MappingEntity *e, PGresult *r, size_t nids, IdRef *refs, int64_t version,
                       P2nBuf *up, uint32_t *nup, P2nBuf *del, uint32_t *ndel, Revive *rv, P2nErr *err)
{
    int rc = 0;
    bool *seen = calloc(nids ? nids : 1, sizeof(bool));
    if (seen == NULL) {
        PQclear(r);
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    }
    int nt = PQntuples(r);
    for (int i = 0; i < nt && rc == 0; i++) {
        const char *id = PQgetvalue(r, i, 0);
        int64_t v = version;
        if (refs != NULL) {
            IdRef key = {id, NULL};
            IdRef *f = bsearch(&key, refs, nids, sizeof(*refs), idref_cmp);
            if (f == NULL)
                continue; /* not asked (cannot happen: read_sql returns the ids given) */
            seen[f - refs] = true;
            v = f->item->version;
        }
        bool gone = PQgetvalue(r, i, 1)[0] == 't';
        /* a relationship row deleted only because an end's row is not live: held (mapping.h) */
        if (gone && e->kind == MAPPING_LINK && PQnfields(r) == (int)e->ncols + 3 &&
            PQgetvalue(r, i, (int)e->ncols + 2)[0] == 't')
            gone = false;
        if (gone) {
            rc = mapping_id_encode(e, id, v, del, err);
            (*ndel)++;
        } else {
            rc = mapping_row_encode(e, r, i, v, up, err);
            (*nup)++;
            if (rc == 0 && rv != NULL) {
                char *c = strdup(id);
                if (c == NULL)
                    rc = p2n_err_set(err, P2N_ENOMEM, "out of memory");
                else
                    rv->ids[rv->n++] = c;
            }
        }
    }
    PQclear(r);
    for (size_t k = 0; refs != NULL && k < nids && rc == 0; k++) {
        if (!seen[k]) {
            rc = mapping_id_encode(e, refs[k].id, refs[k].item->version, del, err);
            (*ndel)++;
        }
    }
    free(seen);
    if (rc == 0 && (up->failed || del->failed))
        rc = p2n_err_set(err, P2N_ENOMEM, "out of memory encoding rows");
    return rc;
}

/* Builds the statements of one entity type's items (all of type e) into t. */
static int plan_type(P2nService *s, const MappingEntity *e, SyncItem *const *items, size_t n, PGresult *pre,
                     TxPlan *t, EngineExtra *x, ReviveList *rl, P2nErr *err)
{
    P2nBuf up, del;
    p2n_buf_init(&up);
    p2n_buf_init(&del);
    uint32_t nup = 0, ndel = 0;
    int rc = 0;
    IdRef *refs = calloc(n ? n : 1, sizeof(*refs));
    const char **ids = calloc(n ? n : 1, sizeof(*ids));
    size_t nref = 0;
    const SyncItem *resync = NULL;
    Revive *rv = NULL;
    if (refs == NULL || ids == NULL) {
        rc = p2n_err_set(err, P2N_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (items[i]->op == SYNC_OP_RESYNC) {
            if (resync == NULL || items[i]->version > resync->version)
                resync = items[i];
            continue;
        }
        refs[nref].id = items[i]->entity_id;
        refs[nref].item = items[i];
        nref++;
    }
    qsort(refs, nref, sizeof(*refs), idref_cmp);
    for (size_t i = 0; i < nref; i++)
        ids[i] = refs[i].id;
    if (nref > 0 && resync == NULL && revive_applies(s->map, e)) {
        Revive *a = realloc(rl->v, (rl->n + 1) * sizeof(*a));
        char **rids = calloc(nref, sizeof(*rids));
        if (a == NULL || rids == NULL) {
            if (a)
                rl->v = a;
            free(rids);
            rc = p2n_err_set(err, P2N_ENOMEM, "out of memory");
            goto out;
        }
        rl->v = a;
        rv = &rl->v[rl->n++];
        rv->e = e;
        rv->ids = rids;
        rv->n = 0;
    }
    if (nref > 0 && pre != NULL) {
        rc = encode_rows(e, pre, nref, refs, 0, &up, &nup, &del, &ndel, rv, err);
        pre = NULL;
    } else if (nref > 0) {
        rc = read_encode(s, e, ids, nref, refs, 0, &up, &nup, &del, &ndel, rv, err);
    }
    if (rc == 0 && (nup > 0 || ndel > 0)) {
        if (nup > 0) {
            for (size_t k = 0; k < e->plan.nupsert && rc == 0; k++) {
                P2nBuf *p = txplan_add(t, e->plan.upsert[k]);
                rc = p ? rows_param(p, &up, nup, err) : p2n_err_set(err, P2N_ENOMEM, "out of memory");
            }
        }
        if (ndel > 0 && rc == 0) {
            P2nBuf *p = txplan_add(t, e->plan.delete_cypher);
            rc = p ? rows_param(p, &del, ndel, err) : p2n_err_set(err, P2N_ENOMEM, "out of memory");
        }
    }
    if (rc == 0 && resync != NULL) {
        /* The whole table at the resync's version, then what is older goes. */
        char **all = NULL;
        size_t nall = 0;
        rc = read_all_ids(s, e, &all, &nall, err);
        if (rc == 0) {
            p2n_buf_reset(&up);
            p2n_buf_reset(&del);
            nup = ndel = 0;
            if (nall > 0)
                rc = read_encode(s, e, (const char *const *)all, nall, NULL, resync->version, &up, &nup, &del,
                                 &ndel, NULL, err);
            for (size_t i = 0; i < nall; i++)
                free(all[i]);
            free(all);
        }
        for (size_t k = 0; rc == 0 && nup > 0 && k < e->plan.nupsert; k++) {
            P2nBuf *p = txplan_add(t, e->plan.upsert[k]);
            rc = p ? rows_param(p, &up, nup, err) : p2n_err_set(err, P2N_ENOMEM, "out of memory");
        }
        if (rc == 0 && ndel > 0) {
            P2nBuf *p = txplan_add(t, e->plan.delete_cypher);
            rc = p ? rows_param(p, &del, ndel, err) : p2n_err_set(err, P2N_ENOMEM, "out of memory");
        }
        if (rc == 0) {
            P2nBuf q;
            p2n_buf_init(&q);
            const char *cy = resync_cleanup_cypher(s->map, e, &q) == 0 ? extra_add(x, &q) : NULL;
            p2n_buf_free(&q);
            P2nBuf *p = cy ? txplan_add(t, cy) : NULL;
            if (p == NULL) {
                rc = p2n_err_set(err, P2N_ENOMEM, "out of memory");
            } else {
                ps_pack_map_header(p, 1);
                ps_pack_cstr(p, "v");
                ps_pack_int(p, resync->version);
            }
        }
    }
out:
    PQclear(pre);
    free(refs);
    free(ids);
    p2n_buf_free(&up);
    p2n_buf_free(&del);
    return rc;
}

/*
 * The reads of a batch: its items grouped by entity type (one read_sql each). When no group is a
 * resync (a whole table) and the ids are few enough that the replies cannot fill the socket
 * while requests are still being written, they go out in one libpq pipeline: BEGIN, the
 * statement timeout, every read, COMMIT, one round trip instead of 3 + types.
 */
typedef struct ReadGroups {
    SyncItem **items;             /* the batch's items, grouped */
    size_t *start, *count;        /* per group */
    const MappingEntity **ent;
    PGresult **res;               /* per group, from read_pipelined (NULL otherwise) */
    size_t ng;
    bool resync;
    size_t id_bytes;
} ReadGroups;

#define READ_PIPELINE_MAX_ID_BYTES (64u * 1024u)

static void read_groups_free(ReadGroups *g)
{
    for (size_t k = 0; g->res && k < g->ng; k++)
        PQclear(g->res[k]);
    free(g->items);
    free(g->start);
    free(g->count);
    free(g->ent);
    free(g->res);
    memset(g, 0, sizeof(*g));
}

static int read_groups_build(const Mapping *m, SyncItem *const *items, size_t n, ReadGroups *g, P2nErr *err)
{
    memset(g, 0, sizeof(*g));
    size_t c = n ? n : 1;
    bool *done = calloc(c, sizeof(bool));
    g->items = calloc(c, sizeof(*g->items));
    g->start = calloc(c, sizeof(size_t));
    g->count = calloc(c, sizeof(size_t));
    g->ent = calloc(c, sizeof(*g->ent));
    g->res = calloc(c, sizeof(*g->res));
    if (done == NULL || g->items == NULL || g->start == NULL || g->count == NULL || g->ent == NULL || g->res == NULL) {
        free(done);
        read_groups_free(g);
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    }
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        if (done[i])
            continue;
        const MappingEntity *e = mapping_entity_find(m, items[i]->entity_type);
        if (e == NULL) {
            free(done);
            read_groups_free(g);
            return p2n_err_set(err, P2N_ECONFIG, "entity type \"%s\" is not in the mapping", items[i]->entity_type);
        }
        g->ent[g->ng] = e;
        g->start[g->ng] = pos;
        for (size_t k = i; k < n; k++) {
            if (!done[k] && strcmp(items[k]->entity_type, items[i]->entity_type) == 0) {
                g->items[pos++] = items[k];
                done[k] = true;
                g->resync = g->resync || items[k]->op == SYNC_OP_RESYNC;
                g->id_bytes += strlen(items[k]->entity_id) + 4;
            }
        }
        g->count[g->ng] = pos - g->start[g->ng];
        g->ng++;
    }
    free(done);
    return 0;
}

static bool read_groups_pipeable(const ReadGroups *g)
{
    return !g->resync && g->ng > 0 && g->id_bytes <= READ_PIPELINE_MAX_ID_BYTES;
}

static int read_pipelined(P2nService *s, ReadGroups *g, int64_t deadline_ms, P2nErr *err)
{
    PGconn *c = s->pg;
    size_t maxc = 0;
    for (size_t k = 0; k < g->ng; k++)
        maxc = g->count[k] > maxc ? g->count[k] : maxc;
    P2nBuf *params = calloc(g->ng ? g->ng : 1, sizeof(*params));
    const char **ids = calloc(maxc ? maxc : 1, sizeof(*ids));
    if (params == NULL || ids == NULL) {
        free(params);
        free(ids);
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    }
    int rc = 0;
    for (size_t k = 0; k < g->ng; k++) {
        for (size_t i = 0; i < g->count[k]; i++)
            ids[i] = g->items[g->start[k] + i]->entity_id;
        p2n_buf_init(&params[k]);
        mapping_ids_param(ids, g->count[k], &params[k]);
        p2n_buf_append(&params[k], "", 1);
        if (params[k].failed && rc == 0)
            rc = p2n_err_set(err, P2N_ENOMEM, "out of memory for the ids");
    }
    free(ids);
    char ms[32];
    int64_t l = deadline_ms - p2n_now_mono_ms();
    snprintf(ms, sizeof(ms), "%lld", (long long)(l > 1 ? l : 1));
    const char *pv[1] = {ms};
    if (rc == 0 && PQenterPipelineMode(c) != 1)
        rc = pgu_fail(err, c, NULL, "could not start a pipeline");
    if (rc == 0) {
        int ok = PQsendQueryParams(c, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", 0, NULL, NULL, NULL, NULL, 0);
        ok = ok && PQsendQueryParams(c, "SELECT set_config('statement_timeout', $1, true)", 1, NULL, pv, NULL, NULL, 0);
        for (size_t k = 0; ok && k < g->ng; k++) {
            const char *p1 = (const char *)params[k].data;
            ok = PQsendQueryParams(c, g->ent[k]->plan.read_sql, 1, NULL, &p1, NULL, NULL, 0);
        }
        ok = ok && PQsendQueryParams(c, "COMMIT", 0, NULL, NULL, NULL, NULL, 0);
        ok = ok && PQpipelineSync(c);
        if (!ok) {
            /* a request could not be written: the connection is unusable */
            rc = pgu_fail(err, c, NULL, "could not send the reads");
            pg_disconnect(s);
            err->code = P2N_ECONNLOST;
            rc = P2N_ECONNLOST;
        }
    }
    /* replies: one result (then NULL) per request, then the sync */
    size_t nq = g->ng + 3;
    for (size_t q = 0; rc != P2N_ECONNLOST && s->pg != NULL && q <= nq; q++) {
        PGresult *r = PQgetResult(c);
        if (r == NULL) {
            if (rc == 0)
                rc = pgu_fail(err, c, NULL, "could not read the rows");
            break;
        }
        ExecStatusType st = PQresultStatus(r);
        if (q == nq || st == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            break;
        }
        if (st == PGRES_PIPELINE_ABORTED) {
            PQclear(r);
        } else if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
            if (rc == 0) {
                rc = pgu_fail(err, c, r, "could not read the rows");
                if (q >= 2 && q < 2 + g->ng)
                    p2n_err_prefix(err, "entity \"%s\"", g->ent[q - 2]->name);
            }
            PQclear(r);
        } else if (q >= 2 && q < 2 + g->ng) {
            g->res[q - 2] = r;
        } else {
            PQclear(r);
        }
        PGresult *z = PQgetResult(c); /* the end of this request's results */
        PQclear(z);
    }
    if (s->pg != NULL) {
        if (PQpipelineStatus(c) != PQ_PIPELINE_OFF && PQexitPipelineMode(c) != 1 && rc == 0)
            rc = pgu_fail(err, c, NULL, "could not end the pipeline");
        if (PQstatus(c) != CONNECTION_OK && rc == 0)
            rc = pgu_fail(err, c, NULL, "could not read the rows");
    }
    for (size_t k = 0; k < g->ng; k++)
        p2n_buf_free(&params[k]);
    free(params);
    if (rc < 0) {
        for (size_t k = 0; k < g->ng; k++) {
            PQclear(g->res[k]);
            g->res[k] = NULL;
        }
    }
    return rc;
}

/* Neo4j's transaction timeouts are transient: the batch may fit next time (or smaller). */
static void classify_neo_error(P2nErr *err)
{
    if (err->code == P2N_ENEO4J && strstr(err->neo_code, "TransactionTimedOut") != NULL)
        err->code = P2N_ETIMEDOUT;
}

/* A batch's transaction, built from its rows: what write_prepare hands to op_write. */
typedef struct Prepared {
    TxPlan t;
    EngineExtra x;
    ReviveList rl;
} Prepared;

/* Frees what p holds and p itself (a heap Prepared; NULL is fine). */
static void prepared_free(Prepared *p)
{
    if (p == NULL)
        return;
    txplan_free(&p->t);
    extra_free(&p->x);
    revive_free(&p->rl);
    free(p);
}

/* The PostgreSQL half of a write: reads the items' rows in one snapshot and builds the Neo4j
   transaction into *p (freed by the caller, also on failure). */
static int write_prepare(P2nService *s, SyncItem *const *items, size_t n, int64_t deadline_ms, Prepared *p,
                         P2nErr *err)
{
    ReadGroups g;
    int rc = read_groups_build(s->map, items, n, &g, err);
    if (rc < 0)
        return rc;
    bool piped = read_groups_pipeable(&g);
    if (piped) {
        /* BEGIN, the timeout, every type's read and COMMIT in one round trip */
        rc = read_pipelined(s, &g, deadline_ms, err);
    } else {
        rc = pgu_exec(s->pg, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", "could not begin the read", err);
        if (rc == 0) {
            /* the reads may not outlast the batch deadline either (a cancel is transient) */
            char ms[32];
            int64_t l = deadline_ms - p2n_now_mono_ms();
            snprintf(ms, sizeof(ms), "%lld", (long long)(l > 1 ? l : 1));
            const char *pv[1] = {ms};
            rc = pgu_query(s->pg, "SELECT set_config('statement_timeout', $1, true)", 1, pv, NULL,
                           "could not set the read timeout", err);
        }
    }
    for (size_t k = 0; k < g.ng && rc == 0; k++) {
        rc = plan_type(s, g.ent[k], g.items + g.start[k], g.count[k], g.res[k], &p->t, &p->x, &p->rl, err);
        g.res[k] = NULL; /* taken by plan_type */
    }
    if (!piped && rc == 0)
        rc = pgu_exec(s->pg, "COMMIT", "could not end the read", err);
    if (rc < 0 && s->pg && PQstatus(s->pg) == CONNECTION_OK && PQtransactionStatus(s->pg) != PQTRANS_IDLE)
        PQclear(PQexec(s->pg, "ROLLBACK"));
    read_groups_free(&g);
    return rc;
}

/*
 * Prefetch (the daemon only, s->prefetch): while Neo4j runs batch N's transaction, the next
 * batch is claimed and its rows read and encoded on the PostgreSQL connection, which would
 * otherwise sit idle; the next op_claim hands out those items and op_write uses the prepared
 * transaction. The PostgreSQL work of a batch (fold, claim, reads: 25-50 ms per 1,000
 * entities) then overlaps the Neo4j write of the one before. Safe: the claimed entities are
 * in_progress like any claim (released on shutdown, leased if the process dies), rows read
 * early are written with the version they were read at (monotonic writes), and a change that
 * lands meanwhile bumps the version, so the mark requeues it.
 */
static void prefetch_next(P2nService *s)
{
    if (!s->prefetch || s->next_items != NULL || s->pg == NULL)
        return;
    SyncItem *it = NULL;
    size_t n = 0;
    P2nErr e2;
    p2n_err_clear(&e2);
    int rc = claim_new(s, s->batch_limit, &it, &n, &e2);
    if (rc < 0 || n == 0) {
        if (rc < 0)
            P2N_DEBUG("prefetch: no claim", "error=\"%s\"", e2.msg);
        sync_items_free(it, n);
        return;
    }
    s->next_items = it;
    s->next_n = n;
    s->next_claimed_ms = p2n_now_mono_ms();
    SyncItem **ptrs = malloc(n * sizeof(*ptrs));
    Prepared *p = calloc(1, sizeof(*p));
    if (ptrs == NULL || p == NULL) {
        free(ptrs);
        free(p);
        return; /* the items are handed out unprepared */
    }
    for (size_t i = 0; i < n; i++)
        ptrs[i] = &it[i];
    if (write_prepare(s, ptrs, n, p2n_now_mono_ms() + s->timeout_ms, p, &e2) == 0) {
        s->next_plan = p;
    } else {
        P2N_DEBUG("prefetch: read failed, the batch reads again", "error=\"%s\"", e2.msg);
        prepared_free(p);
        if (s->pg && PQstatus(s->pg) != CONNECTION_OK)
            pg_disconnect(s);
    }
    free(ptrs);
}

/* Frees the prefetched batch (items and transaction). */
static void next_free(P2nService *s)
{
    sync_items_free(s->next_items, s->next_n);
    s->next_items = NULL;
    s->next_n = 0;
    prepared_free(s->next_plan);
    s->next_plan = NULL;
}

/* Frees the handed-out batch's prepared transaction, if op_write did not take it. */
static void ready_free(P2nService *s)
{
    prepared_free(s->ready);
    s->ready = NULL;
    s->ready_items = NULL;
    s->ready_n = 0;
}

/* Gives the prefetched claims back (pending again, no attempt used) and drops the batch; if
   PostgreSQL is away their leases bring them back. */
static void prefetch_release(P2nService *s)
{
    if (s->next_items == NULL)
        return;
    PgqKey *k = calloc(s->next_n, sizeof(*k));
    if (k != NULL && s->pg != NULL && PQstatus(s->pg) == CONNECTION_OK) {
        for (size_t i = 0; i < s->next_n; i++)
            k[i] = (PgqKey){s->next_items[i].entity_type, s->next_items[i].entity_id, s->next_items[i].version};
        P2nErr e2;
        size_t released = 0;
        if (pgq_release(s->pg, s->schema, s->worker_id, k, s->next_n, &released, &e2) < 0)
            P2N_DEBUG("prefetch: release failed (the leases will expire)", "error=\"%s\"", e2.msg);
        else
            P2N_DEBUG("prefetch: stale batch given back", "entities=%zu", released);
    }
    free(k);
    next_free(s);
}

/* Drops what the prefetch holds (memory only: the claims are released or leased in PostgreSQL). */
static void prefetch_drop(P2nService *s)
{
    next_free(s);
    ready_free(s);
}

/*
 * A write skipped rows for a graph version up to gv_max. When the sequence never handed that out,
 * the graph outlived its sync schema (versions.h): every write would be skipped and counted as
 * synced. Loud (error, metric), then the sequence is raised above the whole graph and the
 * batch's entities are queued again with new versions, so they are written for real.
 */
static int version_ahead(P2nService *s, SyncItem *const *items, size_t n, int64_t gv_max, P2nErr *err)
{
    int64_t last = 0;
    int rc = sync_version_seq_last(s->pg, s->schema, &last, err);
    if (rc < 0 || gv_max <= last)
        return rc;
    P2N_ERROR("writes were skipped for versions the version sequence never handed out (the graph outlived its sync"
              " schema: uninstall + init, a restored dump?): raising the sequence and queueing the entities again",
              "graph_version=%lld sequence=%lld entities=%zu", (long long)gv_max, (long long)last, n);
    P2nErr e2;
    p2n_err_clear(&e2);
    int64_t gmax = -1;
    if (sync_version_floor(s->pg, s->neo, s->schema, s->map, &gmax, NULL, &e2) < 0) {
        P2N_WARN("could not read the graph's highest version", "error=\"%s\"", e2.msg);
        if ((rc = sync_version_seq_raise(s->pg, s->schema, gv_max, NULL, err)) < 0)
            return rc;
    }
    /* one change-log row per (type, op): the fold makes them pending with versions above the graph */
    for (size_t i = 0; i < n && rc == 0; i++) {
        bool first = true;
        for (size_t j = 0; j < i && first; j++)
            first = !(items[j]->op == items[i]->op && strcmp(items[j]->entity_type, items[i]->entity_type) == 0);
        if (!first)
            continue;
        const char **ids = calloc(n, sizeof(*ids));
        if (ids == NULL)
            return p2n_err_set(err, P2N_ENOMEM, "out of memory");
        size_t k = 0;
        for (size_t j = i; j < n; j++)
            if (items[j]->op == items[i]->op && strcmp(items[j]->entity_type, items[i]->entity_type) == 0)
                ids[k++] = items[j]->entity_id;
        P2nBuf arr;
        p2n_buf_init(&arr);
        pgu_array_literal(&arr, ids, k);
        p2n_buf_append(&arr, "", 1);
        free(ids);
        const char *op = items[i]->op == SYNC_OP_DELETE ? "d" : items[i]->op == SYNC_OP_RESYNC ? "t" : "u";
        const char *pv[3] = {op, items[i]->entity_type, (const char *)arr.data};
        char *sql = arr.failed ? NULL
                               : pgu_schema_subst("INSERT INTO @SCHEMA@.graph_sync_log (version, op, entity_type, entity_ids)"
                                                  " VALUES (nextval('@SCHEMA@.graph_sync_version_seq'::regclass),"
                                                  " $1::\"char\", $2, $3::text[])",
                                                  s->schema, err);
        if (sql == NULL)
            rc = err->code ? err->code : P2N_ENOMEM;
        else
            rc = pgu_query(s->pg, sql, 3, pv, NULL, "could not queue the skipped entities again", err);
        free(sql);
        p2n_buf_free(&arr);
        if (rc == 0)
            p2n_metric_add1(s->m.version_ahead, items[i]->entity_type, (double)k);
    }
    return rc;
}

static int write_items(P2nService *s, SyncItem *const *items, size_t n, int64_t deadline_ms, P2nErr *err)
{
    int rc = pg_ensure(s, err);
    if (rc < 0)
        return rc;
    rc = neo_ensure(s, err);
    if (rc < 0)
        return rc;

    Prepared *p = NULL;
    int64_t left = 0, tu = p2n_now_mono_us(), tu2 = 0;
    BoltTxConfig txc;
    memset(&txc, 0, sizeof(txc));
    if (s->ready != NULL && n == s->ready_n && n > 0 && items[0] == s->ready_items) {
        /* the whole claimed batch, prepared by the prefetch: taken (a retry reads again) */
        p = s->ready;
        s->ready = NULL;
        s->ready_items = NULL;
    } else if ((p = calloc(1, sizeof(*p))) == NULL) {
        rc = p2n_err_set(err, P2N_ENOMEM, "out of memory");
        goto out;
    } else if ((rc = write_prepare(s, items, n, deadline_ms, p, err)) < 0) {
        goto out;
    }

    for (size_t i = 0; i < p->rl.n && rc == 0; i++)
        rc = revive_check(s, &p->rl.v[i], err);
    if (rc < 0)
        goto neo_fail;
    /* The rows pointing at revived nodes are queued again BEFORE the write: once the node is in
       the graph nothing else would bring their relationships back, so a requeue lost after the
       commit (PostgreSQL restarting between the two, seen in the soak run) lost them for good.
       Queued first, a failure fails the batch (retried); a requeue whose write then fails only
       costs an extra sync of those rows. */
    for (size_t i = 0; i < p->rl.n && rc == 0; i++) {
        if (p->rl.v[i].n > 0 && (rc = revive_queue(s, &p->rl.v[i], err)) < 0)
            p2n_err_prefix(err, "entity \"%s\"", p->rl.v[i].e->name);
    }
    if (rc < 0)
        goto out;
    left = deadline_ms - p2n_now_mono_ms();
    if (left < 1)
        left = 1;
    txc.timeout_ms = left;
    txplan_dump(s->dump_tx, &p->t);
    tu2 = p2n_now_mono_us();
    s->t_read_us += tu2 - tu;
    rc = bolt_begin(s->neo, &txc, err);
    for (size_t i = 0; i < p->t.n && rc == 0; i++)
        rc = bolt_tx_queue(s->neo, p->t.query[i], p->t.params[i].data, p->t.params[i].len, err);
    if (rc == 0)
        rc = bolt_commit_send(s->neo, err);
    if (rc == 0 && s->ndeferred > 0) {
        /* the last batch's marks, while Neo4j runs this one */
        P2nErr e2;
        p2n_err_clear(&e2);
        if (deferred_flush(s, &e2) < 0)
            P2N_DEBUG("deferred marks not written yet", "error=\"%s\"", e2.msg);
    }
    if (rc == 0)
        prefetch_next(s); /* PostgreSQL work while Neo4j runs the transaction */
    BoltSummary sum;
    memset(&sum, 0, sizeof(sum));
    if (rc == 0)
        rc = bolt_commit(s->neo, &sum, err);
    s->t_neo_us += p2n_now_mono_us() - tu2;
    /* the version guard reported skipped rows (records): normal if a newer change got there
       first, not if the graph's version was never handed out */
    if (rc == 0 && sum.records > 0 && sum.queued_int_max > 0)
        rc = version_ahead(s, items, n, sum.queued_int_max, err);
neo_fail:
    if (rc < 0) {
        classify_neo_error(err);
        if (!bolt_conn_usable(s->neo) || err->code == P2N_ETIMEDOUT || err->code == P2N_EIO) {
            neo_disconnect(s);
        } else if (bolt_conn_in_tx(s->neo)) {
            P2nErr e2;
            if (bolt_rollback(s->neo, &e2) < 0)
                neo_disconnect(s);
        }
    }
out:
    if (rc < 0 && s->pg && PQstatus(s->pg) != CONNECTION_OK) {
        pg_disconnect(s);
        if (err->code == P2N_EPG)
            err->code = P2N_ECONNLOST;
    }
    prepared_free(p);
    return rc;
}

/* ---- a table the sync user cannot read (issue 18 item 7) ---- */

#define BLOCK_FIRST_MS 2000u
#define BLOCK_MAX_MS 60000u

static bool err_is_denied(const P2nErr *e)
{
    return e->code == P2N_EPG && strcmp(e->sqlstate, "42501") == 0;
}

static struct TypeBlock *type_block(P2nService *s, const char *type)
{
    const MappingEntity *e = mapping_entity_find(s->map, type);
    return e && s->blocked ? &s->blocked[e - s->map->entities] : NULL;
}

/* Whether the type's read is refused now: its read_sql run for no id checks every privilege it
   needs (the table, its columns, the tables its references look at). */
static int probe_denied(P2nService *s, const MappingEntity *e, bool *denied, P2nErr *err)
{
    const char *vals[1] = {"{}"};
    P2nErr e2;
    p2n_err_clear(&e2);
    PGresult *r = NULL;
    int rc = pgu_query(s->pg, e->plan.read_sql, 1, vals, &r, "could not read the rows", &e2);
    PQclear(r);
    *denied = rc < 0 && err_is_denied(&e2);
    if (*denied)
        *err = e2;
    return rc < 0 && !*denied && PQstatus(s->pg) != CONNECTION_OK ? rc : 0;
}

/* The write of the items not given back; items of a type whose read is refused are given back
   (SYNC_RES_RELEASE), and their type is blocked for a while, growing while it lasts. */
static int op_write(void *ctx, SyncItem *const *items, size_t n, int64_t deadline_ms, P2nErr *err)
{
    P2nService *s = ctx;
    SyncItem **sub = malloc((n ? n : 1) * sizeof(*sub));
    if (sub == NULL)
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    int rc = 0;
    for (int round = 0;; round++) {
        int64_t now = p2n_now_mono_ms();
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            if (items[i]->result == SYNC_RES_RELEASE)
                continue;
            struct TypeBlock *b = type_block(s, items[i]->entity_type);
            if (b && b->until_ms > now) {
                items[i]->result = SYNC_RES_RELEASE; /* no failure row: one was recorded when it was blocked */
                continue;
            }
            sub[k++] = items[i];
        }
        if (k == 0) {
            rc = 0;
            break;
        }
        rc = write_items(s, k == n ? items : sub, k, deadline_ms, err);
        if (rc == 0 || !err_is_denied(err) || round > 0 || s->pg == NULL)
            break;
        /* which types are refused? each is probed alone */
        P2nErr denied_err = *err;
        size_t nblocked = 0;
        for (size_t i = 0; i < k; i++) {
            bool first = true;
            for (size_t j = 0; j < i && first; j++)
                first = strcmp(sub[j]->entity_type, sub[i]->entity_type) != 0;
            const MappingEntity *e = first ? mapping_entity_find(s->map, sub[i]->entity_type) : NULL;
            if (e == NULL)
                continue;
            bool denied = false;
            P2nErr pe = denied_err;
            if ((rc = probe_denied(s, e, &denied, &pe)) < 0) {
                *err = pe;
                break;
            }
            if (!denied)
                continue;
            struct TypeBlock *b = &s->blocked[e - s->map->entities];
            b->delay_ms = b->delay_ms ? (b->delay_ms * 2 > BLOCK_MAX_MS ? BLOCK_MAX_MS : b->delay_ms * 2) : BLOCK_FIRST_MS;
            b->until_ms = p2n_now_mono_ms() + b->delay_ms;
            size_t held = 0;
            for (size_t j = i; j < k; j++) {
                if (strcmp(sub[j]->entity_type, e->name) != 0)
                    continue;
                sub[j]->result = SYNC_RES_RELEASE;
                sub[j]->err_code = pe.code;
                snprintf(sub[j]->err_sqlstate, sizeof(sub[j]->err_sqlstate), "%s", pe.sqlstate);
                free(sub[j]->err_msg);
                sub[j]->err_msg = strdup(pe.msg);
                held++;
            }
            nblocked++;
            p2n_metric_set1(s->m.source_denied, e->name, 1);
            P2N_ERROR("permission denied reading the rows of an entity: its changes wait, claims released with no"
                      " attempt used, until the sync user may read them (GRANT SELECT); retried in a while",
                      "type=%s entities=%zu retry_in_ms=%u error=\"%s\"", e->name, held, b->delay_ms, pe.msg);
        }
        if (rc < 0)
            break;
        if (nblocked == 0) {
            rc = denied_err.code; /* refused, but no type alone is: handled as any failure */
            *err = denied_err;
            break;
        }
    }
    /* a type written again after a block: readable again */
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct TypeBlock *b = items[i]->result == SYNC_RES_RELEASE ? NULL : type_block(s, items[i]->entity_type);
        if (b && b->delay_ms > 0) {
            b->delay_ms = 0;
            b->until_ms = 0;
            p2n_metric_set1(s->m.source_denied, items[i]->entity_type, 0);
            P2N_INFO("the rows of an entity can be read again", "type=%s", items[i]->entity_type);
        }
    }
    free(sub);
    return rc;
}

/* ---- finish ---- */

/* Retryable failure rows for entities released because a database was unavailable. */
static void record_release_failures(P2nService *s, SyncItem *items, size_t n)
{
    P2nBuf types, ids, attempts;
    p2n_buf_init(&types);
    p2n_buf_init(&ids);
    p2n_buf_init(&attempts);
    const char **tv = calloc(n ? n : 1, sizeof(*tv));
    const char **iv = calloc(n ? n : 1, sizeof(*iv));
    char (*av)[16] = calloc(n ? n : 1, sizeof(*av));
    const char **ap = calloc(n ? n : 1, sizeof(*ap));
    size_t k = 0;
    const char *msg = NULL, *code = NULL;
    if (tv == NULL || iv == NULL || av == NULL || ap == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (items[i].result != SYNC_RES_RELEASE || items[i].err_code == 0)
            continue;
        tv[k] = items[i].entity_type;
        iv[k] = items[i].entity_id;
        snprintf(av[k], sizeof(av[k]), "%d", items[i].attempts + 1);
        ap[k] = av[k];
        if (msg == NULL) {
            msg = items[i].err_msg ? items[i].err_msg : "target unavailable";
            code = err_code_text(&items[i]);
        }
        k++;
    }
    if (k == 0)
        goto out;
    pgu_array_literal(&types, tv, k);
    pgu_array_literal(&ids, iv, k);
    pgu_array_literal(&attempts, ap, k);
    p2n_buf_append(&types, "", 1);
    p2n_buf_append(&ids, "", 1);
    p2n_buf_append(&attempts, "", 1);
    if (types.failed || ids.failed || attempts.failed)
        goto out;
    {
        char *sql = pgu_schema_subst(
            "INSERT INTO @SCHEMA@.graph_sync_failures (entity_type, entity_id, attempt_number, failure_message,"
            " error_code, retryable, worker_id)"
            " SELECT t, i, a, $4, $5, true, $6 FROM unnest($1::text[], $2::text[], $3::int[]) AS u(t, i, a)",
            s->schema, NULL);
        if (sql != NULL) {
            const char *p[6] = {(const char *)types.data, (const char *)ids.data, (const char *)attempts.data, msg,
                                code, s->worker_id};
            P2nErr e;
            if (pgu_query(s->pg, sql, 6, p, NULL, "could not record failures", &e) < 0)
                P2N_WARN("could not record the release failures", "error=\"%s\"", e.msg);
            free(sql);
        }
    }
out:
    free(tv);
    free(iv);
    free(av);
    free(ap);
    p2n_buf_free(&types);
    p2n_buf_free(&ids);
    p2n_buf_free(&attempts);
}

static int op_finish(void *ctx, SyncItem *items, size_t n, P2nErr *err)
{
    P2nService *s = ctx;
    int rc = pg_ensure(s, err);
    if (rc < 0)
        return rc; /* claims come back when their lease expires */
    PgqKey *keys = calloc(n ? n : 1, sizeof(*keys));
    if (keys == NULL)
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    size_t nk = 0;
    int64_t now = p2n_now_wall_ms();
    double max_lat = 0;
    for (size_t i = 0; i < n; i++) {
        if (items[i].result != SYNC_RES_SYNCED)
            continue;
        keys[nk].entity_type = items[i].entity_type;
        keys[nk].entity_id = items[i].entity_id;
        keys[nk].version = items[i].version;
        nk++;
        p2n_metric_add1(s->m.synced, items[i].entity_type, 1);
        if (items[i].changed_at_ms > 0) {
            double lat = (double)(now - items[i].changed_at_ms) / 1000.0;
            if (lat < 0)
                lat = 0;
            if (lat > max_lat)
                max_lat = lat;
            p2n_metric_observe1(s->m.sync_latency, items[i].entity_type, lat);
        }
    }
    s->last_latency_s = max_lat;
    if (nk > 0 && nk == n && s->prefetch && s->ndeferred == 0 && deferred_keep(s, keys, nk)) {
        /* every entity synced: marked during the next batch's write (deferred_flush) */
        nk = 0;
    } else if (nk > 0) {
        if ((rc = deferred_flush(s, err)) == 0)
            rc = pgq_mark_synced(s->pg, s->schema, s->worker_id, keys, nk, NULL, NULL, err);
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        SyncItem *it = &items[i];
        if (it->result != SYNC_RES_RETRY && it->result != SYNC_RES_FAILED)
            continue;
        PgqKey k = {it->entity_type, it->entity_id, it->version};
        p2n_metric_add1(s->m.failures, it->entity_type, 1);
        if (it->result == SYNC_RES_RETRY)
            p2n_metric_add1(s->m.retries, it->entity_type, 1);
        rc = pgq_mark_failed(s->pg, s->schema, s->worker_id, &k, it->err_msg ? it->err_msg : "sync failed",
                             err_code_text(it), it->result == SYNC_RES_RETRY, s->policy.max_attempts,
                             it->next_attempt_delay_ms, NULL, err);
        if (rc == P2N_ESTATE) {
            /* the claim was lost (its lease ran out and another worker took the entity): that
               worker records the outcome; the other entities of this batch are still ours */
            P2N_WARN("claim lost before its failure was recorded", "type=%s id=%s error=\"%s\"", it->entity_type,
                     it->entity_id, err->msg);
            p2n_err_clear(err);
            rc = 0;
        }
    }
    nk = 0;
    for (size_t i = 0; i < n; i++) {
        if (items[i].result != SYNC_RES_RELEASE)
            continue;
        keys[nk].entity_type = items[i].entity_type;
        keys[nk].entity_id = items[i].entity_id;
        keys[nk].version = items[i].version;
        nk++;
    }
    if (rc == 0 && nk > 0) {
        /* entities of a blocked type come back when its block ends, the others at once */
        int64_t mono = p2n_now_mono_ms();
        size_t nb = 0;
        uint32_t delay = 0;
        for (size_t i = 0; i < nk; i++) {
            struct TypeBlock *b = type_block(s, keys[i].entity_type);
            if (b && b->until_ms > mono) {
                PgqKey t = keys[nb];
                keys[nb++] = keys[i];
                keys[i] = t;
                if ((uint32_t)(b->until_ms - mono) > delay)
                    delay = (uint32_t)(b->until_ms - mono);
            }
        }
        if (nb > 0)
            rc = pgq_release_after(s->pg, s->schema, s->worker_id, keys, nb, delay, NULL, err);
        if (rc == 0 && nk > nb)
            rc = pgq_release(s->pg, s->schema, s->worker_id, keys + nb, nk - nb, NULL, err);
        if (rc == 0)
            record_release_failures(s, items, n);
    }
    free(keys);
    if (rc < 0 && PQstatus(s->pg) != CONNECTION_OK)
        pg_disconnect(s);
    return rc;
}

static int op_record(void *ctx, SyncBatchStats *st, P2nErr *err)
{
    P2nService *s = ctx;
    const char *status = "completed";
    if (st->total > 0 && st->synced == 0)
        status = "failed";
    else if (st->failed > 0 || st->retried > 0 || st->released > 0)
        status = "partial";
    p2n_metric_add1(s->m.batches, status, 1);
    p2n_metric_observe1(s->m.batch_duration, NULL, (double)st->duration_ms / 1000.0);
    s->last_batch_s = (double)st->duration_ms / 1000.0;
    s->last_batch_wall_ms = p2n_now_wall_ms();
    if (st->total > 0) {
        s->sweep_dirty = true;
        s->work_last_ms = p2n_now_mono_ms();
    }
    if (s->pg == NULL)
        return p2n_err_set(err, P2N_ECONNLOST, "PostgreSQL is not connected");
    PgqBatch b;
    memset(&b, 0, sizeof(b));
    b.batch_type = "incremental";
    b.batch_status = status;
    b.total = (int32_t)st->total;
    b.synced = (int32_t)st->synced;
    b.failed = (int32_t)st->failed;
    b.retried = (int32_t)st->retried;
    b.released = (int32_t)st->released;
    b.duration_seconds = (double)st->duration_ms / 1000.0;
    b.worker_id = s->worker_id;
    b.started_ms = st->started_ms;
    return pgq_batch_record(s->pg, s->schema, &b, &st->batch_id, err);
}

void sync_engine_ops(P2nService *s, SyncOps *ops)
{
    memset(ops, 0, sizeof(*ops));
    ops->ctx = s;
    ops->claim = op_claim;
    ops->write = op_write;
    ops->finish = op_finish;
    ops->record_batch = op_record;
}

int sync_engine_connect(P2nService *s, P2nErr *err)
{
    int rc = pg_ensure(s, err);
    if (rc == 0)
        rc = neo_ensure(s, err);
    return rc;
}

PGconn *sync_engine_pg(P2nService *s) { return s->pg; }
const Mapping *sync_engine_mapping(const P2nService *s) { return s->map; }
const char *sync_engine_schema(const P2nService *s) { return s->schema; }
const char *sync_engine_worker_id(const P2nService *s) { return s->worker_id; }
SyncPolicy *sync_engine_policy(P2nService *s) { return &s->policy; }
const char *sync_engine_mapping_path(const P2nService *s) { return s->path; }
void sync_engine_set_error(P2nService *s, const P2nErr *err) { set_last_error(s, err); }

/* ---- daemon hooks ---- */

static int hook_connect(void *ctx, P2nErr *err)
{
    P2nService *s = ctx;
    pthread_mutex_lock(&s->lock);
    int rc = sync_engine_connect(s, err);
    /* a sync schema missing or of another version is not a fault to retry: the daemon stops */
    if (rc == 0 && (rc = pg_schema_require(s->pg, s->schema, false, err)) == P2N_ESTATE)
        set_last_error(s, err);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static void hook_disconnect(void *ctx)
{
    P2nService *s = ctx;
    pthread_mutex_lock(&s->lock);
    pg_disconnect(s);
    neo_disconnect(s);
    pthread_mutex_unlock(&s->lock);
}

static int hook_poll(void *ctx, int *has, P2nErr *err)
{
    P2nService *s = ctx;
    pthread_mutex_lock(&s->lock);
    int rc = !s->pg ? p2n_err_set(err, P2N_ECONNLOST, "PostgreSQL is not connected")
             : s->map->capture_mode == PG_CAPTURE_MODE_LOGICAL ? pg_logical_poll(s->pg, &s->lpoll, has, err)
                                                                : pgq_poll(s->pg, s->schema, &s->poll, has, err);
    if (rc < 0 && s->pg && PQstatus(s->pg) != CONNECTION_OK)
        pg_disconnect(s);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int hook_batch(void *ctx, SyncBatchStats *st, P2nErr *err)
{
    P2nService *s = ctx;
    SyncOps ops;
    sync_engine_ops(s, &ops);
    pthread_mutex_lock(&s->lock);
    s->t_read_us = s->t_neo_us = 0;
    int rc = sync_run_batch(&ops, &s->policy, s->batch_limit, st, err);
    if (rc < 0)
        set_last_error(s, err);
    int64_t read_us = s->t_read_us, neo_us = s->t_neo_us;
    pthread_mutex_unlock(&s->lock);
    if (st->total > 0)
        P2N_DEBUG("batch",
                  "total=%zu synced=%zu retried=%zu failed=%zu released=%zu ms=%lld claim_ms=%.1f read_ms=%.1f"
                  " neo4j_ms=%.1f finish_ms=%.1f",
                  st->total, st->synced, st->retried, st->failed, st->released, (long long)st->duration_ms,
                  (double)st->claim_us / 1e3, (double)read_us / 1e3, (double)neo_us / 1e3,
                  (double)st->finish_us / 1e3);
    return rc;
}

/*
 * Orphan placeholders. A batch that read a row before its relationship target was deleted, and
 * writes after that delete synced (another worker, or retries after a deadlock), MERGEs a
 * placeholder for the target; the row's own later sync removes the relationship but cannot know
 * the placeholder is then alone (found by the soak: 3 such nodes in 160k changes). A placeholder
 * (a node without _p2n_version) is only ever an end of relationships, so one without any stands
 * for nothing: once the daemon has been idle for 2 s after work, and at least every 5 minutes
 * while busy, it removes them, 10,000 per label at a time. A plain DELETE: should a relationship
 * reach the node meanwhile, the DELETE fails and the node stays. Runs on the loop's thread
 * between batches. Called with s->lock held.
 */
static void orphan_sweep(P2nService *s)
{
    int64_t now = p2n_now_mono_ms();
    if (!s->sweep_dirty || !s->neo || !bolt_conn_usable(s->neo) || bolt_conn_in_tx(s->neo))
        return;
    bool idle = now - s->work_last_ms >= 2000 && now - s->sweep_last_ms >= 10000;
    if (!idle && now - s->sweep_last_ms < 300000)
        return;
    s->sweep_last_ms = now;
    bool ok = true;
    int64_t removed = 0;
    for (size_t i = 0; i < s->map->nentities; i++) {
        const MappingEntity *e = &s->map->entities[i];
        if (e->kind != MAPPING_NODE)
            continue;
        P2nBuf q;
        p2n_buf_init(&q);
        p2n_buf_append_str(&q, "MATCH (p:");
        mapping_cypher_ident(&q, e->labels[0].s);
        p2n_buf_append_str(&q, ") WHERE p." MAPPING_VERSION_PROP " IS NULL AND NOT EXISTS { (p)--() }\n"
                               "WITH p LIMIT 10000 DELETE p");
        p2n_buf_append_byte(&q, '\0');
        BoltSummary sum;
        memset(&sum, 0, sizeof(sum));
        P2nErr err;
        p2n_err_clear(&err);
        if (q.failed || bolt_exec(s->neo, (const char *)q.data, NULL, 0, NULL, &sum, &err) < 0) {
            P2N_WARN("orphan placeholder sweep failed", "label=%s error=\"%s\"", e->labels[0].s,
                     q.failed ? "out of memory" : err.msg);
            ok = false;
        }
        removed += sum.nodes_deleted;
        p2n_buf_free(&q);
        if (!ok)
            break;
    }
    if (ok)
        s->sweep_dirty = false;
    if (removed > 0)
        P2N_INFO("orphan placeholders removed", "nodes=%lld", (long long)removed);
}

/* Refreshes the snapshot the HTTP threads serve, the provider gauges and the alerts. */
static void hook_tick(void *ctx)
{
    P2nService *s = ctx;
    if (p2n_sd_watchdog_ms() > 0)
        p2n_sd_notify("WATCHDOG=1");
    HttpPgSnapshot snap;
    P2nErr err;
    pthread_mutex_lock(&s->lock);
    orphan_sweep(s);
    int rc = s->pg ? http_pg_snapshot_load(s->pg, s->schema, ENGINE_RECENT, &snap, &err) : P2N_ECONNLOST;
    /* PostgreSQL answers even when the sync schema is missing: that is "not initialized" */
    bool pg_up = s->pg != NULL && PQstatus(s->pg) == CONNECTION_OK;
    bool missing = rc < 0 && pg_up && err.code == P2N_EPG &&
                   (strcmp(err.sqlstate, "42P01") == 0 || strcmp(err.sqlstate, "42883") == 0 ||
                    strcmp(err.sqlstate, "3F000") == 0);
    if (rc < 0 && !missing)
        pg_up = false;
    bool neo_up = s->neo != NULL && bolt_conn_usable(s->neo);
    double lat = s->last_latency_s, bd = s->last_batch_s;
    int64_t last_batch_ms = s->last_batch_wall_ms;
    pthread_mutex_unlock(&s->lock);

    p2n_metric_set1(s->m.postgresql_up, NULL, pg_up ? 1 : 0);
    p2n_metric_set1(s->m.neo4j_up, NULL, neo_up ? 1 : 0);
    SyncAlertObs o = sync_alert_obs_unknown(p2n_now_wall_ms());
    o.sync_latency_s = lat;
    o.batch_duration_s = bd;
    o.last_batch_ms = last_batch_ms;
    if (rc == 0) {
        http_pg_snapshot_metrics(&snap, &s->m);
        http_pg_snapshot_obs(&snap, &o);
    }
    SyncAlertEvent ev[SYNC_ALERT_COUNT];
    pthread_mutex_lock(&s->snap_lock);
    size_t nev = sync_alerts_evaluate(s->alerts, &o, ev, SYNC_ALERT_COUNT);
    SyncAlertStatus as[SYNC_ALERT_COUNT];
    sync_alerts_snapshot(s->alerts, as);
    for (int k = 0; k < SYNC_ALERT_COUNT; k++) {
        const char *lv[2] = {sync_alert_name(as[k].kind), sync_alert_severity(as[k].kind)};
        p2n_metric_set(s->m.alert_firing, lv, as[k].state == SYNC_ALERT_STATE_FIRING ? 1 : 0);
    }
    if (rc == 0) {
        if (s->have_snap)
            http_pg_snapshot_free(&s->snap);
        s->snap = snap;
        s->have_snap = true;
    } else if (missing && s->have_snap) {
        http_pg_snapshot_free(&s->snap); /* uninstalled meanwhile: its numbers are gone */
        s->have_snap = false;
    }
    s->pg_up = pg_up;
    s->neo_up = neo_up;
    pthread_mutex_unlock(&s->snap_lock);
    sync_alerts_report(s->alerts, ev, nev); /* logs each change once, queues the webhook call */
}

/* ---- HTTP provider ---- */

static int prov_status(void *ctx, P2nBuf *out)
{
    P2nService *s = ctx;
    pthread_mutex_lock(&s->snap_lock);
    HttpStatus st;
    memset(&st, 0, sizeof(st));
    if (s->have_snap)
        http_pg_snapshot_status(&s->snap, &st);
    else
        st.oldest_pending_age_s = st.lag_s = -1;
    st.now_ms = p2n_now_wall_ms();
    st.initialized = s->have_snap;
    st.postgres_connected = s->pg_up;
    st.neo4j_connected = s->neo_up;
    st.alerts = s->alerts;
    int rc = http_status_render(&st, out);
    pthread_mutex_unlock(&s->snap_lock);
    return rc;
}

static int prov_ready(void *ctx)
{
    P2nService *s = ctx;
    pthread_mutex_lock(&s->snap_lock);
    int r = s->pg_up && s->neo_up;
    pthread_mutex_unlock(&s->snap_lock);
    return r;
}

int p2n_service_serve_http(P2nService *s, const char *addr, unsigned port, const char *token)
{
    if (s->http != NULL)
        return P2N_ESTATE;
    if (port > 65535) {
        snprintf(s->last_error, sizeof(s->last_error), "invalid HTTP port %u", port);
        return P2N_EINVAL;
    }
    HttpConfig cfg;
    http_config_defaults(&cfg);
    cfg.bind_addr = addr;
    cfg.port = (uint16_t)port;
    cfg.bearer_token = token;
    HttpProvider p;
    memset(&p, 0, sizeof(p));
    p.ctx = s;
    p.status_json = prov_status;
    p.ready = prov_ready;
    P2nErr err;
    p2n_err_clear(&err);
    int rc = http_server_start(&cfg, &p, s->reg, &s->http, &err);
    if (rc < 0)
        set_last_error(s, &err);
    else
        hook_tick(s); /* a first snapshot before the first request */
    return rc;
}

unsigned p2n_service_http_port(const P2nService *s)
{
    return s->http ? http_server_port(s->http) : 0;
}

/* ---- the service ---- */

static void errbuf_set(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void errbuf_set(char *buf, size_t size, const char *fmt, ...)
{
    if (buf == NULL || size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    p2n_log_redact(buf);
}

static void make_worker_id(char *buf, size_t size)
{
    char host[128] = "localhost";
    if (gethostname(host, sizeof(host) - 1) != 0)
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    unsigned r = 0;
    FILE *f = fopen("/dev/urandom", "rb");
    if (f == NULL || fread(&r, sizeof(r), 1, f) != 1)
        r = (unsigned)((uint64_t)p2n_now_mono_us() ^ ((uint64_t)getpid() << 16));
    if (f)
        fclose(f);
    snprintf(buf, size, "%s:%ld:%08x", host, (long)getpid(), r);
}

int p2n_service_open(const char *mapping_path, P2nService **out, char *errbuf, size_t errbuf_size)
{
    *out = NULL;
    P2nErr err;
    p2n_err_clear(&err);
    MappingDiags diags = {0};
    Mapping *m = NULL;
    if (mapping_load_file(mapping_path, NULL, NULL, &m, &diags, &err) < 0) {
        errbuf_set(errbuf, errbuf_size, "%s", diags.n ? diags.msgs[0] : err.msg);
        int code = err.code;
        mapping_diags_free(&diags);
        return code ? code : P2N_ECONFIG;
    }
    P2nService *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        mapping_free(m);
        errbuf_set(errbuf, errbuf_size, "out of memory");
        return P2N_ENOMEM;
    }
    s->map = m;
    s->path = strdup(mapping_path);
    s->blocked = calloc(m->nentities ? m->nentities : 1, sizeof(*s->blocked));
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->snap_lock, NULL);
    s->schema = strdup(mapping_sync_schema(m));
    make_worker_id(s->worker_id, sizeof(s->worker_id));
    sync_policy_default(&s->policy);
    s->policy.max_attempts = (uint32_t)m->sync.max_attempts;
    s->policy.timeout_ms = (uint32_t)m->sync.sync_timeout_ms;
    p2n_backoff_init(&s->policy.backoff, (uint32_t)m->sync.backoff_base_ms, (uint32_t)m->sync.backoff_cap_ms, 0.5);
    s->timeout_ms = (uint32_t)m->sync.sync_timeout_ms;
    s->lease_ms = 2u * s->timeout_ms + ENGINE_LEASE_MARGIN_MS;
    s->dump_tx = getenv("P2N_DUMP_TX"); /* read once, not per batch */
    s->batch_limit = (size_t)m->sync.batch_size_limit;
    s->reg = p2n_metrics_new();
    s->alerts = sync_alerts_from_mapping(&m->alerts, &err);
    int rc = 0;
    BoltConfig bc;
    MappingCatalog cat;
    memset(&bc, 0, sizeof(bc));
    if (s->schema == NULL || s->path == NULL || s->reg == NULL || s->alerts == NULL) {
        bool wh = s->alerts == NULL && err.code != 0; /* a webhook that cannot be set up */
        errbuf_set(errbuf, errbuf_size, "%s", wh ? err.msg : "out of memory");
        rc = wh ? err.code : P2N_ENOMEM;
        goto fail;
    }
    if ((rc = pgu_schema_check(s->schema, &err)) < 0 || (rc = p2n_metrics_register_std(s->reg, &s->m, &err)) < 0) {
        errbuf_set(errbuf, errbuf_size, "%s", err.msg);
        goto fail;
    }
    bc.uri = m->neo4j_uri;
    bc.user = m->neo4j_user;
    bc.password = m->neo4j_password;
    bc.password_from = m->neo4j_password_from;
    bc.user_from = m->neo4j_user_from;
    bc.database = m->neo4j_database && *m->neo4j_database ? m->neo4j_database : NULL;
    bc.connect_timeout_ms = 5000;
    bc.read_timeout_ms = (int)(s->timeout_ms + 10000u);
    bc.write_timeout_ms = (int)(s->timeout_ms + 10000u);
    if ((rc = bolt_driver_new(&bc, &s->drv, &err)) < 0) {
        errbuf_set(errbuf, errbuf_size, "%s", err.msg);
        goto fail;
    }
    if ((rc = pg_ensure(s, &err)) < 0) {
        errbuf_set(errbuf, errbuf_size, "%s", err.msg);
        goto fail;
    }
    if ((rc = mapping_catalog_load(s->pg, &cat, &err)) < 0) {
        errbuf_set(errbuf, errbuf_size, "%s", err.msg);
        goto fail;
    }
    rc = mapping_resolve(m, &cat, &diags, &err);
    mapping_catalog_free(&cat);
    if (rc == 0)
        rc = mapping_check_sql(m, s->pg, &diags, &err);
    if (rc < 0) {
        if (diags.n > 1)
            errbuf_set(errbuf, errbuf_size, "%s (and %zu more problems: run pg2neo check)", diags.msgs[0], diags.n - 1);
        else
            errbuf_set(errbuf, errbuf_size, "%s", diags.n ? diags.msgs[0] : err.msg);
        goto fail;
    }
    mapping_diags_free(&diags);
    if (s->m.build_info)
        p2n_metric_set1(s->m.build_info, p2n_version(), 1);
    *out = s;
    return 0;
fail:
    mapping_diags_free(&diags);
    p2n_service_close(s);
    return rc ? rc : P2N_ECONFIG;
}

const char *p2n_service_error(const P2nService *s)
{
    return s ? s->last_error : "";
}

static void report(P2nReportFn fn, void *ctx, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void report(P2nReportFn fn, void *ctx, const char *fmt, ...)
{
    if (fn == NULL)
        return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fn(ctx, line);
}

/* The capture spec of each mapped table. Strings belong to the mapping, arrays to *lists. */
static int capture_tables(const Mapping *m, PgCaptureTable **out, void ***lists, size_t *nlists, P2nErr *err)
{
    size_t n = m->nentities;
    PgCaptureTable *t = calloc(n ? n : 1, sizeof(*t));
    void **ls = calloc(3 * (n ? n : 1), sizeof(*ls)); /* per entity: keys, watched, arrays (arrays of strings) */
    if (t == NULL || ls == NULL) {
        free(t);
        free(ls);
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        const MappingEntity *e = &m->entities[i];
        const char **keys = calloc(e->nkeys + 1, sizeof(*keys));
        const char **watched = NULL, **arrays = NULL;
        if (keys == NULL || mapping_capture_columns(e, &watched, &arrays, err) < 0) {
            free(keys);
            *out = t;
            *lists = ls;
            *nlists = 3 * i;
            return err->code ? err->code : p2n_err_set(err, P2N_ENOMEM, "out of memory");
        }
        for (size_t k = 0; k < e->nkeys; k++)
            keys[k] = e->cols[e->key_cols[k]].column;
        ls[3 * i] = keys;
        ls[3 * i + 1] = watched;
        ls[3 * i + 2] = arrays;
        t[i].schema = e->schema ? e->schema : m->source_schema;
        t[i].table = e->table;
        t[i].entity_type = e->name;
        t[i].key_columns = keys;
        t[i].n_keys = e->nkeys;
        size_t nw = 0, na = 0;
        while (watched && watched[nw])
            nw++;
        while (arrays && arrays[na])
            na++;
        t[i].watched_columns = watched;
        t[i].n_watched = nw;
        t[i].array_columns = arrays;
        t[i].n_arrays = na;
        t[i].mode = (PgCaptureMode)m->capture_mode;
    }
    *out = t;
    *lists = ls;
    *nlists = 3 * n;
    return 0;
}

static void capture_tables_free(PgCaptureTable *t, void **lists, size_t nlists)
{
    for (size_t i = 0; i < nlists; i++)
        free(lists[i]);
    free(lists);
    free(t);
}

static void join_list(char *buf, size_t size, const char *const *v, size_t n, const char *none)
{
    buf[0] = '\0';
    if (n == 0) {
        snprintf(buf, size, "%s", none);
        return;
    }
    size_t len = 0;
    for (size_t i = 0; i < n && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? "," : "", v[i]);
}

int sync_engine_capture_tables(const P2nService *s, PgCaptureTable **t, size_t *n, void ***lists, size_t *nlists,
                               P2nErr *err)
{
    *n = s->map->nentities;
    int rc = capture_tables(s->map, t, lists, nlists, err);
    if (rc < 0) {
        capture_tables_free(*t, *lists, *nlists);
        *t = NULL;
        *lists = NULL;
        *nlists = 0;
        *n = 0;
    }
    return rc;
}

void sync_engine_capture_free(PgCaptureTable *t, void **lists, size_t nlists)
{
    if (t)
        capture_tables_free(t, lists, nlists);
}

int p2n_service_install(P2nService *s, int dry_run, P2nReportFn rep, void *rctx)
{
    P2nErr err;
    p2n_err_clear(&err);
    pthread_mutex_lock(&s->lock);
    PgCaptureTable *t = NULL;
    void **lists = NULL;
    size_t nlists = 0;
    int from = 0, to = pg_schema_latest();
    int rc = pg_ensure(s, &err);
    if (rc < 0)
        goto out;
    if (dry_run) {
        if ((rc = pg_schema_version(s->pg, s->schema, &from, &err)) < 0)
            goto out;
        if (from == to)
            report(rep, rctx, "sync schema \"%s\" is up to date (version %d)", s->schema, to);
        else
            report(rep, rctx, "would upgrade sync schema \"%s\" from version %d to %d", s->schema, from, to);
    } else {
        if ((rc = pg_schema_migrate(s->pg, s->schema, &from, &to, &err)) < 0)
            goto out;
        if (from == to)
            report(rep, rctx, "sync schema \"%s\" is up to date (version %d)", s->schema, to);
        else
            report(rep, rctx, "sync schema \"%s\" upgraded from version %d to %d", s->schema, from, to);
    }
    if ((rc = capture_tables(s->map, &t, &lists, &nlists, &err)) < 0)
        goto out;
    if (!dry_run && (rc = pg_capture_install(s->pg, s->schema, t, s->map->nentities, &err)) < 0)
        goto out;
    for (size_t i = 0; i < s->map->nentities; i++) {
        char keys[512], watched[1024], arrays[512];
        join_list(keys, sizeof(keys), t[i].key_columns, t[i].n_keys, "primary key");
        join_list(watched, sizeof(watched), t[i].watched_columns, t[i].n_watched, "every column");
        join_list(arrays, sizeof(arrays), t[i].array_columns, t[i].n_arrays, "none");
        report(rep, rctx, "%s %s.%s as %s (key %s; watching %s; arrays %s)", dry_run ? "would capture" : "captured",
               t[i].schema, t[i].table, t[i].entity_type, keys, watched, arrays);
    }
    if (!dry_run) {
        if ((rc = neo_ensure(s, &err)) < 0)
            goto out;
    }
    for (size_t i = 0; i < s->map->nentities; i++) {
        const MappingEntity *e = &s->map->entities[i];
        for (size_t k = 0; k < e->plan.nschema; k++) {
            if (!dry_run) {
                if ((rc = bolt_exec(s->neo, e->plan.schema[k], NULL, 0, NULL, NULL, &err)) < 0) {
                    p2n_err_prefix(&err, "could not create a Neo4j constraint for entity \"%s\"", e->name);
                    goto out;
                }
            }
            report(rep, rctx, "%s %s", dry_run ? "would run in Neo4j:" : "Neo4j:", e->plan.schema[k]);
        }
    }
    if (!dry_run) {
        /* a graph synced by an earlier install holds versions this sequence has not reached */
        int64_t gmax = -1;
        bool raised = false;
        if ((rc = sync_version_floor(s->pg, s->neo, s->schema, s->map, &gmax, &raised, &err)) < 0)
            goto out;
        if (raised)
            report(rep, rctx, "version sequence raised to %lld, the highest version the graph holds", (long long)gmax);
    }
out:
    if (t)
        capture_tables_free(t, lists, nlists);
    if (rc < 0)
        set_last_error(s, &err);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int p2n_service_status(P2nService *s, P2nServiceStatus *st)
{
    memset(st, 0, sizeof(*st));
    st->oldest_pending_age_s = -1;
    P2nErr err;
    p2n_err_clear(&err);
    pthread_mutex_lock(&s->lock);
    int rc = pg_ensure(s, &err);
    int ver = 0;
    if (rc == 0) {
        st->postgres_connected = 1;
        rc = pg_schema_version(s->pg, s->schema, &ver, &err);
    }
    if (rc == 0 && ver > 0) {
        st->initialized = 1;
        /* fold the change log first, so that recent changes count as pending */
        P2nErr e1;
        p2n_err_clear(&e1);
        if (logical_pull(s, &e1) < 0 || pgq_fold(s->pg, s->schema, NULL, &e1) < 0)
            P2N_DEBUG("status: could not fold", "error=\"%s\"", e1.msg);
        HttpPgSnapshot snap;
        rc = http_pg_snapshot_load(s->pg, s->schema, 1, &snap, &err);
        if (rc == 0) {
            st->pending_entities = snap.pending;
            st->in_progress_entities = snap.in_progress;
            st->synced_entities = snap.synced;
            st->failed_entities = snap.failed;
            st->conflict_count = snap.conflicts;
            st->oldest_pending_age_s = snap.oldest_pending_age_s;
            http_pg_snapshot_free(&snap);
        }
    }
    P2nErr e2;
    st->neo4j_connected = neo_ensure(s, &e2) == 0;
    st->scheduler_running = s->thread_running;
    if (rc < 0)
        set_last_error(s, &err);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int p2n_service_status_json(P2nService *s, char **json)
{
    *json = NULL;
    P2nErr err;
    p2n_err_clear(&err);
    pthread_mutex_lock(&s->lock);
    int rc = pg_ensure(s, &err);
    if (rc == 0) {
        P2nErr e1;
        p2n_err_clear(&e1);
        if (logical_pull(s, &e1) < 0 || pgq_fold(s->pg, s->schema, NULL, &e1) < 0)
            P2N_DEBUG("status: could not fold", "error=\"%s\"", e1.msg);
    }
    P2nErr e2;
    p2n_err_clear(&e2);
    (void)neo_ensure(s, &e2); /* only to report neo4jConnected */
    if (rc < 0)
        set_last_error(s, &err);
    pthread_mutex_unlock(&s->lock);
    hook_tick(s); /* loads the snapshot the HTTP API serves */
    P2nBuf b;
    p2n_buf_init(&b);
    int r2 = prov_status(s, &b);
    if (r2 < 0 || b.failed) {
        p2n_buf_free(&b);
        return r2 < 0 ? r2 : P2N_ENOMEM;
    }
    *json = p2n_buf_steal(&b);
    return rc;
}

int p2n_sync_batch(P2nService *s, long limit, long timeout_ms, P2nSyncStats *out)
{
    memset(out, 0, sizeof(*out));
    SyncOps ops;
    sync_engine_ops(s, &ops);
    P2nErr err;
    p2n_err_clear(&err);
    SyncBatchStats st;
    pthread_mutex_lock(&s->lock);
    SyncPolicy pol = s->policy;
    if (timeout_ms > 0)
        pol.timeout_ms = (uint32_t)timeout_ms;
    int rc = sync_run_batch(&ops, &pol, limit > 0 ? (size_t)limit : s->batch_limit, &st, &err);
    if (rc < 0)
        set_last_error(s, &err);
    pthread_mutex_unlock(&s->lock);
    out->batch_id = st.batch_id;
    out->total_entities = (long long)st.total;
    out->synced_count = (long long)st.synced;
    out->failed_count = (long long)st.failed;
    out->retried_count = (long long)st.retried;
    out->released_count = (long long)st.released;
    out->duration_ms = st.duration_ms;
    return rc;
}

int p2n_sync_resync(P2nService *s, long *queued)
{
    P2nErr err;
    p2n_err_clear(&err);
    pthread_mutex_lock(&s->lock);
    int rc = pg_ensure(s, &err);
    long n = 0;
    char *sql = rc == 0 ? pgu_schema_subst("INSERT INTO @SCHEMA@.graph_sync_log (version, op, entity_type, entity_ids)"
                                           " VALUES (nextval('@SCHEMA@.graph_sync_version_seq'::regclass), 't', $1,"
                                           " ARRAY['*'])",
                                           s->schema, &err)
                      : NULL;
    if (rc == 0 && sql == NULL)
        rc = err.code ? err.code : P2N_ENOMEM;
    for (size_t i = 0; rc == 0 && i < s->map->nentities; i++) {
        const char *p[1] = {s->map->entities[i].name};
        rc = pgu_query(s->pg, sql, 1, p, NULL, "could not queue a resync", &err);
        if (rc == 0)
            n++;
    }
    free(sql);
    if (rc < 0)
        set_last_error(s, &err);
    pthread_mutex_unlock(&s->lock);
    if (queued)
        *queued = n;
    return rc;
}

/* ---- full sync, verify, conflicts (src/sync/fullsync.c, verify.c, conflicts.c) ---- */

static int tool_env_open(P2nService *s, FsEnv *env, P2nErr *err)
{
    if (getenv("P2N_SYNC_SCHEMA") == NULL || strcmp(getenv("P2N_SYNC_SCHEMA"), s->schema) != 0)
        setenv("P2N_SYNC_SCHEMA", s->schema, 1); /* FsEnv reads the sync schema from there */
    return fullsync_env_open(s->path, env, NULL, err);
}

int p2n_sync_full(P2nService *s, const char *type, P2nFullSyncStats *st)
{
    memset(st, 0, sizeof(*st));
    P2nErr err;
    p2n_err_clear(&err);
    FsEnv env;
    int rc = tool_env_open(s, &env, &err);
    if (rc == 0) {
        FullsyncOptions o;
        memset(&o, 0, sizeof(o));
        o.type = type;
        FullsyncResult res;
        memset(&res, 0, sizeof(res));
        rc = fullsync_run(&env, &o, &res, &err);
        st->rows = res.rows;
        st->orphans_removed = res.orphans_removed;
        st->seconds = res.seconds;
        fullsync_result_free(&res);
        fullsync_env_close(&env);
    }
    if (rc < 0)
        set_last_error(s, &err);
    return rc;
}

int p2n_verify_consistency(P2nService *s, int repair, P2nVerifyStats *st)
{
    memset(st, 0, sizeof(*st));
    P2nErr err;
    p2n_err_clear(&err);
    FsEnv env;
    int rc = tool_env_open(s, &env, &err);
    if (rc == 0) {
        VerifyOptions o;
        memset(&o, 0, sizeof(o));
        o.repair = repair != 0;
        VerifyResult res;
        memset(&res, 0, sizeof(res));
        rc = verify_run(&env, &o, &res, &err);
        st->types = (long long)res.ntypes;
        st->differences = res.differences;
        st->queued = res.queued;
        st->seconds = res.seconds;
        verify_result_free(&res);
        fullsync_env_close(&env);
    }
    if (rc < 0)
        set_last_error(s, &err);
    return rc;
}

int p2n_conflict_detect(P2nService *s, const char *type, const char *id, P2nConflictReport *r)
{
    memset(r, 0, sizeof(*r));
    P2nErr err;
    p2n_err_clear(&err);
    FsEnv env;
    int rc = tool_env_open(s, &env, &err);
    if (rc == 0) {
        ConflictReport cr;
        memset(&cr, 0, sizeof(cr));
        rc = conflicts_detect(&env, type, id, &cr, &err);
        if (rc == 0) {
            r->in_postgres = cr.in_postgres;
            r->in_neo4j = cr.in_neo4j;
            r->nfields = cr.nfields;
            P2nBuf b;
            p2n_buf_init(&b);
            conflicts_report_json(&cr, type, id, &b);
            p2n_buf_append(&b, "", 1);
            r->json = p2n_buf_steal(&b);
            if (r->json == NULL)
                rc = p2n_err_set(&err, P2N_ENOMEM, "out of memory");
        }
        conflicts_report_free(&cr);
        fullsync_env_close(&env);
    }
    if (rc < 0)
        set_last_error(s, &err);
    return rc;
}

void p2n_conflict_report_free(P2nConflictReport *r)
{
    if (r == NULL)
        return;
    free(r->json);
    memset(r, 0, sizeof(*r));
}

int p2n_conflict_resolve(P2nService *s, const char *type, const char *id)
{
    P2nErr err;
    p2n_err_clear(&err);
    if (mapping_entity_find(s->map, type) == NULL) {
        p2n_err_set(&err, P2N_ENOTFOUND, "entity type \"%s\" is not in the mapping", type);
        set_last_error(s, &err);
        return err.code;
    }
    char os_user[256];
    audit_os_user(os_user, sizeof(os_user));
    pthread_mutex_lock(&s->lock);
    int rc = pg_ensure(s, &err);
    if (rc == 0) /* queues it and writes the 'resolve' audit row (src/sync/audit.h) */
        rc = audit_queue_resolve(s->pg, s->schema, type, id, os_user, NULL, &err);
    if (rc < 0)
        set_last_error(s, &err);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/*
 * The daemon's stop: the last batch's deferred marks are written, then every claim of this worker
 * (the prefetched batch's too) is released, so that no entity waits for a lease to run out. Runs
 * before the loop closes its connections; reconnects PostgreSQL once if the loop had lost it (a
 * failure is logged: the leases then bring the entities back). Idempotent.
 */
static void hook_shutdown(void *ctx)
{
    P2nService *s = ctx;
    pthread_mutex_lock(&s->lock);
    s->prefetch = false;
    if (s->ndeferred > 0 || s->claimed) {
        P2nErr err;
        p2n_err_clear(&err);
        if (pg_ensure(s, &err) < 0) {
            P2N_WARN("could not release the claims at shutdown (their leases will bring them back)",
                     "entities_marked_later=%zu error=\"%s\"", s->ndeferred, err.msg);
        } else if (deferred_flush(s, &err) < 0) {
            P2N_WARN("could not mark the last batch synced (it will sync again)", "error=\"%s\"", err.msg);
        }
    }
    deferred_free(s);
    pthread_mutex_unlock(&s->lock);
    release_all(s); /* also the batch a prefetch had claimed */
    pthread_mutex_lock(&s->lock);
    prefetch_drop(s);
    pthread_mutex_unlock(&s->lock);
}

static void release_all(P2nService *s)
{
    pthread_mutex_lock(&s->lock);
    P2nErr err;
    size_t n = 0;
    if (s->claimed && s->pg && PQstatus(s->pg) == CONNECTION_OK) {
        if (pgq_release(s->pg, s->schema, s->worker_id, NULL, 0, &n, &err) < 0)
            P2N_WARN("could not release claims", "error=\"%s\"", err.msg);
        else if (n > 0)
            P2N_INFO("claims released", "entities=%zu", n);
    }
    pthread_mutex_unlock(&s->lock);
}

int p2n_scheduler_run(P2nService *s, volatile sig_atomic_t *stop)
{
    SyncDaemonHooks h;
    memset(&h, 0, sizeof(h));
    h.ctx = s;
    h.connect = hook_connect;
    h.disconnect = hook_disconnect;
    h.poll = hook_poll;
    h.batch = hook_batch;
    h.tick = hook_tick;
    h.shutdown = hook_shutdown;
    SyncDaemonConfig c;
    sync_daemon_config_default(&c);
    c.auto_sync = s->map->sync.enable_auto_sync;
    c.interval_ms = (uint32_t)s->map->sync.sync_interval_ms;
    SyncDaemonStats ds;
    memset(&ds, 0, sizeof(ds));
    pthread_mutex_lock(&s->lock);
    s->sweep_dirty = true; /* one orphan sweep once idle after the start: earlier runs may have left some */
    s->work_last_ms = p2n_now_mono_ms(); /* ...not before 2 s without work */
    s->sweep_last_ms = s->work_last_ms - 10000;
    s->async_commit = true;
    s->prefetch = true;
    if (s->pg && PQstatus(s->pg) == CONNECTION_OK)
        PQclear(PQexec(s->pg, "SET synchronous_commit = off"));
    pthread_mutex_unlock(&s->lock);
    P2N_INFO("sync daemon started", "worker=%s schema=%s auto_sync=%s interval_ms=%u batch=%zu timeout_ms=%u",
             s->worker_id, s->schema, c.auto_sync ? "on" : "off", c.interval_ms, s->batch_limit, s->timeout_ms);
    SyncMaint *maint = NULL; /* conflict scan + audit pruning, on connections of its own */
    P2nErr merr;
    if (sync_alerts_start(s->alerts, &merr) < 0) /* alert changes logged and posted from now on */
        P2N_WARN("alert webhook not started", "error=\"%s\"", merr.msg);
    if (sync_maint_start(s->path, s->map->conninfo, s->schema, &s->map->sync, &maint, &merr) < 0)
        P2N_WARN("no conflict scan or audit pruning", "error=\"%s\"", merr.msg);
    int rc = sync_daemon_run(&h, &c, stop, &ds);
    sync_maint_stop(maint);
    hook_shutdown(s); /* a no-op when the daemon's own call did it */
    P2N_INFO("sync daemon stopped", "batches=%llu entities=%llu reconnects=%llu faults=%llu prefetched=%llu",
             (unsigned long long)ds.batches, (unsigned long long)ds.entities, (unsigned long long)ds.reconnects,
             (unsigned long long)ds.faults, (unsigned long long)s->prefetched);
    return rc;
}

static void *scheduler_main(void *arg)
{
    P2nService *s = arg;
    s->thread_rc = p2n_scheduler_run(s, &s->stop);
    return NULL;
}

int p2n_scheduler_start(P2nService *s)
{
    if (s->thread_running)
        return P2N_ESTATE;
    s->stop = 0;
    int e = pthread_create(&s->thread, NULL, scheduler_main, s);
    if (e != 0) {
        snprintf(s->last_error, sizeof(s->last_error), "could not start the scheduler: %s", strerror(e));
        return P2N_EIO;
    }
    s->thread_running = true;
    return 0;
}

int p2n_scheduler_stop(P2nService *s)
{
    if (!s->thread_running)
        return 0;
    s->stop = 1;
    pthread_join(s->thread, NULL);
    s->thread_running = false;
    return s->thread_rc;
}

void p2n_service_close(P2nService *s)
{
    if (s == NULL)
        return;
    p2n_scheduler_stop(s);
    if (s->http) {
        http_server_stop(s->http);
        s->http = NULL;
    }
    deferred_free(s);
    release_all(s);
    prefetch_drop(s);
    pg_disconnect(s);
    neo_disconnect(s);
    bolt_driver_free(s->drv);
    if (s->have_snap)
        http_pg_snapshot_free(&s->snap);
    sync_alerts_free(s->alerts);
    p2n_metrics_free(s->reg);
    mapping_free(s->map);
    free(s->blocked);
    free(s->schema);
    free(s->path);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->snap_lock);
    free(s);
}
