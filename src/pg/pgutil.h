/*
 * Small libpq helpers shared by the pg module: run a statement and turn a failure into a P2nErr
 * (message, SQLSTATE), quote identifiers and literals, and substitute the sync schema into SQL
 * templates. Values always travel as parameters; only identifiers are spliced, quoted.
 */
#ifndef P2N_PG_PGUTIL_H
#define P2N_PG_PGUTIL_H

#include <libpq-fe.h>
#include <stddef.h>

#include "common/error.h"

/* Checks a libpq connection string or URL without connecting (PQconninfoParse). P2N_ECONFIG when
   it cannot be parsed or its port is not a number: the message gives libpq's reason with every
   fragment it quotes masked (they may be pieces of the password) and names `from`, where the
   string came from ("DATABASE_URL"). A password in it is registered with p2n_log_add_secret(). */
int pgu_conninfo_check(const char *conninfo, const char *from, P2nErr *err);

/* Connects with conninfo (checked first by pgu_conninfo_check: a string that cannot be parsed is
   P2N_ECONFIG, never retried) and routes the server's notices to the log (p2n_log_pg_notice).
   When the server refuses the credentials: P2N_EAUTH with sqlstate 28P01 (password) or 28000,
   and a message that says the password or user is wrong and where the password came from
   (`from`, PGPASSWORD or the password file), never what it is. Any other failure: P2N_ECONNLOST.
   Messages start "could not connect to PostgreSQL: " and have their credentials masked. */
int pgu_connect(const char *conninfo, const char *from, PGconn **out, P2nErr *err);

/* Fills err from a failed result (or the connection when res is NULL); returns P2N_EPG, or
   P2N_ECONNLOST when the connection is gone. `what` prefixes the message ("could not fold"). */
int pgu_fail(P2nErr *err, PGconn *conn, const PGresult *res, const char *what);

/* Runs one or more statements without parameters; 0 or a negative code. */
int pgu_exec(PGconn *conn, const char *sql, const char *what, P2nErr *err);

/* Runs one statement with text parameters (NULL entries are SQL NULL). On success *out holds a
   result the caller PQclear()s (out may be NULL to discard it). */
int pgu_query(PGconn *conn, const char *sql, int nparams, const char *const *params, PGresult **out,
              const char *what, P2nErr *err);

/* pgu_query / pgu_exec for a statement that is a transaction of its own: when conn is not inside
   a transaction block, a statement that fails on a conflict with another session (deadlock,
   serialization failure, lock timeout: p2n_err_is_conflict) is run again with p2n_retry's
   backoff and bound. Inside a transaction block they are pgu_query / pgu_exec (the caller's
   transaction is aborted: only the caller can run it again). */
int pgu_query_retry(PGconn *conn, const char *sql, int nparams, const char *const *params, PGresult **out,
                    const char *what, P2nErr *err);
int pgu_exec_retry(PGconn *conn, const char *sql, const char *what, P2nErr *err);

/* Quotes an identifier or a literal into buf ("..." / '...'); 0, or P2N_EINVAL when it does not
   fit or contains a NUL-unsafe byte sequence. Pure string work: no connection needed. */
int pgu_quote_ident(char *buf, size_t size, const char *ident);
int pgu_quote_literal(char *buf, size_t size, const char *s);

/* Returns a malloc()ed copy of tmpl with every @SCHEMA@ replaced by the quoted schema and every
   @SCHEMA_LIT@ by the schema as a literal; NULL on failure (err filled). */
char *pgu_schema_subst(const char *tmpl, const char *schema, P2nErr *err);

struct P2nBuf;
/* Appends a text[] input literal ({"a","b\"c"}) for use as a parameter value (never spliced). */
void pgu_array_literal(struct P2nBuf *b, const char *const *v, size_t n);

/* Checks a sync schema name: non-empty, at most 63 bytes. */
int pgu_schema_check(const char *schema, P2nErr *err);

#endif
