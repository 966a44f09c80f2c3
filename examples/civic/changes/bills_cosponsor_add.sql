-- civic change generator: add one element to bills.co_sponsors.
-- weight: 6
\set r random(1, 1000000000000)
\set r2 random(1, 1000000000000)

UPDATE bills
SET co_sponsors = co_sponsors || s.id, updated_at = now()
FROM (SELECT civic_gen.ref_sponsor(:r2) AS id) AS s
WHERE bills.id = (SELECT civic_gen.pick_bill(:r)) AND s.id IS NOT NULL
  AND NOT bills.co_sponsors @> ARRAY[s.id] AND bills.sponsor_id IS DISTINCT FROM s.id;
