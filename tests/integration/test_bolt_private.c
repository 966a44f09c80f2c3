/*
 * Bolt tests that need a Neo4j of their own: TLS with a self-signed certificate made here with
 * openssl (bolt+ssc, bolt+s with the certificate as trust store, host name checks), then the
 * server killed mid-query (transient errors, "outcome unknown" after COMMIT, no crash).
 * One private instance serves both (started with scripts/services on free ports under a temporary
 * P2N_RUN, TLS level OPTIONAL so plain Bolt works too), and is stopped in the group teardown.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
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
#include "ports.h"
#include "common/time.h"
#include "packstream/packstream.h"

static char g_dir[256];      /* temporary P2N_RUN */
static char g_tls[300];      /* g_dir/tls: private.key, public.crt */
static char g_cert[320];
static char g_password[256];
static uint16_t g_port;
static bool g_started;

static int services(const char *what)
{
    const char *src = getenv("P2N_SRC");
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "'%s/scripts/services' %s", src ? src : ".", what);
    return system(cmd);
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof(g_dir), "/tmp/p2n-bolt-XXXXXX");
    if (mkdtemp(g_dir) == NULL)
        return -1;
    snprintf(g_tls, sizeof(g_tls), "%s/tls", g_dir);
    snprintf(g_cert, sizeof(g_cert), "%s/public.crt", g_tls);
    char cmd[2048];
    /* a self-signed certificate for the name "localhost" only (no IP address in it) */
    snprintf(cmd, sizeof(cmd),
             "mkdir -p '%s' && openssl req -x509 -newkey rsa:2048 -nodes -keyout '%s/private.key' "
             "-out '%s' -days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost >/dev/null 2>&1",
             g_tls, g_tls, g_cert);
    if (system(cmd) != 0) {
        fprintf(stderr, "openssl could not make a certificate\n");
        return -1;
    }
    g_port = test_free_port();
    uint16_t pg_port = test_free_port();
    char port[16], pgport[16];
    snprintf(port, sizeof(port), "%u", g_port);
    snprintf(pgport, sizeof(pgport), "%u", pg_port);
    setenv("P2N_RUN", g_dir, 1);
    setenv("P2N_BOLT_PORT", port, 1);
    setenv("P2N_PG_PORT", pgport, 1);
    setenv("P2N_NEO4J_TLS_DIR", g_tls, 1);
    setenv("P2N_NEO4J_HEAP", "512m", 1);
    int64_t t0 = p2n_now_mono_ms();
    g_started = true; /* even a failed start may leave a process: teardown stops it */
    if (services("start neo4j") != 0) {
        fprintf(stderr, "could not start a private Neo4j\n");
        return -1;
    }
    fprintf(stderr, "private Neo4j with TLS on port %u started in %lld ms\n", g_port,
            (long long)(p2n_now_mono_ms() - t0));
    char pwfile[400];
    snprintf(pwfile, sizeof(pwfile), "%s/secrets/neo4j_password", g_dir);
    FILE *f = fopen(pwfile, "r");
    if (f == NULL || fgets(g_password, sizeof(g_password), f) == NULL) {
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    g_password[strcspn(g_password, "\r\n")] = '\0';
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (g_started)
        services("stop neo4j");
    if (g_dir[0] != '\0') {
        char cmd[400];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", g_dir);
    }
    return 0;
}

static void config(BoltConfig *cfg, char *uri, size_t size, const char *scheme, const char *host)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(uri, size, "%s://%s:%u", scheme, host, g_port);
    cfg->uri = uri;
    cfg->user = "neo4j";
    cfg->password = g_password;
    cfg->connect_timeout_ms = 5000;
}

static int64_t query_int(BoltConn *c, const char *q)
{
    P2nErr err;
    p2n_err_clear(&err);
    if (bolt_run(c, q, NULL, 0, NULL, &err) < 0)
        fail_msg("%s: %s", q, err.msg);
    const PsValue *rec;
    if (bolt_next(c, &rec, &err) != 1)
        fail_msg("%s: no row: %s", q, err.msg);
    int64_t v = rec->u.list.items[0].u.i;
    assert_int_equal(bolt_next(c, &rec, &err), 0);
    return v;
}

static void test_tls(void **state)
{
    (void)state;
    char uri[128];
    BoltConfig cfg;
    BoltConn *c = NULL;
    P2nErr err;
    p2n_err_clear(&err);

    /* bolt+ssc: encrypted, the self-signed certificate accepted */
    config(&cfg, uri, sizeof(uri), "bolt+ssc", "127.0.0.1");
    int rc = bolt_conn_open(&cfg, &c, &err);
    if (rc < 0)
        fail_msg("bolt+ssc: %s", err.msg);
    assert_int_equal(query_int(c, "RETURN 11"), 11);
    /* big messages both ways over TLS (partial reads and writes, many chunks) */
    size_t n = 3u * 1024 * 1024;
    char *s = malloc(n);
    assert_non_null(s);
    for (size_t i = 0; i < n; i++)
        s[i] = (char)('A' + i % 23);
    P2nBuf b;
    p2n_buf_init(&b);
    ps_pack_map_header(&b, 1);
    ps_pack_cstr(&b, "s");
    ps_pack_string(&b, s, n);
    assert_int_equal(bolt_run(c, "RETURN $s AS s, size($s) AS n", b.data, b.len, NULL, &err), 0);
    const PsValue *rec;
    assert_int_equal(bolt_next(c, &rec, &err), 1);
    assert_int_equal(rec->u.list.items[1].u.i, (int64_t)n);
    assert_int_equal(rec->u.list.items[0].u.str.len, n);
    assert_memory_equal(rec->u.list.items[0].u.str.data, s, n);
    assert_int_equal(bolt_next(c, &rec, &err), 0);
    assert_int_equal(bolt_run(c, "UNWIND range(1, 100000) AS x RETURN x", NULL, 0, NULL, &err), 0);
    int64_t sum = 0;
    while ((rc = bolt_next(c, &rec, &err)) == 1)
        sum += rec->u.list.items[0].u.i;
    assert_int_equal(rc, 0);
    assert_int_equal(sum, 5000050000LL);
    free(s);
    p2n_buf_free(&b);
    bolt_conn_close(c);

    /* bolt+s with the certificate as trust store and the name it was made for */
    config(&cfg, uri, sizeof(uri), "bolt+s", "localhost");
    cfg.tls_ca_file = g_cert;
    rc = bolt_conn_open(&cfg, &c, &err);
    if (rc < 0)
        fail_msg("bolt+s localhost: %s", err.msg);
    assert_int_equal(query_int(c, "RETURN 12"), 12);
    bolt_conn_close(c);

    /* neo4j+s: routing over TLS */
    config(&cfg, uri, sizeof(uri), "neo4j+s", "localhost");
    cfg.tls_ca_file = g_cert;
    BoltDriver *d = NULL;
    assert_int_equal(bolt_driver_new(&cfg, &d, &err), 0);
    rc = bolt_driver_connect(d, BOLT_ACCESS_WRITE, &c, &err);
    if (rc < 0)
        fail_msg("neo4j+s: %s", err.msg);
    assert_int_equal(query_int(c, "RETURN 13"), 13);
    bolt_conn_close(c);
    bolt_driver_free(d);

    /* bolt+s, same certificate, but the host name does not match (the certificate names localhost) */
    config(&cfg, uri, sizeof(uri), "bolt+s", "127.0.0.1");
    cfg.tls_ca_file = g_cert;
    rc = bolt_conn_open(&cfg, &c, &err);
    print_message("wrong name: %s\n", err.msg);
    assert_int_equal(rc, P2N_ETLS);
    assert_null(c);
    assert_non_null(strstr(err.msg, "verif"));

    /* bolt+s with the system's trust store: the self-signed certificate is refused */
    config(&cfg, uri, sizeof(uri), "bolt+s", "localhost");
    rc = bolt_conn_open(&cfg, &c, &err);
    print_message("untrusted: %s\n", err.msg);
    assert_int_equal(rc, P2N_ETLS);
    assert_non_null(strstr(err.msg, "self-signed") ? strstr(err.msg, "self-signed") : strstr(err.msg, "self signed"));

    /* a CA file that does not exist */
    cfg.tls_ca_file = "/nonexistent/ca.pem";
    assert_int_equal(bolt_conn_open(&cfg, &c, &err), P2N_ETLS);

    /* plain Bolt still works on this server (TLS level OPTIONAL) */
    config(&cfg, uri, sizeof(uri), "bolt", "127.0.0.1");
    assert_int_equal(bolt_conn_open(&cfg, &c, &err), 0);
    assert_int_equal(query_int(c, "RETURN 14"), 14);
    bolt_conn_close(c);

    /* and TLS towards a server without TLS fails clearly (the shared one, if known) */
    const char *shared = getenv("NEO4J_URI");
    if (shared != NULL && strncmp(shared, "bolt://", 7) == 0) {
        char u2[256];
        snprintf(u2, sizeof(u2), "bolt+ssc://%s", shared + 7);
        BoltConfig c2 = cfg;
        c2.uri = u2;
        rc = bolt_conn_open(&c2, &c, &err);
        print_message("TLS to a plain server: %s\n", err.msg);
        assert_true(rc == P2N_ETLS || rc == P2N_EPROTO);
    }
}

static void test_server_killed(void **state)
{
    (void)state;
    char uri[128];
    BoltConfig cfg;
    P2nErr err;
    p2n_err_clear(&err);
    config(&cfg, uri, sizeof(uri), "bolt", "127.0.0.1");
    cfg.read_timeout_ms = 20000;
    BoltConn *reader = NULL, *committer = NULL, *writer = NULL, *tls = NULL;
    assert_int_equal(bolt_conn_open(&cfg, &reader, &err), 0);
    assert_int_equal(bolt_conn_open(&cfg, &committer, &err), 0);
    assert_int_equal(bolt_conn_open(&cfg, &writer, &err), 0);
    /* and one over TLS: writing into a dead TLS connection must not raise SIGPIPE */
    char tls_uri[128];
    BoltConfig tls_cfg;
    config(&tls_cfg, tls_uri, sizeof(tls_uri), "bolt+ssc", "127.0.0.1");
    assert_int_equal(bolt_conn_open(&tls_cfg, &tls, &err), 0);
    assert_int_equal(bolt_begin(tls, NULL, &err), 0);
    assert_int_equal(bolt_exec(tls, "CREATE (:Killed {x: 4})", NULL, 0, NULL, NULL, &err), 0);

    /* a transaction with work done, not yet committed */
    assert_int_equal(bolt_begin(committer, NULL, &err), 0);
    assert_int_equal(bolt_exec(committer, "CREATE (:Killed {x: 1})", NULL, 0, NULL, NULL, &err), 0);
    assert_int_equal(bolt_begin(writer, NULL, &err), 0);
    assert_int_equal(bolt_exec(writer, "CREATE (:Killed {x: 2})", NULL, 0, NULL, NULL, &err), 0);

    /* a long read streaming */
    BoltTxConfig rd = {0};
    rd.mode = BOLT_ACCESS_READ;
    assert_int_equal(bolt_run(reader, "UNWIND range(1, 200000000) AS x RETURN x", NULL, 0, &rd, &err), 0);
    const PsValue *rec;
    for (int i = 0; i < 5000; i++)
        assert_int_equal(bolt_next(reader, &rec, &err), 1);

    /* kill -9 the server */
    char pidfile[400], line[32] = "";
    snprintf(pidfile, sizeof(pidfile), "%s/neo4j.pid", g_dir);
    FILE *f = fopen(pidfile, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof(line), f));
    fclose(f);
    pid_t pid = (pid_t)atoi(line);
    assert_true(pid > 1);
    assert_int_equal(kill(pid, SIGKILL), 0);
    for (int i = 0; i < 100 && kill(pid, 0) == 0; i++)
        usleep(50000);

    int rc;
    int64_t rows = 0;
    while ((rc = bolt_next(reader, &rec, &err)) == 1)
        rows++;
    print_message("reader after kill (%lld more rows): %s\n", (long long)rows, err.msg);
    assert_true(rc == P2N_ECONNLOST || rc == P2N_ETIMEDOUT);
    assert_int_equal(p2n_err_class(&err), P2N_ERR_TRANSIENT);
    assert_false(bolt_conn_usable(reader));
    assert_int_equal(bolt_run(reader, "RETURN 1", NULL, 0, NULL, &err), P2N_ECONNLOST);

    /* the write in an open transaction never reached COMMIT: safe to retry */
    rc = bolt_exec(writer, "CREATE (:Killed {x: 3})", NULL, 0, NULL, NULL, &err);
    print_message("writer after kill: %s\n", err.msg);
    assert_int_equal(rc, P2N_ECONNLOST);
    assert_int_equal(p2n_err_class(&err), P2N_ERR_TRANSIENT);

    /* COMMIT sent into a dead connection: the outcome cannot be known */
    rc = bolt_commit(committer, NULL, &err);
    print_message("commit after kill: %s\n", err.msg);
    assert_true(rc == P2N_EUNKNOWN_OUTCOME || rc == P2N_ECONNLOST);
    if (rc == P2N_EUNKNOWN_OUTCOME)
        assert_non_null(strstr(err.msg, "outcome is unknown"));
    assert_int_equal(p2n_err_class(&err), P2N_ERR_TRANSIENT);

    /* TLS: a big write into the dead connection (SIGPIPE is not ignored in this process) */
    signal(SIGPIPE, SIG_DFL);
    P2nBuf big;
    p2n_buf_init(&big);
    ps_pack_map_header(&big, 1);
    ps_pack_cstr(&big, "s");
    char *s = calloc(1, 4u << 20);
    assert_non_null(s);
    memset(s, 'z', (4u << 20) - 1);
    ps_pack_cstr(&big, s);
    free(s);
    for (int i = 0; i < 3 && bolt_conn_usable(tls); i++)
        rc = bolt_tx_queue(tls, "CREATE (:Killed {s: $s})", big.data, big.len, &err) == 0
                 ? bolt_commit(tls, NULL, &err) : -1;
    p2n_buf_free(&big);
    print_message("TLS after kill: %s\n", err.msg);
    assert_false(bolt_conn_usable(tls));
    assert_int_equal(p2n_err_class(&err), P2N_ERR_TRANSIENT);

    bolt_conn_close(reader);
    bolt_conn_close(writer);
    bolt_conn_close(committer);
    bolt_conn_close(tls);

    /* nothing listens any more: a new connection fails transiently */
    BoltConn *c = NULL;
    rc = bolt_conn_open(&cfg, &c, &err);
    assert_true(rc < 0);
    assert_int_equal(p2n_err_class(&err), P2N_ERR_TRANSIENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls),
        cmocka_unit_test(test_server_killed),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
