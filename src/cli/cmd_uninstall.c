/* pg2neo uninstall: removes every capture trigger and the sync tables (the data tables stay). */
#include <stdio.h>

#include "cli/capture_args.h"
#include "cli/cli.h"
#include "pg/schema.h"

static void uninstall_help(void)
{
    printf("usage: pg2neo uninstall [--schema NAME] --yes\n\n"
           "Drops every capture trigger pg2neo installed, then the sync tables, functions and sequence\n"
           "of the sync schema (default public). Queue contents, failures and batch history are lost;\n"
           "application tables and their data are not touched. --yes confirms.\n");
}

static int uninstall_run(int argc, char **argv)
{
    CliCaptureArgs a;
    int rc = cli_capture_args_parse(argc, argv, 1, &a);
    if (rc)
        return rc;
    if (a.positional || a.n) {
        cli_errorf("uninstall takes only --schema and --yes");
        cli_capture_args_free(&a);
        return CLI_USAGE;
    }
    if (!a.yes) {
        cli_errorf("uninstall drops the sync queue and its history: add --yes to confirm");
        cli_capture_args_free(&a);
        return CLI_USAGE;
    }
    PGconn *pg = cli_pg_connect();
    if (!pg) {
        cli_capture_args_free(&a);
        return CLI_FAIL;
    }
    P2nErr err;
    p2n_err_clear(&err);
    if (pg_schema_uninstall(pg, a.schema, &err) < 0) {
        cli_errorf("%s", err.msg);
        rc = CLI_FAIL;
    } else {
        printf("pg2neo removed from schema \"%s\"\n", a.schema);
    }
    PQfinish(pg);
    cli_capture_args_free(&a);
    return rc;
}

const CliCommand cli_cmd_uninstall = {"uninstall", "remove capture triggers and the sync tables", uninstall_run,
                                      uninstall_help};
