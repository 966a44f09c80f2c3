-- 006_commit_latency: the sync latency counts from the commit of a change, not from the start of
-- its transaction. graph_sync_log.logged_at is now() in the trigger (the transaction's start): a
-- transaction held open 3 s before its commit was reported 3 s late. With track_commit_timestamp
-- on, the fold takes the commit time of the log row's transaction instead (logical capture already
-- writes the commit time it reads from the WAL). Otherwise first_change_at stays the transaction's
-- start (docs/observability.md says so). The rest is graph_sync_fold() of 004, unchanged.
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

-- the latency of an entity's last sync (first change, as above, to its mark), for avgLatencySeconds
ALTER TABLE @SCHEMA@.graph_sync_status ADD COLUMN IF NOT EXISTS last_latency_seconds real;
