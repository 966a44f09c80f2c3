#!/usr/bin/env bash
# Integration test of the civic example's data (examples/civic): the schema loads and reloads
# without losing data, the generator is deterministic (same scale -> identical rows, in two
# databases), row counts follow the scale, hostile values and NULLs are there, and the change
# generator inserts, updates, soft-deletes and deletes for a few seconds without a single SQL error
# and without leaving dangling references. Uses its own databases civic_test_a and civic_test_b on
# the shared PostgreSQL (DATABASE_URL, or `scripts/services env`), dropped at the end.
# Fails, never skips, when PostgreSQL is unreachable.
set -uo pipefail
src=${P2N_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
civic=$src/examples/civic

if [ -z "${DATABASE_URL:-}" ]; then
  envlines=$("$src/scripts/services" env 2>/dev/null) || { echo "not ok - no DATABASE_URL and scripts/services env failed"; exit 1; }
  eval "$envlines"
fi
# shellcheck source=../../examples/civic/pgenv.sh
. "$civic/pgenv.sh" || exit 1
admin_db=$PGDATABASE

failures=0
pass() { echo "ok - $*"; }
fail() { echo "not ok - $*"; failures=$((failures + 1)); }
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }
# psql on one database: q DB [psql args...]
q() { local db=$1; shift; PGDATABASE=$db psql -X -q -v ON_ERROR_STOP=1 "$@"; }
val() { local db=$1; shift; PGDATABASE=$db psql -X -At -v ON_ERROR_STOP=1 -c "$@"; }

if ! val "$admin_db" "SELECT 1" >/dev/null 2>&1; then
  echo "not ok - PostgreSQL is unreachable at ${PGHOST:-?}:${PGPORT:-?}"; exit 1
fi

dbs=(civic_test_a civic_test_b)
cleanup() {
  for d in "${dbs[@]}"; do
    val "$admin_db" "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1 || echo "# could not drop $d"
  done
}
trap cleanup EXIT
for d in "${dbs[@]}"; do
  PGOPTIONS="-c client_min_messages=warning" val "$admin_db" "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null &&
    val "$admin_db" "CREATE DATABASE $d" >/dev/null || { echo "not ok - could not create database $d"; exit 1; }
done
A=civic_test_a B=civic_test_b
tables="users sponsors governors sessions sittings bills sitting_bills arguments claims comments votes bookmarks"

# One checksum per table, over its rows in primary-key order (COPY text format: every byte).
checksums() {
  local db=$1 t
  for t in $tables; do
    printf '%s %s\n' "$t" "$(PGDATABASE=$db psql -X -At -v ON_ERROR_STOP=1 \
      -c "COPY (SELECT * FROM $t ORDER BY 1, 2) TO STDOUT" | md5sum | cut -d' ' -f1)"
  done
}
counts() { val "$1" "SELECT concat_ws(' '$(for t in $tables; do printf ", (SELECT count(*) FROM %s)" "$t"; done))"; }

# --- schema -------------------------------------------------------------------------------------
start=$(date +%s)
check "schema.sql loads into a fresh database" q "$A" -f "$civic/schema.sql"
check "schema.sql loads into a second database" q "$B" -f "$civic/schema.sql"
n_tables=$(val "$A" "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
check "schema.sql creates the 12 civic tables (got $n_tables)" [ "$n_tables" = 12 ]
no_pk=$(val "$A" "SELECT string_agg(c.relname, ',') FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname = 'public' AND c.relkind = 'r'
                    AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'p')")
check "every civic table has a primary key (without: ${no_pk:-none})" [ -z "$no_pk" ]
types=$(val "$A" "SELECT string_agg(DISTINCT format_type(atttypid, NULL), ',' ORDER BY format_type(atttypid, NULL))
                  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped")
for t in uuid bigint integer smallint text boolean numeric 'double precision' date \
         'timestamp with time zone' 'timestamp without time zone' json jsonb 'text[]' 'uuid[]' bytea; do
  case ",$types," in *",$t,"*) ;; *) fail "the schema has a column of type $t (types: $types)" ;; esac
done

# --- generator: determinism and scale ---------------------------------------------------------
check "generate.sql scale 1 into A" q "$A" -v scale=1 -f "$civic/generate.sql" -o /dev/null
check "generate.sql scale 1 into B" q "$B" -v scale=1 -f "$civic/generate.sql" -o /dev/null
sum_a=$(checksums "$A") sum_b=$(checksums "$B")
check "scale 1 gives identical rows in two databases" [ "$sum_a" = "$sum_b" ]
empty=$(echo "$sum_a" | grep -c d41d8cd98f00b204e9800998ecf8427e)   # md5 of nothing
check "no table is empty after generation ($empty empty)" [ "$empty" = 0 ]

c1=$(counts "$A")
expect1="1500 100 10 4 80 800 800 1200 1800 1500 1500 1000"
check "scale 1 row counts are [$expect1] (got [$c1])" [ "$c1" = "$expect1" ]
total1=$(echo "$c1" | awk '{ for (i = 1; i <= NF; i++) s += $i; print s }')
check "scale 1 is about 10k rows (got $total1)" [ "$total1" -ge 9000 -a "$total1" -le 11000 ]

check "generate.sql scale 3 into B (replacing scale 1)" q "$B" -v scale=3 -f "$civic/generate.sql" -o /dev/null
c3=$(counts "$B")
scaled=$(for n in $c1; do echo $((n * 3)); done | paste -sd' ')
check "scale 3 row counts are 3x scale 1 (got [$c3])" [ "$c3" = "$scaled" ]
# Rows 1..n of scale 1 are rows 1..n of scale 3 where nothing depends on the table sizes.
same_users=$(val "$B" "SELECT count(*) FROM users WHERE id = md5('users:' || split_part(split_part(email, '@', 1), '+', 2))::uuid
                          OR id = md5('users:' || substr(split_part(email, '@', 1), 5))::uuid")
check "user n has the same md5-derived id at every scale ($same_users of 4500)" [ "$same_users" = 4500 ]
check "generate.sql scale 1 again into B" q "$B" -v scale=1 -f "$civic/generate.sql" -o /dev/null
check "regenerating scale 1 over other data gives the same rows again" [ "$(checksums "$B")" = "$sum_a" ]

# --- hostile values and NULLs -------------------------------------------------------------------
hostile=$(val "$A" "SELECT
  (SELECT count(*) FROM users WHERE display_name = \$\$'}) DETACH DELETE n //\$\$) > 0,
  (SELECT count(*) FROM bills WHERE title LIKE '%\`%') > 0,
  (SELECT count(*) FROM comments WHERE body LIKE '%' || chr(10) || '%') > 0,
  (SELECT count(*) FROM arguments WHERE body ~ '[\U0001F300-\U0001FAFF]') > 0,
  (SELECT count(*) FROM claims WHERE statement LIKE '%O''Brien%') > 0,
  (SELECT count(*) FROM bills WHERE tags @> ARRAY[\$\$'}) DETACH DELETE t //\$\$]) > 0,
  (SELECT count(*) FROM users WHERE profile ? '') > 0,
  (SELECT count(*) FROM sessions WHERE metadata::text LIKE '%\"quorum\": 51, \"quorum\"%') > 0,
  (SELECT count(*) FROM arguments WHERE score = 'NaN') > 0")
check "hostile values present: quotes, backticks, newlines, emoji, injection tags, empty json key, duplicate json key, NaN ($hostile)" \
  [ "$hostile" = "t|t|t|t|t|t|t|t|t" ]
nulls=$(val "$A" "SELECT (SELECT count(*) FROM users WHERE bio IS NULL) > 0 AND (SELECT count(*) FROM users WHERE invited_by IS NULL) > 0
                     AND (SELECT count(*) FROM bills WHERE budget IS NULL) > 0 AND (SELECT count(*) FROM bills WHERE sponsor_id IS NULL) > 0
                     AND (SELECT count(*) FROM users WHERE deleted_at IS NOT NULL) > 0
                     AND (SELECT count(*) FROM bills WHERE cardinality(co_sponsors) > 1) > 0
                     AND (SELECT count(*) FROM comments WHERE parent_id IS NOT NULL) > 0")
check "NULLs, soft-deleted users, multi-element arrays and replies are present" [ "$nulls" = t ]

check "schema.sql runs again on a loaded database" q "$A" -f "$civic/schema.sql"
check "reloading the schema keeps the data" [ "$(checksums "$A")" = "$sum_a" ]

# --- change generator ---------------------------------------------------------------------------
val "$A" "CREATE TABLE civic_before AS SELECT id, sponsor_id, co_sponsors, tags FROM bills" >/dev/null
t0=$(val "$A" "SELECT now()")
stats="SELECT sum(n_tup_ins), sum(n_tup_upd), sum(n_tup_del) FROM pg_stat_user_tables
       WHERE schemaname = 'public' AND relname <> 'civic_before'"
before=$(val "$A" "$stats")
out=$(PGDATABASE=$A DATABASE_URL= "$civic/changes.sh" 300 5 4 2>&1); rc=$?
echo "$out" | sed 's/^/# /'
check "changes.sh ran 5 s at 300/s with exit status 0 (got $rc)" [ "$rc" = 0 ]
failed=$(echo "$out" | sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p')
check "pgbench reports 0 failed transactions (got ${failed:-none})" [ "${failed:-x}" = 0 ]
done_tx=$(echo "$out" | sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p')
check "about 1500 transactions were run (got ${done_tx:-none})" [ "${done_tx:-0}" -ge 1000 ]
sleep 0.6
after=$(val "$A" "SELECT pg_stat_clear_snapshot()" >/dev/null; val "$A" "$stats")
IFS='|' read -r i0 u0 d0 <<<"$before"
IFS='|' read -r i1 u1 d1 <<<"$after"
check "rows were inserted ($((i1 - i0))), updated ($((u1 - u0))) and deleted ($((d1 - d0)))" \
  [ $((i1 - i0)) -gt 100 -a $((u1 - u0)) -gt 100 -a $((d1 - d0)) -gt 50 ]
changed=$(val "$A" "SELECT
  (SELECT count(*) FROM bills b JOIN civic_before o USING (id) WHERE b.co_sponsors <> o.co_sponsors
     AND cardinality(b.co_sponsors) > cardinality(o.co_sponsors)) > 0,
  (SELECT count(*) FROM bills b JOIN civic_before o USING (id) WHERE cardinality(b.co_sponsors) < cardinality(o.co_sponsors)) > 0,
  (SELECT count(*) FROM bills b JOIN civic_before o USING (id) WHERE b.tags <> o.tags) > 0,
  (SELECT count(*) FROM bills b JOIN civic_before o USING (id) WHERE b.sponsor_id IS DISTINCT FROM o.sponsor_id) > 0,
  (SELECT count(*) FROM users WHERE deleted_at >= '$t0') > 0,
  (SELECT count(*) FROM bills WHERE created_at >= '$t0') > 0,
  (SELECT count(*) FROM civic_before o WHERE NOT EXISTS (SELECT 1 FROM bills b WHERE b.id = o.id)) > 0")
check "co-sponsors added and removed, tags changed, sponsors moved, users soft-deleted, bills inserted and deleted ($changed)" \
  [ "$changed" = "t|t|t|t|t|t|t" ]
dangling=$(val "$A" "SELECT count(*) FROM bills, unnest(co_sponsors) AS c WHERE NOT EXISTS (SELECT 1 FROM sponsors s WHERE s.id = c)")
check "no bills.co_sponsors element points to a deleted sponsor ($dangling)" [ "$dangling" = 0 ]

# The change generator keeps working on empty tables (every pick finds nothing).
val "$A" "TRUNCATE users, sponsors, governors, sessions, sittings, bills, sitting_bills, arguments, claims,
          comments, votes, bookmarks" >/dev/null
out=$(PGDATABASE=$A DATABASE_URL= "$civic/changes.sh" 200 2 2 2>&1); rc=$?
check "changes.sh on empty tables exits 0 (got $rc)" [ "$rc" = 0 ]
refilled=$(val "$A" "SELECT (SELECT count(*) FROM users) > 0 AND (SELECT count(*) FROM votes) > 0")
check "changes.sh on empty tables fills them again" [ "$refilled" = t ]

# The same data in a non-default schema, and the change generator pointed at it (B's public
# tables are emptied first, so that only schema civic can hold the expected rows).
val "$B" "TRUNCATE users, sponsors, governors, sessions, sittings, bills, sitting_bills, arguments, claims,
          comments, votes, bookmarks" >/dev/null
check "schema.sql -v schema=civic into B" q "$B" -v schema=civic -f "$civic/schema.sql"
check "generate.sql -v schema=civic scale 1 into B" q "$B" -v schema=civic -v scale=1 -f "$civic/generate.sql" -o /dev/null
check "schema civic holds the same rows as public" [ "$(PGOPTIONS='-c search_path=civic' checksums "$B")" = "$sum_a" ]
out=$(PGDATABASE=$B CIVIC_SCHEMA=civic DATABASE_URL= "$civic/changes.sh" 200 2 2 2>&1); rc=$?
check "changes.sh with CIVIC_SCHEMA=civic exits 0 (got $rc)" [ "$rc" = 0 ]
check "changes.sh with CIVIC_SCHEMA=civic changed schema civic" \
  [ "$(PGOPTIONS='-c search_path=civic' checksums "$B")" != "$sum_a" ]

# An SQL error must make the change generator fail, not pass silently.
val "$B" "DROP TABLE civic.votes" >/dev/null
errlog=$(mktemp)
out=$(PGDATABASE=$B CIVIC_SCHEMA=civic CIVIC_LOG=$errlog DATABASE_URL= "$civic/changes.sh" 200 2 2 2>&1); rc=$?
grep -m1 'relation "votes" does not exist' "$errlog" >/dev/null || fail "pgbench's log names the missing table"
rm -f "$errlog"
check "changes.sh exits 1 when its SQL fails (got $rc)" [ "$rc" = 1 ]

"$civic/changes.sh" ten 5 >/dev/null 2>&1; rc=$?
check "changes.sh rejects a bad RATE with exit status 2 (got $rc)" [ "$rc" = 2 ]

echo "# took $(( $(date +%s) - start )) s"
if [ "$failures" -ne 0 ]; then echo "# $failures check(s) failed"; exit 1; fi
echo "# all checks passed"
