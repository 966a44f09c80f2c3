#!/usr/bin/env bash
# pg2neo verify and pg2neo conflicts on the civic example (scale 0.2, database verify_test,
# labels VF_*): clean after a full sync; one test for each kind of difference (a node deleted in
# Neo4j, a property edited in Neo4j, an extra node, a missing relationship, an extra
# relationship), each seen by verify in the right category and by conflicts field by field;
# --repair queues exactly those ids and a sync batch repairs them; --sample; bad input exits 2.
set -euo pipefail
top=${P2N_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${P2N_BUILD:-$top/build/debug}/pg2neo
: "${DATABASE_URL:?DATABASE_URL is not set (scripts/services env)}"
: "${NEO4J_URI:?NEO4J_URI is not set (scripts/services env)}"
fail() { echo "FAIL: $*" >&2; exit 1; }
tmp=$(mktemp -d)
psql -qX "$DATABASE_URL" -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS verify_test WITH (FORCE)" \
     -c "CREATE DATABASE verify_test" >/dev/null 2>&1 || fail "could not create verify_test"
base=${DATABASE_URL%%\?*}; q=""; [[ $DATABASE_URL == *\?* ]] && q="?${DATABASE_URL#*\?}"
export DATABASE_URL="${base%/*}/verify_test$q"
wipe() { "$bin" cypher "MATCH (n) WHERE any(l IN labels(n) WHERE l STARTS WITH 'VF_') DETACH DELETE n" >/dev/null 2>&1; }
cleanup() { wipe || true; rm -rf "$tmp"; }
trap cleanup EXIT
psql -qX "$DATABASE_URL" -v ON_ERROR_STOP=1 -f "$top/examples/civic/schema.sql" >/dev/null
psql -qX "$DATABASE_URL" -v ON_ERROR_STOP=1 -v scale=0.2 -f "$top/examples/civic/generate.sql" >/dev/null
awk -v P=VF_ '
/^relationships:/ { inrel = 1 }
!inrel && /^  [A-Za-z]+:$/ { name = $1; sub(":", "", name); print; next }
!inrel && /^    table: / { print; getline nxt
  if (nxt ~ /labels:/) { gsub(/\[/, "[" P, nxt); gsub(/, /, ", " P, nxt); print nxt }
  else { print "    labels: [" P name "]"; print nxt }; next }
{ gsub(/label: Tag/, "label: " P "Tag"); print }' "$top/examples/civic/mapping.yaml" > "$tmp/mapping.yaml"
grep -q 'labels: \[VF_Bill\]' "$tmp/mapping.yaml" || fail "mapping rewrite"
export P2N_MAPPING=$tmp/mapping.yaml
wipe

rc() { set +e; "$@" >"$tmp/out" 2>"$tmp/err"; local r=$?; set -e; echo $r; }
show() { cat "$tmp/out" "$tmp/err" >&2; }
py() { python3 -c "import json; d=json.load(open('$tmp/out')); print(($1))"; }
# the JSON of verify --json for one type: [missing, extra, props, rels] as (count, ids)
cats() { py "[(t[k]['count'], t[k]['ids']) for t in d['types'] if t['type']=='$1' for k in ('missing_in_neo4j','extra_in_neo4j','property_mismatches','relationship_mismatches')]"; }
cy() { "$bin" cypher "$1" >/dev/null; }
sql() { psql -qXAt "$DATABASE_URL" -v ON_ERROR_STOP=1 -c "$1"; }

[ "$(rc "$bin" init)" = 0 ] || { show; fail "init"; }
[ "$(rc "$bin" full-sync)" = 0 ] || { show; fail "full-sync"; }

# clean: exit 0, counts on both sides
[ "$(rc "$bin" verify --json)" = 0 ] || { show; fail "verify after a full sync"; }
[ "$(py "d['consistent'], d['differences']")" = "(True, 0)" ] || { show; fail "consistent"; }
bills=$(sql "SELECT count(*) FROM bills")
[ "$(py "[(t['postgres_count'], t['neo4j_count']) for t in d['types'] if t['type']=='Bill'][0]")" = "($bills, $bills)" ] ||
  { show; fail "Bill counts"; }
[ "$(py "[t['postgres_count'] for t in d['types'] if t['type']=='Vote'][0]")" = "$(sql "SELECT count(*) FROM votes v JOIN users u ON u.id = v.user_id WHERE u.deleted_at IS NULL")" ] ||
  { show; fail "Vote count"; }

c1=$(sql "SELECT id FROM claims ORDER BY id LIMIT 1")
b1=$(sql "SELECT id FROM bills ORDER BY id LIMIT 1 OFFSET 3")
b1title=$(sql "SELECT title FROM bills WHERE id = '$b1'")
ghost=ffffffff-ffff-4fff-8fff-ffffffffffff
a1=$(sql "SELECT id FROM arguments ORDER BY id LIMIT 1")
b2=$(sql "SELECT id FROM bills WHERE sponsor_id IS NOT NULL ORDER BY id LIMIT 1 OFFSET 7")
s2=$(sql "SELECT s.id FROM sponsors s, bills b WHERE b.id = '$b2' AND s.id <> b.sponsor_id AND NOT s.id = ANY(b.co_sponsors) ORDER BY s.id LIMIT 1")
vu=$(sql "SELECT v.user_id FROM votes v JOIN users u ON u.id = v.user_id WHERE u.deleted_at IS NULL ORDER BY 1 LIMIT 1")
vb=$(sql "SELECT bill_id FROM votes WHERE user_id = '$vu' ORDER BY 1 LIMIT 1")
vote="[\"$vu\",\"$vb\"]"
xb=$(sql "SELECT b.id FROM bills b WHERE NOT EXISTS (SELECT 1 FROM votes v WHERE v.user_id = '$vu' AND v.bill_id = b.id) ORDER BY 1 LIMIT 1")
xvote="[\"$vu\",\"$xb\"]"

# 1. a node deleted in Neo4j
cy "MATCH (c:VF_Claim {id: $c1}) DETACH DELETE c"
[ "$(rc "$bin" verify --type Claim --json)" = 3 ] || { show; fail "deleted node: exit 3"; }
[ "$(cats Claim)" = "[(1, ['$c1']), (0, []), (0, []), (0, [])]" ] || { show; fail "deleted node: categories $(cats Claim)"; }
[ "$(rc "$bin" conflicts --json Claim "$c1")" = 3 ] || { show; fail "deleted node: conflicts exit 3"; }
[ "$(py "d['inPostgres'], d['inNeo4j'], d['hasConflicts'], 'statement' in d['conflictingFields'], d['neo4jValues']['statement']")" = "(True, False, True, True, None)" ] ||
  { show; fail "deleted node: conflicts"; }

# 2. a property edited in Neo4j
cy "MATCH (b:VF_Bill {id: '$b1'}) SET b.title = 'edited in Neo4j'"
[ "$(rc "$bin" verify --type Bill --json)" = 3 ] || { show; fail "edited property: exit 3"; }
[ "$(cats Bill)" = "[(0, []), (0, []), (1, ['$b1']), (0, [])]" ] || { show; fail "edited property: $(cats Bill)"; }
[ "$(rc "$bin" conflicts --json Bill "$b1")" = 3 ] || { show; fail "edited property: conflicts exit 3"; }
[ "$(py "d['conflictingFields'], d['neo4jValues']['title'], d['postgresValues']['title'] == '''$b1title'''")" = "(['title'], 'edited in Neo4j', True)" ] ||
  { show; fail "edited property: conflicts fields"; }
[ "$(rc "$bin" conflicts Bill "$b1")" = 3 ] || { show; fail "edited property: text conflicts"; }
grep -q '1 conflicting field' "$tmp/out" && grep -q 'neo4j: *"edited in Neo4j"' "$tmp/out" || { show; fail "text conflicts output"; }

# 3. an extra node
cy "CREATE (:VF_User {id: '$ghost', name: 'nobody'})"
[ "$(rc "$bin" verify --type User --json)" = 3 ] || { show; fail "extra node: exit 3"; }
[ "$(cats User)" = "[(0, []), (1, ['$ghost']), (0, []), (0, [])]" ] || { show; fail "extra node: $(cats User)"; }
[ "$(rc "$bin" conflicts --json User "$ghost")" = 3 ] || { show; fail "extra node: conflicts"; }
[ "$(py "d['inPostgres'], d['inNeo4j'], sorted(d['conflictingFields']), d['neo4jValues']['name']")" = "(False, True, ['id', 'name'], 'nobody')" ] ||
  { show; fail "extra node: conflicts fields"; }

# 4. missing relationships: a node's mapped relationship, and a join-table relationship
cy "MATCH (:VF_Argument {id: $a1})-[r:ABOUT]->() DELETE r"
cy "MATCH (:VF_User)-[r:VOTED {_p2n_id: '$vote'}]->(:VF_Bill) DELETE r"
[ "$(rc "$bin" verify --type Argument --json)" = 3 ] || { show; fail "missing relationship: exit 3"; }
[ "$(cats Argument)" = "[(0, []), (0, []), (0, []), (1, ['$a1'])]" ] || { show; fail "missing relationship: $(cats Argument)"; }
[ "$(rc "$bin" conflicts --json Argument "$a1")" = 3 ] || { show; fail "missing relationship: conflicts"; }
[ "$(py "d['conflictingFields'], d['neo4jValues']['-[:ABOUT]->'], len(d['postgresValues']['-[:ABOUT]->'])")" = "(['-[:ABOUT]->'], [], 1)" ] ||
  { show; fail "missing relationship: conflicts fields"; }
[ "$(rc "$bin" verify --type Vote --json)" = 3 ] || { show; fail "missing join relationship: exit 3"; }
[ "$(cats Vote)" = "[(1, ['$vote']), (0, []), (0, []), (0, [])]" ] || { show; fail "missing join relationship: $(cats Vote)"; }

# 5. extra relationships: one more SPONSORED_BY, and a VOTED with no row
cy "MATCH (b:VF_Bill {id: '$b2'}), (s:VF_Sponsor {id: '$s2'}) CREATE (b)-[:SPONSORED_BY]->(s)"
cy "MATCH (u:VF_User {id: '$vu'}), (b:VF_Bill {id: '$xb'}) CREATE (u)-[:VOTED {_p2n_id: '$xvote', vote: 'yes'}]->(b)"
[ "$(rc "$bin" verify --type Bill --json)" = 3 ] || { show; fail "extra relationship: exit 3"; }
[ "$(cats Bill)" = "[(0, []), (0, []), (1, ['$b1']), (1, ['$b2'])]" ] || { show; fail "extra relationship: $(cats Bill)"; }
[ "$(rc "$bin" conflicts --json Bill "$b2")" = 3 ] || { show; fail "extra relationship: conflicts"; }
[ "$(py "d['conflictingFields'], sorted(d['neo4jValues']['-[:SPONSORED_BY]->']) == sorted(d['postgresValues']['-[:SPONSORED_BY]->'] + ['$s2'])")" = "(['-[:SPONSORED_BY]->'], True)" ] ||
  { show; fail "extra relationship: conflicts fields"; }
[ "$(rc "$bin" verify --type Vote --json)" = 3 ] || { show; fail "extra join relationship"; }
[ "$(cats Vote)" = "[(1, ['$vote']), (1, ['$xvote']), (0, []), (0, [])]" ] || { show; fail "extra join relationship: $(cats Vote)"; }

# an entity that agrees: exit 0
ok=$(sql "SELECT id FROM sponsors ORDER BY id LIMIT 1")
[ "$(rc "$bin" conflicts --json Sponsor "$ok")" = 0 ] || { show; fail "conflicts on an entity that agrees"; }
[ "$(py "d['hasConflicts'], d['conflictingFields']")" = "(False, [])" ] || { show; fail "no conflict"; }

# --repair queues exactly the differences, as the fold would (pending upsert / deleted delete, new versions)
sql "SELECT graph_sync_fold()" >/dev/null; sql "TRUNCATE graph_sync_status" >/dev/null
seq0=$(sql "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM graph_sync_version_seq")
[ "$(rc "$bin" verify --repair --json)" = 3 ] || { show; fail "verify --repair"; }
[ "$(py "d['differences'], d['queued']")" = "(7, 7)" ] || { show; fail "repair counts"; }
expected=$(printf '%s\n' "Argument|$a1|pending|upsert" "Bill|$b1|pending|upsert" "Bill|$b2|pending|upsert" \
  "Claim|$c1|pending|upsert" "User|$ghost|deleted|delete" "Vote|$vote|pending|upsert" "Vote|$xvote|deleted|delete" | sort)
got=$(sql "SELECT entity_type, entity_id, sync_status, op FROM graph_sync_status" | sort)
[ "$got" = "$expected" ] || { echo "$got" >&2; fail "repair queued something else"; }
[ "$(sql "SELECT count(*) FROM graph_sync_status WHERE version <= $seq0")" = 0 ] || fail "repair versions must be new"
# a second --repair raises the versions of rows still pending
before=$(sql "SELECT sum(version) FROM graph_sync_status")
[ "$(rc "$bin" verify --repair --type Claim)" = 3 ] || { show; fail "second repair"; }
[ "$(sql "SELECT sum(version) FROM graph_sync_status")" -gt "$before" ] || fail "second repair did not raise the version"
[ "$(sql "SELECT count(*) FROM graph_sync_status")" = 7 ] || fail "second repair added rows"
# the sync engine fixes them all
[ "$(rc "$bin" sync --once --limit 100)" = 0 ] || { show; fail "sync --once"; }
[ "$(rc "$bin" verify --json)" = 0 ] || { show; fail "verify after the repair sync"; }

# an extra node whose key is not an entity id cannot be queued (the engine could not read it):
# --repair says so and leaves it to the full sync's orphan sweep. The warning is a log line in
# the chosen format (issue 18: it was a raw "pg2neo: warning:" line, also inside JSON logs)
cy "CREATE (:VF_User {id: 'not-a-uuid'})"
[ "$(rc "$bin" --log-format json verify --repair --type User)" = 3 ] || { show; fail "malformed extra"; }
grep -q '"msg":"not an entity id, cannot be queued: pg2neo full-sync removes it".*"id":"not-a-uuid"' "$tmp/err" ||
  { show; fail "malformed extra warning"; }
jq -e . "$tmp/err" >/dev/null || { show; fail "a line of the JSON log is not JSON"; }
[ "$(sql "SELECT count(*) FROM graph_sync_status WHERE entity_id = 'not-a-uuid'")" = 0 ] || fail "malformed id queued"
[ "$(rc "$bin" full-sync --type User)" = 0 ] || { show; fail "full-sync removing the malformed node"; }
[ "$(py "d['types'][0]['orphans_removed']")" = 1 ] || { show; fail "malformed node not removed"; }
[ "$(rc "$bin" verify --type User)" = 0 ] || { show; fail "verify after removing the malformed node"; }

# --sample: a random sample per type
cy "MATCH (b:VF_Bill {id: '$b1'}) SET b.status = 'tampered'"
[ "$(rc "$bin" verify --sample 5 --json)" = 0 ] || [ "$(py "d['differences']")" = 1 ] || { show; fail "--sample 5"; }
[ "$(py "d['sampled'], max(t['postgres_count'] for t in d['types']) <= 5")" = "(True, True)" ] || { show; fail "sample size"; }
[ "$(rc "$bin" verify --sample 100000 --type Bill --json)" = 3 ] || { show; fail "a sample of everything sees the edit"; }
[ "$(cats Bill)" = "[(0, []), (0, []), (1, ['$b1']), (0, [])]" ] || { show; fail "sample: $(cats Bill)"; }

# bad input: exit 2
[ "$(rc "$bin" verify --type Nope)" = 2 ] || { show; fail "verify unknown type"; }
grep -q 'unknown entity type "Nope"' "$tmp/err" || { show; fail "unknown type message"; }
[ "$(rc "$bin" verify --sample 0)" = 2 ] || fail "--sample 0"
[ "$(rc "$bin" verify --bogus)" = 2 ] || fail "verify unknown option"
[ "$(rc "$bin" conflicts Nope 1)" = 2 ] || fail "conflicts unknown type"
[ "$(rc "$bin" conflicts User 00000000-0000-4000-8000-00000000dead)" = 2 ] || { show; fail "conflicts unknown id"; }
grep -q 'no User with id' "$tmp/err" || { show; fail "unknown id message"; }
[ "$(rc "$bin" conflicts User)" = 2 ] || fail "conflicts without an id"
[ "$(rc "$bin" conflicts Claim not-a-number)" = 2 ] || { show; fail "conflicts with an id that cannot exist"; }
# a server that does not answer: exit 1 with the reason
[ "$(NEO4J_URI=bolt://127.0.0.1:1 rc "$bin" verify)" = 1 ] || { show; fail "verify with Neo4j down"; }
grep -q 'Connection refused' "$tmp/err" || { show; fail "Neo4j down message"; }
[ "$(NEO4J_URI=bolt://127.0.0.1:1 rc "$bin" conflicts User "$ghost")" = 1 ] || { show; fail "conflicts with Neo4j down"; }
echo "test_verify: ok"
