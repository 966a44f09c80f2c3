#!/usr/bin/env python3
"""Benchmark peer of bench/bolt_read.c: streams the same N-row result through the official Neo4j
Python driver and checks the sum. usage: bolt_read.py [--rows N] [--fetch-size F]
Prints one line: "python rows=N seconds=S rate=R driver=VERSION"."""
import argparse
import os
import sys
import time

import neo4j
from neo4j import GraphDatabase


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1000000)
    ap.add_argument("--fetch-size", type=int, default=1000)
    a = ap.parse_args()
    uri = os.environ.get("NEO4J_URI", "bolt://127.0.0.1:7687")
    auth = (os.environ.get("NEO4J_USER", "neo4j"), os.environ["NEO4J_PASSWORD"])
    drv = GraphDatabase.driver(uri, auth=auth)
    with drv.session(default_access_mode=neo4j.READ_ACCESS, fetch_size=a.fetch_size) as s:
        t0 = time.perf_counter()
        total = got = 0
        for rec in s.run("UNWIND range(1, $n) AS x RETURN x, 'name ' + toString(x) AS s", n=a.rows):
            total += rec[0]
            got += 1
        secs = time.perf_counter() - t0
    drv.close()
    if got != a.rows or total != a.rows * (a.rows + 1) // 2:
        print(f"bolt_read.py: wrong result: {got} rows, sum {total}", file=sys.stderr)
        return 1
    print(f"python rows={a.rows} seconds={secs:.3f} rate={a.rows / secs:.0f} driver={neo4j.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
