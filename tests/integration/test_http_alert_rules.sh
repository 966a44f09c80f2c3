#!/usr/bin/env bash
# docs/prometheus-alerts.yml evaluated by promtool on synthetic series: each of the seed's rules
# fires on the condition it names, not before its window, and not below its threshold (the same
# cases as tests/unit/test_alerts.c, for the PromQL side). promtool comes from the Debian
# "prometheus" package (scripts/setup --with-bench); without it the test is skipped (exit 77).
set -euo pipefail
top=${P2N_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v promtool >/dev/null || { echo "SKIP: promtool is not installed (scripts/setup --with-bench)" >&2; exit 77; }

tmp=$(mktemp -d /tmp/p2n-rules-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cp "$top/docs/prometheus-alerts.yml" "$tmp/rules.yml"
promtool check rules "$tmp/rules.yml" >/dev/null || fail "promtool check rules failed"

cat >"$tmp/test.yml" <<'EOF'
rule_files: [rules.yml]
evaluation_interval: 1m
tests:
  # pending > 100 for 5 min: 150 pending from t=0 (100 on another type does not count alone)
  - interval: 1m
    input_series:
      - series: 'pg2neo_entities{entity_type="bill",status="pending"}'
        values: '150x10'
      - series: 'pg2neo_entities{entity_type="bill",status="synced"}'
        values: '5000x10'
    alert_rule_test:
      - {eval_time: 4m, alertname: Pg2neoPendingEntities, exp_alerts: []}
      - eval_time: 6m
        alertname: Pg2neoPendingEntities
        exp_alerts:
          - exp_labels: {severity: warning}
            exp_annotations:
              summary: "pg2neo: more than 100 entities pending for 5 minutes"
              description: "150 entities are waiting to be synced to Neo4j."
  - interval: 1m
    input_series:
      - series: 'pg2neo_entities{entity_type="bill",status="pending"}'
        values: '100x10'
    alert_rule_test:
      - {eval_time: 8m, alertname: Pg2neoPendingEntities, exp_alerts: []}

  # failed > 5 in 1 h: one failure a minute
  - interval: 1m
    input_series:
      - series: 'pg2neo_failures_total{entity_type="vote"}'
        values: '0+1x90'
    alert_rule_test:
      - {eval_time: 3m, alertname: Pg2neoFailedSyncs, exp_alerts: []}
      - eval_time: 10m
        alertname: Pg2neoFailedSyncs
        exp_alerts:
          - exp_labels: {severity: critical}
            exp_annotations:
              summary: "pg2neo: more than 5 failed syncs in the last hour"
              description: "10 sync attempts failed in the last hour (graph_sync_failures)."
  # ... and 3 failures, then none: never fires
  - interval: 1m
    input_series:
      - series: 'pg2neo_failures_total{entity_type="vote"}'
        values: '0 1 2 3 3 3 3 3 3 3'
    alert_rule_test:
      - {eval_time: 9m, alertname: Pg2neoFailedSyncs, exp_alerts: []}

  # sync latency > 5 s: mean 6 s for bill, 0.5 s for vote
  - interval: 1m
    input_series:
      - series: 'pg2neo_sync_latency_seconds_sum{entity_type="bill"}'
        values: '0+60x10'
      - series: 'pg2neo_sync_latency_seconds_count{entity_type="bill"}'
        values: '0+10x10'
      - series: 'pg2neo_sync_latency_seconds_sum{entity_type="vote"}'
        values: '0+5x10'
      - series: 'pg2neo_sync_latency_seconds_count{entity_type="vote"}'
        values: '0+10x10'
    alert_rule_test:
      - eval_time: 6m
        alertname: Pg2neoSyncLatency
        exp_alerts:
          - exp_labels: {severity: warning, entity_type: bill}
            exp_annotations:
              summary: "pg2neo: mean sync latency of bill above 5 s"
              description: "Commit in PostgreSQL to commit in Neo4j took 6s on average over 5 minutes."

  # batch duration > 2 min: a 150 s batch at minute 3 (one bucket above 120)
  - interval: 1m
    input_series:
      - series: 'pg2neo_batch_duration_seconds_bucket{le="120"}'
        values: '5 6 7 7 8 9 10 11 12 13 14 15 16 17 18 19 20'
      - series: 'pg2neo_batch_duration_seconds_bucket{le="+Inf"}'
        values: '5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21'
      - series: 'pg2neo_batch_duration_seconds_count'
        values: '5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21'
    alert_rule_test:
      - {eval_time: 2m, alertname: Pg2neoBatchDuration, exp_alerts: []}
      - eval_time: 5m
        alertname: Pg2neoBatchDuration
        exp_alerts:
          - exp_labels: {severity: warning}
            exp_annotations:
              summary: "pg2neo: a sync batch took more than 2 minutes"
              description: "1 batches in the last 10 minutes ran longer than 120 s."
      - {eval_time: 16m, alertname: Pg2neoBatchDuration, exp_alerts: []}

  # conflicts > 0
  - interval: 1m
    input_series:
      - series: 'pg2neo_conflicts'
        values: '0 0 2 2 0'
    alert_rule_test:
      - {eval_time: 1m, alertname: Pg2neoConflicts, exp_alerts: []}
      - eval_time: 2m
        alertname: Pg2neoConflicts
        exp_alerts:
          - exp_labels: {severity: warning}
            exp_annotations:
              summary: "pg2neo: 2 entities with unresolved conflicts"
              description: "Neo4j differs from PostgreSQL for these entities; see graph_sync_status.conflict_details."
      - {eval_time: 4m, alertname: Pg2neoConflicts, exp_alerts: []}

  # staleness: 2 h -> warning only; 25 h -> both
  - interval: 1m
    input_series:
      - series: 'pg2neo_oldest_pending_age_seconds{entity_type="bill"}'
        values: '7200 90000'
      - series: 'pg2neo_oldest_pending_age_seconds{entity_type="vote"}'
        values: '10 10'
    alert_rule_test:
      - eval_time: 0m
        alertname: Pg2neoDataStaleWarning
        exp_alerts:
          - exp_labels: {severity: warning}
            exp_annotations:
              summary: "pg2neo: data in Neo4j is more than 1 hour behind"
              description: "The oldest change not yet in Neo4j is 2h 0m 0s old."
      - {eval_time: 0m, alertname: Pg2neoDataStale, exp_alerts: []}
      - eval_time: 1m
        alertname: Pg2neoDataStale
        exp_alerts:
          - exp_labels: {severity: critical}
            exp_annotations:
              summary: "pg2neo: data in Neo4j is more than 24 hours behind"
              description: "The oldest change not yet in Neo4j is 1d 1h 0m 0s old."

  # Neo4j down for a minute
  - interval: 30s
    input_series:
      - series: 'pg2neo_neo4j_up'
        values: '1 0 0 0 0'
    alert_rule_test:
      - {eval_time: 1m, alertname: Pg2neoNeo4jDown, exp_alerts: []}
      - eval_time: 2m
        alertname: Pg2neoNeo4jDown
        exp_alerts:
          - exp_labels: {severity: critical}
            exp_annotations:
              summary: "pg2neo cannot reach Neo4j"
              description: "Changes queue up in PostgreSQL until Neo4j is back; nothing is lost."
EOF
(cd "$tmp" && promtool test rules test.yml) || fail "alert rules do not behave as the seed's table says"
echo "PASS"
