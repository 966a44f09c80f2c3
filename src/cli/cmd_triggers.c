/* pg2neo triggers list | install | drop: inspect and manage the capture triggers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/capture_args.h"
#include "cli/cli.h"
#include "pg2neo.h"
#include "sync/engine.h"

static void triggers_help(void)
{
    printf("usage: pg2neo triggers list    [--schema NAME] [--config MAPPING | --table SPEC... | --tables-file FILE]\n"
           "       pg2neo triggers install [--schema NAME] --table SPEC... | --tables-file FILE\n"
           "       pg2neo triggers drop    [--schema NAME] (--table SPEC... | --all)\n\n"
           "list shows each mapped table as captured, missing (no trigger) or stale (incomplete,\n"
           "outdated, installed for a different mapping, or on a table that is not mapped); without\n"
           "tables it shows what is installed; with --config, the tables of that mapping (and its sync.schema\n"
           "unless --schema or $P2N_SYNC_SCHEMA says otherwise). Exit code 3 when anything is missing or stale.\n"
           "  SPEC = schema.table:EntityType:key1,key2[:array1,array2[:watched1,watched2]]\n");
}

static int do_list(PGconn *pg, CliCaptureArgs *a)
{
    P2nErr err;
    p2n_err_clear(&err);
    PgCaptureEntry *e = NULL;
    size_t n = 0;
    if (pg_capture_list(pg, a->schema, a->tables, a->n, &e, &n, &err) < 0) {
        cli_errorf("%s", err.msg);
        return CLI_FAIL;
    }
    int rc = CLI_OK;
    printf("%-9s %-40s %-20s %s\n", "STATE", "TABLE", "ENTITY", "DETAIL");
    for (size_t i = 0; i < n; i++) {
        char name[300];
        snprintf(name, sizeof(name), "%s.%s", e[i].schema, e[i].table);
        printf("%-9s %-40s %-20s %s\n", pg_capture_state_name(e[i].state), name, e[i].entity_type, e[i].detail);
        if (e[i].state != PG_CAPTURE_CAPTURED)
            rc = CLI_DIFF;
    }
    if (n == 0)
        printf("(no captured tables)\n");
    free(e);
    return rc;
}

/* triggers list --config: the mapping's tables, as init captures them, on its source */
static int list_mapping(CliCaptureArgs *a)
{
    char msg[2048];
    P2nService *s = NULL;
    int rc = p2n_service_open(a->config, &s, msg, sizeof(msg));
    if (rc < 0) {
        cli_errorf("%s", msg);
        cli_capture_args_free(a);
        return rc == P2N_ECONFIG || rc == P2N_EINVAL ? CLI_USAGE : CLI_FAIL;
    }
    P2nErr err;
    p2n_err_clear(&err);
    PgCaptureTable *t = NULL;
    void **lists = NULL;
    size_t n = 0, nlists = 0;
    PGconn *pg = NULL;
    if (sync_engine_capture_tables(s, &t, &n, &lists, &nlists, &err) < 0) {
        cli_errorf("%s", err.msg);
        rc = CLI_FAIL;
    } else if ((pg = cli_pg_connect_mapping(sync_engine_mapping(s))) == NULL) {
        rc = CLI_FAIL;
    } else {
        CliCaptureArgs b = *a;
        b.tables = t;
        b.n = n;
        if (!a->schema_set)
            b.schema = sync_engine_schema(s);
        rc = do_list(pg, &b);
    }
    if (pg)
        PQfinish(pg);
    sync_engine_capture_free(t, lists, nlists);
    p2n_service_close(s);
    cli_capture_args_free(a);
    return rc;
}

static int triggers_run(int argc, char **argv)
{
    CliCaptureArgs a;
    int rc = cli_capture_args_parse(argc, argv, 1, &a);
    if (rc)
        return rc;
    const char *sub = a.positional;
    if (!sub || (strcmp(sub, "list") && strcmp(sub, "install") && strcmp(sub, "drop"))) {
        cli_errorf("expected list, install or drop");
        cli_capture_args_free(&a);
        return CLI_USAGE;
    }
    if (strcmp(sub, "install") == 0 && a.n == 0) {
        cli_errorf("triggers install needs --table or --tables-file");
        cli_capture_args_free(&a);
        return CLI_USAGE;
    }
    if (strcmp(sub, "drop") == 0 && a.n == 0 && !a.all) {
        cli_errorf("triggers drop needs --table, --tables-file or --all");
        cli_capture_args_free(&a);
        return CLI_USAGE;
    }
    if (a.config && (strcmp(sub, "list") != 0 || a.n > 0)) {
        cli_errorf("--config goes with triggers list only, without --table (install with pg2neo init --config)");
        cli_capture_args_free(&a);
        return CLI_USAGE;
    }
    if (a.config)
        return list_mapping(&a);
    PGconn *pg = cli_pg_connect();
    if (!pg) {
        cli_capture_args_free(&a);
        return CLI_FAIL;
    }
    P2nErr err;
    p2n_err_clear(&err);
    if (strcmp(sub, "list") == 0) {
        rc = do_list(pg, &a);
    } else if (strcmp(sub, "install") == 0) {
        if (pg_capture_install(pg, a.schema, a.tables, a.n, &err) < 0) {
            cli_errorf("%s", err.msg);
            rc = err.code == P2N_EINVAL || err.code == P2N_ENOTFOUND ? CLI_USAGE : CLI_FAIL;
        } else {
            for (size_t i = 0; i < a.n; i++)
                printf("captured %s.%s as %s\n", a.tables[i].schema, a.tables[i].table, a.tables[i].entity_type);
        }
    } else {
        int r = a.all ? pg_capture_drop_all(pg, a.schema, &err) : pg_capture_uninstall(pg, a.schema, a.tables, a.n, &err);
        if (r < 0) {
            cli_errorf("%s", err.msg);
            rc = CLI_FAIL;
        } else {
            printf("capture triggers dropped\n");
        }
    }
    PQfinish(pg);
    cli_capture_args_free(&a);
    return rc;
}

const CliCommand cli_cmd_triggers = {"triggers", "list, install or drop capture triggers", triggers_run,
                                     triggers_help};
