/*
 * Fuzz target: the mapping loader on arbitrary bytes, then, when the mapping loads, resolution
 * against a synthetic catalog built from the names the mapping uses (types picked from each
 * name), plan generation, the summary, and the row/id encoders on synthetic rows. Any crash,
 * sanitizer report or leak is a bug; errors are expected and fine.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "mapping/mapping.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *fuzz_env(const char *name, void *ctx)
{
    (void)ctx;
    if (strcmp(name, "HOME") == 0)
        return "/home/fuzz";
    if (strcmp(name, "EMPTY") == 0)
        return "";
    return NULL;
}

static const char *const TYPES[] = {"int4", "int8", "text", "uuid", "bool", "float8", "numeric", "date",
                                    "timestamptz", "timestamp", "jsonb", "json", "bytea", "varchar"};

static const char *type_for(const char *name, bool *is_array)
{
    unsigned h = 5381;
    for (const char *p = name; *p; p++)
        h = h * 33u + (unsigned char)*p;
    *is_array = (h >> 8) % 5 == 0;
    return TYPES[h % (sizeof(TYPES) / sizeof(TYPES[0]))];
}

static void add_col(MappingCatTable *t, const char *name, bool key)
{
    if (name == NULL)
        return;
    for (size_t i = 0; i < t->ncols; i++)
        if (strcmp(t->cols[i].name, name) == 0)
            return;
    bool arr;
    const char *ty = type_for(name, &arr);
    if (key) {
        ty = strlen(name) % 2 ? "int8" : "text";
        arr = false;
    }
    mapping_catalog_add_column(t, name, ty, arr, key);
}

static void build_catalog(const Mapping *m, MappingCatalog *cat)
{
    for (size_t i = 0; i < m->nentities; i++) {
        const MappingEntity *e = &m->entities[i];
        if (e->table == NULL)
            continue;
        const char *schema = e->schema ? e->schema : m->source_schema;
        MappingCatTable *t = NULL;
        for (size_t k = 0; k < cat->ntables; k++)
            if (strcmp(cat->tables[k].schema, schema) == 0 && strcmp(cat->tables[k].name, e->table) == 0)
                t = &cat->tables[k];
        if (t != NULL)
            continue; /* the first entity on a table decides it */
        t = mapping_catalog_add_table(cat, schema, e->table);
        if (t == NULL)
            return;
        const char *keys[9];
        size_t nk = e->nkeys < 8 ? e->nkeys : 8;
        for (size_t k = 0; k < nk; k++) {
            add_col(t, e->keys[k].s, true);
            keys[k] = e->keys[k].s;
        }
        if (nk == 0) {
            add_col(t, "id", true);
            keys[nk++] = "id";
        }
        keys[nk] = NULL;
        mapping_catalog_add_unique(t, keys, true);
        for (size_t k = 0; k < e->ninclude; k++)
            add_col(t, e->include[k].s, false);
        for (size_t k = 0; k < e->nexclude; k++)
            add_col(t, e->exclude[k].s, false);
        for (size_t k = 0; k < e->nrenames; k++)
            add_col(t, e->renames[k].key, false);
        for (size_t k = 0; k < e->nconverts; k++)
            add_col(t, e->converts[k].key, false);
        for (size_t k = 0; k < e->nrels; k++)
            add_col(t, e->rels[k].column, false);
        add_col(t, e->from.column, false);
        add_col(t, e->to.column, false);
    }
}

static const char *value_for(const MappingColumn *c, unsigned salt)
{
    if (c->is_array)
        return salt % 3 == 0 ? "[]" : (c->conv == MAPPING_CONV_INT ? "[1, null, 2]" : "[\"a\", null]");
    switch (c->conv) {
    case MAPPING_CONV_INT:
    case MAPPING_CONV_DATE:
        return salt % 2 ? "-7" : "12";
    case MAPPING_CONV_FLOAT:
        return "1.5";
    case MAPPING_CONV_BOOL:
        return "t";
    case MAPPING_CONV_DATETIME:
    case MAPPING_CONV_LOCALDATETIME:
        return salt % 2 ? "-1.000001" : "1700000000.5";
    case MAPPING_CONV_MAP:
        return "{\"a\": {\"b\": [1, 2]}, \"c\": null}";
    case MAPPING_CONV_BYTES:
        return "00ff";
    default:
        return "text";
    }
}

static void exercise(Mapping *m)
{
    MappingCatalog cat;
    memset(&cat, 0, sizeof(cat));
    build_catalog(m, &cat);
    MappingDiags d = {0};
    P2nErr err;
    if (mapping_resolve(m, &cat, &d, &err) == 0) {
        P2nBuf b;
        p2n_buf_init(&b);
        mapping_summary(m, &b);
        for (size_t i = 0; i < m->nentities; i++) {
            MappingEntity *e = &m->entities[i];
            if (e->plan.read_sql == NULL || e->plan.delete_cypher == NULL)
                abort();
            const char *vals[256];
            size_t n = e->ncols + 2;
            if (n > 256)
                continue;
            vals[0] = e->nkeys == 1 ? "12" : "[\"12\", \"x\"]";
            vals[1] = "f";
            for (size_t c = 0; c < e->ncols; c++)
                vals[2 + c] = value_for(&e->cols[c], (unsigned)c);
            p2n_buf_reset(&b);
            (void)mapping_row_encode_values(e, vals, n, 1, &b, &err);
            p2n_buf_reset(&b);
            (void)mapping_id_encode(e, vals[0], 1, &b, &err);
            p2n_buf_reset(&b);
            mapping_sql_id_expr(e, "NEW", &b);
        }
        p2n_buf_free(&b);
    }
    mapping_diags_free(&d);
    mapping_catalog_free(&cat);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Mapping *m = NULL;
    MappingDiags d = {0};
    P2nErr err;
    if (mapping_load_string((const char *)data, size, "fuzz.yaml", fuzz_env, NULL, &m, &d, &err) == 0) {
        if (m == NULL)
            abort();
        exercise(m);
        mapping_free(m);
    } else if (m != NULL || err.code == 0) {
        abort();
    }
    mapping_diags_free(&d);
    p2n_log_clear_secrets();
    return 0;
}
