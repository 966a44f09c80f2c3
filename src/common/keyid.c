/* The canonical text of key values (see keyid.h): SQL expressions, and the same forms in C. */
#include "common/keyid.h"

#include <stdio.h>
#include <string.h>

#define USEC_PER_DAY INT64_C(86400000000)

P2nKeyKind p2n_key_kind(const char *typname)
{
    static const struct {
        const char *name;
        P2nKeyKind kind;
    } kinds[] = {
        {"bpchar", P2N_KEY_BPCHAR},       {"citext", P2N_KEY_CITEXT},
        {"bool", P2N_KEY_BOOL},           {"numeric", P2N_KEY_NUMERIC},
        {"date", P2N_KEY_DATE},           {"timestamp", P2N_KEY_TIMESTAMP},
        {"timestamptz", P2N_KEY_TIMESTAMPTZ},
    };
    if (typname == NULL)
        return P2N_KEY_TEXT;
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcmp(typname, kinds[i].name) == 0)
            return kinds[i].kind;
    return P2N_KEY_TEXT;
}

/*
 * The temporal forms with to_char, whose numeric patterns depend on no setting: the year has 4
 * digits or more, BC years are written as such (to_char's YYYY of 44 BC is 0044) with " BC" after
 * everything, as PostgreSQL's ISO output does; an infinite value's own text does not depend on
 * DateStyle. A date after 294276 (beyond the timestamp range that to_char works in) is written
 * from its fields. Measured: about 0.25 µs a value more than ::text.
 */
void p2n_key_sql_text(P2nBuf *b, P2nKeyKind k, const char *x)
{
    switch (k) {
    case P2N_KEY_NUMERIC:
        p2n_buf_printf(b, "trim_scale(%s)::text", x);
        return;
    case P2N_KEY_DATE:
        p2n_buf_printf(b,
                       "CASE WHEN NOT isfinite(%s) THEN %s::text"
                       " WHEN %s < DATE '0001-01-01' THEN to_char(%s::timestamp, 'YYYY-MM-DD\" BC\"')"
                       " WHEN %s < DATE '294277-01-01' THEN to_char(%s::timestamp, 'YYYY-MM-DD')"
                       " ELSE extract(year FROM %s)::text || '-' || lpad(extract(month FROM %s)::text, 2, '0')"
                       " || '-' || lpad(extract(day FROM %s)::text, 2, '0') END",
                       x, x, x, x, x, x, x, x, x);
        return;
    case P2N_KEY_TIMESTAMP:
        p2n_buf_printf(b,
                       "CASE WHEN NOT isfinite(%s) THEN %s::text"
                       " WHEN %s < TIMESTAMP '0001-01-01 00:00:00' THEN to_char(%s, 'YYYY-MM-DD HH24:MI:SS.US\" BC\"')"
                       " ELSE to_char(%s, 'YYYY-MM-DD HH24:MI:SS.US') END",
                       x, x, x, x, x);
        return;
    case P2N_KEY_TIMESTAMPTZ:
        p2n_buf_printf(b,
                       "CASE WHEN NOT isfinite(%s) THEN %s::text"
                       " WHEN %s < TIMESTAMPTZ '0001-01-01 00:00:00+00'"
                       " THEN to_char(%s AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US\"+00 BC\"')"
                       " ELSE to_char(%s AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US\"+00\"') END",
                       x, x, x, x, x);
        return;
    default: /* text types, integers, uuid, enums; boolean's ::text is true/false */
        p2n_buf_printf(b, "%s::text", x);
        return;
    }
}

/* ---- the calendar (Howard Hinnant's algorithms, proleptic Gregorian) ---- */

int64_t p2n_days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void p2n_civil_from_days(int64_t z, int64_t *y, int64_t *m, int64_t *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yoe + era * 400 + (*m <= 2);
}

static bool leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* ---- parsing ---- */

typedef struct Scan {
    const char *p, *end;
} Scan;

/* Exactly n digits (n > 0), or at least -n digits and at most 9 (n < 0). */
static bool digits(Scan *s, int n, int64_t *out)
{
    int64_t v = 0;
    int got = 0, max = n > 0 ? n : 9;
    while (s->p < s->end && got < max && *s->p >= '0' && *s->p <= '9') {
        v = v * 10 + (*s->p++ - '0');
        got++;
    }
    if (n > 0 ? got != n : got < -n)
        return false;
    if (n < 0 && s->p < s->end && *s->p >= '0' && *s->p <= '9')
        return false; /* more than 9 digits */
    *out = v;
    return true;
}

static bool lit(Scan *s, const char *t)
{
    size_t n = strlen(t);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, t, n) != 0)
        return false;
    s->p += n;
    return true;
}

int p2n_key_text_parse_time(P2nKeyKind k, const char *str, size_t n, P2nKeyTime *out)
{
    memset(out, 0, sizeof(*out));
    if (k != P2N_KEY_DATE && k != P2N_KEY_TIMESTAMP && k != P2N_KEY_TIMESTAMPTZ)
        return -1;
    if (n == 8 && memcmp(str, "infinity", 8) == 0) {
        out->infinite = 1;
        return 0;
    }
    if (n == 9 && memcmp(str, "-infinity", 9) == 0) {
        out->infinite = -1;
        return 0;
    }
    Scan s = {str, str + n};
    int64_t y, mo, d, h = 0, mi = 0, sec = 0, frac = 0, off = 0;
    if (!digits(&s, -4, &y) || !lit(&s, "-") || !digits(&s, 2, &mo) || !lit(&s, "-") || !digits(&s, 2, &d))
        return -1;
    if (k != P2N_KEY_DATE) {
        if (!(lit(&s, " ") || lit(&s, "T")) || !digits(&s, 2, &h) || !lit(&s, ":") || !digits(&s, 2, &mi) ||
            !lit(&s, ":") || !digits(&s, 2, &sec))
            return -1;
        if (lit(&s, ".")) {
            int nd = 0;
            while (s.p < s.end && *s.p >= '0' && *s.p <= '9') {
                if (nd < 6)
                    frac = frac * 10 + (*s.p - '0');
                nd++;
                s.p++;
            }
            if (nd == 0 || nd > 6)
                return -1;
            for (; nd < 6; nd++)
                frac *= 10;
        }
        if (k == P2N_KEY_TIMESTAMPTZ) {
            /* +HH, +HH:MM or +HH:MM:SS (an LMT offset has seconds) */
            int sign = lit(&s, "+") ? 1 : lit(&s, "-") ? -1 : 0;
            int64_t oh, om = 0, os = 0;
            if (sign == 0 || !digits(&s, 2, &oh))
                return -1;
            if (lit(&s, ":") && (!digits(&s, 2, &om) || (lit(&s, ":") && !digits(&s, 2, &os))))
                return -1;
            if (oh > 15 || om > 59 || os > 59)
                return -1;
            off = sign * (oh * 3600 + om * 60 + os);
        }
    }
    bool bc = lit(&s, " BC");
    if (s.p != s.end || y < 1 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 59)
        return -1;
    if (bc)
        y = 1 - y;
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (d > mdays[mo - 1] + (mo == 2 && leap(y)))
        return -1;
    int64_t days = p2n_days_from_civil(y, mo, d);
    int64_t usec = ((h * 60 + mi) * 60 + sec - off) * INT64_C(1000000) + frac;
    while (usec < 0) {
        usec += USEC_PER_DAY;
        days--;
    }
    while (usec >= USEC_PER_DAY) {
        usec -= USEC_PER_DAY;
        days++;
    }
    out->days = days;
    out->usec = usec;
    return 0;
}

/* ---- the canonical forms in C ---- */

static void time_format(P2nKeyKind k, const P2nKeyTime *t, P2nBuf *out)
{
    if (t->infinite) {
        p2n_buf_append_str(out, t->infinite > 0 ? "infinity" : "-infinity");
        return;
    }
    int64_t y, m, d;
    p2n_civil_from_days(t->days, &y, &m, &d);
    bool bc = y <= 0;
    p2n_buf_printf(out, "%04lld-%02lld-%02lld", (long long)(bc ? 1 - y : y), (long long)m, (long long)d);
    if (k != P2N_KEY_DATE) {
        int64_t s = t->usec / 1000000;
        p2n_buf_printf(out, " %02lld:%02lld:%02lld.%06lld", (long long)(s / 3600), (long long)(s / 60 % 60),
                       (long long)(s % 60), (long long)(t->usec % 1000000));
        if (k == P2N_KEY_TIMESTAMPTZ)
            p2n_buf_append_str(out, "+00");
    }
    if (bc)
        p2n_buf_append_str(out, " BC");
}

int p2n_key_text_normalise(P2nKeyKind k, const char *s, size_t n, P2nBuf *out)
{
    switch (k) {
    case P2N_KEY_BOOL:
        if ((n == 1 && s[0] == 't') || (n == 4 && memcmp(s, "true", 4) == 0))
            p2n_buf_append_str(out, "true");
        else if ((n == 1 && s[0] == 'f') || (n == 5 && memcmp(s, "false", 5) == 0))
            p2n_buf_append_str(out, "false");
        else
            return -1;
        return 0;
    case P2N_KEY_BPCHAR:
        while (n > 0 && s[n - 1] == ' ')
            n--;
        p2n_buf_append(out, s, n);
        return 0;
    case P2N_KEY_NUMERIC: {
        /* numeric's output: [-]digits[.digits] (never an exponent), NaN, Infinity, -Infinity;
           only a fraction loses its trailing zeros */
        if ((n == 3 && memcmp(s, "NaN", 3) == 0) || (n == 8 && memcmp(s, "Infinity", 8) == 0) ||
            (n == 9 && memcmp(s, "-Infinity", 9) == 0)) {
            p2n_buf_append(out, s, n);
            return 0;
        }
        size_t i = n > 1 && s[0] == '-' ? 1 : 0, intd = 0, dot = 0;
        while (i + intd < n && s[i + intd] >= '0' && s[i + intd] <= '9')
            intd++;
        if (intd == 0)
            return -1;
        if (i + intd < n) {
            dot = i + intd;
            if (s[dot] != '.' || dot + 1 == n)
                return -1;
            for (size_t j = dot + 1; j < n; j++)
                if (s[j] < '0' || s[j] > '9')
                    return -1;
            while (s[n - 1] == '0')
                n--;
            if (n - 1 == dot)
                n--;
        }
        p2n_buf_append(out, s, n);
        return 0;
    }
    case P2N_KEY_DATE:
    case P2N_KEY_TIMESTAMP:
    case P2N_KEY_TIMESTAMPTZ: {
        P2nKeyTime t;
        if (p2n_key_text_parse_time(k, s, n, &t) < 0)
            return -1;
        time_format(k, &t, out);
        return 0;
    }
    default:
        p2n_buf_append(out, s, n);
        return 0;
    }
}
