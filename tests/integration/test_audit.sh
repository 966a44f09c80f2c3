#!/usr/bin/env bash
# The audit trail on the real servers: insert, update (with an array of keys changed), delete,
# each synced, show in `pg2neo history` newest first with increasing versions and the array's
# net change; --limit; retention: rows older than auditRetentionDays are pruned by
# `history --prune` and by a running daemon; auditRetentionDays: 0 writes no rows at all.
set -uo pipefail
src=${P2N_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${P2N_BUILD:-$src/build/debug}/pg2neo
fail() { echo "FAIL: $*"; [ -f "${log:-}" ] && tail -20 "$log"; exit 1; }
: "${DATABASE_URL:?the services are not up (DATABASE_URL unset)}"
admin=$DATABASE_URL
db=audit_test
map=$(mktemp /tmp/p2n-audit-XXXXXX.yaml)
map0=$(mktemp /tmp/p2n-audit0-XXXXXX.yaml)
log=$(mktemp /tmp/p2n-audit-XXXXXX.log)
daemon=
cleanup() {
  [ -n "$daemon" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
  "$bin" cypher "MATCH (n) WHERE n:AuTag OR n:AuDoc DETACH DELETE n" >/dev/null 2>&1
  psql "$admin" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1
  rm -f "$map" "$map0" "$log"
}
trap cleanup EXIT
psql "$admin" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1 || fail "create database"
export DATABASE_URL=${admin%/*}/$db
sql() { psql "$DATABASE_URL" -Atc "$1"; }
psql "$DATABASE_URL" -q <<'SQL' || fail "schema"
CREATE TABLE au_tags (id int PRIMARY KEY, name text);
CREATE TABLE au_docs (id int PRIMARY KEY, title text, tag_ids int[]);
SQL
cat > "$map" <<'YAML'
entities:
  AuTag:
    table: au_tags
  AuDoc:
    table: au_docs
    relationships:
      - type: TAGGED
        column: tag_ids
        to: AuTag
YAML
sed 's/^entities:/sync:\n  auditRetentionDays: 0\nentities:/' "$map" > "$map0"
M="--config $map"
bad=$(mktemp /tmp/p2n-auditbad-XXXXXX.yaml)
printf 'sync:\n  auditRetentionDays: -1\n  conflictScanSample: 0\n  conflictScanIntervalMs: x\nentities:\n  AuTag:\n    table: au_tags\n' >"$bad"
out=$("$bin" check "$bad" 2>&1); rc=$?
rm -f "$bad"
[ $rc = 2 ] && grep -q 'auditRetentionDays must be an integer between 0 and 36500' <<<"$out" &&
  grep -q 'conflictScanSample must be' <<<"$out" && grep -q 'conflictScanIntervalMs must be' <<<"$out" ||
  fail "invalid sync settings: exit $rc: $out"
"$bin" cypher "MATCH (n) WHERE n:AuTag OR n:AuDoc DETACH DELETE n" >/dev/null || fail "Neo4j unreachable"
"$bin" init $M >/dev/null 2>&1 || fail "init"
[ "$(sql "SELECT audit_retention_days FROM graph_sync_state")" = 30 ] || fail "default retention is not 30"

sql "INSERT INTO au_tags SELECT g, 'tag ' || g FROM generate_series(1, 3) g" >/dev/null
sql "INSERT INTO au_docs VALUES (1, 'first', '{1,2}'), (2, 'second', '{}')" >/dev/null
"$bin" sync --once $M >/dev/null || fail "sync 1"
sql "UPDATE au_docs SET title = 'first, edited', tag_ids = '{2,3}' WHERE id = 1" >/dev/null
"$bin" sync --once $M >/dev/null || fail "sync 2"
sql "DELETE FROM au_docs WHERE id = 1" >/dev/null
"$bin" sync --once $M >/dev/null || fail "sync 3"

h=$("$bin" history $M --json AuDoc 1) || fail "history: $h"
python3 - "$h" <<'PY' || fail "history of AuDoc 1: $h"
import json, sys
h = json.loads(sys.argv[1])
assert [e["action"] for e in h] == ["delete", "upsert", "upsert"], h          # newest first
v = [e["version"] for e in h]
assert v[0] > v[1] > v[2] > 0, v
ids = [e["id"] for e in h]
assert ids == sorted(ids, reverse=True), ids
up = h[1]["fields"]                               # the update's array change, as captured
assert up["tag_ids"]["added"] == [3] and up["tag_ids"]["removed"] == [1], up
assert all(e["workerId"] and e["at"].endswith("Z") for e in h), h
PY
out=$("$bin" history $M AuDoc 1)
[ "$(wc -l <<<"$out")" = 3 ] && grep -q '^20.*Z  delete   version [0-9]*  by ' <<<"$out" || fail "history text: $out"
[ "$("$bin" history $M --json --limit 1 AuDoc 1 | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 1 ] ||
  fail "--limit 1"
[ "$(sql "SELECT count(*) FROM graph_sync_audit")" = 7 ] || fail "expected 7 audit rows (5 inserts, 1 update, 1 delete)"

# retention: backdated rows go, recent ones stay (history --prune)
sql "UPDATE graph_sync_audit SET created_at = now() - interval '31 days' WHERE entity_type = 'AuTag'" >/dev/null
out=$("$bin" history $M --prune) || fail "prune: $out"
[ "$out" = "audit rows deleted: 3" ] || fail "prune: $out"
[ "$(sql "SELECT count(*) FROM graph_sync_audit")" = 4 ] || fail "prune removed recent rows"
out=$("$bin" history $M AuTag 2) || fail "history of a pruned entity: $out"
grep -q 'no history' <<<"$out" || fail "pruned history: $out"

# the daemon prunes at start and every minute
sql "UPDATE graph_sync_audit SET created_at = now() - interval '40 days' WHERE entity_id = '2'" >/dev/null
"$bin" run $M --http off >"$log" 2>&1 &
daemon=$!
for _ in $(seq 1 100); do
  [ "$(sql "SELECT count(*) FROM graph_sync_audit WHERE entity_id = '2'")" = 0 ] && break
  sleep 0.1
done
[ "$(sql "SELECT count(*) FROM graph_sync_audit WHERE entity_id = '2'")" = 0 ] || fail "the daemon did not prune"
grep -q 'msg="audit trail pruned" rows=1 ' "$log" || fail "the prune is not logged"
kill "$daemon"; wait "$daemon"; daemon=
[ "$(sql "SELECT count(*) FROM graph_sync_audit")" = 3 ] || fail "the daemon pruned recent rows"

# auditRetentionDays: 0 turns the trail off (and removes what was kept)
"$bin" history --config "$map0" --prune >/dev/null || fail "prune with retention 0"
[ "$(sql "SELECT audit_retention_days, (SELECT count(*) FROM graph_sync_audit) FROM graph_sync_state")" = "0|0" ] ||
  fail "retention 0 not stored or rows kept"
sql "UPDATE au_docs SET title = 'no audit' WHERE id = 2" >/dev/null
"$bin" sync --once --config "$map0" >/dev/null || fail "sync with the trail off"
[ "$(sql "SELECT count(*) FROM graph_sync_audit")" = 0 ] || fail "rows written with auditRetentionDays 0"
[ "$(sql "SELECT sync_status FROM graph_sync_status WHERE entity_type = 'AuDoc' AND entity_id = '2'")" = synced ] ||
  fail "the change was not synced with the trail off"

# a schema that skipped migration 002 (a later one applied first) gets it from init
sql "DROP TABLE graph_sync_audit; DELETE FROM graph_sync_schema_version WHERE version = 2" >/dev/null
"$bin" init $M >/dev/null 2>&1 || fail "init over a schema missing 002"
[ "$(sql "SELECT to_regclass('graph_sync_audit') IS NOT NULL, (SELECT count(*) FROM graph_sync_schema_version WHERE version = 2)")" = "t|1" ] ||
  fail "init did not apply the missing migration 002"
echo "1 passed, 0 failed"
