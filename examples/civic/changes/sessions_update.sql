-- civic change generator: close or reopen a session, or rename it.
-- weight: 1
\set r random(1, 1000000000000)
\set r2 random(1, 1000000000000)

UPDATE sessions
SET ends_on = CASE WHEN ends_on IS NULL THEN starts_on + 90 ELSE NULL END,
    name = CASE WHEN :r2 % 3 = 0 THEN civic_gen.hostile(:r2) ELSE name END,
    updated_at = now()
WHERE id = (SELECT civic_gen.pick_session(:r));
