/*
 * systemd's notify protocol (sd_notify(3)) without libsystemd: a datagram to $NOTIFY_SOCKET.
 * With no NOTIFY_SOCKET (not started by systemd with Type=notify) every call does nothing.
 */
#ifndef P2N_COMMON_SDNOTIFY_H
#define P2N_COMMON_SDNOTIFY_H

#include <stdint.h>

/* Sends a state string such as "READY=1", "STOPPING=1", "WATCHDOG=1", "STATUS=...".
   Returns 1 if sent, 0 if there is no NOTIFY_SOCKET, or a negative P2N_E* code. */
int p2n_sd_notify(const char *state);

/* The watchdog interval systemd asks for ($WATCHDOG_USEC, for this pid), in ms; 0 = none. */
int64_t p2n_sd_watchdog_ms(void);

#endif
