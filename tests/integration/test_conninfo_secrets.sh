#!/usr/bin/env bash
# Connection strings never leak their password (issue 18, item 5):
# - a DATABASE_URL that libpq cannot parse is a configuration error: `pg2neo run` exits 2 at once
#   (it used to retry forever, echoing the whole URL, password included, once per retry), and so
#   do the other commands; libpq's reason is given with the fragments it quotes masked;
# - the password of such a URL, of a ?password= query, of a key=value conninfo and of a Neo4j URI
#   with user info appears in no message and no log line (logfmt and JSON).
# Needs only the servers' addresses: no database is created.
set -uo pipefail
top=${P2N_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${P2N_BUILD:-$top/build/debug}/pg2neo
: "${DATABASE_URL:?DATABASE_URL is not set (scripts/services env)}"
: "${NEO4J_URI:?NEO4J_URI is not set (scripts/services env)}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
pw=Sekr1tPassw0rd
cat > "$tmp/mapping.yaml" <<'YAML'
entities:
  CS_Item:
    table: cs_items
YAML
export P2N_MAPPING=$tmp/mapping.yaml
# malformed: libpq's parser refuses each (the password is what its message would quote)
malformed=(
  "postgresql://pg2neo:${pw}%zz@127.0.0.1/db"
  "postgresql://pg2neo:${pw}@[::1/db"
  "postgresql://pg2neo:${pw}@127.0.0.1/db?nosuchoption=1"
  "host=127.0.0.1 password=${pw} x"
  "host=127.0.0.1 password='${pw}"
  "postgresql://pg2neo:${pw:0:4}/${pw:4}@127.0.0.1/db"
)
n=0
for url in "${malformed[@]}"; do
  n=$((n + 1))
  for fmt in logfmt json; do
    t0=$(date +%s%N)
    rc=0
    DATABASE_URL=$url timeout 20 "$bin" --log-format "$fmt" run --http off >"$tmp/out" 2>&1 || rc=$?
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    [ "$rc" = 2 ] || { cat "$tmp/out" >&2; fail "malformed URL $n ($fmt): run exit $rc, expected 2 (124: it kept retrying)"; }
    [ "$ms" -lt 5000 ] || fail "malformed URL $n: run took $ms ms to exit"
    grep -q "invalid PostgreSQL connection string in DATABASE_URL" "$tmp/out" || { cat "$tmp/out" >&2; fail "malformed URL $n: unclear message"; }
    grep -qF -- "${pw:0:6}" "$tmp/out" && { cat "$tmp/out" >&2; fail "malformed URL $n ($fmt): the password appears above"; }
    [ "$fmt" = json ] && ! jq -e . "$tmp/out" >/dev/null 2>&1 && { cat "$tmp/out" >&2; fail "malformed URL $n: a line is not JSON"; }
  done
  for cmd in "status" "sync --once" "full-sync" "verify" "ping" "init --table public.cs_items:CS_Item:"; do
    rc=0
    # shellcheck disable=SC2086
    DATABASE_URL=$url timeout 20 "$bin" $cmd >"$tmp/out" 2>&1 || rc=$?
    [ "$rc" != 0 ] && [ "$rc" != 124 ] || fail "malformed URL $n: $cmd exit $rc"
    grep -qF -- "${pw:0:6}" "$tmp/out" && { cat "$tmp/out" >&2; fail "malformed URL $n: $cmd shows the password"; }
  done
  echo "malformed URL $n: exit 2 at once, no password: $(head -1 "$tmp/out")" >&2
done

# well-formed strings whose connection fails: the daemon retries (PostgreSQL may come up), and
# its lines never hold the password, whichever way it was given
nopg=(
  "postgresql://pg2neo@127.0.0.1:1/db?password=${pw}&connect_timeout=2"
  "host=127.0.0.1 port=1 password=${pw} dbname=db"
  "postgresql://pg2neo:${pw}@127.0.0.1:1/db"
)
for url in "${nopg[@]}"; do
  DATABASE_URL=$url timeout -s INT 3 "$bin" --log-level debug run --http off >"$tmp/out" 2>&1
  grep -q "could not start, will retry" "$tmp/out" || { cat "$tmp/out" >&2; fail "no retry for an unreachable server"; }
  grep -qF -- "${pw:0:6}" "$tmp/out" && { cat "$tmp/out" >&2; fail "the password appears above ($url)"; }
done
# a Neo4j URI with user info: masked wherever it is printed
NEO4J_URI="bolt://neo4j:${pw}@127.0.0.1:1" "$bin" --log-level debug cypher "RETURN 1" >"$tmp/out" 2>&1
grep -qF -- "${pw:0:6}" "$tmp/out" && { cat "$tmp/out" >&2; fail "the password of a Neo4j URI appears above"; }
echo "unreachable servers: the daemon retries, no password in its lines; Neo4j URI masked" >&2
echo "1 passed, 0 failed"
