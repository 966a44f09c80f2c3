/*
 * A model of how Neo4j 5.26 reads a backtick-quoted name and a single-quoted string literal, for
 * the tests of mapping_cypher_ident() / mapping_cypher_string() (tests/unit/test_cypher_ident.c
 * and tests/fuzz/fuzz_cypher_ident.c; header-only, so the fuzz target needs no test library).
 *
 * What Neo4j does (5.26, org.neo4j.cypher.internal.parser.lexer.UnicodeEscapeReplacementReader,
 * the JavaCC parser's CypherCharStream likewise), checked against the real server by
 * tests/integration/test_cypher_ident.c:
 *   1. Before the lexer sees anything, the WHOLE query text goes through an escape pass: a
 *      backslash that is not itself escaped by a backslash just before it, followed by 'u', and
 *      the next four characters are replaced by the UTF-16 unit those four hex characters give
 *      (through Java's Integer.parseInt(_, 16), which also takes a sign: "\u+060" is a backtick
 *      too); anything else after "\u" fails the whole query. The unit so produced never escapes
 *      what follows. This happens inside quoted names and strings as well: "\u0060" in a
 *      backtick-quoted name IS a backtick, and ends the name.
 *   2. The lexer: a quoted name is '`' ( ~'`' | '``' )* '`' (a backslash is an ordinary
 *      character there); a string is '\'' ( ~['\\] | '\\' . )* '\'' with the escapes
 *      \\ \' \" \n \r \t \b \f \uXXXX \UXXXXXXXX.
 * The model is deliberately stricter than Neo4j in one place: any "\u" in step 1 that is not
 * followed by four ASCII hex digits makes it give up (CM_UNSAFE), since what Java would make of
 * it (a sign, a full-width digit) is not worth modelling: a safe escaper never emits one.
 */
#ifndef P2N_TEST_CYPHER_MODEL_H
#define P2N_TEST_CYPHER_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CM_OK 0
#define CM_SYNTAX (-1) /* not exactly one quoted name / string: something is left after it */
#define CM_UNSAFE (-2) /* a \u escape the model does not decode */

/* RFC 3629 UTF-8 (no overlong forms, no surrogates, at most U+10FFFF), written independently of
   src/mapping/util.c so that the two check each other. */
static inline bool cm_utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) {
            need = 1, cp = c & 0x1Fu, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            need = 2, cp = c & 0x0Fu, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            need = 3, cp = c & 0x07u, min = 0x10000;
        } else {
            return false;
        }
        if (n - i - 1 < need)
            return false;
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3Fu);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += need + 1;
    }
    return true;
}

static inline int cm_hex(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Appends code unit u as UTF-8 (a lone surrogate as its three-byte form, which is not valid
   UTF-8: a comparison with the input then fails, as it should). */
static inline size_t cm_put_utf8(uint8_t *o, uint32_t u)
{
    if (u < 0x80) {
        o[0] = (uint8_t)u;
        return 1;
    }
    if (u < 0x800) {
        o[0] = (uint8_t)(0xC0 | (u >> 6));
        o[1] = (uint8_t)(0x80 | (u & 0x3F));
        return 2;
    }
    if (u < 0x10000) {
        o[0] = (uint8_t)(0xE0 | (u >> 12));
        o[1] = (uint8_t)(0x80 | ((u >> 6) & 0x3F));
        o[2] = (uint8_t)(0x80 | (u & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | (u >> 18));
    o[1] = (uint8_t)(0x80 | ((u >> 12) & 0x3F));
    o[2] = (uint8_t)(0x80 | ((u >> 6) & 0x3F));
    o[3] = (uint8_t)(0x80 | (u & 0x3F));
    return 4;
}

/* Step 1 on q[0..n): *out (malloc, at most n bytes + 1) and its length. */
static inline int cm_unescape(const uint8_t *q, size_t n, uint8_t **out, size_t *olen)
{
    uint8_t *o = malloc(n + 1);
    if (o == NULL)
        abort();
    size_t j = 0;
    bool escaped = false;
    for (size_t i = 0; i < n;) {
        if (!escaped && q[i] == '\\' && i + 1 < n && q[i + 1] == 'u') {
            if (i + 6 > n) {
                free(o);
                return CM_UNSAFE;
            }
            uint32_t u = 0;
            for (size_t k = 2; k < 6; k++) {
                int h = cm_hex(q[i + k]);
                if (h < 0) {
                    free(o);
                    return CM_UNSAFE;
                }
                u = (u << 4) | (uint32_t)h;
            }
            j += cm_put_utf8(o + j, u); /* at most 3 bytes for the 6 read */
            i += 6;
            escaped = false;
            continue;
        }
        escaped = !escaped && q[i] == '\\';
        o[j++] = q[i++];
    }
    o[j] = '\0';
    *out = o;
    *olen = j;
    return CM_OK;
}

/* The name Neo4j reads from q[0..n), which must be exactly one backtick-quoted name: *name
   (malloc, NUL-terminated) and its length. */
static inline int cm_read_ident(const char *q, size_t n, char **name, size_t *nlen)
{
    uint8_t *t;
    size_t tl;
    int rc = cm_unescape((const uint8_t *)q, n, &t, &tl);
    if (rc != CM_OK)
        return rc;
    if (tl < 2 || t[0] != '`') {
        free(t);
        return CM_SYNTAX;
    }
    char *o = malloc(tl + 1);
    if (o == NULL)
        abort();
    size_t j = 0, i = 1;
    for (;;) {
        if (i >= tl) { /* unterminated */
            free(o);
            free(t);
            return CM_SYNTAX;
        }
        if (t[i] == '`') {
            if (i + 1 < tl && t[i + 1] == '`') {
                o[j++] = '`';
                i += 2;
                continue;
            }
            i++;
            break;
        }
        o[j++] = (char)t[i++];
    }
    free(t);
    if (i != tl) { /* the name ended early: the rest is Cypher */
        free(o);
        return CM_SYNTAX;
    }
    o[j] = '\0';
    *name = o;
    *nlen = j;
    return CM_OK;
}

/* The value Neo4j reads from q[0..n), which must be exactly one single-quoted string literal. */
static inline int cm_read_string(const char *q, size_t n, char **val, size_t *vlen)
{
    uint8_t *t;
    size_t tl;
    int rc = cm_unescape((const uint8_t *)q, n, &t, &tl);
    if (rc != CM_OK)
        return rc;
    if (tl < 2 || t[0] != '\'') {
        free(t);
        return CM_SYNTAX;
    }
    uint8_t *o = malloc(4 * tl + 1);
    if (o == NULL)
        abort();
    size_t j = 0, i = 1;
    bool closed = false;
    while (i < tl) {
        uint8_t c = t[i++];
        if (c == '\'') {
            closed = true;
            break;
        }
        if (c != '\\') {
            o[j++] = c;
            continue;
        }
        if (i >= tl)
            break;
        c = t[i++];
        switch (c) {
        case '\\': o[j++] = '\\'; break;
        case '\'': o[j++] = '\''; break;
        case '"': o[j++] = '"'; break;
        case 'n': o[j++] = '\n'; break;
        case 'r': o[j++] = '\r'; break;
        case 't': o[j++] = '\t'; break;
        case 'b': o[j++] = '\b'; break;
        case 'f': o[j++] = '\f'; break;
        case 'u':
        case 'U': {
            size_t digits = c == 'u' ? 4 : 8;
            uint32_t u = 0;
            for (size_t k = 0; k < digits; k++) {
                int h = i + k < tl ? cm_hex(t[i + k]) : -1;
                if (h < 0) {
                    free(o);
                    free(t);
                    return CM_UNSAFE;
                }
                u = (u << 4) | (uint32_t)h;
            }
            i += digits;
            j += cm_put_utf8(o + j, u > 0x10FFFF ? 0xFFFD : u);
            break;
        }
        default: /* Neo4j refuses an unknown escape */
            free(o);
            free(t);
            return CM_SYNTAX;
        }
    }
    free(t);
    if (!closed || i != tl) {
        free(o);
        return CM_SYNTAX;
    }
    o[j] = '\0';
    *val = (char *)o;
    *vlen = j;
    return CM_OK;
}

/* Names that must round-trip (valid UTF-8, not empty): the initializer of a const char *[]. */
#define CM_TRICKY_NAMES                                                                             \
    "x\\u0060:1})WITH n,r MATCH(v:Victim) DETACH DELETE v//", "\\u0060", "\\\\u0060", "\\\\\\u0060", \
        "\\u+060", "\\uuuu0060", "\\u005C", "\\u005Cu0060", "\\", "\\\\", "a\\b\\nc\\td\\'e\\\"f",    \
        "\\user", "\\u0000", "\\U00000060", "`", "``", "```", "a`b", "`) DETACH DELETE n //",          \
        "x` }) MATCH (v) DETACH DELETE v WITH 1 AS `y", "line\nbreak", "cr\rlf\r\n", "tab\there",    \
        "// not a comment", "/* nor this */", "'single' \"double\"", "{$param}", " ", "  two  ",      \
        "with space", "dash-ed", "dot.ted", "colon:label", "123", "MATCH", "über straße",             \
        "日本語のラベル", "emoji \xF0\x9F\x98\x80", "\xE2\x80\xAE" "rtl override",                     \
        "zero\xE2\x80\x8Bwidth", "\xC2\x85" "nel \xC2\xA0" "nbsp", "\x01\x02\x1B[31mcontrol", "\x7F", \
        "\xEF\xBF\xBF noncharacter \xF4\x8F\xBF\xBF", "e\xCC\x81 (e + combining acute)",               \
        "\xC3\xA9 (precomposed)", "\xEF\xBB\xBF" "bom", "\xE2\x80\xA8" "line separator"

#endif
