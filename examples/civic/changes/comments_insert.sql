-- civic change generator: a comment on a bill; one in three replies to an existing comment (same bill).
-- weight: 10
\set r random(1, 1000000000000)
\set r2 random(1, 1000000000000)
\set r3 random(1, 1000000000000)

INSERT INTO comments (user_id, bill_id, parent_id, body)
SELECT q.u, coalesce(p.bill_id, q.b), p.id,
       CASE WHEN :r % 5 = 0 THEN civic_gen.hostile(:r) ELSE 'New comment ' || :r END
FROM (SELECT civic_gen.ref_user(:r) AS u, civic_gen.ref_bill(:r2) AS b) AS q
LEFT JOIN comments p ON :r % 3 = 0 AND p.id = (SELECT civic_gen.ref_comment(:r3))
WHERE q.u IS NOT NULL AND coalesce(p.bill_id, q.b) IS NOT NULL;
