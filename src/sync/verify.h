/*
 * Consistency verification (`pg2neo verify`, the seed's verifyDataConsistency) and the
 * field-level comparison `pg2neo conflicts` uses (conflicts.h).
 *
 * Per entity type both sides are streamed in entity-id order (fullsync.h: a PostgreSQL cursor
 * read through the mapping's read_sql; a Neo4j query streamed with bolt_next) and merged, so
 * memory stays bounded whatever the table size. Each PostgreSQL row is encoded with the
 * mapping's row encoder and decoded again (ps_decode), then compared with the graph:
 *   properties     r.p against the node's (relationship's) properties, `_p2n_*` ignored
 *   relationships  each mapped relationship's target set (r0, r1, ...) against the graph's, or
 *                  a join-table relationship's two ends
 * Differences: ids missing from Neo4j, ids extra in Neo4j, property mismatches, relationship
 * mismatches. With repair each differing id is queued in graph_sync_status (pending upsert, or
 * deleted for an extra) with a new version from graph_sync_version_seq, as the fold does.
 */
#ifndef P2N_SYNC_VERIFY_H
#define P2N_SYNC_VERIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"
#include "mapping/mapping.h"
#include "packstream/packstream.h"
#include "sync/fullsync.h"

/* How many ids of each kind of difference a report lists (all are counted). */
#define VERIFY_LIST_MAX 10

typedef struct VerifyIds {
    int64_t count;
    char *ids[VERIFY_LIST_MAX]; /* the first ones, malloc */
} VerifyIds;

typedef struct VerifyTypeResult {
    const char *type;
    bool relationship; /* a join-table relationship type */
    int64_t pg_count;  /* live rows compared (in sample mode: of the sample) */
    int64_t neo_count; /* nodes / relationships compared */
    VerifyIds missing, extra, props, rels;
    int64_t queued;    /* with repair */
} VerifyTypeResult;

typedef struct VerifyResult {
    VerifyTypeResult *types; /* malloc, ntypes */
    size_t ntypes;
    bool sampled;
    int64_t differences; /* ids that differ, all types */
    int64_t queued;
    double seconds;
} VerifyResult;

typedef struct VerifyOptions {
    const char *type; /* NULL = every type */
    long sample;      /* > 0: check a random sample of this many ids per type */
    bool repair;
    int fetch;        /* rows per chunk; 0 = 2000 */
} VerifyOptions;

/* Called for each differing field of one entity: field is a property name, or for
   relationships "-[:TYPE]->" / "<-[:TYPE]-" (node entities) or "from" / "to" (join tables);
   pg / neo are the values on each side (NULL when absent). Values live until the callback
   returns. */
typedef void (*VerifyFieldFn)(void *ctx, const char *field, bool relationship, const PsValue *pg,
                              const PsValue *neo);

/*
 * Compares one entity: pgrow is a decoded encoder row ({k, v, p, r0..} or {id, v, f, t, p}),
 * rec a record of fullsync_neo_query(verify). Calls fn (may be NULL) per differing field and
 * sets *prop_diff / *rel_diff.
 */
void verify_compare(const MappingEntity *e, const PsValue *pgrow, const PsValue *rec, VerifyFieldFn fn, void *ctx,
                    bool *prop_diff, bool *rel_diff);

/* Called by verify_entity for each id seen on either side, in id order; pgrow / rec NULL when
   the id is absent on that side. */
typedef int (*VerifyVisitFn)(void *ctx, const char *id, const PsValue *pgrow, const PsValue *rec, P2nErr *err);

/* Streams and merges one entity type; ids (may be NULL) restricts both sides to these ids. */
int verify_entity(FsEnv *env, const MappingEntity *e, const char *const *ids, size_t nids, int fetch,
                  VerifyVisitFn visit, void *ctx, P2nErr *err);

/* Runs verify over the types; an unknown type is P2N_ENOTFOUND. */
int verify_run(FsEnv *env, const VerifyOptions *o, VerifyResult *res, P2nErr *err);
void verify_result_free(VerifyResult *res);
/* Report as JSON (one object) or as text. */
void verify_result_json(const VerifyResult *res, P2nBuf *b);
void verify_result_text(const VerifyResult *res, P2nBuf *b);

/* Queues ids of entity type in graph_sync_status (op "upsert" or "delete") with new versions,
   on env->pg2. */
int verify_queue(FsEnv *env, const char *type, const char *const *ids, size_t n, bool del, P2nErr *err);

#endif
