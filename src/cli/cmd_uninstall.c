/* pg2neo uninstall: removes every capture trigger and the sync tables (the data tables stay). */
#include <stdio.h>

#include "cli/capture_args.h"
#include "cli/cli.h"
#include "pg/schema.h"

static void uninstall_help(void)
{
    printf("usage: pg2neo uninstall [--schema NAME | --config MAPPING] --yes\n\n"
           "Drops every capture trigger pg2neo installed, then the sync tables, functions and sequence\n"
           "of the sync schema (default public). Queue contents, failures and batch history are lost;\n"
           "application tables and their data are not touched. --yes confirms. With --config, the\n"
           "mapping's source and sync.schema (unless --schema or $P2N_SYNC_SCHEMA says otherwise).\n");
}

static int uninstall_run(int argc, char **argv)
{
    CliCaptureArgs a;
    int rc = cli_capture_args_parse(argc, argv, 1, &a);
    if (rc)
        return rc;
    if (a.positional || a.n) {
        cli_errorf("uninstall takes only --schema, --config and --yes");
        cli_capture_args_free(&a);
        return CLI_USAGE;
    }
    if (!a.yes) {
        cli_errorf("uninstall drops the sync queue and its history: add --yes to confirm");
        cli_capture_args_free(&a);
        return CLI_USAGE;
    }
    P2nErr err;
    p2n_err_clear(&err);
    Mapping *m = NULL;
    if (a.config) {
        MappingDiags d = {0};
        if (mapping_load_file(a.config, NULL, NULL, &m, &d, &err) < 0) {
            cli_errorf("%s", d.n ? d.msgs[0] : err.msg);
            mapping_diags_free(&d);
            cli_capture_args_free(&a);
            return CLI_USAGE;
        }
        mapping_diags_free(&d);
        if (!a.schema_set)
            a.schema = mapping_sync_schema(m);
    }
    PGconn *pg = m ? cli_pg_connect_mapping(m) : cli_pg_connect();
    if (!pg) {
        mapping_free(m);
        cli_capture_args_free(&a);
        return CLI_FAIL;
    }
    if (pg_schema_uninstall(pg, a.schema, &err) < 0) {
        cli_errorf("%s", err.msg);
        rc = CLI_FAIL;
    } else {
        printf("pg2neo removed from schema \"%s\"\n", a.schema);
    }
    PQfinish(pg);
    cli_capture_args_free(&a);
    mapping_free(m);
    return rc;
}

const CliCommand cli_cmd_uninstall = {"uninstall", "remove capture triggers and the sync tables", uninstall_run,
                                      uninstall_help};
