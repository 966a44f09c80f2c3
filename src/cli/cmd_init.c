/* pg2neo init: creates or upgrades the sync schema, then installs capture triggers. */
#include <stdio.h>

#include "cli/capture_args.h"
#include "cli/cli.h"
#include "pg/schema.h"

static void init_help(void)
{
    printf("usage: pg2neo init [--schema NAME] [--table SPEC]... [--tables-file FILE]\n\n"
           "Creates the sync tables (graph_sync_status, graph_sync_failures, graph_sync_batches, the change\n"
           "log) in the sync schema (default public, or $P2N_SYNC_SCHEMA), or upgrades them in place; safe\n"
           "to run again. Then installs capture triggers on each table given:\n"
           "  SPEC = schema.table:EntityType:key1,key2[:array1,array2[:watched1,watched2]]\n"
           "  (empty keys = the primary key; no watched list = every column)\n"
           "Connects with DATABASE_URL or the PG* variables.\n");
}

static int init_run(int argc, char **argv)
{
    CliCaptureArgs a;
    int rc = cli_capture_args_parse(argc, argv, 1, &a);
    if (rc)
        return rc;
    if (a.positional) {
        cli_errorf("unexpected argument \"%s\"", a.positional);
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
    int from = 0, to = 0;
    if (pg_schema_migrate(pg, a.schema, &from, &to, &err) < 0) {
        cli_errorf("%s", err.msg);
        rc = CLI_FAIL;
    } else {
        if (from == to)
            printf("sync schema \"%s\" is up to date (version %d)\n", a.schema, to);
        else
            printf("sync schema \"%s\" upgraded from version %d to %d\n", a.schema, from, to);
        if (a.n && pg_capture_install(pg, a.schema, a.tables, a.n, &err) < 0) {
            cli_errorf("%s", err.msg);
            rc = err.code == P2N_EINVAL || err.code == P2N_ENOTFOUND ? CLI_USAGE : CLI_FAIL;
        } else {
            for (size_t i = 0; i < a.n; i++)
                printf("captured %s.%s as %s\n", a.tables[i].schema, a.tables[i].table, a.tables[i].entity_type);
        }
    }
    PQfinish(pg);
    cli_capture_args_free(&a);
    return rc;
}

const CliCommand cli_cmd_init = {"init", "create or upgrade the sync tables and install capture triggers",
                                 init_run, init_help};
