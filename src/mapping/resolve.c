/*
 * The mapping against the catalog: reads tables, columns and unique keys from PostgreSQL
 * (read-only), then checks every table, column, type, key and relationship of a loaded mapping,
 * fixes each column's conversion and builds the plans. Errors name file:line, the entity, what is
 * wrong and the closest existing name.
 */
#include <jansson.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/retry.h"
#include "common/time.h"
#include "mapping/mapping.h"
#include "mapping/mapping_int.h"

/* ---- catalog ---- */
MappingCatTable *mapping_catalog_add_table(MappingCatalog *cat, const char *schema, const char *name)
{
    MappingCatTable *nt = realloc(cat->tables, (cat->ntables + 1) * sizeof(*nt));
    if (nt == NULL)
        return NULL;
    cat->tables = nt;
    MappingCatTable *t = &cat->tables[cat->ntables++];
    memset(t, 0, sizeof(*t));
    t->schema = strdup(schema);
    t->name = strdup(name);
    t->pkey = -1;
    return t;
}

MappingCatColumn *mapping_catalog_add_column(MappingCatTable *t, const char *name, const char *type,
                                             bool is_array, bool not_null)
{
    MappingCatColumn *nc = realloc(t->cols, (t->ncols + 1) * sizeof(*nc));
    if (nc == NULL)
        return NULL;
    t->cols = nc;
    MappingCatColumn *c = &t->cols[t->ncols++];
    memset(c, 0, sizeof(*c));
    c->name = strdup(name);
    c->type = strdup(type);
    char sql[300];
    snprintf(sql, sizeof(sql), "%s%s", type, is_array ? "[]" : "");
    c->sql_type = strdup(sql);
    c->is_array = is_array;
    c->not_null = not_null;
    c->max_chars = -1;
    return c;
}

void mapping_catalog_add_unique(MappingCatTable *t, const char *const *cols, bool primary)
{
    size_t n = 0;
    while (cols[n])
        n++;
    char **u = calloc(n + 1, sizeof(*u));
    char ***nu = realloc(t->uniques, (t->nuniques + 1) * sizeof(*nu));
    if (u == NULL || nu == NULL) {
        free(u);
        if (nu)
            t->uniques = nu;
        return;
    }
    for (size_t i = 0; i < n; i++)
        u[i] = strdup(cols[i]);
    t->uniques = nu;
    if (primary)
        t->pkey = (int)t->nuniques;
    t->uniques[t->nuniques++] = u;
}

void mapping_catalog_free(MappingCatalog *cat)
{
    for (size_t i = 0; i < cat->ntables; i++) {
        MappingCatTable *t = &cat->tables[i];
        mapping_catalog_links_free(t);
        for (size_t c = 0; c < t->ncols; c++) {
            free(t->cols[c].name);
            free(t->cols[c].type);
            free(t->cols[c].sql_type);
        }
        free(t->cols);
        for (size_t u = 0; u < t->nuniques; u++) {
            for (char **p = t->uniques[u]; *p; p++)
                free(*p);
            free(t->uniques[u]);
        }
        free(t->uniques);
        free(t->schema);
        free(t->name);
    }
    free(cat->tables);
    cat->tables = NULL;
    cat->ntables = 0;
}

static MappingCatTable *cat_find(const MappingCatalog *cat, const char *schema, const char *name)
{
    for (size_t i = 0; i < cat->ntables; i++)
        if (strcmp(cat->tables[i].schema, schema) == 0 && strcmp(cat->tables[i].name, name) == 0)
            return &cat->tables[i];
    return NULL;
}

static const char *const CAT_COLUMNS_SQL =
    "SELECT n.nspname, c.relname, a.attname, "
    "       CASE WHEN bt.typcategory = 'A' THEN et.typname ELSE bt.typname END, "
    "       format_type(a.atttypid, a.atttypmod), bt.typcategory = 'A', "
    "       COALESCE(et.typtype, bt.typtype) = 'e', a.attnotnull, "
    "       CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END "
    "FROM pg_catalog.pg_class c "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
    "JOIN pg_catalog.pg_type t ON t.oid = a.atttypid "
    "JOIN pg_catalog.pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END "
    "LEFT JOIN pg_catalog.pg_type et ON et.oid = bt.typelem AND bt.typcategory = 'A' "
    "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') "
    "  AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%' "
    "ORDER BY n.nspname, c.relname, a.attnum";

static const char *const CAT_UNIQUES_SQL =
    "SELECT n.nspname, c.relname, i.indisprimary, "
    "       array_to_json(ARRAY(SELECT a.attname FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(num, ord) "
    "                           JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.num "
    "                           WHERE k.ord <= i.indnkeyatts ORDER BY k.ord))::text "
    "FROM pg_catalog.pg_index i "
    "JOIN pg_catalog.pg_class c ON c.oid = i.indrelid "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE i.indisunique AND i.indisvalid AND i.indpred IS NULL AND NOT 0 = ANY(i.indkey::int2[]) "
    "  AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "ORDER BY i.indisprimary DESC, c.relname";

int mapping_catalog_load(struct pg_conn *conn, MappingCatalog *cat, P2nErr *err)
{
    memset(cat, 0, sizeof(*cat));
    PGresult *r = PQexecParams(conn, CAT_COLUMNS_SQL, 0, NULL, NULL, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        p2n_err_set(err, P2N_EPG, "could not read the catalog: %s", PQerrorMessage(conn));
        PQclear(r);
        return P2N_EPG;
    }
    MappingCatTable *t = NULL;
    for (int i = 0; i < PQntuples(r); i++) {
        const char *schema = PQgetvalue(r, i, 0), *table = PQgetvalue(r, i, 1);
        if (t == NULL || strcmp(t->schema, schema) != 0 || strcmp(t->name, table) != 0)
            t = mapping_catalog_add_table(cat, schema, table);
        if (t == NULL)
            break;
        MappingCatColumn *c = mapping_catalog_add_column(t, PQgetvalue(r, i, 2), PQgetvalue(r, i, 3),
                                                         PQgetvalue(r, i, 5)[0] == 't',
                                                         PQgetvalue(r, i, 7)[0] == 't');
        if (c == NULL) {
            t = NULL;
            break;
        }
        c->is_enum = PQgetvalue(r, i, 6)[0] == 't';
        /* varchar(n) and char(n) keep n + 4 in the type modifier */
        long typmod = strtol(PQgetvalue(r, i, 8), NULL, 10);
        if ((strcmp(c->type, "varchar") == 0 || strcmp(c->type, "bpchar") == 0) && typmod >= 4 && typmod < INT32_MAX)
            c->max_chars = (int)(typmod - 4);
        free(c->sql_type);
        c->sql_type = strdup(PQgetvalue(r, i, 4));
    }
    PQclear(r);
    if (t == NULL && cat->ntables > 0) {
        mapping_catalog_free(cat);
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    }
    r = PQexecParams(conn, CAT_UNIQUES_SQL, 0, NULL, NULL, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        p2n_err_set(err, P2N_EPG, "could not read the catalog: %s", PQerrorMessage(conn));
        PQclear(r);
        mapping_catalog_free(cat);
        return P2N_EPG;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        MappingCatTable *ct = cat_find(cat, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
        json_t *arr = json_loads(PQgetvalue(r, i, 3), 0, NULL);
        if (ct && json_is_array(arr) && json_array_size(arr) > 0 && json_array_size(arr) < 64) {
            const char *cols[65];
            size_t n = json_array_size(arr);
            for (size_t k = 0; k < n; k++)
                cols[k] = json_string_value(json_array_get(arr, k));
            cols[n] = NULL;
            bool ok = true;
            for (size_t k = 0; k < n; k++)
                ok = ok && cols[k] != NULL;
            if (ok)
                mapping_catalog_add_unique(ct, cols, PQgetvalue(r, i, 2)[0] == 't' && ct->pkey < 0);
        }
        json_decref(arr);
    }
    PQclear(r);
    return 0;
}

/* ---- resolution ---- */
typedef struct Rs {
    Mapping *m;
    const MappingCatalog *cat;
    MappingDiags *diags;
    size_t nerr;
    char first[900];
} Rs;

static void rerr(Rs *rs, int line, const MappingEntity *e, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void rerr(Rs *rs, int line, const MappingEntity *e, const char *fmt, ...)
{
    char msg[800];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    const char *kind = e->kind == MAPPING_NODE ? "entity" : "relationship";
    mapping_diags_add(rs->diags, "%s:%d: %s \"%s\": %s", rs->m->path, line, kind, e->name, msg);
    if (rs->nerr++ == 0)
        snprintf(rs->first, sizeof(rs->first), "%s:%d: %s \"%s\": %s", rs->m->path, line, kind, e->name, msg);
}

static const char *ent_schema(const Rs *rs, const MappingEntity *e)
{
    return e->schema ? e->schema : rs->m->source_schema;
}

static const MappingCatColumn *col_find(const MappingCatTable *t, const char *name)
{
    for (size_t i = 0; i < t->ncols; i++)
        if (strcmp(t->cols[i].name, name) == 0)
            return &t->cols[i];
    return NULL;
}

/* Looks a column up, reporting it (with the closest existing column) when missing. */
static const MappingCatColumn *col_need(Rs *rs, const MappingEntity *e, const MappingCatTable *t, const char *name,
                                        int line, const char *role)
{
    const MappingCatColumn *c = col_find(t, name);
    if (c)
        return c;
    const char **names = calloc(t->ncols ? t->ncols : 1, sizeof(*names));
    const char *sug = NULL;
    if (names) {
        for (size_t i = 0; i < t->ncols; i++)
            names[i] = t->cols[i].name;
        sug = mapping_closest(name, names, t->ncols);
    }
    if (sug)
        rerr(rs, line, e, "%s column \"%s\" does not exist in table \"%s.%s\" (did you mean \"%s\"?)", role, name,
             t->schema, t->name, sug);
    else
        rerr(rs, line, e, "%s column \"%s\" does not exist in table \"%s.%s\"", role, name, t->schema, t->name);
    free(names);
    return NULL;
}

static bool is_int_type(const char *t)
{
    return strcmp(t, "int2") == 0 || strcmp(t, "int4") == 0 || strcmp(t, "int8") == 0 || strcmp(t, "oid") == 0;
}

static bool is_float_type(const char *t)
{
    return strcmp(t, "float4") == 0 || strcmp(t, "float8") == 0;
}

static bool is_json_type(const char *t)
{
    return strcmp(t, "json") == 0 || strcmp(t, "jsonb") == 0;
}

/* Types a key may have: a default btree equality, and a text form that names one value (see
   common/keyid.h for the id of each). */
static bool key_type_ok(const MappingCatColumn *c)
{
    if (c->is_array)
        return false;
    static const char *const ok[] = {"int2", "int4", "int8", "text", "varchar", "bpchar", "uuid", "name", "citext",
                                     "numeric", "bool", "date", "timestamp", "timestamptz"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (strcmp(c->type, ok[i]) == 0)
            return true;
    return c->is_enum;
}

/* The conversion of a column; reports a conversion the type cannot take. A key's value must stay
   exact: a numeric key is a string (its id text) unless chosen otherwise, never a float. */
static int conv_for(Rs *rs, const MappingEntity *e, const MappingCatColumn *c, const char *explicit_name, int line,
                    bool is_key, MappingConv *out)
{
    const char *t = c->type;
    MappingConv autoc;
    if (is_int_type(t))
        autoc = MAPPING_CONV_INT;
    else if (is_float_type(t))
        autoc = MAPPING_CONV_FLOAT;
    else if (strcmp(t, "bool") == 0)
        autoc = MAPPING_CONV_BOOL;
    else if (c->is_array)
        autoc = MAPPING_CONV_STRING; /* arrays of anything else: lists of their text forms */
    else if (strcmp(t, "timestamptz") == 0)
        autoc = MAPPING_CONV_DATETIME;
    else if (strcmp(t, "timestamp") == 0)
        autoc = MAPPING_CONV_LOCALDATETIME;
    else if (strcmp(t, "date") == 0)
        autoc = MAPPING_CONV_DATE;
    else if (strcmp(t, "bytea") == 0)
        autoc = MAPPING_CONV_BYTES;
    else
        autoc = MAPPING_CONV_STRING;
    if (explicit_name == NULL) {
        if (strcmp(t, "numeric") == 0 && is_key) {
            *out = MAPPING_CONV_STRING;
            return 0;
        }
        if (strcmp(t, "numeric") == 0) {
            rerr(rs, line, e, "column \"%s\" is numeric: choose its conversion explicitly "
                 "(convert: {%s: float} loses precision, {%s: string} keeps it)", c->name, c->name, c->name);
            return -1;
        }
        *out = autoc;
        return 0;
    }
    int want = mapping_conv_parse(explicit_name);
    if (want <= 0)
        return -1; /* already reported by the loader */
    if (is_key && want == MAPPING_CONV_FLOAT) {
        rerr(rs, line, e, "key column \"%s\" cannot convert to float: two keys would become one node when their "
             "floats are equal; keep the key exact (string)", c->name);
        return -1;
    }
    bool ok;
    switch ((MappingConv)want) {
    case MAPPING_CONV_STRING:
        ok = true;
        break;
    case MAPPING_CONV_INT:
        ok = is_int_type(t);
        break;
    case MAPPING_CONV_FLOAT:
        ok = is_int_type(t) || is_float_type(t) || strcmp(t, "numeric") == 0;
        break;
    case MAPPING_CONV_BOOL:
        ok = strcmp(t, "bool") == 0;
        break;
    case MAPPING_CONV_MAP:
        ok = is_json_type(t) && !c->is_array;
        break;
    default: /* temporal and bytes: only their own types */
        ok = !c->is_array && autoc == (MappingConv)want;
        break;
    }
    if (!ok) {
        rerr(rs, line, e, "column \"%s\" has type %s, which cannot convert to %s", c->name, c->sql_type,
             explicit_name);
        return -1;
    }
    *out = (MappingConv)want;
    return 0;
}

static const char *pair_lookup(const MappingPair *a, size_t n, const char *key, int *line)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(a[i].key, key) == 0) {
            if (line)
                *line = a[i].line;
            return a[i].value;
        }
    }
    return NULL;
}

static bool strs_has(const MappingStr *a, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (a[i].s && strcmp(a[i].s, s) == 0)
            return true;
    return false;
}

/* Appends a selected column to e->cols; returns its index or -1. */
static int add_col(Rs *rs, MappingEntity *e, const MappingCatColumn *c, bool property, bool is_key, int line)
{
    MappingColumn *nc = realloc(e->cols, (e->ncols + 1) * sizeof(*nc));
    if (nc == NULL)
        return -1;
    e->cols = nc;
    MappingColumn *col = &e->cols[e->ncols];
    memset(col, 0, sizeof(*col));
    col->column = strdup(c->name);
    col->is_array = c->is_array;
    col->pg_type = strdup(c->type);
    col->sql_type = strdup(c->sql_type);
    col->max_chars = c->max_chars;
    col->key_form = is_key;
    if (property) {
        const char *ren = pair_lookup(e->renames, e->nrenames, c->name, NULL);
        col->property = strdup(ren ? ren : c->name);
        int cline = line;
        const char *cv = pair_lookup(e->converts, e->nconverts, c->name, &cline);
        MappingConv conv = MAPPING_CONV_STRING;
        if (conv_for(rs, e, c, cv, cline, is_key, &conv) == 0)
            col->conv = conv;
    }
    return (int)e->ncols++;
}

/* The target entity's single key column, or NULL (reported). */
static const MappingColumn *target_key(Rs *rs, const MappingEntity *e, const MappingEntity *t, int line)
{
    if (!t->resolved || t->nkeys != 1) {
        if (t->resolved)
            rerr(rs, line, e, "target entity \"%s\" has a composite key; relationships need a single-column key",
                 t->name);
        return NULL;
    }
    return &t->cols[t->key_cols[0]];
}

/* A column that points at an entity's key must have the key's type. */
static void check_ref_type(Rs *rs, MappingEntity *e, int colidx, const MappingEntity *t, int line, const char *what)
{
    const MappingColumn *tk = target_key(rs, e, t, line);
    if (tk == NULL || colidx < 0)
        return;
    MappingColumn *c = &e->cols[colidx];
    bool same = strcmp(c->pg_type, tk->pg_type) == 0 || (is_int_type(c->pg_type) && is_int_type(tk->pg_type));
    if (!same) {
        rerr(rs, line, e, "%s column \"%s\" has type %s but the key \"%s\" of entity \"%s\" has type %s", what,
             c->column, c->sql_type, tk->column, t->name, tk->sql_type);
        return;
    }
    c->conv = tk->conv;
    c->key_form = true; /* the same value as the key's: a numeric's trimmed text, a date's Date... */
}

static void resolve_keys(Rs *rs, MappingEntity *e, const MappingCatTable *t)
{
    if (e->nkeys == 0) {
        if (t->pkey < 0) {
            rerr(rs, e->table_line, e, "table \"%s.%s\" has no primary key; give the key columns with \"key:\"",
                 t->schema, t->name);
            return;
        }
        size_t n = 0;
        while (t->uniques[t->pkey][n])
            n++;
        e->keys = calloc(n, sizeof(*e->keys));
        if (e->keys == NULL)
            return;
        for (size_t i = 0; i < n; i++) {
            e->keys[i].s = strdup(t->uniques[t->pkey][i]);
            e->keys[i].line = e->table_line;
        }
        e->nkeys = n;
        e->key_line = e->table_line;
    }
    e->key_cols = calloc(e->nkeys, sizeof(*e->key_cols));
    if (e->key_cols == NULL)
        return;
    bool ok = true;
    for (size_t i = 0; i < e->nkeys; i++) {
        const MappingCatColumn *c = col_need(rs, e, t, e->keys[i].s, e->keys[i].line, "key");
        if (c == NULL) {
            ok = false;
            continue;
        }
        if (!key_type_ok(c)) {
            rerr(rs, e->keys[i].line, e, "key column \"%s\" has type %s; a key must be an integer, numeric, text, "
                 "uuid, enum, boolean, date, timestamp or timestamptz column", c->name, c->sql_type);
            ok = false;
        }
        if (strs_has(e->exclude, e->nexclude, c->name))
            rerr(rs, e->keys[i].line, e, "key column \"%s\" cannot be excluded", c->name);
        /* a join table's endpoint columns are the relationship's ends, not its properties */
        bool endpoint = e->kind == MAPPING_LINK &&
                        ((e->from.column && strcmp(e->from.column, c->name) == 0) ||
                         (e->to.column && strcmp(e->to.column, c->name) == 0));
        int idx = add_col(rs, e, c, !endpoint, true, e->keys[i].line);
        if (idx >= 0)
            e->key_cols[i] = (size_t)idx;
    }
    if (!ok)
        return;
    /* the key must be unique: a primary key or a unique index with exactly these columns */
    bool unique = false;
    for (size_t u = 0; u < t->nuniques && !unique; u++) {
        size_t n = 0;
        while (t->uniques[u][n])
            n++;
        if (n != e->nkeys)
            continue;
        bool all = true;
        for (size_t k = 0; k < n; k++)
            all = all && strs_has(e->keys, e->nkeys, t->uniques[u][k]);
        unique = all;
    }
    if (!unique) {
        char pk[300] = "";
        if (t->pkey >= 0)
            for (char **p = t->uniques[t->pkey]; *p; p++)
                snprintf(pk + strlen(pk), sizeof(pk) - strlen(pk), "%s%s", pk[0] ? ", " : "", *p);
        if (pk[0])
            rerr(rs, e->key_line, e, "the key is not unique in table \"%s.%s\" (no primary key or unique index on "
                 "exactly these columns); its primary key is (%s)", t->schema, t->name, pk);
        else
            rerr(rs, e->key_line, e, "the key is not unique in table \"%s.%s\" (no primary key or unique index on "
                 "exactly these columns)", t->schema, t->name);
    }
    for (size_t i = 0; unique && i < e->nkeys; i++) {
        const MappingCatColumn *c = col_find(t, e->keys[i].s);
        if (c && !c->not_null)
            rerr(rs, e->keys[i].line, e, "key column \"%s\" may be NULL; declare it NOT NULL", c->name);
    }
}

static void resolve_entity(Rs *rs, MappingEntity *e)
{
    if (e->table == NULL)
        return;
    const char *schema = ent_schema(rs, e);
    const MappingCatTable *t = cat_find(rs->cat, schema, e->table);
    if (t == NULL) {
        const char **names = calloc(rs->cat->ntables ? rs->cat->ntables : 1, sizeof(*names));
        size_t n = 0;
        const char *other = NULL;
        for (size_t i = 0; names && i < rs->cat->ntables; i++) {
            if (strcmp(rs->cat->tables[i].schema, schema) == 0)
                names[n++] = rs->cat->tables[i].name;
            else if (strcmp(rs->cat->tables[i].name, e->table) == 0)
                other = rs->cat->tables[i].schema;
        }
        const char *sug = names ? mapping_closest(e->table, names, n) : NULL;
        if (other)
            rerr(rs, e->table_line, e, "table \"%s.%s\" does not exist (there is one in schema \"%s\": set "
                 "\"schema: %s\")", schema, e->table, other, other);
        else if (sug)
            rerr(rs, e->table_line, e, "table \"%s.%s\" does not exist (did you mean \"%s\"?)", schema, e->table, sug);
        else
            rerr(rs, e->table_line, e, "table \"%s.%s\" does not exist", schema, e->table);
        free(names);
        return;
    }
    size_t err_before = rs->nerr;
    resolve_keys(rs, e, t);
    if (e->key_cols == NULL)
        return;
    /* every column named anywhere must exist */
    for (size_t i = 0; i < e->nexclude; i++)
        col_need(rs, e, t, e->exclude[i].s, e->exclude[i].line, "excluded");
    for (size_t i = 0; i < e->ninclude; i++)
        col_need(rs, e, t, e->include[i].s, e->include[i].line, "property");
    for (size_t i = 0; i < e->nrenames; i++)
        col_need(rs, e, t, e->renames[i].key, e->renames[i].line, "renamed");
    for (size_t i = 0; i < e->nconverts; i++)
        col_need(rs, e, t, e->converts[i].key, e->converts[i].line, "converted");
    /* columns used for relationships are not copied as properties by "all" */
    const char *used[2] = {e->from.column, e->to.column};
    for (size_t i = 0; i < t->ncols; i++) {
        const MappingCatColumn *c = &t->cols[i];
        bool is_key = strs_has(e->keys, e->nkeys, c->name);
        if (is_key)
            continue;
        bool take;
        if (e->props_all) {
            take = !strs_has(e->exclude, e->nexclude, c->name);
            for (size_t r = 0; r < e->nrels && take; r++)
                if (e->rels[r].column && strcmp(e->rels[r].column, c->name) == 0)
                    take = pair_lookup(e->renames, e->nrenames, c->name, NULL) != NULL;
            for (int k = 0; k < 2 && take; k++)
                if (used[k] && strcmp(used[k], c->name) == 0)
                    take = pair_lookup(e->renames, e->nrenames, c->name, NULL) != NULL;
        } else {
            take = false;
        }
        if (take)
            add_col(rs, e, c, true, false, e->table_line);
    }
    for (size_t i = 0; i < e->ninclude; i++) {
        const MappingCatColumn *c = col_find(t, e->include[i].s);
        if (c && !strs_has(e->keys, e->nkeys, c->name))
            add_col(rs, e, c, true, false, e->include[i].line);
    }
    /* renames / converts must apply to a selected property */
    for (size_t i = 0; i < e->nrenames + e->nconverts; i++) {
        const MappingPair *p = i < e->nrenames ? &e->renames[i] : &e->converts[i - e->nrenames];
        if (col_find(t, p->key) == NULL)
            continue;
        bool sel = false;
        for (size_t c = 0; c < e->ncols; c++)
            sel = sel || (e->cols[c].property && strcmp(e->cols[c].column, p->key) == 0);
        if (!sel)
            rerr(rs, p->line, e, "column \"%s\" is %s but is not a property (it is excluded or not listed)", p->key,
                 i < e->nrenames ? "renamed" : "converted");
    }
    /* property names: unique, not reserved */
    for (size_t c = 0; c < e->ncols; c++) {
        if (e->cols[c].property == NULL)
            continue;
        char why[96];
        const char *bad = mapping_neo4j_name_problem(e->cols[c].property, why, sizeof(why));
        if (bad != NULL) {
            if (strcmp(e->cols[c].property, e->cols[c].column) == 0)
                rerr(rs, e->table_line, e, "column \"%s\" cannot be a Neo4j property name: it %s; exclude it or "
                     "rename it", e->cols[c].column, bad);
            else
                rerr(rs, e->table_line, e, "property \"%s\" (column \"%s\") cannot be a Neo4j property name: it %s",
                     e->cols[c].property, e->cols[c].column, bad);
            continue;
        }
        if (strncmp(e->cols[c].property, "_p2n_", 5) == 0)
            rerr(rs, e->table_line, e, "property \"%s\" uses the reserved prefix \"_p2n_\"; rename it",
                 e->cols[c].property);
        for (size_t d = 0; d < c; d++)
            if (e->cols[d].property && strcmp(e->cols[d].property, e->cols[c].property) == 0)
                rerr(rs, e->table_line, e, "two columns (\"%s\", \"%s\") become property \"%s\"", e->cols[d].column,
                     e->cols[c].column, e->cols[c].property);
        /* a `map` column's flattened keys are <property>.<key>: another property under that
           prefix would collide with them (the encoder would then suffix one, see encode.c) */
        for (size_t d = 0; d < e->ncols; d++) {
            const MappingColumn *mc = &e->cols[d];
            if (d == c || mc->property == NULL || mc->conv != MAPPING_CONV_MAP || mc->is_array)
                continue;
            size_t n = strlen(mc->property);
            if (strncmp(e->cols[c].property, mc->property, n) == 0 && e->cols[c].property[n] == '.')
                rerr(rs, e->table_line, e,
                     "property \"%s\" (column \"%s\") can collide with the flattened keys of column \"%s\" "
                     "(convert: map makes \"%s.<key>\" properties); rename one of them",
                     e->cols[c].property, e->cols[c].column, mc->column, mc->property);
        }
    }
    if (rs->nerr == err_before)
        e->resolved = true;
}

/* Relationship columns and ends: after every entity's key is known. */
static void resolve_rels(Rs *rs, MappingEntity *e)
{
    if (!e->resolved)
        return;
    const MappingCatTable *t = cat_find(rs->cat, ent_schema(rs, e), e->table);
    size_t err_before = rs->nerr;
    for (size_t r = 0; r < e->nrels; r++) {
        MappingRel *rel = &e->rels[r];
        if (rel->column == NULL)
            continue;
        const MappingCatColumn *c = col_need(rs, e, t, rel->column, rel->column_line, "relationship");
        if (c == NULL)
            continue;
        rel->col = add_col(rs, e, c, false, false, rel->column_line);
        if (rel->col < 0)
            continue;
        if (rel->target >= 0) {
            check_ref_type(rs, e, rel->col, &rs->m->entities[rel->target], rel->column_line, "relationship");
        } else {
            MappingConv conv = MAPPING_CONV_STRING;
            if (is_int_type(c->type))
                conv = MAPPING_CONV_INT;
            else if (is_float_type(c->type))
                conv = MAPPING_CONV_FLOAT;
            else if (strcmp(c->type, "bool") == 0)
                conv = MAPPING_CONV_BOOL;
            else if (strcmp(c->type, "bytea") == 0 || is_json_type(c->type))
                rerr(rs, rel->column_line, e, "value nodes need scalar values; column \"%s\" has type %s", c->name,
                     c->sql_type);
            e->cols[rel->col].conv = conv;
        }
    }
    if (e->kind == MAPPING_LINK) {
        MappingEnd *ends[2] = {&e->from, &e->to};
        for (int k = 0; k < 2; k++) {
            if (ends[k]->column == NULL || ends[k]->target < 0)
                continue;
            const MappingCatColumn *c = col_need(rs, e, t, ends[k]->column, ends[k]->line, k ? "to" : "from");
            if (c == NULL)
                continue;
            if (c->is_array) {
                rerr(rs, ends[k]->line, e, "%s column \"%s\" is an array; a join table has one key per row",
                     k ? "to" : "from", c->name);
                continue;
            }
            ends[k]->col = add_col(rs, e, c, false, false, ends[k]->line);
            check_ref_type(rs, e, ends[k]->col, &rs->m->entities[ends[k]->target], ends[k]->line,
                           k ? "to" : "from");
        }
    }
    if (rs->nerr != err_before)
        e->resolved = false;
}

int mapping_resolve(Mapping *m, const MappingCatalog *cat, MappingDiags *diags, P2nErr *err)
{
    Rs rs;
    memset(&rs, 0, sizeof(rs));
    rs.m = m;
    rs.cat = cat;
    rs.diags = diags;
    for (size_t i = 0; i < m->nentities; i++)
        resolve_entity(&rs, &m->entities[i]);
    for (size_t i = 0; i < m->nentities; i++)
        resolve_rels(&rs, &m->entities[i]);
    if (rs.nerr > 0) {
        if (rs.nerr > 1)
            return p2n_err_set(err, P2N_ECONFIG, "%s (and %zu more problems)", rs.first, rs.nerr - 1);
        return p2n_err_set(err, P2N_ECONFIG, "%s", rs.first);
    }
    for (size_t i = 0; i < m->nentities; i++) {
        int rc = mapping_plan_build(m, &m->entities[i], err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ---- limits ---- */

/* Types whose text form is short whatever the value (a few dozen bytes at most). */
static bool short_type(const MappingColumn *c)
{
    static const char *const ok[] = {"int2", "int4", "int8", "oid", "float4", "float8", "bool", "uuid", "date",
                                     "time", "timetz", "timestamp", "timestamptz", "interval", "inet", "cidr",
                                     "macaddr", "macaddr8", "money", "name", "char", "numeric"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (strcmp(c->pg_type, ok[i]) == 0)
            return true;
    /* varchar(n) / char(n): n characters of at most 4 bytes */
    return c->max_chars >= 0 && (long)c->max_chars * 4 <= MAPPING_NEO4J_INDEX_MAX_BYTES;
}

static void limit_warn(const Mapping *m, const MappingEntity *e, int line, const MappingColumn *c, const char *role,
                       MappingDiags *warns)
{
    if (c == NULL || short_type(c))
        return;
    char type[160];
    if (c->max_chars >= 0)
        snprintf(type, sizeof(type), "%s(%d)%s", c->pg_type, c->max_chars, c->is_array ? "[]" : "");
    else
        snprintf(type, sizeof(type), "%s%s", c->pg_type, c->is_array ? "[]" : "");
    mapping_diags_add(warns, "%s:%d: %s \"%s\": %s column \"%s\" (%s) can hold values over Neo4j's index "
                      "limit of %d bytes (UTF-8): a row with a longer value cannot sync (\"Property value is too "
                      "large to index\")", m->path, line, e->kind == MAPPING_NODE ? "entity" : "relationship",
                      e->name, role, c->column, type, MAPPING_NEO4J_INDEX_MAX_BYTES);
}

void mapping_limit_warnings(const Mapping *m, MappingDiags *warns)
{
    for (size_t i = 0; i < m->nentities; i++) {
        const MappingEntity *e = &m->entities[i];
        if (!e->resolved || e->key_cols == NULL)
            continue;
        for (size_t k = 0; k < e->nkeys; k++)
            limit_warn(m, e, e->keys[k].line, &e->cols[e->key_cols[k]],
                       e->kind == MAPPING_NODE ? "key" : "key (the relationship's indexed id)", warns);
        for (size_t r = 0; r < e->nrels; r++)
            if (e->rels[r].target < 0 && e->rels[r].col >= 0)
                limit_warn(m, e, e->rels[r].line, &e->cols[e->rels[r].col], "value node", warns);
    }
}

/* Whether entity i's read depends on a delete_when already reported bad (its own, or that of
   an entity its references look at): its error would only repeat that one. */
static bool reads_bad_delete_when(const Mapping *m, size_t i, const bool *bad)
{
    const MappingEntity *e = &m->entities[i];
    if (bad[i])
        return true;
    for (size_t k = 0; k < e->nrels; k++)
        if (e->rels[k].target >= 0 && bad[e->rels[k].target])
            return true;
    if (e->kind == MAPPING_LINK)
        return (e->from.target >= 0 && bad[e->from.target]) || (e->to.target >= 0 && bad[e->to.target]);
    return false;
}

int mapping_check_sql(const Mapping *m, struct pg_conn *conn, MappingDiags *diags, P2nErr *err)
{
    size_t nerr = 0;
    char first[900] = "";
    bool *bad = calloc(m->nentities ? m->nentities : 1, sizeof(*bad));
    if (bad == NULL)
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    /* each delete_when alone first, so that its error names its own entity and line */
    for (size_t i = 0; i < m->nentities; i++) {
        const MappingEntity *e = &m->entities[i];
        if (e->delete_when == NULL || !e->resolved)
            continue;
        P2nBuf q;
        p2n_buf_init(&q);
        p2n_buf_append_str(&q, "SELECT 1 FROM ");
        mapping_sql_table(m, e, &q);
        p2n_buf_printf(&q, " AS t WHERE (%s)", e->delete_when);
        p2n_buf_append(&q, "", 1);
        PGresult *r = q.failed ? NULL : PQprepare(conn, "", (const char *)q.data, 0, NULL);
        p2n_buf_free(&q);
        if (r != NULL && PQresultStatus(r) != PGRES_COMMAND_OK) {
            const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
            mapping_diags_add(diags, "%s:%d: %s \"%s\": delete_when is not accepted by PostgreSQL: %s", m->path,
                              e->delete_when_line, e->kind == MAPPING_NODE ? "entity" : "relationship", e->name,
                              msg ? msg : PQerrorMessage(conn));
            if (nerr++ == 0)
                snprintf(first, sizeof(first), "%s:%d: %s \"%s\": delete_when: %s", m->path, e->delete_when_line,
                         e->kind == MAPPING_NODE ? "entity" : "relationship", e->name, msg ? msg : "error");
            bad[i] = true;
        }
        PQclear(r);
    }
    for (size_t i = 0; i < m->nentities; i++) {
        const MappingEntity *e = &m->entities[i];
        if (e->plan.read_sql == NULL || reads_bad_delete_when(m, i, bad))
            continue;
        PGresult *r = PQprepare(conn, "", e->plan.read_sql, 1, NULL);
        /* preparing locks the tables: a lock timeout or a deadlock (DDL under way) is no
           problem of the mapping; wait and try again, as p2n_retry does, then say what it was */
        for (uint32_t run = 1; PQresultStatus(r) != PGRES_COMMAND_OK; run++) {
            P2nErr e2;
            p2n_err_clear(&e2);
            snprintf(e2.sqlstate, sizeof(e2.sqlstate), "%s",
                     PQresultErrorField(r, PG_DIAG_SQLSTATE) ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : "");
            if (!p2n_err_is_conflict(&e2))
                break;
            const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
            if (run >= P2N_RETRY_ATTEMPTS || PQtransactionStatus(conn) != PQTRANS_IDLE) {
                p2n_err_set(err, P2N_EPG, "could not check the generated query of \"%s\": %s", e->name,
                            msg ? msg : "lock not available");
                snprintf(err->sqlstate, sizeof(err->sqlstate), "%s", e2.sqlstate);
                PQclear(r);
                return P2N_EPG;
            }
            uint32_t d = p2n_retry_delay_ms(run);
            P2N_WARN("transient error, will retry", "what=\"check the query of %s\" attempt=%u delay_ms=%u code=%s error=\"%s\"",
                     e->name, run, d, e2.sqlstate, msg ? msg : "");
            PQclear(r);
            p2n_sleep_ms(d, NULL);
            r = PQprepare(conn, "", e->plan.read_sql, 1, NULL);
        }
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
            int line = e->delete_when ? e->delete_when_line : e->table_line;
            mapping_diags_add(diags, "%s:%d: %s \"%s\": the generated query is not accepted by PostgreSQL: %s%s",
                              m->path, line, e->kind == MAPPING_NODE ? "entity" : "relationship", e->name,
                              msg ? msg : PQerrorMessage(conn),
                              e->delete_when ? " (check delete_when)" : "");
            if (nerr++ == 0)
                snprintf(first, sizeof(first), "%s:%d: %s \"%s\": %s", m->path, line,
                         e->kind == MAPPING_NODE ? "entity" : "relationship", e->name, msg ? msg : "error");
        }
        PQclear(r);
    }
    free(bad);
    if (nerr > 0)
        return p2n_err_set(err, P2N_ECONFIG, "%s%s", first, nerr > 1 ? " (and more problems)" : "");
    return 0;
}

/* ---- for pg2neo infer: the same rules as resolution ---- */
bool mapping_catalog_key_type_ok(const MappingCatColumn *c)
{
    return key_type_ok(c);
}

bool mapping_catalog_ref_type_ok(const char *a, const char *b)
{
    return strcmp(a, b) == 0 || (is_int_type(a) && is_int_type(b));
}
