#!/usr/bin/env bash
# What `pg2neo run` guards at start (issue 18, item 4 and two minor points):
# - a --http-token-file that cannot be used (empty, only a newline, only blanks, a directory, a
#   missing file) stops the daemon at once with a clear message and exit 2; it never starts
#   serving without the token it was asked to require;
# - a token of 1,500 characters is used whole: the full token is accepted, its first 1,023
#   characters are refused (it used to be cut there silently);
# - binding the listener to a non-loopback address without a token logs a warning; with a token,
#   or on 127.0.0.1, there is none;
# - core dumps are off (RLIMIT_CORE 0: a dump would hold both passwords and the token) unless
#   P2N_ALLOW_CORE=1. Database token_test, label TK_Item.
set -euo pipefail
top=${P2N_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${P2N_BUILD:-$top/build/debug}/pg2neo
: "${DATABASE_URL:?DATABASE_URL is not set (scripts/services env)}"
: "${NEO4J_URI:?NEO4J_URI is not set (scripts/services env)}"
tmp=$(mktemp -d)
pid=""
fail() { echo "FAIL: $*" >&2; [ -f "$tmp/run.log" ] && tail -20 "$tmp/run.log" >&2; exit 1; }
admin=$DATABASE_URL
psql -qX "$admin" -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS token_test WITH (FORCE)" \
     -c "CREATE DATABASE token_test" >/dev/null 2>&1 || fail "could not create token_test"
base=${DATABASE_URL%%\?*}; q=""; [[ $DATABASE_URL == *\?* ]] && q="?${DATABASE_URL#*\?}"
export DATABASE_URL="${base%/*}/token_test$q"
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
  wait 2>/dev/null || true
  psql -qX "$admin" -c "DROP DATABASE IF EXISTS token_test WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
psql -qXAt "$DATABASE_URL" -v ON_ERROR_STOP=1 -c "CREATE TABLE tk_items (id int PRIMARY KEY, v text)" >/dev/null
cat > "$tmp/mapping.yaml" <<'YAML'
entities:
  TK_Item:
    table: tk_items
YAML
export P2N_MAPPING=$tmp/mapping.yaml
"$bin" init >/dev/null 2>&1 || { "$bin" init; fail "init"; }

# 1. token files that hold no usable token: exit 2 at once, nothing served
: > "$tmp/empty"
printf '\n' > "$tmp/newline"
printf '  \t \r\nsecond-line-is-not-the-token\n' > "$tmp/blank"
mkdir "$tmp/dir"
for f in empty newline blank dir missing; do
  port=$("$top/scripts/free-port")
  rc=0
  timeout 10 "$bin" run --http "127.0.0.1:$port" --http-token-file "$tmp/$f" >"$tmp/run.log" 2>&1 || rc=$?
  [ "$rc" = 2 ] || fail "token file '$f': exit $rc, expected 2 (124: the daemon ran)"
  grep -q "token file \"$tmp/$f\"" "$tmp/run.log" || fail "token file '$f': the message does not name the file"
  grep -q "does not start" "$tmp/run.log" || fail "token file '$f': the message does not say the daemon stops"
  ! curl -s -o /dev/null "127.0.0.1:$port/api/sync/status" || fail "token file '$f': something answers on $port"
  echo "token file '$f': exit 2: $(head -1 "$tmp/run.log")" >&2
done

# 2. a 1,500-character token works whole
token=$(head -c 3000 /dev/urandom | base64 -w0 | tr -d '+/=' | head -c 1500)
[ ${#token} = 1500 ] || fail "could not make a token"
printf '%s\n' "$token" > "$tmp/token"
port=$("$top/scripts/free-port")
"$bin" run --http "127.0.0.1:$port" --http-token-file "$tmp/token" >"$tmp/run.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -sf "127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
code() { curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $1" "127.0.0.1:$port/api/sync/status"; }
full=$(code "$token")
cut=$(code "${token:0:1023}")
none=$(curl -s -o /dev/null -w '%{http_code}' "127.0.0.1:$port/api/sync/status")
echo "1,500-character token: whole $full, first 1,023 characters $cut, none $none" >&2
[ "$full" = 200 ] || fail "the whole token was refused ($full)"
[ "$cut" = 401 ] || fail "the token cut at 1,023 characters was accepted ($cut)"
[ "$none" = 401 ] || fail "no token was accepted ($none)"
grep -qF -- "${token:0:40}" "$tmp/run.log" && fail "the token appears in the log"
kill -TERM "$pid"; wait "$pid" || fail "exit after SIGTERM"
pid=""

# 3. a non-loopback listener without a token warns; with a token, or on loopback, no warning
listen() { # addr [token-file] -> the log of a short run
  local p; p=$("$top/scripts/free-port")
  "$bin" run --http "$1:$p" ${2:+--http-token-file "$2"} >"$tmp/run.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do curl -sf "127.0.0.1:$p/healthz" >/dev/null && break; sleep 0.1; done
  kill -TERM "$pid"; wait "$pid" || true
  pid=""
}
listen 0.0.0.0
grep -q 'msg="http server reachable from other hosts without a token' "$tmp/run.log" ||
  fail "no warning for 0.0.0.0 without a token"
grep 'reachable from other hosts' "$tmp/run.log" | grep -q 'level=warn' || fail "the warning is not at warn level"
listen 0.0.0.0 "$tmp/token"
! grep -q 'reachable from other hosts' "$tmp/run.log" || fail "a warning although a token is required"
listen 127.0.0.1
! grep -q 'reachable from other hosts' "$tmp/run.log" || fail "a warning for 127.0.0.1"
echo "non-loopback without a token: warned; with a token or on loopback: no warning" >&2

# 4. no core dumps, unless asked for
core_limit() { # [env...] -> the daemon's "Max core file size" soft limit
  local p; p=$("$top/scripts/free-port")
  (ulimit -c unlimited; exec env "$@" "$bin" run --http "127.0.0.1:$p" >"$tmp/run.log" 2>&1) &
  pid=$!
  for _ in $(seq 1 100); do curl -sf "127.0.0.1:$p/healthz" >/dev/null && break; sleep 0.1; done
  awk '/^Max core file size/ {print $5}' "/proc/$pid/limits"
  kill -TERM "$pid"; wait "$pid" || true
  pid=""
}
# (AddressSanitizer zeroes the limit itself unless told not to: a sanitized build must show ours)
asan="ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}disable_coredump=0"
off=$(core_limit "$asan" P2N_ALLOW_CORE=0)
on=$(core_limit "$asan" P2N_ALLOW_CORE=1)
echo "core file size limit: $off by default, $on with P2N_ALLOW_CORE=1" >&2
[ "$off" = 0 ] || fail "core dumps are not disabled (limit $off)"
[ "$on" = unlimited ] || fail "P2N_ALLOW_CORE=1 did not keep core dumps (limit $on)"
echo "1 passed, 0 failed"
