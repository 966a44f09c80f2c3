/* Clock helpers. */
#include "common/time.h"

#include <errno.h>
#include <time.h>

static int64_t ts_us(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t p2n_now_mono_ms(void) { return ts_us(CLOCK_MONOTONIC) / 1000; }
int64_t p2n_now_mono_us(void) { return ts_us(CLOCK_MONOTONIC); }
int64_t p2n_now_wall_ms(void) { return ts_us(CLOCK_REALTIME) / 1000; }

void p2n_sleep_ms(int64_t ms, volatile int *stop)
{
    int64_t end = p2n_now_mono_ms() + ms;
    for (;;) {
        int64_t left = end - p2n_now_mono_ms();
        if (left <= 0 || (stop != NULL && *stop))
            return;
        if (left > 100 && stop != NULL)
            left = 100; /* wake now and then to notice *stop */
        struct timespec ts = {.tv_sec = left / 1000, .tv_nsec = (left % 1000) * 1000000};
        if (nanosleep(&ts, NULL) != 0 && errno != EINTR)
            return;
    }
}
