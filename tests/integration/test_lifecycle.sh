#!/usr/bin/env bash
# Issue 15 item 3, a lifecycle with no loose ends:
#   - `status` where the sync schema is missing says so (it said postgresConnected no);
#   - `full-sync` without `init` fails without a success-looking summary line;
#   - `uninstall` removes everything pg2neo created: graph_sync_fullsync (created by full-sync
#     outside the migrations) and the sync schema itself when init created it;
#   - a daemon started where the sync schema is missing exits with a clear message.
# Database lifecycle_test, labels LC_* on the shared servers.
set -uo pipefail
top=${P2N_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${P2N_BUILD:-$top/build/debug}/pg2neo
: "${DATABASE_URL:?DATABASE_URL is not set (scripts/services env)}"
: "${NEO4J_URI:?NEO4J_URI is not set (scripts/services env)}"
tmp=$(mktemp -d)
fail() { echo "FAIL: $*" >&2; exit 1; }
admin=$DATABASE_URL
psql -qX "$admin" -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS lifecycle_test WITH (FORCE)" \
     -c "CREATE DATABASE lifecycle_test" >/dev/null 2>&1 || fail "could not create lifecycle_test"
base=${DATABASE_URL%%\?*}; q=""; [[ $DATABASE_URL == *\?* ]] && q="?${DATABASE_URL#*\?}"
export DATABASE_URL="${base%/*}/lifecycle_test$q"
sql() { psql -qXAt "$DATABASE_URL" -v ON_ERROR_STOP=1 -c "$1"; }
cleanup() {
  "$bin" cypher "MATCH (n:LC_Item) DETACH DELETE n" >/dev/null 2>&1 || true
  psql -qX "$admin" -c "DROP DATABASE IF EXISTS lifecycle_test WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
sql "CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items VALUES (1, 'a'), (2, 'b')" >/dev/null
cat > "$tmp/mapping.yaml" <<'YAML'
entities:
  LC_Item:
    table: items
YAML
export P2N_MAPPING=$tmp/mapping.yaml
# every object pg2neo could have left: relations, functions, sequences, triggers, slots, publications
leftovers() {
  sql "SELECT string_agg(x, ', ') FROM (
         SELECT n.nspname || '.' || c.relname AS x FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relname LIKE 'graph\_sync%'
         UNION ALL SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
          WHERE p.proname LIKE 'graph\_sync%' OR p.proname LIKE 'on\_entity\_%' OR p.proname LIKE 'on\_array\_field%'
         UNION ALL SELECT tgname FROM pg_trigger WHERE tgname LIKE '%\_sync\_%' AND NOT tgisinternal
         UNION ALL SELECT 'schema ' || nspname FROM pg_namespace WHERE nspname = 'p2n_sync'
         UNION ALL SELECT 'slot ' || slot_name FROM pg_replication_slots WHERE database = current_database()
         UNION ALL SELECT 'publication ' || pubname FROM pg_publication) l"
}
[ -z "$(leftovers)" ] || fail "set-up: objects before init: $(leftovers)"

# status and full-sync before init
"$bin" status >"$tmp/st.out" 2>"$tmp/st.err"
grep -q '^postgresConnected *yes' "$tmp/st.out" || { cat "$tmp/st.out"; fail "status: postgresConnected must be yes with PostgreSQL up"; }
grep -q '^initialized *no' "$tmp/st.out" || fail "status: initialized must be no"
grep -q 'not installed.*run pg2neo init' "$tmp/st.err" || { cat "$tmp/st.err"; fail "status does not say that the sync schema is missing"; }
"$bin" full-sync >"$tmp/fs.out" 2>&1 && fail "full-sync without init succeeded"
grep -q '^full sync:' "$tmp/fs.out" && { cat "$tmp/fs.out"; fail "full-sync without init printed a summary"; }
grep -q 'run pg2neo init' "$tmp/fs.out" || { cat "$tmp/fs.out"; fail "full-sync without init does not say what to do"; }

# a daemon where the sync schema is missing stops at once, saying why (it retried for ever)
timeout 20 "$bin" run --http off >"$tmp/run.log" 2>&1; rc=$?
[ $rc = 1 ] || { cat "$tmp/run.log"; fail "run without init: exit $rc, not 1"; }
grep -q 'the sync schema \\"public\\" is not installed in this database: run pg2neo init' "$tmp/run.log" \
  || { cat "$tmp/run.log"; fail "run without init does not say why it stops"; }

# init into a schema of its own, full sync, uninstall: nothing left
export P2N_SYNC_SCHEMA=p2n_sync
"$bin" init >"$tmp/init.out" 2>&1 || { cat "$tmp/init.out"; fail "init"; }
"$bin" full-sync >"$tmp/fs.out" 2>&1 || { cat "$tmp/fs.out"; fail "full-sync"; }
[ "$(sql "SELECT count(*) FROM p2n_sync.graph_sync_fullsync")" = 1 ] || fail "no full-sync checkpoint"
"$bin" uninstall --yes >"$tmp/un.out" 2>&1 || { cat "$tmp/un.out"; fail "uninstall"; }
[ -z "$(leftovers)" ] || fail "uninstall left: $(leftovers)"
# a schema that was there before init stays, with what the user keeps in it
sql "CREATE SCHEMA p2n_sync; CREATE TABLE p2n_sync.mine (x int)" >/dev/null
"$bin" init >/dev/null 2>&1 || fail "init (existing schema)"
"$bin" uninstall --yes >/dev/null 2>&1 || fail "uninstall (existing schema)"
[ "$(sql "SELECT count(*) FROM pg_tables WHERE schemaname = 'p2n_sync'")" = 1 ] || fail "uninstall touched a schema it did not create"
sql "DROP SCHEMA p2n_sync CASCADE" >/dev/null
unset P2N_SYNC_SCHEMA
# issue 15 item 2: the sync schema from the mapping (sync.schema), under P2N_SYNC_SCHEMA/--schema
printf 'sync:\n  schema: lc_from_mapping\nentities:\n  LC_Item:\n    table: items\n' > "$tmp/schema.yaml"
"$bin" init --config "$tmp/schema.yaml" >/dev/null 2>&1 || fail "init with sync.schema"
[ "$(sql "SELECT count(*) FROM pg_tables WHERE schemaname = 'lc_from_mapping' AND tablename = 'graph_sync_status'")" = 1 ] \
  || fail "init did not use the mapping's sync.schema"
"$bin" full-sync --config "$tmp/schema.yaml" >/dev/null 2>&1 || fail "full-sync with sync.schema"
"$bin" status --config "$tmp/schema.yaml" 2>/dev/null | grep '^initialized *yes' >/dev/null || fail "status with sync.schema"
"$bin" triggers list --config "$tmp/schema.yaml" >"$tmp/tl.out" 2>&1 || { cat "$tmp/tl.out"; fail "triggers list --config after init"; }
grep -q '^captured  *public.items  *LC_Item' "$tmp/tl.out" || { cat "$tmp/tl.out"; fail "triggers list --config does not list the mapping's table"; }
P2N_SYNC_SCHEMA=lc_env "$bin" init --config "$tmp/schema.yaml" >/dev/null 2>&1 || fail "init under P2N_SYNC_SCHEMA"
[ "$(sql "SELECT count(*) FROM pg_tables WHERE schemaname = 'lc_env' AND tablename = 'graph_sync_status'")" = 1 ] \
  || fail "P2N_SYNC_SCHEMA does not come before sync.schema"
"$bin" uninstall --schema lc_env --yes >/dev/null 2>&1 || fail "uninstall lc_env"
"$bin" uninstall --config "$tmp/schema.yaml" --yes >/dev/null 2>&1 || fail "uninstall --config (sync.schema)"
[ -z "$(leftovers)" ] || fail "uninstall left: $(leftovers)"
echo "ok: lifecycle"
