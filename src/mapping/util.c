/* Mapping helpers: diagnostics, "did you mean" (Levenshtein), conversion names, quoting. */
#include <stdarg.h>
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

unsigned mapping_levenshtein(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 254 || lb > 254)
        return 255;
    unsigned row[256];
    for (size_t j = 0; j <= lb; j++)
        row[j] = (unsigned)j;
    for (size_t i = 1; i <= la; i++) {
        unsigned diag = row[0];
        row[0] = (unsigned)i;
        for (size_t j = 1; j <= lb; j++) {
            unsigned up = row[j];
            unsigned cost = a[i - 1] == b[j - 1] ? 0u : 1u;
            unsigned v = diag + cost;
            if (up + 1 < v)
                v = up + 1;
            if (row[j - 1] + 1 < v)
                v = row[j - 1] + 1;
            row[j] = v;
            diag = up;
        }
    }
    return row[lb] > 255 ? 255 : row[lb];
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
        unsigned d = mapping_levenshtein(ls, lc);
        if (d < bestd) {
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

void mapping_cypher_ident(P2nBuf *b, const char *name)
{
    p2n_buf_append_byte(b, '`');
    for (const char *p = name; *p; p++) {
        if (*p == '`')
            p2n_buf_append_byte(b, '`');
        p2n_buf_append_byte(b, (uint8_t)*p);
    }
    p2n_buf_append_byte(b, '`');
}

void mapping_cypher_string(P2nBuf *b, const char *s)
{
    p2n_buf_append_byte(b, '\'');
    for (const char *p = s; *p; p++) {
        switch (*p) {
        case '\\': p2n_buf_append_str(b, "\\\\"); break;
        case '\'': p2n_buf_append_str(b, "\\'"); break;
        case '\n': p2n_buf_append_str(b, "\\n"); break;
        case '\r': p2n_buf_append_str(b, "\\r"); break;
        case '\t': p2n_buf_append_str(b, "\\t"); break;
        default: p2n_buf_append_byte(b, (uint8_t)*p); break;
        }
    }
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
