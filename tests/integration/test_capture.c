/*
 * Integration tests of capture against the shared PostgreSQL (DATABASE_URL), in a database of
 * their own (capture_test): migrations, exact queue contents after every kind of change, the
 * queue API (claim, mark, release, failures, batches, wake-up poll), security (an application
 * role with table privileges only), `triggers list` states, a custom sync schema with awkward
 * names, and each monitoring / troubleshooting query of the seed, verbatim, as its own test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "pg/capture.h"
#include "pg/queue.h"
#include "pg/schema.h"

static PGconn *db;
static char db_url[2048];
static PgCaptureMode g_mode = PG_CAPTURE_MODE_ROW; /* how UPDATEs are captured in this group */

/* ---------- helpers ---------- */

static void exec_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fail_msg("%s\n-> %s", sql, PQresultErrorMessage(r));
    PQclear(r);
}

/* first column of the first row as a static string ("" for none, "<null>" for NULL) */
static const char *scalar(const char *fmt, ...)
{
    static char out[65536];
    char sql[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    PGresult *r = PQexec(db, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s\n-> %s", sql, PQresultErrorMessage(r));
    if (PQntuples(r) == 0)
        out[0] = '\0';
    else if (PQgetisnull(r, 0, 0))
        snprintf(out, sizeof(out), "<null>");
    else
        snprintf(out, sizeof(out), "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return out;
}

static long long count(const char *fmt, ...)
{
    char sql[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    return atoll(scalar("%s", sql));
}

static void fold(void)
{
    P2nErr err;
    p2n_err_clear(&err);
    if (pgq_fold(db, "public", NULL, &err) < 0)
        fail_msg("fold: %s", err.msg);
}

/* the queue as "type|id|status|op|changed_arrays" lines, ordered */
static const char *queue_dump(void)
{
    fold();
    return scalar("SELECT coalesce(string_agg(format('%%s|%%s|%%s|%%s|%%s', entity_type, entity_id, sync_status,"
                  " op, coalesce(changed_arrays::text, '-')), E'\\n' ORDER BY entity_type, entity_id), '')"
                  " FROM graph_sync_status");
}

static void expect_queue(const char *want)
{
    const char *got = queue_dump();
    if (strcmp(got, want) != 0)
        fail_msg("queue differs\n--- want\n%s\n--- got\n%s", want, got);
}

static const PgCaptureTable *tables(size_t *n)
{
    static const char *const bill_keys[] = {"id"};
    static const char *const bill_arrays[] = {"co_sponsors", "tags"};
    static const char *const bill_watched[] = {"title", "status"};
    static const char *const pair_keys[] = {"a", "b"};
    static const char *const user_keys[] = {"id"};
    static PgCaptureTable t[4];
    t[0] = (PgCaptureTable){"public", "bills", "Bill", bill_keys, 1, bill_watched, 2, bill_arrays, 2, g_mode};
    t[1] = (PgCaptureTable){"public", "pairs", "Pair", pair_keys, 2, NULL, 0, NULL, 0, g_mode};
    t[2] = (PgCaptureTable){"public", "users", "User", user_keys, 1, NULL, 0, NULL, 0, g_mode};
    t[3] = (PgCaptureTable){"public", "docs", "Doc", NULL, 0, NULL, 0, NULL, 0, g_mode}; /* key from the catalog */
    *n = 4;
    return t;
}

static void install(void)
{
    size_t n;
    const PgCaptureTable *t = tables(&n);
    P2nErr err;
    p2n_err_clear(&err);
    if (pg_capture_install(db, "public", t, n, &err) < 0)
        fail_msg("install: %s", err.msg);
}

static int group_setup(void **state)
{
    (void)state;
    const char *url = getenv("DATABASE_URL");
    if (!url || !*url)
        fail_msg("DATABASE_URL is not set (scripts/services env)");
    PGconn *admin = PQconnectdb(url);
    if (PQstatus(admin) != CONNECTION_OK)
        fail_msg("could not connect to PostgreSQL: %s", PQerrorMessage(admin));
    exec_ok(admin, "SET client_min_messages = warning");
    exec_ok(admin, "DROP DATABASE IF EXISTS capture_test WITH (FORCE)");
    exec_ok(admin, "CREATE DATABASE capture_test");
    PQfinish(admin);
    /* same server, our database: replace the path of the URL */
    const char *slash = strrchr(url, '/');
    const char *query = strchr(url, '?');
    snprintf(db_url, sizeof(db_url), "%.*s/capture_test%s", (int)(slash - url), url, query ? query : "");
    db = PQconnectdb(db_url);
    if (PQstatus(db) != CONNECTION_OK)
        fail_msg("could not connect to capture_test: %s", PQerrorMessage(db));
    exec_ok(db, "SET client_min_messages = warning");
    exec_ok(db, "CREATE TABLE bills (id bigint PRIMARY KEY, title text, status text, notes text,"
                " co_sponsors text[], tags text[])");
    exec_ok(db, "CREATE TABLE pairs (a int, b int, v text, PRIMARY KEY (a, b))");
    exec_ok(db, "CREATE TABLE users (id bigint PRIMARY KEY, email text, name text, profile json)");
    exec_ok(db, "CREATE TABLE docs (id uuid PRIMARY KEY, body text)");
    P2nErr err;
    p2n_err_clear(&err);
    int from = -1, to = -1;
    if (pg_schema_migrate(db, "public", &from, &to, &err) < 0)
        fail_msg("migrate: %s", err.msg);
    assert_int_equal(from, 0);
    assert_int_equal(to, pg_schema_latest());
    install();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    PQfinish(db);
    return 0;
}

/* every test starts from empty data and an empty queue */
static int reset(void **state)
{
    (void)state;
    exec_ok(db, "TRUNCATE bills, pairs, users, docs");
    fold(); /* so that graph_sync_state has seen every version handed out so far */
    exec_ok(db, "TRUNCATE graph_sync_log, graph_sync_status, graph_sync_failures, graph_sync_batches");
    return 0;
}

static void mark_all_synced(void)
{
    P2nErr err;
    p2n_err_clear(&err);
    PgqClaim *c = NULL;
    size_t n = 0;
    if (pgq_claim(db, "public", 100000, 60000, "tester", true, &c, &n, &err) < 0)
        fail_msg("claim: %s", err.msg);
    PgqKey *k = calloc(n + 1, sizeof(PgqKey));
    for (size_t i = 0; i < n; i++)
        k[i] = (PgqKey){c[i].entity_type, c[i].entity_id, c[i].version};
    if (pgq_mark_synced(db, "public", "tester", k, n, NULL, NULL, &err) < 0)
        fail_msg("mark: %s", err.msg);
    free(k);
    pgq_claims_free(c, n);
}

/* ---------- migrations ---------- */

static void test_init_idempotent(void **state)
{
    (void)state;
    P2nErr err;
    p2n_err_clear(&err);
    int from = -1, to = -1;
    assert_int_equal(pg_schema_migrate(db, "public", &from, &to, &err), 0);
    assert_int_equal(from, pg_schema_latest());
    assert_int_equal(to, from);
    assert_int_equal(count("SELECT count(*) FROM graph_sync_schema_version"), pg_schema_latest());
    int v = 0;
    assert_int_equal(pg_schema_version(db, "public", &v, &err), 0);
    assert_int_equal(v, pg_schema_latest());
    assert_int_equal(pg_schema_version(db, "no_such_schema", &v, &err), 0);
    assert_int_equal(v, 0);
    /* re-installing the triggers replaces them: still five per table */
    install();
    assert_int_equal(count("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'bills'::regclass AND NOT tgisinternal"),
                     PG_CAPTURE_NTRIGGERS);
}

static void test_migration_rolls_back(void **state)
{
    (void)state;
    /* a schema name that cannot be created inside a read-only transaction: nothing is left behind */
    exec_ok(db, "SET default_transaction_read_only = on");
    P2nErr err;
    p2n_err_clear(&err);
    assert_true(pg_schema_migrate(db, "ro_schema", NULL, NULL, &err) < 0);
    assert_string_equal(err.sqlstate, "25006");
    exec_ok(db, "SET default_transaction_read_only = off");
    assert_int_equal(count("SELECT count(*) FROM pg_namespace WHERE nspname = 'ro_schema'"), 0);
    assert_int_equal(PQtransactionStatus(db), PQTRANS_IDLE);
}

/* ---------- queue contents ---------- */

static void test_insert(void **state)
{
    (void)state;
    exec_ok(db, "INSERT INTO bills (id, title) VALUES (1, 'one'), (2, 'two')");
    exec_ok(db, "INSERT INTO docs VALUES ('A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', 'x')");
    expect_queue("Bill|1|pending|upsert|-\n"
                 "Bill|2|pending|upsert|-\n"
                 "Doc|a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11|pending|upsert|-");
    /* the seed's checklist: INSERT INTO users -> a graph_sync_status record */
    exec_ok(db, "INSERT INTO users (id, email) VALUES (7, 'u@example.org')");
    fold();
    assert_int_equal(count("SELECT count(*) FROM graph_sync_status WHERE entity_type = 'User' AND entity_id = '7'"
                           " AND sync_status = 'pending'"),
                     1);
}

static void test_update(void **state)
{
    (void)state;
    exec_ok(db, "INSERT INTO bills (id, title, status) VALUES (1, 'one', 'draft'), (2, 'two', 'draft')");
    mark_all_synced();
    expect_queue("Bill|1|synced|upsert|-\nBill|2|synced|upsert|-");
    exec_ok(db, "UPDATE bills SET status = 'passed' WHERE id = 2");
    expect_queue("Bill|1|synced|upsert|-\nBill|2|pending|upsert|-");
    assert_int_equal(count("SELECT attempts FROM graph_sync_status WHERE entity_id = '2'"), 0);
    assert_string_equal(scalar("SELECT synced_at IS NOT NULL FROM graph_sync_status WHERE entity_id = '2'"), "t");
}

static void test_noop_update(void **state)
{
    (void)state;
    exec_ok(db, "INSERT INTO bills (id, title, status, tags) VALUES (1, 'one', 'draft', '{a}')");
    exec_ok(db, "INSERT INTO users (id, email, profile) VALUES (1, 'a@x', '{\"k\": 1}')");
    mark_all_synced();
    exec_ok(db, "TRUNCATE graph_sync_log");
    exec_ok(db, "UPDATE bills SET title = title, status = status, tags = tags");
    exec_ok(db, "UPDATE bills SET notes = 'not watched'");        /* an unwatched column */
    exec_ok(db, "UPDATE users SET profile = '{\"k\": 1}'::json"); /* json has no equality: compared as text */
    exec_ok(db, "UPDATE bills SET title = 'x' WHERE false");      /* no rows */
    assert_int_equal(count("SELECT count(*) FROM graph_sync_log"), 0);
    expect_queue("Bill|1|synced|upsert|-\nUser|1|synced|upsert|-");
    exec_ok(db, "UPDATE users SET profile = '{\"k\": 2}'::json");
    expect_queue("Bill|1|synced|upsert|-\nUser|1|pending|upsert|-");
}

static void test_array_add_remove(void **state)
{
    (void)state;
    exec_ok(db, "INSERT INTO bills (id, title, co_sponsors, tags) VALUES (5, 't', '{alice,bob}', '{x}')");
    mark_all_synced();
    exec_ok(db, "UPDATE bills SET co_sponsors = '{bob,carol}' WHERE id = 5");
    expect_queue("Bill|5|pending|upsert|{\"co_sponsors\": {\"added\": [\"carol\"], \"removed\": [\"alice\"]}}");
    /* a second change before the sync merges into the net effect; another array joins */
    exec_ok(db, "UPDATE bills SET co_sponsors = '{bob,carol,alice,dave}', tags = NULL WHERE id = 5");
    expect_queue("Bill|5|pending|upsert|{\"tags\": {\"added\": [], \"removed\": [\"x\"]}, "
                 "\"co_sponsors\": {\"added\": [\"alice\", \"carol\", \"dave\"], \"removed\": []}}");
    /* after a sync, the next diff starts afresh */
    mark_all_synced();
    exec_ok(db, "UPDATE bills SET co_sponsors = '{bob}' WHERE id = 5");
    expect_queue("Bill|5|pending|upsert|{\"co_sponsors\": {\"added\": [], \"removed\": [\"alice\", \"carol\", "
                 "\"dave\"]}}");
}

static void test_delete(void **state)
{
    (void)state;
    exec_ok(db, "INSERT INTO bills (id, title) VALUES (1, 'a'), (2, 'b'), (3, 'c')");
    mark_all_synced();
    exec_ok(db, "DELETE FROM bills WHERE id IN (1, 3)");
    expect_queue("Bill|1|deleted|delete|-\nBill|2|synced|upsert|-\nBill|3|deleted|delete|-");
    /* a synced delete leaves the queue */
    mark_all_synced();
    expect_queue("Bill|2|synced|upsert|-");
    /* insert then delete before any sync: the delete wins */
    exec_ok(db, "INSERT INTO bills (id, title) VALUES (9, 'tmp')");
    exec_ok(db, "DELETE FROM bills WHERE id = 9");
    expect_queue("Bill|2|synced|upsert|-\nBill|9|deleted|delete|-");
    /* delete then re-insert: the insert wins */
    exec_ok(db, "INSERT INTO bills (id, title) VALUES (9, 'back')");
    expect_queue("Bill|2|synced|upsert|-\nBill|9|pending|upsert|-");
}

static void test_pk_change(void **state)
{
    (void)state;
    exec_ok(db, "INSERT INTO bills (id, title) VALUES (1, 'a')");
    exec_ok(db, "INSERT INTO pairs VALUES (1, 2, 'p')");
    mark_all_synced();
    exec_ok(db, "UPDATE bills SET id = 10 WHERE id = 1");
    exec_ok(db, "UPDATE pairs SET b = 3");
    expect_queue("Bill|1|deleted|delete|-\nBill|10|pending|upsert|-\n"
                 "Pair|[\"1\",\"2\"]|deleted|delete|-\nPair|[\"1\",\"3\"]|pending|upsert|-");
    /* row mode: the old and new entity carry the same version (one change) */
    if (g_mode == PG_CAPTURE_MODE_ROW)
        assert_string_equal(scalar("SELECT count(DISTINCT version) FROM graph_sync_status WHERE entity_type = 'Bill'"),
                        "1");
}

static void test_truncate(void **state)
{
    (void)state;
    exec_ok(db, "INSERT INTO bills (id, title) VALUES (1, 'a'), (2, 'b')");
    mark_all_synced();
    exec_ok(db, "TRUNCATE bills");
    expect_queue("Bill|*|pending|resync|-\nBill|1|synced|upsert|-\nBill|2|synced|upsert|-");
    P2nErr err;
    p2n_err_clear(&err);
    PgqClaim *c = NULL;
    size_t n = 0;
    assert_int_equal(pgq_claim(db, "public", 10, 1000, "w", true, &c, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(c[0].op, PGQ_OP_RESYNC);
    assert_string_equal(c[0].entity_id, "*");
    pgq_claims_free(c, n);
}

static void test_composite_key(void **state)
{
    (void)state;
    exec_ok(db, "INSERT INTO pairs VALUES (42, 7, 'x'), (42, 8, 'y')");
    exec_ok(db, "UPDATE pairs SET v = 'z' WHERE a = 42 AND b = 8");
    exec_ok(db, "DELETE FROM pairs WHERE b = 7");
    expect_queue("Pair|[\"42\",\"7\"]|deleted|delete|-\nPair|[\"42\",\"8\"]|pending|upsert|-");
    /* the id parses as a JSON array of the key values' texts */
    assert_string_equal(scalar("SELECT entity_id::json->>1 FROM graph_sync_status WHERE entity_id LIKE '%%8%%'"), "8");
}

static void test_one_row_per_entity(void **state)
{
    (void)state;
    exec_ok(db, "INSERT INTO bills (id, title) VALUES (1, 'a')");
    for (int i = 0; i < 1000; i++) {
        char sql[128];
        snprintf(sql, sizeof(sql), "UPDATE bills SET title = 'v%d' WHERE id = 1", i);
        exec_ok(db, sql);
    }
    assert_int_equal(count("SELECT count(*) FROM graph_sync_log"), 1001);
    expect_queue("Bill|1|pending|upsert|-");
    assert_string_equal(scalar("SELECT version = (SELECT last_value FROM graph_sync_version_seq)"
                               " FROM graph_sync_status"),
                        "t");
    assert_int_equal(count("SELECT count(*) FROM graph_sync_log"), 0);
}

static void test_bulk_100k(void **state)
{
    (void)state;
    exec_ok(db, "INSERT INTO bills (id, title, status) SELECT g, 't' || g, 'draft' FROM generate_series(1, 100000) g");
    /* a bulk insert is one log row */
    assert_int_equal(count("SELECT count(*) FROM graph_sync_log"), 1);
    mark_all_synced();
    assert_int_equal(count("SELECT count(*) FROM graph_sync_status WHERE sync_status = 'synced'"), 100000);
    exec_ok(db, "UPDATE bills SET status = 'passed'");
    fold();
    assert_int_equal(count("SELECT count(*) FROM graph_sync_status WHERE sync_status = 'pending'"), 100000);
    assert_int_equal(count("SELECT count(*) FROM graph_sync_status"), 100000);
    assert_int_equal(count("SELECT count(DISTINCT entity_id) FROM graph_sync_status WHERE sync_status = 'pending'"
                           " AND entity_type = 'Bill' AND op = 'upsert' AND changed_arrays IS NULL"),
                     100000);
    mark_all_synced();
    /* the same statement changing nothing queues nothing */
    exec_ok(db, "UPDATE bills SET status = status || ''");
    assert_int_equal(count("SELECT count(*) FROM graph_sync_log"), 0);
    /* a bulk delete is one log row, and queues every entity */
    exec_ok(db, "DELETE FROM bills WHERE id <= 50000");
    assert_int_equal(count("SELECT count(*) FROM graph_sync_log"), 1);
    fold();
    assert_int_equal(count("SELECT count(*) FROM graph_sync_status WHERE sync_status = 'deleted'"), 50000);
}

/* ---------- the queue API ---------- */

static void test_update_during_in_progress(void **state)
{
    (void)state;
    P2nErr err;
    p2n_err_clear(&err);
    exec_ok(db, "INSERT INTO bills (id, title) VALUES (1, 'a'), (2, 'b')");
    PgqClaim *c = NULL;
    size_t n = 0;
    assert_int_equal(pgq_claim(db, "public", 10, 60000, "w1", true, &c, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(c[0].op, PGQ_OP_UPSERT);
    assert_true(c[0].first_change_ms > 0);
    /* while in progress: entity 1 changes, and the claimer folds before anything else */
    exec_ok(db, "UPDATE bills SET title = 'a2' WHERE id = 1");
    fold();
    assert_string_equal(scalar("SELECT sync_status FROM graph_sync_status WHERE entity_id = '1'"), "in_progress");
    /* a second claimer gets nothing: both are held */
    PgqClaim *c2 = NULL;
    size_t n2 = 0;
    assert_int_equal(pgq_claim(db, "public", 10, 60000, "w2", true, &c2, &n2, &err), 0);
    assert_int_equal(n2, 0);
    pgq_claims_free(c2, n2);
    PgqKey k[2];
    for (size_t i = 0; i < 2; i++)
        k[i] = (PgqKey){c[i].entity_type, c[i].entity_id, c[i].version};
    size_t synced = 0, requeued = 0;
    assert_int_equal(pgq_mark_synced(db, "public", "w1", k, 2, &synced, &requeued, &err), 0);
    assert_int_equal(synced, 1);
    assert_int_equal(requeued, 1);
    expect_queue("Bill|1|pending|upsert|-\nBill|2|synced|upsert|-");
    pgq_claims_free(c, n);
    /* the next claim sees the newer version */
    assert_int_equal(pgq_claim(db, "public", 10, 60000, "w1", true, &c, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(c[0].entity_id, "1");
    assert_string_equal(scalar("SELECT version FROM graph_sync_status WHERE entity_id = '1'"),
                        scalar("SELECT last_value FROM graph_sync_version_seq"));
    k[0] = (PgqKey){c[0].entity_type, c[0].entity_id, c[0].version};
    assert_int_equal(pgq_mark_synced(db, "public", "w1", k, 1, &synced, &requeued, &err), 0);
    assert_int_equal(synced, 1);
    pgq_claims_free(c, n);
    expect_queue("Bill|1|synced|upsert|-\nBill|2|synced|upsert|-");
}

static void test_lease_expiry_and_release(void **state)
{
    (void)state;
    P2nErr err;
    p2n_err_clear(&err);
    exec_ok(db, "INSERT INTO bills (id, title) VALUES (1, 'a'), (2, 'b'), (3, 'c')");
    PgqClaim *c = NULL;
    size_t n = 0;
    assert_int_equal(pgq_claim(db, "public", 1, 1, "crashed", true, &c, &n, &err), 0);
    assert_int_equal(n, 1);
    char id[64];
    snprintf(id, sizeof(id), "%s", c[0].entity_id);
    pgq_claims_free(c, n);
    usleep(20000);
    /* the expired lease is claimable again, and counts as an attempt */
    assert_int_equal(pgq_claim(db, "public", 10, 60000, "w2", false, &c, &n, &err), 0);
    assert_int_equal(n, 3);
    int seen = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(c[i].entity_id, id) == 0) {
            seen = 1;
            assert_int_equal(c[i].attempts, 1);
        }
    assert_true(seen);
    /* the crashed worker can no longer mark it */
    PgqKey k = {"Bill", id, c[0].version};
    size_t synced = 9;
    assert_int_equal(pgq_mark_synced(db, "public", "crashed", &k, 1, &synced, NULL, &err), 0);
    assert_int_equal(synced, 0);
    /* release one, then all */
    PgqKey k1 = {c[0].entity_type, c[0].entity_id, c[0].version};
    size_t rel = 0;
    assert_int_equal(pgq_release(db, "public", "w2", &k1, 1, &rel, &err), 0);
    assert_int_equal(rel, 1);
    assert_int_equal(pgq_release(db, "public", "w2", NULL, 0, &rel, &err), 0);
    assert_int_equal(rel, 2);
    pgq_claims_free(c, n);
    expect_queue("Bill|1|pending|upsert|-\nBill|2|pending|upsert|-\nBill|3|pending|upsert|-");
    assert_int_equal(count("SELECT count(*) FROM graph_sync_status WHERE claimed_by IS NOT NULL"), 0);
}

static void test_failures_and_retry(void **state)
{
    (void)state;
    P2nErr err;
    p2n_err_clear(&err);
    exec_ok(db, "INSERT INTO bills (id, title) VALUES (1, 'a')");
    PgqClaim *c = NULL;
    size_t n = 0;
    int failed = -1;
    for (int attempt = 1; attempt <= 3; attempt++) {
        assert_int_equal(pgq_claim(db, "public", 10, 60000, "w", true, &c, &n, &err), 0);
        assert_int_equal(n, 1);
        assert_int_equal(c[0].attempts, attempt - 1);
        PgqKey k = {c[0].entity_type, c[0].entity_id, c[0].version};
        assert_int_equal(pgq_mark_failed(db, "public", "w", &k, "neo4j unavailable", "Neo.TransientError.General",
                                         true, 3, attempt < 3 ? 0 : 0, &failed, &err),
                         0);
        assert_int_equal(failed, attempt == 3);
        pgq_claims_free(c, n);
    }
    expect_queue("Bill|1|failed|upsert|-");
    assert_int_equal(count("SELECT count(*) FROM graph_sync_failures WHERE retryable"), 3);
    assert_string_equal(scalar("SELECT string_agg(attempt_number::text, ',' ORDER BY id) FROM graph_sync_failures"),
                        "1,2,3");
    assert_string_equal(scalar("SELECT last_error FROM graph_sync_status"), "neo4j unavailable");
    /* a backoff delay keeps an entity out of claims until it passes */
    exec_ok(db, "INSERT INTO bills (id, title) VALUES (2, 'b')");
    assert_int_equal(pgq_claim(db, "public", 10, 60000, "w", true, &c, &n, &err), 0);
    assert_int_equal(n, 1);
    PgqKey k = {c[0].entity_type, c[0].entity_id, c[0].version};
    assert_int_equal(pgq_mark_failed(db, "public", "w", &k, "timeout", NULL, true, 3, 60000, &failed, &err), 0);
    assert_int_equal(failed, 0);
    pgq_claims_free(c, n);
    assert_int_equal(pgq_claim(db, "public", 10, 60000, "w", true, &c, &n, &err), 0);
    assert_int_equal(n, 0);
    pgq_claims_free(c, n);
    /* a permanent failure fails at once; a new change makes the entity pending again */
    exec_ok(db, "UPDATE graph_sync_status SET next_attempt_at = now() WHERE entity_id = '2'");
    assert_int_equal(pgq_claim(db, "public", 10, 60000, "w", true, &c, &n, &err), 0);
    assert_int_equal(n, 1);
    k = (PgqKey){c[0].entity_type, c[0].entity_id, c[0].version};
    assert_int_equal(pgq_mark_failed(db, "public", "w", &k, "constraint", "Neo.ClientError.Schema", false, 3, 0,
                                     &failed, &err),
                     0);
    assert_int_equal(failed, 1);
    pgq_claims_free(c, n);
    exec_ok(db, "UPDATE bills SET title = 'fixed' WHERE id = 2");
    expect_queue("Bill|1|failed|upsert|-\nBill|2|pending|upsert|-");
    assert_int_equal(count("SELECT attempts FROM graph_sync_status WHERE entity_id = '2'"), 0);
    /* marking an entity one does not hold is an error */
    k = (PgqKey){"Bill", "2", 0};
    assert_int_equal(pgq_mark_failed(db, "public", "w", &k, "x", NULL, true, 3, 0, &failed, &err), P2N_ESTATE);
}

static void test_batch_record(void **state)
{
    (void)state;
    P2nErr err;
    p2n_err_clear(&err);
    PgqBatch b = {"incremental", "completed", 10, 8, 1, 1, 0, 0.25, "w1", 1700000000000};
    int64_t id = 0;
    assert_int_equal(pgq_batch_record(db, "public", &b, &id, &err), 0);
    assert_true(id > 0);
    assert_string_equal(scalar("SELECT format('%%s/%%s/%%s/%%s/%%s/%%s', batch_type, batch_status, total_entities,"
                               " synced_count, duration_seconds, extract(epoch FROM started_at)::bigint)"
                               " FROM graph_sync_batches WHERE id = %lld",
                               (long long)id),
                        "incremental/completed/10/8/0.25/1700000000");
}

static void test_poll_wakeup(void **state)
{
    (void)state;
    P2nErr err;
    p2n_err_clear(&err);
    fold();
    PgqPoll st;
    memset(&st, 0, sizeof(st));
    st.gap_timeout_ms = 500;
    int has = -1;
    assert_int_equal(pgq_poll(db, "public", &st, &has, &err), 0);
    assert_int_equal(has, 0);
    assert_int_equal(pgq_poll(db, "public", &st, &has, &err), 0);
    assert_int_equal(has, 0);
    /* a committed change wakes */
    exec_ok(db, "INSERT INTO bills (id, title) VALUES (1, 'a')");
    assert_int_equal(pgq_poll(db, "public", &st, &has, &err), 0);
    assert_int_equal(has, 1);
    fold();
    assert_int_equal(pgq_poll(db, "public", &st, &has, &err), 0);
    assert_int_equal(has, 0);
    /* a change still in flight: the version is handed out before the commit */
    PGconn *other = PQconnectdb(db_url);
    assert_int_equal(PQstatus(other), CONNECTION_OK);
    exec_ok(other, "BEGIN");
    exec_ok(other, "UPDATE bills SET title = 'b' WHERE id = 1");
    assert_int_equal(pgq_poll(db, "public", &st, &has, &err), 0);
    assert_int_equal(has, 1);
    fold(); /* finds nothing yet */
    assert_int_equal(count("SELECT count(*) FROM graph_sync_status WHERE sync_status = 'pending'"), 1);
    assert_int_equal(pgq_poll(db, "public", &st, &has, &err), 0);
    assert_int_equal(has, 1); /* still waking: the change is not folded */
    exec_ok(other, "COMMIT");
    assert_int_equal(pgq_poll(db, "public", &st, &has, &err), 0);
    assert_int_equal(has, 1);
    fold();
    assert_int_equal(pgq_poll(db, "public", &st, &has, &err), 0);
    assert_int_equal(has, 0);
    /* an aborted change wakes only until the gap timeout */
    exec_ok(other, "BEGIN");
    exec_ok(other, "UPDATE bills SET title = 'c' WHERE id = 1");
    exec_ok(other, "ROLLBACK");
    assert_int_equal(pgq_poll(db, "public", &st, &has, &err), 0);
    assert_int_equal(has, 1);
    fold();
    usleep(600000);
    assert_int_equal(pgq_poll(db, "public", &st, &has, &err), 0);
    assert_int_equal(has, 0);
    PQfinish(other);
}

/* ---------- security ---------- */

static void test_app_role_needs_no_sync_privileges(void **state)
{
    (void)state;
    exec_ok(db, "DROP ROLE IF EXISTS capture_app");
    exec_ok(db, "CREATE ROLE capture_app NOLOGIN");
    exec_ok(db, "GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON bills, pairs TO capture_app");
    exec_ok(db, "SET ROLE capture_app");
    exec_ok(db, "INSERT INTO bills (id, title, co_sponsors) VALUES (1, 'a', '{x}')");
    exec_ok(db, "UPDATE bills SET co_sponsors = '{y}' WHERE id = 1");
    exec_ok(db, "UPDATE bills SET id = 2 WHERE id = 1");
    exec_ok(db, "INSERT INTO pairs VALUES (1, 1, 'p')");
    exec_ok(db, "DELETE FROM pairs");
    exec_ok(db, "TRUNCATE pairs");
    /* the role cannot touch the queue directly */
    PGresult *r = PQexec(db, "INSERT INTO graph_sync_log (version, op, entity_type, entity_ids)"
                             " VALUES (1, 'u', 'Bill', '{666}')");
    assert_string_equal(PQresultErrorField(r, PG_DIAG_SQLSTATE), "42501");
    PQclear(r);
    r = PQexec(db, "SELECT * FROM graph_sync_status");
    assert_string_equal(PQresultErrorField(r, PG_DIAG_SQLSTATE), "42501");
    PQclear(r);
    exec_ok(db, "RESET ROLE");
    assert_string_equal(scalar("SELECT bool_or(has_table_privilege('capture_app', c.oid, 'SELECT,INSERT,UPDATE,DELETE'))"
                               " FROM pg_class c WHERE c.relname LIKE 'graph_sync%%' AND c.relkind = 'r'"),
                        "f");
    expect_queue("Bill|1|deleted|delete|-\nBill|2|pending|upsert|-\n"
                 "Pair|*|pending|resync|-\nPair|[\"1\",\"1\"]|deleted|delete|-");
    /* every capture function: SECURITY DEFINER, fixed search_path, not executable by PUBLIC */
    assert_string_equal(scalar("SELECT count(*) FILTER (WHERE p.prosecdef"
                               "   AND p.proconfig = '{\"search_path=pg_catalog, pg_temp\"}'"
                               "   AND NOT has_function_privilege('capture_app', p.oid, 'EXECUTE'))"
                               "   || '/' || count(*)"
                               " FROM pg_proc p WHERE p.proname ~ '^on_(entity|array_field)_'"),
                        "12/12");
    exec_ok(db, "REVOKE ALL ON bills, pairs FROM capture_app");
    exec_ok(db, "DROP ROLE capture_app");
}

static void test_custom_schema_and_quoting(void **state)
{
    (void)state;
    const char *schema = "sync \"q\" s";
    exec_ok(db, "CREATE SCHEMA IF NOT EXISTS \"app data\"");
    exec_ok(db, "DROP TABLE IF EXISTS \"app data\".\"Odd \"\"Name\"\"\"");
    exec_ok(db, "CREATE TABLE \"app data\".\"Odd \"\"Name\"\"\" (\"key col\" text PRIMARY KEY,"
                " \"val'ue\" int, \"list;\" int[])");
    P2nErr err;
    p2n_err_clear(&err);
    assert_int_equal(pg_schema_migrate(db, schema, NULL, NULL, &err), 0);
    static const char *const keys[] = {"key col"};
    static const char *const arrays[] = {"list;"};
    PgCaptureTable t = {"app data", "Odd \"Name\"", "It's", keys, 1, NULL, 0, arrays, 1, g_mode};
    if (pg_capture_install(db, schema, &t, 1, &err) < 0)
        fail_msg("install: %s", err.msg);
    exec_ok(db, "INSERT INTO \"app data\".\"Odd \"\"Name\"\"\" VALUES ('k''1', 1, '{1,2}')");
    exec_ok(db, "UPDATE \"app data\".\"Odd \"\"Name\"\"\" SET \"list;\" = '{2,3}'");
    assert_int_equal(pgq_fold(db, schema, NULL, &err), 0);
    assert_string_equal(scalar("SELECT format('%%s|%%s|%%s|%%s', entity_type, entity_id, sync_status, changed_arrays)"
                               " FROM \"sync \"\"q\"\" s\".graph_sync_status"),
                        "It's|k'1|pending|{\"list;\": {\"added\": [3], \"removed\": [1]}}");
    /* nothing leaked into public */
    assert_int_equal(count("SELECT count(*) FROM public.graph_sync_log"), 0);
    PgCaptureEntry *e = NULL;
    size_t n = 0;
    assert_int_equal(pg_capture_list(db, schema, &t, 1, &e, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(e[0].state, PG_CAPTURE_CAPTURED);
    free(e);
    assert_int_equal(pg_schema_uninstall(db, schema, &err), 0);
    assert_int_equal(count("SELECT count(*) FROM pg_trigger WHERE tgrelid = '\"app data\".\"Odd \"\"Name\"\"\"'::regclass"),
                     0);
    assert_int_equal(count("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                           " WHERE n.nspname = 'sync \"q\" s'"),
                     0);
    /* the data is untouched */
    assert_int_equal(count("SELECT count(*) FROM \"app data\".\"Odd \"\"Name\"\"\""), 1);
}

static void test_long_names(void **state)
{
    (void)state;
    /* 63-byte table name: generated names are cut and hashed, and still unique per kind */
    const char *tname = "a_table_name_that_is_exactly_sixty_three_bytes_long_for_testing";
    assert_int_equal(strlen(tname), 63);
    char sql[512];
    snprintf(sql, sizeof(sql), "CREATE TABLE IF NOT EXISTS \"%s\" (id int PRIMARY KEY, v int, arr int[])", tname);
    exec_ok(db, sql);
    static const char *const arrays[] = {"arr"};
    PgCaptureTable t = {"public", tname, "Long", NULL, 0, NULL, 0, arrays, 1, g_mode};
    P2nErr err;
    p2n_err_clear(&err);
    if (pg_capture_install(db, "public", &t, 1, &err) < 0)
        fail_msg("install: %s", err.msg);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM pg_trigger WHERE tgrelid = '\"%s\"'::regclass", tname);
    assert_int_equal(count("%s", sql), g_mode == PG_CAPTURE_MODE_ROW ? PG_CAPTURE_NTRIGGERS : PG_CAPTURE_NTRIGGERS - 1);
    assert_int_equal(count("SELECT count(*) FROM pg_proc WHERE proname LIKE 'on\\_%%' AND length(proname) = 63"), 3);
    snprintf(sql, sizeof(sql), "INSERT INTO \"%s\" VALUES (1, 1, '{1}')", tname);
    exec_ok(db, sql);
    snprintf(sql, sizeof(sql), "UPDATE \"%s\" SET arr = '{2}'", tname);
    exec_ok(db, sql);
    expect_queue("Long|1|pending|upsert|{\"arr\": {\"added\": [2], \"removed\": [1]}}");
    PgCaptureEntry *e = NULL;
    size_t n = 0;
    assert_int_equal(pg_capture_list(db, "public", &t, 1, &e, &n, &err), 0);
    assert_int_equal(e[0].state, PG_CAPTURE_CAPTURED);
    free(e);
    assert_int_equal(pg_capture_uninstall(db, "public", &t, 1, &err), 0);
    assert_int_equal(count("SELECT count(*) FROM pg_proc WHERE proname LIKE 'on\\_%%' AND length(proname) = 63"), 0);
    snprintf(sql, sizeof(sql), "DROP TABLE \"%s\"", tname);
    exec_ok(db, sql);
}

static void test_install_errors(void **state)
{
    (void)state;
    P2nErr err;
    p2n_err_clear(&err);
    static const char *const bad[] = {"nope"};
    static const char *const notarr[] = {"title"};
    PgCaptureTable t0 = {"public", "bills", "Bill", NULL, 0, NULL, 0, NULL, 0, g_mode};
    assert_int_equal(pg_capture_install(db, "not_initialised", &t0, 1, &err), P2N_ESTATE);
    assert_string_equal(err.msg, "pg2neo is not initialised in schema \"not_initialised\": run pg2neo init first");
    PgCaptureTable t1 = {"public", "missing_table", "X", NULL, 0, NULL, 0, NULL, 0, g_mode};
    assert_int_equal(pg_capture_install(db, "public", &t1, 1, &err), P2N_ENOTFOUND);
    assert_string_equal(err.msg, "table \"public.missing_table\" does not exist");
    PgCaptureTable t2 = {"public", "bills", "Bill", bad, 1, NULL, 0, NULL, 0, g_mode};
    assert_int_equal(pg_capture_install(db, "public", &t2, 1, &err), P2N_EINVAL);
    assert_string_equal(err.msg, "key column \"nope\" of table \"public.bills\" does not exist");
    PgCaptureTable t3 = {"public", "bills", "Bill", NULL, 0, NULL, 0, notarr, 1, g_mode};
    assert_int_equal(pg_capture_install(db, "public", &t3, 1, &err), P2N_EINVAL);
    assert_string_equal(err.msg, "column \"title\" of table \"public.bills\" is not an array");
    /* a failed install changes nothing: the existing triggers still work */
    exec_ok(db, "INSERT INTO bills (id, title) VALUES (1, 'a')");
    expect_queue("Bill|1|pending|upsert|-");
    /* spec parsing */
    PgCaptureSpec s;
    assert_int_equal(pg_capture_spec_parse("civic.bills:Bill:id:co_sponsors,tags:title", &s, &err), 0);
    assert_string_equal(s.t.schema, "civic");
    assert_string_equal(s.t.table, "bills");
    assert_int_equal(s.t.n_keys, 1);
    assert_int_equal(s.t.n_arrays, 2);
    assert_string_equal(s.t.array_columns[1], "tags");
    assert_int_equal(s.t.n_watched, 1);
    pg_capture_spec_free(&s);
    assert_int_equal(pg_capture_spec_parse("pairs:Pair:a,b", &s, &err), 0);
    assert_string_equal(s.t.schema, "public");
    assert_int_equal(s.t.n_keys, 2);
    assert_int_equal(s.t.mode, PG_CAPTURE_MODE_ROW);
    pg_capture_spec_free(&s);
    assert_int_equal(pg_capture_spec_parse("pairs:Pair:a,b:::statement", &s, &err), 0);
    assert_int_equal(s.t.mode, PG_CAPTURE_MODE_STATEMENT);
    assert_int_equal(s.t.n_arrays, 0);
    pg_capture_spec_free(&s);
    assert_int_equal(pg_capture_spec_parse("pairs:Pair:a,b:::bulk", &s, &err), P2N_EINVAL);
    assert_int_equal(pg_capture_spec_parse("bills", &s, &err), P2N_EINVAL);
    assert_int_equal(pg_capture_spec_parse("bills:Bill:a,,b", &s, &err), P2N_EINVAL);
    assert_int_equal(pg_capture_spec_parse("a:b:c:d:e:f", &s, &err), P2N_EINVAL);
}

/* ---------- triggers list ---------- */

static const PgCaptureEntry *find_entry(const PgCaptureEntry *e, size_t n, const char *table)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(e[i].table, table) == 0)
            return &e[i];
    fail_msg("no entry for %s", table);
    return NULL;
}

static void test_triggers_list(void **state)
{
    (void)state;
    P2nErr err;
    p2n_err_clear(&err);
    exec_ok(db, "CREATE TABLE IF NOT EXISTS extra (id int PRIMARY KEY)");
    size_t nt;
    const PgCaptureTable *t = tables(&nt);
    PgCaptureTable mapped[6];
    memcpy(mapped, t, nt * sizeof(*t));
    mapped[nt] = (PgCaptureTable){"public", "extra", "Extra", NULL, 0, NULL, 0, NULL, 0, g_mode};
    /* users: mapped with another entity type than installed */
    mapped[2].entity_type = "Person";
    PgCaptureEntry *e = NULL;
    size_t n = 0;
    assert_int_equal(pg_capture_list(db, "public", mapped, nt + 1, &e, &n, &err), 0);
    assert_int_equal(find_entry(e, n, "bills")->state, PG_CAPTURE_CAPTURED);
    assert_int_equal(find_entry(e, n, "extra")->state, PG_CAPTURE_MISSING);
    assert_int_equal(find_entry(e, n, "users")->state, PG_CAPTURE_STALE);
    assert_string_equal(find_entry(e, n, "users")->detail, "installed with different entity type");
    free(e);
    /* a dropped trigger makes the set incomplete; an unmapped captured table is stale */
    exec_ok(db, "DROP TRIGGER pairs_sync_delete ON pairs");
    assert_int_equal(pg_capture_list(db, "public", mapped, 1, &e, &n, &err), 0);
    assert_int_equal(n, 4);
    assert_int_equal(find_entry(e, n, "bills")->state, PG_CAPTURE_CAPTURED);
    assert_int_equal(find_entry(e, n, "pairs")->state, PG_CAPTURE_STALE);
    assert_string_equal(find_entry(e, n, "pairs")->detail, "incomplete trigger set (4 of 5)");
    assert_string_equal(find_entry(e, n, "users")->detail, "table is not mapped");
    assert_int_equal(find_entry(e, n, "docs")->state, PG_CAPTURE_STALE);
    free(e);
    /* without a mapping: what is installed */
    assert_int_equal(pg_capture_list(db, "public", NULL, 0, &e, &n, &err), 0);
    assert_int_equal(n, 4);
    assert_int_equal(find_entry(e, n, "users")->state, PG_CAPTURE_CAPTURED);
    assert_int_equal(find_entry(e, n, "pairs")->state, PG_CAPTURE_STALE);
    free(e);
    /* an old generator is stale; drop removes everything of a table */
    exec_ok(db, "UPDATE graph_sync_captured_tables SET generator = 0 WHERE table_name = 'docs'");
    assert_int_equal(pg_capture_list(db, "public", NULL, 0, &e, &n, &err), 0);
    assert_int_equal(find_entry(e, n, "docs")->state, PG_CAPTURE_STALE);
    free(e);
    PgCaptureTable docs = t[3];
    assert_int_equal(pg_capture_uninstall(db, "public", &docs, 1, &err), 0);
    assert_int_equal(count("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'docs'::regclass"), 0);
    assert_int_equal(count("SELECT count(*) FROM pg_proc WHERE proname LIKE '%%docs'"), 0);
    install(); /* back to the full set for the other tests */
    assert_int_equal(pg_capture_list(db, "public", t, nt, &e, &n, &err), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(e[i].state, PG_CAPTURE_CAPTURED);
    free(e);
}

/* ---------- the seed's monitoring and troubleshooting queries, verbatim ---------- */

static PGresult *seed_query(const char *sql)
{
    PGresult *r = PQexec(db, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s\n-> %s", sql, PQresultErrorMessage(r));
    return r;
}

static void test_seed_pending_by_type(void **state)
{
    (void)state;
    exec_ok(db, "INSERT INTO bills (id, title) SELECT g, 't' FROM generate_series(1, 3) g");
    exec_ok(db, "INSERT INTO users (id) VALUES (1)");
    exec_ok(db, "INSERT INTO pairs VALUES (1, 1, 'x'), (1, 2, 'y')");
    exec_ok(db, "DELETE FROM pairs WHERE b = 2");
    fold();
    PGresult *r = seed_query("-- Pending entities waiting for sync\n"
                             "SELECT entity_type, COUNT(*) as count\n"
                             "FROM graph_sync_status\n"
                             "WHERE sync_status = 'pending'\n"
                             "GROUP BY entity_type\n"
                             "ORDER BY count DESC;");
    assert_int_equal(PQntuples(r), 3);
    assert_string_equal(PQfname(r, 1), "count");
    assert_string_equal(PQgetvalue(r, 0, 0), "Bill");
    assert_string_equal(PQgetvalue(r, 0, 1), "3");
    assert_string_equal(PQgetvalue(r, 1, 1), "1");
    assert_string_equal(PQgetvalue(r, 2, 1), "1");
    PQclear(r);
}

static void test_seed_conflicts(void **state)
{
    (void)state;
    exec_ok(db, "INSERT INTO bills (id, title) VALUES (1, 'a'), (2, 'b')");
    fold();
    exec_ok(db, "UPDATE graph_sync_status SET has_conflicts = true,"
                " conflict_details = '{\"title\": {\"postgres\": \"b\", \"neo4j\": \"B\"}}' WHERE entity_id = '2'");
    PGresult *r = seed_query("-- Entities with conflicts\n"
                             "SELECT entity_type, entity_id, conflict_details\n"
                             "FROM graph_sync_status\n"
                             "WHERE has_conflicts = true;");
    assert_int_equal(PQntuples(r), 1);
    assert_string_equal(PQgetvalue(r, 0, 0), "Bill");
    assert_string_equal(PQgetvalue(r, 0, 1), "2");
    assert_string_equal(PQgetvalue(r, 0, 2), "{\"title\": {\"neo4j\": \"B\", \"postgres\": \"b\"}}");
    PQclear(r);
}

static void record_failures(void)
{
    P2nErr err;
    p2n_err_clear(&err);
    exec_ok(db, "INSERT INTO bills (id, title) VALUES (1, 'a'), (2, 'b')");
    PgqClaim *c = NULL;
    size_t n = 0;
    assert_int_equal(pgq_claim(db, "public", 10, 60000, "w", true, &c, &n, &err), 0);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++) {
        PgqKey k = {c[i].entity_type, c[i].entity_id, c[i].version};
        assert_int_equal(pgq_mark_failed(db, "public", "w", &k, i ? "timeout" : "connection refused",
                                         "P2N_ETIMEDOUT", true, 3, 0, NULL, &err),
                         0);
    }
    pgq_claims_free(c, n);
    /* one old failure, outside the seed's one-hour window */
    exec_ok(db, "INSERT INTO graph_sync_failures (entity_type, entity_id, attempt_number, failure_message,"
                " retryable, created_at) VALUES ('Bill', '9', 1, 'old', true, now() - interval '2 hours')");
}

static void test_seed_recent_failures(void **state)
{
    (void)state;
    record_failures();
    PGresult *r = seed_query("-- Recent failures\n"
                             "SELECT entity_type, attempt_number, failure_message, created_at\n"
                             "FROM graph_sync_failures\n"
                             "WHERE created_at > NOW() - INTERVAL '1 hour'\n"
                             "ORDER BY created_at DESC\n"
                             "LIMIT 20;");
    assert_int_equal(PQntuples(r), 2);
    for (int i = 0; i < 2; i++) {
        assert_string_equal(PQgetvalue(r, i, 0), "Bill");
        assert_string_equal(PQgetvalue(r, i, 1), "1");
        assert_string_not_equal(PQgetvalue(r, i, 2), "old");
    }
    PQclear(r);
}

static void record_batches(void)
{
    P2nErr err;
    p2n_err_clear(&err);
    PgqBatch b1 = {"incremental", "completed", 10, 10, 0, 0, 0, 0.5, "w", 0};
    PgqBatch b2 = {"incremental", "completed", 4, 4, 0, 0, 0, 1.5, "w", 0};
    PgqBatch b3 = {"full", "partial", 100, 90, 10, 0, 0, 12.0, "w", 0};
    assert_int_equal(pgq_batch_record(db, "public", &b1, NULL, &err), 0);
    assert_int_equal(pgq_batch_record(db, "public", &b2, NULL, &err), 0);
    assert_int_equal(pgq_batch_record(db, "public", &b3, NULL, &err), 0);
    exec_ok(db, "INSERT INTO graph_sync_batches (batch_type, batch_status, duration_seconds, created_at)"
                " VALUES ('incremental', 'completed', 99, now() - interval '2 days')");
}

static void test_seed_batch_statistics(void **state)
{
    (void)state;
    record_batches();
    PGresult *r = seed_query("-- Batch statistics\n"
                             "SELECT batch_type, batch_status, AVG(duration_seconds) as avg_duration\n"
                             "FROM graph_sync_batches\n"
                             "WHERE created_at > NOW() - INTERVAL '24 hours'\n"
                             "GROUP BY batch_type, batch_status;");
    assert_int_equal(PQntuples(r), 2);
    int seen = 0;
    for (int i = 0; i < 2; i++) {
        if (strcmp(PQgetvalue(r, i, 0), "incremental") == 0) {
            assert_string_equal(PQgetvalue(r, i, 1), "completed");
            assert_string_equal(PQgetvalue(r, i, 2), "1");
            seen++;
        } else {
            assert_string_equal(PQgetvalue(r, i, 0), "full");
            assert_string_equal(PQgetvalue(r, i, 1), "partial");
            assert_string_equal(PQgetvalue(r, i, 2), "12");
            seen++;
        }
    }
    assert_int_equal(seen, 2);
    PQclear(r);
}

static void test_seed_recent_batches(void **state)
{
    (void)state;
    record_batches();
    PGresult *r = seed_query("-- Should see recent entries in graph_sync_batches\n"
                             "SELECT * FROM graph_sync_batches ORDER BY created_at DESC LIMIT 5;");
    assert_int_equal(PQntuples(r), 4);
    int col = PQfnumber(r, "duration_seconds");
    assert_true(col >= 0);
    assert_string_equal(PQgetvalue(r, 3, col), "99"); /* the two-day-old one comes last */
    PQclear(r);
}

static void test_seed_failure_log(void **state)
{
    (void)state;
    record_failures();
    PGresult *r = seed_query("-- Check failure log\n"
                             "SELECT * FROM graph_sync_failures ORDER BY created_at DESC LIMIT 10;");
    assert_int_equal(PQntuples(r), 3);
    int col = PQfnumber(r, "failure_message");
    assert_string_equal(PQgetvalue(r, 2, col), "old");
    assert_true(PQfnumber(r, "error_code") >= 0 && PQfnumber(r, "retryable") >= 0);
    PQclear(r);
}

static void test_seed_trigger_exists(void **state)
{
    (void)state;
    PGresult *r = seed_query("-- Verify trigger exists\n"
                             "SELECT * FROM information_schema.triggers \n"
                             "WHERE trigger_schema = 'public' AND trigger_name = 'users_sync_trigger';");
    assert_int_equal(PQntuples(r), 1);
    assert_string_equal(PQgetvalue(r, 0, PQfnumber(r, "event_manipulation")), "UPDATE");
    assert_string_equal(PQgetvalue(r, 0, PQfnumber(r, "event_object_table")), "users");
    assert_string_equal(PQgetvalue(r, 0, PQfnumber(r, "action_timing")), "AFTER");
    PQclear(r);
    /* the checklist's wider query lists every capture trigger of the schema */
    r = seed_query("SELECT * FROM information_schema.triggers WHERE trigger_schema='public'");
    int sync = 0;
    for (int i = 0; i < PQntuples(r); i++)
        if (strstr(PQgetvalue(r, i, PQfnumber(r, "trigger_name")), "_sync_"))
            sync++;
    /* insert, update (2), delete per table: 4 rows each (TRUNCATE triggers are not listed there) */
    assert_int_equal(sync, 4 * 4);
    PQclear(r);
}

static void test_seed_trigger_body(void **state)
{
    (void)state;
    /* Verbatim, the seed's query cannot run on any PostgreSQL: information_schema.routines has no
       column trigger_body. It fails with undefined_column; the working equivalent follows. */
    PGresult *r = PQexec(db, "-- Check trigger definition\n"
                             "SELECT trigger_body FROM information_schema.routines \n"
                             "WHERE routine_name = 'on_entity_change';");
    assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
    assert_string_equal(PQresultErrorField(r, PG_DIAG_SQLSTATE), "42703");
    PQclear(r);
    r = seed_query("SELECT routine_definition FROM information_schema.routines"
                   " WHERE routine_name = 'on_entity_change_users'");
    assert_int_equal(PQntuples(r), 1);
    assert_non_null(strstr(PQgetvalue(r, 0, 0), "graph_sync_log"));
    PQclear(r);
    r = seed_query("SELECT routine_name FROM information_schema.routines"
                   " WHERE routine_name IN ('on_entity_change_bills', 'on_array_field_change_bills',"
                   " 'on_entity_delete_bills') ORDER BY 1");
    assert_int_equal(PQntuples(r), 3);
    PQclear(r);
}

/* the same semantics with UPDATEs captured per statement */
static int statement_group_setup(void **state)
{
    (void)state;
    g_mode = PG_CAPTURE_MODE_STATEMENT;
    install();
    /* the update trigger is now one statement-level trigger; no <table>_sync_array */
    assert_int_equal(count("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'bills'::regclass AND NOT tgisinternal"),
                     PG_CAPTURE_NTRIGGERS - 1);
    assert_int_equal(count("SELECT count(*) FROM pg_trigger WHERE tgname = 'bills_sync_trigger'"
                           " AND tgtype & 1 = 0"), /* TRIGGER_TYPE_ROW bit clear */
                     1);
    PgCaptureEntry *e = NULL;
    size_t n = 0, nt = 0;
    P2nErr err;
    p2n_err_clear(&err);
    const PgCaptureTable *t = tables(&nt);
    assert_int_equal(pg_capture_list(db, "public", t, nt, &e, &n, &err), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(e[i].state, PG_CAPTURE_CAPTURED);
    free(e);
    /* asking for row mode shows the difference */
    g_mode = PG_CAPTURE_MODE_ROW;
    t = tables(&nt);
    assert_int_equal(pg_capture_list(db, "public", t, nt, &e, &n, &err), 0);
    assert_int_equal(e[0].state, PG_CAPTURE_STALE);
    assert_string_equal(e[0].detail, "installed with different capture mode");
    free(e);
    g_mode = PG_CAPTURE_MODE_STATEMENT;
    return 0;
}

int main(void)
{
    const struct CMUnitTest row_tests[] = {
        cmocka_unit_test_setup(test_init_idempotent, reset),
        cmocka_unit_test_setup(test_migration_rolls_back, reset),
        cmocka_unit_test_setup(test_insert, reset),
        cmocka_unit_test_setup(test_update, reset),
        cmocka_unit_test_setup(test_noop_update, reset),
        cmocka_unit_test_setup(test_array_add_remove, reset),
        cmocka_unit_test_setup(test_delete, reset),
        cmocka_unit_test_setup(test_pk_change, reset),
        cmocka_unit_test_setup(test_truncate, reset),
        cmocka_unit_test_setup(test_composite_key, reset),
        cmocka_unit_test_setup(test_one_row_per_entity, reset),
        cmocka_unit_test_setup(test_bulk_100k, reset),
        cmocka_unit_test_setup(test_update_during_in_progress, reset),
        cmocka_unit_test_setup(test_lease_expiry_and_release, reset),
        cmocka_unit_test_setup(test_failures_and_retry, reset),
        cmocka_unit_test_setup(test_batch_record, reset),
        cmocka_unit_test_setup(test_poll_wakeup, reset),
        cmocka_unit_test_setup(test_app_role_needs_no_sync_privileges, reset),
        cmocka_unit_test_setup(test_custom_schema_and_quoting, reset),
        cmocka_unit_test_setup(test_install_errors, reset),
        cmocka_unit_test_setup(test_long_names, reset),
        cmocka_unit_test_setup(test_triggers_list, reset),
        cmocka_unit_test_setup(test_seed_pending_by_type, reset),
        cmocka_unit_test_setup(test_seed_conflicts, reset),
        cmocka_unit_test_setup(test_seed_recent_failures, reset),
        cmocka_unit_test_setup(test_seed_batch_statistics, reset),
        cmocka_unit_test_setup(test_seed_recent_batches, reset),
        cmocka_unit_test_setup(test_seed_failure_log, reset),
        cmocka_unit_test_setup(test_seed_trigger_exists, reset),
        cmocka_unit_test_setup(test_seed_trigger_body, reset),
    };
    const struct CMUnitTest statement_tests[] = {
        cmocka_unit_test_setup(test_insert, reset),
        cmocka_unit_test_setup(test_update, reset),
        cmocka_unit_test_setup(test_noop_update, reset),
        cmocka_unit_test_setup(test_array_add_remove, reset),
        cmocka_unit_test_setup(test_delete, reset),
        cmocka_unit_test_setup(test_pk_change, reset),
        cmocka_unit_test_setup(test_truncate, reset),
        cmocka_unit_test_setup(test_composite_key, reset),
        cmocka_unit_test_setup(test_one_row_per_entity, reset),
        cmocka_unit_test_setup(test_bulk_100k, reset),
        cmocka_unit_test_setup(test_update_during_in_progress, reset),
        cmocka_unit_test_setup(test_app_role_needs_no_sync_privileges, reset),
        cmocka_unit_test_setup(test_custom_schema_and_quoting, reset),
        cmocka_unit_test_setup(test_long_names, reset),
    };
    int failed = cmocka_run_group_tests_name("capture, row mode", row_tests, group_setup, NULL);
    failed += cmocka_run_group_tests_name("capture, statement mode", statement_tests, statement_group_setup,
                                          group_teardown);
    return failed;
}
