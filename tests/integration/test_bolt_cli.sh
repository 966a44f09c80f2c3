#!/usr/bin/env bash
# pg2neo cypher and ping against the shared Neo4j: JSON lines, typed --param, exit codes (0 ok,
# 1 server failure with the Neo4j code, 2 bad input), password only from the environment or a file.
set -euo pipefail
top=${P2N_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${P2N_BUILD:-$top/build/debug}/pg2neo
[ -x "$bin" ] || { echo "FAIL: $bin not built" >&2; exit 1; }
[ -n "${NEO4J_URI:-}" ] && [ -n "${NEO4J_PASSWORD:-}" ] || { echo "FAIL: NEO4J_URI/NEO4J_PASSWORD not set" >&2; exit 1; }
tmp=$(mktemp -d /tmp/p2n-bolt-cli-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# rows as JSON objects, one per line, typed parameters
out=$("$bin" cypher --param s=42 --param 'n:=42' --param 'f:=1.5' --param 'l:=[1,"a",null,{"k":true}]' \
      'RETURN $s AS s, $n AS n, $f AS f, $l AS l, $n + 1 AS m')
[ "$out" = '{"s":"42","n":42,"f":1.5,"l":[1,"a",null,{"k":true}],"m":43}' ] || fail "unexpected row: $out"
[ "$("$bin" cypher 'UNWIND range(1, 3) AS x RETURN x' | wc -l)" = 3 ] || fail "expected 3 lines"
out=$("$bin" cypher 'RETURN date("2024-02-29") AS d')
[ "$out" = '{"d":{"$date":"2024-02-29"}}' ] || fail "unexpected date row: $out"
# query from stdin, --stats on stderr
out=$(echo 'UNWIND range(1, 2) AS x RETURN x' | "$bin" cypher --stats - 2>"$tmp/stats")
[ "$(wc -l <<<"$out")" = 2 ] || fail "stdin query"
grep -q '"records":2' "$tmp/stats" || fail "stats: $(cat "$tmp/stats")"
# a write and its counters, then clean up
tid="cli-$$"
"$bin" cypher --stats --param "t=$tid" 'CREATE (:BoltCli {tid: $t})' 2>"$tmp/stats" >/dev/null
grep -q '"nodes-created":1' "$tmp/stats" || fail "nodes-created: $(cat "$tmp/stats")"
[ "$("$bin" cypher --param "t=$tid" 'MATCH (n:BoltCli {tid: $t}) DELETE n RETURN count(*) AS c')" = '{"c":1}' ] ||
  fail "delete"
# a parameter value that looks like Cypher stays a value
out=$("$bin" cypher --param "x=') DETACH DELETE n //" 'RETURN $x AS x')
[ "$out" = "{\"x\":\"') DETACH DELETE n //\"}" ] || fail "injection-looking value: $out"

# server failure: exit 1, the Neo4j code in the message
set +e
"$bin" cypher 'RETURN 1 +' 2>"$tmp/err" >/dev/null; rc=$?
set -e
[ $rc = 1 ] || fail "syntax error exit $rc"
grep -q 'Neo.ClientError.Statement.SyntaxError' "$tmp/err" || fail "no code: $(cat "$tmp/err")"

# bad input: exit 2 with a message
expect2() {
  set +e; "$bin" "$@" >/dev/null 2>"$tmp/err"; local rc=$?; set -e
  [ $rc = 2 ] || fail "pg2neo $* exited $rc, expected 2"
  [ -s "$tmp/err" ] || fail "pg2neo $*: no message"
}
expect2 cypher
expect2 cypher --param novalue 'RETURN 1'
expect2 cypher --param 'x:={bad json' 'RETURN 1'
expect2 cypher --param a=1 --param a=2 'RETURN 1'
expect2 cypher --bogus 'RETURN 1'
expect2 cypher 'RETURN 1' 'RETURN 2'
expect2 cypher --password secret 'RETURN 1'
expect2 cypher '   '
grep -q "not accepted on the command line" <(set +e; "$bin" cypher --password x 'RETURN 1' 2>&1) || fail "--password message"
NEO4J_URI="http://127.0.0.1:1" expect2 cypher 'RETURN 1'

# password from a file; a wrong one is a clear failure that does not show the password
printf '%s\n' "$NEO4J_PASSWORD" > "$tmp/pw"
out=$(env -u NEO4J_PASSWORD NEO4J_PASSWORD_FILE="$tmp/pw" "$bin" cypher 'RETURN 7 AS x')
[ "$out" = '{"x":7}' ] || fail "password file: $out"
set +e
NEO4J_PASSWORD=wrong-pass-5150 "$bin" cypher 'RETURN 1' 2>"$tmp/err" >/dev/null; rc=$?
set -e
[ $rc = 1 ] || fail "wrong password exit $rc"
grep -q 'authentication failed' "$tmp/err" || fail "auth message: $(cat "$tmp/err")"
! grep -q 'wrong-pass-5150' "$tmp/err" || fail "password echoed"

# ping shows the server and the negotiated Bolt version; neo4j:// works too
"$bin" ping | grep -Eq '^neo4j: Neo4j/5\.[0-9.]+ over Bolt 5\.4 at bolt://' || fail "ping: $("$bin" ping 2>&1)"
routed=${NEO4J_URI/bolt:/neo4j:}
[ "$(NEO4J_URI=$routed "$bin" cypher 'RETURN 1 AS one')" = '{"one":1}' ] || fail "neo4j:// cypher"
echo "ok"
