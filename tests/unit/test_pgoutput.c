/*
 * Unit tests: the pgoutput decoder (pg/pgoutput.h) and the logical capture's change events
 * (pg_logical_decoder_*): messages built byte by byte as PostgreSQL 15 sends them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "pg/logical.h"
#include "pg/pgoutput.h"

static void be(P2nBuf *b, uint64_t v, int width)
{
    for (int i = width - 1; i >= 0; i--)
        p2n_buf_append_byte(b, (uint8_t)(v >> (8 * i)));
}

static void str(P2nBuf *b, const char *s)
{
    p2n_buf_append(b, s, strlen(s) + 1);
}

static void msg_begin(P2nBuf *b, uint64_t pg_time_us)
{
    p2n_buf_reset(b);
    p2n_buf_append_byte(b, 'B');
    be(b, 0x1A000000, 8);
    be(b, pg_time_us, 8);
    be(b, 777, 4);
}

static void msg_commit(P2nBuf *b, uint64_t end_lsn)
{
    p2n_buf_reset(b);
    p2n_buf_append_byte(b, 'C');
    p2n_buf_append_byte(b, 0);
    be(b, end_lsn - 8, 8);
    be(b, end_lsn, 8);
    be(b, 5, 8);
}

/* relation with columns given as "name" (key when prefixed by '*') */
static void msg_relation(P2nBuf *b, uint32_t relid, const char *nsp, const char *rel, int n, const char **cols)
{
    p2n_buf_reset(b);
    p2n_buf_append_byte(b, 'R');
    be(b, relid, 4);
    str(b, nsp);
    str(b, rel);
    p2n_buf_append_byte(b, 'd');
    be(b, (uint64_t)n, 2);
    for (int i = 0; i < n; i++) {
        bool key = cols[i][0] == '*';
        p2n_buf_append_byte(b, key ? 1 : 0);
        str(b, key ? cols[i] + 1 : cols[i]);
        be(b, 25, 4);
        be(b, 0xffffffffu, 4);
    }
}

/* tuple of text values; NULL = null */
static void tuple(P2nBuf *b, int n, const char **vals)
{
    be(b, (uint64_t)n, 2);
    for (int i = 0; i < n; i++) {
        if (!vals[i]) {
            p2n_buf_append_byte(b, 'n');
            continue;
        }
        p2n_buf_append_byte(b, 't');
        be(b, strlen(vals[i]), 4);
        p2n_buf_append(b, vals[i], strlen(vals[i]));
    }
}

static void msg_change(P2nBuf *b, char kind, uint32_t relid, char oldk, int nold, const char **old, int nnew,
                       const char **nw)
{
    p2n_buf_reset(b);
    p2n_buf_append_byte(b, (uint8_t)kind);
    be(b, relid, 4);
    if (oldk) {
        p2n_buf_append_byte(b, (uint8_t)oldk);
        tuple(b, nold, old);
    }
    if (kind != 'D') {
        p2n_buf_append_byte(b, 'N');
        tuple(b, nnew, nw);
    }
}

typedef struct Ev {
    char got[2048];
    int n;
} Ev;

static int on_event(void *ctx, char op, const char *type, const char *id, int64_t t)
{
    Ev *e = ctx;
    size_t len = strlen(e->got);
    snprintf(e->got + len, sizeof(e->got) - len, "%s%c %s %s @%lld", e->n ? "; " : "", op, type, id, (long long)t);
    e->n++;
    return 0;
}

static const char *const user_keys[] = {"id"};
static const char *const vote_keys[] = {"user_id", "bill_id"}; /* not the tuple's column order */
static const PgLogicalTable tables[] = {
    {"public", "users", "User", user_keys, 1, NULL},
    {"public", "votes", "Vote", vote_keys, 2, NULL},
};

static int feed(PgLogicalDecoder *d, const P2nBuf *b, Ev *ev, P2nErr *err)
{
    return pg_logical_decoder_feed(d, b->data, b->len, on_event, ev, err);
}

static void test_events(void **state)
{
    (void)state;
    PgLogicalDecoder *d = pg_logical_decoder_new(tables, 2);
    assert_non_null(d);
    P2nBuf b;
    p2n_buf_init(&b);
    Ev ev;
    memset(&ev, 0, sizeof(ev));
    P2nErr err;
    p2n_err_clear(&err);
    /* commit time 1 s after 2000-01-01 = unix 946684801 s */
    msg_begin(&b, 1000000);
    assert_int_equal(feed(d, &b, &ev, &err), 0);
    const char *ucols[] = {"*id"};
    msg_relation(&b, 16400, "public", "users", 1, ucols);
    assert_int_equal(feed(d, &b, &ev, &err), 0);
    const char *vcols[] = {"*bill_id", "*user_id"};
    msg_relation(&b, 16500, "public", "votes", 2, vcols);
    assert_int_equal(feed(d, &b, &ev, &err), 0);
    const char *other[] = {"*id"};
    msg_relation(&b, 16600, "public", "not_captured", 1, other);
    assert_int_equal(feed(d, &b, &ev, &err), 0);

    const char *u1[] = {"42"};
    msg_change(&b, 'I', 16400, 0, 0, NULL, 1, u1);
    assert_int_equal(feed(d, &b, &ev, &err), 0);
    msg_change(&b, 'U', 16400, 0, 0, NULL, 1, u1); /* plain update */
    assert_int_equal(feed(d, &b, &ev, &err), 0);
    const char *u2[] = {"43"};
    msg_change(&b, 'U', 16400, 'K', 1, u1, 1, u2); /* key change 42 -> 43 */
    assert_int_equal(feed(d, &b, &ev, &err), 0);
    msg_change(&b, 'D', 16400, 'K', 1, u2, 0, NULL);
    assert_int_equal(feed(d, &b, &ev, &err), 0);
    const char *v1[] = {"b\"1", "u\n1"}; /* tuple order bill, user; id order user, bill */
    msg_change(&b, 'I', 16500, 0, 0, NULL, 2, v1);
    assert_int_equal(feed(d, &b, &ev, &err), 0);
    msg_change(&b, 'I', 16600, 0, 0, NULL, 1, u1); /* not captured: nothing */
    assert_int_equal(feed(d, &b, &ev, &err), 0);
    /* truncate of users and of the uncaptured table */
    p2n_buf_reset(&b);
    p2n_buf_append_byte(&b, 'T');
    be(&b, 2, 4);
    p2n_buf_append_byte(&b, 0);
    be(&b, 16400, 4);
    be(&b, 16600, 4);
    assert_int_equal(feed(d, &b, &ev, &err), 0);
    msg_commit(&b, 0x1A0000F0);
    assert_int_equal(feed(d, &b, &ev, &err), 0);
    assert_string_equal(ev.got, "u User 42 @946684801000000; u User 42 @946684801000000; "
                                "d User 42 @946684801000000; u User 43 @946684801000000; "
                                "d User 43 @946684801000000; "
                                "u Vote [\"u\\n1\",\"b\\\"1\"] @946684801000000; t User * @946684801000000");

    /* a change of a relation never described is an error, not a guess */
    msg_change(&b, 'I', 99999, 0, 0, NULL, 1, u1);
    assert_int_equal(feed(d, &b, &ev, &err), P2N_EPROTO);
    /* a relation description that lacks a key column of the capture */
    const char *nokey[] = {"*uid"};
    msg_relation(&b, 16400, "public", "users", 1, nokey);
    assert_int_equal(feed(d, &b, &ev, &err), P2N_ECONFIG);
    assert_non_null(strstr(err.msg, "\"id\""));
    p2n_buf_free(&b);
    pg_logical_decoder_free(d);
}

/* Keys of every type: the text pgoutput sends (ISO, the pull's UTC session; an offset anyway)
   becomes the id the triggers write (common/keyid.h). */
static void test_typed_keys(void **state)
{
    (void)state;
    static const char *const ev_keys[] = {"at", "n"}, *const ev_types[] = {"timestamptz", "int4"};
    static const char *const d_keys[] = {"k"}, *const d_types[] = {"date"};
    static const char *const x_keys[] = {"amount", "flag", "code"}, *const x_types[] = {"numeric", "bool", "bpchar"};
    const PgLogicalTable typed[] = {
        {"public", "events", "Event", ev_keys, 2, ev_types},
        {"public", "days", "Day", d_keys, 1, d_types},
        {"public", "mixed", "Mixed", x_keys, 3, x_types},
    };
    PgLogicalDecoder *d = pg_logical_decoder_new(typed, 3);
    assert_non_null(d);
    P2nBuf b;
    p2n_buf_init(&b);
    Ev ev;
    memset(&ev, 0, sizeof(ev));
    P2nErr err;
    p2n_err_clear(&err);
    msg_begin(&b, 0);
    assert_int_equal(feed(d, &b, &ev, &err), 0);
    const char *ecols[] = {"*n", "*at"}, *dcols[] = {"*k"}, *xcols[] = {"*code", "*flag", "*amount"};
    msg_relation(&b, 1, "public", "events", 2, ecols);
    assert_int_equal(feed(d, &b, &ev, &err), 0);
    msg_relation(&b, 2, "public", "days", 1, dcols);
    assert_int_equal(feed(d, &b, &ev, &err), 0);
    msg_relation(&b, 3, "public", "mixed", 3, xcols);
    assert_int_equal(feed(d, &b, &ev, &err), 0);
    const char *e1[] = {"7", "2024-03-01 12:00:00.5+00"}, *e2[] = {"7", "2024-03-01 17:30:00.5+05:30"};
    msg_change(&b, 'U', 1, 'K', 2, e1, 2, e2); /* the same instant: an update, not a key change */
    assert_int_equal(feed(d, &b, &ev, &err), 0);
    const char *e3[] = {"8", "0044-03-15 23:06:32+05:53:28 BC"}, *e4[] = {"8", "infinity"};
    msg_change(&b, 'I', 1, 0, 0, NULL, 2, e3);
    assert_int_equal(feed(d, &b, &ev, &err), 0);
    msg_change(&b, 'I', 1, 0, 0, NULL, 2, e4);
    assert_int_equal(feed(d, &b, &ev, &err), 0);
    const char *d1[] = {"2024-02-29"}, *d2[] = {"0001-01-01 BC"}, *d3[] = {"5874897-12-31"};
    msg_change(&b, 'I', 2, 0, 0, NULL, 1, d1);
    assert_int_equal(feed(d, &b, &ev, &err), 0);
    msg_change(&b, 'D', 2, 'K', 1, d2, 0, NULL);
    assert_int_equal(feed(d, &b, &ev, &err), 0);
    msg_change(&b, 'I', 2, 0, 0, NULL, 1, d3);
    assert_int_equal(feed(d, &b, &ev, &err), 0);
    const char *x1[] = {"AB   ", "t", "1.500"}, *x2[] = {"AB", "t", "1.5"}, *x3[] = {"AB", "f", "-0.10"};
    msg_change(&b, 'U', 3, 'K', 3, x1, 3, x2); /* scale and padding only: the same id */
    assert_int_equal(feed(d, &b, &ev, &err), 0);
    msg_change(&b, 'U', 3, 'K', 3, x2, 3, x3);
    assert_int_equal(feed(d, &b, &ev, &err), 0);
    assert_string_equal(ev.got,
                        "u Event [\"2024-03-01 12:00:00.500000+00\",\"7\"] @946684800000000; "
                        "u Event [\"0044-03-15 17:13:04.000000+00 BC\",\"8\"] @946684800000000; "
                        "u Event [\"infinity\",\"8\"] @946684800000000; "
                        "u Day 2024-02-29 @946684800000000; d Day 0001-01-01 BC @946684800000000; "
                        "u Day 5874897-12-31 @946684800000000; "
                        "u Mixed [\"1.5\",\"true\",\"AB\"] @946684800000000; "
                        "d Mixed [\"1.5\",\"true\",\"AB\"] @946684800000000; "
                        "u Mixed [\"-0.1\",\"false\",\"AB\"] @946684800000000");
    /* a value not in the expected form (a DateStyle other than ISO) stops the pull: no wrong id */
    const char *bad[] = {"01/03/2024"};
    msg_change(&b, 'I', 2, 0, 0, NULL, 1, bad);
    assert_int_equal(feed(d, &b, &ev, &err), P2N_EPROTO);
    assert_non_null(strstr(err.msg, "\"01/03/2024\" of \"public.days\""));
    p2n_buf_free(&b);
    pg_logical_decoder_free(d);
}

static void test_decode_fields(void **state)
{
    (void)state;
    PgoDecoder *d = malloc(sizeof(*d));
    assert_non_null(d);
    P2nBuf b;
    p2n_buf_init(&b);
    PgoMsg m;
    P2nErr err;
    msg_commit(&b, 0x0000000100000010ull);
    assert_int_equal(pgo_decode(d, b.data, b.len, &m, &err), 0);
    assert_int_equal(m.kind, PGO_COMMIT);
    assert_true(m.lsn == 0x0000000100000010ull);
    const char *cols[] = {"*a", "b"};
    msg_relation(&b, 7, "", "t", 2, cols);
    assert_int_equal(pgo_decode(d, b.data, b.len, &m, &err), 0);
    assert_int_equal(m.kind, PGO_RELATION);
    assert_string_equal(m.nspname, "");
    assert_string_equal(m.relname, "t");
    assert_int_equal(m.ncols, 2);
    assert_true(m.cols[0].key);
    assert_false(m.cols[1].key);
    const char *vals[] = {"x", NULL};
    msg_change(&b, 'U', 7, 'O', 2, vals, 2, vals);
    assert_int_equal(pgo_decode(d, b.data, b.len, &m, &err), 0);
    assert_int_equal(m.old_kind, 'O');
    assert_int_equal(m.new_tuple.n, 2);
    assert_int_equal(m.new_tuple.v[1].kind, 'n');
    assert_int_equal(m.new_tuple.v[0].len, 1);
    /* origin and type messages are skipped */
    uint8_t origin[] = {'O', 0, 0, 0, 0, 0, 0, 0, 1, 'x', 0};
    assert_int_equal(pgo_decode(d, origin, sizeof(origin), &m, &err), 0);
    assert_int_equal(m.kind, PGO_OTHER);
    p2n_buf_free(&b);
    free(d);
}

/* every strict prefix of a valid message, and every message with a trailing byte, is rejected */
static void test_truncated(void **state)
{
    (void)state;
    PgoDecoder *d = malloc(sizeof(*d));
    assert_non_null(d);
    P2nBuf msgs[6];
    for (int i = 0; i < 6; i++)
        p2n_buf_init(&msgs[i]);
    const char *cols[] = {"*a", "b"};
    const char *vals[] = {"hello", NULL};
    msg_begin(&msgs[0], 5);
    msg_commit(&msgs[1], 99);
    msg_relation(&msgs[2], 7, "public", "t", 2, cols);
    msg_change(&msgs[3], 'I', 7, 0, 0, NULL, 2, vals);
    msg_change(&msgs[4], 'U', 7, 'K', 2, vals, 2, vals);
    msg_change(&msgs[5], 'D', 7, 'K', 2, vals, 0, NULL);
    P2nErr err;
    PgoMsg m;
    for (int i = 0; i < 6; i++) {
        assert_int_equal(pgo_decode(d, msgs[i].data, msgs[i].len, &m, &err), 0);
        for (size_t cut = 0; cut < msgs[i].len; cut++) {
            uint8_t *copy = malloc(cut + 1); /* exactly cut bytes readable (ASan checks) */
            assert_non_null(copy);
            memcpy(copy, msgs[i].data, cut);
            assert_int_equal(pgo_decode(d, copy, cut, &m, &err), P2N_EPROTO);
            free(copy);
        }
        p2n_buf_append_byte(&msgs[i], 0);
        assert_int_equal(pgo_decode(d, msgs[i].data, msgs[i].len, &m, &err), P2N_EPROTO);
        assert_non_null(strstr(err.msg, "trailing"));
        p2n_buf_free(&msgs[i]);
    }
    /* absurd counts are refused before anything is read */
    uint8_t big[] = {'I', 0, 0, 0, 7, 'N', 0xff, 0xff};
    assert_int_equal(pgo_decode(d, big, sizeof(big), &m, &err), P2N_EPROTO);
    uint8_t trunc[] = {'T', 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1};
    assert_int_equal(pgo_decode(d, trunc, sizeof(trunc), &m, &err), P2N_EPROTO);
    uint8_t unknown[] = {'Z'};
    assert_int_equal(pgo_decode(d, unknown, 1, &m, &err), P2N_EPROTO);
    free(d);
}

static void test_names(void **state)
{
    (void)state;
    char a[80], b[80], c[80];
    pg_logical_name(a, sizeof(a), "civic", "public");
    assert_string_equal(a, "pg2neo_civic_public");
    pg_logical_name(b, sizeof(b), "civic", "My Schema");
    assert_int_equal(strncmp(b, "pg2neo_civic_my_schema_", 23), 0);
    pg_logical_name(c, sizeof(c), "civic", "my_schema");
    assert_string_equal(c, "pg2neo_civic_my_schema");
    assert_string_not_equal(b, c);
    pg_logical_name(c, sizeof(c), "a_database_with_a_long_name_too", "a_very_long_schema_name_that_goes_on_and_on");
    assert_true(strlen(c) <= 63);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_typed_keys),
        cmocka_unit_test(test_decode_fields),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
