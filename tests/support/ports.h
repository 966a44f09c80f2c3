/* Test support: ports for private servers and listeners. */
#ifndef P2N_TEST_PORTS_H
#define P2N_TEST_PORTS_H

#include <stdint.h>

/* A loopback TCP port nothing holds, below the kernel's ephemeral range (see scripts/free-port:
   a free-looking port inside it can become the local end of an outgoing connection before the
   server binds it). 0 if none was found. */
uint16_t test_free_port(void);

#endif
