/*
 * End to end through the generator's contract, against the real servers: rows read from
 * PostgreSQL with each entity's read_sql, encoded with mapping_row_encode / mapping_id_encode,
 * written to Neo4j with the generated Cypher, then the graph is checked: nodes, extra labels,
 * property types, FK / array-of-keys / value-node / join-table relationships, their diffs when
 * the row changes, NULLs removing properties, soft and hard deletes, monotonic versions,
 * placeholders, and hostile names (quotes, backticks, Unicode).
 * Uses its own database (mapping_sync_test) and labels starting with MT_ (deleted at the end).
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
#include "mapping/mapping.h"
#include "packstream/packstream.h"

#define U1 "00000000-0000-4000-8000-000000000001"
#define U2 "00000000-0000-4000-8000-000000000002"
#define S1 "00000000-0000-4000-8000-000000000011"
#define S2 "00000000-0000-4000-8000-000000000012"
#define S3 "00000000-0000-4000-8000-000000000013"
#define S9 "00000000-0000-4000-8000-000000000099"
#define B1 "00000000-0000-4000-8000-000000000021"

static const char *SCHEMA =
    "CREATE TABLE users (id uuid PRIMARY KEY, name text NOT NULL, bio text,"
    "  invited_by uuid REFERENCES users (id) ON DELETE SET NULL, profile jsonb, deleted_at timestamptz,"
    "  created_at timestamptz NOT NULL DEFAULT now());"
    "CREATE TABLE sponsors (id uuid PRIMARY KEY, full_name text NOT NULL);"
    "CREATE TABLE bills (id uuid PRIMARY KEY, title text NOT NULL,"
    "  sponsor_id uuid REFERENCES sponsors (id) ON DELETE SET NULL, co_sponsors uuid[] NOT NULL DEFAULT '{}',"
    "  tags text[] NOT NULL DEFAULT '{}', budget numeric(14,2), introduced_on date NOT NULL, digest bytea,"
    "  sat_at timestamp, scores float8[]);"
    "CREATE TABLE votes (user_id uuid REFERENCES users (id) ON DELETE CASCADE,"
    "  bill_id uuid REFERENCES bills (id) ON DELETE CASCADE, vote text NOT NULL, voted_at timestamptz NOT NULL,"
    "  PRIMARY KEY (user_id, bill_id));"
    "CREATE TABLE \"we\"\"ird `tab\" (\"k\"\"ey\" bigint PRIMARY KEY, \"名前\" text, \"pr`op\" text);";

static const char *MAPPING =
    "entities:\n"
    "  User:\n    table: users\n    labels: [MT_User]\n    convert: {profile: map}\n"
    "    delete_when: deleted_at IS NOT NULL\n"
    "    relationships:\n      - {type: INVITED_BY, column: invited_by, to: User}\n"
    "  Sponsor:\n    table: sponsors\n    labels: [MT_Sponsor, MT_Person]\n    rename: {full_name: name}\n"
    "  Bill:\n    table: bills\n    labels: [MT_Bill]\n    convert: {budget: string}\n"
    "    relationships:\n"
    "      - {type: SPONSORED_BY, column: sponsor_id, to: Sponsor}\n"
    "      - {type: CO_SPONSORED_BY, column: co_sponsors, to: Sponsor}\n"
    "      - {type: TAGGED, column: tags, value: {label: MT_Tag, property: name}}\n"
    "  Weird:\n    table: \"we\\\"ird `tab\"\n    labels: [\"MT_We`ird\", \"MT_ラベル\"]\n"
    "    rename: {\"pr`op\": \"p`rop\"}\n"
    "relationships:\n"
    "  Vote:\n    table: votes\n    type: VOTED\n    from: {entity: User, column: user_id}\n"
    "    to: {entity: Bill, column: bill_id}\n    rename: {voted_at: at}\n";

static PGconn *g_pg;
static BoltConn *g_neo;
static Mapping *g_map;
static MappingCatalog g_cat;

static void pg_exec(const char *sql)
{
    PGresult *r = PQexec(g_pg, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(g_pg));
    PQclear(r);
}

static void neo_exec(const char *q)
{
    P2nErr err;
    if (bolt_exec(g_neo, q, NULL, 0, NULL, NULL, &err) < 0)
        fail_msg("%s: %s", q, err.msg);
}

/* The JSON form of the single value a query returns. */
static char *neo_json(const char *q)
{
    P2nErr err;
    if (bolt_run(g_neo, q, NULL, 0, NULL, &err) < 0)
        fail_msg("%s: %s", q, err.msg);
    const PsValue *rec;
    if (bolt_next(g_neo, &rec, &err) != 1)
        fail_msg("%s: no row (%s)", q, err.msg);
    P2nBuf b;
    p2n_buf_init(&b);
    ps_value_to_json(&b, &rec->u.list.items[0]);
    p2n_buf_append(&b, "", 1);
    assert_int_equal(bolt_next(g_neo, &rec, &err), 0);
    return p2n_buf_steal(&b);
}

static void expect(const char *q, const char *want)
{
    char *got = neo_json(q);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "query: %s\n  want: %s\n  got:  %s\n", q, want, got);
    assert_string_equal(got, want);
    free(got);
}

/* Syncs entities by id, as the engine would: read, encode, upsert + delete in one transaction. */
static void sync_ids(const char *entity, const char *const *ids, size_t n, int64_t version)
{
    MappingEntity *e = mapping_entity_find(g_map, entity);
    assert_non_null(e);
    P2nBuf param;
    p2n_buf_init(&param);
    mapping_ids_param(ids, n, &param);
    p2n_buf_append(&param, "", 1);
    const char *vals[1] = {(const char *)param.data};
    PGresult *r = PQexecParams(g_pg, e->plan.read_sql, 1, NULL, vals, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("read %s: %s", entity, PQerrorMessage(g_pg));
    P2nBuf up, del;
    p2n_buf_init(&up);
    p2n_buf_init(&del);
    uint32_t nup = 0, ndel = 0;
    P2nErr err;
    bool *seen = calloc(n, sizeof(bool));
    for (int i = 0; i < PQntuples(r); i++) {
        const char *id = PQgetvalue(r, i, 0);
        for (size_t k = 0; k < n; k++)
            if (strcmp(ids[k], id) == 0)
                seen[k] = true;
        if (PQgetvalue(r, i, 1)[0] == 't') {
            assert_int_equal(mapping_id_encode(e, id, version, &del, &err), 0);
            ndel++;
        } else {
            if (mapping_row_encode(e, r, i, version, &up, &err) < 0)
                fail_msg("encode: %s", err.msg);
            nup++;
        }
    }
    for (size_t k = 0; k < n; k++) {
        if (!seen[k]) {
            assert_int_equal(mapping_id_encode(e, ids[k], version, &del, &err), 0);
            ndel++;
        }
    }
    free(seen);
    PQclear(r);
    assert_int_equal(bolt_begin(g_neo, NULL, &err), 0);
    P2nBuf params;
    p2n_buf_init(&params);
    if (nup > 0) {
        ps_pack_map_header(&params, 1);
        ps_pack_cstr(&params, "rows");
        ps_pack_list_header(&params, nup);
        p2n_buf_append(&params, up.data, up.len);
        for (size_t k = 0; k < e->plan.nupsert; k++)
            assert_int_equal(bolt_tx_queue(g_neo, e->plan.upsert[k], params.data, params.len, &err), 0);
    }
    if (ndel > 0) {
        p2n_buf_reset(&params);
        ps_pack_map_header(&params, 1);
        ps_pack_cstr(&params, "rows");
        ps_pack_list_header(&params, ndel);
        p2n_buf_append(&params, del.data, del.len);
        assert_int_equal(bolt_tx_queue(g_neo, e->plan.delete_cypher, params.data, params.len, &err), 0);
    }
    if (bolt_commit(g_neo, NULL, &err) < 0)
        fail_msg("commit %s: %s", entity, err.msg);
    p2n_buf_free(&params);
    p2n_buf_free(&up);
    p2n_buf_free(&del);
    p2n_buf_free(&param);
}

static void cleanup_graph(void)
{
    neo_exec("MATCH (n) WHERE any(l IN labels(n) WHERE l STARTS WITH 'MT_') DETACH DELETE n");
}

static int setup(void **state)
{
    (void)state;
    const char *url = getenv("DATABASE_URL");
    if (url == NULL)
        fail_msg("DATABASE_URL must be set (scripts/services env)");
    PGconn *admin = PQconnectdb(url);
    if (PQstatus(admin) != CONNECTION_OK)
        fail_msg("could not connect to PostgreSQL: %s", PQerrorMessage(admin));
    PQclear(PQexec(admin, "DROP DATABASE IF EXISTS mapping_sync_test WITH (FORCE)"));
    PGresult *r = PQexec(admin, "CREATE DATABASE mapping_sync_test");
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("create database: %s", PQerrorMessage(admin));
    PQclear(r);
    PQfinish(admin);
    const char *kw[] = {"dbname", "dbname", NULL};
    const char *vals[] = {url, "mapping_sync_test", NULL};
    g_pg = PQconnectdbParams(kw, vals, 1);
    if (PQstatus(g_pg) != CONNECTION_OK)
        fail_msg("could not connect to mapping_sync_test: %s", PQerrorMessage(g_pg));
    pg_exec(SCHEMA);

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
    cleanup_graph();

    MappingDiags d = {0};
    if (mapping_load_string(MAPPING, strlen(MAPPING), "sync.yaml", NULL, NULL, &g_map, &d, &err) < 0)
        fail_msg("load: %s", err.msg);
    if (mapping_catalog_load(g_pg, &g_cat, &err) < 0)
        fail_msg("catalog: %s", err.msg);
    if (mapping_resolve(g_map, &g_cat, &d, &err) < 0 || mapping_check_sql(g_map, g_pg, &d, &err) < 0) {
        for (size_t i = 0; i < d.n; i++)
            fprintf(stderr, "%s\n", d.msgs[i]);
        fail_msg("resolve: %s", err.msg);
    }
    mapping_diags_free(&d);
    for (size_t i = 0; i < g_map->nentities; i++)
        for (size_t k = 0; k < g_map->entities[i].plan.nschema; k++)
            neo_exec(g_map->entities[i].plan.schema[k]);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (g_neo) {
        cleanup_graph();
        for (size_t i = 0; g_map && i < g_map->nentities; i++) {
            MappingEntity *e = &g_map->entities[i];
            for (size_t k = 0; k < e->plan.nschema; k++) {
                /* CREATE CONSTRAINT `name` ... -> DROP CONSTRAINT `name` IF EXISTS */
                const char *s = e->plan.schema[k];
                bool cons = strncmp(s, "CREATE CONSTRAINT ", 18) == 0;
                const char *name = s + (cons ? 18 : 13);
                const char *end = strstr(name, " IF NOT EXISTS");
                char q[600];
                snprintf(q, sizeof(q), "DROP %s %.*s IF EXISTS", cons ? "CONSTRAINT" : "INDEX", (int)(end - name), name);
                neo_exec(q);
            }
        }
        bolt_conn_close(g_neo);
    }
    mapping_free(g_map);
    mapping_catalog_free(&g_cat);
    PQfinish(g_pg);
    PGconn *admin = PQconnectdb(getenv("DATABASE_URL"));
    PQclear(PQexec(admin, "DROP DATABASE IF EXISTS mapping_sync_test WITH (FORCE)"));
    PQfinish(admin);
    return 0;
}

static void test_insert_all_kinds(void **state)
{
    (void)state;
    pg_exec("INSERT INTO users (id, name, bio, profile) VALUES ('" U1 "', 'Ada', 'first', "
            "'{\"theme\": \"dark\", \"n\": 2, \"deep\": {\"x\": true}}')");
    pg_exec("INSERT INTO users (id, name, invited_by, created_at) VALUES ('" U2 "', 'Bob', '" U1 "', "
            "'2024-01-02 03:04:05.678901+00')");
    pg_exec("INSERT INTO sponsors VALUES ('" S1 "', 'Sen. One'), ('" S2 "', 'Rep. Two'), ('" S3 "', 'Rep. Three')");
    pg_exec("INSERT INTO bills VALUES ('" B1 "', 'Clean Air', '" S1 "', '{" S2 "," S3 "," S9 "}', '{civic,tax}', "
            "1234.50, '2024-02-29', '\\x00ff', '2024-03-01 10:00:00.5', '{1.5,NULL,2}')");
    pg_exec("INSERT INTO votes VALUES ('" U1 "', '" B1 "', 'yea', '2024-03-02 12:00:00+00')");
    const char *users[] = {U1, U2}, *sponsors[] = {S1, S2, S3}, *bills[] = {B1};
    const char *votes[] = {"[\"" U1 "\",\"" B1 "\"]"};
    sync_ids("Vote", votes, 1, 1); /* before its ends exist: placeholders are merged */
    sync_ids("User", users, 2, 1);
    sync_ids("Bill", bills, 1, 1);
    /* the sponsor's row is not synced yet: a placeholder holding only its key */
    expect("MATCH (s:MT_Sponsor {id: '" S1 "'}) RETURN [keys(s), s._p2n_version IS NULL, labels(s)]",
           "[[\"id\"],true,[\"MT_Sponsor\"]]");
    sync_ids("Sponsor", sponsors, 3, 1);

    expect("MATCH (n:MT_User) RETURN count(n)", "2");
    expect("MATCH (n:MT_User {id: '" U1 "'}) RETURN [n.name, n.bio, n.`profile.theme`, n.`profile.n`, "
           "n.`profile.deep.x`, n._p2n_version]",
           "[\"Ada\",\"first\",\"dark\",2,true,1]");
    expect("MATCH (n:MT_User {id: '" U2 "'}) RETURN toString(n.created_at)", "\"2024-01-02T03:04:05.678901Z\"");
    expect("MATCH (:MT_User {id: '" U2 "'})-[:INVITED_BY]->(u:MT_User) RETURN u.name", "\"Ada\"");
    expect("MATCH (n:MT_Sponsor:MT_Person) RETURN count(n)", "3");
    expect("MATCH (b:MT_Bill) RETURN [b.title, b.budget, toString(b.introduced_on), toString(b.sat_at), b.scores]",
           "[\"Clean Air\",\"1234.50\",\"2024-02-29\",\"2024-03-01T10:00:00.5\",[1.5,2.0]]");
    expect("MATCH (b:MT_Bill) RETURN b.digest", "{\"$bytes\":\"AP8=\"}"); /* bytea -> byte array */
    expect("MATCH (:MT_Bill)-[:SPONSORED_BY]->(s) RETURN s.name", "\"Sen. One\"");
    /* S9 has no row in PostgreSQL (an array cannot have a foreign key): no relationship, no node */
    expect("MATCH (:MT_Bill)-[:CO_SPONSORED_BY]->(s) WITH s ORDER BY s.id RETURN collect(s.id)",
           "[\"" S2 "\",\"" S3 "\"]");
    expect("MATCH (s:MT_Sponsor {id: '" S9 "'}) RETURN count(s)", "0");
    expect("MATCH (s:MT_Sponsor:MT_Person {id: '" S1 "'}) RETURN s.name", "\"Sen. One\"");
    expect("MATCH (:MT_Bill)-[:TAGGED]->(t:MT_Tag) WITH t ORDER BY t.name RETURN collect(t.name)", "[\"civic\",\"tax\"]");
    expect("MATCH (:MT_User {id: '" U1 "'})-[v:VOTED]->(:MT_Bill) RETURN [v.vote, toString(v.at), v._p2n_id]",
           "[\"yea\",\"2024-03-02T12:00:00Z\",\"[\\\"" U1 "\\\",\\\"" B1 "\\\"]\"]");
    /* the placeholders merged by the vote became the real nodes */
    expect("MATCH (n:MT_User {id: '" U1 "'}) RETURN count(n)", "1");
}

static void test_update_diffs_relationships(void **state)
{
    (void)state;
    pg_exec("UPDATE bills SET sponsor_id = NULL, co_sponsors = '{" S3 "}', tags = '{tax,new}', budget = NULL, "
            "title = 'Cleaner Air' WHERE id = '" B1 "'");
    pg_exec("UPDATE users SET bio = NULL, profile = '{\"theme\": \"light\"}' WHERE id = '" U1 "'");
    const char *bills[] = {B1}, *users[] = {U1};
    sync_ids("Bill", bills, 1, 2);
    sync_ids("User", users, 1, 2);
    expect("MATCH (b:MT_Bill) RETURN [b.title, b.budget IS NULL, b._p2n_version]", "[\"Cleaner Air\",true,2]");
    expect("MATCH (:MT_Bill)-[r:SPONSORED_BY]->() RETURN count(r)", "0");
    expect("MATCH (:MT_Bill)-[:CO_SPONSORED_BY]->(s) RETURN collect(s.id)", "[\"" S3 "\"]");
    expect("MATCH (:MT_Bill)-[:TAGGED]->(t:MT_Tag) WITH t ORDER BY t.name RETURN collect(t.name)", "[\"new\",\"tax\"]");
    /* NULL and vanished JSON keys remove properties */
    expect("MATCH (n:MT_User {id: '" U1 "'}) RETURN [n.bio IS NULL, n.`profile.theme`, n.`profile.n` IS NULL]",
           "[true,\"light\",true]");
}

static void test_older_versions_are_ignored(void **state)
{
    (void)state;
    pg_exec("UPDATE bills SET title = 'Stale', tags = '{stale}' WHERE id = '" B1 "'");
    const char *bills[] = {B1};
    sync_ids("Bill", bills, 1, 1); /* older than the stored version 2 */
    expect("MATCH (b:MT_Bill) RETURN [b.title, b._p2n_version]", "[\"Cleaner Air\",2]");
    expect("MATCH (:MT_Bill)-[:TAGGED]->(t:MT_Tag) WITH t ORDER BY t.name RETURN collect(t.name)", "[\"new\",\"tax\"]");
    sync_ids("Bill", bills, 1, 3);
    expect("MATCH (b:MT_Bill) RETURN b.title", "\"Stale\"");
    /* an old delete does not remove a newer node */
    const char *users[] = {U1};
    pg_exec("UPDATE users SET deleted_at = now() WHERE id = '" U1 "'");
    sync_ids("User", users, 1, 1);
    expect("MATCH (n:MT_User {id: '" U1 "'}) RETURN count(n)", "1");
    pg_exec("UPDATE users SET deleted_at = NULL WHERE id = '" U1 "'");
}

static void test_deletes(void **state)
{
    (void)state;
    /* soft delete: the row stays, the node goes (with its relationships) */
    pg_exec("UPDATE users SET deleted_at = now() WHERE id = '" U2 "'");
    const char *users[] = {U2};
    sync_ids("User", users, 1, 5);
    expect("MATCH (n:MT_User {id: '" U2 "'}) RETURN count(n)", "0");
    expect("MATCH (:MT_User)-[r:INVITED_BY]->(:MT_User) RETURN count(r)", "0");
    /* a row that refers to a soft-deleted row: no relationship and no placeholder */
    pg_exec("UPDATE users SET invited_by = '" U2 "' WHERE id = '" U1 "'");
    pg_exec("INSERT INTO votes VALUES ('" U2 "', '" B1 "', 'nay', now())");
    const char *u1[] = {U1}, *v2[] = {"[\"" U2 "\",\"" B1 "\"]"};
    sync_ids("User", u1, 1, 6);
    sync_ids("Vote", v2, 1, 6);
    expect("MATCH (n:MT_User {id: '" U2 "'}) RETURN count(n)", "0");
    expect("MATCH (:MT_User {id: '" U1 "'})-[r:INVITED_BY]->() RETURN count(r)", "0");
    pg_exec("DELETE FROM votes WHERE user_id = '" U2 "'");
    /* hard delete of a join-table row removes its relationship */
    pg_exec("DELETE FROM votes");
    const char *votes[] = {"[\"" U1 "\",\"" B1 "\"]"};
    sync_ids("Vote", votes, 1, 5);
    expect("MATCH (:MT_User)-[r:VOTED]->(:MT_Bill) RETURN count(r)", "0");
    expect("MATCH (n:MT_User {id: '" U1 "'}) RETURN count(n)", "1");
    /* hard delete of a row */
    pg_exec("DELETE FROM sponsors WHERE id = '" S3 "'");
    const char *sponsors[] = {S3};
    sync_ids("Sponsor", sponsors, 1, 5);
    expect("MATCH (n:MT_Sponsor {id: '" S3 "'}) RETURN count(n)", "0");
}

static void test_join_row_moves(void **state)
{
    (void)state;
    /* a join-table row whose key stays but whose relationship is re-created after a delete */
    pg_exec("INSERT INTO votes VALUES ('" U1 "', '" B1 "', 'nay', '2024-04-01 00:00:00+00')");
    const char *votes[] = {"[\"" U1 "\",\"" B1 "\"]"};
    sync_ids("Vote", votes, 1, 6);
    pg_exec("UPDATE votes SET vote = 'abstain'");
    sync_ids("Vote", votes, 1, 7);
    /* the id expression (shared with the capture triggers) yields exactly the ids used here */
    P2nBuf q;
    p2n_buf_init(&q);
    p2n_buf_append_str(&q, "SELECT ");
    mapping_sql_id_expr(mapping_entity_find(g_map, "Vote"), "v", &q);
    p2n_buf_append_str(&q, " FROM votes v");
    p2n_buf_append(&q, "", 1);
    PGresult *r = PQexec(g_pg, (const char *)q.data);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(r, 0, 0), votes[0]);
    PQclear(r);
    p2n_buf_free(&q);
    expect("MATCH (:MT_User)-[v:VOTED]->(:MT_Bill) RETURN [count(v), collect(v.vote)[0]]", "[1,\"abstain\"]");
}

static void test_hostile_names(void **state)
{
    (void)state;
    pg_exec("INSERT INTO \"we\"\"ird `tab\" VALUES (42, 'ünï ✓', 'x`y\"z')");
    const char *ids[] = {"42", "43"};
    sync_ids("Weird", ids, 2, 1);
    expect("MATCH (n:`MT_We``ird`:`MT_ラベル`) RETURN [n.`k\"ey`, n.`名前`, n.`p``rop`]", "[42,\"ünï ✓\",\"x`y\\\"z\"]");
    expect("MATCH (n:`MT_We``ird`) RETURN count(n)", "1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_insert_all_kinds),
        cmocka_unit_test(test_update_diffs_relationships),
        cmocka_unit_test(test_older_versions_are_ignored),
        cmocka_unit_test(test_deletes),
        cmocka_unit_test(test_join_row_moves),
        cmocka_unit_test(test_hostile_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
