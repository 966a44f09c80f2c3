-- 001_capture: the capture side of pg2neo (the seed's graph_sync tables, plus what makes them fast
-- and safe). Applied by `pg2neo init` inside one transaction; @SCHEMA@ is replaced by the quoted
-- sync schema, @SCHEMA_LIT@ by its name as a string literal. See docs/capture.md.
--
--   graph_sync_log      index-free change log the capture triggers append to (one row per
--                       statement and operation, the entity ids in an array): the cheapest write
--   graph_sync_status   one row per entity, folded from the log by graph_sync_fold()
--   graph_sync_failures one row per failed sync attempt
--   graph_sync_batches  one row per batch
--   graph_sync_version_seq  change versions (CACHE 1: versions follow the order of row locks)
--   graph_sync_state    one row: the highest version folded so far (the wake-up compares it)
--   graph_sync_captured_tables  what `pg2neo triggers install` put on which table

CREATE TABLE IF NOT EXISTS @SCHEMA@.graph_sync_status (
    entity_type      text        NOT NULL,
    entity_id        text        NOT NULL,
    sync_status      text        NOT NULL DEFAULT 'pending'
                     CHECK (sync_status IN ('pending', 'in_progress', 'synced', 'failed', 'deleted')),
    op               text        NOT NULL DEFAULT 'upsert' CHECK (op IN ('upsert', 'delete', 'resync')),
    version          bigint      NOT NULL DEFAULT 0,
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    changed_arrays   jsonb,
    has_conflicts    boolean     NOT NULL DEFAULT false,
    conflict_details jsonb,
    first_change_at  timestamptz,
    claimed_by       text,
    lease_until      timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    synced_at        timestamptz,
    last_error       text,
    PRIMARY KEY (entity_type, entity_id)
);
CREATE INDEX IF NOT EXISTS graph_sync_status_claim_idx ON @SCHEMA@.graph_sync_status (next_attempt_at)
    WHERE sync_status IN ('pending', 'deleted');
CREATE INDEX IF NOT EXISTS graph_sync_status_lease_idx ON @SCHEMA@.graph_sync_status (lease_until)
    WHERE sync_status = 'in_progress';
CREATE INDEX IF NOT EXISTS graph_sync_status_conflict_idx ON @SCHEMA@.graph_sync_status (entity_type)
    WHERE has_conflicts;

CREATE TABLE IF NOT EXISTS @SCHEMA@.graph_sync_failures (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entity_type     text        NOT NULL,
    entity_id       text        NOT NULL,
    attempt_number  integer     NOT NULL,
    failure_message text        NOT NULL,
    error_code      text,
    retryable       boolean     NOT NULL,
    worker_id       text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS graph_sync_failures_created_idx ON @SCHEMA@.graph_sync_failures (created_at);
CREATE INDEX IF NOT EXISTS graph_sync_failures_entity_idx
    ON @SCHEMA@.graph_sync_failures (entity_type, entity_id);

CREATE TABLE IF NOT EXISTS @SCHEMA@.graph_sync_batches (
    id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    batch_type       text        NOT NULL,
    batch_status     text        NOT NULL,
    total_entities   integer     NOT NULL DEFAULT 0,
    synced_count     integer     NOT NULL DEFAULT 0,
    failed_count     integer     NOT NULL DEFAULT 0,
    retried_count    integer     NOT NULL DEFAULT 0,
    released_count   integer     NOT NULL DEFAULT 0,
    duration_seconds double precision,
    worker_id        text,
    started_at       timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS graph_sync_batches_created_idx ON @SCHEMA@.graph_sync_batches (created_at);

-- No index, no key: appends are the cheapest write PostgreSQL has. op: 'u' insert/update,
-- 'd' delete, 't' truncate (entity_ids = {'*'}). changed_arrays: {entity_id: {column:
-- {"added": [...], "removed": [...]}}} for the entities whose array columns changed.
CREATE TABLE IF NOT EXISTS @SCHEMA@.graph_sync_log (
    version        bigint      NOT NULL,
    op             "char"      NOT NULL,
    entity_type    text        NOT NULL,
    entity_ids     text[]      NOT NULL,
    changed_arrays jsonb,
    logged_at      timestamptz NOT NULL DEFAULT now()
);
-- The log is emptied by every fold; let autovacuum keep it small.
ALTER TABLE @SCHEMA@.graph_sync_log SET (autovacuum_vacuum_scale_factor = 0,
                                         autovacuum_vacuum_threshold = 1000,
                                         autovacuum_vacuum_insert_threshold = 1000);

CREATE SEQUENCE IF NOT EXISTS @SCHEMA@.graph_sync_version_seq CACHE 1;

CREATE TABLE IF NOT EXISTS @SCHEMA@.graph_sync_state (
    id             boolean PRIMARY KEY DEFAULT true CHECK (id),
    folded_version bigint  NOT NULL DEFAULT 0,
    folded_at      timestamptz
);
INSERT INTO @SCHEMA@.graph_sync_state (id) VALUES (true) ON CONFLICT DO NOTHING;

CREATE TABLE IF NOT EXISTS @SCHEMA@.graph_sync_captured_tables (
    table_schema    text        NOT NULL,
    table_name      text        NOT NULL,
    entity_type     text        NOT NULL,
    key_columns     text[]      NOT NULL,
    watched_columns text[]      NOT NULL,
    array_columns   text[]      NOT NULL,
    mode            text        NOT NULL DEFAULT 'row' CHECK (mode IN ('row', 'statement')),
    generator       integer     NOT NULL,
    installed_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (table_schema, table_name)
);

-- Merges two array-diff objects, older first: per column, added = (a1 - r2) + a2 and
-- removed = (r1 - a2) + r2, so the result is the net effect of both changes.
CREATE OR REPLACE FUNCTION @SCHEMA@.graph_sync_merge_arrays(acc jsonb, nxt jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $fn$
    SELECT CASE
        WHEN nxt IS NULL THEN acc
        WHEN acc IS NULL THEN nxt
        ELSE acc || (
            SELECT coalesce(jsonb_object_agg(t.k, CASE WHEN acc ? t.k THEN jsonb_build_object(
                'added', (SELECT coalesce(jsonb_agg(DISTINCT x.e), '[]'::jsonb) FROM (
                    SELECT e FROM jsonb_array_elements(acc -> t.k -> 'added') e
                     WHERE NOT coalesce(nxt -> t.k -> 'removed', '[]'::jsonb) @> jsonb_build_array(e)
                    UNION SELECT e FROM jsonb_array_elements(nxt -> t.k -> 'added') e) x),
                'removed', (SELECT coalesce(jsonb_agg(DISTINCT x.e), '[]'::jsonb) FROM (
                    SELECT e FROM jsonb_array_elements(acc -> t.k -> 'removed') e
                     WHERE NOT coalesce(nxt -> t.k -> 'added', '[]'::jsonb) @> jsonb_build_array(e)
                    UNION SELECT e FROM jsonb_array_elements(nxt -> t.k -> 'removed') e) x))
              ELSE t.v END), '{}'::jsonb)
            FROM jsonb_each(nxt) AS t(k, v))
    END
$fn$;

CREATE OR REPLACE AGGREGATE @SCHEMA@.graph_sync_merge_arrays_agg(jsonb) (
    SFUNC = @SCHEMA@.graph_sync_merge_arrays,
    STYPE = jsonb
);

-- Moves the change log into graph_sync_status, one row per entity; returns how many entities
-- it touched. Folds are serialised (an advisory lock), so each entity's changes arrive in version
-- order. A change to an entity that is in_progress keeps it in_progress but raises its version:
-- the runner's mark-synced then sees the difference and puts it back to pending.
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
               (array_agg(op ORDER BY version DESC))[1] AS op,
               @SCHEMA@.graph_sync_merge_arrays_agg(arrs ORDER BY version) AS arrs,
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
