/*
 * pg2neo verify: compares PostgreSQL and Neo4j type by type (src/sync/verify.h) and, with
 * --repair, queues every difference for the sync daemon.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "sync/verify.h"

static void verify_help(void)
{
    printf("usage: pg2neo verify [--config MAPPING] [--type TYPE] [--sample N] [--json] [--repair]\n\n"
           "Compares every mapped type (or TYPE) between PostgreSQL and Neo4j, streaming both sides in\n"
           "key order (bounded memory): counts on each side, ids missing from Neo4j, ids extra in Neo4j,\n"
           "property mismatches and relationship mismatches (the first %d ids of each are listed).\n"
           "`_p2n_*` bookkeeping properties are ignored.\n\n"
           "  --config F   mapping file (default $P2N_MAPPING, else mapping.yaml)\n"
           "  --type T     only entity type T\n"
           "  --sample N   check a random sample of N ids per type (extras outside it are not seen)\n"
           "  --json       one JSON object on stdout\n"
           "  --repair     queue every difference in graph_sync_status (pending upsert, or delete for\n"
           "               an extra) with a new version, so the daemon fixes it\n\n"
           "exit codes: 0 consistent, 3 differences found, 1 failure, 2 bad usage or unknown type\n",
           VERIFY_LIST_MAX);
}

static int verify_cmd(int argc, char **argv)
{
    const char *path = NULL;
    VerifyOptions o;
    memset(&o, 0, sizeof(o));
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (strcmp(a, "--repair") == 0) {
            o.repair = true;
        } else if (strcmp(a, "--config") == 0 && i + 1 < argc) {
            path = argv[++i];
        } else if (strcmp(a, "--type") == 0 && i + 1 < argc) {
            o.type = argv[++i];
        } else if (strcmp(a, "--sample") == 0 && i + 1 < argc) {
            const char *v = argv[++i];
            char *end = NULL;
            long n = strtol(v, &end, 10);
            if (end == v || *end != '\0' || n < 1 || n > 100000000L) {
                cli_errorf("invalid value \"%s\" for --sample: expected 1..100000000", v);
                return CLI_USAGE;
            }
            o.sample = n;
        } else {
            cli_errorf("unknown option \"%s\" for verify", a);
            return CLI_USAGE;
        }
    }
    if (path == NULL)
        path = getenv("P2N_MAPPING") && *getenv("P2N_MAPPING") ? getenv("P2N_MAPPING") : "mapping.yaml";
    FsEnv env;
    MappingDiags diags = {0};
    P2nErr err;
    p2n_err_clear(&err);
    int rc = fullsync_env_open(path, &env, &diags, &err);
    if (rc < 0) {
        for (size_t i = 0; i < diags.n; i++)
            cli_errorf("%s", diags.msgs[i]);
        if (diags.n == 0)
            cli_errorf("%s", err.msg);
        mapping_diags_free(&diags);
        return rc == P2N_ECONFIG ? CLI_USAGE : CLI_FAIL;
    }
    mapping_diags_free(&diags);
    if (o.type && mapping_entity_find(env.m, o.type) == NULL) {
        cli_errorf("unknown entity type \"%s\"", o.type);
        fullsync_env_close(&env);
        return CLI_USAGE;
    }
    VerifyResult res;
    rc = verify_run(&env, &o, &res, &err);
    int code = CLI_OK;
    if (rc < 0) {
        cli_errorf("%s", err.msg);
        code = rc == P2N_ENOTFOUND ? CLI_USAGE : CLI_FAIL;
    } else {
        P2nBuf b;
        p2n_buf_init(&b);
        if (json)
            verify_result_json(&res, &b);
        else
            verify_result_text(&res, &b);
        if (!b.failed)
            printf(json ? "%s\n" : "%s", (char *)b.data);
        p2n_buf_free(&b);
        code = res.differences ? CLI_DIFF : CLI_OK;
    }
    verify_result_free(&res);
    fullsync_env_close(&env);
    return code;
}

const CliCommand cli_cmd_verify = {"verify", "compare PostgreSQL and Neo4j (exit 3 on differences; --repair)",
                                   verify_cmd, verify_help};
