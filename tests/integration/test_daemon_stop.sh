#!/usr/bin/env bash
# SIGTERM under load (issue 18, item 8): the daemon's stop marks or releases every claim it holds
# before it closes its connections, so that no entity waits for its lease (2 x syncTimeoutMs + 5 s)
# to run out. A pgbench load keeps batches (and the prefetch, and the deferred marks) busy; the
# daemon is stopped in the middle of it, several times. Database stop_test, label ST_Item.
set -euo pipefail
top=${P2N_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${P2N_BUILD:-$top/build/debug}/pg2neo
: "${DATABASE_URL:?DATABASE_URL is not set (scripts/services env)}"
: "${NEO4J_URI:?NEO4J_URI is not set (scripts/services env)}"
tmp=$(mktemp -d)
pid="" load=""
fail() { echo "FAIL: $*" >&2; [ -f "$tmp/run.log" ] && tail -30 "$tmp/run.log" >&2; exit 1; }
psql -qX "$DATABASE_URL" -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS stop_test WITH (FORCE)" \
     -c "CREATE DATABASE stop_test" >/dev/null 2>&1 || fail "could not create stop_test"
admin=$DATABASE_URL
base=${DATABASE_URL%%\?*}; q=""; [[ $DATABASE_URL == *\?* ]] && q="?${DATABASE_URL#*\?}"
export DATABASE_URL="${base%/*}/stop_test$q"
cy() { "$bin" cypher "$1"; }
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
  [ -n "$load" ] && kill "$load" 2>/dev/null
  wait 2>/dev/null
  cy "MATCH (n:ST_Item) DETACH DELETE n" >/dev/null 2>&1 || true
  psql -qX "$admin" -c "DROP DATABASE IF EXISTS stop_test WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
[ -n "${P2N_KEEP:-}" ] && trap - EXIT
sql() { psql -qXAt "$DATABASE_URL" -v ON_ERROR_STOP=1 -c "$1"; }
sql "CREATE TABLE items (id int PRIMARY KEY, v int NOT NULL DEFAULT 0, note text)"
sql "INSERT INTO items (id) SELECT g FROM generate_series(1, 2000) g"
# long leases (syncTimeoutMs 20 s: 45 s), so that a claim left behind is still there when checked
cat > "$tmp/mapping.yaml" <<'YAML'
version: 1
sync: {batchSizeLimit: 100, syncTimeoutMs: 20000}
entities:
  ST_Item:
    table: items
YAML
export P2N_MAPPING=$tmp/mapping.yaml
"$bin" init >/dev/null 2>&1 || { "$bin" init; fail "init"; }
"$bin" full-sync >/dev/null 2>&1 || fail "full-sync"
cat > "$tmp/load.sql" <<'SQL'
\set id random(1, 2000)
UPDATE items SET v = v + 1 WHERE id = :id;
SQL
pgbench -n -f "$tmp/load.sql" -c 2 -T 30 "$DATABASE_URL" >"$tmp/pgbench.log" 2>&1 &
load=$!
held_by() { sql "SELECT count(*) FROM graph_sync_status WHERE sync_status = 'in_progress' AND claimed_by LIKE '%:$1:%'"; }
for round in 1 2 3; do
  port=$("$top/scripts/free-port")
  "$bin" --log-level debug run --http "127.0.0.1:$port" >"$tmp/run.log" 2>&1 &
  pid=$!
  # wait until it has synced some batches under the load
  for _ in $(seq 1 100); do
    n=$(grep -c 'msg=batch ' "$tmp/run.log" || true)
    [ "$n" -ge 5 ] && break
    kill -0 "$pid" 2>/dev/null || fail "the daemon exited"
    sleep 0.1
  done
  [ "$n" -ge 5 ] || fail "round $round: the daemon ran no batches under load"
  kill -TERM "$pid"
  rc=0; wait "$pid" || rc=$?
  [ "$rc" = 0 ] || fail "round $round: exit $rc after SIGTERM"
  left=$(held_by "$pid")
  echo "round $round: $n batches, $left claims left in progress after SIGTERM" >&2
  [ "$left" = 0 ] || fail "round $round: $left claims still in progress after SIGTERM (the leases would hold them)"
  grep -q 'could not' "$tmp/run.log" && fail "round $round: the stop logged a failure"
  pid=""
done
kill "$load" 2>/dev/null || true
wait "$load" 2>/dev/null || true
load=""
# nothing lost: a final drain leaves the graph equal to the table
"$bin" sync --once >/dev/null 2>&1 || true
"$bin" sync --once >/dev/null 2>&1 || true
"$bin" verify >/dev/null 2>&1 || fail "verify after the stops: $("$bin" verify 2>&1 | tail -5)"
echo "ok" >&2
