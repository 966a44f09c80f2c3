/* pg2neo ping: connects to PostgreSQL and shows its version (Neo4j is added by the Bolt client). */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "common/log.h"

static void ping_help(void)
{
    printf("usage: pg2neo ping\n\n"
           "Connects to PostgreSQL (DATABASE_URL or the PG* variables) and prints its version.\n");
}

static int ping_run(int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        cli_errorf("ping takes no arguments");
        return CLI_USAGE;
    }
    const char *url = getenv("DATABASE_URL");
    PGconn *pg = PQconnectdb(url ? url : "");
    if (PQstatus(pg) != CONNECTION_OK) {
        cli_errorf("could not connect to PostgreSQL: %s", PQerrorMessage(pg));
        PQfinish(pg);
        return CLI_FAIL;
    }
    PGresult *r = PQexec(pg, "SELECT version()");
    if (PQresultStatus(r) == PGRES_TUPLES_OK)
        printf("postgresql: %s\n", PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(pg);
    return CLI_OK;
}

const CliCommand cli_cmd_ping = {"ping", "check that PostgreSQL and Neo4j answer", ping_run, ping_help};
