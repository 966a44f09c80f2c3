/*
 * Metrics: a small thread-safe registry of counters, gauges and histograms with labels, rendered
 * in the Prometheus text exposition format 0.0.4 (HELP and TYPE lines, escaped label values).
 *
 * A family (P2nMetric) has a name (always prefixed "pg2neo_"), a help text, a type, up to
 * P2N_METRIC_MAX_LABELS label names and, for histograms, fixed bucket upper bounds. A series is
 * one combination of label values; it is created on first use. The sync daemon updates series
 * from its threads with p2n_metric_*(); the HTTP thread renders with p2n_metrics_render(). One
 * mutex per registry guards everything, so updates and renders may run concurrently.
 *
 *   P2nMetrics *reg = p2n_metrics_new();
 *   P2nStdMetrics m;
 *   p2n_metrics_register_std(reg, &m, NULL);
 *   p2n_metric_observe1(m.sync_latency, "bill", 0.042);
 *   const char *lv[] = {"bill", "pending"};
 *   p2n_metric_set(m.entities, lv, 12);
 */
#ifndef P2N_COMMON_METRICS_H
#define P2N_COMMON_METRICS_H

#include <stddef.h>

#include "common/buf.h"
#include "common/error.h"

#define P2N_METRIC_MAX_LABELS 4
#define P2N_METRIC_MAX_BUCKETS 32
/* Series per family beyond which new label combinations are refused (P2N_ETOOBIG). */
#define P2N_METRIC_MAX_SERIES 4096
#define P2N_METRIC_PREFIX "pg2neo_"

typedef enum P2nMetricType {
    P2N_METRIC_COUNTER = 0,
    P2N_METRIC_GAUGE = 1,
    P2N_METRIC_HISTOGRAM = 2
} P2nMetricType;

typedef struct P2nMetrics P2nMetrics; /* the registry */
typedef struct P2nMetric P2nMetric;   /* one family, owned by its registry */

/* A new, empty registry; NULL when out of memory. */
P2nMetrics *p2n_metrics_new(void);

/* Frees the registry and all its families (their handles become invalid). NULL is ignored. */
void p2n_metrics_free(P2nMetrics *r);

/*
 * Registers a family. labels: comma-separated label names ("entity_type,status") or NULL/"" for
 * none. buckets: strictly increasing finite upper bounds for a histogram (the +Inf bucket is
 * implicit), NULL for other types. A family without labels has its one series from the start
 * (value 0), so it is always rendered. Fails with P2N_EINVAL for a bad name (must match
 * [a-zA-Z_:][a-zA-Z0-9_:]* and start with "pg2neo_"), a bad or reserved label name ("le" on a
 * histogram, "__" prefix), unsorted buckets or a name already registered.
 */
int p2n_metrics_register(P2nMetrics *r, P2nMetricType type, const char *name, const char *help,
                         const char *labels, const double *buckets, size_t nbuckets, P2nMetric **out,
                         P2nErr *err);

/* The family registered under name, or NULL. */
P2nMetric *p2n_metrics_find(P2nMetrics *r, const char *name);

/*
 * Updates one series, named by its label values (an array of as many strings as the family has
 * labels; NULL when it has none). Values may be any bytes except NUL; they are escaped on output.
 *   add:     counters (v >= 0) and gauges;
 *   set:     gauges only;
 *   observe: histograms only (v must not be NaN).
 * Return 0, P2N_EINVAL (wrong type, NULL label value, negative counter increment, NaN), or
 * P2N_ETOOBIG when the family already has P2N_METRIC_MAX_SERIES series; P2N_ENOMEM.
 */
int p2n_metric_add(P2nMetric *m, const char *const *label_values, double v);
int p2n_metric_set(P2nMetric *m, const char *const *label_values, double v);
int p2n_metric_observe(P2nMetric *m, const char *const *label_values, double v);

/* The same for families with at most one label: label is its value, or NULL when there is none. */
int p2n_metric_add1(P2nMetric *m, const char *label, double v);
int p2n_metric_set1(P2nMetric *m, const char *label, double v);
int p2n_metric_observe1(P2nMetric *m, const char *label, double v);

/*
 * Reads a series: a counter's or gauge's value, or a histogram's sum (and its count into *count
 * when count is not NULL). Returns 0, or P2N_ENOTFOUND when the series does not exist.
 */
int p2n_metric_get(P2nMetric *m, const char *const *label_values, double *value, double *count);

/* Drops every series of a labelled family (a gauge refilled from scratch on each scrape), or sets
   the single series of an unlabelled one back to zero. */
void p2n_metric_clear(P2nMetric *m);

/* Appends the whole registry in text format 0.0.4: families in registration order, series in
   creation order. Returns 0, or P2N_ENOMEM when the buffer failed. */
int p2n_metrics_render(P2nMetrics *r, P2nBuf *out);

/* Formats a sample value as Prometheus expects: shortest round-trip decimal, "+Inf", "-Inf",
   "NaN". buf needs 32 bytes. Returns buf. */
char *p2n_metric_format_value(double v, char *buf, size_t size);

/*
 * The metric set of pg2neo (docs/observability.md lists them; docs/prometheus-alerts.yml and
 * docs/grafana-dashboard.json use these names). Gauges marked "provider" are refilled by the
 * daemon's HTTP provider on every scrape; the others are updated as events happen.
 */
typedef struct P2nStdMetrics {
    P2nMetric *entities;         /* gauge {entity_type,status}: pending/in_progress/failed/synced (provider) */
    P2nMetric *conflicts;        /* gauge: entities with unresolved conflicts (provider) */
    P2nMetric *oldest_pending;   /* gauge {entity_type}: age in seconds of the oldest pending change (provider) */
    P2nMetric *postgresql_up;    /* gauge: 1 when PostgreSQL answers (provider) */
    P2nMetric *neo4j_up;         /* gauge: 1 when Neo4j answers (provider) */
    P2nMetric *batches;          /* counter {status}: batches run, by outcome */
    P2nMetric *batch_duration;   /* histogram: batch duration in seconds */
    P2nMetric *sync_latency;     /* histogram {entity_type}: commit in PostgreSQL to commit in Neo4j, seconds */
    P2nMetric *synced;           /* counter {entity_type}: entities written to Neo4j */
    P2nMetric *failures;         /* counter {entity_type}: failed sync attempts (recorded failures) */
    P2nMetric *retries;          /* counter {entity_type}: attempts retried after a transient error */
    P2nMetric *version_ahead;    /* counter {entity_type}: entities queued again because the graph was ahead of the version sequence */
    P2nMetric *source_denied;    /* gauge {entity_type}: 1 while the sync user may not read the entity's rows */
    P2nMetric *alert_firing;     /* gauge {alert,severity}: 1 while an alert fires, else 0 */
    P2nMetric *build_info;       /* gauge {version}: always 1 */
} P2nStdMetrics;

/* Bucket bounds of the two standard histograms (seconds). */
extern const double p2n_metrics_batch_buckets[];
extern const size_t p2n_metrics_batch_nbuckets;
extern const double p2n_metrics_latency_buckets[];
extern const size_t p2n_metrics_latency_nbuckets;

/* Registers the standard set into r and fills out. */
int p2n_metrics_register_std(P2nMetrics *r, P2nStdMetrics *out, P2nErr *err);

#endif
