#!/usr/bin/env bash
# Every valid PostgreSQL value reaches Neo4j (issue 14 item 5, issue 18 item 10): a table holding
# the edges of every type (infinite, BC and year > 9999 dates and timestamps, numeric and float
# NaN/Infinity and beyond the double range, subnormals, intervals, inet/cidr, money, bit strings,
# composites, multi-dimensional arrays and arrays of NULLs, enum arrays, bytea, uuid, time/timetz,
# jsonb/json under convert: map with integers beyond int64, 1e400, 1.5e-320, colliding flattened
# names, duplicate json keys and nesting deeper than any parser's limit) is captured, synced with
# no failed entity, each property read back from Neo4j with its value and type as
# docs/mapping.md "Type conversions" documents, and verify is clean; again after updates and a
# full sync, and whatever the client's PGOPTIONS. check refuses a property under a map column's
# prefix. Database values_test, labels VE_*.
set -euo pipefail
top=${P2N_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${P2N_BUILD:-$top/build/debug}/pg2neo
: "${DATABASE_URL:?DATABASE_URL is not set (scripts/services env)}"
: "${NEO4J_URI:?NEO4J_URI is not set (scripts/services env)}"
fail() { echo "FAIL: $*" >&2; exit 1; }
tmp=$(mktemp -d)
psql -qX "$DATABASE_URL" -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS values_test WITH (FORCE)" \
     -c "CREATE DATABASE values_test" >/dev/null 2>&1 || fail "could not create values_test"
admin=$DATABASE_URL
base=${DATABASE_URL%%\?*}; q=""; [[ $DATABASE_URL == *\?* ]] && q="?${DATABASE_URL#*\?}"
export DATABASE_URL="${base%/*}/values_test$q"
wipe() { "$bin" cypher "MATCH (n) WHERE any(l IN labels(n) WHERE l STARTS WITH 'VE_') DETACH DELETE n" >/dev/null 2>&1; }
cleanup() {
  wipe || true
  psql -qX "$admin" -c "DROP DATABASE IF EXISTS values_test WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
sql() { psql -qXAt "$DATABASE_URL" -v ON_ERROR_STOP=1 -c "$1"; }
run() { "$@" >"$tmp/out" 2>&1 || { cat "$tmp/out" >&2; fail "$*"; }; }

psql -qX "$DATABASE_URL" -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE pair AS (a int, b text);
CREATE TABLE edge (
  id int PRIMARY KEY,
  d date, ts timestamp, tstz timestamptz,
  n numeric, nf numeric, f8 float8, f4 real,
  iv interval, ip inet, cn cidr, m money, bt bit(4), vb varbit,
  comp pair, md int[], arrn int[], moods mood[], ba bytea, u uuid, t time, ttz timetz,
  j jsonb, js json, fa float8[], na numeric[], ds date[]
);
CREATE TABLE coll (id int PRIMARY KEY, j jsonb, "j.x" text);
SQL
cat > "$tmp/mapping.yaml" <<'YAML'
version: 1
sync: {batchSizeLimit: 100}
entities:
  VE_Edge:
    table: edge
    convert: {n: string, nf: float, j: map, js: map, na: float}
YAML
export P2N_MAPPING=$tmp/mapping.yaml
wipe

# check: a property under a map column's prefix would collide with its flattened keys
cat > "$tmp/coll.yaml" <<'YAML'
version: 1
entities:
  VE_Coll:
    table: coll
    convert: {j: map}
YAML
if "$bin" check "$tmp/coll.yaml" >"$tmp/out" 2>&1; then cat "$tmp/out"; fail "check accepted j.x beside map column j"; fi
grep -q 'property "j.x" (column "j.x") can collide with the flattened keys of column "j"' "$tmp/out" ||
  { cat "$tmp/out"; fail "check's message"; }

run "$bin" init
# inserted after init: captured by the triggers, synced by the batch runner
psql -qX "$DATABASE_URL" -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
INSERT INTO edge VALUES
 (1, 'infinity', 'infinity', 'infinity', 'NaN', 'NaN', 'NaN', 'NaN',
  '1 year 2 mons 3 days 04:05:06.789', '192.168.1.5/24', '10.0.0.0/8', 1234.56, B'1010', B'101',
  ROW(1, 'x'), '{{1,2},{3,NULL}}', '{1,NULL,3}', '{sad,happy}', '\x00ff', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  '23:59:59.999999', '12:00:00+05:30',
  '{"a.b": 1, "a": {"b": 2}, "big": 12345678901234567890, "huge": 1e400, "sub": 1.5e-320,
    "ints": [9007199254740993, 1], "mix": [1, 2.5], "neg": -0, "pi": 3.14159265358979323846264338327950288}',
  '{"x": 1, "x": 2, "s": "\ud83d\ude00 \ud800", "k\u0000": "a\u0000b"}',
  '{NaN,Infinity,-Infinity,-0,1.7976931348623157e308,4.9e-324,NULL}', '{1.5,NaN,NULL}',
  '{infinity,-infinity,4713-01-01 BC}'),
 (2, '-infinity', '-infinity', '-infinity', 'Infinity', 1e400, '-Infinity', 'Infinity',
  '-178000000 years', '::1', '::/0', -92233720368547758.08, B'0000', B'',
  ROW(NULL, NULL), '{{{1}}}', '{NULL}', '{}', '\x', '00000000-0000-0000-0000-000000000000',
  '24:00', '00:00-15:59',
  '1e400', '12345678901234567890', '{}', '{1.5,1e400}', '{}'),
 (3, '4713-01-01 BC', '4713-01-01 00:00:00.000001 BC', '294276-12-31 23:59:59.999999+00',
  '123456789012345678901234567890.123456789', '123456789012345678901234567890.123456789',
  1.7976931348623157e308, 3.4e38,
  '2147483647 days 2562047788:00:54.775807', '2001:db8::1', '2001:db8::/32', 92233720368547758.07, B'1111',
  repeat('1', 100)::varbit,
  ROW(3, 'a,"b"'), '{{NULL,NULL},{NULL,NULL}}', '{-2147483648,2147483647}', '{ok}', '\xdeadbeef',
  'ffffffff-ffff-ffff-ffff-ffffffffffff', '00:00', '24:00-15:59',
  NULL, NULL, '{-0}', NULL, NULL),
 (4, '5874897-12-31', '294276-12-31 23:59:59.999999', '4713-01-01 00:00:00+00 BC',
  '-0.000000000000000000000000000001', 1e-400, 4.9e-324, -1.4e-45,
  '-1 mons -2 days', '0.0.0.0', '0.0.0.0/0', 0, B'0001', B'1',
  ROW(-1, ''), '{}', '{}', '{happy,sad,ok}', '\xff', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  '12:34:56.789', '00:00:00+00', NULL, NULL, NULL, NULL, NULL);
-- nesting deeper than map's 32 flattened levels, and than jansson's 2048
INSERT INTO edge (id, j, js) VALUES
 (5, (repeat('{"a": ', 40) || '1' || repeat('}', 40))::jsonb, (repeat('[', 3000) || 'true' || repeat(']', 3000))::json),
 (6, (repeat('[', 5000) || '1' || repeat(']', 5000))::jsonb, NULL);
SQL

synced() { # every entity synced, none failed
  run "$bin" sync --once
  grep -q '^failedCount: 0$' "$tmp/out" || { cat "$tmp/out" >&2; fail "$1: failed entities"; }
  [ "$(sql "SELECT count(*) FROM graph_sync_failures")" = 0 ] ||
    { sql "SELECT entity_id, error_message FROM graph_sync_failures" | cut -c1-300 >&2; fail "$1: failures recorded"; }
  [ "$(sql "SELECT count(*) FROM graph_sync_status WHERE sync_status <> 'synced'")" = 0 ] ||
    { sql "SELECT entity_id, sync_status FROM graph_sync_status" >&2; fail "$1: not all synced"; }
}
verified() {
  "$bin" verify >"$tmp/out" 2>&1 || { cat "$tmp/out" >&2; fail "$1: verify"; }
  grep -q 'postgres 6, neo4j 6: ok' "$tmp/out" || { cat "$tmp/out" >&2; fail "$1: verify counts"; }
}
synced "first sync"

# the text forms of money and interval follow the server's lc_monetary and IntervalStyle
sql "SELECT json_object_agg(id, json_build_array(m::text, iv::text)) FROM edge WHERE id <= 4" > "$tmp/pg.json"
check_graph() {
  "$bin" cypher "MATCH (n:VE_Edge) RETURN n.id AS id, properties(n) AS p,
      {d: [toString(n.d), valueType(n.d)], ts: [toString(n.ts), valueType(n.ts)],
       tstz: [toString(n.tstz), valueType(n.tstz)]} AS t ORDER BY n.id" >"$tmp/graph.json" 2>&1 ||
    { cat "$tmp/graph.json" >&2; fail "cypher"; }
  python3 - "$tmp/graph.json" "$tmp/pg.json" "$1" <<'PY'
import base64, json, math, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
pg = json.load(open(sys.argv[2]))
stage = sys.argv[3]
bad = []
NAN, INF = float('nan'), float('inf')
def norm(v):
    """The cypher command's JSON: {"$float": "NaN"} and friends back into Python values."""
    if isinstance(v, dict) and len(v) == 1:
        (k, x), = v.items()
        if k == '$float': return float(x)
        if k == '$bytes': return ('bytes', base64.b64decode(x))
    if isinstance(v, list): return [norm(e) for e in v]
    return v
def same(a, b):
    if isinstance(a, float) or isinstance(b, float):
        if not (isinstance(a, float) and isinstance(b, float)): return False
        if math.isnan(a) or math.isnan(b): return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) == type(b) and a == b
big = '1' + '0' * 400
S = 'STRING NOT NULL'
want = {
  1: {'id': 1, 'd': 'infinity', 'ts': 'infinity', 'tstz': 'infinity', 'n': 'NaN', 'nf': NAN, 'f8': NAN, 'f4': NAN,
      'ip': '192.168.1.5/24', 'cn': '10.0.0.0/8', 'bt': '1010', 'vb': '101', 'comp': '(1,x)',
      'md': ['[1,2]', '[3,null]'], 'arrn': [1, 3], 'moods': ['sad', 'happy'], 'ba': ('bytes', b'\x00\xff'),
      'u': 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 't': '23:59:59.999999', 'ttz': '12:00:00+05:30',
      'j.a.b': 2, 'j.a.b~2': 1, 'j.big': '12345678901234567890', 'j.huge': big, 'j.sub': 1.5e-320,
      'j.ints': [9007199254740993, 1], 'j.mix': [1.0, 2.5], 'j.neg': 0, 'j.pi': 3.141592653589793,
      'js.x': 2, 'js.s': '\U0001F600 \ufffd', 'js.k\ufffd': 'a\x00b',
      'fa': [NAN, INF, -INF, -0.0, 1.7976931348623157e308, 5e-324], 'na': [1.5, NAN],
      'ds': ['infinity', '-infinity', '4713-01-01 BC']},
  2: {'id': 2, 'd': '-infinity', 'ts': '-infinity', 'tstz': '-infinity', 'n': 'Infinity', 'nf': big, 'f8': -INF,
      'f4': INF, 'ip': '::1/128', 'cn': '::/0', 'bt': '0000', 'vb': '', 'comp': '(,)', 'md': ['[[1]]'],
      'arrn': [], 'moods': [], 'ba': ('bytes', b''), 'u': '00000000-0000-0000-0000-000000000000',
      't': '24:00:00', 'ttz': '00:00:00-15:59', 'j': big, 'js': '12345678901234567890', 'fa': [],
      'na': ['1.5', big], 'ds': []},
  3: {'id': 3, 'n': '123456789012345678901234567890.123456789', 'nf': 1.2345678901234568e+29,
      'f8': 1.7976931348623157e308, 'f4': 3.4e38, 'ip': '2001:db8::1/128', 'cn': '2001:db8::/32', 'bt': '1111',
      'vb': '1' * 100, 'comp': '(3,"a,""b""")', 'md': ['[null,null]', '[null,null]'],
      'arrn': [-2147483648, 2147483647], 'moods': ['ok'], 'ba': ('bytes', b'\xde\xad\xbe\xef'),
      'u': 'ffffffff-ffff-ffff-ffff-ffffffffffff', 't': '00:00:00', 'ttz': '24:00:00-15:59', 'fa': [-0.0]},
  4: {'id': 4, 'n': '-0.000000000000000000000000000001', 'nf': 0.0, 'f8': 5e-324, 'f4': -1e-45, 'ip': '0.0.0.0/32',
      'cn': '0.0.0.0/0', 'bt': '0001', 'vb': '1', 'comp': '(-1,"")', 'md': [], 'arrn': [],
      'moods': ['happy', 'sad', 'ok'], 'ba': ('bytes', b'\xff'), 'u': 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
      't': '12:34:56.789', 'ttz': '00:00:00+00'},
  5: {'id': 5, 'j' + '.a' * 32: '{"a":' * 8 + '1' + '}' * 8, 'js': '[' * 3000 + 'true' + ']' * 3000},
  6: {'id': 6, 'j': '[' * 5000 + '1' + ']' * 5000},
}
temporal = {
  1: {'d': ['infinity', S], 'ts': ['infinity', S], 'tstz': ['infinity', S]},
  2: {'d': ['-infinity', S], 'ts': ['-infinity', S], 'tstz': ['-infinity', S]},
  3: {'d': ['-4712-01-01', 'DATE NOT NULL'], 'ts': ['-4712-01-01T00:00:00.000001', 'LOCAL DATETIME NOT NULL'],
      'tstz': ['+294276-12-31T23:59:59.999999Z', 'ZONED DATETIME NOT NULL']},
  4: {'d': ['+5874897-12-31', 'DATE NOT NULL'], 'ts': ['+294276-12-31T23:59:59.999999', 'LOCAL DATETIME NOT NULL'],
      'tstz': ['-4712-01-01T00:00:00Z', 'ZONED DATETIME NOT NULL']},
}
if stage == 'updated':
    want[2].update({'j.a.b': 2, 'j.a.b~2': 1, 'j.a.b~2~2': 3})
    del want[2]['j']
    want[4]['md'] = ['[[1,null]]', '[[null,4]]']
    want[4]['d'] = 'infinity'
    temporal[4]['d'] = ['infinity', S]
    want[6] = {'id': 6, 'j.l': [-9223372036854775808, 9223372036854775807], 'j.w': '[9223372036854775808]'}
got = {r['id']: r for r in rows}
if sorted(got) != sorted(want):
    bad.append('ids %s, want %s' % (sorted(got), sorted(want)))
for i, w in want.items():
    r = got.get(i)
    if r is None: continue
    p = {k: norm(v) for k, v in r['p'].items() if not k.startswith('_p2n_')}
    w = dict(w)
    if i <= 4:
        w['m'], w['iv'] = pg[str(i)]
    if i in temporal:
        for k, tv in temporal[i].items():
            if r['t'][k] != tv: bad.append('row %d %s: %r, want %r' % (i, k, r['t'][k], tv))
            p.pop(k, None)
            w.pop(k, None)
    for k in sorted(set(p) | set(w)):
        if k not in p: bad.append('row %d: no property %s (want %.80r)' % (i, k, w[k]))
        elif k not in w: bad.append('row %d: unexpected property %s = %.80r' % (i, k, p[k]))
        elif not same(p[k], w[k]): bad.append('row %d %s: %.120r, want %.120r' % (i, k, p[k], w[k]))
if bad:
    print('\n'.join(bad), file=sys.stderr)
    sys.exit(1)
PY
}
check_graph first || fail "values in Neo4j after the first sync"
verified "first sync"
# the client's environment changes no text form the encoder reads (floats, dates, intervals)
hostile='-c extra_float_digits=-3 -c DateStyle=SQL,DMY -c IntervalStyle=iso_8601'
PGOPTIONS=$hostile verified "verify with PGOPTIONS=$hostile"

# updates: new edge values on the same rows (the engine's upsert replaces every property)
psql -qX "$DATABASE_URL" -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
UPDATE edge SET j = '{"a": {"b": 2}, "a.b": 1, "a.b~2": 3}' WHERE id = 2;
UPDATE edge SET md = '{{{1,NULL}},{{NULL,4}}}', d = 'infinity' WHERE id = 4;
UPDATE edge SET j = '{"l": [-9223372036854775808, 9223372036854775807], "w": [9223372036854775808]}' WHERE id = 6;
SQL
PGOPTIONS=$hostile synced "after updates"
check_graph updated || fail "values in Neo4j after the updates"
verified "after updates"
# a full sync reads the same rows through the same conversions: nothing changes
run "$bin" full-sync
check_graph updated || fail "values in Neo4j after a full sync"
verified "after a full sync"
echo "ok: every edge value synced, read back and verified"
