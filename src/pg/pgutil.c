/* libpq helpers for the pg module: error mapping, quoting, schema substitution in templates. */
#include "pg/pgutil.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/retry.h"

/* The libpq connection keywords: a fragment of a parse error that is one of them is no secret. */
static bool is_conninfo_keyword(const char *s, size_t n)
{
    bool found = false;
    PQconninfoOption *d = PQconndefaults();
    for (PQconninfoOption *o = d; o != NULL && o->keyword != NULL && !found; o++)
        found = strlen(o->keyword) == n && strncmp(o->keyword, s, n) == 0;
    PQconninfoFree(d);
    return found;
}

/* libpq's parse errors quote the token they stumbled on: a piece of the password as often as
   not ("invalid percent-encoded token: \"s3cr%zz\""), the whole URL at times. Every quoted
   fragment but a keyword becomes "***". */
static void mask_quoted(char *dst, size_t size, const char *src)
{
    size_t o = 0;
    for (const char *p = src; *p && o + 1 < size; p++) {
        const char *q = *p == '"' ? strchr(p + 1, '"') : NULL;
        if (q == NULL) {
            if (*p != '\n')
                dst[o++] = *p;
            continue;
        }
        size_t n = (size_t)(q - p - 1);
        bool keep = (n == 1 && strchr("=]:/@?&", p[1]) != NULL) || is_conninfo_keyword(p + 1, n);
        int w = keep ? snprintf(dst + o, size - o, "\"%.*s\"", (int)n, p + 1) : snprintf(dst + o, size - o, "\"***\"");
        if (w < 0 || (size_t)w >= size - o)
            break;
        o += (size_t)w;
        p = q;
    }
    dst[o < size ? o : size - 1] = '\0';
}

int pgu_conninfo_check(const char *conninfo, const char *from, P2nErr *err)
{
    if (from == NULL || *from == '\0')
        from = "the connection string";
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo ? conninfo : "", &perr);
    if (opts == NULL) {
        char why[600];
        mask_quoted(why, sizeof(why), perr ? perr : "out of memory");
        PQfreemem(perr);
        size_t n = strlen(why);
        while (n > 0 && (why[n - 1] == '\n' || why[n - 1] == ' '))
            why[--n] = '\0';
        return p2n_err_set(err, P2N_ECONFIG, "invalid PostgreSQL connection string in %s: %s", from, why);
    }
    int rc = 0;
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (o->val == NULL || o->val[0] == '\0')
            continue;
        if (strcmp(o->keyword, "password") == 0)
            p2n_log_add_secret(o->val);
        /* a password holding an unencoded '/' turns URL pieces into host and port: the port
           would then be a piece of the password, which libpq's connect error quotes */
        if (strcmp(o->keyword, "port") == 0 && strspn(o->val, "0123456789,") != strlen(o->val))
            rc = p2n_err_set(err, P2N_ECONFIG,
                             "invalid PostgreSQL connection string in %s: the port is not a number "
                             "(a password holding '/', '@', ':' or '?' must be percent-encoded in a URL)",
                             from);
    }
    PQconninfoFree(opts);
    return rc;
}

/* Where the password libpq sent came from, for the message that says it is wrong. */
static void password_source(const char *conninfo, const char *from, char *buf, size_t size)
{
    PQconninfoOption *opts = PQconninfoParse(conninfo ? conninfo : "", NULL);
    bool in_string = false;
    for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++)
        if (strcmp(o->keyword, "password") == 0 && o->val != NULL && o->val[0] != '\0')
            in_string = true;
    PQconninfoFree(opts);
    const char *pgpw = getenv("PGPASSWORD"), *pf = getenv("PGPASSFILE");
    if (in_string)
        snprintf(buf, size, "%s", from);
    else if (pgpw != NULL && pgpw[0] != '\0')
        snprintf(buf, size, "PGPASSWORD");
    else if (pf != NULL && pf[0] != '\0')
        snprintf(buf, size, "the password file PGPASSFILE (\"%s\")", pf);
    else
        snprintf(buf, size, "the password file ~/.pgpass");
}

int pgu_connect(const char *conninfo, const char *from, PGconn **out, P2nErr *err)
{
    *out = NULL;
    if (from == NULL || *from == '\0')
        from = "the connection string";
    int rc = pgu_conninfo_check(conninfo, from, err);
    if (rc < 0)
        return rc;
    PGconn *c = PQconnectdb(conninfo ? conninfo : "");
    if (PQstatus(c) == CONNECTION_OK) {
        PQsetNoticeProcessor(c, p2n_log_pg_notice, NULL); /* notices as log lines, in the log format */
        *out = c;
        return 0;
    }
    char msg[600];
    snprintf(msg, sizeof(msg), "%s", c ? PQerrorMessage(c) : "out of memory");
    msg[strcspn(msg, "\n")] = '\0';
    p2n_log_redact(msg);
    bool no_password = c != NULL && PQconnectionNeedsPassword(c);
    bool bad_password = strstr(msg, "password authentication failed") != NULL;
    bool auth = no_password || bad_password || strstr(msg, "authentication failed for user") != NULL;
    char user[128];
    snprintf(user, sizeof(user), "%s", c && PQuser(c) ? PQuser(c) : "");
    PQfinish(c);
    if (!auth)
        return p2n_err_set(err, P2N_ECONNLOST, "could not connect to PostgreSQL: %s", msg);
    if (no_password) {
        p2n_err_set(err, P2N_EAUTH,
                    "could not connect to PostgreSQL: %s (no password was given: put it in %s, PGPASSWORD or a "
                    "password file, PGPASSFILE or ~/.pgpass)", msg, from);
    } else {
        char src[300];
        password_source(conninfo, from, src, sizeof(src));
        p2n_err_set(err, P2N_EAUTH,
                    "could not connect to PostgreSQL: %s (the PostgreSQL password or the user \"%s\" is wrong: the "
                    "password came from %s)", msg, user, src);
    }
    if (err)
        snprintf(err->sqlstate, sizeof(err->sqlstate), "%s", no_password || bad_password ? "28P01" : "28000");
    return P2N_EAUTH;
}

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

typedef struct RetryQuery {
    PGconn *conn;
    const char *sql;
    int nparams;
    const char *const *params;
    PGresult **out;
    const char *what;
    bool exec; /* pgu_exec: several statements allowed, no parameters */
} RetryQuery;

static int retry_query_once(void *ctx, P2nErr *err)
{
    RetryQuery *q = ctx;
    if (q->exec)
        return pgu_exec(q->conn, q->sql, q->what, err);
    return pgu_query(q->conn, q->sql, q->nparams, q->params, q->out, q->what, err);
}

int pgu_query_retry(PGconn *conn, const char *sql, int nparams, const char *const *params, PGresult **out,
                    const char *what, P2nErr *err)
{
    if (PQtransactionStatus(conn) != PQTRANS_IDLE)
        return pgu_query(conn, sql, nparams, params, out, what, err);
    RetryQuery q = {conn, sql, nparams, params, out, what, false};
    return p2n_retry(what, retry_query_once, &q, err);
}

int pgu_exec_retry(PGconn *conn, const char *sql, const char *what, P2nErr *err)
{
    if (PQtransactionStatus(conn) != PQTRANS_IDLE)
        return pgu_exec(conn, sql, what, err);
    RetryQuery q = {conn, sql, 0, NULL, NULL, what, true};
    return p2n_retry(what, retry_query_once, &q, err);
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
