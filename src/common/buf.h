/*
 * A growable byte buffer. Appends never fail loudly: on allocation failure (or past max) the
 * buffer sets `failed` and ignores further appends, and the caller checks once at the end
 * (libpq's PQExpBuffer and pgbouncer's PktBuf do the same).
 */
#ifndef P2N_COMMON_BUF_H
#define P2N_COMMON_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct P2nBuf {
    uint8_t *data; /* from malloc(); always NUL-terminated past len when cap > 0 */
    size_t len;
    size_t cap;
    size_t max;    /* 0 = unlimited; growth beyond it fails the buffer */
    bool failed;
} P2nBuf;

void p2n_buf_init(P2nBuf *b);
void p2n_buf_free(P2nBuf *b);           /* frees data; the struct may be reused after init */
void p2n_buf_reset(P2nBuf *b);          /* len = 0, failed = false; keeps the memory */
bool p2n_buf_reserve(P2nBuf *b, size_t extra);
void p2n_buf_append(P2nBuf *b, const void *data, size_t n);
void p2n_buf_append_byte(P2nBuf *b, uint8_t c);
void p2n_buf_append_str(P2nBuf *b, const char *s);
void p2n_buf_printf(P2nBuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void p2n_buf_append_be16(P2nBuf *b, uint16_t v);
void p2n_buf_append_be32(P2nBuf *b, uint32_t v);
void p2n_buf_append_be64(P2nBuf *b, uint64_t v);
/* Removes the first n bytes. */
void p2n_buf_consume(P2nBuf *b, size_t n);
/* Hands the data to the caller (who frees it) and re-initialises the buffer. NULL if failed. */
char *p2n_buf_steal(P2nBuf *b);

#endif
