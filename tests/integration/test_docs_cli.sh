#!/usr/bin/env bash
# The man page (docs/pg2neo.1) lists every command and every option that `pg2neo --help` and
# `pg2neo COMMAND --help` print; every command it documents exists; it gives every exit code.
set -uo pipefail
src=${P2N_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${P2N_BUILD:-$src/build/debug}/pg2neo
man=$src/docs/pg2neo.1
fail=0
bad() { echo "FAIL: $*"; fail=1; }
# plain text of the page source: groff's \- is '-', font escapes dropped
page=$(sed 's/\\-/-/g; s/\\f[BIRP]//g' "$man")
cmds=$("$bin" --help | awk '/^commands:/{on=1; next} on && /^  [a-z]/{print $1} on && /^$/{exit}')
[ -n "$cmds" ] || bad "no commands in pg2neo --help"
# the commands the man page documents: the first word after each .TP in its COMMANDS section
documented=$(awk '/^\.SH COMMANDS/{on=1; next} /^\.SH/{on=0}
                  on && prev == ".TP" { w = $1; if (w == ".B") w = $2; print w } { prev = $1 }' <<<"$page" | sort -u)
for c in $cmds; do
  grep -qx "$c" <<<"$documented" || bad "command $c is not in the man page"
  for o in $("$bin" "$c" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
    grep -qF -- "$o" <<<"$page" || bad "$c $o is not in the man page"
  done
done
for o in $("$bin" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
  grep -qF -- "$o" <<<"$page" || bad "global option $o is not in the man page"
done
for c in $documented; do
  "$bin" "$c" --help >/dev/null 2>&1 || bad "the man page documents \"$c\", which pg2neo does not have"
done
for code in 0 1 2 3; do grep -qx ".B $code" <<<"$page" || bad "exit code $code is not in the man page"; done
for v in DATABASE_URL NEO4J_URI NEO4J_USER NEO4J_PASSWORD NEO4J_PASSWORD_FILE P2N_MAPPING P2N_SYNC_SCHEMA; do
  grep -qF "$v" <<<"$page" || bad "environment variable $v is not in the man page"
done
[ $fail = 0 ] || exit 1
echo "documented commands: $(echo $documented)"
echo "1 passed, 0 failed"
