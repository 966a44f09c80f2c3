/* Metrics registry (counters, gauges, histograms with labels) and Prometheus text rendering. */
#include "common/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct MetricSeries {
    char *values[P2N_METRIC_MAX_LABELS];
    double value;      /* counter/gauge value, histogram sum */
    uint64_t count;    /* histogram observations */
    uint64_t *buckets; /* histogram: per-bucket (non-cumulative) counts, nbounds + 1 (+Inf) */
} MetricSeries;

struct P2nMetric {
    P2nMetrics *reg;
    P2nMetricType type;
    char *name;
    char *help;
    size_t nlabels;
    char *labels[P2N_METRIC_MAX_LABELS];
    double bounds[P2N_METRIC_MAX_BUCKETS];
    size_t nbounds;
    MetricSeries **series;
    size_t nseries;
    size_t capseries;
};

struct P2nMetrics {
    pthread_mutex_t lock;
    P2nMetric **fams;
    size_t nfams;
    size_t capfams;
};

const double p2n_metrics_batch_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                            2.5,   5,    10,    30,   60,  120,  300};
const size_t p2n_metrics_batch_nbuckets = sizeof(p2n_metrics_batch_buckets) / sizeof(double);
const double p2n_metrics_latency_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                              2.5,   5,    10,    30,   60,  300,  900, 3600};
const size_t p2n_metrics_latency_nbuckets = sizeof(p2n_metrics_latency_buckets) / sizeof(double);

P2nMetrics *p2n_metrics_new(void)
{
    P2nMetrics *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    pthread_mutex_init(&r->lock, NULL);
    return r;
}

static void series_free(MetricSeries *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < P2N_METRIC_MAX_LABELS; i++)
        free(s->values[i]);
    free(s->buckets);
    free(s);
}

static void family_free(P2nMetric *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->nseries; i++)
        series_free(m->series[i]);
    free(m->series);
    for (size_t i = 0; i < m->nlabels; i++)
        free(m->labels[i]);
    free(m->name);
    free(m->help);
    free(m);
}

void p2n_metrics_free(P2nMetrics *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->nfams; i++)
        family_free(r->fams[i]);
    free(r->fams);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

static bool name_valid(const char *s, bool allow_colon)
{
    if (s == NULL || *s == '\0')
        return false;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (allow_colon && c == ':') ||
                  (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

/* Creates a series with the given label values; the caller holds the lock. */
static MetricSeries *series_new(P2nMetric *m, const char *const *values)
{
    if (m->nseries >= P2N_METRIC_MAX_SERIES)
        return NULL;
    if (m->nseries == m->capseries) {
        size_t cap = m->capseries ? m->capseries * 2 : 8;
        MetricSeries **n = realloc(m->series, cap * sizeof(*n));
        if (n == NULL)
            return NULL;
        m->series = n;
        m->capseries = cap;
    }
    MetricSeries *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    for (size_t i = 0; i < m->nlabels; i++) {
        s->values[i] = strdup(values[i]);
        if (s->values[i] == NULL) {
            series_free(s);
            return NULL;
        }
    }
    if (m->type == P2N_METRIC_HISTOGRAM) {
        s->buckets = calloc(m->nbounds + 1, sizeof(uint64_t));
        if (s->buckets == NULL) {
            series_free(s);
            return NULL;
        }
    }
    m->series[m->nseries++] = s;
    return s;
}

int p2n_metrics_register(P2nMetrics *r, P2nMetricType type, const char *name, const char *help,
                         const char *labels, const double *buckets, size_t nbuckets, P2nMetric **out,
                         P2nErr *err)
{
    if (out != NULL)
        *out = NULL;
    if (r == NULL || !name_valid(name, true) || strncmp(name, P2N_METRIC_PREFIX, strlen(P2N_METRIC_PREFIX)) != 0)
        return p2n_err_set(err, P2N_EINVAL, "invalid metric name \"%s\"", name ? name : "(null)");
    if (type == P2N_METRIC_HISTOGRAM) {
        if (buckets == NULL || nbuckets == 0 || nbuckets > P2N_METRIC_MAX_BUCKETS)
            return p2n_err_set(err, P2N_EINVAL, "histogram \"%s\" needs 1 to %d buckets", name,
                               P2N_METRIC_MAX_BUCKETS);
        for (size_t i = 0; i < nbuckets; i++)
            if (!isfinite(buckets[i]) || (i > 0 && !(buckets[i] > buckets[i - 1])))
                return p2n_err_set(err, P2N_EINVAL, "histogram \"%s\" buckets must be finite and increasing",
                                   name);
    } else if (type != P2N_METRIC_COUNTER && type != P2N_METRIC_GAUGE) {
        return p2n_err_set(err, P2N_EINVAL, "invalid metric type %d", (int)type);
    }
    P2nMetric *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    m->reg = r;
    m->type = type;
    m->name = strdup(name);
    m->help = strdup(help ? help : "");
    if (m->name == NULL || m->help == NULL) {
        family_free(m);
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    }
    if (type == P2N_METRIC_HISTOGRAM) {
        memcpy(m->bounds, buckets, nbuckets * sizeof(double));
        m->nbounds = nbuckets;
    }
    if (labels != NULL && *labels != '\0') {
        const char *p = labels;
        for (;;) {
            const char *e = strchr(p, ',');
            size_t n = e ? (size_t)(e - p) : strlen(p);
            char tmp[128];
            if (m->nlabels == P2N_METRIC_MAX_LABELS || n == 0 || n >= sizeof(tmp)) {
                family_free(m);
                return p2n_err_set(err, P2N_EINVAL, "invalid label list \"%s\" for metric \"%s\"", labels, name);
            }
            memcpy(tmp, p, n);
            tmp[n] = '\0';
            if (!name_valid(tmp, false) || strncmp(tmp, "__", 2) == 0 ||
                (type == P2N_METRIC_HISTOGRAM && strcmp(tmp, "le") == 0)) {
                family_free(m);
                return p2n_err_set(err, P2N_EINVAL, "invalid label name \"%s\" for metric \"%s\"", tmp, name);
            }
            for (size_t i = 0; i < m->nlabels; i++)
                if (strcmp(m->labels[i], tmp) == 0) {
                    family_free(m);
                    return p2n_err_set(err, P2N_EINVAL, "duplicate label \"%s\" for metric \"%s\"", tmp, name);
                }
            m->labels[m->nlabels] = strdup(tmp);
            if (m->labels[m->nlabels] == NULL) {
                family_free(m);
                return p2n_err_set(err, P2N_ENOMEM, "out of memory");
            }
            m->nlabels++;
            if (e == NULL)
                break;
            p = e + 1;
        }
    }
    if (m->nlabels == 0 && series_new(m, NULL) == NULL) {
        family_free(m);
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    }

    pthread_mutex_lock(&r->lock);
    int rc = 0;
    for (size_t i = 0; i < r->nfams; i++)
        if (strcmp(r->fams[i]->name, name) == 0) {
            rc = p2n_err_set(err, P2N_EINVAL, "metric \"%s\" is already registered", name);
            break;
        }
    if (rc == 0 && r->nfams == r->capfams) {
        size_t cap = r->capfams ? r->capfams * 2 : 16;
        P2nMetric **n = realloc(r->fams, cap * sizeof(*n));
        if (n == NULL) {
            rc = p2n_err_set(err, P2N_ENOMEM, "out of memory");
        } else {
            r->fams = n;
            r->capfams = cap;
        }
    }
    if (rc == 0)
        r->fams[r->nfams++] = m;
    pthread_mutex_unlock(&r->lock);
    if (rc != 0) {
        family_free(m);
        return rc;
    }
    if (out != NULL)
        *out = m;
    return 0;
}

P2nMetric *p2n_metrics_find(P2nMetrics *r, const char *name)
{
    if (r == NULL || name == NULL)
        return NULL;
    P2nMetric *found = NULL;
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->nfams && found == NULL; i++)
        if (strcmp(r->fams[i]->name, name) == 0)
            found = r->fams[i];
    pthread_mutex_unlock(&r->lock);
    return found;
}

/* Finds the series for values; the caller holds the lock. */
static MetricSeries *series_find(P2nMetric *m, const char *const *values)
{
    for (size_t i = 0; i < m->nseries; i++) {
        MetricSeries *s = m->series[i];
        size_t j = 0;
        while (j < m->nlabels && strcmp(s->values[j], values[j]) == 0)
            j++;
        if (j == m->nlabels)
            return s;
    }
    return NULL;
}

static bool values_ok(const P2nMetric *m, const char *const *values)
{
    if (m->nlabels == 0)
        return true;
    if (values == NULL)
        return false;
    for (size_t i = 0; i < m->nlabels; i++)
        if (values[i] == NULL)
            return false;
    return true;
}

typedef enum { OP_ADD, OP_SET, OP_OBSERVE } MetricOp;

static int metric_update(P2nMetric *m, const char *const *values, double v, MetricOp op)
{
    if (m == NULL || !values_ok(m, values))
        return P2N_EINVAL;
    switch (op) {
    case OP_ADD:
        if (m->type == P2N_METRIC_HISTOGRAM || (m->type == P2N_METRIC_COUNTER && !(v >= 0)))
            return P2N_EINVAL;
        break;
    case OP_SET:
        if (m->type != P2N_METRIC_GAUGE)
            return P2N_EINVAL;
        break;
    case OP_OBSERVE:
        if (m->type != P2N_METRIC_HISTOGRAM || isnan(v))
            return P2N_EINVAL;
        break;
    }
    int rc = 0;
    pthread_mutex_lock(&m->reg->lock);
    MetricSeries *s = series_find(m, values);
    if (s == NULL) {
        s = series_new(m, values);
        if (s == NULL)
            rc = m->nseries >= P2N_METRIC_MAX_SERIES ? P2N_ETOOBIG : P2N_ENOMEM;
    }
    if (s != NULL) {
        switch (op) {
        case OP_ADD:
            s->value += v;
            break;
        case OP_SET:
            s->value = v;
            break;
        case OP_OBSERVE: {
            size_t b = 0;
            while (b < m->nbounds && v > m->bounds[b])
                b++;
            s->buckets[b]++;
            s->count++;
            s->value += v;
            break;
        }
        }
    }
    pthread_mutex_unlock(&m->reg->lock);
    return rc;
}

int p2n_metric_add(P2nMetric *m, const char *const *label_values, double v)
{
    return metric_update(m, label_values, v, OP_ADD);
}

int p2n_metric_set(P2nMetric *m, const char *const *label_values, double v)
{
    return metric_update(m, label_values, v, OP_SET);
}

int p2n_metric_observe(P2nMetric *m, const char *const *label_values, double v)
{
    return metric_update(m, label_values, v, OP_OBSERVE);
}

static int update1(P2nMetric *m, const char *label, double v, MetricOp op)
{
    if (m == NULL || m->nlabels > 1 || (m->nlabels == 1) != (label != NULL))
        return P2N_EINVAL;
    const char *vals[1] = {label};
    return metric_update(m, label ? vals : NULL, v, op);
}

int p2n_metric_add1(P2nMetric *m, const char *label, double v) { return update1(m, label, v, OP_ADD); }
int p2n_metric_set1(P2nMetric *m, const char *label, double v) { return update1(m, label, v, OP_SET); }
int p2n_metric_observe1(P2nMetric *m, const char *label, double v) { return update1(m, label, v, OP_OBSERVE); }

int p2n_metric_get(P2nMetric *m, const char *const *label_values, double *value, double *count)
{
    if (m == NULL || !values_ok(m, label_values))
        return P2N_EINVAL;
    int rc = P2N_ENOTFOUND;
    pthread_mutex_lock(&m->reg->lock);
    MetricSeries *s = series_find(m, label_values);
    if (s != NULL) {
        if (value != NULL)
            *value = s->value;
        if (count != NULL)
            *count = (double)s->count;
        rc = 0;
    }
    pthread_mutex_unlock(&m->reg->lock);
    return rc;
}

void p2n_metric_clear(P2nMetric *m)
{
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->reg->lock);
    if (m->nlabels == 0) {
        MetricSeries *s = m->series[0];
        s->value = 0;
        s->count = 0;
        if (s->buckets != NULL)
            memset(s->buckets, 0, (m->nbounds + 1) * sizeof(uint64_t));
    } else {
        for (size_t i = 0; i < m->nseries; i++)
            series_free(m->series[i]);
        m->nseries = 0;
    }
    pthread_mutex_unlock(&m->reg->lock);
}

char *p2n_metric_format_value(double v, char *buf, size_t size)
{
    if (isnan(v)) {
        snprintf(buf, size, "NaN");
    } else if (isinf(v)) {
        snprintf(buf, size, v > 0 ? "+Inf" : "-Inf");
    } else {
        /* the shortest of %.15g..%.17g that reads back as the same double */
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(buf, size, "%.*g", prec, v);
            if (strtod(buf, NULL) == v)
                break;
        }
    }
    return buf;
}

/* Label values: backslash, double quote and line feed are escaped. HELP: backslash, line feed. */
static void append_escaped(P2nBuf *b, const char *s, bool quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            p2n_buf_append_str(b, "\\\\");
        else if (*s == '\n')
            p2n_buf_append_str(b, "\\n");
        else if (quote && *s == '"')
            p2n_buf_append_str(b, "\\\"");
        else
            p2n_buf_append_byte(b, (uint8_t)*s);
    }
}

/* Appends {a="x",b="y"[,le="..."]} (nothing when there are no labels and no le). */
static void append_labels(P2nBuf *b, const P2nMetric *m, const MetricSeries *s, const char *le)
{
    if (m->nlabels == 0 && le == NULL)
        return;
    p2n_buf_append_byte(b, '{');
    for (size_t i = 0; i < m->nlabels; i++) {
        if (i > 0)
            p2n_buf_append_byte(b, ',');
        p2n_buf_append_str(b, m->labels[i]);
        p2n_buf_append_str(b, "=\"");
        append_escaped(b, s->values[i], true);
        p2n_buf_append_byte(b, '"');
    }
    if (le != NULL) {
        if (m->nlabels > 0)
            p2n_buf_append_byte(b, ',');
        p2n_buf_printf(b, "le=\"%s\"", le);
    }
    p2n_buf_append_byte(b, '}');
}

static const char *type_name(P2nMetricType t)
{
    switch (t) {
    case P2N_METRIC_COUNTER:
        return "counter";
    case P2N_METRIC_GAUGE:
        return "gauge";
    case P2N_METRIC_HISTOGRAM:
        return "histogram";
    }
    return "untyped";
}

static void render_family(P2nBuf *b, const P2nMetric *m)
{
    char num[40];
    p2n_buf_printf(b, "# HELP %s ", m->name);
    append_escaped(b, m->help, false);
    p2n_buf_printf(b, "\n# TYPE %s %s\n", m->name, type_name(m->type));
    for (size_t i = 0; i < m->nseries; i++) {
        const MetricSeries *s = m->series[i];
        if (m->type != P2N_METRIC_HISTOGRAM) {
            p2n_buf_append_str(b, m->name);
            append_labels(b, m, s, NULL);
            p2n_buf_printf(b, " %s\n", p2n_metric_format_value(s->value, num, sizeof(num)));
            continue;
        }
        uint64_t cum = 0;
        for (size_t k = 0; k <= m->nbounds; k++) {
            cum += s->buckets[k];
            char le[40];
            if (k < m->nbounds)
                p2n_metric_format_value(m->bounds[k], le, sizeof(le));
            else
                snprintf(le, sizeof(le), "+Inf");
            p2n_buf_printf(b, "%s_bucket", m->name);
            append_labels(b, m, s, le);
            p2n_buf_printf(b, " %llu\n", (unsigned long long)cum);
        }
        p2n_buf_printf(b, "%s_sum", m->name);
        append_labels(b, m, s, NULL);
        p2n_buf_printf(b, " %s\n", p2n_metric_format_value(s->value, num, sizeof(num)));
        p2n_buf_printf(b, "%s_count", m->name);
        append_labels(b, m, s, NULL);
        p2n_buf_printf(b, " %llu\n", (unsigned long long)s->count);
    }
}

int p2n_metrics_render(P2nMetrics *r, P2nBuf *out)
{
    if (r == NULL || out == NULL)
        return P2N_EINVAL;
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->nfams; i++)
        render_family(out, r->fams[i]);
    pthread_mutex_unlock(&r->lock);
    return out->failed ? P2N_ENOMEM : 0;
}

int p2n_metrics_register_std(P2nMetrics *r, P2nStdMetrics *out, P2nErr *err)
{
    memset(out, 0, sizeof(*out));
    struct {
        P2nMetric **slot;
        P2nMetricType type;
        const char *name;
        const char *help;
        const char *labels;
        const double *buckets;
        size_t nbuckets;
    } defs[] = {
        {&out->entities, P2N_METRIC_GAUGE, "pg2neo_entities",
         "Entities in graph_sync_status by entity type and sync status", "entity_type,status", NULL, 0},
        {&out->conflicts, P2N_METRIC_GAUGE, "pg2neo_conflicts", "Entities with unresolved conflicts", NULL, NULL, 0},
        {&out->oldest_pending, P2N_METRIC_GAUGE, "pg2neo_oldest_pending_age_seconds",
         "Age of the oldest change not yet in Neo4j, by entity type", "entity_type", NULL, 0},
        {&out->postgresql_up, P2N_METRIC_GAUGE, "pg2neo_postgresql_up", "1 when PostgreSQL is reachable", NULL,
         NULL, 0},
        {&out->neo4j_up, P2N_METRIC_GAUGE, "pg2neo_neo4j_up", "1 when Neo4j is reachable", NULL, NULL, 0},
        {&out->batches, P2N_METRIC_COUNTER, "pg2neo_batches_total", "Sync batches run, by outcome", "status", NULL,
         0},
        {&out->batch_duration, P2N_METRIC_HISTOGRAM, "pg2neo_batch_duration_seconds", "Duration of sync batches",
         NULL, p2n_metrics_batch_buckets, p2n_metrics_batch_nbuckets},
        {&out->sync_latency, P2N_METRIC_HISTOGRAM, "pg2neo_sync_latency_seconds",
         "Time from the commit of a change in PostgreSQL to its commit in Neo4j", "entity_type",
         p2n_metrics_latency_buckets, p2n_metrics_latency_nbuckets},
        {&out->synced, P2N_METRIC_COUNTER, "pg2neo_synced_total", "Entities written to Neo4j", "entity_type", NULL,
         0},
        {&out->failures, P2N_METRIC_COUNTER, "pg2neo_failures_total", "Failed sync attempts", "entity_type", NULL,
         0},
        {&out->retries, P2N_METRIC_COUNTER, "pg2neo_retries_total",
         "Sync attempts retried after a transient error", "entity_type", NULL, 0},
        {&out->version_ahead, P2N_METRIC_COUNTER, "pg2neo_version_ahead_total",
         "Writes skipped because the graph held versions the version sequence had not reached (queued again)",
         "entity_type", NULL, 0},
        {&out->source_denied, P2N_METRIC_GAUGE, "pg2neo_source_denied",
         "1 while the sync user may not read an entity's rows (permission denied); its changes wait", "entity_type",
         NULL, 0},
        {&out->alert_firing, P2N_METRIC_GAUGE, "pg2neo_alert_firing", "1 while the alert fires, else 0",
         "alert,severity", NULL, 0},
        {&out->build_info, P2N_METRIC_GAUGE, "pg2neo_build_info", "Version of pg2neo (value always 1)", "version",
         NULL, 0},
    };
    for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++) {
        int rc = p2n_metrics_register(r, defs[i].type, defs[i].name, defs[i].help, defs[i].labels, defs[i].buckets,
                                      defs[i].nbuckets, defs[i].slot, err);
        if (rc != 0)
            return rc;
    }
    return p2n_metric_set1(out->build_info, p2n_version(), 1);
}
