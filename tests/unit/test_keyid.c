/*
 * Unit tests: the canonical text of key values (common/keyid.h): the logical decoder's
 * normalisation of output-function texts, the parser behind a delete's key, the calendar.
 * tests/integration/test_real_keys.sh checks the same forms against PostgreSQL itself.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/keyid.h"

static void norm(P2nKeyKind k, const char *in, const char *want)
{
    P2nBuf b;
    p2n_buf_init(&b);
    int rc = p2n_key_text_normalise(k, in, strlen(in), &b);
    p2n_buf_append_byte(&b, 0);
    if (want == NULL) {
        if (rc != -1)
            fail_msg("\"%s\" was accepted as \"%s\"", in, (const char *)b.data);
        assert_int_equal(b.len, 1); /* nothing appended */
    } else {
        if (rc != 0)
            fail_msg("\"%s\" was refused", in);
        assert_string_equal((const char *)b.data, want);
    }
    p2n_buf_free(&b);
}

static void test_kinds(void **state)
{
    (void)state;
    assert_int_equal(p2n_key_kind("int4"), P2N_KEY_TEXT);
    assert_int_equal(p2n_key_kind("uuid"), P2N_KEY_TEXT);
    assert_int_equal(p2n_key_kind(NULL), P2N_KEY_TEXT);
    assert_int_equal(p2n_key_kind("bpchar"), P2N_KEY_BPCHAR);
    assert_int_equal(p2n_key_kind("citext"), P2N_KEY_CITEXT);
    assert_int_equal(p2n_key_kind("bool"), P2N_KEY_BOOL);
    assert_int_equal(p2n_key_kind("numeric"), P2N_KEY_NUMERIC);
    assert_int_equal(p2n_key_kind("date"), P2N_KEY_DATE);
    assert_int_equal(p2n_key_kind("timestamp"), P2N_KEY_TIMESTAMP);
    assert_int_equal(p2n_key_kind("timestamptz"), P2N_KEY_TIMESTAMPTZ);
    P2nBuf b;
    p2n_buf_init(&b);
    p2n_key_sql_text(&b, P2N_KEY_BPCHAR, "t.\"c\"");
    p2n_key_sql_text(&b, P2N_KEY_NUMERIC, "t.\"n\"");
    p2n_buf_append_byte(&b, 0);
    assert_string_equal((const char *)b.data, "t.\"c\"::texttrim_scale(t.\"n\")::text");
    p2n_buf_free(&b);
}

static void test_normalise(void **state)
{
    (void)state;
    norm(P2N_KEY_TEXT, "a b\"c", "a b\"c");
    norm(P2N_KEY_CITEXT, "ABC", "ABC");
    norm(P2N_KEY_BPCHAR, "AB   ", "AB");
    norm(P2N_KEY_BPCHAR, "   ", "");
    norm(P2N_KEY_BOOL, "t", "true");
    norm(P2N_KEY_BOOL, "f", "false");
    norm(P2N_KEY_BOOL, "true", "true");
    norm(P2N_KEY_BOOL, "yes", NULL);
    /* numeric: 1.50 = 1.5, one id; integers keep their zeros */
    norm(P2N_KEY_NUMERIC, "1.500", "1.5");
    norm(P2N_KEY_NUMERIC, "100.00", "100");
    norm(P2N_KEY_NUMERIC, "100", "100");
    norm(P2N_KEY_NUMERIC, "0.000", "0");
    norm(P2N_KEY_NUMERIC, "-0.0010", "-0.001");
    norm(P2N_KEY_NUMERIC, "NaN", "NaN");
    norm(P2N_KEY_NUMERIC, "-Infinity", "-Infinity");
    norm(P2N_KEY_NUMERIC, "", NULL);
    norm(P2N_KEY_NUMERIC, "-", NULL);
    norm(P2N_KEY_NUMERIC, "1.", NULL);
    norm(P2N_KEY_NUMERIC, "1.2.0", NULL);
    norm(P2N_KEY_NUMERIC, "1e5", NULL);
    norm(P2N_KEY_NUMERIC, "-10.0&0.0", NULL); /* found by fuzz_keyid: not a fixed point before */
    /* dates: ISO, BC, beyond 9999, infinities */
    norm(P2N_KEY_DATE, "2024-03-01", "2024-03-01");
    norm(P2N_KEY_DATE, "0044-03-15 BC", "0044-03-15 BC");
    norm(P2N_KEY_DATE, "4714-11-24 BC", "4714-11-24 BC");
    norm(P2N_KEY_DATE, "5874897-12-31", "5874897-12-31");
    norm(P2N_KEY_DATE, "infinity", "infinity");
    norm(P2N_KEY_DATE, "-infinity", "-infinity");
    norm(P2N_KEY_DATE, "2024-02-30", NULL);
    norm(P2N_KEY_DATE, "1900-02-29", NULL);
    norm(P2N_KEY_DATE, "2000-02-29", "2000-02-29");
    norm(P2N_KEY_DATE, "01/03/2024", NULL); /* DateStyle SQL: refused, never guessed */
    norm(P2N_KEY_DATE, "0000-01-01", NULL);
    norm(P2N_KEY_DATE, "2024-03-01 BCE", NULL);
    /* timestamps: always 6 fractional digits */
    norm(P2N_KEY_TIMESTAMP, "2024-03-01 12:34:56", "2024-03-01 12:34:56.000000");
    norm(P2N_KEY_TIMESTAMP, "2024-03-01 12:34:56.5", "2024-03-01 12:34:56.500000");
    norm(P2N_KEY_TIMESTAMP, "0044-03-15 12:00:00.000001 BC", "0044-03-15 12:00:00.000001 BC");
    norm(P2N_KEY_TIMESTAMP, "294276-12-31 23:59:59.999999", "294276-12-31 23:59:59.999999");
    norm(P2N_KEY_TIMESTAMP, "2024-03-01 12:34:56.1234567", NULL);
    norm(P2N_KEY_TIMESTAMP, "2024-03-01 12:34:56+00", NULL);
    norm(P2N_KEY_TIMESTAMP, "2024-03-01 24:00:00", NULL);
    /* timestamptz: in UTC whatever the offset, across days and eras */
    norm(P2N_KEY_TIMESTAMPTZ, "2024-03-01 12:00:00+00", "2024-03-01 12:00:00.000000+00");
    norm(P2N_KEY_TIMESTAMPTZ, "2024-03-01 02:00:00.25+05:30", "2024-02-29 20:30:00.250000+00");
    norm(P2N_KEY_TIMESTAMPTZ, "2024-12-31 22:00:00-03", "2025-01-01 01:00:00.000000+00");
    norm(P2N_KEY_TIMESTAMPTZ, "0001-01-01 03:00:00+05:53:28", "0001-12-31 21:06:32.000000+00 BC");
    norm(P2N_KEY_TIMESTAMPTZ, "0001-12-31 23:00:00-02 BC", "0001-01-01 01:00:00.000000+00");
    norm(P2N_KEY_TIMESTAMPTZ, "infinity", "infinity");
    norm(P2N_KEY_TIMESTAMPTZ, "2024-03-01 12:00:00", NULL);
    norm(P2N_KEY_TIMESTAMPTZ, "2024-03-01 12:00:00 IST", NULL);
}

static void test_parse(void **state)
{
    (void)state;
    P2nKeyTime t;
    assert_int_equal(p2n_key_text_parse_time(P2N_KEY_DATE, "1970-01-01", 10, &t), 0);
    assert_int_equal(t.days, 0);
    assert_int_equal(p2n_key_text_parse_time(P2N_KEY_DATE, "0044-03-15 BC", 13, &t), 0);
    assert_int_equal(t.days, -735160); /* DATE '0044-03-15 BC' - DATE '1970-01-01' */
    const char *ts = "2024-03-01 12:34:56.789000+00";
    assert_int_equal(p2n_key_text_parse_time(P2N_KEY_TIMESTAMPTZ, ts, strlen(ts), &t), 0);
    assert_int_equal(t.days * 86400 + t.usec / 1000000, 1709296496);
    assert_int_equal(t.usec % 1000000, 789000);
    assert_int_equal(p2n_key_text_parse_time(P2N_KEY_TIMESTAMP, "-infinity", 9, &t), 0);
    assert_int_equal(t.infinite, -1);
    assert_int_equal(p2n_key_text_parse_time(P2N_KEY_TEXT, "1970-01-01", 10, &t), -1);
    /* the calendar, day by day over four centuries either side of year 0, and at the ends */
    for (int64_t z = -146097 * 6; z < 146097 * 2; z += 13) {
        int64_t y, m, d;
        p2n_civil_from_days(z, &y, &m, &d);
        assert_int_equal(p2n_days_from_civil(y, m, d), z);
    }
    assert_int_equal(p2n_days_from_civil(5874897, 12, 31), 2145042905);
    assert_int_equal(p2n_days_from_civil(-4713, 11, 24), -2440588); /* Julian day 0 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_normalise),
        cmocka_unit_test(test_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
