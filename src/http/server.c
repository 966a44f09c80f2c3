/*
 * The embedded HTTP server: libmicrohttpd with a thread pool, routes for the status API,
 * /metrics, health, readiness and the dashboard, bearer-token checks, and a reaper thread that
 * disconnects clients which do not finish their request (header and body) in time (slowloris).
 */
#include "http/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#include "common/embedded.h"
#include "common/log.h"
#include "common/time.h"

/* One TCP connection, tracked from MHD's STARTED to its CLOSED notification. */
typedef struct HttpConn {
    int fd;
    int64_t deadline_ms;  /* the request must be complete by then (monotonic) */
    bool request_done;    /* the current request was read whole (header and any body) */
    bool dropped;
    struct HttpConn *prev, *next;
} HttpConn;

struct HttpServer {
    struct MHD_Daemon *mhd;
    HttpProvider provider;
    P2nMetrics *metrics;
    P2nMetrics *own_metrics;     /* when the caller gave none */
    P2nMetric *requests;         /* pg2neo_http_requests_total{code} */
    P2nMetric *dropped_metric;   /* pg2neo_http_slow_clients_dropped_total */
    char *token;
    size_t token_len;
    unsigned request_timeout_ms;
    uint16_t port;
    pthread_mutex_t scrape_lock; /* serialises fill_metrics + render */

    pthread_mutex_t conn_lock;
    HttpConn *conns;
    uint64_t dropped;

    pthread_t reaper;
    bool reaper_started;
    pthread_mutex_t stop_lock;
    pthread_cond_t stop_cond;
    bool stopping;
};

void http_config_defaults(HttpConfig *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->bind_addr = "127.0.0.1";
    cfg->threads = 2;
    cfg->max_connections = 64;
    cfg->per_ip_connections = 0;
    cfg->idle_timeout_s = 10;
    cfg->request_timeout_ms = 5000;
    cfg->conn_memory_limit = 32 * 1024;
}

/* ---- connection tracking and the reaper ---------------------------------------------------- */

static void on_connection(void *cls, struct MHD_Connection *connection, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    HttpServer *s = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
        HttpConn *c = calloc(1, sizeof(*c));
        if (c == NULL || ci == NULL) {
            free(c);
            *socket_context = NULL;
            return;
        }
        c->fd = ci->connect_fd;
        c->deadline_ms = p2n_now_mono_ms() + s->request_timeout_ms;
        pthread_mutex_lock(&s->conn_lock);
        c->next = s->conns;
        if (s->conns != NULL)
            s->conns->prev = c;
        s->conns = c;
        pthread_mutex_unlock(&s->conn_lock);
        *socket_context = c;
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        HttpConn *c = *socket_context;
        if (c == NULL)
            return;
        /* MHD notifies before it closes the socket, so the reaper never touches a reused fd */
        pthread_mutex_lock(&s->conn_lock);
        if (c->prev != NULL)
            c->prev->next = c->next;
        else
            s->conns = c->next;
        if (c->next != NULL)
            c->next->prev = c->prev;
        pthread_mutex_unlock(&s->conn_lock);
        free(c);
        *socket_context = NULL;
    }
}

static HttpConn *conn_of(struct MHD_Connection *connection)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci != NULL ? ci->socket_context : NULL;
}

/* A request finished: the next one on this keep-alive connection gets a fresh deadline. */
static void on_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)con_cls;
    (void)toe;
    HttpServer *s = cls;
    HttpConn *c = conn_of(connection);
    if (c == NULL)
        return;
    pthread_mutex_lock(&s->conn_lock);
    c->request_done = false;
    c->deadline_ms = p2n_now_mono_ms() + s->request_timeout_ms;
    pthread_mutex_unlock(&s->conn_lock);
}

static void *reaper_main(void *arg)
{
    HttpServer *s = arg;
    int64_t period = s->request_timeout_ms / 4;
    if (period > 250)
        period = 250;
    if (period < 20)
        period = 20;
    pthread_mutex_lock(&s->stop_lock);
    while (!s->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)(period % 1000) * 1000000L;
        ts.tv_sec += (time_t)(period / 1000) + ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&s->stop_cond, &s->stop_lock, &ts);
        if (s->stopping)
            break;
        pthread_mutex_unlock(&s->stop_lock);
        int64_t now = p2n_now_mono_ms();
        uint64_t n = 0;
        pthread_mutex_lock(&s->conn_lock);
        for (HttpConn *c = s->conns; c != NULL; c = c->next) {
            if (!c->request_done && !c->dropped && now > c->deadline_ms) {
                shutdown(c->fd, SHUT_RDWR); /* MHD sees EOF and closes the connection itself */
                c->dropped = true;
                n++;
            }
        }
        s->dropped += n;
        pthread_mutex_unlock(&s->conn_lock);
        if (n > 0) {
            p2n_metric_add1(s->dropped_metric, NULL, (double)n);
            P2N_DEBUG("http: dropped slow clients", "count=%llu", (unsigned long long)n);
        }
        pthread_mutex_lock(&s->stop_lock);
    }
    pthread_mutex_unlock(&s->stop_lock);
    return NULL;
}

/* ---- responses --------------------------------------------------------------------------- */

static void add_common_headers(struct MHD_Response *r, const char *ctype)
{
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
}

static enum MHD_Result respond(HttpServer *s, struct MHD_Connection *conn, unsigned code, const char *ctype,
                               char *body, size_t len, enum MHD_ResponseMemoryMode mode,
                               void (*extra)(struct MHD_Response *))
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    if (r == NULL) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(body);
        return MHD_NO;
    }
    add_common_headers(r, ctype);
    if (extra != NULL)
        extra(r);
    enum MHD_Result ret = MHD_queue_response(conn, code, r);
    MHD_destroy_response(r);
    char c[8];
    snprintf(c, sizeof(c), "%u", code);
    p2n_metric_add1(s->requests, c, 1);
    return ret;
}

static enum MHD_Result respond_text(HttpServer *s, struct MHD_Connection *conn, unsigned code, const char *text,
                                    void (*extra)(struct MHD_Response *))
{
    return respond(s, conn, code, "text/plain; charset=utf-8", (char *)(uintptr_t)text, strlen(text),
                   MHD_RESPMEM_PERSISTENT, extra);
}

/* Sends a P2nBuf's contents (redacted), or 503 when it failed. */
static enum MHD_Result respond_buf(HttpServer *s, struct MHD_Connection *conn, P2nBuf *b, const char *ctype)
{
    if (b->failed) {
        p2n_buf_free(b);
        return respond_text(s, conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory\n", NULL);
    }
    size_t len = b->len;
    char *data = len > 0 ? p2n_buf_steal(b) : NULL;
    p2n_buf_free(b);
    if (data != NULL) {
        p2n_log_redact(data);
        len = strlen(data); /* masking may shorten it */
    }
    return respond(s, conn, MHD_HTTP_OK, ctype, data, data ? len : 0, MHD_RESPMEM_MUST_FREE, NULL);
}

static void hdr_allow(struct MHD_Response *r) { MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD"); }

static void hdr_auth(struct MHD_Response *r)
{
    MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"pg2neo\"");
}

static void hdr_page(struct MHD_Response *r)
{
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                            "connect-src 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
}

/* Constant-time in the length of the expected token. */
static bool token_equal(const char *given, size_t glen, const char *want, size_t wlen)
{
    volatile unsigned char diff = (unsigned char)(glen != wlen);
    for (size_t i = 0; i < wlen; i++)
        diff |= (unsigned char)(want[i] ^ (glen > 0 ? given[i % glen] : 0));
    return diff == 0;
}

static bool authorized(HttpServer *s, struct MHD_Connection *conn)
{
    if (s->token == NULL)
        return true;
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
        return false;
    h += 7;
    while (*h == ' ')
        h++;
    size_t len = strlen(h);
    while (len > 0 && (h[len - 1] == ' ' || h[len - 1] == '\t'))
        len--;
    return token_equal(h, len, s->token, s->token_len);
}

static enum MHD_Result serve_metrics(HttpServer *s, struct MHD_Connection *conn)
{
    P2nBuf b;
    p2n_buf_init(&b);
    pthread_mutex_lock(&s->scrape_lock);
    if (s->provider.fill_metrics != NULL) {
        int rc = s->provider.fill_metrics(s->provider.ctx, s->metrics);
        if (rc != 0)
            P2N_DEBUG("http: provider could not fill metrics", "error=\"%s\"", p2n_strerror(rc));
    }
    p2n_metrics_render(s->metrics, &b);
    pthread_mutex_unlock(&s->scrape_lock);
    return respond_buf(s, conn, &b, "text/plain; version=0.0.4; charset=utf-8");
}

static enum MHD_Result serve_status(HttpServer *s, struct MHD_Connection *conn)
{
    if (s->provider.status_json == NULL)
        return respond_text(s, conn, MHD_HTTP_SERVICE_UNAVAILABLE, "no status provider\n", NULL);
    P2nBuf b;
    p2n_buf_init(&b);
    int rc = s->provider.status_json(s->provider.ctx, &b);
    if (rc != 0) {
        p2n_buf_free(&b);
        char msg[160];
        snprintf(msg, sizeof(msg), "{\"error\":\"status unavailable: %s\"}", p2n_strerror(rc));
        char *body = strdup(msg);
        if (body == NULL)
            return MHD_NO;
        return respond(s, conn, MHD_HTTP_SERVICE_UNAVAILABLE, "application/json", body, strlen(body),
                       MHD_RESPMEM_MUST_FREE, NULL);
    }
    return respond_buf(s, conn, &b, "application/json");
}

static enum MHD_Result serve_page(HttpServer *s, struct MHD_Connection *conn)
{
    const P2nEmbeddedFile *f = p2n_embedded_find("web/index.html");
    if (f == NULL)
        return respond_text(s, conn, MHD_HTTP_NOT_FOUND, "dashboard not built in\n", NULL);
    return respond(s, conn, MHD_HTTP_OK, "text/html; charset=utf-8", (char *)(uintptr_t)f->data, f->size,
                   MHD_RESPMEM_PERSISTENT, hdr_page);
}

/* The request has been read (or refused): the request deadline no longer applies. */
static void mark_request_done(HttpServer *s, struct MHD_Connection *conn)
{
    HttpConn *c = conn_of(conn);
    if (c == NULL)
        return;
    pthread_mutex_lock(&s->conn_lock);
    c->request_done = true;
    pthread_mutex_unlock(&s->conn_lock);
}

static enum MHD_Result route(HttpServer *s, struct MHD_Connection *conn, const char *url)
{
    bool open = strcmp(url, "/healthz") == 0 || strcmp(url, "/") == 0;
    if (!open && !authorized(s, conn))
        return respond_text(s, conn, MHD_HTTP_UNAUTHORIZED, "unauthorized\n", hdr_auth);
    if (strcmp(url, "/healthz") == 0)
        return respond_text(s, conn, MHD_HTTP_OK, "ok\n", NULL);
    if (strcmp(url, "/readyz") == 0) {
        int ready = s->provider.ready != NULL ? s->provider.ready(s->provider.ctx) : 0;
        return ready == 1 ? respond_text(s, conn, MHD_HTTP_OK, "ready\n", NULL)
                          : respond_text(s, conn, MHD_HTTP_SERVICE_UNAVAILABLE, "not ready\n", NULL);
    }
    if (strcmp(url, "/metrics") == 0)
        return serve_metrics(s, conn);
    if (strcmp(url, "/api/sync/status") == 0)
        return serve_status(s, conn);
    if (strcmp(url, "/") == 0)
        return serve_page(s, conn);
    return respond_text(s, conn, MHD_HTTP_NOT_FOUND, "not found\n", NULL);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    (void)upload_data;
    HttpServer *s = cls;
    if (*con_cls == NULL) {
        /* First call: the header is complete. Other methods are refused at once (MHD then
           closes the connection instead of reading a body we do not want); GET and HEAD are
           answered on the last call, once MHD has read the whole request, so that the
           connection can be kept alive. Until then the request deadline still applies, so a
           client trickling a body is dropped like one trickling its header. */
        *con_cls = s;
        bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
        if (!get) {
            mark_request_done(s, conn);
            return respond_text(s, conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n", hdr_allow);
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        *upload_data_size = 0; /* a body on a GET: read and ignored */
        return MHD_YES;
    }
    mark_request_done(s, conn);
    return route(s, conn, url);
}

/* URL unescaping that refuses an encoded NUL: a URL with "%00" stays as it is, so "/%00" is a 404
   and never "/" (libmicrohttpd's own unescaping would cut the string at the NUL). */
static size_t on_unescape(void *cls, struct MHD_Connection *conn, char *val)
{
    (void)cls;
    (void)conn;
    for (const char *p = strchr(val, '%'); p != NULL; p = strchr(p + 1, '%'))
        if (p[1] == '0' && p[2] == '0')
            return strlen(val);
    return MHD_http_unescape(val);
}

__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    for (char *c = msg; *c; c++)
        if (*c == '"' || *c == '\\')
            *c = '\'';
    P2N_DEBUG("http: libmicrohttpd", "detail=\"%s\"", msg);
}

/* ---- start and stop ---------------------------------------------------------------------- */

static void server_free(HttpServer *s)
{
    if (s == NULL)
        return;
    if (s->token != NULL) {
        memset(s->token, 0, s->token_len);
        free(s->token);
    }
    p2n_metrics_free(s->own_metrics);
    pthread_mutex_destroy(&s->scrape_lock);
    pthread_mutex_destroy(&s->conn_lock);
    pthread_mutex_destroy(&s->stop_lock);
    pthread_cond_destroy(&s->stop_cond);
    free(s);
}

static int ensure_metric(P2nMetrics *r, P2nMetricType t, const char *name, const char *help, const char *labels,
                         P2nMetric **out, P2nErr *err)
{
    *out = p2n_metrics_find(r, name);
    if (*out != NULL)
        return 0;
    return p2n_metrics_register(r, t, name, help, labels, NULL, 0, out, err);
}

int http_server_start(const HttpConfig *cfg_in, const HttpProvider *provider, P2nMetrics *metrics,
                      HttpServer **out, P2nErr *err)
{
    *out = NULL;
    HttpConfig cfg;
    http_config_defaults(&cfg);
    if (cfg_in != NULL) {
        cfg = *cfg_in;
        HttpConfig d;
        http_config_defaults(&d);
        if (cfg.bind_addr == NULL || cfg.bind_addr[0] == '\0')
            cfg.bind_addr = d.bind_addr;
        if (cfg.threads == 0)
            cfg.threads = d.threads;
        if (cfg.max_connections == 0)
            cfg.max_connections = d.max_connections;
        if (cfg.idle_timeout_s == 0)
            cfg.idle_timeout_s = d.idle_timeout_s;
        if (cfg.request_timeout_ms == 0)
            cfg.request_timeout_ms = d.request_timeout_ms;
        if (cfg.conn_memory_limit == 0)
            cfg.conn_memory_limit = d.conn_memory_limit;
    }
    if (cfg.conn_memory_limit < 4096)
        return p2n_err_set(err, P2N_EINVAL, "HTTP connection memory limit must be at least 4096 bytes");

    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG;
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, cfg.bind_addr, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(cfg.port);
    } else if (inet_pton(AF_INET6, cfg.bind_addr, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(cfg.port);
        flags |= MHD_USE_IPv6;
    } else {
        return p2n_err_set(err, P2N_EINVAL, "invalid HTTP bind address \"%s\": expected an IPv4 or IPv6 address",
                           cfg.bind_addr);
    }

    HttpServer *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    pthread_mutex_init(&s->scrape_lock, NULL);
    pthread_mutex_init(&s->conn_lock, NULL);
    pthread_mutex_init(&s->stop_lock, NULL);
    pthread_cond_init(&s->stop_cond, NULL);
    if (provider != NULL)
        s->provider = *provider;
    s->request_timeout_ms = cfg.request_timeout_ms;
    if (cfg.bearer_token != NULL && cfg.bearer_token[0] != '\0') {
        s->token = strdup(cfg.bearer_token);
        if (s->token == NULL) {
            server_free(s);
            return p2n_err_set(err, P2N_ENOMEM, "out of memory");
        }
        s->token_len = strlen(s->token);
        p2n_log_add_secret(s->token);
    }
    s->metrics = metrics;
    if (s->metrics == NULL) {
        s->own_metrics = p2n_metrics_new();
        s->metrics = s->own_metrics;
        if (s->metrics == NULL) {
            server_free(s);
            return p2n_err_set(err, P2N_ENOMEM, "out of memory");
        }
    }
    int rc = ensure_metric(s->metrics, P2N_METRIC_COUNTER, "pg2neo_http_requests_total",
                           "HTTP requests answered, by status code", "code", &s->requests, err);
    if (rc == 0)
        rc = ensure_metric(s->metrics, P2N_METRIC_COUNTER, "pg2neo_http_slow_clients_dropped_total",
                           "Clients disconnected for not sending a complete request in time", NULL,
                           &s->dropped_metric, err);
    if (rc != 0) {
        server_free(s);
        return rc;
    }

    unsigned pool = cfg.threads > 1 ? cfg.threads : 0;
    s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
                              MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                              MHD_OPTION_THREAD_POOL_SIZE, pool,
                              MHD_OPTION_CONNECTION_LIMIT, cfg.max_connections,
                              MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg.per_ip_connections,
                              MHD_OPTION_CONNECTION_TIMEOUT, cfg.idle_timeout_s,
                              MHD_OPTION_CONNECTION_MEMORY_LIMIT, cfg.conn_memory_limit,
                              MHD_OPTION_LISTEN_BACKLOG_SIZE, 128u,
                              MHD_OPTION_STRICT_FOR_CLIENT, 1,
                              MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                              MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
                              MHD_OPTION_UNESCAPE_CALLBACK, on_unescape, s,
                              MHD_OPTION_END);
    if (s->mhd == NULL) {
        rc = p2n_err_set(err, P2N_EIO, "could not start the HTTP server on %s port %u (address in use?)",
                         cfg.bind_addr, (unsigned)cfg.port);
        server_free(s);
        return rc;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di != NULL && di->port != 0 ? di->port : cfg.port;
    if (pthread_create(&s->reaper, NULL, reaper_main, s) == 0)
        s->reaper_started = true;
    else
        P2N_WARN("http: could not start the slow-client reaper", "%s", "");
    P2N_INFO("http server listening", "address=%s port=%u auth=%s", cfg.bind_addr, (unsigned)s->port,
             s->token ? "bearer" : "none");
    bool loopback = (ss.ss_family == AF_INET && (ntohl(sin->sin_addr.s_addr) >> 24) == 127) ||
                    (ss.ss_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
    if (!loopback && s->token == NULL)
        P2N_WARN("http server reachable from other hosts without a token: anyone who can reach it reads the "
                 "status, metrics and failure messages",
                 "address=%s port=%u hint=\"require a token (pg2neo run --http-token-file FILE) or bind to 127.0.0.1\"",
                 cfg.bind_addr, (unsigned)s->port);
    *out = s;
    return 0;
}

uint16_t http_server_port(const HttpServer *s) { return s->port; }

uint64_t http_server_dropped(const HttpServer *s)
{
    HttpServer *m = (HttpServer *)(uintptr_t)s;
    pthread_mutex_lock(&m->conn_lock);
    uint64_t n = m->dropped;
    pthread_mutex_unlock(&m->conn_lock);
    return n;
}

unsigned http_server_connections(const HttpServer *s)
{
    HttpServer *m = (HttpServer *)(uintptr_t)s;
    unsigned n = 0;
    pthread_mutex_lock(&m->conn_lock);
    for (const HttpConn *c = m->conns; c != NULL; c = c->next)
        n++;
    pthread_mutex_unlock(&m->conn_lock);
    return n;
}

void http_server_stop(HttpServer *s)
{
    if (s == NULL)
        return;
    if (s->reaper_started) {
        pthread_mutex_lock(&s->stop_lock);
        s->stopping = true;
        pthread_cond_signal(&s->stop_cond);
        pthread_mutex_unlock(&s->stop_lock);
        pthread_join(s->reaper, NULL);
    }
    MHD_stop_daemon(s->mhd);
    /* MHD reported every connection closed; anything left was never tracked by us */
    while (s->conns != NULL) {
        HttpConn *c = s->conns;
        s->conns = c->next;
        free(c);
    }
    server_free(s);
}
