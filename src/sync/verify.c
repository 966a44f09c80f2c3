/*
 * pg2neo verify: streams PostgreSQL and Neo4j in entity-id order, merges them and reports (and
 * with repair queues) every difference. See verify.h.
 */
#include "sync/verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/retry.h"
#include "common/time.h"
#include "pg/pgutil.h"

/* ---- comparison ---- */

static bool is_bookkeeping(const char *key)
{
    return strncmp(key, "_p2n_", 5) == 0;
}

static const PsValue *map_get_live(const PsValue *map, const char *key)
{
    const PsValue *v = ps_map_get(map, key);
    return v && v->type != PS_NULL ? v : NULL;
}

static bool list_has(const PsValue *l, const PsValue *x)
{
    if (l == NULL || l->type != PS_LIST)
        return false;
    for (uint32_t i = 0; i < l->u.list.len; i++)
        if (ps_value_equal(&l->u.list.items[i], x))
            return true;
    return false;
}

/* Set equality of two lists (duplicates ignored: MERGE makes one relationship per target). */
static bool set_equal(const PsValue *a, const PsValue *b)
{
    uint32_t na = a && a->type == PS_LIST ? a->u.list.len : 0;
    uint32_t nb = b && b->type == PS_LIST ? b->u.list.len : 0;
    for (uint32_t i = 0; i < na; i++)
        if (!list_has(b, &a->u.list.items[i]))
            return false;
    for (uint32_t i = 0; i < nb; i++)
        if (!list_has(a, &b->u.list.items[i]))
            return false;
    return true;
}

void verify_compare(const MappingEntity *e, const PsValue *pgrow, const PsValue *rec, VerifyFieldFn fn, void *ctx,
                    bool *prop_diff, bool *rel_diff)
{
    *prop_diff = *rel_diff = false;
    const PsValue *pp = ps_map_get(pgrow, "p");
    const PsValue *np = rec->u.list.len > 1 ? &rec->u.list.items[1] : NULL;
    if (pp && pp->type == PS_MAP) {
        for (uint32_t i = 0; i < pp->u.map.len; i++) {
            const PsMapEntry *me = &pp->u.map.entries[i];
            if (me->value.type == PS_NULL || is_bookkeeping(me->key))
                continue;
            const PsValue *nv = np ? map_get_live(np, me->key) : NULL;
            if (nv == NULL || !ps_value_equal(&me->value, nv)) {
                *prop_diff = true;
                if (fn)
                    fn(ctx, me->key, false, &me->value, nv);
            }
        }
    }
    if (np && np->type == PS_MAP) {
        for (uint32_t i = 0; i < np->u.map.len; i++) {
            const PsMapEntry *me = &np->u.map.entries[i];
            if (me->value.type == PS_NULL || is_bookkeeping(me->key))
                continue;
            if (pp == NULL || map_get_live(pp, me->key) == NULL) {
                *prop_diff = true;
                if (fn)
                    fn(ctx, me->key, false, NULL, &me->value);
            }
        }
    }
    if (e->kind == MAPPING_NODE) {
        for (size_t i = 0; i < e->nrels; i++) {
            char key[32];
            snprintf(key, sizeof(key), "r%zu", i);
            const PsValue *pl = ps_map_get(pgrow, key);
            const PsValue *nl = rec->u.list.len > 2 + i ? &rec->u.list.items[2 + i] : NULL;
            if (!set_equal(pl, nl)) {
                *rel_diff = true;
                if (fn) {
                    char field[300];
                    snprintf(field, sizeof(field), e->rels[i].incoming ? "<-[:%s]-" : "-[:%s]->", e->rels[i].type);
                    fn(ctx, field, true, pl, nl);
                }
            }
        }
    } else {
        static const char *const ends[2] = {"f", "t"};
        for (uint32_t k = 0; k < 2; k++) {
            const PsValue *pv = ps_map_get(pgrow, ends[k]);
            const PsValue *nv = rec->u.list.len > 2 + k ? &rec->u.list.items[2 + k] : NULL;
            if (pv == NULL || nv == NULL || !ps_value_equal(pv, nv)) {
                *rel_diff = true;
                if (fn)
                    fn(ctx, k ? "to" : "from", true, pv, nv);
            }
        }
    }
}

/* ---- the merge ---- */

int verify_entity(FsEnv *env, const MappingEntity *e, const char *const *ids, size_t nids, int fetch,
                  VerifyVisitFn visit, void *ctx, P2nErr *err)
{
    FsPgStream s;
    int rc = fullsync_pg_open(&s, env->pg, env->m, e, NULL, ids, nids, fetch, err);
    if (rc < 0)
        return rc;
    P2nBuf q, params, row;
    p2n_buf_init(&q);
    p2n_buf_init(&params);
    p2n_buf_init(&row);
    PsArena arena;
    ps_arena_init(&arena, 0);
    fullsync_neo_query(env->m, e, true, ids != NULL, &q);
    FsOrder ord0 = fullsync_order(e);
    if (ids) {
        ps_pack_map_header(&params, 2);
        ps_pack_cstr(&params, "ids");
        ps_pack_list_header(&params, (uint32_t)nids);
        for (size_t i = 0; i < nids; i++)
            ps_pack_cstr(&params, ids[i]);
        ps_pack_cstr(&params, "keys");
        uint32_t nk = 0;
        for (size_t i = 0; i < nids; i++) {
            char *end = NULL;
            (void)strtoll(ids[i], &end, 10);
            nk += ord0 != FS_ORDER_INT || (ids[i][0] && *end == '\0');
        }
        ps_pack_list_header(&params, nk);
        for (size_t i = 0; i < nids; i++) {
            char *end = NULL;
            long long k = strtoll(ids[i], &end, 10);
            if (ord0 != FS_ORDER_INT)
                ps_pack_cstr(&params, ids[i]);
            else if (ids[i][0] && *end == '\0')
                ps_pack_int(&params, k);
        }
    } else {
        ps_pack_map_header(&params, 0);
    }
    bool neo_open = false;
    FsOrder ord = fullsync_order(e);
    const PsValue *rec = NULL;
    int have_neo = 0;
    int prow = -1;
    int have_pg = fullsync_pg_next(&s, &prow, err);
    if (have_pg < 0) {
        rc = have_pg;
        goto out;
    }
    if (q.failed || params.failed) {
        rc = p2n_err_set(err, P2N_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = bolt_run(env->neo, (const char *)q.data, params.data, params.len, NULL, err)) < 0) {
        p2n_err_prefix(err, "could not read %s from Neo4j", e->name);
        goto out;
    }
    neo_open = true;
    rec = NULL;
    have_neo = bolt_next(env->neo, &rec, err);
    while (rc == 0 && (have_pg == 1 || have_neo == 1)) {
        if (have_neo < 0) {
            rc = have_neo;
            break;
        }
        if (have_neo == 1 && (rec->type != PS_LIST || rec->u.list.len < 2 || rec->u.list.items[0].type != PS_STRING)) {
            have_neo = bolt_next(env->neo, &rec, err); /* a node whose key is not a string form: skip */
            continue;
        }
        const char *pid = have_pg == 1 ? PQgetvalue(s.rows, prow, 0) : NULL;
        const char *nid = have_neo == 1 ? rec->u.list.items[0].u.str.data : NULL;
        int cmp = pid == NULL ? 1 : nid == NULL ? -1 : fullsync_id_cmp(ord, pid, nid);
        const PsValue *pgv = NULL;
        PsValue decoded;
        if (cmp <= 0) {
            p2n_buf_reset(&row);
            ps_arena_reset(&arena);
            P2nErr e2;
            p2n_err_clear(&e2);
            size_t used = 0;
            if (mapping_row_encode(e, s.rows, prow, 0, &row, &e2) < 0) {
                P2N_WARN("row not compared: it does not encode", "error=\"%s\"", e2.msg);
            } else if (ps_decode(&arena, row.data, row.len, NULL, &decoded, &used, err) < 0) {
                rc = err->code;
                break;
            } else {
                pgv = &decoded;
            }
        }
        const char *id = cmp <= 0 ? pid : nid;
        PsValue empty;
        memset(&empty, 0, sizeof(empty));
        empty.type = PS_MAP;
        if (cmp <= 0 && pgv == NULL)
            pgv = &empty; /* a row the encoder refused: compared as a row without properties */
        rc = visit(ctx, id, pgv, cmp >= 0 ? rec : NULL, err);
        if (rc < 0)
            break;
        if (cmp <= 0) {
            have_pg = fullsync_pg_next(&s, &prow, err);
            if (have_pg < 0) {
                rc = have_pg;
                break;
            }
        }
        if (cmp >= 0)
            have_neo = bolt_next(env->neo, &rec, err);
    }
    if (rc == 0 && have_neo < 0)
        rc = have_neo;
    if (rc == 0)
        neo_open = false;
out:
    if (neo_open && bolt_conn_usable(env->neo))
        bolt_discard(env->neo, NULL);
    fullsync_pg_close(&s);
    ps_arena_free(&arena);
    p2n_buf_free(&q);
    p2n_buf_free(&params);
    p2n_buf_free(&row);
    return rc;
}

/* ---- repair ---- */

/* queues the ids and writes a 'resolve' row per id to the audit trail (sql/002) */
static const char *QUEUE_SQL =
    "WITH q AS (INSERT INTO @SCHEMA@.graph_sync_status AS s"
    " (entity_type, entity_id, sync_status, op, version, first_change_at)"
    " SELECT $1, x.id, $3, $4, nextval('@SCHEMA@.graph_sync_version_seq'), now()"
    "   FROM unnest($2::text[]) AS x(id) ORDER BY x.id"
    " ON CONFLICT (entity_type, entity_id) DO UPDATE SET"
    "  version = GREATEST(EXCLUDED.version, s.version + 1),"
    "  op = EXCLUDED.op,"
    "  sync_status = CASE WHEN s.sync_status = 'in_progress' THEN 'in_progress' ELSE EXCLUDED.sync_status END,"
    "  changed_arrays = CASE WHEN EXCLUDED.op <> 'upsert' OR s.sync_status = 'synced' OR s.op <> 'upsert'"
    "                        THEN NULL ELSE s.changed_arrays END,"
    "  first_change_at = CASE WHEN s.sync_status = 'synced' OR s.first_change_at IS NULL"
    "                         THEN EXCLUDED.first_change_at ELSE s.first_change_at END,"
    "  attempts = CASE WHEN s.sync_status IN ('synced', 'failed') THEN 0 ELSE s.attempts END,"
    "  next_attempt_at = CASE WHEN s.sync_status IN ('synced', 'failed') THEN now() ELSE s.next_attempt_at END,"
    "  last_error = CASE WHEN s.sync_status IN ('synced', 'failed') THEN NULL ELSE s.last_error END,"
    "  updated_at = now()"
    " RETURNING s.entity_id, s.version, s.conflict_details)"
    " INSERT INTO @SCHEMA@.graph_sync_audit (entity_type, entity_id, version, action, details, note)"
    " SELECT $1, q.entity_id, q.version, 'resolve', q.conflict_details, 'verify --repair'"
    "   FROM q, @SCHEMA@.graph_sync_state st WHERE st.audit_retention_days > 0";

int verify_queue(FsEnv *env, const char *type, const char *const *ids, size_t n, bool del, P2nErr *err)
{
    if (n == 0)
        return 0;
    char *sql = pgu_schema_subst(QUEUE_SQL, env->schema, err);
    if (sql == NULL)
        return P2N_ENOMEM;
    P2nBuf arr;
    p2n_buf_init(&arr);
    pgu_array_literal(&arr, ids, n);
    const char *p[4] = {type, (const char *)arr.data, del ? "deleted" : "pending", del ? "delete" : "upsert"};
    int rc = arr.failed ? p2n_err_set(err, P2N_ENOMEM, "out of memory")
                        : pgu_query_retry(env->pg2, sql, 4, p, NULL, "could not queue the differences", err);
    p2n_buf_free(&arr);
    free(sql);
    return rc;
}

/* ---- verify_run ---- */

#define QUEUE_CHUNK 1000

typedef struct RunCtx {
    FsEnv *env;
    const MappingEntity *e;
    VerifyTypeResult *tr;
    bool repair;
    char *up[QUEUE_CHUNK];
    size_t nup;
    char *del[QUEUE_CHUNK];
    size_t ndel;
    int64_t differences;
} RunCtx;

static void ids_add(VerifyIds *l, const char *id)
{
    if (l->count < VERIFY_LIST_MAX)
        l->ids[l->count] = strdup(id);
    l->count++;
}

static int flush_queue(RunCtx *c, bool del, P2nErr *err)
{
    char **v = del ? c->del : c->up;
    size_t *n = del ? &c->ndel : &c->nup;
    int rc = verify_queue(c->env, c->tr->type, (const char *const *)v, *n, del, err);
    if (rc == 0)
        c->tr->queued += (int64_t)*n;
    for (size_t i = 0; i < *n; i++)
        free(v[i]);
    *n = 0;
    return rc;
}

/* Whether id has the form of an entity id of e (the sync engine reads queued ids with read_sql,
   which casts them: an extra node or relationship with a malformed key could not be repaired
   that way, and would fail in the queue; the full sync's orphan sweep removes it). */
static bool id_queueable(const MappingEntity *e, const char *id)
{
    size_t n = strlen(id);
    if (e->kind == MAPPING_LINK || e->nkeys > 1)
        return n >= 2 && id[0] == '[' && id[n - 1] == ']';
    FsOrder o = fullsync_order(e);
    if (o == FS_ORDER_INT) {
        char *end = NULL;
        (void)strtoll(id, &end, 10);
        return n > 0 && end && *end == '\0';
    }
    if (o == FS_ORDER_UUID)
        return n == 36 && strspn(id, "0123456789abcdefABCDEF-") == 36;
    return true;
}

static int queue_add(RunCtx *c, const char *id, bool del, P2nErr *err)
{
    if (!c->repair)
        return 0;
    if (!id_queueable(c->e, id)) {
        P2N_WARN("not an entity id, cannot be queued: pg2neo full-sync removes it", "entity_type=%s id=\"%s\"",
                 c->e->name, id);
        return 0;
    }
    char **v = del ? c->del : c->up;
    size_t *n = del ? &c->ndel : &c->nup;
    if ((v[*n] = strdup(id)) == NULL)
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    (*n)++;
    return *n == QUEUE_CHUNK ? flush_queue(c, del, err) : 0;
}

static int run_visit(void *ctx, const char *id, const PsValue *pgrow, const PsValue *rec, P2nErr *err)
{
    RunCtx *c = ctx;
    if (pgrow)
        c->tr->pg_count++;
    if (rec)
        c->tr->neo_count++;
    if (pgrow && rec == NULL) {
        ids_add(&c->tr->missing, id);
        c->differences++;
        return queue_add(c, id, false, err);
    }
    if (pgrow == NULL) {
        ids_add(&c->tr->extra, id);
        c->differences++;
        return queue_add(c, id, true, err);
    }
    bool pd = false, rd = false;
    verify_compare(c->e, pgrow, rec, NULL, NULL, &pd, &rd);
    if (pd)
        ids_add(&c->tr->props, id);
    if (rd)
        ids_add(&c->tr->rels, id);
    if (pd || rd) {
        c->differences++;
        return queue_add(c, id, false, err);
    }
    return 0;
}

static int sample_ids(FsEnv *env, const MappingEntity *e, long n, char ***out, size_t *nout, P2nErr *err)
{
    *out = NULL;
    *nout = 0;
    P2nBuf q;
    p2n_buf_init(&q);
    p2n_buf_append_str(&q, "SELECT (");
    mapping_sql_id_expr(e, "t", &q);
    p2n_buf_append_str(&q, ") FROM ");
    mapping_sql_table(env->m, e, &q);
    p2n_buf_append_str(&q, " AS t ORDER BY random() LIMIT $1");
    char lim[32];
    snprintf(lim, sizeof(lim), "%ld", n);
    const char *p = lim;
    PGresult *r = NULL;
    int rc = q.failed ? p2n_err_set(err, P2N_ENOMEM, "out of memory")
                      : pgu_query_retry(env->pg2, (const char *)q.data, 1, &p, &r, "could not sample ids", err);
    p2n_buf_free(&q);
    if (rc < 0)
        return rc;
    int nr = PQntuples(r);
    char **v = calloc((size_t)(nr > 0 ? nr : 1), sizeof(*v));
    if (v == NULL) {
        PQclear(r);
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    }
    for (int i = 0; i < nr; i++)
        v[i] = strdup(PQgetvalue(r, i, 0));
    PQclear(r);
    *out = v;
    *nout = (size_t)nr;
    return 0;
}

static void ids_free(VerifyIds *l);

/* One type, compared (and its differences queued) whole; run again after a conflict (a lock
   timeout on its table, a deadlock queueing against daemons): queueing twice is harmless. */
typedef struct TypeVerify {
    FsEnv *env;
    const MappingEntity *e;
    const VerifyOptions *o;
    VerifyTypeResult *tr;
    int64_t differences; /* OUT */
    int runs;
} TypeVerify;

static int verify_type_once(void *ctx, P2nErr *err)
{
    TypeVerify *t = ctx;
    const MappingEntity *e = t->e;
    const VerifyOptions *o = t->o;
    VerifyTypeResult *tr = t->tr;
    if (t->runs++ > 0) { /* from scratch */
        ids_free(&tr->missing);
        ids_free(&tr->extra);
        ids_free(&tr->props);
        ids_free(&tr->rels);
        memset(tr, 0, sizeof(*tr));
        tr->type = e->name;
        tr->relationship = e->kind == MAPPING_LINK;
        t->differences = 0;
    }
    RunCtx *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    c->env = t->env;
    c->e = e;
    c->tr = tr;
    c->repair = o->repair;
    char **ids = NULL;
    size_t nids = 0;
    int rc = 0;
    if (o->sample > 0)
        rc = sample_ids(t->env, e, o->sample, &ids, &nids, err);
    if (rc == 0 && (o->sample <= 0 || nids > 0))
        rc = verify_entity(t->env, e, (const char *const *)ids, nids, o->fetch, run_visit, c, err);
    if (rc == 0)
        rc = flush_queue(c, false, err);
    if (rc == 0)
        rc = flush_queue(c, true, err);
    for (size_t k = 0; k < c->nup; k++)
        free(c->up[k]);
    for (size_t k = 0; k < c->ndel; k++)
        free(c->del[k]);
    for (size_t k = 0; k < nids; k++)
        free(ids[k]);
    free(ids);
    t->differences = c->differences;
    free(c);
    return rc;
}

int verify_run(FsEnv *env, const VerifyOptions *o, VerifyResult *res, P2nErr *err)
{
    memset(res, 0, sizeof(*res));
    int64_t t0 = p2n_now_mono_ms();
    const MappingEntity *only = NULL;
    if (o->type && (only = mapping_entity_find(env->m, o->type)) == NULL)
        return p2n_err_set(err, P2N_ENOTFOUND, "unknown entity type \"%s\"", o->type);
    res->types = calloc(env->m->nentities, sizeof(*res->types));
    if (res->types == NULL)
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    res->sampled = o->sample > 0;
    int rc = 0;
    for (size_t i = 0; i < env->m->nentities && rc == 0; i++) {
        const MappingEntity *e = &env->m->entities[i];
        if (only && e != only)
            continue;
        VerifyTypeResult *tr = &res->types[res->ntypes++];
        tr->type = e->name;
        tr->relationship = e->kind == MAPPING_LINK;
        TypeVerify t = {env, e, o, tr, 0, 0};
        char what[200];
        snprintf(what, sizeof(what), "verify %s", e->name);
        rc = p2n_retry(what, verify_type_once, &t, err);
        res->differences += t.differences;
        res->queued += tr->queued;
        if (rc < 0)
            p2n_err_prefix(err, "could not verify %s", e->name);
    }
    res->seconds = (double)(p2n_now_mono_ms() - t0) / 1000.0;
    return rc;
}

static void ids_free(VerifyIds *l)
{
    for (int64_t i = 0; i < l->count && i < VERIFY_LIST_MAX; i++)
        free(l->ids[i]);
}

void verify_result_free(VerifyResult *res)
{
    for (size_t i = 0; i < res->ntypes; i++) {
        ids_free(&res->types[i].missing);
        ids_free(&res->types[i].extra);
        ids_free(&res->types[i].props);
        ids_free(&res->types[i].rels);
    }
    free(res->types);
    memset(res, 0, sizeof(*res));
}

static void ids_json(P2nBuf *b, const char *name, const VerifyIds *l)
{
    p2n_buf_printf(b, ",\"%s\":{\"count\":%lld,\"ids\":[", name, (long long)l->count);
    for (int64_t i = 0; i < l->count && i < VERIFY_LIST_MAX; i++) {
        if (i)
            p2n_buf_append_byte(b, ',');
        fullsync_json_str(b, l->ids[i] ? l->ids[i] : "");
    }
    p2n_buf_append_str(b, "]}");
}

void verify_result_json(const VerifyResult *res, P2nBuf *b)
{
    p2n_buf_printf(b, "{\"consistent\":%s,\"sampled\":%s,\"differences\":%lld,\"queued\":%lld,\"duration_s\":%.3f,\"types\":[",
                   res->differences == 0 ? "true" : "false", res->sampled ? "true" : "false",
                   (long long)res->differences, (long long)res->queued, res->seconds);
    for (size_t i = 0; i < res->ntypes; i++) {
        const VerifyTypeResult *t = &res->types[i];
        p2n_buf_append_str(b, i ? ",{\"type\":" : "{\"type\":");
        fullsync_json_str(b, t->type);
        p2n_buf_printf(b, ",\"kind\":\"%s\",\"postgres_count\":%lld,\"neo4j_count\":%lld",
                       t->relationship ? "relationship" : "node", (long long)t->pg_count, (long long)t->neo_count);
        ids_json(b, "missing_in_neo4j", &t->missing);
        ids_json(b, "extra_in_neo4j", &t->extra);
        ids_json(b, "property_mismatches", &t->props);
        ids_json(b, "relationship_mismatches", &t->rels);
        p2n_buf_printf(b, ",\"queued\":%lld}", (long long)t->queued);
    }
    p2n_buf_append_str(b, "]}");
}

static void ids_text(P2nBuf *b, const char *what, const VerifyIds *l)
{
    if (l->count == 0)
        return;
    p2n_buf_printf(b, "    %s: %lld", what, (long long)l->count);
    for (int64_t i = 0; i < l->count && i < VERIFY_LIST_MAX; i++)
        p2n_buf_printf(b, "%s%s", i ? ", " : " (", l->ids[i] ? l->ids[i] : "");
    p2n_buf_append_str(b, l->count > VERIFY_LIST_MAX ? ", ...)\n" : ")\n");
}

void verify_result_text(const VerifyResult *res, P2nBuf *b)
{
    for (size_t i = 0; i < res->ntypes; i++) {
        const VerifyTypeResult *t = &res->types[i];
        int64_t d = t->missing.count + t->extra.count + t->props.count + t->rels.count;
        p2n_buf_printf(b, "%-14s postgres %lld, neo4j %lld: %s\n", t->type, (long long)t->pg_count,
                       (long long)t->neo_count, d ? "DIFFERS" : "ok");
        ids_text(b, "missing in Neo4j", &t->missing);
        ids_text(b, "extra in Neo4j", &t->extra);
        ids_text(b, "property mismatches", &t->props);
        ids_text(b, "relationship mismatches", &t->rels);
        if (t->queued)
            p2n_buf_printf(b, "    queued for repair: %lld\n", (long long)t->queued);
    }
    p2n_buf_printf(b, "%s: %lld entit%s differ%s%s (%.1f s)\n", res->differences ? "inconsistent" : "consistent",
                   (long long)res->differences, res->differences == 1 ? "y" : "ies", res->differences == 1 ? "s" : "",
                   res->sampled ? ", sampled" : "", res->seconds);
}
