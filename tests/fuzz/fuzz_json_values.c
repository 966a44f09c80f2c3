/*
 * Fuzz target: the row encoder's JSON paths on arbitrary bytes (src/mapping/json.c and the
 * json/array conversions of encode.c). The input is a jsonb and a json column under
 * convert: map, and an int8[], float8[], numeric[] (as float) and text[] column. Properties
 * checked, beyond no crash, sanitizer report or leak:
 *   - the scanner's compact text of a valid value is valid, and compacting it again changes
 *     nothing;
 *   - every text the scanner accepts as one JSON value converts under map (no valid document is
 *     refused), and the encoded properties never hold one name twice;
 *   - an encoder error is a clean P2N_EINVAL.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mapping/mapping.h"
#include "mapping/mapping_int.h"
#include "packstream/packstream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static Mapping *g_map;
static MappingCatalog g_cat;

static const char *no_env(const char *name, void *ctx)
{
    (void)name;
    (void)ctx;
    return NULL;
}

static void setup(void)
{
    MappingCatTable *t = mapping_catalog_add_table(&g_cat, "public", "f");
    mapping_catalog_add_column(t, "id", "int8", false, true);
    mapping_catalog_add_column(t, "j", "jsonb", false, false);
    mapping_catalog_add_column(t, "js", "json", false, false);
    mapping_catalog_add_column(t, "ia", "int8", true, false);
    mapping_catalog_add_column(t, "fa", "float8", true, false);
    mapping_catalog_add_column(t, "na", "numeric", true, false);
    mapping_catalog_add_column(t, "ta", "text", true, false);
    mapping_catalog_add_unique(t, (const char *const[]){"id", NULL}, true);
    const char *yaml = "entities:\n  F:\n    table: f\n    convert: {j: map, js: map, na: float}\n";
    P2nErr err;
    if (mapping_load_string(yaml, strlen(yaml), "f.yaml", no_env, NULL, &g_map, NULL, &err) != 0 ||
        mapping_resolve(g_map, &g_cat, NULL, &err) != 0)
        abort();
}

static size_t col(const MappingEntity *e, const char *name)
{
    for (size_t i = 0; i < e->ncols; i++)
        if (strcmp(e->cols[i].column, name) == 0)
            return i;
    abort();
}

/* Encodes the text as one column; returns the encoder's code, checking the result. */
static int encode_as(const char *column, const char *text)
{
    const MappingEntity *e = &g_map->entities[0];
    const char *vals[16] = {"1", "f"};
    vals[2 + col(e, "id")] = "1";
    vals[2 + col(e, column)] = text;
    P2nBuf b;
    p2n_buf_init(&b);
    P2nErr err;
    int rc = mapping_row_encode_values(e, vals, e->ncols + 2, 1, &b, &err);
    if (rc == 0) {
        PsArena arena;
        ps_arena_init(&arena, 0);
        PsValue v;
        size_t used = 0;
        if (ps_decode(&arena, b.data, b.len, NULL, &v, &used, &err) != 0 || used != b.len)
            abort();
        const PsValue *p = ps_map_get(&v, "p");
        if (p == NULL || p->type != PS_MAP)
            abort();
        for (uint32_t i = 0; i < p->u.map.len; i++)
            for (uint32_t k = i + 1; k < p->u.map.len; k++)
                if (p->u.map.entries[i].key_len == p->u.map.entries[k].key_len &&
                    memcmp(p->u.map.entries[i].key, p->u.map.entries[k].key, p->u.map.entries[i].key_len) == 0)
                    abort(); /* a duplicate property name */
        ps_arena_free(&arena);
    } else if (rc != P2N_EINVAL && rc != P2N_ENOMEM) {
        abort();
    }
    p2n_buf_free(&b);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (g_map == NULL)
        setup();
    char *s = malloc(size + 1); /* libpq's values are C strings */
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    const char *end = s + strlen(s);
    P2nBuf c1, c2;
    p2n_buf_init(&c1);
    p2n_buf_init(&c2);
    const char *q = mj_skip(mj_ws(s, end), end, &c1);
    bool valid = q != NULL && mj_ws(q, end) == end;
    if (q != NULL && !c1.failed) {
        const char *ce = (const char *)c1.data + c1.len;
        const char *q2 = mj_skip((const char *)c1.data, ce, &c2);
        if (q2 != ce || c2.len != c1.len || memcmp(c1.data, c2.data, c1.len) != 0)
            abort(); /* compact text must be valid and stable */
    }
    p2n_buf_free(&c1);
    p2n_buf_free(&c2);
    int rj = encode_as("j", s);
    int rjs = encode_as("js", s);
    if (valid && (rj != 0 || rjs != 0))
        abort(); /* a valid JSON document was refused */
    (void)encode_as("ia", s);
    (void)encode_as("fa", s);
    (void)encode_as("na", s);
    (void)encode_as("ta", s);
    free(s);
    return 0;
}
