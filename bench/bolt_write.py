#!/usr/bin/env python3
"""Benchmark peer of bench/bolt_write.c: the same 100,000 nodes in the same UNWIND batches, one
explicit transaction per batch, through the official Neo4j Python driver (from PyPI, installed in
.run/venv by `scripts/setup --with-bench`). Connection from NEO4J_URI, NEO4J_USER, NEO4J_PASSWORD.

usage: bolt_write.py [--nodes N] [--batch B] [--label L]
Prints one line: "python nodes=N batch=B seconds=S rate=R driver=VERSION".
"""
import argparse
import os
import re
import sys
import time

import neo4j
from neo4j import GraphDatabase


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=100000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--label", default="BenchBoltPy")
    a = ap.parse_args()
    if a.nodes <= 0 or a.batch <= 0 or not re.fullmatch(r"[A-Za-z0-9_]+", a.label):
        print("bolt_write.py: --nodes and --batch must be positive, --label alphanumeric", file=sys.stderr)
        return 2
    uri = os.environ.get("NEO4J_URI", "bolt://127.0.0.1:7687")
    auth = (os.environ.get("NEO4J_USER", "neo4j"), os.environ["NEO4J_PASSWORD"])
    drv = GraphDatabase.driver(uri, auth=auth)
    cleanup = f"MATCH (n:{a.label}) CALL (n) {{ DETACH DELETE n }} IN TRANSACTIONS OF 10000 ROWS"
    q = (f"UNWIND $rows AS r CREATE (n:{a.label} {{id: r.id, name: r.name, email: r.email, "
         f"score: r.score, active: r.active, tags: r.tags}})")
    with drv.session() as s:
        s.run(cleanup).consume()
        created = 0
        t0 = time.perf_counter()
        for start in range(0, a.nodes, a.batch):
            rows = [{"id": i, "name": f"user {i}", "email": f"user{i}@example.org",
                     "score": (i % 1000) / 10.0, "active": i % 3 != 0,
                     "tags": ["bench", "odd" if i % 2 else "even"]}
                    for i in range(start, min(a.nodes, start + a.batch))]
            with s.begin_transaction() as tx:
                created += tx.run(q, rows=rows).consume().counters.nodes_created
                tx.commit()
        secs = time.perf_counter() - t0
        count = s.run(f"MATCH (n:{a.label}) RETURN count(n) AS c").single()["c"]
        if created != a.nodes or count != a.nodes:
            print(f"bolt_write.py: expected {a.nodes} nodes, created {created}, found {count}", file=sys.stderr)
            return 1
        print(f"python nodes={a.nodes} batch={a.batch} seconds={secs:.3f} rate={a.nodes / secs:.0f} "
              f"driver={neo4j.__version__}")
        s.run(cleanup).consume()
    drv.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
