#!/usr/bin/env bash
# Issue 15 item 5: docs and CLI cannot drift. Every pg2neo command line quoted in the docs names
# a command pg2neo has, with options it accepts (tests/support/doc_commands.py). Needs no server.
set -uo pipefail
src=${P2N_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${P2N_BUILD:-$src/build/debug}/pg2neo
python3 "$src/tests/support/doc_commands.py" "$bin" "$src"
