/* Growable byte buffer with a sticky failure bit. */
#include "common/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void p2n_buf_init(P2nBuf *b)
{
    memset(b, 0, sizeof(*b));
}

void p2n_buf_free(P2nBuf *b)
{
    if (b == NULL)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void p2n_buf_reset(P2nBuf *b)
{
    b->len = 0;
    b->failed = false;
    if (b->data != NULL)
        b->data[0] = 0;
}

bool p2n_buf_reserve(P2nBuf *b, size_t extra)
{
    if (b->failed)
        return false;
    if (extra > SIZE_MAX - b->len - 1 || (b->max != 0 && b->len + extra > b->max)) {
        b->failed = true;
        return false;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    uint8_t *p = realloc(b->data, cap);
    if (p == NULL) {
        b->failed = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

void p2n_buf_append(P2nBuf *b, const void *data, size_t n)
{
    if (!p2n_buf_reserve(b, n))
        return;
    if (n > 0)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = 0;
}

void p2n_buf_append_byte(P2nBuf *b, uint8_t c)
{
    p2n_buf_append(b, &c, 1);
}

void p2n_buf_append_str(P2nBuf *b, const char *s)
{
    p2n_buf_append(b, s, strlen(s));
}

void p2n_buf_printf(P2nBuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if (!p2n_buf_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void p2n_buf_append_be16(P2nBuf *b, uint16_t v)
{
    uint8_t t[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    p2n_buf_append(b, t, 2);
}

void p2n_buf_append_be32(P2nBuf *b, uint32_t v)
{
    uint8_t t[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    p2n_buf_append(b, t, 4);
}

void p2n_buf_append_be64(P2nBuf *b, uint64_t v)
{
    p2n_buf_append_be32(b, (uint32_t)(v >> 32));
    p2n_buf_append_be32(b, (uint32_t)v);
}

void p2n_buf_consume(P2nBuf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
    } else {
        memmove(b->data, b->data + n, b->len - n);
        b->len -= n;
    }
    if (b->data != NULL)
        b->data[b->len] = 0;
}

char *p2n_buf_steal(P2nBuf *b)
{
    if (b->failed) {
        p2n_buf_free(b);
        p2n_buf_init(b);
        return NULL;
    }
    if (b->data == NULL && !p2n_buf_reserve(b, 0))
        return NULL;
    char *p = (char *)b->data;
    p2n_buf_init(b);
    return p;
}
