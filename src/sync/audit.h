/*
 * The audit trail and the daemon's maintenance thread (sql/002_review_audit.sql).
 *
 * graph_sync_audit gets one row per applied change (written by pgq_mark_synced's statement, in
 * the same round trip that marks a batch synced), per resolve request and per acknowledged
 * conflict. Rows are kept for the mapping's sync.auditRetentionDays (graph_sync_state holds the
 * value, 0 = no rows are written at all) and pruned by the daemon in small batches.
 *
 * The maintenance thread (started with the daemon's scheduler) runs on connections of its own,
 * so neither its conflict scan nor its pruning ever holds up the sync loop:
 *   - at start, and every minute: stores auditRetentionDays, prunes rows older than that
 *     (batches of AUDIT_PRUNE_BATCH rows, at most AUDIT_PRUNE_ROUNDS batches a round);
 *   - every conflictScanIntervalMs (0 = never): conflicts_scan with conflictScanSample.
 */
#ifndef P2N_SYNC_AUDIT_H
#define P2N_SYNC_AUDIT_H

#include <libpq-fe.h>
#include <stdint.h>

#include "common/error.h"
#include "mapping/mapping.h"

#define AUDIT_PRUNE_BATCH 5000
#define AUDIT_PRUNE_ROUNDS 20

/* Stores the retention (days, 0 = no audit rows) in graph_sync_state. */
int audit_settings_store(PGconn *conn, const char *schema, int64_t days, P2nErr *err);

/* Deletes audit rows older than days (0: all), at most max_batches batches of batch rows;
   *deleted (may be NULL) receives the count. */
int audit_prune(PGconn *conn, const char *schema, int64_t days, int batch, int max_batches, int64_t *deleted,
                P2nErr *err);

/* The resolve request: queues entity (type, id) with a new version in the change log and writes
   a 'resolve' audit row with that version and the conflict details on record, in one statement.
   os_user may be NULL. *version (may be NULL) receives the version queued. */
int audit_queue_resolve(PGconn *conn, const char *schema, const char *type, const char *id, const char *os_user,
                        int64_t *version, P2nErr *err);

/* The operating-system user running this process ("" when unknown); buf of size bytes. */
void audit_os_user(char *buf, size_t size);

typedef struct SyncMaint SyncMaint;

/* Starts the maintenance thread for a daemon: mapping_path and schema give its connections,
   cfg its intervals. *out is NULL (and 0 returned) when there is nothing to do. */
int sync_maint_start(const char *mapping_path, const char *conninfo, const char *schema, const MappingSync *cfg,
                     SyncMaint **out, P2nErr *err);
/* Stops it (waits for the scan in hand) and frees; NULL is a no-op. */
void sync_maint_stop(SyncMaint *m);

#endif
