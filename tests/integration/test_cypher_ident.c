/*
 * Round trip of names through the real Neo4j (NEO4J_URI, NEO4J_USER, NEO4J_PASSWORD): labels,
 * property keys and relationship types created from mapping_cypher_ident() must read back
 * byte-identical through labels(n), keys(n) and type(r). The tricky names of
 * tests/support/cypher_model.h, then 200 random ones built from the characters that
 * matter (backslash, u, hex digits, backticks, quotes, newlines, multi-byte UTF-8) — the escaper
 * fuzzed against the real parser. Invalid UTF-8 must give one name with U+FFFD, never a syntax
 * error or anything else run. Also checks the model of the parser that the unit test and the
 * fuzz target rely on: where the model says an unescaped name breaks out, the server agrees.
 * Nodes carry the label P2nIdentTest and are deleted at the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bolt/bolt.h"
#include "cypher_model.h"
#include "mapping/mapping.h"
#include "packstream/packstream.h"

static BoltConn *g_conn;

static int setup(void **state)
{
    (void)state;
    BoltConfig cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.uri = getenv("NEO4J_URI");
    cfg.user = getenv("NEO4J_USER");
    cfg.password = getenv("NEO4J_PASSWORD");
    if (cfg.uri == NULL || cfg.password == NULL) {
        fprintf(stderr, "NEO4J_URI and NEO4J_PASSWORD must be set (scripts/services env)\n");
        return -1;
    }
    P2nErr err;
    p2n_err_clear(&err);
    if (bolt_conn_open(&cfg, &g_conn, &err) < 0) {
        fprintf(stderr, "could not connect to Neo4j: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (g_conn) {
        P2nErr err;
        (void)bolt_exec(g_conn, "MATCH (n:P2nIdentTest) DETACH DELETE n", NULL, 0, NULL, NULL, &err);
        bolt_conn_close(g_conn);
    }
    return 0;
}

static bool str_is(const PsValue *v, const char *s, size_t n)
{
    return v->type == PS_STRING && v->u.str.len == n && memcmp(v->u.str.data, s, n) == 0;
}

/* Creates (n:P2nIdentTest:`name` {`name`: 1})-[:`name`]->(:P2nIdentTest) and reads back the
 * label, key and type; each must be want[0..wlen). */
static void round_trip(const char *name, const char *want, size_t wlen)
{
    P2nBuf q;
    p2n_buf_init(&q);
    p2n_buf_append_str(&q, "CREATE (n:P2nIdentTest:");
    mapping_cypher_ident(&q, name);
    p2n_buf_append_str(&q, " {");
    mapping_cypher_ident(&q, name);
    p2n_buf_append_str(&q, ": 1})-[r:");
    mapping_cypher_ident(&q, name);
    p2n_buf_append_str(&q, "]->(:P2nIdentTest) RETURN [l IN labels(n) WHERE l <> 'P2nIdentTest'] AS l, keys(n) AS k, "
                           "type(r) AS t, n[");
    mapping_cypher_string(&q, want);
    p2n_buf_append_str(&q, "] AS v");
    p2n_buf_append(&q, "", 1);
    assert_false(q.failed);
    P2nErr err;
    p2n_err_clear(&err);
    if (bolt_run(g_conn, (const char *)q.data, NULL, 0, NULL, &err) < 0)
        fail_msg("name \"%s\": %s\nquery: %s", name, err.msg, (const char *)q.data);
    const PsValue *rec = NULL;
    if (bolt_next(g_conn, &rec, &err) != 1)
        fail_msg("name \"%s\": no row: %s", name, err.msg);
    const PsValue *l = &rec->u.list.items[0], *k = &rec->u.list.items[1], *t = &rec->u.list.items[2],
                  *v = &rec->u.list.items[3];
    if (l->type != PS_LIST || l->u.list.len != 1 || !str_is(&l->u.list.items[0], want, wlen))
        fail_msg("name \"%s\": the label read back differs", name);
    if (k->type != PS_LIST || k->u.list.len != 1 || !str_is(&k->u.list.items[0], want, wlen))
        fail_msg("name \"%s\": the property key read back differs", name);
    if (!str_is(t, want, wlen))
        fail_msg("name \"%s\": the relationship type read back differs", name);
    /* and the string escaper: n['name'] finds the property */
    if (v->type != PS_INT || v->u.i != 1)
        fail_msg("name \"%s\": n[<string literal>] does not find the property", name);
    assert_int_equal(bolt_next(g_conn, &rec, &err), 0);
    p2n_buf_free(&q);
}

static void test_tricky_names(void **state)
{
    (void)state;
    P2nErr err;
    if (bolt_exec(g_conn, "MATCH (n:P2nIdentTest) DETACH DELETE n", NULL, 0, NULL, NULL, &err) < 0)
        fail_msg("cleanup: %s", err.msg);
    static const char *const names[] = {CM_TRICKY_NAMES};
    char why[96];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        assert_null(mapping_neo4j_name_problem(names[i], why, sizeof(why)));
        round_trip(names[i], names[i], strlen(names[i]));
    }
    /* long names: 10,000 characters of escapes and backticks */
    size_t len = 10000;
    char *s = malloc(len + 1);
    assert_non_null(s);
    for (size_t i = 0; i < len; i++)
        s[i] = "\\u0060`"[i % 7];
    s[len] = '\0';
    round_trip(s, s, len);
    free(s);
}

static void test_invalid_utf8_is_contained(void **state)
{
    (void)state;
    /* refused by the check; if one reached the escaper anyway it is one name with U+FFFD */
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"bad\xFF\\u0060", "bad\xEF\xBF\xBD\\u0060"},
        {"\xC1\xA0 overlong backtick", "\xEF\xBF\xBD\xEF\xBF\xBD overlong backtick"},
        {"\xED\xA0\x80 surrogate", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD surrogate"},
    };
    char why[96];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_non_null(mapping_neo4j_name_problem(cases[i].in, why, sizeof(why)));
        round_trip(cases[i].in, cases[i].out, strlen(cases[i].out));
    }
}

/* xorshift: the same names every run */
static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static unsigned rnd(unsigned n)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (unsigned)(g_rng % n);
}

static void test_random_names(void **state)
{
    (void)state;
    static const char *const pieces[] = {"\\", "\\\\", "u", "\\u", "0060", "005C", "+060", "`", "``", "'", "\"",
                                         "\n", "\r", " ", "//", "/*", "*/", "(", ")", "{", "}", ":", ",", "$",
                                         "a", "Z", "9", "é", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "\xC2\x85",
                                         "\xE2\x80\x8B", "\x01", "\t", "MATCH", "DETACH DELETE"};
    const size_t np = sizeof(pieces) / sizeof(pieces[0]);
    char name[256];
    for (int round = 0; round < 200; round++) {
        size_t len = 0;
        unsigned n = 1 + rnd(12);
        for (unsigned k = 0; k < n; k++) {
            const char *p = pieces[rnd((unsigned)np)];
            size_t pl = strlen(p);
            if (len + pl >= sizeof(name))
                break;
            memcpy(name + len, p, pl);
            len += pl;
        }
        name[len] = '\0';
        round_trip(name, name, len);
    }
}

/* The model agrees with the server: a name quoted the old way (backticks doubled, nothing
 * else) that the model reads as something other than one name is not read as that name by
 * Neo4j either (a syntax error, or another column name). */
static void test_model_matches_server(void **state)
{
    (void)state;
    static const char *const names[] = {"\\u0060", "a\\u0060b", "\\\\u0060", "\\\\\\u0060x", "\\u+060", "\\user",
                                        "\\u0041", "plain", "\\", "\\\\"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        P2nBuf q, id;
        p2n_buf_init(&q);
        p2n_buf_init(&id);
        p2n_buf_append_byte(&id, '`');
        for (const char *p = names[i]; *p; p++) {
            if (*p == '`')
                p2n_buf_append_byte(&id, '`');
            p2n_buf_append_byte(&id, (uint8_t)*p);
        }
        p2n_buf_append_byte(&id, '`');
        char *model = NULL;
        size_t mlen = 0;
        int mrc = cm_read_ident((const char *)id.data, id.len, &model, &mlen);
        p2n_buf_append_str(&q, "RETURN 1 AS ");
        p2n_buf_append(&q, id.data, id.len);
        p2n_buf_append(&q, "", 1);
        P2nErr err;
        p2n_err_clear(&err);
        int rc = bolt_run(g_conn, (const char *)q.data, NULL, 0, NULL, &err);
        size_t nf = 0;
        const char *const *f = rc == 0 ? bolt_fields(g_conn, &nf) : NULL;
        bool server_same = rc == 0 && nf == 1 && strcmp(f[0], names[i]) == 0;
        if (rc == 0)
            assert_int_equal(bolt_discard(g_conn, &err), 0);
        else
            assert_int_equal(bolt_reset(g_conn, &err), 0);
        if (mrc == CM_OK) {
            /* the model read one name: the server reads the same one */
            if (rc != 0 || nf != 1 || strlen(f[0]) != mlen || memcmp(f[0], model, mlen) != 0)
                fail_msg("\"%s\": the model reads \"%s\", the server %s", names[i], model,
                         rc == 0 ? f[0] : err.msg);
        } else if (server_same) {
            fail_msg("\"%s\": the model says it breaks out (%d), the server read it as written", names[i], mrc);
        }
        free(model);
        p2n_buf_free(&q);
        p2n_buf_free(&id);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tricky_names),
        cmocka_unit_test(test_invalid_utf8_is_contained),
        cmocka_unit_test(test_random_names),
        cmocka_unit_test(test_model_matches_server),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
