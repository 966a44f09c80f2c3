#!/usr/bin/env bash
# A wrk burst on loopback against the HTTP server (integration_test_http --serve, known data,
# bearer token): 3 s on /metrics and 3 s on /api/sync/status with 32 connections. Every answer
# must be a 200, and the server must stay healthy and correct afterwards. wrk comes from
# `scripts/setup --with-bench`; without it the test is skipped (exit 77). `make test` always runs
# the bounded burst of tests/integration/test_http.c instead.
set -euo pipefail
top=${P2N_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
bdir=${P2N_BUILD:-$top/build/debug}
bin=$bdir/integration_test_http
fail() { echo "FAIL: $*" >&2; exit 1; }

command -v wrk >/dev/null || { echo "SKIP: wrk is not installed (run scripts/setup --with-bench)" >&2; exit 77; }
[ -x "$bin" ] || fail "$bin not built"

tmp=$(mktemp -d /tmp/p2n-wrk-XXXXXX)
srv=""
cleanup() {
  exec 3>&- 2>/dev/null || true
  if [ -n "$srv" ]; then kill "$srv" 2>/dev/null || true; wait "$srv" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

token=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
mkfifo "$tmp/stdin"
P2N_HTTP_TOKEN=$token "$bin" --serve "$tmp/port" <"$tmp/stdin" 2>"$tmp/server.log" &
srv=$!
exec 3>"$tmp/stdin"
for _ in $(seq 50); do [ -s "$tmp/port" ] && break; sleep 0.1; done
[ -s "$tmp/port" ] || fail "server did not start: $(cat "$tmp/server.log")"
base="http://127.0.0.1:$(cat "$tmp/port")"

# The token travels in a header file read by a Lua script, not on wrk's command line.
printf '%s' "$token" >"$tmp/token"
cat >"$tmp/auth.lua" <<EOF
local f = io.open("$tmp/token"); local t = f:read("*a"); f:close()
wrk.headers["Authorization"] = "Bearer " .. t
local non2xx = 0
response = function(status, headers, body) if status ~= 200 then non2xx = non2xx + 1 end end
done = function(summary, latency, requests)
  io.write(string.format("requests=%d errors=%d non200=%d p99_ms=%.2f\n", summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(99) / 1000))
end
EOF

for path in /metrics /api/sync/status; do
  out=$(wrk -t2 -c32 -d3s --timeout 5s -s "$tmp/auth.lua" "$base$path")
  echo "$out" | sed 's/^/  /'
  line=$(echo "$out" | grep '^requests=') || fail "no wrk summary"
  eval "$(echo "$line" | tr ' ' '\n' | grep -E '^(requests|errors|non200)=')"
  [ "$requests" -gt 100 ] || fail "$path: only $requests requests"
  [ "$errors" -eq 0 ] || fail "$path: $errors socket errors"
  [ "$non200" -eq 0 ] || fail "$path: $non200 answers were not 200"
done

# still up and still correct
curl -fsS "$base/healthz" | grep -qx ok || fail "not healthy after the burst"
curl -fsS -H "Authorization: Bearer $token" "$base/api/sync/status" | grep -q '"pendingEntities":15' ||
  fail "status wrong after the burst"
code=$(curl -s -o /dev/null -w '%{http_code}' "$base/metrics")
[ "$code" = 401 ] || fail "token no longer enforced after the burst ($code)"
kill -0 "$srv" || fail "server died"
echo "PASS"
