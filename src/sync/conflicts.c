/*
 * Conflicts: a field-level diff of entities between PostgreSQL and Neo4j (verify's streaming
 * comparison restricted to some ids), recorded in graph_sync_status; the daemon's sampled scan;
 * the acknowledgement of a reviewed divergence. See conflicts.h.
 */
#include "sync/conflicts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/time.h"
#include "packstream/packstream.h"
#include "pg/pgutil.h"
#include "pg/queue.h"
#include "sync/verify.h"

typedef struct Ctx {
    const MappingEntity *e;
    ConflictReport *r;
} Ctx;

static void put_value(P2nBuf *b, const char *field, const PsValue *v)
{
    if (b->len)
        p2n_buf_append_byte(b, ',');
    fullsync_json_str(b, field);
    p2n_buf_append_byte(b, ':');
    if (v)
        ps_value_to_json(b, v);
    else
        p2n_buf_append_str(b, "null");
}

static void on_field(void *ctx, const char *field, bool relationship, const PsValue *pg, const PsValue *neo)
{
    ConflictReport *r = ((Ctx *)ctx)->r;
    (void)relationship;
    if (r->fields.len)
        p2n_buf_append_byte(&r->fields, ',');
    fullsync_json_str(&r->fields, field);
    put_value(&r->pg_values, field, pg);
    put_value(&r->neo_values, field, neo);
    p2n_buf_printf(&r->text, "  %s\n    postgres: ", field);
    if (pg)
        ps_value_to_json(&r->text, pg);
    else
        p2n_buf_append_str(&r->text, "(absent)");
    p2n_buf_append_str(&r->text, "\n    neo4j:    ");
    if (neo)
        ps_value_to_json(&r->text, neo);
    else
        p2n_buf_append_str(&r->text, "(absent)");
    p2n_buf_append_byte(&r->text, '\n');
    r->nfields++;
}

/* Fills r (initialised) with the differences of one entity; pgrow / rec NULL when absent. */
static void compare_one(const MappingEntity *e, const PsValue *pgrow, const PsValue *rec, ConflictReport *r)
{
    r->in_postgres = pgrow != NULL;
    r->in_neo4j = rec != NULL;
    /* an absent side compares as an empty one: every field of the other side conflicts */
    PsValue empty_map;
    memset(&empty_map, 0, sizeof(empty_map));
    empty_map.type = PS_MAP;
    PsValue items[2 + 64];
    PsValue fake_rec;
    if (rec == NULL) {
        size_t n = e->kind == MAPPING_NODE ? 2 + e->nrels : 4;
        if (n > sizeof(items) / sizeof(items[0]))
            n = sizeof(items) / sizeof(items[0]);
        memset(items, 0, sizeof(items));
        items[1] = empty_map;
        for (size_t i = 2; i < n; i++)
            items[i].type = e->kind == MAPPING_NODE ? PS_LIST : PS_NULL;
        memset(&fake_rec, 0, sizeof(fake_rec));
        fake_rec.type = PS_LIST;
        fake_rec.u.list.items = items;
        fake_rec.u.list.len = (uint32_t)n;
        rec = &fake_rec;
    }
    if (pgrow == NULL)
        pgrow = &empty_map;
    bool pd, rd;
    Ctx c = {e, r};
    verify_compare(e, pgrow, rec, on_field, &c, &pd, &rd);
}

static void report_init(ConflictReport *r)
{
    memset(r, 0, sizeof(*r));
    p2n_buf_init(&r->fields);
    p2n_buf_init(&r->pg_values);
    p2n_buf_init(&r->neo_values);
    p2n_buf_init(&r->text);
}

static bool report_failed(const ConflictReport *r)
{
    return r->fields.failed || r->pg_values.failed || r->neo_values.failed || r->text.failed;
}

/* ---- growable string lists ---- */

typedef struct StrVec {
    char **v;
    size_t n, cap;
    bool failed;
} StrVec;

static void strvec_push(StrVec *s, const char *x)
{
    if (s->failed)
        return;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        char **nv = realloc(s->v, cap * sizeof(*nv));
        if (nv == NULL) {
            s->failed = true;
            return;
        }
        s->v = nv;
        s->cap = cap;
    }
    char *d = strdup(x);
    if (d == NULL) {
        s->failed = true;
        return;
    }
    s->v[s->n++] = d;
}

static void strvec_take(StrVec *s, P2nBuf *b)
{
    p2n_buf_append(b, "", 1);
    if (b->failed)
        s->failed = true;
    else
        strvec_push(s, (const char *)b->data);
}

static bool strvec_has(const StrVec *s, const char *x)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], x) == 0)
            return true;
    return false;
}

static void strvec_free(StrVec *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof(*s));
}

/* a text[] / jsonb[] / bigint[] parameter */
static char *array_param(const StrVec *s)
{
    P2nBuf b;
    p2n_buf_init(&b);
    pgu_array_literal(&b, (const char *const *)s->v, s->n);
    p2n_buf_append(&b, "", 1);
    return b.failed ? (p2n_buf_free(&b), NULL) : p2n_buf_steal(&b);
}

/* ---- recording in graph_sync_status ---- */

/* What one comparison of a set of ids found. */
typedef struct Found {
    const MappingEntity *e;
    StrVec diff, details; /* differing ids and their conflict_details */
    StrVec clean;         /* ids found equal */
    StrVec before_ids, before_status, before_versions; /* queue rows when the check started */
    ConflictReport *single; /* one id: its report goes here (initialised by the caller) */
} Found;

static void found_free(Found *f)
{
    strvec_free(&f->diff);
    strvec_free(&f->details);
    strvec_free(&f->clean);
    strvec_free(&f->before_ids);
    strvec_free(&f->before_status);
    strvec_free(&f->before_versions);
}

static int found_visit(void *ctx, const char *id, const PsValue *pgrow, const PsValue *rec, P2nErr *err)
{
    Found *f = ctx;
    ConflictReport local;
    ConflictReport *r = f->single;
    if (r == NULL) {
        report_init(&local);
        r = &local;
    }
    compare_one(f->e, pgrow, rec, r);
    if (r->nfields > 0) {
        strvec_push(&f->diff, id);
        P2nBuf d;
        p2n_buf_init(&d);
        conflicts_report_details(r, &d);
        strvec_take(&f->details, &d);
        p2n_buf_free(&d);
    } else {
        strvec_push(&f->clean, id);
    }
    bool oom = report_failed(r);
    if (r == &local)
        conflicts_report_free(&local);
    return oom ? p2n_err_set(err, P2N_ENOMEM, "out of memory") : 0;
}

static int sq(FsEnv *env, const char *tmpl, int np, const char *const *p, PGresult **out, const char *what,
              P2nErr *err)
{
    char *sql = pgu_schema_subst(tmpl, env->schema, err);
    if (sql == NULL)
        return err->code ? err->code : P2N_ENOMEM;
    int rc = pgu_query_retry(env->pg2, sql, np, p, out, what, err); /* again after a deadlock */
    free(sql);
    return rc;
}

/* Reads the queue rows of ids before the comparison. */
static int found_before(FsEnv *env, Found *f, const StrVec *ids, P2nErr *err)
{
    char *arr = array_param(ids);
    if (arr == NULL)
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    const char *p[2] = {f->e->name, arr};
    PGresult *r = NULL;
    int rc = sq(env,
                "SELECT entity_id, sync_status, version FROM @SCHEMA@.graph_sync_status"
                " WHERE entity_type = $1 AND entity_id = ANY ($2::text[])",
                2, p, &r, "could not read the sync queue", err);
    free(arr);
    if (rc < 0)
        return rc;
    for (int i = 0; i < PQntuples(r); i++) {
        strvec_push(&f->before_ids, PQgetvalue(r, i, 0));
        strvec_push(&f->before_status, PQgetvalue(r, i, 1));
        strvec_push(&f->before_versions, PQgetvalue(r, i, 2));
    }
    PQclear(r);
    return f->before_ids.failed || f->before_status.failed || f->before_versions.failed
               ? p2n_err_set(err, P2N_ENOMEM, "out of memory")
               : 0;
}

static const char *const SQL_FLAG =
    "WITH d AS (SELECT * FROM unnest($2::text[], $3::bigint[], $4::jsonb[]) AS d(i, v, det)),"
    " l AS (SELECT s.entity_id, d.det, s.has_conflicts AS was FROM @SCHEMA@.graph_sync_status s"
    "        JOIN d ON s.entity_id = d.i"
    "        WHERE s.entity_type = $1 AND s.sync_status = 'synced' AND s.version = d.v"
    "        ORDER BY s.entity_id FOR UPDATE OF s)"
    " UPDATE @SCHEMA@.graph_sync_status s SET"
    "   has_conflicts = s.conflict_acked_details IS DISTINCT FROM l.det,"
    "   conflict_detected_at = CASE WHEN s.conflict_details IS NOT DISTINCT FROM l.det"
    "                               THEN coalesce(s.conflict_detected_at, now()) ELSE now() END,"
    "   conflict_details = l.det,"
    "   conflict_acked_at = CASE WHEN s.conflict_acked_details = l.det THEN s.conflict_acked_at END,"
    "   conflict_acked_by = CASE WHEN s.conflict_acked_details = l.det THEN s.conflict_acked_by END,"
    "   conflict_ack_note = CASE WHEN s.conflict_acked_details = l.det THEN s.conflict_ack_note END,"
    "   conflict_acked_details = CASE WHEN s.conflict_acked_details = l.det THEN s.conflict_acked_details END"
    "  FROM l WHERE s.entity_type = $1 AND s.entity_id = l.entity_id"
    " RETURNING s.has_conflicts, l.was";

/* no queue row when the check started: the entity came from a full sync, or never changed */
static const char *const SQL_FLAG_NEW =
    "INSERT INTO @SCHEMA@.graph_sync_status AS s (entity_type, entity_id, sync_status, op, version,"
    "        has_conflicts, conflict_details, conflict_detected_at, synced_at)"
    " SELECT $1, d.i, 'synced', 'upsert', 0, true, d.det, now(), now()"
    "   FROM unnest($2::text[], $3::jsonb[]) AS d(i, det) ORDER BY d.i"
    " ON CONFLICT (entity_type, entity_id) DO NOTHING RETURNING 1";

static const char *const SQL_CLEAR =
    "WITH l AS (SELECT entity_id FROM @SCHEMA@.graph_sync_status"
    "  WHERE entity_type = $1 AND entity_id = ANY ($2::text[])"
    "    AND (has_conflicts OR conflict_details IS NOT NULL OR conflict_acked_at IS NOT NULL)"
    "  ORDER BY entity_id FOR UPDATE)"
    " UPDATE @SCHEMA@.graph_sync_status s SET has_conflicts = false, conflict_details = NULL,"
    "   conflict_detected_at = NULL, conflict_acked_at = NULL, conflict_acked_by = NULL,"
    "   conflict_ack_note = NULL, conflict_acked_details = NULL"
    "  FROM l WHERE s.entity_type = $1 AND s.entity_id = l.entity_id";

/* Records f (see conflicts.h): fold, then flag the eligible differences and clear the clean. */
static int found_record(FsEnv *env, Found *f, ConflictScanStats *st, P2nErr *err)
{
    int rc = pgq_fold(env->pg2, env->schema, NULL, err);
    if (rc < 0)
        return rc;
    StrVec up_ids = {0}, up_vers = {0}, up_det = {0}, new_ids = {0}, new_det = {0};
    char *a1 = NULL, *a2 = NULL, *a3 = NULL;
    PGresult *r = NULL;
    int64_t touched = 0;
    for (size_t i = 0; i < f->diff.n; i++) {
        size_t k = 0;
        while (k < f->before_ids.n && strcmp(f->before_ids.v[k], f->diff.v[i]) != 0)
            k++;
        if (k == f->before_ids.n) {
            strvec_push(&new_ids, f->diff.v[i]);
            strvec_push(&new_det, f->details.v[i]);
        } else if (strcmp(f->before_status.v[k], "synced") == 0) {
            strvec_push(&up_ids, f->diff.v[i]);
            strvec_push(&up_vers, f->before_versions.v[k]);
            strvec_push(&up_det, f->details.v[i]);
        }
    }
    if (up_ids.failed || up_vers.failed || up_det.failed || new_ids.failed || new_det.failed) {
        rc = p2n_err_set(err, P2N_ENOMEM, "out of memory");
        goto out;
    }
    if (up_ids.n > 0) {
        a1 = array_param(&up_ids);
        a2 = array_param(&up_vers);
        a3 = array_param(&up_det);
        if (a1 == NULL || a2 == NULL || a3 == NULL) {
            rc = p2n_err_set(err, P2N_ENOMEM, "out of memory");
            goto out;
        }
        const char *p[4] = {f->e->name, a1, a2, a3};
        if ((rc = sq(env, SQL_FLAG, 4, p, &r, "could not record conflicts", err)) < 0)
            goto out;
        for (int i = 0; i < PQntuples(r); i++) {
            st->flagged += PQgetvalue(r, i, 0)[0] == 't';
            st->newly += PQgetvalue(r, i, 0)[0] == 't' && PQgetvalue(r, i, 1)[0] != 't';
        }
        touched += PQntuples(r);
        PQclear(r);
        r = NULL;
        free(a1);
        free(a2);
        free(a3);
        a1 = a2 = a3 = NULL;
    }
    if (new_ids.n > 0) {
        a1 = array_param(&new_ids);
        a2 = array_param(&new_det);
        if (a1 == NULL || a2 == NULL) {
            rc = p2n_err_set(err, P2N_ENOMEM, "out of memory");
            goto out;
        }
        const char *p[3] = {f->e->name, a1, a2};
        if ((rc = sq(env, SQL_FLAG_NEW, 3, p, &r, "could not record conflicts", err)) < 0)
            goto out;
        st->flagged += PQntuples(r);
        st->newly += PQntuples(r);
        touched += PQntuples(r);
        PQclear(r);
        r = NULL;
        free(a1);
        free(a2);
        a1 = a2 = NULL;
    }
    if (f->clean.n > 0) {
        a1 = array_param(&f->clean);
        if (a1 == NULL) {
            rc = p2n_err_set(err, P2N_ENOMEM, "out of memory");
            goto out;
        }
        const char *p[2] = {f->e->name, a1};
        if ((rc = sq(env, SQL_CLEAR, 2, p, &r, "could not clear conflicts", err)) < 0)
            goto out;
        st->cleared += strtoll(PQcmdTuples(r), NULL, 10);
        PQclear(r);
        r = NULL;
    }
    st->checked += (int64_t)(f->diff.n + f->clean.n);
    st->differing += (int64_t)f->diff.n;
    st->skipped += (int64_t)f->diff.n - touched;
out:
    PQclear(r);
    free(a1);
    free(a2);
    free(a3);
    strvec_free(&up_ids);
    strvec_free(&up_vers);
    strvec_free(&up_det);
    strvec_free(&new_ids);
    strvec_free(&new_det);
    return rc;
}

/* Compares ids of entity e and records the outcome; single (may be NULL, then ids has one
   element) receives that entity's report. */
static int check_ids(FsEnv *env, const MappingEntity *e, const StrVec *ids, ConflictReport *single,
                     ConflictScanStats *st, P2nErr *err)
{
    Found f, g;
    memset(&f, 0, sizeof(f));
    memset(&g, 0, sizeof(g));
    f.e = e;
    f.single = single;
    int rc = found_before(env, &f, ids, err);
    if (rc == 0)
        rc = verify_entity(env, e, (const char *const *)ids->v, ids->n, 200, found_visit, &f, err);
    if (rc == 0 && f.diff.n > 0) {
        /* A difference is compared once more before it is recorded: one seen once may be a
           change on its way (a sync in flight, a database away for a moment); only the ids that
           still differ, and the same way, are flagged. The others agree now and are cleared. */
        p2n_sleep_ms(200, NULL);
        g.e = e;
        if (single) {
            conflicts_report_free(single);
            report_init(single);
            g.single = single;
        }
        rc = verify_entity(env, e, (const char *const *)f.diff.v, f.diff.n, 200, found_visit, &g, err);
        StrVec keep = {0}, keep_det = {0};
        for (size_t i = 0; rc == 0 && i < f.diff.n; i++) {
            size_t k = 0;
            while (k < g.diff.n && strcmp(g.diff.v[k], f.diff.v[i]) != 0)
                k++;
            if (k < g.diff.n && strcmp(g.details.v[k], f.details.v[i]) == 0) {
                strvec_push(&keep, f.diff.v[i]);
                strvec_push(&keep_det, f.details.v[i]);
            } else if (k == g.diff.n) {
                strvec_push(&f.clean, f.diff.v[i]);
            }
            /* differing another way: changing right now; neither flagged nor cleared */
        }
        strvec_free(&f.diff);
        strvec_free(&f.details);
        f.diff = keep;
        f.details = keep_det;
    }
    /* an id on neither side: both sides agree (a flag left from before is cleared) */
    for (size_t i = 0; rc == 0 && i < ids->n; i++)
        if (!strvec_has(&f.diff, ids->v[i]) && !strvec_has(&f.clean, ids->v[i]) && !strvec_has(&g.diff, ids->v[i]))
            strvec_push(&f.clean, ids->v[i]);
    if (rc == 0 && (f.diff.failed || f.details.failed || f.clean.failed || g.diff.failed || g.details.failed))
        rc = p2n_err_set(err, P2N_ENOMEM, "out of memory");
    if (rc == 0)
        rc = found_record(env, &f, st, err);
    found_free(&f);
    found_free(&g);
    return rc;
}

int conflicts_detect(FsEnv *env, const char *type, const char *id, ConflictReport *r, P2nErr *err)
{
    report_init(r);
    const MappingEntity *e = mapping_entity_find(env->m, type);
    if (e == NULL)
        return p2n_err_set(err, P2N_ENOTFOUND, "unknown entity type \"%s\"", type);
    StrVec one = {0};
    strvec_push(&one, id);
    ConflictScanStats st;
    memset(&st, 0, sizeof(st));
    int rc = one.failed ? p2n_err_set(err, P2N_ENOMEM, "out of memory") : check_ids(env, e, &one, r, &st, err);
    strvec_free(&one);
    return rc;
}

/* ---- the daemon's sampled scan ---- */

static int sample_type(FsEnv *env, const MappingEntity *e, long sample, StrVec *ids, P2nErr *err)
{
    char lim[32];
    snprintf(lim, sizeof(lim), "%ld", sample);
    P2nBuf tbl, q;
    p2n_buf_init(&tbl);
    p2n_buf_init(&q);
    mapping_sql_table(env->m, e, &tbl);
    p2n_buf_append(&tbl, "", 1);
    PGresult *r = NULL;
    int rc = 0;
    double pct = 100;
    if (tbl.failed) {
        rc = p2n_err_set(err, P2N_ENOMEM, "out of memory");
        goto out;
    }
    {
        /* a big table: let TABLESAMPLE pick pages (about 10 x sample rows) instead of reading all */
        const char *p[1] = {(const char *)tbl.data};
        rc = pgu_query(env->pg2, "SELECT reltuples FROM pg_class WHERE oid = $1::regclass", 1, p, &r,
                       "could not read the table size", err);
        if (rc < 0)
            goto out;
        double rt = PQntuples(r) ? strtod(PQgetvalue(r, 0, 0), NULL) : -1;
        PQclear(r);
        r = NULL;
        if (rt > 10000 && rt > 20.0 * (double)sample)
            pct = 100.0 * 10.0 * (double)sample / rt;
    }
    p2n_buf_append_str(&q, "SELECT (");
    mapping_sql_id_expr(e, "t", &q);
    p2n_buf_printf(&q, ")::text FROM %s AS t", (const char *)tbl.data);
    if (pct < 100)
        p2n_buf_printf(&q, " TABLESAMPLE SYSTEM (%.6f)", pct);
    p2n_buf_append_str(&q, " ORDER BY random() LIMIT $1::bigint");
    p2n_buf_append(&q, "", 1);
    if (q.failed) {
        rc = p2n_err_set(err, P2N_ENOMEM, "out of memory");
        goto out;
    }
    {
        const char *p[1] = {lim};
        if ((rc = pgu_query(env->pg2, (const char *)q.data, 1, p, &r, "could not sample ids", err)) < 0)
            goto out;
        for (int i = 0; i < PQntuples(r); i++)
            strvec_push(ids, PQgetvalue(r, i, 0));
        PQclear(r);
        r = NULL;
    }
    {
        /* and the entities already flagged or acknowledged: they clear, or flag again, here */
        const char *p[2] = {e->name, lim};
        if ((rc = sq(env,
                     "SELECT entity_id FROM @SCHEMA@.graph_sync_status WHERE entity_type = $1"
                     " AND (has_conflicts OR conflict_acked_at IS NOT NULL)"
                     " ORDER BY conflict_detected_at NULLS FIRST LIMIT $2::bigint",
                     2, p, &r, "could not read flagged conflicts", err)) < 0)
            goto out;
        for (int i = 0; i < PQntuples(r); i++)
            if (!strvec_has(ids, PQgetvalue(r, i, 0)))
                strvec_push(ids, PQgetvalue(r, i, 0));
    }
    if (ids->failed)
        rc = p2n_err_set(err, P2N_ENOMEM, "out of memory");
out:
    PQclear(r);
    p2n_buf_free(&tbl);
    p2n_buf_free(&q);
    return rc;
}

int conflicts_scan(FsEnv *env, long sample, ConflictScanStats *st, P2nErr *err)
{
    if (sample <= 0)
        sample = 100;
    for (size_t i = 0; i < env->m->nentities; i++) {
        const MappingEntity *e = &env->m->entities[i];
        StrVec ids = {0};
        int rc = sample_type(env, e, sample, &ids, err);
        if (rc == 0 && ids.n > 0)
            rc = check_ids(env, e, &ids, NULL, st, err);
        strvec_free(&ids);
        if (rc < 0) {
            p2n_err_prefix(err, "conflict scan of %s", e->name);
            return rc;
        }
    }
    return 0;
}

/* ---- acknowledgement ---- */

static const char *const SQL_ACK =
    "WITH a AS (INSERT INTO @SCHEMA@.graph_sync_status AS s (entity_type, entity_id, sync_status, op, version,"
    "        has_conflicts, conflict_details, conflict_detected_at, synced_at, conflict_acked_at,"
    "        conflict_acked_by, conflict_ack_note, conflict_acked_details)"
    "   VALUES ($1, $2, 'synced', 'upsert', 0, false, $3::jsonb, now(), now(), now(),"
    "           current_user || coalesce(' (os user ' || $5 || ')', ''), $4, $3::jsonb)"
    "   ON CONFLICT (entity_type, entity_id) DO UPDATE SET has_conflicts = false,"
    "     conflict_detected_at = CASE WHEN s.conflict_details IS NOT DISTINCT FROM EXCLUDED.conflict_details"
    "                                 THEN coalesce(s.conflict_detected_at, now()) ELSE now() END,"
    "     conflict_details = EXCLUDED.conflict_details, conflict_acked_at = now(),"
    "     conflict_acked_by = EXCLUDED.conflict_acked_by, conflict_ack_note = EXCLUDED.conflict_ack_note,"
    "     conflict_acked_details = EXCLUDED.conflict_acked_details"
    "   RETURNING s.version),"
    " au AS (INSERT INTO @SCHEMA@.graph_sync_audit (entity_type, entity_id, version, action, details, os_user,"
    "        note)"
    "   SELECT $1, $2, a.version, 'ack', $3::jsonb, $5, $4 FROM a, @SCHEMA@.graph_sync_state st"
    "    WHERE st.audit_retention_days > 0)"
    " SELECT version FROM a";

int conflicts_ack(FsEnv *env, const char *type, const char *id, const char *note, const char *os_user,
                  ConflictReport *r, P2nErr *err)
{
    int rc = conflicts_detect(env, type, id, r, err);
    if (rc < 0)
        return rc;
    if (!r->in_postgres && !r->in_neo4j)
        return p2n_err_set(err, P2N_ENOTFOUND, "no %s with id \"%s\" in PostgreSQL or Neo4j", type, id);
    if (r->nfields == 0)
        return p2n_err_set(err, P2N_ESTATE, "%s %s has no conflict to acknowledge", type, id);
    P2nBuf d;
    p2n_buf_init(&d);
    conflicts_report_details(r, &d);
    p2n_buf_append(&d, "", 1);
    if (d.failed) {
        p2n_buf_free(&d);
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    }
    const char *p[5] = {type, id, (const char *)d.data, note && *note ? note : NULL,
                        os_user && *os_user ? os_user : NULL};
    rc = sq(env, SQL_ACK, 5, p, NULL, "could not record the acknowledgement", err);
    p2n_buf_free(&d);
    return rc;
}

void conflicts_report_free(ConflictReport *r)
{
    p2n_buf_free(&r->fields);
    p2n_buf_free(&r->pg_values);
    p2n_buf_free(&r->neo_values);
    p2n_buf_free(&r->text);
}

static const char *bufstr(const P2nBuf *b)
{
    return b->len ? (const char *)b->data : "";
}

void conflicts_report_json(const ConflictReport *r, const char *type, const char *id, P2nBuf *b)
{
    p2n_buf_append_str(b, "{\"entityType\":");
    fullsync_json_str(b, type);
    p2n_buf_append_str(b, ",\"entityId\":");
    fullsync_json_str(b, id);
    p2n_buf_printf(b, ",\"inPostgres\":%s,\"inNeo4j\":%s,\"hasConflicts\":%s,\"conflictingFields\":[%s]",
                   r->in_postgres ? "true" : "false", r->in_neo4j ? "true" : "false", r->nfields ? "true" : "false",
                   bufstr(&r->fields));
    p2n_buf_printf(b, ",\"postgresValues\":{%s},\"neo4jValues\":{%s}}", bufstr(&r->pg_values), bufstr(&r->neo_values));
}

void conflicts_report_details(const ConflictReport *r, P2nBuf *b)
{
    p2n_buf_printf(b, "{\"conflictingFields\":[%s],\"postgresValues\":{%s},\"neo4jValues\":{%s}}",
                   bufstr(&r->fields), bufstr(&r->pg_values), bufstr(&r->neo_values));
}
