#!/usr/bin/env bash
# Neither password — PostgreSQL's (inside DATABASE_URL) nor Neo4j's — appears in any log line,
# status output or error message: a daemon at debug level through a run with changes and an
# HTTP scrape, `status` (text and JSON), and the error paths (wrong Neo4j password, wrong
# PostgreSQL password, Neo4j unreachable, a bad mapping).
set -uo pipefail
src=${P2N_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${P2N_BUILD:-$src/build/debug}/pg2neo
fail() { echo "FAIL: $*"; exit 1; }
: "${DATABASE_URL:?the services are not up (DATABASE_URL unset)}"
: "${NEO4J_PASSWORD:?NEO4J_PASSWORD unset}"
admin=$DATABASE_URL
pgpw=$(sed -E 's|^[a-z]+://[^:]+:([^@]+)@.*|\1|' <<<"$admin")
[ -n "$pgpw" ] && [ "$pgpw" != "$admin" ] || fail "no password in DATABASE_URL to look for"
db=secrets_test
work=$(mktemp -d /tmp/p2n-secrets-XXXXXX)
pid=""
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
  "$bin" cypher "MATCH (n:SecItem) DETACH DELETE n" >/dev/null 2>&1
  psql "$admin" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
psql "$admin" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1 || fail "create database"
export DATABASE_URL=${admin%/*}/$db
psql "$DATABASE_URL" -qc "CREATE TABLE sec_items (id int PRIMARY KEY, name text)" || fail "schema"
cat > "$work/map.yaml" <<'YAML'
entities:
  SecItem:
    table: sec_items
YAML
out=$work/all.txt
{
  "$bin" --log-level debug init --config "$work/map.yaml"
  port=$("$src/scripts/free-port")
  "$bin" --log-level debug run --config "$work/map.yaml" --http "127.0.0.1:$port" > "$work/run.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 50); do curl -sf "127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  psql "$DATABASE_URL" -qc "INSERT INTO sec_items SELECT g, 'n' || g FROM generate_series(1, 50) g"
  sleep 1.5
  curl -s "127.0.0.1:$port/api/sync/status"; echo
  curl -s "127.0.0.1:$port/metrics" | head -200
  curl -s "127.0.0.1:$port/"
  kill -TERM "$pid"; wait "$pid"; pid=""
  cat "$work/run.log"
  "$bin" --log-level debug status --config "$work/map.yaml"
  "$bin" status --config "$work/map.yaml" --json
  "$bin" --log-level debug sync --once --config "$work/map.yaml"
  # error paths
  NEO4J_PASSWORD="wrong-$NEO4J_PASSWORD" "$bin" --log-level debug ping
  NEO4J_PASSWORD="wrong-$NEO4J_PASSWORD" "$bin" --log-level debug sync --once --config "$work/map.yaml"
  DATABASE_URL=$(sed -E "s|:$pgpw@|:wrong-$pgpw@|" <<<"$DATABASE_URL") "$bin" --log-level debug status --config "$work/map.yaml"
  NEO4J_URI=bolt://127.0.0.1:1 "$bin" --log-level debug sync --once --config "$work/map.yaml"
  NEO4J_URI=bolt://127.0.0.1:1 "$bin" --log-level debug cypher "RETURN 1"
  echo "entities: {" > "$work/bad.yaml"
  "$bin" check "$work/bad.yaml"
  "$bin" --log-level debug check "$work/map.yaml"
} > "$out" 2>&1
cp "$out" "${P2N_BUILD:-$src/build/debug}/no-secrets-output.txt" 2>/dev/null
lines=$(wc -l < "$out")
[ "$lines" -gt 50 ] || fail "too little output to judge ($lines lines)"
grep -q 'syncedEntities' "$out" || fail "the status API was not scraped"
grep -qiE 'auth|unauthori|password' "$out" || fail "the wrong-password paths printed no error"
if grep -nF -- "$NEO4J_PASSWORD" "$out" | head -3; then fail "the Neo4j password appears above"; fi
if grep -nF -- "$pgpw" "$out" | head -3; then fail "the PostgreSQL password appears above"; fi
echo "checked $lines lines of logs, status output and error messages"
echo "1 passed, 0 failed"
