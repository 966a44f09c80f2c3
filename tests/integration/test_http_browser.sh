#!/usr/bin/env bash
# Browser test of the dashboard: headless Chromium loads GET / from the HTTP server (run by
# integration_test_http --serve with known data and a bearer token given as #token=...), and the
# numbers it renders must equal /api/sync/status. Also: without the token the page says
# "unauthorized"; failure text is shown escaped and redacted. A screenshot is saved as
# build/<dir>/artifacts/dashboard.png. Chromium comes from `scripts/setup --with-browser`;
# without it the test is skipped (exit 77), never passed.
set -euo pipefail
top=${P2N_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
bdir=${P2N_BUILD:-$top/build/debug}
bin=$bdir/integration_test_http
fail() { echo "FAIL: $*" >&2; exit 1; }

chrome=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chrome" ]; then
  echo "SKIP: chromium is not installed (run scripts/setup --with-browser)" >&2
  exit 77
fi
[ -x "$bin" ] || fail "$bin not built"

tmp=$(mktemp -d /tmp/p2n-browser-XXXXXX)
srv=""
cleanup() {
  exec 3>&- 2>/dev/null || true
  if [ -n "$srv" ]; then kill "$srv" 2>/dev/null || true; wait "$srv" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# The server reads the token from the environment (never argv) and runs until its stdin closes.
token=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
mkfifo "$tmp/stdin"
P2N_HTTP_TOKEN=$token "$bin" --serve "$tmp/port" <"$tmp/stdin" 2>"$tmp/server.log" &
srv=$!
exec 3>"$tmp/stdin"
for _ in $(seq 50); do [ -s "$tmp/port" ] && break; sleep 0.1; done
[ -s "$tmp/port" ] || fail "server did not start: $(cat "$tmp/server.log")"
port=$(cat "$tmp/port")
base="http://127.0.0.1:$port"

curl -fsS -H "Authorization: Bearer $token" "$base/api/sync/status" >"$tmp/status.json" ||
  fail "GET /api/sync/status failed"

chrome_run() { # chrome_run PROFILE_NAME ARGS... (a fresh profile each time)
  local prof=$tmp/profile-$1; shift
  mkdir -p "$prof"
  timeout 120 "$chrome" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$prof" --window-size=1400,1100 "$@" 2>>"$tmp/chrome.log"
}

# 1. with the token: the rendered numbers
chrome_run dom --virtual-time-budget=6000 --dump-dom "$base/#token=$token" >"$tmp/dom.html" ||
  fail "chromium --dump-dom failed: $(tail -5 "$tmp/chrome.log")"
[ -s "$tmp/dom.html" ] || fail "empty DOM dump"

python3 - "$tmp/status.json" "$tmp/dom.html" "$token" <<'EOF' || fail "dashboard does not match /api/sync/status"
import json, sys
from html.parser import HTMLParser

status = json.load(open(sys.argv[1]))
dom = open(sys.argv[2], encoding="utf-8").read()
token = sys.argv[3]

class Page(HTMLParser):
    """Collects the text of elements by id, and table cells by row attribute and class."""
    def __init__(self):
        super().__init__()
        self.ids, self.rows, self.stack, self.body = {}, {}, [], {}
        self.row = None
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.body = a
        if tag == "tr":
            key = a.get("data-type") or a.get("data-alert")
            self.row = None
            if key is not None:
                self.row = self.rows.setdefault(key, {"attrs": a, "cells": []})
        if tag == "td" and self.row is not None:
            self.row["cells"].append([a.get("class", ""), ""])
        self.stack.append((tag, a.get("id"), tag == "td" and self.row is not None))
    def handle_endtag(self, tag):
        while self.stack:
            t = self.stack.pop()
            if t[0] == tag:
                break
    def handle_data(self, data):
        for tag, id_, _ in self.stack:
            if id_:
                self.ids[id_] = self.ids.get(id_, "") + data
        if self.stack and any(x[2] for x in self.stack) and self.row is not None and self.row["cells"]:
            self.row["cells"][-1][1] += data

p = Page()
p.feed(dom)
errors = []
def check(what, got, want):
    if str(got).strip() != str(want):
        errors.append(f"{what}: page shows {got!r}, status says {want!r}")

if p.body.get("data-loaded") != "1":
    errors.append("the page never finished a poll (body lacks data-loaded)")
for key in ["pendingEntities", "inProgressEntities", "syncedEntities", "failedEntities", "conflictCount",
            "firingAlerts"]:
    check(key, p.ids.get(key, "<missing>"), status[key])
for t in status["entityTypes"]:
    row = p.rows.get(t["entityType"])
    if row is None:
        errors.append(f"no row for entity type {t['entityType']}")
        continue
    cells = {c[0].replace("num ", ""): c[1] for c in row["cells"]}
    check(t["entityType"] + " pending", cells.get("pending"), t["pending"])
    check(t["entityType"] + " inprogress", cells.get("inprogress"), t["inProgress"])
    check(t["entityType"] + " synced", cells.get("synced"), t["synced"])
    check(t["entityType"] + " failed", cells.get("failed"), t["failed"])
for a in status["alerts"]:
    row = p.rows.get(a["name"])
    if row is None:
        errors.append(f"no row for alert {a['name']}")
    else:
        check("alert " + a["name"], row["attrs"].get("data-state"), a["state"])
if "b-&lt;script&gt;9" not in dom:
    errors.append("the entity id with markup is not shown escaped")
if "<script>9" in dom:
    errors.append("markup from the data reached the DOM")
if "pw-SECRET-5512" in dom:
    errors.append("a registered secret reached the page")
if token in dom:
    errors.append("the bearer token is visible in the page")
if p.ids.get("error", "").strip():
    errors.append("the page shows an error: " + p.ids["error"])
for e in errors:
    print("  " + e, file=sys.stderr)
if not errors:
    n = sum(1 for _ in status["entityTypes"])
    print(f"dashboard matches /api/sync/status: 6 totals, {n} entity types x 4 counts, {len(status['alerts'])} alert states")
sys.exit(1 if errors else 0)
EOF

# 2. without the token: the page says so instead of showing data
chrome_run noauth --virtual-time-budget=4000 --dump-dom "$base/" >"$tmp/noauth.html" || fail "chromium failed"
grep -q 'id="error"[^>]*>unauthorized' "$tmp/noauth.html" || fail "without a token the page does not say unauthorized"
grep -q 'id="pendingEntities">–<' "$tmp/noauth.html" || fail "without a token the page shows numbers"

# 3. the screenshot, kept as an artifact
mkdir -p "$bdir/artifacts"
shot=$bdir/artifacts/dashboard.png
rm -f "$shot"
chrome_run shot --virtual-time-budget=30000 --hide-scrollbars --screenshot="$shot" "$base/#token=$token" >/dev/null ||
  fail "chromium --screenshot failed"
python3 - "$shot" <<'EOF' || fail "screenshot is not a 1400x1100 PNG"
import struct, sys
d = open(sys.argv[1], "rb").read()
assert d[:8] == b"\x89PNG\r\n\x1a\n" and len(d) > 20000, "not a PNG of some substance"
w, h = struct.unpack(">II", d[16:24])
assert (w, h) == (1400, 1100), (w, h)
EOF
echo "screenshot: $shot ($(stat -c %s "$shot") bytes)"
# The server saw the requests and stayed up.
curl -fsS "$base/healthz" | grep -qx ok || fail "server not healthy after the browser runs"
echo "PASS"
