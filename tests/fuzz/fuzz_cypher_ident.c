/*
 * Fuzz target: the Cypher name escaper (mapping_cypher_ident), the string-literal escaper
 * (mapping_cypher_string) and the name check (mapping_neo4j_name_problem) on arbitrary bytes (a
 * NUL ends the name, as it ends a C string). Each output is read back through the model of
 * Neo4j 5.26's reader in tests/support/cypher_model.h (its \uXXXX pass over the whole query, then
 * the lexer), which integration/test_cypher_ident checks against the real server. Invariants:
 *   - the output is valid UTF-8, holds no NUL, and every backslash in a name starts "\u005C";
 *   - Neo4j reads exactly one quoted name (or string) from it, nothing after it;
 *   - that name is the input byte for byte when the check accepts the input, and the input with
 *     each invalid byte as U+FFFD otherwise;
 *   - the check refuses exactly the empty names and those that are not valid UTF-8.
 * Any violation aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../support/cypher_model.h"
#include "mapping/mapping.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The length of the valid UTF-8 sequence at s[i..n) by the model's own rules, 0 if none. */
static size_t seq_len(const uint8_t *s, size_t i, size_t n)
{
    for (size_t k = 1; k <= 4 && i + k <= n; k++)
        if (cm_utf8_valid(s + i, k))
            return k;
    return 0;
}

/* s with every byte that does not start a valid sequence replaced by U+FFFD (malloc). */
static uint8_t *replaced(const uint8_t *s, size_t n, size_t *outlen)
{
    uint8_t *o = malloc(3 * n + 1);
    if (o == NULL)
        abort();
    size_t j = 0;
    for (size_t i = 0; i < n;) {
        size_t k = seq_len(s, i, n);
        if (k == 0) {
            memcpy(o + j, "\xEF\xBF\xBD", 3);
            j += 3;
            i++;
        } else {
            memcpy(o + j, s + i, k);
            j += k;
            i += k;
        }
    }
    *outlen = j;
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    size_t len = strlen(s);
    bool valid = cm_utf8_valid((const uint8_t *)s, len);

    char why[96];
    const char *problem = mapping_neo4j_name_problem(s, why, sizeof(why));
    if ((problem == NULL) != (len > 0 && valid))
        abort();
    if ((mapping_utf8_invalid_at(s, len) == SIZE_MAX) != valid)
        abort();

    size_t elen;
    uint8_t *expect = replaced((const uint8_t *)s, len, &elen);

    P2nBuf b;
    p2n_buf_init(&b);
    mapping_cypher_ident(&b, s);
    if (b.failed || !cm_utf8_valid(b.data, b.len) || memchr(b.data, '\0', b.len) != NULL)
        abort();
    for (size_t i = 0; i < b.len; i++)
        if (b.data[i] == '\\' && (b.len - i < 6 || memcmp(b.data + i, "\\u005C", 6) != 0))
            abort();
    char *name = NULL;
    size_t nlen = 0;
    if (cm_read_ident((const char *)b.data, b.len, &name, &nlen) != CM_OK)
        abort();
    if (nlen != elen || memcmp(name, expect, elen) != 0)
        abort();
    free(name);

    p2n_buf_reset(&b);
    mapping_cypher_string(&b, s);
    if (b.failed || !cm_utf8_valid(b.data, b.len) || memchr(b.data, '\0', b.len) != NULL)
        abort();
    char *val = NULL;
    size_t vlen = 0;
    if (cm_read_string((const char *)b.data, b.len, &val, &vlen) != CM_OK)
        abort();
    if (vlen != elen || memcmp(val, expect, elen) != 0)
        abort();
    free(val);

    p2n_buf_free(&b);
    free(expect);
    free(s);
    return 0;
}
