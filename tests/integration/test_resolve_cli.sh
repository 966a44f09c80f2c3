#!/usr/bin/env bash
# pg2neo resolve: PostgreSQL wins. A property edited in Neo4j and a node deleted in Neo4j are
# rewritten from PostgreSQL, each checked afterwards; --all repairs every difference; bad input 2.
set -uo pipefail
src=${P2N_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${P2N_BUILD:-$src/build/debug}/pg2neo
fail() { echo "FAIL: $*"; exit 1; }
: "${DATABASE_URL:?the services are not up (DATABASE_URL unset)}"
admin=$DATABASE_URL
db=resolve_test
map=$(mktemp /tmp/p2n-resolve-XXXXXX.yaml)
cleanup() {
  "$bin" cypher "MATCH (n:RsItem) DETACH DELETE n" >/dev/null 2>&1
  psql "$admin" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1
  rm -f "$map"
}
trap cleanup EXIT
psql "$admin" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1 || fail "create database"
export DATABASE_URL=${admin%/*}/$db
psql "$DATABASE_URL" -qc "CREATE TABLE rs_items (id int PRIMARY KEY, name text, score int)" || fail "schema"
cat > "$map" <<'YAML'
entities:
  RsItem:
    table: rs_items
YAML
"$bin" cypher "MATCH (n:RsItem) DETACH DELETE n" >/dev/null
"$bin" init --config "$map" >/dev/null 2>&1 || fail "init"
psql "$DATABASE_URL" -qc "INSERT INTO rs_items SELECT g, 'item ' || g, g * 10 FROM generate_series(1, 20) g"
"$bin" sync --once --config "$map" >/dev/null || fail "sync"

# a property edited in Neo4j
"$bin" cypher "MATCH (n:RsItem {id: 3}) SET n.name = 'edited in neo4j'" >/dev/null
"$bin" conflicts --config "$map" RsItem 3 >/dev/null; [ $? = 3 ] || fail "the edit is not a conflict"
out=$("$bin" resolve --config "$map" RsItem 3) || fail "resolve failed: $out"
grep -q '1 conflicting field before, 0 after' <<<"$out" || fail "unexpected: $out"
[ "$("$bin" cypher "MATCH (n:RsItem {id: 3}) RETURN n.name AS v")" = '{"v":"item 3"}' ] || fail "name not restored"

# a node deleted in Neo4j
"$bin" cypher "MATCH (n:RsItem {id: 7}) DETACH DELETE n" >/dev/null
"$bin" resolve --config "$map" RsItem 7 >/dev/null || fail "resolve of a deleted node failed"
[ "$("$bin" cypher "MATCH (n:RsItem {id: 7}) RETURN n.score AS v")" = '{"v":70}' ] || fail "node not recreated"

# --all: several differences at once, then verify is clean
"$bin" cypher "MATCH (n:RsItem) WHERE n.id IN [1, 2] SET n.score = -1" >/dev/null
"$bin" cypher "CREATE (:RsItem {id: 999, name: 'stray'})" >/dev/null
out=$("$bin" resolve --config "$map" --all --json) || fail "resolve --all failed: $out"
python3 -c 'import json,sys; r=json.loads(sys.argv[1]); assert r["differencesBefore"] == 3 and r["differencesAfter"] == 0, r' "$out" ||
  fail "resolve --all: $out"
"$bin" verify --config "$map" >/dev/null || fail "verify not clean after resolve --all"

"$bin" resolve --config "$map" NoSuchType 1 >/dev/null 2>&1; [ $? = 2 ] || fail "unknown type did not exit 2"
"$bin" resolve --config "$map" RsItem 12345 >/dev/null 2>&1; [ $? = 2 ] || fail "unknown id did not exit 2"
"$bin" resolve --config "$map" RsItem >/dev/null 2>&1; [ $? = 2 ] || fail "missing id did not exit 2"
echo "1 passed, 0 failed"
