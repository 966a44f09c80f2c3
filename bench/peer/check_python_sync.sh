#!/usr/bin/env bash
# Checks that the benchmark's Python peer (bench/peer/python_sync.py) really syncs the civic
# example, so that a throughput comparison against it compares equal work. In a database of its own
# (civic_peer_check) it loads the civic schema and data, installs the queue (sql/001_capture.sql),
# queues every row as the capture would, drains the queue with the peer under the label prefix
# PeerCheck_, and compares PostgreSQL with Neo4j: live nodes per label, relationships per type,
# hostile text verbatim, temporal types. Then it runs the change generator, queues what changed
# (rows before and after: a missing row is a delete), drains again and compares again.
# Needs .run/venv (scripts/setup --with-bench) and the servers (scripts/services env).
# Cleans up its database and its PeerCheck_ nodes and constraints. Exit status 0 when all agree.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
py=$top/.run/venv/bin/python
[ -x "$py" ] && "$py" -c 'import neo4j, psycopg' 2>/dev/null ||
  { echo "check_python_sync: .run/venv lacks neo4j/psycopg; run scripts/setup --with-bench" >&2; exit 1; }
if [ -z "${DATABASE_URL:-}" ] || [ -z "${NEO4J_PASSWORD:-}" ]; then
  envlines=$("$top/scripts/services" env) || { echo "check_python_sync: no servers" >&2; exit 1; }
  eval "$envlines"
fi
. "$top/examples/civic/pgenv.sh" || exit 1
admin_db=$PGDATABASE db=civic_peer_check prefix=PeerCheck_
val() { PGDATABASE=$db psql -X -At -v ON_ERROR_STOP=1 "$@"; }
export PGOPTIONS="-c client_min_messages=warning"

neo_cleanup() {
  "$py" - "$prefix" <<'EOF'
import os, sys, neo4j
p = sys.argv[1]
d = neo4j.GraphDatabase.driver(os.environ["NEO4J_URI"], auth=(os.environ["NEO4J_USER"], os.environ["NEO4J_PASSWORD"]))
with d.session() as s:
    s.run("MATCH (n) WHERE any(l IN labels(n) WHERE l STARTS WITH $p) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 5000 ROWS", p=p).consume()
    for rec in list(s.run("SHOW CONSTRAINTS YIELD name WHERE name STARTS WITH $p RETURN name", p=p)):
        s.run("DROP CONSTRAINT `" + rec["name"].replace("`", "``") + "` IF EXISTS").consume()
    for rec in list(s.run("SHOW INDEXES YIELD name WHERE name STARTS WITH $p RETURN name", p=p)):
        s.run("DROP INDEX `" + rec["name"].replace("`", "``") + "` IF EXISTS").consume()
d.close()
EOF
}
cleanup() {
  neo_cleanup
  PGDATABASE=$admin_db psql -X -q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"
}
trap cleanup EXIT
PGDATABASE=$admin_db psql -X -q -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" || exit 1
neo_cleanup
val -q -f "$top/examples/civic/schema.sql" && val -q -v scale="${CHECK_SCALE:-0.2}" -f "$top/examples/civic/generate.sql" -o /dev/null || exit 1
sed -e 's/@SCHEMA_LIT@/'"'public'"'/g' -e 's/@SCHEMA@/public/g' "$top/sql/001_capture.sql" | val -q || exit 1

# Queues entities of every civic table with the given version (entity ids as the capture makes them).
enqueue() {  # $1 = version, $2 = a SQL relation with columns (entity_type, entity_id)
  val -q -c "INSERT INTO graph_sync_status (entity_type, entity_id, version)
             SELECT entity_type, entity_id, $1 FROM ($2) AS e
             ON CONFLICT (entity_type, entity_id) DO UPDATE SET version = EXCLUDED.version,
               sync_status = 'pending', attempts = 0, next_attempt_at = now()"
}
ids_sql="SELECT 'User' AS entity_type, id::text AS entity_id FROM users UNION ALL SELECT 'Sponsor', id::text FROM sponsors
   UNION ALL SELECT 'Governor', id::text FROM governors UNION ALL SELECT 'Session', id::text FROM sessions
   UNION ALL SELECT 'Sitting', id::text FROM sittings UNION ALL SELECT 'Bill', id::text FROM bills
   UNION ALL SELECT 'Argument', id::text FROM arguments UNION ALL SELECT 'Claim', id::text FROM claims
   UNION ALL SELECT 'Comment', id::text FROM comments
   UNION ALL SELECT 'AgendaItem', jsonb_build_array(sitting_id::text, bill_id::text)::text FROM sitting_bills
   UNION ALL SELECT 'Vote', jsonb_build_array(user_id::text, bill_id::text)::text FROM votes
   UNION ALL SELECT 'Bookmark', jsonb_build_array(user_id::text, bill_id::text)::text FROM bookmarks"

# PostgreSQL's expected figures and Neo4j's, as "name=count" lines; they must be equal.
expected() {
  val -F= -c "
  SELECT 'User', count(*) FROM users WHERE deleted_at IS NULL UNION ALL SELECT 'Sponsor', count(*) FROM sponsors
  UNION ALL SELECT 'Governor', count(*) FROM governors UNION ALL SELECT 'Session', count(*) FROM sessions
  UNION ALL SELECT 'Sitting', count(*) FROM sittings UNION ALL SELECT 'Bill', count(*) FROM bills
  UNION ALL SELECT 'Argument', count(*) FROM arguments UNION ALL SELECT 'Claim', count(*) FROM claims
  UNION ALL SELECT 'Comment', count(*) FROM comments WHERE deleted_at IS NULL
  UNION ALL SELECT 'Person', (SELECT count(*) FROM sponsors) + (SELECT count(*) FROM governors)
  UNION ALL SELECT 'Tag', count(DISTINCT t) FROM bills, unnest(tags) t
  UNION ALL SELECT ':INVITED_BY', count(*) FROM users u JOIN users i ON i.id = u.invited_by
            WHERE u.deleted_at IS NULL AND i.deleted_at IS NULL
  UNION ALL SELECT ':OF_SESSION', count(*) FROM sittings
  UNION ALL SELECT ':SPONSORED_BY', count(sponsor_id) FROM bills
  UNION ALL SELECT ':SIGNED_BY', count(governor_id) FROM bills
  UNION ALL SELECT ':CO_SPONSORED_BY', coalesce(sum(cardinality(co_sponsors)), 0) FROM bills
  UNION ALL SELECT ':TAGGED', coalesce(sum(cardinality(tags)), 0) FROM bills
  UNION ALL SELECT ':ABOUT', count(*) FROM arguments
  UNION ALL SELECT ':MADE', count(*) FROM arguments a JOIN users u ON u.id = a.user_id WHERE u.deleted_at IS NULL
  UNION ALL SELECT ':PART_OF', count(*) FROM claims
  UNION ALL SELECT ':AUTHORED', count(*) FROM comments c JOIN users u ON u.id = c.user_id
            WHERE c.deleted_at IS NULL AND u.deleted_at IS NULL
  UNION ALL SELECT ':ON', count(*) FROM comments WHERE deleted_at IS NULL
  UNION ALL SELECT ':REPLY_TO', count(*) FROM comments c JOIN comments r ON r.id = c.parent_id
            WHERE c.deleted_at IS NULL AND r.deleted_at IS NULL
  UNION ALL SELECT ':ON_AGENDA', count(*) FROM sitting_bills
  UNION ALL SELECT ':VOTED', count(*) FROM votes v JOIN users u ON u.id = v.user_id WHERE u.deleted_at IS NULL
  UNION ALL SELECT ':BOOKMARKED', count(*) FROM bookmarks b JOIN users u ON u.id = b.user_id WHERE u.deleted_at IS NULL
  ORDER BY 1"
}
actual() {
  "$py" - "$prefix" <<'EOF'
import os, sys, neo4j
p = sys.argv[1]
labels = ["User", "Sponsor", "Governor", "Session", "Sitting", "Bill", "Argument", "Claim", "Comment", "Person", "Tag"]
rels = ["INVITED_BY", "OF_SESSION", "SPONSORED_BY", "SIGNED_BY", "CO_SPONSORED_BY", "TAGGED", "ABOUT", "MADE",
        "PART_OF", "AUTHORED", "ON", "REPLY_TO", "ON_AGENDA", "VOTED", "BOOKMARKED"]
out = []
d = neo4j.GraphDatabase.driver(os.environ["NEO4J_URI"], auth=(os.environ["NEO4J_USER"], os.environ["NEO4J_PASSWORD"]))
with d.session() as s:
    for l in labels:   # live nodes: synced ones carry _p2n_version (placeholders only a key); Tags: in use
        cond = " WHERE EXISTS { (n)<-[:TAGGED]-() }" if l == "Tag" else " WHERE n._p2n_version IS NOT NULL"
        out.append((l, s.run(f"MATCH (n:`{p}{l}`){cond} RETURN count(n) AS c").single()["c"]))
    for r in rels:     # relationships between live prefixed nodes (a placeholder stands for a deleted row)
        out.append((":" + r, s.run(f"MATCH (a)-[x:`{r}`]->(b) WHERE any(l IN labels(a) WHERE l STARTS WITH $p) "
                                   f"AND a._p2n_version IS NOT NULL AND (b._p2n_version IS NOT NULL OR b:`{p}Tag`) "
                                   "RETURN count(x) AS c", p=p).single()["c"]))
d.close()
for k, v in sorted(out):
    print(f"{k}={v}")
EOF
}
compare() {  # $1 = what
  local e a
  e=$(expected) a=$(actual)
  if [ "$e" = "$a" ]; then echo "ok - $1: PostgreSQL and Neo4j agree ($(echo "$e" | paste -sd' '))"
  else echo "not ok - $1: they differ"; diff <(echo "$e") <(echo "$a") | sed 's/^/# /'; failures=$((failures + 1)); fi
}
failures=0

enqueue 1 "$ids_sql"
queued=$(val -c "SELECT count(*) FROM graph_sync_status WHERE sync_status = 'pending'")
out=$(PGDATABASE=$db DATABASE_URL= "$py" "$top/bench/peer/python_sync.py" --drain --batch 500 --label-prefix "$prefix" ${CHECK_VERBOSE:+--verbose}) || { echo "not ok - python_sync.py failed: $out"; exit 1; }
echo "# $out"
synced=$(echo "$out" | sed -n 's/.*entities=\([0-9]*\).*/\1/p')
[ "$synced" = "$queued" ] && echo "ok - the peer synced all $queued queued entities" ||
  { echo "not ok - queued $queued, the peer synced ${synced:-?}"; failures=$((failures + 1)); }
left=$(val -c "SELECT count(*) FROM graph_sync_status WHERE sync_status <> 'synced'")
[ "$left" = 0 ] && echo "ok - every queue entry is synced" || { echo "not ok - $left entries not synced"; failures=$((failures + 1)); }
compare "initial load"

# Values verbatim and typed: a hostile title, a jsonb profile as a string, temporal types.
title=$(val -c "SELECT title FROM bills WHERE title LIKE '%DETACH DELETE%' ORDER BY id LIMIT 1")
id=$(val -c "SELECT id FROM bills WHERE title LIKE '%DETACH DELETE%' ORDER BY id LIMIT 1")
types=$("$py" - "$prefix" "$id" "$title" <<'EOF'
import os, sys, neo4j
p, bid, title = sys.argv[1:4]
d = neo4j.GraphDatabase.driver(os.environ["NEO4J_URI"], auth=(os.environ["NEO4J_USER"], os.environ["NEO4J_PASSWORD"]))
with d.session() as s:
    b = s.run(f"MATCH (b:`{p}Bill` {{id: $id}}) RETURN b.title AS t, valueType(b.created_at) AS c, "
              "valueType(b.introduced_on) AS d, b.text_digest AS x", id=bid).single()
    st = s.run(f"MATCH (n:`{p}Sitting`) RETURN valueType(n.sat_at) AS v LIMIT 1").single()
    pr = s.run(f"MATCH (n:`{p}User`) WHERE n.`profile.locale` IS NOT NULL "
               "RETURN DISTINCT valueType(n.`profile.locale`) + '/' + valueType(n.`profile.nested.a`) AS v").value()
    print(b["t"] == title, b["c"], b["d"], type(b["x"]).__name__, st["v"], ",".join(pr), sep="|")
d.close()
EOF
)
[ "$types" = "True|ZONED DATETIME NOT NULL|DATE NOT NULL|bytes|LOCAL DATETIME NOT NULL|STRING NOT NULL/STRING NOT NULL" ] &&
  echo "ok - hostile title verbatim, timestamptz/date/bytea/timestamp/jsonb typed ($types)" ||
  { echo "not ok - values or types wrong: $types"; failures=$((failures + 1)); }

# Changes: queue the rows before and after (a row gone is a delete), drain, compare again.
val -q -c "CREATE TABLE peer_before AS $ids_sql"
(PGDATABASE=$db DATABASE_URL= "$top/examples/civic/changes.sh" 300 4 4 >/dev/null) ||
  { echo "not ok - changes.sh failed"; failures=$((failures + 1)); }
enqueue 2 "SELECT * FROM peer_before UNION SELECT * FROM ($ids_sql) AS now_"
out=$(PGDATABASE=$db DATABASE_URL= "$py" "$top/bench/peer/python_sync.py" --drain --batch 500 --label-prefix "$prefix" --no-constraints) ||
  { echo "not ok - python_sync.py failed: $out"; exit 1; }
echo "# $out"
compare "after 4 s of mixed changes"

# A TRUNCATE (queued by the capture as entity id '*', op resync), then new rows in the table.
val -q -c "TRUNCATE bookmarks" -c "INSERT INTO bookmarks (user_id, bill_id, note)
             SELECT u.id, b.id, 'after truncate' FROM (SELECT id FROM users ORDER BY id LIMIT 30) u,
                                                      (SELECT id FROM bills ORDER BY id LIMIT 2) b" \
       -c "INSERT INTO graph_sync_status (entity_type, entity_id, op, version) VALUES ('Bookmark', '*', 'resync', 3)"
out=$(PGDATABASE=$db DATABASE_URL= "$py" "$top/bench/peer/python_sync.py" --drain --batch 500 --label-prefix "$prefix" --no-constraints) ||
  { echo "not ok - python_sync.py failed: $out"; exit 1; }
echo "# $out"
compare "after a TRUNCATE of bookmarks and 60 new ones"

if [ "$failures" -ne 0 ]; then echo "# $failures check(s) failed"; exit 1; fi
echo "# all checks passed"
