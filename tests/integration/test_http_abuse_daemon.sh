#!/usr/bin/env bash
# The HTTP server of a running `pg2neo run` under abuse WHILE the daemon syncs a steady change
# load (an SQL loop inserting and updating rows): malformed requests, oversized headers and URLs,
# slow clients (slowloris: requests never finished; slow readers: answers never read) and a wrk
# burst, all at once. Then: the daemon is the same process,
# every malformed request got a 4xx (or a closed connection), never a 5xx; the slow clients were
# dropped; the wrk requests were all 200; /healthz answered within 2 s throughout; the daemon
# kept syncing during the abuse; the queue drains afterwards and the graph holds every row; the
# commit-to-graph latency stays under 5 s at the 95th percentile. The daemon logs JSON at debug
# level (libmicrohttpd's own messages included): every line must parse.
# Prints the figures: req/s under abuse, sync rate before vs during, latency percentiles.
# Uses the shared servers (its own database abuse_test and the label AbItem).
# P2N_BUILD picks the build directory (default build/debug); P2N_ABUSE_SECONDS the abuse length;
# without wrk (or with P2N_ABUSE_NO_WRK=1) the burst comes from Python threads.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
bin=${P2N_BUILD:-$top/build/debug}/pg2neo
secs=${P2N_ABUSE_SECONDS:-8}
: "${DATABASE_URL:?the services are not up (DATABASE_URL unset)}"
work=$(mktemp -d /tmp/p2n-abuse-XXXXXX)
t0=$(date +%s)
note() { echo "test_http_abuse_daemon: [$(( $(date +%s) - t0 ))s] $*" >&2; }
fail() {
  echo "FAIL: $*" >&2
  [ -f "$work/daemon.log" ] && { echo "--- daemon log (tail)" >&2; tail -15 "$work/daemon.log" >&2; }
  exit 1
}
admin=$DATABASE_URL
db=abuse_test
export DATABASE_URL=${admin%/*}/$db
dpid= loadpid=
cleanup() {
  set +e
  [ -n "$loadpid" ] && kill "$loadpid" 2>/dev/null
  [ -n "$dpid" ] && kill -9 "$dpid" 2>/dev/null
  wait 2>/dev/null
  "$bin" cypher "MATCH (n:AbItem) DETACH DELETE n" >/dev/null 2>&1
  psql "$admin" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
psql "$admin" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null || fail "create database"
"$bin" cypher "MATCH (n:AbItem) DETACH DELETE n" >/dev/null || fail "Neo4j is not reachable"
q() { psql "$DATABASE_URL" -qtAX -v ON_ERROR_STOP=1 -c "$1"; }
q "CREATE TABLE ab_items (id int PRIMARY KEY, name text, n int NOT NULL DEFAULT 0)" >/dev/null
cat > "$work/mapping.yaml" <<'YAML'
entities:
  AbItem:
    table: ab_items
    labels: [AbItem]
sync:
  batchSizeLimit: 200
  syncIntervalMs: 1000
YAML
"$bin" init --config "$work/mapping.yaml" >/dev/null || fail "init"

free_port() { "$top/scripts/free-port"; }
port=$(free_port)
base=http://127.0.0.1:$port
"$bin" --log-format json --log-level debug run --config "$work/mapping.yaml" --http "127.0.0.1:$port" \
  >"$work/daemon.log" 2>&1 & dpid=$!
for _ in $(seq 100); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/readyz")" = 200 ] && break
  kill -0 "$dpid" 2>/dev/null || fail "the daemon exited"
  sleep 0.2
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "$base/readyz")" = 200 ] || fail "the daemon is not ready"
note "daemon pid $dpid serving $base"

# the change load: 10 new rows and 10 updates every ~50 ms until stopped
( i=0
  while :; do
    psql "$DATABASE_URL" -qX -c "INSERT INTO ab_items (id, name) SELECT g, 'item ' || g FROM generate_series($((i * 10 + 1)), $((i * 10 + 10))) g;
      UPDATE ab_items SET n = n + 1 WHERE id IN (SELECT (random() * $((i * 10 + 9)))::int + 1 FROM generate_series(1, 10))" >/dev/null || exit 1
    i=$((i + 1))
    sleep 0.05
  done ) & loadpid=$!

synced() { curl -s "$base/metrics" | awk '/^pg2neo_synced_total\{entity_type="AbItem"\}/ {print $2}'; }
# counts of the latency histogram for AbItem, "le count" per line
lat_buckets() { curl -s "$base/metrics" | sed -nE 's/^pg2neo_sync_latency_seconds_bucket\{entity_type="AbItem",le="([^"]+)"\} ([0-9]+)$/\1 \2/p'; }
changes() { q "SELECT coalesce(sum(n), 0) + count(*) FROM ab_items"; } # row versions written so far

sleep 2
sb0=$(synced); cb0=$(changes); tb0=$(date +%s%N); lat_buckets > "$work/lat0"
sleep 6
sb1=$(synced); cb1=$(changes); tb1=$(date +%s%N); lat_buckets > "$work/lat1"
note "before the abuse: synced ${sb0:-?} -> ${sb1:-?}"
[ -n "$sb1" ] && [ "$sb1" -gt "${sb0:-0}" ] || fail "the daemon does not sync the load"

# ---- the abuse, all at once ----
cat > "$work/malformed.py" <<'PY'
# Sends each malformed request on its own connection; prints one line per request:
# name, status (or "closed"), seconds. Exit 1 on any 5xx/2xx answer or a hang.
import socket, sys, time
host, port, secs = "127.0.0.1", int(sys.argv[1]), float(sys.argv[2])
H = b"Host: x\r\n"
cases = [
    ("garbage", b"GARBAGE\r\n\r\n"),
    ("no path", b"GET\r\n\r\n"),
    ("bad version", b"GET / HTTP/9.9\r\n\r\n"),
    ("http/1.1 without host", b"GET /metrics HTTP/1.1\r\n\r\n"),
    ("binary", bytes(range(256)) * 4 + b"\r\n\r\n"),
    ("nul in path", b"GET /%00 HTTP/1.1\r\n" + H + b"\r\n"),
    ("traversal", b"GET /../../etc/passwd HTTP/1.1\r\n" + H + b"\r\n"),
    ("post with body", b"POST /api/sync/status HTTP/1.1\r\n" + H + b"Content-Length: 5\r\n\r\nhello"),
    ("negative length", b"GET / HTTP/1.1\r\n" + H + b"Content-Length: -1\r\n\r\n"),
    ("bad chunk", b"POST /metrics HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n"),
    ("smuggling", b"POST /metrics HTTP/1.1\r\n" + H + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("header without colon", b"GET / HTTP/1.1\r\n" + H + b"Bad Header\r\n\r\n"),
    ("space before colon", b"GET / HTTP/1.1\r\n" + H + b"X-A : b\r\n\r\n"),
    ("bare lf", b"GET / HTTP/1.1\n" + H.replace(b"\r", b"") + b"X: y\r\n\n"),
    ("64 KB header", b"GET /metrics HTTP/1.1\r\n" + H + b"X-Big: " + b"a" * 65536 + b"\r\n\r\n"),
    ("64 KB url", b"GET /" + b"a" * 65536 + b" HTTP/1.1\r\n" + H + b"\r\n"),
    ("4000 headers", b"GET /metrics HTTP/1.1\r\n" + H + b"".join(b"X-%d: v\r\n" % i for i in range(4000)) + b"\r\n"),
    ("bad token", b"GET /api/sync/status HTTP/1.1\r\n" + H + b"Authorization: Bearer \x01\x02\r\n\r\n"),
    ("unknown method", b"BREW /metrics HTTP/1.1\r\n" + H + b"\r\n"),
    ("absolute uri elsewhere", b"GET http://evil.example/metrics HTTP/1.1\r\n" + H + b"\r\n"),
]
# Served on purpose: an absolute URI (its path is ours), an Authorization header when no token is
# set (ignored). Tolerated by libmicrohttpd 0.9.75 even in strict mode, harmless here (no proxy in
# front to read them differently): bare LF line ends, a space before a header's colon.
ok_2xx = {"absolute uri elsewhere", "bad token", "bare lf", "space before colon"}
ok_5xx = {"bad version": "505"}  # HTTP Version Not Supported is the right answer
bad, n, seen = 0, 0, {}
end = time.time() + secs
while time.time() < end:
    for name, req in cases:
        t = time.time()
        s = socket.create_connection((host, port), timeout=8)
        status = "closed"
        try:
            s.sendall(req)
            s.shutdown(socket.SHUT_WR)
            data = b""
            while b"\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            if data.startswith(b"HTTP/1."):
                status = data.split(b" ")[1].decode()
        except socket.timeout:
            status = "hang"
        except OSError:  # reset, broken pipe, not connected: the server closed first
            status = "closed"
        finally:
            s.close()
        took = time.time() - t
        n += 1
        if status == "hang" or took > 6 or (status != "closed" and status[0] == "5" and ok_5xx.get(name) != status) or \
           (status != "closed" and status[0] == "2" and name not in ok_2xx):
            bad += 1
            print("BAD %s: %s in %.2f s" % (name, status, took))
        seen.setdefault(name, set()).add(status)
for name, _ in cases:
    print("%-24s %s" % (name, ",".join(sorted(seen.get(name, [])))))
print("malformed requests=%d bad=%d" % (n, bad))
sys.exit(1 if bad else 0)
PY
cat > "$work/slowloris.py" <<'PY'
# Opens N connections that send a request one header byte every 0.5 s and never finish it;
# reports how many the server closed and after how long.
import socket, sys, time
port, n, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
socks, closed_at = [], {}
t0 = time.time()
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    s.sendall(b"GET /api/sync/status HTTP/1.1\r\nHost: x\r\n")
    s.setblocking(False)
    socks.append(s)
while time.time() - t0 < secs and len(closed_at) < n:
    for i, s in enumerate(socks):
        if i in closed_at:
            continue
        try:
            if s.recv(4096) == b"":
                closed_at[i] = time.time() - t0
                continue
        except BlockingIOError:
            pass
        except OSError:
            closed_at[i] = time.time() - t0
            continue
        try:
            s.send(b"X")
        except OSError:
            closed_at[i] = time.time() - t0
    time.sleep(0.5)
print("slowloris opened=%d closed_by_server=%d last_closed_s=%.1f" % (n, len(closed_at), max(closed_at.values() or [0])))
PY
cat > "$work/slowread.py" <<'PY'
# Slow readers: N connections with a tiny receive buffer pipeline 50 requests for /metrics each
# and never read an answer; held open for the given seconds, then closed.
import socket, sys, time
port, n, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
socks = []
for i in range(n):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    s.connect(("127.0.0.1", port))
    s.setblocking(False)
    try:
        s.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 50)
    except OSError:
        pass
    socks.append(s)
time.sleep(secs)
for s in socks:
    s.close()
print("slow readers=%d (50 pipelined /metrics each, never read, held %.0f s)" % (n, secs))
PY
cat > "$work/count.lua" <<'EOF'
local non200 = 0
response = function(status, headers, body) if status ~= 200 then non200 = non200 + 1 end end
done = function(summary, latency, requests)
  io.write(string.format("requests=%d errors=%d non200=%d rps=%.0f p99_ms=%.2f\n", summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, summary.requests / (summary.duration / 1e6), latency:percentile(99) / 1000))
end
EOF
# the burst: wrk when installed (scripts/setup --with-bench), else the same from Python threads
cat > "$work/burst.py" <<'PY'
# burst.py URL SECONDS CONNECTIONS: keep-alive GETs from one thread per connection; prints the
# same summary line as count.lua
import http.client, sys, threading, time, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1]); secs = float(sys.argv[2]); nconn = int(sys.argv[3])
lock = threading.Lock(); tot = {"requests": 0, "errors": 0, "non200": 0}; lat = []
def worker():
    end = time.time() + secs
    c = None
    while time.time() < end:
        try:
            if c is None:
                c = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
            t = time.time()
            c.request("GET", u.path)
            r = c.getresponse(); r.read()
            with lock:
                tot["requests"] += 1; lat.append(time.time() - t)
                tot["non200"] += r.status != 200
        except Exception:
            with lock:
                tot["errors"] += 1
            c = None
ts = [threading.Thread(target=worker) for _ in range(nconn)]
t0 = time.time()
for t in ts: t.start()
for t in ts: t.join()
lat.sort()
print("requests=%d errors=%d non200=%d rps=%.0f p99_ms=%.2f" % (tot["requests"], tot["errors"], tot["non200"],
      tot["requests"] / (time.time() - t0), 1000 * lat[int(len(lat) * 0.99)] if lat else 0))
PY
burst() { # URL SECONDS OUT
  if [ -z "${P2N_ABUSE_NO_WRK:-}" ] && command -v wrk >/dev/null; then
    wrk -t2 -c32 -d"${2}s" --timeout 5s -s "$work/count.lua" "$1" > "$3" 2>&1
  else
    python3 "$work/burst.py" "$1" "$2" 16 > "$3" 2>&1
  fi
}
tool=$([ -z "${P2N_ABUSE_NO_WRK:-}" ] && command -v wrk >/dev/null && echo "wrk -c32" || echo "a Python burst (16 connections; no wrk)")
note "abuse for $secs s: malformed requests, 16 slowloris clients, 8 slow readers, $tool on /metrics and /api/sync/status"
sa0=$(synced); ca0=$(changes); ta0=$(date +%s%N); lat_buckets > "$work/lat2"
python3 "$work/slowloris.py" "$port" 16 $((secs + 4)) > "$work/slowloris.out" 2>&1 & slow=$!
python3 "$work/slowread.py" "$port" 8 "$secs" > "$work/slowread.out" 2>&1 & slowr=$!
python3 "$work/malformed.py" "$port" "$secs" > "$work/malformed.out" 2>&1 & mal=$!
burst "$base/metrics" "$secs" "$work/wrk.metrics" & w1=$!
# /healthz and the dashboard, probed once a second from outside the burst
maxprobe=0; probes=0; badprobe=0
for _ in $(seq "$secs"); do
  for p in /healthz /api/sync/status /; do
    out=$(curl -s -o /dev/null -m 5 -w '%{http_code} %{time_total}' "$base$p") || true
    probes=$((probes + 1))
    [ "${out%% *}" = 200 ] || { badprobe=$((badprobe + 1)); echo "probe $p: $out" >&2; }
    maxprobe=$(python3 -c "print(max($maxprobe, ${out##* }))")
  done
  sleep 1
done
wait $w1 || true
burst "$base/api/sync/status" 3 "$work/wrk.status" || true
mal_rc=0; wait $mal || mal_rc=$?
wait $slow || true
wait $slowr || true
sa1=$(synced); ca1=$(changes); ta1=$(date +%s%N); lat_buckets > "$work/lat3"
note "abuse over"

kill "$loadpid"; wait "$loadpid" 2>/dev/null || true; loadpid=
# the same process, alive (not a zombie), still answering
state=$(awk '/^State:/ {print $2}' "/proc/$dpid/status" 2>/dev/null || echo gone)
[ "$state" != gone ] && [ "$state" != Z ] || fail "the daemon died under the abuse"
[ "$(curl -s -m 5 "$base/healthz")" = ok ] || fail "/healthz is not ok after the abuse"

# drained, and the graph holds every row
for _ in $(seq 60); do
  left=$(q "SELECT count(*) FROM graph_sync_status WHERE sync_status IN ('pending','deleted','in_progress')")
  [ "$left" = 0 ] && break
  sleep 1
done
[ "$left" = 0 ] || fail "$left entities still waiting 60 s after the abuse"
rows=$(q "SELECT count(*) FROM ab_items")
nodes=$("$bin" cypher "MATCH (n:AbItem) RETURN count(n) AS x" | sed -E 's/[^0-9]//g')
[ "$rows" = "$nodes" ] || fail "$rows rows but $nodes AbItem nodes"
failed=$(q "SELECT count(*) FROM graph_sync_status WHERE sync_status = 'failed'")
[ "$failed" = 0 ] || fail "$failed entities failed"
note "drained: $rows rows, $nodes nodes, 0 failed"

# ---- verdicts and figures ----
cat "$work/malformed.out" | sed 's/^/  /' >&2
[ "$mal_rc" = 0 ] || fail "a malformed request got a 2xx/5xx or hung"
# the server answers as soon as it sees too much, then closes: the client, still sending, may see
# the reset before the answer
grep -Eq '^64 KB header +431(,closed)?$' "$work/malformed.out" || fail "64 KB header: $(grep '64 KB header' "$work/malformed.out")"
grep -Eq '^4000 headers +431(,closed)?$' "$work/malformed.out" || fail "4000 headers: $(grep '4000 headers' "$work/malformed.out")"
grep -Eq '^64 KB url +414(,closed)?$' "$work/malformed.out" || fail "64 KB url: $(grep '64 KB url' "$work/malformed.out")"
slowline=$(cat "$work/slowloris.out")
note "$slowline; $(cat "$work/slowread.out")"
grep -q 'opened=16 closed_by_server=16 ' <<<"$slowline" || fail "slow clients not all dropped: $slowline"
for f in wrk.metrics wrk.status; do
  line=$(grep '^requests=' "$work/$f") || fail "no wrk summary in $f: $(cat "$work/$f")"
  note "burst ${f#wrk.}: $line"
  eval "$(tr ' ' '\n' <<<"$line" | grep -E '^(requests|errors|non200)=')"
  [ "$requests" -gt 50 ] || fail "$f: only $requests requests"
  [ "$errors" = 0 ] || fail "$f: $errors socket errors"
  [ "$non200" = 0 ] || fail "$f: $non200 answers were not 200"
done
note "probes: $probes, not 200: $badprobe, slowest $maxprobe s"
[ "$badprobe" = 0 ] || fail "$badprobe probes were not answered 200"
python3 -c "import sys; sys.exit(0 if $maxprobe < 2 else 1)" || fail "a probe took $maxprobe s"

python3 - "$work" "$sb0" "$sb1" "$tb0" "$tb1" "$cb0" "$cb1" "$sa0" "$sa1" "$ta0" "$ta1" "$ca0" "$ca1" <<'PY' || fail "sync during the abuse"
import sys
w = sys.argv[1]
sb0, sb1, tb0, tb1, cb0, cb1, sa0, sa1, ta0, ta1, ca0, ca1 = map(float, sys.argv[2:])
before = (sb1 - sb0) / ((tb1 - tb0) / 1e9)
during = (sa1 - sa0) / ((ta1 - ta0) / 1e9)
load_b = (cb1 - cb0) / ((tb1 - tb0) / 1e9)
load_d = (ca1 - ca0) / ((ta1 - ta0) / 1e9)
print("sync rate: before %.0f/s (load %.0f changes/s, kept up %.2f), during the abuse %.0f/s (load %.0f changes/s,"
      " kept up %.2f), during/before %.2f" % (before, load_b, before / load_b if load_b else 0, during, load_d,
      during / load_d if load_d else 0, during / before if before else 0), file=sys.stderr)
def hist(a, b):
    ra = dict(l.split() for l in open(w + "/" + a) if l.strip())
    rb = dict(l.split() for l in open(w + "/" + b) if l.strip())
    les = sorted(rb, key=lambda x: float("inf") if x == "+Inf" else float(x))
    return [(le, int(rb[le]) - int(ra.get(le, 0))) for le in les]
def pct(h, p):
    total = h[-1][1]
    for le, c in h:
        if c >= p * total:
            return le, total
    return "+Inf", total
for name, (a, b) in (("before", ("lat0", "lat1")), ("during", ("lat2", "lat3"))):
    h = hist(a, b)
    (p50, n), (p95, _) = pct(h, 0.5), pct(h, 0.95)
    print("latency %s: %d observations, p50 <= %s s, p95 <= %s s" % (name, n, p50, p95), file=sys.stderr)
    if name == "during":
        assert n > 0, "no entity synced during the abuse"
        assert p95 != "+Inf" and float(p95) <= 5, "p95 latency over 5 s during the abuse"
assert during > 0
PY

# every log line is JSON (libmicrohttpd's messages included), and the daemon logged at debug level
python3 - "$work/daemon.log" <<'PY' || fail "the daemon's log is not all JSON"
import json, sys
n, mhd = 0, 0
for line in open(sys.argv[1]):
    try:
        j = json.loads(line)
    except ValueError:
        raise SystemExit("not JSON: %r" % line)
    assert j["level"] in ("debug", "info", "warn", "error") and "msg" in j and "ts" in j, line
    n += 1
    mhd += j["msg"].startswith("http:")
print("daemon log: %d JSON lines, %d from the HTTP server" % (n, mhd), file=sys.stderr)
assert n > 0
PY
kill -TERM "$dpid"
rc=0; wait "$dpid" || rc=$?
dpid=
[ "$rc" = 0 ] || fail "daemon exited $rc after SIGTERM"
note "ok ($(( $(date +%s) - t0 )) s)"
