-- civic change generator: a user bookmarks a bill.
-- weight: 6
\set r random(1, 1000000000000)
\set r2 random(1, 1000000000000)

INSERT INTO bookmarks (user_id, bill_id, note)
SELECT u, b, CASE WHEN :r % 4 = 0 THEN civic_gen.hostile(:r) END
FROM (SELECT civic_gen.ref_user(:r) AS u, civic_gen.ref_bill(:r2) AS b) AS q
WHERE u IS NOT NULL AND b IS NOT NULL
ON CONFLICT DO NOTHING;
