#!/usr/bin/env bash
# Issue 15 item 1: `pg2neo infer` on schemas pg2neo never saw, of three shapes, none designed
# for pg2neo: Northwind (tests/integration/data/northwind.sql: varchar keys, order_details and
# employee_territories join tables, employees.reports_to self-reference), Pagila
# (tests/integration/data/pagila.sql: film_actor/film_category join tables, address -> city ->
# country chains, a store <-> staff cycle, numeric, text[] and enum columns, views, a
# materialized view, a partitioned table keyed by a timestamp, tables without a key) and the civic
# example (examples/civic/schema.sql: uuid keys, json, jsonb, a uuid[] array of keys).
# For each: `infer > mapping.yaml && check --config && init --config && full-sync --config &&
# verify --config` all exit 0, the output is the same twice, and the graph has the expected
# labels and relationship types. Databases infer_test_*, labels IFT_* on the shared servers.
set -euo pipefail
top=${P2N_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${P2N_BUILD:-$top/build/debug}/pg2neo
: "${DATABASE_URL:?DATABASE_URL is not set (scripts/services env)}"
: "${NEO4J_URI:?NEO4J_URI is not set (scripts/services env)}"
tmp=$(mktemp -d)
fail() { echo "FAIL: $*" >&2; exit 1; }
admin=$DATABASE_URL
base=${DATABASE_URL%%\?*}; q=""; [[ $DATABASE_URL == *\?* ]] && q="?${DATABASE_URL#*\?}"
dburl() { echo "${base%/*}/$1$q"; }
cy() { "$bin" cypher "$1"; }
count() { cy "$1" | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["c"])'; }
sql() { psql -qXAt "$DATABASE_URL" -v ON_ERROR_STOP=1 -c "$1"; }
cleanup() {
  DATABASE_URL=$admin
  cy "MATCH (n) WHERE any(l IN labels(n) WHERE l STARTS WITH 'IFT_') DETACH DELETE n" >/dev/null 2>&1 || true
  for c in $(cy "SHOW CONSTRAINTS YIELD name WHERE name STARTS WITH 'p2n_IFT_' RETURN name" 2>/dev/null |
             python3 -c 'import json,sys; [print(json.loads(l)["name"]) for l in sys.stdin]' 2>/dev/null); do
    cy "DROP CONSTRAINT \`$c\` IF EXISTS" >/dev/null 2>&1 || true
  done
  for d in northwind pagila civic; do
    psql -qX "$admin" -c "DROP DATABASE IF EXISTS infer_test_$d WITH (FORCE)" >/dev/null 2>&1 || true
  done
  [ -n "${P2N_KEEP:-}" ] && echo "kept $tmp" >&2 || rm -rf "$tmp"
}
trap cleanup EXIT

# new_db NAME SQLFILE...: a fresh database holding the files; DATABASE_URL points at it
new_db() {
  local name=infer_test_$1; shift
  psql -qX "$admin" -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" \
       -c "CREATE DATABASE $name" >/dev/null 2>&1 || fail "could not create $name"
  export DATABASE_URL=$(dburl "$name")
  for f in "$@"; do
    psql -qX "$DATABASE_URL" -v ON_ERROR_STOP=1 -f "$f" >"$tmp/load.out" 2>&1 || { cat "$tmp/load.out"; fail "loading $f"; }
  done
}

# lifecycle NAME PREFIX: infer, then check, init, full-sync and verify with the inferred mapping
lifecycle() {
  local m=$tmp/$1.yaml
  "$bin" infer --label-prefix "$2" >"$m" 2>"$tmp/infer.err" || { cat "$tmp/infer.err"; fail "$1: infer"; }
  [ -s "$tmp/infer.err" ] && { cat "$tmp/infer.err"; fail "$1: infer wrote to standard error"; }
  "$bin" infer --label-prefix "$2" | cmp -s - "$m" || fail "$1: a second infer printed another mapping"
  for step in check init full-sync verify; do
    "$bin" "$step" --config "$m" >"$tmp/$1.$step" 2>&1 || { cat "$m" "$tmp/$1.$step"; fail "$1: $step --config the inferred mapping"; }
  done
  grep -q "^consistent: 0 entities differ" "$tmp/$1.verify" || { cat "$tmp/$1.verify"; fail "$1: verify"; }
}
has() { grep -qF -- "$2" "$tmp/$1.yaml" || { cat "$tmp/$1.yaml"; fail "$1: the mapping lacks: $2"; }; }
graph() { # graph NAME WANT CYPHER: the count the query returns
  local got; got=$(count "$3")
  [ "$got" = "$2" ] || fail "$1: $3 gave $got, expected $2"
}

# ---- Northwind ----
new_db northwind "$top/tests/integration/data/northwind.sql"
lifecycle northwind IFT_N_
has northwind "  IFT_N_OrderDetail:"
has northwind "    type: ORDER_DETAIL"
has northwind "    from: {entity: IFT_N_Order, column: order_id}"
has northwind "      - type: REPORTS_TO  # (:IFT_N_Employee)-[:REPORTS_TO]->(:IFT_N_Employee), fk_employees_employees"
has northwind "      - type: SHIP_VIA  # (:IFT_N_Order)-[:SHIP_VIA]->(:IFT_N_Shipper), fk_orders_shippers"
graph northwind "$(sql "SELECT count(*) FROM customers")" "MATCH (n:IFT_N_Customer) RETURN count(n) AS c"
graph northwind 1 "MATCH (:IFT_N_Order {order_id: 10248})-[:CUSTOMER]->(c:IFT_N_Customer {customer_id: 'VINET'}) RETURN count(c) AS c"
graph northwind "$(sql "SELECT count(*) FROM employees WHERE reports_to IS NOT NULL")" \
  "MATCH (:IFT_N_Employee)-[r:REPORTS_TO]->(:IFT_N_Employee) RETURN count(r) AS c"
graph northwind 0 "MATCH (:IFT_N_Employee {employee_id: 2})-[r:REPORTS_TO]->() RETURN count(r) AS c"
graph northwind "$(sql "SELECT count(*) FROM order_details")" "MATCH (:IFT_N_Order)-[r:ORDER_DETAIL]->(:IFT_N_Product) RETURN count(r) AS c"
graph northwind 1 "MATCH (:IFT_N_Order {order_id: 10248})-[r:ORDER_DETAIL]->(:IFT_N_Product {product_id: 11}) WHERE r.quantity = 12 AND r.unit_price = 14.0 RETURN count(r) AS c"
graph northwind 49 "MATCH (:IFT_N_Employee)-[r:EMPLOYEE_TERRITORY]->(:IFT_N_Territory) RETURN count(r) AS c"
graph northwind 4 "MATCH (:IFT_N_Territory)-[:REGION]->(g:IFT_N_Region) RETURN count(DISTINCT g) AS c"
# the inferred mapping's triggers capture: a changed reference moves its relationship
sql "UPDATE orders SET ship_via = 1 WHERE order_id = 10248"
"$bin" sync --once --config "$tmp/northwind.yaml" >/dev/null 2>&1 || fail "northwind: sync --once"
graph northwind 1 "MATCH (:IFT_N_Order {order_id: 10248})-[:SHIP_VIA]->(s:IFT_N_Shipper {shipper_id: 1}) RETURN count(s) AS c"
graph northwind 1 "MATCH (:IFT_N_Order {order_id: 10248})-[r:SHIP_VIA]->() RETURN count(r) AS c"

# ---- Pagila ----
new_db pagila "$top/tests/integration/data/pagila.sql"
# the search_path's "$user" schema exists but is empty: the default selection leaves it out
sql "DO \$\$BEGIN EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I', current_user); END\$\$"
lifecycle pagila IFT_P_
has pagila "# A pg2neo mapping inferred from database \"infer_test_pagila\", schema public, by pg2neo infer"
# payment is partitioned by time, keyed (payment_date, payment_id): mapped through its parent
has pagila "  IFT_P_Payment:"
has pagila "  # skipped public.payment_p2022_01: a partition of public.payment, whose entity holds its rows"
has pagila "  # skipped public.actor_info: a view"
has pagila "  # skipped public.rental_by_category: a materialized view"
has pagila "  # skipped public.packages_apt_postgresql_org: no primary key or unique key"
has pagila "      rental_rate: float  # numeric(4,2)"
has pagila "    exclude: [password]"
has pagila "    type: FILM_ACTOR"
graph pagila 3 "MATCH (n:IFT_P_Film) RETURN count(n) AS c"
graph pagila 2 "MATCH (:IFT_P_Actor {actor_id: 1})-[:FILM_ACTOR]->(f:IFT_P_Film) RETURN count(f) AS c"
graph pagila 3 "MATCH (:IFT_P_Film)-[r:FILM_CATEGORY]->(:IFT_P_Category) RETURN count(r) AS c"
graph pagila 1 "MATCH (:IFT_P_Customer {customer_id: 1})-[:ADDRESS]->(:IFT_P_Address)-[:CITY]->(:IFT_P_City)-[:COUNTRY]->(c:IFT_P_Country {country: 'Japan'}) RETURN count(c) AS c"
graph pagila 2 "MATCH (s:IFT_P_Staff)-[:STORE]->(:IFT_P_Store)-[:ADDRESS]->(:IFT_P_Address) WHERE s.password IS NULL RETURN count(s) AS c"
graph pagila 1 "MATCH (f:IFT_P_Film {film_id: 1})-[:LANGUAGE]->(:IFT_P_Language {name: 'English'}) WHERE f.rental_rate = 0.99 AND f.special_features = ['Deleted Scenes', 'Behind the Scenes'] AND f.rating = 'PG' AND f.release_year = 2012 RETURN count(f) AS c"
graph pagila 1 "MATCH (:IFT_P_Film {film_id: 2})-[:ORIGINAL_LANGUAGE]->(l:IFT_P_Language {name: 'Japanese'}) RETURN count(l) AS c"
graph pagila 1 "MATCH (e:IFT_P_FilmEmbedding)-[:FILM]->(:IFT_P_Film {film_id: 1}) WHERE size(e.embedding) = 3 RETURN count(e) AS c"
graph pagila 0 "MATCH (n) WHERE any(l IN labels(n) WHERE l IN ['IFT_P_PaymentP202201', 'IFT_P_ActorInfo']) RETURN count(n) AS c"
# the rows written straight into a partition reach the parent's entity
graph pagila 1 "MATCH (n:IFT_P_Payment) RETURN count(n) AS c"

# ---- civic, with an array of keys named by a column comment ----
new_db civic "$top/examples/civic/schema.sql"
psql -qX "$DATABASE_URL" -v ON_ERROR_STOP=1 -v scale=0.05 -f "$top/examples/civic/generate.sql" >/dev/null
"$bin" infer --label-prefix IFT_C_ >"$tmp/civic-nocomment.yaml"
grep -qF "# co_sponsors (uuid[]) may hold keys of IFT_C_Sponsor (table sponsors): if it does, add {type: CO_SPONSOR, column: co_sponsors, to: IFT_C_Sponsor}" \
  "$tmp/civic-nocomment.yaml" || { cat "$tmp/civic-nocomment.yaml"; fail "civic: no suggestion for co_sponsors"; }
sql "COMMENT ON COLUMN bills.co_sponsors IS 'references sponsors'"
lifecycle civic IFT_C_
has civic "      - type: CO_SPONSOR  # (:IFT_C_Bill)-[:CO_SPONSOR]->(:IFT_C_Sponsor), array of keys: its comment says it references sponsors"
has civic "      budget: float  # numeric(14,2)"
has civic "      profile: string  # jsonb"
want=$(sql "SELECT count(DISTINCT (b.id, s)) FROM bills b CROSS JOIN unnest(b.co_sponsors) AS s WHERE s IN (SELECT id FROM sponsors)")
[ "$want" -gt 0 ] || fail "civic: the generated bills have no co-sponsors"
graph civic "$want" "MATCH (:IFT_C_Bill)-[r:CO_SPONSOR]->(:IFT_C_Sponsor) RETURN count(r) AS c"
graph civic "$(sql "SELECT count(*) FROM votes")" "MATCH (:IFT_C_User)-[r:VOTE]->(:IFT_C_Bill) RETURN count(r) AS c"
graph civic "$(sql "SELECT count(*) FROM users WHERE invited_by IS NOT NULL")" "MATCH (:IFT_C_User)-[r:INVITED_BY]->(:IFT_C_User) RETURN count(r) AS c"

# ---- usage ----
DATABASE_URL=$(dburl infer_test_pagila)
set +e
"$bin" infer --table fillm >/dev/null 2>"$tmp/err"; rc=$?
set -e
[ $rc = 2 ] && grep -qF 'table "fillm" does not exist in schema "public" (did you mean "film"?)' "$tmp/err" || { cat "$tmp/err"; fail "infer --table with a typo: exit $rc"; }
"$bin" infer --table film --table language --table public.film_actor --table actor >"$tmp/sel.yaml"
"$bin" check --config "$tmp/sel.yaml" >/dev/null || fail "infer --table: check"
grep -qF "not mapped: foreign key film_original_language_id_fkey" "$tmp/sel.yaml" && fail "infer --table: language is selected"
[ "$(grep -c '^  [A-Za-z]*:$' "$tmp/sel.yaml")" = 4 ] || { cat "$tmp/sel.yaml"; fail "infer --table: four entities expected"; }
echo "ok: infer on northwind, pagila and civic"
