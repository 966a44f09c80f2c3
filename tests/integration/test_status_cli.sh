#!/usr/bin/env bash
# pg2neo status: counts that match the queue (after a fold), before and after a batch; Neo4j
# unreachable is reported, not fatal; bad usage exits 2.
set -uo pipefail
src=${P2N_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${P2N_BUILD:-$src/build/debug}/pg2neo
fail() { echo "FAIL: $*"; exit 1; }
: "${DATABASE_URL:?the services are not up (DATABASE_URL unset)}"
admin=$DATABASE_URL
db=status_test
psql "$admin" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null || fail "create database"
export DATABASE_URL=${admin%/*}/$db
cleanup() {
  "$bin" cypher "MATCH (n) WHERE n.id STARTS WITH 'st-' DETACH DELETE n" >/dev/null 2>&1
  psql "$admin" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1
  rm -f "$map"
}
map=$(mktemp /tmp/p2n-status-XXXXXX.yaml)
trap cleanup EXIT
psql "$DATABASE_URL" -q -v ON_ERROR_STOP=1 -c "CREATE TABLE st_items (id text PRIMARY KEY, name text)" || fail "schema"
cat > "$map" <<'YAML'
entities:
  StItem:
    table: st_items
    labels: [StItem]
YAML
"$bin" init --config "$map" >/dev/null 2>&1 || fail "init failed: $("$bin" init --config "$map" 2>&1)"
psql "$DATABASE_URL" -qc "INSERT INTO st_items SELECT 'st-' || g, 'n' || g FROM generate_series(1, 25) g"

j=$("$bin" status --config "$map" --json) || fail "status --json failed"
python3 - "$j" <<'PY' || exit 1
import json, sys
s = json.loads(sys.argv[1])
assert s["initialized"] is True and s["postgresConnected"] is True and s["neo4jConnected"] is True, s
assert s["pendingEntities"] == 25, s["pendingEntities"]
t = {x["entityType"]: x for x in s["entityTypes"]}
assert t["StItem"]["pending"] == 25, t
assert s["oldestPendingAgeSeconds"] is not None and s["oldestPendingAgeSeconds"] >= 0
PY
"$bin" sync --once --config "$map" >/dev/null || fail "sync --once failed"
txt=$("$bin" status --config "$map") || fail "status failed"
grep -qE '^pendingEntities +0$' <<<"$txt" || fail "pending not 0 after a batch: $txt"
grep -qE '^syncedEntities +25$' <<<"$txt" || fail "synced not 25 after a batch: $txt"
grep -qE '^lastSyncBatch +#[0-9]+ completed, 25 entities, 25 synced' <<<"$txt" || fail "lastSyncBatch: $txt"
grep -qE '^StItem +0 +0 +25 +0$' <<<"$txt" || fail "per-type line: $txt"

# Neo4j unreachable: reported, exit 0; its password never printed
out=$(NEO4J_URI=bolt://127.0.0.1:1 "$bin" status --config "$map" 2>&1) || fail "status failed without Neo4j: $out"
grep -qE '^neo4jConnected +no$' <<<"$out" || fail "neo4jConnected not 'no': $out"
! grep -qF "$NEO4J_PASSWORD" <<<"$out" || fail "password printed"

"$bin" status --bogus >/dev/null 2>&1; [ $? = 2 ] || fail "bad option did not exit 2"
"$bin" status --config /nonexistent.yaml >/dev/null 2>&1; [ $? = 2 ] || fail "missing mapping did not exit 2"
echo "1 passed, 0 failed"
