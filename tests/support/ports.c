#include "ports.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static unsigned ephemeral_low(void)
{
    unsigned lo = 32768;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f) {
        if (fscanf(f, "%u", &lo) != 1)
            lo = 32768;
        fclose(f);
    }
    return lo;
}

uint16_t test_free_port(void)
{
    unsigned lo = 20000, hi = ephemeral_low();
    hi = hi > lo + 1000 ? hi - 1 : 32000;
    if (hi > 32000)
        hi = 32000;
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid() * 2654435761u;
    for (int attempt = 0; attempt < 200; attempt++) {
        uint16_t port = (uint16_t)(lo + (unsigned)rand_r(&seed) % (hi - lo + 1));
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0)
            return 0;
        struct sockaddr_in a;
        memset(&a, 0, sizeof(a));
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(port);
        int ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
        close(fd);
        if (ok)
            return port;
    }
    return 0;
}
