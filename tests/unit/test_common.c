/* Unit tests for src/common: buffers, backoff, error classification, log masking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/backoff.h"
#include "common/buf.h"
#include "common/error.h"
#include "common/log.h"
#include "common/retry.h"

static void test_buf_grow_and_bytes(void **state)
{
    (void)state;
    P2nBuf b;
    p2n_buf_init(&b);
    for (int i = 0; i < 10000; i++)
        p2n_buf_append_byte(&b, (uint8_t)i);
    assert_int_equal(b.len, 10000);
    assert_int_equal(b.data[9999], (uint8_t)9999);
    p2n_buf_reset(&b);
    p2n_buf_append_be16(&b, 0x1234);
    p2n_buf_append_be32(&b, 0xDEADBEEF);
    p2n_buf_append_be64(&b, 0x0102030405060708ull);
    const uint8_t want[] = {0x12, 0x34, 0xDE, 0xAD, 0xBE, 0xEF, 1, 2, 3, 4, 5, 6, 7, 8};
    assert_int_equal(b.len, sizeof(want));
    assert_memory_equal(b.data, want, sizeof(want));
    p2n_buf_consume(&b, 6);
    assert_int_equal(b.len, 8);
    assert_int_equal(b.data[0], 1);
    p2n_buf_free(&b);
}

static void test_buf_max_fails_sticky(void **state)
{
    (void)state;
    P2nBuf b;
    p2n_buf_init(&b);
    b.max = 8;
    p2n_buf_append_str(&b, "12345678");
    assert_false(b.failed);
    p2n_buf_append_byte(&b, '9');
    assert_true(b.failed);
    p2n_buf_append_str(&b, "x");
    assert_int_equal(b.len, 8);
    assert_null(p2n_buf_steal(&b));
    p2n_buf_free(&b);
}

static void test_buf_printf(void **state)
{
    (void)state;
    P2nBuf b;
    p2n_buf_init(&b);
    p2n_buf_printf(&b, "%s=%d", "n", 42);
    p2n_buf_printf(&b, ";%05d", 7);
    char *s = p2n_buf_steal(&b);
    assert_string_equal(s, "n=42;00007");
    free(s);
}

static void test_backoff_ceiling_doubles_and_caps(void **state)
{
    (void)state;
    assert_int_equal(p2n_backoff_ceiling_ms(100, 5000, 0), 0);
    assert_int_equal(p2n_backoff_ceiling_ms(100, 5000, 1), 100);
    assert_int_equal(p2n_backoff_ceiling_ms(100, 5000, 2), 200);
    assert_int_equal(p2n_backoff_ceiling_ms(100, 5000, 4), 800);
    assert_int_equal(p2n_backoff_ceiling_ms(100, 5000, 7), 5000);
    assert_int_equal(p2n_backoff_ceiling_ms(100, 5000, 4000), 5000);
}

static void test_backoff_jitter_in_range(void **state)
{
    (void)state;
    P2nBackoff b = {.rng = 12345};
    p2n_backoff_init(&b, 100, 10000, 0.5);
    uint32_t lo = UINT32_MAX, hi = 0;
    for (int i = 0; i < 2000; i++) {
        uint32_t d = p2n_backoff_delay_ms(&b, 3); /* ceiling 400 */
        assert_true(d >= 200 && d <= 400);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    assert_true(hi - lo > 100); /* really jittered */
    P2nBackoff z = {.rng = 1};
    p2n_backoff_init(&z, 100, 10000, 0);
    assert_int_equal(p2n_backoff_delay_ms(&z, 3), 400);
}

static void test_error_classes(void **state)
{
    (void)state;
    assert_int_equal(p2n_neo_code_class("Neo.TransientError.Transaction.DeadlockDetected"), P2N_ERR_TRANSIENT);
    assert_int_equal(p2n_neo_code_class("Neo.TransientError.General.DatabaseUnavailable"), P2N_ERR_TRANSIENT);
    assert_int_equal(p2n_neo_code_class("Neo.ClientError.Cluster.NotALeader"), P2N_ERR_TRANSIENT);
    assert_int_equal(p2n_neo_code_class("Neo.ClientError.General.ForbiddenOnReadOnlyDatabase"), P2N_ERR_TRANSIENT);
    assert_int_equal(p2n_neo_code_class("Neo.ClientError.Schema.ConstraintValidationFailed"), P2N_ERR_PERMANENT);
    assert_int_equal(p2n_neo_code_class("Neo.ClientError.Statement.SyntaxError"), P2N_ERR_PERMANENT);
    assert_int_equal(p2n_neo_code_class("Neo.ClientError.Security.Unauthorized"), P2N_ERR_FATAL);
    assert_int_equal(p2n_neo_code_class("Neo.TransientError.Transaction.Terminated"), P2N_ERR_PERMANENT);
    assert_int_equal(p2n_neo_code_class("Neo.ClientError.Security.AuthorizationExpired"), P2N_ERR_TRANSIENT);
    /* a statement that failed on its data (a value too large to index) is the data's fault */
    assert_int_equal(p2n_neo_code_class("Neo.DatabaseError.Statement.ExecutionFailed"), P2N_ERR_PERMANENT);
    assert_int_equal(p2n_neo_code_class("Neo.DatabaseError.Schema.IndexCreationFailed"), P2N_ERR_PERMANENT);
    assert_int_equal(p2n_neo_code_class("Neo.DatabaseError.General.UnknownError"), P2N_ERR_TRANSIENT);
    P2nErr ce;
    p2n_err_set(&ce, P2N_ENEO4J, "deadlock");
    strcpy(ce.neo_code, "Neo.TransientError.Transaction.DeadlockDetected");
    assert_true(p2n_err_is_contention(&ce));
    strcpy(ce.neo_code, "Neo.TransientError.General.MemoryPoolOutOfMemoryError");
    assert_false(p2n_err_is_contention(&ce));
    strcpy(ce.neo_code, "Neo.DatabaseError.General.UnknownError");
    assert_false(p2n_err_is_contention(&ce));
    p2n_err_set(&ce, P2N_EPG, "serialization failure");
    strcpy(ce.sqlstate, "40001");
    assert_true(p2n_err_is_contention(&ce));
    p2n_err_set(&ce, P2N_ETIMEDOUT, "batch over its deadline");
    assert_false(p2n_err_is_contention(&ce));
    assert_int_equal(p2n_sqlstate_class("40001"), P2N_ERR_TRANSIENT);
    assert_int_equal(p2n_sqlstate_class("40P01"), P2N_ERR_TRANSIENT);
    assert_int_equal(p2n_sqlstate_class("08006"), P2N_ERR_TRANSIENT);
    assert_int_equal(p2n_sqlstate_class("57P01"), P2N_ERR_TRANSIENT);
    assert_int_equal(p2n_sqlstate_class("23505"), P2N_ERR_PERMANENT);
    assert_int_equal(p2n_sqlstate_class("28P01"), P2N_ERR_FATAL);

    P2nErr e;
    p2n_err_clear(&e);
    p2n_err_set(&e, P2N_ECONNLOST, "connection closed by %s", "server");
    assert_int_equal(p2n_err_class(&e), P2N_ERR_TRANSIENT);
    p2n_err_prefix(&e, "could not run batch %d", 7);
    assert_string_equal(e.msg, "could not run batch 7: connection closed by server");
    p2n_err_set(&e, P2N_EUNKNOWN_OUTCOME, "lost after COMMIT");
    assert_int_equal(p2n_err_class(&e), P2N_ERR_TRANSIENT);
    p2n_err_set(&e, P2N_EAUTH, "bad password");
    assert_int_equal(p2n_err_class(&e), P2N_ERR_FATAL);
    assert_string_equal(p2n_strerror(P2N_ETIMEDOUT), "timed out");
    assert_string_equal(p2n_strerror(-999), "unknown error");
}

/* Captures stderr around one log call. */
static char *capture_log(P2nLogFormat fmt, const char *msg, const char *fields)
{
    fflush(stderr);
    int saved = dup(2);
    FILE *tmp = tmpfile();
    dup2(fileno(tmp), 2);
    p2n_log_set_format(fmt);
    p2n_log(P2N_LOG_WARN, msg, "%s", fields);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    long n = ftell(tmp);
    char *out = calloc(1, (size_t)n + 1);
    rewind(tmp);
    size_t got = fread(out, 1, (size_t)n, tmp);
    out[got] = 0;
    fclose(tmp);
    p2n_log_set_format(P2N_LOG_LOGFMT);
    return out;
}

static void test_log_formats_and_masking(void **state)
{
    (void)state;
    p2n_log_add_secret("hunter2secret");
    char *line = capture_log(P2N_LOG_LOGFMT, "could not connect", "uri=bolt://x password=hunter2secret n=3");
    assert_non_null(strstr(line, "level=warn"));
    assert_non_null(strstr(line, "msg=\"could not connect\""));
    assert_null(strstr(line, "hunter2secret"));
    assert_non_null(strstr(line, "password=*** n=3"));
    free(line);
    line = capture_log(P2N_LOG_JSON, "batch \"done\"", "batch=12 note=\"a b\"");
    assert_non_null(strstr(line, "\"level\":\"warn\""));
    assert_non_null(strstr(line, "\"msg\":\"batch \\\"done\\\"\""));
    assert_non_null(strstr(line, "\"batch\":\"12\""));
    assert_non_null(strstr(line, "\"note\":\"a b\""));
    free(line);
    /* a quoted value that holds unescaped quotes (error=\"%s\" with a message quoting a URI)
       stays one value, in both formats */
    const char *f = "flag error=\"relation \"users\" does not exist\" attempt=3 note=\"a=b\"";
    line = capture_log(P2N_LOG_JSON, "could not connect, will retry", f);
    assert_non_null(strstr(line, "\"flag\":true,\"error\":\"relation \\\"users\\\" does not exist\",\"attempt\":\"3\","
                                 "\"note\":\"a=b\"}"));
    free(line);
    line = capture_log(P2N_LOG_LOGFMT, "could not connect, will retry", f);
    assert_non_null(strstr(line, " flag error=\"relation \\\"users\\\" does not exist\" attempt=3 note=\"a=b\"\n"));
    free(line);
    /* a secret with a quote is masked before the value is re-quoted */
    p2n_log_add_secret("pa\"ss\\word");
    line = capture_log(P2N_LOG_LOGFMT, "x", "password=\"pa\"ss\\word\" n=1");
    assert_non_null(strstr(line, " password=*** n=1\n"));
    free(line);
    p2n_log_clear_secrets();
    assert_int_equal(p2n_log_parse_level("debug"), P2N_LOG_DEBUG);
    assert_int_equal(p2n_log_parse_level("nope"), -1);
    assert_int_equal(p2n_log_parse_format("json"), P2N_LOG_JSON);
}

static void expect_masked(const char *in, const char *want)
{
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", in);
    p2n_log_mask_credentials(buf);
    if (strcmp(buf, want) != 0)
        fail_msg("mask(%s) = %s, expected %s", in, buf, want);
}

/* URLs' user info and password= values are masked in every line and message (issue 18, item 5) */
static void test_log_mask_credentials(void **state)
{
    (void)state;
    expect_masked("postgresql://u:s3cret@h/db", "postgresql://u:***@h/db");
    expect_masked("could not parse \"postgres://u:p@ss/w?rd@h:5432/db\" at 3",
                  "could not parse \"postgres://u:***@h:5432/db\" at 3");
    expect_masked("neo4j+s://neo4j:pw123@graph:7687 and bolt://a:b@c", "neo4j+s://neo4j:***@graph:7687 and bolt://a:*@c");
    expect_masked("host=h password=s3cret dbname=d", "host=h password=*** dbname=d");
    expect_masked("host=h password = 'a b\\'c' port=5", "host=h password = *** port=5");
    expect_masked("postgresql://h/db?sslmode=require&password=s3cret&x=1",
                  "postgresql://h/db?sslmode=require&password=***&x=1");
    expect_masked("PGPASSWORD=abcdef NEO4J_PASSWORD=xyz12", "PGPASSWORD=*** NEO4J_PASSWORD=***");
    expect_masked("password=ab", "password=**");
    expect_masked("{\"e\":\"password=abc\\\"x\"}", "{\"e\":\"password=***\\\"x\"}");
    /* nothing else changes */
    expect_masked("bolt://127.0.0.1:7687", "bolt://127.0.0.1:7687");
    expect_masked("mail user@example.com at postgresql://h/db", "mail user@example.com at postgresql://h/db");
    expect_masked("postgresql://user@h/db", "postgresql://user@h/db");
    expect_masked("the password (from NEO4J_PASSWORD) is wrong", "the password (from NEO4J_PASSWORD) is wrong");
    expect_masked("password_file=/etc/pw", "password_file=/etc/pw");
    /* in a log line, both formats */
    char *line = capture_log(P2N_LOG_JSON, "could not start", "error=\"bad \"postgresql://u:topsecret@h/d\"\"");
    assert_null(strstr(line, "topsecret"));
    assert_non_null(strstr(line, "postgresql://u:***@h/d"));
    free(line);
    line = capture_log(P2N_LOG_LOGFMT, "conninfo host=h password='top secret' x", "");
    assert_null(strstr(line, "top secret"));
    assert_null(strstr(line, "secret"));
    free(line);
}

static int g_calls;
static const char *g_states[4];
static int fake_tx(void *ctx, P2nErr *err)
{
    (void)ctx;
    const char *st = g_states[g_calls++];
    if (st == NULL)
        return 0;
    p2n_err_set(err, P2N_EPG, "could not claim: deadlock detected");
    snprintf(err->sqlstate, sizeof(err->sqlstate), "%s", st);
    return P2N_EPG;
}

/* Commands retry work that failed on a conflict with another session, and nothing else */
static void test_retry_conflicts(void **state)
{
    (void)state;
    P2nErr e;
    const char *conflicts[] = {"40P01", "40001", "55P03"};
    for (size_t i = 0; i < 3; i++) {
        p2n_err_set(&e, P2N_EPG, "x");
        snprintf(e.sqlstate, sizeof(e.sqlstate), "%s", conflicts[i]);
        assert_true(p2n_err_is_conflict(&e));
        assert_false(p2n_err_is_auth(&e));
    }
    p2n_err_set(&e, P2N_EPG, "duplicate key");
    snprintf(e.sqlstate, sizeof(e.sqlstate), "23505");
    assert_false(p2n_err_is_conflict(&e));
    p2n_err_set(&e, P2N_ENEO4J, "deadlock");
    snprintf(e.neo_code, sizeof(e.neo_code), "Neo.TransientError.Transaction.DeadlockDetected");
    assert_true(p2n_err_is_conflict(&e));
    snprintf(e.neo_code, sizeof(e.neo_code), "Neo.TransientError.Transaction.Terminated");
    assert_false(p2n_err_is_conflict(&e));
    snprintf(e.neo_code, sizeof(e.neo_code), "Neo.ClientError.Schema.ConstraintValidationFailed");
    assert_false(p2n_err_is_conflict(&e));
    p2n_err_set(&e, P2N_ECONNLOST, "connection lost");
    assert_false(p2n_err_is_conflict(&e));
    p2n_err_set(&e, P2N_EPG, "password authentication failed");
    snprintf(e.sqlstate, sizeof(e.sqlstate), "28P01");
    assert_true(p2n_err_is_auth(&e));
    assert_false(p2n_err_is_conflict(&e));

    assert_int_equal(p2n_retry_delay_ms(1), 100);
    assert_int_equal(p2n_retry_delay_ms(2), 200);
    assert_int_equal(p2n_retry_delay_ms(6), 2000);
    assert_int_equal(p2n_retry_delay_ms(7), 2000);

    p2n_log_set_level(P2N_LOG_OFF);
    g_calls = 0;
    g_states[0] = "40P01";
    g_states[1] = "55P03";
    g_states[2] = NULL;
    assert_int_equal(p2n_retry("test", fake_tx, NULL, &e), 0); /* two conflicts, then done */
    assert_int_equal(g_calls, 3);
    assert_int_equal(e.code, 0);
    g_calls = 0;
    g_states[0] = "23505";
    assert_int_equal(p2n_retry("test", fake_tx, NULL, &e), P2N_EPG); /* not a conflict: no retry */
    assert_int_equal(g_calls, 1);
    assert_string_equal(e.sqlstate, "23505");
    p2n_log_set_level(P2N_LOG_INFO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_grow_and_bytes),
        cmocka_unit_test(test_buf_max_fails_sticky),
        cmocka_unit_test(test_buf_printf),
        cmocka_unit_test(test_backoff_ceiling_doubles_and_caps),
        cmocka_unit_test(test_backoff_jitter_in_range),
        cmocka_unit_test(test_error_classes),
        cmocka_unit_test(test_log_formats_and_masking),
        cmocka_unit_test(test_log_mask_credentials),
        cmocka_unit_test(test_retry_conflicts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
