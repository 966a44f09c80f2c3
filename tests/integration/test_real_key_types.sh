#!/usr/bin/env bash
# Issue 14 item 2: keys of every type real schemas use. Tables keyed by a date, a timestamp, a
# numeric (unconstrained: 1.50 and 1.5 are one value), a boolean, a citext (if the extension is
# available), a domain over text, a character(3), and a fact table keyed by (timestamptz, int) as
# a table partitioned by time must be; references to those keys (foreign keys with ON UPDATE
# CASCADE, an array of dates, a join table keyed by (date, numeric)). In each capture mode
# (triggers, statement, logical): full sync, then inserts, updates, key changes and deletes made
# by an application session with TimeZone Asia/Kolkata and DateStyle 'SQL, DMY' (pg2neo itself
# runs with PGTZ America/Sao_Paulo and PGDATESTYLE German), BC dates, infinity, year 10000,
# fractional seconds and NaN among the keys; every step ends with `pg2neo verify` exit 0 and
# the graph checked. Before, `init` refused the mapping: "a key must be an integer, text, uuid
# or enum column".
# Database real_key_types_test, labels RT_* on the shared servers.
set -euo pipefail
top=${P2N_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${P2N_BUILD:-$top/build/debug}/pg2neo
: "${DATABASE_URL:?DATABASE_URL is not set (scripts/services env)}"
: "${NEO4J_URI:?NEO4J_URI is not set (scripts/services env)}"
tmp=$(mktemp -d)
fail() { echo "FAIL${mode:+ ($mode)}: $*" >&2; exit 1; }
admin=$DATABASE_URL
level=$(psql -qXAt "$admin" -c "SHOW wal_level") || fail "PostgreSQL unreachable"
[ "$level" = logical ] || fail "the test server runs with wal_level = $level; logical capture needs logical (scripts/services restart pg)"
base=${DATABASE_URL%%\?*}; q=""; [[ $DATABASE_URL == *\?* ]] && q="?${DATABASE_URL#*\?}"
db_url="${base%/*}/real_key_types_test$q"
drop_db() {
  psql -qXAt "$admin" -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = 'real_key_types_test'" >/dev/null 2>&1 || true
  psql -qX "$admin" -c "DROP DATABASE IF EXISTS real_key_types_test WITH (FORCE)" >/dev/null 2>&1 || true
}
cy() { PGTZ=America/Sao_Paulo PGDATESTYLE=German "$bin" cypher "$1"; }
# one row of counts: cyc 'RETURN a, b' prints "a b"
cyc() {
  local out; out=$(cy "$1" 2>&1) || fail "cypher: $out"
  python3 -c 'import json,sys; d=json.loads(sys.argv[1].splitlines()[0]); print(" ".join(str(v) for v in d.values()))' "$out" ||
    fail "cypher returned: $out"
}
p2n() { PGTZ=America/Sao_Paulo PGDATESTYLE=German "$bin" "$@"; }
# the application: another time zone and date style than anyone else
app() { PGOPTIONS="-c TimeZone=Asia/Kolkata -c DateStyle=SQL,DMY" psql -qXAt "$DATABASE_URL" -v ON_ERROR_STOP=1 -c "$1" >/dev/null || fail "application statement: $1"; }
sql() { psql -qXAt "$DATABASE_URL" -v ON_ERROR_STOP=1 -c "$1"; }
sync_verify() {
  [ "$mode" = logical ] && { p2n status >/dev/null 2>&1 || fail "$1: status (the pull)"; }
  p2n sync --once --limit 100000 >"$tmp/sync.out" 2>&1 || { cat "$tmp/sync.out"; fail "$1: sync --once"; }
  [ "$(sql "SELECT count(*) FROM graph_sync_status WHERE sync_status <> 'synced'")" = 0 ] ||
    { sql "SELECT entity_type, entity_id, sync_status, last_error FROM graph_sync_status WHERE sync_status <> 'synced'"; fail "$1: not all synced"; }
  p2n verify >"$tmp/verify.out" 2>&1 || { cat "$tmp/verify.out"; fail "$1: verify"; }
}
expect() { local got; got=$(cyc "$2"); [ "$got" = "$3" ] || fail "$1: got '$got', expected '$3'"; }
cleanup() {
  [ -n "${P2N_KEEP:-}" ] && { echo "kept $tmp, the database and the RT_ nodes" >&2; return; }
  cy "MATCH (n) WHERE any(l IN labels(n) WHERE l STARTS WITH 'RT_') DETACH DELETE n" >/dev/null 2>&1 || true
  drop_db
  rm -rf "$tmp"
}
trap cleanup EXIT

scenario() {
  mode=$1
  drop_db
  psql -qX "$admin" -v ON_ERROR_STOP=1 -c "CREATE DATABASE real_key_types_test" >/dev/null || fail "could not create real_key_types_test"
  export DATABASE_URL=$db_url
  cy "MATCH (n) WHERE any(l IN labels(n) WHERE l STARTS WITH 'RT_') DETACH DELETE n" >/dev/null
  citext=1
  psql -qXAt "$DATABASE_URL" -c "CREATE EXTENSION citext" >/dev/null 2>&1 || citext=""
  if [ -z "$citext" ] && [ -z "${said_citext:-}" ]; then
    echo "note: the citext extension is not installed: the citext-keyed table is left out" >&2; said_citext=1
  fi
  tagtype=text; t3=Rust
  [ -n "$citext" ] && { tagtype=citext; t3=rust; } # citext: 'rust' refers to the row 'Rust'
  psql -qX "$DATABASE_URL" -v ON_ERROR_STOP=1 >/dev/null <<SQL
CREATE DOMAIN code AS text CHECK (VALUE <> '');
CREATE TABLE days (day date PRIMARY KEY, label text);
CREATE TABLE prices (amount numeric PRIMARY KEY, label text);
CREATE TABLE switches (on_off boolean PRIMARY KEY, label text);
CREATE TABLE slots (at timestamp PRIMARY KEY, label text);
CREATE TABLE tags (name $tagtype PRIMARY KEY, label text);
CREATE TABLE codes (code code PRIMARY KEY, label text);
CREATE TABLE shops (code character(3) PRIMARY KEY, name text);
CREATE TABLE events (occurred_at timestamptz NOT NULL, seq int NOT NULL,
  day date REFERENCES days ON UPDATE CASCADE ON DELETE SET NULL,
  amount numeric REFERENCES prices ON UPDATE CASCADE ON DELETE SET NULL,
  shop character(3) REFERENCES shops ON UPDATE CASCADE,
  on_off boolean REFERENCES switches ON UPDATE CASCADE ON DELETE SET NULL,
  tag $tagtype REFERENCES tags ON UPDATE CASCADE,
  note text, PRIMARY KEY (occurred_at, seq));
CREATE TABLE readings (id int PRIMARY KEY, days date[]);
CREATE TABLE day_prices (day date REFERENCES days ON UPDATE CASCADE ON DELETE CASCADE,
  amount numeric REFERENCES prices ON UPDATE CASCADE ON DELETE CASCADE, qty int, PRIMARY KEY (day, amount));
INSERT INTO days VALUES ('2024-03-01', 'leap'), ('0044-03-15 BC', 'ides'), ('infinity', 'never'), ('10000-01-01', 'far');
INSERT INTO prices VALUES (1.50, 'one fifty'), (2, 'two'), ('NaN', 'nan'), (0.001, 'tiny');
INSERT INTO switches VALUES (true, 'on'), (false, 'off');
INSERT INTO slots VALUES ('2024-03-01 08:00:00', 'a'), ('2024-03-01 08:00:00.5', 'b'), ('0044-03-15 12:00:00 BC', 'c'), ('-infinity', 'd');
INSERT INTO tags VALUES ('Rust', 'r'), ('go', 'g');
INSERT INTO codes VALUES ('X1', 'x'), ('Ü-1', 'u');
INSERT INTO shops VALUES ('A', 'a'), ('AB', 'ab'), ('ABC', 'abc');
INSERT INTO events VALUES ('2024-03-01 12:00:00+00', 1, '2024-03-01', 1.5, 'A', true, 'Rust', 'n1'),
  ('2024-03-01 17:30:00+05:30', 2, '0044-03-15 BC', 2.000, 'AB', false, 'go', 'n2'),
  ('2024-03-01 12:00:00.123456+00', 1, 'infinity', 'NaN', 'ABC', NULL, '$t3', 'n3'),
  ('infinity', 1, '10000-01-01', 0.0010, 'A', true, NULL, 'n4'),
  ('0044-03-15 12:00:00+00 BC', 1, NULL, NULL, 'A', NULL, NULL, 'n5');
INSERT INTO readings VALUES (1, ARRAY['2024-03-01', 'infinity']::date[]), (2, ARRAY['0044-03-15 BC']::date[]);
INSERT INTO day_prices VALUES ('2024-03-01', 1.500, 3), ('0044-03-15 BC', 2, 1), ('infinity', 'NaN', 1);
SQL
  cat > "$tmp/mapping.yaml" <<YAML
version: 1
source:
  capture: $mode
entities:
  RT_Day:
    table: days
  RT_Price:
    table: prices
  RT_Switch:
    table: switches
  RT_Slot:
    table: slots
  RT_Tag:
    table: tags
  RT_Code:
    table: codes
  RT_Shop:
    table: shops
  RT_Event:
    table: events
    relationships:
      - {type: RT_ON_DAY, column: day, to: RT_Day}
      - {type: RT_PRICED, column: amount, to: RT_Price}
      - {type: RT_AT_SHOP, column: shop, to: RT_Shop}
      - {type: RT_SWITCHED, column: on_off, to: RT_Switch}
      - {type: RT_TAGGED, column: tag, to: RT_Tag}
  RT_Reading:
    table: readings
    relationships:
      - {type: RT_ON_DAYS, column: days, to: RT_Day}
relationships:
  RT_DayPrice:
    table: day_prices
    type: RT_PAID
    from: {entity: RT_Day, column: day}
    to: {entity: RT_Price, column: amount}
YAML
  export P2N_MAPPING=$tmp/mapping.yaml
  p2n init >"$tmp/init.out" 2>&1 || { cat "$tmp/init.out"; fail "init"; }
  p2n full-sync >"$tmp/fs.out" 2>&1 || { cat "$tmp/fs.out"; fail "full-sync"; }
  p2n verify >"$tmp/verify.out" 2>&1 || { cat "$tmp/verify.out"; fail "verify after the full sync"; }
  expect "full sync: nodes" "RETURN COUNT { (:RT_Day) } AS d, COUNT { (:RT_Price) } AS p, COUNT { (:RT_Event) } AS e,
    COUNT { (:RT_Slot) } AS s" "4 4 5 4"
  # the Neo4j values of the keys: Date, DateTime in UTC, LocalDateTime, an exact string, a Boolean
  expect "full sync: key values" "RETURN COUNT { (:RT_Day {day: date('2024-03-01')}) } AS a,
    COUNT { (:RT_Day {day: date('-0043-03-15')}) } AS b, COUNT { (:RT_Day {day: 'infinity'}) } AS i,
    COUNT { (:RT_Event {occurred_at: datetime('2024-03-01T12:00:00Z'), seq: 2}) } AS e,
    COUNT { (:RT_Price {amount: '1.5'}) } AS p, COUNT { (:RT_Switch {on_off: true}) } AS s,
    COUNT { (:RT_Slot {at: localdatetime('2024-03-01T08:00:00.5')}) } AS l" "1 1 1 1 1 1 1"
  expect "full sync: relationships" "RETURN COUNT { (:RT_Day)-[:RT_ON_DAY]-(:RT_Event) } AS a,
    COUNT { (:RT_Price)-[:RT_PRICED]-(:RT_Event) } AS b, COUNT { (:RT_Day)-[:RT_ON_DAYS]-(:RT_Reading) } AS c,
    COUNT { (:RT_Day)-[:RT_PAID]->(:RT_Price) } AS d, COUNT { (:RT_Tag)-[:RT_TAGGED]-(:RT_Event) } AS t,
    COUNT { (:RT_Shop)-[:RT_AT_SHOP]-(:RT_Event) } AS s" "4 4 3 3 3 5"
  [ "$(cyc "MATCH (n) WHERE any(l IN labels(n) WHERE l STARTS WITH 'RT_') AND n._p2n_version IS NULL RETURN count(n) AS c")" = 0 ] ||
    fail "full sync: placeholder nodes (a reference did not match its key)"

  # inserts by the application (Asia/Kolkata, DMY): the same ids as every other session's
  app "INSERT INTO days VALUES ('2024-03-02', 'next'); INSERT INTO prices VALUES (3.10, 'three ten');
       INSERT INTO events VALUES ('2024-03-02 05:30:00+05:30', 7, '2024-03-02', 3.1, 'AB', false, 'go', 'k1');
       INSERT INTO slots VALUES ('2024-03-02 23:59:59.999999', 'e'); INSERT INTO codes VALUES ('X2', 'y');
       INSERT INTO day_prices VALUES ('2024-03-02', 3.100, 2); INSERT INTO readings VALUES (3, ARRAY['2024-03-02']::date[])"
  p2n status >/dev/null 2>&1 || fail "status (pull and fold)"
  [ "$(sql "SELECT count(*) FROM graph_sync_status WHERE entity_type = 'RT_Event' AND entity_id = '[\"2024-03-02 00:00:00.000000+00\",\"7\"]'")" = 1 ] ||
    { sql "SELECT entity_type, entity_id FROM graph_sync_status WHERE sync_status <> 'synced'"; fail "the id of an event inserted in Asia/Kolkata is not in UTC"; }
  [ "$(sql "SELECT count(*) FROM graph_sync_status WHERE (entity_type, entity_id) IN (('RT_Price', '3.1'), ('RT_Day', '2024-03-02'),
         ('RT_Slot', '2024-03-02 23:59:59.999999'), ('RT_DayPrice', '[\"2024-03-02\",\"3.1\"]'))")" = 4 ] ||
    { sql "SELECT entity_type, entity_id FROM graph_sync_status WHERE sync_status <> 'synced'"; fail "ids of the inserts"; }
  sync_verify "inserts"
  expect "inserts" "MATCH (:RT_Event {seq: 7})-[r]-(x) RETURN count(r) AS c" "5"

  # updates of other columns, then key changes (the old node goes, the new one comes, the
  # references follow through ON UPDATE CASCADE)
  app "UPDATE events SET note = 'edited' WHERE seq = 1; UPDATE days SET label = 'edited' WHERE day < '0001-01-01';
       UPDATE prices SET label = 'edited' WHERE amount = 'NaN'; UPDATE switches SET label = 'edited'"
  sync_verify "updates"
  expect "updates" "MATCH (e:RT_Event {note: 'edited'}) RETURN count(e) AS c" "4"
  app "UPDATE days SET day = '2024-03-03' WHERE day = '2024-03-01';
       UPDATE days SET day = '0045-03-15 BC' WHERE day = '0044-03-15 BC';
       UPDATE prices SET amount = 1.75 WHERE amount = 1.5;
       UPDATE prices SET amount = 2.000 WHERE amount = 2;
       UPDATE events SET occurred_at = occurred_at + interval '90 minutes' WHERE seq = 2;
       UPDATE events SET occurred_at = '2024-03-01 12:00:00.123457+00' WHERE occurred_at = '2024-03-01 12:00:00.123456+00';
       UPDATE slots SET at = at - interval '1 day' WHERE label = 'b';
       UPDATE shops SET code = 'B' WHERE code = 'AB';
       UPDATE codes SET code = 'X3' WHERE code = 'X1'"
  [ -n "$citext" ] && app "UPDATE tags SET name = 'RUST' WHERE name = 'rust'"
  sync_verify "key changes"
  expect "key changes: old keys gone" "RETURN COUNT { (d:RT_Day) WHERE d.day IN [date('2024-03-01'), date('-0043-03-15')] } AS d,
    COUNT { (p:RT_Price) WHERE p.amount IN ['1.5', '2.000'] } AS p,
    COUNT { (:RT_Event {occurred_at: datetime('2024-03-01T12:00:00Z'), seq: 2}) } AS e,
    COUNT { (:RT_Shop {code: 'AB'}) } AS s" "0 0 0 0"
  expect "key changes: references follow" "RETURN COUNT { (:RT_Day {day: date('2024-03-03')})--() } AS a,
    COUNT { (:RT_Price {amount: '1.75'})--() } AS b, COUNT { (:RT_Day {day: date('-0044-03-15')})--() } AS c,
    COUNT { (:RT_Event {occurred_at: datetime('2024-03-01T13:30:00Z'), seq: 2})--() } AS d,
    COUNT { (:RT_Shop {code: 'B'})--() } AS e" "2 2 2 5 2"
  [ -n "$citext" ] && expect "a citext key whose case changed" "RETURN COLLECT { MATCH (t:RT_Tag) WHERE toLower(t.name) = 'rust'
    RETURN t.name } AS n, COUNT { (:RT_Tag {name: 'RUST'})--() } AS c" "['RUST'] 2"
  # numeric scale only (1.75 = 1.750): the same id, the same node
  app "UPDATE prices SET amount = 1.750 WHERE amount = 1.75"
  sync_verify "a numeric key's scale"
  expect "a numeric key's scale" "RETURN COUNT { (:RT_Price {amount: '1.75'}) } AS c" "1"

  # deletes
  app "DELETE FROM events WHERE occurred_at = 'infinity'; DELETE FROM days WHERE day = '0045-03-15 BC';
       DELETE FROM prices WHERE amount = 'NaN'; DELETE FROM slots WHERE label = 'c';
       DELETE FROM switches WHERE on_off = false; DELETE FROM readings WHERE id = 2"
  sync_verify "deletes"
  expect "deletes" "RETURN COUNT { (:RT_Day) } AS d, COUNT { (:RT_Price) } AS p, COUNT { (:RT_Event) } AS e,
    COUNT { (:RT_Slot) } AS s, COUNT { (:RT_Switch) } AS w" "4 4 5 4 1"
  [ "$(cyc "MATCH (n) WHERE any(l IN labels(n) WHERE l STARTS WITH 'RT_') AND n._p2n_version IS NULL RETURN count(n) AS c")" = 0 ] ||
    fail "placeholder nodes left (a reference did not match its key)"
  # the conflict review and the audit trail find entities by these ids too
  p2n conflicts --scan --sample 100 >"$tmp/conflicts.out" 2>&1 || { cat "$tmp/conflicts.out"; fail "conflicts --scan"; }
  p2n conflicts RT_Event '["2024-03-02 00:00:00.000000+00","7"]' >"$tmp/conflicts.out" 2>&1 ||
    { cat "$tmp/conflicts.out"; fail "conflicts of one event"; }
  p2n history RT_Price 1.75 >"$tmp/history.out" 2>&1 && grep -q . "$tmp/history.out" ||
    { cat "$tmp/history.out"; fail "history of a numeric-keyed entity"; }
  p2n uninstall --yes >/dev/null 2>&1 || fail "uninstall"
  export DATABASE_URL=$admin
  echo "ok: $mode"
}

scenario triggers
scenario statement
scenario logical
echo "ok: keys of every type"
