/*
 * pg2neo infer [--schema S]... [--table T]... [--label-prefix P]: reads the live PostgreSQL
 * catalog (read-only) and prints a complete, commented mapping that `pg2neo check` accepts as it
 * is. The rules are in src/mapping/infer.h and docs/mapping.md ("pg2neo infer").
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/capture_args.h"
#include "cli/cli.h"
#include "common/buf.h"
#include "common/error.h"
#include "mapping/infer.h"
#include "mapping/mapping.h"
#include "pg2neo.h"

static void infer_help(void)
{
    printf("usage: pg2neo infer [--schema NAME]... [--table [SCHEMA.]TABLE]... [--label-prefix PREFIX]\n\n"
           "Reads the PostgreSQL catalog and prints a mapping (YAML) on standard output that\n"
           "`pg2neo check --config` accepts as it is: each table with a primary key (or a unique NOT NULL\n"
           "key) is a node entity labelled by its name in singular CamelCase (order_details ->\n"
           "OrderDetail); each single-column foreign key is a relationship from the referencing row to the\n"
           "referenced one, typed by its column (customer_id -> CUSTOMER); a table keyed by two foreign\n"
           "keys is a join table (a relationship with properties); arrays of keys are found by a column\n"
           "comment (\"references TABLE\") or a name TABLE_ids. numeric columns get their conversion. A\n"
           "comment says why each table or foreign key was not mapped (a view, no key, a partition...).\n"
           "The rules are in docs/mapping.md (\"pg2neo infer\"). Review the names, then check the file.\n\n"
           "  --schema NAME         the tables of this schema (repeatable; the first is source.schema;\n"
           "                        default: the search_path's schemas that hold a table, usually\n"
           "                        public)\n"
           "  --table TABLE         only this table (repeatable; SCHEMA.TABLE for another schema)\n"
           "  --label-prefix PREFIX prepended to every entity name and label\n\n"
           "Connects with DATABASE_URL or the PG* variables, read-only. Writes nothing.\n"
           "exit codes: 0 printed, 2 bad usage or nothing to map, 1 could not connect or read the catalog\n"
           "example: pg2neo infer > mapping.yaml && pg2neo check --config mapping.yaml\n");
}

/* The schemas of the search path, into *out (strings owned by *res). */
static int search_path_schemas(PGconn *pg, PGresult **res, const char ***out, size_t *n)
{
    *res = PQexec(pg, "SELECT s FROM unnest(pg_catalog.current_schemas(false)) AS s");
    if (PQresultStatus(*res) != PGRES_TUPLES_OK) {
        cli_errorf("could not read the search_path: %s", PQerrorMessage(pg));
        return CLI_FAIL;
    }
    int rows = PQntuples(*res);
    *out = calloc((size_t)rows + 1, sizeof(**out));
    if (*out == NULL) {
        cli_errorf("out of memory");
        return CLI_FAIL;
    }
    for (int i = 0; i < rows; i++)
        (*out)[i] = PQgetvalue(*res, i, 0);
    *n = (size_t)rows;
    if (rows == 0) {
        cli_errorf("no schema of the search_path exists: give the schema with --schema");
        return CLI_USAGE;
    }
    return CLI_OK;
}

static int infer_run(int argc, char **argv)
{
    const char **schemas = calloc((size_t)argc + 1, sizeof(*schemas));
    const char **tables = calloc((size_t)argc + 1, sizeof(*tables));
    size_t nschemas = 0, ntables = 0;
    const char *prefix = NULL;
    int rc = CLI_OK;
    if (schemas == NULL || tables == NULL) {
        cli_errorf("out of memory");
        rc = CLI_FAIL;
    }
    for (int i = 1; rc == CLI_OK && i < argc; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        if ((strcmp(a, "--schema") == 0 || strcmp(a, "--table") == 0 || strcmp(a, "--label-prefix") == 0) && !has_value) {
            cli_errorf("%s needs a value", a);
            rc = CLI_USAGE;
        } else if (strcmp(a, "--schema") == 0 || strcmp(a, "--table") == 0) {
            const char *v = argv[++i];
            if (v[0] == '\0') {
                cli_errorf("%s needs a non-empty name", a);
                rc = CLI_USAGE;
            } else if (a[2] == 's') {
                schemas[nschemas++] = v;
            } else {
                tables[ntables++] = v;
            }
        } else if (strcmp(a, "--label-prefix") == 0) {
            prefix = argv[++i];
            if (mapping_utf8_invalid_at(prefix, strlen(prefix)) != SIZE_MAX) {
                cli_errorf("--label-prefix must be valid UTF-8");
                rc = CLI_USAGE;
            }
        } else {
            cli_errorf("unknown option \"%s\" for infer", a);
            rc = CLI_USAGE;
        }
    }
    if (rc != CLI_OK) {
        free(schemas);
        free(tables);
        return rc;
    }
    PGconn *pg = cli_pg_connect();
    if (pg == NULL) {
        free(schemas);
        free(tables);
        return CLI_FAIL;
    }
    /* read-only, whatever happens */
    PQclear(PQexec(pg, "SET default_transaction_read_only = on"));
    PGresult *path = NULL;
    const char **path_schemas = NULL;
    MappingInferOptions o;
    memset(&o, 0, sizeof(o));
    if (nschemas == 0) {
        rc = search_path_schemas(pg, &path, &path_schemas, &nschemas);
        o.schemas = path_schemas;
    } else {
        o.schemas = schemas;
    }
    o.nschemas = nschemas;
    o.tables = tables;
    o.ntables = ntables;
    o.label_prefix = prefix;
    o.version = p2n_version();
    char origin[400] = "";
    const char *db = PQdb(pg);
    if (db && mapping_utf8_invalid_at(db, strlen(db)) == SIZE_MAX && strlen(db) < 300) {
        snprintf(origin, sizeof(origin), "database \"%s\"", db);
        o.origin = origin;
    }
    MappingCatalog cat;
    memset(&cat, 0, sizeof(cat));
    P2nErr err;
    p2n_err_clear(&err);
    if (rc == CLI_OK && (mapping_catalog_load(pg, &cat, &err) < 0 || mapping_catalog_load_links(pg, &cat, &err) < 0)) {
        cli_errorf("%s", err.msg);
        rc = CLI_FAIL;
    }
    if (rc == CLI_OK && path_schemas != NULL) {
        /* by default, the search_path's schemas that hold a table ("$user" may name an empty one) */
        size_t kept = 0;
        for (size_t i = 0; i < nschemas; i++) {
            bool any = false;
            for (size_t t = 0; t < cat.ntables && !any; t++)
                any = strcmp(cat.tables[t].schema, path_schemas[i]) == 0;
            if (any)
                path_schemas[kept++] = path_schemas[i];
        }
        if (kept == 0) {
            cli_errorf("the schemas of the search_path hold no table: give the schema with --schema");
            rc = CLI_USAGE;
        }
        o.nschemas = kept;
    }
    if (rc == CLI_OK) {
        P2nBuf out;
        p2n_buf_init(&out);
        int r = mapping_infer(&cat, &o, &out, &err);
        if (r < 0) {
            cli_errorf("%s", err.msg);
            rc = r == P2N_ENOMEM ? CLI_FAIL : CLI_USAGE;
        } else if (fwrite(out.data, 1, out.len, stdout) != out.len || fflush(stdout) != 0) {
            cli_errorf("could not write the mapping to standard output");
            rc = CLI_FAIL;
        }
        p2n_buf_free(&out);
    }
    mapping_catalog_free(&cat);
    PQclear(path);
    free(path_schemas);
    PQfinish(pg);
    free(schemas);
    free(tables);
    return rc;
}

const CliCommand cli_cmd_infer = {"infer", "print a mapping inferred from the database's catalog", infer_run,
                                  infer_help};
