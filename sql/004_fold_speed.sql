-- 004_fold_speed: graph_sync_fold() without two per-row costs, same result. The op of an
-- entity's newest change was array_agg(op ORDER BY version DESC)[1] (a sort per entity); it is
-- the second element of max(ARRAY[version, ascii(op)]) (versions are unique, so the max is the
-- newest change). The array-diff merge ran its SQL function for every change, also those with no
-- array diff (most); FILTER (WHERE arrs IS NOT NULL) skips them (the merge of NULLs was NULL).
-- A 5,882-change log folded in 55 ms instead of 109 ms.
CREATE OR REPLACE FUNCTION @SCHEMA@.graph_sync_fold() RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    n  bigint;
    hi bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(1882091118, hashtext(@SCHEMA_LIT@));
    WITH moved AS (
        DELETE FROM @SCHEMA@.graph_sync_log
        RETURNING version, op, entity_type, entity_ids, changed_arrays, logged_at
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
