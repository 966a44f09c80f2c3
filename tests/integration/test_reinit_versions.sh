#!/usr/bin/env bash
# Issue 18 item 2: versions never go backwards against the graph, and a write the version guard
# skips never counts as synced. The graph keeps `_p2n_version` from an earlier install; the
# version sequence starts again at 1 after `uninstall` + `init` (or a restored dump resets it).
#   1. uninstall + init while the graph holds versions ~300: init raises the sequence above the
#      graph; the daemon then syncs new changes (before: every write was skipped and marked synced)
#   2. the sequence reset under a running daemon (a restored dump): the daemon sees the guard skip
#      rows for versions never handed out, logs an error, raises the sequence, queues the entities
#      again and syncs them; pg2neo_version_ahead_total counts them
#   3. reset again, then `full-sync --restart` brings the graph back in line; verify is clean
# Database reinit_test, labels RV_* on the shared servers.
set -euo pipefail
top=${P2N_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${P2N_BUILD:-$top/build/debug}/pg2neo
: "${DATABASE_URL:?DATABASE_URL is not set (scripts/services env)}"
: "${NEO4J_URI:?NEO4J_URI is not set (scripts/services env)}"
fail() { echo "FAIL: $*" >&2; [ -f "$tmp/run.log" ] && tail -30 "$tmp/run.log" >&2; exit 1; }
tmp=$(mktemp -d)
pid=""
psql -qX "$DATABASE_URL" -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS reinit_test WITH (FORCE)" \
     -c "CREATE DATABASE reinit_test" >/dev/null 2>&1 || fail "could not create reinit_test"
admin=$DATABASE_URL
base=${DATABASE_URL%%\?*}; q=""; [[ $DATABASE_URL == *\?* ]] && q="?${DATABASE_URL#*\?}"
export DATABASE_URL="${base%/*}/reinit_test$q"
cy() { "$bin" cypher "$1"; }
count() { cy "$1" | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["c"])'; }
sql() { psql -qXAt "$DATABASE_URL" -v ON_ERROR_STOP=1 -c "$1"; }
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
  cy "MATCH (n) WHERE any(l IN labels(n) WHERE l STARTS WITH 'RV_') DETACH DELETE n" >/dev/null 2>&1 || true
  psql -qX "$admin" -c "DROP DATABASE IF EXISTS reinit_test WITH (FORCE)" >/dev/null 2>&1 || true
  [ -n "${P2N_KEEP:-}" ] && echo "kept $tmp" >&2 || rm -rf "$tmp"
}
trap cleanup EXIT
psql -qX "$DATABASE_URL" -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE TABLE users (id int PRIMARY KEY, name text);
CREATE TABLE posts (id int PRIMARY KEY, title text, author_id int REFERENCES users (id));
CREATE TABLE likes (user_id int REFERENCES users (id), post_id int REFERENCES posts (id), weight int,
                    PRIMARY KEY (user_id, post_id));
INSERT INTO users SELECT i, 'u' || i FROM generate_series(1, 20) i;
INSERT INTO posts SELECT i, 't' || i, 1 + i % 20 FROM generate_series(1, 40) i;
INSERT INTO likes SELECT 1 + i % 20, i, 0 FROM generate_series(1, 40) i;
SQL
cat > "$tmp/mapping.yaml" <<'YAML'
version: 1
sync: {batchSizeLimit: 100}
entities:
  RV_User:
    table: users
  RV_Post:
    table: posts
    relationships:
      - type: RV_WROTE
        column: author_id
        to: RV_User
        direction: in
relationships:
  RV_Like:
    table: likes
    type: RV_LIKES
    from: {entity: RV_User, column: user_id}
    to: {entity: RV_Post, column: post_id}
YAML
export P2N_MAPPING=$tmp/mapping.yaml
"$bin" init >/dev/null 2>&1 || { "$bin" init; fail "init"; }
"$bin" full-sync >/dev/null 2>&1 || fail "full-sync"
# push the versions up: 300 changes
for r in 1 2 3 4 5; do
  sql "UPDATE users SET name = name || '.'; UPDATE posts SET title = title || '.'; UPDATE likes SET weight = weight + 1" >/dev/null
done
"$bin" sync --once >/dev/null 2>&1 || fail "sync --once"
gmax=$(count "MATCH (n:RV_User) RETURN max(n._p2n_version) AS c")
[ "$gmax" -gt 200 ] || fail "set-up: graph versions should be above 200, got $gmax"

daemon() {
  port=$("$top/scripts/free-port")
  "$bin" --log-format logfmt run --http "127.0.0.1:$port" >"$tmp/run.log" 2>&1 &
  pid=$!
}
stop_daemon() { kill -TERM "$pid"; wait "$pid" || fail "daemon exit status"; pid=""; }
# waits until the query's count equals want (10 s)
wait_count() {
  for _ in $(seq 1 100); do
    [ "$(count "$1")" = "$2" ] && return 0
    sleep 0.1
  done
  fail "$3 (count $(count "$1"), expected $2)"
}

# 1. uninstall + init
"$bin" uninstall --yes >/dev/null 2>&1 || fail "uninstall"
"$bin" init >"$tmp/init.out" 2>&1 || { cat "$tmp/init.out"; fail "second init"; }
grep -Eq "version sequence raised to [0-9]+" "$tmp/init.out" || { cat "$tmp/init.out"; fail "init did not raise the sequence above the graph ($gmax)"; }
[ "$(sql "SELECT last_value FROM graph_sync_version_seq")" -ge "$gmax" ] || fail "the sequence is below the graph"
daemon
sql "UPDATE users SET name = 'after-init' WHERE id <= 5; UPDATE likes SET weight = 100 WHERE post_id <= 3" >/dev/null
wait_count "MATCH (n:RV_User) WHERE n.name = 'after-init' RETURN count(n) AS c" 5 "updates after uninstall + init did not reach the graph"
wait_count "MATCH ()-[e:RV_LIKES]->() WHERE e.weight = 100 RETURN count(e) AS c" 3 "join-table updates after uninstall + init"

# 2. the sequence goes back under the running daemon (a restored dump)
sql "ALTER SEQUENCE graph_sync_version_seq RESTART WITH 1" >/dev/null
sql "UPDATE users SET name = 'after-reset' WHERE id BETWEEN 6 AND 9; DELETE FROM likes WHERE post_id = 4;
     UPDATE posts SET author_id = 20 WHERE id = 5" >/dev/null
wait_count "MATCH (n:RV_User) WHERE n.name = 'after-reset' RETURN count(n) AS c" 4 "updates after a sequence reset did not reach the graph"
wait_count "MATCH ()-[e:RV_LIKES]->(:RV_Post {id: 4}) RETURN count(e) AS c" 0 "a delete after a sequence reset"
wait_count "MATCH (:RV_User {id: 20})-[:RV_WROTE]->(p:RV_Post {id: 5}) RETURN count(p) AS c" 1 "a moved relationship after a sequence reset"
grep -q 'level=error.*writes were skipped for versions the version sequence never handed out' "$tmp/run.log" \
  || fail "no error logged for the skipped writes"
curl -fsS "http://127.0.0.1:$port/metrics" > "$tmp/metrics" || fail "metrics"
grep -Eq '^pg2neo_version_ahead_total\{entity_type="RV_User"\} [1-9]' "$tmp/metrics" \
  || { grep version_ahead "$tmp/metrics" >&2; fail "pg2neo_version_ahead_total did not count the requeued entities"; }
[ "$(sql "SELECT count(*) FROM graph_sync_status WHERE sync_status <> 'synced'")" = 0 ] || fail "entities left unsynced"
stop_daemon

# 3. reset, then a full sync from scratch brings everything back
sql "ALTER SEQUENCE graph_sync_version_seq RESTART WITH 1; ALTER TABLE users DISABLE TRIGGER USER;
     UPDATE users SET name = 'untracked'; ALTER TABLE users ENABLE TRIGGER USER" >/dev/null
"$bin" full-sync --restart >"$tmp/fs.out" 2>&1 || { cat "$tmp/fs.out"; fail "full-sync --restart"; }
[ "$(count "MATCH (n:RV_User) WHERE n.name = 'untracked' RETURN count(n) AS c")" = 20 ] || fail "full-sync --restart after a sequence reset wrote nothing"
"$bin" verify >"$tmp/verify.out" 2>&1 || { cat "$tmp/verify.out"; fail "verify after full-sync"; }
echo "ok: versions never go backwards against the graph"
