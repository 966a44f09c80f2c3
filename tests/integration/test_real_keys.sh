#!/usr/bin/env bash
# Issue 14: keys of the types real schemas use. character(n) keys (Northwind's customer_id
# character(5)) were read as bare `character` (character(1)): a full sync read 0 rows and an
# UPDATE "synced" by deleting the node; join tables keyed by character(n) columns too. Then the
# same in logical capture, where pgoutput sends a character(n) key with its padding ('BO   '):
# that id named no node, so an update of the row never reached it (before: verify found the
# stale property). Each step ends with the graph checked and `verify` clean. Every other key
# type: test_real_key_types.sh.
# Database real_keys_test, labels RK_* on the shared servers.
set -euo pipefail
top=${P2N_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${P2N_BUILD:-$top/build/debug}/pg2neo
: "${DATABASE_URL:?DATABASE_URL is not set (scripts/services env)}"
: "${NEO4J_URI:?NEO4J_URI is not set (scripts/services env)}"
tmp=$(mktemp -d)
fail() { echo "FAIL: $*" >&2; exit 1; }
admin=$DATABASE_URL
psql -qX "$admin" -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS real_keys_test WITH (FORCE)" \
     -c "CREATE DATABASE real_keys_test" >/dev/null 2>&1 || fail "could not create real_keys_test"
base=${DATABASE_URL%%\?*}; q=""; [[ $DATABASE_URL == *\?* ]] && q="?${DATABASE_URL#*\?}"
export DATABASE_URL="${base%/*}/real_keys_test$q"
cy() { "$bin" cypher "$1"; }
count() { cy "$1" | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["c"])'; }
sql() { psql -qXAt "$DATABASE_URL" -v ON_ERROR_STOP=1 -c "$1"; }
cleanup() {
  cy "MATCH (n) WHERE any(l IN labels(n) WHERE l STARTS WITH 'RK_') DETACH DELETE n" >/dev/null 2>&1 || true
  psql -qXAt "$admin" -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = 'real_keys_test'" >/dev/null 2>&1 || true
  psql -qX "$admin" -c "DROP DATABASE IF EXISTS real_keys_test WITH (FORCE)" >/dev/null 2>&1 || true
  [ -n "${P2N_KEEP:-}" ] && echo "kept $tmp" >&2 || rm -rf "$tmp"
}
trap cleanup EXIT
psql -qX "$DATABASE_URL" -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE TABLE customers (customer_id character(5) PRIMARY KEY, company_name varchar(40) NOT NULL);
CREATE TABLE products (product_code character(4) PRIMARY KEY, name text);
CREATE TABLE orders (order_id int PRIMARY KEY, customer_id character(5) REFERENCES customers);
CREATE TABLE order_lines (order_id int REFERENCES orders, product_code character(4) REFERENCES products,
                          quantity int, PRIMARY KEY (order_id, product_code));
INSERT INTO customers VALUES ('ALFKI', 'Alfreds Futterkiste'), ('ANATR', 'Ana Trujillo'), ('BO', 'Short id');
INSERT INTO products VALUES ('P1', 'Chai'), ('P22', 'Chang'), ('P333', 'Aniseed');
INSERT INTO orders VALUES (10248, 'ALFKI'), (10249, 'ANATR'), (10250, 'BO');
INSERT INTO order_lines VALUES (10248, 'P1', 12), (10248, 'P22', 10), (10249, 'P333', 5), (10250, 'P1', 1);
SQL
cat > "$tmp/mapping.yaml" <<'YAML'
version: 1
entities:
  RK_Customer:
    table: customers
  RK_Product:
    table: products
  RK_Order:
    table: orders
    relationships:
      - type: RK_PLACED
        column: customer_id
        to: RK_Customer
        direction: in
relationships:
  RK_Line:
    table: order_lines
    type: RK_CONTAINS
    from: {entity: RK_Order, column: order_id}
    to: {entity: RK_Product, column: product_code}
YAML
export P2N_MAPPING=$tmp/mapping.yaml
"$bin" init >/dev/null 2>&1 || { "$bin" init; fail "init"; }
"$bin" full-sync >"$tmp/fs.out" 2>&1 || { cat "$tmp/fs.out"; fail "full-sync"; }
[ "$(count "MATCH (n:RK_Customer) RETURN count(n) AS c")" = 3 ] || fail "full sync: character(5) keyed customers missing"
[ "$(count "MATCH (:RK_Customer)-[:RK_PLACED]->(o:RK_Order) RETURN count(o) AS c")" = 3 ] || fail "full sync: RK_PLACED"
[ "$(count "MATCH (:RK_Order)-[e:RK_CONTAINS]->(:RK_Product) RETURN count(e) AS c")" = 4 ] || fail "full sync: join table keyed by character(4)"
# character(n) values reach Neo4j as PostgreSQL's text form of them, without the padding
[ "$(count "MATCH (n:RK_Customer {customer_id: 'BO'}) RETURN count(n) AS c")" = 1 ] || fail "the short key"
sql "UPDATE customers SET company_name = 'Alfreds' WHERE customer_id = 'ALFKI';
     UPDATE order_lines SET quantity = 99 WHERE order_id = 10248 AND product_code = 'P22';
     UPDATE orders SET customer_id = 'BO' WHERE order_id = 10249;
     DELETE FROM order_lines WHERE product_code = 'P333'; DELETE FROM products WHERE product_code = 'P333'" >/dev/null
"$bin" sync --once >/dev/null 2>&1 || fail "sync --once"
[ "$(count "MATCH (n:RK_Customer {customer_id: 'ALFKI'}) WHERE n.company_name = 'Alfreds' RETURN count(n) AS c")" = 1 ] \
  || fail "an UPDATE of a character(5)-keyed row did not reach the node (or deleted it)"
[ "$(count "MATCH (:RK_Order {order_id: 10248})-[e:RK_CONTAINS]->(:RK_Product {product_code: 'P22'}) WHERE e.quantity = 99 RETURN count(e) AS c")" = 1 ] \
  || fail "an UPDATE of a join-table row keyed by character(4)"
[ "$(count "MATCH (:RK_Customer {customer_id: 'BO'})-[:RK_PLACED]->(o:RK_Order) RETURN count(o) AS c")" = 2 ] || fail "a moved reference"
[ "$(count "MATCH (n:RK_Product) RETURN count(n) AS c")" = 2 ] || fail "a delete of a character(4)-keyed row"
"$bin" verify >"$tmp/verify.out" 2>&1 || { cat "$tmp/verify.out"; fail "verify"; }

# logical capture: the WAL's text of a character(n) key is padded; its id is not
[ "$(psql -qXAt "$admin" -c "SHOW wal_level")" = logical ] || fail "logical capture needs wal_level = logical (scripts/services restart pg)"
sed 's/^version: 1$/version: 1\nsource:\n  capture: logical/' "$tmp/mapping.yaml" > "$tmp/logical.yaml"
grep -q 'capture: logical' "$tmp/logical.yaml" || fail "mapping rewrite"
export P2N_MAPPING=$tmp/logical.yaml
"$bin" init >"$tmp/init.out" 2>&1 || { cat "$tmp/init.out"; fail "init (logical)"; }
sql "UPDATE customers SET company_name = 'Short, logical' WHERE customer_id = 'BO';
     UPDATE order_lines SET quantity = 7 WHERE order_id = 10250 AND product_code = 'P1';
     INSERT INTO products VALUES ('P4', 'Ikura'); UPDATE products SET product_code = 'P5' WHERE product_code = 'P4'" >/dev/null
"$bin" status >/dev/null 2>&1 || fail "status (logical pull)"
[ "$(sql "SELECT count(*) FROM graph_sync_status WHERE sync_status <> 'synced' AND entity_id LIKE '% %'")" = 0 ] ||
  { sql "SELECT entity_type, entity_id FROM graph_sync_status WHERE sync_status <> 'synced'"; fail "logical: an id with the key's padding"; }
"$bin" sync --once >/dev/null 2>&1 || fail "sync --once (logical)"
[ "$(count "MATCH (n:RK_Customer {customer_id: 'BO'}) WHERE n.company_name = 'Short, logical' RETURN count(n) AS c")" = 1 ] \
  || fail "logical: an UPDATE of a character(5)-keyed row did not reach its node"
[ "$(count "MATCH (:RK_Order {order_id: 10250})-[e:RK_CONTAINS]->(:RK_Product {product_code: 'P1'}) WHERE e.quantity = 7 RETURN count(e) AS c")" = 1 ] \
  || fail "logical: an UPDATE of a join-table row keyed by character(4)"
[ "$(count "MATCH (n:RK_Product) WHERE n.product_code IN ['P4', 'P5'] RETURN collect(n.product_code) AS c")" = "['P5']" ] || fail "logical: insert and key change"
"$bin" verify >"$tmp/verify.out" 2>&1 || { cat "$tmp/verify.out"; fail "verify (logical)"; }
"$bin" uninstall --yes >/dev/null 2>&1 || fail "uninstall"
echo "ok: real key types"
