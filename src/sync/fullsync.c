/*
 * Full sync: streams every mapped table in entity-id order through the mapping's read SQL and
 * row encoder into the generated UNWIND statements, a chunk per Neo4j transaction, with a
 * checkpoint per chunk and an orphan sweep per type. See fullsync.h.
 */
#include "sync/fullsync.h"
#include "sync/versions.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/retry.h"
#include "common/time.h"
#include "packstream/packstream.h"
#include "pg/pgutil.h"
#include "pg/schema.h"

/* ---- environment ---- */

static int pg_open(const char *conninfo, const char *from, PGconn **out, P2nErr *err)
{
    PGconn *c = NULL;
    int rc = pgu_connect(conninfo, from, &c, err);
    if (rc == P2N_ECONNLOST)
        rc = err->code = P2N_EIO; /* as before: the command could not start */
    if (rc < 0)
        return rc;
    PQclear(PQexec(c, "SET application_name = 'pg2neo ops'; SET client_min_messages = warning; " MAPPING_SESSION_SQL));
    *out = c;
    return 0;
}

int fullsync_env_open(const char *mapping_path, FsEnv *env, MappingDiags *diags, P2nErr *err)
{
    memset(env, 0, sizeof(*env));
    int rc = mapping_load_file(mapping_path, NULL, NULL, &env->m, diags, err);
    if (rc < 0)
        return rc;
    const char *sch = mapping_sync_schema(env->m);
    if (pgu_schema_check(sch, err) < 0) {
        rc = P2N_ECONFIG;
        goto fail;
    }
    snprintf(env->schema, sizeof(env->schema), "%s", sch);
    if ((rc = pg_open(env->m->conninfo, env->m->conninfo_from, &env->pg, err)) < 0 ||
        (rc = pg_open(env->m->conninfo, env->m->conninfo_from, &env->pg2, err)) < 0)
        goto fail;
    MappingCatalog cat;
    if ((rc = mapping_catalog_load(env->pg, &cat, err)) < 0)
        goto fail;
    rc = mapping_resolve(env->m, &cat, diags, err);
    mapping_catalog_free(&cat);
    if (rc < 0)
        goto fail;
    BoltConfig cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.uri = env->m->neo4j_uri;
    cfg.user = env->m->neo4j_user;
    cfg.password = env->m->neo4j_password;
    cfg.password_from = env->m->neo4j_password_from;
    cfg.user_from = env->m->neo4j_user_from;
    cfg.database = env->m->neo4j_database && *env->m->neo4j_database ? env->m->neo4j_database : NULL;
    if ((rc = bolt_driver_new(&cfg, &env->driver, err)) < 0)
        goto fail;
    if ((rc = bolt_driver_connect(env->driver, BOLT_ACCESS_WRITE, &env->neo, err)) < 0)
        goto fail;
    return 0;
fail:
    fullsync_env_close(env);
    return rc;
}

void fullsync_env_close(FsEnv *env)
{
    bolt_conn_close(env->neo);
    bolt_driver_free(env->driver);
    if (env->pg)
        PQfinish(env->pg);
    if (env->pg2)
        PQfinish(env->pg2);
    mapping_free(env->m);
    memset(env, 0, sizeof(*env));
}

/* ---- PostgreSQL stream ---- */

FsOrder fullsync_order(const MappingEntity *e)
{
    if (e->kind != MAPPING_NODE || e->nkeys != 1)
        return FS_ORDER_TEXT;
    const MappingColumn *c = &e->cols[e->key_cols[0]];
    if (c->is_array)
        return FS_ORDER_TEXT;
    if (c->conv == MAPPING_CONV_INT)
        return FS_ORDER_INT;
    if (c->conv == MAPPING_CONV_STRING && c->pg_type && strcmp(c->pg_type, "uuid") == 0)
        return FS_ORDER_UUID;
    return FS_ORDER_TEXT;
}

int fullsync_id_cmp(FsOrder o, const char *a, const char *b)
{
    if (o == FS_ORDER_INT) {
        long long x = strtoll(a, NULL, 10), y = strtoll(b, NULL, 10);
        return x < y ? -1 : x > y;
    }
    return strcmp(a, b);
}

int fullsync_pg_open(FsPgStream *s, PGconn *conn, const Mapping *m, const MappingEntity *e,
                     const char *after_id, const char *const *ids, size_t nids, int fetch_n, P2nErr *err)
{
    memset(s, 0, sizeof(*s));
    s->conn = conn;
    s->e = e;
    s->fetch_n = fetch_n > 0 ? fetch_n : 2000; /* verify, conflicts: their own default */
    int rc = pgu_exec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "could not begin a read", err);
    if (rc < 0)
        return rc;
    s->open_tx = true;
    P2nBuf q, idx, arr;
    p2n_buf_init(&q);
    p2n_buf_init(&idx);
    p2n_buf_init(&arr);
    mapping_sql_id_expr(e, "t", &idx);
    FsOrder ord = fullsync_order(e);
    P2nBuf key;
    p2n_buf_init(&key);
    if (ord == FS_ORDER_TEXT) {
        p2n_buf_printf(&key, "(%s) COLLATE \"C\"", (char *)idx.data);
    } else {
        /* the key column itself: its btree order is the order of its text form (numbers
           numerically, uuids bytewise), so the primary key index serves it, no sort */
        p2n_buf_append_str(&key, "t.");
        mapping_sql_ident(&key, e->cols[e->key_cols[0]].column);
    }
    p2n_buf_printf(&q, "DECLARE p2n_fullsync_cur NO SCROLL CURSOR FOR SELECT (%s) AS id FROM ", (char *)idx.data);
    mapping_sql_table(m, e, &q);
    p2n_buf_append_str(&q, " AS t WHERE true");
    const char *params[2];
    int np = 0;
    if (after_id) {
        params[np++] = after_id;
        p2n_buf_printf(&q, " AND %s > $%d%s", (char *)key.data, np,
                       ord == FS_ORDER_INT ? "::bigint" : ord == FS_ORDER_UUID ? "::uuid" : "");
    }
    if (ids) {
        mapping_ids_param(ids, nids, &arr);
        params[np++] = (const char *)arr.data;
        p2n_buf_printf(&q, " AND (%s) = ANY($%d::text[])", (char *)idx.data, np);
    }
    p2n_buf_printf(&q, " ORDER BY %s", (char *)key.data);
    if (key.failed)
        q.failed = true;
    p2n_buf_free(&key);
    if (q.failed || idx.failed || arr.failed)
        rc = p2n_err_set(err, P2N_ENOMEM, "out of memory");
    else
        rc = pgu_query(conn, (const char *)q.data, np, params, NULL, "could not open a cursor", err);
    p2n_buf_free(&q);
    p2n_buf_free(&idx);
    p2n_buf_free(&arr);
    if (rc < 0)
        fullsync_pg_close(s);
    return rc;
}

typedef struct IdRow {
    const char *id;
    long long num;
    int row;
} IdRow;

static int idrow_cmp(const void *a, const void *b)
{
    return strcmp(((const IdRow *)a)->id, ((const IdRow *)b)->id);
}

static int idrow_cmp_int(const void *a, const void *b)
{
    long long x = ((const IdRow *)a)->num, y = ((const IdRow *)b)->num;
    return x < y ? -1 : x > y;
}

int fullsync_pg_chunk(FsPgStream *s, P2nErr *err)
{
    PQclear(s->rows);
    s->rows = NULL;
    free(s->order);
    s->order = NULL;
    s->nlive = s->pos = s->nfetched = 0;
    if (s->eof)
        return 0;
    char fetch[64];
    snprintf(fetch, sizeof(fetch), "FETCH %d FROM p2n_fullsync_cur", s->fetch_n);
    PGresult *ids = NULL;
    int rc = pgu_query(s->conn, fetch, 0, NULL, &ids, "could not fetch", err);
    if (rc < 0)
        return rc;
    int n = PQntuples(ids);
    if (n == 0) {
        PQclear(ids);
        s->eof = true;
        return 0;
    }
    if (n < s->fetch_n)
        s->eof = true; /* the next FETCH would return nothing */
    s->nfetched = n;
    const char **v = malloc((size_t)n * sizeof(*v));
    if (v == NULL) {
        PQclear(ids);
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++)
        v[i] = PQgetvalue(ids, i, 0);
    free(s->last_id);
    s->last_id = strdup(v[n - 1]);
    P2nBuf arr;
    p2n_buf_init(&arr);
    mapping_ids_param(v, (size_t)n, &arr);
    free(v);
    PQclear(ids);
    if (arr.failed || s->last_id == NULL) {
        p2n_buf_free(&arr);
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    }
    const char *p1 = (const char *)arr.data;
    rc = pgu_query(s->conn, s->e->plan.read_sql, 1, &p1, &s->rows, "could not read rows", err);
    p2n_buf_free(&arr);
    if (rc < 0)
        return rc;
    int nr = PQntuples(s->rows);
    IdRow *ir = malloc((size_t)(nr > 0 ? nr : 1) * sizeof(*ir));
    s->order = malloc((size_t)(nr > 0 ? nr : 1) * sizeof(int));
    if (ir == NULL || s->order == NULL) {
        free(ir);
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    }
    int k = 0;
    for (int i = 0; i < nr; i++) {
        if (PQgetisnull(s->rows, i, 0))
            continue;
        const char *del = PQgetvalue(s->rows, i, 1);
        if (!PQgetisnull(s->rows, i, 1) && del[0] == 't')
            continue;
        ir[k].id = PQgetvalue(s->rows, i, 0);
        ir[k].num = strtoll(ir[k].id, NULL, 10);
        ir[k].row = i;
        k++;
    }
    qsort(ir, (size_t)k, sizeof(*ir), fullsync_order(s->e) == FS_ORDER_INT ? idrow_cmp_int : idrow_cmp);
    for (int i = 0; i < k; i++)
        s->order[i] = ir[i].row;
    free(ir);
    s->nlive = k;
    return 1;
}

int fullsync_pg_next(FsPgStream *s, int *row, P2nErr *err)
{
    while (s->rows == NULL || s->pos >= s->nlive) {
        if (s->eof && s->rows != NULL) {
            PQclear(s->rows);
            s->rows = NULL;
            return 0;
        }
        int rc = fullsync_pg_chunk(s, err);
        if (rc <= 0)
            return rc;
    }
    *row = s->order[s->pos++];
    return 1;
}

void fullsync_pg_close(FsPgStream *s)
{
    PQclear(s->rows);
    s->rows = NULL;
    free(s->order);
    s->order = NULL;
    free(s->last_id);
    s->last_id = NULL;
    if (s->open_tx && s->conn && PQstatus(s->conn) == CONNECTION_OK)
        PQclear(PQexec(s->conn, "ROLLBACK"));
    s->open_tx = false;
}

/* ---- Neo4j side ---- */

const char *fullsync_key_prop(const MappingEntity *e, size_t i)
{
    const MappingColumn *c = &e->cols[e->key_cols[i]];
    return c->property ? c->property : c->column;
}

static void cypher_prop(P2nBuf *b, const char *v, const char *prop)
{
    p2n_buf_append_str(b, v);
    p2n_buf_append_byte(b, '.');
    mapping_cypher_ident(b, prop);
}

/*
 * The text of key i of node v as its id has it (common/keyid.h): toString() of an integer, a
 * string or a boolean; a Date, LocalDateTime or DateTime (in UTC) in PostgreSQL's fixed form,
 * "0044-03-15 12:00:00.000000+00 BC" (Neo4j's year -43 is 44 BC). An infinite value is the
 * string "infinity".
 */
static void neo_key_text(P2nBuf *b, const MappingEntity *e, size_t i, const char *v)
{
    MappingConv conv = e->cols[e->key_cols[i]].conv;
    if (conv != MAPPING_CONV_DATE && conv != MAPPING_CONV_DATETIME && conv != MAPPING_CONV_LOCALDATETIME) {
        p2n_buf_append_str(b, "toString(");
        cypher_prop(b, v, fullsync_key_prop(e, i));
        p2n_buf_append_str(b, ")");
        return;
    }
    static const char *const test[] = {"DATE", "ZONED DATETIME", "LOCAL DATETIME"};
    int t = conv == MAPPING_CONV_DATE ? 0 : conv == MAPPING_CONV_DATETIME ? 1 : 2;
    p2n_buf_append_str(b, "CASE WHEN ");
    cypher_prop(b, v, fullsync_key_prop(e, i));
    p2n_buf_printf(b, " IS :: %s THEN [w IN [", test[t]);
    if (t == 1)
        p2n_buf_append_str(b, "datetime({datetime: ");
    cypher_prop(b, v, fullsync_key_prop(e, i));
    if (t == 1)
        p2n_buf_append_str(b, ", timezone: 'Z'})");
    /* w.year 1 - y before year 1; 4 digits at least; 2-digit fields; 6-digit microseconds */
    p2n_buf_append_str(b, "] | [y IN [CASE WHEN w.year > 0 THEN w.year ELSE 1 - w.year END] |"
                          " CASE WHEN y > 9999 THEN toString(y) ELSE right(toString(10000 + y), 4) END][0]"
                          " + '-' + right(toString(100 + w.month), 2) + '-' + right(toString(100 + w.day), 2)");
    if (t != 0)
        p2n_buf_append_str(b, " + ' ' + right(toString(100 + w.hour), 2) + ':' + right(toString(100 + w.minute), 2)"
                              " + ':' + right(toString(100 + w.second), 2) + '.' + right(toString(1000000 + w.microsecond), 6)");
    if (t == 1)
        p2n_buf_append_str(b, " + '+00'");
    p2n_buf_append_str(b, " + CASE WHEN w.year > 0 THEN '' ELSE ' BC' END][0] ELSE toString(");
    cypher_prop(b, v, fullsync_key_prop(e, i));
    p2n_buf_append_str(b, ") END");
}

void fullsync_neo_id_expr(const MappingEntity *e, const char *v, P2nBuf *b)
{
    if (e->nkeys == 1) {
        neo_key_text(b, e, 0, v);
        return;
    }
    /* array_to_json(ARRAY[a::text, ...])::text: ["a","b"] with " and \ escaped */
    p2n_buf_append_str(b, "'[' + ");
    for (size_t i = 0; i < e->nkeys; i++) {
        if (i)
            p2n_buf_append_str(b, " + ',' + ");
        p2n_buf_append_str(b, "'\"' + replace(replace(");
        neo_key_text(b, e, i, v);
        p2n_buf_append_str(b, ", '\\\\', '\\\\\\\\'), '\"', '\\\\\"') + '\"'");
    }
    p2n_buf_append_str(b, " + ']'");
}

void fullsync_neo_key_expr(const MappingEntity *e, const char *v, P2nBuf *b)
{
    if (e->nkeys == 1) {
        cypher_prop(b, v, fullsync_key_prop(e, 0));
        return;
    }
    p2n_buf_append_byte(b, '[');
    for (size_t i = 0; i < e->nkeys; i++) {
        if (i)
            p2n_buf_append_str(b, ", ");
        cypher_prop(b, v, fullsync_key_prop(e, i));
    }
    p2n_buf_append_byte(b, ']');
}

void fullsync_json_str(P2nBuf *b, const char *s)
{
    PsValue v;
    memset(&v, 0, sizeof(v));
    v.type = PS_STRING;
    v.u.str.data = s;
    v.u.str.len = (uint32_t)strlen(s);
    ps_value_to_json(b, &v);
}

/* ---- checkpoints ---- */


static int ckpt_sql(FsEnv *env, const char *tmpl, int np, const char *const *p, PGresult **out, const char *what,
                    P2nErr *err)
{
    char *sql = pgu_schema_subst(tmpl, env->schema, err);
    if (sql == NULL)
        return err && err->code ? err->code : P2N_ENOMEM;
    int rc = pgu_query_retry(env->pg2, sql, np, p, out, what, err); /* each its own transaction */
    free(sql);
    return rc;
}

typedef struct Ckpt {
    bool found;
    int64_t version;
    char phase[16];
    char *last_id;
    int64_t rows;
} Ckpt;

static int ckpt_get(FsEnv *env, const char *type, Ckpt *c, P2nErr *err)
{
    memset(c, 0, sizeof(*c));
    PGresult *r = NULL;
    int rc = ckpt_sql(env, "SELECT version, phase, last_id, rows_done FROM @SCHEMA@.graph_sync_fullsync WHERE entity_type = $1",
                      1, &type, &r, "could not read the full-sync checkpoint", err);
    if (rc < 0)
        return rc;
    if (PQntuples(r) == 1) {
        c->found = true;
        c->version = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        snprintf(c->phase, sizeof(c->phase), "%s", PQgetvalue(r, 0, 1));
        c->last_id = PQgetisnull(r, 0, 2) ? NULL : strdup(PQgetvalue(r, 0, 2));
        c->rows = strtoll(PQgetvalue(r, 0, 3), NULL, 10);
    }
    PQclear(r);
    return 0;
}

static int ckpt_put(FsEnv *env, const char *type, int64_t version, const char *phase, const char *last_id,
                    int64_t rows, int64_t orphans, P2nErr *err)
{
    char v[32], rw[32], o[32];
    snprintf(v, sizeof(v), "%lld", (long long)version);
    snprintf(rw, sizeof(rw), "%lld", (long long)rows);
    snprintf(o, sizeof(o), "%lld", (long long)orphans);
    const char *p[6] = {type, v, phase, last_id, rw, o};
    return ckpt_sql(env,
                    "INSERT INTO @SCHEMA@.graph_sync_fullsync AS f (entity_type, version, phase, last_id, rows_done,"
                    " orphans_removed) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (entity_type) DO UPDATE SET"
                    " version = EXCLUDED.version, phase = EXCLUDED.phase, last_id = EXCLUDED.last_id,"
                    " rows_done = EXCLUDED.rows_done, orphans_removed = EXCLUDED.orphans_removed, updated_at = now()",
                    6, p, NULL, "could not store the full-sync checkpoint", err);
}

static int current_version(FsEnv *env, int64_t *v, P2nErr *err)
{
    int rc = sync_version_seq_last(env->pg2, env->schema, v, err);
    if (rc < 0 && strcmp(err->sqlstate, "42P01") == 0)
        return p2n_err_set(err, P2N_ESTATE, "the sync schema is not initialised in schema \"%s\": run pg2neo init",
                           env->schema);
    return rc;
}

/*
 * Waits until every transaction that was running when version v was read has ended: a change
 * whose version is <= v is then committed (or rolled back) and visible to the snapshots the full
 * sync takes next, so writing its rows at version v can never hide it. A transaction gets its
 * xid when it writes the row, before its trigger draws the version.
 */
static int wait_in_flight(FsEnv *env, P2nErr *err)
{
    PGresult *r = NULL;
    /* an xid of our own, newer than the xid of every transaction that drew a version <= v */
    int rc = pgu_query(env->pg2, "SELECT txid_current()", 0, NULL, &r,
                       "could not read the transaction horizon", err);
    if (rc < 0)
        return rc;
    char xmax[32];
    snprintf(xmax, sizeof(xmax), "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    const char *p = xmax;
    int64_t t0 = p2n_now_mono_ms();
    bool told = false;
    for (;;) {
        if ((rc = pgu_query(env->pg2, "SELECT txid_snapshot_xmin(txid_current_snapshot()) > $1::bigint", 1, &p, &r,
                            "could not read the transaction horizon", err)) < 0)
            return rc;
        bool done = PQgetvalue(r, 0, 0)[0] == 't';
        PQclear(r);
        if (done)
            return 0;
        if (!told && p2n_now_mono_ms() - t0 > 5000) {
            P2N_INFO("waiting for transactions older than the full sync to end", "waited_ms=%lld",
                     (long long)(p2n_now_mono_ms() - t0));
            told = true;
        }
        p2n_sleep_ms(50, NULL);
    }
}

/* ---- progress ---- */

typedef struct Progress {
    bool on;
    const char *type;
    int64_t total; /* estimate, <= 0 unknown */
    int64_t done;
    int64_t t0_ms;
    int64_t last_ms;
} Progress;

static void progress_draw(Progress *p, bool final)
{
    if (!p->on)
        return;
    int64_t now = p2n_now_mono_ms();
    if (!final && now - p->last_ms < 200)
        return;
    p->last_ms = now;
    double secs = (double)(now - p->t0_ms) / 1000.0;
    double rate = secs > 0 ? (double)p->done / secs : 0;
    char bar[31];
    int64_t total = p->total > p->done ? p->total : p->done;
    int fill = total > 0 ? (int)(30 * p->done / total) : 0;
    if (final)
        fill = 30;
    for (int i = 0; i < 30; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[30] = '\0';
    char eta[32] = "?";
    if (final)
        snprintf(eta, sizeof(eta), "done");
    else if (rate > 0 && p->total > 0)
        snprintf(eta, sizeof(eta), "%.0fs", (double)(total - p->done) / rate);
    fprintf(stderr, "\r%-14.14s [%s] %lld/%lld rows %8.0f rows/s ETA %-6s%s", p->type, bar, (long long)p->done,
            (long long)total, rate, eta, final ? "\n" : "");
    fflush(stderr);
}

static int64_t estimate_rows(FsEnv *env, const MappingEntity *e)
{
    P2nBuf t;
    p2n_buf_init(&t);
    mapping_sql_table(env->m, e, &t);
    int64_t n = -1;
    if (!t.failed) {
        const char *p = (const char *)t.data;
        PGresult *r = PQexecParams(env->pg2, "SELECT reltuples::bigint FROM pg_class WHERE oid = $1::regclass", 1, NULL,
                                   &p, NULL, NULL, 0);
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
            n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
    }
    p2n_buf_free(&t);
    return n;
}

/* ---- one type ---- */

/*
 * Writing a chunk is split in two so that the next chunk is read from PostgreSQL while Neo4j
 * runs this one's transaction: chunk_send encodes the stream's current chunk and sends the
 * whole transaction, COMMIT included (*sent = rows in it, 0 when none encoded: nothing sent);
 * chunk_wait collects the outcome.
 */
/* A chunk's transaction failed: rolled back if the connection still can; the error says which type. */
static int chunk_failed(FsEnv *env, const MappingEntity *e, P2nErr *err)
{
    if (bolt_conn_usable(env->neo))
        bolt_rollback(env->neo, NULL);
    return p2n_err_prefix(err, "could not write %s rows to Neo4j", e->name);
}

static int chunk_send(FsEnv *env, const MappingEntity *e, FsPgStream *s, int64_t version, P2nBuf *rows,
                      P2nBuf *params, FullsyncTypeResult *tr, uint32_t *sent, P2nErr *err)
{
    int64_t t0 = p2n_now_mono_us();
    *sent = 0;
    p2n_buf_reset(rows);
    uint32_t n = 0;
    for (int i = 0; i < s->nlive; i++) {
        P2nErr e2;
        p2n_err_clear(&e2);
        if (mapping_row_encode(e, s->rows, s->order[i], version, rows, &e2) < 0) {
            P2N_WARN("row skipped: it does not encode", "error=\"%s\"", e2.msg);
            tr->encode_errors++;
            continue;
        }
        n++;
    }
    if (n == 0)
        return 0;
    p2n_buf_reset(params);
    ps_pack_map_header(params, 1);
    ps_pack_cstr(params, "rows");
    ps_pack_list_header(params, n);
    p2n_buf_append(params, rows->data, rows->len);
    if (params->failed || rows->failed)
        return p2n_err_set(err, P2N_ENOMEM, "out of memory encoding rows");
    tr->encode_s += (double)(p2n_now_mono_us() - t0) / 1e6;
    int rc = bolt_begin(env->neo, NULL, err);
    for (size_t k = 0; rc == 0 && k < e->plan.nupsert; k++)
        rc = bolt_tx_queue(env->neo, e->plan.upsert[k], params->data, params->len, err);
    if (rc == 0)
        rc = bolt_commit_send(env->neo, err);
    if (rc < 0)
        return chunk_failed(env, e, err);
    *sent = n;
    return 0;
}

static int chunk_wait(FsEnv *env, const MappingEntity *e, uint32_t sent, FullsyncTypeResult *tr, P2nErr *err)
{
    if (sent == 0)
        return 0;
    int64_t t0 = p2n_now_mono_us();
    if (bolt_commit(env->neo, NULL, err) < 0)
        return chunk_failed(env, e, err);
    tr->neo_write_s += (double)(p2n_now_mono_us() - t0) / 1e6;
    tr->rows += sent;
    return 0;
}

static const char *entity_label(const MappingEntity *e)
{
    return e->labels && e->nlabels ? e->labels[0].s : e->name;
}

void fullsync_neo_query(const Mapping *m, const MappingEntity *e, bool verify, bool by_ids, P2nBuf *q)
{
    if (e->kind == MAPPING_NODE) {
        p2n_buf_append_str(q, "MATCH (n:");
        mapping_cypher_ident(q, entity_label(e));
        p2n_buf_append_str(q, ") WHERE ");
        for (size_t i = 0; i < e->nkeys; i++) {
            if (i)
                p2n_buf_append_str(q, " AND ");
            cypher_prop(q, "n", fullsync_key_prop(e, i));
            p2n_buf_append_str(q, " IS NOT NULL");
        }
        FsOrder ord = fullsync_order(e);
        P2nBuf order;
        p2n_buf_init(&order);
        p2n_buf_append_str(&order, " ORDER BY ");
        if (ord == FS_ORDER_TEXT) {
            p2n_buf_append_str(&order, "id");
        } else {
            /* the key itself, in the order of the PostgreSQL side (the range index can serve it) */
            cypher_prop(q, " AND n", fullsync_key_prop(e, 0));
            p2n_buf_append_str(q, ord == FS_ORDER_INT ? " IS :: INTEGER" : " IS :: STRING");
            cypher_prop(&order, "n", fullsync_key_prop(e, 0));
        }
        if (!verify)
            p2n_buf_append_str(q, " AND coalesce(n._p2n_version, -1) <= $v");
        if (by_ids && ord != FS_ORDER_TEXT) {
            /* typed keys: an index seek, not a label scan */
            cypher_prop(q, " AND n", fullsync_key_prop(e, 0));
            p2n_buf_append_str(q, " IN $keys");
        }
        p2n_buf_append_str(q, " WITH n, ");
        fullsync_neo_id_expr(e, "n", q);
        p2n_buf_append_str(q, " AS id");
        if (by_ids && ord == FS_ORDER_TEXT)
            p2n_buf_append_str(q, " WHERE id IN $ids");
        p2n_buf_append_str(q, " RETURN id, ");
        if (!verify) {
            fullsync_neo_key_expr(e, "n", q);
            p2n_buf_append_str(q, " AS k");
            p2n_buf_append(q, order.data, order.len);
            p2n_buf_free(&order);
            return;
        }
        p2n_buf_append_str(q, "properties(n) AS p");
        for (size_t i = 0; i < e->nrels; i++) {
            const MappingRel *r = &e->rels[i];
            p2n_buf_append_str(q, r->incoming ? ", [(n)<-[:" : ", [(n)-[:");
            mapping_cypher_ident(q, r->type);
            p2n_buf_append_str(q, r->incoming ? "]-(x:" : "]->(x:");
            if (r->target < 0) {
                mapping_cypher_ident(q, r->value_label);
                p2n_buf_append_str(q, ") | ");
                cypher_prop(q, "x", r->value_property);
            } else {
                const MappingEntity *t = &m->entities[r->target];
                mapping_cypher_ident(q, entity_label(t));
                p2n_buf_append_str(q, ") | ");
                fullsync_neo_key_expr(t, "x", q);
            }
            p2n_buf_printf(q, "] AS r%zu", i);
        }
        p2n_buf_append(q, order.data, order.len);
        p2n_buf_free(&order);
        return;
    }
    const MappingEntity *fe = &m->entities[e->from.target], *te = &m->entities[e->to.target];
    p2n_buf_append_str(q, "MATCH (a:");
    mapping_cypher_ident(q, entity_label(fe));
    p2n_buf_append_str(q, ")-[e:");
    mapping_cypher_ident(q, e->rel_type);
    p2n_buf_append_str(q, "]->(b:");
    mapping_cypher_ident(q, entity_label(te));
    p2n_buf_append_str(q, ") WHERE e._p2n_id IS NOT NULL");
    if (verify) {
        p2n_buf_append_str(q, by_ids ? " AND e._p2n_id IN $ids RETURN e._p2n_id AS id, properties(e) AS p, "
                                     : " RETURN e._p2n_id AS id, properties(e) AS p, ");
        fullsync_neo_key_expr(fe, "a", q);
        p2n_buf_append_str(q, " AS f, ");
        fullsync_neo_key_expr(te, "b", q);
        p2n_buf_append_str(q, " AS t ORDER BY id");
    } else {
        p2n_buf_append_str(q, " AND coalesce(e._p2n_version, -1) <= $v RETURN e._p2n_id AS id ORDER BY id");
    }
}

/* Deletes the orphans collected in keys (n packed {k|id, v} maps). */
static int delete_orphans(FsEnv *env, const MappingEntity *e, const P2nBuf *rows, uint32_t n, P2nErr *err)
{
    if (n == 0)
        return 0;
    P2nBuf p;
    p2n_buf_init(&p);
    ps_pack_map_header(&p, 1);
    ps_pack_cstr(&p, "rows");
    ps_pack_list_header(&p, n);
    p2n_buf_append(&p, rows->data, rows->len);
    int rc = p.failed ? p2n_err_set(err, P2N_ENOMEM, "out of memory") : 0;
    if (rc == 0) {
        rc = bolt_exec(env->neo, e->plan.delete_cypher, p.data, p.len, NULL, NULL, err);
        if (rc < 0)
            p2n_err_prefix(err, "could not delete %s orphans", e->name);
    }
    p2n_buf_free(&p);
    return rc;
}

/*
 * Orphans: merges the live ids of PostgreSQL (a fresh snapshot) with the ids of the graph
 * (nodes / relationships at version <= V) and deletes the graph's extras. The graph's ids are
 * streamed; the extras found are kept until the stream ends (the write needs the connection),
 * deleted in chunks of `chunk`.
 */
static int sweep_orphans(FsEnv *env, const MappingEntity *e, int64_t version, int chunk, int64_t *removed,
                         P2nErr *err)
{
    FsPgStream s;
    int rc = fullsync_pg_open(&s, env->pg, env->m, e, NULL, NULL, 0, chunk, err);
    if (rc < 0)
        return rc;
    P2nBuf q, params, extra;
    p2n_buf_init(&q);
    p2n_buf_init(&params);
    p2n_buf_init(&extra);
    fullsync_neo_query(env->m, e, false, false, &q);
    ps_pack_map_header(&params, 1);
    ps_pack_cstr(&params, "v");
    ps_pack_int(&params, version);
    uint32_t nextra = 0;
    FsOrder ord = fullsync_order(e);
    int prow = -1;
    int have_pg = fullsync_pg_next(&s, &prow, err);
    if (have_pg < 0) {
        rc = have_pg;
        goto out;
    }
    if ((rc = bolt_run(env->neo, (const char *)q.data, params.data, params.len, NULL, err)) < 0)
        goto out;
    for (;;) {
        const PsValue *rec = NULL;
        int got = bolt_next(env->neo, &rec, err);
        if (got < 0) {
            rc = got;
            goto out;
        }
        if (got == 0)
            break;
        const PsValue *idv = &rec->u.list.items[0];
        if (idv->type != PS_STRING)
            continue;
        const char *nid = idv->u.str.data;
        int cmp = 1;
        while (have_pg == 1 && (cmp = fullsync_id_cmp(ord, PQgetvalue(s.rows, prow, 0), nid)) < 0) {
            have_pg = fullsync_pg_next(&s, &prow, err);
            if (have_pg < 0) {
                rc = have_pg;
                bolt_discard(env->neo, NULL);
                goto out;
            }
        }
        if (have_pg == 1 && cmp == 0)
            continue;
        /* not a live row: an orphan */
        ps_pack_map_header(&extra, 2);
        if (e->kind == MAPPING_NODE) {
            ps_pack_cstr(&extra, "k");
            ps_pack_value(&extra, &rec->u.list.items[1]);
        } else {
            ps_pack_cstr(&extra, "id");
            ps_pack_cstr(&extra, nid);
        }
        ps_pack_cstr(&extra, "v");
        ps_pack_int(&extra, version);
        nextra++;
    }
    fullsync_pg_close(&s);
    /* delete in chunks: re-walk the packed maps */
    {
        size_t off = 0, start = 0;
        uint32_t inchunk = 0;
        PsArena a;
        ps_arena_init(&a, 0);
        while (off < extra.len && rc == 0) {
            PsValue v;
            size_t used = 0;
            ps_arena_reset(&a);
            if ((rc = ps_decode(&a, extra.data + off, extra.len - off, NULL, &v, &used, err)) < 0)
                break;
            off += used;
            inchunk++;
            if (inchunk == (uint32_t)chunk || off == extra.len) {
                P2nBuf part = {extra.data + start, off - start, off - start, 0, false};
                rc = delete_orphans(env, e, &part, inchunk, err);
                start = off;
                inchunk = 0;
            }
        }
        ps_arena_free(&a);
        if (rc == 0)
            *removed += nextra;
    }
out:
    fullsync_pg_close(&s);
    p2n_buf_free(&q);
    p2n_buf_free(&params);
    p2n_buf_free(&extra);
    return rc;
}

/*
 * Whether the graph holds anything of this type (a node with its label, a relationship of its
 * type between its end labels): 1 yes, 0 no, < 0 error. Asked before a type's load starts from
 * its beginning: when nothing is there, nothing the load leaves behind can be an orphan (every
 * node written is a live row of the snapshot; a row deleted since is a queued change with a
 * higher version, the daemon's), so the orphan sweep is skipped — on a first load into an empty
 * graph it cost 12% of the run.
 */
static int graph_has_type(FsEnv *env, const MappingEntity *e, P2nErr *err)
{
    P2nBuf q;
    p2n_buf_init(&q);
    if (e->kind == MAPPING_NODE) {
        p2n_buf_append_str(&q, "MATCH (n:");
        mapping_cypher_ident(&q, entity_label(e));
        p2n_buf_append_str(&q, ") RETURN 1 LIMIT 1");
    } else {
        p2n_buf_append_str(&q, "MATCH (:");
        mapping_cypher_ident(&q, entity_label(&env->m->entities[e->from.target]));
        p2n_buf_append_str(&q, ")-[x:");
        mapping_cypher_ident(&q, e->rel_type);
        p2n_buf_append_str(&q, "]->(:");
        mapping_cypher_ident(&q, entity_label(&env->m->entities[e->to.target]));
        p2n_buf_append_str(&q, ") RETURN 1 LIMIT 1");
    }
    int rc = q.failed ? p2n_err_set(err, P2N_ENOMEM, "out of memory") : 0;
    int found = 0;
    if (rc == 0)
        rc = bolt_run(env->neo, (const char *)q.data, NULL, 0, NULL, err);
    while (rc == 0) {
        const PsValue *rec = NULL;
        int got = bolt_next(env->neo, &rec, err);
        if (got <= 0) {
            rc = got;
            break;
        }
        found = 1;
    }
    p2n_buf_free(&q);
    if (rc < 0)
        return p2n_err_prefix(err, "could not look for %s in the graph", e->name);
    return found;
}

static int sync_type(FsEnv *env, const MappingEntity *e, const FullsyncOptions *o, bool resuming, long *chunks_left,
                     FullsyncTypeResult *tr, P2nErr *err)
{
    int64_t t0 = p2n_now_mono_ms();
    Ckpt c;
    int rc = ckpt_get(env, e->name, &c, err);
    if (rc < 0)
        return rc;
    int64_t version = 0;
    const char *after = NULL;
    bool orphans_only = false;
    int batch = o->batch > 0 ? o->batch : FULLSYNC_DEFAULT_BATCH;
    int64_t t2 = 0;
    Progress pr = {o->progress, e->name, 0, 0, t0, 0};
    if (!c.found) {
        rc = p2n_err_set(err, P2N_ESTATE, "no full-sync checkpoint for %s", e->name);
        goto out;
    }
    version = c.version;
    tr->resumed = resuming;
    tr->rows_before = resuming ? c.rows : 0;
    if (strcmp(c.phase, "done") == 0)
        goto out; /* finished by the interrupted run this one resumes */
    after = c.last_id;
    orphans_only = strcmp(c.phase, "orphans") == 0;
    tr->version = version;
    if (!orphans_only && after == NULL && c.rows == 0) {
        /* the type's load starts from its beginning: is there anything an orphan could be? */
        int has = graph_has_type(env, e, err);
        if (has < 0) {
            rc = has;
            goto out;
        }
        tr->orphan_sweep = has == 1;
    } else {
        tr->orphan_sweep = true;
    }
    if (!orphans_only) {
        FsPgStream s;
        if ((rc = fullsync_pg_open(&s, env->pg, env->m, e, after, NULL, 0, batch, err)) < 0)
            goto out;
        if (pr.on) {
            pr.total = estimate_rows(env, e);
            pr.done = tr->rows_before;
        }
        P2nBuf rows, params;
        p2n_buf_init(&rows);
        p2n_buf_init(&params);
        /* chunk k is written while chunk k+1 is read: read k+1 after k's transaction went out,
           then wait for k's commit, then k's checkpoint (its own last id, kept aside) */
        int64_t t1 = p2n_now_mono_us();
        int got = fullsync_pg_chunk(&s, err);
        tr->pg_read_s += (double)(p2n_now_mono_us() - t1) / 1e6;
        char *ck_id = NULL;
        while (got > 0) {
            if (o->limit_chunks > 0 && *chunks_left <= 0) {
                rc = p2n_err_set(err, P2N_ECANCELED, "stopped after %ld chunks (--limit-chunks)", o->limit_chunks);
                break;
            }
            uint32_t sent = 0;
            if ((rc = chunk_send(env, e, &s, version, &rows, &params, tr, &sent, err)) < 0)
                break;
            free(ck_id);
            if ((ck_id = strdup(s.last_id)) == NULL) {
                P2nErr ignored;
                chunk_wait(env, e, sent, tr, &ignored);
                rc = p2n_err_set(err, P2N_ENOMEM, "out of memory");
                break;
            }
            t1 = p2n_now_mono_us();
            got = fullsync_pg_chunk(&s, err); /* while Neo4j runs the transaction */
            tr->pg_read_s += (double)(p2n_now_mono_us() - t1) / 1e6;
            P2nErr werr;
            p2n_err_clear(&werr);
            if ((rc = chunk_wait(env, e, sent, tr, &werr)) < 0) {
                *err = werr;
                break;
            }
            t1 = p2n_now_mono_us();
            rc = ckpt_put(env, e->name, version, "load", ck_id, tr->rows_before + tr->rows, 0, err);
            tr->checkpoint_s += (double)(p2n_now_mono_us() - t1) / 1e6;
            if (rc < 0)
                break;
            (*chunks_left)--;
            pr.done = tr->rows_before + tr->rows;
            progress_draw(&pr, false);
        }
        free(ck_id);
        if (rc == 0 && got < 0)
            rc = got;
        fullsync_pg_close(&s);
        p2n_buf_free(&rows);
        p2n_buf_free(&params);
        if (rc < 0) {
            if (pr.on)
                fputc('\n', stderr);
            goto out;
        }
        if ((rc = ckpt_put(env, e->name, version, "orphans", NULL, tr->rows_before + tr->rows, 0, err)) < 0)
            goto out;
    }
    t2 = p2n_now_mono_us();
    rc = tr->orphan_sweep ? sweep_orphans(env, e, version, batch, &tr->orphans_removed, err) : 0;
    tr->orphans_s = (double)(p2n_now_mono_us() - t2) / 1e6;
    if (rc < 0)
        goto out;
    rc = ckpt_put(env, e->name, version, "done", NULL, tr->rows_before + tr->rows, tr->orphans_removed, err);
    pr.done = tr->rows_before + tr->rows;
    progress_draw(&pr, true);
out:
    free(c.last_id);
    tr->seconds = (double)(p2n_now_mono_ms() - t0) / 1000.0;
    return rc;
}

/* One type, run again from its checkpoint after a conflict (a deadlock with daemons writing the
   same nodes, a lock timeout on its table): chunks whose checkpoint was stored are not written
   again. The result counts every attempt's rows once: a resumed attempt starts its rows_before
   at the checkpoint, which holds the rows the failed attempts wrote. */
typedef struct TypeRun {
    FsEnv *env;
    const MappingEntity *e;
    const FullsyncOptions *o;
    bool resuming;
    long *chunks_left;
    FullsyncTypeResult *tr;
    int runs;
    int64_t rows_before; /* the first attempt's */
    double seconds;      /* of the attempts before */
} TypeRun;

static int sync_type_once(void *ctx, P2nErr *err)
{
    TypeRun *t = ctx;
    FullsyncTypeResult *tr = t->tr;
    if (t->runs > 0) {
        t->seconds += tr->seconds;
        tr->rows = 0; /* counted again from the checkpoint, in rows_before */
        if (!bolt_conn_usable(t->env->neo)) { /* a failed transaction the server closed on */
            bolt_conn_close(t->env->neo);
            t->env->neo = NULL;
            int rc = bolt_driver_connect(t->env->driver, BOLT_ACCESS_WRITE, &t->env->neo, err);
            if (rc < 0)
                return rc;
        }
    }
    int rc = sync_type(t->env, t->e, t->o, t->resuming || t->runs > 0, t->chunks_left, tr, err);
    if (t->runs++ == 0)
        t->rows_before = tr->rows_before;
    return rc;
}

static int sync_type_retry(FsEnv *env, const MappingEntity *e, const FullsyncOptions *o, bool resuming,
                           long *chunks_left, FullsyncTypeResult *tr, P2nErr *err)
{
    TypeRun t = {env, e, o, resuming, chunks_left, tr, 0, 0, 0};
    char what[200];
    snprintf(what, sizeof(what), "full sync of %s", e->name);
    int rc = p2n_retry(what, sync_type_once, &t, err);
    if (t.runs > 1) { /* as one run: the rows of every attempt, from the first one's start */
        tr->rows += tr->rows_before - t.rows_before;
        tr->rows_before = t.rows_before;
        tr->resumed = resuming;
        tr->seconds += t.seconds;
    }
    return rc;
}

int fullsync_run(FsEnv *env, const FullsyncOptions *o, FullsyncResult *res, P2nErr *err)
{
    memset(res, 0, sizeof(*res));
    int64_t t0 = p2n_now_mono_ms();
    const MappingEntity *only = NULL;
    if (o->type) {
        only = mapping_entity_find(env->m, o->type);
        if (only == NULL)
            return p2n_err_set(err, P2N_ENOTFOUND, "unknown entity type \"%s\"", o->type);
    }
    int64_t v;
    int rc = current_version(env, &v, err); /* also checks that the sync schema is there */
    if (rc < 0)
        return rc;
    /* the checkpoint table comes with migration 005: an older sync schema needs init first */
    if ((rc = pg_schema_require(env->pg2, env->schema, true, err)) < 0)
        return rc;
    res->types = calloc(env->m->nentities, sizeof(*res->types));
    if (res->types == NULL)
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    long chunks_left = o->limit_chunks;
    /* an interrupted run (a selected type not done) is resumed: types it finished are skipped */
    bool resuming = false;
    if (!o->restart) {
        PGresult *r = NULL;
        const char *p1 = only ? only->name : NULL;
        rc = ckpt_sql(env, "SELECT count(*) FROM @SCHEMA@.graph_sync_fullsync WHERE phase <> 'done'"
                           " AND ($1::text IS NULL OR entity_type = $1)", 1, &p1, &r, "could not read checkpoints", err);
        if (rc < 0)
            return rc;
        resuming = strtoll(PQgetvalue(r, 0, 0), NULL, 10) > 0;
        PQclear(r);
    }
    if (!resuming) {
        /* a new run: every selected type starts from the beginning at the current version,
           above every version the graph holds (versions.h: else its writes would be skipped) */
        if ((rc = sync_version_floor(env->pg2, env->neo, env->schema, env->m, NULL, NULL, err)) < 0 ||
            (rc = current_version(env, &v, err)) < 0 || (rc = wait_in_flight(env, err)) < 0)
            return rc;
        char vs[32];
        snprintf(vs, sizeof(vs), "%lld", (long long)v);
        const char *p2[2] = {only ? only->name : NULL, vs};
        P2nBuf names;
        p2n_buf_init(&names);
        const char **nv = calloc(env->m->nentities, sizeof(*nv));
        size_t nn = 0;
        for (size_t i = 0; nv && i < env->m->nentities; i++)
            if (!only || &env->m->entities[i] == only)
                nv[nn++] = env->m->entities[i].name;
        pgu_array_literal(&names, nv, nn);
        free(nv);
        p2[0] = (const char *)names.data;
        rc = names.failed || nv == NULL
                 ? p2n_err_set(err, P2N_ENOMEM, "out of memory")
                 : ckpt_sql(env,
                            "INSERT INTO @SCHEMA@.graph_sync_fullsync AS f (entity_type, version, phase, last_id,"
                            " rows_done, orphans_removed) SELECT x, $2, 'load', NULL, 0, 0 FROM unnest($1::text[]) x"
                            " ON CONFLICT (entity_type) DO UPDATE SET version = EXCLUDED.version, phase = 'load',"
                            " last_id = NULL, rows_done = 0, orphans_removed = 0, started_at = now(), updated_at = now()",
                            2, p2, NULL, "could not reset the full-sync checkpoints", err);
        p2n_buf_free(&names);
        if (rc < 0)
            return rc;
    }
    /* nodes first, so join-table relationships find their ends */
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        for (size_t i = 0; i < env->m->nentities && rc == 0; i++) {
            const MappingEntity *e = &env->m->entities[i];
            if ((only && e != only) || (int)e->kind != pass)
                continue;
            FullsyncTypeResult *tr = &res->types[res->ntypes++];
            tr->type = e->name;
            rc = sync_type_retry(env, e, o, resuming, &chunks_left, tr, err);
            res->rows += tr->rows;
            res->orphans_removed += tr->orphans_removed;
        }
    }
    res->seconds = (double)(p2n_now_mono_ms() - t0) / 1000.0;
    return rc;
}

void fullsync_result_free(FullsyncResult *res)
{
    free(res->types);
    memset(res, 0, sizeof(*res));
}

void fullsync_result_json(const FullsyncResult *res, P2nBuf *b)
{
    p2n_buf_append_str(b, "{\"types\":[");
    for (size_t i = 0; i < res->ntypes; i++) {
        const FullsyncTypeResult *t = &res->types[i];
        p2n_buf_append_str(b, i ? ",{\"type\":" : "{\"type\":");
        fullsync_json_str(b, t->type);
        p2n_buf_printf(b,
                       ",\"rows\":%lld,\"rows_before_resume\":%lld,\"resumed\":%s,\"orphans_removed\":%lld,"
                       "\"orphan_sweep\":%s,\"skipped_rows\":%lld,\"version\":%lld,\"duration_s\":%.3f,\"rows_per_s\":%.1f,"
                       "\"phases_s\":{\"pg_read\":%.3f,\"encode\":%.3f,\"neo4j_write\":%.3f,\"checkpoint\":%.3f,"
                       "\"orphans\":%.3f}}",
                       (long long)t->rows, (long long)t->rows_before, t->resumed ? "true" : "false",
                       (long long)t->orphans_removed, t->orphan_sweep ? "true" : "false", (long long)t->encode_errors,
                       (long long)t->version, t->seconds, t->seconds > 0 ? (double)t->rows / t->seconds : 0.0,
                       t->pg_read_s, t->encode_s,
                       t->neo_write_s, t->checkpoint_s, t->orphans_s);
    }
    p2n_buf_printf(b, "],\"rows\":%lld,\"orphans_removed\":%lld,\"duration_s\":%.3f,\"rows_per_s\":%.1f}",
                   (long long)res->rows, (long long)res->orphans_removed, res->seconds,
                   res->seconds > 0 ? (double)res->rows / res->seconds : 0.0);
}
