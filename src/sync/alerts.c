/* Alert rules, their evaluator (ok/pending/firing with windows), JSON, and the webhook client. */
#include "sync/alerts.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/time.h"

#define FAIL_SAMPLES 1024
#define WEBHOOK_QUEUE 64

typedef struct FailSample {
    int64_t t_ms;
    int64_t total;
} FailSample;

typedef struct AlertRuleState {
    SyncAlertState state;
    int64_t since_ms;   /* when the condition began to hold (pending/firing) or when it resolved */
    int64_t fired_ms;   /* when it fired */
    double value;
} AlertRuleState;

struct SyncAlerts {
    pthread_mutex_t lock;
    SyncAlertConfig cfg;
    AlertRuleState st[SYNC_ALERT_COUNT];
    FailSample fails[FAIL_SAMPLES]; /* ring, oldest first from fail_head */
    size_t fail_head;
    size_t fail_n;
    /* the webhook worker (sync_alerts_set_webhook): a queue of JSON bodies POSTed in order */
    bool live;          /* sync_alerts_start: report logs and posts */
    bool wh_on, wh_stop; /* the worker thread runs / is asked to stop */
    pthread_t wh_thread;
    pthread_mutex_t wh_lock;
    pthread_cond_t wh_cond;
    char *wh_url, *wh_token;
    int wh_timeout_ms;
    char *wh_q[WEBHOOK_QUEUE];
    size_t wh_head, wh_n;
};

static const char *const alert_names[SYNC_ALERT_COUNT] = {
    "pending_entities", "failed_syncs",          "sync_latency",  "batch_duration",
    "conflicts",        "data_staleness_warning", "data_staleness",
};

static const char *const alert_severities[SYNC_ALERT_COUNT] = {
    "warning", "critical", "warning", "warning", "warning", "warning", "critical",
};

void sync_alert_config_defaults(SyncAlertConfig *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    for (int i = 0; i < SYNC_ALERT_COUNT; i++)
        cfg->rules[i].enabled = true;
    cfg->rules[SYNC_ALERT_PENDING_ENTITIES] = (SyncAlertRule){true, 100, 5 * 60 * 1000};
    cfg->rules[SYNC_ALERT_FAILED_SYNCS] = (SyncAlertRule){true, 5, 0};
    cfg->rules[SYNC_ALERT_SYNC_LATENCY] = (SyncAlertRule){true, 5, 0};
    cfg->rules[SYNC_ALERT_BATCH_DURATION] = (SyncAlertRule){true, 120, 0};
    cfg->rules[SYNC_ALERT_CONFLICTS] = (SyncAlertRule){true, 0, 0};
    cfg->rules[SYNC_ALERT_STALENESS_WARNING] = (SyncAlertRule){true, 3600, 0};
    cfg->rules[SYNC_ALERT_STALENESS] = (SyncAlertRule){true, 86400, 0};
    cfg->failed_window_ms = 3600 * 1000;
    cfg->batch_obs_max_age_ms = 5 * 60 * 1000;
}

const char *sync_alert_name(SyncAlertKind kind)
{
    return (unsigned)kind < SYNC_ALERT_COUNT ? alert_names[kind] : "unknown";
}

const char *sync_alert_severity(SyncAlertKind kind)
{
    return (unsigned)kind < SYNC_ALERT_COUNT ? alert_severities[kind] : "warning";
}

const char *sync_alert_state_name(SyncAlertState state)
{
    switch (state) {
    case SYNC_ALERT_STATE_OK:
        return "ok";
    case SYNC_ALERT_STATE_PENDING:
        return "pending";
    case SYNC_ALERT_STATE_FIRING:
        return "firing";
    }
    return "unknown";
}

int sync_alert_parse_name(const char *name)
{
    for (int i = 0; name != NULL && i < SYNC_ALERT_COUNT; i++)
        if (strcmp(name, alert_names[i]) == 0)
            return i;
    return -1;
}

static void format_duration(int64_t ms, char *buf, size_t size)
{
    if (ms % 3600000 == 0 && ms >= 3600000)
        snprintf(buf, size, "%lldh", (long long)(ms / 3600000));
    else if (ms % 60000 == 0 && ms >= 60000)
        snprintf(buf, size, "%lldm", (long long)(ms / 60000));
    else if (ms % 1000 == 0)
        snprintf(buf, size, "%llds", (long long)(ms / 1000));
    else
        snprintf(buf, size, "%lldms", (long long)ms);
}

const char *sync_alert_describe(const SyncAlertConfig *cfg, SyncAlertKind kind, char *buf, size_t size)
{
    static const char *const what[SYNC_ALERT_COUNT] = {
        "pending entities", "failed syncs", "sync latency (s)", "batch duration (s)",
        "conflicts",        "data staleness (s)", "data staleness (s)",
    };
    if ((unsigned)kind >= SYNC_ALERT_COUNT) {
        snprintf(buf, size, "unknown alert");
        return buf;
    }
    const SyncAlertRule *r = &cfg->rules[kind];
    if (!r->enabled) {
        snprintf(buf, size, "%s: off", what[kind]);
        return buf;
    }
    char num[40], win[32];
    p2n_metric_format_value(r->threshold, num, sizeof(num));
    int n = snprintf(buf, size, "%s > %s", what[kind], num);
    if (n < 0 || (size_t)n >= size)
        return buf;
    if (kind == SYNC_ALERT_FAILED_SYNCS) {
        format_duration(cfg->failed_window_ms, win, sizeof(win));
        snprintf(buf + n, size - (size_t)n, " in %s", win);
    } else if (r->for_ms > 0) {
        format_duration(r->for_ms, win, sizeof(win));
        snprintf(buf + n, size - (size_t)n, " for %s", win);
    }
    return buf;
}

SyncAlertObs sync_alert_obs_unknown(int64_t now_ms)
{
    SyncAlertObs o = {now_ms, -1, -1, -1, -1, -1, -1, 0};
    return o;
}

SyncAlerts *sync_alerts_new(const SyncAlertConfig *cfg)
{
    SyncAlerts *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    pthread_mutex_init(&a->lock, NULL);
    pthread_mutex_init(&a->wh_lock, NULL);
    pthread_cond_init(&a->wh_cond, NULL);
    if (cfg != NULL)
        a->cfg = *cfg;
    else
        sync_alert_config_defaults(&a->cfg);
    for (int i = 0; i < SYNC_ALERT_COUNT; i++)
        a->st[i].value = (double)NAN;
    return a;
}

void sync_alerts_free(SyncAlerts *a)
{
    if (a == NULL)
        return;
    if (a->wh_on) {
        pthread_mutex_lock(&a->wh_lock);
        a->wh_stop = true;
        pthread_cond_signal(&a->wh_cond);
        pthread_mutex_unlock(&a->wh_lock);
        pthread_join(a->wh_thread, NULL);
    }
    if (a->wh_n > 0)
        P2N_WARN("alert webhook calls not sent at shutdown", "count=%zu", a->wh_n);
    for (size_t i = 0; i < a->wh_n; i++)
        free(a->wh_q[(a->wh_head + i) % WEBHOOK_QUEUE]);
    free(a->wh_url);
    if (a->wh_token != NULL) {
        memset(a->wh_token, 0, strlen(a->wh_token));
        free(a->wh_token);
    }
    pthread_cond_destroy(&a->wh_cond);
    pthread_mutex_destroy(&a->wh_lock);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

void sync_alert_config_from_mapping(const MappingAlerts *ma, SyncAlertConfig *cfg)
{
    sync_alert_config_defaults(cfg);
    struct {
        SyncAlertKind kind;
        int64_t value;
        double scale; /* the mapping's unit to the rule's */
    } t[] = {
        {SYNC_ALERT_PENDING_ENTITIES, ma->pending_threshold, 1},
        {SYNC_ALERT_FAILED_SYNCS, ma->failed_threshold, 1},
        {SYNC_ALERT_SYNC_LATENCY, ma->latency_ms, 1000},
        {SYNC_ALERT_BATCH_DURATION, ma->batch_duration_ms, 1000},
        {SYNC_ALERT_CONFLICTS, ma->conflicts_threshold, 1},
        {SYNC_ALERT_STALENESS_WARNING, ma->staleness_warn_ms, 1000},
        {SYNC_ALERT_STALENESS, ma->staleness_alert_ms, 1000},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        SyncAlertRule *r = &cfg->rules[t[i].kind];
        r->enabled = t[i].value >= 0;
        r->threshold = t[i].value >= 0 ? (double)t[i].value / t[i].scale : 0;
    }
    cfg->rules[SYNC_ALERT_PENDING_ENTITIES].for_ms = ma->pending_for_ms;
    cfg->failed_window_ms = ma->failed_window_ms > 0 ? ma->failed_window_ms : cfg->failed_window_ms;
}

const SyncAlertConfig *sync_alerts_config(const SyncAlerts *a) { return &a->cfg; }

/* Adds a sample of the failure counter and returns its increase over the window, or -1. */
static double failures_in_window(SyncAlerts *a, int64_t now, int64_t total)
{
    if (total < 0)
        return -1;
    if (a->fail_n > 0) {
        const FailSample *last = &a->fails[(a->fail_head + a->fail_n - 1) % FAIL_SAMPLES];
        if (total < last->total) /* counter reset (daemon restart, failures cleaned up) */
            a->fail_n = 0;
    }
    bool changed = a->fail_n == 0 || a->fails[(a->fail_head + a->fail_n - 1) % FAIL_SAMPLES].total != total;
    if (changed) {
        if (a->fail_n == FAIL_SAMPLES) { /* full: drop the oldest */
            a->fail_head = (a->fail_head + 1) % FAIL_SAMPLES;
            a->fail_n--;
        }
        a->fails[(a->fail_head + a->fail_n) % FAIL_SAMPLES] = (FailSample){now, total};
        a->fail_n++;
    }
    /* Keep one sample at or before the window's start (the baseline); drop older ones. */
    int64_t start = now - a->cfg.failed_window_ms;
    while (a->fail_n >= 2 && a->fails[(a->fail_head + 1) % FAIL_SAMPLES].t_ms <= start) {
        a->fail_head = (a->fail_head + 1) % FAIL_SAMPLES;
        a->fail_n--;
    }
    return (double)(total - a->fails[a->fail_head].total);
}

static double obs_value(SyncAlerts *a, const SyncAlertObs *o, int kind)
{
    switch (kind) {
    case SYNC_ALERT_PENDING_ENTITIES:
        return o->pending < 0 ? -1 : (double)o->pending;
    case SYNC_ALERT_FAILED_SYNCS:
        return failures_in_window(a, o->now_ms, o->failures_total);
    case SYNC_ALERT_SYNC_LATENCY:
    case SYNC_ALERT_BATCH_DURATION: {
        double v = kind == SYNC_ALERT_SYNC_LATENCY ? o->sync_latency_s : o->batch_duration_s;
        /* no batch for a while: nothing is slow now (an old slow batch must not fire forever) */
        if (!isnan(v) && v > 0 && o->last_batch_ms > 0 && a->cfg.batch_obs_max_age_ms > 0 &&
            o->now_ms - o->last_batch_ms > a->cfg.batch_obs_max_age_ms)
            return 0;
        return v;
    }
    case SYNC_ALERT_CONFLICTS:
        return o->conflicts < 0 ? -1 : (double)o->conflicts;
    case SYNC_ALERT_STALENESS_WARNING:
    case SYNC_ALERT_STALENESS:
        return o->staleness_s;
    default:
        return -1;
    }
}

size_t sync_alerts_evaluate(SyncAlerts *a, const SyncAlertObs *obs, SyncAlertEvent *events, size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&a->lock);
    for (int k = 0; k < SYNC_ALERT_COUNT; k++) {
        double v = obs_value(a, obs, k); /* always: the failure counter needs every sample */
        const SyncAlertRule *r = &a->cfg.rules[k];
        AlertRuleState *s = &a->st[k];
        if (!r->enabled) {
            s->state = SYNC_ALERT_STATE_OK;
            continue;
        }
        if (isnan(v) || v < 0)
            continue; /* unknown: no change */
        s->value = v;
        SyncAlertState from = s->state, to = from;
        int64_t since = s->since_ms;
        bool holds = v > r->threshold;
        if (holds) {
            if (from == SYNC_ALERT_STATE_OK) {
                s->since_ms = obs->now_ms;
                to = r->for_ms <= 0 ? SYNC_ALERT_STATE_FIRING : SYNC_ALERT_STATE_PENDING;
            } else if (from == SYNC_ALERT_STATE_PENDING && obs->now_ms - s->since_ms >= r->for_ms) {
                to = SYNC_ALERT_STATE_FIRING;
            }
            since = s->since_ms;
            if (to == SYNC_ALERT_STATE_FIRING && from != SYNC_ALERT_STATE_FIRING)
                s->fired_ms = obs->now_ms;
        } else if (from != SYNC_ALERT_STATE_OK) {
            to = SYNC_ALERT_STATE_OK;
            since = from == SYNC_ALERT_STATE_FIRING ? s->fired_ms : s->since_ms;
            s->since_ms = obs->now_ms;
        }
        s->state = to;
        if (to != from && n < max && events != NULL)
            events[n++] = (SyncAlertEvent){(SyncAlertKind)k, from, to, v, r->threshold, obs->now_ms, since};
    }
    pthread_mutex_unlock(&a->lock);
    return n;
}

void sync_alerts_snapshot(SyncAlerts *a, SyncAlertStatus out[SYNC_ALERT_COUNT])
{
    pthread_mutex_lock(&a->lock);
    for (int k = 0; k < SYNC_ALERT_COUNT; k++)
        out[k] = (SyncAlertStatus){(SyncAlertKind)k, a->st[k].state, a->st[k].value, a->cfg.rules[k].threshold,
                                   a->st[k].since_ms};
    pthread_mutex_unlock(&a->lock);
}

int sync_alerts_firing_count(SyncAlerts *a)
{
    int n = 0;
    pthread_mutex_lock(&a->lock);
    for (int k = 0; k < SYNC_ALERT_COUNT; k++)
        n += a->st[k].state == SYNC_ALERT_STATE_FIRING;
    pthread_mutex_unlock(&a->lock);
    return n;
}

static json_t *iso_time(int64_t ms)
{
    if (ms <= 0)
        return json_null();
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char buf[40];
    snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    return json_string(buf);
}

static json_t *num_or_null(double v) { return isnan(v) || isinf(v) ? json_null() : json_real(v); }

json_t *sync_alerts_to_json(SyncAlerts *a)
{
    SyncAlertStatus st[SYNC_ALERT_COUNT];
    sync_alerts_snapshot(a, st);
    json_t *arr = json_array();
    if (arr == NULL)
        return NULL;
    for (int k = 0; k < SYNC_ALERT_COUNT; k++) {
        char desc[128];
        sync_alert_describe(&a->cfg, (SyncAlertKind)k, desc, sizeof(desc));
        const SyncAlertRule *r = &a->cfg.rules[k];
        json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:o, s:I, s:b, s:o, s:s}", "name", alert_names[k], "severity",
                              alert_severities[k], "state", sync_alert_state_name(st[k].state), "value",
                              num_or_null(st[k].value), "threshold", json_real(r->threshold), "forSeconds",
                              (json_int_t)(r->for_ms / 1000), "enabled", r->enabled, "since",
                              st[k].state == SYNC_ALERT_STATE_OK ? json_null() : iso_time(st[k].since_ms),
                              "description", desc);
        if (o == NULL || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

void sync_alerts_export(SyncAlerts *a, P2nMetric *gauge)
{
    SyncAlertStatus st[SYNC_ALERT_COUNT];
    sync_alerts_snapshot(a, st);
    for (int k = 0; k < SYNC_ALERT_COUNT; k++) {
        const char *lv[2] = {alert_names[k], alert_severities[k]};
        p2n_metric_set(gauge, lv, st[k].state == SYNC_ALERT_STATE_FIRING ? 1 : 0);
    }
}

int sync_alert_events_json(const SyncAlertConfig *cfg, const SyncAlertEvent *events, size_t n, P2nBuf *out)
{
    json_t *arr = json_array();
    json_t *root = json_pack("{s:s, s:o}", "source", "pg2neo", "events", arr);
    if (root == NULL)
        return P2N_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const SyncAlertEvent *e = &events[i];
        char desc[128];
        sync_alert_describe(cfg, e->kind, desc, sizeof(desc));
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:s}", "alert", sync_alert_name(e->kind),
                              "severity", sync_alert_severity(e->kind), "state", sync_alert_state_name(e->to),
                              "previous", sync_alert_state_name(e->from), "value", num_or_null(e->value),
                              "threshold", json_real(e->threshold), "at", iso_time(e->at_ms), "since",
                              iso_time(e->since_ms), "description", desc);
        if (o == NULL || json_array_append_new(arr, o) != 0) {
            json_decref(root);
            return P2N_ENOMEM;
        }
    }
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (s == NULL)
        return P2N_ENOMEM;
    p2n_buf_append_str(out, s);
    free(s);
    return out->failed ? P2N_ENOMEM : 0;
}

/* ---- webhook client ---------------------------------------------------------------------- */

typedef struct WebhookUrl {
    char host[256];
    char port[8];
    char path[1024];
} WebhookUrl;

static int url_parse(const char *url, WebhookUrl *u, P2nErr *err)
{
    const char *p;
    if (url == NULL || strncmp(url, "http://", 7) != 0)
        return p2n_err_set(err, P2N_EINVAL, "webhook URL must start with \"http://\"");
    p = url + 7;
    const char *end = p + strcspn(p, "/?#");
    if (memchr(p, '@', (size_t)(end - p)) != NULL)
        return p2n_err_set(err, P2N_EINVAL, "webhook URL must not carry credentials; use a bearer token");
    const char *host = p, *host_end, *port = NULL;
    if (*p == '[') {
        host = p + 1;
        host_end = memchr(host, ']', (size_t)(end - host));
        if (host_end == NULL)
            return p2n_err_set(err, P2N_EINVAL, "invalid webhook URL: unterminated IPv6 address");
        if (host_end + 1 < end) {
            if (host_end[1] != ':')
                return p2n_err_set(err, P2N_EINVAL, "invalid webhook URL");
            port = host_end + 2;
        }
    } else {
        host_end = memchr(host, ':', (size_t)(end - host));
        if (host_end != NULL)
            port = host_end + 1;
        else
            host_end = end;
    }
    size_t hl = (size_t)(host_end - host);
    if (hl == 0 || hl >= sizeof(u->host))
        return p2n_err_set(err, P2N_EINVAL, "invalid webhook URL: bad host");
    memcpy(u->host, host, hl);
    u->host[hl] = '\0';
    if (port != NULL) {
        size_t pl = (size_t)(end - port);
        if (pl == 0 || pl > 5 || strspn(port, "0123456789") < pl)
            return p2n_err_set(err, P2N_EINVAL, "invalid webhook URL: bad port");
        memcpy(u->port, port, pl);
        u->port[pl] = '\0';
        long pv = strtol(u->port, NULL, 10);
        if (pv < 1 || pv > 65535)
            return p2n_err_set(err, P2N_EINVAL, "invalid webhook URL: bad port");
    } else {
        snprintf(u->port, sizeof(u->port), "80");
    }
    const char *path = *end == '#' ? "/" : end;
    size_t plen = strcspn(path, "#");
    if (plen == 0) {
        snprintf(u->path, sizeof(u->path), "/");
    } else {
        if (*path == '?') /* "http://h?x" */
            return p2n_err_set(err, P2N_EINVAL, "invalid webhook URL: query without path");
        if (plen >= sizeof(u->path))
            return p2n_err_set(err, P2N_EINVAL, "invalid webhook URL: path too long");
        memcpy(u->path, path, plen);
        u->path[plen] = '\0';
    }
    for (const char *c = url; *c; c++)
        if ((unsigned char)*c <= 0x20 || *c == 0x7f)
            return p2n_err_set(err, P2N_EINVAL, "invalid webhook URL: control character or space");
    return 0;
}

static int wait_fd(int fd, short events, int64_t deadline_ms)
{
    for (;;) {
        int64_t left = deadline_ms - p2n_now_mono_ms();
        if (left <= 0)
            return P2N_ETIMEDOUT;
        struct pollfd pfd = {fd, events, 0};
        int r = poll(&pfd, 1, (int)left);
        if (r > 0)
            return 0;
        if (r == 0)
            return P2N_ETIMEDOUT;
        if (errno != EINTR)
            return P2N_EIO;
    }
}

static int connect_deadline(const WebhookUrl *u, int64_t deadline_ms, int *out_fd, P2nErr *err)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gr = getaddrinfo(u->host, u->port, &hints, &res);
    if (gr != 0)
        return p2n_err_set(err, P2N_EIO, "could not resolve webhook host \"%s\": %s", u->host, gai_strerror(gr));
    int rc = p2n_err_set(err, P2N_EIO, "could not connect to webhook at \"%s:%s\"", u->host, u->port);
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        int cr = connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (cr != 0 && errno == EINPROGRESS) {
            int w = wait_fd(fd, POLLOUT, deadline_ms);
            if (w == P2N_ETIMEDOUT) {
                close(fd);
                rc = p2n_err_set(err, P2N_ETIMEDOUT, "timed out connecting to webhook at \"%s:%s\"", u->host,
                                 u->port);
                break;
            }
            int soerr = 0;
            socklen_t sl = sizeof(soerr);
            if (w == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
                cr = 0;
            else
                errno = soerr ? soerr : EIO;
        }
        if (cr == 0) {
            *out_fd = fd;
            rc = 0;
            p2n_err_clear(err);
            break;
        }
        rc = p2n_err_set(err, P2N_EIO, "could not connect to webhook at \"%s:%s\": %s", u->host, u->port,
                         strerror(errno));
        close(fd);
    }
    freeaddrinfo(res);
    return rc;
}

static int send_all(int fd, const char *data, size_t len, int64_t deadline_ms)
{
    size_t off = 0;
    while (off < len) {
        ssize_t w = send(fd, data + off, len - off, MSG_NOSIGNAL);
        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN)) {
            int r = wait_fd(fd, POLLOUT, deadline_ms);
            if (r != 0)
                return r;
            continue;
        }
        return P2N_EIO;
    }
    return 0;
}

int sync_webhook_post(const SyncWebhookConfig *wh, const char *body, size_t len, P2nErr *err)
{
    WebhookUrl u;
    if (wh == NULL)
        return p2n_err_set(err, P2N_EINVAL, "no webhook configured");
    int rc = url_parse(wh->url, &u, err);
    if (rc != 0)
        return rc;
    const char *tok = wh->bearer_token;
    if (tok != NULL && strpbrk(tok, "\r\n") != NULL)
        return p2n_err_set(err, P2N_EINVAL, "webhook bearer token contains a line break");
    int timeout = wh->timeout_ms > 0 ? wh->timeout_ms : 5000;
    int64_t deadline = p2n_now_mono_ms() + timeout;
    int fd = -1;
    rc = connect_deadline(&u, deadline, &fd, err);
    if (rc != 0)
        return rc;

    P2nBuf req;
    p2n_buf_init(&req);
    bool v6 = strchr(u.host, ':') != NULL;
    p2n_buf_printf(&req,
                   "POST %s HTTP/1.1\r\nHost: %s%s%s%s%s\r\nUser-Agent: pg2neo/%s\r\n"
                   "Content-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n",
                   u.path, v6 ? "[" : "", u.host, v6 ? "]" : "", strcmp(u.port, "80") ? ":" : "",
                   strcmp(u.port, "80") ? u.port : "", p2n_version(), len);
    if (tok != NULL && *tok != '\0')
        p2n_buf_printf(&req, "Authorization: Bearer %s\r\n", tok);
    p2n_buf_append_str(&req, "\r\n");
    p2n_buf_append(&req, body, len);
    if (req.failed) {
        p2n_buf_free(&req);
        close(fd);
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    }
    rc = send_all(fd, (const char *)req.data, req.len, deadline);
    p2n_buf_free(&req);
    if (rc != 0) {
        close(fd);
        return rc == P2N_ETIMEDOUT
                   ? p2n_err_set(err, rc, "timed out sending to webhook at \"%s:%s\"", u.host, u.port)
                   : p2n_err_set(err, rc, "could not send to webhook at \"%s:%s\"", u.host, u.port);
    }
    /* Read until the status line is complete. */
    char resp[512];
    size_t got = 0;
    while (got < sizeof(resp) - 1 && memchr(resp, '\n', got) == NULL) {
        ssize_t r = recv(fd, resp + got, sizeof(resp) - 1 - got, 0);
        if (r > 0) {
            got += (size_t)r;
            continue;
        }
        if (r == 0)
            break;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN) {
            rc = wait_fd(fd, POLLIN, deadline);
            if (rc != 0) {
                close(fd);
                return p2n_err_set(err, rc, "%s waiting for webhook at \"%s:%s\" to answer",
                                   rc == P2N_ETIMEDOUT ? "timed out" : "failed", u.host, u.port);
            }
            continue;
        }
        close(fd);
        return p2n_err_set(err, P2N_EIO, "could not read from webhook at \"%s:%s\": %s", u.host, u.port,
                           strerror(errno));
    }
    close(fd);
    resp[got] = '\0';
    int status = 0;
    if (memchr(resp, '\n', got) == NULL || sscanf(resp, "HTTP/1.%*1[01] %3d", &status) != 1 || status < 100 ||
        status > 599)
        return p2n_err_set(err, P2N_EPROTO, "malformed answer from webhook at \"%s:%s\"", u.host, u.port);
    if (status < 200 || status > 299)
        return p2n_err_set(err, P2N_EIO, "webhook at \"%s:%s\" answered with status %d", u.host, u.port, status);
    return 0;
}

/* Logs each event once; copies those worth a webhook call (firing, resolved) into post. */
static size_t log_events(const SyncAlertConfig *cfg, const SyncAlertEvent *events, size_t n, SyncAlertEvent *post,
                         size_t max)
{
    size_t npost = 0;
    for (size_t i = 0; i < n; i++) {
        const SyncAlertEvent *e = &events[i];
        char desc[128], val[40];
        sync_alert_describe(cfg, e->kind, desc, sizeof(desc));
        p2n_metric_format_value(e->value, val, sizeof(val));
        P2nLogLevel lvl = P2N_LOG_INFO;
        const char *msg = e->to == SYNC_ALERT_STATE_PENDING ? "alert pending" : "alert cleared";
        if (e->to == SYNC_ALERT_STATE_FIRING) {
            lvl = strcmp(sync_alert_severity(e->kind), "critical") == 0 ? P2N_LOG_ERROR : P2N_LOG_WARN;
            msg = "alert firing";
        } else if (e->from == SYNC_ALERT_STATE_FIRING) {
            msg = "alert resolved";
        }
        p2n_log(lvl, msg, "alert=%s severity=%s state=%s previous=%s value=%s rule=\"%s\"", sync_alert_name(e->kind),
                sync_alert_severity(e->kind), sync_alert_state_name(e->to), sync_alert_state_name(e->from), val,
                desc);
        if ((e->to == SYNC_ALERT_STATE_FIRING || e->from == SYNC_ALERT_STATE_FIRING) && npost < max)
            post[npost++] = *e;
    }
    return npost;
}

static void log_webhook_error(P2nErr *err)
{
    for (char *c = err->msg; *c; c++) /* keep the logfmt value quoted once */
        if (*c == '"' || *c == '\\')
            *c = '\'';
    P2N_WARN("could not post alert webhook", "error=\"%s\"", err->msg);
}

int sync_alerts_notify(const SyncAlertConfig *cfg, const SyncAlertEvent *events, size_t n,
                       const SyncWebhookConfig *wh)
{
    SyncAlertEvent post[SYNC_ALERT_COUNT * 2];
    size_t npost = log_events(cfg, events, n, post, sizeof(post) / sizeof(post[0]));
    if (wh == NULL || wh->url == NULL || wh->url[0] == '\0' || npost == 0)
        return 0;
    P2nBuf body;
    p2n_buf_init(&body);
    int rc = sync_alert_events_json(cfg, post, npost, &body);
    P2nErr err;
    p2n_err_clear(&err);
    if (rc == 0)
        rc = sync_webhook_post(wh, (const char *)body.data, body.len, &err);
    else
        p2n_err_set(&err, rc, "out of memory");
    p2n_buf_free(&body);
    if (rc != 0)
        log_webhook_error(&err);
    return rc;
}

static void *webhook_worker(void *arg)
{
    SyncAlerts *a = arg;
    pthread_mutex_lock(&a->wh_lock);
    for (;;) {
        while (a->wh_n == 0 && !a->wh_stop)
            pthread_cond_wait(&a->wh_cond, &a->wh_lock);
        if (a->wh_stop)
            break;
        char *body = a->wh_q[a->wh_head];
        a->wh_head = (a->wh_head + 1) % WEBHOOK_QUEUE;
        a->wh_n--;
        pthread_mutex_unlock(&a->wh_lock);
        SyncWebhookConfig wh = {a->wh_url, a->wh_token, a->wh_timeout_ms};
        P2nErr err;
        p2n_err_clear(&err);
        if (sync_webhook_post(&wh, body, strlen(body), &err) != 0)
            log_webhook_error(&err);
        else
            P2N_DEBUG("alert webhook posted", "bytes=%zu", strlen(body));
        free(body);
        pthread_mutex_lock(&a->wh_lock);
    }
    pthread_mutex_unlock(&a->wh_lock);
    return NULL;
}

int sync_alerts_set_webhook(SyncAlerts *a, const SyncWebhookConfig *wh, P2nErr *err)
{
    if (a->wh_url != NULL || a->live)
        return p2n_err_set(err, P2N_ESTATE, "the alert webhook is already set");
    if (wh == NULL || wh->url == NULL || wh->url[0] == '\0')
        return 0;
    WebhookUrl u;
    int rc = url_parse(wh->url, &u, err);
    if (rc != 0)
        return rc;
    if (wh->bearer_token != NULL && strpbrk(wh->bearer_token, "\r\n") != NULL)
        return p2n_err_set(err, P2N_EINVAL, "webhook bearer token contains a line break");
    a->wh_url = strdup(wh->url);
    a->wh_token = wh->bearer_token && *wh->bearer_token ? strdup(wh->bearer_token) : NULL;
    a->wh_timeout_ms = wh->timeout_ms;
    if (a->wh_url == NULL || (wh->bearer_token && *wh->bearer_token && a->wh_token == NULL))
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    return 0;
}

int sync_alerts_start(SyncAlerts *a, P2nErr *err)
{
    if (a->live)
        return 0;
    if (a->wh_url != NULL) {
        if (pthread_create(&a->wh_thread, NULL, webhook_worker, a) != 0)
            return p2n_err_set(err, P2N_ENOMEM, "could not start the alert webhook thread");
        a->wh_on = true;
    }
    a->live = true;
    return 0;
}

void sync_alerts_report(SyncAlerts *a, const SyncAlertEvent *events, size_t n)
{
    if (!a->live)
        return; /* a one-shot evaluation (pg2neo status): states only, no log, no webhook */
    SyncAlertEvent post[SYNC_ALERT_COUNT * 2];
    size_t npost = log_events(&a->cfg, events, n, post, sizeof(post) / sizeof(post[0]));
    if (!a->wh_on || npost == 0)
        return;
    P2nBuf body;
    p2n_buf_init(&body);
    if (sync_alert_events_json(&a->cfg, post, npost, &body) != 0 || body.failed || body.data == NULL) {
        p2n_buf_free(&body);
        P2N_WARN("could not post alert webhook", "error=\"out of memory\"");
        return;
    }
    pthread_mutex_lock(&a->wh_lock);
    if (a->wh_n == WEBHOOK_QUEUE) {
        pthread_mutex_unlock(&a->wh_lock);
        p2n_buf_free(&body);
        P2N_WARN("alert webhook queue full, call dropped", "queued=%d", WEBHOOK_QUEUE);
        return;
    }
    a->wh_q[(a->wh_head + a->wh_n) % WEBHOOK_QUEUE] = (char *)body.data; /* a P2nBuf is NUL-terminated */
    a->wh_n++;
    pthread_cond_signal(&a->wh_cond);
    pthread_mutex_unlock(&a->wh_lock);
}

SyncAlerts *sync_alerts_from_mapping(const MappingAlerts *ma, P2nErr *err)
{
    SyncAlertConfig cfg;
    sync_alert_config_from_mapping(ma, &cfg);
    SyncAlerts *a = sync_alerts_new(&cfg);
    if (a == NULL) {
        p2n_err_set(err, P2N_ENOMEM, "out of memory");
        return NULL;
    }
    const char *tok = getenv("P2N_ALERT_WEBHOOK_TOKEN");
    if (tok != NULL && *tok != '\0')
        p2n_log_add_secret(tok);
    SyncWebhookConfig wh = {ma->webhook_url, tok, (int)ma->webhook_timeout_ms};
    if (sync_alerts_set_webhook(a, &wh, err) != 0) {
        sync_alerts_free(a);
        return NULL;
    }
    return a;
}
