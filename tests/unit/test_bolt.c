/*
 * Unit tests of the Bolt client without a server: URI parsing, and the connection driven through a
 * fake transport that records what the client sends and replays scripted server bytes (exact
 * handshake/HELLO/LOGON/PULL/RESET bytes, version-specific HELLO, the HTTP reply, FAILURE then
 * IGNORED with the pipelined RESET, chunking of large messages, NOOPs, byte-at-a-time reads, and
 * connection loss before and after COMMIT).
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

#include "bolt/bolt.h"
#include "bolt/chunk.h"
#include "packstream/packstream.h"

/* ------------------------------------------------------------------ URIs */

static void test_uri_parse(void **state)
{
    (void)state;
    BoltUri u;
    P2nErr err;
    p2n_err_clear(&err);
    assert_int_equal(bolt_uri_parse("bolt://db.example.org", &u, &err), 0);
    assert_string_equal(u.host, "db.example.org");
    assert_int_equal(u.port, 7687);
    assert_false(u.routing);
    assert_int_equal(u.tls, BOLT_TLS_NONE);
    assert_int_equal(bolt_uri_parse("bolt+s://h:1234/", &u, &err), 0);
    assert_int_equal(u.tls, BOLT_TLS_VERIFY);
    assert_int_equal(u.port, 1234);
    assert_int_equal(bolt_uri_parse("BOLT+SSC://h", &u, &err), 0);
    assert_int_equal(u.tls, BOLT_TLS_SELF_SIGNED);
    assert_int_equal(bolt_uri_parse("neo4j+s://[::1]:7000?region=eu%20west&policy=a", &u, &err), 0);
    assert_true(u.routing);
    assert_int_equal(u.tls, BOLT_TLS_VERIFY);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 7000);
    assert_int_equal(u.n_context, 2);
    assert_string_equal(u.context_key[0], "region");
    assert_string_equal(u.context_value[0], "eu west");
    char buf[300];
    assert_string_equal(bolt_uri_address(u.host, u.port, buf, sizeof(buf)), "[::1]:7000");
    assert_int_equal(bolt_uri_parse("neo4j+ssc://h", &u, &err), 0);
    assert_int_equal(u.tls, BOLT_TLS_SELF_SIGNED);

    static const char *bad[] = {"", "h:7687", "http://h", "bolt://", "bolt://h:0", "bolt://h:65536",
                                "bolt://h:12x", "bolt://user:pw@h", "bolt://h/path", "bolt://h?x=1",
                                "neo4j://h?novalue", "neo4j://h?address=x:1", "bolt://::1", "bolt://[::1",
                                "bolt://h#frag", "neo4j://h?a=%zz"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        p2n_err_clear(&err);
        if (bolt_uri_parse(bad[i], &u, &err) != P2N_ECONFIG)
            fail_msg("accepted bad URI \"%s\"", bad[i]);
        assert_true(strlen(err.msg) > 0);
    }
    assert_int_equal(bolt_uri_parse("bolt://neo4j:hunter2@h", &u, &err), P2N_ECONFIG);
    assert_null(strstr(err.msg, "hunter2"));

    char host[64];
    uint16_t port;
    assert_int_equal(bolt_address_split("localhost:9999", host, sizeof(host), &port, &err), 0);
    assert_string_equal(host, "localhost");
    assert_int_equal(port, 9999);
    assert_int_equal(bolt_address_split("[fe80::1]", host, sizeof(host), &port, &err), 0);
    assert_string_equal(host, "fe80::1");
    assert_int_equal(port, 7687);
}

static void test_config_from_env(void **state)
{
    (void)state;
    BoltConfig cfg;
    BoltEnv env;
    P2nErr err;
    setenv("NEO4J_URI", "neo4j://x:1", 1);
    setenv("NEO4J_USER", "alice", 1);
    unsetenv("NEO4J_PASSWORD");
    char path[] = "/tmp/p2n-bolt-pw-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("s3cret-pw\nignored\n", f);
    fclose(f);
    setenv("NEO4J_PASSWORD_FILE", path, 1);
    assert_int_equal(bolt_config_from_env(&cfg, &env, &err), 0);
    assert_string_equal(cfg.uri, "neo4j://x:1");
    assert_string_equal(cfg.user, "alice");
    assert_string_equal(cfg.password, "s3cret-pw");
    setenv("NEO4J_PASSWORD", "from-env", 1);
    assert_int_equal(bolt_config_from_env(&cfg, &env, &err), 0);
    assert_string_equal(cfg.password, "from-env");
    unsetenv("NEO4J_PASSWORD");
    setenv("NEO4J_PASSWORD_FILE", "/nonexistent/pw", 1);
    assert_int_equal(bolt_config_from_env(&cfg, &env, &err), P2N_ECONFIG);
    unlink(path);
    unsetenv("NEO4J_PASSWORD_FILE");
    unsetenv("NEO4J_URI");
    unsetenv("NEO4J_USER");
}

/* ------------------------------------------------------------ fake transport */

typedef struct Fake {
    P2nBuf in;          /* scripted server bytes */
    size_t in_pos;
    size_t max_read;    /* bytes per read (0 = all available) */
    P2nBuf sent;        /* everything the client wrote */
    unsigned writes;
    size_t write_limit; /* SIZE_MAX: unlimited; else fail writes after this many bytes in total */
    bool closed;
    unsigned nopen;
    char opened[8][300]; /* host:port of each open */
} Fake;

static int fake_open(void *ctx, const char *host, uint16_t port, const BoltTlsOptions *tls, int timeout_ms,
                     BoltTransport **out, P2nErr *err)
{
    (void)tls, (void)timeout_ms, (void)err;
    Fake *f = ctx;
    if (f->nopen < 8)
        bolt_uri_address(host, port, f->opened[f->nopen], sizeof(f->opened[0]));
    f->nopen++;
    *out = (BoltTransport *)ctx;
    return 0;
}

static int fake_read(BoltTransport *t, void *buf, size_t len, int timeout_ms, size_t *got, P2nErr *err)
{
    (void)timeout_ms;
    Fake *f = (Fake *)(void *)t;
    size_t avail = f->in.len - f->in_pos;
    if (avail == 0)
        return p2n_err_set(err, P2N_ECONNLOST, "server closed the connection");
    size_t n = avail < len ? avail : len;
    if (f->max_read && n > f->max_read)
        n = f->max_read;
    memcpy(buf, f->in.data + f->in_pos, n);
    f->in_pos += n;
    *got = n;
    return 0;
}

static int fake_write(BoltTransport *t, const void *buf, size_t len, int timeout_ms, size_t *written, P2nErr *err)
{
    (void)timeout_ms;
    Fake *f = (Fake *)(void *)t;
    size_t n = len;
    if (f->write_limit != SIZE_MAX && f->sent.len + len > f->write_limit)
        n = f->write_limit > f->sent.len ? f->write_limit - f->sent.len : 0;
    p2n_buf_append(&f->sent, buf, n);
    f->writes++;
    *written = n;
    if (n < len)
        return p2n_err_set(err, P2N_ECONNLOST, "broken pipe");
    return 0;
}

static void fake_close(BoltTransport *t)
{
    Fake *f = (Fake *)(void *)t;
    f->closed = true;
}

static const BoltTransportOps fake_ops = {fake_open, fake_read, fake_write, fake_close};

static void fake_init(Fake *f)
{
    memset(f, 0, sizeof(*f));
    p2n_buf_init(&f->in);
    p2n_buf_init(&f->sent);
    f->write_limit = SIZE_MAX;
}

static void fake_free(Fake *f)
{
    p2n_buf_free(&f->in);
    p2n_buf_free(&f->sent);
}

static void fake_version(Fake *f, uint8_t major, uint8_t minor)
{
    uint8_t v[4] = {0, 0, minor, major};
    p2n_buf_append(&f->in, v, 4);
}

/* Appends one server message: sig with a map built by the caller in m (or {} when m NULL). */
static void fake_msg(Fake *f, uint8_t sig, const P2nBuf *m)
{
    P2nBuf msg;
    p2n_buf_init(&msg);
    ps_pack_struct_header(&msg, sig, 1);
    if (m != NULL)
        p2n_buf_append(&msg, m->data, m->len);
    else
        ps_pack_map_header(&msg, 0);
    bolt_chunk_message(&f->in, msg.data, msg.len);
    p2n_buf_free(&msg);
}

static void fake_success(Fake *f)
{
    fake_msg(f, 0x70, NULL);
}

static void fake_success_kv(Fake *f, const char *k, const char *v)
{
    P2nBuf m;
    p2n_buf_init(&m);
    ps_pack_map_header(&m, 1);
    ps_pack_cstr(&m, k);
    ps_pack_cstr(&m, v);
    fake_msg(f, 0x70, &m);
    p2n_buf_free(&m);
}

static void fake_hello_ok(Fake *f)
{
    P2nBuf m;
    p2n_buf_init(&m);
    ps_pack_map_header(&m, 2);
    ps_pack_cstr(&m, "server");
    ps_pack_cstr(&m, "Neo4j/5.26.0");
    ps_pack_cstr(&m, "connection_id");
    ps_pack_cstr(&m, "bolt-7");
    fake_msg(f, 0x70, &m);
    p2n_buf_free(&m);
}

static void fake_fields(Fake *f, const char *name)
{
    P2nBuf m;
    p2n_buf_init(&m);
    ps_pack_map_header(&m, 1);
    ps_pack_cstr(&m, "fields");
    ps_pack_list_header(&m, 1);
    ps_pack_cstr(&m, name);
    fake_msg(f, 0x70, &m);
    p2n_buf_free(&m);
}

static void fake_record_int(Fake *f, int64_t v)
{
    P2nBuf msg;
    p2n_buf_init(&msg);
    ps_pack_struct_header(&msg, 0x71, 1);
    ps_pack_list_header(&msg, 1);
    ps_pack_int(&msg, v);
    bolt_chunk_message(&f->in, msg.data, msg.len);
    p2n_buf_free(&msg);
}

static void fake_pull_done(Fake *f, bool has_more, int64_t nodes_created)
{
    P2nBuf m;
    p2n_buf_init(&m);
    if (has_more) {
        ps_pack_map_header(&m, 1);
        ps_pack_cstr(&m, "has_more");
        ps_pack_bool(&m, true);
    } else {
        ps_pack_map_header(&m, 3);
        ps_pack_cstr(&m, "type");
        ps_pack_cstr(&m, "w");
        ps_pack_cstr(&m, "bookmark");
        ps_pack_cstr(&m, "FB:bm1");
        ps_pack_cstr(&m, "stats");
        ps_pack_map_header(&m, 2);
        ps_pack_cstr(&m, "nodes-created");
        ps_pack_int(&m, nodes_created);
        ps_pack_cstr(&m, "contains-updates");
        ps_pack_bool(&m, true);
    }
    fake_msg(f, 0x70, &m);
    p2n_buf_free(&m);
}

static void fake_failure(Fake *f, const char *code, const char *message)
{
    P2nBuf m;
    p2n_buf_init(&m);
    ps_pack_map_header(&m, 2);
    ps_pack_cstr(&m, "code");
    ps_pack_cstr(&m, code);
    ps_pack_cstr(&m, "message");
    ps_pack_cstr(&m, message);
    fake_msg(f, 0x7F, &m);
    p2n_buf_free(&m);
}

static void fake_ignored(Fake *f)
{
    uint8_t msg[] = {0xB0, 0x7E};
    bolt_chunk_message(&f->in, msg, sizeof(msg));
}

static BoltConfig fake_config(Fake *f)
{
    BoltConfig cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.uri = "bolt://fake:7687";
    cfg.user = "neo4j";
    cfg.password = "pw-123456";
    cfg.transport = &fake_ops;
    cfg.transport_ctx = f;
    return cfg;
}

/* Splits what the client sent (after the 20-byte handshake) into decoded messages. */
typedef struct Sent {
    PsArena arena;
    PsValue msgs[64];
    size_t n;
} Sent;

static void sent_decode(const Fake *f, Sent *s)
{
    ps_arena_init(&s->arena, 0);
    s->n = 0;
    BoltDechunker d;
    bolt_dechunker_init(&d, 0);
    P2nErr err;
    size_t pos = 20;
    while (pos < f->sent.len && s->n < 64) {
        size_t used = 0;
        int rc = bolt_dechunker_feed(&d, f->sent.data + pos, f->sent.len - pos, &used, &err);
        pos += used;
        assert_true(rc >= 0);
        if (rc == 1) {
            size_t len, u2;
            const uint8_t *m = bolt_dechunker_message(&d, &len);
            assert_int_equal(ps_decode(&s->arena, m, len, NULL, &s->msgs[s->n], &u2, &err), 0);
            assert_int_equal(u2, len);
            s->n++;
            bolt_dechunker_next(&d);
        }
    }
    bolt_dechunker_free(&d);
}

static const PsValue *field(const PsValue *msg, unsigned i)
{
    assert_int_equal(msg->type, PS_STRUCT);
    assert_true(i < msg->u.st.len);
    return &msg->u.st.fields[i];
}

static const char *map_str(const PsValue *map, const char *key)
{
    const PsValue *v = ps_map_get(map, key);
    return v != NULL && v->type == PS_STRING ? v->u.str.data : NULL;
}

static void test_handshake_hello_logon_bytes(void **state)
{
    (void)state;
    Fake f;
    fake_init(&f);
    fake_version(&f, 5, 4);
    fake_hello_ok(&f);
    fake_success(&f); /* LOGON */
    BoltConfig cfg = fake_config(&f);
    BoltConn *c = NULL;
    P2nErr err;
    p2n_err_clear(&err);
    assert_int_equal(bolt_conn_open(&cfg, &c, &err), 0);
    static const uint8_t hs[20] = {0x60, 0x60, 0xB0, 0x17, 0x00, 0x04, 0x04, 0x05, 0x00, 0x00,
                                   0x04, 0x04, 0, 0, 0, 0, 0, 0, 0, 0};
    assert_memory_equal(f.sent.data, hs, 20);
    assert_int_equal(f.writes, 2); /* the handshake, then HELLO + LOGON in one write */
    Sent s;
    sent_decode(&f, &s);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.msgs[0].u.st.tag, 0x01);
    const PsValue *extra = field(&s.msgs[0], 0);
    char ua[64];
    snprintf(ua, sizeof(ua), "pg2neo/%s", p2n_version());
    assert_string_equal(map_str(extra, "user_agent"), ua);
    const PsValue *agent = ps_map_get(extra, "bolt_agent");
    assert_non_null(agent);
    assert_string_equal(map_str(agent, "product"), ua);
    assert_null(ps_map_get(extra, "credentials")); /* 5.1+: credentials only in LOGON */
    assert_null(ps_map_get(extra, "routing"));
    assert_int_equal(s.msgs[1].u.st.tag, 0x6A);
    const PsValue *auth = field(&s.msgs[1], 0);
    assert_string_equal(map_str(auth, "scheme"), "basic");
    assert_string_equal(map_str(auth, "principal"), "neo4j");
    assert_string_equal(map_str(auth, "credentials"), "pw-123456");
    assert_string_equal(bolt_conn_server_agent(c), "Neo4j/5.26.0");
    assert_string_equal(bolt_conn_id(c), "bolt-7");
    ps_arena_free(&s.arena);

    /* GOODBYE on close: 00 02 B0 02 00 00 */
    size_t before = f.sent.len;
    bolt_conn_close(c);
    static const uint8_t goodbye[] = {0x00, 0x02, 0xB0, 0x02, 0x00, 0x00};
    assert_int_equal(f.sent.len - before, sizeof(goodbye));
    assert_memory_equal(f.sent.data + before, goodbye, sizeof(goodbye));
    assert_true(f.closed);
    fake_free(&f);
}

static void test_hello_old_versions(void **state)
{
    (void)state;
    static const uint8_t versions[][2] = {{5, 0}, {4, 4}, {5, 2}};
    for (size_t i = 0; i < 3; i++) {
        Fake f;
        fake_init(&f);
        fake_version(&f, versions[i][0], versions[i][1]);
        fake_hello_ok(&f);
        bool logon = versions[i][0] == 5 && versions[i][1] >= 1;
        if (logon)
            fake_success(&f);
        BoltConfig cfg = fake_config(&f);
        cfg.uri = "neo4j://fake:7687?region=x";
        BoltConn *c = NULL;
        P2nErr err;
        assert_int_equal(bolt_conn_open(&cfg, &c, &err), 0);
        int major, minor;
        bolt_conn_version(c, &major, &minor);
        assert_int_equal(major, versions[i][0]);
        assert_int_equal(minor, versions[i][1]);
        Sent s;
        sent_decode(&f, &s);
        assert_int_equal(s.n, logon ? 2 : 1);
        const PsValue *extra = field(&s.msgs[0], 0);
        if (!logon)
            assert_string_equal(map_str(extra, "credentials"), "pw-123456");
        else
            assert_null(ps_map_get(extra, "credentials"));
        assert_null(ps_map_get(extra, "bolt_agent")); /* 5.3+ only */
        const PsValue *routing = ps_map_get(extra, "routing");
        assert_non_null(routing);
        assert_string_equal(map_str(routing, "address"), "fake:7687");
        assert_string_equal(map_str(routing, "region"), "x");
        if (versions[i][0] == 4)
            assert_non_null(ps_map_get(extra, "patch_bolt"));
        ps_arena_free(&s.arena);
        bolt_conn_close(c);
        fake_free(&f);
    }
}

static void test_handshake_refusals(void **state)
{
    (void)state;
    struct {
        const char *reply;
        const char *expect;
    } cases[] = {
        {"HTTP", "HTTP port"},
        {"\0\0\0\0", "none of the Bolt versions"},
        {"\0\0\3\3", "unexpected Bolt handshake reply"},
        {"\0\0", "closed the connection during the Bolt handshake"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        Fake f;
        fake_init(&f);
        p2n_buf_append(&f.in, cases[i].reply, i == 3 ? 2 : 4);
        BoltConfig cfg = fake_config(&f);
        BoltConn *c = NULL;
        P2nErr err;
        p2n_err_clear(&err);
        assert_int_equal(bolt_conn_open(&cfg, &c, &err), P2N_EPROTO);
        assert_null(c);
        if (strstr(err.msg, cases[i].expect) == NULL)
            fail_msg("case %zu: %s", i, err.msg);
        assert_true(f.closed);
        fake_free(&f);
    }
    /* authentication failure on LOGON */
    Fake f;
    fake_init(&f);
    fake_version(&f, 5, 4);
    fake_hello_ok(&f);
    fake_failure(&f, "Neo.ClientError.Security.Unauthorized", "The client is unauthorized");
    BoltConfig cfg = fake_config(&f);
    BoltConn *c = NULL;
    P2nErr err;
    assert_int_equal(bolt_conn_open(&cfg, &c, &err), P2N_EAUTH);
    assert_null(strstr(err.msg, "pw-123456"));
    assert_string_equal(err.neo_code, "Neo.ClientError.Security.Unauthorized");
    assert_int_equal(p2n_err_class(&err), P2N_ERR_FATAL);
    assert_null(strstr(err.msg, "no password"));
    fake_free(&f);

    /* no password at all: the message says where one comes from */
    fake_init(&f);
    fake_version(&f, 5, 4);
    fake_hello_ok(&f);
    fake_failure(&f, "Neo.ClientError.Security.Unauthorized", "The client is unauthorized");
    cfg = fake_config(&f);
    cfg.password = NULL;
    assert_int_equal(bolt_conn_open(&cfg, &c, &err), P2N_EAUTH);
    assert_non_null(strstr(err.msg, "NEO4J_PASSWORD"));
    fake_free(&f);
}

static BoltConn *open_fake(Fake *f, BoltConfig *cfg)
{
    fake_version(f, 5, 4);
    fake_hello_ok(f);
    fake_success(f);
    BoltConn *c = NULL;
    P2nErr err;
    if (bolt_conn_open(cfg, &c, &err) < 0)
        fail_msg("%s", err.msg);
    return c;
}

static void test_run_pull_failure_reset(void **state)
{
    (void)state;
    Fake f;
    fake_init(&f);
    BoltConfig cfg = fake_config(&f);
    cfg.fetch_size = 2;
    /* script everything the server will say, in order */
    fake_version(&f, 5, 4);
    fake_hello_ok(&f);
    fake_success(&f);
    /* query 1: 3 records over two PULLs, with a NOOP chunk in between */
    fake_fields(&f, "x");
    fake_record_int(&f, 1);
    p2n_buf_append(&f.in, "\0\0", 2); /* NOOP */
    fake_record_int(&f, 2);
    fake_pull_done(&f, true, 0);
    fake_record_int(&f, 3);
    fake_pull_done(&f, false, 0);
    /* query 2: RUN fails, PULL ignored */
    fake_failure(&f, "Neo.ClientError.Statement.SyntaxError", "bad");
    fake_ignored(&f);
    /* query 3: RESET ok, RUN ok, PULL all */
    fake_success(&f);
    fake_fields(&f, "y");
    fake_record_int(&f, 9);
    fake_pull_done(&f, false, 4);
    f.max_read = 1; /* byte at a time */
    BoltConn *c = NULL;
    P2nErr err;
    assert_int_equal(bolt_conn_open(&cfg, &c, &err), 0);

    size_t mark = f.sent.len;
    unsigned w0 = f.writes;
    assert_int_equal(bolt_run(c, "RETURN x", NULL, 0, NULL, &err), 0);
    assert_int_equal(f.writes - w0, 1); /* RUN + PULL in one write */
    /* the PULL n=2 bytes: 00 06 B1 3F A1 81 6E 02 00 00 end the write */
    static const uint8_t pull2[] = {0x00, 0x06, 0xB1, 0x3F, 0xA1, 0x81, 0x6E, 0x02, 0x00, 0x00};
    assert_memory_equal(f.sent.data + f.sent.len - sizeof(pull2), pull2, sizeof(pull2));
    (void)mark;
    size_t n;
    assert_string_equal(bolt_fields(c, &n)[0], "x");
    const PsValue *rec;
    for (int64_t i = 1; i <= 3; i++) {
        assert_int_equal(bolt_next(c, &rec, &err), 1);
        assert_int_equal(rec->u.list.items[0].u.i, i);
    }
    assert_int_equal(bolt_next(c, &rec, &err), 0);
    assert_string_equal(bolt_summary(c)->bookmark, "FB:bm1");
    assert_int_equal(bolt_summary(c)->records, 3);

    assert_int_equal(bolt_run(c, "RETURN +", NULL, 0, NULL, &err), P2N_ENEO4J);
    assert_string_equal(err.neo_code, "Neo.ClientError.Statement.SyntaxError");
    assert_true(bolt_conn_usable(c));

    w0 = f.writes;
    size_t before = f.sent.len;
    BoltSummary sum;
    assert_int_equal(bolt_exec(c, "CREATE ()", NULL, 0, NULL, &sum, &err), 0);
    assert_int_equal(f.writes - w0, 1); /* RESET + RUN + PULL in one write */
    static const uint8_t reset[] = {0x00, 0x02, 0xB0, 0x0F, 0x00, 0x00};
    assert_memory_equal(f.sent.data + before, reset, sizeof(reset));
    static const uint8_t pullall[] = {0x00, 0x06, 0xB1, 0x3F, 0xA1, 0x81, 0x6E, 0xFF, 0x00, 0x00};
    assert_memory_equal(f.sent.data + f.sent.len - sizeof(pullall), pullall, sizeof(pullall));
    assert_int_equal(sum.nodes_created, 4);
    assert_true(sum.contains_updates);
    assert_string_equal(sum.type, "w");
    assert_int_equal(f.in_pos, f.in.len); /* every scripted byte consumed */
    bolt_conn_close(c);
    fake_free(&f);
}

static void test_large_message_chunks(void **state)
{
    (void)state;
    Fake f;
    fake_init(&f);
    BoltConfig cfg = fake_config(&f);
    BoltConn *c = open_fake(&f, &cfg);
    size_t n = 200000;
    char *big = malloc(n);
    assert_non_null(big);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)('a' + i % 26);
    P2nBuf p;
    p2n_buf_init(&p);
    ps_pack_map_header(&p, 1);
    ps_pack_cstr(&p, "s");
    ps_pack_string(&p, big, n);
    size_t before = f.sent.len;
    P2nErr err;
    assert_int_equal(bolt_begin(c, NULL, &err), 0);
    assert_int_equal(f.sent.len, before); /* BEGIN waits for company */
    assert_int_equal(bolt_tx_queue(c, "CREATE (:X {s: $s})", p.data, p.len, &err), 0);
    fake_success(&f);         /* BEGIN */
    fake_success(&f);         /* RUN */
    fake_pull_done(&f, false, 1);
    fake_success_kv(&f, "bookmark", "FB:bm2"); /* COMMIT */
    unsigned w0 = f.writes;
    BoltSummary sum;
    assert_int_equal(bolt_commit(c, &sum, &err), 0);
    assert_int_equal(f.writes - w0, 1);
    assert_int_equal(sum.nodes_created, 1);
    assert_string_equal(sum.bookmark, "FB:bm2");
    /* the RUN went out as chunks of at most 65535 bytes that reassemble to the right message */
    const uint8_t *q = f.sent.data + before;
    size_t left = f.sent.len - before;
    BoltDechunker d;
    bolt_dechunker_init(&d, 0);
    int msgs = 0;
    bool saw_full_chunk = false;
    size_t pos = 0;
    while (pos + 2 <= left) { /* walk the chunk headers */
        size_t sz = ((size_t)q[pos] << 8) | q[pos + 1];
        if (sz == 65535)
            saw_full_chunk = true;
        pos += 2 + sz;
    }
    assert_int_equal(pos, left);
    assert_true(saw_full_chunk);
    pos = 0;
    while (pos < left) {
        size_t used;
        int rc = bolt_dechunker_feed(&d, q + pos, left - pos, &used, &err);
        pos += used;
        if (rc == 1) {
            size_t len;
            const uint8_t *m = bolt_dechunker_message(&d, &len);
            if (msgs == 1) { /* RUN: B3 10, query, then our parameter bytes verbatim */
                assert_int_equal(m[0], 0xB3);
                assert_int_equal(m[1], 0x10);
                assert_true(len > p.len);
                assert_non_null(memmem(m, len, p.data, p.len));
            }
            msgs++;
            bolt_dechunker_next(&d);
        }
    }
    assert_int_equal(msgs, 4); /* BEGIN, RUN, PULL, COMMIT */
    bolt_dechunker_free(&d);
    free(big);
    p2n_buf_free(&p);
    bolt_conn_close(c);
    fake_free(&f);
}

static void test_connection_lost_before_and_after_commit(void **state)
{
    (void)state;
    /* lost while reading replies to a transaction's RUN: nothing committed, plain loss */
    Fake f;
    fake_init(&f);
    BoltConfig cfg = fake_config(&f);
    BoltConn *c = open_fake(&f, &cfg);
    P2nErr err;
    assert_int_equal(bolt_begin(c, NULL, &err), 0);
    fake_success(&f); /* BEGIN, then silence */
    assert_int_equal(bolt_exec(c, "CREATE ()", NULL, 0, NULL, NULL, &err), P2N_ECONNLOST);
    assert_int_equal(p2n_err_class(&err), P2N_ERR_TRANSIENT);
    assert_false(bolt_conn_usable(c));
    assert_int_equal(bolt_exec(c, "RETURN 1", NULL, 0, NULL, NULL, &err), P2N_ECONNLOST);
    bolt_conn_close(c);
    fake_free(&f);

    /* lost after COMMIT was written: outcome unknown */
    fake_init(&f);
    cfg = fake_config(&f);
    c = open_fake(&f, &cfg);
    assert_int_equal(bolt_begin(c, NULL, &err), 0);
    assert_int_equal(bolt_tx_queue(c, "CREATE ()", NULL, 0, &err), 0);
    fake_success(&f);
    fake_success(&f);
    fake_pull_done(&f, false, 1);
    assert_int_equal(bolt_commit(c, NULL, &err), P2N_EUNKNOWN_OUTCOME);
    assert_non_null(strstr(err.msg, "outcome is unknown"));
    assert_int_equal(p2n_err_class(&err), P2N_ERR_TRANSIENT);
    bolt_conn_close(c);
    fake_free(&f);

    /* the write breaks before the COMMIT bytes went out: a plain loss */
    fake_init(&f);
    cfg = fake_config(&f);
    c = open_fake(&f, &cfg);
    f.write_limit = f.sent.len + 8; /* a few bytes of BEGIN only */
    assert_int_equal(bolt_begin(c, NULL, &err), 0);
    assert_int_equal(bolt_tx_queue(c, "CREATE ()", NULL, 0, &err), 0);
    assert_int_equal(bolt_commit(c, NULL, &err), P2N_ECONNLOST);
    bolt_conn_close(c);
    fake_free(&f);

    /* an auto-commit write lost after its RUN went out: outcome unknown too */
    fake_init(&f);
    cfg = fake_config(&f);
    c = open_fake(&f, &cfg);
    fake_fields(&f, "x");
    assert_int_equal(bolt_exec(c, "CREATE ()", NULL, 0, NULL, NULL, &err), P2N_EUNKNOWN_OUTCOME);
    bolt_conn_close(c);
    fake_free(&f);
}

static void test_garbage_from_server(void **state)
{
    (void)state;
    /* a RECORD where none may come, and a reply that is not a structure */
    for (int k = 0; k < 2; k++) {
        Fake f;
        fake_init(&f);
        BoltConfig cfg = fake_config(&f);
        BoltConn *c = open_fake(&f, &cfg);
        if (k == 0) {
            fake_record_int(&f, 1);
        } else {
            uint8_t junk[] = {0x00, 0x01, 0x01, 0x00, 0x00};
            p2n_buf_append(&f.in, junk, sizeof(junk));
        }
        P2nErr err;
        int rc = bolt_begin(c, NULL, &err);
        assert_int_equal(rc, 0);
        rc = bolt_commit(c, NULL, &err);
        assert_int_equal(rc, P2N_EPROTO);
        assert_false(bolt_conn_usable(c));
        bolt_conn_close(c);
        fake_free(&f);
    }
}

static void fake_route(Fake *f, int64_t ttl, const char *writer, const char *reader)
{
    P2nBuf m;
    p2n_buf_init(&m);
    ps_pack_map_header(&m, 1);
    ps_pack_cstr(&m, "rt");
    ps_pack_map_header(&m, 3);
    ps_pack_cstr(&m, "ttl");
    ps_pack_int(&m, ttl);
    ps_pack_cstr(&m, "db");
    ps_pack_cstr(&m, "neo4j");
    ps_pack_cstr(&m, "servers");
    ps_pack_list_header(&m, 3);
    const char *roles[3] = {"WRITE", "READ", "ROUTE"};
    const char *addrs[3] = {writer, reader, "router:7687"};
    for (int i = 0; i < 3; i++) {
        ps_pack_map_header(&m, 2);
        ps_pack_cstr(&m, "addresses");
        ps_pack_list_header(&m, 1);
        ps_pack_cstr(&m, addrs[i]);
        ps_pack_cstr(&m, "role");
        ps_pack_cstr(&m, roles[i]);
    }
    fake_msg(f, 0x70, &m);
    p2n_buf_free(&m);
}

static void fake_login(Fake *f)
{
    fake_version(f, 5, 4);
    fake_hello_ok(f);
    fake_success(f);
}

/* neo4j://: ROUTE on the seed router, then the WRITE/READ server; ttl honoured; forget_writer */
static void test_routing_table(void **state)
{
    (void)state;
    Fake f;
    fake_init(&f);
    BoltConfig cfg = fake_config(&f);
    cfg.uri = "neo4j://seed:7687";
    /* 1st connect: seed answers ROUTE (ttl 300), then the writer */
    fake_login(&f);
    fake_route(&f, 300, "w1:7001", "r1:7002");
    fake_login(&f);
    /* 2nd connect (read, within ttl): straight to the reader */
    fake_login(&f);
    /* after forget_writer: the known router is asked (ttl 0 this time), then the new writer */
    fake_login(&f);
    fake_route(&f, 0, "w2:7003", "r1:7002");
    fake_login(&f);
    /* expired (ttl 0): refreshed again from the router */
    fake_login(&f);
    fake_route(&f, 300, "w3:7004", "r1:7002");
    fake_login(&f);
    f.max_read = 1; /* one byte per read: no connection reads into the next one's bytes */

    BoltDriver *d = NULL;
    P2nErr err;
    p2n_err_clear(&err);
    assert_int_equal(bolt_driver_new(&cfg, &d, &err), 0);
    BoltConn *c = NULL;
    if (bolt_driver_connect(d, BOLT_ACCESS_WRITE, &c, &err) < 0)
        fail_msg("%s", err.msg);
    assert_string_equal(bolt_conn_address(c), "w1:7001");
    const BoltRoutingTable *rt = bolt_driver_routing_table(d);
    assert_non_null(rt);
    assert_int_equal(rt->ttl_s, 300);
    assert_string_equal(rt->readers[0], "r1:7002");
    assert_string_equal(rt->routers[0], "router:7687");
    bolt_conn_close(c);
    assert_int_equal(bolt_driver_connect(d, BOLT_ACCESS_READ, &c, &err), 0);
    assert_string_equal(bolt_conn_address(c), "r1:7002");
    bolt_conn_close(c);
    bolt_driver_forget_writer(d, "w1:7001");
    assert_null(bolt_driver_routing_table(d));
    assert_int_equal(bolt_driver_connect(d, BOLT_ACCESS_WRITE, &c, &err), 0);
    assert_string_equal(bolt_conn_address(c), "w2:7003");
    bolt_conn_close(c);
    assert_int_equal(bolt_driver_connect(d, BOLT_ACCESS_WRITE, &c, &err), 0);
    assert_string_equal(bolt_conn_address(c), "w3:7004");
    bolt_conn_close(c);
    assert_int_equal(f.nopen, 7);
    static const char *expect[7] = {"seed:7687", "w1:7001", "r1:7002", "router:7687", "w2:7003",
                                    "router:7687", "w3:7004"};
    for (int i = 0; i < 7; i++)
        assert_string_equal(f.opened[i], expect[i]);
    assert_int_equal(f.in_pos, f.in.len);
    bolt_driver_free(d);
    fake_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uri_parse),
        cmocka_unit_test(test_config_from_env),
        cmocka_unit_test(test_handshake_hello_logon_bytes),
        cmocka_unit_test(test_hello_old_versions),
        cmocka_unit_test(test_handshake_refusals),
        cmocka_unit_test(test_run_pull_failure_reset),
        cmocka_unit_test(test_large_message_chunks),
        cmocka_unit_test(test_connection_lost_before_and_after_commit),
        cmocka_unit_test(test_garbage_from_server),
        cmocka_unit_test(test_routing_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
