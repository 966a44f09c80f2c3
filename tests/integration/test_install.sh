#!/usr/bin/env bash
# make install into a temporary prefix, then use what was installed: the binary against the
# services, the man page, the header and library through pkg-config (examples/embed.c builds
# against them), the SQL migrations; the systemd unit passes systemd-analyze verify when that
# tool exists; uninstall removes every file.
set -uo pipefail
src=${P2N_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${P2N_BUILD:-$src/build/debug}
prefix=$(mktemp -d /tmp/p2n-install-XXXXXX)
trap 'rm -rf "$prefix"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
: "${DATABASE_URL:?the services are not up (DATABASE_URL unset)}"

cmake --install "$build" --prefix "$prefix" >/dev/null || fail "cmake --install failed"
bin=$prefix/bin/pg2neo
[ -x "$bin" ] || fail "no binary installed"
for f in include/pg2neo.h lib/libpg2neo.a lib/pkgconfig/pg2neo.pc share/pg2neo/sql/001_capture.sql \
         share/pg2neo/examples/civic-mapping.yaml share/man/man1/pg2neo.1; do
  [ -f "$prefix/$f" ] || fail "$f was not installed"
done

# the installed binary works against the services, from outside the source tree
out=$(cd / && "$bin" ping 2>&1) || fail "installed pg2neo ping failed: $out"
grep -q '^postgresql: PostgreSQL 15' <<<"$out" || fail "ping did not show PostgreSQL: $out"
grep -qE '^neo4j: Neo4j/5\.26.* over Bolt [45]\.[0-9]' <<<"$out" || fail "ping did not show Neo4j and Bolt: $out"
"$bin" --version | grep -qx "pg2neo $("$bin" --version | awk '{print $2}')" || fail "--version"
man -l "$prefix/share/man/man1/pg2neo.1" 2>/dev/null | grep -q 'keeps a Neo4j graph' || fail "installed man page does not render"

# a program embedding the library builds from the installed header and library alone
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
san=""
grep -q 'P2N_SANITIZE:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null && san="-fsanitize=address,undefined"
# shellcheck disable=SC2046
cc -std=c11 $san -o "$prefix/embed" "$src/examples/embed.c" $(pkg-config --cflags --libs pg2neo) ||
  fail "examples/embed.c does not build against the installed library"
out=$("$prefix/embed" 2>&1); rc=$?
[ $rc = 2 ] && grep -qi 'usage' <<<"$out" || fail "the embedded example does not run (exit $rc): $out"

# the unit file
if command -v systemd-analyze >/dev/null; then
  sed "s|/usr/local/bin/pg2neo|$bin|" "$src/contrib/pg2neo.service" > "$prefix/pg2neo.service"
  out=$(MANPATH=$prefix/share/man systemd-analyze verify "$prefix/pg2neo.service" 2>&1)
  # a missing man page for Documentation= is the only complaint allowed (MANPATH is not consulted everywhere)
  rest=$(grep -v "man pg2neo(1)" <<<"$out" | grep -v '^$' || true)
  [ -z "$rest" ] || fail "systemd-analyze verify: $rest"
fi

cmake --build "$build" --target uninstall >/dev/null 2>&1 || fail "uninstall failed"
left=$(find "$prefix" -type f ! -name embed ! -name pg2neo.service | head -5)
[ -z "$left" ] || fail "uninstall left files: $left"
echo "1 passed, 0 failed"
