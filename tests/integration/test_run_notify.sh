#!/usr/bin/env bash
# pg2neo run under a systemd-like supervisor: READY=1 once it runs, WATCHDOG=1 from the daemon
# loop while it runs, STOPPING=1 and exit 0 on SIGTERM. The notify socket is a datagram socket
# this test binds (as systemd does for Type=notify).
set -uo pipefail
src=${P2N_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${P2N_BUILD:-$src/build/debug}/pg2neo
fail() { echo "FAIL: $*"; exit 1; }
: "${DATABASE_URL:?the services are not up (DATABASE_URL unset)}"
admin=$DATABASE_URL
db=notify_test
work=$(mktemp -d /tmp/p2n-notify-XXXXXX)
pid=""; rpid=""
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
  [ -n "$rpid" ] && kill "$rpid" 2>/dev/null
  psql "$admin" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
psql "$admin" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1 || fail "create database"
export DATABASE_URL=${admin%/*}/$db
psql "$DATABASE_URL" -qc "CREATE TABLE nt_items (id bigint PRIMARY KEY, name text)" || fail "schema"
cat > "$work/map.yaml" <<'YAML'
entities:
  NtItem:
    table: nt_items
YAML
"$bin" init --config "$work/map.yaml" >/dev/null 2>&1 || fail "init"

# the supervisor's end: record every datagram, one per line
python3 - "$work/notify.sock" "$work/got" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        msg = s.recv(4096).decode()
        out.write(msg.replace("\n", " ") + "\n")
PY
rpid=$!
for _ in $(seq 1 50); do [ -S "$work/notify.sock" ] && break; sleep 0.1; done

NOTIFY_SOCKET=$work/notify.sock WATCHDOG_USEC=2000000 "$bin" run --config "$work/map.yaml" --http off \
  > "$work/run.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do grep -q 'READY=1' "$work/got" 2>/dev/null && break; sleep 0.1; done
grep -q 'READY=1' "$work/got" || fail "no READY=1 (log: $(tail -5 "$work/run.log"))"
sleep 2.5
n=$(grep -c 'WATCHDOG=1' "$work/got")
[ "$n" -ge 2 ] || fail "expected watchdog pings from the loop, got $n"
kill -TERM "$pid"
wait "$pid"; rc=$?; pid=""
[ $rc = 0 ] || fail "run exited $rc on SIGTERM"
grep -q 'STOPPING=1' "$work/got" || fail "no STOPPING=1"
echo "notify: $(sort "$work/got" | uniq -c | tr -s ' ' | tr '\n' ';')"
echo "1 passed, 0 failed"
