/*
 * The embedded HTTP server of `pg2neo run` (libmicrohttpd, a pool of internal threads).
 *
 *   GET /                the dashboard (web/index.html, built into the binary; holds no data)
 *   GET /api/sync/status status JSON from the provider (application/json)
 *   GET /metrics         Prometheus text 0.0.4: the registry, after the provider refilled its gauges
 *   GET /healthz         200 while the process serves requests
 *   GET /readyz          200 when the provider says PostgreSQL and Neo4j are reachable, else 503
 * Anything else is 404; methods other than GET and HEAD get 405. With a bearer token set, every
 * path except / and /healthz needs "Authorization: Bearer <token>" (compared in constant time),
 * else 401.
 *
 * Abuse: binds to 127.0.0.1 unless told otherwise; bounded connections, per-connection memory
 * (which bounds the request header: larger headers get 431), an idle timeout, and a request
 * deadline: a client that has not sent a complete request (header and any body) within
 * request_timeout_ms of connecting (or of its previous response) is disconnected, however
 * slowly it trickles bytes.
 * Every body produced from provider data passes p2n_log_redact() before it leaves.
 *
 * The provider's callbacks run on the server's threads, possibly two at once: they must be
 * thread-safe. fill_metrics and the rendering of /metrics are serialised by the server.
 */
#ifndef P2N_HTTP_SERVER_H
#define P2N_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/metrics.h"

typedef struct HttpProvider {
    void *ctx;
    /* Appends the status JSON (http_status_render builds it) to out; 0 or a P2N_E* code (-> 503). */
    int (*status_json)(void *ctx, P2nBuf *out);
    /* 1 when PostgreSQL and Neo4j are both reachable, else 0. */
    int (*ready)(void *ctx);
    /* Refreshes provider-owned gauges of reg before a /metrics render; may be NULL. */
    int (*fill_metrics)(void *ctx, P2nMetrics *reg);
} HttpProvider;

typedef struct HttpConfig {
    const char *bind_addr;        /* IPv4 or IPv6 literal; NULL = "127.0.0.1" */
    uint16_t port;                /* 0 = any free port (see http_server_port) */
    const char *bearer_token;     /* NULL or "" = no authentication */
    unsigned threads;             /* worker threads (default 2) */
    unsigned max_connections;     /* concurrent connections (default 64) */
    unsigned per_ip_connections;  /* per client address; 0 = no limit (default) */
    unsigned idle_timeout_s;      /* inactivity timeout (default 10) */
    unsigned request_timeout_ms;  /* deadline for a complete request, header and body (default 5000) */
    size_t conn_memory_limit;     /* per connection, bounds the header size (default 32 KiB) */
} HttpConfig;

typedef struct HttpServer HttpServer;

/* Fills the defaults above. */
void http_config_defaults(HttpConfig *cfg);

/*
 * Starts serving. provider is copied; metrics (may be NULL: /metrics then only shows the
 * server's own counters in a private registry) must outlive the server. The server registers
 * pg2neo_http_requests_total{code} and pg2neo_http_slow_clients_dropped_total in it when absent.
 * Returns 0, or P2N_EINVAL (bad address), P2N_EIO (could not bind: the message names the
 * address), P2N_ENOMEM.
 */
int http_server_start(const HttpConfig *cfg, const HttpProvider *provider, P2nMetrics *metrics,
                      HttpServer **out, P2nErr *err);

/* The port the server listens on (useful with port 0). */
uint16_t http_server_port(const HttpServer *s);

/* Clients disconnected so far for not completing a request in time. */
uint64_t http_server_dropped(const HttpServer *s);

/* Connections open now (as MHD reported them). */
unsigned http_server_connections(const HttpServer *s);

/* Stops accepting, closes connections, joins the threads and frees the server. NULL is ignored. */
void http_server_stop(HttpServer *s);

#endif
