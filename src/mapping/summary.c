/* A readable summary of a resolved mapping's graph model, as `pg2neo check` prints it. */
#include <stdio.h>
#include <string.h>

#include "mapping/mapping.h"

static void labels_of(P2nBuf *b, const MappingEntity *e)
{
    for (size_t i = 0; i < e->nlabels; i++)
        p2n_buf_printf(b, ":%s", e->labels[i].s);
}

static void col_desc(P2nBuf *b, const MappingColumn *c)
{
    p2n_buf_append_str(b, c->property);
    if (strcmp(c->property, c->column) != 0)
        p2n_buf_printf(b, " <- %s", c->column);
    p2n_buf_printf(b, " %s%s%s", c->is_array ? "list<" : "", mapping_conv_name(c->conv), c->is_array ? ">" : "");
}

static void props(P2nBuf *b, const MappingEntity *e)
{
    size_t n = 0;
    for (size_t i = 0; i < e->ncols; i++)
        n += e->cols[i].property != NULL;
    p2n_buf_printf(b, "    properties (%zu):", n);
    size_t width = 18;
    for (size_t i = 0; i < e->ncols; i++) {
        if (e->cols[i].property == NULL)
            continue;
        P2nBuf one;
        p2n_buf_init(&one);
        col_desc(&one, &e->cols[i]);
        if (width + one.len + 2 > 100) {
            p2n_buf_append_str(b, "\n     ");
            width = 5;
        }
        p2n_buf_printf(b, " %s%s", one.failed ? "?" : (const char *)one.data, ",");
        width += one.len + 2;
        p2n_buf_free(&one);
    }
    if (b->len > 0 && b->data[b->len - 1] == ',')
        b->len--;
    p2n_buf_append_byte(b, '\n');
}

static void keys(P2nBuf *b, const MappingEntity *e)
{
    p2n_buf_append_str(b, e->nkeys > 1 ? "(" : "");
    for (size_t i = 0; i < e->nkeys; i++)
        p2n_buf_printf(b, "%s%s", i ? ", " : "",
                       e->cols[e->key_cols[i]].property ? e->cols[e->key_cols[i]].property
                                                        : e->cols[e->key_cols[i]].column);
    p2n_buf_append_str(b, e->nkeys > 1 ? ")" : "");
}

void mapping_summary(const Mapping *m, P2nBuf *b)
{
    size_t nn = 0, nl = 0, nr = 0;
    for (size_t i = 0; i < m->nentities; i++) {
        if (m->entities[i].kind == MAPPING_NODE) {
            nn++;
            nr += m->entities[i].nrels;
        } else {
            nl++;
        }
    }
    p2n_buf_printf(b, "mapping %s is valid: %zu node entities, %zu relationships from columns, "
                      "%zu from join tables\n", m->path, nn, nr, nl);
    p2n_buf_printf(b, "source schema %s; target %s%s%s; sync every %lld ms, batches of %lld, "
                      "timeout %lld ms, auto sync %s, %lld attempts, backoff %lld..%lld ms\n",
                   m->source_schema, m->neo4j_uri, m->neo4j_database[0] ? " database " : "", m->neo4j_database,
                   (long long)m->sync.sync_interval_ms, (long long)m->sync.batch_size_limit,
                   (long long)m->sync.sync_timeout_ms, m->sync.enable_auto_sync ? "on" : "off",
                   (long long)m->sync.max_attempts, (long long)m->sync.backoff_base_ms,
                   (long long)m->sync.backoff_cap_ms);
    if (m->sync.conflict_scan_interval_ms > 0)
        p2n_buf_printf(b, "conflict scan every %lld ms, %lld entities per type; ",
                       (long long)m->sync.conflict_scan_interval_ms, (long long)m->sync.conflict_scan_sample);
    else
        p2n_buf_append_str(b, "no conflict scan; ");
    if (m->sync.audit_retention_days > 0)
        p2n_buf_printf(b, "audit trail kept %lld days\n", (long long)m->sync.audit_retention_days);
    else
        p2n_buf_append_str(b, "no audit trail\n");
    p2n_buf_append_str(b, "\nnodes\n");
    for (size_t i = 0; i < m->nentities; i++) {
        const MappingEntity *e = &m->entities[i];
        if (e->kind != MAPPING_NODE || !e->resolved)
            continue;
        p2n_buf_printf(b, "  (");
        labels_of(b, e);
        p2n_buf_printf(b, ")  entity %s <- table %s.%s, key ", e->name, e->schema ? e->schema : m->source_schema,
                       e->table);
        keys(b, e);
        p2n_buf_append_byte(b, '\n');
        props(b, e);
        if (e->delete_when)
            p2n_buf_printf(b, "    removed when: %s\n", e->delete_when);
        for (size_t r = 0; r < e->nrels; r++) {
            const MappingRel *rel = &e->rels[r];
            const char *tl = rel->target >= 0 ? m->entities[rel->target].labels[0].s : rel->value_label;
            const char *how = rel->target >= 0 ? (e->cols[rel->col].is_array ? "one per element of" : "column")
                                               : (e->cols[rel->col].is_array ? "value node per element of"
                                                                             : "value node of");
            p2n_buf_printf(b, "    (:%s)%s[:%s]%s(:%s", e->labels[0].s, rel->incoming ? "<-" : "-", rel->type,
                           rel->incoming ? "-" : "->", tl);
            if (rel->target < 0)
                p2n_buf_printf(b, " {%s}", rel->value_property);
            p2n_buf_printf(b, ")  %s %s\n", how, rel->column);
        }
    }
    if (nl > 0)
        p2n_buf_append_str(b, "\nrelationships from join tables\n");
    for (size_t i = 0; i < m->nentities; i++) {
        const MappingEntity *e = &m->entities[i];
        if (e->kind != MAPPING_LINK || !e->resolved)
            continue;
        const MappingEntity *f = &m->entities[e->from.target], *t = &m->entities[e->to.target];
        p2n_buf_printf(b, "  (:%s)-[:%s {", f->labels[0].s, e->rel_type);
        bool first = true;
        for (size_t c = 0; c < e->ncols; c++) {
            if (e->cols[c].property == NULL)
                continue;
            p2n_buf_printf(b, "%s%s", first ? "" : ", ", e->cols[c].property);
            first = false;
        }
        p2n_buf_printf(b, "}]->(:%s)  relationship %s <- table %s.%s (%s -> %s), key ", t->labels[0].s, e->name,
                       e->schema ? e->schema : m->source_schema, e->table, e->from.column, e->to.column);
        keys(b, e);
        p2n_buf_append_byte(b, '\n');
        props(b, e);
        if (e->delete_when)
            p2n_buf_printf(b, "    removed when: %s\n", e->delete_when);
    }
}
