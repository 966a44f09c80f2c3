-- 003_capture_logical: graph_sync_captured_tables records tables captured by logical decoding
-- (source.capture: logical; see src/pg/logical.h and docs/capture.md): no trigger, a replication
-- slot and a publication instead.
ALTER TABLE @SCHEMA@.graph_sync_captured_tables
    DROP CONSTRAINT IF EXISTS graph_sync_captured_tables_mode_check;
ALTER TABLE @SCHEMA@.graph_sync_captured_tables
    ADD CONSTRAINT graph_sync_captured_tables_mode_check CHECK (mode IN ('row', 'statement', 'logical'));
