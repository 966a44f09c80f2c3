#!/usr/bin/env bash
# scripts/services on private ports: up twice is harmless, env prints the four variables, a port
# taken by another program gives a clear error, and down leaves no process of ours behind.
set -euo pipefail
top=${P2N_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
svc=$top/scripts/services
run=$(mktemp -d /tmp/p2n-svc-XXXXXX)
pg_port=$("$top/scripts/free-port") bolt_port=$("$top/scripts/free-port")
export P2N_RUN=$run P2N_PG_PORT=$pg_port P2N_BOLT_PORT=$bolt_port
blocker=""
cleanup() {
  [ -n "$blocker" ] && kill "$blocker" 2>/dev/null || true
  "$svc" down >/dev/null 2>&1 || true
  rm -rf "$run"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

out=$("$svc" up)
for v in DATABASE_URL NEO4J_URI NEO4J_USER NEO4J_PASSWORD; do
  grep -q "^export $v=" <<<"$out" || fail "up did not print $v"
done
eval "$out"
[ "$NEO4J_URI" = "bolt://127.0.0.1:$bolt_port" ] || fail "unexpected NEO4J_URI $NEO4J_URI"
psql "$DATABASE_URL" -qtAc 'SELECT 1' | grep -qx 1 || fail "PostgreSQL does not answer on DATABASE_URL"
ver=$("$svc" handshake $bolt_port)
[[ "$ver" =~ ^(5\.[0-9]|4\.4)$ ]] || fail "Bolt handshake gave \"$ver\""
neo_pid=$("$svc" pid neo4j); pg_pid=$("$svc" pid pg)

# up again: harmless, same processes
out2=$("$svc" up)
[ "$out" = "$out2" ] || fail "second up printed different env"
[ "$("$svc" pid neo4j)" = "$neo_pid" ] || fail "second up restarted Neo4j"
[ "$("$svc" pid pg)" = "$pg_pid" ] || fail "second up restarted PostgreSQL"
[ "$("$svc" env)" = "$out" ] || fail "env differs from up's output"

# the password never reaches a command line
! ps -eo args | grep -F -- "$NEO4J_PASSWORD" | grep -v grep >/dev/null || fail "Neo4j password visible in ps"

# down: nothing of ours left
"$svc" down 2>/dev/null
! kill -0 "$neo_pid" 2>/dev/null || fail "Neo4j (pid $neo_pid) still running after down"
! kill -0 "$pg_pid" 2>/dev/null || fail "PostgreSQL (pid $pg_pid) still running after down"
! pgrep -f "Neo4jServer $bolt_port" >/dev/null || fail "a Neo4jServer for port $bolt_port is still running"
# (the output first: grep -q would close the pipe early, and pipefail would fail on the SIGPIPE)
st=$("$svc" status)
grep -q 'postgresql: stopped' <<<"$st" || fail "status does not say stopped: $st"

# a port held by someone else: clear error, and the blocker is left alone
python3 -c 'import socket,sys,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1",int(sys.argv[1]))); s.listen(); time.sleep(120)' "$bolt_port" &
blocker=$!
for _ in $(seq 1 50); do (exec 3<>/dev/tcp/127.0.0.1/$bolt_port) 2>/dev/null && break; sleep 0.1; done
if err=$("$svc" up 2>&1); then fail "up succeeded although port $bolt_port was taken"; fi
grep -q "port $bolt_port is already taken" <<<"$err" || fail "unclear error for a taken port: $err"
kill -0 "$blocker" || fail "services killed the program holding the port"
echo "1 passed, 0 failed"
