/*
 * The catalog's links, for `pg2neo infer`: what mapping_catalog_load() (resolve.c: tables,
 * columns, unique keys) does not read because `check` does not need it: each relation's kind
 * (table, partitioned table, view...), the parent of each partition, table and column comments,
 * and the foreign keys. Read-only catalog queries; added to an already loaded catalog.
 */
#include <jansson.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#include "mapping/mapping.h"
#include "mapping/mapping_int.h"

/* Relations with their kind, partition parent and comment. */
static const char *const LINK_RELS_SQL =
    "SELECT n.nspname, c.relname, c.relkind, pn.nspname, p.relname, "
    "       pg_catalog.obj_description(c.oid, 'pg_class'), "
    "       (SELECT x.extname FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_extension x ON x.oid = d.refobjid "
    "        WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = c.oid "
    "          AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass AND d.deptype = 'e' LIMIT 1) "
    "FROM pg_catalog.pg_class c "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "LEFT JOIN pg_catalog.pg_inherits i ON i.inhrelid = c.oid AND c.relispartition "
    "LEFT JOIN pg_catalog.pg_class p ON p.oid = i.inhparent "
    "LEFT JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace "
    "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') "
    "  AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'";

/* Column comments. */
static const char *const LINK_COMMENTS_SQL =
    "SELECT n.nspname, c.relname, a.attname, d.description "
    "FROM pg_catalog.pg_description d "
    "JOIN pg_catalog.pg_class c ON c.oid = d.objoid "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.objsubid AND NOT a.attisdropped "
    "WHERE d.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objsubid > 0 "
    "  AND c.relkind IN ('r', 'p', 'v', 'm', 'f') "
    "  AND n.nspname NOT IN ('pg_catalog', 'information_schema')";

/* Foreign keys as declared (conparentid = 0: not the clones PostgreSQL makes for partitions). */
static const char *const LINK_FKEYS_SQL =
    "SELECT n.nspname, c.relname, k.conname, rn.nspname, r.relname, "
    "       array_to_json(ARRAY(SELECT a.attname FROM unnest(k.conkey) WITH ORDINALITY u(num, ord) "
    "                           JOIN pg_catalog.pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.num "
    "                           ORDER BY u.ord))::text, "
    "       array_to_json(ARRAY(SELECT a.attname FROM unnest(k.confkey) WITH ORDINALITY u(num, ord) "
    "                           JOIN pg_catalog.pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.num "
    "                           ORDER BY u.ord))::text "
    "FROM pg_catalog.pg_constraint k "
    "JOIN pg_catalog.pg_class c ON c.oid = k.conrelid "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "JOIN pg_catalog.pg_class r ON r.oid = k.confrelid "
    "JOIN pg_catalog.pg_namespace rn ON rn.oid = r.relnamespace "
    "WHERE k.contype = 'f' AND k.conparentid = 0 "
    "  AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "ORDER BY n.nspname, c.relname, k.conname";

static MappingCatTable *find_table(MappingCatalog *cat, const char *schema, const char *name)
{
    for (size_t i = 0; i < cat->ntables; i++)
        if (strcmp(cat->tables[i].schema, schema) == 0 && strcmp(cat->tables[i].name, name) == 0)
            return &cat->tables[i];
    return NULL;
}

static void free_list(char **l)
{
    for (char **p = l; p && *p; p++)
        free(*p);
    free(l);
}

static char **dup_list(const char *const *l)
{
    size_t n = 0;
    while (l[n])
        n++;
    char **out = calloc(n + 1, sizeof(*out));
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        out[i] = strdup(l[i]);
        if (out[i] == NULL) {
            free_list(out);
            return NULL;
        }
    }
    return out;
}

MappingCatFkey *mapping_catalog_add_fkey(MappingCatTable *t, const char *name, const char *const *cols,
                                         const char *ref_schema, const char *ref_table,
                                         const char *const *ref_cols)
{
    MappingCatFkey *nf = realloc(t->fkeys, (t->nfkeys + 1) * sizeof(*nf));
    if (nf == NULL)
        return NULL;
    t->fkeys = nf;
    MappingCatFkey *f = &t->fkeys[t->nfkeys];
    memset(f, 0, sizeof(*f));
    f->name = strdup(name);
    f->cols = dup_list(cols);
    f->ref_schema = strdup(ref_schema);
    f->ref_table = strdup(ref_table);
    f->ref_cols = dup_list(ref_cols);
    if (f->name == NULL || f->cols == NULL || f->ref_schema == NULL || f->ref_table == NULL || f->ref_cols == NULL) {
        free(f->name);
        free_list(f->cols);
        free(f->ref_schema);
        free(f->ref_table);
        free_list(f->ref_cols);
        return NULL;
    }
    t->nfkeys++;
    return f;
}

void mapping_catalog_links_free(MappingCatTable *t)
{
    for (size_t c = 0; c < t->ncols; c++) {
        free(t->cols[c].comment);
        t->cols[c].comment = NULL;
    }
    for (size_t i = 0; i < t->nfkeys; i++) {
        free(t->fkeys[i].name);
        free_list(t->fkeys[i].cols);
        free(t->fkeys[i].ref_schema);
        free(t->fkeys[i].ref_table);
        free_list(t->fkeys[i].ref_cols);
    }
    free(t->fkeys);
    t->fkeys = NULL;
    t->nfkeys = 0;
    free(t->parent_schema);
    free(t->parent_name);
    free(t->comment);
    free(t->extension);
    t->parent_schema = t->parent_name = t->comment = t->extension = NULL;
}

/* A JSON array of strings (array_to_json of names) as a NULL-terminated list; NULL when it is
   not one or is empty. */
static char **json_names(const char *text)
{
    json_t *arr = json_loads(text, 0, NULL);
    char **out = NULL;
    size_t n = json_is_array(arr) ? json_array_size(arr) : 0;
    if (n > 0 && n < 64) {
        const char *cols[65];
        bool ok = true;
        for (size_t k = 0; k < n; k++) {
            cols[k] = json_string_value(json_array_get(arr, k));
            ok = ok && cols[k] != NULL;
        }
        cols[n] = NULL;
        if (ok)
            out = dup_list(cols);
    }
    json_decref(arr);
    return out;
}

static PGresult *query(PGconn *conn, const char *sql, P2nErr *err)
{
    PGresult *r = PQexecParams(conn, sql, 0, NULL, NULL, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        p2n_err_set(err, P2N_EPG, "could not read the catalog: %s", PQerrorMessage(conn));
        PQclear(r);
        return NULL;
    }
    return r;
}

int mapping_catalog_load_links(struct pg_conn *conn, MappingCatalog *cat, P2nErr *err)
{
    PGresult *r = query(conn, LINK_RELS_SQL, err);
    if (r == NULL)
        return P2N_EPG;
    bool oom = false;
    for (int i = 0; i < PQntuples(r) && !oom; i++) {
        MappingCatTable *t = find_table(cat, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
        if (t == NULL)
            continue; /* a relation without a column: nothing to map */
        t->kind = PQgetvalue(r, i, 2)[0];
        if (!PQgetisnull(r, i, 3) && !PQgetisnull(r, i, 4)) {
            t->parent_schema = strdup(PQgetvalue(r, i, 3));
            t->parent_name = strdup(PQgetvalue(r, i, 4));
            oom = t->parent_schema == NULL || t->parent_name == NULL;
        }
        if (!PQgetisnull(r, i, 5)) {
            t->comment = strdup(PQgetvalue(r, i, 5));
            oom = oom || t->comment == NULL;
        }
        if (!PQgetisnull(r, i, 6)) {
            t->extension = strdup(PQgetvalue(r, i, 6));
            oom = oom || t->extension == NULL;
        }
    }
    PQclear(r);
    if (oom)
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    if ((r = query(conn, LINK_COMMENTS_SQL, err)) == NULL)
        return P2N_EPG;
    for (int i = 0; !oom && i < PQntuples(r); i++) {
        MappingCatTable *t = find_table(cat, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
        for (size_t c = 0; t && c < t->ncols; c++) {
            if (strcmp(t->cols[c].name, PQgetvalue(r, i, 2)) == 0 && t->cols[c].comment == NULL) {
                t->cols[c].comment = strdup(PQgetvalue(r, i, 3));
                oom = t->cols[c].comment == NULL;
            }
        }
    }
    PQclear(r);
    if (oom)
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    if ((r = query(conn, LINK_FKEYS_SQL, err)) == NULL)
        return P2N_EPG;
    for (int i = 0; !oom && i < PQntuples(r); i++) {
        MappingCatTable *t = find_table(cat, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
        if (t == NULL)
            continue;
        char **cols = json_names(PQgetvalue(r, i, 5)), **refs = json_names(PQgetvalue(r, i, 6));
        if (cols && refs)
            oom = mapping_catalog_add_fkey(t, PQgetvalue(r, i, 2), (const char *const *)cols, PQgetvalue(r, i, 3),
                                           PQgetvalue(r, i, 4), (const char *const *)refs) == NULL;
        free_list(cols);
        free_list(refs);
    }
    PQclear(r);
    if (oom)
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    return 0;
}
