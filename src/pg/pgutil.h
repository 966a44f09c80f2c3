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

/* Fills err from a failed result (or the connection when res is NULL); returns P2N_EPG, or
   P2N_ECONNLOST when the connection is gone. `what` prefixes the message ("could not fold"). */
int pgu_fail(P2nErr *err, PGconn *conn, const PGresult *res, const char *what);

/* Runs one or more statements without parameters; 0 or a negative code. */
int pgu_exec(PGconn *conn, const char *sql, const char *what, P2nErr *err);

/* Runs one statement with text parameters (NULL entries are SQL NULL). On success *out holds a
   result the caller PQclear()s (out may be NULL to discard it). */
int pgu_query(PGconn *conn, const char *sql, int nparams, const char *const *params, PGresult **out,
              const char *what, P2nErr *err);

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
