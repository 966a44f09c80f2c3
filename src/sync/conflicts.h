/*
 * Conflict detection for one entity (`pg2neo conflicts TYPE ID`, the seed's detectConflicts):
 * the entity's PostgreSQL row, encoded as the sync engine would write it, against its node (or
 * relationship) in Neo4j, field by field. Built on verify's comparison (verify.h).
 */
#ifndef P2N_SYNC_CONFLICTS_H
#define P2N_SYNC_CONFLICTS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"
#include "sync/fullsync.h"

typedef struct ConflictReport {
    bool in_postgres; /* a live row (not soft-deleted) */
    bool in_neo4j;
    int nfields;      /* conflicting fields */
    P2nBuf fields;    /* JSON array elements: "a","b" */
    P2nBuf pg_values; /* JSON object members: "a":1,"b":2 */
    P2nBuf neo_values;
    P2nBuf text;      /* one line per field for people */
} ConflictReport;

/*
 * Compares entity `id` of type `type`. Unknown type: P2N_ENOTFOUND (err names it). An id on
 * neither side is not an error: both flags are false. Free with conflicts_report_free.
 */
int conflicts_detect(FsEnv *env, const char *type, const char *id, ConflictReport *r, P2nErr *err);
void conflicts_report_free(ConflictReport *r);
/* {"entityType":..,"entityId":..,"inPostgres":..,"inNeo4j":..,"hasConflicts":..,
   "conflictingFields":[..],"postgresValues":{..},"neo4jValues":{..}} */
void conflicts_report_json(const ConflictReport *r, const char *type, const char *id, P2nBuf *b);
/* The details stored in graph_sync_status.conflict_details (and acknowledged):
   {"conflictingFields":[..],"postgresValues":{..},"neo4jValues":{..}} */
void conflicts_report_details(const ConflictReport *r, P2nBuf *b);

/*
 * Recording what a comparison found in graph_sync_status (sql/002): for each checked id that
 * differs, and still differs the same way when compared again 200 ms later, has_conflicts = true
 * and conflict_details, unless the very same details were acknowledged (then has_conflicts stays
 * false); for each id found equal, or on neither side, the conflict columns are cleared. A difference is only recorded for an entity that was synced (or had no queue
 * row) when the check started and whose version did not move until the check ended (the change
 * log is folded first): an entity with a change in flight is expected to differ for a moment.
 * Uses env->pg2. conflicts_detect records its one entity this way.
 */
typedef struct ConflictScanStats {
    int64_t checked;   /* entities compared */
    int64_t differing; /* of which differ */
    int64_t flagged;   /* recorded with has_conflicts = true (not in flight, not acknowledged) */
    int64_t newly;     /* of which were not flagged before */
    int64_t cleared;   /* conflict columns cleared: found equal again */
    int64_t skipped;   /* differ but a change was in flight: not recorded */
} ConflictScanStats;

/* One scan of every type: a random sample of `sample` ids per type (from the mapped table)
   plus up to `sample` entities already flagged or acknowledged, compared and recorded.
   Stats are added to *st. */
int conflicts_scan(FsEnv *env, long sample, ConflictScanStats *st, P2nErr *err);

/*
 * `pg2neo resolve --ack`: compares the entity now and records that its divergence was reviewed
 * and accepted: has_conflicts = false, conflict_acked_at/by/note and the acknowledged details,
 * plus an 'ack' audit row (by current_user and os_user). r receives the comparison. No
 * difference: P2N_ESTATE (nothing to acknowledge); unknown type P2N_ENOTFOUND; an id on
 * neither side P2N_ENOTFOUND.
 */
int conflicts_ack(FsEnv *env, const char *type, const char *id, const char *note, const char *os_user,
                  ConflictReport *r, P2nErr *err);

#endif
