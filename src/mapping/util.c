/* Mapping helpers: diagnostics, "did you mean" (edit distance), conversion names, quoting (the one
 * Cypher identifier escaper every generated statement goes through), UTF-8 checks. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mapping/mapping.h"

void mapping_diags_free(MappingDiags *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->n; i++)
        free(d->msgs[i]);
    free(d->msgs);
    d->msgs = NULL;
    d->n = d->cap = 0;
}

void mapping_diags_add(MappingDiags *d, const char *fmt, ...)
{
    if (d == NULL)
        return;
    if (d->n == d->cap) {
        size_t nc = d->cap ? d->cap * 2 : 8;
        char **nm = realloc(d->msgs, nc * sizeof(*nm));
        if (nm == NULL)
            return;
        d->msgs = nm;
        d->cap = nc;
    }
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    char *s = strdup(tmp);
    if (s != NULL)
        d->msgs[d->n++] = s;
}

unsigned mapping_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 254 || lb > 254)
        return 255;
    /* three rows: two back for a transposition ("lables" -> "labels" is 1, not 2) */
    unsigned prev2[256], prev[256], cur[256];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = (unsigned)j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = (unsigned)i;
        for (size_t j = 1; j <= lb; j++) {
            unsigned cost = a[i - 1] == b[j - 1] ? 0u : 1u;
            unsigned v = prev[j - 1] + cost;
            if (prev[j] + 1 < v)
                v = prev[j] + 1;
            if (cur[j - 1] + 1 < v)
                v = cur[j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && prev2[j - 2] + 1 < v)
                v = prev2[j - 2] + 1;
            cur[j] = v;
        }
        memcpy(prev2, prev, (lb + 1) * sizeof(unsigned));
        memcpy(prev, cur, (lb + 1) * sizeof(unsigned));
    }
    return prev[lb] > 255 ? 255 : prev[lb];
}

static void lower_copy(char *dst, size_t cap, const char *src)
{
    size_t i = 0;
    for (; src[i] && i + 1 < cap; i++)
        dst[i] = (char)((src[i] >= 'A' && src[i] <= 'Z') ? src[i] + 32 : src[i]);
    dst[i] = '\0';
}

const char *mapping_closest(const char *s, const char *const *cands, size_t n)
{
    const char *best = NULL;
    unsigned bestd = 256;
    char ls[256], lc[256];
    lower_copy(ls, sizeof(ls), s);
    for (size_t i = 0; i < n; i++) {
        if (cands[i] == NULL)
            continue;
        lower_copy(lc, sizeof(lc), cands[i]);
        unsigned d = mapping_edit_distance(ls, lc);
        /* a tie goes to the candidate with the same first letter */
        if (d < bestd || (d == bestd && best != NULL && lc[0] == ls[0] &&
                          (best[0] | 0x20) != (ls[0] | 0x20))) {
            bestd = d;
            best = cands[i];
        }
    }
    if (best == NULL)
        return NULL;
    size_t len = strlen(s);
    unsigned limit = len <= 3 ? 1u : (len <= 6 ? 2u : (unsigned)(len / 3 + 1));
    if (bestd <= limit)
        return best;
    /* a truncated or extended name ("batchSize" for "batchSizeLimit") */
    if (len >= 3) {
        for (size_t i = 0; i < n; i++) {
            if (cands[i] == NULL)
                continue;
            lower_copy(lc, sizeof(lc), cands[i]);
            size_t lcl = strlen(lc);
            if (strncmp(ls, lc, lcl < len ? lcl : len) == 0 && (lcl < len ? lcl : len) >= 3)
                return cands[i];
        }
    }
    return NULL;
}

static const char *const conv_names[] = {
    "auto", "int", "float", "bool", "string", "datetime", "localdatetime", "date", "map", "bytes",
};

const char *mapping_conv_name(MappingConv c)
{
    if ((unsigned)c >= sizeof(conv_names) / sizeof(conv_names[0]))
        return NULL;
    return conv_names[c];
}

int mapping_conv_parse(const char *s)
{
    for (size_t i = 0; i < sizeof(conv_names) / sizeof(conv_names[0]); i++)
        if (strcmp(s, conv_names[i]) == 0)
            return (int)i;
    return -1;
}

size_t mapping_utf8_seq(const char *s, size_t avail)
{
    const uint8_t *p = (const uint8_t *)s;
    if (avail == 0)
        return 0;
    if (p[0] < 0x80)
        return 1;
    size_t n;
    uint32_t cp;
    if (p[0] >= 0xC2 && p[0] <= 0xDF) { /* 0xC0 and 0xC1 only start overlong forms */
        n = 2;
        cp = p[0] & 0x1Fu;
    } else if ((p[0] & 0xF0) == 0xE0) {
        n = 3;
        cp = p[0] & 0x0Fu;
    } else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
        n = 4;
        cp = p[0] & 0x07u;
    } else {
        return 0;
    }
    if (avail < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3Fu);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

size_t mapping_utf8_invalid_at(const char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        size_t n = mapping_utf8_seq(s + i, len - i);
        if (n == 0)
            return i;
        i += n;
    }
    return SIZE_MAX;
}

const char *mapping_neo4j_name_problem(const char *name, char *buf, size_t size)
{
    if (name == NULL || name[0] == '\0')
        return "is empty";
    size_t len = strlen(name);
    size_t bad = mapping_utf8_invalid_at(name, len);
    if (bad != SIZE_MAX) {
        snprintf(buf, size, "is not valid UTF-8 (byte 0x%02X at offset %zu)", (unsigned)(uint8_t)name[bad], bad);
        return buf;
    }
    return NULL;
}

/* Appends s[0..len) with every byte that does not start a valid UTF-8 sequence written as U+FFFD,
 * and through esc(): esc returns the replacement of an ASCII byte, or NULL to keep it. */
static void append_utf8(P2nBuf *b, const char *s, const char *(*esc)(uint8_t c))
{
    size_t len = strlen(s);
    for (size_t i = 0; i < len;) {
        uint8_t c = (uint8_t)s[i];
        if (c < 0x80) {
            const char *r = esc(c);
            if (r != NULL)
                p2n_buf_append_str(b, r);
            else
                p2n_buf_append_byte(b, c);
            i++;
            continue;
        }
        size_t n = mapping_utf8_seq(s + i, len - i);
        if (n == 0) {
            p2n_buf_append_str(b, "\xEF\xBF\xBD"); /* U+FFFD */
            i++;
        } else {
            p2n_buf_append(b, s + i, n);
            i += n;
        }
    }
}

/* In a backtick-quoted name: a backtick doubled; a backslash as \u005C. Neo4j replaces every
 * \uXXXX of the query text before it tokenizes (inside quoted names too, where a backslash is
 * otherwise an ordinary character), and the backslash such an escape produces escapes nothing:
 * so "\u005C" reads back as one backslash whatever follows, while a raw backslash followed by
 * "u0060" would be read as a backtick that ends the name. */
static const char *ident_esc(uint8_t c)
{
    if (c == '`')
        return "``";
    if (c == '\\')
        return "\\u005C";
    return NULL;
}

void mapping_cypher_ident(P2nBuf *b, const char *name)
{
    p2n_buf_append_byte(b, '`');
    append_utf8(b, name, ident_esc);
    p2n_buf_append_byte(b, '`');
}

/* In a string literal a backslash is an escape character of the lexer as well: "\\" is one
 * backslash there, and it also keeps the \uXXXX pass away from what follows. */
static const char *string_esc(uint8_t c)
{
    switch (c) {
    case '\\': return "\\\\";
    case '\'': return "\\'";
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    default: return NULL;
    }
}

void mapping_cypher_string(P2nBuf *b, const char *s)
{
    p2n_buf_append_byte(b, '\'');
    append_utf8(b, s, string_esc);
    p2n_buf_append_byte(b, '\'');
}

void mapping_sql_ident(P2nBuf *b, const char *name)
{
    p2n_buf_append_byte(b, '"');
    for (const char *p = name; *p; p++) {
        if (*p == '"')
            p2n_buf_append_byte(b, '"');
        p2n_buf_append_byte(b, (uint8_t)*p);
    }
    p2n_buf_append_byte(b, '"');
}

void mapping_ids_param(const char *const *ids, size_t n, P2nBuf *b)
{
    p2n_buf_append_byte(b, '{');
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            p2n_buf_append_byte(b, ',');
        p2n_buf_append_byte(b, '"');
        for (const char *p = ids[i]; *p; p++) {
            if (*p == '"' || *p == '\\')
                p2n_buf_append_byte(b, '\\');
            p2n_buf_append_byte(b, (uint8_t)*p);
        }
        p2n_buf_append_byte(b, '"');
    }
    p2n_buf_append_byte(b, '}');
}

MappingEntity *mapping_entity_find(const Mapping *m, const char *name)
{
    for (size_t i = 0; i < m->nentities; i++)
        if (m->entities[i].name != NULL && strcmp(m->entities[i].name, name) == 0)
            return &m->entities[i];
    return NULL;
}
