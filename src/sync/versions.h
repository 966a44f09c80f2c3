/*
 * Versions never go backwards against the graph (issue 18 item 2).
 *
 * Every write to Neo4j is guarded by `_p2n_version`: an older change than what the graph holds
 * does nothing. The versions come from graph_sync_version_seq; when that sequence starts again
 * (`uninstall` + `init`, a sync schema restored from an old dump, a second database pointed at
 * the same graph) the graph holds versions the sequence has not reached, and every later write
 * would be skipped. `init` and `full-sync` therefore raise the sequence above the highest
 * version the graph holds, and the daemon does it when a write reports a skip caused by a
 * version the sequence never handed out (gen.c's guard reports the version that made it skip).
 */
#ifndef P2N_SYNC_VERSIONS_H
#define P2N_SYNC_VERSIONS_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "bolt/bolt.h"
#include "common/error.h"
#include "mapping/mapping.h"

/* The highest `_p2n_version` on the mapping's node labels and relationship types (-1: none). */
int sync_graph_version_max(BoltConn *neo, const Mapping *m, int64_t *max, P2nErr *err);

/* The last version graph_sync_version_seq handed out (0 when none yet). */
int sync_version_seq_last(PGconn *pg, const char *schema, int64_t *last, P2nErr *err);

/* Moves graph_sync_version_seq up to floor if it is below (never down); *raised says if it moved. */
int sync_version_seq_raise(PGconn *pg, const char *schema, int64_t floor, bool *raised, P2nErr *err);

/*
 * Both: reads the graph's highest version and raises the sequence above it. *graph_max (may be
 * NULL) receives it; *raised (may be NULL) whether the sequence moved, which is logged as a
 * warning naming both values.
 */
int sync_version_floor(PGconn *pg, BoltConn *neo, const char *schema, const Mapping *m, int64_t *graph_max,
                       bool *raised, P2nErr *err);

#endif
