/*
 * Fuzz target: arbitrary bytes sent to the HTTP server (src/http/server.c over libmicrohttpd) on
 * loopback. A server with a bearer token and small limits is started once; each input is sent on
 * a new connection, the write side is closed, and the answer is read. Whatever the bytes, the
 * answer must be nothing or a well-formed HTTP/1.x status line within 5 s, a 2xx without the token
 * must carry only public content ("ok" or the dashboard page), and the server must still answer
 * /healthz afterwards.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/time.h"
#include "http/server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static HttpServer *g_srv;
static P2nMetrics *g_reg;

static int fz_status(void *ctx, P2nBuf *out)
{
    (void)ctx;
    p2n_buf_append_str(out, "{\"initialized\":true}");
    return 0;
}

static int fz_ready(void *ctx)
{
    (void)ctx;
    return 1;
}

static void stop_at_exit(void)
{
    http_server_stop(g_srv);
    p2n_metrics_free(g_reg);
}

static void start_once(void)
{
    if (g_srv != NULL)
        return;
    p2n_log_set_level(P2N_LOG_OFF);
    g_reg = p2n_metrics_new();
    HttpConfig cfg;
    http_config_defaults(&cfg);
    cfg.bearer_token = "fuzz-token";
    cfg.request_timeout_ms = 1000;
    cfg.conn_memory_limit = 8192;
    HttpProvider p = {NULL, fz_status, fz_ready, NULL};
    P2nErr err;
    if (http_server_start(&cfg, &p, g_reg, &g_srv, &err) != 0) {
        fprintf(stderr, "fuzz_http_request: %s\n", err.msg);
        abort();
    }
    atexit(stop_at_exit);
}

/* Sends data, closes the write side, reads the whole answer into buf (NUL-terminated). */
static size_t exchange(const void *data, size_t size, char *buf, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(http_server_port(g_srv)),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    /* no TIME-WAIT on our side: at thousands of connections a second it would use up the
       ephemeral ports, and connect() would fail for the harness's reasons, not the server's */
    struct linger lg = {1, 0};
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) != 0)
        abort();
    int cr = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    if (cr != 0 && errno == EINTR) { /* a signal (libFuzzer's timers): the connect goes on */
        struct pollfd pw = {fd, POLLOUT, 0};
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (poll(&pw, 1, 5000) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
            cr = 0;
        else
            errno = soerr ? soerr : ETIMEDOUT;
    }
    if (cr != 0) {
        fprintf(stderr, "fuzz_http_request: connect: %s\n", strerror(errno));
        abort(); /* the server must keep accepting */
    }
    const char *p = data;
    size_t left = size;
    while (left > 0) {
        ssize_t w = send(fd, p, left, MSG_NOSIGNAL);
        if (w <= 0)
            break; /* the server may close early */
        p += w;
        left -= (size_t)w;
    }
    shutdown(fd, SHUT_WR);
    size_t len = 0;
    int64_t deadline = p2n_now_mono_ms() + 5000;
    for (;;) {
        int64_t ms = deadline - p2n_now_mono_ms();
        struct pollfd pfd = {fd, POLLIN, 0};
        int pr = ms > 0 ? poll(&pfd, 1, (int)ms) : 0;
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0) {
            fprintf(stderr, "fuzz_http_request: no answer and no close within 5 s\n");
            abort();
        }
        ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || len + (size_t)n >= cap - 1) {
            if (n > 0)
                len += (size_t)n;
            break;
        }
        len += (size_t)n;
    }
    buf[len] = '\0';
    close(fd);
    return len;
}

static void check_answer(const char *buf, size_t len, const uint8_t *req, size_t size)
{
    if (len == 0)
        return;
    if (len < 12 || strncmp(buf, "HTTP/1.", 7) != 0 || (buf[7] != '0' && buf[7] != '1') || buf[8] != ' ')
        abort();
    int code = atoi(buf + 9);
    if (code < 100 || code > 599)
        abort();
    /* Without the token, a 2xx may only carry what is public: "ok" or the dashboard page. The
       first answer is checked (pipelined requests after it get the same treatment by MHD). */
    if (code >= 200 && code < 300 && memmem(req, size, "fuzz-token", 10) == NULL) {
        const char *body = strstr(buf, "\r\n\r\n");
        if (body == NULL)
            abort();
        body += 4;
        bool public_body = *body == '\0' || strncmp(body, "ok\n", 3) == 0 || strncmp(body, "<!doctype html>", 15) == 0;
        if (!public_body)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    start_once();
    static char buf[1 << 17];
    size_t len = exchange(data, size, buf, sizeof(buf));
    check_answer(buf, len, data, size);
    static const char health[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    len = exchange(health, sizeof(health) - 1, buf, sizeof(buf));
    if (len < 12 || strncmp(buf, "HTTP/1.1 200", 12) != 0)
        abort();
    return 0;
}
