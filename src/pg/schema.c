/* Versioned, transactional, idempotent migrations of the sync schema; and its removal. */
#include "pg/schema.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/embedded.h"
#include "common/retry.h"
#include "pg/capture.h"
#include "common/log.h"
#include "pg/pgutil.h"

/* "sql/001_capture.sql" -> 1; 0 when the name is not a migration */
static int migration_number(const char *name)
{
    if (strncmp(name, "sql/", 4) != 0)
        return 0;
    const char *p = name + 4;
    int v = 0, digits = 0;
    while (*p >= '0' && *p <= '9' && digits < 6) {
        v = v * 10 + (*p - '0');
        p++;
        digits++;
    }
    if (digits == 0 || *p != '_' || strstr(p, ".sql") == NULL)
        return 0;
    return v;
}

int pg_schema_latest(void)
{
    int hi = 0;
    for (const P2nEmbeddedFile *f = p2n_embedded_files; f->name; f++) {
        int v = migration_number(f->name);
        if (v > hi)
            hi = v;
    }
    return hi;
}

int pg_schema_version(PGconn *conn, const char *schema, int *version, P2nErr *err)
{
    *version = 0;
    int rc = pgu_schema_check(schema, err);
    if (rc < 0)
        return rc;
    const char *params[1] = {schema};
    PGresult *r = NULL;
    rc = pgu_query(conn,
                       "SELECT to_regclass(format('%I.graph_sync_schema_version', $1::text)) IS NOT NULL",
                       1, params, &r, "could not read the sync schema version", err);
    if (rc < 0)
        return rc;
    int exists = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (!exists)
        return 0;
    char *sql = pgu_schema_subst("SELECT coalesce(max(version), 0) FROM @SCHEMA@.graph_sync_schema_version",
                                 schema, err);
    if (!sql)
        return P2N_ENOMEM;
    rc = pgu_query(conn, sql, 0, NULL, &r, "could not read the sync schema version", err);
    free(sql);
    if (rc < 0)
        return rc;
    *version = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return 0;
}

static int migrate_in_tx(PGconn *conn, const char *schema, int *from, int *to, P2nErr *err)
{
    char qs[200];
    if (pgu_quote_ident(qs, sizeof(qs), schema) < 0)
        return p2n_err_set(err, P2N_EINVAL, "invalid sync schema name \"%s\"", schema);
    const char *params[1] = {schema};
    int rc = pgu_query(conn, "SELECT pg_advisory_xact_lock(1882091119, hashtext($1))", 1, params, NULL,
                       "could not lock the sync schema", err);
    if (rc < 0)
        return rc;
    /* whether this init creates the schema: then uninstall drops it again (migration 005) */
    PGresult *nr = NULL;
    if ((rc = pgu_query(conn, "SELECT to_regnamespace(quote_ident($1)) IS NULL", 1, params, &nr,
                        "could not look for the sync schema", err)) < 0)
        return rc;
    bool creating = PQgetvalue(nr, 0, 0)[0] == 't';
    PQclear(nr);
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "SET LOCAL client_min_messages = warning;"
             "CREATE SCHEMA IF NOT EXISTS %s;"
             "CREATE TABLE IF NOT EXISTS %s.graph_sync_schema_version ("
             " version integer PRIMARY KEY, name text NOT NULL,"
             " applied_at timestamptz NOT NULL DEFAULT now())",
             qs, qs);
    if ((rc = pgu_exec(conn, sql, "could not create the sync schema", err)) < 0)
        return rc;
    int cur = 0;
    if ((rc = pg_schema_version(conn, schema, &cur, err)) < 0)
        return rc;
    if (from)
        *from = cur;
    int applied = cur;
    /* the versions applied so far: a migration missing below the highest one (numbered while a
       later one was already in use) is applied too; every migration is idempotent */
    PGresult *done = NULL;
    snprintf(sql, sizeof(sql), "SELECT version FROM %s.graph_sync_schema_version", qs);
    if ((rc = pgu_query(conn, sql, 0, NULL, &done, "could not read the sync schema version", err)) < 0)
        return rc;
    /* the embedded list is sorted by name, so migrations come in order */
    for (const P2nEmbeddedFile *f = p2n_embedded_files; f->name; f++) {
        int v = migration_number(f->name);
        bool have = v == 0;
        for (int i = 0; !have && i < PQntuples(done); i++)
            have = atoi(PQgetvalue(done, i, 0)) == v;
        if (have)
            continue;
        char *body = pgu_schema_subst((const char *)f->data, schema, err);
        if (!body)
            return P2N_ENOMEM;
        char what[200];
        snprintf(what, sizeof(what), "could not apply migration \"%s\"", f->name);
        rc = pgu_exec(conn, body, what, err);
        free(body);
        if (rc < 0) {
            PQclear(done);
            return rc;
        }
        char vbuf[16];
        snprintf(vbuf, sizeof(vbuf), "%d", v);
        const char *p2[2] = {vbuf, f->name + 4};
        snprintf(sql, sizeof(sql), "INSERT INTO %s.graph_sync_schema_version (version, name) VALUES ($1, $2)",
                 qs);
        if ((rc = pgu_query(conn, sql, 2, p2, NULL, "could not record the migration", err)) < 0) {
            PQclear(done);
            return rc;
        }
        if (v > applied)
            applied = v;
    }
    PQclear(done);
    if (creating) {
        snprintf(sql, sizeof(sql), "UPDATE %s.graph_sync_state SET created_schema = true", qs);
        if ((rc = pgu_exec(conn, sql, "could not record the sync schema's creation", err)) < 0)
            return rc;
    }
    if (to)
        *to = applied;
    return 0;
}

typedef struct MigrateTx {
    PGconn *conn;
    const char *schema;
    int *from, *to;
} MigrateTx;

static int migrate_tx(void *ctx, P2nErr *err)
{
    MigrateTx *m = ctx;
    int rc = pgu_exec(m->conn, "BEGIN", "could not begin", err);
    if (rc < 0)
        return rc;
    rc = migrate_in_tx(m->conn, m->schema, m->from, m->to, err);
    if (rc < 0) {
        PQclear(PQexec(m->conn, "ROLLBACK"));
        return rc;
    }
    return pgu_exec(m->conn, "COMMIT", "could not commit the migration", err);
}

int pg_schema_migrate(PGconn *conn, const char *schema, int *from, int *to, P2nErr *err)
{
    int rc = pgu_schema_check(schema, err);
    if (rc < 0)
        return rc;
    /* one transaction: run again whole after a deadlock or a lock timeout (concurrent DDL) */
    MigrateTx m = {conn, schema, from, to};
    return p2n_retry("sync schema migration", migrate_tx, &m, err);
}

int pg_schema_uninstall(PGconn *conn, const char *schema, P2nErr *err)
{
    int rc = pgu_schema_check(schema, err);
    if (rc < 0)
        return rc;
    rc = pgu_exec(conn, "BEGIN", "could not begin", err);
    if (rc < 0)
        return rc;
    rc = pg_capture_drop_all(conn, schema, err);
    bool drop_schema = false;
    if (rc == 0) {
        /* the schema goes too when init created it (and nothing else is left in it) */
        char *q = pgu_schema_subst("SELECT created_schema FROM @SCHEMA@.graph_sync_state", schema, err);
        PGresult *r = q ? PQexec(conn, "SAVEPOINT p2n_created") : NULL;
        PQclear(r);
        r = q ? PQexec(conn, q) : NULL;
        drop_schema = r && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && PQgetvalue(r, 0, 0)[0] == 't';
        PQclear(r);
        PQclear(PQexec(conn, "ROLLBACK TO SAVEPOINT p2n_created")); /* an older schema has no such column */
        free(q);
    }
    if (rc == 0) {
        char *sql = pgu_schema_subst(
            "SET LOCAL client_min_messages = warning;"
            "DROP FUNCTION IF EXISTS @SCHEMA@.graph_sync_fold();"
            "DROP FUNCTION IF EXISTS @SCHEMA@.graph_sync_partitions_check();"
            "DROP FUNCTION IF EXISTS @SCHEMA@.graph_sync_partitions_of(oid);"
            "DROP AGGREGATE IF EXISTS @SCHEMA@.graph_sync_merge_arrays_agg(jsonb);"
            "DROP FUNCTION IF EXISTS @SCHEMA@.graph_sync_merge_arrays(jsonb, jsonb);"
            "DROP TABLE IF EXISTS @SCHEMA@.graph_sync_status, @SCHEMA@.graph_sync_failures,"
            " @SCHEMA@.graph_sync_batches, @SCHEMA@.graph_sync_log, @SCHEMA@.graph_sync_state,"
            " @SCHEMA@.graph_sync_captured_tables, @SCHEMA@.graph_sync_audit, @SCHEMA@.graph_sync_fullsync,"
            " @SCHEMA@.graph_sync_schema_version;"
            "DROP SEQUENCE IF EXISTS @SCHEMA@.graph_sync_version_seq",
            schema, err);
        rc = sql ? pgu_exec(conn, sql, "could not drop the sync tables", err) : P2N_ENOMEM;
        free(sql);
    }
    if (rc == 0 && drop_schema) {
        char qs[200];
        if (pgu_quote_ident(qs, sizeof(qs), schema) == 0) {
            char sql[300];
            snprintf(sql, sizeof(sql), "SAVEPOINT p2n_schema; DROP SCHEMA %s RESTRICT", qs);
            PGresult *r = PQexec(conn, sql);
            if (PQresultStatus(r) != PGRES_COMMAND_OK) {
                /* something of the user's is in it: it stays */
                PQclear(PQexec(conn, "ROLLBACK TO SAVEPOINT p2n_schema"));
                P2N_INFO("the sync schema is kept: it holds objects pg2neo did not create", "schema=%s", schema);
            }
            PQclear(r);
        }
    }
    if (rc < 0) {
        PQclear(PQexec(conn, "ROLLBACK"));
        return rc;
    }
    return pgu_exec(conn, "COMMIT", "could not commit", err);
}

int pg_schema_require(PGconn *conn, const char *schema, bool newer_ok, P2nErr *err)
{
    int ver = 0, want = pg_schema_latest();
    int rc = pg_schema_version(conn, schema, &ver, err);
    if (rc < 0 || ver == want || (newer_ok && ver > want))
        return rc;
    if (ver == 0)
        return p2n_err_set(err, P2N_ESTATE, "the sync schema \"%s\" is not installed in this database: run pg2neo init",
                           schema);
    if (ver < want)
        return p2n_err_set(err, P2N_ESTATE, "the sync schema \"%s\" is at version %d, this pg2neo needs %d: run pg2neo init",
                           schema, ver, want);
    return p2n_err_set(err, P2N_ESTATE, "the sync schema \"%s\" is at version %d, newer than this pg2neo (%d): upgrade pg2neo",
                       schema, ver, want);
}
