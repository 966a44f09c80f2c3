#!/usr/bin/env bash
# The daemon's orphan sweep (src/sync/engine.c, orphan_sweep): placeholders (nodes of a mapped
# label without _p2n_version) left without any relationship are removed once the daemon is idle;
# a placeholder that still has a relationship, and a synced node without relationships, stay.
# Database orphan_test, labels OS_* on the shared servers.
set -euo pipefail
top=${P2N_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${P2N_BUILD:-$top/build/debug}/pg2neo
: "${DATABASE_URL:?DATABASE_URL is not set (scripts/services env)}"
: "${NEO4J_URI:?NEO4J_URI is not set (scripts/services env)}"
fail() { echo "FAIL: $*" >&2; exit 1; }
tmp=$(mktemp -d)
pid=""
psql -qX "$DATABASE_URL" -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS orphan_test WITH (FORCE)" \
     -c "CREATE DATABASE orphan_test" >/dev/null 2>&1 || fail "could not create orphan_test"
admin=$DATABASE_URL
base=${DATABASE_URL%%\?*}; q=""; [[ $DATABASE_URL == *\?* ]] && q="?${DATABASE_URL#*\?}"
export DATABASE_URL="${base%/*}/orphan_test$q"
cy() { "$bin" cypher "$1"; }
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
  cy "MATCH (n) WHERE any(l IN labels(n) WHERE l STARTS WITH 'OS_') DETACH DELETE n" >/dev/null 2>&1 || true
  psql -qX "$admin" -c "DROP DATABASE IF EXISTS orphan_test WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
psql -qX "$DATABASE_URL" -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE TABLE authors (id int PRIMARY KEY, name text);
CREATE TABLE posts (id int PRIMARY KEY, title text, author_id int REFERENCES authors (id));
INSERT INTO authors VALUES (1, 'kept');
INSERT INTO posts VALUES (10, 'p', 1);
SQL
cat > "$tmp/mapping.yaml" <<'YAML'
version: 1
sync: {batchSizeLimit: 100}
entities:
  OS_Author:
    table: authors
  OS_Post:
    table: posts
    relationships:
      - type: WROTE
        column: author_id
        to: OS_Author
        direction: in
YAML
export P2N_MAPPING=$tmp/mapping.yaml
"$bin" init >/dev/null 2>&1 || { "$bin" init; fail "init"; }
"$bin" full-sync >/dev/null 2>&1 || fail "full-sync"
count() { cy "$1" | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["c"])'; }
# an orphan placeholder (no version, no relationship), a placeholder with a relationship, and a
# synced author left without posts
cy "CREATE (:OS_Author {id: 99})" >/dev/null
cy "MATCH (p:OS_Post {id: 10}) CREATE (p)-[:OS_MENTIONS]->(:OS_Author {id: 98})" >/dev/null
psql -qXAt "$DATABASE_URL" -c "INSERT INTO authors VALUES (2, 'alone')" >/dev/null
"$bin" sync --once >/dev/null 2>&1 || fail "sync --once"
[ "$(count "MATCH (a:OS_Author) RETURN count(a) AS c")" = 4 ] || fail "set-up: 4 authors expected"
port=$("$top/scripts/free-port")
"$bin" run --http "127.0.0.1:$port" >"$tmp/run.log" 2>&1 &
pid=$!
gone=""
for _ in $(seq 1 100); do
  [ "$(count "MATCH (a:OS_Author {id: 99}) RETURN count(a) AS c")" = 0 ] && { gone=1; break; }
  sleep 0.1
done
[ -n "$gone" ] || { cat "$tmp/run.log"; fail "the orphan placeholder was not removed within 10 s"; }
[ "$(count "MATCH (a:OS_Author {id: 98}) RETURN count(a) AS c")" = 1 ] || fail "a placeholder with a relationship was removed"
[ "$(count "MATCH (a:OS_Author {id: 2}) WHERE a._p2n_version IS NOT NULL RETURN count(a) AS c")" = 1 ] || fail "a synced node without relationships was removed"
[ "$(count "MATCH (a:OS_Author {id: 1})-[:WROTE]-(:OS_Post {id: 10}) RETURN count(a) AS c")" = 1 ] || fail "the synced relationship"
grep -q 'orphan placeholders removed.*nodes=1' "$tmp/run.log" || { cat "$tmp/run.log"; fail "no log line for the sweep"; }
kill -TERM "$pid"; wait "$pid" || fail "daemon exit status"; pid=""
echo "ok: orphan sweep"
