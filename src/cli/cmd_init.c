/*
 * pg2neo init: creates or upgrades the sync schema, then installs capture triggers. With a
 * mapping (--config, $P2N_MAPPING, or ./mapping.yaml when no --table is given) it validates the
 * mapping, captures every mapped table and creates the Neo4j constraints; --dry-run only says
 * what it would do. With --table specs it captures exactly those tables (no mapping needed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/capture_args.h"
#include "cli/cli.h"
#include "pg/schema.h"
#include "pg2neo.h"

static void init_help(void)
{
    printf("usage: pg2neo init [--config MAPPING] [--dry-run] [--schema NAME]\n"
           "       pg2neo init [--schema NAME] [--table SPEC]... [--tables-file FILE]\n\n"
           "With a mapping (--config, else $P2N_MAPPING, else ./mapping.yaml when no --table is given):\n"
           "validates it against the database, installs or upgrades the sync tables, installs capture\n"
           "triggers on every mapped table (watching the columns the mapping reads) and creates the\n"
           "Neo4j uniqueness constraints. Idempotent. --dry-run prints the plan and changes nothing.\n\n"
           "With --table specs (no mapping):\n"
           "Creates the sync tables (graph_sync_status, graph_sync_failures, graph_sync_batches, the change\n"
           "log) in the sync schema (default public, or $P2N_SYNC_SCHEMA), or upgrades them in place; safe\n"
           "to run again. Then installs capture triggers on each table given:\n"
           "  SPEC = schema.table:EntityType:key1,key2[:array1,array2[:watched1,watched2]]\n"
           "  (empty keys = the primary key; no watched list = every column)\n"
           "Connects with DATABASE_URL or the PG* variables.\n");
}

static void print_line(void *ctx, const char *line)
{
    (void)ctx;
    printf("%s\n", line);
}

static int init_mapping(const char *path, int dry_run)
{
    char msg[2048];
    P2nService *s = NULL;
    int rc = p2n_service_open(path, &s, msg, sizeof(msg));
    if (rc < 0) {
        cli_errorf("%s", msg);
        return rc == P2N_ECONFIG || rc == P2N_EINVAL ? CLI_USAGE : CLI_FAIL;
    }
    if (dry_run)
        printf("dry run: nothing is changed\n");
    rc = p2n_service_install(s, dry_run, print_line, NULL);
    if (rc < 0)
        cli_errorf("%s", p2n_service_error(s));
    p2n_service_close(s);
    return rc == 0 ? CLI_OK : rc == P2N_EINVAL || rc == P2N_ENOTFOUND ? CLI_USAGE : CLI_FAIL;
}

static int init_run(int argc, char **argv)
{
    const char *config = NULL, *schema = NULL;
    int dry_run = 0, tables = 0, other = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config = argv[++i];
        else if (strcmp(argv[i], "--dry-run") == 0)
            dry_run = 1;
        else if (strcmp(argv[i], "--schema") == 0 && i + 1 < argc)
            schema = argv[++i];
        else if (strcmp(argv[i], "--table") == 0 || strcmp(argv[i], "--tables-file") == 0)
            tables = 1;
        else
            other = 1;
    }
    if (schema != NULL && schema[0] == '\0') {
        cli_errorf("--schema needs a non-empty name");
        return CLI_USAGE;
    }
    if (config == NULL && !tables && !other) {
        const char *env = getenv("P2N_MAPPING");
        if (env && *env)
            config = env;
        else if (access("mapping.yaml", R_OK) == 0)
            config = "mapping.yaml";
    }
    if (config != NULL || dry_run) {
        if (tables || other) {
            cli_errorf("--config and --dry-run take only --schema besides");
            return CLI_USAGE;
        }
        if (config == NULL) {
            cli_errorf("--dry-run needs a mapping (--config)");
            return CLI_USAGE;
        }
        if (schema)
            setenv("P2N_SYNC_SCHEMA", schema, 1);
        return init_mapping(config, dry_run);
    }
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
