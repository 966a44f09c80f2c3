/*
 * Bolt message framing, pure code (no sockets): a message travels as chunks `u16 size | bytes`
 * (size 1..65535) and ends with `00 00`. A lone `00 00` between messages is a NOOP keep-alive.
 */
#ifndef P2N_BOLT_CHUNK_H
#define P2N_BOLT_CHUNK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"

#define BOLT_MAX_CHUNK 65535
#define BOLT_DEFAULT_MAX_MESSAGE ((size_t)256 * 1024 * 1024)

/*
 * Appends msg[0..len) to out as chunks of at most BOLT_MAX_CHUNK bytes, then the `00 00` end
 * marker. One reserve for the whole frame; out->failed reports out-of-memory. An empty message
 * (len 0) gives just `00 00`, which the peer reads as a NOOP.
 */
void bolt_chunk_message(P2nBuf *out, const uint8_t *msg, size_t len);

/* Reassembles messages from a byte stream fed in pieces of any size. Caller-owned: init/free. */
typedef struct BoltDechunker {
    P2nBuf msg;         /* the message being assembled (or the complete one when ready) */
    size_t max_message; /* a message longer than this fails with P2N_ETOOBIG */
    size_t remaining;   /* bytes still to copy of the current chunk */
    uint8_t state;      /* internal: header byte 1, header byte 2, chunk body */
    uint8_t size_hi;    /* first byte of a chunk header */
    bool in_message;    /* at least one non-empty chunk of the current message seen */
    bool ready;         /* a complete message waits in msg */
    bool broken;        /* an error was returned: the stream cannot be resynchronised */
} BoltDechunker;

/* max_message 0 = BOLT_DEFAULT_MAX_MESSAGE (256 MiB). */
void bolt_dechunker_init(BoltDechunker *d, size_t max_message);
void bolt_dechunker_free(BoltDechunker *d);

/*
 * Feeds bytes; *used = bytes consumed (always set). Returns 1 when a complete message is ready
 * (bolt_dechunker_message gives it; the rest of the input is not consumed: call
 * bolt_dechunker_next, then feed the rest), 0 when all input was consumed and more is needed,
 * <0 on error: P2N_ETOOBIG (message over max_message), P2N_ENOMEM, or P2N_EPROTO when called
 * again after an error. NOOP chunks (lone 00 00 between messages) are skipped. While a message is
 * ready, feeding consumes nothing and returns 1 again.
 */
int bolt_dechunker_feed(BoltDechunker *d, const uint8_t *data, size_t len, size_t *used, P2nErr *err);

/* The complete message (valid until bolt_dechunker_next/free), or NULL when none is ready. */
const uint8_t *bolt_dechunker_message(const BoltDechunker *d, size_t *len);

/* Drops the current message and starts the next (keeps the memory unless it grew large). */
void bolt_dechunker_next(BoltDechunker *d);

#endif
