/* Exponential backoff with jitter; the retry policy of runner and reconnect loops. */
#include "common/backoff.h"

#include <time.h>
#include <unistd.h>

void p2n_backoff_init(P2nBackoff *b, uint32_t base_ms, uint32_t cap_ms, double jitter)
{
    b->base_ms = base_ms ? base_ms : 1;
    b->cap_ms = cap_ms < b->base_ms ? b->base_ms : cap_ms;
    b->jitter = jitter < 0 ? 0 : (jitter > 1 ? 1 : jitter);
    if (b->rng == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        b->rng = ((uint64_t)ts.tv_nsec << 16) ^ (uint64_t)getpid() ^ (uint64_t)ts.tv_sec;
        if (b->rng == 0)
            b->rng = 0x9E3779B97F4A7C15ull;
    }
}

uint32_t p2n_backoff_ceiling_ms(uint32_t base_ms, uint32_t cap_ms, uint32_t attempt)
{
    if (attempt == 0)
        return 0;
    uint64_t d = base_ms;
    for (uint32_t i = 1; i < attempt && d < cap_ms; i++)
        d *= 2;
    return d > cap_ms ? cap_ms : (uint32_t)d;
}

static uint64_t xorshift64(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

uint32_t p2n_backoff_delay_ms(P2nBackoff *b, uint32_t attempt)
{
    uint32_t ceil = p2n_backoff_ceiling_ms(b->base_ms, b->cap_ms, attempt);
    if (ceil == 0 || b->jitter <= 0)
        return ceil;
    double span = (double)ceil * b->jitter;
    double r = (double)(xorshift64(&b->rng) >> 11) / 9007199254740992.0; /* [0,1) */
    return (uint32_t)((double)ceil - span * r);
}
