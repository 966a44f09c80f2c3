/*
 * pg2neo cypher: runs one Cypher query over our Bolt client and prints each row as a JSON object
 * on its own line ({"field": value, ...}; values in the form of docs/cypher-json.md).
 * Parameters: --param name=text (a string) or --param name:=JSON (any JSON value: numbers,
 * booleans, null, lists, maps). They travel as Bolt parameters, never inside the query text.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bolt/bolt.h"
#include "cli/cli.h"
#include "common/buf.h"
#include "common/log.h"
#include "packstream/packstream.h"

static void cypher_help(void)
{
    printf("usage: pg2neo cypher [--param NAME=TEXT | --param NAME:=JSON]... [--db NAME] [--read]\n"
           "                     [--stats] [--fetch-size N] QUERY\n\n"
           "Runs QUERY (or, if QUERY is \"-\", the text read from standard input) in Neo4j and prints\n"
           "each row as one JSON object per line. Temporal, spatial, byte and graph values are printed\n"
           "as tagged objects (docs/cypher-json.md).\n\n"
           "  --param NAME=TEXT   parameter $NAME is the string TEXT\n"
           "  --param NAME:=JSON  parameter $NAME is a JSON value: 42, 1.5, true, null, [1,2], {\"a\":1}\n"
           "                      (JSON integers become Cypher integers, other numbers floats)\n"
           "  --db NAME           database (default: NEO4J_DATABASE or the server's default)\n"
           "  --read              run in read mode (routed to a reader with neo4j:// URIs)\n"
           "  --stats             print the query's counters as JSON on standard error\n"
           "  --fetch-size N      records fetched per PULL (default 1000)\n\n"
           "Connection: NEO4J_URI (bolt://, bolt+s://, bolt+ssc://, neo4j://, neo4j+s://, neo4j+ssc://),\n"
           "NEO4J_USER, and NEO4J_PASSWORD or NEO4J_PASSWORD_FILE (never on the command line).\n"
           "Exit status: 0 success, 1 the query or connection failed, 2 bad usage or input.\n");
}

/* Encodes a JSON value as PackStream; returns false for values JSON cannot hold here. */
static bool json_to_ps(P2nBuf *b, const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_NULL:
        ps_pack_null(b);
        return true;
    case JSON_TRUE:
        ps_pack_bool(b, true);
        return true;
    case JSON_FALSE:
        ps_pack_bool(b, false);
        return true;
    case JSON_INTEGER:
        ps_pack_int(b, (int64_t)json_integer_value(j));
        return true;
    case JSON_REAL:
        ps_pack_float(b, json_real_value(j));
        return true;
    case JSON_STRING:
        ps_pack_string(b, json_string_value(j), json_string_length(j));
        return true;
    case JSON_ARRAY: {
        size_t n = json_array_size(j);
        ps_pack_list_header(b, (uint32_t)n);
        for (size_t i = 0; i < n; i++)
            if (!json_to_ps(b, json_array_get(j, i)))
                return false;
        return true;
    }
    case JSON_OBJECT: {
        ps_pack_map_header(b, (uint32_t)json_object_size(j));
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)(uintptr_t)j, k, v) {
            ps_pack_cstr(b, k);
            if (!json_to_ps(b, v))
                return false;
        }
        return true;
    }
    }
    return false;
}

typedef struct CypherParam {
    const char *name; /* points into argv */
    size_t name_len;
    const char *text; /* the value part */
    bool json;
} CypherParam;

static int parse_param(const char *arg, CypherParam *p)
{
    const char *eq = strchr(arg, '=');
    if (eq == NULL || eq == arg) {
        cli_errorf("invalid --param \"%s\": expected NAME=TEXT or NAME:=JSON", arg);
        return -1;
    }
    p->json = eq[-1] == ':';
    p->name = arg;
    p->name_len = (size_t)(eq - arg) - (p->json ? 1 : 0);
    p->text = eq + 1;
    if (p->name_len == 0) {
        cli_errorf("invalid --param \"%s\": the name is empty", arg);
        return -1;
    }
    return 0;
}

static char *read_stdin(void)
{
    P2nBuf b;
    p2n_buf_init(&b);
    char tmp[8192];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), stdin)) > 0)
        p2n_buf_append(&b, tmp, n);
    if (b.len == 0)
        p2n_buf_append(&b, "", 0);
    return p2n_buf_steal(&b);
}

static void print_stats(const BoltSummary *s)
{
    fprintf(stderr,
            "{\"nodes-created\":%lld,\"nodes-deleted\":%lld,\"relationships-created\":%lld,"
            "\"relationships-deleted\":%lld,\"properties-set\":%lld,\"labels-added\":%lld,"
            "\"labels-removed\":%lld,\"indexes-added\":%lld,\"indexes-removed\":%lld,"
            "\"constraints-added\":%lld,\"constraints-removed\":%lld,\"system-updates\":%lld,"
            "\"contains-updates\":%s,\"records\":%llu,\"type\":\"%s\",\"db\":\"%s\"}\n",
            (long long)s->nodes_created, (long long)s->nodes_deleted, (long long)s->relationships_created,
            (long long)s->relationships_deleted, (long long)s->properties_set, (long long)s->labels_added,
            (long long)s->labels_removed, (long long)s->indexes_added, (long long)s->indexes_removed,
            (long long)s->constraints_added, (long long)s->constraints_removed, (long long)s->system_updates,
            s->contains_updates ? "true" : "false", (unsigned long long)s->records, s->type, s->db);
}

static int cypher_run(int argc, char **argv)
{
    CypherParam *params = calloc((size_t)argc, sizeof(CypherParam));
    size_t nparams = 0;
    const char *db = NULL, *query_arg = NULL;
    bool read_mode = false, stats = false;
    long long fetch = 0;
    int ret = CLI_USAGE;
    char *query_buf = NULL;
    P2nBuf pbuf;
    p2n_buf_init(&pbuf);
    BoltDriver *drv = NULL;
    BoltConn *conn = NULL;
    P2nBuf line;
    p2n_buf_init(&line);
    const char *query = NULL;
    BoltConfig cfg;
    BoltEnv env;
    P2nErr err;
    BoltTxConfig tx;
    size_t nfields = 0;
    const char *const *fields = NULL;
    const PsValue *rec = NULL;
    int rc = 0;
    p2n_err_clear(&err);
    memset(&tx, 0, sizeof(tx));
    if (params == NULL) {
        cli_errorf("out of memory");
        return CLI_FAIL;
    }

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--param") == 0 || strcmp(a, "-p") == 0) {
            if (i + 1 >= argc) {
                cli_errorf("%s needs a value", a);
                goto out;
            }
            if (parse_param(argv[++i], &params[nparams]) < 0)
                goto out;
            for (size_t k = 0; k < nparams; k++)
                if (params[k].name_len == params[nparams].name_len &&
                    memcmp(params[k].name, params[nparams].name, params[k].name_len) == 0) {
                    cli_errorf("parameter \"%.*s\" is given twice", (int)params[k].name_len, params[k].name);
                    goto out;
                }
            nparams++;
        } else if (strcmp(a, "--db") == 0) {
            if (i + 1 >= argc) {
                cli_errorf("--db needs a value");
                goto out;
            }
            db = argv[++i];
        } else if (strcmp(a, "--fetch-size") == 0) {
            char *end = NULL;
            if (i + 1 >= argc || (fetch = strtoll(argv[i + 1], &end, 10)) == 0 || *end != '\0' ||
                fetch < -1) {
                cli_errorf("--fetch-size needs a positive number (or -1 for all)");
                goto out;
            }
            i++;
        } else if (strcmp(a, "--read") == 0) {
            read_mode = true;
        } else if (strcmp(a, "--stats") == 0) {
            stats = true;
        } else if (strcmp(a, "--password") == 0) {
            cli_errorf("passwords are not accepted on the command line; use NEO4J_PASSWORD or NEO4J_PASSWORD_FILE");
            goto out;
        } else if (a[0] == '-' && a[1] != '\0') {
            cli_errorf("unknown option \"%s\"", a);
            goto out;
        } else if (query_arg == NULL) {
            query_arg = a;
        } else {
            cli_errorf("more than one query given (quote the query as one argument)");
            goto out;
        }
    }
    if (query_arg == NULL) {
        cli_errorf("missing query; see pg2neo cypher --help");
        goto out;
    }
    query = query_arg;
    if (strcmp(query_arg, "-") == 0) {
        query = query_buf = read_stdin();
        if (query_buf == NULL) {
            cli_errorf("out of memory reading the query");
            ret = CLI_FAIL;
            goto out;
        }
    }
    if (query[strspn(query, " \t\r\n")] == '\0') {
        cli_errorf("the query is empty");
        goto out;
    }

    /* parameters: one PackStream map, names as given */
    ps_pack_map_header(&pbuf, (uint32_t)nparams);
    for (size_t k = 0; k < nparams; k++) {
        ps_pack_string(&pbuf, params[k].name, params[k].name_len);
        if (!params[k].json) {
            ps_pack_cstr(&pbuf, params[k].text);
            continue;
        }
        json_error_t jerr;
        json_t *j = json_loads(params[k].text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
        if (j == NULL) {
            cli_errorf("invalid JSON for parameter \"%.*s\": %s (at character %d)", (int)params[k].name_len,
                       params[k].name, jerr.text, jerr.position);
            goto out;
        }
        bool ok = json_to_ps(&pbuf, j);
        json_decref(j);
        if (!ok) {
            cli_errorf("parameter \"%.*s\" has a JSON value that cannot be sent", (int)params[k].name_len,
                       params[k].name);
            goto out;
        }
    }
    if (pbuf.failed) {
        cli_errorf("out of memory encoding parameters");
        ret = CLI_FAIL;
        goto out;
    }

    if (bolt_config_from_env(&cfg, &env, &err) < 0) {
        cli_errorf("%s", err.msg);
        goto out;
    }
    if (db != NULL)
        cfg.database = db;
    cfg.fetch_size = fetch;
    if (bolt_driver_new(&cfg, &drv, &err) < 0) {
        cli_errorf("%s", err.msg);
        ret = err.code == P2N_ECONFIG ? CLI_USAGE : CLI_FAIL;
        goto out;
    }
    memset(env.password, 0, sizeof(env.password));
    ret = CLI_FAIL;
    if (bolt_driver_connect(drv, read_mode ? BOLT_ACCESS_READ : BOLT_ACCESS_WRITE, &conn, &err) < 0) {
        cli_errorf("%s", err.msg);
        goto out;
    }
    tx.mode = read_mode ? BOLT_ACCESS_READ : BOLT_ACCESS_WRITE;
    if (bolt_run(conn, query, pbuf.data, pbuf.len, &tx, &err) < 0) {
        cli_errorf("query failed: %s", err.msg);
        goto out;
    }
    fields = bolt_fields(conn, &nfields);
    while ((rc = bolt_next(conn, &rec, &err)) == 1) {
        p2n_buf_reset(&line);
        p2n_buf_append_byte(&line, '{');
        for (uint32_t i = 0; i < rec->u.list.len && i < nfields; i++) {
            if (i > 0)
                p2n_buf_append_byte(&line, ',');
            PsValue name = {.type = PS_STRING};
            name.u.str.data = fields[i];
            name.u.str.len = (uint32_t)strlen(fields[i]);
            ps_value_to_json(&line, &name);
            p2n_buf_append_byte(&line, ':');
            ps_value_to_json(&line, &rec->u.list.items[i]);
        }
        p2n_buf_append(&line, "}\n", 2);
        if (line.failed) {
            cli_errorf("out of memory formatting a row");
            goto out;
        }
        if (fwrite(line.data, 1, line.len, stdout) != line.len) {
            cli_errorf("could not write to standard output");
            goto out;
        }
    }
    if (rc < 0) {
        cli_errorf("query failed: %s", err.msg);
        goto out;
    }
    if (fflush(stdout) != 0) {
        cli_errorf("could not write to standard output");
        goto out;
    }
    if (stats)
        print_stats(bolt_summary(conn));
    ret = CLI_OK;
out:
    bolt_conn_close(conn);
    bolt_driver_free(drv);
    p2n_buf_free(&pbuf);
    p2n_buf_free(&line);
    free(query_buf);
    free(params);
    return ret;
}

const CliCommand cli_cmd_cypher = {"cypher", "run a Cypher query and print rows as JSON lines", cypher_run,
                                   cypher_help};
