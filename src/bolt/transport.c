/*
 * The default Bolt transport: a non-blocking TCP socket driven with poll() so that connect, read
 * and write each honour a timeout, optionally wrapped in TLS by OpenSSL (bolt+s: chain and host
 * name verified; bolt+ssc: any certificate).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pthread.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "bolt/bolt.h"
#include "common/time.h"

struct BoltTransport {
    int fd;
    SSL_CTX *ctx; /* NULL without TLS */
    SSL *ssl;
};

/* Waits until fd is ready for events or the deadline (monotonic ms, < 0 = none) passes. */
static int wait_fd(int fd, short events, int64_t deadline, const char *what, P2nErr *err)
{
    for (;;) {
        int timeout = -1;
        if (deadline >= 0) {
            int64_t left = deadline - p2n_now_mono_ms();
            if (left <= 0)
                return p2n_err_set(err, P2N_ETIMEDOUT, "timed out while %s", what);
            timeout = left > 0x7fffffff ? 0x7fffffff : (int)left;
        }
        struct pollfd p = {.fd = fd, .events = events, .revents = 0};
        int rc = poll(&p, 1, timeout);
        if (rc > 0)
            return 0;
        if (rc == 0)
            continue; /* re-check the deadline */
        if (errno != EINTR)
            return p2n_err_set(err, P2N_EIO, "poll failed while %s: %s", what, strerror(errno));
    }
}

/*
 * OpenSSL writes to the socket with write(), which raises SIGPIPE when the server has gone away
 * and would kill a program that does not ignore it. As libpq does, block SIGPIPE in this thread
 * around TLS writes and swallow one that became pending because of us.
 */
typedef struct SigpipeGuard {
    sigset_t old;
    bool was_pending;
} SigpipeGuard;

static void sigpipe_block(SigpipeGuard *g)
{
    sigset_t pipe_set, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigemptyset(&pending);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &g->old);
    sigpending(&pending);
    g->was_pending = sigismember(&pending, SIGPIPE) == 1;
}

static void sigpipe_restore(SigpipeGuard *g, bool got_epipe)
{
    if (got_epipe && !g->was_pending) {
        sigset_t pipe_set;
        sigemptyset(&pipe_set);
        sigaddset(&pipe_set, SIGPIPE);
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

static int64_t deadline_of(int timeout_ms)
{
    return timeout_ms > 0 ? p2n_now_mono_ms() + timeout_ms : -1;
}

static const char *ssl_error_text(char *buf, size_t size)
{
    unsigned long e = ERR_get_error();
    if (e == 0) {
        snprintf(buf, size, "unknown TLS error");
        return buf;
    }
    ERR_error_string_n(e, buf, size);
    ERR_clear_error();
    return buf;
}

static void transport_free(BoltTransport *t)
{
    if (t == NULL)
        return;
    if (t->ssl != NULL)
        SSL_free(t->ssl);
    if (t->ctx != NULL)
        SSL_CTX_free(t->ctx);
    if (t->fd >= 0)
        close(t->fd);
    free(t);
}

static int tcp_connect(const char *host, uint16_t port, int64_t deadline, int *out_fd, P2nErr *err)
{
    char portstr[8];
    snprintf(portstr, sizeof(portstr), "%u", (unsigned)port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host, portstr, &hints, &res);
    if (gai != 0)
        return p2n_err_set(err, P2N_EIO, "could not resolve host name \"%s\": %s", host, gai_strerror(gai));
    int rc = P2N_EIO;
    char last[256] = "no address";
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0) {
            snprintf(last, sizeof(last), "%s", strerror(errno));
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            *out_fd = fd;
            freeaddrinfo(res);
            return 0;
        }
        if (errno == EINPROGRESS) {
            P2nErr werr;
            p2n_err_clear(&werr);
            rc = wait_fd(fd, POLLOUT, deadline, "connecting", &werr);
            if (rc == 0) {
                int soerr = 0;
                socklen_t len = sizeof(soerr);
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr == 0) {
                    *out_fd = fd;
                    freeaddrinfo(res);
                    return 0;
                }
                snprintf(last, sizeof(last), "%s", strerror(soerr));
                rc = P2N_EIO;
            } else {
                snprintf(last, sizeof(last), "%s", werr.msg);
                if (rc == P2N_ETIMEDOUT) {
                    close(fd);
                    break;
                }
            }
        } else {
            snprintf(last, sizeof(last), "%s", strerror(errno));
            rc = P2N_EIO;
        }
        close(fd);
    }
    freeaddrinfo(res);
    return p2n_err_set(err, rc == P2N_ETIMEDOUT ? P2N_ETIMEDOUT : P2N_EIO, "%s", last);
}

static bool host_is_ip(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* Drives a non-blocking SSL call: returns 1 to retry, 0 done, < 0 error. */
static int ssl_want(BoltTransport *t, int ret, int64_t deadline, const char *what, P2nErr *err)
{
    int e = SSL_get_error(t->ssl, ret);
    char buf[256];
    switch (e) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE: {
        int rc = wait_fd(t->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline, what, err);
        return rc == 0 ? 1 : rc;
    }
    case SSL_ERROR_ZERO_RETURN:
        return p2n_err_set(err, P2N_ECONNLOST, "server closed the connection");
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_error() == 0)
            return p2n_err_set(err, P2N_ECONNLOST, "server closed the connection%s%s",
                               errno ? ": " : "", errno ? strerror(errno) : "");
        return p2n_err_set(err, P2N_ECONNLOST, "TLS failure while %s: %s", what,
                           ssl_error_text(buf, sizeof(buf)));
    default:
        return p2n_err_set(err, P2N_ETLS, "TLS failure while %s: %s", what, ssl_error_text(buf, sizeof(buf)));
    }
}

static int tls_start(BoltTransport *t, const char *host, const BoltTlsOptions *tls, int64_t deadline,
                     P2nErr *err)
{
    char buf[256];
    ERR_clear_error();
    t->ctx = SSL_CTX_new(TLS_client_method());
    if (t->ctx == NULL)
        return p2n_err_set(err, P2N_ETLS, "could not create TLS context: %s", ssl_error_text(buf, sizeof(buf)));
    SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(t->ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
    if (tls->mode == BOLT_TLS_VERIFY) {
        int ok = tls->ca_file != NULL && tls->ca_file[0] != '\0'
                     ? SSL_CTX_load_verify_locations(t->ctx, tls->ca_file, NULL)
                     : SSL_CTX_set_default_verify_paths(t->ctx);
        if (ok != 1)
            return p2n_err_set(err, P2N_ETLS, "could not load trusted certificates%s%s%s: %s",
                               tls->ca_file ? " from \"" : "", tls->ca_file ? tls->ca_file : "",
                               tls->ca_file ? "\"" : "", ssl_error_text(buf, sizeof(buf)));
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
    } else {
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_NONE, NULL);
    }
    t->ssl = SSL_new(t->ctx);
    if (t->ssl == NULL || SSL_set_fd(t->ssl, t->fd) != 1)
        return p2n_err_set(err, P2N_ETLS, "could not set up TLS: %s", ssl_error_text(buf, sizeof(buf)));
    bool ip = host_is_ip(host);
    if (!ip) {
        char sni[256]; /* a non-const copy: the OpenSSL macro casts its argument to void * */
        snprintf(sni, sizeof(sni), "%s", host);
        SSL_set_tlsext_host_name(t->ssl, sni);
    }
    if (tls->mode == BOLT_TLS_VERIFY) {
        X509_VERIFY_PARAM *param = SSL_get0_param(t->ssl);
        int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host) : X509_VERIFY_PARAM_set1_host(param, host, 0);
        if (ok != 1)
            return p2n_err_set(err, P2N_ETLS, "could not set the host name to verify: %s",
                               ssl_error_text(buf, sizeof(buf)));
    }
    for (;;) {
        ERR_clear_error();
        SigpipeGuard g;
        sigpipe_block(&g);
        errno = 0;
        int ret = SSL_connect(t->ssl);
        sigpipe_restore(&g, ret <= 0 && errno == EPIPE);
        if (ret == 1)
            break;
        long vr = SSL_get_verify_result(t->ssl);
        if (vr != X509_V_OK && tls->mode == BOLT_TLS_VERIFY)
            return p2n_err_set(err, P2N_ETLS, "server certificate verification failed: %s",
                               X509_verify_cert_error_string(vr));
        int rc = ssl_want(t, ret, deadline, "doing the TLS handshake", err);
        if (rc == P2N_ECONNLOST || rc == P2N_ETLS) {
            char cause[sizeof(err->msg)];
            snprintf(cause, sizeof(cause), "%s", err->msg);
            return p2n_err_set(err, P2N_ETLS, "TLS handshake failed (does the server accept TLS on this port?): %s",
                               cause);
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int tcp_open(void *ctx, const char *host, uint16_t port, const BoltTlsOptions *tls, int timeout_ms,
                    BoltTransport **out, P2nErr *err)
{
    (void)ctx;
    *out = NULL;
    BoltTransport *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    t->fd = -1;
    int64_t deadline = deadline_of(timeout_ms);
    int rc = tcp_connect(host, port, deadline, &t->fd, err);
    if (rc == 0 && tls != NULL && tls->mode != BOLT_TLS_NONE)
        rc = tls_start(t, host, tls, deadline, err);
    if (rc < 0) {
        transport_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

static int tcp_read(BoltTransport *t, void *buf, size_t len, int timeout_ms, size_t *got, P2nErr *err)
{
    int64_t deadline = deadline_of(timeout_ms);
    *got = 0;
    for (;;) {
        if (t->ssl != NULL) {
            ERR_clear_error();
            int n = SSL_read(t->ssl, buf, len > 0x7fffffff ? 0x7fffffff : (int)len);
            if (n > 0) {
                *got = (size_t)n;
                return 0;
            }
            int rc = ssl_want(t, n, deadline, "reading from the server", err);
            if (rc < 0)
                return rc;
            continue;
        }
        ssize_t n = recv(t->fd, buf, len, 0);
        if (n > 0) {
            *got = (size_t)n;
            return 0;
        }
        if (n == 0)
            return p2n_err_set(err, P2N_ECONNLOST, "server closed the connection");
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN) {
            int rc = wait_fd(t->fd, POLLIN, deadline, "waiting for the server's reply", err);
            if (rc < 0)
                return rc;
            continue;
        }
        return p2n_err_set(err, P2N_ECONNLOST, "could not read from the server: %s", strerror(errno));
    }
}

static int tcp_write(BoltTransport *t, const void *buf, size_t len, int timeout_ms, size_t *written,
                     P2nErr *err)
{
    int64_t deadline = deadline_of(timeout_ms);
    const uint8_t *p = buf;
    size_t done = 0;
    *written = 0;
    while (done < len) {
        size_t chunk = len - done;
        if (t->ssl != NULL) {
            ERR_clear_error();
            SigpipeGuard g;
            sigpipe_block(&g);
            errno = 0;
            int n = SSL_write(t->ssl, p + done, chunk > 0x40000000 ? 0x40000000 : (int)chunk);
            sigpipe_restore(&g, n <= 0 && errno == EPIPE);
            if (n > 0) {
                done += (size_t)n;
                *written = done;
                continue;
            }
            int rc = ssl_want(t, n, deadline, "writing to the server", err);
            if (rc < 0)
                return rc;
            continue;
        }
        ssize_t n = send(t->fd, p + done, chunk, MSG_NOSIGNAL);
        if (n > 0) {
            done += (size_t)n;
            *written = done;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            int rc = wait_fd(t->fd, POLLOUT, deadline, "writing to the server", err);
            if (rc < 0)
                return rc;
            continue;
        }
        return p2n_err_set(err, P2N_ECONNLOST, "could not write to the server: %s",
                           n < 0 ? strerror(errno) : "nothing written");
    }
    return 0;
}

static void tcp_close(BoltTransport *t)
{
    if (t == NULL)
        return;
    if (t->ssl != NULL) {
        ERR_clear_error();
        SigpipeGuard g;
        sigpipe_block(&g);
        errno = 0;
        int rc = SSL_shutdown(t->ssl); /* best effort, non-blocking: one attempt */
        sigpipe_restore(&g, rc < 0 && errno == EPIPE);
        ERR_clear_error();
    }
    transport_free(t);
}

const BoltTransportOps bolt_tcp_transport = {tcp_open, tcp_read, tcp_write, tcp_close};
