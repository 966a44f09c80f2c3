#!/usr/bin/env bash
# Issue 18 item 7: the sync user may not read one mapped table (permission denied, 42501). Its
# entities used to fail for good (status failed, until verify --repair). Now the type is treated as
# unavailable: its claims are given back with no attempt used, the daemon says so loudly (error
# log, pg2neo_source_denied, retryable failure rows), the other types keep syncing, and once the
# GRANT is made the waiting changes sync by themselves.
# Database perm_test and role p2n_perm_user on the shared PostgreSQL, labels PD_* in Neo4j.
set -euo pipefail
top=${P2N_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${P2N_BUILD:-$top/build/debug}/pg2neo
: "${DATABASE_URL:?DATABASE_URL is not set (scripts/services env)}"
: "${NEO4J_URI:?NEO4J_URI is not set (scripts/services env)}"
tmp=$(mktemp -d)
fail() { echo "FAIL: $*" >&2; [ -f "$tmp/run.log" ] && tail -20 "$tmp/run.log" >&2; exit 1; }
pid=""
admin=$DATABASE_URL
psql -qX "$admin" -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS perm_test WITH (FORCE)" \
     -c "DROP ROLE IF EXISTS p2n_perm_user" -c "CREATE DATABASE perm_test" >/dev/null 2>&1 || fail "could not create perm_test"
pw=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
psql -qX "$admin" -v ON_ERROR_STOP=1 -c "CREATE ROLE p2n_perm_user LOGIN PASSWORD '$pw'" >/dev/null || fail "create role"
base=${DATABASE_URL%%\?*}; q=""; [[ $DATABASE_URL == *\?* ]] && q="?${DATABASE_URL#*\?}"
owner_url="${base%/*}/perm_test$q"
hostpart=${base#*@}; hostpart=${hostpart%%/*}
user_url="postgresql://p2n_perm_user:$pw@$hostpart/perm_test$q"
cy() { "$bin" cypher "$1"; }
count() { cy "$1" | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["c"])'; }
sql() { psql -qXAt "$owner_url" -v ON_ERROR_STOP=1 -c "$1"; }
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
  cy "MATCH (n) WHERE any(l IN labels(n) WHERE l STARTS WITH 'PD_') DETACH DELETE n" >/dev/null 2>&1 || true
  psql -qX "$admin" -c "DROP DATABASE IF EXISTS perm_test WITH (FORCE)" -c "DROP ROLE IF EXISTS p2n_perm_user" >/dev/null 2>&1 || true
  [ -n "${P2N_KEEP:-}" ] && echo "kept $tmp" >&2 || rm -rf "$tmp"
}
trap cleanup EXIT
sql "CREATE TABLE users (id int PRIMARY KEY, name text); CREATE TABLE notes (id int PRIMARY KEY, body text)" >/dev/null
cat > "$tmp/mapping.yaml" <<'YAML'
version: 1
sync: {batchSizeLimit: 100}
entities:
  PD_User:
    table: users
  PD_Note:
    table: notes
YAML
export P2N_MAPPING=$tmp/mapping.yaml
DATABASE_URL=$owner_url "$bin" init >/dev/null 2>&1 || { DATABASE_URL=$owner_url "$bin" init; fail "init"; }
# the sync user: the sync schema's tables and users, not notes
sql "GRANT USAGE ON SCHEMA public TO p2n_perm_user;
     GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO p2n_perm_user;
     GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO p2n_perm_user;
     GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO p2n_perm_user;
     REVOKE ALL ON notes FROM p2n_perm_user" >/dev/null
port=$("$top/scripts/free-port")
DATABASE_URL=$user_url "$bin" --log-format logfmt run --http "127.0.0.1:$port" >"$tmp/run.log" 2>&1 &
pid=$!
sql "INSERT INTO users SELECT i, 'u' || i FROM generate_series(1, 10) i; INSERT INTO notes SELECT i, 'n' || i FROM generate_series(1, 10) i" >/dev/null
ok=""
for _ in $(seq 1 100); do
  [ "$(count "MATCH (n:PD_User) RETURN count(n) AS c")" = 10 ] && grep -q 'permission denied reading the rows of an entity' "$tmp/run.log" && { ok=1; break; }
  sleep 0.1
done
[ -n "$ok" ] || fail "users did not sync, or no error for the unreadable notes"
grep -q 'level=error.*type=PD_Note entities=10' "$tmp/run.log" || fail "the error does not name the type and its entities"
curl -fsS "http://127.0.0.1:$port/metrics" | grep '^pg2neo_source_denied{entity_type="PD_Note"} 1' >/dev/null || fail "pg2neo_source_denied is not 1"
[ "$(sql "SELECT count(*) FROM graph_sync_status WHERE entity_type = 'PD_Note' AND sync_status = 'failed'")" = 0 ] \
  || fail "notes were marked failed"
[ "$(sql "SELECT max(attempts) FROM graph_sync_status WHERE entity_type = 'PD_Note'")" = 0 ] || fail "attempts were used"
[ "$(sql "SELECT count(*) FROM graph_sync_failures WHERE entity_type = 'PD_Note' AND retryable AND error_code = '42501'")" -ge 10 ] \
  || fail "no retryable failure rows for the denied reads"
[ "$(count "MATCH (n:PD_Note) RETURN count(n) AS c")" = 0 ] || fail "notes in the graph while unreadable?"
# the GRANT: the waiting changes sync by themselves (blocks last 2 s, doubling)
sql "GRANT SELECT ON notes TO p2n_perm_user" >/dev/null
ok=""
for _ in $(seq 1 200); do
  [ "$(count "MATCH (n:PD_Note) RETURN count(n) AS c")" = 10 ] && { ok=1; break; }
  sleep 0.1
done
[ -n "$ok" ] || fail "notes did not sync within 20 s of the GRANT"
grep -q 'the rows of an entity can be read again.*type=PD_Note' "$tmp/run.log" || fail "no log line for the recovery"
curl -fsS "http://127.0.0.1:$port/metrics" | grep '^pg2neo_source_denied{entity_type="PD_Note"} 0' >/dev/null || fail "pg2neo_source_denied did not go back to 0"
[ "$(sql "SELECT count(*) FROM graph_sync_status WHERE sync_status <> 'synced'")" = 0 ] || fail "entities left unsynced"
kill -TERM "$pid"; wait "$pid" || fail "daemon exit status"; pid=""
echo "ok: permission denied on one table"
