/*
 * pg2neo conflicts TYPE ID: the field-level differences of one entity between PostgreSQL and
 * Neo4j (src/sync/conflicts.h), as text or JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "sync/conflicts.h"

static void conflicts_help(void)
{
    printf("usage: pg2neo conflicts [--config MAPPING] [--json] TYPE ID\n\n"
           "Compares one entity field by field: its PostgreSQL row, converted as the sync writes it,\n"
           "against its Neo4j node (or relationship). Relationship fields are named -[:TYPE]-> or\n"
           "<-[:TYPE]- (their targets' keys), or from / to for a join-table relationship.\n"
           "ID is the entity id of the queue: the key's text, or [\"a\",\"b\"] for a composite key.\n\n"
           "  --config F   mapping file (default $P2N_MAPPING, else mapping.yaml)\n"
           "  --json       {entityType, entityId, inPostgres, inNeo4j, hasConflicts,\n"
           "               conflictingFields, postgresValues, neo4jValues}\n\n"
           "exit codes: 0 no conflict, 3 conflict, 1 failure, 2 bad usage, unknown type or id\n");
}

static int conflicts_cmd(int argc, char **argv)
{
    const char *path = NULL, *type = NULL, *id = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (strcmp(a, "--config") == 0 && i + 1 < argc) {
            path = argv[++i];
        } else if (a[0] == '-' && a[1] == '-' && a[2] != '\0') {
            cli_errorf("unknown option \"%s\" for conflicts", a);
            return CLI_USAGE;
        } else if (type == NULL) {
            type = a;
        } else if (id == NULL) {
            id = a;
        } else {
            cli_errorf("conflicts takes TYPE and ID");
            return CLI_USAGE;
        }
    }
    if (type == NULL || id == NULL) {
        cli_errorf("conflicts needs TYPE and ID (see pg2neo conflicts --help)");
        return CLI_USAGE;
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
    ConflictReport r;
    rc = conflicts_detect(&env, type, id, &r, &err);
    int code;
    if (rc < 0) {
        cli_errorf("%s", err.msg);
        code = rc == P2N_ENOTFOUND ? CLI_USAGE : CLI_FAIL;
    } else if (!r.in_postgres && !r.in_neo4j) {
        cli_errorf("no %s with id \"%s\" in PostgreSQL or Neo4j", type, id);
        code = CLI_USAGE;
    } else {
        if (json) {
            P2nBuf b;
            p2n_buf_init(&b);
            conflicts_report_json(&r, type, id, &b);
            if (!b.failed)
                printf("%s\n", (char *)b.data);
            p2n_buf_free(&b);
        } else if (r.nfields == 0) {
            printf("%s %s: no conflict\n", type, id);
        } else {
            printf("%s %s: %d conflicting field%s%s%s\n%s", type, id, r.nfields, r.nfields == 1 ? "" : "s",
                   r.in_postgres ? "" : " (not in PostgreSQL)", r.in_neo4j ? "" : " (not in Neo4j)",
                   r.text.len ? (char *)r.text.data : "");
        }
        code = r.nfields ? CLI_DIFF : CLI_OK;
    }
    conflicts_report_free(&r);
    fullsync_env_close(&env);
    return code;
}

const CliCommand cli_cmd_conflicts = {"conflicts", "field-level differences of one entity (exit 3 on a conflict)",
                                      conflicts_cmd, conflicts_help};
