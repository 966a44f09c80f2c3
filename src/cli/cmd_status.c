/*
 * pg2neo status: the seed's getSyncServiceStatus from the command line — initialized,
 * neo4jConnected, pendingEntities, failedEntities, conflictCount, lastSyncBatch — plus counts per
 * entity type, the oldest pending entity's age and the lag. --json prints exactly what
 * GET /api/sync/status serves.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "pg2neo.h"

static void status_help(void)
{
    printf("usage: pg2neo status [--config MAPPING] [--json]\n\n"
           "Folds the change log, then prints the sync status: initialized, postgresConnected,\n"
           "neo4jConnected, pendingEntities, inProgressEntities, syncedEntities, failedEntities,\n"
           "conflictCount, lastSyncBatch, the age of the oldest pending entity, the lag, the counts\n"
           "per entity type, and the alerts that fire. --json prints the same JSON as the daemon's\n"
           "GET /api/sync/status. The mapping is --config, else $P2N_MAPPING, else mapping.yaml.\n\n"
           "exit codes: 0 printed (also when a database is down: see the connected fields),\n"
           "1 the status could not be read, 2 bad usage or an invalid mapping\n");
}

static const char *jstr(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static double jnum(json_t *o, const char *k, double dflt)
{
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : dflt;
}

static void print_age(const char *label, double s)
{
    if (s < 0)
        printf("%-22s -\n", label);
    else
        printf("%-22s %.1f s\n", label, s);
}

static void print_text(json_t *root)
{
    json_t *b;
    if (json_is_true(json_object_get(root, "postgresConnected")) && !json_is_true(json_object_get(root, "initialized")))
        fprintf(stderr, "pg2neo: the sync schema is not installed in this database: run pg2neo init\n");
    printf("%-22s %s\n", "initialized", json_is_true(json_object_get(root, "initialized")) ? "yes" : "no");
    printf("%-22s %s\n", "postgresConnected", json_is_true(json_object_get(root, "postgresConnected")) ? "yes" : "no");
    printf("%-22s %s\n", "neo4jConnected", json_is_true(json_object_get(root, "neo4jConnected")) ? "yes" : "no");
    const char *counts[] = {"pendingEntities", "inProgressEntities", "syncedEntities", "failedEntities", "conflictCount"};
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
        if (json_object_get(root, counts[i]) != NULL)
            printf("%-22s %.0f\n", counts[i], jnum(root, counts[i], 0));
    print_age("oldestPendingAge", jnum(root, "oldestPendingAgeSeconds", -1));
    print_age("lag", jnum(root, "lagSeconds", -1));
    b = json_object_get(root, "lastSyncBatch");
    if (json_is_object(b)) {
        const char *st = jstr(b, "status");
        const char *at = jstr(b, "startedAt");
        printf("%-22s #%.0f %s, %.0f entities, %.0f synced, %.0f failed, %.3f s%s%s\n", "lastSyncBatch",
               jnum(b, "id", 0), st ? st : "?", jnum(b, "totalEntities", 0), jnum(b, "syncedEntities", 0),
               jnum(b, "failedEntities", 0), jnum(b, "durationSeconds", 0), at ? " at " : "", at ? at : "");
    } else {
        printf("%-22s none\n", "lastSyncBatch");
    }
    json_t *types = json_object_get(root, "entityTypes");
    if (json_is_array(types) && json_array_size(types) > 0) {
        printf("\n%-16s %10s %12s %10s %10s\n", "entity type", "pending", "in progress", "synced", "failed");
        size_t i;
        json_t *t;
        json_array_foreach(types, i, t) {
            const char *name = jstr(t, "entityType");
            printf("%-16s %10.0f %12.0f %10.0f %10.0f\n", name ? name : "?", jnum(t, "pending", 0),
                   jnum(t, "inProgress", 0), jnum(t, "synced", 0), jnum(t, "failed", 0));
        }
    }
    json_t *alerts = json_object_get(root, "alerts");
    if (json_is_array(alerts)) {
        size_t i;
        json_t *a;
        int firing = 0;
        json_array_foreach(alerts, i, a) {
            const char *state = jstr(a, "state");
            if (state != NULL && strcmp(state, "firing") == 0) {
                const char *name = jstr(a, "name");
                const char *sev = jstr(a, "severity");
                printf("%s%s (%s)", firing++ ? ", " : "\nalerts firing: ", name ? name : "?", sev ? sev : "?");
            }
        }
        printf(firing ? "\n" : "\nalerts firing: none\n");
    }
}

static int status_run(int argc, char **argv)
{
    const char *path = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            path = argv[++i];
        } else {
            cli_errorf("unknown argument \"%s\" for status", argv[i]);
            return CLI_USAGE;
        }
    }
    if (path == NULL)
        path = getenv("P2N_MAPPING") ? getenv("P2N_MAPPING") : "mapping.yaml";
    char msg[1024] = "";
    P2nService *s = NULL;
    if (p2n_service_open(path, &s, msg, sizeof(msg)) < 0) {
        cli_errorf("%s", msg);
        return strstr(msg, "mapping") != NULL ? CLI_USAGE : CLI_FAIL;
    }
    char *out = NULL;
    int rc = p2n_service_status_json(s, &out);
    if (out == NULL) {
        cli_errorf("could not read the status: %s", p2n_service_error(s));
        p2n_service_close(s);
        return CLI_FAIL;
    }
    (void)rc; /* a database that is down is part of the status, not a failure to print it */
    if (json) {
        printf("%s\n", out);
    } else {
        json_error_t je;
        json_t *root = json_loads(out, 0, &je);
        if (root == NULL) {
            cli_errorf("could not parse the status JSON: %s", je.text);
            free(out);
            p2n_service_close(s);
            return CLI_FAIL;
        }
        print_text(root);
        json_decref(root);
    }
    free(out);
    p2n_service_close(s);
    return CLI_OK;
}

const CliCommand cli_cmd_status = {"status", "show the sync status (the seed's getSyncServiceStatus)", status_run,
                                   status_help};
