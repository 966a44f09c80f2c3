/*
 * pg2neo conflicts TYPE ID: the field-level differences of one entity between PostgreSQL and
 * Neo4j (src/sync/conflicts.h), as text or JSON, recorded in graph_sync_status. --list: the
 * review list (unreviewed and acknowledged conflicts); --scan: one pass of the daemon's scan.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "pg2neo.h"
#include "sync/conflicts.h"

static void conflicts_help(void)
{
    printf("usage: pg2neo conflicts [--config MAPPING] [--json] TYPE ID\n"
           "       pg2neo conflicts [--config MAPPING] [--json] --list [--type TYPE] [--limit N]\n"
           "       pg2neo conflicts [--config MAPPING] [--json] --scan [--sample N]\n\n"
           "Compares one entity field by field: its PostgreSQL row, converted as the sync writes it,\n"
           "against its Neo4j node (or relationship). Relationship fields are named -[:TYPE]-> or\n"
           "<-[:TYPE]- (their targets' keys), or from / to for a join-table relationship.\n"
           "ID is the entity id of the queue: the key's text, or [\"a\",\"b\"] for a composite key.\n"
           "The outcome is recorded in graph_sync_status (has_conflicts, conflict_details) unless a\n"
           "change of the entity is being synced.\n\n"
           "  --config F   mapping file (default $P2N_MAPPING, else mapping.yaml)\n"
           "  --json       {entityType, entityId, inPostgres, inNeo4j, hasConflicts,\n"
           "               conflictingFields, postgresValues, neo4jValues}\n"
           "  --list       the recorded conflicts to review: type, id, fields, detected at, and\n"
           "               whether (by whom, when, why) it was acknowledged (pg2neo resolve --ack)\n"
           "  --type T     with --list: only this entity type\n"
           "  --limit N    with --list: at most N entities (default 1000)\n"
           "  --scan       one pass of the daemon's conflict scan: a random sample of each type plus\n"
           "               the entities already listed, compared and recorded\n"
           "  --sample N   with --scan: entities per type (default: the mapping's conflictScanSample)\n\n"
           "exit codes: 0 no conflict, 3 conflict (--list, --scan: an unreviewed one), 1 failure,\n"
           "2 bad usage, unknown type or id\n");
}

static void iso_time(char *buf, size_t size, double t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (t <= 0 || gmtime_r(&tt, &tm) == NULL || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, size, "-");
}

/* a positive integer option value, or -1 */
static long parse_count(const char *v)
{
    char *end = NULL;
    long n = strtol(v, &end, 10);
    return v[0] != '\0' && *end == '\0' && n > 0 ? n : -1;
}

static int open_service(const char *path, P2nService **s)
{
    char msg[1024] = "";
    int rc = p2n_service_open(path, s, msg, sizeof(msg));
    if (rc < 0) {
        cli_errorf("%s", msg);
        return rc == P2N_ECONFIG || rc == P2N_EINVAL ? CLI_USAGE : CLI_FAIL;
    }
    return CLI_OK;
}

static int list_run(const char *path, const char *type, long limit, bool json)
{
    P2nService *s = NULL;
    int code = open_service(path, &s);
    if (code != CLI_OK)
        return code;
    P2nConflictEntry *v = NULL;
    size_t n = 0;
    int rc = p2n_conflict_list(s, type, limit, &v, &n);
    if (rc < 0) {
        cli_errorf("%s", p2n_service_error(s));
        p2n_service_close(s);
        return rc == P2N_ENOTFOUND ? CLI_USAGE : CLI_FAIL;
    }
    size_t unreviewed = 0;
    json_t *arr = json ? json_array() : NULL;
    if (!json && n == 0)
        printf("no recorded conflicts\n");
    for (size_t i = 0; i < n; i++) {
        P2nConflictEntry *e = &v[i];
        unreviewed += !e->acknowledged;
        json_t *d = e->details ? json_loads(e->details, 0, NULL) : NULL;
        json_t *fields = json_object_get(d, "conflictingFields");
        char det[40], ack[40];
        iso_time(det, sizeof(det), e->detected_at);
        iso_time(ack, sizeof(ack), e->acked_at);
        if (json) {
            json_t *o = json_pack("{s:s, s:s, s:O?, s:O?, s:O?, s:s, s:b}", "entityType", e->entity_type, "entityId",
                                  e->entity_id, "conflictingFields", fields, "postgresValues",
                                  json_object_get(d, "postgresValues"), "neo4jValues", json_object_get(d, "neo4jValues"),
                                  "detectedAt", det, "acknowledged", e->acknowledged);
            if (o && e->acknowledged) {
                json_t *a = json_pack("{s:s, s:s?, s:s?}", "acknowledgedAt", ack, "acknowledgedBy", e->acked_by,
                                      "note", e->ack_note);
                json_object_update(o, a);
                json_decref(a);
            }
            json_array_append_new(arr, o);
        } else {
            char *f = fields ? json_dumps(fields, JSON_COMPACT) : NULL;
            printf("%s %s  fields %s  detected %s  %s", e->entity_type, e->entity_id, f ? f : "(unknown)", det,
                   e->acknowledged ? "acknowledged" : "unreviewed");
            if (e->acknowledged)
                printf(" by %s at %s%s%s", e->acked_by ? e->acked_by : "?", ack, e->ack_note ? ": " : "",
                       e->ack_note ? e->ack_note : "");
            printf("\n");
            free(f);
        }
        json_decref(d);
    }
    if (json) {
        char *out = json_dumps(arr, JSON_COMPACT);
        printf("%s\n", out ? out : "[]");
        free(out);
        json_decref(arr);
    }
    p2n_conflict_list_free(v, n);
    p2n_service_close(s);
    return unreviewed ? CLI_DIFF : CLI_OK;
}

static int scan_run(const char *path, long sample, bool json)
{
    P2nService *s = NULL;
    int code = open_service(path, &s);
    if (code != CLI_OK)
        return code;
    P2nConflictScanStats st;
    int rc = p2n_conflict_scan(s, sample, &st);
    if (rc < 0) {
        cli_errorf("%s", p2n_service_error(s));
        p2n_service_close(s);
        return CLI_FAIL;
    }
    P2nServiceStatus ss;
    long long unreviewed = p2n_service_status(s, &ss) == 0 ? ss.conflict_count : -1;
    if (json)
        printf("{\"checked\":%lld,\"differing\":%lld,\"flagged\":%lld,\"cleared\":%lld,\"inFlight\":%lld,"
               "\"conflictCount\":%lld}\n",
               st.checked, st.differing, st.flagged, st.cleared, st.in_flight, unreviewed);
    else
        printf("checked %lld, differing %lld, flagged %lld, cleared %lld, in flight %lld; unreviewed conflicts: %lld\n",
               st.checked, st.differing, st.flagged, st.cleared, st.in_flight, unreviewed);
    p2n_service_close(s);
    return unreviewed > 0 ? CLI_DIFF : CLI_OK;
}

static int conflicts_cmd(int argc, char **argv)
{
    const char *path = NULL, *type = NULL, *id = NULL, *only = NULL;
    bool json = false, list = false, scan = false;
    long limit = 0, sample = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 == argc && (strcmp(a, "--config") == 0 || strcmp(a, "--type") == 0 || strcmp(a, "--limit") == 0 ||
                              strcmp(a, "--sample") == 0)) {
            cli_errorf("option %s needs a value", a);
            return CLI_USAGE;
        }
        if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (strcmp(a, "--list") == 0) {
            list = true;
        } else if (strcmp(a, "--scan") == 0) {
            scan = true;
        } else if (strcmp(a, "--config") == 0 && i + 1 < argc) {
            path = argv[++i];
        } else if (strcmp(a, "--type") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else if ((strcmp(a, "--limit") == 0 || strcmp(a, "--sample") == 0) && i + 1 < argc) {
            long n = parse_count(argv[i + 1]);
            if (n < 0) {
                cli_errorf("invalid value \"%s\" for %s: a positive integer is required", argv[i + 1], a);
                return CLI_USAGE;
            }
            *(a[2] == 'l' ? &limit : &sample) = n;
            i++;
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
    if (list + scan + (type != NULL) > 1 || (list && sample) || (scan && (limit || only)) ||
        (!list && !scan && (limit || sample || only))) {
        cli_errorf("conflicts takes TYPE ID, or --list [--type T] [--limit N], or --scan [--sample N]");
        return CLI_USAGE;
    }
    if (!list && !scan && (type == NULL || id == NULL)) {
        cli_errorf("conflicts needs TYPE and ID, --list or --scan (see pg2neo conflicts --help)");
        return CLI_USAGE;
    }
    if (path == NULL)
        path = getenv("P2N_MAPPING") && *getenv("P2N_MAPPING") ? getenv("P2N_MAPPING") : "mapping.yaml";
    if (list)
        return list_run(path, only, limit, json);
    if (scan)
        return scan_run(path, sample, json);
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
