/*
 * The JSON scanner of the row encoder (see mapping_int.h): PostgreSQL's json and jsonb text read
 * in place, at any depth and with numbers of any size, where a general parser (jansson) refuses
 * integers beyond int64, numbers beyond or below the double range and nesting beyond its limit,
 * all of which PostgreSQL accepts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mapping/mapping_int.h"

const char *mj_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

MjKind mj_kind(const char *p, const char *end)
{
    if (p >= end)
        return MJ_BAD;
    switch (*p) {
    case '"':
        return MJ_STRING;
    case '[':
        return MJ_ARRAY;
    case '{':
        return MJ_OBJECT;
    case 't':
    case 'f':
        return MJ_BOOL;
    case 'n':
        return MJ_NULL;
    default:
        return *p == '-' || (*p >= '0' && *p <= '9') ? MJ_NUMBER : MJ_BAD;
    }
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

const char *mj_number(const char *p, const char *end, bool *is_int)
{
    *is_int = true;
    if (p < end && *p == '-')
        p++;
    if (p >= end || !is_digit(*p))
        return NULL;
    if (*p == '0')
        p++;
    else
        while (p < end && is_digit(*p))
            p++;
    if (p < end && *p == '.') {
        *is_int = false;
        p++;
        if (p >= end || !is_digit(*p))
            return NULL;
        while (p < end && is_digit(*p))
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        *is_int = false;
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || !is_digit(*p))
            return NULL;
        while (p < end && is_digit(*p))
            p++;
    }
    return p;
}

const char *mj_literal(const char *p, const char *end, bool *truth)
{
    static const char *const words[3] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(words[i]);
        if ((size_t)(end - p) >= n && memcmp(p, words[i], n) == 0) {
            *truth = i == 0;
            return p + n;
        }
    }
    return NULL;
}

static int hex4(const char *p, const char *end)
{
    if (end - p < 4)
        return -1;
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

static void put_utf8(P2nBuf *out, uint32_t cp)
{
    uint8_t u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (uint8_t)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (uint8_t)(0xC0 | (cp >> 6));
        u[1] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (uint8_t)(0xE0 | (cp >> 12));
        u[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (uint8_t)(0xF0 | (cp >> 18));
        u[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 4;
    }
    p2n_buf_append(out, u, n);
}

const char *mj_string(const char *p, const char *end, P2nBuf *out)
{
    if (p >= end || *p != '"')
        return NULL;
    p++;
    for (;;) {
        const char *run = p;
        while (p < end && *p != '"' && *p != '\\' && (unsigned char)*p >= 0x20)
            p++;
        if (out && p > run)
            p2n_buf_append(out, run, (size_t)(p - run));
        if (p >= end || (unsigned char)*p < 0x20)
            return NULL; /* unterminated, or a raw control character */
        if (*p == '"')
            return p + 1;
        p++; /* the backslash */
        if (p >= end)
            return NULL;
        char c = *p++;
        char lit;
        switch (c) {
        case '"':
        case '\\':
        case '/':
            lit = c;
            break;
        case 'b':
            lit = '\b';
            break;
        case 'f':
            lit = '\f';
            break;
        case 'n':
            lit = '\n';
            break;
        case 'r':
            lit = '\r';
            break;
        case 't':
            lit = '\t';
            break;
        case 'u': {
            int u = hex4(p, end);
            if (u < 0)
                return NULL;
            p += 4;
            uint32_t cp = (uint32_t)u;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                int lo = end - p >= 6 && p[0] == '\\' && p[1] == 'u' ? hex4(p + 2, end) : -1;
                if (lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
                    p += 6;
                } else {
                    cp = 0xFFFD; /* a lone high surrogate */
                }
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                cp = 0xFFFD; /* a lone low surrogate */
            }
            if (out)
                put_utf8(out, cp);
            continue;
        }
        default:
            return NULL;
        }
        if (out)
            p2n_buf_append_byte(out, (uint8_t)lit);
    }
}

/* One scalar at p, copied to compact when given. */
static const char *scalar(const char *p, const char *end, P2nBuf *compact)
{
    const char *q;
    bool dummy;
    switch (mj_kind(p, end)) {
    case MJ_STRING:
        q = mj_string(p, end, NULL);
        break;
    case MJ_NUMBER:
        q = mj_number(p, end, &dummy);
        break;
    case MJ_BOOL:
    case MJ_NULL:
        q = mj_literal(p, end, &dummy);
        break;
    default:
        return NULL;
    }
    if (q && compact)
        p2n_buf_append(compact, p, (size_t)(q - p));
    return q;
}

const char *mj_skip(const char *p, const char *end, P2nBuf *compact)
{
    /* an explicit stack of the open containers' closers: no recursion, any depth */
    char small[64];
    char *stack = small;
    size_t depth = 0, cap = sizeof(small);
    enum { S_VALUE, S_KEY, S_AFTER } st = S_VALUE;
    const char *ret = NULL;
    for (;;) {
        p = mj_ws(p, end);
        if (st == S_AFTER && depth == 0) {
            ret = p;
            break;
        }
        if (p >= end)
            break;
        if (st == S_VALUE) {
            if (*p == '[' || *p == '{') {
                if (depth == cap) {
                    char *n = malloc(cap * 2);
                    if (n == NULL)
                        break;
                    memcpy(n, stack, depth);
                    if (stack != small)
                        free(stack);
                    stack = n;
                    cap *= 2;
                }
                char close = *p == '[' ? ']' : '}';
                stack[depth++] = close;
                if (compact)
                    p2n_buf_append_byte(compact, (uint8_t)*p);
                p = mj_ws(p + 1, end);
                if (p < end && *p == close) {
                    if (compact)
                        p2n_buf_append_byte(compact, (uint8_t)close);
                    p++;
                    depth--;
                    st = S_AFTER;
                } else {
                    st = close == '}' ? S_KEY : S_VALUE;
                }
                continue;
            }
            if ((p = scalar(p, end, compact)) == NULL)
                break;
            st = S_AFTER;
        } else if (st == S_KEY) {
            if (mj_kind(p, end) != MJ_STRING || (p = scalar(p, end, compact)) == NULL)
                break;
            p = mj_ws(p, end);
            if (p >= end || *p != ':')
                break;
            if (compact)
                p2n_buf_append_byte(compact, ':');
            p++;
            st = S_VALUE;
        } else { /* S_AFTER, inside a container */
            char close = stack[depth - 1];
            if (*p == ',') {
                st = close == '}' ? S_KEY : S_VALUE;
            } else if (*p == close) {
                depth--;
            } else {
                break;
            }
            if (compact)
                p2n_buf_append_byte(compact, (uint8_t)*p);
            p++;
        }
    }
    if (stack != small)
        free(stack);
    return ret;
}

bool mj_iter_open(MjIter *it, const char *p, const char *end)
{
    MjKind k = mj_kind(p, end);
    if (k != MJ_ARRAY && k != MJ_OBJECT)
        return false;
    it->p = p + 1;
    it->end = end;
    it->close = k == MJ_ARRAY ? ']' : '}';
    it->first = true;
    return true;
}

int mj_iter_next(MjIter *it, P2nBuf *key, const char **val)
{
    const char *p = mj_ws(it->p, it->end), *end = it->end;
    if (p >= end)
        return -1;
    if (*p == it->close) {
        it->p = p + 1;
        return 0;
    }
    if (!it->first) {
        if (*p != ',')
            return -1;
        p = mj_ws(p + 1, end);
    }
    if (it->close == '}') {
        if (key)
            p2n_buf_reset(key);
        if ((p = mj_string(p, end, key)) == NULL)
            return -1;
        p = mj_ws(p, end);
        if (p >= end || *p != ':')
            return -1;
        p = mj_ws(p + 1, end);
    }
    if (mj_kind(p, end) == MJ_BAD)
        return -1;
    it->first = false;
    it->p = p;
    *val = p;
    return 1;
}
