-- civic change generator: delete a session that has no sittings (in practice, a new one).
-- weight: 1
\set r random(1, 1000000000000)
\set r2 random(1, 1000000000000)

DELETE FROM sessions s WHERE id = (SELECT civic_gen.pick_session(:r))
  AND NOT EXISTS (SELECT 1 FROM sittings t WHERE t.session_id = s.id);
