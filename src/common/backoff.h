/* Exponential backoff with full jitter: delay = rand(base*2^(attempt-1) * [1-j, 1]) capped at cap. */
#ifndef P2N_COMMON_BACKOFF_H
#define P2N_COMMON_BACKOFF_H

#include <stdint.h>

typedef struct P2nBackoff {
    uint32_t base_ms;  /* first delay */
    uint32_t cap_ms;   /* largest delay */
    double jitter;     /* 0..1: fraction of the delay that is randomised */
    uint64_t rng;      /* xorshift state; 0 seeds from time and pid */
} P2nBackoff;

void p2n_backoff_init(P2nBackoff *b, uint32_t base_ms, uint32_t cap_ms, double jitter);

/* Delay before retry number `attempt` (1 = first retry). Pure given the rng state. */
uint32_t p2n_backoff_delay_ms(P2nBackoff *b, uint32_t attempt);

/* The un-jittered delay for attempt: min(cap, base * 2^(attempt-1)). */
uint32_t p2n_backoff_ceiling_ms(uint32_t base_ms, uint32_t cap_ms, uint32_t attempt);

#endif
