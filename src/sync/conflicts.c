/*
 * pg2neo conflicts TYPE ID: a field-level diff of one entity between PostgreSQL and Neo4j,
 * using verify's streaming comparison restricted to one id. See conflicts.h.
 */
#include "sync/conflicts.h"

#include <string.h>

#include "packstream/packstream.h"
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

static int visit(void *ctx, const char *id, const PsValue *pgrow, const PsValue *rec, P2nErr *err)
{
    Ctx *c = ctx;
    (void)id;
    (void)err;
    c->r->in_postgres = pgrow != NULL;
    c->r->in_neo4j = rec != NULL;
    /* an absent side compares as an empty one: every field of the other side conflicts */
    PsValue empty_map;
    memset(&empty_map, 0, sizeof(empty_map));
    empty_map.type = PS_MAP;
    PsValue items[2 + 64];
    PsValue fake_rec;
    if (rec == NULL) {
        size_t n = c->e->kind == MAPPING_NODE ? 2 + c->e->nrels : 4;
        if (n > sizeof(items) / sizeof(items[0]))
            n = sizeof(items) / sizeof(items[0]);
        memset(items, 0, sizeof(items));
        items[1] = empty_map;
        for (size_t i = 2; i < n; i++)
            items[i].type = c->e->kind == MAPPING_NODE ? PS_LIST : PS_NULL;
        memset(&fake_rec, 0, sizeof(fake_rec));
        fake_rec.type = PS_LIST;
        fake_rec.u.list.items = items;
        fake_rec.u.list.len = (uint32_t)n;
        rec = &fake_rec;
    }
    if (pgrow == NULL)
        pgrow = &empty_map;
    bool pd, rd;
    verify_compare(c->e, pgrow, rec, on_field, c, &pd, &rd);
    return 0;
}

int conflicts_detect(FsEnv *env, const char *type, const char *id, ConflictReport *r, P2nErr *err)
{
    memset(r, 0, sizeof(*r));
    p2n_buf_init(&r->fields);
    p2n_buf_init(&r->pg_values);
    p2n_buf_init(&r->neo_values);
    p2n_buf_init(&r->text);
    const MappingEntity *e = mapping_entity_find(env->m, type);
    if (e == NULL)
        return p2n_err_set(err, P2N_ENOTFOUND, "unknown entity type \"%s\"", type);
    Ctx c = {e, r};
    const char *ids[1] = {id};
    int rc = verify_entity(env, e, ids, 1, 10, visit, &c, err);
    if (rc == 0 && (r->fields.failed || r->pg_values.failed || r->neo_values.failed || r->text.failed))
        rc = p2n_err_set(err, P2N_ENOMEM, "out of memory");
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
