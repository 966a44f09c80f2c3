-- 005_lifecycle: everything pg2neo creates comes from a migration, so that `uninstall` knows it.
-- graph_sync_fullsync (the full sync's checkpoints) was created by `full-sync` itself; and whether
-- `init` created the sync schema is recorded, so that `uninstall` drops it when it created it.
CREATE TABLE IF NOT EXISTS @SCHEMA@.graph_sync_fullsync (
    entity_type     text PRIMARY KEY,
    version         bigint NOT NULL,
    phase           text NOT NULL CHECK (phase IN ('load', 'orphans', 'done')),
    last_id         text,
    rows_done       bigint NOT NULL DEFAULT 0,
    orphans_removed bigint NOT NULL DEFAULT 0,
    started_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE @SCHEMA@.graph_sync_state ADD COLUMN IF NOT EXISTS created_schema boolean NOT NULL DEFAULT false;
