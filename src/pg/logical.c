/* Logical capture: a replication slot read into graph_sync_log (see logical.h). */
#include "pg/logical.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/keyid.h"
#include "pg/pgoutput.h"
#include "pg/pgutil.h"

#define PULL_LOCK_KEY 1882091119 /* graph_sync_fold() uses 1882091118 */
#define MAX_KEYS 32

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) {
        h ^= (uint8_t)*s;
        h *= 16777619u;
    }
    return h;
}

static size_t clean_part(char *out, size_t max, const char *in, bool *changed)
{
    size_t n = 0;
    for (const char *p = in; *p; p++) {
        char c = *p;
        if (c >= 'A' && c <= 'Z') {
            c = (char)(c - 'A' + 'a');
            *changed = true;
        } else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
            c = '_';
            *changed = true;
        }
        if (n < max)
            out[n++] = c;
        else
            *changed = true;
    }
    out[n] = '\0';
    return n;
}

void pg_logical_name(char *buf, size_t size, const char *dbname, const char *sync_schema)
{
    char db[24], sch[24], both[512];
    bool changed = false;
    clean_part(db, 20, dbname ? dbname : "", &changed);
    clean_part(sch, 20, sync_schema, &changed);
    if (changed) {
        snprintf(both, sizeof(both), "%s\x1f%s", dbname ? dbname : "", sync_schema);
        snprintf(buf, size, "pg2neo_%s_%s_%08" PRIx32, db, sch, fnv1a(both));
    } else {
        snprintf(buf, size, "pg2neo_%s_%s", db, sch);
    }
}

int pg_logical_wal_level_check(PGconn *conn, P2nErr *err)
{
    PGresult *r = NULL;
    int rc = pgu_query(conn, "SELECT current_setting('wal_level')", 0, NULL, &r, "could not read wal_level", err);
    if (rc < 0)
        return rc;
    char level[32];
    snprintf(level, sizeof(level), "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    if (strcmp(level, "logical") != 0)
        return p2n_err_set(err, P2N_ECONFIG,
                           "logical capture needs wal_level = logical, and the server has %s: run ALTER SYSTEM SET"
                           " wal_level = logical and restart PostgreSQL, or use source.capture: triggers",
                           level);
    return 0;
}

int pg_logical_slot_ensure(PGconn *conn, const char *sync_schema, bool *created, P2nErr *err)
{
    if (created)
        *created = false;
    int rc = pg_logical_wal_level_check(conn, err);
    if (rc < 0)
        return rc;
    char name[80];
    pg_logical_name(name, sizeof(name), PQdb(conn), sync_schema);
    const char *p[1] = {name};
    PGresult *r = NULL;
    rc = pgu_query(conn,
                   "SELECT plugin, database = current_database() FROM pg_replication_slots WHERE slot_name = $1", 1,
                   p, &r, "could not look up the replication slot", err);
    if (rc < 0)
        return rc;
    if (PQntuples(r) == 1) {
        bool ok = strcmp(PQgetvalue(r, 0, 0), "pgoutput") == 0 && PQgetvalue(r, 0, 1)[0] == 't';
        PQclear(r);
        if (!ok)
            return p2n_err_set(err, P2N_ESTATE,
                               "replication slot \"%s\" exists but belongs to another database or plugin: drop it"
                               " (SELECT pg_drop_replication_slot('%s')) or use another sync schema",
                               name, name);
        return 0;
    }
    PQclear(r);
    if (PQtransactionStatus(conn) != PQTRANS_IDLE)
        return p2n_err_set(err, P2N_ESTATE, "the replication slot must be created outside a transaction");
    rc = pgu_query(conn, "SELECT pg_create_logical_replication_slot($1, 'pgoutput')", 1, p, NULL,
                   "could not create the replication slot (the role needs REPLICATION)", err);
    if (rc == 0 && created)
        *created = true;
    return rc;
}

static int load_tables(PGconn *conn, const char *schema, PGresult **res, PgLogicalTable **out, size_t *n,
                       const char ***keys_out, P2nErr *err);

int pg_logical_publish(PGconn *conn, const char *sync_schema, P2nErr *err)
{
    char name[80], qname[180];
    pg_logical_name(name, sizeof(name), PQdb(conn), sync_schema);
    if (pgu_quote_ident(qname, sizeof(qname), name) < 0)
        return p2n_err_set(err, P2N_EINVAL, "publication name too long");
    PGresult *tr = NULL;
    PgLogicalTable *tables = NULL;
    const char **tkeys = NULL;
    size_t n = 0;
    int rc = load_tables(conn, sync_schema, &tr, &tables, &n, &tkeys, err);
    if (rc < 0)
        return rc;
    P2nBuf list, keys;
    p2n_buf_init(&list);
    p2n_buf_init(&keys);
    size_t nlog = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const PgLogicalTable *t = &tables[i];
        p2n_buf_reset(&keys);
        pgu_array_literal(&keys, t->keys, t->nkeys);
        p2n_buf_append_byte(&keys, '\0');
        if (keys.failed) {
            rc = p2n_err_set(err, P2N_ENOMEM, "out of memory");
            break;
        }
        /* the replica identity: what PostgreSQL logs of an old row, so what a delete carries */
        const char *p[3] = {t->schema, t->table, (const char *)keys.data};
        PGresult *r = NULL;
        rc = pgu_query(conn,
                       "SELECT c.relreplident,"
                       "       ARRAY(SELECT a.attname::text FROM pg_index i"
                       "              JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)"
                       "             WHERE i.indrelid = c.oid AND ((c.relreplident = 'd' AND i.indisprimary)"
                       "                   OR (c.relreplident = 'i' AND i.indisreplident)) ORDER BY a.attnum)"
                       "  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                       " WHERE n.nspname = $1 AND c.relname = $2",
                       2, p, &r, "could not read the replica identity", err);
        if (rc < 0)
            break;
        if (PQntuples(r) != 1) {
            PQclear(r);
            rc = p2n_err_set(err, P2N_ENOTFOUND, "table \"%s.%s\" does not exist", t->schema, t->table);
            break;
        }
        char ident = PQgetvalue(r, 0, 0)[0];
        char idcols[1024];
        snprintf(idcols, sizeof(idcols), "%s", PQgetvalue(r, 0, 1));
        PQclear(r);
        bool full = ident == 'f';
        if (!full) {
            const char *p2[2] = {idcols, (const char *)keys.data};
            rc = pgu_query(conn,
                           "SELECT cardinality($1::text[]) > 0 AND ($2::text[] = '{}' OR"
                           " ($1::text[] <@ $2::text[] AND $2::text[] <@ $1::text[]))",
                           2, p2, &r, "could not compare key columns", err);
            if (rc < 0)
                break;
            bool same = PQgetvalue(r, 0, 0)[0] == 't';
            PQclear(r);
            if (!same) {
                rc = p2n_err_set(err, P2N_ECONFIG,
                                 "logical capture of \"%s.%s\": its key must be the table's replica identity (%s):"
                                 " ALTER TABLE ... REPLICA IDENTITY USING INDEX <a unique index on the key>",
                                 t->schema, t->table, idcols[2] ? idcols : "none");
                break;
            }
        }
        char qs[180], qt[180];
        if (pgu_quote_ident(qs, sizeof(qs), t->schema) < 0 || pgu_quote_ident(qt, sizeof(qt), t->table) < 0) {
            rc = p2n_err_set(err, P2N_EINVAL, "name too long in table \"%s.%s\"", t->schema, t->table);
            break;
        }
        p2n_buf_printf(&list, "%s%s.%s", nlog ? ", " : "", qs, qt);
        if (!full) {
            /* only the key travels: the sync reads the current row itself */
            p2n_buf_append_str(&list, " (");
            for (size_t k = 0; k < t->nkeys; k++) {
                char qc[180];
                if (pgu_quote_ident(qc, sizeof(qc), t->keys[k]) < 0) {
                    rc = p2n_err_set(err, P2N_EINVAL, "column name too long");
                    break;
                }
                p2n_buf_printf(&list, "%s%s", k ? ", " : "", qc);
            }
            p2n_buf_append_str(&list, ")");
        }
        nlog++;
    }
    p2n_buf_free(&keys);
    if (rc == 0 && nlog > 0) {
        const char *p[1] = {name};
        PGresult *r = NULL;
        rc = pgu_query(conn, "SELECT 1 FROM pg_publication WHERE pubname = $1", 1, p, &r,
                       "could not look up the publication", err);
        if (rc == 0) {
            bool exists = PQntuples(r) > 0;
            PQclear(r);
            /* publish_via_partition_root: a partitioned table's changes come under the root's
               relation (the captured table), whichever partition they touched, partitions created
               later included; and a column list is allowed on it only then */
            P2nBuf sql;
            p2n_buf_init(&sql);
            if (exists)
                p2n_buf_printf(&sql, "ALTER PUBLICATION %s SET (publish_via_partition_root = true);"
                                     " ALTER PUBLICATION %s SET TABLE ", qname, qname);
            else
                p2n_buf_printf(&sql, "CREATE PUBLICATION %s FOR TABLE ", qname);
            p2n_buf_append(&sql, list.data, list.len);
            if (!exists)
                p2n_buf_append_str(&sql, " WITH (publish = 'insert, update, delete, truncate',"
                                         " publish_via_partition_root = true)");
            p2n_buf_append_byte(&sql, '\0');
            rc = sql.failed || list.failed ? p2n_err_set(err, P2N_ENOMEM, "out of memory")
                                           : pgu_exec(conn, (const char *)sql.data, "could not set the publication", err);
            p2n_buf_free(&sql);
        }
    }
    p2n_buf_free(&list);
    PQclear(tr);
    free(tables);
    free(tkeys);
    return rc;
}

int pg_logical_drop(PGconn *conn, const char *sync_schema, P2nErr *err)
{
    char name[80], qname[180];
    pg_logical_name(name, sizeof(name), PQdb(conn), sync_schema);
    if (pgu_quote_ident(qname, sizeof(qname), name) < 0)
        return p2n_err_set(err, P2N_EINVAL, "publication name too long");
    const char *p[1] = {name};
    int rc = pgu_query(conn,
                       "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
                       " WHERE slot_name = $1 AND database = current_database()",
                       1, p, NULL, "could not drop the replication slot", err);
    if (rc < 0)
        return rc;
    char sql[256];
    snprintf(sql, sizeof(sql), "SET client_min_messages = warning; DROP PUBLICATION IF EXISTS %s;"
                               " RESET client_min_messages", qname);
    return pgu_exec(conn, sql, "could not drop the publication", err);
}

int pg_logical_enabled(PGconn *conn, const char *sync_schema, bool *on, P2nErr *err)
{
    *on = false;
    char name[80];
    pg_logical_name(name, sizeof(name), PQdb(conn), sync_schema);
    const char *p[1] = {name};
    PGresult *r = NULL;
    int rc = pgu_query(conn,
                       "SELECT EXISTS (SELECT 1 FROM pg_replication_slots"
                       "                WHERE slot_name = $1 AND database = current_database())",
                       1, p, &r, "could not look up the replication slot", err);
    if (rc < 0)
        return rc;
    *on = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    return 0;
}

static int lsn_parse(const char *s, uint64_t *out)
{
    unsigned int hi = 0, lo = 0;
    if (sscanf(s, "%X/%X", &hi, &lo) != 2)
        return -1;
    *out = ((uint64_t)hi << 32) | lo;
    return 0;
}

int pg_logical_poll(PGconn *conn, PgLogicalPoll *st, int *has, P2nErr *err)
{
    *has = 0;
    PGresult *r = NULL;
    int rc = pgu_query(conn, "SELECT pg_current_wal_lsn()::text", 0, NULL, &r, "could not poll the WAL position", err);
    if (rc < 0)
        return rc;
    uint64_t lsn = 0;
    int bad = lsn_parse(PQgetvalue(r, 0, 0), &lsn);
    PQclear(r);
    if (bad)
        return p2n_err_set(err, P2N_EPROTO, "could not parse the WAL position");
    *has = !st->primed || lsn != st->last_lsn;
    st->primed = true;
    st->last_lsn = lsn;
    return 0;
}

/* ---------- decoding ---------- */

typedef struct Rel {
    uint32_t relid;
    int table;              /* index into tables, -1: not captured */
    size_t nkeys;
    uint16_t keypos[MAX_KEYS]; /* tuple position of each key column, in the table's key order */
    P2nKeyKind kind[MAX_KEYS];
} Rel;

struct PgLogicalDecoder {
    const PgLogicalTable *tables;
    size_t ntables;
    Rel *rels;
    size_t nrels, caprels;
    PgoDecoder *pgo;
    int64_t time_us;        /* of the transaction being decoded */
    uint64_t last_commit;   /* end LSN of the last commit fed */
    P2nBuf id;
};

PgLogicalDecoder *pg_logical_decoder_new(const PgLogicalTable *tables, size_t n)
{
    PgLogicalDecoder *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->pgo = malloc(sizeof(PgoDecoder));
    if (!d->pgo) {
        free(d);
        return NULL;
    }
    d->tables = tables;
    d->ntables = n;
    p2n_buf_init(&d->id);
    return d;
}

void pg_logical_decoder_free(PgLogicalDecoder *d)
{
    if (!d)
        return;
    free(d->rels);
    free(d->pgo);
    p2n_buf_free(&d->id);
    free(d);
}

static Rel *rel_find(PgLogicalDecoder *d, uint32_t relid)
{
    for (size_t i = 0; i < d->nrels; i++)
        if (d->rels[i].relid == relid)
            return &d->rels[i];
    return NULL;
}

static int rel_learn(PgLogicalDecoder *d, const PgoMsg *m, P2nErr *err)
{
    Rel *r = rel_find(d, m->relid);
    if (!r) {
        if (d->nrels == d->caprels) {
            size_t cap = d->caprels ? d->caprels * 2 : 16;
            Rel *nr = realloc(d->rels, cap * sizeof(Rel));
            if (!nr)
                return p2n_err_set(err, P2N_ENOMEM, "out of memory");
            d->rels = nr;
            d->caprels = cap;
        }
        r = &d->rels[d->nrels++];
    }
    memset(r, 0, sizeof(*r));
    r->relid = m->relid;
    r->table = -1;
    const char *nsp = m->nspname[0] ? m->nspname : "pg_catalog";
    for (size_t i = 0; i < d->ntables; i++) {
        const PgLogicalTable *t = &d->tables[i];
        if (strcmp(t->schema, nsp) != 0 || strcmp(t->table, m->relname) != 0)
            continue;
        if (t->nkeys == 0 || t->nkeys > MAX_KEYS)
            return p2n_err_set(err, P2N_ECONFIG, "captured table \"%s.%s\" has %zu key columns", t->schema, t->table,
                               t->nkeys);
        for (size_t k = 0; k < t->nkeys; k++) {
            bool found = false;
            for (uint16_t c = 0; c < m->ncols && !found; c++) {
                if (strcmp(m->cols[c].name, t->keys[k]) == 0) {
                    r->keypos[k] = c;
                    r->kind[k] = p2n_key_kind(t->key_types ? t->key_types[k] : NULL);
                    found = true;
                }
            }
            if (!found)
                return p2n_err_set(err, P2N_ECONFIG,
                                   "the publication does not carry key column \"%s\" of \"%s.%s\": run pg2neo init",
                                   t->keys[k], t->schema, t->table);
        }
        r->table = (int)i;
        r->nkeys = t->nkeys;
        break;
    }
    return 0;
}

/* PostgreSQL's escape_json(), so that composite ids match the triggers' array_to_json() */
static void json_str(P2nBuf *b, const uint8_t *s, size_t n)
{
    p2n_buf_append_byte(b, '"');
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        switch (c) {
        case '"': p2n_buf_append_str(b, "\\\""); break;
        case '\\': p2n_buf_append_str(b, "\\\\"); break;
        case '\b': p2n_buf_append_str(b, "\\b"); break;
        case '\f': p2n_buf_append_str(b, "\\f"); break;
        case '\n': p2n_buf_append_str(b, "\\n"); break;
        case '\r': p2n_buf_append_str(b, "\\r"); break;
        case '\t': p2n_buf_append_str(b, "\\t"); break;
        default:
            if (c < 0x20)
                p2n_buf_printf(b, "\\u%04x", c);
            else
                p2n_buf_append_byte(b, c);
        }
    }
    p2n_buf_append_byte(b, '"');
}

/* The entity id of a tuple into d->id (NUL-terminated); 1 when the tuple lacks a key value. */
static int tuple_id(PgLogicalDecoder *d, const Rel *r, const PgoTuple *t, P2nErr *err)
{
    P2nBuf key;
    p2n_buf_init(&key);
    p2n_buf_reset(&d->id);
    for (size_t k = 0; k < r->nkeys; k++) {
        if (r->keypos[k] >= t->n)
            return p2n_err_set(err, P2N_EPROTO, "pgoutput: tuple of %u columns lacks key column %u", (unsigned)t->n,
                               (unsigned)r->keypos[k] + 1);
        const PgoValue *v = &t->v[r->keypos[k]];
        if (v->kind != 't')
            return 1;
        if (memchr(v->data, '\0', v->len)) {
            p2n_buf_free(&key);
            return p2n_err_set(err, P2N_EPROTO, "pgoutput: key value with a NUL byte");
        }
        /* the output function's text (the pull's session has DateStyle ISO, TimeZone UTC) into
           the form the triggers write */
        p2n_buf_reset(&key);
        if (p2n_key_text_normalise(r->kind[k], (const char *)v->data, v->len, &key) < 0) {
            p2n_buf_free(&key);
            return p2n_err_set(err, P2N_EPROTO, "pgoutput: key value \"%.*s\" of \"%s.%s\" is not in the expected form",
                               (int)(v->len > 60 ? 60 : v->len), (const char *)v->data, d->tables[r->table].schema,
                               d->tables[r->table].table);
        }
        if (r->nkeys == 1) {
            p2n_buf_append(&d->id, key.data, key.len);
        } else {
            p2n_buf_append_byte(&d->id, k == 0 ? '[' : ',');
            json_str(&d->id, key.data, key.len);
        }
    }
    if (key.failed)
        d->id.failed = true;
    p2n_buf_free(&key);
    if (r->nkeys > 1)
        p2n_buf_append_byte(&d->id, ']');
    p2n_buf_append_byte(&d->id, '\0');
    if (d->id.failed)
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    return 0;
}

int pg_logical_decoder_feed(PgLogicalDecoder *d, const uint8_t *msg, size_t len, PgLogicalEmit emit, void *ctx,
                            P2nErr *err)
{
    PgoMsg m;
    int rc = pgo_decode(d->pgo, msg, len, &m, err);
    if (rc < 0)
        return rc;
    switch (m.kind) {
    case PGO_BEGIN:
        d->time_us = m.time_us;
        return 0;
    case PGO_COMMIT:
        d->last_commit = m.lsn;
        return 0;
    case PGO_RELATION:
        return rel_learn(d, &m, err);
    case PGO_TRUNCATE:
        for (uint32_t i = 0; i < m.nrelids; i++) {
            Rel *r = rel_find(d, pgo_truncate_relid(&m, i));
            if (r && r->table >= 0 && (rc = emit(ctx, 't', d->tables[r->table].entity_type, "*", d->time_us)) < 0)
                return rc;
        }
        return 0;
    case PGO_INSERT:
    case PGO_UPDATE:
    case PGO_DELETE:
        break;
    default:
        return 0;
    }
    Rel *r = rel_find(d, m.relid);
    if (!r)
        return p2n_err_set(err, P2N_EPROTO, "pgoutput: a change of relation %u before its description", m.relid);
    if (r->table < 0)
        return 0;
    const char *type = d->tables[r->table].entity_type;
    char *old_id = NULL;
    if (m.kind == PGO_DELETE || (m.kind == PGO_UPDATE && m.old_kind)) {
        rc = tuple_id(d, r, &m.old_tuple, err);
        if (rc < 0)
            return rc;
        if (rc == 0 && m.kind == PGO_DELETE)
            return emit(ctx, 'd', type, (const char *)d->id.data, d->time_us);
        if (rc == 0 && !(old_id = strdup((const char *)d->id.data)))
            return p2n_err_set(err, P2N_ENOMEM, "out of memory");
        if (m.kind == PGO_DELETE)
            return p2n_err_set(err, P2N_EPROTO, "pgoutput: delete without its key");
    }
    rc = tuple_id(d, r, &m.new_tuple, err);
    if (rc == 1)
        rc = p2n_err_set(err, P2N_EPROTO, "pgoutput: %s without its key", m.kind == PGO_INSERT ? "insert" : "update");
    if (rc == 0 && old_id && strcmp(old_id, (const char *)d->id.data) != 0) {
        /* a key change: the old entity is gone, the new one appears */
        char *new_id = strdup((const char *)d->id.data);
        if (!new_id)
            rc = p2n_err_set(err, P2N_ENOMEM, "out of memory");
        if (rc == 0)
            rc = emit(ctx, 'd', type, old_id, d->time_us);
        if (rc == 0)
            rc = emit(ctx, 'u', type, new_id, d->time_us);
        free(new_id);
    } else if (rc == 0) {
        rc = emit(ctx, 'u', type, (const char *)d->id.data, d->time_us);
    }
    free(old_id);
    return rc;
}

/* ---------- the pull ---------- */

typedef struct Batch {
    P2nBuf json;     /* [{"o":"u","t":"Bill","ts":123,"i":["1","2"]}, ...] */
    char op;
    char type[256];
    int64_t ts;
    bool open;
    int64_t n;
} Batch;

static void batch_close(Batch *b)
{
    if (b->open)
        p2n_buf_append_str(&b->json, "]}");
    b->open = false;
}

static int batch_emit(void *ctx, char op, const char *type, const char *id, int64_t time_us)
{
    Batch *b = ctx;
    /* consecutive changes of one operation, type and transaction share a log row, in order */
    if (!b->open || b->op != op || b->ts != time_us || strcmp(b->type, type) != 0) {
        batch_close(b);
        p2n_buf_append_str(&b->json, b->json.len > 1 ? "," : "");
        p2n_buf_printf(&b->json, "{\"o\":\"%c\",\"ts\":%" PRId64 ",\"t\":", op, time_us);
        json_str(&b->json, (const uint8_t *)type, strlen(type));
        p2n_buf_append_str(&b->json, ",\"i\":[");
        b->op = op;
        b->ts = time_us;
        snprintf(b->type, sizeof(b->type), "%s", type);
        b->open = true;
    } else {
        p2n_buf_append_byte(&b->json, ',');
    }
    json_str(&b->json, (const uint8_t *)id, strlen(id));
    b->n++;
    return 0;
}

static int load_tables(PGconn *conn, const char *schema, PGresult **res, PgLogicalTable **out, size_t *n,
                       const char ***keys_out, P2nErr *err)
{
    *out = NULL;
    *n = 0;
    *keys_out = NULL;
    /* the base type of each key column: its id form (common/keyid.h) */
    char *q = pgu_schema_subst("SELECT r.table_schema, r.table_name, r.entity_type, k.col,"
                               "       (SELECT b.typname FROM pg_catalog.pg_class c"
                               "          JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
                               "          JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = k.col"
                               "          JOIN pg_catalog.pg_type t ON t.oid = a.atttypid"
                               "          JOIN pg_catalog.pg_type b"
                               "            ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END"
                               "         WHERE n.nspname = r.table_schema AND c.relname = r.table_name)"
                               "  FROM @SCHEMA@.graph_sync_captured_tables r"
                               "  CROSS JOIN LATERAL unnest(r.key_columns) WITH ORDINALITY AS k(col, ord)"
                               " WHERE r.mode = 'logical' ORDER BY 1, 2, k.ord",
                               schema, err);
    int rc = q ? pgu_query(conn, q, 0, NULL, res, "could not read the captured tables", err) : P2N_ENOMEM;
    free(q);
    if (rc < 0)
        return rc;
    int nr = PQntuples(*res);
    PgLogicalTable *t = calloc((size_t)nr + 1, sizeof(*t));
    /* the key names, then (from nr + 1) their types */
    const char **keys = calloc(2 * ((size_t)nr + 1), sizeof(*keys));
    if (!t || !keys) {
        free(t);
        free(keys);
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    }
    size_t nt = 0;
    for (int i = 0; i < nr; i++) {
        const char *s = PQgetvalue(*res, i, 0), *tb = PQgetvalue(*res, i, 1);
        keys[i] = PQgetvalue(*res, i, 3);
        keys[nr + 1 + i] = PQgetvalue(*res, i, 4);
        if (nt == 0 || strcmp(t[nt - 1].schema, s) != 0 || strcmp(t[nt - 1].table, tb) != 0) {
            t[nt].schema = s;
            t[nt].table = tb;
            t[nt].entity_type = PQgetvalue(*res, i, 2);
            t[nt].keys = &keys[i];
            t[nt].key_types = &keys[nr + 1 + i];
            nt++;
        }
        t[nt - 1].nkeys++;
    }
    *out = t;
    *n = nt;
    *keys_out = keys;
    return 0;
}

static int pull_locked(PGconn *conn, const char *schema, size_t max_changes, int64_t *n_changes, P2nErr *err)
{
    char name[80];
    pg_logical_name(name, sizeof(name), PQdb(conn), schema);
    PGresult *tr = NULL, *flush = NULL, *ch = NULL;
    PgLogicalTable *tables = NULL;
    const char **keys = NULL;
    size_t nt = 0;
    PgLogicalDecoder *dec = NULL;
    Batch b;
    memset(&b, 0, sizeof(b));
    p2n_buf_init(&b.json);
    size_t lim = max_changes ? max_changes : 10000;
    char limit[24], upto[40];
    snprintf(limit, sizeof(limit), "%zu", lim);
    const char *p[3] = {name, limit, name};
    int rows = 0;
    uint64_t last_commit = 0;
    int rc = load_tables(conn, schema, &tr, &tables, &nt, &keys, err);
    if (rc < 0)
        goto out;
    /* everything committed up to here is decoded by the peek below, unless it stops at its limit */
    if ((rc = pgu_query(conn, "SELECT pg_current_wal_flush_lsn()::text", 0, NULL, &flush,
                        "could not read the WAL position", err)) < 0)
        goto out;
    /* pgoutput sends values as their output function's text in this session: ISO dates and UTC
       times whatever the connection's settings, as the decoder expects them (common/keyid.h) */
    if ((rc = pgu_exec(conn, "BEGIN; SET LOCAL DateStyle = 'ISO, YMD'; SET LOCAL TimeZone = 'UTC'",
                       "could not begin reading the replication slot", err)) < 0)
        goto out;
    ch = PQexecParams(conn,
                      "SELECT data FROM pg_logical_slot_peek_binary_changes($1, NULL, $2::int,"
                      " 'proto_version', '1', 'publication_names', $3)",
                      3, NULL, p, NULL, NULL, 1);
    if (PQresultStatus(ch) != PGRES_TUPLES_OK) {
        rc = pgu_fail(err, conn, ch, "could not read the replication slot");
        PQclear(PQexec(conn, "ROLLBACK"));
        goto out;
    }
    if ((rc = pgu_exec(conn, "COMMIT", "could not end reading the replication slot", err)) < 0)
        goto out;
    if (!(dec = pg_logical_decoder_new(tables, nt))) {
        rc = p2n_err_set(err, P2N_ENOMEM, "out of memory");
        goto out;
    }
    rows = PQntuples(ch);
    p2n_buf_append_byte(&b.json, '[');
    for (int i = 0; i < rows; i++) {
        const uint8_t *msg = (const uint8_t *)PQgetvalue(ch, i, 0);
        size_t len = (size_t)PQgetlength(ch, i, 0);
        if ((rc = pg_logical_decoder_feed(dec, msg, len, batch_emit, &b, err)) < 0)
            goto out;
    }
    last_commit = dec->last_commit;
    batch_close(&b);
    p2n_buf_append_str(&b.json, "]");
    p2n_buf_append_byte(&b.json, '\0');
    if (b.json.failed) {
        rc = p2n_err_set(err, P2N_ENOMEM, "out of memory");
        goto out;
    }
    if (b.n > 0) {
        char seq[400], qs[180];
        if (pgu_quote_ident(qs, sizeof(qs), schema) < 0) {
            rc = p2n_err_set(err, P2N_EINVAL, "sync schema name too long");
            goto out;
        }
        snprintf(seq, sizeof(seq), "%s.graph_sync_version_seq", qs);
        const char *ip[2] = {(const char *)b.json.data, seq};
        char *q = pgu_schema_subst(
            "INSERT INTO @SCHEMA@.graph_sync_log (version, op, entity_type, entity_ids, logged_at)"
            " SELECT nextval($2::regclass), (e ->> 'o')::\"char\", e ->> 't',"
            "        ARRAY(SELECT jsonb_array_elements_text(e -> 'i')),"
            "        to_timestamp((e ->> 'ts')::float8 / 1e6)"
            "   FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS x(e, n) ORDER BY x.n",
            schema, err);
        /* durable before the slot forgets these changes, whatever the session's synchronous_commit */
        rc = q ? pgu_exec(conn, "BEGIN; SET LOCAL synchronous_commit = on", "could not begin", err) : P2N_ENOMEM;
        if (rc == 0)
            rc = pgu_query(conn, q, 2, ip, NULL, "could not append to the change log", err);
        if (rc == 0)
            rc = pgu_exec(conn, "COMMIT", "could not commit the change log", err);
        else if (q)
            PQclear(PQexec(conn, "ROLLBACK"));
        free(q);
        if (rc < 0)
            goto out;
    }
    /* confirm: all of it when the peek ran to the end, else up to its last transaction */
    if ((size_t)rows < lim)
        snprintf(upto, sizeof(upto), "%s", PQgetvalue(flush, 0, 0));
    else
        snprintf(upto, sizeof(upto), "%X/%X", (unsigned)(last_commit >> 32), (unsigned)(last_commit & 0xffffffffu));
    if (last_commit || (size_t)rows < lim) {
        const char *ap[2] = {name, upto};
        rc = pgu_query(conn,
                       "SELECT pg_replication_slot_advance(slot_name, $2::pg_lsn) FROM pg_replication_slots"
                       " WHERE slot_name = $1 AND confirmed_flush_lsn < $2::pg_lsn",
                       2, ap, NULL, "could not confirm changes to the replication slot", err);
        if (rc < 0)
            goto out;
    }
    if (n_changes)
        *n_changes = b.n;
out:
    pg_logical_decoder_free(dec);
    PQclear(ch);
    PQclear(flush);
    PQclear(tr);
    free(tables);
    free(keys);
    p2n_buf_free(&b.json);
    return rc;
}

int pg_logical_pull(PGconn *conn, const char *sync_schema, size_t max_changes, int64_t *n_changes, P2nErr *err)
{
    if (n_changes)
        *n_changes = 0;
    int rc = pgu_schema_check(sync_schema, err);
    if (rc < 0)
        return rc;
    char key[24];
    snprintf(key, sizeof(key), "%d", PULL_LOCK_KEY);
    const char *p[2] = {key, sync_schema};
    PGresult *r = NULL;
    rc = pgu_query(conn, "SELECT pg_try_advisory_lock($1::int, hashtext($2))", 2, p, &r,
                   "could not take the pull lock", err);
    if (rc < 0)
        return rc;
    bool got = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (!got)
        return 0; /* another worker is pulling right now */
    rc = pull_locked(conn, sync_schema, max_changes, n_changes, err);
    P2nErr e2;
    p2n_err_clear(&e2);
    int urc = pgu_query(conn, "SELECT pg_advisory_unlock($1::int, hashtext($2))", 2, p, NULL,
                        "could not release the pull lock", rc < 0 ? &e2 : err);
    return rc < 0 ? rc : urc;
}
