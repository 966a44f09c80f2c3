/*
 * Unit tests for mapping resolution against a hand-built catalog (every wrong table, column,
 * type and key), the generated SQL and Cypher of each mapping kind (with hostile names), and the
 * row encoder (decoded back with the PackStream decoder).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mapping/mapping.h"
#include "packstream/packstream.h"

static const char *no_env(const char *name, void *ctx)
{
    (void)name;
    (void)ctx;
    return NULL;
}

/* A catalog shaped like a small part of the civic schema, plus some oddities. */
static void civic_catalog(MappingCatalog *cat)
{
    memset(cat, 0, sizeof(*cat));
    MappingCatTable *t = mapping_catalog_add_table(cat, "public", "users");
    mapping_catalog_add_column(t, "id", "uuid", false, true);
    mapping_catalog_add_column(t, "display_name", "text", false, true);
    mapping_catalog_add_column(t, "invited_by", "uuid", false, false);
    mapping_catalog_add_column(t, "reputation", "int4", false, true);
    mapping_catalog_add_column(t, "profile", "jsonb", false, false);
    mapping_catalog_add_column(t, "avatar", "bytea", false, false);
    mapping_catalog_add_column(t, "deleted_at", "timestamptz", false, false);
    mapping_catalog_add_column(t, "email", "text", false, true);
    mapping_catalog_add_column(t, "score", "numeric", false, false);
    mapping_catalog_add_unique(t, (const char *const[]){"id", NULL}, true);
    mapping_catalog_add_unique(t, (const char *const[]){"email", NULL}, false);

    t = mapping_catalog_add_table(cat, "public", "sponsors");
    mapping_catalog_add_column(t, "id", "uuid", false, true);
    mapping_catalog_add_column(t, "full_name", "text", false, true);
    mapping_catalog_add_unique(t, (const char *const[]){"id", NULL}, true);

    t = mapping_catalog_add_table(cat, "public", "bills");
    mapping_catalog_add_column(t, "id", "uuid", false, true);
    mapping_catalog_add_column(t, "title", "text", false, true);
    mapping_catalog_add_column(t, "sponsor_id", "uuid", false, false);
    mapping_catalog_add_column(t, "co_sponsors", "uuid", true, true);
    mapping_catalog_add_column(t, "tags", "text", true, true);
    mapping_catalog_add_column(t, "budget", "numeric", false, false);
    mapping_catalog_add_column(t, "introduced_on", "date", false, true);
    mapping_catalog_add_column(t, "sat_at", "timestamp", false, false);
    mapping_catalog_add_column(t, "scores", "float8", true, false);
    mapping_catalog_add_column(t, "flags", "bool", true, false);
    mapping_catalog_add_column(t, "counts", "int8", true, false);
    mapping_catalog_add_unique(t, (const char *const[]){"id", NULL}, true);

    t = mapping_catalog_add_table(cat, "public", "votes");
    mapping_catalog_add_column(t, "user_id", "uuid", false, true);
    mapping_catalog_add_column(t, "bill_id", "uuid", false, true);
    mapping_catalog_add_column(t, "vote", "text", false, true);
    mapping_catalog_add_column(t, "voted_at", "timestamptz", false, true);
    mapping_catalog_add_unique(t, (const char *const[]){"user_id", "bill_id", NULL}, true);

    t = mapping_catalog_add_table(cat, "public", "sittings");
    mapping_catalog_add_column(t, "id", "int8", false, true);
    mapping_catalog_add_column(t, "session_id", "int4", false, true);
    mapping_catalog_add_unique(t, (const char *const[]){"id", NULL}, true);

    /* a join table with a surrogate key (a table is mapped once: not bills itself) */
    t = mapping_catalog_add_table(cat, "public", "sponsorships");
    mapping_catalog_add_column(t, "id", "uuid", false, true);
    mapping_catalog_add_column(t, "bill_id", "uuid", false, true);
    mapping_catalog_add_column(t, "sponsor_id", "uuid", false, false);
    mapping_catalog_add_column(t, "title", "text", false, true);
    mapping_catalog_add_unique(t, (const char *const[]){"id", NULL}, true);

    t = mapping_catalog_add_table(cat, "public", "sessions");
    mapping_catalog_add_column(t, "id", "int8", false, true);
    mapping_catalog_add_unique(t, (const char *const[]){"id", NULL}, true);

    t = mapping_catalog_add_table(cat, "public", "pairs");
    mapping_catalog_add_column(t, "a", "int4", false, true);
    mapping_catalog_add_column(t, "b", "text", false, true);
    mapping_catalog_add_column(t, "note", "text", false, false);
    mapping_catalog_add_unique(t, (const char *const[]){"a", "b", NULL}, true);

    t = mapping_catalog_add_table(cat, "public", "nokey");
    mapping_catalog_add_column(t, "x", "int4", false, false);
    mapping_catalog_add_column(t, "when", "timestamptz", false, true);
    mapping_catalog_add_unique(t, (const char *const[]){"when", NULL}, false);

    t = mapping_catalog_add_table(cat, "archive", "old_users");
    mapping_catalog_add_column(t, "id", "uuid", false, true);
    mapping_catalog_add_unique(t, (const char *const[]){"id", NULL}, true);

    /* hostile names */
    t = mapping_catalog_add_table(cat, "public", "we\"ird tab`le");
    mapping_catalog_add_column(t, "k\"ey", "int8", false, true);
    mapping_catalog_add_column(t, "pr`op", "text", false, false);
    mapping_catalog_add_column(t, "名前", "text", false, false);
    mapping_catalog_add_unique(t, (const char *const[]){"k\"ey", NULL}, true);
}

static Mapping *load(const char *yaml)
{
    Mapping *m = NULL;
    P2nErr err;
    int rc = mapping_load_string(yaml, strlen(yaml), "g.yaml", no_env, NULL, &m, NULL, &err);
    if (rc != 0)
        fprintf(stderr, "load: %s\n", err.msg);
    assert_int_equal(rc, 0);
    return m;
}

static Mapping *resolved(const char *yaml, MappingCatalog *cat)
{
    Mapping *m = load(yaml);
    civic_catalog(cat);
    MappingDiags d = {0};
    P2nErr err;
    int rc = mapping_resolve(m, cat, &d, &err);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "diag: %s\n", d.msgs[i]);
    assert_int_equal(rc, 0);
    mapping_diags_free(&d);
    return m;
}

/* Resolving must fail with a diagnostic containing want. */
static void bad(const char *yaml, const char *want)
{
    Mapping *m = load(yaml);
    MappingCatalog cat;
    civic_catalog(&cat);
    MappingDiags d = {0};
    P2nErr err;
    p2n_err_clear(&err);
    assert_int_equal(mapping_resolve(m, &cat, &d, &err), P2N_ECONFIG);
    bool found = false;
    for (size_t i = 0; i < d.n; i++)
        found = found || strstr(d.msgs[i], want) != NULL;
    if (!found) {
        fprintf(stderr, "wanted: %s\n", want);
        for (size_t i = 0; i < d.n; i++)
            fprintf(stderr, "  got: %s\n", d.msgs[i]);
    }
    mapping_diags_free(&d);
    mapping_catalog_free(&cat);
    mapping_free(m);
    assert_true(found);
}

#define USERS "entities:\n  User:\n    table: users\n"

static void test_wrong_tables(void **state)
{
    (void)state;
    bad("entities:\n  User:\n    table: user\n", "g.yaml:3: entity \"User\": table \"public.user\" does not exist (did you mean \"users\"?)");
    bad("entities:\n  User:\n    table: old_users\n",
        "table \"public.old_users\" does not exist (there is one in schema \"archive\": set \"schema: archive\")");
    bad("entities:\n  User:\n    table: qqqqqqqqqq\n", "table \"public.qqqqqqqqqq\" does not exist");
    bad("entities:\n  User:\n    table: users\n    schema: nope\n", "table \"nope.users\" does not exist");
    bad("entities:\n  User:\n    table: nokey\n", "g.yaml:3: entity \"User\": table \"public.nokey\" has no primary key; give the key columns");
}

static void test_wrong_columns(void **state)
{
    (void)state;
    bad(USERS "    exclude: [emial]\n", "g.yaml:4: entity \"User\": excluded column \"emial\" does not exist in table \"public.users\" (did you mean \"email\"?)");
    bad(USERS "    properties: [display_nme]\n", "property column \"display_nme\" does not exist in table \"public.users\" (did you mean \"display_name\"?)");
    bad(USERS "    rename: {reputaton: rep}\n", "g.yaml:4: entity \"User\": renamed column \"reputaton\" does not exist");
    bad(USERS "    convert: {scor: float}\n", "converted column \"scor\" does not exist in table \"public.users\" (did you mean \"score\"?)");
    bad(USERS "    convert: {score: float}\n    relationships:\n      - {type: I, column: invited, to: User}\n",
        "g.yaml:6: entity \"User\": relationship column \"invited\" does not exist in table \"public.users\" (did you mean \"invited_by\"?)");
    bad(USERS "    convert: {score: float}\nrelationships:\n  V:\n    table: votes\n    type: VOTED\n"
              "    from: {entity: User, column: userid}\n    to: {entity: User, column: bill_id}\n",
        "g.yaml:9: relationship \"V\": from column \"userid\" does not exist in table \"public.votes\" (did you mean \"user_id\"?)");
    bad(USERS "    exclude: [email, score]\n    rename: {score: s}\n",
        "g.yaml:5: entity \"User\": column \"score\" is renamed but is not a property");
    bad(USERS "    properties: [display_name]\n    convert: {score: float}\n",
        "column \"score\" is converted but is not a property");
    bad(USERS "    convert: {score: float}\n    rename: {display_name: email}\n",
        "two columns (\"display_name\", \"email\") become property \"email\"");
}

static void test_wrong_types(void **state)
{
    (void)state;
    bad(USERS, "g.yaml:3: entity \"User\": column \"score\" is numeric: choose its conversion explicitly");
    bad(USERS "    convert: {score: float, display_name: int}\n", "g.yaml:4: entity \"User\": column \"display_name\" has type text, which cannot convert to int");
    bad(USERS "    convert: {score: float, profile: date}\n", "column \"profile\" has type jsonb, which cannot convert to date");
    bad(USERS "    convert: {score: float, display_name: map}\n", "column \"display_name\" has type text, which cannot convert to map");
    bad(USERS "    convert: {score: float, reputation: bool}\n", "column \"reputation\" has type int4, which cannot convert to bool");
    bad(USERS "    convert: {score: float, deleted_at: localdatetime}\n", "which cannot convert to localdatetime");
    bad(USERS "    convert: {score: float, avatar: string, display_name: bytes}\n", "cannot convert to bytes");
    /* a reference column must have the target key's type */
    bad(USERS "    convert: {score: float}\n    relationships:\n      - {type: R, column: reputation, to: User}\n",
        "g.yaml:6: entity \"User\": relationship column \"reputation\" has type int4 but the key \"id\" of entity \"User\" has type uuid");
    bad("entities:\n  S:\n    table: sittings\n  B:\n    table: bills\n    convert: {budget: float}\n"
        "    relationships:\n      - {type: R, column: co_sponsors, to: S}\n",
        "relationship column \"co_sponsors\" has type uuid[] but the key \"id\" of entity \"S\" has type int8");
    bad("entities:\n  P:\n    table: pairs\n  S:\n    table: sittings\n    relationships:\n      - {type: R, column: session_id, to: P}\n",
        "target entity \"P\" has a composite key; relationships need a single-column key");
    bad(USERS "    convert: {score: float}\n    relationships:\n      - {type: R, column: profile, value: {label: P}}\n",
        "value nodes need scalar values; column \"profile\" has type jsonb");
    bad("entities:\n  U:\n    table: users\n    convert: {score: float}\n"
        "relationships:\n  V:\n    table: bills\n    type: T\n    from: {entity: U, column: co_sponsors}\n    to: {entity: U, column: sponsor_id}\n"
        "    key: id\n    convert: {budget: string}\n",
        "from column \"co_sponsors\" is an array; a join table has one key per row");
    /* int columns may refer to bigint keys */
    MappingCatalog cat;
    Mapping *m = resolved("entities:\n  Se:\n    table: sessions\n  Si:\n    table: sittings\n    labels: [Si]\n"
                          "    relationships:\n      - {type: R, column: session_id, to: Se}\n", &cat);
    mapping_free(m);
    mapping_catalog_free(&cat);
}

static void test_wrong_keys(void **state)
{
    (void)state;
    bad(USERS "    key: idd\n    convert: {score: float}\n", "g.yaml:4: entity \"User\": key column \"idd\" does not exist in table \"public.users\" (did you mean \"id\"?)");
    bad(USERS "    key: display_name\n    convert: {score: float}\n",
        "g.yaml:4: entity \"User\": the key is not unique in table \"public.users\" (no primary key or unique index on exactly these columns); its primary key is (id)");
    bad(USERS "    key: [id, email]\n    convert: {score: float}\n", "the key is not unique");
    bad(USERS "    key: profile\n    convert: {score: float}\n", "key column \"profile\" has type jsonb; a key must be an integer, "
        "numeric, text, uuid, enum, boolean, date, timestamp or timestamptz column");
    bad("entities:\n  N:\n    table: nokey\n    key: x\n", "the key is not unique in table \"public.nokey\" (no primary key or unique index on exactly these columns)");
    bad(USERS "    exclude: [id]\n    convert: {score: float}\n", "key column \"id\" cannot be excluded");
    /* a unique, NOT NULL column other than the primary key is a valid key */
    MappingCatalog cat;
    Mapping *m = resolved(USERS "    key: email\n    convert: {score: float}\n", &cat);
    assert_string_equal(m->entities[0].cols[m->entities[0].key_cols[0]].column, "email");
    mapping_free(m);
    mapping_catalog_free(&cat);
}

static void test_nullable_key(void **state)
{
    (void)state;
    MappingCatalog cat;
    civic_catalog(&cat);
    MappingCatTable *t = mapping_catalog_add_table(&cat, "public", "nullk");
    mapping_catalog_add_column(t, "k", "text", false, false);
    mapping_catalog_add_unique(t, (const char *const[]){"k", NULL}, false);
    Mapping *m = load("entities:\n  N:\n    table: nullk\n    key: k\n");
    MappingDiags d = {0};
    P2nErr err;
    assert_int_equal(mapping_resolve(m, &cat, &d, &err), P2N_ECONFIG);
    assert_non_null(strstr(err.msg, "g.yaml:4: entity \"N\": key column \"k\" may be NULL; declare it NOT NULL"));
    mapping_diags_free(&d);
    mapping_free(m);
    mapping_catalog_free(&cat);
}

static const char *CIVIC_YAML =
    "entities:\n"
    "  User:\n    table: users\n    exclude: [email, avatar]\n    rename: {display_name: name}\n"
    "    convert: {profile: map, score: string}\n    delete_when: deleted_at IS NOT NULL\n"
    "    relationships:\n      - {type: INVITED_BY, column: invited_by, to: User}\n"
    "  Sponsor:\n    table: sponsors\n    labels: [Sponsor, Person]\n"
    "  Bill:\n    table: bills\n    convert: {budget: float}\n"
    "    relationships:\n"
    "      - {type: SPONSORED_BY, column: sponsor_id, to: Sponsor}\n"
    "      - {type: CO_SPONSORED_BY, column: co_sponsors, to: Sponsor}\n"
    "      - {type: TAGGED, column: tags, value: {label: Tag, property: name}}\n"
    "      - {type: FAVOURITE, column: sponsor_id, to: Sponsor, direction: in}\n"
    "  Pair:\n    table: pairs\n"
    "relationships:\n"
    "  Vote:\n    table: votes\n    type: VOTED\n    from: {entity: User, column: user_id}\n"
    "    to: {entity: Bill, column: bill_id}\n    rename: {voted_at: at}\n"
    "  Sponsorship:\n    table: sponsorships\n    type: SPONSORSHIP\n    key: id\n    from: {entity: Bill, column: bill_id}\n"
    "    to: {entity: Sponsor, column: sponsor_id}\n    properties: [title]\n";

static void test_generated_node(void **state)
{
    (void)state;
    MappingCatalog cat;
    Mapping *m = resolved(CIVIC_YAML, &cat);
    MappingEntity *u = mapping_entity_find(m, "User");
    assert_true(u->resolved);
    assert_string_equal(u->plan.read_sql,
                        "SELECT t.\"id\"::text AS \"_p2n_id\", COALESCE((deleted_at IS NOT NULL), false) AS \"_p2n_deleted\", "
                        "t.\"id\"::text, t.\"display_name\"::text, t.\"reputation\", t.\"profile\"::text, "
                        "CASE WHEN isfinite(t.\"deleted_at\") THEN (extract(epoch FROM t.\"deleted_at\" - TIMESTAMPTZ '2000-01-01 00:00:00+00') + 946684800)::text ELSE t.\"deleted_at\"::text END, "
                        "t.\"score\"::text, CASE WHEN EXISTS (SELECT 1 FROM \"public\".\"users\" AS _p2n_x WHERE "
                        "_p2n_x.\"id\" = t.\"invited_by\" AND NOT COALESCE((deleted_at IS NOT NULL), false)) "
                        "THEN t.\"invited_by\"::text END, "
                        /* the held reference: a target row that exists but is soft-deleted */
                        "CASE WHEN t.\"invited_by\" IS NOT NULL AND NOT EXISTS (SELECT 1 FROM \"public\".\"users\" AS _p2n_x WHERE "
                        "_p2n_x.\"id\" = t.\"invited_by\" AND NOT COALESCE((deleted_at IS NOT NULL), false)) "
                        "THEN t.\"invited_by\"::text END AS \"_p2n_h0\" "
                        "FROM \"public\".\"users\" AS t WHERE t.\"id\" = ANY($1::text[]::uuid[])");
    assert_int_equal(u->plan.nupsert, 2);
    assert_string_equal(u->plan.upsert[0], "CYPHER replan=skip\nUNWIND $rows AS r\n"
                                           "MERGE (n:`User` {`id`: r.k})\n"
                                           "WITH n, r, coalesce(n._p2n_version, -1) AS gv\n"
                                           "FOREACH (_ IN CASE WHEN gv <= r.v THEN [1] ELSE [] END | SET n = r.p, n._p2n_version = r.v)\n"
                                           "WITH gv, r WHERE gv > r.v\n"
                                           "RETURN gv");
    assert_string_equal(u->plan.upsert[1], "CYPHER replan=skip\nUNWIND $rows AS r\n"
                                           "MATCH (n:`User` {`id`: r.k})\n"
                                           "WHERE n._p2n_version = r.v\n"
                                           "OPTIONAL MATCH (n)-[old:`INVITED_BY`]->(x)\n"
                                           "WHERE 'User' IN labels(x) AND NOT x.`id` IN r.r0 AND NOT x.`id` IN r.h0\n"
                                           "DELETE old\n"
                                           "WITH DISTINCT n, r\n"
                                           "CALL { WITH n, r UNWIND r.h0 AS hk MATCH (x:`User` {`id`: hk}) MERGE (n)-[:`INVITED_BY`]->(x) }\n"
                                           "UNWIND r.r0 AS tk\n"
                                           "MERGE (x:`User` {`id`: tk})\n"
                                           "MERGE (n)-[:`INVITED_BY`]->(x)");
    assert_string_equal(u->plan.delete_cypher, "CYPHER replan=skip\nUNWIND $rows AS r\n"
                                                "MATCH (n:`User` {`id`: r.k})\n"
                                                "WITH n, r, coalesce(n._p2n_version, -1) AS gv\n"
                                                "FOREACH (_ IN CASE WHEN gv <= r.v THEN [1] ELSE [] END | DETACH DELETE n)\n"
                                                "WITH gv, r WHERE gv > r.v\n"
                                                "RETURN gv");
    assert_int_equal(u->plan.nschema, 1);
    assert_string_equal(u->plan.schema[0],
                        "CREATE CONSTRAINT `p2n_User_id` IF NOT EXISTS FOR (n:`User`) REQUIRE (n.`id`) IS UNIQUE");
    /* extra labels are added on every write */
    MappingEntity *s = mapping_entity_find(m, "Sponsor");
    assert_non_null(strstr(s->plan.upsert[0], "SET n = r.p, n._p2n_version = r.v, n:`Person`"));
    assert_int_equal(s->plan.nupsert, 1);
    mapping_free(m);
    mapping_catalog_free(&cat);
}

static void test_generated_rels(void **state)
{
    (void)state;
    MappingCatalog cat;
    Mapping *m = resolved(CIVIC_YAML, &cat);
    MappingEntity *b = mapping_entity_find(m, "Bill");
    assert_int_equal(b->plan.nupsert, 5);
    /* FK and array of keys: the same statement shape, targets as a list */
    assert_non_null(strstr(b->plan.upsert[1], "OPTIONAL MATCH (n)-[old:`SPONSORED_BY`]->(x)\nWHERE 'Sponsor' IN labels(x) AND NOT x.`id` IN r.r0 AND NOT x.`id` IN r.h0\n"));
    assert_non_null(strstr(b->plan.upsert[2], "UNWIND r.r1 AS tk\nMERGE (x:`Sponsor` {`id`: tk})\nMERGE (n)-[:`CO_SPONSORED_BY`]->(x)"));
    /* held keys (rows absent or soft-deleted): drawn only to a node still present */
    assert_non_null(strstr(b->plan.upsert[2], "CALL { WITH n, r UNWIND r.h1 AS hk MATCH (x:`Sponsor` {`id`: hk}) "
                                              "MERGE (n)-[:`CO_SPONSORED_BY`]->(x) }\n"));
    /* array of scalars: value nodes, nothing held */
    assert_null(strstr(b->plan.upsert[3], "r.h2"));
    assert_non_null(strstr(b->plan.upsert[3], "MERGE (x:`Tag` {`name`: tk})\nMERGE (n)-[:`TAGGED`]->(x)"));
    assert_non_null(strstr(b->plan.upsert[3], "OPTIONAL MATCH (n)-[old:`TAGGED`]->(x)\nWHERE 'Tag' IN labels(x) AND NOT x.`name` IN r.r2"));
    /* direction in */
    assert_non_null(strstr(b->plan.upsert[4], "OPTIONAL MATCH (n)<-[old:`FAVOURITE`]-(x)\nWHERE 'Sponsor' IN labels(x)"));
    assert_non_null(strstr(b->plan.upsert[4], "MERGE (n)<-[:`FAVOURITE`]-(x)"));
    /* relationship columns are read (cast for the encoder) but are not properties */
    /* an array of keys keeps only elements whose row exists; a scalar FK to an entity without
     * delete_when is read as is */
    assert_non_null(strstr(b->plan.read_sql, "t.\"sponsor_id\"::text, to_jsonb(ARRAY(SELECT _p2n_e::text FROM "
                                             "unnest(t.\"co_sponsors\") AS _p2n_e WHERE EXISTS (SELECT 1 FROM "
                                             "\"public\".\"sponsors\" AS _p2n_x WHERE _p2n_x.\"id\" = _p2n_e)))::text, "
                                             "to_jsonb(t.\"tags\"::text[])::text, t.\"sponsor_id\"::text, "
                                             "NULL AS \"_p2n_h0\", to_jsonb(ARRAY(SELECT _p2n_e::text FROM unnest(t.\"co_sponsors\") AS _p2n_e "
                                             "WHERE _p2n_e IS NOT NULL AND NOT EXISTS (SELECT 1 FROM \"public\".\"sponsors\" AS _p2n_x "
                                             "WHERE _p2n_x.\"id\" = _p2n_e)))::text AS \"_p2n_h1\", NULL AS \"_p2n_h2\", "
                                             "NULL AS \"_p2n_h3\" FROM"));
    for (size_t i = 0; i < b->ncols; i++)
        if (strcmp(b->cols[i].column, "tags") == 0 || strcmp(b->cols[i].column, "co_sponsors") == 0)
            assert_null(b->cols[i].property);
    /* arrays that are properties: JSON with typed elements */
    assert_non_null(strstr(b->plan.read_sql, "to_jsonb(t.\"scores\"::text[])::text, to_jsonb(t.\"flags\")::text, to_jsonb(t.\"counts\")::text"));
    assert_non_null(strstr(b->plan.read_sql, "CASE WHEN isfinite(t.\"introduced_on\") THEN (t.\"introduced_on\" - DATE '1970-01-01')::text ELSE t.\"introduced_on\"::text END"));
    assert_non_null(strstr(b->plan.read_sql, "t.\"budget\", "));
    /* value-node constraint */
    assert_int_equal(b->plan.nschema, 2);
    assert_string_equal(b->plan.schema[1], "CREATE CONSTRAINT `p2n_Tag_name` IF NOT EXISTS FOR (n:`Tag`) REQUIRE (n.`name`) IS UNIQUE");
    mapping_free(m);
    mapping_catalog_free(&cat);
}

static void test_generated_link_and_composite(void **state)
{
    (void)state;
    MappingCatalog cat;
    Mapping *m = resolved(CIVIC_YAML, &cat);
    MappingEntity *v = mapping_entity_find(m, "Vote");
    assert_string_equal(v->plan.read_sql,
                        "SELECT _p2n_ids._p2n_id AS \"_p2n_id\", "
                        "false OR t.\"user_id\" IS NULL OR NOT EXISTS (SELECT 1 FROM \"public\".\"users\" AS _p2n_x "
                        "WHERE _p2n_x.\"id\" = t.\"user_id\" AND NOT COALESCE((deleted_at IS NOT NULL), false)) "
                        "OR t.\"bill_id\" IS NULL AS \"_p2n_deleted\", "
                        "t.\"user_id\", t.\"bill_id\", t.\"vote\"::text, "
                        "CASE WHEN isfinite(t.\"voted_at\") THEN (extract(epoch FROM t.\"voted_at\" - TIMESTAMPTZ '2000-01-01 00:00:00+00') + 946684800)::text ELSE t.\"voted_at\"::text END, "
                        "t.\"user_id\"::text, t.\"bill_id\"::text, "
                        "t.\"user_id\" IS NOT NULL AND t.\"bill_id\" IS NOT NULL AS \"_p2n_hold\" "
                        "FROM unnest($1::text[]) AS _p2n_ids(_p2n_id) JOIN \"public\".\"votes\" AS t ON "
                        "t.\"user_id\" = (_p2n_ids._p2n_id::jsonb->>0)::uuid AND t.\"bill_id\" = (_p2n_ids._p2n_id::jsonb->>1)::uuid");
    assert_int_equal(v->plan.nupsert, 2);
    /* the key holds both ends: an id names its ends, so MERGE ends, then the relationship */
    assert_string_equal(v->plan.upsert[0],
                        "CYPHER replan=skip\nUNWIND $rows AS r\n"
                        "WITH r WHERE NOT r.h\n"
                        "MERGE (a:`User` {`id`: r.f})\n"
                        "MERGE (b:`Bill` {`id`: r.t})\n"
                        "MERGE (a)-[e:`VOTED` {_p2n_id: r.id}]->(b)\n"
                        "WITH e, r, coalesce(e._p2n_version, -1) AS gv\n"
                        "FOREACH (_ IN CASE WHEN gv <= r.v THEN [1] ELSE [] END | SET e = r.p, e._p2n_id = r.id, e._p2n_version = r.v)\n"
                        "WITH gv, r WHERE gv > r.v\n"
                        "RETURN gv");
    /* rows held because an end's row is not live: MATCH the ends, never a placeholder */
    assert_string_equal(v->plan.upsert[1],
                        "CYPHER replan=skip\nUNWIND $rows AS r\n"
                        "WITH r WHERE r.h\n"
                        "MATCH (a:`User` {`id`: r.f})\n"
                        "MATCH (b:`Bill` {`id`: r.t})\n"
                        "MERGE (a)-[e:`VOTED` {_p2n_id: r.id}]->(b)\n"
                        "WITH e, r, coalesce(e._p2n_version, -1) AS gv\n"
                        "FOREACH (_ IN CASE WHEN gv <= r.v THEN [1] ELSE [] END | SET e = r.p, e._p2n_id = r.id, e._p2n_version = r.v)\n"
                        "WITH gv, r WHERE gv > r.v\n"
                        "RETURN gv");
    /* a key without both ends (a surrogate id): the relationship of that id may sit between other
       nodes (an end moved) and is removed first */
    MappingEntity *sp = mapping_entity_find(m, "Sponsorship");
    assert_int_equal(sp->plan.nupsert, 2);
    assert_string_equal(sp->plan.upsert[0],
                        "CYPHER replan=skip\n"
                        "UNWIND $rows AS r\n"
                        "WITH r WHERE NOT r.h\n"
                        "OPTIONAL MATCH (a)-[cur:`SPONSORSHIP` {_p2n_id: r.id}]->(b) USING INDEX cur:`SPONSORSHIP`(_p2n_id)\n"
                        "WHERE 'Bill' IN labels(a) AND 'Sponsor' IN labels(b)\n"
                        "WITH r, collect(cur) AS cur\n"
                        "WITH r, cur, reduce(m = -1, c IN cur | CASE WHEN coalesce(c._p2n_version, -1) > m THEN coalesce(c._p2n_version, -1) ELSE m END) AS gv\n"
                        "CALL {\n"
                        "WITH r, cur, gv\n"
                        "WITH r, cur WHERE gv <= r.v\n"
                        "MERGE (a:`Bill` {`id`: r.f})\n"
                        "MERGE (b:`Sponsor` {`id`: r.t})\n"
                        "FOREACH (c IN [c IN cur WHERE startNode(c) <> a OR endNode(c) <> b] | DELETE c)\n"
                        "MERGE (a)-[e:`SPONSORSHIP` {_p2n_id: r.id}]->(b)\n"
                        "SET e = r.p, e._p2n_id = r.id, e._p2n_version = r.v\n"
                        "}\n"
                        "WITH gv, r WHERE gv > r.v\n"
                        "RETURN gv");
    assert_string_equal(sp->plan.upsert[1],
                        "CYPHER replan=skip\n"
                        "UNWIND $rows AS r\n"
                        "WITH r WHERE r.h\n"
                        "OPTIONAL MATCH (a)-[cur:`SPONSORSHIP` {_p2n_id: r.id}]->(b) USING INDEX cur:`SPONSORSHIP`(_p2n_id)\n"
                        "WHERE 'Bill' IN labels(a) AND 'Sponsor' IN labels(b)\n"
                        "WITH r, collect(cur) AS cur\n"
                        "WITH r, cur, reduce(m = -1, c IN cur | CASE WHEN coalesce(c._p2n_version, -1) > m THEN coalesce(c._p2n_version, -1) ELSE m END) AS gv\n"
                        "CALL {\n"
                        "WITH r, cur, gv\n"
                        "WITH r, cur WHERE gv <= r.v\n"
                        "OPTIONAL MATCH (a:`Bill` {`id`: r.f})\n"
                        "OPTIONAL MATCH (b:`Sponsor` {`id`: r.t})\n"
                        "FOREACH (c IN [c IN cur WHERE a IS NULL OR b IS NULL OR startNode(c) <> a OR endNode(c) <> b] | DELETE c)\n"
                        "WITH r, a, b WHERE a IS NOT NULL AND b IS NOT NULL\n"
                        "MERGE (a)-[e:`SPONSORSHIP` {_p2n_id: r.id}]->(b)\n"
                        "SET e = r.p, e._p2n_id = r.id, e._p2n_version = r.v\n"
                        "}\n"
                        "WITH gv, r WHERE gv > r.v\n"
                        "RETURN gv");
    assert_string_equal(v->plan.delete_cypher, "CYPHER replan=skip\nUNWIND $rows AS r\n"
                        "MATCH (a)-[e:`VOTED` {_p2n_id: r.id}]->(b) USING INDEX e:`VOTED`(_p2n_id)\n"
                        "WHERE 'User' IN labels(a) AND 'Bill' IN labels(b)\n"
                        "WITH e, r, coalesce(e._p2n_version, -1) AS gv\n"
                        "FOREACH (_ IN CASE WHEN gv <= r.v THEN [1] ELSE [] END | DELETE e)\n"
                        "WITH gv, r WHERE gv > r.v\n"
                        "RETURN gv");
    assert_string_equal(v->plan.schema[0], "CREATE INDEX `p2n_VOTED__p2n_id` IF NOT EXISTS FOR ()-[e:`VOTED`]-() ON (e._p2n_id)");
    /* composite node key */
    MappingEntity *p = mapping_entity_find(m, "Pair");
    assert_non_null(strstr(p->plan.upsert[0], "MERGE (n:`Pair` {`a`: r.k[0], `b`: r.k[1]})"));
    assert_non_null(strstr(p->plan.read_sql, "t.\"a\" = (_p2n_ids._p2n_id::jsonb->>0)::int4 AND t.\"b\" = (_p2n_ids._p2n_id::jsonb->>1)::text"));
    assert_string_equal(p->plan.schema[0], "CREATE CONSTRAINT `p2n_Pair_a_b` IF NOT EXISTS FOR (n:`Pair`) REQUIRE (n.`a`, n.`b`) IS UNIQUE");
    P2nBuf b;
    p2n_buf_init(&b);
    mapping_sql_id_expr(p, "NEW", &b);
    p2n_buf_append(&b, "", 1);
    assert_string_equal((const char *)b.data, "array_to_json(ARRAY[NEW.\"a\"::text, NEW.\"b\"::text])::text");
    p2n_buf_reset(&b);
    mapping_sql_id_expr(mapping_entity_find(m, "User"), "OLD", &b);
    p2n_buf_append(&b, "", 1);
    assert_string_equal((const char *)b.data, "OLD.\"id\"::text");
    p2n_buf_free(&b);
    mapping_free(m);
    mapping_catalog_free(&cat);
}

static void test_hostile_names(void **state)
{
    (void)state;
    MappingCatalog cat;
    Mapping *m = resolved("entities:\n"
                          "  W:\n    table: \"we\\\"ird tab`le\"\n    labels: [\"La`bel\", \"ラベル\"]\n"
                          "    rename: {\"名前\": \"na`me\"}\n"
                          "    relationships:\n      - {type: \"RE`L\", column: \"pr`op\", value: {label: \"V`al\", property: \"p`\"}}\n",
                          &cat);
    MappingEntity *w = &m->entities[0];
    assert_string_equal(w->plan.read_sql,
                        "SELECT t.\"k\"\"ey\"::text AS \"_p2n_id\", false AS \"_p2n_deleted\", t.\"k\"\"ey\", t.\"名前\"::text, "
                        "t.\"pr`op\"::text, NULL AS \"_p2n_h0\" FROM \"public\".\"we\"\"ird tab`le\" AS t WHERE t.\"k\"\"ey\" = ANY($1::text[]::int8[])");
    assert_string_equal(w->plan.upsert[0], "CYPHER replan=skip\nUNWIND $rows AS r\nMERGE (n:`La``bel` {`k\"ey`: r.k})\n"
                                           "WITH n, r, coalesce(n._p2n_version, -1) AS gv\n"
                                           "FOREACH (_ IN CASE WHEN gv <= r.v THEN [1] ELSE [] END | SET n = r.p, n._p2n_version = r.v, n:`ラベル`)\n"
                                           "WITH gv, r WHERE gv > r.v\n"
                                           "RETURN gv");
    assert_non_null(strstr(w->plan.upsert[1], "OPTIONAL MATCH (n)-[old:`RE``L`]->(x)\nWHERE 'V`al' IN labels(x) AND NOT x.`p``` IN r.r0"));
    assert_string_equal(w->plan.schema[0], "CREATE CONSTRAINT `p2n_La``bel_k\"ey` IF NOT EXISTS FOR (n:`La``bel`) REQUIRE (n.`k\"ey`) IS UNIQUE");
    /* every backtick inside an identifier is doubled: an odd run would end the identifier
       (backticks inside string literals do not count) */
    for (size_t i = 0; i < w->plan.nupsert; i++) {
        const char *s = w->plan.upsert[i];
        size_t ticks = 0;
        bool in_str = false;
        for (const char *p = s; *p; p++) {
            if (in_str && *p == '\\' && p[1]) {
                p++;
                continue;
            }
            if (*p == '\'')
                in_str = !in_str;
            else if (!in_str)
                ticks += *p == '`';
        }
        assert_false(in_str);
        assert_int_equal(ticks % 2, 0);
    }
    P2nBuf b;
    p2n_buf_init(&b);
    /* a label as a Cypher string literal: quotes, backslashes and newlines escaped */
    mapping_cypher_string(&b, "it's a \\ back\nslash");
    p2n_buf_append(&b, "", 1);
    assert_string_equal((const char *)b.data, "'it\\'s a \\\\ back\\nslash'");
    p2n_buf_reset(&b);
    const char *ids[] = {"plain", "with \"quote\"", "back\\slash", "{brace},comma"};
    mapping_ids_param(ids, 4, &b);
    p2n_buf_append(&b, "", 1);
    assert_string_equal((const char *)b.data, "{\"plain\",\"with \\\"quote\\\"\",\"back\\\\slash\",\"{brace},comma\"}");
    p2n_buf_free(&b);
    mapping_free(m);
    mapping_catalog_free(&cat);
}

/* ---- encoder ---- */
typedef struct Decoded {
    PsArena arena;
    PsValue v;
} Decoded;

static void decode(Decoded *d, const P2nBuf *b)
{
    ps_arena_init(&d->arena, 0);
    size_t used = 0;
    P2nErr err;
    assert_int_equal(ps_decode(&d->arena, b->data, b->len, NULL, &d->v, &used, &err), 0);
    assert_int_equal(used, b->len);
    assert_int_equal(d->v.type, PS_MAP);
}

static const PsValue *get(const PsValue *map, const char *key)
{
    const PsValue *v = ps_map_get(map, key);
    if (v == NULL)
        fprintf(stderr, "missing key %s\n", key);
    assert_non_null(v);
    return v;
}

static size_t col_of(const MappingEntity *e, const char *column, bool property)
{
    for (size_t i = 0; i < e->ncols; i++)
        if (strcmp(e->cols[i].column, column) == 0 && (e->cols[i].property != NULL) == property)
            return i;
    fail_msg("no column %s", column);
    return 0;
}

static void test_encode_node(void **state)
{
    (void)state;
    MappingCatalog cat;
    Mapping *m = resolved(CIVIC_YAML, &cat);
    MappingEntity *u = mapping_entity_find(m, "User");
    const char *vals[32] = {0};
    size_t n = u->ncols + 2;
    vals[0] = "0b6e5d9c-0000-4000-8000-000000000001";
    vals[1] = "f";
    vals[2 + col_of(u, "id", true)] = vals[0];
    vals[2 + col_of(u, "display_name", true)] = "Ada";
    vals[2 + col_of(u, "reputation", true)] = "-42";
    vals[2 + col_of(u, "profile", true)] = "{\"theme\": \"dark\", \"n\": 3, \"x\": null, \"deep\": {\"a\": [1, 2.5]}, \"tags\": [\"a\", 1]}";
    vals[2 + col_of(u, "deleted_at", true)] = "-1.25"; /* 1969-12-31T23:59:58.75Z */
    vals[2 + col_of(u, "score", true)] = NULL;
    vals[2 + col_of(u, "invited_by", false)] = "0b6e5d9c-0000-4000-8000-000000000002";
    P2nBuf b;
    p2n_buf_init(&b);
    P2nErr err;
    assert_int_equal(mapping_row_encode_values(u, vals, n, 77, &b, &err), 0);
    Decoded d;
    decode(&d, &b);
    assert_int_equal(d.v.u.map.len, 5); /* k, v, p, r0, h0 */
    assert_string_equal(get(&d.v, "k")->u.str.data, vals[0]);
    assert_int_equal(get(&d.v, "v")->u.i, 77);
    const PsValue *p = get(&d.v, "p");
    assert_int_equal(p->type, PS_MAP);
    assert_string_equal(get(p, "name")->u.str.data, "Ada");
    assert_int_equal(get(p, "reputation")->u.i, -42);
    assert_string_equal(get(p, "profile.theme")->u.str.data, "dark");
    assert_int_equal(get(p, "profile.n")->u.i, 3);
    assert_null(ps_map_get(p, "profile.x"));   /* JSON null: no property */
    assert_null(ps_map_get(p, "score"));       /* SQL NULL: absent, so SET n = r.p removes it */
    const PsValue *deep = get(p, "profile.deep.a");
    assert_int_equal(deep->type, PS_LIST);
    assert_true(deep->u.list.items[1].u.f == 2.5);
    assert_true(deep->u.list.items[0].type == PS_FLOAT); /* ints and floats mix as floats */
    assert_string_equal(get(p, "profile.tags")->u.str.data, "[\"a\",1]"); /* mixed list: JSON text */
    const PsValue *dt = get(p, "deleted_at");
    assert_int_equal(dt->type, PS_STRUCT);
    assert_int_equal(dt->u.st.tag, PS_TAG_DATETIME);
    assert_int_equal(dt->u.st.fields[0].u.i, -2);
    assert_int_equal(dt->u.st.fields[1].u.i, 750000000);
    assert_int_equal(dt->u.st.fields[2].u.i, 0);
    const PsValue *r0 = get(&d.v, "r0");
    assert_int_equal(r0->type, PS_LIST);
    assert_int_equal(r0->u.list.len, 1);
    assert_string_equal(r0->u.list.items[0].u.str.data, "0b6e5d9c-0000-4000-8000-000000000002");
    ps_arena_free(&d.arena);

    /* NULL FK: an empty list (its relationship is removed) */
    p2n_buf_reset(&b);
    vals[2 + col_of(u, "invited_by", false)] = NULL;
    assert_int_equal(mapping_row_encode_values(u, vals, n, 78, &b, &err), 0);
    decode(&d, &b);
    assert_int_equal(get(&d.v, "r0")->u.list.len, 0);
    assert_int_equal(get(&d.v, "h0")->u.list.len, 0); /* a row without held columns holds nothing */
    ps_arena_free(&d.arena);

    /* with the held column (read_sql's _p2n_h0): a soft-deleted target is held, not a target */
    p2n_buf_reset(&b);
    vals[n] = "0b6e5d9c-0000-4000-8000-000000000003";
    assert_int_equal(mapping_row_encode_values(u, vals, n + 1, 79, &b, &err), 0);
    decode(&d, &b);
    assert_int_equal(get(&d.v, "r0")->u.list.len, 0);
    const PsValue *h0 = get(&d.v, "h0");
    assert_int_equal(h0->u.list.len, 1);
    assert_string_equal(h0->u.list.items[0].u.str.data, "0b6e5d9c-0000-4000-8000-000000000003");
    ps_arena_free(&d.arena);
    vals[n] = NULL;
    /* a column count that is neither form is refused */
    assert_int_equal(mapping_row_encode_values(u, vals, n + 2, 79, &b, &err), P2N_EINVAL);

    /* bad values are errors naming entity, id and column; the buffer is left as it was */
    p2n_buf_reset(&b);
    p2n_buf_append_str(&b, "xyz");
    vals[2 + col_of(u, "reputation", true)] = "12a";
    assert_int_equal(mapping_row_encode_values(u, vals, n, 1, &b, &err), P2N_EINVAL);
    assert_non_null(strstr(err.msg, "entity \"User\" id 0b6e5d9c-0000-4000-8000-000000000001: column \"reputation\": not an integer"));
    assert_int_equal(b.len, 3);
    vals[2 + col_of(u, "reputation", true)] = "1";
    vals[2 + col_of(u, "profile", true)] = "{bad json";
    assert_int_equal(mapping_row_encode_values(u, vals, n, 1, &b, &err), P2N_EINVAL);
    assert_non_null(strstr(err.msg, "not JSON"));
    vals[2 + col_of(u, "profile", true)] = "\"just a string\"";
    vals[2 + col_of(u, "deleted_at", true)] = "yesterday";
    assert_int_equal(mapping_row_encode_values(u, vals, n, 1, &b, &err), P2N_EINVAL);
    assert_non_null(strstr(err.msg, "not an epoch timestamp"));
    vals[2 + col_of(u, "deleted_at", true)] = "0";
    assert_int_equal(mapping_row_encode_values(u, vals, n - 1, 1, &b, &err), P2N_EINVAL);
    assert_non_null(strstr(err.msg, "does not match entity \"User\""));
    p2n_buf_reset(&b);
    assert_int_equal(mapping_row_encode_values(u, vals, n, 1, &b, &err), 0);
    decode(&d, &b);
    assert_string_equal(get(get(&d.v, "p"), "profile")->u.str.data, "just a string"); /* a non-object JSON document */
    ps_arena_free(&d.arena);
    p2n_buf_free(&b);
    mapping_free(m);
    mapping_catalog_free(&cat);
}

static void test_encode_types(void **state)
{
    (void)state;
    MappingCatalog cat;
    Mapping *m = resolved(CIVIC_YAML, &cat);
    MappingEntity *e = mapping_entity_find(m, "Bill");
    const char *vals[40] = {0};
    size_t n = e->ncols + 2;
    vals[0] = "id-1";
    vals[1] = "f";
    vals[2 + col_of(e, "id", true)] = "id-1";
    vals[2 + col_of(e, "title", true)] = "A \"title\" ü";
    vals[2 + col_of(e, "budget", true)] = "1234.50";
    vals[2 + col_of(e, "introduced_on", true)] = "-3";
    vals[2 + col_of(e, "sat_at", true)] = "1700000000.000001";
    vals[2 + col_of(e, "scores", true)] = "[1.5, null, \"NaN\", 2]";
    vals[2 + col_of(e, "flags", true)] = "[true, false]";
    vals[2 + col_of(e, "counts", true)] = "[9007199254740993, -1]";
    vals[2 + col_of(e, "sponsor_id", false)] = "s-1";
    vals[2 + col_of(e, "co_sponsors", false)] = "[\"s-2\", null, \"s-3\"]";
    vals[2 + col_of(e, "tags", false)] = "[\"civic\", \"tax\"]";
    /* the second sponsor_id column (FAVOURITE) */
    for (size_t i = 0; i < e->ncols; i++)
        if (e->cols[i].property == NULL && vals[2 + i] == NULL)
            vals[2 + i] = "s-9";
    P2nBuf b;
    p2n_buf_init(&b);
    P2nErr err;
    assert_int_equal(mapping_row_encode_values(e, vals, n, 5, &b, &err), 0);
    Decoded d;
    decode(&d, &b);
    const PsValue *p = get(&d.v, "p");
    assert_string_equal(get(p, "title")->u.str.data, "A \"title\" ü");
    assert_true(get(p, "budget")->u.f == 1234.5);
    const PsValue *date = get(p, "introduced_on");
    assert_int_equal(date->u.st.tag, PS_TAG_DATE);
    assert_int_equal(date->u.st.fields[0].u.i, -3);
    const PsValue *ldt = get(p, "sat_at");
    assert_int_equal(ldt->u.st.tag, PS_TAG_LOCAL_DATETIME);
    assert_int_equal(ldt->u.st.fields[0].u.i, 1700000000);
    assert_int_equal(ldt->u.st.fields[1].u.i, 1000);
    const PsValue *sc = get(p, "scores");
    assert_int_equal(sc->u.list.len, 3); /* the null dropped */
    assert_true(sc->u.list.items[0].u.f == 1.5);
    assert_true(sc->u.list.items[1].u.f != sc->u.list.items[1].u.f); /* NaN */
    assert_true(sc->u.list.items[2].u.f == 2.0);
    assert_int_equal(get(p, "flags")->u.list.items[0].u.b, true);
    assert_int_equal(get(p, "counts")->u.list.items[0].u.i, 9007199254740993LL);
    assert_null(ps_map_get(p, "tags")); /* a relationship column */
    assert_int_equal(get(&d.v, "r0")->u.list.len, 1);
    const PsValue *r1 = get(&d.v, "r1");
    assert_int_equal(r1->u.list.len, 2);
    assert_string_equal(r1->u.list.items[1].u.str.data, "s-3");
    assert_string_equal(get(&d.v, "r2")->u.list.items[1].u.str.data, "tax");
    assert_string_equal(get(&d.v, "r3")->u.list.items[0].u.str.data, "s-9");
    ps_arena_free(&d.arena);
    /* array element of the wrong type */
    vals[2 + col_of(e, "flags", true)] = "[1]";
    assert_int_equal(mapping_row_encode_values(e, vals, n, 5, &b, &err), P2N_EINVAL);
    assert_non_null(strstr(err.msg, "column \"flags\": array element is not a boolean"));
    /* rows of a multi-dimensional text array become JSON text */
    vals[2 + col_of(e, "flags", true)] = "[true]";
    vals[2 + col_of(e, "tags", false)] = "[[\"a\", \"b\"], [\"c\", null]]";
    p2n_buf_reset(&b);
    assert_int_equal(mapping_row_encode_values(e, vals, n, 5, &b, &err), 0);
    decode(&d, &b);
    assert_string_equal(get(&d.v, "r2")->u.list.items[1].u.str.data, "[\"c\",null]");
    ps_arena_free(&d.arena);
    /* any multi-dimensional array: the list of its rows' JSON text */
    vals[2 + col_of(e, "counts", true)] = "[[1, 2], [3, null]]";
    p2n_buf_reset(&b);
    assert_int_equal(mapping_row_encode_values(e, vals, n, 5, &b, &err), 0);
    decode(&d, &b);
    const PsValue *rows = get(get(&d.v, "p"), "counts");
    assert_int_equal(rows->u.list.len, 2);
    assert_string_equal(rows->u.list.items[0].u.str.data, "[1,2]");
    assert_string_equal(rows->u.list.items[1].u.str.data, "[3,null]");
    ps_arena_free(&d.arena);
    vals[2 + col_of(e, "counts", true)] = "[1.5]";
    assert_int_equal(mapping_row_encode_values(e, vals, n, 5, &b, &err), P2N_EINVAL);
    assert_non_null(strstr(err.msg, "column \"counts\": array element is not an integer"));
    vals[2 + col_of(e, "flags", true)] = "{}";
    assert_int_equal(mapping_row_encode_values(e, vals, n, 5, &b, &err), P2N_EINVAL);
    assert_non_null(strstr(err.msg, "not a JSON array"));
    p2n_buf_free(&b);
    mapping_free(m);
    mapping_catalog_free(&cat);
}

static void test_encode_bytes_bool(void **state)
{
    (void)state;
    MappingCatalog cat;
    Mapping *m = resolved("entities:\n  U:\n    table: users\n    properties: [avatar, deleted_at]\n", &cat);
    MappingEntity *u = &m->entities[0];
    const char *vals[8] = {"k", "f", "k", "00ff10", "1700000000"};
    P2nBuf b;
    p2n_buf_init(&b);
    P2nErr err;
    assert_int_equal(u->ncols, 3);
    assert_int_equal(mapping_row_encode_values(u, vals, 5, 1, &b, &err), 0);
    Decoded d;
    decode(&d, &b);
    const PsValue *av = get(get(&d.v, "p"), "avatar");
    assert_int_equal(av->type, PS_BYTES);
    assert_int_equal(av->u.str.len, 3);
    assert_memory_equal(av->u.str.data, "\x00\xff\x10", 3);
    const PsValue *dt = get(get(&d.v, "p"), "deleted_at");
    assert_int_equal(dt->u.st.fields[0].u.i, 1700000000);
    assert_int_equal(dt->u.st.fields[1].u.i, 0);
    ps_arena_free(&d.arena);
    vals[3] = "0g";
    assert_int_equal(mapping_row_encode_values(u, vals, 5, 1, &b, &err), P2N_EINVAL);
    assert_non_null(strstr(err.msg, "not hex bytes"));
    vals[3] = "abc";
    assert_int_equal(mapping_row_encode_values(u, vals, 5, 1, &b, &err), P2N_EINVAL);
    vals[3] = NULL;
    vals[2] = NULL;
    assert_int_equal(mapping_row_encode_values(u, vals, 5, 1, &b, &err), P2N_EINVAL);
    assert_non_null(strstr(err.msg, "key is NULL"));
    p2n_buf_free(&b);
    mapping_free(m);
    mapping_catalog_free(&cat);
}

static void test_encode_link_and_ids(void **state)
{
    (void)state;
    MappingCatalog cat;
    Mapping *m = resolved(CIVIC_YAML, &cat);
    MappingEntity *v = mapping_entity_find(m, "Vote");
    const char *vals[16] = {0};
    size_t n = v->ncols + 2;
    vals[0] = "[\"u1\", \"b1\"]";
    vals[1] = "f";
    vals[2 + col_of(v, "user_id", false)] = "u1";
    vals[2 + col_of(v, "bill_id", false)] = "b1";
    vals[2 + col_of(v, "vote", true)] = "yea";
    vals[2 + col_of(v, "voted_at", true)] = "10.5";
    /* the endpoint columns appear twice (key and end); fill the remaining ones */
    for (size_t i = 0; i < v->ncols; i++)
        if (vals[2 + i] == NULL)
            vals[2 + i] = strcmp(v->cols[i].column, "user_id") == 0 ? "u1" : "b1";
    P2nBuf b;
    p2n_buf_init(&b);
    P2nErr err;
    assert_int_equal(mapping_row_encode_values(v, vals, n, 9, &b, &err), 0);
    Decoded d;
    decode(&d, &b);
    assert_int_equal(d.v.u.map.len, 6);
    assert_false(get(&d.v, "h")->u.b);
    assert_string_equal(get(&d.v, "id")->u.str.data, "[\"u1\", \"b1\"]");
    assert_string_equal(get(&d.v, "f")->u.str.data, "u1");
    assert_string_equal(get(&d.v, "t")->u.str.data, "b1");
    const PsValue *p = get(&d.v, "p");
    assert_int_equal(p->u.map.len, 2);
    assert_string_equal(get(p, "vote")->u.str.data, "yea");
    assert_int_equal(get(p, "at")->u.st.fields[1].u.i, 500000000);
    ps_arena_free(&d.arena);
    /* deleted only because an end is not live (_p2n_hold): a held row, h true */
    vals[1] = "t";
    vals[n] = "t";
    p2n_buf_reset(&b);
    assert_int_equal(mapping_row_encode_values(v, vals, n + 1, 9, &b, &err), 0);
    decode(&d, &b);
    assert_true(get(&d.v, "h")->u.b);
    ps_arena_free(&d.arena);
    vals[n] = "f";
    p2n_buf_reset(&b);
    assert_int_equal(mapping_row_encode_values(v, vals, n + 1, 9, &b, &err), 0);
    decode(&d, &b);
    assert_false(get(&d.v, "h")->u.b);
    ps_arena_free(&d.arena);
    vals[1] = "f";

    /* ids for deletes */
    p2n_buf_reset(&b);
    assert_int_equal(mapping_id_encode(v, "[\"u1\", \"b1\"]", 3, &b, &err), 0);
    decode(&d, &b);
    assert_string_equal(get(&d.v, "id")->u.str.data, "[\"u1\", \"b1\"]");
    assert_int_equal(get(&d.v, "v")->u.i, 3);
    ps_arena_free(&d.arena);
    MappingEntity *pair = mapping_entity_find(m, "Pair");
    p2n_buf_reset(&b);
    assert_int_equal(mapping_id_encode(pair, "[\"42\", \"x y\"]", 4, &b, &err), 0);
    decode(&d, &b);
    const PsValue *k = get(&d.v, "k");
    assert_int_equal(k->type, PS_LIST);
    assert_int_equal(k->u.list.items[0].u.i, 42); /* typed as the key column */
    assert_string_equal(k->u.list.items[1].u.str.data, "x y");
    ps_arena_free(&d.arena);
    p2n_buf_reset(&b);
    assert_int_equal(mapping_id_encode(pair, "[\"42\"]", 4, &b, &err), P2N_EINVAL);
    assert_int_equal(mapping_id_encode(pair, "[\"x\", \"y\"]", 4, &b, &err), P2N_EINVAL);
    assert_int_equal(mapping_id_encode(pair, "nope", 4, &b, &err), P2N_EINVAL);
    assert_int_equal(b.len, 0);
    MappingEntity *u = mapping_entity_find(m, "User");
    assert_int_equal(mapping_id_encode(u, "abc", 4, &b, &err), 0);
    decode(&d, &b);
    assert_string_equal(get(&d.v, "k")->u.str.data, "abc");
    ps_arena_free(&d.arena);
    p2n_buf_free(&b);
    mapping_free(m);
    mapping_catalog_free(&cat);
}

/* ---- keys of every type (issue 14): ids, the SQL that builds them, and the value a delete
   rebuilds from an id, which must equal the value the row encodes to ---- */

static const char *TYPED_YAML =
    "entities:\n"
    "  Event:\n    table: events\n"
    "  Day:\n    table: days\n"
    "  Amount:\n    table: amounts\n"
    "  Flag:\n    table: flags\n"
    "  Stamp:\n    table: stamps\n"
    "  Reading:\n    table: readings\n    properties: []\n"
    "    relationships:\n"
    "      - {type: ON_DAY, column: day, to: Day}\n"
    "      - {type: OF, column: amount, to: Amount}\n"
    "      - {type: ON_DAYS, column: days, to: Day}\n"
    "      - {type: OF_ALL, column: amounts, to: Amount}\n"
    "relationships:\n"
    "  DayAmount:\n    table: day_amounts\n    type: PAID\n"
    "    from: {entity: Day, column: d}\n    to: {entity: Amount, column: a}\n";

static void typed_catalog(MappingCatalog *cat)
{
    civic_catalog(cat);
    MappingCatTable *t = mapping_catalog_add_table(cat, "public", "events");
    mapping_catalog_add_column(t, "at", "timestamptz", false, true);
    mapping_catalog_add_column(t, "n", "int4", false, true);
    mapping_catalog_add_unique(t, (const char *const[]){"at", "n", NULL}, true);
    t = mapping_catalog_add_table(cat, "public", "days");
    mapping_catalog_add_column(t, "d", "date", false, true);
    mapping_catalog_add_unique(t, (const char *const[]){"d", NULL}, true);
    t = mapping_catalog_add_table(cat, "public", "amounts");
    mapping_catalog_add_column(t, "a", "numeric", false, true);
    mapping_catalog_add_unique(t, (const char *const[]){"a", NULL}, true);
    t = mapping_catalog_add_table(cat, "public", "flags");
    mapping_catalog_add_column(t, "f", "bool", false, true);
    mapping_catalog_add_unique(t, (const char *const[]){"f", NULL}, true);
    t = mapping_catalog_add_table(cat, "public", "stamps");
    mapping_catalog_add_column(t, "s", "timestamp", false, true);
    mapping_catalog_add_unique(t, (const char *const[]){"s", NULL}, true);
    t = mapping_catalog_add_table(cat, "public", "readings");
    mapping_catalog_add_column(t, "id", "int4", false, true);
    mapping_catalog_add_column(t, "day", "date", false, false);
    mapping_catalog_add_column(t, "amount", "numeric", false, false);
    mapping_catalog_add_column(t, "days", "date", true, false);
    mapping_catalog_add_column(t, "amounts", "numeric", true, false);
    mapping_catalog_add_unique(t, (const char *const[]){"id", NULL}, true);
    t = mapping_catalog_add_table(cat, "public", "tags");
    mapping_catalog_add_column(t, "name", "citext", false, true);
    mapping_catalog_add_unique(t, (const char *const[]){"name", NULL}, true);
    t = mapping_catalog_add_table(cat, "public", "posts");
    mapping_catalog_add_column(t, "id", "int4", false, true);
    mapping_catalog_add_column(t, "tag", "citext", false, true);
    mapping_catalog_add_unique(t, (const char *const[]){"id", "tag", NULL}, true);
    t = mapping_catalog_add_table(cat, "public", "day_amounts");
    mapping_catalog_add_column(t, "d", "date", false, true);
    mapping_catalog_add_column(t, "a", "numeric", false, true);
    mapping_catalog_add_unique(t, (const char *const[]){"d", "a", NULL}, true);
}

static Mapping *typed_resolved(const char *yaml, MappingCatalog *cat)
{
    Mapping *m = load(yaml);
    typed_catalog(cat);
    MappingDiags d = {0};
    P2nErr err;
    int rc = mapping_resolve(m, cat, &d, &err);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "diag: %s\n", d.msgs[i]);
    assert_int_equal(rc, 0);
    mapping_diags_free(&d);
    return m;
}

static char *id_sql(const MappingEntity *e, const char *alias)
{
    P2nBuf b;
    p2n_buf_init(&b);
    mapping_sql_id_expr(e, alias, &b);
    return p2n_buf_steal(&b);
}

/* The key a row encodes to (its id given as the row's value v of the single key column) equals
   the key mapping_id_encode() rebuilds from the id. */
static void same_key(const MappingEntity *e, const char *row_value, const char *id)
{
    const char *vals[8] = {id, "f"};
    assert_true(e->ncols + 2 <= 8);
    for (size_t i = 0; i < e->ncols; i++)
        vals[2 + i] = row_value;
    P2nBuf r, k;
    p2n_buf_init(&r);
    p2n_buf_init(&k);
    P2nErr err;
    assert_int_equal(mapping_row_encode_values(e, vals, e->ncols + 2, 1, &r, &err), 0);
    int rc = mapping_id_encode(e, id, 1, &k, &err);
    if (rc != 0)
        fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, 0);
    Decoded dr, dk;
    decode(&dr, &r);
    decode(&dk, &k);
    if (!ps_value_equal(get(&dr.v, "k"), get(&dk.v, "k")))
        fail_msg("id %s: the row's key and the id's key differ", id);
    ps_arena_free(&dr.arena);
    ps_arena_free(&dk.arena);
    p2n_buf_free(&r);
    p2n_buf_free(&k);
}

static void test_typed_keys(void **state)
{
    (void)state;
    MappingCatalog cat;
    Mapping *m = typed_resolved(TYPED_YAML, &cat);
    MappingEntity *ev = mapping_entity_find(m, "Event"), *day = mapping_entity_find(m, "Day"),
                  *amt = mapping_entity_find(m, "Amount"), *flag = mapping_entity_find(m, "Flag"),
                  *st = mapping_entity_find(m, "Stamp"), *rd = mapping_entity_find(m, "Reading"),
                  *da = mapping_entity_find(m, "DayAmount");
    /* the conversions: temporal keys keep their Neo4j types, a numeric key is exact (a string) */
    assert_int_equal(day->cols[day->key_cols[0]].conv, MAPPING_CONV_DATE);
    assert_int_equal(ev->cols[ev->key_cols[0]].conv, MAPPING_CONV_DATETIME);
    assert_int_equal(st->cols[st->key_cols[0]].conv, MAPPING_CONV_LOCALDATETIME);
    assert_int_equal(amt->cols[amt->key_cols[0]].conv, MAPPING_CONV_STRING);
    assert_int_equal(flag->cols[flag->key_cols[0]].conv, MAPPING_CONV_BOOL);

    /* ids: the same expression as the capture triggers, independent of DateStyle and TimeZone */
    char *s = id_sql(ev, "NEW");
    assert_string_equal(s, "array_to_json(ARRAY[CASE WHEN NOT isfinite(NEW.\"at\") THEN NEW.\"at\"::text"
                           " WHEN NEW.\"at\" < TIMESTAMPTZ '0001-01-01 00:00:00+00'"
                           " THEN to_char(NEW.\"at\" AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US\"+00 BC\"')"
                           " ELSE to_char(NEW.\"at\" AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US\"+00\"') END,"
                           " NEW.\"n\"::text])::text");
    free(s);
    s = id_sql(amt, "t");
    assert_string_equal(s, "trim_scale(t.\"a\")::text");
    free(s);
    s = id_sql(flag, "t");
    assert_string_equal(s, "t.\"f\"::text");
    free(s);
    s = id_sql(day, "OLD");
    assert_non_null(strstr(s, "WHEN OLD.\"d\" < DATE '0001-01-01' THEN to_char(OLD.\"d\"::timestamp, 'YYYY-MM-DD\" BC\"')"));
    assert_non_null(strstr(s, "ELSE extract(year FROM OLD.\"d\")::text"));
    free(s);
    s = id_sql(st, "t");
    assert_non_null(strstr(s, "ELSE to_char(t.\"s\", 'YYYY-MM-DD HH24:MI:SS.US') END"));
    free(s);
    /* read SQL: the id, the value (trimmed numeric), the ids cast back to the key's type */
    assert_non_null(strstr(amt->plan.read_sql, "SELECT trim_scale(t.\"a\")::text AS \"_p2n_id\", false AS \"_p2n_deleted\", trim_scale(t.\"a\")::text FROM"));
    assert_non_null(strstr(amt->plan.read_sql, "WHERE t.\"a\" = ANY($1::text[]::numeric[])"));
    assert_non_null(strstr(ev->plan.read_sql, "t.\"at\" = (_p2n_ids._p2n_id::jsonb->>0)::timestamptz AND t.\"n\" = (_p2n_ids._p2n_id::jsonb->>1)::int4"));
    /* references to those keys: the same values as the keys (trimmed numeric, day numbers), also
       in arrays */
    assert_non_null(strstr(rd->plan.read_sql, "CASE WHEN isfinite(t.\"day\") THEN (t.\"day\" - DATE '1970-01-01')::text ELSE t.\"day\"::text END"));
    assert_non_null(strstr(rd->plan.read_sql, "trim_scale(t.\"amount\")::text"));
    assert_non_null(strstr(rd->plan.read_sql, "to_jsonb(ARRAY(SELECT CASE WHEN isfinite(_p2n_e) THEN (_p2n_e - DATE '1970-01-01')::text ELSE _p2n_e::text END FROM unnest(t.\"days\")"));
    assert_non_null(strstr(rd->plan.read_sql, "to_jsonb(ARRAY(SELECT trim_scale(_p2n_e)::text FROM unnest(t.\"amounts\")"));
    assert_non_null(strstr(da->plan.read_sql, "trim_scale(t.\"a\")::text"));

    /* a delete's key (from the id) is the row's key, for every type and edge */
    same_key(day, "19782", "2024-02-29");
    same_key(day, "-735160", "0044-03-15 BC");
    same_key(day, "2145042905", "5874897-12-31");
    same_key(day, "infinity", "infinity");
    same_key(day, "-infinity", "-infinity");
    same_key(st, "-63517780799.999999", "0044-03-15 12:00:00.000001 BC");
    same_key(st, "9224318015999.999999", "294276-12-31 23:59:59.999999");
    same_key(st, "infinity", "infinity");
    same_key(amt, "1.5", "1.5");
    same_key(amt, "NaN", "NaN");
    same_key(flag, "t", "true");
    same_key(flag, "f", "false");
    /* composite (timestamptz, int): a partitioned fact table's key */
    const char *vals[4] = {"[\"2024-03-01 12:34:56.789000+00\",\"7\"]", "f", NULL, "7"};
    vals[2 + ev->key_cols[0]] = "1709296496.789000";
    vals[2 + ev->key_cols[1]] = "7";
    P2nBuf r, k;
    p2n_buf_init(&r);
    p2n_buf_init(&k);
    P2nErr err;
    assert_int_equal(mapping_row_encode_values(ev, vals, 4, 1, &r, &err), 0);
    assert_int_equal(mapping_id_encode(ev, vals[0], 1, &k, &err), 0);
    Decoded dr, dk;
    decode(&dr, &r);
    decode(&dk, &k);
    const PsValue *kk = get(&dk.v, "k");
    assert_true(ps_value_equal(get(&dr.v, "k"), kk));
    assert_int_equal(kk->u.list.items[0].u.st.tag, PS_TAG_DATETIME);
    assert_int_equal(kk->u.list.items[0].u.st.fields[0].u.i, 1709296496);
    assert_int_equal(kk->u.list.items[0].u.st.fields[1].u.i, 789000000);
    assert_int_equal(kk->u.list.items[1].u.i, 7);
    ps_arena_free(&dr.arena);
    ps_arena_free(&dk.arena);
    /* an id that is no date is an error naming it, not a wrong node */
    p2n_buf_reset(&k);
    assert_int_equal(mapping_id_encode(day, "01/03/2024", 1, &k, &err), P2N_EINVAL);
    assert_non_null(strstr(err.msg, "not a date or time in an id: \"01/03/2024\""));
    assert_int_equal(mapping_id_encode(day, "2023-02-29", 1, &k, &err), P2N_EINVAL);
    /* a relationship to a date key: the array's day numbers are Dates, equal to the key's */
    size_t n = rd->ncols + 2;
    const char *rv[16] = {"1", "f"};
    for (size_t i = 0; i < rd->ncols; i++) {
        const char *c = rd->cols[i].column;
        rv[2 + i] = strcmp(c, "id") == 0 ? "1" : strcmp(c, "day") == 0 ? "19782" : strcmp(c, "amount") == 0 ? "1.5"
                  : strcmp(c, "days") == 0 ? "[\"19782\", \"infinity\"]" : "[\"1.5\", \"2\"]";
    }
    p2n_buf_reset(&r);
    assert_int_equal(mapping_row_encode_values(rd, rv, n, 1, &r, &err), 0);
    decode(&dr, &r);
    const PsValue *days = get(&dr.v, "r2");
    assert_int_equal(days->u.list.len, 2);
    assert_int_equal(days->u.list.items[0].u.st.tag, PS_TAG_DATE);
    assert_int_equal(days->u.list.items[0].u.st.fields[0].u.i, 19782);
    assert_string_equal(days->u.list.items[1].u.str.data, "infinity");
    assert_string_equal(get(&dr.v, "r3")->u.list.items[0].u.str.data, "1.5");
    assert_int_equal(get(&dr.v, "r0")->u.list.items[0].u.st.tag, PS_TAG_DATE);
    ps_arena_free(&dr.arena);
    p2n_buf_free(&r);
    p2n_buf_free(&k);
    mapping_free(m);
    mapping_catalog_free(&cat);

    /* a key stays exact: never a float */
    Mapping *m2 = load("entities:\n  Amount:\n    table: amounts\n    convert: {a: float}\n");
    typed_catalog(&cat);
    MappingDiags d = {0};
    assert_int_equal(mapping_resolve(m2, &cat, &d, &err), P2N_ECONFIG);
    assert_non_null(strstr(err.msg, "g.yaml:4: entity \"Amount\": key column \"a\" cannot convert to float"));
    mapping_diags_free(&d);
    mapping_free(m2);
    mapping_catalog_free(&cat);
    /* citext: a reference in another case meets the referenced row's key; a composite key with a
       citext part matches its text too ('ABC' and 'abc' are two ids) */
    m = typed_resolved("entities:\n  Tag:\n    table: tags\n  Post:\n    table: posts\n    relationships:\n"
                       "      - {type: T, column: tag, to: Tag}\n", &cat);
    MappingEntity *post = mapping_entity_find(m, "Post");
    assert_non_null(strstr(post->plan.read_sql, "COALESCE((SELECT _p2n_k.\"name\"::text FROM \"public\".\"tags\" AS _p2n_k"
                                                " WHERE _p2n_k.\"name\" = t.\"tag\"), t.\"tag\"::text)"));
    assert_non_null(strstr(post->plan.read_sql, "t.\"tag\" = (_p2n_ids._p2n_id::jsonb->>1)::citext AND "
                                                "t.\"tag\"::text = _p2n_ids._p2n_id::jsonb->>1"));
    mapping_free(m);
    mapping_catalog_free(&cat);
    /* a key as a string: its id's text, for any type */
    m = typed_resolved("entities:\n  Day:\n    table: days\n    convert: {d: string}\n", &cat);
    day = &m->entities[0];
    assert_non_null(strstr(day->plan.read_sql, "to_char(t.\"d\"::timestamp, 'YYYY-MM-DD') ELSE extract"));
    same_key(day, "0044-03-15 BC", "0044-03-15 BC");
    mapping_free(m);
    mapping_catalog_free(&cat);
}

static void test_capture_columns(void **state)
{
    (void)state;
    MappingCatalog cat;
    Mapping *m = resolved(CIVIC_YAML, &cat);
    const char **w, **a;
    P2nErr err;
    assert_int_equal(mapping_capture_columns(mapping_entity_find(m, "Bill"), &w, &a, &err), 0);
    size_t nw = 0;
    bool sponsor = false, tags = false;
    for (; w[nw]; nw++) {
        sponsor = sponsor || strcmp(w[nw], "sponsor_id") == 0;
        tags = tags || strcmp(w[nw], "tags") == 0;
    }
    assert_true(sponsor && tags);
    assert_int_equal(nw, 11); /* every column of bills, sponsor_id once */
    assert_string_equal(a[0], "co_sponsors");
    assert_string_equal(a[1], "tags");
    assert_null(a[2]);
    free(w);
    free(a);
    /* a soft-delete filter may read any column: watch them all */
    assert_int_equal(mapping_capture_columns(mapping_entity_find(m, "User"), &w, &a, &err), 0);
    assert_null(w);
    assert_null(a[0]);
    free(a);
    mapping_free(m);
    mapping_catalog_free(&cat);
}

static void test_summary(void **state)
{
    (void)state;
    MappingCatalog cat;
    Mapping *m = resolved(CIVIC_YAML, &cat);
    P2nBuf b;
    p2n_buf_init(&b);
    mapping_summary(m, &b);
    p2n_buf_append(&b, "", 1);
    const char *s = (const char *)b.data;
    assert_non_null(strstr(s, "mapping g.yaml is valid: 4 node entities, 5 relationships from columns, 2 from join tables"));
    assert_non_null(strstr(s, "(:Sponsor:Person)  entity Sponsor <- table public.sponsors, key id"));
    assert_non_null(strstr(s, "name <- display_name string"));
    assert_non_null(strstr(s, "(:Bill)-[:TAGGED]->(:Tag {name})  value node per element of tags"));
    assert_non_null(strstr(s, "(:Bill)-[:CO_SPONSORED_BY]->(:Sponsor)  one per element of co_sponsors"));
    assert_non_null(strstr(s, "(:Bill)<-[:FAVOURITE]-(:Sponsor)  column sponsor_id"));
    assert_non_null(strstr(s, "(:User)-[:VOTED {vote, at}]->(:Bill)  relationship Vote <- table public.votes"));
    assert_non_null(strstr(s, "removed when: deleted_at IS NOT NULL"));
    assert_non_null(strstr(s, "(:Pair)  entity Pair <- table public.pairs, key (a, b)"));
    p2n_buf_free(&b);
    mapping_free(m);
    mapping_catalog_free(&cat);
}

/* Issue 18: check warns about keys and value-node columns that can exceed Neo4j's index limit;
 * a column whose name is not valid UTF-8 (a SQL_ASCII database) cannot be a property. */
static bool has_warning(const MappingDiags *w, const char *want)
{
    for (size_t i = 0; i < w->n; i++)
        if (strstr(w->msgs[i], want) != NULL)
            return true;
    return false;
}

static void test_limit_warnings(void **state)
{
    (void)state;
    MappingCatalog cat;
    memset(&cat, 0, sizeof(cat));
    MappingCatTable *t = mapping_catalog_add_table(&cat, "public", "docs");
    mapping_catalog_add_column(t, "slug", "text", false, true);
    mapping_catalog_add_column(t, "code", "varchar", false, true)->max_chars = 2041;
    mapping_catalog_add_column(t, "title", "varchar", false, true)->max_chars = 2042;
    mapping_catalog_add_column(t, "tags", "text", true, false);
    mapping_catalog_add_column(t, "sizes", "int4", true, false);
    mapping_catalog_add_column(t, "kind", "bpchar", false, false)->max_chars = 10;
    mapping_catalog_add_column(t, "body", "text", false, false);
    mapping_catalog_add_unique(t, (const char *const[]){"slug", NULL}, true);
    mapping_catalog_add_unique(t, (const char *const[]){"code", NULL}, false);
    mapping_catalog_add_unique(t, (const char *const[]){"title", NULL}, false);
    t = mapping_catalog_add_table(&cat, "public", "links");
    mapping_catalog_add_column(t, "a", "text", false, true);
    mapping_catalog_add_column(t, "b", "varchar", false, true)->max_chars = 20;
    mapping_catalog_add_unique(t, (const char *const[]){"a", "b", NULL}, true);
    t = mapping_catalog_add_table(&cat, "public", "codes");
    mapping_catalog_add_column(t, "code", "varchar", false, true)->max_chars = 2041;
    mapping_catalog_add_unique(t, (const char *const[]){"code", NULL}, true);
    const char *yaml;
    yaml = "entities:\n"
           "  Doc:\n    table: docs\n"
           "    relationships:\n"
           "      - {type: TAGGED, column: tags, value: {label: Tag}}\n"
           "      - {type: SIZED, column: sizes, value: {label: Size}}\n"
           "      - {type: OF_KIND, column: kind, value: {label: Kind}}\n"
           "  Code:\n    table: codes\n"
           "relationships:\n"
           "  L:\n    table: links\n    type: L\n    from: {entity: Doc, column: a}\n"
           "    to: {entity: Code, column: b}\n";
    Mapping *m = load(yaml);
    MappingDiags d = {0};
    P2nErr err;
    if (mapping_resolve(m, &cat, &d, &err) < 0)
        fail_msg("resolve: %s", err.msg);
    MappingDiags w = {0};
    mapping_limit_warnings(m, &w);
    for (size_t i = 0; i < w.n; i++)
        fprintf(stderr, "warning: %s\n", w.msgs[i]);
    assert_true(has_warning(&w, "g.yaml:3: entity \"Doc\": key column \"slug\" (text) can hold values over Neo4j's "
                                "index limit of 8164 bytes (UTF-8): a row with a longer value cannot sync "
                                "(\"Property value is too large to index\")"));
    assert_true(has_warning(&w, "g.yaml:5: entity \"Doc\": value node column \"tags\" (text[])"));
    assert_true(has_warning(&w, "relationship \"L\": key (the relationship's indexed id) column \"a\" (text)"));
    assert_int_equal(w.n, 3); /* not sizes (int4[]), kind (bpchar(10)), b (varchar(20)) nor Code's varchar(2041) */
    mapping_diags_free(&w);
    mapping_diags_free(&d);
    mapping_free(m);

    /* a varchar over 2,041 characters can exceed 8,164 bytes */
    m = load("entities:\n  Doc:\n    table: docs\n    key: title\n");
    assert_int_equal(mapping_resolve(m, &cat, &d, &err), 0);
    mapping_limit_warnings(m, &w);
    assert_int_equal(w.n, 1);
    assert_true(has_warning(&w, "g.yaml:4: entity \"Doc\": key column \"title\" (varchar(2042))"));
    mapping_diags_free(&w);
    mapping_free(m);
    m = load("entities:\n  Doc:\n    table: docs\n    key: code\n");
    assert_int_equal(mapping_resolve(m, &cat, &d, &err), 0);
    mapping_limit_warnings(m, &w);
    assert_int_equal(w.n, 0);
    mapping_free(m);
    mapping_diags_free(&d);
    mapping_catalog_free(&cat);

    /* column names that are not valid UTF-8 cannot be properties: refused, naming entity and column */
    memset(&cat, 0, sizeof(cat));
    t = mapping_catalog_add_table(&cat, "public", "raw");
    mapping_catalog_add_column(t, "id", "int4", false, true);
    mapping_catalog_add_column(t, "caf\xE9", "text", false, false); /* Latin-1 é */
    mapping_catalog_add_unique(t, (const char *const[]){"id", NULL}, true);
    m = load("entities:\n  Raw:\n    table: raw\n");
    assert_int_equal(mapping_resolve(m, &cat, &d, &err), P2N_ECONFIG);
    assert_true(has_warning(&d, "g.yaml:3: entity \"Raw\": column \"caf\xE9\" cannot be a Neo4j property name: it is "
                                "not valid UTF-8 (byte 0xE9 at offset 3); exclude it or rename it"));
    mapping_diags_free(&d);
    mapping_free(m);
    mapping_catalog_free(&cat);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wrong_tables),
        cmocka_unit_test(test_wrong_columns),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_wrong_keys),
        cmocka_unit_test(test_nullable_key),
        cmocka_unit_test(test_generated_node),
        cmocka_unit_test(test_generated_rels),
        cmocka_unit_test(test_generated_link_and_composite),
        cmocka_unit_test(test_hostile_names),
        cmocka_unit_test(test_encode_node),
        cmocka_unit_test(test_encode_types),
        cmocka_unit_test(test_encode_bytes_bool),
        cmocka_unit_test(test_encode_link_and_ids),
        cmocka_unit_test(test_typed_keys),
        cmocka_unit_test(test_capture_columns),
        cmocka_unit_test(test_summary),
        cmocka_unit_test(test_limit_warnings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
