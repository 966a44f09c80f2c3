/* pg2neo ping: connects to PostgreSQL and to Neo4j and shows their versions (and the Bolt version). */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>

#include "bolt/bolt.h"
#include "cli/cli.h"
#include "common/log.h"
#include "pg/pgutil.h"

static void ping_help(void)
{
    printf("usage: pg2neo ping\n\n"
           "Connects to PostgreSQL (DATABASE_URL or the PG* variables) and prints its version, then to\n"
           "Neo4j (NEO4J_URI, NEO4J_USER, NEO4J_PASSWORD or NEO4J_PASSWORD_FILE) and prints its version\n"
           "and the negotiated Bolt version. Exits 1 if either cannot be reached.\n");
}

/* The Neo4j half: connect (following the routing table for neo4j://), report, close. */
static int ping_neo4j(void)
{
    BoltConfig cfg;
    BoltEnv env;
    P2nErr err;
    p2n_err_clear(&err);
    if (bolt_config_from_env(&cfg, &env, &err) < 0) {
        cli_errorf("%s", err.msg);
        return CLI_FAIL;
    }
    BoltDriver *drv = NULL;
    BoltConn *c = NULL;
    int ret = CLI_FAIL;
    if (bolt_driver_new(&cfg, &drv, &err) < 0 || bolt_driver_connect(drv, BOLT_ACCESS_WRITE, &c, &err) < 0) {
        cli_errorf("could not connect to Neo4j: %s", err.msg);
    } else {
        int major, minor;
        bolt_conn_version(c, &major, &minor);
        printf("neo4j: %s over Bolt %d.%d at %s\n", bolt_conn_server_agent(c), major, minor, cfg.uri);
        ret = CLI_OK;
    }
    bolt_conn_close(c);
    bolt_driver_free(drv);
    return ret;
}

static int ping_run(int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        cli_errorf("ping takes no arguments");
        return CLI_USAGE;
    }
    int ret = CLI_OK;
    const char *url = getenv("DATABASE_URL");
    PGconn *pg = NULL;
    P2nErr err;
    if (pgu_connect(url ? url : "", url && *url ? "DATABASE_URL" : "the PG* environment variables", &pg, &err) < 0) {
        cli_errorf("%s", err.msg);
        ret = err.code == P2N_ECONFIG ? CLI_USAGE : CLI_FAIL;
    } else {
        PGresult *r = PQexec(pg, "SELECT version()");
        if (PQresultStatus(r) == PGRES_TUPLES_OK)
            printf("postgresql: %s\n", PQgetvalue(r, 0, 0));
        PQclear(r);
    }
    PQfinish(pg);
    if (ping_neo4j() != CLI_OK)
        ret = CLI_FAIL;
    return ret;
}

const CliCommand cli_cmd_ping = {"ping", "check that PostgreSQL and Neo4j answer", ping_run, ping_help};
