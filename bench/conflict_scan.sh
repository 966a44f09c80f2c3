#!/usr/bin/env bash
# What the daemon's conflict scan costs (docs/operator-guide.md "Conflicts: review and
# acknowledge"): `pg2neo conflicts --scan` of a 100k-row type (sample 100 and 1000; the whole
# command, connections included), and the time a daemon takes to drain U updates with the scan
# off vs every 100 ms (a worst case), alternated R times. Shared services, own database and label.
#   U=5000 R=2 bench/conflict_scan.sh
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
U=${U:-5000}; R=${R:-2}
bin=${BIN:-$src/build/release/pg2neo}; [ -x "$bin" ] || bin=$src/build/debug/pg2neo
work=$(mktemp -d /tmp/p2n-scanbench-XXXXXX); trap 'rm -rf "$work"' EXIT
eval "$("$src/scripts/services" env)"
admin=$DATABASE_URL; db=b_bench_scan
psql "$admin" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1
export DATABASE_URL=${admin%/*}/$db
sql() { psql "$DATABASE_URL" -qAtc "$1"; }
sql "CREATE TABLE bsc_items (id int PRIMARY KEY, name text, n int)"
for iv in 0 100; do printf 'sync:\n  conflictScanIntervalMs: %s\n  batchSizeLimit: 1000\nentities:\n  BscItem:\n    table: bsc_items\n' $iv > $work/bsc$iv.yaml; done
M="--config $work/bsc0.yaml"
$bin cypher "MATCH (n:BscItem) DETACH DELETE n" >/dev/null
$bin init $M >/dev/null
sql "INSERT INTO bsc_items SELECT g, 'item ' || g, 0 FROM generate_series(1, 100000) g"
sql "TRUNCATE graph_sync_log"
$bin full-sync $M --json >/dev/null
sql "ANALYZE bsc_items"
for s in 100 1000; do
  for k in 1 2 3; do
    t0=$(date +%s%N); $bin conflicts $M --scan --sample $s --json >/dev/null; t1=$(date +%s%N)
    echo "scan sample=$s: $(( (t1 - t0) / 1000000 )) ms (whole command, incl. connecting)"
  done
done
for r in $(seq 1 $R); do
  for iv in 0 100; do
    $bin run --config $work/bsc$iv.yaml --http off 2>/dev/null &
    d=$!
    sleep 1
    lo=$(( (RANDOM % 90) * 1000 + 1 ))
    t0=$(date +%s%N)
    sql "UPDATE bsc_items SET n = n + 1 WHERE id BETWEEN $lo AND $((lo + U - 1))"
    while [ "$(sql "SELECT count(*) FROM graph_sync_log") $(sql "SELECT count(*) FROM graph_sync_status WHERE sync_status <> 'synced'")" != "0 0" ]; do sleep 0.05; done
    t1=$(date +%s%N)
    kill $d; wait $d || true
    echo "drain of $U updates, scan interval ${iv} ms: $(( (t1 - t0) / 1000000 )) ms"
  done
done
$bin cypher "MATCH (n:BscItem) DETACH DELETE n" >/dev/null
psql "$admin" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1
