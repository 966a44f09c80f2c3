/*
 * Full sync (`pg2neo full-sync`): the initial load and the rebuild of the graph from PostgreSQL,
 * plus the pieces verify and conflicts share with it:
 *   FsEnv       a mapping resolved against the live catalog, two PostgreSQL connections (one
 *               for reads in a snapshot, one autocommit for checkpoints and the queue) and one
 *               Neo4j connection. A local helper until the sync engine offers the same.
 *   FsPgStream  an entity's live rows in entity-id order (bytewise, COLLATE "C"): a server-side
 *               cursor over the ids, each chunk read with the mapping's read_sql in the same
 *               REPEATABLE READ snapshot. Soft-deleted rows (and join rows with a missing end)
 *               are left out. Bounded memory: one chunk at a time.
 *   fullsync_neo_*  the Neo4j side in the same order: the entity id text computed in Cypher
 *               (toString of the key, the JSON array form for composite keys, _p2n_id for
 *               join-table relationships).
 *
 * A full sync of one type: version V = the version sequence's current value at the start (a
 * change queued by a trigger while it runs gets a higher version and is synced after it; a node
 * already holding a newer version is left alone by the generated Cypher). Chunks of rows are
 * written with plan.upsert in one Neo4j transaction each, then the checkpoint (type, last id,
 * V) is stored in <schema>.graph_sync_fullsync. A later run resumes after the last id unless
 * restart is set. Then orphans: nodes (relationships) of the type whose id is not a live row in
 * PostgreSQL and whose _p2n_version is at most V are deleted with plan.delete_cypher.
 */
#ifndef P2N_SYNC_FULLSYNC_H
#define P2N_SYNC_FULLSYNC_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "bolt/bolt.h"
#include "common/buf.h"
#include "common/error.h"
#include "mapping/mapping.h"

typedef struct FsEnv {
    Mapping *m;
    PGconn *pg;      /* snapshot reads (cursor + read_sql) */
    PGconn *pg2;     /* autocommit: checkpoints, repair queue */
    BoltDriver *driver;
    BoltConn *neo;
    char schema[64]; /* sync schema: $P2N_SYNC_SCHEMA or public */
} FsEnv;

/*
 * Loads and resolves the mapping (problems go to diags, may be NULL; P2N_ECONFIG), connects to
 * PostgreSQL twice and to Neo4j (P2N_EIO, P2N_EAUTH... on failure). env is zeroed first; on
 * failure everything opened is closed again.
 */
int fullsync_env_open(const char *mapping_path, FsEnv *env, MappingDiags *diags, P2nErr *err);
void fullsync_env_close(FsEnv *env);

/* ---- id order ---- */
/* How both sides order an entity's ids: a single integer key numerically, a single uuid key
   natively (the same as its text bytewise), anything else by the id text bytewise (COLLATE "C").
   The first two let PostgreSQL's primary key and Neo4j's range index give the order. */
typedef enum FsOrder { FS_ORDER_TEXT = 0, FS_ORDER_INT, FS_ORDER_UUID } FsOrder;
FsOrder fullsync_order(const MappingEntity *e);
/* Compares two entity ids in that order (<0, 0, >0). */
int fullsync_id_cmp(FsOrder o, const char *a, const char *b);

/* ---- PostgreSQL rows in id order ---- */
typedef struct FsPgStream {
    PGconn *conn;
    const MappingEntity *e;
    int fetch_n;
    bool open_tx;
    bool eof;
    PGresult *rows;   /* read_sql result of the current chunk */
    int *order;       /* live rows of `rows`, sorted by id */
    int nlive;
    int pos;          /* next index into order */
    int nfetched;     /* ids fetched in the current chunk */
    char *last_id;    /* last id fetched so far (malloc), NULL before the first chunk */
} FsPgStream;

/*
 * Opens the stream (BEGIN REPEATABLE READ; DECLARE a cursor). after_id (may be NULL): only ids
 * greater than it; ids (may be NULL): only these ids (any order, n of them).
 */
int fullsync_pg_open(FsPgStream *s, PGconn *conn, const Mapping *m, const MappingEntity *e,
                     const char *after_id, const char *const *ids, size_t nids, int fetch_n, P2nErr *err);
/* Reads the next chunk (FETCH + read_sql). Returns 1 with a chunk, 0 at the end, < 0 error. */
int fullsync_pg_chunk(FsPgStream *s, P2nErr *err);
/* The next live row of the stream, fetching chunks as needed: 1 and *row (an index into
   s->rows), 0 at the end, < 0 error. Do not mix with fullsync_pg_chunk. */
int fullsync_pg_next(FsPgStream *s, int *row, P2nErr *err);
/* Ends the transaction and frees. */
void fullsync_pg_close(FsPgStream *s);

/* ---- Neo4j side ---- */
/* The Neo4j property holding key column i of a node entity. */
const char *fullsync_key_prop(const MappingEntity *e, size_t i);
/* Appends the Cypher expression of the entity id of node variable v (node entities only). */
void fullsync_neo_id_expr(const MappingEntity *e, const char *v, P2nBuf *b);
/* Appends the Cypher expression of the key of node variable v: the value, or a list for a
   composite key (the form of an encoded row's k). */
void fullsync_neo_key_expr(const MappingEntity *e, const char *v, P2nBuf *b);

/*
 * Appends the Cypher that streams an entity's graph side in id order. verify: every node (or
 * relationship) with its properties; with by_ids only those of parameter $ids (entity id
 * strings) or, for single integer / uuid keys, of $keys (the typed keys: an index seek);
 * record [id, p, r0.. rN] for nodes (each r the target keys of one mapped relationship, value
 * node values for value relationships), [id, p, f, t] for join-table relationships. Otherwise
 * (orphan sweep): those with _p2n_version <= $v, record [id, k] / [id].
 */
void fullsync_neo_query(const Mapping *m, const MappingEntity *e, bool verify, bool by_ids, P2nBuf *q);

/* ---- the command ---- */
/* Rows per chunk (one Neo4j transaction) by default: fewer, larger transactions cost Neo4j less
   per row (civic scale 3: 1.4x the rows/s of 2000), and memory stays bounded by one chunk. */
#define FULLSYNC_DEFAULT_BATCH 5000

typedef struct FullsyncOptions {
    const char *type;   /* NULL = every entity */
    int batch;          /* rows per Neo4j transaction; 0 = FULLSYNC_DEFAULT_BATCH */
    bool restart;       /* ignore checkpoints */
    long limit_chunks;  /* tests: stop (P2N_ECANCELED) after this many chunks; 0 = no limit */
    bool progress;      /* draw a progress bar on stderr */
} FullsyncOptions;

typedef struct FullsyncTypeResult {
    const char *type;
    int64_t version;
    int64_t rows;            /* rows written in this run */
    int64_t rows_before;     /* rows written by the interrupted run this one resumed */
    int64_t encode_errors;   /* rows skipped: a value did not parse */
    int64_t orphans_removed;
    bool resumed;
    bool orphan_sweep;       /* false: skipped, the graph held nothing of the type before its load */
    double seconds;
    /* where the time went (seconds): PostgreSQL reads (FETCH + read_sql), encoding the rows,
       Neo4j writes (waits for the transactions), checkpoints, the orphan sweep */
    double pg_read_s, encode_s, neo_write_s, checkpoint_s, orphans_s;
} FullsyncTypeResult;

typedef struct FullsyncResult {
    FullsyncTypeResult *types; /* malloc, ntypes */
    size_t ntypes;
    int64_t rows;
    int64_t orphans_removed;
    double seconds;
} FullsyncResult;

/* Runs the full sync; res is filled as far as it got (free with fullsync_result_free).
   An unknown opts->type is P2N_ENOTFOUND. */
int fullsync_run(FsEnv *env, const FullsyncOptions *opts, FullsyncResult *res, P2nErr *err);
void fullsync_result_free(FullsyncResult *res);
/* The JSON summary (one line). */
void fullsync_result_json(const FullsyncResult *res, P2nBuf *b);

/* Appends s as a JSON string. */
void fullsync_json_str(P2nBuf *b, const char *s);

#endif
