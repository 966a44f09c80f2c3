#!/usr/bin/env python3
"""The benchmark's peer: a hand-written PostgreSQL -> Neo4j sync loop for the civic example, the
way a careful engineer would write one with psycopg and the official Neo4j driver, against the
same queue pg2neo uses (sql/001_capture.sql: graph_sync_log folded into graph_sync_status by
graph_sync_fold()). make bench compares pg2neo's sync throughput with this loop's.

One iteration:
  1. fold the change log into graph_sync_status (graph_sync_fold(), when present);
  2. claim up to --batch pending/deleted entities: FOR UPDATE SKIP LOCKED, then in_progress with
     a lease (claimed_by, lease_until), committed -- several instances share the queue;
  3. read the claimed rows, one query per table (keys cast to the key type, so indexes are used);
  4. write everything in ONE Neo4j transaction: per entity type a batched UNWIND ... MERGE of the
     nodes (or join-table relationships), then per relationship kind an UNWIND that deletes the
     node's old relationships of that kind and MERGEs the current ones (FK columns, arrays of
     keys, arrays of values -> :Tag nodes); deletes (and soft deletes) DETACH DELETE;
  5. mark synced -- unless the entity changed meanwhile (its version moved on: back to pending);
     on an error, attempts+1 with exponential backoff, 'failed' after --max-attempts, a row in
     graph_sync_failures; a graph_sync_batches row per batch.
Writes are made monotonic with a _p2n_version property, as pg2neo does.

The graph model is written out below (CIVIC), as a hand-written loop would have it. Entity type
names come from graph_sync_captured_tables when it has rows for the civic tables, else from
CIVIC. --label-prefix puts every label under a prefix (tests share one Neo4j).

Connections: DATABASE_URL (or the PG* environment), NEO4J_URI, NEO4J_USER, NEO4J_PASSWORD.
usage: python_sync.py [--batch N] [--drain | --seconds S] [--label-prefix P] [--sync-schema S]
Prints one line: "python_sync entities=N batches=B seconds=S rate=R failed=F".
Exit status 0, 1 when a batch failed for good or a server is unreachable, 2 for bad usage.
"""
import argparse
import decimal
import json
import os
import re
import socket
import sys
import time
import uuid

import neo4j
import psycopg
from psycopg import sql
from psycopg.rows import dict_row
import psycopg.types.string


class FK:
    """A foreign-key column: (node)-[:TYPE]->(target), or (target)-[:TYPE]->(node) if reverse."""
    def __init__(self, column, rtype, target, reverse=False):
        self.column, self.rtype, self.target, self.reverse = column, rtype, target, reverse


class KeyArray(FK):
    """An array of target keys: one relationship per element."""


class ValueArray:
    """An array of scalars: (node)-[:TYPE]->(:Label {prop: element})."""
    def __init__(self, column, rtype, label, prop):
        self.column, self.rtype, self.label, self.prop = column, rtype, label, prop


class Node:
    """A table of nodes keyed by "id". Properties: every column but the relationship columns and
    those excluded, renamed as given; numeric columns in as_string stay exact as text; jsonb
    columns in as_map are flattened into <column>.<key> properties (other json stays a string)."""
    def __init__(self, entity, labels, key_type="uuid", soft_delete=None, rels=(), exclude=(),
                 rename=None, as_string=(), as_map=()):
        self.entity, self.labels, self.key_type = entity, labels, key_type
        self.soft_delete, self.rels = soft_delete, list(rels)
        self.exclude, self.rename = set(exclude), dict(rename or {})
        self.as_string, self.as_map = set(as_string), set(as_map)
        self.key_label = labels[0]      # the label the key is unique on


class Rel:
    """A join table: one relationship (from)-[:TYPE {props}]->(to) per row; key: the primary key's
    columns in order (the queue's entity id lists them in that order)."""
    def __init__(self, entity, rtype, frm, to, props, key):
        self.entity, self.rtype, self.frm, self.to, self.props = entity, rtype, frm, to, props
        self.key = key


# The civic graph, the same model as examples/civic/mapping.yaml (entity types, labels, types,
# properties, directions), written out by hand.
CIVIC = {
    "users": Node("User", ["User"], soft_delete="deleted_at", exclude=["email", "avatar"],
                  rename={"display_name": "name"}, as_map=["profile"],
                  rels=[FK("invited_by", "INVITED_BY", "users")]),
    "sponsors": Node("Sponsor", ["Sponsor", "Person"], rename={"full_name": "name"}),
    "governors": Node("Governor", ["Governor", "Person"], rename={"full_name": "name"}),
    "sessions": Node("Session", ["Session"], key_type="integer"),
    "sittings": Node("Sitting", ["Sitting"], key_type="bigint",
                     rels=[FK("session_id", "OF_SESSION", "sessions")]),
    "bills": Node("Bill", ["Bill"], as_string=["budget"],
                  rels=[FK("sponsor_id", "SPONSORED_BY", "sponsors"),
                        FK("governor_id", "SIGNED_BY", "governors"),
                        KeyArray("co_sponsors", "CO_SPONSORED_BY", "sponsors"),
                        ValueArray("tags", "TAGGED", "Tag", "name")]),
    "arguments": Node("Argument", ["Argument"], key_type="bigint",
                      rels=[FK("bill_id", "ABOUT", "bills"), FK("user_id", "MADE", "users", reverse=True)]),
    "claims": Node("Claim", ["Claim"], key_type="bigint",
                   rels=[FK("argument_id", "PART_OF", "arguments")]),
    "comments": Node("Comment", ["Comment"], key_type="bigint", soft_delete="deleted_at", exclude=["deleted_at"],
                     rels=[FK("user_id", "AUTHORED", "users", reverse=True), FK("bill_id", "ON", "bills"),
                           FK("parent_id", "REPLY_TO", "comments")]),
    "sitting_bills": Rel("AgendaItem", "ON_AGENDA", ("bill_id", "bills"), ("sitting_id", "sittings"),
                         {"position": "agenda_position"}, key=("sitting_id", "bill_id")),
    "votes": Rel("Vote", "VOTED", ("user_id", "users"), ("bill_id", "bills"), {"vote": "vote", "at": "voted_at"},
                 key=("user_id", "bill_id")),
    "bookmarks": Rel("Bookmark", "BOOKMARKED", ("user_id", "users"), ("bill_id", "bills"),
                     {"note": "note", "created_at": "created_at"}, key=("user_id", "bill_id")),
}
VERSION = "_p2n_version"


def q(name):
    """A backtick-quoted Cypher name."""
    return "`" + name.replace("`", "``") + "`"


def json_value(j):
    """A JSON value below a flattened map: scalars as they are, a list of scalars of one kind as a
    list (numbers as floats), anything else as compact JSON text."""
    if isinstance(j, (str, bool, int, float)):
        return j
    if isinstance(j, list) and j and all(isinstance(x, str) for x in j):
        return j
    if isinstance(j, list) and j and all(isinstance(x, bool) for x in j):
        return j
    if isinstance(j, list) and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in j):
        return [float(x) for x in j]
    return json.dumps(j, ensure_ascii=False, separators=(",", ":"))


def flatten(prefix, j, out, depth=0):
    """A jsonb value as properties prefix.key...: value (objects spread, nulls dropped)."""
    if j is None:
        return
    if isinstance(j, dict) and depth < 32:
        for k, v in j.items():
            flatten(f"{prefix}.{k}", v, out, depth + 1)
        return
    out[prefix] = json_value(j)


def to_neo(v):
    """A PostgreSQL value (as psycopg returns it) as a Neo4j property value."""
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, decimal.Decimal):
        return float(v)                 # numeric -> float, chosen explicitly
    if isinstance(v, (dict,)):
        return json.dumps(v, ensure_ascii=False, sort_keys=True)
    if isinstance(v, list):
        return [to_neo(x) for x in v if x is not None]
    if isinstance(v, memoryview):
        return bytes(v)
    return v                            # int, float, bool, str, bytes, date, datetime, None


class Peer:
    def __init__(self, args):
        self.a = args
        self.worker = f"python-peer-{socket.gethostname()}-{os.getpid()}"
        self.pg = psycopg.connect(os.environ.get("DATABASE_URL", ""), autocommit=True,
                                  options="-c TimeZone=UTC")
        # json and jsonb arrive as their text (a Neo4j property cannot hold a map)
        for t in ("json", "jsonb"):
            self.pg.adapters.register_loader(t, psycopg.types.string.TextLoader)
        uri = os.environ.get("NEO4J_URI", "bolt://127.0.0.1:7687")
        self.drv = neo4j.GraphDatabase.driver(
            uri, auth=(os.environ.get("NEO4J_USER", "neo4j"), os.environ["NEO4J_PASSWORD"]))
        self.drv.verify_connectivity()
        self.s = sql.Identifier(args.sync_schema)
        if not self.pg.execute("SELECT to_regclass(format('%%I.graph_sync_status', %s::text)) IS NOT NULL",
                               (args.sync_schema,)).fetchone()[0]:
            raise LookupError(f'no graph_sync_status in schema "{args.sync_schema}" (run pg2neo init)')
        self.tables = {}        # entity_type -> (table schema, table name, model)
        self.has_fold = self.pg.execute(
            "SELECT to_regprocedure(format('%%I.graph_sync_fold()', %s::text)) IS NOT NULL",
            (args.sync_schema,)).fetchone()[0]
        self._load_tables()
        self._build_cypher()

    def L(self, label):
        return q(self.a.label_prefix + label)

    def _load_tables(self):
        rows = []
        if self.pg.execute("SELECT to_regclass(format('%%I.graph_sync_captured_tables', %s::text))",
                           (self.a.sync_schema,)).fetchone()[0]:
            rows = self.pg.execute(sql.SQL("SELECT table_schema, table_name, entity_type FROM {}.graph_sync_captured_tables")
                                   .format(self.s)).fetchall()
        captured = {name: (schema, et) for schema, name, et in rows if name in CIVIC}
        for name, model in CIVIC.items():
            schema, et = captured.get(name, (self.a.table_schema, model.entity))
            self.tables[et] = (schema, name, model)

    # ---- Cypher, built once from the model -----------------------------------------------------
    def _build_cypher(self):
        self.cy = {}
        for et, (_, name, m) in self.tables.items():
            if isinstance(m, Node):
                kl = self.L(m.key_label)
                extra = "".join(f" SET n:{self.L(l)}" for l in m.labels[1:])
                stmts = [f"UNWIND $rows AS r MERGE (n:{kl} {{id: r.k}}) "
                         f"WITH n, r WHERE n.{VERSION} IS NULL OR n.{VERSION} <= r.v "
                         f"SET n = r.p, n.{VERSION} = r.v{extra}"]
                for rel in m.rels:
                    arrow_old = f"-[old:{q(rel.rtype)}]->()" if not getattr(rel, "reverse", False) \
                        else f"<-[old:{q(rel.rtype)}]-()"
                    if isinstance(rel, ValueArray):
                        target = f"MERGE (t:{self.L(rel.label)} {{{q(rel.prop)}: x}})"
                    else:
                        target = f"MERGE (t:{self.L(CIVIC[rel.target].key_label)} {{id: x}})"
                    link = f"MERGE (t)-[:{q(rel.rtype)}]->(n)" if getattr(rel, "reverse", False) \
                        else f"MERGE (n)-[:{q(rel.rtype)}]->(t)"
                    stmts.append(f"UNWIND $rows AS r MATCH (n:{kl} {{id: r.k}}) WHERE n.{VERSION} = r.v "
                                 f"OPTIONAL MATCH (n){arrow_old} DELETE old "
                                 f"WITH DISTINCT n, r UNWIND r.{q('r_' + rel.column)} AS x {target} {link}")
                self.cy[et] = {"upsert": stmts,
                               "delete": f"UNWIND $rows AS r MATCH (n:{kl} {{id: r.k}}) DETACH DELETE n"}
            else:
                fl = self.L(CIVIC[m.frm[1]].key_label)
                tl = self.L(CIVIC[m.to[1]].key_label)
                self.cy[et] = {
                    "upsert": [f"UNWIND $rows AS r MERGE (a:{fl} {{id: r.f}}) MERGE (b:{tl} {{id: r.t}}) "
                               f"MERGE (a)-[x:{q(m.rtype)}]->(b) "
                               f"WITH x, r WHERE x.{VERSION} IS NULL OR x.{VERSION} <= r.v "
                               f"SET x = r.p, x.{VERSION} = r.v"],
                    "delete": f"UNWIND $rows AS r MATCH (:{fl} {{id: r.f}})-[x:{q(m.rtype)}]->(:{tl} {{id: r.t}}) "
                              f"DELETE x"}

    def ensure_constraints(self):
        labels = {CIVIC[n].key_label for n in CIVIC if isinstance(CIVIC[n], Node)}
        with self.drv.session() as s:
            for l in sorted(labels):
                cname = re.sub(r"[^A-Za-z0-9_]", "_", f"{self.a.label_prefix}{l}_id")
                s.run(f"CREATE CONSTRAINT {q(cname)} IF NOT EXISTS FOR (n:{self.L(l)}) REQUIRE n.id IS UNIQUE").consume()
            s.run(f"CREATE INDEX {q(self.a.label_prefix + 'Tag_name')} IF NOT EXISTS "
                  f"FOR (n:{self.L('Tag')}) ON (n.name)").consume()

    # ---- queue -----------------------------------------------------------------------------------
    def fold(self):
        if self.has_fold:
            self.pg.execute(sql.SQL("SELECT {}.graph_sync_fold()").format(self.s))

    def reclaim_expired(self):
        self.pg.execute(sql.SQL(
            "UPDATE {}.graph_sync_status SET sync_status = CASE op WHEN 'delete' THEN 'deleted' ELSE 'pending' END,"
            " claimed_by = NULL, lease_until = NULL, updated_at = now()"
            " WHERE sync_status = 'in_progress' AND lease_until < now()").format(self.s))

    def claim(self):
        return self.pg.execute(sql.SQL(
            "WITH c AS (SELECT entity_type, entity_id FROM {s}.graph_sync_status"
            "           WHERE sync_status IN ('pending', 'deleted') AND next_attempt_at <= now()"
            "           ORDER BY next_attempt_at LIMIT %(n)s FOR UPDATE SKIP LOCKED)"
            " UPDATE {s}.graph_sync_status AS st SET sync_status = 'in_progress', claimed_by = %(w)s,"
            "        lease_until = now() + make_interval(secs => %(lease)s), updated_at = now()"
            " FROM c WHERE st.entity_type = c.entity_type AND st.entity_id = c.entity_id"
            " RETURNING st.entity_type, st.entity_id, st.version, st.op, st.attempts").format(s=self.s),
            {"n": self.a.batch, "w": self.worker, "lease": self.a.lease}).fetchall()

    def mark_synced(self, items):
        self.pg.execute(sql.SQL(
            "UPDATE {}.graph_sync_status AS st SET"
            " sync_status = CASE WHEN st.version = c.v THEN 'synced'"
            "                    WHEN st.op = 'delete' THEN 'deleted' ELSE 'pending' END,"
            " synced_at = now(), attempts = 0, claimed_by = NULL, lease_until = NULL, last_error = NULL,"
            " next_attempt_at = now(), updated_at = now()"
            " FROM unnest(%s::text[], %s::text[], %s::bigint[]) AS c(t, id, v)"
            " WHERE st.entity_type = c.t AND st.entity_id = c.id AND st.claimed_by = %s").format(self.s),
            ([i[0] for i in items], [i[1] for i in items], [i[2] for i in items], self.worker))

    def mark_failed(self, items, message, retryable):
        with self.pg.transaction():
            self.pg.execute(sql.SQL(
                "UPDATE {}.graph_sync_status AS st SET attempts = st.attempts + 1,"
                " sync_status = CASE WHEN st.attempts + 1 >= %s THEN 'failed'"
                "                    WHEN st.op = 'delete' THEN 'deleted' ELSE 'pending' END,"
                " next_attempt_at = now() + make_interval(secs => %s * power(2, st.attempts)),"
                " claimed_by = NULL, lease_until = NULL, last_error = %s, updated_at = now()"
                " FROM unnest(%s::text[], %s::text[]) AS c(t, id)"
                " WHERE st.entity_type = c.t AND st.entity_id = c.id AND st.claimed_by = %s").format(self.s),
                (self.a.max_attempts, self.a.backoff, message, [i[0] for i in items], [i[1] for i in items],
                 self.worker))
            self.pg.execute(sql.SQL(
                "INSERT INTO {}.graph_sync_failures (entity_type, entity_id, attempt_number, failure_message,"
                " retryable, worker_id) SELECT t, id, a + 1, %s, %s, %s"
                " FROM unnest(%s::text[], %s::text[], %s::int[]) AS c(t, id, a)").format(self.s),
                (message, retryable, self.worker, [i[0] for i in items], [i[1] for i in items],
                 [i[4] for i in items]))

    def record_batch(self, status, total, synced, failed, started, secs):
        self.pg.execute(sql.SQL(
            "INSERT INTO {}.graph_sync_batches (batch_type, batch_status, total_entities, synced_count,"
            " failed_count, duration_seconds, worker_id, started_at)"
            " VALUES ('python-peer', %s, %s, %s, %s, %s, %s, to_timestamp(%s))").format(self.s),
            (status, total, synced, failed, secs, self.worker, started))

    # ---- read PostgreSQL, write Neo4j ------------------------------------------------------------
    def read(self, et, ids):
        """Rows of one entity type, as {entity_id: row dict}; a missing id is a delete."""
        schema, name, m = self.tables[et]
        t = sql.Identifier(schema, name)
        with self.pg.cursor(row_factory=dict_row) as cur:
            if isinstance(m, Node):
                cur.execute(sql.SQL("SELECT * FROM {} WHERE id = ANY(%s::{}[])").format(t, sql.SQL(m.key_type)),
                            (ids,))
                return {str(r["id"]): r for r in cur}
            keys = [json.loads(i) for i in ids]
            k0, k1 = (self.key_model(m, c) for c in m.key)
            cur.execute(sql.SQL("SELECT * FROM {t} WHERE ({a}, {b}) IN"
                                " (SELECT * FROM unnest(%s::{at}[], %s::{bt}[]))")
                        .format(t=t, a=sql.Identifier(m.key[0]), b=sql.Identifier(m.key[1]),
                                at=sql.SQL(k0.key_type), bt=sql.SQL(k1.key_type)),
                        ([k[0] for k in keys], [k[1] for k in keys]))
            # keyed by the key's text values: the queue's id is a JSON array of them, spelt
            # '["a","b"]' by the capture triggers and '["a", "b"]' by jsonb's text output
            return {(str(r[m.key[0]]), str(r[m.key[1]])): r for r in cur}

    @staticmethod
    def key_model(m, column):
        """The node table a join table's key column points to."""
        return CIVIC[m.frm[1]] if column == m.frm[0] else CIVIC[m.to[1]]

    def resync_table(self, et):
        """A TRUNCATE (entity id '*'): remove the type from the graph, queue every remaining row."""
        schema, name, m = self.tables[et]
        if isinstance(m, Node):
            cy = f"MATCH (n:{self.L(m.key_label)}) CALL (n) {{ DETACH DELETE n }} IN TRANSACTIONS OF 10000 ROWS"
            ids = sql.SQL("id::text")
        else:
            fl, tl = self.L(CIVIC[m.frm[1]].key_label), self.L(CIVIC[m.to[1]].key_label)
            cy = f"MATCH (:{fl})-[x:{q(m.rtype)}]->(:{tl}) CALL (x) {{ DELETE x }} IN TRANSACTIONS OF 10000 ROWS"
            ids = sql.SQL("jsonb_build_array({}::text, {}::text)::text").format(sql.Identifier(m.key[0]),
                                                                               sql.Identifier(m.key[1]))
        with self.drv.session() as s:
            s.run(cy).consume()
        self.pg.execute(sql.SQL(
            "INSERT INTO {s}.graph_sync_status AS st (entity_type, entity_id, op, version)"
            " SELECT %s, {ids}, 'upsert', 0 FROM {t}"
            " ON CONFLICT (entity_type, entity_id) DO UPDATE SET version = st.version + 1, op = 'upsert',"
            " sync_status = CASE WHEN st.sync_status = 'in_progress' THEN st.sync_status ELSE 'pending' END,"
            " attempts = 0, next_attempt_at = now(), updated_at = now()")
            .format(s=self.s, ids=ids, t=sql.Identifier(schema, name)), (et,))

    @staticmethod
    def node_key(m, entity_id):
        """A node's key in Neo4j from its text form in the queue."""
        return int(entity_id) if m.key_type in ("integer", "bigint") else entity_id

    def encode(self, et, items):
        """(upsert rows, delete rows) for one entity type's claimed items."""
        schema, name, m = self.tables[et]
        found = self.read(et, [i[1] for i in items if i[1] != "*"])
        ups, dels = [], []
        for et_, eid, ver, op, _ in items:
            row = found.get(eid if isinstance(m, Node) else tuple(json.loads(eid)))
            if isinstance(m, Node):
                if row is None or (m.soft_delete and row[m.soft_delete] is not None):
                    dels.append({"k": self.node_key(m, eid), "v": ver})
                    continue
                skip = {r.column for r in m.rels} | m.exclude
                props = {}
                for c, v in row.items():
                    if c in skip or v is None:
                        continue
                    name_ = m.rename.get(c, c)
                    if c in m.as_map:
                        flatten(name_, json.loads(v), props)
                    elif c in m.as_string:
                        props[name_] = str(v)
                    else:
                        props[name_] = to_neo(v)
                enc = {"k": to_neo(row["id"]), "v": ver, "p": props}
                for rel in m.rels:
                    v = row[rel.column]
                    enc["r_" + rel.column] = [] if v is None else to_neo(v if isinstance(v, list) else [v])
                ups.append(enc)
            else:
                k = dict(zip(m.key, json.loads(eid)))
                f = self.node_key(CIVIC[m.frm[1]], k[m.frm[0]])
                t = self.node_key(CIVIC[m.to[1]], k[m.to[0]])
                if row is None:
                    dels.append({"f": f, "t": t, "v": ver})
                    continue
                ups.append({"f": f, "t": t, "v": ver,
                            "p": {p: to_neo(row[c]) for p, c in m.props.items() if row[c] is not None}})
        return ups, dels

    def write(self, work):
        def tx_fn(tx):
            for et, (ups, dels) in work.items():
                if dels:
                    tx.run(self.cy[et]["delete"], rows=dels).consume()
                if ups:
                    for stmt in self.cy[et]["upsert"]:
                        tx.run(stmt, rows=ups).consume()
        with self.drv.session() as s:
            s.execute_write(tx_fn)   # retried by the driver on transient errors

    def run_batch(self):
        t0 = time.perf_counter()
        self.fold()
        items = self.claim()
        if not items:
            return 0, 0
        started = time.time()
        t_claim = time.perf_counter()
        by_type = {}
        unknown = []
        truncated = []
        for it in items:
            if it[0] not in self.tables:
                unknown.append(it)
            else:
                (truncated if it[1] == "*" else by_type.setdefault(it[0], [])).append(it)
        if unknown:
            self.mark_failed(unknown, "entity type not in the civic model", False)
        try:
            for it in truncated:
                self.resync_table(it[0])
            if truncated:
                self.mark_synced(truncated)
            work = {et: self.encode(et, its) for et, its in by_type.items()}
            t_read = time.perf_counter()
            self.write(work)
            t_write = time.perf_counter()
        except (neo4j.exceptions.Neo4jError, neo4j.exceptions.DriverError, psycopg.Error, ValueError) as e:
            retryable = isinstance(e, (neo4j.exceptions.TransientError, neo4j.exceptions.ServiceUnavailable,
                                       neo4j.exceptions.SessionExpired, psycopg.OperationalError))
            done = [i for its in by_type.values() for i in its]
            self.mark_failed(done, f"{type(e).__name__}: {e}"[:2000], retryable)
            self.record_batch("failed", len(items), 0, len(items), started, time.perf_counter() - t0)
            print(f"python_sync: batch of {len(items)} failed: {type(e).__name__}: {e}", file=sys.stderr)
            return 0, len(items)
        done = [i for its in by_type.values() for i in its]
        self.mark_synced(done)
        self.record_batch("completed", len(items), len(done) + len(truncated), len(unknown), started, time.perf_counter() - t0)
        if self.a.verbose:
            t_end = time.perf_counter()
            print(f"python_sync: batch {len(items)}: fold+claim {1000 * (t_claim - t0):.0f} ms, "
                  f"read+encode {1000 * (t_read - t_claim):.0f} ms, write {1000 * (t_write - t_read):.0f} ms, "
                  f"mark {1000 * (t_end - t_write):.0f} ms", file=sys.stderr)
        return len(done) + len(truncated), len(unknown)

    def close(self):
        self.drv.close()
        self.pg.close()


def main():
    ap = argparse.ArgumentParser(description="hand-written civic sync loop (benchmark peer)")
    ap.add_argument("--batch", type=int, default=1000, help="entities claimed per batch (default 1000)")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--drain", action="store_true", help="stop when nothing is pending (default)")
    g.add_argument("--seconds", type=float, help="keep syncing for this long, polling when idle")
    ap.add_argument("--poll-ms", type=int, default=50, help="idle poll interval with --seconds")
    ap.add_argument("--label-prefix", default="", help="prefix of every label (default none)")
    ap.add_argument("--sync-schema", default="public", help="schema of the graph_sync_* tables")
    ap.add_argument("--table-schema", default="public", help="schema of the civic tables")
    ap.add_argument("--lease", type=float, default=60.0, help="claim lease in seconds")
    ap.add_argument("--max-attempts", type=int, default=3)
    ap.add_argument("--backoff", type=float, default=1.0, help="first retry delay in seconds")
    ap.add_argument("--no-constraints", action="store_true", help="do not create uniqueness constraints")
    ap.add_argument("--verbose", action="store_true", help="print each batch's phase timings on stderr")
    a = ap.parse_args()
    if a.batch <= 0 or not re.fullmatch(r"[A-Za-z0-9_]*", a.label_prefix):
        print("python_sync: --batch must be positive, --label-prefix alphanumeric", file=sys.stderr)
        return 2
    if "NEO4J_PASSWORD" not in os.environ:
        print("python_sync: NEO4J_PASSWORD is not set", file=sys.stderr)
        return 2
    try:
        p = Peer(a)
    except (psycopg.Error, neo4j.exceptions.Neo4jError, neo4j.exceptions.DriverError, OSError, LookupError) as e:
        print(f"python_sync: could not start: {e}", file=sys.stderr)
        return 1
    if not a.no_constraints:
        p.ensure_constraints()
    synced = failed = batches = 0
    t0 = time.perf_counter()
    deadline = t0 + a.seconds if a.seconds else None
    last_reclaim = 0.0
    while True:
        if time.perf_counter() - last_reclaim > 5:
            p.reclaim_expired()
            last_reclaim = time.perf_counter()
        n, f = p.run_batch()
        synced += n
        failed += f
        batches += 1 if n or f else 0
        if deadline is None:
            if n == 0 and f == 0:
                break
        elif time.perf_counter() >= deadline:
            break
        elif n == 0 and f == 0:
            time.sleep(a.poll_ms / 1000.0)
    secs = time.perf_counter() - t0
    print(f"python_sync entities={synced} batches={batches} seconds={secs:.3f} "
          f"rate={synced / secs if secs > 0 else 0:.0f} failed={failed} driver={neo4j.__version__}")
    p.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
