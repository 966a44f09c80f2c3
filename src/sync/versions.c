/*
 * The version floor: graph_sync_version_seq kept above every `_p2n_version` the graph holds
 * (versions.h says why).
 */
#include "sync/versions.h"

#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "pg/pgutil.h"

/* max(x._p2n_version) of one query; -1 when it is null */
static int neo_max(BoltConn *neo, const char *q, int64_t *max, P2nErr *err)
{
    int rc = bolt_run(neo, q, NULL, 0, NULL, err);
    if (rc < 0)
        return rc;
    const PsValue *rec;
    while ((rc = bolt_next(neo, &rec, err)) == 1) {
        if (rec->u.list.len > 0 && rec->u.list.items[0].type == PS_INT && rec->u.list.items[0].u.i > *max)
            *max = rec->u.list.items[0].u.i;
    }
    return rc;
}

static int max_of(BoltConn *neo, bool rel, const char *name, int64_t *max, P2nErr *err)
{
    P2nBuf b;
    p2n_buf_init(&b);
    p2n_buf_append_str(&b, rel ? "MATCH ()-[x:" : "MATCH (x:");
    mapping_cypher_ident(&b, name);
    p2n_buf_append_str(&b, rel ? "]->() RETURN max(x." MAPPING_VERSION_PROP ")" : ") RETURN max(x." MAPPING_VERSION_PROP ")");
    p2n_buf_append(&b, "", 1);
    if (b.failed) {
        p2n_buf_free(&b);
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    }
    int rc = neo_max(neo, (const char *)b.data, max, err);
    if (rc < 0)
        p2n_err_prefix(err, "could not read the highest version of %s \"%s\" in Neo4j", rel ? "relationship type" : "label",
                       name);
    p2n_buf_free(&b);
    return rc;
}

int sync_graph_version_max(BoltConn *neo, const Mapping *m, int64_t *max, P2nErr *err)
{
    *max = -1;
    int rc = 0;
    for (size_t i = 0; i < m->nentities && rc == 0; i++) {
        const MappingEntity *e = &m->entities[i];
        if (e->kind == MAPPING_LINK) {
            rc = max_of(neo, true, e->rel_type, max, err);
            continue;
        }
        rc = max_of(neo, false, e->labels[0].s, max, err);
        for (size_t k = 0; k < e->nrels && rc == 0; k++)
            rc = max_of(neo, true, e->rels[k].type, max, err);
    }
    return rc < 0 ? rc : 0;
}

int sync_version_seq_last(PGconn *pg, const char *schema, int64_t *last, P2nErr *err)
{
    char *sql = pgu_schema_subst("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM @SCHEMA@.graph_sync_version_seq",
                                 schema, err);
    if (sql == NULL)
        return err->code ? err->code : P2N_ENOMEM;
    PGresult *r = NULL;
    int rc = pgu_query_retry(pg, sql, 0, NULL, &r, "could not read the version sequence", err);
    free(sql);
    if (rc == 0)
        *last = PQntuples(r) == 1 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    return rc;
}

int sync_version_seq_raise(PGconn *pg, const char *schema, int64_t floor, bool *raised, P2nErr *err)
{
    if (raised)
        *raised = false;
    if (floor < 1)
        return 0;
    /* setval only moves it up: a concurrent nextval between the test and the setval got a value
       below floor, so no version is handed out twice */
    char *sql = pgu_schema_subst("SELECT setval('@SCHEMA@.graph_sync_version_seq'::regclass, $1::bigint)"
                                 " FROM @SCHEMA@.graph_sync_version_seq"
                                 " WHERE (CASE WHEN is_called THEN last_value ELSE 0 END) < $1::bigint",
                                 schema, err);
    if (sql == NULL)
        return err->code ? err->code : P2N_ENOMEM;
    char v[24];
    snprintf(v, sizeof(v), "%lld", (long long)floor);
    const char *pv[1] = {v};
    PGresult *r = NULL;
    int rc = pgu_query(pg, sql, 1, pv, &r, "could not raise the version sequence", err);
    free(sql);
    if (rc == 0 && raised)
        *raised = PQntuples(r) > 0;
    PQclear(r);
    return rc;
}

int sync_version_floor(PGconn *pg, BoltConn *neo, const char *schema, const Mapping *m, int64_t *graph_max,
                       bool *raised, P2nErr *err)
{
    int64_t gmax = -1, last = 0;
    bool up = false;
    int rc = sync_graph_version_max(neo, m, &gmax, err);
    if (rc == 0)
        rc = sync_version_seq_last(pg, schema, &last, err);
    if (rc == 0 && gmax > last && (rc = sync_version_seq_raise(pg, schema, gmax, &up, err)) == 0 && up)
        P2N_WARN("the graph holds versions the version sequence had not reached: sequence raised",
                 "graph_version=%lld sequence_was=%lld", (long long)gmax, (long long)last);
    if (graph_max)
        *graph_max = gmax;
    if (raised)
        *raised = up;
    return rc;
}
