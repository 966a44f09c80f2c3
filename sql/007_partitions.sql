-- 007_partitions: partitioned tables captured through their parent (docs/capture.md,
-- "Partitioned tables"). Row triggers on a partitioned table are cloned onto every partition,
-- present and future, so rows written anywhere in the tree are captured; what no trigger and no
-- WAL change reports is a change of the tree itself: ATTACH, DETACH, DROP, and a TRUNCATE of
-- one partition (only the parent has a TRUNCATE trigger; logical decoding publishes a partition's
-- TRUNCATE only when the statement names the root). The fold therefore compares each captured
-- partitioned table's tree with the one recorded at the last look, and queues a resync of its
-- type (op 't', as a TRUNCATE does) when it differs.
--
--   graph_sync_captured_tables.partitions  the tree as graph_sync_partitions_of() saw it (NULL:
--                                          not partitioned, or never looked at)

ALTER TABLE @SCHEMA@.graph_sync_captured_tables ADD COLUMN IF NOT EXISTS partitions text[];

-- One element per partition below the root, at every level: 'oid:relfilenode:xmin of its
-- pg_inherits row'. A new or dropped partition changes the set; a TRUNCATE (or a rewrite such as
-- VACUUM FULL) gives a leaf a new relfilenode; DETACH and ATTACH delete and insert the
-- pg_inherits row, so even a detach and re-attach of the same table shows.
CREATE OR REPLACE FUNCTION @SCHEMA@.graph_sync_partitions_of(root oid) RETURNS text[]
LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp AS $fn$
    -- pg_inherits walked by hand: pg_partition_tree() would lock every partition
    WITH RECURSIVE tree (relid, x) AS (
        SELECT i.inhrelid, i.xmin::text FROM pg_inherits i WHERE i.inhparent = root
        UNION ALL
        SELECT i.inhrelid, i.xmin::text FROM pg_inherits i JOIN tree t ON i.inhparent = t.relid
    )
    SELECT coalesce(array_agg(format('%s:%s:%s', c.oid, c.relfilenode, t.x) ORDER BY c.oid), '{}')
      FROM tree t JOIN pg_class c ON c.oid = t.relid
$fn$;

-- Queues a resync of each captured partitioned table whose tree changed since the last call and
-- records the new tree; returns how many. Cheap when nothing is partitioned (one join of the
-- capture records with pg_class) and writes nothing when no tree changed. Two callers at once: the
-- second one's UPDATE waits for the first and then finds the tree recorded, so one resync.
CREATE OR REPLACE FUNCTION @SCHEMA@.graph_sync_partitions_check() RETURNS bigint
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $fn$
    WITH cur AS (
        SELECT r.table_schema, r.table_name, @SCHEMA@.graph_sync_partitions_of(c.oid) AS parts
          FROM @SCHEMA@.graph_sync_captured_tables r
          JOIN pg_namespace n ON n.nspname = r.table_schema
          JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = r.table_name
         WHERE c.relkind = 'p'
    ), changed AS (
        UPDATE @SCHEMA@.graph_sync_captured_tables r SET partitions = cur.parts
          FROM cur
         WHERE r.table_schema = cur.table_schema AND r.table_name = cur.table_name
           AND r.partitions IS DISTINCT FROM cur.parts
        RETURNING r.entity_type
    ), queued AS (
        INSERT INTO @SCHEMA@.graph_sync_log (version, op, entity_type, entity_ids)
        SELECT nextval(format('%I.graph_sync_version_seq', @SCHEMA_LIT@)::regclass), 't', entity_type, ARRAY['*']
          FROM changed
        RETURNING 1
    )
    SELECT count(*) FROM queued
$fn$;

-- 006's fold, with the tree check first (under the fold's lock, so that its resyncs are folded
-- by the same call).
CREATE OR REPLACE FUNCTION @SCHEMA@.graph_sync_fold() RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    n  bigint;
    hi bigint;
    -- commit timestamps when the server keeps them; the types captured from the WAL already carry
    -- their commit time (their log rows are written by the daemon, after the commit)
    ct boolean := current_setting('track_commit_timestamp')::boolean;
    wal_types text[] := ARRAY(SELECT entity_type FROM @SCHEMA@.graph_sync_captured_tables WHERE mode = 'logical');
BEGIN
    PERFORM pg_advisory_xact_lock(1882091118, hashtext(@SCHEMA_LIT@));
    PERFORM @SCHEMA@.graph_sync_partitions_check();
    WITH moved AS (
        DELETE FROM @SCHEMA@.graph_sync_log
        RETURNING version, op, entity_type, entity_ids, changed_arrays,
                  CASE WHEN ct AND NOT entity_type = ANY (wal_types)
                       THEN coalesce(pg_xact_commit_timestamp(xmin), logged_at) ELSE logged_at END AS logged_at
    ), expanded AS (
        SELECT m.version, m.op, m.entity_type, e.id AS entity_id, m.changed_arrays -> e.id AS arrs,
               m.logged_at
          FROM moved m CROSS JOIN LATERAL unnest(m.entity_ids) AS e(id)
    ), agg AS (
        SELECT entity_type, entity_id, max(version) AS version,
               chr((max(ARRAY[version, ascii(op)]))[2]::int) AS op,
               @SCHEMA@.graph_sync_merge_arrays_agg(arrs ORDER BY version) FILTER (WHERE arrs IS NOT NULL) AS arrs,
               min(logged_at) AS first_at
          FROM expanded
         GROUP BY entity_type, entity_id
    ), up AS (
        INSERT INTO @SCHEMA@.graph_sync_status AS s
               (entity_type, entity_id, sync_status, op, version, changed_arrays, first_change_at)
        SELECT a.entity_type, a.entity_id,
               CASE a.op WHEN 'd' THEN 'deleted' ELSE 'pending' END,
               CASE a.op WHEN 'd' THEN 'delete' WHEN 't' THEN 'resync' ELSE 'upsert' END,
               a.version, CASE WHEN a.op = 'u' THEN a.arrs END, a.first_at
          FROM agg a
         ORDER BY a.entity_type, a.entity_id   -- rows are locked in key order: no deadlocks with marks
        ON CONFLICT (entity_type, entity_id) DO UPDATE SET
               version = GREATEST(EXCLUDED.version, s.version + 1),
               op = EXCLUDED.op,
               sync_status = CASE WHEN s.sync_status = 'in_progress' THEN 'in_progress'
                                  ELSE EXCLUDED.sync_status END,
               changed_arrays = CASE WHEN EXCLUDED.op <> 'upsert' THEN NULL
                                     WHEN s.sync_status = 'synced' OR s.op <> 'upsert' THEN EXCLUDED.changed_arrays
                                     ELSE @SCHEMA@.graph_sync_merge_arrays(s.changed_arrays,
                                                                          EXCLUDED.changed_arrays) END,
               first_change_at = CASE WHEN s.sync_status = 'synced' OR s.first_change_at IS NULL
                                      THEN EXCLUDED.first_change_at ELSE s.first_change_at END,
               attempts = CASE WHEN s.sync_status IN ('synced', 'failed') THEN 0 ELSE s.attempts END,
               next_attempt_at = CASE WHEN s.sync_status IN ('synced', 'failed') THEN now()
                                      ELSE s.next_attempt_at END,
               last_error = CASE WHEN s.sync_status IN ('synced', 'failed') THEN NULL
                                 ELSE s.last_error END,
               updated_at = now()
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM up), (SELECT max(version) FROM agg) INTO n, hi;
    IF hi IS NOT NULL THEN
        UPDATE @SCHEMA@.graph_sync_state
           SET folded_version = GREATEST(folded_version, hi), folded_at = now();
    END IF;
    RETURN n;
END
$fn$;
