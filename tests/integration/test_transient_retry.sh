#!/usr/bin/env bash
# init, full-sync and resolve --all ride out a conflict with another session (issue 18, item 11):
# they used to exit 1 on the first deadlock, serialization failure or lock timeout. Each case
# provokes one deterministically:
# - init: a deadlock. The installation locks tables ra then rb (CREATE TRIGGER, one transaction);
#   a session holding rb (an uncommitted INSERT) waits until init waits for rb, then writes ra:
#   PostgreSQL kills init's transaction (40P01); init runs it again and succeeds.
# - full-sync: a lock timeout. With lock_timeout = 200 ms (PGOPTIONS), a session holds ACCESS
#   EXCLUSIVE on ra for 1.5 s: the read of ra fails (55P03) until then; the type is run again
#   from its checkpoint, every row lands once.
# - resolve --all: the same lock at its start (checking the mapping's queries), then the queue
#   rows it must update held FOR UPDATE for 1.5 s (its repair's INSERT ... ON CONFLICT times out).
# Each retry is logged ("transient error, will retry"). Database retry_test, labels RT_A, RT_B.
set -euo pipefail
top=${P2N_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${P2N_BUILD:-$top/build/debug}/pg2neo
: "${DATABASE_URL:?DATABASE_URL is not set (scripts/services env)}"
: "${NEO4J_URI:?NEO4J_URI is not set (scripts/services env)}"
tmp=$(mktemp -d)
holder=""
fail() { echo "FAIL: $*" >&2; for f in "$tmp"/*.log; do [ -f "$f" ] && { echo "== $f" >&2; tail -15 "$f" >&2; }; done; exit 1; }
admin=$DATABASE_URL
psql -qX "$admin" -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS retry_test WITH (FORCE)" \
     -c "CREATE DATABASE retry_test" >/dev/null 2>&1 || fail "could not create retry_test"
base=${DATABASE_URL%%\?*}; q=""; [[ $DATABASE_URL == *\?* ]] && q="?${DATABASE_URL#*\?}"
export DATABASE_URL="${base%/*}/retry_test$q"
cy() { "$bin" cypher "$1"; }
cleanup() {
  [ -n "$holder" ] && kill "$holder" 2>/dev/null
  wait 2>/dev/null || true
  cy "MATCH (n) WHERE n:RT_A OR n:RT_B DETACH DELETE n" >/dev/null 2>&1 || true
  psql -qX "$admin" -c "DROP DATABASE IF EXISTS retry_test WITH (FORCE)" >/dev/null 2>&1 || true
  [ -n "${P2N_KEEP:-}" ] && echo "kept $tmp" >&2 || rm -rf "$tmp"
}
trap cleanup EXIT
sql() { psql -qXAt "$DATABASE_URL" -v ON_ERROR_STOP=1 -c "$1"; }
sql "CREATE TABLE ra (id int PRIMARY KEY, v text); CREATE TABLE rb (id int PRIMARY KEY, v text)"
sql "INSERT INTO ra SELECT g, 'a' || g FROM generate_series(1, 300) g; INSERT INTO rb SELECT g, 'b' || g FROM generate_series(1, 300) g"
cat > "$tmp/mapping.yaml" <<'YAML'
entities:
  RT_A:
    table: ra
  RT_B:
    table: rb
YAML
export P2N_MAPPING=$tmp/mapping.yaml
cy "MATCH (n) WHERE n:RT_A OR n:RT_B DETACH DELETE n" >/dev/null
# waits until a backend waits for a lock on table $1 (mode $2 held by someone else), 10 s at most
wait_lock() {
  for _ in $(seq 1 200); do
    [ "$(sql "SELECT count(*) FROM pg_locks WHERE relation = '$1'::regclass AND $2")" != 0 ] && return 0
    sleep 0.05
  done
  return 1
}

# 1. init: a deadlock
cat > "$tmp/deadlock.sql" <<'SQL'
SET deadlock_timeout = '10s';
BEGIN;
INSERT INTO rb VALUES (1001, 'held');
DO $$ BEGIN
  FOR i IN 1..200 LOOP
    EXIT WHEN EXISTS (SELECT 1 FROM pg_locks WHERE relation = 'rb'::regclass AND NOT granted);
    PERFORM pg_sleep(0.05);
  END LOOP;
END $$;
INSERT INTO ra VALUES (1001, 'held');
COMMIT;
SQL
psql -qX "$DATABASE_URL" -f "$tmp/deadlock.sql" >"$tmp/holder.log" 2>&1 &
holder=$!
sleep 0.3
rc=0; "$bin" init >"$tmp/init.log" 2>&1 || rc=$?
wait "$holder" || true; holder=""
grep -q "deadlock detected" "$tmp/init.log" || fail "init: no deadlock happened (the test did not provoke one)"
[ "$rc" = 0 ] || fail "init: exit $rc after a deadlock"
grep -q 'msg="transient error, will retry"' "$tmp/init.log" || fail "init: the retry is not logged"
[ "$(sql "SELECT count(*) FROM pg_trigger WHERE tgrelid IN ('ra'::regclass, 'rb'::regclass) AND NOT tgisinternal")" -gt 0 ] ||
  fail "init: no trigger installed"
[ "$(sql "SELECT count(*) FROM ra WHERE id = 1001")" = 1 ] || fail "init: the other session's write was lost"
echo "init: deadlock (40P01), retried, exit 0 ($SECONDS s)" >&2

# 2. full-sync: a lock timeout on ra for 1.5 s. (A new run first waits for every transaction
#    older than itself, the lock holder's too; a resumed run does not: the first run stops after
#    one chunk, the second resumes under the lock.)
lock_for() { # table seconds
  psql -qX "$DATABASE_URL" -c "BEGIN; LOCK TABLE $1 IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep($2); COMMIT;" \
    >"$tmp/holder.log" 2>&1 &
  holder=$!
  wait_lock "$1" "mode = 'AccessExclusiveLock' AND granted" || fail "the lock on $1 was not taken"
}
"$bin" full-sync --batch 100 --limit-chunks 1 --json >/dev/null 2>&1 && fail "full-sync --limit-chunks 1 did not stop"
lock_for ra 1.5
rc=0; PGOPTIONS="-c lock_timeout=200" "$bin" full-sync --batch 100 --json >"$tmp/fs.json" 2>"$tmp/fullsync.log" || rc=$?
wait "$holder" || true; holder=""
grep -q "lock timeout" "$tmp/fullsync.log" || fail "full-sync: no lock timeout happened"
[ "$rc" = 0 ] || fail "full-sync: exit $rc after a lock timeout"
grep -q 'msg="transient error, will retry"' "$tmp/fullsync.log" || fail "full-sync: the retry is not logged"
for t in 0 1; do # every row once: this run's rows after the first run's
  [ "$(jq ".types[$t] | .rows + .rows_before_resume" "$tmp/fs.json")" = 301 ] || fail "full-sync: $(jq -c . "$tmp/fs.json")"
done
[ "$(cy "MATCH (n:RT_A) RETURN count(n) AS n" | tail -1 | tr -dc 0-9)" = 301 ] || fail "full-sync: RT_A nodes"
echo "full-sync: lock timeout (55P03), retried, exit 0, every row once ($SECONDS s)" >&2

# 3. resolve --all: the lock at its start, then the queue rows locked while it repairs
cy "MATCH (n:RT_B) WHERE n.id <= 20 DETACH DELETE n" >/dev/null
lock_for rb 1.5
rc=0; PGOPTIONS="-c lock_timeout=200" "$bin" resolve --all --json >"$tmp/resolve.json" 2>"$tmp/resolve1.log" || rc=$?
wait "$holder" || true; holder=""
echo "resolve --all 1 done ($SECONDS s)" >&2
grep -q "lock timeout" "$tmp/resolve1.log" || fail "resolve --all: no lock timeout at the start"
[ "$rc" = 0 ] || fail "resolve --all (locked table): exit $rc"
[ "$(jq '.differencesAfter' "$tmp/resolve.json")" = 0 ] || fail "resolve --all: $(cat "$tmp/resolve.json")"
cy "MATCH (n:RT_B) WHERE n.id <= 20 DETACH DELETE n" >/dev/null
psql -qX "$DATABASE_URL" -c "BEGIN; SELECT count(*) FROM (SELECT 1 FROM graph_sync_status WHERE entity_type = 'RT_B'
                             FOR UPDATE) l; SELECT pg_sleep(1.5); COMMIT;" >"$tmp/holder.log" 2>&1 &
holder=$!
wait_lock graph_sync_status "mode = 'RowShareLock' AND granted AND pid <> pg_backend_pid()" ||
  fail "the queue rows were not locked"
rc=0; PGOPTIONS="-c lock_timeout=200" "$bin" resolve --all --json >"$tmp/resolve.json" 2>"$tmp/resolve2.log" || rc=$?
wait "$holder" || true; holder=""
grep -q "lock timeout" "$tmp/resolve2.log" || fail "resolve --all: no lock timeout on the queue rows"
[ "$rc" = 0 ] || fail "resolve --all (locked queue rows): exit $rc"
[ "$(jq '.differencesBefore' "$tmp/resolve.json")" = 20 ] || fail "resolve --all: $(cat "$tmp/resolve.json")"
[ "$(jq '.differencesAfter' "$tmp/resolve.json")" = 0 ] || fail "resolve --all: $(cat "$tmp/resolve.json")"
echo "resolve --all: lock timeouts at its start and on the queue rows, retried, exit 0" >&2
"$bin" verify >/dev/null 2>&1 || fail "verify at the end"
echo "1 passed, 0 failed"
