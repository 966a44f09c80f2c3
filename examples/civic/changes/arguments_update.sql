-- civic change generator: edit an argument: stance, body and score, or move it to another bill (FK change).
-- weight: 4
\set r random(1, 1000000000000)
\set r2 random(1, 1000000000000)
\set k random(0, 2)

UPDATE arguments
SET stance     = CASE WHEN :k = 0 THEN (ARRAY['support', 'oppose', 'neutral'])[1 + (:r2 % 3)::int] ELSE stance END,
    body       = CASE WHEN :k = 1 THEN 'Edited ' || :r2 || E'\n' || left(body, 200) ELSE body END,
    score      = CASE WHEN :k = 1 THEN (:r2 % 100000) / 1000.0 - 50 ELSE score END,
    bill_id    = CASE WHEN :k = 2 THEN coalesce((SELECT civic_gen.ref_bill(:r2)), bill_id) ELSE bill_id END,
    updated_at = now()
WHERE id = (SELECT civic_gen.pick_argument(:r));
