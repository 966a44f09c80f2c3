-- civic change generator: edit a sponsor.
-- weight: 2
\set r random(1, 1000000000000)
\set r2 random(1, 1000000000000)

UPDATE sponsors
SET party = (ARRAY['Blue', 'Red', 'Green', 'Independent', NULL])[1 + (:r2 % 5)::int],
    district = CASE WHEN :r2 % 2 = 0 THEN 'District ' || (1 + :r2 % 435) ELSE district END,
    updated_at = now()
WHERE id = (SELECT civic_gen.pick_sponsor(:r));
