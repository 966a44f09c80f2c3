-- civic change generator: a user argues on a bill.
-- weight: 6
\set r random(1, 1000000000000)
\set r2 random(1, 1000000000000)

INSERT INTO arguments (bill_id, user_id, stance, body, score)
SELECT b, u, (ARRAY['support', 'oppose', 'neutral'])[1 + (:r % 3)::int],
       CASE WHEN :r % 6 = 0 THEN civic_gen.hostile(:r) ELSE 'New argument ' || :r END,
       CASE WHEN :r % 5 = 0 THEN NULL ELSE (:r % 100000) / 1000.0 - 50 END
FROM (SELECT civic_gen.ref_bill(:r) AS b, civic_gen.ref_user(:r2) AS u) AS s
WHERE b IS NOT NULL AND u IS NOT NULL;
