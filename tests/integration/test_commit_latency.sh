#!/usr/bin/env bash
# Issue 15 item 4: the sync latency counts from the commit of a change. A transaction that holds
# its change 3 s before it commits used to be recorded 3 s late (the change log's time is the
# transaction's start); with track_commit_timestamp on (scripts/services sets it) it counts from
# the commit: pg2neo_sync_latency_seconds puts it under 1 s, and avgLatencySeconds (status --json
# and /api/sync/status, null before) says the same.
# Database commit_latency_test, label CL_Item on the shared servers.
set -euo pipefail
top=${P2N_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${P2N_BUILD:-$top/build/debug}/pg2neo
: "${DATABASE_URL:?DATABASE_URL is not set (scripts/services env)}"
: "${NEO4J_URI:?NEO4J_URI is not set (scripts/services env)}"
tmp=$(mktemp -d)
fail() { echo "FAIL: $*" >&2; [ -f "$tmp/run.log" ] && tail -20 "$tmp/run.log" >&2; exit 1; }
pid=""
admin=$DATABASE_URL
psql -qX "$admin" -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS commit_latency_test WITH (FORCE)" \
     -c "CREATE DATABASE commit_latency_test" >/dev/null 2>&1 || fail "could not create commit_latency_test"
base=${DATABASE_URL%%\?*}; q=""; [[ $DATABASE_URL == *\?* ]] && q="?${DATABASE_URL#*\?}"
export DATABASE_URL="${base%/*}/commit_latency_test$q"
sql() { psql -qXAt "$DATABASE_URL" -v ON_ERROR_STOP=1 -c "$1"; }
count() { "$bin" cypher "$1" | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["c"])'; }
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
  "$bin" cypher "MATCH (n:CL_Item) DETACH DELETE n" >/dev/null 2>&1 || true
  psql -qX "$admin" -c "DROP DATABASE IF EXISTS commit_latency_test WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
[ "$(sql "SHOW track_commit_timestamp")" = on ] || fail "track_commit_timestamp is off (scripts/services turns it on at the server's start)"
sql "CREATE TABLE items (id int PRIMARY KEY, name text)" >/dev/null
printf 'entities:\n  CL_Item:\n    table: items\n' > "$tmp/mapping.yaml"
export P2N_MAPPING=$tmp/mapping.yaml
"$bin" init >/dev/null 2>&1 || fail "init"
port=$("$top/scripts/free-port")
"$bin" run --http "127.0.0.1:$port" >"$tmp/run.log" 2>&1 &
pid=$!
for _ in $(seq 1 50); do curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 0.1; done
# the change waits 3 s in its open transaction, then commits
sql "BEGIN; INSERT INTO items VALUES (1, 'held'); SELECT pg_sleep(3); COMMIT" >/dev/null
ok=""
for _ in $(seq 1 100); do
  [ "$(count "MATCH (n:CL_Item) RETURN count(n) AS c")" = 1 ] && { ok=1; break; }
  sleep 0.1
done
[ -n "$ok" ] || fail "the change did not reach the graph"
sleep 0.5
curl -fsS "http://127.0.0.1:$port/metrics" > "$tmp/metrics" || fail "metrics"
total=$(sed -n 's/^pg2neo_sync_latency_seconds_count{entity_type="CL_Item"} //p' "$tmp/metrics")
under1=$(sed -n 's/^pg2neo_sync_latency_seconds_bucket{entity_type="CL_Item",le="1"} //p' "$tmp/metrics")
[ "$total" = 1 ] || { grep latency "$tmp/metrics" >&2; fail "one latency observation expected, got '$total'"; }
[ "$under1" = 1 ] || { grep 'latency.*CL_Item' "$tmp/metrics" >&2; fail "a change held 3 s in its transaction was recorded over 1 s from its commit"; }
avg=$(curl -fsS "http://127.0.0.1:$port/api/sync/status" | python3 -c '
import json,sys
t=[x for x in json.load(sys.stdin)["entityTypes"] if x["entityType"]=="CL_Item"][0]
print(t["avgLatencySeconds"])')
python3 -c 'import sys; v=sys.argv[1]; assert v != "None" and 0 <= float(v) < 1, v' "$avg" || fail "avgLatencySeconds is $avg"
kill -TERM "$pid"; wait "$pid" || fail "daemon exit status"; pid=""
avg2=$("$bin" status --json | python3 -c '
import json,sys
t=[x for x in json.load(sys.stdin)["entityTypes"] if x["entityType"]=="CL_Item"][0]
print(t["avgLatencySeconds"])')
python3 -c 'import sys; v=sys.argv[1]; assert v != "None" and 0 <= float(v) < 1, v' "$avg2" || fail "status --json avgLatencySeconds is $avg2"
echo "ok: latency from the commit ($avg s)"
