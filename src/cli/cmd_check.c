/*
 * pg2neo check [MAPPING]: loads a mapping, validates it against the live PostgreSQL catalog
 * (read-only: catalog queries and PREPARE of the generated reads) and prints the graph model.
 * Nothing is written anywhere. --cypher also prints the generated SQL and Cypher.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/buf.h"
#include "common/error.h"
#include "mapping/mapping.h"

static void check_help(void)
{
    printf("usage: pg2neo check [--cypher] [--config MAPPING | MAPPING]\n\n"
           "Validates a mapping file (default: $P2N_MAPPING, else mapping.yaml) against the live\n"
           "PostgreSQL catalog: every table, column, type and key. Each problem is printed as\n"
           "file:line with the closest existing name. On success prints the graph model, and warns\n"
           "(on standard error) about keys and value-node columns that can hold values longer than\n"
           "Neo4j's index takes (8,164 bytes).\n"
           "Connects to the mapping's source (or DATABASE_URL / PG* variables). Writes nothing.\n\n"
           "  --cypher   also print each entity's read SQL, Cypher statements and constraints\n\n"
           "exit codes: 0 valid, 2 invalid mapping, 1 could not connect or read the catalog\n");
}

static void print_diags(const MappingDiags *d, const P2nErr *err)
{
    if (d->n == 0) {
        cli_errorf("%s", err->msg);
        return;
    }
    for (size_t i = 0; i < d->n; i++)
        cli_errorf("%s", d->msgs[i]);
    cli_errorf("mapping is invalid: %zu problem%s", d->n, d->n == 1 ? "" : "s");
}

static void print_plans(const Mapping *m)
{
    for (size_t i = 0; i < m->nentities; i++) {
        const MappingEntity *e = &m->entities[i];
        printf("\n-- %s \"%s\"\n-- read ($1 = text[] of ids):\n%s;\n", e->kind == MAPPING_NODE ? "entity" : "relationship",
               e->name, e->plan.read_sql);
        for (size_t k = 0; k < e->plan.nupsert; k++)
            printf("// upsert %zu ($rows):\n%s;\n", k + 1, e->plan.upsert[k]);
        printf("// delete ($rows):\n%s;\n", e->plan.delete_cypher);
        for (size_t k = 0; k < e->plan.nschema; k++)
            printf("// schema:\n%s;\n", e->plan.schema[k]);
    }
}

static int check_run(int argc, char **argv)
{
    const char *path = NULL;
    bool cypher = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--cypher") == 0) {
            cypher = true;
        } else if (strcmp(argv[i], "--config") == 0 || strncmp(argv[i], "--config=", 9) == 0) {
            const char *v = argv[i][8] == '=' ? argv[i] + 9 : (i + 1 < argc ? argv[++i] : NULL);
            if (v == NULL || *v == '\0') {
                cli_errorf("--config needs a mapping file");
                return CLI_USAGE;
            }
            if (path != NULL) {
                cli_errorf("check takes one mapping file");
                return CLI_USAGE;
            }
            path = v;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            cli_errorf("unknown option \"%s\" for check", argv[i]);
            return CLI_USAGE;
        } else if (path == NULL) {
            path = argv[i];
        } else {
            cli_errorf("check takes one mapping file");
            return CLI_USAGE;
        }
    }
    if (path == NULL)
        path = getenv("P2N_MAPPING") && *getenv("P2N_MAPPING") ? getenv("P2N_MAPPING") : "mapping.yaml";

    MappingDiags diags = {0};
    P2nErr err;
    p2n_err_clear(&err);
    Mapping *m = NULL;
    if (mapping_load_file(path, NULL, NULL, &m, &diags, &err) < 0) {
        print_diags(&diags, &err);
        mapping_diags_free(&diags);
        return err.code == P2N_EIO ? CLI_FAIL : CLI_USAGE;
    }
    PGconn *pg = PQconnectdb(m->conninfo);
    if (PQstatus(pg) != CONNECTION_OK) {
        char msg[600];
        snprintf(msg, sizeof(msg), "%s", PQerrorMessage(pg));
        msg[strcspn(msg, "\n")] = '\0';
        cli_errorf("could not connect to PostgreSQL: %s", msg);
        PQfinish(pg);
        mapping_free(m);
        return CLI_FAIL;
    }
    /* read-only, whatever the mapping says */
    PQclear(PQexec(pg, "SET default_transaction_read_only = on"));
    MappingCatalog cat;
    if (mapping_catalog_load(pg, &cat, &err) < 0) {
        cli_errorf("%s", err.msg);
        PQfinish(pg);
        mapping_free(m);
        return CLI_FAIL;
    }
    int rc = CLI_OK;
    if (mapping_resolve(m, &cat, &diags, &err) < 0 || mapping_check_sql(m, pg, &diags, &err) < 0) {
        print_diags(&diags, &err);
        rc = CLI_USAGE;
    } else {
        MappingDiags warns = {0};
        mapping_limit_warnings(m, &warns);
        for (size_t i = 0; i < warns.n; i++)
            cli_errorf("warning: %s", warns.msgs[i]);
        mapping_diags_free(&warns);
        P2nBuf b;
        p2n_buf_init(&b);
        mapping_summary(m, &b);
        fwrite(b.data, 1, b.len, stdout);
        p2n_buf_free(&b);
        if (cypher)
            print_plans(m);
    }
    mapping_diags_free(&diags);
    mapping_catalog_free(&cat);
    PQfinish(pg);
    mapping_free(m);
    return rc;
}

const CliCommand cli_cmd_check = {"check", "validate a mapping file against the database and show the graph model",
                                  check_run, check_help};
