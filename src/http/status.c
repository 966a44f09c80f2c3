/* Builds the /api/sync/status JSON document from an HttpStatus snapshot (jansson). */
#include "http/status.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"

json_t *http_json_time(int64_t ms)
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

static json_t *opt_seconds(double v) { return (isnan(v) || isinf(v) || v < 0) ? json_null() : json_real(v); }

/* A string, redacted; "" for NULL. Invalid UTF-8 is replaced so jansson accepts it. */
static json_t *safe_string(const char *s)
{
    if (s == NULL)
        return json_string("");
    char *copy = strdup(s);
    if (copy == NULL)
        return NULL;
    p2n_log_redact(copy);
    json_t *j = json_string(copy);
    if (j == NULL) { /* not UTF-8: keep ASCII, replace the rest */
        for (unsigned char *c = (unsigned char *)copy; *c; c++)
            if (*c >= 0x80)
                *c = '?';
        j = json_string(copy);
    }
    free(copy);
    return j;
}

static json_t *batch_json(const HttpBatchStatus *b)
{
    if (b == NULL)
        return json_null();
    return json_pack("{s:I, s:o, s:o, s:o, s:o, s:I, s:I, s:I}", "id", (json_int_t)b->id, "batchType",
                     safe_string(b->batch_type), "status", safe_string(b->status), "startedAt",
                     http_json_time(b->started_ms), "durationSeconds", opt_seconds(b->duration_s), "totalEntities",
                     (json_int_t)b->total, "syncedEntities", (json_int_t)b->synced, "failedEntities",
                     (json_int_t)b->failed);
}

static int append_new(json_t *arr, json_t *v)
{
    if (v == NULL)
        return -1;
    return json_array_append_new(arr, v);
}

json_t *http_status_to_json(const HttpStatus *st)
{
    json_t *types = json_array(), *batches = json_array(), *failures = json_array();
    json_t *alerts = st->alerts ? sync_alerts_to_json(st->alerts) : json_array();
    int bad = types == NULL || batches == NULL || failures == NULL || alerts == NULL;
    for (size_t i = 0; !bad && i < st->ntypes; i++) {
        const HttpTypeStatus *t = &st->types[i];
        bad = append_new(types, json_pack("{s:o, s:I, s:I, s:I, s:I, s:o, s:o}", "entityType",
                                          safe_string(t->entity_type), "pending", (json_int_t)t->pending,
                                          "inProgress", (json_int_t)t->in_progress, "synced", (json_int_t)t->synced,
                                          "failed", (json_int_t)t->failed, "oldestPendingAgeSeconds",
                                          opt_seconds(t->oldest_pending_age_s), "avgLatencySeconds",
                                          opt_seconds(t->avg_latency_s))) != 0;
    }
    for (size_t i = 0; !bad && i < st->nbatches; i++)
        bad = append_new(batches, batch_json(&st->recent_batches[i])) != 0;
    for (size_t i = 0; !bad && i < st->nfailures; i++) {
        const HttpFailureStatus *f = &st->recent_failures[i];
        bad = append_new(failures, json_pack("{s:o, s:o, s:i, s:o, s:o}", "entityType", safe_string(f->entity_type),
                                             "entityId", safe_string(f->entity_id), "attemptNumber", (int)f->attempt,
                                             "failureMessage", safe_string(f->message), "createdAt",
                                             http_json_time(f->at_ms))) != 0;
    }
    int firing = st->alerts ? sync_alerts_firing_count(st->alerts) : 0;
    if (bad) {
        json_decref(types);
        json_decref(batches);
        json_decref(failures);
        json_decref(alerts);
        return NULL;
    }
    return json_pack("{s:b, s:b, s:b, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:i, s:o, s:s}",
                     "initialized", st->initialized, "neo4jConnected", st->neo4j_connected, "postgresConnected",
                     st->postgres_connected, "pendingEntities", (json_int_t)st->pending, "inProgressEntities",
                     (json_int_t)st->in_progress, "failedEntities", (json_int_t)st->failed, "syncedEntities",
                     (json_int_t)st->synced, "conflictCount", (json_int_t)st->conflicts, "lastSyncBatch",
                     batch_json(st->last_batch), "oldestPendingAgeSeconds", opt_seconds(st->oldest_pending_age_s),
                     "lagSeconds", opt_seconds(st->lag_s), "entityTypes", types, "recentBatches", batches,
                     "recentFailures", failures, "alerts", alerts, "firingAlerts", firing, "generatedAt",
                     http_json_time(st->now_ms), "version", p2n_version());
}

int http_status_render(const HttpStatus *st, P2nBuf *out)
{
    json_t *j = http_status_to_json(st);
    if (j == NULL)
        return P2N_ENOMEM;
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (s == NULL)
        return P2N_ENOMEM;
    p2n_buf_append_str(out, s);
    free(s);
    return out->failed ? P2N_ENOMEM : 0;
}
