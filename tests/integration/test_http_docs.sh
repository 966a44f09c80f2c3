#!/usr/bin/env bash
# The observability docs agree with the code: every pg2neo_* metric used by
# docs/prometheus-alerts.yml and docs/grafana-dashboard.json is served by GET /metrics (of
# integration_test_http --serve, which registers the standard set), every metric served is
# described in docs/observability.md, and the Grafana dashboard is well-formed (unique ids, a
# Prometheus query in every panel, the datasource as an import input); every key of the mapping's
# alerts section is described in docs/mapping.md and docs/observability.md.
set -euo pipefail
top=${P2N_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
bdir=${P2N_BUILD:-$top/build/debug}
bin=$bdir/integration_test_http
fail() { echo "FAIL: $*" >&2; exit 1; }
[ -x "$bin" ] || fail "$bin not built"

tmp=$(mktemp -d /tmp/p2n-docs-XXXXXX)
srv=""
cleanup() {
  exec 3>&- 2>/dev/null || true
  if [ -n "$srv" ]; then kill "$srv" 2>/dev/null || true; wait "$srv" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
mkfifo "$tmp/stdin"
P2N_HTTP_TOKEN= "$bin" --serve "$tmp/port" <"$tmp/stdin" 2>"$tmp/server.log" &
srv=$!
exec 3>"$tmp/stdin"
for _ in $(seq 50); do [ -s "$tmp/port" ] && break; sleep 0.1; done
[ -s "$tmp/port" ] || fail "server did not start: $(cat "$tmp/server.log")"
curl -fsS "http://127.0.0.1:$(cat "$tmp/port")/metrics" >"$tmp/metrics.txt" || fail "GET /metrics failed"

python3 - "$tmp/metrics.txt" "$top/docs" <<'EOF' || fail "docs and metrics disagree"
import json, re, sys
metrics_txt, docs = sys.argv[1], sys.argv[2]
served = set(re.findall(r"^# TYPE (\S+) ", open(metrics_txt).read(), re.M))
errors = []
if len(served) < 10:
    errors.append(f"only {len(served)} metric families served")

def base(name):
    return re.sub(r"_(bucket|sum|count)$", "", name) if name not in served else name

rules = open(f"{docs}/prometheus-alerts.yml").read()
dash = json.load(open(f"{docs}/grafana-dashboard.json"))
exprs = []
ids = set()
for p in dash["panels"]:
    if p["id"] in ids:
        errors.append(f"duplicate panel id {p['id']}")
    ids.add(p["id"])
    if p["type"] == "row":
        continue
    if p.get("datasource", {}).get("uid") != "${DS_PROMETHEUS}":
        errors.append(f"panel {p['title']!r} does not use the DS_PROMETHEUS input")
    if not p.get("targets") or not all(t.get("expr") for t in p["targets"]):
        errors.append(f"panel {p['title']!r} has no query")
    exprs += [t["expr"] for t in p.get("targets", [])]
    g = p["gridPos"]
    if g["x"] + g["w"] > 24:
        errors.append(f"panel {p['title']!r} is wider than the grid")
if not any(i["name"] == "DS_PROMETHEUS" for i in dash.get("__inputs", [])):
    errors.append("dashboard lacks the DS_PROMETHEUS input")
for key in ("uid", "title", "schemaVersion", "panels"):
    if key not in dash:
        errors.append(f"dashboard lacks {key}")

for where, text in (("prometheus-alerts.yml", rules), ("grafana-dashboard.json", "\n".join(exprs))):
    used = {base(n) for n in re.findall(r"\bpg2neo_[a-z0-9_]+", text)}
    for n in sorted(used - served):
        errors.append(f"{where} uses {n}, which /metrics does not serve")

doc = open(f"{docs}/observability.md").read()
for n in sorted(served):
    if n not in doc:
        errors.append(f"docs/observability.md does not describe {n}")
for e in errors:
    print("  " + e, file=sys.stderr)
if not errors:
    print(f"{len(served)} metric families served; alert rules, {len(ids)} dashboard panels and the docs agree")
sys.exit(1 if errors else 0)
EOF
# every key of the mapping's alerts section (the loader's list) is documented
python3 - "$top/src/mapping/load.c" "$top/docs" <<'EOF' || fail "the alerts section's docs and the loader disagree"
import re, sys
src = open(sys.argv[1]).read()
body = src[src.index("static void load_alerts("):]
keys = re.findall(r'"([a-zA-Z]+)"', body[:body.index("check_map(")])
assert len(keys) >= 11, keys
def described(text, k):  # as `key` in prose or a table, or as "key:" in a YAML example
    return f"`{k}`" in text or re.search(rf"^\s+{k}:", text, re.M) is not None
bad = [(d, k) for d in ("mapping.md", "observability.md") for k in keys
       if not described(open(f"{sys.argv[2]}/{d}").read(), k)]
for d, k in bad:
    print(f"  docs/{d} does not describe alerts.{k}", file=sys.stderr)
if not bad:
    print(f"{len(keys)} alerts keys documented in mapping.md and observability.md")
sys.exit(1 if bad else 0)
EOF
echo "PASS"
