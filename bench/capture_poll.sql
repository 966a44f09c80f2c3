-- pgbench script: the runner's wake-up poll (pgq_poll), to size its cost when idle.
SELECT CASE WHEN s.is_called THEN s.last_value ELSE 0 END, st.folded_version
  FROM graph_sync_version_seq s, graph_sync_state st;
