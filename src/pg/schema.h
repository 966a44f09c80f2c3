/*
 * The sync schema's life cycle: versioned migrations from sql/NNN_name.sql (embedded in the
 * binary), applied in one transaction under an advisory lock, recorded in
 * <schema>.graph_sync_schema_version, so `pg2neo init` is idempotent and upgrades in place.
 */
#ifndef P2N_PG_SCHEMA_H
#define P2N_PG_SCHEMA_H

#include <libpq-fe.h>

#include "common/error.h"

#define PG_SYNC_SCHEMA_DEFAULT "public"

/* Applies every embedded migration newer than the installed version, in one transaction.
   *from / *to (may be NULL) receive the version before and after. The connection must not be
   inside a transaction. */
int pg_schema_migrate(PGconn *conn, const char *schema, int *from, int *to, P2nErr *err);

/* The installed schema version (0 when pg2neo is not installed in that schema). */
int pg_schema_version(PGconn *conn, const char *schema, int *version, P2nErr *err);

/* The newest migration version compiled into this binary. */
int pg_schema_latest(void);

/*
 * 0 when the sync schema is at this binary's version (or newer, with newer_ok); else
 * P2N_ESTATE with what to do: it is missing or older ("run pg2neo init"), or newer ("upgrade
 * pg2neo"). Other failures as pg_schema_version.
 */
int pg_schema_require(PGconn *conn, const char *schema, bool newer_ok, P2nErr *err);

/* Drops every capture trigger pg2neo installed (see capture.h) and then the sync tables,
   functions and sequence, in one transaction. The schema itself stays. */
int pg_schema_uninstall(PGconn *conn, const char *schema, P2nErr *err);

#endif
