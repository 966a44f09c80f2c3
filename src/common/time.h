/* Clocks: monotonic for durations and deadlines, wall clock for records. */
#ifndef P2N_COMMON_TIME_H
#define P2N_COMMON_TIME_H

#include <stdint.h>

int64_t p2n_now_mono_ms(void);
int64_t p2n_now_mono_us(void);
int64_t p2n_now_wall_ms(void);
/* Sleeps ms milliseconds (restarts on EINTR unless *stop becomes non-zero; stop may be NULL). */
void p2n_sleep_ms(int64_t ms, volatile int *stop);

#endif
