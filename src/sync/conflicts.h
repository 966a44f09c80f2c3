/*
 * Conflict detection for one entity (`pg2neo conflicts TYPE ID`, the seed's detectConflicts):
 * the entity's PostgreSQL row, encoded as the sync engine would write it, against its node (or
 * relationship) in Neo4j, field by field. Built on verify's comparison (verify.h).
 */
#ifndef P2N_SYNC_CONFLICTS_H
#define P2N_SYNC_CONFLICTS_H

#include <stdbool.h>

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

#endif
