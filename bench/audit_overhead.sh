#!/usr/bin/env bash
# What the audit trail costs (docs/operator-guide.md "Audit trail"), side by side in one run:
#  1. the mark-synced statement (pgq_mark_synced's SQL, taken from src/pg/queue.c) marking N
#     entities synced, audit on (audit_retention_days 30) vs off (0), alternated, R rounds;
#  2. end to end: one `pg2neo sync --once --limit N` batch of N updated rows, on vs off.
# Medians and ratios printed. Uses the shared services (scripts/services env), own databases.
#   N=1000 R=20 bench/audit_overhead.sh
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
N=${N:-1000}; R=${R:-15}
bin=${BIN:-$src/build/release/pg2neo}; [ -x "$bin" ] || bin=$src/build/debug/pg2neo
work=$(mktemp -d /tmp/p2n-auditbench-XXXXXX); trap 'rm -rf "$work"' EXIT
eval "$("$src/scripts/services" env)"
python3 - "$src/src/pg/queue.c" > "$work/mark.sql" <<'PY'
import re, sys
src = open(sys.argv[1]).read()
m = src[src.index('int pgq_mark_synced'):]
m = m[m.index('rc = q(conn, schema,'):m.index('4, p, &r, "could not mark')]
print(''.join(re.findall(r'"((?:[^"\\]|\\.)*)"', m)).replace('@SCHEMA@', 'public'))
PY
admin=$DATABASE_URL; db=b_bench_audit
psql "$admin" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1
export DATABASE_URL=${admin%/*}/$db
"$bin" init >/dev/null
mark=$(cat "$work/mark.sql")
psql "$DATABASE_URL" -q -c "INSERT INTO graph_sync_status (entity_type, entity_id, version, sync_status, claimed_by)
  SELECT 'T', g::text, 1, 'in_progress', 'w' FROM generate_series(1, 100000) g"
psql "$DATABASE_URL" -q -c "VACUUM ANALYZE graph_sync_status"
{
echo "\\set QUIET on"
echo "PREPARE mark(text[], text[], bigint[], text) AS $mark;"
echo "\\timing on"
for r in $(seq 1 $R); do
  for mode in 30 0; do
    lo=$(( (RANDOM % 99) * 1000 + 1 )); hi=$((lo + N - 1))
    echo "\\timing off"
    echo "UPDATE graph_sync_state SET audit_retention_days = $mode;"
    echo "UPDATE graph_sync_status SET sync_status = 'in_progress', claimed_by = 'w' WHERE entity_id::int BETWEEN $lo AND $hi;"
    echo "\\echo mode=$mode"
    echo "\\timing on"
    ids="{$(seq -s, $lo $hi)}"
    echo "EXECUTE mark(array_fill('T'::text, ARRAY[$N]), '$ids'::text[], array_fill(1::bigint, ARRAY[$N]), 'w');"
  done
done
} | psql "$DATABASE_URL" -X 2>&1 | awk '/^mode=/{m=$1; next} /^Time:/{sub("mode=","",m); print m, $2}' > "$work/times.txt"
python3 - "$work/times.txt" <<'PY'
import statistics, sys
t={'30':[], '0':[]}
for line in open(sys.argv[1]):
    m,v=line.split(); t[m].append(float(v))
on, off = statistics.median(t['30']), statistics.median(t['0'])
print(f"mark-synced statement, {len(t['30'])} rounds each: audit on median {on:.1f} ms, off {off:.1f} ms, on/off {on/off:.2f}x")
PY
psql "$admin" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1

# 2. end to end
db=b_bench_e2e   # admin: the URL of part 1
psql "$admin" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1
export DATABASE_URL=${admin%/*}/$db
sql() { psql "$DATABASE_URL" -qAtc "$1"; }
sql "CREATE TABLE bae_items (id int PRIMARY KEY, name text, n int)"
map=$work/bae.yaml
printf 'entities:\n  BaeItem:\n    table: bae_items\n' > $map
$bin cypher "MATCH (n:BaeItem) DETACH DELETE n" >/dev/null
$bin init --config $map >/dev/null
sql "INSERT INTO bae_items SELECT g, 'item ' || g, 0 FROM generate_series(1, 20000) g"
while [ "$($bin sync --once --config $map --limit 5000 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["totalEntities"])')" != 0 ]; do :; done
: > "$work/e2e.txt"
for r in $(seq 1 $R); do
  for mode in 30 0; do
    lo=$(( (RANDOM % 19) * 1000 + 1 )); hi=$((lo + N - 1))
    sql "UPDATE graph_sync_state SET audit_retention_days = $mode"
    sql "UPDATE bae_items SET n = n + 1 WHERE id BETWEEN $lo AND $hi"
    d=$($bin sync --once --config $map --limit $N --json | python3 -c 'import json,sys; j=json.load(sys.stdin); assert j["syncedCount"] == '$N', j; print(j["duration"])')
    echo "$mode $d" >> "$work/e2e.txt"
  done
done
N=$N python3 - "$work/e2e.txt" <<'PY'
import os, statistics, sys
N = os.environ['N']
t={'30':[], '0':[]}
for line in open(sys.argv[1]):
    m,v=line.split(); t[m].append(float(v))
on, off = statistics.median(t['30']), statistics.median(t['0'])
print(f"sync --once batches of {N} rows, {len(t['30'])} rounds each: audit on median {on:.0f} ms, off {off:.0f} ms, on/off {on/off:.2f}x")
PY
$bin cypher "MATCH (n:BaeItem) DETACH DELETE n" >/dev/null
psql "$admin" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1
