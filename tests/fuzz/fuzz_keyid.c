/*
 * Fuzz target: the canonical key texts of common/keyid.h, which the logical decoder makes from
 * the text pgoutput sends. The first byte picks the key kind, the rest is the text. Properties:
 * an accepted text's canonical form is accepted again and unchanged (a fixed point), and for
 * dates and timestamps it names the same instant; a refused text appends nothing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/keyid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    P2nKeyKind k = (P2nKeyKind)(data[0] % (P2N_KEY_TIMESTAMPTZ + 1));
    /* an exact-size copy, so that any read past the text is caught */
    size_t n = size - 1;
    char *s = malloc(n ? n : 1);
    if (!s)
        return 0;
    memcpy(s, data + 1, n);
    P2nBuf a, b;
    p2n_buf_init(&a);
    p2n_buf_init(&b);
    if (p2n_key_text_normalise(k, s, n, &a) < 0) {
        if (a.len != 0)
            abort();
    } else if (!a.failed) {
        if (p2n_key_text_normalise(k, (const char *)a.data, a.len, &b) < 0 || b.len != a.len ||
            memcmp(a.data, b.data, a.len) != 0)
            abort();
        P2nKeyTime t1, t2;
        if (k >= P2N_KEY_DATE &&
            (p2n_key_text_parse_time(k, s, n, &t1) < 0 ||
             p2n_key_text_parse_time(k, (const char *)a.data, a.len, &t2) < 0 || t1.infinite != t2.infinite ||
             t1.days != t2.days || t1.usec != t2.usec))
            abort();
    }
    p2n_buf_free(&a);
    p2n_buf_free(&b);
    free(s);
    return 0;
}
