-- 002_review_audit: conflict review (Phase 3.2) and the audit trail. Applied by `pg2neo init`
-- after 001 in the same transaction; @SCHEMA@ is the quoted sync schema. See
-- docs/operator-guide.md ("Conflicts: review and acknowledge", "Audit trail").
--
--   graph_sync_status  gains conflict_detected_at and the acknowledgement columns. has_conflicts
--                      means "a divergence nobody has reviewed": acknowledging one clears it (so it
--                      stops counting toward conflictCount and the conflicts alert) and keeps the
--                      acknowledged details; a later check that finds different details sets it again.
--   graph_sync_audit   one row per applied change (written by the statement that marks a batch
--                      synced) and per conflict resolution / acknowledgement.
--   graph_sync_state   gains audit_retention_days (the mapping's sync.auditRetentionDays, stored
--                      by `pg2neo run` at start; 0 = no audit rows are written).

ALTER TABLE @SCHEMA@.graph_sync_status
    ADD COLUMN IF NOT EXISTS conflict_detected_at   timestamptz,
    ADD COLUMN IF NOT EXISTS conflict_acked_at      timestamptz,
    ADD COLUMN IF NOT EXISTS conflict_acked_by      text,
    ADD COLUMN IF NOT EXISTS conflict_ack_note      text,
    ADD COLUMN IF NOT EXISTS conflict_acked_details jsonb;

CREATE INDEX IF NOT EXISTS graph_sync_status_acked_idx ON @SCHEMA@.graph_sync_status (entity_type)
    WHERE conflict_acked_at IS NOT NULL;

ALTER TABLE @SCHEMA@.graph_sync_state
    ADD COLUMN IF NOT EXISTS audit_retention_days integer NOT NULL DEFAULT 30
        CHECK (audit_retention_days >= 0);

-- action: upsert / delete / resync (an applied change, version = the version synced; fields =
-- the array columns' net diff the capture recorded, NULL otherwise), resolve (PostgreSQL wins
-- was requested; version = the version queued; details = the conflict it resolved, if known),
-- ack (a divergence reviewed and accepted; details = what was accepted; note, actor, os_user).
CREATE TABLE IF NOT EXISTS @SCHEMA@.graph_sync_audit (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entity_type text        NOT NULL,
    entity_id   text        NOT NULL,
    version     bigint,
    action      text        NOT NULL
                CHECK (action IN ('upsert', 'delete', 'resync', 'resolve', 'ack')),
    fields      jsonb,
    details     jsonb,
    actor       text        NOT NULL DEFAULT current_user,
    os_user     text,
    note        text,
    worker_id   text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
-- history reads by entity; pruning walks the primary key from the oldest id (ids follow time), so
-- no index on created_at: one index less for every row the mark-synced statement writes.
CREATE INDEX IF NOT EXISTS graph_sync_audit_entity_idx ON @SCHEMA@.graph_sync_audit (entity_type, entity_id, id);
