/*
 * Alerts: the seed's alert table as configurable rules, and a pure evaluator that keeps each
 * rule's state and reports every state change exactly once.
 *
 *   rule                      default threshold       window   severity
 *   pending_entities          pending > 100           5 min    warning
 *   failed_syncs              failures > 5 in 1 h     -        critical
 *   sync_latency              latency > 5 s           -        warning
 *   batch_duration            batch > 120 s           -        warning
 *   conflicts                 conflicts > 0           -        warning
 *   data_staleness_warning    staleness > 1 h         -        warning
 *   data_staleness            staleness > 24 h        -        critical
 *
 * The daemon feeds an observation (current numbers and a wall-clock now) to
 * sync_alerts_evaluate() on every tick. A rule whose condition holds becomes "pending"; once it
 * has held for the rule's window (for_ms, 0 = at once) it is "firing"; when the condition stops
 * holding it goes back to "ok". Each transition is returned once as a SyncAlertEvent; the caller
 * logs it and may POST it to a webhook (sync_alerts_notify). Unknown numbers (negative, NaN) leave
 * a rule's state unchanged: missing data neither fires nor resolves an alert.
 *
 * "failed_syncs" is computed by the evaluator from a cumulative failure counter (as PromQL's
 * increase() does): the increase over the last failed_window_ms. A decreasing counter is a reset.
 * "Data staleness" is the age of the oldest change not yet in Neo4j.
 *
 * Thread-safe: evaluate, snapshot, JSON and metric export take the object's lock.
 */
#ifndef P2N_SYNC_ALERTS_H
#define P2N_SYNC_ALERTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/metrics.h"
#include "mapping/mapping.h"

typedef enum SyncAlertKind {
    SYNC_ALERT_PENDING_ENTITIES = 0,
    SYNC_ALERT_FAILED_SYNCS,
    SYNC_ALERT_SYNC_LATENCY,
    SYNC_ALERT_BATCH_DURATION,
    SYNC_ALERT_CONFLICTS,
    SYNC_ALERT_STALENESS_WARNING,
    SYNC_ALERT_STALENESS,
    SYNC_ALERT_COUNT
} SyncAlertKind;

typedef enum SyncAlertState {
    SYNC_ALERT_STATE_OK = 0,
    SYNC_ALERT_STATE_PENDING = 1, /* condition holds, window not yet passed */
    SYNC_ALERT_STATE_FIRING = 2
} SyncAlertState;

typedef struct SyncAlertRule {
    bool enabled;
    double threshold; /* the condition is value > threshold */
    int64_t for_ms;   /* how long the condition must hold before firing; 0 = at once */
} SyncAlertRule;

typedef struct SyncAlertConfig {
    SyncAlertRule rules[SYNC_ALERT_COUNT];
    int64_t failed_window_ms; /* the window of failed_syncs (default 1 h) */
    int64_t batch_obs_max_age_ms; /* sync_latency and batch_duration look at batches this recent
                                     (default 5 min, as the PromQL rules' [5m]); 0 = forever */
} SyncAlertConfig;

/* One tick's numbers. Any negative (or NaN) field is unknown. */
typedef struct SyncAlertObs {
    int64_t now_ms;           /* wall clock, ms since the epoch (a fake clock in tests) */
    int64_t pending;          /* entities with sync_status pending */
    int64_t failures_total;   /* cumulative count of failed sync attempts (monotonic) */
    double sync_latency_s;    /* commit-to-graph latency of the last batch (its maximum or mean) */
    double batch_duration_s;  /* duration of the last batch */
    int64_t conflicts;        /* entities with unresolved conflicts */
    double staleness_s;       /* age of the oldest pending change; 0 when nothing is pending */
    int64_t last_batch_ms;    /* wall clock at the end of the last batch; 0 = not known. A batch's
                                 latency and duration count for batch_obs_max_age_ms, then as 0 */
} SyncAlertObs;

/* An observation with every field unknown and now_ms set. */
SyncAlertObs sync_alert_obs_unknown(int64_t now_ms);

typedef struct SyncAlertEvent {
    SyncAlertKind kind;
    SyncAlertState from;
    SyncAlertState to;
    double value;      /* the observed value that caused the change */
    double threshold;
    int64_t at_ms;     /* now_ms of the observation */
    int64_t since_ms;  /* when the condition started to hold (for resolutions: when it fired) */
} SyncAlertEvent;

/* A rule's current state, for the status JSON and the dashboard. */
typedef struct SyncAlertStatus {
    SyncAlertKind kind;
    SyncAlertState state;
    double value;      /* last known value, NaN if none yet */
    double threshold;
    int64_t since_ms;  /* start of the current state, 0 when ok since the start */
} SyncAlertStatus;

typedef struct SyncAlerts SyncAlerts;

/* The seed's defaults (see the table above). */
void sync_alert_config_defaults(SyncAlertConfig *cfg);

/* "pending_entities", ...; "warning" or "critical"; "ok", "pending", "firing". */
const char *sync_alert_name(SyncAlertKind kind);
const char *sync_alert_severity(SyncAlertKind kind);
const char *sync_alert_state_name(SyncAlertState state);
/* A one-line English description of the rule ("pending entities > 100 for 5m"), into buf. */
const char *sync_alert_describe(const SyncAlertConfig *cfg, SyncAlertKind kind, char *buf, size_t size);

/* Parses a rule name back to its kind; -1 when unknown. */
int sync_alert_parse_name(const char *name);

/* A new evaluator with a copy of cfg (NULL = defaults); NULL when out of memory. */
SyncAlerts *sync_alerts_new(const SyncAlertConfig *cfg);
void sync_alerts_free(SyncAlerts *a);

/*
 * Feeds one observation; writes at most one event per rule into events (room for max, and
 * SYNC_ALERT_COUNT is always enough) and returns how many. Transitions: ok->pending,
 * pending->firing, ok->firing (window 0), pending->ok, firing->ok.
 */
size_t sync_alerts_evaluate(SyncAlerts *a, const SyncAlertObs *obs, SyncAlertEvent *events, size_t max);

/* Copies every rule's status into out[SYNC_ALERT_COUNT]. */
void sync_alerts_snapshot(SyncAlerts *a, SyncAlertStatus out[SYNC_ALERT_COUNT]);

/* How many rules are firing now. */
int sync_alerts_firing_count(SyncAlerts *a);

/* The rules as a JSON array of {name, severity, state, value, threshold, forSeconds, since,
   description} (since: ISO 8601 UTC or null); a new reference, NULL when out of memory. */
json_t *sync_alerts_to_json(SyncAlerts *a);

/* Sets gauge {alert,severity} (pg2neo_alert_firing) to 1 for firing rules, 0 otherwise. */
void sync_alerts_export(SyncAlerts *a, P2nMetric *gauge);

/* A webhook body: {"source":"pg2neo","events":[{alert, severity, state, previous, value,
   threshold, at, since, description}]}. Returns 0 or P2N_ENOMEM. */
int sync_alert_events_json(const SyncAlertConfig *cfg, const SyncAlertEvent *events, size_t n, P2nBuf *out);

/* Where to POST alert changes. url NULL or "" disables the webhook. */
typedef struct SyncWebhookConfig {
    const char *url;          /* http://host[:port][/path]; https is not supported */
    const char *bearer_token; /* sent as "Authorization: Bearer ..." when not NULL/"" */
    int timeout_ms;           /* whole request: connect, send, status line (default 5000 when <= 0) */
} SyncWebhookConfig;

/*
 * POSTs body (JSON) to url with a plain-socket HTTP/1.1 client, bounded by timeout_ms. Returns 0
 * when the receiver answered 2xx; P2N_EINVAL for a bad URL, P2N_ETIMEDOUT, P2N_EIO (connection
 * failure, or a non-2xx status, named in err), P2N_EPROTO for a malformed answer.
 */
int sync_webhook_post(const SyncWebhookConfig *wh, const char *body, size_t len, P2nErr *err);

/*
 * Logs each event once (as sync_alerts_report does) and, when wh has a URL and some event is a
 * firing or a resolution, POSTs those events in one webhook call, synchronously. Returns 0, or
 * the webhook's error (already logged).
 */
int sync_alerts_notify(const SyncAlertConfig *cfg, const SyncAlertEvent *events, size_t n,
                       const SyncWebhookConfig *wh);

/* The rules from a mapping's alerts section: thresholds in the mapping's units (ms -> s), the
   pending window and the failure window; a threshold of -1 disables its rule. */
void sync_alert_config_from_mapping(const MappingAlerts *ma, SyncAlertConfig *cfg);

/*
 * Sets where sync_alerts_report POSTs changes once sync_alerts_start has run (wh is copied; url
 * NULL or "" = no webhook). Call once, before sync_alerts_start. Returns 0, P2N_EINVAL for a bad
 * URL or token, P2N_ESTATE when already set, P2N_ENOMEM.
 */
int sync_alerts_set_webhook(SyncAlerts *a, const SyncWebhookConfig *wh, P2nErr *err);

/*
 * Makes a's reports live (the daemon calls it when its loop starts): from then on
 * sync_alerts_report logs the changes and, with a webhook set, hands the calls to a worker thread
 * that POSTs them one at a time and in order, so that a slow or dead receiver never holds up the
 * caller. Before it, evaluations only update the states (a one-shot `pg2neo status` neither logs
 * nor posts). sync_alerts_free stops the worker: it waits for a call in flight (at most its
 * timeout) and drops the calls still queued, with a warning. Returns 0 or P2N_ENOMEM.
 */
int sync_alerts_start(SyncAlerts *a, P2nErr *err);

/*
 * Once live (sync_alerts_start), logs each event once (ok->pending "alert pending" and
 * pending->ok "alert cleared" at info, "alert firing" at warn or error for critical rules,
 * "alert resolved" at info) and, when a
 * webhook is set and some event is a firing or a resolution, queues one webhook call with those
 * events (at most 64 calls wait; beyond that a call is dropped with a warning). Never blocks on
 * the network.
 */
void sync_alerts_report(SyncAlerts *a, const SyncAlertEvent *events, size_t n);

/* A new evaluator for a mapping's alerts section with its webhook set when webhookUrl is (bearer
   token from $P2N_ALERT_WEBHOOK_TOKEN, masked in logs); not live yet. NULL on error (err says). */
SyncAlerts *sync_alerts_from_mapping(const MappingAlerts *ma, P2nErr *err);

/* The evaluator's configuration (a copy lives in the object). */
const SyncAlertConfig *sync_alerts_config(const SyncAlerts *a);

#endif
