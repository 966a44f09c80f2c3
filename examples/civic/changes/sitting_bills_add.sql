-- civic change generator: put a bill on a sitting's agenda.
-- weight: 3
\set r random(1, 1000000000000)
\set r2 random(1, 1000000000000)

INSERT INTO sitting_bills (sitting_id, bill_id, agenda_position)
SELECT s, b, 1 + (:r % 50)::int
FROM (SELECT civic_gen.ref_sitting(:r) AS s, civic_gen.ref_bill(:r2) AS b) AS q
WHERE s IS NOT NULL AND b IS NOT NULL
ON CONFLICT DO NOTHING;
