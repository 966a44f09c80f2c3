/* Option parsing and connection shared by the capture commands (init, uninstall, triggers). */
#include "cli/capture_args.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "pg/pgutil.h"

static int add_spec(CliCaptureArgs *a, const char *text)
{
    PgCaptureSpec *s = realloc(a->specs, (a->n + 1) * sizeof(*s));
    if (!s) {
        cli_errorf("out of memory");
        return CLI_FAIL;
    }
    a->specs = s;
    P2nErr err;
    p2n_err_clear(&err);
    if (pg_capture_spec_parse(text, &a->specs[a->n], &err) < 0) {
        cli_errorf("%s", err.msg);
        return CLI_USAGE;
    }
    a->n++;
    return 0;
}

static int read_file(CliCaptureArgs *a, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        cli_errorf("could not open tables file \"%s\"", path);
        return CLI_USAGE;
    }
    char line[4096];
    int rc = 0, lineno = 0;
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        lineno++;
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        size_t n = strlen(s);
        while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
            s[--n] = '\0';
        if (!*s || *s == '#')
            continue;
        rc = add_spec(a, s);
        if (rc)
            cli_errorf("in \"%s\" line %d", path, lineno);
    }
    fclose(f);
    return rc;
}

static int parse(int argc, char **argv, int first, CliCaptureArgs *a);

int cli_capture_args_parse(int argc, char **argv, int first, CliCaptureArgs *a)
{
    int rc = parse(argc, argv, first, a);
    if (rc)
        cli_capture_args_free(a);
    return rc;
}

static int parse(int argc, char **argv, int first, CliCaptureArgs *a)
{
    memset(a, 0, sizeof(*a));
    a->schema = getenv("P2N_SYNC_SCHEMA");
    a->schema_set = a->schema && *a->schema;
    if (!a->schema || !*a->schema)
        a->schema = "public";
    for (int i = first; i < argc; i++) {
        const char *o = argv[i];
        int rc = 0;
        if ((strcmp(o, "--schema") == 0 || strcmp(o, "--table") == 0 || strcmp(o, "--tables-file") == 0 ||
             strcmp(o, "--config") == 0) &&
            i + 1 >= argc) {
            cli_errorf("option %s needs a value", o);
            return CLI_USAGE;
        }
        if (strcmp(o, "--schema") == 0) {
            a->schema = argv[++i];
            a->schema_set = true;
        } else if (strcmp(o, "--config") == 0)
            a->config = argv[++i];
        else if (strcmp(o, "--table") == 0)
            rc = add_spec(a, argv[++i]);
        else if (strcmp(o, "--tables-file") == 0)
            rc = read_file(a, argv[++i]);
        else if (strcmp(o, "--all") == 0)
            a->all = true;
        else if (strcmp(o, "--yes") == 0)
            a->yes = true;
        else if (o[0] == '-') {
            cli_errorf("unknown option \"%s\"", o);
            return CLI_USAGE;
        } else if (!a->positional)
            a->positional = o;
        else {
            cli_errorf("unexpected argument \"%s\"", o);
            return CLI_USAGE;
        }
        if (rc)
            return rc;
    }
    if (!*a->schema || strlen(a->schema) > 63) {
        cli_errorf("invalid sync schema name \"%s\"", a->schema);
        return CLI_USAGE;
    }
    if (a->n) {
        a->tables = calloc(a->n, sizeof(PgCaptureTable));
        if (!a->tables) {
            cli_errorf("out of memory");
            return CLI_FAIL;
        }
        for (size_t i = 0; i < a->n; i++)
            a->tables[i] = a->specs[i].t;
    }
    return 0;
}

void cli_capture_args_free(CliCaptureArgs *a)
{
    for (size_t i = 0; i < a->n; i++)
        pg_capture_spec_free(&a->specs[i]);
    free(a->specs);
    free(a->tables);
    memset(a, 0, sizeof(*a));
}

/* connects (errors printed) and names the session */
static PGconn *connect_to(const char *conninfo, const char *from)
{
    PGconn *pg = NULL;
    P2nErr err;
    if (pgu_connect(conninfo, from, &pg, &err) < 0) {
        cli_errorf("%s", err.msg);
        return NULL;
    }
    PQclear(PQexec(pg, "SET application_name = 'pg2neo'"));
    return pg;
}

PGconn *cli_pg_connect(void)
{
    const char *url = getenv("DATABASE_URL");
    return connect_to(url ? url : "", url && *url ? "DATABASE_URL" : "the PG* environment variables");
}

PGconn *cli_pg_connect_mapping(const Mapping *m)
{
    return connect_to(m->conninfo ? m->conninfo : "", m->conninfo_from);
}
