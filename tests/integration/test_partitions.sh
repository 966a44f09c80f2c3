#!/usr/bin/env bash
# Partitioned tables mapped through their parent (docs/capture.md, "Partitioned tables"), in each
# capture mode (triggers, statement, logical; P2N_PART_MODES picks some): orders LIST-partitioned
# by region with a HASH-sub-partitioned partition and a DEFAULT one, events RANGE-partitioned by id
# with a LIST-sub-partitioned partition. Each step runs application statements (all must succeed),
# syncs, and ends with `pg2neo verify` exit 0: writes through the parent, rows moved to another
# partition (also inside a sub-partitioned one), writes straight into partitions, TRUNCATE of one
# partition, partitions created after init (written directly, truncated), DETACH (then the detached
# table edited and attached again), ATTACH of a filled table, DROP of partitions, TRUNCATE of the
# parent; `triggers list` is clean after init and after new partitions; then a daemon keeps the
# graph in step while partitions are created, detached, dropped, attached and truncated.
# Database part_test, labels PT_*.
set -euo pipefail
top=${P2N_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${P2N_BUILD:-$top/build/debug}/pg2neo
: "${DATABASE_URL:?DATABASE_URL is not set (scripts/services env)}"
: "${NEO4J_URI:?NEO4J_URI is not set (scripts/services env)}"
fail() { echo "FAIL [${mode:-}] $*" >&2; exit 1; }
level=$(psql -qXAt "$DATABASE_URL" -c "SHOW wal_level") || fail "PostgreSQL unreachable"
tmp=$(mktemp -d)
pid=""
admin=$DATABASE_URL
base=${DATABASE_URL%%\?*}; q=""; [[ $DATABASE_URL == *\?* ]] && q="?${DATABASE_URL#*\?}"
db_url="${base%/*}/part_test$q"
cy() { "$bin" cypher "$1"; }
drop_db() {
  psql -qXAt "$admin" -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = 'part_test'" >/dev/null 2>&1 || true
  psql -qX "$admin" -c "DROP DATABASE IF EXISTS part_test WITH (FORCE)" >/dev/null 2>&1 || true
}
clear_graph() { DATABASE_URL=$db_url cy "MATCH (n) WHERE any(l IN labels(n) WHERE l STARTS WITH 'PT_') DETACH DELETE n" >/dev/null 2>&1 || true; }
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
  clear_graph
  drop_db
  rm -rf "$tmp"
}
trap cleanup EXIT

sql() { psql -qXAt "$DATABASE_URL" -v ON_ERROR_STOP=1 -c "$1" || fail "application statement failed: $1"; }
app() { psql -qX "$DATABASE_URL" -v ON_ERROR_STOP=1 >"$tmp/app.out" 2>&1 || { cat "$tmp/app.out"; fail "application statements failed ($1)"; }; }
drain() { "$bin" sync --once --limit 100000 >"$tmp/sync.out" 2>&1 || { cat "$tmp/sync.out"; fail "sync ($1)"; }; }
verify() {
  "$bin" verify >"$tmp/verify.out" 2>&1 || { cat "$tmp/verify.out"; fail "verify after: $1"; }
}
count_neo() { cy "MATCH (n:$1) RETURN count(n) AS c" | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["c"])'; }
# the graph holds exactly the rows of the table (verify says so too; this makes the step's point)
same_count() {
  local pg neo
  pg=$(sql "SELECT count(*) FROM $2"); neo=$(count_neo "$1")
  [ "$pg" = "$neo" ] || fail "$3: $2 has $pg rows, $1 has $neo nodes"
}
step() { drain "$1"; verify "$1"; same_count PT_Order orders "$1"; same_count PT_Event events "$1"; }

run_mode() {
  mode=$1
  drop_db; clear_graph
  psql -qX "$admin" -v ON_ERROR_STOP=1 -c "CREATE DATABASE part_test" >/dev/null 2>&1 || fail "could not create part_test"
  export DATABASE_URL=$db_url
  app schema <<'SQL'
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 5) g;
CREATE TABLE orders (id int NOT NULL, region text NOT NULL, amount int, note text,
                     customer_id int REFERENCES customers, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE orders_eu PARTITION OF orders FOR VALUES IN ('eu');
CREATE TABLE orders_us PARTITION OF orders FOR VALUES IN ('us') PARTITION BY HASH (id);
CREATE TABLE orders_us_0 PARTITION OF orders_us FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE orders_us_1 PARTITION OF orders_us FOR VALUES WITH (MODULUS 2, REMAINDER 1);
CREATE TABLE orders_other PARTITION OF orders DEFAULT;
INSERT INTO orders SELECT g, (ARRAY['eu', 'us', 'fr'])[g % 3 + 1], g * 10, 'n', g % 5 + 1 FROM generate_series(1, 30) g;
CREATE TABLE events (id int NOT NULL, kind text NOT NULL, payload text, PRIMARY KEY (id, kind)) PARTITION BY RANGE (id);
CREATE TABLE events_lo PARTITION OF events FOR VALUES FROM (0) TO (1000) PARTITION BY LIST (kind);
CREATE TABLE events_lo_a PARTITION OF events_lo FOR VALUES IN ('a');
CREATE TABLE events_lo_b PARTITION OF events_lo FOR VALUES IN ('b');
CREATE TABLE events_hi PARTITION OF events FOR VALUES FROM (1000) TO (2000);
INSERT INTO events SELECT g, (ARRAY['a', 'b'])[g % 2 + 1], 'p' || g FROM generate_series(1, 20) g;
SQL
  cat > "$tmp/mapping.yaml" <<YAML
version: 1
source:
  capture: $mode
sync: {batchSizeLimit: 1000}
entities:
  PT_Customer:
    table: customers
  PT_Order:
    table: orders
    relationships:
      - type: PT_BOUGHT_BY
        column: customer_id
        to: PT_Customer
  PT_Event:
    table: events
YAML
  export P2N_MAPPING=$tmp/mapping.yaml

  # 1. init, a clean triggers list, full sync
  "$bin" init >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "init"; }
  local r=0
  "$bin" triggers list >"$tmp/out" 2>&1 || r=$?
  [ $r = 0 ] || { cat "$tmp/out"; fail "triggers list after init: exit $r"; }
  [ "$(grep -c '^captured' "$tmp/out")" = 3 ] || { cat "$tmp/out"; fail "triggers list: not 3 captured"; }
  "$bin" full-sync >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "full-sync"; }
  verify "full-sync"

  # 2. writes through the parent
  app "parent writes" <<'SQL'
INSERT INTO orders VALUES (100, 'eu', 1, 'new', 1), (101, 'us', 2, 'new', 2), (102, 'fr', 3, 'new', 3);
UPDATE orders SET note = 'edited', customer_id = 4 WHERE id = 2;
DELETE FROM orders WHERE id = 3;
INSERT INTO events VALUES (500, 'a', 'new'), (1500, 'z', 'new');
SQL
  step "writes through the parent"

  # 3. rows moved to another partition (PostgreSQL: a DELETE and an INSERT), at every level
  app "row moves" <<'SQL'
UPDATE orders SET region = 'us', note = 'moved' WHERE id IN (1, 4);
UPDATE orders SET region = 'eu' WHERE id = 2;
UPDATE orders SET region = 'fr' WHERE id = 101;
UPDATE events SET id = id + 1000 WHERE id IN (5, 6);
UPDATE events SET kind = 'b' WHERE id = 8;
UPDATE orders_us SET id = id + 1000 WHERE id IN (1, 4, 5);
SQL
  step "rows moved to another partition"

  # 4. writes straight into partitions
  app "direct writes" <<'SQL'
INSERT INTO orders_eu VALUES (200, 'eu', 5, 'direct', 5), (201, 'eu', 6, 'direct', 1);
INSERT INTO orders_us_0 SELECT g, 'us', g, 'direct', 2 FROM generate_series(300, 340) g
  WHERE satisfies_hash_partition('orders_us'::regclass, 2, 0, g);
INSERT INTO events_lo_b VALUES (700, 'b', 'direct');
UPDATE orders_us_1 SET amount = amount + 1, note = 'direct update';
UPDATE events_lo_a SET payload = 'direct update';
DELETE FROM orders_us_0 WHERE id > 320;
DELETE FROM events_hi WHERE id = 1500;
DELETE FROM orders_other WHERE id = 102;
SQL
  step "writes straight into partitions"

  # 5. TRUNCATE of one partition (a leaf, a sub-partition)
  sql "TRUNCATE orders_eu"
  sql "TRUNCATE events_lo_b"
  step "TRUNCATE of one partition"

  # 6. partitions created after init: captured with no action
  app "new partitions" <<'SQL'
CREATE TABLE orders_asia PARTITION OF orders FOR VALUES IN ('asia');
INSERT INTO orders_asia VALUES (400, 'asia', 1, 'direct', 1), (401, 'asia', 2, 'direct', 2);
INSERT INTO orders VALUES (402, 'asia', 3, 'via parent', 3);
UPDATE orders_asia SET note = 'direct update' WHERE id = 400;
UPDATE orders SET region = 'asia' WHERE id = 7;
CREATE TABLE events_mid PARTITION OF events FOR VALUES FROM (2000) TO (3000) PARTITION BY LIST (kind);
CREATE TABLE events_mid_a PARTITION OF events_mid FOR VALUES IN ('a');
INSERT INTO events_mid_a VALUES (2001, 'a', 'direct'), (2002, 'a', 'direct');
UPDATE events SET id = 2010 WHERE id = 2;
DELETE FROM events_mid_a WHERE id = 2002;
SQL
  step "partitions created after init"
  "$bin" triggers list >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "triggers list after new partitions"; }
  sql "TRUNCATE orders_asia"
  step "TRUNCATE of a partition created after init"
  sql "INSERT INTO orders_asia VALUES (403, 'asia', 4, 'after truncate', 4)"
  sql "DELETE FROM events_mid_a"
  step "writes into a new partition after its TRUNCATE"

  # 7. DETACH: its nodes go; the detached table edited, then attached again: its rows as they are
  sql "ALTER TABLE orders DETACH PARTITION orders_us"
  step "DETACH"
  app "edit detached" <<'SQL'
DELETE FROM orders_us WHERE id IN (SELECT id FROM orders_us ORDER BY id LIMIT 3);
UPDATE orders_us SET note = 'edited while detached';
INSERT INTO orders_us VALUES (600, 'us', 6, 'inserted while detached', 1);
ALTER TABLE orders ATTACH PARTITION orders_us FOR VALUES IN ('us');
SQL
  step "DETACH, edit, ATTACH again"

  # 8. ATTACH of a table filled beforehand
  app "attach" <<'SQL'
CREATE TABLE orders_sa (LIKE orders);
INSERT INTO orders_sa SELECT g, 'sa', g, 'attached', g % 5 + 1 FROM generate_series(800, 810) g;
ALTER TABLE orders ATTACH PARTITION orders_sa FOR VALUES IN ('sa');
CREATE TABLE events_top (LIKE events);
INSERT INTO events_top VALUES (5000, 'a', 'attached');
ALTER TABLE events ATTACH PARTITION events_top FOR VALUES FROM (3000) TO (10000);
SQL
  step "ATTACH of a filled table"

  # 9. DROP of partitions (a leaf, a sub-partition, a partition detached and dropped at once)
  sql "DROP TABLE orders_sa"
  sql "DROP TABLE events_lo_a"
  step "DROP of a partition"
  sql "ALTER TABLE orders DETACH PARTITION orders_asia; DROP TABLE orders_asia"
  step "DETACH and DROP"

  # 10. TRUNCATE of the parent, then new rows
  sql "TRUNCATE events"
  sql "INSERT INTO events VALUES (10, 'b', 'after truncate'), (1010, 'x', 'after truncate')"
  step "TRUNCATE of the parent"
  "$bin" triggers list >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "triggers list at the end of the steps"; }

  # 11. a daemon while partitions come and go
  local port
  port=$("$top/scripts/free-port")
  "$bin" run --http "127.0.0.1:$port" >"$tmp/run.log" 2>&1 &
  pid=$!
  app "daemon" <<'SQL'
CREATE TABLE orders_jp PARTITION OF orders FOR VALUES IN ('jp');
INSERT INTO orders_jp VALUES (900, 'jp', 1, 'daemon', 1);
UPDATE orders SET region = 'jp' WHERE id = 10;
SELECT pg_sleep(0.3);
ALTER TABLE orders DETACH PARTITION orders_eu;
INSERT INTO orders VALUES (901, 'us', 2, 'daemon', 2);
SELECT pg_sleep(0.3);
DROP TABLE orders_eu;
CREATE TABLE orders_br (LIKE orders);
INSERT INTO orders_br SELECT g, 'br', g, 'daemon attached', 3 FROM generate_series(950, 960) g;
ALTER TABLE orders ATTACH PARTITION orders_br FOR VALUES IN ('br');
SELECT pg_sleep(0.3);
TRUNCATE orders_other;
UPDATE orders_br SET note = 'daemon direct' WHERE id = 950;
CREATE TABLE events_lo_c PARTITION OF events_lo FOR VALUES IN ('c');
INSERT INTO events_lo_c VALUES (20, 'c', 'daemon');
SQL
  converge() {
    local ok=""
    for _ in $(seq 1 50); do
      if "$bin" verify >"$tmp/verify.out" 2>&1; then ok=1; break; fi
      sleep 0.2
    done
    [ -n "$ok" ] || { cat "$tmp/verify.out"; tail -20 "$tmp/run.log"; fail "the daemon did not converge within 10 s ($1)"; }
    same_count PT_Order orders "$1"
    same_count PT_Event events "$1"
  }
  converge "daemon, partitions coming and going"
  # a tree change alone, nothing else written: the idle daemon's fold sees it
  sql "ALTER TABLE orders DETACH PARTITION orders_br"
  converge "daemon, idle, then a DETACH only"
  kill -TERM "$pid"; wait "$pid" || fail "daemon exit status"; pid=""
  echo "ok: partitioned tables, capture: $mode"
}

for m in ${P2N_PART_MODES:-triggers statement logical}; do
  if [ "$m" = logical ] && [ "$level" != logical ]; then
    mode=logical fail "the test server runs with wal_level = $level; logical capture needs logical"
  fi
  run_mode "$m"
done
