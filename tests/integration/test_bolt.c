/*
 * Integration tests of the Bolt client against the shared Neo4j (NEO4J_URI, NEO4J_USER,
 * NEO4J_PASSWORD): versions, every property type round-tripped, a 10 MB string, a 1,000,000-row
 * result with flat memory, transactions (commit, rollback, pipelining), constraint violations and
 * RESET, wrong password, the HTTP-port message, timeouts, and neo4j:// routing.
 * Nodes carry the label BoltTest and this run's id (tid) and are deleted at the end.
 */
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "bolt/bolt.h"
#include "common/time.h"
#include "packstream/packstream.h"

static char g_tid[64];

static void env_config(BoltConfig *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->uri = getenv("NEO4J_URI");
    cfg->user = getenv("NEO4J_USER");
    cfg->password = getenv("NEO4J_PASSWORD");
    if (cfg->uri == NULL || cfg->password == NULL)
        fail_msg("NEO4J_URI and NEO4J_PASSWORD must be set (scripts/services env)");
}

static BoltConn *connect_env(void)
{
    BoltConfig cfg;
    env_config(&cfg);
    BoltConn *c = NULL;
    P2nErr err;
    p2n_err_clear(&err);
    int rc = bolt_conn_open(&cfg, &c, &err);
    if (rc < 0)
        fail_msg("could not connect: %s", err.msg);
    return c;
}

/* Params map {tid: g_tid} plus nothing else. */
static void pack_tid_params(P2nBuf *b)
{
    p2n_buf_reset(b);
    ps_pack_map_header(b, 1);
    ps_pack_cstr(b, "tid");
    ps_pack_cstr(b, g_tid);
}

/* Runs a query returning one integer in its first column. */
static int64_t query_int(BoltConn *c, const char *q, const uint8_t *params, size_t plen)
{
    P2nErr err;
    p2n_err_clear(&err);
    if (bolt_run(c, q, params, plen, NULL, &err) < 0)
        fail_msg("%s: %s", q, err.msg);
    const PsValue *rec;
    int rc = bolt_next(c, &rec, &err);
    if (rc != 1)
        fail_msg("%s: no row (%s)", q, err.msg);
    assert_int_equal(rec->u.list.items[0].type, PS_INT);
    int64_t v = rec->u.list.items[0].u.i;
    assert_int_equal(bolt_next(c, &rec, &err), 0);
    return v;
}

static int64_t count_tid(BoltConn *c, const char *label)
{
    P2nBuf b;
    p2n_buf_init(&b);
    pack_tid_params(&b);
    char q[200];
    snprintf(q, sizeof(q), "MATCH (n:%s {tid: $tid}) RETURN count(n)", label);
    int64_t v = query_int(c, q, b.data, b.len);
    p2n_buf_free(&b);
    return v;
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return kb;
}

/* ------------------------------------------------------------------ tests */

static void test_connect_versions(void **state)
{
    (void)state;
    static const uint8_t versions[][2] = {{0, 0}, {5, 4}, {5, 3}, {5, 2}, {5, 1}, {5, 0}, {4, 4}};
    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
        BoltConfig cfg;
        env_config(&cfg);
        cfg.version_major = versions[i][0];
        cfg.version_minor = versions[i][1];
        BoltConn *c = NULL;
        P2nErr err;
        p2n_err_clear(&err);
        int rc = bolt_conn_open(&cfg, &c, &err);
        if (rc < 0)
            fail_msg("Bolt %u.%u: %s", versions[i][0], versions[i][1], err.msg);
        int major, minor;
        bolt_conn_version(c, &major, &minor);
        if (versions[i][0] == 0) {
            assert_int_equal(major, 5);
            assert_int_equal(minor, 4); /* Neo4j 5.26 takes the highest offered */
        } else {
            assert_int_equal(major, versions[i][0]);
            assert_int_equal(minor, versions[i][1]);
        }
        assert_true(strncmp(bolt_conn_server_agent(c), "Neo4j/5.", 8) == 0);
        assert_true(strlen(bolt_conn_id(c)) > 0);
        /* a temporal round trip on every version (4.4 asks for the UTC patch) */
        P2nBuf b;
        p2n_buf_init(&b);
        ps_pack_map_header(&b, 1);
        ps_pack_cstr(&b, "dt");
        ps_pack_datetime(&b, 1700000000, 123456789, 3600);
        assert_int_equal(bolt_run(c, "RETURN $dt AS dt, $dt.epochSeconds AS s", b.data, b.len, NULL, &err), 0);
        const PsValue *rec;
        assert_int_equal(bolt_next(c, &rec, &err), 1);
        assert_int_equal(rec->u.list.items[0].type, PS_STRUCT);
        assert_int_equal(rec->u.list.items[0].u.st.tag, PS_TAG_DATETIME);
        assert_int_equal(rec->u.list.items[1].u.i, 1700000000);
        assert_int_equal(bolt_next(c, &rec, &err), 0);
        /* a pipelined transaction and ROUTE on every version */
        assert_int_equal(bolt_begin(c, NULL, &err), 0);
        assert_int_equal(bolt_tx_queue(c, "RETURN 1", NULL, 0, &err), 0);
        if (bolt_commit(c, NULL, &err) < 0)
            fail_msg("Bolt %d.%d commit: %s", major, minor, err.msg);
        BoltRoutingTable rt;
        if (bolt_route(c, NULL, &rt, &err) < 0)
            fail_msg("Bolt %d.%d ROUTE: %s", major, minor, err.msg);
        assert_int_equal(rt.n_writers, 1);
        p2n_buf_free(&b);
        bolt_conn_close(c);
    }
}

/* Every property type: written as parameters, stored on a node, read back equal. */
static void test_property_types(void **state)
{
    (void)state;
    BoltConn *c = connect_env();
    P2nBuf props;
    p2n_buf_init(&props);
    static const int64_t ints[] = {0, -1, -16, -17, 127, 128, -128, -129, 32767, 32768, -32768, -32769,
                                   2147483647, 2147483648LL, -2147483648LL, -2147483649LL, INT64_MAX, INT64_MIN};
    uint8_t bytes[300];
    for (size_t i = 0; i < sizeof(bytes); i++)
        bytes[i] = (uint8_t)(i * 7);
    const int nprops = 22 + (int)(sizeof(ints) / sizeof(ints[0]));
    ps_pack_map_header(&props, (uint32_t)nprops);
    char key[32];
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        snprintf(key, sizeof(key), "int%zu", i);
        ps_pack_cstr(&props, key);
        ps_pack_int(&props, ints[i]);
    }
    ps_pack_cstr(&props, "t");
    ps_pack_bool(&props, true);
    ps_pack_cstr(&props, "f");
    ps_pack_bool(&props, false);
    ps_pack_cstr(&props, "pi");
    ps_pack_float(&props, 3.141592653589793);
    ps_pack_cstr(&props, "neg");
    ps_pack_float(&props, -1e300);
    ps_pack_cstr(&props, "empty");
    ps_pack_cstr(&props, "");
    ps_pack_cstr(&props, "unicode");
    ps_pack_cstr(&props, "Grüße, 世界 🌍 \"quoted\" \\ \n");
    ps_pack_cstr(&props, "bytes");
    ps_pack_bytes(&props, bytes, sizeof(bytes));
    ps_pack_cstr(&props, "ints");
    ps_pack_list_header(&props, 4);
    ps_pack_int(&props, 1);
    ps_pack_int(&props, -200);
    ps_pack_int(&props, 70000);
    ps_pack_int(&props, INT64_MIN);
    ps_pack_cstr(&props, "strs");
    ps_pack_list_header(&props, 3);
    ps_pack_cstr(&props, "a");
    ps_pack_cstr(&props, "");
    ps_pack_cstr(&props, "ccc");
    ps_pack_cstr(&props, "floats");
    ps_pack_list_header(&props, 2);
    ps_pack_float(&props, 0.5);
    ps_pack_float(&props, -2.25);
    ps_pack_cstr(&props, "bools");
    ps_pack_list_header(&props, 2);
    ps_pack_bool(&props, true);
    ps_pack_bool(&props, false);
    ps_pack_cstr(&props, "date");
    ps_pack_date(&props, 19723);
    ps_pack_cstr(&props, "time");
    ps_pack_time(&props, 12 * 3600 * 1000000000LL + 345, -5 * 3600);
    ps_pack_cstr(&props, "ltime");
    ps_pack_local_time(&props, 86399999999999LL);
    ps_pack_cstr(&props, "dt");
    ps_pack_datetime(&props, 1700000000, 999999999, 19800);
    ps_pack_cstr(&props, "dtz");
    ps_pack_datetime_zone_id(&props, 1700000000, 1, "Europe/Berlin");
    ps_pack_cstr(&props, "ldt");
    ps_pack_local_datetime(&props, -86400LL * 365 * 100, 42);
    ps_pack_cstr(&props, "dur");
    ps_pack_duration(&props, 14, 3, 3723, 500);
    ps_pack_cstr(&props, "p2");
    ps_pack_point2d(&props, 7203, 1.5, -2.5);
    ps_pack_cstr(&props, "p3");
    ps_pack_point3d(&props, 4979, 13.4, 52.5, 34.0);
    ps_pack_cstr(&props, "geo");
    ps_pack_point2d(&props, 4326, 13.4, 52.5);
    ps_pack_cstr(&props, "dates");
    ps_pack_list_header(&props, 2);
    ps_pack_date(&props, 0);
    ps_pack_date(&props, -1);
    assert_false(props.failed);

    /* the expected values: our own parameter bytes, decoded */
    PsArena arena;
    ps_arena_init(&arena, 0);
    PsValue expected;
    size_t used;
    P2nErr err;
    p2n_err_clear(&err);
    assert_int_equal(ps_decode(&arena, props.data, props.len, NULL, &expected, &used, &err), 0);
    assert_int_equal(expected.u.map.len, (uint32_t)nprops);

    P2nBuf params;
    p2n_buf_init(&params);
    ps_pack_map_header(&params, 2);
    ps_pack_cstr(&params, "tid");
    ps_pack_cstr(&params, g_tid);
    ps_pack_cstr(&params, "props");
    p2n_buf_append(&params, props.data, props.len);
    BoltSummary sum;
    int rc = bolt_exec(c, "CREATE (n:BoltTest {tid: $tid}) SET n += $props", params.data, params.len, NULL, &sum,
                       &err);
    if (rc < 0)
        fail_msg("create: %s", err.msg);
    assert_int_equal(sum.nodes_created, 1);
    assert_int_equal(sum.labels_added, 1);
    assert_int_equal(sum.properties_set, nprops + 1);
    assert_true(sum.contains_updates);
    assert_string_equal(sum.type, "w");
    assert_true(strlen(sum.bookmark) > 0);

    pack_tid_params(&params);
    assert_int_equal(bolt_run(c, "MATCH (n:BoltTest {tid: $tid}) RETURN properties(n) AS p, n", params.data,
                              params.len, NULL, &err), 0);
    size_t nf;
    const char *const *fields = bolt_fields(c, &nf);
    assert_int_equal(nf, 2);
    assert_string_equal(fields[0], "p");
    assert_string_equal(fields[1], "n");
    const PsValue *rec;
    assert_int_equal(bolt_next(c, &rec, &err), 1);
    const PsValue *got = &rec->u.list.items[0];
    assert_int_equal(got->type, PS_MAP);
    for (uint32_t i = 0; i < expected.u.map.len; i++) {
        const PsMapEntry *e = &expected.u.map.entries[i];
        const PsValue *g = ps_map_get(got, e->key);
        if (g == NULL || !ps_value_equal(g, &e->value)) {
            P2nBuf a, b;
            p2n_buf_init(&a);
            p2n_buf_init(&b);
            ps_value_to_json(&a, &e->value);
            if (g)
                ps_value_to_json(&b, g);
            fail_msg("property %s: sent %s, got %s", e->key, (char *)a.data, g ? (char *)b.data : "nothing");
        }
    }
    /* the node structure: labels and element id */
    const PsValue *node = &rec->u.list.items[1];
    assert_int_equal(node->type, PS_STRUCT);
    assert_int_equal(node->u.st.tag, PS_TAG_NODE);
    assert_int_equal(node->u.st.len, 4);
    assert_string_equal(node->u.st.fields[1].u.list.items[0].u.str.data, "BoltTest");
    assert_int_equal(bolt_next(c, &rec, &err), 0);

    /* values that cannot be properties still travel: maps, nested lists, null, mixed lists */
    p2n_buf_reset(&params);
    ps_pack_map_header(&params, 1);
    ps_pack_cstr(&params, "v");
    size_t vstart = params.len;
    ps_pack_map_header(&params, 3);
    ps_pack_cstr(&params, "nested");
    ps_pack_list_header(&params, 3);
    ps_pack_null(&params);
    ps_pack_list_header(&params, 1);
    ps_pack_cstr(&params, "x");
    ps_pack_float(&params, 0.1);
    ps_pack_cstr(&params, "big");
    ps_pack_list_header(&params, 70000);
    for (int i = 0; i < 70000; i++)
        ps_pack_int(&params, i);
    ps_pack_cstr(&params, "m");
    ps_pack_map_header(&params, 0);
    PsValue vexp;
    assert_int_equal(ps_decode(&arena, params.data + vstart, params.len - vstart, NULL, &vexp, &used, &err), 0);
    assert_int_equal(bolt_run(c, "RETURN $v AS v", params.data, params.len, NULL, &err), 0);
    assert_int_equal(bolt_next(c, &rec, &err), 1);
    assert_true(ps_value_equal(&rec->u.list.items[0], &vexp));
    assert_int_equal(bolt_next(c, &rec, &err), 0);

    /* bolt_run_value: the same with a decoded value */
    PsValue pmap = {.type = PS_MAP};
    PsMapEntry ent = {.key = "v", .key_len = 1, .value = vexp};
    pmap.u.map.entries = &ent;
    pmap.u.map.len = 1;
    assert_int_equal(bolt_run_value(c, "RETURN $v AS v", &pmap, NULL, &err), 0);
    assert_int_equal(bolt_next(c, &rec, &err), 1);
    assert_true(ps_value_equal(&rec->u.list.items[0], &vexp));
    assert_int_equal(bolt_next(c, &rec, &err), 0);

    ps_arena_free(&arena);
    p2n_buf_free(&props);
    p2n_buf_free(&params);
    bolt_conn_close(c);
}

static void test_big_string(void **state)
{
    (void)state;
    BoltConn *c = connect_env();
    size_t n = 10u * 1024 * 1024;
    char *s = malloc(n + 1);
    assert_non_null(s);
    for (size_t i = 0; i < n; i++)
        s[i] = (char)('a' + (i * 31 + i / 65535) % 26);
    s[n] = '\0';
    P2nBuf b;
    p2n_buf_init(&b);
    ps_pack_map_header(&b, 2);
    ps_pack_cstr(&b, "tid");
    ps_pack_cstr(&b, g_tid);
    ps_pack_cstr(&b, "s");
    ps_pack_string(&b, s, n);
    P2nErr err;
    p2n_err_clear(&err);
    BoltSummary sum;
    int rc = bolt_exec(c, "CREATE (n:BoltBig {tid: $tid, s: $s})", b.data, b.len, NULL, &sum, &err);
    if (rc < 0)
        fail_msg("create: %s", err.msg);
    assert_int_equal(sum.nodes_created, 1);
    pack_tid_params(&b);
    assert_int_equal(bolt_run(c, "MATCH (n:BoltBig {tid: $tid}) RETURN n.s AS s, size(n.s) AS len", b.data,
                              b.len, NULL, &err), 0);
    const PsValue *rec;
    assert_int_equal(bolt_next(c, &rec, &err), 1);
    assert_int_equal(rec->u.list.items[1].u.i, (int64_t)n);
    assert_int_equal(rec->u.list.items[0].type, PS_STRING);
    assert_int_equal(rec->u.list.items[0].u.str.len, n);
    assert_memory_equal(rec->u.list.items[0].u.str.data, s, n);
    assert_int_equal(bolt_next(c, &rec, &err), 0);
    assert_int_equal(bolt_exec(c, "MATCH (n:BoltBig {tid: $tid}) DELETE n", b.data, b.len, NULL, &sum, &err), 0);
    assert_int_equal(sum.nodes_deleted, 1);
    free(s);
    p2n_buf_free(&b);
    bolt_conn_close(c);
}

static void test_million_rows_flat_memory(void **state)
{
    (void)state;
    BoltConn *c = connect_env();
    P2nErr err;
    p2n_err_clear(&err);
    int rc = bolt_run(c, "UNWIND range(1, 1000000) AS x RETURN x, 'row ' + toString(x) AS s", NULL, 0, NULL, &err);
    if (rc < 0)
        fail_msg("%s", err.msg);
    const PsValue *rec;
    int64_t sum = 0, rows = 0;
    long rss_early = 0, rss_max = 0;
    char expect[32];
    while ((rc = bolt_next(c, &rec, &err)) == 1) {
        rows++;
        sum += rec->u.list.items[0].u.i;
        if (rows % 99991 == 0) { /* spot-check the second column */
            snprintf(expect, sizeof(expect), "row %lld", (long long)rows);
            assert_string_equal(rec->u.list.items[1].u.str.data, expect);
        }
        if (rows == 20000)
            rss_early = rss_kb();
        if (rows > 20000 && rows % 50000 == 0) {
            long r = rss_kb();
            if (r > rss_max)
                rss_max = r;
        }
    }
    if (rc < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(rows, 1000000);
    assert_int_equal(sum, 500000500000LL);
    assert_int_equal(bolt_summary(c)->records, 1000000);
    print_message("1M rows: RSS after 20k rows %ld kB, max later %ld kB (growth %ld kB)\n", rss_early, rss_max,
                  rss_max - rss_early);
    assert_true(rss_early > 0);
    assert_true(rss_max - rss_early < 16 * 1024); /* flat: well under what 1M rows would take */
    BoltConnStats st;
    bolt_conn_stats(c, &st);
    assert_true(st.messages_received > 1000000); /* records + the PULL replies */
    bolt_conn_close(c);
}

static void test_small_fetch_and_abandon(void **state)
{
    (void)state;
    BoltConfig cfg;
    env_config(&cfg);
    cfg.fetch_size = 7;
    BoltConn *c = NULL;
    P2nErr err;
    p2n_err_clear(&err);
    assert_int_equal(bolt_conn_open(&cfg, &c, &err), 0);
    /* crosses has_more boundaries */
    assert_int_equal(bolt_run(c, "UNWIND range(1, 50) AS x RETURN x", NULL, 0, NULL, &err), 0);
    const PsValue *rec;
    int64_t expect = 1;
    int rc;
    while ((rc = bolt_next(c, &rec, &err)) == 1)
        assert_int_equal(rec->u.list.items[0].u.i, expect++);
    assert_int_equal(rc, 0);
    assert_int_equal(expect, 51);
    /* abandon a result after 3 rows: the next query discards the rest */
    assert_int_equal(bolt_run(c, "UNWIND range(1, 100) AS x RETURN x", NULL, 0, NULL, &err), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(bolt_next(c, &rec, &err), 1);
    assert_int_equal(query_int(c, "RETURN 42", NULL, 0), 42);
    /* explicit discard */
    assert_int_equal(bolt_run(c, "UNWIND range(1, 100) AS x RETURN x", NULL, 0, NULL, &err), 0);
    assert_int_equal(bolt_next(c, &rec, &err), 1);
    assert_int_equal(bolt_discard(c, &err), 0);
    assert_int_equal(bolt_next(c, &rec, &err), 0);
    assert_int_equal(query_int(c, "RETURN 43", NULL, 0), 43);

    /* a failure in the middle of a streamed result: records first, then the error, then recovery */
    assert_int_equal(bolt_run(c, "UNWIND range(-30, 10) AS x RETURN 100 / x", NULL, 0, NULL, &err), 0);
    int64_t got = 0;
    while ((rc = bolt_next(c, &rec, &err)) == 1)
        got++;
    assert_int_equal(rc, P2N_ENEO4J);
    assert_string_equal(err.neo_code, "Neo.ClientError.Statement.ArithmeticError");
    assert_true(got >= 21 && got <= 30); /* everything before x = 0 that the server sent */
    assert_int_equal(query_int(c, "RETURN 44", NULL, 0), 44);
    bolt_conn_close(c);
}

static void test_transactions(void **state)
{
    (void)state;
    BoltConn *c = connect_env();
    P2nErr err;
    p2n_err_clear(&err);
    P2nBuf b;
    p2n_buf_init(&b);
    pack_tid_params(&b);

    /* rolled back: nothing left behind */
    assert_int_equal(bolt_begin(c, NULL, &err), 0);
    assert_true(bolt_conn_in_tx(c));
    BoltSummary sum;
    assert_int_equal(bolt_exec(c, "CREATE (:BoltTx {tid: $tid}), (:BoltTx {tid: $tid})", b.data, b.len, NULL, &sum,
                               &err), 0);
    assert_int_equal(sum.nodes_created, 2);
    assert_int_equal(count_tid(c, "BoltTx"), 2); /* visible inside the transaction */
    assert_int_equal(bolt_rollback(c, &err), 0);
    assert_false(bolt_conn_in_tx(c));
    assert_int_equal(count_tid(c, "BoltTx"), 0);

    /* committed, pipelined: BEGIN + 3 x (RUN + PULL) + COMMIT in one write */
    BoltConnStats before, after;
    bolt_conn_stats(c, &before);
    P2nBuf meta;
    p2n_buf_init(&meta);
    ps_pack_map_header(&meta, 1);
    ps_pack_cstr(&meta, "app");
    ps_pack_cstr(&meta, "pg2neo-test");
    BoltTxConfig txc = {0};
    txc.timeout_ms = 30000;
    txc.metadata = meta.data;
    txc.metadata_len = meta.len;
    assert_int_equal(bolt_begin(c, &txc, &err), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(bolt_tx_queue(c, "CREATE (n:BoltTx {tid: $tid}) SET n.x = 1", b.data, b.len, &err), 0);
    int rc = bolt_commit(c, &sum, &err);
    if (rc < 0)
        fail_msg("commit: %s", err.msg);
    bolt_conn_stats(c, &after);
    assert_int_equal(after.writes - before.writes, 1);
    assert_int_equal(after.messages_sent - before.messages_sent, 8);
    assert_int_equal(sum.nodes_created, 3);
    assert_int_equal(sum.properties_set, 6);
    assert_true(strlen(sum.bookmark) > 0);
    assert_int_equal(count_tid(c, "BoltTx"), 3);

    /* the commit sent without waiting (the engine's overlap): the work happens meanwhile, the
       outcome comes with bolt_commit; a second send is refused */
    assert_int_equal(bolt_begin(c, NULL, &err), 0);
    assert_int_equal(bolt_tx_queue(c, "CREATE (n:BoltTx {tid: $tid}) SET n.x = 2", b.data, b.len, &err), 0);
    assert_int_equal(bolt_commit_send(c, &err), 0);
    assert_int_equal(bolt_commit_send(c, &err), P2N_ESTATE);
    assert_int_equal(bolt_commit(c, &sum, &err), 0);
    assert_int_equal(sum.nodes_created, 1);
    assert_false(bolt_conn_in_tx(c));
    assert_int_equal(count_tid(c, "BoltTx"), 4);
    /* a failing statement: bolt_commit_send succeeds (nothing read yet), bolt_commit reports it */
    assert_int_equal(bolt_begin(c, NULL, &err), 0);
    assert_int_equal(bolt_tx_queue(c, "RETURN 1 / 0", NULL, 0, &err), 0);
    assert_int_equal(bolt_commit_send(c, &err), 0);
    assert_true(bolt_commit(c, NULL, &err) < 0);
    assert_false(bolt_conn_in_tx(c));
    assert_int_equal(bolt_exec(c, "MATCH (n:BoltTx {tid: $tid}) WHERE n.x = 2 DELETE n", b.data, b.len, NULL, NULL,
                               &err), 0);
    assert_int_equal(count_tid(c, "BoltTx"), 3);

    /* many queued statements (more replies than the client lets pile up) in one transaction */
    assert_int_equal(bolt_begin(c, NULL, &err), 0);
    for (int i = 0; i < 2500; i++)
        assert_int_equal(bolt_tx_queue(c, "CREATE (n:BoltTx {tid: $tid})", b.data, b.len, &err), 0);
    assert_int_equal(bolt_commit(c, &sum, &err), 0);
    assert_int_equal(sum.nodes_created, 2500);
    assert_int_equal(count_tid(c, "BoltTx"), 2503);
    BoltSummary del;
    assert_int_equal(bolt_exec(c, "MATCH (n:BoltTx {tid: $tid}) WHERE n.x IS NULL DELETE n", b.data, b.len, NULL,
                               &del, &err), 0);
    assert_int_equal(del.nodes_deleted, 2500);

    /* the bookmark can be waited for */
    const char *bm[1] = {sum.bookmark};
    BoltTxConfig withbm = {0};
    withbm.bookmarks = bm;
    withbm.n_bookmarks = 1;
    withbm.mode = BOLT_ACCESS_READ;
    assert_int_equal(bolt_run(c, "RETURN 1", NULL, 0, &withbm, &err), 0);
    const PsValue *rec;
    assert_int_equal(bolt_next(c, &rec, &err), 1);
    assert_int_equal(bolt_next(c, &rec, &err), 0);

    /* transaction metadata reaches the server */
    assert_int_equal(bolt_begin(c, &txc, &err), 0);
    rc = bolt_run(c, "SHOW TRANSACTIONS YIELD metaData, currentQuery WHERE currentQuery STARTS WITH 'SHOW' "
                     "RETURN metaData.app AS app", NULL, 0, NULL, &err);
    if (rc < 0)
        fail_msg("show transactions: %s", err.msg);
    rc = bolt_next(c, &rec, &err);
    assert_int_equal(rc, 1);
    assert_int_equal(rec->u.list.items[0].type, PS_STRING);
    assert_string_equal(rec->u.list.items[0].u.str.data, "pg2neo-test");
    while (bolt_next(c, &rec, &err) == 1)
        ;
    assert_int_equal(bolt_commit(c, NULL, &err), 0);

    /* tx_timeout is honoured */
    BoltTxConfig shortc = {0};
    shortc.timeout_ms = 300;
    assert_int_equal(bolt_begin(c, &shortc, &err), 0);
    rc = bolt_exec(c, "UNWIND range(1, 2000000000) AS x WITH x WHERE x < 0 RETURN count(x)", NULL, 0, NULL, NULL,
                   &err);
    assert_true(rc < 0);
    print_message("tx timeout: %s\n", err.msg);
    assert_int_equal(rc, P2N_ENEO4J);
    assert_non_null(strstr(err.neo_code, "Transaction"));
    assert_int_equal(bolt_rollback(c, &err), 0);
    assert_int_equal(query_int(c, "RETURN 7", NULL, 0), 7);

    /* state errors */
    assert_int_equal(bolt_commit(c, NULL, &err), P2N_ESTATE);
    assert_int_equal(bolt_begin(c, NULL, &err), 0);
    assert_int_equal(bolt_begin(c, NULL, &err), P2N_ESTATE);
    assert_int_equal(bolt_rollback(c, &err), 0);
    assert_int_equal(bolt_tx_queue(c, "RETURN 1", NULL, 0, &err), P2N_ESTATE);

    p2n_buf_free(&meta);
    p2n_buf_free(&b);
    bolt_conn_close(c);
}

static void test_constraint_violation(void **state)
{
    (void)state;
    BoltConn *c = connect_env();
    P2nErr err;
    p2n_err_clear(&err);
    int rc = bolt_exec(c, "CREATE CONSTRAINT bolt_test_uniq IF NOT EXISTS FOR (n:BoltUniq) REQUIRE n.k IS UNIQUE",
                       NULL, 0, NULL, NULL, &err);
    if (rc < 0)
        fail_msg("constraint: %s", err.msg);
    P2nBuf b;
    p2n_buf_init(&b);
    ps_pack_map_header(&b, 2);
    ps_pack_cstr(&b, "tid");
    ps_pack_cstr(&b, g_tid);
    ps_pack_cstr(&b, "k");
    ps_pack_cstr(&b, g_tid);
    assert_int_equal(bolt_exec(c, "CREATE (:BoltUniq {k: $k, tid: $tid})", b.data, b.len, NULL, NULL, &err), 0);

    /* auto-commit */
    rc = bolt_exec(c, "CREATE (:BoltUniq {k: $k, tid: $tid})", b.data, b.len, NULL, NULL, &err);
    assert_int_equal(rc, P2N_ENEO4J);
    assert_string_equal(err.neo_code, "Neo.ClientError.Schema.ConstraintValidationFailed");
    assert_int_equal(p2n_err_class(&err), P2N_ERR_PERMANENT);
    assert_true(bolt_conn_usable(c));
    assert_int_equal(bolt_reset(c, &err), 0);
    assert_int_equal(query_int(c, "RETURN 1", NULL, 0), 1);

    /* again, relying on the automatic RESET before the next request */
    rc = bolt_exec(c, "CREATE (:BoltUniq {k: $k, tid: $tid})", b.data, b.len, NULL, NULL, &err);
    assert_int_equal(rc, P2N_ENEO4J);
    assert_int_equal(query_int(c, "RETURN 2", NULL, 0), 2);

    /* inside a pipelined transaction: the failure comes back from COMMIT, nothing is written */
    assert_int_equal(bolt_begin(c, NULL, &err), 0);
    P2nBuf b2;
    p2n_buf_init(&b2);
    pack_tid_params(&b2);
    assert_int_equal(bolt_tx_queue(c, "CREATE (:BoltTx2 {tid: $tid})", b2.data, b2.len, &err), 0);
    assert_int_equal(bolt_tx_queue(c, "CREATE (:BoltUniq {k: $k, tid: $tid})", b.data, b.len, &err), 0);
    assert_int_equal(bolt_tx_queue(c, "CREATE (:BoltTx2 {tid: $tid})", b2.data, b2.len, &err), 0);
    rc = bolt_commit(c, NULL, &err);
    assert_int_equal(rc, P2N_ENEO4J);
    assert_string_equal(err.neo_code, "Neo.ClientError.Schema.ConstraintValidationFailed");
    assert_false(bolt_conn_in_tx(c));
    assert_int_equal(count_tid(c, "BoltTx2"), 0);

    /* a failing statement inside an explicit transaction: later calls report it, rollback recovers */
    assert_int_equal(bolt_begin(c, NULL, &err), 0);
    assert_int_equal(bolt_exec(c, "RETURN 1 +", NULL, 0, NULL, NULL, &err), P2N_ENEO4J);
    assert_string_equal(err.neo_code, "Neo.ClientError.Statement.SyntaxError");
    assert_true(bolt_conn_in_tx(c));
    assert_int_equal(bolt_exec(c, "RETURN 1", NULL, 0, NULL, NULL, &err), P2N_ENEO4J);
    assert_int_equal(bolt_rollback(c, &err), 0);
    assert_false(bolt_conn_in_tx(c));
    assert_int_equal(query_int(c, "RETURN 3", NULL, 0), 3);

    /* a bad parameter blob is refused before anything is sent */
    static const uint8_t notmap[] = {0x91, 0x01};
    assert_int_equal(bolt_run(c, "RETURN 1", notmap, sizeof(notmap), NULL, &err), P2N_EINVAL);
    assert_int_equal(query_int(c, "RETURN 4", NULL, 0), 4);

    p2n_buf_free(&b);
    p2n_buf_free(&b2);
    bolt_conn_close(c);
}

static void test_wrong_password(void **state)
{
    (void)state;
    BoltConfig cfg;
    env_config(&cfg);
    const char *bad = "not-the-password-4711";
    cfg.password = bad;
    BoltConn *c = NULL;
    P2nErr err;
    p2n_err_clear(&err);
    int rc = bolt_conn_open(&cfg, &c, &err);
    assert_int_equal(rc, P2N_EAUTH);
    assert_null(c);
    print_message("wrong password: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "authentication failed"));
    assert_null(strstr(err.msg, bad));
    assert_string_equal(err.neo_code, "Neo.ClientError.Security.Unauthorized");
    assert_int_equal(p2n_err_class(&err), P2N_ERR_FATAL);
    /* and the right one still works (one failure does not lock the account) */
    c = connect_env();
    bolt_conn_close(c);
}

/* A fake server on a loopback port: replies with `reply` (or stays silent) to a connection. */
typedef struct FakeServer {
    int lfd;
    uint16_t port;
    const char *reply; /* NULL: accept and say nothing */
    pthread_t th;
} FakeServer;

static void *fake_main(void *arg)
{
    FakeServer *f = arg;
    int fd = accept(f->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    char buf[64];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    (void)n;
    if (f->reply != NULL) {
        ssize_t w = send(fd, f->reply, strlen(f->reply), MSG_NOSIGNAL);
        (void)w;
        close(fd);
    } else {
        usleep(1500 * 1000);
        close(fd);
    }
    return NULL;
}

static void fake_start(FakeServer *f, const char *reply)
{
    f->reply = reply;
    f->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(f->lfd >= 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(f->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&a, &len), 0);
    f->port = ntohs(a.sin_port);
    assert_int_equal(listen(f->lfd, 1), 0);
    assert_int_equal(pthread_create(&f->th, NULL, fake_main, f), 0);
}

static void fake_stop(FakeServer *f)
{
    pthread_join(f->th, NULL);
    close(f->lfd);
}

static void test_not_bolt(void **state)
{
    (void)state;
    char uri[64];
    BoltConfig cfg;
    env_config(&cfg);
    cfg.uri = uri;
    P2nErr err;
    p2n_err_clear(&err);
    BoltConn *c = NULL;

    FakeServer f;
    fake_start(&f, "HTTP/1.1 400 Bad Request\r\n\r\n");
    snprintf(uri, sizeof(uri), "bolt://127.0.0.1:%u", f.port);
    assert_int_equal(bolt_conn_open(&cfg, &c, &err), P2N_EPROTO);
    print_message("http: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "HTTP port"));
    fake_stop(&f);

    /* a server that accepts and never answers: the connect timeout ends the handshake */
    fake_start(&f, NULL);
    snprintf(uri, sizeof(uri), "bolt://127.0.0.1:%u", f.port);
    cfg.connect_timeout_ms = 300;
    int64_t t0 = p2n_now_mono_ms();
    assert_int_equal(bolt_conn_open(&cfg, &c, &err), P2N_ETIMEDOUT);
    int64_t took = p2n_now_mono_ms() - t0;
    assert_true(took >= 250 && took < 1400);
    assert_int_equal(p2n_err_class(&err), P2N_ERR_TRANSIENT);
    fake_stop(&f);

    /* nobody listening: a transient network error */
    FakeServer g;
    fake_start(&g, "x");
    uint16_t port = g.port;
    /* connect once so the thread ends, then close the listener: the port is free again */
    snprintf(uri, sizeof(uri), "bolt://127.0.0.1:%u", port);
    bolt_conn_open(&cfg, &c, &err);
    fake_stop(&g);
    assert_true(bolt_conn_open(&cfg, &c, &err) < 0);
    print_message("refused: %s\n", err.msg);
    assert_int_equal(p2n_err_class(&err), P2N_ERR_TRANSIENT);
    assert_null(c);

    /* bad URIs */
    cfg.uri = "http://127.0.0.1:7474";
    assert_int_equal(bolt_conn_open(&cfg, &c, &err), P2N_ECONFIG);
    assert_non_null(strstr(err.msg, "unsupported URI scheme"));
    cfg.uri = "bolt://neo4j:secret@127.0.0.1";
    assert_int_equal(bolt_conn_open(&cfg, &c, &err), P2N_ECONFIG);
    assert_null(strstr(err.msg, "secret"));
}

static void test_routing(void **state)
{
    (void)state;
    BoltConfig cfg;
    env_config(&cfg);
    BoltUri u;
    P2nErr err;
    p2n_err_clear(&err);
    assert_int_equal(bolt_uri_parse(cfg.uri, &u, &err), 0);
    char uri[400], addr[300];
    snprintf(uri, sizeof(uri), "neo4j://%s?region=test", bolt_uri_address(u.host, u.port, addr, sizeof(addr)));
    cfg.uri = uri;
    BoltDriver *d = NULL;
    assert_int_equal(bolt_driver_new(&cfg, &d, &err), 0);
    assert_null(bolt_driver_routing_table(d));
    BoltConn *c = NULL;
    int rc = bolt_driver_connect(d, BOLT_ACCESS_WRITE, &c, &err);
    if (rc < 0)
        fail_msg("routing connect: %s", err.msg);
    const BoltRoutingTable *rt = bolt_driver_routing_table(d);
    assert_non_null(rt);
    print_message("routing table: ttl %lld, writer %s, %u readers, %u routers\n", (long long)rt->ttl_s,
                  rt->writers[0], rt->n_readers, rt->n_routers);
    assert_true(rt->ttl_s > 0);
    assert_int_equal(rt->n_writers, 1);
    assert_true(rt->n_readers >= 1);
    assert_true(rt->n_routers >= 1);
    assert_string_equal(rt->db, "neo4j");
    assert_string_equal(bolt_conn_address(c), rt->writers[0]);
    assert_int_equal(query_int(c, "RETURN 5", NULL, 0), 5);
    int64_t expires = rt->expires_ms;
    bolt_conn_close(c);
    /* within the ttl the table is reused */
    assert_int_equal(bolt_driver_connect(d, BOLT_ACCESS_READ, &c, &err), 0);
    assert_int_equal(bolt_driver_routing_table(d)->expires_ms, expires);
    bolt_conn_close(c);
    /* after invalidation (or ttl expiry) it is fetched again */
    bolt_driver_forget_writer(d, rt->writers[0]);
    assert_null(bolt_driver_routing_table(d));
    assert_int_equal(bolt_driver_connect(d, BOLT_ACCESS_WRITE, &c, &err), 0);
    assert_non_null(bolt_driver_routing_table(d));
    bolt_conn_close(c);
    bolt_driver_free(d);
}

static int group_teardown(void **state)
{
    (void)state;
    BoltConfig cfg;
    env_config(&cfg);
    BoltConn *c = NULL;
    P2nErr err;
    if (bolt_conn_open(&cfg, &c, &err) == 0) {
        P2nBuf b;
        p2n_buf_init(&b);
        pack_tid_params(&b);
        const char *labels[] = {"BoltTest", "BoltBig", "BoltTx", "BoltTx2", "BoltUniq"};
        for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++) {
            char q[128];
            snprintf(q, sizeof(q), "MATCH (n:%s {tid: $tid}) DELETE n", labels[i]);
            bolt_exec(c, q, b.data, b.len, NULL, NULL, &err);
        }
        p2n_buf_free(&b);
        bolt_conn_close(c);
    }
    return 0;
}

int main(void)
{
    snprintf(g_tid, sizeof(g_tid), "bolt-%d-%lld", (int)getpid(), (long long)p2n_now_wall_ms());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_versions),
        cmocka_unit_test(test_property_types),
        cmocka_unit_test(test_big_string),
        cmocka_unit_test(test_million_rows_flat_memory),
        cmocka_unit_test(test_small_fetch_and_abandon),
        cmocka_unit_test(test_transactions),
        cmocka_unit_test(test_constraint_violation),
        cmocka_unit_test(test_wrong_password),
        cmocka_unit_test(test_not_bolt),
        cmocka_unit_test(test_routing),
    };
    return cmocka_run_group_tests(tests, NULL, group_teardown);
}
