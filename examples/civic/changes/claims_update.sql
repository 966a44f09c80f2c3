-- civic change generator: verify a claim, reword it, or move it to another argument (FK change).
-- weight: 3
\set r random(1, 1000000000000)
\set r2 random(1, 1000000000000)
\set k random(0, 2)

UPDATE claims
SET verified    = CASE WHEN :k = 0 THEN NOT coalesce(verified, false) ELSE verified END,
    statement   = CASE WHEN :k = 1 THEN 'Reworded ' || :r2 ELSE statement END,
    argument_id = CASE WHEN :k = 2 THEN coalesce((SELECT civic_gen.ref_argument(:r2)), argument_id) ELSE argument_id END,
    updated_at  = now()
WHERE id = (SELECT civic_gen.pick_claim(:r));
