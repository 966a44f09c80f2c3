/*
 * Logical capture: an opt-in alternative to the capture triggers (source.capture: logical in the
 * mapping). PostgreSQL's own logical decoding records the changes in the WAL it writes anyway, so
 * application writes pay no trigger at all; pg2neo reads them from a replication slot (plugin
 * pgoutput, a publication limited to the mapped tables' key columns) and appends them to the
 * same graph_sync_log the triggers write, so everything downstream (fold, claim, versions, the
 * seed's queries) is unchanged. Needs wal_level = logical and a role with REPLICATION (or a
 * superuser). What it gives up against the triggers is in docs/capture.md: array element diffs
 * (changed_arrays stays NULL) and the no-op filter (an UPDATE that changes no watched column
 * queues a harmless re-sync).
 *
 * Names: slot and publication are "pg2neo_<database>_<sync schema>" (slots are per cluster;
 * lower-cased, other characters as "_", each part at most 20 characters, with a hash suffix of the
 * exact names when anything had to change).
 */
#ifndef P2N_PG_LOGICAL_H
#define P2N_PG_LOGICAL_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "pg/capture.h"

/* The slot and publication name of a sync schema in a database (buf of at least 64 bytes). */
void pg_logical_name(char *buf, size_t size, const char *dbname, const char *sync_schema);

/* P2N_ECONFIG with advice unless the server runs with wal_level = logical. */
int pg_logical_wal_level_check(PGconn *conn, P2nErr *err);

/* Checks wal_level and creates the slot when it does not exist (after the publication: pgoutput
   cannot decode changes older than the publication it is given). Must run outside any transaction
   (PostgreSQL refuses to create a slot in a transaction that wrote). *created (may be NULL). */
int pg_logical_slot_ensure(PGconn *conn, const char *sync_schema, bool *created, P2nErr *err);

/* Creates the publication or sets its tables: every table graph_sync_captured_tables records in
   logical mode, limited to its key columns (which must be its replica identity). Runs in the
   caller's transaction. */
int pg_logical_publish(PGconn *conn, const char *sync_schema, P2nErr *err);

/* Drops the slot and the publication; missing ones are fine. The slot first, outside a transaction. */
int pg_logical_drop(PGconn *conn, const char *sync_schema, P2nErr *err);

/* Whether the sync schema captures through a slot (the slot exists). */
int pg_logical_enabled(PGconn *conn, const char *sync_schema, bool *on, P2nErr *err);

/* Moves the committed changes waiting in the slot (up to about max_changes, whole transactions)
   into graph_sync_log, then confirms them to the slot. Serialised between workers by an advisory
   lock: a worker that finds it taken returns at once with *n_changes = 0. A crash between the
   insert and the confirmation re-reads those changes later: a redundant re-sync, never a loss.
   Runs outside a transaction. */
int pg_logical_pull(PGconn *conn, const char *sync_schema, size_t max_changes, int64_t *n_changes, P2nErr *err);

/* Wake-up: *has = 1 when the WAL has moved since the last call (state: the last position seen). */
typedef struct PgLogicalPoll {
    uint64_t last_lsn;
    bool primed;
} PgLogicalPoll;
int pg_logical_poll(PGconn *conn, PgLogicalPoll *st, int *has, P2nErr *err);

/* The change events of decoded pgoutput messages, for the pull and for tests: each message in
   order; relations are resolved against captured (schema, table, type, key columns) entries.
   emit() receives op 'u' (insert/update), 'd' (delete) or 't' (truncate, id "*"), the entity type
   and id (the key's canonical text, common/keyid.h, made from the text pgoutput sends: the
   decoding session must have DateStyle = ISO; a composite key as a JSON array of texts, as the
   triggers write it) and the commit time in unix microseconds. */
typedef struct PgLogicalTable {
    const char *schema, *table, *entity_type;
    const char *const *keys;
    size_t nkeys;
    const char *const *key_types; /* base type name of each key (NULL: all as text) */
} PgLogicalTable;
typedef int (*PgLogicalEmit)(void *ctx, char op, const char *entity_type, const char *id, int64_t time_us);
typedef struct PgLogicalDecoder PgLogicalDecoder;
PgLogicalDecoder *pg_logical_decoder_new(const PgLogicalTable *tables, size_t n);
void pg_logical_decoder_free(PgLogicalDecoder *d);
/* Feeds one message; P2N_EPROTO for a malformed one. */
int pg_logical_decoder_feed(PgLogicalDecoder *d, const uint8_t *msg, size_t len, PgLogicalEmit emit, void *ctx,
                            P2nErr *err);

#endif
