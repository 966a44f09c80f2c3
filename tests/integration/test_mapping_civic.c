/*
 * The civic example end to end through the mapping: examples/civic/schema.sql and generate.sql
 * (hostile values included) loaded into database mapping_civic_test, every entity of
 * examples/civic/mapping.yaml read with its read_sql, encoded, and written to Neo4j with the
 * generated Cypher inside ONE transaction that is rolled back at the end, so the shared Neo4j
 * keeps nothing. Inside that transaction every node and relationship count is compared with the
 * count PostgreSQL gives for the same thing. Nodes written here carry a distinctive version, so
 * counts never include anything another test may have committed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "bolt/bolt.h"
#include "common/time.h"
#include "mapping/mapping.h"
#include "packstream/packstream.h"

#define V "9000000000000001" /* the version of every write of this test */
#define VERSION 9000000000000001LL

static PGconn *g_pg;
static BoltConn *g_neo;
static Mapping *g_map;
static MappingCatalog g_cat;

/* DATABASE_URL with its database replaced by db (for psql). */
static char *url_with_db(const char *url, const char *db)
{
    const char *p = strstr(url, "://");
    p = p ? strchr(p + 3, '/') : NULL;
    P2nBuf b;
    p2n_buf_init(&b);
    if (p == NULL) {
        p2n_buf_printf(&b, "%s/%s", url, db);
    } else {
        p2n_buf_append(&b, url, (size_t)(p - url));
        const char *q = strchr(p, '?');
        p2n_buf_printf(&b, "/%s%s", db, q ? q : "");
    }
    p2n_buf_append(&b, "", 1);
    return p2n_buf_steal(&b);
}

static int64_t pg_count(const char *sql)
{
    PGresult *r = PQexec(g_pg, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(g_pg));
    int64_t v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

static int64_t neo_count(const char *q)
{
    P2nErr err;
    if (bolt_run(g_neo, q, NULL, 0, NULL, &err) < 0)
        fail_msg("%s: %s", q, err.msg);
    const PsValue *rec;
    if (bolt_next(g_neo, &rec, &err) != 1)
        fail_msg("%s: no row (%s)", q, err.msg);
    int64_t v = rec->u.list.items[0].u.i;
    assert_int_equal(bolt_next(g_neo, &rec, &err), 0);
    return v;
}

/* Queues the writes of every row of one entity (inside the open transaction). */
static void queue_entity(MappingEntity *e, size_t *nup_out, size_t *ndel_out)
{
    P2nBuf q;
    p2n_buf_init(&q);
    p2n_buf_append_str(&q, "SELECT ");
    mapping_sql_id_expr(e, "t", &q);
    p2n_buf_append_str(&q, " FROM ");
    mapping_sql_table(g_map, e, &q);
    p2n_buf_append_str(&q, " AS t");
    p2n_buf_append(&q, "", 1);
    PGresult *ids = PQexec(g_pg, (const char *)q.data);
    if (PQresultStatus(ids) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", (const char *)q.data, PQerrorMessage(g_pg));
    int n = PQntuples(ids);
    const char **idv = calloc((size_t)n + 1, sizeof(*idv));
    for (int i = 0; i < n; i++)
        idv[i] = PQgetvalue(ids, i, 0);
    P2nBuf param;
    p2n_buf_init(&param);
    mapping_ids_param(idv, (size_t)n, &param);
    p2n_buf_append(&param, "", 1);
    const char *vals[1] = {(const char *)param.data};
    PGresult *r = PQexecParams(g_pg, e->plan.read_sql, 1, NULL, vals, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("read %s: %s", e->name, PQerrorMessage(g_pg));
    assert_int_equal(PQntuples(r), n); /* every id found, returned as asked */
    P2nBuf up, del;
    p2n_buf_init(&up);
    p2n_buf_init(&del);
    uint32_t nup = 0, ndel = 0;
    P2nErr err;
    for (int i = 0; i < PQntuples(r); i++) {
        if (PQgetvalue(r, i, 1)[0] == 't') {
            if (mapping_id_encode(e, PQgetvalue(r, i, 0), VERSION, &del, &err) < 0)
                fail_msg("%s", err.msg);
            ndel++;
        } else {
            if (mapping_row_encode(e, r, i, VERSION, &up, &err) < 0)
                fail_msg("encode: %s", err.msg);
            nup++;
        }
    }
    P2nBuf params;
    p2n_buf_init(&params);
    if (nup > 0) {
        ps_pack_map_header(&params, 1);
        ps_pack_cstr(&params, "rows");
        ps_pack_list_header(&params, nup);
        p2n_buf_append(&params, up.data, up.len);
        for (size_t k = 0; k < e->plan.nupsert; k++)
            if (bolt_tx_queue(g_neo, e->plan.upsert[k], params.data, params.len, &err) < 0)
                fail_msg("%s: %s", e->name, err.msg);
    }
    if (ndel > 0) {
        p2n_buf_reset(&params);
        ps_pack_map_header(&params, 1);
        ps_pack_cstr(&params, "rows");
        ps_pack_list_header(&params, ndel);
        p2n_buf_append(&params, del.data, del.len);
        if (bolt_tx_queue(g_neo, e->plan.delete_cypher, params.data, params.len, &err) < 0)
            fail_msg("%s: %s", e->name, err.msg);
    }
    *nup_out = nup;
    *ndel_out = ndel;
    p2n_buf_free(&params);
    p2n_buf_free(&up);
    p2n_buf_free(&del);
    p2n_buf_free(&param);
    p2n_buf_free(&q);
    PQclear(r);
    PQclear(ids);
    free(idv);
}

static int setup(void **state)
{
    (void)state;
    const char *url = getenv("DATABASE_URL"), *src = getenv("P2N_SRC");
    if (url == NULL || src == NULL)
        fail_msg("DATABASE_URL and P2N_SRC must be set");
    PGconn *admin = PQconnectdb(url);
    if (PQstatus(admin) != CONNECTION_OK)
        fail_msg("could not connect to PostgreSQL: %s", PQerrorMessage(admin));
    PQclear(PQexec(admin, "DROP DATABASE IF EXISTS mapping_civic_test WITH (FORCE)"));
    PGresult *r = PQexec(admin, "CREATE DATABASE mapping_civic_test");
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("create database: %s", PQerrorMessage(admin));
    PQclear(r);
    PQfinish(admin);
    char *db = url_with_db(url, "mapping_civic_test");
    setenv("P2N_CIVIC_DB", db, 1); /* the URL holds the password: pass it by environment, not argv */
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "psql -X -q -v ON_ERROR_STOP=1 -d \"$P2N_CIVIC_DB\" -f '%s/examples/civic/schema.sql' >/dev/null && "
             "psql -X -q -v ON_ERROR_STOP=1 -v scale=0.5 -d \"$P2N_CIVIC_DB\" -f '%s/examples/civic/generate.sql' >/dev/null",
             src, src);
    if (system(cmd) != 0)
        fail_msg("could not load the civic schema and data");
    g_pg = PQconnectdb(db);
    free(db);
    if (PQstatus(g_pg) != CONNECTION_OK)
        fail_msg("could not connect to mapping_civic_test: %s", PQerrorMessage(g_pg));

    BoltConfig cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.uri = getenv("NEO4J_URI");
    cfg.user = getenv("NEO4J_USER");
    cfg.password = getenv("NEO4J_PASSWORD");
    if (cfg.uri == NULL || cfg.password == NULL)
        fail_msg("NEO4J_URI and NEO4J_PASSWORD must be set (scripts/services env)");
    P2nErr err;
    if (bolt_conn_open(&cfg, &g_neo, &err) < 0)
        fail_msg("could not connect to Neo4j: %s", err.msg);

    char path[1024];
    snprintf(path, sizeof(path), "%s/examples/civic/mapping.yaml", src);
    MappingDiags d = {0};
    if (mapping_load_file(path, NULL, NULL, &g_map, &d, &err) < 0 || mapping_catalog_load(g_pg, &g_cat, &err) < 0 ||
        mapping_resolve(g_map, &g_cat, &d, &err) < 0 || mapping_check_sql(g_map, g_pg, &d, &err) < 0) {
        for (size_t i = 0; i < d.n; i++)
            fprintf(stderr, "%s\n", d.msgs[i]);
        fail_msg("civic mapping: %s", err.msg);
    }
    mapping_diags_free(&d);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    bolt_conn_close(g_neo);
    mapping_free(g_map);
    mapping_catalog_free(&g_cat);
    PQfinish(g_pg);
    PGconn *admin = PQconnectdb(getenv("DATABASE_URL"));
    PQclear(PQexec(admin, "DROP DATABASE IF EXISTS mapping_civic_test WITH (FORCE)"));
    PQfinish(admin);
    return 0;
}

static void test_civic_graph_matches_postgres(void **state)
{
    (void)state;
    P2nErr err;
    int64_t t0 = p2n_now_mono_us();
    assert_int_equal(bolt_begin(g_neo, NULL, &err), 0);
    size_t total_up = 0, total_del = 0;
    for (size_t i = 0; i < g_map->nentities; i++) {
        size_t nup, ndel;
        queue_entity(&g_map->entities[i], &nup, &ndel);
        total_up += nup;
        total_del += ndel;
    }
    int64_t t1 = p2n_now_mono_us();
    assert_int_equal(neo_count("RETURN 1"), 1); /* waits for every queued statement */
    int64_t t2 = p2n_now_mono_us();
    printf("# civic: %zu rows upserted, %zu deleted; read+encode %.0f ms, Neo4j writes %.0f ms (one transaction, no constraints: MERGE scans labels)\n",
           total_up, total_del, (double)(t1 - t0) / 1000.0, (double)(t2 - t1) / 1000.0);
    assert_true(total_up > 4000);
    assert_true(total_del > 10); /* soft-deleted users and comments */

    struct {
        const char *pg, *neo;
    } checks[] = {
        {"SELECT count(*) FROM users WHERE deleted_at IS NULL", "MATCH (n:User {_p2n_version: " V "}) RETURN count(n)"},
        {"SELECT (SELECT count(*) FROM sponsors) + (SELECT count(*) FROM governors)",
         "MATCH (n:Person {_p2n_version: " V "}) RETURN count(n)"},
        {"SELECT count(*) FROM sessions", "MATCH (n:Session {_p2n_version: " V "}) RETURN count(n)"},
        {"SELECT count(*) FROM sittings", "MATCH (n:Sitting {_p2n_version: " V "}) RETURN count(n)"},
        {"SELECT count(*) FROM bills", "MATCH (n:Bill {_p2n_version: " V "}) RETURN count(n)"},
        {"SELECT count(*) FROM arguments", "MATCH (n:Argument {_p2n_version: " V "}) RETURN count(n)"},
        {"SELECT count(*) FROM claims", "MATCH (n:Claim {_p2n_version: " V "}) RETURN count(n)"},
        {"SELECT count(*) FROM comments WHERE deleted_at IS NULL", "MATCH (n:Comment {_p2n_version: " V "}) RETURN count(n)"},
        /* a reference to a soft-deleted row makes no relationship (and no placeholder) */
        {"SELECT count(*) FROM users u JOIN users i ON i.id = u.invited_by WHERE u.deleted_at IS NULL AND i.deleted_at IS NULL",
         "MATCH (:User {_p2n_version: " V "})-[r:INVITED_BY]->(:User) RETURN count(r)"},
        {"SELECT count(*) FROM sittings", "MATCH (:Sitting {_p2n_version: " V "})-[r:OF_SESSION]->(:Session) RETURN count(r)"},
        {"SELECT count(*) FROM bills WHERE sponsor_id IS NOT NULL",
         "MATCH (:Bill {_p2n_version: " V "})-[r:SPONSORED_BY]->(:Sponsor) RETURN count(r)"},
        {"SELECT count(*) FROM bills WHERE governor_id IS NOT NULL",
         "MATCH (:Bill {_p2n_version: " V "})-[r:SIGNED_BY]->(:Governor) RETURN count(r)"},
        {"SELECT count(DISTINCT (b.id, s)) FROM bills b, unnest(b.co_sponsors) s WHERE s IS NOT NULL",
         "MATCH (:Bill {_p2n_version: " V "})-[r:CO_SPONSORED_BY]->(:Sponsor) RETURN count(r)"},
        {"SELECT count(DISTINCT (b.id, t)) FROM bills b, unnest(b.tags) t WHERE t IS NOT NULL",
         "MATCH (:Bill {_p2n_version: " V "})-[r:TAGGED]->(:Tag) RETURN count(r)"},
        {"SELECT count(DISTINCT t) FROM bills b, unnest(b.tags) t WHERE t IS NOT NULL",
         "MATCH (:Bill {_p2n_version: " V "})-[:TAGGED]->(t:Tag) RETURN count(DISTINCT t)"},
        {"SELECT count(*) FROM arguments", "MATCH (:Argument {_p2n_version: " V "})-[r:ABOUT]->(:Bill) RETURN count(r)"},
        {"SELECT count(*) FROM arguments a JOIN users u ON u.id = a.user_id WHERE u.deleted_at IS NULL",
         "MATCH (:Argument {_p2n_version: " V "})<-[r:MADE]-(:User) RETURN count(r)"},
        {"SELECT count(*) FROM claims", "MATCH (:Claim {_p2n_version: " V "})-[r:PART_OF]->(:Argument) RETURN count(r)"},
        {"SELECT count(*) FROM comments c JOIN users u ON u.id = c.user_id WHERE c.deleted_at IS NULL AND u.deleted_at IS NULL",
         "MATCH (:Comment {_p2n_version: " V "})<-[r:AUTHORED]-(:User) RETURN count(r)"},
        {"SELECT count(*) FROM comments WHERE deleted_at IS NULL",
         "MATCH (:Comment {_p2n_version: " V "})-[r:ON]->(:Bill) RETURN count(r)"},
        {"SELECT count(*) FROM comments c JOIN comments p ON p.id = c.parent_id WHERE c.deleted_at IS NULL AND p.deleted_at IS NULL",
         "MATCH (:Comment {_p2n_version: " V "})-[r:REPLY_TO]->(:Comment) RETURN count(r)"},
        {"SELECT count(*) FROM votes v JOIN users u ON u.id = v.user_id WHERE u.deleted_at IS NULL",
         "MATCH (:User)-[r:VOTED {_p2n_version: " V "}]->(:Bill) RETURN count(r)"},
        {"SELECT count(*) FROM bookmarks b JOIN users u ON u.id = b.user_id WHERE u.deleted_at IS NULL",
         "MATCH (:User)-[r:BOOKMARKED {_p2n_version: " V "}]->(:Bill) RETURN count(r)"},
        {"SELECT 0", "MATCH (:User {_p2n_version: " V "})--(u:User) WHERE u._p2n_version IS NULL RETURN count(u)"},
        {"SELECT 0", "MATCH ()-[:VOTED|BOOKMARKED|AUTHORED|MADE {_p2n_version: " V "}]-(u:User) WHERE u._p2n_version IS NULL RETURN count(u)"},
        {"SELECT 0", "MATCH (:Comment {_p2n_version: " V "})--(c:Comment) WHERE c._p2n_version IS NULL RETURN count(c)"},
        {"SELECT count(*) FROM sitting_bills", "MATCH (:Bill)-[r:ON_AGENDA {_p2n_version: " V "}]->(:Sitting) RETURN count(r)"},
        /* properties came through with their types */
        {"SELECT count(*) FROM bills WHERE budget IS NOT NULL",
         "MATCH (b:Bill {_p2n_version: " V "}) WHERE b.budget IS :: STRING NOT NULL RETURN count(b)"},
        {"SELECT count(*) FROM sittings", "MATCH (s:Sitting {_p2n_version: " V "}) WHERE s.sat_at IS :: LOCAL DATETIME NOT NULL RETURN count(s)"},
        {"SELECT count(*) FROM governors", "MATCH (g:Governor {_p2n_version: " V "}) WHERE g.term_start IS :: DATE NOT NULL RETURN count(g)"},
        {"SELECT count(*) FROM users WHERE deleted_at IS NULL", "MATCH (u:User {_p2n_version: " V "}) WHERE u.created_at IS :: ZONED DATETIME NOT NULL RETURN count(u)"},
        {"SELECT count(*) FROM votes v JOIN users u ON u.id = v.user_id WHERE u.deleted_at IS NULL",
         "MATCH ()-[v:VOTED {_p2n_version: " V "}]->() WHERE v.at IS :: ZONED DATETIME NOT NULL AND v.vote IS NOT NULL RETURN count(v)"},
        {"SELECT count(*) FROM bills WHERE text_digest IS NOT NULL", "MATCH (b:Bill {_p2n_version: " V "}) WHERE b.text_digest IS NOT NULL RETURN count(b)"},
        /* excluded columns are not there */
        {"SELECT 0", "MATCH (u:User {_p2n_version: " V "}) WHERE u.email IS NOT NULL OR u.avatar IS NOT NULL RETURN count(u)"},
    };
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        int64_t want = pg_count(checks[i].pg), got = neo_count(checks[i].neo);
        if (want != got)
            fprintf(stderr, "postgres %lld (%s) != neo4j %lld (%s)\n", (long long)want, checks[i].pg, (long long)got,
                    checks[i].neo);
        assert_int_equal(got, want);
    }
    /* a budget beyond a double's precision is kept exactly */
    PGresult *r = PQexec(g_pg, "SELECT id::text, budget::text FROM bills WHERE budget IS NOT NULL ORDER BY budget DESC LIMIT 1");
    char q[300];
    snprintf(q, sizeof(q), "MATCH (b:Bill {id: '%s'}) RETURN CASE WHEN b.budget = '%s' THEN 1 ELSE 0 END",
             PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1));
    PQclear(r);
    assert_int_equal(neo_count(q), 1);
    assert_int_equal(bolt_rollback(g_neo, &err), 0);
    /* nothing stays behind */
    assert_int_equal(neo_count("MATCH (n {_p2n_version: " V "}) RETURN count(n)"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_civic_graph_matches_postgres),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
