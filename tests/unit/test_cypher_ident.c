/*
 * Unit tests of the Cypher identifier escaper (mapping_cypher_ident), the string-literal escaper
 * (mapping_cypher_string) and the name check (mapping_neo4j_name_problem) with hostile input:
 * backslashes and \u escapes of every parity, backticks, NUL, newlines, very long names, invalid
 * UTF-8. Each output is read back through a model of Neo4j 5.26's reader (tests/support/
 * cypher_model.h, itself checked against the real server by integration/test_cypher_ident): it
 * must be one quoted name, read back byte-identical, and valid UTF-8. The statements the mapping
 * generates for a hostile column are checked the same way.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../support/cypher_model.h"
#include "mapping/mapping.h"

/* The name from the issue: closes the name with \u0060, then runs its own Cypher. */
#define ATTACK "x\\u0060:1})WITH n,r MATCH(v:Victim) DETACH DELETE v//"

static const char *const HOSTILE[] = {CM_TRICKY_NAMES};

/* Invalid UTF-8 (each refused by the check; the escaper still gives one safe, valid name). */
static const char *const INVALID[] = {
    "\x80",                 /* a lone continuation byte */
    "ab\xC3",               /* truncated at the end */
    "\xC3(",                /* a lead byte without its continuation */
    "\xC0\xA0",             /* overlong space */
    "\xC1\xA0",             /* overlong backtick (0x60) */
    "\xE0\x81\xA0",         /* overlong backtick, three bytes */
    "\xF0\x80\x81\xA0",     /* overlong backtick, four bytes */
    "\xED\xA0\x80",         /* a surrogate (CESU-8) */
    "\xF4\x90\x80\x80",     /* above U+10FFFF */
    "\xF5\x80\x80\x80",
    "\xFE\xFF",
    "ok \xFF then \\u0060",
};

/* Escapes s and reads it back through the model; returns the name read (malloc). */
static char *round_trip(const char *s, size_t *outlen)
{
    P2nBuf b;
    p2n_buf_init(&b);
    mapping_cypher_ident(&b, s);
    assert_false(b.failed);
    assert_true(cm_utf8_valid(b.data, b.len));
    assert_null(memchr(b.data, '\0', b.len));
    char *name = NULL;
    int rc = cm_read_ident((const char *)b.data, b.len, &name, outlen);
    if (rc != CM_OK)
        fail_msg("escaped \"%s\" as \"%.*s\": Neo4j would not read one name (%d)", s, (int)b.len,
                 (const char *)b.data, rc);
    p2n_buf_free(&b);
    return name;
}

static void test_hostile_names_round_trip(void **state)
{
    (void)state;
    char buf[128];
    for (size_t i = 0; i < sizeof(HOSTILE) / sizeof(HOSTILE[0]); i++) {
        size_t n;
        char *name = round_trip(HOSTILE[i], &n);
        assert_int_equal(n, strlen(HOSTILE[i]));
        assert_memory_equal(name, HOSTILE[i], n);
        free(name);
        assert_null(mapping_neo4j_name_problem(HOSTILE[i], buf, sizeof(buf)));
    }
}

static void test_exact_output(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"plain", "`plain`"},
        {"a`b", "`a``b`"},
        {"\\u0060", "`\\u005Cu0060`"},
        {"\\", "`\\u005C`"},
        {"a b\nc", "`a b\nc`"},
        {"\xFF" "a", "`\xEF\xBF\xBD" "a`"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        P2nBuf b;
        p2n_buf_init(&b);
        mapping_cypher_ident(&b, cases[i].in);
        p2n_buf_append(&b, "", 1);
        assert_string_equal((const char *)b.data, cases[i].out);
        p2n_buf_free(&b);
    }
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    char buf[128];
    for (size_t i = 0; i < sizeof(INVALID) / sizeof(INVALID[0]); i++) {
        const char *why = mapping_neo4j_name_problem(INVALID[i], buf, sizeof(buf));
        assert_non_null(why);
        assert_non_null(strstr(why, "not valid UTF-8"));
        size_t n;
        char *name = round_trip(INVALID[i], &n); /* still one name, valid UTF-8 */
        assert_true(cm_utf8_valid((const uint8_t *)name, n));
        assert_non_null(strstr(name, "\xEF\xBF\xBD"));
        free(name);
    }
    assert_string_equal(mapping_neo4j_name_problem("ok \xFF", buf, sizeof(buf)),
                        "is not valid UTF-8 (byte 0xFF at offset 3)");
    /* NUL cannot be inside a C string; the empty name is what is left */
    assert_string_equal(mapping_neo4j_name_problem("", buf, sizeof(buf)), "is empty");
    assert_string_equal(mapping_neo4j_name_problem("\0hidden", buf, sizeof(buf)), "is empty");
    assert_int_equal(mapping_utf8_invalid_at("a\0b", 3), SIZE_MAX); /* NUL is valid UTF-8 */
    assert_int_equal(mapping_utf8_invalid_at("ab\xE2\x82", 4), 2);
    assert_int_equal(mapping_utf8_seq("\xE2\x82\xAC", 3), 3);
    assert_int_equal(mapping_utf8_seq("\xE2\x82\xAC", 2), 0);
}

static void test_very_long(void **state)
{
    (void)state;
    size_t len = 200000;
    char *s = malloc(len + 1);
    assert_non_null(s);
    static const char pattern[] = "\\u0060`\\\\u0060\xC3\xA9";
    for (size_t i = 0; i < len; i++)
        s[i] = pattern[i % (sizeof(pattern) - 1)];
    /* do not cut the é in two */
    while (len > 0 && ((uint8_t)s[len - 1] & 0xC0) == 0x80 && (uint8_t)s[len - 1] != 0xA9)
        len--;
    if ((uint8_t)s[len - 1] == 0xC3)
        len--;
    s[len] = '\0';
    size_t n;
    char *name = round_trip(s, &n);
    assert_int_equal(n, len);
    assert_memory_equal(name, s, n);
    free(name);
    free(s);
}

static void test_every_byte_pair(void **state)
{
    (void)state;
    /* every two-byte name and every "\\" + byte + "u0060": one name each, identical when valid */
    char s[8];
    for (unsigned a = 1; a < 256; a++) {
        for (unsigned c = 1; c < 256; c++) {
            s[0] = (char)a, s[1] = (char)c, s[2] = '\0';
            size_t n;
            char *name = round_trip(s, &n);
            if (mapping_utf8_invalid_at(s, 2) == SIZE_MAX) {
                assert_int_equal(n, 2);
                assert_memory_equal(name, s, 2);
            }
            free(name);
        }
        snprintf(s, sizeof(s), "\\%cu0060", (char)a);
        size_t n;
        free(round_trip(s, &n));
    }
}

static void test_string_literal(void **state)
{
    (void)state;
    static const char *const extra[] = {"it's", "back\\slash", "\\\\u0060'", "'; MATCH (n) DETACH DELETE n //"};
    for (size_t i = 0; i < sizeof(HOSTILE) / sizeof(HOSTILE[0]) + 4; i++) {
        const char *in = i < sizeof(HOSTILE) / sizeof(HOSTILE[0]) ? HOSTILE[i] : extra[i - sizeof(HOSTILE) / sizeof(HOSTILE[0])];
        P2nBuf b;
        p2n_buf_init(&b);
        mapping_cypher_string(&b, in);
        assert_true(cm_utf8_valid(b.data, b.len));
        char *v = NULL;
        size_t n = 0;
        int rc = cm_read_string((const char *)b.data, b.len, &v, &n);
        if (rc != CM_OK)
            fail_msg("string \"%s\" escaped as \"%.*s\": not one literal (%d)", in, (int)b.len,
                     (const char *)b.data, rc);
        assert_int_equal(n, strlen(in));
        assert_memory_equal(v, in, n);
        free(v);
        p2n_buf_free(&b);
    }
}

/* ---- the generated statements, for the table ---- */
static const char *no_env(const char *name, void *ctx)
{
    (void)name;
    (void)ctx;
    return NULL;
}

/* Every backtick-quoted name in q (outside string literals), once Neo4j's \u pass has run, must
   be one of names[]: nothing else can have been spliced in. */
static void check_statement(const char *q, const char *const *names, size_t nnames)
{
    uint8_t *t;
    size_t tl;
    int rc = cm_unescape((const uint8_t *)q, strlen(q), &t, &tl);
    if (rc != CM_OK)
        fail_msg("statement has a \\u escape Neo4j would choke on:\n%s", q);
    for (size_t i = 0; i < tl; i++) {
        if (t[i] == '\'') { /* skip a string literal */
            for (i++; i < tl && t[i] != '\''; i++)
                if (t[i] == '\\')
                    i++;
            continue;
        }
        if (t[i] != '`')
            continue;
        size_t j = i + 1;
        char name[512];
        size_t n = 0;
        for (; j < tl; j++) {
            if (t[j] == '`' && j + 1 < tl && t[j + 1] == '`') {
                name[n++] = '`';
                j++;
            } else if (t[j] == '`') {
                break;
            } else if (n + 1 < sizeof(name)) {
                name[n++] = (char)t[j];
            }
        }
        name[n] = '\0';
        bool known = false;
        for (size_t k = 0; k < nnames && !known; k++)
            known = strcmp(name, names[k]) == 0 || strncmp(name, "p2n_", 4) == 0;
        if (!known)
            fail_msg("statement reads name \"%s\", not one of the mapping's:\n%s", name, q);
        i = j;
    }
    free(t);
}

static void test_generated_statements(void **state)
{
    (void)state;
    const char *yaml = "source: {conninfo: x}\n"
                       "entities:\n"
                       "  Inj:\n"
                       "    table: inj\n"
                       "    labels: ['Lab\\u0060) MATCH (v:Victim) DETACH DELETE v //', 'Two\\']\n"
                       "    properties: all\n"
                       "    relationships:\n"
                       "      - {column: tag, type: 'T\\u0060]->() DETACH DELETE v //', value: "
                       "{label: 'V\\\\u0060', property: 'p\\u005C'}}\n";
    Mapping *m = NULL;
    MappingDiags d = {0};
    P2nErr err;
    int rc = mapping_load_string(yaml, strlen(yaml), "t.yaml", no_env, NULL, &m, &d, &err);
    mapping_diags_free(&d);
    if (rc < 0)
        fail_msg("load: %s", err.msg);
    MappingCatalog cat;
    memset(&cat, 0, sizeof(cat));
    MappingCatTable *t = mapping_catalog_add_table(&cat, "public", "inj");
    mapping_catalog_add_column(t, ATTACK, "int4", false, true);
    mapping_catalog_add_column(t, "v\\", "text", false, false);
    mapping_catalog_add_column(t, "tag", "text", false, false);
    mapping_catalog_add_unique(t, (const char *const[]){ATTACK, NULL}, true);
    if (mapping_resolve(m, &cat, &d, &err) < 0)
        fail_msg("resolve: %s", err.msg);
    const char *names[] = {"Lab\\u0060) MATCH (v:Victim) DETACH DELETE v //", "Two\\", ATTACK, "v\\",
                           "T\\u0060]->() DETACH DELETE v //", "V\\\\u0060", "p\\u005C"};
    const MappingEntity *e = &m->entities[0];
    for (size_t i = 0; i < e->plan.nupsert; i++)
        check_statement(e->plan.upsert[i], names, 7);
    check_statement(e->plan.delete_cypher, names, 7);
    for (size_t i = 0; i < e->plan.nschema; i++)
        check_statement(e->plan.schema[i], names, 7);
    mapping_diags_free(&d);
    mapping_catalog_free(&cat);
    mapping_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostile_names_round_trip),
        cmocka_unit_test(test_exact_output),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_very_long),
        cmocka_unit_test(test_every_byte_pair),
        cmocka_unit_test(test_string_literal),
        cmocka_unit_test(test_generated_statements),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
