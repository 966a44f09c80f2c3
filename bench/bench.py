#!/usr/bin/env python3
"""make bench's driver: every figure of issue 9 measured side by side in one run, printed as ONE
table (figure, ours, reference, ratio, goal, met?) and written to bench/results/<date>.json with
the raw numbers, the ratios, the machine and the git commit.

scripts/bench starts a private PostgreSQL + Neo4j pair and runs this with the venv's Python
(.run/venv: psycopg + the official neo4j driver); it is not meant to run against shared servers
(it clears the whole graph and creates/drops databases).

Sections (each one's method is in docs/performance.md):
  peercheck   bench/peer/check_python_sync.sh: the Python loop really produces the civic graph
  capture     scripts/bench-capture (pgbench, interleaved rounds), parsed
  bolt        scripts/bench-bolt (our Bolt client vs the Python driver), parsed
  throughput  one backlog of civic changes drained by: pg2neo run | the raw UNWIND ceiling (the
              Python loop's hand-written statements, rows read and packed beforehand, untimed,
              replayed through our Bolt client by bench/ceiling.c) | bench/peer/python_sync.py;
              before each run the graph is rebuilt as it was before the changes and the same
              change log restored; runs interleaved over rounds
  fullsync    pg2neo full-sync vs the same rows written by the ceiling, interleaved
  idle        a daemon with an empty queue: CPU over N s, RSS; then RSS at backlogs 100k and 1M
  latency     commit-to-graph of probe rows under the civic generator at steady rates

Knobs (environment):
  P2N_BENCH_SCALE       civic scale of the full sync (default 5 = 51k rows; 100 = 1M rows)
  P2N_BENCH_TP_SCALE    civic scale of the throughput/latency/idle database (default 1 = 10k rows)
  P2N_BENCH_CHANGES     changes in the throughput backlog (5000)
  P2N_BENCH_ROUNDS, P2N_BENCH_WARMUP   throughput rounds (3) after untimed warm-up rounds (1)
  P2N_BENCH_FS_ROUNDS   full-sync rounds, alternating order (2)
  P2N_BENCH_FS_CHUNK    rows per full-sync transaction, pg2neo's and the ceiling's (5000)
  P2N_BENCH_BATCH       batch size of all contenders (1000)
  P2N_BENCH_RATES, P2N_BENCH_LAT_SECONDS, P2N_BENCH_LAT_WARMUP   latency ("500 2000", 20, 5)
  P2N_BENCH_LAT_DAEMON_WARMUP   seconds of unmeasured load before the first latency rate (30)
  P2N_BENCH_IDLE_SECONDS (30), P2N_BENCH_BACKLOGS ("100000 1000000"), P2N_BENCH_RSS_SECONDS (10)
  P2N_BENCH_CAPTURE ("3 6": rounds, seconds), P2N_BENCH_CAPTURE_VARIANTS ("none capture logical")
  P2N_BENCH_BOLT        scripts/bench-bolt arguments ("--rounds 3 --nodes 50000 --read-rows 100000")
  P2N_BENCH_PEER_CHECK  1: run the peer check first (default)
  P2N_BENCH_ONLY        a subset of the section names
  P2N_BENCH_PERF        1: perf record -g the daemon's first measured drain
  P2N_BENCH_PROFILE     1: an extra, untimed pg2neo drain sampled by Sampler (default); "full": also
                        an extra full sync; 0: none
  P2N_BENCH_SETTLE_SECONDS  pause for the servers before each throughput run (2)
"""
import argparse
import datetime
import io
import struct
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "bench", "peer"))
import neo4j                      # noqa: E402
import psycopg                    # noqa: E402
import python_sync as ps          # noqa: E402
from neo4j._codec.packstream.v1 import Packer                 # noqa: E402  the driver's own packer
try:                                                          # neo4j 6
    from neo4j._codec.hydration.bolt.v2 import HydrationHandler
except ImportError:                                           # neo4j 5
    from neo4j._codec.hydration.v2 import HydrationHandler

HOOKS = HydrationHandler().dehydration_hooks    # Bolt 5 temporals, as the driver sends them

SECTIONS = ["peercheck", "capture", "bolt", "throughput", "fullsync", "latency", "idle"]
CIVIC_TABLES = ["users", "sponsors", "governors", "sessions", "sittings", "bills", "sitting_bills",
                "arguments", "claims", "comments", "votes", "bookmarks"]
N_PROBES = 8


def knob(name, default):
    v = os.environ.get("P2N_BENCH_" + name)
    return default if v is None or v == "" else v


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    if n == 0:
        return None
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def pct(xs, p):
    """The p-th percentile (nearest rank) of xs."""
    xs = sorted(xs)
    if not xs:
        return None
    k = max(0, min(len(xs) - 1, int(-(-p * len(xs) // 100)) - 1))
    return xs[k]


class Sampler:
    """A sampling profile of where a pg2neo run spends its time, seen from the servers: one thread
    samples what pg2neo's PostgreSQL sessions are running (pg_stat_activity), another what Neo4j is
    running (SHOW TRANSACTIONS), each every few ms; shares are per server (the fraction of that
    server's samples in which it ran the statement), so PostgreSQL and Neo4j time can be compared.
    Only for an extra, untimed run: the sampling itself loads both servers."""

    def __init__(self, pg_url, drv, period=0.005):
        self.pg_url, self.drv, self.period = pg_url, drv, period
        self.counts = {"postgresql": {}, "neo4j": {}}
        self.n = {"postgresql": 0, "neo4j": 0}
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.th = []

    @staticmethod
    def norm(q):
        return re.sub(r"\s+", " ", q or "").strip()[:110]

    def note(self, side, keys):
        with self.lock:
            self.n[side] += 1
            for k in keys or ["(none of pg2neo's statements running)"]:
                self.counts[side][k] = self.counts[side].get(k, 0) + 1

    def run_pg(self):
        with psycopg.connect(self.pg_url, autocommit=True) as c:
            while not self.stop.is_set():
                self.note("postgresql", [self.norm(r[0]) for r in c.execute(
                    "SELECT query FROM pg_stat_activity WHERE application_name LIKE 'pg2neo%%'"
                    " AND state = 'active' AND pid <> pg_backend_pid()")])
                time.sleep(self.period)

    def run_neo(self):
        with self.drv.session() as s:
            while not self.stop.is_set():
                self.note("neo4j", [self.norm(r["q"]) or "(open transaction, no statement running: commit, or waiting)"
                                    for r in s.run("SHOW TRANSACTIONS YIELD currentQuery AS q"
                                                   " WHERE NOT q CONTAINS 'SHOW TRANSACTIONS' RETURN q")])
                time.sleep(self.period)

    def __enter__(self):
        self.stop.clear()
        self.th = [threading.Thread(target=self.run_pg), threading.Thread(target=self.run_neo)]
        for t in self.th:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.th:
            t.join()

    def top(self, k=8):
        out = {}
        for side in ("postgresql", "neo4j"):
            n = max(1, self.n[side])
            out[side] = {"samples": self.n[side],
                         "top": [{"share": round(v / n, 3), "what": w}
                                 for w, v in sorted(self.counts[side].items(), key=lambda x: -x[1])[:k]]}
        return out


class Bench:
    def __init__(self, a):
        self.a = a
        self.bin = os.path.join(TOP, "build", "release", "pg2neo")
        self.py = sys.executable
        self.admin_url = os.environ["DATABASE_URL"]
        base, _, q = self.admin_url.partition("?")
        self.url_of = lambda db: base.rsplit("/", 1)[0] + "/" + db + (("?" + q) if q else "")
        self.db_url = self.url_of("civic_bench")
        self.work = a.work
        self.mapping = os.path.join(self.work, "mapping.yaml")
        self.batch = int(knob("BATCH", "1000"))
        self.scale = knob("SCALE", "5")          # the full sync's database
        self.tp_scale = knob("TP_SCALE", "1")    # throughput, latency, idle
        self.res = {}
        self.env = dict(os.environ)
        self.env["DATABASE_URL"] = self.db_url
        self.drv = neo4j.GraphDatabase.driver(os.environ["NEO4J_URI"],
                                              auth=(os.environ["NEO4J_USER"], os.environ["NEO4J_PASSWORD"]))
        self.pg = None

    # ---- helpers ---------------------------------------------------------------------------------
    def q(self, sql, params=None):
        cur = self.pg.execute(sql, params)
        return cur.fetchall() if cur.description else None

    def q1(self, sql, params=None):
        return self.q(sql, params)[0][0]

    def cypher(self, stmt, **params):
        with self.drv.session() as s:
            return [r.data() for r in s.run(stmt, **params)]

    def clear_graph(self):
        self.cypher("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS")

    def psql(self, *args, url=None, **kw):
        env = dict(self.env)
        env["DATABASE_URL"] = url or self.db_url
        return subprocess.run(["bash", "-c", '. "$0/examples/civic/pgenv.sh" && exec psql -X -q -v ON_ERROR_STOP=1 "$@"',
                               TOP] + list(args), env=env, check=True, **kw)

    def pending(self):
        return self.q1("SELECT (SELECT count(*) FROM graph_sync_log) + (SELECT count(*) FROM graph_sync_status"
                       " WHERE sync_status IN ('pending', 'deleted', 'in_progress'))")

    def wait_drained(self, timeout, proc=None, poll=0.05):
        t_end = time.monotonic() + timeout
        while time.monotonic() < t_end:
            if self.pending() == 0:
                return True
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode} before the queue drained")
            time.sleep(poll)
        return False

    def daemon(self, log_name):
        f = open(os.path.join(self.work, log_name), "ab")
        return subprocess.Popen([self.bin, "run", "--config", self.mapping, "--http", "off"], env=self.env,
                                stdout=f, stderr=subprocess.STDOUT)

    @staticmethod
    def stop(proc, timeout=60):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return None

    @staticmethod
    def proc_status(pid):
        out = {}
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM"):
                    out[k] = int(v.split()[0])          # kB
        return out

    @staticmethod
    def proc_cpu(pid):
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    # ---- setup -----------------------------------------------------------------------------------
    def load_db(self, db, scale):
        """A fresh database with the civic schema and data at this scale, and pg2neo init'ed."""
        log(f"loading civic data at scale {scale} into a private database {db}")
        with psycopg.connect(self.admin_url, autocommit=True) as c:
            c.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
            c.execute(f"CREATE DATABASE {db}")
        url = self.url_of(db)
        self.psql("-f", os.path.join(TOP, "examples/civic/schema.sql"), url=url, stdout=subprocess.DEVNULL)
        t0 = time.monotonic()
        self.psql("-v", f"scale={scale}", "-f", os.path.join(TOP, "examples/civic/generate.sql"), url=url,
                  stdout=subprocess.DEVNULL)
        self.psql("-c", "VACUUM ANALYZE", url=url, stdout=subprocess.DEVNULL)
        secs = time.monotonic() - t0
        with psycopg.connect(url, autocommit=True) as c:
            # the latency probes: rows of their own, mapped as BenchProbe, changed only by the probe
            c.execute("CREATE TABLE bench_probe (id int PRIMARY KEY, seq bigint NOT NULL DEFAULT 0)")
            c.execute("INSERT INTO bench_probe SELECT g FROM generate_series(1, %s) g", (N_PROBES,))
            rows = sum(c.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in CIVIC_TABLES)
        subprocess.run([self.bin, "init", "--config", self.mapping], env=dict(self.env, DATABASE_URL=url),
                       check=True, stdout=subprocess.DEVNULL)
        log(f"{db}: {rows} rows, loaded in {secs:.1f} s")
        return rows

    def setup(self):
        with open(os.path.join(TOP, "examples/civic/mapping.yaml")) as f:
            m = f.read()
        m = re.sub(r"batchSizeLimit: \d+", f"batchSizeLimit: {self.batch}", m)
        m = m.replace("\nrelationships:", "\n  BenchProbe:\n    table: bench_probe\n\nrelationships:", 1)
        with open(self.mapping, "w") as f:
            f.write(m)
        self.clear_graph()
        self.rows_total = self.load_db("civic_bench", self.tp_scale)
        self.res["civic_rows"] = self.rows_total
        # civic_s0: the state before the backlog, from which the graph is rebuilt before each run
        with psycopg.connect(self.admin_url, autocommit=True) as c:
            c.execute("DROP DATABASE IF EXISTS civic_s0 WITH (FORCE)")
            c.execute("CREATE DATABASE civic_s0 TEMPLATE civic_bench")
        self.pg = psycopg.connect(self.db_url, autocommit=True)
        os.environ["DATABASE_URL"] = self.db_url       # for the in-process peer (the ceiling)

    def graph_load(self, db):
        """Clears the graph and loads database db into it with pg2neo full-sync (not timed)."""
        self.clear_graph()
        p = subprocess.run([self.bin, "full-sync", "--config", self.mapping, "--restart", "--json"],
                           env=dict(self.env, DATABASE_URL=self.url_of(db)), capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"pg2neo full-sync of {db} failed: {p.stdout}{p.stderr}")

    # ---- capture, bolt: the existing scripts, parsed ---------------------------------------------
    def capture(self):
        rounds, secs = knob("CAPTURE", "3 6").split()
        env = dict(os.environ, P2N_BENCH_VARIANTS=knob("CAPTURE_VARIANTS", "none capture logical"), PG2NEO=self.bin,
                   DATABASE_URL=self.admin_url)
        out = subprocess.run([os.path.join(TOP, "scripts/bench-capture"), rounds, secs], env=env, check=True,
                             capture_output=True, text=True).stdout
        sys.stderr.write(out)
        r = {"rounds": int(rounds), "seconds": int(secs), "output": out}
        for m in re.finditer(r"^\s+(\S+)\s+single-row UPDATE\s+(\d+) tps ([\d.]+)x\s+100k-row UPDATE ([\d.]+) s "
                             r"([\d.]+)x\s+100k no-op UPDATE ([\d.]+) s ([\d.]+)x", out, re.M):
            r[m.group(1)] = {"tps": float(m.group(2)), "tps_ratio": float(m.group(3)),
                             "bulk_s": float(m.group(4)), "bulk_ratio": float(m.group(5)),
                             "noop_s": float(m.group(6)), "noop_ratio": float(m.group(7))}
        m = re.search(r"wake-up poll: ([\d.]+) ms", out)
        r["wakeup_poll_ms"] = float(m.group(1)) if m else None
        self.res["capture"] = r

    def bolt(self):
        args = knob("BOLT", "--rounds 3 --nodes 50000 --read-rows 100000").split()
        out = subprocess.run([os.path.join(TOP, "scripts/bench-bolt")] + args, env=dict(os.environ), check=True,
                             capture_output=True, text=True).stdout
        sys.stderr.write(out)
        c = [float(x) for x in re.findall(r"pg2neo C client:\s+([\d.]+)", out)]
        p = [float(x) for x in re.findall(r"Python driver:\s+([\d.]+)", out)]
        self.res["bolt"] = {"args": args, "write_c": c[0], "write_py": p[0], "read_c": c[1], "read_py": p[1],
                            "output": out}
        self.clear_graph()

    # ---- sync throughput -------------------------------------------------------------------------
    def make_backlog(self):
        n = int(knob("CHANGES", "5000"))
        secs = max(2, -(-n // 1500))
        rate = -(-n // secs)
        log(f"making the backlog: civic generator, {rate}/s for {secs} s (target {n} changes)")
        self.q("TRUNCATE graph_sync_log, graph_sync_status")
        env = dict(self.env, CIVIC_SEED="42")
        out = subprocess.run([os.path.join(TOP, "examples/civic/changes.sh"), str(rate), str(secs), "4"], env=env,
                             check=True, capture_output=True, text=True).stdout
        self.q("DROP TABLE IF EXISTS bench_backlog")
        self.q("CREATE TABLE bench_backlog AS SELECT * FROM graph_sync_log")
        changes = self.q1("SELECT coalesce(sum(cardinality(entity_ids)), 0) FROM bench_backlog")
        self.restore_backlog()
        self.q("SELECT graph_sync_fold()")
        ent = self.q1("SELECT count(*) FROM graph_sync_status")
        m = re.search(r"^tps = ([\d.]+)", out, re.M)
        self.res["backlog"] = {"changes": changes, "entities": ent, "generator_tps": float(m.group(1)) if m else None,
                               "by_type": dict(self.q("SELECT entity_type, count(*) FROM graph_sync_status"
                                                      " GROUP BY 1 ORDER BY 1"))}
        log(f"backlog: {changes} changes -> {ent} entities")
        return ent

    def restore_backlog(self):
        """The same queue for every contender: the generator's change log as it was, nothing folded;
        then a moment for both servers to settle (dirty pages flushed, Neo4j's writes of the graph
        reload behind it) so that no run pays for the previous one's writes. The backlog appears in
        one transaction that also advances the version sequence, as new changes would, so that a
        daemon already running wakes up for it; returns the time of its commit."""
        self.backlog_prepare()
        return self.backlog_publish()

    def backlog_prepare(self):
        self.q("TRUNCATE graph_sync_log, graph_sync_status, graph_sync_failures")
        self.q("ANALYZE graph_sync_log, graph_sync_status")
        try:
            self.q("CHECKPOINT")
        except psycopg.Error:
            pass                                   # not a superuser: only the pause then
        time.sleep(float(knob("SETTLE_SECONDS", "2")))

    def backlog_publish(self):
        with self.pg.transaction():
            self.q("INSERT INTO graph_sync_log SELECT * FROM bench_backlog")
            self.q("UPDATE graph_sync_state SET folded_version = 0")
            self.q("SELECT nextval('graph_sync_version_seq')")
        return time.monotonic()

    def run_pg2neo_drain(self, tag, perf=False, sampler=None):
        """pg2neo run, started (connected, idle) before the backlog appears; timed from the
        backlog's commit until the queue is empty: wake-up, fold, claims, reads, writes, marks."""
        self.graph_load("civic_s0")
        self.q("TRUNCATE graph_sync_log, graph_sync_status, graph_sync_failures")
        b0 = self.q1("SELECT coalesce(max(id), 0) FROM graph_sync_batches")
        d = self.daemon(f"daemon-{tag}.log")
        time.sleep(1)
        self.backlog_prepare()
        if sampler:
            sampler.__enter__()
            time.sleep(0.2)
        cpu0 = self.proc_cpu(d.pid)
        t0 = self.backlog_publish()
        pr = None
        if perf:
            pr = subprocess.Popen(["perf", "record", "-g", "-F", "499", "-p", str(d.pid), "-o",
                                   os.path.join(self.work, "perf-daemon.data")],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # polled every 10 ms: the end of a drain of well under a second is seen within 1-2% of it
        # (the ceiling times itself; a 50 ms poll added 25 ms on average to pg2neo's time)
        ok = self.wait_drained(600, d, poll=0.01)
        secs = time.monotonic() - t0
        if sampler:
            sampler.__exit__()
        st = self.proc_status(d.pid)
        cpu = self.proc_cpu(d.pid) - cpu0        # during the drain only (start-up excluded)
        if pr:
            pr.send_signal(signal.SIGINT)
            pr.wait()
        self.stop(d)
        failed = self.q1("SELECT count(*) FROM graph_sync_status WHERE sync_status = 'failed'")
        nb, ne = self.q("SELECT count(*), coalesce(sum(total_entities), 0) FROM graph_sync_batches WHERE id > %s",
                        (b0,))[0]
        if not ok:
            raise RuntimeError("pg2neo did not drain the backlog within 600 s")
        return {"seconds": secs, "cpu_s": cpu, "rss_peak_kb": st.get("VmHWM"), "failed": failed,
                "batches": nb, "entities_written": int(ne)}

    def run_peer_drain(self, tag):
        self.graph_load("civic_s0")
        self.restore_backlog()
        t0 = time.monotonic()
        p = subprocess.run([self.py, os.path.join(TOP, "bench/peer/python_sync.py"), "--drain", "--batch",
                            str(self.batch), "--no-constraints"], env=self.env, capture_output=True, text=True)
        wall = time.monotonic() - t0
        if p.returncode != 0:
            raise RuntimeError(f"python_sync failed: {p.stdout}{p.stderr}")
        m = re.search(r"seconds=([\d.]+)", p.stdout)
        left = self.pending()
        return {"seconds": float(m.group(1)), "wall_s": wall, "output": p.stdout.strip(), "left": left}

    def peer(self, db="civic_bench"):
        os.environ["DATABASE_URL"] = self.url_of(db)
        args = argparse.Namespace(batch=self.batch, sync_schema="public", table_schema="public", label_prefix="",
                                  lease=60.0, max_attempts=3, backoff=1.0, verbose=False)
        return ps.Peer(args)

    @staticmethod
    def pack(value):
        b = io.BytesIO()
        Packer(b).pack(value, dehydration_hooks=HOOKS)
        return b.getvalue()

    def ceiling_append(self, f, p, work):
        """Appends one batch (the statements Peer.write would run, with packed parameters) to the
        ceiling's batch file."""
        stmts = []
        for et, (ups, dels) in work.items():
            if dels:
                stmts.append((p.cy[et]["delete"], dels))
            if ups:
                stmts.extend((q, ups) for q in p.cy[et]["upsert"])
        f.write(struct.pack(">I", len(stmts)))
        for q, rows in stmts:
            qb, pb = q.encode(), self.pack({"rows": rows})
            f.write(struct.pack(">I", len(qb)) + qb + struct.pack(">I", len(pb)) + pb)

    def ceiling_run(self, path):
        """Runs build/release/ceiling over a batch file: only the Neo4j writes are timed."""
        out = subprocess.run([os.path.join(TOP, "build/release/ceiling"), path], env=self.env, check=True,
                             capture_output=True, text=True).stdout
        kv = dict(x.split("=", 1) for x in out.split()[1:])
        os.unlink(path)
        return {"seconds": float(kv["seconds"]), "client_cpu_s": float(kv["cpu"]), "batches": int(kv["batches"]),
                "statements": int(kv["statements"]), "nodes_created": int(kv["nodes_created"]),
                "rels_created": int(kv["rels_created"])}

    def run_ceiling_drain(self, tag):
        """The raw ceiling: the backlog's rows read and encoded beforehand (untimed) into the peer's
        UNWIND statements, batches of the same size in change order; then bench/ceiling.c writes
        them through our Bolt client, timed."""
        self.graph_load("civic_s0")
        self.restore_backlog()
        self.q("SELECT graph_sync_fold()")
        items = self.q("SELECT entity_type, entity_id, version, op, attempts FROM graph_sync_status"
                       " WHERE sync_status IN ('pending', 'deleted') AND entity_id <> '*'"
                       " ORDER BY next_attempt_at, version")
        p = self.peer()
        path = os.path.join(self.work, "ceiling.bin")
        with open(path, "wb") as f:
            f.write(b"P2NCEIL1")
            for i in range(0, len(items), self.batch):
                by_type = {}
                for it in items[i:i + self.batch]:
                    by_type.setdefault(it[0], []).append(it)
                self.ceiling_append(f, p, {et: p.encode(et, its) for et, its in by_type.items()})
        p.close()
        r = self.ceiling_run(path)
        r["entities"] = len(items)
        return r

    def throughput(self):
        ent = self.make_backlog()
        rounds = int(knob("ROUNDS", "3"))
        warm = int(knob("WARMUP", "1"))
        runs = []
        perf = knob("PERF", "0") == "1"
        for r in range(-warm, rounds):
            # interleaved; the order rotates so that no contender always runs first
            order = ["pg2neo", "ceiling", "peer"]
            order = order[r % 3:] + order[:r % 3]
            rr = {"warmup": r < 0}
            for who in order:
                log(f"throughput {'warm-up' if r < 0 else 'round'} {r + 1}: {who}")
                if who == "pg2neo":
                    rr[who] = self.run_pg2neo_drain(f"tp{r}", perf=perf and r == 0)
                    if rr[who]["failed"]:
                        raise RuntimeError(f"pg2neo left {rr[who]['failed']} entities failed")
                elif who == "ceiling":
                    rr[who] = self.run_ceiling_drain(f"tp{r}")
                else:
                    rr[who] = self.run_peer_drain(f"tp{r}")
                log(f"  {who}: {rr[who]['seconds']:.2f} s = {ent / rr[who]['seconds']:.0f} entities/s")
            rr["ratio_ceiling"] = rr["ceiling"]["seconds"] / rr["pg2neo"]["seconds"]
            rr["ratio_peer"] = rr["peer"]["seconds"] / rr["pg2neo"]["seconds"]
            runs.append(rr)
        allruns, runs = runs, [x for x in runs if not x["warmup"]]
        self.res["throughput"] = {
            "entities": ent, "batch": self.batch, "rounds": allruns,
            "pg2neo_rate": ent / median([x["pg2neo"]["seconds"] for x in runs]),
            "ceiling_rate": ent / median([x["ceiling"]["seconds"] for x in runs]),
            "peer_rate": ent / median([x["peer"]["seconds"] for x in runs]),
            "ratio_ceiling": median([x["ratio_ceiling"] for x in runs]),
            "ratio_peer": median([x["ratio_peer"] for x in runs]),
            "ceiling_client_cpu_share": median([x["ceiling"]["client_cpu_s"] / x["ceiling"]["seconds"] for x in runs]),
        }
        if perf:
            self.perf_report()
        if knob("PROFILE", "1") in ("1", "full"):
            log("throughput: an extra pg2neo drain, sampled (not timed)")
            smp = Sampler(self.db_url, self.drv)
            for i in range(int(knob("PROFILE_RUNS", "3"))):
                self.run_pg2neo_drain(f"profile{i}", sampler=smp)
            self.res["throughput"]["profile"] = smp.top()

    def perf_report(self):
        data = os.path.join(self.work, "perf-daemon.data")
        if not os.path.exists(data):
            return
        out = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children", "--percent-limit", "1.5",
                              "--sort", "dso,symbol", "-g", "none"], capture_output=True, text=True).stdout
        self.res["perf_daemon_top"] = [l for l in out.splitlines() if l.strip() and not l.startswith("#")][:40]

    # ---- full sync -------------------------------------------------------------------------------
    def entity_ids_sql(self):
        return ("SELECT 'User', id::text FROM users UNION ALL SELECT 'Sponsor', id::text FROM sponsors"
                " UNION ALL SELECT 'Governor', id::text FROM governors UNION ALL SELECT 'Session', id::text FROM sessions"
                " UNION ALL SELECT 'Sitting', id::text FROM sittings UNION ALL SELECT 'Bill', id::text FROM bills"
                " UNION ALL SELECT 'Argument', id::text FROM arguments UNION ALL SELECT 'Claim', id::text FROM claims"
                " UNION ALL SELECT 'Comment', id::text FROM comments"
                " UNION ALL SELECT 'AgendaItem', jsonb_build_array(sitting_id::text, bill_id::text)::text FROM sitting_bills"
                " UNION ALL SELECT 'Vote', jsonb_build_array(user_id::text, bill_id::text)::text FROM votes"
                " UNION ALL SELECT 'Bookmark', jsonb_build_array(user_id::text, bill_id::text)::text FROM bookmarks")

    def run_ceiling_full(self, chunk):
        """Every civic row as the ceiling's UNWIND statements in chunks of the full sync's size (one
        type per chunk, one transaction each), read and encoded untimed into a batch file; then
        bench/ceiling.c writes them, timed."""
        self.clear_graph()
        p = self.peer("civic_full")
        rows = 0
        path = os.path.join(self.work, "ceiling-full.bin")
        with psycopg.connect(self.url_of("civic_full")) as c, c.cursor(name="ids") as cur, open(path, "wb") as f:
            f.write(b"P2NCEIL1")
            cur.itersize = chunk
            cur.execute(self.entity_ids_sql())
            buf = []
            last = None

            def flush():
                nonlocal rows
                if buf:
                    items = [(et, eid, 1, "upsert", 0) for et, eid in buf]
                    self.ceiling_append(f, p, {buf[0][0]: p.encode(buf[0][0], items)})
                    rows += len(buf)
                    buf.clear()
            for et, eid in cur:
                if et != last or len(buf) >= chunk:
                    flush()
                    last = et
                buf.append((et, eid))
            flush()
        p.close()
        r = self.ceiling_run(path)
        r["rows"] = rows
        return r

    def run_pg2neo_full(self, chunk, sampler=None):
        self.clear_graph()
        if sampler:
            sampler.__enter__()
        t0 = time.monotonic()
        p = subprocess.run([self.bin, "full-sync", "--config", self.mapping, "--restart", "--json", "--batch",
                            str(chunk)], env=dict(self.env, DATABASE_URL=self.url_of("civic_full")),
                           capture_output=True, text=True)
        secs = time.monotonic() - t0
        if sampler:
            sampler.__exit__()
        if p.returncode != 0:
            raise RuntimeError(f"pg2neo full-sync failed: {p.stdout}{p.stderr}")
        try:
            summary = json.loads(p.stdout)
        except ValueError:
            summary = p.stdout.strip()[-4000:]
        return {"seconds": secs, "summary": summary}

    def fullsync(self):
        chunk = int(knob("FS_CHUNK", "5000"))   # pg2neo full-sync's default chunk, for both
        rounds = int(knob("FS_ROUNDS", "2"))
        nrows = self.load_db("civic_full", self.scale)
        runs = []
        for r in range(rounds):
            rr = {}
            for who in ("ceiling", "pg2neo") if r % 2 == 0 else ("pg2neo", "ceiling"):
                log(f"full sync round {r + 1}: {who}")
                rr[who] = self.run_ceiling_full(chunk) if who == "ceiling" else self.run_pg2neo_full(chunk)
                log(f"  {who}: {rr[who]['seconds']:.2f} s = {nrows / rr[who]['seconds']:.0f} rows/s")
            rr["ratio"] = rr["ceiling"]["seconds"] / rr["pg2neo"]["seconds"]
            runs.append(rr)
        if knob("PROFILE", "1") == "full":
            log("full sync: an extra pg2neo run, sampled (not timed)")
            smp = Sampler(self.url_of("civic_full"), self.drv)
            self.run_pg2neo_full(chunk, sampler=smp)
            fs_profile = smp.top()
        with psycopg.connect(self.admin_url, autocommit=True) as c:
            c.execute("DROP DATABASE IF EXISTS civic_full WITH (FORCE)")
        self.res["fullsync"] = {
            "rows": nrows, "scale": self.scale, "chunk": chunk, "rounds": runs,
            "pg2neo_rate": nrows / median([x["pg2neo"]["seconds"] for x in runs]),
            "ceiling_rate": nrows / median([x["ceiling"]["seconds"] for x in runs]),
            "ratio": median([x["ratio"] for x in runs]),
            "ceiling_client_cpu_share": median([x["ceiling"]["client_cpu_s"] / x["ceiling"]["seconds"] for x in runs]),
        }
        if knob("PROFILE", "1") == "full":
            self.res["fullsync"]["profile"] = fs_profile

    # ---- idle CPU, RSS at backlogs ---------------------------------------------------------------
    def idle(self):
        secs = float(knob("IDLE_SECONDS", "30"))
        self.graph_load("civic_bench")
        self.q("SELECT graph_sync_fold()")
        self.q("DELETE FROM graph_sync_status WHERE sync_status IN ('pending', 'deleted', 'failed')")
        d = self.daemon("daemon-idle.log")
        time.sleep(3)                      # connected, first sweep done
        if d.poll() is not None:
            raise RuntimeError("the daemon exited")
        c0, t0 = self.proc_cpu(d.pid), time.monotonic()
        time.sleep(secs)
        c1, t1 = self.proc_cpu(d.pid), time.monotonic()
        st = self.proc_status(d.pid)
        self.stop(d)
        r = {"seconds": t1 - t0, "cpu_s": c1 - c0, "cpu_pct": 100 * (c1 - c0) / (t1 - t0),
             "rss_kb": {"0": {"rss": st["VmRSS"], "hwm": st["VmHWM"]}}}
        win = float(knob("RSS_SECONDS", "10"))
        for n in [int(x) for x in knob("BACKLOGS", "100000 1000000").split()]:
            log(f"RSS with a backlog of {n}")
            # n queued Comment ids (the real comments among them are upserts, the rest deletes),
            # folded beforehand so that the daemon starts on the backlog at once
            self.q("INSERT INTO graph_sync_log (version, op, entity_type, entity_ids)"
                   " SELECT nextval('graph_sync_version_seq'), 'u', 'Comment', array_agg(g::text)"
                   " FROM generate_series(1, %s) g GROUP BY g / 10000", (n,))
            self.q("SELECT graph_sync_fold()")
            queued = self.pending()
            d = self.daemon(f"daemon-rss{n}.log")
            peak = 0
            t_end = time.monotonic() + win
            while time.monotonic() < t_end and d.poll() is None:
                peak = max(peak, self.proc_status(d.pid)["VmRSS"])
                time.sleep(0.1)
            st = self.proc_status(d.pid)
            left = self.pending()
            self.stop(d)
            r["rss_kb"][str(n)] = {"rss": peak, "hwm": st["VmHWM"], "queued": queued,
                                   "drained_in_window": queued - left, "window_s": win}
            self.q("DELETE FROM graph_sync_status WHERE sync_status IN ('pending', 'deleted', 'in_progress', 'failed')")
            self.q("VACUUM ANALYZE graph_sync_status, graph_sync_log")   # no bloat left for what follows
        self.res["idle"] = r

    # ---- commit-to-graph latency -----------------------------------------------------------------
    def latency_at(self, rate, secs):
        """Probe rows updated at a steady rate among the generator's load; a poller reads them from
        Neo4j every few ms; latency = first poll that shows the new value - the commit's return."""
        probe_rate, poll_s = 40.0, 0.005
        seq0 = self.q1("SELECT max(seq) FROM bench_probe") + 1
        sent = {}            # seq -> (probe id, t_commit)
        seen = {}            # seq -> t_seen
        unseen = {}          # seq -> probe id, not yet seen in Neo4j
        stop = threading.Event()
        lock = threading.Lock()

        def prober():
            with psycopg.connect(self.db_url, autocommit=True) as c:
                i = 0
                t_next = time.monotonic()
                while not stop.is_set():
                    seq = seq0 + i
                    pid = i % N_PROBES + 1
                    c.execute("UPDATE bench_probe SET seq = %s WHERE id = %s", (seq, pid))
                    with lock:
                        sent[seq] = (pid, time.monotonic())
                        unseen[seq] = pid
                    i += 1
                    t_next += 1 / probe_rate
                    time.sleep(max(0.0, t_next - time.monotonic()))

        polls = [0]

        def poller():
            with self.drv.session() as s:
                while True:
                    rows = list(s.run("MATCH (p:BenchProbe) RETURN p.id AS id, p.seq AS seq"))
                    now = time.monotonic()
                    polls[0] += 1
                    top = {r["id"]: r["seq"] for r in rows}
                    with lock:
                        for seq, pid in list(unseen.items()):
                            if top.get(pid, -1) >= seq:
                                seen[seq] = now
                                del unseen[seq]
                        done = len(seen) == len(sent)
                    if stop.is_set() and (done or time.monotonic() > stop.deadline):
                        break
                    time.sleep(poll_s)

        stop.deadline = 0
        # the generator runs WARM seconds before the probes start, so that they see the steady state
        warm = float(knob("LAT_WARMUP", "5"))
        gen = subprocess.Popen([os.path.join(TOP, "examples/civic/changes.sh"), str(rate), str(int(secs + warm)), "4"],
                               env=dict(self.env, CIVIC_SEED="43"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
        time.sleep(warm)
        t_begin = time.monotonic()
        th = [threading.Thread(target=prober), threading.Thread(target=poller)]
        for t in th:
            t.start()
        gen_out = gen.communicate()[0]
        stop.deadline = time.monotonic() + 30
        stop.set()
        for t in th:
            t.join()
        m = re.search(r"^tps = ([\d.]+)", gen_out, re.M)
        lat = sorted(1000 * (seen[s] - sent[s][1]) for s in seen)
        return {"target_rate": rate, "seconds": secs, "generator_tps": float(m.group(1)) if m else None,
                "generator_ok": gen.returncode == 0, "warmup_s": warm, "probes": len(sent), "seen": len(seen),
                "p50_ms": pct(lat, 50), "p90_ms": pct(lat, 90), "p99_ms": pct(lat, 99), "max_ms": lat[-1] if lat else None,
                "probe_rate": probe_rate, "poll_sleep_ms": poll_s * 1000, "polls": polls[0],
                "poll_period_ms": 1000 * (time.monotonic() - t_begin) / max(1, polls[0])}

    def latency(self):
        secs = float(knob("LAT_SECONDS", "20"))
        self.graph_load("civic_bench")
        d = self.daemon("daemon-latency.log")
        try:
            if not self.wait_drained(120, d):
                raise RuntimeError("the queue did not drain before the latency run")
            # a warm-up load first (not measured): the daemon's first batches after a graph reload
            # run on cold plans and caches and took seconds each in trial runs
            warm = int(knob("LAT_DAEMON_WARMUP", "30"))
            rates = [int(x) for x in knob("RATES", "500 2000").split()]
            if warm > 0 and rates:
                log(f"latency: warm-up load, {rates[0]}/s for {warm} s (not measured)")
                subprocess.run([os.path.join(TOP, "examples/civic/changes.sh"), str(rates[0]), str(warm), "4"],
                               env=dict(self.env, CIVIC_SEED="44"), capture_output=True, text=True)
                self.wait_drained(120, d)
            out = {}
            for rate in rates:
                log(f"latency at {rate} changes/s for {secs:.0f} s")
                out[str(rate)] = self.latency_at(rate, secs)
                log(f"  {out[str(rate)]}")
                self.wait_drained(120, d)
            st = self.proc_status(d.pid)
            out["daemon_rss_hwm_kb"] = st["VmHWM"]
        finally:
            self.stop(d)
        self.res["latency"] = out

    # ---- the table -------------------------------------------------------------------------------
    def table(self):
        rows = []

        def row(fig, ours, ref, ratio, goal, met):
            rows.append({"figure": fig, "ours": ours, "reference": ref, "ratio": ratio, "goal": goal, "met": met})
        r = self.res
        for v, c in r.get("capture", {}).items():
            if not isinstance(c, dict) or v == "none" or "none" not in r["capture"]:
                continue
            n = r["capture"]["none"]
            mode = "" if v == "capture" else f" ({v})"
            row(f"capture{mode}: single-row UPDATE, 8 clients", f"{c['tps']:.0f} tps",
                f"{n['tps']:.0f} tps (no capture)", c["tps_ratio"], ">= 0.90x", c["tps_ratio"] >= 0.90)
            row(f"capture{mode}: 100k-row UPDATE", f"{c['bulk_s']:.3f} s", f"{n['bulk_s']:.3f} s (no capture)",
                c["bulk_ratio"], "<= 1.50x", c["bulk_ratio"] <= 1.5)
        if "throughput" in r:
            t = r["throughput"]
            row(f"sync throughput, civic backlog ({t['entities']} entities)", f"{t['pg2neo_rate']:.0f} ent/s",
                f"{t['ceiling_rate']:.0f} ent/s (raw UNWIND ceiling)", t["ratio_ceiling"], ">= 0.80x",
                t["ratio_ceiling"] >= 0.8)
            row("sync throughput vs the Python loop", f"{t['pg2neo_rate']:.0f} ent/s",
                f"{t['peer_rate']:.0f} ent/s (python_sync.py)", t["ratio_peer"], ">= 3.00x", t["ratio_peer"] >= 3)
        if "latency" in r:
            for rate, l in r["latency"].items():
                if not isinstance(l, dict):
                    continue
                ok = l["p99_ms"] is not None and l["p99_ms"] < 250 and l["seen"] == l["probes"]
                row(f"commit-to-graph at {rate}/s (achieved {l['generator_tps'] or 0:.0f}/s)",
                    f"p50 {l['p50_ms']:.0f} / p99 {l['p99_ms']:.0f} / max {l['max_ms']:.0f} ms" if l["p99_ms"] is not None
                    else "no samples", "seed: < 1000 ms", None,
                    "p99 < 250 ms" if rate == "500" else "(report)", ok if rate == "500" else None)
        if "fullsync" in r:
            f = r["fullsync"]
            row(f"full sync, civic {f['rows']} rows", f"{f['pg2neo_rate']:.0f} rows/s",
                f"{f['ceiling_rate']:.0f} rows/s (raw UNWIND ceiling)", f["ratio"], ">= 0.80x", f["ratio"] >= 0.8)
        if "idle" in r:
            i = r["idle"]
            row(f"daemon idle CPU over {i['seconds']:.0f} s", f"{i['cpu_pct']:.2f}% of a core", "", None, "~0% (< 1%)",
                i["cpu_pct"] < 1.0)
            for n, v in i["rss_kb"].items():
                row(f"daemon RSS, backlog {int(n):,}", f"{max(v['rss'], v['hwm']) / 1024:.1f} MB (peak)", "", None,
                    "< 32 MB", max(v["rss"], v["hwm"]) < 32 * 1024)
        if "bolt" in r:
            b = r["bolt"]
            row("Bolt client: write (UNWIND batches)", f"{b['write_c']:.0f} nodes/s", f"{b['write_py']:.0f} nodes/s (Python driver)",
                b["write_c"] / b["write_py"], ">= 1.00x", b["write_c"] >= b["write_py"])
            row("Bolt client: read (streamed rows)", f"{b['read_c']:.0f} rows/s", f"{b['read_py']:.0f} rows/s (Python driver)",
                b["read_c"] / b["read_py"], ">= 1.00x", b["read_c"] >= b["read_py"])
        return rows


def fmt_table(rows):
    head = ["figure", "ours", "reference", "ratio", "goal", "met?"]
    cells = [[r["figure"], r["ours"], r["reference"], "" if r["ratio"] is None else f"{r['ratio']:.2f}x",
              r["goal"], {True: "yes", False: "NO", None: "-"}[r["met"]]] for r in rows]
    w = [max(len(x[i]) for x in cells + [head]) for i in range(len(head))]
    line = lambda c: "| " + " | ".join(s.ljust(w[i]) for i, s in enumerate(c)) + " |"
    return "\n".join([line(head), "|" + "|".join("-" * (x + 2) for x in w) + "|"] + [line(c) for c in cells])


def machine():
    def sh(*cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, cwd=TOP).stdout.strip()
        except OSError:
            return None
    cpu = None
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) // 1024
    return {"cores": os.cpu_count(), "cpu": cpu, "mem_mb": mem, "kernel": sh("uname", "-srm"),
            "loadavg_start": open("/proc/loadavg").read().split()[:3]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", required=True, help="scratch directory (logs, mapping, perf data)")
    ap.add_argument("--out", required=True, help="the JSON file to write")
    a = ap.parse_args()
    only = knob("ONLY", " ".join(SECTIONS)).split()
    b = Bench(a)
    t_start = time.monotonic()
    res = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
           "git": {"commit": subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                            cwd=TOP).stdout.strip(),
                   "dirty_paths": subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                                 capture_output=True, text=True, cwd=TOP).stdout.split("\n")[:50]},
           "machine": machine(),
           "config": {k: v for k, v in os.environ.items() if k.startswith("P2N_BENCH_")}}
    with b.drv.session() as s:
        res["machine"]["neo4j"] = s.run("CALL dbms.components() YIELD versions RETURN versions[0] AS v").single()["v"]
    res["machine"]["neo4j_driver_python"] = neo4j.__version__
    b.res = res
    try:
        if "peercheck" in only and knob("PEER_CHECK", "1") == "1":
            log("checking that the Python peer syncs the civic example correctly")
            p = subprocess.run(["bash", os.path.join(TOP, "bench/peer/check_python_sync.sh")], capture_output=True,
                               text=True, env=dict(os.environ, DATABASE_URL=b.admin_url))
            res["peer_check"] = {"ok": p.returncode == 0, "tail": p.stdout.splitlines()[-2:]}
            if p.returncode != 0:
                raise RuntimeError("bench/peer/check_python_sync.sh failed:\n" + p.stdout + p.stderr)
        if "capture" in only:
            log("capture overhead (scripts/bench-capture)")
            b.capture()
        b.setup()
        res["machine"]["postgresql"] = b.q1("SHOW server_version")
        for sec in ("bolt", "throughput", "fullsync", "latency", "idle"):
            if sec in only:
                log(f"== {sec}")
                getattr(b, sec)()
    finally:
        res["machine"]["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
        res["total_seconds"] = round(time.monotonic() - t_start, 1)
        try:
            res["table"] = b.table()
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as e:
            log(f"could not build the table from partial results: {e!r}")
            res["table"] = []
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        with open(a.out, "w") as f:
            json.dump(res, f, indent=1, default=str)
            f.write("\n")
        print_summary(res, a.out)
    return 0


def print_summary(res, out):
    m = res["machine"]
    print(f"pg2neo bench {res['date']}  commit {res['git']['commit'][:12]}  {m['cores']} cores {m['cpu']}, "
          f"{m['mem_mb']} MB, load {' '.join(m['loadavg_start'])} -> {' '.join(m['loadavg_end'])}, "
          f"{res['total_seconds']:.0f} s")
    print(fmt_table(res["table"]))
    print(f"raw numbers: {os.path.relpath(out, TOP)}")


if __name__ == "__main__":
    sys.exit(main())
