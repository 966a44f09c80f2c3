/*
 * Mapping validation against the live PostgreSQL catalog (database mapping_test): one test for
 * each wrong table, column, type and key, soft-delete expressions PREPAREd by the server, hostile
 * names (quotes, backticks, Unicode), domains, enums, views, and the civic example validating.
 * Nothing is written by the validation: the test checks that no table changed.
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

#include "mapping/mapping.h"

static PGconn *g_pg;
static MappingCatalog g_cat;

static const char *SCHEMA =
    "CREATE SCHEMA other;"
    "CREATE TYPE mood AS ENUM ('ok', 'sad');"
    "CREATE DOMAIN email AS text CHECK (VALUE LIKE '%@%');"
    "CREATE TABLE users (id uuid PRIMARY KEY, email email NOT NULL UNIQUE, name text NOT NULL,"
    "  mood mood, score numeric(5,2), born date, seen timestamptz, local timestamp, profile jsonb,"
    "  meta json, avatar bytea, tags text[], n int8[], invited_by uuid, deleted_at timestamptz, legacy_id int4);"
    "CREATE TABLE bills (id bigint PRIMARY KEY, sponsor uuid, title text NOT NULL, nick text UNIQUE);"
    "CREATE TABLE votes (user_id uuid NOT NULL, bill_id bigint NOT NULL, vote text, PRIMARY KEY (user_id, bill_id));"
    "CREATE TABLE other.archive (id uuid PRIMARY KEY);"
    "CREATE TABLE nopk (a int, b text);"
    "CREATE VIEW user_names AS SELECT id, name FROM users;"
    "CREATE TABLE \"Ü\"\"ber `tab\" (\"ké\"\"y\" text PRIMARY KEY, \"va`l\" int);";

static const char *no_env(const char *name, void *ctx)
{
    (void)ctx;
    return strcmp(name, "DATABASE_URL") == 0 ? getenv("DATABASE_URL") : NULL;
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
    PQclear(PQexec(admin, "DROP DATABASE IF EXISTS mapping_test WITH (FORCE)"));
    PGresult *r = PQexec(admin, "CREATE DATABASE mapping_test");
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("create database: %s", PQerrorMessage(admin));
    PQclear(r);
    PQfinish(admin);
    const char *kw[] = {"dbname", "dbname", NULL};
    const char *vals[] = {url, "mapping_test", NULL};
    g_pg = PQconnectdbParams(kw, vals, 1);
    if (PQstatus(g_pg) != CONNECTION_OK)
        fail_msg("could not connect to mapping_test: %s", PQerrorMessage(g_pg));
    PQclear(PQexec(g_pg, "SET client_min_messages = warning"));
    r = PQexec(g_pg, SCHEMA);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("schema: %s", PQerrorMessage(g_pg));
    PQclear(r);
    P2nErr err;
    if (mapping_catalog_load(g_pg, &g_cat, &err) < 0)
        fail_msg("catalog: %s", err.msg);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    mapping_catalog_free(&g_cat);
    PQfinish(g_pg);
    PGconn *admin = PQconnectdb(getenv("DATABASE_URL"));
    PQclear(PQexec(admin, "DROP DATABASE IF EXISTS mapping_test WITH (FORCE)"));
    PQfinish(admin);
    return 0;
}

/* Loads, resolves and PREPAREs; returns 0 or the error, diagnostics in *d. */
static int check(const char *yaml, MappingDiags *d, Mapping **out)
{
    Mapping *m = NULL;
    P2nErr err;
    int rc = mapping_load_string(yaml, strlen(yaml), "c.yaml", no_env, NULL, &m, d, &err);
    if (rc == 0)
        rc = mapping_resolve(m, &g_cat, d, &err);
    if (rc == 0)
        rc = mapping_check_sql(m, g_pg, d, &err);
    if (out)
        *out = m;
    else
        mapping_free(m);
    return rc;
}

static void bad(const char *yaml, const char *want)
{
    MappingDiags d = {0};
    assert_int_equal(check(yaml, &d, NULL), P2N_ECONFIG);
    bool found = false;
    for (size_t i = 0; i < d.n; i++)
        found = found || strstr(d.msgs[i], want) != NULL;
    if (!found) {
        fprintf(stderr, "wanted: %s\n", want);
        for (size_t i = 0; i < d.n; i++)
            fprintf(stderr, "  got: %s\n", d.msgs[i]);
    }
    mapping_diags_free(&d);
    assert_true(found);
}

static void good(const char *yaml)
{
    MappingDiags d = {0};
    int rc = check(yaml, &d, NULL);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "diag: %s\n", d.msgs[i]);
    mapping_diags_free(&d);
    assert_int_equal(rc, 0);
}

#define U "entities:\n  User:\n    table: users\n    convert: {score: string}\n"

static void test_all_types_validate(void **state)
{
    (void)state;
    Mapping *m = NULL;
    MappingDiags d = {0};
    assert_int_equal(check(U "    delete_when: deleted_at IS NOT NULL AND mood <> 'sad'\n", &d, &m), 0);
    MappingEntity *e = &m->entities[0];
    struct {
        const char *col;
        MappingConv conv;
        bool arr;
    } want[] = {
        {"id", MAPPING_CONV_STRING, false},      {"email", MAPPING_CONV_STRING, false},
        {"mood", MAPPING_CONV_STRING, false},    {"score", MAPPING_CONV_STRING, false},
        {"born", MAPPING_CONV_DATE, false},      {"seen", MAPPING_CONV_DATETIME, false},
        {"local", MAPPING_CONV_LOCALDATETIME, false}, {"profile", MAPPING_CONV_STRING, false},
        {"meta", MAPPING_CONV_STRING, false},    {"avatar", MAPPING_CONV_BYTES, false},
        {"tags", MAPPING_CONV_STRING, true},     {"n", MAPPING_CONV_INT, true},
        {"legacy_id", MAPPING_CONV_INT, false},
    };
    for (size_t w = 0; w < sizeof(want) / sizeof(want[0]); w++) {
        bool found = false;
        for (size_t i = 0; i < e->ncols; i++) {
            if (strcmp(e->cols[i].column, want[w].col) == 0) {
                found = true;
                assert_int_equal(e->cols[i].conv, want[w].conv);
                assert_int_equal(e->cols[i].is_array, want[w].arr);
            }
        }
        assert_true(found);
    }
    /* the domain resolves to its base type, the enum is text-like */
    mapping_free(m);
    mapping_diags_free(&d);
    /* and the generated read runs: insert a row and read it back by id */
    PQclear(PQexec(g_pg, "INSERT INTO users (id, email, name, mood, score, tags, n) VALUES "
                         "('00000000-0000-4000-8000-0000000000aa', 'a@b', 'A', 'ok', 1.5, '{x,NULL}', '{1,2}')"));
    assert_int_equal(check(U, &d, &m), 0);
    const char *p[] = {"{00000000-0000-4000-8000-0000000000aa,00000000-0000-4000-8000-0000000000bb}"};
    PGresult *r = PQexecParams(g_pg, m->entities[0].plan.read_sql, 1, NULL, p, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(r), 1);
    assert_string_equal(PQgetvalue(r, 0, 0), "00000000-0000-4000-8000-0000000000aa");
    assert_string_equal(PQgetvalue(r, 0, 1), "f");
    P2nBuf b;
    p2n_buf_init(&b);
    P2nErr err;
    assert_int_equal(mapping_row_encode(&m->entities[0], r, 0, 1, &b, &err), 0);
    assert_true(b.len > 20);
    p2n_buf_free(&b);
    PQclear(r);
    mapping_free(m);
    mapping_diags_free(&d);
}

static void test_wrong_table(void **state)
{
    (void)state;
    bad("entities:\n  User:\n    table: user\n", "c.yaml:3: entity \"User\": table \"public.user\" does not exist (did you mean \"users\"?)");
    bad("entities:\n  A:\n    table: archive\n", "table \"public.archive\" does not exist (there is one in schema \"other\": set \"schema: other\")");
    good("entities:\n  A:\n    table: archive\n    schema: other\n");
    bad("entities:\n  A:\n    table: archive\n    schema: othr\n", "table \"othr.archive\" does not exist");
}

static void test_wrong_column(void **state)
{
    (void)state;
    bad(U "    exclude: [avatr]\n", "c.yaml:5: entity \"User\": excluded column \"avatr\" does not exist in table \"public.users\" (did you mean \"avatar\"?)");
    bad(U "    rename: {nmae: n}\n", "renamed column \"nmae\" does not exist in table \"public.users\" (did you mean \"name\"?)");
    bad(U "    relationships:\n      - {type: I, column: invitedby, to: User}\n", "relationship column \"invitedby\" does not exist in table \"public.users\" (did you mean \"invited_by\"?)");
    /* a soft-delete expression naming a missing column: PostgreSQL's own message, at its line */
    bad(U "    delete_when: deletd_at IS NOT NULL\n",
        "c.yaml:5: entity \"User\": delete_when is not accepted by PostgreSQL: column \"deletd_at\" does not exist");
    bad(U "    delete_when: name\n", "c.yaml:5: entity \"User\": delete_when is not accepted by PostgreSQL: argument of WHERE must be type boolean, not type text");
}

static void test_wrong_type(void **state)
{
    (void)state;
    bad("entities:\n  User:\n    table: users\n", "c.yaml:3: entity \"User\": column \"score\" is numeric: choose its conversion explicitly");
    bad("entities:\n  User:\n    table: users\n    convert: {score: string, name: float}\n", "column \"name\" has type text, which cannot convert to float");
    bad("entities:\n  User:\n    table: users\n    convert: {score: float, meta: bytes}\n", "column \"meta\" has type json, which cannot convert to bytes");
    bad(U "  Bill:\n    table: bills\n    relationships:\n      - {type: S, column: sponsor, to: Bill}\n",
        "c.yaml:8: entity \"Bill\": relationship column \"sponsor\" has type uuid but the key \"id\" of entity \"Bill\" has type bigint");
    bad(U "  Bill:\n    table: bills\nrelationships:\n  V:\n    table: votes\n    type: V\n"
          "    from: {entity: User, column: bill_id}\n    to: {entity: Bill, column: user_id}\n",
        "from column \"bill_id\" has type bigint but the key \"id\" of entity \"User\" has type uuid");
    good("entities:\n  User:\n    table: users\n    convert: {score: float, profile: map, meta: map, n: float}\n");
}

static void test_wrong_key(void **state)
{
    (void)state;
    bad(U "    key: idd\n", "c.yaml:5: entity \"User\": key column \"idd\" does not exist in table \"public.users\" (did you mean \"id\"?)");
    bad(U "    key: name\n", "c.yaml:5: entity \"User\": the key is not unique in table \"public.users\" (no primary key or unique index on exactly these columns); its primary key is (id)");
    bad(U "    key: profile\n", "key column \"profile\" has type jsonb; a key must be an integer, numeric, text, uuid, enum, boolean, date, timestamp or timestamptz column");
    bad("entities:\n  N:\n    table: nopk\n", "c.yaml:3: entity \"N\": table \"public.nopk\" has no primary key; give the key columns with \"key:\"");
    bad("entities:\n  N:\n    table: user_names\n", "table \"public.user_names\" has no primary key");
    bad("entities:\n  B:\n    table: bills\n    key: nick\n", "key column \"nick\" may be NULL; declare it NOT NULL");
    good(U "    key: email\n"); /* the domain's base type is text; email is UNIQUE NOT NULL */
    good("entities:\n  V:\n    table: votes\n"); /* a composite primary key */
}

static void test_hostile_names(void **state)
{
    (void)state;
    Mapping *m = NULL;
    MappingDiags d = {0};
    assert_int_equal(check("entities:\n  W:\n    table: \"Ü\\\"ber `tab\"\n    labels: [\"W`e\\\"ird\"]\n", &d, &m), 0);
    MappingEntity *e = &m->entities[0];
    assert_non_null(strstr(e->plan.read_sql, "FROM \"public\".\"Ü\"\"ber `tab\" AS t WHERE t.\"ké\"\"y\" = ANY($1::text[]::text[])"));
    assert_non_null(strstr(e->plan.upsert[0], "MERGE (n:`W``e\"ird` {`ké\"y`: r.k})"));
    PQclear(PQexec(g_pg, "INSERT INTO \"Ü\"\"ber `tab\" VALUES ('a\"b', 7)"));
    const char *ids[] = {"a\"b", "x'y", "z\\w"};
    P2nBuf b;
    p2n_buf_init(&b);
    mapping_ids_param(ids, 3, &b);
    p2n_buf_append(&b, "", 1);
    const char *p[] = {(const char *)b.data};
    PGresult *r = PQexecParams(g_pg, e->plan.read_sql, 1, NULL, p, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(r), 1);
    assert_string_equal(PQgetvalue(r, 0, 0), "a\"b");
    assert_string_equal(PQgetvalue(r, 0, 3), "7");
    PQclear(r);
    p2n_buf_free(&b);
    mapping_free(m);
    mapping_diags_free(&d);
}

static void test_civic_example(void **state)
{
    (void)state;
    /* the civic schema is loaded by psql in the CLI test; here its mapping must at least load */
    const char *src = getenv("P2N_SRC");
    assert_non_null(src);
    char path[1024];
    snprintf(path, sizeof(path), "%s/examples/civic/mapping.yaml", src);
    Mapping *m = NULL;
    P2nErr err;
    MappingDiags d = {0};
    int rc = mapping_load_file(path, no_env, NULL, &m, &d, &err);
    if (rc != 0)
        fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_non_null(mapping_entity_find(m, "Bill"));
    assert_non_null(mapping_entity_find(m, "Vote"));
    assert_int_equal(mapping_entity_find(m, "Vote")->kind, MAPPING_LINK);
    mapping_free(m);
    mapping_diags_free(&d);
}

static void test_validation_writes_nothing(void **state)
{
    (void)state;
    /* every user table's contents and the catalog's object count are unchanged by a check */
    PGresult *r = PQexec(g_pg, "SELECT count(*) FROM pg_class WHERE relnamespace >= 16384");
    char before[32];
    snprintf(before, sizeof(before), "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    good(U "    delete_when: deleted_at IS NOT NULL\n");
    bad(U "    delete_when: nope\n", "does not exist");
    r = PQexec(g_pg, "SELECT count(*) FROM pg_class WHERE relnamespace >= 16384");
    assert_string_equal(PQgetvalue(r, 0, 0), before);
    PQclear(r);
    r = PQexec(g_pg, "SELECT count(*) FROM pg_prepared_statements WHERE name <> ''");
    assert_string_equal(PQgetvalue(r, 0, 0), "0");
    PQclear(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_types_validate),
        cmocka_unit_test(test_wrong_table),
        cmocka_unit_test(test_wrong_column),
        cmocka_unit_test(test_wrong_type),
        cmocka_unit_test(test_wrong_key),
        cmocka_unit_test(test_hostile_names),
        cmocka_unit_test(test_civic_example),
        cmocka_unit_test(test_validation_writes_nothing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
