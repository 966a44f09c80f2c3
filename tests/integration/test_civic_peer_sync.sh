#!/usr/bin/env bash
# The benchmark's Python peer (bench/peer/python_sync.py) must sync the civic example correctly,
# or comparing pg2neo's throughput with it means nothing: runs bench/peer/check_python_sync.sh
# (PostgreSQL and Neo4j compared after a full load, after mixed changes and after a TRUNCATE).
# The peer lives in .run/venv (scripts/setup --with-bench): without it the test is skipped (77).
# With it, it fails when a server is unreachable.
src=${P2N_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
if ! "$src/.run/venv/bin/python" -c 'import neo4j, psycopg' 2>/dev/null; then
  echo "skipped: .run/venv lacks neo4j/psycopg (scripts/setup --with-bench)"
  exit 77
fi
exec bash "$src/bench/peer/check_python_sync.sh"
