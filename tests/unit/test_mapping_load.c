/* Unit tests for the mapping loader: every error path names file:line, defaults, ${VAR} expansion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"
#include "mapping/mapping.h"

/* A fixed environment: NAME=value pairs. */
static const char *const fake_env[] = {
    "DATABASE_URL", "postgresql://u@h/db", "NEO4J_URI", "bolt://neo:7687", "NEO4J_USER", "alice",
    "NEO4J_PASSWORD", "s3cret-pass", "TABLE", "users", "EMPTY", "", NULL,
};

static const char *env_fn(const char *name, void *ctx)
{
    (void)ctx;
    for (size_t i = 0; fake_env[i]; i += 2)
        if (strcmp(fake_env[i], name) == 0)
            return fake_env[i + 1];
    return NULL;
}

static const char *empty_env(const char *name, void *ctx)
{
    (void)name;
    (void)ctx;
    return NULL;
}

static Mapping *m_ok(const char *yaml)
{
    Mapping *m = NULL;
    MappingDiags d = {0};
    P2nErr err;
    p2n_err_clear(&err);
    int rc = mapping_load_string(yaml, strlen(yaml), "t.yaml", env_fn, NULL, &m, &d, &err);
    if (rc != 0) {
        for (size_t i = 0; i < d.n; i++)
            fprintf(stderr, "diag: %s\n", d.msgs[i]);
        fprintf(stderr, "err: %s\n", err.msg);
    }
    assert_int_equal(rc, 0);
    assert_non_null(m);
    assert_int_equal(d.n, 0);
    mapping_diags_free(&d);
    return m;
}

/* Loads yaml expecting failure; asserts some diagnostic contains `want` (which should include
 * "t.yaml:LINE:"), and returns the number of diagnostics. */
static size_t m_bad(const char *yaml, const char *want)
{
    Mapping *m = (Mapping *)1;
    MappingDiags d = {0};
    P2nErr err;
    p2n_err_clear(&err);
    int rc = mapping_load_string(yaml, strlen(yaml), "t.yaml", env_fn, NULL, &m, &d, &err);
    assert_int_equal(rc, P2N_ECONFIG);
    assert_null(m);
    assert_int_equal(err.code, P2N_ECONFIG);
    bool found = false;
    for (size_t i = 0; i < d.n; i++)
        if (strstr(d.msgs[i], want))
            found = true;
    if (!found) {
        fprintf(stderr, "wanted: %s\n", want);
        for (size_t i = 0; i < d.n; i++)
            fprintf(stderr, "  got: %s\n", d.msgs[i]);
    }
    assert_true(found);
    assert_non_null(strstr(err.msg, "t.yaml:")); /* the first problem, with its place */
    size_t n = d.n;
    mapping_diags_free(&d);
    return n;
}

#define MINI "entities:\n  User:\n    table: users\n"

static void test_minimal_defaults(void **state)
{
    (void)state;
    Mapping *m = m_ok(MINI);
    assert_string_equal(m->conninfo, "postgresql://u@h/db");
    assert_string_equal(m->source_schema, "public");
    assert_string_equal(m->neo4j_uri, "bolt://neo:7687");
    assert_string_equal(m->neo4j_user, "alice");
    assert_string_equal(m->neo4j_password, "s3cret-pass");
    assert_string_equal(m->neo4j_database, "");
    assert_int_equal(m->sync.sync_interval_ms, 300000);
    assert_int_equal(m->sync.batch_size_limit, 100);
    assert_int_equal(m->sync.sync_timeout_ms, 30000);
    assert_true(m->sync.enable_auto_sync);
    assert_int_equal(m->sync.max_attempts, 3);
    assert_int_equal(m->sync.backoff_base_ms, 1000);
    assert_int_equal(m->sync.backoff_cap_ms, 60000);
    assert_int_equal(m->nentities, 1);
    MappingEntity *e = &m->entities[0];
    assert_string_equal(e->name, "User");
    assert_string_equal(e->table, "users");
    assert_int_equal(e->nlabels, 1);
    assert_string_equal(e->labels[0].s, "User"); /* default label: the entity name */
    assert_int_equal(e->nkeys, 0);               /* primary key, found by mapping_resolve */
    assert_true(e->props_all);
    assert_int_equal(e->line, 2);
    assert_int_equal(e->table_line, 3);
    mapping_free(m);
}

static void test_no_env_defaults(void **state)
{
    (void)state;
    Mapping *m = NULL;
    P2nErr err;
    assert_int_equal(mapping_load_string(MINI, strlen(MINI), NULL, empty_env, NULL, &m, NULL, &err), 0);
    assert_string_equal(m->conninfo, "");
    assert_string_equal(m->neo4j_uri, "bolt://localhost:7687");
    assert_string_equal(m->neo4j_user, "neo4j");
    assert_null(m->neo4j_password);
    assert_string_equal(m->path, "<string>");
    mapping_free(m);
}

static void test_full_settings(void **state)
{
    (void)state;
    Mapping *m = m_ok("version: 1\n"
                      "source: {url: 'postgres://x/${TABLE}', schema: app}\n"
                      "target: {uri: 'neo4j://n:1', user: bob, password: 'pw$$1', database: graph}\n"
                      "sync:\n  syncIntervalMs: 5\n  batchSizeLimit: 250\n  syncTimeoutMs: 45000\n"
                      "  enableAutoSync: false\n  maxAttempts: 7\n  backoffBaseMs: 10\n  backoffCapMs: 20\n"
                      "entities:\n"
                      "  Bill:\n    table: ${TABLE}\n    schema: s2\n    labels: [Bill, Doc]\n    key: [a, b]\n"
                      "    properties: [x, y]\n    rename: {x: ex}\n    convert: {y: float}\n"
                      "    delete_when: \"status = 'gone' AND (x > 1)\"\n"
                      "    relationships:\n"
                      "      - {type: SPONSORED_BY, column: sponsor_id, to: Bill}\n"
                      "      - {type: TAGGED, column: tags, value: {label: Tag}}\n"
                      "      - {type: MADE, column: u, to: Bill, direction: in}\n"
                      "relationships:\n"
                      "  Vote:\n    table: votes\n    type: VOTED\n    from: {entity: Bill, column: a}\n"
                      "    to: {entity: Bill, column: b}\n    exclude: [z]\n");
    assert_string_equal(m->conninfo, "postgres://x/users");
    assert_string_equal(m->source_schema, "app");
    assert_string_equal(m->neo4j_uri, "neo4j://n:1");
    assert_string_equal(m->neo4j_user, "bob");
    assert_string_equal(m->neo4j_password, "pw$1");
    assert_string_equal(m->neo4j_database, "graph");
    assert_int_equal(m->sync.sync_interval_ms, 5);
    assert_int_equal(m->sync.batch_size_limit, 250);
    assert_int_equal(m->sync.sync_timeout_ms, 45000);
    assert_false(m->sync.enable_auto_sync);
    assert_int_equal(m->sync.max_attempts, 7);
    assert_int_equal(m->sync.backoff_base_ms, 10);
    assert_int_equal(m->sync.backoff_cap_ms, 20);
    assert_int_equal(m->nentities, 2);
    MappingEntity *e = mapping_entity_find(m, "Bill");
    assert_non_null(e);
    assert_string_equal(e->table, "users");
    assert_string_equal(e->schema, "s2");
    assert_int_equal(e->nlabels, 2);
    assert_string_equal(e->labels[1].s, "Doc");
    assert_int_equal(e->nkeys, 2);
    assert_false(e->props_all);
    assert_int_equal(e->ninclude, 2);
    assert_string_equal(e->renames[0].value, "ex");
    assert_string_equal(e->converts[0].value, "float");
    assert_string_equal(e->delete_when, "status = 'gone' AND (x > 1)");
    assert_int_equal(e->nrels, 3);
    assert_int_equal(e->rels[0].target, 0);
    assert_string_equal(e->rels[1].value_label, "Tag");
    assert_string_equal(e->rels[1].value_property, "name"); /* default */
    assert_int_equal(e->rels[1].target, -1);
    assert_true(e->rels[2].incoming);
    assert_false(e->rels[0].incoming);
    MappingEntity *v = mapping_entity_find(m, "Vote");
    assert_int_equal(v->kind, MAPPING_LINK);
    assert_string_equal(v->rel_type, "VOTED");
    assert_int_equal(v->from.target, 0);
    assert_string_equal(v->to.column, "b");
    assert_string_equal(v->exclude[0].s, "z");
    assert_null(mapping_entity_find(m, "Nope"));
    mapping_free(m);
}

static void test_env_expansion(void **state)
{
    (void)state;
    Mapping *m = m_ok("source: {conninfo: '${NOPE:-host=x} ${EMPTY:-dflt} [${EMPTY}] $${TABLE} $5'}\n" MINI);
    assert_string_equal(m->conninfo, "host=x dflt [] ${TABLE} $5");
    mapping_free(m);
    m_bad("source: {conninfo: '${NOPE}'}\n" MINI, "t.yaml:1: environment variable \"NOPE\" is not set");
    m_bad("source: {conninfo: '${1X}'}\n" MINI, "t.yaml:1: invalid variable reference");
    m_bad("source: {conninfo: '${A'}\n" MINI, "t.yaml:1: invalid variable reference");
    m_bad("source: {conninfo: '${A:-x'}\n" MINI, "t.yaml:1: unterminated \"${\"");
}

static void test_yaml_syntax(void **state)
{
    (void)state;
    m_bad("entities:\n  User:\n    table: [a\n", "t.yaml:");
    m_bad("entities: {\n", "invalid YAML");
    m_bad("", "t.yaml:0: the mapping is empty");
    m_bad("- a\n- b\n", "t.yaml:1: the mapping must be a map, not a list");
    m_bad(MINI "---\nentities: {}\n", "t.yaml:4: the file holds more than one YAML document");
    m_bad("entities:\n  User:\n    table: \"us\\0ers\"\n", "t.yaml:3: table contains a NUL character");
}

static void test_unknown_keys_suggest(void **state)
{
    (void)state;
    m_bad("entites:\n  User: {table: users}\n", "t.yaml:1: unknown key \"entites\" in the mapping (did you mean \"entities\"?)");
    m_bad("entities:\n  User:\n    tabel: users\n", "t.yaml:3: unknown key \"tabel\" in entity \"User\" (did you mean \"table\"?)");
    m_bad("sync: {batchSize: 5}\n" MINI, "unknown key \"batchSize\" in sync (did you mean \"batchSizeLimit\"?)");
    m_bad("target: {passwd: x}\n" MINI, "(did you mean \"password\"?)");
    m_bad("source: {shema: x}\n" MINI, "(did you mean \"schema\"?)");
    m_bad("entities:\n  User:\n    table: users\n    zzzzzzzz: 1\n", "t.yaml:4: unknown key \"zzzzzzzz\" in entity \"User\"");
    m_bad("entities:\n  User:\n    table: users\n    relationships:\n      - {type: A, column: b, to: User, dir: in}\n",
          "t.yaml:5: unknown key \"dir\" in a relationship of entity \"User\" (did you mean \"direction\"?)");
    m_bad("entities:\n  User:\n    table: users\n    table: x\n", "t.yaml:4: duplicate key \"table\" in entity \"User\"");
    m_bad("entities:\n  User:\n    table: users\n    ? [a]\n    : b\n", "keys of entity \"User\" must be scalars");
}

static void test_structure_errors(void **state)
{
    (void)state;
    m_bad("version: 2\n" MINI, "t.yaml:1: unsupported mapping version 2");
    m_bad("version: x\n" MINI, "t.yaml:1: version must be an integer");
    m_bad("source: {}\n", "t.yaml:1: the mapping has no entities");
    m_bad("entities: [a]\n", "t.yaml:1: entities must be a map");
    m_bad("entities: {}\n", "t.yaml:1: the mapping has no entities");
    m_bad("entities:\n  User: 5\n", "t.yaml:2: entity \"User\" must be a map, not a scalar");
    m_bad("entities:\n  User:\n    labels: [A]\n", "t.yaml:3: entity \"User\" has no table");
    m_bad("entities:\n  User:\n    table: ''\n", "t.yaml:3: table must not be empty");
    m_bad("entities:\n  User:\n    table: [a]\n", "t.yaml:3: table must be a scalar, not a list");
    m_bad("entities:\n  User:\n    table: u\n    labels: []\n", "t.yaml:4: labels must not be an empty list");
    m_bad("entities:\n  User:\n    table: u\n    labels: [A, B, A]\n", "t.yaml:4: \"A\" appears twice in labels");
    m_bad("entities:\n  User:\n    table: u\n    key: {a: b}\n", "t.yaml:4: key must be a name or a list of names");
    m_bad("entities:\n  User:\n    table: u\n    properties: 5\n", "t.yaml:4: properties of entity \"User\" must be \"all\" or a list");
    m_bad("entities:\n  User:\n    table: u\n    properties: [a]\n    exclude: [b]\n",
          "t.yaml:5: exclude applies only with \"properties: all\"");
    m_bad("entities:\n  User:\n    table: u\n    rename: {a: _p2n_x}\n", "t.yaml:4: property names starting with \"_p2n_\" are reserved");
    m_bad("entities:\n  User:\n    table: u\n    rename: {a: x, b: x}\n", "two columns renamed to the same property \"x\"");
    m_bad("entities:\n  User:\n    table: u\n    rename: [a]\n", "t.yaml:4: rename must be a map of column: value");
    m_bad("entities:\n  User:\n    table: u\n    convert: {a: flaot}\n",
          "t.yaml:4: unknown conversion \"flaot\" for column \"a\" (did you mean \"float\"?)");
    m_bad("entities:\n  User:\n    table: u\n    convert: {a: auto}\n", "unknown conversion \"auto\"");
    m_bad("entities:\n  User:\n    table: u\n    convert: {a: int, a: float}\n", "column \"a\" appears twice in convert");
    m_bad("entities:\n  User:\n    table: u\n  User:\n    table: v\n", "duplicate key \"User\" in entities");
}

static void test_delete_when(void **state)
{
    (void)state;
    const char *pre = "entities:\n  User:\n    table: u\n    delete_when: ";
    char buf[512];
    struct {
        const char *expr, *want;
    } cases[] = {
        {"\"x IS NULL; DROP TABLE u\"", "t.yaml:4: delete_when must be one SQL expression (no \";\")"},
        {"\"x IS NULL -- c\"", "t.yaml:4: delete_when must not contain SQL comments"},
        {"\"x /* c */\"", "t.yaml:4: delete_when must not contain SQL comments"},
        {"\"x) OR (true\"", "t.yaml:4: delete_when has unbalanced parentheses"},
        {"\"(x\"", "t.yaml:4: delete_when has unbalanced parentheses"},
        {"\"x = 'a\"", "t.yaml:4: delete_when has unbalanced quotes"},
        {"\"x = $1\"", "t.yaml:4: delete_when must not contain \"$\""},
        {"\"  \"", "t.yaml:4: delete_when must not be empty"},
        {"[a]", "t.yaml:4: delete_when must be a scalar"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(buf, sizeof(buf), "%s%s\n", pre, cases[i].expr);
        m_bad(buf, cases[i].want);
    }
    /* quotes hide what would otherwise be rejected */
    snprintf(buf, sizeof(buf), "%s%s\n", pre, "\"status = 'a;b)--' OR \\\"we;ird\\\" IS NULL\"");
    Mapping *m = m_ok(buf);
    assert_string_equal(m->entities[0].delete_when, "status = 'a;b)--' OR \"we;ird\" IS NULL");
    mapping_free(m);
}

static void test_relationship_errors(void **state)
{
    (void)state;
    const char *pre = "entities:\n  User:\n    table: u\n    relationships:\n";
    char buf[600];
    struct {
        const char *rel, *want;
    } cases[] = {
        {"      - {column: a, to: User}", "t.yaml:5: a relationship of entity \"User\" has no type"},
        {"      - {type: A, to: User}", "t.yaml:5: a relationship of entity \"User\" has no column"},
        {"      - {type: A, column: a}", "needs \"to: Entity\" or \"value: {label: L, property: p}\""},
        {"      - {type: A, column: a, to: User, value: {label: T}}", "has both to and value"},
        {"      - {type: A, column: a, value: {property: p}}", "t.yaml:5: value needs a label"},
        {"      - {type: A, column: a, value: {lable: T}}", "unknown key \"lable\" in value (did you mean \"label\"?)"},
        {"      - {type: A, column: a, to: User, direction: both}", "direction must be \"out\" or \"in\", not \"both\""},
        {"      - {type: A, column: a, to: Usr}", "t.yaml:5: entity \"User\": relationship A targets unknown entity \"Usr\" (did you mean \"User\"?)"},
        {"      - {type: A, column: a, to: User}\n      - {type: A, column: b, to: User}",
         "t.yaml:6: entity \"User\": relationship A to User is defined twice (line 5)"},
        {"      - 5", "t.yaml:5: a relationship of entity \"User\" must be a map"},
        {"      - {type: '', column: a, to: User}", "relationship type must not be empty"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(buf, sizeof(buf), "%s%s\n", pre, cases[i].rel);
        m_bad(buf, cases[i].want);
    }
    m_bad("entities:\n  User:\n    table: u\n    relationships: {a: b}\n", "t.yaml:4: relationships of entity \"User\" must be a list");
    /* same type to another label, or the other direction, is fine */
    Mapping *m = m_ok("entities:\n  User:\n    table: u\n    relationships:\n"
                      "      - {type: A, column: a, to: User}\n      - {type: A, column: b, to: User, direction: in}\n"
                      "      - {type: A, column: c, value: {label: User2}}\n");
    mapping_free(m);
}

static void test_link_errors(void **state)
{
    (void)state;
    const char *pre = MINI "relationships:\n  Vote:\n";
    char buf[600];
    struct {
        const char *body, *want;
    } cases[] = {
        {"    table: v\n    from: {entity: User, column: a}\n    to: {entity: User, column: b}\n",
         "t.yaml:6: relationship \"Vote\" has no type"},
        {"    table: v\n    type: V\n    to: {entity: User, column: b}\n", "relationship \"Vote\" has no from"},
        {"    table: v\n    type: V\n    from: {entity: User, column: a}\n", "relationship \"Vote\" has no to"},
        {"    table: v\n    type: V\n    from: {entity: Usr, column: a}\n    to: {entity: User, column: b}\n",
         "t.yaml:8: relationship \"Vote\": from entity \"Usr\" is not a mapped node entity (did you mean \"User\"?)"},
        {"    table: v\n    type: V\n    from: {column: a}\n    to: {entity: User, column: b}\n",
         "t.yaml:8: from of relationship \"Vote\" needs an entity"},
        {"    table: v\n    type: V\n    from: {entity: User}\n    to: {entity: User, column: b}\n",
         "from of relationship \"Vote\" needs a column"},
        {"    table: v\n    type: V\n    from: {entity: User, column: a}\n    to: {entity: User, colum: b}\n",
         "t.yaml:9: unknown key \"colum\" in to of relationship \"Vote\" (did you mean \"column\"?)"},
        {"    table: v\n    type: V\n    labels: [X]\n    from: {entity: User, column: a}\n    to: {entity: User, column: b}\n",
         "t.yaml:8: unknown key \"labels\" in relationship \"Vote\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(buf, sizeof(buf), "%s%s", pre, cases[i].body);
        m_bad(buf, cases[i].want);
    }
    m_bad(MINI "relationships: [a]\n", "t.yaml:4: relationships must be a map");
    m_bad("entities:\n  User:\n    table: u\n    relationships:\n      - {type: X, column: c, to: V}\n"
          "relationships:\n  V:\n    table: v\n    type: T\n    from: {entity: User, column: a}\n"
          "    to: {entity: User, column: b}\n",
          "t.yaml:5: entity \"User\": relationship X targets \"V\", a join-table relationship, not a node entity");
    /* a join-table relationship cannot be the end of another */
    m_bad(MINI "relationships:\n  V:\n    table: v\n    type: T\n    from: {entity: User, column: a}\n"
               "    to: {entity: User, column: b}\n  W:\n    table: w\n    type: T\n"
               "    from: {entity: V, column: a}\n    to: {entity: User, column: b}\n",
          "from entity \"V\" is not a mapped node entity");
    m_bad(MINI "relationships:\n  User:\n    table: v\n    type: T\n    from: {entity: User, column: a}\n"
               "    to: {entity: User, column: b}\n",
          "t.yaml:5: the name \"User\" is used twice (line 2)");
    m_bad("entities:\n  A:\n    table: a\n  B:\n    table: b\n    labels: [A]\n",
          "t.yaml:6: entity \"B\": primary label \"A\" is already the primary label of entity \"A\"");
}

static void test_sync_errors(void **state)
{
    (void)state;
    m_bad("sync: {batchSizeLimit: 0}\n" MINI, "t.yaml:1: batchSizeLimit must be an integer between 1 and 1000000, not \"0\"");
    m_bad("sync: {syncIntervalMs: 12abc}\n" MINI, "syncIntervalMs must be an integer");
    m_bad("sync: {maxAttempts: 99999999999999999999}\n" MINI, "maxAttempts must be an integer");
    m_bad("sync: {enableAutoSync: maybe}\n" MINI, "t.yaml:1: enableAutoSync must be true or false, not \"maybe\"");
    m_bad("sync: {backoffBaseMs: 500, backoffCapMs: 100}\n" MINI, "backoffCapMs (100) is smaller than backoffBaseMs (500)");
    m_bad("sync: [1]\n" MINI, "t.yaml:1: sync must be a map, not a list");
    m_bad("source: {conninfo: a, url: b}\n" MINI, "source has both conninfo and url");
    m_bad("source: {schema: ''}\n" MINI, "source schema must not be empty");
    m_bad("target: {password: a, password_file: /x}\n" MINI, "target has both password and password_file");
    m_bad("target: {password_file: /nonexistent/p2n-pw}\n" MINI, "t.yaml:1: could not open password file \"/nonexistent/p2n-pw\"");
    m_bad("target: {uri: ''}\n" MINI, "target uri must not be empty");
    m_bad("target: {password_file: /tmp}\n" MINI, "t.yaml:1: password file \"/tmp\" is not a regular file");
}

static const char *pw_file_env;
static const char *pwfile_env(const char *name, void *ctx)
{
    (void)ctx;
    return strcmp(name, "NEO4J_PASSWORD_FILE") == 0 ? pw_file_env : NULL;
}

static void test_password_file(void **state)
{
    (void)state;
    char path[] = "/tmp/p2n-mapping-pw-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "from-file-pw\nsecond line\n", 25), 25);
    close(fd);
    char yaml[300];
    snprintf(yaml, sizeof(yaml), "target: {password_file: '%s'}\n" MINI, path);
    Mapping *m = m_ok(yaml);
    assert_string_equal(m->neo4j_password, "from-file-pw");
    mapping_free(m);
    /* the password is masked in anything shown to users */
    char line[] = "auth failed for from-file-pw!";
    p2n_log_redact(line);
    assert_null(strstr(line, "from-file-pw"));
    /* NEO4J_PASSWORD_FILE when the mapping names no password (and NEO4J_PASSWORD is unset) */
    pw_file_env = path;
    Mapping *m2 = NULL;
    P2nErr err;
    assert_int_equal(mapping_load_string(MINI, strlen(MINI), "t.yaml", pwfile_env, NULL, &m2, NULL, &err), 0);
    assert_string_equal(m2->neo4j_password, "from-file-pw");
    mapping_free(m2);
    pw_file_env = "/nonexistent/pw";
    assert_int_equal(mapping_load_string(MINI, strlen(MINI), "t.yaml", pwfile_env, NULL, &m2, NULL, &err), P2N_ECONFIG);
    assert_non_null(strstr(err.msg, "could not open password file \"/nonexistent/pw\""));
    pw_file_env = NULL;
    fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    close(fd);
    snprintf(yaml, sizeof(yaml), "target: {password_file: '%s'}\n" MINI, path);
    m_bad(yaml, "is empty");
    unlink(path);
}

static void test_collects_all_errors(void **state)
{
    (void)state;
    size_t n = m_bad("entities:\n  A:\n    tabel: a\n  B:\n    table: b\n    labls: [x]\n"
                     "sync: {maxAttempts: 0}\n",
                     "t.yaml:6: unknown key \"labls\"");
    assert_true(n >= 3);
}

static void test_files(void **state)
{
    (void)state;
    Mapping *m = NULL;
    P2nErr err;
    assert_int_equal(mapping_load_file("/nonexistent/m.yaml", env_fn, NULL, &m, NULL, &err), P2N_ECONFIG);
    assert_non_null(strstr(err.msg, "could not open mapping file \"/nonexistent/m.yaml\""));
    char path[] = "/tmp/p2n-mapping-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, MINI, strlen(MINI)), (ssize_t)strlen(MINI));
    close(fd);
    assert_int_equal(mapping_load_file(path, env_fn, NULL, &m, NULL, &err), 0);
    assert_string_equal(m->path, path);
    mapping_free(m);
    /* too large */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (size_t i = 0; i < MAPPING_MAX_FILE_SIZE / 16 + 2; i++)
        fputs("# padding ......\n", f);
    fclose(f);
    assert_int_equal(mapping_load_file(path, env_fn, NULL, &m, NULL, &err), P2N_ECONFIG);
    assert_non_null(strstr(err.msg, "is larger than"));
    unlink(path);
}

static void test_closest_and_edit_distance(void **state)
{
    (void)state;
    assert_int_equal(mapping_edit_distance("kitten", "sitting"), 3);
    assert_int_equal(mapping_edit_distance("", "abc"), 3);
    assert_int_equal(mapping_edit_distance("same", "same"), 0);
    const char *c[] = {"users", "bills", "sponsors"};
    assert_string_equal(mapping_closest("user", c, 3), "users");
    assert_string_equal(mapping_closest("sponsers", c, 3), "sponsors");
    assert_null(mapping_closest("zzzzzzzzzz", c, 3));
    assert_null(mapping_closest("x", c, 0));
    assert_int_equal(mapping_conv_parse("localdatetime"), MAPPING_CONV_LOCALDATETIME);
    assert_int_equal(mapping_conv_parse("nope"), -1);
    assert_string_equal(mapping_conv_name(MAPPING_CONV_BYTES), "bytes");
    assert_null(mapping_conv_name((MappingConv)99));
}

static void test_aliases_and_hostile_yaml(void **state)
{
    (void)state;
    /* anchors and aliases work; a self-referencing alias is rejected, not looped on */
    Mapping *m = m_ok("entities:\n  U:\n    table: u\n    exclude: &ex [a, b]\n  V:\n    table: v\n    exclude: *ex\n");
    assert_int_equal(m->entities[1].nexclude, 2);
    assert_string_equal(m->entities[1].exclude[1].s, "b");
    mapping_free(m);
    m_bad("entities:\n  U: &a\n    table: u\n    relationships: [*a]\n", "t.yaml:");
    m_bad("entities:\n  U:\n    table: u\n    labels: [[a]]\n", "labels must be a scalar, not a list");
}

/* Issue 18, minor: a swapped pair of letters suggests the key it came from; invalid UTF-8 is
 * reported at its own line; two entities on one table are refused (one trigger set per table:
 * the second entity's triggers replaced the first's, which was then never captured); a name that
 * cannot be a Neo4j name (invalid UTF-8 from an environment variable) is refused. */
static const char *const bad_env[] = {"BADLABEL", "L\xC3(", "GOOD", "G\\u0060ood", NULL};

static const char *bad_env_fn(const char *name, void *ctx)
{
    (void)ctx;
    for (size_t i = 0; bad_env[i]; i += 2)
        if (strcmp(bad_env[i], name) == 0)
            return bad_env[i + 1];
    return NULL;
}

static void test_issue18_load(void **state)
{
    (void)state;
    m_bad("entities:\n  User:\n    table: users\n    lables: [U]\n",
          "t.yaml:4: unknown key \"lables\" in entity \"User\" (did you mean \"labels\"?)");
    m_bad("entities:\n  User:\n    tabel: users\n", "(did you mean \"table\"?)");
    m_bad("entities:\n  User:\n    table: users\n    relationships:\n      - {tpye: A, column: b, to: User}\n",
          "(did you mean \"type\"?)");
    m_bad("entities:\n  User:\n    table: users\n    exlcude: [a]\n", "(did you mean \"exclude\"?)");
    assert_int_equal(mapping_edit_distance("lables", "labels"), 1);
    assert_int_equal(mapping_edit_distance("lables", "table"), 2);

    /* invalid UTF-8: the line and column of the first bad byte */
    m_bad("entities:\n  User:\n    table: users\n    labels: [Us\xFF" "er]\n",
          "t.yaml:4: the file is not valid UTF-8 (byte 0xFF at column 16)");
    m_bad("entities:\r\n  User:\r\n    table: us\xC3\n", "t.yaml:3: the file is not valid UTF-8 (byte 0xC3 at column 14)");

    /* two entities, or an entity and a join-table relationship, on one table */
    m_bad("entities:\n  A:\n    table: t\n  B:\n    table: t\n    labels: [B]\n",
          "t.yaml:5: entity \"B\": table \"public.t\" is already mapped by entity \"A\" (line 3)");
    m_bad("source: {schema: s}\nentities:\n  A:\n    table: t\n  B:\n    table: t\n    schema: s\n",
          "t.yaml:6: entity \"B\": table \"s.t\" is already mapped by entity \"A\" (line 4)");
    m_bad("entities:\n  A:\n    table: t\nrelationships:\n  R:\n    table: t\n    type: R\n"
          "    from: {entity: A, column: a}\n    to: {entity: A, column: b}\n",
          "t.yaml:6: relationship \"R\": table \"public.t\" is already mapped by entity \"A\" (line 3)");
    Mapping *m = m_ok("entities:\n  A:\n    table: t\n  B:\n    table: t\n    schema: other\n");
    mapping_free(m);

    /* Neo4j names: valid UTF-8 after ${VAR} expansion; anything else is kept as it is */
    Mapping *bm = NULL;
    MappingDiags d = {0};
    P2nErr err;
    const char *y = "entities:\n  A:\n    table: t\n    labels: ['${BADLABEL}']\n";
    assert_int_equal(mapping_load_string(y, strlen(y), "t.yaml", bad_env_fn, NULL, &bm, &d, &err), P2N_ECONFIG);
    assert_non_null(strstr(err.msg, "t.yaml:4: entity \"A\": label cannot be a Neo4j name: it is not valid UTF-8 (byte 0xC3 at offset 1)"));
    mapping_diags_free(&d);
    static const char *const where[] = {
        "entities:\n  A:\n    table: t\n    relationships:\n      - {type: '${BADLABEL}', column: c, to: A}\n",
        "entities:\n  A:\n    table: t\n    relationships:\n      - {type: T, column: c, value: {label: '${BADLABEL}'}}\n",
        "entities:\n  A:\n    table: t\n    relationships:\n      - {type: T, column: c, value: {label: V, property: '${BADLABEL}'}}\n",
        "entities:\n  A:\n    table: t\n    rename: {c: '${BADLABEL}'}\n",
        "entities:\n  A:\n    table: t\nrelationships:\n  R:\n    table: r\n    type: '${BADLABEL}'\n"
        "    from: {entity: A, column: a}\n    to: {entity: A, column: b}\n",
    };
    for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
        bm = NULL;
        assert_int_equal(mapping_load_string(where[i], strlen(where[i]), "t.yaml", bad_env_fn, NULL, &bm, &d, &err),
                         P2N_ECONFIG);
        assert_non_null(strstr(err.msg, "cannot be a Neo4j name: it is not valid UTF-8"));
        assert_true(strstr(err.msg, "entity \"A\"") != NULL || strstr(err.msg, "relationship \"R\"") != NULL);
        mapping_diags_free(&d);
    }
    y = "entities:\n  A:\n    table: t\n    labels: ['${GOOD}', 'x\\u0060 y']\n";
    assert_int_equal(mapping_load_string(y, strlen(y), "t.yaml", bad_env_fn, NULL, &bm, &d, &err), 0);
    assert_string_equal(bm->entities[0].labels[0].s, "G\\u0060ood");
    assert_string_equal(bm->entities[0].labels[1].s, "x\\u0060 y");
    mapping_free(bm);
    mapping_diags_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_defaults),
        cmocka_unit_test(test_no_env_defaults),
        cmocka_unit_test(test_full_settings),
        cmocka_unit_test(test_env_expansion),
        cmocka_unit_test(test_yaml_syntax),
        cmocka_unit_test(test_unknown_keys_suggest),
        cmocka_unit_test(test_structure_errors),
        cmocka_unit_test(test_delete_when),
        cmocka_unit_test(test_relationship_errors),
        cmocka_unit_test(test_link_errors),
        cmocka_unit_test(test_sync_errors),
        cmocka_unit_test(test_password_file),
        cmocka_unit_test(test_collects_all_errors),
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_closest_and_edit_distance),
        cmocka_unit_test(test_aliases_and_hostile_yaml),
        cmocka_unit_test(test_issue18_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
