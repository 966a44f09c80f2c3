/*
 * Bolt chunk framing: splits outgoing messages into chunks and reassembles incoming ones from a
 * byte stream fed in arbitrary pieces (one byte at a time works as well as whole buffers).
 */
#include "bolt/chunk.h"

#include <stdlib.h>
#include <string.h>

enum { DC_HDR1 = 0, DC_HDR2 = 1, DC_BODY = 2 };

/* Message buffers above this size are released after the message rather than kept for reuse. */
#define DC_KEEP_CAP ((size_t)1 << 20)

void bolt_chunk_message(P2nBuf *out, const uint8_t *msg, size_t len)
{
    size_t nchunks = len / BOLT_MAX_CHUNK + (len % BOLT_MAX_CHUNK != 0);
    if (len > SIZE_MAX / 2 || nchunks > (SIZE_MAX - len - 2) / 2) {
        out->failed = true;
        return;
    }
    if (!p2n_buf_reserve(out, len + 2 * nchunks + 2))
        return;
    uint8_t *p = out->data + out->len;
    while (len > 0) {
        size_t n = len < BOLT_MAX_CHUNK ? len : BOLT_MAX_CHUNK;
        p[0] = (uint8_t)(n >> 8);
        p[1] = (uint8_t)n;
        memcpy(p + 2, msg, n);
        p += 2 + n;
        msg += n;
        len -= n;
    }
    p[0] = 0;
    p[1] = 0;
    p += 2;
    out->len = (size_t)(p - out->data);
    out->data[out->len] = 0;
}

void bolt_dechunker_init(BoltDechunker *d, size_t max_message)
{
    memset(d, 0, sizeof(*d));
    p2n_buf_init(&d->msg);
    d->max_message = max_message ? max_message : BOLT_DEFAULT_MAX_MESSAGE;
    d->state = DC_HDR1;
}

void bolt_dechunker_free(BoltDechunker *d)
{
    if (d == NULL)
        return;
    p2n_buf_free(&d->msg);
    p2n_buf_init(&d->msg);
    d->ready = d->in_message = false;
    d->state = DC_HDR1;
    d->remaining = 0;
}

int bolt_dechunker_feed(BoltDechunker *d, const uint8_t *data, size_t len, size_t *used, P2nErr *err)
{
    size_t pos = 0;
    *used = 0;
    if (d->broken)
        return p2n_err_set(err, P2N_EPROTO, "Bolt stream unusable after an earlier framing error");
    if (d->ready)
        return 1;
    while (pos < len) {
        switch (d->state) {
        case DC_HDR1:
            d->size_hi = data[pos++];
            d->state = DC_HDR2;
            break;
        case DC_HDR2: {
            size_t size = ((size_t)d->size_hi << 8) | data[pos++];
            if (size == 0) {
                d->state = DC_HDR1;
                if (d->in_message) { /* end of message */
                    d->ready = true;
                    *used = pos;
                    return 1;
                }
                break; /* NOOP keep-alive between messages */
            }
            if (size > d->max_message - d->msg.len) {
                d->broken = true;
                *used = pos;
                return p2n_err_set(err, P2N_ETOOBIG,
                                   "Bolt message larger than the limit of %zu bytes", d->max_message);
            }
            if (!p2n_buf_reserve(&d->msg, size)) {
                d->broken = true;
                *used = pos;
                return p2n_err_set(err, P2N_ENOMEM, "out of memory reading a Bolt message of %zu bytes",
                                   d->msg.len + size);
            }
            d->remaining = size;
            d->in_message = true;
            d->state = DC_BODY;
            break;
        }
        default: { /* DC_BODY */
            size_t n = len - pos < d->remaining ? len - pos : d->remaining;
            memcpy(d->msg.data + d->msg.len, data + pos, n);
            d->msg.len += n;
            d->msg.data[d->msg.len] = 0;
            pos += n;
            d->remaining -= n;
            if (d->remaining == 0)
                d->state = DC_HDR1;
            break;
        }
        }
    }
    *used = pos;
    return 0;
}

const uint8_t *bolt_dechunker_message(const BoltDechunker *d, size_t *len)
{
    if (!d->ready) {
        if (len != NULL)
            *len = 0;
        return NULL;
    }
    if (len != NULL)
        *len = d->msg.len;
    return d->msg.data;
}

void bolt_dechunker_next(BoltDechunker *d)
{
    if (d->msg.cap > DC_KEEP_CAP) {
        p2n_buf_free(&d->msg);
        p2n_buf_init(&d->msg);
    } else {
        p2n_buf_reset(&d->msg);
    }
    d->ready = false;
    d->in_message = false;
}
