/* libpq helpers for the pg module: error mapping, quoting, schema substitution in templates. */
#include "pg/pgutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"

int pgu_fail(P2nErr *err, PGconn *conn, const PGresult *res, const char *what)
{
    const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(conn);
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    char clean[900];
    snprintf(clean, sizeof(clean), "%s", msg && *msg ? msg : "unknown error");
    size_t n = strlen(clean);
    while (n > 0 && (clean[n - 1] == '\n' || clean[n - 1] == ' '))
        clean[--n] = '\0';
    /* libpq prefixes "ERROR:  "; keep the text after it */
    const char *text = clean;
    if (strncmp(text, "ERROR:  ", 8) == 0)
        text += 8;
    int code = PQstatus(conn) == CONNECTION_BAD ? P2N_ECONNLOST : P2N_EPG;
    p2n_err_set(err, code, "%s: %s", what, text);
    if (err && state)
        snprintf(err->sqlstate, sizeof(err->sqlstate), "%s", state);
    return code;
}

int pgu_exec(PGconn *conn, const char *sql, const char *what, P2nErr *err)
{
    PGresult *r = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        int rc = pgu_fail(err, conn, r, what);
        PQclear(r);
        return rc;
    }
    PQclear(r);
    return 0;
}

int pgu_query(PGconn *conn, const char *sql, int nparams, const char *const *params, PGresult **out,
              const char *what, P2nErr *err)
{
    if (out)
        *out = NULL;
    PGresult *r = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        int rc = pgu_fail(err, conn, r, what);
        PQclear(r);
        return rc;
    }
    if (out)
        *out = r;
    else
        PQclear(r);
    return 0;
}

static int quote_with(char *buf, size_t size, const char *s, char q)
{
    size_t o = 0;
    if (size < 3)
        return P2N_EINVAL;
    buf[o++] = q;
    for (const char *p = s; *p; p++) {
        size_t need = (*p == q) ? 2 : 1;
        if (o + need + 2 > size)
            return P2N_EINVAL;
        if (*p == q)
            buf[o++] = q;
        buf[o++] = *p;
    }
    buf[o++] = q;
    buf[o] = '\0';
    return 0;
}

int pgu_quote_ident(char *buf, size_t size, const char *ident)
{
    if (!ident || !*ident)
        return P2N_EINVAL;
    return quote_with(buf, size, ident, '"');
}

int pgu_quote_literal(char *buf, size_t size, const char *s)
{
    /* standard_conforming_strings is on in every supported server: only quotes need doubling;
       a backslash would change meaning only in E'' strings, which we never emit */
    return quote_with(buf, size, s ? s : "", '\'');
}

int pgu_schema_check(const char *schema, P2nErr *err)
{
    if (!schema || !*schema)
        return p2n_err_set(err, P2N_EINVAL, "sync schema name is empty");
    if (strlen(schema) > 63)
        return p2n_err_set(err, P2N_EINVAL, "sync schema name \"%s\" is longer than 63 bytes", schema);
    return 0;
}

char *pgu_schema_subst(const char *tmpl, const char *schema, P2nErr *err)
{
    char qi[200], ql[200];
    if (pgu_schema_check(schema, err) < 0)
        return NULL;
    if (pgu_quote_ident(qi, sizeof(qi), schema) < 0 || pgu_quote_literal(ql, sizeof(ql), schema) < 0) {
        p2n_err_set(err, P2N_EINVAL, "invalid sync schema name \"%s\"", schema);
        return NULL;
    }
    P2nBuf b;
    p2n_buf_init(&b);
    const char *p = tmpl;
    for (;;) {
        const char *at = strstr(p, "@SCHEMA");
        if (!at) {
            p2n_buf_append_str(&b, p);
            break;
        }
        p2n_buf_append(&b, p, (size_t)(at - p));
        if (strncmp(at, "@SCHEMA_LIT@", 12) == 0) {
            p2n_buf_append_str(&b, ql);
            p = at + 12;
        } else if (strncmp(at, "@SCHEMA@", 8) == 0) {
            p2n_buf_append_str(&b, qi);
            p = at + 8;
        } else {
            p2n_buf_append(&b, at, 7);
            p = at + 7;
        }
    }
    char *out = p2n_buf_steal(&b);
    if (!out)
        p2n_err_set(err, P2N_ENOMEM, "out of memory");
    return out;
}

void pgu_array_literal(P2nBuf *b, const char *const *v, size_t n)
{
    p2n_buf_append_byte(b, '{');
    for (size_t i = 0; i < n; i++) {
        if (i)
            p2n_buf_append_byte(b, ',');
        p2n_buf_append_byte(b, '"');
        for (const char *p = v[i]; *p; p++) {
            if (*p == '"' || *p == '\\')
                p2n_buf_append_byte(b, '\\');
            p2n_buf_append_byte(b, (uint8_t)*p);
        }
        p2n_buf_append_byte(b, '"');
    }
    p2n_buf_append_byte(b, '}');
}
