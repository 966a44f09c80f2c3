#!/usr/bin/env bash
# pg2neo init / triggers / uninstall from the command line, on the shared PostgreSQL in a
# database of its own (capture_cli_test): exit codes, idempotent init, list states (captured,
# missing, stale), a tables file, bad specs, and uninstall leaving the data alone.
set -euo pipefail
top=${P2N_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${P2N_BUILD:-$top/build/debug}/pg2neo
: "${DATABASE_URL:?DATABASE_URL is not set (scripts/services env)}"
fail() { echo "FAIL: $*" >&2; exit 1; }
psql -qX "$DATABASE_URL" -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS capture_cli_test WITH (FORCE)" \
     -c "CREATE DATABASE capture_cli_test" >/dev/null 2>&1 || fail "could not create capture_cli_test"
base=${DATABASE_URL%%\?*}; q=""; [[ $DATABASE_URL == *\?* ]] && q="?${DATABASE_URL#*\?}"
export DATABASE_URL="${base%/*}/capture_cli_test$q"
psql -qX "$DATABASE_URL" -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE SCHEMA civic;
CREATE TABLE civic.bills (id bigint PRIMARY KEY, title text, co_sponsors text[]);
CREATE TABLE civic.votes (user_id int, bill_id bigint, value int, PRIMARY KEY (user_id, bill_id));
CREATE TABLE civic.notes (id int PRIMARY KEY);
SQL
rc() { set +e; "$@" >/tmp/capture_cli.$$ 2>&1; local r=$?; set -e; echo $r; }
out() { cat /tmp/capture_cli.$$; }
trap 'rm -f /tmp/capture_cli.$$ /tmp/capture_cli_tables.$$' EXIT

[ "$(rc "$bin" init --table civic.bills:Bill:id:co_sponsors --table civic.votes:Vote:user_id,bill_id)" = 0 ] || { out; fail "init"; }
latest=$(ls "$top"/sql/[0-9][0-9][0-9]_*.sql | wc -l)   # migrations are numbered 001, 002, ...
out | grep -q "upgraded from version 0 to $latest\$" || { out; fail "init did not report the migration"; }
out | grep -q 'captured civic.votes as Vote' || { out; fail "init did not report the capture"; }
[ "$(rc "$bin" init)" = 0 ] || fail "second init"
out | grep -q "is up to date (version $latest)" || { out; fail "second init is not a no-op"; }

# list: captured, then a mapped table without triggers is missing (exit 3)
[ "$(rc "$bin" triggers list)" = 0 ] || { out; fail "list"; }
[ "$(out | grep -c '^captured')" = 2 ] || { out; fail "list should show two captured tables"; }
printf '# the mapping, one spec a line\ncivic.bills:Bill:id:co_sponsors\n\ncivic.votes:Vote:user_id,bill_id\ncivic.notes:Note:\n' \
  > /tmp/capture_cli_tables.$$
[ "$(rc "$bin" triggers list --tables-file /tmp/capture_cli_tables.$$)" = 3 ] || { out; fail "list with a missing table must exit 3"; }
out | grep -q '^missing  *civic.notes' || { out; fail "notes should be missing"; }
[ "$(rc "$bin" triggers install --tables-file /tmp/capture_cli_tables.$$)" = 0 ] || { out; fail "install"; }
[ "$(rc "$bin" triggers list --tables-file /tmp/capture_cli_tables.$$)" = 0 ] || { out; fail "all captured now"; }
# a different mapping makes a table stale; an unmapped captured table is stale too
[ "$(rc "$bin" triggers list --table civic.bills:Bill:id)" = 3 ] || { out; fail "stale"; }
out | grep -q '^stale .*civic.bills .*installed with different array columns' || { out; fail "bills stale"; }
out | grep -q '^stale .*civic.votes .*table is not mapped' || { out; fail "votes unmapped"; }

# the triggers work
psql -qX "$DATABASE_URL" -v ON_ERROR_STOP=1 -c "INSERT INTO civic.votes VALUES (1, 2, 1)" -c "SELECT graph_sync_fold()" >/dev/null
[ "$(psql -qXAt "$DATABASE_URL" -c "SELECT entity_type || ' ' || entity_id FROM graph_sync_status")" = 'Vote ["1","2"]' ] ||
  fail "the vote was not queued"

# bad input: exit 2 with a message
[ "$(rc "$bin" triggers install --table civic.bills)" = 2 ] || fail "bad spec must exit 2"
out | grep -q 'invalid table spec' || { out; fail "bad spec message"; }
[ "$(rc "$bin" triggers install --table civic.nope:X:id)" = 2 ] || fail "missing table must exit 2"
out | grep -q 'table "civic.nope" does not exist' || { out; fail "missing table message"; }
# issue 18: one table given as two entity types (the second trigger set replaced the first)
[ "$(rc "$bin" triggers install --table civic.notes:Note:id --table civic.notes:Memo:id)" = 2 ] ||
  { out; fail "a table given twice must exit 2"; }
out | grep -q 'table "civic.notes" is given twice (as Note and as Memo)' || { out; fail "table given twice message"; }
[ "$(rc "$bin" triggers frobnicate)" = 2 ] || fail "unknown subcommand must exit 2"
[ "$(rc "$bin" triggers drop)" = 2 ] || fail "drop without tables must exit 2"
[ "$(rc "$bin" uninstall)" = 2 ] || fail "uninstall without --yes must exit 2"
[ "$(DATABASE_URL=postgresql://nobody@127.0.0.1:1/x rc "$bin" triggers list)" = 1 ] || fail "unreachable server must exit 1"

# drop one table, then uninstall everything; the data stays
[ "$(rc "$bin" triggers drop --table civic.notes:Note:)" = 0 ] || { out; fail "drop"; }
[ "$(psql -qXAt "$DATABASE_URL" -c "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'civic.notes'::regclass")" = 0 ] ||
  fail "notes triggers left behind"
[ "$(rc "$bin" uninstall --yes)" = 0 ] || { out; fail "uninstall"; }
[ "$(psql -qXAt "$DATABASE_URL" -c "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'civic'")" = 0 ] || fail "triggers left behind"
[ "$(psql -qXAt "$DATABASE_URL" -c "SELECT to_regclass('public.graph_sync_status') IS NULL")" = t ] || fail "tables left behind"
[ "$(psql -qXAt "$DATABASE_URL" -c "SELECT count(*) FROM civic.votes")" = 1 ] || fail "data lost"
# and init again works from scratch
[ "$(rc "$bin" init --schema pg2neo_sync --table civic.bills:Bill:id:co_sponsors)" = 0 ] || { out; fail "init in a schema"; }
[ "$(psql -qXAt "$DATABASE_URL" -c "SELECT to_regclass('pg2neo_sync.graph_sync_status') IS NOT NULL")" = t ] ||
  fail "custom schema not created"
echo "ok"
