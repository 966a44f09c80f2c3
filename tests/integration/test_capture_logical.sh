#!/usr/bin/env bash
# Logical capture (source.capture: logical) on the civic example, database logical_test, labels LG_*:
# init creates no trigger but a publication of the key columns and a replication slot; exact queue
# contents after INSERT, UPDATE, DELETE, an array change, a composite key, a primary-key change and
# TRUNCATE; a 5,000-row UPDATE; the changes sync and verify is clean; the daemon picks up a change
# without any trigger; a switch to triggers and back; uninstall removes slot and publication; a bad
# capture value exits 2.
# Needs wal_level = logical (scripts/services sets it); fails, never skips, without it.
set -euo pipefail
top=${P2N_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${P2N_BUILD:-$top/build/debug}/pg2neo
: "${DATABASE_URL:?DATABASE_URL is not set (scripts/services env)}"
: "${NEO4J_URI:?NEO4J_URI is not set (scripts/services env)}"
fail() { echo "FAIL: $*" >&2; exit 1; }
level=$(psql -qXAt "$DATABASE_URL" -c "SHOW wal_level") || fail "PostgreSQL unreachable"
[ "$level" = logical ] || fail "the test server runs with wal_level = $level; logical capture needs logical (scripts/services restart pg)"
tmp=$(mktemp -d)
pid=""
psql -qX "$DATABASE_URL" -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS logical_test WITH (FORCE)" >/dev/null 2>&1 || true
# a slot left by an interrupted earlier run pins the old database
psql -qXAt "$DATABASE_URL" -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = 'logical_test'" >/dev/null
psql -qX "$DATABASE_URL" -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS logical_test WITH (FORCE)" \
     -c "CREATE DATABASE logical_test" >/dev/null 2>&1 || fail "could not create logical_test"
admin=$DATABASE_URL
base=${DATABASE_URL%%\?*}; q=""; [[ $DATABASE_URL == *\?* ]] && q="?${DATABASE_URL#*\?}"
export DATABASE_URL="${base%/*}/logical_test$q"
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
  "$bin" cypher "MATCH (n) WHERE any(l IN labels(n) WHERE l STARTS WITH 'LG_') DETACH DELETE n" >/dev/null 2>&1 || true
  psql -qXAt "$admin" -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = 'logical_test'" >/dev/null 2>&1 || true
  psql -qX "$admin" -c "DROP DATABASE IF EXISTS logical_test WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
psql -qX "$DATABASE_URL" -v ON_ERROR_STOP=1 -f "$top/examples/civic/schema.sql" >/dev/null
psql -qX "$DATABASE_URL" -v ON_ERROR_STOP=1 -v scale=0.1 -f "$top/examples/civic/generate.sql" >/dev/null

# the civic mapping, every label prefixed LG_, capture: logical
awk -v P=LG_ '
/^relationships:/ { inrel = 1 }
/^  schema: / && !done { print; print "  capture: logical"; done = 1; next }
!inrel && /^  [A-Za-z]+:$/ { name = $1; sub(":", "", name); print; next }
!inrel && /^    table: / { print; getline nxt
  if (nxt ~ /labels:/) { gsub(/\[/, "[" P, nxt); gsub(/, /, ", " P, nxt); print nxt }
  else { print "    labels: [" P name "]"; print nxt }; next }
{ gsub(/label: Tag/, "label: " P "Tag"); print }' "$top/examples/civic/mapping.yaml" > "$tmp/mapping.yaml"
grep -q 'capture: logical' "$tmp/mapping.yaml" && grep -q 'labels: \[LG_User\]' "$tmp/mapping.yaml" || fail "mapping rewrite"
export P2N_MAPPING=$tmp/mapping.yaml
sql() { psql -qXAt "$DATABASE_URL" -v ON_ERROR_STOP=1 -c "$1"; }
# the queue after a fold (pg2neo status pulls the slot, then folds)
queue() { "$bin" status >/dev/null; sql "SELECT entity_type || ' ' || entity_id || ' ' || sync_status || ' ' || op
  FROM graph_sync_status WHERE sync_status <> 'synced' ORDER BY version, entity_type, entity_id"; }
expect() { local got; got=$(queue); [ "$got" = "$2" ] || { printf 'got:\n%s\nexpected:\n%s\n' "$got" "$2" >&2; fail "$1"; }; }
drain() { "$bin" sync --once --limit 100000 >/dev/null || fail "sync --once"; }

# 0. a bad capture value is a mapping error (exit 2)
sed 's/capture: logical/capture: wal/' "$tmp/mapping.yaml" > "$tmp/bad.yaml"
set +e; "$bin" check "$tmp/bad.yaml" >"$tmp/out" 2>&1; r=$?; set -e
[ $r = 2 ] && grep -q 'capture must be triggers, statement or logical' "$tmp/out" || { cat "$tmp/out"; fail "bad capture value: exit $r"; }

# 1. init: no trigger, a publication of the keys, a slot
"$bin" init >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "init"; }
[ "$(sql "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal")" = 0 ] || fail "logical capture installed triggers"
[ "$(sql "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'pg2neo_logical_test_public' AND plugin = 'pgoutput'")" = 1 ] || fail "no slot"
[ "$(sql "SELECT attnames::text FROM pg_publication_tables WHERE pubname = 'pg2neo_logical_test_public' AND tablename = 'votes'")" = "{user_id,bill_id}" ] ||
  fail "votes published with $(sql "SELECT attnames::text FROM pg_publication_tables WHERE tablename = 'votes'")"
[ "$(sql "SELECT count(*) FROM pg_publication_tables WHERE pubname = 'pg2neo_logical_test_public'")" = 12 ] || fail "publication tables"
"$bin" triggers list >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "triggers list"; }
[ "$(grep -c '^captured' "$tmp/out")" = 12 ] || { cat "$tmp/out"; fail "triggers list: not 12 captured"; }
"$bin" init >/dev/null 2>&1 || fail "init is not idempotent"
"$bin" full-sync >/dev/null 2>&1 || fail "full-sync"
"$bin" verify >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "verify after full-sync"; }

# 2. exact queue contents
u1=$(sql "SELECT id FROM users ORDER BY id LIMIT 1"); u2=$(sql "SELECT id FROM users ORDER BY id OFFSET 1 LIMIT 1")
sql "INSERT INTO users (id, email, display_name) VALUES ('00000000-0000-0000-0000-00000000000a', 'lg@example.org', 'LG')"
expect "insert" "User 00000000-0000-0000-0000-00000000000a pending upsert"
drain
sql "UPDATE users SET bio = 'edited' WHERE id = '$u1'"
expect "update" "User $u1 pending upsert"
drain
b1=$(sql "SELECT id FROM bills WHERE cardinality(co_sponsors) > 1 ORDER BY id LIMIT 1")
sql "UPDATE bills SET co_sponsors = co_sponsors[2:] || (SELECT id FROM sponsors ORDER BY id DESC LIMIT 1) WHERE id = '$b1'"
expect "array change" "Bill $b1 pending upsert"
drain
vb=$(sql "SELECT bill_id FROM votes WHERE user_id = '$u2' ORDER BY bill_id LIMIT 1")
[ -n "$vb" ] || { u2=$(sql "SELECT user_id FROM votes ORDER BY 1, bill_id LIMIT 1"); vb=$(sql "SELECT bill_id FROM votes WHERE user_id = '$u2' ORDER BY 1 LIMIT 1"); }
sql "DELETE FROM votes WHERE user_id = '$u2' AND bill_id = '$vb'"
expect "delete, composite key" "Vote [\"$u2\",\"$vb\"] deleted delete"
drain
nb=$(sql "SELECT id FROM bills b WHERE NOT EXISTS (SELECT 1 FROM votes v WHERE v.user_id = '$u2' AND v.bill_id = b.id) ORDER BY id LIMIT 1")
ob=$(sql "SELECT bill_id FROM votes WHERE user_id = '$u2' ORDER BY bill_id LIMIT 1")
sql "UPDATE votes SET bill_id = '$nb' WHERE user_id = '$u2' AND bill_id = '$ob'"
expect "primary-key change" "Vote [\"$u2\",\"$ob\"] deleted delete
Vote [\"$u2\",\"$nb\"] pending upsert"
drain
sql "TRUNCATE bookmarks"
expect "truncate" "Bookmark * pending resync"
drain
"$bin" verify >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "verify after the changes"; }

# 3. a 5,000-row UPDATE: one pending row per entity, all synced
sql "INSERT INTO sessions (id, name, starts_on) SELECT 100000 + g, 'lg ' || g, DATE '2026-01-01' FROM generate_series(1, 5000) g"
[ "$("$bin" status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["pendingEntities"])')" = 5000 ] || fail "5,000 inserts queued"
drain
sql "UPDATE sessions SET name = name || '!' WHERE name LIKE 'lg %'"
[ "$("$bin" status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["pendingEntities"])')" = 5000 ] || fail "5,000-row update queued"
drain
"$bin" verify >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "verify after the bulk update"; }

# 4. the daemon: a change reaches Neo4j without any trigger, through the WAL wake-up
port=$("$top/scripts/free-port")
"$bin" run --http "127.0.0.1:$port" >"$tmp/run.log" 2>&1 &
pid=$!
sleep 1
sql "UPDATE users SET bio = 'from the daemon' WHERE id = '$u2'"
ok=""
for _ in $(seq 1 100); do
  got=$("$bin" cypher "MATCH (u:LG_User {id: '$u2'}) RETURN u.bio AS b" 2>/dev/null | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["b"])' 2>/dev/null || true)
  [ "$got" = "from the daemon" ] && { ok=1; break; }
  sleep 0.1
done
[ -n "$ok" ] || { cat "$tmp/run.log"; fail "the daemon did not sync a change within 10 s"; }
# idle: no batch is recorded while nothing changes
sleep 1
n1=$(sql "SELECT count(*) FROM graph_sync_batches")
sleep 3
n2=$(sql "SELECT count(*) FROM graph_sync_batches")
[ "$n1" = "$n2" ] || fail "the idle daemon recorded $((n2 - n1)) batches in 3 s"
kill -TERM "$pid"; wait "$pid" || fail "daemon exit status"; pid=""
grep -q 'level=error' "$tmp/run.log" && { cat "$tmp/run.log"; fail "errors in the daemon log"; }

# 5. switching to triggers drops the slot and the publication; switching back restores them
sed 's/capture: logical/capture: triggers/' "$tmp/mapping.yaml" > "$tmp/triggers.yaml"
"$bin" init --config "$tmp/triggers.yaml" >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "init with triggers"; }
[ "$(sql "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'pg2neo_logical_test_public'")" = 0 ] || fail "slot left after switching to triggers"
[ "$(sql "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal")" -ge 12 ] || fail "no triggers after switching"
"$bin" init >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "init back to logical"; }
[ "$(sql "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal")" = 0 ] || fail "triggers left after switching back to logical"
[ "$(sql "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'pg2neo_logical_test_public'")" = 1 ] || fail "no slot after switching back"

# 6. uninstall removes the slot (which would otherwise keep WAL forever) and the publication
"$bin" uninstall --yes >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "uninstall"; }
[ "$(sql "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'pg2neo_logical_test_public'")" = 0 ] || fail "slot left after uninstall"
[ "$(sql "SELECT count(*) FROM pg_publication WHERE pubname = 'pg2neo_logical_test_public'")" = 0 ] || fail "publication left after uninstall"
echo "ok: logical capture"
