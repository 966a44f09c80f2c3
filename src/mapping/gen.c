/*
 * The generator: from a resolved entity, the SQL that reads its current rows by id and the
 * Cypher that writes them (UNWIND $rows ...), deletes them, and declares key constraints.
 * Identifiers are quoted (SQL "", Cypher ``); values are only ever parameters. The contract
 * with the sync engine is described at the top of mapping.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/keyid.h"
#include "mapping/mapping.h"

static void col_ref(P2nBuf *b, const char *alias, const char *col)
{
    p2n_buf_append_str(b, alias);
    p2n_buf_append_byte(b, '.');
    mapping_sql_ident(b, col);
}

void mapping_sql_table(const Mapping *m, const MappingEntity *e, P2nBuf *b)
{
    mapping_sql_ident(b, e->schema ? e->schema : m->source_schema);
    p2n_buf_append_byte(b, '.');
    mapping_sql_ident(b, e->table);
}

/* The canonical text of a key column's value x (common/keyid.h). */
static void key_text(P2nBuf *b, const MappingColumn *c, const char *x)
{
    p2n_key_sql_text(b, p2n_key_kind(c->pg_type), x);
}

static void key_text_ref(P2nBuf *b, const MappingEntity *e, size_t i, const char *alias)
{
    P2nBuf x;
    p2n_buf_init(&x);
    col_ref(&x, alias, e->keys[i].s);
    p2n_buf_append(&x, "", 1);
    if (x.failed)
        b->failed = true;
    else
        key_text(b, &e->cols[e->key_cols[i]], (const char *)x.data);
    p2n_buf_free(&x);
}

void mapping_sql_id_expr(const MappingEntity *e, const char *alias, P2nBuf *b)
{
    if (e->nkeys == 1) {
        key_text_ref(b, e, 0, alias);
        return;
    }
    /* the same form as the capture triggers (src/pg/capture.c): ["a","b"] */
    p2n_buf_append_str(b, "array_to_json(ARRAY[");
    for (size_t i = 0; i < e->nkeys; i++) {
        if (i)
            p2n_buf_append_str(b, ", ");
        key_text_ref(b, e, i, alias);
    }
    p2n_buf_append_str(b, "])::text");
}

/* The select expression of a scalar value x of column c: its text form is what the encoder
   parses. A key (or a reference to one) as a string is the id's text. */
static void scalar_expr(P2nBuf *b, const MappingColumn *c, const char *x)
{
    switch (c->conv) {
    case MAPPING_CONV_DATETIME:
    case MAPPING_CONV_LOCALDATETIME:
        /* from 2000-01-01 (PostgreSQL's own epoch): extract(epoch FROM t) itself overflows and
           rounds in the last centuries of the range (year 294276) */
        p2n_buf_printf(b, "CASE WHEN isfinite(%s) THEN (extract(epoch FROM %s%s) + 946684800)::text ELSE %s::text END",
                       x, x,
                       c->conv == MAPPING_CONV_DATETIME ? " - TIMESTAMPTZ '2000-01-01 00:00:00+00'"
                                                        : " - TIMESTAMP '2000-01-01 00:00:00'",
                       x); /* 'infinity', '-infinity' */
        break;
    case MAPPING_CONV_DATE:
        p2n_buf_printf(b, "CASE WHEN isfinite(%s) THEN (%s - DATE '1970-01-01')::text ELSE %s::text END", x, x, x);
        break;
    case MAPPING_CONV_BYTES:
        p2n_buf_printf(b, "encode(%s, 'hex')", x);
        break;
    case MAPPING_CONV_STRING:
    case MAPPING_CONV_MAP:
        if (c->key_form)
            key_text(b, c, x);
        else
            p2n_buf_printf(b, "%s::text", x);
        break;
    default: /* int, float, bool: the text form parses as is */
        p2n_buf_append_str(b, x);
        break;
    }
}

/* The select expression of one column: its text form is what the encoder parses. */
static void col_expr(P2nBuf *b, const MappingColumn *c)
{
    if (c->is_array) {
        p2n_buf_append_str(b, "to_jsonb(");
        col_ref(b, "t", c->column);
        /* floats as their text too: exact (to_jsonb drops -0's sign), and a numeric beyond the
           double range is no error (a ::float8[] cast fails the whole read) */
        if (c->conv == MAPPING_CONV_STRING || c->conv == MAPPING_CONV_FLOAT)
            p2n_buf_append_str(b, "::text[]");
        p2n_buf_append_str(b, ")::text");
        return;
    }
    P2nBuf x;
    p2n_buf_init(&x);
    col_ref(&x, "t", c->column);
    p2n_buf_append(&x, "", 1);
    if (x.failed)
        b->failed = true;
    else
        scalar_expr(b, c, (const char *)x.data);
    p2n_buf_free(&x);
}

/* EXISTS (a live row of target with key = value): the target's soft-delete filter applies.
 * Inside the subquery the target's columns are the innermost, so its delete_when reads them. */
static void alive_pred(P2nBuf *b, const Mapping *m, const MappingEntity *target, const char *value)
{
    p2n_buf_append_str(b, "EXISTS (SELECT 1 FROM ");
    mapping_sql_table(m, target, b);
    p2n_buf_append_str(b, " AS _p2n_x WHERE ");
    col_ref(b, "_p2n_x", target->cols[target->key_cols[0]].column);
    p2n_buf_printf(b, " = %s", value);
    if (target->delete_when)
        p2n_buf_printf(b, " AND NOT COALESCE((%s), false)", target->delete_when);
    p2n_buf_append_byte(b, ')');
}

/* A reference x (a scalar) of column c to target's key, as that key's value. A citext key is
 * matched ignoring case ('rust' refers to the row 'Rust'): the value is then the referenced row's
 * own key text, so that the relationship meets that row's node (the reference's text when no row
 * matches). */
static void ref_expr(P2nBuf *b, const Mapping *m, const MappingColumn *c, const MappingEntity *target, const char *x)
{
    const MappingColumn *tk = target != NULL ? &target->cols[target->key_cols[0]] : NULL;
    if (tk == NULL || c->conv != MAPPING_CONV_STRING || p2n_key_kind(tk->pg_type) != P2N_KEY_CITEXT) {
        scalar_expr(b, c, x);
        return;
    }
    p2n_buf_append_str(b, "COALESCE((SELECT ");
    col_ref(b, "_p2n_k", tk->column);
    p2n_buf_append_str(b, "::text FROM ");
    mapping_sql_table(m, target, b);
    p2n_buf_append_str(b, " AS _p2n_k WHERE ");
    col_ref(b, "_p2n_k", tk->column);
    p2n_buf_printf(b, " = %s), %s::text)", x, x);
}

/* A reference column (not an array) to target's key. */
static void ref_col(P2nBuf *b, const Mapping *m, const MappingColumn *c, const MappingEntity *target)
{
    if (c->is_array) {
        col_expr(b, c);
        return;
    }
    P2nBuf x;
    p2n_buf_init(&x);
    col_ref(&x, "t", c->column);
    p2n_buf_append(&x, "", 1);
    if (x.failed)
        b->failed = true;
    else
        ref_expr(b, m, c, target, (const char *)x.data);
    p2n_buf_free(&x);
}

/* A relationship column: a reference to a soft-deleted (or, for arrays, missing) target is left
 * out, so that no placeholder brings back a node its own row removed. With held, the opposite:
 * only the references left out (NULL when nothing can be held). The generated Cypher draws a
 * relationship to those only when their node is still in the graph (MATCH, never a placeholder):
 * that node's own pending delete removes it (DETACH DELETE), and if the target comes back first
 * the relationship is already there. */
static void rel_col_expr(P2nBuf *b, const Mapping *m, const MappingColumn *c, const MappingEntity *target,
                         bool held)
{
    bool check = target != NULL && (c->is_array || target->delete_when != NULL);
    if (!check) {
        if (held)
            p2n_buf_append_str(b, "NULL");
        else
            ref_col(b, m, c, target);
        return;
    }
    P2nBuf v;
    p2n_buf_init(&v);
    if (c->is_array) {
        p2n_buf_append_str(b, "to_jsonb(ARRAY(SELECT ");
        if (c->conv == MAPPING_CONV_INT || c->conv == MAPPING_CONV_BOOL || c->conv == MAPPING_CONV_FLOAT)
            p2n_buf_append_str(b, "_p2n_e");
        else /* each element as the target's key: its id text, a date's day number... */
            ref_expr(b, m, c, target, "_p2n_e");
        p2n_buf_append_str(b, " FROM unnest(");
        col_ref(b, "t", c->column);
        p2n_buf_append_str(b, held ? ") AS _p2n_e WHERE _p2n_e IS NOT NULL AND NOT " : ") AS _p2n_e WHERE ");
        alive_pred(b, m, target, "_p2n_e");
        p2n_buf_append_str(b, "))::text");
    } else {
        col_ref(&v, "t", c->column);
        p2n_buf_append(&v, "", 1);
        const char *ve = v.failed ? "NULL" : (const char *)v.data;
        if (held)
            p2n_buf_printf(b, "CASE WHEN %s IS NOT NULL AND NOT ", ve);
        else
            p2n_buf_append_str(b, "CASE WHEN ");
        alive_pred(b, m, target, ve);
        p2n_buf_append_str(b, " THEN ");
        ref_col(b, m, c, target);
        p2n_buf_append_str(b, " END");
    }
    p2n_buf_free(&v);
}

static char *build_read_sql(const Mapping *m, const MappingEntity *e)
{
    P2nBuf b;
    p2n_buf_init(&b);
    p2n_buf_append_str(&b, "SELECT ");
    if (e->nkeys == 1)
        mapping_sql_id_expr(e, "t", &b);
    else /* the id exactly as the caller gave it, so that it can match ids returned to ids asked */
        p2n_buf_append_str(&b, "_p2n_ids._p2n_id");
    p2n_buf_append_str(&b, " AS \"_p2n_id\", ");
    if (e->delete_when) {
        p2n_buf_printf(&b, "COALESCE((%s), false)", e->delete_when);
    } else {
        p2n_buf_append_str(&b, "false");
    }
    if (e->kind == MAPPING_LINK) {
        /* a NULL end, or an end whose entity is soft-deleted: no relationship */
        const MappingEnd *ends[2] = {&e->from, &e->to};
        for (int k = 0; k < 2; k++) {
            P2nBuf v;
            p2n_buf_init(&v);
            col_ref(&v, "t", ends[k]->column);
            p2n_buf_append(&v, "", 1);
            const char *ve = v.failed ? "NULL" : (const char *)v.data;
            p2n_buf_printf(&b, " OR %s IS NULL", ve);
            const MappingEntity *target = &m->entities[ends[k]->target];
            if (target->delete_when) {
                p2n_buf_append_str(&b, " OR NOT ");
                alive_pred(&b, m, target, ve);
            }
            p2n_buf_free(&v);
        }
    }
    p2n_buf_append_str(&b, " AS \"_p2n_deleted\"");
    for (size_t i = 0; i < e->ncols; i++) {
        p2n_buf_append_str(&b, ", ");
        const MappingEntity *target = NULL;
        for (size_t r = 0; r < e->nrels; r++)
            if (e->rels[r].col == (int)i && e->rels[r].target >= 0)
                target = &m->entities[e->rels[r].target];
        if (target != NULL)
            rel_col_expr(&b, m, &e->cols[i], target, false);
        else if (e->kind == MAPPING_LINK && ((int)i == e->from.col || (int)i == e->to.col))
            ref_col(&b, m, &e->cols[i], &m->entities[(int)i == e->from.col ? e->from.target : e->to.target]);
        else
            col_expr(&b, &e->cols[i]);
    }
    if (e->kind == MAPPING_NODE) {
        for (size_t r = 0; r < e->nrels; r++) {
            p2n_buf_append_str(&b, ", ");
            const MappingEntity *target = e->rels[r].target >= 0 ? &m->entities[e->rels[r].target] : NULL;
            rel_col_expr(&b, m, &e->cols[e->rels[r].col], target, true);
            p2n_buf_printf(&b, " AS \"_p2n_h%zu\"", r);
        }
    } else {
        /* live itself with both ends set: deleted only because an end's row is not live */
        p2n_buf_append_str(&b, ", ");
        if (e->delete_when)
            p2n_buf_printf(&b, "NOT COALESCE((%s), false) AND ", e->delete_when);
        col_ref(&b, "t", e->from.column);
        p2n_buf_append_str(&b, " IS NOT NULL AND ");
        col_ref(&b, "t", e->to.column);
        p2n_buf_append_str(&b, " IS NOT NULL AS \"_p2n_hold\"");
    }
    p2n_buf_append_str(&b, " FROM ");
    if (e->nkeys == 1) {
        mapping_sql_table(m, e, &b);
        p2n_buf_append_str(&b, " AS t WHERE ");
        col_ref(&b, "t", e->keys[0].s);
        p2n_buf_printf(&b, " = ANY($1::text[]::%s[])", e->cols[e->key_cols[0]].sql_type);
    } else {
        p2n_buf_append_str(&b, "unnest($1::text[]) AS _p2n_ids(_p2n_id) JOIN ");
        mapping_sql_table(m, e, &b);
        p2n_buf_append_str(&b, " AS t ON ");
        for (size_t i = 0; i < e->nkeys; i++) {
            if (i)
                p2n_buf_append_str(&b, " AND ");
            col_ref(&b, "t", e->keys[i].s);
            p2n_buf_printf(&b, " = (_p2n_ids._p2n_id::jsonb->>%zu)::%s", i, e->cols[e->key_cols[i]].sql_type);
            if (p2n_key_kind(e->cols[e->key_cols[i]].pg_type) == P2N_KEY_CITEXT) {
                /* equal ignoring case is not the same id: 'ABC' changed to 'abc' is a key change */
                p2n_buf_append_str(&b, " AND ");
                col_ref(&b, "t", e->keys[i].s);
                p2n_buf_printf(&b, "::text = _p2n_ids._p2n_id::jsonb->>%zu", i);
            }
        }
    }
    return p2n_buf_steal(&b);
}

/*
 * The version guard of every write: the write happens only when the graph holds no newer version
 * (gv, bound by the statement), and a row it skips is reported as a record holding the version
 * that made it skip. A skip is normal when a newer change got there first; a reported version
 * above what the version sequence has handed out means the graph is ahead of the sequence (its
 * schema was dropped and created again): the engine raises the sequence and queues the entities
 * again instead of counting a write that never happened as synced (issue 18 item 2).
 */
#define GUARD_THEN "FOREACH (_ IN CASE WHEN gv <= r.v THEN [1] ELSE [] END | "
/* the newest version among the relationships of the row's id (-1 when there is none) */
#define LINK_GV "WITH r, collect(cur) AS cur\n" \
                "WITH r, cur, reduce(m = -1, c IN cur | CASE WHEN coalesce(c." MAPPING_VERSION_PROP ", -1) > m" \
                " THEN coalesce(c." MAPPING_VERSION_PROP ", -1) ELSE m END) AS gv\n"
#define GUARD_REPORT ")\nWITH gv, r WHERE gv > r.v\nRETURN gv"

/* {`k1`: r.k} or {`k1`: r.k[0], `k2`: r.k[1]} */
static void key_pattern(P2nBuf *b, const MappingEntity *e, const char *var)
{
    p2n_buf_append_byte(b, '{');
    for (size_t i = 0; i < e->nkeys; i++) {
        if (i)
            p2n_buf_append_str(b, ", ");
        mapping_cypher_ident(b, e->cols[e->key_cols[i]].property);
        if (e->nkeys == 1)
            p2n_buf_printf(b, ": %s", var);
        else
            p2n_buf_printf(b, ": %s[%zu]", var, i);
    }
    p2n_buf_append_byte(b, '}');
}

static char *node_upsert(const MappingEntity *e)
{
    P2nBuf b;
    p2n_buf_init(&b);
    p2n_buf_append_str(&b, "UNWIND $rows AS r\nMERGE (n:");
    mapping_cypher_ident(&b, e->labels[0].s);
    p2n_buf_append_byte(&b, ' ');
    key_pattern(&b, e, "r.k");
    p2n_buf_append_str(&b, ")\nWITH n, r, coalesce(n." MAPPING_VERSION_PROP ", -1) AS gv\n" GUARD_THEN
                           "SET n = r.p, n." MAPPING_VERSION_PROP " = r.v");
    for (size_t i = 1; i < e->nlabels; i++) {
        p2n_buf_append_str(&b, ", n:");
        mapping_cypher_ident(&b, e->labels[i].s);
    }
    p2n_buf_append_str(&b, GUARD_REPORT);
    return p2n_buf_steal(&b);
}

static char *rel_upsert(const Mapping *m, const MappingEntity *e, size_t idx)
{
    const MappingRel *rel = &e->rels[idx];
    const char *tlabel, *tprop;
    if (rel->target >= 0) {
        const MappingEntity *t = &m->entities[rel->target];
        tlabel = t->labels[0].s;
        tprop = t->cols[t->key_cols[0]].property;
    } else {
        tlabel = rel->value_label;
        tprop = rel->value_property;
    }
    const char *l = rel->incoming ? "<-" : "-", *r = rel->incoming ? "-" : "->";
    P2nBuf b;
    p2n_buf_init(&b);
    p2n_buf_append_str(&b, "UNWIND $rows AS r\nMATCH (n:");
    mapping_cypher_ident(&b, e->labels[0].s);
    p2n_buf_append_byte(&b, ' ');
    key_pattern(&b, e, "r.k");
    p2n_buf_append_str(&b, ")\nWHERE n." MAPPING_VERSION_PROP " = r.v\n");
    /* The old end's label is tested with labels(x), not as a label predicate: a label predicate
       lets the planner start from x (an index scan of the target label, then Expand(Into) to n),
       and it does when the statistics it plans with are empty (a full sync's first chunk into a
       cleared graph estimates 0 rows everywhere). That plan, cached, scanned the whole target
       label for every row: 28M page hits and 6 s for 3,600 rows instead of 0.1 s. labels(x)
       leaves an expand from n as the only way in. */
    p2n_buf_printf(&b, "OPTIONAL MATCH (n)%s[old:", l);
    mapping_cypher_ident(&b, rel->type);
    p2n_buf_printf(&b, "]%s(x)\nWHERE ", r);
    mapping_cypher_string(&b, tlabel);
    p2n_buf_append_str(&b, " IN labels(x) AND NOT x.");
    mapping_cypher_ident(&b, tprop);
    p2n_buf_printf(&b, " IN r.r%zu", idx);
    if (rel->target >= 0) {
        /* held targets (not live in PostgreSQL): kept and drawn only to a node still present */
        p2n_buf_append_str(&b, " AND NOT x.");
        mapping_cypher_ident(&b, tprop);
        p2n_buf_printf(&b, " IN r.h%zu", idx);
    }
    p2n_buf_append_str(&b, "\nDELETE old\nWITH DISTINCT n, r\n");
    if (rel->target >= 0) {
        p2n_buf_printf(&b, "CALL { WITH n, r UNWIND r.h%zu AS hk MATCH (x:", idx);
        mapping_cypher_ident(&b, tlabel);
        p2n_buf_append_str(&b, " {");
        mapping_cypher_ident(&b, tprop);
        p2n_buf_printf(&b, ": hk}) MERGE (n)%s[:", l);
        mapping_cypher_ident(&b, rel->type);
        p2n_buf_printf(&b, "]%s(x) }\n", r);
    }
    p2n_buf_printf(&b, "UNWIND r.r%zu AS tk\nMERGE (x:", idx);
    mapping_cypher_ident(&b, tlabel);
    p2n_buf_append_str(&b, " {");
    mapping_cypher_ident(&b, tprop);
    p2n_buf_printf(&b, ": tk})\nMERGE (n)%s[:", l);
    mapping_cypher_ident(&b, rel->type);
    p2n_buf_printf(&b, "]%s(x)", r);
    return p2n_buf_steal(&b);
}

static char *node_delete(const MappingEntity *e)
{
    P2nBuf b;
    p2n_buf_init(&b);
    p2n_buf_append_str(&b, "UNWIND $rows AS r\nMATCH (n:");
    mapping_cypher_ident(&b, e->labels[0].s);
    p2n_buf_append_byte(&b, ' ');
    key_pattern(&b, e, "r.k");
    p2n_buf_append_str(&b, ")\nWITH n, r, coalesce(n." MAPPING_VERSION_PROP ", -1) AS gv\n" GUARD_THEN
                           "DETACH DELETE n" GUARD_REPORT);
    return p2n_buf_steal(&b);
}

static void end_merge(P2nBuf *b, const Mapping *m, const MappingEnd *end, const char *var, const char *param)
{
    const MappingEntity *t = &m->entities[end->target];
    p2n_buf_printf(b, "MERGE (%s:", var);
    mapping_cypher_ident(b, t->labels[0].s);
    p2n_buf_append_str(b, " {");
    mapping_cypher_ident(b, t->cols[t->key_cols[0]].property);
    p2n_buf_printf(b, ": %s})\n", param);
}

/* True when the key of a join table holds both end columns: an id then names its two ends, so
 * no relationship of that id can exist between other nodes (no search for one to move). */
static bool link_key_has_ends(const MappingEntity *e)
{
    bool f = false, t = false;
    for (size_t i = 0; i < e->nkeys; i++) {
        f = f || strcmp(e->keys[i].s, e->from.column) == 0;
        t = t || strcmp(e->keys[i].s, e->to.column) == 0;
    }
    return f && t;
}

/* The write of a join-table row whose ends are given (a, b bound): MERGE by id, monotonic. */
static void link_merge_tail(P2nBuf *b, const MappingEntity *e)
{
    p2n_buf_append_str(b, "MERGE (a)-[e:");
    mapping_cypher_ident(b, e->rel_type);
    p2n_buf_append_str(b, " {" MAPPING_REL_ID_PROP ": r.id}]->(b)\n"
                          "WITH e, r, coalesce(e." MAPPING_VERSION_PROP ", -1) AS gv\n" GUARD_THEN
                          "SET e = r.p, e." MAPPING_REL_ID_PROP " = r.id, e." MAPPING_VERSION_PROP " = r.v" GUARD_REPORT);
}

/*
 * The relationship of id r.id between the join table's end labels, found by the relationship
 * index on its id (created by init, rel_index below) whatever the statistics: the index is
 * hinted, the end labels are tested with labels() so that no label scan can start the plan (a
 * plan made with other statistics scanned every Bill and expanded its VOTED relationships for
 * each deleted vote: 1 s for 249 rows). `optional` makes it an OPTIONAL MATCH.
 */
static void link_by_id(P2nBuf *b, const Mapping *m, const MappingEntity *e, const char *var, bool optional)
{
    p2n_buf_printf(b, "%sMATCH (a)-[%s:", optional ? "OPTIONAL " : "", var);
    mapping_cypher_ident(b, e->rel_type);
    p2n_buf_printf(b, " {" MAPPING_REL_ID_PROP ": r.id}]->(b) USING INDEX %s:", var);
    mapping_cypher_ident(b, e->rel_type);
    p2n_buf_append_str(b, "(" MAPPING_REL_ID_PROP ")\nWHERE ");
    mapping_cypher_string(b, m->entities[e->from.target].labels[0].s);
    p2n_buf_append_str(b, " IN labels(a) AND ");
    mapping_cypher_string(b, m->entities[e->to.target].labels[0].s);
    p2n_buf_append_str(b, " IN labels(b)");
}

static char *link_upsert(const Mapping *m, const MappingEntity *e)
{
    P2nBuf b;
    p2n_buf_init(&b);
    if (link_key_has_ends(e)) {
        /* the common case (votes (user_id, bill_id)): MERGE both ends by their key constraints,
           then the relationship between them; no OPTIONAL MATCH + collect + FOREACH */
        p2n_buf_append_str(&b, "UNWIND $rows AS r\nWITH r WHERE NOT r.h\n");
        end_merge(&b, m, &e->from, "a", "r.f");
        end_merge(&b, m, &e->to, "b", "r.t");
        link_merge_tail(&b, e);
        return p2n_buf_steal(&b);
    }
    p2n_buf_append_str(&b, "UNWIND $rows AS r\nWITH r WHERE NOT r.h\n");
    link_by_id(&b, m, e, "cur", true);
    p2n_buf_append_str(&b, "\n" LINK_GV "CALL {\nWITH r, cur, gv\nWITH r, cur WHERE gv <= r.v\n");
    end_merge(&b, m, &e->from, "a", "r.f");
    end_merge(&b, m, &e->to, "b", "r.t");
    p2n_buf_append_str(&b, "FOREACH (c IN [c IN cur WHERE startNode(c) <> a OR endNode(c) <> b] | DELETE c)\n"
                           "MERGE (a)-[e:");
    mapping_cypher_ident(&b, e->rel_type);
    p2n_buf_append_str(&b, " {" MAPPING_REL_ID_PROP ": r.id}]->(b)\n"
                           "SET e = r.p, e." MAPPING_REL_ID_PROP " = r.id, e." MAPPING_VERSION_PROP " = r.v\n}"
                           "\nWITH gv, r WHERE gv > r.v\nRETURN gv");
    return p2n_buf_steal(&b);
}

/* Rows whose own row is live but an end's row is not: the relationship is drawn only between
 * nodes still present (MATCH, no placeholder); a relationship of that id elsewhere goes. */
static char *link_held(const Mapping *m, const MappingEntity *e)
{
    const MappingEntity *f = &m->entities[e->from.target], *t = &m->entities[e->to.target];
    P2nBuf b;
    p2n_buf_init(&b);
    if (link_key_has_ends(e)) {
        /* an id names its ends: if one is missing, no relationship of that id can exist */
        p2n_buf_append_str(&b, "UNWIND $rows AS r\nWITH r WHERE r.h\nMATCH (a:");
        mapping_cypher_ident(&b, f->labels[0].s);
        p2n_buf_append_str(&b, " {");
        mapping_cypher_ident(&b, f->cols[f->key_cols[0]].property);
        p2n_buf_append_str(&b, ": r.f})\nMATCH (b:");
        mapping_cypher_ident(&b, t->labels[0].s);
        p2n_buf_append_str(&b, " {");
        mapping_cypher_ident(&b, t->cols[t->key_cols[0]].property);
        p2n_buf_append_str(&b, ": r.t})\n");
        link_merge_tail(&b, e);
        return p2n_buf_steal(&b);
    }
    p2n_buf_append_str(&b, "UNWIND $rows AS r\nWITH r WHERE r.h\n");
    link_by_id(&b, m, e, "cur", true);
    p2n_buf_append_str(&b, "\n" LINK_GV "CALL {\nWITH r, cur, gv\nWITH r, cur WHERE gv <= r.v\n"
                           "OPTIONAL MATCH (a:");
    mapping_cypher_ident(&b, f->labels[0].s);
    p2n_buf_append_str(&b, " {");
    mapping_cypher_ident(&b, f->cols[f->key_cols[0]].property);
    p2n_buf_append_str(&b, ": r.f})\nOPTIONAL MATCH (b:");
    mapping_cypher_ident(&b, t->labels[0].s);
    p2n_buf_append_str(&b, " {");
    mapping_cypher_ident(&b, t->cols[t->key_cols[0]].property);
    p2n_buf_append_str(&b, ": r.t})\n"
                           "FOREACH (c IN [c IN cur WHERE a IS NULL OR b IS NULL OR startNode(c) <> a OR endNode(c) <> b] |"
                           " DELETE c)\n"
                           "WITH r, a, b WHERE a IS NOT NULL AND b IS NOT NULL\n"
                           "MERGE (a)-[e:");
    mapping_cypher_ident(&b, e->rel_type);
    p2n_buf_append_str(&b, " {" MAPPING_REL_ID_PROP ": r.id}]->(b)\n"
                           "SET e = r.p, e." MAPPING_REL_ID_PROP " = r.id, e." MAPPING_VERSION_PROP " = r.v\n}"
                           "\nWITH gv, r WHERE gv > r.v\nRETURN gv");
    return p2n_buf_steal(&b);
}

static char *link_delete(const Mapping *m, const MappingEntity *e)
{
    P2nBuf b;
    p2n_buf_init(&b);
    p2n_buf_append_str(&b, "UNWIND $rows AS r\n");
    link_by_id(&b, m, e, "e", false);
    p2n_buf_append_str(&b, "\nWITH e, r, coalesce(e." MAPPING_VERSION_PROP ", -1) AS gv\n" GUARD_THEN "DELETE e" GUARD_REPORT);
    return p2n_buf_steal(&b);
}

/* CREATE CONSTRAINT `p2n_<label>_<props>` IF NOT EXISTS FOR (n:`L`) REQUIRE (n.`a`, ...) IS UNIQUE */
static char *node_constraint(const char *label, const char *const *props, size_t n)
{
    P2nBuf name, b;
    p2n_buf_init(&name);
    p2n_buf_init(&b);
    p2n_buf_printf(&name, "p2n_%s", label);
    for (size_t i = 0; i < n; i++)
        p2n_buf_printf(&name, "_%s", props[i]);
    p2n_buf_append_str(&b, "CREATE CONSTRAINT ");
    mapping_cypher_ident(&b, name.failed ? "p2n" : (const char *)name.data);
    p2n_buf_append_str(&b, " IF NOT EXISTS FOR (n:");
    mapping_cypher_ident(&b, label);
    p2n_buf_append_str(&b, ") REQUIRE (");
    for (size_t i = 0; i < n; i++) {
        if (i)
            p2n_buf_append_str(&b, ", ");
        p2n_buf_append_str(&b, "n.");
        mapping_cypher_ident(&b, props[i]);
    }
    p2n_buf_append_str(&b, ") IS UNIQUE");
    p2n_buf_free(&name);
    return p2n_buf_steal(&b);
}

static char *rel_index(const char *type)
{
    P2nBuf name, b;
    p2n_buf_init(&name);
    p2n_buf_init(&b);
    p2n_buf_printf(&name, "p2n_%s_" MAPPING_REL_ID_PROP, type);
    p2n_buf_append_str(&b, "CREATE INDEX ");
    mapping_cypher_ident(&b, name.failed ? "p2n" : (const char *)name.data);
    p2n_buf_append_str(&b, " IF NOT EXISTS FOR ()-[e:");
    mapping_cypher_ident(&b, type);
    p2n_buf_append_str(&b, "]-() ON (e." MAPPING_REL_ID_PROP ")");
    p2n_buf_free(&name);
    return p2n_buf_steal(&b);
}

static bool push(char ***arr, size_t *n, char *s)
{
    if (s == NULL)
        return false;
    char **na = realloc(*arr, (*n + 1) * sizeof(*na));
    if (na == NULL) {
        free(s);
        return false;
    }
    *arr = na;
    na[(*n)++] = s;
    return true;
}

/*
 * Every write statement starts with MAPPING_CYPHER_PLAN_ONCE (CYPHER replan=skip): Neo4j
 * otherwise replans a cached query whenever the statistics it was planned with have drifted (a
 * graph cleared and reloaded, a label growing from a few nodes to thousands), and planning the
 * engine's ~40 statements costs about 45 ms each (a civic drain: 2.1 s with a cold query cache,
 * 0.25 s warm). Their plans do not depend on the statistics: every node is found by a
 * unique-constraint seek, every old relationship by an expand from its node (rel_upsert) and
 * every join-table relationship by its hinted index (link_by_id), so the first plan stays right.
 */
static char *prefixed(char *s)
{
    if (s == NULL)
        return NULL;
    size_t n = strlen(s), k = strlen(MAPPING_CYPHER_PLAN_ONCE);
    char *o = malloc(k + n + 1);
    if (o != NULL) {
        memcpy(o, MAPPING_CYPHER_PLAN_ONCE, k);
        memcpy(o + k, s, n + 1);
    }
    free(s);
    return o;
}

int mapping_plan_build(const Mapping *m, MappingEntity *e, P2nErr *err)
{
    MappingPlan *p = &e->plan;
    bool ok = (p->read_sql = build_read_sql(m, e)) != NULL;
    if (e->kind == MAPPING_NODE) {
        ok = ok && push(&p->upsert, &p->nupsert, prefixed(node_upsert(e)));
        for (size_t i = 0; ok && i < e->nrels; i++)
            ok = push(&p->upsert, &p->nupsert, prefixed(rel_upsert(m, e, i)));
        ok = ok && (p->delete_cypher = prefixed(node_delete(e))) != NULL;
        const char *props[64];
        size_t n = e->nkeys < 64 ? e->nkeys : 64;
        for (size_t i = 0; i < n; i++)
            props[i] = e->cols[e->key_cols[i]].property;
        ok = ok && push(&p->schema, &p->nschema, node_constraint(e->labels[0].s, props, n));
        for (size_t i = 0; ok && i < e->nrels; i++) {
            if (e->rels[i].target >= 0)
                continue;
            const char *vp = e->rels[i].value_property;
            ok = push(&p->schema, &p->nschema, node_constraint(e->rels[i].value_label, &vp, 1));
        }
    } else {
        ok = ok && push(&p->upsert, &p->nupsert, prefixed(link_upsert(m, e)));
        ok = ok && push(&p->upsert, &p->nupsert, prefixed(link_held(m, e)));
        ok = ok && (p->delete_cypher = prefixed(link_delete(m, e))) != NULL;
        ok = ok && push(&p->schema, &p->nschema, rel_index(e->rel_type));
    }
    if (!ok)
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    return 0;
}

int mapping_capture_columns(const MappingEntity *e, const char ***watched, const char ***arrays, P2nErr *err)
{
    *watched = NULL;
    *arrays = NULL;
    const char **w = calloc(e->ncols + 1, sizeof(*w));
    const char **a = calloc(e->ncols + 1, sizeof(*a));
    if (w == NULL || a == NULL) {
        free(w);
        free(a);
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    }
    size_t nw = 0, na = 0;
    for (size_t i = 0; i < e->ncols; i++) {
        const char *c = e->cols[i].column;
        bool dup = false;
        for (size_t k = 0; k < nw && !dup; k++)
            dup = strcmp(w[k], c) == 0;
        if (!dup)
            w[nw++] = c;
        if (e->cols[i].property == NULL && e->cols[i].is_array) {
            dup = false;
            for (size_t k = 0; k < na && !dup; k++)
                dup = strcmp(a[k], c) == 0;
            if (!dup)
                a[na++] = c;
        }
    }
    if (e->delete_when) {
        free(w);
        w = NULL;
    }
    *watched = w;
    *arrays = a;
    return 0;
}
