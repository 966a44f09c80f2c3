#!/usr/bin/env bash
# The civic change generator: a steady rate of mixed inserts, updates (array elements added and
# removed, foreign keys moved), soft deletes and deletes across the civic tables, run by pgbench.
#
#   examples/civic/changes.sh RATE DURATION_S [CLIENTS]
#
# RATE is transactions per second over all clients (pgbench -R), DURATION_S seconds (pgbench -T),
# CLIENTS concurrent connections (default 4). Each changes/<name>.sql is one pgbench script, picked
# with the weight written in its "-- weight: N" line. Connects with DATABASE_URL (turned into PG*
# variables, never put on a command line) or the PG* environment.
# Environment: CIVIC_SEED (pgbench --random-seed, default 42: each client's sequence of changes is
# then the same from run to run; their interleaving is not), CIVIC_SCHEMA (search_path, when the
# example was loaded with -v schema=...), PGBENCH (default /usr/lib/postgresql/15/bin/pgbench),
# CIVIC_LOG (file that receives pgbench's full output).
#
# Before the run it (re)creates the civic_gen helper functions (changes/setup.sql). Afterwards it
# prints pgbench's summary and the rows inserted, updated and deleted per table (from
# pg_stat_user_tables). Exit status: 0 when every transaction succeeded; 1 when a transaction
# failed or a client aborted (an SQL error), 2 for bad arguments.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

usage() { echo "usage: $0 RATE DURATION_S [CLIENTS]" >&2; exit 2; }
[ $# -ge 2 ] && [ $# -le 3 ] || usage
rate=$1 duration=$2 clients=${3:-4}
for v in "$rate" "$duration" "$clients"; do
  [[ $v =~ ^[0-9]+$ ]] && [ "$v" -gt 0 ] || { echo "changes: \"$v\" is not a positive integer" >&2; usage; }
done
seed=${CIVIC_SEED:-42}
pgbench=${PGBENCH:-/usr/lib/postgresql/15/bin/pgbench}
[ -x "$pgbench" ] || { echo "changes: pgbench not found at $pgbench (set PGBENCH)" >&2; exit 2; }

# shellcheck source=pgenv.sh
. "$here/pgenv.sh"
if [ -n "${CIVIC_SCHEMA:-}" ]; then
  [[ $CIVIC_SCHEMA =~ ^[a-z_][a-z0-9_]*$ ]] || { echo "changes: CIVIC_SCHEMA must be a plain lower-case identifier" >&2; exit 2; }
  export PGOPTIONS="${PGOPTIONS:-} -c search_path=$CIVIC_SCHEMA"
fi

psql -X -q -v ON_ERROR_STOP=1 -f "$here/changes/setup.sql" >/dev/null

scripts=()
for f in "$here"/changes/*.sql; do
  [ "$(basename "$f")" = setup.sql ] && continue
  w=$(sed -n 's/^-- weight: \([0-9][0-9]*\)$/\1/p' "$f")
  [ -n "$w" ] || { echo "changes: $f has no \"-- weight: N\" line" >&2; exit 2; }
  scripts+=(-f "$f@$w")
done

stats_sql="SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables
           WHERE relname IN ('users','sponsors','governors','sessions','sittings','bills','sitting_bills',
                             'arguments','claims','comments','votes','bookmarks')
             AND schemaname = coalesce(nullif('${CIVIC_SCHEMA:-}', ''), 'public')
           ORDER BY relname COLLATE \"C\""
before=$(psql -X -At -F ' ' -c "$stats_sql")

threads=$(nproc 2>/dev/null || echo 1)
[ "$threads" -le "$clients" ] || threads=$clients
log=${CIVIC_LOG:-$(mktemp)}
rc=0
"$pgbench" -n -R "$rate" -T "$duration" -c "$clients" -j "$threads" --random-seed="$seed" \
  --max-tries=10 --failures-detailed "${scripts[@]}" >"$log" 2>&1 || rc=$?

# The summary: pgbench's totals (not its per-script blocks), then what changed per table.
sed -n '/^transaction type/,/^SQL script 1/p' "$log" | grep -v '^SQL script 1' || true
grep -E '^(pgbench: error|.*aborted|.*ERROR)' "$log" | head -20 || true
sleep 0.6   # backends flush their statistics when they exit
after=$(psql -X -At -F ' ' -c "SELECT pg_stat_clear_snapshot()" -c "$stats_sql")
echo "rows changed per table (inserted updated deleted):"
LC_ALL=C join <(echo "$before") <(echo "$after") |
  awk '{ printf "  %-14s %8d %8d %8d\n", $1, $5 - $2, $6 - $3, $7 - $4; i += $5 - $2; u += $6 - $3; d += $7 - $4 }
       END { printf "  %-14s %8d %8d %8d\n", "total", i, u, d }'

failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$log")
if [ "$rc" -ne 0 ] || [ "${failed:-x}" != 0 ] || grep -q 'aborted' "$log"; then
  echo "changes: pgbench reported errors (exit status $rc, failed transactions ${failed:-unknown}); full output in $log" >&2
  exit 1
fi
[ -n "${CIVIC_LOG:-}" ] || rm -f "$log"
