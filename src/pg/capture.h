/*
 * Capture: the triggers that queue changed entities. For each captured table pg2neo generates
 * three SECURITY DEFINER PL/pgSQL functions in the sync schema (search_path fixed to pg_catalog,
 * pg_temp; every identifier quoted) and five triggers:
 *   <table>_sync_insert    AFTER INSERT, per statement, transition table -> on_entity_change_<t>
 *   <table>_sync_trigger   AFTER UPDATE, per row, WHEN a watched column changed but neither the
 *                          key nor an array                               -> on_entity_change_<t>
 *   <table>_sync_array     AFTER UPDATE, per row, WHEN the key or an array column changed
 *                          (key change = delete old + insert new; arrays: added/removed)
 *                                                                          -> on_array_field_change_<t>
 *   <table>_sync_delete    AFTER DELETE, per statement, transition table -> on_entity_delete_<t>
 *   <table>_sync_truncate  AFTER TRUNCATE, per statement (a resync of the type)
 * In statement mode (PgCaptureTable.mode) UPDATEs are captured instead by one trigger,
 *   <table>_sync_trigger   AFTER UPDATE, per statement, old and new transition tables joined on
 *                          the key                                         -> on_array_field_change_<t>
 * and <table>_sync_array does not exist.
 * A partitioned table (relkind 'p') gets the row-mode set in both modes, with <table>_sync_insert
 * and <table>_sync_delete per row too: PostgreSQL clones row triggers onto every partition, present
 * and future, so writes straight into a partition and rows moved between partitions (a DELETE plus
 * an INSERT, no UPDATE trigger) are captured; statement triggers are neither cloned nor fired for
 * a statement that names a partition. Changes of the partition tree (ATTACH, DETACH, DROP, a
 * partition's TRUNCATE) are caught by the fold, which resyncs the type (sql/007_partitions.sql).
 * (<t> is the table, prefixed by its schema and "__" when that is not public.) They append to the
 * index-free graph_sync_log; graph_sync_fold() (queue.h) turns the log into one graph_sync_status
 * row per entity. Unchanged rows never reach a function: the WHEN clauses skip them. See
 * docs/capture.md for the measurements behind this design.
 *
 * Until the Mapping lands, the tables come from a plain list (PgCaptureTable), which the CLI
 * fills from --table specs.
 */
#ifndef P2N_PG_CAPTURE_H
#define P2N_PG_CAPTURE_H

#include <libpq-fe.h>
#include <stddef.h>

#include "common/error.h"

/* Bump when the generated trigger SQL changes: older installs then show as stale.
   2: ids in the canonical forms of common/keyid.h, citext columns compared as text. */
#define PG_CAPTURE_GENERATOR 2
#define PG_CAPTURE_NTRIGGERS 5

/* How UPDATEs are captured (INSERT, DELETE and TRUNCATE are per statement, except on a
   partitioned table: see above). */
typedef enum PgCaptureMode {
    PG_CAPTURE_MODE_ROW = 0,       /* per row, unchanged rows skipped by WHEN: the cheapest for
                                      single-row updates (OLTP); the default */
    PG_CAPTURE_MODE_STATEMENT = 1, /* per statement with transition tables: the cheapest for large
                                      updates (batch jobs), dearer for single rows */
    PG_CAPTURE_MODE_LOGICAL = 2    /* no trigger: logical decoding through a slot (pg/logical.h);
                                      every operation, not only UPDATEs */
} PgCaptureMode;

typedef struct PgCaptureTable {
    const char *schema;            /* table's schema, e.g. "public" */
    const char *table;
    const char *entity_type;       /* what graph_sync_status.entity_type holds, e.g. "Bill" */
    const char *const *key_columns;     size_t n_keys;     /* primary key, possibly composite;
                                                              0 = the table's primary key */
    const char *const *watched_columns; size_t n_watched;  /* 0 = every column */
    const char *const *array_columns;   size_t n_arrays;   /* arrays whose element diffs are recorded */
    PgCaptureMode mode;            /* 0 = row */
} PgCaptureTable;

typedef enum PgCaptureState {
    PG_CAPTURE_CAPTURED = 0, /* triggers present and current */
    PG_CAPTURE_MISSING = 1,  /* a mapped table without triggers */
    PG_CAPTURE_STALE = 2     /* triggers incomplete, outdated, for another mapping, or unmapped */
} PgCaptureState;

typedef struct PgCaptureEntry {
    char schema[128];
    char table[128];
    char entity_type[128];   /* from the mapping, else from the install record, else "" */
    PgCaptureState state;
    char detail[256];        /* why stale / missing; "" when captured */
} PgCaptureEntry;

/* A table spec parsed from "schema.table:EntityType:key1,key2[:arr1,arr2[:watched1,...[:row|statement]]]"
   (schema defaults to public; an empty key list means the primary key). Owns its strings. */
typedef struct PgCaptureSpec {
    PgCaptureTable t;
    char *storage;
    const char **lists;
} PgCaptureSpec;

/* Parses one spec; P2N_EINVAL with a message on bad input. Free with pg_capture_spec_free. */
int pg_capture_spec_parse(const char *text, PgCaptureSpec *out, P2nErr *err);
void pg_capture_spec_free(PgCaptureSpec *s);

/* Creates or replaces the capture functions and triggers of each table, and records them in
   graph_sync_captured_tables. Checks the columns against the catalog first; a table given twice
   is refused (P2N_EINVAL: its capture queues one entity type). Runs in one
   transaction (its own, or the caller's when one is open). The sync schema must be initialised.
   Tables in logical mode get no trigger (any old ones are dropped) but a place in the publication;
   the replication slot is created first, which needs no transaction to be open. */
int pg_capture_install(PGconn *conn, const char *sync_schema, const PgCaptureTable *tables, size_t n,
                       P2nErr *err);

/* Drops the triggers and functions of each table (missing ones are ignored) and their records. */
int pg_capture_uninstall(PGconn *conn, const char *sync_schema, const PgCaptureTable *tables, size_t n,
                         P2nErr *err);

/* Drops every capture trigger and function pg2neo installed for this sync schema (found through
   the catalog and the records), and the logical capture's slot and publication. Runs in the
   caller's transaction if one is open (the slot is then dropped at once, whatever the outcome). */
int pg_capture_drop_all(PGconn *conn, const char *sync_schema, P2nErr *err);

/* Lists capture state: each mapped table (captured, missing or stale) and each installed
   capture that is not in tables (stale). With n == 0, lists what is installed.
   *out from malloc() (free()), *n_out entries. */
int pg_capture_list(PGconn *conn, const char *sync_schema, const PgCaptureTable *tables, size_t n,
                    PgCaptureEntry **out, size_t *n_out, P2nErr *err);

const char *pg_capture_state_name(PgCaptureState s);

/* The generated names (at most 63 bytes; longer ones are cut and given a hash suffix).
   kind: "change", "array" or "delete" for functions; "trigger", "array", "insert", "delete",
   "truncate" for triggers. */
void pg_capture_function_name(char *buf, size_t size, const char *schema, const char *table,
                              const char *kind);
void pg_capture_trigger_name(char *buf, size_t size, const char *table, const char *kind);

#endif
