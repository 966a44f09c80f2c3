#!/usr/bin/env bash
# Issue 18, item 1: Cypher injection through "\u0060" in a name, through the real CLI. Neo4j
# replaces \uXXXX before it tokenizes, inside backtick-quoted names too, so a PostgreSQL user who
# can name a mapped column ran Cypher as the sync user. Here a table's key column, a label, a
# relationship type and a value node's label and property carry the attack; Victim nodes sit in
# Neo4j. check, init, an insert, sync --once, full-sync and verify must leave the Victims alone,
# and the graph must carry every name exactly as written (keys(n), labels(n), type(r)).
# Uses its own database inj_test; fails, never skips, when a server is unreachable.
set -uo pipefail
src=${P2N_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${P2N_BUILD:-$src/build/debug}/pg2neo
if [ -z "${DATABASE_URL:-}" ]; then
  envlines=$("$src/scripts/services" env 2>/dev/null) || { echo "not ok - no DATABASE_URL and scripts/services env failed"; exit 1; }
  eval "$envlines"
fi
failures=0
pass() { echo "ok - $*"; }
fail() { echo "not ok - $*"; failures=$((failures + 1)); }
die() { echo "not ok - $*"; exit 1; }

admin=$DATABASE_URL
db=inj_test
tmp=$(mktemp -d /tmp/p2n-inj-XXXXXX)
# the names (a literal backslash each: these are not escapes here). LABEL2 is a secondary
# label: spliced only into the upsert's SET, where the old code ran it.
KEYCOL='x\u0060:1})WITH n,r MATCH(v:Victim) DETACH DELETE v//'
LABEL='Inj\u0060) WITH n,r MATCH (v:Victim) DETACH DELETE v //'
LABEL2='L\u0060 WITH n MATCH (v:Victim) DETACH DELETE v //'
RTYPE='T\u0060]->(x) WITH n,r MATCH (v:Victim) DETACH DELETE v //'
VLABEL='Tag\u0060 {name: 1}) MATCH (v:Victim) DETACH DELETE v //'
VPROP='name\u0060: tk}) MATCH (v:Victim) DETACH DELETE v //'
export KEYCOL LABEL LABEL2 RTYPE VLABEL VPROP
q() { "$bin" cypher "$@"; }
cleanup() {
  q 'MATCH (n) WHERE n:Victim OR n:InjPlain OR n:InjLabel OR any(l IN labels(n) WHERE l IN [$a, $b, $c])
     DETACH DELETE n' --param "a=$LABEL" --param "b=$LABEL2" --param "c=$VLABEL" >/dev/null 2>&1
  # the constraints init created (named p2n_<label>_<property>)
  q 'SHOW CONSTRAINTS YIELD name, labelsOrTypes
     WHERE any(l IN labelsOrTypes WHERE l IN [$a, $b, "InjPlain", "InjLabel"]) RETURN name' \
    --param "a=$LABEL" --param "b=$VLABEL" 2>/dev/null | python3 -c '
import json, subprocess, sys
for line in sys.stdin:
    name = json.loads(line)["name"]
    quoted = "`" + name.replace("`", "``").replace("\\", "\\u005C") + "`"
    subprocess.run([sys.argv[1], "cypher", "DROP CONSTRAINT " + quoted + " IF EXISTS"], stdout=subprocess.DEVNULL)
' "$bin"
  psql -X "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT

q 'RETURN 1' >/dev/null 2>&1 || die "Neo4j is unreachable"
psql -X "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null 2>&1 \
  || die "PostgreSQL is unreachable (could not create $db)"
export DATABASE_URL=${admin%/*}/$db
sql() { psql -X -v ON_ERROR_STOP=1 "$DATABASE_URL" -qAt "$@"; }
# identifiers in SQL are double-quoted: a backslash is nothing special there
sql -c "CREATE TABLE inj (\"$KEYCOL\" int PRIMARY KEY, v text)" \
    -c "CREATE TABLE inj_label (id int PRIMARY KEY, tag text, note text)" || die "schema"

# YAML single quotes keep backslashes as they are. The key column alone, then a secondary label
# alone (victims afresh each time, so that each path is tested on its own), then everything:
# hostile primary label, relationship type, value node label and property.
cat >"$tmp/key.yaml" <<YAML
entities:
  InjPlain:
    table: inj
    properties: all
YAML
cat >"$tmp/label.yaml" <<YAML
entities:
  InjLabel:
    table: inj_label
    labels: [InjLabel, '$LABEL2']
YAML
cat >"$tmp/all.yaml" <<YAML
entities:
  InjPlain:
    table: inj
    properties: all
  InjLabel:
    table: inj_label
    labels: ['$LABEL', '$LABEL2']
    relationships:
      - {column: tag, type: '$RTYPE', value: {label: '$VLABEL', property: '$VPROP'}}
YAML

new_victims() {
  q 'MATCH (v:Victim) DETACH DELETE v' >/dev/null
  q 'UNWIND range(1, 3) AS i CREATE (:Victim {i: i})' >/dev/null || die "could not create the victims"
}
victims() { q 'MATCH (v:Victim) RETURN count(v) AS c' | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["c"])'; }

for step in key label all; do
  new_victims
  m=$tmp/$step.yaml
  out=$("$bin" check "$m" 2>&1); rc=$?
  [ $rc = 0 ] && pass "$step: check accepts the names (they are representable)" || fail "$step: check (rc=$rc): $out"
  out=$("$bin" init --config "$m" 2>&1); rc=$?
  [ $rc = 0 ] && pass "$step: init" || fail "$step: init (rc=$rc): $out"
  [ "$(victims)" = 3 ] && pass "$step: victims survive init" || fail "$step: init deleted victims: $(victims) left"
  case $step in
    key) sql -c "INSERT INTO inj VALUES (1, 'one'), (2, 'two')" || fail "insert" ;;
    label) sql -c "INSERT INTO inj_label VALUES (10, 'red', 'n10'), (11, 'blue', NULL)" || fail "insert" ;;
    all) sql -c "UPDATE inj_label SET note = coalesce(note, '') || '!'" -c "UPDATE inj SET v = v || '!'" || fail "update" ;;
  esac
  out=$("$bin" sync --once --config "$m" 2>&1); rc=$?
  [ $rc = 0 ] && pass "$step: sync --once" || fail "$step: sync --once (rc=$rc): $out"
  [ "$(victims)" = 3 ] && pass "$step: victims survive sync --once" || fail "$step: sync --once deleted victims: $(victims) left"
done

# the graph holds every name byte for byte
check_graph() {
  local when=$1 suffix=$2
  local got
  got=$(q 'MATCH (n:InjPlain) RETURN keys(n) AS k, n[$k] AS key, n.v AS v ORDER BY key' --param "k=$KEYCOL")
  SUFFIX=$suffix python3 - "$got" <<'PY' && pass "$when: InjPlain nodes carry the hostile key property exactly" || fail "$when: InjPlain nodes: $got"
import json, os, sys
rows = [json.loads(l) for l in sys.argv[1].splitlines()]
want = sorted([os.environ["KEYCOL"], "v", "_p2n_version"])
assert [r["key"] for r in rows] == [1, 2], rows
assert all(sorted(r["k"]) == want for r in rows), rows
assert [r["v"] for r in rows] == ["one" + os.environ["SUFFIX"], "two" + os.environ["SUFFIX"]], rows
PY
  got=$(q 'MATCH (n)-[r]->(t) WHERE $l IN labels(n) RETURN n.id AS id, labels(n) AS nl, type(r) AS rt,
             labels(t) AS tl, keys(t) AS tk, t[$p] AS tag ORDER BY id' \
          --param "l=$LABEL" --param "p=$VPROP")
  python3 - "$got" <<'PY' && pass "$when: labels, relationship type, value label and property exactly" || fail "$when: labelled nodes: $got"
import json, os, sys
e = os.environ
rows = [json.loads(l) for l in sys.argv[1].splitlines()]
assert [r["id"] for r in rows] == [10, 11], rows
for r in rows:
    assert sorted(r["nl"]) == sorted([e["LABEL"], e["LABEL2"]]), r
    assert r["rt"] == e["RTYPE"], r
    assert r["tl"] == [e["VLABEL"]], r
    assert e["VPROP"] in r["tk"], r
assert [r["tag"] for r in rows] == ["red", "blue"], rows
PY
}
check_graph "sync --once" "!"

# an update, a delete, then the bulk paths (full-sync and verify build their own Cypher)
new_victims
sql -c "UPDATE inj SET v = 'one' WHERE \"$KEYCOL\" = 1" -c "DELETE FROM inj WHERE \"$KEYCOL\" = 2" \
    -c "INSERT INTO inj VALUES (2, 'two')" -c "UPDATE inj_label SET tag = 'green' WHERE id = 11" \
    -c "UPDATE inj_label SET tag = 'blue' WHERE id = 11" || fail "update"
out=$("$bin" sync --once --config "$tmp/all.yaml" 2>&1); rc=$?
[ $rc = 0 ] && [ "$(victims)" = 3 ] && pass "update/delete synced, victims survive" || fail "second sync (rc=$rc, victims $(victims)): $out"
out=$("$bin" full-sync --config "$tmp/all.yaml" 2>&1); rc=$?
[ $rc = 0 ] && [ "$(victims)" = 3 ] && pass "full-sync, victims survive" || fail "full-sync (rc=$rc, victims $(victims)): $out"
check_graph "full-sync" ""
out=$("$bin" verify --config "$tmp/all.yaml" 2>&1); rc=$?
[ $rc = 0 ] && [ "$(victims)" = 3 ] && pass "verify finds the graph consistent" || fail "verify (rc=$rc, victims $(victims)): $out"

if [ "$failures" -eq 0 ]; then echo "all passed"; exit 0; fi
echo "$failures failed"; exit 1
