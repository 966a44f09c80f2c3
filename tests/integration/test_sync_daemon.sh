#!/usr/bin/env bash
# The daemon under faults, on servers of its own (scripts/services on free ports, stopped at the
# end): the civic example under the change generator with three `pg2neo run` sharing the queue;
# one daemon is killed with -9 mid-load and restarted; Neo4j is stopped for a while and started
# again. Then, once the queue is drained: no entity failed, the failures recorded are all
# retryable, no daemon exited, no node or relationship is duplicated, the graph equals PostgreSQL
# (ids, relationships), and SIGTERM stops each daemon with exit 0 within syncTimeoutMs.
# P2N_BIN picks the binary (default: the debug build).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
bin=${P2N_BIN:-$top/build/debug/pg2neo}
work=$(mktemp -d /tmp/p2n-syncd-XXXXXX)
chmod 755 "$work" # the private PostgreSQL runs as user postgres when we are root
fail() { echo "FAIL: $*" >&2; for f in "$work"/d*.log; do echo "--- $f" >&2; tail -20 "$f" >&2; done; exit 1; }
note() { echo "test_sync_daemon: $*" >&2; }

free_port() { "$top/scripts/free-port"; }
export P2N_RUN=$work/run P2N_PG_PORT=$(free_port) P2N_BOLT_PORT=$(free_port) P2N_NEO4J_HEAP=512m
pids=()
gen=
cleanup() {
  set +e
  [ -n "$gen" ] && kill "$gen" 2>/dev/null
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  wait 2>/dev/null
  scripts/services down >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

t0=$(date +%s)
# never fall back on the shared servers: forget them, and check that what we got is private
unset DATABASE_URL NEO4J_URI NEO4J_USER NEO4J_PASSWORD NEO4J_PASSWORD_FILE NEO4J_DATABASE PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE
env_lines=$(scripts/services up) || fail "could not start private servers"
eval "$env_lines"
case "${NEO4J_URI:-}:${DATABASE_URL:-}" in
  *":$P2N_BOLT_PORT:"*":$P2N_PG_PORT/"*) ;;
  *) fail "the servers started are not the private ones" ;;
esac
note "private PostgreSQL :$P2N_PG_PORT and Neo4j :$P2N_BOLT_PORT up in $(( $(date +%s) - t0 )) s"
. examples/civic/pgenv.sh
psql -q -v ON_ERROR_STOP=1 -f examples/civic/schema.sql >/dev/null
psql -q -v ON_ERROR_STOP=1 -v scale=0.1 -f examples/civic/generate.sql >/dev/null

# short timeouts so that a killed daemon's lease (2 x syncTimeoutMs + 5 s) runs out quickly
sed -e 's/syncIntervalMs: .*/syncIntervalMs: 2000/' -e 's/syncTimeoutMs: .*/syncTimeoutMs: 3000/' \
    -e 's/batchSizeLimit: .*/batchSizeLimit: 200/' -e 's/backoffBaseMs: .*/backoffBaseMs: 200/' \
    -e 's/backoffCapMs: .*/backoffCapMs: 2000/' -e 's/maxAttempts: .*/maxAttempts: 10/' \
    examples/civic/mapping.yaml > "$work/mapping.yaml"
m=$work/mapping.yaml
dry=$("$bin" init --config "$m" --dry-run) || fail "init --dry-run"
echo "$dry" | grep -q 'would capture public.bills as Bill' || fail "init --dry-run does not show the plan: $dry"
[ "$(psql -qtAc "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'graph_sync%'")" = 0 ] || fail "init --dry-run changed the database"
"$bin" init --config "$m" >/dev/null || fail "init"
"$bin" init --config "$m" | grep -q 'is up to date' || fail "a second init is not a no-op"
out=$("$bin" sync --full --config "$m" --json) || fail "sync --full"
note "resync of every type: $out"
echo "$out" | grep -q '"failedCount":0' || fail "full sync had failures"

q() { psql -qtAc "$1"; }
n4() { "$bin" cypher "$1" | sed -E 's/^\{"x":"?//; s/"?\}$//'; }

http_port=$(free_port)
start_daemon() {
  local http=off; [ "$1" = 0 ] && http=127.0.0.1:$http_port
  "$bin" run --config "$m" --http "$http" >>"$work/d$1.log" 2>&1 & pids[$1]=$!
}
for i in 0 1 2; do start_daemon "$i"; done

# P2N_SYNC_TEST_RATE / P2N_SYNC_TEST_SECONDS make it a longer run by hand (defaults: 100/s, 16 s)
CIVIC_SEED=7 examples/civic/changes.sh "${P2N_SYNC_TEST_RATE:-100}" "${P2N_SYNC_TEST_SECONDS:-16}" 4 >"$work/changes.log" 2>&1 &
gen=$!
sleep 3
note "kill -9 of daemon 1 (pid ${pids[1]}) mid-load, then a restart"
kill -9 "${pids[1]}"
wait "${pids[1]}" 2>/dev/null || true
start_daemon 1
sleep 2
outage=${P2N_SYNC_TEST_OUTAGE_S:-8}
note "Neo4j stopped for $outage s"
scripts/services stop neo4j >/dev/null 2>&1
sleep "$outage"
for i in 0 1 2; do kill -0 "${pids[$i]}" 2>/dev/null || fail "daemon $i exited while Neo4j was down"; done
scripts/services start neo4j >/dev/null 2>&1 || fail "could not start Neo4j again"
note "Neo4j back"
gen_rc=0
wait "$gen" || gen_rc=$?
gen=
note "change generator done (exit $gen_rc): $(grep -E 'number of transactions actually processed' "$work/changes.log" || true)"

# drained: nothing in the log, nothing waiting or in progress, twice in a row
deadline=$(( $(date +%s) + 60 )); calm=0
while :; do
  left=$(q "SELECT (SELECT count(*) FROM graph_sync_log) + (SELECT count(*) FROM graph_sync_status WHERE sync_status IN ('pending','deleted','in_progress'))")
  if [ "$left" = 0 ]; then calm=$((calm + 1)); [ $calm -ge 2 ] && break; else calm=0; fi
  [ "$(date +%s)" -lt "$deadline" ] || fail "queue not drained after 60 s ($left left)"
  sleep 1
done
note "queue drained $(( $(date +%s) - t0 )) s after the start"
for i in 0 1 2; do kill -0 "${pids[$i]}" 2>/dev/null || fail "daemon $i is not running"; done

failed=$(q "SELECT count(*) FROM graph_sync_status WHERE sync_status = 'failed'")
[ "$failed" = 0 ] || fail "$failed entities failed: $(q "SELECT entity_type, entity_id, last_error FROM graph_sync_status WHERE sync_status = 'failed' LIMIT 3")"
nonretry=$(q "SELECT count(*) FROM graph_sync_failures WHERE NOT retryable")
[ "$nonretry" = 0 ] || fail "$nonretry non-retryable failures: $(q "SELECT error_code, failure_message FROM graph_sync_failures WHERE NOT retryable LIMIT 3")"
retry=$(q "SELECT count(*) FROM graph_sync_failures WHERE retryable")
faults=$(cat "$work"/d*.log | grep -ciE 'level=(warn|error)' || true)
note "retryable failures recorded: $retry; warnings in the daemons' logs: $faults"
[ "$faults" -gt 0 ] || fail "Neo4j was down and no daemon logged it"
batches=$(q "SELECT count(DISTINCT worker_id) FROM graph_sync_batches WHERE total_entities > 0")
note "workers that ran batches: $batches"

# daemon 0 serves the status API and metrics
if command -v curl >/dev/null; then
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$http_port/readyz")" = 200 ] || fail "/readyz is not 200"
  st=$(curl -s "http://127.0.0.1:$http_port/api/sync/status")
  echo "$st" | grep -q '"neo4jConnected":true' || fail "status API: $st"
  synced=$(curl -s "http://127.0.0.1:$http_port/metrics" | awk '/^pg2neo_synced_total/ {s += $2} END {print s + 0}')
  [ "$synced" -gt 0 ] || fail "pg2neo_synced_total is 0"
  note "HTTP: ready, status API answers, daemon 0 synced $synced entities"
fi
once=$("$bin" sync --once --config "$m" --json)
echo "$once" | grep -q '"totalEntities":0' || fail "sync --once after the drain found work: $once"

# the embedding example (public API only) against the same queue
embed=$(dirname "$bin")/example_embed
[ -x "$embed" ] || fail "$embed is not built"
eo=$("$embed" "$m" 1 2>&1) || fail "example_embed: $eo"
echo "$eo" | grep -q '^initialized=1 postgres=1 neo4j=1 scheduler=1' || fail "example_embed status: $eo"
echo "$eo" | grep -q '^Synced: 0/0' || fail "example_embed found work after the drain: $eo"
note "example_embed: $(echo "$eo" | grep "^initialized" | head -1)"

# no duplicates
dup=$(n4 "MATCH (n) WHERE n.id IS NOT NULL WITH labels(n)[0] AS l, n.id AS id, count(*) AS c WHERE c > 1 RETURN count(*) AS x")
[ "$dup" = 0 ] || fail "$dup duplicated nodes"
dup=$(n4 "MATCH (a)-[r]->(b) WITH a, b, type(r) AS t, count(*) AS c WHERE c > 1 RETURN count(*) AS x")
[ "$dup" = 0 ] || fail "$dup duplicated relationships"

# the graph equals PostgreSQL
same() { # name, cypher (column x), sql
  local a b
  a=$(n4 "$2" | LC_ALL=C sort); b=$(q "$3" | LC_ALL=C sort)
  if [ "$a" != "$b" ]; then
    diff <(echo "$a") <(echo "$b") | head -5 >&2
    fail "$1 differs: graph $(echo -n "$a" | grep -c . || true), PostgreSQL $(echo -n "$b" | grep -c . || true)"
  fi
  note "$1: $(echo -n "$a" | grep -c . || true) equal"
}
live="WHERE n._p2n_version IS NOT NULL"
same users "MATCH (n:User) $live RETURN n.id + '|' + toString(n.reputation) AS x" "SELECT id || '|' || reputation FROM users WHERE deleted_at IS NULL"
same bills "MATCH (n:Bill) $live RETURN n.id + '|' + n.status AS x" "SELECT id || '|' || status FROM bills"
same arguments "MATCH (n:Argument) $live RETURN toString(n.id) AS x" "SELECT id FROM arguments"
same claims "MATCH (n:Claim) $live RETURN toString(n.id) AS x" "SELECT id FROM claims"
same comments "MATCH (n:Comment) $live RETURN toString(n.id) AS x" "SELECT id FROM comments WHERE deleted_at IS NULL"
same sittings "MATCH (n:Sitting) $live RETURN toString(n.id) AS x" "SELECT id FROM sittings"
same sponsors "MATCH (n:Sponsor) $live RETURN n.id AS x" "SELECT id FROM sponsors"
same SPONSORED_BY "MATCH (b:Bill)-[:SPONSORED_BY]->(s) RETURN b.id + '>' + s.id AS x" "SELECT id || '>' || sponsor_id FROM bills WHERE sponsor_id IS NOT NULL"
same CO_SPONSORED_BY "MATCH (b:Bill)-[:CO_SPONSORED_BY]->(s) RETURN b.id + '>' + s.id AS x" \
  "SELECT DISTINCT b.id || '>' || c FROM bills b, unnest(b.co_sponsors) c WHERE EXISTS (SELECT 1 FROM sponsors s WHERE s.id = c)"
# tags hold hostile text (newlines, quotes): compared in their JSON form on both sides
same TAGGED "MATCH (b:Bill)-[:TAGGED]->(t) RETURN b.id + '>' + t.name AS x" \
  "SELECT DISTINCT regexp_replace(to_json(b.id || '>' || t)::text, '^\"|\"$', '', 'g') FROM bills b, unnest(b.tags) t"
same VOTED "MATCH (u:User)-[e:VOTED]->(b) RETURN u.id + '>' + b.id + '|' + e.vote AS x" \
  "SELECT v.user_id || '>' || v.bill_id || '|' || v.vote FROM votes v JOIN users u ON u.id = v.user_id WHERE u.deleted_at IS NULL"
same BOOKMARKED "MATCH (u:User)-[e:BOOKMARKED]->(b) RETURN u.id + '>' + b.id AS x" \
  "SELECT v.user_id || '>' || v.bill_id FROM bookmarks v JOIN users u ON u.id = v.user_id WHERE u.deleted_at IS NULL"
same ON_AGENDA "MATCH (b:Bill)-[e:ON_AGENDA]->(s) RETURN b.id + '>' + toString(s.id) AS x" "SELECT bill_id || '>' || sitting_id FROM sitting_bills"
same AUTHORED "MATCH (u:User)-[:AUTHORED]->(c:Comment) RETURN u.id + '>' + toString(c.id) AS x" \
  "SELECT c.user_id || '>' || c.id FROM comments c JOIN users u ON u.id = c.user_id WHERE c.deleted_at IS NULL AND u.deleted_at IS NULL"

# SIGTERM: each exits 0 within syncTimeoutMs (3 s)
for i in 0 1 2; do
  s=$(date +%s%N)
  kill -TERM "${pids[$i]}"
  rc=0; wait "${pids[$i]}" || rc=$?
  ms=$(( ($(date +%s%N) - s) / 1000000 ))
  note "daemon $i stopped by SIGTERM: exit $rc in $ms ms"
  [ "$rc" = 0 ] || fail "daemon $i exited $rc after SIGTERM"
  [ "$ms" -lt 3000 ] || fail "daemon $i took $ms ms to stop"
done
pids=()
# under load the daemons overlapped batches: some batches were claimed and read by a prefetch
prefetched=$(cat "$work"/d*.log | sed -n 's/.*msg="sync daemon stopped".* prefetched=\([0-9]*\).*/\1/p' | awk '{s += $1} END {print s + 0}')
note "batches prefetched during the previous batch's write: $prefetched"
[ "$prefetched" -gt 0 ] || fail "no batch was prefetched under load"
held=$(q "SELECT count(*) FROM graph_sync_status WHERE sync_status = 'in_progress'")
[ "$held" = 0 ] || fail "$held claims still held after shutdown"
note "ok ($(( $(date +%s) - t0 )) s)"
