#!/usr/bin/env bash
# Bad input everywhere: every command `pg2neo --help` lists is given an unknown option, and where
# it takes them an unknown entity type, an unknown id, a malformed or missing option value; each
# must exit 2 with a "pg2neo: ..." message on stderr (and nothing may be changed). A command in
# --help that this table does not cover fails the test, so new commands must be added here.
set -uo pipefail
src=${P2N_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${P2N_BUILD:-$src/build/debug}/pg2neo
fail() { echo "FAIL: $*"; exit 1; }
: "${DATABASE_URL:?the services are not up (DATABASE_URL unset)}"
admin=$DATABASE_URL
db=badinput_test
map=$(mktemp /tmp/p2n-badinput-XXXXXX.yaml)
err=$(mktemp /tmp/p2n-badinput-XXXXXX.err)
cleanup() {
  "$bin" cypher "MATCH (n:BiItem) DETACH DELETE n" >/dev/null 2>&1
  psql "$admin" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1
  rm -f "$map" "$err"
}
trap cleanup EXIT
psql "$admin" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1 || fail "create database"
export DATABASE_URL=${admin%/*}/$db
psql "$DATABASE_URL" -qc "CREATE TABLE bi_items (id int PRIMARY KEY, name text)" || fail "schema"
cat > "$map" <<'YAML'
entities:
  BiItem:
    table: bi_items
YAML
"$bin" cypher "MATCH (n:BiItem) DETACH DELETE n" >/dev/null || fail "Neo4j unreachable"
"$bin" init --config "$map" >/dev/null 2>&1 || fail "init"
psql "$DATABASE_URL" -qc "INSERT INTO bi_items SELECT g, 'item ' || g FROM generate_series(1, 5) g"
"$bin" sync --once --config "$map" >/dev/null || fail "sync"
state() { psql "$DATABASE_URL" -Atc "SELECT (SELECT count(*) FROM graph_sync_status), (SELECT count(*) FROM graph_sync_log),
  (SELECT count(*) FROM graph_sync_audit), (SELECT count(*) FROM graph_sync_status WHERE has_conflicts OR conflict_acked_at IS NOT NULL)"; }
before=$(state)

M="--config $map"
# command|arguments (word-split; one case per line)
cases=$(cat <<EOF
ping|--bogus
ping|extra
check|--bogus
check|/nonexistent/mapping.yaml
cypher|--bogus RETURN 1
cypher|--fetch-size abc RETURN 1
cypher|--param novalue RETURN 1
cypher|
init|--bogus
init|--config /nonexistent/mapping.yaml
init|$M --schema
init|--table not-a-table-spec
uninstall|--bogus
uninstall|
uninstall|--config /nonexistent/mapping.yaml --yes
infer|--bogus
infer|--table
infer|--schema
infer|extra
triggers|--bogus
triggers|nosuchaction
triggers|install --table not-a-table-spec
triggers|list --config /nonexistent/mapping.yaml
triggers|install --config $M
sync|--bogus $M
sync|--once --limit abc $M
sync|--once --timeout -1 $M
sync|$M
run|--bogus $M
run|$M --http nonsense
run|--config /nonexistent/mapping.yaml
status|--bogus $M
status|$M extra
status|--config /nonexistent/mapping.yaml
full-sync|--bogus $M
full-sync|$M --type NoSuchType
full-sync|$M --batch 0
verify|--bogus $M
verify|$M --type NoSuchType
verify|$M --sample abc
conflicts|--bogus $M
conflicts|$M NoSuchType 1
conflicts|$M BiItem 424242
conflicts|$M BiItem
conflicts|$M --list --type NoSuchType
conflicts|$M --list --limit x
conflicts|$M --scan --sample 0
conflicts|$M --config
resolve|--bogus $M
resolve|$M NoSuchType 1
resolve|$M BiItem 424242
resolve|$M BiItem
resolve|$M --all BiItem 1
resolve|$M --ack NoSuchType 1
resolve|$M --ack BiItem 424242
resolve|$M --ack BiItem 1 --note
resolve|$M --note x BiItem 1
resolve|$M --ack BiItem 1
history|--bogus $M
history|$M NoSuchType 1
history|$M BiItem 424242
history|$M --limit 0 BiItem 1
history|$M
history|$M --prune BiItem 1
EOF
)
n=0
while IFS='|' read -r cmd args; do
  [ -n "$cmd" ] || continue
  # shellcheck disable=SC2086
  timeout 60 "$bin" "$cmd" $args >/dev/null 2>"$err"
  rc=$?
  [ "$rc" = 2 ] || fail "pg2neo $cmd $args: exit $rc, expected 2 (stderr: $(head -c 300 "$err"))"
  grep -q '^pg2neo: [^ ]' "$err" || fail "pg2neo $cmd $args: no message on stderr: $(head -c 300 "$err")"
  n=$((n + 1))
done <<<"$cases"

# the global options and an unknown command
"$bin" --log-level nope status >/dev/null 2>"$err"; [ $? = 2 ] && grep -q '^pg2neo: ' "$err" || fail "--log-level nope"
"$bin" nosuchcommand >/dev/null 2>"$err"; [ $? = 2 ] && grep -q '^pg2neo: unknown command' "$err" || fail "unknown command"

# every command of --help has cases here
for c in $("$bin" --help | awk '/^commands:/ {f = 1; next} f && /^  [a-z]/ {print $1}'); do
  grep -q "^$c|" <<<"$cases" || fail "command $c (in pg2neo --help) has no bad-input case in this test"
done
[ "$(state)" = "$before" ] || fail "bad input changed the queue or the audit trail: $before -> $(state)"
echo "$n bad-input cases exit 2 with a message; 1 passed, 0 failed"
