-- civic change generator: a governor's term ends or is extended.
-- weight: 1
\set r random(1, 1000000000000)
\set r2 random(1, 1000000000000)

UPDATE governors
SET term_end = CASE WHEN term_end IS NULL THEN term_start + 1460 ELSE NULL END, updated_at = now()
WHERE id = (SELECT civic_gen.pick_governor(:r));
