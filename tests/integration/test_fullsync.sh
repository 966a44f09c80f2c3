#!/usr/bin/env bash
# pg2neo full-sync on the civic example (scale 0.2, database fullsync_test, labels FS_*):
# a full load then verify clean; an interrupted run (--limit-chunks) resumes after its checkpoint
# and finishes clean; a change made while it is interrupted is queued by the triggers with a
# higher version and synced after it; orphans (a deleted row's node, a stray node and
# relationship) are removed; --restart; the JSON summary; bad input exits 2.
set -euo pipefail
top=${P2N_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${P2N_BUILD:-$top/build/debug}/pg2neo
: "${DATABASE_URL:?DATABASE_URL is not set (scripts/services env)}"
: "${NEO4J_URI:?NEO4J_URI is not set (scripts/services env)}"
fail() { echo "FAIL: $*" >&2; exit 1; }
tmp=$(mktemp -d)
psql -qX "$DATABASE_URL" -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS fullsync_test WITH (FORCE)" \
     -c "CREATE DATABASE fullsync_test" >/dev/null 2>&1 || fail "could not create fullsync_test"
base=${DATABASE_URL%%\?*}; q=""; [[ $DATABASE_URL == *\?* ]] && q="?${DATABASE_URL#*\?}"
export DATABASE_URL="${base%/*}/fullsync_test$q"
cleanup() {
  "$bin" cypher "MATCH (n) WHERE any(l IN labels(n) WHERE l STARTS WITH 'FS_') DETACH DELETE n" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
psql -qX "$DATABASE_URL" -v ON_ERROR_STOP=1 -f "$top/examples/civic/schema.sql" >/dev/null
psql -qX "$DATABASE_URL" -v ON_ERROR_STOP=1 -v scale=0.2 -f "$top/examples/civic/generate.sql" >/dev/null

# the civic mapping with every label prefixed FS_ (the shared Neo4j keeps other tests' nodes apart)
awk -v P=FS_ '
/^relationships:/ { inrel = 1 }
!inrel && /^  [A-Za-z]+:$/ { name = $1; sub(":", "", name); print; next }
!inrel && /^    table: / { print; getline nxt
  if (nxt ~ /labels:/) { gsub(/\[/, "[" P, nxt); gsub(/, /, ", " P, nxt); print nxt }
  else { print "    labels: [" P name "]"; print nxt }; next }
{ gsub(/label: Tag/, "label: " P "Tag"); print }' "$top/examples/civic/mapping.yaml" > "$tmp/mapping.yaml"
grep -q 'labels: \[FS_User\]' "$tmp/mapping.yaml" || fail "mapping rewrite"
export P2N_MAPPING=$tmp/mapping.yaml
"$bin" cypher "MATCH (n) WHERE any(l IN labels(n) WHERE l STARTS WITH 'FS_') DETACH DELETE n" >/dev/null

rc() { set +e; "$@" >"$tmp/out" 2>"$tmp/err"; local r=$?; set -e; echo $r; }
show() { cat "$tmp/out" "$tmp/err" >&2; }
jq_() { python3 -c "import json,sys; d=json.load(open('$tmp/out')); print($1)"; }
# nodes written by a sync (placeholders made for relationship targets have no version)
count() { "$bin" cypher "MATCH (n:$1) WHERE n._p2n_version IS NOT NULL RETURN count(n) AS c" | python3 -c "import json,sys; print(json.loads(sys.stdin.readline())['c'])"; }

# before init: no sync schema -> a clear failure
[ "$(rc "$bin" full-sync)" = 1 ] || { show; fail "full-sync without init must fail"; }
grep -q 'run pg2neo init' "$tmp/err" || { show; fail "no hint to run init"; }
[ "$(rc "$bin" init)" = 0 ] || { show; fail "init"; }

# 1. full load, JSON summary (not a terminal), verify clean
[ "$(rc "$bin" full-sync --batch 250)" = 0 ] || { show; fail "full-sync"; }
users=$(psql -qXAt "$DATABASE_URL" -c "SELECT count(*) FROM users WHERE deleted_at IS NULL")
[ "$(jq_ "[t['rows'] for t in d['types'] if t['type']=='User'][0]")" = "$users" ] || { show; fail "User rows in the summary"; }
total=$(psql -qXAt "$DATABASE_URL" -c "SELECT (SELECT count(*) FROM users WHERE deleted_at IS NULL) + (SELECT count(*) FROM sponsors)
  + (SELECT count(*) FROM governors) + (SELECT count(*) FROM sessions) + (SELECT count(*) FROM sittings)
  + (SELECT count(*) FROM bills) + (SELECT count(*) FROM arguments) + (SELECT count(*) FROM claims)
  + (SELECT count(*) FROM comments WHERE deleted_at IS NULL)")
nodes=$(jq_ "sum(t['rows'] for t in d['types'][:9])")
[ "$nodes" = "$total" ] || { show; fail "node rows $nodes, expected $total"; }
jq_ "d['rows_per_s'] > 0 and d['duration_s'] > 0" | grep -q True || { show; fail "summary figures"; }
# a first load into an empty graph: nothing could be an orphan, so no type's sweep ran
[ "$(jq_ "[t['type'] for t in d['types'] if t['orphan_sweep']]")" = "[]" ] || { show; fail "an orphan sweep ran on a first load"; }
[ "$(count FS_User)" = "$users" ] || fail "FS_User nodes"
[ "$(rc "$bin" verify)" = 0 ] || { show; fail "verify after the full load"; }
[ "$(psql -qXAt "$DATABASE_URL" -c "SELECT count(*) FROM graph_sync_fullsync WHERE phase <> 'done'")" = 0 ] || fail "checkpoints not done"

# 1b. a change in flight when the full sync starts (its version is below the full sync's) is
# waited for: the full sync's snapshot includes it, so writing at its version hides nothing
inflight=$(psql -qXAt "$DATABASE_URL" -c "SELECT id FROM users WHERE deleted_at IS NULL ORDER BY id LIMIT 1 OFFSET 5")
psql -qX "$DATABASE_URL" -v ON_ERROR_STOP=1 -c "BEGIN; UPDATE users SET bio = 'in flight' WHERE id = '$inflight'; SELECT pg_sleep(2); COMMIT;" >/dev/null &
bg=$!
sleep 0.5
[ "$(rc "$bin" full-sync --type User)" = 0 ] || { show; fail "full-sync with a change in flight"; }
wait $bg
[ "$("$bin" cypher "MATCH (u:FS_User {id: '$inflight'}) RETURN u.bio AS b")" = '{"b":"in flight"}' ] ||
  fail "the full sync did not wait for the transaction in flight"

# 2. interrupted: wipe the graph, stop after 3 chunks of 50 rows
"$bin" cypher "MATCH (n) WHERE any(l IN labels(n) WHERE l STARTS WITH 'FS_') DETACH DELETE n" >/dev/null
psql -qXAt "$DATABASE_URL" -c "SELECT graph_sync_fold()" -c "TRUNCATE graph_sync_status" >/dev/null
[ "$(rc "$bin" full-sync --batch 50 --limit-chunks 3)" = 1 ] || { show; fail "--limit-chunks must stop with 1"; }
grep -q 'stopped after 3 chunks' "$tmp/err" || { show; fail "interruption message"; }
ck=$(psql -qXAt "$DATABASE_URL" -c "SELECT phase || ' ' || rows_done || ' ' || (last_id IS NOT NULL) FROM graph_sync_fullsync WHERE entity_type = 'User'")
done1=$(psql -qXAt "$DATABASE_URL" -c "SELECT count(*) FROM (SELECT deleted_at FROM users ORDER BY id::text COLLATE \"C\" LIMIT 150) x WHERE deleted_at IS NULL")
[ "$ck" = "load $done1 true" ] || fail "User checkpoint after 3 chunks: $ck (expected load $done1 true)"
[ "$(count FS_User)" = "$done1" ] || fail "$done1 users written before the interruption"
[ "$(rc "$bin" verify --type User)" = 3 ] || { show; fail "verify must see the partial load"; }
# a change while interrupted, to a row already written: the trigger queues it with a higher version
first=$(psql -qXAt "$DATABASE_URL" -c "SELECT id FROM users WHERE deleted_at IS NULL ORDER BY id::text COLLATE \"C\" LIMIT 1")
psql -qX "$DATABASE_URL" -v ON_ERROR_STOP=1 -c "UPDATE users SET bio = 'changed during the full sync' WHERE id = '$first'" -c "SELECT graph_sync_fold()" >/dev/null
v=$(psql -qXAt "$DATABASE_URL" -c "SELECT version FROM graph_sync_fullsync WHERE entity_type = 'User'")
qv=$(psql -qXAt "$DATABASE_URL" -c "SELECT version FROM graph_sync_status WHERE entity_type = 'User' AND entity_id = '$first' AND sync_status = 'pending'")
[ -n "$qv" ] && [ "$qv" -gt "$v" ] || fail "the change was not queued above the full sync's version ($qv vs $v)"
# resume: User continues after its checkpoint (rows before it are not rewritten)
[ "$(rc "$bin" full-sync --batch 50)" = 0 ] || { show; fail "resume"; }
[ "$(jq_ "[(t['resumed'], t['rows_before_resume'], t['rows']) for t in d['types'] if t['type']=='User'][0]")" = "(True, $done1, $((users - done1)))" ] ||
  { show; fail "User did not resume after its checkpoint"; }
# the change made meanwhile is not lost: still pending, and the daemon's batch syncs it
[ "$(rc "$bin" verify --type User)" = 3 ] || { show; fail "the change should still be pending"; }
grep -q "$first" "$tmp/out" || { show; fail "verify should name the changed user"; }
[ "$(rc "$bin" sync --once)" = 0 ] || { show; fail "sync --once"; }
[ "$(rc "$bin" verify)" = 0 ] || { show; fail "verify after resume + sync"; }

# 2b. killed (SIGKILL) after its first checkpoint, mid-transaction: the next run resumes and
# finishes clean
"$bin" cypher "MATCH (n) WHERE any(l IN labels(n) WHERE l STARTS WITH 'FS_') DETACH DELETE n" >/dev/null
"$bin" full-sync --restart --batch 5 >/dev/null 2>&1 &
fs=$!
for _ in $(seq 1 500); do
  [ "$(psql -qXAt "$DATABASE_URL" -c "SELECT count(*) FROM graph_sync_fullsync WHERE phase = 'load' AND rows_done > 0")" != 0 ] && break
  sleep 0.02
done
kill -KILL $fs 2>/dev/null || fail "the full sync ended before it could be killed"
wait $fs 2>/dev/null || true
[ "$(psql -qXAt "$DATABASE_URL" -c "SELECT count(*) FROM graph_sync_fullsync WHERE phase <> 'done'")" != 0 ] ||
  fail "nothing left to resume after the kill"
[ "$(rc "$bin" full-sync --batch 500)" = 0 ] || { show; fail "resume after a kill"; }
jq_ "any(t['resumed'] for t in d['types'])" | grep -q True || { show; fail "the run after the kill did not resume"; }
[ "$(rc "$bin" verify)" = 0 ] || { show; fail "verify after a killed and resumed full sync"; }

# 3. orphans: a soft-deleted user, a hard-deleted claim, a stray node and a stray relationship
psql -qX "$DATABASE_URL" -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
ALTER TABLE users DISABLE TRIGGER USER; ALTER TABLE claims DISABLE TRIGGER USER;
UPDATE users SET deleted_at = now() WHERE id = (SELECT id FROM users WHERE deleted_at IS NULL ORDER BY id DESC LIMIT 1);
DELETE FROM claims WHERE id = (SELECT max(id) FROM claims);
ALTER TABLE users ENABLE TRIGGER USER; ALTER TABLE claims ENABLE TRIGGER USER;
SQL
"$bin" cypher "CREATE (:FS_Claim {id: 999999, statement: 'stray'})" >/dev/null
b=$(psql -qXAt "$DATABASE_URL" -c "SELECT id FROM bills ORDER BY id LIMIT 1")
u=$(psql -qXAt "$DATABASE_URL" -c "SELECT u.id FROM users u WHERE deleted_at IS NULL AND NOT EXISTS (SELECT 1 FROM bookmarks k WHERE k.user_id = u.id AND k.bill_id = '$b') LIMIT 1")
"$bin" cypher "MATCH (u:FS_User {id: '$u'}), (b:FS_Bill {id: '$b'}) CREATE (u)-[:BOOKMARKED {_p2n_id: '[\"$u\",\"$b\"]'}]->(b)" >/dev/null
[ "$(rc "$bin" verify)" = 3 ] || { show; fail "verify must see the orphans"; }
[ "$(rc "$bin" full-sync --restart)" = 0 ] || { show; fail "full-sync --restart"; }
[ "$(jq_ "[t['orphans_removed'] for t in d['types'] if t['type'] in ('User','Claim','Bookmark')]")" = "[1, 2, 1]" ] ||
  { show; fail "orphans removed per type"; }
[ "$(jq_ "d['orphans_removed']")" = 4 ] || { show; fail "orphans total"; }
[ "$(jq_ "all(t['orphan_sweep'] for t in d['types'])")" = True ] || { show; fail "a sweep was skipped on a graph that had nodes"; }
[ "$(rc "$bin" verify)" = 0 ] || { show; fail "verify after the orphan sweep"; }
[ "$(count FS_User)" = "$((users - 1))" ] || fail "the soft-deleted user's node is still there"

# 4. one type only
[ "$(rc "$bin" full-sync --type Sponsor)" = 0 ] || { show; fail "--type"; }
[ "$(jq_ "[t['type'] for t in d['types']]")" = "['Sponsor']" ] || { show; fail "--type ran other types"; }

# 5. bad input: exit 2
[ "$(rc "$bin" full-sync --type Nope)" = 2 ] || { show; fail "unknown type"; }
grep -q 'unknown entity type "Nope"' "$tmp/err" || { show; fail "unknown type message"; }
[ "$(rc "$bin" full-sync --batch 0)" = 2 ] || fail "--batch 0"
[ "$(rc "$bin" full-sync --bogus)" = 2 ] || fail "unknown option"
[ "$(rc "$bin" full-sync --config "$tmp/none.yaml")" != 0 ] || fail "missing mapping file"
[ "$(NEO4J_URI=bolt://127.0.0.1:1 rc "$bin" full-sync)" = 1 ] || { show; fail "full-sync with Neo4j down"; }
grep -q 'Connection refused' "$tmp/err" || { show; fail "Neo4j down message"; }
echo "test_fullsync: ok"
