/*
 * pg2neo history TYPE ID: the audit trail of one entity (graph_sync_audit, src/sync/audit.h),
 * newest first: every applied change with its version, every resolve and acknowledgement.
 * --prune applies the mapping's retention now (the daemon does it every minute).
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "pg2neo.h"

static void history_help(void)
{
    printf("usage: pg2neo history [--config MAPPING] [--json] [--limit N] TYPE ID\n"
           "       pg2neo history [--config MAPPING] --prune\n\n"
           "Prints the audit trail of entity TYPE ID, newest first: each change the sync applied\n"
           "(upsert, delete, resync) with its version and, for array columns, the elements added and\n"
           "removed; each resolve (pg2neo resolve) and each acknowledged conflict (pg2neo resolve\n"
           "--ack) with who, when, the note and the values. Rows are kept for the mapping's\n"
           "sync.auditRetentionDays (default 30; 0 = no audit trail). ID is the queue's entity id.\n\n"
           "  --config F   mapping file (default $P2N_MAPPING, else mapping.yaml)\n"
           "  --json       a JSON array of {id, action, version, fields, details, actor, osUser, note,\n"
           "               workerId, at}\n"
           "  --limit N    at most N rows (default 100)\n"
           "  --prune      store the retention and delete older rows now\n\n"
           "exit codes: 0 printed, 1 failure, 2 bad usage, unknown type or id\n");
}

static void iso_time(char *buf, size_t size, double t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    int ms = (int)((t - (double)tt) * 1000.0);
    char base[32];
    if (t <= 0 || gmtime_r(&tt, &tm) == NULL || strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, "%s.%03dZ", base, ms < 0 ? 0 : ms > 999 ? 999 : ms);
}

static int history_run(int argc, char **argv)
{
    const char *path = NULL, *type = NULL, *id = NULL;
    bool json = false, prune = false;
    long limit = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 == argc && (strcmp(a, "--config") == 0 || strcmp(a, "--limit") == 0)) {
            cli_errorf("option %s needs a value", a);
            return CLI_USAGE;
        }
        if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (strcmp(a, "--prune") == 0) {
            prune = true;
        } else if (strcmp(a, "--config") == 0 && i + 1 < argc) {
            path = argv[++i];
        } else if (strcmp(a, "--limit") == 0 && i + 1 < argc) {
            char *end = NULL;
            limit = strtol(argv[i + 1], &end, 10);
            if (argv[i + 1][0] == '\0' || *end != '\0' || limit <= 0) {
                cli_errorf("invalid value \"%s\" for --limit: a positive integer is required", argv[i + 1]);
                return CLI_USAGE;
            }
            i++;
        } else if (a[0] == '-' && a[1] == '-') {
            cli_errorf("unknown option \"%s\" for history", a);
            return CLI_USAGE;
        } else if (type == NULL) {
            type = a;
        } else if (id == NULL) {
            id = a;
        } else {
            cli_errorf("unexpected argument \"%s\" for history", a);
            return CLI_USAGE;
        }
    }
    if (prune ? (type != NULL || limit != 0 || json) : (type == NULL || id == NULL)) {
        cli_errorf("history needs TYPE ID, or --prune alone (see pg2neo history --help)");
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
    if (prune) {
        long long n = 0;
        rc = p2n_audit_prune(s, &n);
        if (rc < 0)
            cli_errorf("%s", p2n_service_error(s));
        else
            printf("audit rows deleted: %lld\n", n);
        p2n_service_close(s);
        return rc < 0 ? CLI_FAIL : CLI_OK;
    }
    P2nHistoryEntry *v = NULL;
    size_t n = 0;
    rc = p2n_history(s, type, id, limit, &v, &n);
    if (rc < 0) {
        cli_errorf("%s", p2n_service_error(s));
        p2n_service_close(s);
        return rc == P2N_ENOTFOUND ? CLI_USAGE : CLI_FAIL;
    }
    json_t *arr = json ? json_array() : NULL;
    if (!json && n == 0)
        printf("%s %s: no history (none recorded, or older than the retention)\n", type, id);
    for (size_t i = 0; i < n; i++) {
        P2nHistoryEntry *h = &v[i];
        char at[48];
        iso_time(at, sizeof(at), h->at);
        if (json) {
            json_t *f = h->fields ? json_loads(h->fields, 0, NULL) : NULL;
            json_t *d = h->details ? json_loads(h->details, 0, NULL) : NULL;
            json_t *o = json_pack("{s:I, s:s, s:o, s:o?, s:o?, s:s?, s:s?, s:s?, s:s?, s:s}", "id", (json_int_t)h->id,
                                  "action", h->action, "version",
                                  h->version >= 0 ? json_integer((json_int_t)h->version) : json_null(), "fields", f,
                                  "details", d, "actor", h->actor, "osUser", h->os_user, "note", h->note, "workerId",
                                  h->worker_id, "at", at);
            json_array_append_new(arr, o);
        } else {
            printf("%s  %-7s", at, h->action);
            if (h->version >= 0)
                printf("  version %lld", h->version);
            if (h->fields)
                printf("  fields %s", h->fields);
            printf("  by %s", h->actor ? h->actor : "?");
            if (h->os_user)
                printf(" (os user %s)", h->os_user);
            if (h->note)
                printf("  note: %s", h->note);
            if (h->details)
                printf("  details %s", h->details);
            printf("\n");
        }
    }
    if (json) {
        char *out = json_dumps(arr, JSON_COMPACT);
        printf("%s\n", out ? out : "[]");
        free(out);
        json_decref(arr);
    }
    p2n_history_free(v, n);
    p2n_service_close(s);
    return CLI_OK;
}

const CliCommand cli_cmd_history = {"history", "the audit trail of one entity, newest first", history_run,
                                    history_help};
