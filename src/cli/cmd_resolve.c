/*
 * pg2neo resolve: the seed's resolveConflict — PostgreSQL wins. The entity (or, with --all, every
 * entity `verify` finds different) is queued with a new version, batches run until the queue has
 * nothing left to claim, and the entity is compared again, so the command says whether it worked.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "pg2neo.h"

#define RESOLVE_MAX_BATCHES 10000

static void resolve_help(void)
{
    printf("usage: pg2neo resolve [--config MAPPING] [--json] TYPE ID\n"
           "       pg2neo resolve [--config MAPPING] [--json] --all\n"
           "       pg2neo resolve [--config MAPPING] [--json] --ack TYPE ID [--note TEXT]\n\n"
           "PostgreSQL wins: queues the entity TYPE ID with a new version (--all: every entity that\n"
           "`pg2neo verify` finds different), runs sync batches until nothing is left to claim, then\n"
           "compares again and prints the outcome. ID is the queue's entity id: the key's text, or\n"
           "[\"a\",\"b\"] for a composite key. The mapping is --config, else $P2N_MAPPING, else\n"
           "mapping.yaml. Each resolve is recorded in the audit trail (pg2neo history).\n\n"
           "--ack records instead that the entity's current divergence was reviewed and accepted:\n"
           "nothing is synced; the conflict stops counting toward conflictCount and the conflicts\n"
           "alert until a later check finds different values. Recorded with the PostgreSQL user,\n"
           "the OS user, the time, the note and the acknowledged values (pg2neo conflicts --list,\n"
           "pg2neo history).\n\n"
           "exit codes: 0 resolved (PostgreSQL and Neo4j agree) or acknowledged, 3 still different,\n"
           "1 failure, 2 bad usage, unknown type or id, nothing to acknowledge\n");
}

/* Runs batches until one claims nothing; returns 0 or the failing batch's code. */
static int drain(P2nService *s, long long *synced, long long *failed)
{
    for (int i = 0; i < RESOLVE_MAX_BATCHES; i++) {
        P2nSyncStats st;
        int rc = p2n_sync_batch(s, 0, 0, &st);
        if (rc < 0)
            return rc;
        *synced += st.synced_count;
        *failed += st.failed_count;
        if (st.total_entities == 0)
            return 0;
    }
    return 0;
}

/* --ack: records the reviewed divergence; closes s */
static int ack_run(P2nService *s, const char *type, const char *id, const char *note, int json)
{
    P2nConflictReport r;
    int rc = p2n_conflict_ack(s, type, id, note, &r);
    int out = CLI_OK;
    if (rc < 0) {
        cli_errorf("%s", p2n_service_error(s));
        out = rc == P2N_ENOTFOUND || rc == P2N_ESTATE ? CLI_USAGE : CLI_FAIL;
    } else if (json) {
        printf("{\"acknowledged\":true,\"report\":%s}\n", r.json ? r.json : "null");
    } else {
        printf("%s %s: %d conflicting field%s acknowledged%s%s\n", type, id, r.nfields, r.nfields == 1 ? "" : "s",
               note ? ": " : "", note ? note : "");
    }
    p2n_conflict_report_free(&r);
    p2n_service_close(s);
    return out;
}

static int resolve_run(int argc, char **argv)
{
    const char *path = NULL, *type = NULL, *id = NULL, *note = NULL;
    int json = 0, all = 0, ack = 0;
    for (int i = 1; i < argc; i++) {
        if (i + 1 == argc && (strcmp(argv[i], "--config") == 0 || strcmp(argv[i], "--note") == 0)) {
            cli_errorf("option %s needs a value", argv[i]);
            return CLI_USAGE;
        }
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (strcmp(argv[i], "--all") == 0)
            all = 1;
        else if (strcmp(argv[i], "--ack") == 0)
            ack = 1;
        else if (strcmp(argv[i], "--note") == 0 && i + 1 < argc)
            note = argv[++i];
        else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            path = argv[++i];
        else if (argv[i][0] == '-' && argv[i][1] == '-') {
            cli_errorf("unknown option \"%s\" for resolve", argv[i]);
            return CLI_USAGE;
        } else if (type == NULL)
            type = argv[i];
        else if (id == NULL)
            id = argv[i];
        else {
            cli_errorf("unexpected argument \"%s\" for resolve", argv[i]);
            return CLI_USAGE;
        }
    }
    if (all == (type != NULL) || (!all && id == NULL) || (ack && all)) {
        cli_errorf("resolve needs TYPE ID, --all, or --ack TYPE ID");
        return CLI_USAGE;
    }
    if (note && !ack) {
        cli_errorf("--note goes with --ack");
        return CLI_USAGE;
    }
    if (path == NULL)
        path = getenv("P2N_MAPPING") && *getenv("P2N_MAPPING") ? getenv("P2N_MAPPING") : "mapping.yaml";
    char msg[1024] = "";
    P2nService *s = NULL;
    int rc = p2n_service_open(path, &s, msg, sizeof(msg));
    if (rc < 0) {
        cli_errorf("%s", msg);
        return rc == P2N_ECONFIG || rc == P2N_EINVAL ? CLI_USAGE : CLI_FAIL;
    }
    int out = CLI_OK;
    long long synced = 0, failed = 0;
    if (ack)
        return ack_run(s, type, id, note, json);
    if (all) {
        P2nVerifyStats vs;
        if (p2n_verify_consistency(s, 1, &vs) < 0) {
            cli_errorf("could not compare: %s", p2n_service_error(s));
            out = CLI_FAIL;
        } else if ((rc = drain(s, &synced, &failed)) < 0) {
            cli_errorf("could not sync: %s", p2n_service_error(s));
            out = CLI_FAIL;
        } else {
            P2nVerifyStats after;
            P2nConflictScanStats cs;
            if (p2n_verify_consistency(s, 0, &after) < 0) {
                cli_errorf("could not compare again: %s", p2n_service_error(s));
                out = CLI_FAIL;
            } else if (p2n_conflict_scan(s, 1, &cs) < 0) { /* re-checks (and clears) the recorded conflicts */
                cli_errorf("could not update the recorded conflicts: %s", p2n_service_error(s));
                out = CLI_FAIL;
            } else {
                if (json)
                    printf("{\"differencesBefore\":%lld,\"queued\":%lld,\"synced\":%lld,\"failed\":%lld,"
                           "\"differencesAfter\":%lld}\n",
                           vs.differences, vs.queued, synced, failed, after.differences);
                else
                    printf("differences before: %lld\nqueued: %lld\nsynced: %lld\nfailed: %lld\n"
                           "differences after: %lld\n",
                           vs.differences, vs.queued, synced, failed, after.differences);
                out = after.differences == 0 ? CLI_OK : CLI_DIFF;
            }
        }
        p2n_service_close(s);
        return out;
    }

    P2nConflictReport before;
    memset(&before, 0, sizeof(before));
    rc = p2n_conflict_detect(s, type, id, &before);
    if (rc < 0) {
        cli_errorf("%s", p2n_service_error(s));
        p2n_service_close(s);
        return rc == P2N_ENOTFOUND || rc == P2N_EINVAL ? CLI_USAGE : CLI_FAIL;
    }
    if (!before.in_postgres && !before.in_neo4j) {
        cli_errorf("%s %s exists neither in PostgreSQL nor in Neo4j", type, id);
        p2n_conflict_report_free(&before);
        p2n_service_close(s);
        return CLI_USAGE;
    }
    P2nConflictReport after;
    memset(&after, 0, sizeof(after));
    if (p2n_conflict_resolve(s, type, id) < 0 || drain(s, &synced, &failed) < 0 ||
        p2n_conflict_detect(s, type, id, &after) < 0) {
        cli_errorf("could not resolve %s %s: %s", type, id, p2n_service_error(s));
        out = CLI_FAIL;
    } else {
        if (json) {
            json_t *t = json_string(type);
            char *tq = t ? json_dumps(t, JSON_ENCODE_ANY) : NULL;
            printf("{\"entityType\":%s,\"conflictingFieldsBefore\":%d,\"conflictingFieldsAfter\":%d,"
                   "\"after\":%s}\n",
                   tq ? tq : "null", before.nfields, after.nfields, after.json ? after.json : "null");
            free(tq);
            json_decref(t);
        }
        else
            printf("%s %s: %d conflicting field%s before, %d after (PostgreSQL wins)\n", type, id, before.nfields,
                   before.nfields == 1 ? "" : "s", after.nfields);
        out = after.nfields == 0 ? CLI_OK : CLI_DIFF;
    }
    p2n_conflict_report_free(&before);
    p2n_conflict_report_free(&after);
    p2n_service_close(s);
    return out;
}

const CliCommand cli_cmd_resolve = {"resolve", "PostgreSQL wins: re-sync an entity (or --all) and check it",
                                    resolve_run, resolve_help};
