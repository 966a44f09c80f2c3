/*
 * The sync engine end to end with the civic example, through the public API (pg2neo.h) and the
 * engine's SyncOps: a full sync, then every kind of change (insert, update, no-op update,
 * delete, array element added / removed, FK change, join-table row, TRUNCATE, primary-key
 * change, soft delete and restore), hostile values, an update landing while its entity is in
 * progress (forced: claim, write, update, finish), and one poison entity among many. After each
 * step the graph is compared with PostgreSQL: the same ids, the same values, the same
 * relationships, computed independently on each side.
 *
 * PostgreSQL: the shared server, database sync_test (dropped at the end). Neo4j: a private
 * instance started here with scripts/services on free ports (the civic labels are generic, and
 * other tests share the common Neo4j), stopped in the teardown.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
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
#include <libpq-fe.h>

#include "bolt/bolt.h"
#include "ports.h"
#include "common/time.h"
#include "packstream/packstream.h"
#include "pg/queue.h"
#include "pg2neo.h"
#include "sync/engine.h"

static char g_dir[256];
static bool g_started;
static char g_src[512];
static char g_url[1024];
static char g_base[1024];
static PGconn *g_pg;
static BoltConn *g_neo;
static P2nService *g_svc;

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    return system(cmd);
}

static void pg_exec(const char *sql)
{
    PGresult *r = PQexec(g_pg, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(g_pg));
    PQclear(r);
}

static long long pg_int(const char *sql)
{
    PGresult *r = PQexec(g_pg, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        fail_msg("%s: %s", sql, PQerrorMessage(g_pg));
    long long v = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

static char *pg_str(const char *sql)
{
    PGresult *r = PQexec(g_pg, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        fail_msg("%s: %s", sql, PQerrorMessage(g_pg));
    char *v = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

typedef struct Strs {
    char **v;
    size_t n, cap;
} Strs;

static void strs_add(Strs *s, const char *x)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->v = realloc(s->v, s->cap * sizeof(*s->v));
    }
    s->v[s->n++] = strdup(x);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void strs_free(Strs *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof(*s));
}

static Strs pg_strs(const char *sql)
{
    Strs s = {0};
    PGresult *r = PQexec(g_pg, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(g_pg));
    for (int i = 0; i < PQntuples(r); i++)
        strs_add(&s, PQgetvalue(r, i, 0));
    PQclear(r);
    if (s.n > 0)
        qsort(s.v, s.n, sizeof(*s.v), cmp_str);
    return s;
}

static Strs neo_strs(const char *q)
{
    Strs s = {0};
    P2nErr err;
    if (bolt_run(g_neo, q, NULL, 0, NULL, &err) < 0)
        fail_msg("%s: %s", q, err.msg);
    const PsValue *rec;
    int rc;
    while ((rc = bolt_next(g_neo, &rec, &err)) == 1) {
        const PsValue *v = &rec->u.list.items[0];
        char buf[64];
        if (v->type == PS_STRING)
            strs_add(&s, v->u.str.data);
        else if (v->type == PS_INT) {
            snprintf(buf, sizeof(buf), "%lld", (long long)v->u.i);
            strs_add(&s, buf);
        } else
            strs_add(&s, "<not a string>");
    }
    if (rc < 0)
        fail_msg("%s: %s", q, err.msg);
    if (s.n > 0)
        qsort(s.v, s.n, sizeof(*s.v), cmp_str);
    return s;
}

static long long neo_int(const char *q)
{
    Strs s = neo_strs(q);
    assert_int_equal(s.n, 1);
    long long v = atoll(s.v[0]);
    strs_free(&s);
    return v;
}

/* What each side holds, computed independently: same rows, sorted. */
static const char *const PAIRS[][3] = {
    {"users", "MATCH (n:User) WHERE n._p2n_version IS NOT NULL RETURN n.id + '|' + n.name + '|' + coalesce(n.bio, '~') + '|' + toString(n.reputation)",
     "SELECT id || '|' || display_name || '|' || coalesce(bio, '~') || '|' || reputation FROM users WHERE deleted_at IS NULL"},
    {"bills", "MATCH (n:Bill) WHERE n._p2n_version IS NOT NULL RETURN n.id + '|' + n.title + '|' + n.status",
     "SELECT id || '|' || title || '|' || status FROM bills"},
    {"sponsors", "MATCH (n:Sponsor) WHERE n._p2n_version IS NOT NULL RETURN n.id + '|' + n.name", "SELECT id || '|' || full_name FROM sponsors"},
    {"sittings", "MATCH (n:Sitting) WHERE n._p2n_version IS NOT NULL RETURN toString(n.id)", "SELECT id::text FROM sittings"},
    {"claims", "MATCH (n:Claim) WHERE n._p2n_version IS NOT NULL RETURN toString(n.id) + '|' + n.statement",
     "SELECT id || '|' || statement FROM claims"},
    {"comments", "MATCH (n:Comment) WHERE n._p2n_version IS NOT NULL RETURN toString(n.id) + '|' + n.body",
     "SELECT id || '|' || body FROM comments WHERE deleted_at IS NULL"},
    {"SPONSORED_BY", "MATCH (b:Bill)-[:SPONSORED_BY]->(s:Sponsor) RETURN b.id + '>' + s.id",
     "SELECT id || '>' || sponsor_id FROM bills WHERE sponsor_id IS NOT NULL"},
    {"CO_SPONSORED_BY", "MATCH (b:Bill)-[:CO_SPONSORED_BY]->(s:Sponsor) RETURN b.id + '>' + s.id",
     "SELECT DISTINCT b.id || '>' || c FROM bills b, unnest(b.co_sponsors) c WHERE EXISTS (SELECT 1 FROM sponsors s WHERE s.id = c)"},
    {"TAGGED", "MATCH (b:Bill)-[:TAGGED]->(t:Tag) RETURN b.id + '>' + t.name",
     "SELECT DISTINCT b.id || '>' || t FROM bills b, unnest(b.tags) t WHERE t IS NOT NULL"},
    {"VOTED", "MATCH (u:User)-[e:VOTED]->(b:Bill) RETURN u.id + '>' + b.id + '|' + e.vote",
     "SELECT v.user_id || '>' || v.bill_id || '|' || v.vote FROM votes v JOIN users u ON u.id = v.user_id WHERE u.deleted_at IS NULL"},
    {"BOOKMARKED", "MATCH (u:User)-[e:BOOKMARKED]->(b:Bill) RETURN u.id + '>' + b.id",
     "SELECT v.user_id || '>' || v.bill_id FROM bookmarks v JOIN users u ON u.id = v.user_id WHERE u.deleted_at IS NULL"},
    {"AUTHORED", "MATCH (u:User)-[:AUTHORED]->(c:Comment) RETURN u.id + '>' + toString(c.id)",
     "SELECT c.user_id || '>' || c.id FROM comments c JOIN users u ON u.id = c.user_id WHERE c.deleted_at IS NULL AND u.deleted_at IS NULL"},
    {"PART_OF", "MATCH (c:Claim)-[:PART_OF]->(a:Argument) RETURN toString(c.id) + '>' + toString(a.id)",
     "SELECT id || '>' || argument_id FROM claims"},
    {"duplicates", "MATCH (n) WHERE n.id IS NOT NULL WITH labels(n)[0] AS l, n.id AS id, count(*) AS c WHERE c > 1 RETURN l + toString(id)",
     "SELECT 'x' WHERE false"},
};

/* Fails with the first difference between the graph and PostgreSQL (skip: pairs not to compare,
   e.g. while a poison entity is legitimately missing). */
static void expect_graph_equals_pg(const char *skip)
{
    for (size_t i = 0; i < sizeof(PAIRS) / sizeof(PAIRS[0]); i++) {
        if (skip && strcmp(skip, PAIRS[i][0]) == 0)
            continue;
        Strs n = neo_strs(PAIRS[i][1]);
        Strs p = pg_strs(PAIRS[i][2]);
        size_t k = 0;
        while (k < n.n && k < p.n && strcmp(n.v[k], p.v[k]) == 0)
            k++;
        if (k < n.n || k < p.n)
            fail_msg("%s: graph has %zu, PostgreSQL %zu; first difference: graph \"%s\" vs PostgreSQL \"%s\"",
                     PAIRS[i][0], n.n, p.n, k < n.n ? n.v[k] : "(end)", k < p.n ? p.v[k] : "(end)");
        strs_free(&n);
        strs_free(&p);
    }
}

/* Batches until nothing is claimable; returns the sum of what they did. */
static P2nSyncStats sync_all(void)
{
    P2nSyncStats sum, st;
    memset(&sum, 0, sizeof(sum));
    for (int i = 0; i < 1000; i++) {
        int rc = p2n_sync_batch(g_svc, 0, 0, &st);
        if (rc < 0)
            fail_msg("sync batch: %s", p2n_service_error(g_svc));
        if (st.total_entities == 0)
            return sum;
        sum.total_entities += st.total_entities;
        sum.synced_count += st.synced_count;
        sum.failed_count += st.failed_count;
        sum.retried_count += st.retried_count;
    }
    fail_msg("sync never ran dry");
    return sum;
}

static int setup(void **state)
{
    (void)state;
    const char *src = getenv("P2N_SRC");
    snprintf(g_src, sizeof(g_src), "%s", src ? src : ".");
    const char *url = getenv("DATABASE_URL");
    if (url == NULL)
        fail_msg("DATABASE_URL must be set (scripts/services env)");
    PGconn *admin = PQconnectdb(url);
    if (PQstatus(admin) != CONNECTION_OK)
        fail_msg("could not connect to PostgreSQL: %s", PQerrorMessage(admin));
    PQclear(PQexec(admin, "DROP DATABASE IF EXISTS sync_test WITH (FORCE)"));
    PGresult *r = PQexec(admin, "CREATE DATABASE sync_test");
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("create database: %s", PQerrorMessage(admin));
    PQclear(r);
    PQfinish(admin);
    /* the same URL with the database replaced */
    const char *q = strchr(url, '?');
    const char *slash = strrchr(url, '/');
    if (slash == NULL || (q && slash > q))
        fail_msg("DATABASE_URL has no database part");
    snprintf(g_base, sizeof(g_base), "%s", url);
    snprintf(g_url, sizeof(g_url), "%.*s/sync_test%s", (int)(slash - url), url, q ? q : "");
    setenv("DATABASE_URL", g_url, 1);
    g_pg = PQconnectdb(g_url);
    if (PQstatus(g_pg) != CONNECTION_OK)
        fail_msg("could not connect to sync_test: %s", PQerrorMessage(g_pg));
    const char *scale = getenv("P2N_TEST_SCALE") && strcmp(getenv("P2N_TEST_SCALE"), "small") == 0 ? "0.1" : "0.3";
    if (sh("cd '%s' && bash -c '. examples/civic/pgenv.sh && psql -q -v ON_ERROR_STOP=1 -f examples/civic/schema.sql >/dev/null && "
           "psql -q -v ON_ERROR_STOP=1 -v scale=%s -f examples/civic/generate.sql >/dev/null'", g_src, scale) != 0)
        fail_msg("could not load the civic example");

    /* a private Neo4j */
    snprintf(g_dir, sizeof(g_dir), "/tmp/p2n-sync-XXXXXX");
    if (mkdtemp(g_dir) == NULL)
        fail_msg("mkdtemp failed");
    char port[16], pgport[16];
    uint16_t bolt_port = test_free_port();
    snprintf(port, sizeof(port), "%u", bolt_port);
    snprintf(pgport, sizeof(pgport), "%u", test_free_port());
    setenv("P2N_RUN", g_dir, 1);
    setenv("P2N_BOLT_PORT", port, 1);
    setenv("P2N_PG_PORT", pgport, 1);
    setenv("P2N_NEO4J_HEAP", "512m", 1);
    g_started = true;
    int64_t t0 = p2n_now_mono_ms();
    if (sh("'%s/scripts/services' start neo4j", g_src) != 0)
        fail_msg("could not start a private Neo4j");
    fprintf(stderr, "private Neo4j on port %u started in %lld ms\n", bolt_port, (long long)(p2n_now_mono_ms() - t0));
    char pwfile[400], pw[256] = "", uri[64];
    snprintf(pwfile, sizeof(pwfile), "%s/secrets/neo4j_password", g_dir);
    FILE *f = fopen(pwfile, "r");
    if (f == NULL || fgets(pw, sizeof(pw), f) == NULL)
        fail_msg("no Neo4j password in %s", pwfile);
    fclose(f);
    pw[strcspn(pw, "\r\n")] = '\0';
    snprintf(uri, sizeof(uri), "bolt://127.0.0.1:%u", bolt_port);
    setenv("NEO4J_URI", uri, 1);
    setenv("NEO4J_USER", "neo4j", 1);
    setenv("NEO4J_PASSWORD", pw, 1);
    unsetenv("NEO4J_DATABASE");
    unsetenv("P2N_SYNC_SCHEMA");
    BoltConfig cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.uri = uri;
    cfg.user = "neo4j";
    cfg.password = pw;
    P2nErr err;
    if (bolt_conn_open(&cfg, &g_neo, &err) < 0)
        fail_msg("could not connect to the private Neo4j: %s", err.msg);

    char path[700], msg[2048];
    snprintf(path, sizeof(path), "%s/examples/civic/mapping.yaml", g_src);
    if (p2n_service_open(path, &g_svc, msg, sizeof(msg)) < 0)
        fail_msg("p2n_service_open: %s", msg);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    p2n_service_close(g_svc);
    g_svc = NULL;
    if (g_neo)
        bolt_conn_close(g_neo);
    g_neo = NULL;
    if (g_pg)
        PQfinish(g_pg);
    g_pg = NULL;
    if (g_started)
        sh("'%s/scripts/services' stop neo4j >/dev/null 2>&1", g_src);
    g_started = false;
    if (g_dir[0])
        sh("rm -rf '%s'", g_dir);
    g_dir[0] = '\0';
    if (g_base[0]) {
        PGconn *admin = PQconnectdb(g_base);
        PQclear(PQexec(admin, "DROP DATABASE IF EXISTS sync_test WITH (FORCE)"));
        PQfinish(admin);
    }
    g_base[0] = '\0';
    return 0;
}

/* A failed group setup skips the group teardown: the private Neo4j must not outlive us. */
static void cleanup_at_exit(void)
{
    teardown(NULL);
}

static void report_line(void *ctx, const char *line)
{
    (*(int *)ctx)++;
    (void)line;
}

/* init: dry run changes nothing; the real one installs; a second one is a no-op. */
static void test_init_and_full_sync(void **state)
{
    (void)state;
    int lines = 0;
    assert_int_equal(p2n_service_install(g_svc, 1, report_line, &lines), 0);
    assert_true(lines > 12);
    assert_int_equal(pg_int("SELECT count(*) FROM pg_tables WHERE tablename = 'graph_sync_status'"), 0);
    assert_int_equal(neo_int("SHOW CONSTRAINTS YIELD name WHERE name STARTS WITH 'p2n_' RETURN count(*)"), 0);
    assert_int_equal(p2n_service_install(g_svc, 0, NULL, NULL), 0);
    long long ntrig = pg_int("SELECT count(*) FROM pg_trigger WHERE tgname LIKE '%_sync_%'");
    assert_true(ntrig >= 12 * 5);
    assert_int_equal(p2n_service_install(g_svc, 0, NULL, NULL), 0);
    assert_int_equal(pg_int("SELECT count(*) FROM pg_trigger WHERE tgname LIKE '%_sync_%'"), ntrig);
    assert_true(neo_int("SHOW CONSTRAINTS YIELD name WHERE name STARTS WITH 'p2n_' RETURN count(*)") >= 10);

    long queued = 0;
    assert_int_equal(p2n_sync_resync(g_svc, &queued), 0);
    assert_int_equal(queued, 12);
    int64_t t0 = p2n_now_mono_ms();
    P2nSyncStats st = sync_all();
    fprintf(stderr, "full sync: %lld entities in %lld ms\n", st.total_entities, (long long)(p2n_now_mono_ms() - t0));
    assert_int_equal(st.total_entities, 12);
    assert_int_equal(st.synced_count, 12);
    assert_true(neo_int("MATCH (n:User) RETURN count(n)") > 10);
    expect_graph_equals_pg(NULL);
    P2nServiceStatus ss;
    assert_int_equal(p2n_service_status(g_svc, &ss), 0);
    assert_true(ss.initialized && ss.postgres_connected && ss.neo4j_connected);
    assert_int_equal(ss.pending_entities, 0);
    assert_int_equal(ss.failed_entities, 0);
}

#define U_NEW "00000000-0000-4000-8000-0000000000a1"
#define B_NEW "00000000-0000-4000-8000-0000000000b1"

static void test_every_kind_of_change(void **state)
{
    (void)state;
    char *s1 = pg_str("SELECT id FROM sponsors ORDER BY id LIMIT 1");
    char *s2 = pg_str("SELECT id FROM sponsors ORDER BY id DESC LIMIT 1");
    char sql[2048];
    /* insert */
    snprintf(sql, sizeof(sql),
             "INSERT INTO users (id, email, display_name, bio) VALUES ('" U_NEW "', 'n@x', 'Newcomer', 'hi');"
             "INSERT INTO bills (id, number, title, sponsor_id, co_sponsors, tags, introduced_on)"
             " VALUES ('" B_NEW "', 'HB-T1', 'Test bill', '%s', ARRAY['%s']::uuid[], '{alpha,beta}', '2024-01-02')",
             s1, s2);
    pg_exec(sql);
    P2nSyncStats st = sync_all();
    assert_int_equal(st.synced_count, 2);
    expect_graph_equals_pg(NULL);

    /* update, then a no-op update that queues nothing and changes nothing */
    pg_exec("UPDATE bills SET title = 'Test bill, amended', status = 'committee' WHERE id = '" B_NEW "'");
    st = sync_all();
    assert_int_equal(st.synced_count, 1);
    expect_graph_equals_pg(NULL);
    long long v = neo_int("MATCH (b:Bill {id: '" B_NEW "'}) RETURN b._p2n_version");
    pg_exec("UPDATE bills SET title = title WHERE id = '" B_NEW "'");
    st = sync_all();
    assert_int_equal(st.total_entities, 0);
    assert_int_equal(neo_int("MATCH (b:Bill {id: '" B_NEW "'}) RETURN b._p2n_version"), v);

    /* array element added and removed; FK change */
    snprintf(sql, sizeof(sql),
             "UPDATE bills SET co_sponsors = co_sponsors || '%s'::uuid, tags = array_remove(tags, 'alpha') || 'gamma'::text,"
             " sponsor_id = '%s' WHERE id = '" B_NEW "'",
             s1, s2);
    pg_exec(sql);
    sync_all();
    expect_graph_equals_pg(NULL);
    assert_int_equal(neo_int("MATCH (:Bill {id: '" B_NEW "'})-[:CO_SPONSORED_BY]->(s) RETURN count(s)"), 2);
    snprintf(sql, sizeof(sql), "UPDATE bills SET co_sponsors = array_remove(co_sponsors, '%s'::uuid) WHERE id = '" B_NEW "'", s2);
    pg_exec(sql);
    sync_all();
    expect_graph_equals_pg(NULL);
    assert_int_equal(neo_int("MATCH (:Bill {id: '" B_NEW "'})-[:CO_SPONSORED_BY]->(s) RETURN count(s)"), 1);

    /* join-table rows: insert, update, delete */
    pg_exec("INSERT INTO votes (user_id, bill_id, vote, voted_at) VALUES ('" U_NEW "', '" B_NEW "', 'yea', now())");
    sync_all();
    expect_graph_equals_pg(NULL);
    pg_exec("UPDATE votes SET vote = 'nay' WHERE user_id = '" U_NEW "'");
    sync_all();
    expect_graph_equals_pg(NULL);
    assert_int_equal(neo_int("MATCH (:User {id: '" U_NEW "'})-[e:VOTED {vote: 'nay'}]->() RETURN count(e)"), 1);

    /* soft delete: the node and its relationships go; undoing it brings them all back (the
       rows pointing at the user are queued again by the engine: nothing else changed them) */
    pg_exec("INSERT INTO comments (user_id, bill_id, body) VALUES ('" U_NEW "', '" B_NEW "', 'mine')");
    sync_all();
    assert_int_equal(neo_int("MATCH (u:User {id: '" U_NEW "'})-[:AUTHORED]->(c:Comment) RETURN count(c)"), 1);
    pg_exec("UPDATE users SET deleted_at = now() WHERE id = '" U_NEW "'");
    sync_all();
    expect_graph_equals_pg(NULL);
    assert_int_equal(neo_int("MATCH (u:User {id: '" U_NEW "'}) RETURN count(u)"), 0);
    pg_exec("UPDATE users SET deleted_at = NULL WHERE id = '" U_NEW "'");
    sync_all();
    expect_graph_equals_pg(NULL);
    assert_int_equal(neo_int("MATCH (u:User {id: '" U_NEW "'})-[:VOTED]->() RETURN count(u)"), 1);
    assert_int_equal(neo_int("MATCH (u:User {id: '" U_NEW "'})-[:AUTHORED]->(c:Comment) RETURN count(c)"), 1);

    /* primary-key change */
    long long cid = pg_int("SELECT min(id) FROM claims");
    snprintf(sql, sizeof(sql), "UPDATE claims SET id = id + 1000000 WHERE id = %lld", cid);
    pg_exec(sql);
    sync_all();
    expect_graph_equals_pg(NULL);
    snprintf(sql, sizeof(sql), "MATCH (c:Claim {id: %lld}) RETURN count(c)", cid + 1000000);
    assert_int_equal(neo_int(sql), 1);

    /* hard delete (comments cascade from the bill) */
    pg_exec("DELETE FROM votes WHERE user_id = '" U_NEW "'");
    pg_exec("DELETE FROM comments WHERE id IN (SELECT id FROM comments ORDER BY id LIMIT 3)");
    sync_all();
    expect_graph_equals_pg(NULL);

    /* TRUNCATE, then rows inserted again in the same transaction */
    long long nb = pg_int("SELECT count(*) FROM bookmarks");
    assert_true(nb > 0);
    pg_exec("BEGIN; TRUNCATE bookmarks;"
            " INSERT INTO bookmarks (user_id, bill_id, note) SELECT '" U_NEW "', id, 'again' FROM bills ORDER BY id LIMIT 2;"
            " COMMIT");
    sync_all();
    expect_graph_equals_pg(NULL);
    assert_int_equal(neo_int("MATCH ()-[e:BOOKMARKED]->() RETURN count(e)"), 2);
    free(s1);
    free(s2);
}

static void test_hostile_values(void **state)
{
    (void)state;
    pg_exec("UPDATE bills SET title = E'''}) DETACH DELETE n //' WHERE id = '" B_NEW "'");
    pg_exec("UPDATE users SET display_name = E'`Robert\\'); DROP TABLE users;--`', bio = E'\"quoted\" \\\\ back\\\\slash \\u00e9\\u4e2d\\U0001F600'"
            " WHERE id = '" U_NEW "'");
    long long before = neo_int("MATCH (n) RETURN count(n)");
    sync_all();
    expect_graph_equals_pg(NULL);
    assert_int_equal(neo_int("MATCH (n) RETURN count(n)"), before);
    Strs t = neo_strs("MATCH (b:Bill {id: '" B_NEW "'}) RETURN b.title");
    assert_int_equal(t.n, 1);
    assert_string_equal(t.v[0], "'}) DETACH DELETE n //");
    strs_free(&t);
}

/* An update that lands while its entity is in progress is synced afterwards. */
static void test_update_while_in_progress(void **state)
{
    (void)state;
    SyncOps ops;
    sync_engine_ops(g_svc, &ops);
    pg_exec("UPDATE bills SET title = 'first' WHERE id = '" B_NEW "'");
    SyncItem *items = NULL;
    size_t n = 0;
    P2nErr err;
    assert_int_equal(ops.claim(ops.ctx, 100, &items, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(items[0].entity_id, B_NEW);
    SyncItem *p = &items[0];
    assert_int_equal(ops.write(ops.ctx, &p, 1, p2n_now_mono_ms() + 30000, &err), 0);
    /* the change lands between the write and the finish */
    pg_exec("UPDATE bills SET title = 'second' WHERE id = '" B_NEW "'");
    /* folded meanwhile (as another worker's claim would): the status row now holds a newer version */
    assert_int_equal(pgq_fold(g_pg, "public", NULL, &err), 0);
    items[0].result = SYNC_RES_SYNCED;
    assert_int_equal(ops.finish(ops.ctx, items, n, &err), 0);
    sync_items_free(items, n);
    Strs t = neo_strs("MATCH (b:Bill {id: '" B_NEW "'}) RETURN b.title");
    assert_string_equal(t.v[0], "first");
    strs_free(&t);
    assert_int_equal(pg_int("SELECT count(*) FROM graph_sync_status WHERE entity_id = '" B_NEW "' AND sync_status = 'pending'"), 1);
    P2nSyncStats st = sync_all();
    assert_int_equal(st.synced_count, 1);
    t = neo_strs("MATCH (b:Bill {id: '" B_NEW "'}) RETURN b.title");
    assert_string_equal(t.v[0], "second");
    strs_free(&t);
    expect_graph_equals_pg(NULL);
}

/* Holds back every pending entity of one type (its next attempt an hour ahead), so a batch syncs
   the others first: a deterministic interleaving of two entities' syncs. */
static void hold_back(const char *type, bool hold)
{
    char sql[512];
    pg_exec("SELECT graph_sync_fold()");
    if (hold)
        snprintf(sql, sizeof(sql),
                 "UPDATE graph_sync_status SET next_attempt_at = now() + interval '1 hour'"
                 " WHERE entity_type = '%s' AND sync_status IN ('pending', 'deleted')", type);
    else
        snprintf(sql, sizeof(sql), "UPDATE graph_sync_status SET next_attempt_at = now() WHERE entity_type = '%s'"
                                   " AND sync_status IN ('pending', 'deleted')", type);
    pg_exec(sql);
}

#define S_NEW "00000000-0000-4000-8000-0000000000c1"
#define B_OTHER_SQL "(SELECT id FROM bills WHERE id <> '" B_NEW "' ORDER BY id LIMIT 1)"

/*
 * The soft-delete / undelete race (found by the full-size daemon run): rows pointing at a target
 * are synced while the target is (soft- or hard-) deleted in PostgreSQL but its node is still in
 * the graph, then the target comes back before its own delete was synced. The target's node
 * never left, so nothing revives; the relationships must have been drawn when the referring rows
 * were synced. Covered: an FK column (Comment AUTHORED), a join table (Vote), an array of keys
 * (Bill CO_SPONSORED_BY, hard delete then the same key inserted again). Then the other order: the
 * target's delete is synced in between (node gone, so are the relationships) and the undelete
 * brings everything back.
 */
static void test_soft_delete_race(void **state)
{
    (void)state;
    pg_exec("INSERT INTO sponsors (id, full_name, chamber) VALUES ('" S_NEW "', 'Racer', 'house');"
            "UPDATE bills SET co_sponsors = co_sponsors || '" S_NEW "'::uuid WHERE id = '" B_NEW "'");
    sync_all();
    expect_graph_equals_pg(NULL);
    assert_int_equal(neo_int("MATCH (:Bill {id: '" B_NEW "'})-[:CO_SPONSORED_BY]->(:Sponsor {id: '" S_NEW "'}) RETURN count(*)"), 1);
    pg_exec("DELETE FROM votes WHERE user_id = '" U_NEW "'");
    sync_all();

    /* 1. the referring rows sync while the targets are deleted, the targets' syncs held back */
    pg_exec("UPDATE users SET deleted_at = now() WHERE id = '" U_NEW "'");
    pg_exec("DELETE FROM sponsors WHERE id = '" S_NEW "'");
    pg_exec("INSERT INTO comments (user_id, bill_id, body) VALUES ('" U_NEW "', '" B_NEW "', 'raced')");
    pg_exec("INSERT INTO votes (user_id, bill_id, vote) VALUES ('" U_NEW "', " B_OTHER_SQL ", 'abstain')");
    pg_exec("UPDATE bills SET title = 'raced bill' WHERE id = '" B_NEW "'");
    hold_back("User", true);
    hold_back("Sponsor", true);
    P2nSyncStats st = sync_all();
    assert_int_equal(st.synced_count, 3); /* the comment, the vote, the bill */
    assert_int_equal(neo_int("MATCH (u:User {id: '" U_NEW "'}) RETURN count(u)"), 1);
    /* 2. the targets come back before their deletes were synced */
    pg_exec("UPDATE users SET deleted_at = NULL WHERE id = '" U_NEW "'");
    pg_exec("INSERT INTO sponsors (id, full_name, chamber) VALUES ('" S_NEW "', 'Racer', 'house')");
    hold_back("User", false);
    hold_back("Sponsor", false);
    sync_all();
    expect_graph_equals_pg(NULL);
    assert_int_equal(neo_int("MATCH (:User {id: '" U_NEW "'})-[:AUTHORED]->(c:Comment {body: 'raced'}) RETURN count(c)"), 1);
    assert_int_equal(neo_int("MATCH (:User {id: '" U_NEW "'})-[e:VOTED {vote: 'abstain'}]->() RETURN count(e)"), 1);
    assert_int_equal(neo_int("MATCH (:Bill {id: '" B_NEW "'})-[:CO_SPONSORED_BY]->(:Sponsor {id: '" S_NEW "'}) RETURN count(*)"), 1);

    /* 3. the same, but the targets' deletes are synced between: the node goes with its
       relationships, and the undelete revives them (the referring rows are queued again) */
    pg_exec("UPDATE users SET deleted_at = now() WHERE id = '" U_NEW "'");
    pg_exec("DELETE FROM sponsors WHERE id = '" S_NEW "'");
    pg_exec("UPDATE comments SET body = 'raced again' WHERE body = 'raced'");
    pg_exec("UPDATE bills SET title = 'raced bill again' WHERE id = '" B_NEW "'");
    hold_back("User", true);
    hold_back("Sponsor", true);
    st = sync_all();
    assert_int_equal(st.synced_count, 2);
    hold_back("User", false);
    hold_back("Sponsor", false);
    sync_all();
    expect_graph_equals_pg(NULL);
    assert_int_equal(neo_int("MATCH (u:User {id: '" U_NEW "'}) RETURN count(u)"), 0);
    assert_int_equal(neo_int("MATCH (s:Sponsor {id: '" S_NEW "'}) RETURN count(s)"), 0);
    pg_exec("UPDATE users SET deleted_at = NULL WHERE id = '" U_NEW "'");
    pg_exec("INSERT INTO sponsors (id, full_name, chamber) VALUES ('" S_NEW "', 'Racer', 'house')");
    sync_all();
    expect_graph_equals_pg(NULL);
    assert_int_equal(neo_int("MATCH (:User {id: '" U_NEW "'})-[:AUTHORED]->(c:Comment {body: 'raced again'}) RETURN count(c)"), 1);
    assert_int_equal(neo_int("MATCH (:User {id: '" U_NEW "'})-[e:VOTED {vote: 'abstain'}]->() RETURN count(e)"), 1);
    assert_int_equal(neo_int("MATCH (:Bill {id: '" B_NEW "'})-[:CO_SPONSORED_BY]->(:Sponsor {id: '" S_NEW "'}) RETURN count(*)"), 1);
    /* verify agrees with the engine's final graph */
    P2nVerifyStats vs;
    assert_int_equal(p2n_verify_consistency(g_svc, 0, &vs), 0);
    assert_int_equal(vs.differences, 0);
}

/* The public API's verify, conflict detection / resolution and streaming full sync agree with the
   engine's writes. */
static void test_verify_conflicts_full_sync(void **state)
{
    (void)state;
    P2nVerifyStats vs;
    assert_int_equal(p2n_verify_consistency(g_svc, 0, &vs), 0);
    fprintf(stderr, "verify: %lld types, %lld differences in %.2f s\n", vs.types, vs.differences, vs.seconds);
    assert_int_equal(vs.types, 12);
    assert_int_equal(vs.differences, 0);

    /* a node changed behind pg2neo's back: a conflict; PostgreSQL wins */
    Strs t = neo_strs("MATCH (b:Bill {id: '" B_NEW "'}) SET b.title = 'tampered' RETURN b.title");
    strs_free(&t);
    P2nConflictReport r;
    assert_int_equal(p2n_conflict_detect(g_svc, "Bill", B_NEW, &r), 0);
    assert_true(r.in_postgres && r.in_neo4j);
    assert_true(r.nfields >= 1);
    assert_non_null(strstr(r.json, "title"));
    p2n_conflict_report_free(&r);
    assert_int_equal(p2n_verify_consistency(g_svc, 0, &vs), 0);
    assert_int_equal(vs.differences, 1);
    assert_int_equal(p2n_conflict_resolve(g_svc, "Bill", B_NEW), 0);
    assert_int_equal(p2n_conflict_resolve(g_svc, "NoSuchType", "1"), P2N_ENOTFOUND);
    P2nSyncStats st = sync_all();
    assert_int_equal(st.synced_count, 1);
    assert_int_equal(p2n_conflict_detect(g_svc, "Bill", B_NEW, &r), 0);
    assert_int_equal(r.nfields, 0);
    p2n_conflict_report_free(&r);
    expect_graph_equals_pg(NULL);

    /* the streaming full sync over a graph that lost nodes puts them back */
    t = neo_strs("MATCH (c:Claim) WITH c LIMIT 5 DETACH DELETE c RETURN 1");
    strs_free(&t);
    P2nFullSyncStats fs;
    assert_int_equal(p2n_sync_full(g_svc, "Claim", &fs), 0);
    fprintf(stderr, "full sync of Claim: %lld rows in %.2f s\n", fs.rows, fs.seconds);
    assert_int_equal(fs.rows, pg_int("SELECT count(*) FROM claims"));
    expect_graph_equals_pg(NULL);
}

/* A uniqueness constraint in Neo4j that one bill's new title violates: a permanent error for that
   bill only, among every bill changed in the same batches. */
static void test_poison_entity(void **state)
{
    (void)state;
    pg_exec("UPDATE bills SET title = title || ' #' || number");
    sync_all();
    P2nErr err;
    if (bolt_exec(g_neo, "CREATE CONSTRAINT p2n_test_title IF NOT EXISTS FOR (b:Bill) REQUIRE b.title IS UNIQUE", NULL, 0,
                  NULL, NULL, &err) < 0)
        fail_msg("constraint: %s", err.msg);
    long long nbills = pg_int("SELECT count(*) FROM bills");
    pg_exec("UPDATE bills SET summary = coalesce(summary, '') || '.'");
    pg_exec("UPDATE bills SET title = (SELECT title FROM bills WHERE id <> '" B_NEW "' ORDER BY id LIMIT 1) WHERE id = '" B_NEW "'");
    P2nSyncStats st = sync_all();
    fprintf(stderr, "poison: %lld entities, %lld synced, %lld failed\n", st.total_entities, st.synced_count, st.failed_count);
    assert_int_equal(st.total_entities, nbills);
    assert_int_equal(st.failed_count, 1);
    assert_int_equal(st.synced_count, nbills - 1);
    assert_int_equal(pg_int("SELECT count(*) FROM graph_sync_status WHERE sync_status = 'failed'"), 1);
    assert_int_equal(pg_int("SELECT count(*) FROM graph_sync_status WHERE sync_status = 'failed' AND entity_id = '" B_NEW "'"), 1);
    assert_int_equal(pg_int("SELECT count(*) FROM graph_sync_failures WHERE entity_id = '" B_NEW "' AND NOT retryable"
                            " AND error_code = 'Neo.ClientError.Schema.ConstraintValidationFailed'"), 1);
    /* every other bill carries the new summary */
    assert_int_equal(neo_int("MATCH (b:Bill) WHERE b.summary ENDS WITH '.' RETURN count(b)"), nbills - 1);
    /* fixed in PostgreSQL, it syncs again */
    pg_exec("UPDATE bills SET title = 'unique again' WHERE id = '" B_NEW "'");
    st = sync_all();
    assert_int_equal(st.synced_count, 1);
    expect_graph_equals_pg(NULL);
    if (bolt_exec(g_neo, "DROP CONSTRAINT p2n_test_title IF EXISTS", NULL, 0, NULL, NULL, &err) < 0)
        fail_msg("drop constraint: %s", err.msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_and_full_sync),
        cmocka_unit_test(test_every_kind_of_change),
        cmocka_unit_test(test_hostile_values),
        cmocka_unit_test(test_update_while_in_progress),
        cmocka_unit_test(test_soft_delete_race),
        cmocka_unit_test(test_verify_conflicts_full_sync),
        cmocka_unit_test(test_poison_entity),
    };
    atexit(cleanup_at_exit);
    return cmocka_run_group_tests(tests, setup, teardown);
}
