/*
 * Capture triggers: generation from the catalog, install, drop, and the list that tells
 * captured, missing and stale tables apart. The generated SQL is explained in docs/capture.md.
 */
#include "pg/capture.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/keyid.h"
#include "common/retry.h"
#include "pg/logical.h"
#include "pg/pgutil.h"
#include "pg/schema.h"

#define QBUF 200

/* ---------- names ---------- */

static uint32_t fnv1a(const char *a, const char *b)
{
    uint32_t h = 2166136261u;
    for (const char *p = a; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    h *= 16777619u; /* a separator, so that ("ab", "c") and ("a", "bc") differ */
    for (const char *p = b; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return h;
}

/* prefix + middle + suffix, cut to 63 bytes with a hash of the whole when too long */
static void make_name(char *buf, size_t size, const char *prefix, const char *middle, const char *suffix,
                      const char *hash_extra)
{
    char full[512];
    snprintf(full, sizeof(full), "%s%s%s", prefix, middle, suffix);
    if (strlen(full) <= 63) {
        snprintf(buf, size, "%s", full);
        return;
    }
    uint32_t h = fnv1a(full, hash_extra);
    size_t keep = 63 - 9 - strlen(prefix) - strlen(suffix);
    /* do not cut inside a UTF-8 sequence */
    while (keep > 0 && ((uint8_t)middle[keep] & 0xC0) == 0x80)
        keep--;
    snprintf(buf, size, "%s%.*s_%08x%s", prefix, (int)keep, middle, h, suffix);
}

void pg_capture_function_name(char *buf, size_t size, const char *schema, const char *table,
                              const char *kind)
{
    char middle[300];
    if (strcmp(schema, "public") == 0)
        snprintf(middle, sizeof(middle), "%s", table);
    else
        snprintf(middle, sizeof(middle), "%s__%s", schema, table); /* a_b.c and a.b_c differ */
    char prefix[32];
    if (strcmp(kind, "array") == 0)
        snprintf(prefix, sizeof(prefix), "on_array_field_change_");
    else
        snprintf(prefix, sizeof(prefix), "on_entity_%s_", kind);
    make_name(buf, size, prefix, middle, "", schema);
}

void pg_capture_trigger_name(char *buf, size_t size, const char *table, const char *kind)
{
    char suffix[32];
    snprintf(suffix, sizeof(suffix), "_sync_%s", kind);
    make_name(buf, size, "", table, suffix, "");
}

const char *pg_capture_state_name(PgCaptureState s)
{
    switch (s) {
    case PG_CAPTURE_CAPTURED: return "captured";
    case PG_CAPTURE_MISSING: return "missing";
    case PG_CAPTURE_STALE: return "stale";
    }
    return "?";
}

/* ---------- spec parsing ---------- */

static int split_list(char *s, const char **slots, size_t *n)
{
    *n = 0;
    if (!s || !*s)
        return 0;
    for (char *p = s;;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        if (!*p)
            return -1;
        slots[(*n)++] = p;
        if (!comma)
            break;
        p = comma + 1;
    }
    return 0;
}

int pg_capture_spec_parse(const char *text, PgCaptureSpec *out, P2nErr *err)
{
    memset(out, 0, sizeof(*out));
    size_t len = strlen(text);
    if (len == 0 || len > 4000)
        return p2n_err_set(err, P2N_EINVAL, "invalid table spec \"%.80s\": empty or too long", text);
    out->storage = strdup(text);
    out->lists = calloc(len + 1, sizeof(char *));
    if (!out->storage || !out->lists) {
        pg_capture_spec_free(out);
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    }
    char *fields[6] = {0};
    size_t nf = 0;
    for (char *p = out->storage; nf < 6;) {
        fields[nf++] = p;
        char *colon = strchr(p, ':');
        if (!colon)
            break;
        *colon = '\0';
        p = colon + 1;
        if (nf == 6) {
            pg_capture_spec_free(out);
            return p2n_err_set(err, P2N_EINVAL,
                               "invalid table spec \"%s\": expected schema.table:EntityType:keys[:arrays[:watched[:mode]]]",
                               text);
        }
    }
    if (nf < 2 || !*fields[0] || !*fields[1]) {
        pg_capture_spec_free(out);
        return p2n_err_set(err, P2N_EINVAL,
                           "invalid table spec \"%s\": expected schema.table:EntityType:keys[:arrays[:watched]]",
                           text);
    }
    char *dot = strchr(fields[0], '.');
    if (dot) {
        *dot = '\0';
        out->t.schema = fields[0];
        out->t.table = dot + 1;
    } else {
        out->t.schema = "public";
        out->t.table = fields[0];
    }
    if (!*out->t.schema || !*out->t.table || strchr(out->t.table, '.')) {
        pg_capture_spec_free(out);
        return p2n_err_set(err, P2N_EINVAL, "invalid table spec \"%s\": bad table name", text);
    }
    out->t.entity_type = fields[1];
    const char **slot = out->lists;
    size_t cnt = 0;
    const char *what[3] = {"key", "array", "watched"};
    for (int i = 0; i < 3; i++) {
        char *f = fields[2 + i];
        if (split_list(f, slot, &cnt) < 0) {
            pg_capture_spec_free(out);
            return p2n_err_set(err, P2N_EINVAL, "invalid table spec \"%s\": empty %s column name", text,
                               what[i]);
        }
        if (i == 0) {
            out->t.key_columns = slot;
            out->t.n_keys = cnt;
        } else if (i == 1) {
            out->t.array_columns = slot;
            out->t.n_arrays = cnt;
        } else {
            out->t.watched_columns = slot;
            out->t.n_watched = cnt;
        }
        slot += cnt;
    }
    if (fields[5] && strcmp(fields[5], "statement") == 0) {
        out->t.mode = PG_CAPTURE_MODE_STATEMENT;
    } else if (fields[5] && strcmp(fields[5], "logical") == 0) {
        out->t.mode = PG_CAPTURE_MODE_LOGICAL;
    } else if (fields[5] && *fields[5] && strcmp(fields[5], "row") != 0) {
        pg_capture_spec_free(out);
        return p2n_err_set(err, P2N_EINVAL, "invalid table spec \"%s\": mode must be row, statement or logical",
                           text);
    }
    return 0;
}

void pg_capture_spec_free(PgCaptureSpec *s)
{
    if (!s)
        return;
    free(s->storage);
    free(s->lists);
    memset(s, 0, sizeof(*s));
}

/* ---------- catalog ---------- */

typedef struct Column {
    char *name;
    bool is_array;
    bool comparable;   /* a default btree opclass: IS DISTINCT FROM / EXCEPT work on the type */
    bool elem_comparable;
    P2nKeyKind kind;   /* of the (base) type: the form of its id (common/keyid.h) */
} Column;

typedef struct TableInfo {
    char oid[16];
    bool partitioned;  /* relkind 'p': captured through row triggers, which PostgreSQL clones onto
                          every partition (see install_one) */
    Column *cols;
    size_t ncols;
    char **pk;
    size_t npk;
} TableInfo;

static void table_info_free(TableInfo *ti)
{
    for (size_t i = 0; i < ti->ncols; i++)
        free(ti->cols[i].name);
    free(ti->cols);
    for (size_t i = 0; i < ti->npk; i++)
        free(ti->pk[i]);
    free(ti->pk);
    memset(ti, 0, sizeof(*ti));
}

static const Column *find_col(const TableInfo *ti, const char *name)
{
    for (size_t i = 0; i < ti->ncols; i++)
        if (strcmp(ti->cols[i].name, name) == 0)
            return &ti->cols[i];
    return NULL;
}

static int table_info_load(PGconn *conn, const PgCaptureTable *t, TableInfo *ti, P2nErr *err)
{
    memset(ti, 0, sizeof(*ti));
    const char *p[2] = {t->schema, t->table};
    PGresult *r = NULL;
    int rc = pgu_query(conn,
                       "SELECT c.oid, c.relkind = 'p' FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                       " WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')",
                       2, p, &r, "could not look up the table", err);
    if (rc < 0)
        return rc;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return p2n_err_set(err, P2N_ENOTFOUND, "table \"%s.%s\" does not exist", t->schema, t->table);
    }
    snprintf(ti->oid, sizeof(ti->oid), "%s", PQgetvalue(r, 0, 0));
    ti->partitioned = PQgetvalue(r, 0, 1)[0] == 't';
    PQclear(r);
    const char *p1[1] = {ti->oid};
    rc = pgu_query(conn,
                   "WITH bt AS (SELECT c.opcintype FROM pg_opclass c JOIN pg_am m ON m.oid = c.opcmethod"
                   "            WHERE m.amname = 'btree' AND c.opcdefault)"
                   " SELECT a.attname, t.typcategory = 'A' AND t.typelem <> 0,"
                   "        a.atttypid IN (SELECT opcintype FROM bt) OR"
                   "          (t.typcategory = 'A' AND t.typelem IN (SELECT opcintype FROM bt)),"
                   "        t.typelem IN (SELECT opcintype FROM bt),"
                   "        (SELECT b.typname FROM pg_type b"
                   "          WHERE b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END)"
                   "   FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid"
                   "  WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped"
                   "  ORDER BY a.attnum",
                   1, p1, &r, "could not read the table's columns", err);
    if (rc < 0)
        return rc;
    int n = PQntuples(r);
    ti->cols = calloc((size_t)n + 1, sizeof(Column));
    if (!ti->cols) {
        PQclear(r);
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        Column *c = &ti->cols[ti->ncols++];
        c->name = strdup(PQgetvalue(r, i, 0));
        c->is_array = PQgetvalue(r, i, 1)[0] == 't';
        c->comparable = PQgetvalue(r, i, 2)[0] == 't';
        c->elem_comparable = PQgetvalue(r, i, 3)[0] == 't';
        c->kind = p2n_key_kind(PQgetvalue(r, i, 4));
        /* citext's equality ignores case: a change of case is a change of the text that Neo4j
           holds (and of the id of a citext key), so such columns are compared as text */
        if (c->kind == P2N_KEY_CITEXT)
            c->comparable = false;
        if (!c->name) {
            PQclear(r);
            table_info_free(ti);
            return p2n_err_set(err, P2N_ENOMEM, "out of memory");
        }
    }
    PQclear(r);
    rc = pgu_query(conn,
                   "SELECT a.attname FROM pg_index i"
                   "  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey::int2[])"
                   " WHERE i.indrelid = $1::oid AND i.indisprimary"
                   " ORDER BY array_position(i.indkey::int2[], a.attnum)",
                   1, p1, &r, "could not read the table's primary key", err);
    if (rc < 0) {
        table_info_free(ti);
        return rc;
    }
    n = PQntuples(r);
    ti->pk = calloc((size_t)n + 1, sizeof(char *));
    if (!ti->pk) {
        PQclear(r);
        table_info_free(ti);
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        ti->pk[ti->npk] = strdup(PQgetvalue(r, i, 0));
        if (!ti->pk[ti->npk]) {
            PQclear(r);
            table_info_free(ti);
            return p2n_err_set(err, P2N_ENOMEM, "out of memory");
        }
        ti->npk++;
    }
    PQclear(r);
    return 0;
}

/* ---------- SQL generation ---------- */

typedef struct Gen {
    const PgCaptureTable *t;
    const TableInfo *ti;
    const char *const *keys;
    size_t nkeys;
    char qs[QBUF];        /* quoted sync schema */
    char qtable[2 * QBUF + 2];
    char etype[2 * QBUF]; /* entity type as a literal */
    char fn_change[64], fn_array[64], fn_delete[64];
} Gen;

static void append_ident(P2nBuf *b, const char *prefix, const char *name)
{
    char q[QBUF];
    if (pgu_quote_ident(q, sizeof(q), name) < 0) {
        b->failed = true;
        return;
    }
    p2n_buf_append_str(b, prefix);
    p2n_buf_append_str(b, q);
}

static void append_literal(P2nBuf *b, const char *s)
{
    char q[2 * QBUF];
    if (pgu_quote_literal(q, sizeof(q), s) < 0) {
        b->failed = true;
        return;
    }
    p2n_buf_append_str(b, q);
}

/* the entity id of a row: the key's canonical text (common/keyid.h), or a JSON array of the key
   values' texts; mapping_sql_id_expr() (mapping/gen.c) writes the same */
static void append_key_text(P2nBuf *b, const Gen *g, const char *alias, const char *col)
{
    char q[QBUF], x[QBUF + 16];
    if (pgu_quote_ident(q, sizeof(q), col) < 0) {
        b->failed = true;
        return;
    }
    snprintf(x, sizeof(x), "%s.%s", alias, q);
    const Column *c = find_col(g->ti, col);
    p2n_key_sql_text(b, c ? c->kind : P2N_KEY_TEXT, x);
}

static void append_id_expr(P2nBuf *b, const Gen *g, const char *alias)
{
    if (g->nkeys == 1) {
        append_key_text(b, g, alias, g->keys[0]);
        return;
    }
    p2n_buf_append_str(b, "array_to_json(ARRAY[");
    for (size_t i = 0; i < g->nkeys; i++) {
        if (i)
            p2n_buf_append_str(b, ", ");
        append_key_text(b, g, alias, g->keys[i]);
    }
    p2n_buf_append_str(b, "])::text");
}

static bool is_key(const Gen *g, const char *col)
{
    for (size_t i = 0; i < g->nkeys; i++)
        if (strcmp(g->keys[i], col) == 0)
            return true;
    return false;
}

static bool in_list(const char *const *list, size_t n, const char *col)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], col) == 0)
            return true;
    return false;
}

static void append_distinct_as(P2nBuf *b, const Column *c, const char *old_prefix, const char *new_prefix)
{
    if (c == NULL) { /* cannot happen: install checked every column first */
        b->failed = true;
        return;
    }
    const char *cast = c->comparable ? "" : "::text";
    append_ident(b, old_prefix, c->name);
    p2n_buf_append_str(b, cast);
    p2n_buf_append_str(b, " IS DISTINCT FROM ");
    append_ident(b, new_prefix, c->name);
    p2n_buf_append_str(b, cast);
}

static void append_distinct(P2nBuf *b, const Column *c)
{
    append_distinct_as(b, c, "OLD.", "NEW.");
}

/* ARRAY(SELECT e FROM unnest(a.col) e EXCEPT SELECT e FROM unnest(b.col) e ORDER BY 1) */
static void append_array_except(P2nBuf *b, const Column *c, const char *a, const char *bb)
{
    const char *e = c->elem_comparable ? "e" : "e::text";
    char pa[16], pb[16];
    snprintf(pa, sizeof(pa), "%s.", a);
    snprintf(pb, sizeof(pb), "%s.", bb);
    p2n_buf_printf(b, "to_jsonb(ARRAY(SELECT %s FROM unnest(", e);
    append_ident(b, pa, c->name);
    p2n_buf_printf(b, ") e EXCEPT SELECT %s FROM unnest(", e);
    append_ident(b, pb, c->name);
    p2n_buf_append_str(b, ") e ORDER BY 1))");
}

/* (OLD.k1 IS DISTINCT FROM NEW.k1 OR ...) over the key columns */
static void append_keys_distinct(P2nBuf *b, const Gen *g)
{
    p2n_buf_append_byte(b, '(');
    for (size_t i = 0; i < g->nkeys; i++) {
        const Column *c = find_col(g->ti, g->keys[i]);
        if (i)
            p2n_buf_append_str(b, " OR ");
        append_distinct(b, c);
    }
    p2n_buf_append_byte(b, ')');
}

/* (OLD.a IS DISTINCT FROM NEW.a OR ...) over the array columns, or false */
static void append_arrays_distinct(P2nBuf *b, const Gen *g)
{
    if (g->t->n_arrays == 0) {
        p2n_buf_append_str(b, "false");
        return;
    }
    p2n_buf_append_byte(b, '(');
    for (size_t i = 0; i < g->t->n_arrays; i++) {
        if (i)
            p2n_buf_append_str(b, " OR ");
        append_distinct(b, find_col(g->ti, g->t->array_columns[i]));
    }
    p2n_buf_append_byte(b, ')');
}

/* (OLD.c IS DISTINCT FROM NEW.c OR ...) over the watched columns (all when none given) that are
   neither keys nor arrays, or false */
static void append_watched_distinct(P2nBuf *b, const Gen *g)
{
    const PgCaptureTable *t = g->t;
    size_t k = 0;
    for (size_t i = 0; i < g->ti->ncols; i++) {
        const Column *c = &g->ti->cols[i];
        if (is_key(g, c->name) || in_list(t->array_columns, t->n_arrays, c->name))
            continue;
        if (t->n_watched && !in_list(t->watched_columns, t->n_watched, c->name))
            continue;
        p2n_buf_append_str(b, k++ ? " OR " : "(");
        append_distinct(b, c);
    }
    p2n_buf_append_str(b, k ? ")" : "false");
}

/* on_entity_change_<table>: a statement-level INSERT (all new rows in one log row) or a
   row-level UPDATE that changed watched columns but neither the key nor an array */
static void append_change_body(P2nBuf *b, const Gen *g)
{
    p2n_buf_append_str(b, "BEGIN\n  IF TG_LEVEL = 'ROW' THEN\n");
    p2n_buf_printf(b, "    INSERT INTO %s.graph_sync_log (version, op, entity_type, entity_ids)\n"
                      "    VALUES (nextval('%s.graph_sync_version_seq'::regclass), 'u', %s, ARRAY[",
                   g->qs, g->qs, g->etype);
    append_id_expr(b, g, "NEW");
    p2n_buf_append_str(b, "]);\n  ELSE\n");
    p2n_buf_printf(b, "    INSERT INTO %s.graph_sync_log (version, op, entity_type, entity_ids)\n", g->qs);
    p2n_buf_printf(b, "    SELECT nextval('%s.graph_sync_version_seq'::regclass), 'u', %s, array_agg(", g->qs,
                   g->etype);
    append_id_expr(b, g, "n");
    p2n_buf_append_str(b, ")\n      FROM new_rows n HAVING count(*) > 0;\n  END IF;\n  RETURN NULL;\nEND");
}

/* on_array_field_change_<table>: a row-level UPDATE that changed the key (delete the old entity,
   insert the new one) or an array column (record added/removed elements) */
static void append_array_body(P2nBuf *b, const Gen *g)
{
    const PgCaptureTable *t = g->t;
    p2n_buf_printf(b, "DECLARE\n  v bigint := nextval('%s.graph_sync_version_seq'::regclass);\n"
                      "  id text := ", g->qs);
    append_id_expr(b, g, "NEW");
    p2n_buf_append_str(b, ";\n  arrs jsonb;\nBEGIN\n  IF ");
    append_keys_distinct(b, g);
    p2n_buf_printf(b, " THEN\n    INSERT INTO %s.graph_sync_log (version, op, entity_type, entity_ids)\n"
                      "    VALUES (v, 'd', %s, ARRAY[", g->qs, g->etype);
    append_id_expr(b, g, "OLD");
    p2n_buf_printf(b, "]), (v, 'u', %s, ARRAY[id]);\n    RETURN NULL;\n  END IF;\n", g->etype);
    if (t->n_arrays > 0) {
        p2n_buf_append_str(b, "  arrs := NULLIF(jsonb_strip_nulls(jsonb_build_object(");
        for (size_t i = 0; i < t->n_arrays; i++) {
            const Column *c = find_col(g->ti, t->array_columns[i]);
            if (i)
                p2n_buf_append_str(b, ",");
            p2n_buf_append_str(b, "\n    ");
            append_literal(b, c->name);
            p2n_buf_append_str(b, ", CASE WHEN ");
            append_distinct(b, c);
            p2n_buf_append_str(b, " THEN jsonb_build_object('added', ");
            append_array_except(b, c, "NEW", "OLD");
            p2n_buf_append_str(b, ", 'removed', ");
            append_array_except(b, c, "OLD", "NEW");
            p2n_buf_append_str(b, ") END");
        }
        p2n_buf_append_str(b, ")), '{}'::jsonb);\n");
    }
    p2n_buf_printf(b, "  INSERT INTO %s.graph_sync_log (version, op, entity_type, entity_ids, changed_arrays)\n"
                      "  VALUES (v, 'u', %s, ARRAY[id], CASE WHEN arrs IS NOT NULL THEN jsonb_build_object(id, arrs) END);\n"
                      "  RETURN NULL;\nEND",
                   g->qs, g->etype);
}

/* on_array_field_change_<table> in statement mode: the whole UPDATE at once. Old and new rows
   are joined on the key: a key only on the old side was deleted, one only on the new side
   inserted (a key change); rows on both sides count when a watched column differs. One log row
   per operation, the array diffs keyed by entity id. */
static void append_stmt_update_body(P2nBuf *b, const Gen *g)
{
    char qk[QBUF];
    pgu_quote_ident(qk, sizeof(qk), g->keys[0]);
    const PgCaptureTable *t = g->t;
    p2n_buf_printf(b, "BEGIN\n  INSERT INTO %s.graph_sync_log (version, op, entity_type, entity_ids, changed_arrays)\n",
                   g->qs);
    p2n_buf_printf(b, "  SELECT nextval('%s.graph_sync_version_seq'::regclass), d.op, %s, array_agg(d.id),\n"
                      "         jsonb_object_agg(d.id, d.arrs) FILTER (WHERE d.arrs IS NOT NULL)\n"
                      "    FROM (SELECT CASE WHEN n.%s IS NULL THEN 'd' ELSE 'u' END::\"char\" AS op,\n"
                      "                 CASE WHEN n.%s IS NULL THEN ",
                   g->qs, g->etype, qk, qk);
    append_id_expr(b, g, "o");
    p2n_buf_append_str(b, " ELSE ");
    append_id_expr(b, g, "n");
    p2n_buf_append_str(b, " END AS id,\n                 ");
    if (t->n_arrays == 0) {
        p2n_buf_append_str(b, "NULL::jsonb AS arrs\n");
    } else {
        /* the JSON is built only for rows whose arrays changed */
        p2n_buf_printf(b, "CASE WHEN n.%s IS NOT NULL AND o.%s IS NOT NULL AND (", qk, qk);
        for (size_t i = 0; i < t->n_arrays; i++) {
            if (i)
                p2n_buf_append_str(b, " OR ");
            append_distinct_as(b, find_col(g->ti, t->array_columns[i]), "o.", "n.");
        }
        p2n_buf_append_str(b, ") THEN\n                   NULLIF(jsonb_strip_nulls(jsonb_build_object(");
        for (size_t i = 0; i < t->n_arrays; i++) {
            const Column *c = find_col(g->ti, t->array_columns[i]);
            if (i)
                p2n_buf_append_str(b, ",");
            p2n_buf_append_str(b, "\n                     ");
            append_literal(b, c->name);
            p2n_buf_append_str(b, ", CASE WHEN ");
            append_distinct_as(b, c, "o.", "n.");
            p2n_buf_append_str(b, " THEN jsonb_build_object('added', ");
            append_array_except(b, c, "n", "o");
            p2n_buf_append_str(b, ", 'removed', ");
            append_array_except(b, c, "o", "n");
            p2n_buf_append_str(b, ") END");
        }
        p2n_buf_append_str(b, ")), '{}'::jsonb) END AS arrs\n");
    }
    p2n_buf_append_str(b, "            FROM new_rows n FULL JOIN old_rows o ON ");
    for (size_t i = 0; i < g->nkeys; i++) {
        if (i)
            p2n_buf_append_str(b, " AND ");
        /* a key compared as text (citext) joins on its text: a change of case is a key change */
        const Column *kc = find_col(g->ti, g->keys[i]);
        const char *cast = kc && !kc->comparable ? "::text" : "";
        append_ident(b, "o.", g->keys[i]);
        p2n_buf_printf(b, "%s = ", cast);
        append_ident(b, "n.", g->keys[i]);
        p2n_buf_append_str(b, cast);
    }
    p2n_buf_printf(b, "\n           WHERE n.%s IS NULL OR o.%s IS NULL", qk, qk);
    for (size_t i = 0; i < g->ti->ncols; i++) {
        const Column *c = &g->ti->cols[i];
        if (is_key(g, c->name))
            continue;
        bool watched = t->n_watched == 0 || in_list(t->watched_columns, t->n_watched, c->name) ||
                       in_list(t->array_columns, t->n_arrays, c->name);
        if (!watched)
            continue;
        p2n_buf_append_str(b, "\n              OR ");
        append_distinct_as(b, c, "o.", "n.");
    }
    p2n_buf_append_str(b, ") d\n   GROUP BY d.op;\n  RETURN NULL;\nEND");
}

/* on_entity_delete_<table>: a statement-level DELETE (all old rows in one log row), a row-level
   DELETE (a partitioned table's), or a TRUNCATE (a resync of the type) */
static void append_delete_body(P2nBuf *b, const Gen *g)
{
    p2n_buf_append_str(b, "BEGIN\n  IF TG_OP = 'TRUNCATE' THEN\n");
    p2n_buf_printf(b, "    INSERT INTO %s.graph_sync_log (version, op, entity_type, entity_ids)\n"
                      "    VALUES (nextval('%s.graph_sync_version_seq'::regclass), 't', %s, ARRAY['*']);\n",
                   g->qs, g->qs, g->etype);
    if (g->ti->partitioned) {
        p2n_buf_printf(b, "  ELSIF TG_LEVEL = 'ROW' THEN\n"
                          "    INSERT INTO %s.graph_sync_log (version, op, entity_type, entity_ids)\n"
                          "    VALUES (nextval('%s.graph_sync_version_seq'::regclass), 'd', %s, ARRAY[",
                       g->qs, g->qs, g->etype);
        append_id_expr(b, g, "OLD");
        p2n_buf_append_str(b, "]);\n");
    }
    p2n_buf_append_str(b, "  ELSE\n");
    p2n_buf_printf(b, "    INSERT INTO %s.graph_sync_log (version, op, entity_type, entity_ids)\n"
                      "    SELECT nextval('%s.graph_sync_version_seq'::regclass), 'd', %s, array_agg(",
                   g->qs, g->qs, g->etype);
    append_id_expr(b, g, "o");
    p2n_buf_append_str(b, ")\n      FROM old_rows o HAVING count(*) > 0;\n  END IF;\n  RETURN NULL;\nEND");
}

static void append_function(P2nBuf *b, const Gen *g, const char *fname, const P2nBuf *body)
{
    p2n_buf_printf(b, "CREATE OR REPLACE FUNCTION %s.", g->qs);
    append_ident(b, "", fname);
    p2n_buf_append_str(b, "() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER"
                          " SET search_path = pg_catalog, pg_temp AS ");
    /* the body as one literal: no dollar-quote tag to collide with */
    P2nBuf lit;
    p2n_buf_init(&lit);
    p2n_buf_append_byte(&lit, '\'');
    for (size_t i = 0; i < body->len; i++) {
        if (body->data[i] == '\'')
            p2n_buf_append_byte(&lit, '\'');
        p2n_buf_append_byte(&lit, body->data[i]);
    }
    p2n_buf_append_byte(&lit, '\'');
    if (lit.failed)
        b->failed = true;
    else
        p2n_buf_append(b, lit.data, lit.len);
    p2n_buf_free(&lit);
    p2n_buf_append_str(b, ";\n");
    p2n_buf_printf(b, "REVOKE ALL ON FUNCTION %s.", g->qs);
    append_ident(b, "", fname);
    p2n_buf_append_str(b, "() FROM PUBLIC;\n");
}

/* how: "FOR EACH ROW WHEN (...)" or "REFERENCING ... FOR EACH STATEMENT" */
static void append_trigger(P2nBuf *b, const Gen *g, const char *kind, const char *event,
                           const char *referencing, const char *fname)
{
    char tname[64];
    pg_capture_trigger_name(tname, sizeof(tname), g->t->table, kind);
    append_ident(b, "DROP TRIGGER IF EXISTS ", tname);
    p2n_buf_printf(b, " ON %s;\n", g->qtable);
    append_ident(b, "CREATE TRIGGER ", tname);
    p2n_buf_printf(b, " AFTER %s ON %s %s EXECUTE FUNCTION %s.", event, g->qtable, referencing, g->qs);
    append_ident(b, "", fname);
    p2n_buf_append_str(b, "();\n");
}

static void append_array_value(P2nBuf *b, const char *const *v, size_t n)
{
    pgu_array_literal(b, v, n);
}

static int validate(const PgCaptureTable *t, const TableInfo *ti, const char *const *keys, size_t nkeys,
                    P2nErr *err)
{
    if (!t->entity_type || !*t->entity_type)
        return p2n_err_set(err, P2N_EINVAL, "table \"%s.%s\" has no entity type", t->schema, t->table);
    if (nkeys == 0)
        return p2n_err_set(err, P2N_EINVAL, "table \"%s.%s\" has no primary key and no key columns were given",
                           t->schema, t->table);
    for (size_t i = 0; i < nkeys; i++)
        if (!find_col(ti, keys[i]))
            return p2n_err_set(err, P2N_EINVAL, "key column \"%s\" of table \"%s.%s\" does not exist", keys[i],
                               t->schema, t->table);
    for (size_t i = 0; i < t->n_watched; i++)
        if (!find_col(ti, t->watched_columns[i]))
            return p2n_err_set(err, P2N_EINVAL, "watched column \"%s\" of table \"%s.%s\" does not exist",
                               t->watched_columns[i], t->schema, t->table);
    for (size_t i = 0; i < t->n_arrays; i++) {
        const Column *c = find_col(ti, t->array_columns[i]);
        if (!c)
            return p2n_err_set(err, P2N_EINVAL, "array column \"%s\" of table \"%s.%s\" does not exist",
                               t->array_columns[i], t->schema, t->table);
        if (!c->is_array)
            return p2n_err_set(err, P2N_EINVAL, "column \"%s\" of table \"%s.%s\" is not an array",
                               t->array_columns[i], t->schema, t->table);
    }
    return 0;
}

typedef int (*CaptureTxFn)(PGconn *, const char *, const PgCaptureTable *, size_t, P2nErr *);

typedef struct CaptureTx {
    PGconn *conn;
    CaptureTxFn fn;
    const char *schema;
    const PgCaptureTable *tables;
    size_t n;
} CaptureTx;

static int capture_tx(void *ctx, P2nErr *err)
{
    CaptureTx *t = ctx;
    int rc = pgu_exec(t->conn, "BEGIN", "could not begin", err);
    if (rc < 0)
        return rc;
    rc = t->fn(t->conn, t->schema, t->tables, t->n, err);
    if (rc < 0) {
        PQclear(PQexec(t->conn, "ROLLBACK"));
        return rc;
    }
    return pgu_exec(t->conn, "COMMIT", "could not commit", err);
}

/* Runs fn in a transaction of its own, run again whole after a deadlock or a lock timeout (the
   triggers' CREATE TRIGGER takes SHARE ROW EXCLUSIVE locks on tables the application writes),
   or inside the caller's transaction, which only the caller can run again. */
static int run_in_tx(PGconn *conn, CaptureTxFn fn, const char *schema, const PgCaptureTable *tables, size_t n,
                     P2nErr *err)
{
    if (PQtransactionStatus(conn) != PQTRANS_IDLE)
        return fn(conn, schema, tables, n, err);
    CaptureTx t = {conn, fn, schema, tables, n};
    return p2n_retry("capture install", capture_tx, &t, err);
}

static int drop_one(PGconn *conn, const char *schema, const char *tschema, const char *table, bool forget,
                    P2nErr *err);
static int record_install(PGconn *conn, const char *schema, const PgCaptureTable *t, const Gen *g, TableInfo *ti,
                          P2nErr *err);

static int install_one(PGconn *conn, const char *schema, const PgCaptureTable *t, P2nErr *err)
{
    TableInfo ti;
    int rc = table_info_load(conn, t, &ti, err);
    if (rc < 0)
        return rc;
    Gen g;
    memset(&g, 0, sizeof(g));
    g.t = t;
    g.ti = &ti;
    g.keys = t->n_keys ? t->key_columns : (const char *const *)ti.pk;
    g.nkeys = t->n_keys ? t->n_keys : ti.npk;
    if ((rc = validate(t, &ti, g.keys, g.nkeys, err)) < 0) {
        table_info_free(&ti);
        return rc;
    }
    char qsch[QBUF], qtab[QBUF];
    if (pgu_quote_ident(g.qs, sizeof(g.qs), schema) < 0 || pgu_quote_ident(qsch, sizeof(qsch), t->schema) < 0 ||
        pgu_quote_ident(qtab, sizeof(qtab), t->table) < 0 ||
        pgu_quote_literal(g.etype, sizeof(g.etype), t->entity_type) < 0) {
        table_info_free(&ti);
        return p2n_err_set(err, P2N_EINVAL, "name too long in table \"%s.%s\"", t->schema, t->table);
    }
    snprintf(g.qtable, sizeof(g.qtable), "%s.%s", qsch, qtab);
    pg_capture_function_name(g.fn_change, sizeof(g.fn_change), t->schema, t->table, "change");
    pg_capture_function_name(g.fn_array, sizeof(g.fn_array), t->schema, t->table, "array");
    pg_capture_function_name(g.fn_delete, sizeof(g.fn_delete), t->schema, t->table, "delete");
    if (t->mode == PG_CAPTURE_MODE_LOGICAL) {
        /* no trigger: the slot sees every change; drop what an earlier mode installed */
        rc = drop_one(conn, schema, t->schema, t->table, false, err);
        if (rc < 0) {
            table_info_free(&ti);
            return rc;
        }
        return record_install(conn, schema, t, &g, &ti, err);
    }

    P2nBuf body, sql;
    p2n_buf_init(&body);
    p2n_buf_init(&sql);
    p2n_buf_append_str(&sql, "SET LOCAL client_min_messages = warning;\n");
    append_change_body(&body, &g);
    append_function(&sql, &g, g.fn_change, &body);
    p2n_buf_reset(&body);
    /* A partitioned table: every trigger but TRUNCATE's is per row, because PostgreSQL clones row
       triggers onto every partition, present and future, and fires them whichever table a
       statement names; statement triggers fire only on the table the statement names. So a write
       straight into a partition is seen, and a row moved to another partition too (PostgreSQL
       runs it as a DELETE and an INSERT; no UPDATE trigger fires for it). Statement mode
       therefore captures a partitioned table as row mode does. */
    bool part = ti.partitioned;
    bool stmt = t->mode == PG_CAPTURE_MODE_STATEMENT && !part;
    if (stmt)
        append_stmt_update_body(&body, &g);
    else
        append_array_body(&body, &g);
    append_function(&sql, &g, g.fn_array, &body);
    p2n_buf_reset(&body);
    append_delete_body(&body, &g);
    append_function(&sql, &g, g.fn_delete, &body);
    if (stmt) {
        char aname[64];
        pg_capture_trigger_name(aname, sizeof(aname), t->table, "array");
        append_ident(&sql, "DROP TRIGGER IF EXISTS ", aname);
        p2n_buf_printf(&sql, " ON %s;\n", g.qtable);
        append_trigger(&sql, &g, "trigger", "UPDATE",
                       "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT", g.fn_array);
    } else {
        P2nBuf when;
        p2n_buf_init(&when);
        /* plain updates: key and arrays unchanged, some watched column changed */
        p2n_buf_append_str(&when, "FOR EACH ROW WHEN (NOT ");
        append_keys_distinct(&when, &g);
        p2n_buf_append_str(&when, " AND NOT ");
        append_arrays_distinct(&when, &g);
        p2n_buf_append_str(&when, " AND ");
        append_watched_distinct(&when, &g);
        p2n_buf_append_str(&when, ")");
        p2n_buf_append_byte(&when, '\0');
        append_trigger(&sql, &g, "trigger", "UPDATE", when.failed ? "" : (const char *)when.data, g.fn_change);
        p2n_buf_reset(&when);
        p2n_buf_append_str(&when, "FOR EACH ROW WHEN (");
        append_keys_distinct(&when, &g);
        p2n_buf_append_str(&when, " OR ");
        append_arrays_distinct(&when, &g);
        p2n_buf_append_str(&when, ")");
        p2n_buf_append_byte(&when, '\0');
        append_trigger(&sql, &g, "array", "UPDATE", when.failed ? "" : (const char *)when.data, g.fn_array);
        if (when.failed)
            sql.failed = true;
        p2n_buf_free(&when);
    }
    append_trigger(&sql, &g, "insert", "INSERT",
                   part ? "FOR EACH ROW" : "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT", g.fn_change);
    append_trigger(&sql, &g, "delete", "DELETE",
                   part ? "FOR EACH ROW" : "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT", g.fn_delete);
    append_trigger(&sql, &g, "truncate", "TRUNCATE", "FOR EACH STATEMENT", g.fn_delete);
    p2n_buf_append_byte(&sql, '\0');
    bool failed = sql.failed || body.failed;
    p2n_buf_free(&body);
    if (failed) {
        p2n_buf_free(&sql);
        table_info_free(&ti);
        return p2n_err_set(err, P2N_ENOMEM, "could not generate the triggers of \"%s.%s\"", t->schema, t->table);
    }
    char what[300];
    snprintf(what, sizeof(what), "could not install capture triggers on \"%s.%s\"", t->schema, t->table);
    rc = pgu_exec(conn, (const char *)sql.data, what, err);
    p2n_buf_free(&sql);
    if (rc < 0) {
        table_info_free(&ti);
        return rc;
    }
    return record_install(conn, schema, t, &g, &ti, err);
}

static const char *mode_name(PgCaptureMode m)
{
    return m == PG_CAPTURE_MODE_STATEMENT ? "statement" : m == PG_CAPTURE_MODE_LOGICAL ? "logical" : "row";
}

/* records what was installed; frees ti */
static int record_install(PGconn *conn, const char *schema, const PgCaptureTable *t, const Gen *gp, TableInfo *tip,
                          P2nErr *err)
{
    const Gen g = *gp;
    TableInfo ti = *tip;
    int rc;
    P2nBuf keys, watched, arrays;
    p2n_buf_init(&keys);
    p2n_buf_init(&watched);
    p2n_buf_init(&arrays);
    append_array_value(&keys, g.keys, g.nkeys);
    append_array_value(&watched, t->watched_columns, t->n_watched);
    append_array_value(&arrays, t->array_columns, t->n_arrays);
    p2n_buf_append_byte(&keys, '\0');
    p2n_buf_append_byte(&watched, '\0');
    p2n_buf_append_byte(&arrays, '\0');
    char oid[16];
    snprintf(oid, sizeof(oid), "%s", ti.partitioned ? ti.oid : "");
    table_info_free(&ti);
    if (keys.failed || watched.failed || arrays.failed) {
        rc = p2n_err_set(err, P2N_ENOMEM, "out of memory");
    } else {
        char gen[16];
        snprintf(gen, sizeof(gen), "%d", PG_CAPTURE_GENERATOR);
        /* a partitioned table's tree as of now: the fold resyncs the type when it changes
           (sql/007_partitions.sql). A second install keeps the tree recorded before, so that a
           change not yet seen by a fold is still resynced. */
        const char *p[9] = {t->schema, t->table, t->entity_type, (const char *)keys.data,
                            (const char *)watched.data, (const char *)arrays.data, gen,
                            mode_name(t->mode), oid[0] ? oid : NULL};
        char *q = pgu_schema_subst(
            "INSERT INTO @SCHEMA@.graph_sync_captured_tables AS c (table_schema, table_name, entity_type,"
            " key_columns, watched_columns, array_columns, generator, mode, partitions)"
            " VALUES ($1, $2, $3, $4::text[], $5::text[], $6::text[], $7::int, $8,"
            "         @SCHEMA@.graph_sync_partitions_of($9::oid))"
            " ON CONFLICT (table_schema, table_name) DO UPDATE SET entity_type = EXCLUDED.entity_type,"
            " key_columns = EXCLUDED.key_columns, watched_columns = EXCLUDED.watched_columns,"
            " array_columns = EXCLUDED.array_columns, generator = EXCLUDED.generator, mode = EXCLUDED.mode,"
            " installed_at = now()",
            schema, err);
        rc = q ? pgu_query(conn, q, 9, p, NULL, "could not record the capture", err) : P2N_ENOMEM;
        free(q);
    }
    p2n_buf_free(&keys);
    p2n_buf_free(&watched);
    p2n_buf_free(&arrays);
    return rc;
}

static bool any_logical(const PgCaptureTable *tables, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (tables[i].mode == PG_CAPTURE_MODE_LOGICAL)
            return true;
    return false;
}

static int install_all(PGconn *conn, const char *schema, const PgCaptureTable *tables, size_t n, P2nErr *err)
{
    for (size_t i = 0; i < n; i++) {
        int rc = install_one(conn, schema, &tables[i], err);
        if (rc < 0)
            return rc;
    }
    if (!any_logical(tables, n))
        return 0;
    /* the publication lists the key columns as recorded (the primary key when none was given) */
    return pg_logical_publish(conn, schema, err);
}

int pg_capture_install(PGconn *conn, const char *sync_schema, const PgCaptureTable *tables, size_t n,
                       P2nErr *err)
{
    int rc = pgu_schema_check(sync_schema, err);
    if (rc < 0)
        return rc;
    /* the functions and triggers are named by table and queue one entity type: a second entry
       for a table would replace the first one's, which would then never be captured */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(tables[i].schema, tables[j].schema) == 0 && strcmp(tables[i].table, tables[j].table) == 0)
                return p2n_err_set(err, P2N_EINVAL, "table \"%s.%s\" is given twice (as %s and as %s); a table's "
                                   "capture queues one entity type", tables[i].schema, tables[i].table,
                                   tables[j].entity_type, tables[i].entity_type);
    int version = 0;
    if ((rc = pg_schema_version(conn, sync_schema, &version, err)) < 0)
        return rc;
    if (version == 0)
        return p2n_err_set(err, P2N_ESTATE, "pg2neo is not initialised in schema \"%s\": run pg2neo init first",
                           sync_schema);
    if (!any_logical(tables, n)) {
        if ((rc = run_in_tx(conn, install_all, sync_schema, tables, n, err)) < 0 ||
            PQtransactionStatus(conn) != PQTRANS_IDLE)
            return rc;
        /* a switch away from logical capture: a slot nobody reads would keep WAL forever */
        PGresult *r = NULL;
        char *q = pgu_schema_subst("SELECT count(*) FROM @SCHEMA@.graph_sync_captured_tables WHERE mode = 'logical'",
                                   sync_schema, err);
        rc = q ? pgu_query(conn, q, 0, NULL, &r, "could not read the capture records", err) : P2N_ENOMEM;
        free(q);
        if (rc < 0)
            return rc;
        bool none = strcmp(PQgetvalue(r, 0, 0), "0") == 0;
        PQclear(r);
        return none ? pg_logical_drop(conn, sync_schema, err) : 0;
    }
    /* The publication must exist before the slot: pgoutput looks it up as of each change it
       decodes, and fails on changes older than the publication. A slot can only be created
       outside a transaction, so this install cannot join the caller's. */
    if (PQtransactionStatus(conn) != PQTRANS_IDLE)
        return p2n_err_set(err, P2N_ESTATE, "logical capture cannot be installed inside a transaction");
    if ((rc = pg_logical_wal_level_check(conn, err)) < 0)
        return rc;
    if ((rc = run_in_tx(conn, install_all, sync_schema, tables, n, err)) < 0)
        return rc;
    return pg_logical_slot_ensure(conn, sync_schema, NULL, err);
}

/* Drops the five triggers (when the table exists) and the two functions; with forget, also the
   record and the table's place in the logical capture's publication. */
static int drop_one(PGconn *conn, const char *schema, const char *tschema, const char *table, bool forget,
                    P2nErr *err)
{
    char qs[QBUF], qsch[QBUF], qtab[QBUF], name[64];
    if (pgu_quote_ident(qs, sizeof(qs), schema) < 0 || pgu_quote_ident(qsch, sizeof(qsch), tschema) < 0 ||
        pgu_quote_ident(qtab, sizeof(qtab), table) < 0)
        return p2n_err_set(err, P2N_EINVAL, "name too long in table \"%s.%s\"", tschema, table);
    const char *p[2] = {tschema, table};
    PGresult *r = NULL;
    int rc = pgu_query(conn,
                       "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                       " WHERE n.nspname = $1 AND c.relname = $2",
                       2, p, &r, "could not look up the table", err);
    if (rc < 0)
        return rc;
    bool exists = PQntuples(r) > 0;
    PQclear(r);
    P2nBuf sql;
    p2n_buf_init(&sql);
    p2n_buf_append_str(&sql, "SET LOCAL client_min_messages = warning;\n");
    const char *kinds[PG_CAPTURE_NTRIGGERS] = {"insert", "trigger", "array", "delete", "truncate"};
    for (int i = 0; exists && i < PG_CAPTURE_NTRIGGERS; i++) {
        pg_capture_trigger_name(name, sizeof(name), table, kinds[i]);
        append_ident(&sql, "DROP TRIGGER IF EXISTS ", name);
        p2n_buf_printf(&sql, " ON %s.%s;\n", qsch, qtab);
    }
    const char *fk[3] = {"change", "array", "delete"};
    for (int i = 0; i < 3; i++) {
        pg_capture_function_name(name, sizeof(name), tschema, table, fk[i]);
        p2n_buf_printf(&sql, "DROP FUNCTION IF EXISTS %s.", qs);
        append_ident(&sql, "", name);
        p2n_buf_append_str(&sql, "();\n");
    }
    p2n_buf_append_byte(&sql, '\0');
    if (sql.failed) {
        p2n_buf_free(&sql);
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    }
    rc = pgu_exec(conn, (const char *)sql.data, "could not drop capture triggers", err);
    p2n_buf_free(&sql);
    if (rc < 0 || !forget)
        return rc;
    char pub[80];
    pg_logical_name(pub, sizeof(pub), PQdb(conn), schema);
    const char *pp[3] = {pub, tschema, table};
    rc = pgu_query(conn,
                   "SELECT format('ALTER PUBLICATION %I DROP TABLE %I.%I', pubname, schemaname, tablename)"
                   "  FROM pg_publication_tables WHERE pubname = $1 AND schemaname = $2 AND tablename = $3",
                   3, pp, &r, "could not look up the publication", err);
    if (rc < 0)
        return rc;
    if (PQntuples(r) == 1) {
        char *alter = strdup(PQgetvalue(r, 0, 0));
        PQclear(r);
        rc = alter ? pgu_exec(conn, alter, "could not remove the table from the publication", err)
                   : p2n_err_set(err, P2N_ENOMEM, "out of memory");
        free(alter);
        if (rc < 0)
            return rc;
    } else {
        PQclear(r);
    }
    char *q = pgu_schema_subst("DELETE FROM @SCHEMA@.graph_sync_captured_tables"
                               " WHERE table_schema = $1 AND table_name = $2",
                               schema, err);
    rc = q ? pgu_query(conn, q, 2, p, NULL, "could not remove the capture record", err) : P2N_ENOMEM;
    free(q);
    return rc;
}

static int uninstall_all(PGconn *conn, const char *schema, const PgCaptureTable *tables, size_t n, P2nErr *err)
{
    for (size_t i = 0; i < n; i++) {
        int rc = drop_one(conn, schema, tables[i].schema, tables[i].table, true, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int pg_capture_uninstall(PGconn *conn, const char *sync_schema, const PgCaptureTable *tables, size_t n,
                         P2nErr *err)
{
    int rc = pgu_schema_check(sync_schema, err);
    if (rc < 0)
        return rc;
    return run_in_tx(conn, uninstall_all, sync_schema, tables, n, err);
}

/* ---------- what is installed ---------- */

typedef struct Installed {
    char schema[128], table[128], entity_type[128];
    int ntriggers;            /* of the five expected names, how many exist and use our functions */
    int other_triggers;       /* triggers on the table that call our functions under other names */
    bool recorded;            /* a graph_sync_captured_tables row */
    bool table_exists;
    int generator;
    bool stmt_mode;
    bool logical;             /* recorded in logical mode */
    bool published;           /* in the logical capture's publication */
    bool partitioned;         /* relkind 'p' */
    bool stmt_insert;         /* its <table>_sync_insert is per statement (before partitions were captured
                                 per row) */
    char keys[512], watched[512], arrays[512]; /* text[] output forms */
    bool seen;
} Installed;

static Installed *installed_find(Installed *v, size_t n, const char *schema, const char *table)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].schema, schema) == 0 && strcmp(v[i].table, table) == 0)
            return &v[i];
    return NULL;
}

static int installed_load(PGconn *conn, const char *schema, Installed **out, size_t *nout, P2nErr *err)
{
    *out = NULL;
    *nout = 0;
    /* our triggers per table: those calling on_entity_change_* / on_entity_delete_* of this schema;
       not the clones PostgreSQL makes of a partitioned table's row triggers on its partitions
       (tgparentid), which come and go with the partitions */
    const char *p[1] = {schema};
    PGresult *tr = NULL, *rr = NULL;
    int rc = pgu_query(conn,
                       "SELECT n.nspname, c.relname, t.tgname, c.relkind = 'p', (t.tgtype & 1) = 0"
                       "  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
                       "  JOIN pg_namespace n ON n.oid = c.relnamespace"
                       "  JOIN pg_proc f ON f.oid = t.tgfoid JOIN pg_namespace fn ON fn.oid = f.pronamespace"
                       " WHERE NOT t.tgisinternal AND t.tgparentid = 0 AND fn.nspname = $1"
                       "   AND (f.proname LIKE 'on\\_entity\\_change\\_%' OR f.proname LIKE 'on\\_entity\\_delete\\_%'"
                       "        OR f.proname LIKE 'on\\_array\\_field\\_change\\_%')"
                       " ORDER BY 1, 2, 3",
                       1, p, &tr, "could not list capture triggers", err);
    if (rc < 0)
        return rc;
    char *q = pgu_schema_subst("SELECT r.table_schema, r.table_name, r.entity_type, r.key_columns::text,"
                               " r.watched_columns::text, r.array_columns::text, r.generator, r.mode = 'statement',"
                               " EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                               "         WHERE n.nspname = r.table_schema AND c.relname = r.table_name),"
                               " r.mode = 'logical',"
                               " EXISTS (SELECT 1 FROM pg_publication_tables p WHERE p.pubname = $1"
                               "         AND p.schemaname = r.table_schema AND p.tablename = r.table_name)"
                               " FROM @SCHEMA@.graph_sync_captured_tables r ORDER BY 1, 2",
                               schema, err);
    char pub[80];
    pg_logical_name(pub, sizeof(pub), PQdb(conn), schema);
    const char *pp[1] = {pub};
    rc = q ? pgu_query(conn, q, 1, pp, &rr, "could not read the capture records", err) : P2N_ENOMEM;
    free(q);
    if (rc < 0) {
        PQclear(tr);
        return rc;
    }
    size_t cap = (size_t)PQntuples(tr) + (size_t)PQntuples(rr) + 1;
    Installed *v = calloc(cap, sizeof(Installed));
    if (!v) {
        PQclear(tr);
        PQclear(rr);
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    }
    size_t n = 0;
    for (int i = 0; i < PQntuples(rr); i++) {
        Installed *e = &v[n++];
        snprintf(e->schema, sizeof(e->schema), "%s", PQgetvalue(rr, i, 0));
        snprintf(e->table, sizeof(e->table), "%s", PQgetvalue(rr, i, 1));
        snprintf(e->entity_type, sizeof(e->entity_type), "%s", PQgetvalue(rr, i, 2));
        snprintf(e->keys, sizeof(e->keys), "%s", PQgetvalue(rr, i, 3));
        snprintf(e->watched, sizeof(e->watched), "%s", PQgetvalue(rr, i, 4));
        snprintf(e->arrays, sizeof(e->arrays), "%s", PQgetvalue(rr, i, 5));
        e->generator = atoi(PQgetvalue(rr, i, 6));
        e->stmt_mode = PQgetvalue(rr, i, 7)[0] == 't';
        e->table_exists = PQgetvalue(rr, i, 8)[0] == 't';
        e->logical = PQgetvalue(rr, i, 9)[0] == 't';
        e->published = PQgetvalue(rr, i, 10)[0] == 't';
        e->recorded = true;
    }
    for (int i = 0; i < PQntuples(tr); i++) {
        const char *s = PQgetvalue(tr, i, 0), *t = PQgetvalue(tr, i, 1), *tg = PQgetvalue(tr, i, 2);
        Installed *e = installed_find(v, n, s, t);
        if (!e) {
            e = &v[n++];
            snprintf(e->schema, sizeof(e->schema), "%s", s);
            snprintf(e->table, sizeof(e->table), "%s", t);
        }
        e->table_exists = true;
        e->partitioned = PQgetvalue(tr, i, 3)[0] == 't';
        const char *kinds[PG_CAPTURE_NTRIGGERS] = {"insert", "trigger", "array", "delete", "truncate"};
        bool expected = false;
        for (int k = 0; k < PG_CAPTURE_NTRIGGERS; k++) {
            char name[64];
            pg_capture_trigger_name(name, sizeof(name), t, kinds[k]);
            if (strcmp(name, tg) == 0) {
                expected = true;
                if (k == 0 && PQgetvalue(tr, i, 4)[0] == 't')
                    e->stmt_insert = true;
            }
        }
        if (expected)
            e->ntriggers++;
        else
            e->other_triggers++;
    }
    PQclear(tr);
    PQclear(rr);
    *out = v;
    *nout = n;
    return 0;
}

int pg_capture_drop_all(PGconn *conn, const char *sync_schema, P2nErr *err)
{
    int rc = pgu_schema_check(sync_schema, err);
    if (rc < 0)
        return rc;
    /* a schema without our tables has nothing recorded: look at the catalog only then */
    const char *p[1] = {sync_schema};
    PGresult *r = NULL;
    rc = pgu_query(conn, "SELECT to_regclass(format('%I.graph_sync_captured_tables', $1::text)) IS NOT NULL", 1,
                   p, &r, "could not look up the capture records", err);
    if (rc < 0)
        return rc;
    bool has_records = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (!has_records)
        return 0;
    Installed *v = NULL;
    size_t n = 0;
    if ((rc = installed_load(conn, sync_schema, &v, &n, err)) < 0)
        return rc;
    bool own = PQtransactionStatus(conn) == PQTRANS_IDLE;
    if (own && (rc = pgu_exec(conn, "BEGIN", "could not begin", err)) < 0) {
        free(v);
        return rc;
    }
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = drop_one(conn, sync_schema, v[i].schema, v[i].table, true, err);
    free(v);
    if (rc == 0)
        rc = pg_logical_drop(conn, sync_schema, err);
    if (!own)
        return rc;
    if (rc < 0) {
        PQclear(PQexec(conn, "ROLLBACK"));
        return rc;
    }
    return pgu_exec(conn, "COMMIT", "could not commit", err);
}

static void list_text(char *buf, size_t size, const char *const *v, size_t n)
{
    P2nBuf b;
    p2n_buf_init(&b);
    append_array_value(&b, v, n);
    p2n_buf_append_byte(&b, '\0');
    snprintf(buf, size, "%s", b.failed ? "" : (const char *)b.data);
    p2n_buf_free(&b);
}

/* compares a recorded text[] (server output form) with a requested list, via the server's parser */
static int same_list(PGconn *conn, const char *recorded, const char *const *v, size_t n, bool *same, P2nErr *err)
{
    char want[1024];
    list_text(want, sizeof(want), v, n);
    const char *p[2] = {recorded, want};
    PGresult *r = NULL;
    int rc = pgu_query(conn, "SELECT $1::text[] = $2::text[]", 2, p, &r, "could not compare columns", err);
    if (rc < 0)
        return rc;
    *same = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    return 0;
}

static void describe(const Installed *e, PgCaptureEntry *out)
{
    /* statement mode has no <table>_sync_array (but on a partitioned table, captured as in row
       mode); logical mode no trigger at all */
    int expected = e->stmt_mode && !e->partitioned ? PG_CAPTURE_NTRIGGERS - 1 : PG_CAPTURE_NTRIGGERS;
    if (!e->table_exists)
        snprintf(out->detail, sizeof(out->detail), "table no longer exists");
    else if (e->logical && (e->ntriggers > 0 || e->other_triggers > 0))
        snprintf(out->detail, sizeof(out->detail), "logical capture, but capture triggers remain");
    else if (e->logical && !e->published)
        snprintf(out->detail, sizeof(out->detail), "logical capture, but not in the publication");
    else if (e->logical)
        out->detail[0] = '\0';
    else if (e->ntriggers == 0 && e->other_triggers == 0)
        snprintf(out->detail, sizeof(out->detail), "recorded but no capture trigger");
    else if (e->ntriggers != expected || e->other_triggers > 0)
        snprintf(out->detail, sizeof(out->detail), "incomplete trigger set (%d of %d%s)", e->ntriggers, expected,
                 e->other_triggers ? ", plus foreign names" : "");
    else if (!e->recorded)
        snprintf(out->detail, sizeof(out->detail), "triggers without an install record");
    else if (e->generator != PG_CAPTURE_GENERATOR)
        snprintf(out->detail, sizeof(out->detail), "installed by an older pg2neo (generator %d, now %d)",
                 e->generator, PG_CAPTURE_GENERATOR);
    else if (e->partitioned && e->stmt_insert)
        snprintf(out->detail, sizeof(out->detail),
                 "installed by an older pg2neo (per-statement triggers miss writes to partitions)");
    else
        out->detail[0] = '\0';
}

int pg_capture_list(PGconn *conn, const char *sync_schema, const PgCaptureTable *tables, size_t n,
                    PgCaptureEntry **out, size_t *n_out, P2nErr *err)
{
    *out = NULL;
    *n_out = 0;
    int rc = pgu_schema_check(sync_schema, err);
    if (rc < 0)
        return rc;
    int version = 0;
    if ((rc = pg_schema_version(conn, sync_schema, &version, err)) < 0)
        return rc;
    if (version == 0)
        return p2n_err_set(err, P2N_ESTATE, "pg2neo is not initialised in schema \"%s\": run pg2neo init first",
                           sync_schema);
    Installed *v = NULL;
    size_t nv = 0;
    if ((rc = installed_load(conn, sync_schema, &v, &nv, err)) < 0)
        return rc;
    PgCaptureEntry *res = calloc(n + nv + 1, sizeof(PgCaptureEntry));
    if (!res) {
        free(v);
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const PgCaptureTable *t = &tables[i];
        PgCaptureEntry *e = &res[k++];
        snprintf(e->schema, sizeof(e->schema), "%s", t->schema);
        snprintf(e->table, sizeof(e->table), "%s", t->table);
        snprintf(e->entity_type, sizeof(e->entity_type), "%s", t->entity_type ? t->entity_type : "");
        Installed *in = installed_find(v, nv, t->schema, t->table);
        if (!in || (in->ntriggers == 0 && in->other_triggers == 0 && !in->logical)) {
            e->state = PG_CAPTURE_MISSING;
            snprintf(e->detail, sizeof(e->detail), "no capture trigger");
            if (in)
                in->seen = true;
            continue;
        }
        in->seen = true;
        describe(in, e);
        if (e->detail[0]) {
            e->state = PG_CAPTURE_STALE;
            continue;
        }
        bool same = strcmp(in->entity_type, t->entity_type ? t->entity_type : "") == 0;
        const char *diff = same ? NULL : "entity type";
        if (same && t->n_keys && (rc = same_list(conn, in->keys, t->key_columns, t->n_keys, &same, err)) < 0)
            break;
        if (!same && !diff)
            diff = "key columns";
        if (same && (rc = same_list(conn, in->watched, t->watched_columns, t->n_watched, &same, err)) < 0)
            break;
        if (!same && !diff)
            diff = "watched columns";
        if (same && (rc = same_list(conn, in->arrays, t->array_columns, t->n_arrays, &same, err)) < 0)
            break;
        if (!same && !diff)
            diff = "array columns";
        if (!diff && (in->stmt_mode != (t->mode == PG_CAPTURE_MODE_STATEMENT) ||
                      in->logical != (t->mode == PG_CAPTURE_MODE_LOGICAL)))
            diff = "capture mode";
        if (diff) {
            e->state = PG_CAPTURE_STALE;
            snprintf(e->detail, sizeof(e->detail), "installed with different %s", diff);
        } else {
            e->state = PG_CAPTURE_CAPTURED;
        }
    }
    if (rc < 0) {
        free(v);
        free(res);
        return rc;
    }
    for (size_t i = 0; i < nv; i++) {
        if (v[i].seen)
            continue;
        PgCaptureEntry *e = &res[k++];
        snprintf(e->schema, sizeof(e->schema), "%s", v[i].schema);
        snprintf(e->table, sizeof(e->table), "%s", v[i].table);
        snprintf(e->entity_type, sizeof(e->entity_type), "%s", v[i].entity_type);
        describe(&v[i], e);
        if (n > 0 && !e->detail[0])
            snprintf(e->detail, sizeof(e->detail), "table is not mapped");
        e->state = e->detail[0] ? PG_CAPTURE_STALE : PG_CAPTURE_CAPTURED;
    }
    free(v);
    *out = res;
    *n_out = k;
    return 0;
}
