#!/usr/bin/env bash
# A short fault-injection soak in `make test`: scripts/soak with 50 s of civic change load at
# 100 transactions/s on its own private PostgreSQL + Neo4j (never the shared servers), three
# daemons, and one of each fault (kill -9 of a daemon, Neo4j restart, poison row, PostgreSQL
# restart, Neo4j SIGSTOP/SIGCONT stall). Passes when the soak passes and its JSON summary says:
# every fault kind injected and survived, no daemon exited by itself, the queue drained, the only
# failed entity is the poison row, verify found 0 mismatches, no duplicates, changes were made and
# synced. P2N_BIN picks the binary (default: the build under test, else the debug build).
# The full-size run is `make soak MINUTES=10` (docs/soak.md).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
bin=${P2N_BIN:-${P2N_BUILD:-$top/build/debug}/pg2neo}
[ -x "$bin" ] || { echo "FAIL: $bin is not built" >&2; exit 1; }
command -v python3 >/dev/null || { echo "FAIL: python3 is missing (scripts/setup installs it)" >&2; exit 1; }
work=$(mktemp -d /tmp/p2n-soak-test-XXXXXX)
trap 'rm -rf "$work"' EXIT
out=$work/summary.json

rc=0
P2N_BIN=$bin P2N_SOAK_SECONDS=${P2N_SOAK_TEST_SECONDS:-50} P2N_SOAK_RATE=${P2N_SOAK_TEST_RATE:-100} \
  P2N_SOAK_DRAIN_S=180 P2N_SOAK_OUT=$out scripts/soak >"$work/soak.out" 2>&1 || rc=$?
cat "$work/soak.out" >&2
[ "$rc" = 0 ] || { echo "FAIL: scripts/soak exited $rc" >&2; exit 1; }
[ -s "$out" ] || { echo "FAIL: no JSON summary" >&2; exit 1; }

python3 - "$out" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
bad = []
def need(cond, what):
    if not cond:
        bad.append(what)
need(s["ok"] is True and s["problems"] == [], "the summary is not ok: %s" % s["problems"])
kinds = {f["fault"] for f in s["faults"] if f["injected"] and f["survived"]}
need(kinds == {"kill9", "neo4j_restart", "pg_restart", "neo4j_stall", "poison"}, "faults survived: %s" % sorted(kinds))
need(s["faults_injected"] == len(s["faults"]) == s["faults_survived"] >= 5, "faults: %d injected, %d survived of %d"
     % (s["faults_injected"], s["faults_survived"], len(s["faults"])))
need(s["unexpected_daemon_exits"] == [], "daemons exited: %s" % s["unexpected_daemon_exits"])
need(s["failed_entities"] == ["SoakPoison 2"], "failed entities: %s" % s["failed_entities"])
need(s["verify"]["mismatches"] == 0 and s["verify"]["poison_excluded"], "verify: %s" % s["verify"])
need(s["duplicates"] == {"nodes": 0, "relationships": 0}, "duplicates: %s" % s["duplicates"])
need(s["sync"]["drained"], "not drained")
need(s["sync"]["failures_permanent"] == 1, "permanent failures: %d" % s["sync"]["failures_permanent"])
need(s["load"]["transactions_committed"] > 1000, "too few changes made: %d" % s["load"]["transactions_committed"])
need(s["sync"]["entities_synced"] > 1000, "too few entities synced: %d" % s["sync"]["entities_synced"])
need(s["sync"]["workers"] >= 2, "only %d workers ran batches" % s["sync"]["workers"])
need(all(x["exit"] == 0 and x["ms"] < 3000 for x in s["sigterm"]) and len(s["sigterm"]) == 3, "SIGTERM: %s" % s["sigterm"])
# the faults really interrupted something: the daemons logged warnings and retryable failures
need(s["sync"]["failures_retryable"] > 0, "no retryable failure recorded although Neo4j and PostgreSQL restarted")
need(sum(m["count"] for m in s["daemon_log_warnings"]) > 0, "no warning in the daemons' logs")
if bad:
    print("FAIL: " + "; ".join(bad), file=sys.stderr)
    sys.exit(1)
print("test_soak_short: ok (%d transactions, %d entities synced, %d faults survived, 0 mismatches)"
      % (s["load"]["transactions_committed"], s["sync"]["entities_synced"], s["faults_survived"]), file=sys.stderr)
PY
