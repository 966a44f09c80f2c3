-- civic change generator: remove one element from bills.co_sponsors.
-- weight: 4
\set r random(1, 1000000000000)
\set r2 random(1, 1000000000000)

UPDATE bills
SET co_sponsors = array_remove(co_sponsors, co_sponsors[1 + (:r2 % cardinality(co_sponsors))::int]),
    updated_at = now()
WHERE id = (SELECT civic_gen.pick_bill(:r)) AND cardinality(co_sponsors) > 0;
