/*
 * pg2neo: keeps a Neo4j graph in step with PostgreSQL.
 *
 * Public C API of libpg2neo. The pg2neo command is built on it; examples/embed.c shows how a
 * program embeds it. Words used throughout:
 *   change   a row inserted, updated or deleted in a mapped PostgreSQL table;
 *   entity   one mapped row, named by (entity_type, entity_id); the unit of sync;
 *   batch    the entities one runner claims and writes to Neo4j in one transaction;
 *   claim    a runner's hold on an entity (sync_status in_progress), with a lease;
 *   lease    how long a claim lasts before another runner may take the entity back;
 *   mapping  the YAML file that says which tables become which nodes and relationships.
 *
 * Conventions: functions return 0 or a negative P2N_E* code; p2n_strerror() names a code.
 */
#ifndef PG2NEO_H
#define PG2NEO_H

#include <signal.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PG2NEO_VERSION_MAJOR 0
#define PG2NEO_VERSION_MINOR 1
#define PG2NEO_VERSION_PATCH 0

/* Error codes: name, value, description. */
#define P2N_ERRNO_MAP(X)                                                        \
    X(OK, 0, "success")                                                         \
    X(ENOMEM, -1, "out of memory")                                              \
    X(EINVAL, -2, "invalid argument")                                           \
    X(EIO, -3, "input/output error")                                            \
    X(ETIMEDOUT, -4, "timed out")                                               \
    X(EPROTO, -5, "protocol error")                                             \
    X(EAUTH, -6, "authentication failed")                                       \
    X(ENEO4J, -7, "Neo4j reported a failure")                                   \
    X(EPG, -8, "PostgreSQL reported a failure")                                 \
    X(ECONFIG, -9, "invalid configuration")                                     \
    X(ECONNLOST, -10, "connection lost")                                        \
    X(EUNKNOWN_OUTCOME, -11, "connection lost after commit: outcome unknown")   \
    X(ETOOBIG, -12, "value too large")                                          \
    X(ENOTFOUND, -13, "not found")                                              \
    X(ESTATE, -14, "operation not valid in this state")                         \
    X(ETLS, -15, "TLS failure")                                                 \
    X(ECANCELED, -16, "canceled")                                               \
    X(EMISMATCH, -17, "data differs")

enum {
#define P2N_ERRNO_ENUM(name, val, text) P2N_##name = (val),
    P2N_ERRNO_MAP(P2N_ERRNO_ENUM)
#undef P2N_ERRNO_ENUM
};

/* What a caller should do about an error. */
typedef enum P2nErrClass {
    P2N_ERR_TRANSIENT = 1, /* retry, with backoff */
    P2N_ERR_PERMANENT = 2, /* do not retry: the input is at fault */
    P2N_ERR_FATAL = 3      /* the connection or credentials are unusable */
} P2nErrClass;

/* Describes an error code; never NULL. */
const char *p2n_strerror(int code);

/* "transient", "permanent" or "fatal". */
const char *p2n_err_class_name(P2nErrClass c);

/* The library's version, "MAJOR.MINOR.PATCH". */
const char *p2n_version(void);

/* ---- the sync service (the seed's sync-executor and batch-sync-runner) ---- */

/* A sync service: one mapping, one PostgreSQL and one Neo4j connection, one worker identity. */
typedef struct P2nService P2nService;

/* One batch's figures (the seed's BatchSyncStats). */
typedef struct P2nSyncStats {
    long long batch_id;        /* graph_sync_batches.id, 0 when nothing was claimed */
    long long total_entities;  /* claimed */
    long long synced_count;
    long long failed_count;    /* ended failed (permanent, or out of attempts) */
    long long retried_count;   /* will be retried after a backoff */
    long long released_count;  /* put back untouched (a database was unavailable) */
    long long duration_ms;
} P2nSyncStats;

/* The seed's getSyncServiceStatus(), with the per-state counts. */
typedef struct P2nServiceStatus {
    int initialized;           /* the sync schema is installed in PostgreSQL */
    int postgres_connected;
    int neo4j_connected;
    int scheduler_running;
    long long pending_entities;   /* pending + deleted: waiting for a batch */
    long long in_progress_entities;
    long long synced_entities;
    long long failed_entities;
    long long conflict_count;
    double oldest_pending_age_s;  /* negative when nothing waits */
} P2nServiceStatus;

/* Receives one line of a report (no newline). */
typedef void (*P2nReportFn)(void *ctx, const char *line);

/*
 * Initialises a service from a mapping file (the seed's initializeSyncService): loads it, reads
 * the catalog, resolves the mapping against it. Connects to PostgreSQL (the mapping's source or
 * the PG* variables); Neo4j is connected on first use. The sync schema is $P2N_SYNC_SCHEMA or
 * public. On failure *out is NULL and errbuf (may be NULL) holds the reason.
 */
int p2n_service_open(const char *mapping_path, P2nService **out, char *errbuf, size_t errbuf_size);

/* The last error's message ("" when none). */
const char *p2n_service_error(const P2nService *s);

/*
 * `pg2neo init`: installs or upgrades the sync tables, installs capture triggers on every mapped
 * table and creates the Neo4j constraints. Idempotent. With dry_run nothing is changed and each
 * step is only reported. report (may be NULL) receives one line per step.
 */
int p2n_service_install(P2nService *s, int dry_run, P2nReportFn report, void *report_ctx);

/* Current status (queue counts read from PostgreSQL). */
int p2n_service_status(P2nService *s, P2nServiceStatus *st);

/* The status as GET /api/sync/status returns it (the seed's field names, per-type counts, the
   oldest pending age, the lag, recent batches and failures, alerts), after folding the change
   log. *json is from malloc(); the caller frees it. */
int p2n_service_status_json(P2nService *s, char **json);

/* The seed's runBatchSync(limit, timeout): claims up to limit entities (<= 0: batchSizeLimit)
   and syncs them with a deadline of timeout_ms (<= 0: syncTimeoutMs). */
int p2n_sync_batch(P2nService *s, long limit, long timeout_ms, P2nSyncStats *st);

/* Queues a resync of every mapped type, the path a TRUNCATE takes: batches then read each type
   whole, upsert every row and remove the nodes / relationships no longer there. *queued (may be
   NULL) receives the number of types queued. Batches (p2n_sync_batch, the scheduler) do the work. */
int p2n_sync_resync(P2nService *s, long *queued);

/* Figures of a full sync. */
typedef struct P2nFullSyncStats {
    long long rows;             /* rows written */
    long long orphans_removed;  /* nodes / relationships with no live row, removed */
    double seconds;
} P2nFullSyncStats;

/* The seed's triggerFullSync() (`pg2neo full-sync`): streams every live row of type (NULL: every
   type) from PostgreSQL to Neo4j in chunks, resuming after an interrupted run, then removes
   orphans. Uses connections of its own. */
int p2n_sync_full(P2nService *s, const char *type, P2nFullSyncStats *st);

/* Figures of a consistency check. */
typedef struct P2nVerifyStats {
    long long types;        /* entity types compared */
    long long differences;  /* entities that differ (missing, extra, properties, relationships) */
    long long queued;       /* with repair: entities queued for the sync */
    double seconds;
} P2nVerifyStats;

/* The seed's verifyDataConsistency() (`pg2neo verify`): compares every entity of every type on
   both sides; with repair, queues each difference. Returns 0 whether or not there are
   differences (see st->differences). Uses connections of its own. */
int p2n_verify_consistency(P2nService *s, int repair, P2nVerifyStats *st);

/* One entity compared field by field (the seed's detectConflicts). */
typedef struct P2nConflictReport {
    int in_postgres;   /* a live row exists */
    int in_neo4j;
    int nfields;       /* conflicting fields; 0 = none */
    char *json;        /* the whole report as JSON (`pg2neo conflicts --json`), from malloc() */
} P2nConflictReport;

/* Compares entity id of type (the queue's entity id). Unknown type: P2N_ENOTFOUND. Free the
   report with p2n_conflict_report_free. */
int p2n_conflict_detect(P2nService *s, const char *type, const char *id, P2nConflictReport *r);
void p2n_conflict_report_free(P2nConflictReport *r);

/* The seed's resolveConflict(): PostgreSQL wins. Queues the entity with a new version, so the
   next batch rewrites its node (or removes it when PostgreSQL has no live row). */
int p2n_conflict_resolve(P2nService *s, const char *type, const char *id);

/* ---- conflict review and the audit trail (the seed's Phase 3.2) ----
 * graph_sync_status.has_conflicts marks a divergence nobody has reviewed yet: it is set by
 * p2n_conflict_detect, p2n_conflict_scan and the daemon's periodic scan, and counts toward
 * conflictCount and the conflicts alert. Acknowledging it (p2n_conflict_ack) clears the flag and
 * keeps what was accepted; a later check that finds different values flags the entity again. */

/* One entity with a recorded conflict, unreviewed or acknowledged. */
typedef struct P2nConflictEntry {
    char *entity_type;
    char *entity_id;
    char *details;        /* JSON {conflictingFields, postgresValues, neo4jValues}; NULL when unknown */
    double detected_at;   /* unix seconds */
    int acknowledged;     /* reviewed and accepted: does not count as a conflict */
    double acked_at;      /* unix seconds, 0 unless acknowledged */
    char *acked_by;       /* "pguser (os user name)", NULL unless acknowledged */
    char *ack_note;
} P2nConflictEntry;

/* Lists entities with a recorded conflict (type NULL = every type; at most limit, <= 0: 1000),
   ordered by type and id. Unknown type: P2N_ENOTFOUND. Free with p2n_conflict_list_free. */
int p2n_conflict_list(P2nService *s, const char *type, long limit, P2nConflictEntry **out, size_t *n);
void p2n_conflict_list_free(P2nConflictEntry *e, size_t n);

/* Figures of one conflict scan. */
typedef struct P2nConflictScanStats {
    long long checked;    /* entities compared */
    long long differing;  /* of which differ */
    long long flagged;    /* recorded as unreviewed conflicts */
    long long cleared;    /* found equal again: their conflict record was cleared */
    long long in_flight;  /* differ, but a change of theirs was being synced: not recorded */
} P2nConflictScanStats;

/* One pass of the daemon's conflict scan: per type a random sample of `sample` entities (<= 0:
   the mapping's conflictScanSample) plus those already flagged or acknowledged. */
int p2n_conflict_scan(P2nService *s, long sample, P2nConflictScanStats *st);

/* Records that entity id's current divergence was reviewed and accepted, with note (may be
   NULL), by the PostgreSQL user and the OS user; also an 'ack' audit row. r receives the
   comparison (free with p2n_conflict_report_free). Unknown type or id: P2N_ENOTFOUND; no
   difference to acknowledge: P2N_ESTATE. */
int p2n_conflict_ack(P2nService *s, const char *type, const char *id, const char *note, P2nConflictReport *r);

/* One audit trail row. */
typedef struct P2nHistoryEntry {
    long long id;
    char *action;      /* upsert, delete, resync (applied changes), resolve, ack */
    long long version; /* the change version; -1 when none */
    char *fields;      /* JSON: the array columns' net change, when the capture recorded one; or NULL */
    char *details;     /* JSON: the conflict resolved / acknowledged; or NULL */
    char *actor;       /* PostgreSQL user */
    char *os_user;     /* may be NULL */
    char *note;        /* may be NULL */
    char *worker_id;   /* the sync worker, for applied changes; may be NULL */
    double at;         /* unix seconds */
} P2nHistoryEntry;

/* The audit trail of one entity, newest first (at most limit rows, <= 0: 100). Unknown type, or
   an id with no history that neither its table nor the queue knows: P2N_ENOTFOUND. Free with
   p2n_history_free. */
int p2n_history(P2nService *s, const char *type, const char *id, long limit, P2nHistoryEntry **out, size_t *n);
void p2n_history_free(P2nHistoryEntry *h, size_t n);

/* Stores the mapping's auditRetentionDays in PostgreSQL and deletes audit rows older than that
   (0: all); the daemon does this every minute in small batches. *deleted may be NULL. */
int p2n_audit_prune(P2nService *s, long long *deleted);

/* Starts the scheduler (the daemon loop) in a thread of its own; p2n_scheduler_stop stops it
   after the batch in hand and releases its claims. */
int p2n_scheduler_start(P2nService *s);
int p2n_scheduler_stop(P2nService *s);

/* Runs the scheduler in the calling thread until *stop becomes non-zero (set it from a signal
   handler), then releases the claims. Returns 0 after a clean stop. */
int p2n_scheduler_run(P2nService *s, volatile sig_atomic_t *stop);

/* Starts the HTTP status API, metrics and dashboard on addr:port (addr NULL = 127.0.0.1;
   token NULL = no authentication). Stopped by p2n_service_close. */
int p2n_service_serve_http(P2nService *s, const char *addr, unsigned port, const char *token);
/* The HTTP port actually bound (useful with port 0), 0 when not serving. */
unsigned p2n_service_http_port(const P2nService *s);

/* The seed's shutdownSyncService(): stops the scheduler and the HTTP server, releases claims,
   closes connections and frees. NULL is a no-op. */
void p2n_service_close(P2nService *s);

#ifdef __cplusplus
}
#endif

#endif /* PG2NEO_H */
