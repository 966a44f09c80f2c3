#!/usr/bin/env bash
# Integration test of `pg2neo check`: the civic example validates against the civic schema and
# prints the graph model; broken mappings exit 2 with file:line and a suggestion; an unreachable
# server exits 1; the Neo4j password never appears in the output; the check writes nothing.
# Uses its own database mapping_cli_test on the shared PostgreSQL, dropped at the end.
# Fails, never skips, when PostgreSQL is unreachable.
set -uo pipefail
src=${P2N_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${P2N_BUILD:-$src/build/debug}
bin=$build/pg2neo

if [ -z "${DATABASE_URL:-}" ]; then
  envlines=$("$src/scripts/services" env 2>/dev/null) || { echo "not ok - no DATABASE_URL and scripts/services env failed"; exit 1; }
  eval "$envlines"
fi
failures=0
pass() { echo "ok - $*"; }
fail() { echo "not ok - $*"; failures=$((failures + 1)); }

admin_url=$DATABASE_URL
if ! psql -X -At "$admin_url" -c "SELECT 1" >/dev/null 2>&1; then
  echo "not ok - PostgreSQL is unreachable"; exit 1
fi
tmp=$(mktemp -d)
cleanup() {
  psql -X -q "$admin_url" -c "DROP DATABASE IF EXISTS mapping_cli_test WITH (FORCE)" >/dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT
psql -X -q "$admin_url" -c "DROP DATABASE IF EXISTS mapping_cli_test WITH (FORCE)" -c "CREATE DATABASE mapping_cli_test" \
  >/dev/null 2>&1 || { echo "not ok - could not create mapping_cli_test"; exit 1; }
# the same server and credentials, another database
db_url=$(python3 -c '
import sys, urllib.parse as u
p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/mapping_cli_test")))' "$admin_url")
psql -X -q -v ON_ERROR_STOP=1 "$db_url" -f "$src/examples/civic/schema.sql" >/dev/null 2>&1 \
  || { echo "not ok - civic schema did not load"; exit 1; }

export DATABASE_URL=$db_url
export NEO4J_PASSWORD="cli-secret-$$-pw"

# 1. the civic example validates and prints its model (its text[] tags become value nodes: warned)
out=$("$bin" check "$src/examples/civic/mapping.yaml" 2>&1); rc=$?
if [ $rc -eq 0 ]; then pass "civic mapping validates"; else fail "civic mapping validates (rc=$rc): $out"; fi
for want in "is valid: 9 node entities" "(:Sponsor:Person)  entity Sponsor" "(:Governor:Person)" \
            "(:Bill)-[:CO_SPONSORED_BY]->(:Sponsor)  one per element of co_sponsors" \
            "(:Bill)-[:TAGGED]->(:Tag {name})  value node per element of tags" \
            "(:User)-[:VOTED {vote, at}]->(:Bill)" "(:User)-[:BOOKMARKED" "(:Comment)<-[:AUTHORED]-(:User)" \
            "(:Comment)-[:ON]->(:Bill)" "(:User)-[:INVITED_BY]->(:User)" "removed when: deleted_at IS NOT NULL" \
            'entity "Bill": value node column "tags" (text[]) can hold values over'; do
  if grep -qF -- "$want" <<<"$out"; then pass "summary shows $want"; else fail "summary lacks $want"; fi
done
if grep -qF "$NEO4J_PASSWORD" <<<"$out"; then fail "password printed"; else pass "password not printed"; fi

# 2. --cypher prints the statements; P2N_MAPPING is the default path
out=$(P2N_MAPPING="$src/examples/civic/mapping.yaml" "$bin" check --cypher 2>&1); rc=$?
if [ $rc -eq 0 ] && grep -qF 'MERGE (n:`Bill` {`id`: r.k})' <<<"$out" && grep -qF 'CREATE CONSTRAINT `p2n_Tag_name`' <<<"$out"; then
  pass "--cypher prints the generated statements"
else fail "--cypher (rc=$rc)"; fi

# 3. broken mappings: exit 2, file:line, the closest name
sed -e 's/^    table: bills$/    table: bils/' -e 's/rename: {voted_at: at}/rename: {votedat: at}/' \
  "$src/examples/civic/mapping.yaml" >"$tmp/bad.yaml"
out=$("$bin" check "$tmp/bad.yaml" 2>&1); rc=$?
line=$(grep -n '^    table: bils$' "$tmp/bad.yaml" | cut -d: -f1)
if [ $rc -eq 2 ] && grep -qF "$tmp/bad.yaml:$line: entity \"Bill\": table \"public.bils\" does not exist (did you mean \"bills\"?)" <<<"$out"; then
  pass "wrong table: exit 2 with file:line and suggestion"
else fail "wrong table (rc=$rc): $out"; fi
if grep -qF 'renamed column "votedat" does not exist in table "public.votes" (did you mean "voted_at"?)' <<<"$out"; then
  pass "all problems are reported"
else fail "second problem missing: $out"; fi

printf 'entities:\n  User:\n    tabel: users\n' >"$tmp/typo.yaml"
out=$("$bin" check "$tmp/typo.yaml" 2>&1); rc=$?
if [ $rc -eq 2 ] && grep -qF "$tmp/typo.yaml:3: unknown key \"tabel\" in entity \"User\" (did you mean \"table\"?)" <<<"$out"; then
  pass "unknown key: exit 2 before connecting"
else fail "unknown key (rc=$rc): $out"; fi

out=$("$bin" check "$tmp/missing.yaml" 2>&1); rc=$?
if [ $rc -eq 2 ] && grep -qF "could not open mapping file" <<<"$out"; then pass "missing file"; else fail "missing file (rc=$rc): $out"; fi
out=$("$bin" check --bogus 2>&1); rc=$?
if [ $rc -eq 2 ]; then pass "unknown option"; else fail "unknown option (rc=$rc)"; fi

# 4. unreachable server: exit 1
out=$(DATABASE_URL="postgresql://nobody@127.0.0.1:1/x?connect_timeout=2" "$bin" check "$src/examples/civic/mapping.yaml" 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -qF "could not connect to PostgreSQL" <<<"$out"; then pass "unreachable server: exit 1"; else fail "unreachable (rc=$rc): $out"; fi

# 5. nothing written: no tables, rows or functions appeared
objs=$(psql -X -At "$db_url" -c "SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace) || '/' || (SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace)")
"$bin" check "$src/examples/civic/mapping.yaml" >/dev/null 2>&1
objs2=$(psql -X -At "$db_url" -c "SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace) || '/' || (SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace)")
if [ "$objs" = "$objs2" ]; then pass "check writes nothing ($objs)"; else fail "objects changed: $objs -> $objs2"; fi

# 6. issue 18: a swapped pair suggests the key it came from; invalid UTF-8 at its own line; one
# table mapped by two entities is refused; keys and value-node columns that can exceed Neo4j's
# index limit get a warning (the check still passes)
printf 'entities:\n  User:\n    table: users\n    lables: [U]\n' >"$tmp/lables.yaml"
out=$("$bin" check "$tmp/lables.yaml" 2>&1); rc=$?
if [ $rc -eq 2 ] && grep -qF "$tmp/lables.yaml:4: unknown key \"lables\" in entity \"User\" (did you mean \"labels\"?)" <<<"$out"; then
  pass "lables suggests labels"
else fail "lables (rc=$rc): $out"; fi
printf 'entities:\n  User:\n    table: users\n    labels: [Us\377er]\n' >"$tmp/utf8.yaml"
out=$("$bin" check "$tmp/utf8.yaml" 2>&1); rc=$?
if [ $rc -eq 2 ] && grep -qF "$tmp/utf8.yaml:4: the file is not valid UTF-8 (byte 0xFF at column 16)" <<<"$out"; then
  pass "invalid UTF-8 reported at its line"
else fail "invalid UTF-8 (rc=$rc): $out"; fi
printf 'entities:\n  User:\n    table: users\n  Person:\n    table: users\n' >"$tmp/twice.yaml"
out=$("$bin" check "$tmp/twice.yaml" 2>&1); rc=$?
if [ $rc -eq 2 ] && grep -qF "$tmp/twice.yaml:5: entity \"Person\": table \"public.users\" is already mapped by entity \"User\" (line 3)" <<<"$out"; then
  pass "two entities on one table refused"
else fail "two entities on one table (rc=$rc): $out"; fi
psql -X -q -v ON_ERROR_STOP=1 "$db_url" -c "CREATE TABLE lim_docs (slug text PRIMARY KEY, code varchar(100) UNIQUE NOT NULL,
  title varchar(5000) UNIQUE NOT NULL, tags text[], kind char(8))" >/dev/null 2>&1 || fail "lim_docs table"
cat >"$tmp/limits.yaml" <<'YAML'
entities:
  Doc:
    table: lim_docs
    relationships:
      - {type: TAGGED, column: tags, value: {label: Tag}}
      - {type: OF_KIND, column: kind, value: {label: Kind}}
YAML
out=$("$bin" check "$tmp/limits.yaml" 2>&1); rc=$?
if [ $rc -eq 0 ] && grep -qF "pg2neo: warning: $tmp/limits.yaml:3: entity \"Doc\": key column \"slug\" (text) can hold values over Neo4j's index limit of 8164 bytes (UTF-8)" <<<"$out" \
   && grep -qF "value node column \"tags\" (text[]) can hold values over" <<<"$out" \
   && ! grep -qF "\"kind\"" <<<"$out"; then
  pass "check warns about a text key and text[] value nodes, not about char(8)"
else fail "limit warnings (rc=$rc): $out"; fi
for k in code title; do
  printf 'entities:\n  Doc:\n    table: lim_docs\n    key: %s\n' $k >"$tmp/limits_$k.yaml"
done
out=$("$bin" check "$tmp/limits_title.yaml" 2>&1); rc=$?
if [ $rc -eq 0 ] && grep -qF "key column \"title\" (varchar(5000)) can hold values over" <<<"$out"; then
  pass "varchar(5000) key: warned (from the catalog's type modifier)"
else fail "varchar(5000) key (rc=$rc): $out"; fi
out=$("$bin" check "$tmp/limits_code.yaml" 2>&1); rc=$?
if [ $rc -eq 0 ] && ! grep -qF "warning" <<<"$out"; then pass "varchar(100) key: no warning"; else fail "varchar(100) key (rc=$rc): $out"; fi

# issue 15 item 3: an error points at the line of the offending value, and a delete_when error
# names its own entity only (another entity's read, which looks at it, used to report it too)
psql -X -q -v ON_ERROR_STOP=1 "$db_url" -c "CREATE TABLE lc_t (id int PRIMARY KEY, v text);
  CREATE TABLE lc_u (id int PRIMARY KEY, t_id int REFERENCES lc_t, deleted_at timestamptz)" >/dev/null
cat >"$tmp/lines.yaml" <<'YAML'
entities:
  LcU:
    table: lc_u
    relationships:
      - type: OWNS
        column: t_idd
        to: LcT
  LcT:
    table: lc_t
YAML
out=$("$bin" check "$tmp/lines.yaml" 2>&1); rc=$?
if [ $rc -eq 2 ] && grep -qF "$tmp/lines.yaml:6: entity \"LcU\": relationship column \"t_idd\" does not exist" <<<"$out"; then
  pass "a misspelt relationship column is reported at its own line"
else fail "relationship column line (rc=$rc): $out"; fi
cat >"$tmp/dw.yaml" <<'YAML'
entities:
  LcT:
    table: lc_t
    delete_when: "nosuch = 'x'"
  LcU:
    table: lc_u
    delete_when: deleted_at IS NOT NULL
    relationships:
      - {type: OWNS, column: t_id, to: LcT}
YAML
out=$("$bin" check "$tmp/dw.yaml" 2>&1); rc=$?
if [ $rc -eq 2 ] && grep -qF "$tmp/dw.yaml:4: entity \"LcT\": delete_when is not accepted by PostgreSQL: column \"nosuch\" does not exist" <<<"$out" \
   && ! grep -qF '"LcU"' <<<"$out" && grep -qF "1 problem" <<<"$out"; then
  pass "a bad delete_when is reported once, for its own entity"
else fail "delete_when error (rc=$rc): $out"; fi

# issue 15 item 2: --config as every other command takes it (the positional form stays)
out=$("$bin" check --config "$tmp/lines.yaml" 2>&1); rc=$?
if [ $rc -eq 2 ] && grep -qF "$tmp/lines.yaml:6:" <<<"$out"; then pass "check --config FILE"; else fail "check --config (rc=$rc): $out"; fi
out=$("$bin" check --config 2>&1); rc=$?
if [ $rc -eq 2 ] && grep -qF -- "--config needs a mapping file" <<<"$out"; then pass "check --config without a file"; else fail "check --config alone (rc=$rc): $out"; fi

if [ $failures -gt 0 ]; then echo "# $failures failure(s)"; exit 1; fi
echo "# all passed"
