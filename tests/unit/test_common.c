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
    assert_non_null(strstr(line, "password=*************"));
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
    assert_non_null(strstr(line, " password=********** n=1\n"));
    free(line);
    p2n_log_clear_secrets();
    assert_int_equal(p2n_log_parse_level("debug"), P2N_LOG_DEBUG);
    assert_int_equal(p2n_log_parse_level("nope"), -1);
    assert_int_equal(p2n_log_parse_format("json"), P2N_LOG_JSON);
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
